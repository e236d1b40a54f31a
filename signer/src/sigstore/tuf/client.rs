//! The TUF client workflow (TUF 1.0 §5) against one mirror, cached on disk.
//!
//! The cache holds the last trusted `root.json`, `timestamp.json`, `snapshot.json`,
//! `targets.json` and the target files, written only after they verified. When the
//! mirror is unreachable, the cached chain is verified again and used if none of it has
//! expired. A lock file serializes concurrent runs on the same cache.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::metadata::{
    MetaFile, Root, Targets, Unverified, Versions, check_expiry, check_length_and_hashes, invalid,
};
use crate::error::{Error, Result};

/// Root versions followed in one update at most (python-tuf's default).
const MAX_ROOT_ROTATIONS: u64 = 256;
/// Download limits where the metadata names no length (python-tuf's defaults).
const MAX_ROOT_BYTES: u64 = 512_000;
const MAX_TIMESTAMP_BYTES: u64 = 16_384;
const MAX_METADATA_BYTES: u64 = 2_000_000;

/// A TUF repository: its mirror, its cache directory, and the initial root to trust when
/// the cache holds none.
pub struct Repository {
    mirror: String,
    cache: PathBuf,
    initial_root: Option<Vec<u8>>,
}

/// Target files, verified.
pub struct Fetched {
    /// The target files by name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Why the mirror was not asked, when the cache served (for a note to the user).
    pub offline: Option<String>,
}

/// Why a download did not give bytes.
enum Failure {
    NotFound,
    /// The mirror did not answer (connection, timeout, server error): the cache may serve.
    Unreachable(String),
    Failed(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Failed(e)
    }
}

impl Repository {
    /// The repository at `mirror`, cached under `cache_root/<hash of the mirror URL>`.
    pub fn new(mirror: &str, cache_root: &Path, initial_root: Option<Vec<u8>>) -> Repository {
        let mirror = mirror.trim_end_matches('/').to_string();
        let id = hex::encode(&crate::sigstore::sha256(mirror.as_bytes())[..8]);
        Repository {
            cache: cache_root.join(id),
            mirror,
            initial_root,
        }
    }

    /// The cache directory of this mirror.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// Updates the trusted metadata from the mirror and returns the target files `names`,
    /// verified; from the cache when the mirror is unreachable and the cache is current.
    pub fn fetch_targets(
        &self,
        http: &reqwest::blocking::Client,
        names: &[&str],
        now: i64,
    ) -> Result<Fetched> {
        if self.initial_root.is_none() && !self.cache.join("root.json").exists() {
            return Err(self.no_root());
        }
        std::fs::create_dir_all(self.cache.join("targets")).map_err(|e| self.io("creating", e))?;
        let lock = File::create(self.cache.join(".lock")).map_err(|e| self.io("locking", e))?;
        lock.lock().map_err(|e| self.io("locking", e))?;
        match self.update(http, names, now) {
            Ok(files) => Ok(Fetched {
                files,
                offline: None,
            }),
            Err(Failure::Unreachable(why)) => {
                let files = self.cached_targets(names, now).map_err(|e| Error::Untrusted {
                    reason: format!(
                        "the TUF mirror {} is unreachable ({why}) and the cache {} cannot stand in: {e}",
                        self.mirror,
                        self.cache.display()
                    ),
                })?;
                Ok(Fetched {
                    files,
                    offline: Some(format!(
                        "the TUF mirror {} is unreachable ({why})",
                        self.mirror
                    )),
                })
            }
            Err(Failure::NotFound) => {
                Err(invalid(format!("{} has no timestamp.json", self.mirror)))
            }
            Err(Failure::Failed(e)) => Err(e),
        }
    }

    /// TUF 1.0 §5.3–5.7 against the mirror.
    fn update(
        &self,
        http: &reqwest::blocking::Client,
        names: &[&str],
        now: i64,
    ) -> std::result::Result<BTreeMap<String, Vec<u8>>, Failure> {
        let root = self.update_root(http, now)?;
        let timestamp = self.update_timestamp(http, &root, now)?;
        let snapshot = self.update_snapshot(http, &root, &timestamp, now)?;
        let targets = self.update_targets(http, &root, &snapshot, now)?;
        let mut files = BTreeMap::new();
        for name in names {
            files.insert(name.to_string(), self.target(http, &root, &targets, name)?);
        }
        Ok(files)
    }

