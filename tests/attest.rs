//! `lading attest` and `lading verify-attestation` against real cosign (v3, built into
//! `target/peers/go/bin`) as the oracle, on real registries: Debian's `docker-registry`
//! (CNCF distribution 2.8) started here on 127.0.0.1, with TLS and htpasswd or plain,
//! and `lading serve`. Attestations are cosign's legacy ones (a DSSE envelope over an
//! in-toto statement, one layer of the `sha256-<hex>.att` manifest, key-based, no
//! transparency log): what lading attests, cosign verifies; what cosign attests, lading
//! verifies; what either must refuse, both refuse.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{Distribution, LadingServe, Secured, htpasswd, make_ca};
use common::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};
use lading_oci::{Descriptor, Digest, Store};
use lading_signer::attestation::attestation_tag;
use lading_signer::constants::{
    ANNOTATION_BUNDLE_CONTENT, ANNOTATION_BUNDLE_PREDICATE_TYPE, MEDIA_TYPE_BUNDLE_V03,
};
use lading_signer::constants::{
    ANNOTATION_PREDICATE_TYPE, ANNOTATION_SIGNATURE, MEDIA_TYPE_DSSE_ENVELOPE, PREDICATE_BUILD_LOG,
    PREDICATE_CUSTOM, PREDICATE_CYCLONEDX, PREDICATE_SLSA_PROVENANCE_V1, PREDICATE_SPDX,
    PREDICATE_VULN,
};
use lading_signer::cosign;
use lading_signer::dsse::Envelope;
use lading_signer::intoto::Statement;
use lading_signer::sigstore::bundle::{Bundle, Content};
use lading_signer::sigstore::{dsse_bundle, referrer};
use serde_json::Value;

/// The cosign built for the peer tests.
fn cosign_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin/cosign")
}

fn crane_path() -> PathBuf {
    cosign_path().with_file_name("crane")
}

fn need_peers() -> bool {
    require(
        crane_path().is_file(),
        "crane (GOBIN=$PWD/target/peers/go/bin go install github.com/google/go-containerregistry/cmd/crane)",
    ) && require(
        cosign_path().is_file(),
        "cosign (GOBIN=$PWD/target/peers/go/bin go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3)",
    ) && require_tool("docker-registry")
}

/// A registry and the flags lading and cosign need to reach it.
struct Registry {
    host: String,
    lading_flags: Vec<String>,
    cosign_flags: Vec<String>,
    crane_flags: Vec<String>,
    _distribution: Option<Distribution>,
    _serve: Option<LadingServe>,
}

impl Registry {
    /// docker-registry over plain HTTP.
    fn plain() -> Registry {
        let d = Distribution::start(None);
        Registry {
            host: d.host.clone(),
            lading_flags: Vec::new(),
            cosign_flags: vec![
                "--allow-http-registry".into(),
                "--allow-insecure-registry".into(),
            ],
            crane_flags: vec!["--insecure".into()],
            _distribution: Some(d),
            _serve: None,
        }
    }

    /// docker-registry with TLS (a test CA) and htpasswd (`alice:pw`).
    fn secured(sb: &Sandbox) -> Registry {
        let (ca, cert, key) = make_ca(sb);
        let users = htpasswd(sb);
        let d = Distribution::start(Some(Secured {
            cert: &cert,
            key: &key,
            htpasswd: &users,
        }));
        let ca = ca.to_str().expect("utf-8").to_string();
        let ca_dir = Path::new(&ca).parent().expect("dir").display().to_string();
        Registry {
            host: d.host.clone(),
            lading_flags: vec![
                "--cert-dir".into(),
                ca_dir,
                "--creds".into(),
                "alice:pw".into(),
            ],
            cosign_flags: vec![
                format!("--registry-cacert={ca}"),
                "--registry-username=alice".into(),
                "--registry-password=pw".into(),
            ],
            // crane reads SSL_CERT_FILE and the docker config; it is only used unsecured.
            crane_flags: Vec::new(),
            _distribution: Some(d),
            _serve: None,
        }
    }

    /// `lading serve` on the sandbox's store.
    fn serve(sb: &Sandbox) -> Registry {
        let s = LadingServe::start(&sb.store());
        Registry {
            host: s.host.clone(),
            lading_flags: Vec::new(),
            cosign_flags: vec![
                "--allow-http-registry".into(),
                "--allow-insecure-registry".into(),
            ],
            crane_flags: vec!["--insecure".into()],
            _distribution: None,
            _serve: Some(s),
        }
    }
}

/// `cosign ARGS` with a private HOME and `COSIGN_PASSWORD` = `password`.
fn cosign(sb: &Sandbox, password: &str, args: &[&str]) -> Output {
    let home = sb.path("cosign-home");
    std::fs::create_dir_all(&home).expect("home");
    run(Command::new(cosign_path())
        .args(args)
        .current_dir(sb.dir.path())
        .env("HOME", &home)
        .env("COSIGN_PASSWORD", password)
        .env("SIGSTORE_NO_CACHE", "true"))
}

/// `cosign verify-attestation --key KEY --type TYPE --new-bundle-format=false IMAGE`:
/// the legacy `.att` tag only.
fn cosign_verify(sb: &Sandbox, reg: &Registry, key: &Path, kind: &str, image: &str) -> Output {
    cosign_verify_format(sb, reg, key, kind, false, image)
}

/// `cosign verify-attestation --key KEY --type TYPE --new-bundle-format=BOOL IMAGE`: with
/// true (cosign v3's default), the bundle referrers when the image has any.
fn cosign_verify_format(
    sb: &Sandbox,
    reg: &Registry,
    key: &Path,
    kind: &str,
    new_bundle_format: bool,
    image: &str,
) -> Output {
    let format = format!("--new-bundle-format={new_bundle_format}");
    let mut args = vec![
        "verify-attestation",
        "--key",
        key.to_str().expect("utf-8"),
        "--insecure-ignore-tlog=true",
        "--type",
        kind,
        &format,
    ];
    args.extend(reg.cosign_flags.iter().map(String::as_str));
    args.push(image);
    cosign(sb, "", &args)
}

/// `cosign attest --key KEY --type TYPE --predicate FILE IMAGE`, legacy storage.
fn cosign_attest(
    sb: &Sandbox,
    reg: &Registry,
    password: &str,
    key: &Path,
    kind: &str,
    predicate: &Path,
    image: &str,
) {
    let mut args = vec![
        "attest",
        "--key",
        key.to_str().expect("utf-8"),
        "--type",
        kind,
        "--predicate",
        predicate.to_str().expect("utf-8"),
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--new-bundle-format=false",
        "-y",
    ];
    args.extend(reg.cosign_flags.iter().map(String::as_str));
    args.push(image);
    assert_success(&cosign(sb, password, &args));
}

/// `lading ARGS` in the sandbox, with the password variables set only as given.
fn lading(sb: &Sandbox, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = sb.lading(args);
    cmd.current_dir(sb.dir.path())
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    if let Some(p) = password {
        cmd.env("LADING_PASSWORD", p);
    }
    run(&mut cmd)
}

