//! Turning an overlay upper dir (or a list of changed paths) into layer entries.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use lading_oci::layer::{Entry, EntryKind, FileData, compare_paths, split_parent};

use super::{Error, Result, has_opaque_xattr, opaque_entry, xattr_allowed};

/// Turns host ids into the ids recorded in a layer.
pub type IdMap = dyn Fn(u32, u32) -> (u32, u32) + Sync;

fn identity(uid: u32, gid: u32) -> (u32, u32) {
    (uid, gid)
}

/// Options of [`diff_upper`] and [`super::diff_dirs`].
#[derive(Clone, Copy)]
pub struct DiffOptions<'a> {
    /// Container paths the sandbox created (mount points such as `proc`, `etc/hosts`,
    /// `run/secrets`): left out of the layer with everything below them.
    pub ignore: &'a [String],
    /// Host (uid, gid) → layer (uid, gid); the identity for rootful builds.
    pub map_ids: &'a IdMap,
}

impl Default for DiffOptions<'_> {
    fn default() -> Self {
        DiffOptions {
            ignore: &[],
            map_ids: &identity,
        }
    }
}

impl fmt::Debug for DiffOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiffOptions")
            .field("ignore", &self.ignore)
            .finish_non_exhaustive()
    }
}

/// One changed path before it becomes an [`Entry`].
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub rel: String,
    pub abs: PathBuf,
    pub kind: ChangeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// (device, inode) of a non-directory with more than one link.
    pub link_id: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChangeKind {
    Dir { opaque: bool },
    File { size: u64 },
    Symlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    Whiteout,
}

/// What the tree below the change set has at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Below {
    Absent,
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
        xattrs: BTreeMap<String, Vec<u8>>,
    },
    Other,
}

/// The entries of the layer that an overlay `upper` dir (mounted over `lowers`,
/// top-most first) amounts to. See the module docs for the rules. File contents are
/// referenced by path ([`FileData::Path`]): write the layer before the upper dir goes.
pub fn diff_upper(upper: &Path, lowers: &[PathBuf], opts: &DiffOptions<'_>) -> Result<Vec<Entry>> {
    let mut changes = Vec::new();
    for item in walkdir::WalkDir::new(upper)
        .min_depth(1)
        .follow_links(false)
    {
        let item = item.map_err(|e| walk_error(upper, e))?;
        let abs = item.path().to_path_buf();
        let rel = rel_string(upper, &abs)?;
        let md = item.metadata().map_err(|e| walk_error(upper, e))?;
        let names = list_xattrs(&abs)?;
        for n in &names {
            let overlay_feature = ["redirect", "metacopy"]
                .iter()
                .any(|f| *n == format!("trusted.overlay.{f}") || *n == format!("user.overlay.{f}"));
            if overlay_feature {
                return Err(Error::Unsupported {
                    path: abs,
                    reason: format!(
                        "overlayfs wrote {n}: mount with redirect_dir=off,metacopy=off"
                    ),
                });
            }
        }
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            let opaque = ["trusted.overlay.opaque", "user.overlay.opaque"]
                .iter()
                .any(|k| {
                    names.iter().any(|n| n == k) && get_xattr(&abs, k).as_deref() == Some(b"y")
                });
            ChangeKind::Dir { opaque }
        } else if ft.is_char_device() && md.rdev() == 0 {
            ChangeKind::Whiteout
        } else if ft.is_socket() {
            continue;
        } else {
            match plain_kind(&md, &abs)? {
                Some(k) => k,
                None => continue,
            }
        };
        changes.push(change(rel, abs, kind, &md, &names)?);
    }
    finish(changes, opts, |rel| below_lowers(lowers, rel))
}

