//! The matcher on real advisories: the 16 GitHub Advisory Database records under
//! `tests/fixtures/osv/` (PyPI, npm, and the Maven, NuGet and RubyGems entries some of them
//! carry), plus a Debian case built from Debian's own changelog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lading_gates::vuln::cvss::Severity;
use lading_gates::vuln::db::{self, Database};
use lading_gates::vuln::inventory::Package;
use lading_gates::vuln::matcher;
use lading_gates::vuln::osv;

fn shared_osv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/osv")
}

fn records() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(shared_osv())
        .expect("tests/fixtures/osv")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pkg(ecosystem: &str, name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        osv_version: version.into(),
        ecosystem: Some(ecosystem.into()),
        unmatchable: None,
        purl: format!("pkg:test/{name}@{version}"),
        source_name: None,
        source_version: None,
        path: format!("{ecosystem}/{name}/{version}"),
        layer: "sha256:test".into(),
    }
}

#[test]
fn the_shared_records_read_cleanly() {
    let recs = records();
    assert_eq!(recs.len(), 16);
    for (name, bytes) in recs {
        let (record, warnings) = osv::parse(&bytes, &name).unwrap();
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert!(record.withdrawn.is_none());
        assert!(
            record
                .affected
                .iter()
                .all(|a| a.ranges.iter().all(|r| r.usable))
        );
    }
}

/// The CVSS base score computed from each record's vector gives the severity GitHub
/// published for it (`database_specific.severity`).
#[test]
fn computed_cvss_severity_agrees_with_github() {
    for (name, bytes) in records() {
        let (record, _) = osv::parse(&bytes, &name).unwrap();
        let rating = matcher::rate(&record, None);
        assert_eq!(rating.source, "cvss_v3", "{name}");
        let github = record
            .database_severity
            .as_deref()
            .and_then(Severity::from_word)
            .unwrap();
        assert_eq!(rating.level, github, "{name}: {:?}", rating);
    }
}

fn database() -> (tempfile::TempDir, Database) {
    let t = tempfile::tempdir().unwrap();
    let s = db::import(t.path(), &shared_osv(), "shared", 0).unwrap();
    assert!(s.errors.is_empty() && s.warnings.is_empty(), "{s:?}");
    let d = Database::open(t.path()).unwrap();
    (t, d)
}

