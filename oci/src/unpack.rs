//! Applies layers, in order, onto a directory: the root filesystem of an image
//! (image-spec "Applying Changesets"). Used for `type=local` exports and to read the
//! files of a build stage.
//!
//! Safety: entry paths are resolved lexically inside the root and rejected when they
//! leave it (`..`, absolute paths); no path is ever opened through a symlink that an
//! earlier entry created (a parent that is a symlink is an error); hard links must point
//! at a non-symlink path inside the root. Nothing outside `dest` is touched.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::constants::{
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_LAYER_TAR, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_TAR,
};
use crate::error::{Error, Result};
use crate::hash::VerifyingReader;
use crate::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::source::safe_relative;
use crate::spec::Descriptor;
use crate::store::Store;

/// What kind of object a path is, with what a build needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NodeKind {
    /// Directory.
    Dir,
    /// Regular file of this size.
    File(u64),
    /// Symlink with this target.
    Symlink(String),
    /// Device, FIFO or socket (not materialised).
    Special,
}

/// Metadata of one path of an unpacked root filesystem, as the layers say (independent
/// of whether the unpacking process could chown).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// Kind.
    pub kind: NodeKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// A root filesystem unpacked into a directory, with the layers' metadata.
#[derive(Debug, Clone, Default)]
pub struct Rootfs {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// Every path (relative, slash-separated) and its metadata.
    pub nodes: BTreeMap<String, Node>,
}

impl Rootfs {
    /// Looks up a path (relative, no leading slash).
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }
}

/// Options for [`apply_layers`].
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Apply owners with `lchown` (needs root). Metadata is recorded either way; ids
    /// that a user namespace does not map are left as they are.
    pub chown: bool,
}

/// Whether this process runs as root, i.e. may `lchown` what it unpacks. Read from
/// the owner of `/proc/self`, which is the effective uid, without unsafe code.
pub fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Opens a layer blob as an uncompressed tar stream.
pub fn open_layer(store: &Store, layer: &Descriptor) -> Result<Box<dyn Read>> {
    let f = BufReader::with_capacity(1 << 20, store.open_blob(&layer.digest)?);
    decompress(layer, f)
}

/// Opens a layer blob as an uncompressed tar stream whose blob bytes are checked
/// against the descriptor's digest and size as they stream: reading the stream to its
/// end fails unless they match (see [`VerifyingReader`]), so what a reader parsed is
/// what the digest names. Readers that stop at the tar end marker must drain the rest.
pub fn open_layer_verified(store: &Store, layer: &Descriptor) -> Result<Box<dyn Read>> {
    let blob = store.open_blob(&layer.digest)?;
    let verified = VerifyingReader::new(blob, layer.digest.clone(), layer.size);
    decompress(layer, BufReader::with_capacity(1 << 20, verified))
}

fn decompress(layer: &Descriptor, raw: impl BufRead + 'static) -> Result<Box<dyn Read>> {
    match layer.media_type.as_str() {
        MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => {
            Ok(Box::new(flate2::bufread::MultiGzDecoder::new(raw)))
        }
        MEDIA_TYPE_LAYER_TAR | MEDIA_TYPE_DOCKER_LAYER_TAR => Ok(Box::new(raw)),
        other => Err(Error::Invalid {
            what: format!("layer {}", layer.digest),
            reason: format!("unsupported media type {other:?}"),
        }),
    }
}

/// Applies `layers` onto `dest` (created if missing) and returns the resulting tree.
pub fn apply_layers(
    store: &Store,
    layers: &[Descriptor],
    dest: &Path,
    opts: UnpackOptions,
) -> Result<Rootfs> {
    let mut rootfs = Rootfs::new(dest)?;
    rootfs.apply(store, layers, opts)?;
    Ok(rootfs)
}

