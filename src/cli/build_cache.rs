//! `lading build --cache-to` / `--cache-from`: where a shared build cache lives (a
//! registry, as `lading cp` reaches it, or an OCI layout directory) and how it moves.
//! The format and the lookups are the builder's ([`lading_builder::shared_cache`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lading_builder::Reporter;
use lading_builder::shared_cache::{
    BlobSource, CacheExport, ExportMode, ImportedCache, write_artifact,
};
use lading_oci::constants::{
    ANNOTATION_REF_NAME, MAX_JSON_BLOB, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_MANIFEST,
};
use lading_oci::spec::{Index, Manifest, from_json};
use lading_oci::{Descriptor, Reference, Store};
use lading_registry::client::Client;

/// Where a cache is read from or written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `type=registry,ref=REF` (or a bare reference).
    Registry(Reference),
    /// `type=local,src=DIR` / `dest=DIR`: an OCI layout, the manifest under `tag`.
    Local {
        /// The layout directory.
        dir: PathBuf,
        /// Its `org.opencontainers.image.ref.name` (buildx's `tag=`, default `latest`).
        tag: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Registry(r) => write!(f, "{r}"),
            Location::Local { dir, tag } => write!(f, "{}:{tag}", dir.display()),
        }
    }
}

/// A parsed `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTo {
    /// Where.
    pub location: Location,
    /// `mode=min|max`.
    pub mode: ExportMode,
    /// `ignore-error=true`: a failed export is a warning, not a failed build.
    pub ignore_error: bool,
}

/// Parses buildx's `type=...,key=value` form; a value with no `=` is a registry
/// reference (docker's `--cache-from IMAGE`). `to` picks `dest=` over `src=`.
fn fields(value: &str, to: bool) -> Result<(Location, ExportMode, bool)> {
    let flag = if to { "--cache-to" } else { "--cache-from" };
    if !value.contains('=') {
        let r = crate::cli::registry::reference(value).context(flag)?;
        return Ok((Location::Registry(r), ExportMode::Min, false));
    }
    let (mut kind, mut reference, mut dir, mut tag) = (None, None, None, None);
    let mut mode = ExportMode::Min;
    let mut ignore_error = false;
    for field in value.split(',') {
        let (k, v) = field
            .split_once('=')
            .with_context(|| format!("invalid {flag} {value:?}: expected key=value fields"))?;
        match k {
            "type" => kind = Some(v.to_string()),
            "ref" => reference = Some(v.to_string()),
            "dest" if to => dir = Some(PathBuf::from(v)),
            "src" if !to => dir = Some(PathBuf::from(v)),
            "tag" => tag = Some(v.to_string()),
            "mode" if to => {
                mode = match v {
                    "min" => ExportMode::Min,
                    "max" => ExportMode::Max,
                    other => {
                        bail!("invalid {flag} {value:?}: mode {other:?} (expected min or max)")
                    }
                }
            }
            "ignore-error" if to => ignore_error = v == "true",
            // buildx options that do not apply to lading's artifact.
            "compression" | "compression-level" | "force-compression" | "oci-mediatypes"
            | "image-manifest" | "digest" => {}
            other => bail!("invalid {flag} {value:?}: unknown field {other:?}"),
        }
    }
    let location = match kind.as_deref().unwrap_or("registry") {
        "registry" => {
            let r = reference.with_context(|| format!("{flag} {value:?}: ref= is required"))?;
            Location::Registry(crate::cli::registry::reference(&r).with_context(|| flag)?)
        }
        "local" => {
            let which = if to { "dest=" } else { "src=" };
            let dir = dir.with_context(|| format!("{flag} {value:?}: {which} is required"))?;
            Location::Local {
                dir,
                tag: tag.unwrap_or_else(|| "latest".into()),
            }
        }
        other => bail!(
            "{flag} type={other} is not supported (lading stores caches with type=registry or type=local)"
        ),
    };
    Ok((location, mode, ignore_error))
}

/// Parses `--cache-to`.
pub fn parse_to(value: &str) -> Result<CacheTo> {
    let (location, mode, ignore_error) = fields(value, true)?;
    Ok(CacheTo {
        location,
        mode,
        ignore_error,
    })
}

/// Parses `--cache-from`.
pub fn parse_from(value: &str) -> Result<Location> {
    Ok(fields(value, false)?.0)
}

/// Reads the caches `from` names (manifest and records only). One that cannot be read
/// — missing, of another format, corrupt — is left out with a warning: a cache is never
/// a reason for a build to fail.
pub fn import(
    from: &[Location],
    client: &Arc<Client>,
    reporter: &dyn Reporter,
) -> Vec<Arc<ImportedCache>> {
    let mut out = Vec::new();
    for loc in from {
        let read = match loc {
            Location::Registry(r) => import_registry(r, client),
            Location::Local { dir, tag } => import_local(dir, tag),
        };
        match read {
            Ok(cache) => out.push(Arc::new(cache)),
            Err(e) => reporter.warn(&format!(
                "cache {loc} not imported ({e:#}); building without it"
            )),
        }
    }
    out
}

fn parse_manifest(media_type: &str, bytes: &[u8]) -> Result<Manifest> {
    if media_type != MEDIA_TYPE_MANIFEST && media_type != MEDIA_TYPE_DOCKER_MANIFEST {
        bail!("it is not an image manifest ({media_type}): not a lading build cache");
    }
    Ok(from_json(bytes, "the cache manifest")?)
}

fn check_config_size(m: &Manifest) -> Result<()> {
    if m.config.size > MAX_JSON_BLOB {
        bail!(
            "its config is {} bytes, more than a cache's records may be",
            m.config.size
        );
    }
    Ok(())
}

