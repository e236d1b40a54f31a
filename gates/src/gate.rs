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

/// Runs `f` (which reads `image`'s layers) while another thread re-hashes every layer
/// blob against its digest: a gate's verdict must be about the bytes the digest names.
/// A digest mismatch wins over whatever `f` made of the bad bytes.
pub fn verified<T: Send>(
    store: &lading_oci::Store,
    image: &lading_oci::Image,
    f: impl FnOnce() -> crate::Result<T> + Send,
) -> crate::Result<T> {
    std::thread::scope(|s| {
        let check = s.spawn(|| {
            image
                .layers()
                .iter()
                .try_for_each(|l| store.verify_blob(&l.digest).map(|_| ()))
        });
        let result = f();
        match check.join() {
            Ok(Ok(())) => result,
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(crate::Error::Invalid {
                what: format!("image {}", image.descriptor.digest),
                reason: "verifying the layer digests stopped unexpectedly".into(),
            }),
        }
    })
}
