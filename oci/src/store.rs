//! The content store: an OCI image layout on disk (image-spec "Image Layout").
//!
//! Blobs are written to a temp file under `.lading/ingest`, hashed while they stream,
//! fsynced and renamed into `blobs/sha256/<hex>` only once their digest is known (and
//! matches what the caller expected). A blob path therefore never holds partial or wrong
//! content. Tags live in `index.json` as `org.opencontainers.image.ref.name` annotations;
//! every update happens under an exclusive lock and replaces the file atomically, so
//! concurrent `lading build`s never lose each other's tags.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::constants::{
    ANNOTATION_REF_NAME, ANNOTATION_REPOSITORY, MAX_JSON_BLOB, MEDIA_TYPE_INDEX, OCI_LAYOUT_CONTENT,
};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::hash::Sha256;
use crate::spec::{Descriptor, Index, from_json, to_canonical_json};

/// Directory (inside the layout) for lading's private state; not part of the OCI layout.
pub const PRIVATE_DIR: &str = ".lading";

/// An OCI image layout used as lading's content store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Whether writes are fsynced before they become visible (see [`Store::open_scratch`]).
    durable: bool,
    /// Whether this process leases what it uses (see [`crate::lease`]); off for scratch
    /// stores, which nobody prunes, and for the collector itself.
    leasing: bool,
}

