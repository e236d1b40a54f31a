//! Ruby gems: the `specifications/*.gemspec` files RubyGems writes for installed gems
//! (`s.name = "rake".freeze`, `s.version = "13.0.6"`, `s.licenses = ["MIT".freeze]`).
//! They are Ruby code; only the literal assignments RubyGems generates are read.

use super::catalog::Found;
use super::license;
use super::purl::Purl;
use super::{Ecosystem, Package};

/// The string literals in `s`, in order (`"a".freeze, 'b'` → `a`, `b`).
fn strings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            let mut v = String::new();
            let mut escaped = false;
            for d in chars.by_ref() {
                if escaped {
                    v.push(d);
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == c {
                    break;
                } else {
                    v.push(d);
                }
            }
            out.push(v);
        }
    }
    out
}

/// `<var>.<field> = <rhs>` → rhs.
fn assignment<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let line = line.trim();
    let dot = line.find('.')?;
    let rest = line[dot + 1..].strip_prefix(field)?;
    let rest = rest.trim_start().strip_prefix('=')?;
    Some(rest.trim())
}

/// Parses a gemspec.
pub(crate) fn parse(data: &[u8]) -> Found {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    let mut licenses = Vec::new();
    for line in text.lines() {
        if let Some(r) = assignment(line, "name") {
            name = name.or_else(|| strings(r).into_iter().next());
        } else if let Some(r) = assignment(line, "version") {
            version = version.or_else(|| strings(r).into_iter().next());
        } else if let Some(r) = assignment(line, "licenses").or_else(|| assignment(line, "license"))
        {
            licenses.extend(strings(r).iter().filter_map(|s| license::parse(s)));
        }
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Found::warn("gemspec without a literal name or version; skipped");
    };
    let purl = Purl::new("gem", &name).version(&version).to_string();
    let mut p = Package::new(Ecosystem::Ruby, &name, &version, purl);
    p.licenses = license::normalize(licenses);
    Found {
        packages: vec![p],
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::License;

    #[test]
    fn generated_gemspec() {
        let g = "# -*- encoding: utf-8 -*-\n# stub: rake 13.0.6 ruby lib\n\n\
                 Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  \
                 s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze, 'Ruby']\n\
                 s.add_runtime_dependency(%q<x>.freeze, [\">= 0\"])\nend\n";
        let f = parse(g.as_bytes());
        assert_eq!(f.packages[0].purl, "pkg:gem/rake@13.0.6");
        assert_eq!(
            f.packages[0].licenses,
            vec![License::Spdx("MIT".into()), License::Spdx("Ruby".into())]
        );
        assert_eq!(
            parse(b"Gem::Specification.new do |s|\nend\n")
                .warnings
                .len(),
            1
        );
    }
}
