//! The image model (go-containerregistry's `v1.Image`): a manifest, its config and its
//! layers, all held in the store. Every source yields this one model.

use crate::constants::{
    MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::spec::{Descriptor, ImageConfig, Index, Manifest, Platform, from_json};
use crate::store::Store;

/// A single-platform image whose blobs are all in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// Descriptor of the manifest.
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The config.
    pub config: ImageConfig,
}

impl Image {
    /// Loads the image `desc` points at; an index is resolved to `platform`'s manifest.
    pub fn load(store: &Store, desc: &Descriptor, platform: &Platform) -> Result<Image> {
        // Leased first (best effort, as `Store::has`): prune then keeps its whole graph
        // while this process may use it, even if its tag moves meanwhile.
        let _ = store.hold_digest(&desc.digest);
        let bytes = store.read_blob(&desc.digest)?;
        if is_index(&desc.media_type, &bytes) {
            let index: Index = from_json(&bytes, "image index")?;
            let child = select_platform(&index, platform, &desc.digest.to_string())?;
            return Image::load(store, &child, platform);
        }
        let manifest: Manifest = from_json(&bytes, "image manifest")?;
        check_manifest(&manifest)?;
        let config_bytes = store.read_blob(&manifest.config.digest)?;
        let config: ImageConfig = from_json(&config_bytes, "image config")?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::Invalid {
                what: format!("image {}", desc.digest),
                reason: format!(
                    "{} layers but {} diff_ids",
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        let mut descriptor = desc.clone();
        descriptor.platform = None;
        Ok(Image {
            descriptor,
            manifest,
            config,
        })
    }

    /// Layers, base first.
    pub fn layers(&self) -> &[Descriptor] {
        &self.manifest.layers
    }

    /// Diff-ids, base first.
    pub fn diff_ids(&self) -> &[Digest] {
        &self.config.rootfs.diff_ids
    }

    /// Total size: manifest, config and layers.
    pub fn size(&self) -> u64 {
        self.descriptor.size
            + self.manifest.config.size
            + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// Whether a blob is an index (by media type, or by shape when the type is missing).
pub fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    match media_type {
        MEDIA_TYPE_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST => true,
        MEDIA_TYPE_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => false,
        _ => serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .is_some_and(|v| v.get("manifests").is_some()),
    }
}

fn check_manifest(m: &Manifest) -> Result<()> {
    if m.schema_version != 2 {
        return Err(Error::Invalid {
            what: "image manifest".into(),
            reason: format!("schemaVersion {} (only 2 is supported)", m.schema_version),
        });
    }
    let ct = m.config.media_type.as_str();
    if ct != crate::constants::MEDIA_TYPE_CONFIG && ct != MEDIA_TYPE_DOCKER_CONFIG {
        return Err(Error::Invalid {
            what: "image manifest".into(),
            reason: format!("config media type {ct:?} is not an image config"),
        });
    }
    Ok(())
}

/// Picks the entry of `index` for `platform`.
pub fn select_platform(index: &Index, platform: &Platform, what: &str) -> Result<Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.matches(platform)))
        .or_else(|| {
            // An index with a single unlabelled manifest (common in OCI layouts).
            match index.manifests.as_slice() {
                [only] if only.platform.is_none() => Some(only),
                _ => None,
            }
        })
        .cloned()
        .ok_or_else(|| Error::NoMatchingPlatform {
            platform: platform.to_string(),
            reference: what.to_string(),
        })
}
