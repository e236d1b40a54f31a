//! Rekor v2 (sigstore/rekor-tiles, `POST /api/v2/log/entries`): `hashedrekord` 0.0.2
//! entries (rekor-tiles `api/proto/rekor/v2`: `HashedRekordRequestV002`,
//! `HashedRekordLogEntryV002`) and their verification.
//!
//! Rekor v2 logs only `hashedrekord`: a DSSE envelope is logged as the SHA-256 of its
//! PAE with the envelope's signature (rekor-tiles `CLIENTS.md`, as sigstore-go
//! `pkg/sign` does). The log answers with a bundle `TransparencyLogEntry` (kind
//! `hashedrekord`, version `0.0.2`): no signed entry timestamp and an integrated time of
//! 0, so the signing time must come from an RFC 3161 timestamp ([`super::tsa`]); the
//! evidence of inclusion is the inclusion proof against the root hash of its
//! checkpoint, a C2SP signed note signed by the log's key. The log is found in the
//! trusted root by the entry's log ID (the checkpoint key ID). The note's key hint is
//! the key ID's first 4 bytes: for an ECDSA P-256 key the SHA-256 of its
//! SubjectPublicKeyInfo, for an Ed25519 key (public-good's Rekor v2) the SHA-256 of the
//! origin, a newline, 0x01 and the key.

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::bundle::TransparencyLogEntry;
use super::rekor::{self, InclusionProof};
use super::trust_root::TrustedRoot;
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// The entry kind Rekor v2 logs.
pub const KIND: &str = "hashedrekord";
/// Its version.
pub const VERSION: &str = "0.0.2";
/// `PublicKeyDetails` of the keys lading signs with.
pub const KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: "Rekor v2 entry",
        reason: reason.into(),
    }
}

fn untrusted(reason: impl Into<String>) -> Error {
    Error::Untrusted {
        reason: format!("Rekor v2 entry: {}", reason.into()),
    }
}

/// A `CreateEntryRequest` with a `HashedRekordRequestV002`: `signature` over a message
/// whose SHA-256 is `digest`, verified by `verifier_der`, a certificate (`is_certificate`)
/// or a SubjectPublicKeyInfo.
pub fn hashedrekord_request(
    digest: &[u8],
    signature: &[u8],
    verifier_der: &[u8],
    is_certificate: bool,
) -> serde_json::Value {
    let verifier = if is_certificate {
        json!({ "x509Certificate": { "rawBytes": STANDARD.encode(verifier_der) }, "keyDetails": KEY_DETAILS })
    } else {
        json!({ "publicKey": { "rawBytes": STANDARD.encode(verifier_der) }, "keyDetails": KEY_DETAILS })
    };
    json!({
        "hashedRekordRequestV002": {
            "digest": STANDARD.encode(digest),
            "signature": { "content": STANDARD.encode(signature), "verifier": verifier },
        }
    })
}

/// Uploads `request` to the Rekor v2 log at `base_url`; returns the entry as a bundle
/// holds it.
pub fn upload(
    client: &reqwest::blocking::Client,
    base_url: &str,
    request: &serde_json::Value,
) -> Result<TransparencyLogEntry> {
    let url = format!("{}/api/v2/log/entries", base_url.trim_end_matches('/'));
    // The log answers once a checkpoint includes the entry (rekor-tiles CLIENTS.md: at
    // least 20 seconds).
    let timeout = Some(std::time::Duration::from_secs(60));
    let body = super::post_json(client, "Rekor v2", &url, request, None, timeout)?;
    serde_json::from_str(&body).map_err(|e| invalid(format!("the log's answer: {e}")))
}

/// Whether `entry` is a Rekor v2 entry (by its kind and version).
pub fn is_v2(entry: &TransparencyLogEntry) -> bool {
    entry
        .kind_version
        .as_ref()
        .is_some_and(|kv| kv.kind == KIND && kv.version == VERSION)
}

