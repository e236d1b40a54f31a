//! npm packages: the `package.json` at the root of each package directory under
//! `node_modules` (`node_modules/name/`, `node_modules/@scope/name/`), nested ones
//! too. `package.json` files deeper inside a package (`lodash/fp/package.json`) are not
//! packages. Licences from `license` (an SPDX expression, or the legacy
//! `{"type": ...}`) or the legacy `licenses` list.

use serde_json::Value;

use super::catalog::Found;
use super::license::{self, License};
use super::purl::Purl;
use super::{Ecosystem, Package};

/// Whether `dir` is a package directory right below a `node_modules`.
pub(crate) fn is_package_dir(dir: &str) -> bool {
    let parts: Vec<&str> = dir.split('/').collect();
    let n = parts.len();
    if n >= 2 && parts[n - 2] == "node_modules" && !parts[n - 1].starts_with('@') {
        return !parts[n - 1].starts_with('.');
    }
    n >= 3 && parts[n - 3] == "node_modules" && parts[n - 2].starts_with('@')
}

fn license_of(v: &Value) -> Option<License> {
    match v {
        Value::String(s) => license::parse(s),
        Value::Object(o) => o
            .get("type")
            .and_then(Value::as_str)
            .and_then(license::parse),
        _ => None,
    }
}

/// Parses a package.json.
pub(crate) fn parse(data: &[u8]) -> Found {
    let v: Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => return Found::warn(format!("invalid JSON: {e}")),
    };
    let (Some(name), Some(version)) = (
        v.get("name").and_then(Value::as_str),
        v.get("version").and_then(Value::as_str),
    ) else {
        // Not every package.json names a package (build helpers, fixtures).
        return Found::default();
    };
    if name.is_empty() || version.is_empty() {
        return Found::default();
    }
    let (scope, base) = match name.split_once('/') {
        Some((s, b)) if s.starts_with('@') => (Some(s), b),
        _ => (None, name),
    };
    let mut purl = Purl::new("npm", base).version(version);
    if let Some(s) = scope {
        purl = purl.namespace(s);
    }
    let mut p = Package::new(Ecosystem::Npm, name, version, purl.to_string());
    let mut licenses: Vec<License> = v.get("license").and_then(license_of).into_iter().collect();
    if let Some(list) = v.get("licenses").and_then(Value::as_array) {
        licenses.extend(list.iter().filter_map(license_of));
    }
    p.licenses = license::normalize(licenses);
    Found {
        packages: vec![p],
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_dirs() {
        assert!(is_package_dir("node_modules/lodash"));
        assert!(is_package_dir("a/node_modules/@types/node"));
        assert!(is_package_dir("node_modules/a/node_modules/b"));
        assert!(!is_package_dir("node_modules/@types"));
        assert!(!is_package_dir("node_modules/lodash/fp"));
        assert!(!is_package_dir("node_modules/.bin"));
        assert!(!is_package_dir("lodash"));
    }

    #[test]
    fn package_json() {
        let f = parse(br#"{"name":"@babel/core","version":"7.24.0","license":"MIT"}"#);
        assert_eq!(f.packages[0].purl, "pkg:npm/%40babel/core@7.24.0");
        let f = parse(br#"{"name":"x","version":"1.0.0","licenses":[{"type":"BSD"},"ISC"]}"#);
        assert_eq!(
            f.packages[0].licenses,
            vec![License::Spdx("ISC".into()), License::Name("BSD".into())]
        );
        assert!(parse(br#"{"type":"module"}"#).packages.is_empty());
        assert_eq!(parse(b"{not json").warnings.len(), 1);
    }
}
