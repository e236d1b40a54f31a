//! `lading serve` against real clients nobody on this project wrote: skopeo copies images
//! in and out (OCI and Docker media types, a multi-arch index) without changing a
//! digest, the Python `oras` library pushes, pulls and lists referrers; plus faults
//! (50 concurrent pushes, SIGKILL mid-push) and authentication with TLS.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Sandbox, assert_success, build_hello, lading, multi_arch, require, require_tool, run, sha256,
    stderr, stdout,
};
use lading_oci::{Digest, Store};

/// A running `lading serve`, killed (SIGKILL) when dropped.
struct Serve {
    child: Child,
    host: String,
    log: Arc<Mutex<String>>,
}

impl Serve {
    fn start(store: &Path, extra: &[&str]) -> Serve {
        Serve::try_start(store, extra).unwrap_or_else(|log| panic!("lading serve failed:\n{log}"))
    }

    /// Starts the server; `Err(stderr)` when it exits instead.
    fn try_start(store: &Path, extra: &[&str]) -> Result<Serve, String> {
        let mut cmd = lading();
        cmd.arg("--store")
            .arg(store)
            .arg("serve")
            .args(extra)
            .env("LADING_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !extra.contains(&"--addr") {
            cmd.args(["--addr", "127.0.0.1:0"]);
        }
        let mut child = cmd.spawn().expect("spawning lading serve");
        let err = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once(" as a registry at ") {
                    let _ = tx.send(url.to_string());
                }
                let mut l = sink.lock().expect("log");
                l.push_str(&line);
                l.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => {
                let host = url
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .to_string();
                Ok(Serve { child, host, log })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().expect("log").clone())
            }
        }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert_success(&run(Command::new("kill").args(["-TERM", &pid])));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets the flag when dropped, so a failing thread still ends the loop it would stop.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn skopeo_out(args: &[&str]) -> std::process::Output {
    run(Command::new("skopeo").args(args))
}

fn skopeo(args: &[&str]) -> String {
    let out = skopeo_out(args);
    assert_success(&out);
    stdout(&out)
}

fn raw_digest(image: &str, extra: &[&str]) -> String {
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(image);
    let out = skopeo_out(&args);
    assert_success(&out);
    sha256(&out.stdout)
}

fn store_is_sound(store: &Path) {
    let store = Store::open(store).expect("store");
    let problems = store.check().expect("check");
    assert!(problems.is_empty(), "store problems: {problems:#?}");
}

#[test]
fn skopeo_copies_in_and_out_with_digests_unchanged() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    let built = build_hello(&sb, "hello:1", &[]);
    let srv = Serve::start(&sb.store(), &[]);
    let h = &srv.host;

    // What the builder wrote is served as is.
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{h}/hello:1"),
    ]))
    .expect("inspect json");
    assert_eq!(inspect["Digest"], built);
    assert_eq!(raw_digest(&format!("docker://{h}/hello:1"), &[]), built);

    // Out to an OCI layout, back in under another name, out again: one digest throughout.
    let out = sb.path("out");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{h}/hello:1"),
        &format!("oci:{}:x", out.display()),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:x", out.display()),
        &format!("docker://{h}/copies/hello:2"),
    ]);
    assert_eq!(
        raw_digest(&format!("docker://{h}/copies/hello:2"), &[]),
        built
    );
    let tags: serde_json::Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{h}/copies/hello"),
    ]))
    .expect("tags json");
    assert_eq!(tags["Tags"], serde_json::json!(["2"]));

    // Docker v2 schema 2: converted once by skopeo, then carried unchanged both ways.
    let dir = sb.path("v2s2");
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        &format!("oci:{}:x", out.display()),
        &format!("dir:{}", dir.display()),
    ]);
    let docker_manifest = std::fs::read(dir.join("manifest.json")).expect("manifest");
    let v: serde_json::Value = serde_json::from_slice(&docker_manifest).expect("json");
    assert_eq!(
        v["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("dir:{}", dir.display()),
        &format!("docker://{h}/docker/hello:v2s2"),
    ]);
    let served = format!("docker://{h}/docker/hello:v2s2");
    assert_eq!(raw_digest(&served, &[]), sha256(&docker_manifest));
    let back = sb.path("v2s2-back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &served,
        &format!("dir:{}", back.display()),
    ]);
    assert_eq!(
        std::fs::read(back.join("manifest.json")).expect("manifest"),
        docker_manifest
    );
    assert!(
        srv.log().contains("status=201"),
        "request logs at debug level"
    );
    drop(srv);
    store_is_sound(&sb.store());
}

