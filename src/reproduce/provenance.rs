//! The parameters a rebuild needs, read from a SLSA provenance v1 predicate of lading's
//! build type (`docs/attestations.md`, "Build type"). The predicate may come bare (as
//! `lading predicate` writes it), inside an in-toto statement, or inside a DSSE
//! envelope (a cosign `.att` layer, a bundle's `dsseEnvelope`).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use lading_oci::Digest;
use serde_json::Value;

use crate::attestations::slsa::BUILD_TYPE;

/// The git checkout the context was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// `git+<remote>`.
    pub uri: String,
    /// The commit.
    pub commit: String,
    /// The context's directory inside the repository (`""`: its root).
    pub path: String,
}

impl GitSource {
    /// The URL `git clone` takes (`git+` dropped).
    pub fn clone_url(&self) -> &str {
        self.uri.strip_prefix("git+").unwrap_or(&self.uri)
    }
}

/// An image the build read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedImage {
    /// The name the Dockerfile used (`FROM NAME`).
    pub requested: String,
    /// The reference it resolved to.
    pub reference: String,
    /// What that reference named then.
    pub digest: Digest,
}

/// What a rebuild must use: `externalParameters` and the images of
/// `resolvedDependencies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The statement's subjects' digests (empty for a bare predicate).
    pub subjects: Vec<Digest>,
    /// `dockerfile.path`.
    pub dockerfile_path: String,
    /// `dockerfile.digest`.
    pub dockerfile_digest: Digest,
    /// `context.digest`.
    pub context_digest: Digest,
    /// `context.git`.
    pub git: Option<GitSource>,
    /// `buildArgs`.
    pub build_args: BTreeMap<String, String>,
    /// `target`.
    pub target: Option<String>,
    /// `platform`.
    pub platform: String,
    /// `sourceDateEpoch`.
    pub source_date_epoch: i64,
    /// `contextModes`.
    pub context_modes: String,
    /// `network`.
    pub network: String,
    /// `buildContexts` (as recorded).
    pub build_contexts: BTreeMap<String, Value>,
    /// `secrets` ids.
    pub secrets: Vec<String>,
    /// `ssh` ids.
    pub ssh: Vec<String>,
    /// Every image the build read.
    pub images: Vec<RecordedImage>,
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// `runDetails.builder.version.lading`.
    pub lading_version: String,
}

/// The names `resolvedDependencies` gives the build's own inputs.
fn is_source(name: &str) -> bool {
    matches!(name, "dockerfile" | "context" | "context-git") || name.starts_with("build-context:")
}

