//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>): the document DESCRIBES the
//! image package, which CONTAINS the OS and every package; each package has its purl as
//! a PACKAGE-MANAGER external reference, its declared licences as an SPDX expression
//! (names that are not SPDX identifiers become `LicenseRef-` ids defined in
//! `hasExtractedLicensingInfos`), and in `sourceInfo` the file and layer it was found in.
//! Deterministic: the namespace derives from the image digest, the creation time is the
//! image's (else the epoch).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::cyclonedx::{TOOL, VERSION, package_ids, short_hash};
use super::{License, Sbom};

/// `documentNamespace` prefix: not resolvable (`.invalid`, RFC 2606), unique per image.
pub const NAMESPACE_PREFIX: &str = "https://lading.invalid/spdx/";

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// LicenseRef ids for licence names, with their texts.
#[derive(Default)]
struct Refs(BTreeMap<String, String>);

impl Refs {
    fn id_for(&mut self, name: &str) -> String {
        let mut id = format!("LicenseRef-{}", sanitize(name));
        if self.0.get(&id).is_some_and(|n| n != name) {
            id = format!("{id}-{}", short_hash(&[name], 8));
        }
        self.0.insert(id.clone(), name.to_string());
        id
    }

    fn expression(&mut self, list: &[License]) -> String {
        if list.is_empty() {
            return "NOASSERTION".into();
        }
        let parts: Vec<String> = list
            .iter()
            .map(|l| match l {
                License::Spdx(e) => {
                    for tok in e.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
                        if tok.starts_with("LicenseRef-") {
                            self.0
                                .entry(tok.to_string())
                                .or_insert_with(|| tok.to_string());
                        }
                    }
                    e.clone()
                }
                License::Name(n) => self.id_for(n),
            })
            .collect();
        if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            parts
                .iter()
                .map(|p| {
                    if p.contains(' ') {
                        format!("({p})")
                    } else {
                        p.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        }
    }
}

/// The document.
pub fn document(sbom: &Sbom) -> Value {
    let hex = sbom
        .image
        .digest
        .strip_prefix("sha256:")
        .unwrap_or(&sbom.image.digest);
    let image_id = "SPDXRef-Image".to_string();
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": sbom.image.name,
        "versionInfo": sbom.image.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "checksums": [{"algorithm": "SHA256", "checksumValue": hex}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let mut contains = |id: &str| {
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    };
    if let Some(os) = &sbom.os {
        let id = format!("SPDXRef-OperatingSystem-{}", sanitize(&os.distro()));
        let mut p = json!({
            "SPDXID": id,
            "name": os.id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("{} in layer {}", os.path, os.layer_digest),
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        });
        if let Some(v) = &os.version_id {
            p["versionInfo"] = json!(v);
        }
        if let Some(d) = &os.pretty_name {
            p["description"] = json!(d);
        }
        packages.push(p);
        contains(&id);
    }
    let mut refs = Refs::default();
    for (p, hash) in sbom.packages.iter().zip(package_ids(&sbom.packages)) {
        let id = format!(
            "SPDXRef-Package-{}-{}-{}",
            p.ecosystem.as_str(),
            sanitize(&p.name),
            hash
        );
        let mut source_info = format!("{} in layer {}", p.location.path, p.location.layer_digest);
        if let Some(s) = &p.source {
            source_info.push_str(&format!("; source package {}", s.name));
            if let Some(v) = &s.version {
                source_info.push_str(&format!(" {v}"));
            }
        }
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
        });
        if !p.version.is_empty() {
            pkg["versionInfo"] = json!(p.version);
        }
        let name = match &p.group {
            Some(g) => format!("{g}/{}", p.name),
            None => p.name.clone(),
        };
        pkg["name"] = json!(name);
        pkg["downloadLocation"] = json!("NOASSERTION");
        pkg["filesAnalyzed"] = json!(false);
        pkg["licenseConcluded"] = json!("NOASSERTION");
        pkg["licenseDeclared"] = json!(refs.expression(&p.licenses));
        pkg["copyrightText"] = json!("NOASSERTION");
        pkg["sourceInfo"] = json!(source_info);
        pkg["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": p.purl,
        }]);
        pkg["primaryPackagePurpose"] = json!("LIBRARY");
        packages.push(pkg);
        contains(&id);
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.image.name,
        "documentNamespace": format!("{NAMESPACE_PREFIX}{}/{}", sbom.image.digest.replace(':', "/"), sbom.uuid("spdx")),
        "creationInfo": {
            "created": sbom.timestamp(),
            "creators": [format!("Tool: {TOOL}-{VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !refs.0.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(
            refs.0
                .iter()
                .map(|(id, name)| {
                    json!({
                        "licenseId": id,
                        "name": name,
                        "extractedText": name,
                    })
                })
                .collect(),
        );
    }
    doc
}
