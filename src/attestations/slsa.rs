//! SLSA provenance v1 for an image lading built, from its build record
//! (`docs/attestations.md` documents the build type [`BUILD_TYPE`]).

use std::collections::BTreeMap;

use anyhow::Result;
use lading_gates::record as gate_record;
use lading_oci::{Digest, Store};
use lading_signer::slsa::{
    BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails,
};
use serde_json::{Value, json};

use super::record::{BuildRecord, NamedContextRef};

/// The build type: lading's Dockerfile builds, documented in `docs/attestations.md`.
pub const BUILD_TYPE: &str = "https://lading.dev/buildtypes/dockerfile/v1";

/// The name of the gate record among the byproducts (`verify-attestation
/// --gate-verdict` reads this entry).
pub const GATES_BYPRODUCT: &str = "lading-gates";

/// The name of the build log among the byproducts.
pub const BUILD_LOG_BYPRODUCT: &str = "lading-build-log";

/// `{"sha256": "<hex>"}` of a `sha256:<hex>` digest string.
fn digest_set(digest: &str) -> Result<Value> {
    let d: Digest = digest.parse()?;
    Ok(json!({"sha256": d.hex()}))
}

fn descriptor(name: &str, uri: &str, digest: &str) -> Result<ResourceDescriptor> {
    let d: Digest = digest.parse()?;
    let mut rd = ResourceDescriptor::sha256(name, &d);
    rd.uri = uri.to_string();
    Ok(rd)
}

/// `externalParameters`: everything that determines the image digest.
fn external_parameters(record: &BuildRecord) -> Result<Value> {
    let mut context = json!({"digest": digest_set(&record.context.digest)?});
    if let Some(git) = &record.context.git {
        context["git"] = json!({
            "uri": git.uri,
            "digest": {"gitCommit": git.commit},
            "path": git.path,
        });
    }
    let mut named = serde_json::Map::new();
    for (name, ctx) in &record.build_contexts {
        let value = match ctx {
            NamedContextRef::Directory { digest } => json!({"digest": digest_set(digest)?}),
            NamedContextRef::Image { reference } => json!({"image": reference}),
        };
        named.insert(name.clone(), value);
    }
    let mut params = json!({
        "dockerfile": {
            "path": record.dockerfile.path,
            "digest": digest_set(&record.dockerfile.digest)?,
        },
        "context": context,
        "buildArgs": record.build_args,
        "platform": record.platform,
        "sourceDateEpoch": record.source_date_epoch,
        "contextModes": record.context_modes,
        "network": record.network,
        "buildContexts": named,
        "secrets": record.secrets,
        "ssh": record.ssh,
    });
    if let Some(target) = &record.target {
        params["target"] = json!(target);
    }
    Ok(params)
}

/// `resolvedDependencies`: the Dockerfile, the context (and its commit), every named
/// directory context and every image the build read, by digest.
fn resolved_dependencies(record: &BuildRecord) -> Result<Vec<ResourceDescriptor>> {
    let mut deps = vec![
        descriptor("dockerfile", "", &record.dockerfile.digest)?,
        descriptor("context", "", &record.context.digest)?,
    ];
    if let Some(git) = &record.context.git {
        deps.push(ResourceDescriptor {
            name: "context-git".into(),
            uri: format!("{}@{}", git.uri, git.commit),
            digest: BTreeMap::from([("gitCommit".to_string(), git.commit.clone())]),
            ..ResourceDescriptor::default()
        });
    }
    for (name, ctx) in &record.build_contexts {
        if let NamedContextRef::Directory { digest } = ctx {
            deps.push(descriptor(&format!("build-context:{name}"), "", digest)?);
        }
    }
    for image in &record.images {
        deps.push(descriptor(
            &image.requested,
            &image.reference,
            &image.digest,
        )?);
    }
    Ok(deps)
}

/// The provenance of `record`, with the gate record of its manifest (if the gates ran
/// on it) and the build log (of `log_digest`) as byproducts.
pub fn provenance(store: &Store, record: &BuildRecord, log_digest: &Digest) -> Result<Provenance> {
    let manifest: Digest = record.manifest.parse()?;
    let mut byproducts = vec![ResourceDescriptor {
        media_type: "application/json".into(),
        ..ResourceDescriptor::sha256(BUILD_LOG_BYPRODUCT, log_digest)
    }];
    if let Some(gates) = gate_record::latest(store, &manifest)? {
        // The record file holds the very bytes of the record's blob.
        let path = gate_record::record_path(store, &manifest);
        let bytes = std::fs::read(&path)
            .map_err(|e| anyhow::anyhow!("reading the gate record {}: {e}", path.display()))?;
        let mut rd = ResourceDescriptor::sha256(GATES_BYPRODUCT, &Digest::of(&bytes));
        rd.media_type = gate_record::MEDIA_TYPE.into();
        let verdict = serde_json::to_value(gates.verdict)?;
        rd.annotations.insert("verdict".into(), verdict);
        byproducts.push(rd);
    }
    Ok(Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.into(),
            external_parameters: external_parameters(record)?,
            internal_parameters: json!({"noCache": record.no_cache}),
            resolved_dependencies: resolved_dependencies(record)?,
        },
        run_details: RunDetails {
            builder: Builder {
                id: record.builder_id.clone(),
                version: BTreeMap::from([("lading".to_string(), record.lading_version.clone())]),
            },
            metadata: Some(BuildMetadata {
                invocation_id: record.invocation_id.clone(),
                started_on: record.started_on.clone(),
                finished_on: record.finished_on.clone(),
            }),
            byproducts,
        },
    })
}