/// The kind of a non-directory, non-whiteout object (`None` for sockets).
pub(super) fn plain_kind(md: &Metadata, abs: &Path) -> Result<Option<ChangeKind>> {
    let ft = md.file_type();
    let dev = |rdev: u64| {
        (
            nix::sys::stat::major(rdev) as u32,
            nix::sys::stat::minor(rdev) as u32,
        )
    };
    Ok(Some(if ft.is_file() {
        ChangeKind::File { size: md.len() }
    } else if ft.is_symlink() {
        ChangeKind::Symlink(link_target(abs)?)
    } else if ft.is_char_device() {
        let (a, b) = dev(md.rdev());
        ChangeKind::Char(a, b)
    } else if ft.is_block_device() {
        let (a, b) = dev(md.rdev());
        ChangeKind::Block(a, b)
    } else if ft.is_fifo() {
        ChangeKind::Fifo
    } else if ft.is_dir() {
        ChangeKind::Dir { opaque: false }
    } else {
        return Ok(None);
    }))
}

pub(super) fn link_target(abs: &Path) -> Result<String> {
    let t = fs::read_link(abs).map_err(Error::io("reading symlink", abs))?;
    t.into_os_string()
        .into_string()
        .map_err(|_| Error::Unsupported {
            path: abs.to_path_buf(),
            reason: "symlink target is not UTF-8".into(),
        })
}

pub(super) fn change(
    rel: String,
    abs: PathBuf,
    kind: ChangeKind,
    md: &Metadata,
    names: &[String],
) -> Result<Change> {
    let xattrs = if kind == ChangeKind::Whiteout {
        BTreeMap::new()
    } else {
        allowed_xattrs(&abs, names)
    };
    let link_id = (!md.is_dir() && md.nlink() > 1).then(|| (md.dev(), md.ino()));
    Ok(Change {
        rel,
        abs,
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        xattrs,
        link_id,
    })
}

pub(super) fn walk_error(root: &Path, e: walkdir::Error) -> Error {
    let path = e.path().unwrap_or(root).to_path_buf();
    Error::Io {
        op: "walking",
        path,
        source: e.into(),
    }
}

/// `abs` relative to `root`, as a slash-separated string.
pub(super) fn rel_string(root: &Path, abs: &Path) -> Result<String> {
    let rel = abs.strip_prefix(root).unwrap_or(abs);
    rel.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Unsupported {
            path: abs.to_path_buf(),
            reason: "the name is not UTF-8".into(),
        })
}

/// Names of the xattrs of `abs` (not following a symlink). File systems without xattr
/// support have none.
pub(super) fn list_xattrs(abs: &Path) -> Result<Vec<String>> {
    match xattr::list(abs) {
        Ok(names) => Ok(names.filter_map(|n| n.into_string().ok()).collect()),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => Ok(Vec::new()),
        Err(e) => Err(Error::io("listing xattrs of", abs)(e)),
    }
}

fn get_xattr(abs: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(abs, name).ok().flatten()
}

/// The allow-listed xattrs of `abs` among `names`.
pub(super) fn allowed_xattrs(abs: &Path, names: &[String]) -> BTreeMap<String, Vec<u8>> {
    names
        .iter()
        .filter(|n| xattr_allowed(n))
        .filter_map(|n| Some((n.clone(), get_xattr(abs, n)?)))
        .collect()
}

/// What the merged view of `lowers` (top-most first) has at `rel`. Nothing is
/// followed: a symlink or whiteout on the way hides everything below it.
pub(super) fn below_lowers(lowers: &[PathBuf], rel: &str) -> Result<Below> {
    let comps: Vec<&str> = rel.split('/').collect();
    for lower in lowers {
        let mut cur = lower.clone();
        let mut opaque = is_opaque(&cur);
        for (i, comp) in comps.iter().enumerate() {
            cur.push(comp);
            let md = match fs::symlink_metadata(&cur) {
                Ok(md) => md,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(Error::io("inspecting", &cur)(e)),
            };
            let ft = md.file_type();
            if ft.is_char_device() && md.rdev() == 0 {
                return Ok(Below::Absent);
            }
            if i + 1 == comps.len() {
                if !ft.is_dir() {
                    return Ok(Below::Other);
                }
                let names = list_xattrs(&cur)?;
                return Ok(Below::Dir {
                    mode: md.mode() & 0o7777,
                    uid: md.uid(),
                    gid: md.gid(),
                    xattrs: allowed_xattrs(&cur, &names),
                });
            }
            if !ft.is_dir() {
                return Ok(Below::Absent);
            }
            opaque = opaque || is_opaque(&cur);
        }
        // Not in this lower; an opaque dir on the way hides the lowers under it.
        if opaque {
            return Ok(Below::Absent);
        }
    }
    Ok(Below::Absent)
}

