//! Media types, annotation keys and names cosign uses (sigstore/cosign `pkg/oci/static`,
//! `pkg/types`, sigstore `pkg/signature/payload`).

/// Media type of a simple-signing payload layer (cosign `pkg/types`
/// `SimpleSigningMediaType`: the annotation key says `cosignproject`, the media type
/// does not).
pub const MEDIA_TYPE_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation holding a layer's base64 signature.
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` of a simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// Suffix of the legacy signature tag (`sha256-<hex>.sig`).
pub const SIGNATURE_TAG_SUFFIX: &str = "sig";
/// Environment variables a key's password is read from, in this order.
pub const PASSWORD_ENV: [&str; 2] = ["LADING_PASSWORD", "COSIGN_PASSWORD"];
/// PEM label of an unencrypted PKCS#8 private key.
pub const PEM_PRIVATE_KEY: &str = "PRIVATE KEY";
/// PEM label of a PBES2-encrypted PKCS#8 private key.
pub const PEM_ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";
/// PEM label of a SubjectPublicKeyInfo public key.
pub const PEM_PUBLIC_KEY: &str = "PUBLIC KEY";
/// PEM labels of cosign's own encrypted key format (scrypt + NaCl secretbox).
pub const PEM_COSIGN_PRIVATE_KEYS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];
/// PBKDF2 iterations for new encrypted keys (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

// Sigstore bundles (sigstore/protobuf-specs, sigstore-go `pkg/bundle`) and cosign v3's
// bundle storage (cosign `pkg/oci/remote/write.go`).

/// Media type of a Sigstore bundle v0.3, the layer's and the referrer's artifact type.
pub const MEDIA_TYPE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The older spelling of the v0.3 media type sigstore-go still reads.
pub const MEDIA_TYPE_BUNDLE_V03_LEGACY: &str =
    "application/vnd.dev.sigstore.bundle+json;version=0.3";
/// Prefix of every bundle media type (cosign accepts a bundle layer by this prefix).
pub const MEDIA_TYPE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// Referrer annotation: what the bundle holds (`dsse-envelope`).
pub const ANNOTATION_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// The value of [`ANNOTATION_BUNDLE_CONTENT`] for a DSSE bundle.
pub const BUNDLE_CONTENT_DSSE: &str = "dsse-envelope";
/// Referrer annotation: the predicate type of the bundle's in-toto statement.
pub const ANNOTATION_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type of cosign v3's image signature statement (cosign `pkg/types`
/// `CosignSignPredicateType`).
pub const PREDICATE_COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto statement v1.
pub const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of an in-toto statement v0.1, still read.
pub const IN_TOTO_STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
