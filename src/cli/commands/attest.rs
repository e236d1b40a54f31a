//! `lading attest` and `lading verify-attestation`: cosign attestations (DSSE envelopes
//! over in-toto statements) with a key or keyless, logged in Rekor or not, stored as
//! Sigstore bundle referrers (cosign v3) and in the legacy `.att` tag, as
//! `--registry-referrers-mode` says.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_oci::{Descriptor, Digest, Reference, Store};
use lading_registry::client::{Client, ClientError};
use lading_signer::attestation::{self, Attested};
use lading_signer::constants::{
    ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_PREDICATE_TYPE,
    MEDIA_TYPE_DSSE_ENVELOPE,
};
use lading_signer::cosign;
use lading_signer::intoto::Statement;
use lading_signer::policy::Policy;
use lading_signer::sigstore::bundle::Bundle;
use lading_signer::sigstore::legacy::{Checks, Verifier};
use lading_signer::sigstore::trust_root::TrustedRoot;
use lading_signer::sigstore::{self, dsse_bundle, dsse_entry, logged_bundle};

use crate::attestations;
use crate::cli::args::{AttestArgs, Progress, VerifyAttestationArgs};
use crate::cli::commands::keyless::{
    Signer, SigningFlags, keyless_signer, load_trusted_root, services, sign_bundle,
};
use crate::cli::commands::sign::{
    IdentityFlags, docker_reference, load_private_key, resolve, skip_legacy, verifier,
};
use crate::cli::{registry, signatures};

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

/// Attests an image and stores the attestation as `--registry-referrers-mode` says: a
/// bundle referrer, a layer of `sha256-<hex>.att`, or both (the same envelope).
pub fn attest(store_dir: &Path, args: AttestArgs) -> Result<ExitCode> {
    if args.key.is_none() && !args.tlog_upload {
        bail!("keyless attestations are always logged: --tlog-upload=false needs --key");
    }
    let mode = args.registry_referrers_mode;
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
    let flags = SigningFlags::from(&args);
    let services = services(&flags)?;
    let trust = args
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    let http = sigstore::http_client()?;
    let key = args.key.as_deref().map(load_private_key).transpose()?;
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let subject = resolve(&client, &reference)?;
    let digest = subject.digest.clone();
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
    let signer = match key {
        Some(key) => Signer { key, certs: None },
        None => keyless_signer(&flags, &http, &services)?,
    };
    let statement = statement.to_bytes()?;
    if args.replace && mode.referrers() {
        // cosign v3 adds bundle referrers without replacing either.
        eprintln!("--replace applies to the legacy .att tag only; the bundle is added");
    }
    let bundle = if args.tlog_upload {
        sign_bundle(&signer, &http, &services, trust.as_ref(), &statement)?
    } else {
        dsse_bundle::sign(&signer.key, &statement).context("signing the attestation")?
    };
    if mode.referrers() {
        let at = signatures::store_bundle(&client, &reference, &subject, &bundle, &predicate_type)?;
        crate::cli::out!("bundle {at}");
    }
    if mode.legacy() && !skip_legacy(mode, args.tlog_upload, &services, ".att")? {
        let attested = legacy_layer(&bundle, &signer, &predicate_type)?;
        let (att_ref, at, count) =
            store_legacy(&client, &reference, &digest, attested, args.replace)?;
        crate::cli::out!("attestations {att_ref}@{at} ({count} attestation(s))");
    }
    crate::cli::out!(
        "attested {} ({predicate_type})",
        reference.with_digest(digest)
    );
    Ok(ExitCode::SUCCESS)
}

/// The `.att` layer of `bundle` as cosign v3 writes it without `--new-bundle-format`
/// (cosign `attest.go`): the bundle's envelope, with the certificates and the Rekor
/// entry (the same `dsse` entry) in cosign's annotations when there are some.
fn legacy_layer(bundle: &Bundle, signer: &Signer, predicate_type: &str) -> Result<Attested> {
    let envelope = bundle
        .dsse_envelope()
        .context("the attestation bundle holds no envelope")?;
    let mut attested = attestation::layer(envelope, predicate_type)?;
    let annotations = &mut attested.layer.annotations;
    if let Some(certs) = &signer.certs {
        annotations.insert(ANNOTATION_CERTIFICATE.to_string(), certs.leaf_pem());
        annotations.insert(ANNOTATION_CHAIN.to_string(), certs.chain_pem());
    }
    if let Some(entry) = bundle.verification_material.tlog_entries.first() {
        let entry = dsse_entry::from_bundle_entry(entry)?;
        annotations.insert(ANNOTATION_BUNDLE.to_string(), entry.to_cosign_bundle()?);
    }
    Ok(attested)
}

