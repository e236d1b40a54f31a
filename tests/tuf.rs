//! Sigstore's trust material through TUF, without the internet: a TUF repository written
//! by python-tuf (the TUF reference implementation; tests/support/tuf_repo.py) on
//! 127.0.0.1 publishes the local Sigstore's `trusted_root.json` and signing config.
//! lading signs and verifies keyless with nothing but `--tuf-mirror`/`--tuf-root` (and
//! cosign, initialized from the same repository, verifies what lading signed),
//! follows a root rotation, serves offline runs from its cache, and refuses a tampered
//! target, an expired timestamp, a snapshot rollback and a root not signed by a
//! threshold of the previous root's keys; an expired cache does not stand in offline.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::registry::Distribution;
use common::sigstore::{self, LocalSigstore};
use common::{Sandbox, assert_success, require, require_tool, run, stderr};

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/python")
}

/// python-tuf's version pinned by scripts/install-peers.
const PYTHON_TUF_VERSION: &str = "7.0.1";

fn need_python_tuf() -> bool {
    let check = format!(
        "import importlib.metadata as m, tuf.api.metadata; assert m.version('tuf') == '{PYTHON_TUF_VERSION}'"
    );
    let found = Command::new(python())
        .args(["-c", &check])
        .output()
        .is_ok_and(|o| o.status.success());
    require(
        found,
        &format!("python-tuf {PYTHON_TUF_VERSION} in target/peers-venv (scripts/install-peers)"),
    )
}

/// A python-tuf repository in a temporary directory, served while `server` runs.
struct TufRepo {
    dir: tempfile::TempDir,
    server: Option<Child>,
    url: String,
}

impl TufRepo {
    /// A repository publishing `trusted_root` and `signing_config`, served.
    fn start(trusted_root: &Path, signing_config: &Path) -> TufRepo {
        let mut repo = TufRepo {
            dir: tempfile::tempdir().expect("tempdir"),
            server: None,
            url: String::new(),
        };
        repo.op(&[
            "init",
            trusted_root.to_str().expect("utf-8"),
            signing_config.to_str().expect("utf-8"),
        ]);
        let mut child = Command::new(python())
            .arg(script())
            .arg(repo.dir.path())
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning the TUF server");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("the server's port");
        repo.url = format!("http://127.0.0.1:{}", port.trim());
        repo.server = Some(child);
        repo
    }

    /// Runs a tests/support/tuf_repo.py operation on the repository.
    fn op(&self, args: &[&str]) {
        assert_success(&run(Command::new(python())
            .arg(script())
            .arg(self.dir.path())
            .args(args)));
    }

