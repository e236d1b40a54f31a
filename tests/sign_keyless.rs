//! Keyless signing and the transparency log, end to end without the internet: a local
//! Sigstore (tests/support/sigstore.js: the Sigstore project's @sigstore/mock Fulcio, CT
//! log and Rekor, a local OIDC issuer, and the trusted_root.json made from their keys)
//! and Debian's docker-registry on 127.0.0.1. Real cosign v3 is the oracle: what lading
//! signs, cosign verifies; what cosign signs, lading verifies; what either must refuse
//! (another identity, another issuer, an expired certificate, another trust root), both
//! refuse. Both storages are covered: the legacy `.sig` tag and Sigstore bundle
//! referrers logged as Rekor `dsse` entries (a bundle moved to another image or with a
//! tampered envelope is refused too). The identity token never appears in any output.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{Distribution, LadingServe, Secured, htpasswd, make_ca};
use common::sigstore::{self, LocalSigstore};
use common::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};
use lading_oci::{Descriptor, Digest, Store};
use lading_signer::constants::{
    ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, MEDIA_TYPE_BUNDLE_V03,
    PREDICATE_COSIGN_SIGN,
};
use lading_signer::sigstore::bundle::{Bundle, Content};
use lading_signer::sigstore::referrer;

/// The identity the tokens name (a GitHub Actions workflow, as Fulcio puts it in a URI SAN).
const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin")
}

fn need_peers() -> bool {
    require(
        peers().join("cosign").is_file() && peers().join("crane").is_file(),
        "cosign and crane in target/peers/go/bin (scripts/install-peers)",
    ) && require(
        sigstore::available(),
        "node and @sigstore/mock in target/peers/sigstore-mock (scripts/install-peers)",
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
        .env("COSIGN_PASSWORD", "")
        .env("SIGSTORE_NO_CACHE", "true"))
}

/// `cosign verify` of a keyless signature with the local trust root.
fn cosign_verify_keyless(
    sb: &Sandbox,
    trusted_root: &Path,
    identity: &str,
    issuer: &str,
    image: &str,
) -> Output {
    cosign(
        sb,
        &[
            "verify",
            "--trusted-root",
            trusted_root.to_str().expect("utf-8"),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            issuer,
            "--allow-http-registry",
            "--allow-insecure-registry",
            image,
        ],
    )
}

/// `lading ARGS`, without password variables.
fn lading(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.current_dir(sb.dir.path())
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    run(&mut cmd)
}

/// `lading verify` of a keyless signature with the local trust root.
fn lading_verify_keyless(
    sb: &Sandbox,
    trusted_root: &Path,
    identity: &str,
    issuer: &str,
    image: &str,
) -> Output {
    lading(
        sb,
        &[
            "verify",
            "--trusted-root",
            trusted_root.to_str().expect("utf-8"),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            issuer,
            image,
        ],
    )
}

/// Builds a one-file `FROM scratch` image holding `content`, pushes it to
/// `host/app:tag` and returns `host/app@digest`.
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

