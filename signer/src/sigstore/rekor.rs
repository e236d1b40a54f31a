//! Rekor v1: `hashedrekord` 0.0.1 entries (`POST /api/v1/log/entries`), the log's signed
//! entry timestamp (SET) over each entry, RFC 6962 inclusion proofs, and cosign's legacy
//! `dev.sigstore.cosign/bundle` annotation that carries an entry beside a signature.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::trust_root::TrustedRoot;
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// An entry's inclusion proof (RFC 6962 section 2.1.1), as Rekor returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index in the tree the proof is for.
    pub log_index: u64,
    /// That tree's size.
    pub tree_size: u64,
    /// That tree's root hash.
    pub root_hash: Vec<u8>,
    /// The audit path, leaf to root.
    pub hashes: Vec<Vec<u8>>,
    /// The signed checkpoint (a signed note) for that tree.
    pub checkpoint: String,
}

/// A Rekor v1 entry: what a Sigstore bundle's `TransparencyLogEntry` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's UUID.
    pub uuid: String,
    /// The canonicalized entry (JSON).
    pub body: Vec<u8>,
    /// When the log integrated it (Unix seconds).
    pub integrated_time: i64,
    /// Its global index.
    pub log_index: i64,
    /// The log's ID (SHA-256 of its key).
    pub log_id: Vec<u8>,
    /// The signed entry timestamp: the log's promise to include it.
    pub signed_entry_timestamp: Vec<u8>,
    /// The inclusion proof, when Rekor gave one.
    pub inclusion_proof: Option<InclusionProof>,
}

fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        reason: reason.into(),
    }
}

/// The `hashedrekord` 0.0.1 entry for a signature of a payload whose SHA-256 is
/// `payload_sha256`, made with the key in `verifier_pem` (a certificate or public key).
pub fn hashedrekord(
    signature: &[u8],
    verifier_pem: &str,
    payload_sha256: &[u8],
) -> serde_json::Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(payload_sha256) } },
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": { "content": STANDARD.encode(verifier_pem) },
            },
        },
    })
}

