//! CIS Docker Benchmark v1.6.0, section 4 ("Container Images and Build File"): checks
//! 4.1–4.12 on the final image (config, history, files of every layer) and, when given,
//! the Dockerfile it was built from. Each check answers `pass`, `fail` or `manual` (with
//! what a human should look at) and shows its evidence: a Dockerfile line, a history
//! entry, a config field or a file with its layer. A [`policy::Policy`] may exempt a
//! failed check until a date. Any text shown is redacted with the secrets detector.
//!
//! Dockle's ids for cross-reference: 4.1 CIS-DI-0001, 4.5 CIS-DI-0005, 4.6 CIS-DI-0006,
//! 4.7 CIS-DI-0007, 4.8 CIS-DI-0008, 4.9 CIS-DI-0009, 4.10 CIS-DI-0010.

pub mod dockerfile;
pub mod policy;
pub mod shell;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::LazyLock;

use lading_oci::constants::{ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME};
use lading_oci::{Image, Platform, Store};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gate::{ImageRef, Verdict};
use crate::layer_cache::{LayerCache, bytes, per_entry};
use crate::layers::{Entry, Kind};
use crate::secrets::detect::{Detector, Scratch, redact};
use dockerfile::{Body, Dockerfile, HistoryStep, expand, history_step, unquote};
use policy::{Date, Policy};

/// The check ids, in order.
pub const IDS: [&str; 12] = [
    "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.10", "4.11", "4.12",
];

const TITLES: [&str; 12] = [
    "Ensure that a user for the container has been created",
    "Ensure that containers use only trusted base images",
    "Ensure that unnecessary packages are not installed in the container",
    "Ensure images are scanned and rebuilt to include security patches",
    "Ensure Content trust for Docker is Enabled",
    "Ensure that HEALTHCHECK instructions have been added to container images",
    "Ensure update instructions are not used alone in Dockerfiles",
    "Ensure setuid and setgid permissions are removed",
    "Ensure that COPY is used instead of ADD in Dockerfiles",
    "Ensure secrets are not stored in Dockerfiles",
    "Ensure only verified packages are installed",
    "Ensure all signed artifacts are validated",
];

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Checked and fine.
    Pass,
    /// Checked and not fine: the gate fails.
    Fail,
    /// Not decidable from the image and Dockerfile: a human has to look.
    Manual,
    /// Failed, but a policy exemption that has not expired accepts it.
    Exempt,
}

/// What a check looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Evidence {
    /// A Dockerfile instruction.
    Dockerfile {
        /// The file as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// The instruction (redacted).
        text: String,
    },
    /// An entry of the image history.
    History {
        /// Index (0 = oldest).
        index: usize,
        /// The layer it made.
        #[serde(skip_serializing_if = "Option::is_none")]
        layer: Option<usize>,
        /// `created_by` (redacted).
        text: String,
    },
    /// A field of the image config.
    Config {
        /// Field (`User`, `Env`, `Labels`, `Healthcheck`).
        field: String,
        /// Value (redacted).
        value: String,
    },
    /// A manifest annotation.
    Annotation {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// A file of the final image.
    File {
        /// Path without a leading `/`.
        path: String,
        /// The layer that wrote it.
        layer: usize,
        /// That layer's digest.
        layer_digest: String,
        /// What about it.
        detail: String,
    },
}

/// How the policy treated a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemptionNote {
    /// The exemption's reason.
    pub reason: String,
    /// Its expiry.
    pub expires: String,
    /// Whether it turned a failure into `exempt`.
    pub applied: bool,
    /// What happened (`expired on ...`, `not needed: the check passes`, ...).
    pub note: String,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// CIS id (`4.1`).
    pub id: String,
    /// CIS title.
    pub title: String,
    /// Outcome.
    pub status: Status,
    /// What was checked.
    pub checked: String,
    /// What was found.
    pub result: String,
    /// For `manual`: what a human should check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    /// Evidence.
    pub evidence: Vec<Evidence>,
    /// Policy exemption, if one names this check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<ExemptionNote>,
}

/// Counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Manual.
    pub manual: usize,
    /// Failed but exempt.
    pub exempt: usize,
}

/// The CIS gate's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `cis`.
    pub gate: &'static str,
    /// Which benchmark.
    pub benchmark: &'static str,
    /// The image.
    pub image: ImageRef,
    /// The Dockerfile, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// `fail` when a check failed and no exemption applies.
    pub verdict: Verdict,
    /// Counts.
    pub summary: Summary,
    /// The checks, by id.
    pub checks: Vec<Check>,
    /// Things the reader should know about how the checks ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What to check.
pub struct Input<'a> {
    /// The store holding the image (and perhaps its base).
    pub store: &'a Store,
    /// The image.
    pub image: &'a Image,
    /// What earlier runs learned from its layers (`LayerCache::new(store)`).
    pub cache: &'a LayerCache,
    /// Its name as the user gave it.
    pub name: &'a str,
    /// The Dockerfile it was built from.
    pub dockerfile: Option<&'a Dockerfile>,
    /// The policy.
    pub policy: &'a Policy,
    /// The date exemptions are judged against.
    pub today: Date,
    /// The secrets detector (4.10, and redaction of every text shown).
    pub detector: &'a Detector,
}

/// Largest special file (passwd, package databases) read for the checks.
const MAX_FACT_FILE: u64 = 64 << 20;
/// Evidence entries shown per check before summarising the rest.
const MAX_EVIDENCE: usize = 50;

const BIN_DIRS: [&str; 6] = [
    "bin/",
    "sbin/",
    "usr/bin/",
    "usr/sbin/",
    "usr/local/bin/",
    "usr/local/sbin/",
];
const TOOLS: [&str; 27] = [
    "curl", "wget", "nc", "netcat", "ncat", "socat", "telnet", "ftp", "ssh", "scp", "sftp", "sshd",
    "rsync", "gcc", "cc", "g++", "clang", "make", "git", "vim", "vi", "nano", "sudo", "strace",
    "gdb", "tcpdump", "nmap",
];
const FACT_FILES: [&str; 4] = [
    "etc/passwd",
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
];

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum What {
    Fact,
    Suid,
    Tool,
    DpkgStatusD,
}

#[derive(Debug, Clone)]
struct Tracked {
    layer: usize,
    digest: String,
    mode: u32,
    what: What,
    data: Vec<u8>,
}

/// What the checks keep of one entry of a layer (per layer in the [`LayerCache`]): a
/// hard link's content is its target's, found when the layers are put together.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    what: What,
    #[serde(with = "bytes", default, skip_serializing_if = "Vec::is_empty")]
    data: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// What the cache keeps of a layer for these checks; bump it when [`Seen`] or
/// [`Facts::look`] changes.
const CACHED_AS: &str = "cis-1";

/// The final image's files that matter to the checks.
#[derive(Debug, Default)]
struct Facts {
    view: BTreeMap<String, Tracked>,
    notes: Vec<String>,
}

