//! `lading generate-key-pair`, `lading sign` and `lading verify`: cosign signatures in
//! legacy `.sig` storage, with a key or keyless (Fulcio), logged in Rekor or not.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_oci::{Digest, Reference, Store};
use lading_registry::client::{Client, ClientError};
use lading_signer::constants::MEDIA_TYPE_SIMPLE_SIGNING;
use lading_signer::sigstore;
use lading_signer::sigstore::certificate::{IdentityPolicy, Matcher};
use lading_signer::sigstore::legacy::{self, Checks, Verifier};
use lading_signer::{KeyPair, PublicKey, cosign, keys};
use zeroize::Zeroizing;

use crate::cli::args::{GenerateKeyPairArgs, Progress, SignArgs, VerifyArgs};
use crate::cli::commands::keyless::{load_trusted_root, log_signature, services, sign_keyless};
use crate::cli::registry;

/// `PREFIX` + `ext`.
fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(ext);
    PathBuf::from(s)
}

/// Creates `path` (never overwriting) with `mode` and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes PREFIX.key and PREFIX.pub.
pub fn generate_key_pair(args: GenerateKeyPairArgs) -> Result<ExitCode> {
    let key_path = with_suffix(&args.output_key_prefix, ".key");
    let pub_path = with_suffix(&args.output_key_prefix, ".pub");
    for p in [&key_path, &pub_path] {
        if p.exists() {
            bail!("{} exists; refusing to overwrite it", p.display());
        }
    }
    let password = keys::password_from_env().filter(|p| !p.is_empty());
    let pair = KeyPair::generate().context("generating a key pair")?;
    let private = pair
        .to_pem(password.as_ref().map(|p| p.as_bytes()))
        .context("encoding the private key")?;
    let public = pair.public_key()?.to_pem();
    write_new(&key_path, private.as_bytes(), 0o600)?;
    write_new(&pub_path, public.as_bytes(), 0o644)?;
    if password.is_none() {
        eprintln!(
            "warning: no password in LADING_PASSWORD or COSIGN_PASSWORD: the private key is not encrypted"
        );
    }
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(ExitCode::SUCCESS)
}

/// Reads a private key file, with the password from the environment when encrypted.
fn load_private_key(path: &Path) -> Result<KeyPair> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let password = if keys::is_encrypted(&text) {
        Some(keys::password_from_env().with_context(|| {
            format!(
                "{} is encrypted: set LADING_PASSWORD (or COSIGN_PASSWORD) to its password",
                path.display()
            )
        })?)
    } else {
        None
    };
    KeyPair::from_pem(&text, password.as_ref().map(|p| p.as_bytes()))
        .with_context(|| format!("loading the private key {}", path.display()))
}

/// cosign's `docker-reference`: go-containerregistry's repository name (Docker Hub is
/// `index.docker.io`).
fn docker_reference(r: &Reference) -> String {
    let registry = match r.registry() {
        lading_oci::reference::DOCKER_HUB => "index.docker.io",
        other => other,
    };
    format!("{registry}/{}", r.repository())
}

/// The manifest digest `r` names: its digest, or its tag resolved once (and printed).
fn resolve_digest(client: &Client, r: &Reference) -> Result<Digest> {
    if let Some(d) = r.digest() {
        return Ok(d.clone());
    }
    let desc = client
        .resolve(r)
        .with_context(|| format!("resolving {r}"))?
        .with_context(|| format!("{r} not found"))?;
    eprintln!("resolved {r} to {}", desc.digest);
    Ok(desc.digest)
}

