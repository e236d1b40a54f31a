//! Layer-hashing harness for `scripts/bench-hash`: built once against each lading-oci
//! being compared, it times `lading_oci::hash::HashingWriter` (the streaming hasher the
//! store puts blobs through) over an in-memory layer, written in fixed-size chunks.
//!
//! Usage: `bench-hash SIZE_BYTES CHUNK_BYTES REPS`; prints one line per repetition:
//! `SIZE CHUNK SECONDS DIGEST`. Only the hashing is timed, not making the data.

use std::io::Write as _;
use std::time::Instant;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: SIZE CHUNK REPS"))
        .collect();
    let [size, chunk, reps] = args[..] else {
        panic!("usage: bench-hash SIZE_BYTES CHUNK_BYTES REPS");
    };
    // Incompressible, deterministic bytes (xorshift64*): a layer's gzip stream.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..size.div_ceil(8))
        .flat_map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()
        })
        .take(size as usize)
        .collect();
    for _ in 0..reps {
        let start = Instant::now();
        let mut w = lading_oci::hash::HashingWriter::new(std::io::sink());
        for piece in data.chunks(chunk as usize) {
            w.write_all(piece).expect("sink");
        }
        let (_, digest, n) = w.finish();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(n, size);
        println!("{size} {chunk} {secs:.6} {digest}");
    }
}
