//! Helpers shared by the end-to-end tests: running the binary, temp stores, reading
//! images back out of an OCI layout, and finding peer tools.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub mod action;
pub mod bases;
pub mod dockerd;
pub mod images;
pub mod registry;
pub mod rng;
pub mod signing;
pub mod sigstore;
pub mod tree;

/// The `lading` binary under test. Contexts inside this checkout are not seen as git
/// checkouts, so their images do not carry this repository's revision and clone URL and
/// their digests stay the same from commit to commit and clone to clone.
pub fn lading() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lading"));
    cmd.env("GIT_CEILING_DIRECTORIES", env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// `examples/hello` in this checkout.
pub fn hello_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello")
}

/// True on CI, where every tool and root are available and nothing may be skipped.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when running as root (`/proc/self` is owned by the effective uid).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Whether a test may go on: fails in CI when `what` is missing, else prints why it
/// skips and returns false.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(!on_ci(), "{what} is required on CI");
    eprintln!("skipping: {what} is not available");
    false
}

/// Whether a peer tool is on `PATH` (or an absolute path exists).
pub fn have_tool(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

/// Requires a peer tool (see [`require`]).
pub fn require_tool(tool: &str) -> bool {
    require(have_tool(tool), &format!("peer tool `{tool}`"))
}

/// A scratch directory with its own store.
pub struct Sandbox {
    /// Deleted on drop.
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new, empty sandbox.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A path inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The sandbox's store.
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// `lading --store STORE ARGS...`.
    pub fn lading(&self, args: &[&str]) -> Command {
        let mut cmd = lading();
        cmd.arg("--store").arg(self.store()).args(args);
        // No test reaches public-good Sigstore's TUF repository: trust material comes
        // from flags, else from this closed local port (tests/tuf.rs serves its own).
        cmd.env_remove("SOURCE_DATE_EPOCH")
            .env_remove("LADING_STORE")
            .env("LADING_TUF_MIRROR", "http://127.0.0.1:9");
        cmd
    }

    /// Runs `lading --store STORE ARGS...` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        run(&mut self.lading(args))
    }

    /// Writes a file (creating parents) under the sandbox.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write");
        p
    }

    /// Builds `context` with `--progress plain` plus `extra` and returns the manifest
    /// digest; panics with the output when the build fails.
    pub fn build_ok(&self, context: &Path, extra: &[&str]) -> String {
        let iid = self.path(&format!("iid-{}", unique()));
        let mut cmd = self.lading(&["build", "--progress", "plain"]);
        cmd.arg("--iidfile").arg(&iid).args(extra).arg(context);
        let out = run(&mut cmd);
        assert_success(&out);
        std::fs::read_to_string(&iid).expect("iidfile")
    }

    /// Tags in the store's `index.json`.
    pub fn tags(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.store().join("index.json")) else {
            return Vec::new();
        };
        let index: Value = serde_json::from_str(&text).expect("index.json");
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .map(str::to_string)
            .collect()
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs a command to completion, stdin closed.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Runs a command with `input` on stdin.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing stdin");
    child.wait_with_output().expect("waiting")
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Panics with both streams unless the command succeeded.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Runs a shell command line and asserts it succeeded.
pub fn sh(script: &str) {
    let out = run(Command::new("sh").arg("-c").arg(script));
    assert_success(&out);
}

/// Quotes a path for `sh`.
pub fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Copies a directory tree (`cp -r`, so new files get the current umask).
pub fn copy_tree(src: &Path, dst: &Path) {
    sh(&format!("cp -r {} {}", q(src), q(dst)));
}

/// Reads a blob from an OCI layout by digest (`sha256:...`).
pub fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').expect("digest");
    std::fs::read(layout.join("blobs").join(alg).join(hex))
        .unwrap_or_else(|e| panic!("blob {digest} in {}: {e}", layout.display()))
}

/// Parses a JSON blob.
pub fn json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest)).expect("json blob")
}

/// The manifest and every blob it references, keyed by digest, checking each
/// blob's bytes against its digest with `sha256sum`-independent hashing (sha2).
pub fn image_blobs(layout: &Path, manifest_digest: &str) -> BTreeMap<String, Vec<u8>> {
    let mut blobs = BTreeMap::new();
    let manifest = blob(layout, manifest_digest);
    let m: Value = serde_json::from_slice(&manifest).expect("manifest json");
    blobs.insert(manifest_digest.to_string(), manifest);
    let config = m["config"]["digest"].as_str().expect("config digest");
    blobs.insert(config.to_string(), blob(layout, config));
    for l in m["layers"].as_array().expect("layers") {
        let d = l["digest"].as_str().expect("layer digest");
        blobs.insert(d.to_string(), blob(layout, d));
    }
    for (d, bytes) in &blobs {
        assert_eq!(&sha256(bytes), d, "blob {d} does not match its digest");
    }
    blobs
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Asserts two builds gave the same manifest digest and byte-identical blobs.
pub fn assert_same_image(a: (&Path, &str), b: (&Path, &str)) {
    assert_eq!(a.1, b.1, "manifest digests differ");
    let ba = image_blobs(a.0, a.1);
    let bb = image_blobs(b.0, b.1);
    assert_eq!(
        ba.keys().collect::<Vec<_>>(),
        bb.keys().collect::<Vec<_>>(),
        "blob sets differ"
    );
    for (d, bytes) in &ba {
        assert!(bytes == &bb[d], "blob {d} differs between builds");
    }
}

/// Builds `examples/hello` into the sandbox's store as `tag` and returns its digest.
pub fn build_hello(sb: &Sandbox, tag: &str, extra: &[&str]) -> String {
    let mut args = vec!["-t", tag];
    args.extend_from_slice(extra);
    sb.build_ok(&hello_example(), &args)
}

/// Puts an OCI index of two single-platform builds into the store as `multi:1`.
pub fn multi_arch(sb: &Sandbox) -> String {
    build_hello(sb, "hello:amd64", &["--platform", "linux/amd64"]);
    build_hello(sb, "hello:arm64", &["--platform", "linux/arm64"]);
    let store = lading_oci::Store::open(sb.store()).expect("store");
    let mut manifests = Vec::new();
    for (tag, platform) in [
        ("hello:amd64", "linux/amd64"),
        ("hello:arm64", "linux/arm64"),
    ] {
        let mut d: lading_oci::spec::Descriptor =
            store.resolve_tag(tag).expect("index").expect("tag");
        d.annotations
            .remove(lading_oci::constants::ANNOTATION_REF_NAME);
        d.platform = Some(lading_oci::spec::Platform::parse(platform).expect("platform"));
        manifests.push(d);
    }
    let index = lading_oci::spec::Index {
        schema_version: 2,
        media_type: Some(lading_oci::constants::MEDIA_TYPE_INDEX.into()),
        manifests,
        ..lading_oci::spec::Index::default()
    };
    let bytes = serde_json::to_vec(&index).expect("json");
    let desc = store
        .put_bytes(&bytes, lading_oci::constants::MEDIA_TYPE_INDEX)
        .expect("put");
    store.tag("multi:1", &desc).expect("tag");
    desc.digest.to_string()
}
