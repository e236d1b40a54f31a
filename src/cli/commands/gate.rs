//! `lading gate REF`: the four gates (sbom, scan, cis, secrets) on one manifest digest,
//! with one policy file; their reports are stored as blobs and a gate record is written
//! against the digest (see `lading_gates::record`).
//!
//! Exit codes: 0 every gate passed, 1 a gate failed, 2 an error (no record written).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_gates::cis::policy::Date;
use lading_gates::cis::{self, IDS, Input};
use lading_gates::gate::Verdict;
use lading_gates::layer_cache::LayerCache;
use lading_gates::policy::GatePolicy;
use lading_gates::record::{self, DbVersion, GateRecord, GateRun, ReportRef, Status};
use lading_gates::sbom;
use lading_gates::secrets::detect::Detector;
use lading_gates::secrets::{self, Options, Ruleset};
use lading_gates::vuln::db::{Database, DbError, rfc3339};
use lading_gates::vuln::{self, ignore};
use lading_oci::{Descriptor, Image, Store};
use serde_json::json;

use crate::attestations::scans;
use crate::cli::args::{GateArgs, SbomFormat};
use crate::cli::commands::db::{default_dir, now};
use crate::cli::commands::sbom::render;
use crate::cli::gate::{emit, load_image};

/// Report media types.
pub(crate) const SBOM_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
pub(crate) const SCAN_MEDIA_TYPE: &str = "application/vnd.lading.report.vulnerabilities.v1+json";
pub(crate) const CIS_MEDIA_TYPE: &str = "application/vnd.lading.report.cis.v1+json";
pub(crate) const SECRETS_MEDIA_TYPE: &str = "application/vnd.lading.report.secrets.v1+json";

fn verdict(pass: bool) -> Verdict {
    if pass { Verdict::Pass } else { Verdict::Fail }
}

fn put_json(store: &Store, value: &impl serde::Serialize, media_type: &str) -> Result<Descriptor> {
    let bytes = lading_oci::spec::to_canonical_json(value)?;
    Ok(store.put_bytes(&bytes, media_type)?)
}

fn ran(name: &str, pass: bool, report: &Descriptor) -> GateRun {
    GateRun {
        name: name.into(),
        status: Status::Ran,
        reason: None,
        verdict: verdict(pass),
        report: Some(ReportRef::from(report)),
        database: None,
    }
}

fn skipped(name: &str) -> GateRun {
    GateRun {
        name: name.into(),
        status: Status::Skipped,
        reason: Some("skipped by the policy".into()),
        verdict: Verdict::Pass,
        report: None,
        database: None,
    }
}

/// Everything the gates need besides the image: the policy and what it names, the
/// Dockerfile for the CIS checks, the date exemptions are judged on, the database.
pub(crate) struct GatePlan {
    policy: GatePolicy,
    /// The policy file's sha256 (`None`: the default policy).
    pub(crate) policy_digest: Option<String>,
    dockerfile: Option<lading_gates::cis::dockerfile::Dockerfile>,
    today: Date,
    detector: Detector,
    db: Option<std::path::PathBuf>,
}

/// What the gates wrote: the record (whose reports are blobs of the store) and, with
/// `evidence`, the documents an evidence bundle holds beyond those reports, rendered
/// from the one catalog and the one scan the verdicts came from.
pub(crate) struct GateOutcome {
    pub(crate) record: GateRecord,
    /// The record blob.
    pub(crate) record_desc: Descriptor,
    /// The documents, with `evidence`.
    pub(crate) documents: Documents,
}

/// The evidence documents that are not gate reports.
#[derive(Default)]
pub(crate) struct Documents {
    /// SPDX, as `lading sbom --format spdx` renders it.
    pub(crate) spdx: Option<String>,
    /// The vulnerability report as SARIF.
    pub(crate) sarif: Option<String>,
}

