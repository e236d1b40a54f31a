//! Logical lines to the typed syntax tree. Splitting, flag extraction, JSON-vs-shell
//! form and argument checks follow BuildKit's `parser/line_parsers.go` and
//! `instructions/parse.go`; messages are BuildKit's, first letter lowercased.

use super::ast::{
    ArgDecl, Command, Copy, CopySource, Dockerfile, From, Healthcheck, Heredoc, Instruction,
    KeyValue, Located, Run, Span, Stage,
};
use super::duration::parse_go_duration;
use super::error::ParseError;
use super::expand::raw_words;
use super::flags::{self, Kind};
use super::lexer::{Lexer, Logical};
use super::words::{JsonError, extract_flags, is_split_ws, parse_json, parse_words, split_ws};

/// Parses a whole Dockerfile. `file_name` only appears in error messages.
pub fn parse(file_name: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let mut lx = Lexer::new(file_name, text, '\\', true);
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut seen_any = false;
    while let Some(lg) = lx.next_logical()? {
        seen_any = true;
        let (located, parsed) = read_instruction(file_name, &mut lx, lg)?;
        let node = match parsed {
            Parsed::From(from) => {
                stages.push(Stage {
                    from: located.with(from),
                    instructions: Vec::new(),
                });
                continue;
            }
            Parsed::Instr(i) => i,
        };
        match (stages.last_mut(), node) {
            (Some(stage), node) => stage.instructions.push(located.with(node)),
            (None, Instruction::Arg(decls)) => global_args.push(located.with(decls)),
            (None, _) => {
                return Err(error_at(
                    file_name,
                    located.span,
                    "no build stage in current context",
                ));
            }
        }
    }
    if !seen_any {
        let span = Span {
            line: lx.line().max(1),
            column: 1,
        };
        return Err(error_at(file_name, span, "file with no instructions"));
    }
    if stages.is_empty() {
        let span = Span { line: 1, column: 1 };
        return Err(error_at(
            file_name,
            span,
            "dockerfile contains no stages to build",
        ));
    }
    Ok(Dockerfile {
        escape: lx.escape,
        directives: lx.directives,
        global_args,
        stages,
    })
}

/// Parses one instruction, e.g. an `ONBUILD` trigger inherited from a base image
/// (heredoc bodies included, as BuildKit stores them). `FROM`, `ONBUILD` and
/// `MAINTAINER` are rejected, as they are not allowed as triggers.
pub fn parse_instruction(text: &str, escape: char) -> Result<Instruction, ParseError> {
    const FILE: &str = "<instruction>";
    let mut lx = Lexer::new(FILE, text, escape, false);
    let Some(lg) = lx.next_logical()? else {
        return Err(error_at(
            FILE,
            Span { line: 1, column: 1 },
            "empty instruction",
        ));
    };
    let p = LineParser {
        file: FILE,
        lg: &lg,
        escape,
    };
    let s = p.split(0);
    p.check_trigger(&s)?;
    let (located, parsed) = read_instruction(FILE, &mut lx, lg.clone())?;
    if let Some(extra) = lx.next_logical()? {
        return Err(error_at(FILE, extra.at(0), "expected a single instruction"));
    }
    match parsed {
        Parsed::Instr(i) => Ok(i),
        Parsed::From(_) => Err(error_at(
            FILE,
            located.span,
            "FROM isn't allowed as an ONBUILD trigger",
        )),
    }
}

fn error_at(file: &str, span: Span, message: &str) -> ParseError {
    ParseError {
        file: file.to_string(),
        line: span.line,
        column: span.column,
        message: message.to_string(),
    }
}

/// Everything of a [`Located`] but the node.
struct Place {
    span: Span,
    end_line: usize,
    source: String,
}

impl Place {
    fn with<T>(&self, node: T) -> Located<T> {
        Located {
            span: self.span,
            end_line: self.end_line,
            source: self.source.clone(),
            node,
        }
    }
}

/// `FROM` opens a stage, so it is not an [`Instruction`].
enum Parsed {
    From(From),
    Instr(Instruction),
}