/// The storage flag of a helper call: the tests of the legacy `.att` tag pass none and get
/// `legacy`; the others name their mode in `extra`.
fn mode_flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    if extra.contains(&"--registry-referrers-mode") {
        extra.to_vec()
    } else {
        [&["--registry-referrers-mode", "legacy"][..], extra].concat()
    }
}

/// `lading attest --key KEY --type TYPE --predicate FILE --tlog-upload=false IMAGE EXTRA`
/// (legacy storage unless EXTRA names a mode).
#[allow(clippy::too_many_arguments)]
fn lading_attest(
    sb: &Sandbox,
    reg: &Registry,
    password: Option<&str>,
    key: &Path,
    kind: &str,
    predicate: &Path,
    image: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "attest",
        "--key",
        key.to_str().expect("utf-8"),
        "--type",
        kind,
        "--predicate",
        predicate.to_str().expect("utf-8"),
        "--tlog-upload=false",
    ];
    args.extend(reg.lading_flags.iter().map(String::as_str));
    args.extend(mode_flags(extra));
    args.push(image);
    lading(sb, password, &args)
}

/// `lading verify-attestation --key KEY --type TYPE --insecure-ignore-tlog IMAGE EXTRA`
/// (legacy storage unless EXTRA names a mode).
fn lading_verify(
    sb: &Sandbox,
    reg: &Registry,
    key: &Path,
    kind: &str,
    image: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "verify-attestation",
        "--key",
        key.to_str().expect("utf-8"),
        "--type",
        kind,
        "--insecure-ignore-tlog",
    ];
    args.extend(reg.lading_flags.iter().map(String::as_str));
    args.extend(mode_flags(extra));
    args.push(image);
    lading(sb, None, &args)
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// The statements of the envelopes a verifier printed, one JSON envelope a line.
fn statements(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let env = Envelope::parse(l.as_bytes()).expect("envelope");
            serde_json::from_slice(&env.payload).expect("statement")
        })
        .collect()
}

/// Generates a lading key pair in a fresh directory of the sandbox; returns (key, pub).
fn lading_keys(sb: &Sandbox, name: &str, password: Option<&str>) -> (PathBuf, PathBuf) {
    let dir = sb.path(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let prefix = dir.join("cosign");
    assert_success(&lading(
        sb,
        password,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().expect("utf-8"),
        ],
    ));
    (dir.join("cosign.key"), dir.join("cosign.pub"))
}

/// Builds a one-file `FROM scratch` image whose file holds `content` as `tag` in the
/// store and returns its digest.
fn build_image(sb: &Sandbox, tag: &str, content: &str) -> Digest {
    let ctx = sb.path(&format!("ctx-{}", tag.replace(':', "-")));
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("f"), content).expect("file");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").expect("df");
    sb.build_ok(&ctx, &["-t", tag]).parse().expect("digest")
}

/// Pushes the store's `local` image to `host/repo:tag`.
fn push(sb: &Sandbox, reg: &Registry, local: &str, dest: &str) {
    let mut args = vec!["push"];
    args.extend(reg.lading_flags.iter().map(String::as_str));
    args.extend([local, dest]);
    assert_success(&sb.run(&args));
}

/// `crane WHAT REF` (manifest, config, blob) on a plain-HTTP registry.
fn crane(reg: &Registry, what: &str, reference: &str) -> Vec<u8> {
    let out = run(Command::new(crane_path())
        .arg(what)
        .args(&reg.crane_flags)
        .arg(reference));
    assert_success(&out);
    out.stdout
}

/// The `.att` manifest of `digest` in `host/repo`, as JSON.
fn att_manifest(reg: &Registry, repo: &str, digest: &Digest) -> Value {
    let tag = format!("{}/{repo}:{}", reg.host, attestation_tag(digest));
    serde_json::from_slice(&crane(reg, "manifest", &tag)).expect("manifest")
}

/// A SLSA provenance v1 predicate naming `builder` and recording gate `verdict`.
fn provenance(builder: &str, verdict: &str) -> Value {
    serde_json::json!({
        "buildDefinition": {
            "buildType": "https://lading.dev/build/v1",
            "externalParameters": {"dockerfile": "Dockerfile"},
            "resolvedDependencies": []
        },
        "runDetails": {
            "builder": {"id": builder},
            "metadata": {"invocationId": "test"},
            "byproducts": [
                {"name": "lading-gates", "annotations": {"verdict": verdict}}
            ]
        }
    })
}

/// The base64 lines of a PEM file (its body), for leak checks.
fn pem_body_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("pem")
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

/// A `FROM scratch` image of hand-written Python and npm package metadata (versions with
/// known advisories in `tests/fixtures/osv`): its SBOMs and scan are real documents.
fn packaged_image(sb: &Sandbox) -> Digest {
    sb.write(
        "pkgs/site/requests-2.19.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n",
    );
    sb.write(
        "pkgs/site/urllib3-1.24.2.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.24.2\n",
    );
    sb.write(
        "pkgs/nm/minimist/package.json",
        r#"{"name":"minimist","version":"1.2.0"}"#,
    );
    sb.write(
        "pkgs/Dockerfile",
        "FROM scratch\nCOPY site /usr/lib/python3/dist-packages/\nCOPY nm /app/node_modules/\n",
    );
    sb.build_ok(&sb.path("pkgs"), &["-t", "pkgs:1"])
        .parse()
        .expect("digest")
}

/// `lading sbom` and `lading scan` documents of `pkgs:1`, and a provenance and a
/// free-text file: (type name, predicate URI, file).
fn predicate_files(sb: &Sandbox) -> Vec<(&'static str, &'static str, PathBuf)> {
    let sbom = |format: &str| {
        let path = sb.path(&format!("sbom.{format}.json"));
        assert_success(&sb.run(&[
            "sbom",
            "pkgs:1",
            "--format",
            format,
            "-o",
            path.to_str().expect("utf-8"),
        ]));
        path
    };
    let cyclonedx = sbom("cyclonedx");
    let spdx = sbom("spdx");
    let db = sb.path("db");
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    assert_success(&sb.run(&[
        "db",
        "--db",
        db.to_str().expect("utf-8"),
        "import",
        osv.to_str().expect("utf-8"),
    ]));
    let scan = sb.run(&[
        "scan",
        "pkgs:1",
        "--db",
        db.to_str().expect("utf-8"),
        "--no-external",
        "--format",
        "cosign-vuln",
    ]);
    let vuln_doc: Value = serde_json::from_slice(&scan.stdout)
        .unwrap_or_else(|e| panic!("scan output: {e}\n{}", stderr(&scan)));
    assert!(
        !vuln_doc["scanner"]["result"]["findings"]
            .as_array()
            .expect("findings")
            .is_empty(),
        "{vuln_doc}"
    );
    let vuln = sb.write("vuln.json", &vuln_doc.to_string());
    let slsa = sb.write(
        "slsa.json",
        &serde_json::to_string_pretty(&provenance("https://lading.dev/builder/v1", "pass"))
            .expect("json"),
    );
    let custom = sb.write("notes.txt", "built on a quiet afternoon\n");
    let log = sb.write(
        "buildlog.json",
        r#"{"steps":[{"instruction":"COPY site /usr/lib/python3/dist-packages/"}]}"#,
    );
    vec![
        ("slsaprovenance1", PREDICATE_SLSA_PROVENANCE_V1, slsa),
        ("cyclonedx", PREDICATE_CYCLONEDX, cyclonedx),
        ("spdxjson", PREDICATE_SPDX, spdx),
        ("vuln", PREDICATE_VULN, vuln),
        ("custom", PREDICATE_CUSTOM, custom),
        ("buildlog", PREDICATE_BUILD_LOG, log),
    ]
}

