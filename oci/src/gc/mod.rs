//! The store's collector: what `lading prune` removes and `lading df` counts.
//!
//! Kept, always: everything `index.json` references (tags and untagged manifests, with
//! their configs, layers, child manifests) and everything a live process leased (see
//! [`crate::lease`]; a leased manifest keeps its graph too), plus the records that are
//! about a kept manifest (`builds/`, `scans/`, `publish/`, `gates/`, by manifest digest)
//! and every blob such a record names (reports, SBOMs).
//!
//! Build cache — the step caches' records (`cache/{run,copy,layers,workdir,gzip}`) with
//! the blobs they name that no image keeps, the snapshots of kept layers, the cache
//! mounts, the gates' per-layer cache — is kept within a budget, most recently used
//! first: no limit by default (only cache that can no longer be used goes), nothing with
//! `all` or an `until` filter, `keep_storage` bytes when given. A record whose blob is
//! gone is dangling and always goes; anything a live process holds always stays.
//!
//! Removed: blobs nothing above keeps (intermediate layers of dropped cache, images whose
//! tag moved, layers `lading diff` downloaded), snapshots and fix-ups of removed layers,
//! records and origins of removed manifests and blobs, upload sessions untouched for a
//! week (the CNCF registry's default), and what dead processes left (`orphans`).
//!
//! The whole decision and the removal run under the exclusive `gc.lock`, so no process
//! can lease something in between; lease appends wait for it, which is bounded by one
//! collection.

mod orphans;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::constants::MAX_JSON_BLOB;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lease;
use crate::store::Store;

pub use orphans::LEGACY_GRACE;

/// The file in a fix-up snapshot listing the layer chain it was made for.
pub const FIXUP_CHAIN_FILE: &str = "chain";

/// Where the build steps keep their cache records (each names the blobs it reuses).
pub const CACHE_RECORD_DIRS: &[&str] = &[
    "cache/run",
    "cache/copy",
    "cache/layers",
    "cache/workdir",
    "cache/gzip",
    "cache/context",
];

/// Per-layer caches, one file named by the layer digest's hex each (what the builder
/// read of `/etc/passwd` and `/etc/group` in a layer): kept with their layer.
pub const LAYER_CACHE_DIRS: &[&str] = &["cache/userfiles"];

/// Records about one manifest, named `<manifest hex>.json`.
pub const IMAGE_RECORD_DIRS: &[&str] = &["builds", "scans", "publish", "gates"];

/// Upload sessions untouched this long are dropped (the CNCF registry's purge age).
pub const UPLOAD_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What to remove.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Remove all build cache, not only what can no longer be used (docker's `-a`).
    pub all: bool,
    /// Keep the most recently used build cache within this many bytes.
    pub keep_storage: Option<u64>,
    /// Only remove build cache last used before this time (docker's `until` filter).
    pub until: Option<SystemTime>,
}

/// What a piece of the store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// Blobs of the images `index.json` lists.
    Image,
    /// Step cache records, snapshots, cache mounts, the gates' layer cache.
    BuildCache,
    /// Gate, build, scan and publish records and the blobs they name.
    Record,
    /// Blobs nothing references.
    Unreferenced,
    /// What dead processes left: temp files, lease files, stale upload sessions.
    Orphan,
}

impl Kind {
    /// The name `lading df` shows.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Image => "Images",
            Kind::BuildCache => "Build cache",
            Kind::Record => "Records",
            Kind::Unreferenced => "Unreferenced blobs",
            Kind::Orphan => "Orphans",
        }
    }
}

/// One thing the collector looked at: removed (or kept) as a whole.
#[derive(Debug, Clone)]
pub struct Item {
    /// What it is.
    pub kind: Kind,
    /// Its files and dirs.
    pub paths: Vec<PathBuf>,
    /// Bytes on disk (files counted once per inode).
    pub size: u64,
    /// When it was last used (modification time).
    pub last_used: SystemTime,
    /// Whether a live process holds it.
    pub in_use: bool,
}

