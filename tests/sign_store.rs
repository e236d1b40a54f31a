//! `lading sign`, `attest`, `verify` and `verify-attestation` on store references
//! (issue #10): `app:1` as `lading build -t app:1` tagged it means the local store, whose
//! signatures and attestations then live in the store, byte for byte what a registry
//! would hold; `lading serve` exposes them and real cosign (v3.1.3) verifies them there,
//! in each storage (the legacy `.sig`/`.att` tags, the OCI 1.1 bundle referrers).
//! `docker://` always means the registry; a name the store does not have is the
//! registry's, and failing there names the store.

mod common;

use std::path::Path;
use std::process::Output;

use common::registry::LadingServe;
use common::signing::{code, cosign, lading, lading_keys, need_peers};
use common::{Sandbox, assert_success, stderr, stdout};

const PASSWORD: &str = "store signing 7";

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// Builds a one-file `FROM scratch` image tagged `tag` in the sandbox's store.
fn build(sb: &Sandbox, tag: &str, content: &str) -> String {
    let ctx = sb.path(&format!("ctx-{}", tag.replace([':', '/'], "-")));
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), content).expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    sb.build_ok(&ctx, &["-t", tag])
}

/// `lading sign --key KEY --tlog-upload=false --registry-referrers-mode MODE IMAGE`.
fn sign(sb: &Sandbox, key: &Path, mode: &str, image: &str) -> Output {
    lading(
        sb,
        Some(PASSWORD),
        &[
            "sign",
            "--key",
            s(key),
            "--tlog-upload=false",
            "--registry-referrers-mode",
            mode,
            image,
        ],
    )
}

/// `lading attest --key KEY --type slsaprovenance1 --tlog-upload=false` with the
/// predicate lading generates from its build record.
fn attest(sb: &Sandbox, key: &Path, mode: &str, image: &str) -> Output {
    lading(
        sb,
        Some(PASSWORD),
        &[
            "attest",
            "--key",
            s(key),
            "--type",
            "slsaprovenance1",
            "--tlog-upload=false",
            "--registry-referrers-mode",
            mode,
            image,
        ],
    )
}

/// `lading verify --key PUB --insecure-ignore-tlog --registry-referrers-mode MODE IMAGE`.
fn verify(sb: &Sandbox, public: &Path, mode: &str, image: &str) -> Output {
    lading(
        sb,
        None,
        &[
            "verify",
            "--key",
            s(public),
            "--insecure-ignore-tlog",
            "--registry-referrers-mode",
            mode,
            image,
        ],
    )
}

/// `lading verify-attestation --key PUB --type slsaprovenance1 --insecure-ignore-tlog`.
fn verify_attestation(sb: &Sandbox, public: &Path, mode: &str, image: &str) -> Output {
    lading(
        sb,
        None,
        &[
            "verify-attestation",
            "--key",
            s(public),
            "--type",
            "slsaprovenance1",
            "--insecure-ignore-tlog",
            "--registry-referrers-mode",
            mode,
            image,
        ],
    )
}

/// `cosign verify` or `cosign verify-attestation --type slsaprovenance1` with `--key`,
/// no transparency log, over plain HTTP, reading bundles (`new_bundle_format`, cosign
/// v3's default) or the legacy tag only.
fn cosign_verify(
    sb: &Sandbox,
    attestation: bool,
    public: &Path,
    new_bundle_format: bool,
    image: &str,
) -> Output {
    let format = format!("--new-bundle-format={new_bundle_format}");
    let mut args = vec![if attestation {
        "verify-attestation"
    } else {
        "verify"
    }];
    if attestation {
        args.extend(["--type", "slsaprovenance1"]);
    }
    args.extend([
        "--key",
        s(public),
        "--insecure-ignore-tlog=true",
        &format,
        "--allow-http-registry=true",
        "--allow-insecure-registry",
        image,
    ]);
    cosign(sb, "", &args)
}

fn assert_says(o: &Output, what: &str) {
    assert!(
        stderr(o).contains(what),
        "expected {what:?} in:\n{}{}",
        stdout(o),
        stderr(o)
    );
}

/// Asserts `o` exited with 1 (nothing valid), not with an error.
fn assert_refused(o: &Output, why: &str) {
    assert_eq!(
        code(o),
        Some(1),
        "{why}: expected a refusal:\n{}{}",
        stdout(o),
        stderr(o)
    );
}

fn assert_cosign_refused(o: &Output, why: &str) {
    assert!(
        !o.status.success(),
        "{why}: cosign accepted:\n{}{}",
        stdout(o),
        stderr(o)
    );
}

/// The tags of the store's `index.json` that name signature or attestation manifests.
fn signature_tags(sb: &Sandbox) -> Vec<String> {
    sb.tags()
        .into_iter()
        .filter(|t| t.ends_with(".sig") || t.ends_with(".att"))
        .collect()
}