    /// The cached root (checked against its own keys), else the initial root.
    fn trusted_root(&self) -> Result<(Root, Vec<u8>)> {
        let bytes = match std::fs::read(self.cache.join("root.json")) {
            Ok(bytes) => bytes,
            Err(_) => self.initial_root.clone().ok_or_else(|| self.no_root())?,
        };
        let unverified = Unverified::parse(&bytes, "root")?;
        let root: Root = Unverified::parse(&bytes, "root")?.into_signed("root")?;
        unverified.verify(&root, "root")?;
        Ok((root, bytes))
    }

    /// §5.3: follows `N+1.root.json` while the mirror has one, each signed by a threshold
    /// of the previous root's keys and of its own.
    fn update_root(
        &self,
        http: &reqwest::blocking::Client,
        now: i64,
    ) -> std::result::Result<Root, Failure> {
        let (mut root, bytes) = self.trusted_root()?;
        if !self.cache.join("root.json").exists() {
            self.save("root.json", &bytes)?;
        }
        let first = root.clone();
        for _ in 0..MAX_ROOT_ROTATIONS {
            let next = root.version + 1;
            let bytes = match self.download(http, &format!("{next}.root.json"), MAX_ROOT_BYTES) {
                Ok(bytes) => bytes,
                Err(Failure::NotFound) => break,
                Err(other) => return Err(other),
            };
            let unverified = Unverified::parse(&bytes, "root")?;
            let new: Root = Unverified::parse(&bytes, "root")?.into_signed("root")?;
            let previous = format!("root v{}", root.version);
            for (signer, whose) in [(&root, previous.as_str()), (&new, "its own")] {
                let (good, threshold) = unverified.valid_signatures(signer, "root")?;
                if good < threshold as usize || threshold == 0 {
                    return Err(invalid(format!(
                        "root v{next} is signed by {good} of the {threshold} {whose} keys it needs"
                    ))
                    .into());
                }
            }
            if new.version != next {
                return Err(
                    invalid(format!("{next}.root.json has version {}", new.version)).into(),
                );
            }
            self.save("root.json", &bytes)?;
            root = new;
        }
        check_expiry("root", &root.expires, now)?;
        // §5.3.11: new timestamp or snapshot keys void what the old ones signed.
        if first.role_changed(&root, "timestamp") || first.role_changed(&root, "snapshot") {
            for name in ["timestamp.json", "snapshot.json"] {
                let _ = std::fs::remove_file(self.cache.join(name));
            }
        }
        Ok(root)
    }

    /// A cached metadata file that still verifies with `root`, for rollback checks.
    fn cached<T: for<'de> serde::Deserialize<'de>>(&self, root: &Root, role: &str) -> Option<T> {
        let bytes = std::fs::read(self.cache.join(format!("{role}.json"))).ok()?;
        let unverified = Unverified::parse(&bytes, role).ok()?;
        unverified.verify(root, role).ok()?;
        unverified.into_signed(role).ok()
    }

    /// §5.4: `timestamp.json`, never older than the cached one.
    fn update_timestamp(
        &self,
        http: &reqwest::blocking::Client,
        root: &Root,
        now: i64,
    ) -> std::result::Result<Versions, Failure> {
        let bytes = self.download(http, "timestamp.json", MAX_TIMESTAMP_BYTES)?;
        let unverified = Unverified::parse(&bytes, "timestamp")?;
        unverified.verify(root, "timestamp")?;
        let new: Versions = unverified.into_signed("timestamp")?;
        let new_snapshot = snapshot_meta(&new)?.version;
        if let Some(old) = self.cached::<Versions>(root, "timestamp") {
            if new.version < old.version {
                return Err(rollback("timestamp", new.version, old.version).into());
            }
            let old_snapshot = snapshot_meta(&old)?.version;
            if new_snapshot < old_snapshot {
                return Err(rollback("snapshot", new_snapshot, old_snapshot).into());
            }
        }
        check_expiry("timestamp", &new.expires, now)?;
        self.save("timestamp.json", &bytes)?;
        Ok(new)
    }

