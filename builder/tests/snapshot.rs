//! The snapshot module against the real kernel: layers unpacked into overlay lower
//! dirs, a real overlayfs mount, changes made through it, the upper dir turned into a
//! layer, and that layer applied by umoci and by `lading_oci::unpack` on top of the
//! base. The copy-and-compare fallback must give the same layer for the same changes.
//! Hostile layers must not touch anything outside the snapshot store.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lading_builder::snapshot::{
    self, DiffOptions, Snapshots, diff_dirs, diff_upper, materialize, overlay_mount_data,
};
use lading_oci::Digest;
use lading_oci::layer::{Entry, EntryKind, FileData, LayerBlob, write_layer};
use lading_oci::spec::Descriptor;
use lading_oci::store::Store;
use lading_oci::unpack::{NodeKind, UnpackOptions, apply_layers};

// ---------------------------------------------------------------- test plumbing

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Fails on CI when `what` is missing, else says why the test skips.
fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(!on_ci(), "{what} is required on CI");
    eprintln!("skipping: {what} is not available");
    false
}

fn have_umoci() -> bool {
    Command::new("umoci")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Env {
    dir: tempfile::TempDir,
    store: Store,
    snaps: Snapshots,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let snaps = Snapshots::new(&store).unwrap();
        Env { dir, store, snaps }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

fn bytes(b: &[u8]) -> FileData {
    FileData::Bytes(Arc::from(b))
}

fn dir(path: &str, mode: u32) -> Entry {
    Entry::dir(path, mode, 0, 0)
}

fn file(path: &str, content: &str, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File {
            data: bytes(content.as_bytes()),
            size: content.len() as u64,
        },
        mode,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }
}

fn opaque(dir: &str) -> Entry {
    let mut e = Entry::whiteout(&format!("{dir}/x"));
    e.path = format!("{dir}/.wh..wh..opq");
    e
}

/// An uncompressed layer made of raw tar headers (names `tar::Builder` would refuse).
struct RawTar(Vec<u8>);

impl RawTar {
    fn new() -> RawTar {
        RawTar(Vec::new())
    }

    fn push(&mut self, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        let raw = h.as_mut_bytes();
        raw[..name.len()].copy_from_slice(name.as_bytes());
        raw[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn store(&self, store: &Store) -> Descriptor {
        let mut b = self.0.clone();
        b.resize(b.len() + 1024, 0);
        store
            .put_bytes(&b, "application/vnd.oci.image.layer.v1.tar")
            .unwrap()
    }
}

/// An overlay mount, unmounted on drop.
struct Overlay {
    merged: PathBuf,
    mounted: bool,
}

impl Overlay {
    fn mount(lowers: &[PathBuf], upper: &Path, work: &Path, merged: &Path) -> Overlay {
        for d in [upper, work, merged] {
            fs::create_dir_all(d).unwrap();
        }
        let data = overlay_mount_data(lowers, upper, work, Default::default()).unwrap();
        nix::mount::mount(
            Some("overlay"),
            merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_str()),
        )
        .unwrap_or_else(|e| panic!("mount -t overlay -o {data}: {e}"));
        Overlay {
            merged: merged.to_path_buf(),
            mounted: true,
        }
    }

    fn unmount(&mut self) {
        if self.mounted {
            // Another test's thread may fork (to run umoci, say) while this one has a
            // file open in the mount: the child holds a copy of that descriptor until it
            // execs, and umount says EBUSY for that moment. Try again briefly.
            let mut tries = 0;
            loop {
                match nix::mount::umount(&self.merged) {
                    Err(nix::errno::Errno::EBUSY) if tries < 100 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    r => break r.unwrap(),
                }
            }
            self.mounted = false;
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A description of a tree (no mtimes): kind, mode, owner, content or target, link
/// count of files, and layer-relevant xattrs (with `full`).
fn describe(root: &Path, full: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let md = e.path().symlink_metadata().unwrap();
        let ft = md.file_type();
        use std::os::unix::fs::FileTypeExt;
        let mut d = if ft.is_dir() {
            format!("dir {:o}", md.mode() & 0o7777)
        } else if ft.is_file() {
            let content = fs::read(e.path()).unwrap();
            let mut s = format!("file {:o} {}", md.mode() & 0o7777, Digest::of(&content));
            if full {
                s.push_str(&format!(" nlink={}", md.nlink()));
            }
            s
        } else if ft.is_symlink() {
            format!("symlink -> {}", fs::read_link(e.path()).unwrap().display())
        } else if ft.is_fifo() {
            format!("fifo {:o}", md.mode() & 0o7777)
        } else {
            format!("other {:o}", md.mode())
        };
        if !(full || ft.is_dir() || ft.is_file() || ft.is_symlink()) {
            d = "special".into();
        }
        d.push_str(&format!(" {}:{}", md.uid(), md.gid()));
        if full && !ft.is_symlink() {
            for name in xattr::list(e.path()).unwrap() {
                let name = name.to_str().unwrap().to_string();
                if snapshot::xattr_allowed(&name) {
                    let v = xattr::get(e.path(), &name).unwrap().unwrap();
                    d.push_str(&format!(" {name}={}", hex(&v)));
                }
            }
        }
        out.insert(rel, d);
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `apply_layers`' view of a tree, in `describe(_, false)` form.
fn describe_applied(env: &Env, layers: &[Descriptor], name: &str) -> BTreeMap<String, String> {
    let dest = env.path(name);
    let rootfs = apply_layers(&env.store, layers, &dest, UnpackOptions { chown: true }).unwrap();
    rootfs
        .nodes
        .iter()
        .map(|(p, n)| {
            let d = match &n.kind {
                NodeKind::Dir => format!("dir {:o}", n.mode),
                NodeKind::File(_) => {
                    let content = fs::read(dest.join(p)).unwrap();
                    format!("file {:o} {}", n.mode, Digest::of(&content))
                }
                NodeKind::Symlink(t) => format!("symlink -> {t}"),
                NodeKind::Special => "special".into(),
            };
            (p.clone(), format!("{d} {}:{}", n.uid, n.gid))
        })
        .collect()
}

/// Unpacks `layers` with umoci (an OCI layout is written into the store itself).
fn umoci_unpack(env: &Env, layers: &[LayerBlob], name: &str) -> PathBuf {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = env
        .store
        .put_bytes(
            &serde_json::to_vec(&config).unwrap(),
            "application/vnd.oci.image.config.v1+json",
        )
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers.iter().map(|l| &l.descriptor).collect::<Vec<_>>(),
    });
    let manifest = env
        .store
        .put_bytes(
            &serde_json::to_vec(&manifest).unwrap(),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    env.store.tag(name, &manifest).unwrap();
    let out = env.path(name);
    let st = Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:{name}", env.store.root().display()))
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

/// (path, type, uid, gid, mode, link, PAX keys) of each entry of a gzip layer.
fn tar_entries(store: &Store, layer: &Descriptor) -> BTreeMap<String, String> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(store.open_blob(&layer.digest).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(&raw[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        let mut keys = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                keys.push(x.unwrap().key().unwrap().to_string());
            }
        }
        let h = e.header();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| format!(" -> {}", l.display()))
            .unwrap_or_default();
        let d = format!(
            "{:?} {:o} {}:{}{link} {}",
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            keys.join(",")
        );
        out.insert(path, d.trim_end().to_string());
    }
    out
}

// ---------------------------------------------------------------- the scenario

/// The base image: two layers, the second with a whiteout and an opaque directory.
fn base_layers(env: &Env) -> Vec<LayerBlob> {
    let mut big = String::new();
    for i in 0..2000 {
        big.push_str(&format!("line {i}\n"));
    }
    let l1 = vec![
        dir("etc", 0o755),
        file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644),
        dir("keep", 0o755),
        file("keep/file", "kept\n", 0o644),
        file("modify.txt", "old\n", 0o644),
        file("chmod.txt", "c\n", 0o644),
        file("chown.txt", "o\n", 0o644),
        dir("rmrf", 0o755),
        dir("rmrf/a", 0o755),
        dir("rmrf/a/b", 0o700),
        file("rmrf/a/b/c.txt", &big, 0o644),
        file("rmrf/d.txt", "d\n", 0o644),
        file("delete.txt", "gone soon\n", 0o644),
        dir("dir2file", 0o755),
        file("dir2file/child", "child\n", 0o644),
        file("file2dir", "was a file\n", 0o644),
        dir("opq", 0o755),
        file("opq/old1", "1\n", 0o644),
        dir("opq/sub", 0o755),
        file("opq/sub/old2", "2\n", 0o644),
        file("setcap.bin", "#!/bin/true\n", 0o755),
        file("gone_in_l2", "x\n", 0o644),
        dir("opq2", 0o755),
        file("opq2/old", "old\n", 0o644),
        dir("tmp", 0o1777),
    ];
    let l2 = vec![
        file("layer2.txt", "two\n", 0o600),
        Entry::whiteout("gone_in_l2"),
        dir("opq2", 0o750),
        opaque("opq2"),
        file("opq2/new", "new\n", 0o644),
    ];
    vec![
        write_layer(&env.store, l1, 0).unwrap(),
        write_layer(&env.store, l2, 0).unwrap(),
    ]
}

/// A v2 `security.capability` value granting cap_net_raw (effective, permitted).
const CAP_NET_RAW: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// The changes of the scenario, made through `root` with std::fs (the merged dir of
/// an overlay or a materialized copy).
fn change_things(root: &Path) {
    let p = |r: &str| root.join(r);
    fs::create_dir_all(p("new/dir")).unwrap();
    fs::write(p("new/dir/file.txt"), "hello\n").unwrap();
    fs::write(p("modify.txt"), "new content\n").unwrap();
    fs::set_permissions(p("chmod.txt"), fs::Permissions::from_mode(0o4750)).unwrap();
    std::os::unix::fs::lchown(p("chown.txt"), Some(1234), Some(5678)).unwrap();
    fs::remove_dir_all(p("rmrf")).unwrap();
    fs::remove_file(p("delete.txt")).unwrap();
    fs::remove_dir_all(p("dir2file")).unwrap();
    fs::write(p("dir2file"), "now a file\n").unwrap();
    fs::remove_file(p("file2dir")).unwrap();
    fs::create_dir(p("file2dir")).unwrap();
    fs::write(p("file2dir/inside"), "inside\n").unwrap();
    fs::hard_link(p("new/dir/file.txt"), p("new/link.txt")).unwrap();
    symlink("new/dir/file.txt", p("sym")).unwrap();
    nix::unistd::mkfifo(&p("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o640)).unwrap();
    fs::set_permissions(p("fifo"), fs::Permissions::from_mode(0o640)).unwrap();
    xattr::set(p("setcap.bin"), "security.capability", &CAP_NET_RAW).unwrap();
    xattr::set(p("new/dir/file.txt"), "user.origin", b"test").unwrap();
    fs::write(p("opq2/new"), "changed in l3\n").unwrap();
}

/// `rm -rf opq && mkdir opq`: overlayfs records an opaque directory.
fn recreate_dir(root: &Path) {
    fs::remove_dir_all(root.join("opq")).unwrap();
    fs::create_dir(root.join("opq")).unwrap();
    fs::write(root.join("opq/fresh"), "fresh\n").unwrap();
}

struct Outcome {
    merged: BTreeMap<String, String>,
    plain: BTreeMap<String, String>,
    layer: LayerBlob,
    upper: PathBuf,
}

/// Runs `ops` through an overlay of `base` and returns the merged tree and the layer.
fn through_overlay(env: &Env, base: &[LayerBlob], name: &str, ops: fn(&Path)) -> Outcome {
    let descs: Vec<Descriptor> = base.iter().map(|l| l.descriptor.clone()).collect();
    let lowers = env.snaps.lowers(&env.store, &descs).unwrap();
    let upper = env.path(&format!("{name}/upper"));
    let mut ov = Overlay::mount(
        &lowers,
        &upper,
        &env.path(&format!("{name}/work")),
        &env.path(&format!("{name}/merged")),
    );
    ops(&ov.merged);
    let merged = describe(&ov.merged, true);
    let plain = describe(&ov.merged, false);
    ov.unmount();
    let entries = diff_upper(&upper, &lowers, &DiffOptions::default()).unwrap();
    let layer = write_layer(&env.store, entries, 0).unwrap();
    Outcome {
        merged,
        plain,
        layer,
        upper,
    }
}

/// Runs `ops` on a materialized copy of `base` and returns the tree and the layer.
fn through_fallback(env: &Env, base: &[LayerBlob], name: &str, ops: fn(&Path)) -> Outcome {
    let descs: Vec<Descriptor> = base.iter().map(|l| l.descriptor.clone()).collect();
    let lowers = env.snaps.lowers(&env.store, &descs).unwrap();
    let root = env.path(&format!("{name}/rootfs"));
    let before = materialize(&lowers, &root).unwrap();
    ops(&root);
    let merged = describe(&root, true);
    let plain = describe(&root, false);
    let entries = diff_dirs(&before, &root, &DiffOptions::default()).unwrap();
    let layer = write_layer(&env.store, entries, 0).unwrap();
    Outcome {
        merged,
        plain,
        layer,
        upper: root,
    }
}

fn with_layer(base: &[LayerBlob], top: &LayerBlob) -> Vec<LayerBlob> {
    let mut v = base.to_vec();
    v.push(top.clone());
    v
}

fn descs(layers: &[LayerBlob]) -> Vec<Descriptor> {
    layers.iter().map(|l| l.descriptor.clone()).collect()
}

#[test]
fn overlay_upper_becomes_a_layer_that_peers_apply_to_the_same_tree() {
    if !require(is_root(), "root (overlayfs mounts, mknod, chown)") {
        return;
    }
    let env = Env::new();
    let base = base_layers(&env);
    let out = through_overlay(&env, &base, "ov", change_things);

    // The merged view shows what the lowers say (whiteout and opaque of layer 2).
    assert!(!out.merged.contains_key("gone_in_l2"));
    assert!(!out.merged.contains_key("opq2/old"));
    assert_eq!(out.merged["opq2"], "dir 750 0:0");

    let tar = tar_entries(&env.store, &out.layer.descriptor);
    let listing: Vec<&str> = tar.keys().map(String::as_str).collect();
    assert_eq!(
        listing,
        vec![
            ".wh.delete.txt",
            ".wh.rmrf",
            "chmod.txt",
            "chown.txt",
            "dir2file",
            "fifo",
            "file2dir",
            "file2dir/inside",
            "modify.txt",
            "new",
            "new/dir",
            "new/dir/file.txt",
            "new/link.txt",
            "opq2",
            "opq2/new",
            "setcap.bin",
            "sym",
        ],
        "{tar:#?}"
    );
    assert_eq!(tar["chmod.txt"], "Regular 4750 0:0");
    assert_eq!(tar["chown.txt"], "Regular 644 1234:5678");
    assert_eq!(tar["dir2file"], "Regular 644 0:0");
    assert_eq!(
        tar["file2dir"], "Directory 755 0:0",
        "no opaque marker over a file"
    );
    assert_eq!(tar["fifo"], "Fifo 640 0:0");
    assert_eq!(tar["new/link.txt"], "Link 644 0:0 -> new/dir/file.txt");
    assert_eq!(
        tar["new/dir/file.txt"],
        "Regular 644 0:0 SCHILY.xattr.user.origin"
    );
    assert_eq!(
        tar["setcap.bin"],
        "Regular 755 0:0 SCHILY.xattr.security.capability"
    );
    assert_eq!(tar["sym"], "Symlink 777 0:0 -> new/dir/file.txt");
    assert_eq!(
        tar["opq2"], "Directory 750 0:0",
        "copied up, kept: a child changed"
    );
    assert!(
        tar.values()
            .all(|d| !d.contains("trusted.") && !d.contains("selinux"))
    );

    // Peers agree: umoci applies base + new layer to exactly the merged tree.
    let all = with_layer(&base, &out.layer);
    if require(have_umoci(), "peer tool `umoci`") {
        let unpacked = umoci_unpack(&env, &all, "umoci-ov");
        assert_eq!(describe(&unpacked, true), out.merged);
    }
    assert_eq!(
        describe_applied(&env, &descs(&all), "applied-ov"),
        out.plain
    );

    // Same changes without overlayfs: same tree, same layer bytes.
    let fb = through_fallback(&env, &base, "fb", change_things);
    assert_eq!(fb.merged, out.merged);
    assert_eq!(
        tar_entries(&env.store, &fb.layer.descriptor),
        tar,
        "fallback layer differs"
    );
    assert_eq!(fb.layer.descriptor.digest, out.layer.descriptor.digest);
}

#[test]
fn recreated_directory_is_opaque_and_hides_its_old_content() {
    if !require(is_root(), "root (overlayfs mounts, trusted xattrs)") {
        return;
    }
    let env = Env::new();
    let base = base_layers(&env);
    let out = through_overlay(&env, &base, "ov", recreate_dir);
    let tar = tar_entries(&env.store, &out.layer.descriptor);
    let listing: Vec<&str> = tar.keys().map(String::as_str).collect();
    assert_eq!(listing, vec!["opq", "opq/.wh..wh..opq", "opq/fresh"]);
    assert!(
        xattr::get(out.upper.join("opq"), "trusted.overlay.opaque")
            .unwrap()
            .is_some()
    );
    let all = with_layer(&base, &out.layer);
    if require(have_umoci(), "peer tool `umoci`") {
        let unpacked = umoci_unpack(&env, &all, "umoci-opq");
        let tree = describe(&unpacked, true);
        assert_eq!(tree, out.merged);
        assert!(!tree.contains_key("opq/old1") && !tree.contains_key("opq/sub"));
    }
    assert_eq!(describe_applied(&env, &descs(&all), "applied"), out.plain);

    // The fallback gives the same tree. Its layer is the same too unless the file
    // system handed the new directory the old inode number back (then it writes
    // whiteouts for the old children instead of the opaque marker).
    let fb = through_fallback(&env, &base, "fb", recreate_dir);
    assert_eq!(fb.merged, out.merged);
    let fb_all = with_layer(&base, &fb.layer);
    assert_eq!(
        describe_applied(&env, &descs(&fb_all), "applied-fb"),
        out.plain
    );
    let fb_tar = tar_entries(&env.store, &fb.layer.descriptor);
    eprintln!("fallback layer: {:?}", fb_tar.keys().collect::<Vec<_>>());
    if fb_tar.contains_key("opq/.wh..wh..opq") {
        assert_eq!(fb.layer.descriptor.digest, out.layer.descriptor.digest);
    } else {
        assert!(fb_tar.contains_key("opq/.wh.old1") && fb_tar.contains_key("opq/.wh.sub"));
    }
}

fn sandbox_artifacts(root: &Path) {
    fs::write(root.join("etc/hosts"), "").unwrap();
    fs::create_dir_all(root.join("run/secrets")).unwrap();
    fs::write(root.join("run/secrets/token"), "s3cret").unwrap();
}

fn sandbox_artifacts_and_a_change(root: &Path) {
    sandbox_artifacts(root);
    fs::write(root.join("etc/motd"), "hi\n").unwrap();
}

#[test]
fn sandbox_mount_points_do_not_leak_into_the_layer() {
    if !require(is_root(), "root (overlayfs mounts)") {
        return;
    }
    let env = Env::new();
    let base = base_layers(&env);
    let descs = descs(&base);
    let lowers = env.snaps.lowers(&env.store, &descs).unwrap();
    let ignore = vec!["/etc/hosts".to_string(), "/run/secrets".to_string()];
    let opts = DiffOptions {
        ignore: &ignore,
        ..DiffOptions::default()
    };
    for (name, ops, expected) in [
        ("quiet", sandbox_artifacts as fn(&Path), vec![]),
        (
            "busy",
            sandbox_artifacts_and_a_change,
            vec!["etc", "etc/motd"],
        ),
    ] {
        let upper = env.path(&format!("{name}/upper"));
        let mut ov = Overlay::mount(
            &lowers,
            &upper,
            &env.path(&format!("{name}/work")),
            &env.path(&format!("{name}/merged")),
        );
        ops(&ov.merged);
        ov.unmount();
        assert!(upper.join("etc/hosts").exists() && upper.join("run/secrets").is_dir());
        let entries = diff_upper(&upper, &lowers, &opts).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, expected, "overlay, {name}");

        let root = env.path(&format!("{name}/fallback"));
        let before = materialize(&lowers, &root).unwrap();
        ops(&root);
        let fb = diff_dirs(&before, &root, &opts).unwrap();
        let fb_paths: Vec<&str> = fb.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(fb_paths, expected, "fallback, {name}");
    }
}

// ---------------------------------------------------------------- ensure

#[test]
fn snapshot_is_in_overlay_lower_format_with_exact_metadata() {
    if !require(is_root(), "root (mknod, chown, trusted xattrs)") {
        return;
    }
    let env = Env::new();
    let mut setuid = file("bin/su", "su\n", 0o4755);
    setuid.uid = 1000;
    setuid.gid = 1001;
    setuid
        .xattrs
        .insert("security.capability".into(), CAP_NET_RAW.to_vec());
    let mut tagged = file("tagged", "t\n", 0o644);
    tagged.xattrs.insert("user.kind".into(), b"x".to_vec());
    let mut big_id = file("big-id", "b\n", 0o600);
    big_id.uid = 3_000_000;
    big_id.gid = 3_000_001;
    let entries = vec![
        dir("bin", 0o755),
        setuid,
        tagged,
        big_id,
        dir("tmp", 0o1777),
        dir("ro", 0o555),
        file("ro/inside", "i\n", 0o444),
        Entry {
            kind: EntryKind::Hardlink("bin/su".into()),
            ..file("bin/su-link", "", 0o4755)
        },
        Entry {
            kind: EntryKind::Symlink("bin/su".into()),
            ..file("link", "", 0o777)
        },
        Entry {
            kind: EntryKind::CharDevice(1, 3),
            ..file("dev/null", "", 0o666)
        },
        Entry {
            kind: EntryKind::Fifo,
            ..file("pipe", "", 0o620)
        },
        Entry::whiteout("gone"),
        dir("o", 0o755),
        opaque("o"),
        file("o/kept", "k\n", 0o644),
    ];
    let layer = write_layer(&env.store, entries, 1_234_567).unwrap();
    let fs_dir = env.snaps.ensure(&env.store, &layer.descriptor).unwrap();
    assert_eq!(fs_dir, env.snaps.path(&layer.descriptor).join("fs"));
    assert!(env.snaps.warnings(&layer.descriptor).is_empty());
    let md = |p: &str| fs::symlink_metadata(fs_dir.join(p)).unwrap();
    assert_eq!(md("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!((md("bin/su").uid(), md("bin/su").gid()), (1000, 1001));
    assert_eq!(md("bin/su").ino(), md("bin/su-link").ino());
    assert_eq!(
        xattr::get(fs_dir.join("bin/su"), "security.capability").unwrap(),
        Some(CAP_NET_RAW.to_vec())
    );
    assert_eq!(
        xattr::get(fs_dir.join("tagged"), "user.kind").unwrap(),
        Some(b"x".to_vec())
    );
    assert_eq!(
        (md("big-id").uid(), md("big-id").gid()),
        (3_000_000, 3_000_001)
    );
    assert_eq!(md("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(md("ro").mode() & 0o7777, 0o555);
    assert_eq!(
        fs::read_link(fs_dir.join("link")).unwrap(),
        Path::new("bin/su")
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(md("dev/null").file_type().is_char_device());
    assert_eq!(md("dev/null").rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(md("dev").mode() & 0o7777, 0o755, "implicit parent");
    assert!(md("pipe").file_type().is_fifo());
    assert_eq!(md("pipe").mode() & 0o7777, 0o620);
    assert!(md("gone").file_type().is_char_device() && md("gone").rdev() == 0);
    assert_eq!(
        xattr::get(fs_dir.join("o"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!fs_dir.join("o/.wh..wh..opq").exists());
    // Directory mtimes are set after their children were created.
    for p in ["bin", "ro", "o", "tmp", "bin/su", "link"] {
        assert_eq!(md(p).mtime(), 1_234_567, "{p}");
    }
    assert_eq!(md("").mode() & 0o7777, 0o755);

    // A second call finds the snapshot.
    assert_eq!(
        env.snaps.ensure(&env.store, &layer.descriptor).unwrap(),
        fs_dir
    );
}

#[test]
fn concurrent_ensure_of_one_layer_both_succeed() {
    let env = Arc::new(Env::new());
    let mut entries = vec![dir("d", 0o755)];
    for i in 0..300 {
        entries.push(file(&format!("d/f{i}"), &"x".repeat(i * 10), 0o644));
    }
    let layer = write_layer(&env.store, entries, 0).unwrap().descriptor;
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (env, layer, barrier) = (env.clone(), layer.clone(), barrier.clone());
            std::thread::spawn(move || {
                // Separate `Snapshots` values, as separate processes would have.
                let snaps = Snapshots::new(&env.store).unwrap();
                barrier.wait();
                snaps.ensure(&env.store, &layer)
            })
        })
        .collect();
    let results: Vec<PathBuf> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert!(results.iter().all(|r| r == &results[0]));
    assert_eq!(fs::read_dir(results[0].join("d")).unwrap().count(), 300);
    let left: Vec<_> = fs::read_dir(env.snaps.dir()).unwrap().collect();
    assert_eq!(left.len(), 1, "temp dirs of the losers are gone");
}

/// A host directory that hostile layers aim at.
struct Target {
    dir: tempfile::TempDir,
}

impl Target {
    fn new() -> Target {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secret"), "host secret\n").unwrap();
        Target { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Nothing was created, changed or linked.
    fn assert_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["secret"], "host dir was written to");
        let md = fs::metadata(self.path().join("secret")).unwrap();
        assert_eq!(md.nlink(), 1, "host file was hard-linked");
        assert_eq!(
            fs::read_to_string(self.path().join("secret")).unwrap(),
            "host secret\n"
        );
    }
}

fn ensure_err(env: &Env, layer: &Descriptor) -> String {
    let err = env
        .snaps
        .ensure(&env.store, layer)
        .expect_err("hostile layer was unpacked");
    assert!(
        !env.snaps.path(layer).exists(),
        "no snapshot after an error"
    );
    assert_eq!(
        fs::read_dir(env.snaps.dir()).unwrap().count(),
        0,
        "temp dir left"
    );
    let mut msg = err.to_string();
    let mut cur = std::error::Error::source(&err);
    while let Some(s) = cur {
        msg.push_str(&format!(": {s}"));
        cur = s.source();
    }
    eprintln!("refused: {msg}");
    msg
}

#[test]
fn hostile_layers_cannot_touch_the_host() {
    let env = Env::new();
    let t = Target::new();
    let host = t
        .path()
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    let up = "../".repeat(10);
    use tar::EntryType::{Directory, Link, Regular, Symlink};

    // `..` climbing out of the root.
    let l = RawTar::new()
        .push(&format!("{up}{host}/pwned"), Regular, "", b"x")
        .store(&env.store);
    assert!(ensure_err(&env, &l).contains("climbs above the root"));
    let l = RawTar::new()
        .push("a/", Directory, "", b"")
        .push("a/../../pwned", Regular, "", b"x")
        .store(&env.store);
    ensure_err(&env, &l);

    // A symlink to `/`, then a file through it.
    let l = RawTar::new()
        .push("evil", Symlink, "/", b"")
        .push(&format!("evil/{host}/pwned"), Regular, "", b"x")
        .store(&env.store);
    let e = ensure_err(&env, &l);
    assert!(e.contains("not a directory"), "{e}");

    // A symlink to a host dir, then a file, a directory and a symlink through it.
    for (kind, link) in [(Regular, ""), (Directory, ""), (Symlink, "/etc/passwd")] {
        let l = RawTar::new()
            .push("evil", Symlink, t.path().to_str().unwrap(), b"")
            .push("evil/pwned", kind, link, b"")
            .store(&env.store);
        ensure_err(&env, &l);
    }

    // A hard link to a host file, by absolute and by climbing path.
    for target in [
        t.path().join("secret").to_str().unwrap().to_string(),
        format!("{up}{host}/secret"),
        "/etc/passwd".to_string(),
    ] {
        let l = RawTar::new()
            .push("link", Link, &target, b"")
            .store(&env.store);
        ensure_err(&env, &l);
    }
    // ... and then writing through the link.
    let l = RawTar::new()
        .push("link", Link, t.path().join("secret").to_str().unwrap(), b"")
        .push("link", Regular, "", b"overwritten")
        .store(&env.store);
    ensure_err(&env, &l);

    // A hard link whose target path goes through a symlink.
    let l = RawTar::new()
        .push("d", Symlink, t.path().to_str().unwrap(), b"")
        .push("link", Link, "d/secret", b"")
        .store(&env.store);
    assert!(ensure_err(&env, &l).contains("not an earlier file"));
    // ... or through a symlink this layer made to one of its own directories.
    let l = RawTar::new()
        .push("real/", Directory, "", b"")
        .push("real/f", Regular, "", b"f")
        .push("d", Symlink, "real", b"")
        .push("link", Link, "d/f", b"")
        .store(&env.store);
    ensure_err(&env, &l);
    // A hard link to a symlink is refused too (it would be resolved later).
    let l = RawTar::new()
        .push("s", Symlink, "/etc/passwd", b"")
        .push("link", Link, "s", b"")
        .store(&env.store);
    assert!(ensure_err(&env, &l).contains("hard link to a symlink"));
    t.assert_untouched();
    assert_eq!(
        fs::metadata("/etc/passwd").unwrap().nlink(),
        1,
        "/etc/passwd was hard-linked"
    );

    // An absolute name is taken relative to the root, like containerd does.
    let l = RawTar::new()
        .push(&format!("/{host}/abs"), Regular, "", b"inside")
        .store(&env.store);
    let fs_dir = env.snaps.ensure(&env.store, &l).unwrap();
    assert_eq!(
        fs::read_to_string(fs_dir.join(&host).join("abs")).unwrap(),
        "inside"
    );
    t.assert_untouched();
}

#[test]
fn a_damaged_blob_is_not_unpacked() {
    let env = Env::new();
    let layer = write_layer(&env.store, vec![file("f", "f\n", 0o644)], 0)
        .unwrap()
        .descriptor;
    let blob = env.store.blob_path(&layer.digest);
    let mut b = fs::read(&blob).unwrap();
    let n = b.len();
    b[n - 9] ^= 0xff;
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&blob, &b).unwrap();
    let err = env.snaps.ensure(&env.store, &layer).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert!(!env.snaps.path(&layer).exists());
}

#[test]
fn without_root_devices_and_owners_are_recorded_as_warnings() {
    let env = Env::new();
    let mut owned = file("ro/owned", "o\n", 0o444);
    owned.uid = 1000;
    let entries = vec![
        dir("ro", 0o555),
        owned,
        Entry {
            kind: EntryKind::CharDevice(1, 3),
            ..file("null", "", 0o666)
        },
        Entry {
            kind: EntryKind::Fifo,
            ..file("pipe", "", 0o600)
        },
        Entry::whiteout("gone"),
    ];
    let layer = write_layer(&env.store, entries, 0).unwrap().descriptor;
    let fs_dir = env.snaps.ensure(&env.store, &layer).unwrap();
    let warnings = env.snaps.warnings(&layer);
    assert_eq!(fs::read_to_string(fs_dir.join("ro/owned")).unwrap(), "o\n");
    assert_eq!(
        fs::metadata(fs_dir.join("ro")).unwrap().mode() & 0o7777,
        0o555
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::metadata(fs_dir.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let gone = fs::symlink_metadata(fs_dir.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    if is_root() {
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(fs::metadata(fs_dir.join("ro/owned")).unwrap().uid(), 1000);
    } else {
        eprintln!("not root: checking the unprivileged unpack");
        assert!(!fs_dir.join("null").exists());
        assert!(
            warnings.iter().any(|w| w.contains("\"null\"")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("owners not applied")),
            "{warnings:?}"
        );
    }
}

// ------------------------------------------- snapshots made from a step's entries

/// Everything about a tree that a lower dir is made of: kind, mode, owner, mtime
/// (not of whiteouts: the unpacker leaves their creation time), link count, device
/// numbers, content or target, and every xattr (the opaque markers included).
fn describe_exact(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_str().unwrap();
        let md = e.path().symlink_metadata().unwrap();
        let ft = md.file_type();
        let whiteout = ft.is_char_device() && md.rdev() == 0;
        let mut d = format!(
            "{:o} {}:{} nlink={} rdev={}",
            md.mode(),
            md.uid(),
            md.gid(),
            md.nlink(),
            md.rdev()
        );
        if !whiteout {
            d.push_str(&format!(" mtime={}.{}", md.mtime(), md.mtime_nsec()));
        }
        if ft.is_file() {
            d.push_str(&format!(" {}", Digest::of(&fs::read(e.path()).unwrap())));
        } else if ft.is_symlink() {
            d.push_str(&format!(
                " -> {}",
                fs::read_link(e.path()).unwrap().display()
            ));
        } else if !ft.is_dir() && !ft.is_fifo() && !ft.is_char_device() && !ft.is_block_device() {
            d.push_str(" unexpected kind");
        }
        if !ft.is_symlink() {
            let mut names: Vec<String> = xattr::list(e.path())
                .unwrap()
                .map(|n| n.to_str().unwrap().to_string())
                .collect();
            names.sort();
            for name in names {
                let v = xattr::get(e.path(), &name).unwrap().unwrap_or_default();
                d.push_str(&format!(" {name}={}", hex(&v)));
            }
        }
        out.insert(rel.to_string(), d);
    }
    out
}

/// What a `RUN` step does in the scenario: the common changes, an opaque directory,
/// a socket (no tar entry), a sandbox mount stub (ignored) and a deeper new tree.
fn run_like_step(root: &Path) {
    change_things(root);
    recreate_dir(root);
    std::os::unix::net::UnixListener::bind(root.join("new/sock")).unwrap();
    fs::create_dir_all(root.join("run/secrets")).unwrap();
    fs::write(root.join("run/secrets/token"), "stub").unwrap();
    fs::create_dir_all(root.join("deep/a/b")).unwrap();
    fs::set_permissions(root.join("deep/a"), fs::Permissions::from_mode(0o2750)).unwrap();
    fs::write(root.join("deep/a/b/c"), "c\n").unwrap();
    fs::hard_link(root.join("deep/a/b/c"), root.join("deep/c-link")).unwrap();
    fs::hard_link(root.join("keep/file"), root.join("keep/file-link")).unwrap();
}

#[test]
fn snapshot_made_from_a_steps_entries_equals_the_unpacked_layer() {
    if !require(is_root(), "root (overlayfs mounts, mknod, chown)") {
        return;
    }
    let env = Env::new();
    let base = base_layers(&env);
    let lowers = env.snaps.lowers(&env.store, &descs(&base)).unwrap();
    let upper = env.path("step/upper");
    let mut ov = Overlay::mount(
        &lowers,
        &upper,
        &env.path("step/work"),
        &env.path("step/merged"),
    );
    run_like_step(&ov.merged);
    ov.unmount();
    let ignore = vec!["/run/secrets".to_string()];
    let opts = DiffOptions {
        ignore: &ignore,
        ..Default::default()
    };
    let entries = diff_upper(&upper, &lowers, &opts).unwrap();
    assert!(entries.iter().any(|e| e.path == "opq/.wh..wh..opq"));
    assert!(entries.iter().any(|e| e.path == ".wh.rmrf"));
    assert!(!entries.iter().any(|e| e.path.starts_with("run")));
    // A non-zero epoch: clamped mtimes must not be confused with the implicit 0.
    let epoch = 1_700_000_000;
    let prepared = snapshot::prepare(&env.snaps, &entries, epoch)
        .unwrap()
        .expect("the step's snapshot can be made from its entries");
    let layer = write_layer(&env.store, entries, epoch).unwrap();
    let made = prepared.commit(&env.snaps, &layer.descriptor).unwrap();
    assert_eq!(
        made,
        env.snaps.path(&layer.descriptor).join(snapshot::FS_DIR)
    );
    // The step's scratch dir goes, as after a build step.
    fs::remove_dir_all(env.path("step")).unwrap();

    let unpacked = env.path("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let reader = lading_oci::unpack::open_layer(&env.store, &layer.descriptor).unwrap();
    let done = snapshot::unpack_lower(reader, &unpacked, "layer", Default::default()).unwrap();
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    assert!(done.implied.is_empty(), "{:?}", done.implied);

    let want = describe_exact(&unpacked);
    let got = describe_exact(&made);
    assert_eq!(got, want);
    // The scenario's cases are in the tree compared.
    assert!(
        want["rmrf"].starts_with("20000 "),
        "whiteout: {}",
        want["rmrf"]
    );
    assert!(want["opq"].contains("trusted.overlay.opaque=79"));
    assert!(want["setcap.bin"].contains("security.capability="));
    assert!(want["new/dir/file.txt"].contains("nlink=2"));
    assert!(want["deep/c-link"].contains("nlink=2"));
    assert!(want["fifo"].starts_with("10640 "));
    assert!(want["sym"].contains("-> new/dir/file.txt"));
    assert!(!want.contains_key("new/sock"));
    assert!(want["deep/a"].starts_with("42750 "));
    assert!(want["new/dir/file.txt"].contains("mtime=1700000000.0"));
}

#[test]
fn snapshot_from_entries_gives_way_to_an_existing_one() {
    if !require(is_root(), "root (chown)") {
        return;
    }
    let env = Env::new();
    let entries = vec![dir("a", 0o755), file("a/f", "f\n", 0o644)];
    let layer = write_layer(&env.store, entries.clone(), 0).unwrap();
    let first = env.snaps.ensure(&env.store, &layer.descriptor).unwrap();
    let before = describe_exact(&first);
    let prepared = snapshot::prepare(&env.snaps, &entries, 0).unwrap().unwrap();
    let again = prepared.commit(&env.snaps, &layer.descriptor).unwrap();
    assert_eq!(again, first);
    assert_eq!(describe_exact(&first), before);
    // No temp dir is left behind.
    let left: Vec<_> = fs::read_dir(env.snaps.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// --------------------------------------------- reading a stage through its snapshots

fn symlink_entry(path: &str, target: &str) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::Symlink(target.into()),
        mode: 0o777,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }
}

/// What `COPY --from` reads of a stage: each path's node and each file's content.
fn tree_view(
    nodes: &BTreeMap<String, lading_oci::unpack::Node>,
    host: impl Fn(&str) -> PathBuf,
) -> BTreeMap<String, String> {
    nodes
        .iter()
        .map(|(p, n)| {
            let content = match n.kind {
                NodeKind::File(_) => format!(" {}", Digest::of(&fs::read(host(p)).unwrap())),
                _ => String::new(),
            };
            (p.clone(), format!("{n:?}{content}"))
        })
        .collect()
}

#[test]
fn layered_view_of_snapshots_equals_the_unpacked_stage() {
    if !require(is_root(), "root (mknod, chown, trusted xattrs)") {
        return;
    }
    let env = Env::new();
    let mut layers = base_layers(&env);
    let mut owned = file("keep/owned", "o\n", 0o4750);
    owned.uid = 1000;
    owned.gid = 1001;
    let l3 = vec![
        dir("keep", 0o700),
        owned,
        symlink_entry("keep/abs", "/etc/passwd"),
        symlink_entry("keep/rel", "../modify.txt"),
        symlink_entry("keep/dangling", "nowhere"),
        Entry::whiteout("delete.txt"),
        Entry::whiteout("rmrf/a"),
        file("dir2file", "a file now\n", 0o640),
        dir("file2dir", 0o711),
        file("file2dir/inside", "inside\n", 0o644),
        Entry {
            path: "keep/z-hard".into(),
            kind: EntryKind::Hardlink("keep/owned".into()),
            ..dir("x", 0)
        },
        Entry {
            path: "fifo".into(),
            kind: EntryKind::Fifo,
            ..dir("x", 0o600)
        },
    ];
    layers.push(write_layer(&env.store, l3, 0).unwrap());
    let l4 = vec![
        dir("keep", 0o755),
        opaque("keep"),
        symlink_entry("keep/rel", "file"),
        file("keep/file", "again\n", 0o600),
        Entry::whiteout("opq2"),
        symlink_entry("opq", "keep"),
    ];
    layers.push(write_layer(&env.store, l4, 0).unwrap());

    // Also built one layer at a time, as a stage's view grows with its COPY layers.
    // (A layer may bring a fix-up lower for directories it implies: see `lowers`.)
    let mut grown = snapshot::LayeredTree::default();
    let mut had = 0;
    for n in 1..=layers.len() {
        let d = descs(&layers[..n]);
        let lowers = env.snaps.lowers(&env.store, &d).unwrap();
        let view = snapshot::layered_tree(&lowers).unwrap();
        grown.apply(&lowers[..lowers.len() - had]).unwrap();
        had = lowers.len();
        assert_eq!(grown.rootfs.nodes, view.rootfs.nodes, "grown to {n} layers");
        assert_eq!(grown.hosts, view.hosts, "grown to {n} layers");
        let dest = env.path(&format!("applied-{n}"));
        let applied = apply_layers(&env.store, &d, &dest, UnpackOptions { chown: true }).unwrap();
        let got = tree_view(&view.rootfs.nodes, |p| view.hosts[p].clone());
        let want = tree_view(&applied.nodes, |p| dest.join(p));
        assert_eq!(got, want, "after {n} layers");
    }
}

/// A tar stream (with its end marker) of `(path, kind, mode, owner id, content)`, ids
/// above the ustar range in PAX records, as a foreign builder might write it.
fn foreign_layer(env: &Env, entries: &[(&str, char, u32, u64, &str)]) -> Descriptor {
    let mut b = tar::Builder::new(Vec::new());
    for &(path, kind, mode, id, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(mode);
        h.set_mtime(0);
        if id > 0o7777777 {
            let s = id.to_string();
            b.append_pax_extensions([("uid", s.as_bytes()), ("gid", s.as_bytes())])
                .unwrap();
        } else {
            h.set_uid(id);
            h.set_gid(id);
        }
        let (t, bytes) = match kind {
            'd' => (tar::EntryType::Directory, &b""[..]),
            'l' => (tar::EntryType::Symlink, &b""[..]),
            _ => (tar::EntryType::Regular, data.as_bytes()),
        };
        h.set_entry_type(t);
        h.set_size(bytes.len() as u64);
        if kind == 'l' {
            b.append_link(&mut h, path, data).unwrap();
        } else {
            b.append_data(&mut h, path, bytes).unwrap();
        }
    }
    let bytes = b.into_inner().unwrap();
    env.store
        .put_bytes(&bytes, "application/vnd.oci.image.layer.v1.tar")
        .unwrap()
}

/// Foreign layers that omit parent directories: an implied directory keeps the lower
/// directory's owner and mode (as umoci, buildah and containerd apply layers) in the
/// overlay `RUN` gets, in the `COPY --from` view and in `apply_layers` (`-o type=local`);
/// the view and `apply_layers` also agree on a symlink's mode (0777 whatever its header
/// says) and on an owner id above the ustar range (from PAX).
#[test]
fn implied_parents_keep_the_lower_directories_metadata() {
    if !require(is_root(), "root (chown, trusted xattrs, overlay)") {
        return;
    }
    let env = Env::new();
    let layers = vec![
        foreign_layer(
            &env,
            &[
                ("data/", 'd', 0o750, 1000, ""),
                ("data/lnk", 'l', 0o755, 3_000_000, "x"),
                ("data/x/", 'd', 0o700, 1001, ""),
                ("data/x/old", 'f', 0o644, 0, "old\n"),
            ],
        ),
        // Only a file deep below: `data` and `data/x` are implied.
        foreign_layer(&env, &[("data/x/f", 'f', 0o640, 1000, "f\n")]),
        // Implied `new` (nothing below) and `data` again, below an opaque `data/x`.
        foreign_layer(
            &env,
            &[
                ("new/g", 'f', 0o644, 0, "g\n"),
                ("data/x/.wh..wh..opq", 'f', 0, 0, ""),
                ("data/x/y/h", 'f', 0o644, 0, "h\n"),
            ],
        ),
    ];
    for n in 1..=layers.len() {
        let d = &layers[..n];
        let lowers = env.snaps.lowers(&env.store, d).unwrap();
        let view = snapshot::layered_tree(&lowers).unwrap();
        let dest = env.path(&format!("applied-{n}"));
        let applied = apply_layers(&env.store, d, &dest, UnpackOptions { chown: true }).unwrap();
        let got = tree_view(&view.rootfs.nodes, |p| view.hosts[p].clone());
        let want = tree_view(&applied.nodes, |p| dest.join(p));
        assert_eq!(got, want, "after {n} layers");
        let meta = |p: &str| {
            let n = &view.rootfs.nodes[p];
            (n.mode, n.uid, n.gid)
        };
        assert_eq!(meta("data"), (0o750, 1000, 1000), "after {n} layers");
        assert_eq!(meta("data/x"), (0o700, 1001, 1001), "after {n} layers");
        assert_eq!(meta("data/lnk"), (0o777, 3_000_000, 3_000_000));

        // What RUN sees: the overlay of the same lowers.
        let mut ov = Overlay::mount(
            &lowers,
            &env.path(&format!("upper-{n}")),
            &env.path(&format!("work-{n}")),
            &env.path(&format!("merged-{n}")),
        );
        let md = fs::symlink_metadata(env.path(&format!("merged-{n}/data"))).unwrap();
        assert_eq!(
            (md.mode() & 0o7777, md.uid()),
            (0o750, 1000),
            "overlay, {n}"
        );
        let md = fs::symlink_metadata(env.path(&format!("merged-{n}/data/x"))).unwrap();
        assert_eq!(
            (md.mode() & 0o7777, md.uid()),
            (0o700, 1001),
            "overlay, {n}"
        );
        ov.unmount();
    }
    // The third layer's opaque `data/x` hides the lower files but not the directory's
    // metadata; its implied `data/x/y` and `new` are new, root-owned 0755.
    let lowers = env.snaps.lowers(&env.store, &layers).unwrap();
    let view = snapshot::layered_tree(&lowers).unwrap();
    assert!(!view.rootfs.nodes.contains_key("data/x/old"));
    assert!(!view.rootfs.nodes.contains_key("data/x/f"));
    for p in ["new", "data/x/y"] {
        let n = &view.rootfs.nodes[p];
        assert_eq!((n.mode, n.uid, n.gid), (0o755, 0, 0), "{p}");
    }
    // Snapshots of the blobs themselves stay as unpacked; the fix-ups are extra lowers.
    assert_eq!(lowers.len(), layers.len() + 2);
}

/// A store made before snapshots recorded their implied directories has snapshots named
/// by the bare digest, without that record: they must not be reused, or a foreign
/// layer's implied directory would hide the lower one's owner and mode again.
#[test]
fn snapshots_of_the_old_format_are_not_reused() {
    if !require(is_root(), "root (chown, trusted xattrs)") {
        return;
    }
    let env = Env::new();
    let layers = vec![
        foreign_layer(&env, &[("data/", 'd', 0o750, 1000, "")]),
        foreign_layer(&env, &[("data/f", 'f', 0o640, 1000, "f\n")]),
    ];
    // What the old format left for the second layer: its tree with the implied `data`
    // made root-owned 0755, and no `implied` file.
    let old = env.snaps.dir().join(layers[1].digest.hex());
    fs::create_dir_all(old.join("fs/data")).unwrap();
    fs::write(old.join("fs/data/f"), "f\n").unwrap();
    let lowers = env.snaps.lowers(&env.store, &layers).unwrap();
    assert!(
        lowers.iter().all(|l| !l.starts_with(&old)),
        "an old-format snapshot was used: {lowers:?}"
    );
    let view = snapshot::layered_tree(&lowers).unwrap();
    let n = &view.rootfs.nodes["data"];
    assert_eq!((n.mode, n.uid, n.gid), (0o750, 1000, 1000));
}
