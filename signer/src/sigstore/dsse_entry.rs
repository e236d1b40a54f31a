//! Rekor v1 `dsse` 0.0.1 entries: how a bundle's DSSE envelope is logged (sigstore-go
//! `pkg/sign` `Rekor.GetTransparencyLogEntry` uploads a DSSE bundle as this kind), and
//! the conversion between Rekor's answer ([`LogEntry`]) and a bundle's
//! `TransparencyLogEntry`.
//!
//! Rekor replaces the proposed envelope by its hash when it canonicalizes the entry
//! (rekor `pkg/types/dsse/v0.0.1`): the logged body holds `envelopeHash`, `payloadHash`
//! and each signature with the verifier (PEM key or certificate) it verified with. A
//! verifier compares the payload hash, the one signature and the verifier with the
//! bundle's (sigstore-go `VerifyTlogEntry`), which [`check_body`] does too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lading_oci::Digest;
use serde::Deserialize;
use serde_json::json;

use super::bundle::{
    Checkpoint, InclusionPromise, InclusionProof, KindVersion, LogId, TransparencyLogEntry,
};
use super::rekor::{self, LogEntry};
use crate::dsse::Envelope;
use crate::error::{Error, Result};

/// The proposed `dsse` 0.0.1 entry for `envelope`, signed by the key of `verifier_pem`
/// (a certificate or public key).
pub fn proposed(envelope: &Envelope, verifier_pem: &str) -> Result<serde_json::Value> {
    let envelope = String::from_utf8(envelope.to_bytes()?).map_err(|e| Error::Invalid {
        what: "DSSE envelope",
        reason: e.to_string(),
    })?;
    Ok(json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope,
                "verifiers": [STANDARD.encode(verifier_pem)],
            },
        },
    }))
}

/// Checks that `entry` logs `envelope`: a `dsse` 0.0.1 body with the SHA-256 of its
/// payload, its one signature, and the verifier whose DER (certificate or
/// SubjectPublicKeyInfo) is `verifier_der`.
pub fn check_body(entry: &LogEntry, envelope: &Envelope, verifier_der: &[u8]) -> Result<()> {
    #[derive(Deserialize)]
    struct Hash {
        algorithm: String,
        value: String,
    }
    #[derive(Deserialize)]
    struct Sig {
        signature: String,
        verifier: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        payload_hash: Hash,
        signatures: Vec<Sig>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        kind: String,
        api_version: String,
        spec: Spec,
    }
    let mismatch = |what: &str| Error::Untrusted {
        reason: format!("the log entry's {what} is not the envelope's"),
    };
    let body: Body = serde_json::from_slice(&entry.body).map_err(|e| Error::Invalid {
        what: "log entry body",
        reason: e.to_string(),
    })?;
    if body.kind != "dsse" || body.api_version != "0.0.1" {
        return Err(Error::Invalid {
            what: "log entry body",
            reason: format!(
                "kind {} {}, expected dsse 0.0.1 for a DSSE envelope",
                body.kind, body.api_version
            ),
        });
    }
    let payload_hash = Digest::of(&envelope.payload);
    if body.spec.payload_hash.algorithm != "sha256"
        || !body
            .spec
            .payload_hash
            .value
            .eq_ignore_ascii_case(payload_hash.hex())
    {
        return Err(mismatch("payload hash"));
    }
    let [logged] = &body.spec.signatures[..] else {
        return Err(mismatch("signature count"));
    };
    let [signature] = &envelope.signatures[..] else {
        return Err(mismatch("signature count"));
    };
    if STANDARD.decode(&logged.signature).ok().as_deref() != Some(&signature.sig[..]) {
        return Err(mismatch("signature"));
    }
    let pem_text = STANDARD
        .decode(&logged.verifier)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    match crate::pem::decode(&pem_text) {
        Ok((_, der)) if der.as_slice() == verifier_der => Ok(()),
        _ => Err(mismatch("key or certificate")),
    }
}

/// The bundle's `TransparencyLogEntry` for Rekor's `entry`.
pub fn to_bundle_entry(entry: &LogEntry) -> Result<TransparencyLogEntry> {
    let (kind, version) = entry.kind_version()?;
    Ok(TransparencyLogEntry {
        log_index: entry.log_index,
        log_id: Some(LogId {
            key_id: entry.log_id.clone(),
        }),
        kind_version: Some(KindVersion { kind, version }),
        integrated_time: entry.integrated_time,
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: entry.signed_entry_timestamp.clone(),
        }),
        inclusion_proof: entry.inclusion_proof.as_ref().map(|p| InclusionProof {
            log_index: p.log_index as i64,
            root_hash: p.root_hash.clone(),
            tree_size: p.tree_size as i64,
            hashes: p.hashes.clone(),
            checkpoint: (!p.checkpoint.is_empty()).then(|| Checkpoint {
                envelope: p.checkpoint.clone(),
            }),
        }),
        canonicalized_body: entry.body.clone(),
    })
}

/// Rekor's entry from a bundle's `TransparencyLogEntry`: a v1 entry needs its SET (a
/// Rekor v2 entry, without integrated time or promise, is refused).
pub fn from_bundle_entry(entry: &TransparencyLogEntry) -> Result<LogEntry> {
    let invalid = |reason: &str| Error::Invalid {
        what: "bundle tlog entry",
        reason: reason.into(),
    };
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or_else(|| invalid("no inclusion promise (signed entry timestamp)"))?;
    let log_id = entry.log_id.as_ref().ok_or_else(|| invalid("no log ID"))?;
    let logged = LogEntry {
        uuid: String::new(),
        body: entry.canonicalized_body.clone(),
        integrated_time: entry.integrated_time,
        log_index: entry.log_index,
        log_id: log_id.key_id.clone(),
        signed_entry_timestamp: promise.signed_entry_timestamp.clone(),
        inclusion_proof: entry
            .inclusion_proof
            .as_ref()
            .map(|p| rekor::InclusionProof {
                log_index: p.log_index as u64,
                tree_size: p.tree_size as u64,
                root_hash: p.root_hash.clone(),
                hashes: p.hashes.clone(),
                checkpoint: p
                    .checkpoint
                    .as_ref()
                    .map(|c| c.envelope.clone())
                    .unwrap_or_default(),
            }),
    };
    if let Some(kv) = &entry.kind_version
        && logged.kind_version()? != (kv.kind.clone(), kv.version.clone())
    {
        return Err(invalid("kindVersion is not the body's"));
    }
    Ok(logged)
}
