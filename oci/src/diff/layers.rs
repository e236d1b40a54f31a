//! Layer pairs and their entries (image-spec `layer.md`: changesets, whiteouts, opaque
//! directories). A layer is read once, as a stream, into a map of entry metadata and
//! content hashes; two maps are then compared entry by entry.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::meta::Resolved;
use super::{BlobSource, DiffOptions, Difference, Kind, LayerPos, Level, text};
use crate::constants::{
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_LAYER_TAR, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_TAR,
};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::hash::{HashingReader, Sha256, VerifyingReader, verification_error};
use crate::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::spec::Descriptor;

/// Text kept for unified diffs, per layer, at most.
const TEXT_BUDGET: usize = 32 << 20;

/// Pairs two sequences: by position when they are as long, else along their longest
/// common subsequence, with the gaps between matches paired by position when they are
/// as long and left unpaired (added/removed) otherwise.
pub(crate) fn align<T: PartialEq>(a: &[T], b: &[T]) -> Vec<(Option<usize>, Option<usize>)> {
    if a.len() == b.len() {
        return (0..a.len()).map(|i| (Some(i), Some(i))).collect();
    }
    let (n, m) = (a.len(), b.len());
    // LCS table (layers and history entries: hundreds at most).
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if a[i] == b[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    let mut matches = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            matches.push((i, j));
            i += 1;
            j += 1;
        } else if t[i + 1][j] >= t[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    matches.push((n, m));
    let mut out = Vec::new();
    let (mut pi, mut pj) = (0, 0);
    for (mi, mj) in matches {
        let (ga, gb) = (mi - pi, mj - pj);
        if ga == gb {
            out.extend((0..ga).map(|k| (Some(pi + k), Some(pj + k))));
        } else {
            out.extend((pi..mi).map(|k| (Some(k), None)));
            out.extend((pj..mj).map(|k| (None, Some(k))));
        }
        if mi < n && mj < m {
            out.push((Some(mi), Some(mj)));
        }
        (pi, pj) = (mi + 1, mj + 1);
    }
    out
}

/// Compares the layers; returns (pairs read, pairs skipped by digest).
pub(crate) fn compare(
    sa: &dyn BlobSource,
    a: &Resolved,
    sb: &dyn BlobSource,
    b: &Resolved,
    opts: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(usize, usize)> {
    let (la, lb) = (&a.manifest.layers, &b.manifest.layers);
    let (ha, hb) = (a.layer_history(), b.layer_history());
    let da: Vec<&Digest> = la.iter().map(|d| &d.digest).collect();
    let db: Vec<&Digest> = lb.iter().map(|d| &d.digest).collect();
    let (mut read, mut skipped) = (0, 0);
    for (i, j) in align(&da, &db) {
        let pos = LayerPos {
            a: i,
            b: j,
            digest_a: i.map(|i| la[i].digest.clone()),
            digest_b: j.map(|j| lb[j].digest.clone()),
            history_a: i.and_then(|i| ha[i].as_ref().map(|h| h.0)),
            history_b: j.and_then(|j| hb[j].as_ref().map(|h| h.0)),
            created_by_a: i.and_then(|i| ha[i].as_ref().and_then(|h| h.1.clone())),
            created_by_b: j.and_then(|j| hb[j].as_ref().and_then(|h| h.1.clone())),
        };
        match (i, j) {
            (Some(i), Some(j)) if la[i].digest == lb[j].digest => skipped += 1,
            (Some(i), Some(j)) => {
                read += 1;
                // Both sides at once: each is one decompress-and-hash stream.
                let (x, y) = std::thread::scope(|s| {
                    let other = s.spawn(|| scan(sb, &lb[j], opts));
                    let x = scan(sa, &la[i], opts);
                    let y = other.join().unwrap_or_else(|_| {
                        Err(Error::Invalid {
                            what: format!("layer {j} of image B"),
                            reason: "the reading thread panicked".into(),
                        })
                    });
                    (x, y)
                });
                let x = x.map_err(|e| in_layer(e, "A", i))?;
                let y = y.map_err(|e| in_layer(e, "B", j))?;
                check_diff_id(a, i, &x, "A")?;
                check_diff_id(b, j, &y, "B")?;
                pair(&x, &y, &pos, opts, out);
            }
            (Some(i), None) => out.push(layer_diff(Kind::LayerRemoved, &pos, Some(&la[i]), None)),
            (None, Some(j)) => out.push(layer_diff(Kind::LayerAdded, &pos, None, Some(&lb[j]))),
            (None, None) => {}
        }
    }
    Ok((read, skipped))
}

/// The uncompressed stream must be what the config's `rootfs.diff_ids` says: a config
/// that names other content than its layers hold is an invalid image, not a difference.
fn check_diff_id(img: &Resolved, i: usize, scan: &Scan, side: &str) -> Result<()> {
    let claimed = img
        .config
        .pointer(&format!("/rootfs/diff_ids/{i}"))
        .and_then(Value::as_str);
    match claimed {
        Some(c) if c == scan.diff_id.to_string() => Ok(()),
        other => Err(Error::Invalid {
            what: format!("layer {i} of image {side}"),
            reason: format!(
                "its content is {} but the config's rootfs.diff_ids[{i}] says {}",
                scan.diff_id,
                other.unwrap_or("nothing")
            ),
        }),
    }
}

fn in_layer(e: Error, side: &str, i: usize) -> Error {
    Error::Invalid {
        what: format!("layer {i} of image {side}"),
        reason: e.to_string(),
    }
}

fn desc_json(d: &Descriptor) -> Value {
    json!({"digest": d.digest.to_string(), "mediaType": d.media_type, "size": d.size})
}

fn layer_diff(
    kind: Kind,
    pos: &LayerPos,
    a: Option<&Descriptor>,
    b: Option<&Descriptor>,
) -> Difference {
    Difference {
        level: Level::Layer,
        kind,
        field: String::new(),
        layer: Some(pos.clone()),
        path: None,
        a: a.map(desc_json),
        b: b.map(desc_json),
        note: None,
        unified_diff: None,
    }
}

/// The type of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Type {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    Whiteout,
    Opaque,
    Other(u8),
}

impl Type {
    fn name(&self) -> String {
        match self {
            Type::File => "file".into(),
            Type::Dir => "directory".into(),
            Type::Symlink => "symlink".into(),
            Type::Hardlink => "hardlink".into(),
            Type::Char => "char-device".into(),
            Type::Block => "block-device".into(),
            Type::Fifo => "fifo".into(),
            Type::Whiteout => "whiteout".into(),
            Type::Opaque => "opaque-whiteout".into(),
            Type::Other(b) => format!("type-{}", *b as char),
        }
    }
}

/// What one entry of a layer is.
#[derive(Debug, Clone)]
struct Meta {
    kind: Type,
    mode: u32,
    mode_type_bits: u64,
    uid: u64,
    gid: u64,
    uname: String,
    gname: String,
    mtime: String,
    atime: Option<String>,
    ctime: Option<String>,
    size: u64,
    sha256: Option<Digest>,
    text: Option<String>,
    link: Option<String>,
    dev: Option<(u32, u32)>,
    xattrs: BTreeMap<String, Vec<u8>>,
    pax_other: BTreeMap<String, String>,
    format: &'static str,
    count: usize,
}

/// A layer as read.
struct Scan {
    entries: BTreeMap<String, Meta>,
    order: Vec<String>,
    diff_id: Digest,
    media_type: String,
    gzip_header: Vec<u8>,
    global_headers: usize,
}

/// Keeps the first bytes read through it.
struct Tap<R> {
    inner: R,
    head: Arc<Mutex<Vec<u8>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut h) = self.head.lock()
            && h.len() < 32
        {
            let take = (32 - h.len()).min(n);
            h.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

/// `./a//b/` → `a/b`; `..` is resolved lexically and kept when it would climb out (the
/// path is only a key: nothing is ever opened by it).
fn normalize(raw: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// `"1.500"` → `"1.5"`, `"2.0"` → `"2"`.
fn norm_time(s: &str) -> String {
    match s.split_once('.') {
        Some((i, f)) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                i.to_string()
            } else {
                format!("{i}.{f}")
            }
        }
        None => s.to_string(),
    }
}

fn stream_err(what: &str, e: io::Error) -> Error {
    verification_error(&e).unwrap_or(Error::Stream {
        what: what.to_string(),
        source: e,
    })
}

/// Streams one layer blob: digest and size checked, decompressed, every entry hashed.
fn scan(src: &dyn BlobSource, desc: &Descriptor, opts: &DiffOptions) -> Result<Scan> {
    let head = Arc::new(Mutex::new(Vec::new()));
    let raw = Tap {
        inner: src.open(desc)?,
        head: head.clone(),
    };
    let verified = BufReader::with_capacity(
        1 << 20,
        VerifyingReader::new(raw, desc.digest.clone(), desc.size),
    );
    let decompressed: Box<dyn Read + '_> = match desc.media_type.as_str() {
        MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => {
            Box::new(flate2::bufread::MultiGzDecoder::new(verified))
        }
        MEDIA_TYPE_LAYER_TAR | MEDIA_TYPE_DOCKER_LAYER_TAR => Box::new(verified),
        other => {
            return Err(Error::Invalid {
                what: format!("layer {}", desc.digest),
                reason: format!("unsupported media type {other:?}"),
            });
        }
    };
    let what = format!("reading layer {}", desc.digest);
    let mut hashing = HashingReader::new(decompressed);
    let mut entries: BTreeMap<String, Meta> = BTreeMap::new();
    let mut order = Vec::new();
    let mut global_headers = 0;
    let mut budget = TEXT_BUDGET;
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(|e| stream_err(&what, e))? {
            let mut entry = entry.map_err(|e| stream_err(&what, e))?;
            let m = read_entry(&mut entry, opts, &mut budget).map_err(|e| stream_err(&what, e))?;
            let Some((path, m)) = m else {
                global_headers += 1;
                continue;
            };
            order.push(path.clone());
            match entries.get_mut(&path) {
                // A later entry of the same path wins (tar semantics); count them.
                Some(prev) => {
                    let count = prev.count + 1;
                    *prev = m;
                    prev.count = count;
                }
                None => {
                    entries.insert(path, m);
                }
            }
        }
    }
    // Drain what follows the end marker so the whole blob is verified.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| stream_err(&what, e))?;
    let (diff_id, _) = hashing.finish();
    let gzip_header = head.lock().map(|h| h.clone()).unwrap_or_default();
    Ok(Scan {
        entries,
        order,
        diff_id,
        media_type: desc.media_type.clone(),
        gzip_header,
        global_headers,
    })
}

