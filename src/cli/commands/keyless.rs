//! The Sigstore side of `lading sign` and `lading verify`: trust material, the Fulcio
//! and Rekor to use, the identity token, and keyless signing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lading_oci::Digest;
use lading_signer::constants::PAYLOAD_TYPE_IN_TOTO;
use lading_signer::dsse::Envelope;
use lading_signer::sigstore::bundle::{
    Bundle, KeyMaterial, Rfc3161SignedTimestamp, TimestampVerificationData, VerificationMaterial,
    X509Certificate,
};
use lading_signer::sigstore::certificate::{self, IdentityPolicy, Matcher, ParsedCertificate};
use lading_signer::sigstore::dsse_entry;
use lading_signer::sigstore::fulcio::Certificates;
use lading_signer::sigstore::oidc::IdentityToken;
use lading_signer::sigstore::rekor::{self, LogEntry};
use lading_signer::sigstore::trust_root::{RekorService, SigningConfig, TrustedRoot};
use lading_signer::sigstore::{self, fulcio, legacy, rekor_v2, tsa};
use lading_signer::{KeyPair, cosign, dsse};

use crate::cli::args::{AttestArgs, SignerArgs, TufArgs};
use crate::cli::commands::tuf;

/// Reads a `trusted_root.json`.
pub(crate) fn load_trusted_root(path: &Path) -> Result<TrustedRoot> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    TrustedRoot::from_json(&bytes)
        .with_context(|| format!("loading the trusted root {}", path.display()))
}

/// The signing flags `sign` and `attest` share (cosign's names).
pub(crate) struct SigningFlags<'a> {
    /// Whether `--key` was given (else keyless).
    pub(crate) keyed: bool,
    pub(crate) tlog_upload: bool,
    pub(crate) identity_token: &'a Option<String>,
    pub(crate) fulcio_url: &'a Option<String>,
    pub(crate) rekor_url: &'a Option<String>,
    pub(crate) signing_config: &'a Option<PathBuf>,
    pub(crate) trusted_root: &'a Option<PathBuf>,
    pub(crate) tuf: &'a TufArgs,
}

impl<'a> From<&'a SignerArgs> for SigningFlags<'a> {
    fn from(a: &'a SignerArgs) -> Self {
        SigningFlags {
            keyed: a.key.is_some(),
            tlog_upload: a.tlog_upload,
            identity_token: &a.identity_token,
            fulcio_url: &a.fulcio_url,
            rekor_url: &a.rekor_url,
            signing_config: &a.signing_config,
            trusted_root: &a.trusted_root,
            tuf: &a.tuf,
        }
    }
}

impl<'a> From<&'a AttestArgs> for SigningFlags<'a> {
    fn from(a: &'a AttestArgs) -> Self {
        SigningFlags {
            keyed: a.key.is_some(),
            tlog_upload: a.tlog_upload,
            identity_token: &a.identity_token,
            fulcio_url: &a.fulcio_url,
            rekor_url: &a.rekor_url,
            signing_config: &a.signing_config,
            trusted_root: &a.trusted_root,
            tuf: &a.tuf,
        }
    }
}

/// The Fulcio, Rekor and timestamp authorities to use.
pub(crate) struct Services {
    /// `None` when a signing config names none (key signing needs none).
    pub(crate) fulcio: Option<String>,
    /// The Rekor log and its API version (1, or 2 when a signing config says so).
    pub(crate) rekor: RekorService,
    /// RFC 3161 timestamp authorities to ask for a timestamp over each signature
    /// (those a signing config selects; Rekor v2 needs at least one).
    pub(crate) tsas: Vec<String>,
}

impl Services {
    /// Whether entries go to a Rekor v2 log (which only bundles can carry).
    pub(crate) fn rekor_v2(&self) -> bool {
        self.rekor.major_api_version == 2
    }