impl GatePlan {
    /// Reads the policy (and the files it names), the Dockerfile and the secrets rules.
    pub(crate) fn new(
        policy: Option<&Path>,
        dockerfile: Option<&Path>,
        build_args: &BTreeMap<String, String>,
        today: Option<&str>,
        db: Option<&Path>,
    ) -> Result<GatePlan> {
        let (policy, policy_digest) = match policy {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let base = path.parent().unwrap_or(Path::new("."));
                let p = GatePolicy::parse(&path.display().to_string(), &text, base, &IDS)?;
                (p, Some(lading_oci::Digest::of(text.as_bytes()).to_string()))
            }
            None => (GatePolicy::default(), None),
        };
        let dockerfile = match dockerfile {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let name = path.display().to_string();
                let parsed = lading_builder::dockerfile::parse(&name, &text)?;
                Some(super::cis::convert(&name, &parsed).with_build_args(build_args))
            }
            None => None,
        };
        let today = match today {
            Some(d) => {
                Date::parse(d).with_context(|| format!("--today {d:?} is not YYYY-MM-DD"))?
            }
            None => Date::today(),
        };
        let ruleset = match &policy.secrets_rules {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading rules {}", file.display()))?;
                Ruleset::with_user_file(&file.display().to_string(), &text)?
            }
            None => Ruleset::builtin()?,
        };
        Ok(GatePlan {
            policy,
            policy_digest,
            dockerfile,
            today,
            detector: Detector::new(ruleset)?,
            db: db.map(Path::to_path_buf),
        })
    }

    /// Runs the four gates on `image` (named `reference` in the reports), stores each
    /// report and the record, and records the scan as the image's latest (the `vuln`
    /// attestation). With `evidence`, also renders the SPDX document and the SARIF an
    /// evidence bundle holds besides the reports.
    pub(crate) fn run(
        &self,
        store: &Store,
        image: &Image,
        reference: &str,
        evidence: bool,
    ) -> Result<GateOutcome> {
        let policy = &self.policy;
        let mut gates = Vec::new();
        let mut out = Documents::default();
        // What earlier runs learned from layers this image shares (its base, the steps
        // before the one that changed): only its new layers are read.
        let cache = LayerCache::new(store);

        // The one catalog of the image: the sbom gate records it, the scan gate checks it.
        let catalog = if policy.skips("sbom") && policy.skips("scan") {
            None
        } else {
            Some(
                sbom::catalog_cached(&cache, store, image, reference)
                    .with_context(|| format!("cataloging {reference}"))?,
            )
        };
        if evidence && let Some(doc) = &catalog {
            out.spdx = Some(render(doc, SbomFormat::Spdx)?);
        }

        // sbom: a CycloneDX document; passes when the image could be cataloged.
        match &catalog {
            Some(doc) if !policy.skips("sbom") => {
                let desc = put_json(store, &sbom::cyclonedx::document(doc), SBOM_MEDIA_TYPE)?;
                gates.push(ran("sbom", true, &desc));
            }
            _ => gates.push(skipped("sbom")),
        }

        // scan: fails closed without a database.
        if policy.skips("scan") {
            gates.push(skipped("scan"));
        } else {
            let db_dir = default_dir(self.db.as_deref());
            match Database::open(&db_dir) {
                Err(DbError::Missing { .. }) => gates.push(GateRun {
                    name: "scan".into(),
                    status: Status::Unavailable,
                    reason: Some("no vulnerability database".into()),
                    verdict: Verdict::Fail,
                    report: None,
                    database: Some(DbVersion::missing()),
                }),
                Err(e) => return Err(e.into()),
                Ok(db) => {
                    let started = rfc3339(now());
                    let mut rules = Vec::new();
                    for path in &policy.ignore {
                        let text = std::fs::read_to_string(path)
                            .with_context(|| format!("reading ignore file {}", path.display()))?;
                        rules.extend(ignore::parse(&text, &path.display().to_string())?);
                    }
                    let today = rfc3339(now())[..10].to_string();
                    let doc = catalog
                        .as_ref()
                        .context("the catalog is made whenever the scan gate runs")?;
                    let report = vuln::scan(doc, &db, &rules, &today)
                        .with_context(|| format!("scanning {reference}"))?;
                    let fail_on = Some(policy.fail_on);
                    let json = report.to_json(fail_on);
                    let desc = put_json(store, &json, SCAN_MEDIA_TYPE)?;
                    let mut run = ran("scan", report.passes(fail_on), &desc);
                    run.database = Some(DbVersion::of(db.manifest())?);
                    gates.push(run);
                    // The gate's scan is the image's latest: what `vuln` attests.
                    let version = env!("CARGO_PKG_VERSION");
                    let cosign_vuln = pretty(&report.to_cosign_vuln(
                        version,
                        &started,
                        &rfc3339(now()),
                        fail_on,
                    ))?;
                    scans::write(store, &image.descriptor.digest, cosign_vuln.as_bytes())?;
                    if evidence {
                        out.sarif = Some(pretty(&report.to_sarif(version))?);
                    }
                }
            }
        }

        if policy.skips("cis") {
            gates.push(skipped("cis"));
        } else {
            let report = cis::run(&Input {
                store,
                image,
                cache: &cache,
                name: reference,
                dockerfile: self.dockerfile.as_ref(),
                policy: &policy.cis,
                today: self.today,
                detector: &self.detector,
            })
            .with_context(|| format!("checking {reference}"))?;
            let desc = put_json(store, &report, CIS_MEDIA_TYPE)?;
            gates.push(ran("cis", report.verdict == Verdict::Pass, &desc));
        }

        if policy.skips("secrets") {
            gates.push(skipped("secrets"));
        } else {
            let report = secrets::scan_cached(
                &cache,
                store,
                image,
                reference,
                &self.detector,
                &Options { threads: 0 },
            )
            .with_context(|| format!("scanning {reference} for secrets"))?;
            let desc = put_json(store, &report, SECRETS_MEDIA_TYPE)?;
            gates.push(ran("secrets", report.verdict == Verdict::Pass, &desc));
        }

        let record = GateRecord {
            schema: record::SCHEMA,
            manifest: image.descriptor.digest.to_string(),
            reference: reference.to_string(),
            lading_version: env!("CARGO_PKG_VERSION").into(),
            created: rfc3339(now()),
            policy: self.policy_digest.clone(),
            verdict: GateRecord::overall(&gates),
            gates,
        };
        let record_desc = record::write(store, &record)?;
        Ok(GateOutcome {
            record,
            record_desc,
            documents: out,
        })
    }
}

