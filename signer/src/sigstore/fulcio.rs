//! Fulcio's `POST /api/v2/signingCert`: an identity token and a public key, with a proof
//! of possession (the key's signature of the token's subject), in exchange for a
//! short-lived code-signing certificate naming that identity.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::oidc::IdentityToken;
use crate::error::{Error, Result};
use crate::keys::KeyPair;
use crate::pem;

/// The certificates Fulcio returned, DER: the leaf first, then its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificates {
    /// The signing certificate.
    pub leaf: Vec<u8>,
    /// Intermediates and root, in order.
    pub chain: Vec<Vec<u8>>,
}

/// PEM label of a certificate.
pub const PEM_CERTIFICATE: &str = "CERTIFICATE";

impl Certificates {
    /// The leaf as PEM (cosign's `dev.sigstore.cosign/certificate`).
    pub fn leaf_pem(&self) -> String {
        pem::encode(PEM_CERTIFICATE, &self.leaf).to_string()
    }

    /// The chain as concatenated PEM (cosign's `dev.sigstore.cosign/chain`).
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| pem::encode(PEM_CERTIFICATE, c).to_string())
            .collect()
    }
}

/// Every `CERTIFICATE` block of a PEM text, DER.
pub fn certificates_from_pem(text: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let (label, der) = pem::decode(&rest[start..])?;
        if label != PEM_CERTIFICATE {
            return Err(Error::UnsupportedPem {
                label,
                reason: "expected CERTIFICATE".into(),
            });
        }
        out.push(der.to_vec());
        let footer = "-----END CERTIFICATE-----";
        let end = rest[start..]
            .find(footer)
            .map(|i| start + i + footer.len())
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    Ok(out)
}

/// Asks Fulcio at `base_url` for a certificate binding `key` to `token`'s identity.
pub fn request_certificate(
    client: &reqwest::blocking::Client,
    base_url: &str,
    token: &IdentityToken,
    key: &KeyPair,
) -> Result<Certificates> {
    let public = key.public_key()?;
    let proof = key.sign(token.claims().subject().as_bytes())?;
    let request = json!({
        "publicKeyRequest": {
            "publicKey": { "algorithm": "ECDSA", "content": public.to_pem() },
            "proofOfPossession": STANDARD.encode(proof),
        }
    });
    let url = format!("{}/api/v2/signingCert", base_url.trim_end_matches('/'));
    // The token goes as a bearer credential (as sigstore-go sends it), never in a message.
    let body = super::post_json(client, "Fulcio", &url, &request, Some(token.jwt()), None)?;
    parse_response(&body)
}

/// The chain of a `signingCert` answer (embedded or detached SCT).
fn parse_response(body: &str) -> Result<Certificates> {
    #[derive(Deserialize)]
    struct Chain {
        certificates: Vec<String>,
    }
    #[derive(Deserialize)]
    struct WithChain {
        chain: Chain,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        signed_certificate_embedded_sct: Option<WithChain>,
        signed_certificate_detached_sct: Option<WithChain>,
    }
    let bad = |reason: String| Error::Invalid {
        what: "Fulcio's answer",
        reason,
    };
    let answer: Answer = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
    let chain = answer
        .signed_certificate_embedded_sct
        .or(answer.signed_certificate_detached_sct)
        .ok_or_else(|| bad("no certificate chain".into()))?
        .chain;
    let mut ders = Vec::new();
    for pem_text in &chain.certificates {
        ders.extend(certificates_from_pem(pem_text)?);
    }
    let mut ders = ders.into_iter();
    let leaf = ders.next().ok_or_else(|| bad("an empty chain".into()))?;
    Ok(Certificates {
        leaf,
        chain: ders.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_and_pem_round_trip() {
        let a = pem::encode(PEM_CERTIFICATE, b"leaf").to_string();
        let b = pem::encode(PEM_CERTIFICATE, b"root").to_string();
        let body = json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [a, b]}}});
        let c = parse_response(&body.to_string()).unwrap();
        assert_eq!(c.leaf, b"leaf");
        assert_eq!(c.chain, vec![b"root".to_vec()]);
        assert_eq!(certificates_from_pem(&c.chain_pem()).unwrap(), c.chain);
        assert_eq!(
            certificates_from_pem(&c.leaf_pem()).unwrap(),
            vec![c.leaf.clone()]
        );
        assert!(certificates_from_pem("").unwrap().is_empty());
        assert!(parse_response("{}").is_err());
    }
}
