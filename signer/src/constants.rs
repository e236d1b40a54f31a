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
/// Annotation holding a keyless signature's certificate (PEM).
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the certificate's chain (PEM, intermediates then root).
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// Annotation holding cosign's legacy Rekor bundle (the log entry and its SET).
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
