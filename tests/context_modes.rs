//! COPY/ADD and the permission bits of the build context (issue #9, point 3).
//!
//! The same contexts — files and directories with modes 0600, 0640, 0700, 0751, 04755,
//! 02755, 01777, nested, every mode set explicitly so the umask never matters — are built
//! by lading in both `--context-modes`, by BuildKit (Debian's dockerd 20.10, THE
//! reference) and by buildah, and the root filesystems are compared: path, type, mode
//! (all of 07777), uid, gid, content or link target; not mtimes.
//!
//! * `preserve` (the default) must equal BuildKit.
//! * `normalize` must equal today's rule, asserted directly: files 0644, or 0755 when
//!   any execute bit is set, directories 0755, `--chmod` applied on top.
//!
//! Where buildah departs from BuildKit it is said so next to the comparison, and
//! BuildKit is followed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::dockerd::Dockerd;
use common::tree::{Tree, assert_same_tree, tree_of_tar};
use common::{Sandbox, assert_success, require_tool, run};

/// Writes `rel` with `mode` (and its content) or makes the directory, then chmods it.
fn put(root: &Path, rel: &str, mode: u32) {
    let p = root.join(rel);
    if rel.ends_with('/') {
        std::fs::create_dir_all(&p).expect("mkdir");
    } else {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, format!("{rel}\n")).expect("write");
    }
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The context of every differential case. Directories are chmod'ed after their
/// content is written (a 0500 directory could not be filled).
const FILES: &[(&str, u32)] = &[
    ("f0600", 0o600),
    ("f0640", 0o640),
    ("f0644", 0o644),
    ("f0700", 0o700),
    ("f0751", 0o751),
    ("f4755", 0o4755),
    ("f2755", 0o2755),
    ("f1777", 0o1777),
    ("d0700/in", 0o640),
    ("d0700/sub/deep", 0o4755),
    ("d0751/in", 0o600),
    ("d0751/x", 0o751),
    ("d2755/in", 0o644),
    ("d1777/in", 0o600),
    ("d1777/n2700/deep", 0o700),
    // No setuid/setgid/sticky below: --chmod's handling of those differs between
    // dockerd 20.10 and current BuildKit (see `chmod_octal_replaces_special_bits`).
    ("plain/key", 0o600),
    ("plain/run", 0o751),
    ("plain/sub/grp", 0o640),
    ("Dockerfile", 0o644),
];
const DIRS: &[(&str, u32)] = &[
    ("d0700/sub/", 0o711),
    ("d0700/", 0o700),
    ("d0751/", 0o751),
    ("d2755/", 0o2755),
    ("d1777/n2700/", 0o2700),
    ("d1777/", 0o1777),
    ("plain/sub/", 0o700),
    ("plain/", 0o750),
];

/// Single files, several files, directories (contents), `.`, a symlink, missing
/// parents, `--chmod` on files and directories, `ADD` of a local file and directory, and
/// a directory copied into an existing one (which keeps its own mode, here 02700).
const DOCKERFILE: &str = "\
FROM scratch
COPY f0600 /single
COPY f0600 f0640 f0700 f0751 f4755 f2755 f1777 /files/
COPY f0600 /deep/a/b/c
COPY d0700 /dir0700/
COPY d0751 /dir0751
COPY d2755 /dir2755/
COPY d1777 /dir1777/
COPY link /via-link
COPY . /all/
COPY --chmod=0640 plain /chmod-dir/
COPY --chmod=0755 f0600 /chmod-file
COPY --chmod=0600 f0751 f0644 /chmod-files/
ADD f0700 /add-file
ADD d0751 /add-dir/
COPY d1777 /p/
COPY plain /p/n2700/
";

