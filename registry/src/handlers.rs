//! The endpoints of distribution-spec v1.1 ("Endpoints" table, end-1 … end-14), their
//! headers and their error codes ("Error Codes", code-1 … code-14).

use std::io::SeekFrom;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use lading_oci::repository::{validate_name, validate_tag};
use lading_oci::spec::{Index, Manifest};
use lading_oci::upload::Upload;
use lading_oci::{Digest, Error as OciError};
use serde_json::{Value, json};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use crate::constants::{
    DOCKER_API_VERSION, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID, MANIFEST_MEDIA_TYPES,
    MEDIA_TYPE_INDEX, OCI_FILTERS_APPLIED, OCI_SUBJECT, UPLOAD_SESSION_ID, is_index_type,
};
use crate::paths::{Route, query_get, query_pairs, route};
use crate::state::{Lookup, ManifestInfo, Reference, Registry};

/// The spec's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Unsupported,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Unsupported => "UNSUPPORTED",
        }
    }
}

/// An error answered to the client: status, one or more `{code, message, detail}` and
/// extra headers.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    errors: Vec<(Code, String, Value)>,
    headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            errors: vec![(code, message.into(), Value::Null)],
            headers: Vec::new(),
        }
    }
    fn detail(mut self, detail: Value) -> ApiError {
        if let Some(e) = self.errors.last_mut() {
            e.2 = detail;
        }
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> ApiError {
        self.headers
            .push((HeaderName::from_static(name), value.into()));
        self
    }
    fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::warn!("internal error: {err}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }
}

impl From<OciError> for ApiError {
    fn from(e: OciError) -> ApiError {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        ApiError::internal(text)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|(code, message, detail)| {
                let mut e = json!({"code": code.as_str(), "message": message});
                if !detail.is_null() {
                    e["detail"] = detail.clone();
                }
                e
            })
            .collect();
        let mut reply = Reply::new(self.status);
        if !errors.is_empty() {
            reply = reply
                .header(header::CONTENT_TYPE.as_str(), "application/json")
                .body(json!({ "errors": errors }).to_string());
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                reply.headers.insert(name, v);
            }
        }
        reply.into_response()
    }
}

type ApiResult<T = Response> = std::result::Result<T, ApiError>;

/// A response under construction.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

impl Reply {
    fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Body::empty(),
        }
    }
    fn header(mut self, name: &str, value: impl AsRef<str>) -> Reply {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.as_ref()),
        ) {
            self.headers.insert(n, v);
        }
        self
    }
    fn body(mut self, body: impl Into<Body>) -> Reply {
        self.body = body.into();
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = Response::new(self.body);
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers;
        r
    }
}

/// Runs blocking store work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// The one handler: authenticates, routes, answers, logs (at debug level, without headers).
pub(crate) async fn dispatch(State(reg): State<Registry>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = match handle(reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(
        HeaderName::from_static(DOCKER_API_VERSION),
        HeaderValue::from_static("registry/2.0"),
    );
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

async fn handle(reg: Registry, req: Request) -> ApiResult {
    if reg.inner.auth.is_enabled() {
        let authz = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let inner = reg.inner.clone();
        if !blocking(move || inner.auth.check(authz.as_deref())).await? {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                Code::Unauthorized,
                "authentication required",
            )
            .header("www-authenticate", reg.inner.auth.challenge()));
        }
    }
    let Some(route) = route(req.uri().path()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::Unsupported,
            "no such endpoint",
        ));
    };
    let method = req.method().clone();
    if reg.inner.read_only() && !matches!(method, Method::GET | Method::HEAD) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unsupported,
            "this registry is read-only",
        ));
    }
    let query = query_pairs(req.uri().query());
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let head = method == Method::HEAD;
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(Reply::new(StatusCode::OK)
            .header("content-type", "application/json")
            .body("{}")
            .into_response()),
        (Route::Blob { name, digest }, Method::GET | Method::HEAD) => {
            get_blob(&reg, &name, &digest, head, &headers).await
        }
        (Route::Blob { name, digest }, Method::DELETE) => delete_blob(&reg, &name, &digest).await,
        (Route::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            get_manifest(&reg, &name, &reference, head).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            put_manifest(&reg, &name, &reference, &headers, body).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            delete_manifest(&reg, &name, &reference).await
        }
        (Route::Upload { name, id }, Method::POST) if id.is_empty() => {
            start_upload(&reg, &name, &query, &headers, body).await
        }
        (Route::Upload { name, id }, Method::PATCH) if !id.is_empty() => {
            patch_upload(&reg, &name, &id, &headers, body).await
        }
        (Route::Upload { name, id }, Method::PUT) if !id.is_empty() => {
            put_upload(&reg, &name, &id, &query, &headers, body).await
        }
        (Route::Upload { name, id }, Method::GET) if !id.is_empty() => {
            upload_status(&reg, &name, &id).await
        }
        (Route::Upload { name, id }, Method::DELETE) if !id.is_empty() => {
            cancel_upload(&reg, &name, &id).await
        }
        (Route::Tags { name }, Method::GET) => list_tags(&reg, &name, &query).await,
        (Route::Referrers { name, digest }, Method::GET) => {
            referrers(&reg, &name, &digest, &query).await
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unsupported,
            "method not allowed here",
        )),
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    validate_name(name).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, Code::NameInvalid, e.to_string())
            .detail(json!({ "name": name }))
    })
}