impl Store {
    /// The default store location: `$LADING_STORE`, else `$XDG_DATA_HOME/lading`, else
    /// `~/.local/share/lading`.
    pub fn default_root() -> PathBuf {
        if let Some(p) = std::env::var_os("LADING_STORE").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
            return PathBuf::from(p).join("lading");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".local/share/lading")
    }

    /// Opens (creating if needed) the layout at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        Store::open_with(root.into(), true)
    }

    /// Opens (creating if needed) a scratch layout whose writes are not fsynced: a
    /// staging area that dies with the process (the signatures a command pushes from
    /// memory), where durability buys nothing and an fsync per file costs milliseconds.
    /// Blobs are still verified and still appear only complete (renamed into place).
    pub fn open_scratch(root: impl Into<PathBuf>) -> Result<Store> {
        Store::open_with(root.into(), false)
    }

    fn open_with(root: PathBuf, durable: bool) -> Result<Store> {
        let store = Store {
            root,
            durable,
            leasing: durable,
        };
        for dir in [
            store.root.join("blobs/sha256"),
            store.private_dir().join("ingest"),
        ] {
            fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        }
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, OCI_LAYOUT_CONTENT.as_bytes())?;
        }
        let index = store.index_path();
        if !index.exists() {
            let _lock = store.lock()?;
            if !index.exists() {
                store.write_index(&empty_index())?;
            }
        }
        Ok(store)
    }

    /// The layout's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// lading's private directory inside the layout (caches, locks, ingest).
    pub fn private_dir(&self) -> PathBuf {
        self.root.join(PRIVATE_DIR)
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Whether the blob is present. The digest is leased first (see [`crate::lease`]), so
    /// a blob found here stays until this process ends, whatever `lading prune` runs
    /// meanwhile. Leasing is best effort here: a store this process cannot write to
    /// cannot be pruned by it either, and its answer is still correct.
    pub fn has(&self, digest: &Digest) -> bool {
        let _ = self.hold_digest(digest);
        self.blob_path(digest).is_file()
    }

    /// Leases `digest` for the rest of this process (see [`crate::lease`]): from now on
    /// prune keeps the blob if it is there. Marks the blob as just used (its mtime), which
    /// is what prune's least-recently-used order reads.
    pub fn hold_digest(&self, digest: &Digest) -> Result<()> {
        if !self.leasing {
            return Ok(());
        }
        let new = crate::lease::lease(&self.private_dir())?.hold(&[digest.to_string()])?;
        if new && let Ok(f) = File::open(self.blob_path(digest)) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Ok(())
    }

    /// Leases other things this process relies on (a snapshot, a cache mount) by key.
    pub fn hold_keys(&self, keys: &[String]) -> Result<()> {
        if !self.leasing {
            return Ok(());
        }
        crate::lease::lease(&self.private_dir())?.hold(keys)?;
        Ok(())
    }

    /// This store without leases: for the collector, which must not keep what it looks at.
    pub fn unleased(&self) -> Store {
        Store {
            leasing: false,
            ..self.clone()
        }
    }

    /// The name prefix for a temp file or dir of this process in the store
    /// (`.tmp-<lease id>-<kind>-`), with the lease taken first, so that prune can tell
    /// it from the leftovers of a dead process.
    pub fn temp_prefix(&self, kind: &str) -> Result<String> {
        if self.leasing {
            crate::lease::lease(&self.private_dir())?;
        }
        Ok(crate::lease::temp_prefix(kind))
    }

    /// A temp dir of this process in the store's private dir (see [`Store::temp_prefix`]).
    pub fn temp_dir(&self, kind: &str) -> Result<tempfile::TempDir> {
        let dir = self.private_dir();
        tempfile::Builder::new()
            .prefix(&self.temp_prefix(kind)?)
            .tempdir_in(&dir)
            .map_err(Error::io("creating temp dir in", &dir))
    }

    /// Starts writing a blob of as yet unknown digest.
    pub fn writer(&self) -> Result<BlobWriter> {
        let dir = self.private_dir().join("ingest");
        let file = tempfile::Builder::new()
            .prefix(&self.temp_prefix("blob")?)
            .tempfile_in(&dir)
            .map_err(Error::io("creating temp file in", &dir))?;
        Ok(BlobWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            count: 0,
            store: self.clone(),
        })
    }

    /// Streams `reader` into the store. With `expected`, a digest or size mismatch is an
    /// error and nothing becomes visible.
    pub fn put_reader<R: Read>(
        &self,
        mut reader: R,
        expected: Option<(&Digest, u64)>,
    ) -> Result<(Digest, u64)> {
        if let Some((d, size)) = expected
            && self.has(d)
            && fs::metadata(self.blob_path(d)).map(|m| m.len()).ok() == Some(size)
        {
            // Content-addressed: the bytes are already here (and were verified on the way in).
            io::copy(&mut reader, &mut io::sink()).map_err(|source| Error::Stream {
                what: format!("reading blob {d}"),
                source,
            })?;
            return Ok((d.clone(), size));
        }
        let mut w = self.writer()?;
        io::copy(&mut reader, &mut w).map_err(|source| Error::Stream {
            what: "streaming blob into the store".into(),
            source,
        })?;
        w.commit(expected)
    }

    /// Stores `bytes` and returns a descriptor with `media_type`.
    pub fn put_bytes(&self, bytes: &[u8], media_type: &str) -> Result<Descriptor> {
        let digest = Digest::of(bytes);
        if !self.has(&digest) {
            let mut w = self.writer()?;
            w.write_all(bytes).map_err(|source| Error::Stream {
                what: "writing blob".into(),
                source,
            })?;
            w.commit(Some((&digest, bytes.len() as u64)))?;
        }
        Ok(Descriptor::new(media_type, digest, bytes.len() as u64))
    }

    /// Opens a blob for reading (not verified; see [`Store::read_blob`]).
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::BlobNotFound {
                    digest: digest.clone(),
                }
            } else {
                Error::io("opening", &path)(e)
            }
        })
    }

    /// Reads a small blob (manifest, config) into memory and verifies its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let file = self.open_blob(digest)?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX_JSON_BLOB {
            return Err(Error::TooLarge {
                what: format!("blob {digest}"),
                size: len,
                limit: MAX_JSON_BLOB,
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(Error::io("reading", self.blob_path(digest)))?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Re-hashes a blob on disk and checks it against its name.
    pub fn verify_blob(&self, digest: &Digest) -> Result<u64> {
        let mut file = self.open_blob(digest)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = file
                .read(&mut buf)
                .map_err(Error::io("reading", self.blob_path(digest)))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        let actual = h.finish();
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(n)
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(Error::io("reading", &path))?;
        from_json(&bytes, "index.json")
    }

    /// Points tag `name` at `desc` (replacing what it pointed at).
    pub fn tag(&self, name: &str, desc: &Descriptor) -> Result<()> {
        self.update_index(|index| {
            index.manifests.retain(|d| {
                d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(name)
            });
            let mut d = desc.clone();
            d.annotations
                .insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
            index.manifests.push(d);
        })
    }

    /// Records an untagged manifest in `index.json` so it is reachable (docker's dangling
    /// image), unless it is already there.
    pub fn add_untagged(&self, desc: &Descriptor) -> Result<()> {
        self.update_index(|index| {
            if !index.manifests.iter().any(|d| d.digest == desc.digest) {
                let mut d = desc.clone();
                d.annotations.remove(ANNOTATION_REF_NAME);
                index.manifests.push(d);
            }
        })
    }

    /// The descriptor a tag points at.
    pub fn resolve_tag(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(name)))
    }

    /// All `(tag, descriptor)` pairs, sorted by tag.
    pub fn tags(&self) -> Result<Vec<(String, Descriptor)>> {
        let mut out: Vec<(String, Descriptor)> = self
            .index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                d.annotations
                    .get(ANNOTATION_REF_NAME)
                    .cloned()
                    .map(|t| (t, d))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Removes a blob from the store. Returns whether it was there. Nothing checks that no
    /// manifest still references it: that is the caller's business.
    pub fn delete_blob(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    sync_dir(dir);
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("removing", &path)(e)),
        }
    }

    /// Changes `index.json` under the lock and replaces it atomically; `change` returns a
    /// value and whether anything changed (the file is not rewritten otherwise).
    pub(crate) fn update_index_with<T>(
        &self,
        change: impl FnOnce(&mut Index) -> (T, bool),
    ) -> Result<T> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let (value, changed) = change(&mut index);
        if changed {
            // Stable order whatever order builds finished in.
            index.manifests.sort_by(|a, b| {
                let key = |d: &Descriptor| {
                    (
                        d.annotations.get(ANNOTATION_REF_NAME).cloned(),
                        d.annotations.get(ANNOTATION_REPOSITORY).cloned(),
                        d.digest.clone(),
                    )
                };
                key(a).cmp(&key(b))
            });
            self.write_index(&index)?;
        }
        Ok(value)
    }

    fn update_index(&self, change: impl FnOnce(&mut Index)) -> Result<()> {
        self.update_index_with(|index| {
            change(index);
            ((), true)
        })
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let bytes = to_canonical_json(index)?;
        self.write_atomic(&self.index_path(), &bytes)
    }

    /// An exclusive lock on the index, released on drop.
    fn lock(&self) -> Result<File> {
        let path = self.private_dir().join("index.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        file.lock().map_err(Error::io("locking", &path))?;
        Ok(file)
    }

    /// Writes a small file atomically: temp file in the same directory, fsync (unless
    /// a scratch store), rename.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        write_file(path, bytes, self.durable)
    }

    /// Whether writes are fsynced (false for [`Store::open_scratch`]).
    pub fn is_durable(&self) -> bool {
        self.durable
    }
}

