//! Verifying a DSSE bundle beyond its signature, as cosign v3 (sigstore-go `pkg/verify`)
//! does: its Rekor v1 entry (SET and inclusion proof against the trusted root, and a
//! `dsse` body logging this envelope with this key or certificate), and for keyless
//! bundles the Fulcio certificate (chain to the trusted root, valid at the entry's
//! integrated time, SCT, identity and issuer). Legacy `.att` layers carry the same
//! entry and certificate in cosign's annotations and are checked alike.
//!
//! A bundle's RFC 3161 timestamps ([`super::tsa`]) must each verify against the trusted
//! root's timestamp authorities; their times are signing times too. A Rekor v2 entry
//! ([`super::rekor_v2`]: a `hashedrekord` 0.0.2 of the envelope's PAE, its inclusion
//! proof and signed checkpoint) has no integrated time, so a bundle with one needs a
//! verified timestamp.

use lading_oci::{Descriptor, Digest};

use super::bundle::{Bundle, KeyMaterial};
use super::certificate::{self, ParsedCertificate, VerifiedIdentity};
use super::dsse_bundle::{invalid, open};
use super::dsse_entry;
use super::fulcio::certificates_from_pem;
use super::legacy::{Checks, Verifier};
use super::rekor::LogEntry;
use super::trust_root::TrustedRoot;
use super::{rekor_v2, tsa};
use crate::attestation;
use crate::constants::{ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE};
use crate::dsse::Envelope;
use crate::error::{Error, Result};
use crate::intoto::Statement;
use crate::keys::PublicKey;

/// What verification established about one bundle.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed statement.
    pub statement: Statement,
    /// For a keyless bundle: the certificate's identity and issuer.
    pub identity: Option<VerifiedIdentity>,
    /// The Rekor entry, unless the log was ignored.
    pub log_entry: Option<LogEntry>,
}

/// Verifies `bundle` as a statement about `image` by `verifier`, with the checks asked.
pub fn verify(
    bundle: &Bundle,
    verifier: &Verifier,
    trust: Option<&TrustedRoot>,
    checks: Checks,
    image: &Digest,
) -> Result<Verified> {
    let material = &bundle.verification_material;
    let cert = match (verifier, &material.content) {
        (Verifier::Key(_), KeyMaterial::PublicKey(_)) => None,
        (Verifier::Key(_), _) => {
            return Err(invalid(
                "it carries a certificate, not a public key hint: keyless bundles are not verified with --key".into(),
            ));
        }
        (Verifier::Keyless(_), KeyMaterial::Certificate(c)) => {
            Some(ParsedCertificate::from_der(&c.raw_bytes)?)
        }
        (Verifier::Keyless(_), KeyMaterial::X509CertificateChain(chain)) => {
            let leaf = chain
                .certificates
                .first()
                .ok_or_else(|| invalid("an empty certificate chain".into()))?;
            Some(ParsedCertificate::from_der(&leaf.raw_bytes)?)
        }
        (Verifier::Keyless(_), KeyMaterial::PublicKey(_)) => {
            return Err(invalid(
                "it names a key, not a certificate: verify it with --key".into(),
            ));
        }
    };
    let envelope = bundle
        .dsse_envelope()
        .ok_or_else(|| invalid("it holds a message signature, not a DSSE envelope".into()))?;
    let signature = match &envelope.signatures[..] {
        [one] => &one.sig,
        _ => return Err(invalid("it does not hold exactly one signature".into())),
    };
    // RFC 3161 timestamps: each must verify; their times are signing times.
    let mut times = Vec::new();
    if let (Some(data), Some(trust)) = (&material.timestamp_verification_data, trust) {
        for ts in &data.rfc3161_timestamps {
            times.push(tsa::verify(&ts.signed_timestamp, signature, trust)?);
        }
    }
    let mut log_entry = None;
    if checks.tlog {
        let first = material
            .tlog_entries
            .first()
            .ok_or_else(|| invalid("no transparency log entry".into()))?;
        if rekor_v2::is_v2(first) {
            // Rekor v2: the inclusion proof and checkpoint, a hashedrekord of the
            // envelope's PAE; the signing time comes from the timestamps alone.
            let trust = trust.ok_or_else(|| Error::Untrusted {
                reason: "no trusted root to check it against".into(),
            })?;
            rekor_v2::verify(first, trust)?;
            let verifier_der = match (verifier, &cert) {
                (_, Some(c)) => c.der().to_vec(),
                (Verifier::Key(k), None) => k.der().to_vec(),
                (Verifier::Keyless(_), None) => {
                    unreachable!("keyless verification has a certificate")
                }
            };
            let pae = crate::dsse::pae(&envelope.payload_type, &envelope.payload);
            rekor_v2::check_body(first, signature, &super::sha256(&pae), &verifier_der)?;
            if times.is_empty() {
                return Err(Error::Untrusted {
                    reason: "a Rekor v2 entry records no signing time and the bundle has no verified RFC 3161 timestamp".into(),
                });
            }
        } else {
            log_entry = Some(dsse_entry::from_bundle_entry(first)?);
        }
    }
    let (key, identity) = check_signer(
        envelope,
        verifier,
        cert.as_ref(),
        log_entry.as_ref(),
        &times,
        trust,
        checks,
    )?;
    let statement = open(bundle, &key, image)?;
    Ok(Verified {
        statement,
        identity,
        log_entry,
    })
}

