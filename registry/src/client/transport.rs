//! One registry host: how to reach it (HTTPS, or HTTP where allowed), its TLS trust, its
//! authentication challenge and the tokens obtained for it; and sending requests with
//! authentication, retrying what can be retried.
//!
//! Reaching a host: HTTPS. A host in `--insecure-registry`, every host under
//! `--tls-verify=false`, and loopback hosts (docker's default insecure range
//! `127.0.0.0/8`, plus `localhost` and `::1`) may use plain HTTP instead when HTTPS
//! fails and `/v2/` answers over HTTP like a registry (200 or 401); both are asked at
//! once. Only the first two skip certificate verification: a loopback registry that
//! speaks TLS is verified.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::ClientOptions;
use super::auth::{Challenge, Credentials, parse_challenge};
use super::error::{ClientError, Result, transport_what};
use super::verify::{BlobCheck, FileBody};

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may stay silent while we wait for headers or body bytes.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest error body read for a message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A registry host, reached and challenged once.
pub(crate) struct Host {
    /// The registry as references name it (`docker.io`).
    pub registry: String,
    /// `https://host[:port]` or `http://host[:port]`.
    pub base: String,
    /// The HTTP client (TLS trust of this host).
    pub http: reqwest::Client,
    /// What `/v2/` asked for.
    pub challenge: Mutex<Challenge>,
    /// Credentials, when any were found.
    pub credentials: Option<Credentials>,
    /// `Authorization` values by scope set (held while a token is fetched, so parallel
    /// requests wait for one token instead of each asking for their own).
    tokens: tokio::sync::Mutex<HashMap<String, String>>,
}

/// A request body that can be made again for another attempt.
#[derive(Clone)]
pub(crate) enum ReqBody {
    /// Bytes in memory.
    Bytes(Bytes),
    /// `len` bytes of a blob file from `offset`, streamed (progress reported as they go)
    /// and checked against the blob's digest and size as they are read.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
        progress: Option<FileProgress>,
        check: Arc<BlobCheck>,
    },
}

/// Where a streamed file body reports the bytes it hands to the connection.
#[derive(Clone)]
pub(crate) struct FileProgress {
    pub reporter: Arc<dyn super::Reporter>,
    pub digest: lading_oci::Digest,
}

impl ReqBody {
    fn len(&self) -> u64 {
        match self {
            ReqBody::Bytes(b) => b.len() as u64,
            ReqBody::File { len, .. } => *len,
        }
    }

    async fn make(&self) -> std::io::Result<reqwest::Body> {
        match self {
            ReqBody::Bytes(b) => Ok(reqwest::Body::from(b.clone())),
            ReqBody::File {
                path,
                offset,
                len,
                progress,
                check,
            } => {
                use futures_util::StreamExt as _;
                let file = tokio::fs::File::open(path).await?.into_std().await;
                let mut body = FileBody::new(file, *offset, *len, check.clone())?;
                if *len == 0 {
                    // An empty body may never be polled: check it here.
                    let checked = tokio::task::spawn_blocking(move || body.next_chunk())
                        .await
                        .map_err(std::io::Error::other)?;
                    checked?;
                    return Ok(reqwest::Body::from(Bytes::new()));
                }
                // Reading and hashing block: a chunk at a time on the blocking pool.
                let stream = futures_util::stream::unfold(Some(body), |body| async move {
                    let mut body = body?;
                    let step = tokio::task::spawn_blocking(move || {
                        let chunk = body.next_chunk();
                        (chunk, body)
                    })
                    .await;
                    match step {
                        Ok((Ok(Some(chunk)), body)) => Some((Ok(chunk), Some(body))),
                        Ok((Ok(None), _)) => None,
                        Ok((Err(e), _)) => Some((Err(e), None)),
                        Err(e) => Some((Err(std::io::Error::other(e)), None)),
                    }
                });
                let progress = progress.clone();
                let stream = stream.map(move |chunk: std::io::Result<Bytes>| {
                    if let (Ok(c), Some(p)) = (&chunk, &progress) {
                        p.reporter.event(super::Event::Progress {
                            digest: &p.digest,
                            bytes: c.len() as u64,
                        });
                    }
                    chunk
                });
                Ok(reqwest::Body::wrap_stream(stream))
            }
        }
    }
}

