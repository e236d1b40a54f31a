//! `lading attest` and `lading verify-attestation`: key-based cosign attestations (DSSE
//! envelopes over in-toto statements, legacy `.att` storage, no transparency log yet).

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_oci::{Descriptor, Digest, Reference, Store};
use lading_registry::client::{Client, ClientError};
use lading_signer::attestation::{self, Attested};
use lading_signer::constants::MEDIA_TYPE_DSSE_ENVELOPE;
use lading_signer::intoto::Statement;
use lading_signer::policy::Policy;
use lading_signer::{KeyPair, PublicKey, cosign};

use crate::attestations;
use crate::cli::args::{AttestArgs, Progress, VerifyAttestationArgs};
use crate::cli::commands::sign::{docker_reference, load_private_key, resolve};
use crate::cli::registry;

/// Where the predicate comes from.
enum PredicateSource {
    /// `--predicate FILE` (`-`: stdin), already read.
    File(Vec<u8>),
    /// No `--predicate`: lading generates it from what its store recorded for the image
    /// (the build record, the SBOM, the latest scan, the build log).
    Generated(attestations::Kind),
}

impl PredicateSource {
    /// Decided (and a file read) before any network access, so bad input fails fast.
    fn of(args: &AttestArgs, predicate_type: &str) -> Result<PredicateSource> {
        match &args.predicate {
            // `-` is stdin, as for cosign.
            Some(path) if path.as_os_str() == "-" => {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("reading the predicate from stdin")?;
                Ok(PredicateSource::File(bytes))
            }
            Some(path) => Ok(PredicateSource::File(
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )),
            None => match attestations::Kind::of_predicate_type(predicate_type) {
                Some(kind) => Ok(PredicateSource::Generated(kind)),
                None => bail!(
                    "--predicate is required for --type {}: lading generates only slsaprovenance1, cyclonedx, spdxjson, vuln and buildlog",
                    args.predicate_type
                ),
            },
        }
    }

    /// The predicate's bytes for the image `digest`.
    fn bytes(self, store_dir: &Path, digest: &Digest) -> Result<Vec<u8>> {
        match self {
            PredicateSource::File(bytes) => Ok(bytes),
            PredicateSource::Generated(kind) => {
                let store = Store::open(store_dir)?;
                let generated =
                    attestations::generate(&store, digest, kind).with_context(|| {
                        format!(
                            "generating the {} predicate of {digest} from the store",
                            kind.predicate_type()
                        )
                    })?;
                Ok(generated.bytes)
            }
        }
    }
}

/// The time written into `custom` predicates: `SOURCE_DATE_EPOCH` when set (reproducible
/// attestations), else now.
fn timestamp() -> Result<String> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs() as i64,
    };
    Ok(lading_oci::spec::rfc3339(secs))
}

/// Signs the statement: the one place the signer is chosen (a key today; keyless
/// signing plugs in here).
fn sign_statement(key: &KeyPair, statement: &Statement) -> Result<Attested> {
    attestation::sign(key, statement).context("signing the attestation")
}

/// The layers of the manifest `att_ref`, when there is one, each with its blob.
fn existing_attestations(
    client: &Client,
    att_ref: &Reference,
) -> Result<Vec<(Descriptor, Vec<u8>)>> {
    if client
        .resolve(att_ref)
        .with_context(|| format!("looking for {att_ref}"))?
        .is_none()
    {
        return Ok(Vec::new());
    }
    let manifest = client
        .manifest(att_ref)
        .with_context(|| format!("reading {att_ref}"))?;
    cosign::layers(&manifest.bytes)?
        .into_iter()
        .map(|layer| {
            let blob = client
                .blob_bytes(att_ref, &layer)
                .with_context(|| format!("reading attestation layer {}", layer.digest))?;
            Ok((layer, blob))
        })
        .collect()
}