/// Writes `bytes` to `path` atomically (temp file beside it, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, true)
}

/// `write_atomic`, fsyncing only when `durable`.
fn write_file(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::lease::temp_prefix("write"))
        .tempfile_in(dir)
        .map_err(Error::io("creating temp file in", dir))?;
    tmp.write_all(bytes)
        .and_then(|_| {
            if durable {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(Error::io("writing", tmp.path().to_path_buf()))?;
    tmp.persist(path)
        .map_err(|e| Error::io("renaming into", path)(e.error))?;
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Best effort: makes the rename durable; not all file systems support it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.to_string()),
        ..Index::default()
    }
}

/// A blob being written; becomes visible only through [`BlobWriter::commit`].
pub struct BlobWriter {
    out: BufWriter<tempfile::NamedTempFile>,
    hasher: Sha256,
    count: u64,
    store: Store,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Verifies, fsyncs and renames the blob into place.
    pub fn commit(self, expected: Option<(&Digest, u64)>) -> Result<(Digest, u64)> {
        let actual = self.hasher.finish();
        let size = self.count;
        let tmp = self.out.into_inner().map_err(|e| Error::Stream {
            what: "flushing blob".into(),
            source: e.into_error(),
        })?;
        if let Some((digest, want)) = expected {
            if digest != &actual {
                return Err(Error::DigestMismatch {
                    expected: digest.clone(),
                    actual,
                });
            }
            if want != size {
                return Err(Error::SizeMismatch {
                    digest: actual,
                    expected: want,
                    actual: size,
                });
            }
        }
        if self.store.durable {
            tmp.as_file()
                .sync_all()
                .map_err(Error::io("syncing", tmp.path().to_path_buf()))?;
        }
        // Leased before it becomes visible: nothing references it yet.
        self.store.hold_digest(&actual)?;
        let target = self.store.blob_path(&actual);
        tmp.persist(&target)
            .map_err(|e| Error::io("renaming into", &target)(e.error))?;
        if self.store.durable
            && let Some(dir) = target.parent()
        {
            sync_dir(dir);
        }
        Ok((actual, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_digest_leaves_nothing_visible() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wrong = Digest::of(b"other");
        let err = store
            .put_reader(&b"hello"[..], Some((&wrong, 5)))
            .unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }));
        assert!(!store.has(&wrong));
        assert!(!store.has(&Digest::of(b"hello")));
        let ingest: Vec<_> = fs::read_dir(store.private_dir().join("ingest"))
            .unwrap()
            .collect();
        assert!(ingest.is_empty(), "temp files left behind");
    }

    /// A scratch store skips fsync only: blobs are still verified, and a wrong one
    /// still leaves nothing visible.
    #[test]
    fn scratch_stores_verify_blobs_like_durable_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_scratch(dir.path()).unwrap();
        assert!(!store.is_durable() && Store::open(dir.path()).unwrap().is_durable());
        let wrong = Digest::of(b"other");
        let err = store
            .put_reader(&b"hello"[..], Some((&wrong, 5)))
            .unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }));
        assert!(!store.has(&Digest::of(b"hello")));
        let d = store.put_bytes(b"hello", "x").unwrap();
        assert_eq!(store.read_blob(&d.digest).unwrap(), b"hello");
        store.tag("t:1", &d).unwrap();
        assert_eq!(store.tags().unwrap()[0].1.digest, d.digest);
    }

    #[test]
    fn tags_replace_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.put_bytes(b"{}", "x").unwrap();
        let b = store.put_bytes(b"[]", "x").unwrap();
        store.tag("t:1", &a).unwrap();
        store.tag("t:1", &b).unwrap();
        store.tag("a:1", &a).unwrap();
        let tags = store.tags().unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].0, "a:1");
        assert_eq!(tags[1].1.digest, b.digest);
    }

    #[test]
    fn concurrent_taggers_keep_every_tag() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for j in 0..10 {
                        let d = store.put_bytes(format!("{i}-{j}").as_bytes(), "x").unwrap();
                        store.tag(&format!("t{i}:{j}"), &d).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(store.tags().unwrap().len(), 80);
    }
}
