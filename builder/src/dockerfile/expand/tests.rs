//! Cases in the spirit of BuildKit's `shell/envVarTest`: `input -> expected` with
//! `PWD=/home`, `SHELL=bash`, `KOREAN=한국어`, `EMPTY=` and `WITH_SPACES="a  b"` set.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "PWD" => Some("/home".into()),
        "SHELL" => Some("bash".into()),
        "KOREAN" => Some("한국어".into()),
        "EMPTY" => Some(String::new()),
        "WITH_SPACES" => Some("a  b".into()),
        "FILE" => Some("archive.tar.gz".into()),
        _ => None,
    }
}

fn word(input: &str) -> Result<String, ExpandError> {
    expand_word(input, '\\', &env)
}

fn words(input: &str) -> Vec<String> {
    expand_words(input, '\\', &env).unwrap_or_else(|e| panic!("{input}: {e}"))
}

#[test]
fn expand_word_cases() {
    let cases: &[(&str, &str)] = &[
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he'llo", "ERR"),
        ("he\\'llo", "he'llo"),
        ("he\\\\'llo", "ERR"),
        ("abc\\'def", "abc'def"),
        ("\"hello\"", "hello"),
        ("\"he\\\"llo\"", "he\"llo"),
        ("\"he\\\\llo\"", "he\\llo"),
        ("\"he\\llo\"", "he\\llo"),
        ("\"he\\$llo\"", "he$llo"),
        ("'he\\$llo'", "he\\$llo"),
        ("'$PWD'", "$PWD"),
        ("\"$PWD\"", "/home"),
        ("$PWD", "/home"),
        ("${PWD}", "/home"),
        ("\\$PWD", "$PWD"),
        ("\\${PWD}", "${PWD}"),
        ("$PWD/x", "/home/x"),
        ("${PWD}x", "/homex"),
        ("$PWDx", ""),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("a$", "a$"),
        ("$ a", "$ a"),
        ("$/", "$/"),
        ("$.x", "$.x"),
        ("$1", ""),
        ("$@", ""),
        ("$$", ""),
        ("${PWD:-x}", "/home"),
        ("${UNSET:-x}", "x"),
        ("${EMPTY:-x}", "x"),
        ("${EMPTY-x}", ""),
        ("${UNSET-x}", "x"),
        ("${PWD:+x}", "x"),
        ("${UNSET:+x}", ""),
        ("${EMPTY:+x}", ""),
        ("${EMPTY+x}", "x"),
        ("${UNSET+x}", ""),
        ("${UNSET:-$PWD}", "/home"),
        ("${UNSET:-${SHELL}x}", "bashx"),
        ("${UNSET:-'a b'}", "a b"),
        ("${UNSET:-\"a $SHELL\"}", "a bash"),
        ("${UNSET:-${UNSET2:-deep}}", "deep"),
        ("${PWD:?oops}", "/home"),
        ("${EMPTY?oops}", ""),
        ("${KOREAN}", "한국어"),
        ("$KOREAN!", "한국어!"),
        ("${FILE%.*}", "archive.tar"),
        ("${FILE%%.*}", "archive"),
        ("${FILE#*.}", "tar.gz"),
        ("${FILE##*.}", "gz"),
        ("${FILE/a/A}", "Archive.tar.gz"),
        ("${FILE//a/A}", "Archive.tAr.gz"),
        ("${PWD", "ERR"),
        ("${", "ERR"),
        ("${}", "ERR"),
        ("${:x}", "ERR"),
        ("${{x}", "ERR"),
        ("${PWD:#x}", "ERR"),
        ("${PWD^x}", "ERR"),
        ("\"unterminated", "ERR"),
        ("a\\", "a"),
        ("a\\ b", "a b"),
        ("\"\"", ""),
        ("''", ""),
        ("\"a'b\"", "a'b"),
        ("'a\"b'", "a\"b"),
        ("$WITH_SPACES", "a  b"),
    ];
    for (input, expected) in cases {
        match word(input) {
            Ok(got) => assert_eq!(&got, expected, "input {input:?}"),
            Err(e) => assert_eq!(*expected, "ERR", "input {input:?} failed: {e}"),
        }
    }
    assert!(cases.len() >= 40);
}

#[test]
fn required_variable_messages() {
    assert_eq!(
        word("${UNSET?}").unwrap_err().to_string(),
        "UNSET: is not allowed to be unset"
    );
    assert_eq!(
        word("${EMPTY:?}").unwrap_err().to_string(),
        "EMPTY: is not allowed to be empty"
    );
    assert_eq!(
        word("${UNSET:?please set it}").unwrap_err().to_string(),
        "UNSET: please set it"
    );
    assert_eq!(word("${PWD").unwrap_err(), ExpandError::MissingBrace);
    assert_eq!(word("${}").unwrap_err(), ExpandError::BadSubstitution);
    assert_eq!(
        word("'x").unwrap_err().to_string(),
        "unexpected end of statement while looking for matching single-quote"
    );
}

#[test]
fn backtick_escape() {
    let e = |s: &str| expand_word(s, '`', &env).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(e("`$PWD"), "$PWD");
    assert_eq!(e("C:\\dir"), "C:\\dir");
    assert_eq!(e("\"a`\"b\""), "a\"b");
    assert_eq!(e("\"a\\b\""), "a\\b");
    assert_eq!(e("a` b"), "a b");
}

#[test]
fn field_splitting() {
    assert_eq!(words("a b  c"), ["a", "b", "c"]);
    assert_eq!(words("\"a b\" c"), ["a b", "c"]);
    assert_eq!(words("a\\ b c"), ["a b", "c"]);
    assert_eq!(words("$WITH_SPACES"), ["a", "b"]);
    assert_eq!(words("\"$WITH_SPACES\""), ["a  b"]);
    assert_eq!(words("x$WITH_SPACES"), ["xa", "b"]);
    assert_eq!(words("80/tcp ${UNSET:-443}"), ["80/tcp", "443"]);
    assert_eq!(words("\"\" a"), ["a"]);
    assert_eq!(words("$UNSET"), Vec::<String>::new());
    assert_eq!(words("  "), Vec::<String>::new());
}

#[test]
fn heredoc_bodies_keep_quotes() {
    let e = |s: &str| expand_heredoc(s, '\\', &env).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(e("echo \"$PWD\" '$SHELL'\n"), "echo \"/home\" '$SHELL'\n");
    assert_eq!(e("a \\$PWD\n"), "a $PWD\n");
    assert_eq!(e("${UNSET:-dflt}\n"), "dflt\n");
    assert_eq!(e("plain\n"), "plain\n");
}

#[test]
fn raw_words_keep_everything() {
    assert_eq!(
        raw_words("RUN cat <<\"EOF\" $X 'a b'", true, true),
        Some(vec![
            "RUN".to_string(),
            "cat".into(),
            "<<\"EOF\"".into(),
            "$X".into(),
            "'a b'".into()
        ])
    );
    assert_eq!(raw_words("RUN echo \"open", true, true), None);
}
