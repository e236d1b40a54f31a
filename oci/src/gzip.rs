//! gzip for layers (placeholder until the parallel encoder lands).

use std::io::{self, Write};

/// Number of compression threads to use by default.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A gzip writer with a fixed header.
pub struct ParallelGzWriter<W: Write>(flate2::write::GzEncoder<W>);

impl<W: Write> ParallelGzWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, level: u32, _threads: usize) -> Self {
        ParallelGzWriter(
            flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(inner, flate2::Compression::new(level)),
        )
    }
    /// Finishes the stream.
    pub fn finish(self) -> io::Result<W> {
        self.0.finish()
    }
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
