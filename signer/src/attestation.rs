//! cosign's legacy attestation storage (sigstore/cosign `pkg/oci`, `cmd/cosign/cli/attest`):
//! the attestations of manifest `sha256:<hex>` live in one OCI image manifest tagged
//! `sha256-<hex>.att`, shaped like the `.sig` one ([`crate::cosign::build`]). Each
//! attestation is a layer of media type [`MEDIA_TYPE_DSSE_ENVELOPE`] whose blob is a DSSE
//! envelope over an in-toto statement; the layer's annotations are
//! [`ANNOTATION_SIGNATURE`] (empty: the signature is inside the envelope) and
//! [`ANNOTATION_PREDICATE_TYPE`].
//!
//! `--type` names map to predicate URIs as cosign's `options.PredicateTypeMap`; a
//! predicate file becomes the statement's predicate as cosign's `GenerateStatement` does:
//! `custom` wraps the file as a string (`{"Data": …, "Timestamp": …}`), `spdx` takes it
//! as a JSON string, every other type takes it as a JSON object, unchanged.

use lading_oci::{Descriptor, Digest};
use serde_json::value::RawValue;

use crate::constants::{
    ANNOTATION_PREDICATE_TYPE, ANNOTATION_SIGNATURE, ATTESTATION_TAG_SUFFIX,
    MEDIA_TYPE_DSSE_ENVELOPE, PAYLOAD_TYPE_IN_TOTO, PREDICATE_BUILD_LOG, PREDICATE_CUSTOM,
    PREDICATE_CYCLONEDX, PREDICATE_LINK, PREDICATE_OPENVEX, PREDICATE_SLSA_PROVENANCE_V1,
    PREDICATE_SLSA_PROVENANCE_V02, PREDICATE_SPDX, PREDICATE_VULN,
};
use crate::dsse::Envelope;
use crate::error::{Error, Result};
use crate::intoto::Statement;
use crate::keys::{KeyPair, PublicKey};

/// The tag of the attestations of `digest`: `sha256-<hex>.att`.
pub fn attestation_tag(digest: &Digest) -> String {
    format!(
        "{}-{}.{ATTESTATION_TAG_SUFFIX}",
        digest.algorithm().name(),
        digest.hex()
    )
}

/// `--type` names and their predicate URIs: cosign's, then lading's own.
pub const PREDICATE_TYPES: [(&str, &str); 11] = [
    ("slsaprovenance", PREDICATE_SLSA_PROVENANCE_V02),
    ("slsaprovenance02", PREDICATE_SLSA_PROVENANCE_V02),
    ("slsaprovenance1", PREDICATE_SLSA_PROVENANCE_V1),
    ("link", PREDICATE_LINK),
    ("spdx", PREDICATE_SPDX),
    ("spdxjson", PREDICATE_SPDX),
    ("cyclonedx", PREDICATE_CYCLONEDX),
    ("vuln", PREDICATE_VULN),
    ("openvex", PREDICATE_OPENVEX),
    ("custom", PREDICATE_CUSTOM),
    ("buildlog", PREDICATE_BUILD_LOG),
];

/// Whether `s` is an absolute URI (`scheme:rest`, RFC 3986 scheme, no spaces).
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// The predicate URI a `--type` means: a name of [`PREDICATE_TYPES`], or a URI as is.
pub fn predicate_type(name: &str) -> Result<&str> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(n, _)| *n == name) {
        return Ok(uri);
    }
    if is_uri(name) {
        return Ok(name);
    }
    Err(Error::Invalid {
        what: "predicate type",
        reason: format!(
            "{name:?} is neither a URI nor one of {}",
            PREDICATE_TYPES.map(|(n, _)| n).join(", ")
        ),
    })
}

