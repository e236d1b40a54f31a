//! `lading cp SRC DST` and `lading push SRC DST`: copy an image between places, digests
//! unchanged (what `crane copy` does); every copy goes through the store, whose blobs
//! are verified on the way in and reused on the way out.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use lading_oci::graph::Node;
use lading_oci::image::select_platform;
use lading_oci::source::{
    import_docker_archive_file, import_layout_all, import_oci_archive_all, normalize_tag,
    resolve_in_store,
};
use lading_oci::{Descriptor, Image, Platform, SourceRef, Store, export};
use lading_registry::client::Client;

use crate::cli::args::{CpArgs, PushArgs};
use crate::cli::output;
use crate::cli::registry::{self, Place};
use crate::progress::human_bytes;

/// `lading push`: `lading cp` whose destination must be a registry.
pub fn push(store_dir: &Path, args: PushArgs) -> Result<ExitCode> {
    if !args.destination.starts_with("docker://") {
        bail!(
            "push destination {:?} must be a registry: docker://REGISTRY/REPO[:TAG]",
            args.destination
        );
    }
    run(
        store_dir,
        CpArgs {
            source: args.source,
            destination: args.destination,
            platform: args.platform,
            quiet: args.quiet,
            registry: args.registry,
        },
    )
}

/// Copies; prints the digest of what was copied.
pub fn run(store_dir: &Path, args: CpArgs) -> Result<ExitCode> {
    let store =
        Store::open(store_dir).with_context(|| format!("opening store {}", store_dir.display()))?;
    let src = registry::place(&args.source)?;
    let dst = registry::place(&args.destination)?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let needs_client = matches!(src, Place::Registry(_)) || matches!(dst, Place::Registry(_));
    let client = if needs_client {
        Some(registry::client(
            &args.registry,
            registry::progress_mode(args.quiet),
        )?)
    } else {
        None
    };
    let start = Instant::now();
    let mut root = into_store(&store, &src, platform.as_ref(), client.as_deref())
        .with_context(|| format!("reading {}", args.source))?;
    if let Some(p) = &platform {
        root = pick_platform(&store, &root, p)?;
    }
    write(
        &store,
        &root,
        &dst,
        platform.as_ref(),
        client.as_deref(),
        args.quiet,
    )
    .with_context(|| format!("writing {}", args.destination))?;
    if !args.quiet {
        eprintln!(
            "copied {} to {} ({}) in {:.1}s",
            args.source,
            args.destination,
            root.digest.short(),
            start.elapsed().as_secs_f64()
        );
    }
    crate::cli::out!("{}", root.digest);
    Ok(ExitCode::SUCCESS)
}

/// Brings the source's whole graph into the store; returns its root descriptor.
fn into_store(
    store: &Store,
    src: &Place,
    platform: Option<&Platform>,
    client: Option<&Client>,
) -> Result<Descriptor> {
    Ok(match src {
        Place::Registry(r) => {
            let client = client.context("no registry client")?;
            let platforms = platform.map(|p| vec![p.clone()]);
            client.pull(store, r, platforms.as_deref())?.descriptor
        }
        Place::Local(SourceRef::Scratch) => bail!("scratch is not an image that can be copied"),
        Place::Local(SourceRef::Store(name)) => resolve_in_store(store, name)?
            .with_context(|| format!("image {name:?} not found in the local store"))?,
        Place::Local(SourceRef::OciDir { dir, tag }) => {
            import_layout_all(store, dir, tag.as_deref())?
        }
        Place::Local(SourceRef::OciArchive { file, tag }) => {
            import_oci_archive_all(store, file, tag.as_deref())?
        }
        Place::Local(SourceRef::DockerArchive { file, tag }) => {
            import_docker_archive_file(store, file, tag.as_deref())?.descriptor
        }
    })
}

/// The manifest of `platform` when `root` is an index (it must be in the store).
fn pick_platform(store: &Store, root: &Descriptor, platform: &Platform) -> Result<Descriptor> {
    let bytes = store.read_blob(&root.digest)?;
    match Node::parse(&root.media_type, &bytes)? {
        Node::Index(index) => Ok(select_platform(&index, platform, &root.digest.to_string())?),
        Node::Manifest(_) => Ok(root.clone()),
    }
}

fn write(
    store: &Store,
    root: &Descriptor,
    dst: &Place,
    platform: Option<&Platform>,
    client: Option<&Client>,
    quiet: bool,
) -> Result<()> {
    match dst {
        Place::Registry(r) => {
            let client = client.context("no registry client")?;
            let pushed = client.push(store, root, r)?;
            if !quiet {
                eprintln!(
                    "pushed {r}: {} blobs uploaded ({}), {} mounted, {} already there",
                    pushed.uploaded,
                    human_bytes(pushed.bytes),
                    pushed.mounted,
                    pushed.existed
                );
            }
        }
        Place::Local(SourceRef::Scratch) => bail!("cannot copy to scratch"),
        Place::Local(SourceRef::Store(name)) => {
            if name.parse::<lading_oci::Digest>().is_ok() {
                bail!("a store destination is a name (name[:tag]), not a digest");
            }
            store.tag(&normalize_tag(name), root)?;
        }
        Place::Local(SourceRef::OciDir { dir, tag }) => {
            export::write_oci_dir_graph(store, root, dir, tag.as_deref())?
        }
        Place::Local(SourceRef::OciArchive { file, tag }) => {
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(file)
                    .with_context(|| format!("creating {}", file.display()))?,
            );
            export::write_oci_archive_graph(store, root, &mut out, tag.as_deref())?;
            std::io::Write::flush(&mut out)?;
        }
        Place::Local(SourceRef::DockerArchive { file, tag }) => {
            // One platform only: docker archives hold images, not indexes.
            let p = platform.cloned().unwrap_or_else(Platform::host);
            let image = Image::load(store, root, &p)?;
            let names: Vec<String> = tag.iter().map(|t| normalize_tag(t)).collect();
            output::write(
                store,
                &image,
                &output::Output::Docker { dest: file.clone() },
                &names,
                0,
            )?;
        }
    }
    Ok(())
}
