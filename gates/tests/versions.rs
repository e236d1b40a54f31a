//! Version order against each ecosystem's own test vectors
//! (`tests/testdata/versions/<scheme>.txt`: `a OP b` lines, OP one of `<`, `=`, `>`;
//! `#` starts a comment; a version with spaces is quoted).

use std::cmp::Ordering;
use std::path::Path;

use lading_gates::vuln::version::Scheme;

fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("closing quote");
            out.push(r[..end].to_string());
            rest = r[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    out
}

/// The cases of one file: (line number, a, expected, b).
fn cases(scheme: Scheme) -> Vec<(usize, String, Ordering, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/versions")
        .join(format!("{}.txt", scheme.name()));
    let text = std::fs::read_to_string(&path).expect("vector file");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = match line.find('#') {
            // A `#` inside a version never occurs in these files except at a comment.
            Some(i) => &line[..i],
            None => line,
        };
        if line.trim().is_empty() {
            continue;
        }
        let w = words(line);
        assert_eq!(w.len(), 3, "{}:{}: {line:?}", path.display(), n + 1);
        let op = match w[1].as_str() {
            "<" => Ordering::Less,
            "=" | "==" => Ordering::Equal,
            ">" => Ordering::Greater,
            other => panic!("{}:{}: bad operator {other}", path.display(), n + 1),
        };
        out.push((n + 1, w[0].clone(), op, w[2].clone()));
    }
    out
}

fn check(scheme: Scheme) {
    let cases = cases(scheme);
    assert!(
        cases.len() >= 200,
        "{scheme}: only {} cases; the acceptance bar is 200",
        cases.len()
    );
    let mut failures = Vec::new();
    for (line, a, want, b) in &cases {
        match scheme.compare(a, b) {
            Ok(got) if got == *want => {}
            got => failures.push(format!("line {line}: {a} {want:?} {b}, got {got:?}")),
        }
        // Every case holds in reverse too.
        match scheme.compare(b, a) {
            Ok(got) if got == want.reverse() => {}
            got => failures.push(format!("line {line} reversed: {b} vs {a}, got {got:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{scheme}: {} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{scheme}: {} cases pass", cases.len());
}

#[test]
fn dpkg_vectors() {
    check(Scheme::Dpkg);
}

#[test]
fn rpm_vectors() {
    check(Scheme::Rpm);
}

#[test]
fn apk_vectors() {
    check(Scheme::Apk);
}

#[test]
fn pep440_vectors() {
    check(Scheme::Pep440);
}

#[test]
fn semver_vectors() {
    check(Scheme::SemVer);
}

#[test]
fn go_vectors() {
    check(Scheme::Go);
}

#[test]
fn maven_vectors() {
    check(Scheme::Maven);
}

#[test]
fn rubygems_vectors() {
    check(Scheme::RubyGems);
}
