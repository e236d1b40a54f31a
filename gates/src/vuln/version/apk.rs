//! Alpine (apk-tools) version order. A version is
//! `digits(.digits)*[letter](_suffix[digits])*[-rN]`; it is read as a list of tokens, each
//! with a kind and a value, and two lists are compared token by token:
//! - numbers compare numerically, except that a component after a dot that starts with
//!   `0` compares like a decimal fraction (`1.02 < 1.1`);
//! - suffixes order `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`;
//! - when one version goes on where the other has a different kind of token, a
//!   pre-release suffix makes it older, otherwise the token kind decides (more
//!   components are newer than a letter, a suffix, a revision or the end).
//!
//! A version that breaks the grammar is compared as far as it could be read.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Invalid,
    /// A component after a dot.
    Dotted,
    /// The first component, or digits after a letter or after leading zeros.
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    Revision,
    End,
}

const PRE: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

/// Tokens of a version: `(kind, value)`, ending with `End` or `Invalid`.
fn tokens(v: &str) -> Vec<(Kind, i128)> {
    let b = v.trim().as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut kind = Kind::Number;
    let digits = |i: &mut usize| -> i128 {
        let mut n: i128 = 0;
        while *i < b.len() && b[*i].is_ascii_digit() {
            n = n
                .saturating_mul(10)
                .saturating_add(i128::from(b[*i] - b'0'));
            *i += 1;
        }
        n
    };
    loop {
        if i >= b.len() {
            out.push((Kind::End, 0));
            return out;
        }
        let start = i;
        let mut next_kind = None;
        let value = match kind {
            Kind::Dotted if b[i] == b'0' => {
                while i < b.len() && b[i] == b'0' {
                    i += 1;
                }
                // Digits after the zeros are a number of their own (1.05 = 1, -1, 5), and
                // so is the empty number before a further dot (apk-tools: 1.0.1 < 1.06);
                // a suffix, letter or revision follows the component as usual, so that
                // 1.0_rc1 < 1.0.
                if b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
                    next_kind = Some(Kind::Number);
                }
                -((i - start) as i128)
            }
            // No digits at all reads as 0, as apk-tools does (`1.0.1`: the `0` run
            // is followed by an empty number).
            Kind::Dotted | Kind::Number | Kind::SuffixNumber | Kind::Revision => digits(&mut i),
            Kind::Letter => {
                i += 1;
                i128::from(b[start])
            }
            Kind::Suffix => {
                let rest = &v.trim()[i..];
                if let Some(n) = PRE.iter().position(|s| rest.starts_with(s)) {
                    i += PRE[n].len();
                    n as i128 - PRE.len() as i128
                } else if let Some(n) = POST.iter().position(|s| rest.starts_with(s)) {
                    i += POST[n].len();
                    n as i128
                } else {
                    out.push((Kind::Invalid, 0));
                    return out;
                }
            }
            Kind::Invalid | Kind::End => return out,
        };
        out.push((kind, value));
        if i >= b.len() {
            out.push((Kind::End, 0));
            return out;
        }
        if let Some(k) = next_kind {
            kind = k;
            continue;
        }
        // What comes next, and whether the grammar allows it here.
        let c = b[i];
        let next = if matches!(kind, Kind::Number | Kind::Dotted) && c.is_ascii_lowercase() {
            Kind::Letter
        } else if kind == Kind::Letter && c.is_ascii_digit() {
            Kind::Number
        } else if kind == Kind::Suffix && c.is_ascii_digit() {
            Kind::SuffixNumber
        } else {
            i += 1;
            match c {
                b'.' => Kind::Dotted,
                b'_' => Kind::Suffix,
                b'-' if b.get(i) == Some(&b'r') => {
                    i += 1;
                    Kind::Revision
                }
                _ => Kind::Invalid,
            }
        };
        let allowed = next >= kind
            || (next == Kind::Dotted && kind == Kind::Number)
            || (next == Kind::Suffix && kind == Kind::SuffixNumber)
            || (next == Kind::Number && kind == Kind::Letter);
        kind = if allowed { next } else { Kind::Invalid };
        if kind == Kind::Invalid {
            out.push((Kind::Invalid, 0));
            return out;
        }
    }
}

pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    for (x, y) in ta.iter().zip(tb.iter()) {
        if x.0 == y.0 {
            if x.0 == Kind::End || x.0 == Kind::Invalid {
                return Ordering::Equal;
            }
            if x.1 != y.1 {
                return x.1.cmp(&y.1);
            }
            continue;
        }
        // Different kinds of token: a pre-release suffix is older than anything.
        if x.0 == Kind::Suffix && x.1 < 0 {
            return Ordering::Less;
        }
        if y.0 == Kind::Suffix && y.1 < 0 {
            return Ordering::Greater;
        }
        return y.0.cmp(&x.0);
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_and_revisions() {
        assert_eq!(compare("1.0_rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0_p1", "1.0"), Ordering::Greater);
        assert_eq!(compare("1.0-r1", "1.0"), Ordering::Greater);
        assert_eq!(compare("1.0-r1", "1.0.1"), Ordering::Less);
        assert_eq!(compare("1.02", "1.1"), Ordering::Less);
    }
}
