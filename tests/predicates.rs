//! `lading predicate`: the predicates lading attests, generated from what it built,
//! catalogued and scanned. SLSA provenance is checked by the in-toto attestation
//! framework's own Go bindings (Statement v1 and SLSA provenance v1 protobufs, strict,
//! plus their `Validate` rules: `tests/support/intoto-validate`, built by
//! `scripts/install-peers`); its parameters against the build; the SBOM predicates
//! against `lading sbom`'s files byte for byte; the vuln predicate against
//! `lading scan --format cosign-vuln`; the build log for timings, cache hits and
//! redaction.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::bases::{BUSYBOX_TAG, DEBIAN_TAG, bases_available, busybox_base, debian_base, oci_ref};
use common::{Sandbox, assert_success, require, run, run_with_stdin, sha256, stderr, stdout};
use serde_json::{Value, json};

const SECRET: &str = "predicate-secret-5c1d0e7a93f2";
const GITHUB_VARS: [&str; 5] = [
    "GITHUB_SERVER_URL",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
];

/// The in-toto attestation validator (`scripts/install-peers` builds it).
fn validator() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin/intoto-validate");
    if !require(
        path.is_file(),
        "intoto-validate (scripts/install-peers builds tests/support/intoto-validate)",
    ) {
        return None;
    }
    // Built from the pinned bindings.
    let info = run(Command::new("go").arg("version").arg("-m").arg(&path));
    assert_success(&info);
    assert!(
        stdout(&info).contains("github.com/in-toto/attestation\tv1.2.0"),
        "{}",
        stdout(&info)
    );
    Some(path)
}

fn bases() -> bool {
    require(
        bases_available().is_ok(),
        "the test base images (root, debootstrap, umoci, busybox)",
    )
}

/// `sha256:<hex>` of the image tagged `tag` in an OCI layout.
fn layout_digest(layout: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index json");
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str())
        .expect("tagged manifest")
        .to_string()
}

/// A build context of the busybox base: a `.dockerignore`d log file, a `--build-context`
/// directory, a secret and two stages (the target is the first).
struct Fixture {
    sb: Sandbox,
    ctx: PathBuf,
    base: String,
}

impl Fixture {
    fn new() -> Fixture {
        let sb = Sandbox::new();
        let ctx = sb.path("ctx");
        sb.write(
            "ctx/Dockerfile",
            "ARG BASE\n\
             FROM ${BASE} AS build\n\
             ARG GREETING=hi\n\
             COPY hello.txt /hello.txt\n\
             COPY --from=assets data.txt /data.txt\n\
             RUN --mount=type=secret,id=tok cat /run/secrets/tok; echo \"$GREETING\" | tee /greeting\n\
             FROM build AS final\n\
             RUN echo never built\n",
        );
        sb.write("ctx/hello.txt", "hello\n");
        sb.write("ctx/build.log", "ignored by .dockerignore\n");
        sb.write("ctx/.dockerignore", "*.log\n");
        sb.write("assets/data.txt", "data\n");
        sb.write("secret.txt", SECRET);
        let base = oci_ref(&busybox_base(), BUSYBOX_TAG);
        Fixture { sb, ctx, base }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--build-arg".into(),
            format!("BASE={}", self.base),
            "--build-arg".into(),
            "GREETING=yo".into(),
            "--target".into(),
            "build".into(),
            "--platform".into(),
            "linux/amd64".into(),
            "--source-date-epoch".into(),
            "1700000000".into(),
            "--context-modes".into(),
            "normalize".into(),
            "--build-context".into(),
            format!("assets={}", self.sb.path("assets").display()),
            "--secret".into(),
            format!("id=tok,src={}", self.sb.path("secret.txt").display()),
        ]
    }

    /// Builds `context` into `store` with the fixture's flags plus `extra`, with
    /// `env`; returns the digest and the printed progress.
    fn build(
        &self,
        store: &Path,
        context: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (String, String) {
        let iid = store.with_extension(format!("iid-{}", extra.len()));
        let mut cmd = common::lading();
        cmd.arg("--store")
            .arg(store)
            .args(["build", "--progress", "plain", "-t", "app:1"])
            .args(self.args())
            .args(extra)
            .arg("--iidfile")
            .arg(&iid)
            .arg(context)
            .env_remove("SOURCE_DATE_EPOCH");
        for var in GITHUB_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        assert_success(&out);
        (
            std::fs::read_to_string(&iid).expect("iidfile"),
            stderr(&out),
        )
    }
}

