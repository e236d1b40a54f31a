//! `lading publish` and `lading build --push`: build → gates → push by digest → sign →
//! attest on one digest, against docker-registry with TLS and htpasswd standing in for
//! GHCR, checked with the real tools (crane, skopeo, cosign, oras). Nothing reaches the
//! registry when a gate fails; a rerun after a failed signing finishes without a second
//! push; a blob changed in the store after the gates is not pushed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{Distribution, Secured, htpasswd, make_ca};
use common::signing::{cosign, cosign_path, lading_keys, need_peers};
use common::{Sandbox, assert_success, require_tool, run, sha256, stderr, stdout};
use serde_json::Value;

/// A clean image: non-root, with a health check, nothing vulnerable, no secret.
const CLEAN: &str =
    "FROM scratch\nCOPY hello.txt /srv/\nUSER 1000\nHEALTHCHECK CMD [\"/srv/probe\"]\n";

/// docker-registry with TLS (the test CA) and htpasswd (`alice:pw`).
struct Remote {
    reg: Distribution,
    ca: PathBuf,
}

impl Remote {
    fn start(sb: &Sandbox, name: &str) -> Remote {
        let dir = sb.path(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let (ca, cert, key) = make_ca(sb);
        // Each registry's CA in a directory of its own, for --cert-dir.
        let ca_copy = dir.join("ca.crt");
        std::fs::copy(&ca, &ca_copy).expect("ca");
        let users = htpasswd(sb);
        let reg = Distribution::start(Some(Secured {
            cert: &cert,
            key: &key,
            htpasswd: &users,
        }));
        Remote { reg, ca: ca_copy }
    }

    fn host(&self) -> &str {
        &self.reg.host
    }

    fn ca_dir(&self) -> &str {
        self.ca.parent().and_then(Path::to_str).expect("utf-8")
    }

    fn cosign_flags(&self) -> Vec<String> {
        vec![
            "--registry-cacert".into(),
            self.ca.to_str().expect("utf-8").into(),
            "--registry-username=alice".into(),
            "--registry-password=pw".into(),
        ]
    }

    /// The writes the registry has answered so far (uploads and manifests).
    fn writes(&self) -> Vec<String> {
        self.reg
            .requests()
            .into_iter()
            .filter(|r| ["PUT ", "POST ", "PATCH "].iter().any(|m| r.starts_with(m)))
            .collect()
    }
}

/// `cosign COMMAND --key PUBLIC --insecure-ignore-tlog=true EXTRA… IMAGE` against `remote`.
fn cosign_with_key(
    sb: &Sandbox,
    remote: &Remote,
    command: &str,
    public: &Path,
    extra: &[&str],
    image: &str,
) -> Output {
    let mut args: Vec<String> = vec![
        command.into(),
        "--key".into(),
        public.to_str().expect("utf-8").into(),
        "--insecure-ignore-tlog=true".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(remote.cosign_flags());
    args.push(image.into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    cosign(sb, "", &refs)
}

fn need_all() -> bool {
    need_peers()
        && require_tool("skopeo")
        && common::require(
            cosign_path().with_file_name("oras").is_file(),
            "oras (scripts/install-peers)",
        )
}

/// The repository's vulnerability records, imported into a database in the sandbox.
fn database(sb: &Sandbox) -> PathBuf {
    let db = sb.path("db");
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    assert_success(&sb.run(&[
        "db",
        "--db",
        db.to_str().expect("utf-8"),
        "import",
        osv.to_str().expect("utf-8"),
    ]));
    db
}

/// A build context with `Dockerfile` and `files`.
fn context(sb: &Sandbox, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    sb.write(&format!("{name}/Dockerfile"), dockerfile);
    sb.write(
        &format!("{name}/hello.txt"),
        &format!("hello from {name}\n"),
    );
    for (path, text) in files {
        sb.write(&format!("{name}/{path}"), text);
    }
    sb.path(name)
}

/// `lading COMMAND` against `remote`, outside GitHub Actions unless `env` says so.
fn lading_at(sb: &Sandbox, remote: &Remote, command: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sb.lading(command);
    cmd.args(["--cert-dir", remote.ca_dir(), "--creds", "alice:pw"])
        .current_dir(sb.dir.path())
        .env("LADING_TODAY", "2026-01-01");
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "RUNNER_TEMP",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "LADING_PASSWORD",
        "COSIGN_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// `lading publish --db DB --image … ARGS CONTEXT`.
fn publish(
    sb: &Sandbox,
    remote: &Remote,
    db: &Path,
    images: &[String],
    args: &[&str],
    ctx: &Path,
    env: &[(&str, &str)],
) -> Output {
    let mut command = vec![
        "publish",
        "--progress",
        "plain",
        "--db",
        db.to_str().expect("utf-8"),
    ];
    for image in images {
        command.extend(["--image", image]);
    }
    command.extend(args);
    command.push(ctx.to_str().expect("utf-8"));
    lading_at(sb, remote, &command, env)
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn one_digest_is_gated_pushed_signed_and_attested_with_its_evidence() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let remote = Remote::start(&sb, "ghcr");
    let db = database(&sb);
    let (key, public, _) = lading_keys(&sb, "keys", None);
    let ctx = context(&sb, "app", CLEAN, &[]);
    let host = remote.host().to_string();
    let images = [
        format!("{host}/org/app:1.0"),
        format!("{host}/org/mirror:1.0"),
    ];
    let outputs = sb.path("github-output");
    let summary = sb.path("step-summary");
    let evidence = sb.path("evidence");
    let out = publish(
        &sb,
        &remote,
        &db,
        &images,
        &[
            "--key",
            key.to_str().expect("utf-8"),
            "--tlog-upload=false",
            "--evidence",
            evidence.to_str().expect("utf-8"),
        ],
        &ctx,
        &[
            ("GITHUB_OUTPUT", outputs.to_str().expect("utf-8")),
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8")),
        ],
    );
    assert_success(&out);
    let digest = stdout(&out).trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");

    // The registry holds that digest under each tag: crane and skopeo agree.
    let docker_config = sb.path("docker-config");
    std::fs::create_dir_all(&docker_config).expect("dir");
    std::fs::write(
        docker_config.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"YWxpY2U6cHc="}}}}}}"#),
    )
    .expect("config");
    for image in &images {
        let crane = run(Command::new(cosign_path().with_file_name("crane"))
            .args(["digest", image])
            .env("DOCKER_CONFIG", &docker_config)
            .env("SSL_CERT_FILE", &remote.ca));
        assert_success(&crane);
        assert_eq!(stdout(&crane).trim(), digest, "crane digest {image}");
        let skopeo = run(Command::new("skopeo").args([
            "inspect",
            "--cert-dir",
            remote.ca_dir(),
            "--creds",
            "alice:pw",
            &format!("docker://{image}"),
        ]));
        assert_success(&skopeo);
        let inspected: Value = serde_json::from_slice(&skopeo.stdout).expect("json");
        assert_eq!(
            inspected["Digest"],
            digest.as_str(),
            "skopeo inspect {image}"
        );
    }

    // cosign verifies the signature and every attestation on the digest, in each
    // repository.
    for repo in ["org/app", "org/mirror"] {
        let at = format!("{host}/{repo}@{digest}");
        assert_success(&cosign_with_key(&sb, &remote, "verify", &public, &[], &at));
        for kind in [
            "slsaprovenance1",
            "cyclonedx",
            "spdxjson",
            "vuln",
            "https://lading.dev/attestation/build-log/v1",
        ] {
            let verified = cosign_with_key(
                &sb,
                &remote,
                "verify-attestation",
                &public,
                &["--type", kind],
                &at,
            );
            assert_success(&verified);
        }
        // ORAS lists the six bundles (the signature and five attestations) as referrers.
        let oras = run(Command::new(cosign_path().with_file_name("oras")).args([
            "discover",
            "--format",
            "json",
            "--distribution-spec",
            "v1.1-referrers-tag",
            "--ca-file",
            remote.ca.to_str().expect("utf-8"),
            "-u",
            "alice",
            "-p",
            "pw",
            &at,
        ]));
        assert_success(&oras);
        let found: Value = serde_json::from_slice(&oras.stdout).expect("oras json");
        assert_eq!(
            found["referrers"].as_array().map(Vec::len),
            Some(6),
            "{found}"
        );
    }

    // The evidence: every file listed with its sha256, tied to the digest and the
    // references.
    let dir = evidence.join(format!("sha256-{}", digest.trim_start_matches("sha256:")));
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["subject"]["digest"], digest.as_str());
    assert_eq!(index["verdict"], "pass");
    let references: Vec<&str> = index["references"]
        .as_array()
        .expect("references")
        .iter()
        .map(|r| r["reference"].as_str().expect("reference"))
        .collect();
    assert_eq!(
        references,
        [
            format!("{host}/org/app@{digest}"),
            format!("{host}/org/mirror@{digest}")
        ]
    );
    let files = index["files"].as_array().expect("files");
    for f in files {
        let bytes = std::fs::read(dir.join(f["path"].as_str().expect("path"))).expect("file");
        assert_eq!(
            sha256(&bytes).trim_start_matches("sha256:"),
            f["sha256"].as_str().expect("sha256"),
            "{f}"
        );
    }
    for name in [
        "gate-record.json",
        "sbom.cyclonedx.json",
        "sbom.spdx.json",
        "vulnerabilities.json",
        "vulnerabilities.sarif",
        "cis.json",
        "secrets.json",
        "provenance.slsa.json",
        "build-log.json",
    ] {
        assert!(
            files.iter().any(|f| f["path"] == name),
            "{name} missing from {index}"
        );
    }
    assert_eq!(index["signatures"].as_array().map(Vec::len), Some(12));
    let gate: Value =
        serde_json::from_slice(&std::fs::read(dir.join("gate-record.json")).expect("gate"))
            .expect("json");
    assert_eq!(gate["manifest"], digest.as_str());

    // GitHub Actions: the step outputs and the summary.
    let outputs = std::fs::read_to_string(&outputs).expect("outputs");
    assert!(outputs.contains(&format!("digest={digest}\n")), "{outputs}");
    assert!(
        outputs.contains(&format!("image={host}/org/app@{digest}\n")),
        "{outputs}"
    );
    let output = |name: &str| -> PathBuf {
        let line = outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {outputs}"));
        PathBuf::from(line)
    };
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(output("sarif")).expect("sarif")).expect("json");
    assert_eq!(sarif["version"], "2.1.0");
    let cyclonedx: Value =
        serde_json::from_slice(&std::fs::read(output("sbom-cyclonedx")).expect("cdx"))
            .expect("json");
    assert_eq!(cyclonedx["bomFormat"], "CycloneDX");
    let spdx: Value =
        serde_json::from_slice(&std::fs::read(output("sbom-spdx")).expect("spdx")).expect("json");
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let summary = std::fs::read_to_string(&summary).expect("summary");
    assert!(summary.contains(&digest), "{summary}");
    assert!(summary.contains("| cis | ran | pass |"), "{summary}");
    assert!(summary.contains("passed"), "{summary}");
}