/// The annotations of the first layer of the image's `.sig` manifest.
fn signature_annotations(image: &str) -> serde_json::Map<String, serde_json::Value> {
    let (repo, digest) = image.split_once('@').expect("by digest");
    let tag = format!("{repo}:{}.sig", digest.replace(':', "-"));
    let out = run(Command::new(peers().join("crane")).args(["manifest", "--insecure", &tag]));
    assert_success(&out);
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("manifest");
    m["layers"][0]["annotations"]
        .as_object()
        .expect("annotations")
        .clone()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// lading exits 1 (no valid signature); cosign fails having found and rejected the
/// signatures (not for want of them or of the registry): "no matching signatures" from
/// the legacy tag, "no matching attestations" from bundle referrers.
fn refused_by_both(lading_out: &Output, cosign_out: &Output, why: &str) {
    assert_eq!(
        code(lading_out),
        Some(1),
        "{why}: lading verify:\n{}{}",
        stdout(lading_out),
        stderr(lading_out)
    );
    assert!(
        !cosign_out.status.success(),
        "{why}: cosign verified:\n{}",
        stdout(cosign_out)
    );
    let rejected = stderr(cosign_out);
    assert!(
        rejected.contains("no matching signatures")
            || rejected.contains("no matching attestations"),
        "{why}: cosign:\n{}",
        stderr(cosign_out)
    );
}

fn assert_no_token(outputs: &[&Output], token: &str) {
    // The signature part alone is secret enough to look for.
    let signature = token.rsplit('.').next().expect("jwt");
    for o in outputs {
        let text = format!("{}{}", stdout(o), stderr(o));
        assert!(!text.contains(signature), "the token leaked in:\n{text}");
    }
}

#[test]
fn lading_keyless_signatures_verify_with_cosign_and_lading() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "keyless\n");
    let token = local.token(IDENTITY);
    let token_file = sb.write("token", &token);
    let root = local.trusted_root.to_str().expect("utf-8");

    let signed = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            local.signing_config.to_str().expect("utf-8"),
            "--trusted-root",
            root,
            &format!("docker://{}/app:1", reg.host),
        ],
    );
    assert_success(&signed);
    assert!(stderr(&signed).contains(IDENTITY), "{}", stderr(&signed));

    // cosign's legacy annotations: the Fulcio certificate, its chain, the Rekor bundle.
    let a = signature_annotations(&image);
    assert!(
        a[ANNOTATION_CERTIFICATE]
            .as_str()
            .expect("cert")
            .starts_with("-----BEGIN CERTIFICATE-----\n")
    );
    assert!(
        a[ANNOTATION_CHAIN]
            .as_str()
            .expect("chain")
            .starts_with("-----BEGIN CERTIFICATE-----\n")
    );
    let bundle: serde_json::Value =
        serde_json::from_str(a[ANNOTATION_BUNDLE].as_str().expect("bundle")).expect("bundle json");
    for key in ["body", "integratedTime", "logIndex", "logID"] {
        assert!(bundle["Payload"].get(key).is_some(), "{bundle}");
    }
    assert!(bundle["SignedEntryTimestamp"].is_string(), "{bundle}");

    let theirs = cosign_verify_keyless(&sb, &local.trusted_root, IDENTITY, &local.issuer, &image);
    assert_success(&theirs);
    let ours = lading_verify_keyless(&sb, &local.trusted_root, IDENTITY, &local.issuer, &image);
    assert_success(&ours);
    let payloads: serde_json::Value = serde_json::from_str(&stdout(&ours)).expect("json");
    let digest = image.split_once('@').expect("digest").1;
    assert_eq!(
        payloads[0]["critical"]["image"]["docker-manifest-digest"],
        digest
    );

    // Regular expressions, unanchored as cosign's.
    let re = lading(
        &sb,
        &[
            "verify",
            "--trusted-root",
            root,
            "--certificate-identity-regexp",
            "^https://github\\.com/acme/",
            "--certificate-oidc-issuer-regexp",
            "127\\.0\\.0\\.1",
            &image,
        ],
    );
    assert_success(&re);

    // Another identity, another issuer: refused by both.
    let other = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main";
    refused_by_both(
        &lading_verify_keyless(&sb, &local.trusted_root, other, &local.issuer, &image),
        &cosign_verify_keyless(&sb, &local.trusted_root, other, &local.issuer, &image),
        "another identity",
    );
    let other_issuer = "https://token.actions.githubusercontent.com";
    refused_by_both(
        &lading_verify_keyless(&sb, &local.trusted_root, IDENTITY, other_issuer, &image),
        &cosign_verify_keyless(&sb, &local.trusted_root, IDENTITY, other_issuer, &image),
        "another issuer",
    );
    let re_other = lading(
        &sb,
        &[
            "verify",
            "--trusted-root",
            root,
            "--certificate-identity-regexp",
            "^https://github\\.com/evil/",
            "--certificate-oidc-issuer-regexp",
            ".*",
            &image,
        ],
    );
    assert_eq!(code(&re_other), Some(1), "{}", stderr(&re_other));

    // Another Sigstore's trust root (other CA and log keys): refused by both.
    let stranger = LocalSigstore::start();
    refused_by_both(
        &lading_verify_keyless(&sb, &stranger.trusted_root, IDENTITY, &local.issuer, &image),
        &cosign_verify_keyless(&sb, &stranger.trusted_root, IDENTITY, &local.issuer, &image),
        "another trust root",
    );

    // A trusted root without the CT log: the SCT cannot be checked, refused by both
    // unless `--insecure-ignore-sct`.
    let mut no_ct: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&local.trusted_root).expect("root")).expect("json");
    no_ct["ctlogs"] = serde_json::json!([]);
    let no_ct = sb.write("no-ct.json", &no_ct.to_string());
    let ours = lading_verify_keyless(&sb, &no_ct, IDENTITY, &local.issuer, &image);
    refused_by_both(
        &ours,
        &cosign_verify_keyless(&sb, &no_ct, IDENTITY, &local.issuer, &image),
        "no CT log",
    );
    assert!(stderr(&ours).contains("SCT"), "{}", stderr(&ours));
    let no_ct = no_ct.to_str().expect("utf-8");
    let ignore_sct = |tool: &str| {
        let mut args = vec![
            "verify",
            "--trusted-root",
            no_ct,
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            &local.issuer,
            "--insecure-ignore-sct",
        ];
        if tool == "cosign" {
            args.extend(["--allow-http-registry", "--allow-insecure-registry"]);
        }
        args.push(&image);
        if tool == "cosign" {
            cosign(&sb, &args)
        } else {
            lading(&sb, &args)
        }
    };
    assert_success(&ignore_sct("lading"));
    assert_success(&ignore_sct("cosign"));

    // The token given inline works the same and is not echoed either.
    let inline = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            &token,
            "--fulcio-url",
            &local.url,
            "--rekor-url",
            &local.url,
            &image,
        ],
    );
    assert_success(&inline);
    assert_eq!(signature_annotations(&image).len(), 4, "first layer intact");
    let both = lading_verify_keyless(&sb, &local.trusted_root, IDENTITY, &local.issuer, &image);
    assert_success(&both);
    // Two signings, each stored both ways.
    assert!(
        stderr(&both).contains("4 signature(s) valid"),
        "{}",
        stderr(&both)
    );
    assert_no_token(&[&signed, &theirs, &ours, &re, &inline, &both], &token);
}

#[test]
fn keyless_signatures_in_lading_serve_verify_with_cosign() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let local = LocalSigstore::start();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), "served\n").expect("f");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let digest = sb.build_ok(&ctx, &["-t", "app:1"]);
    let serve = LadingServe::start(&sb.store());
    let token_file = sb.write("token", &local.token(IDENTITY));
    assert_success(&lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            local.signing_config.to_str().expect("utf-8"),
            &format!("docker://{}/app:1", serve.host),
        ],
    ));
    let image = format!("{}/app@{digest}", serve.host);
    assert_success(&cosign_verify_keyless(
        &sb,
        &local.trusted_root,
        IDENTITY,
        &local.issuer,
        &image,
    ));
    assert_success(&lading_verify_keyless(
        &sb,
        &local.trusted_root,
        IDENTITY,
        &local.issuer,
        &image,
    ));
}

