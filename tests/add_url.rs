//! `ADD <http(s) URL> <dest>` end to end: real HTTP and HTTPS servers on 127.0.0.1
//! started by the test, the real `lading` binary, and the resulting layers read back
//! with Python's `tarfile` and unpacked with `umoci` (readers nobody here wrote).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{Sandbox, assert_success, json_blob, require_tool, run, sha256, stderr};

// ---- a tiny HTTP/1.1 server on 127.0.0.1 ---------------------------------------------

/// What the test server answers for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with a body and extra headers.
    Ok(Vec<u8>, Vec<(&'static str, String)>),
    /// A bare status, e.g. (404, "Not Found").
    Status(u16, &'static str),
    /// 302 to another path on the same server.
    Redirect(&'static str),
    /// 200 claiming `claimed` bytes, sending `body`, then closing.
    Truncated { claimed: usize, body: Vec<u8> },
}

/// Serves `routes` (path → reply; anything else is 404) until the test process ends.
/// Every response closes its connection.
struct HttpServer {
    base: String,
}

impl HttpServer {
    fn start(routes: BTreeMap<String, Reply>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = Arc::clone(&routes);
                std::thread::spawn(move || serve_one(stream, &routes));
            }
        });
        HttpServer { base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn serve_one(mut stream: TcpStream, routes: &BTreeMap<String, Reply>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = routes
        .get(path.as_str())
        .cloned()
        .unwrap_or(Reply::Status(404, "Not Found"));
    let (head, body) = match reply {
        Reply::Ok(body, headers) => {
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            (head, body)
        }
        Reply::Status(code, reason) => {
            let body = format!("{code} {reason}\n").into_bytes();
            (
                format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                ),
                body,
            )
        }
        Reply::Redirect(to) => (
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n"
            ),
            Vec::new(),
        ),
        Reply::Truncated { claimed, body } => (
            format!("HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\nConnection: close\r\n"),
            body,
        ),
    };
    let _ = stream.write_all(format!("{head}\r\n").as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

// ---- running lading --------------------------------------------------------------------

const HELLO: &str = "hello over http\n";
const TOOL: &str = "#!/bin/sh\necho tool\n";

/// `lading --store S build --progress plain -t probe --iidfile F EXTRA CTX`, with no
/// proxy or CA settings inherited from the caller's environment; `env` adds some.
fn build(sb: &Sandbox, ctx: &Path, extra: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-t", "probe"]);
    cmd.arg("--iidfile")
        .arg(sb.path("iid"))
        .args(extra)
        .arg(ctx);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn context(sb: &Sandbox, dockerfile: &str) -> PathBuf {
    sb.write("ctx/Dockerfile", dockerfile);
    let a = sb.write("ctx/a", "local a\n");
    // COPY keeps the context's modes: pin them whatever the umask.
    std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    sb.path("ctx")
}

/// Asserts exit code 2, a message containing each of `needles`, and no tag written.
fn assert_refused(sb: &Sandbox, out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(sb.tags().is_empty(), "a tag was written: {:?}", sb.tags());
}

/// One tar entry as Python's `tarfile` reads it.
#[derive(Debug)]
struct TarEntry {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    data: Vec<u8>,
}

/// The entries of every layer of the image `manifest` in the store, in layer order,
/// read by Python's `tarfile` from the stored (gzip) blobs.
fn layers(sb: &Sandbox, manifest: &str) -> Vec<BTreeMap<String, TarEntry>> {
    let store = sb.store();
    let m = json_blob(&store, manifest);
    let script = r#"
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], "r:gz") as t:
    for m in t.getmembers():
        data = t.extractfile(m).read().hex() if m.isfile() else ""
        kind = "file" if m.isfile() else "dir" if m.isdir() else "other"
        out.append([m.name, kind, m.mode, m.uid, m.gid, m.mtime, data])
print(json.dumps(out))
"#;
    m["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            let digest = l["digest"].as_str().expect("digest");
            let (alg, hex) = digest.split_once(':').expect("digest form");
            let blob = store.join("blobs").join(alg).join(hex);
            let out = run(Command::new("python3").arg("-c").arg(script).arg(&blob));
            assert_success(&out);
            let rows: Vec<serde_json::Value> =
                serde_json::from_slice(&out.stdout).expect("tarfile json");
            rows.into_iter()
                .map(|r| {
                    let hex = r[6].as_str().unwrap_or_default();
                    let data = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                        .collect();
                    (
                        r[0].as_str().expect("name").to_string(),
                        TarEntry {
                            kind: r[1].as_str().expect("kind").to_string(),
                            mode: r[2].as_u64().expect("mode") as u32,
                            uid: r[3].as_u64().expect("uid") as u32,
                            gid: r[4].as_u64().expect("gid") as u32,
                            mtime: r[5].as_i64().expect("mtime"),
                            data,
                        },
                    )
                })
                .collect()
        })
        .collect()
}

fn iid(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.path("iid")).expect("iidfile")
}

