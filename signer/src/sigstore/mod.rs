//! Sigstore: bundles and cosign v3's image signatures in them.
//!
//! - [`bundle`]: the Sigstore bundle v0.3 in protobuf-JSON (sigstore/protobuf-specs).
//! - [`dsse_bundle`]: a bundle of a DSSE envelope over an in-toto statement, signed
//!   and verified with a key (image signatures and attestations alike).
//! - [`image_signature`]: cosign v3's image signature — an in-toto statement naming the
//!   image digest, predicate `https://sigstore.dev/cosign/sign/v1`, in a DSSE envelope
//!   in a bundle — signed and verified with a key.
//! - [`referrer`]: the OCI 1.1 referrer manifest that stores a bundle next to the image
//!   (artifact type `application/vnd.dev.sigstore.bundle.v0.3+json`, `subject` = the
//!   image), as cosign v3 pushes it.

pub mod bundle;
pub mod dsse_bundle;
pub mod image_signature;
pub mod referrer;