/// A heredoc as read from the file, before `<<-` tab stripping.
struct Doc {
    name: String,
    raw: String,
    expand: bool,
    strip_tabs: bool,
}

impl Doc {
    fn to_ast(&self) -> Heredoc {
        Heredoc {
            name: self.name.clone(),
            content: if self.strip_tabs {
                strip_leading_tabs(&self.raw)
            } else {
                self.raw.clone()
            },
            expand: self.expand,
            strip_tabs: self.strip_tabs,
        }
    }
}

/// BuildKit's `ChompHeredocContent`: leading tabs go from every line.
fn strip_leading_tabs(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// A heredoc marker in an instruction line, as BuildKit's `ParseHeredoc` sees it:
/// `[fd]<<[-]WORD` where WORD lexes to one shell word; quoting any part of it turns
/// expansion off.
fn heredoc_marker(word: &str) -> Option<(String, bool, bool)> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let words = raw_words(rest, false, false)?;
    let [name] = words.as_slice() else {
        return None;
    };
    let raw = raw_words(rest, true, false)?;
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    let expand = raw.first().map(|r| quotes(r)) == Some(quotes(name));
    Some((name.clone(), expand, strip_tabs))
}

/// Reads the instruction starting with `lg` (and its heredoc bodies) from `lx`.
fn read_instruction(
    file: &str,
    lx: &mut Lexer<'_>,
    lg: Logical,
) -> Result<(Place, Parsed), ParseError> {
    let p = LineParser {
        file,
        lg: &lg,
        escape: lx.escape,
    };
    let mut docs = Vec::new();
    if p.can_contain_heredoc(0) {
        for word in raw_words(&lg.text, true, true).unwrap_or_default() {
            let Some((name, expand, strip_tabs)) = heredoc_marker(&word) else {
                continue;
            };
            let Some(raw) = lx.heredoc_body(&name, strip_tabs) else {
                return Err(p.err(p.split(0).kw_off, "unterminated heredoc"));
            };
            docs.push(Doc {
                name,
                raw,
                expand,
                strip_tabs,
            });
        }
    }
    let place = Place {
        span: lg.at(p.split(0).kw_off),
        end_line: lx.line().max(lg.end_line),
        source: lg.text.trim().to_string(),
    };
    let parsed = p.instruction(0, &docs)?;
    Ok((place, parsed))
}

/// An instruction line cut into keyword, flags and arguments, with offsets into the
/// logical line's text.
struct Split<'t> {
    keyword: &'t str,
    kw_off: usize,
    flags: Vec<(usize, String)>,
    args: &'t str,
    args_off: usize,
}

struct LineParser<'a> {
    file: &'a str,
    lg: &'a Logical,
    escape: char,
}

