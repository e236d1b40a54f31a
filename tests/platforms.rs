//! Multi-platform builds (`--platform linux/amd64,linux/arm64`): one OCI image index,
//! BuildKit's platform ARGs per platform, the cross-compilation pattern (`FROM
//! --platform=$BUILDPLATFORM`), and arm64 RUN steps through qemu-user-static. The
//! oracle is buildah's `--platform … --manifest` build of the same Dockerfile on the
//! same two-platform Debian base (amd64 from debootstrap, arm64 from debootstrap
//! --foreign plus its second stage under qemu); skopeo copies the index with `--all`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::RwLock;

use common::bases::{self, DEBIAN_TAG, oci_ref};
use common::registry::LadingServe;
use common::rng::Rng;
use common::tree::{Tree, assert_same_tree, tree_of_tar};
use common::{Sandbox, assert_success, json_blob, require, require_tool, run, stderr};
use serde_json::Value;

/// Where the kernel shows qemu's aarch64 handler (Debian's qemu-user-static names it so).
const AARCH64_HANDLER: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/// Tests that run arm64 steps hold this shared; the one that disables the handler holds
/// it exclusively, so no arm64 step of this binary runs while it is off.
static BINFMT: RwLock<()> = RwLock::new(());

/// Whether the peers are here: root, debootstrap & co., buildah, skopeo, and an
/// enabled qemu-aarch64 handler (scripts/install-peers registers it). Looked at under
/// [`BINFMT`], so not while the test that disables the handler has it off.
fn peers_ready() -> bool {
    let handler_enabled = {
        let _shared = BINFMT.read().unwrap_or_else(|e| e.into_inner());
        std::fs::read_to_string(AARCH64_HANDLER).is_ok_and(|s| s.starts_with("enabled"))
    };
    require(bases::bases_available().is_ok(), "root and the base tools")
        && require_tool("buildah")
        && require_tool("skopeo")
        && require(
            handler_enabled,
            "binfmt_misc's qemu-aarch64 handler (scripts/install-peers registers it)",
        )
}

/// The two-platform Debian base, behind a lowercase symlink (buildah names an `oci:`
/// base after its path, which must be lowercase), removed when dropped.
struct Base {
    link: PathBuf,
    reference: String,
}

impl Base {
    fn new(name: &str) -> Base {
        let layout = bases::debian_multiarch_base();
        let link =
            std::env::temp_dir().join(format!("lading-platforms-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&layout, &link).expect("symlink base");
        let reference = oci_ref(&link, DEBIAN_TAG);
        Base { link, reference }
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

/// The base's layer count per architecture (what the Dockerfile's layers come after).
fn base_layers(base_ref: &str) -> BTreeMap<String, usize> {
    let layout = PathBuf::from(
        base_ref
            .trim_start_matches("oci:")
            .rsplit_once(':')
            .expect("oci ref")
            .0,
    );
    let index = top_index(&layout);
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            let manifest = json_blob(&layout, m["digest"].as_str().expect("digest"));
            (
                m["platform"]["architecture"]
                    .as_str()
                    .expect("arch")
                    .to_string(),
                manifest["layers"].as_array().expect("layers").len(),
            )
        })
        .collect()
}

/// The image index `index.json`'s only entry names.
fn top_index(layout: &Path) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1, "one entry in {}", layout.display());
    assert_eq!(
        entries[0]["mediaType"], "application/vnd.oci.image.index.v1+json",
        "the layout's image is an index"
    );
    json_blob(layout, entries[0]["digest"].as_str().expect("digest"))
}

/// One platform of an index as the comparison sees it.
#[derive(Debug, PartialEq, Eq)]
struct PlatformImage {
    /// The index entry's `platform`.
    entry: Value,
    /// The config's `os`, `architecture`, `variant`.
    config: Value,
    /// The files the Dockerfile wrote: the merged tree of the layers above the base,
    /// only what is under `/out`.
    out: Tree,
}

