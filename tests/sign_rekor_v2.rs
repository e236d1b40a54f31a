//! Keyless signing where the signing config names a Rekor v2 log and an RFC 3161
//! timestamp authority, end to end without the internet: the local Sigstore of
//! tests/sign_keyless.rs (@sigstore/mock's Fulcio, a local OIDC issuer) with the real
//! Rekor v2 (sigstore/rekor-tiles v2.3.0, its POSIX backend in a temporary directory)
//! and the real timestamp authority (sigstore/timestamp-authority v2.1.3, in-memory
//! signer), their keys and chain added to the trusted root. Real cosign v3 and the PyPI
//! `sigstore` client are the oracles: what lading signs and attests, both verify; a
//! bundle with a changed timestamp or a checkpoint signed by another key is refused by
//! lading and cosign alike.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::registry::Distribution;
use common::sigstore::{self, LocalRekorV2, LocalSigstore, LocalTsa, V2Trust};
use common::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};
use lading_oci::{Descriptor, Digest, Store};
use lading_signer::constants::{MEDIA_TYPE_BUNDLE_V03, PREDICATE_COSIGN_SIGN};
use lading_signer::sigstore::bundle::Bundle;
use lading_signer::sigstore::referrer;

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const SIGSTORE_PYTHON_VERSION: &str = "4.5.1";

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin")
}

fn sigstore_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/python")
}

fn need_peers() -> bool {
    require(
        peers().join("cosign").is_file() && peers().join("crane").is_file(),
        "cosign and crane in target/peers/go/bin (scripts/install-peers)",
    ) && require(
        sigstore::available(),
        "node and @sigstore/mock in target/peers/sigstore-mock (scripts/install-peers)",
    ) && require(
        sigstore::v2_available(),
        "timestamp-server and rekor-server (rekor-tiles) in target/peers/go/bin (scripts/install-peers)",
    ) && require(
        stdout(&run(Command::new(sigstore_python()).args([
            "-m",
            "sigstore",
            "--version",
        ])))
        .trim()
            == format!("sigstore {SIGSTORE_PYTHON_VERSION}"),
        "the PyPI sigstore client (pinned) in target/peers-venv (scripts/install-peers)",
    ) && require_tool("docker-registry")
}

/// `cosign ARGS` with a private HOME, offline (no TUF), for a registry on 127.0.0.1.
fn cosign(sb: &Sandbox, args: &[&str]) -> Output {
    let home = sb.path("cosign-home");
    std::fs::create_dir_all(&home).expect("home");
    run(Command::new(peers().join("cosign"))
        .args(args)
        .current_dir(sb.dir.path())
        .env("HOME", &home)
        .env("SIGSTORE_NO_CACHE", "true"))
}

/// `lading ARGS`, without password or GitHub Actions variables.
fn lading(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.current_dir(sb.dir.path())
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    run(&mut cmd)
}

fn crane(args: &[&str]) -> Vec<u8> {
    let out = run(Command::new(peers().join("crane")).args(args));
    assert_success(&out);
    out.stdout
}

/// Builds a one-file image holding `content` and pushes it to `host/REPO:tag` for each
/// repository; returns the manifest digest (the same in each).
fn push_image(sb: &Sandbox, host: &str, repos: &[&str], content: &str) -> String {
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), content).expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let digest = sb.build_ok(&ctx, &["-t", "app:v2"]);
    for repo in repos {
        assert_success(&sb.run(&["push", "app:v2", &format!("docker://{host}/{repo}:v2")]));
    }
    digest
}

/// The bundles stored as referrers of `image` (`host/repo@digest`) with `artifact_type`
/// in the predicate-type annotation, through the referrers tag schema.
fn referred_bundles(image: &str) -> Vec<Vec<u8>> {
    let (repo, digest) = image.split_once('@').expect("by digest");
    let tag = format!("{repo}:{}", digest.replace(':', "-"));
    let index: serde_json::Value =
        serde_json::from_slice(&crane(&["manifest", "--insecure", &tag])).expect("index");
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            let at = format!("{repo}@{}", m["digest"].as_str().expect("digest"));
            let manifest: serde_json::Value =
                serde_json::from_slice(&crane(&["manifest", "--insecure", &at])).expect("json");
            let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
            crane(&["blob", "--insecure", &format!("{repo}@{layer}")])
        })
        .collect()
}

