//! OCI types, the content store, the image model and deterministic layers.
#![deny(missing_docs)]

pub mod check;
pub mod constants;
pub mod crypto;
pub mod diff;
pub mod digest;
pub mod error;
pub mod export;
pub mod gc;
pub mod graph;
pub mod gzip;
pub mod hash;
pub mod image;
pub mod layer;
pub mod lease;
pub mod reference;
pub mod repository;
pub mod source;
pub mod spec;
pub mod store;
pub mod unpack;
pub mod upload;

pub use digest::Digest;
pub use error::{Error, Result};
pub use image::Image;
pub use reference::Reference;
pub use source::{ImageSource, SourceRef};
pub use spec::{Descriptor, ImageConfig, Index, Manifest, Platform};
pub use store::Store;
