//! lading's gates: checks that run on the exact bytes of an image in the store, whose
//! verdicts are bound to its manifest digest.
//!
//! - [`layers`]: reading an image's layers as a stream, in order, honouring whiteouts,
//!   without unpacking them (every gate reads images this way).
//! - [`vuln`]: the vulnerability scan (OSV database, version order per ecosystem,
//!   matcher, CVSS, reports).
//! - [`sbom`]: catalogers, CycloneDX 1.6 and SPDX 2.3 documents.
#![deny(missing_docs)]

pub mod error;
pub mod layers;
pub mod sbom;
pub mod vuln;

pub use error::{Error, Result};