/// Stores `bundle` as a referrer of `image` (through `lading cp` from an OCI layout).
fn push_as_referrer(sb: &Sandbox, image: &str, bundle: Vec<u8>, name: &str) {
    let (repo, digest) = image.split_once('@').expect("by digest");
    let manifest = crane(&["manifest", "--insecure", image]);
    let json: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
    let subject = Descriptor::new(
        json["mediaType"].as_str().expect("mediaType"),
        digest.parse::<Digest>().expect("digest"),
        manifest.len() as u64,
    );
    let built = referrer::build(
        bundle,
        PREDICATE_COSIGN_SIGN,
        &subject,
        "2026-01-01T00:00:00Z",
    )
    .expect("referrer");
    let dir = sb.path(&format!("forged-{name}"));
    let store = Store::open(&dir).expect("store");
    store
        .put_bytes(referrer::EMPTY_CONFIG, &built.config_descriptor.media_type)
        .expect("put");
    store
        .put_bytes(&built.bundle, MEDIA_TYPE_BUNDLE_V03)
        .expect("put");
    store
        .put_bytes(&built.manifest, &built.manifest_descriptor.media_type)
        .expect("put");
    store
        .tag("forged", &built.manifest_descriptor)
        .expect("tag");
    assert_success(&sb.run(&[
        "cp",
        &format!("oci:{}:forged", dir.display()),
        &format!("docker://{repo}:{name}"),
    ]));
}

/// `cosign verify` of a bundle referrer with `root`.
fn cosign_verify(sb: &Sandbox, root: &Path, issuer: &str, image: &str) -> Output {
    cosign(
        sb,
        &[
            "verify",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            issuer,
            "--new-bundle-format=true",
            "--allow-http-registry",
            "--allow-insecure-registry",
            image,
        ],
    )
}

/// `lading verify` of bundle referrers with `root`.
fn lading_verify(sb: &Sandbox, root: &Path, issuer: &str, image: &str) -> Output {
    lading(
        sb,
        &[
            "verify",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            issuer,
            "--registry-referrers-mode=oci-1-1",
            image,
        ],
    )
}

/// `sigstore verify identity` (PyPI) of `bundle` over `artifact` with the trust config.
fn sigstore_python_verify(
    trust_config: &Path,
    bundle: &Path,
    artifact: &Path,
    issuer: &str,
) -> Output {
    run(Command::new(sigstore_python())
        .args(["-m", "sigstore", "--trust-config"])
        .arg(trust_config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(bundle)
        .args(["--cert-identity", IDENTITY, "--cert-oidc-issuer", issuer])
        .arg(artifact))
}

/// A trust config (`sigstore --trust-config`) of a trusted root and signing config.
fn trust_config(sb: &Sandbox, trust: &V2Trust) -> PathBuf {
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
    };
    sb.write(
        "trust_config.json",
        &serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": read(&trust.trusted_root),
            "signingConfig": read(&trust.signing_config),
        })
        .to_string(),
    )
}

/// lading exits 1 (no valid signature) and cosign fails having rejected the bundle.
fn refused_by_both(ours: &Output, theirs: &Output, why: &str) {
    assert_eq!(
        ours.status.code(),
        Some(1),
        "{why}: lading verify:\n{}{}",
        stdout(ours),
        stderr(ours)
    );
    assert!(
        !theirs.status.success(),
        "{why}: cosign verified:\n{}",
        stdout(theirs)
    );
    assert!(
        stderr(theirs).contains("no matching"),
        "{why}: cosign:\n{}",
        stderr(theirs)
    );
}

/// Everything a Rekor v2 run needs, started.
struct V2Sigstore {
    local: LocalSigstore,
    rekor: LocalRekorV2,
    tsa: LocalTsa,
    trust: V2Trust,
}

impl V2Sigstore {
    fn start(sb: &Sandbox) -> V2Sigstore {
        Self::with(sb, LocalRekorV2::start())
    }

    fn with(sb: &Sandbox, rekor: LocalRekorV2) -> V2Sigstore {
        let local = LocalSigstore::start();
        let tsa = LocalTsa::start();
        let trust = V2Trust::write(&local, Some(&rekor), &tsa, sb.dir.path());
        V2Sigstore {
            local,
            rekor,
            tsa,
            trust,
        }
    }

    fn logs(&self) -> String {
        format!(
            "rekor-tiles:\n{}\ntimestamp-server:\n{}\nsigstore.js:\n{}",
            self.rekor.log(),
            self.tsa.log(),
            self.local.log()
        )
    }
}

