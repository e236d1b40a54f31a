//! One pass over the layers: each file is classified by its path (or, for executables,
//! its first bytes), parsed as it streams past, and what it yielded is kept for its path
//! in the final view (see [`crate::layer_cache::final_view`]). OS package databases are parsed
//! after the pass, once `/etc/os-release` is known, since their purls name the
//! distribution.

use std::collections::BTreeMap;
use std::io::Read;

use lading_oci::{Image, Store};
use serde::{Deserialize, Serialize};

use super::{
    Ecosystem, ImageInfo, License, Location, OsRelease, Package, Sbom, Warning, apk, dpkg, golang,
    java, license, npm, php, python, rpm, ruby, rustaudit, utc_seconds,
};
use crate::error::{Error, Result};
use crate::layer_cache::{LayerCache, bytes, final_view, per_entry};
use crate::layers::{Entry, Kind};

/// What the cache keeps of a layer for the catalog; bump it when [`look`] changes.
const CACHED_AS: &str = "catalog-1";

/// Largest package database or manifest read (dpkg status of big images is ~10 MiB).
const MAX_DB: u64 = 256 << 20;
/// Largest executable or archive looked into.
const MAX_BINARY: u64 = 512 << 20;
/// Largest small metadata file (package.json, METADATA, copyright).
const MAX_META: u64 = 16 << 20;

/// The databases parsed after the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Db {
    OsRelease,
    Dpkg,
    Apk,
    Rpm,
}

/// What one file yielded (kept per layer in the [`LayerCache`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Seen {
    /// A database, parsed after the pass.
    Db(Db, #[serde(with = "bytes")] Vec<u8>),
    /// The licences of a Debian package (its `copyright` file).
    Copyright(Vec<License>),
    /// Packages (locations relative to the file) and problems.
    Found(Found),
}

/// Packages a file yielded; `location.path` holds only a suffix inside the file
/// (`:BOOT-INF/lib/x.jar`), or nothing.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Found {
    pub packages: Vec<Package>,
    pub warnings: Vec<String>,
}

impl Found {
    pub(crate) fn warn(msg: impl Into<String>) -> Found {
        Found {
            packages: Vec::new(),
            warnings: vec![msg.into()],
        }
    }
}

/// What a path is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Db(Db),
    Copyright,
    Python,
    Npm,
    Ruby,
    Php,
    Java,
}

