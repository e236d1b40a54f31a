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
//! | [`Scheme::Packagist`] | Packagist | Composer's normalisation, then PHP's `version_compare` |
//!
//! Every comparator is tested against the ecosystem's own test vectors in
//! `gates/tests/testdata/versions/<scheme>.txt`.

mod apk;
mod dpkg;
mod maven;
mod packagist;
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
    /// Composer (PHP) package versions.
    Packagist,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 9] = [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::SemVer,
        Scheme::Go,
        Scheme::Maven,
        Scheme::RubyGems,
        Scheme::Packagist,
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
            Scheme::Packagist => "packagist",
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
            "Packagist" => Scheme::Packagist,
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
            Scheme::Packagist => packagist::compare(a, b),
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

    /// A small deterministic generator (xorshift64*), so the property tests need no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    /// Version-shaped strings from the pieces every scheme's rules are about.
    fn versions(seed: u64, n: usize) -> Vec<String> {
        const PIECES: [&str; 28] = [
            "0", "1", "2", "9", "10", "01", "a", "b", "c", "rc", "sp", "alpha", "beta", "pre",
            "final", "dev", "post", "p", "r", "v", "-", ".", "~", "+", "_", ":", "^", "",
        ];
        let mut rng = Rng(seed);
        (0..n)
            .map(|_| {
                let len = 1 + rng.next() % 6;
                (0..len).map(|_| rng.pick(&PIECES)).collect()
            })
            .collect()
    }

    /// Checks that `cmp` is a total preorder on `vs`: sorts them (insertion sort, which
    /// cannot panic on a bad order), numbers the classes of equal neighbours, and checks
    /// every pair against those numbers.
    fn assert_total_order(scheme: Scheme, vs: &[String]) {
        let mut ok: Vec<&str> = vs
            .iter()
            .map(String::as_str)
            .filter(|v| scheme.validate(v).is_ok())
            .collect();
        let cmp = |a: &str, b: &str| {
            scheme
                .compare(a, b)
                .unwrap_or_else(|e| panic!("{scheme}: {a:?} and {b:?} are valid: {e}"))
        };
        for i in 1..ok.len() {
            let mut j = i;
            while j > 0 && cmp(ok[j - 1], ok[j]) == Ordering::Greater {
                ok.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut class = vec![0usize; ok.len()];
        for i in 1..ok.len() {
            class[i] = class[i - 1] + usize::from(cmp(ok[i - 1], ok[i]) == Ordering::Less);
        }
        for i in 0..ok.len() {
            for j in 0..ok.len() {
                let (a, b) = (ok[i], ok[j]);
                assert_eq!(
                    cmp(a, b),
                    class[i].cmp(&class[j]),
                    "{scheme}: {a:?} vs {b:?} (sorted: {:?})",
                    &ok[i.min(j)..=i.max(j)]
                );
            }
        }
    }

    #[test]
    fn every_scheme_is_a_total_order() {
        for (k, scheme) in Scheme::ALL.into_iter().enumerate() {
            assert_total_order(scheme, &versions(0x5eed + k as u64, 200));
        }
    }

    #[test]
    fn comparing_never_panics_on_odd_input() {
        let odd = [
            "",
            " ",
            "-",
            ".",
            "..",
            "--",
            ":",
            "::",
            "~",
            "~~",
            "+",
            "^",
            "\0",
            "é",
            "1.é",
            "99999999999999999999999999999999",
            "1:",
            ":1",
            "1-",
            "-1",
            "a-",
            "1_",
            "v",
            "v1.",
        ];
        for scheme in Scheme::ALL {
            for a in odd {
                for b in odd {
                    let _ = scheme.compare(a, b);
                }
            }
        }
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
