//! `lading scan` checks exactly what `lading sbom` lists (issue #9, point 2): for every
//! ecosystem the SBOM catalogers find, a real vulnerable version is reported with its path
//! and a fixed version is not; and the purls scanned are the purls of the CycloneDX SBOM
//! of the same digest.
//!
//! The advisories are real records (`tests/fixtures/osv/catalog/`, see its SOURCES.tsv);
//! the contents that carry versions are real where it matters: Go binaries built here with
//! `go build` against golang.org/x/text from the Go module proxy (the vulnerable one with
//! the go1.21.0 toolchain, also from the proxy), jars from Maven Central, Rust binaries
//! built here by the real `cargo auditable build` (pinned in scripts/install-peers)
//! against regex from crates.io, an AlmaLinux 9 rpm database (`rpmdb.sqlite`) made here
//! by the real `rpmbuild` and `rpm --justdb`.
//! Package-manager metadata (dpkg status, apk installed, gemspec, Composer
//! `installed.json`, egg-info) is written here, naming real versions. Downloads are
//! cached under `target/test-cache/scan-catalog/`; a missing tool or download fails on CI
//! and skips locally.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Sandbox, assert_success, have_tool, require, stderr, stdout};
use serde_json::Value;

fn cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache/scan-catalog")
}

fn osv_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/osv")
        .join(sub)
}

fn ok(cmd: &mut Command) -> bool {
    match cmd.output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "{cmd:?} failed:\n{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            false
        }
        Err(e) => {
            eprintln!("{cmd:?}: {e}");
            false
        }
    }
}

// ---------------------------------------------------------------------------------------
// Real artefacts

const GO_MAIN: &str = r#"package main

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"
)

func main() {
	tags, _, _ := language.ParseAcceptLanguage("en-GB;q=0.8, de")
	fmt.Println(tags, http.StatusOK)
}
"#;

/// A Go binary built against golang.org/x/text `text` with toolchain `toolchain`.
fn go_binary(toolchain: &str, text: &str) -> Option<PathBuf> {
    let dir = cache().join(format!("go-{toolchain}-text-{text}"));
    let bin = dir.join("app");
    if bin.is_file() {
        return Some(bin);
    }
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(
        dir.join("go.mod"),
        format!("module example.com/app\n\ngo 1.21\n\nrequire golang.org/x/text {text}\n"),
    )
    .ok()?;
    std::fs::write(dir.join("main.go"), GO_MAIN).ok()?;
    let go = |args: &[&str]| {
        let mut c = Command::new("go");
        c.args(args)
            .current_dir(&dir)
            .env("GOTOOLCHAIN", toolchain)
            .env("GOPATH", cache().join("gopath"))
            .env("GOFLAGS", "-modcacherw -mod=mod")
            .env("CGO_ENABLED", "0");
        ok(&mut c)
    };
    (go(&["mod", "tidy"]) && go(&["build", "-trimpath", "-o", "app", "."])).then_some(bin)
}

/// A jar from Maven Central.
fn maven_jar(group: &str, artifact: &str, version: &str) -> Option<PathBuf> {
    let file = cache().join(format!("{artifact}-{version}.jar"));
    if file.is_file() {
        return Some(file);
    }
    std::fs::create_dir_all(cache()).ok()?;
    let url = format!(
        "https://repo1.maven.org/maven2/{}/{artifact}/{version}/{artifact}-{version}.jar",
        group.replace('.', "/")
    );
    let tmp = file.with_extension("part");
    ok(Command::new("curl")
        .args(["-fsSL", "--retry", "2", "-o"])
        .arg(&tmp)
        .arg(&url))
    .then(|| std::fs::rename(&tmp, &file).ok())
    .flatten()
    .map(|_| file)
}

/// The `cargo-auditable` scripts/install-peers installs (pinned there).
fn cargo_peers_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/cargo/bin")
}

