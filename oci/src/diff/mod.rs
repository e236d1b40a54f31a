//! Comparing two images: index → manifest → config → layers → files
//! (`lading diff`, and the engine `lading reproduce` names a mismatch's cause with).
//!
//! Each difference is reported once, at the level where it starts: a changed file is a
//! [`Level::File`] difference of the layer pair it is in, not also a changed layer
//! digest, a changed `rootfs.diff_ids` entry and a changed manifest digest. Layers are
//! paired by position when both images have as many (else by digest, see
//! [`layers::align`]); a pair with the same digest is skipped without reading either
//! blob. Other pairs are streamed once each (decompressed on the fly, the blob's digest
//! and size checked as it streams), and compared entry by entry in memory: nothing is
//! written to disk, entry paths are only ever map keys (`..` and absolute names cannot
//! reach a file system), and file content is hashed, not kept — except files of at most
//! [`DiffOptions::text_limit`] bytes of UTF-8 text, for a unified diff.
//!
//! The merged file system is not compared separately: a file that differs in the final
//! image differs in some layer pair first, and is reported there, with the layer's index
//! and the history entry (`created_by`) that made it.

mod layers;
mod meta;
pub mod source;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::Result;
use crate::spec::{Descriptor, Platform};

pub use source::{BlobSource, LayoutSource, StoreSource};

/// Where a difference starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    /// The image index (multi-platform images).
    Index,
    /// The manifest: media types, annotations, subject, config descriptor.
    Manifest,
    /// The config: platform, runtime config, history, …
    Config,
    /// A whole layer: added, removed, or the same files in other bytes.
    Layer,
    /// One entry of a layer pair.
    File,
}

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Kind {
    /// A JSON field of the index, manifest or config (`field` names it).
    Field,
    /// An annotation (`field` is `annotations[KEY]`).
    Annotation,
    /// An environment variable (`field` is `config.Env[NAME]`).
    Env,
    /// A label (`field` is `config.Labels[KEY]`).
    Label,
    /// A history entry or the number of entries (`field` is `history[N].FIELD`).
    History,
    /// A platform of an index only one side has.
    Platform,
    /// A layer only B has.
    LayerAdded,
    /// A layer only A has.
    LayerRemoved,
    /// The same files, other bytes: compression, tar entry order or tar framing
    /// (`note` says which).
    LayerBytes,
    /// An entry only B's layer has.
    Added,
    /// An entry only A's layer has.
    Removed,
    /// The file type (regular, directory, symlink, hard link, device, fifo, whiteout).
    Type,
    /// Regular file content (sha256 and size; `unifiedDiff` for small text files).
    Content,
    /// Permission bits (`0o7777`).
    Mode,
    /// Owner: uid, gid, user or group name.
    Owner,
    /// Modification time (also atime/ctime PAX records).
    Mtime,
    /// An extended attribute (`field` is `xattr[NAME]`).
    Xattr,
    /// Symlink or hard-link target.
    LinkTarget,
    /// Device numbers.
    Device,
    /// Tar header details that do not change the file (header format, type bits of the
    /// mode field, other PAX records); not reported with `semantic`.
    TarHeader,
    /// The same path appears another number of times in the layer.
    Duplicate,
}

/// Which layers a layer or file difference is about, with what made them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerPos {
    /// Index in A's manifest (`None`: only B has the layer).
    pub a: Option<usize>,
    /// Index in B's manifest.
    pub b: Option<usize>,
    /// A's layer digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_a: Option<Digest>,
    /// B's layer digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_b: Option<Digest>,
    /// Index of the history entry of A that made the layer (non-empty entries in order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_a: Option<usize>,
    /// Same for B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_b: Option<usize>,
    /// That history entry's `created_by` in A (e.g. `RUN /bin/sh -c make`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_a: Option<String>,
    /// Same for B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_b: Option<String>,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// Where it starts.
    pub level: Level,
    /// What differs.
    pub kind: Kind,
    /// The field (`annotations[KEY]`, `config.Cmd`, `history[2].created_by`, `mode`,
    /// `xattr[user.x]`, …); empty when the kind says it all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
    /// The layer pair (layer and file levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerPos>,
    /// The entry path in the layer, without leading `/` or `./` (file level; a whiteout
    /// keeps its `.wh.` name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A's value (`null`: absent).
    pub a: Option<Value>,
    /// B's value.
    pub b: Option<Value>,
    /// More words (why layer bytes differ, what a whiteout deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A unified diff of a small text file's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_diff: Option<String>,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// What the user named.
    pub name: String,
    /// The digest it resolved to (an index's, for a multi-platform image).
    pub digest: Digest,
    /// The manifest compared.
    pub manifest: Digest,
    /// Layer count.
    pub layers: usize,
}

