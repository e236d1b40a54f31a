//! The latest gate record of the image and the reports it names, read back from the
//! store as the gates wrote them (see `cli::commands::gate`).
//!
//! The report types of `lading_gates` only serialize, so the blobs are read into the
//! views below: the fields the page shows, each defaulted, so a report written by
//! another lading version still shows what it has.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use lading_gates::record::{self, GateRecord, GateRun, Status};
use lading_oci::{Digest, Store};
use serde::Deserialize;
use serde_json::Value;

use super::Part;
use crate::cli::commands::gate::{
    CIS_MEDIA_TYPE, SBOM_MEDIA_TYPE, SCAN_MEDIA_TYPE, SECRETS_MEDIA_TYPE,
};

/// The severities the page counts, worst first.
pub const SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "none", "unknown"];

/// The gate record and each gate's report.
#[derive(Debug, Clone)]
pub struct Gates {
    /// The record as written.
    pub record: GateRecord,
    /// The sbom gate's CycloneDX document, counted.
    pub sbom: Part<Sbom>,
    /// The scan gate's report.
    pub scan: Part<Vulns>,
    /// The CIS gate's report.
    pub cis: Part<Cis>,
    /// The secrets gate's report.
    pub secrets: Part<Secrets>,
}

/// Packages by ecosystem (purl type).
#[derive(Debug, Clone, Default)]
pub struct Sbom {
    /// CycloneDX `specVersion`.
    pub spec_version: String,
    /// Components per purl type (`npm`, `pypi`, `deb`, …).
    pub by_type: BTreeMap<String, usize>,
    /// Components without a purl.
    pub without_purl: usize,
    /// Every component.
    pub total: usize,
}

/// The scan report.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Vulns {
    /// `pass` or `fail`.
    pub verdict: String,
    /// The threshold (`high`, …).
    pub fail_on: Option<String>,
    /// Packages checked.
    pub packages: usize,
    /// Findings in force, worst first once read.
    pub findings: Vec<Vuln>,
    /// Findings an ignore rule or VEX statement silenced.
    pub ignored: Vec<Value>,
    /// Problems the scan met.
    pub warnings: Vec<Value>,
}

/// One finding.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Vuln {
    /// Advisory id.
    pub id: String,
    /// Its aliases (CVE ids).
    pub aliases: Vec<String>,
    /// One-line summary.
    pub summary: String,
    /// Package name.
    pub package: String,
    /// OSV ecosystem.
    pub ecosystem: String,
    /// Installed version.
    pub installed: String,
    /// First fixed version.
    pub fixed: Option<String>,
    /// Severity.
    pub severity: Rating,
    /// The file that evidenced the package.
    pub path: String,
}

/// A finding's severity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Rating {
    /// `critical`, `high`, `medium`, `low`, `none` or `unknown`.
    pub level: String,
    /// CVSS base score.
    pub score: Option<f64>,
}

impl Vulns {
    /// Findings per severity, in [`SEVERITIES`] order (an unexpected word counts as
    /// unknown).
    pub fn counts(&self) -> [(&'static str, usize); 6] {
        SEVERITIES.map(|s| {
            let n = self
                .findings
                .iter()
                .filter(|f| severity_rank(&f.severity.level) == severity_rank(s))
                .count();
            (s, n)
        })
    }
}

/// Orders severities: critical highest, unknown (or any other word) lowest.
pub fn severity_rank(level: &str) -> u8 {
    match level {
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        "none" => 1,
        _ => 0,
    }
}

/// The CIS report.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Cis {
    /// Which benchmark.
    pub benchmark: String,
    /// The Dockerfile checked, when one was given.
    pub dockerfile: Option<String>,
    /// `pass` or `fail`.
    pub verdict: String,
    /// Counts by status.
    pub summary: CisSummary,
    /// The checks, by id.
    pub checks: Vec<CisCheck>,
    /// How the checks ran.
    pub notes: Vec<String>,
}

/// CIS counts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CisSummary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// For a human.
    pub manual: usize,
    /// Failed but exempt.
    pub exempt: usize,
}

/// One CIS check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CisCheck {
    /// `4.1` …
    pub id: String,
    /// CIS title.
    pub title: String,
    /// `pass`, `fail`, `manual` or `exempt`.
    pub status: String,
    /// What was found.
    pub result: String,
    /// For `manual`: what to look at.
    pub manual: Option<String>,
    /// What the check looked at.
    pub evidence: Vec<Evidence>,
    /// The policy's exemption.
    pub exemption: Option<Exemption>,
}

/// A CIS exemption as the report notes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Exemption {
    /// Why.
    pub reason: String,
    /// Until when.
    pub expires: String,
    /// What happened.
    pub note: String,
}

