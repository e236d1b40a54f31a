//! Differential test against the `parse-dockerfile` crate: for every golden case both
//! parsers accept, the instruction keywords, their line numbers, their flags and their
//! main arguments must agree.
//!
//! Only what both trees expose comparably is compared: ENV/LABEL/ARG are raw strings over
//! there, and shell-form commands spanning continuation lines are raw source slices, so
//! those are skipped. `SKIP` lists the cases where parse-dockerfile is known to differ
//! from BuildKit (our reference), each with the reason.

use std::fs;
use std::path::Path;

use lading_builder::dockerfile::ast::{self, Command, CopySource, Instruction};
use lading_builder::dockerfile::parse;

/// Cases where parse-dockerfile 0.1.9 disagrees with BuildKit, and why.
const SKIP: &[(&str, &str)] = &[
    (
        "continuation_eof",
        "keeps the trailing escape of the last line in the shell string",
    ),
    (
        "directive_after_comment",
        "keeps the trailing escape of the last line in the shell string",
    ),
    (
        "continuation_escaped_escape",
        "treats an escaped escape (`\\\\`) at the end of a line as a continuation",
    ),
    (
        "heredoc_fd",
        "rejects a file descriptor before `<<` (`3<<EOF`)",
    ),
    ("heredoc_multiple", "rejects several heredocs in one RUN"),
    (
        "heredoc_run_interpreter",
        "rejects a command before the heredoc (`python3 <<EOF`)",
    ),
    ("run_double_dash", "does not end the flags at a bare `--`"),
    ("run_empty_json", "rejects the empty exec form `CMD []`"),
    (
        "run_flag_quoted",
        "does not remove quotes from flag values (`--mount=\"a b\"`)",
    ),
    (
        "run_json_trailing",
        "requires the whole argument to be JSON; BuildKit decodes the first value only",
    ),
];

/// One instruction reduced to comparable data.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    keyword: String,
    line: usize,
    flags: Vec<(String, String)>,
    args: Option<Vec<String>>,
}

fn ours(df: &ast::Dockerfile) -> Vec<Summary> {
    let mut out = Vec::new();
    for a in &df.global_args {
        out.push(Summary {
            keyword: "arg".into(),
            line: a.span.line,
            flags: vec![],
            args: None,
        });
    }
    for st in &df.stages {
        let f = &st.from;
        let mut args = vec![f.node.image.clone()];
        args.extend(f.node.name.clone());
        let flags = f
            .node
            .platform
            .iter()
            .map(|p| ("platform".to_string(), p.clone()))
            .collect();
        out.push(Summary {
            keyword: "from".into(),
            line: f.span.line,
            flags,
            args: Some(args),
        });
        for i in &st.instructions {
            let single_line = i.end_line == i.span.line;
            let (keyword, flags, args) = summarize(&i.node, single_line);
            out.push(Summary {
                keyword,
                line: i.span.line,
                flags: sorted(flags),
                args,
            });
        }
    }
    out
}

fn command(c: &Command, single_line: bool) -> Option<Vec<String>> {
    match c {
        Command::Exec(v) => Some(v.clone()),
        Command::Shell(s) if single_line => Some(vec![s.clone()]),
        Command::Shell(_) => None,
    }
}

type Parts = (String, Vec<(String, String)>, Option<Vec<String>>);

