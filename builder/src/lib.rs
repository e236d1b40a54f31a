//! lading's Dockerfile frontend, build graph and executor.
#![deny(missing_docs)]

pub mod archive;
pub mod chmod;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod error;
pub mod exec;
pub mod options;
pub mod pathmatch;
pub mod progress;
pub mod remote;
pub mod run_mount;
pub mod shared_cache;
pub mod snapshot;
pub mod solve;
pub mod users;

pub use error::{Error, Result};
pub use options::{
    BuildOptions, BuildParameters, ContextModes, NamedContext, NetworkMode, SecretSource,
    Snapshotter,
};
pub use progress::Reporter;
pub use solve::{BuildResult, build, main_context};
