//! What a build is asked to do (the library side of `lading build`'s flags).

use std::collections::BTreeMap;
use std::path::PathBuf;

use lading_oci::Platform;

pub use crate::exec::NetworkMode;

/// Where a `--secret` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file's content.
    File(PathBuf),
    /// An environment variable of the build process.
    Env(String),
}

/// How `RUN` steps get their root filesystem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Snapshotter {
    /// overlayfs, falling back to copies where it cannot be mounted.
    #[default]
    Auto,
    /// Always copy the lower layers and compare afterwards.
    Copy,
}

/// A named build context (`--build-context name=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory, usable with `COPY --from=name`.
    Dir(PathBuf),
    /// An image reference (e.g. `oci:DIR:tag`), usable with `FROM name` and `COPY --from`.
    Image(String),
}

/// Inputs of one build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The context directory.
    pub context_dir: PathBuf,
    /// The Dockerfile's name for messages (e.g. `Dockerfile`).
    pub dockerfile_name: String,
    /// Where the Dockerfile lives, when it is a file (for `<name>.dockerignore`).
    pub dockerfile_path: Option<PathBuf>,
    /// The Dockerfile's text.
    pub dockerfile_text: String,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--label`s, applied to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--annotation`s, put on the final manifest.
    pub annotations: BTreeMap<String, String>,
    /// Target platform.
    pub platform: Platform,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `SOURCE_DATE_EPOCH`: every timestamp of the image (0 unless given).
    pub epoch: i64,
    /// `--build-context`s.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// `org.opencontainers.image.source`/`revision`, when the context is a git checkout.
    pub vcs: Option<(String, String)>,
    /// `--network` for every `RUN` (`RUN --network` overrides it per step).
    pub network: NetworkMode,
    /// `--secret`s by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh` agent sockets by id.
    pub ssh: BTreeMap<String, PathBuf>,
    /// The binary that runs RUN sandboxes (default: this process's executable, which
    /// must call [`crate::exec::helper_main`] first thing).
    pub sandbox_helper: Option<PathBuf>,
    /// Snapshotter for `RUN`.
    pub snapshotter: Snapshotter,
}

impl BuildOptions {
    /// Options for building `dockerfile_text` in `context_dir` with defaults everywhere.
    pub fn new(context_dir: impl Into<PathBuf>, dockerfile_text: impl Into<String>) -> Self {
        BuildOptions {
            context_dir: context_dir.into(),
            dockerfile_name: "Dockerfile".into(),
            dockerfile_path: None,
            dockerfile_text: dockerfile_text.into(),
            build_args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            platform: Platform::host(),
            no_cache: false,
            epoch: 0,
            named_contexts: BTreeMap::new(),
            vcs: None,
            network: NetworkMode::Host,
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            sandbox_helper: None,
            snapshotter: Snapshotter::Auto,
        }
    }
}
