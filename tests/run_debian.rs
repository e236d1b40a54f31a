//! RUN on real bases made by peer tools (see `common::bases`): a Debian bookworm
//! minbase from debootstrap, with real apt and dpkg, and a busybox-static image.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::bases::{self, BUSYBOX_TAG, DEBIAN_TAG};
use common::{Sandbox, assert_success, run, stdout};

/// Whether the test may go on here: needs root and the peer tools that make the bases
/// (fails on CI when they are missing, skips locally).
fn ready() -> bool {
    let available = bases::bases_available();
    let why = available.as_ref().err().cloned().unwrap_or_default();
    common::require(available.is_ok(), &format!("RUN bases ({why})")) && common::require_tool("tar")
}

/// Builds `dockerfile` on `base` (an `oci:` reference, passed as `--build-arg BASE`)
/// into an OCI layout directory; returns the layout and lading's output.
fn build(sb: &Sandbox, dockerfile: &str, base: &str) -> (PathBuf, Output) {
    let context = sb.path("ctx");
    sb.write("ctx/Dockerfile", dockerfile);
    let layout = sb.path("layout");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-t", "run-test"]);
    cmd.args(["--source-date-epoch", "0", "--build-arg"])
        .arg(format!("BASE={base}"))
        .arg("-o")
        .arg(format!("type=oci,dest={},tar=false", layout.display()))
        .arg(&context);
    (layout, run(&mut cmd))
}

/// `umoci unpack` (not raw: a full runtime bundle, as a consumer would) of `layout`'s
/// `latest`; returns the root filesystem.
fn umoci_unpack(sb: &Sandbox, layout: &Path) -> PathBuf {
    let bundle = sb.path("bundle");
    assert_success(&run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)));
    bundle.join("rootfs")
}

/// The image's manifest in `layout` (the one image it holds).
fn manifest(layout: &Path) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index json");
    let digest = index["manifests"][0]["digest"].as_str().expect("digest");
    common::json_blob(layout, digest)
}

/// The entries of the image's last layer, as `tar -tzf` (a peer reader) lists them.
fn last_layer_entries(layout: &Path) -> Vec<String> {
    let manifest = manifest(layout);
    let layers = manifest["layers"].as_array().expect("layers");
    let digest = layers.last().expect("a layer")["digest"]
        .as_str()
        .expect("layer digest");
    let (_, hex) = digest.split_once(':').expect("digest");
    let out = run(Command::new("tar")
        .arg("-tzf")
        .arg(layout.join("blobs/sha256").join(hex)));
    assert_success(&out);
    stdout(&out).lines().map(str::to_string).collect()
}

/// Every path below `root` (relative, sorted) whose file name starts with `.wh.`.
fn whiteout_files(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".wh."))
        .map(|e| e.path().strip_prefix(root).unwrap().display().to_string())
        .collect();
    found.sort();
    found
}

#[test]
fn apt_get_installs_hello_on_debian_and_dpkg_records_it() {
    if !ready() {
        return;
    }
    let base = bases::oci_ref(&bases::debian_base(), DEBIAN_TAG);
    let sb = Sandbox::new();
    let (layout, out) = build(
        &sb,
        "ARG BASE\nFROM ${BASE}\n\
         RUN apt-get update && apt-get install -y --no-install-recommends hello\n\
         RUN hello > /hello.txt && hello --version | head -n 1 > /hello-version.txt\n",
        &base,
    );
    assert_success(&out);
    let rootfs = umoci_unpack(&sb, &layout);
    assert_eq!(
        fs::read_to_string(rootfs.join("hello.txt")).expect("hello.txt"),
        "Hello, world!\n",
        "hello ran in the later RUN"
    );
    assert!(
        fs::read_to_string(rootfs.join("hello-version.txt"))
            .expect("hello-version.txt")
            .starts_with("hello (GNU Hello)"),
    );
    assert!(rootfs.join("usr/bin/hello").is_file());
    let status = fs::read_to_string(rootfs.join("var/lib/dpkg/status")).expect("dpkg status");
    let hello = status
        .split("\n\n")
        .find(|stanza| stanza.starts_with("Package: hello\n"))
        .expect("dpkg status lists hello");
    assert!(
        hello.contains("\nStatus: install ok installed\n"),
        "hello's dpkg status:\n{hello}"
    );
    // The base's own packages are still recorded (the layer added to the status file).
    assert!(status.contains("Package: dpkg\n") && status.contains("Package: apt\n"));
}

