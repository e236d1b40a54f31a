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

/// What `COPY`/`ADD` do with the permission bits of files from a local build context
/// (the main one and named `--build-context` directories).
///
/// Only the mode bits differ: owners become root (or `--chown`) in both, and the
/// directory a copy creates as its destination gets `0755` in both, as BuildKit does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextModes {
    /// Copy all of `0o7777` (setuid, setgid and sticky included) as the context has
    /// them, as docker, BuildKit and buildah do: a `0600` key stays `0600`. The digest
    /// then depends on the context's modes, and so on the umask it was checked out with.
    #[default]
    Preserve,
    /// `0644` for files (`0755` when any execute bit is set) and `0755` for
    /// directories, whatever the context says: digests independent of the umask.
    Normalize,
}

impl ContextModes {
    /// The flag value (`preserve`, `normalize`), also what build records carry.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextModes::Preserve => "preserve",
            ContextModes::Normalize => "normalize",
        }
    }

    /// The mode bits a context entry gets in a layer, from its host `st_mode`.
    /// Symlinks are not asked: they are always `0777`.
    pub fn apply(self, host_mode: u32, is_dir: bool) -> u32 {
        match self {
            ContextModes::Preserve => host_mode & 0o7777,
            ContextModes::Normalize if is_dir => 0o755,
            ContextModes::Normalize if host_mode & 0o111 != 0 => 0o755,
            ContextModes::Normalize => 0o644,
        }
    }
}

impl std::fmt::Display for ContextModes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ContextModes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "preserve" => Ok(ContextModes::Preserve),
            "normalize" => Ok(ContextModes::Normalize),
            other => Err(format!(
                "invalid context modes {other:?}: expected preserve or normalize"
            )),
        }
    }
}

/// The build parameters a build record (the `--metadata-file`, SLSA provenance) carries
/// besides the Dockerfile and its arguments: settings that change the image's bytes
/// but are not written into the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct BuildParameters {
    /// `--context-modes`.
    pub context_modes: ContextModes,
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
    /// Whether `--platform` named the target. BuildKit then gives the image the target
    /// platform's `os`/`architecture`/`variant`; without it, the base's are kept.
    pub platform_explicit: bool,
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
    /// Permission bits of files copied from local contexts (`--context-modes`).
    pub context_modes: ContextModes,
    /// Caches imported with `--cache-from`, asked in order when the store's own
    /// caches miss.
    pub cache_imports: crate::shared_cache::Imports,
    /// Whether the build's cache is shared (`--cache-to` or `--cache-from`): steps then
    /// also record keys that can be looked up without the tree below them (a `COPY`
    /// from a context is keyed by the layers below instead of their files).
    pub cache_shared: bool,
}

impl BuildOptions {
    /// The parameters of these options that a build record carries.
    pub fn parameters(&self) -> BuildParameters {
        BuildParameters {
            context_modes: self.context_modes,
        }
    }

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
            platform_explicit: false,
            no_cache: false,
            epoch: 0,
            named_contexts: BTreeMap::new(),
            vcs: None,
            network: NetworkMode::Host,
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            sandbox_helper: None,
            snapshotter: Snapshotter::Auto,
            context_modes: ContextModes::Preserve,
            cache_imports: Vec::new(),
            cache_shared: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserve_keeps_all_mode_bits_and_normalize_keeps_todays_rule() {
        for (host, dir, preserve, normalize) in [
            (0o100600, false, 0o600, 0o644),
            (0o100640, false, 0o640, 0o644),
            (0o100700, false, 0o700, 0o755),
            (0o100751, false, 0o751, 0o755),
            (0o104755, false, 0o4755, 0o755),
            (0o040700, true, 0o700, 0o755),
            (0o042755, true, 0o2755, 0o755),
            (0o041777, true, 0o1777, 0o755),
        ] {
            assert_eq!(
                ContextModes::Preserve.apply(host, dir),
                preserve,
                "{host:o}"
            );
            assert_eq!(
                ContextModes::Normalize.apply(host, dir),
                normalize,
                "{host:o}"
            );
        }
    }

    #[test]
    fn context_modes_parse_and_print_as_the_flag_spells_them() {
        for m in [ContextModes::Preserve, ContextModes::Normalize] {
            assert_eq!(m.as_str().parse::<ContextModes>(), Ok(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
        assert!("keep".parse::<ContextModes>().is_err());
        let mut opts = BuildOptions::new("/ctx", "FROM scratch");
        opts.context_modes = ContextModes::Normalize;
        assert_eq!(
            serde_json::to_value(opts.parameters()).unwrap(),
            serde_json::json!({"context-modes": "normalize"})
        );
        assert_eq!(ContextModes::default(), ContextModes::Preserve);
    }
}
