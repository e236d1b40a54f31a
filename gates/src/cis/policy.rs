//! The CIS policy file (TOML):
//!
//! ```toml
//! # registries (and optional path prefixes) base images may come from (check 4.2)
//! allowed_registries = ["docker.io/library", "ghcr.io/acme"]
//!
//! [[exemption]]
//! id = "4.6"
//! reason = "the orchestrator probes /healthz"
//! expires = "2027-01-01"        # or a TOML date: 2027-01-01
//! ```
//!
//! An exemption turns a failed check into `exempt` until (not including) its expiry
//! date; an expired one no longer applies and the report says so.
//!
//! The same file is `lading gate`'s policy: its `[gates]`, `[scan]` and `[secrets]`
//! sections (see [`crate::policy`]) are accepted here and left to that parser.

use std::fmt;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A calendar date (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1-12.
    pub month: u32,
    /// Day, 1-31.
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut parts = s.trim().split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let date = Date {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
            day: d.parse().ok()?,
        };
        let leap = date.year % 4 == 0 && (date.year % 100 != 0 || date.year % 400 == 0);
        let days = match date.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (date.day >= 1 && date.day <= days).then_some(date)
    }

    /// The date `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Today, by the system clock (UTC).
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Date::from_unix_days(secs.div_euclid(86_400))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An accepted failure of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    /// The check id (`4.6`).
    pub id: String,
    /// Why it is accepted.
    pub reason: String,
    /// The first day it no longer applies.
    pub expires: Date,
}

/// The policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Registries (with optional path prefixes) base images may come from; empty: any.
    pub allowed_registries: Vec<String>,
    /// Exemptions.
    pub exemptions: Vec<Exemption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    allowed_registries: Vec<String>,
    #[serde(default)]
    exemption: Vec<ExemptionFile>,
    // `lading gate`'s sections, read by `crate::policy`.
    #[serde(default, rename = "gates")]
    _gates: Option<toml::Value>,
    #[serde(default, rename = "scan")]
    _scan: Option<toml::Value>,
    #[serde(default, rename = "secrets")]
    _secrets: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionFile {
    id: String,
    reason: String,
    expires: toml::Value,
}

impl Policy {
    /// Parses a policy file; `source` names it in messages. `known` lists valid check ids.
    pub fn parse(source: &str, text: &str, known: &[&str]) -> Result<Policy> {
        let invalid = |reason: String| Error::Invalid {
            what: source.to_string(),
            reason,
        };
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().to_string()))?;
        let mut exemptions: Vec<Exemption> = Vec::new();
        for (n, e) in file.exemption.into_iter().enumerate() {
            let at = format!("exemption #{} (id {:?})", n + 1, e.id);
            if !known.contains(&e.id.as_str()) {
                return Err(invalid(format!(
                    "{at}: unknown check id (one of {})",
                    known.join(", ")
                )));
            }
            if e.reason.trim().is_empty() {
                return Err(invalid(format!("{at}: the reason is empty")));
            }
            let raw = match &e.expires {
                toml::Value::String(s) => s.clone(),
                toml::Value::Datetime(d) => d.to_string(),
                other => other.to_string(),
            };
            let expires = Date::parse(&raw).ok_or_else(|| {
                invalid(format!("{at}: expires {raw:?} is not a date (YYYY-MM-DD)"))
            })?;
            if exemptions.iter().any(|x| x.id == e.id) {
                return Err(invalid(format!(
                    "{at}: a second exemption for the same check"
                )));
            }
            exemptions.push(Exemption {
                id: e.id,
                reason: e.reason,
                expires,
            });
        }
        Ok(Policy {
            allowed_registries: file
                .allowed_registries
                .into_iter()
                .map(|r| r.trim_end_matches('/').to_string())
                .collect(),
            exemptions,
        })
    }

    /// Whether `reference`'s repository (normalized like docker: `debian` is
    /// `docker.io/library/debian`) is under an allowed prefix; `true` when none is set.
    pub fn registry_allowed(&self, reference: &str) -> bool {
        if self.allowed_registries.is_empty() {
            return true;
        }
        let repo = repository(reference);
        self.allowed_registries
            .iter()
            .any(|p| repo == *p || repo.starts_with(&format!("{p}/")))
    }
}

/// `registry/path/name` of a reference, docker's way.
pub fn repository(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    let name = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["4.1", "4.6"];

    #[test]
    fn dates() {
        assert_eq!(Date::parse("2027-01-01").unwrap().to_string(), "2027-01-01");
        assert!(Date::parse("2027-02-29").is_none());
        assert!(Date::parse("2028-02-29").is_some());
        assert!(Date::parse("2027-1-1").is_none());
        assert_eq!(Date::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_days(20_454).to_string(), "2026-01-01");
        assert!(Date::parse("2026-12-31") < Date::parse("2027-01-01"));
    }

    #[test]
    fn parses_policies() {
        let p = Policy::parse(
            "p.toml",
            "allowed_registries = [\"docker.io/library\"]\n[[exemption]]\nid = \"4.6\"\nreason = \"probed\"\nexpires = 2027-01-01\n[[exemption]]\nid = \"4.1\"\nreason = \"legacy\"\nexpires = \"2026-06-30\"\n",
            IDS,
        )
        .unwrap();
        assert_eq!(p.exemptions.len(), 2);
        assert_eq!(p.exemptions[0].expires.to_string(), "2027-01-01");
        assert!(p.registry_allowed("debian:12"));
        assert!(p.registry_allowed("docker.io/library/alpine@sha256:ab"));
        assert!(!p.registry_allowed("ghcr.io/acme/x:1"));
        assert!(!p.registry_allowed("acme/x"));
    }

    #[test]
    fn policy_errors() {
        let e = |t: &str| Policy::parse("p.toml", t, IDS).unwrap_err().to_string();
        assert!(
            e("[[exemption]]\nid = \"4.99\"\nreason = \"x\"\nexpires = \"2027-01-01\"\n")
                .contains("unknown check id")
        );
        assert!(e("[[exemption]]\nid = \"4.1\"\nexpires = \"2027-01-01\"\n").contains("reason"));
        assert!(e("[[exemption]]\nid = \"4.1\"\nreason = \"x\"\n").contains("expires"));
        assert!(
            e("[[exemption]]\nid = \"4.1\"\nreason = \"x\"\nexpires = \"soon\"\n")
                .contains("not a date")
        );
        assert!(e("bogus = 1\n").contains("bogus"));
    }

    #[test]
    fn repositories() {
        assert_eq!(repository("debian:12"), "docker.io/library/debian");
        assert_eq!(repository("localhost:5000/x:1"), "localhost:5000/x");
        assert_eq!(repository("ghcr.io/a/b@sha256:00"), "ghcr.io/a/b");
        assert_eq!(repository("acme/app"), "docker.io/acme/app");
    }
}
