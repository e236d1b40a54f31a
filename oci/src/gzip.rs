//! Deterministic parallel gzip encoder, in the style of pigz.
//!
//! Output is a single gzip member ([RFC 1952]) whose deflate stream ([RFC 1951])
//! is the in-order concatenation of independently compressed blocks:
//!
//! - the input is cut at every multiple of [`BLOCK_SIZE`] bytes of the *stream*
//!   offset, so block boundaries do not depend on how callers split `write` calls;
//! - each block is raw-deflated on its own with the last [`DICT_SIZE`] bytes of the
//!   previous block as preset dictionary, and ends with a sync flush (an empty
//!   stored block, leaving the output byte-aligned); the last block finishes the
//!   stream instead;
//! - each block's output is a pure function of (level, dictionary, block, is-last),
//!   so the bytes are identical for any thread count.
//!
//! The output is *not* equal to single-stream `gzip`/zlib output (sync flushes and
//! dictionary resets differ), but any gzip decoder reads it. Its bytes are pinned
//! by the backend (flate2 with zlib-rs, locked in `Cargo.lock`) and guarded by a
//! golden-digest test.
//!
//! Header: no FNAME/FEXTRA/FCOMMENT, MTIME 0, XFL as zlib derives it from the level
//! (2 for level 9, 4 for levels 0–1, else 0), OS 255 ("unknown"), which is what Go's
//! `compress/gzip` (and therefore docker/containerd) and flate2's `GzBuilder` write,
//! and which does not leak the build host's OS.
//!
//! [RFC 1952]: https://www.rfc-editor.org/rfc/rfc1952
//! [RFC 1951]: https://www.rfc-editor.org/rfc/rfc1951

use std::collections::VecDeque;
use std::io::{self, Write};
use std::mem;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crc32fast::Hasher;
use flate2::{Compress, Compression, FlushCompress, Status};

/// Uncompressed bytes per independently compressed block (pigz's default).
///
/// Part of the output format: changing it changes every digest.
pub const BLOCK_SIZE: usize = 128 * 1024;

/// Bytes of the previous block used as the preset dictionary (the deflate window).
///
/// Part of the output format: changing it changes every digest.
pub const DICT_SIZE: usize = 32 * 1024;

/// OS byte written in the gzip header: 255, "unknown" (see the module docs).
pub const GZIP_OS_UNKNOWN: u8 = 255;

/// One block handed to a worker.
struct Job {
    data: Arc<Vec<u8>>,
    /// The previous block; its last [`DICT_SIZE`] bytes are the dictionary.
    prev: Option<Arc<Vec<u8>>>,
    last: bool,
    reply: SyncSender<io::Result<Done>>,
}

/// A compressed block and the CRC-32 of its input.
struct Done {
    deflated: Vec<u8>,
    crc: Hasher,
}

/// Workers and the in-order queue of blocks they are compressing.
struct Pool {
    /// `None` once shut down; dropping it makes workers exit.
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Replies in stream order; the front is the next block to write.
    pending: VecDeque<Receiver<io::Result<Done>>>,
    max_in_flight: usize,
}

/// A `Write` adapter that gzips everything written to it using up to `threads`
/// threads and writes the compressed bytes, in order, to an inner writer.
///
/// The output depends only on the input bytes and the level: not on `threads`, not
/// on how the input is split across `write` calls, and not on `flush` calls.
///
/// Memory stays bounded: at most `2 × threads` blocks (input and output) are
/// queued or being compressed, plus the block being filled and the previous one
/// (its tail is the next dictionary). When that many are in flight, `write` waits
/// for the oldest and writes it to the inner writer; finished blocks are written
/// in order as soon as they are ready, always on the caller's thread.
///
/// [`finish`](Self::finish) must be called: it compresses the final block and
/// writes the trailer. Dropping the writer without it stops the workers and leaves
/// the inner writer with a truncated stream.
pub struct ParallelGzWriter<W: Write> {
    /// `None` only after `finish` took it.
    inner: Option<W>,
    level: Compression,
    /// Input of the block being filled; never longer than [`BLOCK_SIZE`].
    buf: Vec<u8>,
    /// The most recently dispatched block, kept for the next block's dictionary.
    prev: Option<Arc<Vec<u8>>>,
    /// CRC-32 and length of all input whose block output has been written.
    crc: Hasher,
    header_written: bool,
    /// Set after any error; the stream can no longer be completed.
    failed: bool,
    /// `None` means compress on the calling thread (threads ≤ 1).
    pool: Option<Pool>,
}

