//! TUF 1.0 metadata: the signed envelope, the four top-level roles, and threshold
//! signature checks (ecdsa-sha2-nistp256 and ed25519 keys, through aws-lc-rs).

use aws_lc_rs::digest::{SHA256, SHA512, digest};
use std::collections::BTreeMap;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ED25519, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

use super::canonical;
use crate::error::{Error, Result};
use crate::sigstore::time::parse_rfc3339;

/// An error about TUF metadata.
pub(crate) fn invalid(reason: impl Into<String>) -> Error {
    Error::Untrusted {
        reason: format!("TUF: {}", reason.into()),
    }
}

#[derive(Deserialize)]
struct Envelope {
    signatures: Vec<Signature>,
    signed: Value,
}

#[derive(Deserialize)]
struct Signature {
    keyid: String,
    sig: String,
}

/// Metadata read but not yet trusted: the `signed` part and its signatures.
pub struct Unverified {
    signed: Value,
    signatures: Vec<Signature>,
}

impl Unverified {
    /// Reads a metadata file.
    pub fn parse(bytes: &[u8], role: &str) -> Result<Unverified> {
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("{role}.json is not TUF metadata: {e}")))?;
        let kind = envelope.signed.get("_type").and_then(Value::as_str);
        if kind != Some(role) {
            return Err(invalid(format!("{role}.json has _type {kind:?}")));
        }
        Ok(Unverified {
            signed: envelope.signed,
            signatures: envelope.signatures,
        })
    }

    /// Checks that `threshold` distinct keys of `role` (as `root` delegates it) signed.
    pub fn verify(&self, root: &Root, role: &str) -> Result<()> {
        let (good, threshold) = self.valid_signatures(root, role)?;
        if good < threshold as usize || threshold == 0 {
            return Err(invalid(format!(
                "{role} metadata has {good} valid signature(s) of the {threshold} its root requires"
            )));
        }
        Ok(())
    }

    /// How many distinct keys of `role` signed, and how many `root` requires.
    pub fn valid_signatures(&self, root: &Root, role: &str) -> Result<(usize, u32)> {
        let delegation = root
            .roles
            .get(role)
            .ok_or_else(|| invalid(format!("the root delegates no {role} role")))?;
        let message = canonical::to_vec(&self.signed)?;
        let mut good = std::collections::BTreeSet::new();
        for sig in &self.signatures {
            if !delegation.keyids.contains(&sig.keyid) || good.contains(&sig.keyid) {
                continue;
            }
            let Some(key) = root.keys.get(&sig.keyid) else {
                continue;
            };
            if key.verify(&message, &sig.sig) {
                good.insert(sig.keyid.clone());
            }
        }
        Ok((good.len(), delegation.threshold))
    }

    /// The signed part as `T`, once verified.
    pub fn into_signed<T: for<'de> Deserialize<'de>>(self, role: &str) -> Result<T> {
        serde_json::from_value(self.signed)
            .map_err(|e| invalid(format!("{role} metadata is malformed: {e}")))
    }
}

/// A public key as TUF writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Key {
    keytype: String,
    scheme: String,
    keyval: KeyValue,
}

#[derive(Debug, Clone, Deserialize)]
struct KeyValue {
    public: String,
}

impl Key {
    /// Whether `sig_hex` is this key's signature of `message`; unknown schemes never verify.
    fn verify(&self, message: &[u8], sig_hex: &str) -> bool {
        let Ok(sig) = hex::decode(sig_hex) else {
            return false;
        };
        match (self.keytype.as_str(), self.scheme.as_str()) {
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => {
                let Some(spki) = self.ecdsa_spki() else {
                    return false;
                };
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki)
                    .verify(message, &sig)
                    .is_ok()
            }
            ("ed25519", "ed25519") => {
                let Ok(raw) = hex::decode(&self.keyval.public) else {
                    return false;
                };
                UnparsedPublicKey::new(&ED25519, raw)
                    .verify(message, &sig)
                    .is_ok()
            }
            _ => false,
        }
    }

    /// The key's SubjectPublicKeyInfo DER (a PEM, or a hex SPKI as some tools write).
    fn ecdsa_spki(&self) -> Option<Vec<u8>> {
        let public = self.keyval.public.trim();
        if public.starts_with("-----BEGIN") {
            crate::pem::decode(public).ok().map(|(_, der)| der.to_vec())
        } else {
            hex::decode(public).ok()
        }
    }
}

