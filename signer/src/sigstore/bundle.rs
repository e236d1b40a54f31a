//! The Sigstore bundle v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json`) in the
//! protobuf-JSON form sigstore's tools read and write: sigstore/protobuf-specs
//! `protos/sigstore_bundle.proto` (`Bundle`, `VerificationMaterial`,
//! `TimestampVerificationData`), `sigstore_common.proto` (`MessageSignature`,
//! `HashOutput`, `PublicKeyIdentifier`, `X509Certificate[Chain]`, `LogId`,
//! `RFC3161SignedTimestamp`), `sigstore_rekor.proto` (`TransparencyLogEntry` and its
//! parts) and `envelope.proto` (DSSE `Envelope`).
//!
//! protobuf-JSON rules followed here (protojson): lowerCamelCase field names (the proto
//! names are accepted when reading), `bytes` as base64 (standard or URL-safe, padded or
//! not, when reading; standard and padded when writing), `int64` as a decimal string (a
//! number is accepted when reading), enums by name, fields at their default value (empty,
//! zero, unset) left out, fields in declaration order. A bundle cosign wrote parses and
//! serializes back to the same JSON.

use super::sha256;
use serde::{Deserialize, Serialize};

use crate::constants::{MEDIA_TYPE_BUNDLE_V03, MEDIA_TYPE_BUNDLE_V03_LEGACY};
pub use crate::dsse::Envelope;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::protojson::{b64, b64_list, int64};

/// A Sigstore bundle: what was signed, the signature, and what verifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// The bundle's media type, which carries its version.
    #[serde(
        default,
        alias = "media_type",
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    /// The key hint or certificates, transparency-log entries and timestamps.
    #[serde(alias = "verification_material")]
    pub verification_material: VerificationMaterial,
    /// The signature: over a message digest, or a DSSE envelope.
    #[serde(flatten)]
    pub content: Content,
}

/// The `content` oneof of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Content {
    /// A signature over an artifact's digest (`cosign sign-blob`).
    #[serde(alias = "message_signature")]
    MessageSignature(MessageSignature),
    /// A DSSE envelope (cosign v3 image signatures and attestations).
    #[serde(alias = "dsse_envelope")]
    DsseEnvelope(Envelope),
}

/// `VerificationMaterial`: what verifies the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The key hint, certificate or certificate chain.
    #[serde(flatten)]
    pub content: KeyMaterial,
    /// Transparency-log entries (Rekor) for the signature.
    #[serde(default, alias = "tlog_entries", skip_serializing_if = "Vec::is_empty")]
    pub tlog_entries: Vec<TransparencyLogEntry>,
    /// Signed timestamps (RFC 3161) over the signature.
    #[serde(
        default,
        alias = "timestamp_verification_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// The `content` oneof of `VerificationMaterial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyMaterial {
    /// A hint naming the public key the verifier already holds.
    #[serde(alias = "public_key")]
    PublicKey(PublicKeyIdentifier),
    /// A certificate chain, leaf first (bundles before v0.3).
    #[serde(alias = "x509_certificate_chain")]
    X509CertificateChain(X509CertificateChain),
    /// The signing certificate (Fulcio's, for keyless signing).
    Certificate(X509Certificate),
}

/// `PublicKeyIdentifier`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    /// Free-form; cosign writes base64(SHA-256(DER SubjectPublicKeyInfo)).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

impl PublicKeyIdentifier {
    /// cosign's hint for `key`: the base64 SHA-256 of its DER SubjectPublicKeyInfo.
    pub fn for_key(key: &PublicKey) -> PublicKeyIdentifier {
        PublicKeyIdentifier {
            hint: b64::encode(&sha256(key.der())),
        }
    }
}

/// `X509Certificate`: one DER certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Certificate {
    /// The DER bytes.
    #[serde(
        default,
        alias = "raw_bytes",
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub raw_bytes: Vec<u8>,
}

/// `X509CertificateChain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509CertificateChain {
    /// The certificates, leaf first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<X509Certificate>,
}

/// `TimestampVerificationData`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    /// RFC 3161 signed timestamps over the signature.
    #[serde(
        default,
        alias = "rfc3161_timestamps",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rfc3161_timestamps: Vec<Rfc3161SignedTimestamp>,
}

/// `RFC3161SignedTimestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rfc3161SignedTimestamp {
    /// The DER `TimeStampResponse`.
    #[serde(
        default,
        alias = "signed_timestamp",
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub signed_timestamp: Vec<u8>,
}

