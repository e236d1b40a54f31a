//! Debian version order: `[epoch:]upstream[-revision]`, each part compared with the
//! deb-version(7) algorithm (non-digit runs by a modified ASCII order in which `~`
//! sorts before everything, even the end of the part, and letters before other
//! characters; digit runs numerically). Debian Policy 5.6.12.

use std::cmp::Ordering;

use super::{Scheme, VersionError, cmp_digits};

struct Parts<'a> {
    epoch: &'a str,
    upstream: &'a str,
    revision: &'a str,
}

fn split(v: &str) -> Result<Parts<'_>, VersionError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(VersionError::new(Scheme::Dpkg, v, "empty version"));
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => {
            if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VersionError::new(
                    Scheme::Dpkg,
                    v,
                    "the epoch must be a number",
                ));
            }
            (e, rest)
        }
        None => ("0", v),
    };
    let (upstream, revision) = match rest.rfind('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if v.chars().any(char::is_whitespace) {
        return Err(VersionError::new(Scheme::Dpkg, v, "embedded whitespace"));
    }
    Ok(Parts {
        epoch,
        upstream,
        revision,
    })
}

/// Weight of a non-digit character (`None` = end of the part).
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// deb-version(7) comparison of one part (upstream or revision).
fn part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        loop {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let (wa, wb) = (weight(ca), weight(cb));
            if wa != wb {
                return wa.cmp(&wb);
            }
            if ca.is_some() {
                i += 1;
            }
            if cb.is_some() {
                j += 1;
            }
        }
        // Digit run, numerically.
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let da = std::str::from_utf8(&a[si..i]).unwrap_or("");
        let db = std::str::from_utf8(&b[sj..j]).unwrap_or("");
        let o = cmp_digits(da, db);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub(super) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let (pa, pb) = (split(a)?, split(b)?);
    Ok(cmp_digits(pa.epoch, pb.epoch)
        .then_with(|| part(pa.upstream, pb.upstream))
        .then_with(|| part(pa.revision, pb.revision)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_sorts_before_the_end() {
        assert_eq!(part("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(part("1.0", "1.0+b1"), Ordering::Less);
        assert_eq!(compare("1:1.0", "2.0").ok(), Some(Ordering::Greater));
    }

    #[test]
    fn bad_epochs_are_errors() {
        assert!(compare("a:1.0", "1.0").is_err());
        assert!(compare("", "1.0").is_err());
        assert!(compare("1.0 1", "1.0").is_err());
    }
}
