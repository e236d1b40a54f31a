//! Unpacking one layer into overlayfs lower format (see the module docs for the rules).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use lading_oci::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::stat::UtimensatFlags;
use nix::sys::stat::{Mode, SFlag, fchmod, futimens, makedev, mkdirat, mknodat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};

use super::{Error, OverlayXattrs, Result, remove_tree, xattr_allowed};

/// What this layer put at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    /// Device or FIFO (may be hard-linked to).
    Special,
    /// A whiteout device.
    Whiteout,
    /// A device that could not be created (no permission): nothing on disk.
    Skipped,
}

#[derive(Debug, Clone, Copy)]
struct DirMeta {
    mode: u32,
    mtime: i64,
}

struct Unpacker<'a> {
    root: OwnedFd,
    root_path: PathBuf,
    what: &'a str,
    nodes: HashMap<PathBuf, Kind>,
    dirs: BTreeMap<PathBuf, DirMeta>,
    /// Directories made only because an entry below them needed a parent.
    implied: BTreeSet<PathBuf>,
    cache: Option<(PathBuf, OwnedFd)>,
    is_root: bool,
    /// Where opaque markers go.
    opaque_xattr: &'static str,
    warnings: Vec<String>,
    warned_owners: bool,
    warned_unmapped: bool,
}

/// What [`unpack_lower`] reports besides the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// What could not be reproduced (devices and owners without root or outside the
    /// user namespace's map, dropped xattrs, whiteout metadata).
    pub warnings: Vec<String>,
    /// Directories the layer has no entry for, made root-owned 0755 because an entry
    /// below them needed a parent (relative paths, parents first). Where the layers
    /// below have a directory there, it is the one the image shows: see
    /// `Snapshots::lowers`.
    pub implied: Vec<String>,
}

/// Unpacks the uncompressed tar stream `reader` into `dest` (an existing, empty
/// directory) in overlayfs lower format, opaque markers in the xattrs of `xattrs`.
/// `what` names the layer in errors.
pub fn unpack_lower(
    reader: impl Read,
    dest: &Path,
    what: &str,
    xattrs: OverlayXattrs,
) -> Result<Unpacked> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let root = openat(AT_FDCWD, dest, flags, Mode::empty()).map_err(Error::nix("opening", dest))?;
    // The root's own metadata does not come from layers: fixed, whatever the umask.
    let rootdir = reopen_dir(&root, dest)?;
    fchmod(&rootdir, Mode::from_bits_truncate(0o755)).map_err(Error::nix("chmod", dest))?;
    let mut u = Unpacker {
        root,
        root_path: dest.to_path_buf(),
        what,
        nodes: HashMap::new(),
        dirs: BTreeMap::new(),
        implied: BTreeSet::new(),
        cache: None,
        is_root: lading_oci::unpack::running_as_root(),
        opaque_xattr: xattrs.opaque(),
        warnings: Vec::new(),
        warned_owners: false,
        warned_unmapped: false,
    };
    let stream = |source| Error::Stream {
        what: what.to_string(),
        source,
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(stream)? {
        let mut entry = entry.map_err(stream)?;
        u.entry(&mut entry)?;
    }
    u.finish_dirs()?;
    let implied = u
        .implied
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    Ok(Unpacked {
        warnings: u.warnings,
        implied,
    })
}

/// A readable fd of the directory `fd` (an `O_PATH` fd) refers to.
fn reopen_dir(fd: &OwnedFd, path: &Path) -> Result<File> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(fd, ".", flags, Mode::empty())
        .map(File::from)
        .map_err(Error::nix("opening", path))
}

fn mark_opaque(dir: &File, full: &Path, xattr: &str) -> Result<()> {
    xattr::FileExt::set_xattr(dir, xattr, b"y").map_err(Error::io("marking opaque", full))
}

/// Resolves `..` and `.` lexically; an absolute name is taken relative to the root.
/// `None` when the name climbs above the root.
fn clean(raw: &[u8]) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
        }
    }
    Some(out)
}

fn split(rel: &Path) -> (PathBuf, OsString) {
    let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = rel.file_name().map(OsStr::to_os_string).unwrap_or_default();
    (parent, name)
}

