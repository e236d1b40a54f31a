//! PEM ([RFC 7468](https://www.rfc-editor.org/rfc/rfc7468)): one labelled base64 block.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Encodes `der` under `label`, lines of 64 characters.
pub fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + 80));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The label and DER bytes of the first PEM block of `text`.
pub fn decode(text: &str) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let err = |reason: &str| Error::Pem {
        reason: reason.to_string(),
    };
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| err("no -----BEGIN line"))?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let end_label = rest
        .find("-----")
        .ok_or_else(|| err("unterminated BEGIN line"))?;
    let label = rest[..end_label].to_string();
    let body = &rest[end_label + 5..];
    let footer = format!("-----END {label}-----");
    let stop = body
        .find(&footer)
        .ok_or_else(|| err("no matching -----END line"))?;
    let b64: Zeroizing<String> = Zeroizing::new(
        body[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    );
    if b64.contains(':') {
        return Err(err("PEM headers (legacy encryption) are not supported"));
    }
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| err("the body is not base64"))?;
    Ok((label, Zeroizing::new(der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: Vec<u8> = (0..=200).collect();
        let pem = encode("PUBLIC KEY", &data);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let (label, der) = decode(&pem).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(&der[..], &data[..]);
    }
}
