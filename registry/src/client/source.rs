//! A registry image as an [`ImageSource`] (for `FROM` and `COPY --from`), with docker's
//! pull policy: an image already in the store under the reference's name is used as it
//! is, unless the policy says to pull.

use std::sync::Arc;

use lading_oci::graph::mark_partial;
use lading_oci::source::resolve_in_store;
use lading_oci::{Digest, Image, ImageSource, Platform, Reference, Store};

use super::Client;

/// When to ask the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when the store has no image of that name for the platform (docker's default).
    Missing,
    /// Always (`--pull`): the tag is resolved again and new content pulled.
    Always,
}

/// An image in a registry, pulled into the store when needed and tagged there with its
/// short name (`alpine:latest`, `127.0.0.1:5000/app:1`), as `docker pull` names it.
pub struct RemoteImage {
    client: Arc<Client>,
    reference: Reference,
    policy: PullPolicy,
}

impl RemoteImage {
    /// `reference` through `client` with `policy`.
    pub fn new(client: Arc<Client>, reference: Reference, policy: PullPolicy) -> RemoteImage {
        RemoteImage {
            client,
            reference,
            policy,
        }
    }

    /// The name the store keeps the image under (none for a digest-only reference).
    pub fn store_name(reference: &Reference) -> Option<String> {
        reference
            .tag()
            .map(|t| format!("{}:{t}", reference.familiar_name()))
    }

    /// What the store holds for the reference: its digest when it has one, else its
    /// short name or its full name as a tag.
    fn local(&self, store: &Store) -> lading_oci::Result<Option<lading_oci::Descriptor>> {
        if let Some(d) = self.reference.digest() {
            return resolve_in_store(store, &d.to_string());
        }
        for name in [
            Self::store_name(&self.reference),
            Some(self.reference.to_string()),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(d) = store.resolve_tag(&name)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Pulls the image for `platform` into the store and tags it; returns the descriptor
    /// the reference resolved to.
    pub fn pull(
        &self,
        store: &Store,
        platform: &Platform,
    ) -> Result<lading_oci::Descriptor, super::ClientError> {
        let pulled =
            self.client
                .pull(store, &self.reference, Some(std::slice::from_ref(platform)))?;
        if let Some(name) = Self::store_name(&self.reference) {
            let complete =
                !pulled.partial || lading_oci::graph::is_complete(store, &pulled.descriptor);
            store.tag(&name, &mark_partial(&pulled.descriptor, !complete))?;
        }
        Ok(pulled.descriptor)
    }
}

impl ImageSource for RemoteImage {
    fn name(&self) -> String {
        self.reference.to_string()
    }

    fn fetch(&self, store: &Store, platform: &Platform) -> lading_oci::Result<Option<Image>> {
        Ok(self.fetch_resolved(store, platform)?.map(|(i, _)| i))
    }

    fn fetch_resolved(
        &self,
        store: &Store,
        platform: &Platform,
    ) -> lading_oci::Result<Option<(Image, Digest)>> {
        let mut why = "";
        if self.policy == PullPolicy::Missing {
            why = " (not in the local store)";
            if let Some(desc) = self.local(store)? {
                // Present for this platform: used as it is (docker's "missing" policy).
                if let Ok(image) = Image::load(store, &desc, platform) {
                    return Ok(Some((image, desc.digest)));
                }
                why = " (the local store lacks this platform)";
            }
        }
        let desc = self
            .pull(store, platform)
            .map_err(|e| lading_oci::Error::Source {
                what: format!("pulling {}{why}", self.reference),
                source: Box::new(e),
            })?;
        let image = Image::load(store, &desc, platform)?;
        Ok(Some((image, desc.digest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_are_docker_short_names() {
        let n = |s: &str| RemoteImage::store_name(&Reference::parse(s).unwrap());
        assert_eq!(n("alpine").as_deref(), Some("alpine:latest"));
        assert_eq!(n("docker.io/library/alpine:3").as_deref(), Some("alpine:3"));
        assert_eq!(
            n("127.0.0.1:5000/a/b:1").as_deref(),
            Some("127.0.0.1:5000/a/b:1")
        );
        let d = format!("alpine@sha256:{}", "0".repeat(64));
        assert_eq!(n(&d), None, "digest-only references are not tagged");
    }
}
