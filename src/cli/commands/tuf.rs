//! Sigstore's default trust material through TUF: public-good Sigstore's repository
//! (its root built in), or `--tuf-mirror` with `--tuf-root`; cached under
//! `$XDG_CACHE_HOME/lading/tuf`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use lading_signer::sigstore;
use lading_signer::sigstore::trust_root::{SigningConfig, TrustedRoot};
use lading_signer::sigstore::tuf::{
    Repository, SIGNING_CONFIG_TARGET, SIGSTORE_MIRROR, SIGSTORE_ROOT, TRUSTED_ROOT_TARGET,
};

use crate::cli::args::TufArgs;

/// `$XDG_CACHE_HOME/lading/tuf` (`~/.cache/lading/tuf`).
fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("lading/tuf");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/lading/tuf")
}

/// The repository the flags name.
fn repository(args: &TufArgs) -> Result<Repository> {
    let mirror = args.tuf_mirror.as_deref().unwrap_or(SIGSTORE_MIRROR);
    let initial_root = match &args.tuf_root {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None if mirror.trim_end_matches('/') == SIGSTORE_MIRROR => Some(SIGSTORE_ROOT.to_vec()),
        None => None,
    };
    Ok(Repository::new(mirror, &cache_root(), initial_root))
}

/// The target files `names`, verified through TUF.
fn fetch(args: &TufArgs, names: &[&str]) -> Result<BTreeMap<String, Vec<u8>>> {
    let repo = repository(args)?;
    let http = sigstore::http_client()?;
    let fetched = repo
        .fetch_targets(&http, names, sigstore::time::now())
        .context("getting Sigstore's trust material through TUF")?;
    if let Some(why) = fetched.offline {
        eprintln!(
            "note: {why}; using the trust material cached in {}",
            repo.cache_dir().display()
        );
    }
    Ok(fetched.files)
}

/// The TUF repository's `trusted_root.json`.
pub(crate) fn trusted_root(args: &TufArgs) -> Result<TrustedRoot> {
    let files = fetch(args, &[TRUSTED_ROOT_TARGET])?;
    TrustedRoot::from_json(&files[TRUSTED_ROOT_TARGET])
        .context("loading the trusted root published through TUF")
}

/// The TUF repository's `trusted_root.json` and `signing_config.v0.2.json`.
pub(crate) fn trusted_root_and_signing_config(
    args: &TufArgs,
) -> Result<(TrustedRoot, SigningConfig)> {
    let files = fetch(args, &[TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET])?;
    let root = TrustedRoot::from_json(&files[TRUSTED_ROOT_TARGET])
        .context("loading the trusted root published through TUF")?;
    let config = SigningConfig::from_json(&files[SIGNING_CONFIG_TARGET], sigstore::time::now())
        .context("loading the signing config published through TUF")?;
    Ok((root, config))
}
