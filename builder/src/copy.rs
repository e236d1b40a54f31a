//! `COPY` and `ADD`: turning sources into the entries of one layer, with docker's
//! destination rules:
//!
//! * a destination ending in `/`, several sources, or a wildcard matching several
//!   paths make the destination a directory; so does a destination that already exists
//!   as a directory in the stage;
//! * a directory source copies its *contents* (with `--parents`, its path too);
//! * missing parent directories are created (`0755`, owned by `--chown` or root);
//! * symlinks inside copied trees are copied as symlinks; a source path that is itself
//!   a symlink is followed (inside its root only).
//!
//! A file downloaded by `ADD <url>` is named after the URL (see [`crate::remote`]) and
//! gets mode `0600`, as BuildKit's HTTP source writes it; it follows the same
//! destination rules as a single file.
//!
//! Context files are owned by root (host owners never reach a layer) and get their
//! permission bits by the context's [`ContextModes`]: by default all of `0o7777` as the
//! context has them, as BuildKit and buildah copy them; with
//! [`ContextModes::Normalize`], `0644` (or `0755` when any execute bit is set) and
//! directories `0755`, so the host umask never reaches a layer. Either way the
//! directory a copy creates as its destination (`COPY dir /dest/`, `COPY . /app/`) gets
//! `0755`, not the source directory's mode, as in BuildKit. Files copied from a stage
//! keep the stage's metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lading_oci::layer::{Entry, EntryKind, FileData};
use lading_oci::unpack::{NodeKind, Rootfs};

use crate::chmod::Chmod;
use crate::context::ignore::IgnoreMatcher;
use crate::context::local::LocalContext;
use crate::error::{StepError, StepResult};
use crate::options::ContextModes;
use crate::pathmatch::{glob_match, has_glob};
use crate::users::Owner;

/// Where sources are read from.
pub enum CopyFrom<'a> {
    /// The build context (or a named local context).
    Context(&'a LocalContext),
    /// The root filesystem of a stage or image, unpacked into `Rootfs::dir`.
    Rootfs(&'a Rootfs),
    /// The root filesystem of a stage or image read through its layer snapshots: the
    /// tree, and where each regular file's bytes are.
    Layered(&'a Rootfs, &'a BTreeMap<String, PathBuf>),
}

/// A source after expansion.
#[derive(Debug, Clone)]
pub enum Src {
    /// A path or wildcard.
    Path(String),
    /// Inline content (`COPY <<EOF`), named by the heredoc delimiter.
    Inline {
        /// File name.
        name: String,
        /// Content.
        content: Vec<u8>,
    },
    /// A file downloaded for `ADD <url>`, waiting on the host.
    Remote {
        /// File name (from the URL).
        name: String,
        /// Where the content is.
        path: PathBuf,
        /// Size in bytes.
        size: u64,
        /// `ADD --unpack=true`: extract it when it is a tar archive.
        unpack: bool,
    },
}

/// Mode of a downloaded file before `--chmod` (BuildKit's HTTP source uses `0600`).
pub const REMOTE_FILE_MODE: u32 = 0o600;

/// One `COPY`/`ADD` after expansion.
pub struct CopyRequest<'a> {
    /// Sources.
    pub sources: Vec<Src>,
    /// Absolute destination (WORKDIR applied), trailing `/` kept.
    pub dest: String,
    /// `--chown`, resolved.
    pub owner: Option<Owner>,
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Option<IgnoreMatcher>,
    /// `ADD` archive handling: `Some(dir)` extracts local tar archives, using `dir` for
    /// temporary files.
    pub unpack_archives: Option<&'a Path>,
}

/// What one resolved source contributes, before destination rules apply.
struct Item {
    /// Path relative to its root (context or rootfs), used by `--parents`.
    rel: String,
    kind: ItemKind,
}

enum ItemKind {
    Dir(Vec<Entry>),
    File(Entry),
    Archive(PathBuf),
}

