//! Software bill of materials: catalogers find the packages in an image's final
//! filesystem while its layers stream past once (no unpacking), and the result is
//! written as CycloneDX 1.6 JSON, SPDX 2.3 JSON, lading's own JSON or a table.
//!
//! Where packages are found (as syft and trivy look for them, see FORMATS.md):
//!
//! | ecosystem | evidence |
//! |---|---|
//! | deb | `var/lib/dpkg/status`, `var/lib/dpkg/status.d/*` (licences from `usr/share/doc/*/copyright`) |
//! | apk | `lib/apk/db/installed` |
//! | rpm | `var/lib/rpm/rpmdb.sqlite`, `usr/lib/sysimage/rpm/rpmdb.sqlite` |
//! | python | `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` files |
//! | npm | `node_modules/[@scope/]name/package.json` |
//! | go | the build info of Go executables |
//! | rust | the `.dep-v0` section of cargo-auditable executables |
//! | java | `META-INF/maven/**/pom.properties` and `META-INF/MANIFEST.MF` in jars, nested jars too |
//! | ruby | `specifications/*.gemspec` |
//! | php | `vendor/composer/installed.json` |
//!
//! Every package carries its purl, its licences, the file that evidenced it and the
//! digest of the layer that file came from; OS packages' purls name the distribution
//! from `/etc/os-release`.

mod apk;
pub mod catalog;
pub mod cyclonedx;
mod dpkg;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod golang;
mod java;
pub mod license;
mod npm;
pub mod osrelease;
mod php;
pub mod purl;
mod python;
mod rpm;
mod ruby;
mod rustaudit;
pub mod spdx;
mod sqlite;
pub mod table;
mod zip;

use serde::{Deserialize, Serialize};

pub use catalog::{catalog, catalog_cached};
pub use license::License;
pub use osrelease::OsRelease;

/// The kind of package: which package manager or language it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Ecosystem {
    /// Debian packages (dpkg).
    Deb,
    /// Alpine packages (apk).
    Apk,
    /// RPM packages.
    Rpm,
    /// Python distributions.
    Python,
    /// npm packages.
    Npm,
    /// Go modules compiled into a binary.
    Go,
    /// Rust crates compiled into a binary (cargo-auditable).
    Rust,
    /// Java archives (Maven coordinates).
    Java,
    /// Ruby gems.
    Ruby,
    /// PHP Composer packages.
    Php,
}

impl Ecosystem {
    /// The name used in reports (`deb`, `python`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Python => "python",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "go",
            Ecosystem::Rust => "rust",
            Ecosystem::Java => "java",
            Ecosystem::Ruby => "ruby",
            Ecosystem::Php => "php",
        }
    }

    /// Whether the OS package manager owns these packages.
    pub fn is_os(self) -> bool {
        matches!(self, Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm)
    }
}

/// The source package a binary package was built from (`Source:` in dpkg, `origin` in
/// apk, the source RPM): vulnerability databases key Debian and Alpine advisories by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourcePackage {
    /// Name.
    pub name: String,
    /// Version, when it differs from the binary package's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Where a package was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// The file that evidenced it, absolute in the image (`/var/lib/dpkg/status`); for
    /// something inside an archive, `outer.jar:inner/path`.
    pub path: String,
    /// Index of the layer the file came from (0 = base).
    pub layer: usize,
    /// Digest of that layer's blob.
    pub layer_digest: String,
    /// Digest of that layer's uncompressed tar (its diff-id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layer_diff_id: String,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Kind of package.
    pub ecosystem: Ecosystem,
    /// Name (for Maven: the artifact id; for scoped npm packages: `@scope/name`).
    pub name: String,
    /// Version as the package manager spells it (dpkg: with epoch; rpm:
    /// `[epoch:]version-release`).
    pub version: String,
    /// Maven group id or Composer vendor, when the name has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Package URL.
    pub purl: String,
    /// Declared licences, sorted.
    pub licenses: Vec<License>,
    /// Source package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    /// Architecture, when the package manager records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Where it was found.
    pub location: Location,
}

