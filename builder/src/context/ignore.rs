//! `.dockerignore` files with the semantics of `moby/patternmatcher`.
//!
//! Parsing follows `patternmatcher/ignorefile.ReadAll` as used by BuildKit's
//! `frontend/dockerui`: a UTF-8 BOM is dropped, lines starting with `#` are
//! comments, lines are trimmed, empty lines skipped, `!` marks an exception, each
//! pattern goes through Go's `filepath.Clean` and loses a leading `/`.
//!
//! Matching follows `PatternMatcher.MatchesOrParentMatches`: patterns use Go
//! `filepath.Match` syntax (see [`crate::pathmatch`]) plus `**`, which matches any
//! number of directories (including none); a pattern that matches a parent
//! directory matches everything below it; the last matching pattern wins.
//! Reference: <https://docs.docker.com/build/concepts/context/#dockerignore-files>.
//!
//! Known, deliberate differences from moby's regexp translation (moby's are
//! accidents of building a regexp from the pattern): `[*]` is the class of `*`
//! (moby turns the `*` into `[^/]*`), a `^` or a backslash-escaped letter outside a
//! class is a literal (moby passes them into the regexp as `^`, `\d`, ...).

use std::path::{Path, PathBuf};

use crate::pathmatch::{self, CharPred, Node, PatternError, Program, Token};

/// A `.dockerignore` file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IgnoreError {
    /// A line consisting of `!` alone (moby: `illegal exclusion pattern: "!"`).
    #[error("line {line}: illegal exclusion pattern \"!\"")]
    LoneExclamation {
        /// 1-based line number in the ignore file.
        line: usize,
    },
    /// A pattern that is not valid `filepath.Match` syntax.
    #[error("line {line}: invalid pattern {pattern:?}")]
    BadPattern {
        /// 1-based line number in the ignore file.
        line: usize,
        /// The pattern after cleaning.
        pattern: String,
        /// The syntax error.
        #[source]
        source: PatternError,
    },
}

/// One cleaned, compiled line of an ignore file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Cleaned pattern text, without the `!`.
    text: String,
    /// `!pattern`: re-includes what earlier patterns excluded.
    exception: bool,
    program: Program,
}

/// The compiled patterns of one `.dockerignore` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

impl IgnoreMatcher {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            // Go's line scanner drops one trailing CR.
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            // Only a `#` in the very first column starts a comment.
            if raw.starts_with('#') {
                continue;
            }
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (exception, rest) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            if rest.is_empty() {
                return Err(IgnoreError::LoneExclamation { line });
            }
            let mut text = clean(rest);
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
            let tokens = pathmatch::tokenize(&text).map_err(|source| IgnoreError::BadPattern {
                line,
                pattern: text.clone(),
                source,
            })?;
            let program = compile(&tokens);
            patterns.push(Pattern {
                text,
                exception,
                program,
            });
        }
        Ok(IgnoreMatcher { patterns })
    }

    /// The cleaned patterns in file order, exceptions prefixed with `!`.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    /// Whether any pattern is an exception (`!pattern`).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `rel_path` (slash-separated, relative to the context root) is
    /// excluded from the context. The root itself is never excluded.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = normalize(rel_path);
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            // An exception can only flip an excluded path and vice versa, so
            // skip the patterns that could not change the verdict.
            if p.exception != excluded {
                continue;
            }
            if p.program.matches_self_or_parent(&path) {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether some path strictly below directory `dir_rel` may be part of the
    /// context, i.e. whether a walker must descend into it.
    ///
    /// True when the directory is not excluded. For an excluded directory, true
    /// when some exception pattern could still match a path below it (the reason
    /// moby's walkers consult the exception patterns before skipping a directory).
    /// Conservative: it may say true for a directory whose contents all end up
    /// excluded, never false for one holding an included path.
    pub fn may_contain_included(&self, dir_rel: &str) -> bool {
        if !self.is_excluded(dir_rel) {
            return true;
        }
        let dir = normalize(dir_rel);
        let prefix = format!("{dir}/");
        self.patterns
            .iter()
            .any(|p| p.exception && p.program.prefix_viable(&prefix))
    }
}

/// Cleans a path the way the matcher sees it: Go `Clean`, no leading `/`,
/// the root as the empty string.
fn normalize(rel_path: &str) -> String {
    let cleaned = clean(rel_path);
    let trimmed = cleaned.trim_start_matches('/');
    if trimmed == "." {
        String::new()
    } else {
        trimmed.to_string()
    }
}

