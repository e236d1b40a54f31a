//! Index, manifest and config comparison (image-spec `image-index.md`, `manifest.md`,
//! `config.md`): field by field, annotations, labels and environment variables key by
//! key, history entry by entry. Digests, sizes and `rootfs.diff_ids` are left to the
//! layer comparison, where their differences start.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{DiffOptions, Difference, Input, Kind, Level, layers::align};
use crate::constants::{ANNOTATION_REF_NAME, MAX_JSON_BLOB};
use crate::error::{Error, Result};
use crate::image::{is_index, select_platform};
use crate::spec::{Descriptor, Index, Manifest, from_json};

/// `org.opencontainers.image.created`.
const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// containerd's image name annotation.
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The manifest one side compares, with its config.
pub(crate) struct Resolved {
    /// Its descriptor.
    pub desc: Descriptor,
    /// Parsed.
    pub manifest: Manifest,
    /// As JSON.
    pub manifest_json: Value,
    /// The config, as JSON.
    pub config: Value,
}

impl Resolved {
    /// `created_by` and index of the history entry that made each layer.
    pub fn layer_history(&self) -> Vec<Option<(usize, Option<String>)>> {
        let mut out = Vec::new();
        if let Some(h) = self.config.get("history").and_then(Value::as_array) {
            for (i, e) in h.iter().enumerate() {
                if e.get("empty_layer").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let by = e
                    .get("created_by")
                    .and_then(Value::as_str)
                    .map(String::from);
                out.push(Some((i, by)));
            }
        }
        out.resize(self.manifest.layers.len(), None);
        out.truncate(self.manifest.layers.len());
        out
    }
}

fn read_json(input: &Input<'_>, desc: &Descriptor, what: &str) -> Result<(Vec<u8>, Value)> {
    if desc.size > MAX_JSON_BLOB {
        return Err(Error::TooLarge {
            what: format!("{what} {}", desc.digest),
            size: desc.size,
            limit: MAX_JSON_BLOB,
        });
    }
    let bytes = input.source.read_small(desc)?;
    let v: Value = from_json(&bytes, what)?;
    Ok((bytes, v))
}

/// Both sides' manifests for the platform; index-level differences go to `out`.
pub(crate) fn resolve(
    a: &Input<'_>,
    opts: &DiffOptions,
    out: &mut Vec<Difference>,
    b: &Input<'_>,
) -> Result<(Resolved, Resolved)> {
    let (ra, va) = read_json(a, &a.root, "image index or manifest")?;
    let (rb, vb) = read_json(b, &b.root, "image index or manifest")?;
    let ia = is_index(&a.root.media_type, &ra);
    let ib = is_index(&b.root.media_type, &rb);
    let pick = |input: &Input<'_>, bytes: &[u8], index: bool| -> Result<Descriptor> {
        if !index {
            return Ok(input.root.clone());
        }
        let idx: Index = from_json(bytes, "image index")?;
        select_platform(&idx, &opts.platform, &input.name)
    };
    let da = pick(a, &ra, ia)?;
    let db = pick(b, &rb, ib)?;
    match (ia, ib) {
        (true, true) => index_fields(&va, &vb, opts, out),
        (false, false) => {}
        _ => out.push(field(
            Level::Index,
            Kind::Field,
            "mediaType",
            Some(Value::String(media_type(&va, &a.root))),
            Some(Value::String(media_type(&vb, &b.root))),
        )),
    }
    Ok((load(a, da)?, load(b, db)?))
}

fn media_type(v: &Value, d: &Descriptor) -> String {
    v.get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(&d.media_type)
        .to_string()
}

fn load(input: &Input<'_>, desc: Descriptor) -> Result<Resolved> {
    let (bytes, manifest_json) = read_json(input, &desc, "image manifest")?;
    let manifest: Manifest = from_json(&bytes, "image manifest")?;
    let (_, config) = read_json(input, &manifest.config, "image config")?;
    Ok(Resolved {
        desc,
        manifest,
        manifest_json,
        config,
    })
}