fn parse_digest(s: &str) -> ApiResult<Digest> {
    s.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            format!("invalid digest {s:?}"),
        )
    })
}

fn parse_reference(s: &str) -> Option<Reference> {
    if s.contains(':') {
        s.parse().ok().map(Reference::Digest)
    } else {
        validate_tag(s).ok().map(|()| Reference::Tag(s.to_string()))
    }
}

fn name_unknown(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NameUnknown,
        format!("repository {name:?} is not known"),
    )
    .detail(json!({ "name": name }))
}

fn manifest_unknown(reference: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::ManifestUnknown,
        format!("manifest {reference:?} is not known"),
    )
}

fn blob_unknown(digest: &Digest) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::BlobUnknown,
        format!("blob {digest} is not known"),
    )
    .detail(json!({ "digest": digest.to_string() }))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(what: &str, limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::SizeInvalid,
        format!("{what} is larger than the limit of {limit} bytes"),
    )
    .detail(json!({ "limit": limit }))
}

// ---------------------------------------------------------------------------------------
// end-2: blobs

/// The byte range a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    All,
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(value: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Wanted::All;
    };
    if spec.contains(',') {
        // Several ranges: answer the whole blob, as RFC 9110 allows.
        return Wanted::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        match b.parse::<u64>() {
            Ok(0) | Err(_) => return Wanted::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len.saturating_sub(1)),
        }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Wanted::All;
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return Wanted::All,
            }
        };
        (start, end)
    };
    if len == 0 || range.0 >= len {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(range.0, range.1)
}

async fn get_blob(
    reg: &Registry,
    name: &str,
    digest: &str,
    head: bool,
    headers: &HeaderMap,
) -> ApiResult {
    check_name(name)?;
    let digest = parse_digest(digest)?;
    let store = reg.store().clone();
    let d = digest.clone();
    let opened = blocking(move || {
        // A HEAD is how a pushing client decides to skip an upload: lease the blob
        // (best effort, as `Store::has`) so prune keeps it until the manifest names it.
        if head {
            let _ = store.hold_digest(&d);
        }
        store.open_blob(&d)
    })
    .await
    .map(|r| match r {
        Ok(f) => {
            let len = f.metadata().map(|m| m.len());
            Ok(Some((f, len)))
        }
        Err(OciError::BlobNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    })??;
    let Some((file, len)) = opened else {
        return Err(blob_unknown(&digest));
    };
    let len = len.map_err(ApiError::internal)?;
    let wanted = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, count) = match wanted {
        Wanted::All => (StatusCode::OK, 0, len),
        Wanted::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        Wanted::Unsatisfiable => {
            return Ok(Reply::new(StatusCode::RANGE_NOT_SATISFIABLE)
                .header("content-range", format!("bytes */{len}"))
                .header(DOCKER_CONTENT_DIGEST, digest.to_string())
                .into_response());
        }
    };
    let mut reply = Reply::new(status)
        .header("content-type", "application/octet-stream")
        .header("content-length", count.to_string())
        .header("accept-ranges", "bytes")
        .header("etag", format!("\"{digest}\""))
        .header(DOCKER_CONTENT_DIGEST, digest.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        reply = reply.header(
            "content-range",
            format!("bytes {start}-{}/{len}", start + count - 1),
        );
    }
    if head {
        return Ok(reply.into_response());
    }
    let mut file = tokio::fs::File::from_std(file);
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(ApiError::internal)?;
    }
    use tokio::io::AsyncReadExt as _;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(count), 256 * 1024);
    Ok(reply.body(Body::from_stream(stream)).into_response())
}

