//! `lading predicate REF --type TYPE`: the predicate lading would attest for the image's
//! manifest digest (see `crate::attestations`).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_oci::Store;

use crate::attestations::{self, Kind};
use crate::cli::args::{PredicateArgs, PredicateType};
use crate::cli::gate::load_image;

fn kind(t: PredicateType) -> Kind {
    match t {
        PredicateType::SlsaProvenance1 => Kind::SlsaProvenance,
        PredicateType::Cyclonedx => Kind::CycloneDx,
        PredicateType::Spdxjson => Kind::SpdxJson,
        PredicateType::Vuln => Kind::Vuln,
        PredicateType::Buildlog => Kind::BuildLog,
    }
}

/// Resolves REF once to its manifest digest and writes that digest's predicate.
pub fn run(store_dir: &Path, args: PredicateArgs) -> Result<ExitCode> {
    let store = Store::open(store_dir)?;
    let image = load_image(&store, &args.reference, args.platform.as_deref())?;
    let predicate = attestations::generate(&store, &image.descriptor.digest, kind(args.kind))?;
    match &args.output {
        Some(path) if path != Path::new("-") => std::fs::write(path, &predicate.bytes)
            .with_context(|| format!("writing {}", path.display()))?,
        _ => {
            if let Err(e) = std::io::stdout().lock().write_all(&predicate.bytes)
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e.into());
            }
        }
    }
    eprintln!(
        "{} predicate of {}",
        predicate.predicate_type, image.descriptor.digest
    );
    Ok(ExitCode::SUCCESS)
}
