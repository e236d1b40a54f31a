//! Differential test of `lading diff` against diffoci (reproducible-containers/diffoci,
//! pinned in scripts/install-peers): random image pairs from seeds, every difference
//! diffoci reports (plain and `--semantic`) must be one lading reports too.
//!
//! diffoci reads images through containerd's content store: each pair is written as OCI
//! layouts, copied to OCI archives whose `org.opencontainers.image.ref.name` is a full
//! reference, and `diffoci load`ed into a private cache (`--backend=local`); it then
//! compares them with `--pull never` and a JSON `--report-file`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::images::{Ent, ImageSpec, LayerSpec, What, write_layout};
use common::rng::Rng;
use common::{Sandbox, assert_success, run, stderr, stdout};
use serde_json::{Value, json};

fn diffoci() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/go/bin/diffoci")
}

const NAMES: &[&str] = &["a", "b", "conf", "data.bin", "lib", "x.txt", "run.sh"];
const DIRS: &[&str] = &["etc", "usr/lib", "opt/app", "var/log"];

fn content(r: &mut Rng) -> Vec<u8> {
    if r.chance(50) {
        (0..r.below(6) + 1)
            .map(|i| format!("line {i} {}\n", r.below(1000)))
            .collect::<String>()
            .into_bytes()
    } else {
        (0..r.below(64)).map(|_| r.next() as u8).collect()
    }
}

fn random_image(r: &mut Rng) -> ImageSpec {
    let mut layers = Vec::new();
    let mut lower_files: Vec<String> = Vec::new();
    for li in 0..r.below(3) + 1 {
        let mut entries = Vec::new();
        let mut files: Vec<String> = Vec::new();
        for d in DIRS {
            if !r.chance(60) {
                continue;
            }
            let mut parent = String::new();
            for part in d.split('/') {
                parent = if parent.is_empty() {
                    part.to_string()
                } else {
                    format!("{parent}/{part}")
                };
                entries.push(Ent::dir(&parent));
            }
            for _ in 0..r.below(4) + 1 {
                let path = format!("{d}/{}{}", r.pick(NAMES), r.below(5));
                if entries.iter().any(|e: &Ent| e.path == path) {
                    continue;
                }
                let mut e = match r.below(10) {
                    0 => Ent::new(&path, What::Symlink(format!("../{}", r.pick(NAMES))), 0o777),
                    1 if !files.is_empty() => {
                        Ent::new(&path, What::Hardlink(r.pick(&files).clone()), 0o644)
                    }
                    _ => {
                        files.push(path.clone());
                        Ent::file(&path, &content(r))
                    }
                };
                if !matches!(e.what, What::Symlink(_)) {
                    e.mode = *r.pick(&[0o644, 0o755, 0o600, 0o4755]);
                }
                e.uid = *r.pick(&[0, 0, 1000]);
                e.gid = e.uid;
                e.mtime = *r.pick(&[0, 1_700_000_000]);
                if r.chance(15) {
                    e.xattrs = vec![("user.k".into(), vec![r.below(3) as u8 + b'0'])];
                }
                entries.push(e);
            }
        }
        if li > 0 && !lower_files.is_empty() && r.chance(50) {
            let victim = r.pick(&lower_files).clone();
            let parent = victim.rsplit_once('/').map(|p| p.0).unwrap_or("");
            if !entries.iter().any(|e| e.path == parent) {
                entries.push(Ent::dir(parent));
            }
            entries.push(Ent::whiteout(&victim));
        }
        dedup_and_sort(&mut entries);
        lower_files.extend(files);
        layers.push(LayerSpec::new(&format!("RUN step {li}"), entries));
    }
    ImageSpec::new(layers)
}

fn dedup_and_sort(entries: &mut Vec<Ent>) {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);
}

