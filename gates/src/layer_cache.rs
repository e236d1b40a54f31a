//! What the gates learned from each layer, kept by layer digest so that no layer is read
//! twice: the image of the next commit shares every layer but the last with the image
//! gated before it, so its gates read one small layer instead of the whole image.
//!
//! Per layer blob there is one *listing* (every entry's path, kind and metadata, in tar
//! order, without content) and, per gate, what that gate kept of the layer (the catalog's
//! parsed files, the CIS checks' facts, the secrets scan's findings). Each is a function
//! of the layer's bytes alone — anything that depends on other layers (whiteouts, files a
//! later layer replaces, hard links to lower layers) is worked out when the layers are
//! put together, from the listings — so a cached value is valid for every image that
//! has the layer, at any position.
//!
//! The cache lives in the store (`<store>/.lading/cache/gates/<version>/`), its files are
//! written atomically and named by the layer digest and by what they hold (the gate, the
//! format version and, for the secrets scan, a digest of the rules); a file that is
//! missing, unreadable or for something else is a miss. A gate that uses a cached value
//! still checks the layer blob against its digest (once per run, SHA-256 of the
//! compressed bytes only), so a verdict is never given on bytes that are not there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lading_oci::{Descriptor, Image, Store};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::{Entry, Flow, Found, Kind, remove_tree, remove_tree_below, walk_layer};

/// The format of the listing files; bump it when [`Listed`] changes.
const LISTING: &str = "listing-1";

