//! The predicates lading attests, generated from the bytes it authored for one image:
//! SLSA provenance v1 (from the build record `lading build` wrote), the CycloneDX and
//! SPDX documents `lading sbom` writes, the cosign vulnerability predicate of the
//! latest `lading scan`, and the build log. `docs/attestations.md` documents the build
//! type and the build-log predicate.

pub mod build_log;
pub mod git;
pub mod invocation;
pub mod record;
pub mod recording;
pub mod resolved;
pub mod scans;
pub mod slsa;

use anyhow::{Context, Result, anyhow};
use lading_gates::sbom;
use lading_oci::{Digest, SourceRef, Store};
use lading_signer::constants::{
    PREDICATE_BUILD_LOG, PREDICATE_CYCLONEDX, PREDICATE_SLSA_PROVENANCE_V1, PREDICATE_SPDX,
    PREDICATE_VULN,
};

use crate::cli::args::SbomFormat;
use crate::cli::commands::sbom::{display_name, render};

/// Which predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SLSA provenance v1.
    SlsaProvenance,
    /// CycloneDX 1.6.
    CycloneDx,
    /// SPDX 2.3 JSON.
    SpdxJson,
    /// cosign's vulnerability predicate.
    Vuln,
    /// lading's build log.
    BuildLog,
}

impl Kind {
    /// Every kind lading generates.
    pub const ALL: [Kind; 5] = [
        Kind::SlsaProvenance,
        Kind::CycloneDx,
        Kind::SpdxJson,
        Kind::Vuln,
        Kind::BuildLog,
    ];

    /// The kind whose predicate type URI is `uri`, if lading generates it.
    pub fn of_predicate_type(uri: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.predicate_type() == uri)
    }

    /// The predicate type URI.
    pub fn predicate_type(self) -> &'static str {
        match self {
            Kind::SlsaProvenance => PREDICATE_SLSA_PROVENANCE_V1,
            Kind::CycloneDx => PREDICATE_CYCLONEDX,
            Kind::SpdxJson => PREDICATE_SPDX,
            Kind::Vuln => PREDICATE_VULN,
            Kind::BuildLog => PREDICATE_BUILD_LOG,
        }
    }
}

/// A predicate: its type and its JSON bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicate {
    /// The predicate type URI.
    pub predicate_type: String,
    /// The predicate's JSON.
    pub bytes: Vec<u8>,
}

/// The `kind` predicate of the image whose manifest digest is `image`.
pub fn generate(store: &Store, image: &Digest, kind: Kind) -> Result<Predicate> {
    let bytes = match kind {
        Kind::CycloneDx => sbom_document(store, image, SbomFormat::Cyclonedx)?,
        Kind::SpdxJson => sbom_document(store, image, SbomFormat::Spdx)?,
        Kind::Vuln => scans::latest(store, image)?.ok_or_else(|| {
            anyhow!("no scan of {image} is recorded: run `lading scan` on it first")
        })?,
        Kind::BuildLog => build_log_predicate(&build_record(store, image)?)?,
        Kind::SlsaProvenance => {
            let record = build_record(store, image)?;
            let log = Digest::of(&build_log_predicate(&record)?);
            let provenance = slsa::provenance(store, &record, &log)?;
            lading_oci::spec::to_canonical_json(&provenance)?
        }
    };
    Ok(Predicate {
        predicate_type: kind.predicate_type().to_string(),
        bytes,
    })
}

/// The document `lading sbom sha256:<hex> --format FORMAT` writes: the same catalog and
/// renderer, the image named by its digest.
fn sbom_document(store: &Store, image: &Digest, format: SbomFormat) -> Result<Vec<u8>> {
    let reference = image.to_string();
    let loaded = crate::cli::gate::load_image(store, &reference, None)?;
    let name = display_name(&SourceRef::parse(&reference), &loaded.descriptor.digest);
    let catalog =
        sbom::catalog(store, &loaded, &name).with_context(|| format!("cataloging {image}"))?;
    Ok(render(&catalog, format)?.into_bytes())
}

fn build_record(store: &Store, image: &Digest) -> Result<record::BuildRecord> {
    record::latest(store, image)?.ok_or_else(|| {
        anyhow!("no build of {image} is recorded in this store: only images `lading build` wrote here have provenance and a build log")
    })
}

/// The build-log predicate (`https://lading.dev/attestation/build-log/v1`).
fn build_log_predicate(record: &record::BuildRecord) -> Result<Vec<u8>> {
    let predicate = serde_json::json!({
        "builder": {
            "id": record.builder_id,
            "version": {"lading": record.lading_version},
        },
        "invocationId": record.invocation_id,
        "startedOn": record.started_on,
        "finishedOn": record.finished_on,
        "steps": record.log.steps,
        "warnings": record.log.warnings,
    });
    Ok(lading_oci::spec::to_canonical_json(&predicate)?)
}
