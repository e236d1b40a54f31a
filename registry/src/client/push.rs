//! Pushing from the store (distribution-spec "Push"): blobs that the remote lacks are
//! mounted or uploaded, manifests go up by digest, children first, then the tag, and the
//! tag's digest is read back.

use std::sync::Arc;

use bytes::Bytes;
use lading_oci::graph::{Item, Node, walk};
use lading_oci::{Descriptor, Digest, Reference, Store};
use reqwest::header;
use reqwest::{Method, StatusCode};

use super::error::{ClientError, Result, error_chain};
use super::progress::{Direction, Event, Outcome};
use super::transport::{
    FileProgress, HostRef, Req, ReqBody, backoff, header_str, location, pull_scope, push_scope,
    status_error, with_query,
};
use super::verify::BlobCheck;
use super::{Client, Inner, hname, origins};
use crate::constants::{DOCKER_CONTENT_DIGEST, OCI_SUBJECT};

/// At most this many other repositories are asked to lend a blob (each costs a scope).
const MAX_MOUNT_SOURCES: usize = 8;

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// What was pushed; the registry answers this digest for the destination.
    pub descriptor: Descriptor,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub existed: usize,
    /// Blobs mounted from other repositories.
    pub mounted: usize,
    /// Bytes uploaded.
    pub bytes: u64,
}

impl Client {
    /// Pushes the graph under `root` (every manifest and blob of it must be in the store)
    /// to `dest`: by digest, then tagged when `dest` has a tag. Afterwards the registry is
    /// asked what `dest` names; another digest than `root`'s is an error.
    pub fn push(&self, store: &Store, root: &Descriptor, dest: &Reference) -> Result<Pushed> {
        let inner = self.inner.clone();
        let store = store.clone();
        let root = root.clone();
        let dest = dest.clone();
        self.runtime.block_on(async move {
            let mut pushed = inner.push(&store, &[root], &dest, true).await?;
            Ok(pushed.remove(0))
        })
    }

    /// Pushes several graphs by digest into `dest`'s repository (its tag or digest is
    /// ignored) at once: their blobs uploaded together, and the referrers tag of each
    /// subject updated once for all the manifests that refer to it (where the registry
    /// keeps no referrers itself). For the signatures and attestations of one image.
    pub fn push_many(
        &self,
        store: &Store,
        roots: &[Descriptor],
        dest: &Reference,
    ) -> Result<Vec<Pushed>> {
        let inner = self.inner.clone();
        let store = store.clone();
        let roots = roots.to_vec();
        let dest = dest.clone();
        self.runtime
            .block_on(async move { inner.push(&store, &roots, &dest, false).await })
    }
}

/// What one blob push did, and how many bytes it sent.
type BlobResult = Result<(Outcome, u64)>;

