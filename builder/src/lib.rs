//! lading's Dockerfile frontend, build graph and executor.
#![deny(missing_docs)]

pub mod archive;
pub mod chmod;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod error;
pub mod options;
pub mod pathmatch;
pub mod progress;
pub mod snapshot;
pub mod solve;
pub mod users;

pub use error::{Error, Result};
pub use options::{BuildOptions, NamedContext};
pub use progress::Reporter;
pub use solve::{BuildResult, build};