/// Verifies a legacy `.att` layer (`envelope` is its blob) as cosign does: with the
/// Rekor entry of its `dev.sigstore.cosign/bundle` annotation (a `dsse` entry of this
/// envelope) and, keyless, its `dev.sigstore.cosign/certificate`; then the envelope and
/// statement as [`attestation::verify_layer`].
pub fn verify_att_layer(
    layer: &Descriptor,
    envelope: &[u8],
    verifier: &Verifier,
    trust: Option<&TrustedRoot>,
    checks: Checks,
    image: &Digest,
) -> Result<Verified> {
    let missing = |what: &str| Error::Invalid {
        what: "attestation layer",
        reason: format!("no {what} annotation"),
    };
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
    let log_entry = if !checks.tlog {
        None
    } else {
        let text = layer
            .annotations
            .get(ANNOTATION_BUNDLE)
            .ok_or_else(|| missing(&format!("{ANNOTATION_BUNDLE} (transparency log)")))?;
        Some(LogEntry::from_cosign_bundle(text)?)
    };
    let parsed = Envelope::parse(envelope)?;
    let (key, identity) = check_signer(
        &parsed,
        verifier,
        cert.as_ref(),
        log_entry.as_ref(),
        &[],
        trust,
        checks,
    )?;
    let statement = attestation::verify_layer(layer, envelope, &key, image)?;
    Ok(Verified {
        statement,
        identity,
        log_entry,
    })
}

/// The Rekor v1 log entry (SET, inclusion proof, a `dsse` body of `envelope` by this key
/// or certificate) and, keyless, the certificate at each verified signing time (the
/// entry's integrated time, `timestamps`); returns the key the envelope must verify
/// with and the certificate's identity.
fn check_signer(
    envelope: &Envelope,
    verifier: &Verifier,
    cert: Option<&ParsedCertificate>,
    log_entry: Option<&LogEntry>,
    timestamps: &[i64],
    trust: Option<&TrustedRoot>,
    checks: Checks,
) -> Result<(PublicKey, Option<VerifiedIdentity>)> {
    let need_trust = || {
        trust.ok_or_else(|| Error::Untrusted {
            reason: "no trusted root to check it against".into(),
        })
    };
    if let Some(entry) = log_entry {
        entry.verify(need_trust()?)?;
        let verifier_der = match (verifier, cert) {
            (_, Some(c)) => c.der().to_vec(),
            (Verifier::Key(k), None) => k.der().to_vec(),
            (Verifier::Keyless(_), None) => unreachable!("keyless verification has a certificate"),
        };
        dsse_entry::check_body(entry, envelope, &verifier_der)?;
    }
    Ok(match (verifier, cert) {
        (Verifier::Keyless(policy), Some(c)) => {
            // Valid at every verified signing time: the timestamps', the entry's
            // integrated time.
            let mut times = timestamps.to_vec();
            times.extend(log_entry.map(|e| e.integrated_time));
            let identity =
                certificate::verify_at_times(c, need_trust()?, times, policy, checks.sct)?;
            (c.public_key()?, Some(identity))
        }
        (Verifier::Key(k), _) => (k.clone(), None),
        (Verifier::Keyless(_), None) => unreachable!("keyless verification has a certificate"),
    })
}
