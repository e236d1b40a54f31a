//! Java archives (`.jar`, `.war`, `.ear`, ...): Maven coordinates from every
//! `META-INF/maven/<group>/<artifact>/pom.properties`; when none of them is the archive
//! itself, a package from `META-INF/MANIFEST.MF` and the file name; nested archives
//! (`BOOT-INF/lib/*.jar`, `WEB-INF/lib/*.jar`) are read the same way, four levels deep
//! at most, their location written `outer.jar:inner.jar`.

use super::catalog::Found;
use super::license;
use super::purl::Purl;
use super::zip::Zip;
use super::{Ecosystem, Package};

const EXTENSIONS: &[&str] = &[
    "jar", "war", "ear", "jpi", "hpi", "par", "sar", "nar", "kar",
];
const MAX_MEMBER: u64 = 1 << 20;
const MAX_NESTED: u64 = 256 << 20;
const MAX_DEPTH: usize = 4;

/// Whether a file name is a Java archive's.
pub(crate) fn is_archive_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    })
}

/// `commons-lang3-3.12.0.jar` → (`commons-lang3`, `3.12.0`).
fn split_file_name(name: &str) -> (String, String) {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let bytes = stem.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return (stem[..i].to_string(), stem[i + 1..].to_string());
        }
    }
    (stem.to_string(), String::new())
}

/// Key/value lines (`pom.properties`: `k=v`; `MANIFEST.MF`: `K: v` with continuation
/// lines starting with a space). Only the manifest's main section is read.
fn properties(text: &str, sep: char) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if sep == ':' && line.is_empty() {
            break;
        }
        if sep == ':' && line.starts_with(' ') {
            if let Some((_, v)) = out.last_mut() {
                v.push_str(&line[1..]);
            }
            continue;
        }
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        if let Some((k, v)) = line.split_once(sep) {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn get<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn maven(group: &str, artifact: &str, version: &str, suffix: &str) -> Package {
    let purl = Purl::new("maven", artifact)
        .namespace(group)
        .version(version)
        .to_string();
    let mut p = Package::new(Ecosystem::Java, artifact, version, purl);
    p.group = (!group.is_empty()).then(|| group.to_string());
    p.location.path = suffix.to_string();
    p
}

fn archive(file_name: &str, data: &[u8], suffix: &str, depth: usize, found: &mut Found) {
    let prefix = if suffix.is_empty() {
        String::new()
    } else {
        format!("{}: ", suffix.trim_start_matches(':'))
    };
    let zip = match Zip::open(data) {
        Ok(z) => z,
        Err(e) => {
            found
                .warnings
                .push(format!("{prefix}not a readable archive: {e}"));
            return;
        }
    };
    let (stem_name, stem_version) = split_file_name(file_name);
    let mut itself = false;
    let mut manifest = Vec::new();
    for m in &zip.members {
        let is_pom = m.name.starts_with("META-INF/maven/") && m.name.ends_with("/pom.properties");
        if !is_pom && m.name != "META-INF/MANIFEST.MF" {
            continue;
        }
        let text = match zip.read(m, MAX_MEMBER) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                found.warnings.push(format!("{prefix}{e}"));
                continue;
            }
        };
        if !is_pom {
            manifest = properties(&text, ':');
            continue;
        }
        let props = properties(&text, '=');
        let (Some(g), Some(a), Some(v)) = (
            get(&props, "groupId"),
            get(&props, "artifactId"),
            get(&props, "version"),
        ) else {
            found.warnings.push(format!(
                "{prefix}{} lacks groupId, artifactId or version",
                m.name
            ));
            continue;
        };
        itself |= a == stem_name;
        found.packages.push(maven(g, a, v, suffix));
    }
    if !itself {
        let version = get(&manifest, "Implementation-Version")
            .or_else(|| get(&manifest, "Bundle-Version"))
            .or_else(|| get(&manifest, "Specification-Version"))
            .unwrap_or(&stem_version)
            .to_string();
        let group = get(&manifest, "Implementation-Vendor-Id")
            .or_else(|| {
                get(&manifest, "Bundle-SymbolicName").and_then(|s| {
                    let s = s.split(';').next().unwrap_or(s).trim();
                    s.rsplit_once('.').map(|(g, _)| g)
                })
            })
            .unwrap_or(&stem_name)
            .to_string();
        let mut p = maven(&group, &stem_name, &version, suffix);
        p.licenses = get(&manifest, "Bundle-License")
            .and_then(license::parse)
            .into_iter()
            .collect();
        found.packages.push(p);
    }
    if depth >= MAX_DEPTH {
        return;
    }
    for m in &zip.members {
        let name = m.name.rsplit('/').next().unwrap_or(&m.name);
        if !is_archive_name(name) {
            continue;
        }
        match zip.read(m, MAX_NESTED) {
            Ok(inner) => archive(
                name,
                &inner,
                &format!("{suffix}:{}", m.name),
                depth + 1,
                found,
            ),
            Err(e) => found.warnings.push(format!("{prefix}{e}")),
        }
    }
}

/// Packages of a Java archive at `path`.
pub(crate) fn parse(path: &str, data: &[u8]) -> Found {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut found = Found::default();
    archive(name, data, "", 0, &mut found);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_archive_name("a.jar") && is_archive_name("x.WAR"));
        assert!(!is_archive_name(".jar") && !is_archive_name("jar"));
        assert_eq!(
            split_file_name("commons-lang3-3.12.0.jar"),
            ("commons-lang3".into(), "3.12.0".into())
        );
        assert_eq!(split_file_name("app.jar"), ("app".into(), String::new()));
        let m = properties(
            "Manifest-Version: 1.0\nImplementation-Title: lo\n ng\n\nName: x\nA: b\n",
            ':',
        );
        assert_eq!(get(&m, "implementation-title"), Some("long"));
        assert_eq!(get(&m, "A"), None);
    }

    #[test]
    fn garbage_is_a_warning() {
        let f = parse("opt/x.jar", b"PK\x03\x04 not really");
        assert!(f.packages.is_empty());
        assert_eq!(f.warnings.len(), 1);
    }
}