/// Uploads `entry` to the Rekor at `base_url`.
pub fn upload(
    client: &reqwest::blocking::Client,
    base_url: &str,
    entry: &serde_json::Value,
) -> Result<LogEntry> {
    let url = format!("{}/api/v1/log/entries", base_url.trim_end_matches('/'));
    let body = super::post_json(client, "Rekor", &url, entry, None, None)?;
    parse_response(&body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: u64,
    tree_size: u64,
    root_hash: String,
    #[serde(default)]
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVerification {
    signed_entry_timestamp: String,
    inclusion_proof: Option<RawProof>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: i64,
    verification: RawVerification,
}

/// The entry of a `{uuid: entry}` answer.
fn parse_response(body: &str) -> Result<LogEntry> {
    let what = "Rekor's answer";
    let map: BTreeMap<String, RawEntry> =
        serde_json::from_str(body).map_err(|e| invalid(what, e.to_string()))?;
    let (uuid, raw) = map
        .into_iter()
        .next()
        .ok_or_else(|| invalid(what, "no entry"))?;
    let unhex = |s: &str| hex::decode(s).map_err(|_| invalid(what, "a hash is not hex"));
    let inclusion_proof = raw
        .verification
        .inclusion_proof
        .map(|p| -> Result<InclusionProof> {
            Ok(InclusionProof {
                log_index: p.log_index,
                tree_size: p.tree_size,
                root_hash: unhex(&p.root_hash)?,
                hashes: p.hashes.iter().map(|h| unhex(h)).collect::<Result<_>>()?,
                checkpoint: p.checkpoint,
            })
        })
        .transpose()?;
    Ok(LogEntry {
        uuid,
        body: STANDARD
            .decode(&raw.body)
            .map_err(|_| invalid(what, "the body is not base64"))?,
        integrated_time: raw.integrated_time,
        log_index: raw.log_index,
        log_id: unhex(&raw.log_id)?,
        signed_entry_timestamp: STANDARD
            .decode(&raw.verification.signed_entry_timestamp)
            .map_err(|_| invalid(what, "the SET is not base64"))?,
        inclusion_proof,
    })
}

/// What the SET signs: the canonical JSON (keys sorted, no spaces) of these four fields.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct SetPayload {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: i64,
}

impl LogEntry {
    fn set_payload(&self) -> SetPayload {
        SetPayload {
            body: STANDARD.encode(&self.body),
            integrated_time: self.integrated_time,
            log_id: hex::encode(&self.log_id),
            log_index: self.log_index,
        }
    }

    /// The entry's kind and version (`hashedrekord`, `0.0.1`), from its body: a bundle's
    /// `kindVersion`.
    pub fn kind_version(&self) -> Result<(String, String)> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Head {
            kind: String,
            api_version: String,
        }
        let h: Head = serde_json::from_slice(&self.body)
            .map_err(|e| invalid("log entry body", e.to_string()))?;
        Ok((h.kind, h.api_version))
    }

    /// cosign's `dev.sigstore.cosign/bundle` annotation (cosign `pkg/cosign/bundle`
    /// `RekorBundle`): `{"SignedEntryTimestamp":…,"Payload":{"body":…,"integratedTime":…,"logIndex":…,"logID":…}}`.
    pub fn to_cosign_bundle(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Payload<'a> {
            body: &'a str,
            #[serde(rename = "integratedTime")]
            integrated_time: i64,
            #[serde(rename = "logIndex")]
            log_index: i64,
            #[serde(rename = "logID")]
            log_id: &'a str,
        }
        #[derive(Serialize)]
        struct Bundle<'a> {
            #[serde(rename = "SignedEntryTimestamp")]
            set: String,
            #[serde(rename = "Payload")]
            payload: Payload<'a>,
        }
        let p = self.set_payload();
        serde_json::to_string(&Bundle {
            set: STANDARD.encode(&self.signed_entry_timestamp),
            payload: Payload {
                body: &p.body,
                integrated_time: p.integrated_time,
                log_index: p.log_index,
                log_id: &p.log_id,
            },
        })
        .map_err(|e| invalid("cosign bundle", e.to_string()))
    }

    /// Reads cosign's `dev.sigstore.cosign/bundle` annotation (no UUID, no inclusion proof).
    pub fn from_cosign_bundle(text: &str) -> Result<LogEntry> {
        #[derive(Deserialize)]
        struct Bundle {
            #[serde(rename = "SignedEntryTimestamp")]
            set: String,
            #[serde(rename = "Payload")]
            payload: SetPayload,
        }
        let what = "cosign bundle annotation";
        let b: Bundle = serde_json::from_str(text).map_err(|e| invalid(what, e.to_string()))?;
        let de = |s: &str| STANDARD.decode(s).map_err(|_| invalid(what, "not base64"));
        Ok(LogEntry {
            uuid: String::new(),
            body: de(&b.payload.body)?,
            integrated_time: b.payload.integrated_time,
            log_index: b.payload.log_index,
            log_id: hex::decode(&b.payload.log_id).map_err(|_| invalid(what, "logID not hex"))?,
            signed_entry_timestamp: de(&b.set)?,
            inclusion_proof: None,
        })
    }

    /// Checks the SET with the key of the trusted log that issued it, valid at the
    /// entry's time, and the inclusion proof when there is one.
    pub fn verify(&self, trust: &TrustedRoot) -> Result<()> {
        let untrusted = |reason: String| Error::Untrusted { reason };
        let log = trust.tlog(&self.log_id).ok_or_else(|| {
            untrusted(format!(
                "the entry is from log {}, not one of the trusted root's",
                hex::encode(&self.log_id)
            ))
        })?;
        if !log.valid_for.contains(self.integrated_time) {
            return Err(untrusted(
                "the log's key was not valid at the entry's integrated time".into(),
            ));
        }
        let key = PublicKey::from_der(&log.public_key)?;
        let canonical = serde_json::to_vec(&self.set_payload())
            .map_err(|e| invalid("SET payload", e.to_string()))?;
        key.verify(&canonical, &self.signed_entry_timestamp)
            .map_err(|_| {
                untrusted("the signed entry timestamp does not verify with the log's key".into())
            })?;
        if let Some(proof) = &self.inclusion_proof {
            verify_inclusion(&self.body, proof)?;
            if !proof.checkpoint.is_empty() {
                verify_checkpoint(proof, &key, &self.log_id)?;
            }
        }
        Ok(())
    }

    /// Checks that the entry is a `hashedrekord` of `signature`, over a payload whose
    /// SHA-256 is `payload_sha256`, made by the key or certificate whose DER is
    /// `verifier_der` (a certificate) or SubjectPublicKeyInfo.
    pub fn check_body(
        &self,
        signature: &[u8],
        payload_sha256: &[u8],
        verifier_der: &[u8],
    ) -> Result<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            kind: String,
            api_version: String,
            spec: serde_json::Value,
        }
        let mismatch = |what: &str| Error::Untrusted {
            reason: format!("the log entry's {what} is not the signature's"),
        };
        let body: Body = serde_json::from_slice(&self.body)
            .map_err(|e| invalid("log entry body", e.to_string()))?;
        if body.kind != "hashedrekord" || body.api_version != "0.0.1" {
            return Err(invalid(
                "log entry body",
                format!(
                    "kind {} {}, expected hashedrekord 0.0.1",
                    body.kind, body.api_version
                ),
            ));
        }
        let field = |ptr: &str| {
            body.spec
                .pointer(ptr)
                .and_then(|v| v.as_str())
                .unwrap_or("")
        };
        if field("/data/hash/algorithm") != "sha256"
            || !field("/data/hash/value").eq_ignore_ascii_case(&hex::encode(payload_sha256))
        {
            return Err(mismatch("payload hash"));
        }
        if STANDARD.decode(field("/signature/content")).ok().as_deref() != Some(signature) {
            return Err(mismatch("signature"));
        }
        let pem_text = STANDARD
            .decode(field("/signature/publicKey/content"))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        match crate::pem::decode(&pem_text) {
            Ok((_, der)) if der.as_slice() == verifier_der => Ok(()),
            _ => Err(mismatch("key or certificate")),
        }
    }
}

