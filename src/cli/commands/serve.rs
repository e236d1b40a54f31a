//! `lading serve`: the store as an OCI registry.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_oci::Store;
use lading_registry::{Auth, Htpasswd, Limits, Registry, Server, ServerConfig, TlsFiles};

use crate::cli::args::ServeArgs;

/// Serves until SIGINT or SIGTERM.
pub fn run(store_dir: &Path, args: ServeArgs) -> Result<ExitCode> {
    init_logging();
    let auth = Auth {
        htpasswd: args.htpasswd.as_deref().map(Htpasswd::load).transpose()?,
        token: args
            .token_file
            .as_deref()
            .map(Auth::load_token)
            .transpose()?,
    };
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let limits = Limits {
        max_blob: args.max_blob_size,
        ..Limits::default()
    };
    let server = start(store_dir, args.addr, auth, tls, limits)?;
    server.wait_for_signal()?;
    eprintln!("lading: stopping the registry");
    server.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Opens the store, starts the registry and says where it listens.
pub fn start(
    store_dir: &Path,
    addr: SocketAddr,
    auth: Auth,
    tls: Option<TlsFiles>,
    limits: Limits,
) -> Result<Server> {
    let store =
        Store::open(store_dir).with_context(|| format!("opening store {}", store_dir.display()))?;
    let server = Server::start(
        Registry::new(store, limits, auth),
        ServerConfig { addr, tls },
    )
    .context("starting the registry")?;
    eprintln!(
        "lading: serving {} as a registry at {}",
        store_dir.display(),
        server.url()
    );
    Ok(server)
}

/// Request logs on stderr when `LADING_LOG` asks for them (`debug`, `info`, `warn`).
pub fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = match std::env::var("LADING_LOG").as_deref() {
        Ok("trace") => LevelFilter::TRACE,
        Ok("debug") => LevelFilter::DEBUG,
        Ok("info") => LevelFilter::INFO,
        Ok("error") => LevelFilter::ERROR,
        Ok("off") => LevelFilter::OFF,
        _ => LevelFilter::WARN,
    };
    let filter = Targets::new().with_target("lading_registry", level);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .try_init();
}
