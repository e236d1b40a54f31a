//! The image itself: its manifest digest, the store references that name it, and what
//! its manifest and config say (platform, layers, base image annotations).

use anyhow::Result;
use lading_oci::constants::{ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME};
use lading_oci::repository::entry_repository;
use lading_oci::source::resolve_in_store;
use lading_oci::{Digest, Image, Platform, Store};

/// What the page's header says about the image.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    /// The reference the user gave.
    pub requested: String,
    /// The manifest digest everything else is recorded against.
    pub digest: Digest,
    /// The index the reference named, when it named one (the digest is its platform's
    /// manifest).
    pub index: Option<Digest>,
    /// Store references naming the manifest (or that index): `REPO:TAG`, or
    /// `REPO@sha256:…` for untagged entries of a repository.
    pub references: Vec<String>,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The config's `created`.
    pub created: Option<String>,
    /// Layer count.
    pub layers: usize,
    /// Manifest, config and layers, in bytes.
    pub size: u64,
    /// The base image annotations (`org.opencontainers.image.base.name`, `.digest`).
    pub base_name: Option<String>,
    /// See `base_name`.
    pub base_digest: Option<String>,
}

/// The store image `reference` names, if the store has one.
pub fn find(store: &Store, reference: &str, platform: &Platform) -> Result<Option<ImageFacts>> {
    let Some(desc) = resolve_in_store(store, reference)? else {
        return Ok(None);
    };
    let image = Image::load(store, &desc, platform)?;
    let digest = image.descriptor.digest.clone();
    let index = (desc.digest != digest).then(|| desc.digest.clone());
    let mut references = Vec::new();
    for entry in store.index()?.manifests {
        if entry.digest != digest && Some(&entry.digest) != index.as_ref() {
            continue;
        }
        match entry_repository(&entry) {
            Some((repo, Some(tag))) => references.push(format!("{repo}:{tag}")),
            Some((repo, None)) => references.push(format!("{repo}@{}", entry.digest)),
            None => {}
        }
    }
    references.sort();
    references.dedup();
    let annotation = |k: &str| image.manifest.annotations.get(k).cloned();
    Ok(Some(ImageFacts {
        requested: reference.to_string(),
        index,
        references,
        platform: image.config.platform().to_string(),
        created: image.config.created.clone(),
        layers: image.layers().len(),
        size: image.size(),
        base_name: annotation(ANNOTATION_BASE_NAME),
        base_digest: annotation(ANNOTATION_BASE_DIGEST),
        digest,
    }))
}