    /// §5.5: the snapshot the timestamp names, keeping every targets version it had.
    fn update_snapshot(
        &self,
        http: &reqwest::blocking::Client,
        root: &Root,
        timestamp: &Versions,
        now: i64,
    ) -> std::result::Result<Versions, Failure> {
        let meta = snapshot_meta(timestamp)?;
        let name = versioned(root, "snapshot.json", meta.version);
        let bytes = self.download(http, &name, meta.length.unwrap_or(MAX_METADATA_BYTES))?;
        let new: Versions = check_meta(&bytes, "snapshot", meta, root)?;
        if let Some(old) = self.cached::<Versions>(root, "snapshot") {
            for (file, was) in &old.meta {
                match new.meta.get(file) {
                    Some(now) if now.version < was.version => {
                        return Err(rollback(file, now.version, was.version).into());
                    }
                    Some(_) => {}
                    None => return Err(invalid(format!("the new snapshot drops {file}")).into()),
                }
            }
        }
        check_expiry("snapshot", &new.expires, now)?;
        self.save("snapshot.json", &bytes)?;
        Ok(new)
    }

    /// §5.6: the targets metadata the snapshot names.
    fn update_targets(
        &self,
        http: &reqwest::blocking::Client,
        root: &Root,
        snapshot: &Versions,
        now: i64,
    ) -> std::result::Result<Targets, Failure> {
        let meta = targets_meta(snapshot)?;
        let name = versioned(root, "targets.json", meta.version);
        let bytes = self.download(http, &name, meta.length.unwrap_or(MAX_METADATA_BYTES))?;
        let new: Targets = check_meta(&bytes, "targets", meta, root)?;
        check_expiry("targets", &new.expires, now)?;
        self.save("targets.json", &bytes)?;
        Ok(new)
    }

    /// §5.7: a target file, from the cache when it still matches, else the mirror.
    fn target(
        &self,
        http: &reqwest::blocking::Client,
        root: &Root,
        targets: &Targets,
        name: &str,
    ) -> std::result::Result<Vec<u8>, Failure> {
        let info = target_info(targets, name)?;
        let cached = self.cache.join("targets").join(name);
        if let Ok(bytes) = std::fs::read(&cached)
            && check_length_and_hashes(name, &bytes, Some(info.length), &info.hashes).is_ok()
        {
            return Ok(bytes);
        }
        let path = match info.hashes.get("sha256").or(info.hashes.values().next()) {
            Some(hash) if root.consistent_snapshot => format!("targets/{hash}.{name}"),
            _ => format!("targets/{name}"),
        };
        let bytes = match self.download(http, &path, info.length) {
            Err(Failure::NotFound) => {
                return Err(invalid(format!("{} has no {path}", self.mirror)).into());
            }
            other => other?,
        };
        check_length_and_hashes(
            &format!("target {name}"),
            &bytes,
            Some(info.length),
            &info.hashes,
        )?;
        self.save(&format!("targets/{name}"), &bytes)?;
        Ok(bytes)
    }

    /// The cached chain, verified again link by link, with nothing expired.
    fn cached_targets(&self, names: &[&str], now: i64) -> Result<BTreeMap<String, Vec<u8>>> {
        let read = |name: &str| {
            std::fs::read(self.cache.join(name)).map_err(|_| invalid(format!("no cached {name}")))
        };
        let (root, _) = self.trusted_root()?;
        if !self.cache.join("root.json").exists() {
            return Err(invalid("no cached root.json"));
        }
        check_expiry("root", &root.expires, now)?;
        let unverified = Unverified::parse(&read("timestamp.json")?, "timestamp")?;
        unverified.verify(&root, "timestamp")?;
        let timestamp: Versions = unverified.into_signed("timestamp")?;
        check_expiry("timestamp", &timestamp.expires, now)?;
        let snapshot: Versions = check_meta(
            &read("snapshot.json")?,
            "snapshot",
            snapshot_meta(&timestamp)?,
            &root,
        )?;
        check_expiry("snapshot", &snapshot.expires, now)?;
        let targets: Targets = check_meta(
            &read("targets.json")?,
            "targets",
            targets_meta(&snapshot)?,
            &root,
        )?;
        check_expiry("targets", &targets.expires, now)?;
        let mut files = BTreeMap::new();
        for name in names {
            let info = target_info(&targets, name)?;
            let bytes = read(&format!("targets/{name}"))?;
            check_length_and_hashes(
                &format!("cached target {name}"),
                &bytes,
                Some(info.length),
                &info.hashes,
            )?;
            files.insert(name.to_string(), bytes);
        }
        Ok(files)
    }

