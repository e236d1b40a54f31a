//! The build cache shared through a registry or an OCI layout directory (`--cache-to`,
//! `--cache-from`): the artifact's format, what a build exports, and the lookups a
//! build makes in an imported cache.
//!
//! The artifact is an OCI image manifest (`artifactType`
//! [`ARTIFACT_TYPE_BUILD_CACHE`]) whose config ([`MEDIA_TYPE_BUILD_CACHE_CONFIG`]) holds
//! the records of the store's local caches (`run`, `copy`, `layers`, `workdir`: key →
//! result layer, exactly what `<store>/.lading/cache/<kind>/<key>` holds) and the gzip
//! blob of each uncompressed layer that has one, and whose layers are the blobs the
//! records name (the gzip blob where there is one: smaller to move, and what an
//! exported image needs anyway).
//!
//! Importing reads only the manifest and the config. A step whose key has a record
//! takes it; the layer's blob is copied into the store when the step hits (a later
//! step's key and the image need it), verified by digest on the way in (a gzip blob is
//! decompressed and the tar must have the layer's diff-id). Anything wrong — a blob
//! missing or not matching — is a miss with a warning, never an error: the step then
//! runs as without a cache. Records are trusted as the local cache's are: a key names
//! everything that decides a step's result, and the result's bytes are verified.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lading_oci::constants::{
    ARTIFACT_TYPE_BUILD_CACHE, MEDIA_TYPE_BUILD_CACHE_CONFIG, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_MANIFEST,
};
use lading_oci::spec::{Manifest, to_canonical_json};
use lading_oci::{Descriptor, Digest, Store};

/// The kinds of local cache records a shared cache carries (the directories under
/// `<store>/.lading/cache/`; `context` is a `COPY` from a context keyed by the layers
/// below, written only when the cache is shared).
pub const RECORD_KINDS: &[&str] = &["run", "copy", "layers", "workdir", "context"];

/// Version of the config's format; a cache of another version is a miss.
pub const FORMAT_VERSION: u32 = 1;

/// One step's record: its cache key and the layer it gave (`None`: no layer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// `run`, `copy`, `layers` or `workdir`.
    pub kind: String,
    /// The key's hex digest (the record's file name in the local cache).
    pub key: String,
    /// The layer blob and its diff-id.
    pub layer: Option<(Descriptor, Digest)>,
}

/// The gzip blob of an uncompressed layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compressed {
    /// The uncompressed layer's digest (its diff-id).
    pub diff_id: Digest,
    /// The gzip blob.
    pub layer: Descriptor,
}

/// The config blob of a cache artifact.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CacheConfig {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The records, sorted by kind and key.
    pub records: Vec<Record>,
    /// Gzip blobs of uncompressed layers, sorted by diff-id.
    pub compressed: Vec<Compressed>,
}

/// What a build used and wrote, for `--cache-to`.
#[derive(Debug, Clone, Default)]
pub struct CacheExport {
    /// Every record the build's steps read or wrote, in step order.
    pub records: Vec<Record>,
    /// The gzip blobs of the exported image's uncompressed layers.
    pub compressed: Vec<Compressed>,
    /// The target stage's layers (uncompressed where the build wrote them): what
    /// `mode=min` keeps records of.
    pub target_layers: BTreeSet<Digest>,
}

impl CacheExport {
    /// Adds another build's records (one build per platform shares one export;
    /// [`write_artifact`] drops the duplicates).
    pub fn absorb(&mut self, other: CacheExport) {
        self.records.extend(other.records);
        self.compressed.extend(other.compressed);
        self.target_layers.extend(other.target_layers);
    }
}

/// `mode=` of `--cache-to`, as buildx spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportMode {
    /// Only the records whose layers are the exported image's (docker's default).
    #[default]
    Min,
    /// Every step of every stage the build ran.
    Max,
}

