//! The OCI 1.1 referrer that stores a bundle (cosign `pkg/oci/remote/write.go`
//! `WriteAttestationNewBundleFormat` and `WriteReferrer`): an image manifest with
//! artifact type [`MEDIA_TYPE_BUNDLE_V03`], the empty config (which cosign also marks
//! with the artifact type), one layer holding the bundle JSON, the image as `subject`, and
//! the annotations `dev.sigstore.bundle.content`, `dev.sigstore.bundle.predicateType` and
//! `org.opencontainers.image.created`. Fields are written in cosign's order.

use std::collections::BTreeMap;

use lading_oci::constants::{ANNOTATION_CREATED, MEDIA_TYPE_EMPTY, MEDIA_TYPE_MANIFEST};
use lading_oci::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

use crate::constants::{
    ANNOTATION_BUNDLE_CONTENT, ANNOTATION_BUNDLE_PREDICATE_TYPE, BUNDLE_CONTENT_DSSE,
    MEDIA_TYPE_BUNDLE_PREFIX, MEDIA_TYPE_BUNDLE_V03,
};
use crate::error::{Error, Result};

/// The empty config's bytes (OCI image-spec "Guidance for an Empty Descriptor").
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// A referrer manifest and the blobs it names, serialized.
#[derive(Debug, Clone)]
pub struct BundleReferrer {
    /// The bundle JSON (the layer's blob).
    pub bundle: Vec<u8>,
    /// The layer's descriptor.
    pub bundle_descriptor: Descriptor,
    /// The config's descriptor ([`EMPTY_CONFIG`]).
    pub config_descriptor: Descriptor,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The manifest's descriptor.
    pub manifest_descriptor: Descriptor,
}

/// A descriptor in go-containerregistry's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoDescriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
}

impl<'a> GoDescriptor<'a> {
    fn of(d: &'a Descriptor, artifact_type: Option<&'a str>) -> Self {
        GoDescriptor {
            media_type: &d.media_type,
            size: d.size,
            digest: d.digest.to_string(),
            artifact_type,
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
    annotations: BTreeMap<&'a str, &'a str>,
    subject: GoDescriptor<'a>,
    artifact_type: &'a str,
}

/// The referrer storing `bundle` (a DSSE bundle whose statement has `predicate_type`) for
/// the image `subject`; `created` is the RFC 3339 time written in
/// `org.opencontainers.image.created`.
pub fn build(
    bundle: Vec<u8>,
    predicate_type: &str,
    subject: &Descriptor,
    created: &str,
) -> Result<BundleReferrer> {
    let bundle_descriptor = Descriptor::new(
        MEDIA_TYPE_BUNDLE_V03,
        Digest::of(&bundle),
        bundle.len() as u64,
    );
    let config_descriptor = Descriptor::new(
        MEDIA_TYPE_EMPTY,
        Digest::of(EMPTY_CONFIG),
        EMPTY_CONFIG.len() as u64,
    );
    let manifest = serde_json::to_vec(&GoManifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: GoDescriptor::of(&config_descriptor, Some(MEDIA_TYPE_BUNDLE_V03)),
        layers: vec![GoDescriptor::of(&bundle_descriptor, None)],
        annotations: BTreeMap::from([
            (ANNOTATION_BUNDLE_CONTENT, BUNDLE_CONTENT_DSSE),
            (ANNOTATION_BUNDLE_PREDICATE_TYPE, predicate_type),
            (ANNOTATION_CREATED, created),
        ]),
        subject: GoDescriptor::of(subject, None),
        artifact_type: MEDIA_TYPE_BUNDLE_V03,
    })
    .map_err(|e| Error::Invalid {
        what: "bundle referrer manifest",
        reason: e.to_string(),
    })?;
    let manifest_descriptor = Descriptor::new(
        MEDIA_TYPE_MANIFEST,
        Digest::of(&manifest),
        manifest.len() as u64,
    );
    Ok(BundleReferrer {
        bundle,
        bundle_descriptor,
        config_descriptor,
        manifest,
        manifest_descriptor,
    })
}

/// The bundle layer of a referrer manifest: exactly one layer, of a bundle media type
/// (what cosign reads).
pub fn bundle_layer(manifest: &[u8]) -> Result<Descriptor> {
    #[derive(Deserialize)]
    struct M {
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let invalid = |reason: String| Error::Invalid {
        what: "bundle referrer manifest",
        reason,
    };
    let m: M = serde_json::from_slice(manifest).map_err(|e| invalid(e.to_string()))?;
    match m.layers.as_slice() {
        [layer] if layer.media_type.starts_with(MEDIA_TYPE_BUNDLE_PREFIX) => Ok(layer.clone()),
        [layer] => Err(invalid(format!("layer media type {:?}", layer.media_type))),
        layers => Err(invalid(format!(
            "{} layers; exactly one is expected",
            layers.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_cosigns_shape_byte_for_byte() {
        // What cosign v3.1.3 pushed for the bundle in testdata/cosign-sign-key.sigstore.json.
        let cosigns = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"},"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","size":659,"digest":"sha256:e3cb6be0071ab2d53badd4b979197d11b541b41d5a1c6ccf56cc6f288b4de5d7"}],"annotations":{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1","org.opencontainers.image.created":"2026-12-07T05:04:15Z"},"subject":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":423,"digest":"sha256:600cb571864aedc5d90b1ba372b2c2563b14d5c2c3bdfe2372cf3a5c1df08696"},"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#;
        let bundle = include_bytes!("testdata/cosign-sign-key.sigstore.json");
        let bundle = bundle.strip_suffix(b"\n").unwrap_or(bundle).to_vec();
        let subject = Descriptor::new(
            lading_oci::constants::MEDIA_TYPE_DOCKER_MANIFEST,
            "sha256:600cb571864aedc5d90b1ba372b2c2563b14d5c2c3bdfe2372cf3a5c1df08696"
                .parse()
                .unwrap(),
            423,
        );
        let built = build(
            bundle,
            crate::constants::PREDICATE_COSIGN_SIGN,
            &subject,
            "2026-12-07T05:04:15Z",
        )
        .unwrap();
        assert_eq!(String::from_utf8(built.manifest.clone()).unwrap(), cosigns);
        assert_eq!(
            bundle_layer(&built.manifest).unwrap(),
            built.bundle_descriptor
        );
    }

    #[test]
    fn other_manifests_have_no_bundle_layer() {
        let two = br#"{"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}"#;
        assert!(bundle_layer(two).is_err());
        let sbom = br#"{"layers":[{"mediaType":"application/spdx+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}"#;
        assert!(bundle_layer(sbom).is_err());
    }
}
