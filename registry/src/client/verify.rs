//! Re-verifying a blob while it is pushed. The upload's request bodies stream the blob
//! file from the store; the bytes read are hashed on the way, so a blob file changed
//! after the gates read it (ARCHITECTURE: the bytes that were scanned are the bytes that
//! are pushed) is never completed on the registry: the body that would carry the blob's
//! last bytes fails instead of sending them, and no closing `PUT ?digest=` follows.
//!
//! Chunked uploads carry the hash from one `PATCH` body to the next while they go out in
//! order. A body that does not start where the previous successful one ended (a resume
//! at another offset) breaks that chain; the whole file is then hashed again before the
//! closing `PUT` ([`BlobCheck::verified`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use lading_oci::Digest;
use lading_oci::hash::Sha256;

use super::error::ClientError;

/// Bytes read per body chunk.
const CHUNK: u64 = 1 << 20;
/// Read size when draining past the expected end (error paths only).
const DRAIN: usize = 64 << 10;

/// One blob's bytes checked against its digest and size across the bodies of its upload.
pub(crate) struct BlobCheck {
    digest: Digest,
    size: u64,
    state: Mutex<State>,
}

struct State {
    /// `(pos, hash of the blob's first pos bytes)` while bodies sent them in order.
    linear: Option<(u64, Sha256)>,
    /// Where the last body read to its end stopped, and its hash there: becomes `linear`
    /// once that body's request succeeded (a failed one may be sent again).
    pending: Option<(u64, Sha256)>,
    /// What the blob read as (digest, size) when a body found it changed.
    changed: Option<(Digest, u64)>,
}

