//! Instruction flags (`--name=value`, `--bool`), checked like BuildKit's `BFlags`:
//! unknown flags, duplicates of single-valued flags and bad booleans are errors.

/// The type of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--x`, `--x=true`, `--x=false`.
    Bool,
    /// `--x=value`, once.
    Str,
    /// `--x=value`, repeatable.
    Strs,
}

/// Parsed flag values, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, Vec<String>)>,
}

impl Flags {
    /// The value of a single-valued flag.
    pub fn str(&self, name: &str) -> Option<String> {
        self.all(name).last().cloned()
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// A boolean flag: `None` when absent.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.str(name).map(|v| v == "true")
    }
}

/// Checks `words` (as extracted from the line, with their offsets) against `spec`.
/// On error returns the offset of the offending flag and BuildKit's message.
pub(crate) fn parse(
    words: &[(usize, String)],
    spec: &[(&'static str, Kind)],
) -> Result<Flags, (usize, String)> {
    let mut flags = Flags::default();
    for (off, word) in words {
        let Some(arg) = word.strip_prefix("--") else {
            return Err((*off, format!("arg should start with -- : {word}")));
        };
        if arg.is_empty() {
            break;
        }
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let Some(&(key, kind)) = spec.iter().find(|(n, _)| *n == name) else {
            return Err((*off, format!("unknown flag: {name}")));
        };
        let seen = flags.values.iter().position(|(n, _)| *n == key);
        if seen.is_some() && kind != Kind::Strs {
            return Err((*off, format!("duplicate flag specified: {name}")));
        }
        let value = match (kind, value) {
            (Kind::Bool, Some("")) | (Kind::Str | Kind::Strs, None) => {
                return Err((*off, format!("missing a value on flag: {name}")));
            }
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Bool, Some(v)) => match v.to_lowercase().as_str() {
                "true" => "true".to_string(),
                "false" => "false".to_string(),
                _ => {
                    return Err((
                        *off,
                        format!("expecting boolean value for flag {name}, not: {v}"),
                    ));
                }
            },
            (_, Some(v)) => v.to_string(),
        };
        match seen {
            Some(i) => flags.values[i].1.push(value),
            None => flags.values.push((key, vec![value])),
        }
    }
    Ok(flags)
}
