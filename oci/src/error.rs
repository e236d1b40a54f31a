//! Errors of the `oci` crate.

use std::path::PathBuf;

use crate::digest::Digest;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing OCI content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stream failed (no single path to blame).
    #[error("{what}")]
    Stream {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not a valid digest string.
    #[error("invalid digest {digest:?}")]
    InvalidDigest {
        /// The offending text.
        digest: String,
    },
    /// Content did not hash to what was expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Expected digest.
        expected: Digest,
        /// Computed digest.
        actual: Digest,
    },
    /// Content had another size than its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Expected size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A blob is missing.
    #[error("blob {digest} not found")]
    BlobNotFound {
        /// The blob.
        digest: Digest,
    },
    /// A tag or image reference is unknown.
    #[error("image {reference:?} not found{hint}")]
    ImageNotFound {
        /// What was asked for.
        reference: String,
        /// Extra context (may be empty).
        hint: String,
    },
    /// JSON could not be read or written.
    #[error("invalid JSON in {what}")]
    Json {
        /// Which document.
        what: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A document is well-formed JSON but not a valid OCI document.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which document.
        what: String,
        /// Why.
        reason: String,
    },
    /// A platform string could not be parsed.
    #[error("invalid platform {platform:?} (expected os/arch[/variant])")]
    InvalidPlatform {
        /// The offending text.
        platform: String,
    },
    /// No manifest for the wanted platform.
    #[error("no image for platform {platform} in {reference}")]
    NoMatchingPlatform {
        /// Wanted platform.
        platform: String,
        /// The index.
        reference: String,
    },
    /// An archive entry tried to leave its root.
    #[error("unsafe path {path:?} in {what}")]
    UnsafePath {
        /// The entry path.
        path: String,
        /// The archive.
        what: String,
    },
    /// Not a valid repository name (distribution-spec "Pulling manifests").
    #[error("invalid repository name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Not a valid tag (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
    #[error("invalid tag {tag:?}")]
    InvalidTag {
        /// The offending tag.
        tag: String,
    },
    /// No upload session with this id.
    #[error("upload {id:?} not found")]
    UploadNotFound {
        /// The session id.
        id: String,
    },
    /// Not a valid image reference (`[host[:port]/]path[:tag][@digest]`).
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The offending text.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A source outside this crate (a remote registry) failed.
    #[error("{what}")]
    Source {
        /// What was being done (`pulling docker.io/library/alpine:latest`).
        what: String,
        /// The source's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A blob or document was larger than allowed.
    #[error("{what} is too large ({size} bytes, limit {limit})")]
    TooLarge {
        /// What.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The random generator failed.
    #[error("drawing {what}: the random generator failed")]
    Random {
        /// What was being drawn.
        what: &'static str,
    },
    /// A `fips` build's cryptographic module is not in FIPS mode.
    #[error("the AWS-LC FIPS module is not in FIPS mode ({reason}); refusing to run")]
    FipsMode {
        /// What the module said.
        reason: &'static str,
    },
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
