//! `lading report`: what the store knows about one image, gathered for one
//! self-contained HTML page ([`html`]) that an auditor reads in a browser.
//!
//! Gathering is separate from rendering: the modules here read the store (the gate
//! record and its report blobs, the publish record and its Sigstore bundles, the build
//! record's SLSA provenance) into plain data; [`html`] turns that data into markup and
//! is the only place text meets HTML. Every piece besides the image itself is optional:
//! a missing record is [`Part::Missing`] ("not gated", "not pushed") and an unreadable
//! one [`Part::Broken`], shown on the page rather than failing the command — a report
//! about a half-finished pipeline is still the report an auditor asked for.

pub mod gates;
pub mod html;
pub mod image;
pub mod provenance;
pub mod signatures;

use std::io::Read as _;

use anyhow::Result;
use lading_oci::{Digest, Platform, Store};

pub use image::ImageFacts;

/// Blobs the report reads whole (reports, SBOMs, bundles with their predicates) may be
/// larger than the store's limit for manifests; this bounds them still.
const MAX_REPORT_BLOB: u64 = 256 * 1024 * 1024;

/// One piece of the report.
#[derive(Debug, Clone)]
pub enum Part<T> {
    /// Recorded and read.
    Found(T),
    /// Never recorded: what the page says instead ("not gated").
    Missing(String),
    /// Recorded but unreadable: the error, shown on the page.
    Broken(String),
}

impl<T> Part<T> {
    /// [`Part::Broken`] with an error chain on one line.
    pub fn broken(err: &anyhow::Error) -> Part<T> {
        Part::Broken(format!("{err:#}"))
    }

    /// The value, if found.
    pub fn found(&self) -> Option<&T> {
        match self {
            Part::Found(t) => Some(t),
            _ => None,
        }
    }
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The image: digest, references, platform, layers.
    pub image: ImageFacts,
    /// The latest gate record and its reports.
    pub gates: Part<gates::Gates>,
    /// Where the image was pushed and what signed it (the publish record), or the
    /// signatures found in the store.
    pub signatures: Part<signatures::Signatures>,
    /// The SLSA provenance lading generates from its build record.
    pub provenance: Part<provenance::Provenance>,
}

/// Gathers the report of the store image `reference` names (a tag, `REPO@sha256:…` or
/// `sha256:…`; an index is resolved to `platform`'s manifest). `Ok(None)`: the store
/// has no such image.
pub fn gather(store: &Store, reference: &str, platform: &Platform) -> Result<Option<Report>> {
    let Some(image) = image::find(store, reference, platform)? else {
        return Ok(None);
    };
    let digest = image.digest.clone();
    Ok(Some(Report {
        gates: gates::gather(store, &digest),
        signatures: signatures::gather(store, &digest),
        provenance: provenance::gather(store, &digest),
        image,
    }))
}

/// A blob of the store, read whole and checked against its digest.
pub(crate) fn read_blob(store: &Store, digest: &Digest) -> Result<Vec<u8>> {
    let file = store.open_blob(digest)?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT_BLOB + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REPORT_BLOB {
        anyhow::bail!("blob {digest} is larger than {MAX_REPORT_BLOB} bytes");
    }
    let actual = Digest::of(&bytes);
    if &actual != digest {
        anyhow::bail!("blob {digest} does not match its digest (it hashes to {actual})");
    }
    Ok(bytes)
}
