//! Rootless builds end to end: the real `lading` binary run as unprivileged users.
//!
//! `lading-rl` has a subordinate id range in `/etc/subuid` and `/etc/subgid` (full
//! mapping through newuidmap/newgidmap); `lading-rl1` has none (a single-id mapping,
//! setgroups denied). Both are created here when missing, so these tests need root;
//! they build the same Dockerfiles as root to compare digests (moby#43540 is the bug
//! where rootless and rootful builds of one Dockerfile give other layers).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{assert_success, require, require_tool, run, stderr, stdout};

/// With subordinate ids.
const FULL: &str = "lading-rl";
/// Without.
const SINGLE: &str = "lading-rl1";
/// Same epoch for every build, so digests can be compared.
const EPOCH: &str = "1700000000";

/// A user to run `lading` as.
#[derive(Debug, Clone)]
struct User {
    name: &'static str,
    uid: u32,
    gid: u32,
}

fn id_of(name: &str, flag: &str) -> u32 {
    let out = run(Command::new("id").arg(flag).arg(name));
    assert_success(&out);
    stdout(&out).trim().parse().expect("numeric id")
}

/// Lines of a subuid/subgid file that name `name` or `uid`.
fn names(line: &str, name: &str, uid: u32) -> bool {
    let who = line.split(':').next().unwrap_or("");
    who == name || who == uid.to_string()
}

/// Creates both users (once per test process) and sets their subordinate ids.
fn users() -> &'static (User, User) {
    static USERS: OnceLock<(User, User)> = OnceLock::new();
    USERS.get_or_init(|| {
        for name in [FULL, SINGLE] {
            if !run(Command::new("id").arg(name)).status.success() {
                // No automatic subordinate ranges: this test decides who gets one.
                let out = run(Command::new("useradd").args([
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "-K",
                    "SUB_UID_COUNT=0",
                    "-K",
                    "SUB_GID_COUNT=0",
                    name,
                ]));
                assert_success(&out);
            }
        }
        let full = User {
            name: FULL,
            uid: id_of(FULL, "-u"),
            gid: id_of(FULL, "-g"),
        };
        let single = User {
            name: SINGLE,
            uid: id_of(SINGLE, "-u"),
            gid: id_of(SINGLE, "-g"),
        };
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = fs::read_to_string(file).unwrap_or_default();
            let mut lines: Vec<&str> = text
                .lines()
                .filter(|l| !names(l, single.name, single.uid))
                .collect();
            let line = format!("{FULL}:300000:65536");
            if !lines.iter().any(|l| names(l, full.name, full.uid)) {
                lines.push(&line);
            }
            let mut new = lines.join("\n");
            new.push('\n');
            if new != text {
                fs::write(file, new).expect("writing subordinate ids");
            }
        }
        (full, single)
    })
}

/// The first subordinate uid of `user` (as newuidmap will use it).
fn subuid_start(user: &User) -> u32 {
    let text = fs::read_to_string("/etc/subuid").expect("/etc/subuid");
    text.lines()
        .find(|l| names(l, user.name, user.uid))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("subuid line")
}

fn can_run() -> bool {
    require(
        common::is_root(),
        "root (creates users, runs lading as them)",
    ) && require_tool("setpriv")
        && require_tool("useradd")
        && require_tool("newuidmap")
        && require_tool("newgidmap")
        && require_tool("umoci")
        && require(Path::new("/bin/busybox").is_file(), "/bin/busybox")
}

/// A work dir every user can enter, with a busybox base image in it.
struct Env {
    dir: tempfile::TempDir,
    /// `oci:DIR:bb`.
    base: String,
}

impl Env {
    fn new() -> Env {
        Env::with_base(|_| {})
    }

    /// `extra` adds to the base rootfs before it is packed.
    fn with_base(extra: impl FnOnce(&Path)) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let base = busybox_base(dir.path(), extra);
        Env { dir, base }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A context dir `name` (readable by everyone) with this Dockerfile.
    fn context(&self, name: &str, dockerfile: &str) -> PathBuf {
        let ctx = self.path(name);
        fs::create_dir_all(&ctx).expect("mkdir");
        fs::write(
            ctx.join("Dockerfile"),
            dockerfile.replace("BASE", &self.base),
        )
        .expect("write");
        common::sh(&format!("chmod -R a+rX {}", common::q(&ctx)));
        ctx
    }

    /// A directory owned by `user` (for its store).
    fn home(&self, user: &User) -> PathBuf {
        let home = self.path(user.name);
        if !home.exists() {
            fs::create_dir(&home).expect("mkdir");
            std::os::unix::fs::chown(&home, Some(user.uid), Some(user.gid)).expect("chown");
        }
        home
    }

