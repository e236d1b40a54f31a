//! Keyless attestations stored as bundle referrers, checked with the transparency log:
//! real cosign v3.1.3 attests with its defaults (Fulcio certificate, Rekor v1 `dsse`
//! entry, Sigstore bundle v0.3 referrer) against the local Sigstore
//! (tests/support/sigstore.js); `lading verify-attestation` with cosign's identity flags
//! accepts them, and refuses another identity, another issuer and another trust root,
//! as cosign does.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::Distribution;
use common::sigstore::{self, LocalSigstore};
use common::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin")
}

fn need_peers() -> bool {
    require(
        peers().join("cosign").is_file(),
        "cosign in target/peers/go/bin (scripts/install-peers)",
    ) && require(
        sigstore::available(),
        "node and @sigstore/mock in target/peers/sigstore-mock (scripts/install-peers)",
    ) && require_tool("docker-registry")
}

fn cosign(sb: &Sandbox, args: &[&str]) -> Output {
    let home = sb.path("cosign-home");
    std::fs::create_dir_all(&home).expect("home");
    run(Command::new(peers().join("cosign"))
        .args(args)
        .current_dir(sb.dir.path())
        .env("HOME", &home)
        .env("SIGSTORE_NO_CACHE", "true"))
}

fn lading(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.current_dir(sb.dir.path())
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    run(&mut cmd)
}

/// Builds a one-file image holding `content`, pushes it and returns `host/app@digest`.
fn push_image(sb: &Sandbox, host: &str, tag: &str, content: &str) -> String {
    let ctx = sb.path(&format!("ctx-{tag}"));
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), content).expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let local = format!("app:{tag}");
    let digest = sb.build_ok(&ctx, &["-t", &local]);
    assert_success(&sb.run(&["push", &local, &format!("docker://{host}/app:{tag}")]));
    format!("{host}/app@{digest}")
}

/// Small predicates of each type cosign knows by name.
fn predicates(sb: &Sandbox) -> Vec<(&'static str, PathBuf)> {
    vec![
        (
            "slsaprovenance1",
            sb.write(
                "slsa.json",
                r#"{"buildDefinition":{"buildType":"https://lading.dev/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://ci.example/builder"}}}"#,
            ),
        ),
        (
            "cyclonedx",
            sb.write(
                "cdx.json",
                r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}"#,
            ),
        ),
        (
            "spdxjson",
            sb.write(
                "spdx.json",
                r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","dataLicense":"CC0-1.0","documentNamespace":"https://example.com/app","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: test"]},"packages":[]}"#,
            ),
        ),
        (
            "vuln",
            sb.write(
                "vuln.json",
                r#"{"invocation":{"uri":"","event_id":"","builder.id":""},"scanner":{"uri":"https://lading.dev","version":"1","db":{"uri":"","version":""},"result":{}},"metadata":{"scanStartedOn":"2026-01-01T00:00:00Z","scanFinishedOn":"2026-01-01T00:00:00Z"}}"#,
            ),
        ),
    ]
}

/// `verify-attestation` by `tool` of a keyless attestation of `kind`.
fn verify_attestation(
    sb: &Sandbox,
    tool: &str,
    root: &Path,
    identity: &str,
    issuer: &str,
    kind: &str,
    image: &str,
) -> Output {
    let mut args = vec![
        "verify-attestation",
        "--trusted-root",
        root.to_str().expect("utf-8"),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "--type",
        kind,
    ];
    if tool == "cosign" {
        args.extend(["--allow-http-registry", "--allow-insecure-registry"]);
        args.push(image);
        cosign(sb, &args)
    } else {
        args.extend(["--registry-referrers-mode=oci-1-1", image]);
        lading(sb, &args)
    }
}

/// `lading verify-attestation` of a keyless attestation in the legacy `.att` tag.
fn lading_legacy(
    sb: &Sandbox,
    root: &Path,
    identity: &str,
    issuer: &str,
    kind: &str,
    image: &str,
) -> Output {
    lading(
        sb,
        &[
            "verify-attestation",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            issuer,
            "--type",
            kind,
            "--registry-referrers-mode=legacy",
            image,
        ],
    )
}

fn refused_by_both(sb: &Sandbox, why: &str, verify: impl Fn(&Sandbox, &str) -> Output) {
    let ours = verify(sb, "lading");
    assert_eq!(
        ours.status.code(),
        Some(1),
        "{why}: lading:\n{}{}",
        stdout(&ours),
        stderr(&ours)
    );
    let theirs = verify(sb, "cosign");
    assert!(!theirs.status.success(), "{why}: cosign verified");
    assert!(
        stderr(&theirs).contains("no matching attestations"),
        "{why}: cosign:\n{}",
        stderr(&theirs)
    );
}

