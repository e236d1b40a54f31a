//! Helpers for the gate tests: images written layer by layer straight into a store (for
//! what `lading build` cannot make in this branch: RUN history, whiteouts), a
//! deterministic generator of real-format credentials, and a one-route HTTP server.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use lading_oci::Platform;
use lading_oci::constants::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST};
use lading_oci::layer::{Entry, EntryKind, FileData, write_layer};
use lading_oci::spec::{History, ImageConfig, Manifest, to_canonical_json};
use lading_oci::store::Store;

/// A regular file entry.
pub fn file(path: &str, content: &str, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File {
            data: FileData::Bytes(Arc::from(content.as_bytes())),
            size: content.len() as u64,
        },
        mode,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }
}

/// A directory entry.
pub fn dir(path: &str) -> Entry {
    Entry::dir(path, 0o755, 0, 0)
}

/// A whiteout.
pub fn whiteout(path: &str) -> Entry {
    Entry::whiteout(path)
}

/// An image made step by step, as another builder would have made it.
#[derive(Default)]
pub struct Craft {
    layers: Vec<Vec<Entry>>,
    history: Vec<History>,
    /// The config (env, user, ... may be set directly).
    pub config: ImageConfig,
}

impl Craft {
    /// An empty image for the host platform.
    pub fn new() -> Craft {
        let p = Platform::host();
        let mut c = Craft::default();
        c.config.architecture = p.architecture;
        c.config.os = p.os;
        c
    }

    /// A step that made a layer.
    pub fn layer(mut self, created_by: &str, entries: Vec<Entry>) -> Craft {
        self.layers.push(entries);
        self.history.push(History {
            created: Some("1970-01-01T00:00:00Z".into()),
            created_by: Some(created_by.into()),
            author: None,
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer: false,
        });
        self
    }

    /// A step that made no layer.
    pub fn step(mut self, created_by: &str) -> Craft {
        self.history.push(History {
            created: Some("1970-01-01T00:00:00Z".into()),
            created_by: Some(created_by.into()),
            author: None,
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer: true,
        });
        self
    }

    /// Writes the image into the store at `store_dir` under `tag`; returns the digest.
    pub fn save(mut self, store_dir: &Path, tag: &str) -> String {
        let store = Store::open(store_dir).expect("store");
        let mut descs = Vec::new();
        for entries in self.layers {
            let blob = write_layer(&store, entries, 0).expect("layer");
            self.config.rootfs.diff_ids.push(blob.diff_id);
            descs.push(blob.descriptor);
        }
        self.config.history = self.history;
        self.config.created = Some("1970-01-01T00:00:00Z".into());
        let config = store
            .put_bytes(
                &to_canonical_json(&self.config).expect("json"),
                MEDIA_TYPE_CONFIG,
            )
            .expect("config");
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            artifact_type: None,
            config,
            layers: descs,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let desc = store
            .put_bytes(
                &to_canonical_json(&manifest).expect("json"),
                MEDIA_TYPE_MANIFEST,
            )
            .expect("manifest");
        store.tag(tag, &desc).expect("tag");
        desc.digest.to_string()
    }
}

/// Deterministic pseudo-random strings (xorshift64*), so planted credentials have real
/// formats, differ per kind, and never are anyone's real credentials.
pub struct Gen(u64);

/// Alphabets.
pub const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Upper case and 2-7 (AWS key ids).
pub const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Lower-case hex.
pub const HEX: &str = "0123456789abcdef";
/// Base64.
pub const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// URL-safe base64.
pub const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Lower-case alphanumerics.
pub const LOWER: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

impl Gen {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Gen {
        Gen(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `n` characters of `alphabet`.
    pub fn s(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..n)
            .map(|_| chars[(self.next() % chars.len() as u64) as usize])
            .collect()
    }

    /// A base64 block of `lines` lines of 64 characters.
    pub fn pem_body(&mut self, lines: usize) -> String {
        (0..lines)
            .map(|_| self.s(B64, 64))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Base64 (standard, padded).
pub fn base64(data: &[u8]) -> String {
    let t = B64.as_bytes();
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(t[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Serves `body` for any GET on 127.0.0.1 until the process ends; returns the base URL.
pub fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}")
}

/// The layer blob files of the image `digest` in the store at `store_dir`.
pub fn layer_blobs(store_dir: &Path, digest: &str) -> Vec<std::path::PathBuf> {
    let blob = |d: &str| {
        store_dir
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(digest)).expect("manifest")).expect("json");
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| blob(l["digest"].as_str().expect("digest")))
        .collect()
}