impl Inner {
    /// Pushes the graphs under `roots` into `dest`'s repository; with `whole_dest`,
    /// `dest`'s digest must be the root's and its tag is set (one root).
    async fn push(
        self: &Arc<Self>,
        store: &Store,
        roots: &[Descriptor],
        dest: &Reference,
        whole_dest: bool,
    ) -> Result<Vec<Pushed>> {
        let tag = if whole_dest { dest.tag() } else { None };
        if whole_dest
            && let Some(d) = dest.digest()
            && roots.iter().any(|r| d != &r.digest)
        {
            return Err(ClientError::Protocol {
                what: format!("pushing to {dest}"),
                reason: format!("the source is {}, not {d}", roots[0].digest),
            });
        }
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut manifests: Vec<Descriptor> = Vec::new();
        // Each root's blobs, for its share of what the push did.
        let mut root_blobs: Vec<Vec<Digest>> = Vec::new();
        for root in roots {
            let mut mine = Vec::new();
            let items = walk(store, root, None).map_err(|e| match e {
                lading_oci::Error::BlobNotFound { digest } => ClientError::Missing {
                    what: format!("manifest {digest}"),
                    hint: partial_hint(store, root),
                },
                other => changed_in_store(store, root, other),
            })?;
            for item in items {
                let d = item.descriptor().clone();
                if !store.has(&d.digest) {
                    return Err(ClientError::Missing {
                        what: format!("blob {}", d.digest),
                        hint: partial_hint(store, root),
                    });
                }
                let list = match item {
                    Item::Blob(_) => {
                        mine.push(d.digest.clone());
                        &mut blobs
                    }
                    Item::Manifest(_) => &mut manifests,
                };
                if !list.iter().any(|x| x.digest == d.digest) {
                    list.push(d);
                }
            }
            root_blobs.push(mine);
        }
        let host = self.host(dest.registry()).await?;
        let repo = dest.repository().to_string();
        let prefix = format!("{}/", dest.registry());
        // Other repositories of this registry known to hold each blob.
        let sources: Vec<Vec<String>> = blobs
            .iter()
            .map(|b| {
                origins::lookup(store, &b.digest)
                    .into_iter()
                    .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
                    .filter(|r| *r != repo)
                    .collect()
            })
            .collect();
        let mut from_repos: Vec<String> = sources.iter().flatten().cloned().collect();
        from_repos.sort();
        from_repos.dedup();
        from_repos.truncate(MAX_MOUNT_SOURCES);
        let mut scopes = vec![push_scope(&repo)];
        scopes.extend(from_repos.iter().map(|r| pull_scope(r)));
        let scopes = Arc::new(scopes);

        let semaphore = Arc::new(tokio::sync::Semaphore::new(self.opts.parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (b, from) in blobs.iter().cloned().zip(sources) {
            let from: Vec<String> = from
                .into_iter()
                .filter(|r| from_repos.contains(r))
                .collect();
            let (inner, host, store, repo, scopes, semaphore) = (
                self.clone(),
                host.clone(),
                store.clone(),
                repo.clone(),
                scopes.clone(),
                semaphore.clone(),
            );
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let outcome = inner
                    .push_blob(&host, &repo, &b, &store, &from, &scopes)
                    .await;
                outcome.map(|o| (b.digest, o))
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let result = done.map_err(|e| ClientError::Protocol {
                what: format!("pushing to {dest}"),
                reason: format!("upload task failed: {e}"),
            })?;
            match result {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    tasks.abort_all();
                    return Err(e);
                }
            }
        }
        // Manifests children first (the walk's order); referrers of a subject whose
        // registry keeps none are added to its referrers tag together, afterwards.
        let mut unlisted: Vec<(Descriptor, Vec<Descriptor>)> = Vec::new();
        for m in &manifests {
            let bytes = read_manifest(store, m)?;
            let subject = Node::parse(&m.media_type, &bytes)?.subject().cloned();
            let answered_subject = self
                .put_manifest(&host, &repo, &m.digest.to_string(), m, bytes, &scopes)
                .await?;
            if let Some(subject) = subject
                && !answered_subject
            {
                match unlisted
                    .iter_mut()
                    .find(|(s, _)| s.digest == subject.digest)
                {
                    Some((_, referrers)) => referrers.push(m.clone()),
                    None => unlisted.push((subject, vec![m.clone()])),
                }
            }
        }
        for (subject, referrers) in &unlisted {
            self.add_referrers_to_tag(&host, &repo, subject, referrers, store, &scopes)
                .await?;
        }
        if let Some(tag) = tag {
            let bytes = read_manifest(store, &roots[0])?;
            self.put_manifest(&host, &repo, tag, &roots[0], bytes, &scopes)
                .await?;
        }
        let mut all = Vec::new();
        for (root, mine) in roots.iter().zip(&root_blobs) {
            // What the registry names `dest` (or the root's digest) now.
            let reference = if whole_dest {
                dest.reference()
            } else {
                root.digest.to_string()
            };
            let remote = self
                .head_manifest(&host, &repo, &reference)
                .await?
                .ok_or_else(|| ClientError::Protocol {
                    what: format!("pushing {dest}"),
                    reason: "the registry does not know it after the push".into(),
                })?;
            if remote.digest != root.digest {
                return Err(ClientError::PushedDigestMismatch {
                    reference: dest.to_string(),
                    expected: root.digest.clone(),
                    actual: remote.digest,
                });
            }
            // This root's share of the blobs.
            let mut pushed = Pushed {
                descriptor: root.clone(),
                uploaded: 0,
                existed: 0,
                mounted: 0,
                bytes: 0,
            };
            for (digest, (outcome, n)) in &outcomes {
                if !mine.contains(digest) {
                    continue;
                }
                match outcome {
                    Outcome::Transferred => {
                        pushed.uploaded += 1;
                        pushed.bytes += n;
                    }
                    Outcome::Mounted { .. } => pushed.mounted += 1,
                    _ => pushed.existed += 1,
                }
            }
            all.push(pushed);
        }
        let digests: Vec<&Digest> = blobs.iter().map(|b| &b.digest).collect();
        origins::record(store, &dest.name(), digests);
        Ok(all)
    }

    /// `PUT /v2/<repo>/manifests/<reference>`; returns whether the registry answered
    /// `OCI-Subject` (it keeps referrers itself).
    async fn put_manifest(
        &self,
        host: &HostRef,
        repo: &str,
        reference: &str,
        desc: &Descriptor,
        bytes: Vec<u8>,
        scopes: &[String],
    ) -> Result<bool> {
        let req = Req::new(
            Method::PUT,
            host.url(&format!("{repo}/manifests/{reference}")),
        )
        .header(header::CONTENT_TYPE, &desc.media_type)
        .body(Bytes::from(bytes));
        let repository = format!("{}/{repo}", host.registry);
        let resp = host
            .expect(
                scopes,
                &req,
                &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED],
                &format!("manifest {reference}"),
                &repository,
            )
            .await?;
        if let Some(d) =
            header_str(&resp, DOCKER_CONTENT_DIGEST).and_then(|d| d.parse::<Digest>().ok())
            && d != desc.digest
        {
            return Err(ClientError::PushedDigestMismatch {
                reference: format!("{repository}:{reference}"),
                expected: desc.digest.clone(),
                actual: d,
            });
        }
        Ok(resp.headers().contains_key(hname(OCI_SUBJECT)))
    }

