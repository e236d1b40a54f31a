use super::*;
use crate::constants::MEDIA_TYPE_MANIFEST;

/// A store with an image `t:1` (config + one layer) and returns (store, layer, manifest).
fn store_with_image(dir: &Path, layer_bytes: &[u8]) -> (Store, Digest, Digest) {
    let store = Store::open(dir).unwrap();
    let config = store.put_bytes(b"{}", "c").unwrap();
    let layer = store.put_bytes(layer_bytes, "l").unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{}","size":2}},"layers":[{{"mediaType":"l","digest":"{}","size":{}}}]}}"#,
        config.digest,
        layer.digest,
        layer_bytes.len()
    );
    let m = store
        .put_bytes(manifest.as_bytes(), MEDIA_TYPE_MANIFEST)
        .unwrap();
    store.tag("t:1", &m).unwrap();
    (store, layer.digest, m.digest)
}

/// Blobs written by "another process": through a store without this process's lease.
fn foreign(store: &Store) -> Store {
    store.unleased()
}

fn cache_record(store: &Store, kind: &str, name: &str, blob: &Digest) -> PathBuf {
    let dir = store.private_dir().join(kind);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(
        &path,
        format!(r#"[{{"mediaType":"l","digest":"{blob}","size":1}},"{blob}"]"#),
    )
    .unwrap();
    path
}

#[test]
fn tagged_images_stay_unreferenced_blobs_go() {
    let dir = tempfile::tempdir().unwrap();
    let (store, layer, manifest) = store_with_image(dir.path(), b"layer");
    let other = foreign(&store);
    let stray = other.put_bytes(b"stray", "x").unwrap().digest;
    let r = prune(&store, &Options::default()).unwrap();
    assert!(!store.blob_path(&stray).exists());
    assert!(store.blob_path(&layer).exists() && store.blob_path(&manifest).exists());
    assert_eq!(r.reclaimed, 5);
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn cache_within_budget_stays_most_recent_first_dangling_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_image(dir.path(), b"layer");
    let other = foreign(&store);
    let old = other.put_bytes(&[1u8; 1000], "l").unwrap().digest;
    let new = other.put_bytes(&[2u8; 1000], "l").unwrap().digest;
    let old_rec = cache_record(&store, "cache/layers", "a", &old);
    let new_rec = cache_record(&store, "cache/run", "b", &new);
    let t0 = SystemTime::now() - Duration::from_secs(3600);
    for p in [&old_rec, &store.blob_path(&old)] {
        fs::File::open(p).unwrap().set_modified(t0).unwrap();
    }
    let gone = Digest::of(b"never stored");
    let dangling = cache_record(&store, "cache/copy", "c", &gone);
    // Default: usable cache stays, dangling goes.
    prune(&store, &Options::default()).unwrap();
    assert!(!dangling.exists());
    assert!(old_rec.exists() && new_rec.exists() && store.blob_path(&old).exists());
    // A budget of one record keeps the most recently used one.
    let opts = Options {
        keep_storage: Some(1500),
        ..Options::default()
    };
    prune(&store, &opts).unwrap();
    assert!(new_rec.exists() && store.blob_path(&new).exists());
    assert!(!old_rec.exists() && !store.blob_path(&old).exists());
    // until: only what was used before then.
    let opts = Options {
        until: Some(t0),
        ..Options::default()
    };
    prune(&store, &opts).unwrap();
    assert!(new_rec.exists());
    let all = Options {
        all: true,
        ..Options::default()
    };
    prune(&store, &all).unwrap();
    assert!(!new_rec.exists() && !store.blob_path(&new).exists());
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn what_this_process_holds_stays_even_with_all() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_image(dir.path(), b"layer");
    let other = foreign(&store);
    let used = other.put_bytes(b"in use", "l").unwrap().digest;
    let rec = cache_record(&store, "cache/run", "r", &used);
    // Leased by this (live) process, as a build does on a cache hit.
    assert!(store.has(&used));
    let all = Options {
        all: true,
        ..Options::default()
    };
    prune(&store, &all).unwrap();
    assert!(store.blob_path(&used).exists() && rec.exists());
}

#[test]
fn records_follow_their_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, manifest) = store_with_image(dir.path(), b"layer");
    let other = foreign(&store);
    let report = other.put_bytes(b"{\"report\":1}", "r").unwrap().digest;
    let gates = store.private_dir().join("gates");
    fs::create_dir_all(&gates).unwrap();
    let kept = gates.join(format!("{}.json", manifest.hex()));
    let record = format!(r#"{{"reports":["{report}"]}}"#);
    fs::write(&kept, &record).unwrap();
    // The record is a blob too (gate records are), kept with its file.
    let record_blob = other.put_bytes(record.as_bytes(), "g").unwrap().digest;
    let gone = gates.join(format!("{}.json", Digest::of(b"x").hex()));
    fs::write(&gone, "{}").unwrap();
    prune(
        &store,
        &Options {
            all: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(kept.exists() && store.blob_path(&report).exists());
    assert!(store.blob_path(&record_blob).exists());
    assert!(!gone.exists());
}

#[test]
fn orphans_of_dead_processes_go_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_image(dir.path(), b"layer");
    let private = store.private_dir();
    // A dead process: its lease file exists but nobody locks it.
    let dead = "7x00112233445566aa";
    fs::write(private.join(lease::LEASES_DIR).join(dead), "").unwrap();
    let dead_blob = private.join(format!("ingest/.tmp-{dead}-blob-abc"));
    fs::write(&dead_blob, vec![0u8; 4096]).unwrap();
    let dead_dir = private.join(format!(".tmp-{dead}-build-xyz"));
    fs::create_dir_all(dead_dir.join("run-1/upper")).unwrap();
    // This live process's temp file.
    let live = tempfile::Builder::new()
        .prefix(&store.temp_prefix("blob").unwrap())
        .tempfile_in(private.join("ingest"))
        .unwrap();
    // A legacy (pre-lease) leftover, fresh: within the grace period.
    let legacy = private.join("ingest/blob-old");
    fs::write(&legacy, b"x").unwrap();
    let freed = reclaim_orphans(&store).unwrap();
    assert!(freed >= 4096, "{freed}");
    assert!(!dead_blob.exists() && !dead_dir.exists());
    assert!(!private.join(lease::LEASES_DIR).join(dead).exists());
    assert!(live.path().exists() && legacy.exists());
    // Past the grace period the legacy file goes too.
    fs::File::open(&legacy)
        .unwrap()
        .set_modified(SystemTime::now() - LEGACY_GRACE - Duration::from_secs(1))
        .unwrap();
    reclaim_orphans(&store).unwrap();
    assert!(!legacy.exists());
}
