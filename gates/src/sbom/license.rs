//! Licences as packages declare them, turned into SPDX identifiers and expressions
//! (<https://spdx.github.io/spdx-spec/v2.3/SPDX-license-expressions/>) where that can be
//! done without guessing; anything else is kept by name.
//!
//! The identifier list is the intersection of the SPDX list that CycloneDX 1.6's schema
//! accepts and the one spdx-tools validates against, so every `id` we write passes both.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// One declared licence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum License {
    /// A valid SPDX expression: a single identifier (`MIT`) or a compound one
    /// (`MIT OR Apache-2.0`).
    Spdx(String),
    /// A name that is not an SPDX identifier (`public-domain`, `Custom`).
    Name(String),
}

impl License {
    /// The text: the expression or the name.
    pub fn text(&self) -> &str {
        match self {
            License::Spdx(s) | License::Name(s) => s,
        }
    }
}

const IDS: &str = include_str!("spdx-license-ids.txt");
const EXCEPTIONS: &str = include_str!("spdx-exception-ids.txt");

fn table(text: &'static str) -> BTreeMap<String, &'static str> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| (l.to_ascii_lowercase(), l))
        .collect()
}

fn ids() -> &'static BTreeMap<String, &'static str> {
    static T: OnceLock<BTreeMap<String, &'static str>> = OnceLock::new();
    T.get_or_init(|| table(IDS))
}

fn exceptions() -> &'static BTreeMap<String, &'static str> {
    static T: OnceLock<BTreeMap<String, &'static str>> = OnceLock::new();
    T.get_or_init(|| table(EXCEPTIONS))
}

/// Names used by Debian's copyright files and package metadata for SPDX licences.
const ALIASES: &[(&str, &str)] = &[
    ("expat", "MIT"),
    ("mit license", "MIT"),
    ("the mit license", "MIT"),
    ("mit/x11", "MIT"),
    ("x11", "X11"),
    ("artistic", "Artistic-1.0-Perl"),
    ("perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
    ("apache 2.0", "Apache-2.0"),
    ("apache-2", "Apache-2.0"),
    ("apache license 2.0", "Apache-2.0"),
    ("apache license, version 2.0", "Apache-2.0"),
    ("apache software license", "Apache-2.0"),
    ("bsd-2", "BSD-2-Clause"),
    ("bsd-3", "BSD-3-Clause"),
    ("bsd-4", "BSD-4-Clause"),
    ("isc license", "ISC"),
    ("zlib/libpng", "Zlib"),
    ("psf", "PSF-2.0"),
    ("python", "PSF-2.0"),
    ("mpl 2.0", "MPL-2.0"),
];

/// The SPDX identifier for one licence name, if there is one without guessing:
/// case-insensitive matches, `GPL-2` → `GPL-2.0-only`, `LGPL-2.1+` →
/// `LGPL-2.1-or-later`, and a few well-known aliases (`Expat` → `MIT`).
pub fn spdx_id(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    if n.is_empty() {
        return None;
    }
    if let Some((_, id)) = ALIASES.iter().find(|(a, _)| *a == n) {
        // Aliases that map to expressions are handled by `parse`.
        return (!id.contains(' ')).then_some(*id);
    }
    let ids = ids();
    let (base, plus) = match n.strip_suffix('+') {
        Some(b) => (b.to_string(), true),
        None => match n.strip_suffix(" or later") {
            Some(b) => (b.to_string(), true),
            None => (n.clone(), false),
        },
    };
    for cand in [base.clone(), format!("{base}.0")] {
        let suffixed = if plus {
            format!("{cand}-or-later")
        } else {
            format!("{cand}-only")
        };
        if let Some(id) = ids.get(&suffixed) {
            return Some(id);
        }
        if !plus && let Some(id) = ids.get(&cand) {
            return Some(id);
        }
    }
    None
}

/// Parses a declared licence: an SPDX identifier or expression (operators `AND`, `OR`,
/// `WITH`, also in lower case, and parentheses) becomes [`License::Spdx`], anything else
/// [`License::Name`]. `None` for empty or placeholder values (`UNKNOWN`, `NONE`).
pub fn parse(declared: &str) -> Option<License> {
    let d = declared.trim();
    if d.is_empty()
        || [
            "unknown",
            "none",
            "noassertion",
            "unlicensed",
            "see license",
        ]
        .contains(&d.to_ascii_lowercase().as_str())
    {
        return None;
    }
    if let Some((_, expr)) = ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(d) && a.len() == d.len())
    {
        return Some(License::Spdx((*expr).to_string()));
    }
    match expression(d) {
        Some(e) => Some(License::Spdx(e)),
        None => Some(License::Name(d.to_string())),
    }
}