/// Each platform of the index in `layout` by `os/arch[/variant]`.
fn platform_images(
    layout: &Path,
    base: &BTreeMap<String, usize>,
) -> BTreeMap<String, PlatformImage> {
    let index = top_index(layout);
    let mut out = BTreeMap::new();
    for m in index["manifests"].as_array().expect("manifests") {
        assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        let p = &m["platform"];
        let mut key = format!(
            "{}/{}",
            p["os"].as_str().expect("os"),
            p["architecture"].as_str().expect("architecture")
        );
        if let Some(v) = p["variant"].as_str() {
            key.push_str(&format!("/{v}"));
        }
        let manifest = json_blob(layout, m["digest"].as_str().expect("digest"));
        let config = json_blob(
            layout,
            manifest["config"]["digest"].as_str().expect("config"),
        );
        let arch = config["architecture"].as_str().expect("architecture");
        let skip = base[arch];
        let mut tree = Tree::new();
        for layer in &manifest["layers"].as_array().expect("layers")[skip..] {
            let blob = common::blob(layout, layer["digest"].as_str().expect("digest"));
            let bytes = if layer["mediaType"]
                .as_str()
                .unwrap_or_default()
                .ends_with("gzip")
            {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(blob.as_slice())
                    .read_to_end(&mut plain)
                    .expect("gunzip layer");
                plain
            } else {
                blob
            };
            tree.extend(tree_of_tar(&bytes));
        }
        tree.retain(|path, _| path == "out" || path.starts_with("out/"));
        let prev = out.insert(
            key.clone(),
            PlatformImage {
                entry: p.clone(),
                config: serde_json::json!({
                    "os": config["os"],
                    "architecture": config["architecture"],
                    "variant": config.get("variant").cloned().unwrap_or(Value::Null),
                }),
                out: tree,
            },
        );
        assert!(prev.is_none(), "{key} twice in {}", layout.display());
    }
    out
}

const PLATFORMS: &str = "linux/amd64,linux/arm64";

/// lading's build of `ctx` for both platforms, as an OCI layout directory.
fn lading_build(sb: &Sandbox, ctx: &Path, base_ref: &str, name: &str) -> PathBuf {
    let dest = sb.path(&format!("lading-{name}"));
    let out = run(sb
        .lading(&["build", "--progress", "plain", "--platform", PLATFORMS])
        .args(["-t", &format!("{name}:1"), "--build-arg"])
        .arg(format!("BASE={base_ref}"))
        .arg("-o")
        .arg(format!("type=oci,dest={},tar=false", dest.display()))
        .arg(ctx));
    assert_success(&out);
    dest
}

/// buildah's build of `ctx` for both platforms (`--manifest`), pushed with every
/// platform into an OCI layout directory.
fn buildah_build(sb: &Sandbox, ctx: &Path, base_ref: &str, name: &str) -> PathBuf {
    let root = sb.path("buildah/root");
    let runroot = sb.path("buildah/run");
    let buildah = || {
        let mut c = Command::new("buildah");
        c.arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot);
        c
    };
    let list = format!("localhost/{name}:1");
    assert_success(&run(buildah()
        .args(["bud", "--runtime", "runc", "--network", "none"])
        .args([
            "--timestamp",
            "0",
            "--platform",
            PLATFORMS,
            "--manifest",
            &list,
        ])
        .arg("--build-arg")
        .arg(format!("BASE={base_ref}"))
        .arg(ctx)));
    let dest = sb.path(&format!("buildah-{name}"));
    assert_success(&run(buildah()
        .args(["manifest", "push", "--all", &list])
        .arg(format!("oci:{}:1", dest.display()))));
    dest
}

