//! A local Sigstore for the keyless tests: `tests/support/sigstore.js` (the Sigstore
//! project's @sigstore/mock Fulcio, CT log and Rekor, and an OIDC issuer) on a free
//! port of 127.0.0.1, with its `trusted_root.json` and `signing_config.json` written to
//! a temporary directory. The server exits when dropped (its stdin closes, then a kill).
//!
//! For Rekor v2 and timestamps: the real timestamp authority ([`LocalTsa`],
//! sigstore/timestamp-authority's `timestamp-server`, in-memory signer) and the real
//! Rekor v2 ([`LocalRekorV2`], rekor-tiles' POSIX server), both pinned and built by
//! scripts/install-peers, and [`V2Trust`], the trusted root and signing config that name
//! them.

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

/// Where scripts/install-peers puts the Go-built peers.
fn go_peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin")
}

/// Whether the real timestamp authority and Rekor v2 (pinned, scripts/install-peers)
/// are there.
pub fn v2_available() -> bool {
    let pinned = |name: &str, version: &str| {
        std::fs::read_to_string(go_peers().join(format!("{name}.version")))
            .is_ok_and(|v| v.trim() == version)
            && go_peers().join(name).is_file()
    };
    pinned("timestamp-server", TIMESTAMP_AUTHORITY_VERSION)
        && pinned("rekor-server", REKOR_TILES_VERSION)
}

/// The pinned sigstore/timestamp-authority.
pub const TIMESTAMP_AUTHORITY_VERSION: &str = "v2.1.3";
/// The pinned sigstore/rekor-tiles.
pub const REKOR_TILES_VERSION: &str = "v2.3.0";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process whose stderr and stdout are collected, killed when dropped.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn spawn(cmd: &mut Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().expect("stderr"), log.clone());
        collect(child.stdout.take().expect("stdout"), log.clone());
        Server { child, log }
    }

    /// Waits until `GET url` answers 200 (the server exiting is a failure).
    fn wait_ready(&mut self, url: &str) {
        if let Err(log) = self.try_wait_ready(url) {
            panic!("{url}: the server exited:\n{log}");
        }
    }

    /// Waits until `GET url` answers 200; the server's log if it exited.
    fn try_wait_ready(&mut self, url: &str) -> Result<(), String> {
        let client = reqwest::blocking::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("({status})\n{}", self.log.lock().expect("log")));
            }
            if client
                .get(url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real RFC 3161 timestamp authority (sigstore/timestamp-authority's
/// `timestamp-server`, in-memory signer and chain) on 127.0.0.1.
///
/// timestamp-server v2.1.3 always serves its metrics on port 2112 (not configurable),
/// so one runs at a time in a test process (the lock), and a start that finds the port
/// still taken (another run ending) is tried again.
pub struct LocalTsa {
    server: Server,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
    /// Its timestamp endpoint (`POST`, `application/timestamp-query`).
    pub url: String,
    /// Its chain as `/api/v1/timestamp/certchain` serves it (PEM: leaf, intermediate, root).
    pub chain_pem: String,
}

impl LocalTsa {
    pub fn start() -> LocalTsa {
        static ONE: Mutex<()> = Mutex::new(());
        let guard = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let mut attempts = 0;
        let (server, base) = loop {
            let port = free_port();
            let mut server =
                Server::spawn(Command::new(go_peers().join("timestamp-server")).args([
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--timestamp-signer",
                    "memory",
                    "--disable-ntp-monitoring",
                ]));
            let base = format!("http://127.0.0.1:{port}");
            match server.try_wait_ready(&format!("{base}/ping")) {
                Ok(()) => break (server, base),
                Err(log) if log.contains("address already in use") && attempts < 60 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(log) => panic!("timestamp-server exited:\n{log}"),
            }
        };
        let chain_pem = reqwest::blocking::get(format!("{base}/api/v1/timestamp/certchain"))
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .expect("the TSA's chain");
        LocalTsa {
            server,
            _one_at_a_time: guard,
            url: format!("{base}/api/v1/timestamp"),
            chain_pem,
        }
    }

    /// The chain's certificates, DER, leaf first.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        lading_signer::sigstore::fulcio::certificates_from_pem(&self.chain_pem).expect("chain")
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.server.log.lock().expect("log").clone()
    }
}

/// The real Rekor v2 (rekor-tiles' POSIX server: tiles in a temporary directory, an
/// ECDSA P-256 checkpoint key) on 127.0.0.1.
pub struct LocalRekorV2 {
    server: Server,
    /// Its base URL (`POST /api/v2/log/entries`).
    pub url: String,
    /// Its checkpoint key, SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The key's `PublicKeyDetails`.
    pub key_details: &'static str,
    /// Its log ID in a trusted root: the C2SP checkpoint key ID.
    pub log_id: Vec<u8>,
    /// Its checkpoints' origin: the URL's host name, as sigstore-go expects.
    pub origin: String,
    _dir: tempfile::TempDir,
}

impl LocalRekorV2 {
    /// With an ECDSA P-256 checkpoint key.
    pub fn start() -> LocalRekorV2 {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = lading_signer::KeyPair::generate().expect("key");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&key_file, key.to_pem(None).expect("pem").as_bytes()).expect("write");
        let public_key = key.public_key().expect("public").der().to_vec();
        // C2SP: an ECDSA key's ID is the SHA-256 of its SubjectPublicKeyInfo.
        let log_id = lading_signer::sigstore::sha256(&public_key).to_vec();
        Self::serve(dir, key_file, public_key, "PKIX_ECDSA_P256_SHA_256", log_id)
    }

    /// With an Ed25519 checkpoint key (as public-good's Rekor v2), made by openssl.
    pub fn start_ed25519() -> LocalRekorV2 {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("key.pem");
        let out = Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&key_file)
            .output()
            .expect("openssl genpkey");
        assert!(out.status.success(), "{out:?}");
        let out = Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&key_file)
            .output()
            .expect("openssl pkey");
        assert!(out.status.success(), "{out:?}");
        let public_key = out.stdout;
        // C2SP: an Ed25519 key's ID is SHA-256(name ‖ "\n" ‖ 0x01 ‖ key).
        let raw = &public_key[public_key.len() - 32..];
        let log_id =
            lading_signer::sigstore::sha256(&[b"127.0.0.1\n".as_slice(), &[1], raw].concat())
                .to_vec();
        Self::serve(dir, key_file, public_key, "PKIX_ED25519", log_id)
    }

    fn serve(
        dir: tempfile::TempDir,
        key_file: PathBuf,
        public_key: Vec<u8>,
        key_details: &'static str,
        log_id: Vec<u8>,
    ) -> LocalRekorV2 {
        let (http, grpc, metrics) = (free_port(), free_port(), free_port());
        let origin = "127.0.0.1".to_string();
        let mut server = Server::spawn(Command::new(go_peers().join("rekor-server")).args([
            "serve",
            "--hostname",
            &origin,
            "--storage-dir",
            dir.path().join("log").to_str().expect("utf-8"),
            "--signer-filepath",
            key_file.to_str().expect("utf-8"),
            "--http-address",
            "127.0.0.1",
            "--http-port",
            &http.to_string(),
            "--grpc-address",
            "127.0.0.1",
            "--grpc-port",
            &grpc.to_string(),
            "--http-metrics-port",
            &metrics.to_string(),
            "--checkpoint-interval",
            "500ms",
        ]));
        let url = format!("http://127.0.0.1:{http}");
        server.wait_ready(&format!("{url}/healthz"));
        LocalRekorV2 {
            server,
            url,
            public_key,
            key_details,
            log_id,
            origin,
            _dir: dir,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.server.log.lock().expect("log").clone()
    }
}

