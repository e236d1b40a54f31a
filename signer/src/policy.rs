//! Requirements on a verified SLSA provenance v1 predicate
//! (<https://slsa.dev/spec/v1.0/provenance>): who built the image
//! (`runDetails.builder.id`) and lading's gate verdict, recorded as the
//! `runDetails.byproducts` entry named [`PROVENANCE_GATES_BYPRODUCT`]
//! (`annotations.verdict`).

use crate::constants::{PREDICATE_SLSA_PROVENANCE_V1, PROVENANCE_GATES_BYPRODUCT};
use crate::error::{Error, Result};
use crate::intoto::Statement;

/// What a provenance must hold; an empty policy holds for every statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `runDetails.builder.id` must equal this.
    pub builder_id: Option<String>,
    /// The `lading-gates` byproduct's `annotations.verdict` must equal this.
    pub gate_verdict: Option<String>,
}

fn unmet(reason: String) -> Error {
    Error::Policy { reason }
}

impl Policy {
    /// Whether the policy asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.builder_id.is_none() && self.gate_verdict.is_none()
    }

    /// Checks `statement` against the policy.
    pub fn check(&self, statement: &Statement) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        if statement.predicate_type != PREDICATE_SLSA_PROVENANCE_V1 {
            return Err(unmet(format!(
                "the policy reads SLSA provenance v1, the predicate is {}",
                statement.predicate_type
            )));
        }
        let predicate = statement.predicate_value()?;
        let run = &predicate["runDetails"];
        if let Some(want) = &self.builder_id {
            match run["builder"]["id"].as_str() {
                Some(id) if id == want => {}
                Some(id) => return Err(unmet(format!("builder.id is {id:?}, not {want:?}"))),
                None => return Err(unmet("the provenance has no runDetails.builder.id".into())),
            }
        }
        if let Some(want) = &self.gate_verdict {
            let gates = run["byproducts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["name"] == PROVENANCE_GATES_BYPRODUCT)
                .ok_or_else(|| {
                    unmet(format!(
                        "the provenance has no {PROVENANCE_GATES_BYPRODUCT} byproduct"
                    ))
                })?;
            match gates["annotations"]["verdict"].as_str() {
                Some(v) if v == want => {}
                Some(v) => return Err(unmet(format!("the gate verdict is {v:?}, not {want:?}"))),
                None => {
                    return Err(unmet(format!(
                        "the {PROVENANCE_GATES_BYPRODUCT} byproduct has no verdict"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lading_oci::Digest;
    use serde_json::Value;
    use serde_json::value::RawValue;

    fn provenance(predicate_type: &str, predicate: Value) -> Statement {
        Statement::new(
            "r/app",
            &Digest::of(b"i"),
            predicate_type,
            RawValue::from_string(predicate.to_string()).unwrap(),
        )
    }

    #[test]
    fn builder_id_and_gate_verdict() {
        let good = provenance(
            PREDICATE_SLSA_PROVENANCE_V1,
            serde_json::json!({
                "buildDefinition": {},
                "runDetails": {
                    "builder": {"id": "https://lading.dev/builder/v1"},
                    "byproducts": [
                        {"name": "build-log"},
                        {"name": "lading-gates", "annotations": {"verdict": "pass"}}
                    ]
                }
            }),
        );
        let policy = |b: Option<&str>, v: Option<&str>| Policy {
            builder_id: b.map(str::to_string),
            gate_verdict: v.map(str::to_string),
        };
        policy(None, None).check(&good).unwrap();
        policy(Some("https://lading.dev/builder/v1"), Some("pass"))
            .check(&good)
            .unwrap();
        for (p, why) in [
            (policy(Some("https://evil.example"), None), "builder.id is"),
            (policy(None, Some("fail")), "verdict is \"pass\""),
        ] {
            let e = p.check(&good).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let bare = provenance(
            PREDICATE_SLSA_PROVENANCE_V1,
            serde_json::json!({"runDetails": {"byproducts": [{"name": "x"}]}}),
        );
        assert!(policy(Some("b"), None).check(&bare).is_err());
        assert!(policy(None, Some("pass")).check(&bare).is_err());
        // Another predicate type cannot satisfy a provenance policy.
        let sbom = provenance(crate::constants::PREDICATE_CYCLONEDX, serde_json::json!({}));
        assert!(policy(None, Some("pass")).check(&sbom).is_err());
        policy(None, None).check(&sbom).unwrap();
    }
}
