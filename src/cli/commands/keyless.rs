//! The Sigstore side of `lading sign` and `lading verify`: trust material, the Fulcio
//! and Rekor to use, the identity token, and keyless signing.

use std::path::Path;

use anyhow::{Context, Result, bail};
use lading_oci::Digest;
use lading_signer::sigstore::certificate::{self, IdentityPolicy, Matcher, ParsedCertificate};
use lading_signer::sigstore::oidc::IdentityToken;
use lading_signer::sigstore::rekor::{self, LogEntry};
use lading_signer::sigstore::trust_root::{SigningConfig, TrustedRoot};
use lading_signer::sigstore::{self, fulcio, legacy};
use lading_signer::{KeyPair, cosign};

use crate::cli::args::SignArgs;
use crate::cli::commands::tuf;

/// Reads a `trusted_root.json`.
pub(crate) fn load_trusted_root(path: &Path) -> Result<TrustedRoot> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    TrustedRoot::from_json(&bytes)
        .with_context(|| format!("loading the trusted root {}", path.display()))
}

/// The Fulcio and Rekor to use.
pub(crate) struct Services {
    /// `None` when a signing config names none (key signing needs none).
    pub(crate) fulcio: Option<String>,
    pub(crate) rekor: String,
}

/// The services and the trusted root for `lading sign`: `--signing-config` or
/// `--fulcio-url`/`--rekor-url` with `--trusted-root` when given; else, when a service is
/// needed (keyless, or a logged signature), the TUF repository's signing config and
/// trusted root (`--trusted-root` still wins).
pub(crate) fn sign_trust(args: &SignArgs) -> Result<(Services, Option<TrustedRoot>)> {
    // A flag error is reported before any service is asked.
    if args.key.is_none() && !args.tlog_upload {
        bail!("keyless signatures are always logged: --tlog-upload=false needs --key");
    }
    let named =
        args.signing_config.is_some() || args.fulcio_url.is_some() || args.rekor_url.is_some();
    let needed = args.key.is_none() || args.tlog_upload;
    let given_root = args
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    if named || !needed {
        return Ok((services(args)?, given_root));
    }
    let (tuf_root, config) = tuf::trusted_root_and_signing_config(&args.tuf)?;
    let services = Services {
        fulcio: config.fulcio_url,
        rekor: config
            .rekor_url
            .context("the signing config published through TUF names no Rekor v1 log valid now")?,
    };
    Ok((services, Some(given_root.unwrap_or(tuf_root))))
}

/// `--signing-config`, else the flags, else public-good Sigstore.
fn services(args: &SignArgs) -> Result<Services> {
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
fn identity_token(args: &SignArgs, http: &reqwest::blocking::Client) -> Result<IdentityToken> {
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

/// Signs keyless: an ephemeral key, certified by Fulcio for the token's identity.
pub(crate) fn sign_keyless(
    args: &SignArgs,
    http: &reqwest::blocking::Client,
    services: &Services,
    trust: Option<&TrustedRoot>,
    docker_ref: &str,
    digest: &Digest,
) -> Result<cosign::Signed> {
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
    let mut signed = cosign::sign(&key, docker_ref, digest)?;
    let entry = log_signature(
        http,
        &services.rekor,
        &signed,
        &certs.leaf,
        &certs.leaf_pem(),
        trust,
    )?;
    if let Some(trust) = trust {
        // Who the certificate names is the verifier's question; here: is it trusted.
        let anyone = IdentityPolicy {
            identity: Matcher::regexp("")?,
            issuer: Matcher::regexp("")?,
        };
        let who = certificate::verify(&leaf, trust, entry.integrated_time, &anyone, true)
            .context("Fulcio's certificate")?;
        eprintln!("certificate for {} (issuer {})", who.identity, who.issuer);
    }
    legacy::annotate_certificates(&mut signed, &certs);
    legacy::annotate_log_entry(&mut signed, &entry)?;
    Ok(signed)
}
