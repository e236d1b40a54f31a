//! `lading publish` (and `lading build --push`): build → the four gates → push the exact
//! bytes by digest → sign and attest that digest → evidence, in one process and on one
//! digest.
//!
//! Each stage is recorded in the publish record (`crate::publish::record`) as it ends,
//! so a rerun after a crash or a failed signing service finds the passing gate record
//! and the pushed references, and finishes without a second push. Nothing is pushed
//! unless the store holds a passing gate record for the digest, and the push re-hashes
//! every blob it streams (the registry client refuses a blob changed since).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use lading_gates::gate::Verdict;
use lading_gates::record::passing_record;
use lading_oci::{Digest, Reference, Store};
use lading_signer::KeyPair;
use lading_signer::constants::MEDIA_TYPE_BUNDLE_V03;
use lading_signer::sigstore::certificate::ParsedCertificate;

use crate::attestations::{self, Kind, Predicate, scans};
use crate::cli::args::{BuildArgs, PublishArgs, SignMode, SignerArgs};
use crate::cli::commands::attest::statements;
use crate::cli::commands::build::{self, Built};
use crate::cli::commands::db::now;
use crate::cli::commands::gate::{self, GateOutcome, GatePlan};
use crate::cli::commands::sign::{self, KeyFile, PendingKey};
use crate::cli::output::{self, Output};
use crate::cli::registry;
use crate::publish::record::{self, Document, PublishRecord, Pushed, Signed, StoredBundle};
use crate::publish::{evidence, github};

/// What to do after the build.
pub(crate) struct Plan {
    /// Where to push (each with a tag).
    images: Vec<Reference>,
    /// How to sign; `None`: not at all.
    sign: Option<SignPlan>,
    /// Where to write the evidence bundle.
    evidence: Option<PathBuf>,
}

struct SignPlan {
    signer: SignerArgs,
    /// The key, being decrypted beside the build (cosign's keys derive with scrypt).
    key: Option<JoinHandle<Result<KeyPair>>>,
    attest: Vec<Kind>,
}

impl Plan {
    /// `lading build --push`: gates and push, no signing (docker's push does not sign;
    /// `lading publish` does).
    pub(crate) fn push_only(images: Vec<Reference>) -> Plan {
        Plan {
            images,
            sign: None,
            evidence: None,
        }
    }

    /// `lading publish`'s flags, checked before anything is built: a signing set-up that
    /// cannot work is reported now, not after the push.
    fn of(args: &PublishArgs) -> Result<Plan> {
        let images = args
            .images
            .iter()
            .map(|i| image_reference(i))
            .collect::<Result<Vec<_>>>()?;
        let in_actions = std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_some();
        let signer = &args.signer;
        let keyless = match args.sign {
            SignMode::None => None,
            SignMode::Key if signer.key.is_none() => bail!("--sign=key needs --key FILE"),
            SignMode::Key => Some(false),
            SignMode::Keyless if signer.key.is_some() => {
                bail!("--sign=keyless signs without a key: drop --key, or use --sign=key")
            }
            SignMode::Keyless => Some(true),
            SignMode::Auto if signer.key.is_some() => Some(false),
            SignMode::Auto if signer.identity_token.is_some() || in_actions => Some(true),
            SignMode::Auto => bail!(
                "lading publish signs what it pushes: give --key FILE, run in GitHub Actions with `permissions: id-token: write` (keyless), give --identity-token, or pass --sign=none"
            ),
        };
        let attest = if args.attest.iter().any(|a| a == "none") {
            Vec::new()
        } else {
            sign::attestation_kinds(&args.attest)?
        };
        let sign = match keyless {
            None => None,
            Some(keyless) => {
                // The password is read (or asked for) now; the slow derivation runs on a
                // thread while the image builds.
                let key = match (&signer.key, keyless) {
                    (Some(path), false) => {
                        let file = KeyFile::read(path)?;
                        Some(std::thread::spawn(move || file.decrypt()))
                    }
                    _ => None,
                };
                Some(SignPlan {
                    signer: signer.clone(),
                    key,
                    attest,
                })
            }
        };
        let evidence = args.evidence.clone().or_else(github::default_evidence_dir);
        Ok(Plan {
            images,
            sign,
            evidence,
        })
    }
}