/// Plants one random difference; returns what it did (for failure messages).
fn perturb(r: &mut Rng, img: &mut ImageSpec) -> String {
    let li = r.below(img.layers.len());
    let layer = &mut img.layers[li];
    let n = layer.entries.len();
    let i = r.below(n);
    match r.below(14) {
        0 if n > 0 => match &mut layer.entries[i].what {
            What::File(d) => {
                d.push(b'!');
                format!("content of {}", layer.entries[i].path)
            }
            _ => {
                layer.entries[i].uid += 1;
                format!("uid of {}", layer.entries[i].path)
            }
        },
        1 if n > 0 => {
            layer.entries[i].mode ^= 0o020;
            format!("mode of {}", layer.entries[i].path)
        }
        2 if n > 0 => {
            layer.entries[i].gid += 7;
            format!("gid of {}", layer.entries[i].path)
        }
        3 if n > 0 => {
            layer.entries[i].mtime += 3600;
            format!("mtime of {}", layer.entries[i].path)
        }
        4 => {
            layer.entries.push(Ent::file("zz-added", b"new\n"));
            format!("added zz-added to layer {li}")
        }
        5 if n > 0 => {
            let e = layer.entries.remove(i);
            format!("removed {} from layer {li}", e.path)
        }
        6 if n > 0 => {
            layer.entries[i].xattrs = vec![("user.planted".into(), b"1".to_vec())];
            format!("xattr of {}", layer.entries[i].path)
        }
        7 if n > 0 => {
            let p = layer.entries[i].path.clone();
            layer.entries[i].what = What::Symlink(format!("/elsewhere/{p}"));
            format!("{p} made a symlink")
        }
        8 => {
            layer.entries.push(Ent::whiteout("zz-gone"));
            format!("whiteout zz-gone in layer {li}")
        }
        9 if n > 1 => {
            let j = (i + 1) % n;
            layer.entries.swap(i, j);
            format!("order of entries {i} and {j} in layer {li}")
        }
        10 => {
            layer.gzip = Some(1);
            format!("gzip level 1 for layer {li}")
        }
        11 => {
            img.run["Env"] = json!(["PATH=/usr/bin", "PLANTED=1"]);
            "env".into()
        }
        12 => {
            img.run["Labels"]["planted"] = json!("yes");
            "label".into()
        }
        _ => {
            img.layers[li].created_by.push_str(" --planted");
            format!("history created_by of layer {li}")
        }
    }
}

fn normalize(raw: &str) -> String {
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// A leaf event of diffoci's report: (context, type, note, tar entry name, whether
/// only the entry's index in the tar stream differs).
type Event = (String, String, String, Option<String>, bool);

fn leaves(node: &Value, out: &mut Vec<Event>) {
    let children = node["children"].as_array().cloned().unwrap_or_default();
    if children.is_empty()
        && node["event"]["type"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    {
        let ev = &node["event"];
        let name = ev["inputs"][0]["tarEntry"]["header"]["Name"]
            .as_str()
            .or(ev["inputs"][1]["tarEntry"]["header"]["Name"].as_str())
            .map(String::from);
        let diff = ev["diff"].as_str().unwrap_or("");
        let changed: Vec<&str> = diff
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with('-') || l.starts_with('+'))
            .collect();
        let index_only = !changed.is_empty() && changed.iter().all(|l| l.contains("Index:"));
        out.push((
            node["context"].as_str().unwrap_or("").to_string(),
            ev["type"].as_str().unwrap_or("").to_string(),
            ev["note"].as_str().unwrap_or("").to_string(),
            name,
            index_only,
        ));
    }
    for c in &children {
        leaves(c, out);
    }
}

/// `/layers-3/...` → 3.
fn layer_of(context: &str) -> Option<i64> {
    context
        .split('/')
        .find_map(|c| c.strip_prefix("layers-"))
        .and_then(|n| n.parse().ok())
}

/// Whether lading's report covers one diffoci event.
fn covered(ev: &Event, lading: &[Value]) -> bool {
    let (context, kind, note, name, index_only) = ev;
    let in_layer = |n: i64| {
        lading.iter().filter(move |d| {
            d["layer"]["a"].as_i64() == Some(n) || d["layer"]["b"].as_i64() == Some(n)
        })
    };
    let any = !lading.is_empty();
    let level = |l: &str| lading.iter().any(|d| d["level"] == l);
    match kind.as_str() {
        // Digests of descriptors: a consequence of what differs below them.
        "DescriptorMismatch" => {
            if context == "/annotations" {
                // The descriptor's image-name annotation: the names diffoci loaded the
                // archives under, not part of either image.
                return true;
            }
            match layer_of(context) {
                Some(n) => in_layer(n).next().is_some(),
                None if context.starts_with("/config") => {
                    level("config") || level("layer") || level("file")
                }
                None => any,
            }
        }
        // The whole manifest or config JSON differs (go-cmp text): lading reports the
        // fields, or the layers whose digests and diff_ids changed.
        "ManifestBlobMismatch" => any,
        "ConfigBlobMismatch" => level("config") || level("layer") || level("file"),
        "LayerBlobMismatch" => {
            let Some(n) = layer_of(context) else {
                return any;
            };
            if let Some(rest) = note.strip_prefix("name \"") {
                let entry = normalize(rest.split('"').next().unwrap_or(""));
                in_layer(n).any(|d| d["path"].as_str() == Some(entry.as_str()))
            } else {
                // "length mismatch (N vs M)": entries added or removed.
                in_layer(n).any(|d| {
                    d["kind"] == "added" || d["kind"] == "removed" || d["kind"] == "duplicate"
                })
            }
        }
        "TarEntryMismatch" => {
            let (Some(n), Some(name)) = (layer_of(context), name) else {
                return any;
            };
            let entry = normalize(name);
            in_layer(n).any(|d| {
                d["path"].as_str() == Some(entry.as_str())
                    || (d["level"] == "layer" && d["field"] == "order")
                    // diffoci compares each entry's position in the stream: an entry
                    // added or removed before it shifts it. lading reports the entry
                    // added or removed, where the shift starts.
                    || (*index_only && (d["kind"] == "added" || d["kind"] == "removed"))
            })
        }
        _ => false,
    }
}

fn lading_diff(sb: &Sandbox, a: &Path, b: &Path, semantic: bool) -> (i32, Vec<Value>) {
    let (ra, rb) = (
        format!("oci:{}:t", a.display()),
        format!("oci:{}:t", b.display()),
    );
    let mut args = vec!["diff", "--format", "json"];
    if semantic {
        args.push("--semantic");
    }
    args.extend_from_slice(&[&ra, &rb]);
    let out = run(&mut sb.lading(&args));
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "lading diff: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        code,
        v["differences"].as_array().cloned().unwrap_or_default(),
    )
}