/// A fresh context under `sb`; returns its path.
fn context(sb: &Sandbox, rel: &str) -> PathBuf {
    let root = sb.path(rel);
    std::fs::create_dir_all(&root).expect("mkdir");
    for (path, mode) in FILES {
        put(&root, path, *mode);
    }
    std::fs::write(root.join("Dockerfile"), DOCKERFILE).expect("Dockerfile");
    std::os::unix::fs::symlink("f0640", root.join("link")).expect("symlink");
    for (path, mode) in DIRS {
        put(&root, path, *mode);
    }
    // The context root's own mode must not reach `/all` (BuildKit gives it 0755).
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    root
}

/// lading's root filesystem for `ctx` with `extra` build arguments.
fn lading_tree(sb: &Sandbox, ctx: &Path, extra: &[&str]) -> Tree {
    let out = sb.path(&format!("lading-{}.tar", sb_unique()));
    let mut cmd = sb.lading(&["build", "--progress", "plain"]);
    cmd.args(extra)
        .arg("-o")
        .arg(format!("type=tar,dest={}", out.display()))
        .arg(ctx);
    assert_success(&run(&mut cmd));
    tree_of_tar(&std::fs::read(out).expect("rootfs tar"))
}

fn sb_unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn assert_same(a_name: &str, a: &Tree, b_name: &str, b: &Tree) {
    assert_same_tree("context modes", a_name, a, b_name, b);
}

/// What `--context-modes=normalize` must give: the preserved tree with today's rule
/// applied to every entry that came from the context unchanged, and `--chmod` values
/// where the Dockerfile sets them.
fn normalized(preserved: &Tree) -> Tree {
    preserved
        .iter()
        .map(|(path, node)| {
            let mut n = node.clone();
            n.mode = match (n.kind, path.as_str()) {
                ('l', _) => n.mode,
                // `COPY --chmod=0640 plain /chmod-dir/`: below the destination.
                (_, p) if p.starts_with("chmod-dir/") => 0o640,
                (_, "chmod-file") => 0o755,
                (_, p) if p.starts_with("chmod-files/") => 0o600,
                ('d', _) => 0o755,
                (_, _) if node.mode & 0o111 != 0 => 0o755,
                _ => 0o644,
            };
            (path.clone(), n)
        })
        .collect()
}

#[test]
fn normalize_gives_0644_and_0755_and_preserve_keeps_the_context_modes() {
    let sb = Sandbox::new();
    let ctx = context(&sb, "ctx");
    let preserved = lading_tree(&sb, &ctx, &[]);
    let explicit = lading_tree(&sb, &ctx, &["--context-modes=preserve"]);
    assert_same("default", &preserved, "preserve", &explicit);
    // The preserved modes are the context's, spot-checked here; the whole tree is
    // compared with BuildKit's below.
    for (path, mode) in [
        ("single", 0o600),
        ("files/f4755", 0o4755),
        ("files/f2755", 0o2755),
        ("files/f1777", 0o1777),
        ("dir0700", 0o755),
        ("dir0700/sub", 0o711),
        ("dir0700/sub/deep", 0o4755),
        ("dir1777/n2700", 0o2700),
        ("all", 0o755),
        ("all/d1777", 0o1777),
        ("all/d0700", 0o700),
        ("all/plain/key", 0o600),
        ("chmod-dir", 0o755),
        ("chmod-dir/sub", 0o640),
        ("via-link", 0o640),
        ("add-file", 0o700),
        ("add-dir/x", 0o751),
        ("deep/a/b", 0o755),
        ("p/n2700", 0o2700),
        ("p/n2700/key", 0o600),
    ] {
        assert_eq!(
            preserved[path].mode, mode,
            "{path}: {:o}",
            preserved[path].mode
        );
    }
    assert!(preserved.values().all(|n| (n.uid, n.gid) == (0, 0)));
    let normal = lading_tree(&sb, &ctx, &["--context-modes=normalize"]);
    assert_same(
        "normalize",
        &normal,
        "today's rule",
        &normalized(&preserved),
    );
}

