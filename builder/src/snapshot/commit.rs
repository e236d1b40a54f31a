//! Making a layer's snapshot straight from the entries it was written from (the
//! changes of a `RUN` step), instead of unpacking the freshly written blob again.
//!
//! The result must be exactly what [`super::unpack_lower`] makes of that blob, because
//! the snapshot is keyed by the blob digest and reused by later steps, builds and cache
//! hits. So every entry goes through the same interpretation the tar stream gets from
//! the unpacker: the same order ([`compare_paths`], of two entries for a path the later
//! one), `.wh.NAME` → a 0/0 character device, `.wh..wh..opq` → the opaque xattr on the
//! parent, every mtime the layer's epoch (a layer with an implied parent is unpacked),
//! owners before modes before xattrs, directory modes and mtimes last, hard links to an
//! earlier entry. Only allow-listed xattrs stay (the upper dir's files also carry
//! overlayfs' own, which are removed).
//!
//! Files are not copied: the upper dir's inode is hard-linked into the snapshot and its
//! metadata set like the unpacker sets a new file's. The layer writer only reads file
//! contents (metadata comes from the entries), so it can run at the same time. The
//! upper dir is removed afterwards, leaving the snapshot the only owner of the inode.
//!
//! Anything the unpacker would only warn about (an owner or device it could not make,
//! a dropped xattr, whiteout metadata names, an entry shape a diff never gives) makes
//! [`prepare`] return `None`: the caller then leaves the snapshot to be unpacked from
//! the blob when it is first needed, as before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use lading_oci::layer::{
    Entry, EntryKind, FileData, OPAQUE_MARKER, WHITEOUT_PREFIX, compare_paths,
};
use lading_oci::spec::Descriptor;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, makedev, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

use super::{Error, FS_DIR, Result, Snapshots, place, remove_tree, xattr_allowed};

/// A snapshot made from a layer's entries, waiting for the layer's digest.
#[derive(Debug)]
pub struct PreparedSnapshot {
    /// `snapshots/.tmp-…`, holding [`FS_DIR`]; removed on drop unless committed.
    tmp: Option<PathBuf>,
}

impl Drop for PreparedSnapshot {
    fn drop(&mut self) {
        if let Some(t) = self.tmp.take() {
            let _ = remove_tree(&t);
        }
    }
}

impl PreparedSnapshot {
    /// Puts the snapshot in place as the one of `layer` (the blob written from the
    /// same entries). If that snapshot exists already, it is kept and this one dropped.
    pub fn commit(mut self, snaps: &Snapshots, layer: &Descriptor) -> Result<PathBuf> {
        let done = snaps.path(layer);
        let fs_dir = done.join(FS_DIR);
        let Some(tmp) = self.tmp.take() else {
            return Ok(fs_dir);
        };
        if fs_dir.is_dir() {
            remove_tree(&tmp)?;
            return Ok(fs_dir);
        }
        place(&tmp, &done)
    }
}

/// Why the fast path gives up (the snapshot is then unpacked from the blob).
struct GiveUp;

type Step<T> = std::result::Result<T, Outcome>;

enum Outcome {
    GiveUp,
    Fail(Error),
}

impl From<Error> for Outcome {
    fn from(e: Error) -> Outcome {
        Outcome::Fail(e)
    }
}

impl From<GiveUp> for Outcome {
    fn from(_: GiveUp) -> Outcome {
        Outcome::GiveUp
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    Special,
    Whiteout,
}

/// Builds, in a temp dir of `snaps`, the snapshot that unpacking the layer written by
/// `write_layer_tar(entries, epoch)` would give. `None`: not possible without a
/// difference or a warning (see the module docs); unpack the blob instead.
pub fn prepare(
    snaps: &Snapshots,
    entries: &[Entry],
    epoch: u64,
) -> Result<Option<PreparedSnapshot>> {
    if !lading_oci::unpack::running_as_root() {
        return Ok(None);
    }
    let tmp = tempfile::Builder::new()
        .prefix(&lading_oci::lease::temp_prefix("commit"))
        .tempdir_in(snaps.dir())
        .map_err(Error::io("creating temp dir in", snaps.dir()))?
        .keep();
    let prepared = PreparedSnapshot {
        tmp: Some(tmp.clone()),
    };
    let root = tmp.join(FS_DIR);
    fs::create_dir(&root).map_err(Error::io("creating", &root))?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755))
        .map_err(Error::io("chmod", &root))?;
    // The order the layer has: sorted, and of two entries for one path the later one.
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| compare_paths(&a.path, &b.path));
    let mut order: Vec<&Entry> = Vec::with_capacity(sorted.len());
    for e in sorted {
        match order.last_mut() {
            Some(last) if last.path == e.path => *last = e,
            _ => order.push(e),
        }
    }
    let mtime = i64::try_from(epoch).unwrap_or(i64::MAX);
    let mut b = Builder {
        root,
        opaque_xattr: snaps.xattrs().opaque(),
        mtime,
        nodes: HashMap::new(),
        dirs: BTreeMap::new(),
        linked: HashSet::new(),
    };
    for e in order {
        match b.entry(e) {
            Ok(()) => {}
            Err(Outcome::GiveUp) => return Ok(None),
            Err(Outcome::Fail(e)) => return Err(e),
        }
    }
    match b.finish_dirs() {
        Ok(()) => Ok(Some(prepared)),
        Err(Outcome::GiveUp) => Ok(None),
        Err(Outcome::Fail(e)) => Err(e),
    }
}