/// Changes the first timestamp's genTime by a second (inside the signed TSTInfo).
fn change_timestamp(bundle: &mut Bundle) {
    let ts = &mut bundle
        .verification_material
        .timestamp_verification_data
        .as_mut()
        .expect("timestamps")
        .rfc3161_timestamps[0]
        .signed_timestamp;
    let at = ts
        .windows(16)
        .position(|w| w[0] == 0x18 && w[2..].iter().all(u8::is_ascii_digit))
        .expect("genTime in the timestamp")
        + 2;
    let second = at + 13;
    ts[second] = if ts[second] == b'0' { b'1' } else { b'0' };
}

/// The bundle's Rekor v2 entry and timestamp, as the formats say.
fn assert_v2_material(bundle: &Bundle, origin: &str) {
    let material = &bundle.verification_material;
    let [entry] = &material.tlog_entries[..] else {
        panic!("one tlog entry: {:?}", material.tlog_entries);
    };
    let kind = entry.kind_version.as_ref().expect("kindVersion");
    assert_eq!(
        (kind.kind.as_str(), kind.version.as_str()),
        ("hashedrekord", "0.0.2")
    );
    assert_eq!(entry.integrated_time, 0);
    assert!(entry.inclusion_promise.is_none(), "Rekor v2 gives no SET");
    let proof = entry.inclusion_proof.as_ref().expect("inclusion proof");
    assert!(
        proof
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.envelope.starts_with(&format!("{origin}\n"))),
        "{proof:?}"
    );
    let timestamps = &material
        .timestamp_verification_data
        .as_ref()
        .expect("timestampVerificationData")
        .rfc3161_timestamps;
    assert_eq!(timestamps.len(), 1);
    assert!(!timestamps[0].signed_timestamp.is_empty());
}

