//! Go executables: the build info the Go linker embeds (the format `debug/buildinfo`
//! reads): a 16-byte aligned blob starting with `\xff Go buildinf:`, in the
//! `.go.buildinfo` section (ELF), `__go_buildinfo` (Mach-O) or `.data` (PE). Since Go
//! 1.18 it holds the Go version and the module info inline; before, pointers to them.
//! The module info lists the main module (`mod`), its dependencies (`dep`, with `=>`
//! replacements) and build settings; the standard library becomes a `stdlib` package.
//! Binaries built outside module mode record only the main package's path (`path`),
//! which is listed without a version (syft guesses one from strings in the binary).

use memchr::memmem;
use object::{Object, ObjectSection};

use super::catalog::Found;
use super::purl::Purl;
use super::{Ecosystem, Package};

const MAGIC: &[u8] = b"\xff Go buildinf:";

/// Whether these first bytes start an executable we can look into (ELF, Mach-O, PE).
pub(crate) fn is_executable_magic(m: &[u8; 4]) -> bool {
    m == b"\x7fELF"
        || matches!(
            u32::from_be_bytes(*m),
            0xfeedface | 0xfeedfacf | 0xcefaedfe | 0xcffaedfe
        )
        || m[..2] == *b"MZ"
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn inline_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, k) = uvarint(b)?;
    let n = usize::try_from(n).ok()?;
    let s = b.get(k..k.checked_add(n)?)?;
    Some((s, &b[k + n..]))
}

/// Reads `len` bytes at virtual address `addr`.
fn read_at<'a>(file: &object::File<'a>, addr: u64, len: u64) -> Option<&'a [u8]> {
    for s in file.sections() {
        let (start, size) = (s.address(), s.size());
        if addr >= start && addr.checked_add(len)? <= start.checked_add(size)? {
            let data = s.data().ok()?;
            let off = usize::try_from(addr - start).ok()?;
            return data.get(off..off.checked_add(usize::try_from(len).ok()?)?);
        }
    }
    None
}

/// The Go version and module info of an executable; `None` if it is not a Go binary.
fn build_info(data: &[u8]) -> Option<Result<(String, String), String>> {
    let file = object::File::parse(data).ok()?;
    let section = file
        .section_by_name(".go.buildinfo")
        .or_else(|| file.section_by_name("__go_buildinfo"))
        .or_else(|| {
            (file.format() == object::BinaryFormat::Pe)
                .then(|| file.section_by_name(".data"))
                .flatten()
        })?;
    let sdata = section.data().ok()?;
    let at = memmem::find_iter(sdata, MAGIC).find(|p| p % 16 == 0)?;
    let b = &sdata[at..];
    let Some(&[ptr_size, flags]) = b.get(14..16) else {
        return Some(Err("build info header is truncated".into()));
    };
    let (vers, modinfo) = if flags & 2 != 0 {
        let Some((v, rest)) = b.get(32..).and_then(inline_string) else {
            return Some(Err("build info: Go version string is truncated".into()));
        };
        let Some((m, _)) = inline_string(rest) else {
            return Some(Err("build info: module info is truncated".into()));
        };
        (v.to_vec(), m.to_vec())
    } else {
        let ps = usize::from(ptr_size);
        if ps != 4 && ps != 8 {
            return Some(Err(format!("build info: pointer size {ps}")));
        }
        let big = flags & 1 != 0;
        let ptr = |b: &[u8]| -> Option<u64> {
            let b = b.get(..ps)?;
            Some(if big {
                b.iter().fold(0, |a, &x| (a << 8) | u64::from(x))
            } else {
                b.iter().rev().fold(0, |a, &x| (a << 8) | u64::from(x))
            })
        };
        let string = |addr: u64| -> Option<Vec<u8>> {
            let hdr = read_at(&file, addr, 2 * ps as u64)?;
            let (p, n) = (ptr(hdr)?, ptr(&hdr[ps..])?);
            if n > 64 << 20 {
                return None;
            }
            Some(read_at(&file, p, n)?.to_vec())
        };
        let (Some(va), Some(ma)) = (b.get(16..).and_then(ptr), b.get(16 + ps..).and_then(ptr))
        else {
            return Some(Err("build info header is truncated".into()));
        };
        match (string(va), string(ma)) {
            (Some(v), Some(m)) => (v, m),
            _ => return Some(Err("build info points outside the file's sections".into())),
        }
    };
    // The module info is framed by 16 bytes of sentinel on each side.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo[16..modinfo.len() - 16].to_vec()
    } else {
        Vec::new()
    };
    Some(Ok((
        String::from_utf8_lossy(&vers).into_owned(),
        String::from_utf8_lossy(&modinfo).into_owned(),
    )))
}

fn module(path: &str, version: &str) -> Package {
    let (ns, name) = match path.rsplit_once('/') {
        Some((ns, name)) => (ns, name),
        None => ("", path),
    };
    let purl = Purl::new("golang", name)
        .namespace(ns)
        .version(version)
        .to_string();
    Package::new(Ecosystem::Go, path, version, purl)
}

/// Packages of a Go executable (nothing if it is not one).
pub(crate) fn parse(data: &[u8]) -> Found {
    let (vers, modinfo) = match build_info(data) {
        None => return Found::default(),
        Some(Err(e)) => return Found::warn(e),
        Some(Ok(v)) => v,
    };
    let mut found = Found::default();
    let mut last_dep: Option<usize> = None;
    let mut main_path = None;
    let mut have_mod = false;
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["path", path, ..] => main_path = Some(path.to_string()),
            ["mod", path, version, ..] => {
                found.packages.push(module(path, version));
                have_mod = true;
                last_dep = None;
            }
            ["dep", path, version, ..] => {
                found.packages.push(module(path, version));
                last_dep = Some(found.packages.len() - 1);
            }
            ["=>", path, version, ..] => {
                if let Some(i) = last_dep {
                    found.packages[i] = module(path, version);
                }
            }
            _ => {}
        }
    }
    // Built outside module mode (GOPATH, as Debian builds Go): only the main package's
    // import path is recorded, without a version.
    if !have_mod && let Some(p) = main_path {
        found.packages.insert(0, module(&p, ""));
    }
    if let Some(v) = vers.strip_prefix("go") {
        let v = v.split([' ', '-']).next().unwrap_or(v);
        let purl = Purl::new("golang", "stdlib").version(v).to_string();
        found.packages.push(Package::new(
            Ecosystem::Go,
            "stdlib",
            &format!("go{v}"),
            purl,
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_varints() {
        assert!(is_executable_magic(b"\x7fELF"));
        assert!(is_executable_magic(b"MZ\x90\x00"));
        assert!(!is_executable_magic(b"#!/b"));
        assert_eq!(uvarint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(inline_string(&[3, b'a', b'b']), None);
        // Not an executable at all: nothing, no warning.
        let f = parse(b"\x7fELF garbage that object cannot parse");
        assert!(f.packages.is_empty() && f.warnings.is_empty());
    }
}
