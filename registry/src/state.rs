//! The registry's shared state and the store-level questions the handlers ask (which
//! manifest a reference means in a repository, who refers to a digest, whether a blob is
//! still in use). Everything here is synchronous file I/O; handlers call it on tokio's
//! blocking pool.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lading_oci::spec::Descriptor;
use lading_oci::{Digest, Store};
use serde_json::Value;

use crate::auth::Auth;
use crate::constants::{
    DEFAULT_MAX_BLOB_SIZE, MAX_MANIFEST_SIZE, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, is_index_type,
};

/// Size limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest manifest accepted (bytes); larger pushes get `413`.
    pub max_manifest: u64,
    /// Largest blob accepted (bytes); larger uploads get `413`.
    pub max_blob: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest: MAX_MANIFEST_SIZE,
            max_blob: DEFAULT_MAX_BLOB_SIZE,
        }
    }
}

/// A registry over one store: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("store", &self.inner.store.root())
            .field("limits", &self.inner.limits)
            .finish()
    }
}

pub(crate) struct Inner {
    pub store: Store,
    pub limits: Limits,
    pub auth: Auth,
    /// One lock per upload session, so chunks of one session never interleave.
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Parsed manifests by digest (content-addressed, so never stale).
    infos: Mutex<HashMap<Digest, Arc<ManifestInfo>>>,
    /// Manifest pushes hold it shared between checking their blobs and recording the
    /// manifest; a blob deletion holds it exclusively.
    pub blob_gc: tokio::sync::RwLock<()>,
    /// Manifests served by digest in a repository without an entry in `index.json`
    /// (see [`Registry::expose`]).
    exposed: Mutex<BTreeMap<String, BTreeSet<Digest>>>,
    /// Whether requests that would change the store are refused.
    read_only: AtomicBool,
}

const MAX_CACHED_INFOS: usize = 100_000;

impl Registry {
    /// A registry serving `store`.
    pub fn new(store: Store, limits: Limits, auth: Auth) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                store,
                limits,
                auth,
                sessions: Mutex::new(HashMap::new()),
                infos: Mutex::new(HashMap::new()),
                blob_gc: tokio::sync::RwLock::new(()),
                exposed: Mutex::new(BTreeMap::new()),
                read_only: AtomicBool::new(false),
            }),
        }
    }

    /// Serves manifest `digest` of the store (and, when it is an index, the manifests it
    /// lists) in repository `repo`, by digest only, for as long as this registry runs.
    /// Nothing is written to the store: no entry, no tag, nothing to clean up. This is
    /// how `lading scan` lets an external scanner pull exactly the manifest it scanned,
    /// tagged or not, as `HOST/REPO@DIGEST`.
    pub fn expose(&self, repo: &str, digest: &Digest) -> crate::Result<()> {
        lading_oci::repository::validate_name(repo).map_err(|e| crate::Error::Name {
            name: repo.to_string(),
            reason: e.to_string(),
        })?;
        self.inner
            .exposed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(repo.to_string())
            .or_default()
            .insert(digest.clone());
        Ok(())
    }

    /// Refuses (`405 UNSUPPORTED`) every request that would change the store: pushes,
    /// uploads, deletions. Reads are answered as usual.
    pub fn set_read_only(&self, read_only: bool) {
        self.inner.read_only.store(read_only, Ordering::Relaxed);
    }

    /// The store served.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The axum router answering every `/v2/` endpoint.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(crate::handlers::dispatch)
            .with_state(self.clone())
    }
}

