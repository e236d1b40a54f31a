//! Pulling into the store (distribution-spec "Pull"): manifests and indexes by reference,
//! blobs streamed into the store and verified, several at once.

use std::io::Write as _;
use std::sync::Arc;

use lading_oci::graph::Node;
use lading_oci::image::select_platform;
use lading_oci::{Descriptor, Digest, Platform, Reference, Store};
use reqwest::header;
use reqwest::{Method, StatusCode};

use super::error::{ClientError, Result};
use super::progress::{Direction, Event, Outcome};
use super::transport::{HostRef, Req, backoff, header_str, pull_scope, status_error};
use super::{Client, Inner, origins};

/// What a pull brought into the store.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest or index the reference named (digest as the registry serves it).
    pub descriptor: Descriptor,
    /// Whether it is an index of which only some platforms were pulled.
    pub partial: bool,
    /// Blobs downloaded.
    pub downloaded: usize,
    /// Blobs the store already had.
    pub cached: usize,
    /// Bytes downloaded (blobs only).
    pub bytes: u64,
}

impl Client {
    /// Copies what `reference` names into the store: the manifest, or the index with the
    /// manifests for `platforms` (every one when `None`), and their configs and layers.
    /// Nothing is tagged; blobs already in the store are not downloaded.
    pub fn pull(
        &self,
        store: &Store,
        reference: &Reference,
        platforms: Option<&[Platform]>,
    ) -> Result<Pulled> {
        let inner = self.inner.clone();
        let store = store.clone();
        let reference = reference.clone();
        let platforms = platforms.map(<[Platform]>::to_vec);
        self.runtime
            .block_on(async move { inner.pull(&store, &reference, platforms.as_deref()).await })
    }
}