fn sha256(v: &Value, what: &str) -> Result<Digest> {
    let hex = v["sha256"]
        .as_str()
        .with_context(|| format!("{what}: no sha256 digest"))?;
    format!("sha256:{hex}")
        .parse()
        .with_context(|| format!("{what}: invalid digest"))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// Unwraps a DSSE envelope and an in-toto statement down to the predicate; returns it
/// with the statement's subject digests.
fn unwrap(doc: Value) -> Result<(Value, Vec<Digest>)> {
    if let Some(payload) = doc["payload"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(payload))
            .context("the envelope's payload is not base64")?;
        let inner: Value =
            serde_json::from_slice(&bytes).context("the envelope's payload is not JSON")?;
        return unwrap(inner);
    }
    if doc.get("dsseEnvelope").is_some() {
        return unwrap(doc["dsseEnvelope"].clone());
    }
    if doc.get("predicate").is_some() {
        let ptype = text(&doc["predicateType"]);
        if !ptype.is_empty() && ptype != lading_signer::constants::PREDICATE_SLSA_PROVENANCE_V1 {
            bail!("the statement's predicate is {ptype}, not SLSA provenance v1");
        }
        let subjects = doc["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["digest"]["sha256"].as_str())
            .filter_map(|h| format!("sha256:{h}").parse().ok())
            .collect();
        return Ok((doc["predicate"].clone(), subjects));
    }
    Ok((doc, Vec::new()))
}

/// Reads the provenance from a file's bytes (predicate, statement or envelope).
pub fn parse(bytes: &[u8]) -> Result<Recorded> {
    let doc: Value = serde_json::from_slice(bytes).context("the provenance is not JSON")?;
    let (p, subjects) = unwrap(doc)?;
    let def = &p["buildDefinition"];
    let build_type = text(&def["buildType"]);
    if build_type != BUILD_TYPE {
        bail!(
            "the provenance's build type is {:?}, not lading's {BUILD_TYPE}: lading can only rebuild what lading built",
            build_type
        );
    }
    let ext = &def["externalParameters"];
    let git = ext["context"].get("git").map(|g| GitSource {
        uri: text(&g["uri"]),
        commit: text(&g["digest"]["gitCommit"]),
        path: text(&g["path"]),
    });
    if let Some(g) = &git
        && (g.uri.is_empty() || g.commit.is_empty())
    {
        bail!("context.git needs a uri and a gitCommit");
    }
    let mut build_args = BTreeMap::new();
    for (k, v) in ext["buildArgs"].as_object().into_iter().flatten() {
        build_args.insert(k.clone(), text(v));
    }
    let mut images = Vec::new();
    for dep in def["resolvedDependencies"].as_array().into_iter().flatten() {
        let name = text(&dep["name"]);
        if is_source(&name) {
            continue;
        }
        images.push(RecordedImage {
            digest: sha256(&dep["digest"], &format!("resolvedDependencies {name}"))?,
            reference: text(&dep["uri"]),
            requested: name,
        });
    }
    Ok(Recorded {
        subjects,
        dockerfile_path: text(&ext["dockerfile"]["path"]),
        dockerfile_digest: sha256(&ext["dockerfile"]["digest"], "dockerfile")?,
        context_digest: sha256(&ext["context"]["digest"], "context")?,
        git,
        build_args,
        target: ext["target"].as_str().map(String::from),
        platform: text(&ext["platform"]),
        source_date_epoch: ext["sourceDateEpoch"].as_i64().unwrap_or(0),
        context_modes: ext["contextModes"]
            .as_str()
            .unwrap_or("preserve")
            .to_string(),
        network: ext["network"].as_str().unwrap_or("default").to_string(),
        build_contexts: ext["buildContexts"]
            .as_object()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default(),
        secrets: strings(&ext["secrets"]),
        ssh: strings(&ext["ssh"]),
        images,
        builder_id: text(&p["runDetails"]["builder"]["id"]),
        lading_version: text(&p["runDetails"]["builder"]["version"]["lading"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicate() -> Value {
        serde_json::json!({
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "dockerfile": {"path": "Dockerfile", "digest": {"sha256": "a".repeat(64)}},
                    "context": {"digest": {"sha256": "b".repeat(64)},
                        "git": {"uri": "git+https://example.test/r.git",
                                "digest": {"gitCommit": "c".repeat(40)}, "path": "app"}},
                    "buildArgs": {"V": "1"},
                    "platform": "linux/amd64",
                    "sourceDateEpoch": 5,
                    "contextModes": "preserve",
                    "network": "none",
                    "buildContexts": {},
                    "secrets": [], "ssh": []
                },
                "internalParameters": {"noCache": false},
                "resolvedDependencies": [
                    {"name": "dockerfile", "digest": {"sha256": "a".repeat(64)}},
                    {"name": "context", "digest": {"sha256": "b".repeat(64)}},
                    {"name": "context-git", "uri": "x", "digest": {"gitCommit": "c".repeat(40)}},
                    {"name": "base:1", "uri": "127.0.0.1:5000/base:1", "digest": {"sha256": "d".repeat(64)}}
                ]
            },
            "runDetails": {"builder": {"id": "https://lading.dev/builder/local", "version": {"lading": "0.1.0"}}}
        })
    }

    #[test]
    fn bare_predicates_statements_and_envelopes_read_alike() {
        let bare = parse(predicate().to_string().as_bytes()).unwrap();
        assert_eq!(bare.build_args["V"], "1");
        assert_eq!(bare.images.len(), 1);
        assert_eq!(bare.images[0].requested, "base:1");
        assert_eq!(
            bare.git.as_ref().unwrap().clone_url(),
            "https://example.test/r.git"
        );
        assert_eq!(bare.source_date_epoch, 5);
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "x", "digest": {"sha256": "e".repeat(64)}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": predicate(),
        });
        let s = parse(statement.to_string().as_bytes()).unwrap();
        assert_eq!(s.subjects.len(), 1);
        let envelope = serde_json::json!({
            "payloadType": "application/vnd.in-toto+json",
            "payload": base64::engine::general_purpose::STANDARD.encode(statement.to_string()),
            "signatures": [],
        });
        let e = parse(envelope.to_string().as_bytes()).unwrap();
        assert_eq!(e, s);
        assert_eq!(
            Recorded {
                subjects: Vec::new(),
                ..e
            },
            bare
        );
    }

    #[test]
    fn other_build_types_are_refused() {
        let mut p = predicate();
        p["buildDefinition"]["buildType"] = "https://example.test/other".into();
        let err = parse(p.to_string().as_bytes()).unwrap_err().to_string();
        assert!(err.contains("build type"), "{err}");
    }
}
