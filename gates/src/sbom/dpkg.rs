//! dpkg's database: `var/lib/dpkg/status` (and distroless images' `status.d/*`), a list
//! of deb822 stanzas (Debian Policy §5.1). Packages whose `Status:` says they are not
//! installed (`not-installed`, `config-files`) are left out, as dpkg itself does;
//! `Source: name (version)` is kept. Licences come from each package's
//! `/usr/share/doc/<name>/copyright`.

use std::collections::BTreeMap;

use super::catalog::Found;
use super::purl::Purl;
use super::{Ecosystem, License, OsRelease, Package, SourcePackage};

/// One deb822 stanza: field names as written (case kept), values with continuation
/// lines joined by `\n`, and the line it started on.
pub(crate) struct Stanza {
    pub line: usize,
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// A field's value (names compare case-insensitively, as deb822 says).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits deb822 text into stanzas; lines that are neither a field nor a continuation
/// are reported (with their line number) and skipped.
pub(crate) fn stanzas(text: &str, warnings: &mut Vec<String>) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut cur: Option<Stanza> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            out.extend(cur.take());
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match cur.as_mut().and_then(|s| s.fields.last_mut()) {
                Some((_, v)) => {
                    v.push('\n');
                    v.push_str(line.trim());
                }
                None => warnings.push(format!(
                    "line {n}: continuation line without a field; skipped"
                )),
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
                cur.get_or_insert_with(|| Stanza {
                    line: n,
                    fields: Vec::new(),
                })
                .fields
                .push((k.to_string(), v.trim().to_string()));
            }
            _ => warnings.push(format!(
                "line {n}: not a `Field: value` line: {:?}; skipped",
                truncate(line, 60)
            )),
        }
    }
    out.extend(cur);
    out
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let t: String = s.chars().take(max).collect();
        format!("{t}…")
    }
}

/// Whether dpkg considers the package's files present.
fn installed(status: Option<&str>) -> bool {
    match status {
        // Old or hand-made databases may have no Status (distroless status.d has one).
        None => true,
        Some(s) => {
            let state = s.split_whitespace().nth(2).unwrap_or("");
            !matches!(state, "not-installed" | "config-files")
        }
    }
}

/// Parses a status file.
pub(crate) fn parse(
    data: &[u8],
    os: Option<&OsRelease>,
    copyrights: &BTreeMap<String, Vec<License>>,
) -> Found {
    let mut found = Found::default();
    let text = match std::str::from_utf8(data) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(e) => {
            found.warnings.push(format!(
                "not valid UTF-8 at byte {}; read with replacement characters",
                e.valid_up_to()
            ));
            String::from_utf8_lossy(data)
        }
    };
    let namespace = match os {
        Some(o) if o.is_like("debian") => o.id.clone(),
        _ => "debian".to_string(),
    };
    let distro = os.map(OsRelease::distro);
    for s in stanzas(&text, &mut found.warnings) {
        let (Some(name), Some(version)) = (s.get("Package"), s.get("Version")) else {
            found.warnings.push(format!(
                "stanza at line {} has no Package or no Version field; skipped",
                s.line
            ));
            continue;
        };
        if name.is_empty() || version.is_empty() || name.contains(char::is_whitespace) {
            found.warnings.push(format!(
                "stanza at line {}: invalid Package {name:?} or Version {version:?}; skipped",
                s.line
            ));
            continue;
        }
        if !installed(s.get("Status")) {
            continue;
        }
        let arch = s.get("Architecture").filter(|a| !a.is_empty());
        let source = s
            .get("Source")
            .filter(|v| !v.is_empty())
            .map(|v| match v.split_once(' ') {
                Some((n, rest)) => SourcePackage {
                    name: n.to_string(),
                    version: rest
                        .trim()
                        .strip_prefix('(')
                        .and_then(|r| r.strip_suffix(')'))
                        .map(|r| r.trim().to_string()),
                },
                None => SourcePackage {
                    name: v.to_string(),
                    version: None,
                },
            });
        let upstream = source.as_ref().map(|s| match &s.version {
            Some(v) => format!("{}@{v}", s.name),
            None => s.name.clone(),
        });
        let purl = Purl::new("deb", name)
            .namespace(&namespace)
            .version(version)
            .qualifier_opt("arch", arch)
            .qualifier_opt("distro", distro.as_deref())
            .qualifier_opt("upstream", upstream.as_deref())
            .to_string();
        let mut p = Package::new(Ecosystem::Deb, name, version, purl);
        p.arch = arch.map(str::to_string);
        p.source = source;
        p.licenses = copyrights.get(name).cloned().unwrap_or_default();
        found.packages.push(p);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\
Source: glibc\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n multi-line\n .\n more\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
Package: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\n\
Source: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14\n";

    #[test]
    fn parses_status_with_sources() {
        let os = OsRelease::parse("ID=debian\nVERSION_ID=12\n").unwrap();
        let mut c = BTreeMap::new();
        c.insert(
            "libc6".to_string(),
            vec![License::Spdx("LGPL-2.1-or-later".into())],
        );
        let f = parse(STATUS.as_bytes(), Some(&os), &c);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        let got: Vec<(&str, &str, &str)> = f
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.purl.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "libc6",
                    "2.36-9+deb12u4",
                    "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
                ),
                (
                    "libgcc-s1",
                    "12.2.0-14",
                    "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12%4012.2.0-14"
                ),
            ]
        );
        assert_eq!(
            f.packages[1].source.as_ref().unwrap().version.as_deref(),
            Some("12.2.0-14")
        );
        assert_eq!(f.packages[0].licenses.len(), 1);
    }

    #[test]
    fn malformed_status_warns_and_keeps_the_rest() {
        let text = "garbage line\n continuation\nPackage: a\nVersion: 1\n\nVersion: 2\n\n\
                    Package: b c\nVersion: 3\n\n\x00\x01\n";
        let f = parse(text.as_bytes(), None, &BTreeMap::new());
        assert_eq!(f.packages.len(), 1);
        assert_eq!(f.packages[0].purl, "pkg:deb/debian/a@1");
        assert_eq!(f.warnings.len(), 5, "{:?}", f.warnings);
        let f = parse(b"Package: x\xff\nVersion: 1\n", None, &BTreeMap::new());
        assert_eq!(f.packages.len(), 1);
        assert!(f.warnings[0].contains("UTF-8"));
    }
}
