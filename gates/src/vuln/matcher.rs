//! Matching packages against OSV records (OSV "Evaluation"): a package is affected by
//! an `affected[]` entry of its ecosystem and name when its version is listed in
//! `versions`, or falls in a range: events sorted by version, `introduced` turns
//! "affected" on, `fixed` (at or above) and `last_affected` (above) turn it off.
//!
//! Distribution packages are matched by their source package and release: a Debian 12
//! binary `libssl3` (source `openssl`) is looked up as `openssl` in `Debian:12`.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::cvss::{self, Severity};
use super::db::{Database, DbError, ecosystem_base, normalize_name};
use super::inventory::Package;
use super::osv::{Affected, Event, Range, Record, Warning, range_scheme};
use super::version::Scheme;

/// Where a finding's severity came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// The level.
    pub level: Severity,
    /// CVSS base score, when a vector was scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The CVSS vector it was computed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// `cvss_v3`, `cvss_v4`, `cvss_v2`, `database` (the record's own word) or `scanner`.
    pub source: String,
}

/// One advisory affecting one installed package.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Advisory id (`GHSA-…`, `DSA-…`).
    pub id: String,
    /// Its aliases (CVE ids).
    pub aliases: Vec<String>,
    /// One-line summary.
    pub summary: String,
    /// Advisory URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Package name as installed.
    pub package: String,
    /// OSV ecosystem of the package.
    pub ecosystem: String,
    /// Package URL.
    pub purl: String,
    /// Installed version.
    pub installed: String,
    /// First fixed version above the installed one, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Severity.
    pub severity: Rating,
    /// File that evidenced the package.
    pub path: String,
    /// Layer that wrote that file.
    pub layer: String,
    /// Scanners that reported it (`lading`, `trivy`, `grype`).
    pub scanners: Vec<String>,
}

/// Whether `version` is in `range`, and the fixed version that ends the affected
/// stretch. `Err` when a version does not parse.
pub fn in_range(
    scheme: Scheme,
    range: &Range,
    version: &str,
) -> Result<(bool, Option<String>), super::version::VersionError> {
    let mut events: Vec<&Event> = range.events.iter().collect();
    // "0" sorts first; otherwise by version (stable for ties, record order).
    let mut keyed = Vec::with_capacity(events.len());
    for e in events.drain(..) {
        if let Event::Introduced(v) = e
            && v == "0"
        {
            keyed.push((None, e));
            continue;
        }
        scheme.validate(e.version())?;
        keyed.push((Some(e.version()), e));
    }
    let mut err = None;
    keyed.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => scheme.compare(x, y).unwrap_or_else(|e| {
            err = Some(e);
            Ordering::Equal
        }),
    });
    if let Some(e) = err {
        return Err(e);
    }
    let mut affected = false;
    let mut fixed = None;
    for (_, e) in keyed {
        match e {
            Event::Introduced(v) => {
                if v == "0" || scheme.compare(version, v)? != Ordering::Less {
                    affected = true;
                    fixed = None;
                }
            }
            Event::Fixed(v) => {
                if scheme.compare(version, v)? != Ordering::Less {
                    affected = false;
                } else if affected && fixed.is_none() {
                    fixed = Some(v.clone());
                }
            }
            Event::LastAffected(v) => {
                if scheme.compare(version, v)? == Ordering::Greater {
                    affected = false;
                }
            }
            Event::Limit(v) => {
                if scheme.compare(version, v)? != Ordering::Less {
                    affected = false;
                }
            }
        }
    }
    Ok((affected, if affected { fixed } else { None }))
}

/// Whether an `affected[]` entry applies to the package's version.
fn affects(
    a: &Affected,
    pkg_version: &str,
    warnings: &mut Vec<Warning>,
    id: &str,
) -> Option<Option<String>> {
    let scheme = Scheme::for_ecosystem(&a.ecosystem);
    if a.versions.iter().any(|v| {
        v == pkg_version || scheme.is_some_and(|s| s.compare(v, pkg_version) == Ok(Ordering::Equal))
    }) {
        // A listed version: the fixed version is whatever a range says.
        let fixed = a.ranges.iter().filter(|r| r.usable).find_map(|r| {
            let s = range_scheme(&r.kind, &a.ecosystem)?;
            in_range(s, r, pkg_version).ok().and_then(|(_, f)| f)
        });
        return Some(fixed);
    }
    for r in a.ranges.iter().filter(|r| r.usable) {
        let Some(s) = range_scheme(&r.kind, &a.ecosystem) else {
            continue;
        };
        match in_range(s, r, pkg_version) {
            Ok((true, fixed)) => return Some(fixed),
            Ok((false, _)) => {}
            Err(e) => {
                warnings.push(Warning {
                    record: id.to_string(),
                    message: format!("{}/{}: {e}", a.ecosystem, a.name),
                });
            }
        }
    }
    None
}

