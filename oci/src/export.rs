//! Writing an image out of the store: OCI layout directory, OCI archive and docker
//! archive (`docker load`). Archives are deterministic tar streams (sorted, fixed modes,
//! owners and mtimes), so the same image always gives the same archive bytes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::constants::{ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX, OCI_LAYOUT_CONTENT};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::layer::{Entry, EntryKind, FileData, write_tar};
use crate::spec::{Descriptor, Index, to_canonical_json};
use crate::store::Store;
use crate::unpack::open_layer;

/// containerd's annotation for the full image name in an index.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Files of an OCI layout holding `image`, tagged with `names` (BuildKit's convention:
/// `ref.name` is the tag, `io.containerd.image.name` the full name).
fn layout_files(
    store: &Store,
    image: &Image,
    names: &[String],
) -> Result<Vec<(String, FileData, u64)>> {
    let mut files = Vec::new();
    let mut blob = |d: &Descriptor| {
        files.push((
            format!("blobs/{}/{}", d.digest.algorithm().name(), d.digest.hex()),
            FileData::Path(store.blob_path(&d.digest)),
            d.size,
        ))
    };
    blob(&image.descriptor);
    blob(&image.manifest.config);
    for l in image.layers() {
        blob(l);
    }
    push_named(&mut files, &image.descriptor, names)?;
    Ok(files)
}

/// The layout's `blobs/` files of every blob in the graph under `root`.
fn blob_files(store: &Store, root: &Descriptor) -> Result<Vec<(String, FileData, u64)>> {
    crate::graph::walk(store, root, None)?
        .iter()
        .map(|item| {
            let d = item.descriptor();
            Ok((
                format!("blobs/{}/{}", d.digest.algorithm().name(), d.digest.hex()),
                FileData::Path(store.blob_path(&d.digest)),
                d.size,
            ))
        })
        .collect()
}

/// Files of an OCI layout holding the whole graph under `root` (an index: every
/// platform's manifest, config and layers), tagged with `names` as [`layout_files`] does.
fn root_layout_files(
    store: &Store,
    root: &Descriptor,
    names: &[String],
) -> Result<Vec<(String, FileData, u64)>> {
    let mut files = blob_files(store, root)?;
    let mut root = root.clone();
    root.platform = None;
    root.annotations.clear();
    push_named(&mut files, &root, names)?;
    Ok(files)
}

/// Writes an OCI layout directory at `dest` holding the graph under `root` (a
/// multi-platform build's index), tagged with `names` as [`write_oci_dir`] tags.
pub fn write_oci_dir_root(
    store: &Store,
    root: &Descriptor,
    dest: &Path,
    names: &[String],
) -> Result<()> {
    write_files(dest, root_layout_files(store, root, names)?)
}

/// Writes an OCI archive holding the graph under `root`, tagged with `names`, to `out`.
pub fn write_oci_archive_root<W: Write + ?Sized>(
    store: &Store,
    root: &Descriptor,
    out: &mut W,
    names: &[String],
) -> Result<()> {
    let files = root_layout_files(store, root, names)?;
    write_tar(out, &archive_entries(files), 0)
}

/// Adds `index.json` naming `root` once per name (none: once, untagged) and `oci-layout`.
fn push_named(
    files: &mut Vec<(String, FileData, u64)>,
    root: &Descriptor,
    names: &[String],
) -> Result<()> {
    let mut manifests = Vec::new();
    for name in names {
        let mut d = root.clone();
        let tag = name
            .rsplit_once(':')
            .filter(|(r, _)| !r.ends_with('/') && !r.is_empty())
            .map(|(_, t)| t)
            .unwrap_or("latest");
        d.annotations
            .insert(ANNOTATION_CONTAINERD_NAME.into(), name.clone());
        d.annotations
            .insert(ANNOTATION_REF_NAME.into(), tag.to_string());
        manifests.push(d);
    }
    if manifests.is_empty() {
        manifests.push(root.clone());
    }
    push_layout_metadata(files, manifests)
}

/// Adds `index.json` (listing `manifests`) and `oci-layout` to a layout's files.
fn push_layout_metadata(
    files: &mut Vec<(String, FileData, u64)>,
    manifests: Vec<Descriptor>,
) -> Result<()> {
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests,
        ..Index::default()
    };
    let index = to_canonical_json(&index)?;
    files.push(("index.json".into(), bytes(&index), index.len() as u64));
    files.push((
        "oci-layout".into(),
        bytes(OCI_LAYOUT_CONTENT.as_bytes()),
        OCI_LAYOUT_CONTENT.len() as u64,
    ));
    Ok(())
}

fn bytes(b: &[u8]) -> FileData {
    FileData::Bytes(Arc::from(b))
}

/// Writes an OCI image layout directory at `dest`.
pub fn write_oci_dir(store: &Store, image: &Image, dest: &Path, names: &[String]) -> Result<()> {
    write_files(dest, layout_files(store, image, names)?)
}

