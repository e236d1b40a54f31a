//! Ignoring findings: by advisory id (or alias) with a mandatory reason and an optional
//! expiry date, or by OpenVEX statements (<https://github.com/openvex/spec>) whose status
//! is `not_affected` or `fixed`.
//!
//! The lading ignore file is JSON:
//!
//! ```json
//! {"ignore": [
//!   {"id": "GHSA-p6mc-m468-83gw", "reason": "zipObjectDeep is not used",
//!    "expires": "2026-06-30", "package": "lodash"}
//! ]}
//! ```
//!
//! `id` matches a finding's id or any of its aliases; `package` (optional) narrows the
//! rule to one package name. A rule past its expiry date no longer applies, and says so.

use serde_json::Value;

use super::matcher::Finding;
use super::osv::Warning;

/// A bad ignore file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ignore file {source_name}: {reason}")]
pub struct IgnoreError {
    /// The file.
    pub source_name: String,
    /// Why.
    pub reason: String,
}

/// One way of silencing findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Advisory ids or aliases it applies to.
    pub ids: Vec<String>,
    /// Package name it is limited to.
    pub package: Option<String>,
    /// Package URLs it is limited to (VEX products), compared without qualifiers.
    pub purls: Vec<String>,
    /// Why (mandatory).
    pub reason: String,
    /// Last day it applies (`YYYY-MM-DD`).
    pub expires: Option<String>,
    /// Where it came from (`file`, `openvex`).
    pub origin: String,
}

/// A finding that a rule silenced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignored {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// The rule's reason.
    pub reason: String,
    /// The rule's expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `file` or `openvex`.
    pub ignored_by: String,
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Reads an ignore file: lading's JSON format or an OpenVEX document.
pub fn parse(text: &str, source: &str) -> Result<Vec<Rule>, IgnoreError> {
    let err = |reason: String| IgnoreError {
        source_name: source.to_string(),
        reason,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
    let is_vex = doc
        .get("@context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with("https://openvex.dev/ns"));
    if is_vex {
        return parse_vex(&doc, source);
    }
    let Some(items) = doc.get("ignore").and_then(Value::as_array) else {
        return Err(err(
            "expected {\"ignore\": [...]} or an OpenVEX document".into()
        ));
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |reason: &str| err(format!("ignore[{i}]: {reason}"));
        let obj = item.as_object().ok_or_else(|| at("expected an object"))?;
        for k in obj.keys() {
            if !["id", "reason", "expires", "package"].contains(&k.as_str()) {
                return Err(at(&format!("unknown field {k:?}")));
            }
        }
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| at("needs an id"))?;
        let reason = obj
            .get("reason")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| at(&format!("{id} needs a reason")))?;
        let expires = match obj.get("expires") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if is_date(d) => Some(d.clone()),
            Some(other) => {
                return Err(at(&format!(
                    "expires must be a YYYY-MM-DD date, not {other}"
                )));
            }
        };
        let package = match obj.get("package") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(_) => return Err(at("package must be a string")),
        };
        rules.push(Rule {
            ids: vec![id.trim().to_string()],
            package,
            purls: Vec::new(),
            reason: reason.trim().to_string(),
            expires,
            origin: "file".into(),
        });
    }
    Ok(rules)
}

fn ids_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(ids_of).collect(),
        Value::Object(o) => o
            .get("@id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .into_iter()
            .chain(o.get("subcomponents").map(ids_of).unwrap_or_default())
            .collect(),
        _ => Vec::new(),
    }
}

fn parse_vex(doc: &Value, source: &str) -> Result<Vec<Rule>, IgnoreError> {
    let err = |reason: String| IgnoreError {
        source_name: source.to_string(),
        reason,
    };
    let statements = doc
        .get("statements")
        .and_then(Value::as_array)
        .ok_or_else(|| err("OpenVEX document without statements".into()))?;
    let mut rules = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        let status = s.get("status").and_then(Value::as_str).unwrap_or("");
        let vuln = s
            .get("vulnerability")
            .ok_or_else(|| err(format!("statements[{i}]: no vulnerability")))?;
        let mut ids = Vec::new();
        match vuln {
            Value::String(name) => ids.push(name.clone()),
            Value::Object(o) => {
                if let Some(n) = o.get("name").and_then(Value::as_str) {
                    ids.push(n.to_string());
                }
                if let Some(n) = o.get("@id").and_then(Value::as_str) {
                    ids.push(n.to_string());
                }
                if let Some(a) = o.get("aliases") {
                    ids.extend(ids_of(a));
                }
            }
            _ => {}
        }
        if ids.is_empty() {
            return Err(err(format!("statements[{i}]: vulnerability has no name")));
        }
        let reason = match status {
            "not_affected" => {
                let j = s.get("justification").and_then(Value::as_str);
                let imp = s.get("impact_statement").and_then(Value::as_str);
                match (j, imp) {
                    (None, None) => {
                        return Err(err(format!(
                            "statements[{i}]: not_affected needs a justification or an impact_statement"
                        )));
                    }
                    (Some(j), None) => format!("VEX not_affected: {j}"),
                    (None, Some(m)) => format!("VEX not_affected: {m}"),
                    (Some(j), Some(m)) => format!("VEX not_affected: {j}: {m}"),
                }
            }
            "fixed" => "VEX fixed".to_string(),
            // affected / under_investigation do not silence anything.
            "affected" | "under_investigation" => continue,
            other => return Err(err(format!("statements[{i}]: unknown status {other:?}"))),
        };
        let purls = s.get("products").map(ids_of).unwrap_or_default();
        rules.push(Rule {
            ids,
            package: None,
            purls,
            reason,
            expires: None,
            origin: "openvex".into(),
        });
    }
    Ok(rules)
}

