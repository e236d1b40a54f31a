//! Golden tests for the Dockerfile parser.
//!
//! `testdata/parser/<case>/Dockerfile` must parse to the `{:#?}` dump in `ast`;
//! `testdata/parser/negative/<case>/Dockerfile` must fail with exactly the message in
//! `error`. Run with `UPDATE_GOLDEN=1` to rewrite the expectations, then review them.

use std::fs;
use std::path::{Path, PathBuf};

use lading_builder::dockerfile::parse;

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    out.sort();
    out
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/parser")
}

fn check(case: &Path, file: &str, actual: &str, failures: &mut Vec<String>) {
    let path = case.join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn golden_asts() {
    let mut failures = Vec::new();
    let all = cases(&root());
    for case in &all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let actual = match parse("Dockerfile", &text) {
            Ok(ast) => format!("{ast:#?}\n"),
            Err(e) => format!("unexpected error: {e}\n"),
        };
        check(case, "ast", &actual, &mut failures);
    }
    assert!(all.len() >= 60, "only {} golden cases", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn golden_errors() {
    let mut failures = Vec::new();
    let all = cases(&root().join("negative"));
    for case in &all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let actual = match parse("Dockerfile", &text) {
            Ok(_) => "unexpectedly parsed\n".to_string(),
            Err(e) => format!("{e}\n"),
        };
        check(case, "error", &actual, &mut failures);
    }
    assert!(all.len() >= 25, "only {} negative cases", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn onbuild_triggers_reparse() {
    use lading_builder::dockerfile::ast::{Command, Instruction};
    use lading_builder::dockerfile::parse_instruction;

    let i = parse_instruction("RUN <<EOF\necho hi\nEOF", '\\').unwrap();
    let Instruction::Run(run) = i else {
        panic!("not a RUN: {i:?}")
    };
    assert_eq!(run.command, Command::Shell("<<EOF".into()));
    assert_eq!(run.heredocs[0].content, "echo hi\n");

    let i = parse_instruction("COPY a `\n  /b", '`').unwrap();
    assert!(matches!(i, Instruction::Copy(c) if c.dest == "/b"));

    let e = parse_instruction("FROM alpine", '\\').unwrap_err();
    assert_eq!(
        e.to_string(),
        "<instruction>:1:1: FROM isn't allowed as an ONBUILD trigger"
    );
    assert!(parse_instruction("RUN a\nRUN b", '\\').is_err());
}
