//! `lading sbom REF`: the packages in an image, as a table (default), lading's JSON,
//! CycloneDX 1.6 or SPDX 2.3.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_gates::sbom::{self, Sbom};
use lading_oci::{Digest, SourceRef, Store};

use crate::cli::gate::load_image;

use crate::cli::args::{SbomArgs, SbomFormat};

/// A name for the image that carries no host path: the tag when there is one, else the
/// manifest digest.
pub fn display_name(source: &SourceRef, digest: &Digest) -> String {
    match source {
        SourceRef::Store(r) => r.clone(),
        SourceRef::OciDir { tag: Some(t), .. }
        | SourceRef::OciArchive { tag: Some(t), .. }
        | SourceRef::DockerArchive { tag: Some(t), .. } => t.clone(),
        _ => digest.to_string(),
    }
}

/// Renders the SBOM in `format`.
pub fn render(sbom: &Sbom, format: SbomFormat) -> Result<String> {
    Ok(match format {
        SbomFormat::Table => sbom::table::render(sbom),
        SbomFormat::Json => serde_json::to_string_pretty(sbom)? + "\n",
        SbomFormat::Cyclonedx => {
            serde_json::to_string_pretty(&sbom::cyclonedx::document(sbom))? + "\n"
        }
        SbomFormat::Spdx => serde_json::to_string_pretty(&sbom::spdx::document(sbom))? + "\n",
    })
}

/// Catalogs the image and writes the document.
pub fn run(store_dir: &Path, args: SbomArgs) -> Result<ExitCode> {
    let store = Store::open(store_dir)?;
    let image = load_image(&store, &args.reference, args.platform.as_deref())?;
    let source = SourceRef::parse(&args.reference);
    let name = display_name(&source, &image.descriptor.digest);
    let sbom = sbom::catalog(&store, &image, &name)
        .with_context(|| format!("cataloging {}", args.reference))?;
    // Warnings also go to stderr, unless the table (which lists them) goes to stdout.
    if args.output.is_some() || args.format != SbomFormat::Table {
        for w in &sbom.warnings {
            eprintln!("warning: {}: {}", w.path, w.message);
        }
    }
    let text = render(&sbom, args.format)?;
    match &args.output {
        Some(path) if path != Path::new("-") => {
            std::fs::write(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        _ => {
            use std::io::Write as _;
            if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
