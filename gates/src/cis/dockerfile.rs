//! The build steps the checks read: a Dockerfile's instructions (parsed by the caller,
//! e.g. with `lading-builder`'s parser, and handed over in this neutral shape) or, without
//! a Dockerfile, the image's history (`created_by` as BuildKit, the classic builder and
//! lading write it).

/// A Dockerfile, instruction by instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The file as the user named it (for evidence).
    pub file: String,
    /// Instructions in file order.
    pub instructions: Vec<Instruction>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// Stage index (`None`: a global `ARG` before the first `FROM`).
    pub stage: Option<usize>,
    /// The instruction as written (continuations joined).
    pub source: String,
    /// What it is.
    pub body: Body,
}

/// The parts of an instruction the checks need (words raw, variables unexpanded).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// `FROM image [AS name]`.
    From {
        /// The image word.
        image: String,
        /// The stage name.
        name: Option<String>,
    },
    /// `RUN`: the shell text (exec form joined by spaces), heredoc bodies appended.
    Run(String),
    /// `ADD`.
    Add {
        /// Source words.
        sources: Vec<String>,
        /// `--checksum` given.
        checksum: bool,
        /// `--from`.
        from: Option<String>,
    },
    /// `COPY`.
    Copy {
        /// `--from`.
        from: Option<String>,
    },
    /// `USER`.
    User(String),
    /// `HEALTHCHECK` (`none`: `HEALTHCHECK NONE`).
    Healthcheck {
        /// Whether it disables the check.
        none: bool,
    },
    /// `ENV` pairs.
    Env(Vec<(String, String)>),
    /// `ARG` names and defaults.
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL` pairs.
    Label(Vec<(String, String)>),
    /// Anything else.
    Other,
}

impl Dockerfile {
    /// Index of the last stage (the one built by default).
    pub fn final_stage(&self) -> Option<usize> {
        self.instructions.iter().filter_map(|i| i.stage).max()
    }

    /// Stage names, by index.
    pub fn stage_names(&self) -> Vec<Option<String>> {
        let mut names = Vec::new();
        for i in &self.instructions {
            if let Body::From { name, .. } = &i.body {
                names.push(name.as_ref().map(|n| n.to_ascii_lowercase()));
            }
        }
        names
    }

    /// The build's `--build-arg` values: each replaces the default of the global `ARG`
    /// of that name, as docker gives them to `FROM` (other names are not declared
    /// before `FROM`, so they do not reach it).
    pub fn with_build_args(mut self, values: &std::collections::BTreeMap<String, String>) -> Self {
        for i in self.instructions.iter_mut().filter(|i| i.stage.is_none()) {
            if let Body::Arg(args) = &mut i.body {
                for (k, v) in args.iter_mut() {
                    if let Some(value) = values.get(k) {
                        *v = Some(value.clone());
                    }
                }
            }
        }
        self
    }

    /// Global `ARG` defaults (for `FROM $BASE`).
    pub fn global_args(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for i in self.instructions.iter().filter(|i| i.stage.is_none()) {
            if let Body::Arg(args) = &i.body {
                for (k, v) in args {
                    if let Some(v) = v {
                        out.push((k.clone(), unquote(v)));
                    }
                }
            }
        }
        out
    }
}

/// Removes one pair of surrounding quotes.
pub fn unquote(s: &str) -> String {
    let t = s.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_string()
}

/// Substitutes `$NAME` and `${NAME}` from `vars` (unknown names stay as written).
pub fn expand(word: &str, vars: &[(String, String)]) -> String {
    let mut out = word.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
        let plain = format!("${k}");
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&plain) {
            let after = &rest[i + plain.len()..];
            let boundary = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            result.push_str(&rest[..i]);
            result.push_str(if boundary { v } else { &plain });
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// One history entry, read back into an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryStep {
    /// Index in the config's history.
    pub index: usize,
    /// The layer it made.
    pub layer: Option<usize>,
    /// `created_by` as recorded.
    pub text: String,
    /// The instruction keyword (`RUN`, `ADD`, ...; empty when unknown).
    pub keyword: String,
    /// For `RUN`: the shell command.
    pub command: Option<String>,
    /// For `RUN` with build arguments (`|2 A=1 B=2 ...`): those arguments.
    pub build_args: Vec<(String, String)>,
    /// The instruction's arguments (after the keyword).
    pub args: String,
}

/// Reads `created_by` back: BuildKit (`RUN /bin/sh -c cmd # buildkit`, `RUN |1 A=b
/// /bin/sh -c cmd`), the classic builder (`/bin/sh -c #(nop)  ENV ...`, `/bin/sh -c cmd`)
/// and lading (`COPY a b # buildkit`, `ENV A=b`).
pub fn history_step(index: usize, layer: Option<usize>, created_by: &str) -> HistoryStep {
    let text = created_by.trim();
    let body = text.strip_suffix("# buildkit").unwrap_or(text).trim_end();
    let (keyword, args) = if let Some(rest) = body.strip_prefix("/bin/sh -c #(nop)") {
        split_keyword(rest.trim_start())
    } else if body.starts_with("/bin/sh -c ") || body.starts_with("|") {
        ("RUN".to_string(), body.to_string())
    } else {
        split_keyword(body)
    };
    let mut step = HistoryStep {
        index,
        layer,
        text: text.to_string(),
        keyword: keyword.clone(),
        command: None,
        build_args: Vec::new(),
        args: args.clone(),
    };
    if keyword == "RUN" {
        let mut rest = args.trim_start();
        // `|N k=v ...` (BuildKit records the build args a RUN saw).
        if let Some(after) = rest.strip_prefix('|') {
            let (n, tail) = after.split_once(' ').unwrap_or((after, ""));
            let count: usize = n.parse().unwrap_or(0);
            let mut tail = tail;
            for _ in 0..count {
                let (pair, next) = tail.split_once(' ').unwrap_or((tail, ""));
                if let Some((k, v)) = pair.split_once('=') {
                    step.build_args.push((k.to_string(), v.to_string()));
                }
                tail = next;
            }
            rest = tail.trim_start();
        }
        for prefix in ["/bin/sh -c ", "/bin/bash -c ", "sh -c "] {
            if let Some(cmd) = rest.strip_prefix(prefix) {
                rest = cmd;
                break;
            }
        }
        step.command = Some(rest.to_string());
    }
    step
}

