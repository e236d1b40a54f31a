//! `lading diff` on hand-made image pairs: each test plants one kind of difference and
//! asserts that exactly it is found — at the level where it starts — and nothing else.

mod common;

use std::path::Path;

use common::images::{Ent, ImageSpec, LayerSpec, What, base, write_layout};
use common::{Sandbox, run, stderr, stdout};
use serde_json::{Value, json};

/// A difference reduced to what the tests pin: (level, kind, layer, path, field).
type Key = (String, String, Option<i64>, Option<String>, String);

fn key(d: &Value) -> Key {
    (
        d["level"].as_str().unwrap().to_string(),
        d["kind"].as_str().unwrap().to_string(),
        d["layer"]["a"].as_i64().or(d["layer"]["b"].as_i64()),
        d["path"].as_str().map(String::from),
        d["field"].as_str().unwrap_or("").to_string(),
    )
}

fn k(level: &str, kind: &str, layer: Option<i64>, path: Option<&str>, field: &str) -> Key {
    (
        level.into(),
        kind.into(),
        layer,
        path.map(String::from),
        field.into(),
    )
}

/// Writes both images as OCI layouts and runs `lading diff --format json` on them;
/// returns (exit code, report).
fn diff_specs(sb: &Sandbox, a: &ImageSpec, b: &ImageSpec, extra: &[&str]) -> (i32, Value) {
    let (da, db) = (sb.path("a"), sb.path("b"));
    let _ = std::fs::remove_dir_all(&da);
    let _ = std::fs::remove_dir_all(&db);
    write_layout(&da, a);
    write_layout(&db, b);
    diff_refs(
        sb,
        &format!("oci:{}:t", da.display()),
        &format!("oci:{}:t", db.display()),
        extra,
    )
}

fn diff_refs(sb: &Sandbox, a: &str, b: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["diff", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[a, b]);
    let out = run(&mut sb.lading(&args));
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "lading diff failed ({code}):\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json report");
    (code, v)
}

fn keys(report: &Value) -> Vec<Key> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect()
}

/// Plants `change` into a copy of the base image and asserts the diff is exactly
/// `expected`; returns the report.
fn planted(change: impl FnOnce(&mut ImageSpec), expected: &[Key]) -> Value {
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    change(&mut b);
    let (code, report) = diff_specs(&sb, &a, &b, &[]);
    assert_eq!(keys(&report), expected, "{report:#}");
    assert_eq!(code, if expected.is_empty() { 0 } else { 1 });
    report
}

fn entry<'a>(img: &'a mut ImageSpec, layer: usize, path: &str) -> &'a mut Ent {
    img.layers[layer]
        .entries
        .iter_mut()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {path} in layer {layer}"))
}

#[test]
fn identical_images_are_equal_and_exit_0() {
    let report = planted(|_| {}, &[]);
    assert_eq!(report["layersSkipped"], 3);
    assert_eq!(report["layersRead"], 0);
}

#[test]
fn manifest_annotation() {
    planted(
        |b| b.annotations = json!({"org.example.build": "2"}),
        &[k(
            "manifest",
            "annotation",
            None,
            None,
            "annotations[org.example.build]",
        )],
    );
}

#[test]
fn config_env_cmd_labels_created() {
    planted(
        |b| {
            b.run = json!({"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["/bin/bash"], "Labels": {"org.example.team": "b", "new": "x"}});
            b.created = "2024-01-01T00:00:00Z".into();
        },
        &[
            k("config", "field", None, None, "config.Cmd"),
            k("config", "field", None, None, "created"),
            k("config", "env", None, None, "config.Env[LANG]"),
            k("config", "label", None, None, "config.Labels[new]"),
            k(
                "config",
                "label",
                None,
                None,
                "config.Labels[org.example.team]",
            ),
            // history `created` of every entry (the same timestamp field is written
            // into each).
            k("config", "history", None, None, "history[0].created"),
            k("config", "history", None, None, "history[1].created"),
            k("config", "history", None, None, "history[2].created"),
            k("config", "history", None, None, "history[3].created"),
        ],
    );
}

#[test]
fn history_entry_without_a_layer() {
    planted(
        |b| b.empty_history = vec![(1, "ENV LANG=C.UTF-8".into())],
        &[k("config", "history", None, None, "history[1].created_by")],
    );
}

#[test]
fn semantic_ignores_timestamps_but_not_created_by() {
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    b.created = "2024-01-01T00:00:00Z".into();
    for l in &mut b.layers {
        for e in &mut l.entries {
            e.mtime = 1_700_000_000;
        }
    }
    b.layers[2].created_by = "COPY app/ /app".into();
    let (code, report) = diff_specs(&sb, &a, &b, &["--semantic"]);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&report),
        [k("config", "history", None, None, "history[3].created_by")],
        "{report:#}"
    );
}