impl Facts {
    fn read(cache: &LayerCache, store: &Store, image: &Image) -> Result<Facts> {
        let layers = per_entry(cache, store, image, CACHED_AS, &mut Facts::look)?;
        let mut facts = Facts::default();
        let view = &mut facts.view;
        for layer in &layers {
            for (e, seen) in layer.each() {
                let prefix = format!("{}/", e.path);
                match &e.kind {
                    Kind::Whiteout => {
                        view.retain(|p, _| p != &e.path && !p.starts_with(&prefix));
                        continue;
                    }
                    Kind::Opaque => {
                        view.retain(|p, t| !p.starts_with(&prefix) || t.layer == e.layer);
                        continue;
                    }
                    Kind::Dir => continue,
                    _ => {
                        view.remove(&e.path);
                    }
                }
                let Some(seen) = seen else { continue };
                facts.notes.extend(seen.note.iter().cloned());
                let data = match &e.kind {
                    Kind::Hardlink(target)
                        if matches!(seen.what, What::Fact | What::DpkgStatusD) =>
                    {
                        view.get(target).map(|t| t.data.clone()).unwrap_or_default()
                    }
                    _ => seen.data.clone(),
                };
                view.insert(
                    e.path.clone(),
                    Tracked {
                        layer: e.layer,
                        digest: e.layer_digest.clone(),
                        mode: e.mode,
                        what: seen.what,
                        data,
                    },
                );
            }
        }
        Ok(facts)
    }

    /// What matters of one entry, from the entry alone.
    fn look(e: &Entry, reader: &mut dyn Read) -> Result<Option<Seen>> {
        if matches!(e.kind, Kind::Whiteout | Kind::Opaque | Kind::Dir) {
            return Ok(None);
        }
        let file_like = matches!(e.kind, Kind::File | Kind::Hardlink(_));
        let what = if file_like && FACT_FILES.contains(&e.path.as_str()) {
            What::Fact
        } else if e.kind == Kind::File
            && e.path.starts_with("var/lib/dpkg/status.d/")
            && !e.path.ends_with(".md5sums")
        {
            What::DpkgStatusD
        } else if file_like && e.mode & 0o6000 != 0 {
            What::Suid
        } else if !matches!(e.kind, Kind::Other)
            && BIN_DIRS.iter().any(|d| {
                e.path
                    .strip_prefix(d)
                    .is_some_and(|name| TOOLS.contains(&name))
            })
        {
            What::Tool
        } else {
            return Ok(None);
        };
        let mut seen = Seen {
            what,
            data: Vec::new(),
            note: None,
        };
        if matches!(what, What::Fact | What::DpkgStatusD) && e.kind == Kind::File {
            if e.size > MAX_FACT_FILE {
                seen.note = Some(format!(
                    "/{} is larger than {} MiB and was not read",
                    e.path,
                    MAX_FACT_FILE >> 20
                ));
            } else if !e.path.ends_with(".sqlite") {
                reader
                    .take(MAX_FACT_FILE)
                    .read_to_end(&mut seen.data)
                    .map_err(|source| Error::Layer {
                        layer: e.layer_digest.clone(),
                        source,
                    })?;
            }
        }
        Ok(Some(seen))
    }

    fn file(&self, path: &str) -> Option<&Tracked> {
        self.view.get(path)
    }

    fn evidence(path: &str, t: &Tracked, detail: String) -> Evidence {
        Evidence::File {
            path: path.to_string(),
            layer: t.layer,
            layer_digest: t.digest.clone(),
            detail,
        }
    }
}

/// A secret-looking variable name (`DB_PASSWORD`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`),
/// not one that names where a secret is (`PASSWORD_FILE`, `TOKEN_URL`).
pub fn secret_name(name: &str) -> bool {
    static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)(?:^|[_.-])(?:passw(?:or)?d|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|credentials?|auth[_.-]?token|secret[_.-]?key)(?:$|[_.-])",
        )
        .ok()
    });
    let lower = name.to_ascii_lowercase();
    let last = lower.rsplit(['_', '.', '-']).next().unwrap_or("");
    const NOT_A_SECRET: [&str; 20] = [
        "file", "path", "dir", "url", "uri", "endpoint", "host", "port", "user", "username",
        "name", "length", "len", "ttl", "expiry", "lifetime", "type", "header", "id", "env",
    ];
    NAME.as_ref().is_some_and(|r| r.is_match(&lower)) && !NOT_A_SECRET.contains(&last)
}

/// Whether a value of a secret-named variable is a real value (not empty, a reference to
/// another variable or a file, or a flag).
fn secret_value(value: &str) -> bool {
    let v = unquote(value);
    let lower = v.to_ascii_lowercase();
    !(v.is_empty()
        || v.starts_with('$')
        || v.starts_with('/')
        || matches!(
            lower.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "0" | "1" | "none" | "null"
        ))
}

/// Redacts everything shown: detector hits, values of secret-named assignments, and the
/// values 4.10 found by name.
struct Redactor<'a> {
    detector: &'a Detector,
    values: Vec<String>,
}

impl Redactor<'_> {
    fn clean(&self, text: &str) -> String {
        static ASSIGN: LazyLock<Option<Regex>> = LazyLock::new(|| {
            Regex::new(r#"([A-Za-z_][A-Za-z0-9_.-]*)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"';&|]+)"#).ok()
        });
        let mut out = self.detector.redact_text(text);
        for v in &self.values {
            if v.len() >= 4 {
                out = out.replace(v.as_str(), &redact(v.as_bytes()));
            }
        }
        if let Some(re) = ASSIGN.as_ref() {
            out = re
                .replace_all(&out, |c: &regex::Captures<'_>| {
                    let (name, eq, value) = (&c[1], &c[2], &c[3]);
                    if secret_name(name) && secret_value(value) && !value.contains("*****") {
                        format!("{name}{eq}{}", redact(unquote(value).as_bytes()))
                    } else {
                        c[0].to_string()
                    }
                })
                .into_owned();
        }
        out
    }
}

/// One build step the practice checks (4.7, 4.9, 4.11, 4.12) judge.
struct Step {
    evidence: Evidence,
    keyword: String,
    run: Option<String>,
    add: Option<(Vec<String>, bool)>,
}

struct Ctx<'a> {
    input: &'a Input<'a>,
    facts: Facts,
    history: Vec<HistoryStep>,
    /// History entries inherited from the base image (known when the base is in the store).
    inherited: Option<usize>,
    redactor: Redactor<'a>,
    notes: Vec<String>,
}

