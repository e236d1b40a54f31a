//! The image `sign`, `verify`, `attest` and `verify-attestation` work on: a registry
//! image, or an image of the local store (issue #10).
//!
//! The rule: `docker://REF` is always the registry. Anything else is the store's when the
//! store (`--store`) has it — a tag `REPO[:TAG]` (`:latest` implied), `REPO@sha256:…`
//! among that repository's manifests, or a bare `sha256:…` of a manifest in some
//! repository — and the registry's otherwise (so `127.0.0.1:5000/app@sha256:…` still
//! means that registry: a name with a port is never a store repository).
//!
//! A store image is reached through the store's own registry ([`lading_registry::Server`],
//! what `lading serve` runs), started for the command on an ephemeral 127.0.0.1 port,
//! behind HTTP Basic credentials made up for the run (as `lading scan` serves its
//! scanners), read-only for the verifiers. The commands then go through the very client
//! path they use for a remote registry: the signature manifests, the referrers and their
//! blobs land in the store exactly as `lading serve` would receive them from a `cosign
//! sign` or a `lading sign` pointed at it, and `lading serve` exposes them afterwards.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lading_oci::repository::{split_ref_name, validate_name};
use lading_oci::source::normalize_tag;
use lading_oci::spec::Index;
use lading_oci::{Descriptor, Digest, Reference, SourceRef, Store};
use lading_registry::client::{Client, ClientOptions, Credentials};
use lading_registry::{Auth, Htpasswd, Limits, Registry, Server, ServerConfig};

use crate::cli::args::{Progress, RegistryArgs};
use crate::cli::commands::sign::{docker_reference, resolve};
use crate::cli::registry;

/// The user the command's own client authenticates as to the store's server.
const STORE_USER: &str = "lading-sign";

/// Whether the command writes signatures (`sign`, `attest`) or only reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Pushes allowed.
    ReadWrite,
    /// The store's server refuses every change.
    ReadOnly,
}

/// Where an image is, resolved to its manifest.
pub struct Target {
    /// What the client addresses, by digest: the registry's `REG/REPO@sha256:…`, or
    /// `127.0.0.1:PORT/REPO@sha256:…` on the store's server.
    pub reference: Reference,
    /// A client for that registry.
    pub client: Arc<Client>,
    /// The manifest.
    pub subject: Descriptor,
    /// cosign's `docker-reference` (and an attestation's subject name): the registry's
    /// repository name, or the store's repository (`app` for `app:1`).
    pub docker_ref: String,
    /// The store's server, for a store image; stopped when dropped.
    served: Option<Server>,
}

impl Target {
    /// The manifest digest.
    pub fn digest(&self) -> &Digest {
        &self.subject.digest
    }

    /// `r` as the user knows it: a store image's references without the ephemeral
    /// server's `127.0.0.1:PORT/` (`app@sha256:…`).
    pub fn shown(&self, r: &Reference) -> String {
        let full = r.to_string();
        match &self.served {
            Some(server) => full
                .strip_prefix(&format!("{}/", server.local_addr()))
                .map_or(full.clone(), str::to_string),
            None => full,
        }
    }
}

/// A store image: its repository and manifest.
struct InStore {
    store: Store,
    repository: String,
    descriptor: Descriptor,
}

/// Resolves `image` as the rule in the module docs says, printing on stderr which was
/// used and the digest.
pub fn open(store_dir: &Path, image: &str, args: &RegistryArgs, access: Access) -> Result<Target> {
    if let Some(found) = find_in_store(store_dir, image)? {
        return serve(store_dir, image, found, access);
    }
    let reference = registry::reference(image)?;
    let client = registry::client(args, Progress::Quiet)?;
    let subject = match resolve(&client, &reference) {
        Ok(d) => d,
        Err(e) if !image.starts_with("docker://") => {
            return Err(e.context(format!(
                "{image} is not in the store {}, so the registry was asked for {reference} (docker://REF always means the registry)",
                store_dir.display()
            )));
        }
        Err(e) => return Err(e),
    };
    eprintln!(
        "{image}: using the registry: {}",
        reference.with_digest(subject.digest.clone())
    );
    Ok(Target {
        docker_ref: docker_reference(&reference),
        reference: reference.with_digest(subject.digest.clone()),
        client,
        subject,
        served: None,
    })
}

