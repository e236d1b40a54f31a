//! The executor: picks the stages the target needs, runs their instructions in order
//! and assembles the final image in the store.
//!
//! Stage selection follows BuildKit: the target (default: the last stage) and,
//! transitively, the stages it names in `FROM` and `COPY --from`; nothing else runs.
//!
//! Stages run concurrently, each on its own thread, as soon as the stages it names
//! are done (a stage that names one through a variable waits for every earlier
//! stage; one named where the scan cannot see it, by an `ONBUILD` trigger, is waited
//! for when it is used, if it runs earlier in the sequential order). Nothing a stage produces depends on the timing: layers come from the
//! stage's own instructions and its inputs' finished states, and the build-log
//! attestation lists the stages in the order the sequential solver ran them. Step
//! numbers are handed out as steps start, and every progress line carries its step's
//! number. The first stage that fails stops the others at their next step, and its
//! error is the build's.

mod metadata;
mod run;
mod ssh_proxy;
mod stage;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use lading_oci::constants::{
    ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME, ANNOTATION_CREATED, ANNOTATION_REVISION,
    ANNOTATION_SOURCE, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST,
};
use lading_oci::layer::write_layer_tar;
use lading_oci::spec::{History, ImageConfig, Manifest, RootFs, rfc3339, to_canonical_json};
use lading_oci::{Image, ImageSource, Platform, Store};

pub use stage::StageState;

use crate::chmod::Chmod;
use crate::context::ignore::{IgnoreMatcher, find_ignore_file};
use crate::context::local::LocalContext;
use crate::copy::{self, CopyFrom, CopyRequest, Src};
use crate::dockerfile::ast::{self, CopySource, Instruction, Located, Span};
use crate::dockerfile::{expand_heredoc, expand_word, parse, parse_instruction};
use crate::error::{Error, Result, StepError, StepResult};
use crate::options::{BuildOptions, NamedContext};
use crate::progress::Reporter;
use crate::remote;

/// Everything that decides the layer of a `COPY --from` a stage or an image (no
/// context involved), hashed into its cache key: the source's and the destination's
/// layers (which fix both file trees, `/etc/passwd` included), and the expanded
/// instruction. A hit skips unpacking either tree.
#[derive(serde::Serialize)]
struct CopyInputKey<'a> {
    version: u32,
    add: bool,
    source_layers: Vec<&'a lading_oci::Digest>,
    dest_layers: Vec<&'a lading_oci::Digest>,
    sources: Vec<&'a str>,
    dest: &'a str,
    owner: Option<(u32, u32)>,
    chmod: Option<&'a str>,
    parents: bool,
    link: bool,
    exclude: &'a [String],
    epoch: i64,
}

fn copy_input_key(key: &CopyInputKey<'_>) -> StepResult<lading_oci::Digest> {
    let mut h = lading_oci::hash::Sha256::new();
    h.update(&serde_json::to_vec(key).map_err(StepError::from)?);
    Ok(h.finish())
}

/// What decides the layer of a `COPY`/`ADD` from a context, without reading the tree
/// it lands on: the layers below (which fix that tree), the sources and destination as
/// written (expanded), and the entries the copy makes when planned onto an empty tree
/// (their content, modes and owners, hashed). Equal keys give the same layer: planning
/// onto the real tree is a function of that tree and of these. Lets a step hit in a
/// shared cache before any layer below is unpacked.
#[derive(serde::Serialize)]
struct ContextCopyKey<'a> {
    version: u32,
    add: bool,
    dest_layers: Vec<&'a lading_oci::Digest>,
    sources: Vec<String>,
    dest: &'a str,
    planned: lading_oci::Digest,
    parents: bool,
    link: bool,
    epoch: i64,
}

/// What a WORKDIR step's result depends on: the layers below it (which fix the tree and
/// `/etc/passwd`), the directory, the USER that owns what it creates, and the epoch. A
/// hit skips reading the tree at all.
#[derive(serde::Serialize)]
struct WorkdirKey<'a> {
    version: u32,
    layers: Vec<&'a lading_oci::Digest>,
    path: &'a str,
    user: Option<&'a str>,
    epoch: i64,
}

/// Resolves an image reference (from `FROM` or `COPY --from`) to a source.
pub type Resolver<'a> = &'a (dyn Fn(&str) -> Box<dyn ImageSource> + Sync);

/// `PATH` BuildKit puts in the environment of images that have none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The final image, in the store.
    pub image: Image,
    /// Warnings (unused build args, ...).
    pub warnings: Vec<String>,
    /// Output of every RUN step that ran (not cached): its history text and its lines,
    /// secrets redacted. Kept for the build-log attestation.
    pub logs: Vec<(String, Vec<String>)>,
    /// Parameters that shaped the image without being written into it (how context
    /// files got their modes, ...), for build records and provenance.
    pub parameters: crate::options::BuildParameters,
    /// The cache records the build used and wrote, for `--cache-to`.
    pub cache: crate::shared_cache::CacheExport,
}

/// The main build context of `opts` as its copies see it: `<Dockerfile>.dockerignore`
/// beside the Dockerfile, else the context's `.dockerignore`, applied, and
/// `--context-modes` for the permission bits.
pub fn main_context(opts: &BuildOptions) -> Result<LocalContext> {
    let ignore = match opts
        .dockerfile_path
        .as_deref()
        .and_then(|p| find_ignore_file(&opts.context_dir, p))
        .or_else(|| {
            let p = opts.context_dir.join(".dockerignore");
            p.is_file().then_some(p)
        }) {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(Error::io("reading", &p))?;
            IgnoreMatcher::parse(&text)
                .map_err(|e| Error::Options(format!("{}: {e}", p.display())))?
        }
        None => IgnoreMatcher::default(),
    };
    let context = LocalContext::new(&opts.context_dir, ignore)
        .map_err(|e| Error::Options(e.message))?
        .with_modes(opts.context_modes);
    Ok(context)
}