fn is_opaque(dir: &Path) -> bool {
    has_opaque_xattr(dir)
}

/// Normalizes container paths: no leading or trailing `/`, `.` and `..` resolved.
fn clean_ignore(ignore: &[String]) -> Vec<String> {
    ignore
        .iter()
        .filter_map(|p| lading_oci::source::safe_relative(Path::new(p.trim_start_matches('/'))))
        .filter_map(|p| p.to_str().map(str::to_string))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether `path` is `dir` or below it.
pub(super) fn under(path: &str, dir: &str) -> bool {
    path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// The shared tail of both diffs: drops ignored paths and directories that are only
/// there because of copy-up or the sandbox, decides opaque markers and hard links, and
/// builds the entries.
pub(super) fn finish(
    mut changes: Vec<Change>,
    opts: &DiffOptions<'_>,
    below: impl Fn(&str) -> Result<Below>,
) -> Result<Vec<Entry>> {
    let ignore = clean_ignore(opts.ignore);
    changes.retain(|c| !ignore.iter().any(|i| under(&c.rel, i)));
    changes.sort_by(|a, b| compare_paths(&a.rel, &b.rel));

    // Children come after their parents: walk backwards so a directory is judged
    // knowing whether anything below it stays.
    let mut has_child: HashSet<String> = HashSet::new();
    let mut keep = vec![true; changes.len()];
    for (i, c) in changes.iter_mut().enumerate().rev() {
        if let ChangeKind::Dir { opaque } = &mut c.kind {
            let below = below(&c.rel)?;
            // An opaque marker matters only where the lowers have a directory.
            *opaque = *opaque && matches!(below, Below::Dir { .. });
            if !*opaque && !has_child.contains(&c.rel) {
                let same = below
                    == Below::Dir {
                        mode: c.mode,
                        uid: c.uid,
                        gid: c.gid,
                        xattrs: c.xattrs.clone(),
                    };
                let sandbox_parent =
                    below == Below::Absent && ignore.iter().any(|ig| under(ig, &c.rel));
                if same || sandbox_parent {
                    keep[i] = false;
                    continue;
                }
            }
        }
        has_child.insert(split_parent(&c.rel).0.to_string());
    }

    let mut first_link: HashMap<(u64, u64), String> = HashMap::new();
    let mut entries = Vec::new();
    for (c, k) in changes.into_iter().zip(keep) {
        if !k {
            continue;
        }
        if c.kind == ChangeKind::Whiteout {
            entries.push(Entry::whiteout(&c.rel));
            continue;
        }
        let (uid, gid) = (opts.map_ids)(c.uid, c.gid);
        let mut opaque = false;
        let mut kind = match c.kind {
            ChangeKind::Dir { opaque: o } => {
                opaque = o;
                EntryKind::Dir
            }
            ChangeKind::File { size } => EntryKind::File {
                data: FileData::Path(c.abs.clone()),
                size,
            },
            ChangeKind::Symlink(t) => EntryKind::Symlink(t),
            ChangeKind::Char(a, b) => EntryKind::CharDevice(a, b),
            ChangeKind::Block(a, b) => EntryKind::BlockDevice(a, b),
            ChangeKind::Fifo => EntryKind::Fifo,
            ChangeKind::Whiteout => continue,
        };
        let mut xattrs = c.xattrs;
        if let Some(id) = c.link_id {
            match first_link.get(&id) {
                Some(first) => {
                    // The link shares the first name's inode, xattrs included.
                    kind = EntryKind::Hardlink(first.clone());
                    xattrs.clear();
                }
                None => {
                    first_link.insert(id, c.rel.clone());
                }
            }
        }
        entries.push(Entry {
            path: c.rel.clone(),
            kind,
            mode: c.mode,
            uid,
            gid,
            xattrs,
        });
        if opaque {
            entries.push(opaque_entry(&c.rel));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(rel: &str, opaque: bool) -> Change {
        Change {
            rel: rel.into(),
            abs: PathBuf::from("/nonexistent").join(rel),
            kind: ChangeKind::Dir { opaque },
            mode: 0o755,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
            link_id: None,
        }
    }

    fn file(rel: &str, link: Option<(u64, u64)>) -> Change {
        Change {
            kind: ChangeKind::File { size: 0 },
            mode: 0o644,
            link_id: link,
            ..dir(rel, false)
        }
    }

    fn same_dir() -> Below {
        Below::Dir {
            mode: 0o755,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
        }
    }

    fn paths(e: &[Entry]) -> Vec<String> {
        e.iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn copied_up_parents_of_ignored_mount_points_are_dropped() {
        let changes = vec![
            dir("etc", false),
            file("etc/hosts", None),
            dir("run", false),
            dir("run/secrets", false),
            dir("tmp", false),
            file("tmp/new", None),
        ];
        let ignore = vec!["/etc/hosts".to_string(), "run/secrets/".to_string()];
        let opts = DiffOptions {
            ignore: &ignore,
            ..DiffOptions::default()
        };
        // `etc` and `tmp` exist below unchanged; `run` only exists for the mount point.
        let below = |p: &str| {
            Ok(if p == "run" {
                Below::Absent
            } else {
                same_dir()
            })
        };
        let e = finish(changes, &opts, below).unwrap();
        assert_eq!(paths(&e), vec!["tmp", "tmp/new"]);
    }

    #[test]
    fn changed_or_new_empty_directories_stay() {
        let mut chmodded = dir("var", false);
        chmodded.mode = 0o700;
        let changes = vec![chmodded, dir("new", false), dir("same", false)];
        let below = |p: &str| {
            Ok(if p == "new" {
                Below::Absent
            } else {
                same_dir()
            })
        };
        let e = finish(changes, &DiffOptions::default(), below).unwrap();
        assert_eq!(paths(&e), vec!["new", "var"]);
    }

    #[test]
    fn opaque_marker_only_where_a_lower_directory_is_hidden() {
        let changes = vec![dir("a", true), dir("b", true)];
        let below = |p: &str| Ok(if p == "a" { same_dir() } else { Below::Other });
        let e = finish(changes, &DiffOptions::default(), below).unwrap();
        assert_eq!(paths(&e), vec!["a", "a/.wh..wh..opq", "b"]);
    }

    #[test]
    fn hard_links_point_at_the_first_name_in_canonical_order() {
        let changes = vec![
            file("z", Some((1, 2))),
            file("a/b", Some((1, 2))),
            dir("a", false),
        ];
        let e = finish(changes, &DiffOptions::default(), |_| Ok(Below::Absent)).unwrap();
        assert_eq!(paths(&e), vec!["a", "a/b", "z"]);
        assert!(matches!(&e[2].kind, EntryKind::Hardlink(t) if t == "a/b"));
        assert!(matches!(e[1].kind, EntryKind::File { .. }));
    }

    #[test]
    fn ids_go_through_the_map() {
        let map = |u: u32, g: u32| (u - 100_000, g - 100_000);
        let mut c = file("f", None);
        c.uid = 100_001;
        c.gid = 100_002;
        let opts = DiffOptions {
            ignore: &[],
            map_ids: &map,
        };
        let e = finish(vec![c], &opts, |_| Ok(Below::Absent)).unwrap();
        assert_eq!((e[0].uid, e[0].gid), (1, 2));
    }

    #[test]
    fn ignore_matches_whole_components_only() {
        assert!(under("run/secrets/x", "run/secrets"));
        assert!(under("run/secrets", "run/secrets"));
        assert!(!under("run/secrets2", "run/secrets"));
    }
}