/// The layers of the `.att` manifest of `digest` in `app`, copied with `lading cp` into
/// the layout `name`.
fn att_layers(sb: &Sandbox, reg: &Registry, digest: &Digest, name: &str) -> Vec<Value> {
    let att_ref = format!("docker://{}/app:{}", reg.host, attestation_tag(digest));
    let layout = sb.path(name);
    let dest = format!("oci:{}:att", layout.display());
    let mut cp = vec!["cp"];
    cp.extend(reg.lading_flags.iter().map(String::as_str));
    cp.extend([att_ref.as_str(), dest.as_str()]);
    assert_success(&sb.run(&cp));
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let manifest = common::json_blob(
        &layout,
        index["manifests"][0]["digest"].as_str().expect("digest"),
    );
    manifest["layers"].as_array().expect("layers").clone()
}

/// The `predicateType` annotations of `layers`.
fn predicate_types(layers: &[Value]) -> Vec<&str> {
    layers
        .iter()
        .map(|l| {
            l["annotations"][ANNOTATION_PREDICATE_TYPE]
                .as_str()
                .expect("type")
        })
        .collect()
}

#[test]
fn lading_attests_each_type_and_cosign_verifies_on_tls_with_htpasswd() {
    if !need_peers() || !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::secured(&sb);
    let digest = packaged_image(&sb);
    push(&sb, &reg, "pkgs:1", &format!("docker://{}/app:1", reg.host));
    let files = predicate_files(&sb);
    let password = "attest pass 9";
    let (key, public) = lading_keys(&sb, "k", Some(password));
    let by_tag = format!("docker://{}/app:1", reg.host);
    let by_digest = format!("{}/app@{digest}", reg.host);

    let mut outputs = Vec::new();
    for (kind, uri, file) in &files {
        // By tag: resolved once, the digest printed and attested.
        let out = lading_attest(&sb, &reg, Some(password), &key, kind, file, &by_tag, &[]);
        assert_success(&out);
        assert!(
            stderr(&out).contains(&format!("to {digest}")),
            "{}",
            stderr(&out)
        );
        assert!(
            stdout(&out).contains(&format!("attested {by_digest} ({uri})")),
            "{}",
            stdout(&out)
        );
        outputs.push(out);
    }

    for (kind, uri, file) in &files {
        // cosign has no name for lading's build log: it is given the URI.
        let cosign_kind = if *kind == "buildlog" { uri } else { kind };
        let theirs = cosign_verify(&sb, &reg, &public, cosign_kind, &by_digest);
        assert_success(&theirs);
        let ours = lading_verify(&sb, &reg, &public, kind, &by_tag, &[]);
        assert_success(&ours);
        for out in [&theirs, &ours] {
            let st = statements(out);
            assert_eq!(st.len(), 1, "{kind}: {}", stdout(out));
            let st = &st[0];
            assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
            assert_eq!(st["predicateType"], *uri);
            assert_eq!(st["subject"][0]["name"], format!("{}/app", reg.host));
            assert_eq!(st["subject"][0]["digest"]["sha256"], digest.hex());
            let text = std::fs::read_to_string(file).expect("predicate");
            if *kind == "custom" {
                assert_eq!(st["predicate"]["Data"], text);
                assert!(
                    st["predicate"]["Timestamp"]
                        .as_str()
                        .expect("ts")
                        .ends_with('Z')
                );
            } else {
                let want: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(st["predicate"], want, "{kind}");
            }
        }
        outputs.push(ours);
    }

    // A type nobody attested: refused by both.
    let theirs = cosign_verify(&sb, &reg, &public, "link", &by_digest);
    assert!(!theirs.status.success(), "{}", stdout(&theirs));
    let ours = lading_verify(&sb, &reg, &public, "link", &by_digest, &[]);
    assert_eq!(code(&ours), Some(1), "{}", stderr(&ours));

    // The six sit in one `.att` manifest, in order, with cosign's annotations.
    let layers = att_layers(&sb, &reg, &digest, "att-layout");
    assert_eq!(
        predicate_types(&layers),
        files.iter().map(|(_, uri, _)| *uri).collect::<Vec<_>>()
    );
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"] == MEDIA_TYPE_DSSE_ENVELOPE
                && l["annotations"][ANNOTATION_SIGNATURE] == "")
    );

    // --replace drops the custom attestation and puts the new one first, as cosign does.
    let newer = sb.write("notes2.txt", "rebuilt\n");
    let out = lading_attest(
        &sb,
        &reg,
        Some(password),
        &key,
        "custom",
        &newer,
        &by_digest,
        &["--replace"],
    );
    assert_success(&out);
    assert!(
        stdout(&out).contains("(6 attestation(s))"),
        "{}",
        stdout(&out)
    );
    let theirs = cosign_verify(&sb, &reg, &public, "custom", &by_digest);
    assert_success(&theirs);
    let st = statements(&theirs);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["predicate"]["Data"], "rebuilt\n");
    let after = att_layers(&sb, &reg, &digest, "att-layout-replaced");
    let mut want: Vec<_> = files
        .iter()
        .map(|(_, uri, _)| *uri)
        .filter(|u| *u != PREDICATE_CUSTOM)
        .collect();
    want.insert(0, PREDICATE_CUSTOM);
    assert_eq!(predicate_types(&after), want);
    // Without --replace, appended.
    let out = lading_attest(
        &sb,
        &reg,
        Some(password),
        &key,
        "custom",
        &newer,
        &by_digest,
        &[],
    );
    assert!(
        stdout(&out).contains("(7 attestation(s))"),
        "{}",
        stdout(&out)
    );
    outputs.push(out);

    let mut secrets = pem_body_lines(&key);
    secrets.push(password.to_string());
    for o in &outputs {
        let text = format!("{}{}", stdout(o), stderr(o));
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "secret leaked in:\n{text}");
        }
    }
}

