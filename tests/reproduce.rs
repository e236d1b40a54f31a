//! `lading reproduce`: an image built from a git checkout and pushed to a registry
//! (docker-registry) is rebuilt from its provenance elsewhere — another path, store and
//! umask — to the same digest (exit 0); each perturbation (a byte of a file, a file
//! mode, a build arg, a newer base image under the same tag, a RUN step writing
//! random bytes) gives exit 1 and names its cause.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::Distribution;
use common::{Sandbox, assert_success, run, stderr, stdout};
use serde_json::Value;

/// Where the provenance says the repository is; tests map it to a local path with
/// git's `url.<base>.insteadOf` (the build only records network remotes).
const REMOTE: &str = "https://git.example.test/app.git";

const DOCKERFILE: &str = "FROM {BASE}\nCOPY app/ /app/\nARG V=0\nRUN cat /app/hello.txt /app/run.sh > /app/both.txt && echo \"$V\" > /app/v.txt\n";

/// A registry with the busybox base pushed as `base:1`, and a sandbox.
struct World {
    sb: Sandbox,
    reg: Distribution,
}

impl World {
    /// `None` (skipping) without root or the busybox base.
    fn new() -> Option<World> {
        if !common::require(common::is_root(), "root (RUN sandbox with overlayfs)")
            || !common::require_tool("docker-registry")
            || !common::require_tool("git")
        {
            return None;
        }
        if let Err(why) = common::bases::bases_available() {
            assert!(!common::on_ci(), "{why}");
            eprintln!("skipping: {why}");
            return None;
        }
        let sb = Sandbox::new();
        let reg = Distribution::start(None);
        let layout = common::bases::busybox_base();
        let src = common::bases::oci_ref(&layout, common::bases::BUSYBOX_TAG);
        let w = World { sb, reg };
        assert_success(&w.sb.run(&["cp", &src, &w.base_ref()]));
        Some(w)
    }

    fn host(&self) -> &str {
        &self.reg.host
    }

    /// `docker://HOST/base:1`.
    fn base_ref(&self) -> String {
        format!("docker://{}/base:1", self.host())
    }

    /// A git repository at `sb/NAME` with the Dockerfile (its `{BASE}` replaced), a
    /// `.dockerignore` leaving `.git` out, `app/hello.txt` and an executable
    /// `app/run.sh`, committed under umask 022 with origin [`REMOTE`].
    fn repo(&self, name: &str, dockerfile: &str) -> PathBuf {
        let dir = self.sb.path(name);
        let df = dockerfile.replace("{BASE}", &format!("{}/base:1", self.host()));
        let script = format!(
            "umask 022 && mkdir -p {d}/app && cd {d} && printf '%s' \"$1\" > Dockerfile \
             && printf '.git\\n' > .dockerignore && printf 'hello\\n' > app/hello.txt \
             && printf '#!/bin/sh\\necho run\\n' > app/run.sh && chmod +x app/run.sh \
             && git init -q && git add -A \
             && git -c user.name=t -c user.email=t@example.test commit -q -m init \
             && git remote add origin {REMOTE}",
            d = common::q(&dir)
        );
        let out = run(Command::new("sh").args(["-c", &script, "sh", &df]));
        assert_success(&out);
        dir
    }

    /// Builds `ctx` (with `extra` flags) as `app:TAG`, pushes it to the registry and
    /// writes its provenance predicate; returns the registry reference and the file.
    fn build_and_push(&self, ctx: &Path, tag: &str, extra: &[&str]) -> (String, PathBuf) {
        let mut args = vec!["-t", tag];
        args.extend(extra);
        let digest = self.sb.build_ok(ctx, &args);
        let remote = format!("docker://{}/app:{}", self.host(), tag.replace(':', "-"));
        assert_success(&self.sb.run(&["cp", tag, &remote]));
        let prov = self
            .sb
            .path(&format!("{}.provenance.json", tag.replace(':', "-")));
        assert_success(&self.sb.run(&[
            "predicate",
            digest.trim(),
            "--type",
            "slsaprovenance1",
            "-o",
            prov.to_str().expect("utf-8"),
        ]));
        (remote, prov)
    }

