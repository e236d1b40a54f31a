//! The "reproduced" predicate (`https://lading.dev/attestation/reproduced/v1`,
//! documented in `docs/attestations.md`): who rebuilt the image from its provenance,
//! where, when, from which inputs, and the result. No host path reaches it.

use anyhow::Result;
use lading_oci::Digest;
use serde_json::{Value, json};

use super::Outcome;

/// `{"sha256": "<hex>"}`.
fn digest_set(d: &Digest) -> Value {
    json!({"sha256": d.hex()})
}

/// When the reproduction ran, and by whom (`runDetails`-like).
pub struct Run {
    /// The reproducer's id (as a build's `builder.id`).
    pub id: String,
    /// This run's id.
    pub invocation_id: String,
    /// RFC 3339, UTC.
    pub started_on: String,
    /// RFC 3339, UTC.
    pub finished_on: String,
}

/// The predicate of `outcome`, whose provenance's bytes hashed to `provenance`.
pub fn predicate(outcome: &Outcome, provenance: &Digest, run: &Run) -> Result<Vec<u8>> {
    let context_uri = if outcome.context.source == "directory" {
        "directory".to_string()
    } else {
        outcome.context.source.clone()
    };
    let images: Vec<Value> = outcome
        .base_images
        .iter()
        .map(|b| {
            json!({
                "name": b.requested,
                "uri": b.reference,
                "digest": digest_set(b.used.as_ref().unwrap_or(&b.recorded)),
            })
        })
        .collect();
    let value = json!({
        "reproducer": {
            "id": run.id,
            "version": {"lading": env!("CARGO_PKG_VERSION")},
        },
        "invocationId": run.invocation_id,
        "startedOn": run.started_on,
        "finishedOn": run.finished_on,
        "result": if outcome.reproduced { "reproduced" } else { "not-reproduced" },
        "image": {"digest": digest_set(&outcome.digest)},
        "rebuilt": {"digest": digest_set(&outcome.rebuilt)},
        "provenance": {"digest": digest_set(provenance)},
        "inputs": {
            "context": {
                "uri": context_uri,
                "path": outcome.context.path,
                "digest": digest_set(&outcome.context.actual),
            },
            "dockerfile": {"digest": digest_set(&outcome.dockerfile.1)},
            "images": images,
        },
        "notes": outcome.notes,
        "causes": outcome.causes,
    });
    Ok(lading_oci::spec::to_canonical_json(&value)?)
}
