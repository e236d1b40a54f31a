//! The content graph under a manifest or index: what must be copied, pushed or exported
//! together so a digest stays valid (image-spec "Image Index", "Image Manifest"). Works
//! for any manifest, images and artifacts alike (the config need not be an image config);
//! a `subject` is a reference to another graph, not part of this one.

use std::collections::BTreeSet;

use crate::constants::{ANNOTATION_PARTIAL, MAX_JSON_BLOB};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::is_index;
use crate::spec::{Descriptor, Index, Manifest, Platform, from_json};
use crate::store::Store;

/// A manifest or index, parsed.
#[derive(Debug, Clone)]
pub enum Node {
    /// An image index or Docker manifest list.
    Index(Box<Index>),
    /// An image or artifact manifest.
    Manifest(Box<Manifest>),
}

impl Node {
    /// Parses manifest bytes (`media_type` from the descriptor; the shape decides when it
    /// is missing or unknown).
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Node> {
        if bytes.len() as u64 > MAX_JSON_BLOB {
            return Err(Error::TooLarge {
                what: "manifest".into(),
                size: bytes.len() as u64,
                limit: MAX_JSON_BLOB,
            });
        }
        if is_index(media_type, bytes) {
            Ok(Node::Index(Box::new(from_json(bytes, "image index")?)))
        } else {
            let m: Manifest = from_json(bytes, "image manifest")?;
            if m.schema_version != 2 {
                return Err(Error::Invalid {
                    what: "manifest".into(),
                    reason: format!("schemaVersion {} (only 2 is supported)", m.schema_version),
                });
            }
            Ok(Node::Manifest(Box::new(m)))
        }
    }

    /// The `subject` this manifest or index refers to, if any.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Node::Index(i) => i.subject.as_ref(),
            Node::Manifest(m) => m.subject.as_ref(),
        }
    }
}

/// Whether a descriptor's media type says it is a manifest or index (what a registry
/// stores under `manifests/`), as opposed to a blob.
pub fn is_manifest_type(media_type: &str) -> bool {
    use crate::constants::*;
    matches!(
        media_type,
        MEDIA_TYPE_MANIFEST
            | MEDIA_TYPE_INDEX
            | MEDIA_TYPE_DOCKER_MANIFEST
            | MEDIA_TYPE_DOCKER_MANIFEST_LIST
    )
}

/// One item of a graph, in the order it must be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A blob (config or layer).
    Blob(Descriptor),
    /// A manifest or index (its children come before it).
    Manifest(Descriptor),
}

impl Item {
    /// The descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            Item::Blob(d) | Item::Manifest(d) => d,
        }
    }
}

/// Every item under `root` (which must be in the store, with everything under it), each
/// once, blobs and child manifests before the manifests that list them, `root` last.
/// `platforms` limits an index to its entries for those platforms (plus entries without
/// a platform); the index itself is still part of the graph.
pub fn walk(store: &Store, root: &Descriptor, platforms: Option<&[Platform]>) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    walk_into(store, root, platforms, &mut out, &mut seen, 0)?;
    Ok(out)
}

fn walk_into(
    store: &Store,
    desc: &Descriptor,
    platforms: Option<&[Platform]>,
    out: &mut Vec<Item>,
    seen: &mut BTreeSet<Digest>,
    depth: usize,
) -> Result<()> {
    if depth > 8 {
        return Err(Error::Invalid {
            what: format!("index {}", desc.digest),
            reason: "indexes nested more than 8 deep".into(),
        });
    }
    if !seen.insert(desc.digest.clone()) {
        return Ok(());
    }
    let bytes = store.read_blob(&desc.digest)?;
    match Node::parse(&desc.media_type, &bytes)? {
        Node::Index(index) => {
            for child in selected(&index, platforms) {
                walk_into(store, child, platforms, out, seen, depth + 1)?;
            }
        }
        Node::Manifest(m) => {
            for blob in std::iter::once(&m.config).chain(&m.layers) {
                if seen.insert(blob.digest.clone()) {
                    out.push(Item::Blob(blob.clone()));
                }
            }
        }
    }
    out.push(Item::Manifest(desc.clone()));
    Ok(())
}

/// The entries of `index` for `platforms` (all of them when `None`).
pub fn selected<'a>(
    index: &'a Index,
    platforms: Option<&'a [Platform]>,
) -> impl Iterator<Item = &'a Descriptor> + 'a {
    index
        .manifests
        .iter()
        .filter(move |d| match (platforms, &d.platform) {
            (None, _) | (_, None) => true,
            (Some(ps), Some(p)) => ps.iter().any(|want| p.matches(want)),
        })
}

/// Whether the store holds all of `root`'s graph.
pub fn is_complete(store: &Store, root: &Descriptor) -> bool {
    match walk(store, root, None) {
        Ok(items) => items.iter().all(|i| store.has(&i.descriptor().digest)),
        Err(_) => false,
    }
}

/// Marks a descriptor as a partial index (see [`ANNOTATION_PARTIAL`]) when `partial`.
pub fn mark_partial(desc: &Descriptor, partial: bool) -> Descriptor {
    let mut d = desc.clone();
    if partial {
        d.annotations
            .insert(ANNOTATION_PARTIAL.to_string(), "true".to_string());
    } else {
        d.annotations.remove(ANNOTATION_PARTIAL);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
    use crate::spec::to_canonical_json;

    fn manifest(store: &Store, layer: &[u8]) -> Descriptor {
        let config = store.put_bytes(b"{}", MEDIA_TYPE_CONFIG).unwrap();
        let layer = store.put_bytes(layer, "l").unwrap();
        let m = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            artifact_type: None,
            config,
            layers: vec![layer],
            subject: None,
            annotations: Default::default(),
        };
        store
            .put_bytes(&to_canonical_json(&m).unwrap(), MEDIA_TYPE_MANIFEST)
            .unwrap()
    }

    #[test]
    fn children_first_each_once_and_platform_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut a = manifest(&store, b"a");
        a.platform = Some(Platform::parse("linux/amd64").unwrap());
        let mut b = manifest(&store, b"b");
        b.platform = Some(Platform::parse("linux/arm64").unwrap());
        let index = Index {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_INDEX.into()),
            manifests: vec![a.clone(), b.clone()],
            ..Index::default()
        };
        let root = store
            .put_bytes(&to_canonical_json(&index).unwrap(), MEDIA_TYPE_INDEX)
            .unwrap();
        let items = walk(&store, &root, None).unwrap();
        // config shared: 1 config + 2 layers + 2 manifests + index.
        assert_eq!(items.len(), 6, "{items:#?}");
        assert_eq!(items.last().unwrap().descriptor().digest, root.digest);
        let pos = |d: &Digest| {
            items
                .iter()
                .position(|i| &i.descriptor().digest == d)
                .unwrap()
        };
        assert!(pos(&a.digest) < pos(&root.digest));
        let arm = [Platform::parse("linux/arm64").unwrap()];
        let items = walk(&store, &root, Some(&arm)).unwrap();
        assert!(!items.iter().any(|i| i.descriptor().digest == a.digest));
        assert!(items.iter().any(|i| i.descriptor().digest == b.digest));
        assert!(is_complete(&store, &root));
    }
}
