//! `lading`: build reproducible OCI images from Dockerfiles, natively.

mod attestations;
mod cli;
mod progress;
mod publish;
mod report;
mod reproduce;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

/// The command line, with `--version` printing what `lading version` prints.
fn parse_args() -> cli::args::Cli {
    let matches = cli::args::Cli::command()
        .long_version(cli::commands::version::long_version())
        .get_matches();
    cli::args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    // The RUN sandbox re-executes this binary as its helper (see lading_builder::exec).
    if std::env::var_os(lading_builder::exec::HELPER_ENV).is_some() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        lading_builder::exec::helper_main(&args);
    }
    use lading_builder::exec::userns;
    if std::env::var_os(userns::USERNS_ENV).is_some()
        && let Err(e) = userns::enter()
    {
        eprintln!("error: rootless mode: {e}");
        return ExitCode::from(2);
    }
    // A `fips` build refuses to run on a module outside FIPS mode (lading_oci::crypto);
    // the sandbox helper above does no cryptography.
    if let Err(e) = lading_oci::crypto::require_fips_mode() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let args = parse_args();
    // Rootless: builds (and `reproduce`'s rebuilds) run as root of a user namespace of
    // their own (see exec::userns).
    if matches!(
        args.command,
        cli::args::Command::Build(_) | cli::args::Command::Reproduce(_)
    ) && !lading_oci::unpack::running_as_root()
    {
        return match userns::reexec() {
            Ok(status) => ExitCode::from(status.code().unwrap_or(2).clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("error: rootless mode: {e}");
                eprintln!(
                    "hint: rootless builds need user namespaces; give the user subordinate ids in /etc/subuid and /etc/subgid (and install uidmap) for a full mapping"
                );
                ExitCode::from(2)
            }
        };
    }
    let result = cli::run(args);
    // Done with every store: our leases go now rather than at the next prune.
    lading_oci::lease::release_all();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = err.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            for hint in cli::hints(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
