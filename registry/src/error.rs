//! Errors of the `registry` crate (starting and running a server; request errors are
//! answered to the client, see the handlers).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can stop a registry server from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An htpasswd line could not be used.
    #[error("{path} line {line}: {reason}")]
    Htpasswd {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A token file was empty.
    #[error("token file {path} is empty")]
    EmptyToken {
        /// The file.
        path: PathBuf,
    },
    /// TLS material could not be loaded.
    #[error("TLS: {what}")]
    Tls {
        /// What failed.
        what: String,
    },
    /// The address is reachable from other machines and the server is not protected.
    #[error(
        "refusing to serve on {addr} without {missing}: only loopback addresses may be served without authentication and TLS"
    )]
    Exposed {
        /// The address asked for.
        addr: SocketAddr,
        /// What is missing (`--htpasswd or --token-file`, `--tls-cert and --tls-key`).
        missing: String,
    },
    /// No random bytes for generated credentials.
    #[error("generating credentials: {reason}")]
    Random {
        /// Why.
        reason: String,
    },
    /// A repository name to expose a manifest under is not valid.
    #[error("invalid repository name {name:?}: {reason}")]
    Name {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Binding the address failed.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start, or a signal handler could not be installed.
    #[error("{what}")]
    Runtime {
        /// What failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