/// (ecosystem, name, version, advisories expected)
const CASES: &[(&str, &str, &str, &[&str])] = &[
    // requests: fixed in 2.20.0.
    ("PyPI", "requests", "2.19.1", &["GHSA-x84v-xcm2-53pg"]),
    ("PyPI", "requests", "2.20.0", &[]),
    // urllib3 < 1.24.2.
    ("PyPI", "urllib3", "1.24.1", &["GHSA-mh33-7rrq-662w"]),
    ("PyPI", "urllib3", "1.24.2", &[]),
    // PyYAML < 5.4 (5.4b1 is a pre-release of 5.4, so before it).
    ("PyPI", "PyYAML", "5.3.1", &["GHSA-8q59-q68h-6hv4"]),
    ("PyPI", "pyyaml", "5.4b1", &["GHSA-8q59-q68h-6hv4"]),
    ("PyPI", "PyYAML", "5.4", &[]),
    // Jinja2 < 2.10.1; PEP 503 names.
    ("PyPI", "jinja2", "2.10", &["GHSA-462w-v97r-4m45"]),
    ("PyPI", "Jinja2", "2.10.1", &[]),
    // Django: three ranges; 2.2 is 2.2.0 under PEP 440; 2.0.x is in none.
    ("PyPI", "Django", "1.11.22", &["GHSA-6r97-cj55-9hrq"]),
    ("PyPI", "Django", "1.11.23", &[]),
    ("PyPI", "Django", "2.0.13", &[]),
    ("PyPI", "django", "2.1", &["GHSA-6r97-cj55-9hrq"]),
    ("PyPI", "Django", "2.1.11", &[]),
    ("PyPI", "Django", "2.2", &["GHSA-6r97-cj55-9hrq"]),
    ("PyPI", "Django", "2.2.3", &["GHSA-6r97-cj55-9hrq"]),
    ("PyPI", "Django", "2.2.4", &[]),
    // Pillow: two advisories, both fixed in 6.2.2.
    (
        "PyPI",
        "Pillow",
        "6.2.1",
        &["GHSA-5gm3-px64-rw72", "GHSA-hj69-c76v-86wr"],
    ),
    ("PyPI", "pillow", "6.2.2", &[]),
    ("PyPI", "lxml", "4.6.2", &["GHSA-jq4v-f5q6-mjqq"]),
    ("PyPI", "lxml", "4.6.3", &[]),
    // cryptography: introduced in 3.1.
    ("PyPI", "cryptography", "3.0", &[]),
    ("PyPI", "cryptography", "3.1", &["GHSA-rhm9-p9w5-fwm7"]),
    ("PyPI", "cryptography", "3.3.1", &["GHSA-rhm9-p9w5-fwm7"]),
    ("PyPI", "cryptography", "3.3.2", &[]),
    // lodash: the prose says "prior to 4.17.19" but the range is fixed at 4.17.20.
    ("npm", "lodash", "4.17.15", &["GHSA-p6mc-m468-83gw"]),
    ("npm", "lodash", "4.17.19", &["GHSA-p6mc-m468-83gw"]),
    ("npm", "lodash", "4.17.20", &[]),
    ("npm", "lodash-es", "4.17.15", &["GHSA-p6mc-m468-83gw"]),
    // minimist: two ranges.
    ("npm", "minimist", "0.2.0", &["GHSA-vh95-rmgr-6w4m"]),
    ("npm", "minimist", "0.2.1", &[]),
    ("npm", "minimist", "1.0.0", &["GHSA-vh95-rmgr-6w4m"]),
    ("npm", "minimist", "1.2.2", &["GHSA-vh95-rmgr-6w4m"]),
    ("npm", "minimist", "1.2.3", &[]),
    ("npm", "handlebars", "4.7.6", &["GHSA-f2jv-r9rf-7988"]),
    ("npm", "handlebars", "4.7.7", &[]),
    // node-fetch: a stable and a pre-release range (SemVer pre-release order).
    ("npm", "node-fetch", "2.6.0", &["GHSA-w7rc-rwvf-8q5r"]),
    ("npm", "node-fetch", "2.6.1", &[]),
    (
        "npm",
        "node-fetch",
        "3.0.0-beta.1",
        &["GHSA-w7rc-rwvf-8q5r"],
    ),
    (
        "npm",
        "node-fetch",
        "3.0.0-beta.8",
        &["GHSA-w7rc-rwvf-8q5r"],
    ),
    ("npm", "node-fetch", "3.0.0-beta.9", &[]),
    ("npm", "node-fetch", "3.0.0", &[]),
    ("npm", "axios", "0.21.0", &["GHSA-4w2v-q235-vp99"]),
    ("npm", "axios", "0.21.1", &[]),
    // jquery: < 3.4.0, and 1.2.0 <= v < 3.5.0.
    ("npm", "jquery", "1.1.4", &["GHSA-6c3j-c64m-qhgq"]),
    (
        "npm",
        "jquery",
        "3.3.1",
        &["GHSA-6c3j-c64m-qhgq", "GHSA-gxr4-xjj5-5px2"],
    ),
    ("npm", "jquery", "3.4.0", &["GHSA-gxr4-xjj5-5px2"]),
    ("npm", "jquery", "3.4.1", &["GHSA-gxr4-xjj5-5px2"]),
    ("npm", "jquery", "3.5.0", &[]),
    // The same records' other ecosystems.
    (
        "Maven",
        "org.webjars.npm:jquery",
        "3.4.1",
        &["GHSA-gxr4-xjj5-5px2"],
    ),
    ("Maven", "org.webjars.npm:jquery", "3.5.0", &[]),
    (
        "Maven",
        "org.webjars:handlebars",
        "4.7.6",
        &["GHSA-f2jv-r9rf-7988"],
    ),
    ("Maven", "org.webjars:handlebars", "4.7.7", &[]),
    (
        "RubyGems",
        "jquery-rails",
        "4.3.5",
        &["GHSA-gxr4-xjj5-5px2"],
    ),
    ("RubyGems", "jquery-rails", "4.4.0", &[]),
    ("NuGet", "jquery", "3.4.1", &["GHSA-gxr4-xjj5-5px2"]),
    ("NuGet", "jquery", "3.5.0", &[]),
    // Names are per ecosystem: the npm jquery record does not match a PyPI "jquery".
    ("PyPI", "jquery", "1.0", &[]),
];

