//! `lading report`: one self-contained HTML page about a store image.
//!
//! The fixture runs the whole pipeline the page reports on: an image built `FROM` a
//! store base image, with npm and PyPI packages (two real advisories of
//! `tests/fixtures/osv/` and one written here for a package with a hostile name), a
//! Debian package, and a planted AWS key in a file whose name is an HTML injection;
//! `lading gate` with a Dockerfile and a policy, `lading scan`, `lading sign --attest
//! all` with a key into the store, and a publish record naming a pushed reference and
//! those bundles (written as `lading publish` writes it). The page must show each piece,
//! hold no active or remote content, escape the hostile strings, and render offline in
//! headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use base64::Engine as _;
use common::signing::{lading, lading_keys};
use common::{Sandbox, assert_success, require_tool, stderr, stdout};
use serde_json::{Value, json};

const PASSWORD: &str = "report signing 4";
/// The planted credential (gitleaks' AWS access key id shape).
const AWS_KEY: &str = "AKIAZ7VRSQ5TJ3HPLN2M";
/// A package name and a file name that break out of HTML text and attributes.
const EVIL_PACKAGE: &str = "<script>alert(1)</script>";
const EVIL_FILE: &str = "\"><img src=x>.ini";
const EVIL_SUMMARY: &str = "Injected <img src=x onerror=alert(2)> summary";
const PUSHED: &str = "registry.example/team/app";

/// CIS 4.6 (no HEALTHCHECK) is exempt; the scan fails on critical findings only.
const POLICY: &str = "[[exemption]]\nid = \"4.6\"\nreason = \"probed by the orchestrator\"\nexpires = 2099-01-01\n\n[scan]\nfail_on = \"critical\"\n";

const DPKG_STATUS: &str = "Package: base-files\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 341\nMaintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: amd64\nVersion: 12.4+deb12u5\nDescription: Debian base system miscellaneous files\n\n";

const APP_DOCKERFILE: &str = "FROM base:1\nCOPY node_modules /srv/app/node_modules/\nCOPY site-packages /usr/local/lib/python3.11/site-packages/\nCOPY conf /etc/app/\nUSER 65532:65532\nCMD [\"/srv/app/run\"]\n";

struct Fixture {
    sb: Sandbox,
    /// The app's manifest digest.
    digest: String,
    /// The base image's manifest digest.
    base: String,
    /// `lading gate --format json`'s record.
    gates: Value,
    /// `sha256:<hex>` of the signing key's DER.
    fingerprint: String,
    /// (predicate type, referrer reference) of each bundle `sign --attest all` stored.
    bundles: Vec<(String, String)>,
    /// The rendered page.
    html: String,
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(make_fixture)
}