fn read_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    opts: &DiffOptions,
    budget: &mut usize,
) -> io::Result<Option<(String, Meta)>> {
    let header = entry.header().clone();
    let et = header.entry_type();
    if et == tar::EntryType::XGlobalHeader {
        return Ok(None);
    }
    let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let path = normalize(&raw_path);
    let name = path.rsplit('/').next().unwrap_or("");
    let mut kind = match et {
        tar::EntryType::Regular | tar::EntryType::Continuous => Type::File,
        tar::EntryType::Directory => Type::Dir,
        tar::EntryType::Symlink => Type::Symlink,
        tar::EntryType::Link => Type::Hardlink,
        tar::EntryType::Char => Type::Char,
        tar::EntryType::Block => Type::Block,
        tar::EntryType::Fifo => Type::Fifo,
        other => Type::Other(other.as_byte()),
    };
    if name == OPAQUE_MARKER {
        kind = Type::Opaque;
    } else if name.starts_with(WHITEOUT_PREFIX) {
        kind = Type::Whiteout;
    }
    let link = entry.link_name_bytes().map(|l| {
        let l = String::from_utf8_lossy(&l).into_owned();
        if kind == Type::Hardlink {
            normalize(&l)
        } else {
            l
        }
    });
    let raw_mode = header.mode().unwrap_or(0) as u64;
    let format = if header.as_gnu().is_some() {
        "gnu"
    } else if header.as_ustar().is_some() {
        "ustar"
    } else {
        "v7"
    };
    let mut m = Meta {
        kind,
        mode: (raw_mode & 0o7777) as u32,
        mode_type_bits: raw_mode & !0o7777,
        uid: header.uid().unwrap_or(0),
        gid: header.gid().unwrap_or(0),
        uname: header
            .username_bytes()
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .unwrap_or_default(),
        gname: header
            .groupname_bytes()
            .map(|g| String::from_utf8_lossy(g).into_owned())
            .unwrap_or_default(),
        mtime: header.mtime().unwrap_or(0).to_string(),
        atime: None,
        ctime: None,
        size: header.entry_size().unwrap_or(0),
        sha256: None,
        text: None,
        link: if matches!(et, tar::EntryType::Symlink | tar::EntryType::Link) {
            link
        } else {
            None
        },
        dev: matches!(et, tar::EntryType::Char | tar::EntryType::Block).then(|| {
            (
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            )
        }),
        xattrs: BTreeMap::new(),
        pax_other: BTreeMap::new(),
        format,
        count: 1,
    };
    if let Some(pax) = entry.pax_extensions()? {
        m.format = "pax";
        for ext in pax {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let text = || String::from_utf8_lossy(value).into_owned();
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                m.xattrs.insert(x.to_string(), value.to_vec());
            } else {
                match key {
                    "path" | "linkpath" | "size" => {}
                    "mtime" => m.mtime = norm_time(&text()),
                    "atime" => m.atime = Some(norm_time(&text())),
                    "ctime" => m.ctime = Some(norm_time(&text())),
                    "uid" => m.uid = text().trim().parse().unwrap_or(m.uid),
                    "gid" => m.gid = text().trim().parse().unwrap_or(m.gid),
                    "uname" => m.uname = text(),
                    "gname" => m.gname = text(),
                    k => {
                        m.pax_other.insert(k.to_string(), text());
                    }
                }
            }
        }
    }
    // Every entry's data is hashed: a whiteout (or any non-file entry) carrying bytes
    // differs from one that does not.
    {
        let keep =
            m.kind == Type::File && m.size <= opts.text_limit && (m.size as usize) <= *budget;
        let mut h = Sha256::new();
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = entry.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            total += n as u64;
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        m.size = total;
        m.sha256 = Some(h.finish());
        if keep
            && !kept.contains(&0)
            && let Ok(s) = String::from_utf8(kept)
        {
            *budget -= s.len();
            m.text = Some(s);
        }
    }
    Ok(Some((path, m)))
}