/// The proof's checkpoint (a signed note: `origin\nsize\nbase64(root)\n…\n\n— name
/// base64(key hint ‖ signature)\n`, as rekor's `pkg/util`) must be signed by the log's
/// key (ECDSA over the note text, key hint = the log ID's first 4 bytes) and name the
/// proof's tree size and root hash.
pub fn verify_checkpoint(proof: &InclusionProof, key: &PublicKey, log_id: &[u8]) -> Result<()> {
    let hint = log_id.get(..4).ok_or_else(|| Error::Untrusted {
        reason: "checkpoint: log ID too short".into(),
    })?;
    verify_note(proof, hint, |note, sig| key.verify(note, sig).is_ok())
}

/// The checkpoint of `proof` must name its tree size and root hash and carry a
/// signature line whose key hint is `hint` and whose signature `verify` accepts over
/// the note text.
pub(crate) fn verify_note(
    proof: &InclusionProof,
    hint: &[u8],
    verify: impl Fn(&[u8], &[u8]) -> bool,
) -> Result<()> {
    let fail = |reason: &str| Error::Untrusted {
        reason: format!("checkpoint: {reason}"),
    };
    let text = &proof.checkpoint;
    let split = text
        .rfind("\n\n")
        .ok_or_else(|| fail("no signature block"))?;
    let (note, signatures) = (&text[..=split], &text[split + 2..]);
    let mut lines = note.lines();
    let (_origin, size, root) = (lines.next(), lines.next(), lines.next());
    if size.and_then(|s| s.parse::<u64>().ok()) != Some(proof.tree_size) {
        return Err(fail("another tree size than the proof's"));
    }
    if root.and_then(|r| STANDARD.decode(r).ok()).as_deref() != Some(&proof.root_hash[..]) {
        return Err(fail("another root hash than the proof's"));
    }
    let signed = signatures.lines().any(|line| {
        let sig = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|b| STANDARD.decode(b).ok());
        matches!(sig, Some(sig) if sig.len() > 4 && &sig[..4] == hint
            && verify(note.as_bytes(), &sig[4..]))
    });
    if !signed {
        return Err(fail("not signed by the log's key"));
    }
    Ok(())
}

