//! Sigstore bundles as OCI 1.1 referrers (`lading sign --registry-referrers-mode
//! legacy|oci-1-1|both`) against real cosign v3.1.3 and the ORAS CLI as oracles, on
//! Debian's `docker-registry` (distribution 2.8: no referrers API, so the referrers tag
//! schema `sha256-<hex>`) with TLS and htpasswd, and on `lading serve` (the referrers
//! API). What lading stores in each mode, cosign verifies; what cosign v3 signs by
//! default, lading verifies; forged bundles are refused by both.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{Distribution, LadingServe, Secured, htpasswd, make_ca};
use common::signing::{
    code, cosign, cosign_path, lading, lading_keys, need_peers, push_image_with,
};
use common::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};
use lading_oci::constants::MEDIA_TYPE_INDEX;
use lading_oci::{Descriptor, Digest, Store};
use lading_signer::KeyPair;
use lading_signer::constants::{
    ANNOTATION_BUNDLE_CONTENT, ANNOTATION_BUNDLE_PREDICATE_TYPE, MEDIA_TYPE_BUNDLE_V03,
    PREDICATE_COSIGN_SIGN,
};
use lading_signer::sigstore::bundle::Content;
use lading_signer::sigstore::{image_signature, referrer};

/// A registry under test and the flags lading and cosign need to reach it.
struct Target {
    host: String,
    lading_flags: Vec<String>,
    cosign_flags: Vec<String>,
    oras_flags: Vec<String>,
}

impl Target {
    /// Plain HTTP on 127.0.0.1.
    fn plain(host: &str) -> Target {
        Target {
            host: host.to_string(),
            lading_flags: Vec::new(),
            cosign_flags: vec![
                "--allow-http-registry=true".into(),
                "--allow-insecure-registry".into(),
            ],
            oras_flags: vec!["--plain-http".into()],
        }
    }

    /// TLS with the test CA and htpasswd user `alice:pw`.
    fn secured(host: &str, ca: &Path) -> Target {
        let ca_dir = ca
            .parent()
            .expect("dir")
            .to_str()
            .expect("utf-8")
            .to_string();
        let ca = ca.to_str().expect("utf-8").to_string();
        let user = |flag: &str| vec![flag.to_string()];
        Target {
            host: host.to_string(),
            lading_flags: vec![
                "--cert-dir".into(),
                ca_dir,
                "--creds".into(),
                "alice:pw".into(),
            ],
            cosign_flags: [
                user("--registry-cacert"),
                vec![ca.clone()],
                user("--registry-username=alice"),
                user("--registry-password=pw"),
            ]
            .concat(),
            oras_flags: vec![
                "--ca-file".into(),
                ca,
                "-u".into(),
                "alice".into(),
                "-p".into(),
                "pw".into(),
            ],
        }
    }

    fn lading_flags(&self) -> Vec<&str> {
        self.lading_flags.iter().map(String::as_str).collect()
    }

    fn image(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.host)
    }
}

/// `oras --distribution-spec` values: read only the referrers tag schema, or only the API.
const TAG_SCHEMA: &str = "v1.1-referrers-tag";
const REFERRERS_API: &str = "v1.1-referrers-api";

fn oras_path() -> PathBuf {
    cosign_path().with_file_name("oras")
}