/// `PATH` with scripts/install-peers' cargo-auditable first.
fn path_with_cargo_peers() -> std::ffi::OsString {
    let mut dirs = vec![cargo_peers_bin()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap()
}

/// Whether `cargo auditable` can run: `cargo-auditable` in target/peers/cargo/bin or on
/// `PATH`.
fn have_cargo_auditable() -> bool {
    cargo_peers_bin().join("cargo-auditable").is_file() || have_tool("cargo-auditable")
}

/// A Rust executable built by the real `cargo auditable build` from a crate that depends
/// on `regex = "={regex}"` from crates.io: its `.dep-v0` section lists regex and its own
/// dependencies as cargo-auditable records them. Cached (with its target directory, so a
/// rebuild is short) under `target/test-cache/scan-catalog/cargo-auditable-regex-{regex}/`.
fn rust_binary(regex: &str) -> Option<PathBuf> {
    let dir = cache().join(format!("cargo-auditable-regex-{regex}"));
    let bin = dir.join("app");
    if bin.is_file() {
        return Some(bin);
    }
    let src = dir.join("app-src");
    std::fs::create_dir_all(src.join("src")).ok()?;
    std::fs::write(
        src.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nregex = \"={regex}\"\n\n[workspace]\n"
        ),
    )
    .ok()?;
    std::fs::write(
        src.join("src/main.rs"),
        "fn main() {\n    let re = regex::Regex::new(r\"^\\d{4}-\\d{2}-\\d{2}$\").unwrap();\n    println!(\"{}\", re.is_match(\"2014-01-01\"));\n}\n",
    )
    .ok()?;
    let target = dir.join("target");
    let built = ok(Command::new("cargo")
        .args(["auditable", "build", "--quiet"])
        .current_dir(&src)
        .env("PATH", path_with_cargo_peers())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET"));
    (built && std::fs::copy(target.join("debug/app"), &bin).is_ok()).then_some(bin)
}

// ---------------------------------------------------------------------------------------
// An AlmaLinux 9 rpm database, made by the real rpm

const ALMALINUX_9: &str = "NAME=\"AlmaLinux\"\nVERSION=\"9.0 (Emerald Puma)\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.0\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"AlmaLinux 9.0 (Emerald Puma)\"\nCPE_NAME=\"cpe:/o:almalinux:almalinux:9::baseos\"\nHOME_URL=\"https://almalinux.org/\"\n";

/// What the AlmaLinux 9 images need: Debian's `rpm` package (scripts/install-peers).
const RPM_TOOLS: &str = "rpm and rpmbuild (Debian's rpm package)";

/// AlmaLinux 9's `openssl` source package cut down to its `openssl-libs` binary package
/// at `1:3.0.1-{release}`, without files: only its entry in the rpm database matters.
fn openssl_spec(release: &str) -> String {
    format!(
        "Name: openssl\nEpoch: 1\nVersion: 3.0.1\nRelease: {release}\nSummary: Utilities from the general purpose cryptography library with TLS implementation\nLicense: ASL 2.0\n\n%description\nTest fixture.\n\n%package libs\nSummary: A general purpose cryptography library with TLS implementation\n\n%description libs\nTest fixture.\n\n%files libs\n\n%changelog\n"
    )
}

/// Records `openssl-libs` `1:3.0.1-{release}` (x86_64, from source `openssl`) in the rpm
/// database of `root`, `/var/lib/rpm/rpmdb.sqlite`, with the sqlite backend AlmaLinux 9
/// uses: `rpmbuild` makes the package, `rpm --initdb` the database, `rpm -i --justdb`
/// installs the package's header into it. Everything `rpm` writes stays under `work`
/// and `root` (`HOME`, the build tree and its temporary files).
fn almalinux_rpmdb(work: &Path, root: &Path, release: &str) {
    let top = work.join("rpmbuild");
    let tmp = work.join("tmp");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let spec = top.join("SPECS/openssl.spec");
    std::fs::write(&spec, openssl_spec(release)).unwrap();
    let tool = |prog: &str| {
        let mut c = Command::new(prog);
        c.env("HOME", work)
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg(format!("_tmppath {}", tmp.display()))
            .args(["--define", "_db_backend sqlite"]);
        c
    };
    let must = |c: &mut Command| assert!(ok(c), "{c:?} failed (see above)");
    must(
        tool("rpmbuild")
            .args(["-bb", "--target", "x86_64-linux"])
            .arg(&spec),
    );
    let package = top.join(format!(
        "RPMS/x86_64/openssl-libs-3.0.1-{release}.x86_64.rpm"
    ));
    assert!(package.is_file(), "rpmbuild made no {}", package.display());
    let in_root = |c: &mut Command| {
        c.arg("--root").arg(root).args(["--dbpath", "/var/lib/rpm"]);
    };
    let mut init = tool("rpm");
    in_root(&mut init);
    must(init.arg("--initdb"));
    let mut install = tool("rpm");
    in_root(&mut install);
    must(
        install
            .args([
                "-i",
                "--justdb",
                "--nodeps",
                "--noscripts",
                "--ignorearch",
                "--ignoreos",
            ])
            .arg(&package),
    );
    // rpm itself reads back what the image will hold.
    let mut query = tool("rpm");
    in_root(&mut query);
    let out = query
        .args([
            "-q",
            "--qf",
            "%{EPOCH}:%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}",
            "openssl-libs",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("1:3.0.1-{release} x86_64 openssl-3.0.1-{release}.src.rpm"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(root.join("var/lib/rpm/rpmdb.sqlite").is_file());
}

/// A build context of an AlmaLinux 9 image holding openssl-libs `1:3.0.1-{release}`.
fn almalinux_context(dir: &Path, release: &str) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), ALMALINUX_9).unwrap();
    almalinux_rpmdb(&dir.join("work"), &root, release);
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY root/ /\n").unwrap();
}

// ---------------------------------------------------------------------------------------
// Package-manager metadata naming real versions

fn dpkg_status(nginx: &str) -> String {
    format!(
        "Package: nginx-common\nStatus: install ok installed\nPriority: optional\nSection: httpd\nArchitecture: all\nSource: nginx\nVersion: {nginx}\nDescription: small, powerful, scalable web/proxy server - common files\n"
    )
}

fn apk_installed(samba: &str) -> String {
    format!(
        "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:samba-client-libs\nV:{samba}\nA:x86_64\nS:1\nI:1\nT:Samba client libraries\nL:GPL-3.0-or-later\no:samba\n\n"
    )
}

fn gemspec(name: &str, version: &str) -> String {
    format!(
        "# -*- encoding: utf-8 -*-\n# stub: {name} {version} ruby lib\n\nGem::Specification.new do |s|\n  s.name = \"{name}\".freeze\n  s.version = \"{version}\"\n  s.licenses = [\"MIT\".freeze]\nend\n"
    )
}

fn composer_installed(name: &str, version: &str) -> String {
    format!(
        r#"{{"packages": [{{"name": "{name}", "version": "{version}", "version_normalized": "{version}.0", "type": "library", "license": ["MIT"]}}], "dev": false}}"#
    )
}

fn egg_info(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 1.1\nName: {name}\nVersion: {version}\nSummary: x\nLicense: Apache 2.0\n"
    )
}

