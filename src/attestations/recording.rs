//! What `lading build` observes for the build record, from before the build starts to
//! after it ends: the contexts' digests, every image the resolver hands out, the
//! progress as printed, and the times (see [`super::record`]).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use lading_builder::context::ignore::IgnoreMatcher;
use lading_builder::context::local::LocalContext;
use lading_builder::{BuildOptions, NamedContext, Reporter};
use lading_oci::{Digest, ImageSource, Store};

use super::build_log::Recorder;
use super::record::{self, BuildRecord, ContextRef, DockerfileRef, NamedContextRef};
use super::resolved::ResolvedLog;
use super::{git, invocation};

/// One build being recorded.
pub struct Recording<'a> {
    started_on: String,
    /// The main context's digest, computed on its own thread while the build runs.
    context: std::thread::JoinHandle<Result<ContextRef>>,
    build_contexts: BTreeMap<String, NamedContextRef>,
    images: ResolvedLog,
    recorder: Recorder<'a>,
}

impl<'a> Recording<'a> {
    /// Starts recording the build of `opts`, whose progress `printer` shows: the
    /// contexts are digested from now on, as the build is about to see them. The main
    /// context, which may be large, is read on a thread of its own: reading and hashing
    /// it on the way to the first step would delay the whole build, while beside the
    /// build it takes a core the build's first steps leave idle.
    pub fn start(opts: &BuildOptions, printer: &'a dyn Reporter) -> Result<Recording<'a>> {
        let started_on = invocation::now_rfc3339();
        let main = lading_builder::main_context(opts)?;
        let context = std::thread::Builder::new()
            .name("context-digest".into())
            .spawn(move || {
                let digest = main
                    .digest()
                    .map_err(|e| anyhow!("digesting the build context: {}", e.message))?;
                Ok(ContextRef {
                    digest: digest.to_string(),
                    git: git::clean_checkout(&main),
                })
            })
            .map_err(|e| anyhow!("starting the build context's digest: {e}"))?;
        let mut build_contexts = BTreeMap::new();
        for (name, ctx) in &opts.named_contexts {
            let value = match ctx {
                NamedContext::Dir(dir) => {
                    let digest = LocalContext::new(dir, IgnoreMatcher::default())
                        .and_then(|c| c.with_modes(opts.context_modes).digest())
                        .map_err(|e| anyhow!("digesting build context {name}: {}", e.message))?;
                    NamedContextRef::Directory {
                        digest: digest.to_string(),
                    }
                }
                NamedContext::Image(reference) => NamedContextRef::Image {
                    reference: reference.clone(),
                },
            };
            build_contexts.insert(name.clone(), value);
        }
        Ok(Recording {
            started_on,
            context,
            build_contexts,
            images: ResolvedLog::default(),
            recorder: Recorder::new(printer),
        })
    }

    /// `source`, the resolver's source for `requested`, recording what it resolves to.
    pub fn source(&self, requested: &str, source: Box<dyn ImageSource>) -> Box<dyn ImageSource> {
        self.images.wrap(requested, source)
    }

    /// The reporter to give the build: it prints through the printer and keeps the log.
    pub fn reporter(&self) -> &Recorder<'a> {
        &self.recorder
    }

    /// Writes the record of the build of `opts` (with `--network` `network`) that wrote
    /// `manifest`.
    pub fn finish(
        self,
        store: &Store,
        opts: &BuildOptions,
        network: &str,
        manifest: &Digest,
    ) -> Result<()> {
        let (builder_id, invocation_id) = invocation::identify(|k| std::env::var(k).ok());
        // An image `--build-context` is named by its context name, as the Dockerfile
        // names it.
        let images =
            self.images
                .images()
                .into_iter()
                .map(|mut image| {
                    let named = opts.named_contexts.iter().find(
                        |(_, c)| matches!(c, NamedContext::Image(r) if *r == image.requested),
                    );
                    if let Some((name, _)) = named {
                        image.requested = name.clone();
                    }
                    image
                })
                .collect();
        let record = BuildRecord {
            schema: record::SCHEMA,
            manifest: manifest.to_string(),
            lading_version: env!("CARGO_PKG_VERSION").into(),
            dockerfile: DockerfileRef {
                path: record::dockerfile_path(&opts.context_dir, opts.dockerfile_path.as_deref()),
                digest: Digest::of(opts.dockerfile_text.as_bytes()).to_string(),
            },
            context: self
                .context
                .join()
                .map_err(|_| anyhow!("digesting the build context: the thread panicked"))??,
            build_args: opts.build_args.clone(),
            target: opts.target.clone(),
            platform: opts.platform.to_string(),
            source_date_epoch: opts.epoch,
            context_modes: opts.context_modes.as_str().into(),
            network: network.to_string(),
            no_cache: opts.no_cache,
            build_contexts: self.build_contexts,
            secrets: opts.secrets.keys().cloned().collect(),
            ssh: opts.ssh.keys().cloned().collect(),
            images,
            builder_id,
            invocation_id,
            started_on: self.started_on,
            finished_on: invocation::now_rfc3339(),
            log: self.recorder.recorded(),
        };
        record::write(store, &record)
    }
}
