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
//! to check; [`super::logged_bundle`] adds the certificate and transparency-log checks.

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
    if !matches!(
        bundle.verification_material.content,
        KeyMaterial::PublicKey(_)
    ) {
        return Err(invalid(
            "it carries a certificate, not a public key hint: keyless bundles are not verified with --key".into(),
        ));
    }
    open(bundle, key, image)
}

pub(crate) fn invalid(reason: String) -> Error {
    Error::Invalid {
        what: "sigstore bundle",
        reason,
    }
}

/// The statement of `bundle`'s envelope, once the envelope's one signature verifies with
/// `key`, its payload type is in-toto and the statement's subject is `image`.
pub(crate) fn open(bundle: &Bundle, key: &PublicKey, image: &Digest) -> Result<Statement> {
    if !bundle.is_v03() {
        return Err(invalid(format!(
            "media type {:?}: cosign stores v0.3 bundles",
            bundle.media_type
        )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{IN_TOTO_STATEMENT_V01, PREDICATE_SLSA_PROVENANCE_V1};
    use crate::sigstore::bundle::Content;

    /// cosign v3.1.3's key-based attestation bundle (`cosign attest-blob --key
    /// --type slsaprovenance1 --new-bundle-format --tlog-upload=false`; the same
    /// `NewAttestationBundle` as `cosign attest`), its key, and the blob's digest.
    const COSIGN_ATTESTATION: &str = include_str!("testdata/cosign-attest-blob-key.sigstore.json");
    const COSIGN_ATTEST_PUB: &str = include_str!("testdata/cosign-attest.pub");
    const COSIGN_BLOB: &str =
        "sha256:9b07635aaae8632a4883db75db117dbb2fc84df917de262809c2b37bd2cf2b2a";

    #[test]
    fn cosigns_attestation_bundle_verifies_with_its_key_and_digest_only() {
        let bundle = Bundle::parse(COSIGN_ATTESTATION.as_bytes()).unwrap();
        let key = PublicKey::from_pem(COSIGN_ATTEST_PUB).unwrap();
        let blob: Digest = COSIGN_BLOB.parse().unwrap();
        let statement = verify(&bundle, &key, &blob).unwrap();
        assert_eq!(statement.kind, IN_TOTO_STATEMENT_V01);
        assert_eq!(statement.predicate_type, PREDICATE_SLSA_PROVENANCE_V1);
        assert_eq!(
            statement.predicate_value().unwrap()["runDetails"]["builder"]["id"],
            "https://ci.example/builder"
        );
        // Its bundle JSON is what this model writes back.
        assert_eq!(
            String::from_utf8(bundle.to_json().unwrap()).unwrap(),
            COSIGN_ATTESTATION.trim_end()
        );
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        assert!(matches!(
            verify(&bundle, &stranger, &blob),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            verify(&bundle, &key, &Digest::of(b"other")),
            Err(Error::WrongDigest { .. })
        ));
    }

    #[test]
    fn signed_statement_verifies_and_forgeries_are_refused() {
        let pair = KeyPair::generate().unwrap();
        let key = pair.public_key().unwrap();
        let image = Digest::of(b"image");
        let statement = |d: &Digest, predicate: &str| {
            let raw = serde_json::value::RawValue::from_string(predicate.into()).unwrap();
            Statement::new("r.example/app", d, "https://example.com/p", raw)
                .to_bytes()
                .unwrap()
        };
        let bundle = sign(&pair, &statement(&image, r#"{"ok": true}"#)).unwrap();
        let bundle = Bundle::parse(&bundle.to_json().unwrap()).unwrap();
        let back = verify(&bundle, &key, &image).unwrap();
        assert_eq!(back.predicate.get(), r#"{"ok": true}"#);

        // A predicate changed after signing.
        let mut changed = bundle.clone();
        if let Content::DsseEnvelope(e) = &mut changed.content {
            e.payload = statement(&image, r#"{"ok": false}"#);
        }
        assert!(matches!(
            verify(&changed, &key, &image),
            Err(Error::BadSignature)
        ));
        // Another payload type, re-signed: the envelope must carry in-toto.
        let retyped = Bundle::dsse(
            VerificationMaterial::public_key(&key),
            Envelope::sign(&pair, "text/plain", &statement(&image, "{}")).unwrap(),
        );
        assert!(matches!(
            verify(&retyped, &key, &image),
            Err(Error::Invalid { .. })
        ));
        // Two signatures.
        let mut twice = bundle.clone();
        if let Content::DsseEnvelope(e) = &mut twice.content {
            e.signatures.push(e.signatures[0].clone());
        }
        assert!(matches!(
            verify(&twice, &key, &image),
            Err(Error::Invalid { .. })
        ));
        // Another image.
        assert!(matches!(
            verify(&bundle, &key, &Digest::of(b"other")),
            Err(Error::WrongDigest { .. })
        ));
    }
}
