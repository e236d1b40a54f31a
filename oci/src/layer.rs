//! The deterministic layer writer (ARCHITECTURE.md, "Determinism rules").
//!
//! Callers describe a layer as a list of [`Entry`]s; [`write_layer`] sorts them, writes
//! a tar stream with fixed header fields (mtime = the epoch, empty user/group names,
//! PAX records only where ustar cannot hold a value), compresses it with gzip and streams
//! it into the store, computing the diff-id and the blob digest on the way.
//! [`write_layer_tar`] stores the tar uncompressed instead (the builder's layers, which
//! most builds never export) and [`compress_layer`] gzips such a layer when it is
//! exported, giving the same bytes as [`write_layer`].

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::constants::{MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::hash::HashingWriter;
use crate::spec::Descriptor;
use crate::store::Store;

/// Prefix of a whiteout entry's base name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Base name of an opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// gzip level used for every layer; part of the determinism contract.
pub const GZIP_LEVEL: u32 = 6;

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
pub enum FileData {
    /// A file on the host; it must still have the recorded size when the layer is written.
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
}

/// What kind of file system object an entry is.
#[derive(Debug, Clone)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes.
    File {
        /// Content.
        data: FileData,
        /// Size in bytes.
        size: u64,
    },
    /// A symbolic link to `target`.
    Symlink(String),
    /// A hard link to another path of the same layer.
    Hardlink(String),
    /// A character device.
    CharDevice(u32, u32),
    /// A block device.
    BlockDevice(u32, u32),
    /// A FIFO.
    Fifo,
}

/// One tar entry of a layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Slash-separated path relative to the root, no leading `/`, no trailing `/`.
    pub path: String,
    /// Kind and content.
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Extended attributes (already filtered to the allow-list).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Entry {
    /// A directory entry.
    pub fn dir(path: impl Into<String>, mode: u32, uid: u32, gid: u32) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode,
            uid,
            gid,
            xattrs: BTreeMap::new(),
        }
    }

    /// A whiteout hiding `path` of lower layers.
    pub fn whiteout(path: &str) -> Entry {
        let (parent, name) = split_parent(path);
        let wh = format!("{WHITEOUT_PREFIX}{name}");
        Entry {
            path: join(parent, &wh),
            kind: EntryKind::File {
                data: FileData::Bytes(Arc::from(&[][..])),
                size: 0,
            },
            mode: 0,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
        }
    }

    /// Whether the entry is a whiteout or opaque marker.
    pub fn is_whiteout(&self) -> bool {
        split_parent(&self.path).1.starts_with(WHITEOUT_PREFIX)
    }
}

/// Splits `a/b/c` into (`a/b`, `c`); the parent of a top-level name is `""`.
pub fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// The canonical entry order: component-wise bytewise (so parents precede children and
/// a directory's subtree is contiguous, as `tar --sort=name` does), with whiteouts
/// first among their siblings.
pub fn compare_paths(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('/');
    let mut bi = b.split('/');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => {
                let wx = x.starts_with(WHITEOUT_PREFIX);
                let wy = y.starts_with(WHITEOUT_PREFIX);
                return wy.cmp(&wx).then_with(|| x.as_bytes().cmp(y.as_bytes()));
            }
        }
    }
}

/// A layer written to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// Descriptor of the compressed blob.
    pub descriptor: Descriptor,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// Sorts `entries` by path; of two entries for one path, the later one wins.
