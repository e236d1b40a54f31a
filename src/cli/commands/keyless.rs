//! The Sigstore side of `lading sign` and `lading verify`: trust material, the Fulcio
//! and Rekor to use, the identity token, and keyless signing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lading_oci::Digest;
use lading_signer::constants::PAYLOAD_TYPE_IN_TOTO;
use lading_signer::dsse::Envelope;
use lading_signer::sigstore::bundle::{Bundle, KeyMaterial, VerificationMaterial, X509Certificate};
use lading_signer::sigstore::certificate::{self, IdentityPolicy, Matcher, ParsedCertificate};
use lading_signer::sigstore::dsse_entry;
use lading_signer::sigstore::fulcio::Certificates;
use lading_signer::sigstore::oidc::IdentityToken;
use lading_signer::sigstore::rekor::{self, LogEntry};
use lading_signer::sigstore::trust_root::{SigningConfig, TrustedRoot};
use lading_signer::sigstore::{self, fulcio, legacy};
use lading_signer::{KeyPair, cosign};

use crate::cli::args::{AttestArgs, SignArgs, TufArgs};
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

impl<'a> From<&'a SignArgs> for SigningFlags<'a> {
    fn from(a: &'a SignArgs) -> Self {
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

/// The Fulcio and Rekor to use.
pub(crate) struct Services {
    /// `None` when a signing config names none (key signing needs none).
    pub(crate) fulcio: Option<String>,
    pub(crate) rekor: String,
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
    let services = Services {
        fulcio: config.fulcio_url,
        rekor: config
            .rekor_url
            .context("the signing config published through TUF names no Rekor v1 log valid now")?,
    };
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
            rekor: args
                .rekor_url
                .clone()
                .unwrap_or_else(|| sigstore::DEFAULT_REKOR_URL.to_string()),
        });
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let config = SigningConfig::from_json(&bytes, sigstore::time::now())
        .with_context(|| format!("loading the signing config {}", path.display()))?;
    Ok(Services {
        fulcio: config.fulcio_url,
        rekor: config
            .rekor_url
            .with_context(|| format!("{} names no Rekor v1 log valid now", path.display()))?,
    })
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
    /// the key's hint.
    fn material(&self, entry: &LogEntry) -> Result<VerificationMaterial> {
        let mut material = match &self.certs {
            Some(certs) => VerificationMaterial {
                content: KeyMaterial::Certificate(X509Certificate {
                    raw_bytes: certs.leaf.clone(),
                }),
                tlog_entries: Vec::new(),
                timestamp_verification_data: None,
            },
            None => VerificationMaterial::public_key(&self.key.public_key()?),
        };
        material.tlog_entries = vec![dsse_entry::to_bundle_entry(entry)?];
        Ok(material)
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

/// With a trust root, checks that Fulcio's certificate chains to it and was valid when
/// the log integrated the entry. Who it names is the verifier's question.
fn check_certificate(
    certs: &Certificates,
    trust: Option<&TrustedRoot>,
    entry: &LogEntry,
) -> Result<()> {
    let Some(trust) = trust else { return Ok(()) };
    let leaf = ParsedCertificate::from_der(&certs.leaf).context("Fulcio's certificate")?;
    let anyone = IdentityPolicy {
        identity: Matcher::regexp("")?,
        issuer: Matcher::regexp("")?,
    };
    let who = certificate::verify(&leaf, trust, entry.integrated_time, &anyone, true)
        .context("Fulcio's certificate")?;
    eprintln!("certificate for {} (issuer {})", who.identity, who.issuer);
    Ok(())
}

/// The legacy `.sig` layer: cosign's simple-signing payload, logged as a hashedrekord,
/// with the certificates and the entry in cosign's annotations.
pub(crate) fn sign_legacy(
    signer: &Signer,
    http: &reqwest::blocking::Client,
    rekor_url: &str,
    trust: Option<&TrustedRoot>,
    docker_ref: &str,
    digest: &Digest,
) -> Result<cosign::Signed> {
    let mut signed = cosign::sign(&signer.key, docker_ref, digest)?;
    let (der, pem) = signer.verifier()?;
    let entry = log_signature(http, rekor_url, &signed, &der, &pem, trust)?;
    if let Some(certs) = &signer.certs {
        check_certificate(certs, trust, &entry)?;
        legacy::annotate_certificates(&mut signed, certs);
    }
    legacy::annotate_log_entry(&mut signed, &entry)?;
    Ok(signed)
}

/// A v0.3 bundle of `statement` (in-toto) in a DSSE envelope, logged in Rekor as a
/// `dsse` entry (what cosign v3 does through sigstore-go), with the entry and the
/// certificate or key hint as verification material.
pub(crate) fn sign_bundle(
    signer: &Signer,
    http: &reqwest::blocking::Client,
    rekor_url: &str,
    trust: Option<&TrustedRoot>,
    statement: &[u8],
) -> Result<Bundle> {
    let envelope = Envelope::sign(&signer.key, PAYLOAD_TYPE_IN_TOTO, statement)?;
    let (der, pem) = signer.verifier()?;
    let entry = rekor::upload(http, rekor_url, &dsse_entry::proposed(&envelope, &pem)?)
        .context("uploading the signature to the transparency log (as a DSSE envelope)")?;
    if let Some(trust) = trust {
        entry
            .verify(trust)
            .and_then(|()| dsse_entry::check_body(&entry, &envelope, &der))
            .context("the transparency log's answer")?;
    }
    if let Some(certs) = &signer.certs {
        check_certificate(certs, trust, &entry)?;
    }
    eprintln!(
        "tlog entry created with index {} (integrated at {})",
        entry.log_index, entry.integrated_time
    );
    Ok(Bundle::dsse(signer.material(&entry)?, envelope))
}
