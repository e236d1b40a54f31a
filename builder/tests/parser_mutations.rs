//! The Dockerfile frontend never panics on malformed input: every golden Dockerfile
//! (`testdata/parser/**/Dockerfile`) is mutated a fixed number of times with a fixed
//! seed (characters dropped, duplicated, or the syntax the frontend cares about spliced
//! in) and each result goes through the parser, the ONBUILD trigger parser, word and
//! heredoc expansion and the `.dockerignore` matcher, which must answer `Ok` or `Err`.
//! `fuzz/` has the coverage-guided version of this (`cargo fuzz run dockerfile`).

use std::fs;
use std::path::{Path, PathBuf};

use lading_builder::context::ignore::IgnoreMatcher;
use lading_builder::dockerfile::{
    expand_heredoc, expand_word, expand_words, parse, parse_instruction,
};

const MUTATIONS_PER_FILE: usize = 80;

/// Syntax the lexer, parser and expander branch on.
const SPLICES: [&str; 36] = [
    "\\\n",
    "`\n",
    "\n",
    "<<EOF\n",
    "<<-EOF\n",
    "<<'EOF'\n",
    "<<\"E\"",
    "\nEOF\n",
    "EOF",
    "${",
    "}",
    "${A:-",
    "${A:+x}",
    "${A#*}",
    "${A%%?}",
    "${A/x/y}",
    "$",
    "\"",
    "'",
    "[",
    "]",
    "[\"a\",",
    "# escape=`\n",
    "# syntax=x\n",
    "#",
    "--",
    "--mount=type=",
    "=",
    " AS ",
    "FROM ",
    "RUN ",
    "ONBUILD ",
    "HEALTHCHECK --interval=",
    "\t",
    "\u{feff}",
    "é",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

fn goldens(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            goldens(&p, out);
        } else if p.file_name().is_some_and(|n| n == "Dockerfile") {
            out.push(p);
        }
    }
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.next() % 3 {
        let at = rng.next() % (chars.len() + 1);
        match rng.next() % 4 {
            0 if at < chars.len() => {
                let n = 1 + rng.next() % 8;
                chars.drain(at..(at + n).min(chars.len()));
            }
            1 if at < chars.len() => {
                let n = (1 + rng.next() % 16).min(chars.len() - at);
                let copy: Vec<char> = chars[at..at + n].to_vec();
                let to = rng.next() % (chars.len() + 1);
                chars.splice(to..to, copy);
            }
            _ => {
                let s = SPLICES[rng.next() % SPLICES.len()];
                chars.splice(at..at, s.chars());
            }
        }
    }
    chars.into_iter().collect()
}

fn exercise(text: &str) {
    let lookup = |name: &str| (name == "A").then(|| "a b".to_string());
    let _ = parse("Dockerfile", text);
    for escape in ['\\', '`'] {
        let _ = parse_instruction(text, escape);
        let _ = expand_word(text, escape, &lookup);
        let _ = expand_words(text, escape, &lookup);
        let _ = expand_heredoc(text, escape, &lookup);
    }
    if let Ok(m) = IgnoreMatcher::parse(text) {
        for p in ["a", "a/b", "a/b/c.txt", ".git", ""] {
            let _ = m.is_excluded(p);
            let _ = m.may_contain_included(p);
        }
    }
}

#[test]
fn mutated_golden_dockerfiles_never_panic() {
    let mut files = Vec::new();
    goldens(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/parser"),
        &mut files,
    );
    assert!(files.len() > 50, "goldens not found: {}", files.len());
    let mut rng = Rng(0x1ad1_7e57);
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        for _ in 0..MUTATIONS_PER_FILE {
            let m = mutate(&mut rng, &text);
            let outcome = std::panic::catch_unwind(|| exercise(&m));
            assert!(outcome.is_ok(), "{} mutated to {m:?} panics", f.display());
        }
    }
}
