//! Directories a layer implies (it has entries below them but none for them) keep the
//! metadata of the directory the layers below have there.
//!
//! A layer's snapshot is unpacked on its own, so an implied directory is made
//! root-owned 0755 in it, and overlayfs shows the top-most lower's directory metadata:
//! that snapshot would hide a lower directory's owner and mode. containerd, umoci and
//! buildah apply each layer onto the merged tree of the ones below, where the parent
//! exists and keeps its metadata; that is what a build sees. So above such a layer the
//! chain gets a small "fix-up" lower: only directories, each with the metadata the
//! merged tree has there (the lower's for an implied directory that exists below, the
//! merged one for the ancestors the fix-up needs as parents). It holds no files and no
//! opaque markers, so it changes nothing but directory metadata. It depends on the
//! whole chain below, so it is keyed by the chain (`fixup-<sha256 of the digests>`),
//! while the layer's own snapshot stays keyed by its blob.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lading_oci::gc::FIXUP_CHAIN_FILE as CHAIN_FILE;
use lading_oci::spec::Descriptor;
use nix::unistd::{Gid, Uid, chown};

use super::{
    Error, FS_DIR, IMPLIED_FILE, Result, Snapshots, has_opaque_xattr, place, xattr_allowed,
};

/// Where [`resolve`] found a path: the top-most lower that has it.
fn resolve(lowers: &[PathBuf], rel: &Path) -> Option<PathBuf> {
    // `lowers` is top-most first. Walk the path one component at a time, keeping the
    // lowers that still take part (overlayfs' lookup): a whiteout or an opaque
    // directory stops the search below it, a non-directory under a directory of a
    // higher lower is hidden.
    let comps: Vec<_> = rel.components().collect();
    let mut active: Vec<&PathBuf> = lowers.iter().take_while(|l| !has_opaque_xattr(l)).collect();
    if let Some(l) = lowers.iter().find(|l| has_opaque_xattr(l)) {
        active.push(l);
    }
    let mut sofar = PathBuf::new();
    for (k, c) in comps.iter().enumerate() {
        sofar.push(c);
        let last = k + 1 == comps.len();
        let mut next = Vec::new();
        for l in active {
            let p = l.join(&sofar);
            let Ok(md) = fs::symlink_metadata(&p) else {
                continue;
            };
            if md.file_type().is_char_device() && md.rdev() == 0 {
                break;
            }
            if !md.is_dir() {
                if next.is_empty() && last {
                    return Some(p);
                }
                break;
            }
            next.push(l);
            if has_opaque_xattr(&p) {
                break;
            }
        }
        let top = next.first()?;
        if last {
            return Some(top.join(&sofar));
        }
        active = next;
    }
    None
}

/// Whether a strict ancestor of `rel` is opaque in `layer` (then nothing below it
/// comes from the lowers).
fn under_opaque(layer: &Path, rel: &Path) -> bool {
    rel.ancestors()
        .skip(1)
        .take_while(|a| !a.as_os_str().is_empty())
        .any(|a| has_opaque_xattr(&layer.join(a)))
}

