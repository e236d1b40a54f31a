//! `lading generate-key-pair`, `lading sign` and `lading verify`: cosign signatures with
//! a key or keyless (Fulcio), logged in Rekor or not, stored as Sigstore bundle
//! referrers (OCI 1.1) and in the legacy `.sig` tag.

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lading_oci::{Descriptor, Reference};
use lading_registry::client::Client;
use lading_signer::constants::PREDICATE_COSIGN_SIGN;
use lading_signer::intoto::Statement;
use lading_signer::sigstore;
use lading_signer::sigstore::bundle::Bundle;
use lading_signer::sigstore::certificate::{IdentityPolicy, Matcher};
use lading_signer::sigstore::fulcio::Certificates;
use lading_signer::sigstore::image_signature;
use lading_signer::sigstore::legacy::{Checks, Verifier};
use lading_signer::sigstore::trust_root::TrustedRoot;
use lading_signer::simple_signing::Payload;
use lading_signer::{KeyPair, PublicKey, cosign, keys};
use zeroize::Zeroizing;

use crate::attestations;
use crate::cli::args::{
    GenerateKeyPairArgs, ReferrersMode, RegistryArgs, SignArgs, SignerArgs, TufArgs, VerifyArgs,
};
use crate::cli::commands::attest::{Attached, Attacher, Log, generated_statements};
use crate::cli::commands::keyless::{
    Services, Signer, SigningFlags, keyless_signer, load_trusted_root, sign_bundle, sign_legacy,
    sign_trust,
};
use crate::cli::commands::tuf;
use crate::cli::signatures;
use crate::cli::target::{self, Access, Target};

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
    let password = new_key_password()?.filter(|p| !p.is_empty());
    let pair = KeyPair::generate().context("generating a key pair")?;
    let private = pair
        .to_pem(password.as_ref().map(|p| p.as_bytes()))
        .context("encoding the private key")?;
    let public = pair.public_key()?.to_pem();
    write_new(&key_path, private.as_bytes(), 0o600)?;
    write_new(&pub_path, public.as_bytes(), 0o644)?;
    if password.is_none() {
        eprintln!(
            "warning: no password (LADING_PASSWORD, COSIGN_PASSWORD or the terminal): the private key is not encrypted"
        );
    }
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(ExitCode::SUCCESS)
}