fn split_keyword(text: &str) -> (String, String) {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()) {
        (word.to_ascii_uppercase(), rest.trim_start().to_string())
    } else {
        (String::new(), text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_history_forms() {
        let s = history_step(0, Some(0), "RUN /bin/sh -c apt-get update # buildkit");
        assert_eq!(
            (s.keyword.as_str(), s.command.as_deref()),
            ("RUN", Some("apt-get update"))
        );
        let s = history_step(1, None, "/bin/sh -c #(nop)  ENV A=b");
        assert_eq!((s.keyword.as_str(), s.args.as_str()), ("ENV", "A=b"));
        let s = history_step(2, Some(1), "/bin/sh -c apk add curl");
        assert_eq!(s.command.as_deref(), Some("apk add curl"));
        let s = history_step(
            3,
            Some(2),
            "RUN |2 TOKEN=abc X=1 /bin/sh -c make # buildkit",
        );
        assert_eq!(
            s.build_args,
            vec![("TOKEN".into(), "abc".into()), ("X".into(), "1".into())]
        );
        assert_eq!(s.command.as_deref(), Some("make"));
        let s = history_step(
            4,
            Some(3),
            "ADD --checksum=sha256:ab https://x/y /z # buildkit",
        );
        assert_eq!(s.keyword, "ADD");
        assert_eq!(s.args, "--checksum=sha256:ab https://x/y /z");
    }

    #[test]
    fn expands_global_args() {
        let vars = vec![("BASE".to_string(), "debian:12".to_string())];
        assert_eq!(expand("${BASE}", &vars), "debian:12");
        assert_eq!(expand("$BASE", &vars), "debian:12");
        assert_eq!(expand("$BASEX", &vars), "$BASEX");
    }

    #[test]
    fn build_args_replace_global_arg_defaults() {
        let step = |stage, body| Instruction {
            line: 1,
            stage,
            source: String::new(),
            body,
        };
        let df = Dockerfile {
            file: "Dockerfile".into(),
            instructions: vec![
                step(
                    None,
                    Body::Arg(vec![
                        ("BASE".into(), None),
                        ("TAG".into(), Some("12".into())),
                    ]),
                ),
                step(Some(0), Body::Arg(vec![("LATE".into(), None)])),
            ],
        };
        let values = [
            ("BASE".to_string(), "debian@sha256:ab".to_string()),
            ("LATE".to_string(), "x".to_string()),
        ]
        .into_iter()
        .collect();
        let df = df.with_build_args(&values);
        // Only the global ARGs are given to FROM; a stage's ARG is not.
        assert_eq!(
            df.global_args(),
            vec![
                ("BASE".to_string(), "debian@sha256:ab".to_string()),
                ("TAG".to_string(), "12".to_string())
            ]
        );
    }
}