/// Normalises an SPDX expression: every identifier known, operators upper-case, balanced
/// parentheses, no dangling operator.
fn expression(s: &str) -> Option<String> {
    let spaced = s.replace('(', " ( ").replace(')', " ) ");
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0i32;
    // What may come next: an operand (true) or an operator (false).
    let mut want_operand = true;
    let mut after_with = false;
    for tok in spaced.split_whitespace() {
        let upper = tok.to_ascii_uppercase();
        match upper.as_str() {
            "(" if want_operand => {
                depth += 1;
                out.push("(".into());
            }
            ")" if !want_operand => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
                out.push(")".into());
            }
            "AND" | "OR" | "WITH" if !want_operand => {
                after_with = upper == "WITH";
                want_operand = true;
                out.push(upper);
            }
            _ if want_operand => {
                let id = if after_with {
                    exceptions().get(&tok.to_ascii_lowercase()).copied()?
                } else if let Some(r) = tok.strip_prefix("LicenseRef-") {
                    if r.is_empty() {
                        return None;
                    }
                    tok
                } else {
                    spdx_id(tok)?
                };
                out.push(id.to_string());
                want_operand = false;
                after_with = false;
            }
            _ => return None,
        }
    }
    if want_operand || depth != 0 {
        return None;
    }
    Some(out.join(" ").replace("( ", "(").replace(" )", ")"))
}

/// Sorts and de-duplicates a list of licences.
pub fn normalize(mut v: Vec<License>) -> Vec<License> {
    v.sort();
    v.dedup();
    v
}

/// Licences from a Debian `copyright` file: the `License:` fields of a machine-readable
/// (DEP-5) file, split at `or`/`and`/`,`, and references to
/// `/usr/share/common-licenses/NAME`.
pub fn from_debian_copyright(text: &str) -> Vec<License> {
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(v) = line
            .strip_prefix("License:")
            .or_else(|| line.strip_prefix("license:"))
        {
            let v = v.trim();
            for part in split_words(v, &[" or ", " and ", ", ", " | "]) {
                let part = part.trim().trim_end_matches(',');
                if !part.is_empty() && part.len() <= 64 {
                    found.extend(parse(part));
                }
            }
        }
        let mut rest = line;
        while let Some(i) = rest.find("/usr/share/common-licenses/") {
            rest = &rest[i + "/usr/share/common-licenses/".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "._-+".contains(*c))
                .collect();
            let name = name.trim_end_matches('.');
            if !name.is_empty() {
                found.extend(parse(name));
            }
        }
    }
    normalize(found)
}

fn split_words<'a>(s: &'a str, seps: &[&str]) -> Vec<&'a str> {
    let lower = s.to_ascii_lowercase();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        if let Some(sep) = seps.iter().find(|sep| lower[i..].starts_with(**sep)) {
            parts.push(&s[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += lower[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_aliases() {
        assert_eq!(spdx_id("mit"), Some("MIT"));
        assert_eq!(spdx_id("GPL-2"), Some("GPL-2.0-only"));
        assert_eq!(spdx_id("GPL-2+"), Some("GPL-2.0-or-later"));
        assert_eq!(spdx_id("LGPL-2.1+"), Some("LGPL-2.1-or-later"));
        assert_eq!(spdx_id("BSD-3-clause"), Some("BSD-3-Clause"));
        assert_eq!(spdx_id("Expat"), Some("MIT"));
        assert_eq!(spdx_id("public-domain"), None);
        assert_eq!(
            parse("MIT or Apache-2.0"),
            Some(License::Spdx("MIT OR Apache-2.0".into()))
        );
        assert_eq!(
            parse("(MIT OR Apache-2.0) AND BSD-3-Clause"),
            Some(License::Spdx("(MIT OR Apache-2.0) AND BSD-3-Clause".into()))
        );
        assert_eq!(
            parse("GPL-2.0-or-later WITH Classpath-exception-2.0"),
            Some(License::Spdx(
                "GPL-2.0-or-later WITH Classpath-exception-2.0".into()
            ))
        );
        assert_eq!(
            parse("public-domain"),
            Some(License::Name("public-domain".into()))
        );
        assert_eq!(parse("MIT OR"), Some(License::Name("MIT OR".into())));
        assert_eq!(parse("UNKNOWN"), None);
        assert_eq!(
            parse("Perl"),
            Some(License::Spdx(
                "Artistic-1.0-Perl OR GPL-1.0-or-later".into()
            ))
        );
    }

    #[test]
    fn debian_copyright() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Files: *\nLicense: GPL-2+ or Artistic\n\nFiles: x\nLicense: public-domain\n \
                    text\n\nLicense: BSD-3-clause\n\
                    On Debian systems see /usr/share/common-licenses/LGPL-2.1.\n";
        let got: Vec<String> = from_debian_copyright(text)
            .iter()
            .map(|l| l.text().to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                "Artistic-1.0-Perl",
                "BSD-3-Clause",
                "GPL-2.0-or-later",
                "LGPL-2.1-only",
                "public-domain"
            ]
        );
    }
}
