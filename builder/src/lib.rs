//! lading's Dockerfile frontend, build graph and executor.
#![deny(missing_docs)]

pub mod chmod;
pub mod context;
pub mod dockerfile;
pub mod pathmatch;
