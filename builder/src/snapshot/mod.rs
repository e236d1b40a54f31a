//! Layer snapshots for `RUN`: each image layer unpacked once into a directory in
//! overlayfs "lower" format, and the way back from a changed tree to a layer.
//!
//! A `RUN` step's root is an overlay mount (kernel `Documentation/filesystems/overlayfs.rst`)
//! of one snapshot per image layer (top-most first) plus a fresh upper and work dir.
//! Afterwards [`diff_upper`] turns the upper dir into the entries of the step's layer
//! (image-spec `layer.md`, "Representing Changes"). When overlayfs cannot be mounted,
//! [`materialize`] copies the merged tree into a plain directory and [`diff_dirs`]
//! compares it with its recorded [`TreeSnapshot`] afterwards.
//!
//! Formats followed: <https://docs.kernel.org/filesystems/overlayfs.html> ("whiteouts
//! and opaque directories") and
//! <https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>.
//!
//! Rules, and why each exists:
//!
//! - **Snapshots are keyed by the layer's blob digest and appear atomically.** A layer is
//!   unpacked into a temp dir under `snapshots/` and renamed to `snapshots/2-<hex>`
//!   (`2`: the snapshot format, see [`SNAPSHOT_FORMAT`]), so a
//!   snapshot dir that exists is complete. Two builds unpacking the same layer both
//!   succeed: whoever loses the rename uses the winner's copy. The blob is re-hashed
//!   before unpacking, because a snapshot outlives the read that made it.
//! - **A step's own layer needs no unpacking**: [`prepare`] replays the entries the
//!   layer is written from into a temp dir with the unpacker's rules (hard-linking the
//!   upper dir's files), and [`PreparedSnapshot::commit`] renames it to the blob's
//!   snapshot once the digest is known; when the result could differ from unpacking,
//!   it gives up and the blob is unpacked on first use, as any other.
//! - **A stage can be read without mounting anything**: [`layered_tree`] merges the
//!   snapshots the way overlayfs shows them (for `COPY --from`).
//! - **Unpacking never leaves the snapshot dir.** Layers come from registries, i.e.
//!   from strangers. Names are resolved lexically (`..` that climbs above the root is
//!   refused; an absolute name is taken relative to the root, as containerd and
//!   [`lading_oci::unpack`] do); every parent is opened component by component with
//!   `O_NOFOLLOW` relative to the snapshot root and must be a directory this layer
//!   made (a symlink parent is an error, not a redirection); files are created with
//!   `O_EXCL | O_NOFOLLOW`; a hard link must name an earlier non-directory,
//!   non-symlink entry of the same layer.
//! - **Lower format.** overlayfs reads a whiteout as a character device 0/0 and an
//!   opaque directory as one with `trusted.overlay.opaque=y`, so `.wh.NAME` and
//!   `.wh..wh..opq` are turned into exactly that. Other `.wh..wh.` names (aufs
//!   metadata) are skipped. Rootless builds run in a user namespace, where `trusted.*`
//!   xattrs cannot be written and overlayfs must be mounted with `userxattr`: there
//!   the marker is `user.overlay.opaque=y` ([`OverlayXattrs`]), and the 0/0 whiteout
//!   device is still allowed (unprivileged whiteouts exist since Linux 5.8).
//! - **Rootless snapshots live apart**: `snapshots/userns-<map>/<hex>`, where `<map>`
//!   names the user namespace's id mapping. Their opaque markers differ, and their
//!   files are owned by the host ids that mapping gives (a snapshot unpacked under
//!   another mapping would show other owners).
//! - **Metadata is exact** (mode incl. setuid/setgid/sticky, owner, mtime, allow-listed
//!   xattrs), because the merged tree is what `RUN` commands see, and an upper dir that
//!   overlayfs copied up from it is compared with it. Owners are set before modes
//!   (`chown` clears setuid bits) and capabilities after owners (`chown` clears
//!   `security.capability`); directory modes and mtimes are set last, because creating
//!   children changes a directory's mtime. Devices need root: without it (or in a
//!   user namespace, where `mknod` of a device fails with `EPERM` although we are
//!   uid 0 there) they are skipped with a recorded warning; so are owners that the
//!   user namespace does not map (`EINVAL`: a rootless build without subordinate ids).
//! - **xattrs: an allow-list** ([`xattr_allowed`]: `security.capability` so that
//!   setcap'd binaries work, `user.*`), never `trusted.*` or `security.selinux`: those
//!   describe the machine that built the layer, and `trusted.overlay.*` /
//!   `user.overlay.*` in a layer could steer the kernel's overlay code.
//! - **Upper → layer.** A 0/0 character device is a whiteout; an opaque dir gives the
//!   dir plus its `.wh..wh..opq` marker (only when a lower has a directory there:
//!   overlayfs also marks a directory made over a deleted *file* opaque, which hides
//!   nothing). Hard links inside the upper dir are written as tar hard links to the
//!   first name in canonical order (tar needs the target earlier in the stream).
//!   Sockets are skipped (tar cannot hold them). A metacopy or redirect xattr is an
//!   error: it means the overlay was mounted with features whose upper dir is not a
//!   plain change set (see [`overlay_mount_data`]).
//! - **Sandbox artifacts must not leak.** The sandbox creates mount points (`proc`,
//!   `etc/hosts`, `run/secrets`, ...) that make overlayfs create files and copy up
//!   their parents. Callers pass those paths as `ignore`: they are dropped with their
//!   subtrees, and then every directory that is empty in the layer, not opaque, and
//!   either identical (mode, owner, xattrs) to the directory the lowers already have or
//!   absent below and a parent of an ignored path, is dropped too: it is only there
//!   because overlayfs copied it up or the sandbox made it.
//! - **Owners go through an id map** ([`DiffOptions::map_ids`]) so a rootless build can
//!   turn host ids back into container ids; rootful builds use the identity.
//! - **The fallback gives the same layer** as the overlay for the same operations: it
//!   copies files without sharing inodes (an overlay copy-up breaks hard links too),
//!   reports every changed path together with its parent directories (overlayfs
//!   copies those up), one whiteout per deleted subtree, and a directory whose inode
//!   changed (removed and made again) as an opaque directory with its whole new
//!   content (a new inode number or, where the file system records one, a new birth
//!   time: ext4 readily hands a removed directory's inode number to the next `mkdir`).
//!   Exceptions: a file that was only opened for writing is copied up by overlayfs but
//!   unchanged here; on a file system without birth times, a directory re-created
//!   with its old inode number is reported as whiteouts of its old children instead
//!   of an opaque marker (same tree, other layer bytes).
//! - **Implied parents keep the lower's metadata.** A parent directory that a layer
//!   omits is made root-owned 0755 in its snapshot (like tar does) and recorded
//!   (`implied`); where the layers below have a directory there, a chain-keyed fix-up
//!   lower above the layer gives it their metadata (`fixup.rs`), as containerd, umoci
//!   and buildah show it (they apply layers onto the merged tree). Layers from BuildKit,
//!   buildah and lading itself carry every parent directory.
//! - **Not representable:** a changed root directory (layers do not carry `/`), and
//!   names that are not UTF-8 ([`Entry`] paths are strings) are errors in a diff.