/// Adds `attested` to `sha256-<hex>.att`, as cosign: appended; with `replace`, first, and
/// the same type's others dropped. Returns the tag, the manifest digest and how many
/// attestations it holds.
fn store_legacy(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    attested: Attested,
    replace: bool,
) -> Result<(Reference, Digest, usize)> {
    let predicate_type = &attested.layer.annotations[ANNOTATION_PREDICATE_TYPE];
    let att_ref = reference.with_tag(&attestation::attestation_tag(digest))?;
    let mut kept = Vec::new();
    for (layer, blob) in existing_attestations(client, &att_ref)? {
        if replace && attestation::claimed_predicate_type(&blob).is_ok_and(|t| &t == predicate_type)
        {
            eprintln!("replacing attestation {} ({predicate_type})", layer.digest);
        } else {
            kept.push((layer, blob));
        }
    }
    let new = (attested.layer, attested.envelope);
    let layers: Vec<_> = if replace {
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
    Ok((att_ref, pushed.descriptor.digest, descriptors.len()))
}

/// What the verifier is after: the predicate type and the policy its statement must meet.
struct Wanted {
    predicate_type: String,
    policy: Policy,
}

impl Wanted {
    /// Whether a verified statement is one of the wanted attestations; says why not on
    /// stderr (`what` names the attestation).
    fn accepts(&self, what: &str, statement: &Statement) -> bool {
        if statement.predicate_type != self.predicate_type {
            eprintln!(
                "{what}: skipped: predicate type {}",
                statement.predicate_type
            );
            return false;
        }
        match self.policy.check(statement) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("{what}: rejected: {e}");
                false
            }
        }
    }
}

