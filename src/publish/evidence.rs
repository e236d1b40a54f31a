//! The evidence bundle: what an auditor asks for about one published digest, as plain
//! files in `DIR/sha256-<hex>/`: the gate record, each gate's report (CycloneDX, SPDX,
//! the vulnerability report as JSON and SARIF, CIS, secrets), the SLSA provenance, the
//! build log, the signatures' and attestations' Sigstore bundles, and `index.json` tying
//! them to the digest and the remote references, with each file's sha256.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lading_oci::{Digest, Store};
use lading_signer::constants::MEDIA_TYPE_BUNDLE_V03;
use serde_json::{Value, json};

use crate::attestations::{self, Kind};
use crate::publish::record::PublishRecord;

/// The layout version of `index.json`.
pub const SCHEMA: u32 = 1;

/// The directory of `digest`'s evidence under `dir`.
pub fn directory(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(format!("sha256-{}", digest.hex()))
}

/// Writes the evidence of `rec`'s digest under `dir`; returns its directory. Files of an
/// earlier write are replaced (each is written whole, then renamed).
pub fn write(store: &Store, rec: &PublishRecord, dir: &Path) -> Result<PathBuf> {
    let digest: Digest = rec.manifest.parse()?;
    let out = directory(dir, &digest);
    std::fs::create_dir_all(out.join("bundles"))
        .with_context(|| format!("creating {}", out.display()))?;
    let mut files: Vec<Value> = Vec::new();
    // Each file with what it is: a media type, or the predicate type of a predicate.
    let mut put = |name: &str, kind: &str, bytes: &[u8]| -> Result<()> {
        lading_oci::store::write_atomic(&out.join(name), bytes)
            .with_context(|| format!("writing {}", out.join(name).display()))?;
        files.push(json!({
            "path": name,
            "kind": kind,
            "sha256": Digest::of(bytes).hex(),
            "size": bytes.len(),
        }));
        Ok(())
    };
    let gate_record = store.read_blob(&rec.gate_record.parse()?)?;
    put("gate-record.json", "gate-record", &gate_record)?;
    for doc in &rec.documents {
        let bytes = store.read_blob(&doc.digest.parse()?)?;
        put(&doc.name, &doc.media_type, &bytes)?;
    }
    // Provenance and build log exist for images this store built.
    for (name, kind) in [
        ("provenance.slsa.json", Kind::SlsaProvenance),
        ("build-log.json", Kind::BuildLog),
    ] {
        match attestations::generate(store, &digest, kind) {
            Ok(p) => put(name, kind.predicate_type(), &p.bytes)?,
            Err(e) => eprintln!("evidence: no {name}: {e:#}"),
        }
    }
    let mut n = 0;
    let mut signatures = Vec::new();
    for signed in &rec.signed {
        for bundle in &signed.bundles {
            n += 1;
            let name = format!(
                "bundles/{n:02}-{}.sigstore.json",
                short_type(&bundle.predicate_type)
            );
            let bytes = store.read_blob(&bundle.digest.parse()?)?;
            put(&name, MEDIA_TYPE_BUNDLE_V03, &bytes)?;
            signatures.push(json!({
                "repository": signed.repository,
                "predicateType": bundle.predicate_type,
                "bundle": name,
                "referrer": bundle.referrer,
                "signer": signed.signer,
            }));
        }
    }
    let gate: Value = serde_json::from_slice(&gate_record)?;
    let index = json!({
        "schema": SCHEMA,
        "subject": {
            "digest": rec.manifest,
        },
        "verdict": gate["verdict"],
        "gateRecord": rec.gate_record,
        "policy": rec.policy,
        "references": rec.pushed.iter().map(|p| json!({
            "image": p.image,
            "reference": p.reference,
        })).collect::<Vec<_>>(),
        "signatures": signatures,
        "files": files,
        "generatedBy": format!("lading {}", env!("CARGO_PKG_VERSION")),
    });
    lading_oci::store::write_atomic(&out.join("index.json"), &serde_json::to_vec_pretty(&index)?)
        .with_context(|| format!("writing {}", out.join("index.json").display()))?;
    Ok(out)
}

/// A file-name word for a predicate type (`slsaprovenance1`, `cyclonedx`, …).
fn short_type(predicate_type: &str) -> String {
    match Kind::of_predicate_type(predicate_type) {
        Some(Kind::SlsaProvenance) => "slsaprovenance1".into(),
        Some(Kind::CycloneDx) => "cyclonedx".into(),
        Some(Kind::SpdxJson) => "spdxjson".into(),
        Some(Kind::Vuln) => "vuln".into(),
        Some(Kind::BuildLog) => "buildlog".into(),
        None if predicate_type.contains("cosign/sign") => "signature".into(),
        None => "attestation".into(),
    }
}
