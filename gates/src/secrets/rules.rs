//! Secret rules in gitleaks' configuration shape
//! (<https://github.com/gitleaks/gitleaks#configuration>): `[[rules]]` with `id`,
//! `description`, `regex`, `secretGroup`, `entropy`, `keywords`, `path`, `tags` and
//! allowlists (`[rules.allowlist]` or `[[rules.allowlists]]`, each with `regexes`,
//! `regexTarget`, `stopwords`, `paths`, `condition`), a global `[allowlist]` /
//! `[[allowlists]]`, and `[extend]` (`useDefault`, `disabledRules`).
//!
//! The built-in set ([`Ruleset::builtin`]) is itself such a file (`rules.toml`). A user
//! file adds to it (a rule with the same id replaces the built-in one) unless it says
//! `[extend] useDefault = false`.

use std::collections::BTreeMap;

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::error::{Error, Result};

const BUILTIN: &str = include_str!("rules.toml");

/// What an allowlist regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The secret (the rule's secret group).
    Secret,
    /// The whole match.
    Match,
    /// The line the match starts on.
    Line,
}

/// One allowlist: a finding it matches is dropped.
#[derive(Debug, Clone)]
pub struct Allowlist {
    /// Regexes, matched against [`Allowlist::target`].
    pub regexes: Vec<Regex>,
    /// What the regexes are matched against.
    pub target: Target,
    /// Path regexes.
    pub paths: Vec<Regex>,
    /// Lowercase words; a secret containing one is allowed.
    pub stopwords: Vec<String>,
    /// `condition = "AND"`: every kind of criterion given must match.
    pub and: bool,
}

impl Allowlist {
    /// Whether the allowlist drops a finding.
    pub fn allows(&self, path: Option<&str>, secret: &[u8], matched: &[u8], line: &[u8]) -> bool {
        let target = match self.target {
            Target::Secret => secret,
            Target::Match => matched,
            Target::Line => line,
        };
        let mut results = Vec::with_capacity(3);
        if !self.regexes.is_empty() {
            results.push(self.regexes.iter().any(|r| r.is_match(target)));
        }
        if !self.paths.is_empty() {
            results.push(path.is_some_and(|p| self.paths.iter().any(|r| r.is_match(p.as_bytes()))));
        }
        if !self.stopwords.is_empty() {
            let lower = secret.to_ascii_lowercase();
            results.push(
                self.stopwords
                    .iter()
                    .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some()),
            );
        }
        if self.and {
            !results.is_empty() && results.iter().all(|r| *r)
        } else {
            results.iter().any(|r| *r)
        }
    }

    /// Whether the allowlist drops every finding in a file at `path` (a path-only list).
    pub fn allows_path(&self, path: &str) -> bool {
        self.regexes.is_empty()
            && self.stopwords.is_empty()
            && self.paths.iter().any(|r| r.is_match(path.as_bytes()))
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule id, e.g. `aws-access-token`.
    pub id: String,
    /// What it finds.
    pub description: String,
    /// The pattern (none: a path-only rule).
    pub regex: Option<Regex>,
    /// Which group is the secret (0: the first group that matched, else the match).
    pub secret_group: usize,
    /// Minimum Shannon entropy of the secret, if any.
    pub entropy: Option<f64>,
    /// Lowercase keywords: the rule runs only near one of them (none: everywhere).
    pub keywords: Vec<String>,
    /// Files the rule applies to (or, without a regex, reports).
    pub path: Option<Regex>,
    /// Tags (`generic` marks catch-all rules whose overlap with a specific rule is dropped).
    pub tags: Vec<String>,
    /// The rule's allowlists.
    pub allowlists: Vec<Allowlist>,
    /// Whether a match may extend past the keyword's line.
    pub multiline: bool,
}

impl Rule {
    /// Whether this is a catch-all rule.
    pub fn is_generic(&self) -> bool {
        self.tags.iter().any(|t| t == "generic")
    }
}