fn predicate_output(store: &Path, image: &str, kind: &str) -> Output {
    run(common::lading()
        .arg("--store")
        .arg(store)
        .args(["predicate", image, "--type", kind]))
}

fn predicate(store: &Path, image: &str, kind: &str) -> Vec<u8> {
    let out = predicate_output(store, image, kind);
    assert_success(&out);
    out.stdout
}

fn predicate_json(store: &Path, image: &str, kind: &str) -> Value {
    serde_json::from_slice(&predicate(store, image, kind)).expect("predicate JSON")
}

/// An in-toto Statement v1 about `digest`.
fn statement(digest: &str, predicate_type: &str, predicate: &Value) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

fn validate(validator: &Path, statement: &Value) -> Output {
    run_with_stdin(&mut Command::new(validator), &statement.to_string())
}

fn assert_valid(validator: &Path, statement: &Value) {
    let out = validate(validator, statement);
    assert!(
        out.status.success() && stdout(&out).trim() == "valid",
        "{}\n{}",
        stderr(&out),
        serde_json::to_string_pretty(statement).unwrap()
    );
}

fn assert_invalid(validator: &Path, statement: &Value, reason: &str) {
    let out = validate(validator, statement);
    assert!(
        !out.status.success() && stderr(&out).contains(reason),
        "expected {reason:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

fn rfc3339_seconds(s: &str) -> String {
    assert!(s.ends_with('Z') && s.len() == 20, "{s}");
    s.to_string()
}

#[test]
fn slsa_provenance_validates_against_in_toto_and_slsa_schemas_and_records_the_build() {
    let Some(validator) = validator() else { return };
    if !bases() {
        return;
    }
    let f = Fixture::new();
    let store = f.sb.store();
    let (digest, _) = f.build(&store, &f.ctx, &[], &[]);
    let provenance = predicate_json(&store, "app:1", "slsaprovenance1");
    let subject = statement(&digest, "https://slsa.dev/provenance/v1", &provenance);
    assert_valid(&validator, &subject);

    // The validator bites: a missing required field, an unknown one, a wrong type.
    let mut broken = subject.clone();
    broken["predicate"]["buildDefinition"]
        .as_object_mut()
        .unwrap()
        .remove("buildType");
    assert_invalid(&validator, &broken, "buildType required");
    let mut broken = subject.clone();
    broken["predicate"]["runDetails"]["builder"]["name"] = json!("x");
    assert_invalid(&validator, &broken, "unknown field");
    let mut broken = subject.clone();
    broken["predicate"]["runDetails"]["metadata"]["startedOn"] = json!("yesterday");
    assert_invalid(&validator, &broken, "Timestamp");

    let def = &provenance["buildDefinition"];
    assert_eq!(
        def["buildType"],
        "https://lading.dev/buildtypes/dockerfile/v1"
    );
    let ext = &def["externalParameters"];
    let dockerfile = std::fs::read(f.ctx.join("Dockerfile")).unwrap();
    assert_eq!(ext["dockerfile"]["path"], "Dockerfile");
    assert_eq!(
        ext["dockerfile"]["digest"]["sha256"]
            .as_str()
            .map(|h| format!("sha256:{h}")),
        Some(sha256(&dockerfile))
    );
    assert_eq!(ext["buildArgs"], json!({"BASE": f.base, "GREETING": "yo"}));
    assert_eq!(ext["target"], "build");
    assert_eq!(ext["platform"], "linux/amd64");
    assert_eq!(ext["sourceDateEpoch"], 1700000000);
    assert_eq!(ext["contextModes"], "normalize");
    assert_eq!(ext["secrets"], json!(["tok"]));
    assert!(ext["context"]["git"].is_null(), "not a git checkout: {ext}");
    let context_digest = ext["context"]["digest"]["sha256"].as_str().unwrap();
    let assets_digest = ext["buildContexts"]["assets"]["digest"]["sha256"]
        .as_str()
        .unwrap();
    assert_ne!(context_digest, assets_digest);
    assert!(!provenance.to_string().contains(SECRET));

    let deps = def["resolvedDependencies"].as_array().unwrap();
    let dep = |name: &str| {
        deps.iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {deps:?}"))
    };
    let base_digest = layout_digest(&busybox_base(), BUSYBOX_TAG);
    assert_eq!(
        dep(&f.base)["digest"]["sha256"]
            .as_str()
            .map(|h| format!("sha256:{h}")),
        Some(base_digest),
        "the base image, by digest"
    );
    assert_eq!(dep(&f.base)["uri"], f.base.as_str());
    assert_eq!(dep("context")["digest"]["sha256"], context_digest);
    assert_eq!(
        dep("build-context:assets")["digest"]["sha256"],
        assets_digest
    );
    assert_eq!(dep("dockerfile")["digest"], ext["dockerfile"]["digest"]);

    let run_details = &provenance["runDetails"];
    assert_eq!(
        run_details["builder"]["id"],
        "https://lading.dev/builder/local"
    );
    assert_eq!(
        run_details["builder"]["version"]["lading"],
        env!("CARGO_PKG_VERSION")
    );
    let meta = &run_details["metadata"];
    let started = rfc3339_seconds(meta["startedOn"].as_str().unwrap());
    let finished = rfc3339_seconds(meta["finishedOn"].as_str().unwrap());
    assert!(started <= finished, "{started} > {finished}");
    assert!(
        meta["invocationId"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:"),
        "{meta}"
    );
    // The build log it names is the build-log predicate.
    let log = predicate(&store, "app:1", "buildlog");
    let byproducts = run_details["byproducts"].as_array().unwrap();
    assert_eq!(byproducts.len(), 1, "no gates ran yet: {byproducts:?}");
    assert_eq!(byproducts[0]["name"], "lading-build-log");
    assert_eq!(
        byproducts[0]["digest"]["sha256"]
            .as_str()
            .map(|h| format!("sha256:{h}")),
        Some(sha256(&log))
    );

    // The same context elsewhere, with another ignored file, has the same context digest;
    // a changed file, another.
    let copy = f.sb.path("copy");
    common::sh(&format!("cp -a {} {}", common::q(&f.ctx), common::q(&copy)));
    std::fs::write(copy.join("other.log"), "more noise").unwrap();
    let other_store = f.sb.path("store-copy");
    f.build(&other_store, &copy, &[], &[]);
    let again = predicate_json(&other_store, "app:1", "slsaprovenance1");
    assert_eq!(
        again["buildDefinition"]["externalParameters"]["context"]["digest"]["sha256"],
        context_digest
    );
    std::fs::write(copy.join("hello.txt"), "changed\n").unwrap();
    f.build(&other_store, &copy, &[], &[]);
    let changed = predicate_json(&other_store, "app:1", "slsaprovenance1");
    assert_ne!(
        changed["buildDefinition"]["externalParameters"]["context"]["digest"]["sha256"],
        context_digest
    );
}

#[test]
fn gate_record_is_a_provenance_byproduct_with_its_verdict() {
    let Some(validator) = validator() else { return };
    if !bases() {
        return;
    }
    let f = Fixture::new();
    let store = f.sb.store();
    let (digest, _) = f.build(&store, &f.ctx, &[], &[]);
    let policy = f.sb.write("gates.toml", "[gates]\nskip = [\"scan\"]\n");
    let gate = run(common::lading()
        .arg("--store")
        .arg(&store)
        .args(["gate", "app:1", "--format", "json", "--policy"])
        .arg(&policy));
    assert!(
        matches!(gate.status.code(), Some(0 | 1)),
        "{}",
        stderr(&gate)
    );
    let verdict =
        serde_json::from_str::<Value>(&stdout(&gate)).unwrap()["record"]["verdict"].clone();
    let record_file = store
        .join(".lading/gates")
        .join(format!("{}.json", digest.trim_start_matches("sha256:")));
    let record = std::fs::read(&record_file).expect("gate record");

    let provenance = predicate_json(&store, &digest, "slsaprovenance1");
    assert_valid(
        &validator,
        &statement(&digest, "https://slsa.dev/provenance/v1", &provenance),
    );
    let gates = provenance["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "lading-gates")
        .expect("lading-gates byproduct")
        .clone();
    assert_eq!(
        gates["digest"]["sha256"]
            .as_str()
            .map(|h| format!("sha256:{h}")),
        Some(sha256(&record))
    );
    assert_eq!(gates["annotations"], json!({"verdict": verdict}));
    assert_eq!(
        gates["mediaType"],
        "application/vnd.lading.gate-record.v1+json"
    );
    // The record is also the blob the gate command stored.
    let blob = store
        .join("blobs/sha256")
        .join(sha256(&record).trim_start_matches("sha256:"));
    assert!(blob.is_file(), "{}", blob.display());
}

#[test]
fn recording_leaves_the_image_digest_alone_and_names_the_github_workflow_run() {
    if !bases() {
        return;
    }
    let f = Fixture::new();
    let local_store = f.sb.store();
    let (local, _) = f.build(&local_store, &f.ctx, &[], &[]);
    let github = [
        ("GITHUB_SERVER_URL", "https://github.com"),
        (
            "GITHUB_WORKFLOW_REF",
            "acme/app/.github/workflows/release.yml@refs/tags/v1",
        ),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_ATTEMPT", "3"),
    ];
    let actions_store = f.sb.path("store-actions");
    let (in_actions, _) = f.build(&actions_store, &f.ctx, &["--no-cache"], &github);
    assert_eq!(
        local, in_actions,
        "who built it and when must not change the image"
    );

    let provenance = predicate_json(&actions_store, "app:1", "slsaprovenance1");
    let run_details = &provenance["runDetails"];
    assert_eq!(
        run_details["builder"]["id"],
        "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
    );
    assert_eq!(
        run_details["metadata"]["invocationId"],
        "https://github.com/acme/app/actions/runs/4242/attempts/3"
    );
    assert_eq!(
        provenance["buildDefinition"]["internalParameters"]["noCache"],
        true
    );

    // The local build's invocation id and timestamps are in its record, not in any blob.
    let local_provenance = predicate_json(&local_store, "app:1", "slsaprovenance1");
    let invocation = local_provenance["runDetails"]["metadata"]["invocationId"]
        .as_str()
        .unwrap()
        .to_string();
    for entry in walkdir::WalkDir::new(local_store.join("blobs")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes
                    .windows(invocation.len())
                    .any(|w| w == invocation.as_bytes()),
                "{} holds the invocation id",
                entry.path().display()
            );
        }
    }
    let records: Vec<_> = std::fs::read_dir(local_store.join(".lading/builds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        records,
        [format!("{}.json", local.trim_start_matches("sha256:"))]
    );

    // An image lading did not build here has no provenance and no build log.
    let base_digest = layout_digest(&busybox_base(), BUSYBOX_TAG);
    for kind in ["slsaprovenance1", "buildlog"] {
        let out = predicate_output(&local_store, &base_digest, kind);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("no build of"), "{}", stderr(&out));
    }
}

#[test]
fn clean_git_checkout_context_is_named_by_remote_and_commit() {
    if !bases() {
        return;
    }
    let f = Fixture::new();
    let git = |args: &[&str]| {
        let out = run(Command::new("git")
            .arg("-C")
            .arg(&f.ctx)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args));
        assert_success(&out);
        stdout(&out).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://builder:hunter2@example.com/acme/app.git",
    ]);
    // build.log stays untracked: .dockerignore hides it from the build.
    git(&["add", "Dockerfile", "hello.txt", ".dockerignore"]);
    git(&["commit", "-q", "-m", "app"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let store = f.sb.store();
    f.build(&store, &f.ctx, &[], &[]);
    let provenance = predicate_json(&store, "app:1", "slsaprovenance1");
    let context = &provenance["buildDefinition"]["externalParameters"]["context"];
    assert_eq!(
        context["git"],
        json!({
            "uri": "git+https://example.com/acme/app.git",
            "digest": {"gitCommit": commit},
            "path": "",
        }),
        "credentials in the remote are dropped"
    );
    let deps = provenance["buildDefinition"]["resolvedDependencies"].to_string();
    assert!(
        deps.contains(&format!("git+https://example.com/acme/app.git@{commit}")),
        "{deps}"
    );
    assert!(!provenance.to_string().contains("hunter2"));

    // A file the build sees but git does not have: the commit alone no longer says
    // what was built, so only the context digest is recorded.
    std::fs::write(f.ctx.join("notes.txt"), "uncommitted").unwrap();
    f.build(&store, &f.ctx, &[], &[]);
    let provenance = predicate_json(&store, "app:1", "slsaprovenance1");
    let context = &provenance["buildDefinition"]["externalParameters"]["context"];
    assert!(context["git"].is_null(), "{context}");
    assert!(context["digest"]["sha256"].is_string());
}

#[test]
fn build_log_has_step_timings_cache_hits_and_never_the_secret() {
    if !bases() {
        return;
    }
    let f = Fixture::new();
    let store = f.sb.store();
    let (digest, printed) = f.build(&store, &f.ctx, &[], &[]);
    let first = predicate_json(&store, "app:1", "buildlog");
    let (again, _) = f.build(&store, &f.ctx, &[], &[]);
    assert_eq!(digest, again);
    let second_bytes = predicate(&store, "app:1", "buildlog");
    let second: Value = serde_json::from_slice(&second_bytes).unwrap();

    for log in [&first, &second] {
        assert_eq!(log["builder"]["id"], "https://lading.dev/builder/local");
        assert!(log["startedOn"].as_str().unwrap() <= log["finishedOn"].as_str().unwrap());
        let steps = log["steps"].as_array().unwrap();
        assert!(steps.len() >= 5, "{steps:?}");
        for step in steps {
            assert!(step["durationMs"].is_u64(), "{step}");
            assert!(step["startedMs"].is_u64(), "{step}");
        }
    }
    let step = |log: &Value, prefix: &str| -> Value {
        log["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str().unwrap().contains(prefix))
            .unwrap_or_else(|| panic!("no {prefix} step in {log}"))
            .clone()
    };
    let run_first = step(&first, "RUN --mount=type=secret");
    assert_eq!(run_first["cached"], false);
    // The lines are the ones printed, the secret redacted.
    let lines: Vec<&str> = run_first["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    // (The secret file has no newline: `cat` and `echo` share a line.)
    assert_eq!(lines, ["****yo"]);
    let vertex = run_first["vertex"].as_u64().unwrap();
    for line in &lines {
        assert!(printed.contains(&format!("#{vertex} {line}")), "{printed}");
    }
    for prefix in [
        "COPY hello.txt",
        "COPY --from=assets",
        "RUN --mount=type=secret",
    ] {
        assert_eq!(step(&second, prefix)["cached"], true, "{prefix}: {second}");
    }
    // The secret is nowhere: not in either predicate, the record, or the store.
    assert!(!first.to_string().contains(SECRET));
    assert!(
        !second_bytes
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes())
    );
    for entry in walkdir::WalkDir::new(&store) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the secret",
                entry.path().display()
            );
        }
    }
}

