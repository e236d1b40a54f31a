//! Real base images for RUN tests, made by peer tools and cached across test runs.
//!
//! - [`debian_base`]: Debian bookworm `minbase` from `debootstrap` (real `dpkg` status,
//!   real `apt`), packed into an OCI layout with `umoci`, tag [`DEBIAN_TAG`].
//! - [`busybox_base`]: the host's `busybox-static` with `busybox --install -s`, tag
//!   [`BUSYBOX_TAG`].
//!
//! Each is built once into the cache directory (`$LADING_TEST_CACHE`, default
//! `<repo>/target/test-cache/`) under a file lock, so parallel tests and test binaries
//! wait for one build instead of racing, and renamed into place only when complete: a
//! layout in the cache is always whole. Delete the directory to rebuild. The recipe
//! version is part of the directory name, so changing a recipe never reuses an old build.
//!
//! Building needs root (debootstrap, chroot, owners kept by umoci) and the tools
//! `debootstrap`, `umoci`, `busybox`; the Debian base also needs deb.debian.org.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The tag of the Debian base in its layout.
pub const DEBIAN_TAG: &str = "bookworm";
/// The tag of the busybox base in its layout.
pub const BUSYBOX_TAG: &str = "latest";
/// Where debootstrap downloads from.
pub const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// The cache directory for bases (created if missing).
pub fn cache_dir() -> PathBuf {
    let dir = std::env::var_os("LADING_TEST_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache"));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// `oci:LAYOUT:TAG`, the reference `lading build` (and buildah) take in `FROM` or
/// `--build-arg BASE=...`.
pub fn oci_ref(layout: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", layout.display())
}

/// Whether the bases can be built here: root, and the tools they need. (A cached base
/// needs nothing, but tests that use one run images anyway, which needs the same.)
pub fn bases_available() -> Result<(), String> {
    if !super::is_root() {
        return Err("building base images needs root".into());
    }
    let missing: Vec<&str> = ["debootstrap", "umoci", "busybox", "chroot"]
        .into_iter()
        .filter(|t| !super::have_tool(t))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing tools: {} (scripts/test installs them)",
            missing.join(", ")
        ))
    }
}

/// The Debian bookworm minbase layout (tag [`DEBIAN_TAG`]), built on first use.
pub fn debian_base() -> PathBuf {
    cached_layout("debian-bookworm-minbase-v1", DEBIAN_TAG, |rootfs| {
        let started = Instant::now();
        eprintln!(
            "bases: debootstrap --variant=minbase bookworm from {DEBIAN_MIRROR} \
             (once; cached in {})",
            cache_dir().display()
        );
        let out = Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(rootfs)
            .arg(DEBIAN_MIRROR)
            .output()
            .unwrap_or_else(|e| panic!("running debootstrap: {e}"));
        let secs = started.elapsed().as_secs_f64();
        if !out.status.success() {
            let log =
                fs::read_to_string(rootfs.join("debootstrap/debootstrap.log")).unwrap_or_default();
            panic!(
                "bases: debootstrap failed after {secs:.1} s ({}):\n{}{}\n\
                 debootstrap.log (end):\n{}",
                out.status,
                tail(&String::from_utf8_lossy(&out.stdout), 20),
                tail(&String::from_utf8_lossy(&out.stderr), 20),
                tail(&log, 40)
            );
        }
        eprintln!("bases: debootstrap took {secs:.1} s");
        // What a container runtime provides, or what belongs to the host that ran
        // debootstrap, is not part of the image (as in Docker's debian images).
        for dir in ["dev", "proc", "sys", "tmp"] {
            empty_dir(&rootfs.join(dir));
        }
        for file in ["etc/hostname", "etc/resolv.conf", "etc/hosts"] {
            let _ = fs::remove_file(rootfs.join(file));
        }
    })
}