impl LineParser<'_> {
    fn err(&self, off: usize, message: impl Into<String>) -> ParseError {
        let span = self.lg.at(off);
        ParseError {
            file: self.file.to_string(),
            line: span.line,
            column: span.column,
            message: message.into(),
        }
    }

    /// BuildKit's `splitCommand` on the text from `off`: trim, keyword up to the first
    /// blank, then leading `--flags`, then the trimmed arguments.
    fn split(&self, off: usize) -> Split<'_> {
        let text = &self.lg.text;
        let line = &text[off..];
        let kw_off = off + (line.len() - line.trim_start().len());
        let end = off + line.trim_end().len();
        let body = &text[kw_off..end.max(kw_off)];
        let kw_len = body.find(is_split_ws).unwrap_or(body.len());
        let keyword = &body[..kw_len];
        let after = &body[kw_len..];
        let rest_off =
            kw_off + kw_len + (after.len() - after.trim_start_matches(is_split_ws).len());
        let rest = &text[rest_off..end.max(rest_off)];
        let (flag_words, args_at) = extract_flags(rest);
        let flags = flag_words
            .into_iter()
            .map(|(o, w)| (rest_off + o, w))
            .collect();
        let args_raw = &rest[args_at..];
        let args = args_raw.trim();
        let args_off = rest_off + args_at + (args_raw.len() - args_raw.trim_start().len());
        Split {
            keyword,
            kw_off,
            flags,
            args,
            args_off,
        }
    }

    /// BuildKit's `canContainHeredoc`: RUN, COPY, ADD (also as ONBUILD triggers) in
    /// shell form.
    fn can_contain_heredoc(&self, off: usize) -> bool {
        let s = self.split(off);
        match s.keyword.to_lowercase().as_str() {
            "onbuild" => !s.args.is_empty() && self.can_contain_heredoc(s.args_off),
            "run" | "copy" | "add" => parse_json(s.args).is_err(),
            _ => false,
        }
    }

    fn flags(
        &self,
        s: &Split<'_>,
        spec: &[(&'static str, Kind)],
    ) -> Result<flags::Flags, ParseError> {
        flags::parse(&s.flags, spec).map_err(|(off, msg)| self.err(off, msg))
    }

    /// Where `--name` was written (for errors about its value).
    fn flag_off(&self, s: &Split<'_>, name: &str) -> usize {
        let prefix = format!("--{name}");
        s.flags
            .iter()
            .rev()
            .find(|(_, w)| w.split('=').next() == Some(prefix.as_str()))
            .map_or(s.kw_off, |(o, _)| *o)
    }

    /// Shell or exec form (`parseMaybeJSON`).
    fn command(&self, s: &Split<'_>) -> Result<Command, ParseError> {
        if s.args.is_empty() {
            return Ok(Command::Shell(String::new()));
        }
        match parse_json(s.args) {
            Ok(v) => Ok(Command::Exec(v)),
            Err(JsonError::NotStrings) => Err(self.err(s.args_off, NOT_STRINGS)),
            Err(JsonError::NotJson) => Ok(Command::Shell(s.args.to_string())),
        }
    }

    /// JSON array or whitespace-separated words (`parseMaybeJSONToList`).
    fn list(&self, s: &Split<'_>) -> Result<Vec<(usize, String)>, ParseError> {
        match parse_json(s.args) {
            Ok(v) => Ok(v.into_iter().map(|w| (s.args_off, w)).collect()),
            Err(JsonError::NotStrings) => Err(self.err(s.args_off, NOT_STRINGS)),
            Err(JsonError::NotJson) => Ok(self.ws_words(s)),
        }
    }

    fn ws_words(&self, s: &Split<'_>) -> Vec<(usize, String)> {
        split_ws(s.args)
            .into_iter()
            .map(|(o, w)| (s.args_off + o, w))
            .collect()
    }

    /// The rest of the line as one argument (`parseString`), required.
    fn exactly_one(&self, s: &Split<'_>, kw: &str) -> Result<String, ParseError> {
        if s.args.is_empty() {
            return Err(self.err(s.kw_off, format!("{kw} requires exactly one argument")));
        }
        self.flags(s, &[])?;
        Ok(s.args.to_string())
    }

    /// Rejects triggers BuildKit does not allow after `ONBUILD`.
    fn check_trigger(&self, s: &Split<'_>) -> Result<(), ParseError> {
        let kw = s.keyword.to_uppercase();
        match kw.as_str() {
            "ONBUILD" => Err(self.err(
                s.kw_off,
                "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            )),
            "MAINTAINER" | "FROM" => Err(self.err(
                s.kw_off,
                format!("{kw} isn't allowed as an ONBUILD trigger"),
            )),
            _ => Ok(()),
        }
    }

    fn instruction(&self, off: usize, docs: &[Doc]) -> Result<Parsed, ParseError> {
        let s = self.split(off);
        let instr = match s.keyword.to_lowercase().as_str() {
            "from" => return self.from(&s).map(Parsed::From),
            "arg" => Instruction::Arg(self.arg(&s)?),
            "env" => Instruction::Env(self.name_values(&s, "ENV")?),
            "label" => Instruction::Label(self.name_values(&s, "LABEL")?),
            "maintainer" => Instruction::Maintainer(self.exactly_one(&s, "MAINTAINER")?),
            "workdir" => Instruction::Workdir(self.exactly_one(&s, "WORKDIR")?),
            "user" => Instruction::User(self.exactly_one(&s, "USER")?),
            "stopsignal" => Instruction::StopSignal(self.exactly_one(&s, "STOPSIGNAL")?),
            "expose" => {
                let ports = self.ws_words(&s);
                if ports.is_empty() {
                    return Err(self.err(s.kw_off, "EXPOSE requires at least one argument"));
                }
                self.flags(&s, &[])?;
                Instruction::Expose(ports.into_iter().map(|(_, w)| w).collect())
            }
            "volume" => Instruction::Volume(self.volume(&s)?),
            "shell" => Instruction::Shell(self.shell(&s)?),
            "cmd" => {
                let c = self.command(&s)?;
                self.flags(&s, &[])?;
                Instruction::Cmd(c)
            }
            "entrypoint" => {
                let c = self.command(&s)?;
                self.flags(&s, &[])?;
                Instruction::Entrypoint(c)
            }
            "healthcheck" => Instruction::Healthcheck(self.healthcheck(&s)?),
            "onbuild" => self.onbuild(&s, off, docs)?,
            "copy" => Instruction::Copy(self.copy(&s, false, docs)?),
            "add" => Instruction::Add(self.copy(&s, true, docs)?),
            "run" => Instruction::Run(self.run(&s, docs)?),
            _ => {
                return Err(self.err(s.kw_off, format!("unknown instruction: {}", s.keyword)));
            }
        };
        Ok(Parsed::Instr(instr))
    }

    fn from(&self, s: &Split<'_>) -> Result<From, ParseError> {
        let words = self.ws_words(s);
        let mut name = None;
        match words.as_slice() {
            [_] => {}
            [_, (_, kw), (off, n)] if kw.eq_ignore_ascii_case("as") => {
                let lower = n.to_lowercase();
                if !valid_stage_name(&lower) {
                    return Err(self.err(
                        *off,
                        format!(
                            "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                        ),
                    ));
                }
                name = Some(lower);
            }
            _ => {
                return Err(self.err(s.kw_off, "FROM requires either one or three arguments"));
            }
        }
        let flags = self.flags(s, &[("platform", Kind::Str)])?;
        Ok(From {
            image: words.first().map(|(_, w)| w.clone()).unwrap_or_default(),
            name,
            platform: flags.str("platform"),
        })
    }

    fn arg(&self, s: &Split<'_>) -> Result<Vec<ArgDecl>, ParseError> {
        let words = parse_words(s.args, self.escape);
        if words.is_empty() {
            return Err(self.err(s.kw_off, "ARG requires at least one argument"));
        }
        self.flags(s, &[])?;
        words
            .into_iter()
            .map(|(o, w)| match w.split_once('=') {
                Some(("", _)) => Err(self.err(s.args_off + o, "ARG names can not be blank")),
                Some((k, v)) => Ok(ArgDecl {
                    name: k.to_string(),
                    default: Some(v.to_string()),
                }),
                None => Ok(ArgDecl {
                    name: w,
                    default: None,
                }),
            })
            .collect()
    }

    /// ENV and LABEL (`parseNameVal`): `k=v ...`, or the legacy `k rest of line`, decided
    /// by whether the first word has an `=`.
    fn name_values(&self, s: &Split<'_>, kw: &str) -> Result<Vec<KeyValue>, ParseError> {
        let words = parse_words(s.args, self.escape);
        let Some((_, first)) = words.first() else {
            return Err(self.err(s.kw_off, format!("{kw} requires at least one argument")));
        };
        let pairs = if !first.contains('=') {
            let key_len = s.args.find(is_split_ws).unwrap_or(s.args.len());
            let value = s.args[key_len..].trim_start_matches(is_split_ws);
            if value.is_empty() {
                return Err(self.err(s.args_off, format!("{kw} must have two arguments")));
            }
            vec![KeyValue {
                key: s.args[..key_len].to_string(),
                value: value.to_string(),
            }]
        } else {
            let mut pairs = Vec::new();
            for (o, w) in &words {
                let Some((k, v)) = w.split_once('=') else {
                    return Err(self.err(
                        s.args_off + o,
                        format!(
                            "syntax error - can't find = in {w:?}. Must be of the form: name=value"
                        ),
                    ));
                };
                if k.is_empty() {
                    return Err(self.err(s.args_off + o, format!("{kw} names can not be blank")));
                }
                pairs.push(KeyValue {
                    key: k.to_string(),
                    value: v.to_string(),
                });
            }
            pairs
        };
        self.flags(s, &[])?;
        Ok(pairs)
    }

    fn volume(&self, s: &Split<'_>) -> Result<Vec<String>, ParseError> {
        let words = self.list(s)?;
        if words.is_empty() {
            return Err(self.err(s.kw_off, "VOLUME requires at least one argument"));
        }
        self.flags(s, &[])?;
        if let Some((o, _)) = words.iter().find(|(_, w)| w.is_empty()) {
            return Err(self.err(*o, "VOLUME specified can not be an empty string"));
        }
        Ok(words.into_iter().map(|(_, w)| w).collect())
    }

    fn shell(&self, s: &Split<'_>) -> Result<Vec<String>, ParseError> {
        match self.command(s)? {
            Command::Exec(v) if !v.is_empty() => {
                self.flags(s, &[])?;
                Ok(v)
            }
            Command::Shell(c) if !c.is_empty() => Err(self.err(
                s.args_off,
                "SHELL requires the arguments to be in JSON form",
            )),
            _ => Err(self.err(s.kw_off, "SHELL requires at least one argument")),
        }
    }

    fn healthcheck(&self, s: &Split<'_>) -> Result<Healthcheck, ParseError> {
        let typ_len = s.args.find(char::is_whitespace).unwrap_or(s.args.len());
        if typ_len == 0 {
            return Err(self.err(s.kw_off, "HEALTHCHECK requires at least one argument"));
        }
        let typ = s.args[..typ_len].to_uppercase();
        let after = &s.args[typ_len..];
        let rest = after.trim_start();
        let rest_off = s.args_off + typ_len + (after.len() - rest.len());
        if typ == "NONE" {
            if !rest.is_empty() {
                return Err(self.err(rest_off, "HEALTHCHECK NONE takes no arguments"));
            }
            return Ok(Healthcheck::None);
        }
        let flags = self.flags(
            s,
            &[
                ("interval", Kind::Str),
                ("timeout", Kind::Str),
                ("start-period", Kind::Str),
                ("start-interval", Kind::Str),
                ("retries", Kind::Str),
            ],
        )?;
        if typ != "CMD" {
            return Err(self.err(
                s.args_off,
                format!("unknown type {typ:?} in HEALTHCHECK (try CMD)"),
            ));
        }
        let sub = Split {
            keyword: s.keyword,
            kw_off: s.kw_off,
            flags: Vec::new(),
            args: rest,
            args_off: rest_off,
        };
        let test = self.command(&sub)?;
        if matches!(&test, Command::Shell(c) if c.is_empty())
            || matches!(&test, Command::Exec(v) if v.is_empty())
        {
            return Err(self.err(s.args_off, "missing command after HEALTHCHECK CMD"));
        }
        let duration = |name: &str| -> Result<_, ParseError> {
            let Some(v) = flags.str(name) else {
                return Ok(None);
            };
            if v.is_empty() {
                return Ok(None);
            }
            let off = self.flag_off(s, name);
            match parse_go_duration(&v) {
                Ok(d) if d.is_zero() || d.as_nanos() >= 1_000_000 => Ok(Some(d)),
                Ok(_) | Err(true) => {
                    Err(self.err(off, format!("interval {name:?} cannot be less than 1ms")))
                }
                Err(false) => Err(self.err(off, format!("time: invalid duration {v:?}"))),
            }
        };
        let interval = duration("interval")?;
        let timeout = duration("timeout")?;
        let start_period = duration("start-period")?;
        let start_interval = duration("start-interval")?;
        let retries = match flags.str("retries").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let off = self.flag_off(s, "retries");
                let n: i32 = v.parse().map_err(|_| {
                    self.err(
                        off,
                        format!("strconv.ParseInt: parsing {v:?}: invalid syntax"),
                    )
                })?;
                if n < 0 {
                    return Err(self.err(off, format!("--retries cannot be negative ({n})")));
                }
                Some(i64::from(n))
            }
        };
        Ok(Healthcheck::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        })
    }

    fn onbuild(&self, s: &Split<'_>, off: usize, docs: &[Doc]) -> Result<Instruction, ParseError> {
        if s.args.is_empty() {
            return Err(self.err(s.kw_off, "ONBUILD requires at least one argument"));
        }
        self.flags(s, &[])?;
        let sub = self.split(s.args_off);
        self.check_trigger(&sub)?;
        // The trigger is the line as written minus `ONBUILD` (BuildKit keeps the rest
        // verbatim), followed by any heredocs with their terminators.
        let line = &self.lg.text[off..];
        let after_kw = &line[(s.kw_off - off) + s.keyword.len()..];
        let mut trigger = after_kw
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .to_string();
        for d in docs {
            trigger.push('\n');
            trigger.push_str(&d.raw);
            trigger.push_str(&d.name);
        }
        match self.instruction(s.args_off, docs)? {
            Parsed::Instr(i) => Ok(Instruction::OnBuild {
                trigger,
                instruction: Box::new(i),
            }),
            Parsed::From(_) => {
                Err(self.err(sub.kw_off, "FROM isn't allowed as an ONBUILD trigger"))
            }
        }
    }

    fn copy(&self, s: &Split<'_>, is_add: bool, docs: &[Doc]) -> Result<Copy, ParseError> {
        let kw = if is_add { "ADD" } else { "COPY" };
        let args = self.list(s)?;
        if args.len() < 2 {
            return Err(self.err(
                s.kw_off,
                format!(
                    "{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
                ),
            ));
        }
        let spec: &[(&str, Kind)] = if is_add {
            &[
                ("chown", Kind::Str),
                ("chmod", Kind::Str),
                ("link", Kind::Bool),
                ("keep-git-dir", Kind::Bool),
                ("checksum", Kind::Str),
                ("exclude", Kind::Strs),
                ("unpack", Kind::Bool),
            ]
        } else {
            &[
                ("from", Kind::Str),
                ("chown", Kind::Str),
                ("chmod", Kind::Str),
                ("link", Kind::Bool),
                ("parents", Kind::Bool),
                ("exclude", Kind::Strs),
            ]
        };
        let flags = self.flags(s, spec)?;
        let Some(((dest_off, dest), sources)) = args.split_last() else {
            return Err(self.err(s.kw_off, format!("{kw} requires at least two arguments")));
        };
        if heredoc_marker(dest).is_some() {
            return Err(self.err(
                *dest_off,
                format!("{kw} cannot accept a heredoc as a destination"),
            ));
        }
        let sources = sources
            .iter()
            .map(|(_, w)| match heredoc_marker(w) {
                Some((name, expand, strip_tabs)) => {
                    // Like BuildKit: the body comes from the heredoc of that name.
                    let raw = docs
                        .iter()
                        .rev()
                        .find(|d| d.name == name)
                        .map(|d| d.raw.clone())
                        .unwrap_or_default();
                    CopySource::Heredoc(
                        Doc {
                            name,
                            raw,
                            expand,
                            strip_tabs,
                        }
                        .to_ast(),
                    )
                }
                None => CopySource::Path(w.clone()),
            })
            .collect();
        Ok(Copy {
            sources,
            dest: dest.clone(),
            from: flags.str("from"),
            chown: flags.str("chown"),
            chmod: flags.str("chmod"),
            link: flags.bool("link").unwrap_or(false),
            parents: flags.bool("parents").unwrap_or(false),
            exclude: flags.all("exclude").to_vec(),
            checksum: flags.str("checksum"),
            keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
            unpack: flags.bool("unpack"),
        })
    }

    fn run(&self, s: &Split<'_>, docs: &[Doc]) -> Result<Run, ParseError> {
        let command = self.command(s)?;
        let flags = self.flags(
            s,
            &[
                ("mount", Kind::Strs),
                ("network", Kind::Str),
                ("security", Kind::Str),
            ],
        )?;
        Ok(Run {
            command,
            heredocs: docs.iter().map(Doc::to_ast).collect(),
            mounts: flags.all("mount").to_vec(),
            network: flags.str("network"),
            security: flags.str("security"),
        })
    }
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}
