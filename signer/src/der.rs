//! The little DER (X.690) that PBES2's `EncryptedPrivateKeyInfo` and the SCT check's
//! precertificate need: definite lengths, SEQUENCE, OCTET STRING, INTEGER, OBJECT
//! IDENTIFIER, NULL; and the walk through an RFC 3161 timestamp token (CMS SignedData)
//! that `sigstore::tsa` needs.

use crate::error::{Error, Result};

pub const SEQUENCE: u8 = 0x30;
pub const OCTET_STRING: u8 = 0x04;
pub const INTEGER: u8 = 0x02;
pub const OID: u8 = 0x06;
pub const NULL: u8 = 0x05;
pub const BOOLEAN: u8 = 0x01;
pub const SET: u8 = 0x31;
pub const GENERALIZED_TIME: u8 = 0x18;
/// `[n]` constructed, context-specific (EXPLICIT, or IMPLICIT of a constructed type).
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// One tag-length-value.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER's content octets.
pub fn uint(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut out = Vec::new();
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// A reader over DER bytes.
pub struct Reader<'a> {
    input: &'a [u8],
}

fn bad(reason: &str) -> Error {
    Error::InvalidKey {
        what: "encrypted private key",
        reason: reason.to_string(),
    }
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Reader { input }
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// The next element's tag, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// The next element, which must have tag `tag`; its content.
    pub fn read(&mut self, tag: u8) -> Result<&'a [u8]> {
        let (&t, rest) = self.input.split_first().ok_or_else(|| bad("truncated"))?;
        if t != tag {
            return Err(bad(&format!("expected tag {tag:#04x}, found {t:#04x}")));
        }
        let (&l, mut rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
        let len = if l < 0x80 {
            usize::from(l)
        } else {
            let n = usize::from(l & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad("bad length"));
            }
            let mut len = 0usize;
            for b in &rest[..n] {
                len = (len << 8) | usize::from(*b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err(bad("truncated"));
        }
        let (content, rest) = rest.split_at(len);
        self.input = rest;
        Ok(content)
    }

    /// The next element whatever its tag: the tag, the content and the whole encoding.
    /// Only one-byte tags (tag numbers below 31) are read.
    pub fn read_any(&mut self) -> Result<(u8, &'a [u8], &'a [u8])> {
        let start = self.input;
        let tag = self.peek().ok_or_else(|| bad("truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte tags are not read"));
        }
        let content = self.read(tag)?;
        let whole = &start[..start.len() - self.input.len()];
        Ok((tag, content, whole))
    }

    /// The next element if it has tag `tag`.
    pub fn read_optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        if self.peek() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A non-negative INTEGER that fits in a u32.
    pub fn read_u32(&mut self) -> Result<u32> {
        let c = self.read(INTEGER)?;
        if c.first().is_none_or(|b| b & 0x80 != 0) {
            return Err(bad("integer empty or negative"));
        }
        let c = match c {
            [0, rest @ ..] => rest,
            _ => c,
        };
        if c.len() > 4 {
            return Err(bad("integer out of range"));
        }
        Ok(c.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers() {
        let long = vec![7u8; 300];
        let enc = tlv(OCTET_STRING, &long);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&enc);
        assert_eq!(r.read(OCTET_STRING).unwrap(), &long[..]);
        assert!(r.is_empty());
        for v in [0u32, 1, 127, 128, 255, 600_000, u32::MAX] {
            let enc = tlv(INTEGER, &uint(v));
            assert_eq!(Reader::new(&enc).read_u32().unwrap(), v);
        }
        assert_eq!(uint(128), vec![0, 128]);
    }
}