/// A small uncompressed tar holding `inner.txt`, made by the system's `tar`.
fn small_tar(sb: &Sandbox) -> Vec<u8> {
    sb.write("tarsrc/inner.txt", "inside the archive\n");
    let tar = sb.path("small.tar");
    let out = run(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(sb.path("tarsrc"))
        .arg("inner.txt"));
    assert_success(&out);
    std::fs::read(tar).expect("tar")
}

fn standard_routes(tar: Vec<u8>) -> BTreeMap<String, Reply> {
    let mut routes = BTreeMap::new();
    routes.insert(
        "/files/hello.txt".to_string(),
        Reply::Ok(
            HELLO.as_bytes().to_vec(),
            // BuildKit would use this as the mtime; lading clamps to the build epoch.
            vec![("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT".into())],
        ),
    );
    routes.insert(
        "/files/tool.sh".to_string(),
        Reply::Ok(TOOL.as_bytes().to_vec(), vec![]),
    );
    routes.insert("/redirect".to_string(), Reply::Redirect("/files/hello.txt"));
    routes.insert(
        "/disposition/named.txt".to_string(),
        Reply::Ok(
            HELLO.as_bytes().to_vec(),
            vec![(
                "Content-Disposition",
                "attachment; filename=\"other.txt\"".into(),
            )],
        ),
    );
    routes.insert("/files/archive.tar".to_string(), Reply::Ok(tar, vec![]));
    routes
}

/// A port on 127.0.0.1 nobody listens on: bound, noted, closed.
fn closed_port() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

// ---- the tests ---------------------------------------------------------------------------