/// The password for a new private key: `LADING_PASSWORD`, else `COSIGN_PASSWORD`, else
/// asked twice on the terminal without echo (cosign's prompts) when stdin is one; `None`
/// when there is neither (the key is then written unencrypted, with a warning).
fn new_key_password() -> Result<Option<Zeroizing<String>>> {
    if let Some(p) = keys::password_from_env() {
        return Ok(Some(p));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .context("reading the password from the terminal")
    };
    let first = ask("Enter password for private key: ")?;
    let again = ask("Enter password for private key again: ")?;
    if first != again {
        bail!("the passwords do not match");
    }
    Ok(Some(first))
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

/// A private key file read, with its password when it is encrypted, not yet decrypted:
/// the slow part (cosign's format derives its key with scrypt) can then run beside the
/// registry requests.
pub(crate) struct KeyFile {
    path: PathBuf,
    text: Zeroizing<String>,
    password: Option<Zeroizing<String>>,
}

impl KeyFile {
    /// Reads a private key file (PKCS#8, or cosign's own encrypted format) and, when it
    /// is encrypted, its password (environment or prompt).
    pub(crate) fn read(path: &Path) -> Result<KeyFile> {
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
        Ok(KeyFile {
            path: path.to_path_buf(),
            text,
            password,
        })
    }

    /// The key pair (the key file and password are zeroized when dropped).
    pub(crate) fn decrypt(self) -> Result<KeyPair> {
        KeyPair::from_pem(&self.text, self.password.as_ref().map(|p| p.as_bytes()))
            .with_context(|| format!("loading the private key {}", self.path.display()))
    }
}

/// A key for [`sign_image`]: a key file still to decrypt (beside the registry requests),
/// or one decrypted already (PKCS#8 PEM, unencrypted, zeroized when dropped).
pub(crate) enum PendingKey {
    File(KeyFile),
    Pem(Zeroizing<String>),
}

impl PendingKey {
    fn load(self) -> Result<KeyPair> {
        match self {
            PendingKey::File(f) => f.decrypt(),
            PendingKey::Pem(pem) => KeyPair::from_pem(&pem, None).context("loading the key"),
        }
    }
}

/// Reads and decrypts a private key file.
pub(crate) fn load_private_key(path: &Path) -> Result<KeyPair> {
    KeyFile::read(path)?.decrypt()
}

/// cosign's `docker-reference`: go-containerregistry's repository name (Docker Hub is
/// `index.docker.io`).
pub(crate) fn docker_reference(r: &Reference) -> String {
    let registry = match r.registry() {
        lading_oci::reference::DOCKER_HUB => "index.docker.io",
        other => other,
    };
    format!("{registry}/{}", r.repository())
}

/// The manifest `r` names: by its digest, or its tag resolved once (and printed).
pub(crate) fn resolve(client: &Client, r: &Reference) -> Result<Descriptor> {
    let desc = client
        .resolve(r)
        .with_context(|| format!("resolving {r}"))?
        .with_context(|| format!("{r} not found"))?;
    match r.digest() {
        Some(d) if d != &desc.digest => {
            bail!("{r}: the registry answered {}", desc.digest)
        }
        Some(_) => {}
        None => eprintln!("resolved {r} to {}", desc.digest),
    }
    Ok(desc)
}

/// Signs an image and stores the signature as `--registry-referrers-mode` says: a
/// bundle referrer (cosign v3's DSSE statement) and/or the legacy `.sig` tag, both made
/// by one key (or one ephemeral key and certificate) and logged unless
/// `--tlog-upload=false`.
///
/// `args.image` is a store image when the store has it and is not `docker://`
/// ([`target`]): the signatures then go into the store.
pub fn sign(store_dir: &Path, args: SignArgs) -> Result<ExitCode> {
    let attest = attestation_kinds(&args.attest)?;
    let key = args
        .signer
        .key
        .as_deref()
        .map(KeyFile::read)
        .transpose()?
        .map(PendingKey::File);
    let signed = sign_image(
        store_dir,
        &args.signer,
        &args.image,
        &args.registry,
        key,
        |target| generated_statements(store_dir, &target.docker_ref, target.digest(), &attest),
    )?;
    for line in &signed.lines {
        crate::cli::out!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What [`sign_image`] stored.
pub(crate) struct SignedImage {
    /// The lines to report (the last one names what was signed).
    pub(crate) lines: Vec<String>,
    /// Each bundle made (the signature's first), its predicate type and its referrer.
    pub(crate) bundles: Vec<(String, Bundle, Option<Reference>)>,
    /// The legacy `.sig` (and `.att`) tag was written.
    pub(crate) legacy: bool,
    /// The key's public key, or the Fulcio certificates.
    pub(crate) key: Option<PublicKey>,
    pub(crate) certs: Option<Certificates>,
}

/// Signs `image` and attaches the statements `statements` makes for it (given the
/// target, once it is resolved), all with one key or certificate.
pub(crate) fn sign_image(
    store_dir: &Path,
    args: &SignerArgs,
    image: &str,
    registry: &RegistryArgs,
    key: Option<PendingKey>,
    statements: impl FnOnce(&Target) -> Result<Vec<Statement>>,
) -> Result<SignedImage> {
    let mode = args.registry_referrers_mode;
    let (services, trust) = sign_trust(&SigningFlags::from(args))?;
    let http = sigstore::http_client()?;
    // The key file and its password before the registry is asked; the key is decrypted
    // while the image is resolved and its predicates generated (reads only: a wrong
    // password still stores nothing).
    let (key, found) = std::thread::scope(|s| {
        let decrypting = key.map(|k| s.spawn(move || k.load()));
        let found = (|| -> Result<_> {
            let target = target::open(store_dir, image, registry, Access::ReadWrite)?;
            // Every predicate is generated before anything is signed: a missing record
            // fails the command with nothing stored.
            let statements = statements(&target)?;
            Ok((target, statements))
        })();
        let key = decrypting.map(|d| d.join().expect("decrypting the key panicked"));
        (key.transpose(), found)
    });
    let key = key?;
    let (target, statements) = found?;
    let (client, reference, subject) = (&target.client, &target.reference, &target.subject);
    let digest = subject.digest.clone();
    let docker_ref = target.docker_ref.clone();
    let signer = match key {
        Some(key) => Signer { key, certs: None },
        None => keyless_signer(&SigningFlags::from(args), &http, &services)?,
    };
    let bundle = if !mode.referrers() {
        None
    } else if args.tlog_upload {
        let statement = image_signature::statement(&digest)?;
        Some(sign_bundle(
            &signer,
            &http,
            &services,
            trust.as_ref(),
            &statement,
        )?)
    } else {
        Some(image_signature::sign_bundle(&signer.key, &digest)?)
    };
    let signed = if !mode.legacy() || skip_legacy(mode, args.tlog_upload, &services, ".sig")? {
        None
    } else if args.tlog_upload {
        Some(sign_legacy(
            &signer,
            &http,
            &services,
            trust.as_ref(),
            &docker_ref,
            &digest,
        )?)
    } else {
        Some(cosign::sign(&signer.key, &docker_ref, &digest)?)
    };
    let attacher = Attacher {
        target: &target,
        signer: &signer,
        log: args.tlog_upload.then_some(Log {
            http: &http,
            services: &services,
            trust: trust.as_ref(),
        }),
        mode,
    };
    // The `.sig` tag, and the bundle referrers with the attestations, are different
    // tags: written concurrently. With attestations, the signature's bundle is pushed
    // with theirs.
    let (legacy, attached) = std::thread::scope(|s| {
        let legacy = signed
            .map(|signed| s.spawn(|| signatures::store_legacy(client, reference, signed, &digest)));
        let attached = if !statements.is_empty() {
            attacher.attach(&statements, false, bundle)
        } else if let Some(bundle) = bundle {
            signatures::store_bundle(client, reference, subject, &bundle, PREDICATE_COSIGN_SIGN)
                .map(|at| Attached {
                    lines: vec![format!("bundle {}", target.shown(&at))],
                    bundles: vec![(PREDICATE_COSIGN_SIGN.to_string(), bundle, Some(at))],
                })
        } else {
            Ok(Attached {
                lines: Vec::new(),
                bundles: Vec::new(),
            })
        };
        let legacy = legacy.map(|l| l.join().expect("storing the .sig tag panicked"));
        (legacy.transpose(), attached)
    });
    let (legacy, attached) = (legacy?, attached?);
    let mut lines = Vec::new();
    if let Some((sig_ref, at, count)) = &legacy {
        lines.push(format!(
            "signature {}@{at} ({count} signature(s))",
            target.shown(sig_ref)
        ));
    }
    lines.extend(attached.lines);
    lines.push(format!(
        "signed {}",
        target.shown(&reference.with_digest(digest))
    ));
    Ok(SignedImage {
        lines,
        bundles: attached.bundles,
        legacy: legacy.is_some(),
        key: match &signer.certs {
            None => Some(signer.key.public_key()?),
            Some(_) => None,
        },
        certs: signer.certs,
    })
}

/// The predicates `--attest` names (`all`: every one lading generates), in order,
/// without repeats.
pub(crate) fn attestation_kinds(names: &[String]) -> Result<Vec<attestations::Kind>> {
    let mut kinds = Vec::new();
    for name in names.iter().map(|n| n.trim()) {
        let named = if name == "all" {
            attestations::Kind::ALL.to_vec()
        } else {
            let kind = lading_signer::attestation::predicate_type(name)
                .ok()
                .and_then(attestations::Kind::of_predicate_type)
                .with_context(|| {
                    format!(
                        "--attest {name:?}: lading generates slsaprovenance1, cyclonedx, spdxjson, vuln and buildlog (or `all`); attach other predicates with `lading attest --predicate FILE`"
                    )
                })?;
            vec![kind]
        };
        for kind in named {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    Ok(kinds)
}

/// Whether the legacy tag is left out: cosign's legacy annotations carry only a Rekor v1
/// entry (its SET), so with a Rekor v2 log only the bundle referrer is written (as
/// cosign v3 does); asked for the legacy tag alone, that is an error.
pub(crate) fn skip_legacy(
    mode: ReferrersMode,
    tlog_upload: bool,
    services: &Services,
    tag: &str,
) -> Result<bool> {
    if !tlog_upload || !services.rekor_v2() {
        return Ok(false);
    }
    if !mode.referrers() {
        bail!(
            "the Rekor v2 log {} can only be recorded in a Sigstore bundle, not in the legacy {tag} tag: use --registry-referrers-mode=oci-1-1 (or both)",
            services.rekor.url
        );
    }
    eprintln!(
        "the legacy {tag} tag is not written: its annotations cannot carry a Rekor v2 entry (the bundle referrer has it)"
    );
    Ok(true)
}

/// The identity flags of `verify` and `verify-attestation` (cosign's).
pub(crate) struct IdentityFlags<'a> {
    pub(crate) key: Option<&'a Path>,
    pub(crate) identity: &'a Option<String>,
    pub(crate) identity_regexp: &'a Option<String>,
    pub(crate) issuer: &'a Option<String>,
    pub(crate) issuer_regexp: &'a Option<String>,
}

impl<'a> From<&'a VerifyArgs> for IdentityFlags<'a> {
    fn from(args: &'a VerifyArgs) -> Self {
        IdentityFlags {
            key: args.key.as_deref(),
            identity: &args.certificate_identity,
            identity_regexp: &args.certificate_identity_regexp,
            issuer: &args.certificate_oidc_issuer,
            issuer_regexp: &args.certificate_oidc_issuer_regexp,
        }
    }
}

/// The verifier the flags ask for: `--key`, or a keyless identity policy.
pub(crate) fn verifier(flags: IdentityFlags<'_>) -> Result<Verifier> {
    if let Some(path) = flags.key {
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
            flags.identity,
            flags.identity_regexp,
            "certificate-identity",
        )?,
        issuer: matcher(flags.issuer, flags.issuer_regexp, "certificate-oidc-issuer")?,
    }))
}