/// Compares one layer pair.
fn pair(x: &Scan, y: &Scan, pos: &LayerPos, opts: &DiffOptions, out: &mut Vec<Difference>) {
    let start = out.len();
    let keys: BTreeSet<&String> = x.entries.keys().chain(y.entries.keys()).collect();
    for path in keys {
        match (x.entries.get(path), y.entries.get(path)) {
            (Some(a), None) => {
                out.push(file_diff(
                    Kind::Removed,
                    "",
                    pos,
                    path,
                    Some(summary(a)),
                    None,
                ));
                note_whiteout(out, path, a);
            }
            (None, Some(b)) => {
                out.push(file_diff(
                    Kind::Added,
                    "",
                    pos,
                    path,
                    None,
                    Some(summary(b)),
                ));
                note_whiteout(out, path, b);
            }
            (Some(a), Some(b)) => entry_pair(path, a, b, pos, opts, out),
            (None, None) => {}
        }
    }
    if opts.semantic {
        return;
    }
    // Entry order: the paths both layers have, in each layer's order.
    let (oa, ob) = (common_order(x, y), common_order(y, x));
    if oa != ob {
        let first = oa.iter().zip(&ob).position(|(p, q)| p != q).unwrap_or(0);
        let mut d = layer_diff(Kind::LayerBytes, pos, None, None);
        d.field = "order".into();
        d.a = oa.get(first).map(|p| json!(p));
        d.b = ob.get(first).map(|p| json!(p));
        d.note = Some(format!(
            "tar entry order differs (first at common entry {first})"
        ));
        out.push(d);
        return;
    }
    if out.len() > start {
        return;
    }
    // Same entries, same order, other bytes: say why.
    let mut d = layer_diff(Kind::LayerBytes, pos, None, None);
    if x.diff_id == y.diff_id {
        d.field = "compression".into();
        let mut why = Vec::new();
        if x.media_type != y.media_type {
            why.push(format!("media type {} vs {}", x.media_type, y.media_type));
        } else if x.gzip_header.len() >= 10 && y.gzip_header.len() >= 10 {
            let (ga, gb) = (&x.gzip_header, &y.gzip_header);
            if ga[3] != gb[3] {
                why.push(format!(
                    "gzip header flags {:#04x} vs {:#04x}",
                    ga[3], gb[3]
                ));
            }
            if ga[4..8] != gb[4..8] {
                let t = |g: &[u8]| u32::from_le_bytes([g[4], g[5], g[6], g[7]]);
                why.push(format!("gzip header mtime {} vs {}", t(ga), t(gb)));
            }
            if ga[8] != gb[8] {
                why.push(format!(
                    "gzip header XFL (level hint) {} vs {}",
                    ga[8], gb[8]
                ));
            }
            if ga[9] != gb[9] {
                why.push(format!("gzip header OS {} vs {}", ga[9], gb[9]));
            }
        }
        if why.is_empty() {
            why.push("compressed data differs (compression level or compressor)".into());
        }
        d.note = Some(format!(
            "same tar stream ({}), other compression: {}",
            x.diff_id,
            why.join(", ")
        ));
        d.a = Some(json!({"mediaType": x.media_type}));
        d.b = Some(json!({"mediaType": y.media_type}));
    } else {
        d.field = "tar".into();
        d.note = Some(if x.global_headers != y.global_headers {
            format!(
                "same entries; tar global headers differ ({} vs {})",
                x.global_headers, y.global_headers
            )
        } else {
            "same entries in the same order; tar framing differs (padding, end-of-archive blocks or header encoding)".into()
        });
        d.a = Some(json!({"diffId": x.diff_id.to_string()}));
        d.b = Some(json!({"diffId": y.diff_id.to_string()}));
    }
    out.push(d);
}

