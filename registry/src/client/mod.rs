//! A registry client (distribution-spec v1.1, docker's auth): pull into the store with
//! platform selection and verification, push by digest, list tags, referrers with the
//! tag-schema fallback.
//!
//! - **Pull** ([`Client::pull`]): the manifest (or index, OCI or Docker manifest list) is
//!   fetched by tag or digest, an index resolved to the platforms asked for; every blob is
//!   streamed into the store through [`lading_oci::store::BlobWriter`], hashed and counted
//!   on the way, and renamed into place only when digest and size match the descriptor.
//!   A blob the store already has is never downloaded again. A broken download resumes
//!   with `Range` where the registry allows it, and starts over where it does not.
//! - **Push** ([`Client::push`]): every blob the remote lacks (`HEAD`) is mounted from
//!   another repository of the same registry that has it (the store remembers where blobs
//!   came from and went to) or uploaded, streamed from the store: in one `PUT` when small,
//!   in `PATCH` chunks when large. A chunk whose connection broke is resumed from the offset the registry
//!   reports, or the upload starts over in a new session. The bytes are hashed as they
//!   stream: a blob file that no longer matches its digest or size fails the push with
//!   [`ClientError::BlobChanged`] before its last bytes go out, so the registry never
//!   completes it. Manifests go up by digest,
//!   children first; then the tag; then the tag's digest is read back and must be what was
//!   pushed.
//! - **Referrers** ([`Client::referrers`]): `GET /v2/<name>/referrers/<digest>`, and the
//!   referrers tag schema (`sha256-<hex>`) when the registry answers 404. Pushing a
//!   manifest with a `subject` to a registry that does not answer `OCI-Subject` updates
//!   that tag.
//!
//! The client runs its own tokio runtime; its methods block.

mod auth;
mod error;
mod origins;
mod progress;
mod pull;
mod push;
mod referrers;
mod source;
mod transport;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use lading_oci::constants::{
    MAX_JSON_BLOB, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
};
use lading_oci::{Descriptor, Digest, Reference, Store};

use crate::constants::DOCKER_CONTENT_DIGEST;
use reqwest::header::{self, HeaderName};
use reqwest::{Method, StatusCode};

pub use auth::{Challenge, Credentials, default_config_path, parse_challenge};
pub use error::{ClientError, Result};
pub use progress::{Direction, Event, Outcome, Reporter, Silent};
pub use pull::Pulled;
pub use push::Pushed;
pub use referrers::{Referrers, referrer_descriptor, referrers_tag};
pub use source::{PullPolicy, RemoteImage};

use transport::{Host, HostRef, Req, header_str, pull_scope};

/// Default size of one upload chunk; blobs up to this size go up in a single `PUT`.
/// Chunks stream from the blob file, so their size costs no memory; each chunk is a
/// request, which distribution 2.8 makes measurably slower than fewer, larger ones
/// (`scripts/bench-registry`), and a unit of retry.
pub const DEFAULT_CHUNK_SIZE: u64 = 128 << 20;
/// Default number of blobs transferred at once.
pub const DEFAULT_PARALLEL: usize = 4;

