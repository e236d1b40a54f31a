//! Reproducibility of `lading build`: the same context and Dockerfile give the same
//! manifest digest and byte-identical blobs whatever the host did to the files.
//!
//! Golden digests are built with `--context-modes=normalize`: by default COPY keeps the
//! context's permission bits (as docker does), which depend on the umask of the checkout
//! these tests run from.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Sandbox, assert_same_image, copy_tree, hello_example, q, sh};

/// Keeps the golden digests independent of the checkout's umask.
const NORMALIZE: &str = "--context-modes=normalize";

/// Manifest digest of `examples/hello` with default options (epoch 0) and normalised
/// context modes.
const HELLO_DEFAULT: &str =
    "sha256:82edb9b52b6089f158d3256ed34800a41466dd4cc426f7d6f87e0e1f1be80d14";
/// Manifest digest of `examples/hello` with `--source-date-epoch 1700000000` and
/// normalised context modes.
const HELLO_EPOCH_1700000000: &str =
    "sha256:bd599742f7217819074d5d183598ef2553214a428505ec3d695b1a867f55e7a1";

/// Copies `examples/hello` to `sandbox/rel` (outside any git checkout, so no VCS
/// annotations are added) and returns the copy.
fn hello_copy(sb: &Sandbox, rel: &str) -> PathBuf {
    let dst = sb.path(rel);
    std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
    copy_tree(&hello_example(), &dst);
    dst
}

/// Builds `context` into a fresh store and returns (sandbox, digest).
fn build_fresh(context: &Path, extra: &[&str]) -> (Sandbox, String) {
    let sb = Sandbox::new();
    let digest = sb.build_ok(context, extra);
    (sb, digest)
}

fn assert_builds_match(a: &Path, b: &Path) {
    assert_builds_match_with(a, b, &[]);
}

fn assert_builds_match_with(a: &Path, b: &Path, extra: &[&str]) {
    let (sa, da) = build_fresh(a, extra);
    let (sb, db) = build_fresh(b, extra);
    assert_same_image((&sa.store(), &da), (&sb.store(), &db));
}

#[test]
fn golden_digest_hello_default_options() {
    let sb = Sandbox::new();
    let ctx = hello_copy(&sb, "ctx");
    assert_eq!(sb.build_ok(&ctx, &[NORMALIZE]), HELLO_DEFAULT);
}

#[test]
fn golden_digest_hello_source_date_epoch() {
    let sb = Sandbox::new();
    let ctx = hello_copy(&sb, "ctx");
    assert_eq!(
        sb.build_ok(&ctx, &["--source-date-epoch", "1700000000", NORMALIZE]),
        HELLO_EPOCH_1700000000
    );
    // The environment variable is the same option.
    let sb2 = Sandbox::new();
    let iid = sb2.path("iid");
    let mut cmd = sb2.lading(&["build", "--progress", "plain", NORMALIZE, "--iidfile"]);
    cmd.arg(&iid)
        .arg(&ctx)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    common::assert_success(&common::run(&mut cmd));
    assert_eq!(
        std::fs::read_to_string(iid).expect("iid"),
        HELLO_EPOCH_1700000000
    );
}

