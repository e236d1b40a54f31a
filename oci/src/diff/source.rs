//! Where the blobs of a compared image come from. The engine verifies what it reads:
//! small JSON blobs against their digest here, layers as they stream (see
//! [`super::layers`]), so a source only has to open bytes.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::constants::MAX_JSON_BLOB;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::spec::Descriptor;
use crate::store::Store;

/// Blobs of an image, by descriptor (`Sync`: both sides of a layer pair are read at
/// once, on two threads).
pub trait BlobSource: Sync {
    /// A small blob (index, manifest, config), verified against its digest.
    fn read_small(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(desc)?
            .take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Stream {
                what: format!("reading blob {}", desc.digest),
                source: e,
            })?;
        check(desc, &bytes)?;
        Ok(bytes)
    }
    /// The blob's bytes as stored, not verified (the caller verifies as it reads).
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>>;
}

/// Checks bytes against a descriptor's size and digest.
pub fn check(desc: &Descriptor, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != desc.size {
        return Err(Error::SizeMismatch {
            digest: desc.digest.clone(),
            expected: desc.size,
            actual: bytes.len() as u64,
        });
    }
    let actual = Digest::of(bytes);
    if actual != desc.digest {
        return Err(Error::DigestMismatch {
            expected: desc.digest.clone(),
            actual,
        });
    }
    Ok(())
}

/// lading's store (or any OCI layout opened as one).
pub struct StoreSource<'a>(pub &'a Store);

impl BlobSource for StoreSource<'_> {
    fn read_small(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let bytes = self.0.read_blob(&desc.digest)?;
        check(desc, &bytes)?;
        Ok(bytes)
    }
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        Ok(Box::new(self.0.open_blob(&desc.digest)?))
    }
}

/// An OCI image layout directory read in place (`blobs/<alg>/<hex>`), nothing copied.
pub struct LayoutSource {
    dir: PathBuf,
}

impl LayoutSource {
    /// The layout at `dir`.
    pub fn new(dir: &Path) -> LayoutSource {
        LayoutSource {
            dir: dir.to_path_buf(),
        }
    }
}

impl BlobSource for LayoutSource {
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        let p = self
            .dir
            .join("blobs")
            .join(desc.digest.algorithm().name())
            .join(desc.digest.hex());
        match File::open(&p) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::BlobNotFound {
                digest: desc.digest.clone(),
            }),
            Err(e) => Err(Error::io("opening", p)(e)),
        }
    }
}
