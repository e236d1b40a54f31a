//! OSV records (<https://ossf.github.io/osv-schema/>), read strictly enough to trust and
//! loosely enough to survive schema growth: a field of the wrong type rejects the record
//! with its JSON path, an unknown field is a warning, and a range that cannot be
//! evaluated (no `introduced`, a version the ecosystem cannot read, an unknown type) is
//! a warning and is left out of matching.

use serde_json::Value;

use super::version::Scheme;

/// A problem with a record that does not stop the others from being used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Warning {
    /// The record's id (or its file when it has none).
    pub record: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.record, self.message)
    }
}

/// A record that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {path}: {reason}")]
pub struct RecordError {
    /// File (or zip member) the record came from.
    pub source_name: String,
    /// JSON path of the offending value (`$` = the document).
    pub path: String,
    /// Why.
    pub reason: String,
}

/// One `severity[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityEntry {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, ...
    pub kind: String,
    /// The vector or value.
    pub score: String,
}

/// An event of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Affected from this version on (`"0"`: from the beginning).
    Introduced(String),
    /// Not affected from this version on.
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
    /// Evaluation stops at this version.
    Limit(String),
}

impl Event {
    /// The event's version.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// One `ranges[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    pub kind: String,
    /// Events in record order.
    pub events: Vec<Event>,
    /// Whether the range can be evaluated (else a warning said why).
    pub usable: bool,
}

/// One `affected[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    /// `package.ecosystem` (`PyPI`, `Debian:12`).
    pub ecosystem: String,
    /// `package.name`.
    pub name: String,
    /// `package.purl`, if any.
    pub purl: Option<String>,
    /// Per-package severity (schema 1.6).
    pub severity: Vec<SeverityEntry>,
    /// Ranges.
    pub ranges: Vec<Range>,
    /// Explicitly listed versions.
    pub versions: Vec<String>,
}

/// An OSV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `id`.
    pub id: String,
    /// `modified`.
    pub modified: String,
    /// `withdrawn`, when the record was withdrawn.
    pub withdrawn: Option<String>,
    /// `aliases` (CVE ids, ...).
    pub aliases: Vec<String>,
    /// `summary`.
    pub summary: String,
    /// `severity`.
    pub severity: Vec<SeverityEntry>,
    /// `affected`.
    pub affected: Vec<Affected>,
    /// `database_specific.severity` (GitHub: `LOW`, `MODERATE`, `HIGH`, `CRITICAL`).
    pub database_severity: Option<String>,
    /// Advisory URL: the `ADVISORY` reference that names the id, else the first
    /// `ADVISORY` reference, else the first reference.
    pub url: Option<String>,
}

const TOP: &[&str] = &[
    "schema_version",
    "id",
    "modified",
    "published",
    "withdrawn",
    "aliases",
    "upstream",
    "related",
    "summary",
    "details",
    "severity",
    "affected",
    "references",
    "credits",
    "database_specific",
];
const AFFECTED: &[&str] = &[
    "package",
    "severity",
    "ranges",
    "versions",
    "ecosystem_specific",
    "database_specific",
];
const PACKAGE: &[&str] = &["ecosystem", "name", "purl"];
const RANGE: &[&str] = &["type", "repo", "events", "database_specific"];

struct Ctx<'a> {
    source: &'a str,
    id: String,
    warnings: Vec<Warning>,
}

impl Ctx<'_> {
    fn err(&self, path: &str, reason: impl Into<String>) -> RecordError {
        RecordError {
            source_name: if self.id.is_empty() {
                self.source.to_string()
            } else {
                format!("{} ({})", self.id, self.source)
            },
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(Warning {
            record: if self.id.is_empty() {
                self.source.to_string()
            } else {
                self.id.clone()
            },
            message: message.into(),
        });
    }

    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Result<&'v serde_json::Map<String, Value>, RecordError> {
        let obj = v
            .as_object()
            .ok_or_else(|| self.err(path, "expected an object"))?;
        for k in obj.keys() {
            if !known.contains(&k.as_str()) {
                self.warn(format!("unknown field {path}.{k} (ignored)"));
            }
        }
        Ok(obj)
    }

    fn string(&self, v: Option<&Value>, path: &str) -> Result<Option<String>, RecordError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(path, "expected a string")),
        }
    }

    fn strings(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, RecordError> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(&format!("{path}[{i}]"), "expected a string"))
                })
                .collect(),
            Some(_) => Err(self.err(path, "expected an array of strings")),
        }
    }

    fn array<'v>(&self, v: Option<&'v Value>, path: &str) -> Result<&'v [Value], RecordError> {
        match v {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.err(path, "expected an array")),
        }
    }

    fn severities(&self, v: Option<&Value>, path: &str) -> Result<Vec<SeverityEntry>, RecordError> {
        let mut out = Vec::new();
        for (i, s) in self.array(v, path)?.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let obj = s
                .as_object()
                .ok_or_else(|| self.err(&p, "expected an object"))?;
            let kind = self
                .string(obj.get("type"), &format!("{p}.type"))?
                .ok_or_else(|| self.err(&p, "missing type"))?;
            let score = self
                .string(obj.get("score"), &format!("{p}.score"))?
                .ok_or_else(|| self.err(&p, "missing score"))?;
            out.push(SeverityEntry { kind, score });
        }
        Ok(out)
    }
}

