//! Go `path.Match` / `filepath.Match` (Unix flavour) glob matching.
//!
//! COPY and ADD expand wildcard sources one path component at a time with these
//! semantics, as BuildKit's `fsutil/copy` does. The syntax, from Go's documentation
//! (<https://pkg.go.dev/path/filepath#Match>):
//!
//! ```text
//! pattern:  { term }
//! term:     '*'   any sequence of non-'/' characters
//!           '?'   any single non-'/' character
//!           '[' [ '^' ] { character-range } ']'   character class (non-empty)
//!           c     the character c (c != '*', '?', '\\', '[')
//!           '\\' c   the character c
//! character-range:
//!           c     (c != '\\', '-', ']')
//!           '\\' c
//!           lo '-' hi   lo <= c <= hi
//! ```
//!
//! Like Go since 1.16, a malformed pattern is an error even when the name
//! would have stopped matching before the malformed part. Only `^` negates a class:
//! `[!a]` is the class of `!` and `a`, as in Go.
//!
//! The small NFA below is shared with `.dockerignore` matching, which adds `**`.

/// A malformed glob pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern does not follow the `filepath.Match` grammar.
    #[error("syntax error in pattern {pattern:?}")]
    BadPattern {
        /// The offending pattern.
        pattern: String,
    },
}

/// Reports whether `name` matches the shell pattern `pattern` in full.
///
/// `*` and `?` never match `/`; a character class may (as in Go).
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, PatternError> {
    let tokens = tokenize(pattern)?;
    Ok(Program::from_glob_tokens(&tokens).matches(name))
}

/// Reports whether `s` contains an unescaped `*`, `?` or `[`, i.e. whether it
/// must be expanded rather than used as a literal path (BuildKit's
/// `containsWildcards`: a backslash hides the character after it).
pub fn has_glob(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// One lexical element of a glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A literal character (possibly written escaped).
    Lit(char),
    /// `?`
    AnyChar,
    /// `*`
    Star,
    /// `[...]`
    Class(CharClass),
}

/// A bracket expression: a set of inclusive ranges, optionally negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CharClass {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl CharClass {
    fn contains(&self, c: char) -> bool {
        // Go accepts lo > hi; such a range simply matches nothing.
        let hit = self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        hit != self.negated
    }
}

/// Splits a pattern into tokens, validating it against Go's grammar.
pub(crate) fn tokenize(pattern: &str) -> Result<Vec<Token>, PatternError> {
    let bad = || PatternError::BadPattern {
        pattern: pattern.to_string(),
    };
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push(Token::Star),
            '?' => out.push(Token::AnyChar),
            '\\' => out.push(Token::Lit(chars.next().ok_or_else(bad)?)),
            '[' => {
                let negated = chars.peek() == Some(&'^');
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                loop {
                    if chars.peek() == Some(&']') && !ranges.is_empty() {
                        chars.next();
                        break;
                    }
                    let lo = class_char(&mut chars).ok_or_else(bad)?;
                    let hi = if chars.peek() == Some(&'-') {
                        chars.next();
                        class_char(&mut chars).ok_or_else(bad)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                out.push(Token::Class(CharClass { negated, ranges }));
            }
            other => out.push(Token::Lit(other)),
        }
    }
    Ok(out)
}

/// Reads one possibly escaped class character (Go's `getEsc`): `-` and `]` must be
/// escaped, and the class must not end right after it.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let c = match chars.next()? {
        '-' | ']' => return None,
        '\\' => chars.next()?,
        c => c,
    };
    chars.peek()?;
    Some(c)
}

/// What a consuming NFA node accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CharPred {
    Lit(char),
    NotSlash,
    Any,
    Class(CharClass),
}

impl CharPred {
    fn accepts(&self, c: char) -> bool {
        match self {
            CharPred::Lit(l) => *l == c,
            CharPred::NotSlash => c != '/',
            CharPred::Any => true,
            CharPred::Class(class) => class.contains(c),
        }
    }
}

/// A node of a forward-only NFA; node `i` moves to `i + 1` unless stated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Consume one character accepted by the predicate.
    One(CharPred),
    /// Consume any number of characters accepted by the predicate.
    Many(CharPred),
    /// Epsilon to the next node or to the given later node (an optional group).
    Skip(usize),
}

/// A compiled matcher. Simulating the NFA keeps matching linear in the name
/// length, with no backtracking blow-up on patterns like `a*a*a*a*b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Program {
    nodes: Vec<Node>,
}