impl Ctx<'_> {
    fn df_evidence(&self, df: &Dockerfile, ins: &dockerfile::Instruction) -> Evidence {
        Evidence::Dockerfile {
            file: df.file.clone(),
            line: ins.line,
            text: self.redactor.clean(&ins.source),
        }
    }

    fn history_evidence(&self, h: &HistoryStep) -> Evidence {
        Evidence::History {
            index: h.index,
            layer: h.layer,
            text: self.redactor.clean(&h.text),
        }
    }

    fn config(&self, field: &str, value: &str) -> Evidence {
        Evidence::Config {
            field: field.to_string(),
            value: self.redactor.clean(value),
        }
    }

    /// The last history entry with `keyword`.
    fn last_history(&self, keyword: &str) -> Option<&HistoryStep> {
        self.history.iter().rev().find(|h| h.keyword == keyword)
    }

    /// The build steps: the Dockerfile's instructions, else the image's own history.
    fn steps(&self) -> Vec<Step> {
        if let Some(df) = self.input.dockerfile {
            return df
                .instructions
                .iter()
                .filter_map(|ins| {
                    let (keyword, run, add) = match &ins.body {
                        Body::Run(cmd) => ("RUN", Some(cmd.clone()), None),
                        Body::Add {
                            sources, checksum, ..
                        } => ("ADD", None, Some((sources.clone(), *checksum))),
                        _ => return None,
                    };
                    Some(Step {
                        evidence: self.df_evidence(df, ins),
                        keyword: keyword.to_string(),
                        run,
                        add,
                    })
                })
                .collect();
        }
        let skip = self.inherited.unwrap_or(0);
        self.history
            .iter()
            .skip(skip)
            .filter(|h| h.keyword == "RUN" || h.keyword == "ADD")
            .map(|h| {
                let add = (h.keyword == "ADD").then(|| {
                    let words: Vec<&str> = h.args.split_whitespace().collect();
                    let checksum = words.iter().any(|w| w.starts_with("--checksum"));
                    let plain: Vec<String> = words
                        .iter()
                        .filter(|w| !w.starts_with("--"))
                        .map(|w| w.to_string())
                        .collect();
                    let n = plain.len().saturating_sub(1);
                    (plain[..n].to_vec(), checksum)
                });
                Step {
                    evidence: self.history_evidence(h),
                    keyword: h.keyword.clone(),
                    run: h.command.clone(),
                    add,
                }
            })
            .collect()
    }

    fn steps_source(&self) -> String {
        match (self.input.dockerfile, self.inherited) {
            (Some(df), _) => df.file.clone(),
            (None, Some(n)) if n > 0 => {
                format!("the image history after the {n} entries inherited from its base image")
            }
            (None, _) => "the image history".to_string(),
        }
    }

    /// External base images: `(reference as written, expanded, evidence)`.
    fn bases(&self) -> Option<Vec<(String, Evidence)>> {
        let df = self.input.dockerfile?;
        let names = df.stage_names();
        let vars = df.global_args();
        let is_stage = |w: &str, before: usize| {
            let lw = w.to_ascii_lowercase();
            names
                .iter()
                .take(before)
                .any(|n| n.as_deref() == Some(lw.as_str()))
                || (w.parse::<usize>().is_ok_and(|i| i < before))
        };
        let mut out = Vec::new();
        let mut stage = 0;
        for ins in &df.instructions {
            let (word, before) = match &ins.body {
                Body::From { image, .. } => {
                    stage += 1;
                    (image, stage - 1)
                }
                Body::Copy { from: Some(f) } | Body::Add { from: Some(f), .. } => (f, stage),
                _ => continue,
            };
            let image = expand(&unquote(word), &vars);
            if image.eq_ignore_ascii_case("scratch") || is_stage(&image, before) {
                continue;
            }
            out.push((image, self.df_evidence(df, ins)));
        }
        Some(out)
    }

    fn annotations(&self) -> Vec<Evidence> {
        [ANNOTATION_BASE_NAME, ANNOTATION_BASE_DIGEST]
            .iter()
            .filter_map(|k| {
                self.input
                    .image
                    .manifest
                    .annotations
                    .get(*k)
                    .map(|v| Evidence::Annotation {
                        key: k.to_string(),
                        value: v.clone(),
                    })
            })
            .collect()
    }
}

fn check(id: &str, status: Status, checked: &str, result: String) -> Check {
    let n = IDS.iter().position(|i| *i == id).unwrap_or(0);
    Check {
        id: id.to_string(),
        title: TITLES[n].to_string(),
        status,
        checked: checked.to_string(),
        result,
        manual: None,
        evidence: Vec::new(),
        exemption: None,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// History entries the image inherited from its base, when the base is in the store and
/// its history is a prefix of the image's.
fn inherited_history(store: &Store, image: &Image) -> Option<usize> {
    let digest = image.manifest.annotations.get(ANNOTATION_BASE_DIGEST)?;
    let desc = lading_oci::source::resolve_in_store(store, digest).ok()??;
    let base = Image::load(store, &desc, &Platform::host()).ok()?;
    let n = base.config.history.len();
    let same = image.config.history.len() >= n
        && base
            .config
            .history
            .iter()
            .zip(&image.config.history)
            .all(|(a, b)| a.created_by == b.created_by);
    same.then_some(n)
}

/// Runs every check.
pub fn run(input: &Input<'_>) -> Result<Report> {
    let image = input.image;
    // `Facts::read` verifies the layers against their digests (read or cached).
    let facts = Facts::read(input.cache, input.store, image)?;
    let mut layer = 0;
    let history: Vec<HistoryStep> = image
        .config
        .history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let made = (!h.empty_layer && layer < image.layers().len()).then_some(layer);
            if !h.empty_layer {
                layer += 1;
            }
            history_step(i, made, h.created_by.as_deref().unwrap_or(""))
        })
        .collect();
    let mut ctx = Ctx {
        input,
        notes: facts.notes.clone(),
        facts,
        history,
        inherited: inherited_history(input.store, image),
        redactor: Redactor {
            detector: input.detector,
            values: Vec::new(),
        },
    };
    if input.dockerfile.is_none()
        && ctx.inherited.is_none()
        && image
            .manifest
            .annotations
            .contains_key(ANNOTATION_BASE_DIGEST)
    {
        ctx.notes.push("the base image is not in the store: its history entries could not be told apart, so 4.7, 4.9, 4.11 and 4.12 judge the whole history".into());
    }
    // 4.10 first: it learns the secret values every other check must redact.
    let c410 = check_4_10(&mut ctx);
    let mut checks = vec![
        check_4_1(&ctx),
        check_4_2(&ctx),
        check_4_3(&ctx),
        check_4_4(&ctx),
        check_4_5(&ctx),
        check_4_6(&ctx),
        check_4_7(&ctx),
        check_4_8(&ctx),
        check_4_9(&ctx),
        c410,
        check_4_11(&ctx),
        check_4_12(&ctx),
    ];
    for c in &mut checks {
        if c.evidence.len() > MAX_EVIDENCE {
            let more = c.evidence.len() - MAX_EVIDENCE;
            c.evidence.truncate(MAX_EVIDENCE);
            c.result.push_str(&format!(" ({more} more not shown)"));
        }
    }
    apply_policy(&mut checks, input.policy, input.today);
    let mut summary = Summary::default();
    for c in &checks {
        match c.status {
            Status::Pass => summary.pass += 1,
            Status::Fail => summary.fail += 1,
            Status::Manual => summary.manual += 1,
            Status::Exempt => summary.exempt += 1,
        }
    }
    Ok(Report {
        gate: "cis",
        benchmark: "CIS Docker Benchmark v1.6.0, section 4 (container images and build file)",
        image: ImageRef::new(input.name, image),
        dockerfile: input.dockerfile.map(|d| d.file.clone()),
        verdict: if summary.fail > 0 {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        summary,
        checks,
        notes: ctx.notes,
    })
}

/// Applies exemptions: a failed check with a current exemption becomes `exempt`.
pub fn apply_policy(checks: &mut [Check], policy: &Policy, today: Date) {
    for c in checks.iter_mut() {
        let Some(e) = policy.exemptions.iter().find(|e| e.id == c.id) else {
            continue;
        };
        let current = today < e.expires;
        let (applied, note) = match (c.status, current) {
            (Status::Fail, true) => (true, format!("accepted until {}", e.expires)),
            (Status::Fail, false) => (
                false,
                format!("expired on {}: it no longer applies", e.expires),
            ),
            (_, false) => (false, format!("expired on {} (and not needed)", e.expires)),
            (Status::Pass, true) => (false, "not needed: the check passes".into()),
            (_, true) => (false, "not needed: the check does not fail".into()),
        };
        if applied {
            c.status = Status::Exempt;
        }
        c.exemption = Some(ExemptionNote {
            reason: e.reason.clone(),
            expires: e.expires.to_string(),
            applied,
            note,
        });
    }
}

fn check_4_1(ctx: &Ctx<'_>) -> Check {
    let checked =
        "the user the container runs as (config User) and that /etc/passwd of the image defines it";
    let user = ctx
        .input
        .image
        .config
        .config
        .user
        .clone()
        .unwrap_or_default();
    let mut evidence = vec![ctx.config(
        "User",
        if user.is_empty() {
            "(unset: root)"
        } else {
            &user
        },
    )];
    if let Some(df) = ctx.input.dockerfile {
        let last = df.final_stage();
        if let Some(ins) = df
            .instructions
            .iter()
            .rev()
            .find(|i| i.stage == last && matches!(i.body, Body::User(_)))
        {
            evidence.push(ctx.df_evidence(df, ins));
        }
    } else if let Some(h) = ctx.last_history("USER") {
        evidence.push(ctx.history_evidence(h));
    }
    let name = user.split(':').next().unwrap_or("").trim();
    let passwd = ctx.facts.file("etc/passwd");
    let lookup = |n: &str| -> Option<u64> {
        let text = String::from_utf8_lossy(&passwd?.data).into_owned();
        text.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == n).then(|| f.nth(1)?.parse().ok())?
        })
    };
    if let Some(t) = passwd {
        evidence.push(Facts::evidence("etc/passwd", t, "the image's users".into()));
    }
    let (status, result) = if name.is_empty() || name == "root" || name == "0" {
        (
            Status::Fail,
            "the container runs as root: add a user and a USER instruction".to_string(),
        )
    } else if let Ok(uid) = name.parse::<u64>() {
        (Status::Pass, format!("runs as uid {uid}"))
    } else if passwd.is_none() {
        (
            Status::Fail,
            format!("USER {name}, but the image has no /etc/passwd: the user was never created"),
        )
    } else {
        match lookup(name) {
            Some(0) => (Status::Fail, format!("user {name} has uid 0 (root)")),
            Some(uid) => (Status::Pass, format!("runs as {name} (uid {uid})")),
            None => (
                Status::Fail,
                format!("user {name} is not in /etc/passwd: it was never created"),
            ),
        }
    };
    let mut c = check("4.1", status, checked, result);
    c.evidence = evidence;
    c
}