#[test]
fn lading_verifies_cosign_keyless_signatures() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "signed by cosign\n");
    let token_file = sb.write("token", &local.token(IDENTITY));
    let signed = cosign(
        &sb,
        &[
            "sign",
            "-y",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--fulcio-url",
            &local.url,
            "--rekor-url",
            &local.url,
            "--trusted-root",
            local.trusted_root.to_str().expect("utf-8"),
            "--use-signing-config=false",
            "--new-bundle-format=false",
            "--allow-http-registry",
            "--allow-insecure-registry",
            &image,
        ],
    );
    assert_success(&signed);
    assert!(signature_annotations(&image).contains_key(ANNOTATION_BUNDLE));
    let ours = lading_verify_keyless(&sb, &local.trusted_root, IDENTITY, &local.issuer, &image);
    assert_success(&ours);
    assert!(
        stderr(&ours).contains(&format!("signed by {IDENTITY}")),
        "{}",
        stderr(&ours)
    );
    let other = "someone@example.com";
    let refused = lading_verify_keyless(&sb, &local.trusted_root, other, &local.issuer, &image);
    assert_eq!(code(&refused), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("does not match"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn expired_certificates_are_refused_by_lading_and_cosign() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "expired\n");
    let token_file = sb.write("token", &local.token(IDENTITY));
    // This Fulcio's clock is 30 minutes slow: the certificate's 10 minutes ended before
    // Rekor logs the signature.
    let expired_fulcio = format!("{}/expired", local.url);
    let sign = |extra: &[&str]| {
        let mut args = vec![
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--fulcio-url",
            &expired_fulcio,
            "--rekor-url",
            &local.url,
        ];
        args.extend_from_slice(extra);
        args.push(&image);
        lading(&sb, &args)
    };
    // With the trust root, lading checks what it got before storing it: refused.
    let checked = sign(&[
        "--trusted-root",
        local.trusted_root.to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&checked), Some(2), "{}", stderr(&checked));
    assert!(
        stderr(&checked).contains("not valid when the signature was logged"),
        "{}",
        stderr(&checked)
    );
    // Stored without the check, then verified: refused by both.
    assert_success(&sign(&[]));
    let ours = lading_verify_keyless(&sb, &local.trusted_root, IDENTITY, &local.issuer, &image);
    let theirs = cosign_verify_keyless(&sb, &local.trusted_root, IDENTITY, &local.issuer, &image);
    refused_by_both(&ours, &theirs, "expired certificate");
    assert!(
        stderr(&ours).contains("not valid when the signature was logged"),
        "{}",
        stderr(&ours)
    );

    // A valid certificate from a CA whose time in the trusted root ended before the
    // signature was logged: refused by both.
    let fresh = push_image(&sb, &reg.host, "2", "ca ended\n");
    assert_success(&lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--fulcio-url",
            &local.url,
            "--rekor-url",
            &local.url,
            &fresh,
        ],
    ));
    let mut root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&local.trusted_root).expect("root")).expect("json");
    let ca = &mut root["certificateAuthorities"][0]["validFor"];
    ca["end"] = ca["start"].clone();
    let ended = sb.write("ca-ended.json", &root.to_string());
    assert_success(&lading_verify_keyless(
        &sb,
        &local.trusted_root,
        IDENTITY,
        &local.issuer,
        &fresh,
    ));
    let ours = lading_verify_keyless(&sb, &ended, IDENTITY, &local.issuer, &fresh);
    let theirs = cosign_verify_keyless(&sb, &ended, IDENTITY, &local.issuer, &fresh);
    refused_by_both(&ours, &theirs, "the CA's validity ended");
    assert!(
        stderr(&ours).contains("valid at the signing time"),
        "{}",
        stderr(&ours)
    );
}

#[test]
fn key_signatures_in_the_transparency_log_verify_with_cosign_and_lading() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "key and log\n");
    let prefix = sb.path("cosign");
    assert_success(&lading(
        &sb,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().expect("utf-8"),
        ],
    ));
    let key = sb.path("cosign.key");
    let public = sb.path("cosign.pub");
    let root = local.trusted_root.to_str().expect("utf-8");
    let signed = lading(
        &sb,
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--rekor-url",
            &local.url,
            "--trusted-root",
            root,
            &image,
        ],
    );
    assert_success(&signed);
    let a = signature_annotations(&image);
    assert!(
        a.contains_key(ANNOTATION_BUNDLE) && !a.contains_key(ANNOTATION_CERTIFICATE),
        "{a:?}"
    );

    let verify = |root: &str| {
        let pub_path = public.to_str().expect("utf-8");
        (
            lading(
                &sb,
                &["verify", "--key", pub_path, "--trusted-root", root, &image],
            ),
            cosign(
                &sb,
                &[
                    "verify",
                    "--key",
                    pub_path,
                    "--trusted-root",
                    root,
                    "--allow-http-registry",
                    "--allow-insecure-registry",
                    &image,
                ],
            ),
        )
    };
    let (ours, theirs) = verify(root);
    assert_success(&ours);
    assert!(
        stderr(&ours).contains("transparency log entries checked"),
        "{}",
        stderr(&ours)
    );
    assert_success(&theirs);

    // Another log's key: the SET does not verify; refused by both.
    let stranger = LocalSigstore::start();
    let (ours, theirs) = verify(stranger.trusted_root.to_str().expect("utf-8"));
    refused_by_both(&ours, &theirs, "another log");

    // Checking the log needs a trust root.
    let no_root = lading(
        &sb,
        &["verify", "--key", public.to_str().expect("utf-8"), &image],
    );
    assert_eq!(code(&no_root), Some(2), "{}", stderr(&no_root));
    assert!(
        stderr(&no_root).contains("--trusted-root"),
        "{}",
        stderr(&no_root)
    );

    // A signature without a log entry is refused unless the log is ignored.
    let unlogged = push_image(&sb, &reg.host, "2", "not logged\n");
    assert_success(&lading(
        &sb,
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--tlog-upload=false",
            &unlogged,
        ],
    ));
    let refused = lading(
        &sb,
        &[
            "verify",
            "--key",
            public.to_str().expect("utf-8"),
            "--trusted-root",
            root,
            &unlogged,
        ],
    );
    assert_eq!(code(&refused), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(ANNOTATION_BUNDLE),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn github_actions_tokens_are_requested_with_audience_sigstore() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "from actions\n");
    // The runner's URL already has a query; the identity is chosen by the harness's `sub`.
    let request_url = format!(
        "{}/github/token?api-version=2.0&sub={}",
        local.url,
        IDENTITY.replace('@', "%40")
    );
    let sign = |request_token: &str| {
        let mut cmd = sb.lading(&[
            "sign",
            "--signing-config",
            local.signing_config.to_str().expect("utf-8"),
            &image,
        ]);
        cmd.current_dir(sb.dir.path())
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &request_url)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token);
        run(&mut cmd)
    };
    let signed = sign(&local.actions_request_token);
    assert_success(&signed);
    assert_success(&cosign_verify_keyless(
        &sb,
        &local.trusted_root,
        IDENTITY,
        &local.issuer,
        &image,
    ));
    // A wrong request token: the endpoint refuses, and neither token is echoed.
    let refused = sign("not-the-request-token");
    assert_eq!(code(&refused), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("GitHub Actions"),
        "{}",
        stderr(&refused)
    );
    for o in [&signed, &refused] {
        let text = format!("{}{}", stdout(o), stderr(o));
        assert!(!text.contains(&local.actions_request_token), "{text}");
        assert!(!text.contains("not-the-request-token"), "{text}");
    }
}