fn leaf_hash(data: &[u8]) -> Vec<u8> {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    h.update(&[0u8]);
    h.update(data);
    h.finish().as_ref().to_vec()
}

fn node_hash(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    h.update(&[1u8]);
    h.update(left);
    h.update(right);
    h.finish().as_ref().to_vec()
}

/// RFC 9162 section 2.1.3.2: the root the audit path leads to from `body`'s leaf must be
/// the proof's root hash.
pub fn verify_inclusion(body: &[u8], proof: &InclusionProof) -> Result<()> {
    let fail = |reason: &str| Error::Untrusted {
        reason: format!("inclusion proof: {reason}"),
    };
    if proof.log_index >= proof.tree_size {
        return Err(fail("the index is outside the tree"));
    }
    let (mut fn_, mut sn) = (proof.log_index, proof.tree_size - 1);
    let mut r = leaf_hash(body);
    for p in &proof.hashes {
        if sn == 0 {
            return Err(fail("the path is too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                // "repeat … until LSB(fn) or fn is 0": at least once.
                loop {
                    fn_ >>= 1;
                    sn >>= 1;
                    if fn_ & 1 == 1 || fn_ == 0 {
                        break;
                    }
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(fail("the path is too short"));
    }
    if r != proof.root_hash {
        return Err(fail("the computed root is not the proof's root hash"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::sha256;

    /// RFC 6962 tree hash of `leaves`.
    fn root(leaves: &[Vec<u8>]) -> Vec<u8> {
        match leaves.len() {
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = (n - 1).next_power_of_two().max(1);
                let k = if k >= n { k / 2 } else { k };
                node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 audit path of leaf `m`.
    fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let n = leaves.len();
        if n == 1 {
            return vec![];
        }
        let k = (n - 1).next_power_of_two();
        let k = if k >= n { k / 2 } else { k };
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(root(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(root(&leaves[..k]));
            p
        }
    }

    #[test]
    fn inclusion_proofs_of_every_leaf_in_trees_up_to_nine() {
        for n in 1..=9usize {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("leaf {i}").into_bytes()).collect();
            let root_hash = root(&leaves);
            for m in 0..n {
                let mut proof = InclusionProof {
                    log_index: m as u64,
                    tree_size: n as u64,
                    root_hash: root_hash.clone(),
                    hashes: path(m, &leaves),
                    checkpoint: String::new(),
                };
                verify_inclusion(&leaves[m], &proof).unwrap();
                assert!(verify_inclusion(b"another leaf", &proof).is_err());
                if n > 1 {
                    proof.log_index = ((m + 1) % n) as u64;
                    assert!(verify_inclusion(&leaves[m], &proof).is_err(), "n={n} m={m}");
                }
            }
        }
    }

    // An entry from @sigstore/mock's Rekor (tests/support/sigstore.js) for a signature of
    // "a payload\n" by the key beside it, and the trusted root of that run.
    const ENTRY: &str = include_str!("testdata/rekor-entry.json");
    const SIGNATURE: &[u8] = include_bytes!("testdata/rekor-entry.sig");
    const KEY: &str = include_str!("testdata/rekor-entry.pub");
    const ROOT: &[u8] = include_bytes!("testdata/trusted_root.json");

    #[test]
    fn a_logged_entry_verifies_and_a_changed_one_does_not() {
        let trust = TrustedRoot::from_json(ROOT).unwrap();
        let entry = parse_response(ENTRY).unwrap();
        assert!(entry.inclusion_proof.is_some());
        entry.verify(&trust).unwrap();
        assert_eq!(
            entry.kind_version().unwrap(),
            ("hashedrekord".to_string(), "0.0.1".to_string())
        );
        let key = PublicKey::from_pem(KEY).unwrap();
        let hash = sha256(b"a payload\n");
        entry.check_body(SIGNATURE, &hash, key.der()).unwrap();

        // What the bundle annotation keeps verifies the same.
        let back = LogEntry::from_cosign_bundle(&entry.to_cosign_bundle().unwrap()).unwrap();
        back.verify(&trust).unwrap();

        // Another time, index or body: the SET no longer verifies.
        let mut e = entry.clone();
        e.integrated_time += 1;
        assert!(matches!(e.verify(&trust), Err(Error::Untrusted { .. })));
        let mut e = entry.clone();
        e.log_index += 1;
        assert!(matches!(e.verify(&trust), Err(Error::Untrusted { .. })));
        let mut e = entry.clone();
        e.body.push(b' ');
        assert!(e.verify(&trust).is_err());
        // A log the root does not know.
        let mut e = entry.clone();
        e.log_id[0] ^= 1;
        assert!(
            e.verify(&trust)
                .unwrap_err()
                .to_string()
                .contains("not one of")
        );
        // The inclusion proof's checkpoint is the log's: another root is refused.
        let mut e = entry.clone();
        let proof = e.inclusion_proof.as_mut().unwrap();
        assert!(!proof.checkpoint.is_empty());
        let key = PublicKey::from_der(&trust.tlogs[0].public_key).unwrap();
        verify_checkpoint(proof, &key, &entry.log_id).unwrap();
        proof.checkpoint = proof.checkpoint.replacen("\n1\n", "\n2\n", 1);
        assert!(verify_checkpoint(proof, &key, &entry.log_id).is_err());
        let stranger = crate::KeyPair::generate().unwrap().public_key().unwrap();
        let proof = entry.inclusion_proof.as_ref().unwrap();
        assert!(verify_checkpoint(proof, &stranger, &entry.log_id).is_err());

        // The body names this signature, payload and key only.
        let key = PublicKey::from_pem(KEY).unwrap();
        let other = sha256(b"another payload\n");
        assert!(entry.check_body(SIGNATURE, &other, key.der()).is_err());
        assert!(entry.check_body(b"sig", &hash, key.der()).is_err());
        let stranger = crate::KeyPair::generate().unwrap().public_key().unwrap();
        assert!(entry.check_body(SIGNATURE, &hash, stranger.der()).is_err());
    }

    #[test]
    fn cosign_bundle_round_trips_in_cosigns_field_order() {
        let e = LogEntry {
            uuid: "u".into(),
            body: b"{}".to_vec(),
            integrated_time: 7,
            log_index: 3,
            log_id: vec![0xab],
            signed_entry_timestamp: vec![1, 2],
            inclusion_proof: None,
        };
        let text = e.to_cosign_bundle().unwrap();
        assert_eq!(
            text,
            r#"{"SignedEntryTimestamp":"AQI=","Payload":{"body":"e30=","integratedTime":7,"logIndex":3,"logID":"ab"}}"#
        );
        let back = LogEntry::from_cosign_bundle(&text).unwrap();
        assert_eq!(
            back,
            LogEntry {
                uuid: String::new(),
                ..e
            }
        );
    }
}
