//! Errors of the gates.

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a gate could not run (as opposed to a finding, which is data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the image from the store failed.
    #[error(transparent)]
    Oci(#[from] lading_oci::Error),
    /// A layer's tar stream is corrupt or truncated.
    #[error("layer {layer} is corrupt or truncated")]
    Layer {
        /// The layer's digest.
        layer: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The vulnerability database.
    #[error(transparent)]
    VulnDb(#[from] crate::vuln::db::DbError),
    /// Input the gate cannot use.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Why it is unusable.
        reason: String,
    },
}
