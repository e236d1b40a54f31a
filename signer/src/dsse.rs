//! DSSE envelopes v1 (<https://github.com/secure-systems-lab/dsse>): a payload, its type,
//! and signatures over the pre-authentication encoding (PAE) of both. The one DSSE
//! implementation: attestations (`.att` layers) and Sigstore bundles both sign and verify
//! through it.
//!
//! One type serves both storages because their JSON is the same: cosign writes a `.att`
//! layer with Go's `encoding/json` over the protobuf-specs `Envelope` and a bundle's
//! `dsseEnvelope` with protojson, both `{"payload":"<base64>","payloadType":"…",
//! "signatures":[{"sig":"<base64>"}]}` with `keyid` left out when empty. Reading accepts
//! what protojson accepts (URL-safe or unpadded base64).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};
use crate::protojson::b64;

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

/// One signature of an envelope (`io.intoto.Signature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signature over the PAE (ASN.1 DER for ECDSA).
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub sig: Vec<u8>,
    /// An unauthenticated hint naming the key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

/// A DSSE envelope (`io.intoto.Envelope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The signed payload.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub payload: Vec<u8>,
    /// How to read the payload (`application/vnd.in-toto+json`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub payload_type: String,
    /// Signatures over `PAE(payload_type, payload)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<Signature>,
}

fn invalid(reason: String) -> Error {
    Error::Invalid {
        what: "DSSE envelope",
        reason,
    }
}

impl Envelope {
    /// Signs `payload` with `sign` (handed the PAE bytes, returning a DER signature): the
    /// one place a signer plugs in, a key today, keyless (an ephemeral key) later.
    pub fn sign_with(
        payload_type: &str,
        payload: &[u8],
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
    ) -> Result<Envelope> {
        let sig = sign(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload: payload.to_vec(),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                sig,
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
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))
    }

    /// The envelope as JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| invalid(e.to_string()))
    }

    /// The payload, once a signature verifies with `key` over its PAE (cosign's `.att`
    /// check: any of the signatures will do).
    pub fn verify(&self, key: &PublicKey) -> Result<&[u8]> {
        let message = pae(&self.payload_type, &self.payload);
        if !self
            .signatures
            .iter()
            .any(|s| key.verify(&message, &s.sig).is_ok())
        {
            return Err(Error::BadSignature);
        }
        Ok(&self.payload)
    }

    /// The payload, once the envelope's one signature verifies with `key` (sigstore-go's
    /// check of a bundle: an envelope with more or fewer signatures is refused).
    pub fn verify_single(&self, key: &PublicKey) -> Result<&[u8]> {
        let [signature] = self.signatures.as_slice() else {
            return Err(invalid(format!(
                "{} signatures; exactly one is required",
                self.signatures.len()
            )));
        };
        key.verify(&pae(&self.payload_type, &self.payload), &signature.sig)?;
        Ok(&self.payload)
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
        assert_eq!(back.verify_single(&public).unwrap(), b"{\"a\":1}");

        // The signature covers the payload type too.
        let mut retyped = back.clone();
        retyped.payload_type = "text/plain".into();
        assert!(matches!(retyped.verify(&public), Err(Error::BadSignature)));
        // And the payload.
        let mut changed = back.clone();
        changed.payload = b"{\"a\":2}".to_vec();
        assert!(matches!(changed.verify(&public), Err(Error::BadSignature)));
        // Another key.
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        assert!(matches!(back.verify(&stranger), Err(Error::BadSignature)));
        // No signature at all.
        let mut unsigned = back.clone();
        unsigned.signatures.clear();
        assert!(matches!(unsigned.verify(&public), Err(Error::BadSignature)));
        assert!(matches!(
            unsigned.verify_single(&public),
            Err(Error::Invalid { .. })
        ));
        // Two signatures: fine for a `.att` layer, refused in a bundle.
        let mut twice = back;
        twice.signatures.push(twice.signatures[0].clone());
        assert!(twice.verify(&public).is_ok());
        assert!(matches!(
            twice.verify_single(&public),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn protojson_spellings_are_read() {
        // URL-safe, unpadded base64 as protojson accepts: "{}" is e30 unpadded.
        let env =
            Envelope::parse(br#"{"payload":"e30","payloadType":"t","signatures":[{"sig":"-_8"}]}"#)
                .unwrap();
        assert_eq!(env.payload, b"{}");
        assert_eq!(env.signatures[0].sig, vec![0xfb, 0xff]);
    }
}
