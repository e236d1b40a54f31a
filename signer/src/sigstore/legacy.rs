//! Sigstore material on cosign's legacy `.sig` layers: a keyless signature's certificate
//! and chain (`dev.sigstore.cosign/certificate`, `…/chain`, PEM), the Rekor entry
//! (`dev.sigstore.cosign/bundle`) and an RFC 3161 timestamp over the raw signature
//! (`dev.sigstore.cosign/rfc3161timestamp`), written and verified as cosign v3 does.

use super::sha256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lading_oci::{Descriptor, Digest};

use super::certificate::{self, IdentityPolicy, ParsedCertificate, VerifiedIdentity};
use super::fulcio::{Certificates, certificates_from_pem};
use super::rekor::LogEntry;
use super::trust_root::TrustedRoot;
use crate::constants::{
    ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_RFC3161_TIMESTAMP,
    ANNOTATION_SIGNATURE,
};
use crate::cosign::{self, Signed};
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::simple_signing::Payload;

/// Adds the certificate and chain annotations of a keyless signature.
pub fn annotate_certificates(signed: &mut Signed, certs: &Certificates) {
    let a = &mut signed.layer.annotations;
    a.insert(ANNOTATION_CERTIFICATE.to_string(), certs.leaf_pem());
    a.insert(ANNOTATION_CHAIN.to_string(), certs.chain_pem());
}

/// Adds the Rekor bundle annotation.
pub fn annotate_log_entry(signed: &mut Signed, entry: &LogEntry) -> Result<()> {
    signed
        .layer
        .annotations
        .insert(ANNOTATION_BUNDLE.to_string(), entry.to_cosign_bundle()?);
    Ok(())
}

/// Adds cosign's RFC 3161 timestamp annotation (`signed_timestamp`: the DER
/// `TimeStampResp` over the raw signature).
pub fn annotate_timestamp(signed: &mut Signed, signed_timestamp: &[u8]) -> Result<()> {
    let value = serde_json::json!({ "SignedRFC3161Timestamp": STANDARD.encode(signed_timestamp) });
    signed
        .layer
        .annotations
        .insert(ANNOTATION_RFC3161_TIMESTAMP.to_string(), value.to_string());
    Ok(())
}

/// The timestamp of cosign's RFC 3161 annotation, if the layer has one.
fn timestamp_annotation(layer: &Descriptor) -> Result<Option<Vec<u8>>> {
    let Some(text) = layer.annotations.get(ANNOTATION_RFC3161_TIMESTAMP) else {
        return Ok(None);
    };
    #[derive(serde::Deserialize)]
    struct Annotation {
        #[serde(rename = "SignedRFC3161Timestamp")]
        signed: String,
    }
    let bad = |reason: String| Error::Invalid {
        what: "RFC 3161 timestamp annotation",
        reason,
    };
    let a: Annotation = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    STANDARD
        .decode(a.signed.trim())
        .map(Some)
        .map_err(|_| bad("not base64".into()))
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// A key.
    Key(PublicKey),
    /// A Fulcio certificate for this identity.
    Keyless(IdentityPolicy),
}

/// What verification established about one signature.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed payload.
    pub payload: Payload,
    /// For a keyless signature: the certificate's identity and issuer.
    pub identity: Option<VerifiedIdentity>,
    /// The Rekor entry, unless the log was ignored.
    pub log_entry: Option<LogEntry>,
}

/// Which checks verification makes beyond the signature (both on by default, as cosign).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// The Rekor entry (cosign's `--insecure-ignore-tlog` turns it off).
    pub tlog: bool,
    /// The certificate's embedded SCT (`--insecure-ignore-sct`).
    pub sct: bool,
}

fn missing(what: &str) -> Error {
    Error::Invalid {
        what: "signature layer",
        reason: format!("no {what} annotation"),
    }
}

/// Verifies one signature layer of `image`: the Rekor entry in its bundle annotation
/// against the trusted root (with `checks.tlog`), the certificate for a keyless
/// signature (chain, validity at the entry's time, SCT with `checks.sct`, identity),
/// then the signature and payload as [`cosign::verify_layer`].
pub fn verify_layer(
    layer: &Descriptor,
    payload: &[u8],
    image: &Digest,
    verifier: &Verifier,
    trust: Option<&TrustedRoot>,
    checks: Checks,
) -> Result<Verified> {
    let need_trust = || {
        trust.ok_or_else(|| Error::Untrusted {
            reason: "no trusted root to check it against".into(),
        })
    };
    let signature = layer
        .annotations
        .get(ANNOTATION_SIGNATURE)
        .and_then(|s| STANDARD.decode(s.trim()).ok())
        .ok_or_else(|| missing("base64 signature"))?;
    let cert = match verifier {
        Verifier::Key(_) => None,
        Verifier::Keyless(_) => {
            let pem_text = layer
                .annotations
                .get(ANNOTATION_CERTIFICATE)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| missing(ANNOTATION_CERTIFICATE))?;
            let der = certificates_from_pem(pem_text)?
                .into_iter()
                .next()
                .ok_or_else(|| missing(ANNOTATION_CERTIFICATE))?;
            Some(ParsedCertificate::from_der(&der)?)
        }
    };
    // A timestamp, when there is one, must verify; its time is a signing time.
    let mut times = Vec::new();
    if let (Some(ts), Some(trust)) = (timestamp_annotation(layer)?, trust) {
        times.push(super::tsa::verify(&ts, &signature, trust)?);
    }
    let log_entry = if !checks.tlog {
        None
    } else {
        let text = layer
            .annotations
            .get(ANNOTATION_BUNDLE)
            .ok_or_else(|| missing(&format!("{ANNOTATION_BUNDLE} (transparency log)")))?;
        let entry = LogEntry::from_cosign_bundle(text)?;
        entry.verify(need_trust()?)?;
        let verifier_der = match (verifier, &cert) {
            (_, Some(c)) => c.der().to_vec(),
            (Verifier::Key(k), None) => k.der().to_vec(),
            (Verifier::Keyless(_), None) => unreachable!("keyless verification has a certificate"),
        };
        let hash = sha256(payload);
        entry.check_body(&signature, &hash, &verifier_der)?;
        Some(entry)
    };
    let (key, identity) = match (verifier, &cert) {
        (Verifier::Keyless(policy), Some(c)) => {
            // Valid at every verified signing time: the entry's integrated time, the
            // timestamp's.
            times.extend(log_entry.as_ref().map(|e| e.integrated_time));
            let identity =
                certificate::verify_at_times(c, need_trust()?, times, policy, checks.sct)?;
            (c.public_key()?, Some(identity))
        }
        (Verifier::Key(k), _) => (k.clone(), None),
        (Verifier::Keyless(_), None) => unreachable!("keyless verification has a certificate"),
    };
    let payload = cosign::verify_layer(layer, payload, &key, image)?;
    Ok(Verified {
        payload,
        identity,
        log_entry,
    })
}