// end-10
async fn delete_blob(reg: &Registry, name: &str, digest: &str) -> ApiResult {
    check_name(name)?;
    let digest = parse_digest(digest)?;
    let _gc = reg.inner.blob_gc.write().await;
    let inner = reg.inner.clone();
    let d = digest.clone();
    let outcome = blocking(move || -> lading_oci::Result<Result<(), Option<Digest>>> {
        if !inner.store.has(&d) {
            return Ok(Err(None));
        }
        if let Some(user) = inner.blob_in_use(&d)? {
            return Ok(Err(Some(user)));
        }
        inner.store.delete_blob(&d)?;
        Ok(Ok(()))
    })
    .await??;
    match outcome {
        Ok(()) => Ok(Reply::new(StatusCode::ACCEPTED).into_response()),
        Err(None) => Err(blob_unknown(&digest)),
        Err(Some(user)) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unsupported,
            format!("blob {digest} is in use by manifest {user}; delete the manifest first"),
        )
        .detail(json!({ "digest": digest.to_string(), "manifest": user.to_string() }))),
    }
}

// ---------------------------------------------------------------------------------------
// end-3, end-7, end-9: manifests

async fn get_manifest(reg: &Registry, name: &str, reference: &str, head: bool) -> ApiResult {
    check_name(name)?;
    let Some(r) = parse_reference(reference) else {
        return Err(manifest_unknown(reference));
    };
    let inner = reg.inner.clone();
    let repo = name.to_string();
    let found = blocking(move || -> lading_oci::Result<_> {
        let lookup = inner.lookup(&repo, &r)?;
        let Lookup::Found {
            digest, media_type, ..
        } = lookup
        else {
            return Ok(Err(lookup));
        };
        match inner.store.read_blob(&digest) {
            Ok(bytes) => Ok(Ok((digest, media_type, bytes))),
            Err(OciError::BlobNotFound { .. }) => Ok(Err(Lookup::ManifestUnknown)),
            Err(e) => Err(e),
        }
    })
    .await??;
    let (digest, entry_type, bytes) = match found {
        Ok(f) => f,
        Err(Lookup::NameUnknown) => return Err(name_unknown(name)),
        Err(_) => return Err(manifest_unknown(reference)),
    };
    // The manifest's own mediaType wins (clients check the two agree), then what its
    // entry recorded at push time, then what its shape says.
    let media_type = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .or(entry_type)
        .or_else(|| ManifestInfo::parse(&bytes).map(|i| i.media_type))
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let reply = Reply::new(StatusCode::OK)
        .header("content-type", &media_type)
        .header("content-length", bytes.len().to_string())
        .header("etag", format!("\"{digest}\""))
        .header(DOCKER_CONTENT_DIGEST, digest.to_string());
    if head {
        Ok(reply.into_response())
    } else {
        Ok(reply.body(bytes).into_response())
    }
}

/// How much of a refused (too large) body is read and thrown away so that the client,
/// still sending, gets to read the `413` instead of a reset connection.
const DRAIN_CAP: u64 = 64 << 20;

/// Reads and discards what is left of a body, at most [`DRAIN_CAP`] bytes.
async fn drain(mut stream: axum::body::BodyDataStream) {
    let mut n = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        n += chunk.len() as u64;
        if n > DRAIN_CAP {
            break;
        }
    }
}

/// Reads a whole request body up to `limit` bytes; `Ok(None)` when it is longer.
async fn read_limited(body: Body, limit: u64) -> ApiResult<Option<Vec<u8>>> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::ManifestInvalid,
                format!("reading the request body: {e}"),
            )
        })?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            drain(stream).await;
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

