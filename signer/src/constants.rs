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

/// Media type of a `.att` layer: a DSSE envelope (cosign `pkg/types` `DssePayloadType`).
pub const MEDIA_TYPE_DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The DSSE `payloadType` of an in-toto statement (cosign `IntotoPayloadType`).
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// Annotation of a `.att` layer naming its predicate URI.
pub const ANNOTATION_PREDICATE_TYPE: &str = "predicateType";
/// Suffix of the legacy attestation tag (`sha256-<hex>.att`).
pub const ATTESTATION_TAG_SUFFIX: &str = "att";
/// The in-toto Statement `_type` lading writes.
pub const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The older `_type` cosign v3.1 still writes; read as well.
pub const IN_TOTO_STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// SLSA provenance v0.2 (`--type slsaprovenance`, `slsaprovenance02`).
pub const PREDICATE_SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1 (`--type slsaprovenance1`).
pub const PREDICATE_SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SPDX (`--type spdx`, `spdxjson`).
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";
/// CycloneDX (`--type cyclonedx`).
pub const PREDICATE_CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// in-toto link (`--type link`).
pub const PREDICATE_LINK: &str = "https://in-toto.io/Link/v1";
/// cosign's vulnerability scan predicate (`--type vuln`).
pub const PREDICATE_VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// OpenVEX (`--type openvex`).
pub const PREDICATE_OPENVEX: &str = "https://openvex.dev/ns";
/// cosign's custom predicate (`--type custom`): the file as a string in `Data`.
pub const PREDICATE_CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
/// lading's build log predicate (`--type buildlog`).
pub const PREDICATE_BUILD_LOG: &str = "https://lading.dev/attestation/build-log/v1";

/// lading's independent-rebuild predicate: who rebuilt an image from its provenance,
/// where, when, and whether the digest came out the same (`lading reproduce --attest`).
pub const PREDICATE_REPRODUCED: &str = "https://lading.dev/attestation/reproduced/v1";
/// Name of the SLSA `runDetails.byproducts` entry holding the gate verdict
/// (`annotations.verdict`).
pub const PROVENANCE_GATES_BYPRODUCT: &str = "lading-gates";

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

/// Annotation holding a keyless signature's certificate (PEM).
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the certificate's chain (PEM, intermediates then root).
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// Annotation holding cosign's legacy Rekor bundle (the log entry and its SET).
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// Annotation holding an RFC 3161 timestamp over a `.sig` layer's raw signature
/// (`{"SignedRFC3161Timestamp":"<base64 TimeStampResp>"}`, cosign `bundle.RFC3161Timestamp`).
pub const ANNOTATION_RFC3161_TIMESTAMP: &str = "dev.sigstore.cosign/rfc3161timestamp";
