//! The vulnerability gate: the packages of an image matched against OSV advisories.
//!
//! - [`version`]: version order per ecosystem;
//! - [`osv`]: reading OSV records; [`db`]: the local database (`lading db`);
//! - [`packages`]: the [`packages::Package`] the matcher needs, and a minimal finder that
//!   the SBOM catalogers will replace;
//! - [`matcher`]: OSV range evaluation, source-package matching for distributions;
//! - [`cvss`]: severities from CVSS vectors;
//! - [`ignore`]: ignore rules and OpenVEX;
//! - [`external`]: trivy/grype output, merged with ours;
//! - [`report`]: JSON, table, SARIF 2.1.0 and cosign vulnerability predicate.

pub mod cvss;
pub mod db;
pub mod external;
pub mod ignore;
pub mod matcher;
pub mod osv;
pub mod packages;
pub mod report;
pub mod version;

use lading_oci::{Image, Store};

use report::{DbInfo, Report, Target};

/// Scans `image` (named `name`) against `db`; `rules` silence findings (`today` is
/// `YYYY-MM-DD`, for expiry dates).
pub fn scan(
    store: &Store,
    image: &Image,
    name: &str,
    db: &db::Database,
    rules: &[ignore::Rule],
    today: &str,
) -> crate::Result<Report> {
    let (pkgs, mut warnings) = packages::find(store, image)?;
    let (findings, w) = matcher::find(db, &pkgs)?;
    warnings.extend(w);
    let digest = image.descriptor.digest.to_string();
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
            name: name.to_string(),
            digest,
        },
        database,
        packages: pkgs.len(),
        findings,
        ignored,
        warnings,
        scanners: Vec::new(),
    })
}