fn manifest_invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, message)
}

/// Checks a pushed manifest; returns what it references (blobs, child manifests) and its
/// subject.
fn validate_manifest(media_type: &str, bytes: &[u8]) -> ApiResult<(Vec<Digest>, Option<Digest>)> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| manifest_invalid(format!("manifest is not JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(manifest_invalid("manifest is not a JSON object"));
    };
    if obj.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(manifest_invalid("schemaVersion must be 2"));
    }
    if let Some(m) = obj.get("mediaType")
        && m.as_str() != Some(media_type)
    {
        return Err(manifest_invalid(format!(
            "mediaType {m} does not match Content-Type {media_type:?}"
        )));
    }
    let mut refs = Vec::new();
    let subject = if is_index_type(media_type) {
        let index: Index = serde_json::from_value(v.clone())
            .map_err(|e| manifest_invalid(format!("invalid index: {e}")))?;
        refs.extend(index.manifests.iter().map(|d| d.digest.clone()));
        index.subject.map(|s| s.digest)
    } else {
        if obj.contains_key("manifests") {
            return Err(manifest_invalid("an image manifest has no \"manifests\""));
        }
        let manifest: Manifest = serde_json::from_value(v.clone())
            .map_err(|e| manifest_invalid(format!("invalid manifest: {e}")))?;
        refs.push(manifest.config.digest.clone());
        let raw_layers = obj.get("layers").and_then(Value::as_array);
        for (i, l) in manifest.layers.iter().enumerate() {
            // Foreign (non-distributable) layers live at their `urls`, not here.
            let foreign = raw_layers
                .and_then(|ls| ls.get(i))
                .and_then(|l| l.get("urls"))
                .and_then(Value::as_array)
                .is_some_and(|u| !u.is_empty());
            if !foreign {
                refs.push(l.digest.clone());
            }
        }
        manifest.subject.map(|s| s.digest)
    };
    Ok((refs, subject))
}

async fn put_manifest(
    reg: &Registry,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    check_name(name)?;
    let Some(r) = parse_reference(reference) else {
        return Err(manifest_invalid(format!(
            "reference {reference:?} is neither a tag nor a digest"
        ))
        .detail(json!({ "reference": reference })));
    };
    let limit = reg.inner.limits.max_manifest;
    if content_length(headers).is_some_and(|n| n > limit) {
        drain(body.into_data_stream()).await;
        return Err(too_large("manifest", limit));
    }
    let Some(bytes) = read_limited(body, limit).await? else {
        return Err(too_large("manifest", limit));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty());
    let media_type = match content_type {
        Some(t) => t,
        None => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
            .ok_or_else(|| manifest_invalid("no Content-Type and no mediaType"))?,
    };
    if !MANIFEST_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(
            manifest_invalid(format!("unsupported manifest media type {media_type:?}"))
                .detail(json!({ "mediaType": media_type, "supported": MANIFEST_MEDIA_TYPES })),
        );
    }
    let (refs, subject) = validate_manifest(&media_type, &bytes)?;
    let digest = Digest::of(&bytes);
    if let Reference::Digest(want) = &r
        && want != &digest
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            format!("manifest digest is {digest}, not {want}"),
        )
        .detail(json!({ "expected": want.to_string(), "actual": digest.to_string() })));
    }
    let _gc = reg.inner.blob_gc.read().await;
    let inner = reg.inner.clone();
    let repo = name.to_string();
    let mt = media_type.clone();
    let missing = blocking(move || -> lading_oci::Result<Vec<Digest>> {
        let missing: Vec<Digest> = refs.into_iter().filter(|d| !inner.store.has(d)).collect();
        if !missing.is_empty() {
            return Ok(missing);
        }
        let desc = inner.store.put_bytes(&bytes, &mt)?;
        match &r {
            Reference::Tag(tag) => inner.store.tag_in_repository(&repo, tag, &desc)?,
            Reference::Digest(_) => inner.store.add_to_repository(&repo, &desc)?,
        }
        Ok(Vec::new())
    })
    .await??;
    if !missing.is_empty() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            errors: missing
                .iter()
                .map(|d| {
                    (
                        Code::ManifestBlobUnknown,
                        format!("manifest references {d}, which is not in the registry"),
                        json!({ "digest": d.to_string() }),
                    )
                })
                .collect(),
            headers: Vec::new(),
        });
    }
    let mut reply = Reply::new(StatusCode::CREATED)
        .header("location", format!("/v2/{name}/manifests/{digest}"))
        .header(DOCKER_CONTENT_DIGEST, digest.to_string());
    if let Some(s) = subject {
        reply = reply.header(OCI_SUBJECT, s.to_string());
    }
    Ok(reply.into_response())
}