/// A request that can be sent again.
#[derive(Clone)]
pub(crate) struct Req {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<ReqBody>,
}

impl Req {
    pub fn new(method: Method, url: impl Into<String>) -> Req {
        Req {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }
    pub fn header(mut self, name: header::HeaderName, value: &str) -> Req {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
    pub fn body(mut self, body: Bytes) -> Req {
        self.body = Some(ReqBody::Bytes(body));
        self
    }
    pub fn file_body(mut self, body: ReqBody) -> Req {
        self.body = Some(body);
        self
    }
}

/// Whether `host[:port]` is a loopback address or `localhost`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let h = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The CA files that apply to `registry`: `--cert-dir`s' and `certs.d/<registry>`'s
/// `*.crt` (containers' and docker's conventions), plus `SSL_CERT_FILE`.
fn ca_files(opts: &ClientOptions, registry: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = opts.ca_files.clone();
    let mut dirs: Vec<PathBuf> = opts.cert_dirs.clone();
    if opts.system_cert_dirs {
        for root in ["/etc/containers/certs.d", "/etc/docker/certs.d"] {
            dirs.push(Path::new(root).join(registry));
        }
    }
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "crt"))
                .collect();
            found.sort();
            files.extend(found);
        }
    }
    if let Some(p) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        files.push(PathBuf::from(p));
    }
    files
}

