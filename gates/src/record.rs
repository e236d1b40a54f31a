//! Gate records: what `lading gate` decided about one manifest digest.
//!
//! A record lists every gate (ran or skipped, and why), its verdict, the report it
//! wrote (a blob in the store: media type, digest, size), the vulnerability database's
//! version, the policy file's digest, and the overall verdict. It is stored as a blob
//! (canonical JSON) and, as the latest record for the image, in
//! `<store>/.lading/gates/<manifest-hex>.json`. Push and sign steps ask
//! [`passing_record`] before they touch a digest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lading_oci::{Descriptor, Digest, Store};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gate::Verdict;
use crate::vuln::db::Manifest as DbManifest;

/// The media type of a gate record blob.
pub const MEDIA_TYPE: &str = "application/vnd.lading.gate-record.v1+json";

/// The record layout version.
pub const SCHEMA: u32 = 1;

/// Whether a gate ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran and wrote a report.
    Ran,
    /// The policy turned it off (counts as a pass).
    Skipped,
    /// It could not run (e.g. no vulnerability database): fails closed.
    Unavailable,
}

/// A report blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRef {
    /// Its media type.
    pub media_type: String,
    /// Its digest (`sha256:...`).
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

impl From<&Descriptor> for ReportRef {
    fn from(d: &Descriptor) -> ReportRef {
        ReportRef {
            media_type: d.media_type.clone(),
            digest: d.digest.to_string(),
            size: d.size,
        }
    }
}

/// The vulnerability database a scan used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbVersion {
    /// `ok`, or why there is none (`missing`).
    pub status: String,
    /// sha256 of the database manifest's canonical JSON (empty when missing).
    pub manifest_digest: String,
    /// Per ecosystem: records, latest `modified`, import time.
    pub ecosystems: BTreeMap<String, EcosystemVersion>,
}

/// One ecosystem of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcosystemVersion {
    /// Records stored.
    pub records: usize,
    /// Latest `modified` among them.
    pub latest_modified: String,
    /// When they were imported.
    pub imported_at: String,
}

impl DbVersion {
    /// The version of a database with this manifest.
    pub fn of(manifest: &DbManifest) -> Result<DbVersion> {
        let bytes = lading_oci::spec::to_canonical_json(manifest)?;
        Ok(DbVersion {
            status: "ok".into(),
            manifest_digest: Digest::of(&bytes).to_string(),
            ecosystems: manifest
                .ecosystems
                .iter()
                .map(|(k, e)| {
                    (
                        k.clone(),
                        EcosystemVersion {
                            records: e.records,
                            latest_modified: e.latest_modified.clone(),
                            imported_at: e.imported_at.clone(),
                        },
                    )
                })
                .collect(),
        })
    }

    /// No database.
    pub fn missing() -> DbVersion {
        DbVersion {
            status: "missing".into(),
            manifest_digest: String::new(),
            ecosystems: BTreeMap::new(),
        }
    }
}

/// One gate in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRun {
    /// `sbom`, `scan`, `cis` or `secrets`.
    pub name: String,
    /// Ran, skipped or unavailable.
    pub status: Status,
    /// Why it was skipped or unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its verdict (skipped: pass; unavailable: fail).
    pub verdict: Verdict,
    /// The report it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportRef>,
    /// The vulnerability database (the scan gate only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DbVersion>,
}

/// What `lading gate` decided about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRecord {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The image manifest digest the gates read.
    pub manifest: String,
    /// The reference the user gave.
    pub reference: String,
    /// The lading version that ran the gates.
    pub lading_version: String,
    /// When (RFC 3339, UTC).
    pub created: String,
    /// sha256 of the policy file (none: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The gates, in the order they ran.
    pub gates: Vec<GateRun>,
    /// Pass when every gate passed.
    pub verdict: Verdict,
}

impl GateRecord {
    /// The overall verdict of `gates`: pass when every one passed.
    pub fn overall(gates: &[GateRun]) -> Verdict {
        if gates.iter().all(|g| g.verdict == Verdict::Pass) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// Where the latest record of `manifest` lives.
pub fn record_path(store: &Store, manifest: &Digest) -> PathBuf {
    store
        .private_dir()
        .join("gates")
        .join(format!("{}.json", manifest.hex()))
}

/// Stores `record` as a blob and as the latest record of its manifest; returns the
/// blob's descriptor.
pub fn write(store: &Store, record: &GateRecord) -> Result<Descriptor> {
    let manifest: Digest = record.manifest.parse()?;
    let bytes = lading_oci::spec::to_canonical_json(record)?;
    let desc = store.put_bytes(&bytes, MEDIA_TYPE)?;
    let path = record_path(store, &manifest);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Invalid {
            what: dir.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    lading_oci::store::write_atomic(&path, &bytes)?;
    Ok(desc)
}

/// The latest record of `manifest`, whatever its verdict (`None`: never gated).
pub fn latest(store: &Store, manifest: &Digest) -> Result<Option<GateRecord>> {
    let path = record_path(store, manifest);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Invalid {
                what: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let invalid = |reason: String| Error::Invalid {
        what: format!("gate record {}", path.display()),
        reason,
    };
    let record: GateRecord = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if record.schema != SCHEMA {
        return Err(invalid(format!("unknown schema {}", record.schema)));
    }
    if record.manifest != manifest.to_string() {
        return Err(invalid(format!(
            "it is about {}, not {manifest}",
            record.manifest
        )));
    }
    Ok(Some(record))
}

/// The latest record of `manifest` when it passed, with every report it names still in
/// the store and hashing right; `None` when there is no record or it did not pass. An
/// inconsistent record (a failed gate under a pass, a missing gate) or a report blob
/// that is missing or altered is an error.
pub fn passing_record(store: &Store, manifest: &Digest) -> Result<Option<GateRecord>> {
    let Some(record) = latest(store, manifest)? else {
        return Ok(None);
    };
    if record.verdict != Verdict::Pass {
        return Ok(None);
    }
    let invalid = |reason: String| Error::Invalid {
        what: format!("gate record of {manifest}"),
        reason,
    };
    if GateRecord::overall(&record.gates) != Verdict::Pass {
        return Err(invalid("it passes with a failed gate".into()));
    }
    for name in crate::policy::GATES {
        if !record.gates.iter().any(|g| g.name == name) {
            return Err(invalid(format!("the {name} gate is missing")));
        }
    }
    for g in &record.gates {
        match (g.status, &g.report) {
            (Status::Ran, Some(r)) => {
                let digest: Digest = r.digest.parse()?;
                let size = store
                    .verify_blob(&digest)
                    .map_err(|e| invalid(format!("the {} report {}: {e}", g.name, r.digest)))?;
                if size != r.size {
                    return Err(invalid(format!(
                        "the {} report {} is {size} bytes, not {}",
                        g.name, r.digest, r.size
                    )));
                }
            }
            (Status::Ran, None) => {
                return Err(invalid(format!(
                    "the {} gate ran but has no report",
                    g.name
                )));
            }
            (Status::Skipped, _) => {}
            (Status::Unavailable, _) => {
                return Err(invalid(format!("the {} gate did not run", g.name)));
            }
        }
    }
    Ok(Some(record))
}