/// Builds the Dockerfile of `opts` into `store`.
pub fn build(
    store: &Store,
    opts: &BuildOptions,
    resolve: Resolver<'_>,
    reporter: &dyn Reporter,
) -> Result<BuildResult> {
    let df = parse(&opts.dockerfile_name, &opts.dockerfile_text)?;
    // Leftovers of builds that died (SIGKILL, a crash) are removed first: bounded by what
    // dead processes left, and nothing a live one uses (see `lading_oci::gc`).
    lading_oci::gc::reclaim_orphans(store)?;
    let tmp = store.temp_dir("build")?;
    let context = main_context(opts)?;
    let shared = Shared::default();
    let mut b = Builder {
        store,
        opts,
        df: &df,
        resolve,
        reporter,
        context,
        tmp: tmp.path(),
        done: BTreeMap::new(),
        used_args: BTreeSet::new(),
        vertex: 0,
        step_cached: AtomicBool::new(false),
        total: 0,
        global: BTreeMap::new(),
        logs: Vec::new(),
        fetcher: None,
        snapshot_warned: BTreeSet::new(),
        shared: &shared,
        current: None,
    };
    b.global_scope()?;
    b.check_stage_platforms()?;
    let target = b.target_index()?;
    let _ = shared.target.set(target);
    let (needed, deps) = b.needed_stages(target)?;
    b.total = needed
        .iter()
        .map(|i| df.stages[*i].instructions.len() + 1)
        .sum();
    b.run_stages(&needed, &deps)?;
    let state = b
        .done
        .remove(&target)
        .ok_or_else(|| Error::Options("target stage was not built".into()))?;
    let warnings = b.unused_args();
    for w in &warnings {
        reporter.warn(w);
    }
    let mut target_layers: BTreeSet<lading_oci::Digest> =
        state.layers.iter().map(|l| l.digest.clone()).collect();
    let image = b.finish(state)?;
    target_layers.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
    let used = std::mem::take(&mut *shared.used.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(BuildResult {
        image,
        warnings,
        logs: b.logs,
        parameters: opts.parameters(),
        cache: crate::shared_cache::CacheExport {
            records: used.records,
            compressed: used.compressed,
            target_layers,
        },
    })
}

struct Builder<'a> {
    store: &'a Store,
    opts: &'a BuildOptions,
    df: &'a ast::Dockerfile,
    resolve: Resolver<'a>,
    reporter: &'a dyn Reporter,
    context: LocalContext,
    tmp: &'a Path,
    done: BTreeMap<usize, StageState>,
    used_args: BTreeSet<String>,
    vertex: usize,
    /// Whether the current step's result came from the cache (see [`Builder::cache_hit`]).
    step_cached: AtomicBool,
    total: usize,
    /// Global ARG scope (before the first FROM), with predefined platform ARGs.
    global: BTreeMap<String, Option<String>>,
    /// RUN output, for [`BuildResult::logs`].
    logs: Vec<(String, Vec<String>)>,
    /// HTTP client for `ADD <url>`, set up on first use.
    fetcher: Option<remote::Fetcher>,
    /// Layers whose snapshot warnings were shown already.
    snapshot_warned: BTreeSet<String>,
    /// What the stages' threads share.
    shared: &'a Shared,
    /// The stage this builder solves (on a stage's thread).
    current: Option<usize>,
}

/// What the stages' threads share.
#[derive(Default)]
struct Shared {
    /// The last step number handed out.
    counter: Mutex<usize>,
    /// Set when a stage failed: the others stop before their next step.
    cancel: AtomicBool,
    /// The finished stages.
    board: Mutex<Board>,
    /// Notified whenever a stage finishes or fails.
    turned: Condvar,
    /// How many stages failed so far (orders the failures).
    failures: Mutex<usize>,
    /// The cache records used and written, for `--cache-to`.
    used: Mutex<UsedCache>,
    /// The target stage: its layers are exported, so they are gzipped as they are written.
    target: OnceLock<usize>,
    /// The gzip blobs of layers this build compressed while writing them, by tar digest.
    gzipped: Mutex<BTreeMap<lading_oci::Digest, lading_oci::Descriptor>>,
}

/// What a build took from and put into its caches, for `--cache-to`.
#[derive(Default)]
struct UsedCache {
    records: Vec<crate::shared_cache::Record>,
    compressed: Vec<crate::shared_cache::Compressed>,
}

/// A cached step result: the layer blob and its diff-id, `None` when the step added no
/// layer.
type CachedLayer = Option<(lading_oci::Descriptor, lading_oci::Digest)>;

/// For each stage, the stages it waits for.
type StageDeps = BTreeMap<usize, BTreeSet<usize>>;

/// The finished stages, whether one failed, and the order the sequential solver runs
/// the stages in.
#[derive(Default)]
struct Board {
    done: BTreeMap<usize, StageState>,
    failed: bool,
    order: Vec<usize>,
}

/// How one stage's thread ended.
struct StageRun {
    /// `None`: stopped because another stage failed.
    result: Option<Result<()>>,
    /// When it failed, in the order failures happened.
    failed_at: Option<usize>,
    logs: Vec<(String, Vec<String>)>,
    used_args: BTreeSet<String>,
}

/// Bytes between two progress lines of a download.
const PROGRESS_EVERY: u64 = 64 << 20;

/// Whether an `ADD` source is a git repository (BuildKit's git sources, which lading
/// does not fetch): `git@host:...`, `git://`, `ssh://`, or a URL ending in `.git`.
fn is_git_source(src: &str) -> bool {
    let no_fragment = src.split('#').next().unwrap_or(src);
    src.starts_with("git@")
        || src.starts_with("git://")
        || src.starts_with("ssh://")
        || no_fragment.ends_with(".git")
}

/// Predefined ARGs BuildKit provides without a declaration, with the platforms spelled
/// as BuildKit normalises them (`linux/arm64`, `TARGETVARIANT` empty, for arm64/v8).
fn platform_args(target: &Platform) -> BTreeMap<String, String> {
    let host = Platform::host().normalized();
    let target = target.normalized();
    let mut m = BTreeMap::new();
    for (prefix, p) in [("TARGET", &target), ("BUILD", &host)] {
        m.insert(format!("{prefix}PLATFORM"), p.to_string());
        m.insert(format!("{prefix}OS"), p.os.clone());
        m.insert(format!("{prefix}ARCH"), p.architecture.clone());
        m.insert(
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        );
    }
    m
}