#[test]
fn lading_verifies_what_cosign_attested_and_stores_it_the_same_way() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let digest = build_image(&sb, "app:1", "attested by cosign\n");
    push(&sb, &reg, "app:1", &format!("docker://{}/app:1", reg.host));
    let image = format!("{}/app@{digest}", reg.host);
    let password = "cosign-pass-42";
    assert_success(&cosign(&sb, password, &["generate-key-pair"]));
    let key = sb.path("cosign.key");
    let public = sb.path("cosign.pub");

    let slsa = sb.write(
        "slsa.json",
        &provenance("https://ci.example/builder", "pass").to_string(),
    );
    let bom = sb.write(
        "bom.json",
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","version":"1"}]}"#,
    );
    let notes = sb.write("notes.txt", "free text\n");
    cosign_attest(&sb, &reg, password, &key, "slsaprovenance1", &slsa, &image);
    cosign_attest(&sb, &reg, password, &key, "cyclonedx", &bom, &image);
    cosign_attest(&sb, &reg, password, &key, "custom", &notes, &image);

    for kind in ["slsaprovenance1", "cyclonedx", "custom"] {
        let ours = lading_verify(
            &sb,
            &reg,
            &public,
            kind,
            &format!("docker://{}/app:1", reg.host),
            &[],
        );
        assert_success(&ours);
        let st = statements(&ours);
        assert_eq!(st.len(), 1, "{kind}");
        // cosign v3.1 still writes Statement v0.1.
        assert_eq!(st[0]["_type"], "https://in-toto.io/Statement/v0.1");
        assert_eq!(st[0]["subject"][0]["digest"]["sha256"], digest.hex());
    }
    // The policy reads cosign's provenance too.
    let ok = lading_verify(
        &sb,
        &reg,
        &public,
        "slsaprovenance1",
        &image,
        &[
            "--builder-id",
            "https://ci.example/builder",
            "--gate-verdict",
            "pass",
        ],
    );
    assert_success(&ok);
    let wrong = lading_verify(
        &sb,
        &reg,
        &public,
        "slsaprovenance1",
        &image,
        &["--builder-id", "https://lading.dev/builder/v1"],
    );
    assert_eq!(code(&wrong), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("builder.id is"),
        "{}",
        stderr(&wrong)
    );
    assert!(stdout(&wrong).is_empty());

    // cosign's manifest and config are byte for byte what lading builds from the same
    // layers; the layers carry the annotations lading writes, and the envelopes have
    // lading's shape.
    let tag = format!("{}/app:{}", reg.host, attestation_tag(&digest));
    let manifest_bytes = crane(&reg, "manifest", &tag);
    let layers = cosign::layers(&manifest_bytes).expect("layers");
    assert_eq!(layers.len(), 3);
    let built = cosign::build(&layers).expect("build");
    assert_eq!(
        String::from_utf8(built.manifest).expect("utf-8"),
        String::from_utf8(manifest_bytes).expect("utf-8")
    );
    assert_eq!(crane(&reg, "config", &tag), built.config);
    let ours = lading_signer::attestation::sign(
        &lading_signer::KeyPair::generate().expect("key"),
        &lading_signer::intoto::Statement::new(
            &format!("{}/app", reg.host),
            &digest,
            PREDICATE_CYCLONEDX,
            lading_signer::attestation::predicate(
                "cyclonedx",
                &std::fs::read(&bom).expect("bom"),
                "",
            )
            .expect("predicate"),
        ),
    )
    .expect("attest");
    assert_eq!(layers[1].annotations, ours.layer.annotations);
    assert_eq!(layers[1].media_type, ours.layer.media_type);
    let theirs_blob = crane(
        &reg,
        "blob",
        &format!("{}/app@{}", reg.host, layers[1].digest),
    );
    let theirs_env = Envelope::parse(&theirs_blob).expect("cosign envelope");
    assert_eq!(theirs_env.to_bytes().expect("bytes"), theirs_blob);
    let ours_env = Envelope::parse(&ours.envelope).expect("ours");
    assert_eq!(theirs_env.payload_type, ours_env.payload_type);
    let field_names = |b: &[u8]| -> Vec<String> {
        let v: serde_json::Map<String, Value> = serde_json::from_slice(b).expect("object");
        v.keys().cloned().collect()
    };
    let statement_of = |e: &Envelope| e.payload.clone();
    assert_eq!(
        field_names(&statement_of(&theirs_env)),
        field_names(&statement_of(&ours_env))
    );
    let (t, o): (Value, Value) = (
        serde_json::from_slice(&statement_of(&theirs_env)).expect("json"),
        serde_json::from_slice(&statement_of(&ours_env)).expect("json"),
    );
    assert_eq!(t["subject"], o["subject"]);
    assert_eq!(t["predicate"], o["predicate"]);
}

/// Pushes a hand-made `.att` manifest holding `layers` (envelope, descriptor) as the
/// attestations of `target` in `host/repo`, through `lading cp` from an OCI layout.
fn push_attestations(
    sb: &Sandbox,
    reg: &Registry,
    repo: &str,
    target: &Digest,
    layers: &[(Vec<u8>, Descriptor)],
) {
    let dir = sb.path(&format!(
        "forged-{}",
        common::sha256(format!("{layers:?}{target}").as_bytes()).trim_start_matches("sha256:")
    ));
    let store = Store::open(&dir).expect("store");
    for (envelope, _) in layers {
        store
            .put_bytes(envelope, MEDIA_TYPE_DSSE_ENVELOPE)
            .expect("put");
    }
    let descs: Vec<_> = layers.iter().map(|(_, d)| d.clone()).collect();
    let built = cosign::build(&descs).expect("build");
    store
        .put_bytes(&built.config, &built.config_descriptor.media_type)
        .expect("put");
    store
        .put_bytes(&built.manifest, &built.manifest_descriptor.media_type)
        .expect("put");
    store.tag("att", &built.manifest_descriptor).expect("tag");
    let out = sb.run(&[
        "cp",
        &format!("oci:{}:att", dir.display()),
        &format!("docker://{}/{repo}:{}", reg.host, attestation_tag(target)),
    ]);
    assert_success(&out);
}

/// The first layer of the `.att` manifest of `digest` and its envelope.
fn first_attestation(reg: &Registry, repo: &str, digest: &Digest) -> (Vec<u8>, Descriptor) {
    let m = att_manifest(reg, repo, digest);
    let layer: Descriptor = serde_json::from_value(m["layers"][0].clone()).expect("layer");
    let blob = crane(
        reg,
        "blob",
        &format!("{}/{repo}@{}", reg.host, layer.digest),
    );
    (blob, layer)
}