    /// `lading reproduce IMAGE --provenance PROV --format json EXTRA` from another
    /// directory, with another store, under umask 077; the remote is mapped to `repo`.
    fn reproduce(&self, image: &str, prov: &Path, repo: &Path, extra: &[&str]) -> Output {
        let elsewhere = self.sb.path(&format!("elsewhere-{}", rand_suffix()));
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask 077 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_lading"))
            .arg("--store")
            .arg(elsewhere.join("store"))
            .args([
                "reproduce",
                image,
                "--progress",
                "plain",
                "--format",
                "json",
            ])
            .arg("--provenance")
            .arg(prov)
            .args(extra)
            .current_dir(&elsewhere)
            .env("GIT_CEILING_DIRECTORIES", env!("CARGO_MANIFEST_DIR"))
            .env_remove("SOURCE_DATE_EPOCH");
        map_remote(&mut cmd, repo);
        run(&mut cmd)
    }
}

/// Points [`REMOTE`] at the local repository `repo` for git run by `cmd`.
fn map_remote(cmd: &mut Command, repo: &Path) {
    cmd.env("GIT_CONFIG_COUNT", "1")
        .env(
            "GIT_CONFIG_KEY_0",
            format!("url.{}.insteadOf", repo.display()),
        )
        .env("GIT_CONFIG_VALUE_0", REMOTE);
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn outcome(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| {
        panic!(
            "reproduce printed no JSON ({e}), exit {:?}:\n{}\n{}",
            out.status.code(),
            stdout(out),
            stderr(out)
        )
    })
}