/// `TransparencyLogEntry` (Rekor).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogEntry {
    /// The entry's index in the log. Written even when 0 (the first entry of a log):
    /// sigstore-python requires the field.
    #[serde(default, alias = "log_index", with = "int64")]
    pub log_index: i64,
    /// Which log.
    #[serde(default, alias = "log_id", skip_serializing_if = "Option::is_none")]
    pub log_id: Option<LogId>,
    /// The entry's kind and version (`hashedrekord` `0.0.1`, `dsse` `0.0.1`).
    #[serde(
        default,
        alias = "kind_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind_version: Option<KindVersion>,
    /// When the log integrated the entry (Unix seconds; 0 for Rekor v2).
    #[serde(
        default,
        alias = "integrated_time",
        with = "int64",
        skip_serializing_if = "is_zero"
    )]
    pub integrated_time: i64,
    /// The log's signed promise to include the entry.
    #[serde(
        default,
        alias = "inclusion_promise",
        skip_serializing_if = "Option::is_none"
    )]
    pub inclusion_promise: Option<InclusionPromise>,
    /// The proof that the entry is in the log's tree.
    #[serde(
        default,
        alias = "inclusion_proof",
        skip_serializing_if = "Option::is_none"
    )]
    pub inclusion_proof: Option<InclusionProof>,
    /// The entry's body as the log canonicalized it.
    #[serde(
        default,
        alias = "canonicalized_body",
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub canonicalized_body: Vec<u8>,
}

/// `LogId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// SHA-256 of the log's public key.
    #[serde(
        default,
        alias = "key_id",
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_id: Vec<u8>,
}

/// `KindVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindVersion {
    /// The entry kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The kind's version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// `InclusionPromise`: the signed entry timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    /// The log's signature over the entry.
    #[serde(
        default,
        alias = "signed_entry_timestamp",
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub signed_entry_timestamp: Vec<u8>,
}

/// `InclusionProof`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// The entry's index in the tree of the proof (written even when 0, as above).
    #[serde(default, alias = "log_index", with = "int64")]
    pub log_index: i64,
    /// The tree's root hash.
    #[serde(
        default,
        alias = "root_hash",
        with = "b64",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub root_hash: Vec<u8>,
    /// The tree's size.
    #[serde(
        default,
        alias = "tree_size",
        with = "int64",
        skip_serializing_if = "is_zero"
    )]
    pub tree_size: i64,
    /// The audit path, leaf to root (written even when empty, a one-leaf tree's:
    /// sigstore-python requires the field).
    #[serde(default, with = "b64_list")]
    pub hashes: Vec<Vec<u8>>,
    /// The signed checkpoint of the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// `Checkpoint`: a signed note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The note, signature lines included.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub envelope: String,
}

/// `MessageSignature`: a signature over an artifact, with the artifact's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The digest of the signed artifact.
    #[serde(
        default,
        alias = "message_digest",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_digest: Option<HashOutput>,
    /// The signature (ASN.1 DER for ECDSA).
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub signature: Vec<u8>,
}

/// `HashOutput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashOutput {
    /// The hash function.
    #[serde(default, skip_serializing_if = "HashAlgorithm::is_unspecified")]
    pub algorithm: HashAlgorithm,
    /// The digest bytes.
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub digest: Vec<u8>,
}

/// `HashAlgorithm`, written by name; a number this crate does not know is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// `HASH_ALGORITHM_UNSPECIFIED` (0).
    #[default]
    Unspecified,
    /// `SHA2_256` (1).
    Sha2_256,
    /// `SHA2_384` (2).
    Sha2_384,
    /// `SHA2_512` (3).
    Sha2_512,
    /// `SHA3_256` (4, deprecated).
    Sha3_256,
    /// `SHA3_384` (5, deprecated).
    Sha3_384,
    /// Another value, by number.
    Other(i32),
}

const HASH_ALGORITHMS: [(HashAlgorithm, &str, i32); 6] = [
    (HashAlgorithm::Unspecified, "HASH_ALGORITHM_UNSPECIFIED", 0),
    (HashAlgorithm::Sha2_256, "SHA2_256", 1),
    (HashAlgorithm::Sha2_384, "SHA2_384", 2),
    (HashAlgorithm::Sha2_512, "SHA2_512", 3),
    (HashAlgorithm::Sha3_256, "SHA3_256", 4),
    (HashAlgorithm::Sha3_384, "SHA3_384", 5),
];

impl HashAlgorithm {
    fn is_unspecified(&self) -> bool {
        *self == HashAlgorithm::Unspecified
    }
}