#[test]
fn bad_tokens_are_refused_and_never_echoed() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let local = LocalSigstore::start();
    let reg = Distribution::start(None);
    let image = push_image(&sb, &reg.host, "1", "bad tokens\n");
    // Fulcio refuses a token for another audience; lading says so without the token.
    let token = local.token_for(IDENTITY, "not-sigstore");
    let out = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            &token,
            "--fulcio-url",
            &local.url,
            "--rekor-url",
            &local.url,
            &image,
        ],
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Fulcio"), "{}", stderr(&out));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert_no_token(&[&out], &token);

    // No token and not in GitHub Actions: a clear error.
    let out = lading(&sb, &["sign", "--fulcio-url", &local.url, &image]);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("--identity-token"),
        "{}",
        stderr(&out)
    );
    // Keyless signatures are always logged.
    let out = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            &local.token(IDENTITY),
            "--tlog-upload=false",
            &image,
        ],
    );
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("--tlog-upload=false needs --key"),
        "{}",
        stderr(&out)
    );
    // A signing config without a Fulcio cannot sign keyless.
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&local.signing_config).expect("config"))
            .expect("json");
    config["caUrls"] = serde_json::json!([]);
    let config = sb.write("no-fulcio.json", &config.to_string());
    let out = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            &local.token(IDENTITY),
            "--signing-config",
            config.to_str().expect("utf-8"),
            &image,
        ],
    );
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("names no Fulcio"), "{}", stderr(&out));
    // Keyless verification names what it needs.
    let out = lading(&sb, &["verify", "--certificate-identity", IDENTITY, &image]);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("--certificate-oidc-issuer"),
        "{}",
        stderr(&out)
    );
}

/// The PyPI `sigstore` client's version pinned by scripts/install-peers.
const SIGSTORE_PYTHON_VERSION: &str = "4.5.1";

/// The Python of the venv holding the PyPI `sigstore` client.
fn sigstore_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/python")
}

/// A Sigstore bundle v0.3 (protobuf-specs JSON) from what lading's Fulcio and Rekor
/// clients returned. The bundle model itself lives elsewhere (`signer::sigstore::bundle`);
/// this test writes the JSON by hand to show the types carry everything a bundle needs.
fn bundle_v03(
    certs: &lading_signer::sigstore::fulcio::Certificates,
    entry: &lading_signer::sigstore::rekor::LogEntry,
    artifact_sha256: &[u8],
    signature: &[u8],
) -> serde_json::Value {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let proof = entry
        .inclusion_proof
        .as_ref()
        .expect("Rekor returns an inclusion proof");
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": { "rawBytes": b64(&certs.leaf) },
            "tlogEntries": [{
                "logIndex": entry.log_index.to_string(),
                "logId": { "keyId": b64(&entry.log_id) },
                "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                "integratedTime": entry.integrated_time.to_string(),
                "inclusionPromise": { "signedEntryTimestamp": b64(&entry.signed_entry_timestamp) },
                "inclusionProof": {
                    "logIndex": proof.log_index.to_string(),
                    "rootHash": b64(&proof.root_hash),
                    "treeSize": proof.tree_size.to_string(),
                    "hashes": proof.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                    "checkpoint": { "envelope": proof.checkpoint },
                },
                "canonicalizedBody": b64(&entry.body),
            }],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": b64(artifact_sha256) },
            "signature": b64(signature),
        },
    })
}

#[test]
fn sigstore_python_verifies_what_ladings_fulcio_and_rekor_clients_return() {
    use lading_signer::sigstore::{fulcio, oidc::IdentityToken, rekor, trust_root::TrustedRoot};
    use sha2::Digest as _;
    if !require(
        sigstore::available(),
        "node and @sigstore/mock in target/peers/sigstore-mock (scripts/install-peers)",
    ) || !require(
        stdout(&run(Command::new(sigstore_python()).args([
            "-m",
            "sigstore",
            "--version",
        ])))
        .trim()
            == format!("sigstore {SIGSTORE_PYTHON_VERSION}"),
        "the PyPI sigstore client (pinned) in target/peers-venv (scripts/install-peers)",
    ) {
        return;
    }
    let sb = Sandbox::new();
    let local = LocalSigstore::start();
    let http = lading_signer::sigstore::http_client().expect("client");
    let token =
        IdentityToken::parse(zeroize::Zeroizing::new(local.token(IDENTITY))).expect("token");
    let key = lading_signer::KeyPair::generate().expect("key");
    let certs = fulcio::request_certificate(&http, &local.url, &token, &key).expect("certificate");
    let artifact = sb.write("artifact.txt", "an artifact\n");
    let bytes = std::fs::read(&artifact).expect("artifact");
    let hash = sha2::Sha256::digest(&bytes);
    let signature = key.sign(&bytes).expect("sign");
    let entry = rekor::upload(
        &http,
        &local.url,
        &rekor::hashedrekord(&signature, &certs.leaf_pem(), &hash),
    )
    .expect("rekor");
    // lading's own checks of the entry first.
    let trust =
        TrustedRoot::from_json(&std::fs::read(&local.trusted_root).expect("root")).expect("root");
    entry.verify(&trust).expect("SET and inclusion proof");
    entry
        .check_body(&signature, &hash, &certs.leaf)
        .expect("body");

    let bundle = sb.write(
        "artifact.txt.sigstore.json",
        &bundle_v03(&certs, &entry, &hash, &signature).to_string(),
    );
    let trust_config = sb.write(
        "trust_config.json",
        &serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": serde_json::from_slice::<serde_json::Value>(&std::fs::read(&local.trusted_root).expect("root")).expect("json"),
            "signingConfig": serde_json::from_slice::<serde_json::Value>(&std::fs::read(&local.signing_config).expect("config")).expect("json"),
        })
        .to_string(),
    );
    let verify = |identity: &str| {
        run(Command::new(sigstore_python())
            .args(["-m", "sigstore", "--trust-config"])
            .arg(&trust_config)
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(&bundle)
            .args([
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                &local.issuer,
            ])
            .arg(&artifact))
    };
    assert_success(&verify(IDENTITY));
    let refused =
        verify("https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main");
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("SANs do not match"),
        "{}",
        stderr(&refused)
    );
}

