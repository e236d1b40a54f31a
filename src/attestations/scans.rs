//! The latest `lading scan` of each manifest, as the cosign vulnerability predicate
//! (`https://cosign.sigstore.dev/attestation/vuln/v1`) it rendered, stored in
//! `<store>/.lading/scans/<manifest-hex>.json` byte for byte: the vuln predicate is
//! exactly what `lading scan --format cosign-vuln` wrote for that digest.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lading_oci::{Digest, Store};

/// Where the latest scan of `manifest` lives.
pub fn scan_path(store: &Store, manifest: &Digest) -> PathBuf {
    store
        .private_dir()
        .join("scans")
        .join(format!("{}.json", manifest.hex()))
}

/// Stores `cosign_vuln` (the rendered predicate) as the latest scan of `manifest`.
pub fn write(store: &Store, manifest: &Digest, cosign_vuln: &[u8]) -> Result<()> {
    let path = scan_path(store, manifest);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    lading_oci::store::write_atomic(&path, cosign_vuln)
        .with_context(|| format!("writing the scan record {}", path.display()))
}

/// The latest scan of `manifest` (`None`: never scanned here).
pub fn latest(store: &Store, manifest: &Digest) -> Result<Option<Vec<u8>>> {
    let path = scan_path(store, manifest);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
