//! `lading gate`: the four gates on one digest, the gate record, `passing_record`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Sandbox, stderr, stdout};
use lading_gates::record::passing_record;
use lading_oci::{Digest, ImageSource, Store};
use serde_json::Value;

/// CIS 4.1 (no USER) and 4.6 (no HEALTHCHECK) are exempt; the scan reads the OSV
/// records the repository ships.
const POLICY: &str = "[[exemption]]\nid = \"4.1\"\nreason = \"scratch test image\"\nexpires = 2099-01-01\n\n[[exemption]]\nid = \"4.6\"\nreason = \"probed by the orchestrator\"\nexpires = 2099-01-01\n\n[scan]\nfail_on = \"high\"\n";

fn shared_osv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

/// A sandbox with `clean:1`, `leaky:1` (an AWS key in a file), a database and a policy.
fn fixture() -> (Sandbox, PathBuf, PathBuf) {
    let sb = Sandbox::new();
    sb.write("clean/hello.txt", "hello\n");
    sb.write("clean/Dockerfile", "FROM scratch\nCOPY hello.txt /srv/\n");
    sb.write("leaky/hello.txt", "hello\n");
    sb.write(
        "leaky/creds",
        "[default]\naws_access_key_id = AKIAZ7VRSQ5TJ3HPLN2M\n",
    );
    sb.write(
        "leaky/Dockerfile",
        "FROM scratch\nCOPY hello.txt /srv/\nCOPY creds /root/.aws/credentials\n",
    );
    sb.build_ok(&sb.path("clean"), &["-t", "clean:1"]);
    sb.build_ok(&sb.path("leaky"), &["-t", "leaky:1"]);
    let db = sb.path("db");
    let out = sb.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        shared_osv().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let policy = sb.write("policy.toml", POLICY);
    (sb, db, policy)
}

fn gate(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.lading(&["gate"]);
    cmd.args(args).env("LADING_TODAY", "2026-01-01");
    common::run(&mut cmd)
}