fn time(secs: i64) -> TimeSpec {
    TimeSpec::new(secs, 0)
}

/// Extended-header values of one entry that the tar crate does not apply itself.
#[derive(Default)]
struct Pax {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<i64>,
    xattrs: BTreeMap<String, Vec<u8>>,
    dropped: Vec<String>,
}

fn read_pax<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Pax> {
    let mut pax = Pax::default();
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(pax);
    };
    for ext in exts {
        let ext = ext?;
        let Ok(key) = ext.key() else { continue };
        let value = ext.value_bytes();
        let num = || std::str::from_utf8(value).ok().map(str::trim);
        match key {
            "uid" => pax.uid = num().and_then(|v| v.parse().ok()),
            "gid" => pax.gid = num().and_then(|v| v.parse().ok()),
            "mtime" => {
                pax.mtime = num()
                    .and_then(|v| v.split('.').next())
                    .and_then(|v| v.parse().ok())
            }
            _ => {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    if xattr_allowed(name) {
                        pax.xattrs.insert(name.to_string(), value.to_vec());
                    } else {
                        pax.dropped.push(name.to_string());
                    }
                }
            }
        }
    }
    Ok(pax)
}

impl Unpacker<'_> {
    fn unsafe_path(&self, path: &str, reason: impl Into<String>) -> Error {
        Error::UnsafePath {
            path: path.to_string(),
            what: self.what.to_string(),
            reason: reason.into(),
        }
    }

    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    /// An `O_PATH` fd of directory `rel`, opened one component at a time without ever
    /// following a symlink. Missing directories are created (a layer may omit parents).
    fn dir_fd(&mut self, rel: &Path, raw: &str) -> Result<OwnedFd> {
        if let Some((p, fd)) = &self.cache
            && p == rel
        {
            return fd.try_clone().map_err(Error::io("duplicating fd of", rel));
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut cur = self
            .root
            .try_clone()
            .map_err(Error::io("duplicating fd of", &self.root_path))?;
        let mut sofar = PathBuf::new();
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                return Err(self.unsafe_path(raw, "not a clean relative path"));
            };
            sofar.push(name);
            let mut opaque = false;
            match self.nodes.get(&sofar) {
                Some(Kind::Dir) => {}
                Some(Kind::Whiteout) => {
                    // A child of this layer's own whiteout: the whiteout becomes an
                    // opaque directory (it must still hide the lower layers' one).
                    let full = self.root_path.join(&sofar);
                    unlinkat(&cur, name, UnlinkatFlags::NoRemoveDir)
                        .map_err(Error::nix("removing", &full))?;
                    mkdirat(&cur, name, Mode::from_bits_truncate(0o700))
                        .map_err(Error::nix("creating", &full))?;
                    self.nodes.insert(sofar.clone(), Kind::Dir);
                    self.dirs.insert(
                        sofar.clone(),
                        DirMeta {
                            mode: 0o755,
                            mtime: 0,
                        },
                    );
                    opaque = true;
                }
                Some(_) => {
                    return Err(self.unsafe_path(
                        raw,
                        format!("parent {} is not a directory", sofar.display()),
                    ));
                }
                None => {
                    // Implicit parent, like tar does: root-owned 0755.
                    let full = self.root_path.join(&sofar);
                    mkdirat(&cur, name, Mode::from_bits_truncate(0o700))
                        .map_err(Error::nix("creating", &full))?;
                    self.nodes.insert(sofar.clone(), Kind::Dir);
                    self.implied.insert(sofar.clone());
                    self.dirs.insert(
                        sofar.clone(),
                        DirMeta {
                            mode: 0o755,
                            mtime: 0,
                        },
                    );
                }
            }
            cur = openat(&cur, name, flags, Mode::empty()).map_err(|e| {
                if matches!(e, Errno::ELOOP | Errno::ENOTDIR) {
                    self.unsafe_path(
                        raw,
                        format!("parent {} is not a directory", sofar.display()),
                    )
                } else {
                    Error::nix("opening", self.root_path.join(&sofar))(e)
                }
            })?;
            if opaque {
                let full = self.root_path.join(&sofar);
                mark_opaque(&reopen_dir(&cur, &full)?, &full, self.opaque_xattr)?;
            }
        }
        let keep = cur
            .try_clone()
            .map_err(Error::io("duplicating fd of", rel))?;
        self.cache = Some((rel.to_path_buf(), keep));
        Ok(cur)
    }

    /// Removes what this layer put at `rel` (and below), so something else can go there.
    fn remove(&mut self, rel: &Path) -> Result<()> {
        self.cache = None;
        let full = self.root_path.join(rel);
        remove_tree(&full)?;
        self.nodes.retain(|k, _| !k.starts_with(rel));
        self.dirs.retain(|k, _| !k.starts_with(rel));
        self.implied.retain(|k| !k.starts_with(rel));
        Ok(())
    }

    fn chown(
        &mut self,
        fd: &impl AsFd,
        name: Option<&OsStr>,
        uid: u64,
        gid: u64,
        full: &Path,
    ) -> Result<()> {
        if !self.is_root {
            if !self.warned_owners {
                self.warned_owners = true;
                self.warn(format!("{}: not root, file owners not applied", self.what));
            }
            return Ok(());
        }
        let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
            (Ok(u), Ok(g)) => (Uid::from_raw(u), Gid::from_raw(g)),
            _ => return Err(self.unsafe_path(&full.display().to_string(), "owner id out of range")),
        };
        match match name {
            Some(n) => fchownat(fd, n, Some(uid), Some(gid), AtFlags::AT_SYMLINK_NOFOLLOW),
            None => fchown(fd, Some(uid), Some(gid)),
        } {
            Ok(()) => Ok(()),
            // In a user namespace, an id it does not map (a rootless build without
            // subordinate ids, or an id above the subordinate range).
            Err(Errno::EINVAL) => {
                if !self.warned_unmapped {
                    self.warned_unmapped = true;
                    let rel = full.strip_prefix(&self.root_path).unwrap_or(full);
                    self.warn(format!(
                        "{}: owners the user namespace does not map (no subordinate ids?) are kept as root, e.g. {uid}:{gid} of {:?}",
                        self.what,
                        rel.display().to_string()
                    ));
                }
                Ok(())
            }
            Err(e) => Err(Error::nix("chown", full)(e)),
        }
    }

    fn set_xattrs(
        &mut self,
        file: &File,
        xattrs: &BTreeMap<String, Vec<u8>>,
        full: &Path,
    ) -> Result<()> {
        use xattr::FileExt;
        for (k, v) in xattrs {
            if !self.is_root && k.starts_with("security.") {
                self.warn(format!(
                    "{}: not root, xattr {k} of {} skipped",
                    self.what,
                    full.display()
                ));
                continue;
            }
            file.set_xattr(k, v)
                .map_err(Error::io("setting xattr on", full))?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let stream = |source| Error::Stream {
            what: self.what.to_string(),
            source,
        };
        let raw_bytes = entry.path_bytes().into_owned();
        let raw = String::from_utf8_lossy(&raw_bytes).into_owned();
        let rel =
            clean(&raw_bytes).ok_or_else(|| self.unsafe_path(&raw, "climbs above the root"))?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        if rel.as_os_str().is_empty() {
            // The root itself ("./"): its metadata is fixed, not taken from layers.
            return Ok(());
        }
        let (parent, name) = split(&rel);
        let name_bytes = name.as_bytes();
        if name_bytes == OPAQUE_MARKER.as_bytes() {
            let dfd = self.dir_fd(&parent, &raw)?;
            let full = self.root_path.join(&parent);
            let dir = reopen_dir(&dfd, &full)?;
            return mark_opaque(&dir, &full, self.opaque_xattr);
        }
        if name_bytes.starts_with(b".wh..wh.") {
            self.warn(format!("{}: skipped whiteout metadata {raw:?}", self.what));
            return Ok(());
        }
        let pax = read_pax(entry).map_err(stream)?;
        if !pax.dropped.is_empty() {
            self.warn(format!(
                "{}: {raw:?}: xattrs not allowed: {}",
                self.what,
                pax.dropped.join(", ")
            ));
        }
        let header = entry.header();
        let mode = header.mode().map_err(stream)? & 0o7777;
        let uid = match pax.uid {
            Some(u) => u,
            None => header.uid().map_err(stream)?,
        };
        let gid = match pax.gid {
            Some(g) => g,
            None => header.gid().map_err(stream)?,
        };
        let mtime = match pax.mtime {
            Some(m) => m,
            None => i64::try_from(header.mtime().map_err(stream)?).unwrap_or(i64::MAX),
        };
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(self.unsafe_path(&raw, "whiteout of no name"));
            }
            let target = parent.join(OsStr::from_bytes(hidden));
            let pfd = self.dir_fd(&parent, &raw)?;
            if self.nodes.contains_key(&target) {
                self.remove(&target)?;
            }
            let full = self.root_path.join(&target);
            mknodat(
                &pfd,
                OsStr::from_bytes(hidden),
                SFlag::S_IFCHR,
                Mode::empty(),
                makedev(0, 0),
            )
            .map_err(Error::nix("creating whiteout", &full))?;
            self.nodes.insert(target, Kind::Whiteout);
            return Ok(());
        }

        let full = self.root_path.join(&rel);
        let link_target = match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => Some(
                entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        // Check a hard link's target before anything is removed or created.
        let hard_target = if kind == tar::EntryType::Link {
            let t_raw = link_target.clone().unwrap_or_default();
            let shown = format!("{raw} -> {}", String::from_utf8_lossy(&t_raw));
            let t = clean(&t_raw)
                .ok_or_else(|| self.unsafe_path(&shown, "link target climbs above the root"))?;
            if t == rel {
                return Err(self.unsafe_path(&shown, "hard link to itself"));
            }
            match self.nodes.get(&t) {
                Some(Kind::File | Kind::Special) => {}
                Some(Kind::Symlink) => {
                    return Err(self.unsafe_path(&shown, "hard link to a symlink"));
                }
                Some(Kind::Skipped) => {
                    self.warn(format!(
                        "{}: hard link {raw:?} to a skipped device, skipped",
                        self.what
                    ));
                    return Ok(());
                }
                Some(Kind::Dir) => return Err(self.unsafe_path(&shown, "hard link to a directory")),
                _ => {
                    return Err(self.unsafe_path(
                        &shown,
                        "hard link target is not an earlier file of this layer",
                    ));
                }
            }
            Some(t)
        } else {
            None
        };

        let pfd = self.dir_fd(&parent, &raw)?;
        let is_dir = kind == tar::EntryType::Directory;
        // Replace what this layer already put here, unless both are directories. (The
        // parent fd stays valid: only `rel` and below go.)
        let existing = self.nodes.get(&rel).copied();
        let keep_dir = existing == Some(Kind::Dir) && is_dir;
        if existing.is_some() && !keep_dir {
            self.remove(&rel)?;
        }
        let new_kind = match kind {
            tar::EntryType::Directory => {
                if !keep_dir {
                    mkdirat(&pfd, name.as_os_str(), Mode::from_bits_truncate(0o700))
                        .map_err(Error::nix("creating", &full))?;
                }
                let flags =
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let dir = openat(&pfd, name.as_os_str(), flags, Mode::empty())
                    .map(File::from)
                    .map_err(Error::nix("opening", &full))?;
                if existing == Some(Kind::Whiteout) {
                    // A directory replacing this layer's own whiteout still hides what
                    // the lower layers have there.
                    mark_opaque(&dir, &full, self.opaque_xattr)?;
                }
                self.chown(&dir, None, uid, gid, &full)?;
                self.set_xattrs(&dir, &pax.xattrs, &full)?;
                self.dirs.insert(rel.clone(), DirMeta { mode, mtime });
                self.implied.remove(&rel);
                Kind::Dir
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let flags = OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let mut file = openat(
                    &pfd,
                    name.as_os_str(),
                    flags,
                    Mode::from_bits_truncate(0o600),
                )
                .map(File::from)
                .map_err(Error::nix("creating", &full))?;
                io::copy(entry, &mut file).map_err(Error::io("writing", &full))?;
                self.chown(&file, None, uid, gid, &full)?;
                fchmod(&file, Mode::from_bits_truncate(mode))
                    .map_err(Error::nix("chmod", &full))?;
                self.set_xattrs(&file, &pax.xattrs, &full)?;
                futimens(&file, &time(mtime), &time(mtime))
                    .map_err(Error::nix("setting mtime of", &full))?;
                Kind::File
            }
            tar::EntryType::Symlink => {
                let target = link_target.unwrap_or_default();
                symlinkat(OsStr::from_bytes(&target), &pfd, name.as_os_str())
                    .map_err(Error::nix("creating symlink", &full))?;
                self.chown(&pfd, Some(&name), uid, gid, &full)?;
                utimensat(
                    &pfd,
                    name.as_os_str(),
                    &time(mtime),
                    &time(mtime),
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(Error::nix("setting mtime of", &full))?;
                if !pax.xattrs.is_empty() {
                    self.warn(format!("{}: xattrs of symlink {raw:?} skipped", self.what));
                }
                Kind::Symlink
            }
            tar::EntryType::Link => {
                let Some(t) = hard_target else {
                    return Err(self.unsafe_path(&raw, "hard link without target"));
                };
                let (tparent, tname) = split(&t);
                let tfd = self.dir_fd(&tparent, &raw)?;
                linkat(
                    &tfd,
                    tname.as_os_str(),
                    &pfd,
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(Error::nix("linking", &full))?;
                let k = self.nodes.get(&t).copied().unwrap_or(Kind::File);
                self.nodes.insert(rel, k);
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let major = header.device_major().map_err(stream)?.unwrap_or(0);
                        let minor = header.device_minor().map_err(stream)?.unwrap_or(0);
                        let f = if kind == tar::EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (f, makedev(u64::from(major), u64::from(minor)))
                    }
                };
                match mknodat(
                    &pfd,
                    name.as_os_str(),
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    dev,
                ) {
                    Ok(()) => {}
                    // Decided by the error, not by our uid: in a user namespace we are
                    // uid 0 and still may not make devices.
                    Err(Errno::EPERM) if sflag != SFlag::S_IFIFO => {
                        self.warn(format!(
                            "{}: no permission to create device {raw:?}, skipped",
                            self.what
                        ));
                        self.nodes.insert(rel, Kind::Skipped);
                        return Ok(());
                    }
                    Err(e) => return Err(Error::nix("creating", &full)(e)),
                }
                self.chown(&pfd, Some(&name), uid, gid, &full)?;
                nix::sys::stat::fchmodat(
                    &pfd,
                    name.as_os_str(),
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(Error::nix("chmod", &full))?;
                utimensat(
                    &pfd,
                    name.as_os_str(),
                    &time(mtime),
                    &time(mtime),
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(Error::nix("setting mtime of", &full))?;
                Kind::Special
            }
            other => {
                self.warn(format!(
                    "{}: skipped {raw:?} of unsupported type {other:?}",
                    self.what
                ));
                return Ok(());
            }
        };
        self.nodes.insert(rel, new_kind);
        Ok(())
    }

    /// Directory modes and mtimes, after every child is in place.
    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, meta) in dirs.iter().rev() {
            let (parent, name) = split(rel);
            let pfd = self.dir_fd(&parent, &rel.display().to_string())?;
            let full = self.root_path.join(rel);
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let dir = openat(&pfd, name.as_os_str(), flags, Mode::empty())
                .map(File::from)
                .map_err(Error::nix("opening", &full))?;
            fchmod(&dir, Mode::from_bits_truncate(meta.mode))
                .map_err(Error::nix("chmod", &full))?;
            futimens(&dir, &time(meta.mtime), &time(meta.mtime))
                .map_err(Error::nix("setting mtime of", &full))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_takes_absolute_names_relative_and_refuses_climbing() {
        assert_eq!(clean(b"/etc/passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(clean(b"./a/../b/"), Some(PathBuf::from("b")));
        assert_eq!(clean(b"../x"), None);
        assert_eq!(clean(b"a/../../x"), None);
        assert_eq!(clean(b"./"), Some(PathBuf::new()));
    }
}