/// The store's image `image` names, if the store has it. A store that does not exist
/// is not created.
fn find_in_store(store_dir: &Path, image: &str) -> Result<Option<InStore>> {
    if image.starts_with("docker://") || !store_dir.join("index.json").is_file() {
        return Ok(None);
    }
    let SourceRef::Store(name) = SourceRef::parse(image) else {
        return Ok(None);
    };
    let store =
        Store::open(store_dir).with_context(|| format!("opening store {}", store_dir.display()))?;
    let found = if let Ok(digest) = name.parse::<Digest>() {
        let repository = store.index()?.manifests.iter().find_map(|d| {
            let (repo, _) = lading_oci::repository::entry_repository(d)?;
            (d.digest == digest).then(|| (repo.to_string(), d.clone()))
        });
        match repository {
            Some(found) => Some(found),
            None if store.read_blob(&digest).is_ok() => bail!(
                "{digest} is in the store {} but in no repository: tag it (e.g. `lading build -t NAME:TAG`) to sign it there, or name a registry with docker://",
                store_dir.display()
            ),
            None => None,
        }
    } else if let Some((repo, digest)) = name.split_once('@') {
        match (validate_name(repo), digest.parse::<Digest>()) {
            (Ok(()), Ok(digest)) => {
                in_repository(&store, repo, &digest)?.map(|d| (repo.to_string(), d))
            }
            _ => None,
        }
    } else {
        let tagged = normalize_tag(&name);
        match split_ref_name(&tagged) {
            Some((repo, _)) => store.resolve_tag(&tagged)?.map(|d| (repo.to_string(), d)),
            None => None,
        }
    };
    Ok(found.map(|(repository, mut descriptor)| {
        descriptor.annotations.clear();
        descriptor.platform = None;
        InStore {
            store,
            repository,
            descriptor,
        }
    }))
}

/// The manifest `digest` when repository `repo` has it: an entry of the repository, or a
/// manifest an index of the repository lists (as the registry serves them).
fn in_repository(store: &Store, repo: &str, digest: &Digest) -> Result<Option<Descriptor>> {
    let entries = store.repository_entries(repo)?;
    if let Some((_, d)) = entries.iter().find(|(_, d)| &d.digest == digest) {
        return Ok(Some(d.clone()));
    }
    for (_, d) in &entries {
        let Ok(bytes) = store.read_blob(&d.digest) else {
            continue;
        };
        if let Ok(index) = serde_json::from_slice::<Index>(&bytes)
            && let Some(child) = index.manifests.iter().find(|m| &m.digest == digest)
        {
            return Ok(Some(child.clone()));
        }
    }
    Ok(None)
}

/// Serves the store on an ephemeral loopback port for the command and addresses the
/// image there by digest.
fn serve(store_dir: &Path, image: &str, found: InStore, access: Access) -> Result<Target> {
    let (users, credentials) = Htpasswd::generate(STORE_USER)?;
    let auth = Auth {
        htpasswd: Some(users),
        token: None,
    };
    let registry = Registry::new(found.store, Limits::default(), auth);
    registry.set_read_only(access == Access::ReadOnly);
    let server = Server::start(
        registry,
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
        },
    )
    .with_context(|| format!("serving the store {} for the command", store_dir.display()))?;
    let opts = ClientOptions {
        credentials: Some(Credentials::Basic {
            username: credentials.username().to_string(),
            password: credentials.password().to_string(),
        }),
        // The server is this process's own, on loopback: never through a proxy.
        no_proxy: true,
        ..ClientOptions::default()
    };
    let client = Arc::new(Client::new(
        opts,
        Arc::new(crate::progress::Transfers::new(Progress::Quiet)),
    )?);
    let digest = found.descriptor.digest.clone();
    let reference = Reference::parse(&format!(
        "{}/{}@{digest}",
        server.local_addr(),
        found.repository
    ))
    .with_context(|| format!("addressing {image} on the store's registry"))?;
    eprintln!(
        "{image}: using the store {}: {}@{digest}",
        store_dir.display(),
        found.repository
    );
    Ok(Target {
        reference,
        client,
        subject: found.descriptor,
        docker_ref: found.repository,
        served: Some(server),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(tag: &str) -> (tempfile::TempDir, Descriptor) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let desc = store
            .put_bytes(
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#,
                lading_oci::constants::MEDIA_TYPE_MANIFEST,
            )
            .unwrap();
        store.tag(tag, &desc).unwrap();
        (dir, desc)
    }

    #[test]
    fn store_references_are_found_by_tag_digest_and_repo_at_digest() {
        let (dir, desc) = store_with("app:1");
        let repo = |s: &str| {
            find_in_store(dir.path(), s)
                .unwrap()
                .map(|f| (f.repository, f.descriptor.digest))
        };
        let want = Some(("app".to_string(), desc.digest.clone()));
        assert_eq!(repo("app:1"), want);
        assert_eq!(repo(&format!("app@{}", desc.digest)), want);
        assert_eq!(repo(&desc.digest.to_string()), want);
        assert_eq!(repo("app:2"), None);
        assert_eq!(repo("app"), None, "app means app:latest");
        assert_eq!(repo(&format!("other@{}", desc.digest)), None);
        assert_eq!(repo("docker://app:1"), None, "docker:// is the registry");
        assert_eq!(repo(&format!("127.0.0.1:5000/app@{}", desc.digest)), None);
    }

    #[test]
    fn a_missing_store_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        assert!(find_in_store(&store, "app:1").unwrap().is_none());
        assert!(!store.exists());
    }
}