/// The causes' messages, joined.
fn causes(o: &Value) -> String {
    o["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "[{}] {}",
                c["kind"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn expect_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// A copy of `repo` (modes kept) with `change` applied, as a `--context` directory.
fn perturbed_copy(w: &World, repo: &Path, name: &str, change: &str) -> PathBuf {
    let dst = w.sb.path(name);
    let script = format!(
        "cp -a {src} {dst} && cd {dst} && {change}",
        src = common::q(repo),
        dst = common::q(&dst)
    );
    assert_success(&run(Command::new("sh").args(["-c", &script])));
    dst
}

#[test]
fn an_image_built_from_a_git_checkout_is_reproduced_elsewhere() {
    let Some(w) = World::new() else { return };
    let repo = w.repo("repo", DOCKERFILE);
    let (image, prov) = w.build_and_push(&repo, "app:1", &["--build-arg", "V=1"]);
    let p: Value = serde_json::from_slice(&std::fs::read(&prov).unwrap()).unwrap();
    let ext = &p["buildDefinition"]["externalParameters"];
    assert_eq!(
        ext["context"]["git"]["uri"],
        format!("git+{REMOTE}"),
        "{p:#}"
    );
    assert_eq!(ext["contextModes"], "preserve");

    let out = w.reproduce(&image, &prov, &repo, &[]);
    expect_code(&out, 0);
    let o = outcome(&out);
    assert_eq!(o["reproduced"], true);
    assert_eq!(o["rebuilt"], o["digest"]);
    assert_eq!(o["causes"], serde_json::json!([]));
    assert!(
        o["context"]["source"]
            .as_str()
            .unwrap()
            .starts_with(&format!("git+{REMOTE}@")),
        "{o:#}"
    );
    assert_eq!(o["baseImages"][0]["foundIn"], "registry", "{o:#}");

    // The checkout itself as --context reproduces too; and the table says so.
    let mut cmd = w.sb.lading(&["reproduce", &image, "--progress", "quiet"]);
    cmd.arg("--provenance")
        .arg(&prov)
        .arg("--context")
        .arg(&repo);
    let out = run(&mut cmd);
    expect_code(&out, 0);
    assert!(stdout(&out).contains(": reproduced"), "{}", stdout(&out));
}

/// The acceptance path: `lading publish` from the checkout (gates, push, key signature,
/// the provenance attestation), then `lading reproduce` of the pushed image with only the
/// public key — the provenance read from the registry and verified first — from another
/// directory and store, under another umask.
#[test]
fn an_image_published_by_lading_publish_is_reproduced_from_its_attestation() {
    let Some(w) = World::new() else { return };
    if !common::signing::need_peers() {
        return;
    }
    // What the default gates accept: a user of its own (CIS 4.1), a health check (4.6).
    let repo = w.repo(
        "repo",
        "FROM {BASE}\nCOPY app/ /app/\nRUN cat /app/hello.txt > /app/copy.txt\n\
         USER 1000\nHEALTHCHECK CMD [\"/app/run.sh\"]\n",
    );
    let db = w.sb.path("db");
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    assert_success(&w.sb.run(&[
        "db",
        "--db",
        db.to_str().unwrap(),
        "import",
        osv.to_str().unwrap(),
    ]));
    // The busybox stand-in base is not a hardened one: its checks are exempt, the rest of
    // the default policy holds.
    let mut policy = String::new();
    for id in ["4.2", "4.3", "4.8"] {
        policy.push_str(&format!(
            "[[exemption]]\nid = \"{id}\"\nreason = \"busybox test base\"\nexpires = 2099-01-01\n\n"
        ));
    }
    w.sb.write("policy.toml", &policy);
    let (key, public, _) = common::signing::lading_keys(&w.sb, "keys", Some("pw"));
    let image = format!("{}/app:published", w.host());
    let mut cmd = w.sb.lading(&[
        "publish",
        "--progress",
        "plain",
        "--db",
        db.to_str().unwrap(),
        "--image",
        &image,
        "--key",
        key.to_str().unwrap(),
        "--tlog-upload=false",
        "--policy",
        w.sb.path("policy.toml").to_str().unwrap(),
    ]);
    cmd.arg(&repo)
        .current_dir(&repo)
        .env("LADING_PASSWORD", "pw")
        .env("LADING_TODAY", "2026-01-01")
        .env_remove("GITHUB_ACTIONS");
    let out = run(&mut cmd);
    assert_success(&out);
    let digest = stdout(&out).trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest:?}");

    let elsewhere = w.sb.path("published-elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 077 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_lading"))
        .arg("--store")
        .arg(elsewhere.join("store"))
        .args([
            "reproduce",
            &format!("docker://{image}"),
            "--progress",
            "plain",
        ])
        .args(["--format", "json", "--insecure-ignore-tlog"])
        .arg("--key")
        .arg(&public)
        .current_dir(&elsewhere)
        .env("GIT_CEILING_DIRECTORIES", env!("CARGO_MANIFEST_DIR"))
        .env("LADING_TUF_MIRROR", "http://127.0.0.1:9")
        .env_remove("SOURCE_DATE_EPOCH");
    map_remote(&mut cmd, &repo);
    let out = run(&mut cmd);
    expect_code(&out, 0);
    let o = outcome(&out);
    assert_eq!(o["reproduced"], true, "{o:#}");
    assert_eq!(o["digest"], digest, "{o:#}");
    assert_eq!(o["rebuilt"], digest, "{o:#}");
    assert!(
        o["provenance"]
            .as_str()
            .unwrap()
            .contains("verified with the key"),
        "{o:#}"
    );
}

/// Builds and pushes the checkout, then reproduces it with a copy changed by `change` as
/// `--context`: exit 1, and the causes it names.
fn with_perturbed_context(w: &World, name: &str, change: &str) -> String {
    let repo = w.repo("repo", DOCKERFILE);
    let (image, prov) = w.build_and_push(&repo, "app:1", &["--build-arg", "V=1"]);
    let ctx = perturbed_copy(w, &repo, name, change);
    let out = w.reproduce(&image, &prov, &repo, &["--context", ctx.to_str().unwrap()]);
    expect_code(&out, 1);
    causes(&outcome(&out))
}

#[test]
fn one_byte_of_a_context_file_is_named() {
    let Some(w) = World::new() else { return };
    let c = with_perturbed_context(&w, "byte", "printf 'hellO\\n' > app/hello.txt");
    assert!(c.contains("[context]"), "{c}");
    assert!(c.contains("/app/hello.txt (content)"), "{c}");
}

#[test]
fn one_file_mode_is_named() {
    let Some(w) = World::new() else { return };
    let c = with_perturbed_context(&w, "mode", "chmod 0600 app/hello.txt");
    assert!(c.contains("[context]"), "{c}");
    assert!(c.contains("/app/hello.txt (mode 0644 → 0600)"), "{c}");
    assert!(c.contains("only permission bits differ"), "{c}");
}

#[test]
fn a_build_arg_the_provenance_does_not_record_is_named() {
    let Some(w) = World::new() else { return };
    let repo = w.repo("repo", DOCKERFILE);
    let (_, prov) = w.build_and_push(&repo, "app:1", &["--build-arg", "V=1"]);
    // The image was built with V=2, the provenance presented says V=1.
    let (image, _) = w.build_and_push(&repo, "app:2", &["--build-arg", "V=2"]);
    let out = w.reproduce(&image, &prov, &repo, &[]);
    expect_code(&out, 1);
    let c = causes(&outcome(&out));
    assert!(c.contains("[build-arg] build arg V"), "{c}");
    assert!(c.contains("V=2") && c.contains("V=1"), "{c}");
}

#[test]
fn a_newer_base_image_under_the_same_tag_is_named() {
    let Some(w) = World::new() else { return };
    let repo = w.repo("repo", DOCKERFILE);
    let (image, prov) = w.build_and_push(&repo, "app:1", &["--build-arg", "V=1"]);
    let old = common::stdout(&run(Command::new("curl").args([
        "-fsS",
        "-o",
        "/dev/null",
        "-w",
        "%header{docker-content-digest}",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        &format!("http://{}/v2/base/manifests/1", w.host()),
    ])));
    assert!(old.starts_with("sha256:"), "{old:?}");

    // A newer base under the same tag.
    let newer = w.repo("newer", "FROM {BASE}\nRUN echo 2 > /etc/base-version\n");
    w.sb.build_ok(&newer, &["-t", "newbase:1"]);
    assert_success(&w.sb.run(&["cp", "newbase:1", &w.base_ref()]));

    // The recorded digest is still there: rebuilt from it, reproduced, the move noted.
    let out = w.reproduce(&image, &prov, &repo, &[]);
    expect_code(&out, 0);
    let o = outcome(&out);
    let notes = o["notes"].to_string();
    assert!(notes.contains("the tag now names"), "{o:#}");

    // Once the registry no longer has it, the tag's image is used and named.
    let del = run(Command::new("curl").args([
        "-fsS",
        "-X",
        "DELETE",
        &format!("http://{}/v2/base/manifests/{}", w.host(), old.trim()),
    ]));
    assert_success(&del);
    let out = w.reproduce(&image, &prov, &repo, &[]);
    expect_code(&out, 1);
    let c = causes(&outcome(&out));
    assert!(c.contains("[base-image]"), "{c}");
    assert!(c.contains("no longer available"), "{c}");
    assert!(c.contains("the tag now names"), "{c}");
}

#[test]
fn a_run_step_writing_random_bytes_is_named() {
    let Some(w) = World::new() else { return };
    let repo = w.repo(
        "repo",
        "FROM {BASE}\nCOPY app/ /app/\nRUN head -c 16 /dev/urandom | od -An -tx1 > /stamp\n",
    );
    let (image, prov) = w.build_and_push(&repo, "app:1", &[]);
    let out = w.reproduce(&image, &prov, &repo, &[]);
    expect_code(&out, 1);
    let c = causes(&outcome(&out));
    assert!(c.contains("[non-deterministic-run]"), "{c}");
    assert!(c.contains("RUN /bin/sh -c head -c 16 /dev/urandom"), "{c}");
    assert!(c.contains("/stamp (content)"), "{c}");
}

#[test]
fn without_a_context_to_fetch_it_could_not_try() {
    let Some(w) = World::new() else { return };
    // No remote: the provenance names no git checkout.
    let dir = w.sb.path("plain");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {}/base:1\n", w.host()),
    )
    .unwrap();
    let (image, prov) = w.build_and_push(&dir, "plain:1", &[]);
    let out = w.reproduce(&image, &prov, &dir, &[]);
    expect_code(&out, 2);
    assert!(stderr(&out).contains("--context DIR"), "{}", stderr(&out));
}