/// Verifies an image's attestations of one type, in the storages
/// `--registry-referrers-mode` names: 0 one verified, 1 none did.
pub fn verify_attestation(args: VerifyAttestationArgs) -> Result<ExitCode> {
    let wanted = Wanted {
        predicate_type: attestation::predicate_type(&args.predicate_type)?.to_string(),
        policy: Policy {
            builder_id: args.builder_id.clone(),
            gate_verdict: args.gate_verdict.clone(),
        },
    };
    let verifier = verifier(IdentityFlags {
        key: args.key.as_deref(),
        identity: &args.certificate_identity,
        identity_regexp: &args.certificate_identity_regexp,
        issuer: &args.certificate_oidc_issuer,
        issuer_regexp: &args.certificate_oidc_issuer_regexp,
    })?;
    let trust = match &args.trusted_root {
        Some(path) => Some(load_trusted_root(path)?),
        None if args.key.is_none() || !args.insecure_ignore_tlog => bail!(
            "--trusted-root FILE is required to verify keyless attestations or the transparency log (--insecure-ignore-tlog checks a key only)"
        ),
        None => None,
    };
    let checks = Checks {
        tlog: !args.insecure_ignore_tlog,
        sct: !args.insecure_ignore_sct,
    };
    let reference = registry::reference(&args.image)?;
    let client = registry::client(&args.registry, Progress::Quiet)?;
    let digest = resolve(&client, &reference)?.digest;
    let image = reference.with_digest(digest.clone());
    let mode = args.registry_referrers_mode;
    // The verified envelopes, printed as cosign prints them: one JSON envelope a line.
    let mut verified: Vec<Vec<u8>> = Vec::new();
    let mut found_in = Vec::new();
    if mode.referrers() {
        let found = verified_bundles(
            &client,
            &image,
            (&verifier, trust.as_ref(), checks),
            &digest,
            &wanted,
        )?;
        if !found.is_empty() {
            found_in.push("oci-1-1 bundles");
        }
        verified.extend(found);
    }
    if mode.legacy() {
        let found = verified_legacy(
            &client,
            &reference,
            (&verifier, trust.as_ref(), checks),
            &digest,
            &wanted,
        )?;
        if !found.is_empty() {
            found_in.push("legacy");
        }
        verified.extend(found);
    }
    let predicate_type = &wanted.predicate_type;
    let by = match &args.key {
        Some(k) => format!("the key {}", k.display()),
        None => "the certificate identity and issuer given".to_string(),
    };
    if verified.is_empty() {
        eprintln!("no valid {predicate_type} attestation for {image} with {by}");
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "Verified {image}: {} {predicate_type} attestation(s) valid with {by}{} in {} ({})",
        verified.len(),
        if wanted.policy.is_empty() {
            ""
        } else {
            " and the policy"
        },
        found_in.join(" and "),
        if args.insecure_ignore_tlog {
            "no transparency log checked"
        } else {
            "transparency log entries checked"
        }
    );
    for envelope in &verified {
        crate::cli::out!("{}", String::from_utf8_lossy(envelope).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// The envelopes of the bundle referrers of `image` that verify (by the verifier, with
/// the trusted root and checks given) and are wanted.
fn verified_bundles(
    client: &Client,
    image: &Reference,
    (verifier, trust, checks): (&Verifier, Option<&TrustedRoot>, Checks),
    digest: &Digest,
    wanted: &Wanted,
) -> Result<Vec<Vec<u8>>> {
    let found = signatures::fetch_bundles(client, image)?;
    let how = if found.via_api {
        "referrers API"
    } else {
        "referrers tag schema"
    };
    eprintln!(
        "OCI 1.1 referrers ({how}): {} bundle(s)",
        found.bundles.len()
    );
    for line in &found.refused {
        eprintln!("rejected: {line}");
    }
    let mut verified = Vec::new();
    for (what, bundle) in &found.bundles {
        let statement = match logged_bundle::verify(bundle, verifier, trust, checks, digest) {
            Ok(v) => {
                if let Some(who) = &v.identity {
                    eprintln!("{what}: signed by {} (issuer {})", who.identity, who.issuer);
                }
                v.statement
            }
            Err(e) => {
                eprintln!("{what}: rejected: {e}");
                continue;
            }
        };
        if wanted.accepts(what, &statement)
            && let Some(envelope) = bundle.dsse_envelope()
        {
            verified.push(envelope.to_bytes()?);
        }
    }
    Ok(verified)
}

/// The envelopes of `sha256-<hex>.att` that verify and are wanted.
fn verified_legacy(
    client: &Client,
    reference: &Reference,
    (verifier, trust, checks): (&Verifier, Option<&TrustedRoot>, Checks),
    digest: &Digest,
    wanted: &Wanted,
) -> Result<Vec<Vec<u8>>> {
    let att_ref = reference.with_tag(&attestation::attestation_tag(digest))?;
    if client
        .resolve(&att_ref)
        .with_context(|| format!("looking for {att_ref}"))?
        .is_none()
    {
        eprintln!("legacy: no {att_ref}");
        return Ok(Vec::new());
    }
    let manifest = client
        .manifest(&att_ref)
        .with_context(|| format!("reading {att_ref}"))?;
    let mut verified = Vec::new();
    for (i, layer) in cosign::layers(&manifest.bytes)?.iter().enumerate() {
        let what = format!("attestation {i}");
        if layer.media_type != MEDIA_TYPE_DSSE_ENVELOPE {
            eprintln!("{what}: skipped: media type {}", layer.media_type);
            continue;
        }
        let envelope = match client.blob_bytes(&att_ref, layer) {
            Ok(b) => b,
            Err(e @ (ClientError::DigestMismatch { .. } | ClientError::SizeMismatch { .. })) => {
                eprintln!("{what}: rejected: {e}");
                continue;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading envelope {}", layer.digest));
            }
        };
        match logged_bundle::verify_att_layer(layer, &envelope, verifier, trust, checks, digest) {
            Ok(v) => {
                if let Some(who) = &v.identity {
                    eprintln!("{what}: signed by {} (issuer {})", who.identity, who.issuer);
                }
                if wanted.accepts(&what, &v.statement) {
                    verified.push(envelope);
                }
            }
            Err(e) => eprintln!("{what}: rejected: {e}"),
        }
    }
    Ok(verified)
}