/// One variant of the test image.
struct Variant {
    os_release: &'static str,
    nginx: &'static str,
    samba: &'static str,
    go: PathBuf,
    jar: PathBuf,
    rust: PathBuf,
    rack: &'static str,
    guzzle: &'static str,
    requests: &'static str,
}

const DEBIAN_7: &str = "PRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"7\"\nVERSION=\"7 (wheezy)\"\nID=debian\n";
const ALPINE_315: &str =
    "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.15.11\nPRETTY_NAME=\"Alpine Linux v3.15\"\n";

/// Writes a build context: the OS packages of one distribution (dpkg for Debian, apk for
/// Alpine; os-release decides which advisories apply) and every language ecosystem.
fn context(dir: &Path, v: &Variant, apk: bool) {
    let root = dir.join("root");
    let put = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    if apk {
        put("etc/os-release", ALPINE_315.as_bytes());
        put("lib/apk/db/installed", apk_installed(v.samba).as_bytes());
    } else {
        put("etc/os-release", v.os_release.as_bytes());
        put("var/lib/dpkg/status", dpkg_status(v.nginx).as_bytes());
    }
    put("usr/local/bin/app-go", &std::fs::read(&v.go).unwrap());
    put(
        "opt/app/lib/commons-text.jar",
        &std::fs::read(&v.jar).unwrap(),
    );
    put("usr/local/bin/app-rust", &std::fs::read(&v.rust).unwrap());
    put(
        &format!("usr/local/bundle/specifications/rack-{}.gemspec", v.rack),
        gemspec("rack", v.rack).as_bytes(),
    );
    put(
        "srv/php/vendor/composer/installed.json",
        composer_installed("guzzlehttp/guzzle", v.guzzle).as_bytes(),
    );
    put(
        &format!(
            "usr/lib/python3/dist-packages/requests-{}.egg-info/PKG-INFO",
            v.requests
        ),
        egg_info("requests", v.requests).as_bytes(),
    );
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY root/ /\n").unwrap();
}

struct Fixture {
    sandbox: Sandbox,
    db: PathBuf,
    /// Whether the `almalinux:vulnerable` and `almalinux:fixed` images were built (rpm and
    /// rpmbuild are installed).
    almalinux: bool,
}