#[test]
fn skopeo_copies_a_multi_arch_index_both_ways() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    let index = multi_arch(&sb);
    let srv = Serve::start(&sb.store(), &[]);
    let h = &srv.host;
    assert_eq!(raw_digest(&format!("docker://{h}/multi:1"), &[]), index);
    let out = sb.path("multi-out");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{h}/multi:1"),
        &format!("oci:{}:m", out.display()),
    ]);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:m", out.display()),
        &format!("docker://{h}/again/multi:1"),
    ]);
    assert_eq!(
        raw_digest(&format!("docker://{h}/again/multi:1"), &[]),
        index
    );
    // Each platform resolves through the index, by digest, in the new repository.
    for arch in ["amd64", "arm64"] {
        let out = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            arch,
            &format!("docker://{h}/again/multi:1"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["Architecture"], arch);
    }
    drop(srv);
    store_is_sound(&sb.store());
}

/// The Python interpreter of a venv with `oras` installed (`scripts/test` makes it).
fn oras_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("LADING_ORAS_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import oras.client"])
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

const ORAS_SCRIPT: &str = r#"
import hashlib, json, os, sys
import oras.client, oras.oci

host, repo, work = sys.argv[1:4]
os.chdir(work)
client = oras.client.OrasClient(hostname=host, insecure=True)
remote = client  # OrasClient is the registry provider itself
base = f"http://{host}/v2/{repo}"

def get(url, accept=None):
    headers = {"Accept": accept} if accept else {}
    r = remote.do_request(url, "GET", headers=headers)
    assert r.status_code == 200, (url, r.status_code, r.text)
    return r

# The subject: the image under tag 1, by the digest of its exact bytes.
raw = get(f"{base}/manifests/1", "application/vnd.oci.image.manifest.v1+json").content
subject = oras.oci.Subject(
    mediaType="application/vnd.oci.image.manifest.v1+json",
    digest="sha256:" + hashlib.sha256(raw).hexdigest(),
    size=len(raw),
)
with open("sbom.json", "w") as f:
    f.write('{"packages": []}\n')
with open("notes.txt", "w") as f:
    f.write("x" * 300000)
with open("config.json", "w") as f:
    f.write("{}")
pushed = client.push(
    target=f"{host}/{repo}:sbom",
    files=["sbom.json:application/vnd.example.sbom+json"],
    manifest_config="config.json:application/vnd.example.sbom.config",
    manifest_annotations={"org.example.kind": "sbom"},
    subject=subject,
)
sbom_digest = pushed.headers.get("Docker-Content-Digest")
chunked = client.push(
    target=f"{host}/{repo}:notes",
    files=["notes.txt:text/plain"],
    do_chunked=True,
    chunk_size=65536,
    subject=subject,
)
notes_digest = chunked.headers.get("Docker-Content-Digest")
os.makedirs("out", exist_ok=True)
files = client.pull(target=f"{host}/{repo}:sbom", outdir="out")
pulled = open(files[0]).read()
chunked_files = client.pull(target=f"{host}/{repo}:notes", outdir="out")
refs = get(f"{base}/referrers/{subject.digest}").json()
filtered = get(f"{base}/referrers/{subject.digest}?artifactType=application%2Fvnd.example.sbom.config")
served = get(f"{base}/manifests/sbom", "application/vnd.oci.image.manifest.v1+json").content
print(json.dumps({
    "subject": subject.digest,
    "sbom_digest": sbom_digest,
    "served_sbom_digest": "sha256:" + hashlib.sha256(served).hexdigest(),
    "notes_digest": notes_digest,
    "pulled": pulled,
    "notes_size": os.path.getsize(chunked_files[0]),
    "referrers": refs,
    "filtered": filtered.json(),
    "filters_applied": filtered.headers.get("OCI-Filters-Applied"),
    "tags": client.get_tags(f"{host}/{repo}"),
}))
"#;