    /// `lading --store STORE ARGS` as `user` (root when `None`), in a clean environment.
    fn lading(&self, user: Option<&User>, store: &Path, args: &[&str]) -> Output {
        let bin = env!("CARGO_BIN_EXE_lading");
        let (mut cmd, home) = match user {
            Some(u) => {
                let home = self.home(u);
                let mut cmd = Command::new("setpriv");
                cmd.arg(format!("--reuid={}", u.uid))
                    .arg(format!("--regid={}", u.gid))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(bin);
                (cmd, home)
            }
            None => (Command::new(bin), self.dir.path().to_path_buf()),
        };
        cmd.arg("--store")
            .arg(store)
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", &home)
            .env("TMPDIR", &home)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .current_dir(&home);
        run(&mut cmd)
    }

    /// Builds `ctx` quietly and returns the manifest digest `-q` printed.
    fn build_q(&self, user: Option<&User>, store: &Path, ctx: &Path) -> String {
        let ctx = ctx.to_str().expect("utf-8 path");
        let out = self.lading(user, store, &["build", "-q", ctx]);
        assert_success(&out);
        let digest = stdout(&out).trim().to_string();
        assert!(digest.starts_with("sha256:"), "-q printed {digest:?}");
        digest
    }

    /// Builds `ctx` with plain progress; returns the output (stdout then stderr).
    fn build_plain(&self, user: Option<&User>, store: &Path, ctx: &Path) -> (Output, String) {
        let ctx = ctx.to_str().expect("utf-8 path");
        let out = self.lading(user, store, &["build", "--progress", "plain", ctx]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        (out, text)
    }
}

/// `/bin/busybox` with applet links, passwd and group, a file to delete and a
/// directory to replace, packed with umoci (repack, not insert: umoci 0.4.7's insert
/// writes truncated layers).
fn busybox_base(work: &Path, extra: impl FnOnce(&Path)) -> String {
    let root = work.join("base-rootfs");
    for d in ["bin", "etc", "tmp", "d", "home", "srv"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for applet in [
        "sh", "id", "cat", "ls", "echo", "rm", "mkdir", "chown", "chmod", "ln", "touch", "ip",
        "stat", "test", "wc", "tr", "cut", "mknod", "readlink",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .expect("write");
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
    )
    .expect("write");
    fs::write(root.join("etc/gone"), "deleted by a step\n").expect("write");
    fs::write(root.join("d/old"), "hidden by an opaque dir\n").expect("write");
    extra(&root);

    let layout = work.join("base-layout");
    let image = format!("{}:bb", layout.display());
    let bundle = work.join("base-bundle");
    let umoci = |args: &[&str]| {
        let out = run(Command::new("umoci").args(args));
        assert_success(&out);
    };
    umoci(&["init", "--layout", layout.to_str().expect("utf-8")]);
    umoci(&["new", "--image", &image]);
    umoci(&["unpack", "--image", &image, bundle.to_str().expect("utf-8")]);
    common::sh(&format!(
        "cp -a {}/. {}/rootfs/",
        common::q(&root),
        common::q(&bundle)
    ));
    umoci(&["repack", "--image", &image, bundle.to_str().expect("utf-8")]);
    common::sh(&format!("chmod -R a+rX {}", common::q(&layout)));
    format!("oci:{image}")
}

/// `path type uid:gid` of every entry of every layer of an image in `store`.
fn layer_listing(store: &Path, manifest: &str) -> Vec<String> {
    let m = common::json_blob(store, manifest);
    let mut out = Vec::new();
    for l in m["layers"].as_array().expect("layers") {
        let digest = l["digest"].as_str().expect("digest");
        let blob = store
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        let list = run(Command::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(&blob));
        assert_success(&list);
        out.extend(stdout(&list).lines().map(str::to_string));
    }
    out
}

/// Every path under `dir` except below `skip`, with its type and owner.
fn tree(dir: &Path, skip: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.path() != skip)
        .map(|e| {
            let e = e.expect("walk");
            let md = e.path().symlink_metadata().expect("stat");
            format!(
                "{} {:o} {}:{}",
                e.path().display(),
                md.mode(),
                md.uid(),
                md.gid()
            )
        })
        .collect()
}

/// Root-owned files, files of 1000:1000 (`chown`), a whiteout, an opaque dir, a
/// symlink, a hard link, moby#43540's `dir`/`dir.d` pair, and a step as user 1000.
const FULL_DOCKERFILE: &str = "FROM BASE
RUN echo root > /root-owned && mkdir -p /home/app/sub && echo app > /home/app/sub/f && chown -R 1000:1000 /home/app && echo srv > /srv/f && chown 1000:50 /srv/f
RUN rm /etc/gone
RUN rm -rf /d && mkdir /d && echo new > /d/g
RUN ln -s /d/g /sym && ln /d/g /hard
RUN mkdir /dir /dir.d && touch /dir/file /dir.d/file && touch -d @1650000000 /dir/file /dir.d/file /dir /dir.d
USER 1000
RUN echo by-app > /home/app/by-app && id > /home/app/id
";

#[test]
fn rootless_with_subordinate_ids_gives_the_rootful_digest() {
    if !can_run() {
        return;
    }
    let (full, _) = users();
    let env = Env::new();
    let ctx = env.context("ctx", FULL_DOCKERFILE);
    let root_store = env.path("root-store");
    let rootful = env.build_q(None, &root_store, &ctx);
    let rl_store = env.home(full).join("store");
    let rootless = env.build_q(Some(full), &rl_store, &ctx);
    assert_eq!(rootful, rootless, "rootless and rootful digests differ");
    common::assert_same_image((&root_store, &rootful), (&rl_store, &rootless));

    // The layers carry container ids, not host ones.
    let listing = layer_listing(&rl_store, &rootless);
    let owner = |path: &str| {
        listing
            .iter()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} not in {listing:#?}"))
            .split_whitespace()
            .nth(1)
            .expect("owner")
            .to_string()
    };
    assert_eq!(owner("home/app/sub/f"), "1000/1000");
    assert_eq!(owner("srv/f"), "1000/50");
    assert_eq!(owner("root-owned"), "0/0");
    assert_eq!(owner("home/app/by-app"), "1000/1000");
    assert!(listing.iter().any(|l| l.ends_with(" etc/.wh.gone")));
    assert!(listing.iter().any(|l| l.ends_with(" d/.wh..wh..opq")));
    assert!(listing.iter().any(|l| l.ends_with(" sym -> /d/g")));
    assert!(listing.iter().any(|l| l.contains(" hard link to ")));

    // A full mapping: container uid 1000 is the 1000th subordinate id on the host.
    let start = subuid_start(full);
    let snapshot_file = walkdir::WalkDir::new(rl_store.join(".lading/snapshots"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.path().ends_with("fs/home/app/sub/f"))
        .expect("snapshot of the chown layer");
    let md = snapshot_file.path().metadata().expect("stat");
    assert_eq!((md.uid(), md.gid()), (start + 999, start + 999));
    let top = rl_store.join(".lading/snapshots");
    let names: Vec<String> = fs::read_dir(&top)
        .expect("snapshots")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("userns-")),
        "rootless snapshots are keyed by their id mapping: {names:?}"
    );
}

