//! The small splitters BuildKit's line parsers use on an instruction's arguments. Each
//! returns words with the byte offset where they start, for error columns.

/// BuildKit's `reWhitespace`: `[\t\v\f\r ]`.
pub(crate) fn is_split_ws(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `reWhitespace.Split(rest, -1)` on an already trimmed string: no quote handling at all
/// (FROM, EXPOSE, shell-form COPY/ADD/VOLUME).
pub(crate) fn split_ws(rest: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in rest.char_indices() {
        match (is_split_ws(c), start) {
            (true, Some(s)) => {
                out.push((s, rest[s..i].to_string()));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, rest[s..].to_string()));
    }
    out
}

/// BuildKit's `parseWords` (ARG, ENV, LABEL): splits on unquoted whitespace but keeps
/// quotes and escapes in the words; an escape at the very end is dropped.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<(usize, String)> {
    let chars: Vec<(usize, char)> = rest.char_indices().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut i = 0;
    while i < chars.len() {
        let (off, c) = chars[i];
        i += 1;
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
            start = off;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            // Inside single quotes the escape character is plain text.
            if c == escape && q != '\'' {
                if i == chars.len() {
                    quote = None;
                    continue;
                }
                word.push(c);
                word.push(chars[i].1);
                i += 1;
                continue;
            }
            word.push(c);
            continue;
        }
        if c.is_whitespace() {
            if blank_ok || !word.is_empty() {
                words.push((start, std::mem::take(&mut word)));
            }
            in_word = false;
            blank_ok = false;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            blank_ok = true;
        }
        if c == escape {
            if i == chars.len() {
                continue;
            }
            word.push(c);
            word.push(chars[i].1);
            i += 1;
            continue;
        }
        word.push(c);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push((start, word));
    }
    words
}

/// BuildKit's `extractBuilderFlags`: leading `--flag` words, with quotes removed and
/// `\` escapes applied (always backslash, whatever the escape directive says). Returns
/// the flags and the offset where the arguments start. A bare `--` ends the flags.
pub(crate) fn extract_flags(line: &str) -> (Vec<(usize, String)>, usize) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return (flags, line.len());
        }
        let start = chars[i].0;
        if !line[start..].starts_with("--") {
            return (flags, start);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while i < chars.len() {
            let c = chars[i].1;
            i += 1;
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) if c == '\\' => {
                    if i == chars.len() {
                        quote = None;
                    } else {
                        word.push(chars[i].1);
                        i += 1;
                    }
                }
                Some(_) => word.push(c),
                None if c.is_whitespace() => {
                    i -= 1;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                None if c == '\\' => {
                    if i < chars.len() {
                        word.push(chars[i].1);
                        i += 1;
                    }
                }
                None => word.push(c),
            }
        }
        if word == "--" {
            let end = chars.get(i).map_or(line.len(), |&(o, _)| o);
            return (flags, end);
        }
        if blank_ok || !word.is_empty() {
            flags.push((start, word));
        }
    }
}

/// Why an argument list is not exec form.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not a JSON array: the instruction falls back to shell form.
    NotJson,
    /// A JSON array with something other than strings: an error.
    NotStrings,
}

/// BuildKit's `parseJSON`: the arguments start with `[` and the first JSON value is an
/// array of strings (Go's decoder ignores anything after that first value).
pub(crate) fn parse_json(rest: &str) -> Result<Vec<String>, JsonError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Err(JsonError::NotJson);
    }
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(serde_json::Value::Array(items))) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(JsonError::NotStrings),
            })
            .collect(),
        _ => Err(JsonError::NotJson),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: Vec<(usize, String)>) -> Vec<String> {
        v.into_iter().map(|(_, s)| s).collect()
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            w(parse_words(r#"a="b c" d\ e 'f\ g'"#, '\\')),
            [r#"a="b c""#, r"d\ e", r"'f\ g'"]
        );
        assert_eq!(w(parse_words("x=\"\"", '\\')), ["x=\"\""]);
        assert_eq!(w(parse_words("\"\"", '\\')), ["\"\""]);
    }

    #[test]
    fn flags_stop_at_first_argument() {
        let line = "--from=build --chown=\"a b\" src dst";
        let (flags, at) = extract_flags(line);
        assert_eq!(w(flags), ["--from=build", "--chown=a b"]);
        assert_eq!(&line[at..], "src dst");
        let (flags, at) = extract_flags("-- --x");
        assert!(flags.is_empty());
        assert_eq!(at, 2);
    }

    #[test]
    fn json_forms() {
        assert_eq!(
            parse_json(r#"["a", "b"]"#),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_json(r#"["a"] trailing"#), Ok(vec!["a".into()]));
        assert_eq!(parse_json("['a']"), Err(JsonError::NotJson));
        assert_eq!(parse_json("[1]"), Err(JsonError::NotStrings));
        assert_eq!(parse_json("echo"), Err(JsonError::NotJson));
    }
}
