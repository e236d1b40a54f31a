//! What `lading scan` relies on when it serves one image to external scanners: a
//! read-only server that exposes a single manifest by digest under a repository name
//! answers for that manifest and no other, by digest or by tag, and changes nothing.
//! (Blobs are shared by every repository of the store, as `end_2` shows; the scan
//! server keeps them to its scanners with generated credentials.)

mod common;

use common::*;
use lading_oci::{Digest, Store};
use lading_registry::{Auth, Limits, Registry, Server, ServerConfig};
use reqwest::Method;

/// A read-only server on `store` exposing `digest` as `lading/scan`.
fn expose(store: Store, digest: &str) -> Server {
    let registry = Registry::new(store, Limits::default(), Auth::default());
    registry.set_read_only(true);
    registry
        .expose("lading/scan", &digest.parse::<Digest>().expect("digest"))
        .expect("expose");
    Server::start(
        registry,
        ServerConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            tls: None,
        },
    )
    .expect("server starts")
}

#[test]
fn exposed_repository_serves_only_the_exposed_image() {
    let reg = Reg::start();
    let (bytes, shown) = reg.push_image("app", "v1", "shown");
    let (_, hidden) = reg.push_image("app", "v2", "hidden");
    let server = expose(reg.store(), &shown);
    let base = server.url();
    let get = |path: &str| client().get(format!("{base}{path}")).send().unwrap();

    let r = get(&format!("/v2/lading/scan/manifests/{shown}"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());

    // Another manifest of the same store is not reachable through the exposed name.
    assert_error(
        get(&format!("/v2/lading/scan/manifests/{hidden}")),
        404,
        "MANIFEST_UNKNOWN",
    );
    // Nothing is exposed by tag, and no tag was created for the exposed image.
    assert_error(get("/v2/lading/scan/manifests/v1"), 404, "MANIFEST_UNKNOWN");
    let tags = json_body(get("/v2/lading/scan/tags/list"));
    assert!(
        tags["tags"].as_array().is_none_or(|t| t.is_empty()),
        "{tags}"
    );
    let index = std::fs::read_to_string(reg.store().root().join("index.json")).unwrap();
    assert!(!index.contains("lading/scan"), "{index}");

    // The server is read-only: no pushes, uploads or deletions.
    let send = |method: Method, path: &str| {
        client()
            .request(method, format!("{base}{path}"))
            .send()
            .unwrap()
    };
    assert_error(
        send(Method::POST, "/v2/lading/scan/blobs/uploads/"),
        405,
        "UNSUPPORTED",
    );
    assert_error(
        send(
            Method::DELETE,
            &format!("/v2/lading/scan/manifests/{shown}"),
        ),
        405,
        "UNSUPPORTED",
    );
    assert_eq!(
        reg.get(&format!("/v2/app/manifests/{shown}")).status(),
        200,
        "the image is still in the store"
    );
    server.shutdown();
}