impl<W: Write> ParallelGzWriter<W> {
    /// Creates an encoder writing to `inner` at `level` (0–9; larger values are
    /// clamped to 9) with `threads` compression threads.
    ///
    /// `threads` ≤ 1 compresses on the calling thread without spawning any. If the
    /// OS refuses to spawn some threads, fewer are used (down to none); the output
    /// is the same either way.
    pub fn new(inner: W, level: u32, threads: usize) -> Self {
        let level = Compression::new(level.min(9));
        let pool = if threads > 1 {
            Pool::spawn(level, threads)
        } else {
            None
        };
        Self {
            inner: Some(inner),
            level,
            buf: Vec::with_capacity(BLOCK_SIZE),
            prev: None,
            crc: Hasher::new(),
            header_written: false,
            failed: false,
            pool,
        }
    }

    /// Compresses the buffered input as the final block, writes all outstanding
    /// blocks and the gzip trailer, flushes, and returns the inner writer.
    ///
    /// Empty input yields a valid empty gzip member.
    pub fn finish(mut self) -> io::Result<W> {
        self.check_usable()?;
        let data = mem::take(&mut self.buf);
        let result = self.dispatch(data, true).and_then(|()| self.drain_all());
        let result = result.and_then(|()| {
            let crc = mem::take(&mut self.crc);
            // ISIZE is the input length modulo 2^32 (RFC 1952 §2.3.1).
            let isize = crc.total_len() as u32;
            let mut trailer = [0u8; 8];
            trailer[..4].copy_from_slice(&crc.finalize().to_le_bytes());
            trailer[4..].copy_from_slice(&isize.to_le_bytes());
            let inner = self.inner_mut()?;
            inner.write_all(&trailer)?;
            inner.flush()
        });
        if let Err(e) = result {
            self.failed = true;
            return Err(e);
        }
        self.shutdown();
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            Err(io::Error::other(
                "gzip writer failed earlier; the stream cannot be completed",
            ))
        } else {
            Ok(())
        }
    }

    fn inner_mut(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))
    }

    fn pool_mut(&mut self) -> io::Result<&mut Pool> {
        self.pool
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip worker pool shut down"))
    }

    /// Compresses one block (inline or on the pool) and writes whatever output is
    /// ready, waiting only if the pool is full.
    fn dispatch(&mut self, data: Vec<u8>, last: bool) -> io::Result<()> {
        let data = Arc::new(data);
        let prev = self.prev.replace(Arc::clone(&data));
        if self.pool.is_some() {
            // Make room first so at most `max_in_flight` blocks are held.
            loop {
                let pool = self.pool_mut()?;
                if pool.pending.len() < pool.max_in_flight {
                    break;
                }
                let done = pool.wait_front()?;
                self.write_block(done)?;
            }
            self.pool_mut()?.submit(data, prev, last)?;
            // Write blocks that are already done, keeping output flowing in order.
            while let Some(done) = self.pool_mut()?.try_front() {
                self.write_block(done?)?;
            }
            Ok(())
        } else {
            let done = compress_block(self.level, &data, prev.as_deref().map(Vec::as_slice), last)?;
            self.write_block(done)
        }
    }

    /// Writes every outstanding block, in order.
    fn drain_all(&mut self) -> io::Result<()> {
        while let Some(pool) = self.pool.as_mut() {
            if pool.pending.is_empty() {
                break;
            }
            let done = pool.wait_front()?;
            self.write_block(done)?;
        }
        Ok(())
    }

    fn write_block(&mut self, done: Done) -> io::Result<()> {
        let header = (!self.header_written).then(|| gzip_header(self.level.level()));
        let inner = self.inner_mut()?;
        if let Some(header) = header {
            inner.write_all(&header)?;
        }
        inner.write_all(&done.deflated)?;
        self.header_written = true;
        self.crc.combine(&done.crc);
        Ok(())
    }

    /// Stops the workers; pending results are discarded.
    fn shutdown(&mut self) {
        if let Some(mut pool) = self.pool.take() {
            pool.pending.clear();
            pool.jobs = None;
            for worker in pool.workers.drain(..) {
                // A panicked worker has already surfaced as an error (its reply
                // channel closed); nothing more to report here.
                let _ = worker.join();
            }
        }
    }

    /// Runs `f`, marking the writer failed if it errors.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        self.check_usable()?;
        let result = f(self);
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, input: &[u8]) -> io::Result<usize> {
        self.guard(|this| {
            let mut rest = input;
            while !rest.is_empty() {
                // A full block is dispatched only once more input arrives, so the
                // final block (which must finish the stream) is known at `finish`.
                if this.buf.len() == BLOCK_SIZE {
                    let block = mem::replace(&mut this.buf, Vec::with_capacity(BLOCK_SIZE));
                    this.dispatch(block, false)?;
                }
                let take = rest.len().min(BLOCK_SIZE - this.buf.len());
                this.buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
            Ok(input.len())
        })
    }

    /// Writes every completed block and flushes the inner writer.
    ///
    /// Input of the block still being filled stays buffered: emitting it early
    /// would move a block boundary and change the output bytes.
    fn flush(&mut self) -> io::Result<()> {
        self.guard(|this| {
            this.drain_all()?;
            this.inner_mut()?.flush()
        })
    }
}

