//! Shell-word processing as BuildKit does it (`frontend/dockerfile/shell/lex.go`):
//! variable expansion, quote removal and (optionally) field splitting.
//!
//! This is not a POSIX shell: there is no command substitution, no globbing, and the
//! escape character only escapes `$`, `"` and itself inside double quotes.
//! Reference: <https://docs.docker.com/reference/dockerfile/#environment-replacement>.

use thiserror::Error;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// `${V?msg}` / `${V:?msg}` with `V` unset (or empty for `:?`).
    #[error("{name}: {message}")]
    Required {
        /// The variable name.
        name: String,
        /// The user's message, or BuildKit's default one.
        message: String,
    },
    /// `${V` without its closing brace.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:x}`, `${{x}` and the like.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// A modifier BuildKit does not know, e.g. `${V:#x}`.
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// A quote (or `}`/`/` inside `${...}`) that is never closed.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(String),
}

/// A variable lookup: `None` when the variable is unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands `$V`, `${V...}`, removes quotes and escapes, and returns one string
/// (BuildKit's `ProcessWord`, used for ENV/LABEL/ARG values, WORKDIR, USER, COPY paths…).
pub fn expand_word(word: &str, escape: char, lookup: Lookup<'_>) -> Result<String, ExpandError> {
    let mut sh = Shell::new(word, escape, lookup, Mode::default());
    sh.process().map(|(s, _)| s)
}

/// Like [`expand_word`] but splits the result into fields on unquoted whitespace
/// (BuildKit's `ProcessWords`, used for EXPOSE/VOLUME and `FROM` platform words).
/// Whitespace coming from a variable's value splits too; empty fields are dropped.
pub fn expand_words(
    word: &str,
    escape: char,
    lookup: Lookup<'_>,
) -> Result<Vec<String>, ExpandError> {
    let mut sh = Shell::new(word, escape, lookup, Mode::default());
    sh.process().map(|(_, w)| w)
}

/// Expands the body of a `COPY`/`ADD` heredoc whose delimiter was unquoted (BuildKit's
/// `ExpandRaw`): `$V` and `${V...}` are replaced and quote characters are kept, but the
/// escape character still works (`\$V` gives `$V`) and single-quoted text is not
/// expanded. `RUN` heredoc bodies are left to the shell.
pub fn expand_heredoc(
    content: &str,
    escape: char,
    lookup: Lookup<'_>,
) -> Result<String, ExpandError> {
    let mode = Mode {
        raw_quotes: true,
        raw_escapes: false,
        skip_unset: false,
    };
    let mut sh = Shell::new(content, escape, lookup, mode);
    sh.process().map(|(s, _)| s)
}

/// Splits a line into shell words with quotes and escapes kept and unset variables left
/// as written: how BuildKit finds heredoc markers in an instruction line. `None` when
/// the line does not lex (BuildKit then finds no heredocs).
pub(crate) fn raw_words(line: &str, raw_quotes: bool, raw_escapes: bool) -> Option<Vec<String>> {
    let none = |_: &str| None;
    let mode = Mode {
        raw_quotes,
        raw_escapes,
        skip_unset: true,
    };
    let mut sh = Shell::new(line, '\\', &none, mode);
    sh.process().ok().map(|(_, w)| w)
}

/// Switches of BuildKit's lexer.
#[derive(Debug, Clone, Copy, Default)]
struct Mode {
    /// Keep quote characters in the output.
    raw_quotes: bool,
    /// Keep escape characters in the output.
    raw_escapes: bool,
    /// Leave unset variables as written instead of expanding them to nothing.
    skip_unset: bool,
}

/// Field splitting state (BuildKit's `wordsStruct`).
#[derive(Default)]
struct Fields {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Fields {
    /// An unquoted character: whitespace ends the current field.
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    /// Expanded variable text is split like unquoted text.
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    /// Quoted text never splits.
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Shell<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: Lookup<'a>,
    mode: Mode,
}

impl<'a> Shell<'a> {
    fn new(word: &str, escape: char, lookup: Lookup<'a>, mode: Mode) -> Self {
        Shell {
            chars: word.chars().collect(),
            pos: 0,
            escape,
            lookup,
            mode,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process(&mut self) -> Result<(String, Vec<String>), ExpandError> {
        let raw = self.mode.raw_escapes;
        self.process_until(None, raw)
    }

    /// Processes up to `stop` (consumed) or the end of input.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut out = String::new();
        let mut fields = Fields::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((out, fields.finish()));
            }
            match c {
                '\'' => {
                    let s = self.single_quoted()?;
                    out.push_str(&s);
                    fields.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    out.push_str(&s);
                    fields.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    out.push_str(&s);
                    fields.add_string(&s);
                }
                _ => {
                    self.pos += 1;
                    if c == self.escape {
                        if raw_escapes {
                            fields.add_raw_char(c);
                            out.push(c);
                        }
                        // A trailing escape character disappears.
                        let Some(escaped) = self.next() else { break };
                        fields.add_raw_char(escaped);
                        out.push(escaped);
                    } else {
                        fields.add_char(c);
                        out.push(c);
                    }
                }
            }
        }
        match stop {
            Some(s) => Err(ExpandError::Unterminated(s.to_string())),
            None => Ok((out, fields.finish())),
        }
    }

