//! The scan report and its renderings: JSON (lading's own), a table, SARIF 2.1.0 (as
//! GitHub code scanning reads it:
//! <https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning>)
//! and the cosign vulnerability attestation predicate
//! (`https://cosign.sigstore.dev/attestation/vuln/v1`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::cvss::Severity;
use super::ignore::Ignored;
use super::matcher::Finding;
use super::osv::Warning;

/// The cosign vulnerability predicate type.
pub const COSIGN_VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// The SARIF schema URI written into documents.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The lowest severity that fails the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailOn {
    /// Any finding, even of unknown severity.
    Any,
    /// Low or worse.
    Low,
    /// Medium or worse.
    Medium,
    /// High or worse.
    High,
    /// Critical.
    Critical,
}

impl FailOn {
    /// Whether a finding of this severity fails the gate.
    pub fn fails(self, s: Severity) -> bool {
        match self {
            FailOn::Any => true,
            FailOn::Low => s >= Severity::Low,
            FailOn::Medium => s >= Severity::Medium,
            FailOn::High => s >= Severity::High,
            FailOn::Critical => s >= Severity::Critical,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Any => "any",
            FailOn::Low => "low",
            FailOn::Medium => "medium",
            FailOn::High => "high",
            FailOn::Critical => "critical",
        }
    }
}

/// The image that was scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The reference given.
    pub name: String,
    /// Manifest digest.
    pub digest: String,
}

/// One ecosystem of the database used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DbInfo {
    /// Records.
    pub records: usize,
    /// Latest `modified` among them.
    pub latest_modified: String,
    /// Where they came from.
    pub source: String,
}

/// An external scanner's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannerRun {
    /// `trivy` or `grype`.
    pub name: String,
    /// `ok`, or why it gave nothing.
    pub status: String,
    /// Findings it reported.
    pub findings: usize,
    /// The image reference it was given (`HOST:PORT/REPO@sha256:…`, the manifest lading
    /// scanned, served by lading's in-process registry); absent when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// One package the scan checked: every package of the SBOM is one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scanned {
    /// Package URL, as in the SBOM.
    pub purl: String,
    /// The OSV ecosystem it was matched in; absent when OSV has none for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    /// The file that evidenced it.
    pub path: String,
    /// Why it could not be matched against OSV advisories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_matchable: Option<String>,
}

/// A vulnerability scan's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The image.
    pub image: Target,
    /// The database, per ecosystem.
    pub database: BTreeMap<String, DbInfo>,
    /// Packages checked.
    pub packages: usize,
    /// Every package checked (the SBOM's catalog), by purl and path.
    pub scanned: Vec<Scanned>,
    /// Findings in force.
    pub findings: Vec<Finding>,
    /// Findings silenced by an ignore rule or VEX statement.
    pub ignored: Vec<Ignored>,
    /// Problems met on the way.
    pub warnings: Vec<Warning>,
    /// External scanners that ran.
    pub scanners: Vec<ScannerRun>,
}

