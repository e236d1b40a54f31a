//! Bundles holding a DSSE envelope over an in-toto statement: what cosign v3 pushes for
//! an image signature and for an attestation alike (cosign `signcommon`
//! `NewAttestationBundle` and the sign path both call sigstore-go `SignData` with
//! `DSSEData` of payload type `application/vnd.in-toto+json`).
//!
//! Signing is a function of the statement bytes and a signer (key today, an ephemeral
//! key later) plus the verification material (a key hint today; a certificate and Rekor
//! entries for keyless). Verification follows what cosign asks of such a bundle
//! (sigstore-go `pkg/verify`, cosign `IntotoSubjectClaimVerifier`): a v0.3 bundle, a DSSE
//! envelope with exactly one signature, valid over the PAE with the key, an in-toto
//! statement with a subject naming the image digest. The predicate type is the caller's
//! to check; transparency-log entries are not checked here.

use lading_oci::Digest;

use super::bundle::{Bundle, KeyMaterial, VerificationMaterial};
use crate::constants::PAYLOAD_TYPE_IN_TOTO;
use crate::dsse::Envelope;
use crate::error::{Error, Result};
use crate::intoto::Statement;
use crate::keys::{KeyPair, PublicKey};

/// Signs `statement` (in-toto JSON) with `sign` (handed the DSSE PAE, returning a DER
/// signature) into a v0.3 bundle with `material`.
pub fn sign_with(
    statement: &[u8],
    material: VerificationMaterial,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<Bundle> {
    let envelope = Envelope::sign_with(PAYLOAD_TYPE_IN_TOTO, statement, sign)?;
    Ok(Bundle::dsse(material, envelope))
}

/// Signs `statement` with `key`, without a transparency log: the bundle names the key by
/// cosign's hint.
pub fn sign(key: &KeyPair, statement: &[u8]) -> Result<Bundle> {
    let material = VerificationMaterial::public_key(&key.public_key()?);
    sign_with(statement, material, |pae| key.sign(pae))
}

/// Verifies `bundle` as a statement about `image` signed by `key` (see the module docs)
/// and returns the statement.
pub fn verify(bundle: &Bundle, key: &PublicKey, image: &Digest) -> Result<Statement> {
    let invalid = |reason: String| Error::Invalid {
        what: "sigstore bundle",
        reason,
    };
    if !bundle.is_v03() {
        return Err(invalid(format!(
            "media type {:?}: cosign stores v0.3 bundles",
            bundle.media_type
        )));
    }
    if !matches!(
        bundle.verification_material.content,
        KeyMaterial::PublicKey(_)
    ) {
        return Err(invalid(
            "it carries a certificate, not a public key hint: keyless bundles are not verified with --key".into(),
        ));
    }
    let envelope = bundle
        .dsse_envelope()
        .ok_or_else(|| invalid("it holds a message signature, not a DSSE envelope".into()))?;
    let payload = envelope.verify_single(key)?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(invalid(format!(
            "payload type {:?}, not {PAYLOAD_TYPE_IN_TOTO}",
            envelope.payload_type
        )));
    }
    let statement = Statement::parse(payload)?;
    statement.check_subject(image)?;
    Ok(statement)
}
