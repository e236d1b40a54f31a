//! `lading scan REF`: the vulnerability gate on an image in the store.
//!
//! Exit codes: 0 the gate passed (or no `--fail-on`), 1 a finding at or above
//! `--fail-on` remains, 2 an error.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use lading_gates::vuln::db::{Database, rfc3339};
use lading_gates::vuln::report::{FailOn, Report, ScannerRun};
use lading_gates::vuln::{self, external, ignore, matcher};
use lading_oci::{Image, ImageSource, Platform, SourceRef, Store};

use crate::cli::args::{FailOnArg, ScanArgs, ScanFormat};
use crate::cli::commands::db::{default_dir, now};
use crate::cli::output;

/// Runs the scan and renders the report.
pub fn run(store_dir: &Path, args: ScanArgs) -> Result<ExitCode> {
    let started = rfc3339(now());
    let store = Store::open(store_dir)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let source = SourceRef::parse(&args.reference);
    let image = source
        .fetch(&store, &platform)?
        .with_context(|| format!("{} has no image to scan", args.reference))?;
    let db_dir = default_dir(args.db.as_deref());
    let db = Database::open(&db_dir)?;
    let mut rules = Vec::new();
    for path in &args.ignore {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading ignore file {}", path.display()))?;
        rules.extend(ignore::parse(&text, &path.display().to_string())?);
    }
    let today = rfc3339(now())[..10].to_string();
    let mut report = vuln::scan(&store, &image, &args.reference, &db, &[], &today)?;
    run_external(&store, &image, &args, &mut report)?;
    // Ignore rules apply to every scanner's findings.
    let findings = std::mem::take(&mut report.findings);
    let (kept, ignored, warnings) = ignore::apply(
        findings,
        &rules,
        &today,
        std::slice::from_ref(&report.image.digest),
    );
    report.findings = kept;
    report.ignored = ignored;
    report.warnings.extend(warnings);
    report.warnings.sort();
    report.warnings.dedup();
    let fail_on = args.fail_on.map(|f| match f {
        FailOnArg::Low => FailOn::Low,
        FailOnArg::Medium => FailOn::Medium,
        FailOnArg::High => FailOn::High,
        FailOnArg::Critical => FailOn::Critical,
        FailOnArg::Any => FailOn::Any,
    });
    let version = env!("CARGO_PKG_VERSION");
    let text = match args.format {
        ScanFormat::Table => report.to_table(),
        ScanFormat::Json => pretty(&report.to_json(fail_on))?,
        ScanFormat::Sarif => pretty(&report.to_sarif(version))?,
        ScanFormat::CosignVuln => {
            pretty(&report.to_cosign_vuln(version, &started, &rfc3339(now()), fail_on))?
        }
    };
    if args.format == ScanFormat::Table {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => crate::cli::out!("{}", text.trim_end()),
    }
    Ok(if report.passes(fail_on) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn pretty(v: &serde_json::Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// Which scanners to run: `--external`, else trivy and grype when on PATH.
fn scanners(args: &ScanArgs) -> Vec<String> {
    if args.no_external {
        return Vec::new();
    }
    if !args.external.is_empty() {
        return args.external.clone();
    }
    ["trivy", "grype"]
        .into_iter()
        .filter(|t| on_path(t).is_some())
        .map(str::to_string)
        .collect()
}

fn on_path(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Path::new(tool).is_file().then(|| PathBuf::from(tool));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// Runs the external scanners on an OCI archive of the image (the same bytes: written
/// from the store, digests verified) and merges what they find. A scanner that fails
/// is reported, not fatal.
fn run_external(store: &Store, image: &Image, args: &ScanArgs, report: &mut Report) -> Result<()> {
    let tools = scanners(args);
    if tools.is_empty() {
        return Ok(());
    }
    let tmp = tempfile::Builder::new()
        .prefix("scan-")
        .tempdir_in(store.private_dir())?;
    let archive = tmp.path().join("image.tar");
    output::write(
        store,
        image,
        &output::Output::Oci {
            dest: archive.clone(),
            tar: true,
        },
        &[],
        0,
    )?;
    for tool in tools {
        let name = Path::new(&tool)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| tool.clone());
        let kind = if name.contains("grype") {
            "grype"
        } else if name.contains("trivy") {
            "trivy"
        } else {
            report.scanners.push(ScannerRun {
                name: name.clone(),
                status: "unknown scanner (trivy or grype expected)".into(),
                findings: 0,
            });
            continue;
        };
        let Some(exe) = on_path(&tool) else {
            report.scanners.push(ScannerRun {
                name: kind.into(),
                status: format!("{tool} not found"),
                findings: 0,
            });
            continue;
        };
        let mut cmd = Command::new(&exe);
        if kind == "trivy" {
            cmd.args([
                "image",
                "--quiet",
                "--format",
                "json",
                "--scanners",
                "vuln",
                "--input",
            ])
            .arg(&archive);
        } else {
            cmd.arg(format!("oci-archive:{}", archive.display()))
                .args(["-o", "json", "-q"]);
        }
        let run = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("running {}", exe.display()));
        let outcome = match run {
            Ok(out) if out.status.success() => {
                let parsed = if kind == "trivy" {
                    external::parse_trivy(&out.stdout)
                } else {
                    external::parse_grype(&out.stdout)
                };
                parsed.map_err(|e| e.to_string())
            }
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                Err(format!("exited with {}: {}", out.status, last.trim()))
            }
            Err(e) => Err(format!("{e:#}")),
        };
        match outcome {
            Ok(found) => {
                report.scanners.push(ScannerRun {
                    name: kind.into(),
                    status: "ok".into(),
                    findings: found.len(),
                });
                external::merge(&mut report.findings, found, kind);
            }
            Err(reason) => {
                report.warnings.push(vuln::osv::Warning {
                    record: kind.into(),
                    message: format!("external scanner failed: {reason}"),
                });
                report.scanners.push(ScannerRun {
                    name: kind.into(),
                    status: format!("failed: {reason}"),
                    findings: 0,
                });
            }
        }
    }
    matcher::sort(&mut report.findings);
    Ok(())
}