#[test]
fn add_url_over_http_places_files_like_buildkit() {
    if !require_tool("python3") {
        return;
    }
    let sb = Sandbox::new();
    let server = HttpServer::start(standard_routes(small_tar(&sb)));
    let hello_sum = sha256(HELLO.as_bytes());
    let dockerfile = format!(
        "FROM scratch
ARG BASE
ADD ${{BASE}}/files/hello.txt /hello.txt
ADD ${{BASE}}/files/hello.txt /dl/
ADD --chmod=755 ${{BASE}}/files/tool.sh /bin/tool
ADD --chown=1000:1001 ${{BASE}}/files/hello.txt /owned
ADD --checksum={hello_sum} ${{BASE}}/files/hello.txt /checked
ADD ${{BASE}}/redirect /redirected/
ADD ${{BASE}}/disposition/named.txt /cd/
ADD a ${{BASE}}/files/hello.txt /mixed/
ADD ${{BASE}}/files/archive.tar /tars/
ADD --unpack=true ${{BASE}}/files/archive.tar /unpacked/
"
    );
    let ctx = context(&sb, &dockerfile);
    let base = format!("BASE={}", server.base);
    let out = build(&sb, &ctx, &["--build-arg", &base], &[]);
    assert_success(&out);
    let log = stderr(&out);
    assert!(
        log.contains(&format!(
            "downloaded {}: {} bytes, {hello_sum}",
            server.url("/files/hello.txt"),
            HELLO.len()
        )),
        "no download progress line:\n{log}"
    );
    assert_eq!(sb.tags(), vec!["probe:latest".to_string()]);

    let layers = layers(&sb, &iid(&sb));
    assert_eq!(layers.len(), 10, "one layer per ADD");
    let file = |layer: usize, path: &str| -> &TarEntry {
        let e = layers[layer]
            .get(path)
            .unwrap_or_else(|| panic!("layer {layer} lacks {path}: {:?}", layers[layer].keys()));
        assert_eq!(e.kind, "file", "{path}");
        e
    };
    let names = |layer: usize| layers[layer].keys().cloned().collect::<Vec<_>>();

    // To a file path: that name, 0600, root, mtime clamped to the epoch (0).
    let e = file(0, "hello.txt");
    assert_eq!(
        (e.mode, e.uid, e.gid, e.mtime, e.data.as_slice()),
        (0o600, 0, 0, 0, HELLO.as_bytes())
    );
    assert_eq!(names(0), vec!["hello.txt"]);
    // To a directory path: the URL's last segment inside it.
    assert_eq!(names(1), vec!["dl", "dl/hello.txt"]);
    assert_eq!(layers[1]["dl"].kind, "dir");
    assert_eq!(layers[1]["dl"].mode, 0o755);
    assert_eq!(file(1, "dl/hello.txt").mode, 0o600);
    // --chmod.
    assert_eq!(file(2, "bin/tool").mode, 0o755);
    assert_eq!(file(2, "bin/tool").data, TOOL.as_bytes());
    // --chown.
    let e = file(3, "owned");
    assert_eq!((e.mode, e.uid, e.gid), (0o600, 1000, 1001));
    // A correct --checksum.
    assert_eq!(file(4, "checked").data, HELLO.as_bytes());
    // A redirect is followed; the name comes from the URL as written.
    assert_eq!(names(5), vec!["redirected", "redirected/redirect"]);
    assert_eq!(file(5, "redirected/redirect").data, HELLO.as_bytes());
    // Content-Disposition does not rename the file (the Dockerfile frontend always
    // names it after the URL path).
    assert_eq!(names(6), vec!["cd", "cd/named.txt"]);
    // Local and remote sources in one ADD.
    assert_eq!(names(7), vec!["mixed", "mixed/a", "mixed/hello.txt"]);
    assert_eq!(file(7, "mixed/a").mode, 0o644);
    assert_eq!(file(7, "mixed/hello.txt").mode, 0o600);
    // A remote archive is not extracted...
    assert_eq!(names(8), vec!["tars", "tars/archive.tar"]);
    // ...unless --unpack=true asks for it.
    assert_eq!(
        file(9, "unpacked/inner.txt").data,
        b"inside the archive\n".to_vec()
    );
    assert!(!layers[9].contains_key("unpacked/archive.tar"));
}

#[test]
fn add_url_layout_unpacks_with_umoci() {
    if !require_tool("umoci") {
        return;
    }
    let sb = Sandbox::new();
    let server = HttpServer::start(standard_routes(Vec::new()));
    let ctx = context(
        &sb,
        &format!(
            "FROM scratch\nADD {} /dl/\nADD --chown=7:8 --chmod=640 {} /etc/conf\n",
            server.url("/files/hello.txt"),
            server.url("/files/tool.sh")
        ),
    );
    let layout = sb.path("layout");
    let output = format!("type=oci,dest={},tar=false", layout.display());
    assert_success(&build(&sb, &ctx, &["-o", &output], &[]));
    let bundle = sb.path("bundle");
    let root = common::is_root();
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !root {
        cmd.arg("--rootless");
    }
    cmd.arg("--image")
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle);
    assert_success(&run(&mut cmd));
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("dl/hello.txt")).unwrap(),
        HELLO
    );
    let meta = |rel: &str| std::fs::symlink_metadata(rootfs.join(rel)).unwrap();
    assert_eq!(meta("dl/hello.txt").permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta("etc/conf").permissions().mode() & 0o7777, 0o640);
    if root {
        assert_eq!((meta("etc/conf").uid(), meta("etc/conf").gid()), (7, 8));
        assert_eq!(
            (meta("dl/hello.txt").uid(), meta("dl/hello.txt").gid()),
            (0, 0)
        );
    }
}

