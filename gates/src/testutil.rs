//! Test helpers shared by the gates' unit tests: small images written straight into a
//! store with the real layer writer.

use std::collections::BTreeMap;
use std::sync::Arc;

use lading_oci::constants::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST};
use lading_oci::layer::{Entry as LayerEntry, EntryKind, FileData, write_layer};
use lading_oci::spec::{ImageConfig, Manifest, to_canonical_json};
use lading_oci::{Image, Platform, Store};

/// A root-owned 0644 regular file.
pub fn file(path: &str, content: impl AsRef<[u8]>) -> LayerEntry {
    let content = content.as_ref();
    LayerEntry {
        path: path.into(),
        kind: EntryKind::File {
            data: FileData::Bytes(Arc::from(content)),
            size: content.len() as u64,
        },
        mode: 0o644,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }
}

/// An image of `layers` (base first) with a default config.
pub fn image(store: &Store, layers: Vec<Vec<LayerEntry>>) -> Image {
    image_with(store, ImageConfig::default(), layers)
}

/// An image of `layers` (base first) with `config` (its diff-ids are filled in).
pub fn image_with(store: &Store, mut config: ImageConfig, layers: Vec<Vec<LayerEntry>>) -> Image {
    let mut descs = Vec::new();
    for entries in layers {
        let blob = write_layer(store, entries, 0).unwrap();
        config.rootfs.diff_ids.push(blob.diff_id);
        descs.push(blob.descriptor);
    }
    let config = store
        .put_bytes(&to_canonical_json(&config).unwrap(), MEDIA_TYPE_CONFIG)
        .unwrap();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: None,
        config,
        layers: descs,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let desc = store
        .put_bytes(&to_canonical_json(&manifest).unwrap(), MEDIA_TYPE_MANIFEST)
        .unwrap();
    Image::load(store, &desc, &Platform::host()).unwrap()
}
