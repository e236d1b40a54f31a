//! Just enough of the ZIP format (APPNOTE.TXT) to read small members of Java archives:
//! the end-of-central-directory record (ZIP64 too), the central directory, and stored
//! or deflated members. Every offset is checked; a corrupt archive is an error.

use std::io::Read;

/// One member.
pub(crate) struct Member {
    pub name: String,
    method: u16,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

/// An archive in memory.
pub(crate) struct Zip<'a> {
    data: &'a [u8],
    pub members: Vec<Member>,
}

type R<T> = Result<T, String>;

fn le(b: &[u8], at: usize, n: usize) -> R<u64> {
    let s = b
        .get(at..at + n)
        .ok_or_else(|| format!("truncated at byte {at}"))?;
    Ok(s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

impl<'a> Zip<'a> {
    /// Reads the central directory.
    pub fn open(data: &'a [u8]) -> R<Zip<'a>> {
        // The EOCD is in the last 64 KiB + 22 bytes (comment up to 65535 bytes).
        let from = data.len().saturating_sub(65535 + 22);
        let eocd = (from..data.len().saturating_sub(21))
            .rev()
            .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
            .ok_or("no end of central directory (not a zip, or truncated)")?;
        let mut count = le(data, eocd + 10, 2)?;
        let mut cd_offset = le(data, eocd + 16, 4)?;
        if (count == 0xffff || cd_offset == 0xffff_ffff) && eocd >= 20 {
            let loc = eocd - 20;
            if data[loc..].starts_with(b"PK\x06\x07") {
                let z = usize::try_from(le(data, loc + 8, 8)?).map_err(|_| "bad zip64")?;
                if data.get(z..).is_some_and(|d| d.starts_with(b"PK\x06\x06")) {
                    count = le(data, z + 32, 8)?;
                    cd_offset = le(data, z + 48, 8)?;
                }
            }
        }
        let mut pos = usize::try_from(cd_offset).map_err(|_| "bad offset")?;
        let mut members = Vec::new();
        for _ in 0..count.min(1 << 20) {
            if !data
                .get(pos..)
                .is_some_and(|d| d.starts_with(b"PK\x01\x02"))
            {
                return Err(format!("central directory entry expected at byte {pos}"));
            }
            let method = le(data, pos + 10, 2)? as u16;
            let mut compressed = le(data, pos + 20, 4)?;
            let mut size = le(data, pos + 24, 4)?;
            let name_len = le(data, pos + 28, 2)? as usize;
            let extra_len = le(data, pos + 30, 2)? as usize;
            let comment_len = le(data, pos + 32, 2)? as usize;
            let mut local_offset = le(data, pos + 42, 4)?;
            let name = data
                .get(pos + 46..pos + 46 + name_len)
                .ok_or("truncated central directory")?;
            let extra = data
                .get(pos + 46 + name_len..pos + 46 + name_len + extra_len)
                .ok_or("truncated central directory")?;
            // ZIP64 extra field: the 0xffffffff values, in order.
            let mut e = 0;
            while e + 4 <= extra.len() {
                let id = le(extra, e, 2)?;
                let len = le(extra, e + 2, 2)? as usize;
                if id == 1 {
                    let mut f = e + 4;
                    for v in [&mut size, &mut compressed, &mut local_offset] {
                        if *v == 0xffff_ffff && f + 8 <= e + 4 + len {
                            *v = le(extra, f, 8)?;
                            f += 8;
                        }
                    }
                }
                e += 4 + len;
            }
            members.push(Member {
                name: String::from_utf8_lossy(name).into_owned(),
                method,
                compressed,
                size,
                local_offset,
            });
            pos += 46 + name_len + extra_len + comment_len;
        }
        Ok(Zip { data, members })
    }

    /// A member's content, if it is at most `max` bytes.
    pub fn read(&self, m: &Member, max: u64) -> R<Vec<u8>> {
        if m.size > max {
            return Err(format!("{} is larger than {max} bytes", m.name));
        }
        let lo = usize::try_from(m.local_offset).map_err(|_| "bad offset")?;
        if !self
            .data
            .get(lo..)
            .is_some_and(|d| d.starts_with(b"PK\x03\x04"))
        {
            return Err(format!("{}: no local header at byte {lo}", m.name));
        }
        let start =
            lo + 30 + le(self.data, lo + 26, 2)? as usize + le(self.data, lo + 28, 2)? as usize;
        let len = usize::try_from(m.compressed).map_err(|_| "bad size")?;
        let raw = self
            .data
            .get(start..start.checked_add(len).ok_or("bad size")?)
            .ok_or_else(|| format!("{}: data past the end (truncated?)", m.name))?;
        match m.method {
            0 => Ok(raw.to_vec()),
            8 => {
                // The declared size may lie: reserve no more than the data can inflate
                // to in a well-formed archive.
                let cap = m.size.min(raw.len() as u64 * 4 + 1024);
                let mut out = Vec::with_capacity(cap as usize);
                flate2::read::DeflateDecoder::new(raw)
                    .take(max + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("{}: {e}", m.name))?;
                if out.len() as u64 > max {
                    return Err(format!("{} inflates to more than {max} bytes", m.name));
                }
                Ok(out)
            }
            other => Err(format!(
                "{}: compression method {other} not supported",
                m.name
            )),
        }
    }
}
