//! cosign v3's image signature (cosign `cmd/cosign/cli/sign` `signDigestBundle`): an
//! in-toto statement v1 whose one subject is the image's manifest digest, with predicate
//! type [`PREDICATE_COSIGN_SIGN`] and an empty predicate, in a DSSE envelope in a Sigstore
//! bundle v0.3 ([`super::dsse_bundle`] signs and verifies it).
//!
//! The statement is byte for byte cosign's: no subject name, an empty `annotations` map,
//! `{}` as predicate.

use std::collections::BTreeMap;

use lading_oci::Digest;
use serde_json::value::RawValue;

use super::bundle::Bundle;
use super::dsse_bundle;
use crate::constants::{IN_TOTO_STATEMENT_V1, PREDICATE_COSIGN_SIGN};
use crate::error::{Error, Result};
use crate::intoto::{Statement, Subject};
use crate::keys::KeyPair;

/// The statement cosign v3 signs for the image `digest`, in cosign's bytes.
pub fn statement(digest: &Digest) -> Result<Vec<u8>> {
    let predicate = RawValue::from_string("{}".to_string()).map_err(|e| Error::Invalid {
        what: "in-toto statement",
        reason: e.to_string(),
    })?;
    let subject = Subject {
        annotations: Some(BTreeMap::new()),
        ..Subject::of("", digest)
    };
    Statement {
        kind: IN_TOTO_STATEMENT_V1.to_string(),
        subject: vec![subject],
        predicate_type: PREDICATE_COSIGN_SIGN.to_string(),
        predicate,
    }
    .to_bytes()
}

/// The bundle of a key-based signature of `digest` without a transparency log: the
/// envelope and the key's hint. Keyless signing passes [`statement`] to
/// [`dsse_bundle::sign_with`] with its certificate and Rekor entries instead.
pub fn sign_bundle(key: &KeyPair, digest: &Digest) -> Result<Bundle> {
    dsse_bundle::sign(key, &statement(digest)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicKey;
    use crate::sigstore::bundle::Content;
    use crate::sigstore::dsse_bundle::verify;

    /// cosign v3.1.3's key-based signature of this image, and its public key.
    const COSIGN_KEYED: &str = include_str!("testdata/cosign-sign-key.sigstore.json");
    const COSIGN_PUB: &str = include_str!("testdata/cosign.pub");
    const COSIGN_IMAGE: &str =
        "sha256:600cb571864aedc5d90b1ba372b2c2563b14d5c2c3bdfe2372cf3a5c1df08696";

    #[test]
    fn statement_is_cosigns_bytes() {
        let bundle = Bundle::parse(COSIGN_KEYED.as_bytes()).unwrap();
        let image: Digest = COSIGN_IMAGE.parse().unwrap();
        assert_eq!(
            statement(&image).unwrap(),
            bundle.dsse_envelope().unwrap().payload
        );
    }

    #[test]
    fn cosigns_bundle_verifies_with_its_key_only() {
        let bundle = Bundle::parse(COSIGN_KEYED.as_bytes()).unwrap();
        let key = PublicKey::from_pem(COSIGN_PUB).unwrap();
        let image: Digest = COSIGN_IMAGE.parse().unwrap();
        let s = verify(&bundle, &key, &image).unwrap();
        assert_eq!(s.predicate_type, PREDICATE_COSIGN_SIGN);
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        assert!(matches!(
            verify(&bundle, &stranger, &image),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            verify(&bundle, &key, &Digest::of(b"other")),
            Err(Error::WrongDigest { .. })
        ));
    }

    #[test]
    fn signed_bundle_verifies_and_refusals_are_specific() {
        let pair = KeyPair::generate().unwrap();
        let key = pair.public_key().unwrap();
        let image = Digest::of(b"image");
        let bundle = sign_bundle(&pair, &image).unwrap();
        // Through its JSON, as a registry would hand it back.
        let bundle = Bundle::parse(&bundle.to_json().unwrap()).unwrap();
        verify(&bundle, &key, &image).unwrap();

        // Another image's statement, signed validly: the subject decides.
        let other = sign_bundle(&pair, &Digest::of(b"other")).unwrap();
        assert!(matches!(
            verify(&other, &key, &image),
            Err(Error::WrongDigest { .. })
        ));
        // A payload changed after signing.
        let mut tampered = bundle.clone();
        if let Content::DsseEnvelope(e) = &mut tampered.content {
            e.payload = statement(&Digest::of(b"evil")).unwrap();
        }
        assert!(matches!(
            verify(&tampered, &key, &Digest::of(b"evil")),
            Err(Error::BadSignature)
        ));
        // A second signature: refused as sigstore-go refuses it.
        let mut twice = bundle.clone();
        if let Content::DsseEnvelope(e) = &mut twice.content {
            e.signatures.push(e.signatures[0].clone());
        }
        assert!(matches!(
            verify(&twice, &key, &image),
            Err(Error::Invalid { .. })
        ));
        // An older bundle version.
        let mut old = bundle.clone();
        old.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.2".into();
        assert!(matches!(
            verify(&old, &key, &image),
            Err(Error::Invalid { .. })
        ));
    }
}
