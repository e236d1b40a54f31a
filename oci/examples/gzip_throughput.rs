//! Throughput of `ParallelGzWriter` on a file: `gzip_throughput <file> [level] [threads...]`.
//!
//! Run in release mode; see `scripts/bench-gzip.sh`.

use std::io::{self, Write};
use std::time::Instant;

use lading_oci::gzip::ParallelGzWriter;

/// Counts bytes and discards them.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| io::Error::other("usage: gzip_throughput <file> [level] [threads...]"))?;
    let level: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(6);
    let mut threads: Vec<usize> = args.filter_map(|s| s.parse().ok()).collect();
    if threads.is_empty() {
        threads = vec![1, 2];
    }
    let data = std::fs::read(&path)?;
    let mb = data.len() as f64 / 1e6;
    for t in threads {
        let start = Instant::now();
        let mut w = ParallelGzWriter::new(Count(0), level, t);
        // 64 KiB writes, like a tar writer would issue.
        for chunk in data.chunks(64 * 1024) {
            w.write_all(chunk)?;
        }
        let out = w.finish()?.0;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "lading threads={t} level={level}: {mb:.0} MB -> {:.1} MB ({:.1}%) in {secs:.2}s = {:.1} MB/s",
            out as f64 / 1e6,
            100.0 * out as f64 / data.len() as f64,
            mb / secs
        );
    }
    Ok(())
}