/// Files of an OCI layout holding the whole graph under `root` (every platform of an
/// index), `root` tagged `tag` in `index.json`; `existing` entries are kept unless they
/// carry the same tag.
fn graph_files(
    store: &Store,
    root: &Descriptor,
    tag: Option<&str>,
    existing: Vec<Descriptor>,
) -> Result<Vec<(String, FileData, u64)>> {
    let mut files = blob_files(store, root)?;
    let mut manifests: Vec<Descriptor> = existing
        .into_iter()
        .filter(|d| match tag {
            Some(t) => d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(t),
            None => d.digest != root.digest || d.annotations.contains_key(ANNOTATION_REF_NAME),
        })
        .collect();
    let mut d = root.clone();
    d.annotations.clear();
    d.platform = None;
    if let Some(t) = tag {
        d.annotations
            .insert(ANNOTATION_REF_NAME.into(), t.to_string());
    }
    manifests.push(d);
    push_layout_metadata(&mut files, manifests)?;
    Ok(files)
}

/// Writes the graph under `root` into the OCI layout directory `dest` (created when
/// missing; other images already in it are kept), tagged `tag`. Digests are unchanged.
pub fn write_oci_dir_graph(
    store: &Store,
    root: &Descriptor,
    dest: &Path,
    tag: Option<&str>,
) -> Result<()> {
    let index_path = dest.join("index.json");
    let existing = match fs::read(&index_path) {
        Ok(b) => crate::spec::from_json::<Index>(&b, "index.json")?.manifests,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("reading", index_path)(e)),
    };
    write_files(dest, graph_files(store, root, tag, existing)?)
}

/// Writes an OCI archive holding the graph under `root`, tagged `tag`, to `out`.
pub fn write_oci_archive_graph<W: Write + ?Sized>(
    store: &Store,
    root: &Descriptor,
    out: &mut W,
    tag: Option<&str>,
) -> Result<()> {
    let files = graph_files(store, root, tag, Vec::new())?;
    write_tar(out, &archive_entries(files), 0)
}

fn write_files(dest: &Path, files: Vec<(String, FileData, u64)>) -> Result<()> {
    for (path, data, _) in files {
        let target = dest.join(&path);
        if let Some(p) = target.parent() {
            fs::create_dir_all(p).map_err(Error::io("creating", p))?;
        }
        match data {
            FileData::Path(src) => {
                if !target.exists() {
                    // A hard link is free when both live on one file system.
                    if fs::hard_link(&src, &target).is_err() {
                        fs::copy(&src, &target).map_err(Error::io("copying to", &target))?;
                    }
                }
            }
            FileData::Bytes(b) => crate::store::write_atomic(&target, &b)?,
        }
    }
    Ok(())
}

/// Writes an OCI archive (a tar of the layout) to `out`.
pub fn write_oci_archive<W: Write + ?Sized>(
    store: &Store,
    image: &Image,
    out: &mut W,
    names: &[String],
) -> Result<()> {
    let files = layout_files(store, image, names)?;
    write_tar(out, &archive_entries(files), 0)
}

fn archive_entries(files: Vec<(String, FileData, u64)>) -> Vec<Entry> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for (path, data, size) in files {
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            let s = p.to_string_lossy().into_owned();
            entries
                .entry(s.clone())
                .or_insert_with(|| Entry::dir(s, 0o755, 0, 0));
            parent = p.parent();
        }
        entries.insert(
            path.clone(),
            Entry {
                path,
                kind: EntryKind::File { data, size },
                mode: 0o644,
                uid: 0,
                gid: 0,
                xattrs: BTreeMap::new(),
            },
        );
    }
    let mut v: Vec<Entry> = entries.into_values().collect();
    v.sort_by(|a, b| crate::layer::compare_paths(&a.path, &b.path));
    v
}

/// Writes a docker archive (`docker save` format, loadable by `docker load`) to `out`:
/// `manifest.json`, the config and each layer uncompressed, named by diff-id.
pub fn write_docker_archive<W: Write + ?Sized>(
    store: &Store,
    image: &Image,
    out: &mut W,
    names: &[String],
) -> Result<()> {
    let tmp = store.temp_dir("docker-archive")?;
    let config = &image.manifest.config;
    let mut files = vec![(
        format!("blobs/sha256/{}", config.digest.hex()),
        FileData::Path(store.blob_path(&config.digest)),
        config.size,
    )];
    let mut layer_paths = Vec::new();
    for (layer, diff_id) in image.layers().iter().zip(image.diff_ids()) {
        let path = format!("blobs/sha256/{}", diff_id.hex());
        if !layer_paths.contains(&path) {
            let plain: PathBuf = tmp.path().join(diff_id.hex());
            let mut f = File::create(&plain).map_err(Error::io("creating", &plain))?;
            let size = io::copy(&mut open_layer(store, layer)?, &mut f)
                .map_err(Error::io("writing", &plain))?;
            files.push((path.clone(), FileData::Path(plain), size));
        }
        layer_paths.push(path);
    }
    let manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", config.digest.hex()),
        "RepoTags": names,
        "Layers": layer_paths,
    }]);
    let manifest = to_canonical_json(&manifest)?;
    files.push((
        "manifest.json".into(),
        bytes(&manifest),
        manifest.len() as u64,
    ));
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if let Some(top) = layer_paths.last() {
        let top = top.trim_start_matches("blobs/sha256/").to_string();
        for n in names {
            if let Some((repo, tag)) = n.rsplit_once(':') {
                repos
                    .entry(repo.into())
                    .or_default()
                    .insert(tag.into(), top.clone());
            }
        }
    }
    let repos = to_canonical_json(&repos)?;
    files.push(("repositories".into(), bytes(&repos), repos.len() as u64));
    write_tar(out, &archive_entries(files), 0)
}