impl Program {
    pub(crate) fn new(nodes: Vec<Node>) -> Self {
        Program { nodes }
    }

    /// Plain `filepath.Match` semantics.
    pub(crate) fn from_glob_tokens(tokens: &[Token]) -> Self {
        let nodes = tokens
            .iter()
            .map(|t| match t {
                Token::Lit(c) => Node::One(CharPred::Lit(*c)),
                Token::AnyChar => Node::One(CharPred::NotSlash),
                Token::Star => Node::Many(CharPred::NotSlash),
                Token::Class(class) => Node::One(CharPred::Class(class.clone())),
            })
            .collect();
        Program { nodes }
    }

    fn start(&self) -> Vec<bool> {
        let mut set = vec![false; self.nodes.len() + 1];
        set[0] = true;
        self.close(&mut set);
        set
    }

    /// Adds epsilon successors; edges only point forward, so one sweep suffices.
    fn close(&self, set: &mut [bool]) {
        for i in 0..self.nodes.len() {
            if !set[i] {
                continue;
            }
            match &self.nodes[i] {
                Node::Many(_) => set[i + 1] = true,
                Node::Skip(to) => {
                    set[i + 1] = true;
                    set[*to] = true;
                }
                Node::One(_) => {}
            }
        }
    }

    /// Consumes `c`; returns false when no state survives.
    fn step(&self, set: &mut Vec<bool>, c: char) -> bool {
        let mut next = vec![false; set.len()];
        let mut alive = false;
        for (i, node) in self.nodes.iter().enumerate() {
            if !set[i] {
                continue;
            }
            match node {
                Node::One(p) if p.accepts(c) => {
                    next[i + 1] = true;
                    alive = true;
                }
                Node::Many(p) if p.accepts(c) => {
                    next[i] = true;
                    alive = true;
                }
                _ => {}
            }
        }
        self.close(&mut next);
        *set = next;
        alive
    }

    fn accepting(&self, set: &[bool]) -> bool {
        set[self.nodes.len()]
    }

