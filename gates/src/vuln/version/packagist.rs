//! Composer package versions (OSV `Packagist`): Composer normalises a version
//! (`VersionParser::normalize`: an optional `v`, up to four numeric parts padded with
//! zeros, then a stability suffix) and orders normalised versions with PHP's
//! `version_compare`: parts split at `.`, `-`, `_`, `+` and at every change between
//! digits and letters; numbers compare as numbers; words rank
//! `dev` < `alpha` = `a` < `beta` = `b` < `RC` = `rc` < a number < `pl` = `p`, any
//! other word below `dev`.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

/// One part of a canonical version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Num(u128),
    Word(String),
}

/// Rank of a part in `version_compare`'s special-form order.
fn rank(p: &Part) -> u8 {
    match p {
        Part::Num(_) => 5,
        Part::Word(w) => match w.to_ascii_lowercase().as_str() {
            "dev" => 1,
            "alpha" | "a" => 2,
            "beta" | "b" => 3,
            "rc" => 4,
            "pl" | "p" => 6,
            _ => 0,
        },
    }
}

fn cmp_part(a: &Part, b: &Part) -> Ordering {
    match (a, b) {
        (Part::Num(x), Part::Num(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// PHP's canonical form: parts split at separators and digit/letter changes.
fn parts(s: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Part>| {
        if cur.is_empty() {
            return;
        }
        out.push(match cur.parse::<u128>() {
            Ok(n) if cur.bytes().all(|b| b.is_ascii_digit()) => Part::Num(n),
            _ => Part::Word(std::mem::take(cur)),
        });
        cur.clear();
    };
    for c in s.chars() {
        if matches!(c, '.' | '-' | '_' | '+') {
            flush(&mut cur, &mut out);
            continue;
        }
        if let Some(last) = cur.chars().last()
            && last.is_ascii_digit() != c.is_ascii_digit()
        {
            flush(&mut cur, &mut out);
        }
        cur.push(c);
    }
    flush(&mut cur, &mut out);
    out
}

/// `version_compare` on two version strings (after normalisation).
fn php_compare(a: &[Part], b: &[Part]) -> Ordering {
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (None, None) => return Ordering::Equal,
            (Some(x), Some(y)) => {
                let o = cmp_part(x, y);
                if o != Ordering::Equal {
                    return o;
                }
            }
            // The shorter one ran out: a number left over makes the longer one newer;
            // a word is weighed against the number that is not there.
            (Some(x), None) => {
                return match x {
                    Part::Num(_) => Ordering::Greater,
                    w => cmp_part(w, &Part::Num(0)),
                };
            }
            (None, Some(y)) => {
                return match y {
                    Part::Num(_) => Ordering::Less,
                    w => cmp_part(&Part::Num(0), w),
                };
            }
        }
        i += 1;
    }
}

/// Composer's normal form: numeric parts padded to four, then the rest.
fn normalize(v: &str) -> Result<Vec<Part>, VersionError> {
    let err = |why: &str| VersionError::new(Scheme::Packagist, v, why);
    let s = v.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s.starts_with("dev-") {
        return Err(err("a branch, not a release"));
    }
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    // Build metadata (`+…`) does not order versions in Composer.
    let s = s.split_once('+').map_or(s, |(a, _)| a);
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(err("does not start with a number"));
    }
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (num, rest) = s.split_at(end);
    let num = num.trim_end_matches('.');
    let mut out: Vec<Part> = Vec::new();
    for n in num.split('.') {
        let n: u128 = n.parse().map_err(|_| err("bad number"))?;
        out.push(Part::Num(n));
    }
    if out.len() > 4 {
        return Err(err("more than four numeric parts"));
    }
    while out.len() < 4 {
        out.push(Part::Num(0));
    }
    let rest = rest.trim_start_matches(['-', '_', '.']);
    if rest
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(err("unexpected character"));
    }
    out.extend(parts(rest));
    Ok(out)
}

