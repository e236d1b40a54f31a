//! Streaming an image's layers: every entry of every layer, in order, with the layer it
//! came from (image-spec "Applying Changesets"). Nothing is unpacked to disk.
//!
//! [`walk`] (and [`walk_layer`], one layer) hands every tar entry (whiteouts included,
//! as [`Kind::Whiteout`] and [`Kind::Opaque`]) to a callback, with a reader for file
//! content. The gates read through [`crate::layer_cache`], which keeps what they learn
//! of each layer and works out the final image's view (later layers replace earlier
//! files, whiteouts and opaque directories remove them) from those per-layer results.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use lading_oci::hash::verification_error;
use lading_oci::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use lading_oci::unpack::open_layer_verified;
use lading_oci::{Descriptor, Image, Store};

use crate::error::{Error, Result};

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symlink to the target.
    Symlink(String),
    /// A hard link to another path (normalised like [`Entry::path`]).
    Hardlink(String),
    /// A whiteout: `path` is deleted from lower layers.
    Whiteout,
    /// An opaque marker: the children of `path` in lower layers are hidden.
    Opaque,
    /// A device, FIFO or anything else.
    Other,
}

/// One entry of one layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index of the layer in the manifest (0 = base).
    pub layer: usize,
    /// Digest of the layer blob (`sha256:...`).
    pub layer_digest: String,
    /// Path without leading `/` or `./` (for a whiteout: the path it deletes; for an
    /// opaque marker: the directory).
    pub path: String,
    /// Kind.
    pub kind: Kind,
    /// Size of the content (files).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
}

/// What the callback of [`walk`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop reading (the walk returns `Ok`).
    Stop,
}

/// `./a/b/` → `a/b`; `None` for the root itself or a name climbing out of it.
pub fn normalize(raw: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    (!out.is_empty()).then(|| out.join("/"))
}

fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Calls `f` with every entry of every layer of `image`, base first; for files, the
/// reader yields the content (it may be left unread).
///
/// Every layer blob is checked against its digest and size as it streams (the bytes
/// parsed are the bytes verified: no second read, no window for the file to change in
/// between). A mismatch fails the walk once the layer's end is reached, so a gate that
/// saw the entries of a bad layer still returns the error, never a verdict. When `f`
/// stops early, the rest of the image is verified before `walk` returns.
pub fn walk(
    store: &Store,
    image: &Image,
    f: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<Flow>,
) -> Result<()> {
    let layers = image.layers();
    for (index, layer) in layers.iter().enumerate() {
        if walk_layer(store, layer, index, f)? == Flow::Stop {
            for rest in &layers[index + 1..] {
                store.verify_blob(&rest.digest)?;
            }
            return Ok(());
        }
    }
    Ok(())
}

/// [`walk`] over one layer (`index` in its image): every entry, the blob checked against
/// its digest as it streams. Returns [`Flow::Stop`] when `f` stopped early (the rest of
/// the blob is still read and verified).
pub fn walk_layer(
    store: &Store,
    layer: &Descriptor,
    index: usize,
    f: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<Flow>,
) -> Result<Flow> {
    let digest = layer.digest.to_string();
    let io = |source: std::io::Error| {
        if let Some(mismatch) = verification_error(&source) {
            return Error::Oci(mismatch);
        }
        // A stream that does not parse may be a blob that is not what its digest
        // names (a decoder fails before the end, where the check runs): that is
        // the cause to report.
        match store.verify_blob(&layer.digest) {
            Err(e @ lading_oci::Error::DigestMismatch { .. }) => Error::Oci(e),
            _ => Error::Layer {
                layer: digest.clone(),
                source,
            },
        }
    };
    let reader = open_layer_verified(store, layer)?;
    let mut archive = tar::Archive::new(reader);
    for item in archive.entries().map_err(io)? {
        let mut item = item.map_err(io)?;
        let raw = String::from_utf8_lossy(&item.path_bytes()).into_owned();
        let Some(path) = normalize(&raw) else {
            continue;
        };
        let header = item.header();
        let (parent, name) = split(&path);
        let (path, kind) = if name == OPAQUE_MARKER {
            (parent.to_string(), Kind::Opaque)
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let p = if parent.is_empty() {
                hidden.to_string()
            } else {
                format!("{parent}/{hidden}")
            };
            (p, Kind::Whiteout)
        } else {
            let link = || {
                item.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            };
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink(link()),
                tar::EntryType::Link => Kind::Hardlink(normalize(&link()).unwrap_or_default()),
                _ => Kind::Other,
            };
            (path, kind)
        };
        let entry = Entry {
            layer: index,
            layer_digest: digest.clone(),
            path,
            size: if kind == Kind::File {
                header.size().unwrap_or(0)
            } else {
                0
            },
            kind,
            mode: header.mode().unwrap_or(0),
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
        };
        if f(&entry, &mut item)? == Flow::Stop {
            drop(item);
            drain(archive, &io)?;
            return Ok(Flow::Stop);
        }
    }
    // The tar end marker may come before the end of the blob: read it all, so the
    // digest check at its end runs.
    drain(archive, &io)?;
    Ok(Flow::Continue)
}