/// The manifest media types asked for (`Accept`).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// How to reach registries and whom to be there.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Verify TLS certificates (`--tls-verify=false` turns verification off and allows
    /// plain HTTP for every registry).
    pub tls_verify: bool,
    /// Registries (`host[:port]`) reached without certificate verification, or over plain
    /// HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Extra CA certificate files (PEM) trusted for every registry.
    pub ca_files: Vec<PathBuf>,
    /// Directories whose `*.crt` files are trusted CA certificates (`--cert-dir`).
    pub cert_dirs: Vec<PathBuf>,
    /// Also trust `/etc/containers/certs.d/<registry>/*.crt` and
    /// `/etc/docker/certs.d/<registry>/*.crt`.
    pub system_cert_dirs: bool,
    /// The docker config file with `auths`, `credHelpers`, `credsStore` (`None`: no file).
    pub auth_file: Option<PathBuf>,
    /// Credentials for every registry, before any config file (`--creds`).
    pub credentials: Option<Credentials>,
    /// Upload chunk size in bytes.
    pub chunk_size: u64,
    /// Blobs transferred at once.
    pub parallel: usize,
    /// Attempts after the first for a broken transfer.
    pub retries: u32,
    /// `User-Agent`.
    pub user_agent: String,
    /// Connect directly, ignoring `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (for a registry
    /// this process serves itself on a loopback port).
    pub no_proxy: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls_verify: true,
            insecure_registries: Vec::new(),
            ca_files: Vec::new(),
            cert_dirs: Vec::new(),
            system_cert_dirs: true,
            auth_file: default_config_path(),
            credentials: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            parallel: DEFAULT_PARALLEL,
            retries: 5,
            user_agent: concat!("lading/", env!("CARGO_PKG_VERSION")).to_string(),
            no_proxy: false,
        }
    }
}

/// A registry client. Cheap to share; methods block the calling thread (do not call them
/// from inside an async runtime).
pub struct Client {
    runtime: tokio::runtime::Runtime,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.opts)
            .finish()
    }
}

pub(crate) struct Inner {
    pub opts: ClientOptions,
    hosts: tokio::sync::Mutex<HashMap<String, HostRef>>,
    pub reporter: Arc<dyn Reporter>,
}

/// A manifest as fetched: its descriptor (digest computed from the bytes) and bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Media type, digest and size.
    pub descriptor: Descriptor,
    /// The bytes, exactly as served.
    pub bytes: Vec<u8>,
}

impl Client {
    /// A client with `opts`, reporting transfers to `reporter`.
    pub fn new(opts: ClientOptions, reporter: Arc<dyn Reporter>) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.parallel.clamp(2, 8))
            .thread_name("lading-client")
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        Ok(Client {
            runtime,
            inner: Arc::new(Inner {
                opts,
                hosts: tokio::sync::Mutex::new(HashMap::new()),
                reporter,
            }),
        })
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    /// Fetches the manifest or index `reference` names, verified against the reference's
    /// digest when it has one.
    pub fn manifest(&self, reference: &Reference) -> Result<Fetched> {
        let inner = self.inner.clone();
        self.runtime.block_on(async move {
            let host = inner.host(reference.registry()).await?;
            inner
                .get_manifest(&host, reference.repository(), &reference.reference(), None)
                .await
        })
    }

    /// The descriptor of what `reference` names (`HEAD`), `None` when it does not exist.
    pub fn resolve(&self, reference: &Reference) -> Result<Option<Descriptor>> {
        let inner = self.inner.clone();
        self.runtime.block_on(async move {
            let host = inner.host(reference.registry()).await?;
            inner
                .head_manifest(&host, reference.repository(), &reference.reference())
                .await
        })
    }

    /// Reads a small blob (a config) into memory, verified.
    pub fn blob_bytes(&self, reference: &Reference, desc: &Descriptor) -> Result<Vec<u8>> {
        let inner = self.inner.clone();
        self.runtime.block_on(async move {
            let host = inner.host(reference.registry()).await?;
            inner
                .get_small_blob(&host, reference.repository(), desc)
                .await
        })
    }

    /// Streams one blob of the repository into `store`, verified (digest and size).
    pub fn fetch_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
        store: &Store,
    ) -> Result<()> {
        let inner = self.inner.clone();
        self.runtime.block_on(async move {
            let host = inner.host(reference.registry()).await?;
            inner
                .download_blob(&host, reference.repository(), desc, store)
                .await
        })
    }

    /// Every tag of the repository (following `Link` pagination).
    pub fn tags(&self, reference: &Reference) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        self.runtime.block_on(async move {
            let host = inner.host(reference.registry()).await?;
            inner.tags(&host, reference).await
        })
    }
}

