//! Copy-and-compare, for when overlayfs cannot be mounted: [`materialize`] copies the
//! merged lowers into a plain directory and records a [`TreeSnapshot`]; after the step,
//! [`diff_dirs`] compares the directory with it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use lading_oci::layer::{Entry, split_parent};
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, makedev, mknod, utimensat};
use nix::sys::time::TimeSpec;

use super::diff::{
    Below, Change, ChangeKind, DiffOptions, allowed_xattrs, finish, link_target, list_xattrs,
    rel_string, under, walk_error,
};
use super::{Error, Result, has_opaque_xattr, remove_tree, xattr_allowed};

/// What kind of object a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum FileKind {
    /// Directory.
    Dir,
    /// Regular file.
    File,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// FIFO.
    Fifo,
    /// Unix socket (never part of a layer).
    Socket,
}

/// The recorded metadata of one path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathMeta {
    /// Kind.
    pub kind: FileKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Status change time (seconds, nanoseconds): moves on any write, chmod, chown,
    /// link or xattr change.
    pub ctime: (i64, i64),
    /// Birth time (seconds, nanoseconds) where the file system records one: tells a
    /// directory made anew from the old one even when its inode number was reused.
    pub btime: Option<(i64, i64)>,
    /// Device of the file system.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Symlink target.
    pub target: Option<String>,
    /// Device number of a device node.
    pub rdev: u64,
    /// Allow-listed xattrs.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// A directory tree's metadata, keyed by slash-separated relative path (the root
/// itself is not recorded).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeSnapshot {
    /// The directory.
    pub root: PathBuf,
    /// Every path below it.
    pub paths: BTreeMap<String, PathMeta>,
}

impl TreeSnapshot {
    /// Records the metadata of every path below `root` (nothing is followed).
    pub fn scan(root: &Path) -> Result<TreeSnapshot> {
        let mut paths = BTreeMap::new();
        for item in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
            let item = item.map_err(|e| walk_error(root, e))?;
            let abs = item.path();
            let rel = rel_string(root, abs)?;
            let md = item.metadata().map_err(|e| walk_error(root, e))?;
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                FileKind::Dir
            } else if ft.is_file() {
                FileKind::File
            } else if ft.is_symlink() {
                FileKind::Symlink
            } else if ft.is_char_device() {
                FileKind::CharDevice
            } else if ft.is_block_device() {
                FileKind::BlockDevice
            } else if ft.is_fifo() {
                FileKind::Fifo
            } else {
                FileKind::Socket
            };
            let target = match kind {
                FileKind::Symlink => Some(link_target(abs)?),
                _ => None,
            };
            let names = list_xattrs(abs)?;
            paths.insert(
                rel,
                PathMeta {
                    kind,
                    mode: md.mode() & 0o7777,
                    uid: md.uid(),
                    gid: md.gid(),
                    size: md.size(),
                    mtime: (md.mtime(), md.mtime_nsec()),
                    ctime: (md.ctime(), md.ctime_nsec()),
                    btime: md
                        .created()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| (d.as_secs() as i64, i64::from(d.subsec_nanos()))),
                    dev: md.dev(),
                    ino: md.ino(),
                    nlink: md.nlink(),
                    target,
                    rdev: md.rdev(),
                    xattrs: allowed_xattrs(abs, &names),
                },
            );
        }
        Ok(TreeSnapshot {
            root: root.to_path_buf(),
            paths,
        })
    }
}

