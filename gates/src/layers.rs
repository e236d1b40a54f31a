//! Streaming an image's layers: every entry of every layer, in order, with the layer it
//! came from (image-spec "Applying Changesets"). Nothing is unpacked to disk.
//!
//! Two ways to read:
//! - [`walk`] hands every tar entry (whiteouts included, as [`Kind::Whiteout`] and
//!   [`Kind::Opaque`]) to a callback, with a reader for file content: the secrets scan
//!   uses it, because a secret in a file that a later layer deletes is still shipped.
//! - [`collect`] keeps the content of the files a predicate selects *as the final image
//!   shows them*: later layers replace earlier files, whiteouts and opaque directories
//!   remove them. Catalogers use it (`var/lib/dpkg/status`, `package.json`, ...).

use std::collections::BTreeMap;
use std::io::Read;

use lading_oci::hash::verification_error;
use lading_oci::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use lading_oci::unpack::open_layer_verified;
use lading_oci::{Image, Store};

use crate::error::{Error, Result};

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
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
                for rest in &layers[index + 1..] {
                    store.verify_blob(&rest.digest)?;
                }
                return Ok(());
            }
        }
        // The tar end marker may come before the end of the blob: read it all, so the
        // digest check at its end runs.
        drain(archive, &io)?;
    }
    Ok(())
}

fn drain(archive: tar::Archive<Box<dyn Read>>, io: &dyn Fn(std::io::Error) -> Error) -> Result<()> {
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(io)?;
    Ok(())
}

/// A file as the final image shows it.
#[derive(Debug, Clone)]
pub struct File {
    /// The entry that wrote it last.
    pub entry: Entry,
    /// Its content.
    pub data: Vec<u8>,
}

/// What [`scan`] kept for one path of the final image.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The entry that wrote the path last.
    pub entry: Entry,
    /// What the callback made of it.
    pub value: T,
}

/// The callback of [`scan`]: an entry, its content, and for a hard link the value kept
/// for its target.
pub type ScanFn<'a, T> = dyn FnMut(&Entry, &mut dyn Read, Option<&T>) -> Result<Option<T>> + 'a;

/// Streams every layer once and keeps, for each path of the *final* image, what `f`
/// made of the entry that wrote it last: later layers replace earlier values, whiteouts
/// and opaque directories remove them, and a non-directory entry replacing a directory
/// removes what was kept below it.
///
/// `f` sees regular files (with a reader for their content) and hard links (with an
/// empty reader and, as `linked`, the value kept for the link's target, if any); it
/// returns `Some(value)` to keep something for the path. Catalogers use this to parse
/// files as they stream past instead of holding their bytes.
pub fn scan<T: Clone>(
    store: &Store,
    image: &Image,
    f: &mut ScanFn<'_, T>,
) -> Result<BTreeMap<String, Found<T>>> {
    let mut kept: BTreeMap<String, Found<T>> = BTreeMap::new();
    walk(store, image, &mut |entry, reader| {
        match &entry.kind {
            Kind::Whiteout => remove_tree(&mut kept, &entry.path),
            Kind::Opaque => remove_tree_below(&mut kept, &entry.path, entry.layer),
            Kind::Dir => {
                kept.remove(&entry.path);
            }
            Kind::File => {
                remove_tree(&mut kept, &entry.path);
                if let Some(value) = f(entry, reader, None)? {
                    kept.insert(
                        entry.path.clone(),
                        Found {
                            entry: entry.clone(),
                            value,
                        },
                    );
                }
            }
            Kind::Hardlink(target) => {
                let linked = kept.get(target).map(|t| t.value.clone());
                remove_tree(&mut kept, &entry.path);
                if let Some(value) = f(entry, &mut std::io::empty(), linked.as_ref())? {
                    kept.insert(
                        entry.path.clone(),
                        Found {
                            entry: entry.clone(),
                            value,
                        },
                    );
                }
            }
            Kind::Symlink(_) | Kind::Other => remove_tree(&mut kept, &entry.path),
        }
        Ok(Flow::Continue)
    })?;
    Ok(kept)
}

/// Removes `path` and everything below it.
fn remove_tree<T>(kept: &mut BTreeMap<String, Found<T>>, path: &str) {
    kept.remove(path);
    remove_tree_below(kept, path, usize::MAX);
}

/// Removes what is below `dir`, except what `layer` itself wrote (an opaque marker
/// hides lower layers only).
fn remove_tree_below<T>(kept: &mut BTreeMap<String, Found<T>>, dir: &str, layer: usize) {
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

/// The content of every file of the final image for which `select(path, size)` is true,
/// keyed by path. Files larger than `max_size` are skipped (their metadata is not
/// returned either). Hard links to a selected file get its content.
pub fn collect(
    store: &Store,
    image: &Image,
    select: &dyn Fn(&str, u64) -> bool,
    max_size: u64,
) -> Result<BTreeMap<String, File>> {
    let kept = scan(
        store,
        image,
        &mut |entry, reader, linked: Option<&Vec<u8>>| match &entry.kind {
            Kind::File if entry.size <= max_size && select(&entry.path, entry.size) => {
                let mut data = Vec::with_capacity(entry.size as usize);
                reader
                    .read_to_end(&mut data)
                    .map_err(|source| Error::Layer {
                        layer: entry.layer_digest.clone(),
                        source,
                    })?;
                Ok(Some(data))
            }
            Kind::Hardlink(_) if select(&entry.path, 0) => Ok(linked.cloned()),
            _ => Ok(None),
        },
    )?;
    Ok(kept
        .into_iter()
        .map(|(path, found)| {
            let mut entry = found.entry;
            entry.kind = Kind::File;
            entry.size = found.value.len() as u64;
            (
                path,
                File {
                    entry,
                    data: found.value,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{file, image};
    use lading_oci::Store;
    use lading_oci::layer::Entry as LayerEntry;

    #[test]
    fn collect_honours_whiteouts_and_opaque_dirs() {
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
        let files = collect(&store, &img, &|_, _| true, 1 << 20).unwrap();
        let got: Vec<(&str, &[u8], usize)> = files
            .iter()
            .map(|(p, f)| (p.as_str(), f.data.as_slice(), f.entry.layer))
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