/// Build args usable without an ARG declaration (only in RUN environments).
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl<'a> Builder<'a> {
    fn err_at(&self, span: Span, e: StepError) -> Error {
        Error::Instruction {
            file: self.opts.dockerfile_name.clone(),
            line: span.line,
            column: span.column,
            message: e.message,
            source: e.source,
        }
    }

    fn global_scope(&mut self) -> Result<()> {
        for (k, v) in platform_args(&self.opts.platform) {
            self.global.insert(k, Some(v));
        }
        for located in &self.df.global_args {
            for decl in &located.node {
                let value = match self.opts.build_args.get(&decl.name) {
                    Some(v) => Some(v.clone()),
                    None => match &decl.default {
                        Some(d) => {
                            let global = self.global.clone();
                            let lookup = move |n: &str| global.get(n).cloned().flatten();
                            Some(
                                expand_word(d, self.df.escape, &lookup)
                                    .map_err(|e| self.err_at(located.span, e.into()))?,
                            )
                        }
                        None => None,
                    },
                };
                self.used_args.insert(decl.name.clone());
                self.global.insert(decl.name.clone(), value);
            }
        }
        Ok(())
    }

    /// Every stage's `FROM --platform` must name a platform, whether or not the target
    /// needs the stage: BuildKit parses them all before it prunes the stages.
    fn check_stage_platforms(&self) -> Result<()> {
        for stage in &self.df.stages {
            if let Some(p) = &stage.from.node.platform {
                let at = |e: StepError| self.err_at(stage.from.span, e);
                let value = self.expand_global(p).map_err(at)?;
                Platform::parse(&value).map_err(|e| {
                    at(StepError::msg(format!(
                        "FROM --platform={p}: invalid platform {value:?}: {e}"
                    )))
                })?;
            }
        }
        Ok(())
    }

    fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.df
            .stages
            .iter()
            .position(|s| s.from.node.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.df.stages.len())
            })
    }

    fn target_index(&self) -> Result<usize> {
        if self.df.stages.is_empty() {
            return Err(Error::Options(format!(
                "{}: no build stage in the Dockerfile (missing FROM)",
                self.opts.dockerfile_name
            )));
        }
        match &self.opts.target {
            None => Ok(self.df.stages.len() - 1),
            Some(t) => self
                .df
                .stages
                .iter()
                .position(|s| s.from.node.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
                .ok_or_else(|| Error::Options(format!("target stage {t:?} could not be found"))),
        }
    }

    fn expand_global(&self, word: &str) -> StepResult<String> {
        let lookup = |n: &str| self.global.get(n).cloned().flatten();
        Ok(expand_word(word, self.df.escape, &lookup)?)
    }

    /// The stages `target` depends on, in the order the sequential solver runs them
    /// (dependencies first), and the stages each of them must wait for.
    fn needed_stages(&self, target: usize) -> Result<(Vec<usize>, StageDeps)> {
        let mut order = Vec::new();
        let mut visiting = BTreeSet::new();
        let mut deps = BTreeMap::new();
        self.visit(target, &mut order, &mut visiting, &mut deps)?;
        // A stage that names another through a variable (expanded only when the
        // instruction runs) waits for every stage that runs before it.
        for (n, i) in order.iter().enumerate() {
            if deps
                .get(i)
                .is_some_and(|d: &BTreeSet<usize>| d.contains(&usize::MAX))
            {
                deps.insert(*i, order[..n].iter().copied().collect());
            }
        }
        Ok((order, deps))
    }

    fn visit(
        &self,
        i: usize,
        order: &mut Vec<usize>,
        visiting: &mut BTreeSet<usize>,
        all_deps: &mut StageDeps,
    ) -> Result<()> {
        if order.contains(&i) {
            return Ok(());
        }
        let stage = &self.df.stages[i];
        if !visiting.insert(i) {
            return Err(self.err_at(
                stage.from.span,
                StepError::msg("circular dependency between stages"),
            ));
        }
        let image = self
            .expand_global(&stage.from.node.image)
            .map_err(|e| self.err_at(stage.from.span, e))?;
        let mut deps = Vec::new();
        if let Some(j) = self.stage_index(&image).filter(|j| *j < i) {
            deps.push(j);
        }
        for ins in &stage.instructions {
            let mut froms: Vec<String> = Vec::new();
            match &ins.node {
                Instruction::Copy(c) | Instruction::Add(c) => froms.extend(c.from.clone()),
                // `RUN --mount=...,from=stage` needs that stage too.
                Instruction::Run(r) => froms.extend(r.mounts.iter().filter_map(|m| {
                    m.split(',').find_map(|f| {
                        f.trim()
                            .strip_prefix("from=")
                            .map(|v| self.expand_global(v).unwrap_or_else(|_| v.to_string()))
                    })
                })),
                _ => {}
            }
            for from in &froms {
                if from.contains('$') {
                    // Known only when the instruction runs: see `needed_stages`.
                    deps.push(usize::MAX);
                }
                if let Some(j) = self.stage_index(from) {
                    if j == i {
                        return Err(self.err_at(
                            ins.span,
                            StepError::msg(format!("COPY --from={from} refers to its own stage")),
                        ));
                    }
                    deps.push(j);
                }
            }
        }
        for j in &deps {
            if *j != usize::MAX {
                self.visit(*j, order, visiting, all_deps)?;
            }
        }
        all_deps.insert(i, deps.into_iter().collect());
        order.push(i);
        Ok(())
    }

    /// A builder for another thread: the same build, its own per-stage state.
    fn fork(&self) -> Builder<'a> {
        Builder {
            store: self.store,
            opts: self.opts,
            df: self.df,
            resolve: self.resolve,
            reporter: self.reporter,
            context: self.context.clone(),
            tmp: self.tmp,
            done: BTreeMap::new(),
            used_args: BTreeSet::new(),
            vertex: 0,
            step_cached: AtomicBool::new(false),
            total: self.total,
            global: self.global.clone(),
            logs: Vec::new(),
            fetcher: None,
            snapshot_warned: BTreeSet::new(),
            shared: self.shared,
            current: None,
        }
    }

    /// The finished state of stage `j`: one this stage waited for, or (named in a way
    /// the dependency scan cannot see, e.g. by an `ONBUILD` trigger) one that runs
    /// before this stage in the sequential order, waited for now. `None` otherwise, or
    /// when the build failed meanwhile.
    fn finished_stage(&mut self, j: usize) -> Option<StageState> {
        if let Some(st) = self.done.get(&j) {
            return Some(st.clone());
        }
        let i = self.current?;
        let shared = self.shared;
        let mut g = shared.board.lock().unwrap_or_else(|e| e.into_inner());
        let pos = |order: &[usize], x: usize| order.iter().position(|o| *o == x);
        match (pos(&g.order, j), pos(&g.order, i)) {
            (Some(pj), Some(pi)) if pj < pi => {}
            _ => return None,
        }
        loop {
            if let Some(st) = g.done.get(&j) {
                let st = st.detached(self.tmp.join(format!("stage-{j}-for-{i}")));
                drop(g);
                self.done.insert(j, st.clone());
                return Some(st);
            }
            if g.failed {
                return None;
            }
            g = shared.turned.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs the `needed` stages, each on its own thread once its `deps` are done, and
    /// keeps their states in `self.done`.
    fn run_stages(&mut self, needed: &[usize], deps: &StageDeps) -> Result<()> {
        self.shared
            .board
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .order = needed.to_vec();
        let runs: Vec<StageRun> = std::thread::scope(|s| {
            let handles: Vec<_> = needed
                .iter()
                .map(|&i| {
                    let mut sub = self.fork();
                    let wait_for = deps.get(&i).cloned().unwrap_or_default();
                    s.spawn(move || sub.stage_thread(i, &wait_for))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| StageRun {
                        result: Some(Err(Error::Options("a stage's thread panicked".into()))),
                        failed_at: Some(usize::MAX),
                        logs: Vec::new(),
                        used_args: BTreeSet::new(),
                    })
                })
                .collect()
        });
        let mut first: Option<(usize, Error)> = None;
        for run in runs {
            self.logs.extend(run.logs);
            self.used_args.extend(run.used_args);
            if let (Some(Err(e)), Some(at)) = (run.result, run.failed_at)
                && first.as_ref().is_none_or(|(f, _)| at < *f)
            {
                first = Some((at, e));
            }
        }
        if let Some((_, e)) = first {
            return Err(e);
        }
        let mut board = self.shared.board.lock().unwrap_or_else(|e| e.into_inner());
        self.done = std::mem::take(&mut board.done);
        Ok(())
    }

    /// One stage's thread: waits for the stages it needs, runs, and posts its state.
    fn stage_thread(&mut self, i: usize, wait_for: &BTreeSet<usize>) -> StageRun {
        self.current = Some(i);
        let shared = self.shared;
        let (board, turned, failures) = (&shared.board, &shared.turned, &shared.failures);
        let stopped = |sub: &mut Builder<'_>| StageRun {
            result: None,
            failed_at: None,
            logs: std::mem::take(&mut sub.logs),
            used_args: std::mem::take(&mut sub.used_args),
        };
        {
            let mut g = board.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if g.failed {
                    return stopped(self);
                }
                if wait_for.iter().all(|d| g.done.contains_key(d)) {
                    break;
                }
                g = turned.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            for d in wait_for {
                // Its own copy: an unpacked rootfs must not be shared between threads.
                let dir = self.tmp.join(format!("stage-{d}-for-{i}"));
                self.done.insert(*d, g.done[d].detached(dir));
            }
        }
        // A panic must still release the stages waiting for this one.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_stage(i)))
            .unwrap_or_else(|_| Err(Error::Options(format!("solving stage {i} panicked"))));
        let mut g = board.lock().unwrap_or_else(|e| e.into_inner());
        let run = match result {
            Ok(true) => {
                if let Some(state) = self.done.remove(&i) {
                    g.done.insert(i, state);
                }
                StageRun {
                    result: Some(Ok(())),
                    ..stopped(self)
                }
            }
            Ok(false) => stopped(self),
            Err(e) => {
                g.failed = true;
                shared.cancel.store(true, Ordering::SeqCst);
                let mut n = failures.lock().unwrap_or_else(|e| e.into_inner());
                *n += 1;
                StageRun {
                    result: Some(Err(e)),
                    failed_at: Some(*n),
                    ..stopped(self)
                }
            }
        };
        turned.notify_all();
        run
    }

    /// Marks the current step as answered from the cache: its `step_done` says so (the
    /// progress prints `CACHED`, the build log records the hit).
    fn cache_hit(&self) {
        self.step_cached.store(true, Ordering::Relaxed);
    }

    fn next_vertex(&mut self, label: &str) -> usize {
        self.step_cached.store(false, Ordering::Relaxed);
        // Numbered and announced under one lock: numbers appear in order.
        let mut n = self
            .shared
            .counter
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *n += 1;
        self.vertex = *n;
        self.reporter.step_started(self.vertex, label);
        self.vertex
    }

    /// Runs stage `i` into `self.done`; `false` when it stopped because another stage
    /// failed.
    fn run_stage(&mut self, i: usize) -> Result<bool> {
        let stage = &self.df.stages[i];
        let stage_label = stage
            .from
            .node
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{i}"));
        let steps = stage.instructions.len() + 1;
        if self.shared.cancel.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let v = self.next_vertex(&format!("[{stage_label} 1/{steps}] {}", stage.from.source));
        let mut state = self
            .from(i, &stage.from)
            .map_err(|e| self.err_at(stage.from.span, e))?;
        self.reporter
            .step_done(v, self.step_cached.swap(false, Ordering::Relaxed));
        // ONBUILD triggers of the base run first, then are cleared.
        let triggers = std::mem::take(&mut state.config.config.on_build);
        for t in triggers {
            let ins = parse_instruction(&t, self.df.escape)?;
            let located = Located {
                span: stage.from.span,
                end_line: stage.from.end_line,
                source: t.clone(),
                node: ins,
            };
            if self.shared.cancel.load(Ordering::SeqCst) {
                return Ok(false);
            }
            let v = self.next_vertex(&format!("[{stage_label} onbuild] {t}"));
            self.dispatch(&mut state, &located, i)
                .map_err(|e| self.err_at(located.span, e))?;
            self.reporter
                .step_done(v, self.step_cached.swap(false, Ordering::Relaxed));
        }
        for (n, ins) in stage.instructions.iter().enumerate() {
            if self.shared.cancel.load(Ordering::SeqCst) {
                return Ok(false);
            }
            let v = self.next_vertex(&format!("[{stage_label} {}/{steps}] {}", n + 2, ins.source));
            self.dispatch(&mut state, ins, i)
                .map_err(|e| self.err_at(ins.span, e))?;
            self.reporter
                .step_done(v, self.step_cached.swap(false, Ordering::Relaxed));
        }
        self.done.insert(i, state);
        Ok(true)
    }

    fn from(&mut self, i: usize, from: &Located<ast::From>) -> StepResult<StageState> {
        let image = self.expand_global(&from.node.image)?;
        if image.is_empty() {
            return Err(StepError::msg("base name (FROM) should not be blank"));
        }
        let fs_dir = self.tmp.join(format!("stage-{i}"));
        let platform = match &from.node.platform {
            Some(p) => Platform::parse(&self.expand_global(p)?)?,
            None => self.opts.platform.clone(),
        };
        if let Some(j) = self.stage_index(&image).filter(|j| *j < i) {
            let parent = self
                .finished_stage(j)
                .ok_or_else(|| StepError::msg(format!("stage {image:?} was not built")))?;
            let mut st = StageState::new(parent.config.clone(), parent.layers.clone(), fs_dir);
            st.uncompressed = parent.uncompressed.clone();
            st.base = parent.base.clone();
            // BuildKit: ARGs declared in a stage are inherited by the stages built FROM it.
            st.args = parent.args.clone();
            st.args_over_env = parent.args_over_env.clone();
            return Ok(st);
        }
        let source_name = match self.opts.named_contexts.get(&image) {
            Some(NamedContext::Image(r)) => r.clone(),
            Some(NamedContext::Dir(_)) => {
                return Err(StepError::msg(format!(
                    "build context {image:?} is a directory and cannot be used in FROM"
                )));
            }
            None => image.clone(),
        };
        let source = (self.resolve)(&source_name);
        let fetched = source.fetch_resolved(self.store, &platform)?;
        let mut st = match fetched {
            None => {
                // As BuildKit's empty image: the platform normalised (arm64 without `v8`).
                let normal = platform.normalized();
                let mut config = ImageConfig {
                    architecture: normal.architecture,
                    os: normal.os,
                    variant: normal.variant,
                    rootfs: RootFs::default(),
                    ..ImageConfig::default()
                };
                config.config.env.push(format!("PATH={DEFAULT_PATH}"));
                // BuildKit's empty image starts in "/".
                config.config.working_dir = Some("/".into());
                StageState::new(config, Vec::new(), fs_dir)
            }
            Some((img, resolved)) => {
                let mut st =
                    StageState::new(img.config.clone(), img.manifest.layers.clone(), fs_dir);
                st.base = Some((source.name(), resolved));
                if !st.config.config.env.iter().any(|e| e.starts_with("PATH=")) {
                    st.config
                        .config
                        .env
                        .insert(0, format!("PATH={DEFAULT_PATH}"));
                }
                st
            }
        };
        // Metadata of the base that a new stage does not inherit.
        st.cmd_set_here = false;
        Ok(st)
    }

    fn lookup_fn<'s>(&self, state: &'s StageState) -> impl Fn(&str) -> Option<String> + 's {
        move |n: &str| state.lookup(n)
    }

    fn expand(&self, state: &StageState, word: &str) -> StepResult<String> {
        Ok(expand_word(word, self.df.escape, &self.lookup_fn(state))?)
    }

    fn dispatch(
        &mut self,
        state: &mut StageState,
        ins: &Located<Instruction>,
        stage_idx: usize,
    ) -> StepResult<()> {
        match &ins.node {
            Instruction::Arg(decls) => {
                for d in decls {
                    self.used_args.insert(d.name.clone());
                    let value = match self.opts.build_args.get(&d.name) {
                        Some(v) => Some(v.clone()),
                        None => match &d.default {
                            Some(def) => Some(self.expand(state, def)?),
                            None => self.global.get(&d.name).cloned().flatten(),
                        },
                    };
                    if value.is_some() {
                        state.args_over_env.insert(d.name.clone());
                    }
                    state.args.insert(d.name.clone(), value);
                }
                Ok(())
            }
            Instruction::Copy(c) => self.copy(state, ins, c, false, stage_idx),
            Instruction::Add(c) => self.copy(state, ins, c, true, stage_idx),
            Instruction::Workdir(w) => self.workdir(state, ins, w),
            Instruction::Run(r) => self.run(state, ins, r),
            _ => metadata::apply(self, state, ins),
        }
    }

    fn history(&self, ins: &Located<Instruction>, empty_layer: bool) -> History {
        let created_by = match &ins.node {
            Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Run(_)
            | Instruction::Workdir(_) => {
                format!("{} # buildkit", ins.source)
            }
            _ => ins.source.clone(),
        };
        History {
            created: Some(rfc3339(self.opts.epoch)),
            created_by: Some(created_by),
            author: None,
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer,
        }
    }

    fn owner(&self, state: &mut StageState, spec: &str) -> StepResult<crate::users::Owner> {
        let needs_files = spec.split(':').any(|p| p.parse::<u32>().is_err());
        let (passwd, group) = if needs_files {
            let fs = state.rootfs(self.store).map_err(StepError::from)?;
            (fs.read_file("etc/passwd"), fs.read_file("etc/group"))
        } else {
            (None, None)
        };
        crate::users::resolve(spec, passwd.as_deref(), group.as_deref()).map_err(StepError::msg)
    }

    fn workdir_path(&self, state: &StageState, p: &str) -> String {
        let base = state
            .config
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into());
        let joined = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{p}", base.trim_end_matches('/'))
        };
        clean_abs(&joined)
    }

    fn workdir(
        &mut self,
        state: &mut StageState,
        ins: &Located<Instruction>,
        w: &str,
    ) -> StepResult<()> {
        let path = self.workdir_path(state, &self.expand(state, w)?);
        state.config.config.working_dir = Some(path.clone());
        // BuildKit creates the directory, owned by the current USER.
        let user = state.config.config.user.clone().filter(|u| !u.is_empty());
        // Decided by its inputs alone: a warm build reads no tree.
        let cache = if !self.writes_records() {
            None
        } else {
            let key = WorkdirKey {
                version: 1,
                layers: state.layers.iter().map(|l| &l.digest).collect(),
                path: &path,
                user: user.as_deref(),
                epoch: self.opts.epoch,
            };
            let mut h = lading_oci::hash::Sha256::new();
            h.update(&serde_json::to_vec(&key).map_err(StepError::from)?);
            Some(
                self.store
                    .private_dir()
                    .join("cache/workdir")
                    .join(h.finish().hex()),
            )
        };
        if !self.opts.no_cache
            && let Some(path) = &cache
            && let Some(layer) = self.cached_record("workdir", path)
        {
            self.cache_hit();
            match layer {
                Some((descriptor, diff_id)) => {
                    let h = self.history(ins, false);
                    state.push_layer(descriptor, diff_id, h);
                }
                None => state.config.history.push(self.history(ins, true)),
            }
            return Ok(());
        }
        let layer = self.workdir_layer(state, &path, user.as_deref())?;
        if let Some(cache) = &cache {
            self.write_record("workdir", cache, &layer)?;
        }
        match layer {
            Some((descriptor, diff_id)) => {
                let h = self.history(ins, false);
                state.push_layer(descriptor, diff_id, h);
            }
            None => state.config.history.push(self.history(ins, true)),
        }
        Ok(())
    }

    /// The layer that creates `path` (and its missing parents) owned by `user`, or `None`
    /// when it exists already. The tree is read through the layers' snapshots where they
    /// show its metadata (as COPY reads it), else unpacked.
    fn workdir_layer(
        &mut self,
        state: &mut StageState,
        path: &str,
        user: Option<&str>,
    ) -> StepResult<Option<(lading_oci::Descriptor, lading_oci::Digest)>> {
        let owner = match user {
            Some(u) => Some(self.owner(state, u)?),
            None => None,
        };
        let layered;
        let fs = match self.layered(state)? {
            Some(view) => {
                layered = view.rootfs;
                &layered
            }
            None => state.rootfs(self.store).map_err(StepError::from)?,
        };
        let rel = copy::resolve_in_rootfs(fs, path)?;
        // Existing ancestors go into the layer too, with their real metadata (as in
        // BuildKit's layers), so the layer's own snapshot never shows an implied
        // root-owned 0755 directory over them; no layer when nothing is new.
        let mut entries = Vec::new();
        let mut created = false;
        let mut cur = String::new();
        // The mode and group of the directory above `cur` (setgid is inherited).
        let mut parent = fs
            .get("")
            .filter(|n| n.kind == lading_oci::unpack::NodeKind::Dir)
            .map(|n| (n.mode, n.gid));
        for comp in rel.split('/').filter(|c| !c.is_empty()) {
            cur = if cur.is_empty() {
                comp.to_string()
            } else {
                format!("{cur}/{comp}")
            };
            match fs.get(&cur) {
                Some(n) if n.kind == lading_oci::unpack::NodeKind::Dir => {
                    parent = Some((n.mode, n.gid));
                    entries.push(lading_oci::layer::Entry::dir(
                        cur.clone(),
                        n.mode,
                        n.uid,
                        n.gid,
                    ));
                }
                Some(_) => {
                    return Err(StepError::msg(format!(
                        "WORKDIR {path}: /{cur} is not a directory"
                    )));
                }
                None => {
                    let dir = copy::new_dir(cur.clone(), parent, owner);
                    parent = Some((dir.mode, dir.gid));
                    entries.push(dir);
                    created = true;
                }
            }
        }
        if !created {
            return Ok(None);
        }
        let blob = write_layer_tar(self.store, entries, self.opts.epoch as u64)?;
        Ok(Some((blob.descriptor, blob.diff_id)))
    }

    fn copy(
        &mut self,
        state: &mut StageState,
        ins: &Located<Instruction>,
        c: &ast::Copy,
        add: bool,
        stage_idx: usize,
    ) -> StepResult<()> {
        // Sources as written, expanded; URLs are downloaded below, once the other
        // flags are known to be valid.
        let mut sources = Vec::new();
        for s in &c.sources {
            sources.push(match s {
                CopySource::Path(p) => {
                    let p = self.expand(state, p)?;
                    if is_git_source(&p) {
                        if add {
                            return Err(StepError::msg(format!(
                                "ADD {p}: git sources are not supported"
                            )));
                        }
                    } else if remote::is_url(&p) && !add {
                        return Err(StepError::msg(format!(
                            "COPY {}: source can't be a URL for COPY (use ADD)",
                            remote::redact(&p)
                        )));
                    }
                    Src::Path(p)
                }
                CopySource::Heredoc(h) => {
                    let content = if h.expand {
                        expand_heredoc(&h.content, self.df.escape, &self.lookup_fn(state))?
                    } else {
                        h.content.clone()
                    };
                    Src::Inline {
                        name: h.name.clone(),
                        content: content.into_bytes(),
                    }
                }
            });
        }
        let checksum = match &c.checksum {
            None => None,
            Some(v) => {
                // BuildKit: "checksum can't be specified for non-HTTP(S) sources".
                if !sources
                    .iter()
                    .all(|s| matches!(s, Src::Path(p) if remote::is_url(p)))
                {
                    return Err(StepError::msg(
                        "ADD --checksum is only supported for HTTP(S) sources",
                    ));
                }
                Some(remote::parse_checksum(&self.expand(state, v)?)?)
            }
        };
        let raw_dest = self.expand(state, &c.dest)?;
        let mut dest = self.workdir_path(state, &raw_dest);
        if (raw_dest.ends_with('/') || raw_dest.ends_with("/.") || raw_dest == ".")
            && !dest.ends_with('/')
        {
            dest.push('/');
        }
        let owner = match &c.chown {
            Some(spec) => Some(self.owner(state, &self.expand(state, spec)?)?),
            None => None,
        };
        let chmod_text = match &c.chmod {
            Some(m) => Some(self.expand(state, m)?),
            None => None,
        };
        let chmod = match &chmod_text {
            Some(m) => Some(Chmod::parse(m)?),
            None => None,
        };
        let exclude_pats: Vec<String> = c
            .exclude
            .iter()
            .map(|e| self.expand(state, e))
            .collect::<StepResult<_>>()?;
        let exclude = if exclude_pats.is_empty() {
            None
        } else {
            Some(IgnoreMatcher::parse(&exclude_pats.join("\n")).map_err(StepError::from)?)
        };
        let unpack_archives =
            (add && c.unpack != Some(false) && c.from.is_none()).then_some(self.tmp);
        // Downloads live in their own temp dirs until the layer is written.
        let mut downloads = Vec::new();
        for src in &mut sources {
            if let Src::Path(p) = src
                && remote::is_url(p)
            {
                let (dir, d) = self.download(p, checksum.as_ref())?;
                downloads.push(dir);
                *src = Src::Remote {
                    name: d.name,
                    path: d.path,
                    size: d.size,
                    // Remote archives are extracted only when asked (BuildKit).
                    unpack: c.unpack == Some(true),
                };
            }
        }
        let req = CopyRequest {
            sources,
            dest,
            owner,
            chmod,
            parents: c.parents,
            exclude,
            unpack_archives,
        };
        // Where sources come from.
        let mut from_state: Option<StageState> = None;
        // The earlier stage `from_state` was cloned from, to keep its unpacked rootfs.
        let mut from_stage: Option<usize> = None;
        let named_dir: Option<LocalContext>;
        let from_ctx = match &c.from {
            None => None,
            Some(f) => {
                let f = self.expand(state, f)?;
                if let Some(j) = self.stage_index(&f) {
                    if j >= stage_idx {
                        return Err(StepError::msg(format!(
                            "COPY --from={f}: stage is not defined before this one"
                        )));
                    }
                    from_state = Some(
                        self.finished_stage(j)
                            .ok_or_else(|| StepError::msg(format!("stage {f} was not built")))?,
                    );
                    from_stage = Some(j);
                    None
                } else if let Some(NamedContext::Dir(d)) = self.opts.named_contexts.get(&f) {
                    // A named context directory follows the same rule as the main one.
                    named_dir = Some(
                        LocalContext::new(d, IgnoreMatcher::default())?
                            .with_modes(self.opts.context_modes),
                    );
                    named_dir
                } else {
                    let name = match self.opts.named_contexts.get(&f) {
                        Some(NamedContext::Image(r)) => r.clone(),
                        _ => f.clone(),
                    };
                    let src = (self.resolve)(&name);
                    let img = src.fetch(self.store, &self.opts.platform)?;
                    let layers = img.map(|i| i.manifest.layers.clone()).unwrap_or_default();
                    let dir = self.tmp.join(format!("from-{}", self.vertex));
                    from_state = Some(StageState::new(ImageConfig::default(), layers, dir));
                    None
                }
            }
        };
        // A copy from a stage or an image is decided by its inputs alone: look it up by
        // them before unpacking anything.
        let input_key = match &from_state {
            Some(src) if self.writes_records() => {
                let paths: Option<Vec<&str>> = req
                    .sources
                    .iter()
                    .map(|s| match s {
                        Src::Path(p) => Some(p.as_str()),
                        _ => None,
                    })
                    .collect();
                match paths {
                    Some(sources) => Some(copy_input_key(&CopyInputKey {
                        version: 1,
                        add,
                        source_layers: src.layers.iter().map(|l| &l.digest).collect(),
                        dest_layers: state.layers.iter().map(|l| &l.digest).collect(),
                        sources,
                        dest: &req.dest,
                        owner: req.owner.map(|o| (o.uid, o.gid)),
                        chmod: chmod_text.as_deref(),
                        parents: req.parents,
                        link: c.link,
                        exclude: &exclude_pats,
                        epoch: self.opts.epoch,
                    })?),
                    None => None,
                }
            }
            _ => None,
        };
        let input_cache = input_key
            .as_ref()
            .map(|k| self.store.private_dir().join("cache/copy").join(k.hex()));
        if !self.opts.no_cache
            && let Some(path) = &input_cache
            && let Some(Some((descriptor, diff_id))) = self.cached_record("copy", path)
        {
            self.cache_hit();
            drop(downloads);
            let h = self.history(ins, false);
            state.push_layer(descriptor, diff_id, h);
            return Ok(());
        }
        // A copy from a context, in a shared cache: keyed without the tree below.
        let context_cache = match (&from_state, self.opts.cache_shared) {
            (None, true) => {
                let ctx = from_ctx.as_ref().unwrap_or(&self.context);
                self.context_copy_key(state, &req, ctx, add, c)?
                    .map(|k| self.store.private_dir().join("cache/context").join(k.hex()))
            }
            _ => None,
        };
        if !self.opts.no_cache
            && let Some(path) = &context_cache
            && let Some(Some((descriptor, diff_id))) = self.cached_record("context", path)
        {
            self.cache_hit();
            drop(downloads);
            let h = self.history(ins, false);
            state.push_layer(descriptor, diff_id, h);
            return Ok(());
        }
        let entries = {
            let dest_fs = match self.layered(state)? {
                Some(view) => view.rootfs,
                None => state.rootfs(self.store).map_err(StepError::from)?.clone(),
            };
            match (&mut from_state, &from_ctx) {
                (Some(src), _) => match self.layered(src)? {
                    // A copy of another stage or image: read through its snapshots,
                    Some(view) => copy::plan(
                        &req,
                        &CopyFrom::Layered(&view.rootfs, &view.hosts),
                        &dest_fs,
                    )?,
                    // or, where they cannot tell the layers' metadata, unpack it in its
                    // own directory.
                    None => {
                        let fs = src.rootfs(self.store).map_err(StepError::from)?;
                        copy::plan(&req, &CopyFrom::Rootfs(fs), &dest_fs)?
                    }
                },
                (None, Some(ctx)) => copy::plan(&req, &CopyFrom::Context(ctx), &dest_fs)?,
                (None, None) => copy::plan(&req, &CopyFrom::Context(&self.context), &dest_fs)?,
            }
        };
        if let (Some(j), Some(src)) = (from_stage, from_state) {
            // Keep the stage's rootfs as unpacked, so the next COPY --from (or RUN
            // --mount from=) of it neither unpacks it again over itself nor fails on the
            // symlinks already there.
            self.done.insert(j, src);
        }
        let blob = self.cached_layer(entries)?;
        if let Some(path) = &context_cache {
            let layer = Some((blob.descriptor.clone(), blob.diff_id.clone()));
            self.write_record("context", path, &layer)?;
        }
        if let Some(path) = &input_cache {
            let layer = Some((blob.descriptor.clone(), blob.diff_id.clone()));
            self.write_record("copy", path, &layer)?;
        }
        drop(downloads);
        let h = self.history(ins, false);
        state.push_layer(blob.descriptor, blob.diff_id, h);
        Ok(())
    }

    /// The [`ContextCopyKey`] of a copy from `ctx` onto `state`, `None` when planning
    /// it onto an empty tree fails (the copy then goes by its tree as always).
    fn context_copy_key(
        &self,
        state: &StageState,
        req: &CopyRequest<'_>,
        ctx: &LocalContext,
        add: bool,
        c: &ast::Copy,
    ) -> StepResult<Option<lading_oci::Digest>> {
        let empty_dir = self.tmp.join(format!("empty-dest-{}", self.vertex));
        let empty = lading_oci::unpack::Rootfs::new(&empty_dir).map_err(StepError::from)?;
        let planned = copy::plan(req, &CopyFrom::Context(ctx), &empty);
        let _ = std::fs::remove_dir_all(&empty_dir);
        let Ok(entries) = planned else {
            return Ok(None);
        };
        let key = ContextCopyKey {
            version: 1,
            add,
            dest_layers: state.layers.iter().map(|l| &l.digest).collect(),
            sources: req
                .sources
                .iter()
                .map(|s| match s {
                    Src::Path(p) => format!("path {p}"),
                    Src::Inline { name, .. } => format!("inline {name}"),
                    Src::Remote { name, .. } => format!("remote {name}"),
                })
                .collect(),
            dest: &req.dest,
            planned: lading_oci::layer::content_key(&entries, self.opts.epoch as u64)?,
            parents: req.parents,
            link: c.link,
            epoch: self.opts.epoch,
        };
        let mut h = lading_oci::hash::Sha256::new();
        h.update(&serde_json::to_vec(&key).map_err(StepError::from)?);
        Ok(Some(h.finish()))
    }

    /// The tree of `layers` read through their snapshots (made if missing), or `None`
    /// where the snapshots may not show the layers' metadata: without root (owners are
    /// not applied) or when unpacking one recorded a warning (a skipped device, an
    /// unmapped owner, dropped xattrs or whiteout metadata).
    fn layered(&self, state: &mut StageState) -> StepResult<Option<crate::snapshot::LayeredTree>> {
        if !lading_oci::unpack::running_as_root() {
            return Ok(None);
        }
        let snaps = crate::snapshot::Snapshots::new(self.store)?;
        let lowers = snaps.lowers(self.store, &state.layers)?;
        if state.layers.iter().any(|l| !snaps.warnings(l).is_empty()) {
            return Ok(None);
        }
        Ok(Some(state.layered_view(&lowers)?))
    }

    /// Downloads an `ADD` URL into a fresh temp dir under the build's, reporting it on
    /// the current step. The dir must outlive the layer that reads the file.
    fn download(
        &mut self,
        url: &str,
        checksum: Option<&lading_oci::Digest>,
    ) -> StepResult<(tempfile::TempDir, remote::Download)> {
        let fetcher = match self.fetcher {
            Some(ref f) => f,
            None => self.fetcher.insert(remote::Fetcher::from_env()?),
        };
        let dir = tempfile::Builder::new()
            .prefix("add-url-")
            .tempdir_in(self.tmp)
            .map_err(|e| StepError::msg(format!("creating temp dir: {e}")))?;
        let shown = remote::redact(url);
        let (reporter, vertex) = (self.reporter, self.vertex);
        reporter.log(vertex, &format!("downloading {shown}"));
        let mut next_report = PROGRESS_EVERY;
        let d = fetcher.fetch(url, dir.path(), checksum, &mut |n| {
            if n >= next_report {
                reporter.log(vertex, &format!("{shown}: {} MiB", n >> 20));
                next_report = n + PROGRESS_EVERY;
            }
        })?;
        reporter.log(
            vertex,
            &format!("downloaded {shown}: {} bytes, {}", d.size, d.digest),
        );
        Ok((dir, d))
    }

    /// Writes a layer, or reuses the one a previous build wrote from identical entries.
    /// The key hashes the entries' content, so a changed file always misses.
    fn cached_layer(
        &self,
        entries: Vec<lading_oci::layer::Entry>,
    ) -> StepResult<lading_oci::layer::LayerBlob> {
        let epoch = self.opts.epoch as u64;
        if !self.writes_records() {
            return self.write_layer(entries);
        }
        let key = lading_oci::layer::content_key(&entries, epoch)?;
        let path = self
            .store
            .private_dir()
            .join("cache/layers")
            .join(key.hex());
        if !self.opts.no_cache
            && let Some(Some((descriptor, diff_id))) = self.cached_record("layers", &path)
        {
            self.cache_hit();
            return Ok(lading_oci::layer::LayerBlob {
                descriptor,
                diff_id,
            });
        }
        let blob = self.write_layer(entries)?;
        let layer = Some((blob.descriptor.clone(), blob.diff_id.clone()));
        self.write_record("layers", &path, &layer)?;
        Ok(blob)
    }

    /// Whether steps write their cache records: unless `--no-cache`, which still
    /// writes them when the cache is exported (`--no-cache --cache-to` refreshes a
    /// shared cache, as with docker).
    fn writes_records(&self) -> bool {
        !self.opts.no_cache || self.opts.cache_shared
    }

    /// The record of the local cache `kind` at `path` (`<store>/.lading/cache/<kind>/<key>`)
    /// whose blob the store has, else the record under that key of the first
    /// `--cache-from` cache that can supply the blob (fetched now and recorded locally).
    /// Either way it is noted for `--cache-to`. `None`: a miss.
    fn cached_record(&self, kind: &str, path: &Path) -> Option<CachedLayer> {
        // `copy`, `layers` and `context` records always name a layer.
        let layer_required = matches!(kind, "copy" | "layers" | "context");
        let valid = |l: &CachedLayer| l.is_some() || !layer_required;
        let key = path.file_name()?.to_str()?;
        let local = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CachedLayer>(&b).ok())
            .filter(|l| valid(l) && l.as_ref().is_none_or(|(d, _)| self.store.has(&d.digest)));
        let found = local.or_else(|| {
            self.opts.cache_imports.iter().find_map(|imp| {
                let layer = imp.record(kind, key)?.clone();
                if !valid(&layer) {
                    return None;
                }
                if let Some((d, diff_id)) = &layer
                    && !self.store.has(&d.digest)
                {
                    match imp.fetch_layer(self.store, d, diff_id) {
                        Ok(true) => {}
                        Ok(false) => return None,
                        Err(e) => {
                            self.reporter.warn(&format!(
                                "cache {}: layer {} not usable ({e}); the step runs instead",
                                imp.name(),
                                d.digest
                            ));
                            return None;
                        }
                    }
                }
                // Only a shortcut for the next build on this store.
                if let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec(&layer)) {
                    let _ = std::fs::create_dir_all(dir);
                    let _ = lading_oci::store::write_atomic(path, &bytes);
                }
                Some(layer)
            })
        })?;
        self.note_record(kind, key, &found);
        Some(found)
    }

    /// Writes a record into the local cache `kind` at `path` and notes it for
    /// `--cache-to`.
    fn write_record(&self, kind: &str, path: &Path, layer: &CachedLayer) -> StepResult<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StepError::msg(format!("creating {}: {e}", dir.display())))?;
        }
        let record = serde_json::to_vec(layer).map_err(StepError::from)?;
        lading_oci::store::write_atomic(path, &record)?;
        if let Some(key) = path.file_name().and_then(|k| k.to_str()) {
            self.note_record(kind, key, layer);
        }
        Ok(())
    }

    fn note_record(&self, kind: &str, key: &str, layer: &CachedLayer) {
        self.shared
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .records
            .push(crate::shared_cache::Record {
                kind: kind.to_string(),
                key: key.to_string(),
                layer: layer.clone(),
            });
    }

    /// Where the store has no gzip blob recorded for the uncompressed layer `layer`,
    /// takes the one a `--cache-from` cache has (fetched and verified), so the image is
    /// not compressed again.
    fn import_gzip(&self, layer: &lading_oci::Descriptor) {
        let record = self
            .store
            .private_dir()
            .join("cache/gzip")
            .join(layer.digest.hex());
        if record.is_file() {
            return;
        }
        for imp in &self.opts.cache_imports {
            match imp.fetch_compressed(self.store, &layer.digest) {
                Ok(Some(gz)) => {
                    crate::shared_cache::record_gzip(self.store, &layer.digest, &gz);
                    return;
                }
                Ok(None) => {}
                Err(e) => self.reporter.warn(&format!(
                    "cache {}: gzip blob of layer {} not usable ({e}); compressing it here",
                    imp.name(),
                    layer.digest
                )),
            }
        }
    }

    /// Writes a layer uncompressed; in the target stage, whose layers the image holds,
    /// gzips it on the way too (kept for [`Builder::compressed_layers`]), so compressing
    /// overlaps reading the files instead of following the build.
    fn write_layer(
        &self,
        entries: Vec<lading_oci::layer::Entry>,
    ) -> StepResult<lading_oci::layer::LayerBlob> {
        let epoch = self.opts.epoch as u64;
        if self.current.is_none() || self.current != self.shared.target.get().copied() {
            return Ok(write_layer_tar(self.store, entries, epoch)?);
        }
        let (blob, gz) = lading_oci::layer::write_layer_tar_and_gzip(self.store, entries, epoch)?;
        self.shared
            .gzipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(blob.descriptor.digest.clone(), gz);
        Ok(blob)
    }

    fn unused_args(&self) -> Vec<String> {
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .collect();
        if unused.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "one or more build-args {:?} were not consumed",
                unused
            )]
        }
    }

    /// The stage's layers as exported: the ones this build wrote uncompressed gzipped
    /// (once per store; a warm build finds them recorded, `--no-cache` compresses
    /// again unless this build gzipped them while writing them), the others as they are. Each
    /// gzip blob's digest also names the tar's snapshot, so a build `FROM` the image
    /// does not unpack its layers again.
    fn compressed_layers(&self, state: &StageState) -> Result<Vec<lading_oci::Descriptor>> {
        let snapshots = crate::snapshot::Snapshots::new(self.store).ok();
        let mut out = Vec::with_capacity(state.layers.len());
        for (layer, &uncompressed) in state.layers.iter().zip(&state.uncompressed) {
            if !uncompressed {
                out.push(layer.clone());
                continue;
            }
            let early = self
                .shared
                .gzipped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&layer.digest)
                .filter(|gz| self.store.has(&gz.digest))
                .cloned();
            let gz = match early {
                Some(gz) => gz,
                None => {
                    if !self.opts.no_cache {
                        self.import_gzip(layer);
                    }
                    lading_oci::layer::compress_layer(self.store, layer, !self.opts.no_cache)?
                }
            };
            self.shared
                .used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .compressed
                .push(crate::shared_cache::Compressed {
                    diff_id: layer.digest.clone(),
                    layer: gz.clone(),
                });
            if let Some(s) = &snapshots {
                s.alias(layer, &gz);
            }
            out.push(gz);
        }
        Ok(out)
    }

    /// Writes config and manifest, with labels and annotations from the options.
    fn finish(&self, mut state: StageState) -> Result<Image> {
        if self.opts.platform_explicit {
            // BuildKit: with `--platform`, the image is the target platform's, whatever
            // the final stage's base said (a stage FROM a `$BUILDPLATFORM` one included).
            let target = self.opts.platform.normalized();
            state.config.architecture = target.architecture;
            state.config.os = target.os;
            state.config.variant = target.variant;
        }
        let created = rfc3339(self.opts.epoch);
        state.config.created = Some(created.clone());
        for (k, v) in &self.opts.labels {
            state.config.config.labels.insert(k.clone(), v.clone());
        }
        let config_bytes = to_canonical_json(&state.config)?;
        let config = self.store.put_bytes(&config_bytes, MEDIA_TYPE_CONFIG)?;
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_CREATED.to_string(), created);
        if let Some((name, digest)) = &state.base {
            annotations.insert(ANNOTATION_BASE_NAME.to_string(), name.clone());
            annotations.insert(ANNOTATION_BASE_DIGEST.to_string(), digest.to_string());
        }
        if let Some((source, revision)) = &self.opts.vcs {
            annotations.insert(ANNOTATION_SOURCE.to_string(), source.clone());
            annotations.insert(ANNOTATION_REVISION.to_string(), revision.clone());
        }
        for (k, v) in &self.opts.annotations {
            annotations.insert(k.clone(), v.clone());
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            artifact_type: None,
            config,
            layers: self.compressed_layers(&state)?,
            subject: None,
            annotations,
        };
        let desc = self
            .store
            .put_bytes(&to_canonical_json(&manifest)?, MEDIA_TYPE_MANIFEST)?;
        Ok(Image::load(self.store, &desc, &self.opts.platform)?)
    }
}

/// Cleans an absolute path lexically (`/a/./b/../c` → `/a/c`).
pub fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}