/// The severity of a record for one affected entry: the highest CVSS v3 (else v4.0,
/// else v2) score among the package's and the record's vectors, else the record's own
/// word.
///
/// v3 comes before v4.0 when a record has both, as trivy and grype do: v3 scores are the
/// ones policies and ignore rules were written against, and the ones the external
/// scanners merged into our reports show; v4.0 scores run differently (the all-high
/// network vector is 9.8 in v3.1 and 9.3 in v4.0), so a database that adds a v4.0 vector
/// to an old advisory must not move its severity. Records with only a v4.0 vector (more
/// and more new advisories) get its score; the rating's `source` (`cvss_v4`) and
/// `vector` say which one was used.
pub fn rate(record: &Record, affected: Option<&Affected>) -> Rating {
    let mut best: Option<(u8, cvss::Score, String)> = None;
    let entries = affected
        .into_iter()
        .flat_map(|a| a.severity.iter())
        .chain(record.severity.iter());
    for e in entries {
        if let Ok(s) = cvss::score(&e.score) {
            let rank = match s.version {
                "3.0" | "3.1" => 3,
                "4.0" => 2,
                _ => 1,
            };
            let better = match &best {
                None => true,
                Some((r, b, _)) => rank > *r || (rank == *r && s.base > b.base),
            };
            if better {
                best = Some((rank, s, e.score.clone()));
            }
        }
    }
    if let Some((_, s, vector)) = best {
        return Rating {
            level: s.severity,
            score: Some(s.base),
            vector: Some(vector),
            source: match s.version {
                "2.0" => "cvss_v2".into(),
                "4.0" => "cvss_v4".into(),
                _ => "cvss_v3".into(),
            },
        };
    }
    if let Some(level) = record
        .database_severity
        .as_deref()
        .and_then(Severity::from_word)
    {
        return Rating {
            level,
            score: None,
            vector: record.severity.first().map(|e| e.score.clone()),
            source: "database".into(),
        };
    }
    Rating {
        level: Severity::Unknown,
        score: None,
        vector: record.severity.first().map(|e| e.score.clone()),
        source: "none".into(),
    }
}

/// Whether the entry's ecosystem is the package's: same base; a release, when the
/// record names one, must be the package's.
fn same_ecosystem(record_eco: &str, pkg_eco: &str) -> bool {
    ecosystem_base(record_eco) == ecosystem_base(pkg_eco)
        && (!record_eco.contains(':') || record_eco == pkg_eco)
}

/// Matches packages against the database. Findings come sorted by package, path and
/// advisory id; one per (advisory, package file).
pub fn find(db: &Database, packages: &[Package]) -> Result<(Vec<Finding>, Vec<Warning>), DbError> {
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    let mut unsupported = BTreeSet::new();
    for pkg in packages {
        let Some(ecosystem) = pkg.ecosystem.as_deref() else {
            continue;
        };
        let base = ecosystem_base(ecosystem);
        if !db.has(base) {
            unsupported.insert(base.to_string());
            continue;
        }
        let distro = matches!(base, "Debian" | "Ubuntu" | "Alpine");
        let query = if distro {
            pkg.source_name.as_deref().unwrap_or(&pkg.name)
        } else {
            &pkg.name
        };
        let version = if distro {
            pkg.source_version.as_deref().unwrap_or(&pkg.osv_version)
        } else {
            &pkg.osv_version
        };
        if let Some(s) = Scheme::for_ecosystem(base)
            && let Err(e) = s.validate(version)
        {
            warnings.push(Warning {
                record: pkg.path.clone(),
                message: format!("{} not checked: {e}", pkg.name),
            });
            continue;
        }
        let (records, w) = db.lookup(base, query)?;
        warnings.extend(w);
        let want = normalize_name(base, query);
        for record in records {
            if record.withdrawn.is_some() {
                continue;
            }
            for a in &record.affected {
                if !same_ecosystem(&a.ecosystem, ecosystem) || normalize_name(base, &a.name) != want
                {
                    continue;
                }
                let Some(fixed) = affects(a, version, &mut warnings, &record.id) else {
                    continue;
                };
                if !seen.insert((record.id.clone(), pkg.path.clone(), pkg.name.clone())) {
                    continue;
                }
                findings.push(Finding {
                    id: record.id.clone(),
                    aliases: record.aliases.clone(),
                    summary: record.summary.clone(),
                    url: record.url.clone(),
                    package: pkg.name.clone(),
                    ecosystem: ecosystem.to_string(),
                    purl: pkg.purl.clone(),
                    installed: pkg.version.clone(),
                    fixed,
                    severity: rate(&record, Some(a)),
                    path: pkg.path.clone(),
                    layer: pkg.layer.clone(),
                    scanners: vec!["lading".into()],
                });
                break;
            }
        }
    }
    for base in unsupported {
        warnings.push(Warning {
            record: base.clone(),
            message: format!(
                "the database has no {base} advisories; {base} packages were not checked"
            ),
        });
    }
    sort(&mut findings);
    warnings.sort();
    warnings.dedup();
    Ok((findings, warnings))
}