#[test]
fn forged_attestations_are_refused_by_lading_and_by_cosign() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let (key, public) = lading_keys(&sb, "k", None);
    let (_, stranger) = lading_keys(&sb, "stranger", None);
    let mut images = Vec::new();
    for name in ["a", "b", "c"] {
        let d = build_image(&sb, &format!("app:{name}"), &format!("{name}\n"));
        push(
            &sb,
            &reg,
            &format!("app:{name}"),
            &format!("docker://{}/app:{name}", reg.host),
        );
        images.push(d);
    }
    let [a, b, c] = [&images[0], &images[1], &images[2]];
    let repo = format!("{}/app", reg.host);
    let slsa = sb.write(
        "slsa.json",
        &provenance("https://lading.dev/builder/v1", "fail").to_string(),
    );

    let refused = |image: &str, key: &Path, kind: &str, why: &str| {
        let ours = lading_verify(&sb, &reg, key, kind, image, &[]);
        assert_eq!(
            code(&ours),
            Some(1),
            "{why}: lading verify-attestation:\n{}{}",
            stdout(&ours),
            stderr(&ours)
        );
        assert!(stdout(&ours).is_empty(), "{why}: {}", stdout(&ours));
        let theirs = cosign_verify(&sb, &reg, key, kind, image);
        assert!(
            !theirs.status.success(),
            "{why}: cosign verified:\n{}",
            stdout(&theirs)
        );
    };
    let accepted = |image: &str, key: &Path, kind: &str| {
        assert_success(&lading_verify(&sb, &reg, key, kind, image, &[]));
        assert_success(&cosign_verify(&sb, &reg, key, kind, image));
    };

    // Not attested.
    refused(
        &format!("{repo}@{a}"),
        &public,
        "slsaprovenance1",
        "no attestation",
    );

    // Attested; then checked with another key, and as another type.
    for target in [a, c] {
        let out = lading_attest(
            &sb,
            &reg,
            None,
            &key,
            "slsaprovenance1",
            &slsa,
            &format!("{repo}@{target}"),
            &[],
        );
        assert_success(&out);
    }
    accepted(&format!("{repo}@{a}"), &public, "slsaprovenance1");
    refused(
        &format!("{repo}@{a}"),
        &stranger,
        "slsaprovenance1",
        "wrong key",
    );
    refused(&format!("{repo}@{a}"), &public, "cyclonedx", "wrong type");

    // a's attestation copied to b's `.att` tag: its subject is a, not b.
    let (envelope, layer) = first_attestation(&reg, "app", a);
    push_attestations(&sb, &reg, "app", b, &[(envelope, layer)]);
    refused(
        &format!("{repo}@{b}"),
        &public,
        "slsaprovenance1",
        "another digest",
    );

    // c's predicate changed after signing (envelope re-encoded, descriptor updated).
    let (envelope, layer) = first_attestation(&reg, "app", c);
    let mut env = Envelope::parse(&envelope).expect("envelope");
    let statement = String::from_utf8(env.payload.clone()).expect("utf-8");
    let changed = statement.replace("\"fail\"", "\"pass\"");
    assert_ne!(changed, statement);
    env.payload = changed.into_bytes();
    let forged = env.to_bytes().expect("bytes");
    let mut forged_layer = layer.clone();
    forged_layer.digest = Digest::of(&forged);
    forged_layer.size = forged.len() as u64;
    push_attestations(&sb, &reg, "app", c, &[(forged, forged_layer)]);
    refused(
        &format!("{repo}@{c}"),
        &public,
        "slsaprovenance1",
        "changed predicate",
    );

    // The image tag moved to another image after attestation: the tag now names an
    // image nobody attested.
    push(&sb, &reg, "app:b", &format!("docker://{}/app:a", reg.host));
    refused(
        &format!("docker://{}/app:a", reg.host),
        &public,
        "slsaprovenance1",
        "moved tag",
    );

    // Policy: a's provenance is from lading's builder, and its gates failed.
    let image = format!("{repo}@{a}");
    let policy =
        |extra: &[&str]| lading_verify(&sb, &reg, &public, "slsaprovenance1", &image, extra);
    assert_success(&policy(&["--builder-id", "https://lading.dev/builder/v1"]));
    let out = policy(&["--builder-id", "https://evil.example/builder"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let out = policy(&["--gate-verdict", "pass"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the gate verdict is \"fail\""),
        "{}",
        stderr(&out)
    );
    assert_success(&policy(&["--gate-verdict", "fail"]));
    // A policy on a type that is not a provenance is not met.
    let bom = sb.write(
        "bom.json",
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#,
    );
    assert_success(&lading_attest(
        &sb,
        &reg,
        None,
        &key,
        "cyclonedx",
        &bom,
        &image,
        &[],
    ));
    let out = lading_verify(
        &sb,
        &reg,
        &public,
        "cyclonedx",
        &image,
        &["--gate-verdict", "pass"],
    );
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
}

#[test]
fn lading_serve_holds_attestations_cosign_verifies() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let digest = build_image(&sb, "app:1", "served\n");
    let reg = Registry::serve(&sb);
    let (key, public) = lading_keys(&sb, "k", None);
    let slsa = sb.write(
        "slsa.json",
        &provenance("https://lading.dev/builder/v1", "pass").to_string(),
    );
    let out = lading_attest(
        &sb,
        &reg,
        None,
        &key,
        "slsaprovenance1",
        &slsa,
        &format!("docker://{}/app:1", reg.host),
        &[],
    );
    assert_success(&out);
    let image = format!("{}/app@{digest}", reg.host);
    assert_success(&cosign_verify(
        &sb,
        &reg,
        &public,
        "slsaprovenance1",
        &image,
    ));
    assert_success(&lading_verify(
        &sb,
        &reg,
        &public,
        "slsaprovenance1",
        &image,
        &[
            "--builder-id",
            "https://lading.dev/builder/v1",
            "--gate-verdict",
            "pass",
        ],
    ));

    // `--predicate -` reads stdin, as cosign's does.
    let out = common::run_with_stdin(
        sb.lading(&[
            "attest",
            "--key",
            key.to_str().expect("utf-8"),
            "--type",
            "cyclonedx",
            "--predicate",
            "-",
            "--tlog-upload=false",
            &image,
        ])
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD"),
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"}"#,
    );
    assert_success(&out);
    let theirs = cosign_verify(&sb, &reg, &public, "cyclonedx", &image);
    assert_success(&theirs);
    assert_eq!(
        statements(&theirs)[0]["predicate"]["serialNumber"],
        "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
    );
}

