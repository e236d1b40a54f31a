//! Fetching what a provenance names: the git checkout of the context, and the base
//! images by their recorded digests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lading_oci::source::{copy_image, resolve_in_store};
use lading_oci::{Digest, Image, ImageSource, Platform, Reference, SourceRef, Store};
use lading_registry::client::{Client, PullPolicy, RemoteImage};
use serde::Serialize;

use super::provenance::{GitSource, RecordedImage};

/// Clones `git` into `dest` at its commit, under umask 022 (git records only the
/// executable bit: 0644/0755 is what a checkout under the common umask has, whatever
/// this process's umask is); returns the context directory inside it.
pub fn checkout(git: &GitSource, dest: &Path) -> Result<PathBuf> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "umask 022 && git clone --quiet --no-checkout -- \"$1\" \"$2\" \
             && git -C \"$2\" -c advice.detachedHead=false checkout --quiet --detach \"$3\"",
        )
        .arg("sh")
        .arg(git.clone_url())
        .arg(dest)
        .arg(&git.commit)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "fetching {} at {}: {}",
            git.uri,
            git.commit,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let head = Command::new("git")
        .arg("-C")
        .arg(dest)
        .args(["rev-parse", "HEAD"])
        .output()
        .context("running git")?;
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if head != git.commit {
        bail!("{} checked out {head}, not {}", git.uri, git.commit);
    }
    let dir = if git.path.is_empty() {
        dest.to_path_buf()
    } else {
        dest.join(&git.path)
    };
    if !dir.is_dir() {
        bail!(
            "{} at {} has no directory {:?}",
            git.uri,
            git.commit,
            git.path
        );
    }
    Ok(dir)
}

/// What became of one recorded image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseImage {
    /// The name the Dockerfile used.
    pub requested: String,
    /// The reference recorded.
    pub reference: String,
    /// The digest recorded.
    pub recorded: Digest,
    /// What the reference's tag names now (when it has one and the registry answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_now: Option<Digest>,
    /// Where the recorded digest was found: `registry`, `store`, or absent (then the
    /// rebuild resolves the name as a build would).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_in: Option<String>,
    /// What the rebuild read (from its own build record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<Digest>,
}

/// How the rebuild gets one image: by the recorded digest, named as recorded (so
/// `org.opencontainers.image.base.name` is what it was).
pub enum Pin {
    /// From the registry, by digest.
    Registry(Reference),
    /// Copied from the user's store.
    Store(PathBuf),
}

/// An image source fetching the recorded digest, under the recorded name.
pub struct Pinned {
    name: String,
    digest: Digest,
    pin: Arc<Pin>,
    client: Arc<Client>,
}

impl Pinned {
    /// The source for `image`, fetched as `pin` says.
    pub fn new(image: &BaseImage, pin: Arc<Pin>, client: Arc<Client>) -> Pinned {
        Pinned {
            name: image.reference.clone(),
            digest: image.recorded.clone(),
            pin,
            client,
        }
    }
}

impl ImageSource for Pinned {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn fetch(&self, store: &Store, platform: &Platform) -> lading_oci::Result<Option<Image>> {
        Ok(self.fetch_resolved(store, platform)?.map(|(i, _)| i))
    }

    fn fetch_resolved(
        &self,
        store: &Store,
        platform: &Platform,
    ) -> lading_oci::Result<Option<(Image, Digest)>> {
        match self.pin.as_ref() {
            Pin::Registry(r) => RemoteImage::new(
                self.client.clone(),
                r.with_digest(self.digest.clone()),
                PullPolicy::Missing,
            )
            .fetch_resolved(store, platform),
            Pin::Store(dir) => {
                let user = Store::open(dir)?;
                let desc = resolve_in_store(&user, &self.digest.to_string())?.ok_or_else(|| {
                    lading_oci::Error::Invalid {
                        what: self.name.clone(),
                        reason: format!("{} is no longer in the store", self.digest),
                    }
                })?;
                let open = |d: &lading_oci::Descriptor| {
                    std::fs::File::open(user.blob_path(&d.digest)).map_err(|e| {
                        lading_oci::Error::Invalid {
                            what: format!("blob {}", d.digest),
                            reason: e.to_string(),
                        }
                    })
                };
                let image = copy_image(store, &desc, platform, &self.name, &open)?;
                Ok(Some((image, self.digest.clone())))
            }
        }
    }
}

/// Where each recorded image can be had by its digest: the registry its reference
/// names, else the user's store (`store_dir`); also what its tag names now.
pub fn locate(
    images: &[RecordedImage],
    client: &Client,
    store_dir: &Path,
) -> Vec<(BaseImage, Option<Pin>)> {
    let user = Store::open(store_dir).ok();
    images
        .iter()
        .map(|i| {
            let mut base = BaseImage {
                requested: i.requested.clone(),
                reference: i.reference.clone(),
                recorded: i.digest.clone(),
                tag_now: None,
                found_in: None,
                used: None,
            };
            let mut pin = None;
            let registry_ref = match SourceRef::parse(&i.reference) {
                SourceRef::Store(s) => Reference::parse(&s).ok(),
                _ => None,
            };
            if let Some(r) = &registry_ref {
                if r.tag().is_some() {
                    base.tag_now = client.resolve(r).ok().flatten().map(|d| d.digest);
                }
                if let Ok(Some(_)) = client.resolve(&r.with_digest(i.digest.clone())) {
                    base.found_in = Some("registry".into());
                    pin = Some(Pin::Registry(r.clone()));
                }
            }
            if pin.is_none()
                && let Some(u) = &user
                && resolve_in_store(u, &i.digest.to_string())
                    .ok()
                    .flatten()
                    .is_some()
            {
                base.found_in = Some("store".into());
                pin = Some(Pin::Store(store_dir.to_path_buf()));
            }
            (base, pin)
        })
        .collect()
}
