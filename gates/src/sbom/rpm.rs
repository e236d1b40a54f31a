//! RPM's database in its SQLite form (`rpmdb.sqlite`, rpm ≥ 4.16: Fedora ≥ 33, RHEL ≥ 9,
//! openSUSE): the table `Packages(hnum, blob)` holds one header blob per installed
//! package, in rpm's header format (<https://rpm-software-management.github.io/rpm/manual/format_header.html>):
//! a count of index entries, the data size, 16-byte entries `(tag, type, offset, count)`
//! and the data store. Berkeley DB (`Packages`) and NDB (`Packages.db`) databases are not
//! read.

use super::catalog::Found;
use super::license;
use super::purl::Purl;
use super::sqlite::{Db, Value};
use super::{Ecosystem, OsRelease, Package, SourcePackage};

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const LICENSE: u32 = 1014;
const ARCH: u32 = 1022;
const SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// The fields we use from one header.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    pub arch: Option<String>,
    pub license: Option<String>,
    pub source_rpm: Option<String>,
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("header ends at byte {at}"))
}

/// Parses a header blob as rpm stores it in the database (no lead, no magic).
pub(crate) fn header(blob: &[u8]) -> Result<Header, String> {
    let il = be32(blob, 0)? as usize;
    let dl = be32(blob, 4)? as usize;
    if il == 0 || il > 0xffff || dl > 256 << 20 {
        return Err(format!(
            "implausible header sizes ({il} entries, {dl} bytes)"
        ));
    }
    let data_start = 8 + il * 16;
    let store = blob
        .get(data_start..data_start + dl)
        .ok_or_else(|| format!("header of {} bytes is shorter than it says", blob.len()))?;
    let mut h = Header::default();
    for i in 0..il {
        let e = 8 + i * 16;
        let (tag, ty, off, count) = (
            be32(blob, e)?,
            be32(blob, e + 4)?,
            be32(blob, e + 8)? as usize,
            be32(blob, e + 12)?,
        );
        let string = || -> Result<String, String> {
            if ty != TYPE_STRING && ty != TYPE_I18NSTRING {
                return Err(format!("tag {tag} has type {ty}, not a string"));
            }
            let rest = store
                .get(off..)
                .ok_or_else(|| format!("tag {tag}: offset {off} past the data"))?;
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| format!("tag {tag}: string not terminated"))?;
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        match tag {
            NAME => h.name = string()?,
            VERSION => h.version = string()?,
            RELEASE => h.release = string()?,
            ARCH => h.arch = Some(string()?),
            LICENSE => h.license = Some(string()?),
            SOURCERPM => h.source_rpm = Some(string()?),
            EPOCH => {
                if ty != TYPE_INT32 || count < 1 {
                    return Err(format!("EPOCH has type {ty}, not INT32"));
                }
                h.epoch = Some(be32(store, off)?);
            }
            _ => {}
        }
    }
    if h.name.is_empty() || h.version.is_empty() {
        return Err("header has no NAME or VERSION".into());
    }
    Ok(h)
}

/// `name-version-release.src.rpm` → `name`.
fn source_name(srpm: &str) -> &str {
    let s = srpm.strip_suffix(".src.rpm").unwrap_or(srpm);
    let mut parts = s.rsplitn(3, '-');
    let _release = parts.next();
    let _version = parts.next();
    parts.next().unwrap_or(s)
}

/// Reads the Packages table of an rpmdb.sqlite.
pub(crate) fn parse(data: &[u8], os: Option<&OsRelease>) -> Found {
    let mut found = Found::default();
    let rows = Db::open(data).and_then(|db| match db.table_root("Packages")? {
        Some(root) => db.rows(root),
        None => Err("no Packages table".into()),
    });
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return Found::warn(format!("rpm database: {e}")),
    };
    let distro = os.map(OsRelease::distro);
    for (rowid, cols) in rows {
        let Some(Value::Blob(blob)) = cols.get(1) else {
            found
                .warnings
                .push(format!("rpm database row {rowid}: no header blob; skipped"));
            continue;
        };
        let h = match header(blob) {
            Ok(h) => h,
            Err(e) => {
                found
                    .warnings
                    .push(format!("rpm database row {rowid}: {e}; skipped"));
                continue;
            }
        };
        // rpm lists imported signing keys as packages; they are not software.
        if h.name == "gpg-pubkey" {
            continue;
        }
        let vr = if h.release.is_empty() {
            h.version.clone()
        } else {
            format!("{}-{}", h.version, h.release)
        };
        let version = match h.epoch {
            Some(e) => format!("{e}:{vr}"),
            None => vr.clone(),
        };
        let epoch = h.epoch.map(|e| e.to_string());
        let mut purl = Purl::new("rpm", &h.name)
            .version(&vr)
            .qualifier_opt("arch", h.arch.as_deref())
            .qualifier_opt("epoch", epoch.as_deref())
            .qualifier_opt("distro", distro.as_deref())
            .qualifier_opt("upstream", h.source_rpm.as_deref());
        if let Some(o) = os {
            purl = purl.namespace(&o.id);
        }
        let mut p = Package::new(Ecosystem::Rpm, &h.name, &version, purl.to_string());
        p.arch = h.arch.clone().filter(|a| !a.is_empty() && a != "(none)");
        p.source = h
            .source_rpm
            .as_deref()
            .filter(|s| !s.is_empty() && *s != "(none)")
            .map(|s| SourcePackage {
                name: source_name(s).to_string(),
                version: None,
            });
        p.licenses = h
            .license
            .as_deref()
            .and_then(license::parse)
            .into_iter()
            .collect();
        found.packages.push(p);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header blob the way rpm lays it out.
    pub(crate) fn blob(entries: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store = Vec::new();
        for (tag, ty, data) in entries {
            if *ty == TYPE_INT32 {
                while store.len() % 4 != 0 {
                    store.push(0);
                }
            }
            for v in [*tag, *ty, store.len() as u32, 1] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            store.extend_from_slice(data);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        b.extend_from_slice(&(store.len() as u32).to_be_bytes());
        b.extend(index);
        b.extend(store);
        b
    }

    #[test]
    fn header_blob() {
        let b = blob(&[
            (NAME, TYPE_STRING, b"bash\0"),
            (VERSION, TYPE_STRING, b"5.1.8\0"),
            (RELEASE, TYPE_STRING, b"9.el9\0"),
            (EPOCH, TYPE_INT32, &1u32.to_be_bytes()),
            (LICENSE, TYPE_STRING, b"GPLv3+\0"),
            (ARCH, TYPE_STRING, b"x86_64\0"),
            (SOURCERPM, TYPE_STRING, b"bash-5.1.8-9.el9.src.rpm\0"),
        ]);
        let h = header(&b).unwrap();
        assert_eq!(h.name, "bash");
        assert_eq!(h.epoch, Some(1));
        assert_eq!(source_name(h.source_rpm.as_deref().unwrap()), "bash");
        // Truncations at every length fail cleanly.
        for n in 0..b.len() {
            let _ = header(&b[..n]);
        }
        assert!(header(&b[..b.len() - 3]).is_err());
    }
}
