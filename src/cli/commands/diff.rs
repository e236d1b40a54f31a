//! `lading diff A B`: what differs between two images, each difference once, at the
//! level where it starts (the engine is `lading_oci::diff`). Exit 0 equal, 1 different,
//! 2 error.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lading_oci::diff::{self, BlobSource, Diff, DiffOptions, Input, LayoutSource, StoreSource};
use lading_oci::graph::is_manifest_type;
use lading_oci::source::{
    extract_archive, import_docker_archive_file, layout_descriptor, resolve_in_store,
};
use lading_oci::{Descriptor, Platform, Reference, SourceRef, Store};
use lading_registry::client::Client;

use crate::cli::args::{DiffArgs, Progress, RegistryArgs};
use crate::cli::gate::Format;
use crate::cli::registry::{self, Place};

/// Blobs of a registry image: manifests and configs read into memory (verified),
/// layers downloaded into the store (verified on the way in) only when the engine
/// opens them, i.e. only layers that differ from the other side's.
struct RegistrySource<'a> {
    client: Arc<Client>,
    reference: Reference,
    store: &'a Store,
}

impl BlobSource for RegistrySource<'_> {
    fn read_small(&self, desc: &Descriptor) -> lading_oci::Result<Vec<u8>> {
        let bytes = if is_manifest_type(&desc.media_type) {
            self.client
                .manifest(&self.reference.with_digest(desc.digest.clone()))
                .map(|f| f.bytes)
        } else {
            self.client.blob_bytes(&self.reference, desc)
        }
        .map_err(|e| lading_oci::Error::Invalid {
            what: format!("{} blob {}", self.reference, desc.digest),
            reason: format!("{e:#}"),
        })?;
        diff::source::check(desc, &bytes)?;
        Ok(bytes)
    }

    fn open(&self, desc: &Descriptor) -> lading_oci::Result<Box<dyn Read + '_>> {
        if !self.store.has(&desc.digest) {
            self.client
                .fetch_blob(&self.reference, desc, self.store)
                .map_err(|e| lading_oci::Error::Invalid {
                    what: format!("{} blob {}", self.reference, desc.digest),
                    reason: format!("{e:#}"),
                })?;
        }
        Ok(Box::new(self.store.open_blob(&desc.digest)?))
    }
}

/// One side, opened: where its blobs are and its root.
pub(crate) struct Opened<'a> {
    pub(crate) source: Box<dyn BlobSource + 'a>,
    pub(crate) root: Descriptor,
    _tmp: Option<tempfile::TempDir>,
}

/// Opens the image `name` (a store name, `docker://REF`, `oci:DIR[:tag]`, an archive)
/// for comparison; `client` is made from `registry_args` when first needed.
pub(crate) fn open<'a>(
    store: &'a Store,
    name: &str,
    client: &mut Option<Arc<Client>>,
    registry_args: &RegistryArgs,
) -> Result<Opened<'a>> {
    Ok(match registry::place(name)? {
        Place::Registry(r) => {
            if client.is_none() {
                *client = Some(registry::client(registry_args, Progress::Quiet)?);
            }
            let c = client.clone().context("no registry client")?;
            let top = c.manifest(&r).with_context(|| format!("reading {r}"))?;
            Opened {
                source: Box::new(RegistrySource {
                    client: c,
                    reference: r,
                    store,
                }),
                root: top.descriptor,
                _tmp: None,
            }
        }
        Place::Local(SourceRef::Scratch) => bail!("scratch has nothing to compare"),
        Place::Local(SourceRef::Store(s)) => Opened {
            source: Box::new(StoreSource(store)),
            root: resolve_in_store(store, &s)?
                .with_context(|| format!("image {s:?} not found in the local store"))?,
            _tmp: None,
        },
        Place::Local(SourceRef::OciDir { dir, tag }) => Opened {
            root: layout_descriptor(&dir, tag.as_deref())?,
            source: Box::new(LayoutSource::new(&dir)),
            _tmp: None,
        },
        Place::Local(SourceRef::OciArchive { file, tag }) => {
            let tmp = extract_archive(store, &file)?;
            Opened {
                root: layout_descriptor(tmp.path(), tag.as_deref())?,
                source: Box::new(LayoutSource::new(tmp.path())),
                _tmp: Some(tmp),
            }
        }
        Place::Local(SourceRef::DockerArchive { file, tag }) => {
            // Docker archives have no manifest of their own: imported into the store
            // (as `lading cp` does), then compared from there.
            let image = import_docker_archive_file(store, &file, tag.as_deref())?;
            Opened {
                source: Box::new(StoreSource(store)),
                root: image.descriptor,
                _tmp: None,
            }
        }
    })
}

