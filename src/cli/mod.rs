//! Command dispatch, exit codes and hints.

/// Prints a line on stdout; a closed pipe (`lading images | head`) ends quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(std::process::ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }};
}
pub(crate) use out;

pub mod args;
pub mod commands;
pub mod gate;
pub mod output;

use std::process::ExitCode;

use args::{Cli, Command};

/// Runs one command. Errors become exit code 2 in `main`.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let store_dir = cli
        .store
        .clone()
        .unwrap_or_else(lading_oci::Store::default_root);
    match cli.command {
        Command::Build(args) => commands::build::run(&store_dir, *args),
        Command::Images(args) => commands::images::run(&store_dir, args),
        Command::Inspect(args) => commands::inspect::run(&store_dir, args),
        Command::Secrets(args) => commands::secrets::run(&store_dir, args),
        Command::Cis(args) => commands::cis::run(&store_dir, args),
    }
}

/// Known fixes for known failures.
pub fn hints(err: &anyhow::Error) -> Vec<String> {
    let text = format!("{err:#}");
    let mut hints = Vec::new();
    if text.contains("RUN is not supported yet") {
        hints.push(
            "build the RUN steps' results elsewhere and COPY them in, or wait for the RUN sandbox"
                .into(),
        );
    }
    if text.contains("not found in the local store") {
        hints.push("pulling from registries is not available yet; use oci:DIR[:tag], oci-archive:FILE or docker-archive:FILE".into());
    }
    if text.contains("outside the build context") {
        hints.push(
            "copy the file into the context directory first; lading never reads outside it".into(),
        );
    }
    if text.contains("TLS certificate verification failed") {
        hints.push(
            "if the server's certificate comes from a private CA, set SSL_CERT_FILE to a PEM bundle that includes it"
                .into(),
        );
    }
    hints
}
