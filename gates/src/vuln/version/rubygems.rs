//! RubyGems order (`Gem::Version#<=>`): a version is split into numeric and letter
//! segments; a version with a letter is a pre-release; trailing zero segments do not
//! count, nor zero segments right before the first letter of a pre-release; letters sort
//! before numbers, letter segments by string; SemVer-style hyphens are normalised (a
//! hyphen before a letter is a dot, before a number `.pre.`), and a `pre` segment right
//! before a letter segment is dropped.

use std::cmp::Ordering;

use super::{Scheme, VersionError, cmp_digits};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Num(String),
    Str(String),
}

fn valid(v: &str) -> bool {
    // [0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?
    let (main, pre) = match v.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (v, None),
    };
    let mut parts = main.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    first_ok
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && pre.is_none_or(|p| {
            p.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        })
}

fn normalize_hyphens(v: &str) -> String {
    if !v.contains('-') {
        return v.to_string();
    }
    v.split('-')
        .enumerate()
        .map(|(i, part)| {
            let first = part.split('.').next().unwrap_or("");
            if i == 0 || first.bytes().any(|b| b.is_ascii_alphabetic()) {
                part.to_string()
            } else {
                format!("pre.{part}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn segments(v: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    for c in v.chars() {
        let (alpha, digit) = (c.is_ascii_alphabetic(), c.is_ascii_digit());
        let boundary = !(alpha || digit) || digit != cur_digit;
        if boundary && !cur.is_empty() {
            let s = std::mem::take(&mut cur);
            out.push(if cur_digit { Seg::Num(s) } else { Seg::Str(s) });
        }
        if alpha || digit {
            cur.push(c);
            cur_digit = digit;
        }
    }
    if !cur.is_empty() {
        out.push(if cur_digit {
            Seg::Num(cur)
        } else {
            Seg::Str(cur)
        });
    }
    out
}

fn is_zero(s: &Seg) -> bool {
    matches!(s, Seg::Num(n) if n.trim_start_matches('0').is_empty())
}

fn canonical(v: &str) -> Vec<Seg> {
    let mut segs = segments(v);
    // Trailing zeros.
    while segs.last().is_some_and(is_zero) {
        segs.pop();
    }
    // The first run of zero segments right before a letter segment.
    let run = (0..segs.len()).find_map(|i| {
        if !matches!(segs[i], Seg::Str(_)) || i == 0 || !is_zero(&segs[i - 1]) {
            return None;
        }
        let mut start = i;
        while start > 0 && is_zero(&segs[start - 1]) {
            start -= 1;
        }
        Some((start, i))
    });
    if let Some((start, end)) = run {
        segs.drain(start..end);
    }
    // "pre" followed by a letter segment is redundant.
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        if *s == Seg::Str("pre".into()) && matches!(segs.get(i + 1), Some(Seg::Str(_))) {
            continue;
        }
        out.push(s.clone());
    }
    out
}

fn parse(v: &str) -> Result<Vec<Seg>, VersionError> {
    let t = v.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    if !valid(t) {
        return Err(VersionError::new(
            Scheme::RubyGems,
            v,
            "malformed version number string",
        ));
    }
    Ok(canonical(&normalize_hyphens(t)))
}

pub(super) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let (l, r) = (parse(a)?, parse(b)?);
    for (x, y) in l.iter().zip(r.iter()) {
        let o = match (x, y) {
            (Seg::Num(x), Seg::Num(y)) => cmp_digits(x, y),
            (Seg::Str(x), Seg::Str(y)) => x.cmp(y),
            (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
            (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    let rest = |segs: &[Seg]| -> Ordering {
        for s in segs {
            match s {
                Seg::Str(_) => return Ordering::Less,
                s if !is_zero(s) => return Ordering::Greater,
                _ => {}
            }
        }
        Ordering::Equal
    };
    Ok(match l.len().cmp(&r.len()) {
        Ordering::Greater => rest(&l[r.len()..]),
        Ordering::Less => rest(&r[l.len()..]).reverse(),
        Ordering::Equal => Ordering::Equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prereleases() {
        assert_eq!(compare("1.0.a", "1.0").ok(), Some(Ordering::Less));
        assert_eq!(compare("1.0.0-1", "1").ok(), Some(Ordering::Less));
        assert!(compare("junk", "1").is_err());
    }
}