    fn from_config(config: SigningConfig, source: &str) -> Result<Services> {
        let rekor = config
            .rekor
            .with_context(|| format!("{source} names no Rekor log (API v1 or v2) valid now"))?;
        if rekor.major_api_version == 2 && config.tsa_urls.is_empty() {
            bail!(
                "{source} selects the Rekor v2 log {} but names no timestamp authority valid now: Rekor v2 records no signing time, an RFC 3161 timestamp must",
                rekor.url
            );
        }
        Ok(Services {
            fulcio: config.fulcio_url,
            rekor,
            tsas: config.tsa_urls,
        })
    }
}

/// The services and the trusted root for `lading sign` and `lading attest`:
/// `--signing-config` or `--fulcio-url`/`--rekor-url` with `--trusted-root` when given;
/// else, when a service is needed (keyless, or a logged signature), the TUF
/// repository's signing config and trusted root (`--trusted-root` still wins).
pub(crate) fn sign_trust(args: &SigningFlags<'_>) -> Result<(Services, Option<TrustedRoot>)> {
    // A flag error is reported before any service is asked.
    if !args.keyed && !args.tlog_upload {
        bail!("keyless signatures are always logged: --tlog-upload=false needs --key");
    }
    let named =
        args.signing_config.is_some() || args.fulcio_url.is_some() || args.rekor_url.is_some();
    let needed = !args.keyed || args.tlog_upload;
    let given_root = args
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    if named || !needed {
        return Ok((services(args)?, given_root));
    }
    let (tuf_root, config) = tuf::trusted_root_and_signing_config(args.tuf)?;
    let services = Services::from_config(config, "the signing config published through TUF")?;
    Ok((services, Some(given_root.unwrap_or(tuf_root))))
}

