//! Where cosign signatures live in a registry, written and read with the registry client:
//! the legacy `sha256-<hex>.sig` manifest (simple signing, one layer per signature) and
//! Sigstore bundles stored as OCI 1.1 referrers of the image (the registry's referrers
//! API, or the referrers tag schema the client maintains where there is none).

use anyhow::{Context, Result};
use lading_oci::{Descriptor, Digest, Reference, Store};
use lading_registry::client::{Client, ClientError};
use lading_signer::constants::{MEDIA_TYPE_BUNDLE_V03, MEDIA_TYPE_SIMPLE_SIGNING};
use lading_signer::cosign::{self, Signed};
use lading_signer::intoto::Statement;
use lading_signer::sigstore::bundle::Bundle;
use lading_signer::sigstore::legacy::{self, Checks, Verifier};
use lading_signer::sigstore::trust_root::TrustedRoot;
use lading_signer::sigstore::{logged_bundle, referrer};
use lading_signer::simple_signing::Payload;

/// Appends `signed` (a simple-signing signature of `digest`, with its certificate and log
/// annotations when it has them) to `sha256-<hex>.sig`; returns
/// the tag's reference, the manifest digest and how many signatures it now holds.
pub fn store_legacy(
    client: &Client,
    reference: &Reference,
    signed: Signed,
    digest: &Digest,
) -> Result<(Reference, Digest, usize)> {
    let sig_ref = reference.with_tag(&cosign::signature_tag(digest))?;
    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let store = Store::open_scratch(dir.path())?;
    let mut layers = Vec::new();
    if client
        .resolve(&sig_ref)
        .with_context(|| format!("looking for {sig_ref}"))?
        .is_some()
    {
        let existing = client
            .manifest(&sig_ref)
            .with_context(|| format!("reading {sig_ref}"))?;
        for layer in cosign::layers(&existing.bytes)? {
            let bytes = client
                .blob_bytes(&sig_ref, &layer)
                .with_context(|| format!("reading signature layer {}", layer.digest))?;
            store.put_bytes(&bytes, &layer.media_type)?;
            layers.push(layer);
        }
    }
    store.put_bytes(&signed.payload, MEDIA_TYPE_SIMPLE_SIGNING)?;
    layers.push(signed.layer);
    let built = cosign::build(&layers)?;
    store.put_bytes(&built.config, &built.config_descriptor.media_type)?;
    store.put_bytes(&built.manifest, &built.manifest_descriptor.media_type)?;
    let pushed = client
        .push(&store, &built.manifest_descriptor, &sig_ref)
        .with_context(|| format!("pushing the signature to {sig_ref}"))?;
    Ok((sig_ref, pushed.descriptor.digest, layers.len()))
}

/// Pushes `bundle` (whose statement has `predicate_type`: a signature's or an
/// attestation's) as an OCI 1.1 referrer of the image `subject` in `reference`'s
/// repository, as cosign v3 does; returns the referrer's reference. The registry client
/// updates the referrers tag `sha256-<hex>` when the registry keeps no referrers itself.
///
/// The bundle is built by the caller, so any verification material fits: a key hint
/// (key-based), or a certificate with transparency-log entries (keyless).
pub fn store_bundle(
    client: &Client,
    reference: &Reference,
    subject: &Descriptor,
    bundle: &Bundle,
    predicate_type: &str,
) -> Result<Reference> {
    let mut stored = store_bundles(client, reference, subject, &[(bundle, predicate_type)])?;
    Ok(stored.remove(0))
}

/// [`store_bundle`] for several bundles of one image at once: their blobs uploaded
/// together and the referrers tag (where needed) updated once. Returns their references,
/// in order.
pub fn store_bundles(
    client: &Client,
    reference: &Reference,
    subject: &Descriptor,
    bundles: &[(&Bundle, &str)],
) -> Result<Vec<Reference>> {
    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let store = Store::open_scratch(dir.path())?;
    let created = created_now();
    let mut roots = Vec::new();
    for (bundle, predicate_type) in bundles {
        let built = referrer::build(bundle.to_json()?, predicate_type, subject, &created)?;
        store.put_bytes(referrer::EMPTY_CONFIG, &built.config_descriptor.media_type)?;
        store.put_bytes(&built.bundle, MEDIA_TYPE_BUNDLE_V03)?;
        store.put_bytes(&built.manifest, &built.manifest_descriptor.media_type)?;
        roots.push(built.manifest_descriptor);
    }
    client
        .push_many(&store, &roots, reference)
        .with_context(|| format!("pushing the bundles to {}", reference.name()))?;
    Ok(roots
        .into_iter()
        .map(|root| reference.with_digest(root.digest))
        .collect())
}

/// `org.opencontainers.image.created`: `SOURCE_DATE_EPOCH` when set, else now.
fn created_now() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    lading_oci::spec::rfc3339(epoch)
}

/// What a storage yielded: the verified payloads, and one line per refused signature.
#[derive(Default)]
pub struct Checked {
    /// Payloads of the signatures that verified.
    pub verified: Vec<Payload>,
    /// `what: why` for each signature refused.
    pub refused: Vec<String>,
}

