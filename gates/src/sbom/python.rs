//! Python distributions: `*.dist-info/METADATA` (wheels, pip) and `*.egg-info/PKG-INFO`
//! or `*.egg-info` files (setuptools, distutils), all in the core metadata format
//! (<https://packaging.python.org/en/latest/specifications/core-metadata/>): RFC 822
//! headers up to the first blank line. Licences from `License-Expression` (PEP 639),
//! else a short `License`, else `License ::` classifiers.

use super::catalog::Found;
use super::license::{self, License};
use super::purl::Purl;
use super::{Ecosystem, Package};

/// The purl name: lower case, runs of `-_.` as one `-` (PEP 503, purl spec).
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn classifier_license(c: &str) -> Option<License> {
    let rest = c.strip_prefix("License ::")?.trim();
    let last = rest.rsplit("::").next()?.trim();
    let id = match last {
        "MIT License" => Some("MIT"),
        "ISC License (ISCL)" => Some("ISC"),
        "Apache Software License" => None,
        "BSD License" => None,
        "Mozilla Public License 2.0 (MPL 2.0)" => Some("MPL-2.0"),
        "GNU General Public License v2 (GPLv2)" => Some("GPL-2.0-only"),
        "GNU General Public License v3 (GPLv3)" => Some("GPL-3.0-only"),
        "GNU Lesser General Public License v3 (LGPLv3)" => Some("LGPL-3.0-only"),
        "Python Software Foundation License" => Some("PSF-2.0"),
        "The Unlicense (Unlicense)" => Some("Unlicense"),
        _ => None,
    };
    match id {
        Some(id) => Some(License::Spdx(id.to_string())),
        None if last == "OSI Approved" => None,
        None => Some(License::Name(last.to_string())),
    }
}

/// Parses core metadata.
pub(crate) fn parse(path: &str, data: &[u8]) -> Found {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    let mut lic_expr = None;
    let mut lic = None;
    let mut classifiers = Vec::new();
    let mut last: Option<&str> = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            // A continuation: only `License` may be long, and long ones are texts.
            if last == Some("license") {
                lic = None;
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let key = k.trim().to_ascii_lowercase();
        let v = v.trim();
        match key.as_str() {
            "name" => name = Some(v.to_string()),
            "version" => version = Some(v.to_string()),
            "license-expression" => lic_expr = Some(v.to_string()),
            "license" => lic = Some(v.to_string()),
            "classifier" => classifiers.push(v.to_string()),
            _ => {}
        }
        last = Some(match key.as_str() {
            "license" => "license",
            _ => "",
        });
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Found::warn("core metadata without Name or Version; skipped");
    };
    if name.is_empty() || version.is_empty() {
        return Found::warn("core metadata with an empty Name or Version; skipped");
    }
    let mut licenses: Vec<License> = Vec::new();
    if let Some(e) = lic_expr {
        licenses.extend(license::parse(&e));
    } else if let Some(l) = lic.filter(|l| l.len() <= 80) {
        licenses.extend(license::parse(&l));
    }
    if licenses.is_empty() {
        licenses.extend(classifiers.iter().filter_map(|c| classifier_license(c)));
    }
    let purl = Purl::new("pypi", &normalize_name(&name))
        .version(&version)
        .to_string();
    let mut p = Package::new(Ecosystem::Python, &name, &version, purl);
    p.licenses = license::normalize(licenses);
    let _ = path;
    Found {
        packages: vec![p],
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_metadata() {
        let m = "Metadata-Version: 2.1\nName: Requests_Toolbelt\nVersion: 1.0.0\n\
                 License: Apache 2.0\nClassifier: License :: OSI Approved :: MIT License\n\n\
                 Name: not-this\n";
        let f = parse("x.dist-info/METADATA", m.as_bytes());
        let p = &f.packages[0];
        assert_eq!(p.name, "Requests_Toolbelt");
        assert_eq!(p.purl, "pkg:pypi/requests-toolbelt@1.0.0");
        assert_eq!(p.licenses, vec![License::Spdx("Apache-2.0".into())]);
        let m = "Name: a\nVersion: 1\nLicense: Copyright (c) x\n  long text\n\
                 Classifier: License :: OSI Approved :: MIT License\n";
        assert_eq!(
            parse("a", m.as_bytes()).packages[0].licenses,
            vec![License::Spdx("MIT".into())]
        );
        assert_eq!(parse("a", b"Name: a\n").warnings.len(), 1);
    }
}