    /// Whether the whole of `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let mut set = self.start();
        for c in name.chars() {
            if !self.step(&mut set, c) {
                return false;
            }
        }
        self.accepting(&set)
    }

    /// Whether `name` or one of its parent directories (`a` and `a/b` for
    /// `a/b/c`) matches, in one pass over the name.
    pub(crate) fn matches_self_or_parent(&self, name: &str) -> bool {
        let mut set = self.start();
        for (i, c) in name.char_indices() {
            if c == '/' && i > 0 && self.accepting(&set) {
                return true;
            }
            if !self.step(&mut set, c) {
                return false;
            }
        }
        self.accepting(&set)
    }

    /// Whether some continuation of `prefix` could still match.
    pub(crate) fn prefix_viable(&self, prefix: &str) -> bool {
        let mut set = self.start();
        prefix.chars().all(|c| self.step(&mut set, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(p: &str) -> Result<bool, PatternError> {
        Err(PatternError::BadPattern {
            pattern: p.to_string(),
        })
    }

    /// Go's `path/filepath/match_test.go` table, one test per row.
    macro_rules! go_match {
        ($($name:ident: $pattern:expr, $text:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(glob_match($pattern, $text), $want, "{:?} vs {:?}", $pattern, $text);
            }
        )*};
    }

    go_match! {
        go_01: "abc", "abc" => Ok(true);
        go_02: "*", "abc" => Ok(true);
        go_03: "*c", "abc" => Ok(true);
        go_04: "a*", "a" => Ok(true);
        go_05: "a*", "abc" => Ok(true);
        go_06: "a*", "ab/c" => Ok(false);
        go_07: "a*/b", "abc/b" => Ok(true);
        go_08: "a*/b", "a/c/b" => Ok(false);
        go_09: "a*b*c*d*e*/f", "axbxcxdxe/f" => Ok(true);
        go_10: "a*b*c*d*e*/f", "axbxcxdxexxx/f" => Ok(true);
        go_11: "a*b*c*d*e*/f", "axbxcxdxe/xxx/f" => Ok(false);
        go_12: "a*b*c*d*e*/f", "axbxcxdxexxx/fff" => Ok(false);
        go_13: "a*b?c*x", "abxbbxdbxebxczzx" => Ok(true);
        go_14: "a*b?c*x", "abxbbxdbxebxczzy" => Ok(false);
        go_15: "ab[c]", "abc" => Ok(true);
        go_16: "ab[b-d]", "abc" => Ok(true);
        go_17: "ab[e-g]", "abc" => Ok(false);
        go_18: "ab[^c]", "abc" => Ok(false);
        go_19: "ab[^b-d]", "abc" => Ok(false);
        go_20: "ab[^e-g]", "abc" => Ok(true);
        go_21: "a\\*b", "a*b" => Ok(true);
        go_22: "a\\*b", "ab" => Ok(false);
        go_23: "a?b", "a☺b" => Ok(true);
        go_24: "a[^a]b", "a☺b" => Ok(true);
        go_25: "a???b", "a☺b" => Ok(false);
        go_26: "a[^a][^a][^a]b", "a☺b" => Ok(false);
        go_27: "[a-ζ]*", "α" => Ok(true);
        go_28: "*[a-ζ]", "A" => Ok(false);
        go_29: "a?b", "a/b" => Ok(false);
        go_30: "a*b", "a/b" => Ok(false);
        go_31: "[\\]a]", "]" => Ok(true);
        go_32: "[\\-]", "-" => Ok(true);
        go_33: "[x\\-]", "x" => Ok(true);
        go_34: "[x\\-]", "-" => Ok(true);
        go_35: "[x\\-]", "z" => Ok(false);
        go_36: "[\\-x]", "x" => Ok(true);
        go_37: "[\\-x]", "-" => Ok(true);
        go_38: "[\\-x]", "a" => Ok(false);
        go_39: "[]a]", "]" => bad("[]a]");
        go_40: "[-]", "-" => bad("[-]");
        go_41: "[x-]", "x" => bad("[x-]");
        go_42: "[x-]", "-" => bad("[x-]");
        go_43: "[x-]", "z" => bad("[x-]");
        go_44: "[-x]", "x" => bad("[-x]");
        go_45: "[-x]", "-" => bad("[-x]");
        go_46: "[-x]", "a" => bad("[-x]");
        go_47: "\\", "a" => bad("\\");
        go_48: "[a-b-c]", "a" => bad("[a-b-c]");
        go_49: "[", "a" => bad("[");
        go_50: "[^", "a" => bad("[^");
        go_51: "[^bc", "a" => bad("[^bc");
        go_52: "a[", "a" => bad("a[");
        go_53: "a[", "ab" => bad("a[");
        go_54: "a[", "x" => bad("a[");
        go_55: "a/b[", "x" => bad("a/b[");
        go_56: "*x", "xxx" => Ok(true);
    }

    #[test]
    fn empty_pattern_matches_only_empty_name() {
        assert_eq!(glob_match("", ""), Ok(true));
        assert_eq!(glob_match("", "a"), Ok(false));
    }

    #[test]
    fn bang_is_not_a_class_negation_in_go() {
        assert_eq!(glob_match("[!a]", "!"), Ok(true));
        assert_eq!(glob_match("[!a]", "a"), Ok(true));
        assert_eq!(glob_match("[!a]", "b"), Ok(false));
    }

    #[test]
    fn negated_class_may_match_slash_like_go() {
        assert_eq!(glob_match("a[^x]b", "a/b"), Ok(true));
    }

    #[test]
    fn reversed_range_matches_nothing() {
        assert_eq!(glob_match("[z-a]", "m"), Ok(false));
        assert_eq!(glob_match("[^z-a]", "m"), Ok(true));
    }

    #[test]
    fn star_inside_class_is_literal() {
        assert_eq!(glob_match("[*]", "*"), Ok(true));
        assert_eq!(glob_match("[*]", "a"), Ok(false));
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let name = "a".repeat(200);
        assert_eq!(glob_match("a*a*a*a*a*a*a*a*a*b", &name), Ok(false));
        assert_eq!(glob_match("a*a*a*a*a*a*a*a*a*a", &name), Ok(true));
    }

    #[test]
    fn escaped_ordinary_character_is_literal() {
        assert_eq!(glob_match("\\a\\.go", "a.go"), Ok(true));
    }

    #[test]
    fn has_glob_detects_unescaped_meta() {
        assert!(has_glob("*.go"));
        assert!(has_glob("file?.txt"));
        assert!(has_glob("src/[ab]/x"));
        assert!(!has_glob("plain/path.txt"));
        assert!(!has_glob("a\\*b"));
        assert!(!has_glob("a\\[b\\?"));
        assert!(has_glob("a\\\\*"));
        assert!(!has_glob(""));
    }
}