/// `cosign verify` of a keyless signature in one storage: bundle referrers
/// (`--new-bundle-format=true`) or the legacy `.sig` tag (`false`).
fn cosign_verify_in(
    sb: &Sandbox,
    trusted_root: &Path,
    identity: &str,
    issuer: &str,
    bundles: bool,
    image: &str,
) -> Output {
    cosign(
        sb,
        &[
            "verify",
            "--trusted-root",
            trusted_root.to_str().expect("utf-8"),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            issuer,
            &format!("--new-bundle-format={bundles}"),
            "--allow-http-registry",
            "--allow-insecure-registry",
            image,
        ],
    )
}

/// `lading verify` of a keyless signature in one storage (`oci-1-1` or `legacy`).
fn lading_verify_in(
    sb: &Sandbox,
    trusted_root: &Path,
    identity: &str,
    issuer: &str,
    mode: &str,
    image: &str,
) -> Output {
    lading(
        sb,
        &[
            "verify",
            "--trusted-root",
            trusted_root.to_str().expect("utf-8"),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            issuer,
            &format!("--registry-referrers-mode={mode}"),
            image,
        ],
    )
}

fn crane(args: &[&str]) -> Vec<u8> {
    let out = run(Command::new(peers().join("crane")).args(args));
    assert_success(&out);
    out.stdout
}

/// The one bundle stored as a referrer of `host/app@digest` (the registry has no
/// referrers API: the referrers tag schema's index lists it).
fn referred_bundle(host: &str, digest: &str) -> Vec<u8> {
    let tag = format!("{host}/app:{}", digest.replace(':', "-"));
    let index: serde_json::Value =
        serde_json::from_slice(&crane(&["manifest", "--insecure", &tag])).expect("index");
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1, "{index}");
    let at = format!(
        "{host}/app@{}",
        listed[0]["digest"].as_str().expect("digest")
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&crane(&["manifest", "--insecure", &at])).expect("manifest");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    crane(&["blob", "--insecure", &format!("{host}/app@{layer}")])
}

/// Pushes `bundle` as a referrer of `host/app@digest` (through `lading cp` from an OCI
/// layout), as if it had been stored for that image.
fn push_as_referrer(sb: &Sandbox, host: &str, digest: &str, bundle: Vec<u8>, name: &str) {
    let manifest = crane(&["manifest", "--insecure", &format!("{host}/app@{digest}")]);
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
        &format!("docker://{host}/app:{name}"),
    ]));
}