fn sorted_entries(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| compare_paths(&a.path, &b.path));
    // The sort is stable: of two entries for one path, the later one wins.
    entries.dedup_by(|later, earlier| {
        let same = later.path == earlier.path;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    entries
}

/// Sorts `entries`, writes them as a gzip-compressed tar into `store` and returns the
/// blob descriptor and diff-id. Every mtime becomes `epoch`.
pub fn write_layer(store: &Store, entries: Vec<Entry>, epoch: u64) -> Result<LayerBlob> {
    let entries = sorted_entries(entries);
    let blob = store.writer()?;
    let gz = crate::gzip::ParallelGzWriter::new(blob, GZIP_LEVEL, crate::gzip::default_threads());
    let mut tar_out = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, gz));
    write_tar(&mut tar_out, &entries, epoch)?;
    let (buf, diff_id, _) = tar_out.finish();
    let stream_err = |source| Error::Stream {
        what: "compressing layer".into(),
        source,
    };
    let gz = buf.into_inner().map_err(|e| stream_err(e.into_error()))?;
    let blob = gz.finish().map_err(stream_err)?;
    let (digest, size) = blob.commit(None)?;
    Ok(LayerBlob {
        descriptor: Descriptor::new(MEDIA_TYPE_LAYER_GZIP, digest, size),
        diff_id,
    })
}

/// Like [`write_layer`], but stores the tar uncompressed (media type
/// `application/vnd.oci.image.layer.v1.tar`, blob digest = diff-id): for layers that
/// may never be exported; [`compress_layer`] gives the gzip blob [`write_layer`] would
/// have written, byte for byte, when one is.
pub fn write_layer_tar(store: &Store, entries: Vec<Entry>, epoch: u64) -> Result<LayerBlob> {
    let entries = sorted_entries(entries);
    let mut blob = store.writer()?;
    write_tar(&mut blob, &entries, epoch)?;
    let (digest, size) = blob.commit(None)?;
    Ok(LayerBlob {
        descriptor: Descriptor::new(MEDIA_TYPE_LAYER_TAR, digest.clone(), size),
        diff_id: digest,
    })
}

/// [`write_layer_tar`] and [`compress_layer`] in one pass, for a layer known to be
/// exported (one of the target stage's): the tar is written to the store and, as it is
/// produced, gzipped on the parallel encoder into a second blob, so compressing
/// overlaps reading and tarring the files instead of following them, and the tar is
/// not read back and hashed again. The same two blobs as the two calls give; the gzip
/// record is written as [`compress_layer`] writes it. Returns the tar layer and the
/// gzip blob's descriptor.
pub fn write_layer_tar_and_gzip(
    store: &Store,
    entries: Vec<Entry>,
    epoch: u64,
) -> Result<(LayerBlob, Descriptor)> {
    let entries = sorted_entries(entries);
    let gz = crate::gzip::ParallelGzWriter::new(
        store.writer()?,
        GZIP_LEVEL,
        crate::gzip::default_threads(),
    );
    let mut tee = Tee {
        tar: store.writer()?,
        gz: io::BufWriter::with_capacity(1 << 20, gz),
    };
    write_tar(&mut tee, &entries, epoch)?;
    let stream_err = |source| Error::Stream {
        what: "compressing layer".into(),
        source,
    };
    let gz = tee
        .gz
        .into_inner()
        .map_err(|e| stream_err(e.into_error()))?;
    let gz_blob = gz.finish().map_err(stream_err)?;
    let (digest, size) = tee.tar.commit(None)?;
    let (gz_digest, gz_size) = gz_blob.commit(None)?;
    let gz = Descriptor::new(MEDIA_TYPE_LAYER_GZIP, gz_digest, gz_size);
    record_gzip(store, &digest, &gz)?;
    Ok((
        LayerBlob {
            descriptor: Descriptor::new(MEDIA_TYPE_LAYER_TAR, digest.clone(), size),
            diff_id: digest,
        },
        gz,
    ))
}

/// Writes everything to both writers.
struct Tee<A, B> {
    tar: A,
    gz: B,
}

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tar.write_all(buf)?;
        self.gz.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tar.flush()?;
        self.gz.flush()
    }
}

/// The file recording `gz` as the gzip blob of the tar layer `tar` (see
/// [`compress_layer`]).
fn gzip_record_path(store: &Store, tar: &Digest) -> PathBuf {
    store.private_dir().join("cache/gzip").join(tar.hex())
}

