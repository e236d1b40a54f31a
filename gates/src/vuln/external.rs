//! Findings of external scanners (trivy, grype), read from their JSON output and merged
//! with lading's own: a finding both report (same package, version and advisory, by id
//! or alias) is kept once and names both scanners; one only the other reports is added
//! and names only it.
//!
//! Running the scanners is the binary's business; this module only reads what they
//! print (trivy `--format json`, grype `-o json`).

use serde_json::Value;

use super::cvss::Severity;
use super::db::normalize_name;
use super::matcher::{Finding, Rating, sort};

/// Unreadable scanner output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scanner} output: {reason}")]
pub struct ExternalError {
    /// The scanner.
    pub scanner: String,
    /// Why.
    pub reason: String,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn rating(word: &str, score: Option<f64>) -> Rating {
    Rating {
        level: Severity::from_word(word).unwrap_or(Severity::Unknown),
        score,
        vector: None,
        source: "scanner".into(),
    }
}

fn ecosystem_of(kind: &str) -> &'static str {
    match kind {
        "python-pkg" | "pip" | "pipenv" | "poetry" | "python" => "PyPI",
        "node-pkg" | "npm" | "yarn" | "pnpm" => "npm",
        "debian" | "ubuntu" | "deb" => "Debian",
        "alpine" | "apk" => "Alpine",
        "gobinary" | "gomod" | "go-module" => "Go",
        "jar" | "pom" | "java-archive" | "gradle" => "Maven",
        "gemspec" | "bundler" | "gem" => "RubyGems",
        "cargo" | "rust-crate" | "rustbinary" => "crates.io",
        _ => "",
    }
}

/// Reads `trivy image --format json` output.
pub fn parse_trivy(bytes: &[u8]) -> Result<Vec<Finding>, ExternalError> {
    let err = |reason: String| ExternalError {
        scanner: "trivy".into(),
        reason,
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| err(format!("not JSON: {e}")))?;
    let results = doc
        .get("Results")
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .ok_or_else(|| err("no Results".into()))?;
    let mut out = Vec::new();
    for r in results {
        let kind = s(&r, "Type");
        let target = s(&r, "Target");
        for v in r
            .get("Vulnerabilities")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let id = s(&v, "VulnerabilityID");
            if id.is_empty() {
                continue;
            }
            let mut aliases: Vec<String> = v
                .get("VendorIDs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            aliases.retain(|a| *a != id);
            let path = match s(&v, "PkgPath") {
                p if !p.is_empty() => p,
                _ => target.clone(),
            };
            let fixed = s(&v, "FixedVersion");
            out.push(Finding {
                id,
                aliases,
                summary: s(&v, "Title"),
                url: Some(s(&v, "PrimaryURL")).filter(|u| !u.is_empty()),
                package: s(&v, "PkgName"),
                ecosystem: ecosystem_of(&kind).to_string(),
                purl: v
                    .get("PkgIdentifier")
                    .map(|p| s(p, "PURL"))
                    .unwrap_or_default(),
                installed: s(&v, "InstalledVersion"),
                fixed: Some(fixed).filter(|f| !f.is_empty()),
                severity: rating(&s(&v, "Severity"), None),
                path: path.trim_start_matches('/').to_string(),
                layer: v.get("Layer").map(|l| s(l, "Digest")).unwrap_or_default(),
                scanners: vec!["trivy".into()],
            });
        }
    }
    Ok(out)
}

/// Reads `grype -o json` output.
pub fn parse_grype(bytes: &[u8]) -> Result<Vec<Finding>, ExternalError> {
    let err = |reason: String| ExternalError {
        scanner: "grype".into(),
        reason,
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| err(format!("not JSON: {e}")))?;
    let matches = doc
        .get("matches")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no matches".into()))?;
    let mut out = Vec::new();
    for m in matches {
        let vuln = m.get("vulnerability").cloned().unwrap_or(Value::Null);
        let art = m.get("artifact").cloned().unwrap_or(Value::Null);
        let id = s(&vuln, "id");
        if id.is_empty() {
            continue;
        }
        let aliases: Vec<String> = m
            .get("relatedVulnerabilities")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|r| s(r, "id"))
                    .filter(|r| !r.is_empty() && *r != id)
                    .collect()
            })
            .unwrap_or_default();
        let fixed = vuln
            .get("fix")
            .and_then(|f| f.get("versions"))
            .and_then(Value::as_array)
            .and_then(|v| v.first())
            .and_then(Value::as_str)
            .map(str::to_string);
        let path = art
            .get("locations")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .map(|l| s(l, "path"))
            .unwrap_or_default();
        let layer = art
            .get("locations")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .map(|l| s(l, "layerID"))
            .unwrap_or_default();
        let score = vuln
            .get("cvss")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .and_then(|c| c.get("metrics"))
            .and_then(|m| m.get("baseScore"))
            .and_then(Value::as_f64);
        out.push(Finding {
            id,
            aliases,
            summary: s(&vuln, "description"),
            url: Some(s(&vuln, "dataSource")).filter(|u| !u.is_empty()),
            package: s(&art, "name"),
            ecosystem: ecosystem_of(&s(&art, "type")).to_string(),
            purl: s(&art, "purl"),
            installed: s(&art, "version"),
            fixed,
            severity: rating(&s(&vuln, "severity"), score),
            path: path.trim_start_matches('/').to_string(),
            layer,
            scanners: vec!["grype".into()],
        });
    }
    Ok(out)
}

fn same(a: &Finding, b: &Finding) -> bool {
    let eco = if a.ecosystem.is_empty() {
        &b.ecosystem
    } else {
        &a.ecosystem
    };
    let names = normalize_name(eco, &a.package) == normalize_name(eco, &b.package);
    let ids = |f: &Finding| -> Vec<String> {
        std::iter::once(f.id.clone())
            .chain(f.aliases.iter().cloned())
            .collect()
    };
    let (ia, ib) = (ids(a), ids(b));
    names && a.installed == b.installed && ia.iter().any(|i| ib.contains(i))
}

/// Merges an external scanner's findings into `ours`.
pub fn merge(ours: &mut Vec<Finding>, theirs: Vec<Finding>, scanner: &str) {
    for t in theirs {
        match ours.iter_mut().find(|o| same(o, &t)) {
            Some(o) => {
                if !o.scanners.iter().any(|s| s == scanner) {
                    o.scanners.push(scanner.to_string());
                }
                if o.fixed.is_none() {
                    o.fixed = t.fixed;
                }
            }
            None => ours.push(t),
        }
    }
    sort(ours);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_trivy(b"nope").is_err());
        assert!(parse_grype(b"{}").is_err());
    }
}