#[test]
fn unsupported_modes_and_bad_input_are_refused_clearly() {
    let sb = Sandbox::new();
    let (key, public) = lading_keys(&sb, "k", None);
    let key = key.to_str().expect("utf-8");
    let public = public.to_str().expect("utf-8");
    // By digest: nothing below needs the (absent) registry.
    let image = format!("127.0.0.1:1/app@sha256:{}", "a".repeat(64));
    let json = sb.write("p.json", "{}");
    let json = json.to_str().expect("utf-8");
    let text = sb.write("p.txt", "not json");
    let text = text.to_str().expect("utf-8");
    let cases: [(&[&str], &str); 6] = [
        (
            &["attest", "--predicate", json, "--tlog-upload=false", &image],
            "keyless attestations are always logged: --tlog-upload=false needs --key",
        ),
        (
            &["verify-attestation", "--key", public, &image],
            "no trusted root to verify the transparency log: pass --trusted-root FILE",
        ),
        (
            &[
                "attest",
                "--key",
                key,
                "--type",
                "slsa",
                "--predicate",
                json,
                "--tlog-upload=false",
                &image,
            ],
            "neither a URI nor one of",
        ),
        (
            &[
                "attest",
                "--key",
                key,
                "--type",
                "openvex",
                "--tlog-upload=false",
                &image,
            ],
            "--predicate is required for --type openvex",
        ),
        (
            &[
                "attest",
                "--key",
                key,
                "--type",
                "cyclonedx",
                "--predicate",
                text,
                "--tlog-upload=false",
                &image,
            ],
            "cyclonedx needs a JSON object",
        ),
        (
            &[
                "verify-attestation",
                "--key",
                public,
                "--type",
                "no such",
                "--insecure-ignore-tlog",
                &image,
            ],
            "neither a URI nor one of",
        ),
    ];
    for (args, why) in cases {
        let out = lading(&sb, None, args);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
}

// Sigstore bundle referrers (`--registry-referrers-mode oci-1-1|both`), cosign v3's
// default storage for attestations.

/// The predicate types issue #10 proves in both storages.
const BUNDLE_KINDS: [&str; 4] = ["slsaprovenance1", "cyclonedx", "spdxjson", "vuln"];

/// sigstore-go's refusal of a DSSE envelope whose signature does not verify.
const NO_VALID_SIGNATURE: &str = "accepted signatures do not match threshold";

/// `SOURCE_DATE_EPOCH` for the bundle tests, and the `created` time it means.
const EPOCH: &str = "1767225600";
const EPOCH_RFC3339: &str = "2026-01-01T00:00:00Z";

/// `lading attest … --registry-referrers-mode MODE IMAGE` with `SOURCE_DATE_EPOCH`.
fn lading_attest_mode(
    sb: &Sandbox,
    reg: &Registry,
    key: &Path,
    kind: &str,
    predicate: &Path,
    mode: &str,
    image: &str,
) -> Output {
    let mut args = vec![
        "attest",
        "--key",
        key.to_str().expect("utf-8"),
        "--type",
        kind,
        "--predicate",
        predicate.to_str().expect("utf-8"),
        "--tlog-upload=false",
        "--registry-referrers-mode",
        mode,
    ];
    args.extend(reg.lading_flags.iter().map(String::as_str));
    args.push(image);
    run(sb
        .lading(&args)
        .current_dir(sb.dir.path())
        .env_remove("LADING_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env("SOURCE_DATE_EPOCH", EPOCH))
}

/// Asserts that a verifier printed exactly `count` statements, each of predicate type
/// `uri` about `digest`.
fn assert_statements(out: &Output, count: usize, uri: &str, digest: &Digest) {
    let st = statements(out);
    assert_eq!(st.len(), count, "{}\n{}", stdout(out), stderr(out));
    for s in &st {
        assert_eq!(s["predicateType"], uri, "{s}");
        assert_eq!(s["subject"][0]["digest"]["sha256"], digest.hex(), "{s}");
    }
}

/// For each storage mode, lading attests the four types of one image; cosign reads each
/// storage (`--new-bundle-format` true: the referrers, false: the `.att` tag), and so
/// does lading, restricted by the same flag. A storage the mode left out is empty.
fn attest_in_each_mode(sb: &Sandbox, reg: &Registry, push_images: bool) {
    let (key, public) = lading_keys(sb, &format!("k-{}", reg.host.replace(':', "-")), None);
    let files: Vec<_> = predicate_files(sb)
        .into_iter()
        .filter(|(kind, _, _)| BUNDLE_KINDS.contains(kind))
        .collect();
    assert_eq!(files.len(), BUNDLE_KINDS.len());
    for mode in ["legacy", "oci-1-1", "both"] {
        let repo = format!("app-{mode}");
        let digest = build_image(sb, &format!("{repo}:1"), &format!("stored {mode}\n"));
        if push_images {
            push(
                sb,
                reg,
                &format!("{repo}:1"),
                &format!("docker://{}/{repo}:1", reg.host),
            );
        }
        let image = format!("{}/{repo}@{digest}", reg.host);
        let (bundles, legacy) = (mode != "legacy", mode != "oci-1-1");
        for (kind, uri, file) in &files {
            let out = lading_attest_mode(sb, reg, &key, kind, file, mode, &image);
            assert_success(&out);
            assert_eq!(
                stdout(&out).contains("\nbundle ") || stdout(&out).starts_with("bundle "),
                bundles,
                "{mode}: {}",
                stdout(&out)
            );
            assert_eq!(stdout(&out).contains("attestations "), legacy, "{mode}");
            if bundles && reg.crane_flags.contains(&"--insecure".to_string()) {
                // The referrer, as cosign v3.1.3 pushes an attestation's.
                let at = stdout(&out)
                    .lines()
                    .find_map(|l| l.strip_prefix("bundle "))
                    .expect("bundle line")
                    .to_string();
                let manifest: Value =
                    serde_json::from_slice(&crane(reg, "manifest", &at)).expect("json");
                assert_eq!(manifest["artifactType"], MEDIA_TYPE_BUNDLE_V03);
                assert_eq!(manifest["subject"]["digest"], digest.to_string());
                let notes = &manifest["annotations"];
                assert_eq!(notes[ANNOTATION_BUNDLE_CONTENT], "dsse-envelope");
                assert_eq!(notes[ANNOTATION_BUNDLE_PREDICATE_TYPE], *uri);
                assert_eq!(notes["org.opencontainers.image.created"], EPOCH_RFC3339);
            }
        }
        for (kind, uri, _) in &files {
            let what = format!("{mode} {kind}");
            let in_bundles = cosign_verify_format(sb, reg, &public, kind, true, &image);
            let in_legacy = cosign_verify_format(sb, reg, &public, kind, false, &image);
            let ours_bundles = lading_verify(
                sb,
                reg,
                &public,
                kind,
                &image,
                &["--registry-referrers-mode", "oci-1-1"],
            );
            let ours_legacy = lading_verify(
                sb,
                reg,
                &public,
                kind,
                &image,
                &["--registry-referrers-mode", "legacy"],
            );
            let ours_both = lading_verify(
                sb,
                reg,
                &public,
                kind,
                &image,
                &["--registry-referrers-mode", "both"],
            );
            // cosign v3 reads the referrers when there are any, else the `.att` tag.
            assert_success(&in_bundles);
            assert_statements(&in_bundles, 1, uri, &digest);
            assert_eq!(
                in_legacy.status.success(),
                legacy,
                "{what}: {}",
                stderr(&in_legacy)
            );
            assert_eq!(
                code(&ours_bundles),
                Some(if bundles { 0 } else { 1 }),
                "{what}: {}",
                stderr(&ours_bundles)
            );
            assert_eq!(
                code(&ours_legacy),
                Some(if legacy { 0 } else { 1 }),
                "{what}: {}",
                stderr(&ours_legacy)
            );
            assert_success(&ours_both);
            if legacy {
                assert_statements(&in_legacy, 1, uri, &digest);
                assert_statements(&ours_legacy, 1, uri, &digest);
            }
            if bundles {
                assert_statements(&ours_bundles, 1, uri, &digest);
            }
            let stored = usize::from(bundles) + usize::from(legacy);
            assert_statements(&ours_both, stored, uri, &digest);
        }
    }
}

#[test]
fn lading_attests_in_each_mode_and_cosign_verifies_on_tls_with_htpasswd() {
    if !need_peers() || !require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::secured(&sb);
    packaged_image(&sb);
    attest_in_each_mode(&sb, &reg, true);
}

#[test]
fn lading_attests_in_each_mode_and_cosign_verifies_on_lading_serve() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    packaged_image(&sb);
    let reg = Registry::serve(&sb);
    attest_in_each_mode(&sb, &reg, false);
}

/// Pushes `built` (a referrer manifest and its blobs) to `host/app:TAG` with `lading cp`.
fn push_referrer(sb: &Sandbox, reg: &Registry, tag: &str, built: &referrer::BundleReferrer) {
    let dir = sb.path(&format!("forged-{tag}"));
    let store = Store::open(&dir).expect("store");
    let blobs = [
        (referrer::EMPTY_CONFIG, &built.config_descriptor.media_type),
        (&built.bundle[..], &built.bundle_descriptor.media_type),
        (&built.manifest[..], &built.manifest_descriptor.media_type),
    ];
    for (bytes, media_type) in blobs {
        store.put_bytes(bytes, media_type).expect("put");
    }
    store
        .tag("forged", &built.manifest_descriptor)
        .expect("tag");
    let mut args = vec!["cp".to_string()];
    args.extend(reg.lading_flags.iter().cloned());
    args.push(format!("oci:{}:forged", dir.display()));
    args.push(format!("docker://{}/app:{tag}", reg.host));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_success(&sb.run(&args));
}

/// `host/app@digest` as a referrer's subject (crane reads the manifest).
fn subject_of(reg: &Registry, digest: &Digest) -> Descriptor {
    let manifest = crane(reg, "manifest", &format!("{}/app@{digest}", reg.host));
    let json: Value = serde_json::from_slice(&manifest).expect("json");
    let media_type = json["mediaType"].as_str().expect("mediaType");
    Descriptor::new(media_type, digest.clone(), manifest.len() as u64)
}

#[test]
fn lading_verifies_cosign_v3_bundles_and_both_refuse_forged_ones() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let [a, b, c] = ["a", "b", "c"].map(|n| {
        let digest = build_image(&sb, &format!("app:{n}"), &format!("image {n}\n"));
        push(
            &sb,
            &reg,
            &format!("app:{n}"),
            &format!("docker://{}/app:{n}", reg.host),
        );
        digest
    });
    let image = |d: &Digest| format!("{}/app@{d}", reg.host);
    let password = "cosign-pass-7";
    assert_success(&cosign(&sb, password, &["generate-key-pair"]));
    let cosign_pub = sb.path("cosign.pub");
    let (lading_key, lading_pub) = lading_keys(&sb, "k", None);
    let slsa = sb.write(
        "slsa.json",
        &provenance("https://ci.example/builder", "pass").to_string(),
    );

    // cosign v3's default: a bundle referrer, no `.att` tag.
    let mut args = vec![
        "attest",
        "--key",
        "cosign.key",
        "--type",
        "slsaprovenance1",
        "--predicate",
        slsa.to_str().expect("utf-8"),
        "--tlog-upload=false",
        "--use-signing-config=false",
        "-y",
    ];
    args.extend(reg.cosign_flags.iter().map(String::as_str));
    let a_image = image(&a);
    args.push(&a_image);
    assert_success(&cosign(&sb, password, &args));

    // The referrer cosign pushed (found through the referrers tag schema: distribution 2.8
    // has no referrers API) is byte for byte what lading builds from the same bundle.
    let index: Value = serde_json::from_slice(&crane(
        &reg,
        "manifest",
        &format!("{}/app:sha256-{}", reg.host, a.hex()),
    ))
    .expect("index");
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1, "{index}");
    let theirs = crane(
        &reg,
        "manifest",
        &format!(
            "{}/app@{}",
            reg.host,
            listed[0]["digest"].as_str().expect("digest")
        ),
    );
    let manifest: Value = serde_json::from_slice(&theirs).expect("json");
    let bundle = crane(
        &reg,
        "blob",
        &format!(
            "{}/app@{}",
            reg.host,
            manifest["layers"][0]["digest"].as_str().expect("digest")
        ),
    );
    let created = manifest["annotations"]["org.opencontainers.image.created"]
        .as_str()
        .expect("created");
    let ours = referrer::build(
        bundle,
        PREDICATE_SLSA_PROVENANCE_V1,
        &subject_of(&reg, &a),
        created,
    )
    .expect("referrer");
    assert_eq!(
        String::from_utf8(ours.manifest).expect("utf-8"),
        String::from_utf8(theirs).expect("utf-8")
    );

    let both = ["--registry-referrers-mode", "both"];
    let ours = lading_verify(&sb, &reg, &cosign_pub, "slsaprovenance1", &a_image, &both);
    assert_success(&ours);
    assert_statements(&ours, 1, PREDICATE_SLSA_PROVENANCE_V1, &a);
    let ours = lading_verify(
        &sb,
        &reg,
        &cosign_pub,
        "slsaprovenance1",
        &a_image,
        &[
            "--registry-referrers-mode",
            "oci-1-1",
            "--builder-id",
            "https://ci.example/builder",
        ],
    );
    assert_success(&ours);
    assert!(
        stderr(&ours).contains("oci-1-1 bundles"),
        "{}",
        stderr(&ours)
    );
    // The policy applies to bundles too.
    let ours = lading_verify(
        &sb,
        &reg,
        &cosign_pub,
        "slsaprovenance1",
        &a_image,
        &[
            "--registry-referrers-mode",
            "oci-1-1",
            "--builder-id",
            "https://evil.example",
        ],
    );
    assert_eq!(code(&ours), Some(1), "{}", stderr(&ours));
    // Nothing in the legacy tag.
    let ours = lading_verify(&sb, &reg, &cosign_pub, "slsaprovenance1", &a_image, &[]);
    assert_eq!(code(&ours), Some(1), "{}", stderr(&ours));

    // A wrong type and a wrong key: refused by both, each saying why.
    let refused = |key: &Path, kind: &str, img: &str, cosign_says: &str, lading_says: &str| {
        let theirs = cosign_verify_format(&sb, &reg, key, kind, true, img);
        assert!(
            !theirs.status.success(),
            "cosign accepted: {}",
            stdout(&theirs)
        );
        assert!(stderr(&theirs).contains(cosign_says), "{}", stderr(&theirs));
        let ours = lading_verify(&sb, &reg, key, kind, img, &both);
        assert_eq!(code(&ours), Some(1), "lading accepted: {}", stderr(&ours));
        assert!(stderr(&ours).contains(lading_says), "{}", stderr(&ours));
        stderr(&ours)
    };
    refused(
        &cosign_pub,
        "cyclonedx",
        &a_image,
        "none of the attestations matched the predicate type",
        "skipped: predicate type https://slsa.dev/provenance/v1",
    );
    refused(
        &lading_pub,
        "slsaprovenance1",
        &a_image,
        NO_VALID_SIGNATURE,
        "rejected: the signature does not match",
    );

    // lading's bundles, forged: signed by lading's key, so a refusal is the forgery's.
    let pair =
        lading_signer::KeyPair::from_pem(&std::fs::read_to_string(&lading_key).expect("key"), None)
            .expect("key pair");
    let statement_about = |d: &Digest, builder: &str| {
        let predicate =
            serde_json::value::RawValue::from_string(provenance(builder, "pass").to_string())
                .expect("raw");
        Statement::new(
            &format!("{}/app", reg.host),
            d,
            PREDICATE_SLSA_PROVENANCE_V1,
            predicate,
        )
        .to_bytes()
        .expect("statement")
    };
    let bundle_for = |d: &Digest| {
        dsse_bundle::sign(&pair, &statement_about(d, "https://ci.example/builder")).expect("sign")
    };
    let push_bundle = |tag: &str, bundle: &Bundle, to: &Digest| {
        let built = referrer::build(
            bundle.to_json().expect("json"),
            PREDICATE_SLSA_PROVENANCE_V1,
            &subject_of(&reg, to),
            EPOCH_RFC3339,
        )
        .expect("referrer");
        push_referrer(&sb, &reg, tag, &built);
    };

    // b's referrer holds a bundle signed for a: moved to another subject.
    push_bundle("moved", &bundle_for(&a), &b);
    let why = refused(
        &lading_pub,
        "slsaprovenance1",
        &image(&b),
        "provided artifact digest does not match any digest in statement",
        "rejected: the payload is for",
    );
    assert!(why.contains(&a.to_string()), "{why}");

    // c's bundle with its predicate changed after signing.
    let mut tampered = bundle_for(&c);
    if let Content::DsseEnvelope(e) = &mut tampered.content {
        e.payload = statement_about(&c, "https://evil.example");
    }
    push_bundle("tampered", &tampered, &c);
    refused(
        &lading_pub,
        "slsaprovenance1",
        &image(&c),
        NO_VALID_SIGNATURE,
        "rejected: the signature does not match",
    );

    // The genuine bundle verifies with both: the refusals above are the forgeries'.
    push_bundle("genuine", &bundle_for(&b), &b);
    assert_success(&cosign_verify_format(
        &sb,
        &reg,
        &lading_pub,
        "slsaprovenance1",
        true,
        &image(&b),
    ));
    let ours = lading_verify(&sb, &reg, &lading_pub, "slsaprovenance1", &image(&b), &both);
    assert_success(&ours);
    assert_statements(&ours, 1, PREDICATE_SLSA_PROVENANCE_V1, &b);
}