/// Plans the layer entries of a copy into `dest_fs`.
pub fn plan(
    req: &CopyRequest<'_>,
    from: &CopyFrom<'_>,
    dest_fs: &Rootfs,
) -> StepResult<Vec<Entry>> {
    let mut items = Vec::new();
    for src in &req.sources {
        match src {
            Src::Inline { name, content } => items.push(Item {
                rel: name.clone(),
                kind: ItemKind::File(file_entry(
                    name,
                    FileData::Bytes(Arc::from(&content[..])),
                    content.len() as u64,
                    0o644,
                )),
            }),
            Src::Remote {
                name,
                path,
                size,
                unpack,
            } => items.push(Item {
                rel: name.clone(),
                kind: if *unpack
                    && req.unpack_archives.is_some()
                    && crate::archive::is_archive(path)
                {
                    ItemKind::Archive(path.clone())
                } else {
                    ItemKind::File(file_entry(
                        name,
                        FileData::Path(path.clone()),
                        *size,
                        REMOTE_FILE_MODE,
                    ))
                },
            }),
            Src::Path(p) => resolve_items(p, from, req, &mut items)?,
        }
    }
    let dest_slash = req.dest.ends_with('/');
    let dest = resolve_in_rootfs(dest_fs, &req.dest)?;
    let dest_exists_dir =
        dest_fs.get(&dest).is_some_and(|n| n.kind == NodeKind::Dir) || dest.is_empty();
    let multiple = items.len() > 1;
    if req.sources.len() > 1 && !dest_slash && !dest_exists_dir {
        return Err(StepError::msg(
            "when using COPY with more than one source file, the destination must be a directory and end with a /",
        ));
    }
    let dest_is_dir = dest_slash || multiple || dest_exists_dir;

    let mut out: Vec<Entry> = Vec::new();
    // Directories this copy creates because they are missing (see `settle_new_dirs`).
    let mut new_dirs = BTreeMap::new();
    for item in items {
        let base = if req.parents {
            parent_of(&item.rel)
        } else {
            String::new()
        };
        match item.kind {
            ItemKind::Dir(children) => {
                let root = join_rel(
                    &dest,
                    &if req.parents {
                        item.rel.clone()
                    } else {
                        String::new()
                    },
                );
                // The destination directory itself gets the owner, not --chmod.
                out.extend(dest_dir(&root, dest_fs, req, &mut new_dirs));
                for mut c in children {
                    c.path = join_rel(&root, &c.path);
                    let is_dir = matches!(c.kind, EntryKind::Dir);
                    out.push(meta(c, req, is_dir));
                }
            }
            ItemKind::File(mut e) => {
                e.path = if dest_is_dir {
                    join_rel(&join_rel(&dest, &base), base_name(&item.rel))
                } else {
                    dest.clone()
                };
                out.push(meta(e, req, false));
            }
            ItemKind::Archive(path) => {
                let tmp = req.unpack_archives.unwrap_or(Path::new("/nonexistent"));
                let root = join_rel(&dest, &base);
                out.extend(dest_dir(&root, dest_fs, req, &mut new_dirs));
                // Extracted entries keep the archive's owners and modes, as docker's do.
                let extracted = crate::archive::extract(&path, tmp, dest_fs, &root)?;
                archive_parents(&extracted, &root, dest_fs, &mut out, &mut new_dirs);
                out.extend(extracted);
            }
        }
    }
    add_parents(&mut out, dest_fs, req.owner, &mut new_dirs)?;
    settle_new_dirs(&mut out, &new_dirs, dest_fs);
    Ok(out)
}

/// Directories an archive implies below its destination (entries under them, none for
/// them) that the stage does not have: BuildKit's untar creates them owned by root,
/// whatever `--chown` says.
fn archive_parents(
    extracted: &[Entry],
    root: &str,
    fs: &Rootfs,
    out: &mut Vec<Entry>,
    new_dirs: &mut BTreeMap<String, Option<Owner>>,
) {
    let present: BTreeSet<&str> = extracted.iter().map(|e| e.path.as_str()).collect();
    for e in extracted {
        let mut p = e.path.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if p.len() <= root.len() || present.contains(p) || new_dirs.contains_key(p) {
                break;
            }
            if fs.get(p).is_none() {
                let root_owned = Some(Owner { uid: 0, gid: 0 });
                new_dirs.insert(p.to_string(), root_owned);
                out.push(new_dir(p.to_string(), None, root_owned));
            }
        }
    }
}

