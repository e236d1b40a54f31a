//! cosign's "simple signing" payload (sigstore `pkg/signature/payload`, after
//! containers/image's signature format): the JSON that names an image's manifest digest
//! and is signed.
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"REG/REPO"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}
//! ```

use std::collections::BTreeMap;

use lading_oci::Digest;
use serde::{Deserialize, Serialize};

use crate::constants::SIMPLE_SIGNING_TYPE;
use crate::error::{Error, Result};

/// A simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What the signature vouches for.
    pub critical: Critical,
    /// Free-form claims (`null` when there are none).
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The `critical` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository.
    pub identity: Identity,
    /// The manifest digest.
    pub image: ImageDigest,
    /// Always [`SIMPLE_SIGNING_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `REGISTRY/REPOSITORY`, as cosign writes it.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDigest {
    /// The manifest digest (`sha256:…`).
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl Payload {
    /// The payload for the manifest `digest` in repository `docker_reference`
    /// (`REGISTRY/REPOSITORY`).
    pub fn new(docker_reference: &str, digest: &Digest) -> Payload {
        Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_string(),
                },
                image: ImageDigest {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: SIMPLE_SIGNING_TYPE.to_string(),
            },
            optional: None,
        }
    }

    /// The bytes signed: compact JSON, keys in cosign's order.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Invalid {
            what: "payload",
            reason: e.to_string(),
        })
    }

    /// Reads a payload and checks its type.
    pub fn parse(bytes: &[u8]) -> Result<Payload> {
        let p: Payload = serde_json::from_slice(bytes).map_err(|e| Error::Invalid {
            what: "simple-signing payload",
            reason: e.to_string(),
        })?;
        if p.critical.kind != SIMPLE_SIGNING_TYPE {
            return Err(Error::Invalid {
                what: "simple-signing payload",
                reason: format!("type {:?}", p.critical.kind),
            });
        }
        Ok(p)
    }

    /// Checks that the payload names `digest`.
    pub fn check_digest(&self, digest: &Digest) -> Result<()> {
        if self.critical.image.docker_manifest_digest != digest.to_string() {
            return Err(Error::WrongDigest {
                expected: digest.clone(),
                actual: self.critical.image.docker_manifest_digest.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_cosigns() {
        let d = Digest::of(b"x");
        let p = Payload::new("127.0.0.1:5000/app", &d);
        let text = String::from_utf8(p.to_bytes().unwrap()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let back = Payload::parse(text.as_bytes()).unwrap();
        back.check_digest(&d).unwrap();
        assert!(back.check_digest(&Digest::of(b"y")).is_err());
    }
}
