//! Image sources: the store itself, OCI layout directories, OCI archives, docker
//! archives and scratch. Every source copies what it yields into the store, verifying
//! each blob's digest on the way in, and then answers with an [`Image`] read from the
//! store: nothing downstream reads image bytes from a place someone else can write to.
//! Remote registries implement [`ImageSource`] in the registry crate.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::constants::{
    ANNOTATION_REF_NAME, MAX_JSON_BLOB, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{Image, is_index, select_platform};
use crate::spec::{
    Descriptor, ImageConfig, Index, Manifest, Platform, from_json, to_canonical_json,
};
use crate::store::Store;

/// Something an image can be fetched from.
pub trait ImageSource {
    /// The reference as the user wrote it (for messages and `base.name`).
    fn name(&self) -> String;
    /// Copies the image for `platform` into `store` and returns it; `None` for scratch.
    fn fetch(&self, store: &Store, platform: &Platform) -> Result<Option<Image>>;

    /// Like [`ImageSource::fetch`], with the digest the reference resolved to: the index's
    /// when it names a multi-platform image (what BuildKit records as
    /// `org.opencontainers.image.base.digest`), else the manifest's.
    fn fetch_resolved(
        &self,
        store: &Store,
        platform: &Platform,
    ) -> Result<Option<(Image, Digest)>> {
        Ok(self.fetch(store, platform)?.map(|i| {
            let d = i.descriptor.digest.clone();
            (i, d)
        }))
    }
}

/// A parsed local image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// The empty image.
    Scratch,
    /// A tag (`name[:tag]`) or digest in the store.
    Store(String),
    /// `oci:DIR[:tag]`.
    OciDir {
        /// Layout directory.
        dir: PathBuf,
        /// Tag (`org.opencontainers.image.ref.name`).
        tag: Option<String>,
    },
    /// `oci-archive:FILE[:tag]`.
    OciArchive {
        /// Archive file.
        file: PathBuf,
        /// Tag.
        tag: Option<String>,
    },
    /// `docker-archive:FILE[:name:tag]`.
    DockerArchive {
        /// Archive file.
        file: PathBuf,
        /// Which `RepoTags` entry, when the archive holds several images.
        tag: Option<String>,
    },
}

impl SourceRef {
    /// Parses a reference; anything without a transport prefix is a store reference.
    pub fn parse(s: &str) -> SourceRef {
        let split = |rest: &str| -> (PathBuf, Option<String>) {
            match rest.split_once(':') {
                Some((p, t)) if !t.is_empty() => (PathBuf::from(p), Some(t.to_string())),
                _ => (PathBuf::from(rest.trim_end_matches(':')), None),
            }
        };
        if s == "scratch" {
            SourceRef::Scratch
        } else if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split(rest);
            SourceRef::OciDir { dir, tag }
        } else if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, tag) = split(rest);
            SourceRef::OciArchive { file, tag }
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, tag) = split(rest);
            SourceRef::DockerArchive { file, tag }
        } else {
            SourceRef::Store(s.to_string())
        }
    }
}