/// A compiled rule set with its global allowlists.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// The rules, in file order (built-ins first).
    pub rules: Vec<Rule>,
    /// Global allowlists.
    pub allowlists: Vec<Allowlist>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    extend: Option<ExtendFile>,
    #[serde(default)]
    rules: Vec<RuleFile>,
    #[serde(default)]
    allowlist: Option<AllowlistFile>,
    #[serde(default)]
    allowlists: Vec<AllowlistFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExtendFile {
    use_default: Option<bool>,
    path: Option<String>,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleFile {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    allowlist: Option<AllowlistFile>,
    #[serde(default)]
    allowlists: Vec<AllowlistFile>,
    #[serde(default)]
    multiline: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowlistFile {
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
}

fn invalid(what: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.to_string(),
        reason: reason.into(),
    }
}

/// Compiles a pattern the way the scanner runs it: on bytes, ASCII classes first (much
/// smaller automata), Unicode classes when the pattern needs them.
fn compile(what: &str, pattern: &str) -> Result<Regex> {
    let build = |unicode: bool| {
        RegexBuilder::new(pattern)
            .unicode(unicode)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
    };
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| invalid(what, format!("invalid regex: {e}")))
}

fn allowlist(what: &str, file: AllowlistFile) -> Result<Allowlist> {
    let target = match file.regex_target.as_deref() {
        None | Some("secret") | Some("") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(other) => {
            return Err(invalid(
                what,
                format!("regexTarget {other:?} (secret, match or line)"),
            ));
        }
    };
    let and = match file
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("OR") | Some("") => false,
        Some("AND") => true,
        Some(other) => return Err(invalid(what, format!("condition {other:?} (OR or AND)"))),
    };
    Ok(Allowlist {
        regexes: file
            .regexes
            .iter()
            .map(|r| compile(what, r))
            .collect::<Result<_>>()?,
        target,
        paths: file
            .paths
            .iter()
            .map(|r| compile(what, r))
            .collect::<Result<_>>()?,
        stopwords: file
            .stopwords
            .iter()
            .map(|w| w.to_ascii_lowercase())
            .collect(),
        and,
    })
}

fn rule(source: &str, file: RuleFile) -> Result<Rule> {
    let what = format!("{source}: rule {:?}", file.id);
    if file.id.trim().is_empty() {
        return Err(invalid(source, "a rule without an id"));
    }
    if file.regex.is_none() && file.path.is_none() {
        return Err(invalid(&what, "needs a regex or a path"));
    }
    let regex = file
        .regex
        .as_deref()
        .map(|r| compile(&what, r))
        .transpose()?;
    let secret_group = file.secret_group.unwrap_or(0);
    if let Some(r) = regex.as_ref().filter(|r| secret_group >= r.captures_len()) {
        return Err(invalid(
            &what,
            format!(
                "secretGroup {secret_group} but the regex has {} groups",
                r.captures_len() - 1
            ),
        ));
    }
    let mut allowlists = Vec::new();
    for a in file.allowlist.into_iter().chain(file.allowlists) {
        allowlists.push(allowlist(&what, a)?);
    }
    let multiline = file.multiline
        || file
            .regex
            .as_deref()
            .is_some_and(|r| r.contains("(?s") || r.contains("\\n") || r.contains("[\\s\\S]"));
    Ok(Rule {
        description: file.description.unwrap_or_else(|| file.id.clone()),
        id: file.id,
        regex,
        secret_group,
        entropy: file.entropy.filter(|e| *e > 0.0),
        keywords: file
            .keywords
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .filter(|k| !k.is_empty())
            .collect(),
        path: file
            .path
            .as_deref()
            .map(|p| compile(&what, p))
            .transpose()?,
        tags: file.tags,
        allowlists,
        multiline,
    })
}

fn parse(source: &str, text: &str) -> Result<(ConfigFile, Vec<Rule>, Vec<Allowlist>)> {
    let mut file: ConfigFile =
        toml::from_str(text).map_err(|e| invalid(source, e.to_string().trim().to_string()))?;
    let rules = std::mem::take(&mut file.rules)
        .into_iter()
        .map(|r| rule(source, r))
        .collect::<Result<Vec<_>>>()?;
    let mut lists = Vec::new();
    for a in file
        .allowlist
        .take()
        .into_iter()
        .chain(std::mem::take(&mut file.allowlists))
    {
        lists.push(allowlist(&format!("{source}: allowlist"), a)?);
    }
    Ok((file, rules, lists))
}

