//! Serving a [`Registry`] over HTTP or HTTPS (hyper on tokio, TLS through rustls with the
//! aws-lc-rs provider), with graceful shutdown: on shutdown the listener closes at once
//! and requests in flight get [`GRACE`] to finish. Upload sessions are on disk, so a
//! client cut off by a shutdown can resume against the next server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::Auth;
use crate::error::{Error, Result};
use crate::state::Registry;

/// How long requests in flight may take to finish once shutdown began.
pub const GRACE: Duration = Duration::from_secs(10);
/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Serve HTTPS with this certificate.
    pub tls: Option<TlsFiles>,
}

/// Refuses an address other machines can reach unless clients must authenticate and
/// the connection is encrypted. Loopback addresses are always allowed.
pub fn check_exposure(addr: SocketAddr, auth: &Auth, tls: bool) -> Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !auth.is_enabled() {
        missing.push("authentication (--htpasswd FILE or --token-file FILE)");
    }
    if !tls {
        missing.push("TLS (--tls-cert FILE and --tls-key FILE)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Exposed {
        addr,
        missing: missing.join(" and "),
    })
}

/// Builds the rustls configuration (HTTP/2 and HTTP/1.1 offered through ALPN).
pub fn load_tls(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>> {
    let tls_err = |what: String| Error::Tls { what };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<std::result::Result<_, _>>())
        .map_err(|e| {
            tls_err(format!(
                "reading certificates from {}: {e}",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(tls_err(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err(format!("reading the key from {}: {e}", files.key.display())))?;
    // With the `fips` feature, rustls' aws-lc-rs provider keeps only FIPS-approved
    // suites and key exchanges, on the AWS-LC FIPS module.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if cfg!(feature = "fips") && !config.fips() {
        return Err(tls_err(
            "the TLS configuration is not FIPS-approved (rustls reports fips() = false)".into(),
        ));
    }
    Ok(Arc::new(config))
}

/// Serves `registry` on `listener` until `shutdown` completes, then drains connections
/// for at most [`GRACE`].
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let router = registry.router();
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, go on.
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let result = match acceptor {
                        None => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(conn.into_owned()).await
                        }
                        Some(acceptor) => {
                            let tls = match tokio::time::timeout(
                                HANDSHAKE_TIMEOUT,
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(tls)) => tls,
                                Ok(Err(e)) => {
                                    tracing::debug!("TLS handshake failed: {e}");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(tls), service);
                            watcher.watch(conn.into_owned()).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(GRACE) => {
            tracing::debug!("shutdown: gave up waiting for requests in flight");
        }
    }
}

/// A server running on its own tokio runtime (for the synchronous CLI and for tests).
pub struct Server {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    https: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url()).finish()
    }
}

impl Server {
    /// Checks the exposure rules, binds `config.addr` and starts serving in the
    /// background. Returns once the socket is bound, so clients may connect at once.
    pub fn start(registry: Registry, config: ServerConfig) -> Result<Server> {
        check_exposure(config.addr, &registry.inner.auth, config.tls.is_some())?;
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("lading-registry")
            .build()
            .map_err(|source| Error::Runtime {
                what: "starting the async runtime",
                source,
            })?;
        let bind = |source| Error::Bind {
            addr: config.addr,
            source,
        };
        let std_listener = std::net::TcpListener::bind(config.addr).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let addr = std_listener.local_addr().map_err(bind)?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind)?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let https = tls.is_some();
        let task = runtime.spawn(serve(listener, registry, tls, async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            runtime: Some(runtime),
            addr,
            https,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Blocks until SIGINT (Ctrl-C) or SIGTERM arrives.
    pub fn wait_for_signal(&self) -> Result<()> {
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let installing = |source| Error::Runtime {
                what: "installing a signal handler",
                source,
            };
            let mut term = signal(SignalKind::terminate()).map_err(installing)?;
            let mut int = signal(SignalKind::interrupt()).map_err(installing)?;
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            Ok(())
        })
    }

    /// Stops accepting connections, lets requests in flight finish (at most [`GRACE`])
    /// and stops the runtime.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(runtime), Some(task)) = (self.runtime.as_ref(), self.task.take()) {
            let _ = runtime.block_on(async {
                tokio::time::timeout(GRACE + Duration::from_secs(1), task).await
            });
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tls_provider_is_fips_exactly_in_fips_builds() {
        // The provider the server and reqwest's clients build their configurations from.
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        assert_eq!(provider.fips(), cfg!(feature = "fips"));
    }

    use super::*;

    #[test]
    fn exposure_rules() {
        let open = Auth::default();
        let locked = Auth {
            htpasswd: None,
            token: Some("t".into()),
        };
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        assert!(check_exposure(lo, &open, false).is_ok());
        assert!(check_exposure(lo6, &open, false).is_ok());
        let missing = |auth, tls| match check_exposure(any, auth, tls) {
            Err(Error::Exposed { missing, .. }) => missing,
            other => panic!("{other:?}"),
        };
        let m = missing(&open, false);
        assert!(m.contains("--htpasswd") && m.contains("--tls-cert"), "{m}");
        let m = missing(&locked, false);
        assert!(!m.contains("--htpasswd") && m.contains("--tls-cert"), "{m}");
        assert!(check_exposure(any, &open, true).is_err());
        assert!(check_exposure(any, &locked, true).is_ok());
    }
}