/// Attests an image and stores the attestation in `sha256-<hex>.att`.
pub fn attest(store_dir: &Path, args: AttestArgs) -> Result<ExitCode> {
    if args.tlog_upload {
        bail!(
            "uploading to a transparency log is not supported yet; pass --tlog-upload=false to store the attestation in the registry only"
        );
    }
    let predicate_type = attestation::predicate_type(&args.predicate_type)?.to_string();
    let source = PredicateSource::of(&args, &predicate_type)?;
    let wrap = |file: &[u8]| {
        attestation::predicate(&args.predicate_type, file, &timestamp()?)
            .with_context(|| format!("reading the {} predicate", args.predicate_type))
    };
    // A given file is checked before the key is decrypted or the registry asked.
    let given = match &source {
        PredicateSource::File(bytes) => Some(wrap(bytes)?),
        PredicateSource::Generated(_) => None,
    };
    let key = load_private_key(&args.key)?;
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let digest = resolve(&client, &reference)?.digest;
    let predicate = match given {
        Some(predicate) => predicate,
        None => wrap(&source.bytes(store_dir, &digest)?)?,
    };
    let statement = Statement::new(
        &docker_reference(&reference),
        &digest,
        &predicate_type,
        predicate,
    );
    let attested = sign_statement(&key, &statement)?;
    let att_ref = reference.with_tag(&attestation::attestation_tag(&digest))?;

    // As cosign: appended; with --replace, first, and the same type's others dropped.
    let mut kept = Vec::new();
    for (layer, blob) in existing_attestations(&client, &att_ref)? {
        if args.replace
            && attestation::claimed_predicate_type(&blob).is_ok_and(|t| t == predicate_type)
        {
            eprintln!("replacing attestation {} ({predicate_type})", layer.digest);
        } else {
            kept.push((layer, blob));
        }
    }
    let new = (attested.layer, attested.envelope);
    let layers: Vec<_> = if args.replace {
        std::iter::once(new).chain(kept).collect()
    } else {
        kept.into_iter().chain(std::iter::once(new)).collect()
    };

    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let store = Store::open(dir.path())?;
    for (layer, blob) in &layers {
        store.put_bytes(blob, &layer.media_type)?;
    }
    let descriptors: Vec<Descriptor> = layers.into_iter().map(|(d, _)| d).collect();
    let built = cosign::build(&descriptors)?;
    store.put_bytes(&built.config, &built.config_descriptor.media_type)?;
    store.put_bytes(&built.manifest, &built.manifest_descriptor.media_type)?;
    let pushed = client
        .push(&store, &built.manifest_descriptor, &att_ref)
        .with_context(|| format!("pushing the attestation to {att_ref}"))?;
    crate::cli::out!(
        "attested {} ({predicate_type})",
        reference.with_digest(digest)
    );
    crate::cli::out!(
        "attestations {}@{} ({} attestation(s))",
        att_ref,
        pushed.descriptor.digest,
        descriptors.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a public key file.
fn load_public_key(path: &Path) -> Result<PublicKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PublicKey::from_pem(&text).with_context(|| format!("loading the public key {}", path.display()))
}

/// Verifies an image's attestations of one type: 0 one verified, 1 none did.
pub fn verify_attestation(args: VerifyAttestationArgs) -> Result<ExitCode> {
    if !args.insecure_ignore_tlog {
        bail!(
            "transparency-log verification is not supported yet; pass --insecure-ignore-tlog to check attestations against the key only"
        );
    }
    let predicate_type = attestation::predicate_type(&args.predicate_type)?.to_string();
    let policy = Policy {
        builder_id: args.builder_id.clone(),
        gate_verdict: args.gate_verdict.clone(),
    };
    let key = load_public_key(&args.key)?;
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let digest = resolve(&client, &reference)?.digest;
    let image = reference.with_digest(digest.clone());
    let att_ref = reference.with_tag(&attestation::attestation_tag(&digest))?;
    if client
        .resolve(&att_ref)
        .with_context(|| format!("looking for {att_ref}"))?
        .is_none()
    {
        eprintln!("no attestations found for {image} (no {att_ref})");
        return Ok(ExitCode::from(1));
    }
    let manifest = client
        .manifest(&att_ref)
        .with_context(|| format!("reading {att_ref}"))?;
    let mut verified = Vec::new();
    for (i, layer) in cosign::layers(&manifest.bytes)?.iter().enumerate() {
        if layer.media_type != MEDIA_TYPE_DSSE_ENVELOPE {
            eprintln!("attestation {i}: skipped: media type {}", layer.media_type);
            continue;
        }
        let envelope = match client.blob_bytes(&att_ref, layer) {
            Ok(b) => b,
            Err(e @ (ClientError::DigestMismatch { .. } | ClientError::SizeMismatch { .. })) => {
                eprintln!("attestation {i}: rejected: {e}");
                continue;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading envelope {}", layer.digest));
            }
        };
        let statement = match attestation::verify_layer(layer, &envelope, &key, &digest) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("attestation {i}: rejected: {e}");
                continue;
            }
        };
        if statement.predicate_type != predicate_type {
            eprintln!(
                "attestation {i}: skipped: predicate type {}",
                statement.predicate_type
            );
            continue;
        }
        match policy.check(&statement) {
            Ok(()) => verified.push(envelope),
            Err(e) => eprintln!("attestation {i}: rejected: {e}"),
        }
    }
    if verified.is_empty() {
        eprintln!(
            "no valid {predicate_type} attestation for {image} with the key {}",
            args.key.display()
        );
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "Verified {image}: {} {predicate_type} attestation(s) valid with the key {}{} (no transparency log checked)",
        verified.len(),
        args.key.display(),
        if policy.is_empty() {
            ""
        } else {
            " and the policy"
        }
    );
    for envelope in &verified {
        crate::cli::out!("{}", String::from_utf8_lossy(envelope).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