fn classify(path: &str) -> Option<Target> {
    let (dir, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    match path {
        "etc/os-release" | "usr/lib/os-release" => return Some(Target::Db(Db::OsRelease)),
        "var/lib/dpkg/status" => return Some(Target::Db(Db::Dpkg)),
        "lib/apk/db/installed" => return Some(Target::Db(Db::Apk)),
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => {
            return Some(Target::Db(Db::Rpm));
        }
        _ => {}
    }
    if dir == "var/lib/dpkg/status.d"
        && ![".md5sums", ".conffiles", ".list"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        return Some(Target::Db(Db::Dpkg));
    }
    if name == "copyright"
        && let Some(pkg) = dir.strip_prefix("usr/share/doc/")
        && !pkg.contains('/')
    {
        return Some(Target::Copyright);
    }
    if (name == "METADATA" && dir.ends_with(".dist-info"))
        || (name == "PKG-INFO" && dir.ends_with(".egg-info"))
        || name.ends_with(".egg-info")
    {
        return Some(Target::Python);
    }
    if name == "package.json" && npm::is_package_dir(dir) {
        return Some(Target::Npm);
    }
    if name.ends_with(".gemspec")
        && (dir.ends_with("/specifications") || dir.contains("/specifications/"))
    {
        return Some(Target::Ruby);
    }
    if path.ends_with("vendor/composer/installed.json") {
        return Some(Target::Php);
    }
    if java::is_archive_name(name) {
        return Some(Target::Java);
    }
    None
}

fn read_all(entry: &Entry, reader: &mut dyn Read, prefix: &[u8]) -> Result<Vec<u8>> {
    // A corrupt header may claim a size the stream does not have: reserve a bounded part.
    let mut data = Vec::with_capacity(entry.size.min(64 << 20) as usize);
    data.extend_from_slice(prefix);
    reader
        .read_to_end(&mut data)
        .map_err(|source| Error::Layer {
            layer: entry.layer_digest.clone(),
            source,
        })?;
    Ok(data)
}

fn too_big(entry: &Entry, max: u64) -> Option<Seen> {
    (entry.size > max).then(|| {
        Seen::Found(Found::warn(format!(
            "{} bytes, more than the {} MiB this cataloger reads; skipped",
            entry.size,
            max >> 20
        )))
    })
}

/// Looks at one file as it streams past.
fn look(entry: &Entry, reader: &mut dyn Read) -> Result<Option<Seen>> {
    let found = |f: Found| Ok(Some(Seen::Found(f)));
    match classify(&entry.path) {
        Some(Target::Db(db)) => {
            if let Some(s) = too_big(entry, MAX_DB) {
                return Ok(Some(s));
            }
            Ok(Some(Seen::Db(db, read_all(entry, reader, &[])?)))
        }
        Some(Target::Copyright) => {
            if entry.size > MAX_META {
                return Ok(None);
            }
            let data = read_all(entry, reader, &[])?;
            Ok(Some(Seen::Copyright(license::from_debian_copyright(
                &String::from_utf8_lossy(&data),
            ))))
        }
        Some(t @ (Target::Python | Target::Npm | Target::Ruby | Target::Php)) => {
            if let Some(s) = too_big(entry, MAX_META) {
                return Ok(Some(s));
            }
            let data = read_all(entry, reader, &[])?;
            found(match t {
                Target::Python => python::parse(&entry.path, &data),
                Target::Npm => npm::parse(&data),
                Target::Ruby => ruby::parse(&data),
                _ => php::parse(&data),
            })
        }
        Some(Target::Java) => {
            if let Some(s) = too_big(entry, MAX_BINARY) {
                return Ok(Some(s));
            }
            let data = read_all(entry, reader, &[])?;
            found(java::parse(&entry.path, &data))
        }
        None => {
            // Executables: Go build info, cargo-auditable dependency lists.
            if entry.size < 64 || entry.size > MAX_BINARY {
                return Ok(None);
            }
            let mut magic = [0u8; 4];
            if reader.read_exact(&mut magic).is_err() {
                // A short read here is caught by the tar reader at the next entry.
                return Ok(None);
            }
            if !golang::is_executable_magic(&magic) {
                return Ok(None);
            }
            let data = read_all(entry, reader, &magic)?;
            let mut f = golang::parse(&data);
            let r = rustaudit::parse(&data);
            f.packages.extend(r.packages);
            f.warnings.extend(r.warnings);
            if f.packages.is_empty() && f.warnings.is_empty() {
                Ok(None)
            } else {
                found(f)
            }
        }
    }
}

/// Catalogs the packages of `image`, named `name` in the documents, with the store's
/// [`LayerCache`].
pub fn catalog(store: &Store, image: &Image, name: &str) -> Result<Sbom> {
    catalog_cached(&LayerCache::new(store), store, image, name)
}

/// [`catalog`], reading only the layers `cache` does not hold yet (a hard link keeps
/// what its target yielded).
pub fn catalog_cached(
    cache: &LayerCache,
    store: &Store,
    image: &Image,
    name: &str,
) -> Result<Sbom> {
    let layers = per_entry(
        cache,
        store,
        image,
        CACHED_AS,
        &mut |entry, reader| match entry.kind {
            Kind::File => look(entry, reader),
            _ => Ok(None),
        },
    )?;
    let kept = final_view(&layers, true);

    let diff_ids: Vec<String> = image.diff_ids().iter().map(|d| d.to_string()).collect();
    let location = |path: &str, e: &Entry| Location {
        path: format!("/{path}"),
        layer: e.layer,
        layer_digest: e.layer_digest.clone(),
        layer_diff_id: diff_ids.get(e.layer).cloned().unwrap_or_default(),
    };

    let mut warnings = Vec::new();
    let mut packages = Vec::new();
    let mut copyrights: BTreeMap<String, Vec<License>> = BTreeMap::new();
    let mut dbs: Vec<(Db, String, Entry, &[u8])> = Vec::new();
    for (path, f) in &kept {
        match f.value {
            Seen::Db(db, data) => dbs.push((*db, path.clone(), f.entry.clone(), data)),
            Seen::Copyright(l) => {
                let pkg = path
                    .trim_start_matches("usr/share/doc/")
                    .trim_end_matches("/copyright");
                copyrights.insert(pkg.to_string(), l.clone());
            }
            Seen::Found(found) => {
                for p in &found.packages {
                    let mut p = p.clone();
                    let suffix = std::mem::take(&mut p.location.path);
                    p.location = location(path, &f.entry);
                    p.location.path.push_str(&suffix);
                    packages.push(p);
                }
                for w in &found.warnings {
                    warnings.push(Warning {
                        path: format!("/{path}"),
                        layer_digest: f.entry.layer_digest.clone(),
                        message: w.clone(),
                    });
                }
            }
        }
    }

    // `/etc/os-release` wins over `/usr/lib/os-release` (os-release(5)).
    let mut os: Option<OsRelease> = None;
    for (db, path, entry, data) in &dbs {
        if *db != Db::OsRelease || (os.is_some() && path != "etc/os-release") {
            continue;
        }
        match OsRelease::parse(&String::from_utf8_lossy(data)) {
            Some(mut o) => {
                o.path = format!("/{path}");
                o.layer_digest = entry.layer_digest.clone();
                os = Some(o);
            }
            None => warnings.push(Warning {
                path: format!("/{path}"),
                layer_digest: entry.layer_digest.clone(),
                message: "no ID= line; the OS is unknown".into(),
            }),
        }
    }

    for (db, path, entry, data) in &dbs {
        let found = match db {
            Db::OsRelease => continue,
            Db::Dpkg => dpkg::parse(data, os.as_ref(), &copyrights),
            Db::Apk => apk::parse(data, os.as_ref()),
            Db::Rpm => rpm::parse(data, os.as_ref()),
        };
        for mut p in found.packages {
            p.location = location(path, entry);
            packages.push(p);
        }
        for w in found.warnings {
            warnings.push(Warning {
                path: format!("/{path}"),
                layer_digest: entry.layer_digest.clone(),
                message: w,
            });
        }
    }

    let platform = {
        let c = &image.config;
        let mut s = format!("{}/{}", c.os, c.architecture);
        if let Some(v) = c.variant.as_deref().filter(|v| !v.is_empty()) {
            s.push('/');
            s.push_str(v);
        }
        s
    };
    let mut sbom = Sbom {
        image: ImageInfo {
            name: name.to_string(),
            digest: image.descriptor.digest.to_string(),
            created: image.config.created.as_deref().and_then(utc_seconds),
            platform,
            layers: image
                .layers()
                .iter()
                .map(|l| l.digest.to_string())
                .collect(),
        },
        os,
        packages,
        warnings,
    };
    sbom.sort();
    Ok(sbom)
}

/// Counts packages per ecosystem, in [`Ecosystem`] order.
pub fn counts(sbom: &Sbom) -> Vec<(Ecosystem, usize)> {
    let mut m: BTreeMap<Ecosystem, usize> = BTreeMap::new();
    for p in &sbom.packages {
        *m.entry(p.ecosystem).or_default() += 1;
    }
    m.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::file;
    use lading_oci::layer::Entry as LayerEntry;
    use lading_oci::spec::ImageConfig;

    fn dirs(path: &str) -> Vec<LayerEntry> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for part in path.split('/') {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            out.push(LayerEntry::dir(&cur, 0o755, 0, 0));
        }
        out
    }

    fn image(store: &Store, layers: Vec<Vec<LayerEntry>>) -> Image {
        let config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            created: Some("2024-05-01T12:00:00.5+02:00".into()),
            ..ImageConfig::default()
        };
        let layers = layers
            .into_iter()
            .map(|mut entries| {
                entries.sort_by(|a, b| lading_oci::layer::compare_paths(&a.path, &b.path));
                entries.dedup_by(|a, b| a.path == b.path);
                entries
            })
            .collect();
        crate::testutil::image_with(store, config, layers)
    }

    /// Every cataloger on truncated and bit-flipped copies of the real fixtures: warnings
    /// or nothing, never a panic.
    #[test]
    fn corrupt_inputs_never_panic() {
        let fixtures: &[(&str, &[u8])] = &[
            (
                "usr/lib/sysimage/rpm/rpmdb.sqlite",
                include_bytes!(
                    "../../../tests/fixtures/sbom/fedora/rootfs/usr/lib/sysimage/rpm/rpmdb.sqlite"
                ),
            ),
            (
                "opt/app/app.jar",
                include_bytes!("../../../tests/fixtures/sbom/alpine/rootfs/opt/app/app.jar"),
            ),
            (
                "usr/local/bin/hello-go",
                include_bytes!("../../../tests/fixtures/sbom/alpine/rootfs/usr/local/bin/hello-go"),
            ),
            (
                "usr/local/bin/hello-rust",
                include_bytes!(
                    "../../../tests/fixtures/sbom/alpine/rootfs/usr/local/bin/hello-rust"
                ),
            ),
            (
                "usr/local/bin/hello-auditable",
                include_bytes!(
                    "../../../tests/fixtures/sbom/alpine/rootfs/usr/local/bin/hello-auditable"
                ),
            ),
            (
                "lib/apk/db/installed",
                include_bytes!("../../../tests/fixtures/sbom/alpine/rootfs/lib/apk/db/installed"),
            ),
            (
                "var/lib/dpkg/status",
                include_bytes!("../../../tests/fixtures/sbom/debian/rootfs/var/lib/dpkg/status"),
            ),
        ];
        let parse = |path: &str, data: &[u8]| -> Found {
            match path {
                p if p.ends_with("rpmdb.sqlite") => rpm::parse(data, None),
                p if p.ends_with(".jar") => java::parse(p, data),
                p if p.ends_with("installed") => apk::parse(data, None),
                p if p.ends_with("status") => dpkg::parse(data, None, &BTreeMap::new()),
                _ => {
                    let mut f = golang::parse(data);
                    f.packages.extend(rustaudit::parse(data).packages);
                    f
                }
            }
        };
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for (path, data) in fixtures {
            let whole = parse(path, data);
            assert!(!whole.packages.is_empty(), "{path}: {:?}", whole.warnings);
            let step = (data.len() / 97).max(1);
            for cut in (0..data.len()).step_by(step) {
                let _ = parse(path, &data[..cut]);
            }
            for _ in 0..300 {
                let mut d = data.to_vec();
                for _ in 0..1 + next() % 8 {
                    let i = (next() as usize) % d.len();
                    d[i] ^= 1 << (next() % 8);
                }
                let _ = parse(path, &d);
            }
        }
    }

    #[test]
    fn final_view_honours_whiteouts_and_replacements() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let status1 = "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\n";
        let status2 = "Package: a\nVersion: 2\nArchitecture: all\n";
        let mut l1 = Vec::new();
        l1.extend(dirs("var/lib/dpkg"));
        l1.push(file("var/lib/dpkg/status", status1));
        l1.extend(dirs("etc"));
        l1.push(file("etc/os-release", "ID=debian\nVERSION_ID=12\n"));
        l1.extend(dirs("app/node_modules/gone"));
        l1.push(file(
            "app/node_modules/gone/package.json",
            r#"{"name":"gone","version":"1.0.0"}"#,
        ));
        l1.extend(dirs("app/node_modules/kept"));
        l1.push(file(
            "app/node_modules/kept/package.json",
            r#"{"name":"kept","version":"1.0.0"}"#,
        ));
        let mut l2 = Vec::new();
        l2.extend(dirs("var/lib/dpkg"));
        l2.push(file("var/lib/dpkg/status", status2));
        l2.extend(dirs("app/node_modules"));
        l2.push(LayerEntry::whiteout("app/node_modules/gone"));
        let img = image(&store, vec![l1, l2]);
        let sbom = catalog(&store, &img, "test").unwrap();
        let got: Vec<(&str, &str, usize)> = sbom
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.location.layer))
            .collect();
        assert_eq!(got, vec![("a", "2", 1), ("kept", "1.0.0", 0)]);
        assert_eq!(
            sbom.packages[0].purl,
            "pkg:deb/debian/a@2?arch=all&distro=debian-12"
        );
        assert_eq!(sbom.image.created.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(
            sbom.packages[0].location.layer_digest,
            img.layers()[1].digest.to_string()
        );
        // Deterministic ids: same image, same serial number.
        assert_eq!(
            sbom.uuid("x"),
            catalog(&store, &img, "other").unwrap().uuid("x")
        );
        assert_eq!(sbom.uuid("x").len(), 36);
    }

    #[test]
    fn classifies_paths() {
        let t = |p| classify(p);
        assert_eq!(t("var/lib/dpkg/status"), Some(Target::Db(Db::Dpkg)));
        assert_eq!(t("var/lib/dpkg/status.d/base"), Some(Target::Db(Db::Dpkg)));
        assert_eq!(t("var/lib/dpkg/status.d/base.md5sums"), None);
        assert_eq!(t("var/lib/dpkg/status-old"), None);
        assert_eq!(t("usr/share/doc/bash/copyright"), Some(Target::Copyright));
        assert_eq!(t("usr/share/doc/bash/x/copyright"), None);
        assert_eq!(
            t("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"),
            Some(Target::Python)
        );
        assert_eq!(
            t("usr/lib/python3/dist-packages/x.egg-info"),
            Some(Target::Python)
        );
        assert_eq!(t("app/node_modules/lodash/package.json"), Some(Target::Npm));
        assert_eq!(
            t("app/node_modules/@babel/core/package.json"),
            Some(Target::Npm)
        );
        assert_eq!(t("app/node_modules/lodash/fp/package.json"), None);
        assert_eq!(t("app/package.json"), None);
        assert_eq!(
            t("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec"),
            Some(Target::Ruby)
        );
        assert_eq!(
            t("srv/app/vendor/composer/installed.json"),
            Some(Target::Php)
        );
        assert_eq!(t("opt/app/app.jar"), Some(Target::Java));
        assert_eq!(t("usr/bin/bash"), None);
    }
}