impl Ruleset {
    /// lading's built-in rules.
    pub fn builtin() -> Result<Ruleset> {
        let (_, rules, allowlists) = parse("built-in rules", BUILTIN)?;
        Ok(Ruleset { rules, allowlists })
    }

    /// The built-in rules extended (or replaced) by a user file in gitleaks' shape;
    /// `source` names the file in messages.
    pub fn with_user_file(source: &str, text: &str) -> Result<Ruleset> {
        let (file, user_rules, user_lists) = parse(source, text)?;
        let extend = file.extend.unwrap_or_default();
        if extend.path.is_some() {
            return Err(invalid(
                source,
                "[extend] path is not supported; merge the files into one",
            ));
        }
        let mut set = if extend.use_default.unwrap_or(true) {
            Ruleset::builtin()?
        } else {
            Ruleset {
                rules: Vec::new(),
                allowlists: Vec::new(),
            }
        };
        let user_ids: BTreeMap<&str, ()> = user_rules.iter().map(|r| (r.id.as_str(), ())).collect();
        set.rules.retain(|r| {
            !user_ids.contains_key(r.id.as_str()) && !extend.disabled_rules.contains(&r.id)
        });
        set.rules.extend(user_rules);
        set.allowlists.extend(user_lists);
        if set.rules.is_empty() {
            return Err(invalid(source, "no rules left to run"));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile_and_have_keywords() {
        let set = Ruleset::builtin().unwrap();
        assert!(set.rules.len() >= 50, "{} rules", set.rules.len());
        for r in &set.rules {
            assert!(!r.keywords.is_empty(), "{} has no keyword", r.id);
            assert!(r.regex.is_some(), "{}", r.id);
        }
        let ids: BTreeMap<&str, ()> = set.rules.iter().map(|r| (r.id.as_str(), ())).collect();
        assert_eq!(ids.len(), set.rules.len(), "duplicate ids");
    }

    #[test]
    fn user_file_adds_replaces_and_disables() {
        let text = r#"
            [extend]
            disabledRules = ["jwt"]
            [[rules]]
            id = "acme-token"
            description = "ACME internal token"
            regex = '''acme_[a-z0-9]{16}'''
            keywords = ["ACME_"]
            [[rules]]
            id = "github-pat"
            regex = '''ghp_[0-9a-zA-Z]{36}'''
            keywords = ["ghp_"]
            [rules.allowlist]
            stopwords = ["AAAA"]
        "#;
        let set = Ruleset::with_user_file("user.toml", text).unwrap();
        let acme = set.rules.iter().find(|r| r.id == "acme-token").unwrap();
        assert_eq!(acme.keywords, vec!["acme_"]);
        assert!(!set.rules.iter().any(|r| r.id == "jwt"));
        let gh: Vec<_> = set.rules.iter().filter(|r| r.id == "github-pat").collect();
        assert_eq!(gh.len(), 1);
        assert_eq!(gh[0].allowlists[0].stopwords, vec!["aaaa"]);
    }

    #[test]
    fn user_file_errors_name_the_rule() {
        let err = Ruleset::with_user_file("u.toml", "[[rules]]\nid = \"x\"\nregex = \"(\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("u.toml: rule \"x\"") && err.contains("invalid regex"),
            "{err}"
        );
        let err = Ruleset::with_user_file("u.toml", "[[rules]]\nid = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a regex or a path"), "{err}");
        let err = Ruleset::with_user_file("u.toml", "[[rules]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("u.toml") && err.contains("line 1"), "{err}");
        let err = Ruleset::with_user_file(
            "u.toml",
            "[[rules]]\nid = \"x\"\nregex = \"a(b)\"\nsecretGroup = 2\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("secretGroup 2"), "{err}");
    }
}