fn gate_json(sb: &Sandbox, reference: &str, db: &Path, policy: &Path) -> (i32, Value) {
    let out = gate(
        sb,
        &[
            reference,
            "--format",
            "json",
            "--db",
            db.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (code, v)
}

fn digest(v: &Value) -> Digest {
    v["record"]["manifest"].as_str().unwrap().parse().unwrap()
}

#[test]
fn passing_record_is_written_and_found() {
    let (sb, db, policy) = fixture();
    let (code, v) = gate_json(&sb, "clean:1", &db, &policy);
    assert_eq!(code, 0, "{v:#}");
    let rec = &v["record"];
    assert_eq!(rec["verdict"], "pass");
    assert_eq!(rec["schema"], 1);
    assert_eq!(rec["reference"], "clean:1");
    assert_eq!(rec["ladingVersion"], env!("CARGO_PKG_VERSION"));
    let policy_digest = common::sha256(&std::fs::read(&policy).unwrap());
    assert_eq!(rec["policy"].as_str().unwrap(), policy_digest);
    let names: Vec<&str> = rec["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sbom", "scan", "cis", "secrets"]);
    let store = Store::open(sb.store()).unwrap();
    for g in rec["gates"].as_array().unwrap() {
        assert_eq!(g["status"], "ran", "{g:#}");
        assert_eq!(g["verdict"], "pass", "{g:#}");
        let r = &g["report"];
        assert!(r["mediaType"].as_str().unwrap().contains("json"));
        let d: Digest = r["digest"].as_str().unwrap().parse().unwrap();
        assert_eq!(store.verify_blob(&d).unwrap(), r["size"].as_u64().unwrap());
    }
    let scan = &rec["gates"][1];
    assert_eq!(scan["database"]["status"], "ok");
    assert!(
        scan["database"]["manifestDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        !scan["database"]["ecosystems"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // The record blob is the file in .lading/gates and is what passing_record reads.
    let m = digest(&v);
    let path = sb
        .store()
        .join(".lading/gates")
        .join(format!("{}.json", m.hex()));
    assert_eq!(
        v["recordPath"].as_str().unwrap(),
        path.display().to_string()
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(common::sha256(&bytes), v["recordDigest"].as_str().unwrap());
    let found = passing_record(&store, &m)
        .unwrap()
        .expect("a passing record");
    assert_eq!(serde_json::to_value(&found).unwrap(), *rec);

    // The table names every gate and the record.
    let out = gate(
        &sb,
        &[
            "clean:1",
            "--db",
            db.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    for word in [
        "sbom",
        "scan",
        "cis",
        "secrets",
        "verdict:  pass",
        "record:",
    ] {
        assert!(table.contains(word), "{word} in\n{table}");
    }
}

#[test]
fn failing_record_exits_1_and_is_not_passing() {
    let (sb, db, policy) = fixture();
    let (code, v) = gate_json(&sb, "leaky:1", &db, &policy);
    assert_eq!(code, 1, "{v:#}");
    let rec = &v["record"];
    assert_eq!(rec["verdict"], "fail");
    let secrets = &rec["gates"][3];
    assert_eq!(secrets["name"], "secrets");
    assert_eq!(secrets["verdict"], "fail");
    let store = Store::open(sb.store()).unwrap();
    assert!(passing_record(&store, &digest(&v)).unwrap().is_none());

    // Without the exemptions CIS fails the clean image too.
    let bare = sb.write("bare.toml", "[gates]\nskip = [\"scan\"]\n");
    let (code, v) = gate_json(&sb, "clean:1", &db, &bare);
    assert_eq!(code, 1, "{v:#}");
    let rec = &v["record"];
    assert_eq!(rec["gates"][1]["status"], "skipped");
    assert_eq!(rec["gates"][1]["verdict"], "pass");
    assert_eq!(rec["gates"][2]["name"], "cis");
    assert_eq!(rec["gates"][2]["verdict"], "fail");
    // The latest record wins: the earlier pass no longer counts.
    assert!(passing_record(&store, &digest(&v)).unwrap().is_none());
}

#[test]
fn missing_database_fails_closed_unless_skipped() {
    let (sb, _db, policy) = fixture();
    let none = sb.path("no-db");
    let (code, v) = gate_json(&sb, "clean:1", &none, &policy);
    assert_eq!(code, 1, "{v:#}");
    let scan = &v["record"]["gates"][1];
    assert_eq!(scan["status"], "unavailable");
    assert_eq!(scan["verdict"], "fail");
    assert_eq!(scan["reason"], "no vulnerability database");
    assert_eq!(scan["database"]["status"], "missing");

    let skip = sb.write(
        "skip.toml",
        &format!("{POLICY}\n[gates]\nskip = [\"scan\"]\n"),
    );
    let (code, v) = gate_json(&sb, "clean:1", &none, &skip);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["record"]["gates"][1]["status"], "skipped");
}

#[test]
fn tampered_report_is_an_error() {
    let (sb, db, policy) = fixture();
    let (code, v) = gate_json(&sb, "clean:1", &db, &policy);
    assert_eq!(code, 0, "{v:#}");
    let store = Store::open(sb.store()).unwrap();
    let m = digest(&v);
    assert!(passing_record(&store, &m).unwrap().is_some());
    let report: Digest = v["record"]["gates"][3]["report"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let path = store.blob_path(&report);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&path, perm).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let err = passing_record(&store, &m).unwrap_err().to_string();
    assert!(err.contains("secrets report"), "{err}");
}

#[test]
fn policy_errors_exit_2_and_write_nothing() {
    let (sb, db, _policy) = fixture();
    let bad = sb.write("bad.toml", "[gates]\nskip = [\"lint\"]\n");
    let out = gate(
        &sb,
        &[
            "clean:1",
            "--db",
            db.to_str().unwrap(),
            "--policy",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown gate"), "{}", stderr(&out));
    assert!(!sb.store().join(".lading/gates").exists());
}

/// A layer blob changed in the store after the build (here: the gzip header's MTIME,
/// which keeps it a valid gzip of the same size) is caught while each gate streams it:
/// every gate command exits 2 naming the digest mismatch, and no gate record is written.
#[test]
fn layer_changed_in_the_store_is_an_error_for_every_gate() {
    let (sb, db, policy) = fixture();
    let store = Store::open(sb.store()).unwrap();
    let image = lading_oci::SourceRef::parse("clean:1")
        .fetch(&store, &lading_oci::Platform::host())
        .unwrap()
        .unwrap();
    let layer = image.layers()[0].digest.clone();
    let path = store.blob_path(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip layer");
    bytes[4] ^= 0x01;
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&path, perm).unwrap();
    std::fs::write(&path, &bytes).unwrap();

    let db = db.to_str().unwrap();
    let policy = policy.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["sbom", "clean:1"],
        &["scan", "clean:1", "--db", db, "--no-external"],
        &["secrets", "clean:1"],
        &["cis", "clean:1"],
        &["gate", "clean:1", "--db", db, "--policy", policy],
    ];
    for args in commands {
        let out = sb.run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("digest mismatch") && err.contains(&layer.to_string()),
            "{args:?}: {err}"
        );
    }
    let record = lading_gates::record::record_path(&store, &image.descriptor.digest);
    assert!(!record.exists(), "a gate record was written");
}