async fn delete_manifest(reg: &Registry, name: &str, reference: &str) -> ApiResult {
    check_name(name)?;
    let Some(r) = parse_reference(reference) else {
        return Err(manifest_unknown(reference));
    };
    let inner = reg.inner.clone();
    let repo = name.to_string();
    let outcome = blocking(move || -> lading_oci::Result<Result<(), Lookup>> {
        let removed = match &r {
            Reference::Tag(tag) => inner.store.untag_in_repository(&repo, tag)?.is_some(),
            Reference::Digest(d) => inner.store.remove_from_repository(&repo, d)? > 0,
        };
        if removed {
            return Ok(Ok(()));
        }
        Ok(Err(inner.lookup(&repo, &r)?))
    })
    .await??;
    match outcome {
        Ok(()) => Ok(Reply::new(StatusCode::ACCEPTED).into_response()),
        Err(Lookup::NameUnknown) => Err(name_unknown(name)),
        Err(Lookup::Found { .. }) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unsupported,
            format!("manifest {reference} is part of an index in {name}; delete the index instead"),
        )),
        Err(Lookup::ManifestUnknown) => Err(manifest_unknown(reference)),
    }
}

// ---------------------------------------------------------------------------------------
// end-4a, end-4b, end-5, end-6, end-11, end-13, end-14: uploads

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// `Range: 0-<last byte>` as Docker's registry writes it (`0-0` when empty).
fn range_header(len: u64) -> String {
    format!("0-{}", len.saturating_sub(1))
}

fn upload_reply(status: StatusCode, name: &str, id: &str, len: u64) -> Reply {
    Reply::new(status)
        .header("location", upload_location(name, id))
        .header("range", range_header(len))
        .header("content-length", "0")
        .header(UPLOAD_SESSION_ID, id)
        .header(DOCKER_UPLOAD_UUID, id)
}

fn upload_unknown(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::BlobUploadUnknown,
        format!("upload {id:?} is not known"),
    )
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    Reply::new(StatusCode::CREATED)
        .header("location", format!("/v2/{name}/blobs/{digest}"))
        .header("content-length", "0")
        .header(DOCKER_CONTENT_DIGEST, digest.to_string())
        .into_response()
}

enum Received {
    TooLarge,
    /// The client's stream broke (connection dropped, body shorter than announced).
    Broken(String),
}

/// Appends a request body to a session's data file, at most `limit` bytes.
async fn receive(body: Body, path: PathBuf, limit: u64) -> ApiResult<Result<u64, Received>> {
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .map_err(ApiError::internal)?;
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    let mut outcome = Ok(());
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                outcome = Err(Received::Broken(e.to_string()));
                break;
            }
        };
        if n + chunk.len() as u64 > limit {
            outcome = Err(Received::TooLarge);
            drain(stream).await;
            break;
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
        n += chunk.len() as u64;
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(outcome.map(|()| n))
}

async fn open_upload(reg: &Registry, name: &str, id: &str) -> ApiResult<Upload> {
    let store = reg.store().clone();
    let id2 = id.to_string();
    let up = blocking(move || {
        let up = store.open_upload(&id2)?;
        let owner = up.owner()?;
        Ok::<_, OciError>((up, owner))
    })
    .await?;
    match up {
        Ok((up, owner)) if owner == name => Ok(up),
        Ok(_) | Err(OciError::UploadNotFound { .. }) => Err(upload_unknown(id)),
        Err(e) => Err(e.into()),
    }
}

async fn upload_len(up: &Upload) -> ApiResult<u64> {
    let up2 = up.clone();
    match blocking(move || up2.len()).await? {
        Ok(n) => Ok(n),
        Err(OciError::UploadNotFound { id }) => Err(upload_unknown(&id)),
        Err(e) => Err(e.into()),
    }
}

