//! Leases: what a live process uses in a store, so that `lading prune` never removes it.
//!
//! Each process that writes to or reuses content of a store holds a lease there: a file
//! `.lading/leases/<id>` that it keeps locked (`flock`, exclusive) for as long as it lives;
//! the kernel drops the lock when the process ends, however it ends (SIGKILL too). `<id>`
//! is `<pid>x<random>`, so a reused pid never revives a dead lease. The file lists, one a
//! line, what the process relies on: blob digests (`sha256:<hex>`) and other keys (a
//! fix-up snapshot, a cache mount). A key is appended *before* the process relies on it:
//! before a blob it wrote is renamed into place, and before it checks that a blob it
//! wants to reuse is there ([`crate::Store::has`] leases the digest, then looks).
//!
//! Appends happen under a shared lock on `.lading/gc.lock`; prune holds that lock
//! exclusively while it decides what to keep and deletes the rest. So an append either
//! happened before prune read the leases (prune keeps the key), or after prune finished
//! (and the caller's existence check sees the deletion and treats the blob as a miss).
//!
//! Temp files and dirs a process makes in the store carry its id in their name
//! ([`temp_prefix`]); when the id's lease is no longer locked they are orphans of a dead
//! process, which [`crate::gc::reclaim_orphans`] removes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// Directory of the lease files, inside the store's private dir.
pub const LEASES_DIR: &str = "leases";
/// The lock prune holds exclusively while it collects; appends to leases hold it shared.
pub const GC_LOCK: &str = "gc.lock";
/// How every temp name of a process begins: `.tmp-<id>-`.
pub const TEMP_MARK: &str = ".tmp-";

/// This process's lease id: `<pid>x<16 random hex digits>`.
pub fn process_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut random = [0u8; 8];
        // A pid is unique among live processes; the random part only tells a reused pid
        // from a dead one, so a weaker source is fine if the generator fails.
        if aws_lc_rs::rand::fill(&mut random).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            random = (nanos as u64).to_le_bytes();
        }
        format!("{}x{}", std::process::id(), hex::encode(random))
    })
}

/// The prefix of a temp file or dir of this process: `.tmp-<id>-<kind>-`.
pub fn temp_prefix(kind: &str) -> String {
    format!("{TEMP_MARK}{}-{kind}-", process_id())
}

/// The lease id a temp name carries (`.tmp-<id>-…`), if it has the shape of one.
pub fn id_of_temp_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(TEMP_MARK)?;
    let id = rest.split('-').next()?;
    valid_id(id).then_some(id)
}

/// Whether `id` has the shape of a lease id (so it is safe in a path).
pub fn valid_id(id: &str) -> bool {
    match id.split_once('x') {
        Some((pid, random)) => {
            !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && random.len() == 16
                && random.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// This process's lease in one store.
#[derive(Debug)]
pub struct Lease {
    private: PathBuf,
    file: Mutex<File>,
    held: Mutex<HashSet<String>>,
}

/// The leases of this process, one per store (by private dir).
fn leases() -> &'static Mutex<BTreeMap<PathBuf, Arc<Lease>>> {
    static LEASES: OnceLock<Mutex<BTreeMap<PathBuf, Arc<Lease>>>> = OnceLock::new();
    LEASES.get_or_init(Mutex::default)
}

/// This process's lease in the store whose private dir is `private`, taken on first use.
pub fn lease(private: &Path) -> Result<Arc<Lease>> {
    // One lease per store, however its path is spelled: a second lease file of the
    // same id would replace the first, and what the first held would be lost.
    let private = fs::canonicalize(private).unwrap_or_else(|_| private.to_path_buf());
    let mut all = leases().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = all.get(&private) {
        return Ok(l.clone());
    }
    let l = Arc::new(Lease::take(&private)?);
    all.insert(private, l.clone());
    Ok(l)
}

impl Lease {
    /// Creates and locks the lease file. It is locked under a temp name and renamed, so
    /// a lease file under its final name is never seen unlocked while its owner lives.
    fn take(private: &Path) -> Result<Lease> {
        let dir = private.join(LEASES_DIR);
        fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        let id = process_id();
        let path = dir.join(id);
        let tmp = dir.join(format!("{}{id}-new", TEMP_MARK));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(Error::io("creating", &tmp))?;
        file.lock().map_err(Error::io("locking", &tmp))?;
        fs::rename(&tmp, &path).map_err(Error::io("renaming into", &path))?;
        Ok(Lease {
            private: private.to_path_buf(),
            file: Mutex::new(file),
            held: Mutex::default(),
        })
    }

    /// Records `keys` as used by this process (no-op for keys already held). Returns
    /// once prune can no longer remove them; `true` when any key was new.
    pub fn hold<S: AsRef<str>>(&self, keys: &[S]) -> Result<bool> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let new: Vec<&str> = keys
            .iter()
            .map(AsRef::as_ref)
            .filter(|k| !held.contains(*k))
            .collect();
        if new.is_empty() {
            return Ok(false);
        }
        let mut text = String::new();
        for k in &new {
            text.push_str(k);
            text.push('\n');
        }
        let _gc = gc_lock(&self.private, false)?;
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(text.as_bytes())
            .map_err(Error::io("appending to the lease in", &self.private))?;
        held.extend(new.into_iter().map(str::to_string));
        Ok(true)
    }
}

/// Removes this process's lease files, for its very end: nothing it held is protected
/// afterwards (a process killed before this leaves them to prune, which is as good).
pub fn release_all() {
    let mut all = leases().lock().unwrap_or_else(|e| e.into_inner());
    for (private, _lease) in std::mem::take(&mut *all) {
        // Unlinked while still locked: prune never sees it free under its name.
        let _ = fs::remove_file(private.join(LEASES_DIR).join(process_id()));
    }
}

/// A lock on `.lading/gc.lock`, released on drop.
#[derive(Debug)]
pub struct GcLock(#[allow(dead_code)] File);

/// Takes the collector's lock: `exclusive` for prune, shared for appends to a lease.
pub fn gc_lock(private: &Path, exclusive: bool) -> Result<GcLock> {
    let path = private.join(GC_LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("opening", &path))?;
    if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    }
    .map_err(Error::io("locking", &path))?;
    Ok(GcLock(file))
}

/// Whether a lease id belongs to a live process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its lease file is locked: the process runs.
    Live,
    /// Its lease file exists and is not locked: the process ended.
    Dead,
    /// There is no lease file for it (never taken in this store, or already reclaimed).
    Unknown,
}

