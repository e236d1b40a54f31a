//! `lading build --platform a,b,…`: which platforms, how their progress is told apart,
//! and the one image index that holds them (as buildx writes it).

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail};
use lading_builder::Reporter;
use lading_oci::constants::MEDIA_TYPE_INDEX;
use lading_oci::spec::{Descriptor, Index, to_canonical_json};
use lading_oci::{Image, Platform, Store};

/// The platforms `--platform` asks for, in the order given, each once (buildx drops
/// repeats too); empty when the flag is absent (the host's, as today).
pub fn requested(values: &[String]) -> Result<Vec<Platform>> {
    let mut out: Vec<Platform> = Vec::new();
    for v in values {
        if v.trim().is_empty() {
            bail!("invalid --platform {v:?}: empty platform in the list");
        }
        let p = Platform::parse(v)?;
        if !out.iter().any(|q| q.matches(&p)) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The platform an index entry names for a build of `p`, spelled as BuildKit's exporter
/// spells it: containerd's normalisation drops arm64's default variant `v8`.
pub fn index_platform(p: &Platform) -> Platform {
    p.normalized()
}

/// Writes the image index of a multi-platform build into the store: one entry per
/// platform, in the order built, each with its `platform`.
pub fn write_index(store: &Store, built: &[(Platform, Image)]) -> Result<Descriptor> {
    let manifests = built
        .iter()
        .map(|(p, image)| {
            let mut d = Descriptor::new(
                image.descriptor.media_type.clone(),
                image.descriptor.digest.clone(),
                image.descriptor.size,
            );
            d.platform = Some(index_platform(p));
            d
        })
        .collect();
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests,
        ..Index::default()
    };
    let bytes = to_canonical_json(&index)?;
    Ok(store.put_bytes(&bytes, MEDIA_TYPE_INDEX)?)
}

/// A reporter for one platform of a multi-platform build: its step labels carry the
/// platform (`[linux/arm64 stage-0 2/3] RUN …`, as buildx prints them) and its step
/// numbers continue after the platforms built before it, so no two steps share one.
pub struct PlatformReporter<'a> {
    inner: &'a dyn Reporter,
    platform: String,
    offset: usize,
    last: &'a AtomicUsize,
}

impl<'a> PlatformReporter<'a> {
    /// Reports `platform`'s steps through `inner`; `last` is the highest step number
    /// shown so far, shared by the platforms of one build.
    pub fn new(inner: &'a dyn Reporter, platform: &Platform, last: &'a AtomicUsize) -> Self {
        PlatformReporter {
            inner,
            platform: platform.normalized().to_string(),
            offset: last.load(Ordering::SeqCst),
            last,
        }
    }

    fn vertex(&self, v: usize) -> usize {
        let v = v + self.offset;
        self.last.fetch_max(v, Ordering::SeqCst);
        v
    }
}

impl Reporter for PlatformReporter<'_> {
    fn step_started(&self, vertex: usize, name: &str) {
        let label = match name.strip_prefix('[') {
            Some(rest) => format!("[{} {rest}", self.platform),
            None => format!("[{}] {name}", self.platform),
        };
        self.inner.step_started(self.vertex(vertex), &label);
    }

    fn step_done(&self, vertex: usize, cached: bool) {
        self.inner.step_done(self.vertex(vertex), cached);
    }

    fn log(&self, vertex: usize, line: &str) {
        self.inner.log(self.vertex(vertex), line);
    }

    fn warn(&self, message: &str) {
        self.inner.warn(&format!("[{}] {message}", self.platform));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_lists_keep_their_order_and_drop_repeats() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let got = requested(&v(&["linux/amd64", "linux/arm64", "linux/aarch64"])).unwrap();
        let names: Vec<String> = got.iter().map(Platform::to_string).collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64/v8"]);
        assert!(requested(&v(&["linux/amd64", ""])).is_err());
        assert!(requested(&v(&["linux"])).is_err());
        assert!(requested(&[]).unwrap().is_empty());
    }

    #[test]
    fn index_entries_spell_arm64_without_its_default_variant() {
        let p = |s: &str| index_platform(&Platform::parse(s).unwrap()).to_string();
        assert_eq!(p("linux/arm64"), "linux/arm64");
        assert_eq!(p("linux/arm64/v8"), "linux/arm64");
        assert_eq!(p("linux/arm/v7"), "linux/arm/v7");
        assert_eq!(p("linux/amd64"), "linux/amd64");
    }
}