/// The statement predicate for a `--type` name and the predicate file's bytes.
/// `timestamp` (RFC 3339) goes into `custom` predicates only.
pub fn predicate(type_name: &str, file: &[u8], timestamp: &str) -> Result<Box<RawValue>> {
    let bad = |reason: String| Error::Invalid {
        what: "predicate",
        reason,
    };
    let text = std::str::from_utf8(file).map_err(|_| bad("the file is not UTF-8".into()))?;
    let json = if predicate_type(type_name)? == PREDICATE_CUSTOM {
        serde_json::to_string(&serde_json::json!({ "Data": text, "Timestamp": timestamp }))
            .map_err(|e| bad(e.to_string()))?
    } else if type_name == "spdx" {
        serde_json::to_string(text).map_err(|e| bad(e.to_string()))?
    } else {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("{type_name} needs a JSON object: {e}")))?;
        if !value.is_object() {
            return Err(bad(format!("{type_name} needs a JSON object")));
        }
        text.trim().to_string()
    };
    RawValue::from_string(json).map_err(|e| bad(e.to_string()))
}

/// An attestation ready to be stored: the envelope blob and its layer descriptor.
#[derive(Debug, Clone)]
pub struct Attested {
    /// The DSSE envelope (the layer's blob).
    pub envelope: Vec<u8>,
    /// The layer descriptor, with cosign's annotations.
    pub layer: Descriptor,
}

