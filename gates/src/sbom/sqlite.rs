//! Just enough of the SQLite file format (<https://www.sqlite.org/fileformat2.html>) to
//! read every row of one table: the header, table b-trees (interior and leaf pages),
//! records and overflow chains. Read-only, from bytes in memory, with every offset
//! checked: a corrupt file is an error, never a panic or a loop.
//!
//! Why not `rusqlite`: rpm's database is the only SQLite file we read, one table of two
//! columns; bundling SQLite's C sources would add a C build to every build of lading for
//! ~250 lines of Rust. Not supported: WAL files (`-wal` beside the database; rpm
//! checkpoints before it exits, so images rarely carry one) and `WITHOUT ROWID` tables.

use std::collections::HashSet;

/// A column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// A database in memory.
pub(crate) struct Db<'a> {
    data: &'a [u8],
    page_size: usize,
    usable: usize,
}

type R<T> = Result<T, String>;

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

/// Reads a varint at `pos`; returns it and its length.
fn varint(b: &[u8], pos: usize) -> R<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let Some(&byte) = b.get(pos + i) else {
            return Err(format!("varint at byte {pos} runs past the page"));
        };
        if i == 8 {
            return Ok(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err("unreachable varint".into())
}

impl<'a> Db<'a> {
    /// Checks the header.
    pub fn open(data: &'a [u8]) -> R<Db<'a>> {
        if data.len() < 100 || &data[..16] != b"SQLite format 3\0" {
            return Err("not an SQLite 3 database".into());
        }
        let page_size = match be(&data[16..18]) {
            1 => 65536,
            n if (512..=32768).contains(&n) && n.is_power_of_two() => n as usize,
            n => return Err(format!("invalid page size {n}")),
        };
        let reserved = data[20] as usize;
        if page_size <= reserved + 480 {
            return Err("invalid reserved space".into());
        }
        if be(&data[56..60]) > 1 {
            return Err("only UTF-8 databases are supported".into());
        }
        Ok(Db {
            data,
            page_size,
            usable: page_size - reserved,
        })
    }

    fn page(&self, n: u64) -> R<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| format!("page {n} out of range"))?;
        if n == 0 {
            return Err("page 0 referenced".into());
        }
        let start = (n - 1) * self.page_size;
        self.data
            .get(start..start + self.page_size)
            .ok_or_else(|| format!("page {n} is past the end of the file (truncated?)"))
    }

    /// Every row of the table whose root page is `root`, as (rowid, columns).
    pub fn rows(&self, root: u64) -> R<Vec<(i64, Vec<Value>)>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) || seen.len() > self.data.len() / self.page_size + 1 {
                return Err(format!("page {n} is reached twice (a loop in the b-tree)"));
            }
            let page = self.page(n)?;
            let h = if n == 1 { 100 } else { 0 };
            let kind = *page.get(h).ok_or("short page")?;
            let cells = be(page.get(h + 3..h + 5).ok_or("short page")?) as usize;
            let (hdr, interior) = match kind {
                13 => (8, false),
                5 => (12, true),
                k => return Err(format!("page {n}: type {k} is not a table b-tree page")),
            };
            let ptrs = h + hdr;
            let mut children = Vec::new();
            for i in 0..cells {
                let p = ptrs + 2 * i;
                let off = be(page.get(p..p + 2).ok_or("cell pointer past the page")?) as usize;
                if off >= self.usable {
                    return Err(format!("page {n}: cell offset {off} past the page"));
                }
                if interior {
                    let child = be(page.get(off..off + 4).ok_or("short interior cell")?);
                    children.push(child);
                } else {
                    out.push(self.leaf_cell(page, off)?);
                }
            }
            if interior {
                children.push(be(page.get(h + 8..h + 12).ok_or("short page header")?));
                // Depth-first, left to right: push in reverse.
                stack.extend(children.into_iter().rev());
            }
        }
        Ok(out)
    }

    fn leaf_cell(&self, page: &[u8], off: usize) -> R<(i64, Vec<Value>)> {
        let (len, a) = varint(page, off)?;
        let (rowid, b) = varint(page, off + a)?;
        let start = off + a + b;
        let len = usize::try_from(len).map_err(|_| "payload too large")?;
        if len > self.data.len() {
            return Err(format!("payload of {len} bytes is larger than the file"));
        }
        let u = self.usable;
        let x = u - 35;
        let local = if len <= x {
            len
        } else {
            let m = ((u - 12) * 32 / 255) - 23;
            let k = m + ((len - m) % (u - 4));
            if k <= x { k } else { m }
        };
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(
            page.get(start..start + local)
                .ok_or("cell payload past the page")?,
        );
        if local < len {
            let mut next = be(page
                .get(start + local..start + local + 4)
                .ok_or("overflow pointer past the page")?);
            let mut hops = 0usize;
            while payload.len() < len {
                hops += 1;
                if next == 0 || hops > self.data.len() / self.page_size + 1 {
                    return Err("overflow chain ends early or loops".into());
                }
                let p = self.page(next)?;
                next = be(&p[..4]);
                let take = (len - payload.len()).min(u - 4);
                payload.extend_from_slice(&p[4..4 + take]);
            }
        }
        Ok((rowid as i64, record(&payload)?))
    }

    /// The root page of table `name`, from the schema table.
    pub fn table_root(&self, name: &str) -> R<Option<u64>> {
        for (_, cols) in self.rows(1)? {
            let is = |i: usize, s: &str| matches!(cols.get(i), Some(Value::Text(t)) if t.eq_ignore_ascii_case(s.as_bytes()));
            if is(0, "table") && is(1, name) {
                return match cols.get(3) {
                    Some(Value::Int(n)) if *n > 0 => Ok(Some(*n as u64)),
                    _ => Err(format!("table {name} has no valid root page")),
                };
            }
        }
        Ok(None)
    }
}