#[test]
fn keyless_signatures_logged_in_rekor_v2_with_a_timestamp_verify_with_cosign_and_lading() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let v2 = V2Sigstore::start(&sb);
    let token_file = sb.write("token", &v2.local.token(IDENTITY));
    let root = &v2.trust.trusted_root;
    let issuer = &v2.local.issuer;
    let digest = push_image(
        &sb,
        &reg.host,
        &["app", "timestamp", "checkpoint"],
        "logged in rekor v2\n",
    );
    let image = format!("{}/app@{digest}", reg.host);

    let signed = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            v2.trust.signing_config.to_str().expect("utf-8"),
            "--trusted-root",
            root.to_str().expect("utf-8"),
            &image,
        ],
    );
    assert!(
        signed.status.success(),
        "{}{}\n{}",
        stdout(&signed),
        stderr(&signed),
        v2.logs()
    );
    assert!(
        stderr(&signed).contains("(Rekor v2)") && stderr(&signed).contains("timestamp from"),
        "{}",
        stderr(&signed)
    );
    // Only the bundle: the legacy tag's annotations cannot carry a Rekor v2 entry.
    assert!(
        stderr(&signed).contains("legacy .sig tag is not written"),
        "{}",
        stderr(&signed)
    );
    let bundles = referred_bundles(&image);
    assert_eq!(bundles.len(), 1);
    let bundle = Bundle::parse(&bundles[0]).expect("bundle");
    assert_v2_material(&bundle, &v2.rekor.origin);

    // cosign, sigstore-python and lading verify it.
    let theirs = cosign_verify(&sb, root, issuer, &image);
    assert!(
        theirs.status.success(),
        "cosign verify:\n{}{}",
        stdout(&theirs),
        stderr(&theirs)
    );
    let ours = lading_verify(&sb, root, issuer, &image);
    assert!(
        ours.status.success(),
        "lading verify:\n{}{}",
        stdout(&ours),
        stderr(&ours)
    );
    // The trusted root without the timestamp authority: no signing time, refused.
    let mut no_tsa: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root).expect("root")).expect("json");
    no_tsa["timestampAuthorities"] = serde_json::json!([]);
    let no_tsa_root = sb.write("no_tsa_root.json", &no_tsa.to_string());
    refused_by_both(
        &lading_verify(&sb, &no_tsa_root, issuer, &image),
        &cosign_verify(&sb, &no_tsa_root, issuer, &image),
        "no timestamp authority in the trusted root",
    );

    // The timestamp's genTime moved by a second (inside the signed TSTInfo).
    let mut changed = bundle.clone();
    change_timestamp(&mut changed);
    let changed_image = format!("{}/timestamp@{digest}", reg.host);
    push_as_referrer(
        &sb,
        &changed_image,
        changed.to_json().expect("json"),
        "changed-timestamp",
    );
    let ours = lading_verify(&sb, root, issuer, &changed_image);
    refused_by_both(
        &ours,
        &cosign_verify(&sb, root, issuer, &changed_image),
        "a changed timestamp",
    );
    assert!(stderr(&ours).contains("timestamp"), "{}", stderr(&ours));

    // The checkpoint signed by another key (the note and the proof unchanged).
    let mut forged = bundle.clone();
    let checkpoint = forged.verification_material.tlog_entries[0]
        .inclusion_proof
        .as_mut()
        .expect("proof")
        .checkpoint
        .as_mut()
        .expect("checkpoint");
    let note = checkpoint
        .envelope
        .split_once("\n\n")
        .map(|(n, _)| format!("{n}\n"))
        .expect("a signed note");
    let other = lading_signer::KeyPair::generate().expect("key");
    let other_public = other.public_key().expect("public");
    let hint = &lading_signer::sigstore::sha256(other_public.der())[..4];
    let sig = [hint, &other.sign(note.as_bytes()).expect("sign")].concat();
    checkpoint.envelope = format!(
        "{note}\n\u{2014} {} {}\n",
        v2.rekor.origin,
        base64::engine::general_purpose::STANDARD.encode(sig)
    );
    let forged_image = format!("{}/checkpoint@{digest}", reg.host);
    push_as_referrer(
        &sb,
        &forged_image,
        forged.to_json().expect("json"),
        "other-key",
    );
    let ours = lading_verify(&sb, root, issuer, &forged_image);
    refused_by_both(
        &ours,
        &cosign_verify(&sb, root, issuer, &forged_image),
        "a checkpoint signed by another key",
    );
    assert!(
        stderr(&ours).contains("not signed by the log's key"),
        "{}",
        stderr(&ours)
    );

    // A signing config naming the Rekor v2 log and no timestamp authority: refused
    // before Fulcio is asked.
    let mut no_tsa: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&v2.trust.signing_config).expect("config"))
            .expect("json");
    no_tsa["tsaUrls"] = serde_json::json!([]);
    let no_tsa_config = sb.write("no_tsa_config.json", &no_tsa.to_string());
    let refused = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            no_tsa_config.to_str().expect("utf-8"),
            &image,
        ],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("names no timestamp authority"),
        "{}",
        stderr(&refused)
    );

    // Asked for the legacy tag alone, signing with Rekor v2 is an error.
    let legacy = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            v2.trust.signing_config.to_str().expect("utf-8"),
            "--registry-referrers-mode=legacy",
            &image,
        ],
    );
    assert_eq!(legacy.status.code(), Some(2), "{}", stderr(&legacy));
    assert!(stderr(&legacy).contains("Rekor v2"), "{}", stderr(&legacy));
}