/// `lading sign --attest all`: the signature and the five predicates lading generates,
/// in one run with one key; cosign verifies the signature and each attestation (the
/// bundle referrers and the legacy tags), and the statements hold exactly what `lading
/// predicate` prints.
#[test]
fn sign_with_attest_all_signs_and_attaches_the_generated_predicates_in_one_run() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let digest = packaged_image(&sb);
    // Records the scan the vuln predicate is generated from (and writes the SBOMs).
    predicate_files(&sb);
    push(&sb, &reg, "pkgs:1", &format!("docker://{}/app:1", reg.host));
    let password = "one run 3";
    let (key, public) = lading_keys(&sb, "k", Some(password));
    let image = format!("{}/app@{digest}", reg.host);
    let out = lading(
        &sb,
        Some(password),
        &[
            "sign",
            "--key",
            key.to_str().expect("utf-8"),
            "--tlog-upload=false",
            "--attest",
            "all",
            &image,
        ],
    );
    assert_success(&out);
    let printed = stdout(&out);
    assert_eq!(
        printed.matches("\nbundle ").count() + usize::from(printed.starts_with("bundle ")),
        6,
        "{printed}"
    );
    assert!(printed.contains("(5 attestation(s))"), "{printed}");
    assert!(printed.contains("(1 signature(s))"), "{printed}");

    // One update of the referrers tag holds the six bundles; `.att` the five envelopes.
    let referrers_tag = format!("{}/app:sha256-{}", reg.host, digest.hex());
    let index: Value =
        serde_json::from_slice(&crane(&reg, "manifest", &referrers_tag)).expect("index");
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            m["annotations"][ANNOTATION_BUNDLE_PREDICATE_TYPE]
                .as_str()
                .expect("predicate type")
        })
        .collect();
    let generated = [
        ("slsaprovenance1", PREDICATE_SLSA_PROVENANCE_V1),
        ("cyclonedx", PREDICATE_CYCLONEDX),
        ("spdxjson", PREDICATE_SPDX),
        ("vuln", PREDICATE_VULN),
        ("buildlog", PREDICATE_BUILD_LOG),
    ];
    assert_eq!(listed.len(), 6, "{index}");
    for (_, uri) in generated {
        assert!(listed.contains(&uri), "{uri} not in {listed:?}");
    }
    let att = att_manifest(&reg, "app", &digest);
    let layers = att["layers"].as_array().expect("layers").clone();
    assert_eq!(
        predicate_types(&layers),
        generated.iter().map(|(_, u)| *u).collect::<Vec<_>>()
    );

    let mut verify = vec![
        "verify",
        "--key",
        public.to_str().expect("utf-8"),
        "--insecure-ignore-tlog=true",
    ];
    verify.extend(reg.cosign_flags.iter().map(String::as_str));
    verify.push(&image);
    assert_success(&cosign(&sb, "", &verify));
    for (name, uri) in generated {
        let predicate = sb.run(&["predicate", "pkgs:1", "--type", name]);
        assert_success(&predicate);
        let expected: Value = serde_json::from_slice(&predicate.stdout).expect("predicate");
        for new_bundle_format in [true, false] {
            if name == "buildlog" {
                continue; // not a cosign type name; lading checks it below
            }
            let out = cosign_verify_format(&sb, &reg, &public, name, new_bundle_format, &image);
            assert_success(&out);
            let found = statements(&out);
            assert!(
                found
                    .iter()
                    .any(|s| s["predicateType"] == uri && s["predicate"] == expected),
                "cosign ({name}, new bundle format {new_bundle_format}): {found:?}"
            );
        }
        for mode in ["oci-1-1", "legacy"] {
            let out = lading_verify(
                &sb,
                &reg,
                &public,
                name,
                &image,
                &["--registry-referrers-mode", mode],
            );
            assert_success(&out);
            let found = statements(&out);
            assert_eq!(found.len(), 1, "{name} in {mode}: {found:?}");
            assert_eq!(found[0]["predicate"], expected, "{name} in {mode}");
        }
    }
}

/// A predicate lading cannot generate (no scan recorded) fails `sign --attest` before
/// anything is signed or stored; an unknown type is refused before the key is read.
#[test]
fn sign_with_attest_stores_nothing_when_a_predicate_cannot_be_generated() {
    if !need_peers() {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let digest = build_image(&sb, "bare:1", "no scan of me\n");
    push(&sb, &reg, "bare:1", &format!("docker://{}/app:1", reg.host));
    let (key, _) = lading_keys(&sb, "k", None);
    let image = format!("{}/app@{digest}", reg.host);
    let sign = |attest: &str| {
        lading(
            &sb,
            None,
            &[
                "sign",
                "--key",
                key.to_str().expect("utf-8"),
                "--tlog-upload=false",
                "--attest",
                attest,
                &image,
            ],
        )
    };
    let out = sign("slsaprovenance1,vuln");
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("lading scan"), "{}", stderr(&out));
    let tags = String::from_utf8(crane(&reg, "ls", &format!("{}/app", reg.host))).expect("utf-8");
    assert_eq!(tags.trim(), "1", "nothing but the image's tag: {tags}");

    let out = sign("custom");
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("--attest \"custom\""),
        "{}",
        stderr(&out)
    );
}
