//! What every gate's report shares: the image it ran on and the verdict.

use serde::{Deserialize, Serialize};

/// The image a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// The reference as the user gave it.
    pub name: String,
    /// The manifest digest the gate read (`sha256:...`).
    pub digest: String,
}

impl ImageRef {
    /// The reference and the digest of `image`.
    pub fn new(name: &str, image: &lading_oci::Image) -> ImageRef {
        ImageRef {
            name: name.to_string(),
            digest: image.descriptor.digest.to_string(),
        }
    }
}

/// A gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Verdict {
    /// Nothing stops the image.
    Pass,
    /// The gate says no (exit code 1).
    Fail,
}
