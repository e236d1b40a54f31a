//! Canonical JSON as TUF signs it (OLPC canonical JSON as securesystemslib writes it):
//! object keys sorted by their bytes, no whitespace, integers only, and strings with
//! only `"` and `\` escaped.

use serde_json::Value;

use crate::error::{Error, Result};

/// The canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write(value, &mut out)?;
    Ok(out)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            out.extend_from_slice(n.to_string().as_bytes())
        }
        Value::Number(n) => {
            return Err(Error::Invalid {
                what: "TUF metadata",
                reason: format!("{n} is not an integer; canonical JSON has none"),
            });
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_escapes_only_quote_and_backslash() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, -2, true, null], "a": "x\"y\\z\n", "B": {}}"#)
                .unwrap();
        assert_eq!(
            String::from_utf8(to_vec(&v).unwrap()).unwrap(),
            "{\"B\":{},\"a\":\"x\\\"y\\\\z\n\",\"b\":[1,-2,true,null]}"
        );
    }

    #[test]
    fn refuses_floats() {
        assert!(to_vec(&serde_json::json!({"a": 1.5})).is_err());
    }
}
