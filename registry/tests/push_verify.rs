//! The push client re-verifies every blob while it streams it from the store: a blob
//! file changed after it was written (after the gates read it) fails the push with
//! `ClientError::BlobChanged`, and the registry ends up with neither the blob nor the
//! manifest. Against real registries: Debian's `docker-registry` (CNCF distribution)
//! when it is on PATH, and always lading's own server, in-process.

mod common;

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use lading_oci::{Descriptor, Digest, Reference, Store};
use lading_registry::client::{Client, ClientError, ClientOptions, Event, Reporter};
use lading_registry::{Auth, Limits};

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A registry to push to.
enum Remote {
    Distribution {
        child: Child,
        host: String,
        _dir: tempfile::TempDir,
    },
    Lading(common::Reg),
}

impl Remote {
    /// `docker-registry` (when installed) and lading's server.
    fn all() -> Vec<Remote> {
        let mut all = Vec::new();
        if on_path("docker-registry") {
            all.push(Remote::distribution());
        }
        all.push(Remote::Lading(common::Reg::start_with(
            Limits::default(),
            Auth::default(),
        )));
        all
    }

    fn distribution() -> Remote {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning docker-registry");
        // Distribution logs "listening on" once it accepts connections (or exits).
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let up = line.contains("listening on");
                    seen.push_str(&line);
                    seen.push('\n');
                    if up {
                        break;
                    }
                }
                _ => panic!("docker-registry did not start:\n{seen}"),
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Remote::Distribution {
            child,
            host: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Remote::Distribution { .. } => "docker-registry",
            Remote::Lading(_) => "lading",
        }
    }

    fn host(&self) -> String {
        match self {
            Remote::Distribution { host, .. } => host.clone(),
            Remote::Lading(reg) => reg.base.trim_start_matches("http://").to_string(),
        }
    }

    /// The status of `HEAD /v2/<path>`.
    fn head(&self, path: &str) -> u16 {
        common::client()
            .head(format!("http://{}/v2/{path}", self.host()))
            // Without it distribution answers 404 for an OCI manifest it has.
            .header("accept", common::OCI_MANIFEST)
            .send()
            .expect("HEAD")
            .status()
            .as_u16()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Remote::Distribution { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Transfer events, owned.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Digest, u64)>>);

impl Reporter for Recorder {
    fn event(&self, event: Event<'_>) {
        let e = match event {
            Event::Start { digest, size, .. } => ("start".to_string(), digest.clone(), size),
            Event::Progress { digest, bytes } => ("progress".to_string(), digest.clone(), bytes),
            Event::Retry { digest, offset, .. } => ("retry".to_string(), digest.clone(), offset),
            Event::Done { digest, outcome } => (format!("done {outcome:?}"), digest.clone(), 0),
        };
        self.0.lock().expect("events").push(e);
    }
}

impl Recorder {
    fn count(&self, kind: &str, digest: &Digest) -> usize {
        let events = self.0.lock().expect("events");
        events
            .iter()
            .filter(|(k, d, _)| k == kind && d == digest)
            .count()
    }
    fn progress(&self, digest: &Digest) -> u64 {
        let events = self.0.lock().expect("events");
        events
            .iter()
            .filter(|(k, d, _)| k == "progress" && d == digest)
            .map(|(_, _, n)| n)
            .sum()
    }
    fn retries(&self) -> usize {
        let events = self.0.lock().expect("events");
        events.iter().filter(|(k, _, _)| k == "retry").count()
    }
}

fn new_client(chunk_size: Option<u64>) -> (Client, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut opts = ClientOptions {
        auth_file: None,
        system_cert_dirs: false,
        no_proxy: true,
        ..ClientOptions::default()
    };
    if let Some(c) = chunk_size {
        opts.chunk_size = c;
    }
    let client = Client::new(opts, recorder.clone()).expect("client");
    (client, recorder)
}

/// `n` bytes that do not compress.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An image in a fresh store: config, one layer of `layer_size` bytes, manifest.
struct Image {
    _dir: tempfile::TempDir,
    store: Store,
    manifest: Descriptor,
    config: Descriptor,
    layer: Descriptor,
}

