//! `lading prune` and `lading df` against real builds: a prune running in a loop never
//! takes a blob, snapshot or cache mount from a build running at the same time; SIGKILL
//! of builds and prunes at seeded random points leaves a store that verifies and
//! rebuilds to the same digests; and what killed builds leave behind is reclaimed by the
//! next build's start. Inputs are seeded random Dockerfiles and contexts
//! (`LADING_TEST_SEED` picks another seed); skopeo reads the images back.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::Sandbox;
use common::rng::Rng;
use lading_oci::Store;

/// `FROM` reference of the busybox base, or `None` (skipping) when it cannot be made.
fn base() -> Option<String> {
    if !common::require(common::is_root(), "root (RUN sandbox with overlayfs)") {
        return None;
    }
    if let Err(why) = common::bases::bases_available() {
        assert!(!common::on_ci(), "{why}");
        eprintln!("skipping: {why}");
        return None;
    }
    let layout = common::bases::busybox_base();
    Some(common::bases::oci_ref(&layout, common::bases::BUSYBOX_TAG))
}

fn seed() -> u64 {
    std::env::var("LADING_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(13)
}

/// A seeded random context: a few files of random bytes and a Dockerfile of COPY, RUN
/// (with and without a cache mount), WORKDIR and sometimes a second stage.
fn generate(sb: &Sandbox, base: &str, seed: u64, i: usize) -> PathBuf {
    let mut rng = Rng(seed.wrapping_mul(1000).wrapping_add(i as u64));
    let dir = sb.path(&format!("ctx{i}"));
    fs::create_dir_all(&dir).unwrap();
    let files = 1 + rng.below(3);
    for k in 0..files {
        let size = 1 + rng.below(2 << 20);
        let bytes: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
        fs::write(dir.join(format!("f{k}")), bytes).unwrap();
    }
    let staged = rng.chance(50);
    let mut df = String::new();
    if staged {
        df += &format!(
            "FROM {base} AS pre\nRUN mkdir -p /out && echo {} > /out/s\n",
            rng.next()
        );
    }
    df += &format!("FROM {base}\n");
    for j in 0..3 + rng.below(4) {
        let r = rng.next();
        match rng.below(6) {
            0 => df += &format!("COPY f{} /c{j}/\n", rng.below(files)),
            1 => df += &format!("RUN echo {r} > /r{j} && mkdir -p /d{j}/e\n"),
            2 => {
                df += &format!(
                    "RUN --mount=type=cache,target=/cache,id=m{} echo {r} >> /cache/log && echo {r} > /m{j}\n",
                    r % 3
                )
            }
            3 => df += &format!("WORKDIR /w{j}\n"),
            4 => {
                df += &format!(
                    "RUN awk 'BEGIN {{ for (i = 0; i < {}; i++) print \"{r}\" }}' > /y{j}\n",
                    rng.below(100_000)
                )
            }
            _ if staged => df += &format!("COPY --from=pre /out/s /s{j}\n"),
            _ => df += &format!("RUN rm -rf /etc/motd && echo {r} > /etc/motd{j}\n"),
        }
    }
    fs::write(dir.join("Dockerfile"), df).unwrap();
    dir
}

fn build_cmd(sb: &Sandbox, ctx: &Path, tag: &str, iid: &Path) -> Command {
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-t", tag]);
    cmd.arg("--iidfile").arg(iid).arg(ctx);
    cmd
}

/// Builds and returns the manifest digest; panics with the output on failure.
fn build(sb: &Sandbox, ctx: &Path, tag: &str) -> String {
    let iid = sb.path(&format!("iid-{}", common::unique()));
    let out = common::run(&mut build_cmd(sb, ctx, tag, &iid));
    common::assert_success(&out);
    fs::read_to_string(&iid).unwrap()
}

/// The store verifies: every blob hashes to its name, everything index.json names is there.
fn assert_store_valid(sb: &Sandbox) {
    let problems = Store::open(sb.store()).unwrap().check().unwrap();
    assert!(problems.is_empty(), "store problems: {problems:#?}");
}

/// skopeo copies the image out of an OCI export (verifying every digest on the way).
fn assert_skopeo_reads(sb: &Sandbox, tag: &str) {
    let layout = sb.path(&format!("export-{}", common::unique()));
    common::assert_success(&sb.run(&["cp", tag, &format!("oci:{}:x", layout.display())]));
    let dest = sb.path(&format!("skopeo-{}", common::unique()));
    let out = common::run(Command::new("skopeo").args([
        "copy",
        &format!("oci:{}:x", layout.display()),
        &format!("dir:{}", dest.display()),
    ]));
    common::assert_success(&out);
    let _ = fs::remove_dir_all(layout);
    let _ = fs::remove_dir_all(dest);
}

/// Nothing a dead process left: no temp names, no lease files, an empty ingest dir.
fn assert_no_orphans(sb: &Sandbox) {
    let private = sb.store().join(".lading");
    let mut stack = vec![private.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = e.path();
            let rel = rel.strip_prefix(&private).unwrap();
            assert!(
                !name.starts_with(".tmp-") && !name.starts_with("build-"),
                "orphan left: {}",
                rel.display()
            );
            // Snapshots' and cache mounts' trees are content, not temp files.
            if e.file_type().unwrap().is_dir()
                && !rel.starts_with("snapshots")
                && !rel.starts_with("cache/mounts")
            {
                stack.push(e.path());
            }
        }
    }
    // This test process's own lease (it opened the store to check it) is live.
    let own = lading_oci::lease::process_id();
    let leases: Vec<_> = fs::read_dir(private.join("leases"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_str() != Some(own))
                .collect()
        })
        .unwrap_or_default();
    assert!(leases.is_empty(), "lease files left: {leases:?}");
    let ingest: Vec<_> = fs::read_dir(private.join("ingest"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(ingest.is_empty(), "ingest not empty: {ingest:?}");
}

/// Sets the flag when dropped, so a failing thread still ends the loop it would stop.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn prune_in_a_loop_never_breaks_concurrent_builds() {
    let Some(base) = base() else { return };
    if !common::require_tool("skopeo") {
        return;
    }
    let seed = seed();
    let golden_sb = Sandbox::new();
    let contexts: Vec<PathBuf> = (0..4)
        .map(|i| generate(&golden_sb, &base, seed, i))
        .collect();
    let golden: Vec<String> = contexts
        .iter()
        .enumerate()
        .map(|(i, c)| build(&golden_sb, c, &format!("g{i}:1")))
        .collect();

    let sb = Sandbox::new();
    let done = AtomicBool::new(false);
    let prunes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let pruner = s.spawn(|| {
            let mut rng = Rng(seed ^ 0x5eed);
            while !done.load(Ordering::SeqCst) {
                let args: &[&str] = match rng.below(4) {
                    0 => &["prune", "-f"],
                    1 => &["prune", "-a", "-f"],
                    2 => &["prune", "-f", "--keep-storage", "1MB"],
                    _ => &["df", "-v"],
                };
                common::assert_success(&sb.run(args));
                prunes.fetch_add(1, Ordering::SeqCst);
            }
        });
        let _stop = StopOnDrop(&done);
        let builders: Vec<_> = (0..2)
            .map(|t| {
                let (sb, contexts, golden) = (&sb, &contexts, &golden);
                s.spawn(move || {
                    for round in 0..2 {
                        for k in 0..contexts.len() {
                            let i = (k + t) % contexts.len();
                            let digest = build(sb, &contexts[i], &format!("p{i}:1"));
                            assert_eq!(
                                digest, golden[i],
                                "context {i} (seed {seed}, builder {t}, round {round}) built another digest under prune"
                            );
                        }
                    }
                })
            })
            .collect();
        for b in builders {
            b.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        pruner.join().unwrap();
    });
    eprintln!(
        "{} prunes ran during the builds",
        prunes.load(Ordering::SeqCst)
    );
    assert_store_valid(&sb);
    for i in 0..contexts.len() {
        assert_skopeo_reads(&sb, &format!("p{i}:1"));
    }
    // Everything cache goes; the images stay whole and rebuild to the same digests.
    common::assert_success(&sb.run(&["prune", "-a", "-f"]));
    assert_store_valid(&sb);
    for (i, c) in contexts.iter().enumerate() {
        assert_eq!(build(&sb, c, &format!("p{i}:1")), golden[i]);
    }
    assert_no_orphans(&sb);
}