/// `REGISTRY/REPO[:TAG]` as docker pushes it: `latest` when no tag is given; a digest
/// is not a destination.
fn image_reference(s: &str) -> Result<Reference> {
    let r = registry::reference(s.strip_prefix("docker://").unwrap_or(s))?;
    if r.digest().is_some() {
        bail!("--image {s}: push to a tag (REGISTRY/REPO[:TAG]); the digest is the image's");
    }
    Ok(match r.tag() {
        Some(_) => r,
        None => r.with_tag("latest")?,
    })
}

/// The names `lading build` pushes to: with `--push`, `-o type=registry` or
/// `-o type=image,push=true`, each output's `name=` or else every `-t` name; `None`
/// when the build does not push.
pub(crate) fn pushed_names(args: &BuildArgs, outputs: &[Output]) -> Result<Option<Vec<Reference>>> {
    let mut names = Vec::new();
    let mut pushing = args.push;
    for out in outputs {
        if let Output::Registry { names: n, push } = out {
            pushing |= *push;
            if *push {
                names.extend(n.iter().cloned());
            }
        }
    }
    if !pushing {
        return Ok(None);
    }
    if names.is_empty() {
        names = args.tags.clone();
    }
    if names.is_empty() {
        bail!("pushing needs a name: -t REGISTRY/REPO[:TAG] or -o type=registry,name=…");
    }
    names
        .iter()
        .map(|n| image_reference(n))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `lading publish`.
pub fn run(store_dir: &Path, args: PublishArgs) -> Result<ExitCode> {
    let plan = Plan::of(&args)?;
    let outputs = output::parse_all(&args.build.outputs, args.build.load)?;
    if outputs.iter().any(|o| matches!(o, Output::Registry { .. })) {
        bail!("lading publish pushes to each --image; -o type=registry is `lading build`'s");
    }
    let built = build::build_into_store(store_dir, &args.build, &outputs)?;
    after_build(store_dir, &args.build, &built, plan)
}

/// Gates, push, sign and evidence for an image just built.
pub(crate) fn after_build(
    store_dir: &Path,
    args: &BuildArgs,
    built: &Built,
    plan: Plan,
) -> Result<ExitCode> {
    if let Some((index, images)) = &built.index {
        return after_build_index(store_dir, args, index, images, plan);
    }
    let store = Store::open(store_dir)?;
    let image = &built.image;
    let digest = image.descriptor.digest.clone();
    let gates = gate_plan(args)?;
    let Some(mut rec) = gate_or_resume(&store, &gates, image, &plan)? else {
        return Ok(ExitCode::from(1));
    };
    // The guarantee, checked where it matters: only a digest with a passing gate record
    // in this store is pushed.
    let passing = passing_record(&store, &digest)?
        .with_context(|| format!("{digest} has no passing gate record: refusing to push"))?;
    if passing.policy != rec.policy {
        bail!("the gate record of {digest} was made with another policy: refusing to push");
    }
    let client = registry::client(&args.registry, registry::progress_mode(args.quiet))?;
    for dest in &plan.images {
        let at = dest.with_digest(digest.clone());
        let shown = dest.to_string();
        if rec.pushed.iter().any(|p| p.image == shown) {
            // Pushed by an earlier run: the tag still names the digest, so nothing is
            // pushed again.
            match client.resolve(dest)? {
                Some(d) if d.digest == digest => {
                    eprintln!("pushed {shown} in an earlier run ({digest})");
                    continue;
                }
                _ => eprintln!("{shown} no longer names {digest}: pushing it again"),
            }
        }
        let started = Instant::now();
        let pushed = client
            .push(&store, &image.descriptor, dest)
            .with_context(|| format!("pushing {digest} to {shown}"))?;
        eprintln!(
            "pushed {shown} ({digest}): {} blobs uploaded, {} mounted, {} already there, in {}",
            pushed.uploaded,
            pushed.mounted,
            pushed.existed,
            seconds(started)
        );
        rec.pushed.retain(|p| p.image != shown);
        rec.pushed.push(Pushed {
            image: shown,
            reference: at.to_string(),
        });
        rec.updated = updated();
        record::write(&store, &rec)?;
    }
    let mut plan = plan;
    if let Some(sign) = plan.sign.take() {
        sign_pushed(store_dir, &store, args, &mut rec, sign, &plan.images)?;
    }
    let written = finish_evidence(&store, &rec, &plan)?;
    github::report(&store, &rec, written.as_ref(), &plan.images)?;
    crate::cli::out!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// The gates `lading build --push`/`publish` run, from the build's flags.
fn gate_plan(args: &BuildArgs) -> Result<GatePlan> {
    let dockerfile = dockerfile_path(args);
    // `FROM ${BASE}` is judged with the build's `--build-arg BASE=…`, as it was built.
    GatePlan::new(
        args.policy.as_deref(),
        dockerfile.as_deref(),
        &build::build_arg_values(&args.build_args),
        std::env::var("LADING_TODAY").ok().as_deref(),
        args.db.as_deref(),
    )
}

/// Runs the gates on `image` (or finds that an earlier run passed them and pushed) and
/// returns its publish record; `None` when a gate said no (its evidence is written).
fn gate_or_resume(
    store: &Store,
    gates: &GatePlan,
    image: &lading_oci::Image,
    plan: &Plan,
) -> Result<Option<PublishRecord>> {
    let digest = image.descriptor.digest.clone();
    // The gate reports name the image by its digest, as `lading sbom sha256:…` does: the
    // SBOM attestations are then the documents the gates judged, byte for byte.
    let name = digest.to_string();
    let earlier = record::latest(store, &digest)?;
    if let Some(r) = earlier.filter(|r| resumable(store, r, &gates.policy_digest)) {
        eprintln!(
            "gates: passed for {digest} in an earlier run (record {}); finishing that publish",
            r.gate_record
        );
        return Ok(Some(r));
    }
    eprintln!("gates: sbom, scan, cis, secrets on {digest}");
    let started = Instant::now();
    let outcome = gates.run(store, image, &name, true)?;
    let path = lading_gates::record::record_path(store, &digest);
    eprint!(
        "{}",
        gate::table(&outcome.record, &outcome.record_desc, &path)
    );
    eprintln!("gates: done in {}", seconds(started));
    let rec = PublishRecord {
        schema: record::SCHEMA,
        manifest: digest.to_string(),
        gate_record: outcome.record_desc.digest.to_string(),
        policy: gates.policy_digest.clone(),
        documents: store_documents(store, &outcome)?,
        pushed: Vec::new(),
        signed: Vec::new(),
        updated: updated(),
    };
    if outcome.record.verdict != Verdict::Pass {
        // The evidence of a refusal is evidence too (the SARIF is what a code scanning
        // upload wants most when a gate fails).
        let written = finish_evidence(store, &rec, plan)?;
        github::report(store, &rec, written.as_ref(), &plan.images)?;
        eprintln!("gates: fail; nothing was pushed");
        return Ok(None);
    }
    record::write(store, &rec)?;
    Ok(Some(rec))
}

/// [`after_build`] for `--platform a,b,…`: the gates run on every platform's manifest
/// (each gets its own gate and publish record), and only when all pass is the index
/// pushed — one push of the whole graph per destination, as buildx pushes it. Then
/// each platform's manifest is signed and attested as a single-platform image is, and
/// the index is signed too (a signature on the index covers the set of platforms; the
/// SBOM, scan and provenance belong to the manifests they describe).
fn after_build_index(
    store_dir: &Path,
    args: &BuildArgs,
    index: &lading_oci::spec::Descriptor,
    images: &[(lading_oci::Platform, lading_oci::Image)],
    mut plan: Plan,
) -> Result<ExitCode> {
    let store = Store::open(store_dir)?;
    let gates = gate_plan(args)?;
    let mut recs = Vec::new();
    let mut failed = Vec::new();
    for (p, image) in images {
        eprintln!("gates: platform {}", p.normalized());
        match gate_or_resume(&store, &gates, image, &plan)? {
            Some(rec) => recs.push(rec),
            None => failed.push(p.normalized().to_string()),
        }
    }
    if !failed.is_empty() {
        eprintln!(
            "gates: fail for {}; nothing of the index {} was pushed",
            failed.join(", "),
            index.digest
        );
        return Ok(ExitCode::from(1));
    }
    // The guarantee, per manifest: every platform the index names has a passing gate
    // record in this store, made with this policy.
    for rec in &recs {
        let digest: Digest = rec.manifest.parse()?;
        let passing = passing_record(&store, &digest)?.with_context(|| {
            format!("{digest} has no passing gate record: refusing to push the index")
        })?;
        if passing.policy != rec.policy {
            bail!("the gate record of {digest} was made with another policy: refusing to push");
        }
    }
    let client = registry::client(&args.registry, registry::progress_mode(args.quiet))?;
    for dest in &plan.images {
        let shown = dest.to_string();
        let started = Instant::now();
        let pushed = client
            .push(&store, index, dest)
            .with_context(|| format!("pushing the index {} to {shown}", index.digest))?;
        eprintln!(
            "pushed {shown} (index {}): {} blobs uploaded, {} mounted, {} already there, in {}",
            index.digest,
            pushed.uploaded,
            pushed.mounted,
            pushed.existed,
            seconds(started)
        );
        for rec in &mut recs {
            let at = dest.with_digest(rec.manifest.parse()?);
            rec.pushed.retain(|p| p.image != shown);
            rec.pushed.push(Pushed {
                image: shown.clone(),
                reference: at.to_string(),
            });
            rec.updated = updated();
            record::write(&store, rec)?;
        }
    }
    if let Some(sign) = plan.sign.take() {
        let key_pem = match sign.key {
            None => None,
            Some(decrypting) => {
                let key = decrypting.join().expect("decrypting the key panicked")?;
                Some(key.to_pem(None)?)
            }
        };
        for rec in &mut recs {
            let per = SignPlan {
                signer: sign.signer.clone(),
                key: None,
                attest: sign.attest.clone(),
            };
            sign_pushed_with(
                store_dir,
                &store,
                args,
                rec,
                per,
                key_pem.clone(),
                &plan.images,
            )?;
        }
        sign_index(store_dir, args, &sign.signer, key_pem, index, &plan.images)?;
    }
    for rec in &recs {
        let written = finish_evidence(&store, rec, &plan)?;
        github::report(&store, rec, written.as_ref(), &plan.images)?;
    }
    crate::cli::out!("{}", index.digest);
    Ok(ExitCode::SUCCESS)
}

/// Signs the index itself in each repository pushed to (no attestations: those are
/// the platforms' manifests').
fn sign_index(
    store_dir: &Path,
    args: &BuildArgs,
    signer: &SignerArgs,
    key_pem: Option<zeroize::Zeroizing<String>>,
    index: &lading_oci::spec::Descriptor,
    images: &[Reference],
) -> Result<()> {
    let mut repositories: Vec<Reference> = Vec::new();
    for image in images {
        if !repositories.iter().any(|r| r.name() == image.name()) {
            repositories.push(image.with_digest(index.digest.clone()));
        }
    }
    for at in repositories {
        let key = key_pem.as_ref().map(|pem| PendingKey::Pem(pem.clone()));
        let signed = sign::sign_image(
            store_dir,
            signer,
            &format!("docker://{at}"),
            &args.registry,
            key,
            |_| Ok(Vec::new()),
        )?;
        for line in &signed.lines {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// `0.42 s`: how long a stage took, for the progress lines.
fn seconds(started: Instant) -> String {
    format!("{:.2} s", started.elapsed().as_secs_f64())
}

/// Whether an earlier record can be finished: its gates passed with the same policy,
/// its gate record is still the latest one for the digest, and it got as far as a push.
fn resumable(store: &Store, rec: &PublishRecord, policy: &Option<String>) -> bool {
    if rec.pushed.is_empty() || &rec.policy != policy {
        return false;
    }
    let Ok(digest) = rec.manifest.parse::<Digest>() else {
        return false;
    };
    match passing_record(store, &digest) {
        Ok(Some(r)) => lading_oci::spec::to_canonical_json(&r)
            .map(|bytes| Digest::of(&bytes).to_string() == rec.gate_record)
            .unwrap_or(false),
        _ => false,
    }
}

/// The Dockerfile the CIS checks read: `-f FILE`, else the context's `Dockerfile` (none
/// when it came from stdin).
fn dockerfile_path(args: &BuildArgs) -> Option<PathBuf> {
    match args.file.as_deref() {
        Some("-") => None,
        Some(f) => Some(PathBuf::from(f)),
        None => Some(args.context.join("Dockerfile")),
    }
}

fn updated() -> String {
    lading_gates::vuln::db::rfc3339(now())
}

/// The gates' documents: their own reports (blobs the record names), and the SPDX
/// document and SARIF rendered beside them, stored as blobs (the evidence bundle and
/// `lading report` read them from there, also on a rerun).
fn store_documents(store: &Store, outcome: &GateOutcome) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for (name, gate) in [
        ("sbom.cyclonedx.json", "sbom"),
        ("vulnerabilities.json", "scan"),
        ("cis.json", "cis"),
        ("secrets.json", "secrets"),
    ] {
        let report = outcome
            .record
            .gates
            .iter()
            .find(|g| g.name == gate)
            .and_then(|g| g.report.as_ref());
        if let Some(r) = report {
            out.push(Document {
                name: name.to_string(),
                media_type: r.media_type.clone(),
                digest: r.digest.clone(),
                size: r.size,
            });
        }
    }
    let docs = &outcome.documents;
    for (name, media_type, text) in [
        ("sbom.spdx.json", "application/spdx+json", &docs.spdx),
        (
            "vulnerabilities.sarif",
            "application/sarif+json",
            &docs.sarif,
        ),
    ] {
        if let Some(text) = text {
            let desc = store.put_bytes(text.as_bytes(), media_type)?;
            out.push(Document::new(name, &desc));
        }
    }
    Ok(out)
}

/// Signs each repository pushed to (once), with the attestations, and records the
/// bundles in the store.
fn sign_pushed(
    store_dir: &Path,
    store: &Store,
    args: &BuildArgs,
    rec: &mut PublishRecord,
    plan: SignPlan,
    images: &[Reference],
) -> Result<()> {
    let pending = unsigned_repositories(rec, images)?;
    if pending.is_empty() {
        eprintln!("signed in an earlier run");
        return Ok(());
    }
    // One decryption for every repository: the key is kept as unencrypted PKCS#8 in
    // memory (zeroized when dropped) and parsed again for each.
    let key_pem = match plan.key {
        None => None,
        Some(decrypting) => {
            let key = decrypting.join().expect("decrypting the key panicked")?;
            Some(key.to_pem(None)?)
        }
    };
    let plan = SignPlan { key: None, ..plan };
    sign_pushed_with(store_dir, store, args, rec, plan, key_pem, images)
}

/// The repositories of `images` (one reference each, by the record's digest) that no
/// earlier run signed.
fn unsigned_repositories(rec: &PublishRecord, images: &[Reference]) -> Result<Vec<Reference>> {
    let digest: Digest = rec.manifest.parse()?;
    let mut repositories: Vec<Reference> = Vec::new();
    for image in images {
        if !repositories.iter().any(|r| r.name() == image.name()) {
            repositories.push(image.with_digest(digest.clone()));
        }
    }
    repositories.retain(|r| !rec.signed.iter().any(|s| s.repository == r.name()));
    Ok(repositories)
}

/// [`sign_pushed`] with the key already decrypted (`plan.key` is not used).
fn sign_pushed_with(
    store_dir: &Path,
    store: &Store,
    args: &BuildArgs,
    rec: &mut PublishRecord,
    plan: SignPlan,
    key_pem: Option<zeroize::Zeroizing<String>>,
    images: &[Reference],
) -> Result<()> {
    let digest: Digest = rec.manifest.parse()?;
    let pending = unsigned_repositories(rec, images)?;
    if pending.is_empty() {
        eprintln!("signed {digest} in an earlier run");
        return Ok(());
    }
    let predicates = predicates(store, rec, &digest, &plan.attest)?;
    for at in &pending {
        let key = key_pem.as_ref().map(|pem| PendingKey::Pem(pem.clone()));
        let signed = sign::sign_image(
            store_dir,
            &plan.signer,
            &format!("docker://{at}"),
            &args.registry,
            key,
            |target| statements(&target.docker_ref, target.digest(), &predicates),
        )?;
        for line in &signed.lines {
            eprintln!("{line}");
        }
        let mut bundles = Vec::new();
        for (predicate_type, bundle, referrer) in &signed.bundles {
            let blob = store.put_bytes(&bundle.to_json()?, MEDIA_TYPE_BUNDLE_V03)?;
            bundles.push(StoredBundle::new(
                predicate_type,
                &blob,
                referrer.as_ref().map(|r| r.to_string()),
            ));
        }
        rec.signed.push(Signed {
            repository: at.name(),
            signer: signer_of(&signed)?,
            bundles,
            legacy: signed.legacy,
        });
        rec.updated = updated();
        record::write(store, rec)?;
    }
    Ok(())
}

/// The predicates to attest: the SBOMs are the gates' own documents, the scan the gate's
/// scan, the provenance and build log from the build record.
fn predicates(
    store: &Store,
    rec: &PublishRecord,
    digest: &Digest,
    kinds: &[Kind],
) -> Result<Vec<Predicate>> {
    kinds
        .iter()
        .map(|&kind| {
            let document = |name: &str| -> Result<Option<Vec<u8>>> {
                rec.documents
                    .iter()
                    .find(|d| d.name == name)
                    .map(|d| Ok(store.read_blob(&d.digest.parse()?)?))
                    .transpose()
            };
            let bytes = match kind {
                Kind::CycloneDx => document("sbom.cyclonedx.json")?,
                Kind::SpdxJson => document("sbom.spdx.json")?,
                Kind::Vuln => scans::latest(store, digest)?,
                _ => None,
            };
            match bytes {
                Some(bytes) => Ok(Predicate {
                    predicate_type: kind.predicate_type().to_string(),
                    bytes,
                }),
                None => attestations::generate(store, digest, kind).with_context(|| {
                    format!(
                        "generating the {} predicate of {digest}",
                        kind.predicate_type()
                    )
                }),
            }
        })
        .collect()
}

/// Who signed: the key's fingerprint, or the certificate's identities and issuer.
fn signer_of(signed: &sign::SignedImage) -> Result<record::Signer> {
    if let Some(certs) = &signed.certs {
        let cert = ParsedCertificate::from_der(&certs.leaf)?;
        return Ok(record::Signer {
            key: None,
            identities: cert.identities()?,
            issuer: cert.oidc_issuer()?,
        });
    }
    let key = signed
        .key
        .as_ref()
        .context("signed with neither key nor certificate")?;
    Ok(record::Signer {
        key: Some(Digest::of(key.der()).to_string()),
        identities: Vec::new(),
        issuer: None,
    })
}

/// Writes the evidence bundle when asked for; returns its directory.
fn finish_evidence(store: &Store, rec: &PublishRecord, plan: &Plan) -> Result<Option<PathBuf>> {
    match &plan.evidence {
        None => Ok(None),
        Some(dir) => {
            let written = evidence::write(store, rec, dir)?;
            eprintln!("evidence: {}", written.display());
            Ok(Some(written))
        }
    }
}
