//! PHP Composer packages: `vendor/composer/installed.json`, written by Composer 1 (a
//! list of packages) or Composer 2 (`{"packages": [...]}`).

use serde_json::Value;

use super::catalog::Found;
use super::license;
use super::purl::Purl;
use super::{Ecosystem, Package};

/// Parses installed.json.
pub(crate) fn parse(data: &[u8]) -> Found {
    let v: Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => return Found::warn(format!("invalid JSON: {e}")),
    };
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("packages").and_then(Value::as_array) {
            Some(a) => a,
            None => return Found::warn("no \"packages\" list"),
        },
        _ => return Found::warn("neither a list nor an object"),
    };
    let mut found = Found::default();
    for (i, pkg) in list.iter().enumerate() {
        let (Some(full), Some(version)) = (
            pkg.get("name").and_then(Value::as_str),
            pkg.get("version").and_then(Value::as_str),
        ) else {
            found
                .warnings
                .push(format!("package #{i} has no name or version; skipped"));
            continue;
        };
        let (vendor, name) = full.split_once('/').unwrap_or(("", full));
        let purl = Purl::new("composer", name)
            .namespace(vendor)
            .version(version)
            .to_string();
        let mut p = Package::new(Ecosystem::Php, name, version, purl);
        p.group = (!vendor.is_empty()).then(|| vendor.to_string());
        let lic: Vec<_> = match pkg.get("license") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter_map(license::parse)
                .collect(),
            Some(Value::String(s)) => license::parse(s).into_iter().collect(),
            _ => Vec::new(),
        };
        p.licenses = license::normalize(lic);
        found.packages.push(p);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composer_1_and_2() {
        let v2 = br#"{"packages":[{"name":"monolog/monolog","version":"3.5.0","license":["MIT"]},{"x":1}],"dev":true}"#;
        let f = parse(v2);
        assert_eq!(f.packages[0].purl, "pkg:composer/monolog/monolog@3.5.0");
        assert_eq!(f.packages[0].group.as_deref(), Some("monolog"));
        assert_eq!(f.warnings.len(), 1);
        let v1 = br#"[{"name":"psr/log","version":"1.1.4"}]"#;
        assert_eq!(parse(v1).packages[0].name, "log");
        assert_eq!(parse(b"42").warnings.len(), 1);
    }
}
