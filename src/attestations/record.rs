//! Build records: what provenance needs to know about the build that wrote a manifest,
//! recorded by `lading build` against the manifest digest in
//! `<store>/.lading/builds/<manifest-hex>.json` (canonical JSON; the latest build of a
//! digest wins). Nothing here reaches the image: the record sits beside it in the
//! store's private directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lading_oci::{Digest, Store};
use serde::{Deserialize, Serialize};

use super::build_log::BuildLog;
use super::resolved::ResolvedImage;

/// The record layout version.
pub const SCHEMA: u32 = 1;

/// The Dockerfile a build read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerfileRef {
    /// Its path relative to the context (its file name when it lies outside, `-` for
    /// standard input): never an absolute host path.
    pub path: String,
    /// sha256 of its bytes.
    pub digest: String,
}

/// A git checkout the context was, clean as far as the build could see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// `git+<remote URL>` (credentials dropped).
    pub uri: String,
    /// The commit checked out (`HEAD`).
    pub commit: String,
    /// The context's directory inside the repository (`""` for its root).
    pub path: String,
}

/// The main build context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextRef {
    /// The context digest (`LocalContext::digest`: after `.dockerignore`, with the modes
    /// copies give).
    pub digest: String,
    /// The git commit it is, when every file the build could see is committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
}

/// A `--build-context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum NamedContextRef {
    /// A local directory, by its context digest (no host path).
    Directory {
        /// Its context digest.
        digest: String,
    },
    /// An image, by the reference given (its digest is among the resolved images when
    /// the build used it).
    Image {
        /// The reference (`docker-image://…` as `docker://…`, `oci-layout://…` as `oci:…`).
        reference: String,
    },
}

/// Everything provenance says about one build of one manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The manifest digest the build wrote.
    pub manifest: String,
    /// The lading version that built it.
    pub lading_version: String,
    /// The Dockerfile.
    pub dockerfile: DockerfileRef,
    /// The main context.
    pub context: ContextRef,
    /// `--build-arg`s as the build received them.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The target platform (`linux/amd64`).
    pub platform: String,
    /// `SOURCE_DATE_EPOCH` (0 when not given).
    pub source_date_epoch: i64,
    /// `--context-modes` (`preserve` or `normalize`).
    pub context_modes: String,
    /// `--network` (`default`, `none` or `host`).
    pub network: String,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--build-context`s by name.
    pub build_contexts: BTreeMap<String, NamedContextRef>,
    /// The ids of `--secret`s (never their values).
    pub secrets: Vec<String>,
    /// The ids of `--ssh` agents.
    pub ssh: Vec<String>,
    /// Every image the build read, by digest.
    pub images: Vec<ResolvedImage>,
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// `runDetails.metadata.invocationId`.
    pub invocation_id: String,
    /// When the build started (RFC 3339, UTC).
    pub started_on: String,
    /// When it finished (RFC 3339, UTC).
    pub finished_on: String,
    /// The progress log.
    pub log: BuildLog,
}

/// Where the latest build record of `manifest` lives.
pub fn record_path(store: &Store, manifest: &Digest) -> PathBuf {
    store
        .private_dir()
        .join("builds")
        .join(format!("{}.json", manifest.hex()))
}

/// Stores `record` as the latest build of its manifest.
pub fn write(store: &Store, record: &BuildRecord) -> Result<()> {
    let manifest: Digest = record.manifest.parse()?;
    let path = record_path(store, &manifest);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes = lading_oci::spec::to_canonical_json(record)?;
    lading_oci::store::write_atomic(&path, &bytes)
        .with_context(|| format!("writing the build record {}", path.display()))
}

/// The latest build record of `manifest` (`None`: lading did not build it here).
pub fn latest(store: &Store, manifest: &Digest) -> Result<Option<BuildRecord>> {
    let path = record_path(store, manifest);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let record: BuildRecord = serde_json::from_slice(&bytes)
        .with_context(|| format!("reading the build record {}", path.display()))?;
    if record.schema != SCHEMA {
        bail!(
            "build record {}: unknown schema {}",
            path.display(),
            record.schema
        );
    }
    if record.manifest != manifest.to_string() {
        bail!(
            "build record {} is about {}, not {manifest}",
            path.display(),
            record.manifest
        );
    }
    Ok(Some(record))
}

/// The Dockerfile's path as recorded: relative to the context when inside it, else its
/// file name (no host path leaves the machine).
pub fn dockerfile_path(context: &Path, dockerfile: Option<&Path>) -> String {
    let Some(file) = dockerfile else {
        return "-".into();
    };
    let inside = std::fs::canonicalize(file)
        .ok()
        .zip(std::fs::canonicalize(context).ok())
        .and_then(|(f, c)| f.strip_prefix(c).ok().map(Path::to_path_buf));
    match inside {
        Some(rel) => rel.to_string_lossy().into_owned(),
        None => file
            .file_name()
            .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(manifest: &Digest) -> BuildRecord {
        BuildRecord {
            schema: SCHEMA,
            manifest: manifest.to_string(),
            lading_version: "0.1.0".into(),
            dockerfile: DockerfileRef {
                path: "Dockerfile".into(),
                digest: Digest::of(b"FROM scratch\n").to_string(),
            },
            context: ContextRef {
                digest: Digest::of(b"").to_string(),
                git: None,
            },
            build_args: BTreeMap::new(),
            target: None,
            platform: "linux/amd64".into(),
            source_date_epoch: 0,
            context_modes: "preserve".into(),
            network: "default".into(),
            no_cache: false,
            build_contexts: BTreeMap::new(),
            secrets: vec!["tok".into()],
            ssh: Vec::new(),
            images: Vec::new(),
            builder_id: "https://lading.dev/builder/local".into(),
            invocation_id: "urn:uuid:0".into(),
            started_on: "2026-01-01T00:00:00Z".into(),
            finished_on: "2026-01-01T00:00:01Z".into(),
            log: BuildLog::default(),
        }
    }

    #[test]
    fn build_records_round_trip_and_must_name_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let manifest = Digest::of(b"manifest");
        assert_eq!(latest(&store, &manifest).unwrap(), None);
        write(&store, &record(&manifest)).unwrap();
        assert_eq!(latest(&store, &manifest).unwrap(), Some(record(&manifest)));
        // A record file moved to another digest's name is refused.
        let other = Digest::of(b"other");
        std::fs::copy(record_path(&store, &manifest), record_path(&store, &other)).unwrap();
        let err = latest(&store, &other).unwrap_err().to_string();
        assert!(err.contains("is about"), "{err}");
    }

    #[test]
    fn dockerfile_paths_never_name_host_directories() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(ctx.join("docker")).unwrap();
        std::fs::write(ctx.join("docker/app.Dockerfile"), "FROM scratch").unwrap();
        std::fs::write(dir.path().join("outside.Dockerfile"), "FROM scratch").unwrap();
        assert_eq!(
            dockerfile_path(&ctx, Some(&ctx.join("docker/app.Dockerfile"))),
            "docker/app.Dockerfile"
        );
        assert_eq!(
            dockerfile_path(&ctx, Some(&dir.path().join("outside.Dockerfile"))),
            "outside.Dockerfile"
        );
        assert_eq!(dockerfile_path(&ctx, None), "-");
    }
}