fn image(layer_size: usize, seed: u64) -> Image {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    let config = store
        .put_bytes(
            format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"seed":{seed}}}"#)
                .as_bytes(),
            OCI_CONFIG,
        )
        .expect("config");
    let layer = store
        .put_bytes(&noise(layer_size, seed), OCI_LAYER)
        .expect("layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": common::OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest.to_string(), "size": config.size},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer.digest.to_string(), "size": layer.size}],
    });
    let manifest = store
        .put_bytes(
            &serde_json::to_vec(&manifest).expect("json"),
            common::OCI_MANIFEST,
        )
        .expect("manifest");
    Image {
        _dir: dir,
        store,
        manifest,
        config,
        layer,
    }
}

/// How a blob file is changed in place.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// One byte flipped: same length.
    Flip,
    /// Bytes appended.
    Longer,
    /// The last bytes cut off.
    Shorter,
}

/// Changes the blob file of `digest` in place (same inode, as a careless writer would);
/// returns what it now holds.
fn change(store: &Store, digest: &Digest, how: Change) -> Vec<u8> {
    let path: PathBuf = store.blob_path(digest);
    let mut bytes = std::fs::read(&path).expect("blob");
    match how {
        Change::Flip => {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x5a;
        }
        Change::Longer => bytes.extend_from_slice(b"appended"),
        Change::Shorter => bytes.truncate(bytes.len() - 3),
    }
    write_in_place(&path, &bytes);
    bytes
}

fn write_in_place(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open blob for writing");
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(bytes).expect("write");
    f.set_len(bytes.len() as u64).expect("set_len");
    f.sync_all().expect("sync");
}

fn dest(remote: &Remote, repo: &str) -> Reference {
    Reference::parse(&format!("{}/{repo}:1", remote.host())).expect("reference")
}

/// Pushes `img` after changing its layer, and checks the failure and what the registry
/// holds afterwards.
fn changed_layer_is_refused(chunk_size: Option<u64>, layer_size: usize) {
    for remote in Remote::all() {
        for (i, how) in [Change::Flip, Change::Longer, Change::Shorter]
            .into_iter()
            .enumerate()
        {
            let what = format!("{} {how:?} chunk {chunk_size:?}", remote.name());
            let img = image(layer_size, 10 + i as u64);
            let now = change(&img.store, &img.layer.digest, how);
            let repo = format!("verify/changed-{i}");
            let (client, events) = new_client(chunk_size);
            let err = client
                .push(&img.store, &img.manifest, &dest(&remote, &repo))
                .expect_err(&what);
            match &err {
                ClientError::BlobChanged {
                    digest,
                    actual,
                    size,
                    actual_size,
                } => {
                    assert_eq!(digest, &img.layer.digest, "{what}");
                    assert_eq!(actual, &Digest::of(&now), "{what}");
                    assert_eq!(*size, img.layer.size, "{what}");
                    assert_eq!(*actual_size, now.len() as u64, "{what}");
                }
                other => panic!("{what}: expected BlobChanged, got {other:?}: {other}"),
            }
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!(
                    "blob {} in the store no longer matches its digest (it reads as {}",
                    img.layer.digest,
                    Digest::of(&now)
                )) && msg.ends_with("): refusing to push it"),
                "{what}: {msg}"
            );
            // Not retried: the blob will not change back.
            assert_eq!(events.retries(), 0, "{what}");
            assert!(
                events.progress(&img.layer.digest) < img.layer.size,
                "{what}"
            );
            assert_eq!(
                events.count("done Transferred", &img.layer.digest),
                0,
                "{what}"
            );
            // Neither the blob nor the manifest reached the registry.
            assert_eq!(
                remote.head(&format!("{repo}/blobs/{}", img.layer.digest)),
                404,
                "{what}: the changed blob"
            );
            assert_eq!(
                remote.head(&format!("{repo}/blobs/{}", Digest::of(&now))),
                404,
                "{what}: the changed bytes"
            );
            assert_eq!(
                remote.head(&format!("{repo}/manifests/{}", img.manifest.digest)),
                404,
                "{what}: the manifest"
            );
            assert_eq!(
                remote.head(&format!("{repo}/manifests/1")),
                404,
                "{what}: the tag"
            );
        }
    }
}