/// The trust material of a local Sigstore whose signing config names `rekor` (API v2;
/// without one, the local Rekor v1) and `tsa`: the trusted root with the Rekor v2 key
/// among `tlogs` and the TSA's chain as `timestampAuthorities`, and the signing config;
/// written into `dir`.
pub struct V2Trust {
    pub trusted_root: PathBuf,
    pub signing_config: PathBuf,
}

impl V2Trust {
    pub fn write(
        local: &LocalSigstore,
        rekor: Option<&LocalRekorV2>,
        tsa: &LocalTsa,
        dir: &Path,
    ) -> V2Trust {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
        };
        let start = "2020-01-01T00:00:00Z";
        let mut root = read(&local.trusted_root);
        if let Some(rekor) = rekor {
            root["tlogs"]
                .as_array_mut()
                .expect("tlogs")
                .push(serde_json::json!({
                    "baseUrl": rekor.url,
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": {
                        "rawBytes": b64(&rekor.public_key),
                        "keyDetails": rekor.key_details,
                        "validFor": { "start": start },
                    },
                    "logId": { "keyId": b64(&rekor.log_id) },
                }));
        }
        root["timestampAuthorities"] = serde_json::json!([{
            "subject": { "organization": "local", "commonName": "Test TSA Timestamping" },
            "uri": tsa.url,
            "certChain": {
                "certificates": tsa.chain_der().iter().map(|c| serde_json::json!({ "rawBytes": b64(c) })).collect::<Vec<_>>(),
            },
            "validFor": { "start": start },
        }]);
        let mut config = read(&local.signing_config);
        let service = |url: &str, version: u32| {
            serde_json::json!({
                "url": url,
                "majorApiVersion": version,
                "validFor": { "start": start },
                "operator": "local",
            })
        };
        if let Some(rekor) = rekor {
            config["rekorTlogUrls"] = serde_json::json!([service(&rekor.url, 2)]);
        }
        config["tsaUrls"] = serde_json::json!([service(&tsa.url, 1)]);
        config["tsaConfig"] = serde_json::json!({ "selector": "ANY" });
        config["rekorTlogConfig"] = serde_json::json!({ "selector": "ANY" });
        let name = if rekor.is_some() { "v2" } else { "tsa" };
        let trusted_root = dir.join(format!("trusted_root_{name}.json"));
        let signing_config = dir.join(format!("signing_config_{name}.json"));
        std::fs::write(&trusted_root, root.to_string()).expect("write");
        std::fs::write(&signing_config, config.to_string()).expect("write");
        V2Trust {
            trusted_root,
            signing_config,
        }
    }
}