#[test]
fn keyless_bundles_verify_with_cosign_and_lading_in_each_storage() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let token = local.token(IDENTITY);
    let token_file = sb.write("token", &token);
    let root = &local.trusted_root;
    let issuer = &local.issuer;
    let sign = |image: &str, mode: &str, fulcio: &str| {
        lading(
            &sb,
            &[
                "sign",
                "--identity-token",
                token_file.to_str().expect("utf-8"),
                "--fulcio-url",
                fulcio,
                "--rekor-url",
                &local.url,
                &format!("--registry-referrers-mode={mode}"),
                image,
            ],
        )
    };
    let digest_of = |image: &str| image.split_once('@').expect("digest").1.to_string();

    // A bundle referrer only: cosign finds it with --new-bundle-format, not in .sig.
    let a = push_image(&sb, &reg.host, "a", "bundle only\n");
    let signed_a = sign(&a, "oci-1-1", &local.url);
    assert_success(&signed_a);
    assert!(
        stdout(&signed_a).contains("bundle "),
        "{}",
        stdout(&signed_a)
    );
    let bundle: Bundle =
        Bundle::parse(&referred_bundle(&reg.host, &digest_of(&a))).expect("bundle");
    let entry = &bundle.verification_material.tlog_entries[0];
    let kind = entry.kind_version.as_ref().expect("kindVersion");
    assert_eq!(
        (kind.kind.as_str(), kind.version.as_str()),
        ("dsse", "0.0.1")
    );
    assert!(entry.inclusion_promise.is_some() && entry.inclusion_proof.is_some());
    let theirs_a = cosign_verify_in(&sb, root, IDENTITY, issuer, true, &a);
    assert_success(&theirs_a);
    assert!(
        !cosign_verify_in(&sb, root, IDENTITY, issuer, false, &a)
            .status
            .success()
    );
    let ours_a = lading_verify_in(&sb, root, IDENTITY, issuer, "oci-1-1", &a);
    assert_success(&ours_a);
    assert!(
        stderr(&ours_a).contains("1 valid bundle(s), 0 refused"),
        "{}",
        stderr(&ours_a)
    );
    assert_eq!(
        code(&lading_verify_in(&sb, root, IDENTITY, issuer, "legacy", &a)),
        Some(1)
    );

    // The legacy tag only: cosign finds it without --new-bundle-format.
    let b = push_image(&sb, &reg.host, "b", "legacy only\n");
    assert_success(&sign(&b, "legacy", &local.url));
    assert_success(&cosign_verify_in(&sb, root, IDENTITY, issuer, false, &b));
    assert_success(&lading_verify_in(&sb, root, IDENTITY, issuer, "legacy", &b));
    assert_eq!(
        code(&lading_verify_in(
            &sb, root, IDENTITY, issuer, "oci-1-1", &b
        )),
        Some(1)
    );

    // Another identity, another issuer: the bundle is refused by both.
    let other = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main";
    refused_by_both(
        &lading_verify_in(&sb, root, other, issuer, "oci-1-1", &a),
        &cosign_verify_in(&sb, root, other, issuer, true, &a),
        "another identity",
    );
    let other_issuer = "https://token.actions.githubusercontent.com";
    refused_by_both(
        &lading_verify_in(&sb, root, IDENTITY, other_issuer, "oci-1-1", &a),
        &cosign_verify_in(&sb, root, IDENTITY, other_issuer, true, &a),
        "another issuer",
    );

    // A certificate that had expired when Rekor logged the envelope.
    let c = push_image(&sb, &reg.host, "c", "expired\n");
    assert_success(&sign(&c, "oci-1-1", &format!("{}/expired", local.url)));
    let ours = lading_verify_in(&sb, root, IDENTITY, issuer, "oci-1-1", &c);
    refused_by_both(
        &ours,
        &cosign_verify_in(&sb, root, IDENTITY, issuer, true, &c),
        "expired certificate",
    );
    assert!(
        stderr(&ours).contains("not valid when the signature was logged"),
        "{}",
        stderr(&ours)
    );

    // `a`'s bundle stored as a referrer of `d`: its statement names `a`.
    let d = push_image(&sb, &reg.host, "d", "moved\n");
    push_as_referrer(
        &sb,
        &reg.host,
        &digest_of(&d),
        referred_bundle(&reg.host, &digest_of(&a)),
        "moved",
    );
    let ours = lading_verify_in(&sb, root, IDENTITY, issuer, "oci-1-1", &d);
    refused_by_both(
        &ours,
        &cosign_verify_in(&sb, root, IDENTITY, issuer, true, &d),
        "a bundle for another digest",
    );
    assert!(stderr(&ours).contains(&digest_of(&a)), "{}", stderr(&ours));

    // `a`'s bundle with its envelope's statement changed (now naming `e`).
    let e = push_image(&sb, &reg.host, "e", "tampered\n");
    let mut tampered = bundle.clone();
    if let Content::DsseEnvelope(envelope) = &mut tampered.content {
        let text = String::from_utf8(envelope.payload.clone()).expect("utf-8");
        let (a_hex, e_hex) = (
            digest_of(&a).trim_start_matches("sha256:").to_string(),
            digest_of(&e).trim_start_matches("sha256:").to_string(),
        );
        assert!(text.contains(&a_hex), "{text}");
        envelope.payload = text.replace(&a_hex, &e_hex).into_bytes();
    }
    push_as_referrer(
        &sb,
        &reg.host,
        &digest_of(&e),
        tampered.to_json().expect("json"),
        "tampered",
    );
    let ours = lading_verify_in(&sb, root, IDENTITY, issuer, "oci-1-1", &e);
    refused_by_both(
        &ours,
        &cosign_verify_in(&sb, root, IDENTITY, issuer, true, &e),
        "a tampered envelope",
    );
    assert!(stderr(&ours).contains("payload hash"), "{}", stderr(&ours));
    // Without the log, the envelope's signature itself fails.
    let ours = lading(
        &sb,
        &[
            "verify",
            "--trusted-root",
            root.to_str().expect("utf-8"),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            issuer,
            "--insecure-ignore-tlog",
            "--registry-referrers-mode=oci-1-1",
            &e,
        ],
    );
    assert_eq!(code(&ours), Some(1), "{}", stderr(&ours));
    assert_no_token(&[&signed_a, &theirs_a, &ours_a], &token);
}

#[test]
fn lading_verifies_cosign_keyless_bundles() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "bundle by cosign\n");
    let token_file = sb.write("token", &local.token(IDENTITY));
    // cosign v3's defaults: a bundle referrer, services from the signing config.
    assert_success(&cosign(
        &sb,
        &[
            "sign",
            "-y",
            "--identity-token",
            token_file.to_str().expect("utf-8"),
            "--signing-config",
            local.signing_config.to_str().expect("utf-8"),
            "--trusted-root",
            local.trusted_root.to_str().expect("utf-8"),
            "--allow-http-registry",
            "--allow-insecure-registry",
            &image,
        ],
    ));
    let root = &local.trusted_root;
    let ours = lading_verify_in(&sb, root, IDENTITY, &local.issuer, "oci-1-1", &image);
    assert_success(&ours);
    assert!(
        stderr(&ours).contains(&format!("signed by {IDENTITY}")),
        "{}",
        stderr(&ours)
    );
    let other = "someone@example.com";
    let refused = lading_verify_in(&sb, root, other, &local.issuer, "oci-1-1", &image);
    assert_eq!(code(&refused), Some(1), "{}", stderr(&refused));
}