/// Compares two Composer versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(php_compare(&normalize(a)?, &normalize(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// php-src `ext/standard/tests/versioning/version_compare.phpt`, its `--EXPECT--`
    /// comparisons (all but `1.2(message)`, which is not a Composer version).
    #[test]
    fn php_version_compare_vectors() {
        let cases = [
            ("1", "<", "2"),
            ("10", ">", "2"),
            ("1.0", "<", "1.1"),
            ("1.2", ">", "1.0.1"),
            ("1.0-dev", "=", "1.0-dev"),
            ("1.0-dev", "<", "1.0a1"),
            ("1.0-dev", "<", "1.0b1"),
            ("1.0-dev", "<", "1.0RC1"),
            ("1.0-dev", "<", "1.0rc1"),
            ("1.0-dev", "<", "1.0"),
            ("1.0-dev", "<", "1.0pl1"),
            ("1.0a1", ">", "1.0-dev"),
            ("1.0a1", "=", "1.0a1"),
            ("1.0a1", "<", "1.0b1"),
            ("1.0a1", "<", "1.0RC1"),
            ("1.0a1", "<", "1.0rc1"),
            ("1.0a1", "<", "1.0"),
            ("1.0a1", "<", "1.0pl1"),
            ("1.0b1", ">", "1.0-dev"),
            ("1.0b1", ">", "1.0a1"),
            ("1.0b1", "=", "1.0b1"),
            ("1.0b1", "<", "1.0RC1"),
            ("1.0b1", "<", "1.0rc1"),
            ("1.0b1", "<", "1.0"),
            ("1.0b1", "<", "1.0pl1"),
            ("1.0RC1", ">", "1.0-dev"),
            ("1.0RC1", ">", "1.0a1"),
            ("1.0RC1", ">", "1.0b1"),
            ("1.0RC1", "=", "1.0RC1"),
            ("1.0RC1", "=", "1.0rc1"),
            ("1.0RC1", "<", "1.0"),
            ("1.0RC1", "<", "1.0pl1"),
            ("1.0rc1", ">", "1.0-dev"),
            ("1.0rc1", ">", "1.0a1"),
            ("1.0rc1", ">", "1.0b1"),
            ("1.0rc1", "=", "1.0RC1"),
            ("1.0rc1", "=", "1.0rc1"),
            ("1.0rc1", "<", "1.0"),
            ("1.0rc1", "<", "1.0pl1"),
            ("1.0", ">", "1.0-dev"),
            ("1.0", ">", "1.0a1"),
            ("1.0", ">", "1.0b1"),
            ("1.0", ">", "1.0RC1"),
            ("1.0", ">", "1.0rc1"),
            ("1.0", "=", "1.0"),
            ("1.0", "<", "1.0pl1"),
            ("1.0pl1", ">", "1.0-dev"),
            ("1.0pl1", ">", "1.0a1"),
            ("1.0pl1", ">", "1.0b1"),
            ("1.0pl1", ">", "1.0RC1"),
            ("1.0pl1", ">", "1.0rc1"),
            ("1.0pl1", ">", "1.0"),
            ("1.0pl1", "=", "1.0pl1"),
        ];
        for (a, op, b) in cases {
            let want = match op {
                "<" => Ordering::Less,
                ">" => Ordering::Greater,
                _ => Ordering::Equal,
            };
            assert_eq!(compare(a, b), Ok(want), "{a} {op} {b}");
            assert_eq!(compare(b, a), Ok(want.reverse()), "{b} vs {a}");
        }
    }

    #[test]
    fn guzzle_range_of_ghsa_f2wf_25xc_69c9() {
        assert_eq!(compare("7.4.3", "7.4.4"), Ok(Ordering::Less));
        assert_eq!(compare("v7.4.4", "7.4.4.0"), Ok(Ordering::Equal));
        assert_eq!(compare("7.4.4-RC1", "7.4.4"), Ok(Ordering::Less));
        assert_eq!(compare("7.4.4", "7.4.4-p1"), Ok(Ordering::Less));
        assert!(compare("dev-main", "7.4.4").is_err());
    }
}
