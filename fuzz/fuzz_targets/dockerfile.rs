//! The Dockerfile frontend: whole files, ONBUILD triggers, word expansion, heredoc
//! expansion, `.dockerignore` files and COPY globs.
#![no_main]

use lading_builder::context::ignore::IgnoreMatcher;
use lading_builder::dockerfile::{expand_heredoc, expand_word, parse, parse_instruction};
use lading_builder::pathmatch::glob_match;
use libfuzzer_sys::fuzz_target;

fn lookup(name: &str) -> Option<String> {
    match name {
        "A" => Some("a b".into()),
        "EMPTY" => Some(String::new()),
        "LONG" => Some("x".repeat(64)),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse("Dockerfile", text);
    let escape = if text.len() % 2 == 0 { '\\' } else { '`' };
    let _ = parse_instruction(text, escape);
    let _ = expand_word(text, escape, &lookup);
    let _ = expand_heredoc(text, escape, &lookup);
    let _ = lading_builder::dockerfile::expand_words(text, escape, &lookup);
    if let Ok(m) = IgnoreMatcher::parse(text) {
        for p in ["a", "a/b", "a/b/c.txt", ".git", "x/.dockerignore", ""] {
            let _ = m.is_excluded(p);
            let _ = m.may_contain_included(p);
        }
    }
    if let Some((pattern, name)) = text.split_once('\n') {
        let _ = glob_match(pattern, name);
    }
});