/// A chmod in the context must miss the layer cache when modes are preserved (the
/// layer's key covers the entries' modes) and must not matter when normalised to the
/// same mode.
#[test]
fn a_chmod_in_the_context_invalidates_copy_only_when_it_changes_the_layer() {
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    put(&ctx, "key", 0o640);
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY key /key\n").expect("write");
    let before = sb.build_ok(&ctx, &[]);
    let normal_before = sb.build_ok(&ctx, &["--context-modes=normalize"]);
    std::fs::set_permissions(ctx.join("key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    let after = sb.build_ok(&ctx, &[]);
    assert_ne!(before, after, "a chmod must change the preserved layer");
    let fresh = Sandbox::new().build_ok(&ctx, &[]);
    assert_eq!(after, fresh, "the cached build must equal an uncached one");
    let normal_after = sb.build_ok(&ctx, &["--context-modes=normalize"]);
    assert_eq!(
        normal_before, normal_after,
        "0640 and 0600 both normalise to 0644"
    );
    assert_ne!(
        before, normal_before,
        "0640 preserved is not 0644 normalised"
    );
}

/// Named `--build-context` directories follow the same rule as the main context.
#[test]
fn named_build_contexts_follow_context_modes() {
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY --from=other key /key\nCOPY --from=other d /d/\n",
    )
    .expect("write");
    let other = sb.path("other");
    put(&other, "key", 0o600);
    put(&other, "d/x", 0o4750);
    put(&other, "d/", 0o700);
    let named = format!("--build-context=other={}", other.display());
    let preserved = lading_tree(&sb, &ctx, &[&named]);
    assert_eq!(preserved["key"].mode, 0o600);
    assert_eq!(preserved["d/x"].mode, 0o4750);
    assert_eq!(preserved["d"].mode, 0o755);
    let normal = lading_tree(&sb, &ctx, &[&named, "--context-modes=normalize"]);
    assert_eq!(normal["key"].mode, 0o644);
    assert_eq!(normal["d/x"].mode, 0o755);
}

// ---- BuildKit (dockerd 20.10) -------------------------------------------------------

/// BuildKit's root filesystem of `ctx`, from its tar exporter (`-o type=tar`: the
/// image's files only, none of the sandbox files `docker export` adds).
fn buildkit_tree(dockerd: &Dockerd, sb: &Sandbox, ctx: &Path) -> Tree {
    let out = sb.path(&format!("buildkit-{}.tar", sb_unique()));
    let dest = format!("type=tar,dest={}", out.display());
    assert_success(&dockerd.build(ctx, &["-o", &dest]));
    tree_of_tar(&std::fs::read(out).expect("rootfs tar"))
}

#[test]
fn preserve_equals_buildkit() {
    let Some(dockerd) = Dockerd::start() else {
        return;
    };
    let sb = Sandbox::new();
    let ctx = context(&sb, "ctx");
    let buildkit = buildkit_tree(&dockerd, &sb, &ctx);
    let lading = lading_tree(&sb, &ctx, &[]);
    assert_same("lading", &lading, "buildkit", &buildkit);
    // And normalize is today's rule applied to exactly what BuildKit copies.
    let normal = lading_tree(&sb, &ctx, &["--context-modes=normalize"]);
    assert_same("normalize", &normal, "today's rule", &normalized(&buildkit));
}

/// `--chmod` with an octal value: current BuildKit (fsutil's copier) and buildah set all
/// of 07777 from it, so `--chmod=0600` clears a source's setuid and `--chmod=4755` sets
/// one; lading does the same. dockerd 20.10 vendors an older fsutil that keeps the
/// source's setuid/setgid/sticky and ignores them in the value: there lading follows
/// current BuildKit, and this test pins the difference so it stays deliberate.
#[test]
fn chmod_octal_replaces_special_bits() {
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    put(&ctx, "suid", 0o4755);
    put(&ctx, "plain", 0o644);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY --chmod=0600 suid /cleared\nCOPY --chmod=4755 plain /set\n",
    )
    .expect("write");
    let lading = lading_tree(&sb, &ctx, &[]);
    assert_eq!(lading["cleared"].mode, 0o600);
    assert_eq!(lading["set"].mode, 0o4755);
    if let Some(bh) = Buildah::new() {
        let tree = bh.rootfs(&ctx);
        assert_eq!(tree["cleared"].mode, 0o600);
        assert_eq!(tree["set"].mode, 0o4755);
    }
    if let Some(dockerd) = Dockerd::start() {
        let tree = buildkit_tree(&dockerd, &sb, &ctx);
        assert_eq!((tree["cleared"].mode, tree["set"].mode), (0o4600, 0o755));
    }
}