fn make_fixture() -> Option<Fixture> {
    let vulnerable = Variant {
        os_release: DEBIAN_7,
        nginx: "1.2.1-2.2+wheezy2",
        samba: "4.15.9-r0",
        go: go_binary("go1.21.0", "v0.3.7")?,
        jar: maven_jar("org.apache.commons", "commons-text", "1.9")?,
        rust: rust_binary("1.5.4")?,
        rack: "2.2.3",
        guzzle: "7.4.3",
        requests: "2.19.1",
    };
    let fixed = Variant {
        os_release: DEBIAN_7,
        nginx: "1.2.1-2.2+wheezy3",
        samba: "4.15.12-r0",
        go: go_binary("local", "v0.3.8")?,
        jar: maven_jar("org.apache.commons", "commons-text", "1.10.0")?,
        rust: rust_binary("1.5.5")?,
        rack: "2.2.3.1",
        guzzle: "7.4.4",
        requests: "2.20.0",
    };
    let sandbox = Sandbox::new();
    for (name, v) in [("vulnerable", &vulnerable), ("fixed", &fixed)] {
        for (os, apk) in [("debian", false), ("alpine", true)] {
            let dir = sandbox.path(&format!("ctx-{name}-{os}"));
            context(&dir, v, apk);
            sandbox.build_ok(&dir, &["-t", &format!("{os}:{name}")]);
        }
    }
    // openssl-libs: ALSA-2022:7288 is fixed in 1:3.0.1-43.el9_0.
    let almalinux = have_tool("rpm") && have_tool("rpmbuild");
    if almalinux {
        for (name, release) in [("vulnerable", "41.el9_0"), ("fixed", "43.el9_0")] {
            let dir = sandbox.path(&format!("ctx-{name}-almalinux"));
            almalinux_context(&dir, release);
            sandbox.build_ok(&dir, &["-t", &format!("almalinux:{name}")]);
        }
    }
    let db = sandbox.path("db");
    for sub in ["", "catalog"] {
        let out = sandbox.run(&["db", "--db", db.to_str()?, "import", osv_dir(sub).to_str()?]);
        assert_success(&out);
    }
    Some(Fixture {
        sandbox,
        db,
        almalinux,
    })
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    if !require(
        have_cargo_auditable(),
        "cargo-auditable (scripts/install-peers installs it in target/peers/cargo/bin)",
    ) {
        return None;
    }
    let f = F.get_or_init(make_fixture).as_ref();
    if require(
        f.is_some(),
        "go (with the Go module proxy), curl (Maven Central) and cargo auditable (crates.io)",
    ) {
        f
    } else {
        None
    }
}

impl Fixture {
    fn scan(&self, reference: &str) -> Value {
        let out = self.sandbox.run(&[
            "scan",
            "--db",
            self.db.to_str().unwrap(),
            "--no-external",
            reference,
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }
}

/// (advisory, package, installed, path) of every finding.
fn findings(report: &Value) -> BTreeSet<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("package"), s("installed"), s("path"))
        })
        .collect()
}

fn set(rows: &[(&str, &str, &str, &str)]) -> BTreeSet<(String, String, String, String)> {
    rows.iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect()
}

/// The language ecosystems: the same in both images.
const LANGUAGE_FINDINGS: &[(&str, &str, &str, &str)] = &[
    (
        "GO-2022-1059",
        "golang.org/x/text",
        "v0.3.7",
        "usr/local/bin/app-go",
    ),
    ("GO-2023-2102", "stdlib", "go1.21.0", "usr/local/bin/app-go"),
    (
        "GHSA-599f-7c49-w659",
        "org.apache.commons:commons-text",
        "1.9",
        "opt/app/lib/commons-text.jar",
    ),
    (
        "GHSA-m5pq-gvj9-9vr8",
        "regex",
        "1.5.4",
        "usr/local/bin/app-rust",
    ),
    (
        "GHSA-wq4h-7r42-5hrr",
        "rack",
        "2.2.3",
        "usr/local/bundle/specifications/rack-2.2.3.gemspec",
    ),
    (
        "GHSA-f2wf-25xc-69c9",
        "guzzlehttp/guzzle",
        "7.4.3",
        "srv/php/vendor/composer/installed.json",
    ),
    (
        "GHSA-x84v-xcm2-53pg",
        "requests",
        "2.19.1",
        "usr/lib/python3/dist-packages/requests-2.19.1.egg-info/PKG-INFO",
    ),
];

