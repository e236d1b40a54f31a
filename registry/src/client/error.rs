//! Errors of the registry client.

use std::path::PathBuf;

use lading_oci::Digest;

/// Result type of the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What can go wrong talking to a remote registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP client could not be set up.
    #[error("setting up the HTTP client for {host}")]
    Setup {
        /// Registry host.
        host: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// A CA file or directory could not be used.
    #[error("CA certificates {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No connection (DNS, refused, TLS, timeout) or the connection broke.
    #[error("{method} {url}: {what}")]
    Transport {
        /// HTTP method.
        method: String,
        /// URL (never holds credentials).
        url: String,
        /// A short description (`TLS certificate verification failed`, `connection refused`).
        what: &'static str,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The connection ended cleanly before the whole body arrived.
    #[error("{what}: connection closed after {received} of {expected} bytes")]
    Truncated {
        /// Which request.
        what: String,
        /// Bytes received in total.
        received: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: {status}{detail}")]
    Status {
        /// HTTP method.
        method: String,
        /// URL.
        url: String,
        /// Status line (`404 Not Found`).
        status: String,
        /// `: CODE message` from the distribution-spec error body, when there is one.
        detail: String,
    },
    /// The registry refused the credentials (or needs some and none were found).
    #[error("{registry}: authentication required{detail}")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// What the registry or token server said.
        detail: String,
    },
    /// The token server answered with an error.
    #[error("token server {realm}: {status}{detail}")]
    Token {
        /// The realm URL.
        realm: String,
        /// Status line.
        status: String,
        /// Details from the body.
        detail: String,
    },
    /// A `WWW-Authenticate` challenge could not be used.
    #[error("{registry}: unsupported authentication challenge {challenge:?}")]
    Challenge {
        /// Registry host.
        registry: String,
        /// The header value.
        challenge: String,
    },
    /// A docker config file could not be read.
    #[error("reading credentials from {path}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    Helper {
        /// Helper name (`docker-credential-<helper>`).
        helper: String,
        /// Registry host.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The manifest or blob does not exist.
    #[error("{what} not found in {repository}")]
    NotFound {
        /// What (`manifest latest`, `blob sha256:…`).
        what: String,
        /// `registry/repository`.
        repository: String,
    },
    /// Downloaded content did not have the digest it must have.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was downloaded.
        what: String,
        /// Expected digest.
        expected: Digest,
        /// Actual digest.
        actual: Digest,
    },
    /// Downloaded content did not have the size its descriptor says.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was downloaded.
        what: String,
        /// Expected size.
        expected: u64,
        /// Bytes received (at least).
        actual: u64,
    },
    /// After a push, the registry names another digest for the tag than was pushed.
    #[error(
        "pushed {reference} as {expected}, but the registry now says it is {actual}; the registry changed the manifest"
    )]
    PushedDigestMismatch {
        /// Where it was pushed.
        reference: String,
        /// What was pushed.
        expected: Digest,
        /// What the registry answers.
        actual: Digest,
    },
    /// A blob (or manifest) in the store no longer hashes to its digest, or has another
    /// size than its descriptor: it changed after it was written, so what was checked is
    /// not what would be pushed. Never retried.
    #[error(
        "blob {digest} in the store no longer matches its digest (it reads as {actual}{}): refusing to push it",
        size_note(*size, *actual_size)
    )]
    BlobChanged {
        /// The blob's digest (its name in the store).
        digest: Digest,
        /// What its bytes hash to now.
        actual: Digest,
        /// The size its descriptor says.
        size: u64,
        /// How many bytes it reads as now.
        actual_size: u64,
    },
    /// A response was not what the distribution-spec says.
    #[error("{what}: {reason}")]
    Protocol {
        /// Which request.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// Content the operation needs is not in the store.
    #[error("{what} is not in the store{hint}")]
    Missing {
        /// What.
        what: String,
        /// Why it might be missing.
        hint: String,
    },
    /// Gave up after retries.
    #[error("{what}: gave up after {attempts} attempts")]
    Exhausted {
        /// What was being done.
        what: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Box<ClientError>,
    },
    /// Reading or writing the store failed.
    #[error(transparent)]
    Oci(#[from] lading_oci::Error),
    /// The async runtime could not start.
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl ClientError {
    /// Whether trying again may help (the connection broke, the server is overloaded).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { source, .. } => {
                !source.is_builder() && !source.is_redirect() && !is_tls_failure(source)
            }
            ClientError::Truncated { .. } => true,
            ClientError::Status { status, .. } => {
                status.starts_with('5') || status.starts_with("429") || status.starts_with("408")
            }
            _ => false,
        }
    }
}

/// `, N bytes instead of M` when the sizes differ.
fn size_note(size: u64, actual_size: u64) -> String {
    if size == actual_size {
        String::new()
    } else {
        format!(", {actual_size} bytes instead of {size}")
    }
}

/// Whether a client error is a TLS failure (certificate or handshake), which retrying
/// does not fix.
pub(crate) fn is_tls_failure(e: &reqwest::Error) -> bool {
    let chain = error_chain(e).to_ascii_lowercase();
    chain.contains("certificate")
        || chain.contains("handshake")
        || chain.contains("corrupt message")
        || chain.contains("peer is incompatible")
}

/// The error and its sources, joined.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A short, lowercase description of a transport failure.
pub(crate) fn transport_what(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        return "timed out";
    }
    if e.is_redirect() {
        return "too many redirects";
    }
    let chain = error_chain(e).to_ascii_lowercase();
    if chain.contains("certificate") {
        "TLS certificate verification failed"
    } else if chain.contains("corrupt message")
        || chain.contains("handshake")
        || chain.contains("peer is incompatible")
    {
        "TLS handshake failed"
    } else if chain.contains("connection refused") {
        "connection refused"
    } else if chain.contains("dns error") || chain.contains("failed to lookup") {
        "cannot resolve host"
    } else if e.is_body() || e.is_decode() {
        "connection broken while reading the response"
    } else if e.is_request() {
        "request failed"
    } else {
        "connection failed"
    }
}
