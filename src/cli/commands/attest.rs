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
    MEDIA_TYPE_DSSE_ENVELOPE, PREDICATE_COSIGN_SIGN,
};
use lading_signer::cosign;
use lading_signer::intoto::Statement;
use lading_signer::policy::Policy;
use lading_signer::sigstore::bundle::Bundle;
use lading_signer::sigstore::legacy::{Checks, Verifier};
use lading_signer::sigstore::trust_root::TrustedRoot;
use lading_signer::sigstore::{self, dsse_bundle, dsse_entry, logged_bundle};

use crate::attestations;
use crate::cli::args::{AttestArgs, ReferrersMode, VerifyAttestationArgs};
use crate::cli::commands::keyless::{
    Services, Signer, SigningFlags, keyless_signer, sign_bundle, sign_trust,
};
use crate::cli::commands::sign::{
    IdentityFlags, load_private_key, skip_legacy, verification_trust, verifier,
};
use crate::cli::signatures;
use crate::cli::target::{self, Access, Target};

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
    for line in attach(store_dir, &args)? {
        crate::cli::out!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs and attaches the attestation `args` describe; returns the lines `lading
/// attest` prints (what was stored where).
pub(crate) fn attach(store_dir: &Path, args: &AttestArgs) -> Result<Vec<String>> {
    if args.key.is_none() && !args.tlog_upload {
        bail!("keyless attestations are always logged: --tlog-upload=false needs --key");
    }
    let predicate_type = attestation::predicate_type(&args.predicate_type)?.to_string();
    let source = PredicateSource::of(args, &predicate_type)?;
    let wrap = |file: &[u8]| {
        attestation::predicate(&args.predicate_type, file, &timestamp()?)
            .with_context(|| format!("reading the {} predicate", args.predicate_type))
    };
    // A given file is checked before the key is decrypted or the registry asked.
    let given = match &source {
        PredicateSource::File(bytes) => Some(wrap(bytes)?),
        PredicateSource::Generated(_) => None,
    };
    let flags = SigningFlags::from(args);
    let (services, trust) = sign_trust(&flags)?;
    let http = sigstore::http_client()?;
    let key = args.key.as_deref().map(load_private_key).transpose()?;
    let target = target::open(store_dir, &args.image, &args.registry, Access::ReadWrite)?;
    let predicate = match given {
        Some(predicate) => predicate,
        None => wrap(&source.bytes(store_dir, target.digest())?)?,
    };
    let statement = Statement::new(
        &target.docker_ref,
        target.digest(),
        &predicate_type,
        predicate,
    );
    let signer = match key {
        Some(key) => Signer { key, certs: None },
        None => keyless_signer(&flags, &http, &services)?,
    };
    let attacher = Attacher {
        target: &target,
        signer: &signer,
        log: args.tlog_upload.then_some(Log {
            http: &http,
            services: &services,
            trust: trust.as_ref(),
        }),
        mode: args.registry_referrers_mode,
    };
    Ok(attacher.attach(&[statement], args.replace, None)?.lines)
}

/// The predicates lading generates from its store for the image `digest`, as in-toto
/// statements naming the image `name` (cosign's docker-reference): what `lading sign
/// --attest` attaches.
pub(crate) fn generated_statements(
    store_dir: &Path,
    name: &str,
    digest: &Digest,
    kinds: &[attestations::Kind],
) -> Result<Vec<Statement>> {
    let store = Store::open(store_dir)?;
    let predicates = kinds
        .iter()
        .map(|&kind| {
            attestations::generate(&store, digest, kind).with_context(|| {
                format!(
                    "generating the {} predicate of {digest} from the store",
                    kind.predicate_type()
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    statements(name, digest, &predicates)
}

/// In-toto statements about the image `digest` (named `name`), one per predicate.
pub(crate) fn statements(
    name: &str,
    digest: &Digest,
    predicates: &[attestations::Predicate],
) -> Result<Vec<Statement>> {
    predicates
        .iter()
        .map(|generated| {
            let predicate_type = &generated.predicate_type;
            let predicate = attestation::predicate(predicate_type, &generated.bytes, "")
                .with_context(|| format!("reading the generated {predicate_type} predicate"))?;
            Ok(Statement::new(name, digest, predicate_type, predicate))
        })
        .collect()
}

/// The transparency log a signature goes to.
pub(crate) struct Log<'a> {
    pub(crate) http: &'a reqwest::blocking::Client,
    pub(crate) services: &'a Services,
    /// What the log's answer is checked against, when known.
    pub(crate) trust: Option<&'a TrustedRoot>,
}

/// Attaches attestations to one image with one signer: `attest`'s one, or the several
/// `sign --attest` asks for (one key, one certificate, one `.att` update).
pub(crate) struct Attacher<'a> {
    /// The image (in a registry, or the store's served).
    pub(crate) target: &'a Target,
    pub(crate) signer: &'a Signer,
    /// `None`: not logged (`--tlog-upload=false`).
    pub(crate) log: Option<Log<'a>>,
    pub(crate) mode: ReferrersMode,
}

/// What [`Attacher::attach`] stored.
pub(crate) struct Attached {
    /// The lines to report.
    pub(crate) lines: Vec<String>,
    /// Each bundle (the signature's first, when given), its predicate type and the
    /// referrer it was stored as (none when only the legacy tag was written).
    pub(crate) bundles: Vec<(String, Bundle, Option<Reference>)>,
}

impl Attacher<'_> {
    /// Signs each statement and stores it as the mode says: one bundle referrer each
    /// (pushed together, with `signature`, the image signature's bundle `sign --attest`
    /// made, when given), and all of them added to `sha256-<hex>.att` in one update (with
    /// `replace`, the same types' earlier ones dropped). Returns the lines to report.
    pub(crate) fn attach(
        &self,
        statements: &[Statement],
        replace: bool,
        signature: Option<Bundle>,
    ) -> Result<Attached> {
        if replace && self.mode.referrers() {
            // cosign v3 adds bundle referrers without replacing either.
            eprintln!("--replace applies to the legacy .att tag only; the bundle is added");
        }
        let target = self.target;
        let (client, reference, digest) = (&target.client, &target.reference, target.digest());
        let mut bundles: Vec<(Bundle, &str)> = Vec::new();
        if let Some(bundle) = signature {
            bundles.push((bundle, PREDICATE_COSIGN_SIGN));
        }
        let write_legacy = self.mode.legacy()
            && !match &self.log {
                Some(log) => skip_legacy(self.mode, true, log.services, ".att")?,
                None => false,
            };
        let mut legacy = Vec::new();
        for statement in statements {
            let predicate_type = &statement.predicate_type;
            let bytes = statement.to_bytes()?;
            let bundle = match &self.log {
                Some(log) => sign_bundle(self.signer, log.http, log.services, log.trust, &bytes)?,
                None => dsse_bundle::sign(&self.signer.key, &bytes)
                    .context("signing the attestation")?,
            };
            if write_legacy {
                legacy.push(legacy_layer(&bundle, self.signer, predicate_type)?);
            }
            if self.mode.referrers() {
                bundles.push((bundle, predicate_type));
            }
        }
        // The two storages are different tags: written concurrently.
        let (stored_bundles, stored_legacy) = std::thread::scope(|s| {
            let legacy = (!legacy.is_empty())
                .then(|| s.spawn(|| store_legacy(client, reference, digest, legacy, replace)));
            let stored_bundles = if bundles.is_empty() {
                Ok(Vec::new())
            } else {
                let pairs: Vec<(&Bundle, &str)> = bundles.iter().map(|(b, t)| (b, *t)).collect();
                signatures::store_bundles(client, reference, &target.subject, &pairs)
            };
            let legacy = legacy.map(|l| l.join().expect("storing the .att tag panicked"));
            (stored_bundles, legacy.transpose())
        });
        let mut report = Vec::new();
        let stored_bundles = stored_bundles?;
        for at in &stored_bundles {
            report.push(format!("bundle {}", target.shown(at)));
        }
        if let Some((att_ref, at, count)) = stored_legacy? {
            report.push(format!(
                "attestations {}@{at} ({count} attestation(s))",
                target.shown(&att_ref)
            ));
        }
        for statement in statements {
            report.push(format!(
                "attested {} ({})",
                target.shown(&reference.with_digest(digest.clone())),
                statement.predicate_type
            ));
        }
        let mut referrers = stored_bundles.into_iter();
        let bundles = bundles
            .into_iter()
            .map(|(bundle, t)| (t.to_string(), bundle, referrers.next()))
            .collect();
        Ok(Attached {
            lines: report,
            bundles,
        })
    }
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

/// Adds `new` to `sha256-<hex>.att`, as cosign: appended; with `replace`, first, and the
/// same types' others dropped. Returns the tag, the manifest digest and how many
/// attestations it holds.
fn store_legacy(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    new: Vec<Attested>,
    replace: bool,
) -> Result<(Reference, Digest, usize)> {
    let new_types: Vec<&str> = new
        .iter()
        .map(|a| a.layer.annotations[ANNOTATION_PREDICATE_TYPE].as_str())
        .collect();
    let att_ref = reference.with_tag(&attestation::attestation_tag(digest))?;
    let mut kept = Vec::new();
    for (layer, blob) in existing_attestations(client, &att_ref)? {
        match attestation::claimed_predicate_type(&blob) {
            Ok(t) if replace && new_types.contains(&t.as_str()) => {
                eprintln!("replacing attestation {} ({t})", layer.digest);
            }
            _ => kept.push((layer, blob)),
        }
    }
    let new = new.into_iter().map(|a| (a.layer, a.envelope));
    let layers: Vec<_> = if replace {
        new.chain(kept).collect()
    } else {
        kept.into_iter().chain(new).collect()
    };

    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let store = Store::open_scratch(dir.path())?;
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
///
/// `args.image` is a store image when the store has it and is not `docker://`
/// ([`target`]): the attestations are then read from the store.
pub fn verify_attestation(store_dir: &Path, args: VerifyAttestationArgs) -> Result<ExitCode> {
    let found = verified_attestations(store_dir, &args)?;
    let predicate_type = &found.predicate_type;
    let shown = &found.shown;
    let by = match &args.trust.key {
        Some(k) => format!("the key {}", k.display()),
        None => "the certificate identity and issuer given".to_string(),
    };
    if found.envelopes.is_empty() {
        eprintln!("no valid {predicate_type} attestation for {shown} with {by}");
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "Verified {shown}: {} {predicate_type} attestation(s) valid with {by}{} in {} ({})",
        found.envelopes.len(),
        if args.builder_id.is_none() && args.gate_verdict.is_none() {
            ""
        } else {
            " and the policy"
        },
        found.found_in.join(" and "),
        if args.trust.insecure_ignore_tlog {
            "no transparency log checked"
        } else {
            "transparency log entries checked"
        }
    );
    for envelope in &found.envelopes {
        crate::cli::out!("{}", String::from_utf8_lossy(envelope).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// The attestations of one image and predicate type that verified.
pub(crate) struct VerifiedAttestations {
    /// The predicate type looked for.
    pub(crate) predicate_type: String,
    /// The image as shown to the user.
    pub(crate) shown: String,
    /// Its manifest digest.
    pub(crate) digest: Digest,
    /// The storages they were found in.
    pub(crate) found_in: Vec<&'static str>,
    /// Each verified DSSE envelope (JSON).
    pub(crate) envelopes: Vec<Vec<u8>>,
}

/// Finds and verifies the image's attestations of `args`' type in the storages
/// `--registry-referrers-mode` names (what `lading verify-attestation` prints).
pub(crate) fn verified_attestations(
    store_dir: &Path,
    args: &VerifyAttestationArgs,
) -> Result<VerifiedAttestations> {
    let wanted = Wanted {
        predicate_type: attestation::predicate_type(&args.predicate_type)?.to_string(),
        policy: Policy {
            builder_id: args.builder_id.clone(),
            gate_verdict: args.gate_verdict.clone(),
        },
    };
    let trust_args = &args.trust;
    let verifier = verifier(IdentityFlags {
        key: trust_args.key.as_deref(),
        identity: &trust_args.certificate_identity,
        identity_regexp: &trust_args.certificate_identity_regexp,
        issuer: &trust_args.certificate_oidc_issuer,
        issuer_regexp: &trust_args.certificate_oidc_issuer_regexp,
    })?;
    let trust = verification_trust(
        &trust_args.trusted_root,
        &trust_args.tuf,
        trust_args.key.is_none(),
        trust_args.insecure_ignore_tlog,
    )?;
    let checks = Checks {
        tlog: !trust_args.insecure_ignore_tlog,
        sct: !trust_args.insecure_ignore_sct,
    };
    let target = target::open(store_dir, &args.image, &args.registry, Access::ReadOnly)?;
    let (client, reference) = (&target.client, &target.reference);
    let digest = target.digest().clone();
    let image = reference.clone();
    let shown = target.shown(&image);
    let mode = trust_args.registry_referrers_mode;
    let mut verified: Vec<Vec<u8>> = Vec::new();
    let mut found_in = Vec::new();
    if mode.referrers() {
        let found = verified_bundles(
            client,
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
            client,
            reference,
            (&verifier, trust.as_ref(), checks),
            &digest,
            &wanted,
        )?;
        if !found.is_empty() {
            found_in.push("legacy");
        }
        verified.extend(found);
    }
    Ok(VerifiedAttestations {
        predicate_type: wanted.predicate_type,
        shown,
        digest,
        found_in,
        envelopes: verified,
    })
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