    /// GETs `path` under the mirror, at most `max` bytes.
    fn download(
        &self,
        http: &reqwest::blocking::Client,
        path: &str,
        max: u64,
    ) -> std::result::Result<Vec<u8>, Failure> {
        let url = format!("{}/{path}", self.mirror);
        let response = http
            .get(&url)
            .send()
            .map_err(|e| Failure::Unreachable(format!("{url}: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            return Err(Failure::NotFound);
        }
        if status.is_server_error() {
            return Err(Failure::Unreachable(format!("{url}: {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Failed(Error::Http {
                what: "the TUF mirror",
                reason: format!("{url}: {status}"),
            }));
        }
        let mut bytes = Vec::new();
        response
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Unreachable(format!("{url}: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(invalid(format!("{url} is longer than {max} bytes")).into());
        }
        Ok(bytes)
    }

    /// Writes a verified file into the cache (a rename, so readers never see half).
    fn save(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.cache.join(name);
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bytes)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| self.io("writing", e))
    }

    fn no_root(&self) -> Error {
        invalid(format!(
            "no trusted root for {}: give its initial root.json (--tuf-root)",
            self.mirror
        ))
    }

    fn io(&self, doing: &str, e: std::io::Error) -> Error {
        Error::Invalid {
            what: "TUF cache",
            reason: format!("{doing} {}: {e}", self.cache.display()),
        }
    }
}

/// `name`, prefixed with its version when the root asks for consistent snapshots.
fn versioned(root: &Root, name: &str, version: u64) -> String {
    if root.consistent_snapshot {
        format!("{version}.{name}")
    } else {
        name.to_string()
    }
}

/// A snapshot or targets file checked against what names it: hashes, length, the
/// role's signatures, and the version.
fn check_meta<T: for<'de> serde::Deserialize<'de> + HasVersion>(
    bytes: &[u8],
    role: &str,
    meta: &MetaFile,
    root: &Root,
) -> Result<T> {
    check_length_and_hashes(&format!("{role}.json"), bytes, meta.length, &meta.hashes)?;
    let unverified = Unverified::parse(bytes, role)?;
    unverified.verify(root, role)?;
    let signed: T = unverified.into_signed(role)?;
    if signed.version() != meta.version {
        return Err(invalid(format!(
            "{role}.json has version {}, not the {} it is listed with",
            signed.version(),
            meta.version
        )));
    }
    Ok(signed)
}

trait HasVersion {
    fn version(&self) -> u64;
}

impl HasVersion for Versions {
    fn version(&self) -> u64 {
        self.version
    }
}

impl HasVersion for Targets {
    fn version(&self) -> u64 {
        self.version
    }
}

fn snapshot_meta(timestamp: &Versions) -> Result<&MetaFile> {
    timestamp
        .meta
        .get("snapshot.json")
        .ok_or_else(|| invalid("the timestamp names no snapshot.json"))
}

fn targets_meta(snapshot: &Versions) -> Result<&MetaFile> {
    snapshot
        .meta
        .get("targets.json")
        .ok_or_else(|| invalid("the snapshot names no targets.json"))
}

fn target_info<'a>(targets: &'a Targets, name: &str) -> Result<&'a super::metadata::TargetFile> {
    targets
        .targets
        .get(name)
        .ok_or_else(|| invalid(format!("the targets metadata lists no {name}")))
}

fn rollback(role: &str, new: u64, old: u64) -> Error {
    invalid(format!(
        "rollback refused: {role} version {new} is older than the trusted version {old}"
    ))
}