/// Reads one record. `source` names the file for messages.
pub fn parse(bytes: &[u8], source: &str) -> Result<(Record, Vec<Warning>), RecordError> {
    let mut ctx = Ctx {
        source,
        id: String::new(),
        warnings: Vec::new(),
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| RecordError {
        source_name: source.to_string(),
        path: "$".into(),
        reason: format!("not JSON: {e}"),
    })?;
    if !doc.is_object() {
        return Err(ctx.err("$", "expected an object"));
    }
    // The id first, so that every later message names the record.
    let id = ctx
        .string(doc.get("id"), "$.id")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ctx.err("$.id", "missing id"))?;
    ctx.id = id.clone();
    let top = ctx.object(&doc, "$", TOP)?.clone();
    let modified = ctx.string(top.get("modified"), "$.modified")?;
    if modified.is_none() {
        ctx.warn("no modified date");
    }
    let withdrawn = ctx.string(top.get("withdrawn"), "$.withdrawn")?;
    let aliases = ctx.strings(top.get("aliases"), "$.aliases")?;
    let summary = ctx
        .string(top.get("summary"), "$.summary")?
        .unwrap_or_default();
    let severity = ctx.severities(top.get("severity"), "$.severity")?;
    let database_severity = match top.get("database_specific") {
        Some(Value::Object(d)) => d
            .get("severity")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    };
    let (mut first_url, mut advisory_url): (Option<String>, Option<String>) = (None, None);
    for (i, r) in ctx
        .array(top.get("references"), "$.references")?
        .iter()
        .enumerate()
    {
        let p = format!("$.references[{i}]");
        let obj = r
            .as_object()
            .ok_or_else(|| ctx.err(&p, "expected an object"))?;
        let u = ctx.string(obj.get("url"), &format!("{p}.url"))?;
        let kind = ctx.string(obj.get("type"), &format!("{p}.type"))?;
        // The advisory's own page (its URL names the id) beats other advisories.
        let own = u.as_deref().is_some_and(|u| u.ends_with(&id));
        let have_own = advisory_url
            .as_deref()
            .is_some_and(|a: &str| a.ends_with(&id));
        if kind.as_deref() == Some("ADVISORY") && !have_own && (advisory_url.is_none() || own) {
            advisory_url.clone_from(&u);
        }
        if first_url.is_none() {
            first_url = u;
        }
    }
    let url = advisory_url.or(first_url);
    let mut affected = Vec::new();
    for (i, a) in ctx
        .array(top.get("affected"), "$.affected")?
        .iter()
        .enumerate()
    {
        let p = format!("$.affected[{i}]");
        affected.push(parse_affected(&mut ctx, a, &p)?);
    }
    if affected.is_empty() && withdrawn.is_none() {
        ctx.warn("no affected packages");
    }
    Ok((
        Record {
            id,
            modified: modified.unwrap_or_default(),
            withdrawn,
            aliases,
            summary,
            severity,
            affected,
            database_severity,
            url,
        },
        ctx.warnings,
    ))
}

