//! `lading cis`: for every CIS 4.x check, Dockerfiles that fail it and Dockerfiles that
//! pass it (checks that cannot be decided automatically answer `manual`); the image
//! history read without a Dockerfile; inherited history; policy exemptions and their
//! expiry; a JSON snapshot; exit codes.
//!
//! Every image is built with `lading build`. The cases are `FROM scratch`, so their RUN
//! steps (`apt-get`, `curl | sh`, ...) cannot run: such a Dockerfile is built without
//! its RUN instructions, and `--dockerfile` still reads the original (the RUN checks
//! read the Dockerfile, not the image).

mod common;
mod gates_support;

use std::path::PathBuf;
use std::process::Output;

use common::{Sandbox, run, stderr, stdout};
use gates_support::{Craft, dir, file, serve};
use serde_json::Value;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";

/// Builds `ctx` (holding a `Dockerfile`) as `tag`.
fn build(sb: &Sandbox, ctx: &str, tag: &str) {
    let dir = sb.path(ctx);
    let df = dir.join("Dockerfile");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-q", "-t", tag]);
    cmd.arg("-f").arg(&df).arg(&dir);
    let out = run(&mut cmd);
    if out.status.success() {
        return;
    }
    let text = std::fs::read_to_string(&df).expect("Dockerfile");
    assert!(
        text.lines()
            .any(|l| l.trim_start().to_ascii_uppercase().starts_with("RUN ")),
        "building {ctx}: {}",
        stderr(&out)
    );
    let mut kept = String::new();
    let mut in_run = false;
    for line in text.lines() {
        let starts_run = line.trim_start().to_ascii_uppercase().starts_with("RUN ");
        if starts_run || in_run {
            in_run = line.trim_end().ends_with('\\');
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    let norun = dir.join("Dockerfile.norun");
    std::fs::write(&norun, kept).expect("write");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-q", "-t", tag]);
    cmd.arg("-f").arg(&norun).arg(&dir);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "building {ctx} without RUN: {}",
        stderr(&out)
    );
}

/// `lading cis` run from the sandbox directory (so `--dockerfile` paths are relative).
fn cis(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.lading(&["cis"]);
    cmd.args(args).current_dir(sb.path(""));
    run(&mut cmd)
}

fn cis_json(sb: &Sandbox, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = cis(sb, &all);
    let v = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap_or(-1), v)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

struct Case {
    id: &'static str,
    name: &'static str,
    dockerfile: String,
    files: Vec<(&'static str, String)>,
    policy: Option<&'static str>,
    expect: &'static str,
    /// A substring the check's result or evidence must contain.
    shows: &'static str,
}

fn case(id: &'static str, name: &'static str, expect: &'static str, dockerfile: &str) -> Case {
    Case {
        id,
        name,
        dockerfile: dockerfile.to_string(),
        files: vec![("app", "app\n".into()), ("passwd", PASSWD.into())],
        policy: None,
        expect,
        shows: "",
    }
}

impl Case {
    fn shows(mut self, s: &'static str) -> Case {
        self.shows = s;
        self
    }
    fn file(mut self, path: &'static str, content: &str) -> Case {
        self.files.push((path, content.to_string()));
        self
    }
    fn policy(mut self, p: &'static str) -> Case {
        self.policy = Some(p);
        self
    }
}

#[test]
fn cis_each_check_has_failing_and_passing_dockerfiles() {
    let sb = Sandbox::new();
    // A base image in the store, and a file server for ADD <url>.
    sb.write("base/Dockerfile", "FROM scratch\nCOPY f /f\n");
    sb.write("base/f", "base\n");
    let base = sb.build_ok(&sb.path("base"), &["-t", "cisbase:1"]);
    let tool = b"#!/bin/sh\necho tool\n".to_vec();
    let tool_sum = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&tool)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let url = serve(tool);
    let pinned = format!("cisbase@{base}");
    let dpkg = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\nPackage: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";

    let cases = vec![
        // 4.1 user
        case("4.1", "no USER", "fail", "FROM scratch\nCOPY app /app\n").shows("runs as root"),
        case(
            "4.1",
            "USER root",
            "fail",
            "FROM scratch\nCOPY passwd /etc/passwd\nUSER root\n",
        )
        .shows("USER root"),
        case(
            "4.1",
            "USER not in passwd",
            "fail",
            "FROM scratch\nCOPY passwd /etc/passwd\nUSER ghost\n",
        )
        .shows("not in /etc/passwd"),
        case(
            "4.1",
            "USER app",
            "pass",
            "FROM scratch\nCOPY passwd /etc/passwd\nUSER app\n",
        )
        .shows("uid 1000"),
        case(
            "4.1",
            "numeric USER",
            "pass",
            "FROM scratch\nCOPY app /app\nUSER 1000:1000\n",
        )
        .shows("uid 1000"),
        // 4.2 trusted base images
        case(
            "4.2",
            "FROM by tag",
            "fail",
            "FROM cisbase:1\nCOPY app /app\n",
        )
        .shows("not pinned by digest"),
        case(
            "4.2",
            "COPY --from an unpinned image",
            "fail",
            "FROM scratch\nCOPY --from=cisbase:1 /f /f\n",
        )
        .shows("cisbase:1"),
        Case {
            policy: Some("allowed_registries = [\"registry.acme.example\"]\n"),
            ..case(
                "4.2",
                "pinned but not an allowed registry",
                "fail",
                &format!("FROM {pinned}\nCOPY app /app\n"),
            )
        }
        .shows("not from an allowed registry"),
        case(
            "4.2",
            "FROM pinned by digest",
            "pass",
            &format!("FROM {pinned}\nCOPY app /app\n"),
        )
        .policy("allowed_registries = [\"docker.io/library\"]\n")
        .shows("pinned by digest"),
        case(
            "4.2",
            "FROM scratch",
            "pass",
            "FROM scratch\nCOPY app /app\n",
        ),
        // 4.3 unnecessary packages: a human decides
        case(
            "4.3",
            "packages and tools",
            "manual",
            "FROM scratch\nCOPY status /var/lib/dpkg/status\nCOPY app /usr/bin/curl\n",
        )
        .file("status", dpkg)
        .shows("2 packages installed"),
        case(
            "4.3",
            "nothing installed",
            "manual",
            "FROM scratch\nCOPY app /app\n",
        )
        .shows("no package database"),
        // 4.4 patches: needs the vulnerability gate
        case(
            "4.4",
            "any image",
            "manual",
            "FROM scratch\nCOPY app /app\n",
        )
        .shows("vulnerability gate"),
        // 4.5 content trust
        case(
            "4.5",
            "FROM scratch",
            "pass",
            "FROM scratch\nCOPY app /app\n",
        ),
        case(
            "4.5",
            "a base image to verify",
            "manual",
            &format!("FROM {pinned}\nCOPY app /app\n"),
        )
        .shows("cisbase@sha256"),
        // 4.6 HEALTHCHECK
        case(
            "4.6",
            "no HEALTHCHECK",
            "fail",
            "FROM scratch\nCOPY app /app\n",
        )
        .shows("no HEALTHCHECK"),
        case(
            "4.6",
            "HEALTHCHECK NONE",
            "fail",
            "FROM scratch\nCOPY app /app\nHEALTHCHECK NONE\n",
        )
        .shows("HEALTHCHECK NONE"),
        case(
            "4.6",
            "HEALTHCHECK CMD",
            "pass",
            "FROM scratch\nCOPY app /app\nHEALTHCHECK --interval=30s CMD [\"/app\", \"health\"]\n",
        )
        .shows("/app health"),
        // 4.7 update alone
        case(
            "4.7",
            "apt-get update alone",
            "fail",
            "FROM scratch\nRUN apt-get update\nRUN apt-get install -y curl\n",
        )
        .shows("RUN apt-get update"),
        case(
            "4.7",
            "apk update alone",
            "fail",
            "FROM scratch\nRUN set -eux; \\\n    apk update\n",
        )
        .shows("apk update"),
        case(
            "4.7",
            "update and install together",
            "pass",
            "FROM scratch\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends curl \\\n && rm -rf /var/lib/apt/lists/*\n",
        ),
        // 4.8 setuid/setgid
        case(
            "4.8",
            "setuid file",
            "fail",
            "FROM scratch\nCOPY --chmod=4755 app /usr/local/bin/app\n",
        )
        .shows("mode 4755 (setuid)"),
        case(
            "4.8",
            "setgid file",
            "fail",
            "FROM scratch\nCOPY --chmod=2755 app /usr/local/bin/app\n",
        )
        .shows("setgid"),
        case(
            "4.8",
            "plain modes",
            "pass",
            "FROM scratch\nCOPY --chmod=0755 app /usr/local/bin/app\n",
        ),
        // 4.9 COPY instead of ADD
        case("4.9", "ADD a file", "fail", "FROM scratch\nADD app /app\n").shows("ADD app /app"),
        case("4.9", "COPY only", "pass", "FROM scratch\nCOPY app /app\n"),
        // 4.10 secrets in the Dockerfile
        case(
            "4.10",
            "secret in ENV",
            "fail",
            "FROM scratch\nENV AWS_SECRET_ACCESS_KEY=q9Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbAz9X\n",
        )
        .shows("AWS_SECRET_ACCESS_KEY"),
        case(
            "4.10",
            "token as ARG default",
            "fail",
            "FROM scratch\nARG NPM_TOKEN=npm_Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5\nCOPY app /app\n",
        )
        .shows("npm-access-token"),
        case(
            "4.10",
            "password LABEL",
            "fail",
            "FROM scratch\nLABEL com.acme.db.password=\"S3cr3t-Pa55w0rd-2024\"\n",
        )
        .shows("looks like a secret"),
        case(
            "4.10",
            "secret names pointing at files",
            "pass",
            "FROM scratch\nENV APP_MODE=production PASSWORD_FILE=/run/secrets/db TOKENIZERS_PARALLELISM=false\n",
        ),
        // 4.11 verified packages
        case(
            "4.11",
            "curl -k",
            "fail",
            "FROM scratch\nRUN curl -fsSLk https://get.example.com/install.sh | sh\n",
        )
        .shows("curl -fsSLk"),
        case(
            "4.11",
            "--allow-unauthenticated",
            "fail",
            "FROM scratch\nRUN apt-get update && apt-get install -y --allow-unauthenticated foo\n",
        )
        .shows("--allow-unauthenticated"),
        case(
            "4.11",
            "pip --trusted-host",
            "fail",
            "FROM scratch\nRUN pip install --trusted-host pypi.internal acme\n",
        )
        .shows("--trusted-host"),
        case(
            "4.11",
            "NODE_TLS_REJECT_UNAUTHORIZED=0",
            "fail",
            "FROM scratch\nENV NODE_TLS_REJECT_UNAUTHORIZED=0\n",
        )
        .shows("NODE_TLS_REJECT_UNAUTHORIZED"),
        case(
            "4.11",
            "verified installs",
            "pass",
            "FROM scratch\nRUN apt-get update && apt-get install -y curl && curl -fsSL -o k https://example.com/k\n",
        ),
        // 4.12 signed artifacts validated
        case(
            "4.12",
            "ADD <url> without --checksum",
            "fail",
            &format!("FROM scratch\nADD {url}/tool /usr/local/bin/tool\n"),
        )
        .shows("without --checksum"),
        case(
            "4.12",
            "ADD <url> with --checksum",
            "pass",
            &format!(
                "FROM scratch\nADD --checksum=sha256:{tool_sum} {url}/tool /usr/local/bin/tool\n"
            ),
        )
        .shows("verified"),
        case(
            "4.12",
            "RUN download without a check",
            "manual",
            "FROM scratch\nRUN curl -fsSL -o /tool https://example.com/tool\n",
        )
        .shows("curl -fsSL -o /tool"),
        case(
            "4.12",
            "RUN download checked",
            "pass",
            "FROM scratch\nRUN curl -fsSL -o /tool https://example.com/tool \\\n && echo \"0123  /tool\" | sha256sum -c -\n",
        ),
    ];

    let mut failures = Vec::new();
    let mut seen: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (n, c) in cases.iter().enumerate() {
        let ctx = format!("c{n}");
        sb.write(&format!("{ctx}/Dockerfile"), &c.dockerfile);
        for (path, content) in &c.files {
            sb.write(&format!("{ctx}/{path}"), content);
        }
        let tag = format!("case{n}:1");
        build(&sb, &ctx, &tag);
        let dockerfile = format!("{ctx}/Dockerfile");
        let mut args = vec![tag.as_str(), "--dockerfile", dockerfile.as_str()];
        let policy_path;
        if let Some(p) = c.policy {
            policy_path = format!("{ctx}/policy.toml");
            sb.write(&policy_path, p);
            args.extend(["--policy", policy_path.as_str()]);
        }
        let (code, report) = cis_json(&sb, &args);
        let got = check(&report, c.id);
        let status = got["status"].as_str().unwrap_or("");
        seen.entry(c.id).or_default().push(status.to_string());
        let text = got.to_string();
        if status != c.expect {
            failures.push(format!(
                "{} {}: expected {}, got {status}: {text}",
                c.id, c.name, c.expect
            ));
        } else if !text.contains(c.shows) {
            failures.push(format!(
                "{} {}: {:?} not shown: {text}",
                c.id, c.name, c.shows
            ));
        }
        if status == "fail" {
            // Evidence points somewhere: a Dockerfile line, a config field or a file.
            let ev = got["evidence"].as_array().map_or(0, Vec::len);
            if ev == 0 {
                failures.push(format!("{} {}: failed without evidence", c.id, c.name));
            }
            if code != 1 {
                failures.push(format!("{} {}: exit {code}, want 1", c.id, c.name));
            }
        }
    }
    for id in [
        "4.1", "4.2", "4.6", "4.7", "4.8", "4.9", "4.10", "4.11", "4.12",
    ] {
        let s = seen.get(id).cloned().unwrap_or_default();
        assert!(
            s.iter().any(|x| x == "fail") && s.iter().any(|x| x == "pass"),
            "{id}: {s:?}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cis_reads_the_history_without_a_dockerfile_and_skips_inherited_entries() {
    let sb = Sandbox::new();
    let mut craft = Craft::new();
    craft.config.config.env = vec!["PATH=/usr/bin".into()];
    craft
        .layer(
            "ADD https://downloads.example.com/tool.tgz /opt/ # buildkit",
            vec![dir("opt"), file("opt/tool", "tool\n", 0o755)],
        )
        .step("RUN /bin/sh -c apt-get update # buildkit")
        .step("RUN |1 NPM_TOKEN=npm_Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5 /bin/sh -c curl -k https://x.example/a | sh # buildkit")
        .save(&sb.store(), "legacy:1");
    let (code, r) = cis_json(&sb, &["legacy:1"]);
    assert_eq!(code, 1);
    for (id, index) in [
        ("4.7", 1),
        ("4.9", 0),
        ("4.11", 2),
        ("4.12", 0),
        ("4.10", 2),
    ] {
        let c = check(&r, id);
        assert_eq!(c["status"], "fail", "{id}: {c}");
        assert!(
            c["evidence"]
                .as_array()
                .expect("evidence")
                .iter()
                .any(|e| e["kind"] == "history" && e["index"] == index),
            "{id}: {c}"
        );
    }
    // The token in the history is redacted in the evidence.
    assert!(!r.to_string().contains("Qw3Er5Ty7Ui9"), "{r}");
    // Built FROM it: the practices of the base's own history are not this image's; the
    // secret it ships still is.
    sb.write(
        "app/Dockerfile",
        "FROM legacy:1\nCOPY passwd /etc/passwd\nUSER app\n",
    );
    sb.write("app/passwd", PASSWD);
    sb.build_ok(&sb.path("app"), &["-t", "app:1"]);
    let (_, r) = cis_json(&sb, &["app:1"]);
    for id in ["4.7", "4.9", "4.11", "4.12"] {
        let c = check(&r, id);
        assert_eq!(c["status"], "pass", "{id}: {c}");
        assert!(
            c["checked"]
                .as_str()
                .unwrap_or("")
                .contains("after the 3 entries inherited"),
            "{c}"
        );
    }
    assert_eq!(check(&r, "4.10")["status"], "fail");
    assert_eq!(check(&r, "4.1")["status"], "pass");
    assert_eq!(check(&r, "4.2")["status"], "manual");
}

fn clean_image(sb: &Sandbox) -> PathBuf {
    sb.write(
        "clean/Dockerfile",
        "FROM scratch\nCOPY passwd /etc/passwd\nCOPY app /app\nUSER app\n",
    );
    sb.write("clean/passwd", PASSWD);
    sb.write("clean/app", "app\n");
    sb.build_ok(&sb.path("clean"), &["-t", "clean:1"]);
    sb.write(
        "policy.toml",
        "# health is probed by the orchestrator\n[[exemption]]\nid = \"4.6\"\nreason = \"the orchestrator probes /healthz\"\nexpires = 2027-01-01\n",
    )
}

#[test]
fn cis_policy_exemptions_apply_until_they_expire() {
    let sb = Sandbox::new();
    clean_image(&sb);
    let base = ["clean:1", "--dockerfile", "clean/Dockerfile"];
    let (code, r) = cis_json(&sb, &base);
    assert_eq!(code, 1, "4.6 fails without the policy");
    assert_eq!(check(&r, "4.6")["status"], "fail");
    assert_eq!(r["summary"]["fail"], 1, "{r}");

    let with = |today: &'static str| {
        let mut a = base.to_vec();
        a.extend(["--policy", "policy.toml", "--today", today]);
        a
    };
    let (code, r) = cis_json(&sb, &with("2026-12-31"));
    assert_eq!(code, 0, "{r}");
    let c = check(&r, "4.6");
    assert_eq!(c["status"], "exempt");
    assert_eq!(c["exemption"]["applied"], true);
    assert_eq!(c["exemption"]["reason"], "the orchestrator probes /healthz");
    assert_eq!(r["verdict"], "pass");

    let (code, r) = cis_json(&sb, &with("2027-01-01"));
    assert_eq!(code, 1);
    let c = check(&r, "4.6");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["exemption"]["applied"], false);
    assert!(
        c["exemption"]["note"]
            .as_str()
            .unwrap_or("")
            .contains("expired on 2027-01-01")
    );
    // The table says so too, and LADING_TODAY works like --today.
    let mut cmd = sb.lading(&["cis", "clean:1", "--policy", "policy.toml"]);
    cmd.current_dir(sb.path(""))
        .env("LADING_TODAY", "2030-01-01");
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("expired on 2027-01-01"),
        "{}",
        stdout(&out)
    );

    // Policy errors are errors (exit 2), naming the file.
    for (text, needle) in [
        (
            "[[exemption]]\nid = \"4.6\"\nexpires = \"2027-01-01\"\n",
            "reason",
        ),
        (
            "[[exemption]]\nid = \"4.6\"\nreason = \"x\"\nexpires = \"next year\"\n",
            "not a date",
        ),
        (
            "[[exemption]]\nid = \"9.9\"\nreason = \"x\"\nexpires = \"2027-01-01\"\n",
            "unknown check id",
        ),
        ("allowed_registry = []\n", "allowed_registry"),
    ] {
        sb.write("bad.toml", text);
        let out = cis(&sb, &["clean:1", "--policy", "bad.toml"]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(
            stderr(&out).contains("bad.toml") && stderr(&out).contains(needle),
            "{}",
            stderr(&out)
        );
    }
    let out = cis(&sb, &["clean:1", "--today", "2027-13-01"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cis_json_snapshot() {
    let sb = Sandbox::new();
    clean_image(&sb);
    sb.write(
        "snap/Dockerfile",
        "FROM scratch\nCOPY --chmod=4755 tool /usr/local/bin/tool\nADD app.conf /etc/app.conf\nENV DB_PASSWORD=Zt9qL2vXw7Rk4pQm8\nHEALTHCHECK CMD [\"/usr/local/bin/tool\", \"--health\"]\nUSER 1000\n",
    );
    sb.write("snap/tool", "#!/bin/sh\n");
    sb.write("snap/app.conf", "mode = production\n");
    sb.write(
        "snap/policy.toml",
        "[[exemption]]\nid = \"4.8\"\nreason = \"tool drops privileges itself\"\nexpires = \"2027-01-01\"\n",
    );
    // The snapshot pins digests: normalised modes keep them whatever the umask.
    sb.build_ok(
        &sb.path("snap"),
        &["-t", "snap:1", "--context-modes=normalize"],
    );
    let out = cis(
        &sb,
        &[
            "snap:1",
            "--dockerfile",
            "snap/Dockerfile",
            "--policy",
            "snap/policy.toml",
            "--today",
            "2026-06-01",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("Zt9qL2vXw7Rk4pQm8"));
    insta::assert_snapshot!("cis_json", text);
}

#[test]
fn cis_and_secrets_exit_codes() {
    let sb = Sandbox::new();
    clean_image(&sb);
    // 0: the gate passes.
    let out = sb.run(&["secrets", "clean:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, _) = cis_json(
        &sb,
        &[
            "clean:1",
            "--policy",
            "policy.toml",
            "--today",
            "2026-01-01",
        ],
    );
    assert_eq!(code, 0);
    // 1: the gate says no (4.6 without the policy).
    assert_eq!(cis(&sb, &["clean:1"]).status.code(), Some(1));
    // 2: errors.
    assert_eq!(cis(&sb, &["missing:1"]).status.code(), Some(2));
    assert_eq!(
        cis(&sb, &["clean:1", "--dockerfile", "no/such/Dockerfile"])
            .status
            .code(),
        Some(2)
    );
    sb.write("broken/Dockerfile", "FROM scratch\nCOPY --bogus=1 a b\n");
    let out = cis(&sb, &["clean:1", "--dockerfile", "broken/Dockerfile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broken/Dockerfile:2"),
        "{}",
        stderr(&out)
    );
    let out = sb.run(&["secrets", "clean:1", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
}