impl BlobCheck {
    /// A check of the blob `digest` of `size` bytes; bodies start at offset 0.
    pub fn new(digest: Digest, size: u64) -> BlobCheck {
        BlobCheck {
            digest,
            size,
            state: Mutex::new(State {
                linear: Some((0, Sha256::new())),
                pending: None,
                changed: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-written: every update is one
        // assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new upload session: bodies start at 0 again.
    pub fn reset(&self) {
        let mut s = self.state();
        s.linear = Some((0, Sha256::new()));
        s.pending = None;
    }

    /// The request whose body ended at `end` succeeded.
    pub fn commit(&self, end: u64) {
        let mut s = self.state();
        s.linear = s.pending.take().filter(|(at, _)| *at == end);
    }

    /// The upload resumes at `offset` after a failed request. When the registry holds
    /// exactly up to the end of the body that failed, all of that body's bytes arrived:
    /// the in-order hash carries on from there.
    pub fn resume(&self, offset: u64) {
        let mut s = self.state();
        if s.pending.as_ref().is_some_and(|(end, _)| *end == offset) {
            s.linear = s.pending.take();
        }
    }

    /// Whether the bodies sent so far carried the whole blob in order, and hashed to
    /// its digest (a body that ends the blob only completes when they do).
    pub fn verified(&self) -> bool {
        self.state()
            .linear
            .as_ref()
            .is_some_and(|(pos, _)| *pos == self.size)
    }

    /// The error for a blob a body found changed.
    pub fn changed(&self) -> Option<ClientError> {
        self.state()
            .changed
            .clone()
            .map(|(actual, actual_size)| self.error(actual, actual_size))
    }

    /// Hashes the blob file again (after an out-of-order upload).
    pub fn rehash(&self, path: &std::path::Path) -> Result<(), ClientError> {
        let mut file = File::open(path).map_err(|source| {
            ClientError::Oci(lading_oci::Error::Stream {
                what: format!("reading blob {}", self.digest),
                source,
            })
        })?;
        let (actual, actual_size) = whole(&mut file).map_err(|source| {
            ClientError::Oci(lading_oci::Error::Stream {
                what: format!("reading blob {}", self.digest),
                source,
            })
        })?;
        if actual != self.digest || actual_size != self.size {
            self.state().changed = Some((actual.clone(), actual_size));
            return Err(self.error(actual, actual_size));
        }
        Ok(())
    }

    fn error(&self, actual: Digest, actual_size: u64) -> ClientError {
        ClientError::BlobChanged {
            digest: self.digest.clone(),
            actual,
            size: self.size,
            actual_size,
        }
    }

    /// Records that the blob reads as `actual` (`actual_size` bytes); the body's error.
    fn fail(&self, actual: Digest, actual_size: u64) -> io::Error {
        self.state().changed = Some((actual.clone(), actual_size));
        io::Error::new(io::ErrorKind::InvalidData, self.error(actual, actual_size))
    }
}

/// `len` bytes of a blob file from `offset`, read (blocking) in chunks and checked.
pub(crate) struct FileBody {
    file: File,
    /// Offset of the next byte to read.
    pos: u64,
    /// Where this body ends.
    end: u64,
    /// The hash of the blob up to `pos`, when this body continues the in-order run.
    hasher: Option<Sha256>,
    check: Arc<BlobCheck>,
    done: bool,
}

impl FileBody {
    /// Positions `file` at `offset`.
    pub fn new(
        mut file: File,
        offset: u64,
        len: u64,
        check: Arc<BlobCheck>,
    ) -> io::Result<FileBody> {
        file.seek(SeekFrom::Start(offset))?;
        let hasher = {
            let mut s = check.state();
            // Bodies go one at a time: what an earlier one left was not committed.
            s.pending = None;
            s.linear
                .as_ref()
                .filter(|(pos, _)| *pos == offset)
                .map(|(_, h)| h.clone())
        };
        Ok(FileBody {
            file,
            pos: offset,
            end: offset + len,
            hasher,
            check,
            done: false,
        })
    }

    /// The next chunk (blocking), `None` after the last. The chunk that would end the
    /// blob is only returned when the blob is exactly what its descriptor says;
    /// otherwise this is an error carrying [`ClientError::BlobChanged`].
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        let want = (self.end - self.pos).min(CHUNK);
        let mut buf = Vec::with_capacity(want as usize);
        (&mut self.file).take(want).read_to_end(&mut buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf);
        }
        self.pos += buf.len() as u64;
        if (buf.len() as u64) < want {
            // The file ends before the descriptor's size.
            self.done = true;
            let (actual, actual_size) = match self.hasher.take() {
                Some(h) => (h.finish(), self.pos),
                None => whole(&mut self.file)?,
            };
            return Err(self.check.fail(actual, actual_size));
        }
        if self.pos == self.end {
            self.done = true;
            self.at_end()?;
        }
        Ok((!buf.is_empty()).then(|| Bytes::from(buf)))
    }

    /// This body's bytes are read: a body that ends the blob verifies it before its
    /// last chunk goes out; another one leaves its hash for the next body.
    fn at_end(&mut self) -> io::Result<()> {
        let check = &self.check;
        if self.end != check.size {
            if let Some(h) = self.hasher.take() {
                check.state().pending = Some((self.end, h));
            }
            return Ok(());
        }
        match self.hasher.take() {
            Some(mut h) => {
                let extra = drain(&mut self.file, &mut h)?;
                let actual = h.clone().finish();
                if extra > 0 || actual != check.digest {
                    return Err(check.fail(actual, check.size + extra));
                }
                check.state().pending = Some((self.end, h));
            }
            None => {
                // Out of order: only the length can be seen here; the whole file is
                // hashed again before the closing `PUT`.
                let mut probe = [0u8; 1];
                if self.file.read(&mut probe)? > 0 {
                    let (actual, actual_size) = whole(&mut self.file)?;
                    return Err(check.fail(actual, actual_size));
                }
            }
        }
        Ok(())
    }
}

/// Hashes what is left of `file`; returns how many bytes that was.
fn drain(file: &mut File, h: &mut Sha256) -> io::Result<u64> {
    let mut n = 0u64;
    let mut buf = [0u8; 64];
    let mut k = file.read(&mut buf)?;
    if k == 0 {
        return Ok(0);
    }
    h.update(&buf[..k]);
    n += k as u64;
    let mut big = vec![0u8; DRAIN];
    loop {
        k = file.read(&mut big)?;
        if k == 0 {
            return Ok(n);
        }
        h.update(&big[..k]);
        n += k as u64;
    }
}

/// The digest and size of the whole file.
fn whole(file: &mut File) -> io::Result<(Digest, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    let n = drain(file, &mut h)?;
    Ok((h.finish(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(dir: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join("blob");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Reads a body to its end; the chunks and the error, if any.
    fn read_body(
        path: &std::path::Path,
        offset: u64,
        len: u64,
        check: &Arc<BlobCheck>,
    ) -> (Vec<u8>, Option<io::Error>) {
        let mut b = FileBody::new(File::open(path).unwrap(), offset, len, check.clone()).unwrap();
        let mut out = Vec::new();
        loop {
            match b.next_chunk() {
                Ok(Some(c)) => out.extend_from_slice(&c),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn an_unchanged_blob_streams_whole() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(3 * CHUNK as usize + 17, 1);
        let p = file_with(dir.path(), &bytes);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), bytes.len() as u64));
        let (out, err) = read_body(&p, 0, bytes.len() as u64, &check);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(out, bytes);
        assert!(check.changed().is_none());
    }

    #[test]
    fn a_changed_blob_withholds_its_last_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(2 * CHUNK as usize + 5, 2);
        let mut changed = bytes.clone();
        changed[10] ^= 1;
        let p = file_with(dir.path(), &changed);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), bytes.len() as u64));
        let (out, err) = read_body(&p, 0, bytes.len() as u64, &check);
        assert_eq!(
            out.len(),
            2 * CHUNK as usize,
            "only the full chunks went out"
        );
        let err = err.expect("an error instead of the last chunk");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        match check.changed() {
            Some(ClientError::BlobChanged {
                actual,
                actual_size,
                ..
            }) => {
                assert_eq!(actual, Digest::of(&changed));
                assert_eq!(actual_size, bytes.len() as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn longer_and_shorter_files_are_changed_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(1000, 3);
        for other in [[&bytes[..], b"x"].concat(), bytes[..999].to_vec()] {
            let p = file_with(dir.path(), &other);
            let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 1000));
            let (out, err) = read_body(&p, 0, 1000, &check);
            assert!(out.is_empty() && err.is_some(), "{} bytes", other.len());
            let e = check.changed().expect("changed").to_string();
            assert_eq!(
                e,
                format!(
                    "blob {} in the store no longer matches its digest (it reads as {}, {} bytes instead of 1000): refusing to push it",
                    Digest::of(&bytes),
                    Digest::of(&other),
                    other.len()
                )
            );
        }
    }

    #[test]
    fn the_hash_carries_across_in_order_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(2500, 4);
        let p = file_with(dir.path(), &bytes);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 2500));
        for (off, len) in [(0, 1000), (1000, 1000), (2000, 500)] {
            let (out, err) = read_body(&p, off, len, &check);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(out, &bytes[off as usize..(off + len) as usize]);
            check.commit(off + len);
        }
        assert!(check.verified());