#[test]
fn sigkill_of_builds_and_prunes_leaves_a_valid_store() {
    let Some(base) = base() else { return };
    let seed = seed();
    let sb = Sandbox::new();
    let contexts: Vec<PathBuf> = (0..3).map(|i| generate(&sb, &base, seed, i)).collect();
    let golden_sb = Sandbox::new();
    let golden: Vec<String> = contexts
        .iter()
        .enumerate()
        .map(|(i, c)| build(&golden_sb, c, &format!("g{i}:1")))
        .collect();
    let mut rng = Rng(seed ^ 0x0dead);
    for round in 0..8 {
        let i = rng.below(contexts.len());
        let iid = sb.path(&format!("iid-kill-{round}"));
        let mut b = build_cmd(&sb, &contexts[i], &format!("k{i}:1"), &iid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut p = sb
            .lading(&["prune", "-a", "-f"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Seeded kill points (delays, not assertions about time).
        std::thread::sleep(Duration::from_millis(rng.below(2500) as u64));
        kill9(&mut b);
        std::thread::sleep(Duration::from_millis(rng.below(300) as u64));
        kill9(&mut p);
        // A build that finished before its kill built the golden digest.
        if let Ok(d) = fs::read_to_string(&iid) {
            assert_eq!(d, golden[i], "round {round}");
        }
        assert_store_valid(&sb);
    }
    for (i, c) in contexts.iter().enumerate() {
        assert_eq!(build(&sb, c, &format!("k{i}:1")), golden[i], "seed {seed}");
    }
    assert_store_valid(&sb);
    common::assert_success(&sb.run(&["prune", "-a", "-f"]));
    assert_store_valid(&sb);
    assert_no_orphans(&sb);
}

/// The measured problem: builds of a big context killed mid-way left hundreds of MB in
/// `.lading/ingest` and empty `build-*` dirs that nothing removed.
#[test]
fn killed_builds_of_a_big_context_leave_nothing_after_the_next_build() {
    let Some(base) = base() else { return };
    let mb: usize = std::env::var("LADING_TEST_BIG_CONTEXT_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let sb = Sandbox::new();
    let big = sb.path("big");
    fs::create_dir_all(&big).unwrap();
    let mut rng = Rng(seed() ^ 0xb16);
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(fs::File::create(big.join("data")).unwrap());
        for _ in 0..(mb << 17) {
            f.write_all(&rng.next().to_le_bytes()).unwrap();
        }
        f.flush().unwrap();
    }
    fs::write(
        big.join("Dockerfile"),
        format!("FROM {base}\nCOPY data /data\n"),
    )
    .unwrap();
    let mut left = 0u64;
    for round in 0..3 {
        let mut b = build_cmd(&sb, &big, "big:1", &sb.path(&format!("iid-{round}")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500 + rng.below(4000) as u64));
        kill9(&mut b);
        left = left.max(dir_size(&sb.store().join(".lading/ingest")));
    }
    eprintln!("killed builds left up to {left} bytes in ingest");
    let small = sb.path("small");
    fs::create_dir_all(&small).unwrap();
    fs::write(
        small.join("Dockerfile"),
        format!("FROM {base}\nRUN echo ok > /ok\n"),
    )
    .unwrap();
    build(&sb, &small, "small:1");
    assert_no_orphans(&sb);
    let df = common::stdout(&sb.run(&["df"]));
    let orphans = df.lines().find(|l| l.starts_with("Orphans")).unwrap();
    assert!(
        orphans.split_whitespace().nth(1) == Some("0"),
        "df after the build: {df}"
    );
    assert_store_valid(&sb);
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// docker's habits: the question, `y` to go on, anything else (end of input too, as in
/// a script without `-f`) cancels with exit code 1 and removes nothing; `df` counts what
/// prune would free; `--filter` takes only `until`.
#[test]
fn prune_asks_like_docker_and_df_counts_what_it_frees() {
    let sb = Sandbox::new();
    let store = Store::open(sb.store()).unwrap().unleased();
    let stray = store.put_bytes(b"stray", "x").unwrap().digest;
    let df = common::stdout(&sb.run(&["df"]));
    assert!(df.starts_with("TYPE"), "{df}");
    let row = df
        .lines()
        .find(|l| l.starts_with("Unreferenced blobs"))
        .unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[2..],
        ["1", "0", "5B", "5B", "(100%)"],
        "{df}"
    );
    let out = sb.run(&["prune"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(common::stdout(&out).contains("Are you sure you want to continue? [y/N]"));
    assert!(common::stderr(&out).contains("cancelled"));
    assert!(store.blob_path(&stray).exists());
    let out = common::run_with_stdin(&mut sb.lading(&["prune"]), "n\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(store.blob_path(&stray).exists());
    let out = common::run_with_stdin(&mut sb.lading(&["prune"]), "y\n");
    common::assert_success(&out);
    let text = common::stdout(&out);
    assert!(
        text.contains(&format!("blobs/sha256/{}", stray.hex())),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("Total reclaimed space: 5B"),
        "{text}"
    );
    assert!(!store.blob_path(&stray).exists());
    let out = sb.run(&["prune", "-f", "--filter", "label=x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("until"));
    common::assert_success(&sb.run(&[
        "prune",
        "-f",
        "--filter",
        "until=1h",
        "--keep-storage",
        "1GB",
    ]));
}
