//! `lading sbom`: documents checked by the official validators (cyclonedx-python-lib's
//! CycloneDX 1.6 schema validator, spdx-tools' `pyspdxtools`), packages compared with
//! syft's on real images, JSON snapshots, corrupt inputs.
//!
//! The peer tools live in `target/peers-venv` (`scripts/test` installs them); tests that
//! need them fail on CI when they are missing and skip locally.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bases::{self, DEBIAN_TAG};
use common::{Sandbox, assert_success, run, stderr, stdout};
use serde_json::Value;

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin")
}

/// A tool from the peers venv, if installed.
fn peer(tool: &str) -> Option<PathBuf> {
    let p = venv().join(tool);
    p.is_file().then_some(p)
}

/// Requires the validators and syft (see `common::require`).
fn require_peers() -> bool {
    common::require(
        peer("syft").is_some() && peer("pyspdxtools").is_some() && peer("python").is_some(),
        "syft, pyspdxtools and cyclonedx-python-lib in target/peers-venv",
    )
}

const CYCLONEDX_VALIDATE: &str = r#"
import sys
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
if err is not None:
    print(repr(err))
    sys.exit(1)
"#;

/// Validates a CycloneDX 1.6 JSON file against the official schema.
fn validate_cyclonedx(file: &Path) {
    let python = peer("python").expect("venv python");
    let out = run(Command::new(python)
        .arg("-c")
        .arg(CYCLONEDX_VALIDATE)
        .arg(file));
    assert!(
        out.status.success(),
        "CycloneDX schema validation failed for {}:\n{}{}",
        file.display(),
        stdout(&out),
        stderr(&out)
    );
}

/// Validates an SPDX 2.3 JSON file with spdx-tools.
fn validate_spdx(file: &Path) {
    let out = run(Command::new(peer("pyspdxtools").expect("pyspdxtools"))
        .arg("-i")
        .arg(file));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success() && !text.contains("validation"),
        "pyspdxtools rejected {}:\n{text}",
        file.display()
    );
}

