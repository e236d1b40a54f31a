//! DSSE envelopes v1 (<https://github.com/secure-systems-lab/dsse>): a payload, its type,
//! and signatures over the pre-authentication encoding (PAE) of both.
//!
//! Serialized as cosign writes a `.att` layer (Go's `encoding/json` over the
//! protobuf-specs `Envelope`): `{"payload":"<base64>","payloadType":"…","signatures":
//! [{"sig":"<base64>"}]}`, `keyid` left out when empty.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};

/// `PAE(type, payload)` = `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`.
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

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Base64 signature over the PAE.
    pub sig: String,
    /// An unauthenticated hint naming the key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 payload.
    pub payload: String,
    /// How to read the payload.
    pub payload_type: String,
    /// Signatures over `PAE(payload_type, payload)`.
    pub signatures: Vec<Signature>,
}

impl Envelope {
    /// Signs `payload` with `sign` (handed the PAE bytes, returning a DER signature): the
    /// one place a signer plugs in, a key today, keyless later.
    pub fn sign_with(
        payload_type: &str,
        payload: &[u8],
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
    ) -> Result<Envelope> {
        let signature = sign(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                sig: STANDARD.encode(signature),
                keyid: String::new(),
            }],
        })
    }

    /// Signs `payload` with a key pair (ECDSA P-256, SHA-256).
    pub fn sign(key: &KeyPair, payload_type: &str, payload: &[u8]) -> Result<Envelope> {
        Envelope::sign_with(payload_type, payload, |pae| key.sign(pae))
    }

    /// Reads an envelope.
    pub fn parse(bytes: &[u8]) -> Result<Envelope> {
        serde_json::from_slice(bytes).map_err(|e| Error::Invalid {
            what: "DSSE envelope",
            reason: e.to_string(),
        })
    }

    /// The envelope as JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Invalid {
            what: "DSSE envelope",
            reason: e.to_string(),
        })
    }

    /// The decoded payload, unverified.
    pub fn payload_bytes(&self) -> Result<Vec<u8>> {
        STANDARD
            .decode(self.payload.trim())
            .map_err(|_| Error::Invalid {
                what: "DSSE envelope",
                reason: "the payload is not base64".into(),
            })
    }

    /// The payload, once a signature verifies with `key` over its PAE.
    pub fn verify(&self, key: &PublicKey) -> Result<Vec<u8>> {
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        let verified = self.signatures.iter().any(|s| {
            STANDARD
                .decode(s.sig.trim())
                .is_ok_and(|sig| key.verify(&message, &sig).is_ok())
        });
        if !verified {
            return Err(Error::BadSignature);
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // The DSSE protocol document's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_verify_round_trip_and_refusals() {
        let key = KeyPair::generate().unwrap();
        let public = key.public_key().unwrap();
        let env = Envelope::sign(&key, "application/vnd.in-toto+json", b"{\"a\":1}").unwrap();
        let bytes = env.to_bytes().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"payload":"eyJhIjoxfQ==","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":""#),
            "{text}"
        );
        assert!(!text.contains("keyid"));
        let back = Envelope::parse(&bytes).unwrap();
        assert_eq!(back.verify(&public).unwrap(), b"{\"a\":1}");

        // The signature covers the payload type too.
        let mut retyped = back.clone();
        retyped.payload_type = "text/plain".into();
        assert!(matches!(retyped.verify(&public), Err(Error::BadSignature)));
        // And the payload.
        let mut changed = back.clone();
        changed.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(matches!(changed.verify(&public), Err(Error::BadSignature)));
        // Another key.
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        assert!(matches!(back.verify(&stranger), Err(Error::BadSignature)));
        // No signature at all.
        let mut unsigned = back;
        unsigned.signatures.clear();
        assert!(matches!(unsigned.verify(&public), Err(Error::BadSignature)));
    }
}
