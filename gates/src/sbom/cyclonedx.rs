//! CycloneDX 1.6 JSON (<https://cyclonedx.org/docs/1.6/json/>): the image as
//! `metadata.component` (type `container`), the OS as an `operating-system` component,
//! every package as a `library` with its purl, licences, the file that evidenced it
//! (`evidence.occurrences`) and lading properties for the layer and source package.
//! Deterministic: the serial number derives from the image digest, the timestamp is the
//! image's creation time (else the epoch), components are sorted.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{License, Package, Sbom};

/// The tool name and version written into documents.
pub const TOOL: &str = "lading";
/// lading's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A short stable hash of some strings (hex).
pub(crate) fn short_hash(parts: &[&str], hex_len: usize) -> String {
    let mut h = lading_oci::hash::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    h.finish().hex().chars().take(hex_len).collect()
}

/// A unique, stable id per package (`bom-ref`, SPDXID): a hash of what identifies it,
/// with a counter for exact duplicates.
pub(crate) fn package_ids(packages: &[Package]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    packages
        .iter()
        .map(|p| {
            let base = short_hash(
                &[
                    p.ecosystem.as_str(),
                    &p.purl,
                    &p.name,
                    &p.version,
                    &p.location.path,
                ],
                16,
            );
            let mut id = base.clone();
            let mut n = 1;
            while !seen.insert(id.clone()) {
                n += 1;
                id = format!("{base}-{n}");
            }
            id
        })
        .collect()
}

fn licenses(list: &[License]) -> Option<Value> {
    if list.is_empty() {
        return None;
    }
    let is_id = |s: &str| !s.contains(' ') && !s.starts_with("LicenseRef-");
    let compound = list
        .iter()
        .any(|l| matches!(l, License::Spdx(s) if !is_id(s)));
    let all_spdx = list.iter().all(|l| matches!(l, License::Spdx(_)));
    if compound && all_spdx {
        // The schema allows one expression or a list of licences, not both.
        let expr = if list.len() == 1 {
            list[0].text().to_string()
        } else {
            list.iter()
                .map(|l| format!("({})", l.text()))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        return Some(json!([{ "expression": expr }]));
    }
    Some(Value::Array(
        list.iter()
            .map(|l| match l {
                License::Spdx(s) if is_id(s) => json!({"license": {"id": s}}),
                other => json!({"license": {"name": other.text()}}),
            })
            .collect(),
    ))
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// The document.
pub fn document(sbom: &Sbom) -> Value {
    let image_ref = format!("image:{}", sbom.image.digest);
    let mut components = Vec::new();
    if let Some(os) = &sbom.os {
        let mut c = json!({
            "bom-ref": format!("os:{}", os.distro()),
            "type": "operating-system",
            "name": os.id,
        });
        if let Some(v) = &os.version_id {
            c["version"] = json!(v);
        }
        if let Some(d) = &os.pretty_name {
            c["description"] = json!(d);
        }
        c["evidence"] = json!({"occurrences": [{"location": os.path}]});
        c["properties"] = json!([prop("lading:location:layerDigest", &os.layer_digest)]);
        components.push(c);
    }
    for (p, id) in sbom.packages.iter().zip(package_ids(&sbom.packages)) {
        let sep = if p.purl.contains('?') { '&' } else { '?' };
        let mut c = json!({
            "bom-ref": format!("{}{sep}package-id={id}", p.purl),
            "type": "library",
        });
        if let Some(g) = &p.group {
            c["group"] = json!(g);
        }
        c["name"] = json!(p.name);
        if !p.version.is_empty() {
            c["version"] = json!(p.version);
        }
        if let Some(l) = licenses(&p.licenses) {
            c["licenses"] = l;
        }
        c["purl"] = json!(p.purl);
        let mut props = vec![prop("lading:package:ecosystem", p.ecosystem.as_str())];
        if let Some(a) = &p.arch {
            props.push(prop("lading:package:arch", a));
        }
        if let Some(s) = &p.source {
            props.push(prop("lading:package:sourceName", &s.name));
            if let Some(v) = &s.version {
                props.push(prop("lading:package:sourceVersion", v));
            }
        }
        props.push(prop(
            "lading:location:layerDigest",
            &p.location.layer_digest,
        ));
        if !p.location.layer_diff_id.is_empty() {
            props.push(prop(
                "lading:location:layerDiffID",
                &p.location.layer_diff_id,
            ));
        }
        c["properties"] = Value::Array(props);
        c["evidence"] = json!({"occurrences": [{"location": p.location.path}]});
        components.push(c);
    }
    let hex = sbom
        .image
        .digest
        .strip_prefix("sha256:")
        .unwrap_or(&sbom.image.digest);
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", sbom.uuid("cyclonedx")),
        "version": 1,
        "metadata": {
            "timestamp": sbom.timestamp(),
            "tools": {"components": [{"type": "application", "name": TOOL, "version": VERSION}]},
            "component": {
                "bom-ref": image_ref,
                "type": "container",
                "name": sbom.image.name,
                "version": sbom.image.digest,
                "hashes": [{"alg": "SHA-256", "content": hex}],
                "properties": [prop("lading:image:platform", &sbom.image.platform)],
            },
        },
        "components": components,
    })
}
