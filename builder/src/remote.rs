//! Remote sources of `ADD <http(s) URL> <dest>`, the way BuildKit's HTTP source
//! (`source/http`) and its Dockerfile frontend (`dockerfile2llb`) treat them:
//!
//! * the file is named after the last segment of the URL's (percent-decoded) path,
//!   `__unnamed__` when the path has none, and made safe the way BuildKit's
//!   `pathutil.SafeFileName` does (`download` for `.`, `..`, empty or control
//!   characters). The Dockerfile frontend always passes that name to the HTTP
//!   source, so a `Content-Disposition` header never renames the file;
//! * `--checksum=sha256:<hex>` pins the content: a download with another digest is
//!   an error and nothing is added;
//! * the body is streamed to a file under the build's temp dir while it is hashed
//!   (through [`lading_oci::hash`], so a FIPS build hashes in the validated module).
//!
//! TLS is rustls with its default aws-lc-rs provider, verifying against the system
//! roots; `SSL_CERT_FILE` (a PEM bundle) and `SSL_CERT_DIR` replace them, as with
//! OpenSSL. `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are honoured.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lading_oci::Digest;
use lading_oci::digest::Algorithm;
use lading_oci::hash::HashingWriter;

/// Redirects followed before giving up (Go's `http.Client`, which BuildKit uses,
/// stops after 10 too).
pub const MAX_REDIRECTS: usize = 10;

/// How long to wait for a connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may stay silent (no response headers, or no body bytes)
/// before the download is abandoned. This bounds idle time, not the whole download.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The name BuildKit gives a download whose URL path has no last segment.
pub const UNNAMED: &str = "__unnamed__";

/// The name BuildKit's `SafeFileName` falls back to.
const FALLBACK_NAME: &str = "download";

