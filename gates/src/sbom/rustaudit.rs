//! Rust executables built with `cargo auditable`: the `.dep-v0` section holds the
//! zlib-compressed JSON dependency list
//! (<https://github.com/rust-secure-code/cargo-auditable/blob/master/PARSING.md>):
//! `{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`.
//! Build-time dependencies (`"kind": "build"`) are not in the binary and are left out.

use std::io::Read;

use object::{Object, ObjectSection};
use serde::Deserialize;

use super::catalog::Found;
use super::purl::Purl;
use super::{Ecosystem, Package};

/// The most decompressed JSON we accept (the format's own limit is 8 MiB).
const MAX_JSON: u64 = 8 << 20;

#[derive(Deserialize)]
struct Audit {
    packages: Vec<Dep>,
}

#[derive(Deserialize)]
struct Dep {
    name: String,
    version: String,
    #[serde(default)]
    kind: Option<String>,
}

/// Packages of a cargo-auditable executable (nothing if it has no `.dep-v0`).
pub(crate) fn parse(data: &[u8]) -> Found {
    let Ok(file) = object::File::parse(data) else {
        return Found::default();
    };
    let Some(section) = file.section_by_name(".dep-v0") else {
        return Found::default();
    };
    let Ok(compressed) = section.data() else {
        return Found::warn(".dep-v0 section lies outside the file");
    };
    let mut json = Vec::new();
    let read = flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json);
    if let Err(e) = read {
        return Found::warn(format!(".dep-v0 is not valid zlib data: {e}"));
    }
    if json.len() as u64 > MAX_JSON {
        return Found::warn(".dep-v0 decompresses to more than 8 MiB; skipped");
    }
    let audit: Audit = match serde_json::from_slice(&json) {
        Ok(a) => a,
        Err(e) => return Found::warn(format!(".dep-v0 JSON: {e}")),
    };
    let mut found = Found::default();
    for d in audit.packages {
        if d.kind.as_deref() == Some("build") {
            continue;
        }
        let purl = Purl::new("cargo", &d.name).version(&d.version).to_string();
        found
            .packages
            .push(Package::new(Ecosystem::Rust, &d.name, &d.version, purl));
    }
    found
}
