//! `lading inspect REF`: the manifest and config of an image, as JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_oci::{ImageSource, Platform, SourceRef, Store};

use crate::cli::args::InspectArgs;

/// Prints `{"name","descriptor","manifest","config"}`.
pub fn run(store_dir: &Path, args: InspectArgs) -> Result<ExitCode> {
    let store = Store::open(store_dir)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let source = SourceRef::parse(&args.reference);
    let image = source
        .fetch(&store, &platform)?
        .with_context(|| format!("{} has no manifest to inspect", args.reference))?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&image.descriptor.digest)?)?;
    let config: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&image.manifest.config.digest)?)?;
    let out = serde_json::json!({
        "name": source.name(),
        "descriptor": image.descriptor,
        "manifest": manifest,
        "config": config,
    });
    crate::cli::out!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