/// Verifies an image's signatures: 0 verified, 1 not.
///
/// `args.image` is a store image when the store has it and is not `docker://`
/// ([`target`]): the signatures are then read from the store.
pub fn verify(store_dir: &Path, args: VerifyArgs) -> Result<ExitCode> {
    let verifier = verifier(IdentityFlags::from(&args))?;
    let keyless = matches!(verifier, Verifier::Keyless(_));
    let trust = verification_trust(
        &args.trusted_root,
        &args.tuf,
        keyless,
        args.insecure_ignore_tlog,
    )?;
    let target = target::open(store_dir, &args.image, &args.registry, Access::ReadOnly)?;
    let client = &target.client;
    let digest = target.digest().clone();
    let image = target.reference.clone();
    let shown = target.shown(&image);
    let mode = args.registry_referrers_mode;
    let mut verified = Vec::new();
    let mut found_in = Vec::new();
    let checks = Checks {
        tlog: !args.insecure_ignore_tlog,
        sct: !args.insecure_ignore_sct,
    };
    if mode.referrers() {
        let (checked, via_api) =
            signatures::check_bundles(client, &image, &verifier, trust.as_ref(), checks, &digest)?;
        let how = if via_api {
            "referrers API"
        } else {
            "referrers tag schema"
        };
        eprintln!(
            "OCI 1.1 referrers ({how}): {} valid bundle(s), {} refused",
            checked.verified.len(),
            checked.refused.len()
        );
        report(&checked, &mut verified, &mut found_in, "oci-1-1 bundle");
    }
    if mode.legacy() {
        match signatures::check_legacy(client, &image, &verifier, trust.as_ref(), checks, &digest)?
        {
            None => eprintln!("legacy: no {}", cosign::signature_tag(&digest)),
            Some(checked) => {
                eprintln!(
                    "legacy {}: {} valid signature(s), {} refused",
                    cosign::signature_tag(&digest),
                    checked.verified.len(),
                    checked.refused.len()
                );
                report(&checked, &mut verified, &mut found_in, "legacy");
            }
        }
    }
    let by = match &args.key {
        Some(k) => format!("the key {}", k.display()),
        None => "the certificate identity and issuer given".to_string(),
    };
    if verified.is_empty() {
        eprintln!("no valid signature for {shown} with {by}");
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "Verified {shown}: {} signature(s) valid with {by} in {} ({})",
        verified.len(),
        found_in.join(" and "),
        if args.insecure_ignore_tlog {
            "no transparency log checked"
        } else {
            "transparency log entries checked"
        }
    );
    crate::cli::out!("{}", serde_json::to_string(&verified)?);
    Ok(ExitCode::SUCCESS)
}

