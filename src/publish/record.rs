//! Publish records: how far `lading publish` got with one manifest digest.
//!
//! Written after each stage (gates passed, each push, signing) to
//! `<store>/.lading/publish/<manifest-hex>.json`, so that a rerun after a crash or a
//! failed signing service finds the passing gate record and the pushed references and
//! finishes the job: no second push, no second manifest. `lading report` reads it for
//! where the image went and what signed it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use lading_oci::{Descriptor, Digest, Store};
use serde::{Deserialize, Serialize};

/// The record layout version.
pub const SCHEMA: u32 = 1;

/// What `lading publish` did with one manifest digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishRecord {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The manifest digest (`sha256:…`) published.
    pub manifest: String,
    /// The digest of the passing gate record blob the push relied on.
    pub gate_record: String,
    /// The sha256 of the policy file the gates ran with (`None`: the default policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Each `--image` pushed, in order.
    #[serde(default)]
    pub pushed: Vec<Pushed>,
    /// Signatures and attestations stored, per repository.
    #[serde(default)]
    pub signed: Vec<Signed>,
    /// When the record was last written (RFC 3339, UTC).
    pub updated: String,
}

/// One `--image` the manifest was pushed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pushed {
    /// The reference as given, normalised (`REGISTRY/REPO:TAG`).
    pub image: String,
    /// `REGISTRY/REPO@sha256:…`: what the registry answered after the push.
    pub reference: String,
}

/// The signature and attestations stored in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signed {
    /// `REGISTRY/REPO` (the repository of a [`Pushed::reference`]).
    pub repository: String,
    /// Who signed: a key's fingerprint, or a certificate's identity and issuer.
    pub signer: Signer,
    /// The Sigstore bundles made (the signature's first, then one per attestation), each
    /// kept in the store as a blob.
    pub bundles: Vec<StoredBundle>,
    /// Whether the legacy `.sig`/`.att` tags were written too.
    pub legacy: bool,
}

/// The signing identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signer {
    /// Key signing: `sha256:<hex>` of the public key's DER (SubjectPublicKeyInfo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Keyless: the certificate's identities (SAN: e-mail or URI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// Keyless: the OIDC issuer the certificate names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// One Sigstore bundle (v0.3 JSON) stored as a blob of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredBundle {
    /// What it signs: cosign's signature type (`https://sigstore.dev/cosign/sign/v1`) or
    /// an attestation's predicate type.
    pub predicate_type: String,
    /// The bundle blob (media type `application/vnd.dev.sigstore.bundle.v0.3+json`).
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// The referrer manifest it was pushed as (`REGISTRY/REPO@sha256:…`), when stored as
    /// a referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}

impl StoredBundle {
    /// A bundle blob and the referrer it went out as.
    pub fn new(predicate_type: &str, blob: &Descriptor, referrer: Option<String>) -> StoredBundle {
        StoredBundle {
            predicate_type: predicate_type.to_string(),
            digest: blob.digest.to_string(),
            size: blob.size,
            referrer,
        }
    }
}

/// Where the record of `manifest` lives.
pub fn record_path(store: &Store, manifest: &Digest) -> PathBuf {
    store
        .private_dir()
        .join("publish")
        .join(format!("{}.json", manifest.hex()))
}

/// Writes (replaces) the record of its manifest, atomically.
pub fn write(store: &Store, record: &PublishRecord) -> Result<()> {
    let manifest: Digest = record.manifest.parse()?;
    let path = record_path(store, &manifest);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes = serde_json::to_vec_pretty(record)?;
    lading_oci::store::write_atomic(&path, &bytes)
        .with_context(|| format!("writing the publish record {}", path.display()))
}

/// The record of `manifest`, if it was ever published from this store.
pub fn latest(store: &Store, manifest: &Digest) -> Result<Option<PublishRecord>> {
    let path = record_path(store, manifest);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let record: PublishRecord = serde_json::from_slice(&bytes)
        .with_context(|| format!("reading the publish record {}", path.display()))?;
    if record.schema != SCHEMA {
        bail!(
            "publish record {}: unknown schema {}",
            path.display(),
            record.schema
        );
    }
    if record.manifest != manifest.to_string() {
        bail!(
            "publish record {} is about {}, not {manifest}",
            path.display(),
            record.manifest
        );
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_must_name_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let m = Digest::of(b"manifest");
        assert_eq!(latest(&store, &m).unwrap(), None);
        let rec = PublishRecord {
            schema: SCHEMA,
            manifest: m.to_string(),
            gate_record: Digest::of(b"gates").to_string(),
            pushed: vec![Pushed {
                image: "reg.example/app:1".into(),
                reference: format!("reg.example/app@{m}"),
            }],
            updated: "2026-12-07T00:00:00Z".into(),
            ..Default::default()
        };
        write(&store, &rec).unwrap();
        assert_eq!(latest(&store, &m).unwrap(), Some(rec.clone()));
        // A record copied to another digest's name is refused.
        let other = Digest::of(b"other");
        std::fs::copy(record_path(&store, &m), record_path(&store, &other)).unwrap();
        assert!(latest(&store, &other).is_err());
    }
}