/// Checks the entry's inclusion proof against its checkpoint's root hash and the
/// checkpoint's signature with the key of the trusted root's log the entry names (whose
/// URL's host name must be the checkpoint's origin).
pub fn verify(entry: &TransparencyLogEntry, trust: &TrustedRoot) -> Result<()> {
    if !is_v2(entry) {
        return Err(invalid("not a hashedrekord 0.0.2 entry"));
    }
    let log_id = entry
        .log_id
        .as_ref()
        .map(|l| l.key_id.as_slice())
        .ok_or_else(|| invalid("no log ID"))?;
    let log = trust.tlog(log_id).ok_or_else(|| {
        untrusted(format!(
            "from log {}, not one of the trusted root's",
            hex::encode(log_id)
        ))
    })?;
    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or_else(|| invalid("no inclusion proof"))?;
    let checkpoint = proof
        .checkpoint
        .as_ref()
        .map(|c| c.envelope.clone())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("no checkpoint"))?;
    if entry.log_index < 0 || proof.tree_size < 0 {
        return Err(invalid("a negative index or tree size"));
    }
    // The note's origin is the host name of the log's URL (sigstore-go's note verifier
    // is named so; a key used by two logs does not make one's checkpoints the other's).
    let origin = host_name(&log.base_url);
    if checkpoint.lines().next() != Some(origin) {
        return Err(untrusted(format!(
            "the checkpoint is not for the log {origin} (origin {:?})",
            checkpoint.lines().next().unwrap_or("")
        )));
    }
    let proof = InclusionProof {
        // The entry's own index (the proof's copy is to be ignored).
        log_index: entry.log_index as u64,
        tree_size: proof.tree_size as u64,
        root_hash: proof.root_hash.clone(),
        hashes: proof.hashes.clone(),
        checkpoint,
    };
    // The checkpoint must be the log's and name this size and root; the proof must
    // lead from the body to that root.
    match ed25519_key(&log.public_key) {
        Some(raw) => {
            // C2SP signed-note: key ID = SHA-256(name ‖ "\n" ‖ 0x01 ‖ key).
            let id = super::sha256(&[origin.as_bytes(), b"\n", &[1], raw].concat());
            let key = UnparsedPublicKey::new(&ED25519, raw);
            rekor::verify_note(&proof, &id[..4], |note, sig| key.verify(note, sig).is_ok())?;
        }
        None => {
            let key = PublicKey::from_der(&log.public_key)?;
            rekor::verify_checkpoint(&proof, &key, log_id)?;
        }
    }
    rekor::verify_inclusion(&entry.canonicalized_body, &proof)?;
    Ok(())
}

/// The raw key of an Ed25519 SubjectPublicKeyInfo (RFC 8410), if it is one.
fn ed25519_key(spki: &[u8]) -> Option<&[u8]> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.strip_prefix(&PREFIX[..]).filter(|raw| raw.len() == 32)
}

/// The host of `url`, without scheme, port or path (Go's `url.URL.Hostname`).
fn host_name(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host.split(':').next().unwrap_or("")
}