fn parse_affected(ctx: &mut Ctx<'_>, a: &Value, p: &str) -> Result<Affected, RecordError> {
    let obj = ctx.object(a, p, AFFECTED)?.clone();
    let pkg_path = format!("{p}.package");
    let (ecosystem, name, purl) = match obj.get("package") {
        Some(pkg) => {
            let pkg = ctx.object(pkg, &pkg_path, PACKAGE)?.clone();
            let eco = ctx.string(pkg.get("ecosystem"), &format!("{pkg_path}.ecosystem"))?;
            let name = ctx.string(pkg.get("name"), &format!("{pkg_path}.name"))?;
            let purl = ctx.string(pkg.get("purl"), &format!("{pkg_path}.purl"))?;
            match (eco, name) {
                (Some(e), Some(n)) if !e.is_empty() && !n.is_empty() => (e, n, purl),
                _ => return Err(ctx.err(&pkg_path, "needs an ecosystem and a name")),
            }
        }
        None => return Err(ctx.err(p, "no package")),
    };
    let severity = ctx.severities(obj.get("severity"), &format!("{p}.severity"))?;
    let versions = ctx.strings(obj.get("versions"), &format!("{p}.versions"))?;
    let mut ranges = Vec::new();
    for (j, r) in ctx
        .array(obj.get("ranges"), &format!("{p}.ranges"))?
        .iter()
        .enumerate()
    {
        let rp = format!("{p}.ranges[{j}]");
        let robj = ctx.object(r, &rp, RANGE)?.clone();
        let kind = ctx
            .string(robj.get("type"), &format!("{rp}.type"))?
            .ok_or_else(|| ctx.err(&rp, "missing type"))?;
        let mut events = Vec::new();
        for (k, e) in ctx
            .array(robj.get("events"), &format!("{rp}.events"))?
            .iter()
            .enumerate()
        {
            let ep = format!("{rp}.events[{k}]");
            let eobj = e
                .as_object()
                .ok_or_else(|| ctx.err(&ep, "expected an object"))?;
            if eobj.len() != 1 {
                return Err(ctx.err(
                    &ep,
                    "expected exactly one of introduced, fixed, last_affected, limit",
                ));
            }
            let (key, value) = eobj
                .iter()
                .next()
                .ok_or_else(|| ctx.err(&ep, "empty event"))?;
            let v = value
                .as_str()
                .ok_or_else(|| ctx.err(&format!("{ep}.{key}"), "expected a string"))?
                .to_string();
            events.push(match key.as_str() {
                "introduced" => Event::Introduced(v),
                "fixed" => Event::Fixed(v),
                "last_affected" => Event::LastAffected(v),
                "limit" => Event::Limit(v),
                other => {
                    return Err(ctx.err(&ep, format!("unknown event {other:?}")));
                }
            });
        }
        let usable = check_range(ctx, &ecosystem, &name, &kind, &events, &rp);
        ranges.push(Range {
            kind,
            events,
            usable,
        });
    }
    Ok(Affected {
        ecosystem,
        name,
        purl,
        severity,
        ranges,
        versions,
    })
}

/// The scheme a range's versions are compared with.
pub fn range_scheme(kind: &str, ecosystem: &str) -> Option<Scheme> {
    match kind {
        "SEMVER" => Some(if ecosystem == "Go" {
            Scheme::Go
        } else {
            Scheme::SemVer
        }),
        "ECOSYSTEM" => Scheme::for_ecosystem(ecosystem),
        _ => None,
    }
}

fn check_range(
    ctx: &mut Ctx<'_>,
    ecosystem: &str,
    name: &str,
    kind: &str,
    events: &[Event],
    path: &str,
) -> bool {
    match kind {
        "GIT" => return false, // commit ranges need the repository; not evaluated
        "SEMVER" | "ECOSYSTEM" => {}
        other => {
            ctx.warn(format!(
                "{path}: unknown range type {other:?} for {ecosystem}/{name} (range ignored)"
            ));
            return false;
        }
    }
    let Some(scheme) = range_scheme(kind, ecosystem) else {
        ctx.warn(format!(
            "{path}: no version order for ecosystem {ecosystem:?} (range ignored; listed versions still match)"
        ));
        return false;
    };
    if events.is_empty() {
        ctx.warn(format!("{path}: no events (range ignored)"));
        return false;
    }
    if !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
        ctx.warn(format!(
            "{path}: no introduced event for {ecosystem}/{name} (range ignored)"
        ));
        return false;
    }
    for e in events {
        let v = e.version();
        if matches!(e, Event::Introduced(x) if x == "0") {
            continue;
        }
        if let Err(err) = scheme.validate(v) {
            ctx.warn(format!("{path}: {err} (range ignored)"));
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_warn_and_bad_types_fail() {
        let (rec, w) = parse(
            br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","novel":1,
                "affected":[{"package":{"ecosystem":"PyPI","name":"a"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}]}"#,
            "x.json",
        )
        .unwrap();
        assert_eq!(rec.id, "X-1");
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("unknown field $.novel"), "{w:?}");
        let err = parse(br#"{"id":"X-2","aliases":"CVE-1"}"#, "y.json").unwrap_err();
        assert_eq!(err.path, "$.aliases");
        let err = parse(b"[1]", "z.json").unwrap_err();
        assert!(err.to_string().contains("expected an object"));
        assert!(parse(b"{", "t.json").is_err());
    }

    #[test]
    fn bad_ranges_are_warnings_and_unusable() {
        let (rec, w) = parse(
            br#"{"id":"X-3","modified":"m","affected":[
                {"package":{"ecosystem":"PyPI","name":"a"},
                 "ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1.0"}]},
                           {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"not a version!"}]},
                           {"type":"WEIRD","events":[{"introduced":"0"}]},
                           {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}"#,
            "x.json",
        )
        .unwrap();
        let usable: Vec<bool> = rec.affected[0].ranges.iter().map(|r| r.usable).collect();
        assert_eq!(usable, vec![false, false, false, true]);
        assert_eq!(w.len(), 3, "{w:?}");
        let err = parse(
            br#"{"id":"X-4","affected":[{"package":{"ecosystem":"PyPI","name":"a"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]}]}"#,
            "x.json",
        )
        .unwrap_err();
        assert!(err.reason.contains("exactly one"), "{err}");
    }
}