/// Go's `filepath.Clean` for slash-separated paths: collapses `//`, drops `.`,
/// resolves `..` lexically, drops a trailing `/`; the empty path becomes `.`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `..` above the root of a rooted path is the root.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Compiles tokens into the matcher NFA, giving `**` moby's meaning:
/// `**/` or an inner `**` is `(.*/)?`, a trailing `**` is `.*`, and a leading
/// `**` followed by nothing but literal text is a plain suffix match.
fn compile(tokens: &[Token]) -> Program {
    let mut nodes = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Star if tokens.get(i + 1) == Some(&Token::Star) => {
                let leading = i == 0;
                i += 2;
                let ate_slash = tokens.get(i) == Some(&Token::Lit('/'));
                if ate_slash {
                    i += 1;
                }
                let rest_literal = tokens[i..].iter().all(|t| matches!(t, Token::Lit(_)));
                if i == tokens.len() || (leading && !ate_slash && rest_literal) {
                    // moby's prefix match (`dir/**`) and suffix match (`**foo`).
                    nodes.push(Node::Many(CharPred::Any));
                } else {
                    let after = nodes.len() + 3;
                    nodes.push(Node::Skip(after));
                    nodes.push(Node::Many(CharPred::Any));
                    nodes.push(Node::One(CharPred::Lit('/')));
                }
                continue;
            }
            Token::Star => nodes.push(Node::Many(CharPred::NotSlash)),
            Token::AnyChar => nodes.push(Node::One(CharPred::NotSlash)),
            Token::Lit(c) => nodes.push(Node::One(CharPred::Lit(*c))),
            Token::Class(class) => nodes.push(Node::One(CharPred::Class(class.clone()))),
        }
        i += 1;
    }
    Program::new(nodes)
}