fn make_fixture() -> Fixture {
    // A static is never dropped: the sandbox lives under the test cache instead of /tmp,
    // and the previous run's is cleared on the way in.
    let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache/report/runs");
    let _ = std::fs::remove_dir_all(&runs);
    std::fs::create_dir_all(&runs).expect("runs");
    let sb = Sandbox {
        dir: tempfile::tempdir_in(&runs).expect("sandbox"),
    };
    sb.write(
        "base/os-release",
        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    );
    sb.write("base/status", DPKG_STATUS);
    sb.write(
        "base/Dockerfile",
        "FROM scratch\nCOPY os-release /etc/os-release\nCOPY status /var/lib/dpkg/status\n",
    );
    let base = sb.build_ok(&sb.path("base"), &["-t", "base:1"]);

    sb.write(
        "app/node_modules/lodash/package.json",
        r#"{"name":"lodash","version":"4.17.19"}"#,
    );
    sb.write(
        "app/node_modules/evil/package.json",
        &json!({"name": EVIL_PACKAGE, "version": "1.0.0"}).to_string(),
    );
    sb.write(
        "app/site-packages/requests-2.19.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n",
    );
    sb.write(
        &format!("app/conf/{EVIL_FILE}"),
        &format!("[default]\naws_access_key_id = {AWS_KEY}\n"),
    );
    sb.write("app/Dockerfile", APP_DOCKERFILE);
    let digest = sb.build_ok(&sb.path("app"), &["-t", "app:1"]);

    // Two real advisories and one for the hostile package, with a hostile summary.
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    for id in ["GHSA-p6mc-m468-83gw", "GHSA-x84v-xcm2-53pg"] {
        let file = format!("{id}.json");
        std::fs::create_dir_all(sb.path("advisories")).expect("dir");
        std::fs::copy(osv.join(&file), sb.path("advisories").join(&file)).expect("copy");
    }
    sb.write(
        "advisories/LADING-TEST-0001.json",
        &json!({
            "id": "LADING-TEST-0001",
            "modified": "2026-01-01T00:00:00Z",
            "summary": EVIL_SUMMARY,
            "affected": [{
                "package": {"ecosystem": "npm", "name": EVIL_PACKAGE},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}],
            }],
        })
        .to_string(),
    );
    let db = sb.path("db");
    assert_success(&sb.run(&["db", "--db", s(&db), "import", s(&sb.path("advisories"))]));
    let policy = sb.write("policy.toml", POLICY);

    let mut gate = sb.lading(&[
        "gate",
        "app:1",
        "--db",
        s(&db),
        "--policy",
        s(&policy),
        "--dockerfile",
        "app/Dockerfile",
        "--format",
        "json",
    ]);
    // The Dockerfile relative to the sandbox: the page shows the path as given.
    gate.current_dir(sb.dir.path())
        .env("LADING_TODAY", "2026-01-01");
    let out = common::run(&mut gate);
    // The planted key fails the secrets gate (and CIS 4.2: base:1 is not pinned).
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let gates: Value = serde_json::from_str(&stdout(&out)).expect("gate json");

    // The vuln predicate of `--attest all` is the latest `lading scan`'s.
    let scan = sb.run(&["scan", "app:1", "--db", s(&db), "--no-external"]);
    assert!(
        matches!(scan.status.code(), Some(0 | 1)),
        "{}",
        stderr(&scan)
    );

    let (key, public, _) = lading_keys(&sb, "k", Some(PASSWORD));
    let out = lading(
        &sb,
        Some(PASSWORD),
        &[
            "sign",
            "--key",
            s(&key),
            "--tlog-upload=false",
            "--attest",
            "all",
            "app:1",
        ],
    );
    assert_success(&out);
    let bundles = stored_bundles(&sb, &stdout(&out));
    assert_eq!(bundles.len(), 6, "{}", stdout(&out));
    let fingerprint = fingerprint(&public);
    write_publish_record(&sb, &digest, &gates, &fingerprint, &bundles);

    let page = sb.path("out/report.html");
    let out = sb.run(&["report", "app:1", "-o", s(&page)]);
    assert_success(&out);
    assert!(stderr(&out).contains(&digest), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).expect("report");
    Fixture {
        sb,
        digest,
        base,
        gates,
        fingerprint,
        bundles: bundles
            .into_iter()
            .map(|b| (b.predicate_type, b.referrer))
            .collect(),
        html,
    }
}

struct Stored {
    predicate_type: String,
    referrer: String,
    blob: String,
    size: u64,
}

/// The bundles `lading sign` printed (`bundle app@sha256:…`: referrer manifests in the
/// store), each read back for its bundle layer and predicate type.
fn stored_bundles(sb: &Sandbox, printed: &str) -> Vec<Stored> {
    printed
        .lines()
        .filter_map(|l| l.strip_prefix("bundle "))
        .map(|r| {
            let (_, digest) = r.split_once('@').expect("by digest");
            let m = common::json_blob(&sb.store(), digest);
            Stored {
                predicate_type: m["annotations"]["dev.sigstore.bundle.predicateType"]
                    .as_str()
                    .expect("predicate type")
                    .to_string(),
                referrer: format!("{PUSHED}@{digest}"),
                blob: m["layers"][0]["digest"]
                    .as_str()
                    .expect("layer")
                    .to_string(),
                size: m["layers"][0]["size"].as_u64().expect("size"),
            }
        })
        .collect()
}