/// `--signing-config`, else the flags, else public-good Sigstore.
pub(crate) fn services(args: &SigningFlags<'_>) -> Result<Services> {
    let Some(path) = &args.signing_config else {
        return Ok(Services {
            fulcio: Some(
                args.fulcio_url
                    .clone()
                    .unwrap_or_else(|| sigstore::DEFAULT_FULCIO_URL.to_string()),
            ),
            rekor: RekorService {
                url: args
                    .rekor_url
                    .clone()
                    .unwrap_or_else(|| sigstore::DEFAULT_REKOR_URL.to_string()),
                major_api_version: 1,
            },
            tsas: Vec::new(),
        });
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let config = SigningConfig::from_json(&bytes, sigstore::time::now())
        .with_context(|| format!("loading the signing config {}", path.display()))?;
    Services::from_config(config, &path.display().to_string())
}

/// The identity token: `--identity-token`, else GitHub Actions'.
fn identity_token(
    args: &SigningFlags<'_>,
    http: &reqwest::blocking::Client,
) -> Result<IdentityToken> {
    if let Some(value) = &args.identity_token {
        return IdentityToken::from_flag(value).context("reading --identity-token");
    }
    IdentityToken::from_github_actions(http)?.context(
        "keyless signing needs an OIDC identity token: pass --identity-token (a JWT or a file), run in GitHub Actions with `id-token: write`, or sign with --key",
    )
}

/// Uploads `signed` to Rekor as a hashedrekord made with `verifier_pem` and, with a
/// trusted root, checks what the log returned.
pub(crate) fn log_signature(
    http: &reqwest::blocking::Client,
    rekor_url: &str,
    signed: &cosign::Signed,
    verifier_der: &[u8],
    verifier_pem: &str,
    trust: Option<&TrustedRoot>,
) -> Result<LogEntry> {
    let hash = lading_signer::sigstore::sha256(&signed.payload);
    let entry = rekor::upload(
        http,
        rekor_url,
        &rekor::hashedrekord(&signed.signature, verifier_pem, &hash),
    )
    .context("uploading the signature to the transparency log")?;
    if let Some(trust) = trust {
        entry
            .verify(trust)
            .and_then(|()| entry.check_body(&signed.signature, &hash, verifier_der))
            .context("the transparency log's answer")?;
    }
    eprintln!(
        "tlog entry created with index {} (integrated at {})",
        entry.log_index, entry.integrated_time
    );
    Ok(entry)
}

/// Who signs: a key, or keyless an ephemeral key with Fulcio's certificates for it.
pub(crate) struct Signer {
    pub(crate) key: KeyPair,
    pub(crate) certs: Option<Certificates>,
}

impl Signer {
    /// The DER (certificate or SubjectPublicKeyInfo) and PEM a log entry names.
    fn verifier(&self) -> Result<(Vec<u8>, String)> {
        Ok(match &self.certs {
            Some(certs) => (certs.leaf.clone(), certs.leaf_pem()),
            None => {
                let public = self.key.public_key()?;
                (public.der().to_vec(), public.to_pem())
            }
        })
    }

    /// A bundle's verification material: the leaf certificate (v0.3 holds no chain) or
    /// the key's hint; no log entries or timestamps yet.
    fn material(&self) -> Result<VerificationMaterial> {
        Ok(match &self.certs {
            Some(certs) => VerificationMaterial {
                content: KeyMaterial::Certificate(X509Certificate {
                    raw_bytes: certs.leaf.clone(),
                }),
                tlog_entries: Vec::new(),
                timestamp_verification_data: None,
            },
            None => VerificationMaterial::public_key(&self.key.public_key()?),
        })
    }
}

/// Keyless: an ephemeral key, certified by Fulcio for the identity token's identity.
pub(crate) fn keyless_signer(
    args: &SigningFlags<'_>,
    http: &reqwest::blocking::Client,
    services: &Services,
) -> Result<Signer> {
    if !args.tlog_upload {
        bail!("keyless signatures are always logged: --tlog-upload=false needs --key");
    }
    let fulcio_url = services
        .fulcio
        .as_deref()
        .context("the signing config names no Fulcio (API v1) valid now")?;
    let token = identity_token(args, http)?;
    eprintln!(
        "keyless signing as {} (issuer {})",
        token.claims().subject(),
        token.claims().iss
    );
    let key = KeyPair::generate().context("generating an ephemeral key")?;
    let certs = fulcio::request_certificate(http, fulcio_url, &token, &key)
        .context("getting a signing certificate from Fulcio")?;
    drop(token);
    let leaf = ParsedCertificate::from_der(&certs.leaf).context("Fulcio's certificate")?;
    if leaf.public_key()? != key.public_key()? {
        bail!("Fulcio's certificate is for another key");
    }
    Ok(Signer {
        key,
        certs: Some(certs),
    })
}

/// With a trust root, checks that Fulcio's certificate chains to it and was valid at
/// each verified signing time (the log's integrated time, the timestamps' times). Who
/// it names is the verifier's question.
fn check_certificate(certs: &Certificates, trust: Option<&TrustedRoot>, at: &[i64]) -> Result<()> {
    let Some(trust) = trust else { return Ok(()) };
    let leaf = ParsedCertificate::from_der(&certs.leaf).context("Fulcio's certificate")?;
    let anyone = IdentityPolicy {
        identity: Matcher::regexp("")?,
        issuer: Matcher::regexp("")?,
    };
    for &t in at {
        let who =
            certificate::verify(&leaf, trust, t, &anyone, true).context("Fulcio's certificate")?;
        eprintln!("certificate for {} (issuer {})", who.identity, who.issuer);
    }
    Ok(())
}

/// RFC 3161 timestamps over `signature` from each timestamp authority of `services`,
/// checked against the trust root when there is one; their times (verified ones only).
fn timestamp_signature(
    http: &reqwest::blocking::Client,
    services: &Services,
    trust: Option<&TrustedRoot>,
    signature: &[u8],
) -> Result<(Option<TimestampVerificationData>, Vec<i64>)> {
    if services.tsas.is_empty() {
        return Ok((None, Vec::new()));
    }
    let mut data = TimestampVerificationData::default();
    let mut times = Vec::new();
    for url in &services.tsas {
        let signed_timestamp = tsa::timestamp(http, url, signature)
            .with_context(|| format!("getting a timestamp from {url}"))?;
        if let Some(trust) = trust {
            let t = tsa::verify(&signed_timestamp, signature, trust)
                .with_context(|| format!("the timestamp from {url}"))?;
            eprintln!("timestamp from {url} at {t} (Unix seconds)");
            times.push(t);
        }
        data.rfc3161_timestamps
            .push(Rfc3161SignedTimestamp { signed_timestamp });
    }
    Ok((Some(data), times))
}

/// The legacy `.sig` layer: cosign's simple-signing payload, logged as a hashedrekord,
/// with the certificates, the entry and (with a timestamp authority) the timestamp over
/// the raw signature in cosign's annotations.
pub(crate) fn sign_legacy(
    signer: &Signer,
    http: &reqwest::blocking::Client,
    services: &Services,
    trust: Option<&TrustedRoot>,
    docker_ref: &str,
    digest: &Digest,
) -> Result<cosign::Signed> {
    let mut signed = cosign::sign(&signer.key, docker_ref, digest)?;
    let (der, pem) = signer.verifier()?;
    // cosign's annotation holds one timestamp: the first authority's.
    let (timestamps, mut times) = timestamp_signature(http, services, trust, &signed.signature)?;
    if let Some(ts) = timestamps
        .as_ref()
        .and_then(|t| t.rfc3161_timestamps.first())
    {
        legacy::annotate_timestamp(&mut signed, &ts.signed_timestamp)?;
        times.truncate(1);
    }
    let entry = log_signature(http, &services.rekor.url, &signed, &der, &pem, trust)?;
    times.push(entry.integrated_time);
    if let Some(certs) = &signer.certs {
        check_certificate(certs, trust, &times)?;
        legacy::annotate_certificates(&mut signed, certs);
    }
    legacy::annotate_log_entry(&mut signed, &entry)?;
    Ok(signed)
}

/// A v0.3 bundle of `statement` (in-toto) in a DSSE envelope, logged in Rekor (v1: a
/// `dsse` entry, what cosign v3 does through sigstore-go; v2: a `hashedrekord` 0.0.2 of
/// the envelope's PAE) and timestamped by the timestamp authorities of `services`, with
/// the entry, the timestamps and the certificate or key hint as verification material.
pub(crate) fn sign_bundle(
    signer: &Signer,
    http: &reqwest::blocking::Client,
    services: &Services,
    trust: Option<&TrustedRoot>,
    statement: &[u8],
) -> Result<Bundle> {
    let envelope = Envelope::sign(&signer.key, PAYLOAD_TYPE_IN_TOTO, statement)?;
    let (der, pem) = signer.verifier()?;
    let signature = &envelope.signatures[0].sig;
    let (timestamps, mut times) = timestamp_signature(http, services, trust, signature)?;
    let mut material = signer.material()?;
    material.timestamp_verification_data = timestamps;
    let url = &services.rekor.url;
    if services.rekor_v2() {
        let pae = dsse::pae(&envelope.payload_type, &envelope.payload);
        let digest = sigstore::sha256(&pae);
        let request =
            rekor_v2::hashedrekord_request(&digest, signature, &der, signer.certs.is_some());
        let entry = rekor_v2::upload(http, url, &request)
            .context("uploading the signature to the transparency log (Rekor v2)")?;
        if let Some(trust) = trust {
            rekor_v2::verify(&entry, trust)
                .and_then(|()| rekor_v2::check_body(&entry, signature, &digest, &der))
                .context("the transparency log's answer")?;
        }
        eprintln!(
            "tlog entry created with index {} (Rekor v2)",
            entry.log_index
        );
        material.tlog_entries = vec![entry];
    } else {
        let entry = rekor::upload(http, url, &dsse_entry::proposed(&envelope, &pem)?)
            .context("uploading the signature to the transparency log (as a DSSE envelope)")?;
        if let Some(trust) = trust {
            entry
                .verify(trust)
                .and_then(|()| dsse_entry::check_body(&entry, &envelope, &der))
                .context("the transparency log's answer")?;
        }
        eprintln!(
            "tlog entry created with index {} (integrated at {})",
            entry.log_index, entry.integrated_time
        );
        times.push(entry.integrated_time);
        material.tlog_entries = vec![dsse_entry::to_bundle_entry(&entry)?];
    }
    if let Some(certs) = &signer.certs {
        check_certificate(certs, trust, &times)?;
    }
    Ok(Bundle::dsse(material, envelope))
}