impl Serialize for HashAlgorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match (self, HASH_ALGORITHMS.iter().find(|(a, _, _)| a == self)) {
            (_, Some((_, name, _))) => s.serialize_str(name),
            (HashAlgorithm::Other(n), None) => s.serialize_i32(*n),
            (_, None) => Err(serde::ser::Error::custom("unnamed hash algorithm")),
        }
    }
}

impl<'de> Deserialize<'de> for HashAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum NameOrNumber {
            Name(String),
            Number(i32),
        }
        match NameOrNumber::deserialize(d)? {
            NameOrNumber::Name(n) => HASH_ALGORITHMS
                .iter()
                .find(|(_, name, _)| *name == n)
                .map(|(a, _, _)| *a)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown hash algorithm {n:?}"))),
            NameOrNumber::Number(n) => Ok(HASH_ALGORITHMS
                .iter()
                .find(|(_, _, v)| *v == n)
                .map_or(HashAlgorithm::Other(n), |(a, _, _)| *a)),
        }
    }
}

impl Bundle {
    /// A v0.3 bundle of a DSSE envelope and its verification material. Keyless signing
    /// passes a certificate and Rekor entries here; key-based signing a key hint.
    pub fn dsse(verification_material: VerificationMaterial, envelope: Envelope) -> Bundle {
        Bundle {
            media_type: MEDIA_TYPE_BUNDLE_V03.to_string(),
            verification_material,
            content: Content::DsseEnvelope(envelope),
        }
    }

    /// Parses a bundle's protobuf-JSON. A oneof with two members set is refused, as
    /// protojson refuses it (serde alone would keep one of them).
    pub fn parse(bytes: &[u8]) -> Result<Bundle> {
        let invalid = |reason: String| Error::Invalid {
            what: "sigstore bundle",
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let oneofs = [
            (&value, &CONTENT_MEMBERS[..], "content"),
            (
                &value["verificationMaterial"],
                &KEY_MATERIAL_MEMBERS[..],
                "verificationMaterial.content",
            ),
            (
                &value["verification_material"],
                &KEY_MATERIAL_MEMBERS[..],
                "verificationMaterial.content",
            ),
        ];
        for (object, members, what) in oneofs {
            if members.iter().filter(|m| object.get(**m).is_some()).count() > 1 {
                return Err(invalid(format!(
                    "the oneof {what} has more than one member"
                )));
            }
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    /// The bundle's protobuf-JSON (compact, fields in declaration order).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Invalid {
            what: "sigstore bundle",
            reason: e.to_string(),
        })
    }

    /// Whether the media type says v0.3 (either spelling), the version cosign stores.
    pub fn is_v03(&self) -> bool {
        self.media_type == MEDIA_TYPE_BUNDLE_V03 || self.media_type == MEDIA_TYPE_BUNDLE_V03_LEGACY
    }

    /// The DSSE envelope, when the bundle holds one.
    pub fn dsse_envelope(&self) -> Option<&Envelope> {
        match &self.content {
            Content::DsseEnvelope(e) => Some(e),
            Content::MessageSignature(_) => None,
        }
    }
}

impl VerificationMaterial {
    /// Material naming a public key the verifier holds, with no log entries or
    /// timestamps (key-based signing without a transparency log).
    pub fn public_key(key: &PublicKey) -> VerificationMaterial {
        VerificationMaterial {
            content: KeyMaterial::PublicKey(PublicKeyIdentifier::for_key(key)),
            tlog_entries: Vec::new(),
            timestamp_verification_data: None,
        }
    }
}

