//! Faults and authentication: connections dropped mid-upload, restarts, concurrent
//! pushes, and htpasswd/token checks.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use lading_oci::Digest;
use lading_registry::{Auth, Htpasswd, Limits};
use reqwest::Method;

/// Sends the head of a request announcing `announced` body bytes, then only `sent` of
/// them, and hangs up.
fn send_and_drop(reg: &Reg, method: &str, path: &str, extra: &str, announced: usize, sent: &[u8]) {
    let addr = reg.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {announced}\r\n{extra}\r\n"
    )
    .unwrap();
    s.write_all(sent).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
}

/// Waits until the session reports `want` bytes (the server notices the hang-up
/// asynchronously).
fn wait_for_range(reg: &Reg, location: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = reg.get(location);
        let got = header(&r, "range");
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "range stayed {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dropped_chunk_leaves_no_blob_and_resumes_after_a_restart() {
    let mut reg = Reg::start();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let d = Digest::of(&data);
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/")
        .send()
        .unwrap();
    let loc = header(&r, "location");
    send_and_drop(
        &reg,
        "PATCH",
        &loc,
        "Content-Range: 0-99999\r\n",
        data.len(),
        &data[..40_000],
    );
    wait_for_range(&reg, &loc, "0-39999");
    assert_eq!(reg.head(&format!("/v2/r/blobs/{d}")).status(), 404);

    // The server goes away and comes back; the session is on disk.
    reg.restart();
    let r = reg.get(&loc);
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range"), "0-39999");
    let r = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "40000-99999")
        .body(data[40_000..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={d}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        reg.get(&format!("/v2/r/blobs/{d}"))
            .bytes()
            .unwrap()
            .as_ref(),
        data.as_slice()
    );
    assert!(reg.store().check().unwrap().is_empty());
}

#[test]
fn dropped_single_post_leaves_nothing_and_can_be_restarted() {
    let reg = Reg::start();
    let data = vec![42u8; 50_000];
    let d = Digest::of(&data);
    send_and_drop(
        &reg,
        "POST",
        &format!("/v2/r/blobs/uploads/?digest={d}"),
        "",
        data.len(),
        &data[..10_000],
    );
    // Give the server time to notice, then check nothing is visible or left over.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reg.store().uploads().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "session of a dropped POST left behind"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reg.head(&format!("/v2/r/blobs/{d}")).status(), 404);
    // Starting again works.
    assert_eq!(reg.push_blob("r", &data), d.to_string());
}

#[test]
fn dropped_closing_put_can_be_retried() {
    let reg = Reg::start();
    let data = vec![7u8; 30_000];
    let d = Digest::of(&data);
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/")
        .send()
        .unwrap();
    let loc = header(&r, "location");
    send_and_drop(
        &reg,
        "PUT",
        &format!("{loc}?digest={d}"),
        "",
        data.len(),
        &data[..1000],
    );
    wait_for_range(&reg, &loc, "0-999");
    assert_eq!(reg.head(&format!("/v2/r/blobs/{d}")).status(), 404);
    let r = reg
        .req(Method::PUT, &format!("{loc}?digest={d}"))
        .header("content-range", "1000-29999")
        .body(data[1000..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[test]
fn concurrent_pushes_of_overlapping_images_all_land() {
    let reg = Reg::start();
    std::thread::scope(|s| {
        for i in 0..50 {
            let reg = &reg;
            s.spawn(move || {
                // Ten distinct images, each pushed five times, to five repositories.
                let seed = format!("image-{}", i % 10);
                let repo = format!("repo{}", i % 5);
                reg.push_image(&repo, &format!("t{}", i % 7), &seed);
                reg.push_blob(&repo, b"a layer everybody shares");
            });
        }
    });
    assert!(reg.store().check().unwrap().is_empty());
    assert!(reg.store().uploads().unwrap().is_empty());
    for r in 0..5 {
        let tags = json_body(reg.get(&format!("/v2/repo{r}/tags/list")));
        assert!(!tags["tags"].as_array().unwrap().is_empty());
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn htpasswd_requires_the_right_credentials() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let auth = Auth {
        htpasswd: Some(Htpasswd::parse(&format!("alice:{hash}\n")).unwrap()),
        token: None,
    };
    let reg = Reg::start_with(Limits::default(), auth);
    for authz in [None, Some(basic("alice", "nope")), Some(basic("bob", "pw"))] {
        let mut req = reg.req(Method::GET, "/v2/");
        if let Some(a) = &authz {
            req = req.header("authorization", a);
        }
        let r = req.send().unwrap();
        assert_eq!(header(&r, "www-authenticate"), "Basic realm=\"lading\"");
        assert_error(r, 401, "UNAUTHORIZED");
    }
    let r = reg.req(Method::GET, "/v2/r/tags/list").send().unwrap();
    assert_eq!(r.status(), 401, "every endpoint, not only /v2/");
    let ok = basic("alice", "pw");
    let r = reg
        .req(Method::GET, "/v2/")
        .header("authorization", &ok)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = Digest::of(b"x");
    let r = reg
        .req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={d}"))
        .header("authorization", &ok)
        .body(b"x".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[test]
fn bearer_token_is_checked() {
    let auth = Auth {
        htpasswd: None,
        token: Some("s3cret-token".into()),
    };
    let reg = Reg::start_with(Limits::default(), auth);
    let r = reg.get("/v2/");
    assert_eq!(header(&r, "www-authenticate"), "Bearer realm=\"lading\"");
    assert_eq!(r.status(), 401);
    let r = reg
        .req(Method::GET, "/v2/")
        .header("authorization", "Bearer wrong")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = reg
        .req(Method::GET, "/v2/")
        .header("authorization", "Bearer s3cret-token")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn slow_request_in_flight_finishes_during_graceful_shutdown() {
    let mut reg = Reg::start();
    let addr = reg.base.trim_start_matches("http://").to_string();
    let data = vec![1u8; 20_000];
    let d = Digest::of(&data);
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /v2/r/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .unwrap();
    s.write_all(&data[..10_000]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let server = reg.server.take().unwrap();
    let stopper = std::thread::spawn(move || server.shutdown());
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&data[10_000..]).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    stopper.join().unwrap();
    reg.restart();
    assert_eq!(reg.head(&format!("/v2/r/blobs/{d}")).status(), 200);
}