/// Parses a `Link: <url>; rel="next"` header.
fn next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .or_else(|| {
                params
                    .contains("rel=next")
                    .then(|| url.trim().trim_matches(['<', '>']).to_string())
            })
    })
}

impl Inner {
    /// The host `registry` is served from, reached and challenged once per client.
    pub(crate) async fn host(&self, registry: &str) -> Result<HostRef> {
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(registry) {
            return Ok(h.clone());
        }
        let api = if registry == lading_oci::reference::DOCKER_HUB {
            lading_oci::reference::DOCKER_HUB_API
        } else {
            registry
        };
        let credentials = match &self.opts.credentials {
            Some(c) => Some(c.clone()),
            None => {
                let registry = registry.to_string();
                let file = self.opts.auth_file.clone();
                tokio::task::spawn_blocking(move || auth::lookup(&registry, file.as_deref()))
                    .await
                    .map_err(|e| ClientError::Protocol {
                        what: "looking up credentials".into(),
                        reason: e.to_string(),
                    })??
            }
        };
        let host = Arc::new(Host::connect(&self.opts, registry, api, credentials).await?);
        hosts.insert(registry.to_string(), host.clone());
        Ok(host)
    }

    /// `GET /v2/<repo>/manifests/<reference>`, at most 4 MiB, digest-checked when
    /// `reference` is a digest and against `expected` when given.
    pub(crate) async fn get_manifest(
        &self,
        host: &Host,
        repo: &str,
        reference: &str,
        expected: Option<&Descriptor>,
    ) -> Result<Fetched> {
        let req = Req::new(
            Method::GET,
            host.url(&format!("{repo}/manifests/{reference}")),
        )
        .header(header::ACCEPT, MANIFEST_ACCEPT);
        let what = format!("manifest {reference}");
        let repository = format!("{}/{repo}", host.registry);
        let mut resp = host
            .expect(
                &[pull_scope(repo)],
                &req,
                &[StatusCode::OK],
                &what,
                &repository,
            )
            .await?;
        let content_type = header_str(&resp, "content-type")
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Transport {
            method: "GET".into(),
            url: req.url.clone(),
            what: error::transport_what(&e),
            source: e.without_url(),
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_JSON_BLOB {
                return Err(ClientError::Oci(lading_oci::Error::TooLarge {
                    what: format!("{what} in {repository}"),
                    size: bytes.len() as u64,
                    limit: MAX_JSON_BLOB,
                }));
            }
        }
        let digest = Digest::of(&bytes);
        let want = expected
            .map(|d| d.digest.clone())
            .or_else(|| reference.parse::<Digest>().ok());
        if let Some(want) = want
            && want != digest
        {
            return Err(ClientError::DigestMismatch {
                what: format!("{what} in {repository}"),
                expected: want,
                actual: digest,
            });
        }
        if let Some(exp) = expected
            && exp.size != bytes.len() as u64
        {
            return Err(ClientError::SizeMismatch {
                what: format!("{what} in {repository}"),
                expected: exp.size,
                actual: bytes.len() as u64,
            });
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
            .or(content_type)
            .or_else(|| expected.map(|e| e.media_type.clone()))
            .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string());
        let media_type = match media_type.as_str() {
            MEDIA_TYPE_MANIFEST
            | MEDIA_TYPE_INDEX
            | MEDIA_TYPE_DOCKER_MANIFEST
            | MEDIA_TYPE_DOCKER_MANIFEST_LIST => media_type,
            // A registry's generic type: decide by shape.
            _ if lading_oci::image::is_index("", &bytes) => MEDIA_TYPE_INDEX.to_string(),
            _ => MEDIA_TYPE_MANIFEST.to_string(),
        };
        let size = bytes.len() as u64;
        Ok(Fetched {
            descriptor: Descriptor::new(media_type, digest, size),
            bytes,
        })
    }

