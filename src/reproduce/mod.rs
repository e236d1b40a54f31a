//! `lading reproduce`: rebuilding an image from its SLSA provenance in a fresh, private
//! store, comparing digests, and naming why they differ (`docs/attestations.md`,
//! "Reproducing").
//!
//! Inputs are fetched as the provenance names them: the git commit (or a directory the
//! user gives, which must hash to the recorded context digest), every base image by its
//! recorded digest (from the registry its reference names, else the user's store). The
//! rebuild runs with exactly the recorded parameters. On a mismatch, the inputs are
//! compared first (a base image no longer available, a context or Dockerfile with other
//! bytes), then the diff engine compares the image with the rebuild and the first layer
//! that differs is mapped to the step that made it.

pub mod attestation;
pub mod explain;
pub mod fetch;
pub mod provenance;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use lading_oci::diff::{self, Diff, DiffOptions, Input, StoreSource};
use lading_oci::{Digest, ImageSource, Platform, Store};
use serde::Serialize;

use crate::attestations::record;
use crate::cli::args::{BuildArgs, Progress, RegistryArgs};
use crate::cli::commands::build;
use crate::cli::commands::diff::open;
use crate::cli::registry;
use explain::{Cause, CauseKind};
use fetch::{BaseImage, Pinned};
use provenance::Recorded;

/// What to reproduce and how.
pub struct Options {
    /// The image (store name, `docker://REF`, `oci:DIR[:tag]`, …).
    pub image: String,
    /// Its provenance.
    pub provenance: Recorded,
    /// Where the provenance came from (for the report).
    pub provenance_source: String,
    /// A local directory to use as the context instead of the git checkout.
    pub context: Option<PathBuf>,
    /// The Dockerfile, when it lies outside the context.
    pub file: Option<PathBuf>,
    /// `--secret`s for the ids the provenance names.
    pub secrets: Vec<String>,
    /// `--ssh` agents for the ids the provenance names.
    pub ssh: Vec<String>,
    /// Registry access (base images, the image).
    pub registry: RegistryArgs,
    /// Progress of the rebuild (on stderr).
    pub progress: Progress,
}

/// Where the context came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextCheck {
    /// `git+<uri>@<commit>` or `directory`.
    pub source: String,
    /// The directory inside the repository.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The recorded context digest.
    pub recorded: Digest,
    /// The fetched context's digest.
    pub actual: Digest,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The image as named.
    pub image: String,
    /// Its digest.
    pub digest: Digest,
    /// Where the provenance came from.
    pub provenance: String,
    /// The rebuild's manifest digest.
    pub rebuilt: Digest,
    /// Whether they are equal.
    pub reproduced: bool,
    /// The context fetched.
    pub context: ContextCheck,
    /// The Dockerfile: recorded and actual digests.
    pub dockerfile: (Digest, Digest),
    /// The parameters the rebuild used (`lading build` flags).
    pub parameters: Vec<String>,
    /// The images the build read.
    pub base_images: Vec<BaseImage>,
    /// Things worth knowing that did not change the result (a tag that moved).
    pub notes: Vec<String>,
    /// Why the digests differ (empty when reproduced).
    pub causes: Vec<Cause>,
    /// The comparison of the image (A) with the rebuild (B), when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
}

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    build: BuildArgs,
}

/// The `lading build` flags the recorded parameters mean (context last).
fn build_flags(p: &Recorded, dockerfile: &Path, opts: &Options) -> Vec<String> {
    let mut v = vec![
        "-f".to_string(),
        dockerfile.display().to_string(),
        "--platform".into(),
        p.platform.clone(),
        "--source-date-epoch".into(),
        p.source_date_epoch.to_string(),
        "--context-modes".into(),
        p.context_modes.clone(),
        "--network".into(),
        p.network.clone(),
    ];
    if let Some(t) = &p.target {
        v.extend(["--target".into(), t.clone()]);
    }
    for (k, val) in &p.build_args {
        v.extend(["--build-arg".into(), format!("{k}={val}")]);
    }
    for s in &opts.secrets {
        v.extend(["--secret".into(), s.clone()]);
    }
    for s in &opts.ssh {
        v.extend(["--ssh".into(), s.clone()]);
    }
    v
}

