//! What the scan checks: the SBOM's catalog ([`crate::sbom::catalog`], the one place
//! packages are found), each package named as OSV names it.
//!
//! | purl type | OSV ecosystem | name looked up | version compared |
//! |---|---|---|---|
//! | `deb` | `Debian:<major>` (`Ubuntu:<version>` on Ubuntu) | the source package | the source version |
//! | `apk` | `Alpine:v<major>.<minor>` (`Wolfi`, `Chainguard`) | the origin | the package's |
//! | `rpm` | from `os-release` `ID`: `Red Hat`, `AlmaLinux:<major>`, `Rocky Linux:<major>`, `openSUSE:…`, `SUSE:…`, `Mageia:<v>`, `openEuler:<v>`, `Photon OS:<v>`, `Azure Linux:<v>` | the package | `[epoch:]version-release` |
//! | `pypi` | `PyPI` | the name (PEP 503 at lookup) | as installed |
//! | `npm` | `npm` | `@scope/name` | as installed |
//! | `golang` | `Go` | the module path; `stdlib` for the toolchain | without the `v`; `go1.21.0` → `1.21.0` |
//! | `maven` | `Maven` | `group:artifact` | as recorded |
//! | `gem` | `RubyGems` | the gem | as recorded |
//! | `composer` | `Packagist` | `vendor/name` | as recorded |
//! | `cargo` | `crates.io` | the crate | as recorded |
//!
//! A package OSV has no ecosystem for (an RPM of a distribution OSV does not cover, a
//! jar without a group id, a Go main module without a version) is still part of what was
//! scanned: it is listed as not matchable, with the reason.

use super::report::Scanned;
use crate::sbom::{Ecosystem, OsRelease, Package as SbomPackage, Sbom};

/// An installed package, as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// Name in its OSV ecosystem (binary package name for distributions).
    pub name: String,
    /// Version as installed (what reports show).
    pub version: String,
    /// The version in the form the ecosystem's advisories use (Go: no `v`).
    pub osv_version: String,
    /// OSV ecosystem, with the release for distributions (`Debian:12`, `Alpine:v3.20`,
    /// `PyPI`, `Go`); `None` when OSV has none for it.
    pub ecosystem: Option<String>,
    /// Why it cannot be matched, when `ecosystem` is `None`.
    pub unmatchable: Option<String>,
    /// Package URL, as the SBOM gives it.
    pub purl: String,
    /// Source package (Debian `Source:`, Alpine origin), which distribution advisories
    /// are keyed by.
    pub source_name: Option<String>,
    /// Source package version when it differs from the binary's (binNMUs).
    pub source_version: Option<String>,
    /// Path of the file that evidenced the package (no leading `/`; `a.jar:inner.jar`
    /// inside archives).
    pub path: String,
    /// Digest of the layer that wrote that file last.
    pub layer: String,
}

impl Package {
    /// The entry of the report's `scanned` list.
    pub fn scanned(&self) -> Scanned {
        Scanned {
            purl: self.purl.clone(),
            ecosystem: self.ecosystem.clone(),
            path: self.path.clone(),
            not_matchable: self.unmatchable.clone(),
        }
    }
}

/// The major part of a `VERSION_ID` (`9.3` → `9`).
fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
}

/// `major.minor` of a `VERSION_ID` (`3.20.3` → `3.20`).
fn major_minor(v: &str) -> String {
    let mut it = v.split('.');
    match (it.next(), it.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => v.to_string(),
    }
}

/// The OSV ecosystem of a distribution's packages, or why there is none.
fn distro_ecosystem(eco: Ecosystem, os: Option<&OsRelease>) -> Result<String, String> {
    let Some(os) = os else {
        return match eco {
            // Without os-release the release is unknown: only unversioned records match.
            Ecosystem::Deb => Ok("Debian".into()),
            Ecosystem::Apk => Ok("Alpine".into()),
            _ => Err("no /etc/os-release: the distribution is unknown".into()),
        };
    };
    let v = os.version_id.as_deref().unwrap_or("");
    let with = |base: &str, rel: String| {
        if v.is_empty() {
            base.to_string()
        } else {
            format!("{base}:{rel}")
        }
    };
    let id = os.id.as_str();
    Ok(match (eco, id) {
        (Ecosystem::Deb, "ubuntu") => with("Ubuntu", v.to_string()),
        (Ecosystem::Deb, _) if id == "debian" || os.is_like("debian") => {
            with("Debian", major(v).to_string())
        }
        (Ecosystem::Apk, "alpine") => with("Alpine", format!("v{}", major_minor(v))),
        (Ecosystem::Apk, "wolfi") => "Wolfi".into(),
        (Ecosystem::Apk, "chainguard") => "Chainguard".into(),
        (Ecosystem::Rpm, "rhel") => "Red Hat".into(),
        (Ecosystem::Rpm, "almalinux") => with("AlmaLinux", major(v).to_string()),
        (Ecosystem::Rpm, "rocky") => with("Rocky Linux", major(v).to_string()),
        (Ecosystem::Rpm, "opensuse-leap") => with("openSUSE", format!("Leap {v}")),
        (Ecosystem::Rpm, "opensuse-tumbleweed") => "openSUSE:Tumbleweed".into(),
        (Ecosystem::Rpm, "sles") => "SUSE".into(),
        (Ecosystem::Rpm, "mageia") => with("Mageia", v.to_string()),
        (Ecosystem::Rpm, "openEuler" | "openeuler") => with("openEuler", v.to_string()),
        (Ecosystem::Rpm, "photon") => with("Photon OS", v.to_string()),
        (Ecosystem::Rpm, "azurelinux" | "mariner") => with("Azure Linux", v.to_string()),
        (_, other) => {
            return Err(format!(
                "OSV has no advisories for {} packages of {other:?}",
                eco.as_str()
            ));
        }
    })
}