#[test]
fn oras_pushes_pulls_and_lists_referrers() {
    let python = oras_python();
    if !require(
        python.is_some(),
        "a Python venv with `oras` (scripts/test makes target/peers-venv)",
    ) {
        return;
    }
    let python = python.expect("checked");
    let sb = Sandbox::new();
    let image = build_hello(&sb, "art:1", &[]);
    let srv = Serve::start(&sb.store(), &[]);
    let work = sb.path("oras");
    std::fs::create_dir_all(&work).expect("mkdir");
    let out = run(Command::new(&python)
        .arg("-c")
        .arg(ORAS_SCRIPT)
        .arg(&srv.host)
        .arg("art")
        .arg(&work));
    assert!(
        out.status.success(),
        "oras script failed:\n{}\nserver log:\n{}",
        stderr(&out),
        srv.log()
    );
    let last = stdout(&out).lines().last().unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&last).expect("script output");
    assert_eq!(v["subject"], image);
    assert_eq!(v["pulled"], "{\"packages\": []}\n");
    assert_eq!(v["notes_size"], 300000);
    assert_eq!(
        v["sbom_digest"], v["served_sbom_digest"],
        "digest unchanged"
    );
    let refs = v["referrers"]["manifests"].as_array().expect("manifests");
    let digests: Vec<&str> = refs.iter().filter_map(|m| m["digest"].as_str()).collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert!(digests.contains(&v["sbom_digest"].as_str().expect("digest")));
    assert!(digests.contains(&v["notes_digest"].as_str().expect("digest")));
    let filtered = v["filtered"]["manifests"].as_array().expect("manifests");
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["digest"], v["sbom_digest"]);
    assert_eq!(filtered[0]["annotations"]["org.example.kind"], "sbom");
    assert_eq!(v["filters_applied"], "artifactType");
    assert_eq!(v["tags"], serde_json::json!(["1", "notes", "sbom"]));
    drop(srv);
    store_is_sound(&sb.store());
}