/// What a single-id mapping can do: root-owned changes only.
const ROOT_ONLY_DOCKERFILE: &str = "FROM BASE
RUN echo root > /root-owned && mkdir -p /x/y && echo z > /x/y/z
RUN rm /etc/gone && rm -rf /d && mkdir /d && echo new > /d/g
RUN ln -s /d/g /sym && ln /d/g /hard
";

#[test]
fn rootless_without_subordinate_ids_maps_root_only() {
    if !can_run() {
        return;
    }
    let (_, single) = users();
    let env = Env::new();
    let ctx = env.context("ctx", ROOT_ONLY_DOCKERFILE);
    let root_store = env.path("root-store");
    let rootful = env.build_q(None, &root_store, &ctx);
    let store = env.home(single).join("store");
    let rootless = env.build_q(Some(single), &store, &ctx);
    assert_eq!(rootful, rootless, "rootless and rootful digests differ");
    common::assert_same_image((&root_store, &rootful), (&store, &rootless));

    let ctx = env.context("ctx-user", "FROM BASE\nUSER 1000\nRUN id\n");
    let (out, text) = env.build_plain(Some(single), &store, &ctx);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("USER 1000 needs subordinate ids in /etc/subuid for rootless builds"),
        "{text}"
    );
    assert!(text.contains("hint: "), "{text}");

    // A base file of another owner: unpacked as root, and said so.
    let env = Env::with_base(|root| {
        fs::create_dir_all(root.join("home/app")).expect("mkdir");
        fs::write(root.join("home/app/f"), "app's\n").expect("write");
        common::sh(&format!(
            "chown -R 1000:1000 {}",
            common::q(&root.join("home/app"))
        ));
    });
    let ctx = env.context("ctx", "FROM BASE\nRUN echo new > /new\n");
    let store = env.home(single).join("store");
    let (out, text) = env.build_plain(Some(single), &store, &ctx);
    assert_success(&out);
    assert!(
        text.contains("owners the user namespace does not map (no subordinate ids?) are kept as root, e.g. 1000:1000 of \"home/app\""),
        "{text}"
    );
}