/// Writes the cache artifact of `export` into `store` (config and manifest; the layer
/// blobs are there already) and returns the manifest's descriptor. Records whose blob
/// the store lacks are left out.
pub fn write_artifact(
    store: &Store,
    export: &CacheExport,
    mode: ExportMode,
) -> lading_oci::Result<Descriptor> {
    let gz: BTreeMap<&Digest, &Descriptor> = export
        .compressed
        .iter()
        .map(|c| (&c.diff_id, &c.layer))
        .collect();
    let mut records: BTreeMap<(String, String), Record> = BTreeMap::new();
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut compressed = BTreeMap::new();
    for r in &export.records {
        if let Some((d, diff_id)) = &r.layer {
            if mode == ExportMode::Min && !export.target_layers.contains(&d.digest) {
                continue;
            }
            let blob = match gz.get(diff_id) {
                Some(g) if store.has(&g.digest) => {
                    compressed.insert(diff_id.clone(), (*g).clone());
                    (*g).clone()
                }
                _ => d.clone(),
            };
            if !store.has(&blob.digest) {
                continue;
            }
            if seen.insert(blob.digest.clone()) {
                blobs.push(blob);
            }
        }
        records.insert((r.kind.clone(), r.key.clone()), r.clone());
    }
    let config = CacheConfig {
        version: FORMAT_VERSION,
        records: records.into_values().collect(),
        compressed: compressed
            .into_iter()
            .map(|(diff_id, layer)| Compressed { diff_id, layer })
            .collect(),
    };
    let config = store.put_bytes(&to_canonical_json(&config)?, MEDIA_TYPE_BUILD_CACHE_CONFIG)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: Some(ARTIFACT_TYPE_BUILD_CACHE.into()),
        config,
        layers: blobs,
        subject: None,
        annotations: BTreeMap::new(),
    };
    store.put_bytes(&to_canonical_json(&manifest)?, MEDIA_TYPE_MANIFEST)
}

/// Where an imported cache's blobs come from (a registry, an OCI layout directory).
pub trait BlobSource: Send + Sync {
    /// Copies the blob `desc` into `store`, verified against its digest and size.
    fn fetch(&self, desc: &Descriptor, store: &Store) -> Result<(), String>;
}

/// A cache read with `--cache-from`: its records, and where to fetch their blobs.
pub struct ImportedCache {
    name: String,
    records: BTreeMap<(String, String), Option<(Descriptor, Digest)>>,
    compressed: BTreeMap<Digest, Descriptor>,
    blobs: BTreeSet<Digest>,
    source: Box<dyn BlobSource>,
}

impl std::fmt::Debug for ImportedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedCache")
            .field("name", &self.name)
            .field("records", &self.records.len())
            .finish()
    }
}

impl ImportedCache {
    /// The cache `manifest` describes (its config's bytes `config`, already verified
    /// against the manifest), named `name` in warnings. An artifact of another type or
    /// version, or a config that does not parse, is an error (the caller warns and goes
    /// on without it); records naming a blob the manifest does not list are dropped.
    pub fn new(
        name: &str,
        manifest: &Manifest,
        config: &[u8],
        source: Box<dyn BlobSource>,
    ) -> Result<ImportedCache, String> {
        if manifest.config.media_type != MEDIA_TYPE_BUILD_CACHE_CONFIG {
            return Err(format!(
                "not a lading build cache (config media type {:?}, artifact type {:?})",
                manifest.config.media_type,
                manifest.artifact_type.as_deref().unwrap_or("")
            ));
        }
        let parsed: CacheConfig =
            serde_json::from_slice(config).map_err(|e| format!("its records do not parse: {e}"))?;
        if parsed.version != FORMAT_VERSION {
            return Err(format!(
                "cache format version {} (this lading reads {FORMAT_VERSION})",
                parsed.version
            ));
        }
        let blobs: BTreeSet<Digest> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
        let compressed: BTreeMap<Digest, Descriptor> = parsed
            .compressed
            .into_iter()
            .filter(|c| {
                c.layer.media_type == MEDIA_TYPE_LAYER_GZIP && blobs.contains(&c.layer.digest)
            })
            .map(|c| (c.diff_id, c.layer))
            .collect();
        let mut records = BTreeMap::new();
        for r in parsed.records {
            if !RECORD_KINDS.contains(&r.kind.as_str())
                || r.key.len() != 64
                || !r.key.bytes().all(|b| b.is_ascii_hexdigit())
            {
                continue;
            }
            let available = match &r.layer {
                None => true,
                Some((d, diff_id)) => blobs.contains(&d.digest) || compressed.contains_key(diff_id),
            };
            if available {
                records.insert((r.kind, r.key), r.layer);
            }
        }
        Ok(ImportedCache {
            name: name.to_string(),
            records,
            compressed,
            blobs,
            source,
        })
    }

    /// The name warnings give the cache.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The record of `kind` under `key`.
    pub(crate) fn record(&self, kind: &str, key: &str) -> Option<&Option<(Descriptor, Digest)>> {
        self.records.get(&(kind.to_string(), key.to_string()))
    }

    /// The gzip blob of the uncompressed layer `diff_id`, fetched into `store`.
    /// `Ok(None)`: the cache has none.
    pub(crate) fn fetch_compressed(
        &self,
        store: &Store,
        diff_id: &Digest,
    ) -> Result<Option<Descriptor>, String> {
        let Some(gz) = self.compressed.get(diff_id) else {
            return Ok(None);
        };
        if !store.has(&gz.digest) {
            self.source.fetch(gz, store)?;
        }
        Ok(Some(gz.clone()))
    }