#[test]
fn rm_rf_on_debian_writes_whiteouts_and_leaves_no_trace() {
    if !ready() {
        return;
    }
    let base_layout = bases::debian_base();
    let sb = Sandbox::new();
    // What the base must have for this test to mean anything.
    let base_root = sb.path("base-rootfs");
    assert_success(&run(Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:{DEBIAN_TAG}", base_layout.display()))
        .arg(&base_root)));
    for path in ["etc/motd", "usr/share/doc/dpkg/copyright"] {
        assert!(base_root.join(path).is_file(), "the base has no {path}");
    }
    let (layout, out) = build(
        &sb,
        "ARG BASE\nFROM ${BASE}\nRUN rm -rf /etc/motd /usr/share/doc\n",
        &bases::oci_ref(&base_layout, DEBIAN_TAG),
    );
    assert_success(&out);
    let entries = last_layer_entries(&layout);
    for whiteout in ["etc/.wh.motd", "usr/share/.wh.doc"] {
        assert!(
            entries
                .iter()
                .any(|e| e.trim_start_matches("./") == whiteout),
            "no {whiteout} in the RUN layer: {entries:?}"
        );
    }
    assert!(
        !entries.iter().any(|e| e.contains("usr/share/doc/")),
        "the layer has entries below the removed dir: {entries:?}"
    );
    let rootfs = umoci_unpack(&sb, &layout);
    assert!(rootfs.join("etc/passwd").is_file(), "not a Debian rootfs");
    for gone in ["etc/motd", "usr/share/doc"] {
        assert!(
            rootfs.join(gone).symlink_metadata().is_err(),
            "{gone} is still in the unpacked image"
        );
    }
    assert_eq!(whiteout_files(&rootfs), Vec::<String>::new());
}

#[test]
fn run_replaces_a_dir_by_a_file_and_a_file_by_a_dir_on_busybox() {
    if !ready() {
        return;
    }
    let base = bases::oci_ref(&bases::busybox_base(), BUSYBOX_TAG);
    let sb = Sandbox::new();
    let (layout, out) = build(
        &sb,
        "ARG BASE\nFROM ${BASE}\n\
         RUN rm -rf /usr/share/doc && echo now-a-file > /usr/share/doc \
         && rm /etc/motd && mkdir /etc/motd && echo inside > /etc/motd/inside\n\
         RUN test -f /usr/share/doc && test -d /etc/motd && cat /etc/motd/inside > /seen\n",
        &base,
    );
    assert_success(&out);
    let rootfs = umoci_unpack(&sb, &layout);
    assert_eq!(
        fs::read_to_string(rootfs.join("usr/share/doc")).expect("doc is a file"),
        "now-a-file\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/motd/inside")).expect("motd is a dir"),
        "inside\n"
    );
    assert_eq!(fs::read_to_string(rootfs.join("seen")).unwrap(), "inside\n");
    assert!(
        rootfs
            .join("usr/share/doc/busybox")
            .symlink_metadata()
            .is_err()
    );
    assert_eq!(whiteout_files(&rootfs), Vec::<String>::new());
}

#[test]
fn busybox_base_is_a_usable_image() {
    if !ready() {
        return;
    }
    let layout = bases::busybox_base();
    let sb = Sandbox::new();
    let root = sb.path("rootfs");
    assert_success(&run(Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:{BUSYBOX_TAG}", layout.display()))
        .arg(&root)));
    // busybox --install -s: applets are symlinks to /bin/busybox.
    assert_eq!(
        fs::read_link(root.join("bin/sh")).expect("bin/sh"),
        Path::new("/bin/busybox")
    );
    let out = run(Command::new("chroot").arg(&root).args([
        "/bin/sh",
        "-c",
        "echo ok from $(basename $0)",
    ]));
    assert_success(&out);
    assert_eq!(stdout(&out), "ok from sh\n");
    // lading reads it as a base (no RUN needed).
    let sb2 = Sandbox::new();
    let (_, out) = build(
        &sb2,
        "ARG BASE\nFROM ${BASE}\nLABEL base=busybox\n",
        &bases::oci_ref(&layout, BUSYBOX_TAG),
    );
    assert_success(&out);
}