#[test]
fn sbom_and_vuln_predicates_are_the_documents_lading_sbom_and_scan_write() {
    let Some(validator) = validator() else { return };
    if !bases() {
        return;
    }
    let sb = Sandbox::new();
    let base = oci_ref(&debian_base(), DEBIAN_TAG);
    sb.write(
        "ctx/Dockerfile",
        &format!("FROM {base}\nCOPY hello.txt /hello.txt\n"),
    );
    sb.write("ctx/hello.txt", "hello\n");
    let digest = sb.build_ok(&sb.path("ctx"), &["-t", "deb:1"]);
    let store = sb.store();

    for (kind, format, predicate_type) in [
        ("cyclonedx", "cyclonedx", "https://cyclonedx.org/bom"),
        ("spdxjson", "spdx", "https://spdx.dev/Document"),
    ] {
        let file = sb.path(&format!("sbom.{format}.json"));
        let out = sb.run(&[
            "sbom",
            &digest,
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
        ]);
        assert_success(&out);
        let written = std::fs::read(&file).unwrap();
        let out = predicate_output(&store, "deb:1", kind);
        assert_success(&out);
        assert_eq!(sha256(&out.stdout), sha256(&written), "{kind}");
        assert!(stderr(&out).contains(predicate_type), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let packages = doc["components"].as_array().or(doc["packages"].as_array());
        assert!(
            packages.is_some_and(|p| p.len() > 50),
            "{kind}: the Debian packages"
        );
        assert_valid(&validator, &statement(&digest, predicate_type, &doc));
    }

    // No scan yet: no vuln predicate.
    let out = predicate_output(&store, "deb:1", "vuln");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no scan of"), "{}", stderr(&out));

    // One advisory against every version of sed (a source package of the minbase).
    sb.write(
        "osv/DEBIAN-LADING-0001.json",
        &json!({
            "id": "DEBIAN-LADING-0001",
            "modified": "2026-01-01T00:00:00Z",
            "summary": "test advisory",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "sed"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }],
        })
        .to_string(),
    );
    let db = sb.path("db");
    let out = sb.run(&[
        "db",
        "import",
        sb.path("osv").to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = sb.path("scan.json");
    let out = sb.run(&[
        "scan",
        "deb:1",
        "--db",
        db.to_str().unwrap(),
        "--no-external",
        "--format",
        "cosign-vuln",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_success(&out);
    let written = std::fs::read(&report).unwrap();
    let vuln = predicate(&store, &digest, "vuln");
    assert_eq!(
        vuln, written,
        "the vuln predicate is the scan's cosign-vuln document"
    );
    let doc: Value = serde_json::from_slice(&vuln).unwrap();
    assert!(
        doc["scanner"]["result"]
            .to_string()
            .contains("DEBIAN-LADING-0001"),
        "{doc}"
    );
    assert!(doc["scanner"]["db"]["version"].is_string());
    assert_valid(
        &validator,
        &statement(
            &digest,
            "https://cosign.sigstore.dev/attestation/vuln/v1",
            &doc,
        ),
    );
}

/// cosign itself attests every predicate lading generates and verifies it: its own
/// predicate types parse ours (SLSA v1 and vuln through its Go structs, which would
/// drop or refuse fields they do not know) and the verified statements carry exactly
/// our predicates about the image's digest.
#[test]
fn cosign_attests_and_verifies_each_predicate_unchanged() {
    let cosign = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin/cosign");
    if !require(
        cosign.is_file(),
        "cosign (scripts/install-peers installs it into target/peers/go/bin)",
    ) || !common::require_tool("docker-registry")
        || !bases()
    {
        return;
    }
    let f = Fixture::new();
    let store = f.sb.store();
    let (digest, _) = f.build(&store, &f.ctx, &[], &[]);
    // A scan (of an image without packages) for the vuln predicate.
    f.sb.write(
        "osv/PYSEC-0.json",
        r#"{"id":"PYSEC-0","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"versions":["1"]}]}"#,
    );
    let db = f.sb.path("db");
    let db_arg = db.to_str().unwrap();
    assert_success(&f.sb.run(&[
        "db",
        "import",
        f.sb.path("osv").to_str().unwrap(),
        "--db",
        db_arg,
    ]));
    assert_success(
        &f.sb
            .run(&["scan", "app:1", "--db", db_arg, "--no-external"]),
    );

    let registry = common::registry::Distribution::start(None);
    assert_success(&f.sb.run(&[
        "push",
        "app:1",
        &format!("docker://{}/app:1", registry.host),
    ]));
    let image = format!("{}/app@{digest}", registry.host);
    let home = f.sb.path("cosign-home");
    std::fs::create_dir_all(&home).unwrap();
    let cosign_run = |args: &[&str]| {
        run(Command::new(&cosign)
            .args(args)
            .current_dir(f.sb.dir.path())
            .env("HOME", &home)
            .env("COSIGN_PASSWORD", "")
            .env("SIGSTORE_NO_CACHE", "true"))
    };
    assert_success(&cosign_run(&["generate-key-pair"]));
    // lading attests the same digest in another repository, generating each predicate
    // itself (no --predicate), with its own key.
    assert_success(&f.sb.run(&[
        "push",
        "app:1",
        &format!("docker://{}/generated:1", registry.host),
    ]));
    let generated_image = format!("{}/generated@{digest}", registry.host);
    let prefix = f.sb.path("lading");
    assert_success(&run(common::lading()
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix)
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD")));
    let lading_key = f.sb.path("lading.key");
    let lading_pub = f.sb.path("lading.pub");

    for (kind, cosign_type, predicate_type) in [
        (
            "slsaprovenance1",
            "slsaprovenance1",
            "https://slsa.dev/provenance/v1",
        ),
        ("cyclonedx", "cyclonedx", "https://cyclonedx.org/bom"),
        ("spdxjson", "spdxjson", "https://spdx.dev/Document"),
        (
            "vuln",
            "vuln",
            "https://cosign.sigstore.dev/attestation/vuln/v1",
        ),
        (
            "buildlog",
            "https://lading.dev/attestation/build-log/v1",
            "https://lading.dev/attestation/build-log/v1",
        ),
    ] {
        let file = f.sb.path(&format!("{kind}.json"));
        let out = run(common::lading()
            .arg("--store")
            .arg(&store)
            .args(["predicate", &digest, "--type", kind, "-o"])
            .arg(&file));
        assert_success(&out);
        let ours: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let attest = cosign_run(&[
            "attest",
            "--yes",
            "--key",
            "cosign.key",
            "--type",
            cosign_type,
            "--predicate",
            file.to_str().unwrap(),
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--new-bundle-format=false",
            "--allow-http-registry",
            "--allow-insecure-registry",
            &image,
        ]);
        assert_success(&attest);
        let verify = cosign_run(&[
            "verify-attestation",
            "--key",
            "cosign.pub",
            "--type",
            cosign_type,
            "--insecure-ignore-tlog=true",
            "--allow-http-registry=true",
            "--allow-insecure-registry",
            &image,
        ]);
        assert_success(&verify);
        let statements: Vec<Value> = stdout(&verify)
            .lines()
            .map(|line| {
                let envelope: Value = serde_json::from_str(line).unwrap();
                use base64::Engine as _;
                let payload = base64::engine::general_purpose::STANDARD
                    .decode(envelope["payload"].as_str().unwrap())
                    .unwrap();
                serde_json::from_slice(&payload).unwrap()
            })
            .collect();
        assert_eq!(statements.len(), 1, "{kind}: {statements:?}");
        let statement = &statements[0];
        assert_eq!(statement["predicateType"], predicate_type, "{kind}");
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"].as_str(),
            Some(digest.trim_start_matches("sha256:"))
        );
        assert_eq!(
            statement["predicate"], ours,
            "{kind}: cosign kept our predicate"
        );

        // `lading attest` without --predicate signs the same generated predicate.
        let attest = run(common::lading()
            .arg("--store")
            .arg(&store)
            .args(["attest", "--key"])
            .arg(&lading_key)
            .args(["--type", kind, "--tlog-upload=false", &generated_image])
            .env_remove("LADING_PASSWORD")
            .env_remove("COSIGN_PASSWORD"));
        assert_success(&attest);
        let verify = cosign_run(&[
            "verify-attestation",
            "--key",
            lading_pub.to_str().unwrap(),
            "--type",
            cosign_type,
            "--insecure-ignore-tlog=true",
            "--allow-http-registry=true",
            "--allow-insecure-registry",
            &generated_image,
        ]);
        assert_success(&verify);
        let payloads: Vec<Value> = stdout(&verify)
            .lines()
            .map(|line| {
                let envelope: Value = serde_json::from_str(line).unwrap();
                use base64::Engine as _;
                let payload = base64::engine::general_purpose::STANDARD
                    .decode(envelope["payload"].as_str().unwrap())
                    .unwrap();
                serde_json::from_slice(&payload).unwrap()
            })
            .collect();
        assert_eq!(payloads.len(), 1, "{kind}: {payloads:?}");
        assert_eq!(payloads[0]["predicateType"], predicate_type, "{kind}");
        assert_eq!(
            payloads[0]["predicate"], ours,
            "{kind}: lading attest signed the predicate lading predicate shows"
        );
    }
}

/// The provenance's `externalParameters` are enough to rebuild the image: a build in
/// a fresh store from a copy of the context, with only what they say (plus the secret
/// and the directory the ids name), gives the same digest and the same parameters.
#[test]
fn external_parameters_are_enough_to_rebuild_the_same_digest() {
    if !bases() {
        return;
    }
    let f = Fixture::new();
    let (digest, _) = f.build(&f.sb.store(), &f.ctx, &[], &[]);
    let provenance = predicate_json(&f.sb.store(), &digest, "slsaprovenance1");
    let ext = &provenance["buildDefinition"]["externalParameters"];

    let copy = f.sb.path("rebuild-ctx");
    common::sh(&format!("cp -a {} {}", common::q(&f.ctx), common::q(&copy)));
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let mut args: Vec<String> = vec!["build".into(), "--progress".into(), "plain".into()];
    args.extend([
        "-f".into(),
        copy.join(text(&ext["dockerfile"]["path"]))
            .display()
            .to_string(),
    ]);
    for (k, v) in ext["buildArgs"].as_object().unwrap() {
        args.extend(["--build-arg".into(), format!("{k}={}", text(v))]);
    }
    args.extend(["--target".into(), text(&ext["target"])]);
    args.extend(["--platform".into(), text(&ext["platform"])]);
    args.extend([
        "--source-date-epoch".into(),
        ext["sourceDateEpoch"].to_string(),
    ]);
    args.extend(["--context-modes".into(), text(&ext["contextModes"])]);
    args.extend(["--network".into(), text(&ext["network"])]);
    for name in ext["buildContexts"].as_object().unwrap().keys() {
        // The rebuilder's copy of the directory the digest names.
        let dir = f.sb.path(name);
        args.extend([
            "--build-context".into(),
            format!("{name}={}", dir.display()),
        ]);
    }
    for id in ext["secrets"].as_array().unwrap() {
        let src = f.sb.path("secret.txt");
        args.extend([
            "--secret".into(),
            format!("id={},src={}", text(id), src.display()),
        ]);
    }
    let store = f.sb.path("rebuild-store");
    let iid = f.sb.path("rebuild.iid");
    let mut cmd = common::lading();
    cmd.arg("--store")
        .arg(&store)
        .args(&args)
        .arg("--iidfile")
        .arg(&iid)
        .arg(&copy)
        .env_remove("SOURCE_DATE_EPOCH");
    assert_success(&run(&mut cmd));
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), digest);
    let again = predicate_json(&store, &digest, "slsaprovenance1");
    assert_eq!(&again["buildDefinition"]["externalParameters"], ext);
    assert_eq!(
        again["buildDefinition"]["resolvedDependencies"],
        provenance["buildDefinition"]["resolvedDependencies"]
    );
}