#[test]
fn images_the_gates_refuse_leave_the_registry_untouched() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let remote = Remote::start(&sb, "ghcr");
    let db = database(&sb);
    let host = remote.host().to_string();
    let failing = [
        // CIS 4.1: no USER.
        context(
            &sb,
            "root",
            "FROM scratch\nCOPY hello.txt /srv/\nHEALTHCHECK CMD [\"/srv/probe\"]\n",
            &[],
        ),
        // A planted secret.
        context(
            &sb,
            "leaky",
            &format!("{CLEAN}COPY creds /home/app/.aws/credentials\n"),
            &[(
                "creds",
                "[default]\naws_access_key_id = AKIAZ7VRSQ5TJ3HPLN2M\naws_secret_access_key = 9drTJvcXLB89EXAMPLEKEYa1b2c3d4e5f6g7h8i9j\n",
            )],
        ),
        // A critical vulnerability (handlebars < 4.7.7, GHSA-f2jv-r9rf-7988).
        context(
            &sb,
            "vulnerable",
            &format!("{CLEAN}COPY node_modules /srv/app/node_modules\n"),
            &[(
                "node_modules/handlebars/package.json",
                r#"{"name": "handlebars", "version": "4.7.6"}"#,
            )],
        ),
    ];
    for ctx in &failing {
        let name = ctx.file_name().and_then(|n| n.to_str()).expect("name");
        let out = publish(
            &sb,
            &remote,
            &db,
            &[format!("{host}/org/{name}:1")],
            &["--sign=none"],
            ctx,
            &[],
        );
        assert_eq!(code(&out), Some(1), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing was pushed"),
            "{}",
            stderr(&out)
        );
        // `lading build --push` goes through the same gates.
        let pushed = lading_at(
            &sb,
            &remote,
            &[
                "build",
                "--push",
                "--db",
                db.to_str().expect("utf-8"),
                "-t",
                &format!("{host}/org/{name}:2"),
                ctx.to_str().expect("utf-8"),
            ],
            &[],
        );
        assert_eq!(code(&pushed), Some(1), "{name}: {}", stderr(&pushed));
    }
    assert_eq!(
        remote.writes(),
        Vec::<String>::new(),
        "{}",
        remote.reg.log()
    );

    // A clean image does go out with `build --push` (unsigned: docker's push signs
    // nothing), and with `-o type=registry,name=…`.
    let clean = context(&sb, "clean", CLEAN, &[]);
    for (tag, how) in [
        (
            "1",
            vec![
                "--push".to_string(),
                "-t".into(),
                format!("{host}/org/clean:1"),
            ],
        ),
        (
            "2",
            vec![
                "-o".to_string(),
                format!("type=registry,name={host}/org/clean:2"),
            ],
        ),
    ] {
        let mut args = vec!["build", "--db", db.to_str().expect("utf-8"), "-q"];
        args.extend(how.iter().map(String::as_str));
        args.push(clean.to_str().expect("utf-8"));
        let out = lading_at(&sb, &remote, &args, &[]);
        assert_success(&out);
        let digest = stdout(&out).trim().to_string();
        let tags = lading_at(
            &sb,
            &remote,
            &["tags", &format!("docker://{host}/org/clean")],
            &[],
        );
        assert_success(&tags);
        assert!(stdout(&tags).lines().any(|t| t == tag), "{}", stdout(&tags));
        assert!(!stdout(&tags).contains(".sig"), "{}", stdout(&tags));
        assert!(digest.starts_with("sha256:"), "{digest}");
    }
}

