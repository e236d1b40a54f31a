//! A local Sigstore for the keyless tests: `tests/support/sigstore.js` (the Sigstore
//! project's @sigstore/mock Fulcio, CT log and Rekor, and an OIDC issuer) on a free
//! port of 127.0.0.1, with its `trusted_root.json` and `signing_config.json` written to
//! a temporary directory. The server exits when dropped (its stdin closes, then a kill).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::registry::collect;

/// The pinned @sigstore/mock (scripts/install-peers).
pub const SIGSTORE_MOCK_VERSION: &str = "0.13.0";

/// Where scripts/install-peers puts @sigstore/mock.
pub fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/sigstore-mock/node_modules")
}

/// Whether @sigstore/mock (at the pinned version) and node are there.
pub fn available() -> bool {
    let package = node_modules().join("@sigstore/mock/package.json");
    super::have_tool("node")
        && std::fs::read_to_string(package)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|p| p["version"] == SIGSTORE_MOCK_VERSION)
}

/// A running local Sigstore.
pub struct LocalSigstore {
    child: Child,
    /// Fulcio and Rekor (one server).
    pub url: String,
    /// The OIDC issuer (`iss` of its tokens).
    pub issuer: String,
    /// Its `trusted_root.json`.
    pub trusted_root: PathBuf,
    /// Its `signing_config.json`.
    pub signing_config: PathBuf,
    /// The bearer token its GitHub Actions token endpoint (`/github/token`) wants.
    pub actions_request_token: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl LocalSigstore {
    pub fn start() -> LocalSigstore {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/sigstore.js");
        let mut child = Command::new("node")
            .arg(script)
            .env("NODE_PATH", node_modules())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning node tests/support/sigstore.js");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().expect("stderr"), log.clone());
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("reading the harness's first line");
        if first.is_empty() {
            let status = child.wait();
            panic!(
                "the sigstore harness exited ({status:?}):\n{}",
                log.lock().expect("log")
            );
        }
        let info: serde_json::Value = serde_json::from_str(&first).expect("harness json");
        let dir = tempfile::tempdir().expect("tempdir");
        let trusted_root = dir.path().join("trusted_root.json");
        let signing_config = dir.path().join("signing_config.json");
        std::fs::write(&trusted_root, info["trustedRoot"].to_string()).expect("write");
        std::fs::write(&signing_config, info["signingConfig"].to_string()).expect("write");
        LocalSigstore {
            child,
            url: info["url"].as_str().expect("url").to_string(),
            issuer: info["issuer"].as_str().expect("issuer").to_string(),
            trusted_root,
            signing_config,
            actions_request_token: info["actionsRequestToken"]
                .as_str()
                .expect("actionsRequestToken")
                .to_string(),
            log,
            _dir: dir,
        }
    }

    /// An ID token for `sub` from the local issuer, for audience `aud`.
    pub fn token_for(&self, sub: &str, aud: &str) -> String {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/oidc/token", self.url))
            .body(serde_json::json!({ "sub": sub, "aud": aud }).to_string())
            .send()
            .expect("token request");
        assert!(response.status().is_success(), "{response:?}");
        response.text().expect("token")
    }

    /// An ID token for `sub` with audience `sigstore`.
    pub fn token(&self, sub: &str) -> String {
        self.token_for(sub, "sigstore")
    }

    /// The harness's stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for LocalSigstore {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