    /// The initial root (version 1) clients are given.
    fn initial_root(&self) -> PathBuf {
        self.dir.path().join("repo/1.root.json")
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TufRepo {
    fn drop(&mut self) {
        self.stop();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/tuf_repo.py")
}

/// `lading ARGS` with its cache in `cache` (XDG_CACHE_HOME) and the TUF flags.
fn lading(sb: &Sandbox, cache: &str, repo: &TufRepo, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.args([
        "--tuf-mirror",
        &repo.url,
        "--tuf-root",
        repo.initial_root().to_str().expect("utf-8"),
    ])
    .env("XDG_CACHE_HOME", sb.path(cache))
    .env_remove("LADING_TUF_MIRROR")
    .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
    .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    run(&mut cmd)
}

/// `lading verify` of a keyless signature of `image`.
fn verify(sb: &Sandbox, cache: &str, repo: &TufRepo, image: &str) -> Output {
    lading(
        sb,
        cache,
        repo,
        &[
            "verify",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer-regexp",
            ".",
            image,
        ],
    )
}

/// The root version cached for the only mirror under `cache`.
fn cached_root_version(sb: &Sandbox, cache: &str) -> u64 {
    let dir = sb.path(cache).join("lading/tuf");
    let mirror = std::fs::read_dir(&dir)
        .expect("cache")
        .next()
        .expect("a mirror");
    let root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(mirror.expect("entry").path().join("root.json")).expect("root.json"),
    )
    .expect("json");
    root["signed"]["version"].as_u64().expect("version")
}

fn fails_with(out: &Output, expected: &str) {
    assert!(!out.status.success(), "succeeded:\n{}", stderr(out));
    assert!(
        stderr(out).contains(expected),
        "wanted {expected:?}:\n{}",
        stderr(out)
    );
}

#[test]
fn keyless_sign_and_verify_with_trust_material_from_tuf() {
    if !(need_python_tuf()
        && require(
            sigstore::available(),
            "node and @sigstore/mock (scripts/install-peers)",
        )
        && require_tool("docker-registry"))
    {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let mut repo = TufRepo::start(&local.trusted_root, &local.signing_config);
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), "tuf\n").expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let digest = sb.build_ok(&ctx, &["-t", "app:1"]);
    assert_success(&sb.run(&["push", "app:1", &format!("docker://{}/app:1", reg.host)]));
    let image = format!("{}/app@{digest}", reg.host);
    let token = sb.write("token", &local.token(IDENTITY));

    // Fulcio and Rekor come from the signing config published through TUF, and what
    // they return is checked against the trusted root published beside it.
    let signed = lading(
        &sb,
        "cache",
        &repo,
        &[
            "sign",
            "--identity-token",
            token.to_str().expect("utf-8"),
            &image,
        ],
    );
    assert_success(&signed);
    assert!(
        stderr(&signed).contains("tlog entry created"),
        "{}",
        stderr(&signed)
    );
    assert_success(&verify(&sb, "cache", &repo, &image));
    assert_eq!(cached_root_version(&sb, "cache"), 1);
    // Attestations take the same trust material: a keyless provenance attestation,
    // logged, and verified with nothing but the TUF flags.
    let attested = lading(
        &sb,
        "cache",
        &repo,
        &[
            "attest",
            "--identity-token",
            token.to_str().expect("utf-8"),
            "--type",
            "slsaprovenance1",
            &image,
        ],
    );
    assert_success(&attested);
    assert!(
        stderr(&attested).contains("tlog entry created"),
        "{}",
        stderr(&attested)
    );
    assert_success(&lading(
        &sb,
        "cache",
        &repo,
        &[
            "verify-attestation",
            "--type",
            "slsaprovenance1",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer-regexp",
            ".",
            &image,
        ],
    ));
    // cosign, initialized from the same TUF repository, verifies it too.
    let cosign = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin/cosign");
    if require(
        cosign.is_file(),
        "cosign in target/peers/go/bin (scripts/install-peers)",
    ) {
        let home = sb.path("cosign-home");
        let cosign = |args: &[&str]| run(Command::new(&cosign).args(args).env("HOME", &home));
        assert_success(&cosign(&[
            "initialize",
            "--mirror",
            &repo.url,
            "--root",
            repo.initial_root().to_str().expect("utf-8"),
        ]));
        assert_success(&cosign(&[
            "verify",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer-regexp",
            ".",
            "--allow-http-registry",
            "--allow-insecure-registry",
            &image,
        ]));
        assert_success(&cosign(&[
            "verify-attestation",
            "--type",
            "slsaprovenance1",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer-regexp",
            ".",
            "--allow-http-registry",
            "--allow-insecure-registry",
            &image,
        ]));
    }

    // Root v2, signed by the v1 and the v2 key: followed, and cached.
    repo.op(&["rotate-root"]);
    repo.op(&["publish"]);
    assert_success(&verify(&sb, "cache", &repo, &image));
    assert_eq!(cached_root_version(&sb, "cache"), 2);

    // The mirror is gone: the cache serves, and says so.
    repo.stop();
    let offline = verify(&sb, "cache", &repo, &image);
    assert_success(&offline);
    assert!(
        stderr(&offline).contains("is unreachable") && stderr(&offline).contains("cached in"),
        "{}",
        stderr(&offline)
    );

    // No mirror and no cache: a clear error.
    fails_with(
        &verify(&sb, "empty-cache", &repo, &image),
        "cannot stand in",
    );
}

/// `lading verify` of an image on a closed port: the trust material is loaded first, so
/// an error that is not about the registry is TUF's.
fn verify_trust_only(sb: &Sandbox, cache: &str, repo: &TufRepo) -> Output {
    verify(
        sb,
        cache,
        repo,
        "127.0.0.1:9/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    )
}

/// A repository publishing placeholder trust material (these tests stop at TUF).
fn placeholder_repo(sb: &Sandbox) -> TufRepo {
    let root = sb.write("trusted_root.json", "{\"mediaType\": \"placeholder\"}\n");
    let config = sb.write("signing_config.json", "{\"mediaType\": \"placeholder\"}\n");
    TufRepo::start(&root, &config)
}

#[test]
fn tampered_target_is_refused() {
    if !need_python_tuf() {
        return;
    }
    let sb = Sandbox::new();
    let repo = placeholder_repo(&sb);
    repo.op(&["tamper-target", "trusted_root.json"]);
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "target trusted_root.json does not match its sha256 hash",
    );
}

#[test]
fn expired_timestamp_is_refused() {
    if !need_python_tuf() {
        return;
    }
    let sb = Sandbox::new();
    let repo = placeholder_repo(&sb);
    repo.op(&["expire-timestamp"]);
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "timestamp metadata expired at",
    );
}

