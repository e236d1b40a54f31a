//! The vulnerability gate: the packages of an image matched against OSV advisories.
//!
//! - [`version`]: version order per ecosystem;
//! - [`osv`]: reading OSV records; [`db`]: the local database (`lading db`);
//! - [`inventory`]: the SBOM's packages (the one catalog, [`crate::sbom::catalog`]) as
//!   the matcher needs them, each named in its OSV ecosystem;
//! - [`matcher`]: OSV range evaluation, source-package matching for distributions;
//! - [`cvss`]: severities from CVSS vectors;
//! - [`ignore`]: ignore rules and OpenVEX;
//! - [`external`]: trivy/grype output, merged with ours;
//! - [`report`]: JSON, table, SARIF 2.1.0 and cosign vulnerability predicate.

pub mod cvss;
pub mod db;
pub mod external;
pub mod ignore;
pub mod inventory;
pub mod matcher;
pub mod osv;
pub mod report;
pub mod version;

use crate::sbom::Sbom;
use report::{DbInfo, Report, Target};

/// Scans the packages of `sbom` (the image's catalog, from [`crate::sbom::catalog`])
/// against `db`; `rules` silence findings (`today` is `YYYY-MM-DD`, for expiry dates).
/// Every package of the SBOM is checked, or listed as not matchable.
pub fn scan(
    sbom: &Sbom,
    db: &db::Database,
    rules: &[ignore::Rule],
    today: &str,
) -> crate::Result<Report> {
    let pkgs = inventory::from_sbom(sbom);
    let mut warnings: Vec<osv::Warning> = sbom
        .warnings
        .iter()
        .map(|w| osv::Warning {
            record: w.path.trim_start_matches('/').to_string(),
            message: w.message.clone(),
        })
        .collect();
    let (findings, w) = matcher::find(db, &pkgs)?;
    warnings.extend(w);
    let mut scanned: Vec<report::Scanned> = pkgs.iter().map(|p| p.scanned()).collect();
    scanned.sort();
    scanned.dedup();
    let digest = sbom.image.digest.clone();
    let (findings, ignored, w) =
        ignore::apply(findings, rules, today, std::slice::from_ref(&digest));
    warnings.extend(w);
    warnings.sort();
    warnings.dedup();
    let database = db
        .manifest()
        .ecosystems
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                DbInfo {
                    records: v.records,
                    latest_modified: v.latest_modified.clone(),
                    source: v.source.clone(),
                },
            )
        })
        .collect();
    Ok(Report {
        image: Target {
            name: sbom.image.name.clone(),
            digest,
        },
        database,
        packages: pkgs.len(),
        scanned,
        findings,
        ignored,
        warnings,
        scanners: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{file, image};
    use cvss::Severity;
    use lading_oci::Store;
    use report::FailOn;

    /// A synthetic advisory (not a real record) whose only severity is a CVSS v4.0
    /// vector, as GitHub publishes for new advisories: the scan report rates it from the
    /// vector (9.3, critical) where it used to say "unknown".
    #[test]
    fn a_record_with_only_a_cvss_v4_vector_is_rated_from_it() {
        let t = tempfile::tempdir().unwrap();
        let input = t.path().join("osv");
        std::fs::create_dir_all(&input).unwrap();
        let vector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let record = serde_json::json!({
            "schema_version": "1.6.0",
            "id": "GHSA-synt-heti-c4v4",
            "modified": "2025-01-01T00:00:00Z",
            "summary": "Synthetic advisory for lading's tests",
            "severity": [{"type": "CVSS_V4", "score": vector}],
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "synthetic-pkg"},
                "ranges": [{"type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "1.1"}]}]
            }]
        });
        std::fs::write(input.join("synthetic.json"), record.to_string()).unwrap();
        let dbdir = t.path().join("db");
        let summary = db::import(&dbdir, &input, "synthetic", 0).unwrap();
        assert!(summary.errors.is_empty(), "{summary:?}");
        let database = db::Database::open(&dbdir).unwrap();

        let store = Store::open(t.path().join("store")).unwrap();
        let img = image(
            &store,
            vec![vec![file(
                "usr/lib/python3/site-packages/synthetic_pkg-1.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: synthetic-pkg\nVersion: 1.0\n",
            )]],
        );
        let sbom = crate::sbom::catalog(&store, &img, "synthetic:1").unwrap();
        let report = scan(&sbom, &database, &[], "2025-06-01").unwrap();
        assert_eq!(report.findings.len(), 1, "{report:?}");
        let rating = &report.findings[0].severity;
        assert_eq!(rating.level, Severity::Critical);
        assert_eq!(rating.score, Some(9.3));
        assert_eq!(rating.vector.as_deref(), Some(vector));
        assert_eq!(rating.source, "cvss_v4");

        let json = report.to_json(Some(FailOn::Critical));
        assert_eq!(json["verdict"], "fail");
        assert_eq!(json["summary"]["critical"], 1);
        assert_eq!(
            json["findings"][0]["severity"],
            serde_json::json!({
                "level": "critical",
                "score": 9.3,
                "vector": vector,
                "source": "cvss_v4"
            })
        );
    }
}