#[test]
fn cosigns_keyless_attestation_bundles_verify_with_lading() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "attested keyless\n");
    let token = local.token(IDENTITY);
    let token_file = sb.write("token", &token);
    let attest = |kind: &str, predicate: &Path, image: &str, config: &Path| {
        cosign(
            &sb,
            &[
                "attest",
                "-y",
                "--identity-token",
                token_file.to_str().expect("utf-8"),
                "--signing-config",
                config.to_str().expect("utf-8"),
                "--trusted-root",
                local.trusted_root.to_str().expect("utf-8"),
                "--type",
                kind,
                "--predicate",
                predicate.to_str().expect("utf-8"),
                "--allow-http-registry",
                "--allow-insecure-registry",
                image,
            ],
        )
    };
    let root = &local.trusted_root;
    let issuer = &local.issuer;
    let mut outputs = Vec::new();
    for (kind, predicate) in predicates(&sb) {
        assert_success(&attest(kind, &predicate, &image, &local.signing_config));
        let theirs = verify_attestation(&sb, "cosign", root, IDENTITY, issuer, kind, &image);
        assert_success(&theirs);
        let ours = verify_attestation(&sb, "lading", root, IDENTITY, issuer, kind, &image);
        assert_success(&ours);
        assert!(
            stderr(&ours).contains(&format!("signed by {IDENTITY}")),
            "{}",
            stderr(&ours)
        );
        // One envelope line, whose statement names the image.
        let envelope: serde_json::Value =
            serde_json::from_str(stdout(&ours).trim()).expect("one envelope");
        let payload = base64_decode(envelope["payload"].as_str().expect("payload"));
        let digest = image.split_once('@').expect("@").1;
        assert!(
            String::from_utf8_lossy(&payload).contains(digest.trim_start_matches("sha256:")),
            "{}",
            String::from_utf8_lossy(&payload)
        );
        outputs.push(ours);
    }

    let kind = "slsaprovenance1";
    let other = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main";
    refused_by_both(&sb, "another identity", |sb, tool| {
        verify_attestation(sb, tool, root, other, issuer, kind, &image)
    });
    refused_by_both(&sb, "another issuer", |sb, tool| {
        verify_attestation(
            sb,
            tool,
            root,
            IDENTITY,
            "https://issuer.example",
            kind,
            &image,
        )
    });
    // cosign's legacy .att (--new-bundle-format=false): its annotations carry the
    // certificate and the Rekor entry.
    let legacy_image = push_image(&sb, &reg.host, "3", "legacy att by cosign\n");
    let slsa = sb.path("slsa.json");
    assert_success(&cosign(
        &sb,
        &[
            "attest",
            "-y",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--fulcio-url",
            &local.url,
            "--rekor-url",
            &local.url,
            "--use-signing-config=false",
            "--trusted-root",
            local.trusted_root.to_str().expect("utf-8"),
            "--type",
            kind,
            "--predicate",
            slsa.to_str().expect("utf-8"),
            "--new-bundle-format=false",
            "--allow-http-registry",
            "--allow-insecure-registry",
            &legacy_image,
        ],
    ));
    assert_success(&lading_legacy(
        &sb,
        root,
        IDENTITY,
        issuer,
        kind,
        &legacy_image,
    ));
    let refused = lading_legacy(&sb, root, other, issuer, kind, &legacy_image);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));

    let stranger = LocalSigstore::start();
    refused_by_both(&sb, "another trust root", |sb, tool| {
        verify_attestation(
            sb,
            tool,
            &stranger.trusted_root,
            IDENTITY,
            issuer,
            kind,
            &image,
        )
    });

    // cosign will not even store an attestation whose certificate had expired when Rekor
    // logged it (lading's refusal of such bundles is tested with signatures in
    // tests/sign_keyless.rs: the same bundle verification).
    let expired = push_image(&sb, &reg.host, "2", "expired\n");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&local.signing_config).expect("config"))
            .expect("json");
    config["caUrls"][0]["url"] = serde_json::json!(format!("{}/expired", local.url));
    let expired_config = sb.write("expired-config.json", &config.to_string());
    let refused = attest(kind, &sb.path("slsa.json"), &expired, &expired_config);
    assert!(
        stderr(&refused).contains("integrated time outside certificate validity"),
        "{}",
        stderr(&refused)
    );

    // Without the identity flags, lading asks for them; the token never appears.
    let out = lading(
        &sb,
        &[
            "verify-attestation",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--type",
            kind,
            &image,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--certificate-identity"),
        "{}",
        stderr(&out)
    );
    let secret = token.rsplit('.').next().expect("jwt");
    for o in &outputs {
        assert!(!format!("{}{}", stdout(o), stderr(o)).contains(secret));
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

#[test]
fn ladings_keyless_and_logged_attestations_verify_with_cosign() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "attested by lading\n");
    let token = local.token(IDENTITY);
    let token_file = sb.write("token", &token);
    let root = &local.trusted_root;
    let issuer = &local.issuer;
    let attest = |kind: &str, predicate: &Path, image: &str, fulcio: &str, mode: &str| {
        lading(
            &sb,
            &[
                "attest",
                "--identity-token",
                token_file.to_str().expect("utf-8"),
                "--fulcio-url",
                fulcio,
                "--rekor-url",
                &local.url,
                "--type",
                kind,
                "--predicate",
                predicate.to_str().expect("utf-8"),
                &format!("--registry-referrers-mode={mode}"),
                image,
            ],
        )
    };
    let mut outputs = Vec::new();
    for (kind, predicate) in predicates(&sb) {
        let made = attest(kind, &predicate, &image, &local.url, "oci-1-1");
        assert_success(&made);
        let theirs = verify_attestation(&sb, "cosign", root, IDENTITY, issuer, kind, &image);
        assert_success(&theirs);
        let ours = verify_attestation(&sb, "lading", root, IDENTITY, issuer, kind, &image);
        assert_success(&ours);
        outputs.extend([made, theirs, ours]);
    }

    let kind = "slsaprovenance1";
    let other = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main";
    refused_by_both(&sb, "another identity", |sb, tool| {
        verify_attestation(sb, tool, root, other, issuer, kind, &image)
    });
    refused_by_both(&sb, "another issuer", |sb, tool| {
        verify_attestation(
            sb,
            tool,
            root,
            IDENTITY,
            "https://issuer.example",
            kind,
            &image,
        )
    });

    // A certificate that had expired when Rekor logged the envelope (lading stores it
    // when not given the trusted root to check against).
    let expired = push_image(&sb, &reg.host, "2", "expired\n");
    let slsa = sb.path("slsa.json");
    assert_success(&attest(
        kind,
        &slsa,
        &expired,
        &format!("{}/expired", local.url),
        "oci-1-1",
    ));
    refused_by_both(&sb, "expired certificate", |sb, tool| {
        verify_attestation(sb, tool, root, IDENTITY, issuer, kind, &expired)
    });

    // The legacy .att tag: cosign (without --new-bundle-format) verifies the layer by
    // its certificate and Rekor bundle annotations.
    let legacy_image = push_image(&sb, &reg.host, "4", "legacy att\n");
    let legacy = attest(kind, &slsa, &legacy_image, &local.url, "legacy");
    assert_success(&legacy);
    let cosign_legacy = |identity: &str| {
        cosign(
            &sb,
            &[
                "verify-attestation",
                "--trusted-root",
                root.to_str().expect("utf-8"),
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                issuer,
                "--type",
                kind,
                "--new-bundle-format=false",
                "--allow-http-registry",
                "--allow-insecure-registry",
                &legacy_image,
            ],
        )
    };
    assert_success(&cosign_legacy(IDENTITY));
    assert!(!cosign_legacy(other).status.success());
    let ours = lading_legacy(&sb, root, IDENTITY, issuer, kind, &legacy_image);
    assert_success(&ours);
    assert!(
        stderr(&ours).contains(&format!("signed by {IDENTITY}")),
        "{}",
        stderr(&ours)
    );
    let refused = lading_legacy(&sb, root, other, issuer, kind, &legacy_image);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    outputs.extend([legacy, ours]);

    // With a key and the log: cosign checks the entry (no --insecure-ignore-tlog).
    let keyed = push_image(&sb, &reg.host, "3", "key and log\n");
    let prefix = sb.path("k");
    assert_success(&lading(
        &sb,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().expect("utf-8"),
        ],
    ));
    let (key, public) = (sb.path("k.key"), sb.path("k.pub"));
    let mut cmd = sb.lading(&[
        "attest",
        "--key",
        key.to_str().expect("utf-8"),
        "--rekor-url",
        &local.url,
        "--trusted-root",
        root.to_str().expect("utf-8"),
        "--type",
        kind,
        "--predicate",
        slsa.to_str().expect("utf-8"),
        "--registry-referrers-mode=oci-1-1",
        &keyed,
    ]);
    cmd.env("LADING_PASSWORD", "");
    assert_success(&run(&mut cmd));
    let by_key = |tool: &str, trusted_root: &Path| {
        let mut args = vec![
            "verify-attestation",
            "--key",
            public.to_str().expect("utf-8"),
            "--trusted-root",
            trusted_root.to_str().expect("utf-8"),
            "--type",
            kind,
        ];
        if tool == "cosign" {
            args.extend(["--allow-http-registry", "--allow-insecure-registry", &keyed]);
            cosign(&sb, &args)
        } else {
            args.extend(["--registry-referrers-mode=oci-1-1", &keyed]);
            lading(&sb, &args)
        }
    };
    assert_success(&by_key("cosign", root));
    assert_success(&by_key("lading", root));
    let stranger = LocalSigstore::start();
    assert!(!by_key("cosign", &stranger.trusted_root).status.success());
    assert_eq!(
        by_key("lading", &stranger.trusted_root).status.code(),
        Some(1)
    );

    let secret = token.rsplit('.').next().expect("jwt");
    for o in &outputs {
        assert!(!format!("{}{}", stdout(o), stderr(o)).contains(secret));
    }
}
