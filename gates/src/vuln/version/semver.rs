//! SemVer 2.0.0 precedence (section 11): major, minor and patch numerically; a
//! pre-release is older than its release; pre-release identifiers compare numerically
//! when both are numbers, by ASCII otherwise, numbers before words, and a longer list
//! wins a tie; build metadata is ignored.
//!
//! [`Flavor::Loose`] reads what npm's `semver` reads with `loose: true` (a leading `v`
//! or `=` and spaces, leading zeros, a pre-release without its `-`);
//! [`Flavor::Go`] reads Go module versions (`v` optional here because OSV `SEMVER`
//! ranges drop it; `vX` and `vX.Y` mean `vX.0.0` and `vX.Y.0`).

use std::cmp::Ordering;

use super::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Loose,
    Go,
}

#[derive(Debug)]
struct Parsed<'a> {
    core: [&'a str; 3],
    pre: Vec<&'a str>,
}

fn parse(v: &str, flavor: Flavor) -> Result<Parsed<'_>, VersionError> {
    let scheme = if flavor == Flavor::Go {
        Scheme::Go
    } else {
        Scheme::SemVer
    };
    let err = |reason: &str| VersionError::new(scheme, v, reason);
    let mut s = v.trim();
    if flavor == Flavor::Loose {
        s = s.trim_start_matches(|c: char| c == '=' || c == 'v' || c.is_whitespace());
    } else {
        s = s.strip_prefix('v').unwrap_or(s);
    }
    let (s, build) = match s.split_once('+') {
        Some((s, b)) => (s, Some(b)),
        None => (s, None),
    };
    if build.is_some_and(|b| b.is_empty()) {
        return Err(err("empty build metadata"));
    }
    let mut core: [&str; 3] = ["0", "0", "0"];
    let mut rest = s;
    let mut n = 0;
    while n < 3 {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(err("expected a number"));
        }
        core[n] = &rest[..end];
        rest = &rest[end..];
        n += 1;
        if n < 3 {
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None if flavor == Flavor::Go && !rest.starts_with(['-', '+']) => {
                    if rest.is_empty() {
                        break;
                    }
                    return Err(err("unexpected character"));
                }
                None if flavor == Flavor::Go && rest.is_empty() => break,
                None => return Err(err("expected major.minor.patch")),
            }
        }
    }
    if flavor == Flavor::Go {
        if n < 3 && (!rest.is_empty() || build.is_some()) {
            return Err(err(
                "a shorthand version cannot have a pre-release or build",
            ));
        }
        if core.iter().any(|c| c.len() > 1 && c.starts_with('0')) {
            return Err(err("leading zeros"));
        }
    }
    let pre = if rest.is_empty() {
        Vec::new()
    } else {
        let body = match rest.strip_prefix('-') {
            Some(b) => b,
            None if flavor == Flavor::Loose => rest,
            None => return Err(err("unexpected character after the version")),
        };
        let ids: Vec<&str> = body.split('.').collect();
        for id in &ids {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(err("bad pre-release identifier"));
            }
            if flavor == Flavor::Go
                && id.len() > 1
                && id.starts_with('0')
                && id.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(err("leading zeros in a numeric pre-release identifier"));
            }
        }
        ids
    };
    Ok(Parsed { core, pre })
}

fn cmp_ident(a: &str, b: &str) -> Ordering {
    let num = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    match (num(a), num(b)) {
        (true, true) => cmp_digits(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

pub(super) fn compare(a: &str, b: &str, flavor: Flavor) -> Result<Ordering, VersionError> {
    let (pa, pb) = (parse(a, flavor)?, parse(b, flavor)?);
    for (x, y) in pa.core.iter().zip(pb.core.iter()) {
        let o = cmp_digits(x, y);
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(match (pa.pre.is_empty(), pb.pre.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (x, y) in pa.pre.iter().zip(pb.pre.iter()) {
                let o = cmp_ident(x, y);
                if o != Ordering::Equal {
                    return Ok(o);
                }
            }
            pa.pre.len().cmp(&pb.pre.len())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_shorthands_and_errors() {
        assert_eq!(
            compare("v1", "v1.0.0", Flavor::Go).ok(),
            Some(Ordering::Equal)
        );
        assert!(compare("v1.2-pre", "v1.2.0", Flavor::Go).is_err());
        assert!(compare("1.2", "1.2.0", Flavor::Loose).is_err());
        assert!(compare("1.2.3-", "1.2.3", Flavor::Loose).is_err());
    }
}