#[test]
fn layer_added_and_removed() {
    planted(
        |b| {
            b.layers.insert(
                2,
                LayerSpec::new("RUN /bin/sh -c touch /x", vec![Ent::file("x", b"")]),
            )
        },
        &[
            k("config", "history", None, None, "history[3]"),
            k("layer", "layer-added", Some(2), None, ""),
        ],
    );
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    b.layers.remove(2);
    let (_, report) = diff_specs(&sb, &a, &b, &[]);
    assert_eq!(
        keys(&report),
        [
            k("config", "history", None, None, "history[3]"),
            k("layer", "layer-removed", Some(2), None, "")
        ],
        "{report:#}"
    );
}

#[test]
fn file_content_with_unified_diff_and_layer_context() {
    let report = planted(
        |b| {
            entry(b, 0, "etc/hosts").what = What::File(
                b"127.0.0.1 localhost\n::1 localhost ip6-localhost\n# one\n# two\n# three\n# four\n"
                    .to_vec(),
            )
        },
        &[k("file", "content", Some(0), Some("etc/hosts"), "content")],
    );
    let d = &report["differences"][0];
    assert_eq!(
        d["unifiedDiff"],
        "--- a/etc/hosts\n+++ b/etc/hosts\n@@ -1,5 +1,5 @@\n 127.0.0.1 localhost\n-::1 localhost\n+::1 localhost ip6-localhost\n # one\n # two\n # three\n"
    );
    assert_eq!(d["layer"]["createdByA"], "ADD rootfs.tar /");
    assert_eq!(d["layer"]["historyA"], 0);
    // A binary file: content, no unified diff.
    let report = planted(
        |b| entry(b, 0, "bin/sh").what = What::File(vec![0x7f, b'E', b'L', b'F', 0, 9]),
        &[k("file", "content", Some(0), Some("bin/sh"), "content")],
    );
    assert!(report["differences"][0].get("unifiedDiff").is_none());
}

#[test]
fn mode_owner_mtime() {
    planted(
        |b| {
            entry(b, 2, "app/main.py").mode = 0o600;
            entry(b, 0, "home/app").uid = 1001;
            entry(b, 0, "etc/motd").mtime = 86_400;
        },
        &[
            k("file", "mtime", Some(0), Some("etc/motd"), "mtime"),
            k("file", "owner", Some(0), Some("home/app"), "uid"),
            k("file", "mode", Some(2), Some("app/main.py"), "mode"),
        ],
    );
}

#[test]
fn xattrs() {
    planted(
        |b| {
            entry(b, 0, "usr/bin/ping").xattrs = vec![];
            entry(b, 0, "etc/motd").xattrs = vec![("user.origin".into(), b"other".to_vec())];
        },
        &[
            k(
                "file",
                "xattr",
                Some(0),
                Some("etc/motd"),
                "xattr[user.origin]",
            ),
            k(
                "file",
                "xattr",
                Some(0),
                Some("usr/bin/ping"),
                "xattr[security.capability]",
            ),
            // The PAX header is gone with the xattr: the entry is ustar now.
            k(
                "file",
                "tar-header",
                Some(0),
                Some("usr/bin/ping"),
                "format",
            ),
        ],
    );
}