#[test]
fn add_url_wrong_checksum_names_both_digests_and_adds_nothing() {
    let sb = Sandbox::new();
    let server = HttpServer::start(standard_routes(Vec::new()));
    let wrong = format!("sha256:{}", "0".repeat(64));
    let ctx = context(
        &sb,
        &format!(
            "FROM scratch\nADD --checksum={wrong} {} /x\n",
            server.url("/files/hello.txt")
        ),
    );
    let out = build(&sb, &ctx, &[], &[]);
    let actual = sha256(HELLO.as_bytes());
    assert_refused(
        &sb,
        &out,
        &[
            "Dockerfile:2:1:",
            "digest mismatch",
            &server.url("/files/hello.txt"),
            &wrong,
            &actual,
        ],
    );
    assert!(!sb.path("iid").exists());
}

#[test]
fn add_url_checksum_is_validated() {
    let server = HttpServer::start(standard_routes(Vec::new()));
    let url = server.url("/files/hello.txt");
    let cases = [
        (
            format!("ADD --checksum=sha256:abc {url} /x"),
            "invalid --checksum \"sha256:abc\"",
        ),
        (
            format!("ADD --checksum=md5:{} {url} /x", "0".repeat(32)),
            "\"md5\" is not supported",
        ),
        (
            format!("ADD --checksum=sha256:{} a /x", "0".repeat(64)),
            "only supported for HTTP(S) sources",
        ),
        (
            format!("ADD --checksum=sha256:{} a {url} /d/", "0".repeat(64)),
            "only supported for HTTP(S) sources",
        ),
        (format!("COPY {url} /x"), "source can't be a URL for COPY"),
    ];
    for (line, needle) in cases {
        let sb = Sandbox::new();
        let ctx = context(&sb, &format!("FROM scratch\n{line}\n"));
        let out = build(&sb, &ctx, &[], &[]);
        assert_refused(&sb, &out, &["Dockerfile:2:1:", needle]);
    }
}

#[test]
fn add_url_http_failures_are_clear_errors() {
    let mut routes = BTreeMap::new();
    routes.insert(
        "/short".to_string(),
        Reply::Truncated {
            claimed: 100,
            body: b"only ten b".to_vec(),
        },
    );
    routes.insert("/teapot".to_string(), Reply::Status(418, "I'm a teapot"));
    let server = HttpServer::start(routes);
    let refused_url = format!("http://{}/file", closed_port());
    let cases = [
        (
            server.url("/missing.txt"),
            vec!["404 Not Found".to_string(), server.url("/missing.txt")],
        ),
        (
            server.url("/teapot"),
            vec!["418".to_string(), server.url("/teapot")],
        ),
        (
            server.url("/short"),
            vec![
                server.url("/short"),
                "connection closed after 10 of 100 bytes".to_string(),
            ],
        ),
        (
            refused_url.clone(),
            vec![refused_url.clone(), "cannot connect".to_string()],
        ),
    ];
    for (url, needles) in cases {
        let sb = Sandbox::new();
        let ctx = context(&sb, &format!("FROM scratch\nADD {url} /x\n"));
        let out = build(&sb, &ctx, &[], &[]);
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        assert_refused(&sb, &out, &needles);
    }
}

#[test]
fn add_url_same_dockerfile_gives_the_same_digest() {
    let server = HttpServer::start(standard_routes(Vec::new()));
    let dockerfile = format!(
        "FROM scratch\nADD {} /dl/\nADD --chmod=755 {} /bin/tool\n",
        server.url("/files/hello.txt"),
        server.url("/files/tool.sh")
    );
    let mut digests = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        let sb = Sandbox::new();
        let ctx = context(&sb, &dockerfile);
        assert_success(&build(&sb, &ctx, &["--no-cache"], &[]));
        digests.push(iid(&sb));
        stores.push(sb);
    }
    common::assert_same_image(
        (&stores[0].store(), &digests[0]),
        (&stores[1].store(), &digests[1]),
    );
}

