//! protobuf-JSON (protojson) encodings of scalar fields, shared by the Sigstore bundle
//! model and DSSE envelopes: `bytes` as base64, `int64` as a decimal string.

/// protobuf-JSON `bytes`.
pub mod b64 {
    use base64::Engine as _;
    use base64::alphabet::STANDARD;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::{DecodePaddingMode, general_purpose};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Standard alphabet, padding optional: protojson accepts either.
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    pub fn encode(bytes: &[u8]) -> String {
        general_purpose::STANDARD.encode(bytes)
    }

    /// Standard or URL-safe, padded or not.
    pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        let standard: String = text
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        LENIENT.decode(standard)
    }

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).map_err(serde::de::Error::custom)
    }
}

/// protobuf-JSON `repeated bytes`.
pub mod b64_list {
    use serde::ser::SerializeSeq as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&crate::protojson::b64::encode(bytes))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| crate::protojson::b64::decode(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// protobuf-JSON `int64`: a decimal string, a number accepted when reading.
pub mod int64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&n.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum TextOrNumber {
            Text(String),
            Number(i64),
        }
        match TextOrNumber::deserialize(d)? {
            TextOrNumber::Text(t) => t.parse().map_err(serde::de::Error::custom),
            TextOrNumber::Number(n) => Ok(n),
        }
    }
}