fn need_all() -> bool {
    need_peers()
        && require(
            oras_path().is_file(),
            "oras (GOBIN=$PWD/target/peers/go/bin go install oras.land/oras/cmd/oras@v1.3.6)",
        )
        && require_tool("openssl")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// `lading sign --key KEY --tlog-upload=false [--registry-referrers-mode MODE] IMAGE`.
fn sign(sb: &Sandbox, t: &Target, key: &Path, mode: Option<&str>, image: &str) -> Output {
    let image = format!("docker://{image}");
    let mut args = vec!["sign", "--key", s(key), "--tlog-upload=false"];
    if let Some(m) = mode {
        args.extend(["--registry-referrers-mode", m]);
    }
    args.extend(t.lading_flags());
    args.push(&image);
    lading(sb, None, &args)
}

/// `lading verify --key KEY --insecure-ignore-tlog [--registry-referrers-mode MODE] IMAGE`.
fn verify(sb: &Sandbox, t: &Target, key: &Path, mode: Option<&str>, image: &str) -> Output {
    let image = format!("docker://{image}");
    let mut args = vec!["verify", "--key", s(key), "--insecure-ignore-tlog"];
    if let Some(m) = mode {
        args.extend(["--registry-referrers-mode", m]);
    }
    args.extend(t.lading_flags());
    args.push(&image);
    lading(sb, None, &args)
}

/// `cosign verify --key KEY --insecure-ignore-tlog` reading bundles (cosign v3's default)
/// or, with `new_bundle_format` false, the legacy `.sig` tag only.
fn cosign_verify(
    sb: &Sandbox,
    t: &Target,
    key: &Path,
    new_bundle_format: bool,
    image: &str,
) -> Output {
    let format = format!("--new-bundle-format={new_bundle_format}");
    let mut args = vec![
        "verify",
        "--key",
        s(key),
        "--insecure-ignore-tlog=true",
        &format,
    ];
    args.extend(t.cosign_flags.iter().map(String::as_str));
    args.push(image);
    cosign(sb, "", &args)
}

/// `oras discover --format json --artifact-type BUNDLE --distribution-spec SPEC IMAGE`:
/// the bundle referrers ORAS finds through the referrers API (`v1.1-referrers-api`) or
/// the referrers tag schema (`v1.1-referrers-tag`).
fn oras_discover(t: &Target, spec: &str, image: &str) -> Vec<serde_json::Value> {
    let out = run(Command::new(oras_path())
        .args([
            "discover",
            "--format",
            "json",
            "--artifact-type",
            MEDIA_TYPE_BUNDLE_V03,
            "--distribution-spec",
            spec,
        ])
        .args(&t.oras_flags)
        .arg(image));
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("oras json");
    v["referrers"].as_array().cloned().unwrap_or_default()
}

/// The repository's tags, as `lading tags` lists them.
fn tags(sb: &Sandbox, t: &Target, repo: &str) -> Vec<String> {
    let repository = format!("docker://{}/{repo}", t.host);
    let mut args = vec!["tags"];
    args.extend(t.lading_flags());
    args.push(&repository);
    let out = sb.run(&args);
    assert_success(&out);
    stdout(&out).lines().map(str::to_string).collect()
}

fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// Asserts success and that stderr says `what`.
fn assert_says(o: &Output, what: &str) {
    assert_success(o);
    assert!(
        stderr(o).contains(what),
        "expected {what:?} in:\n{}",
        stderr(o)
    );
}

/// Asserts that cosign refused, saying `reason`.
fn assert_cosign_refused(o: &Output, why: &str, reason: &str) {
    assert!(
        !o.status.success() && stderr(o).contains(reason),
        "{why}: cosign did not refuse with {reason:?}:\n{}{}",
        stdout(o),
        stderr(o)
    );
}

#[test]
fn each_mode_stores_what_cosign_verifies_on_distribution_with_tls_and_htpasswd() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let (ca, cert, server_key) = make_ca(&sb);
    let users = htpasswd(&sb);
    let reg = Distribution::start(Some(Secured {
        cert: &cert,
        key: &server_key,
        htpasswd: &users,
    }));
    let t = Target::secured(&reg.host, &ca);
    let (key, public, _) = lading_keys(&sb, "k", None);
    let push = |tag: &str| push_image_with(&sb, &t.host, "app", tag, tag, &t.lading_flags());
    let bundle_only = push("oci");
    let legacy_only = push("legacy");
    let both = push("both");

    // oci-1-1: a bundle referrer, listed in the referrers tag (no API here), no `.sig`.
    let signed = sign(
        &sb,
        &t,
        &key,
        Some("oci-1-1"),
        &format!("{}/app:oci", t.host),
    );
    assert_success(&signed);
    assert!(stdout(&signed).contains("bundle "), "{}", stdout(&signed));
    let image = t.image("app", &bundle_only);
    assert_success(&cosign_verify(&sb, &t, &public, true, &image));
    assert_cosign_refused(
        &cosign_verify(&sb, &t, &public, false, &image),
        "no .sig in oci-1-1 mode",
        "no signatures found",
    );
    assert_says(
        &verify(&sb, &t, &public, None, &image),
        "OCI 1.1 referrers (referrers tag schema): 1 valid bundle(s)",
    );
    assert_eq!(
        code(&verify(&sb, &t, &public, Some("legacy"), &image)),
        Some(1)
    );
    // What ORAS finds through the tag schema is cosign's referrer shape.
    let found = oras_discover(&t, TAG_SCHEMA, &image);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["artifactType"], MEDIA_TYPE_BUNDLE_V03);
    assert_eq!(
        found[0]["annotations"][ANNOTATION_BUNDLE_PREDICATE_TYPE],
        PREDICATE_COSIGN_SIGN
    );
    assert_eq!(
        found[0]["annotations"][ANNOTATION_BUNDLE_CONTENT],
        "dsse-envelope"
    );

    // legacy: only `.sig`; cosign finds no bundle and reads the legacy tag.
    assert_success(&sign(
        &sb,
        &t,
        &key,
        Some("legacy"),
        &format!("{}/app:legacy", t.host),
    ));
    let image = t.image("app", &legacy_only);
    assert_success(&cosign_verify(&sb, &t, &public, false, &image));
    assert_success(&cosign_verify(&sb, &t, &public, true, &image));
    assert_says(
        &verify(&sb, &t, &public, None, &image),
        "valid with the key",
    );
    assert_eq!(
        code(&verify(&sb, &t, &public, Some("oci-1-1"), &image)),
        Some(1)
    );
    assert!(oras_discover(&t, TAG_SCHEMA, &image).is_empty());

    // both (the default): each storage verifies on its own, by cosign and by lading.
    assert_success(&sign(&sb, &t, &key, None, &format!("{}/app:both", t.host)));
    let image = t.image("app", &both);
    assert_success(&cosign_verify(&sb, &t, &public, true, &image));
    assert_success(&cosign_verify(&sb, &t, &public, false, &image));
    let verified = verify(&sb, &t, &public, None, &image);
    assert_says(&verified, "in oci-1-1 bundle and legacy");
    let payloads: serde_json::Value = serde_json::from_str(&stdout(&verified)).expect("json");
    let types: Vec<&str> = payloads
        .as_array()
        .expect("array")
        .iter()
        .map(|p| {
            assert_eq!(
                p["critical"]["image"]["docker-manifest-digest"],
                both.as_str()
            );
            p["critical"]["type"].as_str().expect("type")
        })
        .collect();
    assert_eq!(
        types,
        [PREDICATE_COSIGN_SIGN, "cosign container image signature"]
    );
    for mode in ["oci-1-1", "legacy"] {
        assert_success(&verify(&sb, &t, &public, Some(mode), &image));
    }

    let tags = tags(&sb, &t, "app");
    for (digest, bundle, sig) in [
        (&bundle_only, true, false),
        (&legacy_only, false, true),
        (&both, true, true),
    ] {
        let tag = format!("sha256-{}", hex_of(digest));
        assert_eq!(tags.contains(&tag), bundle, "{tag} in {tags:?}");
        assert_eq!(
            tags.contains(&format!("{tag}.sig")),
            sig,
            "{tag}.sig in {tags:?}"
        );
    }
}

