//! Leftovers of dead processes: temp files and dirs named after a lease that is no
//! longer locked (see [`crate::lease`]), the lease files themselves, and the unnamed
//! temp files of lading versions before leases (`ingest/blob-*`, `build-*`, `.tmp-*`)
//! once they are older than [`LEGACY_GRACE`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::lease::{self, LEASES_DIR, Liveness};

use super::{Item, Kind, disk_usage, modified};

/// How old a temp name without a live or dead lease must be to count as an orphan: it
/// may belong to a process of an older lading, or one that never took a lease here.
pub const LEGACY_GRACE: Duration = Duration::from_secs(3600);

/// Temp names of older versions, by the directory they were made in.
const LEGACY_PREFIXES: &[&str] = &["blob-", "build-", "archive-", "docker-archive-", "rootfs-"];

/// The directories temp files are made in: the private dir and every directory a small
/// file is written to atomically, but never below a snapshot's or mount's tree.
fn temp_dirs(root: &Path) -> Vec<PathBuf> {
    let private = root.join(crate::store::PRIVATE_DIR);
    let mut dirs = vec![root.to_path_buf(), private.clone()];
    let mut level = vec![private.clone()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for d in &level {
            let Ok(entries) = fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                if !e.file_type().is_ok_and(|t| t.is_dir()) || name.starts_with(lease::TEMP_MARK) {
                    continue;
                }
                // The trees of snapshots, cache mounts and upload sessions are content.
                let rel = path.strip_prefix(&private).unwrap_or(&path);
                let content = rel.starts_with("cache/mounts")
                    || rel.starts_with("uploads")
                    || (rel.starts_with("snapshots")
                        && rel.components().count() >= 2
                        && !name.starts_with("userns-"));
                if content || looks_like_build_dir(&name) {
                    continue;
                }
                dirs.push(path.clone());
                next.push(path);
            }
        }
        level = next;
    }
    dirs
}

fn looks_like_build_dir(name: &str) -> bool {
    LEGACY_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Finds what dead processes left in the store at `root` (nothing is removed).
pub(super) fn find(root: &Path, now: SystemTime) -> Vec<Item> {
    let private = root.join(crate::store::PRIVATE_DIR);
    let mut alive: BTreeMap<String, Liveness> = BTreeMap::new();
    let mut out = Vec::new();
    for dir in temp_dirs(root) {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let in_private = dir == private;
        let in_ingest = dir == private.join("ingest");
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let orphan = if let Some(id) = lease::id_of_temp_name(&name) {
                let l = *alive
                    .entry(id.to_string())
                    .or_insert_with(|| lease::liveness(&private, id));
                match l {
                    Liveness::Live => false,
                    Liveness::Dead => true,
                    Liveness::Unknown => older_than(&path, now, LEGACY_GRACE),
                }
            } else if name.starts_with(lease::TEMP_MARK)
                || (in_ingest && name.starts_with("blob-"))
                || (in_private && looks_like_build_dir(&name))
            {
                older_than(&path, now, LEGACY_GRACE)
            } else {
                false
            };
            if orphan {
                out.push(Item {
                    kind: Kind::Orphan,
                    size: disk_usage(&path),
                    last_used: modified(&path),
                    in_use: false,
                    paths: vec![path],
                });
            }
        }
    }
    // Lease files of dead processes (after their temp files were looked at).
    let dir = private.join(LEASES_DIR);
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if lease::valid_id(&name) && lease::liveness(&private, &name) == Liveness::Dead {
                let path = e.path();
                out.push(Item {
                    kind: Kind::Orphan,
                    size: disk_usage(&path),
                    last_used: modified(&path),
                    in_use: false,
                    paths: vec![path],
                });
            }
        }
    }
    out
}

fn older_than(path: &Path, now: SystemTime, age: Duration) -> bool {
    now.duration_since(modified(path)).is_ok_and(|d| d >= age)
}
