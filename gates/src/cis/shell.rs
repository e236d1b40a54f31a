//! Just enough POSIX shell to see which commands a `RUN` line runs: words (quotes
//! removed), split at `;`, `&&`, `||`, `|`, `&`, newlines, parentheses, `$(`, backquotes;
//! leading `VAR=value` assignments and wrappers (`sudo`, `env`, `exec`, ...) set aside;
//! `sh -c '...'` looked into.

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// `NAME=value` assignments before the command (and `env NAME=value`).
    pub assigns: Vec<(String, String)>,
    /// The command name (base name, e.g. `apt-get`) and its arguments.
    pub words: Vec<String>,
}

impl Command {
    /// The command name without its directory.
    pub fn name(&self) -> &str {
        self.words
            .first()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
            .unwrap_or("")
    }

    /// The arguments.
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }
}

enum Tok {
    Word(String),
    Sep,
}

fn tokenize(script: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let flush = |out: &mut Vec<Tok>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            out.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    word.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => {
                            if let Some(&m) = chars.peek() {
                                if matches!(m, '"' | '\\' | '$' | '`') {
                                    word.push(m);
                                    chars.next();
                                    continue;
                                }
                                if m == '\n' {
                                    chars.next();
                                    continue;
                                }
                            }
                            word.push('\\');
                        }
                        n => word.push(n),
                    }
                }
            }
            '#' if !in_word => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                out.push(Tok::Sep);
            }
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' | '{' | '}'
                if !(c == '{' || c == '}') || !in_word =>
            {
                flush(&mut out, &mut word, &mut in_word);
                out.push(Tok::Sep);
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                flush(&mut out, &mut word, &mut in_word);
                out.push(Tok::Sep);
            }
            c if c.is_whitespace() => flush(&mut out, &mut word, &mut in_word),
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut out, &mut word, &mut in_word);
    out
}

const WRAPPERS: &[&str] = &[
    "sudo",
    "env",
    "exec",
    "nohup",
    "time",
    "command",
    "builtin",
    "nice",
    "stdbuf",
    "xargs",
    "if",
    "then",
    "else",
    "elif",
    "do",
    "while",
    "until",
    "!",
    "eatmydata",
];

fn is_assignment(w: &str) -> Option<(String, String)> {
    let (name, value) = w.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then(|| (name.to_string(), value.to_string()))
}

fn finish(words: Vec<String>, out: &mut Vec<Command>, depth: usize) {
    let mut cmd = Command::default();
    let mut iter = words.into_iter().peekable();
    while let Some(w) = iter.peek() {
        if let Some(a) = is_assignment(w) {
            cmd.assigns.push(a);
            iter.next();
        } else if WRAPPERS.contains(&w.rsplit('/').next().unwrap_or(w)) {
            let wrapper = iter.next().unwrap_or_default();
            // Options of the wrapper (`sudo -u app`, `env -i`, `nice -n 5`).
            while let Some(o) = iter.peek() {
                if !o.starts_with('-') {
                    break;
                }
                let takes_value = matches!(
                    (wrapper.as_str(), o.as_str()),
                    (
                        "sudo",
                        "-u" | "-g" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t" | "-U"
                    ) | ("nice", "-n")
                        | ("env", "-u" | "-C" | "-S")
                        | (
                            "xargs",
                            "-I" | "-n" | "-P" | "-d" | "-L" | "-s" | "-a" | "-E"
                        )
                );
                iter.next();
                if takes_value {
                    iter.next();
                }
            }
        } else {
            break;
        }
    }
    cmd.words = iter.collect();
    if cmd.words.is_empty() && cmd.assigns.is_empty() {
        return;
    }
    // `sh -c 'script'`: the script's commands count too.
    let shell = matches!(
        cmd.name(),
        "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh" | "busybox"
    );
    if shell && depth < 4 {
        let args = cmd.args();
        let script = args
            .iter()
            .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))
            .and_then(|i| args.get(i + 1))
            .cloned();
        if let Some(script) = script {
            out.push(cmd);
            parse_into(&script, out, depth + 1);
            return;
        }
    }
    out.push(cmd);
}

fn parse_into(script: &str, out: &mut Vec<Command>, depth: usize) {
    let mut words = Vec::new();
    for tok in tokenize(script) {
        match tok {
            Tok::Word(w) => words.push(w),
            Tok::Sep => finish(std::mem::take(&mut words), out, depth),
        }
    }
    finish(words, out, depth);
}

/// The simple commands of a shell script, in order.
pub fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    parse_into(script, &mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        commands(s)
            .iter()
            .filter(|c| !c.words.is_empty())
            .map(|c| c.words.join(" "))
            .collect()
    }

    #[test]
    fn splits_lists_and_pipes() {
        assert_eq!(
            names("apt-get update && apt-get install -y curl; echo 'a && b' | tee x"),
            vec![
                "apt-get update",
                "apt-get install -y curl",
                "echo a && b",
                "tee x"
            ]
        );
        assert_eq!(
            names("set -eux; \\\n  sudo -u app DEBIAN_FRONTEND=x apt-get -q update # done\nls"),
            vec!["set -eux", "apt-get -q update", "ls"]
        );
        assert_eq!(names("x=$(curl -k https://a)"), vec!["curl -k https://a"]);
        assert_eq!(
            names("/bin/sh -c \"apk update\""),
            vec!["/bin/sh -c apk update", "apk update"]
        );
    }

    #[test]
    fn assignments_are_kept() {
        let c = commands("NODE_TLS_REJECT_UNAUTHORIZED=0 npm ci");
        assert_eq!(
            c[0].assigns,
            vec![("NODE_TLS_REJECT_UNAUTHORIZED".into(), "0".into())]
        );
        assert_eq!(c[0].name(), "npm");
        let c = commands("env GIT_SSL_NO_VERIFY=1 git clone x");
        assert_eq!(c[0].assigns[0].0, "GIT_SSL_NO_VERIFY");
        assert_eq!(c[0].name(), "git");
    }
}
