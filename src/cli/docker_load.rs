//! `--load`: an image streamed into a running docker engine as a docker archive, through
//! the engine's image load API (`POST /images/load`) over its Unix socket, as buildx's
//! `--load` (and `docker load`) does. No docker client is needed.
//!
//! The engine is `$DOCKER_HOST` (`unix://PATH`), else `/var/run/docker.sock`, as for the
//! docker CLI. The request body is the archive in HTTP/1.1 chunked encoding, written
//! while it is produced; the answer is the engine's JSON message stream.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use lading_oci::{Image, Store, export};

/// The socket the docker CLI uses when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where the engine listens: `DOCKER_HOST` as docker reads it.
pub fn engine_socket(docker_host: Option<&str>) -> Result<PathBuf> {
    match docker_host.filter(|h| !h.is_empty()) {
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
        Some(host) => match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => bail!(
                "DOCKER_HOST={host} is not supported for --load: lading loads through a unix:// socket"
            ),
        },
    }
}

/// Streams `image` (tagged `names`) into the engine at `$DOCKER_HOST` and returns the
/// engine's own lines (`Loaded image: NAME`, or `Loaded image ID: …` when untagged).
pub fn load(store: &Store, image: &Image, names: &[String]) -> Result<Vec<String>> {
    let socket = engine_socket(std::env::var("DOCKER_HOST").ok().as_deref())?;
    let stream = UnixStream::connect(&socket).with_context(|| {
        format!(
            "no docker engine answers at {} (set DOCKER_HOST=unix:///PATH to another engine's socket)",
            socket.display()
        )
    })?;
    let mut reader = BufReader::new(stream.try_clone().context("cloning the engine socket")?);
    let sent = send(stream, store, image, names);
    // An engine that refuses the archive may answer and close before the body is done:
    // its answer says why, better than the broken pipe does.
    let answer = read_response(&mut reader);
    match (sent, answer) {
        (Ok(()), Ok(resp)) => messages(&resp),
        (Err(e), Ok(resp)) if resp.status >= 300 || messages(&resp).is_err() => {
            messages(&resp).context(e)
        }
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e.context("reading the docker engine's answer")),
    }
    .with_context(|| format!("loading into the docker engine at {}", socket.display()))
}

/// Writes the request: headers, then the docker archive as chunked body.
fn send(stream: UnixStream, store: &Store, image: &Image, names: &[String]) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, Chunked { inner: stream });
    write!(
        out.get_mut().inner,
        "POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent: lading/{}\r\n\
         Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .context("sending the load request")?;
    export::write_docker_archive(store, image, &mut out, names)
        .context("streaming the docker archive")?;
    let mut chunked = out
        .into_inner()
        .map_err(|e| e.into_error())
        .context("streaming the docker archive")?;
    chunked
        .inner
        .write_all(b"0\r\n\r\n")
        .and_then(|()| chunked.inner.flush())
        .context("ending the docker archive")?;
    // Done writing: the engine sees the end of the request even if it reads to EOF.
    let _ = chunked.inner.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// HTTP/1.1 chunked transfer encoding of everything written.
struct Chunked<W: Write> {
    inner: W,
}

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write!(self.inner, "{:x}\r\n", buf.len())?;
        self.inner.write_all(buf)?;
        self.inner.write_all(b"\r\n")?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An HTTP response: status and the body, de-chunked.
#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 response (the request asked the engine to close afterwards).
fn read_response(r: &mut impl BufRead) -> Result<Response> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP response: {:?}", line.trim_end()))?;
    let mut chunked = false;
    let mut length = None;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("the answer ended inside its headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<u64>().context("bad Content-Length")?);
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = line.trim_end().split(';').next().unwrap_or_default();
            let size = u64::from_str_radix(size.trim(), 16)
                .with_context(|| format!("bad chunk size {:?}", line.trim_end()))?;
            if size == 0 {
                break;
            }
            r.by_ref().take(size).read_to_end(&mut body)?;
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = length {
        r.by_ref().take(n).read_to_end(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Response { status, body })
}

/// The engine's lines, or its error: `{"message":…}` for a refused request, a JSON
/// stream of `{"stream":…}` / `{"error":…,"errorDetail":…}` for an accepted one.
fn messages(resp: &Response) -> Result<Vec<String>> {
    if !(200..300).contains(&resp.status) {
        let message = serde_json::from_slice::<serde_json::Value>(&resp.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).trim().to_string());
        bail!("the docker engine answered {}: {message}", resp.status);
    }
    let mut lines = Vec::new();
    for value in serde_json::Deserializer::from_slice(&resp.body).into_iter::<serde_json::Value>() {
        let value = value.context("reading the docker engine's messages")?;
        if let Some(error) = value["errorDetail"]["message"]
            .as_str()
            .or_else(|| value["error"].as_str())
        {
            bail!("the docker engine failed to load the image: {error}");
        }
        if let Some(text) = value["stream"].as_str() {
            lines.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_names_the_socket_as_docker_reads_it() {
        assert_eq!(engine_socket(None).unwrap(), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            engine_socket(Some("")).unwrap(),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(
            engine_socket(Some("unix:///run/user/1000/docker.sock")).unwrap(),
            PathBuf::from("/run/user/1000/docker.sock")
        );
        let err = engine_socket(Some("tcp://127.0.0.1:2375")).unwrap_err();
        assert!(format!("{err}").contains("unix://"), "{err}");
    }

    #[test]
    fn chunked_answers_are_reassembled() {
        let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for chunk in [
            "{\"stream\":\"Loaded image: app:1\\n\"}\n",
            "{\"stream\":\"Loaded ",
            "image: b\"}",
        ] {
            raw.extend(format!("{:x}\r\n{chunk}\r\n", chunk.len()).bytes());
        }
        raw.extend(b"0\r\n\r\n");
        let resp = read_response(&mut &raw[..]).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(
            messages(&resp).unwrap(),
            ["Loaded image: app:1", "Loaded image: b"]
        );
    }

    #[test]
    fn engine_errors_are_reported_with_their_message() {
        let raw = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 29\r\n\r\n{\"message\":\"unexpected EOF\"}\n";
        let resp = read_response(&mut &raw[..]).unwrap();
        let err = messages(&resp).unwrap_err();
        assert_eq!(
            format!("{err}"),
            "the docker engine answered 500: unexpected EOF"
        );
        let raw = b"HTTP/1.1 200 OK\r\n\r\n{\"errorDetail\":{\"message\":\"invalid tar header\"},\"error\":\"invalid tar header\"}";
        let resp = read_response(&mut &raw[..]).unwrap();
        let err = messages(&resp).unwrap_err();
        assert!(format!("{err}").ends_with("invalid tar header"), "{err}");
    }
}