#[test]
fn snapshot_rollback_is_refused() {
    if !need_python_tuf() {
        return;
    }
    let sb = Sandbox::new();
    let repo = placeholder_repo(&sb);
    repo.op(&["publish"]);
    // Trusts snapshot v2 (then fails on the placeholder trusted root).
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "trusted root published through TUF",
    );
    repo.op(&["rollback-snapshot"]);
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "rollback refused: snapshot version 1 is older than the trusted version 2",
    );
}

#[test]
fn root_not_signed_by_the_previous_root_is_refused() {
    if !need_python_tuf() {
        return;
    }
    let sb = Sandbox::new();
    let repo = placeholder_repo(&sb);
    repo.op(&["rotate-root", "--only-new"]);
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "root v2 is signed by 0 of the 1 root v1 keys it needs",
    );
}

#[test]
fn another_mirror_needs_its_initial_root() {
    let sb = Sandbox::new();
    let mut cmd = sb.lading(&[
        "verify",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        "https://issuer.example",
        "--tuf-mirror",
        "http://127.0.0.1:9",
        "127.0.0.1:9/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ]);
    cmd.env("XDG_CACHE_HOME", sb.path("cache"));
    fails_with(&run(&mut cmd), "give its initial root.json (--tuf-root)");
    assert!(
        !sb.path("cache/lading").exists(),
        "nothing to cache, nothing written"
    );
}

#[test]
fn offline_with_expired_cached_metadata_is_an_error() {
    if !need_python_tuf() {
        return;
    }
    let sb = Sandbox::new();
    let mut repo = placeholder_repo(&sb);
    // Online: the chain is cached (then the placeholder trusted root is refused).
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "trusted root published through TUF",
    );
    // Time passes: the cached timestamp is one that has expired since.
    repo.op(&["expire-timestamp"]);
    let cache = std::fs::read_dir(sb.path("cache/lading/tuf"))
        .expect("cache")
        .next()
        .expect("a mirror")
        .expect("entry")
        .path();
    std::fs::copy(
        repo.dir.path().join("repo/timestamp.json"),
        cache.join("timestamp.json"),
    )
    .expect("copy");
    repo.stop();
    fails_with(
        &verify_trust_only(&sb, "cache", &repo),
        "cannot stand in: not trusted: TUF: timestamp metadata expired at",
    );
}