/// Signs `statement` with `sign` (handed the DSSE PAE bytes) and makes its layer.
pub fn sign_with(
    statement: &Statement,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<Attested> {
    let envelope = Envelope::sign_with(PAYLOAD_TYPE_IN_TOTO, &statement.to_bytes()?, sign)?;
    layer(&envelope, &statement.predicate_type)
}

/// The `.att` layer of a signed envelope whose statement has `predicate_type`: the same
/// envelope a bundle referrer holds.
pub fn layer(envelope: &Envelope, predicate_type: &str) -> Result<Attested> {
    let envelope = envelope.to_bytes()?;
    let mut layer = Descriptor::new(
        MEDIA_TYPE_DSSE_ENVELOPE,
        Digest::of(&envelope),
        envelope.len() as u64,
    );
    layer
        .annotations
        .insert(ANNOTATION_SIGNATURE.to_string(), String::new());
    layer.annotations.insert(
        ANNOTATION_PREDICATE_TYPE.to_string(),
        predicate_type.to_string(),
    );
    Ok(Attested { envelope, layer })
}

/// Signs `statement` with a key pair.
pub fn sign(key: &KeyPair, statement: &Statement) -> Result<Attested> {
    sign_with(statement, |pae| key.sign(pae))
}

/// The predicate type an envelope's statement claims, unverified (as cosign's
/// `--replace` reads it).
pub fn claimed_predicate_type(envelope: &[u8]) -> Result<String> {
    Ok(Statement::parse(&Envelope::parse(envelope)?.payload)?.predicate_type)
}

/// Verifies one attestation layer: `envelope` is the layer's blob (its digest is checked
/// here too), a signature must verify with `key`, the payload must be an in-toto
/// statement with a subject of digest `image`. The predicate type is the caller's to
/// check.
pub fn verify_layer(
    layer: &Descriptor,
    envelope: &[u8],
    key: &PublicKey,
    image: &Digest,
) -> Result<Statement> {
    let invalid = |reason: String| Error::Invalid {
        what: "attestation layer",
        reason,
    };
    if layer.media_type != MEDIA_TYPE_DSSE_ENVELOPE {
        return Err(invalid(format!("media type {:?}", layer.media_type)));
    }
    let actual = Digest::of(envelope);
    if actual != layer.digest {
        return Err(invalid(format!(
            "envelope digest {actual}, descriptor says {}",
            layer.digest
        )));
    }
    let envelope = Envelope::parse(envelope)?;
    let payload = envelope.verify(key)?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(invalid(format!("payload type {:?}", envelope.payload_type)));
    }
    let statement = Statement::parse(payload)?;
    statement.check_subject(image)?;
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosign;

    fn statement(digest: &Digest, type_name: &str, file: &str) -> Statement {
        let uri = predicate_type(type_name).unwrap();
        let p = predicate(type_name, file.as_bytes(), "2026-01-02T03:04:05Z").unwrap();
        Statement::new("r.example/app", digest, uri, p)
    }

    #[test]
    fn types_map_as_cosigns() {
        assert_eq!(
            predicate_type("slsaprovenance1").unwrap(),
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(
            predicate_type("vuln").unwrap(),
            "https://cosign.sigstore.dev/attestation/vuln/v1"
        );
        assert_eq!(
            predicate_type("buildlog").unwrap(),
            "https://lading.dev/attestation/build-log/v1"
        );
        assert_eq!(
            predicate_type("https://example.com/p/v1").unwrap(),
            "https://example.com/p/v1"
        );
        for bad in ["slsa", "not a uri:x", "1http://x", ""] {
            assert!(predicate_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn predicates_wrap_as_cosigns() {
        let custom = predicate("custom", b"free text\n", "2026-01-02T03:04:05Z").unwrap();
        assert_eq!(
            custom.get(),
            r#"{"Data":"free text\n","Timestamp":"2026-01-02T03:04:05Z"}"#
        );
        assert_eq!(
            predicate("spdx", b"SPDXVersion: SPDX-2.3\n", "")
                .unwrap()
                .get(),
            r#""SPDXVersion: SPDX-2.3\n""#
        );
        let raw = "{\"b\": 1,\n \"a\": 2}\n";
        assert_eq!(
            predicate("cyclonedx", raw.as_bytes(), "").unwrap().get(),
            raw.trim()
        );
        assert!(predicate("cyclonedx", b"[1]", "").is_err());
        assert!(predicate("vuln", b"not json", "").is_err());
        assert!(predicate("https://example.com/p", b"{}", "").is_ok());
    }

    #[test]
    fn attestation_layer_verifies_and_refusals_are_specific() {
        let key = KeyPair::generate().unwrap();
        let public = key.public_key().unwrap();
        let image = Digest::of(b"image");
        let st = statement(
            &image,
            "slsaprovenance1",
            r#"{"buildDefinition":{},"runDetails":{}}"#,
        );
        let a = sign(&key, &st).unwrap();
        assert_eq!(a.layer.media_type, MEDIA_TYPE_DSSE_ENVELOPE);
        assert_eq!(a.layer.annotations[ANNOTATION_SIGNATURE], "");
        assert_eq!(
            a.layer.annotations[ANNOTATION_PREDICATE_TYPE],
            PREDICATE_SLSA_PROVENANCE_V1
        );
        assert_eq!(
            claimed_predicate_type(&a.envelope).unwrap(),
            PREDICATE_SLSA_PROVENANCE_V1
        );
        let got = verify_layer(&a.layer, &a.envelope, &public, &image).unwrap();
        assert_eq!(got.predicate.get(), st.predicate.get());

        // Another image.
        assert!(matches!(
            verify_layer(&a.layer, &a.envelope, &public, &Digest::of(b"other")),
            Err(Error::WrongDigest { .. })
        ));
        // A changed statement, re-encoded, with the descriptor updated to match.
        let mut env = Envelope::parse(&a.envelope).unwrap();
        let changed = String::from_utf8(env.payload.clone())
            .unwrap()
            .replace("runDetails", "runDetailz");
        env.payload = changed.into_bytes();
        let forged = env.to_bytes().unwrap();
        let mut layer = a.layer.clone();
        layer.digest = Digest::of(&forged);
        layer.size = forged.len() as u64;
        assert!(matches!(
            verify_layer(&layer, &forged, &public, &image),
            Err(Error::BadSignature)
        ));
        // An envelope that does not match its descriptor.
        assert!(matches!(
            verify_layer(&a.layer, &forged, &public, &image),
            Err(Error::Invalid { .. })
        ));
        // Another key.
        let stranger = KeyPair::generate().unwrap().public_key().unwrap();
        assert!(matches!(
            verify_layer(&a.layer, &a.envelope, &stranger, &image),
            Err(Error::BadSignature)
        ));
        // A signature layer is not an attestation.
        let sig = cosign::sign(&key, "r.example/app", &image).unwrap();
        assert!(matches!(
            verify_layer(&sig.layer, &sig.payload, &public, &image),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn tag_names_the_digest() {
        let d = Digest::of(b"x");
        assert_eq!(attestation_tag(&d), format!("sha256-{}.att", d.hex()));
    }
}