#[test]
fn blob_changed_in_the_store_is_not_pushed_in_one_put() {
    // Several 1 MiB read chunks, one PUT.
    changed_layer_is_refused(None, 3 * 1024 * 1024 + 1234);
}

#[test]
fn blob_changed_in_the_store_is_not_pushed_in_chunks() {
    // 64 KiB chunks: a dozen PATCHes, the change found in the last one.
    changed_layer_is_refused(Some(64 * 1024), 800 * 1024 + 77);
}

#[test]
fn manifest_changed_in_the_store_is_not_pushed() {
    for remote in Remote::all() {
        let img = image(4096, 3);
        let path = img.store.blob_path(&img.manifest.digest);
        let mut bytes = std::fs::read(&path).expect("manifest");
        // Still the same JSON, one byte longer.
        bytes.push(b'\n');
        write_in_place(&path, &bytes);
        let (client, _) = new_client(None);
        let err = client
            .push(&img.store, &img.manifest, &dest(&remote, "verify/manifest"))
            .expect_err(remote.name());
        match &err {
            ClientError::BlobChanged {
                digest,
                actual,
                size,
                actual_size,
            } => {
                assert_eq!(digest, &img.manifest.digest, "{}", remote.name());
                assert_eq!(actual, &Digest::of(&bytes), "{}", remote.name());
                assert_eq!(
                    (*size, *actual_size),
                    (img.manifest.size, img.manifest.size + 1)
                );
            }
            other => panic!("{}: expected BlobChanged, got {other:?}", remote.name()),
        }
        assert_eq!(
            remote.head(&format!(
                "verify/manifest/manifests/{}",
                img.manifest.digest
            )),
            404
        );
        assert_eq!(remote.head("verify/manifest/manifests/1"), 404);
    }
}

/// An unchanged image pushes, and the counts are the blob sizes.
fn unchanged_image_pushes(chunk_size: Option<u64>, layer_size: usize) {
    for remote in Remote::all() {
        let what = format!("{} chunk {chunk_size:?}", remote.name());
        let img = image(layer_size, 7);
        let (client, events) = new_client(chunk_size);
        let repo = "verify/unchanged";
        let pushed = client
            .push(&img.store, &img.manifest, &dest(&remote, repo))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(pushed.descriptor.digest, img.manifest.digest, "{what}");
        assert_eq!(pushed.uploaded, 2, "{what}");
        assert_eq!((pushed.existed, pushed.mounted), (0, 0), "{what}");
        assert_eq!(pushed.bytes, img.config.size + img.layer.size, "{what}");
        for blob in [&img.config, &img.layer] {
            assert_eq!(events.count("start", &blob.digest), 1, "{what}");
            assert_eq!(events.progress(&blob.digest), blob.size, "{what}");
            assert_eq!(events.count("done Transferred", &blob.digest), 1, "{what}");
            assert_eq!(
                remote.head(&format!("{repo}/blobs/{}", blob.digest)),
                200,
                "{what}"
            );
        }
        assert_eq!(events.retries(), 0, "{what}");
        assert_eq!(remote.head(&format!("{repo}/manifests/1")), 200, "{what}");

        // Again: everything is there already, nothing is read or sent.
        let (client, events) = new_client(chunk_size);
        let again = client
            .push(&img.store, &img.manifest, &dest(&remote, repo))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            (again.uploaded, again.existed, again.bytes),
            (0, 2, 0),
            "{what}"
        );
        assert_eq!(events.progress(&img.layer.digest), 0, "{what}");
    }
}

#[test]
fn unchanged_image_pushes_in_one_put() {
    unchanged_image_pushes(None, 3 * 1024 * 1024 + 1234);
}

#[test]
fn unchanged_image_pushes_in_chunks() {
    unchanged_image_pushes(Some(64 * 1024), 800 * 1024 + 77);
}
