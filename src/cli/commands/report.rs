//! `lading report IMAGE -o report.html`: one self-contained HTML page about a store
//! image (see `crate::report`).
//!
//! Exit codes: 0 the page was written (whatever the gates said), 2 the image is not in
//! the store, or an error.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_oci::{Platform, SourceRef, Store};

use crate::cli::args::ReportArgs;
use crate::report;

/// Gathers the report of the image and writes its page.
pub fn run(store_dir: &Path, args: ReportArgs) -> Result<ExitCode> {
    let reference = args.reference.as_str();
    if !matches!(SourceRef::parse(reference), SourceRef::Store(_))
        || reference.starts_with("docker://")
    {
        bail!(
            "{reference}: `lading report` reads images of the store only (a tag, REPO@sha256:… or sha256:…)"
        );
    }
    // Opening a store creates it: a report never does.
    if !store_dir.join("index.json").is_file() {
        bail!(
            "{reference} is not in the store {}: there is no store there",
            store_dir.display()
        );
    }
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let store = Store::open(store_dir)?;
    let Some(gathered) = report::gather(&store, reference, &platform)
        .with_context(|| format!("reading {reference} from the store {}", store_dir.display()))?
    else {
        bail!(
            "{reference} is not in the store {}: build it (`lading build -t NAME:TAG`) or pull it first",
            store_dir.display()
        );
    };
    let page = report::html::render(&gathered);
    match &args.output {
        Some(path) if path != Path::new("-") => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, page.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "report of {reference} ({}) written to {}",
                gathered.image.digest,
                path.display()
            );
        }
        _ => {
            let mut out = std::io::stdout().lock();
            match out.write_all(page.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
