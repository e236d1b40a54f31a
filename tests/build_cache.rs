//! `lading build --cache-to` / `--cache-from` against a real registry (CNCF
//! distribution, plain and with TLS + htpasswd) and OCI layout directories, on
//! generated (seeded) Dockerfiles and contexts over a busybox base pulled from the
//! registry: a fresh store with the cache runs no RUN step and gives the cold build's
//! digest; one changed file re-runs only the steps after its COPY; a missing, foreign,
//! partial or corrupt cache is a miss with a warning and still gives the right digest.
//!
//! RUN executions are counted from `--progress plain` (a step that ran ends `DONE`, a
//! hit `CACHED`). Seeds: `LADING_CACHE_SEED` (first, default 1), `LADING_CACHE_COUNT`
//! (how many, default 2).

mod common;

use std::path::{Path, PathBuf};

use common::registry::{Distribution, Secured, htpasswd, make_ca};
use common::rng::Rng;
use common::{Sandbox, assert_success, stderr};

/// The busybox layout, or `None` (skipping) when it cannot be made here.
fn busybox() -> Option<PathBuf> {
    if !common::require(common::is_root(), "root (RUN sandbox with overlayfs)")
        || !common::require_tool("docker-registry")
        || !common::require_tool("skopeo")
    {
        return None;
    }
    if let Err(why) = common::bases::bases_available() {
        assert!(!common::on_ci(), "{why}");
        eprintln!("skipping: {why}");
        return None;
    }
    Some(common::bases::busybox_base())
}

/// What one build did, from its plain progress.
#[derive(Debug)]
struct Outcome {
    digest: String,
    /// Labels (`[stage i/n] RUN ...`) of the RUN steps that ran.
    ran: Vec<String>,
    warnings: Vec<String>,
    stderr: String,
}

/// A registry and the flags that reach it.
struct Registry {
    d: Distribution,
    flags: Vec<String>,
}

impl Registry {
    fn plain() -> Registry {
        Registry {
            d: Distribution::start(None),
            flags: Vec::new(),
        }
    }

    fn secured(sb: &Sandbox) -> Registry {
        let (ca, cert, key) = make_ca(sb);
        let users = htpasswd(sb);
        let d = Distribution::start(Some(Secured {
            cert: &cert,
            key: &key,
            htpasswd: &users,
        }));
        let ca_dir = ca.parent().expect("dir").display().to_string();
        Registry {
            d,
            flags: vec![
                "--cert-dir".into(),
                ca_dir,
                "--creds".into(),
                "alice:pw".into(),
            ],
        }
    }

    fn host(&self) -> &str {
        &self.d.host
    }

    /// Pushes the busybox base to `HOST/base:1` and returns that reference.
    fn push_base(&self, sb: &Sandbox, layout: &Path) -> String {
        let dest = format!("{}/base:1", self.host());
        let src = common::bases::oci_ref(layout, common::bases::BUSYBOX_TAG);
        let mut args = vec!["cp", src.as_str()];
        let d = format!("docker://{dest}");
        args.push(&d);
        args.extend(self.flags.iter().map(String::as_str));
        let mut cmd = sb.lading(&args);
        cmd.env("LADING_STORE", sb.path("cp-store"));
        let out = common::run(&mut cmd);
        assert_success(&out);
        dest
    }
}

/// Builds `ctx` into a fresh store `store` (a sandbox path) with `extra` flags.
fn build(sb: &Sandbox, store: &str, ctx: &Path, extra: &[String]) -> Outcome {
    let iid = sb.path(&format!("{store}.iid"));
    let mut cmd = common::lading();
    cmd.arg("--store")
        .arg(sb.path(store))
        .args(["build", "--progress", "plain", "--iidfile"])
        .arg(&iid)
        .args(extra)
        .arg(ctx)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("LADING_STORE");
    let out = common::run(&mut cmd);
    assert_success(&out);
    let err = stderr(&out);
    Outcome {
        digest: std::fs::read_to_string(&iid).expect("iidfile"),
        ran: ran_steps(&err, "RUN "),
        warnings: err
            .lines()
            .filter_map(|l| l.strip_prefix("WARNING: "))
            .map(str::to_string)
            .collect(),
        stderr: err,
    }
}