/// One entry of a layer without its content: an [`Entry`] minus where the layer sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Path (see [`Entry::path`]).
    #[serde(rename = "p")]
    pub path: String,
    /// Kind.
    #[serde(rename = "k")]
    pub kind: Kind,
    /// Size of the content (files).
    #[serde(rename = "s", default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Permission bits.
    #[serde(rename = "m")]
    pub mode: u32,
    /// Owner.
    #[serde(rename = "u", default, skip_serializing_if = "is_zero")]
    pub uid: u64,
    /// Group.
    #[serde(rename = "g", default, skip_serializing_if = "is_zero")]
    pub gid: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Listed {
    pub(crate) fn of(e: &Entry) -> Listed {
        Listed {
            path: e.path.clone(),
            kind: e.kind.clone(),
            size: e.size,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
        }
    }

    /// The entry, as layer `layer` (digest `layer_digest`) of an image has it.
    pub fn entry(&self, layer: usize, layer_digest: &str) -> Entry {
        Entry {
            layer,
            layer_digest: layer_digest.to_string(),
            path: self.path.clone(),
            kind: self.kind.clone(),
            size: self.size,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// A layer's entries, in tar order.
pub type Listing = Vec<Listed>;

/// A cache file: what it holds and for which layer, then the value.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    layer: String,
    what: String,
    value: T,
}

/// The per-layer cache of one store, shared by the gates of one run.
pub struct LayerCache {
    /// `None`: nothing is kept (every layer is read).
    dir: Option<PathBuf>,
    listings: Mutex<HashMap<String, Arc<Listing>>>,
    verified: Mutex<HashSet<String>>,
}

impl LayerCache {
    /// The cache in `store`.
    pub fn new(store: &Store) -> LayerCache {
        LayerCache {
            dir: Some(
                store
                    .private_dir()
                    .join("cache/gates")
                    .join(env!("CARGO_PKG_VERSION")),
            ),
            listings: Mutex::default(),
            verified: Mutex::default(),
        }
    }

    /// No cache: every layer is read.
    pub fn disabled() -> LayerCache {
        LayerCache {
            dir: None,
            listings: Mutex::default(),
            verified: Mutex::default(),
        }
    }

    fn path(&self, what: &str, layer: &Descriptor) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(what).join(format!(
            "{}-{}.json",
            layer.digest.algorithm().name(),
            layer.digest.hex()
        )))
    }

    /// The value kept as `what` for `layer`, if there is one; the layer blob is then
    /// checked against its digest (once per cache).
    pub(crate) fn load<T: DeserializeOwned>(
        &self,
        store: &Store,
        layer: &Descriptor,
        what: &str,
    ) -> Result<Option<T>> {
        let Some(path) = self.path(what, layer) else {
            return Ok(None);
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope<T>>(&bytes) else {
            return Ok(None);
        };
        if envelope.layer != layer.digest.to_string() || envelope.what != what {
            return Ok(None);
        }
        self.verify(store, layer)?;
        Ok(Some(envelope.value))
    }

    fn verify(&self, store: &Store, layer: &Descriptor) -> Result<()> {
        let key = layer.digest.to_string();
        if self.lock_verified().contains(&key) {
            return Ok(());
        }
        let size = store.verify_blob(&layer.digest)?;
        if size != layer.size {
            return Err(crate::Error::Invalid {
                what: format!("layer {key}"),
                reason: format!("{size} bytes in the store, {} in the manifest", layer.size),
            });
        }
        self.lock_verified().insert(key);
        Ok(())
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_listings(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Listing>>> {
        self.listings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `value` as `what` for `layer` (a layer read in full, verified as it
    /// streamed). A cache that cannot be written is no cache: the gate's result stands.
    pub(crate) fn save<T: Serialize>(
        &self,
        store: &Store,
        layer: &Descriptor,
        what: &str,
        value: &T,
    ) {
        let Some(path) = self.path(what, layer) else {
            return;
        };
        let envelope = Envelope {
            layer: layer.digest.to_string(),
            what: what.to_string(),
            value,
        };
        let Ok(bytes) = serde_json::to_vec(&envelope) else {
            return;
        };
        if let Some(dir) = path.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let _ = store.write_atomic(&path, &bytes);
        }
        self.lock_verified().insert(layer.digest.to_string());
    }

    /// The listing of `layer`, if kept.
    pub(crate) fn listing(
        &self,
        store: &Store,
        layer: &Descriptor,
    ) -> Result<Option<Arc<Listing>>> {
        let key = layer.digest.to_string();
        if let Some(l) = self.lock_listings().get(&key) {
            return Ok(Some(l.clone()));
        }
        let Some(listing) = self.load::<Listing>(store, layer, LISTING)? else {
            return Ok(None);
        };
        let listing = Arc::new(listing);
        self.lock_listings().insert(key, listing.clone());
        Ok(Some(listing))
    }

    /// Keeps the listing of a layer just read in full.
    pub(crate) fn save_listing(
        &self,
        store: &Store,
        layer: &Descriptor,
        listing: Listing,
    ) -> Arc<Listing> {
        let key = layer.digest.to_string();
        if let Some(l) = self.lock_listings().get(&key) {
            return l.clone();
        }
        self.save(store, layer, LISTING, &listing);
        let listing = Arc::new(listing);
        self.lock_listings().insert(key, listing.clone());
        listing
    }
}

/// One layer of an image as a gate saw it: where it sits, its entries, and what the
/// gate kept of some of them (by index into `entries`, ascending).
pub(crate) struct LayerSeen<T> {
    /// Index in the manifest (0 = base).
    pub index: usize,
    /// The layer blob's digest.
    pub digest: String,
    /// Every entry, in tar order.
    pub entries: Arc<Listing>,
    /// What `look` kept: (index into `entries`, value).
    pub values: Vec<(usize, T)>,
}

impl<T> LayerSeen<T> {
    /// Every entry with what was kept of it, in tar order.
    pub fn each(&self) -> impl Iterator<Item = (Entry, Option<&T>)> {
        let mut values = self.values.iter().peekable();
        self.entries.iter().enumerate().map(move |(i, listed)| {
            let value = values.next_if(|(at, _)| *at == i).map(|(_, v)| v);
            (listed.entry(self.index, &self.digest), value)
        })
    }
}

/// What a gate keeps of one entry of a layer, from the entry and its content alone.
pub(crate) type LookFn<'a, T> = dyn FnMut(&Entry, &mut dyn Read) -> Result<Option<T>> + 'a;

/// For each layer of `image`, what `look` makes of its entries (`look` sees every entry
/// with a reader of its content and returns what to keep, from that entry alone), from
/// the cache (kept as `what`) when it has the layer, else by reading the layer once.
pub(crate) fn per_entry<T: Serialize + DeserializeOwned>(
    cache: &LayerCache,
    store: &Store,
    image: &Image,
    what: &str,
    look: &mut LookFn<'_, T>,
) -> Result<Vec<LayerSeen<T>>> {
    let mut out = Vec::new();
    for (index, layer) in image.layers().iter().enumerate() {
        let digest = layer.digest.to_string();
        if let Some(entries) = cache.listing(store, layer)?
            && let Some(values) = cache.load::<Vec<(usize, T)>>(store, layer, what)?
            && values.iter().all(|(at, _)| *at < entries.len())
            && values.windows(2).all(|w| w[0].0 < w[1].0)
        {
            out.push(LayerSeen {
                index,
                digest,
                entries,
                values,
            });
            continue;
        }
        let mut listing = Vec::new();
        let mut values = Vec::new();
        walk_layer(store, layer, index, &mut |entry, reader| {
            if let Some(v) = look(entry, reader)? {
                values.push((listing.len(), v));
            }
            listing.push(Listed::of(entry));
            Ok(Flow::Continue)
        })?;
        cache.save(store, layer, what, &values);
        let entries = cache.save_listing(store, layer, listing);
        out.push(LayerSeen {
            index,
            digest,
            entries,
            values,
        });
    }
    Ok(out)
}

/// What the final image shows, from the layers as a gate saw them: for each path, the
/// entry that wrote it last and the value kept for it. Later layers replace earlier
/// values, whiteouts and opaque directories remove them, a directory or a non-file
/// replacing a path removes what was kept there; a hard link keeps the value of its
/// target when `follow_links`.
pub(crate) fn final_view<T>(
    layers: &[LayerSeen<T>],
    follow_links: bool,
) -> BTreeMap<String, Found<&T>> {
    let mut kept: BTreeMap<String, Found<&T>> = BTreeMap::new();
    for layer in layers {
        for (entry, value) in layer.each() {
            match &entry.kind {
                Kind::Whiteout => remove_tree(&mut kept, &entry.path),
                Kind::Opaque => remove_tree_below(&mut kept, &entry.path, entry.layer),
                Kind::Dir => {
                    kept.remove(&entry.path);
                }
                Kind::File => {
                    remove_tree(&mut kept, &entry.path);
                    if let Some(value) = value {
                        kept.insert(entry.path.clone(), Found { entry, value });
                    }
                }
                Kind::Hardlink(target) => {
                    let linked = kept.get(target).map(|t| t.value);
                    remove_tree(&mut kept, &entry.path);
                    if follow_links && let Some(value) = linked {
                        kept.insert(entry.path.clone(), Found { entry, value });
                    }
                }
                Kind::Symlink(_) | Kind::Other => remove_tree(&mut kept, &entry.path),
            }
        }
    }
    kept
}

/// `Vec<u8>` in a cache file: UTF-8 text as a string (package databases, `/etc/passwd`),
/// anything else as base64.
pub(crate) mod bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    enum Repr {
        #[serde(rename = "t")]
        Text(String),
        #[serde(rename = "b")]
        Base64(String),
    }

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(data) {
            Ok(text) => Repr::Text(text.to_string()),
            Err(_) => Repr::Base64(STANDARD.encode(data)),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Text(text) => Ok(text.into_bytes()),
            Repr::Base64(b) => STANDARD.decode(b).map_err(serde::de::Error::custom),
        }
    }
}

/// A digest of `text`, short enough for a file name (what a cached value depends on
/// besides the layer: a rule set, an option).
pub(crate) fn fingerprint(text: &str) -> String {
    lading_oci::Digest::of(text.as_bytes()).hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{file, image};
    use lading_oci::layer::Entry as LayerEntry;

    fn paths(seen: &[LayerSeen<String>]) -> Vec<(usize, String, Option<String>)> {
        seen.iter()
            .flat_map(|l| {
                l.each()
                    .map(|(e, v)| (e.layer, e.path, v.cloned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_cached_layer_gives_what_reading_it_gave_and_is_still_verified() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let img = image(
            &store,
            vec![
                vec![LayerEntry::dir("etc", 0o755, 0, 0), file("etc/a", "one")],
                vec![LayerEntry::whiteout("etc/a"), file("etc/b", "two")],
            ],
        );
        let reads = std::cell::Cell::new(0);
        let mut look = |e: &Entry, r: &mut dyn Read| -> Result<Option<String>> {
            reads.set(reads.get() + 1);
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            Ok((e.kind == Kind::File).then_some(s))
        };
        let first = per_entry(&LayerCache::new(&store), &store, &img, "t-1", &mut look).unwrap();
        let read_first = reads.get();
        let second = per_entry(&LayerCache::new(&store), &store, &img, "t-1", &mut look).unwrap();
        assert_eq!(reads.get(), read_first, "the second run read no layer");
        assert_eq!(paths(&first), paths(&second));
        assert_eq!(
            paths(&second),
            vec![
                (0, "etc".into(), None),
                (0, "etc/a".into(), Some("one".into())),
                (1, "etc/a".into(), None),
                (1, "etc/b".into(), Some("two".into())),
            ]
        );
        // Another `what` reads the layers again.
        per_entry(&LayerCache::new(&store), &store, &img, "t-2", &mut look).unwrap();
        assert!(reads.get() > read_first);

        // A blob that changed in the store fails the gate, cached or not.
        let blob = store.blob_path(&img.layers()[1].digest);
        let mut bytes = std::fs::read(&blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&blob, bytes).unwrap();
        assert!(per_entry(&LayerCache::new(&store), &store, &img, "t-1", &mut look).is_err());
    }

    #[test]
    fn a_corrupt_or_foreign_cache_file_is_a_miss() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let img = image(&store, vec![vec![file("a", "x")]]);
        let cache = LayerCache::new(&store);
        let layer = &img.layers()[0];
        let mut look =
            |_: &Entry, _: &mut dyn Read| -> Result<Option<String>> { Ok(Some("v".into())) };
        per_entry(&cache, &store, &img, "t-1", &mut look).unwrap();
        let path = cache.path("t-1", layer).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        assert!(
            cache
                .load::<Vec<(usize, String)>>(&store, layer, "t-1")
                .unwrap()
                .is_none()
        );
        // A file kept for another layer, renamed into this one's place.
        let other = image(&store, vec![vec![file("b", "y")]]);
        per_entry(&cache, &store, &other, "t-1", &mut look).unwrap();
        std::fs::copy(cache.path("t-1", &other.layers()[0]).unwrap(), &path).unwrap();
        assert!(
            cache
                .load::<Vec<(usize, String)>>(&store, layer, "t-1")
                .unwrap()
                .is_none()
        );
    }

    /// Random layer stacks, gated once with nothing cached and once after an image that
    /// shares some of their layers (at other positions) was gated in the same store: the
    /// three reports must be the same, and the second run must not read shared layers.
    #[test]
    fn cached_reports_equal_uncached_reports_on_random_layer_stacks() {
        use crate::cis::policy::{Date, Policy};
        use crate::secrets::detect::Detector;
        use crate::secrets::{Options, Ruleset, scan_cached};
        use lading_oci::layer::EntryKind;

        let detector = Detector::new(Ruleset::builtin().unwrap()).unwrap();
        let policy = Policy::default();
        let reports = |store: &Store, img: &Image, cache: &LayerCache| {
            let sbom = crate::sbom::catalog_cached(cache, store, img, "img").unwrap();
            let cis = crate::cis::run(&crate::cis::Input {
                store,
                image: img,
                cache,
                name: "img",
                dockerfile: None,
                policy: &policy,
                today: Date::parse("2026-12-07").unwrap(),
                detector: &detector,
            })
            .unwrap();
            let secrets =
                scan_cached(cache, store, img, "img", &detector, &Options { threads: 1 }).unwrap();
            serde_json::to_string_pretty(&serde_json::json!({
                "sbom": sbom, "cis": cis, "secrets": secrets,
            }))
            .unwrap()
        };

        const PATHS: [&str; 10] = [
            "etc/passwd",
            "etc/os-release",
            "var/lib/dpkg/status",
            "usr/bin/curl",
            "usr/bin/su",
            "app/.env",
            "app/node_modules/left/package.json",
            "usr/share/doc/left/copyright",
            "app/config.yml",
            "var/lib/dpkg/status.d/left",
        ];
        let content = |path: &str, n: u64| -> String {
            match path {
                "etc/passwd" => {
                    format!("root:x:0:0::/root:/bin/sh\nu{n}:x:1000:1000::/home/u:/bin/sh\n")
                }
                "etc/os-release" => format!("ID=debian\nVERSION_ID=\"1{}\"\n", n % 3),
                "var/lib/dpkg/status" | "var/lib/dpkg/status.d/left" => format!(
                    "Package: left\nStatus: install ok installed\nVersion: 1.{n}\nArchitecture: amd64\n\n"
                ),
                "app/node_modules/left/package.json" => {
                    format!("{{\"name\":\"left\",\"version\":\"1.{n}.0\",\"license\":\"MIT\"}}")
                }
                "usr/share/doc/left/copyright" => "License: MIT\n".to_string(),
                "app/.env" | "app/config.yml" if n.is_multiple_of(2) => {
                    format!("token = ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4{n}\n")
                }
                _ => format!("#!/bin/sh\necho {n}\n"),
            }
        };
        let mut seed: u64 = 0x5eed_1a7e;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        // How often the reports held what the layers were made to produce.
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for round in 0..60 {
            let mut layers: Vec<Vec<lading_oci::layer::Entry>> = Vec::new();
            for _ in 0..(2 + next(3)) {
                let mut used = std::collections::BTreeSet::new();
                let mut entries = Vec::new();
                for _ in 0..(2 + next(9)) {
                    let path = PATHS[next(PATHS.len() as u64) as usize];
                    if !used.insert(path) {
                        continue;
                    }
                    let n = next(1000);
                    let mut e = match next(10) {
                        0 => LayerEntry::whiteout(path),
                        1 => LayerEntry::whiteout(&format!(
                            "{}/.wh..opq",
                            &path[..path.rfind('/').unwrap()]
                        )),
                        2 => LayerEntry {
                            kind: EntryKind::Symlink("/bin/true".into()),
                            ..file(path, "")
                        },
                        3 => {
                            let target = PATHS[next(PATHS.len() as u64) as usize];
                            if target == path || used.contains(target) {
                                continue;
                            }
                            used.insert(target);
                            entries.push(file(target, content(target, n)));
                            LayerEntry {
                                kind: EntryKind::Hardlink(target.into()),
                                ..file(path, "")
                            }
                        }
                        4 => LayerEntry::dir(path, 0o755, 0, 0),
                        _ => file(path, content(path, n)),
                    };
                    if path == "usr/bin/su" || next(8) == 0 {
                        e.mode |= 0o4000;
                    }
                    entries.push(e);
                }
                layers.push(entries);
            }
            // The image gated first: the same layers but the last, another layer on top,
            // and the first two swapped.
            let mut earlier: Vec<_> = layers[..layers.len() - 1].to_vec();
            let last = earlier.len() - 1;
            earlier.swap(0, 1.min(last));
            earlier.push(vec![file("other", format!("{round}"))]);

            let fresh = tempfile::tempdir().unwrap();
            let store = Store::open(fresh.path()).unwrap();
            let img = image(&store, layers.clone());
            let want = reports(&store, &img, &LayerCache::disabled());
            for word in [
                "\"deleted\"",
                "\"replaced\"",
                "\"present\"",
                "pkg:npm/left",
                "pkg:deb/debian/left",
                "(setuid)",
            ] {
                *seen.entry(word).or_default() += usize::from(want.contains(word));
            }

            let primed = tempfile::tempdir().unwrap();
            let store = Store::open(primed.path()).unwrap();
            let first = image(&store, earlier);
            reports(&store, &first, &LayerCache::new(&store));
            let img = image(&store, layers);
            let got = reports(&store, &img, &LayerCache::new(&store));
            assert_eq!(got, want, "round {round}");
            // And once more, everything cached.
            let again = reports(&store, &img, &LayerCache::new(&store));
            assert_eq!(again, want, "round {round}, all cached");
        }
        assert!(seen.values().all(|&n| n >= 1), "{seen:?}");
    }
}