    /// Makes the layer `layer` (diff-id `diff_id`) present in `store`: fetched as it is,
    /// or as its gzip blob, decompressed and checked against the diff-id. `Ok(false)`:
    /// the cache has neither.
    pub(crate) fn fetch_layer(
        &self,
        store: &Store,
        layer: &Descriptor,
        diff_id: &Digest,
    ) -> Result<bool, String> {
        if self.blobs.contains(&layer.digest) {
            self.source.fetch(layer, store)?;
            return Ok(true);
        }
        let uncompressed = layer.digest == *diff_id;
        if !uncompressed {
            return Ok(false);
        }
        let Some(gz) = self.fetch_compressed(store, diff_id)? else {
            return Ok(false);
        };
        let file = store
            .open_blob(&gz.digest)
            .map_err(|e| format!("opening {}: {e}", gz.digest))?;
        let tar =
            flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file));
        store
            .put_reader(tar, Some((&layer.digest, layer.size)))
            .map_err(|e| format!("decompressing {} to layer {}: {e}", gz.digest, layer.digest))?;
        record_gzip(store, diff_id, &gz);
        Ok(true)
    }
}

/// Records `gz` as the gzip blob of the uncompressed layer `diff_id` in the store's gzip
/// cache (as [`lading_oci::layer::compress_layer`] does), so exporting the image does
/// not compress it again. Only a shortcut: failing to write it costs a compression.
pub(crate) fn record_gzip(store: &Store, diff_id: &Digest, gz: &Descriptor) {
    let path = store.private_dir().join("cache/gzip").join(diff_id.hex());
    if let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec(gz)) {
        let _ = std::fs::create_dir_all(dir);
        let _ = lading_oci::store::write_atomic(&path, &bytes);
    }
}

/// The caches a build imports, in `--cache-from` order.
pub type Imports = Vec<Arc<ImportedCache>>;

#[cfg(test)]
mod tests {
    use super::*;

    struct NoBlobs;
    impl BlobSource for NoBlobs {
        fn fetch(&self, d: &Descriptor, _: &Store) -> Result<(), String> {
            Err(format!("no blob {}", d.digest))
        }
    }

    fn manifest(config: &[u8], media_type: &str, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            artifact_type: Some(ARTIFACT_TYPE_BUILD_CACHE.into()),
            config: Descriptor::new(media_type, Digest::of(config), config.len() as u64),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn a_foreign_artifact_or_version_is_refused_and_unlisted_blobs_are_dropped() {
        let m = manifest(b"{}", lading_oci::constants::MEDIA_TYPE_CONFIG, Vec::new());
        let e = ImportedCache::new("x", &m, b"{}", Box::new(NoBlobs)).unwrap_err();
        assert!(e.contains("not a lading build cache"), "{e}");
        let cfg = br#"{"version":2,"records":[],"compressed":[]}"#;
        let m = manifest(cfg, MEDIA_TYPE_BUILD_CACHE_CONFIG, Vec::new());
        let e = ImportedCache::new("x", &m, cfg, Box::new(NoBlobs)).unwrap_err();
        assert!(e.contains("version 2"), "{e}");
        let e = ImportedCache::new("x", &m, b"[1", Box::new(NoBlobs)).unwrap_err();
        assert!(e.contains("do not parse"), "{e}");

        let listed = Descriptor::new(MEDIA_TYPE_LAYER_GZIP, Digest::of(b"a"), 1);
        let unlisted = Descriptor::new(MEDIA_TYPE_LAYER_GZIP, Digest::of(b"b"), 1);
        let key = |c: char| c.to_string().repeat(64);
        let config = CacheConfig {
            version: FORMAT_VERSION,
            records: vec![
                Record {
                    kind: "run".into(),
                    key: key('a'),
                    layer: Some((listed.clone(), Digest::of(b"A"))),
                },
                Record {
                    kind: "run".into(),
                    key: key('b'),
                    layer: Some((unlisted, Digest::of(b"B"))),
                },
                Record {
                    kind: "workdir".into(),
                    key: key('c'),
                    layer: None,
                },
                Record {
                    kind: "mounts".into(),
                    key: key('d'),
                    layer: None,
                },
                Record {
                    kind: "run".into(),
                    key: "../../etc".into(),
                    layer: None,
                },
            ],
            compressed: Vec::new(),
        };
        let bytes = serde_json::to_vec(&config).unwrap();
        let m = manifest(&bytes, MEDIA_TYPE_BUILD_CACHE_CONFIG, vec![listed]);
        let c = ImportedCache::new("x", &m, &bytes, Box::new(NoBlobs)).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.record("run", &key('a')).is_some());
        assert!(
            c.record("run", &key('b')).is_none(),
            "blob not in the manifest"
        );
        assert!(c.record("workdir", &key('c')).is_some());
        assert!(c.record("mounts", &key('d')).is_none(), "unknown kind");
    }
}
