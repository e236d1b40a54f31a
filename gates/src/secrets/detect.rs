//! The detector: an Aho-Corasick keyword prefilter over every byte, then each rule's
//! regex only in the lines (or, for multi-line rules, the 64 KiB) around its keywords,
//! then entropy and allowlists. Content sniffing decides what is text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use memchr::{memchr, memrchr};

use super::rules::{Rule, Ruleset};
use crate::error::{Error, Result};

/// How far back from a keyword the window may start (long lines).
const LINE_BACK: usize = 1024;
/// How far past a keyword a single-line window may end (long lines).
const LINE_FORWARD: usize = 4096;
/// How far past a keyword a multi-line window may end.
pub const MULTILINE_FORWARD: usize = 64 * 1024;
/// How many leading bytes [`is_binary`] looks at.
pub const SNIFF_LEN: usize = 8000;

/// One raw detection in a buffer (byte offsets into it).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the rule in the ruleset.
    pub rule: usize,
    /// The whole match.
    pub start: usize,
    /// End of the whole match.
    pub end: usize,
    /// The secret within the buffer.
    pub secret_start: usize,
    /// End of the secret.
    pub secret_end: usize,
    /// Shannon entropy of the secret.
    pub entropy: f64,
}

/// Reusable per-thread state of [`Detector::scan`].
#[derive(Debug, Default)]
pub struct Scratch {
    windows: Vec<Vec<(usize, usize)>>,
    touched: Vec<usize>,
    path_ok: Vec<Option<bool>>,
}

/// Compiled rules plus the keyword automaton.
#[derive(Debug)]
pub struct Detector {
    /// The rules.
    pub ruleset: Ruleset,
    keywords: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    always: Vec<usize>,
    path_only: Vec<usize>,
}