/// The order of findings in every report.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.package, &a.path, &a.installed, &a.id).cmp(&(&b.package, &b.path, &b.installed, &b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::osv;

    fn range(events: &[(&str, &str)]) -> Range {
        Range {
            kind: "ECOSYSTEM".into(),
            usable: true,
            events: events
                .iter()
                .map(|(k, v)| match *k {
                    "introduced" => Event::Introduced(v.to_string()),
                    "fixed" => Event::Fixed(v.to_string()),
                    "last_affected" => Event::LastAffected(v.to_string()),
                    _ => Event::Limit(v.to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn osv_evaluation() {
        let r = range(&[
            ("introduced", "0"),
            ("fixed", "1.0"),
            ("introduced", "2.0"),
            ("fixed", "2.3"),
        ]);
        let check = |v: &str| in_range(Scheme::Pep440, &r, v).unwrap();
        assert_eq!(check("0.1"), (true, Some("1.0".into())));
        assert_eq!(check("1.0"), (false, None));
        assert_eq!(check("1.5"), (false, None));
        assert_eq!(check("2.0"), (true, Some("2.3".into())));
        assert_eq!(check("2.2.9"), (true, Some("2.3".into())));
        assert_eq!(check("2.3"), (false, None));
        let la = range(&[("introduced", "1.0"), ("last_affected", "1.4")]);
        assert!(in_range(Scheme::Pep440, &la, "1.4").unwrap().0);
        assert!(!in_range(Scheme::Pep440, &la, "1.4.1").unwrap().0);
        assert!(!in_range(Scheme::Pep440, &la, "0.9").unwrap().0);
        // Events out of order in the record are sorted first.
        let shuffled = range(&[("fixed", "2.3"), ("introduced", "2.0")]);
        assert!(in_range(Scheme::Pep440, &shuffled, "2.1").unwrap().0);
    }

    /// A synthetic record carrying `vectors` as its `severity[]` and GitHub's word.
    fn record(vectors: &[(&str, &str)], word: Option<&str>) -> Record {
        let severity: Vec<serde_json::Value> = vectors
            .iter()
            .map(|(kind, score)| serde_json::json!({"type": kind, "score": score}))
            .collect();
        let mut json = serde_json::json!({
            "id": "SYNTHETIC-1",
            "modified": "2025-01-01T00:00:00Z",
            "severity": severity,
        });
        if let Some(w) = word {
            json["database_specific"] = serde_json::json!({"severity": w});
        }
        osv::parse(json.to_string().as_bytes(), "synthetic.json")
            .unwrap()
            .0
    }

    const V2: &str = "AV:N/AC:L/Au:N/C:P/I:N/A:N";
    const V31: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    const V40: &str = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N";

    #[test]
    fn v3_before_v4_before_v2_before_the_word() {
        let rate = |r: &Record| {
            let r = rate(r, None);
            (r.level, r.score, r.vector, r.source)
        };
        // Only v4.0: its score (8.7, high), not the word.
        assert_eq!(
            rate(&record(&[("CVSS_V4", V40)], Some("LOW"))),
            (
                Severity::High,
                Some(8.7),
                Some(V40.to_string()),
                "cvss_v4".to_string()
            )
        );
        // v3.1 (9.8, critical) wins over v4.0, in either order.
        for vectors in [
            [("CVSS_V4", V40), ("CVSS_V3", V31)],
            [("CVSS_V3", V31), ("CVSS_V4", V40)],
        ] {
            let r = rate(&record(&vectors, None));
            assert_eq!(
                (r.0, r.1, r.3.as_str()),
                (Severity::Critical, Some(9.8), "cvss_v3")
            );
        }
        // v4.0 wins over v2 (5.0, medium).
        let r = rate(&record(&[("CVSS_V2", V2), ("CVSS_V4", V40)], None));
        assert_eq!((r.0, r.3.as_str()), (Severity::High, "cvss_v4"));
        // A broken v4.0 vector is skipped: the word decides.
        let broken = "CVSS:4.0/AV:N/AC:L";
        let r = rate(&record(&[("CVSS_V4", broken)], Some("MODERATE")));
        assert_eq!((r.0, r.3.as_str()), (Severity::Medium, "database"));
    }

    #[test]
    fn releases_must_agree() {
        assert!(same_ecosystem("Debian:12", "Debian:12"));
        assert!(!same_ecosystem("Debian:11", "Debian:12"));
        assert!(same_ecosystem("Debian", "Debian:12"));
        assert!(!same_ecosystem("PyPI", "npm"));
    }
}