/// The trusted root a verification needs: `--trusted-root`, else the TUF repository's
/// when keyless signatures or transparency-log entries are checked; none for a key
/// whose log entries are not (`--insecure-ignore-tlog`).
pub(crate) fn verification_trust(
    given: &Option<PathBuf>,
    tuf_args: &TufArgs,
    keyless: bool,
    insecure_ignore_tlog: bool,
) -> Result<Option<TrustedRoot>> {
    match given {
        Some(path) => Ok(Some(load_trusted_root(path)?)),
        None if keyless || !insecure_ignore_tlog => {
            Ok(Some(tuf::trusted_root(tuf_args).with_context(|| {
                format!(
                    "no trusted root to verify {}: pass --trusted-root FILE{}",
                    if keyless {
                        "keyless signatures"
                    } else {
                        "the transparency log"
                    },
                    if keyless {
                        ""
                    } else {
                        ", or --insecure-ignore-tlog to check the key only"
                    }
                )
            })?))
        }
        None => Ok(None),
    }
}

/// Prints a storage's refusals and collects what it verified.
fn report(
    checked: &signatures::Checked,
    verified: &mut Vec<Payload>,
    found_in: &mut Vec<&'static str>,
    storage: &'static str,
) {
    for line in &checked.refused {
        eprintln!("  rejected: {line}");
    }
    if !checked.verified.is_empty() {
        found_in.push(storage);
        verified.extend(checked.verified.iter().cloned());
    }
}