/// Labels of the steps whose instruction starts with `what` that ran (`#N DONE`, not
/// `#N CACHED`).
fn ran_steps(progress: &str, what: &str) -> Vec<String> {
    let mut labels = std::collections::BTreeMap::new();
    let mut ran = Vec::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((n, tail)) = rest.split_once(' ') else {
            continue;
        };
        if tail.starts_with('[') {
            labels.insert(n.to_string(), tail.to_string());
        } else if tail.starts_with("DONE")
            && let Some(label) = labels.get(n)
            && label
                .split_once("] ")
                .is_some_and(|(_, ins)| ins.starts_with(what))
        {
            ran.push(label.clone());
        }
    }
    ran
}

/// A generated two-stage build: a `deps` stage (its own RUNs and a COPY of `dep/`) and
/// a final stage (WORKDIR, RUNs, a COPY of `src/`, RUNs over it, a COPY --from=deps).
struct Generated {
    ctx: PathBuf,
    /// The `src/` files (context-relative).
    src_files: Vec<String>,
    /// How many RUN steps of the final stage come after `COPY src/`.
    runs_after_src: usize,
    /// All RUN steps.
    runs: usize,
    /// RUN steps of the deps stage.
    deps_runs: usize,
}

fn generate(sb: &Sandbox, name: &str, base: &str, seed: u64) -> Generated {
    let mut r = Rng(seed);
    let ctx = sb.path(name);
    let word = |r: &mut Rng| format!("{:x}", r.next());
    let mut df = format!("FROM {base} AS deps\n");
    let deps_runs = 1 + r.below(2);
    for i in 0..deps_runs {
        df.push_str(&format!("RUN echo {} > /deps{i}.txt\n", word(&mut r)));
    }
    df.push_str("COPY dep/ /dep/\nRUN cat /dep/* | md5sum > /dep.sum\n");
    df.push_str(&format!("\nFROM {base}\nWORKDIR /app\n"));
    // A user a layer adds: a warm build's RUN key reads it from that layer's blob.
    let uid = 1000 + r.below(5000);
    df.push_str(&format!(
        "RUN echo app:x:{uid}:{uid}::/home/app:/bin/sh >> /etc/passwd && echo app:x:{uid}: >> /etc/group && mkdir -p /home/app && chown {uid}:{uid} /home/app\n\
         USER app\nRUN id > /home/app/id && echo \"$HOME\" >> /home/app/id\nUSER root\n"
    ));
    let before = 1 + r.below(3);
    for i in 0..before {
        df.push_str(&format!("RUN echo {} > /app/r{i}\n", word(&mut r)));
    }
    df.push_str("COPY src/ /app/src/\n");
    let after = 1 + r.below(2);
    for i in 0..after {
        df.push_str(&format!(
            "RUN find /app/src -type f | sort | xargs cat | md5sum > /app/sum{i}\n"
        ));
    }
    df.push_str("COPY --from=deps /dep.sum /app/\n");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("Dockerfile"), df).expect("Dockerfile");
    for i in 0..2 {
        sb.write(&format!("{name}/dep/d{i}"), &word(&mut r));
    }
    let mut src_files = Vec::new();
    for i in 0..3 + r.below(5) {
        let rel = if r.chance(30) {
            format!("src/sub/f{i}.txt")
        } else {
            format!("src/f{i}.txt")
        };
        let content: String = (0..1 + r.below(40)).map(|_| word(&mut r) + "\n").collect();
        sb.write(&format!("{name}/{rel}"), &content);
        src_files.push(rel);
    }
    Generated {
        ctx,
        src_files,
        runs_after_src: after,
        runs: deps_runs + 1 + 2 + before + after,
        deps_runs: deps_runs + 1,
    }
}

fn seeds() -> std::ops::Range<u64> {
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = var("LADING_CACHE_SEED", 1);
    first..first + var("LADING_CACHE_COUNT", 2)
}

