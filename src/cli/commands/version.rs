//! `lading version` (and `lading --version`): the build and its cryptographic module.

use std::process::ExitCode;

use anyhow::Result;
use lading_oci::crypto;

use crate::cli::args::VersionArgs;

/// The git commit lading was built from, when the build saw one.
const COMMIT: Option<&str> = option_env!("LADING_GIT_COMMIT");

/// What `lading version` prints after `lading `, one `key: value` per line after the
/// first; clap prints the same for `lading --version`.
pub fn long_version() -> String {
    let m = crypto::module();
    format!(
        "{}\ncommit: {}\ncrypto module: {} {}\nFIPS mode: {}",
        env!("CARGO_PKG_VERSION"),
        COMMIT.unwrap_or("unknown"),
        m.name,
        m.version,
        if m.fips_mode { "on" } else { "off" },
    )
}

/// `lading version [--json]`.
pub fn run(args: VersionArgs) -> Result<ExitCode> {
    if args.json {
        let m = crypto::module();
        let json = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": COMMIT,
            "cryptoModule": { "name": m.name, "version": m.version },
            "fipsMode": m.fips_mode,
        });
        crate::cli::out!("{json}");
    } else {
        crate::cli::out!("lading {}", long_version());
    }
    Ok(ExitCode::SUCCESS)
}
