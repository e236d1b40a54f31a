//! Differential tests of what each step sees of the layers below it (issue #9, point 1):
//! randomised Dockerfiles of `RUN`/`COPY`/`ADD`/`WORKDIR`/`USER` over nested directories
//! with varied owners and modes, built by lading, by BuildKit (dockerd) and by buildah;
//! the final root filesystems must be the same (path, type, mode 07777, owner, symlink
//! target, content; not mtimes). lading's is read twice: `-o type=local` and the OCI
//! layout unpacked by `umoci`. Where buildah departs from BuildKit, BuildKit wins.
//!
//! Seeds: `LADING_DIFF_SEED` (first seed, default 1) and `LADING_DIFF_COUNT` (how many,
//! default [`DEFAULT_CASES`]) run more cases locally; CI runs the fixed default ones.
//!
//! Also: foreign base layers that omit parent directories (written here with the `tar`
//! crate), and the example as a named regression test.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bases::{BUSYBOX_TAG, busybox_base, oci_ref};
use common::dockerd::Dockerd;
use common::rng::Rng;
use common::tree::{Tree, assert_same_tree, differences, tree_of_dir, tree_of_tar};
use common::{Sandbox, assert_success, is_root, on_ci, require, require_tool, run};

/// Cases CI runs.
const DEFAULT_CASES: u64 = 20;
/// The busybox base's name inside dockerd.
const DOCKER_BASE: &str = "lading-busybox:latest";

/// Directories the steps work in (nested, some existing in no step before).
const DIRS: &[&str] = &[
    "/data",
    "/data/a",
    "/data/a/b",
    "/data/a/b/c",
    "/data/d",
    "/data/d/e",
    "/srv/w",
    "/srv/w/x",
];
/// Owners given by `chown` and `--chown` (root, two users, one without a passwd entry).
const OWNERS: &[&str] = &["0:0", "1000:1000", "1001:100", "2000:3000"];
/// Directory modes (with setgid and sticky ones).
const DIR_MODES: &[&str] = &["755", "750", "700", "775", "770", "2775", "1777", "711"];
/// Users the steps run as.
const USERS: &[&str] = &["root", "1000", "1001", "2000:3000"];

/// A Dockerfile of `steps` random steps over the busybox base (`ARG BASE`).
fn dockerfile(seed: u64, steps: usize) -> String {
    let mut r = Rng(seed);
    let mut df = String::from("ARG BASE\nFROM $BASE\n");
    let mut user = "root";
    let mut n = 0;
    for _ in 0..steps {
        n += 1;
        let dir = *r.pick(DIRS);
        match r.below(9) {
            0 | 1 => {
                if user != "root" {
                    user = "root";
                    df.push_str("USER root\n");
                }
                let _ = writeln!(
                    df,
                    "RUN mkdir -p {dir} && chown {} {dir} && chmod {} {dir}",
                    r.pick(OWNERS),
                    r.pick(DIR_MODES)
                );
            }
            2 | 3 => {
                let src = *r.pick(&["f1", "tree/", "f2", "tree/sub"]);
                let dest = if r.chance(50) {
                    format!("{dir}/n{n}/")
                } else if r.chance(50) {
                    format!("{dir}/n{n}/m{n}/")
                } else {
                    format!("{dir}/")
                };
                let mut flags = String::new();
                if r.chance(40) {
                    let _ = write!(flags, "--chown={} ", r.pick(OWNERS));
                }
                if r.chance(30) {
                    let _ = write!(flags, "--chmod={} ", r.pick(&["600", "755", "640"]));
                }
                let _ = writeln!(df, "COPY {flags}{src} {dest}");
            }
            4 => {
                if r.chance(50) {
                    let _ = writeln!(df, "ADD arch.tar {dir}/t{n}/");
                } else {
                    let _ = writeln!(df, "ADD plain.txt {dir}/p{n}");
                }
            }
            5 => {
                let path = if r.chance(50) {
                    dir.to_string()
                } else {
                    format!("{dir}/w{n}/v")
                };
                let _ = writeln!(df, "WORKDIR {path}");
            }
            6 => {
                user = *r.pick(USERS);
                let _ = writeln!(df, "USER {user}");
            }
            _ => {
                // Writes as the current user; a write that is refused is part of the
                // result (the file is missing), not a failed build.
                let _ = writeln!(
                    df,
                    "RUN touch {dir}/u{n} 2>/dev/null; mkdir {dir}/k{n} 2>/dev/null; \
                     ln -s ../u{n} {dir}/l{n} 2>/dev/null; echo {n} > here{n} 2>/dev/null; true"
                );
            }
        }
    }
    // Every directory's final state is part of the tree; a last write as a user.
    let _ = writeln!(df, "USER 1000\nRUN touch /data/last 2>/dev/null; true");
    df
}

