//! Registries for the tests: CNCF distribution (Debian's `docker-registry`) on plain
//! HTTP or with TLS and htpasswd, and `lading serve`, each on a free port of 127.0.0.1 and
//! killed when dropped; a test CA and an htpasswd file for the secured one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Sandbox, assert_success, lading, run};

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Collects a child's stream into a shared string, line by line.
pub fn collect(stream: impl std::io::Read + Send + 'static, sink: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut s = sink.lock().expect("log");
            s.push_str(&line);
            s.push('\n');
        }
    });
}

/// A running `docker-registry`, killed when dropped.
pub struct Distribution {
    child: Child,
    pub host: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// TLS and htpasswd for a [`Distribution`].
pub struct Secured<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub htpasswd: &'a Path,
}

impl Distribution {
    pub fn start(secured: Option<Secured<'_>>) -> Distribution {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(s) = &secured {
            config.push_str(&format!(
                "  tls: {{certificate: {}, key: {}}}\nauth:\n  htpasswd: {{realm: test-realm, path: {}}}\n",
                s.cert.display(),
                s.key.display(),
                s.htpasswd.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).expect("config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning docker-registry");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("stdout"), log.clone());
        collect(child.stderr.take().expect("stderr"), log.clone());
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            if let Some(status) = child.try_wait().expect("wait") {
                panic!(
                    "docker-registry exited ({status}):\n{}",
                    log.lock().expect("log")
                );
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Distribution {
            child,
            host,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Where the registry's filesystem driver keeps a blob's bytes (`sha256:<hex>`):
    /// tests damage or remove it to play a corrupt or partial registry.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self._dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Access-log request lines (`METHOD PATH STATUS`).
    pub fn requests(&self) -> Vec<String> {
        // The log arrives through a pipe and a reader thread: let it catch up.
        std::thread::sleep(Duration::from_millis(300));
        self.log()
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once("] \"")?;
                let (req, tail) = rest.split_once("\" ")?;
                let status = tail.split(' ').next()?;
                let mut parts = req.split(' ');
                Some(format!("{} {} {status}", parts.next()?, parts.next()?))
            })
            .collect()
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lading serve` on a free port, killed when dropped.
pub struct LadingServe {
    child: Child,
    pub host: String,
}

impl LadingServe {
    pub fn start(store: &Path) -> LadingServe {
        let mut child = lading()
            .arg("--store")
            .arg(store)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning lading serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let host = lines.by_ref().map_while(Result::ok).find_map(|line| {
            line.split_once(" as a registry at ")
                .map(|(_, url)| url.trim_start_matches("http://").to_string())
        });
        match host {
            Some(host) => {
                std::thread::spawn(move || for _ in lines {});
                LadingServe { child, host }
            }
            None => {
                let status = child.wait();
                panic!("lading serve exited: {status:?}");
            }
        }
    }
}

impl Drop for LadingServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, cert, key).
pub fn make_ca(sb: &Sandbox) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| sb.path(n).to_str().expect("utf-8").to_string();
    let openssl = |args: &[&str]| assert_success(&run(Command::new("openssl").args(args)));
    std::fs::create_dir_all(sb.path("ca")).expect("ca dir");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=lading test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca/ca.crt"),
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    sb.write(
        "ext.cnf",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca/ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("server.crt"),
    ]);
    (
        sb.path("ca/ca.crt"),
        sb.path("server.crt"),
        sb.path("server.key"),
    )
}

/// An htpasswd file with `alice:pw` as distribution reads it (bcrypt, `$2y$`).
pub fn htpasswd(sb: &Sandbox) -> PathBuf {
    let hash = bcrypt::hash_with_result("pw", 5)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY);
    sb.write("htpasswd", &format!("alice:{hash}\n"))
}
