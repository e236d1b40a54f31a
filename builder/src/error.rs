//! Build errors. Errors tied to an instruction carry its file, line and column, and
//! display like the parser's: `Dockerfile:7:1: copy: "nope" not found in build context`.

use crate::dockerfile::ParseError;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An instruction could not be carried out.
    #[error("{file}:{line}:{column}: {message}")]
    Instruction {
        /// Dockerfile name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What went wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Bad build options (not tied to a Dockerfile line).
    #[error("{0}")]
    Options(String),
    /// Reading or writing OCI content failed.
    #[error(transparent)]
    Oci(#[from] lading_oci::Error),
    /// Unpacking a layer snapshot or diffing a changed tree failed.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::Error),
    /// A file-system operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(
        op: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// An error of one step, before the step's location is attached.
#[derive(Debug)]
pub struct StepError {
    /// What went wrong.
    pub message: String,
    /// Underlying error.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StepError {
    /// A plain message.
    pub fn msg(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            source: None,
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> StepError {
        // Keep the whole chain in the message: the binary prints it once.
        let mut message = e.to_string();
        let mut cur = e.source();
        while let Some(s) = cur {
            message.push_str(": ");
            message.push_str(&s.to_string());
            cur = s.source();
        }
        StepError {
            message,
            source: None,
        }
    }
}

/// Step result.
pub type StepResult<T> = std::result::Result<T, StepError>;