/// `sha256:<hex>` of a PEM public key's DER (the publish record's key fingerprint).
fn fingerprint(public: &Path) -> String {
    let pem = std::fs::read_to_string(public).expect("pub");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64");
    common::sha256(&der)
}

/// The record `lading publish` writes after pushing to [`PUSHED`] and signing there.
fn write_publish_record(
    sb: &Sandbox,
    digest: &str,
    gates: &Value,
    fingerprint: &str,
    bundles: &[Stored],
) {
    let record = json!({
        "schema": 1,
        "manifest": digest,
        "gateRecord": gates["recordDigest"],
        "policy": gates["record"]["policy"],
        "pushed": [{"image": format!("{PUSHED}:1"), "reference": format!("{PUSHED}@{digest}")}],
        "signed": [{
            "repository": PUSHED,
            "signer": {"key": fingerprint},
            "bundles": bundles.iter().map(|b| json!({
                "predicateType": b.predicate_type,
                "digest": b.blob,
                "size": b.size,
                "referrer": b.referrer,
            })).collect::<Vec<_>>(),
            "legacy": true,
        }],
        "updated": "2026-01-01T00:00:00Z",
    });
    let hex = digest.strip_prefix("sha256:").expect("sha256");
    sb.write(
        &format!("store/.lading/publish/{hex}.json"),
        &serde_json::to_string_pretty(&record).expect("json"),
    );
}

/// A gate's report, as stored.
fn gate_report(f: &Fixture, gate: &str) -> Value {
    let run = f.gates["record"]["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .find(|g| g["name"] == gate)
        .expect("gate");
    common::json_blob(
        &f.sb.store(),
        run["report"]["digest"].as_str().expect("report"),
    )
}

/// `text` as the page writes it.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn assert_has(html: &str, what: &str) {
    assert!(html.contains(what), "{what:?} is not in the page");
}