#[test]
fn lading_serve_lists_bundle_referrers_through_its_api() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), "served\n").expect("f");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    let digest = sb.build_ok(&ctx, &["-t", "app:1"]);
    let serve = LadingServe::start(&sb.store());
    let t = Target::plain(&serve.host);
    let (key, public, _) = lading_keys(&sb, "k", None);
    assert_success(&sign(&sb, &t, &key, None, &format!("{}/app:1", t.host)));
    let image = t.image("app", &digest);

    // The server answered OCI-Subject, so no referrers tag was written.
    let tags = tags(&sb, &t, "app");
    assert!(
        !tags.contains(&format!("sha256-{}", hex_of(&digest))),
        "{tags:?}"
    );
    let found = oras_discover(&t, REFERRERS_API, &image);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["artifactType"], MEDIA_TYPE_BUNDLE_V03);
    assert_eq!(
        found[0]["annotations"][ANNOTATION_BUNDLE_PREDICATE_TYPE],
        PREDICATE_COSIGN_SIGN
    );

    // Pushing the referrer again (as received) is answered with its subject.
    if require_tool("curl") {
        let referrer = found[0]["digest"].as_str().expect("digest");
        let manifest = run(Command::new(cosign_path().with_file_name("crane")).args([
            "manifest",
            "--insecure",
            &t.image("app", referrer),
        ]));
        assert_success(&manifest);
        let file = sb.path("referrer.json");
        std::fs::write(&file, &manifest.stdout).expect("write");
        let put = run(Command::new("curl")
            .args(["-sS", "-D", "-", "-o", "/dev/null", "-X", "PUT", "-H"])
            .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("http://{}/v2/app/manifests/{referrer}", t.host)));
        assert_success(&put);
        let headers = stdout(&put).to_ascii_lowercase();
        assert!(
            headers.contains(&format!("oci-subject: {digest}")),
            "{headers}"
        );
    }

    assert_success(&cosign_verify(&sb, &t, &public, true, &image));
    assert_success(&cosign_verify(&sb, &t, &public, false, &image));
    assert_says(
        &verify(&sb, &t, &public, Some("oci-1-1"), &image),
        "OCI 1.1 referrers (referrers API): 1 valid bundle(s)",
    );
}