/// Runs the comparison and renders it.
pub fn run(store_dir: &Path, args: DiffArgs) -> Result<ExitCode> {
    let store =
        Store::open(store_dir).with_context(|| format!("opening store {}", store_dir.display()))?;
    let mut client = None;
    let a = open(&store, &args.a, &mut client, &args.registry)
        .with_context(|| format!("reading {}", args.a))?;
    let b = open(&store, &args.b, &mut client, &args.registry)
        .with_context(|| format!("reading {}", args.b))?;
    let opts = DiffOptions {
        semantic: args.semantic,
        platform: match &args.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        },
        ..DiffOptions::default()
    };
    let result = diff::diff(
        &Input {
            name: args.a.clone(),
            source: a.source.as_ref(),
            root: a.root.clone(),
        },
        &Input {
            name: args.b.clone(),
            source: b.source.as_ref(),
            root: b.root.clone(),
        },
        &opts,
    )
    .with_context(|| format!("comparing {} and {}", args.a, args.b))?;
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&result)?;
            s.push('\n');
            s
        }
        Format::Table => table(&result),
    };
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => {}
        }
    }
    Ok(if result.is_equal() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn show(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "-".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// `LEVEL  WHERE  WHAT  A  B`, then the unified diffs.
fn table(d: &Diff) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "LEVEL".into(),
        "WHERE".into(),
        "WHAT".into(),
        "A".into(),
        "B".into(),
    ]];
    let mut notes = String::new();
    for x in &d.differences {
        let level = serde_json::to_value(x.level)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let kind = serde_json::to_value(x.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let layer = x.layer.as_ref().map(|l| match (l.a, l.b) {
            (Some(a), Some(b)) if a == b => format!("layer {a}"),
            (Some(a), Some(b)) => format!("layer {a}→{b}"),
            (Some(a), None) => format!("layer {a} (A)"),
            (None, Some(b)) => format!("layer {b} (B)"),
            (None, None) => String::new(),
        });
        let place = match (&layer, &x.path) {
            (Some(l), Some(p)) => format!("{l} /{p}"),
            (Some(l), None) => l.clone(),
            (None, _) => x.field.clone(),
        };
        let what = if x.field.is_empty() || layer.is_none() || x.field == kind {
            kind
        } else {
            format!("{kind} {}", x.field)
        };
        let (mut a, mut b) = (show(&x.a), show(&x.b));
        for s in [&mut a, &mut b] {
            if s.chars().count() > 72 {
                *s = format!("{}…", s.chars().take(71).collect::<String>());
            }
        }
        rows.push([level, place, what, a, b]);
        if let Some(n) = &x.note {
            let _ = writeln!(notes, "note: {}: {n}", rows.len() - 1);
        }
        if let Some(u) = &x.unified_diff {
            notes.push_str(u);
        }
    }
    let mut out = String::new();
    if d.differences.is_empty() {
        let _ = writeln!(
            out,
            "{} and {} are equal ({} layer pairs read, {} skipped by digest)",
            d.a.name, d.b.name, d.layers_read, d.layers_skipped
        );
        return out;
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, r) in rows.iter().enumerate() {
        let mut line = String::new();
        if n > 0 {
            let _ = write!(line, "{n:>3} ");
        } else {
            line.push_str("  # ");
        }
        for (i, cell) in r.iter().enumerate() {
            if i < 4 {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    let _ = writeln!(
        out,
        "\n{} differences ({} layer pairs read, {} skipped by digest)",
        d.differences.len(),
        d.layers_read,
        d.layers_skipped
    );
    out
}