    /// `HEAD /v2/<repo>/manifests/<reference>`; falls back to `GET` when the registry
    /// sends no `Docker-Content-Digest`.
    pub(crate) async fn head_manifest(
        &self,
        host: &Host,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Descriptor>> {
        let req = Req::new(
            Method::HEAD,
            host.url(&format!("{repo}/manifests/{reference}")),
        )
        .header(header::ACCEPT, MANIFEST_ACCEPT);
        let resp = host.send(&[pull_scope(repo)], &req, 3).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            StatusCode::OK => {}
            _ => {
                let repository = format!("{}/{repo}", host.registry);
                return Err(transport::status_error(&req, resp, reference, &repository).await);
            }
        }
        let digest = header_str(&resp, DOCKER_CONTENT_DIGEST).and_then(|d| d.parse().ok());
        let size = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let media_type = header_str(&resp, "content-type").map(str::to_string);
        match (digest, size, media_type) {
            (Some(d), Some(s), Some(mt)) if s > 0 => Ok(Some(Descriptor::new(mt, d, s))),
            _ => Ok(Some(
                self.get_manifest(host, repo, reference, None)
                    .await?
                    .descriptor,
            )),
        }
    }

    /// A small blob, in memory and verified.
    pub(crate) async fn get_small_blob(
        &self,
        host: &Host,
        repo: &str,
        desc: &Descriptor,
    ) -> Result<Vec<u8>> {
        if desc.size > MAX_JSON_BLOB {
            return Err(ClientError::Oci(lading_oci::Error::TooLarge {
                what: format!("blob {}", desc.digest),
                size: desc.size,
                limit: MAX_JSON_BLOB,
            }));
        }
        let req = Req::new(
            Method::GET,
            host.url(&format!("{repo}/blobs/{}", desc.digest)),
        );
        let repository = format!("{}/{repo}", host.registry);
        let resp = host
            .expect(
                &[pull_scope(repo)],
                &req,
                &[StatusCode::OK],
                &format!("blob {}", desc.digest),
                &repository,
            )
            .await?;
        let bytes = read_limited(resp, &req, desc.size).await?;
        let digest = Digest::of(&bytes);
        if digest != desc.digest {
            return Err(ClientError::DigestMismatch {
                what: format!("blob in {repository}"),
                expected: desc.digest.clone(),
                actual: digest,
            });
        }
        Ok(bytes)
    }

    /// Tags of a repository, all pages.
    pub(crate) async fn tags(&self, host: &Host, reference: &Reference) -> Result<Vec<String>> {
        let repo = reference.repository();
        let mut url = host.url(&format!("{repo}/tags/list?n=1000"));
        let mut tags = Vec::new();
        for _ in 0..10_000 {
            let req = Req::new(Method::GET, url.clone());
            let resp = host
                .expect(
                    &[pull_scope(repo)],
                    &req,
                    &[StatusCode::OK],
                    "tags",
                    &reference.name(),
                )
                .await?;
            let next = header_str(&resp, "link").and_then(next_link);
            let body = read_limited(resp, &req, 16 << 20).await?;
            #[derive(serde::Deserialize)]
            struct TagList {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page: TagList =
                serde_json::from_slice(&body).map_err(|e| ClientError::Protocol {
                    what: req.url.clone(),
                    reason: format!("not a tag list: {e}"),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = transport::location_join(&req.url, &n)?,
                None => return Ok(tags),
            }
        }
        Err(ClientError::Protocol {
            what: format!("tags of {}", reference.name()),
            reason: "more than 10,000 pages".into(),
        })
    }
}

/// Reads a whole response body, at most `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    req: &Req,
    limit: u64,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Transport {
        method: req.method.to_string(),
        url: req.url.clone(),
        what: error::transport_what(&e),
        source: e.without_url(),
    })? {
        out.extend_from_slice(&chunk);
        if out.len() as u64 > limit {
            return Err(ClientError::Protocol {
                what: req.url.clone(),
                reason: format!("response larger than {limit} bytes"),
            });
        }
    }
    Ok(out)
}

/// A header name (compile-time constant names only).
pub(crate) fn hname(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