/// The paths `s` shares with `other`, in `s`'s order (first occurrence).
fn common_order<'a>(s: &'a Scan, other: &Scan) -> Vec<&'a String> {
    let mut seen = BTreeSet::new();
    s.order
        .iter()
        .filter(|p| other.entries.contains_key(*p) && seen.insert(*p))
        .collect()
}

fn file_diff(
    kind: Kind,
    field: &str,
    pos: &LayerPos,
    path: &str,
    a: Option<Value>,
    b: Option<Value>,
) -> Difference {
    Difference {
        level: Level::File,
        kind,
        field: field.to_string(),
        layer: Some(pos.clone()),
        path: Some(path.to_string()),
        a,
        b,
        note: None,
        unified_diff: None,
    }
}

fn note_whiteout(out: &mut [Difference], path: &str, m: &Meta) {
    let note = match m.kind {
        Type::Whiteout => {
            let (parent, name) = match path.rsplit_once('/') {
                Some((p, n)) => (format!("{p}/"), n),
                None => (String::new(), path),
            };
            let target = name.strip_prefix(WHITEOUT_PREFIX).unwrap_or(name);
            format!("whiteout: deletes /{parent}{target} of lower layers")
        }
        Type::Opaque => {
            let dir = path.rsplit_once('/').map(|p| p.0).unwrap_or("");
            format!("opaque whiteout: hides the lower layers' contents of /{dir}")
        }
        _ => return,
    };
    if let Some(last) = out.last_mut() {
        last.note = Some(note);
    }
}