#[test]
fn a_rerun_after_a_failed_signing_finishes_without_a_second_push() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let remote = Remote::start(&sb, "ghcr");
    let db = database(&sb);
    let (key, public, _) = lading_keys(&sb, "keys", None);
    let ctx = context(&sb, "app", CLEAN, &[]);
    let image = format!("{}/org/app:1", remote.host());
    let key_flag = key.to_str().expect("utf-8");
    // The transparency log is down: the push happened, the signing did not.
    let failed = publish(
        &sb,
        &remote,
        &db,
        std::slice::from_ref(&image),
        &["--key", key_flag, "--rekor-url", "http://127.0.0.1:9"],
        &ctx,
        &[],
    );
    assert_eq!(code(&failed), Some(2), "{}", stderr(&failed));
    let writes_before = remote.writes();
    assert!(
        writes_before
            .iter()
            .any(|w| w.starts_with("PUT /v2/org/app/manifests/1 ")),
        "{writes_before:?}"
    );
    assert!(
        !writes_before.iter().any(|w| w.contains(".sig")),
        "{writes_before:?}"
    );

    let finished = publish(
        &sb,
        &remote,
        &db,
        std::slice::from_ref(&image),
        &["--key", key_flag, "--tlog-upload=false"],
        &ctx,
        &[],
    );
    assert_success(&finished);
    let said = stderr(&finished);
    assert!(said.contains("in an earlier run"), "{said}");
    assert!(said.contains("CACHED"), "{said}");
    let digest = stdout(&finished).trim().to_string();
    assert_eq!(
        stdout(&failed).trim(),
        "",
        "no digest is printed for a failure"
    );
    // What the rerun wrote: signatures and attestations only, no image blob or manifest.
    let writes = remote.writes();
    let new = &writes[writes_before.len()..];
    assert!(!new.is_empty());
    let hex = digest.trim_start_matches("sha256:");
    for w in new {
        assert!(
            !w.starts_with("PUT /v2/org/app/manifests/1 ")
                && !w.starts_with(&format!("PUT /v2/org/app/manifests/{digest} ")),
            "the image was pushed again: {w}"
        );
    }
    assert!(
        new.iter().any(|w| w.contains(&format!("sha256-{hex}.sig"))),
        "{new:?}"
    );
    let at = format!("{}/org/app@{digest}", remote.host());
    assert_success(&cosign_with_key(&sb, &remote, "verify", &public, &[], &at));
}

