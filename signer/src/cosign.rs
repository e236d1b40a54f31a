//! cosign's legacy signature storage (sigstore/cosign `pkg/oci`): the signatures of
//! manifest `sha256:<hex>` live in one OCI image manifest tagged `sha256-<hex>.sig` in
//! the same repository. Each signature is a layer of media type
//! [`MEDIA_TYPE_SIMPLE_SIGNING`] whose blob is the payload and whose annotation
//! [`ANNOTATION_SIGNATURE`] is the base64 DER signature. The config is the image config
//! go-containerregistry's `mutate.Append` writes onto an empty image: zero times, one
//! empty history entry and one diff-id per layer. A new signature is appended to the
//! layers already there.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lading_oci::constants::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST};
use lading_oci::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

use crate::constants::{ANNOTATION_SIGNATURE, MEDIA_TYPE_SIMPLE_SIGNING, SIGNATURE_TAG_SUFFIX};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};
use crate::simple_signing::Payload;

/// The tag of the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!(
        "{}-{}.{SIGNATURE_TAG_SUFFIX}",
        digest.algorithm().name(),
        digest.hex()
    )
}

/// A signature ready to be stored: the payload blob and its layer descriptor.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The payload bytes (the layer's blob).
    pub payload: Vec<u8>,
    /// The layer descriptor, with the signature annotation.
    pub layer: Descriptor,
    /// The signature (ASN.1 DER), as in the annotation.
    pub signature: Vec<u8>,
}

/// Signs the simple-signing payload for `digest` in `docker_reference`
/// (`REGISTRY/REPOSITORY`).
pub fn sign(key: &KeyPair, docker_reference: &str, digest: &Digest) -> Result<Signed> {
    let payload = Payload::new(docker_reference, digest).to_bytes()?;
    let signature = key.sign(&payload)?;
    let mut layer = Descriptor::new(
        MEDIA_TYPE_SIMPLE_SIGNING,
        Digest::of(&payload),
        payload.len() as u64,
    );
    layer.annotations.insert(
        ANNOTATION_SIGNATURE.to_string(),
        STANDARD.encode(&signature),
    );
    Ok(Signed {
        payload,
        layer,
        signature,
    })
}

/// A descriptor in go-containerregistry's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoDescriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

impl<'a> From<&'a Descriptor> for GoDescriptor<'a> {
    fn from(d: &'a Descriptor) -> Self {
        GoDescriptor {
            media_type: &d.media_type,
            size: d.size,
            digest: d.digest.to_string(),
            annotations: &d.annotations,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: GoDescriptor<'a>,
    layers: Vec<GoDescriptor<'a>>,
}

/// A signature manifest and its config, serialized.
#[derive(Debug, Clone)]
pub struct Built {
    /// The config blob.
    pub config: Vec<u8>,
    /// The config's descriptor.
    pub config_descriptor: Descriptor,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The manifest's descriptor.
    pub manifest_descriptor: Descriptor,
}

/// The signature manifest holding `layers`, in order.
pub fn build(layers: &[Descriptor]) -> Result<Built> {
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .map(|_| serde_json::json!({ "created": ZERO_TIME }))
        .collect();
    // go-containerregistry's v1.ConfigFile field order.
    #[derive(Serialize)]
    struct RootFs<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        diff_ids: &'a [String],
    }
    #[derive(Serialize)]
    struct Config<'a> {
        architecture: &'a str,
        created: &'a str,
        history: &'a [serde_json::Value],
        os: &'a str,
        rootfs: RootFs<'a>,
        config: BTreeMap<String, String>,
    }
    let json = |what, e: serde_json::Error| Error::Invalid {
        what,
        reason: e.to_string(),
    };
    let config = serde_json::to_vec(&Config {
        architecture: "",
        created: ZERO_TIME,
        history: &history,
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: &diff_ids,
        },
        config: BTreeMap::new(),
    })
    .map_err(|e| json("signature config", e))?;
    let config_descriptor =
        Descriptor::new(MEDIA_TYPE_CONFIG, Digest::of(&config), config.len() as u64);
    let manifest = serde_json::to_vec(&GoManifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: (&config_descriptor).into(),
        layers: layers.iter().map(GoDescriptor::from).collect(),
    })
    .map_err(|e| json("signature manifest", e))?;
    let manifest_descriptor = Descriptor::new(
        MEDIA_TYPE_MANIFEST,
        Digest::of(&manifest),
        manifest.len() as u64,
    );
    Ok(Built {
        config,
        config_descriptor,
        manifest,
        manifest_descriptor,
    })
}