#[test]
fn keyless_attestations_logged_in_rekor_v2_verify_with_cosign_sigstore_python_and_lading() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let v2 = V2Sigstore::start(&sb);
    let token_file = sb.write("token", &v2.local.token(IDENTITY));
    let root = &v2.trust.trusted_root;
    let issuer = &v2.local.issuer;
    let digest = push_image(&sb, &reg.host, &["app"], "attested in rekor v2\n");
    let image = format!("{}/app@{digest}", reg.host);
    let predicate = sb.write(
        "slsa.json",
        r#"{"buildDefinition":{"buildType":"https://lading.dev/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://ci.example/builder"}}}"#,
    );
    let attested = lading(
        &sb,
        &[
            "attest",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            v2.trust.signing_config.to_str().expect("utf-8"),
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--type",
            "slsaprovenance1",
            "--predicate",
            predicate.to_str().expect("utf-8"),
            &image,
        ],
    );
    assert!(
        attested.status.success(),
        "{}{}\n{}",
        stdout(&attested),
        stderr(&attested),
        v2.logs()
    );
    let bundles = referred_bundles(&image);
    assert_eq!(bundles.len(), 1);
    assert_v2_material(
        &Bundle::parse(&bundles[0]).expect("bundle"),
        &v2.rekor.origin,
    );

    // sigstore-python verifies the bundle over the manifest (the statement's subject).
    // (Image signatures are cosign's statement without a subject name, which
    // sigstore-python 4.5.1 refuses for cosign's own bundles too: attestations it is.)
    let manifest = sb.path("manifest.json");
    std::fs::write(&manifest, crane(&["manifest", "--insecure", &image])).expect("write");
    let bundle_file = sb.path("attestation.sigstore.json");
    std::fs::write(&bundle_file, &bundles[0]).expect("write");
    let config = trust_config(&sb, &v2.trust);
    let python = sigstore_python_verify(&config, &bundle_file, &manifest, issuer);
    assert!(
        python.status.success(),
        "sigstore verify identity:\n{}{}",
        stdout(&python),
        stderr(&python)
    );
    let other = sb.write("other.json", "{}");
    assert!(
        !sigstore_python_verify(&config, &bundle_file, &other, issuer)
            .status
            .success()
    );

    let verify = |tool: &str, root: &Path| {
        let mut args = vec![
            "verify-attestation",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            issuer,
            "--type",
            "slsaprovenance1",
        ];
        if tool == "cosign" {
            args.extend([
                "--new-bundle-format=true",
                "--allow-http-registry",
                "--allow-insecure-registry",
                &image,
            ]);
            cosign(&sb, &args)
        } else {
            args.extend(["--registry-referrers-mode=oci-1-1", &image]);
            lading(&sb, &args)
        }
    };
    for tool in ["cosign", "lading"] {
        let out = verify(tool, root);
        assert!(
            out.status.success(),
            "{tool} verify-attestation:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    // Another trusted root for the log (the Rekor v1 mock's alone): refused by both.
    let v1_only = &v2.local.trusted_root;
    let ours = verify("lading", v1_only);
    assert_eq!(ours.status.code(), Some(1), "{}", stderr(&ours));
    assert!(!verify("cosign", v1_only).status.success());
}

#[test]
fn a_timestamp_authority_with_rekor_v1_timestamps_bundles_that_cosign_and_lading_verify() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let tsa = LocalTsa::start();
    let trust = V2Trust::write(&local, None, &tsa, sb.dir.path());
    let token_file = sb.write("token", &local.token(IDENTITY));
    let root = &trust.trusted_root;
    let issuer = &local.issuer;
    let digest = push_image(&sb, &reg.host, &["app", "timestamp"], "timestamped\n");
    let image = format!("{}/app@{digest}", reg.host);
    let signed = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            trust.signing_config.to_str().expect("utf-8"),
            "--trusted-root",
            root.to_str().expect("utf-8"),
            &image,
        ],
    );
    assert!(
        signed.status.success(),
        "{}{}\n{}",
        stdout(&signed),
        stderr(&signed),
        tsa.log()
    );
    // Both storages: the bundle with a Rekor v1 `dsse` entry and the timestamp, the
    // legacy tag as before.
    let bundles = referred_bundles(&image);
    assert_eq!(bundles.len(), 1);
    let bundle = Bundle::parse(&bundles[0]).expect("bundle");
    let material = &bundle.verification_material;
    let kind = material.tlog_entries[0]
        .kind_version
        .as_ref()
        .expect("kindVersion");
    assert_eq!(
        (kind.kind.as_str(), kind.version.as_str()),
        ("dsse", "0.0.1")
    );
    assert_eq!(
        material
            .timestamp_verification_data
            .as_ref()
            .expect("timestamps")
            .rfc3161_timestamps
            .len(),
        1
    );
    let theirs = cosign_verify(&sb, root, issuer, &image);
    assert!(
        theirs.status.success(),
        "{}{}",
        stdout(&theirs),
        stderr(&theirs)
    );
    let ours = lading_verify(&sb, root, issuer, &image);
    assert!(ours.status.success(), "{}{}", stdout(&ours), stderr(&ours));
    let legacy = lading(
        &sb,
        &[
            "verify",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            issuer,
            "--registry-referrers-mode=legacy",
            &image,
        ],
    );
    assert!(legacy.status.success(), "{}", stderr(&legacy));
    // The `.sig` layer carries the timestamp over its raw signature in cosign's
    // annotation, which cosign checks with --use-signed-timestamps.
    let sig_tag = format!("{}/app:{}.sig", reg.host, digest.replace(':', "-"));
    let sig_manifest: serde_json::Value =
        serde_json::from_slice(&crane(&["manifest", "--insecure", &sig_tag])).expect("json");
    let annotation =
        sig_manifest["layers"][0]["annotations"]["dev.sigstore.cosign/rfc3161timestamp"]
            .as_str()
            .expect("the timestamp annotation")
            .to_string();
    assert!(
        annotation.starts_with(r#"{"SignedRFC3161Timestamp":""#),
        "{annotation}"
    );
    let theirs = cosign(
        &sb,
        &[
            "verify",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            issuer,
            "--new-bundle-format=false",
            "--use-signed-timestamps",
            "--allow-http-registry",
            "--allow-insecure-registry",
            &image,
        ],
    );
    assert!(
        theirs.status.success(),
        "cosign verify of the .sig tag:\n{}{}",
        stdout(&theirs),
        stderr(&theirs)
    );

    // A changed timestamp is refused by lading, though the Rekor v1 entry alone would
    // give a signing time: everything a bundle carries must verify. cosign v3.1.3
    // (sigstore-go) accepts it: one verified time (the entry's) meets its threshold and
    // a timestamp that fails is passed over. Its answer is printed, not asserted.
    let mut changed = bundle.clone();
    change_timestamp(&mut changed);
    let changed_image = format!("{}/timestamp@{digest}", reg.host);
    push_as_referrer(
        &sb,
        &changed_image,
        changed.to_json().expect("json"),
        "changed-timestamp",
    );
    let ours = lading_verify(&sb, root, issuer, &changed_image);
    assert_eq!(ours.status.code(), Some(1), "{}", stderr(&ours));
    assert!(stderr(&ours).contains("timestamp"), "{}", stderr(&ours));
    let theirs = cosign_verify(&sb, root, issuer, &changed_image);
    eprintln!(
        "cosign on a changed timestamp beside a Rekor v1 entry: {}\n{}",
        theirs.status,
        stderr(&theirs)
    );
}