fn drain(archive: tar::Archive<Box<dyn Read>>, io: &dyn Fn(std::io::Error) -> Error) -> Result<()> {
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(io)?;
    Ok(())
}

/// What was kept for one path of the final image.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The entry that wrote the path last.
    pub entry: Entry,
    /// What was kept of it.
    pub value: T,
}

/// Removes `path` and everything below it.
pub(crate) fn remove_tree<T>(kept: &mut BTreeMap<String, Found<T>>, path: &str) {
    kept.remove(path);
    remove_tree_below(kept, path, usize::MAX);
}

/// Removes what is below `dir`, except what `layer` itself wrote (an opaque marker
/// hides lower layers only).
pub(crate) fn remove_tree_below<T>(kept: &mut BTreeMap<String, Found<T>>, dir: &str, layer: usize) {
    let prefix = format!("{dir}/");
    let below: Vec<String> = kept
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .filter(|(_, f)| f.entry.layer != layer)
        .map(|(p, _)| p.clone())
        .collect();
    for p in below {
        kept.remove(&p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_cache::{LayerCache, final_view, per_entry};
    use crate::testutil::{file, image};
    use lading_oci::Store;
    use lading_oci::layer::Entry as LayerEntry;

    #[test]
    fn the_final_view_honours_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let img = image(
            &store,
            vec![
                vec![
                    LayerEntry::dir("etc", 0o755, 0, 0),
                    file("etc/a", "gone"),
                    file("etc/keep", "kept"),
                    LayerEntry::dir("d", 0o755, 0, 0),
                    file("d/x", "hidden"),
                ],
                vec![
                    LayerEntry::dir("etc", 0o755, 0, 0),
                    LayerEntry::whiteout("etc/a"),
                    LayerEntry::dir("d", 0o755, 0, 0),
                    file("d/.wh..wh..opq", ""),
                    file("d/y", "new"),
                    file("etc/keep", "replaced"),
                ],
            ],
        );
        let layers = per_entry(
            &LayerCache::disabled(),
            &store,
            &img,
            "test",
            &mut |e, r| {
                let mut data = Vec::new();
                r.read_to_end(&mut data).unwrap();
                Ok((e.kind == Kind::File).then_some(data))
            },
        )
        .unwrap();
        let files = final_view(&layers, true);
        let got: Vec<(&str, &[u8], usize)> = files
            .iter()
            .map(|(p, f)| (p.as_str(), f.value.as_slice(), f.entry.layer))
            .collect();
        assert_eq!(
            got,
            vec![("d/y", &b"new"[..], 1), ("etc/keep", &b"replaced"[..], 1)]
        );
        // `walk` still sees the deleted file's bytes in the first layer.
        let mut seen = Vec::new();
        walk(&store, &img, &mut |e, r| {
            if e.kind == Kind::File {
                let mut s = String::new();
                r.read_to_string(&mut s).unwrap();
                seen.push(s);
            }
            Ok(Flow::Continue)
        })
        .unwrap();
        assert!(seen.contains(&"gone".to_string()) && seen.contains(&"hidden".to_string()));
    }

    #[test]
    fn normalize_names() {
        assert_eq!(normalize("./a/b/").as_deref(), Some("a/b"));
        assert_eq!(
            normalize("/etc/os-release").as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(normalize("./"), None);
        assert_eq!(normalize("../x"), None);
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
    }
}
