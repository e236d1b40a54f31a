//! `lading gate`'s policy: one TOML file for all four gates. It is the CIS policy file
//! ([`crate::cis::policy`]) with three optional sections:
//!
//! ```toml
//! allowed_registries = ["docker.io/library"]   # CIS 4.2, as for `lading cis`
//! [[exemption]]                                 # CIS exemptions, as for `lading cis`
//! id = "4.6"
//! reason = "the orchestrator probes /healthz"
//! expires = 2027-01-01
//!
//! [gates]
//! skip = ["scan"]            # gates not to run: sbom, scan, cis, secrets
//!
//! [scan]
//! fail_on = "high"           # any, low, medium, high (default), critical
//! ignore = ["vex.json"]      # ignore files (lading JSON or OpenVEX), relative to this file
//!
//! [secrets]
//! rules = "rules.toml"       # extra rules in gitleaks' shape, relative to this file
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cis::policy::Policy as CisPolicy;
use crate::error::{Error, Result};
use crate::vuln::report::FailOn;

/// The gates `lading gate` runs, in order.
pub const GATES: [&str; 4] = ["sbom", "scan", "cis", "secrets"];

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicy {
    /// The CIS part (registries, exemptions).
    pub cis: CisPolicy,
    /// Gates the policy turns off (names from [`GATES`]).
    pub skip: Vec<String>,
    /// The lowest severity that fails the vulnerability gate.
    pub fail_on: FailOn,
    /// Ignore files for the vulnerability gate (resolved against the policy's directory).
    pub ignore: Vec<PathBuf>,
    /// A secrets rules file (resolved against the policy's directory).
    pub secrets_rules: Option<PathBuf>,
}

impl Default for GatePolicy {
    fn default() -> GatePolicy {
        GatePolicy {
            cis: CisPolicy::default(),
            skip: Vec::new(),
            fail_on: FailOn::High,
            ignore: Vec::new(),
            secrets_rules: None,
        }
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    gates: Option<GatesSection>,
    #[serde(default)]
    scan: Option<ScanSection>,
    #[serde(default)]
    secrets: Option<SecretsSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesSection {
    #[serde(default)]
    skip: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanSection {
    #[serde(default)]
    fail_on: Option<String>,
    #[serde(default)]
    ignore: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsSection {
    #[serde(default)]
    rules: Option<String>,
}

/// Parses a `fail_on` level.
pub fn parse_fail_on(s: &str) -> Option<FailOn> {
    Some(match s {
        "any" => FailOn::Any,
        "low" => FailOn::Low,
        "medium" => FailOn::Medium,
        "high" => FailOn::High,
        "critical" => FailOn::Critical,
        _ => return None,
    })
}

impl GatePolicy {
    /// Parses a policy file; `source` names it in messages, relative paths in it are
    /// resolved against `base`, `known` lists the CIS check ids.
    pub fn parse(source: &str, text: &str, base: &Path, known: &[&str]) -> Result<GatePolicy> {
        let cis = CisPolicy::parse(source, text, known)?;
        let invalid = |reason: String| Error::Invalid {
            what: source.to_string(),
            reason,
        };
        let file: File =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().to_string()))?;
        let skip = file.gates.map(|g| g.skip).unwrap_or_default();
        for s in &skip {
            if !GATES.contains(&s.as_str()) {
                return Err(invalid(format!(
                    "[gates] skip: unknown gate {s:?} (one of {})",
                    GATES.join(", ")
                )));
            }
        }
        let mut policy = GatePolicy {
            cis,
            skip,
            ..GatePolicy::default()
        };
        if let Some(scan) = file.scan {
            if let Some(f) = scan.fail_on {
                policy.fail_on = parse_fail_on(&f).ok_or_else(|| {
                    invalid(format!(
                        "[scan] fail_on {f:?}: one of any, low, medium, high, critical"
                    ))
                })?;
            }
            policy.ignore = match scan.ignore {
                None => Vec::new(),
                Some(OneOrMany::One(p)) => vec![base.join(p)],
                Some(OneOrMany::Many(ps)) => ps.into_iter().map(|p| base.join(p)).collect(),
            };
        }
        policy.secrets_rules = file.secrets.and_then(|s| s.rules).map(|p| base.join(p));
        Ok(policy)
    }

    /// Whether the policy turns `gate` off.
    pub fn skips(&self, gate: &str) -> bool {
        self.skip.iter().any(|s| s == gate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["4.1", "4.6"];

    #[test]
    fn parses_all_sections() {
        let p = GatePolicy::parse(
            "p.toml",
            "allowed_registries = [\"docker.io/library\"]\n[gates]\nskip = [\"scan\"]\n[scan]\nfail_on = \"critical\"\nignore = \"vex.json\"\n[secrets]\nrules = \"r.toml\"\n[[exemption]]\nid = \"4.6\"\nreason = \"probed\"\nexpires = 2027-01-01\n",
            Path::new("/etc/lading"),
            IDS,
        )
        .unwrap();
        assert!(p.skips("scan") && !p.skips("cis"));
        assert_eq!(p.fail_on, FailOn::Critical);
        assert_eq!(p.ignore, vec![PathBuf::from("/etc/lading/vex.json")]);
        assert_eq!(
            p.secrets_rules.as_deref(),
            Some(Path::new("/etc/lading/r.toml"))
        );
        assert_eq!(p.cis.exemptions.len(), 1);
    }

    #[test]
    fn defaults_and_errors() {
        let p = GatePolicy::parse("p.toml", "", Path::new("."), IDS).unwrap();
        assert_eq!(p, GatePolicy::default());
        let e = |t: &str| {
            GatePolicy::parse("p.toml", t, Path::new("."), IDS)
                .unwrap_err()
                .to_string()
        };
        assert!(e("[gates]\nskip = [\"lint\"]\n").contains("unknown gate"));
        assert!(e("[scan]\nfail_on = \"severe\"\n").contains("fail_on"));
        assert!(e("[scan]\nbogus = 1\n").contains("bogus"));
        assert!(e("bogus = 1\n").contains("bogus"));
    }
}
