//! A registry server on 127.0.0.1:0 over a temporary store, and a real HTTP client.

#![allow(dead_code)]

use lading_oci::{Digest, Store};
use lading_registry::{Auth, Limits, Registry, Server, ServerConfig};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub struct Reg {
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
    pub base: String,
    pub client: Client,
}

fn spawn(dir: &std::path::Path, limits: Limits, auth: Auth) -> Server {
    let store = Store::open(dir.join("store")).expect("store");
    Server::start(
        Registry::new(store, limits, auth),
        ServerConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            tls: None,
        },
    )
    .expect("server starts")
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl Reg {
    pub fn start() -> Reg {
        Reg::start_with(Limits::default(), Auth::default())
    }

    pub fn start_with(limits: Limits, auth: Auth) -> Reg {
        let dir = tempfile::tempdir().expect("tempdir");
        Reg::start_in(dir, limits, auth)
    }

    /// A server on the store in `dir`.
    pub fn start_in(dir: tempfile::TempDir, limits: Limits, auth: Auth) -> Reg {
        let server = spawn(dir.path(), limits, auth);
        let base = server.url();
        Reg {
            dir,
            server: Some(server),
            base,
            client: client(),
        }
    }

    /// Stops the server and starts a new one on the same store (another port).
    pub fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        let server = spawn(self.dir.path(), Limits::default(), Auth::default());
        self.base = server.url();
        self.server = Some(server);
    }

    pub fn store(&self) -> Store {
        Store::open(self.dir.path().join("store")).expect("store")
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().expect("GET")
    }

    pub fn head(&self, path: &str) -> Response {
        self.req(Method::HEAD, path).send().expect("HEAD")
    }

    pub fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path).send().expect("DELETE")
    }

    /// Pushes a blob with a single POST; returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = Digest::of(bytes).to_string();
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("POST blob");
        assert_eq!(
            r.status(),
            201,
            "pushing blob: {}",
            r.text().unwrap_or_default()
        );
        d
    }

    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Response {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .expect("PUT manifest")
    }

    /// Pushes a small image (config + one layer) and its manifest under `reference`;
    /// returns the manifest bytes and digest.
    pub fn push_image(&self, repo: &str, reference: &str, seed: &str) -> (Vec<u8>, String) {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer = format!("layer of {seed}");
        let cd = self.push_blob(repo, config.as_bytes());
        let ld = self.push_blob(repo, layer.as_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
        });
        let bytes = serde_json::to_vec(&manifest).expect("json");
        let r = self.put_manifest(repo, reference, OCI_MANIFEST, &bytes);
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
        let d = Digest::of(&bytes).to_string();
        (bytes, d)
    }
}

impl Drop for Reg {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// The `errors[].code`s of an error response.
pub fn codes(r: Response) -> Vec<String> {
    let status = r.status();
    let body = r.bytes().expect("body");
    let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{status}: error body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    v["errors"]
        .as_array()
        .expect("errors[]")
        .iter()
        .map(|e| e["code"].as_str().expect("code").to_string())
        .collect()
}

/// Asserts status and the first error code.
pub fn assert_error(r: Response, status: u16, code: &str) {
    assert_eq!(r.status().as_u16(), status, "status");
    let codes = codes(r);
    assert_eq!(codes.first().map(String::as_str), Some(code), "{codes:?}");
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("header text").to_string())
        .unwrap_or_default()
}

pub fn json_body(r: Response) -> Value {
    serde_json::from_slice(&r.bytes().expect("body")).expect("json body")
}