#[test]
fn symlink_target_and_file_type() {
    planted(
        |b| {
            entry(b, 0, "usr/bin/env").what = What::Symlink("/bin/sh".into());
            entry(b, 0, "run/fifo").what = What::File(Vec::new());
        },
        &[
            k("file", "type", Some(0), Some("run/fifo"), "type"),
            k(
                "file",
                "link-target",
                Some(0),
                Some("usr/bin/env"),
                "target",
            ),
        ],
    );
}

#[test]
fn hard_links_and_devices() {
    planted(
        |b| {
            entry(b, 0, "usr/bin/sh").what = What::Hardlink("usr/bin/ping".into());
            entry(b, 0, "dev/null").what = What::Char(1, 5);
        },
        &[
            k("file", "device", Some(0), Some("dev/null"), "device"),
            k("file", "link-target", Some(0), Some("usr/bin/sh"), "target"),
        ],
    );
    // A hard link that becomes a copy: a type change.
    planted(
        |b| entry(b, 0, "usr/bin/sh").what = What::File(vec![0x7f, b'E', b'L', b'F', 0, 1, 2, 3]),
        &[k("file", "type", Some(0), Some("usr/bin/sh"), "type")],
    );
}

#[test]
fn whiteouts_and_opaque_directories() {
    let report = planted(
        |b| {
            b.layers[1].entries.retain(|e| !e.path.contains(".wh."));
            b.layers[2].entries.insert(1, Ent::opaque("app"));
        },
        &[
            k("file", "removed", Some(1), Some("var/.wh.cache"), ""),
            k("file", "added", Some(2), Some("app/.wh..wh..opq"), ""),
        ],
    );
    let ds = report["differences"].as_array().unwrap();
    assert_eq!(
        ds[0]["note"],
        "whiteout: deletes /var/cache of lower layers"
    );
    assert_eq!(
        ds[1]["note"],
        "opaque whiteout: hides the lower layers' contents of /app"
    );
    assert_eq!(ds[0]["a"]["type"], "whiteout");
}

#[test]
fn same_files_other_compression() {
    let report = planted(
        |b| b.layers[2].gzip = Some(1),
        &[k("layer", "layer-bytes", Some(2), None, "compression")],
    );
    let note = report["differences"][0]["note"].as_str().unwrap();
    assert!(note.contains("gzip header XFL"), "{note}");
    planted(
        |b| b.layers[2].gzip = None,
        &[k("layer", "layer-bytes", Some(2), None, "compression")],
    );
}

#[test]
fn same_files_other_order_or_headers() {
    planted(
        |b| b.layers[0].entries.swap(5, 6),
        &[k("layer", "layer-bytes", Some(0), None, "order")],
    );
    // mtime in PAX records as well as in the ustar header: same files, other headers.
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    b.layers[2].pax_mtime = true;
    let (_, report) = diff_specs(&sb, &a, &b, &[]);
    assert_eq!(
        keys(&report),
        [
            k("file", "tar-header", Some(2), Some("app"), "format"),
            k("file", "tar-header", Some(2), Some("app/main.py"), "format"),
        ],
        "{report:#}"
    );
    let (code, report) = diff_specs(&sb, &a, &b, &["--semantic"]);
    assert_eq!((code, keys(&report)), (0, vec![]), "{report:#}");
}

#[test]
fn hostile_paths_stay_in_memory() {
    let sb = Sandbox::new();
    let mut a = base();
    a.layers[2]
        .entries
        .push(Ent::file("../../../../tmp/lading-diff-escape", b"x"));
    let mut b = a.clone();
    b.layers[2].entries.last_mut().unwrap().what = What::File(b"y".to_vec());
    let (_, report) = diff_specs(&sb, &a, &b, &[]);
    assert_eq!(
        keys(&report),
        [k(
            "file",
            "content",
            Some(2),
            Some("../../../../tmp/lading-diff-escape"),
            "content"
        )]
    );
    assert!(!Path::new("/tmp/lading-diff-escape").exists());
}