#[test]
fn key_bundles_in_the_transparency_log_verify_with_cosign_without_ignoring_it() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let local = LocalSigstore::start();
    let image = push_image(&sb, &reg.host, "1", "key bundle and log\n");
    let prefix = sb.path("cosign");
    assert_success(&lading(
        &sb,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().expect("utf-8"),
        ],
    ));
    let (key, public) = (sb.path("cosign.key"), sb.path("cosign.pub"));
    let root = local.trusted_root.to_str().expect("utf-8");
    assert_success(&lading(
        &sb,
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--rekor-url",
            &local.url,
            "--trusted-root",
            root,
            "--registry-referrers-mode=oci-1-1",
            &image,
        ],
    ));
    let bundle = Bundle::parse(&referred_bundle(
        &reg.host,
        image.split_once('@').expect("@").1,
    ))
    .expect("bundle");
    assert_eq!(bundle.verification_material.tlog_entries.len(), 1);
    let verify_key = |tool: &str, trusted_root: &str| {
        let mut args = vec![
            "verify",
            "--key",
            public.to_str().expect("utf-8"),
            "--trusted-root",
            trusted_root,
        ];
        if tool == "cosign" {
            args.extend([
                "--new-bundle-format=true",
                "--allow-http-registry",
                "--allow-insecure-registry",
            ]);
        } else {
            args.push("--registry-referrers-mode=oci-1-1");
        }
        args.push(&image);
        if tool == "cosign" {
            cosign(&sb, &args)
        } else {
            lading(&sb, &args)
        }
    };
    assert_success(&verify_key("cosign", root));
    assert_success(&verify_key("lading", root));
    // Another Sigstore's log key: the entry's SET does not verify, refused by both.
    let stranger = LocalSigstore::start();
    let other_root = stranger.trusted_root.to_str().expect("utf-8");
    assert!(!verify_key("cosign", other_root).status.success());
    assert_eq!(code(&verify_key("lading", other_root)), Some(1));
}

#[test]
fn the_local_rekor_logs_dsse_entries_as_rekor_does_and_refuses_forged_ones() {
    if !require(
        sigstore::available(),
        "node and @sigstore/mock in target/peers/sigstore-mock (scripts/install-peers)",
    ) {
        return;
    }
    use lading_signer::KeyPair;
    use lading_signer::constants::PAYLOAD_TYPE_IN_TOTO;
    use lading_signer::dsse::Envelope;
    use lading_signer::sigstore::{dsse_entry, rekor};

    let local = LocalSigstore::start();
    let http = reqwest::blocking::Client::new();
    let signer = KeyPair::generate().expect("key");
    let envelope = Envelope::sign(&signer, PAYLOAD_TYPE_IN_TOTO, b"{\"x\":1}").expect("sign");
    let pem = signer.public_key().expect("public").to_pem();

    let entry = rekor::upload(
        &http,
        &local.url,
        &dsse_entry::proposed(&envelope, &pem).expect("entry"),
    )
    .expect("logged");
    let body: serde_json::Value = serde_json::from_slice(&entry.body).expect("body");
    assert!(body["spec"].get("proposedContent").is_none(), "{body}");
    assert_eq!(
        body["spec"]["payloadHash"]["value"],
        Digest::of(b"{\"x\":1}").hex()
    );
    dsse_entry::check_body(
        &entry,
        &envelope,
        signer.public_key().expect("public").der(),
    )
    .expect("the body logs the envelope");

    // An envelope that does not verify with the verifier given is not logged.
    let stranger = KeyPair::generate()
        .expect("key")
        .public_key()
        .expect("public");
    let refused = rekor::upload(
        &http,
        &local.url,
        &dsse_entry::proposed(&envelope, &stranger.to_pem()).expect("entry"),
    );
    let message = refused.expect_err("a forged entry").to_string();
    assert!(message.contains("400"), "{message}");
}

/// Keyless signatures on docker-registry with TLS (a test CA) and htpasswd: lading signs
/// (both storages) and verifies, and cosign verifies each storage, with the registry's
/// CA and credentials given to each tool the way it takes them.
#[test]
fn keyless_signatures_on_a_tls_registry_with_htpasswd_verify_with_cosign_and_lading() {
    if !need_peers() || !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let (ca, cert, key) = make_ca(&sb);
    let users = htpasswd(&sb);
    let reg = Distribution::start(Some(Secured {
        cert: &cert,
        key: &key,
        htpasswd: &users,
    }));
    let ca_dir = ca.parent().expect("dir").to_str().expect("utf-8");
    let ca = ca.to_str().expect("utf-8");
    let registry_flags = ["--cert-dir", ca_dir, "--creds", "alice:pw"];
    let local = LocalSigstore::start();
    let token = local.token(IDENTITY);
    let root = local.trusted_root.to_str().expect("utf-8");

    let ctx = sb.path("ctx-tls");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), "keyless over TLS\n").expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let digest = sb.build_ok(&ctx, &["-t", "app:tls"]);
    let mut push = vec!["push", "app:tls"];
    let target = format!("docker://{}/app:tls", reg.host);
    push.push(&target);
    push.extend(registry_flags);
    assert_success(&sb.run(&push));
    let image = format!("{}/app@{digest}", reg.host);

    let mut sign = vec![
        "sign",
        "--identity-token",
        &token,
        "--fulcio-url",
        &local.url,
        "--rekor-url",
        &local.url,
        // Keyless attestations over TLS too, signed with the same certificate.
        "--attest",
        "slsaprovenance1",
    ];
    sign.extend(registry_flags);
    sign.push(&image);
    let signed = lading(&sb, &sign);
    assert_success(&signed);
    assert!(stdout(&signed).contains("bundle "), "{}", stdout(&signed));
    assert!(
        stdout(&signed).contains("(1 attestation(s))"),
        "{}",
        stdout(&signed)
    );
    assert!(
        stdout(&signed).contains("signature "),
        "{}",
        stdout(&signed)
    );

    let cosign_in = |bundles: bool, identity: &str| {
        cosign(
            &sb,
            &[
                "verify",
                "--trusted-root",
                root,
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                &local.issuer,
                &format!("--new-bundle-format={bundles}"),
                &format!("--registry-cacert={ca}"),
                "--registry-username=alice",
                "--registry-password=pw",
                &image,
            ],
        )
    };
    let lading_in = |mode: &str, identity: &str| {
        let mode = format!("--registry-referrers-mode={mode}");
        let mut args = vec![
            "verify",
            "--trusted-root",
            root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &local.issuer,
            &mode,
        ];
        args.extend(registry_flags);
        args.push(&image);
        lading(&sb, &args)
    };
    let cosign_attestation_in = |bundles: bool, identity: &str| {
        cosign(
            &sb,
            &[
                "verify-attestation",
                "--type",
                "slsaprovenance1",
                "--trusted-root",
                root,
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                &local.issuer,
                &format!("--new-bundle-format={bundles}"),
                &format!("--registry-cacert={ca}"),
                "--registry-username=alice",
                "--registry-password=pw",
                &image,
            ],
        )
    };
    let lading_attestation_in = |mode: &str, identity: &str| {
        let mode = format!("--registry-referrers-mode={mode}");
        let mut args = vec![
            "verify-attestation",
            "--type",
            "slsaprovenance1",
            "--trusted-root",
            root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &local.issuer,
            &mode,
        ];
        args.extend(registry_flags);
        args.push(&image);
        lading(&sb, &args)
    };
    for (bundles, mode) in [(true, "oci-1-1"), (false, "legacy")] {
        assert_success(&cosign_in(bundles, IDENTITY));
        let ours = lading_in(mode, IDENTITY);
        assert_success(&ours);
        refused_by_both(
            &lading_in(mode, "someone-else@example.com"),
            &cosign_in(bundles, "someone-else@example.com"),
            "wrong identity over TLS",
        );
        assert_success(&cosign_attestation_in(bundles, IDENTITY));
        let attested = lading_attestation_in(mode, IDENTITY);
        assert_success(&attested);
        refused_by_both(
            &lading_attestation_in(mode, "someone-else@example.com"),
            &cosign_attestation_in(bundles, "someone-else@example.com"),
            "wrong identity for an attestation over TLS",
        );
        assert_no_token(&[&signed, &ours, &attested], &token);
    }
}