/// What a stored manifest says, as far as the registry cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManifestInfo {
    pub media_type: String,
    pub size: u64,
    /// Manifests an index lists.
    pub children: Vec<Digest>,
    /// Config and layers of an image manifest.
    pub blobs: Vec<Digest>,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl ManifestInfo {
    /// Reads what matters from manifest bytes; `None` when they are no manifest.
    pub fn parse(bytes: &[u8]) -> Option<ManifestInfo> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let obj = v.as_object()?;
        let digests = |key: &str| -> Vec<Digest> {
            obj.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("digest")?.as_str()?.parse().ok())
                .collect()
        };
        let children = digests("manifests");
        let media_type = match obj.get("mediaType").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None if obj.contains_key("manifests") => MEDIA_TYPE_INDEX.to_string(),
            None if obj.contains_key("config") => MEDIA_TYPE_MANIFEST.to_string(),
            None => return None,
        };
        let mut blobs = Vec::new();
        if !is_index_type(&media_type) {
            if let Some(d) = obj
                .get("config")
                .and_then(|c| c.get("digest")?.as_str()?.parse().ok())
            {
                blobs.push(d);
            }
            blobs.extend(digests("layers"));
        }
        let artifact_type = obj
            .get("artifactType")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                if is_index_type(&media_type) {
                    None
                } else {
                    obj.get("config")?
                        .get("mediaType")?
                        .as_str()
                        .map(str::to_string)
                }
            });
        let annotations = obj
            .get("annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(ManifestInfo {
            media_type,
            size: bytes.len() as u64,
            children,
            blobs,
            subject: obj
                .get("subject")
                .and_then(|s| s.get("digest")?.as_str()?.parse().ok()),
            artifact_type,
            annotations,
        })
    }
}

/// Where a reference leads in a repository.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The repository has no entries.
    NameUnknown,
    /// The repository exists; the manifest is not in it.
    ManifestUnknown,
    /// Found: the digest and the media type its entry records (when it is an entry).
    Found {
        digest: Digest,
        media_type: Option<String>,
    },
}

/// A manifest reference: tag or digest.
#[derive(Debug, Clone)]
pub(crate) enum Reference {
    Tag(String),
    Digest(Digest),
}

/// How deep nested indexes are followed when looking for a child manifest.
const MAX_INDEX_DEPTH: usize = 4;

impl Inner {
    /// Whether requests that would change the store are refused.
    pub fn read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    /// The manifests exposed in `repo` (see [`Registry::expose`]).
    pub fn exposed(&self, repo: &str) -> BTreeSet<Digest> {
        self.exposed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(repo)
            .cloned()
            .unwrap_or_default()
    }

    pub fn session_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    pub fn forget_session(&self, id: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }

    /// The parsed manifest `digest`, `None` when the blob is missing or no manifest.
    pub fn info(&self, digest: &Digest) -> lading_oci::Result<Option<Arc<ManifestInfo>>> {
        if let Some(i) = self
            .infos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
        {
            return Ok(Some(i.clone()));
        }
        let bytes = match self.store.read_blob(digest) {
            Ok(b) => b,
            Err(lading_oci::Error::BlobNotFound { .. } | lading_oci::Error::TooLarge { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(info) = ManifestInfo::parse(&bytes) else {
            return Ok(None);
        };
        let info = Arc::new(info);
        let mut cache = self.infos.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_INFOS {
            cache.clear();
        }
        cache.insert(digest.clone(), info.clone());
        Ok(Some(info))
    }

    /// Resolves a tag or digest in `repo`.
    pub fn lookup(&self, repo: &str, reference: &Reference) -> lading_oci::Result<Lookup> {
        let entries = self.store.repository_entries(repo)?;
        let exposed = self.exposed(repo);
        if entries.is_empty() && exposed.is_empty() {
            return Ok(Lookup::NameUnknown);
        }
        match reference {
            Reference::Tag(tag) => Ok(entries
                .into_iter()
                .find(|(t, _)| t.as_deref() == Some(tag.as_str()))
                .map_or(Lookup::ManifestUnknown, |(_, d)| Lookup::Found {
                    digest: d.digest,
                    media_type: Some(d.media_type),
                })),
            Reference::Digest(want) => {
                if let Some((_, d)) = entries.iter().find(|(_, d)| &d.digest == want) {
                    return Ok(Lookup::Found {
                        digest: want.clone(),
                        media_type: Some(d.media_type.clone()),
                    });
                }
                if exposed.contains(want) {
                    return Ok(Lookup::Found {
                        digest: want.clone(),
                        media_type: None,
                    });
                }
                // A child of an index in the repository (a platform manifest). Exposed
                // manifests that are no index have no children and end here.
                let mut seen = BTreeSet::new();
                let mut level: Vec<Digest> = entries
                    .into_iter()
                    .filter(|(_, d)| is_index_type(&d.media_type))
                    .map(|(_, d)| d.digest)
                    .chain(exposed)
                    .collect();
                for _ in 0..MAX_INDEX_DEPTH {
                    let mut next = Vec::new();
                    for d in level {
                        if !seen.insert(d.clone()) {
                            continue;
                        }
                        let Some(info) = self.info(&d)? else { continue };
                        if info.children.contains(want) {
                            return Ok(Lookup::Found {
                                digest: want.clone(),
                                media_type: None,
                            });
                        }
                        next.extend(info.children.iter().cloned());
                    }
                    if next.is_empty() {
                        break;
                    }
                    level = next;
                }
                Ok(Lookup::ManifestUnknown)
            }
        }
    }

    /// Descriptors of the manifests of `repo` whose subject is `subject`, sorted by digest.
    pub fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> lading_oci::Result<Vec<Descriptor>> {
        let digests: BTreeSet<Digest> = self
            .store
            .repository_entries(repo)?
            .into_iter()
            .map(|(_, d)| d.digest)
            .collect();
        let mut out = Vec::new();
        for d in digests {
            let Some(info) = self.info(&d)? else { continue };
            if info.subject.as_ref() != Some(subject) {
                continue;
            }
            if artifact_type.is_some() && info.artifact_type.as_deref() != artifact_type {
                continue;
            }
            let mut desc = Descriptor::new(info.media_type.clone(), d, info.size);
            desc.artifact_type = info.artifact_type.clone();
            desc.annotations = info.annotations.clone();
            out.push(desc);
        }
        Ok(out)
    }

    /// A manifest in `index.json` (any repository, any tag, the builder's too) that
    /// references `blob` directly or through indexes, or is it.
    pub fn blob_in_use(&self, blob: &Digest) -> lading_oci::Result<Option<Digest>> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(Digest, Digest)> = self
            .store
            .index()?
            .manifests
            .into_iter()
            .map(|d| (d.digest.clone(), d.digest))
            .collect();
        let exposed: Vec<Digest> = self
            .exposed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flatten()
            .cloned()
            .collect();
        stack.extend(exposed.into_iter().map(|d| (d.clone(), d)));
        while let Some((root, d)) = stack.pop() {
            if &d == blob {
                return Ok(Some(root));
            }
            if !seen.insert(d.clone()) {
                continue;
            }
            let Some(info) = self.info(&d)? else { continue };
            if info.blobs.contains(blob) {
                return Ok(Some(root));
            }
            stack.extend(info.children.iter().map(|c| (root.clone(), c.clone())));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_info_reads_artifact_type_and_subject() {
        let d = Digest::of(b"x");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_MANIFEST}","config":{{"mediaType":"application/vnd.example","digest":"{d}","size":1}},"layers":[],"subject":{{"mediaType":"{MEDIA_TYPE_MANIFEST}","digest":"{d}","size":1}},"annotations":{{"a":"b"}}}}"#
        );
        let info = ManifestInfo::parse(m.as_bytes()).unwrap();
        assert_eq!(
            info.artifact_type.as_deref(),
            Some("application/vnd.example")
        );
        assert_eq!(info.subject, Some(d.clone()));
        assert_eq!(info.blobs, vec![d.clone()]);
        assert_eq!(info.annotations.get("a").map(String::as_str), Some("b"));
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MEDIA_TYPE_MANIFEST}","digest":"{d}","size":1}}]}}"#
        );
        let info = ManifestInfo::parse(i.as_bytes()).unwrap();
        assert_eq!(info.media_type, MEDIA_TYPE_INDEX);
        assert_eq!(info.artifact_type, None);
        assert_eq!(info.children, vec![d]);
        assert!(ManifestInfo::parse(b"[]").is_none());
    }
}
