//! Sigstore trust material in protobuf-specs JSON: `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`: the Fulcio CAs, Rekor
//! and CT log keys, each valid for a time range) and `signing_config.json`
//! (`application/vnd.dev.sigstore.signingconfig.v0.2+json`: which Fulcio and Rekor to use).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::time::parse_rfc3339;
use crate::error::{Error, Result};

/// Media type of a trusted root.
pub const MEDIA_TYPE_TRUSTED_ROOT: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// Media type of a v0.2 signing config.
pub const MEDIA_TYPE_SIGNING_CONFIG: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/// A time range; `end` open when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidFor {
    /// Unix seconds.
    pub start: i64,
    /// Unix seconds.
    pub end: Option<i64>,
}

impl ValidFor {
    /// Whether `t` (Unix seconds) is in the range.
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|e| t <= e)
    }
}

/// A transparency log (Rekor) or CT log.
#[derive(Debug, Clone)]
pub struct Log {
    /// Its URL.
    pub base_url: String,
    /// Its key, SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The log ID (the SHA-256 of the key).
    pub log_id: Vec<u8>,
    /// When the key may be used.
    pub valid_for: ValidFor,
}

/// A Fulcio certificate authority.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// Its URL.
    pub uri: String,
    /// The chain, DER, issuing certificate first, root last.
    pub chain: Vec<Vec<u8>>,
    /// When it may have issued certificates.
    pub valid_for: ValidFor,
}

/// A parsed `trusted_root.json`.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    /// Rekor logs.
    pub tlogs: Vec<Log>,
    /// Fulcio CAs.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// Certificate-transparency logs.
    pub ctlogs: Vec<Log>,
    /// RFC 3161 timestamp authorities (`timestampAuthorities`): each chain leaf first.
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

// The JSON shapes (protobuf JSON: camelCase, bytes as standard base64).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawValidFor {
    start: String,
    end: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    valid_for: Option<RawValidFor>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    base_url: String,
    public_key: RawKey,
    log_id: RawLogId,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChain {
    certificates: Vec<RawCert>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: RawValidFor,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrustedRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        reason: reason.into(),
    }
}

fn b64(what: &'static str, s: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(s)
        .map_err(|_| invalid(what, "a value is not base64"))
}

fn valid_for(v: &RawValidFor) -> Result<ValidFor> {
    Ok(ValidFor {
        start: parse_rfc3339(&v.start)?,
        end: v.end.as_deref().map(parse_rfc3339).transpose()?,
    })
}

fn log(raw: &RawLog) -> Result<Log> {
    let open = RawValidFor {
        start: "1970-01-01T00:00:00Z".into(),
        end: None,
    };
    Ok(Log {
        base_url: raw.base_url.clone(),
        public_key: b64("trusted root", &raw.public_key.raw_bytes)?,
        log_id: b64("trusted root", &raw.log_id.key_id)?,
        valid_for: valid_for(raw.public_key.valid_for.as_ref().unwrap_or(&open))?,
    })
}

impl TrustedRoot {
    /// Reads a `trusted_root.json`.
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot> {
        let raw: RawTrustedRoot =
            serde_json::from_slice(bytes).map_err(|e| invalid("trusted root", e.to_string()))?;
        if raw.media_type != MEDIA_TYPE_TRUSTED_ROOT {
            return Err(invalid(
                "trusted root",
                format!(
                    "media type {:?}, expected {MEDIA_TYPE_TRUSTED_ROOT:?}",
                    raw.media_type
                ),
            ));
        }
        let authority = |ca: &RawCa| {
            Ok(CertificateAuthority {
                uri: ca.uri.clone(),
                chain: ca
                    .cert_chain
                    .certificates
                    .iter()
                    .map(|c| b64("trusted root", &c.raw_bytes))
                    .collect::<Result<_>>()?,
                valid_for: valid_for(&ca.valid_for)?,
            })
        };
        Ok(TrustedRoot {
            tlogs: raw.tlogs.iter().map(log).collect::<Result<_>>()?,
            certificate_authorities: raw
                .certificate_authorities
                .iter()
                .map(authority)
                .collect::<Result<_>>()?,
            ctlogs: raw.ctlogs.iter().map(log).collect::<Result<_>>()?,
            timestamp_authorities: raw
                .timestamp_authorities
                .iter()
                .map(authority)
                .collect::<Result<_>>()?,
        })
    }

    /// The Rekor log with ID `log_id`.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&Log> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }
}

/// The services of a `signing_config.json` lading uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    /// The Fulcio to ask for certificates.
    pub fulcio_url: Option<String>,
    /// The Rekor log to upload to: the newest API version lading speaks (2, else 1)
    /// among those valid now.
    pub rekor: Option<RekorService>,
    /// The RFC 3161 timestamp authorities to ask, as `tsaConfig` selects them (`ANY`
    /// and `EXACT` ask the first `count`, at least one; `ALL` every one).
    pub tsa_urls: Vec<String>,
}

/// A Rekor log and its API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekorService {
    /// Its URL.
    pub url: String,
    /// 1 (`/api/v1/log/entries`) or 2 (`/api/v2/log/entries`, rekor-tiles).
    pub major_api_version: u32,
}