#[test]
fn the_provenance_attestation_is_read_from_the_registry_and_verified_first() {
    let Some(w) = World::new() else { return };
    let repo = w.repo("repo", DOCKERFILE);
    let (image, _) = w.build_and_push(&repo, "app:1", &["--build-arg", "V=1"]);
    let (key, public, _) = common::signing::lading_keys(&w.sb, "keys", Some("pw"));
    let (_, other_public, _) = common::signing::lading_keys(&w.sb, "other", Some("pw"));
    let out = common::signing::lading(
        &w.sb,
        Some("pw"),
        &[
            "attest",
            "--key",
            key.to_str().unwrap(),
            "--type",
            "slsaprovenance1",
            "--tlog-upload=false",
            &image,
        ],
    );
    assert_success(&out);

    let public = public.to_str().unwrap();
    let verified = |key: &str| {
        let elsewhere = w.sb.path(&format!("attested-{}", rand_suffix()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lading"));
        cmd.arg("--store")
            .arg(elsewhere.join("store"))
            .args([
                "reproduce",
                &image,
                "--progress",
                "quiet",
                "--format",
                "json",
            ])
            .args(["--key", key, "--insecure-ignore-tlog"])
            .env("GIT_CEILING_DIRECTORIES", env!("CARGO_MANIFEST_DIR"))
            .env("LADING_TUF_MIRROR", "http://127.0.0.1:9");
        map_remote(&mut cmd, &repo);
        run(&mut cmd)
    };
    let out = verified(public);
    expect_code(&out, 0);
    let o = outcome(&out);
    assert!(
        o["provenance"]
            .as_str()
            .unwrap()
            .contains("verified with the key"),
        "{o:#}"
    );

    // --attest: the independent-rebuild evidence, signed and attached; cosign (the
    // oracle) verifies it and reads the result.
    if common::signing::need_peers() {
        let elsewhere = w.sb.path("attesting");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lading"));
        cmd.arg("--store")
            .arg(elsewhere.join("store"))
            .args(["reproduce", &image, "--progress", "quiet"])
            .args(["--key", public, "--insecure-ignore-tlog"])
            .args([
                "--attest",
                "--attest-key",
                key.to_str().unwrap(),
                "--tlog-upload=false",
            ])
            .env("LADING_PASSWORD", "pw")
            .env("GIT_CEILING_DIRECTORIES", env!("CARGO_MANIFEST_DIR"))
            .env("LADING_TUF_MIRROR", "http://127.0.0.1:9");
        map_remote(&mut cmd, &repo);
        let out = run(&mut cmd);
        expect_code(&out, 0);
        let verified = common::signing::cosign(
            &w.sb,
            "",
            &[
                "verify-attestation",
                "--key",
                public,
                "--insecure-ignore-tlog=true",
                "--type",
                "https://lading.dev/attestation/reproduced/v1",
                "--new-bundle-format=false",
                "--allow-http-registry",
                "--allow-insecure-registry",
                image.trim_start_matches("docker://"),
            ],
        );
        assert_success(&verified);
        use base64::Engine as _;
        let line = stdout(&verified);
        let envelope: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap();
        let statement: Value = serde_json::from_slice(&payload).unwrap();
        let p = &statement["predicate"];
        assert_eq!(p["result"], "reproduced", "{statement:#}");
        assert_eq!(
            p["image"]["digest"], p["rebuilt"]["digest"],
            "{statement:#}"
        );
        assert_eq!(p["reproducer"]["id"], "https://lading.dev/builder/local");
        assert!(
            p["inputs"]["context"]["uri"]
                .as_str()
                .unwrap()
                .starts_with(&format!("git+{REMOTE}@")),
            "{statement:#}"
        );
    }

    // Signed by someone else: nothing is rebuilt, exit 2.
    let out = verified(other_public.to_str().unwrap());
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("no valid SLSA provenance"),
        "{}",
        stderr(&out)
    );

    // Neither a file nor a key: could not try.
    let out = w.sb.run(&["reproduce", &image]);
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("--provenance FILE"),
        "{}",
        stderr(&out)
    );
}

