//! SLSA provenance v1 predicates (<https://slsa.dev/spec/v1.0/provenance>), as serde
//! types whose JSON is the schema's (the in-toto attestation framework's
//! `predicates/provenance/v1` protobuf, in its JSON mapping: camelCase, RFC 3339 times).
//!
//! What goes into `externalParameters` and `internalParameters` is the build type's
//! business, so they are JSON values here; the binary fills them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The inputs of the build.
    pub build_definition: BuildDefinition,
    /// How this run went.
    pub run_details: RunDetails,
}

/// `buildDefinition`: everything that should determine the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// A URI saying how to read the parameters (the build type's documentation).
    pub build_type: String,
    /// Parameters under the control of whoever started the build.
    pub external_parameters: Value,
    /// Parameters the builder chose.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub internal_parameters: Value,
    /// Artifacts the build read, by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// Who ran the build.
    pub builder: Builder,
    /// When, and which invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    /// Other artifacts the run produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// `runDetails.builder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// The builder's identity (a URI).
    pub id: String,
    /// Component versions (`{"lading": "0.1.0"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

/// `runDetails.metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// Identifies this invocation of the builder.
    pub invocation_id: String,
    /// When the build started (RFC 3339, UTC).
    pub started_on: String,
    /// When it finished (RFC 3339, UTC).
    pub finished_on: String,
}

/// An in-toto ResourceDescriptor (<https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md>):
/// at least one of `name`, `uri` or `digest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A name for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Where it comes from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Algorithm → lowercase hex (`sha256`, `gitCommit`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Anything else about it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Value>,
}

impl ResourceDescriptor {
    /// A descriptor with a name and a sha256 digest (`sha256:<hex>` or bare hex).
    pub fn sha256(name: impl Into<String>, digest: &lading_oci::Digest) -> ResourceDescriptor {
        ResourceDescriptor {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), digest.hex().to_string())]),
            ..ResourceDescriptor::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_serializes_with_the_schemas_field_names_and_omits_empty_ones() {
        let digest = lading_oci::Digest::of(b"x");
        let p = Provenance {
            build_definition: BuildDefinition {
                build_type: "https://example.com/bt".into(),
                external_parameters: serde_json::json!({"a": 1}),
                internal_parameters: Value::Null,
                resolved_dependencies: vec![ResourceDescriptor::sha256("base", &digest)],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "https://example.com/b".into(),
                    version: BTreeMap::new(),
                },
                metadata: Some(BuildMetadata {
                    invocation_id: "i".into(),
                    started_on: "2026-01-01T00:00:00Z".into(),
                    finished_on: "2026-01-01T00:00:01Z".into(),
                }),
                byproducts: Vec::new(),
            },
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "buildDefinition": {
                    "buildType": "https://example.com/bt",
                    "externalParameters": {"a": 1},
                    "resolvedDependencies": [{"name": "base", "digest": {"sha256": digest.hex()}}],
                },
                "runDetails": {
                    "builder": {"id": "https://example.com/b"},
                    "metadata": {
                        "invocationId": "i",
                        "startedOn": "2026-01-01T00:00:00Z",
                        "finishedOn": "2026-01-01T00:00:01Z",
                    },
                },
            })
        );
        assert_eq!(serde_json::from_value::<Provenance>(json).unwrap(), p);
    }
}