mod commit;
mod diff;
mod fallback;
mod fixup;
mod unpack;
mod view;

use std::fs;
use std::path::{Path, PathBuf};

use lading_oci::layer::Entry;
use lading_oci::spec::Descriptor;
use lading_oci::store::Store;

pub use commit::{PreparedSnapshot, prepare};
pub use diff::{DiffOptions, IdMap, diff_upper};
pub use fallback::{FileKind, PathMeta, TreeSnapshot, diff_dirs, materialize};
pub use unpack::{Unpacked, unpack_lower};
pub use view::{LayeredTree, layered_tree};

/// Inside one snapshot: the directories the layer implied, one per line (absent when
/// none).
pub const IMPLIED_FILE: &str = "implied";
/// Name of the snapshot store under the store's private dir.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Inside one snapshot: the directory used as an overlay lower dir.
pub const FS_DIR: &str = "fs";
/// Inside one snapshot: warnings from unpacking, one per line (absent when none).
pub const WARNINGS_FILE: &str = "warnings";
/// The xattr overlayfs reads to see an opaque directory (rootful mounts).
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The xattr overlayfs reads to see an opaque directory when mounted with `userxattr`.
pub const OVERLAY_OPAQUE_USER_XATTR: &str = "user.overlay.opaque";

/// Which xattrs overlayfs keeps its own markers in, i.e. how it is mounted and what
/// lower format snapshots use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OverlayXattrs {
    /// `trusted.overlay.*`: needs `CAP_SYS_ADMIN` in the initial user namespace.
    #[default]
    Trusted,
    /// `user.overlay.*`: the overlay is mounted with `userxattr` (inside a user
    /// namespace: rootless builds).
    User,
}

