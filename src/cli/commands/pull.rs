//! `lading pull REF`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use lading_oci::graph::{is_complete, mark_partial};
use lading_oci::{Platform, Store};
use lading_registry::client::RemoteImage;

use crate::cli::args::PullArgs;
use crate::cli::registry;
use crate::progress::human_bytes;

/// Pulls and tags; prints the digest.
pub fn run(store_dir: &Path, args: PullArgs) -> Result<ExitCode> {
    let store =
        Store::open(store_dir).with_context(|| format!("opening store {}", store_dir.display()))?;
    let reference = registry::reference(&args.reference)?;
    let platforms = if args.all_platforms {
        None
    } else {
        Some(vec![match &args.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        }])
    };
    let client = registry::client(&args.registry, registry::progress_mode(args.quiet))?;
    let start = Instant::now();
    let pulled = client
        .pull(&store, &reference, platforms.as_deref())
        .with_context(|| format!("pulling {reference}"))?;
    let name = RemoteImage::store_name(&reference);
    let partial = pulled.partial && !is_complete(&store, &pulled.descriptor);
    let desc = mark_partial(&pulled.descriptor, partial);
    match &name {
        Some(n) => store.tag(n, &desc)?,
        None => store.add_untagged(&desc)?,
    }
    let digest = pulled.descriptor.digest.to_string();
    if !args.quiet {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "pulled {reference}: {} blobs ({}) in {secs:.1}s, {} already in the store",
            pulled.downloaded,
            human_bytes(pulled.bytes),
            pulled.cached,
        );
        if let Some(n) = &name {
            eprintln!("naming to {n}");
        }
    }
    crate::cli::out!("{digest}");
    Ok(ExitCode::SUCCESS)
}