impl Report {
    /// Counts of findings in force per severity.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m: BTreeMap<&'static str, usize> =
            ["critical", "high", "medium", "low", "none", "unknown"]
                .into_iter()
                .map(|k| (k, 0))
                .collect();
        for f in &self.findings {
            *m.entry(f.severity.level.as_str()).or_default() += 1;
        }
        m
    }

    /// Whether the gate passes at `fail_on` (no threshold: always).
    pub fn passes(&self, fail_on: Option<FailOn>) -> bool {
        fail_on.is_none_or(|t| !self.findings.iter().any(|f| t.fails(f.severity.level)))
    }

    /// lading's JSON report.
    pub fn to_json(&self, fail_on: Option<FailOn>) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("gate".into(), json!("vulnerabilities"));
            m.insert(
                "verdict".into(),
                json!(if self.passes(fail_on) { "pass" } else { "fail" }),
            );
            m.insert("failOn".into(), json!(fail_on.map(FailOn::as_str)));
            let mut summary = json!(self.counts());
            if let Value::Object(s) = &mut summary {
                let unmatched = self
                    .scanned
                    .iter()
                    .filter(|p| p.not_matchable.is_some())
                    .count();
                s.insert("notMatchable".into(), json!(unmatched));
            }
            m.insert("summary".into(), summary);
        }
        v
    }

    /// A plain-text table, worst first.
    pub fn to_table(&self) -> String {
        let mut rows: Vec<[String; 7]> = Vec::new();
        let mut order: Vec<&Finding> = self.findings.iter().collect();
        order.sort_by(|a, b| {
            b.severity
                .level
                .cmp(&a.severity.level)
                .then_with(|| a.package.cmp(&b.package))
                .then_with(|| a.id.cmp(&b.id))
        });
        for f in order {
            let id = match f.aliases.first() {
                Some(a) => format!("{} ({a})", f.id),
                None => f.id.clone(),
            };
            rows.push([
                f.severity.level.as_str().to_uppercase(),
                id,
                f.package.clone(),
                f.installed.clone(),
                f.fixed.clone().unwrap_or_else(|| "-".into()),
                f.path.clone(),
                f.scanners.join(","),
            ]);
        }
        let header = [
            "SEVERITY",
            "ADVISORY",
            "PACKAGE",
            "INSTALLED",
            "FIXED",
            "PATH",
            "SCANNER",
        ];
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(header.to_vec());
        for r in &rows {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
        let counts = self.counts();
        out.push_str(&format!(
            "\n{} packages, {} findings (critical {}, high {}, medium {}, low {}, unknown {}), {} ignored\n",
            self.packages,
            self.findings.len(),
            counts["critical"],
            counts["high"],
            counts["medium"],
            counts["low"],
            counts["unknown"],
            self.ignored.len()
        ));
        out
    }

    /// SARIF 2.1.0: one rule per advisory, one result per finding, located at the file
    /// that evidenced the package.
    pub fn to_sarif(&self, tool_version: &str) -> Value {
        let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
        for f in &self.findings {
            rules.entry(&f.id).or_insert_with(|| {
                let mut tags = vec![json!("security"), json!("vulnerability")];
                tags.extend(f.aliases.iter().map(|a| json!(a)));
                let mut props = serde_json::Map::new();
                props.insert("tags".into(), Value::Array(tags));
                if let Some(s) = security_severity(f) {
                    props.insert("security-severity".into(), json!(s));
                }
                let summary = if f.summary.is_empty() {
                    f.id.clone()
                } else {
                    f.summary.clone()
                };
                let mut rule = json!({
                    "id": f.id,
                    "name": f.id.replace(['-', '_'], ""),
                    "shortDescription": {"text": summary},
                    "fullDescription": {"text": format!("{summary} ({})", std::iter::once(f.id.as_str()).chain(f.aliases.iter().map(String::as_str)).collect::<Vec<_>>().join(", "))},
                    "defaultConfiguration": {"level": level(f.severity.level)},
                    "help": {
                        "text": format!("{summary}. Upgrade the affected package to a fixed version."),
                        "markdown": format!("**{summary}**\n\nUpgrade the affected package to a fixed version."),
                    },
                    "properties": Value::Object(props),
                });
                if let (Some(u), Value::Object(m)) = (&f.url, &mut rule) {
                    m.insert("helpUri".into(), json!(u));
                }
                rule
            });
        }
        let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let fixed = f
                    .fixed
                    .as_ref()
                    .map_or_else(|| "no fixed version is known".to_string(), |v| format!("fixed in {v}"));
                json!({
                    "ruleId": f.id,
                    "ruleIndex": index.get(f.id.as_str()).copied().unwrap_or(0),
                    "level": level(f.severity.level),
                    "message": {"text": format!(
                        "{} {} ({}) is affected by {}{}; {fixed}. Severity: {}.",
                        f.package, f.installed, f.ecosystem, f.id,
                        if f.aliases.is_empty() { String::new() } else { format!(" ({})", f.aliases.join(", ")) },
                        f.severity.level
                    )},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path},
                        },
                        "message": {"text": format!("{}@{} in layer {}", f.package, f.installed, f.layer)},
                    }],
                    "partialFingerprints": {
                        "vulnerability/package": format!("{}:{}:{}", f.id, f.purl, f.path),
                    },
                    "properties": {
                        "purl": f.purl,
                        "installedVersion": f.installed,
                        "fixedVersion": f.fixed,
                        "layer": f.layer,
                        "scanners": f.scanners,
                    },
                })
            })
            .collect();
        json!({
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "lading",
                    "version": tool_version,
                    "rules": rules.into_values().collect::<Vec<_>>(),
                }},
                "automationDetails": {"id": format!("lading/vulnerabilities/{}", self.image.digest)},
                "results": results,
                "properties": {"image": self.image.name, "digest": self.image.digest},
            }],
        })
    }

    /// The cosign vulnerability predicate; `started` and `finished` are RFC 3339 times.
    pub fn to_cosign_vuln(
        &self,
        tool_version: &str,
        started: &str,
        finished: &str,
        fail_on: Option<FailOn>,
    ) -> Value {
        let db_version = self
            .database
            .values()
            .map(|d| d.latest_modified.as_str())
            .max()
            .unwrap_or("");
        json!({
            "invocation": {
                "parameters": null,
                "uri": "",
                "event_id": "",
                "builder.id": "",
            },
            "scanner": {
                "uri": format!("pkg:cargo/lading@{tool_version}"),
                "version": tool_version,
                "db": {"uri": "https://osv.dev", "version": db_version},
                "result": self.to_json(fail_on),
            },
            "metadata": {"scanStartedOn": started, "scanFinishedOn": finished},
        })
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    }
}

/// GitHub's `security-severity`: the CVSS score, or a representative score per level.
fn security_severity(f: &Finding) -> Option<String> {
    if let Some(s) = f.severity.score {
        return Some(format!("{s:.1}"));
    }
    let s = match f.severity.level {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        _ => return None,
    };
    Some(format!("{s:.1}"))
}