fn record_gzip(store: &Store, tar: &Digest, gz: &Descriptor) -> Result<()> {
    let record = gzip_record_path(store, tar);
    if let Some(dir) = record.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    }
    let bytes = serde_json::to_vec(gz).map_err(|source| Error::Json {
        what: "the gzip record of a layer".into(),
        source,
    })?;
    crate::store::write_atomic(&record, &bytes)
}

/// The gzip blob of the uncompressed layer `layer` (one [`write_layer_tar`] wrote):
/// compressed at [`GZIP_LEVEL`] with the same encoder as [`write_layer`], so the bytes
/// are those [`write_layer`] gives for the same entries. The tar is re-hashed as it is
/// read and must match its digest, or nothing becomes visible. Compressed once per
/// store: the result is recorded under the store's private dir (by diff-id) and, with
/// `reuse`, taken from there while its blob is present.
pub fn compress_layer(store: &Store, layer: &Descriptor, reuse: bool) -> Result<Descriptor> {
    let record = gzip_record_path(store, &layer.digest);
    if reuse
        && let Ok(bytes) = std::fs::read(&record)
        && let Ok(d) = serde_json::from_slice::<Descriptor>(&bytes)
        && d.media_type == MEDIA_TYPE_LAYER_GZIP
        && store.has(&d.digest)
    {
        return Ok(d);
    }
    let file = store.open_blob(&layer.digest)?;
    // The tar is checked against its digest and size as it is compressed: a mismatch
    // fails the copy, and the gzip blob is never committed.
    let mut tar_in = crate::hash::VerifyingReader::new(
        io::BufReader::with_capacity(1 << 20, file),
        layer.digest.clone(),
        layer.size,
    );
    let blob = store.writer()?;
    let mut gz =
        crate::gzip::ParallelGzWriter::new(blob, GZIP_LEVEL, crate::gzip::default_threads());
    let stream_err = |source: io::Error| match crate::hash::verification_error(&source) {
        Some(mismatch) => mismatch,
        None => Error::Stream {
            what: format!("compressing layer {}", layer.digest),
            source,
        },
    };
    io::copy(&mut tar_in, &mut gz).map_err(stream_err)?;
    let blob = gz.finish().map_err(stream_err)?;
    let (digest, size) = blob.commit(None)?;
    let d = Descriptor::new(MEDIA_TYPE_LAYER_GZIP, digest, size);
    record_gzip(store, &layer.digest, &d)?;
    Ok(d)
}

/// Writes sorted entries as a deterministic tar stream (with the two end blocks).
pub fn write_tar<W: Write + ?Sized>(out: &mut W, entries: &[Entry], epoch: u64) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    for entry in entries {
        append_entry(&mut builder, entry, epoch)?;
    }
    builder.finish().map_err(|source| Error::Stream {
        what: "finishing tar stream".into(),
        source,
    })
}

const USTAR_MAX_ID: u32 = 0o7_777_777;