    /// One blob: present already, mounted, or uploaded.
    async fn push_blob(
        &self,
        host: &HostRef,
        repo: &str,
        desc: &Descriptor,
        store: &Store,
        from: &[String],
        scopes: &[String],
    ) -> BlobResult {
        let digest = &desc.digest;
        let head = Req::new(Method::HEAD, host.url(&format!("{repo}/blobs/{digest}")));
        let resp = host.send(scopes, &head, 3).await?;
        if resp.status() == StatusCode::OK {
            self.reporter.event(Event::Done {
                digest,
                outcome: Outcome::Exists,
            });
            return Ok((Outcome::Exists, 0));
        }
        let mut session = None;
        for source in from {
            let url = with_query(
                &host.url(&format!("{repo}/blobs/uploads/")),
                "mount",
                &digest.to_string(),
            )?;
            let url = with_query(&url, "from", source)?;
            let req = Req::new(Method::POST, url);
            let resp = host.send(scopes, &req, 3).await?;
            match resp.status() {
                StatusCode::CREATED => {
                    let outcome = Outcome::Mounted {
                        from: source.clone(),
                    };
                    self.reporter.event(Event::Done {
                        digest,
                        outcome: outcome.clone(),
                    });
                    return Ok((outcome, 0));
                }
                StatusCode::ACCEPTED => {
                    // Not mounted: the registry opened an upload session instead.
                    session = Some(location(&req.url, &resp)?);
                    break;
                }
                _ => {}
            }
        }
        self.reporter.event(Event::Start {
            digest,
            size: desc.size,
            direction: Direction::Upload,
        });
        self.upload(host, repo, desc, store, session, scopes)
            .await?;
        self.reporter.event(Event::Done {
            digest,
            outcome: Outcome::Transferred,
        });
        Ok((Outcome::Transferred, desc.size))
    }

    async fn start_upload(&self, host: &HostRef, repo: &str, scopes: &[String]) -> Result<String> {
        let req = Req::new(Method::POST, host.url(&format!("{repo}/blobs/uploads/")));
        let repository = format!("{}/{repo}", host.registry);
        let resp = host
            .expect(scopes, &req, &[StatusCode::ACCEPTED], "upload", &repository)
            .await?;
        location(&req.url, &resp)
    }