        // The last body of a changed blob fails even though the first ones went out.
        let mut changed = bytes.clone();
        changed[5] ^= 1;
        let p = file_with(dir.path(), &changed);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 2500));
        for (off, len) in [(0, 1000), (1000, 1000)] {
            assert!(read_body(&p, off, len, &check).1.is_none());
            check.commit(off + len);
        }
        let (out, err) = read_body(&p, 2000, 500, &check);
        assert!(out.is_empty() && err.is_some());
        assert!(check.changed().is_some());
    }

    #[test]
    fn a_resume_elsewhere_is_not_verified_until_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(2500, 5);
        let p = file_with(dir.path(), &bytes);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 2500));
        assert!(read_body(&p, 0, 1000, &check).1.is_none());
        check.commit(1000);
        // A body that failed after reading all its bytes is not committed; the registry
        // then reports 1500 bytes received and the upload resumes there.
        assert!(read_body(&p, 1000, 1000, &check).1.is_none());
        for (off, len) in [(1500, 500), (2000, 500)] {
            assert!(read_body(&p, off, len, &check).1.is_none());
            check.commit(off + len);
        }
        assert!(!check.verified());
        check.rehash(&p).expect("unchanged on disk");

        let mut changed = bytes.clone();
        changed[2400] ^= 1;
        let p = file_with(dir.path(), &changed);
        let err = check.rehash(&p).expect_err("changed on disk");
        assert!(matches!(err, ClientError::BlobChanged { .. }), "{err}");
        assert!(check.changed().is_some());
    }

    #[test]
    fn a_resume_after_the_whole_failed_body_arrived_stays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(2000, 7);
        let p = file_with(dir.path(), &bytes);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 2000));
        // The answer to the first PATCH was lost, but the registry holds its 1000 bytes.
        assert!(read_body(&p, 0, 1000, &check).1.is_none());
        check.resume(1000);
        assert!(read_body(&p, 1000, 1000, &check).1.is_none());
        check.commit(2000);
        assert!(check.verified());

        // Resuming at the start of the failed body is in order too; anywhere else not.
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 2000));
        assert!(read_body(&p, 0, 1000, &check).1.is_none());
        check.resume(0);
        assert!(read_body(&p, 0, 1000, &check).1.is_none());
        check.commit(1000);
        assert!(read_body(&p, 1000, 1000, &check).1.is_none());
        check.commit(2000);
        assert!(check.verified());
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 2000));
        assert!(read_body(&p, 0, 1000, &check).1.is_none());
        check.resume(400);
        assert!(read_body(&p, 400, 1600, &check).1.is_none());
        check.commit(2000);
        assert!(!check.verified());
    }

    #[test]
    fn the_same_body_sent_again_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(100, 6);
        let p = file_with(dir.path(), &bytes);
        let check = Arc::new(BlobCheck::new(Digest::of(&bytes), 100));
        for _ in 0..2 {
            assert!(read_body(&p, 0, 100, &check).1.is_none());
        }
        check.reset();
        assert!(read_body(&p, 0, 100, &check).1.is_none());
        assert!(check.changed().is_none());
    }

    #[test]
    fn an_empty_blob_that_gained_bytes_fails() {
        let dir = tempfile::tempdir().unwrap();
        let p = file_with(dir.path(), b"now with bytes");
        let check = Arc::new(BlobCheck::new(Digest::of(b""), 0));
        let (out, err) = read_body(&p, 0, 0, &check);
        assert!(out.is_empty() && err.is_some());
        let p = file_with(dir.path(), b"");
        let check = Arc::new(BlobCheck::new(Digest::of(b""), 0));
        assert!(read_body(&p, 0, 0, &check).1.is_none());
    }
}