impl OverlayXattrs {
    /// What this process can use: [`OverlayXattrs::User`] inside a user namespace.
    pub fn current() -> OverlayXattrs {
        if crate::exec::userns::in_user_namespace() {
            OverlayXattrs::User
        } else {
            OverlayXattrs::Trusted
        }
    }

    /// The xattr that marks a directory opaque.
    pub fn opaque(self) -> &'static str {
        match self {
            OverlayXattrs::Trusted => OVERLAY_OPAQUE_XATTR,
            OverlayXattrs::User => OVERLAY_OPAQUE_USER_XATTR,
        }
    }
}

/// Whether `dir` carries either opaque marker (snapshots and upper dirs of both kinds).
fn has_opaque_xattr(dir: &Path) -> bool {
    [OVERLAY_OPAQUE_XATTR, OVERLAY_OPAQUE_USER_XATTR]
        .iter()
        .any(|k| xattr::get(dir, k).ok().flatten().as_deref() == Some(b"y"))
}

/// Errors of the snapshot module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the layer stream failed.
    #[error("reading {what}")]
    Stream {
        /// The layer.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A layer entry would write outside the snapshot or through a symlink.
    #[error("unsafe entry {path:?} in {what}: {reason}")]
    UnsafePath {
        /// The entry's name (and link target, if any).
        path: String,
        /// The layer.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The upper or materialized dir holds something a layer cannot express.
    #[error("cannot turn {path} into a layer entry: {reason}")]
    Unsupported {
        /// The offending path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading the layer blob from the store failed.
    #[error(transparent)]
    Oci(#[from] lading_oci::Error),
}

type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    fn nix(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(nix::Error) -> Error {
        let path = path.into();
        move |errno| Error::Io {
            op,
            path,
            source: std::io::Error::from(errno),
        }
    }
}

/// Whether an xattr may travel in a layer: `security.capability` (file capabilities)
/// and `user.*`, except overlayfs' own `user.overlay.*`.
pub fn xattr_allowed(name: &str) -> bool {
    name == "security.capability"
        || (name.starts_with("user.") && !name.starts_with("user.overlay."))
}

/// The mount data for an overlay of `lowers` (top-most first) with `upper` and `work`:
/// `lowerdir=…,upperdir=…,workdir=…` plus the options [`diff_upper`] relies on
/// (`redirect_dir=off`, `metacopy=off`, `index=off`: with them the upper dir is a
/// plain change set). With [`OverlayXattrs::User`] it adds `userxattr` and leaves
/// `redirect_dir` out: the kernel refuses `userxattr,redirect_dir=off` and turns
/// redirects off by itself (`nofollow`: none are created). Paths holding `,`, `:` or
/// `\` are refused (they would need escaping). The legacy `mount(2)` takes at most a
/// page of data; many lowers may need the new mount API (`fsconfig` with `lowerdir+`).
pub fn overlay_mount_data(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    xattrs: OverlayXattrs,
) -> Result<String> {
    let check = |p: &Path| -> Result<String> {
        let s = p.to_str().filter(|s| !s.contains([',', ':', '\\']));
        s.map(str::to_string).ok_or_else(|| Error::Unsupported {
            path: p.to_path_buf(),
            reason: "overlay mount options cannot hold this path (',', ':', '\\' or not UTF-8)"
                .into(),
        })
    };
    if lowers.is_empty() {
        return Err(Error::Unsupported {
            path: upper.to_path_buf(),
            reason: "an overlay needs at least one lower dir".into(),
        });
    }
    let lower = lowers
        .iter()
        .map(|l| check(l))
        .collect::<Result<Vec<_>>>()?;
    let features = match xattrs {
        OverlayXattrs::Trusted => "redirect_dir=off,metacopy=off,index=off",
        OverlayXattrs::User => "userxattr,metacopy=off,index=off",
    };
    Ok(format!(
        "lowerdir={},upperdir={},workdir={},{features}",
        lower.join(":"),
        check(upper)?,
        check(work)?
    ))
}

/// The format of a snapshot, part of its directory name. Snapshots of the first format
/// (named by the bare digest) did not record the directories their layer implies
/// ([`IMPLIED_FILE`]), so a store made before that keeps them but they are not used: a
/// foreign layer's stale snapshot would hide a lower directory's owner and mode.
const SNAPSHOT_FORMAT: &str = "2";

/// A snapshot's directory name: `<format>-<layer digest hex>`.
fn snapshot_name(layer: &Descriptor) -> String {
    format!("{SNAPSHOT_FORMAT}-{}", layer.digest.hex())
}

/// The snapshot store: `<store>/.lading/snapshots/2-<layer-digest-hex>/fs`, or
/// `<store>/.lading/snapshots/userns-<map>/2-<layer-digest-hex>/fs` in a user namespace.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    xattrs: OverlayXattrs,
}

impl Snapshots {
    /// The snapshot store of `store` (created if missing) for this process: rootful, or
    /// the one of this user namespace's id mapping.
    pub fn new(store: &Store) -> Result<Snapshots> {
        let mut dir = store.private_dir().join(SNAPSHOTS_DIR);
        let xattrs = OverlayXattrs::current();
        if xattrs == OverlayXattrs::User {
            let id = crate::exec::userns::mapping_id()
                .map_err(Error::io("reading the id maps of", "/proc/self"))?;
            dir.push(format!("userns-{id}"));
        }
        fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        Ok(Snapshots { dir, xattrs })
    }

    /// The directory holding all snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How overlays over these snapshots must be mounted.
    pub fn xattrs(&self) -> OverlayXattrs {
        self.xattrs
    }

    /// Where the snapshot of `layer` lives (whether or not it exists).
    pub fn path(&self, layer: &Descriptor) -> PathBuf {
        self.dir.join(snapshot_name(layer))
    }

    /// Whether `layer` has a complete snapshot.
    pub fn has(&self, layer: &Descriptor) -> bool {
        self.path(layer).join(FS_DIR).is_dir()
    }

    /// The lower dir of `layer`, unpacking the layer first if no complete snapshot
    /// exists. Safe to call from several threads or processes at once.
    pub fn ensure(&self, store: &Store, layer: &Descriptor) -> Result<PathBuf> {
        // Prune keeps the snapshot of a leased blob (and the blob) while we use it.
        store.hold_digest(&layer.digest)?;
        let done = self.path(layer);
        let fs_dir = done.join(FS_DIR);
        if fs_dir.is_dir() {
            return Ok(fs_dir);
        }
        if fs::symlink_metadata(&done).is_ok_and(|m| m.is_symlink()) {
            // An alias (see `alias`) whose target is gone: unpack in its place.
            let _ = fs::remove_file(&done);
        }
        let size = store.verify_blob(&layer.digest)?;
        if size != layer.size {
            return Err(lading_oci::Error::SizeMismatch {
                digest: layer.digest.clone(),
                expected: layer.size,
                actual: size,
            }
            .into());
        }
        let tmp = tempfile::Builder::new()
            .prefix(&store.temp_prefix(&format!("snapshot-{}", layer.digest.hex()))?)
            .tempdir_in(&self.dir)
            .map_err(Error::io("creating temp dir in", &self.dir))?;
        let tmp_fs = tmp.path().join(FS_DIR);
        fs::create_dir(&tmp_fs).map_err(Error::io("creating", &tmp_fs))?;
        let what = format!("layer {}", layer.digest);
        let reader = lading_oci::unpack::open_layer(store, layer)?;
        let unpacked = unpack_lower(reader, &tmp_fs, &what, self.xattrs)?;
        let lists = [
            (WARNINGS_FILE, &unpacked.warnings),
            (IMPLIED_FILE, &unpacked.implied),
        ];
        for (name, lines) in lists {
            if !lines.is_empty() {
                let w = tmp.path().join(name);
                fs::write(&w, lines.join("\n") + "\n").map_err(Error::io("writing", &w))?;
            }
        }
        place(&tmp.keep(), &done)
    }

    /// Lower dirs for an image's `layers` (given bottom-first, as in a manifest),
    /// returned top-most first, as overlayfs' `lowerdir` wants them.
    ///
    /// Above a layer that implies directories the layers below have, the list holds
    /// that chain's fix-up lower (see `fixup.rs`), so the directories keep the lower
    /// ones' metadata, as when layers are applied onto the merged tree.
    pub fn lowers(&self, store: &Store, layers: &[Descriptor]) -> Result<Vec<PathBuf>> {
        // Top-most first while it grows, as `fixup` reads it.
        let mut out: Vec<PathBuf> = Vec::with_capacity(layers.len());
        for (i, l) in layers.iter().enumerate() {
            let fs_dir = self.ensure(store, l)?;
            let fix = self.fixup(store, l, &fs_dir, &out, &layers[..=i])?;
            out.insert(0, fs_dir);
            if let Some(f) = fix {
                out.insert(0, f);
            }
        }
        Ok(out)
    }

    /// Lets the snapshot of `layer` serve as that of `same` too (another blob of the
    /// same tar, e.g. its gzip), as a symlink, when `layer` has one and `same` none.
    /// Best effort: without it, `same` is unpacked on first use.
    pub fn alias(&self, layer: &Descriptor, same: &Descriptor) {
        let to = self.path(same);
        if layer.digest == same.digest
            || fs::symlink_metadata(&to).is_ok()
            || !self.path(layer).join(FS_DIR).is_dir()
        {
            return;
        }
        let _ = std::os::unix::fs::symlink(snapshot_name(layer), &to);
    }

    /// Warnings recorded when `layer` was unpacked (e.g. devices skipped without root).
    pub fn warnings(&self, layer: &Descriptor) -> Vec<String> {
        fs::read_to_string(self.path(layer).join(WARNINGS_FILE))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// Removes a tree even where a directory is read-only (unprivileged builds).
/// Renames the finished snapshot `tmp` to `done` and returns its `fs` dir. Losing the
/// race to another builder that renamed its copy into place first is not an error:
/// both copies are the same, and `tmp` is removed.
fn place(tmp: &Path, done: &Path) -> Result<PathBuf> {
    let fs_dir = done.join(FS_DIR);
    match fs::rename(tmp, done) {
        Ok(()) => Ok(fs_dir),
        Err(e) => {
            let _ = remove_tree(tmp);
            if fs_dir.is_dir() {
                Ok(fs_dir)
            } else {
                Err(Error::io("renaming snapshot into place at", done)(e))
            }
        }
    }
}

fn remove_tree(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspecting", path)(e)),
    };
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(Error::io("removing", path));
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    for e in walkdir::WalkDir::new(path)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if e.file_type().is_dir() {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o700));
        }
    }
    fs::remove_dir_all(path).map_err(Error::io("removing", path))
}

