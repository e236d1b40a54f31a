//! `lading inspect REF`: the manifest and config of an image, as JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_oci::graph::Node;
use lading_oci::image::select_platform;
use lading_oci::{ImageSource, Platform, SourceRef, Store};

use crate::cli::args::{InspectArgs, Progress};
use crate::cli::registry;

/// Prints `{"name","descriptor","manifest","config"}` (plus `"index"` when the reference
/// names an index), or with `--raw` the manifest bytes as they are.
pub fn run(store_dir: &Path, args: InspectArgs) -> Result<ExitCode> {
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    if args.reference.starts_with("docker://") {
        return remote(&args, &platform);
    }
    let store = Store::open(store_dir)?;
    let source = SourceRef::parse(&args.reference);
    let image = source
        .fetch(&store, &platform)?
        .with_context(|| format!("{} has no manifest to inspect", args.reference))?;
    let raw = store.read_blob(&image.descriptor.digest)?;
    if args.raw {
        print_raw(&raw)?;
        return Ok(ExitCode::SUCCESS);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&raw)?;
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

fn print_raw(bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Reads manifest(s) and config from the registry; layers are not downloaded.
fn remote(args: &InspectArgs, platform: &Platform) -> Result<ExitCode> {
    let reference = registry::reference(&args.reference)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let top = client
        .manifest(&reference)
        .with_context(|| format!("reading {reference}"))?;
    if args.raw {
        print_raw(&top.bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (index, fetched) = match Node::parse(&top.descriptor.media_type, &top.bytes)? {
        Node::Index(index) => {
            let child = select_platform(&index, platform, &reference.to_string())?;
            let m = client
                .manifest(&reference.with_digest(child.digest.clone()))
                .with_context(|| format!("reading {reference} for {platform}"))?;
            (Some(top), m)
        }
        Node::Manifest(_) => (None, top),
    };
    let manifest: serde_json::Value = serde_json::from_slice(&fetched.bytes)?;
    let config_desc: lading_oci::Descriptor = serde_json::from_value(
        manifest
            .get("config")
            .cloned()
            .context("the manifest has no config")?,
    )?;
    let config_bytes = client
        .blob_bytes(&reference, &config_desc)
        .with_context(|| format!("reading the config of {reference}"))?;
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)?;
    let mut out = serde_json::json!({
        "name": reference.to_string(),
        "descriptor": fetched.descriptor,
        "manifest": manifest,
        "config": config,
    });
    if let Some(i) = index {
        out["index"] = serde_json::json!({
            "descriptor": i.descriptor,
            "manifest": serde_json::from_slice::<serde_json::Value>(&i.bytes)?,
        });
    }
    crate::cli::out!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