struct Builder {
    root: PathBuf,
    opaque_xattr: &'static str,
    mtime: i64,
    nodes: HashMap<PathBuf, Kind>,
    /// Directories and the (mode, mtime) set once every child is in place.
    dirs: BTreeMap<PathBuf, (u32, i64)>,
    /// Source inodes already linked in: a second entry of one inode gives up.
    linked: HashSet<(u64, u64)>,
}

/// `rel` as the unpacker cleans a tar name: `None` unless it is a plain relative path.
fn clean(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn ts(secs: i64) -> TimeSpec {
    TimeSpec::new(secs, 0)
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Outcome {
    let path = path.to_path_buf();
    move |source| Outcome::Fail(Error::Io { op, path, source })
}

fn nix_err(op: &'static str, path: &Path) -> impl FnOnce(nix::Error) -> Outcome {
    let path = path.to_path_buf();
    move |e| {
        Outcome::Fail(Error::Io {
            op,
            path,
            source: io::Error::from(e),
        })
    }
}

impl Builder {
    /// Makes sure every parent of `rel` is a directory of this layer (the layers
    /// lading writes carry every parent; any other layer is unpacked instead).
    fn parents(&mut self, rel: &Path) -> Step<()> {
        let mut sofar = PathBuf::new();
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        for c in parent.components() {
            sofar.push(c);
            match self.nodes.get(&sofar) {
                Some(Kind::Dir) => {}
                Some(_) => return Err(GiveUp.into()),
                // An implied parent: the unpacker records those (see
                // `Snapshots::lowers`), so leave this layer to it.
                None => return Err(GiveUp.into()),
            }
        }
        Ok(())
    }

    fn chown(&self, full: &Path, uid: u32, gid: u32) -> Step<()> {
        match fchownat(
            nix::fcntl::AT_FDCWD,
            full,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(()) => Ok(()),
            // The unpacker would record a warning (an id the user namespace does not
            // map): leave it to the unpacker.
            Err(nix::errno::Errno::EINVAL) => Err(GiveUp.into()),
            Err(e) => Err(nix_err("chown", full)(e)),
        }
    }

    /// Exactly `want` as xattrs of `full` (a file or directory): the others are removed.
    fn xattrs(&self, full: &Path, want: &BTreeMap<String, Vec<u8>>) -> Step<()> {
        let have: Vec<String> = match xattr::list(full) {
            Ok(names) => names.filter_map(|n| n.into_string().ok()).collect(),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => Vec::new(),
            Err(e) => return Err(io_err("listing xattrs of", full)(e)),
        };
        for n in have {
            if !want.contains_key(&n) && xattr::remove(full, &n).is_err() {
                return Err(GiveUp.into());
            }
        }
        for (k, v) in want {
            xattr::set(full, k, v).map_err(io_err("setting xattr on", full))?;
        }
        Ok(())
    }

    fn times(&self, full: &Path) -> Step<()> {
        let t = ts(self.mtime);
        utimensat(
            nix::fcntl::AT_FDCWD,
            full,
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(nix_err("setting mtime of", full))
    }

    fn entry(&mut self, e: &Entry) -> Step<()> {
        let rel = clean(&e.path).ok_or(GiveUp)?;
        if rel.as_os_str().is_empty() {
            // The root: fixed metadata, not from layers.
            return Ok(());
        }
        let name = rel
            .file_name()
            .map(OsStr::to_string_lossy)
            .unwrap_or_default();
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        if name == OPAQUE_MARKER {
            self.parents(&rel)?;
            let full = self.root.join(&parent);
            return xattr::set(&full, self.opaque_xattr, b"y")
                .map_err(io_err("marking opaque", &full));
        }
        if name.starts_with(".wh..wh.") {
            return Err(GiveUp.into());
        }
        if e.xattrs.keys().any(|k| !xattr_allowed(k)) {
            return Err(GiveUp.into());
        }
        self.parents(&rel)?;
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(GiveUp.into());
            }
            let target = parent.join(hidden);
            if self.nodes.contains_key(&target) {
                return Err(GiveUp.into());
            }
            let full = self.root.join(&target);
            mknod(&full, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(nix_err("creating whiteout", &full))?;
            self.nodes.insert(target, Kind::Whiteout);
            return Ok(());
        }
        if self.nodes.contains_key(&rel) {
            return Err(GiveUp.into());
        }
        let full = self.root.join(&rel);
        let kind = match &e.kind {
            EntryKind::Dir => {
                fs::create_dir(&full).map_err(io_err("creating", &full))?;
                self.chown(&full, e.uid, e.gid)?;
                self.xattrs(&full, &e.xattrs)?;
                self.dirs.insert(rel.clone(), (e.mode & 0o7777, self.mtime));
                Kind::Dir
            }
            EntryKind::File { data, size } => {
                match data {
                    FileData::Path(src) => self.link_file(src, &full, *size)?,
                    FileData::Bytes(b) => {
                        if b.len() as u64 != *size {
                            return Err(GiveUp.into());
                        }
                        fs::write(&full, &b[..]).map_err(io_err("writing", &full))?;
                    }
                }
                self.chown(&full, e.uid, e.gid)?;
                fs::set_permissions(&full, fs::Permissions::from_mode(e.mode & 0o7777))
                    .map_err(io_err("chmod", &full))?;
                self.xattrs(&full, &e.xattrs)?;
                self.times(&full)?;
                Kind::File
            }
            EntryKind::Symlink(t) => {
                if !e.xattrs.is_empty() {
                    return Err(GiveUp.into());
                }
                std::os::unix::fs::symlink(t, &full).map_err(io_err("creating symlink", &full))?;
                self.chown(&full, e.uid, e.gid)?;
                self.times(&full)?;
                Kind::Symlink
            }
            EntryKind::Hardlink(t) => {
                let t = clean(t).ok_or(GiveUp)?;
                match self.nodes.get(&t) {
                    Some(Kind::File | Kind::Special) if t != rel => {}
                    _ => return Err(GiveUp.into()),
                }
                let k = self.nodes[&t];
                fs::hard_link(self.root.join(&t), &full).map_err(io_err("linking", &full))?;
                self.nodes.insert(rel, k);
                return Ok(());
            }
            EntryKind::CharDevice(..) | EntryKind::BlockDevice(..) | EntryKind::Fifo => {
                if !e.xattrs.is_empty() {
                    // The unpacker does not set xattrs of specials: a difference.
                    return Err(GiveUp.into());
                }
                let (flag, dev) = match e.kind {
                    EntryKind::Fifo => (SFlag::S_IFIFO, 0),
                    EntryKind::CharDevice(ma, mi) => {
                        (SFlag::S_IFCHR, makedev(u64::from(ma), u64::from(mi)))
                    }
                    EntryKind::BlockDevice(ma, mi) => {
                        (SFlag::S_IFBLK, makedev(u64::from(ma), u64::from(mi)))
                    }
                    _ => return Err(GiveUp.into()),
                };
                match mknod(&full, flag, Mode::from_bits_truncate(0o600), dev) {
                    Ok(()) => {}
                    Err(nix::errno::Errno::EPERM) => return Err(GiveUp.into()),
                    Err(err) => return Err(nix_err("creating", &full)(err)),
                }
                self.chown(&full, e.uid, e.gid)?;
                fs::set_permissions(&full, fs::Permissions::from_mode(e.mode & 0o7777))
                    .map_err(io_err("chmod", &full))?;
                self.times(&full)?;
                Kind::Special
            }
        };
        self.nodes.insert(rel, kind);
        Ok(())
    }

    /// Hard-links the file `src` (from the step's upper dir) to `full`, or gives up if
    /// it is not the regular file of `size` bytes the layer holds.
    fn link_file(&mut self, src: &Path, full: &Path, size: u64) -> Step<()> {
        let md = fs::symlink_metadata(src).map_err(io_err("inspecting", src))?;
        if !md.is_file() || md.len() != size || !self.linked.insert((md.dev(), md.ino())) {
            return Err(GiveUp.into());
        }
        match fs::hard_link(src, full) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => Err(GiveUp.into()),
            Err(e) => Err(io_err("linking", full)(e)),
        }
    }

    /// Directory modes and mtimes, after every child is in place.
    fn finish_dirs(&mut self) -> Step<()> {
        for (rel, (mode, mtime)) in self.dirs.iter().rev() {
            let full = self.root.join(rel);
            fs::set_permissions(&full, fs::Permissions::from_mode(*mode))
                .map_err(io_err("chmod", &full))?;
            let t = ts(*mtime);
            utimensat(
                nix::fcntl::AT_FDCWD,
                &full,
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(nix_err("setting mtime of", &full))?;
        }
        Ok(())
    }
}