/// Signs an image and stores the signature in `sha256-<hex>.sig`.
pub fn sign(args: SignArgs) -> Result<ExitCode> {
    let services = services(&args)?;
    let trust = args
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    let http = sigstore::http_client()?;
    let key = args.key.as_deref().map(load_private_key).transpose()?;
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let digest = resolve_digest(&client, &reference)?;
    let docker_ref = docker_reference(&reference);
    let signed = match &key {
        Some(key) => {
            let mut signed = cosign::sign(key, &docker_ref, &digest)?;
            if args.tlog_upload {
                let public = key.public_key()?;
                let entry = log_signature(
                    &http,
                    &services.rekor,
                    &signed,
                    public.der(),
                    &public.to_pem(),
                    trust.as_ref(),
                )?;
                legacy::annotate_log_entry(&mut signed, &entry)?;
            }
            signed
        }
        None => sign_keyless(
            &args,
            &http,
            &services,
            trust.as_ref(),
            &docker_ref,
            &digest,
        )?,
    };
    let sig_ref = reference.with_tag(&cosign::signature_tag(&digest))?;

    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let store = Store::open(dir.path())?;
    let mut layers = Vec::new();
    if client
        .resolve(&sig_ref)
        .with_context(|| format!("looking for {sig_ref}"))?
        .is_some()
    {
        let existing = client
            .manifest(&sig_ref)
            .with_context(|| format!("reading {sig_ref}"))?;
        for layer in cosign::layers(&existing.bytes)? {
            let bytes = client
                .blob_bytes(&sig_ref, &layer)
                .with_context(|| format!("reading signature layer {}", layer.digest))?;
            store.put_bytes(&bytes, &layer.media_type)?;
            layers.push(layer);
        }
    }
    store.put_bytes(&signed.payload, MEDIA_TYPE_SIMPLE_SIGNING)?;
    layers.push(signed.layer);
    let built = cosign::build(&layers)?;
    store.put_bytes(&built.config, &built.config_descriptor.media_type)?;
    store.put_bytes(&built.manifest, &built.manifest_descriptor.media_type)?;
    let pushed = client
        .push(&store, &built.manifest_descriptor, &sig_ref)
        .with_context(|| format!("pushing the signature to {sig_ref}"))?;
    crate::cli::out!("signed {}", reference.with_digest(digest));
    crate::cli::out!(
        "signature {}@{} ({} signature(s))",
        sig_ref,
        pushed.descriptor.digest,
        layers.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The verifier the flags ask for: `--key`, or a keyless identity policy.
fn verifier(args: &VerifyArgs) -> Result<Verifier> {
    if let Some(path) = &args.key {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = PublicKey::from_pem(&text)
            .with_context(|| format!("loading the public key {}", path.display()))?;
        return Ok(Verifier::Key(key));
    }
    let matcher =
        |exact: &Option<String>, regexp: &Option<String>, flag: &str| match (exact, regexp) {
            (Some(e), _) => Ok(Matcher::Exact(e.clone())),
            (None, Some(r)) => Matcher::regexp(r).with_context(|| format!("--{flag}-regexp")),
            (None, None) => bail!(
                "keyless verification needs --{flag} or --{flag}-regexp (or verify with --key)"
            ),
        };
    Ok(Verifier::Keyless(IdentityPolicy {
        identity: matcher(
            &args.certificate_identity,
            &args.certificate_identity_regexp,
            "certificate-identity",
        )?,
        issuer: matcher(
            &args.certificate_oidc_issuer,
            &args.certificate_oidc_issuer_regexp,
            "certificate-oidc-issuer",
        )?,
    }))
}

/// Verifies an image's signatures: 0 verified, 1 not.
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let verifier = verifier(&args)?;
    let keyless = matches!(verifier, Verifier::Keyless(_));
    let trust = match &args.trusted_root {
        Some(path) => Some(load_trusted_root(path)?),
        None if keyless || !args.insecure_ignore_tlog => bail!(
            "--trusted-root FILE is required to verify {} (public-good Sigstore's TUF root is not fetched yet){}",
            if keyless {
                "keyless signatures"
            } else {
                "the transparency log"
            },
            if keyless {
                ""
            } else {
                "; --insecure-ignore-tlog checks the key only"
            }
        ),
        None => None,
    };
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let digest = resolve_digest(&client, &reference)?;
    let image = reference.with_digest(digest.clone());
    let sig_ref = reference.with_tag(&cosign::signature_tag(&digest))?;
    if client
        .resolve(&sig_ref)
        .with_context(|| format!("looking for {sig_ref}"))?
        .is_none()
    {
        eprintln!("no signatures found for {image} (no {sig_ref})");
        return Ok(ExitCode::from(1));
    }
    let manifest = client
        .manifest(&sig_ref)
        .with_context(|| format!("reading {sig_ref}"))?;
    let mut verified = Vec::new();
    for (i, layer) in cosign::layers(&manifest.bytes)?.iter().enumerate() {
        if layer.media_type != MEDIA_TYPE_SIMPLE_SIGNING {
            eprintln!("signature {i}: skipped: media type {}", layer.media_type);
            continue;
        }
        let payload = match client.blob_bytes(&sig_ref, layer) {
            Ok(b) => b,
            Err(e @ (ClientError::DigestMismatch { .. } | ClientError::SizeMismatch { .. })) => {
                eprintln!("signature {i}: rejected: {e}");
                continue;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading payload {}", layer.digest));
            }
        };
        match legacy::verify_layer(
            layer,
            &payload,
            &digest,
            &verifier,
            trust.as_ref(),
            Checks {
                tlog: !args.insecure_ignore_tlog,
                sct: !args.insecure_ignore_sct,
            },
        ) {
            Ok(v) => {
                if let Some(who) = &v.identity {
                    eprintln!(
                        "signature {i}: valid, signed by {} (issuer {})",
                        who.identity, who.issuer
                    );
                }
                verified.push(v);
            }
            Err(e) => eprintln!("signature {i}: rejected: {e}"),
        }
    }
    let by = match &args.key {
        Some(k) => format!("the key {}", k.display()),
        None => "the certificate identity and issuer given".to_string(),
    };
    if verified.is_empty() {
        eprintln!("no valid signature for {image} with {by}");
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "Verified {image}: {} signature(s) valid with {by} ({})",
        verified.len(),
        if args.insecure_ignore_tlog {
            "no transparency log checked"
        } else {
            "transparency log entries checked"
        }
    );
    let payloads: Vec<_> = verified.iter().map(|v| &v.payload).collect();
    crate::cli::out!("{}", serde_json::to_string(&payloads)?);
    Ok(ExitCode::SUCCESS)
}
