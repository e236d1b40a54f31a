//! lading's gates: checks that run on the exact bytes of an image in the store, whose
//! verdicts are bound to its manifest digest.
//!
//! - [`layers`]: reading an image's layers as a stream, in order, honouring whiteouts,
//!   without unpacking them (every gate reads images this way).
//! - [`layer_cache`]: what the gates learned from each layer, kept by layer digest, so
//!   an image that shares layers with one gated before reads only its new layers.
//! - [`vuln`]: the vulnerability scan (OSV database, version order per ecosystem,
//!   matcher, CVSS, reports).
//! - [`sbom`]: catalogers, CycloneDX 1.6 and SPDX 2.3 documents.
//! - [`secrets`]: credentials in every layer (deleted files too) and in the config.
//! - [`cis`]: CIS Docker Benchmark section 4 (image and build file checks).
//! - [`gate`]: what every report shares (image, verdict).
//! - [`policy`]: `lading gate`'s one policy file for all four gates.
//! - [`record`]: gate records bound to a manifest digest, and [`record::passing_record`].
#![deny(missing_docs)]

pub mod cis;
pub mod error;
pub mod gate;
pub mod layer_cache;
pub mod layers;
pub mod policy;
pub mod record;
pub mod sbom;
pub mod secrets;
#[cfg(test)]
mod testutil;
pub mod vuln;

pub use error::{Error, Result};