fn diffoci_diff(cache: &Path, a: &str, b: &str, semantic: bool, report: &Path) -> (i32, Value) {
    let mut cmd = Command::new(diffoci());
    cmd.args(["--backend=local", "--local-cache"])
        .arg(cache)
        .args(["diff", "--pull", "never", "--report-file"])
        .arg(report);
    if semantic {
        cmd.arg("--semantic");
    }
    cmd.args([a, b]);
    let out = run(&mut cmd);
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "diffoci diff: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(report).expect("report")).expect("json");
    (code, v)
}

#[test]
fn every_difference_diffoci_finds_lading_finds() {
    if !common::require(
        diffoci().is_file(),
        "diffoci in target/peers/go/bin (scripts/install-peers)",
    ) {
        return;
    }
    let seeds: u64 = std::env::var("LADING_DIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let sb = Sandbox::new();
    let cache = sb.path("diffoci-cache");
    let mut more_from_lading = 0;
    for seed in 0..seeds {
        let mut r = Rng(seed * 7919 + 1);
        let a = random_image(&mut r);
        let mut b = a.clone();
        let planted: Vec<String> = (0..r.below(3) + 1)
            .map(|_| perturb(&mut r, &mut b))
            .collect();
        for l in &mut b.layers {
            dedup_and_sort_keep_order(&mut l.entries);
        }
        let (da, db) = (sb.path(&format!("a{seed}")), sb.path(&format!("b{seed}")));
        write_layout(&da, &a);
        write_layout(&db, &b);
        let mut names = Vec::new();
        for (side, dir) in [("a", &da), ("b", &db)] {
            let name = format!("example.com/diff/{side}{seed}:1");
            let archive = sb.path(&format!("{side}{seed}.tar"));
            assert_success(&run(&mut sb.lading(&[
                "cp",
                "-q",
                &format!("oci:{}:t", dir.display()),
                &format!("oci-archive:{}:{name}", archive.display()),
            ])));
            let out = run(Command::new(diffoci())
                .args(["--backend=local", "--local-cache"])
                .arg(&cache)
                .args(["load", "--input"])
                .arg(&archive));
            assert_success(&out);
            names.push(name);
        }
        for semantic in [false, true] {
            let (lcode, lading) = lading_diff(&sb, &da, &db, semantic);
            let report = sb.path(&format!("report{seed}-{semantic}.json"));
            let (dcode, tree) = diffoci_diff(&cache, &names[0], &names[1], semantic, &report);
            let mut events = Vec::new();
            leaves(&tree, &mut events);
            let missed: Vec<_> = events.iter().filter(|e| !covered(e, &lading)).collect();
            assert!(
                missed.is_empty(),
                "seed {seed} (semantic: {semantic}), planted {planted:?}: diffoci found what lading did not:\n{missed:#?}\nlading:\n{lading:#?}"
            );
            if dcode == 1 {
                assert_eq!(
                    lcode, 1,
                    "seed {seed}: diffoci says different, lading equal"
                );
            }
            if lcode == 1 && dcode == 0 {
                more_from_lading += 1;
                eprintln!(
                    "seed {seed} (semantic: {semantic}), planted {planted:?}: lading finds {} differences diffoci does not see: {:?}",
                    lading.len(),
                    lading
                        .iter()
                        .map(|d| format!("{} {} {}", d["level"], d["kind"], d["field"]))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
    eprintln!("{seeds} seeds; {more_from_lading} comparisons where only lading saw a difference");
}

/// Keeps the first of duplicate paths, in their order (perturbations may add a name twice).
fn dedup_and_sort_keep_order(entries: &mut Vec<Ent>) {
    let mut seen = std::collections::BTreeSet::new();
    entries.retain(|e| seen.insert(e.path.clone()));
}