impl Package {
    /// A package with only the required fields; the cataloger fills in the rest.
    pub(crate) fn new(ecosystem: Ecosystem, name: &str, version: &str, purl: String) -> Package {
        Package {
            ecosystem,
            name: name.to_string(),
            version: version.to_string(),
            group: None,
            purl,
            licenses: Vec::new(),
            source: None,
            arch: None,
            location: Location::default(),
        }
    }

    fn sort_key(&self) -> (bool, Ecosystem, &str, &str, &str, &str, &str) {
        (
            !self.ecosystem.is_os(),
            self.ecosystem,
            self.group.as_deref().unwrap_or(""),
            &self.name,
            &self.version,
            &self.location.path,
            &self.purl,
        )
    }
}

/// Something a cataloger could not read: the SBOM is still made, without it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    /// The file, absolute in the image.
    pub path: String,
    /// Digest of the layer it came from.
    pub layer_digest: String,
    /// What is wrong.
    pub message: String,
}

/// The image an SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// A name for it (a tag, or the digest), never a host path.
    pub name: String,
    /// Manifest digest.
    pub digest: String,
    /// The config's `created`, normalised to `YYYY-MM-DDTHH:MM:SSZ` (UTC), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// Layer blob digests, base first.
    pub layers: Vec<String>,
}

/// A bill of materials of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sbom {
    /// The image.
    pub image: ImageInfo,
    /// Its operating system, if `/etc/os-release` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    /// Packages: OS packages first, then by ecosystem, name, version and location.
    pub packages: Vec<Package>,
    /// Files that could not be read.
    pub warnings: Vec<Warning>,
}

impl Sbom {
    /// Sorts packages and warnings into their canonical order.
    pub fn sort(&mut self) {
        self.packages
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.warnings.sort();
        self.warnings.dedup();
    }

    /// The time documents carry: the image's creation time, else the epoch.
    pub fn timestamp(&self) -> &str {
        self.image
            .created
            .as_deref()
            .unwrap_or("1970-01-01T00:00:00Z")
    }

    /// A UUID in the RFC 9562 version-4 layout whose bits come from the SHA-256 of
    /// `salt` and the image digest, so the same image always gets the same id.
    pub fn uuid(&self, salt: &str) -> String {
        let mut h = lading_oci::hash::Sha256::new();
        h.update(salt.as_bytes());
        h.update(self.image.digest.as_bytes());
        let d = h.finish();
        let hex = d.hex();
        let mut b: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16).unwrap_or(0))
            .collect();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let x: String = b.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &x[0..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..32]
        )
    }
}

/// Normalises an RFC 3339 time to `YYYY-MM-DDTHH:MM:SSZ` in UTC (dropping fractions),
/// the only form SPDX 2.3 accepts; `None` if it is not RFC 3339.
pub fn utc_seconds(t: &str) -> Option<String> {
    let b = t.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { t.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            let v = h * 60 + m;
            if rest.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    // Days since the epoch (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + hour * 3600 + min * 60 + sec.min(59) - offset_min * 60;
    // And back (civil_from_days).
    let days = secs.div_euclid(86400);
    let s = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(0..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_normalise_to_utc_seconds() {
        assert_eq!(
            utc_seconds("2024-02-29T23:30:00.123456789Z").as_deref(),
            Some("2024-02-29T23:30:00Z")
        );
        assert_eq!(
            utc_seconds("2024-03-01T01:30:00+02:00").as_deref(),
            Some("2024-02-29T23:30:00Z")
        );
        assert_eq!(
            utc_seconds("1969-12-31T23:00:00-01:00").as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert_eq!(utc_seconds("yesterday"), None);
        assert_eq!(utc_seconds("2024-13-01T00:00:00Z"), None);
    }
}
