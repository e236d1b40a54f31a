//! `lading secrets REF`: credentials in every layer (files later layers delete too) and
//! in the config, matches redacted.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_gates::secrets::detect::Detector;
use lading_gates::secrets::{self, Options, Ruleset};
use lading_oci::Store;

use crate::cli::args::SecretsArgs;
use crate::cli::gate::{emit, load_image};

/// Scans the image; exit 1 when anything is found.
pub fn run(store_dir: &Path, args: SecretsArgs) -> Result<ExitCode> {
    let ruleset = match &args.rules {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading rules {}", file.display()))?;
            Ruleset::with_user_file(&file.display().to_string(), &text)?
        }
        None => Ruleset::builtin()?,
    };
    let detector = Detector::new(ruleset)?;
    let store = Store::open(store_dir)?;
    let image = load_image(&store, &args.reference, args.platform.as_deref())?;
    let report = secrets::scan(
        &store,
        &image,
        &args.reference,
        &detector,
        &Options {
            threads: args.threads,
        },
    )
    .with_context(|| format!("scanning {} for secrets", args.reference))?;
    let summary = format!(
        "secrets: {} finding(s) in {}",
        report.findings.len(),
        args.reference
    );
    emit(
        &args.output,
        report.verdict,
        || secrets::render_table(&report),
        || Ok(serde_json::to_string_pretty(&report)?),
        &summary,
    )
}