fn append_entry<W: Write>(b: &mut tar::Builder<W>, e: &Entry, epoch: u64) -> Result<()> {
    let stream = |source| Error::Stream {
        what: format!("writing tar entry {}", e.path),
        source,
    };
    let mut h = tar::Header::new_ustar();
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    let name = match e.kind {
        EntryKind::Dir => format!("{}/", e.path),
        _ => e.path.clone(),
    };
    if h.set_path(&name).is_err() || name.len() > 255 {
        pax.push(("path".into(), name.clone().into_bytes()));
        let short: String = name
            .chars()
            .rev()
            .take(90)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        h.set_path(short.trim_start_matches('/')).map_err(stream)?;
    }
    h.set_mode(e.mode & 0o7777);
    for (id, key, setter) in [
        (
            e.uid,
            "uid",
            tar::Header::set_uid as fn(&mut tar::Header, u64),
        ),
        (e.gid, "gid", tar::Header::set_gid),
    ] {
        if id > USTAR_MAX_ID {
            pax.push((key.into(), id.to_string().into_bytes()));
            setter(&mut h, 0);
        } else {
            setter(&mut h, u64::from(id));
        }
    }
    h.set_mtime(epoch);
    let mut size = 0;
    let link = |h: &mut tar::Header, pax: &mut Vec<(String, Vec<u8>)>, target: &str| {
        if target.len() > 100 || h.set_link_name(target).is_err() {
            pax.push(("linkpath".into(), target.as_bytes().to_vec()));
            let _ = h.set_link_name("");
        }
    };
    match &e.kind {
        EntryKind::Dir => h.set_entry_type(tar::EntryType::Directory),
        EntryKind::File { size: s, .. } => {
            h.set_entry_type(tar::EntryType::Regular);
            size = *s;
        }
        EntryKind::Symlink(t) => {
            h.set_entry_type(tar::EntryType::Symlink);
            link(&mut h, &mut pax, t);
        }
        EntryKind::Hardlink(t) => {
            h.set_entry_type(tar::EntryType::Link);
            link(&mut h, &mut pax, t);
        }
        EntryKind::CharDevice(ma, mi) | EntryKind::BlockDevice(ma, mi) => {
            h.set_entry_type(if matches!(e.kind, EntryKind::CharDevice(..)) {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            h.set_device_major(*ma).map_err(stream)?;
            h.set_device_minor(*mi).map_err(stream)?;
        }
        EntryKind::Fifo => h.set_entry_type(tar::EntryType::Fifo),
    }
    h.set_size(size);
    for (k, v) in &e.xattrs {
        pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
    }
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(stream)?;
    }
    h.set_cksum();
    match &e.kind {
        EntryKind::File { data, size } => match data {
            FileData::Bytes(bytes) => b.append(&h, &bytes[..]).map_err(stream),
            FileData::Path(p) => {
                let f = File::open(p).map_err(Error::io("opening", p))?;
                let mut r = ExactReader {
                    inner: f.take(*size),
                    left: *size,
                };
                b.append(&h, &mut r).map_err(|source| Error::Io {
                    op: "reading (did the file change during the build?)",
                    path: p.clone(),
                    source,
                })
            }
        },
        _ => b.append(&h, io::empty()).map_err(stream),
    }
}

/// Fails instead of silently padding when a file shrank after it was listed.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file is shorter than when it was listed",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A digest of everything that determines a layer's bytes: each entry's path, kind,
/// metadata and content hash, and the epoch. Equal keys give byte-identical layers, so
/// the key can address a layer cache without knowing how the entries were planned.
pub fn content_key(entries: &[Entry], epoch: u64) -> Result<Digest> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| compare_paths(&a.path, &b.path));
    let mut h = crate::hash::Sha256::new();
    h.update(format!("lading-layer-v1 gzip{GZIP_LEVEL} epoch={epoch}\n").as_bytes());
    for e in sorted {
        let kind = match &e.kind {
            EntryKind::Dir => "dir".to_string(),
            EntryKind::File { data, size } => {
                let digest = match data {
                    FileData::Bytes(b) => Digest::of(b),
                    FileData::Path(p) => {
                        let f = File::open(p).map_err(Error::io("opening", p))?;
                        let mut r = crate::hash::HashingReader::new(f);
                        io::copy(&mut r, &mut io::sink()).map_err(Error::io("reading", p))?;
                        r.finish().0
                    }
                };
                format!("file {size} {digest}")
            }
            EntryKind::Symlink(t) => format!("symlink {t:?}"),
            EntryKind::Hardlink(t) => format!("hardlink {t:?}"),
            EntryKind::CharDevice(a, b) => format!("char {a} {b}"),
            EntryKind::BlockDevice(a, b) => format!("block {a} {b}"),
            EntryKind::Fifo => "fifo".to_string(),
        };
        h.update(
            format!(
                "{:?} {kind} {:o} {} {} {:?}\n",
                e.path, e.mode, e.uid, e.gid, e.xattrs
            )
            .as_bytes(),
        );
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_depth_first_with_whiteouts_first() {
        let mut v = vec!["a-c", "a/b", "a", "a/.wh.z", "a/!x", "b"];
        v.sort_by(|a, b| compare_paths(a, b));
        assert_eq!(v, vec!["a", "a/.wh.z", "a/!x", "a/b", "a-c", "b"]);
    }

    #[test]
    fn compressing_a_tar_layer_gives_the_gzip_layer_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Larger than a few gzip blocks, partly compressible.
        let big: Vec<u8> = (0..700_000u32)
            .map(|i| ((i % 251) ^ (i / 977)) as u8)
            .collect();
        let entries = || {
            vec![
                Entry::dir("a", 0o755, 0, 0),
                Entry {
                    kind: EntryKind::File {
                        data: FileData::Bytes(big.clone().into()),
                        size: big.len() as u64,
                    },
                    ..Entry::dir("a/big", 0o644, 1, 2)
                },
                Entry::whiteout("a/gone"),
            ]
        };
        let gz = write_layer(&store, entries(), 0).unwrap();
        let tar = write_layer_tar(&store, entries(), 0).unwrap();
        assert_eq!(tar.descriptor.media_type, MEDIA_TYPE_LAYER_TAR);
        assert_eq!(tar.descriptor.digest, gz.diff_id);
        assert_eq!(tar.diff_id, gz.diff_id);
        store.delete_blob(&gz.descriptor.digest).unwrap();
        assert_eq!(
            compress_layer(&store, &tar.descriptor, true).unwrap(),
            gz.descriptor
        );
        let record = store
            .private_dir()
            .join("cache/gzip")
            .join(tar.descriptor.digest.hex());
        assert!(record.is_file());
        // Without reuse, compressed again: the same blob.
        assert_eq!(
            compress_layer(&store, &tar.descriptor, false).unwrap(),
            gz.descriptor
        );
        // With reuse, the record answers: the tar is not even read.
        store.delete_blob(&tar.descriptor.digest).unwrap();
        assert_eq!(
            compress_layer(&store, &tar.descriptor, true).unwrap(),
            gz.descriptor
        );
        assert!(compress_layer(&store, &tar.descriptor, false).is_err());
    }

    #[test]
    fn writing_tar_and_gzip_at_once_gives_the_blobs_of_the_two_steps() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Several gzip blocks, files of odd sizes, long names, whiteouts.
        let mut state = 7u64;
        let mut entries = vec![Entry::dir("d", 0o755, 0, 0), Entry::whiteout("d/gone")];
        for i in 0..40 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (state >> 40) as usize % 90_000;
            let data: Vec<u8> = (0..len)
                .map(|j| ((j as u64).wrapping_mul(state) >> 13) as u8)
                .collect();
            entries.push(Entry {
                kind: EntryKind::File {
                    size: data.len() as u64,
                    data: FileData::Bytes(data.into()),
                },
                ..Entry::dir(format!("d/{}{i}", "n".repeat(i * 4)), 0o644, i as u32, 0)
            });
        }
        let (tar, gz) = write_layer_tar_and_gzip(&store, entries.clone(), 5).unwrap();
        let two_steps = write_layer(&store, entries.clone(), 5).unwrap();
        assert_eq!(gz, two_steps.descriptor);
        assert_eq!(tar, write_layer_tar(&store, entries, 5).unwrap());
        // The record answers a later export without reading the tar.
        store.delete_blob(&tar.descriptor.digest).unwrap();
        assert_eq!(compress_layer(&store, &tar.descriptor, true).unwrap(), gz);
    }

    #[test]
    fn compressing_a_tampered_tar_layer_fails_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tar = write_layer_tar(&store, vec![Entry::dir("a", 0o755, 0, 0)], 0).unwrap();
        let path = store.blob_path(&tar.descriptor.digest);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let before = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert!(compress_layer(&store, &tar.descriptor, true).is_err());
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            before
        );
    }
}