impl<W: Write> Drop for ParallelGzWriter<W> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Pool {
    /// Spawns up to `threads` workers; `None` if none could be spawned.
    fn spawn(level: Compression, threads: usize) -> Option<Self> {
        let max_in_flight = threads.saturating_mul(2);
        let (tx, rx) = mpsc::sync_channel::<Job>(max_in_flight);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = thread::Builder::new()
                .name(format!("lading-gzip-{i}"))
                .spawn(move || worker(level, &rx));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(_) => break,
            }
        }
        if workers.is_empty() {
            return None;
        }
        Some(Self {
            jobs: Some(tx),
            workers,
            pending: VecDeque::with_capacity(max_in_flight),
            max_in_flight,
        })
    }

    fn submit(
        &mut self,
        data: Arc<Vec<u8>>,
        prev: Option<Arc<Vec<u8>>>,
        last: bool,
    ) -> io::Result<()> {
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            data,
            prev,
            last,
            reply,
        };
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip worker pool shut down"))?
            .send(job)
            .map_err(|_| io::Error::other("gzip worker threads exited unexpectedly"))?;
        self.pending.push_back(result);
        Ok(())
    }

    /// Waits for the oldest block.
    fn wait_front(&mut self) -> io::Result<Done> {
        let front = self
            .pending
            .pop_front()
            .ok_or_else(|| io::Error::other("no gzip block pending"))?;
        front
            .recv()
            .map_err(|_| io::Error::other("gzip worker thread exited unexpectedly"))?
    }

    /// Takes the oldest block if it is already compressed.
    fn try_front(&mut self) -> Option<io::Result<Done>> {
        let result = match self.pending.front()?.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => {
                Err(io::Error::other("gzip worker thread exited unexpectedly"))
            }
        };
        self.pending.pop_front();
        Some(result)
    }
}

fn worker(level: Compression, jobs: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take one job; a poisoned lock or a closed channel
        // means the writer is gone.
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let result = compress_block(
            level,
            &job.data,
            job.prev.as_deref().map(Vec::as_slice),
            job.last,
        );
        // The writer may have been dropped; then nobody wants the result.
        let _ = job.reply.send(result);
    }
}