fn pretty(v: &serde_json::Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// Runs the gates and writes the record.
pub fn run(store_dir: &Path, args: GateArgs) -> Result<ExitCode> {
    let plan = GatePlan::new(
        args.policy.as_deref(),
        args.dockerfile.as_deref(),
        &BTreeMap::new(),
        args.today.as_deref(),
        args.db.as_deref(),
    )?;
    let store = Store::open(store_dir)?;
    // An index in the store without `--platform` (a multi-platform build): every
    // platform's manifest is gated, each with its own record.
    if args.platform.is_none()
        && let Some(root) = lading_oci::source::resolve_in_store(&store, &args.reference)?
        && let Ok(bytes) = store.read_blob(&root.digest)
        && lading_oci::image::is_index(&root.media_type, &bytes)
    {
        return run_index(&store, &plan, &args, &root, &bytes);
    }
    // Resolved once: every gate reads this manifest digest.
    let image = load_image(&store, &args.reference, args.platform.as_deref())?;
    let reference = &args.reference;
    let outcome = plan.run(&store, &image, reference, false)?;
    let (rec, desc) = (&outcome.record, &outcome.record_desc);
    let overall = rec.verdict;
    let path = record::record_path(&store, &image.descriptor.digest);
    let summary = format!(
        "gate: {} for {reference} ({}), record {}",
        if overall == Verdict::Pass {
            "pass"
        } else {
            "fail"
        },
        rec.manifest,
        desc.digest
    );
    emit(
        &args.output,
        overall,
        || table(rec, desc, &path),
        || {
            Ok(serde_json::to_string_pretty(&json!({
                "recordDigest": desc.digest.to_string(),
                "recordPath": path.display().to_string(),
                "record": rec,
            }))?)
        },
        &summary,
    )
}

/// [`run`] on an image index: the gates on each platform's manifest (entries without
/// a platform, or `unknown/unknown` attestation manifests, are not images), one record
/// each; the verdict fails when any platform fails.
fn run_index(
    store: &Store,
    plan: &GatePlan,
    args: &GateArgs,
    root: &Descriptor,
    bytes: &[u8],
) -> Result<ExitCode> {
    let index: lading_oci::Index = lading_oci::spec::from_json(bytes, "image index")?;
    let reference = &args.reference;
    let mut runs = Vec::new();
    for entry in &index.manifests {
        let Some(platform) = entry.platform.as_ref().filter(|p| p.os != "unknown") else {
            continue;
        };
        let image = Image::load(store, entry, platform)
            .with_context(|| format!("{reference}: loading the {platform} manifest"))?;
        let outcome = plan.run(store, &image, reference, false)?;
        let path = record::record_path(store, &image.descriptor.digest);
        runs.push((platform.normalized(), outcome, path));
    }
    if runs.is_empty() {
        anyhow::bail!("{reference} is an index without platform images to check");
    }
    let overall = if runs
        .iter()
        .all(|(_, o, _)| o.record.verdict == Verdict::Pass)
    {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let summary = format!(
        "gate: {} for {reference} (index {}, {} platforms)",
        word(overall),
        root.digest,
        runs.len()
    );
    emit(
        &args.output,
        overall,
        || {
            runs.iter()
                .map(|(p, o, path)| {
                    format!("platform: {p}\n{}", table(&o.record, &o.record_desc, path))
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        || {
            let platforms: Vec<serde_json::Value> = runs
                .iter()
                .map(|(p, o, path)| {
                    json!({
                        "platform": p.to_string(),
                        "recordDigest": o.record_desc.digest.to_string(),
                        "recordPath": path.display().to_string(),
                        "record": o.record,
                    })
                })
                .collect();
            Ok(serde_json::to_string_pretty(&json!({
                "index": root.digest.to_string(),
                "verdict": word(overall),
                "platforms": platforms,
            }))?)
        },
        &summary,
    )
}

fn word(v: Verdict) -> &'static str {
    if v == Verdict::Pass { "pass" } else { "fail" }
}

pub(crate) fn table(rec: &GateRecord, desc: &Descriptor, path: &Path) -> String {
    let mut out = format!("image:    {} ({})\n", rec.reference, rec.manifest);
    out.push_str(&format!(
        "{:<8} {:<11} {:<7} {}\n",
        "GATE", "STATUS", "VERDICT", "REPORT / REASON"
    ));
    for g in &rec.gates {
        let status = match g.status {
            Status::Ran => "ran",
            Status::Skipped => "skipped",
            Status::Unavailable => "unavailable",
        };
        let detail = match (&g.report, &g.reason) {
            (Some(r), _) => format!("{} ({} bytes)", r.digest, r.size),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "{:<8} {:<11} {:<7} {detail}\n",
            g.name,
            status,
            word(g.verdict)
        ));
    }
    if let Some(db) = rec.gates.iter().find_map(|g| g.database.as_ref()) {
        if db.status == "ok" {
            out.push_str(&format!("database: {}\n", db.manifest_digest));
        } else {
            out.push_str(&format!("database: {}\n", db.status));
        }
    }
    out.push_str(&format!("verdict:  {}\n", word(rec.verdict)));
    out.push_str(&format!("record:   {} ({})\n", desc.digest, path.display()));
    out
}