impl Inner {
    pub(crate) async fn pull(
        self: &Arc<Self>,
        store: &Store,
        reference: &Reference,
        platforms: Option<&[Platform]>,
    ) -> Result<Pulled> {
        let host = self.host(reference.registry()).await?;
        let repo = reference.repository();
        let what = reference.to_string();
        let root = match reference.digest() {
            Some(d) if store.has(d) => {
                let bytes = store.read_blob(d)?;
                let media_type = media_type_of(&bytes);
                (
                    Descriptor::new(media_type, d.clone(), bytes.len() as u64),
                    bytes,
                )
            }
            _ => {
                let f = self
                    .get_manifest(&host, repo, &reference.reference(), None)
                    .await?;
                store.put_bytes(&f.bytes, &f.descriptor.media_type)?;
                (f.descriptor, f.bytes)
            }
        };
        let descriptor = root.0.clone();
        let mut partial = false;
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut stack = vec![(root.0, root.1, 0usize)];
        while let Some((desc, bytes, depth)) = stack.pop() {
            match Node::parse(&desc.media_type, &bytes)? {
                Node::Index(index) => {
                    if depth > 8 {
                        return Err(ClientError::Protocol {
                            what: what.clone(),
                            reason: "indexes nested more than 8 deep".into(),
                        });
                    }
                    let mut children: Vec<Descriptor> = Vec::new();
                    match platforms {
                        None => children.extend(index.manifests.iter().cloned()),
                        Some(ps) => {
                            for p in ps {
                                let c = select_platform(&index, p, &what)?;
                                if !children.iter().any(|x| x.digest == c.digest) {
                                    children.push(c);
                                }
                            }
                        }
                    }
                    partial |= children.len() < index.manifests.len();
                    for child in children {
                        let bytes = if store.has(&child.digest) {
                            store.read_blob(&child.digest)?
                        } else {
                            let f = self
                                .get_manifest(&host, repo, &child.digest.to_string(), Some(&child))
                                .await?;
                            store.put_bytes(&f.bytes, &child.media_type)?;
                            f.bytes
                        };
                        stack.push((child, bytes, depth + 1));
                    }
                }
                Node::Manifest(m) => {
                    for b in std::iter::once(m.config).chain(m.layers) {
                        if !blobs.iter().any(|x| x.digest == b.digest) {
                            blobs.push(b);
                        }
                    }
                }
            }
        }
        let (cached, missing): (Vec<Descriptor>, Vec<Descriptor>) =
            blobs.iter().cloned().partition(|b| store.has(&b.digest));
        for b in &cached {
            self.reporter.event(Event::Done {
                digest: &b.digest,
                outcome: Outcome::Cached,
            });
        }
        let semaphore = Arc::new(tokio::sync::Semaphore::new(self.opts.parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for b in &missing {
            let b = b.clone();
            let (inner, host, store, repo) =
                (self.clone(), host.clone(), store.clone(), repo.to_string());
            let semaphore = semaphore.clone();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                inner.download_blob(&host, &repo, &b, &store).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            let result = done.map_err(|e| ClientError::Protocol {
                what: what.clone(),
                reason: format!("download task failed: {e}"),
            })?;
            if let Err(e) = result {
                tasks.abort_all();
                return Err(e);
            }
        }
        let name = reference.name();
        let digests: Vec<&Digest> = blobs.iter().map(|b| &b.digest).collect();
        origins::record(store, &name, digests);
        Ok(Pulled {
            descriptor,
            partial,
            downloaded: missing.len(),
            cached: cached.len(),
            bytes: missing.iter().map(|b| b.size).sum(),
        })
    }

    /// Streams one blob into the store, verifying digest and size; resumes a broken
    /// download with `Range` (or starts over when the registry ignores it).
    pub(crate) async fn download_blob(
        &self,
        host: &HostRef,
        repo: &str,
        desc: &Descriptor,
        store: &Store,
    ) -> Result<()> {
        let digest = &desc.digest;
        let repository = format!("{}/{repo}", host.registry);
        self.reporter.event(Event::Start {
            digest,
            size: desc.size,
            direction: Direction::Download,
        });
        let url = host.url(&format!("{repo}/blobs/{digest}"));
        let scopes = [pull_scope(repo)];
        let mut writer = store.writer()?;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let offset = writer.len();
            let mut req = Req::new(Method::GET, url.clone());
            if offset > 0 {
                req = req.header(header::RANGE, &format!("bytes={offset}-"));
            }
            let result: Result<()> = async {
                let mut resp = host.send(&scopes, &req, 0).await?;
                match resp.status() {
                    StatusCode::OK => {
                        if offset > 0 {
                            writer = store.writer()?;
                            self.reporter.event(Event::Retry {
                                digest,
                                attempt,
                                offset: 0,
                                reason: "the registry ignored Range; starting over".into(),
                            });
                        }
                    }
                    StatusCode::PARTIAL_CONTENT => {
                        let start = header_str(&resp, "content-range")
                            .and_then(|v| v.strip_prefix("bytes "))
                            .and_then(|v| v.split('-').next()?.parse::<u64>().ok());
                        if start != Some(offset) {
                            return Err(ClientError::Protocol {
                                what: req.url.clone(),
                                reason: format!(
                                    "asked for bytes from {offset}, got Content-Range {:?}",
                                    header_str(&resp, "content-range")
                                ),
                            });
                        }
                    }
                    _ => {
                        return Err(status_error(
                            &req,
                            resp,
                            &format!("blob {digest}"),
                            &repository,
                        )
                        .await);
                    }
                }
                while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Transport {
                    method: "GET".into(),
                    url: req.url.clone(),
                    what: super::error::transport_what(&e),
                    source: e.without_url(),
                })? {
                    let total = writer.len() + chunk.len() as u64;
                    if total > desc.size {
                        return Err(ClientError::SizeMismatch {
                            what: format!("blob {digest} from {repository}"),
                            expected: desc.size,
                            actual: total,
                        });
                    }
                    writer.write_all(&chunk).map_err(|source| {
                        ClientError::Oci(lading_oci::Error::Stream {
                            what: format!("writing blob {digest} into the store"),
                            source,
                        })
                    })?;
                    self.reporter.event(Event::Progress {
                        digest,
                        bytes: chunk.len() as u64,
                    });
                }
                if writer.len() < desc.size {
                    return Err(ClientError::Truncated {
                        what: format!("GET {}", req.url),
                        received: writer.len(),
                        expected: desc.size,
                    });
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => break,
                Err(e) if attempt <= self.opts.retries && e.is_transient() => {
                    self.reporter.event(Event::Retry {
                        digest,
                        attempt: attempt + 1,
                        offset: writer.len(),
                        reason: super::error::error_chain(&e),
                    });
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        tokio::task::block_in_place(|| writer.commit(Some((digest, desc.size)))).map_err(|e| {
            match e {
                lading_oci::Error::DigestMismatch { expected, actual } => {
                    ClientError::DigestMismatch {
                        what: format!("blob from {repository}"),
                        expected,
                        actual,
                    }
                }
                other => ClientError::Oci(other),
            }
        })?;
        self.reporter.event(Event::Done {
            digest,
            outcome: Outcome::Transferred,
        });
        Ok(())
    }
}

/// The media type a stored manifest declares (by shape when it declares none).
pub(crate) fn media_type_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_else(|| {
            if lading_oci::image::is_index("", bytes) {
                lading_oci::constants::MEDIA_TYPE_INDEX.to_string()
            } else {
                lading_oci::constants::MEDIA_TYPE_MANIFEST.to_string()
            }
        })
}
