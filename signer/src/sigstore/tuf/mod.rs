//! Sigstore's trust material through TUF: a TUF 1.0 client for what Sigstore needs —
//! root rotation, timestamp → snapshot → targets with version, hash, length, expiry and
//! rollback checks, then the targets `trusted_root.json` and `signing_config.v0.2.json`
//! verified by hash and length — with a cache that serves offline runs.
//!
//! - [`canonical`]: the canonical JSON TUF signs.
//! - [`metadata`]: the metadata roles and their threshold signatures.
//! - [`client`]: the update workflow, the mirror and the cache.
//!
//! Delegated targets roles are not followed: Sigstore publishes its trust material in
//! the top-level targets.

pub(crate) mod canonical;
mod client;
pub(crate) mod metadata;

pub use client::{Fetched, Repository};

/// Public-good Sigstore's TUF repository.
pub const SIGSTORE_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";

/// Public-good Sigstore's TUF root (version 14), the initial trusted root for
/// [`SIGSTORE_MIRROR`]: the same public file sigstore-go v1.2.2 embeds
/// (`pkg/tuf/repository/root.json`). Later roots are fetched and checked against it.
pub const SIGSTORE_ROOT: &[u8] = include_bytes!("sigstore-root.json");

/// The target holding the trusted root (Fulcio CAs, Rekor and CT log keys, TSAs).
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
/// The target holding the signing config (the Fulcio, Rekor, TSA and OIDC URLs).
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";