/// Normalises a store tag the way docker names images: `name` means `name:latest`.
pub fn normalize_tag(name: &str) -> String {
    if name.contains('@') {
        return name.to_string();
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Finds a tag or digest in the store.
pub fn resolve_in_store(store: &Store, reference: &str) -> Result<Option<Descriptor>> {
    if let Ok(d) = reference.parse::<Digest>() {
        return Ok(descriptor_for_blob(store, &d));
    }
    if let Some((_, digest)) = reference.split_once('@') {
        let d: Digest = digest.parse()?;
        return Ok(descriptor_for_blob(store, &d));
    }
    store.resolve_tag(&normalize_tag(reference))
}

fn descriptor_for_blob(store: &Store, d: &Digest) -> Option<Descriptor> {
    let bytes = store.read_blob(d).ok()?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("mediaType")
        .and_then(|m| m.as_str().map(String::from))
        .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string());
    Some(Descriptor::new(media_type, d.clone(), bytes.len() as u64))
}

impl ImageSource for SourceRef {
    fn name(&self) -> String {
        match self {
            SourceRef::Scratch => "scratch".into(),
            SourceRef::Store(s) => s.clone(),
            SourceRef::OciDir { dir, tag } => with_tag("oci", dir, tag),
            SourceRef::OciArchive { file, tag } => with_tag("oci-archive", file, tag),
            SourceRef::DockerArchive { file, tag } => with_tag("docker-archive", file, tag),
        }
    }

    fn fetch(&self, store: &Store, platform: &Platform) -> Result<Option<Image>> {
        match self {
            SourceRef::Scratch => Ok(None),
            SourceRef::Store(r) => {
                let desc = resolve_in_store(store, r)?.ok_or_else(|| Error::ImageNotFound {
                    reference: r.clone(),
                    hint: " in the local store".into(),
                })?;
                Image::load(store, &desc, platform).map(Some)
            }
            SourceRef::OciDir { dir, tag } => {
                import_layout(store, dir, tag.as_deref(), platform).map(Some)
            }
            SourceRef::OciArchive { file, tag } => {
                let tmp = extract_to_temp(store, file)?;
                import_layout(store, tmp.path(), tag.as_deref(), platform).map(Some)
            }
            SourceRef::DockerArchive { file, tag } => {
                let tmp = extract_to_temp(store, file)?;
                import_docker_archive(store, tmp.path(), tag.as_deref()).map(Some)
            }
        }
    }
}

fn with_tag(t: &str, p: &Path, tag: &Option<String>) -> String {
    match tag {
        Some(tag) => format!("{t}:{}:{tag}", p.display()),
        None => format!("{t}:{}", p.display()),
    }
}

/// Copies the image `tag` (or the layout's only image) of an OCI layout into the store.
pub fn import_layout(
    store: &Store,
    dir: &Path,
    tag: Option<&str>,
    platform: &Platform,
) -> Result<Image> {
    let what = dir.display().to_string();
    let desc = layout_descriptor(dir, tag)?;
    copy_image(store, &desc, platform, &what, &layout_opener(dir))
}

/// Copies the whole graph of `tag` (or the layout's only image) of an OCI layout into
/// the store, every platform of an index included, and returns its descriptor: the
/// digest stays what it is in the layout.
pub fn import_layout_all(store: &Store, dir: &Path, tag: Option<&str>) -> Result<Descriptor> {
    let mut desc = layout_descriptor(dir, tag)?;
    copy_graph(store, &desc, &layout_opener(dir), 0)?;
    desc.annotations.clear();
    Ok(desc)
}

/// Copies the whole graph of `tag` of an OCI archive into the store (see
/// [`import_layout_all`]).
pub fn import_oci_archive_all(store: &Store, file: &Path, tag: Option<&str>) -> Result<Descriptor> {
    let tmp = extract_to_temp(store, file)?;
    import_layout_all(store, tmp.path(), tag)
}

/// Imports a `docker save` archive into the store (as an OCI manifest) and returns it.
pub fn import_docker_archive_file(store: &Store, file: &Path, tag: Option<&str>) -> Result<Image> {
    let tmp = extract_to_temp(store, file)?;
    import_docker_archive(store, tmp.path(), tag)
}

/// Copies the graph under `desc` from `open` into the store, verifying every blob.
fn copy_graph(
    store: &Store,
    desc: &Descriptor,
    open: &dyn Fn(&Descriptor) -> Result<File>,
    depth: usize,
) -> Result<()> {
    if depth > 8 {
        return Err(Error::Invalid {
            what: format!("index {}", desc.digest),
            reason: "indexes nested more than 8 deep".into(),
        });
    }
    if desc.size > MAX_JSON_BLOB {
        return Err(Error::TooLarge {
            what: format!("manifest {}", desc.digest),
            size: desc.size,
            limit: MAX_JSON_BLOB,
        });
    }
    store.put_reader(open(desc)?, Some((&desc.digest, desc.size)))?;
    let bytes = store.read_blob(&desc.digest)?;
    match crate::graph::Node::parse(&desc.media_type, &bytes)? {
        crate::graph::Node::Index(index) => {
            for child in &index.manifests {
                copy_graph(store, child, open, depth + 1)?;
            }
        }
        crate::graph::Node::Manifest(m) => {
            for blob in std::iter::once(&m.config).chain(&m.layers) {
                if !store.has(&blob.digest) {
                    store.put_reader(open(blob)?, Some((&blob.digest, blob.size)))?;
                }
            }
        }
    }
    Ok(())
}

fn layout_opener(dir: &Path) -> impl Fn(&Descriptor) -> Result<File> + '_ {
    move |d: &Descriptor| -> Result<File> {
        let p = dir
            .join("blobs")
            .join(d.digest.algorithm().name())
            .join(d.digest.hex());
        File::open(&p).map_err(Error::io("opening", p))
    }
}

/// The descriptor `tag` names in a layout's `index.json` (the only entry without a tag).
pub fn layout_descriptor(dir: &Path, tag: Option<&str>) -> Result<Descriptor> {
    let what = dir.display().to_string();
    let index: Index = from_json(&read_small(&dir.join("index.json"))?, "index.json")?;
    let desc = match tag {
        Some(t) => index
            .manifests
            .iter()
            .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(t))
            .cloned()
            .ok_or_else(|| Error::ImageNotFound {
                reference: format!("{what}:{t}"),
                hint: format!(" (tags: {})", layout_tags(&index).join(", ")),
            })?,
        None => match index.manifests.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(Error::ImageNotFound {
                    reference: what,
                    hint: " (the layout is empty)".into(),
                });
            }
            _ => {
                return Err(Error::ImageNotFound {
                    reference: what,
                    hint: format!(
                        " (several images; name one with :tag, tags: {})",
                        layout_tags(&index).join(", ")
                    ),
                });
            }
        },
    };
    Ok(desc)
}

