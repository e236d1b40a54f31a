//! cosign and lading signing helpers shared by `tests/sign.rs` and
//! `tests/sign_bundle.rs`: the pinned cosign, `lading sign`/`verify` with the password
//! variables controlled, key pairs, and leak checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};

/// The cosign built for the peer tests.
pub fn cosign_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin/cosign")
}

pub fn need_peers() -> bool {
    require(
        cosign_path().with_file_name("crane").is_file(),
        "crane (GOBIN=$PWD/target/peers/go/bin go install github.com/google/go-containerregistry/cmd/crane)",
    ) && require(
        cosign_path().is_file(),
        "cosign (GOBIN=$PWD/target/peers/go/bin go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3)",
    ) && require_tool("docker-registry")
}

/// `cosign ARGS` with a private HOME and `COSIGN_PASSWORD` = `password`.
pub fn cosign(sb: &Sandbox, password: &str, args: &[&str]) -> Output {
    let home = sb.path("cosign-home");
    std::fs::create_dir_all(&home).expect("home");
    run(Command::new(cosign_path())
        .args(args)
        .current_dir(sb.dir.path())
        .env("HOME", &home)
        .env("COSIGN_PASSWORD", password)
        .env("SIGSTORE_NO_CACHE", "true"))
}

/// `cosign verify --key KEY IMAGE` the way a registry on 127.0.0.1 needs it.
pub fn cosign_verify(sb: &Sandbox, key: &Path, image: &str) -> Output {
    let key = key.to_str().expect("utf-8");
    cosign(
        sb,
        "",
        &[
            "verify",
            "--key",
            key,
            "--insecure-ignore-tlog=true",
            "--allow-http-registry=true",
            "--allow-insecure-registry",
            image,
        ],
    )
}

/// `lading ARGS` in the sandbox, with the password variables set only as given.
pub fn lading(sb: &Sandbox, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.current_dir(sb.dir.path())
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    if let Some(p) = password {
        cmd.env("LADING_PASSWORD", p);
    }
    run(&mut cmd)
}

/// `lading sign --key KEY --tlog-upload=false IMAGE`.
pub fn lading_sign(sb: &Sandbox, password: Option<&str>, key: &Path, image: &str) -> Output {
    let key = key.to_str().expect("utf-8");
    lading(
        sb,
        password,
        &["sign", "--key", key, "--tlog-upload=false", image],
    )
}

/// `lading verify --key KEY --insecure-ignore-tlog IMAGE`.
pub fn lading_verify(sb: &Sandbox, key: &Path, image: &str) -> Output {
    let key = key.to_str().expect("utf-8");
    lading(
        sb,
        None,
        &["verify", "--key", key, "--insecure-ignore-tlog", image],
    )
}

/// Builds a one-file `FROM scratch` image whose file holds `content`, pushes it to
/// `host/repo:tag` and returns its digest.
pub fn push_image(sb: &Sandbox, host: &str, repo: &str, tag: &str, content: &str) -> String {
    push_image_with(sb, host, repo, tag, content, &[])
}

/// [`push_image`] with extra registry flags for `lading push` (`--creds`, `--cert-dir`).
pub fn push_image_with(
    sb: &Sandbox,
    host: &str,
    repo: &str,
    tag: &str,
    content: &str,
    registry_flags: &[&str],
) -> String {
    let ctx = sb.path(&format!("ctx-{repo}-{tag}"));
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), content).expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let local = format!("{repo}:{tag}");
    let digest = sb.build_ok(&ctx, &["-t", &local]);
    let dest = format!("docker://{host}/{repo}:{tag}");
    let mut args = vec!["push"];
    args.extend_from_slice(registry_flags);
    args.extend([local.as_str(), dest.as_str()]);
    assert_success(&sb.run(&args));
    digest
}

/// The base64 lines of a PEM file (its body), for leak checks.
pub fn pem_body_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("pem")
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

/// Asserts that no secret appears in any output.
pub fn assert_no_leak(outputs: &[&Output], secrets: &[String]) {
    for o in outputs {
        let text = format!("{}{}", stdout(o), stderr(o));
        for s in secrets {
            assert!(!text.contains(s.as_str()), "secret leaked in:\n{text}");
        }
    }
}

pub fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// Generates a key pair in a fresh directory of the sandbox; returns (key, pub).
pub fn lading_keys(sb: &Sandbox, name: &str, password: Option<&str>) -> (PathBuf, PathBuf, Output) {
    let dir = sb.path(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let prefix = dir.join("cosign");
    let out = lading(
        sb,
        password,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().expect("utf-8"),
        ],
    );
    assert_success(&out);
    (dir.join("cosign.key"), dir.join("cosign.pub"), out)
}