fn check_4_2(ctx: &Ctx<'_>) -> Check {
    let policy = ctx.input.policy;
    let registries = if policy.allowed_registries.is_empty() {
        "no allowed_registries in the policy".to_string()
    } else {
        format!("allowed: {}", policy.allowed_registries.join(", "))
    };
    match ctx.bases() {
        Some(bases) => {
            let checked = "every FROM and COPY/ADD --from image of the Dockerfile: pinned by digest, from an allowed registry";
            let mut bad = Vec::new();
            let mut evidence = Vec::new();
            for (image, ev) in bases {
                let pinned = image.contains("@sha256:") || image.contains("@sha512:");
                let allowed = policy.registry_allowed(&image);
                if !pinned {
                    bad.push(format!("{image} is not pinned by digest"));
                }
                if !allowed {
                    bad.push(format!(
                        "{image} is not from an allowed registry ({registries})"
                    ));
                }
                evidence.push(ev);
            }
            let n = evidence.len();
            let mut c = if !bad.is_empty() {
                check("4.2", Status::Fail, checked, bad.join("; "))
            } else if n == 0 {
                check(
                    "4.2",
                    Status::Pass,
                    checked,
                    "no base image: built FROM scratch".into(),
                )
            } else {
                check(
                    "4.2",
                    Status::Pass,
                    checked,
                    format!(
                        "{} pinned by digest ({registries})",
                        plural(n, "base image", "base images")
                    ),
                )
            };
            c.evidence = evidence;
            c
        }
        None => {
            let checked =
                "the base image the manifest records (org.opencontainers.image.base.name/digest)";
            let evidence = ctx.annotations();
            let name = ctx
                .input
                .image
                .manifest
                .annotations
                .get(ANNOTATION_BASE_NAME);
            let mut c = match name {
                Some(n) if !policy.registry_allowed(n) => check(
                    "4.2",
                    Status::Fail,
                    checked,
                    format!("base {n} is not from an allowed registry ({registries})"),
                ),
                Some(n) => {
                    let mut c = check(
                        "4.2",
                        Status::Manual,
                        checked,
                        format!("built from {n} ({registries})"),
                    );
                    c.manual = Some("pass --dockerfile to check that every FROM pins its image by digest, or confirm the base is trusted".into());
                    c
                }
                None => {
                    let mut c = check(
                        "4.2",
                        Status::Manual,
                        checked,
                        "the image does not record its base image".into(),
                    );
                    c.manual = Some("pass --dockerfile, or confirm the base image comes from a trusted registry and is pinned by digest".into());
                    c
                }
            };
            c.evidence = evidence;
            c
        }
    }
}