/// Builds `dockerfile` with lading and buildah and compares every platform: the index
/// entries' platforms, the configs' platform fields and what the steps wrote in `/out`.
///
/// `departs`: files where buildah 1.28 is known to depart from BuildKit, whose
/// differences are printed, not failed (BuildKit wins; the callers check lading's
/// content there themselves). buildah runs a `FROM --platform=$BUILDPLATFORM` stage of
/// a multi-platform build on the *target* platform when its base is a local index, so
/// what such a stage records of the machine it runs on (`uname -m`) differs.
fn compare_with_buildah(
    sb: &Sandbox,
    base_ref: &str,
    name: &str,
    dockerfile: &str,
    departs: &[&str],
) -> BTreeMap<String, PlatformImage> {
    let ctx = sb.path(&format!("ctx-{name}"));
    std::fs::create_dir_all(&ctx).expect("mkdir ctx");
    std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("write Dockerfile");
    let base = base_layers(base_ref);
    let ours = platform_images(&lading_build(sb, &ctx, base_ref, name), &base);
    let theirs = platform_images(&buildah_build(sb, &ctx, base_ref, name), &base);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{name}: the platforms of the two indexes\n{dockerfile}"
    );
    for (p, mine) in &ours {
        let other = &theirs[p];
        assert_eq!(mine.entry, other.entry, "{name} {p}: index entry platform");
        assert_eq!(
            mine.config, other.config,
            "{name} {p}: config platform\n{dockerfile}"
        );
        let (mut a, mut b) = (mine.out.clone(), other.out.clone());
        for path in departs {
            if a.get(*path) != b.get(*path) {
                eprintln!(
                    "{name} {p}: /{path}: buildah departs from BuildKit (lading {:?}, buildah {:?})",
                    a.get(*path),
                    b.get(*path)
                );
            }
            a.remove(*path);
            b.remove(*path);
        }
        assert_same_tree(
            &format!("{name} {p}: /out\n{dockerfile}"),
            "lading",
            &a,
            "buildah",
            &b,
        );
    }
    ours
}

/// The content of `/out/<file>` in a platform's tree, by its digest in the tree.
fn has_file(img: &PlatformImage, path: &str, content: &str) -> bool {
    img.out
        .get(path)
        .is_some_and(|n| n.digest == common::sha256(content.as_bytes()))
}

#[test]
fn cross_compile_pattern_builds_one_index_that_matches_buildah_and_skopeo_copies_all() {
    const NAME: &str = "cross";
    if !peers_ready() {
        return;
    }
    let _shared = BINFMT.read().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::new();
    let base = Base::new(NAME);
    let base_ref = base.reference.as_str();
    // The pattern: a build stage on the build machine's platform, its result copied
    // into each target platform's stage, whose own RUN runs for that platform.
    let dockerfile = r#"ARG BASE
FROM --platform=$BUILDPLATFORM ${BASE} AS build
ARG TARGETPLATFORM TARGETARCH BUILDPLATFORM
RUN mkdir -p /out && echo "$BUILDPLATFORM -> $TARGETPLATFORM ($TARGETARCH)" > /out/cross && uname -m > /out/build-uname
FROM ${BASE}
COPY --from=build /out/ /out/
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT
RUN echo "$TARGETPLATFORM|$TARGETOS|$TARGETARCH|$TARGETVARIANT|$BUILDPLATFORM|$BUILDOS|$BUILDARCH|$BUILDVARIANT" > /out/args \
 && uname -m > /out/uname && dpkg --print-architecture > /out/dpkg
"#;
    let images = compare_with_buildah(&sb, base_ref, "cross", dockerfile, &["out/build-uname"]);
    let amd64 = &images["linux/amd64"];
    let arm64 = &images["linux/arm64"];
    // The target stage ran under qemu for arm64; the build stage natively for both.
    assert!(has_file(amd64, "out/uname", "x86_64\n"));
    assert!(has_file(arm64, "out/uname", "aarch64\n"));
    assert!(has_file(arm64, "out/dpkg", "arm64\n"));
    assert!(has_file(arm64, "out/build-uname", "x86_64\n"));
    assert!(has_file(
        arm64,
        "out/cross",
        "linux/amd64 -> linux/arm64 (arm64)\n"
    ));
    assert!(has_file(
        arm64,
        "out/args",
        "linux/arm64|linux|arm64||linux/amd64|linux|amd64|\n"
    ));

    // The index is in the store under its tag; skopeo copies all of it out of the
    // store's registry and back in, digests unchanged.
    let store_index = sb.tags();
    assert!(
        store_index.contains(&"cross:1".to_string()),
        "{store_index:?}"
    );
    let lading_layout = sb.path("lading-cross");
    let index_digest = top_index_digest(&lading_layout);
    let serve = LadingServe::start(&sb.store());
    let copied = sb.path("skopeo-copy");
    assert_success(&run(Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
        ])
        .arg(format!("docker://{}/cross:1", serve.host))
        .arg(format!("oci:{}:copied", copied.display()))));
    assert_eq!(
        top_index_digest(&copied),
        index_digest,
        "skopeo's copy of the index"
    );
    assert_eq!(
        platform_images(&copied, &base_layers(base_ref)),
        platform_images(&lading_layout, &base_layers(base_ref)),
        "every platform survives the copy"
    );
    assert_success(&run(Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:copied", copied.display()))
        .arg(format!("docker://{}/back:1", serve.host))));
    let store = lading_oci::Store::open(sb.store()).expect("store");
    let back = store.resolve_tag("back:1").expect("index").expect("back:1");
    assert_eq!(
        back.digest.to_string(),
        index_digest,
        "the index pushed back"
    );
}