// ---- buildah ------------------------------------------------------------------------

/// buildah with its own storage in a temp dir.
struct Buildah {
    dir: tempfile::TempDir,
}

impl Buildah {
    fn new() -> Option<Buildah> {
        if !(require_tool("buildah") && common::require(common::is_root(), "root for buildah")) {
            return None;
        }
        Some(Buildah {
            dir: tempfile::tempdir().expect("tempdir"),
        })
    }

    fn rootfs(&self, ctx: &Path) -> Tree {
        let d = self.dir.path();
        let out = d.join(format!("out-{}.tar", sb_unique()));
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs", "build", "--runtime", "runc"])
            .args(["--timestamp", "0", "--output"])
            .arg(format!("type=tar,dest={}", out.display()))
            .arg(ctx);
        assert_success(&run(&mut cmd));
        tree_of_tar(&std::fs::read(out).expect("rootfs tar"))
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        // vfs layers are plain directories, but unmount anything buildah left mounted.
        let _ = Command::new("buildah")
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--storage-driver", "vfs", "rm", "--all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn preserve_equals_buildah_but_for_setuid_and_setgid() {
    let Some(bh) = Buildah::new() else {
        return;
    };
    let sb = Sandbox::new();
    let ctx = context(&sb, "ctx");
    let mut buildah = bh.rootfs(&ctx);
    let mut lading = lading_tree(&sb, &ctx, &[]);
    // buildah 1.28 clears setuid and setgid on everything it copies from a context
    // (files and directories; sticky is kept); BuildKit keeps them and so does lading
    // (`preserve_equals_buildkit`). Compare the rest.
    for tree in [&mut buildah, &mut lading] {
        for node in tree.values_mut() {
            if node.kind != 'l' {
                node.mode &= !0o6000;
            }
        }
    }
    assert_same("lading", &lading, "buildah", &buildah);
}

/// `RUN --mount=type=bind` of the context shows the context's real modes, in both
/// modes: BuildKit (dockerd 20.10) shows `600 /c/key`, `4750 /c/suid`, `700 /c/d` for
/// this context. The mount is not a layer; only COPY/ADD normalise.
#[test]
fn bind_mount_of_the_context_shows_its_real_modes() {
    if !common::require(
        common::bases::bases_available().is_ok(),
        "busybox base (root, umoci, busybox)",
    ) {
        return;
    }
    let base = common::bases::oci_ref(&common::bases::busybox_base(), common::bases::BUSYBOX_TAG);
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    put(&ctx, "key", 0o600);
    put(&ctx, "suid", 0o4750);
    put(&ctx, "d/", 0o700);
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN --mount=type=bind,target=/c stat -c '%a %n' /c/key /c/suid /c/d > /out\n"
        ),
    )
    .expect("write");
    for modes in ["preserve", "normalize"] {
        let tree_sb = Sandbox::new();
        let out = tree_sb.path("rootfs");
        let mut cmd = tree_sb.lading(&["build", "--progress", "plain", "--network", "none"]);
        cmd.arg(format!("--context-modes={modes}"))
            .arg("-o")
            .arg(format!("type=local,dest={}", out.display()))
            .arg(&ctx);
        assert_success(&run(&mut cmd));
        assert_eq!(
            std::fs::read_to_string(out.join("out")).expect("out"),
            "600 /c/key\n4750 /c/suid\n700 /c/d\n",
            "{modes}"
        );
    }
}