#[test]
fn a_blob_changed_in_the_store_after_the_gates_is_not_pushed() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let first = Remote::start(&sb, "first");
    let second = Remote::start(&sb, "second");
    let db = database(&sb);
    let ctx = context(&sb, "app", CLEAN, &[]);
    let out = publish(
        &sb,
        &first,
        &db,
        &[format!("{}/org/app:1", first.host())],
        &["--sign=none"],
        &ctx,
        &[],
    );
    assert_success(&out);
    let digest = stdout(&out).trim().to_string();
    // The gated layer's bytes change in the store (same length, one byte).
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blob_path(&sb.store(), &digest)).expect("manifest"))
            .expect("json");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    let path = blob_path(&sb.store(), layer);
    let mut bytes = std::fs::read(&path).expect("layer");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");

    // The next publish of that digest finds the passing gates and pushes to another
    // registry: the changed blob is refused, and the registry gets no manifest.
    let out = publish(
        &sb,
        &second,
        &db,
        &[format!("{}/org/app:1", second.host())],
        &["--sign=none"],
        &ctx,
        &[],
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    // lading's own check refuses it (not only the registry's).
    assert!(stderr(&out).contains(layer), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no longer matches its digest"),
        "{}",
        stderr(&out)
    );
    let writes = second.writes();
    assert!(
        !writes.iter().any(|w| w.contains("/manifests/")),
        "{writes:?}"
    );
}