#[test]
fn source_date_epoch_reaches_config_and_tar_headers() {
    let sb = Sandbox::new();
    let ctx = hello_copy(&sb, "ctx");
    let digest = sb.build_ok(&ctx, &["--source-date-epoch", "1700000000"]);
    let manifest = common::json_blob(&sb.store(), &digest);
    let config = common::json_blob(&sb.store(), manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    for h in config["history"].as_array().unwrap() {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z");
    }
    for layer in manifest["layers"].as_array().unwrap() {
        let path = sb
            .store()
            .join("blobs/sha256")
            .join(&layer["digest"].as_str().unwrap()[7..]);
        let listing = Command::new("tar")
            .arg("--numeric-owner")
            .arg("--full-time")
            .arg("-tvzf")
            .arg(&path)
            .output()
            .expect("tar");
        common::assert_success(&listing);
        for line in common::stdout(&listing).lines() {
            assert!(
                line.contains("2023-11-14 22:13:20"),
                "mtime not clamped: {line}"
            );
            assert!(line.contains(" 0/0 "), "owner not root: {line}");
        }
    }
}

#[test]
fn two_stores_same_bytes() {
    let sb = Sandbox::new();
    let ctx = hello_copy(&sb, "ctx");
    assert_builds_match(&ctx, &ctx);
}

#[test]
fn two_checkout_paths_same_bytes() {
    let sb = Sandbox::new();
    let a = hello_copy(&sb, "a/ctx");
    let b = hello_copy(&sb, "some/much/deeper/checkout path/hello");
    assert_builds_match(&a, &b);
}

/// Copies of `examples/hello` made under umask 022 and 077 (plus an executable
/// `app/run.sh`), checked to differ in their modes.
fn umask_copies(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let make = |umask: &str, rel: &str| -> PathBuf {
        let dst = sb.path(rel);
        sh(&format!(
            "umask {umask} && cp -r {src} {dst} && printf '#!/bin/sh\\necho run\\n' > {dst}/app/run.sh && chmod u+x {dst}/app/run.sh",
            src = q(&hello_example()),
            dst = q(&dst),
        ));
        dst
    };
    let loose = make("022", "loose");
    let tight = make("077", "tight");
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&loose.join("app/index.html")), 0o644);
    assert_eq!(
        mode(&tight.join("app/index.html")),
        0o600,
        "umask 077 not applied"
    );
    assert_eq!(mode(&tight.join("app")), 0o700);
    (loose, tight)
}

#[test]
fn host_umask_does_not_reach_layers_with_normalized_context_modes() {
    let sb = Sandbox::new();
    let (loose, tight) = umask_copies(&sb);
    assert_builds_match_with(&loose, &tight, &[NORMALIZE]);
}

/// By default COPY keeps the context's permission bits, as docker does: the umask of
/// the checkout changes the digest, and a 0600 file stays 0600 in the layer.
#[test]
fn preserved_context_modes_follow_the_umask_of_the_checkout() {
    let sb = Sandbox::new();
    let (loose, tight) = umask_copies(&sb);
    let (sl, dl) = build_fresh(&loose, &[]);
    let (st, dt) = build_fresh(&tight, &[]);
    assert_ne!(dl, dt, "the context modes must reach the layers by default");
    for (sandbox, digest, want) in [(&sl, &dl, "-rw-r--r--"), (&st, &dt, "-rw-------")] {
        let listing = all_layer_listings(&sandbox.store(), digest);
        let line = listing
            .lines()
            .find(|l| l.ends_with("/index.html"))
            .unwrap_or_else(|| panic!("no index.html in\n{listing}"));
        assert!(line.starts_with(want), "want {want} for index.html: {line}");
    }
}

/// `tar -tv` of every layer of an image, concatenated.
fn all_layer_listings(store: &Path, digest: &str) -> String {
    let manifest = common::json_blob(store, digest);
    let mut out = String::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let path = store
            .join("blobs/sha256")
            .join(&layer["digest"].as_str().unwrap()[7..]);
        let listing = Command::new("tar")
            .arg("--numeric-owner")
            .arg("-tvzf")
            .arg(&path)
            .output()
            .expect("tar");
        common::assert_success(&listing);
        out.push_str(&common::stdout(&listing));
    }
    out
}

#[test]
fn touched_mtimes_do_not_reach_layers() {
    let sb = Sandbox::new();
    let a = hello_copy(&sb, "a");
    let b = hello_copy(&sb, "b");
    sh(&format!(
        "find {} -exec touch -h -d '2001-02-03 04:05:06' {{}} +",
        q(&b)
    ));
    sh(&format!(
        "touch -d '2037-01-01 00:00:00' {}/app/index.html",
        q(&b)
    ));
    assert_builds_match(&a, &b);
}

#[test]
fn foreign_owners_do_not_reach_layers() {
    if !common::require(common::is_root(), "root (to chown files to another uid)") {
        return;
    }
    let sb = Sandbox::new();
    let a = hello_copy(&sb, "a");
    let b = hello_copy(&sb, "b");
    sh(&format!("chown -R 12345:54321 {}", q(&b)));
    sh(&format!("chown 4242:4343 {}/app/hello.sh", q(&b)));
    assert_builds_match(&a, &b);
}