/// A role's keys and threshold.
#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    keyids: Vec<String>,
    threshold: u32,
}

/// `root.json`'s signed part.
#[derive(Debug, Clone, Deserialize)]
pub struct Root {
    pub version: u64,
    pub expires: String,
    #[serde(default)]
    pub consistent_snapshot: bool,
    keys: BTreeMap<String, Key>,
    roles: BTreeMap<String, Role>,
}

impl Root {
    /// Whether `role`'s keys or threshold differ in `other`.
    pub fn role_changed(&self, other: &Root, role: &str) -> bool {
        let ids = |r: &Root| r.roles.get(role).map(|d| (d.keyids.clone(), d.threshold));
        ids(self) != ids(other)
    }
}

/// What a timestamp or snapshot says of another metadata file.
#[derive(Debug, Clone, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    pub length: Option<u64>,
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
}

/// `timestamp.json` and `snapshot.json`: versions of other metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct Versions {
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
}

/// A target file's length and hashes.
#[derive(Debug, Clone, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
}

/// `targets.json`'s signed part (delegations are not followed).
#[derive(Debug, Clone, Deserialize)]
pub struct Targets {
    pub version: u64,
    pub expires: String,
    pub targets: BTreeMap<String, TargetFile>,
}

/// Fails when `expires` is at or before `now` (Unix seconds).
pub fn check_expiry(role: &str, expires: &str, now: i64) -> Result<()> {
    if parse_rfc3339(expires)? <= now {
        return Err(invalid(format!("{role} metadata expired at {expires}")));
    }
    Ok(())
}

/// Checks `bytes` against an expected length and every hash TUF lists that lading knows
/// (sha256, sha512); at least one must be known when hashes are given.
pub fn check_length_and_hashes(
    what: &str,
    bytes: &[u8],
    length: Option<u64>,
    hashes: &BTreeMap<String, String>,
) -> Result<()> {
    if let Some(length) = length
        && bytes.len() as u64 != length
    {
        return Err(invalid(format!(
            "{what} is {} bytes, the metadata says {length}",
            bytes.len()
        )));
    }
    let mut checked = 0;
    for (algorithm, expected) in hashes {
        let actual = match algorithm.as_str() {
            "sha256" => hex::encode(digest(&SHA256, bytes)),
            "sha512" => hex::encode(digest(&SHA512, bytes)),
            _ => continue,
        };
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(invalid(format!(
                "{what} does not match its {algorithm} hash"
            )));
        }
        checked += 1;
    }
    if !hashes.is_empty() && checked == 0 {
        return Err(invalid(format!("{what} has no sha256 or sha512 hash")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Public-good Sigstore's root v14 is signed by 4 of its 5 root keys (threshold 3).
    #[test]
    fn sigstore_root_verifies_with_its_own_keys() {
        let bytes = include_bytes!("sigstore-root.json");
        let unverified = Unverified::parse(bytes, "root").unwrap();
        let root: Root = Unverified::parse(bytes, "root")
            .unwrap()
            .into_signed("root")
            .unwrap();
        unverified.verify(&root, "root").unwrap();
        assert_eq!(root.version, 14);
    }

    #[test]
    fn a_changed_byte_breaks_the_threshold() {
        let text = std::str::from_utf8(include_bytes!("sigstore-root.json"))
            .unwrap()
            .replace(
                "\"consistent_snapshot\": true",
                "\"consistent_snapshot\": false",
            );
        let unverified = Unverified::parse(text.as_bytes(), "root").unwrap();
        let root: Root = Unverified::parse(text.as_bytes(), "root")
            .unwrap()
            .into_signed("root")
            .unwrap();
        let err = unverified.verify(&root, "root").unwrap_err().to_string();
        assert!(err.contains("0 valid signature(s) of the 3"), "{err}");
    }
}