/// One piece of evidence: where, and what it says (already redacted by the gate).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "Value")]
pub struct Evidence {
    /// `Dockerfile`, `history`, `config`, `annotation` or `file`.
    pub kind: String,
    /// Where: `Dockerfile:7`, `history #3 (layer 1)`, `User`, `etc/passwd (layer 0)`.
    pub at: String,
    /// The line, value or detail.
    pub text: String,
}

impl From<Value> for Evidence {
    fn from(v: Value) -> Evidence {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        let layer = |e: &mut String| {
            if let Some(l) = n("layer") {
                e.push_str(&format!(" (layer {l})"));
            }
        };
        let kind = s("kind");
        let (kind, mut at, text) = match kind.as_str() {
            "dockerfile" => {
                let line = n("line").map_or(String::new(), |l| format!(":{l}"));
                (
                    "Dockerfile".into(),
                    format!("{}{line}", s("file")),
                    s("text"),
                )
            }
            "history" => {
                let at = n("index").map_or("history".into(), |i| format!("history #{i}"));
                (kind, at, s("text"))
            }
            "config" => (kind, s("field"), s("value")),
            "annotation" => (kind, s("key"), s("value")),
            "file" => (kind, format!("/{}", s("path")), s("detail")),
            _ => (kind, String::new(), v.to_string()),
        };
        if matches!(kind.as_str(), "history" | "file") {
            layer(&mut at);
        }
        Evidence { kind, at, text }
    }
}

/// The secrets report.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Secrets {
    /// `pass` or `fail`.
    pub verdict: String,
    /// Counts.
    pub summary: SecretsSummary,
    /// The findings, redacted by the gate.
    pub findings: Vec<Secret>,
}

/// Secrets counts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SecretsSummary {
    /// Rules run.
    pub rules: usize,
    /// Layers read.
    pub layers: usize,
    /// Text files scanned.
    pub files_scanned: u64,
    /// Their bytes.
    pub bytes_scanned: u64,
    /// Binary files skipped.
    pub binary_files_skipped: u64,
    /// Config strings scanned.
    pub config_entries_scanned: u64,
}

/// One secret.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Secret {
    /// Rule id.
    pub rule: String,
    /// What the rule finds.
    pub description: String,
    /// Where.
    pub location: Location,
    /// The match, redacted by the gate (the report never holds the secret).
    #[serde(rename = "match")]
    pub matched: String,
    /// Shannon entropy.
    pub entropy: f64,
}

/// Where a secret is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "Value")]
pub struct Location {
    /// `file`, `env`, `label`, `config` or `history`.
    pub source: String,
    /// The path (`/etc/app.env:3`), variable, label, field or history entry.
    pub at: String,
    /// Layer and file state, when it is a file.
    pub detail: String,
}

impl From<Value> for Location {
    fn from(v: Value) -> Location {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        let source = s("source");
        let layer = n("layer").map(|l| format!("layer {l}"));
        let (at, detail): (String, Vec<Option<String>>) = match source.as_str() {
            "file" => {
                let line = n("line").map_or(String::new(), |l| format!(":{l}"));
                let state = Some(s("state")).filter(|s| !s.is_empty());
                (format!("/{}{line}", s("path")), vec![layer, state])
            }
            "env" | "label" => (s("name"), Vec::new()),
            "config" => (s("field"), Vec::new()),
            "history" => {
                let at = format!(
                    "history #{}, line {}",
                    n("index").unwrap_or(0),
                    n("line").unwrap_or(0)
                );
                (at, vec![layer])
            }
            _ => (v.to_string(), Vec::new()),
        };
        Location {
            source,
            at,
            detail: detail.into_iter().flatten().collect::<Vec<_>>().join(", "),
        }
    }
}

/// The latest gate record of `manifest` and its reports.
pub fn gather(store: &Store, manifest: &Digest) -> Part<Gates> {
    let record = match record::latest(store, manifest) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Part::Missing("not gated: `lading gate` never ran on this digest".into());
        }
        Err(e) => return Part::Broken(e.to_string()),
    };
    let run = |name: &str| record.gates.iter().find(|g| g.name == name);
    let gates = Gates {
        sbom: report(store, run("sbom"), SBOM_MEDIA_TYPE, sbom_counts),
        scan: report(store, run("scan"), SCAN_MEDIA_TYPE, |b| {
            let mut v: Vulns = serde_json::from_slice(b)?;
            v.findings.sort_by(|a, b| {
                severity_rank(&b.severity.level)
                    .cmp(&severity_rank(&a.severity.level))
                    .then_with(|| a.package.cmp(&b.package))
                    .then_with(|| a.id.cmp(&b.id))
                    .then_with(|| a.path.cmp(&b.path))
            });
            Ok(v)
        }),
        cis: report(store, run("cis"), CIS_MEDIA_TYPE, |b| {
            Ok(serde_json::from_slice(b)?)
        }),
        secrets: report(store, run("secrets"), SECRETS_MEDIA_TYPE, |b| {
            Ok(serde_json::from_slice(b)?)
        }),
        record,
    };
    Part::Found(gates)
}