/// Verifies the simple-signing layers of `image`'s `sha256-<hex>.sig`; `None` when there
/// is no such tag.
pub fn check_legacy(
    client: &Client,
    image: &Reference,
    verifier: &Verifier,
    trust: Option<&TrustedRoot>,
    checks: Checks,
    digest: &Digest,
) -> Result<Option<Checked>> {
    let sig_ref = image.with_tag(&cosign::signature_tag(digest))?;
    if client
        .resolve(&sig_ref)
        .with_context(|| format!("looking for {sig_ref}"))?
        .is_none()
    {
        return Ok(None);
    }
    let manifest = client
        .manifest(&sig_ref)
        .with_context(|| format!("reading {sig_ref}"))?;
    let mut checked = Checked::default();
    for (i, layer) in cosign::layers(&manifest.bytes)?.iter().enumerate() {
        let what = format!("{sig_ref} signature {i}");
        if layer.media_type != MEDIA_TYPE_SIMPLE_SIGNING {
            checked
                .refused
                .push(format!("{what}: skipped: media type {}", layer.media_type));
            continue;
        }
        let Some(payload) = verified_blob(client, &sig_ref, layer, &what, &mut checked.refused)?
        else {
            continue;
        };
        match legacy::verify_layer(layer, &payload, digest, verifier, trust, checks) {
            Ok(v) => {
                if let Some(who) = &v.identity {
                    eprintln!(
                        "{what}: valid, signed by {} (issuer {})",
                        who.identity, who.issuer
                    );
                }
                checked.verified.push(v.payload);
            }
            Err(e) => checked.refused.push(format!("{what}: {e}")),
        }
    }
    Ok(Some(checked))
}

/// The bundles stored as referrers of an image, fetched and parsed but not verified.
pub struct Referred {
    /// `bundle REPO@DIGEST` (for messages) and the bundle.
    pub bundles: Vec<(String, Bundle)>,
    /// `what: why` for each referrer that could not be read as a bundle.
    pub refused: Vec<String>,
    /// Whether the referrers API (not the tag schema) listed them.
    pub via_api: bool,
}

/// Fetches the Sigstore bundles stored as referrers of `image` (`REPO@DIGEST`): those
/// cosign v3 pushes for signatures and attestations alike.
pub fn fetch_bundles(client: &Client, image: &Reference) -> Result<Referred> {
    let listing = client
        .referrers(image, Some(MEDIA_TYPE_BUNDLE_V03))
        .with_context(|| format!("listing the referrers of {image}"))?;
    let mut found = Referred {
        bundles: Vec::new(),
        refused: Vec::new(),
        via_api: listing.via_api,
    };
    for listed in &listing.index.manifests {
        let at = image.with_digest(listed.digest.clone());
        let what = format!("bundle {at}");
        let manifest = match client.manifest(&at) {
            Ok(m) => m,
            Err(e @ (ClientError::DigestMismatch { .. } | ClientError::NotFound { .. })) => {
                found.refused.push(format!("{what}: {e}"));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {at}")),
        };
        let layer = match referrer::bundle_layer(&manifest.bytes) {
            Ok(l) => l,
            Err(e) => {
                found.refused.push(format!("{what}: {e}"));
                continue;
            }
        };
        let Some(bytes) = verified_blob(client, &at, &layer, &what, &mut found.refused)? else {
            continue;
        };
        match Bundle::parse(&bytes) {
            Ok(bundle) => found.bundles.push((what, bundle)),
            Err(e) => found.refused.push(format!("{what}: {e}")),
        }
    }
    Ok(found)
}

/// Verifies the Sigstore bundles stored as referrers of `image` (`REPO@DIGEST`) as
/// signatures by `verifier` (with the log entry and certificate checks `checks` asks);
/// returns the result and whether the referrers API (not the tag schema) listed them.
pub fn check_bundles(
    client: &Client,
    image: &Reference,
    verifier: &Verifier,
    trust: Option<&TrustedRoot>,
    checks: Checks,
    digest: &Digest,
) -> Result<(Checked, bool)> {
    let found = fetch_bundles(client, image)?;
    let mut checked = Checked {
        verified: Vec::new(),
        refused: found.refused,
    };
    for (what, bundle) in &found.bundles {
        match logged_bundle::verify(bundle, verifier, trust, checks, digest) {
            Ok(v) => {
                if let Some(who) = &v.identity {
                    eprintln!(
                        "{what}: valid, signed by {} (issuer {})",
                        who.identity, who.issuer
                    );
                }
                checked
                    .verified
                    .push(cosign_output(image, digest, v.statement))
            }
            Err(e) => checked.refused.push(format!("{what}: {e}")),
        }
    }
    Ok((checked, found.via_api))
}

/// A blob checked against its descriptor; a mismatch is a refusal, not an error.
fn verified_blob(
    client: &Client,
    at: &Reference,
    layer: &Descriptor,
    what: &str,
    refused: &mut Vec<String>,
) -> Result<Option<Vec<u8>>> {
    match client.blob_bytes(at, layer) {
        Ok(b) => Ok(Some(b)),
        Err(e @ (ClientError::DigestMismatch { .. } | ClientError::SizeMismatch { .. })) => {
            refused.push(format!("{what}: {e}"));
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", layer.digest)),
    }
}

/// How `cosign verify` prints a verified bundle: a simple-signing payload whose type is
/// the statement's predicate type and whose optional part is the subject's annotations.
fn cosign_output(image: &Reference, digest: &Digest, statement: Statement) -> Payload {
    let mut payload = Payload::new(&image.to_string(), digest);
    payload.critical.kind = statement.predicate_type;
    payload.optional = statement
        .subject
        .into_iter()
        .next()
        .map(|s| s.annotations.unwrap_or_default().into_iter().collect());
    payload
}