#[test]
fn add_url_goes_through_http_proxy_unless_no_proxy() {
    // The URL names a port nobody listens on: only the proxy can answer it.
    let url = format!("http://localhost:{}/files/hello.txt", closed_port().port());
    let mut routes = BTreeMap::new();
    // A proxy gets the absolute URL as the request target.
    routes.insert(url.clone(), Reply::Ok(HELLO.as_bytes().to_vec(), vec![]));
    let proxy = HttpServer::start(routes);
    let proxy_url = PathBuf::from(&proxy.base);

    let sb = Sandbox::new();
    let ctx = context(&sb, &format!("FROM scratch\nADD {url} /p\n"));
    assert_success(&build(&sb, &ctx, &[], &[("HTTP_PROXY", &proxy_url)]));
    let layers = layers(&sb, &iid(&sb));
    assert_eq!(layers[0]["p"].data, HELLO.as_bytes());

    let sb = Sandbox::new();
    let ctx = context(&sb, &format!("FROM scratch\nADD {url} /p\n"));
    let out = build(
        &sb,
        &ctx,
        &[],
        &[
            ("http_proxy", &proxy_url),
            ("NO_PROXY", Path::new("localhost")),
        ],
    );
    assert_refused(&sb, &out, &[&url, "cannot connect"]);
}

// ---- HTTPS ---------------------------------------------------------------------------------

/// A Python `http.server` behind TLS on 127.0.0.1, serving a directory; killed on drop
/// (and it exits by itself after a few minutes in any case).
struct TlsServer {
    child: Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TLS_SERVER: &str = r#"
import http.server, os, signal, ssl, sys
signal.alarm(300)
root, cert, key = sys.argv[1:4]
os.chdir(root)
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// Makes a throwaway CA and a server certificate for 127.0.0.1/localhost in `dir`
/// with the `openssl` CLI; returns (ca.pem, server.pem, server.key).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let p = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let out = run(Command::new("openssl").current_dir(dir).args(args));
        assert_success(&out);
    };
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=lading test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

fn start_tls_server(root: &Path, cert: &Path, key: &Path) -> TlsServer {
    let script = root.parent().unwrap().join("tls_server.py");
    std::fs::write(&script, TLS_SERVER).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(root)
        .arg(cert)
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the TLS server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reading the port");
    let port = line.trim().parse().unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("TLS server printed {line:?} instead of a port")
    });
    TlsServer { child, port }
}

#[test]
fn add_url_over_https_trusts_ssl_cert_file() {
    if !require_tool("openssl") || !require_tool("python3") {
        return;
    }
    let sb = Sandbox::new();
    let (ca, cert, key) = make_certs(&sb.path("pki"));
    sb.write("www/pkg/tool.bin", HELLO);
    let server = start_tls_server(&sb.path("www"), &cert, &key);
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/pkg/tool.bin", server.port);
        let sum = sha256(HELLO.as_bytes());
        let ctx = context(
            &sb,
            &format!("FROM scratch\nADD --checksum={sum} {url} /opt/\n"),
        );

        // Without the CA: a certificate error naming the URL, nothing tagged.
        let out = build(&sb, &ctx, &[], &[]);
        assert_refused(&sb, &out, &[&url, "certificate"]);
        assert!(
            stderr(&out).contains("hint: ") && stderr(&out).contains("SSL_CERT_FILE"),
            "no SSL_CERT_FILE hint:\n{}",
            stderr(&out)
        );

        // With SSL_CERT_FILE naming the CA bundle: the file arrives.
        let out = build(&sb, &ctx, &[], &[("SSL_CERT_FILE", &ca)]);
        assert_success(&out);
        let layers = layers(&sb, &iid(&sb));
        let e = &layers[0]["opt/tool.bin"];
        assert_eq!((e.mode, e.data.as_slice()), (0o600, HELLO.as_bytes()));
        // Clear the tag for the next round's "nothing tagged" check.
        std::fs::remove_dir_all(sb.store()).unwrap();
    }

    // An SSL_CERT_FILE that holds no certificate is named in the error.
    let bogus = sb.write("bogus.pem", "not a certificate\n");
    let url = format!("https://127.0.0.1:{}/pkg/tool.bin", server.port);
    let ctx = context(&sb, &format!("FROM scratch\nADD {url} /opt/\n"));
    let out = build(&sb, &ctx, &[], &[("SSL_CERT_FILE", &bogus)]);
    assert_refused(&sb, &out, &["SSL_CERT_FILE", "bogus.pem"]);
}