    /// Uploads a blob: one `PUT` up to the chunk size, else `PATCH` chunks and a closing
    /// `PUT`. A broken chunk resumes at the offset the registry reports (`GET` on the
    /// session); a session the registry no longer accepts starts over. The bytes are
    /// checked against the digest and size as they stream ([`super::verify`]): a blob
    /// that changed in the store fails with [`ClientError::BlobChanged`], not retried,
    /// and the registry is never asked to commit it.
    async fn upload(
        &self,
        host: &HostRef,
        repo: &str,
        desc: &Descriptor,
        store: &Store,
        mut session: Option<String>,
        scopes: &[String],
    ) -> Result<()> {
        let digest = &desc.digest;
        let chunk = self.opts.chunk_size.max(1);
        // Bodies stream from the blob file, reporting progress as they go.
        let path = store.blob_path(digest);
        let check = Arc::new(BlobCheck::new(digest.clone(), desc.size));
        let file_body = |offset: u64, len: u64| ReqBody::File {
            path: path.clone(),
            offset,
            len,
            progress: Some(FileProgress {
                reporter: self.reporter.clone(),
                digest: digest.clone(),
            }),
            check: check.clone(),
        };
        let mut attempt: u32 = 1;
        // Counts an attempt; an error that retrying cannot fix, or the last allowed
        // attempt, ends the upload. Returns the failure's description.
        let budget = |attempt: &mut u32, e: ClientError| -> Result<String> {
            // A body that found the blob changed broke its request, which then looks
            // like a broken connection.
            if let Some(changed) = check.changed() {
                return Err(changed);
            }
            if !(e.is_transient() || is_session_gone(&e)) {
                return Err(e);
            }
            if *attempt > self.opts.retries {
                return Err(ClientError::Exhausted {
                    what: format!("uploading blob {digest}"),
                    attempts: *attempt,
                    source: Box::new(e),
                });
            }
            *attempt += 1;
            Ok(error_chain(&e))
        };
        let retry = |attempt: &mut u32, offset: u64, e: ClientError| -> Result<()> {
            let reason = budget(attempt, e)?;
            self.reporter.event(Event::Retry {
                digest,
                attempt: *attempt,
                offset,
                reason,
            });
            Ok(())
        };
        'session: loop {
            check.reset();
            let mut loc = match session.take() {
                Some(l) => l,
                None => match self.start_upload(host, repo, scopes).await {
                    Ok(l) => l,
                    Err(e) => {
                        retry(&mut attempt, 0, e)?;
                        backoff(attempt - 1).await;
                        continue 'session;
                    }
                },
            };
            if desc.size <= chunk {
                let url = with_query(&loc, "digest", &digest.to_string())?;
                let req = Req::new(Method::PUT, url)
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .file_body(file_body(0, desc.size));
                match self.finish_upload(host, repo, &req, desc, scopes).await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        retry(&mut attempt, 0, e)?;
                        backoff(attempt - 1).await;
                        continue 'session;
                    }
                }
            }
            let mut offset = 0u64;
            while offset < desc.size {
                let end = (offset + chunk).min(desc.size);
                let req = Req::new(Method::PATCH, loc.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(hname("content-range"), &format!("{offset}-{}", end - 1))
                    .file_body(file_body(offset, end - offset));
                let sent: Result<String> = async {
                    let resp = host.send(scopes, &req, 0).await?;
                    if resp.status() != StatusCode::ACCEPTED {
                        let repository = format!("{}/{repo}", host.registry);
                        return Err(status_error(&req, resp, "upload", &repository).await);
                    }
                    location(&req.url, &resp)
                }
                .await;
                match sent {
                    Ok(next) => {
                        check.commit(end);
                        loc = next;
                        offset = end;
                    }
                    Err(e) => {
                        let reason = budget(&mut attempt, e)?;
                        backoff(attempt - 1).await;
                        // Where is the session now? Resume there, or start over.
                        match self.upload_status(host, &loc, scopes).await {
                            Ok((next, received)) if received <= end => {
                                check.resume(received);
                                self.reporter.event(Event::Retry {
                                    digest,
                                    attempt,
                                    offset: received,
                                    reason: format!("{reason}; resuming the upload session"),
                                });
                                loc = next;
                                offset = received;
                            }
                            _ => {
                                self.reporter.event(Event::Retry {
                                    digest,
                                    attempt,
                                    offset: 0,
                                    reason: format!(
                                        "{reason}; the registry dropped the upload session, starting over"
                                    ),
                                });
                                continue 'session;
                            }
                        }
                    }
                }
            }
            if !check.verified() {
                // A resume broke the in-order hash: read the whole blob again.
                let (check, path) = (check.clone(), path.clone());
                tokio::task::spawn_blocking(move || check.rehash(&path))
                    .await
                    .map_err(|e| ClientError::Protocol {
                        what: format!("verifying blob {digest}"),
                        reason: e.to_string(),
                    })??;
            }
            let url = with_query(&loc, "digest", &digest.to_string())?;
            let req = Req::new(Method::PUT, url);
            match self.finish_upload(host, repo, &req, desc, scopes).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    retry(&mut attempt, 0, e)?;
                    backoff(attempt - 1).await;
                    // The blob may have been committed before the connection broke.
                    let head = Req::new(Method::HEAD, host.url(&format!("{repo}/blobs/{digest}")));
                    if let Ok(r) = host.send(scopes, &head, 1).await
                        && r.status() == StatusCode::OK
                    {
                        return Ok(());
                    }
                    continue 'session;
                }
            }
        }
    }

    /// The closing `PUT ?digest=`: 201, and the digest the registry names must match.
    async fn finish_upload(
        &self,
        host: &HostRef,
        repo: &str,
        req: &Req,
        desc: &Descriptor,
        scopes: &[String],
    ) -> Result<()> {
        let resp = host.send(scopes, req, 0).await?;
        if resp.status() != StatusCode::CREATED {
            let repository = format!("{}/{repo}", host.registry);
            return Err(status_error(req, resp, "upload", &repository).await);
        }
        if let Some(d) =
            header_str(&resp, DOCKER_CONTENT_DIGEST).and_then(|d| d.parse::<Digest>().ok())
            && d != desc.digest
        {
            return Err(ClientError::DigestMismatch {
                what: format!("blob uploaded to {}/{repo}", host.registry),
                expected: desc.digest.clone(),
                actual: d,
            });
        }
        Ok(())
    }

    /// `GET <session>`: the session's new location and how many bytes it holds.
    async fn upload_status(
        &self,
        host: &HostRef,
        loc: &str,
        scopes: &[String],
    ) -> Result<(String, u64)> {
        let req = Req::new(Method::GET, loc.to_string());
        let resp = host.send(scopes, &req, 2).await?;
        if resp.status() != StatusCode::NO_CONTENT && resp.status() != StatusCode::OK {
            return Err(ClientError::Protocol {
                what: req.url.clone(),
                reason: format!("upload status {}", resp.status()),
            });
        }
        let received = match header_str(&resp, "range") {
            // `0-N` means N+1 bytes (distribution also says `0-0` for none).
            Some(r) => {
                let end = r
                    .trim_start_matches("bytes=")
                    .split('-')
                    .nth(1)
                    .and_then(|e| e.trim().parse::<u64>().ok())
                    .ok_or_else(|| ClientError::Protocol {
                        what: req.url.clone(),
                        reason: format!("bad Range {r:?}"),
                    })?;
                if end == 0 { 0 } else { end + 1 }
            }
            None => 0,
        };
        let next = location(&req.url, &resp).unwrap_or_else(|_| loc.to_string());
        Ok((next, received))
    }
}