impl Rootfs {
    /// An empty root filesystem in `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<Rootfs> {
        fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        Ok(Rootfs {
            dir: dir.to_path_buf(),
            nodes: BTreeMap::new(),
        })
    }

    /// Applies more layers on top of what is already unpacked.
    pub fn apply(
        &mut self,
        store: &Store,
        layers: &[Descriptor],
        opts: UnpackOptions,
    ) -> Result<()> {
        let mut dir_modes: BTreeMap<String, u32> = BTreeMap::new();
        for layer in layers {
            let what = format!("layer {}", layer.digest);
            apply_one(self, open_layer(store, layer)?, &what, opts, &mut dir_modes)?;
        }
        // Directory modes last, so read-only directories could still be filled; keep
        // them owner-writable on disk so later layers can still be applied.
        for (path, mode) in dir_modes.iter().rev() {
            if self.nodes.contains_key(path) {
                let p = self.dir.join(path);
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode | 0o700))
                    .map_err(Error::io("chmod", &p))?;
            }
        }
        Ok(())
    }

    /// Gives every directory exactly its mode from the layers. [`Rootfs::apply`] keeps
    /// directories owner-writable so that more layers can be applied; call this once
    /// no more will be, for a root filesystem that is itself the output.
    pub fn exact_dir_modes(&self) -> Result<()> {
        for (path, n) in self.nodes.iter().rev() {
            if n.kind == NodeKind::Dir {
                let p = self.dir.join(path);
                fs::set_permissions(&p, fs::Permissions::from_mode(n.mode))
                    .map_err(Error::io("chmod", &p))?;
            }
        }
        Ok(())
    }

    /// Reads a small file (e.g. `etc/passwd`) if the tree has it as a regular file.
    pub fn read_file(&self, path: &str) -> Option<String> {
        match self.nodes.get(path)?.kind {
            NodeKind::File(_) => fs::read_to_string(self.dir.join(path)).ok(),
            _ => None,
        }
    }
}

fn apply_one(
    root: &mut Rootfs,
    reader: Box<dyn Read>,
    what: &str,
    opts: UnpackOptions,
    dir_modes: &mut BTreeMap<String, u32>,
) -> Result<()> {
    let stream = |source: io::Error| Error::Stream {
        what: format!("reading {what}"),
        source,
    };
    let unsafe_path = |p: &str| Error::UnsafePath {
        path: p.to_string(),
        what: what.to_string(),
    };
    let mut archive = tar::Archive::new(reader);
    // Paths this layer created: an opaque marker hides only what lower layers had.
    let mut from_this_layer: std::collections::BTreeSet<String> = Default::default();
    for entry in archive.entries().map_err(stream)? {
        let mut entry = entry.map_err(stream)?;
        let raw = entry.path().map_err(stream)?.to_string_lossy().into_owned();
        // Like containerd, an absolute name is taken relative to the root (umoci writes
        // the root itself as "/"); only a name that climbs above the root is hostile.
        let rel = safe_relative(Path::new(raw.trim_start_matches('/')))
            .ok_or_else(|| unsafe_path(&raw))?;
        let rel = rel.to_string_lossy().into_owned();
        if rel.is_empty() {
            continue;
        }
        let (parent, name) = crate::layer::split_parent(&rel);
        check_parents(root, parent).map_err(|_| unsafe_path(&raw))?;
        if name == OPAQUE_MARKER {
            let prefix = format!("{parent}/");
            let doomed: Vec<String> = root
                .nodes
                .keys()
                .filter(|k| {
                    (parent.is_empty() || k.starts_with(&prefix)) && !from_this_layer.contains(*k)
                })
                .filter(|k| !parent.is_empty() || !k.is_empty())
                .cloned()
                .collect();
            for k in doomed {
                remove_path(root, &k)?;
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let target = if parent.is_empty() {
                hidden.to_string()
            } else {
                format!("{parent}/{hidden}")
            };
            remove_path(root, &target)?;
            continue;
        }
        let (pax_uid, pax_gid) = pax_ids(&mut entry).map_err(stream)?;
        let header = entry.header();
        let kind = header.entry_type();
        // A symlink's own mode is always 0777 on Linux, whatever its header says: that
        // is what a container (and a `COPY --from` of it) sees.
        let mode = if kind == tar::EntryType::Symlink {
            0o777
        } else {
            header.mode().map_err(stream)? & 0o7777
        };
        // Ids above the ustar range travel in PAX records (docker and containerd read
        // them there); an id that does not fit 32 bits is refused.
        let id = |pax: Option<u64>, hdr: u64| {
            u32::try_from(pax.unwrap_or(hdr)).map_err(|_| unsafe_path(&raw))
        };
        let uid = id(pax_uid, header.uid().map_err(stream)?)?;
        let gid = id(pax_gid, header.gid().map_err(stream)?)?;
        let dest = root.dir.join(&rel);
        // Replace whatever is in the way, unless both are directories.
        if let Some(existing) = root.nodes.get(&rel)
            && !(existing.kind == NodeKind::Dir && kind == tar::EntryType::Directory)
        {
            remove_path(root, &rel)?;
        }
        let node_kind = match kind {
            tar::EntryType::Directory => {
                if !dest.is_dir() {
                    fs::create_dir(&dest).map_err(Error::io("creating", &dest))?;
                }
                chown(&dest, uid, gid, opts)?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(0o700 | mode))
                    .map_err(Error::io("chmod", &dest))?;
                dir_modes.insert(rel.clone(), mode);
                NodeKind::Dir
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut out = File::create(&dest).map_err(Error::io("creating", &dest))?;
                let n = io::copy(&mut entry, &mut out).map_err(Error::io("writing", &dest))?;
                // Owner before mode: `chown` clears setuid and setgid bits.
                chown(&dest, uid, gid, opts)?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                    .map_err(Error::io("chmod", &dest))?;
                NodeKind::File(n)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(stream)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                symlink(&target, &dest).map_err(Error::io("creating symlink", &dest))?;
                chown(&dest, uid, gid, opts)?;
                NodeKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(stream)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let t = safe_relative(Path::new(target.trim_start_matches('/')))
                    .ok_or_else(|| unsafe_path(&format!("{raw} -> {target}")))?
                    .to_string_lossy()
                    .into_owned();
                let node = root
                    .nodes
                    .get(&t)
                    .filter(|n| matches!(n.kind, NodeKind::File(_)))
                    .cloned()
                    .ok_or_else(|| {
                        unsafe_path(&format!("{raw} -> {target} (hard link to a missing file)"))
                    })?;
                fs::hard_link(root.dir.join(&t), &dest).map_err(Error::io("linking", &dest))?;
                root.nodes.insert(rel.clone(), node);
                from_this_layer.insert(rel);
                continue;
            }
            _ => NodeKind::Special,
        };
        root.nodes.insert(
            rel.clone(),
            Node {
                kind: node_kind,
                mode,
                uid,
                gid,
            },
        );
        from_this_layer.insert(rel);
    }
    Ok(())
}