/// Copies the merged view of `lowers` (snapshot dirs, top-most first) into `dest`
/// (created if missing, must be empty), honouring whiteouts and opaque directories,
/// and records its metadata. Files are copied, never hard-linked to the snapshots, and
/// hard links inside a layer are not kept: like an overlay copy-up, a change to one
/// name never shows through another.
pub fn materialize(lowers: &[PathBuf], dest: &Path) -> Result<TreeSnapshot> {
    fs::create_dir_all(dest).map_err(Error::io("creating", dest))?;
    if fs::read_dir(dest)
        .map_err(Error::io("reading", dest))?
        .next()
        .is_some()
    {
        return Err(Error::Unsupported {
            path: dest.to_path_buf(),
            reason: "materializing into a directory that is not empty".into(),
        });
    }
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755))
        .map_err(Error::io("chmod", dest))?;
    let is_root = lading_oci::unpack::running_as_root();
    let mut dirs: BTreeMap<String, (u32, TimeSpec)> = BTreeMap::new();
    for lower in lowers.iter().rev() {
        for item in walkdir::WalkDir::new(lower)
            .min_depth(1)
            .follow_links(false)
        {
            let item = item.map_err(|e| walk_error(lower, e))?;
            let src = item.path();
            let rel = rel_string(lower, src)?;
            let dst = dest.join(&rel);
            let md = item.metadata().map_err(|e| walk_error(lower, e))?;
            let ft = md.file_type();
            let existing = fs::symlink_metadata(&dst).ok();
            if ft.is_char_device() && md.rdev() == 0 {
                remove_tree(&dst)?;
                dirs.retain(|k, _| !(k == &rel || k.starts_with(&format!("{rel}/"))));
                continue;
            }
            let times = TimeSpec::new(md.mtime(), md.mtime_nsec());
            if ft.is_dir() {
                match existing {
                    Some(e) if e.is_dir() => {
                        if has_opaque_xattr(src) {
                            clear_dir(&dst)?;
                            dirs.retain(|k, _| !k.starts_with(&format!("{rel}/")));
                        }
                    }
                    Some(_) => {
                        remove_tree(&dst)?;
                        fs::create_dir(&dst).map_err(Error::io("creating", &dst))?;
                    }
                    None => fs::create_dir(&dst).map_err(Error::io("creating", &dst))?,
                }
                fs::set_permissions(&dst, fs::Permissions::from_mode(0o700))
                    .map_err(Error::io("chmod", &dst))?;
                dirs.insert(rel, (md.mode() & 0o7777, times));
            } else {
                if existing.is_some() {
                    remove_tree(&dst)?;
                    dirs.retain(|k, _| !(k == &rel || k.starts_with(&format!("{rel}/"))));
                }
                if ft.is_file() {
                    fs::copy(src, &dst).map_err(Error::io("copying to", &dst))?;
                } else if ft.is_symlink() {
                    let t = fs::read_link(src).map_err(Error::io("reading symlink", src))?;
                    symlink(&t, &dst).map_err(Error::io("creating symlink", &dst))?;
                } else {
                    let kind = if ft.is_char_device() {
                        SFlag::S_IFCHR
                    } else if ft.is_block_device() {
                        SFlag::S_IFBLK
                    } else if ft.is_fifo() {
                        SFlag::S_IFIFO
                    } else {
                        continue;
                    };
                    let dev = md.rdev();
                    let (ma, mi) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
                    mknod(&dst, kind, Mode::from_bits_truncate(0o600), makedev(ma, mi))
                        .map_err(Error::nix("creating", &dst))?;
                }
            }
            if is_root {
                lchown(&dst, Some(md.uid()), Some(md.gid())).map_err(Error::io("chown", &dst))?;
            }
            if !ft.is_symlink() && !ft.is_dir() {
                fs::set_permissions(&dst, fs::Permissions::from_mode(md.mode() & 0o7777))
                    .map_err(Error::io("chmod", &dst))?;
            }
            copy_xattrs(src, &dst, is_root)?;
            if !ft.is_dir() {
                utimensat(
                    AT_FDCWD,
                    &dst,
                    &times,
                    &times,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(Error::nix("setting mtime of", &dst))?;
            }
        }
    }
    for (rel, (mode, times)) in dirs.iter().rev() {
        let dst = dest.join(rel);
        fs::set_permissions(&dst, fs::Permissions::from_mode(*mode))
            .map_err(Error::io("chmod", &dst))?;
        utimensat(
            AT_FDCWD,
            &dst,
            times,
            times,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(Error::nix("setting mtime of", &dst))?;
    }
    TreeSnapshot::scan(dest)
}

/// Removes everything inside `dir`.
fn clear_dir(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).map_err(Error::io("reading", dir))? {
        let e = e.map_err(Error::io("reading", dir))?;
        remove_tree(&e.path())?;
    }
    Ok(())
}