/// The build context every case uses: files 0644 and directories 0755 (independent of
/// how `COPY` treats context modes), a tar archive with owners and modes of its own.
fn write_context(dir: &Path, dockerfile: &str) {
    fs::create_dir_all(dir.join("tree/sub")).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    fs::write(dir.join("f1"), "one\n").unwrap();
    fs::write(dir.join("f2"), "two\n").unwrap();
    fs::write(dir.join("plain.txt"), "plain\n").unwrap();
    fs::write(dir.join("tree/a"), "a\n").unwrap();
    fs::write(dir.join("tree/sub/b"), "b\n").unwrap();
    fs::write(dir.join("arch.tar"), archive()).unwrap();
    for p in [
        "f1",
        "f2",
        "plain.txt",
        "tree/a",
        "tree/sub/b",
        "arch.tar",
        "Dockerfile",
    ] {
        fs::set_permissions(dir.join(p), fs::Permissions::from_mode(0o644)).unwrap();
    }
    for p in ["", "tree", "tree/sub"] {
        fs::set_permissions(dir.join(p), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A tar archive for `ADD`: a directory and files with owners and modes of their own,
/// one file whose parent the archive omits.
fn archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, owner: u64, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("x/", tar::EntryType::Directory, 0o750, 1000, b"");
    add("x/f", tar::EntryType::Regular, 0o640, 1000, b"f\n");
    add("y/z/g", tar::EntryType::Regular, 0o600, 1001, b"g\n");
    b.into_inner().unwrap()
}

/// What a differential test needs; `None` (after saying why) where a peer is missing
/// and this is not CI.
struct Peers {
    dockerd: Dockerd,
    base: PathBuf,
}

fn peers() -> Option<Peers> {
    if !require(is_root(), "root (RUN steps, owners, dockerd)")
        || !require_tool("umoci")
        || !require_tool("buildah")
        || !require_tool("skopeo")
        || common::bases::bases_available().is_err() && !require(false, "busybox base")
    {
        return None;
    }
    let dockerd = Dockerd::start()?;
    let base = busybox_base();
    dockerd.load_oci(&base, BUSYBOX_TAG, DOCKER_BASE);
    Some(Peers { dockerd, base })
}

/// The docker sandbox's leftovers and mount points, in every tree.
fn comparable(tree: Tree) -> Tree {
    common::tree::without_docker_sandbox(tree, false)
}

/// lading's root filesystem twice: `-o type=local`, and the OCI layout unpacked by umoci.
fn lading_trees(sb: &Sandbox, ctx: &Path, base: &Path, tag: &str) -> (Tree, Tree) {
    let base_arg = format!("BASE={}", oci_ref(base, BUSYBOX_TAG));
    let local = sb.path(&format!("local-{tag}"));
    let layout = sb.path(&format!("layout-{tag}"));
    for out in [
        format!("type=local,dest={}", local.display()),
        format!("type=oci,dest={},tar=false", layout.display()),
    ] {
        sb.build_ok(
            ctx,
            &[
                "-t",
                "lading-diff:latest",
                "--build-arg",
                &base_arg,
                "-o",
                &out,
            ],
        );
    }
    let bundle = sb.path(&format!("bundle-{tag}"));
    assert_success(&run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)));
    (
        comparable(tree_of_dir(&local)),
        comparable(tree_of_dir(&bundle.join("rootfs"))),
    )
}