#[test]
fn rootless_hostile_base_devices_are_skipped_and_nothing_leaves_the_store() {
    if !can_run() {
        return;
    }
    let (full, _) = users();
    let outside = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(outside.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let target = outside.path().to_path_buf();
    let env = Env::with_base(|root| {
        let etc = common::q(&root.join("etc"));
        common::sh(&format!(
            "mknod {etc}/cdev c 1 3 && mknod {etc}/bdev b 7 0 && mkfifo {etc}/fifo"
        ));
        // A link to a host path: inside the sandbox it resolves in the container.
        std::os::unix::fs::symlink(&target, root.join("etc/outside")).expect("symlink");
    });
    let ctx = env.context(
        "ctx",
        "FROM BASE\nRUN test -p /etc/fifo && test ! -e /etc/cdev && test ! -e /etc/bdev && mkdir -p $(readlink /etc/outside) && echo x > /etc/outside/pwned && echo ok > /etc/new\n",
    );
    let store = env.home(full).join("store");
    let before = tree(env.dir.path(), &store);
    let outside_before = tree(outside.path(), Path::new("/nonexistent"));
    let (out, text) = env.build_plain(Some(full), &store, &ctx);
    assert_success(&out);
    for dev in ["etc/cdev", "etc/bdev"] {
        let warning = format!("no permission to create device \"{dev}\", skipped");
        assert!(
            text.lines()
                .any(|l| l.starts_with("WARNING: layer sha256:") && l.ends_with(&warning)),
            "no warning for {dev}:\n{text}"
        );
    }
    assert_eq!(
        tree(env.dir.path(), &store),
        before,
        "files changed outside the store"
    );
    assert_eq!(
        tree(outside.path(), Path::new("/nonexistent")),
        outside_before,
        "the step wrote through a symlink to the host"
    );
    // No device node anywhere in the store but overlayfs whiteouts (0/0).
    for e in walkdir::WalkDir::new(&store)
        .into_iter()
        .filter_map(Result::ok)
    {
        let md = e.path().symlink_metadata().expect("stat");
        let ft = md.file_type();
        use std::os::unix::fs::FileTypeExt;
        assert!(
            !(ft.is_block_device() || (ft.is_char_device() && md.rdev() != 0)),
            "device {} in the store",
            e.path().display()
        );
    }
}

#[test]
fn rootless_network_none_has_only_loopback_and_default_is_the_hosts() {
    if !can_run() {
        return;
    }
    let (full, _) = users();
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        "FROM BASE\nRUN --network=none echo none-links: $(ls /sys/class/net) $(ip -o link | wc -l)\nRUN echo default-links: $(ls /sys/class/net)\n",
    );
    let store = env.home(full).join("store");
    let (out, text) = env.build_plain(Some(full), &store, &ctx);
    assert_success(&out);
    let line = |prefix: &str| -> Vec<String> {
        let l = text
            .lines()
            .find_map(|l| {
                l.split_once(' ')?
                    .1
                    .strip_prefix(prefix)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no {prefix} line in\n{text}"));
        l.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(line("none-links:"), ["lo", "1"], "{text}");
    let mut host: Vec<String> = fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    assert_eq!(line("default-links:"), host, "{text}");
}

/// `apt-get install` with its logs and lists removed: deterministic output.
const APT_DOCKERFILE: &str = "FROM BASE
RUN apt-get update && apt-get install -y --no-install-recommends hello \\
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log /var/cache/apt/*.bin /var/cache/ldconfig/aux-cache
RUN hello > /greeting
";

#[test]
fn apt_get_install_on_debian_gives_one_digest_rootful_twice_and_rootless() {
    if !can_run() {
        return;
    }
    if let Err(why) = common::bases::bases_available() {
        assert!(!common::on_ci(), "{why}");
        eprintln!("skipping: {why}");
        return;
    }
    let (full, _) = users();
    let env = Env::new();
    // The cached Debian layout is root's (0600 blobs): give the users a readable copy.
    let layout = env.path("debian");
    common::copy_tree(&common::bases::debian_base(), &layout);
    common::sh(&format!("chmod -R a+rX {}", common::q(&layout)));
    let base = common::bases::oci_ref(&layout, common::bases::DEBIAN_TAG);
    let ctx = env.path("apt-ctx");
    fs::create_dir_all(&ctx).expect("mkdir");
    fs::write(
        ctx.join("Dockerfile"),
        APT_DOCKERFILE.replace("BASE", &base),
    )
    .expect("write");
    common::sh(&format!("chmod -R a+rX {}", common::q(&ctx)));
    let first = env.build_q(None, &env.path("apt-root-1"), &ctx);
    let second = env.build_q(None, &env.path("apt-root-2"), &ctx);
    assert_eq!(first, second, "two rootful apt-get builds differ");
    let rootless = env.build_q(Some(full), &env.home(full).join("apt-store"), &ctx);
    assert_eq!(
        first, rootless,
        "rootless apt-get build differs from the rootful one"
    );
}