/// Makes the allow-listed xattrs of `dst` those of `src`.
fn copy_xattrs(src: &Path, dst: &Path, is_root: bool) -> Result<()> {
    if fs::symlink_metadata(src).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(());
    }
    let want = allowed_xattrs(src, &list_xattrs(src)?);
    for name in list_xattrs(dst)? {
        if xattr_allowed(&name) && !want.contains_key(&name) {
            xattr::remove(dst, &name).map_err(Error::io("removing xattr of", dst))?;
        }
    }
    for (k, v) in &want {
        if !is_root && k.starts_with("security.") {
            continue;
        }
        xattr::set(dst, k, v).map_err(Error::io("setting xattr on", dst))?;
    }
    Ok(())
}

fn changed(b: &PathMeta, a: &PathMeta) -> bool {
    b != a
}

/// The entries of the layer that the changes to `dir` since `before` (recorded by
/// [`materialize`] or [`TreeSnapshot::scan`]) amount to: new and changed paths with
/// their parent directories, one whiteout per deleted subtree, and a directory that
/// was removed and made again as an opaque directory with all its content.
pub fn diff_dirs(before: &TreeSnapshot, dir: &Path, opts: &DiffOptions<'_>) -> Result<Vec<Entry>> {
    let after = TreeSnapshot::scan(dir)?;
    let mut emit: BTreeSet<String> = BTreeSet::new();
    let mut opaque: HashSet<String> = HashSet::new();
    let mut recreated: Vec<String> = Vec::new();
    for (p, a) in &after.paths {
        if a.kind == FileKind::Socket {
            continue;
        }
        let Some(b) = before.paths.get(p) else {
            emit.insert(p.clone());
            continue;
        };
        if b.kind != a.kind {
            emit.insert(p.clone());
        } else if a.kind == FileKind::Dir {
            if b.ino != a.ino || b.dev != a.dev || b.btime != a.btime {
                emit.insert(p.clone());
                opaque.insert(p.clone());
                recreated.push(p.clone());
            } else if (b.mode, b.uid, b.gid, &b.xattrs) != (a.mode, a.uid, a.gid, &a.xattrs) {
                emit.insert(p.clone());
            }
        } else if changed(b, a) {
            emit.insert(p.clone());
        }
    }
    let in_recreated = |p: &str| recreated.iter().any(|r| p != r && under(p, r));
    for (p, a) in &after.paths {
        if a.kind != FileKind::Socket && in_recreated(p) {
            emit.insert(p.clone());
        }
    }
    // A deleted path gets a whiteout unless a parent is gone, no longer a
    // directory or made anew (those hide it already).
    let mut whiteouts = Vec::new();
    for (p, b) in &before.paths {
        if after.paths.contains_key(p) || b.kind == FileKind::Socket {
            continue;
        }
        let mut hidden = false;
        let mut cur = p.as_str();
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            let gone = after.paths.get(cur).is_none_or(|m| m.kind != FileKind::Dir);
            if gone || recreated.iter().any(|r| r == cur) {
                hidden = true;
                break;
            }
        }
        if !hidden {
            whiteouts.push(p.clone());
        }
    }
    // Parents of every change, as overlayfs copies them up.
    let mut parents = Vec::new();
    for p in emit.iter().chain(whiteouts.iter()) {
        let mut cur = split_parent(p).0;
        while !cur.is_empty() {
            parents.push(cur.to_string());
            cur = split_parent(cur).0;
        }
    }
    emit.extend(parents.into_iter().filter(|p| after.paths.contains_key(p)));

    let mut changes = Vec::new();
    for p in emit {
        let abs = dir.join(&p);
        let md = fs::symlink_metadata(&abs).map_err(Error::io("inspecting", &abs))?;
        let kind = if md.is_dir() {
            ChangeKind::Dir {
                opaque: opaque.contains(&p),
            }
        } else {
            match super::diff::plain_kind(&md, &abs)? {
                Some(k) => k,
                None => continue,
            }
        };
        let names = list_xattrs(&abs)?;
        changes.push(super::diff::change(p, abs, kind, &md, &names)?);
    }
    for p in whiteouts {
        changes.push(Change {
            abs: dir.join(&p),
            rel: p,
            kind: ChangeKind::Whiteout,
            mode: 0,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
            link_id: None,
        });
    }
    finish(changes, opts, |rel| {
        Ok(match before.paths.get(rel) {
            None => Below::Absent,
            Some(m) if m.kind == FileKind::Dir => Below::Dir {
                mode: m.mode,
                uid: m.uid,
                gid: m.gid,
                xattrs: m.xattrs.clone(),
            },
            Some(_) => Below::Other,
        })
    })
}
