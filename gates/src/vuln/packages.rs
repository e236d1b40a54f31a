//! What the matcher needs to know about an installed package ([`Package`]), and a
//! minimal finder for it ([`find`]).
//!
//! [`find`] is a stop-gap: it reads only what the vulnerability tests need (dpkg
//! `var/lib/dpkg/status` and `status.d/`, apk `lib/apk/db/installed`, Python
//! `*.dist-info/METADATA`, npm `node_modules/**/package.json`) from the final view of the
//! image. The SBOM catalogers (`crate::sbom`, being written) will replace it: whatever
//! they find only has to be turned into [`Package`]s.

use std::collections::BTreeMap;

use lading_oci::{Image, Store};

use super::db::normalize_name;
use super::osv::Warning;
use crate::layers::{self, File};

/// An installed package, as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// Name in its ecosystem (binary package name for Debian/Alpine).
    pub name: String,
    /// Installed version.
    pub version: String,
    /// OSV ecosystem, with the release for distributions (`Debian:12`, `Alpine:v3.20`,
    /// `PyPI`, `npm`).
    pub ecosystem: String,
    /// Package URL.
    pub purl: String,
    /// Source package (Debian `Source:`, Alpine origin), which distribution advisories
    /// are keyed by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Source package version when it differs from the binary's (binNMUs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Path of the file that evidenced the package (no leading `/`).
    pub path: String,
    /// Digest of the layer that wrote that file last.
    pub layer: String,
}

/// The operating system of an image (`etc/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distro {
    /// `ID` (`debian`, `ubuntu`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.20.3`).
    pub version_id: String,
}

impl Distro {
    /// The OSV ecosystem of the distribution's packages.
    pub fn ecosystem(&self) -> Option<String> {
        let v = &self.version_id;
        Some(match self.id.as_str() {
            "debian" if !v.is_empty() => format!("Debian:{}", v.split('.').next().unwrap_or(v)),
            "debian" => "Debian".to_string(),
            "ubuntu" if !v.is_empty() => format!("Ubuntu:{v}"),
            "alpine" if !v.is_empty() => {
                let mut parts = v.split('.');
                match (parts.next(), parts.next()) {
                    (Some(a), Some(b)) => format!("Alpine:v{a}.{b}"),
                    _ => format!("Alpine:v{v}"),
                }
            }
            _ => return None,
        })
    }
}

/// Reads `KEY=value` lines (os-release(5)).
pub fn parse_os_release(text: &str) -> Distro {
    let mut d = Distro::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => d.id = v,
            "VERSION_ID" => d.version_id = v,
            _ => {}
        }
    }
    d
}