/// The collector's verdict on a store.
#[derive(Debug, Default)]
pub struct Plan {
    /// What stays.
    pub keep: Vec<Item>,
    /// What goes.
    pub remove: Vec<Item>,
}

/// What a prune did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// What was removed.
    pub removed: Vec<Item>,
    /// Bytes freed.
    pub reclaimed: u64,
    /// What could not be removed, one line each.
    pub failures: Vec<String>,
}

/// Removes what `opts` allow (see the module docs).
pub fn prune(store: &Store, opts: &Options) -> Result<Pruned> {
    // Our lease makes the trash dirs below ours, not a dead process's, while we run.
    let _ = store.temp_prefix("prune")?;
    let store = store.unleased();
    let _gc = lease::gc_lock(&store.private_dir(), true)?;
    let plan = plan_locked(&store, opts, SystemTime::now(), false)?;
    let mut out = Pruned::default();
    for item in plan.remove {
        let mut ok = true;
        for p in &item.paths {
            if let Err(e) = remove_path(p) {
                ok = false;
                out.failures.push(format!("removing {}: {e}", p.display()));
            }
        }
        if ok {
            out.reclaimed += item.size;
        }
        out.removed.push(item);
    }
    Ok(out)
}

/// What [`prune`] would do now, without doing it (for `lading df`).
pub fn plan(store: &Store, opts: &Options) -> Result<Plan> {
    let store = store.unleased();
    let _gc = lease::gc_lock(&store.private_dir(), true)?;
    plan_locked(&store, opts, SystemTime::now(), true)
}

/// Removes what dead processes left (temp files, leases), as each build does first.
/// Bounded by what is in the temp directories; returns the bytes freed.
pub fn reclaim_orphans(store: &Store) -> Result<u64> {
    if !store.is_durable() {
        return Ok(0);
    }
    let _ = store.temp_prefix("reclaim")?;
    let mut freed = 0;
    for item in orphans::find(store.root(), SystemTime::now()) {
        if item.paths.iter().all(|p| remove_path(p).is_ok()) {
            freed += item.size;
        }
    }
    Ok(freed)
}