/// A Go toolchain version as OSV writes it: `go1.21.0` → `1.21.0`, `go1.21` → `1.21.0`,
/// `go1.21rc2` → `1.21.0-rc.2`.
pub fn go_stdlib_version(v: &str) -> String {
    let v = v.strip_prefix("go").unwrap_or(v);
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, pre) = v.split_at(split);
    let mut parts: Vec<&str> = num.split('.').filter(|p| !p.is_empty()).collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    let mut out = parts.join(".");
    if !pre.is_empty() {
        let digits = pre.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let word = &pre[..pre.len() - digits.len()];
        out.push('-');
        out.push_str(word);
        if !digits.is_empty() {
            out.push('.');
            out.push_str(digits);
        }
    }
    out
}

/// OSV's ecosystem, name and version for one SBOM package.
fn osv_identity(
    p: &SbomPackage,
    os: Option<&OsRelease>,
) -> Result<(String, String, String), String> {
    let same = |eco: &str| Ok((eco.to_string(), p.name.clone(), p.version.clone()));
    match p.ecosystem {
        Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
            let eco = distro_ecosystem(p.ecosystem, os)?;
            Ok((eco, p.name.clone(), p.version.clone()))
        }
        Ecosystem::Python => same("PyPI"),
        Ecosystem::Npm => same("npm"),
        Ecosystem::Ruby => same("RubyGems"),
        Ecosystem::Rust => same("crates.io"),
        Ecosystem::Go => {
            if p.version.is_empty() || p.version == "(devel)" {
                return Err("a Go main module built without a version".into());
            }
            let v = if p.name == "stdlib" {
                go_stdlib_version(&p.version)
            } else {
                p.version.trim_start_matches('v').to_string()
            };
            Ok(("Go".into(), p.name.clone(), v))
        }
        Ecosystem::Java => match &p.group {
            Some(g) => Ok(("Maven".into(), format!("{g}:{}", p.name), p.version.clone())),
            None => Err("a Java archive without a Maven group id".into()),
        },
        Ecosystem::Php => match &p.group {
            Some(g) => Ok((
                "Packagist".into(),
                format!("{g}/{}", p.name),
                p.version.clone(),
            )),
            None => same("Packagist"),
        },
    }
}

/// Every package of the SBOM, named for OSV; the order is the SBOM's.
pub fn from_sbom(sbom: &Sbom) -> Vec<Package> {
    let os = sbom.os.as_ref();
    sbom.packages
        .iter()
        .map(|p| {
            let (ecosystem, name, osv_version, unmatchable) = match osv_identity(p, os) {
                Ok((e, n, v)) => (Some(e), n, v, None),
                Err(why) => (None, p.name.clone(), p.version.clone(), Some(why)),
            };
            Package {
                name,
                version: p.version.clone(),
                osv_version,
                ecosystem,
                unmatchable,
                purl: p.purl.clone(),
                source_name: p.source.as_ref().map(|s| s.name.clone()),
                source_version: p.source.as_ref().and_then(|s| s.version.clone()),
                path: p.location.path.trim_start_matches('/').to_string(),
                layer: p.location.layer_digest.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_toolchain_versions_as_osv_writes_them() {
        assert_eq!(go_stdlib_version("go1.21.0"), "1.21.0");
        assert_eq!(go_stdlib_version("go1.21"), "1.21.0");
        assert_eq!(go_stdlib_version("go1.21rc2"), "1.21.0-rc.2");
        assert_eq!(go_stdlib_version("go1.19.8"), "1.19.8");
    }

    fn os(text: &str) -> OsRelease {
        OsRelease::parse(text).unwrap()
    }

    #[test]
    fn distribution_ecosystems_from_os_release() {
        let e = |eco, t: &str| distro_ecosystem(eco, Some(&os(t)));
        assert_eq!(
            e(Ecosystem::Deb, "ID=debian\nVERSION_ID=\"12\"\n").unwrap(),
            "Debian:12"
        );
        assert_eq!(
            e(Ecosystem::Apk, "ID=alpine\nVERSION_ID=3.20.3\n").unwrap(),
            "Alpine:v3.20"
        );
        assert_eq!(
            e(Ecosystem::Rpm, "ID=\"almalinux\"\nVERSION_ID=\"9.3\"\n").unwrap(),
            "AlmaLinux:9"
        );
        assert_eq!(
            e(Ecosystem::Rpm, "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n").unwrap(),
            "Rocky Linux:9"
        );
        assert!(e(Ecosystem::Rpm, "ID=fedora\nVERSION_ID=40\n").is_err());
        assert_eq!(distro_ecosystem(Ecosystem::Deb, None).unwrap(), "Debian");
        assert!(distro_ecosystem(Ecosystem::Rpm, None).is_err());
    }
}
