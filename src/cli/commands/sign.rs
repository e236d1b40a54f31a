//! `lading generate-key-pair`, `lading sign` and `lading verify`: key-based cosign
//! signatures (legacy `.sig` storage, no transparency log yet).

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_oci::{Digest, Reference, Store};
use lading_registry::client::{Client, ClientError};
use lading_signer::constants::MEDIA_TYPE_SIMPLE_SIGNING;
use lading_signer::{KeyPair, PublicKey, cosign, keys};
use zeroize::Zeroizing;

use crate::cli::args::{GenerateKeyPairArgs, Progress, SignArgs, VerifyArgs};
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

/// The password of an encrypted key: `LADING_PASSWORD`, else `COSIGN_PASSWORD`, else
/// asked for on the terminal without echo (cosign's prompt) when stdin is one.
fn key_password(path: &Path) -> Result<Zeroizing<String>> {
    if let Some(p) = keys::password_from_env() {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{} is encrypted: set LADING_PASSWORD (or COSIGN_PASSWORD) to its password",
            path.display()
        );
    }
    rpassword::prompt_password("Enter password for private key: ")
        .map(Zeroizing::new)
        .context("reading the password from the terminal")
}

/// Reads a private key file (PKCS#8, or cosign's own encrypted format), with its
/// password when encrypted.
fn load_private_key(path: &Path) -> Result<KeyPair> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    keys::check_readable(&text)
        .with_context(|| format!("loading the private key {}", path.display()))?;
    let password = if keys::is_encrypted(&text) {
        Some(key_password(path)?)
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
    if args.tlog_upload {
        bail!(
            "uploading to a transparency log is not supported yet; pass --tlog-upload=false to store the signature in the registry only"
        );
    }
    let key = load_private_key(&args.key)?;
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let digest = resolve_digest(&client, &reference)?;
    let signed = cosign::sign(&key, &docker_reference(&reference), &digest)?;
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

/// Verifies an image's signatures with a public key: 0 verified, 1 not.
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    if !args.insecure_ignore_tlog {
        bail!(
            "transparency-log verification is not supported yet; pass --insecure-ignore-tlog to check signatures against the key only"
        );
    }
    let text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let key = PublicKey::from_pem(&text)
        .with_context(|| format!("loading the public key {}", args.key.display()))?;
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
        match cosign::verify_layer(layer, &payload, &key, &digest) {
            Ok(p) => verified.push(p),
            Err(e) => eprintln!("signature {i}: rejected: {e}"),
        }
    }
    if verified.is_empty() {
        eprintln!(
            "no valid signature for {image} with the key {}",
            args.key.display()
        );
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "Verified {image}: {} signature(s) valid with the key {} (no transparency log checked)",
        verified.len(),
        args.key.display()
    );
    crate::cli::out!("{}", serde_json::to_string(&verified)?);
    Ok(ExitCode::SUCCESS)
}