fn secret_id(flag: &str) -> Result<String> {
    Ok(build::parse_secret(flag)?.0)
}

/// Rebuilds and compares. Errors mean the reproduction could not be tried.
pub fn reproduce(store_dir: &Path, opts: &Options) -> Result<Outcome> {
    let p = &opts.provenance;
    // A fresh, private work area: the checkout, the store the rebuild writes, and the
    // layers of a registry image the comparison downloads (never the user's store).
    let work = tempfile::Builder::new()
        .prefix("lading-reproduce-")
        .tempdir()
        .context("creating a work directory")?;
    let store = if opts.image.starts_with("docker://") {
        Store::open(work.path().join("downloads"))
    } else {
        Store::open(store_dir)
    }
    .with_context(|| format!("opening store {}", store_dir.display()))?;
    let mut client = None;
    let original = open(&store, &opts.image, &mut client, &opts.registry)
        .with_context(|| format!("reading {}", opts.image))?;
    let digest = original.root.digest.clone();
    if !p.subjects.is_empty() && !p.subjects.contains(&digest) {
        bail!(
            "the provenance is about {}, not {} ({digest})",
            p.subjects
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            opts.image
        );
    }
    if !p.build_contexts.is_empty() {
        bail!(
            "the build used --build-context {}: reproducing builds with named contexts is not supported yet",
            p.build_contexts
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let given: Vec<String> = opts
        .secrets
        .iter()
        .map(|s| secret_id(s))
        .collect::<Result<_>>()?;
    for id in &p.secrets {
        if !given.contains(id) {
            bail!("the build used the secret {id:?}: give it with --secret id={id},src=FILE");
        }
    }
    for id in &p.ssh {
        if !opts
            .ssh
            .iter()
            .any(|s| s == id || s.starts_with(&format!("{id}=")))
        {
            bail!("the build used the ssh agent {id:?}: give it with --ssh {id}[=SOCKET|KEY]");
        }
    }

    let (context_dir, source, path) = match (&opts.context, &p.git) {
        (Some(dir), _) => (dir.clone(), "directory".to_string(), String::new()),
        (None, Some(git)) => {
            let dir = fetch::checkout(git, &work.path().join("checkout"))?;
            (dir, format!("{}@{}", git.uri, git.commit), git.path.clone())
        }
        (None, None) => bail!(
            "the provenance names no git checkout for the context (the build's context was not a clean checkout with a network remote): give the context with --context DIR"
        ),
    };
    let dockerfile = match &opts.file {
        Some(f) => f.clone(),
        None if p.dockerfile_path == "-" => {
            bail!("the Dockerfile came from standard input: give it with --file FILE")
        }
        None => context_dir.join(&p.dockerfile_path),
    };
    let dockerfile_bytes = std::fs::read(&dockerfile)
        .with_context(|| format!("reading the Dockerfile {}", dockerfile.display()))?;
    let dockerfile_digest = Digest::of(&dockerfile_bytes);

    let parameters = build_flags(p, &dockerfile, opts);
    let mut argv = vec!["lading-build".to_string(), "--progress".into()];
    argv.push(
        match opts.progress {
            Progress::Quiet => "quiet",
            Progress::Tty => "tty",
            Progress::Plain => "plain",
            Progress::Auto => "auto",
            Progress::Rawjson => "rawjson",
        }
        .into(),
    );
    argv.extend(parameters.iter().cloned());
    argv.push(context_dir.display().to_string());
    let mut args = Wrapper::try_parse_from(&argv)
        .map_err(|e| anyhow::anyhow!("the recorded parameters are not valid build flags: {e}"))?
        .build;
    args.registry = opts.registry.clone();
    if opts.progress == Progress::Quiet {
        args.quiet = true;
    }

    // The context as the build will see it.
    let actual_context = {
        let mut agents = Vec::new();
        let bo = build::options(&args, &mut agents)?;
        lading_builder::main_context(&bo)
            .context("reading the build context")?
            .digest()
            .map_err(|e| anyhow::anyhow!("digesting the build context: {}", e.message))?
    };

    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    if dockerfile_digest != p.dockerfile_digest {
        inputs.push(Cause {
            kind: CauseKind::Dockerfile,
            subject: p.dockerfile_path.clone(),
            message: format!(
                "Dockerfile {}: its bytes hash to {dockerfile_digest}, the provenance records {}",
                p.dockerfile_path, p.dockerfile_digest
            ),
        });
    }
    if actual_context != p.context_digest {
        inputs.push(Cause {
            kind: CauseKind::Context,
            subject: source.clone(),
            message: format!(
                "context ({source}): it hashes to {actual_context}, the provenance records {} (contextModes {}: file bytes, names, links{} count)",
                p.context_digest,
                p.context_modes,
                if p.context_modes == "preserve" {
                    " and permission bits"
                } else {
                    ""
                }
            ),
        });
    }

    // Base images, by their recorded digests.
    let client = registry::client(&opts.registry, opts.progress)?;
    let located = fetch::locate(&p.images, &client, store_dir);
    let mut pins: BTreeMap<String, (BaseImage, Arc<fetch::Pin>)> = BTreeMap::new();
    let mut bases = Vec::new();
    for (base, pin) in located {
        if let Some(pin) = pin {
            pins.insert(base.requested.clone(), (base.clone(), Arc::new(pin)));
        }
        bases.push(base);
    }
    let pin_client = client.clone();
    let pin = move |name: &str| -> Option<Box<dyn ImageSource>> {
        pins.get(name).map(|(base, pin)| {
            Box::new(Pinned::new(base, pin.clone(), pin_client.clone())) as Box<dyn ImageSource>
        })
    };

    let private = work.path().join("store");
    let built = build::build_pinned(&private, &args, &[], &pin).context("rebuilding")?;
    if built.index.is_some() {
        bail!("a build record names one platform; the rebuild made an index");
    }
    let rebuilt = built.image.descriptor.digest.clone();
    let private_store = Store::open(&private)?;
    if let Some(rec) = record::latest(&private_store, &rebuilt)? {
        for base in &mut bases {
            base.used = rec
                .images
                .iter()
                .find(|i| i.requested == base.requested)
                .and_then(|i| i.digest.parse().ok());
        }
    }
    for base in &bases {
        let moved = base.tag_now.as_ref().filter(|t| **t != base.recorded);
        match (&base.found_in, &base.used) {
            (Some(_), _) => {
                if let Some(t) = moved {
                    notes.push(format!(
                        "base image {}: the tag now names {t}; rebuilt from the recorded {}",
                        base.reference, base.recorded
                    ));
                }
            }
            (None, used) => inputs.push(Cause {
                kind: CauseKind::BaseImage,
                subject: base.reference.clone(),
                message: format!(
                    "base image {}: the recorded {} is no longer available{}",
                    base.reference,
                    base.recorded,
                    match (moved.or(base.tag_now.as_ref()), used) {
                        (Some(t), Some(u)) if t == u =>
                            format!("; the tag now names {t}, and the rebuild used it"),
                        (_, Some(u)) if *u != base.recorded => format!("; the rebuild used {u}"),
                        _ => String::new(),
                    }
                ),
            }),
        }
    }

    let reproduced = rebuilt == digest;
    let mut causes = Vec::new();
    let mut compared = None;
    if !reproduced {
        let platform = Platform::parse(&p.platform)?;
        let rebuilt_source = StoreSource(&private_store);
        let d = diff::diff(
            &Input {
                name: opts.image.clone(),
                source: original.source.as_ref(),
                root: original.root.clone(),
            },
            &Input {
                name: "rebuild".into(),
                source: &rebuilt_source,
                root: built.image.descriptor.clone(),
            },
            &DiffOptions {
                platform,
                ..DiffOptions::default()
            },
        )
        .context("comparing the image with the rebuild")?;
        causes = inputs;
        let found = explain::from_diff(&d, &causes);
        causes.extend(found);
        compared = Some(d);
    }
    Ok(Outcome {
        image: opts.image.clone(),
        digest,
        provenance: opts.provenance_source.clone(),
        rebuilt,
        reproduced,
        context: ContextCheck {
            source,
            path,
            recorded: p.context_digest.clone(),
            actual: actual_context,
        },
        dockerfile: (p.dockerfile_digest.clone(), dockerfile_digest),
        parameters,
        base_images: bases,
        notes,
        causes,
        diff: compared,
    })
}