/// Decodes a record.
fn record(p: &[u8]) -> R<Vec<Value>> {
    let (hlen, n) = varint(p, 0)?;
    let hlen = usize::try_from(hlen).map_err(|_| "record header too large")?;
    if hlen > p.len() || hlen < n {
        return Err("record header past the payload".into());
    }
    let mut types = Vec::new();
    let mut pos = n;
    while pos < hlen {
        let (t, k) = varint(p, pos)?;
        types.push(t);
        pos += k;
    }
    let mut body = hlen;
    let mut out = Vec::with_capacity(types.len());
    for t in types {
        let size = match t {
            0 | 8 | 9 => 0,
            1..=4 => t as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(format!("reserved serial type {t}")),
            _ => ((t - 12) / 2) as usize,
        };
        let b = p
            .get(body..body.checked_add(size).ok_or("record field too large")?)
            .ok_or("record field past the payload")?;
        body += size;
        let int = |b: &[u8]| -> i64 {
            let v = be(b);
            let bits = 8 * b.len() as u32;
            // Sign-extend.
            ((v << (64 - bits)) as i64) >> (64 - bits)
        };
        out.push(match t {
            0 => Value::Null,
            8 => Value::Int(0),
            9 => Value::Int(1),
            1..=6 => Value::Int(int(b)),
            7 => Value::Real(f64::from_bits(be(b))),
            t if t % 2 == 0 => Value::Blob(b.to_vec()),
            _ => Value::Text(b.to_vec()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x05], 0).unwrap(), (5, 1));
        assert_eq!(varint(&[0x81, 0x00], 0).unwrap(), (128, 2));
        assert!(varint(&[0x81], 0).is_err());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(Db::open(b"nope").is_err());
        let mut fake = b"SQLite format 3\0".to_vec();
        fake.extend_from_slice(&[0x10, 0x00]);
        fake.resize(4096, 0);
        // Page 1 with a bogus page type.
        fake[100] = 7;
        let db = Db::open(&fake).unwrap();
        assert!(db.table_root("Packages").is_err());
        // A leaf page whose cell pointer points past the page.
        fake[100] = 13;
        fake[103] = 0;
        fake[104] = 1;
        fake[108] = 0xff;
        fake[109] = 0xff;
        assert!(db_rows(&fake).is_err());
        // Truncated: the page is missing entirely.
        assert!(db_rows(&fake[..2000]).is_err());
    }

    fn db_rows(b: &[u8]) -> R<Vec<(i64, Vec<Value>)>> {
        Db::open(b)?.rows(1)
    }
}