/// The marker entry that makes `dir` opaque in a layer.
fn opaque_entry(dir: &str) -> Entry {
    let mut e = Entry::whiteout(&format!("{dir}/x"));
    e.path = if dir.is_empty() {
        lading_oci::layer::OPAQUE_MARKER.to_string()
    } else {
        format!("{dir}/{}", lading_oci::layer::OPAQUE_MARKER)
    };
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_keeps_capabilities_and_user_xattrs_only() {
        assert!(xattr_allowed("security.capability"));
        assert!(xattr_allowed("user.mime_type"));
        assert!(!xattr_allowed("user.overlay.opaque"));
        assert!(!xattr_allowed("trusted.overlay.opaque"));
        assert!(!xattr_allowed("security.selinux"));
        assert!(!xattr_allowed("system.posix_acl_access"));
    }

    #[test]
    fn opaque_marker_sits_inside_its_directory() {
        assert_eq!(opaque_entry("a/b").path, "a/b/.wh..wh..opq");
        assert_eq!(opaque_entry("").path, ".wh..wh..opq");
        assert!(opaque_entry("a").is_whiteout());
    }

    #[test]
    fn mount_data_refuses_paths_that_need_escaping() {
        let l = vec![PathBuf::from("/s/a/fs"), PathBuf::from("/s/b/fs")];
        let (u, w) = (Path::new("/u"), Path::new("/w"));
        let d = overlay_mount_data(&l, u, w, OverlayXattrs::Trusted).unwrap();
        assert_eq!(
            d,
            "lowerdir=/s/a/fs:/s/b/fs,upperdir=/u,workdir=/w,redirect_dir=off,metacopy=off,index=off"
        );
        let bad = vec![PathBuf::from("/s/a,b")];
        assert!(overlay_mount_data(&bad, u, w, OverlayXattrs::Trusted).is_err());
    }

    #[test]
    fn rootless_mount_data_uses_userxattr_without_redirect_dir() {
        let l = vec![PathBuf::from("/s/a/fs")];
        let d =
            overlay_mount_data(&l, Path::new("/u"), Path::new("/w"), OverlayXattrs::User).unwrap();
        assert_eq!(
            d,
            "lowerdir=/s/a/fs,upperdir=/u,workdir=/w,userxattr,metacopy=off,index=off"
        );
        assert_eq!(OverlayXattrs::User.opaque(), "user.overlay.opaque");
        assert_eq!(OverlayXattrs::Trusted.opaque(), "trusted.overlay.opaque");
    }
}
