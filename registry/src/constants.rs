//! Header names, media types and limits used by the registry.

pub use lading_oci::constants::{
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
};

/// The manifest media types the registry accepts (OCI and Docker v2 schema 2).
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    MEDIA_TYPE_MANIFEST,
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
];

/// Whether a manifest media type is an index (OCI index or Docker manifest list).
pub fn is_index_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// Digest of a returned blob or manifest.
pub const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// Sent on every response, as Docker's registry does.
pub const DOCKER_API_VERSION: &str = "docker-distribution-api-version";
/// The upload session id (legacy name).
pub const DOCKER_UPLOAD_UUID: &str = "docker-upload-uuid";
/// The upload session id.
pub const UPLOAD_SESSION_ID: &str = "blob-upload-session-id";
/// The subject a pushed manifest refers to.
pub const OCI_SUBJECT: &str = "oci-subject";
/// Filters a referrers listing applied.
pub const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";

/// Largest manifest accepted (the spec asks registries to take at least 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = lading_oci::constants::MAX_JSON_BLOB;
/// Default limit for one blob: 64 GiB.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 64 << 30;
/// The realm in `WWW-Authenticate` challenges.
pub const REALM: &str = "lading";