fn flags(list: &[&str], registry: &Registry) -> Vec<String> {
    list.iter()
        .map(|s| s.to_string())
        .chain(registry.flags.iter().cloned())
        .collect()
}

#[test]
fn registry_cache_on_an_empty_store_runs_nothing_and_one_changed_file_reruns_its_steps() {
    let Some(layout) = busybox() else { return };
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let base = reg.push_base(&sb, &layout);
    for seed in seeds() {
        let g = generate(&sb, &format!("ctx{seed}"), &base, seed);
        let cache = format!("type=registry,ref={}/cache:s{seed}", reg.host());
        let to = format!("--cache-to={cache},mode=max");
        let from = format!("--cache-from={cache}");

        let cold = build(&sb, &format!("cold{seed}"), &g.ctx, &flags(&[&to], &reg));
        assert_eq!(cold.ran.len(), g.runs, "seed {seed}: {}", cold.stderr);
        let warm = build(&sb, &format!("warm{seed}"), &g.ctx, &flags(&[&from], &reg));
        assert_eq!(warm.digest, cold.digest, "seed {seed}: {}", warm.stderr);
        assert!(warm.ran.is_empty(), "seed {seed}: ran {:?}", warm.ran);
        assert!(warm.warnings.is_empty(), "seed {seed}: {:?}", warm.warnings);
        assert!(
            ran_steps(&warm.stderr, "COPY ").is_empty(),
            "seed {seed}: {}",
            warm.stderr
        );
        // Every key was answered without the trees: no layer was unpacked.
        let snapshots = sb.path(&format!("warm{seed}/.lading/snapshots"));
        let unpacked: Vec<_> = std::fs::read_dir(&snapshots)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            unpacked
                .iter()
                .all(|n| !n.to_string_lossy().starts_with("2-")),
            "seed {seed}: unpacked {unpacked:?}"
        );

        // One src file changes: only the steps from its COPY on run again.
        let mut r = Rng(seed ^ 0x5eed);
        let file = r.pick(&g.src_files).clone();
        let path = g.ctx.join(&file);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str(&format!("changed {seed}\n"));
        std::fs::write(&path, text).expect("write");
        let changed = build(
            &sb,
            &format!("changed{seed}"),
            &g.ctx,
            &flags(&[&from], &reg),
        );
        let reference = build(
            &sb,
            &format!("reference{seed}"),
            &g.ctx,
            &["--no-cache".to_string()],
        );
        assert_eq!(changed.digest, reference.digest, "seed {seed} ({file})");
        assert_ne!(changed.digest, cold.digest);
        assert_eq!(
            changed.ran.len(),
            g.runs_after_src,
            "seed {seed}: changing {file} ran {:?}",
            changed.ran
        );
        assert!(
            changed.ran.iter().all(|l| l.contains("find /app/src")),
            "seed {seed}: {:?}",
            changed.ran
        );
        // The deps stage does not read the file: all of it is a hit.
        let copies = ran_steps(&changed.stderr, "COPY ");
        assert!(
            copies.iter().any(|l| l.contains("COPY src/"))
                && copies.iter().all(|l| !l.starts_with("[deps ")),
            "seed {seed}: {copies:?}"
        );
    }
}

#[test]
fn mode_min_exports_only_the_image_steps() {
    let Some(layout) = busybox() else { return };
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let base = reg.push_base(&sb, &layout);
    let g = generate(&sb, "ctx", &base, 7);
    let cache = format!("type=registry,ref={}/cache:min", reg.host());
    let cold = build(
        &sb,
        "cold",
        &g.ctx,
        &flags(&[&format!("--cache-to={cache}")], &reg),
    );
    let warm = build(
        &sb,
        "warm",
        &g.ctx,
        &flags(&[&format!("--cache-from={cache}")], &reg),
    );
    assert_eq!(warm.digest, cold.digest);
    // docker's mode=min: the deps stage is not in the image, so its steps run again;
    // every step of the image's own stage is a hit.
    assert_eq!(warm.ran.len(), g.deps_runs, "{:?}", warm.ran);
    assert!(
        warm.ran.iter().all(|l| l.starts_with("[deps ")),
        "{:?}",
        warm.ran
    );
}

