//! `lading tags` and `lading referrers`: questions to a registry.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::args::{Progress, ReferrersArgs, TagsArgs};
use crate::cli::registry;

/// Prints one tag per line.
pub fn tags(args: TagsArgs) -> Result<ExitCode> {
    let reference = registry::reference(&args.repository)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let tags = client
        .tags(&reference)
        .with_context(|| format!("listing tags of {}", reference.name()))?;
    for t in tags {
        crate::cli::out!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the referrers index as JSON.
pub fn referrers(args: ReferrersArgs) -> Result<ExitCode> {
    let reference = registry::reference(&args.reference)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let found = client
        .referrers(&reference, args.artifact_type.as_deref())
        .with_context(|| format!("listing referrers of {reference}"))?;
    if !found.via_api {
        eprintln!(
            "{}: no referrers API; read the referrers tag schema",
            reference.registry()
        );
    }
    crate::cli::out!("{}", serde_json::to_string_pretty(&found.index)?);
    Ok(ExitCode::SUCCESS)
}