/// Issue #10: keyless signing, keyless attesting and key signing logged in Rekor work on
/// a store reference (`app:1`) exactly as on a registry: the signatures, attestations
/// and their log entries go into the store, `lading verify`/`verify-attestation` check
/// them there (the transparency log included), and cosign checks them through
/// `lading serve`.
#[test]
fn keyless_and_logged_signatures_of_store_references_verify_with_lading_and_cosign() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let local = LocalSigstore::start();
    let build = |tag: &str, content: &str| {
        let ctx = sb.path(&format!("ctx-{}", tag.replace(':', "-")));
        std::fs::create_dir_all(&ctx).expect("ctx");
        std::fs::write(ctx.join("f"), content).expect("f");
        std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
        sb.build_ok(&ctx, &["-t", tag])
    };
    let keyless = build("app:1", "keyless in the store\n");
    let logged = build("logged:1", "key and log in the store\n");
    let token_file = sb.write("token", &local.token(IDENTITY));
    let token = token_file.to_str().expect("utf-8");
    let config = local.signing_config.to_str().expect("utf-8");
    let root = local.trusted_root.to_str().expect("utf-8");
    let store = sb.store().display().to_string();

    let signed = lading(
        &sb,
        &[
            "sign",
            "--identity-token",
            token,
            "--signing-config",
            config,
            "app:1",
        ],
    );
    assert_success(&signed);
    assert!(
        stderr(&signed).contains(&format!("app:1: using the store {store}: app@{keyless}")),
        "{}",
        stderr(&signed)
    );
    let attested = lading(
        &sb,
        &[
            "attest",
            "--identity-token",
            token,
            "--signing-config",
            config,
            "--trusted-root",
            root,
            "--type",
            "slsaprovenance1",
            "app:1",
        ],
    );
    assert_success(&attested);
    assert!(
        stderr(&attested).contains("using the store"),
        "{}",
        stderr(&attested)
    );
    let prefix = sb.path("cosign");
    assert_success(&lading(
        &sb,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().expect("utf-8"),
        ],
    ));
    let key = sb.path("cosign.key");
    let public = sb.path("cosign.pub");
    let public = public.to_str().expect("utf-8");
    assert_success(&lading(
        &sb,
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--rekor-url",
            &local.url,
            "--trusted-root",
            root,
            "logged:1",
        ],
    ));

    // lading, from the store.
    assert_success(&lading_verify_keyless(
        &sb,
        &local.trusted_root,
        IDENTITY,
        &local.issuer,
        "app:1",
    ));
    let attestation = |tool: &str, image: &str, identity: &str| {
        let mut args = vec![
            "verify-attestation",
            "--trusted-root",
            root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &local.issuer,
            "--type",
            "slsaprovenance1",
        ];
        if tool == "cosign" {
            args.extend(["--allow-http-registry", "--allow-insecure-registry", image]);
            cosign(&sb, &args)
        } else {
            args.push(image);
            lading(&sb, &args)
        }
    };
    assert_success(&attestation("lading", "app:1", IDENTITY));
    let other = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main";
    assert_eq!(code(&attestation("lading", "app:1", other)), Some(1));
    assert_eq!(
        code(&lading_verify_keyless(
            &sb,
            &local.trusted_root,
            other,
            &local.issuer,
            "app:1",
        )),
        Some(1)
    );
    let key_verify = lading(
        &sb,
        &[
            "verify",
            "--key",
            public,
            "--trusted-root",
            root,
            "logged:1",
        ],
    );
    assert_success(&key_verify);
    assert!(
        stderr(&key_verify).contains("transparency log entries checked"),
        "{}",
        stderr(&key_verify)
    );

    // cosign, through `lading serve`.
    let serve = LadingServe::start(&sb.store());
    let image = format!("{}/app@{keyless}", serve.host);
    assert_success(&cosign_verify_keyless(
        &sb,
        &local.trusted_root,
        IDENTITY,
        &local.issuer,
        &image,
    ));
    assert_success(&attestation("cosign", &image, IDENTITY));
    refused_by_both(
        &lading_verify_keyless(&sb, &local.trusted_root, other, &local.issuer, &image),
        &cosign_verify_keyless(&sb, &local.trusted_root, other, &local.issuer, &image),
        "another identity",
    );
    let logged_image = format!("{}/logged@{logged}", serve.host);
    assert_success(&cosign(
        &sb,
        &[
            "verify",
            "--key",
            public,
            "--trusted-root",
            root,
            "--allow-http-registry",
            "--allow-insecure-registry",
            &logged_image,
        ],
    ));
}
