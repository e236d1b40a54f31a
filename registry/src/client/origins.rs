//! Where blobs came from and went to (docker's "v2 metadata"): for each blob digest, the
//! `registry/repository` names known to hold it, so a push to another repository of the
//! same registry can mount it instead of uploading it. Kept in the store's private
//! directory, one small file per blob (`.lading/origins/<hex>`); losing an entry to a
//! concurrent writer only costs a mount.

use std::path::PathBuf;

use lading_oci::{Digest, Store};

/// How many repositories are remembered per blob (the most recent ones).
const MAX_ORIGINS: usize = 8;

fn path(store: &Store, digest: &Digest) -> PathBuf {
    store.private_dir().join("origins").join(format!(
        "{}-{}",
        digest.algorithm().name(),
        digest.hex()
    ))
}

/// The repositories (`registry/repository`) known to hold `digest`, most recent first.
pub(crate) fn lookup(store: &Store, digest: &Digest) -> Vec<String> {
    std::fs::read_to_string(path(store, digest))
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Remembers that `name` (`registry/repository`) holds each of `digests`. Best effort.
pub(crate) fn record<'a>(store: &Store, name: &str, digests: impl IntoIterator<Item = &'a Digest>) {
    if !store.is_durable() {
        // A scratch store is gone after the command: nothing to remember.
        return;
    }
    let dir = store.private_dir().join("origins");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for d in digests {
        let mut names = lookup(store, d);
        if names.first().map(String::as_str) == Some(name) {
            continue;
        }
        names.retain(|n| n != name);
        names.insert(0, name.to_string());
        names.truncate(MAX_ORIGINS);
        let _ = store.write_atomic(&path(store, d), names.join("\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_first_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of(b"x");
        assert!(lookup(&store, &d).is_empty());
        record(&store, "r/a", [&d]);
        record(&store, "r/b", [&d]);
        record(&store, "r/a", [&d]);
        assert_eq!(lookup(&store, &d), ["r/a", "r/b"]);
    }
}
