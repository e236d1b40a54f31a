//! in-toto Statements (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>):
//! what an attestation says (`predicate`, of type `predicateType`) about which artifacts
//! (`subject`: a name and digests).
//!
//! lading writes `_type` [`IN_TOTO_STATEMENT_V1`]; cosign v3.1 still writes
//! [`IN_TOTO_STATEMENT_V01`], which has the same fields, so both are read. The predicate
//! is kept as the raw JSON it was given: nothing re-serializes it.
//!
//! The one statement model: attestations build theirs with [`Statement::new`], cosign v3's
//! image signature (`sigstore::image_signature`) builds its own (no subject name, empty
//! annotations) from the same types.

use std::collections::BTreeMap;

use lading_oci::Digest;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::constants::{IN_TOTO_STATEMENT_V01, IN_TOTO_STATEMENT_V1};
use crate::error::{Error, Result};

/// A statement's subject: an artifact and its digests (`{"sha256": "<hex>"}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subject {
    /// The artifact's name (cosign attest: the repository, `REGISTRY/REPO`; cosign sign
    /// leaves it out).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Digests by algorithm name, hex values.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// Claims about the subject (cosign sign's `-a key=value`, whose statement always
    /// has the map); left out when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, serde_json::Value>>,
}

impl Subject {
    /// A subject naming `digest`.
    pub fn of(name: &str, digest: &Digest) -> Subject {
        Subject {
            name: name.to_string(),
            digest: BTreeMap::from([(
                digest.algorithm().name().to_string(),
                digest.hex().to_string(),
            )]),
            annotations: None,
        }
    }
}

/// An in-toto Statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// The statement version URI.
    #[serde(rename = "_type")]
    pub kind: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's URI.
    pub predicate_type: String,
    /// The predicate, as given.
    pub predicate: Box<RawValue>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: "in-toto statement",
        reason: reason.into(),
    }
}

impl Statement {
    /// A statement about the manifest `digest` in repository `name`.
    pub fn new(
        name: &str,
        digest: &Digest,
        predicate_type: &str,
        predicate: Box<RawValue>,
    ) -> Self {
        Statement {
            kind: IN_TOTO_STATEMENT_V1.to_string(),
            subject: vec![Subject::of(name, digest)],
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// Compact JSON: `_type`, `subject`, `predicateType`, `predicate`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| invalid(e.to_string()))
    }

    /// Reads a statement and checks its version.
    pub fn parse(bytes: &[u8]) -> Result<Statement> {
        let s: Statement = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if s.kind != IN_TOTO_STATEMENT_V1 && s.kind != IN_TOTO_STATEMENT_V01 {
            return Err(invalid(format!("_type {:?}", s.kind)));
        }
        Ok(s)
    }

    /// Checks that a subject has `digest` (as cosign does: any subject will do).
    pub fn check_subject(&self, digest: &Digest) -> Result<()> {
        let algorithm = digest.algorithm().name();
        if self
            .subject
            .iter()
            .any(|s| s.digest.get(algorithm).map(String::as_str) == Some(digest.hex()))
        {
            return Ok(());
        }
        Err(Error::WrongDigest {
            expected: digest.clone(),
            actual: self
                .subject
                .iter()
                .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The predicate as a JSON value.
    pub fn predicate_value(&self) -> Result<serde_json::Value> {
        serde_json::from_str(self.predicate.get()).map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_bytes_and_subject_check() {
        let d = Digest::of(b"image");
        let predicate = RawValue::from_string(r#"{"b": 1, "a": [2]}"#.into()).unwrap();
        let s = Statement::new("r.example/app", &d, "https://example.com/p", predicate);
        let text = String::from_utf8(s.to_bytes().unwrap()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"r.example/app","digest":{{"sha256":"{}"}}}}],"predicateType":"https://example.com/p","predicate":{{"b": 1, "a": [2]}}}}"#,
                d.hex()
            )
        );
        let back = Statement::parse(text.as_bytes()).unwrap();
        back.check_subject(&d).unwrap();
        assert!(matches!(
            back.check_subject(&Digest::of(b"other")),
            Err(Error::WrongDigest { .. })
        ));
        assert_eq!(back.predicate_value().unwrap()["a"][0], 2);

        // cosign's v0.1 statements are read; other versions are not.
        let old = text.replace("Statement/v1", "Statement/v0.1");
        Statement::parse(old.as_bytes()).unwrap();
        let odd = text.replace("Statement/v1", "Statement/v9");
        assert!(Statement::parse(odd.as_bytes()).is_err());
    }
}