#[test]
fn exactly_the_advisories_that_apply_match() {
    let (_t, d) = database();
    let mut failures = Vec::new();
    for (eco, name, version, want) in CASES {
        let (found, warnings) = matcher::find(&d, &[pkg(eco, name, version)]).unwrap();
        assert!(warnings.is_empty(), "{eco} {name} {version}: {warnings:?}");
        let got: BTreeSet<&str> = found.iter().map(|f| f.id.as_str()).collect();
        let want: BTreeSet<&str> = want.iter().copied().collect();
        if got != want {
            failures.push(format!(
                "{eco} {name} {version}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn findings_name_the_fixed_version_and_severity() {
    let (_t, d) = database();
    let (found, _) = matcher::find(
        &d,
        &[
            pkg("npm", "minimist", "1.2.0"),
            pkg("PyPI", "Django", "2.1.5"),
        ],
    )
    .unwrap();
    let django = found.iter().find(|f| f.package == "Django").unwrap();
    assert_eq!(django.fixed.as_deref(), Some("2.1.11"));
    assert_eq!(django.aliases, vec!["CVE-2019-14234".to_string()]);
    assert_eq!(django.severity.level, Severity::Critical);
    assert_eq!(django.severity.score, Some(9.8));
    let minimist = found.iter().find(|f| f.package == "minimist").unwrap();
    assert_eq!(minimist.fixed.as_deref(), Some("1.2.3"));
    assert_eq!(minimist.severity.level, Severity::Medium);
}

/// Debian's changelog of openssl (as installed on Debian 12 hosts,
/// `/usr/share/doc/libssl3/changelog.Debian.gz`) says:
///
/// ```text
/// openssl (3.0.18-1~deb12u2) bookworm-security; urgency=medium
///   * CVE-2025-15467 (Stack buffer overflow in CMS AuthEnvelopedData parsing)
/// ```
///
/// Debian's OSV data states such a fix as a range on the *source* package in
/// `Debian:12`; the binary `libssl3` carries `Source: openssl` in the dpkg status.
#[test]
fn debian_matches_by_source_package_and_release() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("DEBIAN-CVE-2025-15467.json"),
        r#"{"schema_version":"1.6.0","id":"DEBIAN-CVE-2025-15467","modified":"2026-01-24T16:01:59Z",
            "upstream":["CVE-2025-15467"],
            "summary":"Stack buffer overflow in CMS AuthEnvelopedData parsing",
            "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.18-1~deb12u2"}]}]}]}"#,
    )
    .unwrap();
    let dbdir = t.path().join("db");
    db::import(&dbdir, &input, "debian-changelog", 0).unwrap();
    let d = Database::open(&dbdir).unwrap();
    let libssl = |eco: &str, version: &str, source_version: Option<&str>| Package {
        name: "libssl3".into(),
        version: version.into(),
        osv_version: version.into(),
        ecosystem: Some(eco.into()),
        unmatchable: None,
        purl: "pkg:deb/debian/libssl3".into(),
        source_name: Some("openssl".into()),
        source_version: source_version.map(str::to_string),
        path: "var/lib/dpkg/status".into(),
        layer: "sha256:test".into(),
    };
    let hits = |p: Package| matcher::find(&d, &[p]).unwrap().0.len();
    assert_eq!(hits(libssl("Debian:12", "3.0.18-1~deb12u1", None)), 1);
    assert_eq!(hits(libssl("Debian:12", "3.0.17-1~deb12u3", None)), 1);
    // The fix itself and later versions; `~deb12u2` sorts after `~deb12u1`, before `-1`.
    assert_eq!(hits(libssl("Debian:12", "3.0.18-1~deb12u2", None)), 0);
    assert_eq!(hits(libssl("Debian:12", "3.0.19-1~deb12u1", None)), 0);
    // A binNMU: the binary's version has +b1, the source version decides.
    assert_eq!(
        hits(libssl(
            "Debian:12",
            "3.0.18-1~deb12u2+b1",
            Some("3.0.18-1~deb12u1")
        )),
        1
    );
    // Another release is another ecosystem.
    assert_eq!(hits(libssl("Debian:11", "3.0.18-1~deb12u1", None)), 0);
    // Without the source name, the binary name finds nothing.
    let mut bin_only = libssl("Debian:12", "3.0.18-1~deb12u1", None);
    bin_only.source_name = None;
    assert_eq!(hits(bin_only), 0);
}