fn purl_base(p: &str) -> &str {
    p.split(['?', '#']).next().unwrap_or(p)
}

impl Rule {
    fn matches(&self, f: &Finding, image_ids: &[String]) -> bool {
        let id_ok = self
            .ids
            .iter()
            .any(|i| *i == f.id || f.aliases.iter().any(|a| a == i));
        let pkg_ok = self.package.as_ref().is_none_or(|p| *p == f.package);
        // VEX products: the package's purl, or the image itself (then every package).
        let purl_ok = self.purls.is_empty()
            || self.purls.iter().any(|p| {
                purl_base(p) == purl_base(&f.purl)
                    || image_ids
                        .iter()
                        .any(|i| !i.is_empty() && p.contains(i.as_str()))
            });
        id_ok && pkg_ok && purl_ok
    }
}

/// Splits findings into kept and ignored. `today` is `YYYY-MM-DD`; `image_ids` are
/// strings that name the scanned image in VEX products (its digest). Expired rules give
/// a warning and do not apply.
pub fn apply(
    findings: Vec<Finding>,
    rules: &[Rule],
    today: &str,
    image_ids: &[String],
) -> (Vec<Finding>, Vec<Ignored>, Vec<Warning>) {
    let mut warnings = Vec::new();
    let live: Vec<&Rule> = rules
        .iter()
        .filter(|r| match &r.expires {
            Some(d) if d.as_str() < today => {
                warnings.push(Warning {
                    record: r.ids.join(","),
                    message: format!("ignore rule expired on {d}; its findings are reported again"),
                });
                false
            }
            _ => true,
        })
        .collect();
    let mut kept = Vec::new();
    let mut ignored = Vec::new();
    for f in findings {
        match live.iter().find(|r| r.matches(&f, image_ids)) {
            Some(r) => ignored.push(Ignored {
                finding: f,
                reason: r.reason.clone(),
                expires: r.expires.clone(),
                ignored_by: r.origin.clone(),
            }),
            None => kept.push(f),
        }
    }
    (kept, ignored, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_mandatory_and_dates_checked() {
        assert!(parse(r#"{"ignore":[{"id":"X"}]}"#, "f").is_err());
        assert!(parse(r#"{"ignore":[{"id":"X","reason":" "}]}"#, "f").is_err());
        assert!(
            parse(
                r#"{"ignore":[{"id":"X","reason":"r","expires":"tomorrow"}]}"#,
                "f"
            )
            .is_err()
        );
        assert!(
            parse(
                r#"{"ignore":[{"id":"X","reason":"r","colour":"red"}]}"#,
                "f"
            )
            .is_err()
        );
        assert!(parse("[]", "f").is_err());
        let r = parse(
            r#"{"ignore":[{"id":"X","reason":"r","expires":"2030-01-31"}]}"#,
            "f",
        )
        .unwrap();
        assert_eq!(r[0].expires.as_deref(), Some("2030-01-31"));
    }

    #[test]
    fn vex_needs_a_justification() {
        let doc = r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[
            {"vulnerability":{"name":"CVE-1"},"status":"not_affected"}]}"#;
        assert!(parse(doc, "v").is_err());
        let doc = r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[
            {"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/lodash@4.17.15"}],
             "status":"not_affected","justification":"vulnerable_code_not_in_execute_path"},
            {"vulnerability":{"name":"CVE-2"},"status":"affected"}]}"#;
        let rules = parse(doc, "v").unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].purls, vec!["pkg:npm/lodash@4.17.15".to_string()]);
    }
}
