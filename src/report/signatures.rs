//! Where the image went and what signed it: the publish record (`crate::publish::record`)
//! and the Sigstore bundles it keeps in the store; without a publish record, the bundle
//! referrers the store holds for the image (`lading sign` on a store image puts them
//! there).
//!
//! Each bundle is read for who signed it (the key hint cosign writes, or the Fulcio
//! certificate's identities and OIDC issuer), its transparency-log entries and whether
//! its in-toto statement names this digest. This is what the bundles *say*: the page
//! says so, and `lading verify` is what checks the signatures.

use anyhow::{Context, Result};
use base64::Engine as _;
use lading_oci::repository::entry_repository;
use lading_oci::{Descriptor, Digest, Store};
use lading_signer::constants::{
    ANNOTATION_BUNDLE_PREDICATE_TYPE, MEDIA_TYPE_BUNDLE_PREFIX, PREDICATE_COSIGN_SIGN,
};
use lading_signer::intoto::Statement;
use lading_signer::sigstore::bundle::{Bundle, Content, KeyMaterial};
use lading_signer::sigstore::certificate::ParsedCertificate;
use serde_json::Value;

use super::Part;
use crate::publish::record::{self, PublishRecord, Pushed, Signer, StoredBundle};

/// Pushes and signatures.
#[derive(Debug, Clone, Default)]
pub struct Signatures {
    /// The publish record, when the image was published from this store.
    pub published: Option<Published>,
    /// Signatures and attestations, per repository.
    pub repositories: Vec<Repository>,
}

/// What the publish record says beyond the signatures.
#[derive(Debug, Clone)]
pub struct Published {
    /// Each `--image` pushed.
    pub pushed: Vec<Pushed>,
    /// The gate record the push relied on.
    pub gate_record: String,
    /// The policy's sha256.
    pub policy: Option<String>,
    /// When the record was last written.
    pub updated: String,
}

/// The bundles of one repository.
#[derive(Debug, Clone)]
pub struct Repository {
    /// `REGISTRY/REPO`, or the store's repository.
    pub name: String,
    /// Whether this is the local store's repository (not a registry's).
    pub in_store: bool,
    /// The signer the publish record names.
    pub signer: Option<Signer>,
    /// Whether the legacy `.sig`/`.att` tags were written too.
    pub legacy: bool,
    /// The bundles: the signature's, then the attestations'.
    pub bundles: Vec<BundleFacts>,
}

/// One stored bundle.
#[derive(Debug, Clone)]
pub struct BundleFacts {
    /// The predicate type (cosign's signature type for the signature).
    pub predicate_type: String,
    /// The bundle blob.
    pub digest: String,
    /// Where it was stored as a referrer.
    pub referrer: Option<String>,
    /// What the bundle says, or why it could not be read.
    pub read: Result<BundleInfo, String>,
}

impl BundleFacts {
    /// Whether this is the image signature (not an attestation).
    pub fn is_signature(&self) -> bool {
        self.predicate_type == PREDICATE_COSIGN_SIGN
    }
}

/// What a bundle says.
#[derive(Debug, Clone, Default)]
pub struct BundleInfo {
    /// Key signing: `sha256:<hex>` of the public key's DER (from cosign's hint).
    pub key: Option<String>,
    /// Keyless: the certificate's identities.
    pub identities: Vec<String>,
    /// Keyless: the OIDC issuer.
    pub issuer: Option<String>,
    /// Transparency-log entries.
    pub tlog: Vec<TlogEntry>,
    /// RFC 3161 timestamps.
    pub timestamps: usize,
    /// The in-toto statement's predicate type (DSSE bundles).
    pub statement_type: Option<String>,
    /// Whether the statement's subject is this image's digest.
    pub subject_matches: Option<bool>,
}

impl BundleInfo {
    /// The signer it states, in the publish record's terms.
    pub fn signer(&self) -> Signer {
        Signer {
            key: self.key.clone(),
            identities: self.identities.clone(),
            issuer: self.issuer.clone(),
        }
    }
}

/// One transparency-log entry.
#[derive(Debug, Clone)]
pub struct TlogEntry {
    /// Its index in the log.
    pub index: i64,
    /// When the log integrated it (RFC 3339; none for Rekor v2).
    pub integrated: Option<String>,
    /// `dsse 0.0.1`, `hashedrekord 0.0.1`.
    pub kind: Option<String>,
}

/// The publish record of `manifest` with its bundles, else the store's referrers.
pub fn gather(store: &Store, manifest: &Digest) -> Part<Signatures> {
    let found = || -> Result<Signatures> {
        match record::latest(store, manifest)? {
            Some(rec) => Ok(published(store, manifest, rec)),
            None => in_store(store, manifest),
        }
    };
    found().map_or_else(|e| Part::broken(&e), Part::Found)
}

fn published(store: &Store, manifest: &Digest, rec: PublishRecord) -> Signatures {
    let repositories = rec
        .signed
        .into_iter()
        .map(|s| Repository {
            name: s.repository,
            in_store: false,
            bundles: s
                .bundles
                .iter()
                .map(|b| stored(store, manifest, b))
                .collect(),
            signer: Some(s.signer),
            legacy: s.legacy,
        })
        .collect();
    Signatures {
        published: Some(Published {
            pushed: rec.pushed,
            gate_record: rec.gate_record,
            policy: rec.policy,
            updated: rec.updated,
        }),
        repositories,
    }
}

