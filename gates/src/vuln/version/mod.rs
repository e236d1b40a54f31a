//! Version order per ecosystem, as OSV ranges need it ("Evaluation" in the OSV schema:
//! <https://ossf.github.io/osv-schema/#evaluation>).
//!
//! | scheme | ecosystems | rules |
//! |---|---|---|
//! | [`Scheme::Dpkg`] | Debian, Ubuntu | deb-version(7), Debian Policy 5.6.12 |
//! | [`Scheme::Rpm`] | Red Hat, Rocky Linux, AlmaLinux, SUSE, openSUSE, Mageia, openEuler, Photon OS | rpmvercmp, EVR |
//! | [`Scheme::Apk`] | Alpine, Wolfi, Chainguard | apk-tools version order |
//! | [`Scheme::Pep440`] | PyPI | PEP 440 |
//! | [`Scheme::SemVer`] | npm, crates.io, Hex, Pub, NuGet; any `SEMVER` range | SemVer 2.0 section 11, node-semver loose parsing |
//! | [`Scheme::Go`] | Go | SemVer with a `v` prefix, `vX`/`vX.Y` shorthands, `+incompatible` |
//! | [`Scheme::Maven`] | Maven | Maven's `ComparableVersion` |
//! | [`Scheme::RubyGems`] | RubyGems | `Gem::Version#<=>` |
//!
//! Every comparator is tested against the ecosystem's own test vectors in
//! `gates/tests/testdata/versions/<scheme>.txt`.

mod apk;
mod dpkg;
mod maven;
mod pep440;
mod rpm;
mod rubygems;
mod semver;

use std::cmp::Ordering;

/// A version string the scheme cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{version:?} is not a valid {scheme} version: {reason}")]
pub struct VersionError {
    /// The scheme's name.
    pub scheme: &'static str,
    /// The offending version.
    pub version: String,
    /// Why.
    pub reason: String,
}

impl VersionError {
    fn new(scheme: Scheme, version: &str, reason: impl Into<String>) -> Self {
        Self {
            scheme: scheme.name(),
            version: version.to_string(),
            reason: reason.into(),
        }
    }
}

/// A version ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scheme {
    /// Debian package versions.
    Dpkg,
    /// RPM epoch:version-release.
    Rpm,
    /// Alpine package versions.
    Apk,
    /// Python package versions.
    Pep440,
    /// Semantic Versioning 2.0 (npm reads it loosely).
    SemVer,
    /// Go module versions.
    Go,
    /// Maven artifact versions.
    Maven,
    /// Ruby gem versions.
    RubyGems,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 8] = [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::SemVer,
        Scheme::Go,
        Scheme::Maven,
        Scheme::RubyGems,
    ];

    /// Short name (also the test-vector file name).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "pep440",
            Scheme::SemVer => "semver",
            Scheme::Go => "go",
            Scheme::Maven => "maven",
            Scheme::RubyGems => "rubygems",
        }
    }

    /// The ordering of an OSV ecosystem (`Debian:12` → dpkg); `None` when unknown.
    pub fn for_ecosystem(ecosystem: &str) -> Option<Scheme> {
        let base = ecosystem.split(':').next().unwrap_or(ecosystem);
        Some(match base {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Alpine" | "Wolfi" | "Chainguard" | "Alpaquita" | "BellSoft Hardened Containers" => {
                Scheme::Apk
            }
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "SUSE" | "openSUSE" | "Mageia"
            | "openEuler" | "Photon OS" | "Azure Linux" => Scheme::Rpm,
            "PyPI" => Scheme::Pep440,
            "npm" | "crates.io" | "Hex" | "Pub" | "NuGet" | "SwiftURL" => Scheme::SemVer,
            "Go" => Scheme::Go,
            "Maven" => Scheme::Maven,
            "RubyGems" => Scheme::RubyGems,
            _ => return None,
        })
    }

    /// Compares two versions.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Rpm => Ok(rpm::compare_evr(a, b)),
            Scheme::Apk => Ok(apk::compare(a, b)),
            Scheme::Pep440 => pep440::compare(a, b),
            Scheme::SemVer => semver::compare(a, b, semver::Flavor::Loose),
            Scheme::Go => semver::compare(a, b, semver::Flavor::Go),
            Scheme::Maven => Ok(maven::compare(a, b)),
            Scheme::RubyGems => rubygems::compare(a, b),
        }
    }

    /// Checks that `v` is a version of this scheme.
    pub fn validate(self, v: &str) -> Result<(), VersionError> {
        self.compare(v, v).map(|_| ())
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Compares digit strings as unbounded numbers.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_map_to_schemes() {
        assert_eq!(Scheme::for_ecosystem("Debian:12"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::for_ecosystem("Alpine:v3.20"), Some(Scheme::Apk));
        assert_eq!(Scheme::for_ecosystem("Rocky Linux:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_ecosystem("PyPI"), Some(Scheme::Pep440));
        assert_eq!(Scheme::for_ecosystem("npm"), Some(Scheme::SemVer));
        assert_eq!(Scheme::for_ecosystem("Go"), Some(Scheme::Go));
        assert_eq!(Scheme::for_ecosystem("Maven"), Some(Scheme::Maven));
        assert_eq!(Scheme::for_ecosystem("RubyGems"), Some(Scheme::RubyGems));
        assert_eq!(Scheme::for_ecosystem("GIT"), None);
    }

    #[test]
    fn digits_compare_as_numbers() {
        assert_eq!(cmp_digits("010", "9"), Ordering::Greater);
        assert_eq!(cmp_digits("000", ""), Ordering::Equal);
        assert_eq!(
            cmp_digits(
                "123456789012345678901234567890",
                "123456789012345678901234567891"
            ),
            Ordering::Less
        );
    }
}