#[test]
fn registry_cache_with_tls_and_credentials_as_lading_cp() {
    let Some(layout) = busybox() else { return };
    if !common::require_tool("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let reg = Registry::secured(&sb);
    let base = reg.push_base(&sb, &layout);
    let g = generate(&sb, "ctx", &base, 11);
    let cache = format!("type=registry,ref={}/team/cache:main", reg.host());
    let cold = build(
        &sb,
        "cold",
        &g.ctx,
        &flags(&[&format!("--cache-to={cache},mode=max")], &reg),
    );
    let warm = build(
        &sb,
        "warm",
        &g.ctx,
        &flags(&[&format!("--cache-from={cache}")], &reg),
    );
    assert_eq!(warm.digest, cold.digest);
    assert!(warm.ran.is_empty(), "{:?}", warm.ran);

    // Without the credentials the cache cannot be read: a miss with a warning, never
    // a failed build. (The `cold` store has the base already: docker's pull policy.)
    let ca_only = reg.flags[..2].to_vec();
    let mut extra = ca_only;
    extra.push(format!("--cache-from={cache}"));
    let anonymous = build(&sb, "cold", &g.ctx, &extra);
    assert_eq!(anonymous.digest, cold.digest);
    assert!(
        anonymous
            .warnings
            .iter()
            .any(|w| w.contains("not imported")),
        "{:?}",
        anonymous.warnings
    );
}

#[test]
fn foreign_partial_and_corrupt_registry_caches_are_misses_with_warnings() {
    let Some(layout) = busybox() else { return };
    let sb = Sandbox::new();
    let reg = Registry::plain();
    let base = reg.push_base(&sb, &layout);
    let g = generate(&sb, "ctx", &base, 23);
    let cache = format!("{}/cache:1", reg.host());
    let cold = build(
        &sb,
        "cold",
        &g.ctx,
        &[format!("--cache-to=type=registry,ref={cache},mode=max")],
    );

    // Another format: an image, a missing tag.
    let foreign = build(
        &sb,
        "foreign",
        &g.ctx,
        &[
            format!("--cache-from={base}"),
            format!("--cache-from={}/nothing:here", reg.host()),
        ],
    );
    assert_eq!(foreign.digest, cold.digest);
    assert_eq!(foreign.ran.len(), g.runs);
    assert_eq!(foreign.warnings.len(), 2, "{:?}", foreign.warnings);
    assert!(
        foreign.warnings[0].contains("not a lading build cache"),
        "{:?}",
        foreign.warnings
    );

    // Partial (a layer gone) and corrupt (a layer's bytes changed): the steps whose
    // layers cannot be had run again; the image is the same.
    let manifest = skopeo_raw(&format!("docker://{cache}"));
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_string())
        .collect();
    assert!(layers.len() >= 2, "{manifest}");
    let mut r = Rng(23);
    let gone = r.below(layers.len());
    let bad = (gone + 1 + r.below(layers.len() - 1)) % layers.len();
    std::fs::remove_file(reg.d.blob_data(&layers[gone])).expect("remove blob");
    let data = reg.d.blob_data(&layers[bad]);
    let mut bytes = std::fs::read(&data).expect("blob");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, bytes).expect("corrupt");
    let damaged = build(&sb, "damaged", &g.ctx, &[format!("--cache-from={cache}")]);
    assert_eq!(damaged.digest, cold.digest, "{}", damaged.stderr);
    assert!(
        damaged
            .warnings
            .iter()
            .any(|w| w.contains(&layers[gone]) || w.contains(&layers[bad])),
        "{:?}",
        damaged.warnings
    );
    assert!(
        !damaged.ran.is_empty() || !ran_steps(&damaged.stderr, "COPY").is_empty(),
        "{}",
        damaged.stderr
    );
    assert!(damaged.ran.len() < g.runs, "the intact records still hit");
}