/// Every prefix of every shared record, and every record with one byte changed at a
/// stride, gives a record or an error: never a panic.
#[test]
fn truncated_and_mutated_records_never_panic() {
    for (name, bytes) in records() {
        for end in (0..bytes.len()).step_by(7) {
            let _ = osv::parse(&bytes[..end], &name);
        }
        for (i, b) in [b'"', b'{', b']', b'0', b'x', 0xff].iter().enumerate() {
            for pos in (i..bytes.len()).step_by(97) {
                let mut m = bytes.clone();
                m[pos] = *b;
                if let Ok((r, _)) = osv::parse(&m, &name) {
                    let _ = matcher::rate(&r, None);
                }
            }
        }
    }
}

/// Odd version strings compare or fail, in every scheme, without panicking.
#[test]
fn odd_versions_never_panic() {
    use lading_gates::vuln::version::Scheme;
    let odd = [
        "",
        " ",
        "~",
        "^",
        "-",
        ":",
        "1:",
        ":1",
        "v",
        "..",
        "1..2",
        "ü",
        "1.0-",
        "-r",
        "1_",
        "_p",
        "1.0_rc",
        "0!",
        "1!",
        "+",
        "1+",
        "99999999999999999999999999999999",
        "1.2.3-.",
        "v1.2.3-",
        "1.a.b.c.d.e.f",
        "1--1",
        "1.0-r1-r2",
        "\u{0}",
        "1.0~~~^^",
    ];
    for s in Scheme::ALL {
        for a in odd {
            for b in odd {
                let _ = s.compare(a, b);
            }
            let _ = s.compare(a, "1.0");
        }
    }
}

/// RPM on AlmaLinux 9: ALSA-2022:6224 and ALSA-2022:7288 (AlmaLinux/osv-database) name the
/// binary packages with their epoch. Real releases of `openssl-libs`: `1:3.0.1-41.el9_0`
/// (the fix of 6224) is affected by 7288 only; `1:3.0.1-43.el9_0` (the fix of 7288) and
/// `1:3.0.7-16.el9_2` by neither.
#[test]
fn almalinux_rpm_matches_by_binary_package_and_epoch() {
    let t = tempfile::tempdir().unwrap();
    let dbdir = t.path().join("db");
    db::import(&dbdir, &shared_osv().join("catalog"), "catalog", 0).unwrap();
    let d = Database::open(&dbdir).unwrap();
    let rpm = |v: &str| {
        let mut p = pkg("AlmaLinux:9", "openssl-libs", v);
        p.path = "var/lib/rpm/rpmdb.sqlite".into();
        matcher::find(&d, &[p]).unwrap().0
    };
    let hits = rpm("1:3.0.1-41.el9_0");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].id, "ALSA-2022:7288");
    assert_eq!(hits[0].fixed.as_deref(), Some("1:3.0.1-43.el9_0"));
    assert!(rpm("1:3.0.1-43.el9_0").is_empty());
    assert!(rpm("1:3.0.7-16.el9_2").is_empty());
    // The epoch counts: without it (epoch 0) a later version still sorts before both fixes.
    let ids: BTreeSet<String> = rpm("3.0.7-16.el9_2").into_iter().map(|h| h.id).collect();
    assert_eq!(
        ids,
        BTreeSet::from(["ALSA-2022:6224".to_string(), "ALSA-2022:7288".to_string()])
    );
}
