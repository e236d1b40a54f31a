//! OCI types, the content store, the image model and deterministic layers.
#![deny(missing_docs)]
pub mod gzip;
