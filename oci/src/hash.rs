//! The one hashing module: every digest lading computes goes through here, and here
//! through aws-lc-rs, so a `fips` build hashes with the validated AWS-LC FIPS module.

use std::io::{self, Read, Write};

use aws_lc_rs::digest::{Context, SHA256};

use crate::digest::Digest;

/// Streaming SHA-256.
#[derive(Clone)]
pub struct Sha256(Context);

impl Default for Sha256 {
    fn default() -> Self {
        Sha256(Context::new(&SHA256))
    }
}

impl Sha256 {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        Digest::sha256_from_bytes(self.0.finish().as_ref())
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finish(), self.count)
    }
    /// Mutable access to the inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// The digest and count of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that hashes and counts what is read through it and, when the stream ends,
/// fails unless it was exactly the blob a descriptor names: its digest and size. The
/// bytes a consumer parsed are then the bytes that were verified, with no second read
/// of the file in between.
///
/// A stream longer than `size` fails as soon as it passes it. The error is
/// `io::ErrorKind::InvalidData` carrying an [`Error::DigestMismatch`] or
/// [`Error::SizeMismatch`](crate::Error::SizeMismatch); [`verification_error`] finds it
/// again below the errors of decoders that wrap it.
///
/// [`Error::DigestMismatch`]: crate::Error::DigestMismatch
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
    expected: Digest,
    size: u64,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, which must yield exactly `size` bytes hashing to `expected`.
    pub fn new(inner: R, expected: Digest, size: u64) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Sha256::new()),
            count: 0,
            expected,
            size,
        }
    }

    fn size_mismatch(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            crate::Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: self.size,
                actual: self.count,
            },
        )
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(n);
        };
        hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.count > self.size {
            return Err(self.size_mismatch());
        }
        if n == 0 && !buf.is_empty() {
            if self.count != self.size {
                return Err(self.size_mismatch());
            }
            let actual = self.hasher.take().map(Sha256::finish);
            if let Some(actual) = actual.filter(|a| a != &self.expected) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    crate::Error::DigestMismatch {
                        expected: self.expected.clone(),
                        actual,
                    },
                ));
            }
        }
        Ok(n)
    }
}

/// The digest or size mismatch a [`VerifyingReader`] reported somewhere in `e`'s chain
/// of causes (decoders such as `tar` wrap the errors of the reader below them).
pub fn verification_error(e: &io::Error) -> Option<crate::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let found = c.downcast_ref::<crate::Error>().or_else(|| {
            c.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<crate::Error>())
        });
        match found {
            Some(crate::Error::DigestMismatch { expected, actual }) => {
                return Some(crate::Error::DigestMismatch {
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
            Some(crate::Error::SizeMismatch {
                digest,
                expected,
                actual,
            }) => {
                return Some(crate::Error::SizeMismatch {
                    digest: digest.clone(),
                    expected: *expected,
                    actual: *actual,
                });
            }
            _ => cause = c.source(),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], expected: Digest, size: u64) -> Result<Vec<u8>, crate::Error> {
        let mut out = Vec::new();
        VerifyingReader::new(bytes, expected, size)
            .read_to_end(&mut out)
            .map_err(|e| verification_error(&e).expect("a verification error"))?;
        Ok(out)
    }

    #[test]
    fn sha256_matches_the_fips_180_4_test_vectors() {
        let cases: [(&[u8], &str); 2] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (input, hex) in cases {
            // Fed in pieces, so that the streaming state is exercised too.
            let mut h = Sha256::new();
            for chunk in input.chunks(7) {
                h.update(chunk);
            }
            assert_eq!(h.finish().hex(), hex);
        }
    }

    #[test]
    fn verifying_reader_passes_the_named_bytes_through() {
        let data = b"layer bytes";
        let out = read_all(data, Digest::of(data), data.len() as u64).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn verifying_reader_refuses_other_bytes_of_the_same_size() {
        let err = read_all(b"layer bytez", Digest::of(b"layer bytes"), 11).unwrap_err();
        assert!(
            matches!(&err, crate::Error::DigestMismatch { expected, .. } if *expected == Digest::of(b"layer bytes")),
            "{err}"
        );
    }

    #[test]
    fn verifying_reader_refuses_short_and_long_streams() {
        let d = Digest::of(b"abc");
        for (bytes, size) in [(&b"ab"[..], 3), (&b"abcd"[..], 3)] {
            let err = read_all(bytes, d.clone(), size).unwrap_err();
            assert!(
                matches!(err, crate::Error::SizeMismatch { expected: 3, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn mismatches_are_found_below_wrapping_errors() {
        let mut r = VerifyingReader::new(&b"ab"[..], Digest::of(b"abc"), 3);
        let inner = r.read_to_end(&mut Vec::new()).unwrap_err();
        let wrapped = io::Error::other(Wrapper(inner));
        assert!(matches!(
            verification_error(&wrapped),
            Some(crate::Error::SizeMismatch { actual: 2, .. })
        ));
        let other = io::Error::new(io::ErrorKind::UnexpectedEof, "cut");
        assert!(verification_error(&other).is_none());
    }

    /// An error that wraps an I/O error as its source, as `tar` does.
    #[derive(Debug)]
    struct Wrapper(io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