/// RFC 822-style paragraphs (dpkg status, apk installed with `K:v` lines, METADATA
/// headers): continuation lines are appended to the previous field.
fn paragraphs(text: &str, sep: char) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(k) = &last
                && let Some(v) = cur.get_mut(k)
            {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(sep) {
            let k = k.trim().to_string();
            cur.entry(k.clone()).or_insert_with(|| v.trim().to_string());
            last = Some(k);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Percent-encodes a purl segment.
fn purl_enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Packages from a dpkg status file.
pub fn parse_dpkg_status(file: &File, distro: &Distro) -> Vec<Package> {
    let text = String::from_utf8_lossy(&file.data);
    let ecosystem = distro.ecosystem().unwrap_or_else(|| "Debian".to_string());
    let vendor = if distro.id.is_empty() {
        "debian"
    } else {
        &distro.id
    };
    let mut out = Vec::new();
    for p in paragraphs(&text, ':') {
        let (Some(name), Some(version)) = (p.get("Package"), p.get("Version")) else {
            continue;
        };
        // status.d/ files have no Status field; the status file lists removed ones too.
        if p.get("Status").is_some_and(|s| !s.ends_with(" installed")) {
            continue;
        }
        let (source_name, source_version) = match p.get("Source") {
            Some(s) => match s.split_once(' ') {
                Some((n, v)) => (
                    Some(n.to_string()),
                    Some(v.trim().trim_matches(['(', ')']).to_string()),
                ),
                None => (Some(s.clone()), None),
            },
            None => (None, None),
        };
        let mut qualifiers = Vec::new();
        if let Some(arch) = p.get("Architecture") {
            qualifiers.push(format!("arch={}", purl_enc(arch)));
        }
        if !distro.version_id.is_empty() {
            qualifiers.push(format!("distro={vendor}-{}", distro.version_id));
        }
        let purl = format!(
            "pkg:deb/{vendor}/{}@{}{}{}",
            purl_enc(name),
            purl_enc(version),
            if qualifiers.is_empty() { "" } else { "?" },
            qualifiers.join("&")
        );
        out.push(Package {
            name: name.clone(),
            version: version.clone(),
            ecosystem: ecosystem.clone(),
            purl,
            source_name,
            source_version,
            path: file.entry.path.clone(),
            layer: file.entry.layer_digest.clone(),
        });
    }
    out
}

/// Packages from an apk database (`lib/apk/db/installed`).
pub fn parse_apk_installed(file: &File, distro: &Distro) -> Vec<Package> {
    let text = String::from_utf8_lossy(&file.data);
    let ecosystem = distro.ecosystem().unwrap_or_else(|| "Alpine".to_string());
    let mut out = Vec::new();
    for p in paragraphs(&text, ':') {
        let (Some(name), Some(version)) = (p.get("P"), p.get("V")) else {
            continue;
        };
        let mut q = Vec::new();
        if let Some(a) = p.get("A") {
            q.push(format!("arch={}", purl_enc(a)));
        }
        if !distro.version_id.is_empty() {
            q.push(format!("distro=alpine-{}", distro.version_id));
        }
        out.push(Package {
            name: name.clone(),
            version: version.clone(),
            ecosystem: ecosystem.clone(),
            purl: format!(
                "pkg:apk/alpine/{}@{}{}{}",
                purl_enc(name),
                purl_enc(version),
                if q.is_empty() { "" } else { "?" },
                q.join("&")
            ),
            source_name: p.get("o").cloned(),
            source_version: None,
            path: file.entry.path.clone(),
            layer: file.entry.layer_digest.clone(),
        });
    }
    out
}

/// A Python distribution from its `METADATA` (core metadata: `Name`, `Version`).
pub fn parse_python_metadata(file: &File) -> Option<Package> {
    let text = String::from_utf8_lossy(&file.data);
    // Headers end at the first blank line; the body is the description.
    let head = text.split("\n\n").next().unwrap_or("");
    let p = paragraphs(head, ':').into_iter().next()?;
    let name = p.get("Name")?.trim().to_string();
    let version = p.get("Version")?.trim().to_string();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some(Package {
        purl: format!(
            "pkg:pypi/{}@{}",
            purl_enc(&normalize_name("PyPI", &name)),
            purl_enc(&version)
        ),
        name,
        version,
        ecosystem: "PyPI".into(),
        source_name: None,
        source_version: None,
        path: file.entry.path.clone(),
        layer: file.entry.layer_digest.clone(),
    })
}

/// An npm package from a `package.json` under `node_modules`.
pub fn parse_package_json(file: &File) -> Result<Option<Package>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(&file.data).map_err(|e| format!("not JSON: {e}"))?;
    let (Some(name), Some(version)) = (
        v.get("name").and_then(|n| n.as_str()),
        v.get("version").and_then(|n| n.as_str()),
    ) else {
        return Ok(None);
    };
    if name.is_empty() || version.is_empty() {
        return Ok(None);
    }
    let purl_name = match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, n)) => format!("%40{}/{}", purl_enc(scope), purl_enc(n)),
        None => purl_enc(name),
    };
    Ok(Some(Package {
        name: name.to_string(),
        version: version.to_string(),
        ecosystem: "npm".into(),
        purl: format!("pkg:npm/{purl_name}@{}", purl_enc(version)),
        source_name: None,
        source_version: None,
        path: file.entry.path.clone(),
        layer: file.entry.layer_digest.clone(),
    }))
}