#[test]
fn publish_without_a_way_to_sign_stops_before_building() {
    let sb = Sandbox::new();
    let ctx = context(&sb, "app", CLEAN, &[]);
    let mut cmd = sb.lading(&[
        "publish",
        "--image",
        "127.0.0.1:9/org/app:1",
        ctx.to_str().expect("utf-8"),
    ]);
    cmd.env_remove("ACTIONS_ID_TOKEN_REQUEST_URL");
    let out = run(&mut cmd);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--sign=none"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("writing image"), "{}", stderr(&out));
    // A digest is not a destination.
    let mut cmd = sb.lading(&[
        "publish",
        "--sign=none",
        "--image",
        &format!("127.0.0.1:9/org/app@sha256:{}", "0".repeat(64)),
        ctx.to_str().expect("utf-8"),
    ]);
    let out = run(&mut cmd);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("push to a tag"), "{}", stderr(&out));
}

fn blob_path(store: &Path, digest: &str) -> PathBuf {
    store
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

#[test]
fn a_publish_killed_between_push_and_sign_is_finished_by_the_next_run() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let remote = Remote::start(&sb, "ghcr");
    let db = database(&sb);
    let (key, public, _) = lading_keys(&sb, "keys", None);
    let ctx = context(&sb, "app", CLEAN, &[]);
    let image = format!("{}/org/app:1", remote.host());
    // A GitHub token endpoint that takes the connection and never answers: keyless
    // signing waits there, after the push, until the process is killed.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let token_url = format!("http://{}/token", silent.local_addr().expect("addr"));
    let mut cmd = sb.lading(&[
        "publish",
        "--progress",
        "plain",
        "--db",
        db.to_str().expect("utf-8"),
        "--image",
        &image,
        "--sign=keyless",
        "--fulcio-url",
        "http://127.0.0.1:9",
        "--rekor-url",
        "http://127.0.0.1:9",
        "--cert-dir",
        remote.ca_dir(),
        "--creds",
        "alice:pw",
        ctx.to_str().expect("utf-8"),
    ]);
    cmd.env("ACTIONS_ID_TOKEN_REQUEST_URL", &token_url)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        .env("LADING_TODAY", "2026-01-01")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    // The publish record names the push once it is done: then the process dies.
    let records = sb.store().join(".lading/publish");
    let pushed = || {
        std::fs::read_dir(&records)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\"reference\"")))
    };
    while !pushed() {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("publish ended ({status}) before its push was recorded");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let writes_before = remote.writes();
    assert!(
        writes_before
            .iter()
            .any(|w| w.starts_with("PUT /v2/org/app/manifests/1 ")),
        "{writes_before:?}"
    );
    assert!(
        !writes_before.iter().any(|w| w.contains(".sig")),
        "{writes_before:?}"
    );

    let finished = publish(
        &sb,
        &remote,
        &db,
        std::slice::from_ref(&image),
        &["--key", key.to_str().expect("utf-8"), "--tlog-upload=false"],
        &ctx,
        &[],
    );
    assert_success(&finished);
    let digest = stdout(&finished).trim().to_string();
    let writes = remote.writes();
    for w in &writes[writes_before.len()..] {
        assert!(
            !w.starts_with("PUT /v2/org/app/manifests/1 ")
                && !w.starts_with(&format!("PUT /v2/org/app/manifests/{digest} ")),
            "the image was pushed again: {w}"
        );
    }
    let at = format!("{}/org/app@{digest}", remote.host());
    assert_success(&cosign_with_key(&sb, &remote, "verify", &public, &[], &at));
    drop(silent);
}