fn import_registry(r: &Reference, client: &Arc<Client>) -> Result<ImportedCache> {
    let fetched = client.manifest(r)?;
    let m = parse_manifest(&fetched.descriptor.media_type, &fetched.bytes)?;
    check_config_size(&m)?;
    // A foreign artifact is refused on its media type before its config is read.
    if m.config.media_type != lading_oci::constants::MEDIA_TYPE_BUILD_CACHE_CONFIG {
        return ImportedCache::new(&r.to_string(), &m, b"", Box::new(NoBlobs))
            .map_err(anyhow::Error::msg);
    }
    let config = client.blob_bytes(r, &m.config)?;
    let source = RegistryBlobs {
        client: client.clone(),
        reference: r.clone(),
    };
    ImportedCache::new(&r.to_string(), &m, &config, Box::new(source)).map_err(anyhow::Error::msg)
}

fn import_local(dir: &Path, tag: &str) -> Result<ImportedCache> {
    let layout = LocalLayout(dir.to_path_buf());
    let index: Index = from_json(
        &std::fs::read(dir.join("index.json"))
            .with_context(|| format!("reading {}", dir.join("index.json").display()))?,
        "index.json",
    )?;
    let desc = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
        .with_context(|| format!("index.json names no manifest {tag:?}"))?;
    if desc.size > MAX_JSON_BLOB {
        bail!("its manifest is {} bytes", desc.size);
    }
    let m = parse_manifest(&desc.media_type, &layout.read(desc)?)?;
    check_config_size(&m)?;
    let config = layout.read(&m.config)?;
    let name = format!("{}:{tag}", dir.display());
    ImportedCache::new(&name, &m, &config, Box::new(layout)).map_err(anyhow::Error::msg)
}

/// Writes the build's cache to `to`. Registry: pushed by digest, then tagged. Local: the
/// blobs copied into the layout (verified), the manifest named `tag` in its index.
pub fn export(
    store: &Store,
    cache: &CacheExport,
    to: &CacheTo,
    client: &Arc<Client>,
) -> Result<Descriptor> {
    let desc = write_artifact(store, cache, to.mode).context("writing the cache artifact")?;
    match &to.location {
        Location::Registry(r) => {
            client
                .push(store, &desc, r)
                .with_context(|| format!("pushing the build cache to {r}"))?;
        }
        Location::Local { dir, tag } => {
            let dest = Store::open(dir).with_context(|| format!("opening {}", dir.display()))?;
            let m: Manifest = from_json(&store.read_blob(&desc.digest)?, "the cache manifest")?;
            for d in m.layers.iter().chain([&m.config, &desc]) {
                let f = store.open_blob(&d.digest)?;
                dest.put_reader(f, Some((&d.digest, d.size)))
                    .with_context(|| format!("copying {} to {}", d.digest, dir.display()))?;
            }
            dest.tag(tag, &desc)?;
        }
    }
    Ok(desc)
}

/// Blobs of a cache in a registry repository.
struct RegistryBlobs {
    client: Arc<Client>,
    reference: Reference,
}

impl BlobSource for RegistryBlobs {
    fn fetch(&self, desc: &Descriptor, store: &Store) -> Result<(), String> {
        self.client
            .fetch_blob(&self.reference, desc, store)
            .map_err(|e| format!("{e:#}"))
    }
}

/// Blobs of a cache in an OCI layout directory, read in place.
struct LocalLayout(PathBuf);

impl LocalLayout {
    fn path(&self, desc: &Descriptor) -> PathBuf {
        self.0
            .join("blobs")
            .join(desc.digest.algorithm().name())
            .join(desc.digest.hex())
    }

    /// A small blob, verified.
    fn read(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let p = self.path(desc);
        let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        if bytes.len() as u64 != desc.size || lading_oci::Digest::of(&bytes) != desc.digest {
            bail!("{} does not match its digest {}", p.display(), desc.digest);
        }
        Ok(bytes)
    }
}

impl BlobSource for LocalLayout {
    fn fetch(&self, desc: &Descriptor, store: &Store) -> Result<(), String> {
        let p = self.path(desc);
        let f = std::fs::File::open(&p).map_err(|e| format!("opening {}: {e}", p.display()))?;
        store
            .put_reader(f, Some((&desc.digest, desc.size)))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", p.display()))
    }
}

/// For a cache refused before its blobs are needed.
struct NoBlobs;

impl BlobSource for NoBlobs {
    fn fetch(&self, desc: &Descriptor, _: &Store) -> Result<(), String> {
        Err(format!("no blob {}", desc.digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_spellings_parse() {
        let to = parse_to("type=registry,ref=127.0.0.1:5000/app:cache,mode=max").unwrap();
        assert_eq!(to.mode, ExportMode::Max);
        assert_eq!(
            to.location,
            Location::Registry(Reference::parse("127.0.0.1:5000/app:cache").unwrap())
        );
        assert_eq!(
            parse_to("type=registry,ref=r.io/a:c").unwrap().mode,
            ExportMode::Min,
            "docker's default mode is min"
        );
        assert_eq!(
            parse_to("type=local,dest=/tmp/c").unwrap().location,
            Location::Local {
                dir: "/tmp/c".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            parse_from("type=local,src=/tmp/c,tag=v1").unwrap(),
            Location::Local {
                dir: "/tmp/c".into(),
                tag: "v1".into()
            }
        );
        assert!(matches!(
            parse_from("r.io/app:cache").unwrap(),
            Location::Registry(_)
        ));
        assert!(parse_to("type=gha").is_err());
        assert!(parse_to("type=registry,ref=r.io/a:c,mode=all").is_err());
        assert!(parse_from("type=local,dest=/x").is_err(), "src= reads");
        assert!(parse_to("type=local").is_err());
        assert!(parse_to("type=inline").is_err());
    }
}