impl Snapshots {
    /// The directories `layer`'s snapshot implied (see [`super::Unpacked::implied`]).
    pub fn implied(&self, layer: &Descriptor) -> Vec<String> {
        fs::read_to_string(self.path(layer).join(IMPLIED_FILE))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The fix-up lower that goes right above `layer` (whose snapshot is `layer_fs`),
    /// given the lowers below it (top-most first) and the digests of the chain up to
    /// and including it; `None` when no implied directory of it exists below.
    pub(super) fn fixup(
        &self,
        store: &lading_oci::Store,
        layer: &Descriptor,
        layer_fs: &Path,
        below: &[PathBuf],
        chain: &[Descriptor],
    ) -> Result<Option<PathBuf>> {
        let implied = self.implied(layer);
        if implied.is_empty() || below.is_empty() {
            return Ok(None);
        }
        let mut h = lading_oci::hash::Sha256::new();
        for d in chain {
            h.update(d.digest.to_string().as_bytes());
            h.update(b"\n");
        }
        let name = format!("fixup-{}", h.finish().hex());
        // Leased before it is looked at or made, so prune leaves it while we use it.
        store.hold_keys(std::slice::from_ref(&name))?;
        let done = self.dir.join(&name);
        let fs_dir = done.join(FS_DIR);
        if fs_dir.is_dir() {
            return Ok(Some(fs_dir));
        }
        // What the fix-up holds: each implied dir that is a dir below, with that
        // metadata, and its ancestors with the metadata of the merged tree so far.
        let mut with_layer = vec![layer_fs.to_path_buf()];
        with_layer.extend(below.iter().cloned());
        let mut dirs: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
        for rel in implied.iter().map(PathBuf::from) {
            if under_opaque(layer_fs, &rel) {
                continue;
            }
            let Some(src) = resolve(below, &rel) else {
                continue;
            };
            if !fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            dirs.insert(rel.clone(), src);
            for a in rel.ancestors().skip(1) {
                if a.as_os_str().is_empty() || dirs.contains_key(a) {
                    continue;
                }
                if let Some(src) = resolve(&with_layer, a) {
                    dirs.insert(a.to_path_buf(), src);
                }
            }
        }
        if dirs.is_empty() {
            return Ok(None);
        }
        let tmp = tempfile::Builder::new()
            .prefix(&lading_oci::lease::temp_prefix("fixup"))
            .tempdir_in(&self.dir)
            .map_err(Error::io("creating temp dir in", &self.dir))?;
        let root = tmp.path().join(FS_DIR);
        fs::create_dir(&root).map_err(Error::io("creating", &root))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod", &root))?;
        // Parents first (BTreeMap order), then metadata children-first so a read-only
        // directory is made after what goes inside it.
        for rel in dirs.keys() {
            let dst = root.join(rel);
            fs::create_dir(&dst).map_err(Error::io("creating", &dst))?;
        }
        for (rel, src) in dirs.iter().rev() {
            let dst = root.join(rel);
            copy_dir_meta(src, &dst)?;
        }
        // The chain it belongs to, so prune can tell when its layers are gone.
        let chain_file = tmp.path().join(CHAIN_FILE);
        let chain_text: String = chain.iter().map(|d| format!("{}\n", d.digest)).collect();
        fs::write(&chain_file, chain_text).map_err(Error::io("writing", &chain_file))?;
        place(&tmp.keep(), &done).map(Some)
    }
}

/// Gives `dst` the owner, allow-listed xattrs, mode and mtime of the directory `src`.
fn copy_dir_meta(src: &Path, dst: &Path) -> Result<()> {
    let md = fs::symlink_metadata(src).map_err(Error::io("reading", src))?;
    match chown(
        dst,
        Some(Uid::from_raw(md.uid())),
        Some(Gid::from_raw(md.gid())),
    ) {
        // Without root, or an id this user namespace does not map: the snapshot of
        // the lower has the same problem and recorded a warning.
        Ok(()) | Err(nix::errno::Errno::EPERM | nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(Error::nix("chown", dst)(e)),
    }
    if let Ok(names) = xattr::list(src) {
        for name in names {
            let Some(n) = name.to_str().filter(|n| xattr_allowed(n)) else {
                continue;
            };
            if let Ok(Some(v)) = xattr::get(src, n) {
                xattr::set(dst, n, &v).map_err(Error::io("setting xattr on", dst))?;
            }
        }
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(Error::io("chmod", dst))?;
    let t = nix::sys::time::TimeSpec::new(md.mtime(), md.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        dst,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(Error::nix("setting mtime of", dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_overlay_lookup() {
        let t = tempfile::tempdir().unwrap();
        let (top, bottom) = (t.path().join("top"), t.path().join("bottom"));
        fs::create_dir_all(bottom.join("a/b")).unwrap();
        fs::create_dir_all(top.join("a")).unwrap();
        fs::write(top.join("f"), b"").unwrap();
        fs::create_dir_all(bottom.join("f/g")).unwrap();
        let lowers = vec![top.clone(), bottom.clone()];
        assert_eq!(resolve(&lowers, Path::new("a")), Some(top.join("a")));
        assert_eq!(resolve(&lowers, Path::new("a/b")), Some(bottom.join("a/b")));
        // A file in a higher lower hides the directory below it.
        assert_eq!(resolve(&lowers, Path::new("f")), Some(top.join("f")));
        assert_eq!(resolve(&lowers, Path::new("f/g")), None);
        assert_eq!(resolve(&lowers, Path::new("missing")), None);
    }
}