/// The result: every difference, sorted (level, layer, path, kind, field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    /// Image A.
    pub a: Side,
    /// Image B.
    pub b: Side,
    /// Whether the options made it a semantic comparison.
    pub semantic: bool,
    /// Layer pairs read and compared.
    pub layers_read: usize,
    /// Layer pairs skipped because both sides had the same digest.
    pub layers_skipped: usize,
    /// The differences.
    pub differences: Vec<Difference>,
}

impl Diff {
    /// No difference at all.
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }
}

/// How to compare.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Ignore what does not change the image's meaning (diffoci's `--semantic`):
    /// timestamps (file mtime/atime/ctime, config and history `created`, the
    /// `org.opencontainers.image.created` annotation), image-name annotations, tar
    /// header details, entry order, compression. History `created_by` still counts.
    pub semantic: bool,
    /// Largest file (bytes) kept for a unified diff.
    pub text_limit: u64,
    /// Most lines of one unified diff.
    pub max_diff_lines: usize,
    /// The platform to compare when an image is an index.
    pub platform: Platform,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            semantic: false,
            text_limit: 64 * 1024,
            max_diff_lines: 200,
            platform: Platform::host(),
        }
    }
}

/// An image to compare: where its blobs are, and its root descriptor.
pub struct Input<'a> {
    /// What the user named (for the report).
    pub name: String,
    /// The blobs.
    pub source: &'a dyn BlobSource,
    /// The index or manifest.
    pub root: Descriptor,
}

/// Compares two images.
pub fn diff(a: &Input<'_>, b: &Input<'_>, opts: &DiffOptions) -> Result<Diff> {
    let mut out = Vec::new();
    let ma = meta::resolve(a, opts, &mut out, b)?;
    let (ma, mb) = (ma.0, ma.1);
    meta::manifests(&ma, &mb, opts, &mut out);
    meta::configs(&ma.config, &mb.config, opts, &mut out);
    let (read, skipped) = layers::compare(a.source, &ma, b.source, &mb, opts, &mut out)?;
    sort(&mut out);
    Ok(Diff {
        a: Side {
            name: a.name.clone(),
            digest: a.root.digest.clone(),
            manifest: ma.desc.digest.clone(),
            layers: ma.manifest.layers.len(),
        },
        b: Side {
            name: b.name.clone(),
            digest: b.root.digest.clone(),
            manifest: mb.desc.digest.clone(),
            layers: mb.manifest.layers.len(),
        },
        semantic: opts.semantic,
        layers_read: read,
        layers_skipped: skipped,
        differences: out,
    })
}

fn sort(v: &mut [Difference]) {
    v.sort_by(|x, y| {
        let lx = x.layer.as_ref().map(|l| (l.a.or(l.b), l.b.or(l.a)));
        let ly = y.layer.as_ref().map(|l| (l.a.or(l.b), l.b.or(l.a)));
        (x.level, lx, &x.path, x.kind, &x.field).cmp(&(y.level, ly, &y.path, y.kind, &y.field))
    });
}

/// Counts by level, for summaries.
pub fn counts(d: &Diff) -> BTreeMap<Level, usize> {
    let mut m = BTreeMap::new();
    for x in &d.differences {
        *m.entry(x.level).or_insert(0) += 1;
    }
    m
}
