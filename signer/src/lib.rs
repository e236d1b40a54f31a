//! Keys and cosign-compatible signatures for lading.
//!
//! - [`keys`]: ECDSA P-256 key pairs (aws-lc-rs), the private key as PKCS#8 PEM
//!   ([RFC 5958]), optionally encrypted with PBES2 ([RFC 8018] section 6.2: PBKDF2 with
//!   HMAC-SHA256, AES-256-CBC), the public key as a `PUBLIC KEY` PEM
//!   (SubjectPublicKeyInfo, [RFC 5480]) that `cosign verify --key` reads.
//! - [`cosign_key`]: cosign's own encrypted private keys (scrypt + NaCl secretbox), read
//!   in builds without `fips` and refused in FIPS builds.
//! - [`simple_signing`]: cosign's "simple signing" payload, the bytes that are signed.
//! - [`slsa`]: SLSA provenance v1 predicates.
//! - [`cosign`]: cosign's legacy signature manifests (tag `sha256-<hex>.sig`, one layer
//!   per signature) built and read as OCI types; the binary moves them with the registry
//!   client.
//! - [`dsse`], [`intoto`]: the one DSSE envelope and in-toto statement model, used by
//!   attestations and Sigstore bundles alike; [`attestation`]: attestations stored as
//!   cosign's legacy `sha256-<hex>.att` manifests; [`policy`]: requirements on a verified
//!   SLSA provenance.
//! - [`sigstore`]: Sigstore bundles v0.3, cosign v3 image signatures in them and the
//!   OCI 1.1 referrer manifests that store them; keyless signing (OIDC, Fulcio, Rekor)
//!   and its verification against a trusted root.
//!
//! [RFC 5958]: https://www.rfc-editor.org/rfc/rfc5958
//! [RFC 8018]: https://www.rfc-editor.org/rfc/rfc8018#section-6.2
//! [RFC 5480]: https://www.rfc-editor.org/rfc/rfc5480
#![deny(missing_docs)]

pub mod attestation;
pub mod constants;
pub mod cosign;
pub mod cosign_key;
mod der;
pub mod dsse;
pub mod error;
pub mod intoto;
pub mod keys;
mod pem;
pub mod policy;
mod protojson;
pub mod sigstore;
pub mod simple_signing;
pub mod slsa;

pub use error::{Error, Result};
pub use keys::{KeyPair, PublicKey};