fn summary(m: &Meta) -> Value {
    let mut v = json!({
        "type": m.kind.name(),
        "mode": format!("{:04o}", m.mode),
        "uid": m.uid,
        "gid": m.gid,
    });
    if let Some(d) = m
        .sha256
        .as_ref()
        .filter(|_| m.kind == Type::File || m.size > 0)
    {
        v["sha256"] = json!(d.to_string());
        v["size"] = json!(m.size);
    }
    if let Some(l) = &m.link {
        v["target"] = json!(l);
    }
    v
}

fn entry_pair(
    path: &str,
    a: &Meta,
    b: &Meta,
    pos: &LayerPos,
    opts: &DiffOptions,
    out: &mut Vec<Difference>,
) {
    let push = |out: &mut Vec<Difference>, kind: Kind, field: &str, x: Value, y: Value| {
        out.push(file_diff(kind, field, pos, path, Some(x), Some(y)));
    };
    if a.count != b.count {
        push(
            out,
            Kind::Duplicate,
            "count",
            json!(a.count),
            json!(b.count),
        );
    }
    if a.kind != b.kind {
        push(
            out,
            Kind::Type,
            "type",
            json!(a.kind.name()),
            json!(b.kind.name()),
        );
    } else {
        if a.sha256 != b.sha256 {
            let mut d = Difference {
                level: Level::File,
                kind: Kind::Content,
                field: "content".into(),
                layer: Some(pos.clone()),
                path: Some(path.to_string()),
                a: Some(
                    json!({"sha256": a.sha256.as_ref().map(|d| d.to_string()), "size": a.size}),
                ),
                b: Some(
                    json!({"sha256": b.sha256.as_ref().map(|d| d.to_string()), "size": b.size}),
                ),
                note: None,
                unified_diff: None,
            };
            if let (Some(x), Some(y)) = (&a.text, &b.text) {
                d.unified_diff = Some(text::unified(x, y, path, opts.max_diff_lines));
            }
            out.push(d);
        }
        if a.link != b.link {
            push(
                out,
                Kind::LinkTarget,
                "target",
                json!(a.link),
                json!(b.link),
            );
        }
        if a.dev != b.dev {
            push(out, Kind::Device, "device", json!(a.dev), json!(b.dev));
        }
    }
    if a.mode != b.mode {
        push(
            out,
            Kind::Mode,
            "mode",
            json!(format!("{:04o}", a.mode)),
            json!(format!("{:04o}", b.mode)),
        );
    }
    if a.uid != b.uid {
        push(out, Kind::Owner, "uid", json!(a.uid), json!(b.uid));
    }
    if a.gid != b.gid {
        push(out, Kind::Owner, "gid", json!(a.gid), json!(b.gid));
    }
    if a.uname != b.uname {
        push(out, Kind::Owner, "uname", json!(a.uname), json!(b.uname));
    }
    if a.gname != b.gname {
        push(out, Kind::Owner, "gname", json!(a.gname), json!(b.gname));
    }
    if !opts.semantic {
        if a.mtime != b.mtime {
            push(out, Kind::Mtime, "mtime", json!(a.mtime), json!(b.mtime));
        }
        if a.atime != b.atime {
            push(out, Kind::Mtime, "atime", json!(a.atime), json!(b.atime));
        }
        if a.ctime != b.ctime {
            push(out, Kind::Mtime, "ctime", json!(a.ctime), json!(b.ctime));
        }
    }
    let names: BTreeSet<&String> = a.xattrs.keys().chain(b.xattrs.keys()).collect();
    for n in names {
        let (x, y) = (a.xattrs.get(n), b.xattrs.get(n));
        if x != y {
            let show = |v: Option<&Vec<u8>>| match v {
                None => Value::Null,
                Some(v) => match std::str::from_utf8(v) {
                    Ok(s) => json!(s),
                    Err(_) => json!(format!("0x{}", hex::encode(v))),
                },
            };
            push(out, Kind::Xattr, &format!("xattr[{n}]"), show(x), show(y));
        }
    }
    if opts.semantic {
        return;
    }
    if a.format != b.format {
        push(
            out,
            Kind::TarHeader,
            "format",
            json!(a.format),
            json!(b.format),
        );
    }
    if a.mode_type_bits != b.mode_type_bits {
        push(
            out,
            Kind::TarHeader,
            "mode",
            json!(format!("{:o}", a.mode_type_bits)),
            json!(format!("{:o}", b.mode_type_bits)),
        );
    }
    let keys: BTreeSet<&String> = a.pax_other.keys().chain(b.pax_other.keys()).collect();
    for k in keys {
        let (x, y) = (a.pax_other.get(k), b.pax_other.get(k));
        if x != y {
            push(
                out,
                Kind::TarHeader,
                &format!("pax[{k}]"),
                json!(x),
                json!(y),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_pairs_by_position_when_as_long_and_by_lcs_otherwise() {
        assert_eq!(
            align(&[1, 2, 3], &[1, 9, 3]),
            vec![(Some(0), Some(0)), (Some(1), Some(1)), (Some(2), Some(2))]
        );
        assert_eq!(
            align(&[1, 2, 3], &[1, 2, 7, 3]),
            vec![
                (Some(0), Some(0)),
                (Some(1), Some(1)),
                (None, Some(2)),
                (Some(2), Some(3))
            ]
        );
        assert_eq!(
            align(&[1, 2, 3], &[1, 3]),
            vec![(Some(0), Some(0)), (Some(1), None), (Some(2), Some(1))]
        );
    }

    #[test]
    fn hostile_paths_are_keys_only() {
        assert_eq!(normalize("./a//b/"), "a/b");
        assert_eq!(normalize("/etc/passwd"), "etc/passwd");
        assert_eq!(normalize("../../x"), "../../x");
        assert_eq!(normalize("a/../../x"), "../x");
        assert_eq!(normalize("./"), ".");
    }
}