impl Detector {
    /// Builds the keyword automaton.
    pub fn new(ruleset: Ruleset) -> Result<Detector> {
        let mut words: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        let mut path_only = Vec::new();
        for (i, rule) in ruleset.rules.iter().enumerate() {
            if rule.regex.is_none() {
                path_only.push(i);
                continue;
            }
            if rule.keywords.is_empty() {
                always.push(i);
            }
            for k in &rule.keywords {
                match words.iter().position(|w| w == k) {
                    Some(at) => keyword_rules[at].push(i),
                    None => {
                        words.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let keywords = if words.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&words)
                    .or_else(|_| {
                        AhoCorasickBuilder::new()
                            .ascii_case_insensitive(true)
                            .match_kind(MatchKind::Standard)
                            .build(&words)
                    })
                    .map_err(|e| Error::Invalid {
                        what: "secret rule keywords".into(),
                        reason: e.to_string(),
                    })?,
            )
        };
        Ok(Detector {
            ruleset,
            keywords,
            keyword_rules,
            always,
            path_only,
        })
    }

    /// The rule at `index`.
    pub fn rule(&self, index: usize) -> &Rule {
        &self.ruleset.rules[index]
    }

    /// Whether a global allowlist skips the file at `path` entirely.
    pub fn skips_path(&self, path: &str) -> bool {
        self.ruleset.allowlists.iter().any(|a| a.allows_path(path))
    }

    /// Path-only rules that report the file at `path` by its name.
    pub fn path_rules(&self, path: &str) -> Vec<usize> {
        self.path_only
            .iter()
            .copied()
            .filter(|&i| {
                self.ruleset.rules[i]
                    .path
                    .as_ref()
                    .is_some_and(|p| p.is_match(path.as_bytes()))
            })
            .collect()
    }

    fn path_allowed(&self, scratch: &mut Scratch, rule: usize, path: Option<&str>) -> bool {
        if let Some(known) = scratch.path_ok[rule] {
            return known;
        }
        let ok = match (&self.ruleset.rules[rule].path, path) {
            (None, _) => true,
            (Some(re), Some(p)) => re.is_match(p.as_bytes()),
            (Some(_), None) => false,
        };
        scratch.path_ok[rule] = Some(ok);
        ok
    }

    /// Finds the secrets in `buf` (the content of the file at `path`, or a config
    /// string), sorted by position.
    pub fn scan(&self, path: Option<&str>, buf: &[u8], scratch: &mut Scratch) -> Vec<Hit> {
        let n = self.ruleset.rules.len();
        if scratch.windows.len() != n {
            scratch.windows = vec![Vec::new(); n];
        }
        scratch.path_ok.clear();
        scratch.path_ok.resize(n, None);
        for &r in &scratch.touched {
            scratch.windows[r].clear();
        }
        scratch.touched.clear();
        if let Some(ac) = &self.keywords {
            for m in ac.find_overlapping_iter(buf) {
                for &r in &self.keyword_rules[m.pattern().as_usize()] {
                    if !self.path_allowed(scratch, r, path) {
                        continue;
                    }
                    let (ws, we) = window(buf, m.start(), m.end(), self.ruleset.rules[r].multiline);
                    let list = &mut scratch.windows[r];
                    match list.last_mut() {
                        Some(last) if ws <= last.1 && we >= last.0 => {
                            last.0 = last.0.min(ws);
                            last.1 = last.1.max(we);
                        }
                        Some(_) => list.push((ws, we)),
                        None => {
                            scratch.touched.push(r);
                            list.push((ws, we));
                        }
                    }
                }
            }
        }
        for &r in &self.always {
            if self.path_allowed(scratch, r, path) {
                if scratch.windows[r].is_empty() {
                    scratch.touched.push(r);
                }
                scratch.windows[r].clear();
                scratch.windows[r].push((0, buf.len()));
            }
        }
        scratch.touched.sort_unstable();
        let mut hits = Vec::new();
        for &r in &scratch.touched {
            let rule = &self.ruleset.rules[r];
            let Some(re) = &rule.regex else { continue };
            for &(ws, we) in &scratch.windows[r] {
                let hay = &buf[ws..we];
                for caps in re.captures_iter(hay) {
                    let Some(whole) = caps.get(0) else { continue };
                    let secret = if rule.secret_group > 0 {
                        caps.get(rule.secret_group)
                    } else {
                        (1..caps.len())
                            .filter_map(|g| caps.get(g))
                            .find(|m| !m.is_empty())
                            .or(Some(whole))
                    };
                    let Some(secret) = secret else { continue };
                    if secret.is_empty() {
                        continue;
                    }
                    let hit = Hit {
                        rule: r,
                        start: ws + whole.start(),
                        end: ws + whole.end(),
                        secret_start: ws + secret.start(),
                        secret_end: ws + secret.end(),
                        entropy: entropy(secret.as_bytes()),
                    };
                    if self.keep(rule, path, buf, &hit) {
                        hits.push(hit);
                    }
                }
            }
        }
        hits.sort_by_key(|a| (a.start, a.rule, a.end));
        hits.dedup_by(|b, a| a.rule == b.rule && a.start == b.start && a.end == b.end);
        // One secret, one finding: a catch-all rule's hit overlapping a specific rule's
        // says nothing new, nor does a hit inside another's secret (the earlier rule in
        // the set wins a tie).
        let spans: Vec<(usize, usize, usize, bool)> = hits
            .iter()
            .map(|h| {
                let generic = self.ruleset.rules[h.rule].is_generic();
                (h.secret_start, h.secret_end, h.rule, generic)
            })
            .collect();
        hits.retain(|h| {
            let generic = self.ruleset.rules[h.rule].is_generic();
            !spans.iter().any(|&(s, e, rule, other_generic)| {
                if rule == h.rule && s == h.secret_start && e == h.secret_end {
                    return false;
                }
                let overlaps = s < h.secret_end && h.secret_start < e;
                let contains = s <= h.secret_start && h.secret_end <= e;
                let same = s == h.secret_start && e == h.secret_end;
                (generic && !other_generic && overlaps)
                    || (contains && !same && generic == other_generic)
                    || (same && rule < h.rule)
            })
        });
        hits
    }

    fn keep(&self, rule: &Rule, path: Option<&str>, buf: &[u8], hit: &Hit) -> bool {
        if rule.entropy.is_some_and(|min| hit.entropy < min) {
            return false;
        }
        let secret = &buf[hit.secret_start..hit.secret_end];
        let matched = &buf[hit.start..hit.end];
        let line = line_around(buf, hit.start);
        !self
            .ruleset
            .allowlists
            .iter()
            .chain(&rule.allowlists)
            .any(|a| a.allows(path, secret, matched, line))
    }

    /// `text` with every secret the rules find replaced by its redacted form.
    pub fn redact_text(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let hits = self.scan(None, bytes, &mut Scratch::default());
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for h in hits {
            if h.secret_start < at {
                continue;
            }
            out.push_str(&String::from_utf8_lossy(&bytes[at..h.secret_start]));
            out.push_str(&redact(&bytes[h.secret_start..h.secret_end]));
            at = h.secret_end;
        }
        out.push_str(&String::from_utf8_lossy(&bytes[at..]));
        out
    }
}

/// The window a rule's regex runs in, around a keyword at `start..end`.
fn window(buf: &[u8], start: usize, end: usize, multiline: bool) -> (usize, usize) {
    let lo = start.saturating_sub(LINE_BACK);
    let ws = memrchr(b'\n', &buf[lo..start]).map_or(lo, |i| lo + i + 1);
    let we = if multiline {
        buf.len().min(end.saturating_add(MULTILINE_FORWARD))
    } else {
        let hi = buf.len().min(end.saturating_add(LINE_FORWARD));
        memchr(b'\n', &buf[end..hi]).map_or(hi, |i| end + i)
    };
    (ws, we)
}

/// The line containing `at` (bounded like a window).
pub fn line_around(buf: &[u8], at: usize) -> &[u8] {
    let lo = at.saturating_sub(LINE_BACK);
    let s = memrchr(b'\n', &buf[lo..at]).map_or(lo, |i| lo + i + 1);
    let hi = buf.len().min(at.saturating_add(LINE_FORWARD));
    let e = memchr(b'\n', &buf[at..hi]).map_or(hi, |i| at + i);
    &buf[s..e]
}

/// Shannon entropy in bits per byte.
pub fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A secret as reports show it: a short prefix (at most 4 characters and a fifth of the
/// secret) and a fixed mask, so neither the secret nor its length is revealed.
pub fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let count = text.chars().count();
    let keep = (count / 5).min(4);
    let mut out: String = text.chars().take(keep).collect();
    out.push_str("*****");
    out
}

/// The match as reports show it: up to 40 characters of context before the secret (cut
/// after the last `,`), the redacted secret, up to 24 characters after it; control
/// characters escaped.
pub fn display(buf: &[u8], hit: &Hit) -> String {
    let before = escape(&buf[hit.start..hit.secret_start]);
    let mut before = match before.rfind(',') {
        Some(i) => before[i + 1..].to_string(),
        None => before,
    };
    while let Some(rest) = before
        .strip_prefix("\\n")
        .or_else(|| before.strip_prefix(' '))
        .or_else(|| before.strip_prefix("\\t"))
    {
        before = rest.to_string();
    }
    let before: String = {
        let chars: Vec<char> = before.chars().collect();
        chars[chars.len().saturating_sub(40)..].iter().collect()
    };
    let after: String = escape(&buf[hit.secret_end..hit.end])
        .chars()
        .take(24)
        .collect();
    format!(
        "{before}{}{after}",
        redact(&buf[hit.secret_start..hit.secret_end])
    )
}

fn escape(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Whether a file is binary, judged by its first [`SNIFF_LEN`] bytes: a NUL byte, a
/// known binary signature, UTF-16, or more than a tenth of control characters.
pub fn is_binary(head: &[u8]) -> bool {
    let head = &head[..head.len().min(SNIFF_LEN)];
    const MAGIC: &[&[u8]] = &[
        b"\x1f\x8b",
        b"PK\x03\x04",
        b"\x89PNG",
        b"\xff\xd8\xff",
        b"GIF8",
        b"%PDF",
        b"BZh",
        b"\xfd7zXZ",
        b"\x28\xb5\x2f\xfd",
        b"7z\xbc\xaf",
        b"\xff\xfe",
        b"\xfe\xff",
        b"\x7fELF",
        b"\xca\xfe\xba\xbe",
        b"!<arch>",
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) || memchr(0, head).is_some() {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || b == 0x7f)
        .count();
    control * 10 > head.len()
}

/// Number of `\n` in `bytes`.
pub fn count_lines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Detector {
        Detector::new(Ruleset::builtin().unwrap()).unwrap()
    }

    fn ids(d: &Detector, text: &str) -> Vec<String> {
        d.scan(Some("x"), text.as_bytes(), &mut Scratch::default())
            .iter()
            .map(|h| d.rule(h.rule).id.clone())
            .collect()
    }

    #[test]
    fn finds_keyword_rules_and_drops_generic_duplicates() {
        let d = detector();
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4A");
        assert_eq!(
            ids(&d, &format!("token = \"{token}\"\n")),
            vec!["github-pat"]
        );
        assert_eq!(
            ids(&d, "DB_PASSWORD=Zt9qL2vXw7Rk4pQm\n"),
            vec!["generic-api-key"]
        );
        assert!(ids(&d, "AKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(ids(&d, "password = \"changeme\"").is_empty());
        assert!(ids(&d, "api_key = 550e8400-e29b-41d4-a716-446655440000").is_empty());
        assert!(ids(&d, "token = tokenize.generate_tokens").is_empty());
    }

    #[test]
    fn windows_cover_multiline_keys() {
        let d = detector();
        let body = "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naGVsbG8gd29ybGQgdGhpcyBpcyBhIHRlc3Qga2V5IGJvZHkgdGhhdCBpcyBsb25n\n";
        let text =
            format!("x\n-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n");
        assert_eq!(ids(&d, &text), vec!["private-key"]);
        let text = "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n";
        assert!(ids(&d, text).is_empty());
    }

    #[test]
    fn redaction_hides_all_but_a_short_prefix() {
        assert_eq!(redact(b"AKIAZ5B7C3D4E6F7G2H3"), "AKIA*****");
        assert_eq!(redact(b"hunter2hunter2"), "hu*****");
        assert_eq!(redact(b"abc"), "*****");
        let d = detector();
        let t = "RUN curl -H 'Authorization: token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4A' x";
        let r = d.redact_text(t);
        assert!(!r.contains("aB3dE5fG7"), "{r}");
        assert!(r.contains("ghp_*****"), "{r}");
    }

    #[test]
    fn sniffing() {
        assert!(is_binary(b"\x7fELF\x02\x01"));
        assert!(is_binary(b"abc\0def"));
        assert!(is_binary(b"\x89PNG\r\n\x1a\n"));
        assert!(!is_binary(b"plain text\nwith lines\n"));
        assert!(!is_binary("caf\u{e9} na\u{ef}ve".as_bytes()));
        assert!(!is_binary(b""));
    }

    #[test]
    fn entropy_values() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