/// A directory a step creates because it is missing (a copy's destination or its
/// parents, `WORKDIR`): `0755`, owned by `owner` or root. BuildKit makes these with
/// `mkdir`, so the kernel's setgid rule applies: under a setgid directory (`parent`'s
/// mode and group) the new one gets the setgid bit and, unless an owner is given, the
/// parent's group.
pub(crate) fn new_dir(path: String, parent: Option<(u32, u32)>, owner: Option<Owner>) -> Entry {
    let (mut mode, mut gid) = (0o755, 0);
    if let Some((parent_mode, parent_gid)) = parent
        && parent_mode & 0o2000 != 0
    {
        mode |= 0o2000;
        gid = parent_gid;
    }
    match owner {
        Some(o) => Entry::dir(path, mode, o.uid, o.gid),
        None => Entry::dir(path, mode, 0, gid),
    }
}

/// Gives each directory in `new_dirs` the metadata [`new_dir`] gives it with its owner,
/// parents first (a new directory under a new setgid one inherits from it too).
fn settle_new_dirs(out: &mut [Entry], new_dirs: &BTreeMap<String, Option<Owner>>, fs: &Rootfs) {
    if new_dirs.is_empty() {
        return;
    }
    let index: BTreeMap<String, usize> = out
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, EntryKind::Dir))
        .map(|(i, e)| (e.path.clone(), i))
        .collect();
    // A BTreeMap yields a parent before its children (a prefix sorts first).
    for (path, &owner) in new_dirs {
        let Some(&i) = index.get(path) else { continue };
        let parent_path = parent_of(path);
        let parent = match index.get(&parent_path) {
            Some(&p) => Some((out[p].mode, out[p].gid)),
            None => fs
                .get(&parent_path)
                .filter(|n| n.kind == NodeKind::Dir)
                .map(|n| (n.mode, n.gid)),
        };
        out[i] = new_dir(path.clone(), parent, owner);
    }
}

/// The entry for the directory a copy of a directory (or an archive) lands in: a new one
/// gets `0755`, owned by `--chown` or root; one the stage has already keeps its mode and
/// owner, as in BuildKit (a `1777` `/tmp` stays sticky after `COPY dir /tmp/`). None for
/// the root.
fn dest_dir(
    root: &str,
    dest_fs: &Rootfs,
    req: &CopyRequest<'_>,
    new_dirs: &mut BTreeMap<String, Option<Owner>>,
) -> Option<Entry> {
    if root.is_empty() {
        return None;
    }
    match dest_fs.get(root) {
        Some(n) if n.kind == NodeKind::Dir => {
            Some(Entry::dir(root.to_string(), n.mode & 0o7777, n.uid, n.gid))
        }
        _ => {
            new_dirs.insert(root.to_string(), req.owner);
            Some(new_dir(root.to_string(), None, req.owner))
        }
    }
}

fn meta(mut e: Entry, req: &CopyRequest<'_>, is_dir: bool) -> Entry {
    if let Some(o) = req.owner {
        e.uid = o.uid;
        e.gid = o.gid;
    }
    if let Some(c) = &req.chmod
        && !matches!(e.kind, EntryKind::Symlink(_))
    {
        e.mode = c.apply(e.mode, is_dir) & 0o7777;
    }
    e
}

fn file_entry(path: &str, data: FileData, size: u64, mode: u32) -> Entry {
    Entry {
        path: path.to_string(),
        kind: EntryKind::File { data, size },
        mode,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }
}