#[test]
fn local_cache_directories_round_trip_and_damage_is_a_miss() {
    let Some(layout) = busybox() else { return };
    let sb = Sandbox::new();
    let base = common::bases::oci_ref(&layout, common::bases::BUSYBOX_TAG);
    let g = generate(&sb, "ctx", &base, 31);
    let dir = sb.path("cache-dir");
    let cold = build(
        &sb,
        "cold",
        &g.ctx,
        &[format!(
            "--cache-to=type=local,dest={},mode=max",
            dir.display()
        )],
    );
    // An OCI layout other tools read.
    let m = skopeo_raw(&format!("oci:{}:latest", dir.display()));
    assert_eq!(m["artifactType"], "application/vnd.lading.cache.v1+json");
    let from = format!("--cache-from=type=local,src={}", dir.display());
    let warm = build(&sb, "warm", &g.ctx, std::slice::from_ref(&from));
    assert_eq!(warm.digest, cold.digest);
    assert!(warm.ran.is_empty(), "{:?}", warm.ran);

    // Every layer's bytes damaged: each hit is refused, each step runs.
    for l in m["layers"].as_array().expect("layers") {
        let hex = l["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:");
        let p = dir.join("blobs/sha256").join(hex);
        let mut bytes = std::fs::read(&p).expect("blob");
        bytes.push(0);
        std::fs::write(&p, bytes).expect("write");
    }
    let damaged = build(&sb, "damaged", &g.ctx, std::slice::from_ref(&from));
    assert_eq!(damaged.digest, cold.digest);
    assert_eq!(damaged.ran.len(), g.runs, "{}", damaged.stderr);
    assert!(!damaged.warnings.is_empty());

    // Records that do not parse: the whole cache is a miss.
    let config = m["config"]["digest"]
        .as_str()
        .expect("config")
        .trim_start_matches("sha256:")
        .to_string();
    std::fs::write(dir.join("blobs/sha256").join(&config), b"{not json").expect("write");
    let garbled = build(&sb, "garbled", &g.ctx, std::slice::from_ref(&from));
    assert_eq!(garbled.digest, cold.digest);
    assert!(
        garbled.warnings.iter().any(|w| w.contains("not imported")),
        "{:?}",
        garbled.warnings
    );
    std::fs::write(dir.join("index.json"), b"[").expect("write");
    let broken = build(&sb, "broken", &g.ctx, std::slice::from_ref(&from));
    assert_eq!(broken.digest, cold.digest);
    assert_eq!(broken.warnings.len(), 1, "{:?}", broken.warnings);
}

/// A manifest as skopeo reads it (`docker://` over plain HTTP, or `oci:DIR:TAG`).
fn skopeo_raw(place: &str) -> serde_json::Value {
    let out = common::run(
        std::process::Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(place),
    );
    assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("manifest JSON")
}

#[test]
fn no_cache_with_cache_to_still_exports_every_step() {
    let Some(layout) = busybox() else { return };
    let sb = Sandbox::new();
    let base = common::bases::oci_ref(&layout, common::bases::BUSYBOX_TAG);
    let g = generate(&sb, "ctx", &base, 41);
    let dir = sb.path("cache-dir");
    let first = build(&sb, "store", &g.ctx, &[]);
    // docker's way to refresh a shared cache: run everything, export all of it.
    let refresh = build(
        &sb,
        "store",
        &g.ctx,
        &[
            "--no-cache".into(),
            format!("--cache-to=type=local,dest={},mode=max", dir.display()),
        ],
    );
    assert_eq!(refresh.digest, first.digest);
    assert_eq!(refresh.ran.len(), g.runs, "{:?}", refresh.ran);
    let warm = build(
        &sb,
        "fresh",
        &g.ctx,
        &[format!("--cache-from=type=local,src={}", dir.display())],
    );
    assert_eq!(warm.digest, first.digest);
    assert!(warm.ran.is_empty(), "{:?}", warm.ran);
    assert!(
        ran_steps(&warm.stderr, "COPY ").is_empty(),
        "{}",
        warm.stderr
    );
}