/// `crane ARGS --insecure` output.
fn crane(args: &[&str]) -> Vec<u8> {
    let out = run(Command::new(cosign_path().with_file_name("crane"))
        .args(args)
        .arg("--insecure"));
    assert_success(&out);
    out.stdout
}

/// The referrer cosign pushed for `image` is byte for byte what lading builds from the
/// same bundle, subject and time.
fn assert_builds_cosigns_referrer(t: &Target, spec: &str, image: &str) {
    let found = oras_discover(t, spec, image);
    assert_eq!(found.len(), 1, "{found:?}");
    let at = t.image("app", found[0]["digest"].as_str().expect("digest"));
    let theirs = crane(&["manifest", &at]);
    let m: serde_json::Value = serde_json::from_slice(&theirs).expect("json");
    let layer = m["layers"][0]["digest"].as_str().expect("layer");
    let bundle = crane(&["blob", &format!("{}/app@{layer}", t.host)]);
    let subject: Descriptor = serde_json::from_value(m["subject"].clone()).expect("subject");
    let ours = referrer::build(
        bundle,
        PREDICATE_COSIGN_SIGN,
        &subject,
        m["annotations"]["org.opencontainers.image.created"]
            .as_str()
            .expect("created"),
    )
    .expect("build");
    assert_eq!(
        String::from_utf8(ours.manifest).expect("utf-8"),
        String::from_utf8(theirs).expect("utf-8")
    );
}

#[test]
fn lading_verifies_what_cosign_v3_signed_by_default() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let password = "cosign-pass-42";
    assert_success(&cosign(&sb, password, &["generate-key-pair"]));
    let key = sb.path("cosign.key");
    let public = sb.path("cosign.pub");

    let reg = Distribution::start(None);
    let store_dir = sb.path("served");
    let serve = LadingServe::start(&store_dir);
    for (i, (t, how, spec)) in [
        (Target::plain(&reg.host), "referrers tag schema", TAG_SCHEMA),
        (Target::plain(&serve.host), "referrers API", REFERRERS_API),
    ]
    .into_iter()
    .enumerate()
    {
        let digest = push_image_with(&sb, &t.host, "app", &i.to_string(), &t.host, &[]);
        let image = t.image("app", &digest);
        let mut args = vec![
            "sign",
            "--key",
            s(&key),
            "--tlog-upload=false",
            "--use-signing-config=false",
            "-y",
        ];
        args.extend(t.cosign_flags.iter().map(String::as_str));
        args.push(&image);
        assert_success(&cosign(&sb, password, &args));
        assert_builds_cosigns_referrer(&t, spec, &image);

        assert_says(
            &verify(&sb, &t, &public, None, &image),
            &format!("OCI 1.1 referrers ({how}): 1 valid bundle(s)"),
        );
        // cosign v3 wrote a bundle only.
        assert_eq!(
            code(&verify(&sb, &t, &public, Some("legacy"), &image)),
            Some(1)
        );
        let (_, stranger, _) = lading_keys(&sb, &format!("stranger-{i}"), None);
        assert_eq!(code(&verify(&sb, &t, &stranger, None, &image)), Some(1));
    }
}

/// Pushes a referrer built here (a forged one) to `host/app:tag` through `lading cp` from
/// an OCI layout; the registry client lists it under its subject as for any referrer.
fn push_referrer(sb: &Sandbox, t: &Target, tag: &str, built: &referrer::BundleReferrer) {
    let dir = sb.path(&format!("forged-{tag}"));
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
    let mut args = vec!["cp".to_string()];
    args.extend(t.lading_flags.iter().cloned());
    args.push(format!("oci:{}:forged", dir.display()));
    args.push(format!("docker://{}/app:{tag}", t.host));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_success(&sb.run(&args));
}

/// The descriptor of `host/app@digest` as a subject (crane reads the manifest).
fn subject(t: &Target, digest: &Digest) -> Descriptor {
    let manifest = crane(&["manifest", &t.image("app", &digest.to_string())]);
    let json: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
    let media_type = json["mediaType"].as_str().expect("mediaType");
    Descriptor::new(media_type, digest.clone(), manifest.len() as u64)
}

