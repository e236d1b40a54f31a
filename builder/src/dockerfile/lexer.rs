//! Physical lines to logical instruction lines, the way BuildKit's
//! `frontend/dockerfile/parser/parser.go` reads a Dockerfile: parser directives at the
//! top, comments, line continuations with the active escape character, and heredoc
//! bodies (read on demand by the parser, which alone knows whether a line takes them).

use super::ast::Span;
use super::error::ParseError;

/// One instruction with its continuation lines joined, plus where every byte came from.
#[derive(Debug, Clone)]
pub(crate) struct Logical {
    /// The joined text (BuildKit's `Node.Original`): continuation escapes removed, comment
    /// and blank lines inside the continuation dropped, nothing else changed.
    pub text: String,
    /// Position of each byte of `text` (one entry per byte, so slicing offsets map 1:1).
    pos: Vec<Span>,
    /// The last physical line consumed so far.
    pub end_line: usize,
}

impl Logical {
    /// The source position of byte `off` of `text` (clamped to the last character).
    pub fn at(&self, off: usize) -> Span {
        self.pos
            .get(off)
            .or(self.pos.last())
            .copied()
            .unwrap_or(Span { line: 1, column: 1 })
    }

    fn push_str(&mut self, s: &str, line: usize, first_col: usize) {
        for (i, c) in s.chars().enumerate() {
            let span = Span {
                line,
                column: first_col + i,
            };
            self.pos.extend(std::iter::repeat_n(span, c.len_utf8()));
            self.text.push(c);
        }
    }
}

/// Reads a Dockerfile line by line.
pub(crate) struct Lexer<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    /// Index of the next physical line (0-based), i.e. the number of lines consumed.
    next: usize,
    /// The escape character in force.
    pub escape: char,
    /// Still looking for parser directives.
    in_directives: bool,
    /// Directives found, lowercase names, in order.
    pub directives: Vec<(String, String)>,
}

/// Matches BuildKit's directive pattern `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`,
/// returning the name and the trimmed value.
fn match_directive(token: &str) -> Option<(&str, &str)> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c');
    let rest = token.strip_prefix('#')?.trim_start_matches(is_ws);
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || i > 0 && c.is_ascii_digit()))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest
        .trim_start_matches(is_ws)
        .strip_prefix('=')?
        .trim_matches(is_ws);
    (!value.is_empty()).then_some((name, value))
}

/// BuildKit's `trimNewline`: drop every trailing `\r` and `\n`.
fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

impl<'a> Lexer<'a> {
    /// A lexer over `text`; `directives` says whether parser directives are honoured.
    pub fn new(file: &'a str, text: &'a str, escape: char, directives: bool) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<&str> = text.split('\n').collect();
        // `split` yields an empty last piece after a final newline: not a line.
        if lines.last() == Some(&"") {
            lines.pop();
        }
        Lexer {
            file,
            lines,
            next: 0,
            escape,
            in_directives: directives,
            directives: Vec::new(),
        }
    }

    /// The number of physical lines consumed so far (= the current 1-based line).
    pub fn line(&self) -> usize {
        self.next
    }

    fn error(&self, line: usize, column: usize, message: String) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }

    fn take_line(&mut self) -> Option<&'a str> {
        let l = self.lines.get(self.next).copied();
        if l.is_some() {
            self.next += 1;
        }
        l
    }

    /// Directives are only recognised before anything else (comment, blank line or
    /// instruction); an unknown directive name also ends them.
    fn directive(&mut self, token: &str) -> Result<(), ParseError> {
        if !self.in_directives {
            return Ok(());
        }
        let Some((name, value)) = match_directive(token) else {
            self.in_directives = false;
            return Ok(());
        };
        let name = name.to_lowercase();
        let value = value.to_string();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.in_directives = false;
            return Ok(());
        }
        let line = self.next;
        if self.directives.iter().any(|(n, _)| *n == name) {
            return Err(self.error(
                line,
                1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        if name == "escape" {
            self.escape = match value.as_str() {
                "`" => '`',
                "\\" => '\\',
                _ => {
                    return Err(self.error(
                        line,
                        1,
                        format!("invalid escape token '{value}' does not match ` or \\"),
                    ));
                }
            };
        }
        self.directives.push((name, value));
        Ok(())
    }

    /// BuildKit's `trimContinuationCharacter`: a line ending in the escape character
    /// (plus blanks) continues, unless that escape is itself escaped.
    fn trim_continuation<'s>(&self, s: &'s str) -> (&'s str, bool) {
        let t = s.trim_end_matches([' ', '\t']);
        if let Some(before) = t.strip_suffix(self.escape)
            && (before.is_empty() || !before.ends_with(self.escape))
        {
            return (before, false);
        }
        (s, true)
    }

    /// The next instruction line, or `None` at the end of the file.
    pub fn next_logical(&mut self) -> Result<Option<Logical>, ParseError> {
        loop {
            let Some(raw) = self.take_line() else {
                return Ok(None);
            };
            let line_no = self.next;
            let t = trim_newline(raw);
            let trimmed = t.trim_start();
            let lead = t[..t.len() - trimmed.len()].chars().count();
            self.directive(trimmed)?;
            let content = if trimmed.starts_with('#') {
                ""
            } else {
                trimmed
            };
            let (first, mut end) = self.trim_continuation(content);
            if end && first.is_empty() {
                continue;
            }
            let mut lg = Logical {
                text: String::new(),
                pos: Vec::new(),
                end_line: line_no,
            };
            lg.push_str(first, line_no, lead + 1);
            while !end {
                let Some(raw) = self.take_line() else { break };
                let line_no = self.next;
                lg.end_line = line_no;
                let t = trim_newline(raw);
                self.directive(t)?;
                let left = t.trim_start();
                // Comments and blank lines inside a continuation are skipped entirely
                // (BuildKit warns about the blank ones); the continuation goes on.
                if left.starts_with('#') || left.is_empty() {
                    continue;
                }
                let (piece, e) = self.trim_continuation(t);
                end = e;
                lg.push_str(piece, line_no, 1);
            }
            if lg.text.trim().is_empty() {
                // Only escapes and blanks: nothing to parse.
                continue;
            }
            return Ok(Some(lg));
        }
    }

    /// Reads a heredoc body up to its terminator line. `None` when the file ends first.
    pub fn heredoc_body(&mut self, name: &str, strip_tabs: bool) -> Option<String> {
        let mut content = String::new();
        while let Some(raw) = self.take_line() {
            let mut candidate = trim_newline(raw);
            if strip_tabs {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == name {
                return Some(content);
            }
            content.push_str(raw);
            content.push('\n');
        }
        None
    }
}
