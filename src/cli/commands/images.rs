//! `lading images`: tags in the store with digest and size.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use lading_oci::{Image, Platform, Store};

use crate::cli::args::ImagesArgs;

/// Lists tags.
pub fn run(store_dir: &Path, args: ImagesArgs) -> Result<ExitCode> {
    let store = Store::open(store_dir)?;
    crate::cli::out!("{:<40} {:<20} {:>10}", "NAME", "DIGEST", "SIZE");
    for (tag, desc) in store.tags()? {
        let size = Image::load(&store, &desc, &Platform::host())
            .map(|i| i.size())
            .unwrap_or(desc.size);
        let digest = if args.no_trunc {
            desc.digest.to_string()
        } else {
            desc.digest.short()
        };
        crate::cli::out!("{tag:<40} {digest:<20} {:>10}", human(size));
    }
    Ok(ExitCode::SUCCESS)
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", UNITS[u]).replace(".000", "")
    }
}