fn load_certs(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let bad = |reason: String| ClientError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Whether the options make `registry` insecure (no verification, HTTP allowed).
pub(crate) fn is_insecure(opts: &ClientOptions, registry: &str) -> bool {
    !opts.tls_verify || opts.insecure_registries.iter().any(|h| h == registry)
}

fn build_http(opts: &ClientOptions, registry: &str, insecure: bool) -> Result<reqwest::Client> {
    let mut certs = Vec::new();
    for f in ca_files(opts, registry) {
        certs.extend(load_certs(&f)?);
    }
    let mut b = reqwest::Client::builder()
        .user_agent(opts.user_agent.clone())
        .tls_backend_rustls()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_max_idle_per_host(32)
        .tcp_nodelay(true)
        .tls_certs_merge(certs);
    if insecure {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if opts.no_proxy {
        b = b.no_proxy();
    }
    b.build().map_err(|source| ClientError::Setup {
        host: registry.to_string(),
        source,
    })
}

fn transport(req_method: &Method, url: &str, e: reqwest::Error) -> ClientError {
    ClientError::Transport {
        method: req_method.to_string(),
        // Upload locations carry long opaque state in their query: not worth showing.
        url: url.split('?').next().unwrap_or(url).to_string(),
        what: transport_what(&e),
        source: e.without_url(),
    }
}

/// How long HTTPS may still take once plain HTTP answered like a registry.
const HTTPS_GRACE: Duration = Duration::from_secs(1);

/// Whether a `/v2/` answer is a registry's.
fn registry_like(r: &reqwest::Response) -> bool {
    r.status() == StatusCode::OK || r.status() == StatusCode::UNAUTHORIZED
}

/// Asks `/v2/` over HTTPS and plain HTTP at once, for a host that may use either.
/// HTTPS wins whenever it works. A TLS hello sent to a plain-HTTP server can stall until
/// the server gives up (it waits for the end of a "request line" that may never come),
/// so once plain HTTP has answered like a registry, HTTPS gets [`HTTPS_GRACE`] more.
async fn probe_both(http: &reqwest::Client, api: &str) -> Result<(String, reqwest::Response)> {
    let https_url = format!("https://{api}/v2/");
    let http_url = format!("http://{api}/v2/");
    let https = http.get(&https_url).send();
    let plain = http.get(&http_url).send();
    tokio::pin!(https, plain);
    let https_err = tokio::select! {
        r = &mut https => match r {
            Ok(resp) => return Ok((format!("https://{api}"), resp)),
            Err(e) => e,
        },
        r = &mut plain => match r {
            Ok(resp) if registry_like(&resp) => {
                return match tokio::time::timeout(HTTPS_GRACE, &mut https).await {
                    Ok(Ok(secure)) => Ok((format!("https://{api}"), secure)),
                    _ => Ok((format!("http://{api}"), resp)),
                };
            }
            // Not a registry over HTTP (a TLS server answering 400): HTTPS decides.
            _ => {
                return match https.await {
                    Ok(resp) => Ok((format!("https://{api}"), resp)),
                    Err(e) => Err(transport(&Method::GET, &https_url, e)),
                };
            }
        },
    };
    match plain.await {
        Ok(resp) if registry_like(&resp) => Ok((format!("http://{api}"), resp)),
        _ => Err(transport(&Method::GET, &https_url, https_err)),
    }
}

/// The challenge a response carries (`None` when it has no usable one).
fn challenge_of(resp: &reqwest::Response) -> Option<Challenge> {
    resp.headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_challenge)
}

impl Host {
    /// Reaches `registry` (see the module docs) and reads its challenge.
    pub async fn connect(
        opts: &ClientOptions,
        registry: &str,
        api: &str,
        credentials: Option<Credentials>,
    ) -> Result<Host> {
        let insecure = is_insecure(opts, registry) || is_insecure(opts, api);
        let allow_http = insecure || is_loopback(api);
        let http = build_http(opts, registry, insecure)?;
        let https_url = format!("https://{api}/v2/");
        let (base, resp) = if allow_http {
            probe_both(&http, api).await?
        } else {
            match http.get(&https_url).send().await {
                Ok(resp) => (format!("https://{api}"), resp),
                Err(e) => return Err(transport(&Method::GET, &https_url, e)),
            }
        };
        let challenge = match resp.status() {
            StatusCode::UNAUTHORIZED => {
                challenge_of(&resp).ok_or_else(|| ClientError::Challenge {
                    registry: registry.to_string(),
                    challenge: resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                })?
            }
            _ => Challenge::None,
        };
        Ok(Host {
            registry: registry.to_string(),
            base,
            http,
            challenge: Mutex::new(challenge),
            credentials,
            tokens: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// `BASE/v2/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    fn challenge(&self) -> Challenge {
        self.challenge
            .lock()
            .map(|c| c.clone())
            .unwrap_or(Challenge::None)
    }

    /// The `Authorization` value for `scopes`, obtaining a token when the registry wants
    /// the bearer flow.
    async fn authorization(&self, scopes: &[String], fresh: bool) -> Result<Option<String>> {
        match self.challenge() {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.credentials.as_ref().and_then(|c| c.basic_header())),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let mut all: Vec<String> = scopes.to_vec();
                if let Some(s) = scope {
                    all.extend(s.split(' ').map(str::to_string));
                }
                all.sort();
                all.dedup();
                let key = all.join(" ");
                let mut tokens = self.tokens.lock().await;
                if !fresh && let Some(v) = tokens.get(&key) {
                    return Ok(Some(v.clone()));
                }
                let token = self.fetch_token(&realm, service.as_deref(), &all).await?;
                let value = format!("Bearer {token}");
                tokens.insert(key, value.clone());
                Ok(Some(value))
            }
        }
    }

    /// The token flow: `GET realm?service=…&scope=…` (with Basic credentials when there
    /// are any), or the OAuth2 refresh-token grant for an identity token.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String> {
        let mut url = reqwest::Url::parse(realm).map_err(|e| ClientError::Protocol {
            what: format!("{}: token realm {realm:?}", self.registry),
            reason: e.to_string(),
        })?;
        let resp = match &self.credentials {
            Some(Credentials::IdentityToken(refresh)) => {
                let mut form = reqwest::Url::parse("x:/").map_err(|e| ClientError::Protocol {
                    what: "encoding a token request".into(),
                    reason: e.to_string(),
                })?;
                {
                    let mut q = form.query_pairs_mut();
                    q.append_pair("grant_type", "refresh_token");
                    q.append_pair("refresh_token", refresh);
                    q.append_pair("client_id", "lading");
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", &scopes.join(" "));
                }
                let body = form.query().unwrap_or("").to_string();
                self.http
                    .post(url.clone())
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
            }
            creds => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                }
                let mut req = self.http.get(url.clone());
                if let Some(h) = creds.as_ref().and_then(|c| c.basic_header()) {
                    req = req.header(header::AUTHORIZATION, h);
                }
                req.send().await
            }
        }
        .map_err(|e| transport(&Method::GET, realm, e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let detail = if self.credentials.is_some() {
                ": the token server refused the credentials"
            } else {
                ": no credentials found (docker config, credential helper or --creds)"
            };
            return Err(ClientError::Unauthorized {
                registry: self.registry.clone(),
                detail: detail.into(),
            });
        }
        if !status.is_success() {
            return Err(ClientError::Token {
                realm: realm.to_string(),
                status: status.to_string(),
                detail: error_detail(resp).await,
            });
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport(&Method::GET, realm, e))?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| ClientError::Protocol {
                what: format!("token server {realm}"),
                reason: format!("unreadable answer: {e}"),
            })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ClientError::Protocol {
                what: format!("token server {realm}"),
                reason: "no token in the answer".into(),
            })
    }

    /// Sends `req` with authentication for `scopes`. A 401 is answered once (a new
    /// challenge, an expired token); with `retries`, broken connections, 429 and 5xx
    /// are retried with backoff. Returns every other response, whatever its status.
    pub async fn send(
        &self,
        scopes: &[String],
        req: &Req,
        retries: u32,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(scopes, req).await {
                Ok(resp)
                    if retries > 0
                        && attempt <= retries
                        && (resp.status().is_server_error()
                            || resp.status() == StatusCode::TOO_MANY_REQUESTS) =>
                {
                    backoff(attempt).await;
                }
                Err(e) if retries > 0 && attempt <= retries && e.is_transient() => {
                    backoff(attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, scopes: &[String], req: &Req) -> Result<reqwest::Response> {
        let mut fresh = false;
        for round in 0..2 {
            let auth = self.authorization(scopes, fresh).await?;
            let mut b = self
                .http
                .request(req.method.clone(), &req.url)
                .headers(req.headers.clone());
            if let Some(a) = &auth {
                b = b.header(header::AUTHORIZATION, a);
            }
            if let Some(body) = &req.body {
                let made = body.make().await.map_err(|source| {
                    ClientError::Oci(lading_oci::Error::Stream {
                        what: format!("reading the body of {} {}", req.method, req.url),
                        source,
                    })
                })?;
                b = b.header(header::CONTENT_LENGTH, body.len()).body(made);
            } else if req.method == Method::PUT
                || req.method == Method::POST
                || req.method == Method::PATCH
            {
                b = b.header(header::CONTENT_LENGTH, 0);
            }
            let resp = b
                .send()
                .await
                .map_err(|e| transport(&req.method, &req.url, e))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let new = challenge_of(&resp);
            if round == 1 || (auth.is_some() && new.as_ref().is_none_or(|c| *c == Challenge::Basic))
            {
                let detail = if self.credentials.is_none() {
                    ": no credentials found (docker config, credential helper or --creds)".into()
                } else {
                    format!(": credentials refused{}", error_detail(resp).await)
                };
                return Err(ClientError::Unauthorized {
                    registry: self.registry.clone(),
                    detail,
                });
            }
            if let Some(c) = new
                && let Ok(mut cur) = self.challenge.lock()
            {
                *cur = c;
            }
            fresh = true;
        }
        Err(ClientError::Unauthorized {
            registry: self.registry.clone(),
            detail: String::new(),
        })
    }

    /// Sends and turns any status but the `ok` ones into an error (404 into
    /// [`ClientError::NotFound`] naming `what` in `repository`).
    pub async fn expect(
        &self,
        scopes: &[String],
        req: &Req,
        ok: &[StatusCode],
        what: &str,
        repository: &str,
    ) -> Result<reqwest::Response> {
        let resp = self.send(scopes, req, 3).await?;
        if ok.contains(&resp.status()) {
            return Ok(resp);
        }
        Err(status_error(req, resp, what, repository).await)
    }
}

/// The error for an unexpected response.
pub(crate) async fn status_error(
    req: &Req,
    resp: reqwest::Response,
    what: &str,
    repository: &str,
) -> ClientError {
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return ClientError::NotFound {
            what: what.to_string(),
            repository: repository.to_string(),
        };
    }
    if status == StatusCode::FORBIDDEN {
        return ClientError::Unauthorized {
            registry: repository.split('/').next().unwrap_or("").to_string(),
            detail: format!(
                ": access to {repository} denied{}",
                error_detail(resp).await
            ),
        };
    }
    ClientError::Status {
        method: req.method.to_string(),
        url: req.url.clone(),
        status: status.to_string(),
        detail: error_detail(resp).await,
    }
}

/// `: CODE message` from a distribution-spec error body (or the start of any body).
pub(crate) async fn error_detail(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(&body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|i| format!("{} {}", i.code, i.message).trim().to_string())
            .collect();
        if !parts.is_empty() {
            return format!(": {}", parts.join("; "));
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_string();
    if text.is_empty() || text.starts_with('<') {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Waits before attempt `attempt + 1`: 0.25 s, 0.5 s, 1 s, … at most 8 s.
pub(crate) async fn backoff(attempt: u32) {
    let ms = 250u64 << attempt.saturating_sub(1).min(5);
    tokio::time::sleep(Duration::from_millis(ms.min(8000))).await;
}

/// The scope to pull from `repository`.
pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The scope to push to `repository`.
pub(crate) fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// Resolves a `Location` header against the request URL.
pub(crate) fn location(req_url: &str, resp: &reqwest::Response) -> Result<String> {
    let loc = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ClientError::Protocol {
            what: req_url.to_string(),
            reason: format!("{} without a Location header", resp.status()),
        })?;
    location_join(req_url, loc)
}

/// `loc` (absolute, or relative to `base`) as an absolute URL.
pub(crate) fn location_join(base: &str, loc: &str) -> Result<String> {
    let b = reqwest::Url::parse(base).map_err(|e| ClientError::Protocol {
        what: base.to_string(),
        reason: e.to_string(),
    })?;
    b.join(loc)
        .map(|u| u.to_string())
        .map_err(|e| ClientError::Protocol {
            what: base.to_string(),
            reason: format!("bad location {loc:?}: {e}"),
        })
}

/// `url` with `key=value` added to its query.
pub(crate) fn with_query(url: &str, key: &str, value: &str) -> Result<String> {
    let mut u = reqwest::Url::parse(url).map_err(|e| ClientError::Protocol {
        what: url.to_string(),
        reason: e.to_string(),
    })?;
    u.query_pairs_mut().append_pair(key, value);
    Ok(u.to_string())
}

/// A header as text.
pub(crate) fn header_str<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Shared handle to a host.
pub(crate) type HostRef = Arc<Host>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "localhost:1",
            "localhost",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "example.com",
            "[fe80::1]:1",
            "127.0.0.1.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