/// The report a gate wrote, read with `parse`; what the page says when there is none.
fn report<T>(
    store: &Store,
    run: Option<&GateRun>,
    media_type: &str,
    parse: impl FnOnce(&[u8]) -> Result<T>,
) -> Part<T> {
    let Some(run) = run else {
        return Part::Missing("not in the gate record".into());
    };
    let Some(r) = &run.report else {
        let why = match run.status {
            Status::Skipped => "skipped",
            Status::Unavailable => "unavailable",
            Status::Ran => "ran without a report",
        };
        return Part::Missing(match &run.reason {
            Some(reason) => format!("{why}: {reason}"),
            None => why.to_string(),
        });
    };
    let read = || -> Result<T> {
        if r.media_type != media_type {
            bail!("the report is {}, not {media_type}", r.media_type);
        }
        let digest: Digest = r.digest.parse()?;
        let bytes = super::read_blob(store, &digest)
            .with_context(|| format!("reading the {} report {digest}", run.name))?;
        parse(&bytes).with_context(|| format!("reading the {} report {digest}", run.name))
    };
    read().map_or_else(|e| Part::broken(&e), Part::Found)
}

/// Components per purl type in a CycloneDX document (nested components too).
fn sbom_counts(bytes: &[u8]) -> Result<Sbom> {
    let doc: Value = serde_json::from_slice(bytes)?;
    let mut sbom = Sbom {
        spec_version: doc["specVersion"].as_str().unwrap_or("").to_string(),
        ..Sbom::default()
    };
    let mut stack: Vec<&Value> = doc["components"].as_array().into_iter().flatten().collect();
    while let Some(c) = stack.pop() {
        sbom.total += 1;
        match c["purl"].as_str().and_then(purl_type) {
            Some(t) => *sbom.by_type.entry(t).or_default() += 1,
            None => sbom.without_purl += 1,
        }
        stack.extend(c["components"].as_array().into_iter().flatten());
    }
    Ok(sbom)
}

/// The type of a package URL (`pkg:npm/…` → `npm`; types are case-insensitive).
fn purl_type(purl: &str) -> Option<String> {
    let rest = purl.strip_prefix("pkg:")?.trim_start_matches('/');
    let (t, _) = rest.split_once('/')?;
    (!t.is_empty()).then(|| t.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sbom_counts_purl_types_of_nested_components() {
        let doc = json!({"specVersion": "1.6", "components": [
            {"purl": "pkg:npm/lodash@4.17.19"},
            {"purl": "pkg:PyPI/requests@2.19.1", "components": [{"purl": "pkg:npm/a@1"}]},
            {"name": "no purl"},
        ]});
        let s = sbom_counts(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(s.total, 4);
        assert_eq!(s.without_purl, 1);
        assert_eq!(s.by_type["npm"], 2);
        assert_eq!(s.by_type["pypi"], 1);
        assert_eq!(s.spec_version, "1.6");
    }

    #[test]
    fn evidence_and_locations_read_every_kind() {
        let e = Evidence::from(
            json!({"kind": "dockerfile", "file": "Dockerfile", "line": 3, "text": "ADD x /"}),
        );
        assert_eq!(
            (e.kind.as_str(), e.at.as_str()),
            ("Dockerfile", "Dockerfile:3")
        );
        let e = Evidence::from(
            json!({"kind": "file", "path": "usr/bin/su", "layer": 1, "layer_digest": "sha256:00", "detail": "setuid"}),
        );
        assert_eq!(e.at, "/usr/bin/su (layer 1)");
        let l = Location::from(
            json!({"source": "file", "path": "root/.aws/credentials", "layer": 2, "line": 2, "state": "deleted"}),
        );
        assert_eq!(l.at, "/root/.aws/credentials:2");
        assert_eq!(l.detail, "layer 2, deleted");
        let l = Location::from(json!({"source": "env", "name": "TOKEN"}));
        assert_eq!((l.source.as_str(), l.at.as_str()), ("env", "TOKEN"));
    }

    #[test]
    fn unknown_severities_count_as_unknown() {
        let v = Vulns {
            findings: ["high", "weird", "unknown"]
                .map(|l| Vuln {
                    severity: Rating {
                        level: l.into(),
                        score: None,
                    },
                    ..Vuln::default()
                })
                .to_vec(),
            ..Vulns::default()
        };
        let counts = v.counts();
        assert_eq!(counts[1], ("high", 1));
        assert_eq!(counts[5], ("unknown", 2));
    }
}