fn layout_tags(index: &Index) -> Vec<String> {
    index
        .manifests
        .iter()
        .filter_map(|d| d.annotations.get(ANNOTATION_REF_NAME).cloned())
        .collect()
}

/// Copies the manifest `desc` (resolving an index to `platform`) with its config and
/// layers from `open` into the store, verifying every digest and size.
pub fn copy_image(
    store: &Store,
    desc: &Descriptor,
    platform: &Platform,
    what: &str,
    open: &dyn Fn(&Descriptor) -> Result<File>,
) -> Result<Image> {
    if desc.size > MAX_JSON_BLOB {
        return Err(Error::TooLarge {
            what: format!("manifest {}", desc.digest),
            size: desc.size,
            limit: MAX_JSON_BLOB,
        });
    }
    let put = |d: &Descriptor| -> Result<()> {
        let file = open(d)?;
        // Content-addressed and verified on the way in: a blob the store already holds
        // (same size) need not be read again; a big base layer would be hashed or
        // drained on every build that names the layout.
        if store.has(&d.digest)
            && std::fs::metadata(store.blob_path(&d.digest)).is_ok_and(|m| m.len() == d.size)
        {
            return Ok(());
        }
        store.put_reader(file, Some((&d.digest, d.size)))?;
        Ok(())
    };
    put(desc)?;
    let bytes = store.read_blob(&desc.digest)?;
    if is_index(&desc.media_type, &bytes) {
        let index: Index = from_json(&bytes, "image index")?;
        let child = select_platform(&index, platform, what)?;
        return copy_image(store, &child, platform, what, open);
    }
    let manifest: Manifest = from_json(&bytes, "image manifest")?;
    put(&manifest.config)?;
    for layer in &manifest.layers {
        put(layer)?;
    }
    Image::load(store, desc, platform)
}

fn read_small(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).map_err(Error::io("opening", path))?;
    let mut v = Vec::new();
    f.take(MAX_JSON_BLOB + 1)
        .read_to_end(&mut v)
        .map_err(Error::io("reading", path))?;
    if v.len() as u64 > MAX_JSON_BLOB {
        return Err(Error::TooLarge {
            what: path.display().to_string(),
            size: v.len() as u64,
            limit: MAX_JSON_BLOB,
        });
    }
    Ok(v)
}

/// Unpacks an OCI or docker archive into a temp dir in the store's private area (see
/// [`extract_to_temp`]); deleted when the returned directory is dropped.
pub fn extract_archive(store: &Store, archive: &Path) -> Result<tempfile::TempDir> {
    extract_to_temp(store, archive)
}

/// Unpacks an archive of an image (OCI or docker) into a temp dir in the store's private
/// area. Only regular files, directories and in-archive symlinks (resolved to copies) are
/// accepted; any entry leaving the root is an error.
fn extract_to_temp(store: &Store, archive: &Path) -> Result<tempfile::TempDir> {
    let what = archive.display().to_string();
    let tmp = store.temp_dir("archive")?;
    let file = File::open(archive).map_err(Error::io("opening", archive))?;
    let mut tar = tar::Archive::new(file);
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    let entries = tar.entries().map_err(Error::io("reading", archive))?;
    for entry in entries {
        let mut entry = entry.map_err(Error::io("reading", archive))?;
        let raw = entry
            .path()
            .map_err(Error::io("reading", archive))?
            .into_owned();
        let rel = safe_relative(&raw).ok_or_else(|| Error::UnsafePath {
            path: raw.display().to_string(),
            what: what.clone(),
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = tmp.path().join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&dest).map_err(Error::io("creating", &dest))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = dest.parent() {
                    fs::create_dir_all(p).map_err(Error::io("creating", p))?;
                }
                let mut out = File::create(&dest).map_err(Error::io("creating", &dest))?;
                std::io::copy(&mut entry, &mut out).map_err(Error::io("writing", &dest))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(Error::io("reading", archive))?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let base = if entry.header().entry_type() == tar::EntryType::Link {
                    PathBuf::new()
                } else {
                    rel.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                let resolved =
                    safe_relative(&base.join(&target)).ok_or_else(|| Error::UnsafePath {
                        path: format!("{} -> {}", raw.display(), target.display()),
                        what: what.clone(),
                    })?;
                links.push((rel, resolved));
            }
            _ => {}
        }
    }
    for (link, target) in links {
        let (src, dst) = (tmp.path().join(&target), tmp.path().join(&link));
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p).map_err(Error::io("creating", p))?;
        }
        if fs::symlink_metadata(&src).is_ok_and(|m| m.is_file()) {
            fs::copy(&src, &dst).map_err(Error::io("copying", &src))?;
        }
    }
    Ok(tmp)
}