#[test]
fn a_rekor_v2_log_with_an_ed25519_key_as_public_goods_verifies_with_cosign_and_lading() {
    if !need_peers() || !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let v2 = V2Sigstore::with(&sb, LocalRekorV2::start_ed25519());
    let token_file = sb.write("token", &v2.local.token(IDENTITY));
    let root = &v2.trust.trusted_root;
    let issuer = &v2.local.issuer;
    let digest = push_image(&sb, &reg.host, &["app", "checkpoint"], "ed25519 log\n");
    let image = format!("{}/app@{digest}", reg.host);
    let signed = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            v2.trust.signing_config.to_str().expect("utf-8"),
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--registry-referrers-mode=oci-1-1",
            &image,
        ],
    );
    assert!(
        signed.status.success(),
        "{}{}\n{}",
        stdout(&signed),
        stderr(&signed),
        v2.logs()
    );
    let bundles = referred_bundles(&image);
    let bundle = Bundle::parse(&bundles[0]).expect("bundle");
    assert_v2_material(&bundle, &v2.rekor.origin);
    let theirs = cosign_verify(&sb, root, issuer, &image);
    assert!(
        theirs.status.success(),
        "{}{}",
        stdout(&theirs),
        stderr(&theirs)
    );
    let ours = lading_verify(&sb, root, issuer, &image);
    assert!(ours.status.success(), "{}{}", stdout(&ours), stderr(&ours));

    // The checkpoint's signature changed: refused by both.
    let mut forged = bundle.clone();
    let checkpoint = forged.verification_material.tlog_entries[0]
        .inclusion_proof
        .as_mut()
        .expect("proof")
        .checkpoint
        .as_mut()
        .expect("checkpoint");
    let (note, line) = checkpoint
        .envelope
        .split_once("\n\n")
        .map(|(n, l)| (n.to_string(), l.trim_end().to_string()))
        .expect("a signed note");
    let (name, sig) = line.rsplit_once(' ').expect("a signature line");
    let mut sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .expect("base64");
    let last = sig.len() - 1;
    sig[last] ^= 1;
    checkpoint.envelope = format!(
        "{note}\n\n{name} {}\n",
        base64::engine::general_purpose::STANDARD.encode(sig)
    );
    let forged_image = format!("{}/checkpoint@{digest}", reg.host);
    push_as_referrer(
        &sb,
        &forged_image,
        forged.to_json().expect("json"),
        "changed-signature",
    );
    let ours = lading_verify(&sb, root, issuer, &forged_image);
    refused_by_both(
        &ours,
        &cosign_verify(&sb, root, issuer, &forged_image),
        "a changed Ed25519 checkpoint signature",
    );
    assert!(
        stderr(&ours).contains("not signed by the log's key"),
        "{}",
        stderr(&ours)
    );
}
