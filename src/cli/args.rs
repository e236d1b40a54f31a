//! Command-line arguments, docker-compatible where docker has the flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reproducible container image builder.
#[derive(Debug, Parser)]
#[command(name = "lading", version, about)]
pub struct Cli {
    /// Content store (an OCI image layout) [default: $XDG_DATA_HOME/lading].
    #[arg(long, global = true, env = "LADING_STORE")]
    pub store: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile (like `docker build`).
    Build(Box<BuildArgs>),
    /// List tagged images in the store.
    Images(ImagesArgs),
    /// Show an image's manifest and config.
    Inspect(InspectArgs),
    /// Find credentials in every layer and the config of an image (gate: exit 1 on findings).
    Secrets(SecretsArgs),
    /// Check an image (and its Dockerfile) against CIS Docker Benchmark section 4 (gate).
    Cis(CisArgs),
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// `tty` on a terminal, else `plain`.
    Auto,
    /// Every step and log line.
    Plain,
    /// Compact, for terminals.
    Tty,
    /// Nothing.
    Quiet,
    /// JSON lines.
    Rawjson,
}

/// `lading build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build context directory.
    #[arg(value_name = "PATH")]
    pub context: PathBuf,
    /// Name and optionally tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Dockerfile (default: PATH/Dockerfile; `-` reads stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Build-time variables (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Build this stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Image labels (`KEY=VALUE`).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Manifest annotations (`KEY=VALUE`).
    #[arg(long = "annotation")]
    pub annotations: Vec<String>,
    /// Target platform (`os/arch[/variant]`).
    #[arg(long)]
    pub platform: Option<String>,
    /// Do not use the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Progress output.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
    /// Print only the image digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Additional build contexts (`name=PATH` or `name=oci-layout://DIR[:tag]`).
    #[arg(long = "build-context")]
    pub build_contexts: Vec<String>,
    /// Outputs (`type=oci|docker|local|tar,dest=...[,tar=false]`, or a directory).
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Write the image digest to a file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Write build metadata (buildx keys) to a JSON file.
    #[arg(long)]
    pub metadata_file: Option<PathBuf>,
    /// Timestamp for every date in the image (seconds since the epoch; default 0).
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    pub source_date_epoch: Option<i64>,
}

/// `lading images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print digests in full.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `lading inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `lading secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// Extra rules in gitleaks' TOML shape (added to the built-in set; a rule with the
    /// same id replaces the built-in one; `[extend] useDefault = false` drops them).
    #[arg(long, visible_alias = "config", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// Scanner threads (0: one per core, minus the reading thread).
    #[arg(long, default_value_t = 0, hide = true)]
    pub threads: usize,
    /// Output.
    #[command(flatten)]
    pub output: crate::cli::gate::OutputArgs,
}

/// `lading cis`.
#[derive(Debug, Args)]
pub struct CisArgs {
    /// Image: a tag or digest in the store, `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
    /// `docker-archive:FILE`.
    pub reference: String,
    /// The Dockerfile the image was built from (evidence then points at its lines).
    #[arg(long, value_name = "FILE")]
    pub dockerfile: Option<PathBuf>,
    /// Policy (TOML): `allowed_registries` and `[[exemption]]`s with a reason and expiry.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Platform to pick from an index.
    #[arg(long)]
    pub platform: Option<String>,
    /// The date exemptions are judged against (`YYYY-MM-DD`; default: today, UTC).
    #[arg(long, env = "LADING_TODAY", hide = true)]
    pub today: Option<String>,
    /// Output.
    #[command(flatten)]
    pub output: crate::cli::gate::OutputArgs,
}