/// Debian bookworm minbase for arm64 (tag [`DEBIAN_TAG`], config `linux/arm64`), built
/// on first use as a cross bootstrap is: `debootstrap --foreign --arch=arm64`, then its
/// second stage inside the chroot, where the arm64 `dpkg` runs under qemu-user-static
/// through binfmt_misc (the handler's F flag makes the interpreter work in the chroot).
pub fn debian_arm64_base() -> PathBuf {
    cached_layout_for(
        "debian-bookworm-minbase-arm64-v1",
        DEBIAN_TAG,
        Some("arm64"),
        |rootfs| {
            let started = Instant::now();
            eprintln!(
                "bases: debootstrap --foreign --arch=arm64 --variant=minbase bookworm, second stage under qemu (once; cached in {})",
                cache_dir().display()
            );
            let first = Command::new("debootstrap")
                .args(["--foreign", "--arch=arm64", "--variant=minbase", "bookworm"])
                .arg(rootfs)
                .arg(DEBIAN_MIRROR)
                .output()
                .unwrap_or_else(|e| panic!("running debootstrap: {e}"));
            debootstrap_ok(rootfs, &first, "debootstrap --foreign", started);
            let second = Command::new("chroot")
                .arg(rootfs)
                .args(["/debootstrap/debootstrap", "--second-stage"])
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .output()
                .unwrap_or_else(|e| panic!("running the second stage: {e}"));
            debootstrap_ok(rootfs, &second, "debootstrap --second-stage", started);
            eprintln!(
                "bases: arm64 debootstrap took {:.1} s",
                started.elapsed().as_secs_f64()
            );
            for dir in ["dev", "proc", "sys", "tmp"] {
                empty_dir(&rootfs.join(dir));
            }
            for file in ["etc/hostname", "etc/resolv.conf", "etc/hosts"] {
                let _ = fs::remove_file(rootfs.join(file));
            }
        },
    )
}

fn debootstrap_ok(rootfs: &Path, out: &std::process::Output, what: &str, started: Instant) {
    if out.status.success() {
        return;
    }
    let log = fs::read_to_string(rootfs.join("debootstrap/debootstrap.log")).unwrap_or_default();
    panic!(
        "bases: {what} failed after {:.1} s ({}):\n{}{}\ndebootstrap.log (end):\n{}",
        started.elapsed().as_secs_f64(),
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 20),
        tail(&String::from_utf8_lossy(&out.stderr), 20),
        tail(&log, 40)
    );
}

/// One OCI layout whose tag [`DEBIAN_TAG`] is an image index of the amd64
/// ([`debian_base`]) and arm64 ([`debian_arm64_base`]) bases, each entry with its
/// `platform`, as a multi-platform base on a registry is.
pub fn debian_multiarch_base() -> PathBuf {
    let amd64 = debian_base();
    let arm64 = debian_arm64_base();
    let cache = cache_dir();
    let name = "debian-bookworm-minbase-multiarch-v1";
    let layout = cache.join(name);
    let lock = File::create(cache.join(format!("{name}.lock"))).expect("lock file");
    // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    if layout.join("index.json").is_file() {
        return layout;
    }
    let work = cache.join(format!("{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let blobs = work.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("mkdir blobs");
    let mut entries = Vec::new();
    for (src, arch, variant) in [(&amd64, "amd64", None), (&arm64, "arm64", Some("v8"))] {
        for blob in fs::read_dir(src.join("blobs/sha256"))
            .expect("read blobs")
            .flatten()
        {
            let to = blobs.join(blob.file_name());
            if !to.exists() {
                fs::hard_link(blob.path(), &to)
                    .or_else(|_| fs::copy(blob.path(), &to).map(|_| ()))
                    .expect("link blob");
            }
        }
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(src.join("index.json")).expect("index.json"))
                .expect("index.json is JSON");
        let mut desc = index["manifests"][0].clone();
        let desc_obj = desc.as_object_mut().expect("descriptor");
        desc_obj.remove("annotations");
        let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        desc_obj.insert("platform".into(), platform);
        entries.push(desc);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .expect("index JSON");
    let digest = sha256_hex(&index);
    fs::write(blobs.join(&digest), &index).expect("write index blob");
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{digest}"),
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": DEBIAN_TAG},
        }],
    });
    fs::write(
        work.join("index.json"),
        serde_json::to_vec(&top).expect("JSON"),
    )
    .expect("write");
    fs::write(
        work.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write");
    fs::rename(&work, &layout)
        .unwrap_or_else(|e| panic!("renaming into {}: {e}", layout.display()));
    layout
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The busybox layout (tag [`BUSYBOX_TAG`]), built on first use: `/bin/busybox` from the
/// host's busybox-static and its applets as symlinks (`busybox --install -s`), a root
/// and a `nobody` user, `/tmp`, and a little to delete (`/etc/motd`, `/usr/share/doc`).
pub fn busybox_base() -> PathBuf {
    cached_layout("busybox-v1", BUSYBOX_TAG, |rootfs| {
        let busybox = which("busybox");
        for dir in [
            "bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc", "root", "tmp",
            "var", "home",
        ] {
            fs::create_dir_all(rootfs.join(dir)).expect("mkdir");
        }
        fs::copy(&busybox, rootfs.join("bin/busybox")).expect("copy busybox");
        fs::set_permissions(
            rootfs.join("bin/busybox"),
            fs::Permissions::from_mode(0o755),
        )
        .expect("chmod busybox");
        let out = Command::new("chroot")
            .arg(rootfs)
            .args(["/bin/busybox", "--install", "-s"])
            .output()
            .expect("chroot busybox --install");
        assert!(
            out.status.success(),
            "busybox --install -s failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files: &[(&str, &str)] = &[
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
            ),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
            ("etc/motd", "busybox base for lading's tests\n"),
            (
                "usr/share/doc/busybox/README",
                "busybox-static from the host\n",
            ),
        ];
        for (path, text) in files {
            let path = rootfs.join(path);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, text).expect("write");
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
            .expect("chmod tmp");
        fs::set_permissions(rootfs.join("root"), fs::Permissions::from_mode(0o700))
            .expect("chmod root");
    })
}