fn check_4_3(ctx: &Ctx<'_>) -> Check {
    let checked = "the package databases (dpkg, apk, rpm) and tools often not needed at run time in the bin directories";
    let mut evidence = Vec::new();
    let mut parts = Vec::new();
    if let Some(t) = ctx.facts.file("var/lib/dpkg/status") {
        let text = String::from_utf8_lossy(&t.data);
        let n = text
            .split("\n\n")
            .filter(|s| {
                s.lines()
                    .any(|l| l.starts_with("Status:") && l.trim_end().ends_with(" installed"))
            })
            .count();
        parts.push(format!("{n} dpkg packages"));
        evidence.push(Facts::evidence(
            "var/lib/dpkg/status",
            t,
            plural(n, "package installed", "packages installed"),
        ));
    }
    let status_d: Vec<(&String, &Tracked)> = ctx
        .facts
        .view
        .iter()
        .filter(|(_, t)| matches!(t.what, What::DpkgStatusD))
        .collect();
    if let Some((p, t)) = status_d.first() {
        parts.push(format!("{} dpkg packages (status.d)", status_d.len()));
        evidence.push(Facts::evidence(
            p,
            t,
            format!("one of {} in var/lib/dpkg/status.d", status_d.len()),
        ));
    }
    if let Some(t) = ctx.facts.file("lib/apk/db/installed") {
        let n = String::from_utf8_lossy(&t.data)
            .lines()
            .filter(|l| l.starts_with("P:"))
            .count();
        parts.push(format!("{n} apk packages"));
        evidence.push(Facts::evidence(
            "lib/apk/db/installed",
            t,
            plural(n, "package installed", "packages installed"),
        ));
    }
    if let Some(t) = ctx.facts.file("var/lib/rpm/rpmdb.sqlite") {
        parts.push("an rpm database".into());
        evidence.push(Facts::evidence(
            "var/lib/rpm/rpmdb.sqlite",
            t,
            "rpm database".into(),
        ));
    }
    let tools: Vec<(&String, &Tracked)> = ctx
        .facts
        .view
        .iter()
        .filter(|(_, t)| matches!(t.what, What::Tool))
        .collect();
    if !tools.is_empty() {
        let mut names: Vec<&str> = tools
            .iter()
            .filter_map(|(p, _)| p.rsplit('/').next())
            .collect();
        names.sort_unstable();
        names.dedup();
        parts.push(format!("tools: {}", names.join(", ")));
    }
    for (p, t) in &tools {
        evidence.push(Facts::evidence(
            p,
            t,
            "tool often not needed at run time".into(),
        ));
    }
    let result = if parts.is_empty() {
        "no package database and none of the listed tools".to_string()
    } else {
        parts.join("; ")
    };
    let mut c = check("4.3", Status::Manual, checked, result);
    c.manual = Some("review the installed packages and tools and remove what the application does not need at run time (package managers, shells, compilers, network tools)".into());
    c.evidence = evidence;
    c
}

fn check_4_4(ctx: &Ctx<'_>) -> Check {
    let mut c = check(
        "4.4",
        Status::Manual,
        "whether the image's packages are current: that needs a vulnerability scan of this digest",
        format!(
            "scan {} with the vulnerability gate",
            ctx.input.image.descriptor.digest
        ),
    );
    c.manual = Some("run the vulnerability gate on this digest and rebuild from a patched base image (and with updated packages) whenever fixes are available; rebuild regularly".into());
    c.evidence = ctx.annotations();
    c
}

fn check_4_5(ctx: &Ctx<'_>) -> Check {
    let checked = "whether a signature of each base image has to be verified";
    let (bases, evidence) = match ctx.bases() {
        Some(b) => {
            let names: Vec<String> = b.iter().map(|(n, _)| n.clone()).collect();
            (Some(names), b.into_iter().map(|(_, e)| e).collect())
        }
        None => (
            ctx.input
                .image
                .manifest
                .annotations
                .get(ANNOTATION_BASE_NAME)
                .map(|n| vec![n.clone()]),
            ctx.annotations(),
        ),
    };
    let mut c = match bases {
        Some(b) if b.is_empty() => check(
            "4.5",
            Status::Pass,
            checked,
            "no base image: built FROM scratch, nothing to verify".into(),
        ),
        Some(b) => {
            let mut c = check(
                "4.5",
                Status::Manual,
                checked,
                format!("base images to verify: {}", b.join(", ")),
            );
            c.manual = Some("verify the signatures of these images before building (cosign verify, or DOCKER_CONTENT_TRUST=1 when pulling); lading does not verify base image signatures yet".into());
            c
        }
        None => {
            let mut c = check(
                "4.5",
                Status::Manual,
                checked,
                "the image does not record its base image".into(),
            );
            c.manual = Some("pass --dockerfile, or confirm the base image's signature was verified when it was pulled".into());
            c
        }
    };
    c.evidence = evidence;
    c
}

fn check_4_6(ctx: &Ctx<'_>) -> Check {
    let checked = "the image config's Healthcheck";
    let hc = ctx.input.image.config.config.healthcheck.as_ref();
    let test = hc.map(|h| h.test.clone()).unwrap_or_default();
    let mut evidence = vec![ctx.config(
        "Healthcheck",
        &if test.is_empty() {
            "(unset)".to_string()
        } else {
            test.join(" ")
        },
    )];
    if let Some(df) = ctx.input.dockerfile {
        let last = df.final_stage();
        if let Some(ins) = df
            .instructions
            .iter()
            .rev()
            .find(|i| i.stage == last && matches!(i.body, Body::Healthcheck { .. }))
        {
            evidence.push(ctx.df_evidence(df, ins));
        }
    } else if let Some(h) = ctx.last_history("HEALTHCHECK") {
        evidence.push(ctx.history_evidence(h));
    }
    let (status, result) = match test.first().map(String::as_str) {
        None => (
            Status::Fail,
            "no HEALTHCHECK: add one to the Dockerfile".to_string(),
        ),
        Some("NONE") => (
            Status::Fail,
            "HEALTHCHECK NONE disables the check".to_string(),
        ),
        Some(_) => (Status::Pass, format!("HEALTHCHECK {}", test.join(" "))),
    };
    let mut c = check("4.6", status, checked, result);
    c.evidence = evidence;
    c
}