fn resolve_items(
    word: &str,
    from: &CopyFrom<'_>,
    req: &CopyRequest<'_>,
    items: &mut Vec<Item>,
) -> StepResult<()> {
    // `--parents`: the part before `/./` is not kept (BuildKit's marker).
    let keep_from = word.find("/./").map(|i| {
        word[..i]
            .trim_start_matches('/')
            .trim_start_matches("./")
            .to_string()
    });
    let strip = |rel: String| -> String {
        match &keep_from {
            Some(p) if !p.is_empty() => rel
                .strip_prefix(p.as_str())
                .unwrap_or(&rel)
                .trim_start_matches('/')
                .to_string(),
            _ => rel,
        }
    };
    let excluded = |rel: &str| req.exclude.as_ref().is_some_and(|m| m.is_excluded(rel));
    match from {
        CopyFrom::Context(ctx) => {
            for p in ctx.resolve(word)? {
                if excluded(&p.rel) {
                    continue;
                }
                // A followed symlink keeps the name it was copied by (docker's rule).
                let named = if has_glob(word) {
                    p.rel.clone()
                } else {
                    as_written(word)
                };
                let rel = strip(named);
                if p.is_dir {
                    let mut children = Vec::new();
                    for w in ctx.walk(&p)? {
                        if excluded(&w.rel) {
                            continue;
                        }
                        if let Some(e) = context_entry(&w.rel, &w.host, &w.meta, ctx.modes())? {
                            children.push(e);
                        }
                    }
                    items.push(Item {
                        rel,
                        kind: ItemKind::Dir(children),
                    });
                } else {
                    let m = std::fs::metadata(&p.host)
                        .map_err(|e| StepError::msg(format!("{}: {e}", p.rel)))?;
                    if req.unpack_archives.is_some() && crate::archive::is_archive(&p.host) {
                        items.push(Item {
                            rel,
                            kind: ItemKind::Archive(p.host.clone()),
                        });
                        continue;
                    }
                    let mode = ctx.modes().apply(m.mode(), false);
                    items.push(Item {
                        rel,
                        kind: ItemKind::File(file_entry(
                            "",
                            FileData::Path(p.host.clone()),
                            m.len(),
                            mode,
                        )),
                    });
                }
            }
        }
        CopyFrom::Rootfs(fs) | CopyFrom::Layered(fs, _) => {
            let host = |full: &str| match from {
                CopyFrom::Layered(_, hosts) => hosts.get(full).cloned(),
                _ => Some(fs.dir.join(full)),
            };
            for path in rootfs_glob(fs, word)? {
                if excluded(&path) {
                    continue;
                }
                let node = fs.get(&path).cloned();
                let rel = strip(path.clone());
                match node.map(|n| (n.kind.clone(), n)) {
                    Some((NodeKind::Dir, _)) => {
                        let prefix = format!("{path}/");
                        let mut children = Vec::new();
                        for (p, n) in fs.nodes.range(prefix.clone()..) {
                            let Some(below) = p.strip_prefix(&prefix) else {
                                break;
                            };
                            if excluded(below) {
                                continue;
                            }
                            if let Some(e) = node_entry(&host, below, p, n) {
                                children.push(e);
                            }
                        }
                        items.push(Item {
                            rel,
                            kind: ItemKind::Dir(children),
                        });
                    }
                    Some((_, n)) => {
                        if let Some(e) = node_entry(&host, "", &path, &n) {
                            items.push(Item {
                                rel,
                                kind: ItemKind::File(e),
                            });
                        }
                    }
                    None => return Err(StepError::msg(format!("{word:?} not found"))),
                }
            }
        }
    }
    Ok(())
}

