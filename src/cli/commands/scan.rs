//! `lading scan REF`: the vulnerability gate on an image in the store.
//!
//! Exit codes: 0 the gate passed (or no `--fail-on`), 1 a finding at or above
//! `--fail-on` remains, 2 an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use lading_gates::vuln::db::{Database, rfc3339};
use lading_gates::vuln::report::{FailOn, Report, ScannerRun};
use lading_gates::vuln::{self, external, ignore, matcher};
use lading_oci::{Image, Store};
use lading_registry::{Auth, Credentials, Htpasswd, Limits, Registry, Server, ServerConfig};

use crate::attestations::scans;
use crate::cli::args::{FailOnArg, ScanArgs, ScanFormat};
use crate::cli::commands::db::{default_dir, now};
use crate::cli::gate::load_image;

/// Runs the scan and renders the report.
pub fn run(store_dir: &Path, args: ScanArgs) -> Result<ExitCode> {
    let started = rfc3339(now());
    let store = Store::open(store_dir)?;
    let image = load_image(&store, &args.reference, args.platform.as_deref())?;
    let db_dir = default_dir(args.db.as_deref());
    let db = Database::open(&db_dir)?;
    let mut rules = Vec::new();
    for path in &args.ignore {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading ignore file {}", path.display()))?;
        rules.extend(ignore::parse(&text, &path.display().to_string())?);
    }
    let today = rfc3339(now())[..10].to_string();
    // The one catalog: what is scanned is what `lading sbom` lists for this digest.
    let sbom = lading_gates::sbom::catalog(&store, &image, &args.reference)
        .with_context(|| format!("cataloging {}", args.reference))?;
    let mut report = vuln::scan(&sbom, &db, &[], &today)?;
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
    // Every scan is recorded as its cosign predicate: the vuln attestation of the digest.
    let cosign_vuln = pretty(&report.to_cosign_vuln(version, &started, &rfc3339(now()), fail_on))?;
    scans::write(&store, &image.descriptor.digest, cosign_vuln.as_bytes())?;
    let text = match args.format {
        ScanFormat::Table => report.to_table(),
        ScanFormat::Json => pretty(&report.to_json(fail_on))?,
        ScanFormat::Sarif => pretty(&report.to_sarif(version))?,
        ScanFormat::CosignVuln => cosign_vuln,
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

/// The repository the scanned manifest is served under, by digest only.
const SCAN_REPOSITORY: &str = "lading/scan";
/// The user external scanners authenticate as.
const SCAN_USER: &str = "lading-scan";

/// The store served to external scanners: a read-only registry on a loopback port,
/// behind HTTP Basic credentials made up for this run, that answers the scanned manifest
/// by digest. It stops when dropped.
struct Served {
    server: Server,
    credentials: Credentials,
    /// `127.0.0.1:PORT/lading/scan@sha256:…`.
    reference: String,
}

fn serve_for_scanners(store: &Store, image: &Image) -> Result<Served> {
    let (users, credentials) = Htpasswd::generate(SCAN_USER)?;
    let auth = Auth {
        htpasswd: Some(users),
        token: None,
    };
    let registry = Registry::new(store.clone(), Limits::default(), auth);
    registry.set_read_only(true);
    registry.expose(SCAN_REPOSITORY, &image.descriptor.digest)?;
    let server = Server::start(
        registry,
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
        },
    )
    .context("starting the registry for external scanners")?;
    let reference = format!(
        "{}/{SCAN_REPOSITORY}@{}",
        server.local_addr(),
        image.descriptor.digest
    );
    Ok(Served {
        server,
        credentials,
        reference,
    })
}

/// Runs the external scanners against the image served by an in-process registry (the
/// very manifest lading scanned, by digest, from the store) and merges what they find.
/// Credentials reach the scanners through their environment only. A scanner that fails
/// is reported, not fatal.
fn run_external(store: &Store, image: &Image, args: &ScanArgs, report: &mut Report) -> Result<()> {
    let tools = scanners(args);
    if tools.is_empty() {
        return Ok(());
    }
    let served = serve_for_scanners(store, image)?;
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
                reference: None,
            });
            continue;
        };
        let Some(exe) = on_path(&tool) else {
            report.scanners.push(ScannerRun {
                name: kind.into(),
                status: format!("{tool} not found"),
                findings: 0,
                reference: None,
            });
            continue;
        };
        let mut cmd = Command::new(&exe);
        let creds = &served.credentials;
        if kind == "trivy" {
            cmd.args([
                "image",
                "--image-src",
                "remote",
                "--insecure",
                "--quiet",
                "--format",
                "json",
                "--scanners",
                "vuln",
            ])
            .arg(&served.reference)
            .env("TRIVY_USERNAME", creds.username())
            .env("TRIVY_PASSWORD", creds.password());
        } else {
            let authority = served.server.local_addr().to_string();
            cmd.arg(format!("registry:{}", served.reference))
                .args(["-o", "json", "-q"])
                .env("GRYPE_REGISTRY_INSECURE_USE_HTTP", "true")
                .env("GRYPE_REGISTRY_AUTH_AUTHORITY", authority)
                .env("GRYPE_REGISTRY_AUTH_USERNAME", creds.username())
                .env("GRYPE_REGISTRY_AUTH_PASSWORD", creds.password());
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
                    reference: Some(served.reference.clone()),
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
                    reference: Some(served.reference.clone()),
                });
            }
        }
    }
    served.server.shutdown();
    matcher::sort(&mut report.findings);
    Ok(())
}