fn wanted(path: &str) -> bool {
    path == "etc/os-release"
        || path == "usr/lib/os-release"
        || path == "var/lib/dpkg/status"
        || path.starts_with("var/lib/dpkg/status.d/")
        || path == "lib/apk/db/installed"
        || path.ends_with(".dist-info/METADATA")
        || (path.ends_with("/package.json") && path.contains("node_modules/"))
}

/// The packages of an image, with warnings about files that could not be read. The
/// seam for the SBOM catalogers (see the module documentation).
pub fn find(store: &Store, image: &Image) -> crate::Result<(Vec<Package>, Vec<Warning>)> {
    let files = layers::collect(store, image, &|p, _| wanted(p), 64 << 20)?;
    Ok(from_files(&files))
}

/// [`find`] on files already collected (path → file).
pub fn from_files(files: &BTreeMap<String, File>) -> (Vec<Package>, Vec<Warning>) {
    let distro = files
        .get("etc/os-release")
        .or_else(|| files.get("usr/lib/os-release"))
        .map(|f| parse_os_release(&String::from_utf8_lossy(&f.data)))
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (path, file) in files {
        if path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") {
            out.extend(parse_dpkg_status(file, &distro));
        } else if path == "lib/apk/db/installed" {
            out.extend(parse_apk_installed(file, &distro));
        } else if path.ends_with(".dist-info/METADATA") {
            match parse_python_metadata(file) {
                Some(p) => out.push(p),
                None => warnings.push(Warning {
                    record: path.clone(),
                    message: "no Name/Version in Python metadata".into(),
                }),
            }
        } else if path.ends_with("package.json") {
            match parse_package_json(file) {
                Ok(Some(p)) => out.push(p),
                Ok(None) => {}
                Err(e) => warnings.push(Warning {
                    record: path.clone(),
                    message: e,
                }),
            }
        }
    }
    out.sort();
    out.dedup();
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Entry, Kind};

    fn file(path: &str, data: &str) -> File {
        File {
            entry: Entry {
                layer: 0,
                layer_digest: "sha256:00".into(),
                path: path.into(),
                kind: Kind::File,
                size: data.len() as u64,
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn dpkg_source_packages_and_removed_entries() {
        let status = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\nDescription: x\n multi\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nSource: bash\n";
        let distro = parse_os_release("ID=debian\nVERSION_ID=\"12\"\n");
        let pkgs = parse_dpkg_status(&file("var/lib/dpkg/status", status), &distro);
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[0].ecosystem, "Debian:12");
        assert_eq!(pkgs[0].source_name.as_deref(), Some("openssl"));
        assert_eq!(pkgs[0].source_version.as_deref(), Some("3.0.11-1~deb12u2"));
        assert_eq!(
            pkgs[0].purl,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&distro=debian-12"
        );
        assert_eq!(pkgs[1].source_name.as_deref(), Some("bash"));
    }

    #[test]
    fn python_and_npm() {
        let m = file(
            "usr/lib/python3/site-packages/Jinja2-2.10.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n\nName: not this\n",
        );
        let p = parse_python_metadata(&m).unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("Jinja2", "2.10"));
        assert_eq!(p.purl, "pkg:pypi/jinja2@2.10");
        let j = file(
            "app/node_modules/@scope/x/package.json",
            r#"{"name":"@scope/x","version":"1.0.0"}"#,
        );
        assert_eq!(
            parse_package_json(&j).unwrap().unwrap().purl,
            "pkg:npm/%40scope/x@1.0.0"
        );
        assert!(parse_package_json(&file("node_modules/y/package.json", "{")).is_err());
    }

    #[test]
    fn alpine_ecosystem() {
        let d = parse_os_release("ID=alpine\nVERSION_ID=3.20.3\n");
        assert_eq!(d.ecosystem().as_deref(), Some("Alpine:v3.20"));
        let pkgs = parse_apk_installed(
            &file(
                "lib/apk/db/installed",
                "C:Q1x\nP:libcrypto3\nV:3.3.2-r0\nA:x86_64\no:openssl\n\n",
            ),
            &d,
        );
        assert_eq!(pkgs[0].source_name.as_deref(), Some("openssl"));
    }
}
