//! Hand-made images for `lading diff` tests: layers written entry by entry with the
//! `tar` crate (any header field, PAX records, whiteouts, hard links), gzip at any level,
//! configs and manifests as plain JSON, written as OCI image layouts.

use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use super::sha256;

/// What an entry is.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Fifo,
}

/// One tar entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Ent {
    pub path: String,
    pub what: What,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Ent {
    pub fn file(path: &str, data: &[u8]) -> Ent {
        Ent::new(path, What::File(data.to_vec()), 0o644)
    }
    pub fn dir(path: &str) -> Ent {
        Ent::new(path, What::Dir, 0o755)
    }
    pub fn new(path: &str, what: What, mode: u32) -> Ent {
        Ent {
            path: path.into(),
            what,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
        }
    }
    /// A whiteout of `path`.
    pub fn whiteout(path: &str) -> Ent {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let p = if parent.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{parent}/.wh.{name}")
        };
        Ent::new(&p, What::File(Vec::new()), 0o644)
    }
    /// The opaque marker of `dir`.
    pub fn opaque(dir: &str) -> Ent {
        Ent::new(
            &format!("{dir}/.wh..wh..opq"),
            What::File(Vec::new()),
            0o644,
        )
    }
}

/// A layer: entries in this order, gzip level (None: uncompressed tar).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    pub entries: Vec<Ent>,
    pub gzip: Option<u32>,
    /// Write every header as PAX (an `x` record with the mtime) even when ustar holds it.
    pub pax_mtime: bool,
    /// History `created_by` of the layer.
    pub created_by: String,
}

impl LayerSpec {
    pub fn new(created_by: &str, entries: Vec<Ent>) -> LayerSpec {
        LayerSpec {
            entries,
            gzip: Some(6),
            pax_mtime: false,
            created_by: created_by.into(),
        }
    }
}

/// An image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    pub layers: Vec<LayerSpec>,
    /// The config's `config` object.
    pub run: Value,
    /// The config's `created`.
    pub created: String,
    /// History entries without layers, inserted before layer `at`: (at, created_by).
    pub empty_history: Vec<(usize, String)>,
    pub annotations: Value,
}

impl ImageSpec {
    pub fn new(layers: Vec<LayerSpec>) -> ImageSpec {
        ImageSpec {
            layers,
            run: json!({"Env": ["PATH=/usr/bin:/bin", "LANG=C"], "Cmd": ["/bin/sh"], "Labels": {"org.example.team": "a"}}),
            created: "1970-01-01T00:00:00Z".into(),
            empty_history: Vec::new(),
            annotations: json!({}),
        }
    }
}

/// The tar bytes of a layer.
pub fn tar_bytes(l: &LayerSpec) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in &l.entries {
        let mut pax: Vec<(String, Vec<u8>)> = e
            .xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.clone()))
            .collect();
        if l.pax_mtime {
            pax.push(("mtime".into(), format!("{}", e.mtime).into_bytes()));
        }
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        let data: &[u8] = match &e.what {
            What::File(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                d
            }
            What::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                &[]
            }
            What::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(t).unwrap();
                &[]
            }
            What::Hardlink(t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_link_name(t).unwrap();
                &[]
            }
            What::Char(ma, mi) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                &[]
            }
            What::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                &[]
            }
        };
        h.set_size(data.len() as u64);
        let path = if e.what == What::Dir {
            format!("{}/", e.path)
        } else {
            e.path.clone()
        };
        if path.split('/').any(|c| c == "..") {
            // The tar crate refuses `..` in names it writes: a hostile layer's name
            // goes into the header as it is.
            let name = &mut h.as_old_mut().name;
            name.fill(0);
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, data).unwrap();
        } else {
            b.append_data(&mut h, &path, data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// Compressed (or not) blob bytes and media type.
pub fn layer_blob(l: &LayerSpec) -> (Vec<u8>, Vec<u8>, &'static str) {
    let tar = tar_bytes(l);
    match l.gzip {
        None => (tar.clone(), tar, "application/vnd.oci.image.layer.v1.tar"),
        Some(level) => {
            let gz = flate2::GzBuilder::new().mtime(0).operating_system(255);
            let mut w: GzEncoder<Vec<u8>> = gz.write(Vec::new(), Compression::new(level));
            std::io::Write::write_all(&mut w, &tar).unwrap();
            (
                w.finish().unwrap(),
                tar,
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
    }
}

fn put(dir: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let p = dir
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// Writes the image as an OCI layout at `dir` (tag `t`); returns the manifest digest.
pub fn write_layout(dir: &Path, img: &ImageSpec) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (i, l) in img.layers.iter().enumerate() {
        for (at, by) in &img.empty_history {
            if *at == i {
                history
                    .push(json!({"created": img.created, "created_by": by, "empty_layer": true}));
            }
        }
        let (blob, tar, mt) = layer_blob(l);
        let d = put(dir, &blob);
        layers.push(json!({"mediaType": mt, "digest": d, "size": blob.len()}));
        diff_ids.push(sha256(&tar));
        history.push(json!({"created": img.created, "created_by": l.created_by}));
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": img.created,
        "config": img.run,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = put(dir, &cb);
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cb.len()},
        "layers": layers,
    });
    if img.annotations.as_object().is_some_and(|o| !o.is_empty()) {
        manifest["annotations"] = img.annotations.clone();
    }
    let mb = serde_json::to_vec(&manifest).unwrap();
    let md = put(dir, &mb);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": mb.len(),
            "annotations": {"org.opencontainers.image.ref.name": "t"}
        }]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    md
}