/// Resolves `a/./b/../c` lexically; `None` when it would leave the root or is absolute.
pub fn safe_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Imports an unpacked `docker save` archive: its config as-is, its layers as OCI
/// layers (uncompressed unless they are gzip already), under a new OCI manifest.
fn import_docker_archive(store: &Store, dir: &Path, tag: Option<&str>) -> Result<Image> {
    let what = dir.display().to_string();
    let entries: Vec<DockerArchiveEntry> =
        from_json(&read_small(&dir.join("manifest.json"))?, "manifest.json")?;
    let entry = match tag {
        Some(t) => entries.iter().find(|e| {
            e.repo_tags
                .iter()
                .flatten()
                .any(|r| r == t || normalize_tag(r) == normalize_tag(t))
        }),
        None => entries.first(),
    }
    .ok_or_else(|| Error::ImageNotFound {
        reference: format!("docker-archive:{what}"),
        hint: String::new(),
    })?;
    let inside = |p: &str| -> Result<PathBuf> {
        safe_relative(Path::new(p))
            .map(|r| dir.join(r))
            .ok_or_else(|| Error::UnsafePath {
                path: p.into(),
                what: "manifest.json".into(),
            })
    };
    let config_bytes = read_small(&inside(&entry.config)?)?;
    let config: ImageConfig = from_json(&config_bytes, "docker archive config")?;
    let config_desc = store.put_bytes(&config_bytes, MEDIA_TYPE_CONFIG)?;
    let mut layers = Vec::new();
    for l in &entry.layers {
        let path = inside(l)?;
        let mut magic = [0u8; 2];
        let gz = File::open(&path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && magic == [0x1f, 0x8b];
        let f = File::open(&path).map_err(Error::io("opening", &path))?;
        let (digest, size) = store.put_reader(f, None)?;
        let mt = if gz {
            MEDIA_TYPE_LAYER_GZIP
        } else {
            MEDIA_TYPE_LAYER_TAR
        };
        layers.push(Descriptor::new(mt, digest, size));
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: None,
        config: config_desc,
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let desc = store.put_bytes(&to_canonical_json(&manifest)?, MEDIA_TYPE_MANIFEST)?;
    Image::load(store, &desc, &config.platform())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-layer image tagged `t` in a new store (an OCI layout) under `dir`.
    fn layout_with_image(dir: &Path) -> (Store, Descriptor) {
        let store = Store::open(dir).unwrap();
        let layer_bytes: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
        let layer = store.put_bytes(&layer_bytes, MEDIA_TYPE_LAYER_TAR).unwrap();
        let mut config = ImageConfig::default();
        config.rootfs.diff_ids.push(layer.digest.clone());
        let config = store
            .put_bytes(&to_canonical_json(&config).unwrap(), MEDIA_TYPE_CONFIG)
            .unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.to_string()),
            artifact_type: None,
            config,
            layers: vec![layer.clone()],
            subject: None,
            annotations: BTreeMap::new(),
        };
        let desc = store
            .put_bytes(&to_canonical_json(&manifest).unwrap(), MEDIA_TYPE_MANIFEST)
            .unwrap();
        store.tag("t", &desc).unwrap();
        (store, layer)
    }

    #[test]
    fn a_layout_blob_the_store_holds_is_not_read_again_but_must_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let (layout, layer) = layout_with_image(&tmp.path().join("layout"));
        let store = Store::open(tmp.path().join("store")).unwrap();
        let platform = Platform::host();
        import_layout(&store, layout.root(), Some("t"), &platform).unwrap();
        assert_eq!(store.verify_blob(&layer.digest).unwrap(), layer.size);

        // Same size, other bytes: the store's verified copy is used, and stays intact.
        let in_layout = layout.blob_path(&layer.digest);
        fs::write(&in_layout, vec![0u8; layer.size as usize]).unwrap();
        import_layout(&store, layout.root(), Some("t"), &platform).unwrap();
        assert_eq!(store.verify_blob(&layer.digest).unwrap(), layer.size);
        // A store without the blob still verifies it on the way in.
        let fresh = Store::open(tmp.path().join("fresh")).unwrap();
        assert!(import_layout(&fresh, layout.root(), Some("t"), &platform).is_err());

        // The layout must still hold every blob.
        fs::remove_file(&in_layout).unwrap();
        assert!(import_layout(&store, layout.root(), Some("t"), &platform).is_err());
    }
}
