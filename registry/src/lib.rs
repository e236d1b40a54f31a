//! An OCI distribution-spec v1.1 registry over lading's content store
//! (<https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md>), and a
//! client for remote registries ([`client`]).
//!
//! The server serves the very OCI image layout `lading build` writes: no copy, no second
//! store. Every endpoint of the spec's table is implemented (end-1 … end-14), with the
//! spec's error codes in the spec's JSON error body.
//!
//! # Repositories and visibility
//!
//! This is a single-tenant, local registry: whoever may talk to it may read all of it.
//!
//! - **Blobs** are content-addressed and shared by every repository. `GET
//!   /v2/<any valid name>/blobs/<digest>` answers every blob in the store, a cross-repository
//!   mount succeeds whenever the blob exists, and a blob is visible only once its digest
//!   was verified (uploads are hashed before they are renamed into `blobs/`).
//! - **Manifests and tags** belong to repositories, recorded in `index.json` (see
//!   [`lading_oci::repository`]): tag `T` of repository `R` is the entry named `R:T`; a
//!   manifest pushed by digest only is an untagged entry annotated with its repository. A
//!   manifest is visible in `R` when an entry of `R` is it, or is an index that (directly
//!   or through nested indexes) lists it. A repository exists while it has entries;
//!   `lading build -t foo:1` therefore publishes `foo:1`.
//! - **Exposed manifests** ([`Registry::expose`]) are visible in a repository by digest
//!   for the life of one server, with no entry in `index.json`: `lading scan` serves the
//!   manifest it scanned, tagged or not, to external scanners as `lading/scan@DIGEST`
//!   from a read-only ([`Registry::set_read_only`]) server behind generated credentials
//!   ([`Htpasswd::generate`]).
//! - **Referrers** of a digest in `R` are the manifests of `R` whose `subject` is that
//!   digest, found by scanning `R`'s entries (manifests are immutable, so what was parsed
//!   once is cached by digest).
//! - **Deleting** a manifest by digest removes it from that repository only (its blob stays
//!   for the other repositories and the builder); deleting a tag keeps the manifest,
//!   untagged. A blob can be deleted only while no manifest in `index.json` references it.
//!
//! # Uploads
//!
//! Upload sessions live in the store under `.lading/uploads/<uuid>` (see
//! [`lading_oci::upload`]), so they survive a restart: a client whose connection dropped,
//! or whose server was killed, asks `GET <location>` for the received range and resumes,
//! or starts again. Chunks must arrive in order (`416` otherwise); the closing `PUT` hashes
//! what was received and only a matching digest becomes a blob.
//!
//! # Limits and exposure
//!
//! Manifests are limited to 4 MiB and blobs to [`Limits::max_blob`] (`413`). A server on a
//! non-loopback address refuses to start without authentication (htpasswd with bcrypt
//! hashes, or a bearer token) and TLS; see [`server::check_exposure`].

#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod constants;
pub mod error;
mod handlers;
mod paths;
pub mod server;
mod state;

pub use auth::{Auth, Credentials, Htpasswd};
pub use error::{Error, Result};
pub use server::{Server, ServerConfig, TlsFiles};
pub use state::{Limits, Registry};