fn top_index_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("JSON");
    index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string()
}

/// The predefined platform ARGs.
const PLATFORM_ARGS: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// A random small Dockerfile over the platform ARGs: an optional helper stage (on the
/// build platform or the target's) whose `/out` the final stage copies, random subsets
/// of the ARGs declared (globally and per stage) and echoed into files, undeclared ones
/// echoed too (they must be empty), through ENV and `${VAR:-default}`, and the
/// architecture the steps really run on.
fn random_dockerfile(rng: &mut Rng) -> (String, Vec<&'static str>) {
    let mut df = String::from("ARG BASE\n");
    let pick = |rng: &mut Rng| -> Vec<&'static str> {
        PLATFORM_ARGS
            .iter()
            .copied()
            .filter(|_| rng.chance(50))
            .collect()
    };
    let helper = rng.chance(60);
    let mut departs = Vec::new();
    if helper {
        if rng.chance(60) {
            df.push_str("FROM --platform=$BUILDPLATFORM ${BASE} AS helper\n");
            departs.push("out/helper/uname");
        } else {
            df.push_str("FROM ${BASE} AS helper\n");
        }
        let declared = pick(rng);
        if !declared.is_empty() {
            df.push_str(&format!("ARG {}\n", declared.join(" ")));
        }
        df.push_str("RUN mkdir -p /out/helper && uname -m > /out/helper/uname");
        for a in PLATFORM_ARGS {
            if rng.chance(50) {
                df.push_str(&format!(" && echo \"[${a}]\" > /out/helper/{a}"));
            }
        }
        df.push('\n');
    }
    df.push_str("FROM ${BASE}\n");
    if helper {
        df.push_str("COPY --from=helper /out/helper/ /out/helper/\n");
    }
    let declared = pick(rng);
    if !declared.is_empty() {
        df.push_str(&format!("ARG {}\n", declared.join(" ")));
    }
    if let Some(a) = declared.first().filter(|_| rng.chance(50)) {
        df.push_str(&format!("ENV FROM_ENV=\"env-${{{a}}}\"\n"));
        df.push_str("RUN mkdir -p /out && echo \"$FROM_ENV\" > /out/env\n");
    }
    df.push_str("RUN mkdir -p /out/final");
    for a in PLATFORM_ARGS {
        match rng.below(3) {
            0 => df.push_str(&format!(" && echo \"[${a}]\" > /out/final/{a}")),
            1 => df.push_str(&format!(" && echo \"[${{{a}:-unset}}]\" > /out/final/{a}")),
            _ => {}
        }
    }
    if rng.chance(70) {
        df.push_str(
            " && uname -m > /out/final/uname && dpkg --print-architecture > /out/final/dpkg",
        );
    }
    df.push('\n');
    (df, departs)
}

