//! Keys and cosign-compatible signatures for lading.
//!
//! - [`keys`]: ECDSA P-256 key pairs (aws-lc-rs), the private key as PKCS#8 PEM
//!   ([RFC 5958]), optionally encrypted with PBES2 ([RFC 8018] section 6.2: PBKDF2 with
//!   HMAC-SHA256, AES-256-CBC), the public key as a `PUBLIC KEY` PEM
//!   (SubjectPublicKeyInfo, [RFC 5480]) that `cosign verify --key` reads.
//! - [`cosign_key`]: cosign's own encrypted private keys (scrypt + NaCl secretbox), read
//!   in builds without `fips` and refused in FIPS builds.
//! - [`simple_signing`]: cosign's "simple signing" payload, the bytes that are signed.
//! - [`cosign`]: cosign's legacy signature manifests (tag `sha256-<hex>.sig`, one layer
//!   per signature) built and read as OCI types; the binary moves them with the registry
//!   client.
//!
//! [RFC 5958]: https://www.rfc-editor.org/rfc/rfc5958
//! [RFC 8018]: https://www.rfc-editor.org/rfc/rfc8018#section-6.2
//! [RFC 5480]: https://www.rfc-editor.org/rfc/rfc5480
#![deny(missing_docs)]

pub mod constants;
pub mod cosign;
pub mod cosign_key;
mod der;
pub mod error;
pub mod keys;
mod pem;
pub mod simple_signing;

pub use error::{Error, Result};
pub use keys::{KeyPair, PublicKey};