#[test]
fn concurrent_builds_into_one_store() {
    let sb = Sandbox::new();
    let ctx = hello_copy(&sb, "ctx");
    let spawn = |tag: &str, version: &str| {
        let mut cmd = sb.lading(&[
            "build",
            "--progress",
            "plain",
            "-t",
            tag,
            "--build-arg",
            &format!("VERSION={version}"),
        ]);
        cmd.arg(&ctx)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn lading")
    };
    let mut tags = Vec::new();
    for round in 0..3 {
        let ta = format!("one:r{round}");
        let tb = format!("two:r{round}");
        let a = spawn(&ta, "1");
        let b = spawn(&tb, "2");
        common::assert_success(&a.wait_with_output().expect("wait"));
        common::assert_success(&b.wait_with_output().expect("wait"));
        tags.push(ta);
        tags.push(tb);
    }
    let mut have = sb.tags();
    have.sort();
    let mut want = tags.clone();
    want.sort();
    assert_eq!(have, want, "tags in index.json");
    for t in &tags {
        let out = sb.run(&["inspect", t]);
        common::assert_success(&out);
    }
    if !common::require_tool("umoci") {
        return;
    }
    for (i, t) in tags.iter().enumerate() {
        let image = format!("{}:{t}", sb.store().display());
        let stat = common::run(Command::new("umoci").args(["stat", "--image", &image]));
        common::assert_success(&stat);
        let bundle = sb.path(&format!("bundle{i}"));
        let unpack = common::run(
            Command::new("umoci")
                .args(["unpack", "--rootless", "--image", &image])
                .arg(&bundle),
        );
        common::assert_success(&unpack);
        assert!(bundle.join("rootfs/usr/local/bin/hello").is_file());
    }
}

#[test]
fn layer_cache_hits_only_for_identical_content() {
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY data.txt /data.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.join("data.txt"), "aaaa").unwrap();
    let first = sb.build_ok(&ctx, &[]);
    let again = sb
        .lading(&["build", "--progress=plain", ctx.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("CACHED"),
        "second build should reuse the layer"
    );
    // Same size, same mtime: only the content differs, and the cache must notice.
    std::fs::write(ctx.join("data.txt"), "bbbb").unwrap();
    sh(&format!("touch -d @0 {}", q(&ctx.join("data.txt"))));
    let changed = sb.build_ok(&ctx, &[]);
    assert_ne!(first, changed);
    let uncached = sb.build_ok(&ctx, &["--no-cache"]);
    assert_eq!(
        changed, uncached,
        "--no-cache must give the same image as a cached build"
    );
}

#[test]
fn workdir_steps_are_cached_by_their_inputs_and_give_the_same_layers() {
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY data.txt /srv/data.txt\nUSER 1000:1000\nWORKDIR /srv/app/cache\nWORKDIR /srv\n",
    )
    .unwrap();
    std::fs::write(ctx.join("data.txt"), "aaaa").unwrap();
    let first = sb.build_ok(&ctx, &[]);
    let again = sb
        .lading(&["build", "--progress=plain", ctx.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_success(&again);
    let log = String::from_utf8_lossy(&again.stderr).to_string();
    // Both WORKDIRs (one makes a layer, one does not) are answered from the cache.
    let cached = log.lines().filter(|l| l.ends_with("CACHED")).count();
    assert!(cached >= 3, "{log}");
    let uncached = sb.build_ok(&ctx, &["--no-cache"]);
    assert_eq!(
        first, uncached,
        "a cached WORKDIR gives the layers an uncached one does"
    );
    // Another owner is another input: not a hit, another image.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY data.txt /srv/data.txt\nUSER 1001:1001\nWORKDIR /srv/app/cache\nWORKDIR /srv\n",
    )
    .unwrap();
    let other = sb.build_ok(&ctx, &[]);
    assert_ne!(first, other);
}