#[test]
fn random_platform_arg_dockerfiles_match_buildah_for_two_platforms() {
    const NAME: &str = "random";
    if !peers_ready() {
        return;
    }
    let _shared = BINFMT.read().unwrap_or_else(|e| e.into_inner());
    let seeds: u64 = std::env::var("LADING_PLATFORM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let sb = Sandbox::new();
    let base = Base::new(NAME);
    let base_ref = base.reference.as_str();
    for seed in 0..seeds {
        let mut rng = Rng(0x9e37_79b9 ^ seed);
        let (dockerfile, departs) = random_dockerfile(&mut rng);
        eprintln!("seed {seed}:\n{dockerfile}");
        let images = compare_with_buildah(
            &sb,
            base_ref,
            &format!("random{seed}"),
            &dockerfile,
            &departs,
        );
        // Where buildah departs, BuildKit's answer: the helper ran on the build machine.
        for (p, img) in &images {
            for path in &departs {
                assert!(has_file(img, path, "x86_64\n"), "seed {seed} {p}: /{path}");
            }
        }
    }
}

/// Turns a binfmt_misc handler off and back on when dropped.
struct DisabledHandler(&'static str);

impl DisabledHandler {
    fn new(path: &'static str) -> Self {
        std::fs::write(path, "0").expect("disabling the handler");
        DisabledHandler(path)
    }
}

impl Drop for DisabledHandler {
    fn drop(&mut self) {
        std::fs::write(self.0, "1").expect("enabling the handler again");
    }
}

#[test]
fn an_arm64_run_step_without_an_enabled_qemu_handler_names_what_is_missing() {
    const NAME: &str = "nohandler";
    if !peers_ready() {
        return;
    }
    let sb = Sandbox::new();
    let base = Base::new(NAME);
    let base_ref = base.reference.as_str();
    let ctx = sb.path("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nRUN uname -m > /uname\n",
    )
    .expect("write");
    let build = |platform: &str| {
        run(sb
            .lading(&["build", "--progress", "plain", "--platform", platform])
            .arg("--build-arg")
            .arg(format!("BASE={base_ref}"))
            .arg(&ctx))
    };
    {
        let _exclusive = BINFMT.write().unwrap_or_else(|e| e.into_inner());
        let _off = DisabledHandler::new(AARCH64_HANDLER);
        let out = build(PLATFORMS);
        assert!(!out.status.success(), "the build must fail");
        let err = stderr(&out);
        assert!(err.contains("linux/arm64"), "{err}");
        assert!(err.contains("\"qemu-aarch64\""), "{err}");
        assert!(err.contains("is disabled"), "{err}");
        assert!(
            err.contains(&format!("echo 1 > {AARCH64_HANDLER}")),
            "{err}"
        );
    }
    // With the handler back, the same build succeeds (and amd64 never needed it).
    let _shared = BINFMT.read().unwrap_or_else(|e| e.into_inner());
    assert_success(&build(PLATFORMS));
}

#[test]
fn multi_platform_outputs_are_laid_out_as_buildx_lays_them_out() {
    // No RUN step: nothing here needs qemu, root or a base.
    let sb = Sandbox::new();
    let ctx = sb.path("ctx");
    sb.write("ctx/hello.txt", "hello\n");
    sb.write(
        "ctx/Dockerfile",
        "FROM scratch\nARG TARGETPLATFORM TARGETARCH\nLABEL target=$TARGETPLATFORM arch=$TARGETARCH\nCOPY hello.txt /hello-$TARGETARCH.txt\n",
    );
    let local = sb.path("local");
    let tarball = sb.path("rootfs.tar");
    let meta = sb.path("meta.json");
    let iid = sb.path("iid");
    let out = run(sb
        .lading(&["build", "--progress", "plain"])
        .args([
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64,linux/amd64",
        ])
        .args(["-t", "outs:1", "-o"])
        .arg(format!("type=local,dest={}", local.display()))
        .arg("-o")
        .arg(format!("type=tar,dest={}", tarball.display()))
        .arg("--metadata-file")
        .arg(&meta)
        .arg("--iidfile")
        .arg(&iid)
        .arg(&ctx));
    assert_success(&out);
    assert!(local.join("linux_amd64/hello-amd64.txt").is_file());
    assert!(local.join("linux_arm64/hello-arm64.txt").is_file());
    let tree = tree_of_tar(&std::fs::read(&tarball).expect("tarball"));
    let paths: Vec<&String> = tree.keys().collect();
    assert_eq!(
        paths,
        [
            "linux_amd64",
            "linux_amd64/hello-amd64.txt",
            "linux_arm64",
            "linux_arm64/hello-arm64.txt"
        ]
    );
    // The iidfile, the metadata file and the tag name the index; its entries are the
    // two platforms, in the order asked, repeats dropped.
    let digest = std::fs::read_to_string(&iid).expect("iidfile");
    let meta: Value = serde_json::from_slice(&std::fs::read(&meta).expect("meta")).expect("JSON");
    assert_eq!(meta["containerimage.digest"], digest.as_str());
    assert_eq!(
        meta["containerimage.descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(meta.get("containerimage.config.digest").is_none());
    let store = lading_oci::Store::open(sb.store()).expect("store");
    let tagged = store.resolve_tag("outs:1").expect("index").expect("tag");
    assert_eq!(tagged.digest.to_string(), digest);
    let index: Value =
        serde_json::from_slice(&store.read_blob(&tagged.digest).expect("index blob"))
            .expect("JSON");
    let platforms: Vec<&Value> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| &m["platform"])
        .collect();
    assert_eq!(
        platforms,
        [
            &serde_json::json!({"architecture": "amd64", "os": "linux"}),
            &serde_json::json!({"architecture": "arm64", "os": "linux"})
        ]
    );
    for m in index["manifests"].as_array().expect("manifests") {
        let manifest: Value = serde_json::from_slice(
            &store
                .read_blob(&m["digest"].as_str().unwrap().parse().unwrap())
                .unwrap(),
        )
        .unwrap();
        let config: Value = serde_json::from_slice(
            &store
                .read_blob(
                    &manifest["config"]["digest"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
                .unwrap(),
        )
        .unwrap();
        let arch = m["platform"]["architecture"].as_str().unwrap();
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["config"]["Labels"]["arch"], arch);
        assert_eq!(
            config["config"]["Labels"]["target"],
            format!("linux/{arch}").as_str()
        );
    }
    // `-q` prints the index digest, as the iidfile names it.
    let out = run(sb
        .lading(&["build", "-q", "--platform", "linux/amd64,linux/arm64"])
        .arg(&ctx));
    assert_success(&out);
    assert_eq!(common::stdout(&out).trim(), digest);
    // A docker archive holds one platform.
    let out = run(sb
        .lading(&["build", "--platform", "linux/amd64,linux/arm64", "-o"])
        .arg(format!("type=docker,dest={}", sb.path("d.tar").display()))
        .arg(&ctx));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("type=docker holds one platform"),
        "{}",
        stderr(&out)
    );
    // So does the engine's image store (`--load`), as buildx refuses it.
    let out = run(sb
        .lading(&["build", "--load", "--platform", "linux/amd64,linux/arm64"])
        .arg(&ctx));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--load (-o type=docker) loads one platform"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn push_and_publish_of_two_platforms_gate_each_push_one_index_and_sign_every_manifest_and_it() {
    if !common::signing::need_peers() || !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    let reg = common::registry::Distribution::start(None);
    let host = reg.host.clone();
    let db = sb.path("db");
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    assert_success(&sb.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        osv.to_str().unwrap(),
    ]));
    let (key, public, _) = common::signing::lading_keys(&sb, "keys", None);
    sb.write("ctx/hello.txt", "hello\n");
    sb.write(
        "ctx/Dockerfile",
        "FROM scratch\nARG TARGETARCH\nCOPY hello.txt /srv/hello-$TARGETARCH.txt\nUSER 1000\nHEALTHCHECK CMD [\"/srv/probe\"]\n",
    );
    let ctx = sb.path("ctx");
    let lading = |args: &[&str]| {
        let mut cmd = sb.lading(args);
        cmd.args(["--db", db.to_str().unwrap(), "--insecure-registry", &host])
            .args(["--platform", PLATFORMS])
            .env_remove("GITHUB_OUTPUT")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("LADING_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .env("LADING_TODAY", "2026-01-01")
            .arg(&ctx);
        run(&mut cmd)
    };
    // The registry's view of an index: the raw bytes skopeo reads, and their platforms.
    let remote_index = |image: &str| -> (String, Vec<Value>) {
        let out = run(Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{image}")));
        assert_success(&out);
        let index: Value = serde_json::from_slice(&out.stdout).expect("index JSON");
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let entries = index["manifests"].as_array().expect("manifests").clone();
        (common::sha256(&out.stdout), entries)
    };

    // `build --push`: the gates pass for both manifests, then one index goes out.
    let out = lading(&["build", "-q", "--push", "-t", &format!("{host}/org/app:1")]);
    assert_success(&out);
    let digest = common::stdout(&out).trim().to_string();
    let (pushed, entries) = remote_index(&format!("{host}/org/app:1"));
    assert_eq!(
        pushed, digest,
        "the registry holds the index lading printed"
    );
    let platforms: Vec<&Value> = entries.iter().map(|e| &e["platform"]).collect();
    assert_eq!(
        platforms,
        [
            &serde_json::json!({"architecture": "amd64", "os": "linux"}),
            &serde_json::json!({"architecture": "arm64", "os": "linux"})
        ]
    );
    let err = stderr(&out);
    assert_eq!(
        err.matches("gates: sbom, scan, cis, secrets on").count(),
        2,
        "{err}"
    );

    // `lading gate` on the index in the store gates each platform's manifest.
    let out = run(sb
        .lading(&["gate", &format!("{host}/org/app:1"), "--format", "json"])
        .args(["--db", db.to_str().unwrap()])
        .env("LADING_TODAY", "2026-01-01"));
    assert_success(&out);
    let gated: Value = serde_json::from_slice(&out.stdout).expect("gate JSON");
    assert_eq!(gated["index"], digest.as_str());
    assert_eq!(gated["verdict"], "pass");
    let gated: Vec<(&str, &str)> = gated["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap(),
                p["record"]["manifest"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = ["linux/amd64", "linux/arm64"]
        .into_iter()
        .zip(entries.iter().map(|e| e["digest"].as_str().unwrap()))
        .collect();
    assert_eq!(gated, expected);

    // `publish`: the same index (from cache), signed, and every manifest signed and
    // attested; cosign verifies each.
    let out = lading(&[
        "publish",
        "--image",
        &format!("{host}/org/app:2"),
        "--key",
        key.to_str().unwrap(),
        "--tlog-upload=false",
    ]);
    assert_success(&out);
    assert_eq!(
        common::stdout(&out).trim(),
        digest,
        "publish prints the index digest"
    );
    let verify = |command: &str, extra: &[&str], at: &str| {
        let mut args = vec![
            command,
            "--key",
            public.to_str().unwrap(),
            "--insecure-ignore-tlog=true",
            "--allow-http-registry=true",
            "--allow-insecure-registry",
        ];
        args.extend(extra);
        args.push(at);
        common::signing::cosign(&sb, "", &args)
    };
    assert_success(&verify("verify", &[], &format!("{host}/org/app@{digest}")));
    for e in &entries {
        let at = format!("{host}/org/app@{}", e["digest"].as_str().unwrap());
        assert_success(&verify("verify", &[], &at));
        for kind in ["slsaprovenance1", "cyclonedx", "vuln"] {
            assert_success(&verify("verify-attestation", &["--type", kind], &at));
        }
    }
}

/// Platforms for the BuildKit comparison: BuildKit's normalisation differs per family
/// (arm64's `v8` dropped, `linux/arm` → `arm/v7`, no variant elsewhere).
const BUILDKIT_PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm64/v8",
    "linux/arm/v7",
    "linux/arm",
    "linux/arm/v6",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
];

/// A random Dockerfile without RUN steps (so any platform builds without qemu or a
/// base) whose labels and environment show every platform ARG as a stage sees it:
/// global declarations (with and without defaults, and defaults that use other
/// platform ARGs), stage declarations, undeclared names, `${X:-…}`/`${X:+…}`, a
/// helper stage on `$BUILDPLATFORM` or the target, and a final stage `FROM` it.
fn random_label_dockerfile(rng: &mut Rng) -> String {
    let mut df = String::new();
    for a in PLATFORM_ARGS {
        match rng.below(6) {
            0 => df.push_str(&format!("ARG {a}\n")),
            1 => df.push_str(&format!("ARG {a}=default-{a}\n")),
            _ => {}
        }
    }
    if rng.chance(50) {
        df.push_str("ARG MINE=\"$TARGETOS-$TARGETARCH-$BUILDARCH\"\n");
    }
    let helper = rng.chance(50);
    if helper {
        if rng.chance(50) {
            df.push_str("FROM --platform=$BUILDPLATFORM scratch AS helper\n");
        } else {
            df.push_str("FROM scratch AS helper\n");
        }
        df.push_str("ARG TARGETPLATFORM BUILDPLATFORM\n");
        df.push_str("LABEL helper=\"$TARGETPLATFORM on $BUILDPLATFORM\"\n");
    }
    if helper && rng.chance(50) {
        df.push_str("FROM helper\n");
    } else {
        df.push_str("FROM scratch\n");
    }
    let declared: Vec<&str> = PLATFORM_ARGS
        .iter()
        .copied()
        .filter(|_| rng.chance(60))
        .collect();
    if !declared.is_empty() {
        df.push_str(&format!("ARG {}\n", declared.join(" ")));
    }
    if rng.chance(30) {
        df.push_str("ARG MINE\n");
    }
    let mut labels = Vec::new();
    for (i, a) in PLATFORM_ARGS.iter().enumerate() {
        let value = match rng.below(3) {
            0 => format!("[${a}]"),
            1 => format!("[${{{a}:-unset}}]"),
            _ => format!("[${{{a}:+set}}]"),
        };
        labels.push(format!("l{i}=\"{value}\""));
    }
    labels.push("mine=\"[$MINE]\"".into());
    df.push_str(&format!("LABEL {}\n", labels.join(" ")));
    if let Some(a) = declared.first() {
        df.push_str(&format!("ENV FROM_ARG=\"${a}\"\n"));
    }
    df
}

/// The platform fields, labels and environment of a config, as compared.
fn config_view(config: &Value) -> Value {
    let field = |k: &str| config[k].as_str().unwrap_or_default().to_string();
    serde_json::json!({
        "architecture": field("architecture"),
        "os": field("os"),
        "variant": field("variant"),
        "labels": config["config"]["Labels"],
        "env": config["config"]["Env"],
    })
}

#[test]
fn platform_args_and_config_platforms_match_buildkit_for_random_dockerfiles() {
    let Some(dockerd) = common::dockerd::Dockerd::start() else {
        return;
    };
    let seeds: u64 = std::env::var("LADING_PLATFORM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let sb = Sandbox::new();
    for seed in 0..seeds {
        let mut rng = Rng(0x5eed_0000 ^ seed);
        let first = *rng.pick(BUILDKIT_PLATFORMS);
        let mut second = *rng.pick(BUILDKIT_PLATFORMS);
        let norm = |p: &str| {
            lading_oci::Platform::parse(p)
                .unwrap()
                .normalized()
                .to_string()
        };
        while norm(second) == norm(first) {
            second = *rng.pick(BUILDKIT_PLATFORMS);
        }
        let dockerfile = random_label_dockerfile(&mut rng);
        let ctx = sb.path(&format!("labels{seed}"));
        std::fs::create_dir_all(&ctx).expect("mkdir");
        std::fs::write(ctx.join("Dockerfile"), &dockerfile).expect("write");
        let what = format!("seed {seed}, {first},{second}:\n{dockerfile}");
        // BuildKit (Docker 20.10) builds one platform per run into its image store.
        let mut buildkit: Vec<Value> = Vec::new();
        for p in [first, second] {
            let tag = format!("labels:{seed}");
            let built = dockerd.build(&ctx, &["--platform", p, "-t", &tag]);
            if !built.status.success() {
                buildkit.clear();
                break;
            }
            let out = dockerd.docker_ok(&["inspect", &tag]);
            let inspected: Value = serde_json::from_slice(&out.stdout).expect("inspect");
            let i = &inspected[0];
            buildkit.push(config_view(&serde_json::json!({
                "architecture": i["Architecture"],
                "os": i["Os"],
                "variant": i["Variant"],
                "config": {"Labels": i["Config"]["Labels"], "Env": i["Config"]["Env"]},
            })));
        }
        let layout = sb.path(&format!("labels{seed}-oci"));
        let ours = run(sb
            .lading(&["build", "--platform", &format!("{first},{second}")])
            .arg("-o")
            .arg(format!("type=oci,dest={},tar=false", layout.display()))
            .arg(&ctx));
        if buildkit.is_empty() {
            // BuildKit refused the Dockerfile (e.g. `FROM --platform=$BUILDPLATFORM`
            // after a global `ARG BUILDPLATFORM` without a value): so must lading.
            assert!(
                !ours.status.success(),
                "BuildKit failed, lading built: {what}"
            );
            continue;
        }
        assert_success(&ours);
        let index = top_index(&layout);
        let ours: Vec<Value> = index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| {
                let manifest = json_blob(&layout, m["digest"].as_str().unwrap());
                config_view(&json_blob(
                    &layout,
                    manifest["config"]["digest"].as_str().unwrap(),
                ))
            })
            .collect();
        assert_eq!(ours, buildkit, "{what}");
        // The index entries name what the configs say.
        for (m, c) in index["manifests"].as_array().unwrap().iter().zip(&ours) {
            assert_eq!(m["platform"]["architecture"], c["architecture"], "{what}");
            assert_eq!(
                m["platform"]["variant"].as_str().unwrap_or_default(),
                c["variant"],
                "{what}"
            );
        }
    }
}