/// Whether a command refreshes package metadata (`apt-get update`), installs or upgrades
/// packages, or neither.
fn package_action(cmd: &shell::Command) -> (bool, bool) {
    let args: Vec<&str> = cmd.args().iter().map(String::as_str).collect();
    let sub = |takes_value: &[&str]| -> Option<&str> {
        let mut i = 0;
        while i < args.len() {
            let a = args[i];
            if a.starts_with('-') {
                if takes_value.contains(&a) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            return Some(a);
        }
        None
    };
    match cmd.name() {
        "apt-get" | "apt" | "aptitude" => match sub(&[
            "-o",
            "-t",
            "-c",
            "--option",
            "--target-release",
            "--config-file",
        ]) {
            Some("update") => (true, false),
            Some(
                "install" | "upgrade" | "dist-upgrade" | "full-upgrade" | "build-dep" | "reinstall",
            ) => (false, true),
            _ => (false, false),
        },
        "apk" => match sub(&[
            "-X",
            "--repository",
            "-p",
            "--root",
            "--arch",
            "--cache-dir",
            "--keys-dir",
        ]) {
            Some("update") => (true, false),
            Some("add" | "upgrade" | "fix") => (false, true),
            _ => (false, false),
        },
        "yum" | "dnf" | "microdnf" | "tdnf" => match sub(&[
            "--setopt",
            "--enablerepo",
            "--disablerepo",
            "--releasever",
            "-c",
            "--installroot",
        ]) {
            Some("makecache" | "check-update") => (true, false),
            Some(
                "install" | "update" | "upgrade" | "reinstall" | "groupinstall" | "localinstall"
                | "distro-sync",
            ) => (false, true),
            _ => (false, false),
        },
        "zypper" => match sub(&["--root", "-R"]) {
            Some("refresh" | "ref") => (true, false),
            Some("install" | "in" | "update" | "up" | "dist-upgrade" | "dup" | "patch") => {
                (false, true)
            }
            _ => (false, false),
        },
        "pacman" => {
            let sync = args.iter().find(|a| a.starts_with("-S"));
            match sync {
                Some(s)
                    if s.contains('y')
                        && !s.contains('u')
                        && !args.iter().any(|a| !a.starts_with('-')) =>
                {
                    (true, false)
                }
                Some(_) => (false, true),
                None => (false, false),
            }
        }
        _ => (false, false),
    }
}

fn check_4_7(ctx: &Ctx<'_>) -> Check {
    let checked = format!(
        "every RUN in {}: a package index update (apt-get update, apk update, yum makecache, ...) must come with an install in the same RUN",
        ctx.steps_source()
    );
    let mut evidence = Vec::new();
    let mut runs = 0;
    for step in ctx.steps() {
        let Some(cmd) = &step.run else { continue };
        runs += 1;
        let (mut update, mut install) = (false, false);
        for c in shell::commands(cmd) {
            let (u, i) = package_action(&c);
            update |= u;
            install |= i;
        }
        if update && !install {
            evidence.push(step.evidence);
        }
    }
    let mut c = if runs == 0 {
        check("4.7", Status::Pass, &checked, "no RUN instructions".into())
    } else if evidence.is_empty() {
        check(
            "4.7",
            Status::Pass,
            &checked,
            format!(
                "{}: none updates alone",
                plural(runs, "RUN checked", "RUNs checked")
            ),
        )
    } else {
        check(
            "4.7",
            Status::Fail,
            &checked,
            format!(
                "{} the package index alone; a cached layer then serves stale indexes: update and install in one RUN",
                plural(evidence.len(), "RUN updates", "RUNs update")
            ),
        )
    };
    c.evidence = evidence;
    c
}

fn check_4_8(ctx: &Ctx<'_>) -> Check {
    let checked = "the mode of every file of the final image (setuid 04000, setgid 02000)";
    let evidence: Vec<Evidence> = ctx
        .facts
        .view
        .iter()
        .filter(|(_, t)| matches!(t.what, What::Suid))
        .map(|(p, t)| {
            let bits = match (t.mode & 0o4000 != 0, t.mode & 0o2000 != 0) {
                (true, true) => "setuid and setgid",
                (true, false) => "setuid",
                _ => "setgid",
            };
            Facts::evidence(p, t, format!("mode {:04o} ({bits})", t.mode & 0o7777))
        })
        .collect();
    let mut c = if evidence.is_empty() {
        check(
            "4.8",
            Status::Pass,
            checked,
            "no setuid or setgid files".into(),
        )
    } else {
        check(
            "4.8",
            Status::Fail,
            checked,
            format!(
                "{} with setuid or setgid: remove the bits (chmod u-s,g-s) unless the application needs them",
                plural(evidence.len(), "file", "files")
            ),
        )
    };
    c.evidence = evidence;
    c
}

fn check_4_9(ctx: &Ctx<'_>) -> Check {
    let checked = format!("the ADD instructions in {}", ctx.steps_source());
    let evidence: Vec<Evidence> = ctx
        .steps()
        .into_iter()
        .filter(|s| s.keyword == "ADD")
        .map(|s| s.evidence)
        .collect();
    let mut c = if evidence.is_empty() {
        check("4.9", Status::Pass, &checked, "no ADD: COPY only".into())
    } else {
        check(
            "4.9",
            Status::Fail,
            &checked,
            format!(
                "{}: use COPY (and an explicit, verified download for URLs and archives)",
                plural(evidence.len(), "ADD instruction", "ADD instructions")
            ),
        )
    };
    c.evidence = evidence;
    c
}

fn check_4_10(ctx: &mut Ctx<'_>) -> Check {
    let checked = "ENV, ARG and LABEL names and values, RUN lines and every history entry (inherited ones too), with the secrets rules and secret-looking names";
    let detector = ctx.input.detector;
    let mut scratch = Scratch::default();
    let mut found: Vec<(Evidence, String)> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let hits = |text: &str, scratch: &mut Scratch| -> Vec<String> {
        detector
            .scan(None, text.as_bytes(), scratch)
            .iter()
            .map(|h| detector.rule(h.rule).id.clone())
            .collect()
    };
    // Evidence is built after all values are known, so each shows redacted.
    enum Place {
        Df(usize),
        Env(String),
        Label(String, String),
        History(usize),
    }
    let mut places: Vec<(Place, String)> = Vec::new();
    if let Some(df) = ctx.input.dockerfile {
        for (i, ins) in df.instructions.iter().enumerate() {
            let mut why: Vec<String> = Vec::new();
            let mut text = ins.source.clone();
            if let Body::Run(cmd) = &ins.body {
                text = format!("{text}\n{cmd}");
            }
            why.extend(
                hits(&text, &mut scratch)
                    .into_iter()
                    .map(|r| format!("rule {r}")),
            );
            let pairs: Vec<(String, Option<String>)> = match &ins.body {
                Body::Env(p) | Body::Label(p) => p
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect(),
                Body::Arg(p) => p.clone(),
                _ => Vec::new(),
            };
            for (k, v) in pairs {
                let k = unquote(&k);
                if let Some(v) = v.filter(|v| secret_name(&k) && secret_value(v)) {
                    why.push(format!("{k} looks like a secret and has a value"));
                    values.push(unquote(&v));
                }
            }
            if !why.is_empty() {
                places.push((Place::Df(i), why.join("; ")));
            }
        }
    }
    let config = &ctx.input.image.config.config;
    for env in &config.env {
        let (k, v) = env.split_once('=').unwrap_or((env, ""));
        let mut why: Vec<String> = hits(env, &mut scratch)
            .into_iter()
            .map(|r| format!("rule {r}"))
            .collect();
        if secret_name(k) && secret_value(v) {
            why.push(format!("{k} looks like a secret and has a value"));
            values.push(v.to_string());
        }
        if !why.is_empty() {
            places.push((Place::Env(env.clone()), why.join("; ")));
        }
    }
    for (k, v) in &config.labels {
        let text = format!("{k}={v}");
        let mut why: Vec<String> = hits(&text, &mut scratch)
            .into_iter()
            .map(|r| format!("rule {r}"))
            .collect();
        if secret_name(k) && secret_value(v) {
            why.push(format!("label {k} looks like a secret and has a value"));
            values.push(v.clone());
        }
        if !why.is_empty() {
            places.push((Place::Label(k.clone(), v.clone()), why.join("; ")));
        }
    }
    for (i, h) in ctx.history.iter().enumerate() {
        let mut why: Vec<String> = hits(&h.text, &mut scratch)
            .into_iter()
            .map(|r| format!("rule {r}"))
            .collect();
        for (k, v) in &h.build_args {
            if secret_name(k) && secret_value(v) {
                why.push(format!("build argument {k} recorded with its value"));
                values.push(v.clone());
            }
        }
        if !why.is_empty() {
            places.push((Place::History(i), why.join("; ")));
        }
    }
    values.sort();
    values.dedup();
    ctx.redactor.values = values;
    for (place, why) in places {
        let ev = match place {
            Place::Df(i) => match ctx.input.dockerfile {
                Some(df) => ctx.df_evidence(df, &df.instructions[i]),
                None => continue,
            },
            Place::Env(env) => ctx.config("Env", &env),
            Place::Label(k, v) => ctx.config("Labels", &format!("{k}={v}")),
            Place::History(i) => ctx.history_evidence(&ctx.history[i]),
        };
        found.push((ev, why));
    }
    let mut uniq: Vec<String> = found
        .iter()
        .flat_map(|(_, w)| w.split("; ").map(str::to_string))
        .collect();
    uniq.sort();
    uniq.dedup();
    let mut c = if found.is_empty() {
        check("4.10", Status::Pass, checked, "no secrets found".into())
    } else {
        check(
            "4.10",
            Status::Fail,
            checked,
            format!(
                "{} ({}); pass secrets with RUN --mount=type=secret and at run time, never in ENV, ARG or LABEL",
                plural(found.len(), "place holds a secret", "places hold secrets"),
                uniq.join("; ")
            ),
        )
    };
    c.evidence = found.into_iter().map(|(e, _)| e).collect();
    c
}

/// Why a command installs without verification, if it does.
fn unverified(cmd: &shell::Command) -> Vec<String> {
    let mut why = Vec::new();
    for (k, v) in &cmd.assigns {
        if let Some(r) = insecure_setting(k, v) {
            why.push(r);
        }
    }
    let name = cmd.name();
    let args = cmd.args();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    for flag in [
        "--allow-unauthenticated",
        "--force-yes",
        "--allow-insecure-repositories",
        "--no-check-certificate",
        "--allow-untrusted",
        "--nogpgcheck",
        "--no-gpg-checks",
        "--trusted-host",
        "--nosignature",
        "--nodigest",
        "--insecure",
        "--no-verify-ssl",
    ] {
        let applies = flag != "--insecure"
            || matches!(name, "curl" | "podman" | "skopeo" | "buildah" | "helm");
        if applies && has(flag) {
            why.push(format!("{name} {flag}"));
        }
    }
    for a in args {
        let lower = a.to_ascii_lowercase();
        if lower.contains("allowunauthenticated=true")
            || lower.contains("allowinsecurerepositories=true")
            || lower.contains("verify-peer=false")
            || lower.contains("[trusted=yes]")
            || lower.contains("gpgcheck=0")
            || lower.contains("http.sslverify=false")
        {
            why.push(format!("{name} {a}"));
        }
    }
    if name == "curl" {
        for a in args {
            if a.starts_with('-') && !a.starts_with("--") {
                // Short options up to the first one that takes a value.
                for ch in a[1..].chars() {
                    if ch == 'k' {
                        why.push(format!("curl {a} (-k: no certificate check)"));
                        break;
                    }
                    if "oHdeuXATxwmrEbcKFYyCzQ".contains(ch) {
                        break;
                    }
                }
            }
        }
    }
    let lowered: Vec<String> = args.iter().map(|a| a.to_ascii_lowercase()).collect();
    let joined = lowered.join(" ");
    if matches!(name, "npm" | "yarn" | "pnpm")
        && (joined.contains("strict-ssl false")
            || joined.contains("strict-ssl=false")
            || joined.contains("strict-ssl false"))
    {
        why.push(format!("{name} {} (no TLS verification)", args.join(" ")));
    }
    if name == "git" && joined.contains("http.sslverify false") {
        why.push("git config http.sslVerify false".into());
    }
    let pip = matches!(name, "pip" | "pip3")
        || (name.starts_with("python") && lowered.first().is_some_and(|a| a == "-m"));
    if pip && lowered.iter().any(|a| a == "config") && joined.contains("trusted-host") {
        why.push(format!("{name} config set trusted-host"));
    }
    why.sort();
    why.dedup();
    why
}

/// An environment setting that turns verification off.
fn insecure_setting(name: &str, value: &str) -> Option<String> {
    let v = unquote(value).to_ascii_lowercase();
    let bad = match name {
        "NODE_TLS_REJECT_UNAUTHORIZED" => v == "0",
        "GIT_SSL_NO_VERIFY" => !v.is_empty() && v != "0" && v != "false",
        "PIP_TRUSTED_HOST" => !v.is_empty(),
        "npm_config_strict_ssl" | "NPM_CONFIG_STRICT_SSL" => v == "false",
        "PYTHONHTTPSVERIFY" => v == "0",
        "GOSUMDB" => v == "off",
        "GOINSECURE" | "GONOSUMCHECK" | "GONOSUMDB" => !v.is_empty(),
        "GOFLAGS" => v.contains("-insecure"),
        _ => false,
    };
    bad.then(|| format!("{name}={}", unquote(value)))
}

fn check_4_11(ctx: &Ctx<'_>) -> Check {
    let checked = format!(
        "every RUN in {} and the image's ENV: package installs and downloads without signature or certificate checks (--allow-unauthenticated, --force-yes, --no-check-certificate, curl -k, pip --trusted-host, apk --allow-untrusted, npm strict-ssl false, --nogpgcheck, ...)",
        ctx.steps_source()
    );
    let mut evidence = Vec::new();
    let mut reasons = Vec::new();
    for step in ctx.steps() {
        let Some(cmd) = &step.run else { continue };
        let why: Vec<String> = shell::commands(cmd).iter().flat_map(unverified).collect();
        if !why.is_empty() {
            reasons.extend(why);
            evidence.push(step.evidence);
        }
    }
    if let Some(df) = ctx.input.dockerfile {
        for ins in &df.instructions {
            let pairs: Vec<(String, String)> = match &ins.body {
                Body::Env(p) => p.clone(),
                Body::Arg(p) => p
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                    .collect(),
                _ => continue,
            };
            let why: Vec<String> = pairs
                .iter()
                .filter_map(|(k, v)| insecure_setting(&unquote(k), v))
                .collect();
            if !why.is_empty() {
                reasons.extend(why);
                evidence.push(ctx.df_evidence(df, ins));
            }
        }
    }
    for env in &ctx.input.image.config.config.env {
        let (k, v) = env.split_once('=').unwrap_or((env, ""));
        if let Some(r) = insecure_setting(k, v) {
            reasons.push(r);
            evidence.push(ctx.config("Env", env));
        }
    }
    reasons.sort();
    reasons.dedup();
    let mut c = if evidence.is_empty() {
        check(
            "4.11",
            Status::Pass,
            &checked,
            "no unverified installs".into(),
        )
    } else {
        check(
            "4.11",
            Status::Fail,
            &checked,
            format!(
                "verification turned off: {}",
                ctx.redactor.clean(&reasons.join("; "))
            ),
        )
    };
    c.evidence = evidence;
    c
}

/// Whether a RUN verifies what it downloads (checksum or signature).
fn verifies(cmds: &[shell::Command]) -> bool {
    cmds.iter().any(|c| {
        let args = c.args();
        let check_flag = args.iter().any(|a| a == "-c" || a == "--check");
        match c.name() {
            "sha256sum" | "sha512sum" | "sha384sum" | "sha1sum" | "b2sum" | "shasum" => check_flag,
            "gpg" | "gpg2" => args.iter().any(|a| a == "--verify"),
            "gpgv" | "gpgv2" => true,
            "cosign" => args.first().is_some_and(|a| a.starts_with("verify")),
            "minisign" => args.iter().any(|a| a == "-V"),
            "openssl" => args.iter().any(|a| a == "-verify"),
            _ => false,
        }
    })
}

fn check_4_12(ctx: &Ctx<'_>) -> Check {
    let checked = format!(
        "downloads in {}: ADD <url> needs --checksum; RUN curl/wget downloads should be verified (sha256sum -c, gpg --verify, cosign verify) in the same RUN",
        ctx.steps_source()
    );
    let mut failed = Vec::new();
    let mut unclear = Vec::new();
    let mut downloads = 0;
    for step in ctx.steps() {
        if let Some((sources, checksum)) = &step.add {
            let remote = sources
                .iter()
                .any(|s| s.starts_with("http://") || s.starts_with("https://"));
            if remote {
                downloads += 1;
                if !checksum {
                    failed.push(step.evidence.clone());
                }
            }
        }
        if let Some(cmd) = &step.run {
            let cmds = shell::commands(cmd);
            let fetch = cmds.iter().any(|c| {
                matches!(c.name(), "curl" | "wget")
                    && c.args()
                        .iter()
                        .any(|a| a.contains("://") || !a.starts_with('-'))
            });
            if fetch {
                downloads += 1;
                if !verifies(&cmds) {
                    unclear.push(step.evidence.clone());
                }
            }
        }
    }
    let mut c = if !failed.is_empty() {
        let mut c = check(
            "4.12",
            Status::Fail,
            &checked,
            format!(
                "{} without --checksum: nothing validates what was downloaded",
                plural(failed.len(), "ADD of a URL", "ADDs of URLs")
            ),
        );
        c.evidence = failed;
        c.evidence.extend(unclear);
        c
    } else if !unclear.is_empty() {
        let mut c = check(
            "4.12",
            Status::Manual,
            &checked,
            format!(
                "{} without a visible checksum or signature check",
                plural(unclear.len(), "RUN downloads", "RUNs download")
            ),
        );
        c.manual = Some("confirm each download is validated (checksum pinned in the Dockerfile, or a signature verified with gpg/cosign) before it is used".into());
        c.evidence = unclear;
        c
    } else if downloads == 0 {
        check(
            "4.12",
            Status::Pass,
            &checked,
            "no downloads during the build".into(),
        )
    } else {
        check(
            "4.12",
            Status::Pass,
            &checked,
            format!("{} verified", plural(downloads, "download", "downloads")),
        )
    };
    if c.status == Status::Pass {
        c.evidence = Vec::new();
    }
    c
}

/// The report as a table for humans.
pub fn render_table(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "cis: {} {}", report.image.name, report.image.digest);
    if let Some(df) = &report.dockerfile {
        let _ = writeln!(out, "dockerfile: {df}");
    }
    let _ = writeln!(out, "{}", report.benchmark);
    let _ = writeln!(out);
    for c in &report.checks {
        let status = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Manual => "MANUAL",
            Status::Exempt => "EXEMPT",
        };
        let _ = writeln!(out, "{:<5} {:<7} {}", c.id, status, c.title);
        let _ = writeln!(out, "      {}", c.result);
        for e in &c.evidence {
            let line = match e {
                Evidence::Dockerfile { file, line, text } => format!("{file}:{line}: {text}"),
                Evidence::History { index, layer, text } => match layer {
                    Some(l) => format!("history #{index} (layer {l}): {text}"),
                    None => format!("history #{index}: {text}"),
                },
                Evidence::Config { field, value } => format!("config {field}: {value}"),
                Evidence::Annotation { key, value } => format!("annotation {key}: {value}"),
                Evidence::File {
                    path,
                    layer,
                    detail,
                    ..
                } => format!("/{path} (layer {layer}): {detail}"),
            };
            let line = line.replace('\n', "\\n");
            let short: String = line.chars().take(160).collect();
            let _ = writeln!(out, "      - {short}");
        }
        if let Some(m) = &c.manual {
            let _ = writeln!(out, "      manual: {m}");
        }
        if let Some(x) = &c.exemption {
            let _ = writeln!(
                out,
                "      exemption (expires {}): {} — {}",
                x.expires, x.reason, x.note
            );
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} pass, {} fail, {} manual, {} exempt: {}",
        s.pass,
        s.fail,
        s.manual,
        s.exempt,
        match report.verdict {
            Verdict::Pass => "PASS",
            _ => "FAIL",
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "api_key",
            "SECRET_KEY_BASE",
            "com.acme.deploy-token",
        ] {
            assert!(secret_name(n), "{n}");
        }
        for n in [
            "PASSWORD_FILE",
            "TOKENIZERS_PARALLELISM",
            "GPG_KEY",
            "TOKEN_URL",
            "PATH",
            "AWS_ACCESS_KEY_ID",
        ] {
            assert!(!secret_name(n), "{n}");
        }
    }

    fn cmd(s: &str) -> Vec<String> {
        shell::commands(s).iter().flat_map(unverified).collect()
    }

    #[test]
    fn unverified_installs() {
        assert!(!cmd("apt-get install -y --allow-unauthenticated foo").is_empty());
        assert!(!cmd("curl -fsSLk https://x -o y").is_empty());
        assert!(cmd("curl -fsSL -o k https://x").is_empty());
        assert!(!cmd("pip install --trusted-host pypi.example.com x").is_empty());
        assert!(!cmd("npm config set strict-ssl false").is_empty());
        assert!(!cmd("NODE_TLS_REJECT_UNAUTHORIZED=0 npm ci").is_empty());
        assert!(!cmd("wget --no-check-certificate https://x").is_empty());
        assert!(!cmd("apk add --allow-untrusted x.apk").is_empty());
        assert!(!cmd("yum install -y --nogpgcheck x").is_empty());
        assert!(cmd("apt-get install -y curl && curl -fsSL https://x | sha256sum -c").is_empty());
    }

    #[test]
    fn update_alone() {
        let alone = |s: &str| {
            let (mut u, mut i) = (false, false);
            for c in shell::commands(s) {
                let (a, b) = package_action(&c);
                u |= a;
                i |= b;
            }
            u && !i
        };
        assert!(alone("apt-get update"));
        assert!(alone("apt-get -q update && echo done"));
        assert!(alone("apk update"));
        assert!(!alone("apt-get update && apt-get install -y curl"));
        assert!(!alone("apk add --no-cache curl"));
        assert!(!alone("echo apt-get update"));
    }

    #[test]
    fn policy_turns_failures_into_exemptions_until_expiry() {
        let policy = Policy {
            allowed_registries: vec![],
            exemptions: vec![policy::Exemption {
                id: "4.6".into(),
                reason: "orchestrator probes".into(),
                expires: Date::parse("2027-01-01").unwrap(),
            }],
        };
        let fresh = || vec![check("4.6", Status::Fail, "x", "y".into())];
        let mut c = fresh();
        apply_policy(&mut c, &policy, Date::parse("2026-12-31").unwrap());
        assert_eq!(c[0].status, Status::Exempt);
        let mut c = fresh();
        apply_policy(&mut c, &policy, Date::parse("2027-01-01").unwrap());
        assert_eq!(c[0].status, Status::Fail);
        assert!(
            c[0].exemption
                .as_ref()
                .unwrap()
                .note
                .contains("expired on 2027-01-01")
        );
    }
}
