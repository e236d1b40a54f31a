//! Alpine's package database `lib/apk/db/installed`: blank-line separated records of
//! `K:value` lines (<https://wiki.alpinelinux.org/wiki/Apk_spec>): `P` name, `V`
//! version, `A` arch, `L` licence, `o` origin (the source package).

use super::catalog::Found;
use super::dpkg::truncate;
use super::license::{self, License};
use super::purl::Purl;
use super::{Ecosystem, OsRelease, Package, SourcePackage};

/// Parses the installed database.
pub(crate) fn parse(data: &[u8], os: Option<&OsRelease>) -> Found {
    let text = String::from_utf8_lossy(data);
    let mut found = Found::default();
    let namespace = os.map_or_else(|| "alpine".to_string(), |o| o.id.clone());
    let distro = os.map(OsRelease::distro);
    let mut record: Vec<(char, String)> = Vec::new();
    let mut start = 1;
    let lines: Vec<&str> = text.lines().chain(std::iter::once("")).collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            if !record.is_empty() {
                package(&record, start, &namespace, distro.as_deref(), &mut found);
                record.clear();
            }
            start = i + 2;
            continue;
        }
        let mut chars = line.chars();
        match (chars.next(), chars.next()) {
            (Some(k), Some(':')) => record.push((k, line[k.len_utf8() + 1..].to_string())),
            _ => found.warnings.push(format!(
                "line {}: not a `K:value` line: {:?}; skipped",
                i + 1,
                truncate(line, 60)
            )),
        }
    }
    found
}

fn package(
    record: &[(char, String)],
    line: usize,
    namespace: &str,
    distro: Option<&str>,
    found: &mut Found,
) {
    let get = |k: char| {
        record
            .iter()
            .find(|(c, _)| *c == k)
            .map(|(_, v)| v.as_str())
    };
    let (Some(name), Some(version)) = (get('P'), get('V')) else {
        found.warnings.push(format!(
            "record at line {line} has no P: or no V: line; skipped"
        ));
        return;
    };
    let arch = get('A').filter(|a| !a.is_empty());
    let origin = get('o').filter(|o| !o.is_empty());
    let purl = Purl::new("apk", name)
        .namespace(namespace)
        .version(version)
        .qualifier_opt("arch", arch)
        .qualifier_opt("distro", distro)
        // As syft and trivy write it: no `upstream` when the origin is the package itself.
        .qualifier_opt("upstream", origin.filter(|o| *o != name))
        .to_string();
    let mut p = Package::new(Ecosystem::Apk, name, version, purl);
    p.arch = arch.map(str::to_string);
    p.source = origin.map(|o| SourcePackage {
        name: o.to_string(),
        version: None,
    });
    // `L:` is an SPDX expression in current Alpine, a space-separated list in old ones.
    if let Some(l) = get('L').filter(|l| !l.is_empty()) {
        p.licenses = match license::parse(l) {
            Some(License::Name(_)) => license::normalize(
                l.split_whitespace()
                    .filter(|w| !w.eq_ignore_ascii_case("and") && !w.eq_ignore_ascii_case("or"))
                    .filter_map(license::parse)
                    .collect(),
            ),
            other => other.into_iter().collect(),
        };
    }
    found.packages.push(p);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_db() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:1\nI:2\nT:the musl c library\n\
                  L:MIT\no:musl\nm:Maintainer <m@x>\nF:lib\nR:ld-musl-x86_64.so.1\n\n\
                  P:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n\
                  P:ca-certificates-bundle\nV:20240705-r0\nA:x86_64\nL:MPL-2.0 AND MIT\n\
                  o:ca-certificates\n\nV:9\nbroken\n";
        let os = OsRelease::parse("ID=alpine\nVERSION_ID=3.20.3\n").unwrap();
        let f = parse(db.as_bytes(), Some(&os));
        assert_eq!(f.packages.len(), 3);
        assert_eq!(
            f.packages[0].purl,
            "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"
        );
        assert_eq!(
            f.packages[2].licenses,
            vec![License::Spdx("MPL-2.0 AND MIT".into())]
        );
        assert_eq!(f.warnings.len(), 2, "{:?}", f.warnings);
    }
}