/// Whether the process of lease `id` is alive, as far as this store can tell.
pub fn liveness(private: &Path, id: &str) -> Liveness {
    if !valid_id(id) {
        return Liveness::Unknown;
    }
    let path = private.join(LEASES_DIR).join(id);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(_) => return Liveness::Unknown,
    };
    match file.try_lock() {
        Ok(()) => Liveness::Dead,
        Err(TryLockError::WouldBlock) => Liveness::Live,
        // A lock we cannot test (odd file system): assume the owner lives.
        Err(TryLockError::Error(_)) => Liveness::Live,
    }
}

/// The leases of a store: live ones with what they hold, and the ids of dead ones.
#[derive(Debug, Default)]
pub struct Leases {
    /// Ids of live processes.
    pub live: BTreeSet<String>,
    /// Everything the live processes hold.
    pub held: BTreeSet<String>,
    /// Ids whose lease file is no longer locked.
    pub dead: BTreeSet<String>,
}

/// Reads every lease file of the store. Call it under the exclusive [`gc_lock`] so that
/// nothing is appended meanwhile.
pub fn read_leases(private: &Path) -> Result<Leases> {
    let dir = private.join(LEASES_DIR);
    let mut out = Leases::default();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("listing", &dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io("listing", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !valid_id(&name) {
            continue;
        }
        match liveness(private, &name) {
            Liveness::Live => {
                let path = entry.path();
                let text = match fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("reading", &path)(e)),
                };
                out.held.extend(text.lines().map(str::to_string));
                out.live.insert(name);
            }
            Liveness::Dead => {
                out.dead.insert(name);
            }
            Liveness::Unknown => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_temp_names_round_trip() {
        let id = process_id();
        assert!(valid_id(id), "{id}");
        assert_eq!(
            id_of_temp_name(&format!("{}abc", temp_prefix("blob"))),
            Some(id)
        );
        assert_eq!(id_of_temp_name(".tmp-fixup-abc"), None);
        assert_eq!(id_of_temp_name("blob-123"), None);
        assert!(!valid_id("../x"));
    }

    #[test]
    fn own_lease_is_live_and_holds_keys() {
        let dir = tempfile::tempdir().unwrap();
        let l = lease(dir.path()).unwrap();
        l.hold(&["sha256:aa", "mount-x"]).unwrap();
        l.hold(&["sha256:aa"]).unwrap();
        assert_eq!(liveness(dir.path(), process_id()), Liveness::Live);
        let leases = read_leases(dir.path()).unwrap();
        assert!(leases.live.contains(process_id()));
        assert_eq!(
            leases.held,
            ["mount-x", "sha256:aa"].map(String::from).into()
        );
        // A file nobody locks is a dead process's lease.
        let dead = "1x0123456789abcdef";
        fs::write(dir.path().join(LEASES_DIR).join(dead), "sha256:bb\n").unwrap();
        assert_eq!(liveness(dir.path(), dead), Liveness::Dead);
        let leases = read_leases(dir.path()).unwrap();
        assert!(leases.dead.contains(dead) && !leases.held.contains("sha256:bb"));
    }
}
