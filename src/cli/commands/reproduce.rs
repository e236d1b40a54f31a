//! `lading reproduce IMAGE`: rebuild from the provenance, compare, explain
//! (`crate::reproduce`). Exit 0 reproduced, 1 not reproduced, 2 could not try.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use clap::Parser;
use lading_oci::Digest;
use lading_signer::constants::PREDICATE_REPRODUCED;

use crate::attestations::invocation;
use crate::cli::args::{AttestArgs, ReproduceArgs, VerifyAttestationArgs};
use crate::cli::commands::attest::{attach, verified_attestations};
use crate::cli::gate::Format;
use crate::reproduce::attestation;
use crate::reproduce::{self, Options, Outcome, provenance};

/// Runs the reproduction and renders it.
pub fn run(store_dir: &Path, args: ReproduceArgs) -> Result<ExitCode> {
    let started_on = invocation::now_rfc3339();
    let (recorded, source, provenance_digest) = read_provenance(store_dir, &args)?;
    let opts = Options {
        image: args.image.clone(),
        provenance: recorded,
        provenance_source: source,
        context: args.context.clone(),
        file: args.file.clone(),
        secrets: args.secrets.clone(),
        ssh: args.ssh.clone(),
        registry: args.registry.clone(),
        progress: args.progress,
    };
    let outcome = reproduce::reproduce(store_dir, &opts)?;
    if args.attest {
        attest(store_dir, &args, &outcome, &provenance_digest, started_on)?;
    }
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&outcome)?;
            s.push('\n');
            s
        }
        Format::Table => table(&outcome),
    };
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => {}
        }
    }
    Ok(if outcome.reproduced {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The provenance: the file given, else the image's attestation, verified.
fn read_provenance(
    store_dir: &Path,
    args: &ReproduceArgs,
) -> Result<(provenance::Recorded, String, Digest)> {
    if let Some(file) = &args.provenance {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let recorded =
            provenance::parse(&bytes).with_context(|| format!("reading {}", file.display()))?;
        return Ok((recorded, file.display().to_string(), Digest::of(&bytes)));
    }
    let t = &args.trust;
    if t.key.is_none()
        && t.certificate_identity.is_none()
        && t.certificate_identity_regexp.is_none()
    {
        bail!(
            "give the image's provenance with --provenance FILE, or --key (or --certificate-identity and --certificate-oidc-issuer) to read and verify its provenance attestation"
        );
    }
    let verify = VerifyAttestationArgs {
        trust: args.trust.clone(),
        predicate_type: "slsaprovenance1".into(),
        builder_id: None,
        gate_verdict: None,
        image: args.image.clone(),
        registry: args.registry.clone(),
    };
    let found = verified_attestations(store_dir, &verify)?;
    let by = match &t.key {
        Some(k) => format!("the key {}", k.display()),
        None => "the certificate identity given".into(),
    };
    let Some(envelope) = found.envelopes.first() else {
        bail!(
            "no valid SLSA provenance attestation for {} with {by}: could not try",
            found.shown
        );
    };
    let recorded = provenance::parse(envelope).context("reading the provenance attestation")?;
    if !recorded.subjects.contains(&found.digest) {
        bail!(
            "the provenance attestation of {} is not about its digest {}",
            found.shown,
            found.digest
        );
    }
    Ok((
        recorded,
        format!(
            "the attestation of {} ({}), verified with {by}",
            found.shown,
            found.found_in.join(" and ")
        ),
        Digest::of(envelope),
    ))
}

#[derive(Parser)]
struct AttestWrapper {
    #[command(flatten)]
    attest: AttestArgs,
}

/// Signs the "reproduced" predicate of `outcome` and attaches it to the image.
fn attest(
    store_dir: &Path,
    args: &ReproduceArgs,
    outcome: &Outcome,
    provenance: &Digest,
    started_on: String,
) -> Result<()> {
    let key = args
        .attest_key
        .as_ref()
        .context("--attest needs --attest-key")?;
    let (id, invocation_id) = invocation::identify(|k| std::env::var(k).ok());
    let run = attestation::Run {
        id,
        invocation_id,
        started_on,
        finished_on: invocation::now_rfc3339(),
    };
    let bytes = attestation::predicate(outcome, provenance, &run)?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let file = dir.path().join("reproduced.json");
    std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
    let argv: Vec<std::ffi::OsString> = vec![
        "lading-attest".into(),
        "--key".into(),
        key.into(),
        "--type".into(),
        PREDICATE_REPRODUCED.into(),
        "--predicate".into(),
        file.into(),
        format!("--tlog-upload={}", args.tlog_upload).into(),
        "-y".into(),
        args.image.clone().into(),
    ];
    let mut attest_args = AttestWrapper::try_parse_from(argv)
        .map_err(|e| anyhow::anyhow!("attesting: {e}"))?
        .attest;
    attest_args.registry = args.registry.clone();
    attest_args.registry_referrers_mode = args.trust.registry_referrers_mode;
    for line in attach(store_dir, &attest_args).context("attaching the reproduced attestation")? {
        eprintln!("{line}");
    }
    Ok(())
}

/// The summary: result, inputs, notes, causes.
fn table(o: &Outcome) -> String {
    let mut s = String::new();
    let verdict = if o.reproduced {
        "reproduced"
    } else {
        "NOT reproduced"
    };
    let _ = writeln!(s, "{}: {verdict}", o.image);
    let _ = writeln!(s, "  image     {}", o.digest);
    let _ = writeln!(s, "  rebuilt   {}", o.rebuilt);
    let ok = |same: bool| if same { "ok" } else { "DIFFERS" };
    let _ = writeln!(
        s,
        "  context   {}{}  {} {}",
        o.context.source,
        if o.context.path.is_empty() {
            String::new()
        } else {
            format!(" (path {})", o.context.path)
        },
        o.context.actual,
        ok(o.context.actual == o.context.recorded)
    );
    let _ = writeln!(
        s,
        "  dockerfile  {} {}",
        o.dockerfile.1,
        ok(o.dockerfile.0 == o.dockerfile.1)
    );
    for b in &o.base_images {
        let _ = writeln!(
            s,
            "  base      {} {} {}",
            b.reference,
            b.recorded,
            match (&b.found_in, &b.used) {
                (Some(w), _) => format!("(by digest, from the {w})"),
                (None, Some(u)) if *u == b.recorded => "(as named)".to_string(),
                (None, Some(u)) => format!("(UNAVAILABLE; the rebuild used {u})"),
                (None, None) => "(UNAVAILABLE)".to_string(),
            }
        );
    }
    for n in &o.notes {
        let _ = writeln!(s, "note: {n}");
    }
    for c in &o.causes {
        let _ = writeln!(s, "cause: {}", c.message);
    }
    if let Some(d) = &o.diff {
        let _ = writeln!(
            s,
            "{} differences (lading diff {} with the rebuild shows them; --format json lists them)",
            d.differences.len(),
            o.image
        );
    }
    s
}
