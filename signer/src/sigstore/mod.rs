//! Sigstore: bundles, cosign v3's image signatures in them, and keyless signing (an
//! OIDC identity token, a short-lived Fulcio certificate, a Rekor transparency-log entry)
//! with its verification against a trusted root.
//!
//! - [`bundle`]: the Sigstore bundle v0.3 in protobuf-JSON (sigstore/protobuf-specs).
//! - [`dsse_bundle`]: a bundle of a DSSE envelope over an in-toto statement, signed
//!   and verified with a key (image signatures and attestations alike).
//! - [`image_signature`]: cosign v3's image signature — an in-toto statement naming the
//!   image digest, predicate `https://sigstore.dev/cosign/sign/v1`, in a DSSE envelope
//!   in a bundle — signed and verified.
//! - [`referrer`]: the OCI 1.1 referrer manifest that stores a bundle next to the image
//!   (artifact type `application/vnd.dev.sigstore.bundle.v0.3+json`, `subject` = the
//!   image), as cosign v3 pushes it.
//! - [`oidc`]: the identity token (`--identity-token`, or GitHub Actions' token request).
//! - [`fulcio`]: `POST /api/v2/signingCert` with proof of possession.
//! - [`rekor`]: Rekor v1 `hashedrekord` entries, their signed entry timestamp (SET) and
//!   inclusion proof, and cosign's legacy `dev.sigstore.cosign/bundle` annotation.
//! - [`rekor_v2`]: Rekor v2 (rekor-tiles) `hashedrekord` 0.0.2 entries, their inclusion
//!   proof and signed checkpoint.
//! - [`trust_root`]: `trusted_root.json` and `signing_config.json` (protobuf-specs JSON).
//! - [`certificate`]: Fulcio certificates: the chain to a trusted CA, validity at the
//!   log's time, the identity (SAN) and OIDC issuer extensions.
//! - [`legacy`]: those on cosign's legacy `.sig` layers (annotations), and their verification.
//! - [`sct`]: the certificate's embedded SCT, checked with the trusted root's CT logs.
//! - [`time`]: RFC 3339 timestamps as Unix seconds.
//! - [`tsa`]: RFC 3161 timestamps over a signature: requested from a timestamp
//!   authority, verified with the trusted root's `timestampAuthorities`.
//!
//! What the sign and verify flows produce is kept in plain types ([`fulcio::Certificates`],
//! [`rekor::LogEntry`]) so that a Sigstore bundle can be assembled from them.

pub mod bundle;
pub mod certificate;
pub mod dsse_bundle;
pub mod dsse_entry;
pub mod fulcio;
pub mod image_signature;
pub mod legacy;
pub mod logged_bundle;
pub mod oidc;
pub mod referrer;
pub mod rekor;
pub mod rekor_v2;
pub mod sct;
pub mod time;
pub mod trust_root;
pub mod tsa;
pub mod tuf;

/// Public-good Sigstore's Fulcio (cosign's default `--fulcio-url`).
pub const DEFAULT_FULCIO_URL: &str = "https://fulcio.sigstore.dev";
/// Public-good Sigstore's Rekor (cosign's default `--rekor-url`).
pub const DEFAULT_REKOR_URL: &str = "https://rekor.sigstore.dev";

/// SHA-256 of `data` (aws-lc-rs, the FIPS module in a `fips` build).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `POST`s `body` as JSON to `url` (with `bearer` as the bearer credential, never put in
/// a message, and an optional timeout) and returns the answer's text; a status other
/// than 2xx is an error naming `what`, the URL and the start of the answer.
pub(crate) fn post_json(
    client: &reqwest::blocking::Client,
    what: &'static str,
    url: &str,
    body: &serde_json::Value,
    bearer: Option<&str>,
    timeout: Option<std::time::Duration>,
) -> crate::Result<String> {
    let http = |reason: String| crate::Error::Http { what, reason };
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    let response = request.send().map_err(|e| http(e.to_string()))?;
    let status = response.status();
    let text = response.text().map_err(|e| http(e.to_string()))?;
    if !status.is_success() {
        return Err(http(format!(
            "{url}: status {status}: {}",
            text.chars().take(500).collect::<String>()
        )));
    }
    Ok(text)
}

/// An HTTP client for Fulcio, Rekor and token requests.
pub fn http_client() -> crate::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .user_agent(concat!("lading/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::Error::Http {
            what: "an HTTP client",
            reason: e.to_string(),
        })
}