async fn truncate(up: &Upload, len: u64) -> ApiResult<()> {
    let up2 = up.clone();
    blocking(move || up2.truncate(len)).await??;
    Ok(())
}

/// Parses `Content-Range: <start>-<end>` (a `bytes ` / `bytes=` prefix and a `/<total>`
/// suffix are tolerated). `None` too when the range's length, `end - start + 1`, does not
/// fit in a `u64` (`0-18446744073709551615`), so callers may compute it.
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v
        .strip_prefix("bytes=")
        .or_else(|| v.strip_prefix("bytes "))
        .unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (b >= a && (b - a).checked_add(1).is_some()).then_some((a, b))
}

fn out_of_order(name: &str, id: &str, len: u64, message: String) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        Code::BlobUploadInvalid,
        message,
    )
    .header("location", upload_location(name, id))
    .header("range", range_header(len))
    .header(UPLOAD_SESSION_ID, id.to_string())
    .header(DOCKER_UPLOAD_UUID, id.to_string())
}

/// Appends a chunk to a session (PATCH, or the body of the closing PUT), holding the
/// session's lock. Returns the new length.
async fn append_chunk(
    reg: &Registry,
    name: &str,
    up: &Upload,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<u64> {
    let id = up.id().to_string();
    let start = upload_len(up).await?;
    let declared = content_length(headers);
    let mut expected = None;
    if let Some(v) = headers.get(header::CONTENT_RANGE) {
        let Some((a, b)) = v.to_str().ok().and_then(parse_content_range) else {
            return Err(out_of_order(
                name,
                &id,
                start,
                "invalid Content-Range (want <start>-<end>)".into(),
            ));
        };
        if a != start {
            return Err(out_of_order(
                name,
                &id,
                start,
                format!("chunk starts at {a}, the upload has {start} bytes"),
            ));
        }
        if declared.is_some_and(|n| n != b - a + 1) {
            return Err(out_of_order(
                name,
                &id,
                start,
                format!(
                    "Content-Range {a}-{b} does not match Content-Length {}",
                    declared.unwrap_or(0)
                ),
            ));
        }
        expected = Some(b - a + 1);
    }
    let max = reg.inner.limits.max_blob;
    if declared.is_some_and(|n| start.saturating_add(n) > max) {
        drain(body.into_data_stream()).await;
        return Err(too_large("blob", max));
    }
    match receive(body, up.data_path(), max.saturating_sub(start)).await? {
        Ok(n) => {
            if let Some(e) = expected
                && n != e
            {
                truncate(up, start).await?;
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    Code::SizeInvalid,
                    format!("chunk has {n} bytes, Content-Range says {e}"),
                ));
            }
            Ok(start + n)
        }
        Err(Received::TooLarge) => {
            truncate(up, start).await?;
            Err(too_large("blob", max))
        }
        Err(Received::Broken(why)) => {
            // What arrived stays: the client can ask for the range and resume.
            tracing::debug!(upload = %id, "upload body broke off: {why}");
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::BlobUploadInvalid,
                format!("the request body broke off: {why}"),
            ))
        }
    }
}

/// Verifies and commits a session; a wrong digest ends the session (the spec's failed
/// upload) and nothing becomes visible.
async fn commit(reg: &Registry, up: Upload, digest: &Digest) -> ApiResult<()> {
    let d = digest.clone();
    let id = up.id().to_string();
    let up2 = up.clone();
    let result = blocking(move || up2.commit(&d)).await?;
    reg.inner.forget_session(&id);
    match result {
        Ok(_) => Ok(()),
        Err(OciError::DigestMismatch { expected, actual }) => {
            blocking(move || up.cancel()).await??;
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::DigestInvalid,
                format!("uploaded content has digest {actual}, not {expected}"),
            )
            .detail(json!({ "expected": expected.to_string(), "actual": actual.to_string() })))
        }
        Err(OciError::InvalidDigest { digest }) => {
            blocking(move || up.cancel()).await??;
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::DigestInvalid,
                format!("{digest}: only sha256 digests can be verified"),
            ))
        }
        Err(OciError::UploadNotFound { id }) => Err(upload_unknown(&id)),
        Err(e) => Err(e.into()),
    }
}

