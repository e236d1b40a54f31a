//! cosign v3's image signature (cosign `cmd/cosign/cli/sign` `signDigestBundle`): an
//! in-toto statement v1 whose one subject is the image's manifest digest, with predicate
//! type [`PREDICATE_COSIGN_SIGN`] and an empty predicate, in a DSSE envelope
//! (payload type `application/vnd.in-toto+json`) in a Sigstore bundle v0.3.
//!
//! Verification follows what `cosign verify` asks of such a bundle (sigstore-go
//! `pkg/verify`, cosign `IntotoSubjectClaimVerifier`): a v0.3 bundle, a DSSE envelope
//! with exactly one signature, valid over the DSSE pre-authentication encoding with the
//! key, an in-toto statement with a subject naming the image digest. Like cosign, any
//! predicate type is accepted and reported; transparency-log entries are not checked here.

use std::collections::BTreeMap;

use lading_oci::Digest;
use serde::{Deserialize, Serialize};

use super::bundle::{Bundle, Envelope, EnvelopeSignature, KeyMaterial, VerificationMaterial};
use crate::constants::{
    IN_TOTO_STATEMENT_V01, IN_TOTO_STATEMENT_V1, PAYLOAD_TYPE_IN_TOTO, PREDICATE_COSIGN_SIGN,
};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};

/// An in-toto statement, the fields cosign writes in its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// `https://in-toto.io/Statement/v1`.
    #[serde(rename = "_type")]
    pub kind: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// What kind of claim it makes.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The claim.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// One subject of a statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// A name (cosign leaves it out).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Digests by algorithm (`sha256` → hex).
    pub digest: BTreeMap<String, String>,
    /// Claims about the subject (cosign's `-a key=value`); cosign always writes the map.
    #[serde(default)]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

/// The statement cosign v3 signs for the image `digest`, in cosign's bytes.
pub fn statement(digest: &Digest) -> Result<Vec<u8>> {
    let statement = Statement {
        kind: IN_TOTO_STATEMENT_V1.to_string(),
        subject: vec![Subject {
            name: String::new(),
            digest: BTreeMap::from([(
                digest.algorithm().name().to_string(),
                digest.hex().to_string(),
            )]),
            annotations: BTreeMap::new(),
        }],
        predicate_type: PREDICATE_COSIGN_SIGN.to_string(),
        predicate: serde_json::json!({}),
    };
    serde_json::to_vec(&statement).map_err(|e| Error::Invalid {
        what: "in-toto statement",
        reason: e.to_string(),
    })
}

/// DSSE's pre-authentication encoding (DSSE v1 protocol): what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Signs cosign v3's statement for `digest` with `key` into a DSSE envelope.
pub fn sign(key: &KeyPair, digest: &Digest) -> Result<Envelope> {
    let payload = statement(digest)?;
    let sig = key.sign(&pae(PAYLOAD_TYPE_IN_TOTO, &payload))?;
    Ok(Envelope {
        payload,
        payload_type: PAYLOAD_TYPE_IN_TOTO.to_string(),
        signatures: vec![EnvelopeSignature {
            sig,
            keyid: String::new(),
        }],
    })
}

/// The bundle of a key-based signature without a transparency log: the envelope and the
/// key's hint. Keyless signing signs with [`sign`] and its ephemeral key instead, and
/// passes [`Bundle::dsse`] material holding the certificate and the Rekor entries.
pub fn sign_bundle(key: &KeyPair, digest: &Digest) -> Result<Bundle> {
    let material = VerificationMaterial::public_key(&key.public_key()?);
    Ok(Bundle::dsse(material, sign(key, digest)?))
}

/// Verifies `bundle` as a signature of `image` by `key` (see the module docs) and returns
/// its statement.
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
    let [signature] = envelope.signatures.as_slice() else {
        return Err(invalid(format!(
            "the DSSE envelope has {} signatures; exactly one is required",
            envelope.signatures.len()
        )));
    };
    key.verify(
        &pae(&envelope.payload_type, &envelope.payload),
        &signature.sig,
    )?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(invalid(format!(
            "payload type {:?}, not {PAYLOAD_TYPE_IN_TOTO}",
            envelope.payload_type
        )));
    }
    let statement: Statement =
        serde_json::from_slice(&envelope.payload).map_err(|e| Error::Invalid {
            what: "in-toto statement",
            reason: e.to_string(),
        })?;
    if statement.kind != IN_TOTO_STATEMENT_V1 && statement.kind != IN_TOTO_STATEMENT_V01 {
        return Err(Error::Invalid {
            what: "in-toto statement",
            reason: format!("_type {:?}", statement.kind),
        });
    }
    let algorithm = image.algorithm().name();
    let names_image = statement
        .subject
        .iter()
        .any(|s| s.digest.get(algorithm).map(String::as_str) == Some(image.hex()));
    if !names_image {
        let named: Vec<String> = statement
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
            .collect();
        return Err(Error::WrongDigest {
            expected: image.clone(),
            actual: named.join(", "),
        });
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::bundle::Content;

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

    #[test]
    fn pae_follows_dsse() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