/// Finds the ignore file for a build, as BuildKit does: `<Dockerfile name>.dockerignore`
/// beside the Dockerfile wins over `.dockerignore` at the context root.
///
/// `dockerfile_path` is used as given (absolute, or relative to the current
/// directory); only regular files (or symlinks to them) count.
pub fn find_ignore_file(context_dir: &Path, dockerfile_path: &Path) -> Option<PathBuf> {
    if let Some(name) = dockerfile_path.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        let candidate = dockerfile_path.with_file_name(specific);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let root = context_dir.join(".dockerignore");
    root.is_file().then_some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &[&str], path: &str) -> bool {
        let m = IgnoreMatcher::parse(&patterns.join("\n")).expect("patterns parse");
        m.is_excluded(path)
    }

    /// moby `TestMatches` table: (pattern, path, matches-or-parent-matches).
    /// Both `exact` and `inexact` rows count as matches for this function.
    macro_rules! moby_matches {
        ($($name:ident: $pattern:expr, $path:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(excluded(&[$pattern], $path), $want, "{:?} vs {:?}", $pattern, $path);
            }
        )*};
    }

    moby_matches! {
        m_dstar_file: "**", "file" => true;
        m_dstar_file_slash: "**", "file/" => true;
        m_dstar_slash_file: "**/", "file" => true;
        m_dstar_dir_file: "**", "dir/file" => true;
        m_dstar_slash_dir_file: "**/", "dir/file" => true;
        m_dstar_dstar: "**/**", "dir/file" => true;
        m_dir_dstar: "dir/**", "dir/file" => true;
        m_dir_dstar_deep: "dir/**", "dir/dir2/file" => true;
        m_dstar_dir_exact: "**/dir", "dir" => true;
        m_dstar_dir_parent: "**/dir", "dir/file" => true;
        m_dstar_dir2_star: "**/dir2/*", "dir/dir2/file" => true;
        m_dstar_dir2_star_slash: "**/dir2/*", "dir/dir2/file/" => true;
        m_dstar_dir2_dstar: "**/dir2/**", "dir/dir2/dir3/file" => true;
        m_dstarfile_file: "**file", "file" => true;
        m_dstarfile_dir_file: "**file", "dir/file" => true;
        m_dstar_slash_file_dir: "**/file", "dir/file" => true;
        m_dstarfile_deep: "**file", "dir/dir/file" => true;
        m_dstar_slash_file_deep: "**/file", "dir/dir/file" => true;
        m_dstar_filestar: "**/file*", "dir/dir/file" => true;
        m_dstar_filestar_txt: "**/file*", "dir/dir/file.txt" => true;
        m_dstar_filestartxt: "**/file*txt", "dir/dir/file.txt" => true;
        m_dstar_filestardottxt: "**/file*.txt", "dir/dir/file.txt" => true;
        m_dstar_filestardottxtstar: "**/file*.txt*", "dir/dir/file.txt" => true;
        m_dstar_dstar_txt: "**/**/*.txt", "dir/dir/file.txt" => true;
        m_dstar_dstar_txt2: "**/**/*.txt2", "dir/dir/file.txt" => false;
        m_dstar_txt_top: "**/*.txt", "file.txt" => true;
        m_dstar_dstar_txt_top: "**/**/*.txt", "file.txt" => true;
        m_a_dstar_txt: "a**/*.txt", "a/file.txt" => true;
        m_a_dstar_txt_dir: "a**/*.txt", "a/dir/file.txt" => true;
        m_a_dstar_txt_dirdir: "a**/*.txt", "a/dir/dir/file.txt" => true;
        m_a_star_txt_deep: "a/*.txt", "a/dir/file.txt" => false;
        m_a_star_txt: "a/*.txt", "a/file.txt" => true;
        m_a_star_txt_dstar: "a/*.txt**", "a/file.txt" => true;
        m_range_empty: "a[b-d]e", "ae" => false;
        m_range_hit: "a[b-d]e", "ace" => true;
        m_range_miss: "a[b-d]e", "aae" => false;
        m_range_negated: "a[^b-d]e", "aze" => true;
        m_dot_star: ".*", ".foo" => true;
        m_dot_star_miss: ".*", "foo" => false;
        m_dot_literal_1: "abc.def", "abcdef" => false;
        m_dot_literal_2: "abc.def", "abc.def" => true;
        m_dot_literal_3: "abc.def", "abcZdef" => false;
        m_question: "abc?def", "abcZdef" => true;
        m_question_miss: "abc?def", "abcdef" => false;
        m_dstar_foo_bar: "**/foo/bar", "foo/bar" => true;
        m_dstar_foo_bar_dir: "**/foo/bar", "dir/foo/bar" => true;
        m_dstar_foo_bar_dirdir: "**/foo/bar", "dir/dir2/foo/bar" => true;
        m_abc_dstar_self: "abc/**", "abc" => false;
        m_abc_dstar_child: "abc/**", "abc/def" => true;
        m_abc_dstar_grandchild: "abc/**", "abc/def/ghi" => true;
        m_dstar_dotfoo: "**/.foo", ".foo" => true;
        m_dstar_dotfoo_miss: "**/.foo", "bar.foo" => false;
        m_parens: "a(b)c/def", "a(b)c/def" => true;
        m_parens_miss: "a(b)c/def", "a(b)c/xyz" => false;
        m_regex_meta: "a.|)$(}+{bc", "a.|)$(}+{bc" => true;
        m_wheel: "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl" => true;
        m_wheel_star: "dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl" => true;
        m_escaped_backslash: "a\\\\", "a\\" => true;
        m_escaped_star: "a\\*b", "a*b" => true;
        // From moby's copy of Go's Match table run through `Matches` (parent-aware).
        m_star_parent: "a*", "ab/c" => true;
        m_star_slash_b: "a*/b", "a/c/b" => false;
        m_many_stars: "a*b*c*d*e*/f", "axbxcxdxe/xxx/f" => false;
        m_class_escaped_bracket: "[\\]a]", "]" => true;
        m_unicode_class: "[a-ζ]*", "α" => true;
    }

    #[test]
    fn moby_multi_pattern_rows() {
        assert!(!excluded(
            &["**", "!util/docker/web"],
            "util/docker/web/foo"
        ));
        assert!(excluded(
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo"
        ));
        let wheel = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        assert!(!excluded(&["**", &format!("!{wheel}")], wheel));
        assert!(!excluded(&["**", "!dist/*.whl"], wheel));
    }

    #[test]
    fn moby_simple_cases() {
        assert!(excluded(&["*"], "fileutils.go"));
        assert!(excluded(&["*.go"], "fileutils.go"));
        assert!(excluded(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!excluded(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(!excluded(&["*.go"], "."));
        assert!(!excluded(&[], "any/path/there"));
    }

    #[test]
    fn moby_folder_exceptions() {
        assert!(!excluded(&["docs", "!docs/README.md"], "docs/README.md"));
        assert!(!excluded(&["docs/", "!docs/README.md"], "docs/README.md"));
        assert!(!excluded(&["docs/*", "!docs/README.md"], "docs/README.md"));
        assert!(excluded(&["docs", "!docs/README.md"], "docs/other.md"));
    }

    #[test]
    fn lone_exclamation_is_an_error() {
        assert_eq!(
            IgnoreMatcher::parse("foo\n!"),
            Err(IgnoreError::LoneExclamation { line: 2 })
        );
        assert_eq!(
            IgnoreMatcher::parse("! "),
            Err(IgnoreError::LoneExclamation { line: 1 })
        );
    }

    #[test]
    fn malformed_pattern_is_an_error_with_line() {
        let err = IgnoreMatcher::parse("ok\n\n[").expect_err("bad pattern");
        assert!(
            matches!(err, IgnoreError::BadPattern { line: 3, ref pattern, .. } if pattern == "[")
        );
        assert_eq!(err.to_string(), "line 3: invalid pattern \"[\"");
    }

    /// moby `ignorefile_test.go` `TestReadAll`, minus the lone `!` lines that
    /// `PatternMatcher` would reject.
    #[test]
    fn read_all_cleans_and_strips() {
        let text =
            "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n";
        let m = IgnoreMatcher::parse(text).expect("parse");
        assert_eq!(
            m.patterns(),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path"
            ]
        );
        assert!(m.has_exceptions());
    }

    #[test]
    fn parse_trims_bom_crlf_and_cleans() {
        let m = IgnoreMatcher::parse("\u{feff}./foo/\r\n  bar//baz/../qux  \r\n\t\n!  ./keep\n")
            .expect("parse");
        assert_eq!(m.patterns(), ["foo", "bar/qux", "!keep"]);
        assert!(m.has_exceptions());
    }

    #[test]
    fn comment_only_in_first_column() {
        let m = IgnoreMatcher::parse("#a\n #b\n").expect("parse");
        assert_eq!(m.patterns(), ["#b"]);
        assert!(m.is_excluded("#b"));
        assert!(!m.is_excluded("#a"));
    }

    #[test]
    fn empty_file_excludes_nothing() {
        let m = IgnoreMatcher::parse("").expect("parse");
        assert!(m.patterns().is_empty());
        assert!(!m.is_excluded("anything"));
    }

    #[test]
    fn root_slash_pattern_stays_rooted_and_matches_nothing() {
        let m = IgnoreMatcher::parse("/").expect("parse");
        assert_eq!(m.patterns(), ["/"]);
        assert!(!m.is_excluded("a"));
    }

    #[test]
    fn leading_slash_and_dot_paths_are_normalized() {
        assert!(excluded(&["foo"], "/foo"));
        assert!(excluded(&["foo"], "./foo/bar"));
        assert!(!excluded(&["**"], "./"));
        assert!(!excluded(&["**"], ""));
    }

    #[test]
    fn plain_name_only_matches_at_root() {
        // Documented difference from .gitignore: no implicit `**/`.
        assert!(excluded(&["node_modules"], "node_modules/x/y.js"));
        assert!(!excluded(&["node_modules"], "web/node_modules/x.js"));
        assert!(excluded(&["**/node_modules"], "web/node_modules/x.js"));
    }

    #[test]
    fn docs_example_temp_patterns() {
        // Examples from the Docker build-context documentation.
        let m = IgnoreMatcher::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n").expect("parse");
        assert!(m.is_excluded("somedir/temporary.txt"));
        assert!(m.is_excluded("somedir/temp"));
        assert!(m.is_excluded("somedir/subdir/temporary.txt"));
        assert!(m.is_excluded("tempa"));
        assert!(!m.is_excluded("tempab"));
        assert!(!m.is_excluded("temporary.txt"));
    }

    #[test]
    fn docs_example_markdown_exceptions() {
        let m = IgnoreMatcher::parse("*.md\n!README*.md\nREADME-secret.md\n").expect("parse");
        assert!(m.is_excluded("CHANGELOG.md"));
        assert!(!m.is_excluded("README.md"));
        assert!(!m.is_excluded("README-public.md"));
        assert!(m.is_excluded("README-secret.md"));
        let m = IgnoreMatcher::parse("*.md\nREADME-secret.md\n!README*.md\n").expect("parse");
        assert!(!m.is_excluded("README-secret.md"));
    }

    #[test]
    fn last_match_wins_across_repeated_flips() {
        let m = IgnoreMatcher::parse("a\n!a/b\na/b/c\n!a/b/c/d\n").expect("parse");
        assert!(m.is_excluded("a/x"));
        assert!(!m.is_excluded("a/b/x"));
        assert!(m.is_excluded("a/b/c/x"));
        assert!(!m.is_excluded("a/b/c/d"));
        assert!(!m.is_excluded("a/b/c/d/e"));
    }

    #[test]
    fn bang_in_class_is_literal_like_go() {
        assert!(excluded(&["[!a]"], "!"));
        assert!(!excluded(&["[!a]"], "b"));
    }

    #[test]
    fn star_in_class_is_literal() {
        assert!(excluded(&["[*]"], "*"));
        assert!(!excluded(&["[*]"], "x"));
    }

    #[test]
    fn dstar_in_the_middle_spans_directories() {
        assert!(excluded(&["a/**/b"], "a/b"));
        assert!(excluded(&["a/**/b"], "a/x/y/b"));
        assert!(!excluded(&["a/**/b"], "a/xb"));
        // moby's `a**b` is `a(.*/)?b`: it needs a `/` before `b` unless empty.
        assert!(excluded(&["a**b"], "ab"));
        assert!(excluded(&["a**b"], "ax/b"));
        assert!(!excluded(&["a**b"], "axb"));
    }

    #[test]
    fn leading_dstar_literal_is_suffix_match() {
        // moby's suffixMatch: `**file` is "ends with file".
        assert!(excluded(&["**file"], "myfile"));
        assert!(excluded(&["**/file"], "a/file"));
        assert!(!excluded(&["**/file"], "myfile"));
    }

    #[test]
    fn trailing_dstar_is_prefix_match() {
        assert!(excluded(&["foo**"], "foobar"));
        assert!(excluded(&["foo**"], "foo/bar"));
        assert!(!excluded(&["foo/**"], "foo"));
    }

    #[test]
    fn may_contain_included_without_exceptions() {
        let m = IgnoreMatcher::parse("build\n").expect("parse");
        assert!(!m.may_contain_included("build"));
        assert!(!m.may_contain_included("build/sub"));
        assert!(m.may_contain_included("src"));
    }

    #[test]
    fn may_contain_included_with_exceptions() {
        let m = IgnoreMatcher::parse("docs\n!docs/README.md\n").expect("parse");
        assert!(m.may_contain_included("docs"));
        assert!(!m.may_contain_included("docs/sub"));
        let m = IgnoreMatcher::parse("**\n!**/*.go\n").expect("parse");
        assert!(m.may_contain_included("any/dir"));
        let m = IgnoreMatcher::parse("vendor\n!src/keep\n").expect("parse");
        assert!(!m.may_contain_included("vendor"));
        let m = IgnoreMatcher::parse("*\n!*/keep\n").expect("parse");
        assert!(m.may_contain_included("x"));
        assert!(!m.may_contain_included("x/y"));
    }

    #[test]
    fn clean_follows_go() {
        let cases = [
            ("", "."),
            (".", "."),
            ("a/", "a"),
            ("a//b", "a/b"),
            ("./a/./b/", "a/b"),
            ("a/../b", "b"),
            ("a/..", "."),
            ("../a", "../a"),
            ("../../a/../b", "../../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("//a//", "/a"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn find_ignore_file_prefers_dockerfile_specific() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = dir.path();
        let dockerfile = ctx.join("app.Dockerfile");
        std::fs::write(&dockerfile, "FROM scratch\n").expect("write");
        assert_eq!(find_ignore_file(ctx, &dockerfile), None);

        std::fs::write(ctx.join(".dockerignore"), "x\n").expect("write");
        assert_eq!(
            find_ignore_file(ctx, &dockerfile),
            Some(ctx.join(".dockerignore"))
        );

        let specific = ctx.join("app.Dockerfile.dockerignore");
        std::fs::write(&specific, "y\n").expect("write");
        assert_eq!(find_ignore_file(ctx, &dockerfile), Some(specific));
    }

    #[test]
    fn find_ignore_file_looks_beside_dockerfile_in_other_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = dir.path().join("ctx");
        let dfdir = dir.path().join("df");
        std::fs::create_dir_all(&ctx).expect("mkdir");
        std::fs::create_dir_all(&dfdir).expect("mkdir");
        let dockerfile = dfdir.join("Dockerfile");
        let specific = dfdir.join("Dockerfile.dockerignore");
        std::fs::write(&specific, "y\n").expect("write");
        // A specific file in the context dir does not count.
        std::fs::write(ctx.join("Dockerfile.dockerignore"), "z\n").expect("write");
        assert_eq!(find_ignore_file(&ctx, &dockerfile), Some(specific));
        // A directory named .dockerignore is not an ignore file.
        std::fs::remove_file(dfdir.join("Dockerfile.dockerignore")).expect("rm");
        std::fs::create_dir(ctx.join(".dockerignore")).expect("mkdir");
        assert_eq!(find_ignore_file(&ctx, &dockerfile), None);
    }
}