/// The layers of a signature manifest.
pub fn layers(manifest: &[u8]) -> Result<Vec<Descriptor>> {
    #[derive(Deserialize)]
    struct M {
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let m: M = serde_json::from_slice(manifest).map_err(|e| Error::Invalid {
        what: "signature manifest",
        reason: e.to_string(),
    })?;
    Ok(m.layers)
}

/// Verifies one signature layer: `payload` is the layer's blob (its digest is checked
/// here too), its signature must verify with `key`, and it must name `image`.
pub fn verify_layer(
    layer: &Descriptor,
    payload: &[u8],
    key: &PublicKey,
    image: &Digest,
) -> Result<Payload> {
    if layer.media_type != MEDIA_TYPE_SIMPLE_SIGNING {
        return Err(Error::Invalid {
            what: "signature layer",
            reason: format!("media type {:?}", layer.media_type),
        });
    }
    let actual = Digest::of(payload);
    if actual != layer.digest {
        return Err(Error::Invalid {
            what: "signature layer",
            reason: format!("payload digest {actual}, descriptor says {}", layer.digest),
        });
    }
    let b64 = layer
        .annotations
        .get(ANNOTATION_SIGNATURE)
        .ok_or_else(|| Error::Invalid {
            what: "signature layer",
            reason: format!("no {ANNOTATION_SIGNATURE} annotation"),
        })?;
    let signature = STANDARD.decode(b64.trim()).map_err(|_| Error::Invalid {
        what: "signature layer",
        reason: "the signature is not base64".into(),
    })?;
    key.verify(payload, &signature)?;
    let parsed = Payload::parse(payload)?;
    parsed.check_digest(image)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_the_digest() {
        let d = Digest::of(b"x");
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", d.hex()));
    }

    #[test]
    fn signed_layer_verifies_and_refusals_are_specific() {
        let key = KeyPair::generate().unwrap();
        let public = key.public_key().unwrap();
        let image = Digest::of(b"image");
        let s = sign(&key, "r.example/app", &image).unwrap();
        verify_layer(&s.layer, &s.payload, &public, &image).unwrap();

        // Another image.
        let other = Digest::of(b"other");
        assert!(matches!(
            verify_layer(&s.layer, &s.payload, &public, &other),
            Err(Error::WrongDigest { .. })
        ));
        // A changed payload with the descriptor updated to match.
        let changed = String::from_utf8(s.payload.clone())
            .unwrap()
            .replace("r.example/app", "r.example/evil")
            .into_bytes();
        let mut layer = s.layer.clone();
        layer.digest = Digest::of(&changed);
        layer.size = changed.len() as u64;
        assert!(matches!(
            verify_layer(&layer, &changed, &public, &image),
            Err(Error::BadSignature)
        ));
        // A payload that does not match its descriptor.
        assert!(matches!(
            verify_layer(&s.layer, &changed, &public, &image),
            Err(Error::Invalid { .. })
        ));
        // Another key.
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        assert!(matches!(
            verify_layer(&s.layer, &s.payload, &stranger, &image),
            Err(Error::BadSignature)
        ));
    }

    #[test]
    fn manifest_has_cosigns_shape() {
        let key = KeyPair::generate().unwrap();
        let image = Digest::of(b"image");
        let a = sign(&key, "r/app", &image).unwrap();
        let b = sign(&key, "r/app", &image).unwrap();
        let built = build(&[a.layer.clone(), b.layer.clone()]).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&built.manifest).unwrap();
        assert_eq!(m["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(m["config"]["mediaType"], MEDIA_TYPE_CONFIG);
        assert_eq!(m["layers"][1]["mediaType"], MEDIA_TYPE_SIMPLE_SIGNING);
        let text = String::from_utf8(built.config.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}},{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{}","{}"]}},"config":{{}}}}"#,
                a.layer.digest, b.layer.digest
            )
        );
        assert_eq!(layers(&built.manifest).unwrap(), vec![a.layer, b.layer]);
    }
}
