//! Media types and annotation keys, spelled exactly as the OCI image-spec v1.1 and
//! Docker's image manifest v2 schema 2 spell them.

/// OCI image index.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed OCI layer.
pub const MEDIA_TYPE_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// gzip-compressed OCI layer.
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// zstd-compressed OCI layer.
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The empty descriptor's media type (content `{}`).
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The `oci-layout` file's media type.
pub const MEDIA_TYPE_LAYOUT_HEADER: &str = "application/vnd.oci.layout.header.v1+json";
/// Docker v2 schema 2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer.
pub const MEDIA_TYPE_DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Tag of a manifest inside an image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// lading's own annotation on an untagged `index.json` entry: the registry repository the
/// manifest was pushed to by digest (see [`crate::repository`]).
pub const ANNOTATION_REPOSITORY: &str = "dev.lading.repository";
/// lading's own annotation on an `index.json` entry whose target is an image index pulled
/// for some of its platforms only (`"true"`): manifests it lists that are not in the store
/// are not missing content, as in containerd's store. Manifests that are present are
/// complete.
pub const ANNOTATION_PARTIAL: &str = "dev.lading.partial";
/// Creation time (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Base image reference.
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Base image manifest digest.
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Source repository URL.
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// Source revision.
pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";

/// Content of the `oci-layout` file.
pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// Largest manifest or config we read into memory (as registries limit manifests).
pub const MAX_JSON_BLOB: u64 = 4 * 1024 * 1024;

/// `artifactType` of a build cache lading exports (`--cache-to`): an image manifest whose
/// config holds the cache records and whose layers are the layer blobs they name.
pub const ARTIFACT_TYPE_BUILD_CACHE: &str = "application/vnd.lading.cache.v1+json";
/// Media type of a build cache's config blob: the records (step key → result layer) and
/// the gzip blob of each exported uncompressed layer.
pub const MEDIA_TYPE_BUILD_CACHE_CONFIG: &str = "application/vnd.lading.cache.config.v1+json";
