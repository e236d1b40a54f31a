//! The error every parse failure becomes: file, line, column and a lowercase message,
//! displayed like a compiler diagnostic.

use thiserror::Error;

/// A Dockerfile that cannot be parsed, with the position of the offending token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based character column (the instruction keyword when nothing finer is known).
    pub column: usize,
    /// What is wrong, BuildKit's wording where it has one.
    pub message: String,
}
