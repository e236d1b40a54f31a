//! The build's inputs, from the SLSA provenance v1 predicate lading generates for the
//! image (`crate::attestations::generate`): the same document `lading sign --attest`
//! signs, so the page shows what an attestation of this digest says.

use anyhow::Result;
use lading_oci::{Digest, Store};
use serde_json::Value;

use super::Part;
use crate::attestations::{self, Kind, record};

/// The names `resolvedDependencies` gives the build's own inputs; every other entry is
/// an image the build read.
const SOURCES: [&str; 3] = ["dockerfile", "context", "context-git"];

/// What the provenance says.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// `buildDefinition.buildType`.
    pub build_type: String,
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// The lading version that built it.
    pub lading_version: String,
    /// `runDetails.metadata`.
    pub invocation_id: String,
    /// See `invocation_id`.
    pub started_on: String,
    /// See `invocation_id`.
    pub finished_on: String,
    /// Images the build read (`FROM`, `COPY --from`, `--mount=from`), by digest.
    pub images: Vec<Dependency>,
    /// The Dockerfile, the context, its git commit and directory contexts.
    pub sources: Vec<Dependency>,
    /// The git checkout the context was.
    pub git: Option<Git>,
    /// `externalParameters` and `internalParameters`, flattened (`buildArgs.VERSION`).
    pub parameters: Vec<(String, String)>,
    /// `runDetails.byproducts`: the gate record and the build log.
    pub byproducts: Vec<Dependency>,
}

/// A resource descriptor.
#[derive(Debug, Clone, Default)]
pub struct Dependency {
    /// Its name.
    pub name: String,
    /// Its URI (the resolved reference, for an image).
    pub uri: String,
    /// `sha256:<hex>` (or `gitCommit:<hex>`).
    pub digest: String,
    /// The gate record's verdict annotation, for that byproduct.
    pub verdict: Option<String>,
}

/// The context's git source.
#[derive(Debug, Clone, Default)]
pub struct Git {
    /// Repository URI.
    pub uri: String,
    /// Commit.
    pub commit: String,
    /// The context's directory in it.
    pub path: String,
}

/// The provenance of `manifest`: missing when lading did not build it in this store.
pub fn gather(store: &Store, manifest: &Digest) -> Part<Provenance> {
    match record::latest(store, manifest) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Part::Missing(
                "no build record: the image was not built by `lading build` in this store".into(),
            );
        }
        Err(e) => return Part::broken(&e),
    }
    let read = || -> Result<Provenance> {
        let predicate = attestations::generate(store, manifest, Kind::SlsaProvenance)?;
        Ok(from_predicate(&serde_json::from_slice(&predicate.bytes)?))
    };
    read().map_or_else(|e| Part::broken(&e), Part::Found)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn dependency(v: &Value) -> Dependency {
    let digest = v["digest"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(alg, hex)| format!("{alg}:{}", text(hex)))
        .collect::<Vec<_>>()
        .join(", ");
    Dependency {
        name: text(&v["name"]),
        uri: text(&v["uri"]),
        digest,
        verdict: v["annotations"]["verdict"].as_str().map(str::to_string),
    }
}

/// Reads the SLSA v1 predicate lading writes (`attestations::slsa`).
pub fn from_predicate(p: &Value) -> Provenance {
    let def = &p["buildDefinition"];
    let run = &p["runDetails"];
    let deps: Vec<Dependency> = def["resolvedDependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(dependency)
        .collect();
    let (sources, images) = deps
        .into_iter()
        .partition(|d| SOURCES.contains(&d.name.as_str()) || d.name.starts_with("build-context:"));
    let git_v = &def["externalParameters"]["context"]["git"];
    let git = git_v.is_object().then(|| Git {
        uri: text(&git_v["uri"]),
        commit: text(&git_v["digest"]["gitCommit"]),
        path: text(&git_v["path"]),
    });
    let mut parameters = Vec::new();
    flatten("", &def["externalParameters"], &mut parameters);
    flatten("internal", &def["internalParameters"], &mut parameters);
    Provenance {
        build_type: text(&def["buildType"]),
        builder_id: text(&run["builder"]["id"]),
        lading_version: text(&run["builder"]["version"]["lading"]),
        invocation_id: text(&run["metadata"]["invocationId"]),
        started_on: text(&run["metadata"]["startedOn"]),
        finished_on: text(&run["metadata"]["finishedOn"]),
        images,
        sources,
        git,
        parameters,
        byproducts: run["byproducts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(dependency)
            .collect(),
    }
}

/// `v`'s leaves as `(dotted.path, text)`; an empty object or list is one leaf (`{}`,
/// `[]`) so a parameter that is set to nothing still shows; lists of scalars are joined.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(text).collect();
            let shown = if items.is_empty() {
                "[]".into()
            } else {
                items.join(", ")
            };
            out.push((prefix.to_string(), shown));
        }
        Value::Null if prefix.is_empty() => {}
        other => out.push((prefix.to_string(), text(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_the_dependencies_that_are_not_the_builds_own_inputs() {
        let p = json!({
            "buildDefinition": {
                "buildType": "https://lading.dev/buildtypes/dockerfile/v1",
                "externalParameters": {
                    "buildArgs": {"VERSION": "1"},
                    "context": {"digest": {"sha256": "cc"}, "git": {"uri": "git+https://x/r", "digest": {"gitCommit": "abc"}, "path": ""}},
                    "secrets": [],
                    "buildContexts": {},
                },
                "internalParameters": {"noCache": false},
                "resolvedDependencies": [
                    {"name": "dockerfile", "digest": {"sha256": "dd"}},
                    {"name": "context", "digest": {"sha256": "cc"}},
                    {"name": "context-git", "uri": "git+https://x/r@abc", "digest": {"gitCommit": "abc"}},
                    {"name": "build-context:assets", "digest": {"sha256": "ee"}},
                    {"name": "base:1", "uri": "base:1", "digest": {"sha256": "bb"}},
                ],
            },
            "runDetails": {"builder": {"id": "b", "version": {"lading": "0.1.0"}}, "byproducts": [
                {"name": "lading-gates", "digest": {"sha256": "gg"}, "annotations": {"verdict": "pass"}},
            ]},
        });
        let p = from_predicate(&p);
        assert_eq!(p.images.len(), 1);
        assert_eq!(p.images[0].digest, "sha256:bb");
        assert_eq!(p.sources.len(), 4);
        assert_eq!(p.git.as_ref().unwrap().commit, "abc");
        assert!(
            p.parameters
                .contains(&("buildArgs.VERSION".into(), "1".into()))
        );
        assert!(p.parameters.contains(&("secrets".into(), "[]".into())));
        assert!(
            p.parameters
                .contains(&("buildContexts".into(), "{}".into()))
        );
        assert!(
            p.parameters
                .contains(&("internal.noCache".into(), "false".into()))
        );
        assert_eq!(p.byproducts[0].verdict.as_deref(), Some("pass"));
    }
}