#[test]
fn every_cataloged_ecosystem_is_scanned_with_its_path() {
    let Some(f) = fixture() else { return };
    let mut want = set(LANGUAGE_FINDINGS);
    want.extend(set(&[(
        "DSA-3029-1",
        "nginx-common",
        "1.2.1-2.2+wheezy2",
        "var/lib/dpkg/status",
    )]));
    let report = f.scan("debian:vulnerable");
    assert_eq!(findings(&report), want, "{report:#}");
    // The Go main module has no version: scanned, listed as not matchable.
    assert_eq!(report["summary"]["notMatchable"], 1, "{report:#}");
    let unmatched: Vec<&Value> = report["scanned"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("notMatchable").is_some())
        .collect();
    assert!(
        unmatched[0]["purl"]
            .as_str()
            .unwrap()
            .starts_with("pkg:golang/example.com/app"),
        "{unmatched:?}"
    );

    let mut want = set(LANGUAGE_FINDINGS);
    want.extend(set(&[(
        "ALPINE-CVE-2022-32746",
        "samba-client-libs",
        "4.15.9-r0",
        "lib/apk/db/installed",
    )]));
    assert_eq!(findings(&f.scan("alpine:vulnerable")), want);

    if require(f.almalinux, RPM_TOOLS) {
        let report = f.scan("almalinux:vulnerable");
        assert_eq!(
            findings(&report),
            set(&[(
                "ALSA-2022:7288",
                "openssl-libs",
                "1:3.0.1-41.el9_0",
                "var/lib/rpm/rpmdb.sqlite",
            )]),
            "{report:#}"
        );
        assert_eq!(report["findings"][0]["fixed"], "1:3.0.1-43.el9_0");
        assert_eq!(report["packages"], 1, "{report:#}");
        assert_eq!(report["scanned"][0]["ecosystem"], "AlmaLinux:9");
    }
}

#[test]
fn fixed_versions_of_every_cataloged_ecosystem_are_not_reported() {
    let Some(f) = fixture() else { return };
    for r in ["debian:fixed", "alpine:fixed"] {
        let report = f.scan(r);
        assert_eq!(findings(&report), BTreeSet::new(), "{r}: {report:#}");
        // Everything was looked at: 1 OS package, x/text, stdlib, the main module,
        // commons-text, the app crate, regex and its dependencies as cargo-auditable
        // records them (regex-syntax, aho-corasick, memchr), rack, guzzle, requests.
        assert_eq!(report["packages"], 13, "{r}: {report:#}");
    }
    if require(f.almalinux, RPM_TOOLS) {
        let report = f.scan("almalinux:fixed");
        assert_eq!(findings(&report), BTreeSet::new(), "{report:#}");
        assert_eq!(report["packages"], 1, "{report:#}");
        assert_eq!(report["scanned"][0]["ecosystem"], "AlmaLinux:9");
    }
}

fn cyclonedx_purls(sb: &Sandbox, reference: &str) -> BTreeSet<String> {
    let out = sb.run(&["sbom", reference, "--format", "cyclonedx"]);
    assert_success(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str().map(str::to_string))
        .collect()
}

fn scanned_purls(report: &Value) -> BTreeSet<String> {
    report["scanned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purl"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn purls_scanned_equal_the_purls_of_the_cyclonedx_sbom_of_the_same_digest() {
    let Some(f) = fixture() else { return };
    let mut images = vec![
        "debian:vulnerable",
        "alpine:vulnerable",
        "debian:fixed",
        "alpine:fixed",
    ];
    if require(f.almalinux, RPM_TOOLS) {
        images.extend(["almalinux:vulnerable", "almalinux:fixed"]);
    }
    for r in images {
        let report = f.scan(r);
        let sbom = cyclonedx_purls(&f.sandbox, r);
        assert!(!sbom.is_empty());
        assert_eq!(scanned_purls(&report), sbom, "{r}");
        if let Some(kind) = r.strip_prefix("almalinux:") {
            let release = if kind == "vulnerable" { "41" } else { "43" };
            let want = format!("pkg:rpm/almalinux/openssl-libs@3.0.1-{release}.el9_0?");
            assert!(
                sbom.len() == 1 && sbom.iter().all(|p| p.starts_with(&want)),
                "{r}: {sbom:?}"
            );
        }
    }
    // The cataloger fixtures of tests/sbom.rs (every cataloger, rpm on Fedora, which OSV
    // does not cover: scanned, not matchable).
    let sb = &f.sandbox;
    for name in ["debian", "alpine", "fedora"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sbom")
            .join(name);
        let digest = sb.build_ok(&dir, &["-t", &format!("cat-{name}:1")]);
        let r = format!("cat-{name}:1");
        let report = f.scan(&r);
        assert_eq!(report["image"]["digest"], digest.trim());
        assert_eq!(scanned_purls(&report), cyclonedx_purls(sb, &r), "{name}");
        if name == "fedora" {
            let rpms: Vec<&Value> = report["scanned"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["purl"].as_str().unwrap().starts_with("pkg:rpm/"))
                .collect();
            assert!(!rpms.is_empty());
            assert!(
                rpms.iter().all(|p| p["notMatchable"].is_string()),
                "{rpms:?}"
            );
        }
    }
}