async fn start_upload(
    reg: &Registry,
    name: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    check_name(name)?;
    // end-11: mount when the blob is here (every blob is visible in every repository).
    if let Some(mount) = query_get(query, "mount") {
        let from_ok = query_get(query, "from").is_none_or(|f| validate_name(&f).is_ok());
        if let Ok(d) = mount.parse::<Digest>()
            && from_ok
        {
            let store = reg.store().clone();
            let d2 = d.clone();
            if blocking(move || store.has(&d2)).await? {
                return Ok(blob_created(name, &d));
            }
        }
    }
    let store = reg.store().clone();
    let owner = name.to_string();
    let up = blocking(move || store.create_upload(&owner)).await??;
    // end-4b: the whole blob in the POST.
    if let Some(digest) = query_get(query, "digest")
        && query_get(query, "mount").is_none()
    {
        let digest = match parse_digest(&digest) {
            Ok(d) => d,
            Err(e) => {
                blocking(move || up.cancel()).await??;
                return Err(e);
            }
        };
        let lock = reg.inner.session_lock(up.id());
        let _g = lock.lock().await;
        if let Err(e) = append_chunk(reg, name, &up, headers, body).await {
            reg.inner.forget_session(up.id());
            blocking(move || up.cancel()).await??;
            return Err(e);
        }
        commit(reg, up, &digest).await?;
        return Ok(blob_created(name, &digest));
    }
    // end-4a: a session.
    Ok(upload_reply(StatusCode::ACCEPTED, name, up.id(), 0).into_response())
}

async fn patch_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    check_name(name)?;
    let up = open_upload(reg, name, id).await?;
    let lock = reg.inner.session_lock(id);
    let _g = lock.lock().await;
    let len = append_chunk(reg, name, &up, headers, body).await?;
    Ok(upload_reply(StatusCode::ACCEPTED, name, id, len).into_response())
}

async fn put_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    check_name(name)?;
    let Some(digest) = query_get(query, "digest") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            "the closing PUT needs ?digest=",
        ));
    };
    let digest = parse_digest(&digest)?;
    let up = open_upload(reg, name, id).await?;
    let lock = reg.inner.session_lock(id);
    let _g = lock.lock().await;
    append_chunk(reg, name, &up, headers, body).await?;
    commit(reg, up, &digest).await?;
    Ok(blob_created(name, &digest))
}

async fn upload_status(reg: &Registry, name: &str, id: &str) -> ApiResult {
    check_name(name)?;
    let up = open_upload(reg, name, id).await?;
    let len = upload_len(&up).await?;
    Ok(upload_reply(StatusCode::NO_CONTENT, name, id, len).into_response())
}

async fn cancel_upload(reg: &Registry, name: &str, id: &str) -> ApiResult {
    check_name(name)?;
    let up = open_upload(reg, name, id).await?;
    let lock = reg.inner.session_lock(id);
    let _g = lock.lock().await;
    blocking(move || up.cancel()).await??;
    reg.inner.forget_session(id);
    Ok(Reply::new(StatusCode::NO_CONTENT).into_response())
}

// ---------------------------------------------------------------------------------------
// end-8a, end-8b: tags

async fn list_tags(reg: &Registry, name: &str, query: &[(String, String)]) -> ApiResult {
    check_name(name)?;
    let n = match query_get(query, "n") {
        None => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::Unsupported,
                format!("n={s:?} is not a non-negative integer"),
            )
        })?),
    };
    let last = query_get(query, "last").filter(|l| !l.is_empty());
    let store = reg.store().clone();
    let repo = name.to_string();
    let entries = blocking(move || store.repository_entries(&repo)).await??;
    if entries.is_empty() && reg.inner.exposed(name).is_empty() {
        return Err(name_unknown(name));
    }
    let mut tags: Vec<String> = entries.into_iter().filter_map(|(t, _)| t).collect();
    tags.sort();
    tags.dedup();
    if let Some(last) = &last {
        tags.retain(|t| t > last);
    }
    let mut link = None;
    if let Some(n) = n
        && tags.len() > n
    {
        tags.truncate(n);
        if let Some(l) = tags.last() {
            link = Some(format!(
                "</v2/{name}/tags/list?n={n}&last={l}>; rel=\"next\""
            ));
        }
    }
    let mut reply = Reply::new(StatusCode::OK)
        .header("content-type", "application/json")
        .body(json!({ "name": name, "tags": tags }).to_string());
    if let Some(l) = link {
        reply = reply.header("link", l);
    }
    Ok(reply.into_response())
}