fn field(level: Level, kind: Kind, name: &str, a: Option<Value>, b: Option<Value>) -> Difference {
    Difference {
        level,
        kind,
        field: name.to_string(),
        layer: None,
        path: None,
        a,
        b,
        note: None,
        unified_diff: None,
    }
}

fn ignored_annotation(key: &str, opts: &DiffOptions) -> bool {
    opts.semantic
        && matches!(
            key,
            ANNOTATION_CREATED | ANNOTATION_REF_NAME | ANNOTATION_CONTAINERD_NAME
        )
}

fn annotations(level: Level, a: &Value, b: &Value, opts: &DiffOptions, out: &mut Vec<Difference>) {
    let empty = Map::new();
    let ma = a
        .get("annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mb = b
        .get("annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    keyed(level, Kind::Annotation, "annotations", ma, mb, out, |k| {
        ignored_annotation(k, opts)
    });
}

/// Key-by-key comparison of two JSON objects.
fn keyed(
    level: Level,
    kind: Kind,
    prefix: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    out: &mut Vec<Difference>,
    skip: impl Fn(&str) -> bool,
) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if skip(k) {
            continue;
        }
        let (x, y) = (a.get(k), b.get(k));
        if x != y {
            out.push(field(
                level,
                kind,
                &format!("{prefix}[{k}]"),
                x.cloned(),
                y.cloned(),
            ));
        }
    }
}

/// Top-level fields but `skip`, compared whole.
fn plain_fields(
    level: Level,
    prefix: &str,
    a: &Value,
    b: &Value,
    skip: &[&str],
    out: &mut Vec<Difference>,
) {
    let empty = Map::new();
    let ma = a.as_object().unwrap_or(&empty);
    let mb = b.as_object().unwrap_or(&empty);
    keyed_plain(level, prefix, ma, mb, skip, out);
}

fn keyed_plain(
    level: Level,
    prefix: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    skip: &[&str],
    out: &mut Vec<Difference>,
) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let (x, y) = (a.get(k), b.get(k));
        if x != y {
            out.push(field(
                level,
                Kind::Field,
                &format!("{prefix}{k}"),
                x.cloned(),
                y.cloned(),
            ));
        }
    }
}

fn index_fields(a: &Value, b: &Value, opts: &DiffOptions, out: &mut Vec<Difference>) {
    plain_fields(Level::Index, "", a, b, &["manifests", "annotations"], out);
    annotations(Level::Index, a, b, opts, out);
    // Platforms one side has and the other lacks (the one compared is picked by
    // --platform; the others are not compared further).
    let plats = |v: &Value| -> BTreeMap<String, Value> {
        v.get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| {
                let p = m.get("platform").cloned().unwrap_or(Value::Null);
                let key = serde_json::to_string(&p).unwrap_or_default();
                (key, p)
            })
            .collect()
    };
    let (pa, pb) = (plats(a), plats(b));
    for (k, p) in &pa {
        if !pb.contains_key(k) {
            out.push(field(
                Level::Index,
                Kind::Platform,
                "manifests",
                Some(p.clone()),
                None,
            ));
        }
    }
    for (k, p) in &pb {
        if !pa.contains_key(k) {
            out.push(field(
                Level::Index,
                Kind::Platform,
                "manifests",
                None,
                Some(p.clone()),
            ));
        }
    }
}

/// Manifest fields: media types, artifact type, subject, annotations (layers and the
/// config's digest are compared where they start).
pub(crate) fn manifests(a: &Resolved, b: &Resolved, opts: &DiffOptions, out: &mut Vec<Difference>) {
    let (va, vb) = (&a.manifest_json, &b.manifest_json);
    plain_fields(
        Level::Manifest,
        "",
        va,
        vb,
        &["config", "layers", "annotations"],
        out,
    );
    annotations(Level::Manifest, va, vb, opts, out);
    if a.manifest.config.media_type != b.manifest.config.media_type {
        out.push(field(
            Level::Manifest,
            Kind::Field,
            "config.mediaType",
            Some(a.manifest.config.media_type.clone().into()),
            Some(b.manifest.config.media_type.clone().into()),
        ));
    }
}

