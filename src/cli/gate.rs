//! What every gate command shares: `--format table|json`, `-o FILE`, and the exit code
//! (0 pass, 1 the gate said no; errors are 2 in `main`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lading_gates::gate::Verdict;

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table.
    Table,
    /// JSON (stable key order).
    Json,
}

/// `--format` and `-o` of the gate commands.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Writes the report (`table` or `json` text, chosen by `args.format`) and turns the
/// verdict into the exit code; with `-o`, prints `summary` on stderr.
pub fn emit(
    args: &OutputArgs,
    verdict: Verdict,
    table: impl FnOnce() -> String,
    json: impl FnOnce() -> Result<String>,
    summary: &str,
) -> Result<ExitCode> {
    let text = match args.format {
        Format::Table => table(),
        Format::Json => {
            let mut j = json()?;
            j.push('\n');
            j
        }
    };
    match &args.output {
        Some(path) if path != Path::new("-") => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{summary} (report written to {})", path.display());
        }
        _ => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    Ok(match verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Loads the image `reference` names into the store (see `lading inspect`).
pub fn load_image(
    store: &lading_oci::Store,
    reference: &str,
    platform: Option<&str>,
) -> Result<lading_oci::Image> {
    use lading_oci::{ImageSource, Platform, SourceRef};
    let platform = match platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    SourceRef::parse(reference)
        .fetch(store, &platform)?
        .with_context(|| format!("{reference} has no image to check"))
}
