//! Persistent upload sessions (distribution-spec v1.1 "Pushing blobs"): the bytes of a
//! blob being pushed in pieces live in `.lading/uploads/<uuid>/data` until the client
//! closes the session with the blob's digest. Sessions survive a restart of the server,
//! so a client can ask how far it got and resume.
//!
//! Nothing in `blobs/` changes until [`Upload::commit`] has hashed the data file and found
//! the expected digest; then the file is fsynced and renamed into place, so a blob path
//! never holds partial or unverified content.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};
use crate::hash::Sha256;
use crate::store::Store;

const DATA: &str = "data";
const OWNER: &str = "owner";

/// One upload session.
#[derive(Debug, Clone)]
pub struct Upload {
    store: Store,
    id: String,
    dir: PathBuf,
}

fn uploads_dir(store: &Store) -> PathBuf {
    store.private_dir().join("uploads")
}

/// Whether `id` can name a session (a lowercase hyphenated UUID), so it is safe in a path.
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

impl Store {
    /// Starts an upload session for `owner` (the repository it was started in).
    pub fn create_upload(&self, owner: &str) -> Result<Upload> {
        // A random UUID: the id is all a client needs to write to the session.
        let id = crate::crypto::random_uuid("an upload id")?;
        let dir = uploads_dir(self).join(&id);
        fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        let data = dir.join(DATA);
        File::create(&data).map_err(Error::io("creating", &data))?;
        let owner_path = dir.join(OWNER);
        fs::write(&owner_path, owner).map_err(Error::io("writing", &owner_path))?;
        Ok(Upload {
            store: self.clone(),
            id,
            dir,
        })
    }

    /// Opens an existing session; [`Error::UploadNotFound`] when there is none.
    pub fn open_upload(&self, id: &str) -> Result<Upload> {
        let not_found = || Error::UploadNotFound { id: id.to_string() };
        if !valid_upload_id(id) {
            return Err(not_found());
        }
        let dir = uploads_dir(self).join(id);
        if !dir.join(DATA).is_file() || !dir.join(OWNER).is_file() {
            return Err(not_found());
        }
        Ok(Upload {
            store: self.clone(),
            id: id.to_string(),
            dir,
        })
    }

    /// Ids of every session on disk.
    pub fn uploads(&self) -> Result<Vec<String>> {
        let dir = uploads_dir(self);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("listing", &dir)(e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| valid_upload_id(n))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl Upload {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The repository the session was started in.
    pub fn owner(&self) -> Result<String> {
        let path = self.dir.join(OWNER);
        fs::read_to_string(&path).map_err(Error::io("reading", &path))
    }

    /// The file the received bytes are appended to.
    pub fn data_path(&self) -> PathBuf {
        self.dir.join(DATA)
    }

    /// Bytes received so far.
    pub fn len(&self) -> Result<u64> {
        let path = self.data_path();
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::UploadNotFound {
                id: self.id.clone(),
            }),
            Err(e) => Err(Error::io("reading", &path)(e)),
        }
    }

    /// Whether nothing was received yet.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Appends bytes (for callers that already hold them in memory).
    pub fn append(&self, bytes: &[u8]) -> Result<u64> {
        let path = self.data_path();
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        f.write_all(bytes).map_err(Error::io("writing", &path))?;
        self.len()
    }

    /// Cuts the data back to `len` bytes (drops a chunk that was refused halfway).
    pub fn truncate(&self, len: u64) -> Result<()> {
        let path = self.data_path();
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        f.set_len(len).map_err(Error::io("truncating", &path))
    }

    /// Hashes the received bytes; when they match `expected`, fsyncs and renames them into
    /// the store and ends the session. On a mismatch the session stays as it was (the
    /// client may still fix it up or cancel it) and nothing becomes visible.
    pub fn commit(self, expected: &Digest) -> Result<(Digest, u64)> {
        if expected.algorithm() != Algorithm::Sha256 {
            return Err(Error::InvalidDigest {
                digest: expected.to_string(),
            });
        }
        let path = self.data_path();
        let mut file = File::open(&path).map_err(Error::io("opening", &path))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(Error::io("reading", &path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            size += n as u64;
        }
        let actual = h.finish();
        if &actual != expected {
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        // Leased before it becomes visible: the manifest naming it comes later.
        self.store.hold_digest(&actual)?;
        if !self.store.has(&actual) {
            file.sync_all().map_err(Error::io("syncing", &path))?;
            let target = self.store.blob_path(&actual);
            fs::rename(&path, &target).map_err(Error::io("renaming into", &target))?;
            if let Some(dir) = target.parent()
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
        }
        self.cancel()?;
        Ok((actual, size))
    }

    /// Ends the session and drops what it received.
    pub fn cancel(self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing", &self.dir)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumed_upload_commits_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let up = store.create_upload("repo").unwrap();
        assert!(valid_upload_id(up.id()));
        up.append(b"hello ").unwrap();
        let id = up.id().to_string();
        // A restarted server only has the id.
        let store = Store::open(dir.path()).unwrap();
        let up = store.open_upload(&id).unwrap();
        assert_eq!(up.owner().unwrap(), "repo");
        assert_eq!(up.len().unwrap(), 6);
        assert_eq!(up.append(b"world").unwrap(), 11);
        let want = Digest::of(b"hello world");
        assert!(!store.has(&want), "visible before commit");
        let (d, n) = up.commit(&want).unwrap();
        assert_eq!((d, n), (want.clone(), 11));
        assert_eq!(store.verify_blob(&want).unwrap(), 11);
        assert!(matches!(
            store.open_upload(&id),
            Err(Error::UploadNotFound { .. })
        ));
        assert!(store.uploads().unwrap().is_empty());
    }

    #[test]
    fn wrong_digest_keeps_the_session_and_shows_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let up = store.create_upload("repo").unwrap();
        up.append(b"abc").unwrap();
        let wrong = Digest::of(b"abd");
        let err = up.clone().commit(&wrong).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.has(&wrong) && !store.has(&Digest::of(b"abc")));
        up.truncate(2).unwrap();
        up.append(b"d").unwrap();
        up.commit(&wrong).unwrap();
        assert!(store.has(&wrong));
    }

    #[test]
    fn ids_that_are_not_uuids_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for id in [
            "",
            "..",
            "../../etc",
            "ABCDEF00-0000-0000-0000-000000000000",
        ] {
            assert!(store.open_upload(id).is_err(), "{id}");
        }
        let up = store.create_upload("r").unwrap();
        let id = up.id().to_string();
        up.cancel().unwrap();
        assert!(store.open_upload(&id).is_err());
    }

    #[test]
    fn delete_blob_removes_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.put_bytes(b"x", "x").unwrap().digest;
        assert!(store.delete_blob(&d).unwrap());
        assert!(!store.has(&d));
        assert!(!store.delete_blob(&d).unwrap());
    }
}