fn summarize(i: &Instruction, single_line: bool) -> Parts {
    let kv = |k: &str, v: &Option<String>| -> Vec<(String, String)> {
        v.iter().map(|v| (k.to_string(), v.clone())).collect()
    };
    match i {
        Instruction::Arg(_) => ("arg".into(), vec![], None),
        Instruction::Env(_) => ("env".into(), vec![], None),
        Instruction::Label(_) => ("label".into(), vec![], None),
        Instruction::Maintainer(m) => ("maintainer".into(), vec![], Some(vec![m.clone()])),
        Instruction::Workdir(w) => ("workdir".into(), vec![], Some(vec![w.clone()])),
        Instruction::User(u) => ("user".into(), vec![], Some(vec![u.clone()])),
        Instruction::StopSignal(s) => ("stopsignal".into(), vec![], Some(vec![s.clone()])),
        Instruction::Expose(p) => ("expose".into(), vec![], Some(p.clone())),
        Instruction::Volume(v) => ("volume".into(), vec![], Some(v.clone())),
        Instruction::Shell(v) => ("shell".into(), vec![], Some(v.clone())),
        Instruction::Cmd(c) => ("cmd".into(), vec![], command(c, single_line)),
        Instruction::Entrypoint(c) => ("entrypoint".into(), vec![], command(c, single_line)),
        Instruction::Healthcheck(ast::Healthcheck::None) => {
            ("healthcheck".into(), vec![], Some(vec!["NONE".into()]))
        }
        Instruction::Healthcheck(ast::Healthcheck::Check { test, .. }) => {
            ("healthcheck".into(), vec![], command(test, single_line))
        }
        Instruction::OnBuild { instruction, .. } => {
            let (kw, _, _) = summarize(instruction, single_line);
            ("onbuild".into(), vec![], Some(vec![kw]))
        }
        Instruction::Copy(c) | Instruction::Add(c) => {
            let kw = if matches!(i, Instruction::Add(_)) {
                "add"
            } else {
                "copy"
            };
            let mut flags: Vec<(String, String)> = Vec::new();
            flags.extend(kv("from", &c.from));
            flags.extend(kv("chown", &c.chown));
            flags.extend(kv("chmod", &c.chmod));
            flags.extend(kv("checksum", &c.checksum));
            for (name, on) in [
                ("link", c.link),
                ("parents", c.parents),
                ("keep-git-dir", c.keep_git_dir),
            ] {
                if on {
                    flags.push((name.into(), "true".into()));
                }
            }
            if let Some(u) = c.unpack {
                flags.push(("unpack".into(), u.to_string()));
            }
            flags.extend(c.exclude.iter().map(|e| ("exclude".to_string(), e.clone())));
            let mut args: Vec<String> = c
                .sources
                .iter()
                .map(|s| match s {
                    CopySource::Path(p) => p.clone(),
                    CopySource::Heredoc(h) => format!("<<{}", h.name),
                })
                .collect();
            args.push(c.dest.clone());
            (kw.into(), flags, Some(args))
        }
        Instruction::Run(r) => {
            let mut flags: Vec<(String, String)> = r
                .mounts
                .iter()
                .map(|m| ("mount".to_string(), m.clone()))
                .collect();
            flags.extend(kv("network", &r.network));
            flags.extend(kv("security", &r.security));
            let args = if r.heredocs.is_empty() {
                command(&r.command, single_line)
            } else {
                None
            };
            ("run".into(), flags, args)
        }
        other => (format!("{other:?}"), vec![], None),
    }
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn theirs_flags(opts: &[parse_dockerfile::Flag<'_>]) -> Vec<(String, String)> {
    sorted(
        opts.iter()
            .map(|f| {
                let name = f.name.value.trim_start_matches('-').to_string();
                let value = f
                    .value
                    .as_ref()
                    .map_or("true".to_string(), |v| v.value.to_string());
                let value = match (name.as_str(), value.to_lowercase().as_str()) {
                    ("link" | "parents" | "keep-git-dir" | "unpack", "true") => "true".into(),
                    ("link" | "parents" | "keep-git-dir" | "unpack", "false") => "false".into(),
                    _ => value,
                };
                (name, value)
            })
            .filter(|(n, v)| !(n != "unpack" && v == "false"))
            .collect(),
    )
}

fn theirs_command(c: &parse_dockerfile::Command<'_>) -> Vec<String> {
    match c {
        parse_dockerfile::Command::Exec(v) => v.value.iter().map(|s| s.value.to_string()).collect(),
        parse_dockerfile::Command::Shell(s) => vec![s.value.trim().to_string()],
        _ => vec![],
    }
}

fn theirs(text: &str, df: &parse_dockerfile::Dockerfile<'_>, mine: &[Summary]) -> Vec<Summary> {
    use parse_dockerfile::Instruction as I;
    let mut out = Vec::new();
    for (n, ins) in df.instructions.iter().enumerate() {
        // Compare arguments only where ours has comparable ones.
        let want_args = mine.get(n).is_some_and(|m| m.args.is_some());
        let (keyword, start, flags, args): (&str, usize, Vec<(String, String)>, Vec<String>) =
            match ins {
                I::From(f) => {
                    let mut a = vec![f.image.value.to_string()];
                    a.extend(f.as_.as_ref().map(|(_, n)| n.value.to_lowercase()));
                    ("from", f.from.span.start, theirs_flags(&f.options), a)
                }
                I::Arg(a) => ("arg", a.arg.span.start, vec![], vec![]),
                I::Env(e) => ("env", e.env.span.start, vec![], vec![]),
                I::Label(l) => ("label", l.label.span.start, vec![], vec![]),
                I::Maintainer(m) => (
                    "maintainer",
                    m.maintainer.span.start,
                    vec![],
                    vec![m.name.value.to_string()],
                ),
                I::Workdir(w) => (
                    "workdir",
                    w.workdir.span.start,
                    vec![],
                    vec![w.arguments.value.to_string()],
                ),
                I::User(u) => (
                    "user",
                    u.user.span.start,
                    vec![],
                    vec![u.arguments.value.to_string()],
                ),
                I::Stopsignal(s) => (
                    "stopsignal",
                    s.stopsignal.span.start,
                    vec![],
                    vec![s.arguments.value.to_string()],
                ),
                I::Expose(e) => (
                    "expose",
                    e.expose.span.start,
                    vec![],
                    e.arguments.iter().map(|s| s.value.to_string()).collect(),
                ),
                I::Volume(v) => {
                    let a = match &v.arguments {
                        parse_dockerfile::JsonOrStringArray::Json(j) => {
                            j.value.iter().map(|s| s.value.to_string()).collect()
                        }
                        parse_dockerfile::JsonOrStringArray::String(s) => {
                            s.iter().map(|s| s.value.to_string()).collect()
                        }
                    };
                    ("volume", v.volume.span.start, vec![], a)
                }
                I::Shell(s) => (
                    "shell",
                    s.shell.span.start,
                    vec![],
                    s.arguments.iter().map(|s| s.value.to_string()).collect(),
                ),
                I::Cmd(c) => (
                    "cmd",
                    c.cmd.span.start,
                    vec![],
                    theirs_command(&c.arguments),
                ),
                I::Entrypoint(c) => (
                    "entrypoint",
                    c.entrypoint.span.start,
                    vec![],
                    theirs_command(&c.arguments),
                ),
                I::Healthcheck(h) => {
                    let a = match &h.arguments {
                        parse_dockerfile::HealthcheckArguments::Cmd { arguments, .. } => {
                            theirs_command(arguments)
                        }
                        _ => vec!["NONE".into()],
                    };
                    ("healthcheck", h.healthcheck.span.start, vec![], a)
                }
                I::Onbuild(o) => {
                    let kw = format!("{:?}", o.instruction)
                        .split('(')
                        .next()
                        .unwrap_or_default()
                        .to_lowercase();
                    ("onbuild", o.onbuild.span.start, vec![], vec![kw])
                }
                I::Copy(c) => copy_summary("copy", c.copy.span.start, &c.options, &c.src, &c.dest),
                I::Add(c) => copy_summary("add", c.add.span.start, &c.options, &c.src, &c.dest),
                I::Run(r) => (
                    "run",
                    r.run.span.start,
                    theirs_flags(&r.options),
                    theirs_command(&r.arguments),
                ),
                _ => ("unknown", 0, vec![], vec![]),
            };
        out.push(Summary {
            keyword: keyword.to_string(),
            line: line_of(text, start),
            flags,
            args: want_args.then_some(args),
        });
    }
    out
}

fn copy_summary(
    kw: &'static str,
    start: usize,
    opts: &[parse_dockerfile::Flag<'_>],
    src: &[parse_dockerfile::Source<'_>],
    dest: &parse_dockerfile::UnescapedString<'_>,
) -> (&'static str, usize, Vec<(String, String)>, Vec<String>) {
    let mut args: Vec<String> = src
        .iter()
        .map(|s| match s {
            parse_dockerfile::Source::Path(p) => p.value.to_string(),
            parse_dockerfile::Source::HereDoc(_) => "<<heredoc".to_string(),
            _ => String::new(),
        })
        .collect();
    args.push(dest.value.to_string());
    (kw, start, theirs_flags(opts), args)
}

#[test]
fn agrees_with_parse_dockerfile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/parser");
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    let mut compared = 0;
    let mut report = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if SKIP.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let text = fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let Ok(mine) = parse("Dockerfile", &text) else {
            continue;
        };
        let Ok(other) = parse_dockerfile::parse(&text) else {
            report.push(format!("{name}: parse-dockerfile rejects it"));
            continue;
        };
        let mut a = ours(&mine);
        // Heredoc sources have names over here, not over there.
        for s in a
            .iter_mut()
            .filter(|s| s.keyword == "copy" || s.keyword == "add")
        {
            if let Some(args) = &mut s.args {
                for w in args.iter_mut().filter(|w| w.starts_with("<<")) {
                    *w = "<<heredoc".into();
                }
            }
        }
        let b = theirs(&text, &other, &a);
        compared += 1;
        if a != b {
            report.push(format!("{name}:\n  ours:   {a:?}\n  theirs: {b:?}"));
        }
    }
    assert!(compared >= 40, "only {compared} cases compared");
    assert!(report.is_empty(), "{}", report.join("\n"));
}
