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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::PAYLOAD_TYPE_IN_TOTO;
    use crate::keys::KeyPair;

    /// The body Rekor v1 logs for `envelope` signed by `pem` (rekor `dsse` v0.0.1
    /// `Canonicalize`).
    fn logged_body(envelope: &Envelope, pem: &str) -> Vec<u8> {
        let sig = STANDARD.encode(&envelope.signatures[0].sig);
        json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": Digest::of(&envelope.to_bytes().unwrap()).hex()},
                "payloadHash": {"algorithm": "sha256", "value": Digest::of(&envelope.payload).hex()},
                "signatures": [{"signature": sig, "verifier": STANDARD.encode(pem)}],
            },
        })
        .to_string()
        .into_bytes()
    }

    fn entry(body: Vec<u8>) -> LogEntry {
        LogEntry {
            uuid: String::new(),
            body,
            integrated_time: 1_700_000_000,
            log_index: 42,
            log_id: vec![7; 32],
            signed_entry_timestamp: vec![1, 2, 3],
            inclusion_proof: Some(rekor::InclusionProof {
                log_index: 0,
                tree_size: 1,
                root_hash: vec![9; 32],
                hashes: Vec::new(),
                checkpoint: "origin\n1\nroot\n\n\u{2014} origin sig\n".into(),
            }),
        }
    }

    #[test]
    fn the_logged_envelope_matches_and_others_do_not() {
        let pair = KeyPair::generate().unwrap();
        let public = pair.public_key().unwrap();
        let envelope = Envelope::sign(&pair, PAYLOAD_TYPE_IN_TOTO, b"{\"a\":1}").unwrap();
        let logged = entry(logged_body(&envelope, &public.to_pem()));
        check_body(&logged, &envelope, public.der()).unwrap();

        // The proposed entry carries the envelope and the verifier.
        let proposed = proposed(&envelope, &public.to_pem()).unwrap();
        assert_eq!(proposed["kind"], "dsse");
        let sent = proposed["spec"]["proposedContent"]["envelope"]
            .as_str()
            .unwrap();
        assert_eq!(Envelope::parse(sent.as_bytes()).unwrap(), envelope);

        let untrusted = |r: Result<()>| assert!(matches!(r, Err(Error::Untrusted { .. })), "{r:?}");
        // Another payload under the same signature.
        let mut other = envelope.clone();
        other.payload = b"{\"a\":2}".to_vec();
        untrusted(check_body(&logged, &other, public.der()));
        // Another signature.
        let resigned = Envelope::sign(&pair, PAYLOAD_TYPE_IN_TOTO, b"{\"a\":1}").unwrap();
        untrusted(check_body(&logged, &resigned, public.der()));
        // Another verifier.
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        untrusted(check_body(&logged, &envelope, stranger.der()));
        // A hashedrekord body is not a dsse entry.
        let hashed = entry(
            rekor::hashedrekord(&envelope.signatures[0].sig, &public.to_pem(), &[0; 32])
                .to_string()
                .into_bytes(),
        );
        assert!(matches!(
            check_body(&hashed, &envelope, public.der()),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn bundle_entries_round_trip_and_must_agree_with_their_body() {
        let pair = KeyPair::generate().unwrap();
        let envelope = Envelope::sign(&pair, PAYLOAD_TYPE_IN_TOTO, b"{}").unwrap();
        let logged = entry(logged_body(&envelope, &pair.public_key().unwrap().to_pem()));
        let in_bundle = to_bundle_entry(&logged).unwrap();
        let kind = in_bundle.kind_version.as_ref().unwrap();
        assert_eq!(
            (kind.kind.as_str(), kind.version.as_str()),
            ("dsse", "0.0.1")
        );
        assert_eq!(from_bundle_entry(&in_bundle).unwrap(), logged);

        let mut relabelled = in_bundle.clone();
        relabelled.kind_version = Some(KindVersion {
            kind: "hashedrekord".into(),
            version: "0.0.1".into(),
        });
        assert!(from_bundle_entry(&relabelled).is_err());
        // A Rekor v2 entry has no inclusion promise: not a v1 entry.
        let mut v2 = in_bundle;
        v2.inclusion_promise = None;
        assert!(from_bundle_entry(&v2).is_err());
    }
}