fn context_entry(
    rel: &str,
    host: &Path,
    m: &std::fs::Metadata,
    modes: ContextModes,
) -> StepResult<Option<Entry>> {
    let ft = m.file_type();
    let (kind, mode) = if ft.is_dir() {
        (EntryKind::Dir, modes.apply(m.mode(), true))
    } else if ft.is_symlink() {
        let t = std::fs::read_link(host).map_err(|e| StepError::msg(format!("{rel}: {e}")))?;
        (EntryKind::Symlink(t.to_string_lossy().into_owned()), 0o777)
    } else if ft.is_file() {
        let mode = modes.apply(m.mode(), false);
        (
            EntryKind::File {
                data: FileData::Path(host.to_path_buf()),
                size: m.len(),
            },
            mode,
        )
    } else {
        return Ok(None); // sockets, FIFOs, devices in a context are not copied
    };
    Ok(Some(Entry {
        path: rel.to_string(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }))
}

fn node_entry(
    host: &dyn Fn(&str) -> Option<PathBuf>,
    rel: &str,
    full: &str,
    n: &lading_oci::unpack::Node,
) -> Option<Entry> {
    let kind = match &n.kind {
        NodeKind::Dir => EntryKind::Dir,
        NodeKind::File(size) => EntryKind::File {
            data: FileData::Path(host(full)?),
            size: *size,
        },
        NodeKind::Symlink(t) => EntryKind::Symlink(t.clone()),
        NodeKind::Special => return None,
    };
    Some(Entry {
        path: rel.to_string(),
        kind,
        mode: n.mode,
        uid: n.uid,
        gid: n.gid,
        xattrs: BTreeMap::new(),
    })
}

/// Matches a (possibly wildcard) absolute path against a root filesystem, following a
/// final symlink of a plain path inside the root.
fn rootfs_glob(fs: &Rootfs, word: &str) -> StepResult<Vec<String>> {
    let cleaned: Vec<&str> = word
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if !has_glob(word) {
        let p = resolve_in_rootfs(fs, &cleaned.join("/"))?;
        if p.is_empty() || fs.get(&p).is_some() {
            return Ok(vec![p]);
        }
        return Err(StepError::msg(format!("{word:?} not found")));
    }
    let mut out = Vec::new();
    for path in fs.nodes.keys() {
        let comps: Vec<&str> = path.split('/').collect();
        if comps.len() != cleaned.len() {
            continue;
        }
        let mut ok = true;
        for (pat, c) in cleaned.iter().zip(&comps) {
            if !glob_match(pat, c).map_err(|e| StepError::msg(format!("{word}: {e}")))? {
                ok = false;
                break;
            }
        }
        if ok {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Resolves symlinks of an absolute path inside a root filesystem the way a chroot
/// would (absolute targets start at the root, `..` stops at the root). Components that
/// do not exist are kept as written. Returns a relative path.
pub fn resolve_in_rootfs(fs: &Rootfs, path: &str) -> StepResult<String> {
    let mut cur: Vec<String> = Vec::new();
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .rev()
        .collect();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let joined = cur.join("/");
        if let Some(NodeKind::Symlink(t)) = fs.get(&joined).map(|n| &n.kind) {
            hops += 1;
            if hops > 40 {
                return Err(StepError::msg(format!(
                    "{path}: too many levels of symbolic links"
                )));
            }
            cur.pop();
            if t.starts_with('/') {
                cur.clear();
            }
            for part in t.split('/').filter(|c| !c.is_empty()).rev() {
                pending.push(part.to_string());
            }
        }
    }
    Ok(cur.join("/"))
}

/// Adds directory entries for every missing ancestor; refuses ancestors that are files.
/// Adds every ancestor directory of every entry that the entries do not carry: an
/// existing one with its real metadata from the stage, a missing one `0755`, owned by
/// `--chown` or root. Like BuildKit's layers, ours carry all parents of a changed
/// path, so a layer unpacked on its own (a snapshot) never shows an implied root-owned
/// `0755` directory over the real one below it.
fn add_parents(
    out: &mut Vec<Entry>,
    fs: &Rootfs,
    owner: Option<Owner>,
    new_dirs: &mut BTreeMap<String, Option<Owner>>,
) -> StepResult<()> {
    let present: BTreeSet<String> = out.iter().map(|e| e.path.clone()).collect();
    let mut added = BTreeMap::new();
    for e in out.iter() {
        let mut p = e.path.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if present.contains(p) || added.contains_key(p) {
                continue;
            }
            let dir = match fs.get(p) {
                Some(n) if n.kind == NodeKind::Dir => Entry::dir(p, n.mode, n.uid, n.gid),
                Some(_) => {
                    return Err(StepError::msg(format!(
                        "cannot copy to /{}: /{p} is not a directory",
                        e.path
                    )));
                }
                None => {
                    new_dirs.insert(p.to_string(), owner);
                    new_dir(p.to_string(), None, owner)
                }
            };
            added.insert(p.to_string(), dir);
        }
    }
    out.extend(added.into_values());
    Ok(())
}

/// A source word as a clean relative path (`./a//b/` → `a/b`).
fn as_written(word: &str) -> String {
    word.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn base_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn parent_of(rel: &str) -> String {
    rel.rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ignore::IgnoreMatcher;

    fn plan_from_context(ctx: &Path, sources: &[&str], dest: &str) -> Vec<(String, u32)> {
        plan_with(ctx, sources, dest, ContextModes::Normalize, None)
    }

    fn plan_with(
        ctx: &Path,
        sources: &[&str],
        dest: &str,
        modes: ContextModes,
        chmod: Option<&str>,
    ) -> Vec<(String, u32)> {
        let context = LocalContext::new(ctx, IgnoreMatcher::default())
            .unwrap()
            .with_modes(modes);
        let req = CopyRequest {
            sources: sources.iter().map(|s| Src::Path(s.to_string())).collect(),
            dest: dest.to_string(),
            owner: None,
            chmod: chmod.map(|c| Chmod::parse(c).unwrap()),
            parents: false,
            exclude: None,
            unpack_archives: None,
        };
        let empty = Rootfs::default();
        let mut v: Vec<(String, u32)> = plan(&req, &CopyFrom::Context(&context), &empty)
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.mode))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn followed_symlink_source_keeps_its_name_and_modes_are_normalised() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/real.txt"), "x").unwrap();
        std::os::unix::fs::symlink("sub/real.txt", d.path().join("alias")).unwrap();
        let got = plan_from_context(d.path(), &["alias"], "/dst/");
        assert_eq!(
            got,
            vec![("dst".into(), 0o755), ("dst/alias".into(), 0o644)]
        );
    }

    /// A context with every kind of mode the issue names, set explicitly (no umask).
    fn modes_context() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("d/sub")).unwrap();
        for (name, mode) in [
            ("key", 0o600),
            ("grp", 0o640),
            ("own", 0o700),
            ("run", 0o751),
            ("suid", 0o4755),
            ("d/in", 0o640),
            ("d/sub/deep", 0o4755),
        ] {
            std::fs::write(r.join(name), name).unwrap();
            std::fs::set_permissions(r.join(name), PermissionsExt::from_mode(mode)).unwrap();
        }
        for (name, mode) in [("d/sub", 0o2751), ("d", 0o1777)] {
            std::fs::set_permissions(r.join(name), PermissionsExt::from_mode(mode)).unwrap();
        }
        d
    }

    #[test]
    fn preserved_context_modes_keep_all_bits_but_the_destination_dir_gets_0755() {
        let d = modes_context();
        let got = plan_with(
            d.path(),
            &["key", "grp", "own", "run", "suid"],
            "/f/",
            ContextModes::Preserve,
            None,
        );
        assert_eq!(
            got,
            vec![
                ("f".into(), 0o755),
                ("f/grp".into(), 0o640),
                ("f/key".into(), 0o600),
                ("f/own".into(), 0o700),
                ("f/run".into(), 0o751),
                ("f/suid".into(), 0o4755),
            ]
        );
        // BuildKit: the directory made for `COPY d /t/` is 0755, whatever d's mode is;
        // the tree below it keeps its modes, sticky and setgid included.
        let got = plan_with(d.path(), &["d"], "/t/", ContextModes::Preserve, None);
        assert_eq!(
            got,
            vec![
                ("t".into(), 0o755),
                ("t/in".into(), 0o640),
                ("t/sub".into(), 0o2751),
                ("t/sub/deep".into(), 0o4755),
            ]
        );
        // `COPY . /all/`: the subdirectory d keeps its 01777.
        let got = plan_with(d.path(), &["."], "/all/", ContextModes::Preserve, None);
        assert!(got.contains(&("all".into(), 0o755)), "{got:?}");
        assert!(got.contains(&("all/d".into(), 0o1777)), "{got:?}");
        assert!(got.contains(&("all/key".into(), 0o600)), "{got:?}");
    }

    #[test]
    fn normalized_context_modes_are_0644_or_0755() {
        let d = modes_context();
        let got = plan_with(
            d.path(),
            &["key", "grp", "own", "run", "suid", "d"],
            "/n/",
            ContextModes::Normalize,
            None,
        );
        assert_eq!(
            got,
            vec![
                ("n".into(), 0o755),
                ("n/grp".into(), 0o644),
                ("n/in".into(), 0o644),
                ("n/key".into(), 0o644),
                ("n/own".into(), 0o755),
                ("n/run".into(), 0o755),
                ("n/sub".into(), 0o755),
                ("n/sub/deep".into(), 0o755),
                ("n/suid".into(), 0o755),
            ]
        );
    }

    #[test]
    fn chmod_applies_to_preserved_modes_of_files_and_directories_below() {
        let d = modes_context();
        // Octal replaces all of 07777, as BuildKit's current fsutil and buildah do
        // (dockerd 20.10's older BuildKit kept the source's setuid/setgid/sticky).
        let got = plan_with(
            d.path(),
            &["d"],
            "/c/",
            ContextModes::Preserve,
            Some("0640"),
        );
        assert_eq!(
            got,
            vec![
                ("c".into(), 0o755),
                ("c/in".into(), 0o640),
                ("c/sub".into(), 0o640),
                ("c/sub/deep".into(), 0o640),
            ]
        );
        // Symbolic modes start from the preserved bits.
        let got = plan_with(
            d.path(),
            &["key"],
            "/k",
            ContextModes::Preserve,
            Some("g+r"),
        );
        assert_eq!(got, vec![("k".into(), 0o640)]);
        let got = plan_with(
            d.path(),
            &["key"],
            "/k",
            ContextModes::Normalize,
            Some("g+w"),
        );
        assert_eq!(got, vec![("k".into(), 0o664)]);
    }

    #[test]
    fn copying_a_directory_into_an_existing_one_keeps_its_mode() {
        let d = modes_context();
        let context = LocalContext::new(d.path(), IgnoreMatcher::default()).unwrap();
        let mut fs = Rootfs::default();
        fs.nodes.insert(
            "tmp".into(),
            lading_oci::unpack::Node {
                kind: NodeKind::Dir,
                mode: 0o1777,
                uid: 0,
                gid: 0,
            },
        );
        let req = CopyRequest {
            sources: vec![Src::Path("d".into())],
            dest: "/tmp/".into(),
            owner: Some(Owner { uid: 7, gid: 8 }),
            chmod: None,
            parents: false,
            exclude: None,
            unpack_archives: None,
        };
        let got = plan(&req, &CopyFrom::Context(&context), &fs).unwrap();
        let tmp = got.iter().find(|e| e.path == "tmp").expect("tmp entry");
        assert_eq!(
            (tmp.mode, tmp.uid, tmp.gid),
            (0o1777, 0, 0),
            "not --chown'ed either"
        );
        assert!(got.iter().any(|e| e.path == "tmp/sub"), "{got:?}");
    }

    #[test]
    fn several_sources_need_a_directory_destination() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "a").unwrap();
        std::fs::write(d.path().join("b"), "b").unwrap();
        let context = LocalContext::new(d.path(), IgnoreMatcher::default()).unwrap();
        let req = CopyRequest {
            sources: vec![Src::Path("a".into()), Src::Path("b".into())],
            dest: "/file".into(),
            owner: None,
            chmod: None,
            parents: false,
            exclude: None,
            unpack_archives: None,
        };
        let err = plan(&req, &CopyFrom::Context(&context), &Rootfs::default()).unwrap_err();
        assert!(
            err.message.contains("must be a directory"),
            "{}",
            err.message
        );
    }

    fn plan_remote(dest: &str, dest_fs: &Rootfs, chmod: Option<&str>) -> Vec<(String, u32)> {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("tool.bin");
        std::fs::write(&path, "binary").unwrap();
        let context = LocalContext::new(d.path(), IgnoreMatcher::default()).unwrap();
        let req = CopyRequest {
            sources: vec![Src::Remote {
                name: "tool.bin".into(),
                path,
                size: 6,
                unpack: false,
            }],
            dest: dest.to_string(),
            owner: None,
            chmod: chmod.map(|c| Chmod::parse(c).unwrap()),
            parents: false,
            exclude: None,
            unpack_archives: None,
        };
        let mut v: Vec<(String, u32)> = plan(&req, &CopyFrom::Context(&context), dest_fs)
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.mode))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn remote_file_into_a_slash_destination_keeps_the_url_name_with_mode_0600() {
        assert_eq!(
            plan_remote("/dl/", &Rootfs::default(), None),
            vec![("dl".into(), 0o755), ("dl/tool.bin".into(), 0o600)]
        );
    }

    #[test]
    fn remote_file_to_a_file_destination_is_renamed() {
        assert_eq!(
            plan_remote("/opt/bin/tool", &Rootfs::default(), None),
            vec![
                ("opt".into(), 0o755),
                ("opt/bin".into(), 0o755),
                ("opt/bin/tool".into(), 0o600)
            ]
        );
    }

    #[test]
    fn remote_file_into_an_existing_directory_goes_inside() {
        let mut fs = Rootfs::default();
        fs.nodes.insert(
            "opt".into(),
            lading_oci::unpack::Node {
                kind: NodeKind::Dir,
                mode: 0o750,
                uid: 1000,
                gid: 1000,
            },
        );
        // The existing parent is in the layer with its own metadata (as in BuildKit's
        // layers), so the layer's snapshot alone does not show an implied 0755 one.
        assert_eq!(
            plan_remote("/opt", &fs, None),
            vec![("opt".into(), 0o750), ("opt/tool.bin".into(), 0o600)]
        );
    }

    #[test]
    fn remote_file_mode_follows_chmod() {
        assert_eq!(
            plan_remote("/t", &Rootfs::default(), Some("755")),
            vec![("t".into(), 0o755)]
        );
        assert_eq!(
            plan_remote("/t", &Rootfs::default(), Some("u+x")),
            vec![("t".into(), 0o700)]
        );
    }
}
