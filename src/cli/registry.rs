//! Registry plumbing shared by the commands: the client from the flags, `docker://`
//! places, and the `FROM` resolver.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lading_oci::{Digest, ImageSource, Reference, SourceRef};
use lading_registry::client::{Client, ClientOptions, Credentials, PullPolicy, RemoteImage};

use crate::cli::args::{Progress, RegistryArgs};
use crate::progress::Transfers;

/// A client configured by the flags, rendering transfers in `mode`.
pub fn client(args: &RegistryArgs, mode: Progress) -> Result<Arc<Client>> {
    let mut opts = ClientOptions {
        tls_verify: args.tls_verify,
        insecure_registries: args.insecure_registries.clone(),
        cert_dirs: args.cert_dirs.clone(),
        chunk_size: args.chunk_size.max(1),
        ..ClientOptions::default()
    };
    if let Some(f) = &args.authfile {
        opts.auth_file = Some(f.clone());
    }
    if let Some(c) = &args.creds {
        let (username, password) = c
            .split_once(':')
            .context("--creds: expected USER:PASSWORD")?;
        opts.credentials = Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    Ok(Arc::new(Client::new(opts, Arc::new(Transfers::new(mode)))?))
}

/// `auto` resolved for a command that prints transfers on stderr.
pub fn progress_mode(quiet: bool) -> Progress {
    use std::io::IsTerminal;
    if quiet {
        Progress::Quiet
    } else if std::io::stderr().is_terminal() {
        Progress::Tty
    } else {
        Progress::Plain
    }
}

/// Where an image is or goes.
#[derive(Debug, Clone)]
pub enum Place {
    /// A registry (`docker://REF`).
    Registry(Reference),
    /// Anything else `SourceRef` knows (store, OCI layout, archives, scratch).
    Local(SourceRef),
}

/// Parses `docker://REF` or a local place.
pub fn place(s: &str) -> Result<Place> {
    match s.strip_prefix("docker://") {
        Some(rest) => Ok(Place::Registry(
            Reference::parse(rest).with_context(|| format!("in {s:?}"))?,
        )),
        None => Ok(Place::Local(SourceRef::parse(s))),
    }
}

/// Parses a reference that must name a registry image (`docker://` optional).
pub fn reference(s: &str) -> Result<Reference> {
    let r = s.strip_prefix("docker://").unwrap_or(s);
    if r.starts_with("oci:") || r.starts_with("oci-archive:") || r.starts_with("docker-archive:") {
        bail!("{s:?} is not a registry reference (expected docker://REGISTRY/REPO[:TAG])");
    }
    Reference::parse(r).with_context(|| format!("in {s:?}"))
}

/// The source a `FROM` (or `COPY --from`) name means: `scratch`, `oci:`, `oci-archive:`
/// and `docker-archive:` places and bare digests stay local; every other valid reference
/// is a registry image, taken from the store when it is there (docker's default) unless
/// `policy` is [`PullPolicy::Always`] (`--pull`).
pub fn from_source(name: &str, client: &Arc<Client>, policy: PullPolicy) -> Box<dyn ImageSource> {
    match SourceRef::parse(name) {
        SourceRef::Store(s) => {
            if s.parse::<Digest>().is_ok() {
                return Box::new(SourceRef::Store(s));
            }
            let r = s.strip_prefix("docker://").unwrap_or(&s);
            match Reference::parse(r) {
                Ok(r) => Box::new(RemoteImage::new(client.clone(), r, policy)),
                Err(_) => Box::new(SourceRef::Store(s)),
            }
        }
        other => Box::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_names_local_places_stay_local_references_go_remote() {
        let args = RegistryArgs {
            tls_verify: true,
            insecure_registries: Vec::new(),
            cert_dirs: Vec::new(),
            authfile: None,
            creds: None,
            chunk_size: 1,
        };
        let c = client(&args, Progress::Quiet).unwrap();
        let name = |s: &str| from_source(s, &c, PullPolicy::Missing).name();
        assert_eq!(name("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(name("hello:1"), "docker.io/library/hello:1");
        assert_eq!(name("docker://127.0.0.1:5000/a:1"), "127.0.0.1:5000/a:1");
        assert_eq!(name("scratch"), "scratch");
        assert_eq!(name("oci:dir:t"), "oci:dir:t");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(name(&d), d, "a bare digest is a store lookup");
        assert_eq!(name("Not/A/Reference"), "Not/A/Reference");
    }

    #[test]
    fn places() {
        assert!(matches!(
            place("docker://alpine").unwrap(),
            Place::Registry(_)
        ));
        assert!(matches!(
            place("oci:x:y").unwrap(),
            Place::Local(SourceRef::OciDir { .. })
        ));
        assert!(matches!(
            place("app:1").unwrap(),
            Place::Local(SourceRef::Store(_))
        ));
        assert!(place("docker://UPPER").is_err());
        assert!(reference("oci:dir").is_err());
        assert_eq!(
            reference("docker://alpine").unwrap().familiar(),
            "alpine:latest"
        );
    }
}