/// Builds `make_rootfs`'s tree into `<cache>/<name>` (an OCI layout, tag `tag`) unless it
/// is there already. Holds `<cache>/<name>.lock` while checking and building.
fn cached_layout(name: &str, tag: &str, make_rootfs: impl FnOnce(&Path)) -> PathBuf {
    cached_layout_for(name, tag, None, make_rootfs)
}

/// [`cached_layout`] with the config's `architecture` set (default: umoci's, the host's).
fn cached_layout_for(
    name: &str,
    tag: &str,
    architecture: Option<&str>,
    make_rootfs: impl FnOnce(&Path),
) -> PathBuf {
    let cache = cache_dir();
    let layout = cache.join(name);
    let lock = File::create(cache.join(format!("{name}.lock"))).expect("lock file");
    // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    if layout.join("index.json").is_file() {
        return layout;
    }
    // Leftovers of builds that died (we hold the lock: nobody else is building).
    let leftover = format!("{name}.tmp-");
    for entry in fs::read_dir(&cache).expect("read cache dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with(&leftover) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let work = cache.join(format!("{name}.tmp-{}", std::process::id()));
    fs::create_dir_all(&work).expect("mkdir work");
    let rootfs = work.join("rootfs");
    fs::create_dir(&rootfs).expect("mkdir rootfs");
    make_rootfs(&rootfs);
    let started = Instant::now();
    let new_layout = work.join("layout");
    let image = format!("{}:{tag}", new_layout.display());
    umoci(&["init", "--layout", &new_layout.display().to_string()]);
    umoci(&["new", "--image", &image]);
    umoci(&[
        "insert",
        "--image",
        &image,
        &rootfs.display().to_string(),
        "/",
    ]);
    let history = format!("lading tests: {name}");
    let mut config = vec![
        "config",
        "--image",
        &image,
        "--config.env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--config.cmd",
        "/bin/sh",
        "--history.created_by",
        &history,
    ];
    if let Some(arch) = architecture {
        config.extend(["--architecture", arch, "--os", "linux"]);
    }
    umoci(&config);
    umoci(&["gc", "--layout", &new_layout.display().to_string()]);
    fs::rename(&new_layout, &layout)
        .unwrap_or_else(|e| panic!("renaming into {}: {e}", layout.display()));
    let _ = fs::remove_dir_all(&work);
    eprintln!(
        "bases: packed {name} in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        oci_ref(&layout, tag)
    );
    layout
}

fn umoci(args: &[&str]) {
    let out = Command::new("umoci")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running umoci: {e}"));
    assert!(
        out.status.success(),
        "umoci {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes what is in `dir` (not `dir` itself), if it exists.
fn empty_dir(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let result = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        result.unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
    }
}

fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} not found on PATH"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