/// Percent-decodes a purl part.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name -> versions` for the components of one purl type, the name taken from the purl
/// (`namespace/name`, decoded) so that tools that split names differently compare.
fn packages_by_type(doc: &Value, ty: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let prefix = format!("pkg:{ty}/");
    for c in doc["components"].as_array().into_iter().flatten() {
        let Some(rest) = c["purl"].as_str().and_then(|p| p.strip_prefix(&prefix)) else {
            continue;
        };
        let path = rest.split(['@', '?', '#']).next().unwrap_or(rest);
        // OS packages: the namespace is the distribution, not part of the name.
        let path = if ["deb", "apk", "rpm"].contains(&ty) {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        m.entry(decode(path))
            .or_default()
            .insert(c["version"].as_str().unwrap_or("").to_string());
    }
    m
}

/// Runs `syft scan oci-dir:LAYOUT -o cyclonedx-json` (the layout must hold one image).
fn syft(layout: &Path) -> Value {
    let out = run(Command::new(peer("syft").expect("syft"))
        .arg("scan")
        .arg(format!("oci-dir:{}", layout.display()))
        .args(["-o", "cyclonedx-json", "-q"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false"));
    assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("syft's JSON")
}

/// Differences between two `name -> versions` maps, as readable lines.
fn differences(
    ours: &BTreeMap<String, BTreeSet<String>>,
    theirs: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let names: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let mut diffs = Vec::new();
    for n in names {
        match (ours.get(n), theirs.get(n)) {
            (Some(a), Some(b)) if a != b => diffs.push(format!("{n}: lading {a:?}, syft {b:?}")),
            (Some(a), None) => diffs.push(format!("{n}: lading {a:?}, syft none")),
            (None, Some(b)) => diffs.push(format!("{n}: lading none, syft {b:?}")),
            _ => {}
        }
    }
    diffs
}

/// `lading sbom REF --format FORMAT -o FILE` in the sandbox; returns the parsed file.
fn sbom(sb: &Sandbox, reference: &str, format: &str) -> (PathBuf, Value) {
    let file = sb.path(&format!("sbom-{format}-{}.json", reference.len()));
    let out = sb.run(&[
        "sbom",
        reference,
        "--format",
        format,
        "-o",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_success(&out);
    let doc = serde_json::from_slice(&std::fs::read(&file).expect("sbom file")).expect("json");
    (file, doc)
}

fn have_bases() -> bool {
    common::require(
        bases::bases_available().is_ok(),
        "root, debootstrap and umoci for the Debian base",
    )
}

#[test]
fn debian_base_os_packages_match_syft_and_documents_validate() {
    if !have_bases() || !require_peers() {
        return;
    }
    let layout = bases::debian_base();
    let sb = Sandbox::new();
    let reference = bases::oci_ref(&layout, DEBIAN_TAG);
    let (cdx_file, cdx) = sbom(&sb, &reference, "cyclonedx");
    validate_cyclonedx(&cdx_file);
    let (spdx_file, _) = sbom(&sb, &reference, "spdx");
    validate_spdx(&spdx_file);

    let ours = packages_by_type(&cdx, "deb");
    let theirs = packages_by_type(&syft(&layout), "deb");
    assert!(ours.len() > 80, "only {} deb packages", ours.len());
    // No differences: syft reads the same status file the same way (and both skip
    // removed-but-not-purged packages, of which a debootstrap image has none).
    assert_eq!(differences(&ours, &theirs), Vec::<String>::new());
    // Every dpkg package has its source kept and the layer it came from.
    let libc = cdx["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "libc6")
        .expect("libc6");
    let props: BTreeMap<&str, &str> = libc["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(props.get("lading:package:sourceName"), Some(&"glibc"));
    assert!(props["lading:location:layerDigest"].starts_with("sha256:"));
    assert!(
        libc["purl"]
            .as_str()
            .is_some_and(|p| p.contains("distro=debian-12") && p.contains("upstream=glibc"))
    );
}

/// A build context with real Python wheels and npm packages (fetched once with the
/// ordinary clients, pinned, cached beside the bases): `site-packages/` holds the
/// unpacked wheels with their `.dist-info`, `node_modules/` the unpacked npm tarballs.
fn langs_context() -> PathBuf {
    let dir = bases::cache_dir().join("sbom-langs-v2");
    if dir.join("Dockerfile").is_file() {
        return dir;
    }
    let tmp = bases::cache_dir().join(format!("sbom-langs-v2.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("dl")).expect("mkdir");
    let pip = venv().join("pip");
    let python = venv().join("python");
    common::sh(&format!(
        "cd {tmp} && {pip} download -q --no-deps --only-binary=:all: -d dl \
           requests==2.32.3 urllib3==2.2.3 \
         && mkdir -p site-packages node_modules \
         && for w in dl/*.whl; do {python} -m zipfile -e \"$w\" site-packages/; done \
         && cd dl && npm pack -q lodash@4.17.21 minimist@1.2.8 @types/node@20.11.30 >/dev/null && cd .. \
         && for t in dl/*.tgz; do \
              rm -rf x && mkdir x && tar xzf \"$t\" -C x && top=$(ls x) \
              && n=$({python} -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"name\"])' \"x/$top/package.json\") \
              && mkdir -p \"node_modules/$n\" && cp -a \"x/$top/.\" \"node_modules/$n/\" || exit 1; \
            done \
         && rm -rf x \
         && rm -rf dl",
        tmp = common::q(&tmp),
        pip = common::q(&pip),
        python = common::q(&python),
    ));
    std::fs::write(
        tmp.join("Dockerfile"),
        "ARG BASE\nFROM $BASE\n\
         COPY site-packages/ /usr/local/lib/python3.11/dist-packages/\n\
         COPY node_modules/ /usr/local/lib/node_modules/\n",
    )
    .expect("Dockerfile");
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => {}
        // Another test made it meanwhile.
        Err(_) if dir.join("Dockerfile").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => panic!("renaming {}: {e}", tmp.display()),
    }
    dir
}

#[test]
fn python_and_npm_image_matches_syft() {
    if !have_bases() || !require_peers() || !common::require_tool("npm") {
        return;
    }
    let base = bases::debian_base();
    let ctx = langs_context();
    let sb = Sandbox::new();
    let layout = sb.path("layout");
    sb.build_ok(
        &ctx,
        &[
            "-t",
            "langs:1",
            "--build-arg",
            &format!("BASE={}", bases::oci_ref(&base, DEBIAN_TAG)),
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
        ],
    );
    let (cdx_file, cdx) = sbom(&sb, "langs:1", "cyclonedx");
    validate_cyclonedx(&cdx_file);
    let (spdx_file, _) = sbom(&sb, "langs:1", "spdx");
    validate_spdx(&spdx_file);
    let theirs = syft(&layout);
    for ty in ["deb", "pypi", "npm"] {
        let ours = packages_by_type(&cdx, ty);
        assert!(!ours.is_empty(), "no {ty} packages");
        assert_eq!(
            differences(&ours, &packages_by_type(&theirs, ty)),
            Vec::<String>::new(),
            "{ty} packages differ from syft's"
        );
    }
    let py = packages_by_type(&cdx, "pypi");
    assert_eq!(py["requests"], BTreeSet::from(["2.32.3".to_string()]));
    let npm = packages_by_type(&cdx, "npm");
    assert_eq!(npm["@types/node"], BTreeSet::from(["20.11.30".to_string()]));
    // The language packages came from the COPY layers, not the base layer.
    let base_layer = cdx["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "bash")
        .and_then(|c| c["properties"].as_array())
        .and_then(|p| {
            p.iter()
                .find(|p| p["name"] == "lading:location:layerDigest")
        })
        .and_then(|p| p["value"].as_str())
        .expect("bash's layer")
        .to_string();
    for c in cdx["components"].as_array().expect("components") {
        if c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:pypi/") || p.starts_with("pkg:npm/"))
        {
            let layer = c["properties"]
                .as_array()
                .and_then(|p| {
                    p.iter()
                        .find(|p| p["name"] == "lading:location:layerDigest")
                })
                .and_then(|p| p["value"].as_str());
            assert!(layer.is_some_and(|l| l != base_layer), "{c}");
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sbom")
        .join(name)
}

/// Builds `tests/fixtures/sbom/NAME` (`FROM scratch` + `COPY rootfs/ /`) as `NAME:1`.
fn build_fixture(sb: &Sandbox, name: &str) -> String {
    sb.build_ok(&fixture(name), &["-t", &format!("{name}:1")])
}

/// `lading sbom NAME:1 --format FORMAT` on stdout, asserting exit code 0.
fn sbom_stdout(sb: &Sandbox, reference: &str, format: &str) -> String {
    let out = sb.run(&["sbom", reference, "--format", format]);
    assert_success(&out);
    stdout(&out)
}

/// Snapshot with digests and digest-derived ids replaced (they depend on the file modes
/// of the checkout; determinism is tested separately).
fn snapshot(name: &str, text: &str) {
    insta::with_settings!({filters => vec![
        (r"sha256:[0-9a-f]{64}", "sha256:[digest]"),
        (r"sha256/[0-9a-f]{64}", "sha256/[digest]"),
        (r"\b[0-9a-f]{64}\b", "[digest]"),
        (r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", "[uuid]"),
        (r"\b[0-9a-f]{12}\b", "[short]"),
        (r"package-id=[0-9a-f]{16}", "package-id=[id]"),
        (r"-[0-9a-f]{16}\b", "-[id]"),
        (
            r#"("name": "lading",\s*"type": "application",\s*"version": )"[^"]+""#,
            r#"$1"[version]""#,
        ),
        (r"Tool: lading-\d+\.\d+\.\d+", "Tool: lading-[version]"),
    ]}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn json_snapshots_of_every_cataloger() {
    let sb = Sandbox::new();
    for name in ["debian", "alpine", "fedora"] {
        build_fixture(&sb, name);
        let json = sbom_stdout(&sb, &format!("{name}:1"), "json");
        snapshot(&format!("sbom-json-{name}"), &json);
    }
    let table = sbom_stdout(&sb, "alpine:1", "table");
    snapshot("sbom-table-alpine", &table);
}

#[test]
fn cyclonedx_and_spdx_snapshots_validate() {
    let sb = Sandbox::new();
    build_fixture(&sb, "alpine");
    build_fixture(&sb, "debian");
    for name in ["alpine", "debian"] {
        let r = format!("{name}:1");
        let cdx = sbom_stdout(&sb, &r, "cyclonedx");
        snapshot(&format!("sbom-cyclonedx-{name}"), &cdx);
        let spdx = sbom_stdout(&sb, &r, "spdx");
        snapshot(&format!("sbom-spdx-{name}"), &spdx);
        // The same image gives the same bytes, run after run.
        assert_eq!(cdx, sbom_stdout(&sb, &r, "cyclonedx"));
        assert_eq!(spdx, sbom_stdout(&sb, &r, "spdx"));
        if peer("python").is_some() && peer("pyspdxtools").is_some() {
            let c = sb.path(&format!("{name}.cdx.json"));
            std::fs::write(&c, &cdx).expect("write");
            validate_cyclonedx(&c);
            let s = sb.path(&format!("{name}.spdx.json"));
            std::fs::write(&s, &spdx).expect("write");
            validate_spdx(&s);
        } else {
            common::require(
                false,
                "cyclonedx-python-lib and spdx-tools in target/peers-venv",
            );
        }
    }
}

/// lading and syft (`dir:` scan of the same tree) on the cataloger fixtures: the same
/// names and versions, per package type, except for what the table below explains.
#[test]
fn fixture_packages_match_syft() {
    if !require_peers() {
        return;
    }
    // (purl type, expected differences, why)
    let expected: &[(&str, &[&str], &str)] = &[
        (
            "deb",
            &["removed-but-configured: lading none, syft {\"0.9-1\"}"],
            "`Status: deinstall ok config-files`: only conffiles are left, dpkg lists it as \
             not installed; syft 1.18 still reports it",
        ),
        ("apk", &[], ""),
        ("rpm", &[], ""),
        ("pypi", &[], ""),
        (
            "npm",
            &[
                "@scope/pkg: lading {\"2.0.0-beta.1\"}, syft none",
                "left-pad: lading {\"1.3.0\"}, syft none",
                "nested: lading {\"0.0.1\"}, syft none",
            ],
            "syft reads installed package.json files only in image scans, not `dir:` scans",
        ),
        ("golang", &[], ""),
        ("cargo", &[], ""),
        ("maven", &[], ""),
        ("gem", &[], ""),
        (
            "composer",
            &[
                "monolog/monolog: lading {\"3.5.0\"}, syft none",
                "psr/log: lading {\"3.0.0\"}, syft none",
            ],
            "syft reads installed.json only in image scans, not `dir:` scans",
        ),
    ];
    let sb = Sandbox::new();
    let mut ours = Value::Array(Vec::new());
    let mut theirs = Value::Array(Vec::new());
    for name in ["debian", "alpine", "fedora"] {
        build_fixture(&sb, name);
        let cdx: Value = serde_json::from_str(&sbom_stdout(&sb, &format!("{name}:1"), "cyclonedx"))
            .expect("json");
        let out = run(Command::new(peer("syft").expect("syft"))
            .arg("scan")
            .arg(format!("dir:{}", fixture(name).join("rootfs").display()))
            .args(["-o", "cyclonedx-json", "-q"])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false"));
        assert_success(&out);
        let s: Value = serde_json::from_slice(&out.stdout).expect("syft json");
        for (all, doc) in [(&mut ours, cdx), (&mut theirs, s)] {
            if let (Value::Array(a), Some(c)) = (all, doc["components"].as_array()) {
                a.extend(c.iter().cloned());
            }
        }
    }
    let ours = serde_json::json!({ "components": ours });
    let theirs = serde_json::json!({ "components": theirs });
    for (ty, diffs, why) in expected {
        let got = differences(&packages_by_type(&ours, ty), &packages_by_type(&theirs, ty));
        assert_eq!(
            &got, diffs,
            "{ty}: unexpected differences from syft ({why})"
        );
        assert!(
            !packages_by_type(&ours, ty).is_empty(),
            "lading found no {ty} packages in the fixtures"
        );
    }
}

/// Rewrites the one-image OCI layout at `dir` so that its first layer is `f(layer)`,
/// with digests that match (so the store accepts it and the damage is inside the layer).
fn replace_first_layer(dir: &Path, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let put = |bytes: &[u8]| -> String {
        let d = common::sha256(bytes);
        std::fs::write(
            dir.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
            bytes,
        )
        .expect("write blob");
        d
    };
    let index_path = dir.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("json");
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let mut manifest = common::json_blob(dir, &mdigest);
    let ldigest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string();
    let layer = f(common::blob(dir, &ldigest));
    manifest["layers"][0]["digest"] = Value::from(put(&layer));
    manifest["layers"][0]["size"] = Value::from(layer.len());
    let mbytes = serde_json::to_vec(&manifest).expect("json");
    index["manifests"][0]["digest"] = Value::from(put(&mbytes));
    index["manifests"][0]["size"] = Value::from(mbytes.len());
    std::fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("index");
}

#[test]
fn truncated_layer_is_a_clear_error_with_exit_code_2() {
    let sb = Sandbox::new();
    let layout = sb.path("layout");
    sb.build_ok(
        &fixture("alpine"),
        &[
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
        ],
    );
    replace_first_layer(&layout, |mut l| {
        l.truncate(l.len() / 2);
        l
    });
    let out = sb.run(&[
        "sbom",
        &format!("oci:{}", layout.display()),
        "--format",
        "json",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("layer sha256:") && err.contains("truncated"),
        "unclear error: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn flate2_decode(b: &[u8]) -> impl std::io::Read + '_ {
    flate2::read::MultiGzDecoder::new(b)
}

fn flate2_encode(w: &mut Vec<u8>) -> flate2::write::GzEncoder<&mut Vec<u8>> {
    flate2::write::GzEncoder::new(w, flate2::Compression::default())
}

#[test]
fn garbage_layer_is_a_clear_error_with_exit_code_2() {
    let sb = Sandbox::new();
    let layout = sb.path("layout");
    sb.build_ok(
        &fixture("debian"),
        &[
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
        ],
    );
    // Valid gzip, but the first tar header is garbage.
    replace_first_layer(&layout, |l| {
        use std::io::{Read, Write};
        let mut tar = Vec::new();
        flate2_decode(&l).read_to_end(&mut tar).expect("gunzip");
        for b in tar.iter_mut().take(512) {
            *b = 0x5a;
        }
        let mut gz = Vec::new();
        let mut enc = flate2_encode(&mut gz);
        enc.write_all(&tar).expect("gzip");
        drop(enc);
        gz
    });
    let out = sb.run(&["sbom", &format!("oci:{}", layout.display())]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("layer sha256:"), "unclear error: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn corrupt_package_files_are_warnings_not_failures() {
    let sb = Sandbox::new();
    build_fixture(&sb, "debian");
    let out = sb.run(&["sbom", "debian:1", "--format", "json"]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning: /var/lib/dpkg/status: line 23: not a `Field: value` line"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(doc["warnings"].as_array().is_some_and(|w| w.len() >= 2));
    // Package files that are not what they claim to be: broken JSON, a text file named
    // like a jar, a truncated rpm database, each a warning; the rest is still listed.
    build_fixture(&sb, "alpine");
    let out = sb.run(&["sbom", "alpine:1", "--format", "json"]);
    assert_success(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let warned: Vec<&str> = doc["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["path"].as_str())
        .collect();
    assert!(
        warned.contains(&"/app/node_modules/broken/package.json"),
        "{warned:?}"
    );
    assert!(warned.contains(&"/opt/app/not-a.jar"), "{warned:?}");
    build_fixture(&sb, "fedora");
    let out = sb.run(&["sbom", "fedora:1", "--format", "json"]);
    assert_success(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        doc["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["path"] == "/var/lib/rpm/rpmdb.sqlite"),
        "{doc}"
    );
    assert_eq!(doc["packages"].as_array().map(Vec::len), Some(2));
}

#[test]
fn sbom_errors_exit_2_with_a_message() {
    let sb = Sandbox::new();
    let out = sb.run(&["sbom", "no-such-image:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-image"), "{}", stderr(&out));
    let out = sb.run(&["sbom", "x", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A real Go binary from a Debian package (`/usr/bin/docker-registry`, built by Debian in
/// GOPATH mode, so its build info has the main package's path and the Go version but no
/// module list): lading and syft agree on the standard library's version; syft guesses
/// the main package's version from strings in the binary, lading leaves it empty.
#[test]
fn real_go_binary_matches_syft() {
    let bin = Path::new("/usr/bin/docker-registry");
    if !require_peers()
        || !common::require(
            bin.is_file(),
            "/usr/bin/docker-registry (apt docker-registry)",
        )
    {
        return;
    }
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(ctx.join("root/usr/bin")).expect("mkdir");
    std::fs::copy(bin, ctx.join("root/usr/bin/docker-registry")).expect("copy");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY root/ /\n").expect("Dockerfile");
    sb.build_ok(&ctx, &["-t", "go:1"]);
    let cdx: Value = serde_json::from_str(&sbom_stdout(&sb, "go:1", "cyclonedx")).expect("json");
    let out = run(Command::new(peer("syft").expect("syft"))
        .arg("scan")
        .arg(format!("dir:{}", ctx.join("root").display()))
        .args(["-o", "cyclonedx-json", "-q"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false"));
    assert_success(&out);
    let theirs: Value = serde_json::from_slice(&out.stdout).expect("syft json");
    let ours = packages_by_type(&cdx, "golang");
    let theirs = packages_by_type(&theirs, "golang");
    assert_eq!(ours.get("stdlib"), theirs.get("stdlib"));
    assert!(
        ours["stdlib"].iter().all(|v| v.starts_with("go1.")),
        "{ours:?}"
    );
    let main = "github.com/docker/distribution/cmd/registry";
    assert_eq!(
        ours.get(main),
        Some(&BTreeSet::from([String::new()])),
        "{ours:?}"
    );
    // syft writes the main package as module `github.com/docker/distribution` with
    // subpath `cmd/registry` (`pkg:golang/...distribution@v2.8.2%2Bds1#cmd/registry`),
    // guessing where the module ends; lading names the package path it was given.
    assert!(
        theirs.contains_key("github.com/docker/distribution"),
        "{theirs:?}"
    );
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(theirs.len(), 2, "{theirs:?}");
}