/// Checks that the entry logs `signature` over a message whose SHA-256 is `digest`,
/// verified by `verifier_der` (a certificate or SubjectPublicKeyInfo).
pub fn check_body(
    entry: &TransparencyLogEntry,
    signature: &[u8],
    digest: &[u8],
    verifier_der: &[u8],
) -> Result<()> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        kind: String,
        api_version: String,
        spec: serde_json::Value,
    }
    let body: Body = serde_json::from_slice(&entry.canonicalized_body)
        .map_err(|e| invalid(format!("the body: {e}")))?;
    if body.kind != KIND || body.api_version != VERSION {
        return Err(invalid(format!(
            "the body is {} {}, expected {KIND} {VERSION}",
            body.kind, body.api_version
        )));
    }
    let field = |ptr: &str| {
        body.spec
            .pointer(&format!("/hashedRekordV002{ptr}"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    };
    let bytes = |ptr: &str| STANDARD.decode(field(ptr)).ok();
    let mismatch = |what: &str| untrusted(format!("the logged {what} is not the signature's"));
    if field("/data/algorithm") != "SHA2_256" || bytes("/data/digest").as_deref() != Some(digest) {
        return Err(mismatch("digest"));
    }
    if bytes("/signature/content").as_deref() != Some(signature) {
        return Err(mismatch("signature"));
    }
    let logged_verifier = bytes("/signature/verifier/x509Certificate/rawBytes")
        .or_else(|| bytes("/signature/verifier/publicKey/rawBytes"));
    if logged_verifier.as_deref() != Some(verifier_der) {
        return Err(mismatch("key or certificate"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::bundle::{Checkpoint, InclusionProof as BundleProof, KindVersion, LogId};

    #[test]
    fn request_has_rekor_tiles_shape() {
        let r = hashedrekord_request(&[1, 2], &[3], &[4], true);
        assert_eq!(
            r,
            json!({"hashedRekordRequestV002": {"digest": "AQI=", "signature": {"content": "Aw==",
              "verifier": {"x509Certificate": {"rawBytes": "BA=="}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}})
        );
        let k = hashedrekord_request(&[1, 2], &[3], &[4], false);
        assert_eq!(
            k["hashedRekordRequestV002"]["signature"]["verifier"]["publicKey"]["rawBytes"],
            "BA=="
        );
    }

    fn body(digest: &[u8], sig: &[u8], cert: &[u8]) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": {"content": STANDARD.encode(sig), "verifier": {"keyDetails": KEY_DETAILS,
              "x509Certificate": {"rawBytes": STANDARD.encode(cert)}}}}}}),
        )
        .unwrap()
    }

    fn entry(body: Vec<u8>) -> TransparencyLogEntry {
        TransparencyLogEntry {
            log_index: 0,
            log_id: Some(LogId {
                key_id: vec![9; 32],
            }),
            kind_version: Some(KindVersion {
                kind: KIND.into(),
                version: VERSION.into(),
            }),
            integrated_time: 0,
            inclusion_promise: None,
            inclusion_proof: Some(BundleProof {
                log_index: 0,
                root_hash: vec![],
                tree_size: 1,
                hashes: vec![],
                checkpoint: Some(Checkpoint {
                    envelope: "x".into(),
                }),
            }),
            canonicalized_body: body,
        }
    }

    #[test]
    fn body_must_log_this_signature() {
        let e = entry(body(&[1; 32], &[2; 8], &[3; 5]));
        check_body(&e, &[2; 8], &[1; 32], &[3; 5]).unwrap();
        assert!(check_body(&e, &[2; 7], &[1; 32], &[3; 5]).is_err());
        assert!(check_body(&e, &[2; 8], &[0; 32], &[3; 5]).is_err());
        assert!(check_body(&e, &[2; 8], &[1; 32], &[4; 5]).is_err());
        let mut v1 = e.clone();
        v1.canonicalized_body =
            serde_json::to_vec(&json!({"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}))
                .unwrap();
        assert!(check_body(&v1, &[2; 8], &[1; 32], &[3; 5]).is_err());
    }

    /// An answer of the real rekor-tiles v2.3.0 (POSIX backend, origin `rekor.local`, an
    /// ECDSA P-256 key) to the third of five uploads, with what was uploaded.
    const ENTRY: &[u8] = include_bytes!("testdata/rekor-v2-entry.json");

    fn fixture(base_url: &str) -> (TransparencyLogEntry, TrustedRoot, serde_json::Value) {
        let f: serde_json::Value = serde_json::from_slice(ENTRY).unwrap();
        let entry: TransparencyLogEntry = serde_json::from_value(f["entry"].clone()).unwrap();
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": f["logPublicKey"], "keyDetails": "PKIX_ECDSA_P256_SHA_256"},
                "logId": {"keyId": f["entry"]["logId"]["keyId"]},
            }],
        });
        let trust = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
        (entry, trust, f)
    }

    #[test]
    fn verifies_an_entry_of_rekor_tiles() {
        let (entry, trust, f) = fixture("http://rekor.local");
        assert!(is_v2(&entry));
        let proof = entry.inclusion_proof.as_ref().unwrap();
        assert_eq!(
            (entry.log_index, proof.tree_size, proof.hashes.len()),
            (2, 3, 1)
        );
        verify(&entry, &trust).unwrap();
        let b64 = |k: &str| STANDARD.decode(f[k].as_str().unwrap()).unwrap();
        let digest = super::super::sha256(f["message"].as_str().unwrap().as_bytes());
        check_body(&entry, &b64("signature"), &digest, &b64("certificate")).unwrap();

        // Another log URL (origin), a changed audit path, body, index or checkpoint.
        let (_, other_origin, _) = fixture("https://rekor.example");
        let err = verify(&entry, &other_origin).unwrap_err();
        assert!(err.to_string().contains("not for the log"), "{err}");
        let mut changed = entry.clone();
        changed.inclusion_proof.as_mut().unwrap().hashes[0][0] ^= 1;
        assert!(verify(&changed, &trust).is_err());
        let mut changed = entry.clone();
        changed.canonicalized_body.push(b' ');
        assert!(verify(&changed, &trust).is_err());
        let mut changed = entry.clone();
        changed.log_index = 1;
        assert!(verify(&changed, &trust).is_err());
        let mut changed = entry.clone();
        let note = &mut changed
            .inclusion_proof
            .as_mut()
            .unwrap()
            .checkpoint
            .as_mut()
            .unwrap()
            .envelope;
        *note = note.replacen("\n3\n", "\n4\n", 1);
        assert!(verify(&changed, &trust).is_err());
        // Another key for the log.
        let mut stranger = trust.clone();
        stranger.tlogs[0].public_key = crate::keys::KeyPair::generate()
            .unwrap()
            .public_key()
            .unwrap()
            .der()
            .to_vec();
        let err = verify(&entry, &stranger).unwrap_err();
        assert!(
            err.to_string().contains("not signed by the log's key"),
            "{err}"
        );
    }

    #[test]
    fn verifies_checkpoints_signed_with_ed25519() {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
        let key = Ed25519KeyPair::generate().unwrap();
        let raw = key.public_key().as_ref().to_vec();
        let spki = [
            &[
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ][..],
            &raw,
        ]
        .concat();
        let origin = "log.example";
        let key_id = super::super::sha256(&[origin.as_bytes(), b"\n", &[1], &raw].concat());
        // A one-leaf tree: the root is the leaf hash.
        let mut e = entry(body(&[1; 32], &[2], &[3]));
        let root = super::super::sha256(&[&[0u8][..], &e.canonicalized_body].concat());
        let note = format!("{origin}\n1\n{}\n", STANDARD.encode(root));
        let signed = |hint: &[u8]| {
            let sig = [hint, key.sign(note.as_bytes()).as_ref()].concat();
            format!("{note}\n\u{2014} {origin} {}\n", STANDARD.encode(sig))
        };
        e.log_id = Some(LogId {
            key_id: key_id.to_vec(),
        });
        let proof = e.inclusion_proof.as_mut().unwrap();
        proof.root_hash = root.to_vec();
        proof.checkpoint = Some(Checkpoint {
            envelope: signed(&key_id[..4]),
        });
        let trust = TrustedRoot::from_json(
            json!({
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [{
                    "baseUrl": format!("https://{origin}"),
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": {"rawBytes": STANDARD.encode(&spki), "keyDetails": "PKIX_ED25519"},
                    "logId": {"keyId": STANDARD.encode(key_id)},
                }],
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        verify(&e, &trust).unwrap();
        // The hint of an ECDSA-style key ID (SHA-256 of the SubjectPublicKeyInfo).
        let mut other_hint = e.clone();
        other_hint
            .inclusion_proof
            .as_mut()
            .unwrap()
            .checkpoint
            .as_mut()
            .unwrap()
            .envelope = signed(&super::super::sha256(&spki)[..4]);
        assert!(verify(&other_hint, &trust).is_err());
    }

    #[test]
    fn origins_are_host_names() {
        assert_eq!(
            host_name("https://log2025-1.rekor.sigstore.dev"),
            "log2025-1.rekor.sigstore.dev"
        );
        assert_eq!(host_name("http://127.0.0.1:3000/"), "127.0.0.1");
        assert_eq!(host_name("http://[::1]:3000/x"), "::1");
        assert_eq!(host_name("http://u@h.example:1/p?q"), "h.example");
    }

    #[test]
    fn an_unknown_log_is_refused() {
        let trust = TrustedRoot::from_json(
            br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
        )
        .unwrap();
        let err = verify(&entry(body(&[1; 32], &[2], &[3])), &trust).unwrap_err();
        assert!(
            err.to_string().contains("not one of the trusted root"),
            "{err}"
        );
    }
}