/// The layer digests of the layout's only image.
fn layer_digests(layout: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = common::json_blob(layout, index["manifests"][0]["digest"].as_str().unwrap());
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn blob_path(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

#[test]
fn identical_layers_are_skipped_by_digest_without_reading_them() {
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    entry(&mut b, 2, "app/main.py").what = What::File(b"print('bye')\n".to_vec());
    let (da, db) = (sb.path("a"), sb.path("b"));
    write_layout(&da, &a);
    write_layout(&db, &b);
    // Layer 0 corrupted and layer 1 deleted, in both layouts: had either been read, the
    // diff would fail (digest mismatch, missing blob).
    let shared = layer_digests(&da);
    for dir in [&da, &db] {
        std::fs::write(blob_path(dir, &shared[0]), b"not the layer").unwrap();
        std::fs::remove_file(blob_path(dir, &shared[1])).unwrap();
    }
    let (code, report) = diff_refs(
        &sb,
        &format!("oci:{}:t", da.display()),
        &format!("oci:{}:t", db.display()),
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(
        keys(&report),
        [k(
            "file",
            "content",
            Some(2),
            Some("app/main.py"),
            "content"
        )]
    );
    assert_eq!(report["layersSkipped"], 2);
    assert_eq!(report["layersRead"], 1);
    // A layer that is read is verified: corrupt the differing one and the diff fails.
    let differing = layer_digests(&da)[2].clone();
    let p = blob_path(&da, &differing);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 9] ^= 0xff;
    std::fs::write(&p, bytes).unwrap();
    let out = run(&mut sb.lading(&[
        "diff",
        &format!("oci:{}:t", da.display()),
        &format!("oci:{}:t", db.display()),
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Copies a layout into the sandbox's store as `name` (`lading cp`).
fn to_store(sb: &Sandbox, layout: &Path, name: &str) {
    common::assert_success(&run(&mut sb.lading(&[
        "cp",
        "-q",
        &format!("oci:{}:t", layout.display()),
        name,
    ])));
}

#[test]
fn store_images_and_archives() {
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    entry(&mut b, 1, "etc/app.conf").mode = 0o640;
    write_layout(&sb.path("a"), &a);
    write_layout(&sb.path("b"), &b);
    to_store(&sb, &sb.path("a"), "img:a");
    to_store(&sb, &sb.path("b"), "img:b");
    let want = [k("file", "mode", Some(1), Some("etc/app.conf"), "mode")];
    let (code, report) = diff_refs(&sb, "img:a", "img:b", &[]);
    assert_eq!((code, keys(&report)), (1, want.to_vec()), "{report:#}");
    // The shared layers' blobs can be gone from the store: they are not read.
    let shared = layer_digests(&sb.path("a"));
    std::fs::remove_file(blob_path(&sb.store(), &shared[0])).unwrap();
    let (_, report) = diff_refs(&sb, "img:a", "img:b", &[]);
    assert_eq!(keys(&report), want);
    to_store(&sb, &sb.path("a"), "img:a");

    // oci-archive: and docker-archive: (written by lading cp). A docker archive holds
    // uncompressed layers (as `docker save`): the same tar streams, other compression.
    let compression = |i| k("layer", "layer-bytes", Some(i), None, "compression");
    for (t, f) in [("oci-archive", "a.tar"), ("docker-archive", "a.docker.tar")] {
        let docker = t == "docker-archive";
        let file = sb.path(f);
        common::assert_success(&run(&mut sb.lading(&[
            "cp",
            "-q",
            "--platform",
            "linux/amd64",
            "img:a",
            &format!("{t}:{}", file.display()),
        ])));
        let (code, report) = diff_refs(&sb, &format!("{t}:{}", file.display()), "img:b", &[]);
        let expected = if docker {
            vec![compression(0), compression(2), want[0].clone()]
        } else {
            want.to_vec()
        };
        assert_eq!((code, keys(&report)), (1, expected), "{t}: {report:#}");
        let (code, report) = diff_refs(&sb, &format!("{t}:{}", file.display()), "img:a", &[]);
        let expected = if docker {
            vec![compression(0), compression(1), compression(2)]
        } else {
            vec![]
        };
        assert_eq!(
            (code, keys(&report)),
            (i32::from(docker), expected),
            "{t}: {report:#}"
        );
    }
}

#[test]
fn registry_images_download_only_differing_layers() {
    if !common::require_tool("docker-registry") {
        return;
    }
    let reg = common::registry::Distribution::start(None);
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    b.annotations = json!({"org.example.x": "1"});
    entry(&mut b, 2, "app/main.py").uid = 7;
    write_layout(&sb.path("a"), &a);
    write_layout(&sb.path("b"), &b);
    for (dir, tag) in [("a", "a"), ("b", "b")] {
        common::assert_success(&run(&mut sb.lading(&[
            "cp",
            "-q",
            &format!("oci:{}:t", sb.path(dir).display()),
            &format!("docker://{}/diff/img:{tag}", reg.host),
        ])));
    }
    // A fresh store: nothing cached.
    let fresh = Sandbox::new();
    let (code, report) = diff_refs(
        &fresh,
        &format!("docker://{}/diff/img:a", reg.host),
        &format!("docker://{}/diff/img:b", reg.host),
        &[],
    );
    assert_eq!(
        (code, keys(&report)),
        (
            1,
            vec![
                k(
                    "manifest",
                    "annotation",
                    None,
                    None,
                    "annotations[org.example.x]"
                ),
                k("file", "owner", Some(2), Some("app/main.py"), "uid"),
            ]
        ),
        "{report:#}"
    );
    let shared = layer_digests(&sb.path("a"));
    let layer_gets = reg
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .filter(|r| shared[..2].iter().any(|d| r.contains(d.as_str())))
        .count();
    assert_eq!(layer_gets, 0, "shared layers were downloaded");
}

#[test]
fn table_output_and_errors() {
    let sb = Sandbox::new();
    let a = base();
    let mut b = base();
    entry(&mut b, 0, "etc/hosts").what = What::File(b"changed\n".to_vec());
    write_layout(&sb.path("a"), &a);
    write_layout(&sb.path("b"), &b);
    let out = run(&mut sb.lading(&[
        "diff",
        &format!("oci:{}:t", sb.path("a").display()),
        &format!("oci:{}:t", sb.path("b").display()),
    ]));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("file   layer 0 /etc/hosts  content"),
        "{text}"
    );
    assert!(text.contains("+changed"), "{text}");
    let out = run(&mut sb.lading(&["diff", "nope:1", "nope:2"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn index_platforms_and_annotations() {
    let sb = Sandbox::new();
    let (da, db) = (sb.path("a"), sb.path("b"));
    write_layout(&da, &base());
    write_layout(&db, &base());
    common::images::wrap_in_index(&da, &[], json!({"org.example.i": "1"}));
    common::images::wrap_in_index(&db, &[("linux", "arm64")], json!({"org.example.i": "2"}));
    let (code, report) = diff_refs(
        &sb,
        &format!("oci:{}:t", da.display()),
        &format!("oci:{}:t", db.display()),
        &["--platform", "linux/amd64"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        keys(&report),
        [
            k(
                "index",
                "annotation",
                None,
                None,
                "annotations[org.example.i]"
            ),
            k("index", "platform", None, None, "manifests"),
        ],
        "{report:#}"
    );
    assert_eq!(
        report["differences"][1]["b"],
        json!({"architecture": "arm64", "os": "linux"})
    );
    // An index against the bare manifest it holds: only the media type differs.
    let dc = sb.path("c");
    write_layout(&dc, &base());
    let (_, report) = diff_refs(
        &sb,
        &format!("oci:{}:t", da.display()),
        &format!("oci:{}:t", dc.display()),
        &["--platform", "linux/amd64"],
    );
    assert_eq!(
        keys(&report),
        [k("index", "field", None, None, "mediaType")],
        "{report:#}"
    );
}
