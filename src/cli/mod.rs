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
pub mod build_cache;
pub mod commands;
pub mod docker_load;
pub mod gate;
pub mod output;
pub mod platforms;
pub mod registry;
pub mod signatures;
pub mod ssh_agent;
pub mod target;

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
        Command::Publish(args) => commands::publish::run(&store_dir, *args),
        Command::Images(args) => commands::images::run(&store_dir, args),
        Command::Prune(args) => commands::prune::run(&store_dir, args),
        Command::Df(args) => commands::prune::df(&store_dir, args),
        Command::Inspect(args) => commands::inspect::run(&store_dir, args),
        Command::Serve(args) => commands::serve::run(&store_dir, args),
        Command::Db(args) => commands::db::run(args),
        Command::Scan(args) => commands::scan::run(&store_dir, *args),
        Command::Sbom(args) => commands::sbom::run(&store_dir, args),
        Command::Secrets(args) => commands::secrets::run(&store_dir, args),
        Command::Cis(args) => commands::cis::run(&store_dir, args),
        Command::Pull(args) => commands::pull::run(&store_dir, args),
        Command::Push(args) => commands::cp::push(&store_dir, args),
        Command::Cp(args) => commands::cp::run(&store_dir, args),
        Command::Diff(args) => commands::diff::run(&store_dir, args),
        Command::Reproduce(args) => commands::reproduce::run(&store_dir, *args),
        Command::Tags(args) => commands::remote::tags(args),
        Command::Referrers(args) => commands::remote::referrers(args),
        Command::Gate(args) => commands::gate::run(&store_dir, *args),
        Command::Report(args) => commands::report::run(&store_dir, args),
        Command::GenerateKeyPair(args) => commands::sign::generate_key_pair(args),
        Command::Sign(args) => commands::sign::sign(&store_dir, args),
        Command::Verify(args) => commands::sign::verify(&store_dir, args),
        Command::Attest(args) => commands::attest::attest(&store_dir, args),
        Command::VerifyAttestation(args) => commands::attest::verify_attestation(&store_dir, args),
        Command::Predicate(args) => commands::predicate::run(&store_dir, args),
        Command::Version(args) => commands::version::run(args),
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
        hints.push("images in registries are named docker://REF (or a plain reference such as alpine:3.20 in FROM); local files as oci:DIR[:tag], oci-archive:FILE or docker-archive:FILE".into());
    }
    if text.contains("TLS certificate verification failed") && !text.contains("fetching http") {
        hints.push(
            "trust the registry's CA with --cert-dir DIR (a directory of *.crt files) or /etc/containers/certs.d/HOST/ca.crt; or skip verification with --insecure-registry HOST or --tls-verify=false"
                .into(),
        );
    }
    if text.contains("authentication required") {
        hints.push(
            "credentials come from --creds USER:PASSWORD, --authfile FILE, or the docker config ($DOCKER_CONFIG/config.json, ~/.docker/config.json: auths, credHelpers, credsStore); GITHUB_TOKEN for ghcr.io"
                .into(),
        );
    }
    if text.contains("was pulled for some platforms only") {
        hints.push("lading pull --all-platforms REF pulls every platform of an index".into());
    }
    if text.contains("outside the build context") {
        hints.push(
            "copy the file into the context directory first; lading never reads outside it".into(),
        );
    }
    if text.contains("TLS certificate verification failed") && text.contains("fetching http") {
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
    if text.contains("digesting the build context") || text.contains("digesting build context") {
        hints.push("provenance records a digest of every file the build could read (as docker sends the whole context): exclude files it cannot read with .dockerignore".into());
    }
    if text.contains("Address already in use") {
        hints.push("another server uses that port; pick another with --addr".into());
    }
    if text.contains("no vulnerability database at") {
        hints.push("`lading db update` downloads OSV's data; `lading db import DIR|ZIP` loads records you have".into());
    }
    hints
}