/// Sets the owner of `dest` (not following a symlink) when `opts` asks for it.
fn chown(dest: &Path, uid: u32, gid: u32, opts: UnpackOptions) -> Result<()> {
    if !opts.chown {
        return Ok(());
    }
    match std::os::unix::fs::lchown(dest, Some(uid), Some(gid)) {
        Ok(()) => Ok(()),
        // An id the user namespace does not map (rootless without subordinate ids):
        // the owner stays recorded in `nodes`, which is what counts. (`EINVAL`,
        // which std reports as `InvalidInput`.)
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        Err(e) => Err(Error::io("chown", dest)(e)),
    }
}

/// The `uid` and `gid` PAX records of `entry`, if any.
fn pax_ids<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<(Option<u64>, Option<u64>)> {
    let (mut uid, mut gid) = (None, None);
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let value = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            match ext.key() {
                Ok("uid") => uid = value(),
                Ok("gid") => gid = value(),
                _ => {}
            }
        }
    }
    Ok((uid, gid))
}

/// Every ancestor must be a directory we created (never a symlink).
fn check_parents(root: &mut Rootfs, parent: &str) -> std::result::Result<(), ()> {
    if parent.is_empty() {
        return Ok(());
    }
    let mut cur = String::new();
    for comp in parent.split('/') {
        if !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(comp);
        match root.nodes.get(&cur) {
            Some(n) if n.kind == NodeKind::Dir => {}
            Some(_) => return Err(()),
            None => {
                // Implicit parent (a layer may omit it): create it like tar does.
                let p = root.dir.join(&cur);
                if fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
                    return Err(());
                }
                fs::create_dir_all(&p).map_err(|_| ())?;
                root.nodes.insert(
                    cur.clone(),
                    Node {
                        kind: NodeKind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                    },
                );
            }
        }
    }
    Ok(())
}

fn remove_path(root: &mut Rootfs, rel: &str) -> Result<()> {
    let p = root.dir.join(rel);
    if let Ok(m) = fs::symlink_metadata(&p) {
        if m.is_dir() {
            // Make sure read-only subdirectories can be emptied.
            make_writable(&p);
            fs::remove_dir_all(&p).map_err(Error::io("removing", &p))?;
        } else {
            fs::remove_file(&p).map_err(Error::io("removing", &p))?;
        }
    }
    let prefix = format!("{rel}/");
    root.nodes
        .retain(|k, _| k != rel && !k.starts_with(&prefix));
    Ok(())
}

fn make_writable(dir: &Path) {
    for e in walkdir_dirs(dir) {
        let _ = fs::set_permissions(&e, fs::Permissions::from_mode(0o700));
    }
}

fn walkdir_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let d = out[i].clone();
        let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}