/// BuildKit's root filesystem (docker export of the built image), or its error when it
/// refuses the Dockerfile.
fn buildkit_tree(p: &Peers, ctx: &Path, tag: &str) -> Result<Tree, String> {
    let image = format!("lading-diff:{tag}");
    let base_arg = format!("BASE={DOCKER_BASE}");
    let out = p
        .dockerd
        .build(ctx, &["-t", &image, "--build-arg", &base_arg, "--no-cache"]);
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let error = log
            .lines()
            .filter(|l| l.contains("ERROR"))
            .collect::<Vec<_>>();
        return Err(error.join("\n"));
    }
    let tree = comparable(tree_of_tar(&p.dockerd.rootfs_tar(&image)));
    p.dockerd.docker_ok(&["rmi", "-f", &image]);
    Ok(tree)
}

/// buildah's root filesystem (vfs storage in the sandbox, runc, timestamp 0).
fn buildah_tree(sb: &Sandbox, ctx: &Path, base: &Path, tag: &str) -> Tree {
    let root = sb.path("buildah/root");
    let runroot = sb.path("buildah/run");
    let buildah = || {
        let mut c = Command::new("buildah");
        c.arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot);
        c
    };
    let image = format!("localhost/lading-diff:{tag}");
    // buildah names an `oci:` base after its path, which must be lowercase.
    let lower = std::env::temp_dir().join(format!("lading-diff-{}-{tag}", std::process::id()));
    let _ = fs::remove_file(&lower);
    std::os::unix::fs::symlink(base, &lower).unwrap();
    let base = lower.as_path();
    assert_success(&run(buildah()
        .args([
            "bud",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--timestamp",
            "0",
        ])
        .arg("--build-arg")
        .arg(format!("BASE={}", oci_ref(base, BUSYBOX_TAG)))
        .args(["-t", &image])
        .arg(ctx)));
    let out = run(buildah().args(["from", "--name", tag, &image]));
    assert_success(&out);
    let out = run(buildah().args(["mount", tag]));
    assert_success(&out);
    let mnt = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let tree = comparable(tree_of_dir(Path::new(&mnt)));
    let _ = run(buildah().args(["rm", tag]));
    let _ = fs::remove_file(&lower);
    tree
}