fn remove_path(p: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let r = if meta.is_dir() {
        // A tree goes away in one rename first: a prune killed half way must never
        // leave half a snapshot under its name, which a build would take as whole. The
        // trash is this process's temp dir, an orphan if it dies.
        let parent = p.parent().unwrap_or(Path::new("."));
        let trash = tempfile::Builder::new()
            .prefix(&lease::temp_prefix("trash"))
            .tempdir_in(parent)?
            .keep();
        let target = trash.join("x");
        match fs::rename(p, &target) {
            Ok(()) => fs::remove_dir_all(&trash),
            Err(e) => {
                let _ = fs::remove_dir(&trash);
                Err(e)
            }
        }
    } else {
        fs::remove_file(p)
    };
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// A cache candidate before the budget decides.
struct Candidate {
    item: Item,
    /// Whether `item.size` counts its trees already (else it is measured if removed).
    sized: bool,
    blobs: Vec<Digest>,
    snapshots: Vec<String>,
}

/// `measure_all`: size every tree (for `df`); otherwise only what the budget needs and
/// what is removed, so that a prune of a big store holds the lock for less time.
fn plan_locked(store: &Store, opts: &Options, now: SystemTime, measure_all: bool) -> Result<Plan> {
    let budget = opts
        .keep_storage
        .unwrap_or(if opts.all || opts.until.is_some() {
            0
        } else {
            u64::MAX
        });
    let measure = measure_all || (budget != 0 && budget != u64::MAX);
    let tree_size = |p: &Path| if measure { disk_usage(p) } else { 0 };
    let root = store.root();
    let private = store.private_dir();
    let mut plan = Plan::default();
    for o in orphans::find(root, now) {
        plan.remove.push(o);
    }
    let leases = lease::read_leases(&private)?;
    let held_digests: BTreeSet<Digest> =
        leases.held.iter().filter_map(|k| k.parse().ok()).collect();
    let present = list_blobs(store)?;

    // Images: index.json's graph.
    let index = store.index()?;
    let mut images = BTreeSet::new();
    closure(
        store,
        index.manifests.iter().map(|d| d.digest.clone()),
        &mut images,
    );
    // Leased digests keep their graphs (a push of a manifest whose tag just moved).
    let mut base = images.clone();
    closure(store, held_digests.iter().cloned(), &mut base);

    // Records about kept manifests keep what they name.
    let mut record_blobs = BTreeSet::new();
    for dir in IMAGE_RECORD_DIRS {
        for (path, name) in list_files(&private.join(dir)) {
            let Some(hex) = name.strip_suffix(".json") else {
                continue;
            };
            let Ok(manifest) = format!("sha256:{hex}").parse::<Digest>() else {
                continue;
            };
            let item = file_item(Kind::Record, &path, false);
            if base.contains(&manifest) {
                // A gate record's file holds the very bytes of its blob.
                if let Ok(bytes) = fs::read(&path) {
                    let own = Digest::of(&bytes);
                    if present.contains(&own) {
                        record_blobs.insert(own);
                    }
                }
                record_blobs.extend(
                    digests_in_file(&path)
                        .into_iter()
                        .filter(|d| !base.contains(d)),
                );
                plan.keep.push(item);
            } else {
                plan.remove.push(item);
            }
        }
    }
    let mut with_records = base.clone();
    closure(store, record_blobs.iter().cloned(), &mut with_records);
    if !record_blobs.is_empty() {
        let extra: Vec<&Digest> = with_records.difference(&base).collect();
        plan.keep.push(blob_item(store, Kind::Record, extra, false));
    }
    let base = with_records;

    // Build cache candidates.
    let snaps = snapshot_dirs(&private);
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut dangling = Vec::new();
    for dir in CACHE_RECORD_DIRS {
        for (path, _) in list_files(&private.join(dir)) {
            // The first digest is the blob the record reuses (a descriptor comes before
            // its diff-id, which older gzip records name without it being a blob).
            let named: Vec<Digest> = digests_in_file(&path)
                .into_iter()
                .enumerate()
                .filter(|(i, d)| *i == 0 || present.contains(d))
                .map(|(_, d)| d)
                .collect();
            if named.first().is_some_and(|d| !present.contains(d)) {
                dangling.push(file_item(Kind::BuildCache, &path, false));
                continue;
            }
            let mut item = file_item(Kind::BuildCache, &path, false);
            for d in &named {
                item.last_used = item.last_used.max(modified(&store.blob_path(d)));
            }
            item.in_use = named.first().is_some_and(|d| held_digests.contains(d));
            candidates.push(Candidate {
                item,
                blobs: named,
                snapshots: Vec::new(),
                sized: measure,
            });
        }
    }
    // Snapshots of the blobs images and records keep are cache of their own.
    for d in &base {
        let name = format!("2-{}", d.hex());
        let dirs: Vec<PathBuf> = snaps
            .iter()
            .map(|s| s.join(&name))
            .filter(|p| fs::symlink_metadata(p).is_ok())
            .collect();
        if dirs.is_empty() {
            continue;
        }
        candidates.push(Candidate {
            item: Item {
                kind: Kind::BuildCache,
                size: dirs.iter().map(|p| tree_size(p)).sum(),
                last_used: modified(&store.blob_path(d)),
                in_use: held_digests.contains(d),
                paths: dirs,
            },
            blobs: Vec::new(),
            snapshots: vec![name],
            sized: measure,
        });
    }
    // Cache mounts.
    let mounts = private.join("cache/mounts");
    for (path, name) in list_entries(&mounts) {
        if name.ends_with(".lock") || name.starts_with(lease::TEMP_MARK) {
            continue;
        }
        let mut item = Item {
            kind: Kind::BuildCache,
            size: tree_size(&path),
            last_used: modified(&path),
            in_use: false,
            paths: vec![path.clone()],
        };
        item.in_use = leases.held.contains(&format!("mount-{name}"));
        let lock = mounts.join(format!("{name}.lock"));
        if lock.exists() {
            item.paths.push(lock);
        }
        candidates.push(Candidate {
            item,
            blobs: Vec::new(),
            snapshots: Vec::new(),
            sized: measure,
        });
    }
    plan.remove.extend(dangling);

    // Each cache blob no image keeps counts towards the most recently used record naming it.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.item.last_used));
    let mut charged: BTreeMap<Digest, usize> = BTreeMap::new();
    for (i, c) in candidates.iter_mut().enumerate() {
        for d in &c.blobs {
            if !base.contains(d) && !charged.contains_key(d) {
                charged.insert(d.clone(), i);
                c.item.size += file_size(&store.blob_path(d));
                let name = format!("2-{}", d.hex());
                for s in &snaps {
                    let p = s.join(&name);
                    if fs::symlink_metadata(&p).is_ok() {
                        c.item.size += tree_size(&p);
                    }
                }
            }
        }
    }
    let mut used = 0u64;
    let mut kept_blobs = base.clone();
    let mut kept_snapshots: BTreeSet<String> = BTreeSet::new();
    let mut removed = vec![false; candidates.len()];
    for (i, c) in candidates.iter().enumerate() {
        let recent = opts.until.is_some_and(|t| c.item.last_used >= t);
        let fits = budget > 0 && used.saturating_add(c.item.size) <= budget;
        if c.item.in_use || recent || fits {
            if !c.item.in_use && !recent {
                used += c.item.size;
            }
            kept_blobs.extend(c.blobs.iter().cloned());
            kept_snapshots.extend(c.blobs.iter().map(|d| format!("2-{}", d.hex())));
            kept_snapshots.extend(c.snapshots.iter().cloned());
        } else {
            removed[i] = true;
        }
    }
    // Whatever a live process holds stays, cache or not.
    kept_blobs.extend(held_digests.iter().cloned());
    kept_snapshots.extend(held_digests.iter().map(|d| format!("2-{}", d.hex())));
    closure(store, held_digests.iter().cloned(), &mut kept_blobs);

    // Blobs: one a removed cache record was charged for goes with that record (its size
    // is counted there); the others are unreferenced of their own.
    let charged_to = |d: &Digest| charged.get(d).copied().filter(|i| removed[*i]);
    for d in present.iter().filter(|d| !kept_blobs.contains(*d)) {
        let path = store.blob_path(d);
        match charged_to(d) {
            Some(i) => candidates[i].item.paths.push(path),
            None => plan.remove.push(Item {
                kind: Kind::Unreferenced,
                size: file_size(&path),
                last_used: modified(&path),
                in_use: false,
                paths: vec![path],
            }),
        }
    }
    let images_item = blob_item(
        store,
        Kind::Image,
        images.iter().filter(|d| present.contains(*d)).collect(),
        images.iter().any(|d| held_digests.contains(d)),
    );
    plan.keep.push(images_item);

    // Snapshots: aliases (symlinks) keep their targets.
    for s in &snaps {
        for (path, name) in list_entries(s) {
            if name.starts_with(lease::TEMP_MARK) || name.starts_with("userns-") {
                continue;
            }
            if kept_snapshots.contains(&name)
                && let Ok(target) = fs::read_link(&path)
            {
                kept_snapshots.insert(target.to_string_lossy().into_owned());
            }
        }
    }
    for s in &snaps {
        for (path, name) in list_entries(s) {
            if name.starts_with(lease::TEMP_MARK) || name.starts_with("userns-") {
                continue;
            }
            let charged_snapshot = name
                .strip_prefix("2-")
                .and_then(|h| format!("sha256:{h}").parse::<Digest>().ok())
                .and_then(|d| charged_to(&d));
            let keep = if name.starts_with("fixup-") {
                leases.held.contains(&name)
                    || (!opts.all
                        && fs::read_to_string(path.join(FIXUP_CHAIN_FILE)).is_ok_and(|t| {
                            t.lines().all(|l| {
                                l.parse::<Digest>().is_ok_and(|d| {
                                    kept_snapshots.contains(&format!("2-{}", d.hex()))
                                })
                            })
                        }))
            } else {
                kept_snapshots.contains(&name)
            };
            if keep {
                continue;
            }
            match charged_snapshot {
                Some(i) => candidates[i].item.paths.push(path),
                None if !already_planned(&plan, &candidates, &removed, &path) => {
                    plan.remove.push(dir_item(Kind::BuildCache, &path))
                }
                None => {}
            }
        }
    }
    for (mut c, gone) in candidates.into_iter().zip(removed) {
        if gone {
            if !c.sized {
                c.item.size = c.item.paths.iter().map(|p| disk_usage(p)).sum();
            }
            plan.remove.push(c.item);
        } else {
            plan.keep.push(c.item);
        }
    }

    // The gates' per-layer cache follows its layers.
    let gates = private.join("cache/gates");
    for (version, _) in list_entries(&gates) {
        for (what, _) in list_entries(&version) {
            for (path, name) in list_files(&what) {
                let layer = name
                    .strip_suffix(".json")
                    .and_then(|n| n.strip_prefix("sha256-"))
                    .and_then(|h| format!("sha256:{h}").parse::<Digest>().ok());
                let keep = !opts.all && layer.as_ref().is_some_and(|d| kept_blobs.contains(d));
                let item = file_item(Kind::BuildCache, &path, false);
                if keep || layer.is_none() {
                    plan.keep.push(item);
                } else {
                    plan.remove.push(item);
                }
            }
        }
    }

    for dir in LAYER_CACHE_DIRS {
        for (path, name) in list_files(&private.join(dir)) {
            let layer = format!("sha256:{name}").parse::<Digest>().ok();
            let keep = !opts.all && layer.as_ref().is_some_and(|d| kept_blobs.contains(d));
            let item = file_item(Kind::BuildCache, &path, false);
            if keep || layer.is_none() {
                plan.keep.push(item);
            } else {
                plan.remove.push(item);
            }
        }
    }

    // Where blobs came from, by blob.
    for (path, name) in list_files(&private.join("origins")) {
        if let Ok(d) = format!("sha256:{name}").parse::<Digest>()
            && !kept_blobs.contains(&d)
        {
            plan.remove.push(file_item(Kind::Record, &path, false));
        }
    }
    // Upload sessions nobody finished.
    for (path, _) in list_entries(&private.join("uploads")) {
        let last = modified(&path).max(modified(&path.join("data")));
        if now.duration_since(last).is_ok_and(|d| d >= UPLOAD_MAX_AGE) {
            plan.remove.push(dir_item(Kind::Orphan, &path));
        }
    }
    Ok(plan)
}

/// Whether `path` is already part of something to remove (a snapshot of a removed
/// image-layer entry).
fn already_planned(plan: &Plan, candidates: &[Candidate], removed: &[bool], path: &Path) -> bool {
    let planned = |i: &Item| i.paths.iter().any(|p| p == path);
    plan.remove.iter().any(planned)
        || candidates
            .iter()
            .zip(removed)
            .any(|(c, gone)| *gone && planned(&c.item))
}

/// The snapshot stores: `snapshots/` and the per-user-namespace ones below it.
fn snapshot_dirs(private: &Path) -> Vec<PathBuf> {
    let top = private.join("snapshots");
    let mut out = vec![top.clone()];
    for (path, name) in list_entries(&top) {
        if name.starts_with("userns-") {
            out.push(path);
        }
    }
    out
}

/// The digests of the blobs present.
fn list_blobs(store: &Store) -> Result<BTreeSet<Digest>> {
    let dir = store.root().join("blobs/sha256");
    let entries = fs::read_dir(&dir).map_err(Error::io("listing", &dir))?;
    let mut out = BTreeSet::new();
    for e in entries {
        let e = e.map_err(Error::io("listing", &dir))?;
        if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse::<Digest>() {
            out.insert(d);
        }
    }
    Ok(out)
}

/// Adds `seeds` and everything their manifests and indexes reference (configs, layers,
/// child manifests; not `subject`, which is another graph) to `out`.
fn closure(store: &Store, seeds: impl IntoIterator<Item = Digest>, out: &mut BTreeSet<Digest>) {
    let mut stack: Vec<Digest> = seeds.into_iter().collect();
    while let Some(d) = stack.pop() {
        if !out.insert(d.clone()) {
            continue;
        }
        let path = store.blob_path(&d);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.len() > MAX_JSON_BLOB {
            continue;
        }
        let Ok(bytes) = fs::read(&path) else {
            continue;
        };
        if bytes.first() != Some(&b'{') {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let mut children = Vec::new();
        for key in ["manifests", "layers", "blobs"] {
            if let Some(list) = v.get(key).and_then(|l| l.as_array()) {
                children.extend(list.iter().filter_map(|x| x.get("digest")?.as_str()));
            }
        }
        if let Some(c) = v.get("config").and_then(|c| c.get("digest")?.as_str()) {
            children.push(c);
        }
        stack.extend(children.into_iter().filter_map(|c| c.parse().ok()));
    }
}

/// Every `sha256:<64 hex>` a small file mentions, in order, each once (the records are
/// JSON of descriptors).
fn digests_in_file(path: &Path) -> Vec<Digest> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut out: Vec<Digest> = Vec::new();
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("sha256:") {
        let cand = &rest[i..];
        if let Some(s) = cand.get(..71)
            && let Ok(d) = s.parse::<Digest>()
            && !out.contains(&d)
        {
            out.push(d);
        }
        rest = &rest[i + 7..];
    }
    out
}

/// `(path, name)` of every entry of `dir` (none when it does not exist).
fn list_entries(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String)> = entries
        .flatten()
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    out.sort();
    out
}