#[test]
fn store_references_are_signed_into_the_store_and_verified_by_lading_and_by_cosign_through_lading_serve()
 {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let (key, public, _) = lading_keys(&sb, "k", Some(PASSWORD));
    let (_, wrong, _) = lading_keys(&sb, "wrong", Some(PASSWORD));
    // One image per storage, so each is verified on its own.
    let images = [
        ("legacy", "app:1", build(&sb, "app:1", "legacy\n")),
        ("oci-1-1", "bundled:1", build(&sb, "bundled:1", "bundles\n")),
    ];
    for (mode, tag, digest) in &images {
        let repo = tag.split(':').next().expect("repo");
        let signed = sign(&sb, &key, mode, tag);
        assert_success(&signed);
        assert_says(
            &signed,
            &format!(
                "{tag}: using the store {}: {repo}@{digest}",
                sb.store().display()
            ),
        );
        assert!(
            stdout(&signed).contains(&format!("signed {repo}@{digest}")),
            "{}",
            stdout(&signed)
        );
        let attested = attest(&sb, &key, mode, tag);
        assert_success(&attested);
        assert_says(&attested, "using the store");

        // lading verifies from the store itself: by tag, by digest and as REPO@DIGEST.
        for name in [tag.to_string(), digest.clone(), format!("{repo}@{digest}")] {
            let v = verify(&sb, &public, mode, &name);
            assert_success(&v);
            assert_says(&v, &format!("Verified {repo}@{digest}: "));
            let payloads: serde_json::Value =
                serde_json::from_slice(&v.stdout).expect("verify prints JSON");
            let critical = &payloads[0]["critical"];
            assert_eq!(critical["image"]["docker-manifest-digest"], **digest);
            if *mode == "legacy" {
                // The docker-reference is the repository the store serves the image in.
                assert_eq!(critical["identity"]["docker-reference"], repo, "{payloads}");
            }
            let va = verify_attestation(&sb, &public, mode, &name);
            assert_success(&va);
            assert_says(&va, "1 https://slsa.dev/provenance/v1 attestation(s) valid");
            let envelope: serde_json::Value =
                serde_json::from_str(stdout(&va).lines().next().expect("envelope"))
                    .expect("envelope JSON");
            let statement = base64_decode(envelope["payload"].as_str().expect("payload"));
            let statement: serde_json::Value =
                serde_json::from_slice(&statement).expect("statement");
            assert_eq!(statement["subject"][0]["name"], repo, "{statement}");
            assert_eq!(
                format!(
                    "sha256:{}",
                    statement["subject"][0]["digest"]["sha256"]
                        .as_str()
                        .expect("sha256")
                ),
                *digest
            );
        }
        assert_refused(&verify(&sb, &wrong, mode, tag), "lading verify, wrong key");
        assert_refused(
            &verify_attestation(&sb, &wrong, mode, tag),
            "lading verify-attestation, wrong key",
        );
    }
    // The legacy storage is tags of the store; the bundles are referrers (no tag).
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let mut tags = signature_tags(&sb);
    tags.sort();
    assert_eq!(
        tags,
        vec![
            format!("app:sha256-{}.att", hex(&images[0].2)),
            format!("app:sha256-{}.sig", hex(&images[0].2)),
        ]
    );

    // `lading serve` exposes them, and cosign verifies each storage there.
    let serve = LadingServe::start(&sb.store());
    for (mode, tag, digest) in &images {
        let repo = tag.split(':').next().expect("repo");
        let image = format!("{}/{repo}@{digest}", serve.host);
        let new_bundle_format = *mode == "oci-1-1";
        for attestation in [false, true] {
            let what = if attestation {
                "cosign verify-attestation"
            } else {
                "cosign verify"
            };
            assert_success(&cosign_verify(
                &sb,
                attestation,
                &public,
                new_bundle_format,
                &image,
            ));
            assert_cosign_refused(
                &cosign_verify(&sb, attestation, &wrong, new_bundle_format, &image),
                &format!("{what} {mode}, wrong key"),
            );
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// `lading ARGS` with every registry unreachable (a closed proxy), so that nothing here
/// asks Docker Hub.
fn offline(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.current_dir(sb.dir.path())
        .env("LADING_PASSWORD", PASSWORD)
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    common::run(&mut cmd)
}

#[test]
fn a_reference_the_store_does_not_have_goes_to_the_registry_and_the_failure_names_the_store() {
    let sb = Sandbox::new();
    let (key, public, _) = lading_keys(&sb, "k", Some(PASSWORD));
    build(&sb, "app:1", "one\n");
    let store = sb.store().display().to_string();
    for command in ["sign", "attest"] {
        let mut args = vec![command, "--key", s(&key), "--tlog-upload=false"];
        if command == "attest" {
            args.extend(["--type", "slsaprovenance1"]);
        }
        args.push("app:2");
        let out = offline(&sb, &args);
        assert_eq!(code(&out), Some(2), "{}", stderr(&out));
        assert_says(
            &out,
            &format!(
                "app:2 is not in the store {store}, so the registry was asked for docker.io/library/app:2"
            ),
        );
    }
    let out = offline(
        &sb,
        &[
            "verify",
            "--key",
            s(&public),
            "--insecure-ignore-tlog",
            "app:2",
        ],
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_says(&out, &format!("app:2 is not in the store {store}"));
    assert!(signature_tags(&sb).is_empty(), "{:?}", sb.tags());
}

#[test]
fn docker_scheme_means_the_registry_even_when_the_store_has_the_name() {
    let sb = Sandbox::new();
    let (key, public, _) = lading_keys(&sb, "k", Some(PASSWORD));
    build(&sb, "app:1", "one\n");
    let out = offline(
        &sb,
        &[
            "sign",
            "--key",
            s(&key),
            "--tlog-upload=false",
            "docker://app:1",
        ],
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_says(&out, "resolving docker.io/library/app:1");
    assert!(
        !stderr(&out).contains("using the store"),
        "{}",
        stderr(&out)
    );
    assert!(signature_tags(&sb).is_empty(), "{:?}", sb.tags());
    let out = offline(
        &sb,
        &[
            "verify",
            "--key",
            s(&public),
            "--insecure-ignore-tlog",
            "docker://app:1",
        ],
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_says(&out, "resolving docker.io/library/app:1");
    // Without the scheme the same name is the store's.
    let out = offline(
        &sb,
        &["sign", "--key", s(&key), "--tlog-upload=false", "app:1"],
    );
    assert_success(&out);
    assert_says(&out, "app:1: using the store");
    assert_eq!(signature_tags(&sb).len(), 1, "{:?}", sb.tags());
}