/// Builds `dockerfile` with the three builders and compares: lading's two trees with
/// BuildKit's exactly, buildah's with BuildKit's apart from `buildah_departs` (paths
/// where buildah is known to differ; they are printed, not failed).
fn differential(p: &Peers, tag: &str, dockerfile: &str) {
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    write_context(&ctx, dockerfile);
    let what = format!("case {tag}:\n{dockerfile}");
    let want = match buildkit_tree(p, &ctx, tag) {
        Ok(tree) => tree,
        Err(error) => {
            // A Dockerfile BuildKit refuses (a generated copy of a file over a
            // directory, say) must fail with lading too.
            let base_arg = format!("BASE={}", oci_ref(&p.base, BUSYBOX_TAG));
            let mut cmd = sb.lading(&["build", "--progress", "plain", "--build-arg", &base_arg]);
            let out = run(cmd.arg(&ctx));
            assert!(
                !out.status.success(),
                "{what}\nBuildKit refused it ({error}) but lading built it"
            );
            eprintln!("case {tag}: both refuse it; BuildKit: {error}");
            return;
        }
    };
    let (local, umoci) = lading_trees(&sb, &ctx, &p.base, tag);
    assert_same_tree(&what, "buildkit", &want, "lading -o type=local", &local);
    assert_same_tree(&what, "buildkit", &want, "lading (umoci unpack)", &umoci);
    let bh = buildah_tree(&sb, &ctx, &p.base, tag);
    let departs = differences("buildkit", &want, "buildah", &bh);
    if !departs.is_empty() {
        eprintln!(
            "case {tag}: buildah departs from BuildKit (BuildKit wins):\n{}",
            departs.join("\n")
        );
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_layer_stacks_match_buildkit() {
    let Some(p) = peers() else { return };
    let first = env_u64("LADING_DIFF_SEED", 1);
    let count = env_u64("LADING_DIFF_COUNT", DEFAULT_CASES);
    for seed in first..first + count {
        let steps = 6 + (seed % 6) as usize;
        differential(&p, &format!("seed{seed}"), &dockerfile(seed, steps));
    }
}

/// The example: a directory made and chowned in one step, a file copied into
/// a new subdirectory of it in the next; the next RUN, as that user, can write there.
#[test]
fn copy_into_new_subdir_keeps_the_parents_owner_and_mode_for_run() {
    let Some(p) = peers() else { return };
    let df = "ARG BASE\nFROM $BASE\n\
              RUN mkdir -p /data && chown 1000:1000 /data && chmod 0750 /data\n\
              COPY f1 /data/x/y/f\n\
              WORKDIR /data/w\n\
              ADD plain.txt /data/q/p\n\
              USER 1000\n\
              RUN touch /data/z && stat -c '%u:%g %a' /data > /data/stat\n";
    differential(&p, "issue9", df);
}

/// Found by `random_layer_stacks_match_buildkit` (seed 8): BuildKit makes the
/// directories a step creates (a copy's destination and missing parents, `WORKDIR`) with
/// `mkdir`, so under a setgid directory they inherit the setgid bit and, without
/// `--chown`, its group; copied directories keep their source's mode.
#[test]
fn new_directories_under_a_setgid_directory_inherit_it_as_with_mkdir() {
    let Some(p) = peers() else { return };
    let df = "ARG BASE\nFROM $BASE\n\
              RUN mkdir -p /d && chown 0:50 /d && chmod 2775 /d\n\
              COPY f1 /d/e/\n\
              COPY --chown=1000:1000 f1 /d/c/x/\n\
              COPY tree/ /d/t/\n\
              ADD arch.tar /d/a/\n\
              WORKDIR /d/w/v\n\
              USER 1000\n\
              WORKDIR /d/u/v\n";
    differential(&p, "setgid", df);
}

/// Writes an OCI layout (tag `latest`) of the busybox base plus `layers` (uncompressed
/// tar streams), as a foreign builder might make it.
fn foreign_image(base: &Path, layers: &[Vec<u8>], dest: &Path) {
    // Copy the base layout, then append the layers to its manifest and config.
    assert_success(&run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{}:{BUSYBOX_TAG}", base.display()),
        &format!("oci:{}:latest", dest.display()),
    ])));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dest.join("index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob_path = |d: &str| {
        dest.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob_path(&mdigest)).unwrap()).unwrap();
    let cdigest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(blob_path(&cdigest)).unwrap()).unwrap();
    let put = |bytes: &[u8]| -> String {
        let d = common::sha256(bytes);
        fs::write(blob_path(&d), bytes).unwrap();
        d
    };
    for l in layers {
        let d = put(l);
        manifest["layers"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": d, "size": l.len()
            }));
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(d));
        // One history entry per layer (buildah checks that they match).
        if let Some(h) = config["history"].as_array_mut() {
            h.push(serde_json::json!({"created_by": "foreign layer omitting parents"}));
        }
    }
    let c = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = serde_json::json!(put(&c));
    manifest["config"]["size"] = serde_json::json!(c.len());
    let m = serde_json::to_vec(&manifest).unwrap();
    let md = put(&m);
    let mut index = index;
    index["manifests"][0]["digest"] = serde_json::json!(md);
    index["manifests"][0]["size"] = serde_json::json!(m.len());
    fs::write(dest.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A tar stream of `(path, type, mode, uid, content)`, in the given order, PAX
/// records for ids above the ustar range.
fn layer(entries: &[(&str, char, u32, u64, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for &(path, kind, mode, id, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(mode);
        h.set_mtime(0);
        if id > 0o7777777 {
            let id_s = id.to_string();
            b.append_pax_extensions([("uid", id_s.as_bytes()), ("gid", id_s.as_bytes())])
                .unwrap();
        } else {
            h.set_uid(id);
            h.set_gid(id);
        }
        match kind {
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            'l' => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, data).unwrap();
            }
            _ => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Foreign layers that omit parent directories: lading shows the lower directory's
/// owner and mode under the implied one, as umoci and buildah (and containerd) do,
/// to `RUN` (as that user), `COPY --from` and `-o type=local`. dockerd 20.10's
/// overlay2 graph driver departs: it unpacks each layer alone and makes the implied
/// parents root-owned 0755, which hide the lower ones (checked here, so a change
/// in a peer shows).
#[test]
fn foreign_layers_omitting_parents_keep_the_lower_directories() {
    let Some(p) = peers() else { return };
    let sb = Sandbox::new();
    let layout = sb.path("foreign");
    foreign_image(
        &p.base,
        &[
            layer(&[
                ("data/", 'd', 0o750, 1000, ""),
                // A symlink whose header mode is not 0777, owned by an id above ustar.
                ("data/lnk", 'l', 0o755, 3_000_000, "x"),
                ("data/x/", 'd', 0o700, 1000, ""),
            ]),
            layer(&[("data/x/f", 'f', 0o644, 1000, "f\n")]),
        ],
        &layout,
    );
    let df = "ARG BASE\nFROM $BASE AS base\n\
              USER 1000\n\
              RUN touch /data/x/z && stat -c '%n %u:%g %a' /data /data/x /data/lnk > /data/x/stat\n\
              FROM $BASE\n\
              COPY --from=base /data /copied/data\n";
    let ctx = sb.path("ctx");
    write_context(&ctx, df);
    let (local, umoci) = lading_trees(&sb, &ctx, &layout, "foreign");
    // The expected tree: what umoci makes of the layers (applied onto the merged
    // tree), plus the build's own files.
    let want_dirs = [("copied/data/x", 0o700, 1000)];
    for tree in [&local, &umoci] {
        for (path, mode, id) in want_dirs {
            let n = tree.get(path).unwrap_or_else(|| panic!("/{path} missing"));
            assert_eq!(
                (n.kind, n.mode, n.uid, n.gid),
                ('d', mode, id, id),
                "/{path}"
            );
        }
        let l = &tree["copied/data/lnk"];
        assert_eq!((l.kind, l.mode, l.uid), ('l', 0o777, 3_000_000));
        assert_eq!(l.target, "x");
        assert!(
            tree.contains_key("copied/data/x/z"),
            "RUN as 1000 could not write"
        );
    }
    assert_same_tree("foreign", "local", &local, "umoci", &umoci);
    let stat = fs::read_to_string(sb.path("local-foreign/copied/data/x/stat")).unwrap();
    assert_eq!(
        stat,
        "/data 1000:1000 750\n/data/x 1000:1000 700\n/data/lnk 3000000:3000000 777\n"
    );

    // buildah agrees on the whole tree.
    let bh = buildah_tree(&sb, &ctx, &layout, "foreign");
    assert_same_tree("foreign", "lading", &local, "buildah", &bh);

    // dockerd 20.10 (overlay2) shows the implied directories instead.
    p.dockerd
        .load_oci(&layout, "latest", "lading-foreign:latest");
    let out = p.dockerd.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "lading-foreign:latest",
        "stat",
        "-c",
        "%n %u:%g %a",
        "/data",
        "/data/x",
    ]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    if shown != "/data 0:0 755\n/data/x 0:0 755\n" {
        eprintln!("dockerd no longer hides lower directories under implied ones: {shown}");
        assert!(!on_ci() || shown == "/data 1000:1000 750\n/data/x 1000:1000 700\n");
    }
}

#[test]
fn generated_dockerfiles_are_deterministic_and_varied() {
    assert_eq!(dockerfile(7, 8), dockerfile(7, 8));
    let all: String = (1..=DEFAULT_CASES).map(|s| dockerfile(s, 10)).collect();
    for needle in [
        "COPY --chown",
        "--chmod",
        "ADD arch.tar",
        "ADD plain.txt",
        "WORKDIR",
        "USER 1000",
        "chown",
    ] {
        assert!(all.contains(needle), "no {needle:?} in the default cases");
    }
}