/// Raw-deflates one block; the output depends only on the arguments.
///
/// Uses a fresh `Compress` every time: with zlib-rs 0.6, `reset()` followed by
/// `set_dictionary()` does not reproduce a fresh stream's output (state from the
/// previous block leaks), which would make bytes depend on which worker compressed
/// which block. Pinned by `tests/gzip.rs::zlib_rs_reset_leaking_state_does_not_leak_into_output`.
fn compress_block(
    level: Compression,
    data: &[u8],
    prev: Option<&[u8]>,
    last: bool,
) -> io::Result<Done> {
    let mut compress = Compress::new(level, false);
    if let Some(prev) = prev {
        let dict = &prev[prev.len().saturating_sub(DICT_SIZE)..];
        compress
            .set_dictionary(dict)
            .map_err(|e| io::Error::other(format!("deflate set dictionary: {e}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // deflateBound-like estimate; the loop grows the buffer if it is short.
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity() / 4 + 64);
        }
        let before = compress.total_in();
        let out_before = out.len();
        let status = compress
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        // Bounded by data.len(), so the cast cannot truncate.
        consumed += (compress.total_in() - before) as usize;
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is taken and deflate left
            // output space unused (zlib's `avail_out != 0` rule).
            Status::Ok | Status::BufError => {
                !last && consumed == data.len() && out.len() < out.capacity()
            }
        };
        if done {
            break;
        }
        if status == Status::BufError && consumed == data.len() && out.len() == out_before {
            // No progress despite free output space: never loop forever.
            return Err(io::Error::other("deflate made no progress"));
        }
    }
    let mut crc = Hasher::new();
    crc.update(data);
    Ok(Done { deflated: out, crc })
}

/// The fixed 10-byte gzip header (RFC 1952 §2.3).
fn gzip_header(level: u32) -> [u8; 10] {
    // XFL as zlib's deflate.c sets it.
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, GZIP_OS_UNKNOWN]
}

/// Compression threads to use by default: one per available core. The output does not
/// depend on it.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn gz(data: &[u8], level: u32, threads: usize) -> Vec<u8> {
        let mut w = ParallelGzWriter::new(Vec::new(), level, threads);
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(data).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn empty_input_is_a_minimal_gzip_member() {
        let out = gz(b"", 6, 2);
        // header, final empty fixed block (03 00), crc 0, isize 0
        assert_eq!(
            out,
            [
                0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert!(gunzip(&out).is_empty());
    }

    #[test]
    fn header_xfl_follows_zlib() {
        assert_eq!(gz(b"x", 9, 1)[8], 2);
        assert_eq!(gz(b"x", 1, 1)[8], 4);
        assert_eq!(gz(b"x", 0, 1)[8], 4);
        assert_eq!(gz(b"x", 6, 1)[8], 0);
        // Out-of-range levels are clamped rather than panicking.
        assert_eq!(gz(b"x", 42, 1), gz(b"x", 9, 1));
    }

    #[test]
    fn flush_does_not_change_output() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut w = ParallelGzWriter::new(Vec::new(), 6, 2);
        for chunk in data.chunks(50_000) {
            w.write_all(chunk).unwrap();
            w.flush().unwrap();
        }
        assert_eq!(w.finish().unwrap(), gz(&data, 6, 1));
    }

    struct FailAfter(usize);

    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn inner_writer_errors_propagate_and_stick() {
        for threads in [1, 2] {
            let data = vec![7u8; 5 * BLOCK_SIZE];
            let mut w = ParallelGzWriter::new(FailAfter(5), 6, threads);
            let first = w.write_all(&data).and_then(|()| w.flush());
            assert_eq!(first.unwrap_err().to_string(), "disk full");
            assert!(w.write_all(b"more").is_err());
            assert!(w.finish().is_err());
        }
    }

    #[test]
    fn dropping_without_finish_stops_workers() {
        let mut w = ParallelGzWriter::new(Vec::new(), 6, 4);
        w.write_all(&vec![1u8; 10 * BLOCK_SIZE]).unwrap();
        drop(w);
    }
}
