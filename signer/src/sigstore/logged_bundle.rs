//! Verifying a DSSE bundle beyond its signature, as cosign v3 (sigstore-go `pkg/verify`)
//! does: its Rekor v1 entry (SET and inclusion proof against the trusted root, and a
//! `dsse` body logging this envelope with this key or certificate), and for keyless
//! bundles the Fulcio certificate (chain to the trusted root, valid at the entry's
//! integrated time, SCT, identity and issuer).

use lading_oci::Digest;

use super::bundle::{Bundle, KeyMaterial};
use super::certificate::{self, ParsedCertificate, VerifiedIdentity};
use super::dsse_bundle::{invalid, open};
use super::dsse_entry;
use super::legacy::{Checks, Verifier};
use super::rekor::LogEntry;
use super::trust_root::TrustedRoot;
use crate::error::{Error, Result};
use crate::intoto::Statement;

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
    let need_trust = || {
        trust.ok_or_else(|| Error::Untrusted {
            reason: "no trusted root to check it against".into(),
        })
    };
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
    let log_entry = if !checks.tlog {
        None
    } else {
        let first = material
            .tlog_entries
            .first()
            .ok_or_else(|| invalid("no transparency log entry".into()))?;
        let entry = dsse_entry::from_bundle_entry(first)?;
        entry.verify(need_trust()?)?;
        let verifier_der = match (verifier, &cert) {
            (_, Some(c)) => c.der().to_vec(),
            (Verifier::Key(k), None) => k.der().to_vec(),
            (Verifier::Keyless(_), None) => unreachable!("keyless verification has a certificate"),
        };
        dsse_entry::check_body(&entry, envelope, &verifier_der)?;
        Some(entry)
    };
    let (key, identity) = match (verifier, &cert) {
        (Verifier::Keyless(policy), Some(c)) => {
            // Without a log entry there is no trusted signing time: the certificate must
            // be valid now (as cosign).
            let at = log_entry
                .as_ref()
                .map_or_else(super::time::now, |e| e.integrated_time);
            let identity = certificate::verify(c, need_trust()?, at, policy, checks.sct)?;
            (c.public_key()?, Some(identity))
        }
        (Verifier::Key(k), _) => (k.clone(), None),
        (Verifier::Keyless(_), None) => unreachable!("keyless verification has a certificate"),
    };
    let statement = open(bundle, &key, image)?;
    Ok(Verified {
        statement,
        identity,
        log_entry,
    })
}