/// The JSON names (protobuf-JSON and proto) of the members of `Bundle.content`.
const CONTENT_MEMBERS: [&str; 4] = [
    "messageSignature",
    "message_signature",
    "dsseEnvelope",
    "dsse_envelope",
];
/// The JSON names of the members of `VerificationMaterial.content`.
const KEY_MATERIAL_MEMBERS: [&str; 5] = [
    "publicKey",
    "public_key",
    "x509CertificateChain",
    "x509_certificate_chain",
    "certificate",
];

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keyless DSSE bundle cosign wrote (cosign v3.1.3 `pkg/cosign/testdata`): a
    /// certificate, a Rekor entry with promise and proof.
    const COSIGN_KEYLESS: &str = include_str!("testdata/oci-attestation.sigstore.json");
    /// A key-based image signature cosign v3.1.3 pushed as a referrer
    /// (`cosign sign --key --tlog-upload=false --use-signing-config=false`).
    const COSIGN_KEYED: &str = include_str!("testdata/cosign-sign-key.sigstore.json");
    /// A key-based blob signature of cosign v3.1.3 (`cosign sign-blob --bundle`).
    const COSIGN_BLOB: &str = include_str!("testdata/cosign-sign-blob.sigstore.json");

    fn round_trip(text: &str) -> Bundle {
        let bundle = Bundle::parse(text.as_bytes()).unwrap();
        let again: serde_json::Value = serde_json::from_slice(&bundle.to_json().unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(again, original);
        bundle
    }

    #[test]
    fn cosign_keyless_bundle_round_trips() {
        let b = round_trip(COSIGN_KEYLESS);
        assert!(b.is_v03());
        assert!(matches!(
            b.verification_material.content,
            KeyMaterial::Certificate(_)
        ));
        let entry = &b.verification_material.tlog_entries[0];
        assert_eq!(entry.log_index, 175_508_996);
        assert_eq!(entry.integrated_time, 1_740_770_291);
        assert_eq!(entry.kind_version.as_ref().unwrap().kind, "dsse");
        let proof = entry.inclusion_proof.as_ref().unwrap();
        assert_eq!(proof.tree_size, proof.log_index + 1);
        assert_eq!(proof.root_hash.len(), 32);
        assert!(proof.hashes.iter().all(|h| h.len() == 32));
        assert_eq!(
            b.dsse_envelope().unwrap().payload_type,
            "application/vnd.in-toto+json"
        );
    }

    #[test]
    fn cosign_key_bundles_round_trip_byte_for_byte() {
        for text in [COSIGN_KEYED, COSIGN_BLOB] {
            let b = round_trip(text);
            // cosign writes compact protojson: ours is the same bytes.
            assert_eq!(
                String::from_utf8(b.to_json().unwrap()).unwrap(),
                text.trim_end()
            );
            assert!(matches!(
                b.verification_material.content,
                KeyMaterial::PublicKey(_)
            ));
        }
        let blob = Bundle::parse(COSIGN_BLOB.as_bytes()).unwrap();
        let Content::MessageSignature(m) = &blob.content else {
            panic!("sign-blob writes a message signature");
        };
        let d = m.message_digest.as_ref().unwrap();
        assert_eq!(d.algorithm, HashAlgorithm::Sha2_256);
        assert_eq!(d.digest.len(), 32);
    }

    #[test]
    fn proto_names_numbers_and_url_safe_base64_are_read() {
        let b = Bundle::parse(
            br#"{"media_type":"application/vnd.dev.sigstore.bundle+json;version=0.3",
                "verification_material":{"public_key":{},"tlog_entries":[{"log_index":7,"log_id":{"key_id":"-_8"}}]},
                "message_signature":{"message_digest":{"algorithm":1,"digest":"AA"},"signature":"AQ=="}}"#,
        )
        .unwrap();
        assert!(b.is_v03());
        let entry = &b.verification_material.tlog_entries[0];
        assert_eq!(entry.log_index, 7);
        assert_eq!(entry.log_id.as_ref().unwrap().key_id, vec![0xfb, 0xff]);
        let json = String::from_utf8(b.to_json().unwrap()).unwrap();
        assert!(
            json.contains(r#""algorithm":"SHA2_256","digest":"AA==""#),
            "{json}"
        );
        assert!(json.contains(r#""logIndex":"7""#), "{json}");
    }

    #[test]
    fn a_bundle_without_content_or_material_is_refused() {
        assert!(
            Bundle::parse(br#"{"mediaType":"x","verificationMaterial":{"publicKey":{}}}"#).is_err()
        );
        assert!(Bundle::parse(br#"{"mediaType":"x","dsseEnvelope":{}}"#).is_err());
        assert!(
            Bundle::parse(
                br#"{"verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"!"}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn a_oneof_set_twice_is_refused() {
        // protojson refuses a oneof with two members; so does this model.
        assert!(Bundle::parse(
            br#"{"verificationMaterial":{"publicKey":{}},"dsseEnvelope":{},"messageSignature":{}}"#
        )
        .is_err());
        assert!(
            Bundle::parse(
                br#"{"verificationMaterial":{"publicKey":{},"certificate":{}},"dsseEnvelope":{}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn the_key_hint_is_cosigns() {
        let key = crate::KeyPair::generate().unwrap().public_key().unwrap();
        let hint = PublicKeyIdentifier::for_key(&key).hint;
        assert_eq!(b64::decode(&hint).unwrap(), sha256(key.der()));
    }
}