/// Config fields: everything but `rootfs.diff_ids` (the layers say it); `config.Env`
/// variable by variable, `config.Labels` key by key, `history` entry by entry.
pub(crate) fn configs(a: &Value, b: &Value, opts: &DiffOptions, out: &mut Vec<Difference>) {
    let mut skip = vec!["config", "history", "rootfs"];
    if opts.semantic {
        skip.push("created");
    }
    plain_fields(Level::Config, "", a, b, &skip, out);
    let empty = Map::new();
    let obj = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (ra, rb) = (obj(a, "rootfs"), obj(b, "rootfs"));
    keyed_plain(Level::Config, "rootfs.", &ra, &rb, &["diff_ids"], out);
    let (ca, cb) = (obj(a, "config"), obj(b, "config"));
    keyed_plain(Level::Config, "config.", &ca, &cb, &["Env", "Labels"], out);
    let labels = |c: &Map<String, Value>| c.get("Labels").and_then(Value::as_object).cloned();
    let (la, lb) = (labels(&ca), labels(&cb));
    keyed(
        Level::Config,
        Kind::Label,
        "config.Labels",
        la.as_ref().unwrap_or(&empty),
        lb.as_ref().unwrap_or(&empty),
        out,
        |_| false,
    );
    let env = |c: &Map<String, Value>| -> Map<String, Value> {
        c.get("Env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                None => (e.to_string(), Value::Null),
            })
            .collect()
    };
    keyed(
        Level::Config,
        Kind::Env,
        "config.Env",
        &env(&ca),
        &env(&cb),
        out,
        |_| false,
    );
    // Env order matters to nobody but the digest; report it only when nothing else
    // about Env differs.
    if !out.iter().any(|d| d.kind == Kind::Env) && ca.get("Env") != cb.get("Env") {
        out.push(field(
            Level::Config,
            Kind::Env,
            "config.Env",
            ca.get("Env").cloned(),
            cb.get("Env").cloned(),
        ));
    }
    history(a, b, opts, out);
}

fn history(a: &Value, b: &Value, opts: &DiffOptions, out: &mut Vec<Difference>) {
    let list = |v: &Value| -> Vec<Value> {
        v.get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (ha, hb) = (list(a), list(b));
    let key = |e: &Value| (e.get("created_by").cloned(), e.get("empty_layer").cloned());
    let ka: Vec<_> = ha.iter().map(key).collect();
    let kb: Vec<_> = hb.iter().map(key).collect();
    for (i, j) in align(&ka, &kb) {
        match (i, j) {
            (Some(i), Some(j)) => {
                let empty = Map::new();
                let ea = ha[i].as_object().unwrap_or(&empty);
                let eb = hb[j].as_object().unwrap_or(&empty);
                let keys: std::collections::BTreeSet<&String> =
                    ea.keys().chain(eb.keys()).collect();
                for k in keys {
                    if opts.semantic && k == "created" {
                        continue;
                    }
                    if ea.get(k) != eb.get(k) {
                        let name = if i == j {
                            format!("history[{i}].{k}")
                        } else {
                            format!("history[{i}→{j}].{k}")
                        };
                        out.push(field(
                            Level::Config,
                            Kind::History,
                            &name,
                            ea.get(k).cloned(),
                            eb.get(k).cloned(),
                        ));
                    }
                }
            }
            (Some(i), None) => out.push(field(
                Level::Config,
                Kind::History,
                &format!("history[{i}]"),
                Some(ha[i].clone()),
                None,
            )),
            (None, Some(j)) => out.push(field(
                Level::Config,
                Kind::History,
                &format!("history[{j}]"),
                None,
                Some(hb[j].clone()),
            )),
            (None, None) => {}
        }
    }
}
