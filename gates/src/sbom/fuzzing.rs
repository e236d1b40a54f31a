//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing` only): the private
//! catalogers, each fed arbitrary bytes. Not a stable API.

use std::collections::BTreeMap;

use super::osrelease::OsRelease;
use super::{apk, dpkg, golang, java, npm, php, python, rpm, ruby, rustaudit};

/// One of the file parsers the cataloger runs on what it finds in layers.
#[derive(Debug, Clone, Copy)]
pub enum Parser {
    /// `lib/apk/db/installed`.
    Apk,
    /// `var/lib/dpkg/status`.
    Dpkg,
    /// An executable: Go build info.
    Go,
    /// A jar/war/ear (nested archives included).
    Java,
    /// `package.json`.
    Npm,
    /// `vendor/composer/installed.json`.
    Php,
    /// `METADATA` / `PKG-INFO`.
    Python,
    /// `rpmdb.sqlite`.
    Rpm,
    /// A `.gemspec`.
    Ruby,
    /// An executable: cargo-auditable `.dep-v0`.
    RustAudit,
    /// `etc/os-release` and the Debian copyright files.
    Text,
}

impl Parser {
    /// All of them, so a fuzzer can pick one with a byte.
    pub const ALL: [Parser; 11] = [
        Parser::Apk,
        Parser::Dpkg,
        Parser::Go,
        Parser::Java,
        Parser::Npm,
        Parser::Php,
        Parser::Python,
        Parser::Rpm,
        Parser::Ruby,
        Parser::RustAudit,
        Parser::Text,
    ];
}

/// Runs `parser` on `data` and returns how many packages and warnings it found.
pub fn run(parser: Parser, data: &[u8]) -> (usize, usize) {
    let os = OsRelease::parse("ID=debian\nVERSION_ID=12\n");
    let f = match parser {
        Parser::Apk => apk::parse(data, os.as_ref()),
        Parser::Dpkg => dpkg::parse(data, os.as_ref(), &BTreeMap::new()),
        Parser::Go => golang::parse(data),
        Parser::Java => java::parse("app/lib/fuzz-1.0.jar", data),
        Parser::Npm => npm::parse(data),
        Parser::Php => php::parse(data),
        Parser::Python => python::parse(
            "usr/lib/python3/site-packages/x-1.0.dist-info/METADATA",
            data,
        ),
        Parser::Rpm => rpm::parse(data, os.as_ref()),
        Parser::Ruby => ruby::parse(data),
        Parser::RustAudit => rustaudit::parse(data),
        Parser::Text => {
            let text = String::from_utf8_lossy(data);
            let n = OsRelease::parse(&text).map_or(0, |o| o.id_like.len());
            let l = super::license::from_debian_copyright(&text);
            return (n, l.len());
        }
    };
    (f.packages.len(), f.warnings.len())
}