/// A manifest's bytes from the store; [`Store::read_blob`] verifies their digest, and a
/// manifest that no longer has it is [`ClientError::BlobChanged`].
fn read_manifest(store: &Store, desc: &Descriptor) -> Result<Vec<u8>> {
    store
        .read_blob(&desc.digest)
        .map_err(|e| changed_in_store(store, desc, e))
}

/// A digest mismatch reading a manifest of `desc`'s graph from the store as
/// [`ClientError::BlobChanged`].
fn changed_in_store(store: &Store, desc: &Descriptor, e: lading_oci::Error) -> ClientError {
    match e {
        lading_oci::Error::DigestMismatch { expected, actual } => {
            let actual_size = std::fs::metadata(store.blob_path(&expected))
                .map(|m| m.len())
                .unwrap_or(0);
            // A manifest deeper in the graph: its descriptor's size is not at hand.
            let size = if expected == desc.digest {
                desc.size
            } else {
                actual_size
            };
            ClientError::BlobChanged {
                digest: expected,
                actual,
                size,
                actual_size,
            }
        }
        other => ClientError::Oci(other),
    }
}

/// Whether an upload failed because the registry dropped or refused its session.
fn is_session_gone(e: &ClientError) -> bool {
    match e {
        ClientError::NotFound { .. } => true,
        ClientError::Status { status, detail, .. } => {
            status.starts_with("416")
                || detail.contains("BLOB_UPLOAD_UNKNOWN")
                || detail.contains("BLOB_UPLOAD_INVALID")
        }
        _ => false,
    }
}

/// Why content may be missing: the root is an index pulled for some platforms only.
fn partial_hint(store: &Store, root: &Descriptor) -> String {
    let partial = store.index().ok().is_some_and(|i| {
        i.manifests.iter().any(|d| {
            d.digest == root.digest
                && d.annotations
                    .get(lading_oci::constants::ANNOTATION_PARTIAL)
                    .is_some_and(|v| v == "true")
        })
    });
    if partial {
        " (the image index was pulled for some platforms only; pull it with --all-platforms to copy all of it)".into()
    } else {
        String::new()
    }
}