/// Result type of this module.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// Why a remote source could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The source is not a valid http(s) URL.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, credentials redacted.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// `--checksum` is not a sha256 digest.
    #[error("invalid --checksum {value:?}: {reason}")]
    InvalidChecksum {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `SSL_CERT_FILE` names a file that cannot be used.
    #[error("SSL_CERT_FILE {path}: {reason}")]
    CaBundle {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("setting up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request failed before a response arrived (DNS, connection, TLS, redirects).
    #[error("fetching {url}: {what}")]
    Request {
        /// The URL, credentials redacted.
        url: String,
        /// What kind of failure it was.
        what: &'static str,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a status other than 2xx.
    #[error("fetching {url}: server answered {status}")]
    Status {
        /// The URL, credentials redacted.
        url: String,
        /// The status line, e.g. `404 Not Found`.
        status: String,
    },
    /// The connection ended before `Content-Length` bytes arrived.
    #[error(
        "fetching {url}: connection closed after {actual} of {expected} bytes (Content-Length)"
    )]
    Truncated {
        /// The URL, credentials redacted.
        url: String,
        /// `Content-Length`.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// Reading the body failed.
    #[error("fetching {url}: reading the body failed after {received} bytes")]
    Body {
        /// The URL, credentials redacted.
        url: String,
        /// Bytes received before the failure.
        received: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The content does not have the digest `--checksum` asked for.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// The URL, credentials redacted.
        url: String,
        /// `--checksum`.
        expected: Digest,
        /// The digest of what was downloaded.
        actual: Digest,
    },
    /// Writing the download to disk failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A finished, verified download.
#[derive(Debug, Clone)]
pub struct Download {
    /// The file name it gets in the image (see [`file_name`]).
    pub name: String,
    /// Where the content is on the host.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Digest of the content.
    pub digest: Digest,
}

/// Whether an `ADD` source word is an http(s) URL (BuildKit's test: the prefix,
/// case-sensitive).
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// Parses `--checksum`: only `sha256:<64 lowercase hex>` is accepted.
pub fn parse_checksum(value: &str) -> Result<Digest> {
    let invalid = |reason: &str| RemoteError::InvalidChecksum {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let Some((alg, _)) = value.split_once(':') else {
        return Err(invalid("expected sha256:<64 hex digits>"));
    };
    if alg != "sha256" {
        return Err(invalid(&format!(
            "algorithm {alg:?} is not supported; use sha256:<64 hex digits>"
        )));
    }
    let digest: Digest = value
        .parse()
        .map_err(|_| invalid("expected sha256:<64 lowercase hex digits>"))?;
    if digest.algorithm() != Algorithm::Sha256 {
        return Err(invalid("expected sha256:<64 hex digits>"));
    }
    Ok(digest)
}

/// The name a download of `url` gets: BuildKit's Dockerfile frontend takes
/// `path.Base` of the URL's decoded path (`__unnamed__` when that is `.` or `/`), and
/// its HTTP source then applies `SafeFileName` to it. Query and fragment never count.
pub fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    // Go's url.Parse fails on a bad escape; the frontend then uses `__unnamed__`.
    let Some(decoded) = percent_decode(path) else {
        return UNNAMED.to_string();
    };
    let base = go_path_base(&decoded);
    let name = if base == "." || base == "/" {
        UNNAMED
    } else {
        base
    };
    safe_file_name(name)
}

/// Go's `path.Base`.
fn go_path_base(p: &str) -> &str {
    if p.is_empty() {
        return ".";
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// BuildKit's `pathutil.SafeFileName`: a single, harmless path component.
fn safe_file_name(name: &str) -> String {
    let name = name.trim();
    if name.chars().any(char::is_control) {
        return FALLBACK_NAME.to_string();
    }
    let base = go_path_base(name);
    match base {
        "" | "." | ".." | "/" => FALLBACK_NAME.to_string(),
        b => b.to_string(),
    }
}

/// Decodes `%XX` escapes; `None` on a malformed escape (Go's `url.Parse` rejects it).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// `url` with any `user:password@` replaced, for messages (BuildKit redacts too).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://xxxxx:xxxxx@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Downloads http(s) URLs. One per build: it holds the connection pool and roots.
pub struct Fetcher {
    client: reqwest::blocking::Client,
}

impl Fetcher {
    /// A fetcher configured from the environment (`SSL_CERT_FILE`, proxies).
    pub fn from_env() -> Result<Fetcher> {
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(concat!("lading/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(IDLE_TIMEOUT)
            .tls_backend_rustls();
        if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
            builder = builder.tls_certs_merge(ca_bundle(Path::new(&path))?);
        }
        Ok(Fetcher {
            client: builder.build().map_err(RemoteError::Client)?,
        })
    }

    /// Downloads `url` into a new file named [`file_name`]`(url)` inside `dir` (which
    /// must be empty of that name), hashing while it streams. `expected` is
    /// `--checksum`; a mismatch removes the file. `progress` is told the byte count
    /// as it grows.
    pub fn fetch(
        &self,
        url: &str,
        dir: &Path,
        expected: Option<&Digest>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Download> {
        let shown = redact(url);
        let parsed = reqwest::Url::parse(url).map_err(|e| RemoteError::InvalidUrl {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RemoteError::InvalidUrl {
                url: shown,
                reason: "only http and https are supported".into(),
            });
        }
        let mut resp = self
            .client
            .get(parsed)
            .send()
            .map_err(|e| RemoteError::Request {
                url: shown.clone(),
                what: request_failure(&e),
                source: e.without_url(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(RemoteError::Status {
                url: shown,
                status: status.to_string(),
            });
        }
        let content_length = resp.content_length();
        let name = file_name(url);
        let path = dir.join(&name);
        let file = File::create(&path).map_err(|source| RemoteError::Io {
            op: "creating",
            path: path.clone(),
            source,
        })?;
        let mut out = HashingWriter::new(BufWriter::new(file));
        let mut buf = vec![0u8; 64 * 1024];
        let mut received = 0u64;
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(match content_length {
                        Some(expected) if received < expected => RemoteError::Truncated {
                            url: shown,
                            expected,
                            actual: received,
                        },
                        _ => RemoteError::Body {
                            url: shown,
                            received,
                            source,
                        },
                    });
                }
            };
            out.write_all(&buf[..n]).map_err(|source| RemoteError::Io {
                op: "writing",
                path: path.clone(),
                source,
            })?;
            received += n as u64;
            progress(received);
        }
        if let Some(expected) = content_length
            && received != expected
        {
            return Err(RemoteError::Truncated {
                url: shown,
                expected,
                actual: received,
            });
        }
        let (writer, digest, size) = out.finish();
        let file = writer.into_inner().map_err(|e| RemoteError::Io {
            op: "writing",
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| RemoteError::Io {
            op: "syncing",
            path: path.clone(),
            source,
        })?;
        if let Some(expected) = expected
            && *expected != digest
        {
            // Nothing of a mismatching download may be used; the temp dir is removed
            // with the build, but do not leave it lying around until then.
            let _ = std::fs::remove_file(&path);
            return Err(RemoteError::ChecksumMismatch {
                url: shown,
                expected: expected.clone(),
                actual: digest,
            });
        }
        Ok(Download {
            name,
            path,
            size,
            digest,
        })
    }
}

/// Reads `SSL_CERT_FILE`: a PEM bundle with at least one certificate.
fn ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let bad = |reason: String| RemoteError::CaBundle {
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

/// A short, lowercase description of why a request failed, for the message; the
/// client's own error follows as the cause.
fn request_failure(e: &reqwest::Error) -> &'static str {
    if e.is_redirect() {
        return "too many redirects";
    }
    if e.is_timeout() {
        return "timed out";
    }
    let chain = error_chain(e).to_ascii_lowercase();
    if chain.contains("certificate") {
        "TLS certificate verification failed"
    } else if chain.contains("corrupt message")
        || chain.contains("alert")
        || chain.contains("handshake")
        || chain.contains("peer is incompatible")
    {
        "TLS handshake failed"
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        "cannot resolve host"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_the_last_path_segment() {
        assert_eq!(
            file_name("https://example.com/a/b/tool.tar.gz"),
            "tool.tar.gz"
        );
        assert_eq!(file_name("http://example.com/file"), "file");
    }

    #[test]
    fn name_ignores_query_and_fragment() {
        assert_eq!(
            file_name("https://example.com/dl/app.bin?token=abc/def#frag/x"),
            "app.bin"
        );
    }

    #[test]
    fn name_of_a_directory_url_is_its_last_segment() {
        // Go's path.Base drops trailing slashes.
        assert_eq!(file_name("https://example.com/releases/"), "releases");
    }

    #[test]
    fn name_without_a_path_is_unnamed() {
        assert_eq!(file_name("https://example.com"), UNNAMED);
        assert_eq!(file_name("https://example.com/"), UNNAMED);
        assert_eq!(file_name("https://example.com//"), UNNAMED);
        assert_eq!(file_name("https://example.com?x=1"), UNNAMED);
    }

    #[test]
    fn name_is_percent_decoded() {
        assert_eq!(file_name("https://example.com/a%20b.txt"), "a b.txt");
        // An encoded slash is a separator once decoded, as in Go's u.Path.
        assert_eq!(file_name("https://example.com/x%2Fy.txt"), "y.txt");
    }

    #[test]
    fn name_with_a_bad_escape_is_unnamed() {
        assert_eq!(file_name("https://example.com/a%zz"), UNNAMED);
        assert_eq!(file_name("https://example.com/a%2"), UNNAMED);
    }

    #[test]
    fn unsafe_names_become_download() {
        assert_eq!(file_name("https://example.com/a/.."), "download");
        // `.` is caught earlier, by the frontend's own rule.
        assert_eq!(file_name("https://example.com/a/."), UNNAMED);
        assert_eq!(file_name("https://example.com/a%0Ab"), "download");
        assert_eq!(file_name("https://example.com/%00"), "download");
        assert_eq!(file_name("https://example.com/%20name%20"), "name");
    }

    #[test]
    fn checksum_must_be_sha256() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_checksum(&format!("sha256:{hex}"))
                .unwrap()
                .to_string(),
            format!("sha256:{hex}")
        );
        for bad in [
            "",
            "abc",
            "sha256:",
            "sha256:xyz",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "a".repeat(63)),
            &format!("md5:{hex}"),
            &format!("sha512:{}", "a".repeat(128)),
        ] {
            let err = parse_checksum(bad).unwrap_err().to_string();
            assert!(err.contains("invalid --checksum"), "{bad}: {err}");
        }
        let err = parse_checksum(&format!("sha512:{}", "a".repeat(128)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"sha512\" is not supported"), "{err}");
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://user:secret@example.com/f?x=a@b"),
            "https://xxxxx:xxxxx@example.com/f?x=a@b"
        );
        assert_eq!(redact("https://example.com/a@b"), "https://example.com/a@b");
    }

    #[test]
    fn urls_are_recognised_by_prefix() {
        assert!(is_url("http://x/y"));
        assert!(is_url("https://x/y"));
        assert!(!is_url("HTTP://x/y"));
        assert!(!is_url("ftp://x/y"));
        assert!(!is_url("./http://x"));
    }
}