// ---------------------------------------------------------------------------------------
// end-12a, end-12b: referrers

async fn referrers(
    reg: &Registry,
    name: &str,
    digest: &str,
    query: &[(String, String)],
) -> ApiResult {
    check_name(name)?;
    let digest = parse_digest(digest)?;
    let filter = query_get(query, "artifactType").filter(|a| !a.is_empty());
    let inner = reg.inner.clone();
    let repo = name.to_string();
    let f = filter.clone();
    let found = blocking(move || inner.referrers(&repo, &digest, f.as_deref())).await??;
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.to_string()),
        manifests: found,
        ..Index::default()
    };
    let body = serde_json::to_vec(&index).map_err(ApiError::internal)?;
    let mut reply = Reply::new(StatusCode::OK)
        .header("content-type", MEDIA_TYPE_INDEX)
        .body(body);
    if filter.is_some() {
        reply = reply.header(OCI_FILTERS_APPLIED, "artifactType");
    }
    Ok(reply.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Wanted::All);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Wanted::Part(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Wanted::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Wanted::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Wanted::Part(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Wanted::All);
        assert_eq!(parse_range(Some("items=0-1"), 10), Wanted::All);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Wanted::Unsatisfiable);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-9"), Some((0, 9)));
        assert_eq!(parse_content_range("bytes 10-19/100"), Some((10, 19)));
        assert_eq!(parse_content_range("bytes=10-19"), Some((10, 19)));
        assert_eq!(parse_content_range("9-0"), None);
        assert_eq!(parse_content_range("x-1"), None);
        assert_eq!(parse_content_range(""), None);
    }

    /// Found by review while fuzzing: `0-18446744073709551615` on an empty upload made
    /// `b - a + 1` overflow in the chunk handler (a panic in debug builds).
    #[test]
    fn content_range_whose_length_overflows_is_invalid() {
        assert_eq!(parse_content_range("0-18446744073709551615"), None);
        assert_eq!(parse_content_range("bytes 0-18446744073709551615/*"), None);
        assert_eq!(
            parse_content_range("1-18446744073709551615"),
            Some((1, u64::MAX))
        );
    }

    /// Header values mutated from valid ones: the parsers answer, never panic, and
    /// what they answer is usable (ranges inside the blob, lengths that fit).
    #[test]
    fn range_headers_never_panic_on_mutated_values() {
        let seeds = [
            "bytes=0-3",
            "bytes=-3",
            "bytes=5-",
            "bytes 10-19/100",
            "0-9",
            "bytes=0-1,3-4",
            "bytes=18446744073709551615-18446744073709551615",
            "bytes=-18446744073709551615",
        ];
        let pieces = [
            "",
            "-",
            "0",
            "1",
            "9",
            "=",
            " ",
            ",",
            "/",
            "18446744073709551615",
            "é",
        ];
        let mut x: u64 = 0x5eed;
        for seed in seeds {
            for _ in 0..500 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut v: Vec<char> = seed.chars().collect();
                let at = (x as usize >> 8) % (v.len() + 1);
                match x % 3 {
                    0 if at < v.len() => {
                        v.remove(at);
                    }
                    _ => {
                        let p = pieces[(x as usize >> 16) % pieces.len()];
                        for (k, c) in p.chars().enumerate() {
                            v.insert(at + k, c);
                        }
                    }
                }
                let v: String = v.into_iter().collect();
                for len in [0, 1, 10, u64::MAX] {
                    if let Wanted::Part(a, b) = parse_range(Some(&v), len) {
                        assert!(a <= b && b < len, "{v:?} of {len}: {a}-{b}");
                    }
                }
                if let Some((a, b)) = parse_content_range(&v) {
                    assert!((b - a).checked_add(1).is_some(), "{v:?}");
                }
            }
        }
    }
}