    /// `'...'`: everything literal; a single quote cannot be escaped.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.pos += 1;
        if self.mode.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => return Err(ExpandError::Unterminated("single-quote".into())),
                Some('\'') => {
                    if self.mode.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// `"..."`: `$` expands; the escape character escapes only `"`, `$` and itself.
    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.pos += 1;
        if self.mode.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::Unterminated("double-quote".into())),
                Some('"') => {
                    self.pos += 1;
                    if self.mode.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    let mut c = c;
                    if c == self.escape {
                        if self.mode.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// `$NAME`, `${NAME}` and `${NAME<modifier>word}`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(v) => v,
                None if self.mode.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(c) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        match c {
            '}' => Ok(match self.get(&name) {
                Some(v) => v,
                None if self.mode.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(name, c),
            '/' => self.replace(name),
            other => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// The `${NAME<op>word}` forms.
    fn modifier(&mut self, name: String, first: char) -> Result<String, ExpandError> {
        let mut op = first;
        let mut spelled = first.to_string();
        let null_is_unset = first == ':';
        if null_is_unset {
            match self.next() {
                Some(c) => {
                    op = c;
                    spelled.push(c);
                }
                None => return Err(ExpandError::MissingBrace),
            }
        }
        let pattern = op == '#' || op == '%';
        if null_is_unset && pattern || !matches!(op, '+' | '-' | '?' | '#' | '%') {
            return Err(ExpandError::UnsupportedModifier(spelled));
        }
        let word = match self.process_until(Some('}'), pattern) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err(ExpandError::MissingBrace),
            Err(e) => return Err(e),
        };
        let value = self.get(&name);
        if self.mode.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{spelled}{word}}}"));
        }
        let unset = value.is_none();
        let empty_counts = null_is_unset && value.as_deref() == Some("");
        let value = value.unwrap_or_default();
        match op {
            '-' => Ok(if unset || empty_counts { word } else { value }),
            '+' => Ok(if unset || empty_counts {
                String::new()
            } else {
                word
            }),
            '?' => {
                let default = if unset {
                    "is not allowed to be unset"
                } else {
                    "is not allowed to be empty"
                };
                if unset || empty_counts {
                    let message = if word.is_empty() {
                        default.into()
                    } else {
                        word
                    };
                    Err(ExpandError::Required { name, message })
                } else {
                    Ok(value)
                }
            }
            _ => {
                // `#`/`%` shortest match, `##`/`%%` longest.
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let pat: Vec<char> = pat.chars().collect();
                Ok(if op == '#' {
                    trim_prefix(&value, &pat, greedy)
                } else {
                    trim_suffix(&value, &pat, greedy)
                })
            }
        }
    }

    /// `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`.
    fn replace(&mut self, name: String) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let (pattern, _) = self.process_until(Some('/'), true)?;
        let (replacement, _) = match self.process_until(Some('}'), true) {
            Ok(r) => r,
            Err(_) if self.peek().is_none() => return Err(ExpandError::MissingBrace),
            Err(e) => return Err(e),
        };
        let value = self.get(&name);
        let Some(value) = value else {
            return Ok(if self.mode.skip_unset {
                format!(
                    "${{{name}/{}{pattern}/{replacement}}}",
                    if all { "/" } else { "" }
                )
            } else {
                String::new()
            });
        };
        let pat: Vec<char> = pattern.chars().collect();
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i < chars.len() {
            if all || !replaced {
                // Longest match starting at i (non-empty).
                if let Some(end) = (i + 1..=chars.len())
                    .rev()
                    .find(|&e| glob_match(&pat, &chars[i..e]))
                {
                    out.push_str(&replacement);
                    i = end;
                    replaced = true;
                    continue;
                }
            }
            out.push(chars[i]);
            i += 1;
        }
        Ok(out)
    }

    /// A variable name: letters, digits and `_`; a leading digit run or one special
    /// parameter character (`@*#?-$!0`) is a name of its own.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

fn trim_prefix(value: &str, pat: &[char], greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut ends: Vec<usize> = (0..=chars.len()).collect();
    if greedy {
        ends.reverse();
    }
    for e in ends {
        if glob_match(pat, &chars[..e]) {
            return chars[e..].iter().collect();
        }
    }
    value.to_string()
}

fn trim_suffix(value: &str, pat: &[char], greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut starts: Vec<usize> = (0..=chars.len()).collect();
    if !greedy {
        starts.reverse();
    }
    for s in starts {
        if glob_match(pat, &chars[s..]) {
            return chars[..s].iter().collect();
        }
    }
    value.to_string()
}

/// Shell pattern match of the whole `text`: `*`, `?` and `\x` (literal x).
fn glob_match(pat: &[char], text: &[char]) -> bool {
    match pat.first() {
        None => text.is_empty(),
        Some('*') => (0..=text.len()).any(|i| glob_match(&pat[1..], &text[i..])),
        Some('?') => !text.is_empty() && glob_match(&pat[1..], &text[1..]),
        Some('\\') if pat.len() > 1 => {
            text.first() == Some(&pat[1]) && glob_match(&pat[2..], &text[1..])
        }
        Some(c) => text.first() == Some(c) && glob_match(&pat[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests;