/// sigstore-go's refusal of a DSSE envelope whose signature does not verify.
const NO_VALID_SIGNATURE: &str = "accepted signatures do not match threshold";

#[test]
fn forged_bundles_are_refused_by_lading_and_by_cosign() {
    if !need_all() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Distribution::start(None);
    let t = Target::plain(&reg.host);
    let (key, public, _) = lading_keys(&sb, "k", None);
    let (_, stranger, _) = lading_keys(&sb, "stranger", None);
    let pair = KeyPair::from_pem(&std::fs::read_to_string(&key).expect("key"), None).expect("pair");
    let push = |tag: &str| -> Digest {
        push_image_with(&sb, &t.host, "app", tag, tag, &[])
            .parse()
            .expect("digest")
    };
    let (a, b, c, d) = (push("a"), push("b"), push("c"), push("d"));
    let refused = |digest: &Digest, public: &Path, why: &str, cosign_says: &str| {
        let image = t.image("app", &digest.to_string());
        let ours = verify(&sb, &t, public, Some("oci-1-1"), &image);
        assert_eq!(
            code(&ours),
            Some(1),
            "{why}: lading verify:\n{}{}",
            stdout(&ours),
            stderr(&ours)
        );
        assert_cosign_refused(
            &cosign_verify(&sb, &t, public, true, &image),
            why,
            cosign_says,
        );
        ours
    };

    // A good bundle of `a`, checked with another key.
    assert_success(&sign(
        &sb,
        &t,
        &key,
        Some("oci-1-1"),
        &t.image("app", &a.to_string()),
    ));
    assert_success(&cosign_verify(
        &sb,
        &t,
        &public,
        true,
        &t.image("app", &a.to_string()),
    ));
    refused(&a, &stranger, "wrong key", NO_VALID_SIGNATURE);

    // `a`'s bundle copied to a referrer of `b`: the statement still names `a`.
    let for_a = image_signature::sign_bundle(&pair, &a).expect("sign");
    let copied = referrer::build(
        for_a.to_json().expect("json"),
        PREDICATE_COSIGN_SIGN,
        &subject(&t, &b),
        "2026-01-01T00:00:00Z",
    )
    .expect("build");
    push_referrer(&sb, &t, "copied", &copied);
    assert_eq!(
        oras_discover(&t, TAG_SCHEMA, &t.image("app", &b.to_string())).len(),
        1
    );
    let ours = refused(
        &b,
        &public,
        "bundle for another digest",
        "provided artifact digest does not match any digest in statement",
    );
    assert!(stderr(&ours).contains(&a.to_string()), "{}", stderr(&ours));

    // A bundle for `c` whose signature was swapped for a valid signature of other bytes.
    let mut tampered = image_signature::sign_bundle(&pair, &c).expect("sign");
    let other = image_signature::sign_bundle(&pair, &a).expect("sign");
    if let (Content::DsseEnvelope(e), Content::DsseEnvelope(o)) =
        (&mut tampered.content, &other.content)
    {
        e.signatures[0].sig = o.signatures[0].sig.clone();
    }
    let forged = referrer::build(
        tampered.to_json().expect("json"),
        PREDICATE_COSIGN_SIGN,
        &subject(&t, &c),
        "2026-01-01T00:00:00Z",
    )
    .expect("build");
    push_referrer(&sb, &t, "tampered", &forged);
    let ours = refused(&c, &public, "tampered bundle signature", NO_VALID_SIGNATURE);
    assert!(
        stderr(&ours).contains("does not match"),
        "{}",
        stderr(&ours)
    );

    // The referrers tag of `d` rewritten to list `a`'s valid bundle referrer.
    if require_tool("curl") {
        let a_bundle = &oras_discover(&t, TAG_SCHEMA, &t.image("app", &a.to_string()))[0];
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [{
                "mediaType": a_bundle["mediaType"],
                "digest": a_bundle["digest"],
                "size": a_bundle["size"],
                "artifactType": a_bundle["artifactType"],
            }],
        });
        let file = sb.write("tampered-index.json", &index.to_string());
        let put = run(Command::new("curl")
            .args(["-sS", "--fail", "-X", "PUT", "-H"])
            .arg(format!("Content-Type: {MEDIA_TYPE_INDEX}"))
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!(
                "http://{}/v2/app/manifests/sha256-{}",
                t.host,
                d.hex()
            )));
        assert_success(&put);
        refused(
            &d,
            &public,
            "referrers tag listing another image's bundle",
            "provided artifact digest does not match any digest in statement",
        );
    }
}