#[test]
fn page_shows_the_digest_gates_findings_packages_signatures_and_provenance() {
    let f = fixture();
    let html = &f.html;
    assert_has(html, &f.digest);
    assert_has(html, "<h1>app:1</h1>");

    // Each gate's verdict, and the overall one.
    for (gate, verdict) in [
        ("sbom", "pass"),
        ("scan", "pass"),
        ("cis", "fail"),
        ("secrets", "fail"),
    ] {
        let run = f.gates["record"]["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == gate)
            .unwrap();
        assert_eq!(run["verdict"], verdict, "{run:#}");
        assert_has(
            html,
            &format!(
                "<td><b>{gate}</b></td><td><span class=\"badge b-none\">ran</span></td><td><span class=\"badge b-{verdict}\">{verdict}</span></td>"
            ),
        );
    }
    assert_has(html, "<div class=\"word\">FAIL</div>");
    assert_has(html, f.gates["record"]["policy"].as_str().unwrap());
    let db = f.gates["record"]["gates"][1]["database"]["manifestDigest"]
        .as_str()
        .unwrap();
    assert_has(html, db);

    // Every finding and the severity counts, worst first.
    let scan = gate_report(f, "scan");
    let findings = scan["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3, "{scan:#}");
    for id in [
        "GHSA-p6mc-m468-83gw",
        "GHSA-x84v-xcm2-53pg",
        "LADING-TEST-0001",
    ] {
        assert_has(html, &format!("<code>{id}</code>"));
    }
    for sev in ["critical", "high", "medium", "low", "unknown"] {
        let n = scan["summary"][sev].as_u64().unwrap();
        assert_has(
            html,
            &format!("<div class=\"n\">{n}</div><div class=\"k\">{sev}</div>"),
        );
    }
    let rank = |s: &str| {
        ["unknown", "none", "low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let shown: Vec<usize> = html
        .split("<span class=\"sev sev-")
        .skip(1)
        .map(|rest| rank(rest.split('"').next().unwrap()))
        .collect();
    assert_eq!(shown.len(), 3);
    assert!(
        shown.windows(2).all(|w| w[0] >= w[1]),
        "not worst first: {shown:?}"
    );
    assert_has(html, "<code>4.17.20</code>");

    // The CIS checks, with a Dockerfile line as evidence.
    for id in [
        "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.10", "4.11", "4.12",
    ] {
        assert_has(html, &format!("<td><b>{id}</b></td>"));
    }
    let cis = gate_report(f, "cis");
    let line = cis["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["evidence"].as_array().unwrap())
        .find(|e| e["kind"] == "dockerfile")
        .expect("Dockerfile evidence");
    assert_has(
        html,
        &esc(&format!(
            "{}:{}",
            line["file"].as_str().unwrap(),
            line["line"]
        )),
    );

    // The secret: where, which rule, redacted.
    let secrets = gate_report(f, "secrets");
    let finding = &secrets["findings"][0];
    assert_has(
        html,
        &format!("<code>{}</code>", esc(finding["rule"].as_str().unwrap())),
    );
    assert_has(html, &esc(finding["match"].as_str().unwrap()));
    assert!(!html.contains(AWS_KEY), "the secret itself is on the page");

    // Packages per ecosystem.
    for (eco, n) in [("deb", 1), ("npm", 2), ("pypi", 1)] {
        assert_has(
            html,
            &format!("<td><code>{eco}</code></td><td class=\"num\">{n}</td>"),
        );
    }
    // The operating system component has no purl.
    assert_has(
        html,
        "<td><code>(no purl)</code></td><td class=\"num\">1</td>",
    );
    assert_has(html, "<td><b>total</b></td><td class=\"num\"><b>5</b></td>");

    // Where it went and who signed what.
    assert_has(html, &format!("{PUSHED}@{}", f.digest));
    assert_has(html, &f.fingerprint);
    // The record's signer once; each bundle states that very key.
    assert_has(
        html,
        &format!(
            "Signer (publish record): key <code class=\"digest\">{}</code>",
            f.fingerprint
        ),
    );
    assert_eq!(html.matches(&f.fingerprint).count(), 1);
    assert_eq!(html.matches("the signer above").count(), 6);
    for (predicate_type, referrer) in &f.bundles {
        assert_has(
            html,
            &format!("<code class=\"digest\">{}</code>", esc(predicate_type)),
        );
        assert_has(html, referrer);
    }
    assert_eq!(html.matches("subject: this digest").count(), 6);
    assert_has(html, "not logged");

    // The provenance: the base image by digest, the build's parameters.
    assert_has(html, "<code>base:1</code>");
    assert_has(html, &f.base);
    assert_has(html, "<code>platform</code>");
    assert_has(html, "<code>dockerfile.path</code>");
}

#[test]
fn page_has_no_script_link_or_remote_resource() {
    let html = &fixture().html.to_ascii_lowercase();
    for banned in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "<base",
        "<form",
        "src=\"",
        "src='",
        "href=\"http",
        "href=\"//",
        "@import",
        "url(",
        "javascript:",
    ] {
        assert!(!html.contains(banned), "{banned:?} is in the page");
    }
    // In-page anchors are the only links.
    for href in html.split("href=\"").skip(1) {
        assert!(
            href.starts_with('#'),
            "a link out: {}",
            &href[..40.min(href.len())]
        );
    }
    // And the browser is told to fetch and run nothing, whatever the page holds.
    assert!(html.contains("http-equiv=\"content-security-policy\" content=\"default-src 'none';"));
}

#[test]
fn hostile_names_from_the_image_are_text() {
    let html = &fixture().html;
    assert_has(html, &esc(EVIL_PACKAGE));
    assert_has(html, "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_has(html, &esc(EVIL_FILE));
    assert_has(html, "&quot;&gt;&lt;img src=x&gt;.ini");
    assert_has(html, &esc(EVIL_SUMMARY));
    for raw in [EVIL_PACKAGE, EVIL_FILE, "<img"] {
        assert!(!html.contains(raw), "{raw:?} is in the page unescaped");
    }
}

#[test]
fn missing_records_are_shown_as_missing_and_stdout_is_the_default() {
    let f = fixture();
    // The base image: never gated, pushed or signed; built here, so it has provenance.
    let out = f.sb.run(&["report", "base:1"]);
    assert_success(&out);
    let html = stdout(&out);
    assert_has(&html, &f.base);
    assert_has(&html, "NOT GATED");
    assert_has(&html, "not gated: `lading gate` never ran on this digest");
    assert_has(&html, "not pushed");
    assert_has(&html, "unsigned");
    assert_has(&html, "none: built FROM scratch");
    let dash = f.sb.run(&["report", &f.base, "-o", "-"]);
    assert_success(&dash);
    assert!(stdout(&dash).starts_with("<!DOCTYPE html>"));
    assert_has(&stdout(&dash), "<h1>base:1</h1>");

    // Without the publish record the store's own bundle referrers are listed.
    let hex = f.digest.strip_prefix("sha256:").unwrap();
    let record = f.sb.store().join(format!(".lading/publish/{hex}.json"));
    let saved = std::fs::read(&record).unwrap();
    std::fs::remove_file(&record).unwrap();
    let out = f.sb.run(&["report", "app:1"]);
    std::fs::write(&record, saved).unwrap();
    assert_success(&out);
    let html = stdout(&out);
    assert_has(&html, "not pushed");
    assert_has(&html, "local store");
    assert_eq!(html.matches("subject: this digest").count(), 6);
    assert_has(
        &html,
        &format!(
            "Signer (every bundle): key <code class=\"digest\">{}</code>",
            f.fingerprint
        ),
    );
    assert_eq!(html.matches("the signer above").count(), 6);
}

#[test]
fn an_image_not_in_the_store_exits_2() {
    let f = fixture();
    let out = f.sb.run(&["report", "nothere:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothere:1 is not in the store"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let sb = Sandbox::new();
    let out = sb.run(&["report", "app:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!sb.store().exists(), "the report created a store");
}

// ---------------------------------------------------------------------------------------
// Headless Chromium

/// `chromium --headless ARGS file://PAGE` in a profile of its own.
fn chromium(sb: &Sandbox, args: &[&str], page: &Path) -> Output {
    let profile = sb.path(&format!(
        "chromium-{}",
        args[0].trim_start_matches('-').split('=').next().unwrap()
    ));
    let mut cmd = std::process::Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(format!("file://{}", page.display()));
    common::run(&mut cmd)
}

#[test]
fn chromium_renders_the_page_offline() {
    if !require_tool("chromium") {
        return;
    }
    let f = fixture();
    let page = f.sb.path("out/report.html");
    let png = f.sb.path("out/report.png");
    let out = chromium(
        &f.sb,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2400",
        ],
        &page,
    );
    assert!(png.is_file(), "no screenshot:\n{}", stderr(&out));
    let bytes = std::fs::read(&png).unwrap();
    let image = png::decode(&bytes);
    assert_eq!((image.width, image.height), (1280, 2400));
    // The dark header band, a red FAIL badge and a page that is not one colour.
    assert!(
        image.pixel(20, 20).iter().take(3).all(|c| *c < 0x40),
        "{:?}",
        image.pixel(20, 20)
    );
    let red = (0..image.height / 8)
        .flat_map(|y| (image.width / 2..image.width).map(move |x| (x, y)))
        .any(|(x, y)| {
            let p = image.pixel(x, y);
            p[0] > 0xb0 && p[1] < 0x50 && p[2] < 0x60
        });
    assert!(red, "no FAIL badge in the header");
    let background = image.pixel(image.width - 5, image.height / 2);
    let inked = (0..image.height)
        .step_by(3)
        .flat_map(|y| (0..image.width).step_by(3).map(move |x| (x, y)))
        .filter(|&(x, y)| image.pixel(x, y) != background)
        .count();
    assert!(
        inked > 10_000,
        "a nearly blank page ({inked} inked samples)"
    );
    if let Some(dir) = std::env::var_os("LADING_REPORT_KEEP") {
        std::fs::copy(&png, PathBuf::from(&dir).join("report.png")).unwrap();
        std::fs::copy(&page, PathBuf::from(&dir).join("report.html")).unwrap();
    }

    // The DOM Chromium built holds the digest and the hostile names as text.
    let out = chromium(&f.sb, &["--dump-dom"], &page);
    let dom = stdout(&out);
    assert!(dom.contains(&f.digest), "{}", stderr(&out));
    assert!(dom.contains("LADING-TEST-0001"));
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<script"), "Chromium parsed a script element");
    assert!(!dom.contains("<img"), "Chromium parsed an img element");
}

/// Just enough PNG (8-bit RGB or RGBA, not interlaced: what Chromium writes) to look at
/// pixels.
mod png {
    use std::io::Read;

    pub struct Image {
        pub width: usize,
        pub height: usize,
        channels: usize,
        pixels: Vec<u8>,
    }

    impl Image {
        pub fn pixel(&self, x: usize, y: usize) -> &[u8] {
            let at = (y * self.width + x) * self.channels;
            &self.pixels[at..at + self.channels]
        }
    }

    pub fn decode(bytes: &[u8]) -> Image {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let mut at = 8;
        let (mut width, mut height, mut channels) = (0, 0, 0);
        let mut idat = Vec::new();
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let kind = &bytes[at + 4..at + 8];
            let data = &bytes[at + 8..at + 8 + len];
            match kind {
                b"IHDR" => {
                    width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                    height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                    assert_eq!(data[8], 8, "bit depth");
                    channels = match data[9] {
                        2 => 3,
                        6 => 4,
                        t => panic!("colour type {t}"),
                    };
                    assert_eq!(data[12], 0, "interlaced");
                }
                b"IDAT" => idat.extend_from_slice(data),
                _ => {}
            }
            at += 12 + len;
        }
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .expect("IDAT");
        let stride = width * channels;
        assert_eq!(raw.len(), height * (stride + 1), "IDAT size");
        let mut pixels = vec![0u8; height * stride];
        for y in 0..height {
            let filter = raw[y * (stride + 1)];
            let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
            for i in 0..stride {
                let a = if i >= channels {
                    pixels[y * stride + i - channels]
                } else {
                    0
                };
                let b = if y > 0 {
                    pixels[(y - 1) * stride + i]
                } else {
                    0
                };
                let c = if y > 0 && i >= channels {
                    pixels[(y - 1) * stride + i - channels]
                } else {
                    0
                };
                let predicted = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((a as u16 + b as u16) / 2) as u8,
                    4 => paeth(a, b, c),
                    f => panic!("filter {f}"),
                };
                pixels[y * stride + i] = line[i].wrapping_add(predicted);
            }
        }
        Image {
            width,
            height,
            channels,
            pixels,
        }
    }

    fn paeth(a: u8, b: u8, c: u8) -> u8 {
        let p = a as i16 + b as i16 - c as i16;
        let (pa, pb, pc) = (
            (p - a as i16).abs(),
            (p - b as i16).abs(),
            (p - c as i16).abs(),
        );
        if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        }
    }
}
