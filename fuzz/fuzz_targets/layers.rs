//! Hostile layer blobs (tar, or gzip when the first byte is odd): the gates' layer walk,
//! the SBOM cataloger, the secrets scanner, and unpacking into a directory, which must
//! not write outside it.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use lading_gates::secrets::{self, Ruleset, detect::Detector};
use lading_oci::constants::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST};
use lading_oci::spec::to_canonical_json;
use lading_oci::unpack::{UnpackOptions, apply_layers};
use lading_oci::{Digest, Image, ImageConfig, Manifest, Platform, Store};
use libfuzzer_sys::fuzz_target;

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    detector: Detector,
}

fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("store")).expect("store");
        let detector = Detector::new(Ruleset::builtin().expect("rules")).expect("detector");
        Env {
            _dir: dir,
            store,
            detector,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, blob)) = data.split_first() else {
        return;
    };
    let e = env();
    let media = if flags & 1 == 1 {
        MEDIA_TYPE_LAYER_GZIP
    } else {
        MEDIA_TYPE_LAYER_TAR
    };
    let Ok(layer) = e.store.put_bytes(blob, media) else {
        return;
    };
    let mut config = ImageConfig::default();
    config.rootfs.diff_ids.push(Digest::of(blob));
    let Ok(config_desc) = to_canonical_json(&config)
        .and_then(|c| e.store.put_bytes(&c, MEDIA_TYPE_CONFIG))
    else {
        return;
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: None,
        config: config_desc.clone(),
        layers: vec![layer.clone()],
        subject: None,
        annotations: BTreeMap::new(),
    };
    let Ok(desc) = to_canonical_json(&manifest).and_then(|m| e.store.put_bytes(&m, MEDIA_TYPE_MANIFEST))
    else {
        return;
    };
    if let Ok(image) = Image::load(&e.store, &desc, &Platform::host()) {
        let _ = lading_gates::layers::walk(&e.store, &image, &mut |_, r| {
            let _ = std::io::copy(r, &mut std::io::sink());
            Ok(lading_gates::layers::Flow::Continue)
        });
        let _ = lading_gates::sbom::catalog(&e.store, &image, "fuzz");
        let opts = secrets::Options { threads: 1 };
        let _ = secrets::scan(&e.store, &image, "fuzz", &e.detector, &opts);
        if let Ok(tmp) = tempfile::tempdir() {
            let root = tmp.path().join("root");
            let _ = apply_layers(&e.store, &image.manifest.layers, &root, UnpackOptions { chown: false });
            let outside: Vec<_> = std::fs::read_dir(tmp.path())
                .map(|d| d.filter_map(|x| x.ok()).map(|x| x.file_name()).collect())
                .unwrap_or_default();
            assert!(outside.iter().all(|n| n == "root"), "unpack wrote outside its root: {outside:?}");
            make_writable(&root);
        }
    }
    for d in [&desc.digest, &config_desc.digest, &layer.digest] {
        let _ = e.store.delete_blob(d);
    }
});

/// Unpacked directories may be read-only; make them removable.
fn make_writable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}
