//! Consistency check of a store: every blob hashes to its name, and everything
//! `index.json` points at is there (manifests, their configs and layers, the manifests
//! of indexes, recursively). Used after crashes and concurrency tests; `subject`s are not
//! required to exist (image-spec allows a referrer to arrive before its subject).

use std::collections::BTreeSet;
use std::fs;

use crate::constants::ANNOTATION_PARTIAL;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::Store;

/// What [`Store::check`] found wrong, one line each; empty when the store is sound.
pub type Problems = Vec<String>;

impl Store {
    /// Re-hashes every blob and walks everything `index.json` references.
    pub fn check(&self) -> Result<Problems> {
        let mut problems = Vec::new();
        let dir = self.root().join("blobs/sha256");
        let entries = fs::read_dir(&dir).map_err(Error::io("listing", &dir))?;
        for entry in entries {
            let entry = entry.map_err(Error::io("listing", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match format!("sha256:{name}").parse::<Digest>() {
                Ok(d) => {
                    if let Err(e) = self.verify_blob(&d) {
                        problems.push(format!("blob {d}: {e}"));
                    }
                }
                Err(_) => problems.push(format!("stray file blobs/sha256/{name}")),
            }
        }
        let mut seen = BTreeSet::new();
        // (digest, may be absent): the manifests a partial index lists may be absent.
        let mut stack: Vec<(Digest, bool)> = self
            .index()?
            .manifests
            .into_iter()
            .map(|d| (d.digest, false))
            .collect();
        let partial: BTreeSet<Digest> = self
            .index()?
            .manifests
            .into_iter()
            .filter(|d| d.annotations.get(ANNOTATION_PARTIAL).map(String::as_str) == Some("true"))
            .map(|d| d.digest)
            .collect();
        while let Some((d, optional)) = stack.pop() {
            if optional && !self.has(&d) {
                continue;
            }
            if !seen.insert(d.clone()) {
                continue;
            }
            let bytes = match self.read_blob(&d) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!("manifest {d}: {e}"));
                    continue;
                }
            };
            let v: serde_json::Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("manifest {d}: not JSON: {e}"));
                    continue;
                }
            };
            let digests = |key: &str| -> Vec<String> {
                v.get(key)
                    .and_then(|l| l.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.get("digest")?.as_str().map(str::to_string))
                    .collect()
            };
            for child in digests("manifests") {
                match child.parse::<Digest>() {
                    Ok(c) => stack.push((c, partial.contains(&d))),
                    Err(_) => problems.push(format!("manifest {d}: invalid digest {child:?}")),
                }
            }
            let mut blobs = digests("layers");
            if let Some(c) = v
                .get("config")
                .and_then(|c| c.get("digest")?.as_str().map(str::to_string))
            {
                blobs.push(c);
            }
            for b in blobs {
                match b.parse::<Digest>() {
                    Ok(b) if self.has(&b) => {}
                    Ok(b) => problems.push(format!("manifest {d}: blob {b} is missing")),
                    Err(_) => problems.push(format!("manifest {d}: invalid digest {b:?}")),
                }
            }
        }
        problems.sort();
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::MEDIA_TYPE_MANIFEST;

    #[test]
    fn finds_missing_and_corrupt_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = store.put_bytes(b"{}", "c").unwrap();
        let layer = Digest::of(b"layer");
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{}","size":2}},"layers":[{{"mediaType":"l","digest":"{layer}","size":5}}]}}"#,
            config.digest
        );
        let m = store
            .put_bytes(manifest.as_bytes(), MEDIA_TYPE_MANIFEST)
            .unwrap();
        store.tag("x:1", &m).unwrap();
        assert_eq!(store.check().unwrap().len(), 1, "missing layer");
        store.put_bytes(b"layer", "l").unwrap();
        assert!(store.check().unwrap().is_empty());
        fs::write(store.blob_path(&config.digest), b"{ }").unwrap();
        let problems = store.check().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("digest mismatch"), "{problems:?}");
    }

    #[test]
    fn a_partial_index_may_lack_other_platforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let absent = Digest::of(b"other platform");
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{MEDIA_TYPE_MANIFEST}","digest":"{absent}","size":5}}]}}"#
        );
        let i = store
            .put_bytes(index.as_bytes(), crate::constants::MEDIA_TYPE_INDEX)
            .unwrap();
        store.tag("x:1", &i).unwrap();
        assert_eq!(store.check().unwrap().len(), 1, "missing child");
        store
            .tag("x:1", &crate::graph::mark_partial(&i, true))
            .unwrap();
        assert!(store.check().unwrap().is_empty());
    }
}
