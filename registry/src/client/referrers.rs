//! Referrers (distribution-spec v1.1 "Listing Referrers" and "Referrers Tag Schema"):
//! the API when the registry has it, else the index tagged `<alg>-<hex>` that clients
//! maintain themselves.

use lading_oci::constants::{MEDIA_TYPE_EMPTY, MEDIA_TYPE_INDEX};
use lading_oci::graph::Node;
use lading_oci::spec::{Index, from_json, to_canonical_json};
use lading_oci::{Descriptor, Digest, Reference, Store};
use reqwest::header;
use reqwest::{Method, StatusCode};

use super::error::{ClientError, Result};
use super::transport::{HostRef, Req, header_str, pull_scope, status_error, with_query};
use super::{Client, Inner, read_limited};
use crate::constants::OCI_FILTERS_APPLIED;

/// Referrers of a manifest, and how they were found.
#[derive(Debug, Clone)]
pub struct Referrers {
    /// The listing: an image index whose `manifests` are the referrers.
    pub index: Index,
    /// True when the registry's referrers API answered; false when the tag schema was
    /// used.
    pub via_api: bool,
}

/// The tag the referrers tag schema uses for `digest` (`sha256-<hex>`).
pub fn referrers_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().name(), digest.hex())
}

impl Client {
    /// The referrers of `reference`'s digest in its repository, filtered by
    /// `artifact_type` when given.
    pub fn referrers(
        &self,
        reference: &Reference,
        artifact_type: Option<&str>,
    ) -> Result<Referrers> {
        let digest = reference
            .digest()
            .cloned()
            .ok_or_else(|| ClientError::Protocol {
                what: format!("referrers of {reference}"),
                reason: "the reference needs a digest (name@sha256:…)".into(),
            })?;
        let inner = self.inner.clone();
        self.runtime.block_on(async move {
            let host = inner.host(reference.registry()).await?;
            inner
                .referrers(&host, reference.repository(), &digest, artifact_type)
                .await
        })
    }
}

impl Inner {
    async fn referrers(
        &self,
        host: &HostRef,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers> {
        let scopes = [pull_scope(repo)];
        let mut url = host.url(&format!("{repo}/referrers/{digest}"));
        if let Some(t) = artifact_type {
            url = with_query(&url, "artifactType", t)?;
        }
        let req = Req::new(Method::GET, url).header(header::ACCEPT, MEDIA_TYPE_INDEX);
        let resp = host.send(&scopes, &req, 3).await?;
        let repository = format!("{}/{repo}", host.registry);
        let is_index =
            header_str(&resp, "content-type").is_some_and(|c| c.starts_with(MEDIA_TYPE_INDEX));
        if resp.status() == StatusCode::OK && is_index {
            let filtered = header_str(&resp, OCI_FILTERS_APPLIED)
                .is_some_and(|f| f.split(',').any(|x| x.trim() == "artifactType"));
            let body = read_limited(resp, &req, lading_oci::constants::MAX_JSON_BLOB).await?;
            let mut index: Index = from_json(&body, "referrers index")?;
            if !filtered {
                filter(&mut index, artifact_type);
            }
            return Ok(Referrers {
                index,
                via_api: true,
            });
        }
        if resp.status() != StatusCode::NOT_FOUND && resp.status() != StatusCode::OK {
            return Err(status_error(&req, resp, "referrers", &repository).await);
        }
        // No referrers API (404, or a 200 that is not an index): the tag schema.
        let mut index = self
            .tag_index(host, repo, digest)
            .await?
            .unwrap_or_else(empty_index);
        filter(&mut index, artifact_type);
        Ok(Referrers {
            index,
            via_api: false,
        })
    }

    /// The referrers-tag index of `subject`, if there is one.
    async fn tag_index(
        &self,
        host: &HostRef,
        repo: &str,
        subject: &Digest,
    ) -> Result<Option<Index>> {
        let tag = referrers_tag(subject);
        match self.get_manifest(host, repo, &tag, None).await {
            Ok(f) => Ok(Some(from_json(&f.bytes, "referrers tag index")?)),
            Err(ClientError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `referrer` (a manifest in the store whose subject is `subject`) to the
    /// subject's referrers-tag index and pushes the index under that tag.
    pub(crate) async fn add_referrers_to_tag(
        &self,
        host: &HostRef,
        repo: &str,
        subject: &Descriptor,
        referrers: &[Descriptor],
        store: &Store,
        scopes: &[String],
    ) -> Result<()> {
        let mut index = self
            .tag_index(host, repo, &subject.digest)
            .await?
            .unwrap_or_else(empty_index);
        let before = index.manifests.len();
        for referrer in referrers {
            if !index.manifests.iter().any(|d| d.digest == referrer.digest) {
                index.manifests.push(referrer_descriptor(store, referrer)?);
            }
        }
        if index.manifests.len() == before {
            return Ok(());
        }
        let bytes = to_canonical_json(&index)?;
        let tag = referrers_tag(&subject.digest);
        let req = Req::new(Method::PUT, host.url(&format!("{repo}/manifests/{tag}")))
            .header(header::CONTENT_TYPE, MEDIA_TYPE_INDEX)
            .body(bytes::Bytes::from(bytes));
        let repository = format!("{}/{repo}", host.registry);
        host.expect(
            scopes,
            &req,
            &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED],
            &format!("manifest {tag}"),
            &repository,
        )
        .await?;
        Ok(())
    }
}

/// The descriptor a referrers listing holds for a manifest: its `artifactType` (the
/// config's media type when it has none) and its annotations.
pub fn referrer_descriptor(store: &Store, referrer: &Descriptor) -> Result<Descriptor> {
    let bytes = store.read_blob(&referrer.digest)?;
    let mut d = Descriptor::new(
        referrer.media_type.clone(),
        referrer.digest.clone(),
        referrer.size,
    );
    match Node::parse(&referrer.media_type, &bytes)? {
        Node::Manifest(m) => {
            d.artifact_type = m.artifact_type.clone().or_else(|| {
                (m.config.media_type != MEDIA_TYPE_EMPTY).then(|| m.config.media_type.clone())
            });
            d.annotations = m.annotations;
        }
        Node::Index(i) => {
            d.artifact_type = i.artifact_type.clone();
            d.annotations = i.annotations;
        }
    }
    Ok(d)
}

fn filter(index: &mut Index, artifact_type: Option<&str>) {
    if let Some(t) = artifact_type {
        index
            .manifests
            .retain(|d| d.artifact_type.as_deref() == Some(t));
    }
}

fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        ..Index::default()
    }
}