fn stored(store: &Store, manifest: &Digest, b: &StoredBundle) -> BundleFacts {
    let read = (|| -> Result<BundleInfo> {
        let digest: Digest = b.digest.parse()?;
        let bytes = super::read_blob(store, &digest)?;
        bundle_info(&bytes, manifest)
    })();
    BundleFacts {
        predicate_type: b.predicate_type.clone(),
        digest: b.digest.clone(),
        referrer: b.referrer.clone(),
        read: read.map_err(|e| format!("{e:#}")),
    }
}

/// The Sigstore bundle referrers of `manifest` in the store's repositories, and whether
/// the legacy tags exist there.
fn in_store(store: &Store, manifest: &Digest) -> Result<Signatures> {
    let index = store.index()?;
    let legacy_tags = [".sig", ".att"].map(|s| format!("sha256-{}{s}", manifest.hex()));
    let mut repositories: Vec<Repository> = Vec::new();
    for entry in &index.manifests {
        let Some((repo, tag)) = entry_repository(entry) else {
            continue;
        };
        let is_legacy = tag.is_some_and(|t| legacy_tags.iter().any(|l| l == t));
        let bundle = if is_legacy {
            None
        } else {
            referrer_bundle(store, manifest, &entry.digest)
                .with_context(|| format!("reading the store manifest {}", entry.digest))?
        };
        if !is_legacy && bundle.is_none() {
            continue;
        }
        let at = match repositories.iter().position(|r| r.name == repo) {
            Some(i) => i,
            None => {
                repositories.push(Repository {
                    name: repo.to_string(),
                    in_store: true,
                    signer: None,
                    legacy: false,
                    bundles: Vec::new(),
                });
                repositories.len() - 1
            }
        };
        let r = &mut repositories[at];
        r.legacy |= is_legacy;
        if let Some(mut b) = bundle {
            b.referrer = Some(format!("{repo}@{}", entry.digest));
            r.bundles.push(b);
        }
    }
    for r in &mut repositories {
        // The signature first, then the attestations by type (as the publish record
        // orders them).
        r.bundles.sort_by(|a, b| {
            (!a.is_signature(), &a.predicate_type).cmp(&(!b.is_signature(), &b.predicate_type))
        });
    }
    Ok(Signatures {
        published: None,
        repositories,
    })
}

/// The bundle of the store manifest `referrer` when it is a Sigstore bundle referrer of
/// `manifest`.
fn referrer_bundle(
    store: &Store,
    manifest: &Digest,
    referrer: &Digest,
) -> Result<Option<BundleFacts>> {
    let m: Value = serde_json::from_slice(&store.read_blob(referrer)?)?;
    let subject = m["subject"]["digest"].as_str();
    let artifact = m["artifactType"].as_str().unwrap_or("");
    if subject != Some(manifest.to_string().as_str())
        || !artifact.starts_with(MEDIA_TYPE_BUNDLE_PREFIX)
    {
        return Ok(None);
    }
    let Ok(layer) = serde_json::from_value::<Descriptor>(m["layers"][0].clone()) else {
        return Ok(None);
    };
    let predicate_type = m["annotations"][ANNOTATION_BUNDLE_PREDICATE_TYPE]
        .as_str()
        .unwrap_or("");
    let b = StoredBundle::new(predicate_type, &layer, None);
    Ok(Some(stored(store, manifest, &b)))
}

/// What a Sigstore bundle says about its signer, its log entries and its subject.
fn bundle_info(bytes: &[u8], manifest: &Digest) -> Result<BundleInfo> {
    let bundle = Bundle::parse(bytes)?;
    let mut info = BundleInfo::default();
    let vm = &bundle.verification_material;
    let cert = match &vm.content {
        KeyMaterial::PublicKey(k) => {
            info.key = Some(key_fingerprint(&k.hint));
            None
        }
        KeyMaterial::Certificate(c) => Some(&c.raw_bytes),
        KeyMaterial::X509CertificateChain(chain) => {
            chain.certificates.first().map(|c| &c.raw_bytes)
        }
    };
    if let Some(der) = cert {
        let cert = ParsedCertificate::from_der(der)?;
        info.identities = cert.identities()?;
        info.issuer = cert.oidc_issuer()?;
    }
    info.tlog = vm
        .tlog_entries
        .iter()
        .map(|e| TlogEntry {
            index: e.log_index,
            integrated: (e.integrated_time != 0)
                .then(|| lading_gates::vuln::db::rfc3339(e.integrated_time)),
            kind: e
                .kind_version
                .as_ref()
                .map(|k| format!("{} {}", k.kind, k.version)),
        })
        .collect();
    info.timestamps = vm
        .timestamp_verification_data
        .as_ref()
        .map_or(0, |t| t.rfc3161_timestamps.len());
    if let Content::DsseEnvelope(env) = &bundle.content {
        let statement = Statement::parse(&env.payload)?;
        info.subject_matches = Some(statement.check_subject(manifest).is_ok());
        info.statement_type = Some(statement.predicate_type);
    }
    Ok(info)
}

/// cosign's key hint (base64 of the SHA-256 of the key's DER) as `sha256:<hex>`, the
/// fingerprint the publish record uses; any other hint as it is.
fn key_fingerprint(hint: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(hint) {
        Ok(d) if d.len() == 32 => {
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
        _ => hint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hints_become_sha256_fingerprints() {
        let d = Digest::of(b"a public key");
        let hint = base64::engine::general_purpose::STANDARD.encode(
            (0..32)
                .map(|i| u8::from_str_radix(&d.hex()[2 * i..2 * i + 2], 16).unwrap())
                .collect::<Vec<u8>>(),
        );
        assert_eq!(key_fingerprint(&hint), d.to_string());
        assert_eq!(key_fingerprint("not base64!"), "not base64!");
    }
}
