//! `lading db import|update|status`: the local OSV database.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_builder::remote::Fetcher;
use lading_gates::vuln::db::{self, Database, ImportSummary};

use crate::cli::args::{DbArgs, DbCommand};

/// Ecosystems `lading db update` fetches by default: those lading finds packages of.
pub const DEFAULT_ECOSYSTEMS: [&str; 4] = ["Debian", "Alpine", "PyPI", "npm"];

/// The database directory: `--db`, `$LADING_VULN_DB`, else `$XDG_CACHE_HOME/lading/osv`
/// (`~/.cache/lading/osv`).
pub fn default_dir(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("lading/osv");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/lading/osv")
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs a `lading db` operation.
pub fn run(args: DbArgs) -> Result<ExitCode> {
    let dir = default_dir(args.db.as_deref());
    match args.command {
        DbCommand::Import { path } => {
            let summary = db::import(&dir, &path, &path.display().to_string(), now())
                .with_context(|| format!("importing {} into {}", path.display(), dir.display()))?;
            report(&summary);
        }
        DbCommand::Update { ecosystems, url } => update(&dir, &ecosystems, &url)?,
        DbCommand::Status { json } => return status(&dir, json),
    }
    Ok(ExitCode::SUCCESS)
}

/// At most this many warnings are printed per import; the rest are counted.
const MAX_WARNINGS: usize = 50;

fn report(summary: &ImportSummary) {
    let lines: Vec<String> = summary
        .errors
        .iter()
        .map(|e| format!("warning: record skipped: {e}"))
        .chain(summary.warnings.iter().map(|w| format!("warning: {w}")))
        .collect();
    for l in lines.iter().take(MAX_WARNINGS) {
        eprintln!("{l}");
    }
    if lines.len() > MAX_WARNINGS {
        eprintln!("warning: … and {} more", lines.len() - MAX_WARNINGS);
    }
    for (eco, info) in &summary.ecosystems {
        eprintln!(
            "{eco}: {} records ({} withdrawn left out), latest modified {}",
            info.records,
            info.withdrawn,
            if info.latest_modified.is_empty() {
                "-"
            } else {
                &info.latest_modified
            }
        );
    }
}

fn update(dir: &Path, ecosystems: &[String], url: &str) -> Result<()> {
    let ecosystems: Vec<String> = if ecosystems.is_empty() {
        DEFAULT_ECOSYSTEMS.iter().map(|s| s.to_string()).collect()
    } else {
        ecosystems.to_vec()
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fetcher = Fetcher::from_env()?;
    let tty = std::io::stderr().is_terminal();
    // Download everything first: one failure leaves the database untouched.
    let scratch = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a download directory in {}", dir.display()))?;
    let mut downloads = Vec::new();
    for eco in &ecosystems {
        let src = format!(
            "{}/{}/all.zip",
            url.trim_end_matches('/'),
            eco.replace(' ', "%20")
        );
        let target = scratch.path().join(eco.replace(['/', ' '], "_"));
        std::fs::create_dir_all(&target)?;
        let mut shown = 0u64;
        let mut progress = |n: u64| {
            if tty {
                eprint!("\rdownloading {eco}: {:.1} MB", n as f64 / 1e6);
            } else if n >= shown + (8 << 20) {
                eprintln!("downloading {eco}: {:.1} MB", n as f64 / 1e6);
                shown = n;
            }
        };
        let got = fetcher.fetch(&src, &target, None, &mut progress);
        if tty {
            eprintln!();
        }
        match got {
            Ok(d) => {
                eprintln!("downloaded {eco}: {} bytes ({})", d.size, d.digest);
                downloads.push((eco.clone(), src, d.path));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "downloading {src} failed; the previous database at {} is kept",
                    dir.display()
                )));
            }
        }
    }
    for (eco, src, path) in downloads {
        let summary = db::import(dir, &path, &src, now())
            .with_context(|| format!("importing {eco} from {src}"))?;
        if !summary.ecosystems.contains_key(eco.as_str()) {
            bail!("{src} holds no {eco} records");
        }
        report(&summary);
    }
    Ok(())
}

fn status(dir: &Path, json: bool) -> Result<ExitCode> {
    let db = Database::open(dir)?;
    let m = db.manifest();
    if json {
        crate::cli::out!("{}", serde_json::to_string_pretty(m)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::cli::out!("database: {}", dir.display());
    crate::cli::out!(
        "{:<12} {:>8} {:>10} {:<22} {:<22} SOURCE",
        "ECOSYSTEM",
        "RECORDS",
        "WITHDRAWN",
        "LATEST MODIFIED",
        "IMPORTED"
    );
    for (eco, info) in &m.ecosystems {
        crate::cli::out!(
            "{eco:<12} {:>8} {:>10} {:<22} {:<22} {}",
            info.records,
            info.withdrawn,
            info.latest_modified,
            info.imported_at,
            info.source
        );
    }
    Ok(ExitCode::SUCCESS)
}