#[test]
fn fifty_concurrent_skopeo_pushes_of_overlapping_images() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    for v in ["1", "2", "3"] {
        build_hello(
            &sb,
            &format!("hello:{v}"),
            &["--build-arg", &format!("VERSION={v}")],
        );
    }
    let srv = Serve::start(&sb.store(), &[]);
    let h = srv.host.clone();
    let src = sb.path("src");
    for v in ["1", "2", "3"] {
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{h}/hello:{v}"),
            &format!("oci:{}:{v}", src.display()),
        ]);
    }
    // A second server on a fresh store receives the pushes.
    let target = sb.path("target-store");
    let dst = Serve::start(&target, &[]);
    let children: Vec<(usize, Child)> = (0..50)
        .map(|i| {
            let child = Command::new("skopeo")
                .args([
                    "copy",
                    "--dest-tls-verify=false",
                    &format!("oci:{}:{}", src.display(), i % 3 + 1),
                    &format!("docker://{}/repo{}:t{i}", dst.host, i % 5),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("skopeo");
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "push {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(&target).expect("store");
    for i in 0..50 {
        let tags = store
            .repository_tags(&format!("repo{}", i % 5))
            .expect("tags");
        assert!(
            tags.iter().any(|(t, _)| t == &format!("t{i}")),
            "t{i} missing"
        );
    }
    assert!(
        store.uploads().expect("uploads").is_empty(),
        "sessions left"
    );
    drop(dst);
    store_is_sound(&target);
}

/// Pushes into `lading serve` while `lading prune -a` runs in a loop on its store: a
/// blob a client uploaded (or was told exists) stays until the manifest that names it
/// arrives, so every push succeeds and lands whole.
#[test]
fn skopeo_pushes_to_serve_survive_a_prune_loop() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    for v in ["1", "2", "3"] {
        build_hello(
            &sb,
            &format!("hello:{v}"),
            &["--build-arg", &format!("VERSION={v}")],
        );
    }
    let src = sb.path("src");
    {
        let srv = Serve::start(&sb.store(), &[]);
        for v in ["1", "2", "3"] {
            skopeo(&[
                "copy",
                "--src-tls-verify=false",
                &format!("docker://{}/hello:{v}", srv.host),
                &format!("oci:{}:{v}", src.display()),
            ]);
        }
    }
    let target = sb.path("target-store");
    let dst = Serve::start(&target, &[]);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let pruner = s.spawn(|| {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let mut cmd = lading();
                cmd.arg("--store").arg(&target).args(["prune", "-a", "-f"]);
                assert_success(&run(&mut cmd));
                n += 1;
            }
            n
        });
        let _stop = StopOnDrop(&done);
        for round in 0..4 {
            let children: Vec<(usize, Child)> = (0..6)
                .map(|i| {
                    let child = Command::new("skopeo")
                        .args([
                            "copy",
                            "--dest-tls-verify=false",
                            &format!("oci:{}:{}", src.display(), i % 3 + 1),
                            &format!("docker://{}/repo{i}:r{round}", dst.host),
                        ])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("skopeo");
                    (i, child)
                })
                .collect();
            for (i, child) in children {
                let out = child.wait_with_output().expect("wait");
                assert!(
                    out.status.success(),
                    "push {i} of round {round} failed under prune: {}\nserver log:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    dst.log()
                );
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let prunes = pruner.join().expect("pruner");
        eprintln!("{prunes} prunes ran during the pushes");
    });
    for round in 0..4 {
        for i in 0..6 {
            let pushed = format!("docker://{}/repo{i}:r{round}", dst.host);
            let source = format!("oci:{}:{}", src.display(), i % 3 + 1);
            assert_eq!(raw_digest(&pushed, &[]), raw_digest(&source, &[]));
        }
    }
    drop(dst);
    store_is_sound(&target);
}

#[test]
fn sigkill_mid_push_leaves_a_valid_store_and_uploads_resume() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    build_hello(&sb, "hello:1", &[]);
    let src = sb.path("src");
    {
        let srv = Serve::start(&sb.store(), &[]);
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/hello:1", srv.host),
            &format!("oci:{}:1", src.display()),
        ]);
    }
    let target = sb.path("target-store");
    let srv = Serve::start(&target, &[]);
    let client = reqwest::blocking::Client::new();
    // A big chunked upload in flight, and skopeo pushes, when the server is killed.
    let start = client
        .post(format!("http://{}/v2/big/blobs/uploads/", srv.host))
        .send()
        .expect("POST");
    assert_eq!(start.status(), 202);
    let location = start.headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    let data: Vec<u8> = (0..32u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let host = srv.host.clone();
    let uploader = {
        let data = data.clone();
        let location = location.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            for (k, chunk) in data.chunks(1 << 20).enumerate() {
                let a = k << 20;
                let r = client
                    .patch(format!("http://{host}{location}"))
                    .header("content-range", format!("{a}-{}", a + chunk.len() - 1))
                    .body(chunk.to_vec())
                    .send();
                if r.is_err() {
                    return;
                }
                // Paced (32 chunks take at least 0.8 s), so the kill at 0.3 s always
                // lands mid-upload however fast the machine is.
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let pushers: Vec<Child> = (0..4)
        .map(|i| {
            Command::new("skopeo")
                .args([
                    "copy",
                    "--dest-tls-verify=false",
                    &format!("oci:{}:1", src.display()),
                    &format!("docker://{}/pushed{i}:1", srv.host),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("skopeo")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    drop(srv); // SIGKILL
    uploader.join().expect("uploader");
    for mut p in pushers {
        let _ = p.wait();
    }
    store_is_sound(&target);

    // Restarted: the upload resumes where the store says it stands.
    let srv = Serve::start(&target, &[]);
    let status = client
        .get(format!("http://{}{location}", srv.host))
        .send()
        .expect("GET");
    assert_eq!(status.status(), 204, "the session survived the kill");
    let range = status.headers()["range"]
        .to_str()
        .expect("range")
        .to_string();
    let (_, end) = range.split_once('-').expect("range");
    let have = if range == "0-0" {
        0
    } else {
        end.parse::<usize>().expect("end") + 1
    };
    assert!(
        have < data.len(),
        "the kill came before the upload finished"
    );
    let r = client
        .put(format!(
            "http://{}{location}?digest={}",
            srv.host,
            Digest::of(&data)
        ))
        .header("content-range", format!("{have}-{}", data.len() - 1))
        .body(data[have..].to_vec())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 201);
    // And the interrupted image push simply runs again.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", src.display()),
        &format!("docker://{}/pushed0:1", srv.host),
    ]);
    let status = srv.stop();
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status}"
    );
    store_is_sound(&target);
}

#[test]
fn non_loopback_addresses_need_auth_and_tls() {
    let sb = Sandbox::new();
    let hash = bcrypt::hash("pw", 4).expect("bcrypt");
    let htpasswd = sb.write("htpasswd", &format!("alice:{hash}\n"));
    let h = htpasswd.to_str().expect("utf-8");
    for extra in [
        vec!["--addr", "0.0.0.0:0"],
        vec!["--addr", "0.0.0.0:0", "--htpasswd", h],
    ] {
        let out = sb.run(&[&["serve"], extra.as_slice()].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = stderr(&out);
        assert!(err.contains("refusing to serve on 0.0.0.0"), "{err}");
        assert!(err.contains("hint:"), "{err}");
    }
}

/// A password no log line could contain by chance (temp paths are random letters).
const PASSWORD: &str = "pw-7Qx!f2Lz";

#[test]
fn htpasswd_and_tls_with_skopeo_creds() {
    if !require_tool("skopeo") || !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    build_hello(&sb, "hello:1", &[]);
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    let htpasswd = sb.write("htpasswd", &format!("alice:{hash}\n"));
    let (cert, key) = (sb.path("cert.pem"), sb.path("key.pem"));
    let out = run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key.to_str().expect("utf-8"),
        "-out",
        cert.to_str().expect("utf-8"),
    ]));
    assert_success(&out);
    let paths = [&htpasswd, &cert, &key].map(|p| p.to_str().expect("utf-8").to_string());
    // Any address is allowed once both are there (connections still go to 127.0.0.1).
    let srv = Serve::start(
        &sb.store(),
        &[
            "--addr",
            "0.0.0.0:0",
            "--htpasswd",
            &paths[0],
            "--tls-cert",
            &paths[1],
            "--tls-key",
            &paths[2],
        ],
    );
    let port = srv.host.rsplit_once(':').expect("port").1.to_string();
    let h = format!("127.0.0.1:{port}");
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    for auth in [None, Some(("alice", "wrong")), Some(("bob", PASSWORD))] {
        let mut req = client.get(format!("https://{h}/v2/"));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().expect("GET");
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"lading\"");
    }
    let image = format!("docker://{h}/hello:1");
    assert!(
        !skopeo_out(&["inspect", "--tls-verify=false", &image])
            .status
            .success()
    );
    assert!(
        !skopeo_out(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "alice:wrong",
            &image
        ])
        .status
        .success()
    );
    let built = raw_digest(&image, &["--creds", &format!("alice:{PASSWORD}")]);
    let out = sb.path("out");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("alice:{PASSWORD}"),
        &image,
        &format!("oci:{}:x", out.display()),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("alice:{PASSWORD}"),
        &format!("oci:{}:x", out.display()),
        &format!("docker://{h}/pushed:1"),
    ]);
    assert_eq!(
        raw_digest(
            &format!("docker://{h}/pushed:1"),
            &["--creds", &format!("alice:{PASSWORD}")]
        ),
        built
    );
    assert!(!srv.log().contains(PASSWORD), "credentials never logged");
}

#[test]
fn build_serve_publishes_the_result_until_sigterm() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    let mut child = sb
        .lading(&[
            "build",
            "--progress",
            "plain",
            "-t",
            "served:1",
            "--serve",
            "127.0.0.1:0",
        ])
        .arg(common::hello_example())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut url = None;
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some((_, u)) = line.split_once(" as a registry at ") {
                url = Some(u.to_string());
            }
            if line.contains("build done; still serving") {
                let _ = tx.send(url.clone());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("build finished and kept serving")
        .expect("address printed");
    let h = url.trim_start_matches("http://");
    let v: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{h}/served:1"),
    ]))
    .expect("json");
    assert_eq!(v["RepoTags"], serde_json::json!(["1"]));
    assert_success(&run(
        Command::new("kill").args(["-TERM", &child.id().to_string()])
    ));
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
}