/// The user `lading-rp` (with subordinate ids 400000:65536), created once: uid and gid.
fn other_user() -> (u32, u32) {
    const NAME: &str = "lading-rp";
    if !run(Command::new("id").arg(NAME)).status.success() {
        let out = run(Command::new("useradd").args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "-K",
            "SUB_UID_COUNT=0",
            "-K",
            "SUB_GID_COUNT=0",
            NAME,
        ]));
        // Another test process may have made it meanwhile.
        assert!(
            out.status.success() || run(Command::new("id").arg(NAME)).status.success(),
            "{}",
            stderr(&out)
        );
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with(&format!("{NAME}:"))) {
            let mut new = text.clone();
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(&format!("{NAME}:400000:65536\n"));
            std::fs::write(file, new).expect("writing subordinate ids");
        }
    }
    let id = |flag: &str| -> u32 {
        stdout(&run(Command::new("id").arg(flag).arg(NAME)))
            .trim()
            .parse()
            .expect("numeric id")
    };
    (id("-u"), id("-g"))
}

#[test]
fn another_user_reproduces_it_rootless() {
    let Some(w) = World::new() else { return };
    if !common::require_tool("setpriv")
        || !common::require_tool("useradd")
        || !common::require_tool("newuidmap")
    {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(w.sb.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let repo = w.repo("repo", DOCKERFILE);
    let (image, prov) = w.build_and_push(&repo, "app:1", &["--build-arg", "V=1"]);
    common::sh(&format!("chmod -R a+rX {}", common::q(w.sb.dir.path())));
    let (uid, gid) = other_user();
    let home = w.sb.path("rp-home");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    // The test's repository belongs to root: git (2.39 reads `safe.directory` only from
    // system and global config) must be told the user may clone it.
    std::fs::write(home.join(".gitconfig"), "[safe]\n\tdirectory = *\n").unwrap();

    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args([
            "--init-groups",
            "--",
            "sh",
            "-c",
            "umask 077 && exec \"$@\"",
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_lading"))
        .arg("--store")
        .arg(home.join("store"))
        .args([
            "reproduce",
            &image,
            "--progress",
            "plain",
            "--format",
            "json",
        ])
        .arg("--provenance")
        .arg(&prov)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", &home)
        .env("TMPDIR", &home)
        .env("LADING_TUF_MIRROR", "http://127.0.0.1:9")
        .env("GIT_CONFIG_COUNT", "2")
        .env(
            "GIT_CONFIG_KEY_0",
            format!("url.{}.insteadOf", repo.display()),
        )
        .env("GIT_CONFIG_VALUE_0", REMOTE)
        .env("GIT_CONFIG_KEY_1", "safe.directory")
        .env("GIT_CONFIG_VALUE_1", "*")
        .current_dir(&home);
    let out = run(&mut cmd);
    expect_code(&out, 0);
    assert_eq!(outcome(&out)["reproduced"], true);
}

/// `python3 -m http.server` on a free port serving `dir`, killed when dropped.
struct Files(std::process::Child, u16);

impl Files {
    fn serve(dir: &Path) -> Files {
        let port = common::registry::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Files(child, port)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_add_url_whose_bytes_changed_is_named() {
    let Some(w) = World::new() else { return };
    if !common::require_tool("python3") {
        return;
    }
    let served = w.sb.path("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("data.txt"), "version 1\n").unwrap();
    let files = Files::serve(&served);
    let url = format!("http://127.0.0.1:{}/data.txt", files.1);
    let repo = w.repo("repo", &format!("FROM {{BASE}}\nADD {url} /data.txt\n"));
    let (image, prov) = w.build_and_push(&repo, "app:1", &[]);
    std::fs::write(served.join("data.txt"), "version 2\n").unwrap();
    let out = w.reproduce(&image, &prov, &repo, &[]);
    expect_code(&out, 1);
    let c = causes(&outcome(&out));
    assert!(
        c.contains(&format!("[add-url] ADD {url}: the bytes changed")),
        "{c}"
    );
    assert!(c.contains("/data.txt (content)"), "{c}");
}