/// A base image with a bit of everything: directories, text and binary files, a
/// symlink, a hard link, a device, a fifo, xattrs, and a second layer with a whiteout
/// and an opaque directory.
pub fn base() -> ImageSpec {
    let mut sh = Ent::file("bin/sh", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 3]);
    sh.mode = 0o755;
    let mut cap = Ent::file("usr/bin/ping", b"ping\0binary");
    cap.mode = 0o755;
    cap.xattrs = vec![("security.capability".into(), vec![1, 0, 0, 2])];
    let mut user_x = Ent::file("etc/motd", b"hello\n");
    user_x.xattrs = vec![("user.origin".into(), b"base".to_vec())];
    let mut home = Ent::dir("home/app");
    home.uid = 1000;
    home.gid = 1000;
    let l0 = LayerSpec::new(
        "ADD rootfs.tar /",
        vec![
            Ent::dir("bin"),
            sh,
            Ent::dir("dev"),
            Ent::new("dev/null", What::Char(1, 3), 0o666),
            Ent::dir("etc"),
            Ent::file(
                "etc/hosts",
                b"127.0.0.1 localhost\n::1 localhost\n# one\n# two\n# three\n# four\n",
            ),
            user_x,
            Ent::dir("home"),
            home,
            Ent::new("run", What::Dir, 0o755),
            Ent::new("run/fifo", What::Fifo, 0o600),
            Ent::dir("usr"),
            Ent::dir("usr/bin"),
            cap,
            Ent::new("usr/bin/sh", What::Hardlink("bin/sh".into()), 0o755),
            Ent::new("usr/bin/env", What::Symlink("../../bin/sh".into()), 0o777),
            Ent::dir("var"),
            Ent::dir("var/cache"),
            Ent::file("var/cache/a", b"a\n"),
        ],
    );
    let l1 = LayerSpec::new(
        "RUN /bin/sh -c rm -rf /var/cache && echo app > /etc/app.conf",
        vec![
            Ent::dir("etc"),
            Ent::file("etc/app.conf", b"app\n"),
            Ent::dir("var"),
            Ent::whiteout("var/cache"),
        ],
    );
    let l2 = LayerSpec::new(
        "COPY app /app",
        vec![Ent::dir("app"), Ent::file("app/main.py", b"print('hi')\n")],
    );
    let mut img = ImageSpec::new(vec![l0, l1, l2]);
    img.empty_history = vec![(1, "ENV LANG=C".into())];
    img
}

/// Puts the layout's image under an image index (tag `t` then names the index): the
/// manifest for linux/amd64, plus the same manifest under each of `more` platforms
/// (`(os, architecture)`), with `annotations` on the index.
pub fn wrap_in_index(dir: &Path, more: &[(&str, &str)], annotations: Value) -> String {
    let top: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut m = top["manifests"][0].clone();
    m.as_object_mut().unwrap().remove("annotations");
    let mut entries = Vec::new();
    for (os, arch) in std::iter::once(&("linux", "amd64")).chain(more) {
        let mut e = m.clone();
        e["platform"] = json!({"os": os, "architecture": arch});
        entries.push(e);
    }
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    if annotations.as_object().is_some_and(|o| !o.is_empty()) {
        index["annotations"] = annotations;
    }
    let bytes = serde_json::to_vec(&index).unwrap();
    let d = put(dir, &bytes);
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": d, "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "t"}
        }]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    d
}
