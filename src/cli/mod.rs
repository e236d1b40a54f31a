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
pub mod ssh_agent;

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
        Command::Serve(args) => commands::serve::run(&store_dir, args),
        Command::Db(args) => commands::db::run(args),
        Command::Scan(args) => commands::scan::run(&store_dir, *args),
        Command::Sbom(args) => commands::sbom::run(&store_dir, args),
        Command::Secrets(args) => commands::secrets::run(&store_dir, args),
        Command::Cis(args) => commands::cis::run(&store_dir, args),
        Command::Gate(args) => commands::gate::run(&store_dir, *args),
    }
}

/// Known fixes for known failures.
pub fn hints(err: &anyhow::Error) -> Vec<String> {
    let text = format!("{err:#}");
    let mut hints = Vec::new();
    if text.contains("creating namespaces") || text.contains("mounting overlayfs") {
        hints.push("RUN needs Linux namespaces: run as root, or rootless with user namespaces enabled (sysctl kernel.unprivileged_userns_clone=1) and subordinate ids in /etc/subuid".into());
    }
    let rootless = lading_builder::exec::userns::in_user_namespace();
    if text.contains("subordinate ids") || (rootless && text.contains("Invalid argument")) {
        hints.push("a rootless build maps only your own uid unless /etc/subuid and /etc/subgid give you a range (e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`, with newuidmap/newgidmap from the uidmap package installed)".into());
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
    if text.contains("refusing to serve on") {
        hints.push(
            "serve on 127.0.0.1 (the default), or protect the registry: lading serve --addr ADDR --htpasswd FILE --tls-cert CERT --tls-key KEY"
                .into(),
        );
    }
    if text.contains("Address already in use") {
        hints.push("another server uses that port; pick another with --addr".into());
    }
    if text.contains("no vulnerability database at") {
        hints.push("`lading db update` downloads OSV's data; `lading db import DIR|ZIP` loads records you have".into());
    }
    hints
}