impl SigningConfig {
    /// The Rekor v1 log's URL, when the selected log is a v1 log.
    pub fn rekor_url(&self) -> Option<String> {
        self.rekor
            .as_ref()
            .filter(|r| r.major_api_version == 1)
            .map(|r| r.url.clone())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawService {
    url: String,
    major_api_version: u32,
    valid_for: RawValidFor,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSigningConfig {
    media_type: String,
    #[serde(default)]
    ca_urls: Vec<RawService>,
    #[serde(default)]
    rekor_tlog_urls: Vec<RawService>,
    #[serde(default)]
    tsa_urls: Vec<RawService>,
    #[serde(default)]
    tsa_config: Option<RawSelector>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSelector {
    /// protojson writes the enum by name; a number is read too.
    #[serde(default)]
    selector: serde_json::Value,
    #[serde(default)]
    count: u32,
}

impl SigningConfig {
    /// Reads a v0.2 `signing_config.json`, choosing the services valid at `now` (Unix
    /// seconds) with the API versions lading speaks: Fulcio v1 (its `/api/v2` paths),
    /// Rekor v2 or v1 (v2 preferred, as sigstore-go), timestamp authorities v1.
    pub fn from_json(bytes: &[u8], now: i64) -> Result<SigningConfig> {
        let raw: RawSigningConfig =
            serde_json::from_slice(bytes).map_err(|e| invalid("signing config", e.to_string()))?;
        if raw.media_type != MEDIA_TYPE_SIGNING_CONFIG {
            return Err(invalid(
                "signing config",
                format!(
                    "media type {:?}, expected {MEDIA_TYPE_SIGNING_CONFIG:?}",
                    raw.media_type
                ),
            ));
        }
        let pick = |services: &[RawService]| -> Result<Option<String>> {
            for s in services {
                if s.major_api_version == 1 && valid_for(&s.valid_for)?.contains(now) {
                    return Ok(Some(s.url.clone()));
                }
            }
            Ok(None)
        };
        let mut rekor = None;
        for version in [2, 1] {
            for s in &raw.rekor_tlog_urls {
                if rekor.is_none()
                    && s.major_api_version == version
                    && valid_for(&s.valid_for)?.contains(now)
                {
                    rekor = Some(RekorService {
                        url: s.url.clone(),
                        major_api_version: version,
                    });
                }
            }
        }
        let mut tsas = Vec::new();
        for s in &raw.tsa_urls {
            if s.major_api_version == 1 && valid_for(&s.valid_for)?.contains(now) {
                tsas.push(s.url.clone());
            }
        }
        if let Some(config) = &raw.tsa_config {
            let all = matches!(&config.selector, serde_json::Value::String(s) if s == "ALL")
                || config.selector == serde_json::json!(1);
            if !all {
                tsas.truncate(config.count.max(1) as usize);
            }
        }
        Ok(SigningConfig {
            fulcio_url: pick(&raw.ca_urls)?,
            rekor,
            tsa_urls: tsas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trusted_root_and_signing_config() {
        let root = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
          "tlogs":[{"baseUrl":"http://r","hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":"AQID","keyDetails":"PKIX_ECDSA_P256_SHA_256","validFor":{"start":"2020-01-01T00:00:00Z"}},"logId":{"keyId":"BAU="}}],
          "certificateAuthorities":[{"subject":{},"uri":"http://f","certChain":{"certificates":[{"rawBytes":"Bgc="}]},"validFor":{"start":"2020-01-01T00:00:00Z","end":"2021-01-01T00:00:00Z"}}],
          "ctlogs":[],"timestampAuthorities":[]}"#;
        let t = TrustedRoot::from_json(root).unwrap();
        assert_eq!(t.tlogs[0].public_key, vec![1, 2, 3]);
        assert!(t.tlog(&[4, 5]).is_some());
        let ca = &t.certificate_authorities[0];
        assert_eq!(ca.chain, vec![vec![6, 7]]);
        assert!(ca.valid_for.contains(1_590_000_000));
        assert!(!ca.valid_for.contains(1_700_000_000));
        assert!(TrustedRoot::from_json(br#"{"mediaType":"x"}"#).is_err());

        let config = br#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
          "caUrls":[{"url":"http://old","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z","end":"2021-01-01T00:00:00Z"}},
                    {"url":"http://f","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}}],
          "rekorTlogUrls":[{"url":"http://r2","majorApiVersion":2,"validFor":{"start":"2020-01-01T00:00:00Z"}},
                           {"url":"http://r1","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}}]}"#;
        let c = SigningConfig::from_json(config, 1_700_000_000).unwrap();
        assert_eq!(c.fulcio_url.as_deref(), Some("http://f"));
        // v2 is preferred; a v2 log is no v1 URL.
        assert_eq!(
            c.rekor,
            Some(RekorService {
                url: "http://r2".into(),
                major_api_version: 2
            })
        );
        assert_eq!(c.rekor_url(), None);
        assert!(c.tsa_urls.is_empty());

        let v1_and_tsas = br#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
          "rekorTlogUrls":[{"url":"http://r1","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}}],
          "tsaUrls":[{"url":"http://t1","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}},
                     {"url":"http://t0","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z","end":"2021-01-01T00:00:00Z"}},
                     {"url":"http://t2","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}}],
          "tsaConfig":{"selector":"ANY"}}"#;
        let c = SigningConfig::from_json(v1_and_tsas, 1_700_000_000).unwrap();
        assert_eq!(c.rekor_url().as_deref(), Some("http://r1"));
        assert_eq!(c.tsa_urls, vec!["http://t1".to_string()]);
        let all = String::from_utf8_lossy(v1_and_tsas).replace("\"ANY\"", "\"ALL\"");
        let c = SigningConfig::from_json(all.as_bytes(), 1_700_000_000).unwrap();
        assert_eq!(
            c.tsa_urls,
            vec!["http://t1".to_string(), "http://t2".to_string()]
        );
    }
}
