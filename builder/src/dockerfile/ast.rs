//! The typed syntax tree of a Dockerfile, as the parser produces it.
//!
//! Words are kept *raw* (quotes and `$VARS` still in place): BuildKit expands them at
//! dispatch time, when build arguments and the stage's environment are known. Call
//! [`super::expand`] on them then. JSON-form arguments are already decoded strings.
//!
//! Reference: <https://docs.docker.com/reference/dockerfile/> and BuildKit's
//! `frontend/dockerfile/{parser,instructions}`.

use std::time::Duration;

/// A 1-based position in the Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span {
    /// 1-based line of the instruction keyword (or of the offending token in errors).
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

/// A node together with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// Where the instruction starts.
    pub span: Span,
    /// The last line the instruction occupies (continuations and heredoc bodies included).
    pub end_line: usize,
    /// The instruction as written, continuation lines joined as BuildKit joins them
    /// (escape and newline removed, indentation kept) and comments inside continuations
    /// dropped (what BuildKit shows in history and progress),
    /// e.g. `COPY --chown=app a b /dst/`. Heredoc bodies are not included.
    pub source: String,
    /// The instruction itself.
    pub node: T,
}

/// A whole parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// Parser directives (`syntax`, `escape`, `check`), lowercase names, in file order.
    pub directives: Vec<(String, String)>,
    /// `ARG`s before the first `FROM`: the global scope.
    pub global_args: Vec<Located<Vec<ArgDecl>>>,
    /// Build stages in file order.
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `FROM` instruction that opens the stage.
    pub from: Located<From>,
    /// The instructions of the stage, in order.
    pub instructions: Vec<Located<Instruction>>,
}

/// `FROM [--platform=P] IMAGE [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// Raw image word (may contain `$ARG`s of the global scope).
    pub image: String,
    /// Stage name from `AS name`, lowercased; validated against `^[a-z][a-z0-9-_.]*$`.
    pub name: Option<String>,
    /// Raw `--platform` value.
    pub platform: Option<String>,
}

/// One `NAME[=default]` of an `ARG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// Variable name (never empty, no `=`).
    pub name: String,
    /// Raw default value word, if given (quotes not yet removed).
    pub default: Option<String>,
}

/// A `key=value` pair of `ENV` or `LABEL` (legacy `ENV key value` form included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Raw key word.
    pub key: String,
    /// Raw value word. For the legacy `ENV key value with spaces` form this is the rest
    /// of the line as one raw word.
    pub value: String,
}

/// Shell form or exec (JSON) form of `RUN`, `CMD`, `ENTRYPOINT`, `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["exe", "arg"]`: decoded JSON strings, never expanded.
    Exec(Vec<String>),
    /// `exe arg`: the raw command line handed to the shell, never expanded by the builder.
    Shell(String),
}

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// Delimiter word without quotes, e.g. `EOF`.
    pub name: String,
    /// Body, lines joined with `\n` and ending with `\n` (unless empty); leading tabs
    /// already stripped for `<<-`.
    pub content: String,
    /// `true` when the delimiter was unquoted: the body gets variable expansion.
    pub expand: bool,
    /// `true` for `<<-`.
    pub strip_tabs: bool,
}

/// A source of `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A raw path/URL/wildcard word.
    Path(String),
    /// An inline file from `COPY <<EOF /dst`.
    Heredoc(Heredoc),
}

/// `COPY` and `ADD` (the `add_*` fields only ever set for `ADD`; the parser rejects
/// `--checksum`, `--keep-git-dir` and `--unpack` on `COPY`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Sources, at least one.
    pub sources: Vec<CopySource>,
    /// Raw destination word.
    pub dest: String,
    /// `--from=` stage name, index, image or named context (raw).
    pub from: Option<String>,
    /// `--chown=` raw value.
    pub chown: Option<String>,
    /// `--chmod=` raw value.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns (repeatable), raw.
    pub exclude: Vec<String>,
    /// `ADD --checksum=` raw value.
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    /// `ADD --unpack=` (true/false), if given.
    pub unpack: Option<bool>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// What to run. With heredocs, the shell form holds the first line (e.g. `<<EOF` or
    /// `python3 <<EOF`).
    pub command: Command,
    /// Here-documents attached to the command, in order.
    pub heredocs: Vec<Heredoc>,
    /// Raw `--mount=` values (repeatable).
    pub mounts: Vec<String>,
    /// Raw `--network=` value.
    pub network: Option<String>,
    /// Raw `--security=` value.
    pub security: Option<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable an inherited check.
    None,
    /// `HEALTHCHECK [options] CMD ...`.
    Check {
        /// The test command.
        test: Command,
        /// `--interval`.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`.
        retries: Option<i64>,
    },
}

/// Every instruction that may appear after a `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Instruction {
    /// `ARG a b=c`.
    Arg(Vec<ArgDecl>),
    /// `ENV`.
    Env(Vec<KeyValue>),
    /// `LABEL`.
    Label(Vec<KeyValue>),
    /// `MAINTAINER name` (raw rest of line).
    Maintainer(String),
    /// `WORKDIR` raw path.
    Workdir(String),
    /// `USER` raw `user[:group]`.
    User(String),
    /// `EXPOSE` raw port words.
    Expose(Vec<String>),
    /// `VOLUME` paths (raw words; JSON form decoded).
    Volume(Vec<String>),
    /// `STOPSIGNAL` raw word.
    StopSignal(String),
    /// `SHELL ["exe", ...]` (JSON form only).
    Shell(Vec<String>),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD <trigger>`: the trigger text as written (what goes into the image config's
    /// `OnBuild`), and its parsed form. `ONBUILD ONBUILD`, `ONBUILD FROM` and
    /// `ONBUILD MAINTAINER` are rejected by the parser.
    OnBuild {
        /// Trigger text, e.g. `COPY . /app`.
        trigger: String,
        /// The parsed trigger.
        instruction: Box<Instruction>,
    },
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Copy),
    /// `RUN`.
    Run(Run),
}