/// Like [`list_entries`], regular files only, temp files left out.
fn list_files(dir: &Path) -> Vec<(PathBuf, String)> {
    list_entries(dir)
        .into_iter()
        .filter(|(p, n)| !n.starts_with(lease::TEMP_MARK) && p.is_file())
        .collect()
}

fn file_item(kind: Kind, path: &Path, in_use: bool) -> Item {
    Item {
        kind,
        size: file_size(path),
        last_used: modified(path),
        in_use,
        paths: vec![path.to_path_buf()],
    }
}

fn dir_item(kind: Kind, path: &Path) -> Item {
    Item {
        kind,
        size: disk_usage(path),
        last_used: modified(path),
        in_use: false,
        paths: vec![path.to_path_buf()],
    }
}

fn blob_item(store: &Store, kind: Kind, blobs: Vec<&Digest>, in_use: bool) -> Item {
    let paths: Vec<PathBuf> = blobs.iter().map(|d| store.blob_path(d)).collect();
    Item {
        kind,
        size: paths.iter().map(|p| file_size(p)).sum(),
        last_used: paths
            .iter()
            .map(|p| modified(p))
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH),
        in_use,
        paths,
    }
}

fn file_size(path: &Path) -> u64 {
    fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Modification time, or the epoch when it cannot be read.
pub(crate) fn modified(path: &Path) -> SystemTime {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Bytes of the regular files under `path` (itself if a file), each inode once.
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let mut seen = BTreeMap::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if m.is_file() && seen.insert((m.dev(), m.ino()), ()).is_none() {
            total += m.len();
        }
    }
    total
}

#[cfg(test)]
mod tests;
