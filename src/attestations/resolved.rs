//! Recording which images a build read, by digest: every `FROM`, `COPY --from` and
//! `RUN --mount=from=` image, whatever the source (registry, store, OCI layout or
//! archive). The build's resolver wraps each source it hands out in [`Recorded`].

use std::sync::{Arc, Mutex};

use lading_oci::{Digest, Image, ImageSource, Platform, Store};

/// One image the build read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedImage {
    /// The name the Dockerfile or `--build-context` used.
    pub requested: String,
    /// The reference it resolved to (`docker.io/library/alpine:3.20`, `oci:DIR:tag`, …).
    pub reference: String,
    /// The digest it resolved to: the index's for a multi-platform image (as
    /// `org.opencontainers.image.base.digest` records it), else the manifest's.
    pub digest: String,
}

/// The images read so far; cheap to clone, shared with every [`Recorded`] source.
#[derive(Debug, Clone, Default)]
pub struct ResolvedLog(Arc<Mutex<Vec<ResolvedImage>>>);

impl ResolvedLog {
    /// Wraps `inner`, the source the resolver made for `requested`.
    pub fn wrap(&self, requested: &str, inner: Box<dyn ImageSource>) -> Box<dyn ImageSource> {
        Box::new(Recorded {
            inner,
            requested: requested.to_string(),
            log: self.clone(),
        })
    }

    /// Every image read, sorted, each once.
    pub fn images(&self) -> Vec<ResolvedImage> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        all.sort();
        all.dedup();
        all
    }

    fn add(&self, requested: &str, reference: String, digest: &Digest) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ResolvedImage {
                requested: requested.to_string(),
                reference,
                digest: digest.to_string(),
            });
    }
}

/// An image source that records what it resolved to.
pub struct Recorded {
    inner: Box<dyn ImageSource>,
    requested: String,
    log: ResolvedLog,
}

impl ImageSource for Recorded {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn fetch(&self, store: &Store, platform: &Platform) -> lading_oci::Result<Option<Image>> {
        let image = self.inner.fetch(store, platform)?;
        if let Some(i) = &image {
            self.log
                .add(&self.requested, self.inner.name(), &i.descriptor.digest);
        }
        Ok(image)
    }

    fn fetch_resolved(
        &self,
        store: &Store,
        platform: &Platform,
    ) -> lading_oci::Result<Option<(Image, Digest)>> {
        let fetched = self.inner.fetch_resolved(store, platform)?;
        if let Some((_, digest)) = &fetched {
            self.log.add(&self.requested, self.inner.name(), digest);
        }
        Ok(fetched)
    }
}
