//! `lading build`, `images` and `inspect` as a user drives them: errors and exit
//! codes, context confinement, hostile archives, outputs and docker-compatible flags.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sandbox, assert_success, json_blob, run_with_stdin, stderr, stdout};

/// A sandbox with `ctx/Dockerfile` = `dockerfile` and `ctx/a` = "a\n".
fn with_dockerfile(dockerfile: &str) -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    sb.write("ctx/a", "a\n");
    sb.write("ctx/Dockerfile", dockerfile);
    let ctx = sb.path("ctx");
    (sb, ctx)
}

fn build(sb: &Sandbox, ctx: &Path, extra: &[&str]) -> Output {
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-t", "probe"]);
    cmd.args(extra).arg(ctx);
    common::run(&mut cmd)
}

/// Asserts exit code 2, a message containing each of `needles`, and no tag written.
fn assert_refused(sb: &Sandbox, out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(sb.tags().is_empty(), "a tag was written: {:?}", sb.tags());
}

fn refused(dockerfile: &str, needles: &[&str]) {
    let (sb, ctx) = with_dockerfile(dockerfile);
    let out = build(&sb, &ctx, &[]);
    assert_refused(&sb, &out, needles);
}

/// Builds with `-o type=local` and returns the exported root.
fn build_local(sb: &Sandbox, ctx: &Path, extra: &[&str]) -> PathBuf {
    let root = sb.path("rootfs");
    let mut args = vec![
        "-o".to_string(),
        format!("type=local,dest={}", root.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_success(&build(sb, ctx, &args));
    root
}

fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            found.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
    found.sort();
    found
}

// ---- Dockerfile errors -------------------------------------------------------------

#[test]
fn syntax_error_exits_2_with_location() {
    refused(
        "FROM scratch\nCOPY \"a /\n",
        &["Dockerfile:2:", "matching double-quote"],
    );
}

#[test]
fn missing_arguments_exit_2_with_location() {
    refused(
        "FROM scratch\nCOPY a\n",
        &["Dockerfile:2:1:", "COPY requires"],
    );
}

#[test]
fn unknown_flag_exits_2_with_location() {
    refused(
        "FROM scratch\nCOPY --nope a b\n",
        &["Dockerfile:2:6:", "unknown flag: nope"],
    );
}

#[test]
fn unknown_instruction_exits_2_with_location() {
    refused(
        "FROM scratch\n\nFROBNICATE x\n",
        &["Dockerfile:3:1:", "unknown instruction: FROBNICATE"],
    );
}

#[test]
fn run_without_a_shell_in_the_image_names_the_line_and_the_program() {
    refused(
        "FROM scratch\nCOPY a /a\nRUN true\n",
        &["Dockerfile:3:1:", "/bin/sh", "No such file or directory"],
    );
}

// ---- the build context is a jail ----------------------------------------------------

#[test]
fn copy_parent_path_is_outside_the_context() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY ../secret /\n");
    sb.write("secret", "s\n");
    assert_refused(
        &sb,
        &build(&sb, &ctx, &[]),
        &["Dockerfile:2:1:", "outside the build context"],
    );
}

#[test]
fn copy_absolute_path_is_outside_the_context() {
    refused(
        "FROM scratch\nCOPY /etc/passwd /\n",
        &["Dockerfile:2:1:", "outside the build context"],
    );
}

#[test]
fn copy_through_symlink_leaving_the_context_is_refused() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY link/secret /\n");
    sb.write("outside/secret", "s\n");
    std::os::unix::fs::symlink(sb.path("outside"), ctx.join("link")).unwrap();
    assert_refused(
        &sb,
        &build(&sb, &ctx, &[]),
        &["Dockerfile:2:1:", "outside the build context"],
    );
    // A relative symlink climbing out is refused too.
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY up /\n");
    sb.write("secret", "s\n");
    std::os::unix::fs::symlink("../secret", ctx.join("up")).unwrap();
    assert_refused(&sb, &build(&sb, &ctx, &[]), &["outside the build context"]);
}

// ---- hostile archives ---------------------------------------------------------------

/// Writes `ctx/NAME` as a tar built by Python's `tarfile` from `entries`
/// (`("name", "file")`, `("name", "dir")`, `("name", "sym", target)`, `("name", "hard", target)`).
fn python_tar(sb: &Sandbox, name: &str, entries: &str) {
    let script = format!(
        r#"
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
    for e in {entries}:
        ti = tarfile.TarInfo(e[0])
        ti.mode = 0o644
        if e[1] == "file":
            data = b"evil\n"
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        elif e[1] == "dir":
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
        else:
            ti.type = tarfile.SYMTYPE if e[1] == "sym" else tarfile.LNKTYPE
            ti.linkname = e[2]
            t.addfile(ti)
"#
    );
    if !common::require_tool("python3") {
        panic!("python3 is needed to generate hostile archives");
    }
    let out = common::run(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(sb.path(&format!("ctx/{name}"))),
    );
    assert_success(&out);
}

fn assert_no_evil(root: &Path) {
    let evil: Vec<String> = files_under(root)
        .into_iter()
        .filter(|p| p.ends_with("evil"))
        .collect();
    assert!(evil.is_empty(), "created outside the image: {evil:?}");
}

fn hostile_add(entries: &str, needle: &str) {
    let (sb, ctx) = with_dockerfile("FROM scratch\nADD hostile.tar /out/\n");
    std::fs::create_dir(sb.path("outside")).unwrap();
    python_tar(&sb, "hostile.tar", entries);
    let root = sb.path("rootfs");
    let out = build(
        &sb,
        &ctx,
        &["-o", &format!("type=local,dest={}", root.display())],
    );
    assert_refused(&sb, &out, &["Dockerfile:2:1:", "refusing archive", needle]);
    assert!(!root.exists(), "an output was written");
    assert_no_evil(sb.dir.path());
    assert!(!sb.dir.path().parent().unwrap().join("evil").exists());
}

#[test]
fn add_tar_with_dotdot_entry_is_refused() {
    hostile_add(
        r#"[("ok", "file"), ("../evil", "file")]"#,
        "leaves the destination",
    );
    hostile_add(r#"[("a/../../evil", "file")]"#, "leaves the destination");
}

#[test]
fn add_tar_with_absolute_entry_is_refused() {
    hostile_add(r#"[("/abs/evil", "file")]"#, "absolute path");
}

#[test]
fn add_tar_writing_through_its_own_symlink_is_refused() {
    hostile_add(
        r#"[("link", "sym", "/tmp"), ("link/evil", "file")]"#,
        "below a symlink",
    );
    let tmp_evil = Path::new("/tmp/evil");
    let existed = tmp_evil.exists();
    hostile_add(
        r#"[("link", "sym", "../../.."), ("link/tmp/evil", "file")]"#,
        "below a symlink",
    );
    assert!(existed || !tmp_evil.exists(), "/tmp/evil was created");
}

#[test]
fn add_tar_with_hardlink_out_of_the_archive_is_refused() {
    hostile_add(r#"[("passwd", "hard", "/etc/passwd")]"#, "hard link");
    hostile_add(r#"[("passwd", "hard", "../../etc/passwd")]"#, "hard link");
}

#[test]
fn add_tar_with_entry_below_a_regular_file_is_refused() {
    hostile_add(r#"[("f", "file"), ("f/evil", "file")]"#, "below a file");
}

#[test]
fn add_tar_benign_archive_is_extracted() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nADD good.tar /out/\n");
    python_tar(
        &sb,
        "good.tar",
        r#"[("d", "dir"), ("d/f", "file"), ("d/l", "sym", "f"), ("d/h", "hard", "d/f")]"#,
    );
    let root = build_local(&sb, &ctx, &[]);
    assert_eq!(
        std::fs::read_to_string(root.join("out/d/f")).unwrap(),
        "evil\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("out/d/l")).unwrap(),
        Path::new("f")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("out/d/h")).unwrap(),
        "evil\n"
    );
}

// ---- outputs and metadata -----------------------------------------------------------

#[test]
fn metadata_file_has_buildx_keys() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY a /a\n");
    let meta = sb.path("meta.json");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-t", "app:1"]);
    cmd.arg("--metadata-file").arg(&meta).arg(&ctx);
    assert_success(&common::run(&mut cmd));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let digest = m["containerimage.digest"]
        .as_str()
        .expect("containerimage.digest");
    assert!(digest.starts_with("sha256:") && digest.len() == 71);
    let manifest_bytes = common::blob(&sb.store(), digest);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(
        m["containerimage.config.digest"],
        manifest["config"]["digest"]
    );
    let d = &m["containerimage.descriptor"];
    assert_eq!(d["digest"], digest);
    assert_eq!(d["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(d["size"], manifest_bytes.len() as u64);
    assert_eq!(m["image.name"], "app:1");
    // How context files got their modes is a build parameter, recorded here only.
    assert_eq!(m["lading.context-modes"], "preserve");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "--context-modes=normalize"]);
    cmd.arg("--metadata-file").arg(&meta).arg(&ctx);
    assert_success(&common::run(&mut cmd));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["lading.context-modes"], "normalize");
    let config = common::blob(
        &sb.store(),
        m["containerimage.config.digest"].as_str().unwrap(),
    );
    assert!(
        !String::from_utf8_lossy(&config).contains("context-modes"),
        "the mode must not reach the image config"
    );
}

#[test]
fn quiet_prints_exactly_the_digest() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY a /a\n");
    let iid = sb.path("iid");
    let mut cmd = sb.lading(&["build", "-q", "--iidfile"]);
    cmd.arg(&iid).arg(&ctx);
    let out = common::run(&mut cmd);
    assert_success(&out);
    let digest = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(stdout(&out), format!("{digest}\n"));
    assert_eq!(stderr(&out), "", "-q must not print progress");
}

#[test]
fn iidfile_holds_the_manifest_digest() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY a /a\n");
    let digest = sb.build_ok(&ctx, &["-t", "app"]);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest:?}"
    );
    let manifest = common::blob(&sb.store(), &digest);
    assert_eq!(common::sha256(&manifest), digest);
}

#[test]
fn images_lists_the_tag() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY a /a\n");
    let digest = sb.build_ok(&ctx, &["-t", "app:v1"]);
    let out = sb.run(&["images"]);
    assert_success(&out);
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("app:v1"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no app:v1 in:\n{}", stdout(&out)));
    assert!(line.contains(&digest[..19]), "{line}");
    let out = sb.run(&["images", "--no-trunc"]);
    assert!(stdout(&out).contains(&digest));
}

#[test]
fn inspect_prints_manifest_and_config() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY a /a\nCMD [\"/a\"]\n");
    let digest = sb.build_ok(&ctx, &["-t", "app"]);
    for reference in ["app", "app:latest", digest.as_str()] {
        let out = sb.run(&["inspect", reference]);
        assert_success(&out);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("inspect JSON");
        assert_eq!(
            v["manifest"],
            json_blob(&sb.store(), &digest),
            "{reference}"
        );
        assert_eq!(v["config"]["config"]["Cmd"][0], "/a");
        assert_eq!(v["descriptor"]["digest"], digest.as_str());
    }
}

#[test]
fn dockerfile_from_stdin() {
    let sb = Sandbox::new();
    sb.write("ctx/a", "a\n");
    let iid = sb.path("iid");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-f", "-", "--iidfile"]);
    cmd.arg(&iid).arg(sb.path("ctx"));
    let out = run_with_stdin(&mut cmd, "FROM scratch\nCOPY a /from-stdin\n");
    assert_success(&out);
    let digest = std::fs::read_to_string(iid).unwrap();
    let manifest = json_blob(&sb.store(), &digest);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    // Errors in a Dockerfile from stdin still point at it.
    let out = run_with_stdin(
        &mut sb.lading(&["build", "-f", "-", &sb.path("ctx").display().to_string()]),
        "FROM scratch\nNOPE x\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Dockerfile:2:1:"), "{}", stderr(&out));
}

#[test]
fn target_builds_only_the_needed_stages() {
    let df = "\
FROM scratch AS broken
COPY does-not-exist /

FROM scratch AS base
COPY a /base-a

FROM scratch AS wanted
COPY --from=base /base-a /a

FROM broken
";
    let (sb, ctx) = with_dockerfile(df);
    let root = build_local(&sb, &ctx, &["--target", "wanted"]);
    assert_eq!(files_under(&root), vec!["a"]);
    // Without --target the last stage needs the broken one.
    let sb2 = Sandbox::new();
    let out = build(&sb2, &ctx, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("does-not-exist"), "{}", stderr(&out));
    // An unknown target is an error.
    let out = build(&sb2, &ctx, &["--target", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn copy_from_the_same_stage_twice_with_symlinks() {
    // The second COPY --from used to unpack the stage again over its first unpacking
    // and fail on the symlinks already there ("creating symlink ...: File exists").
    let df = "\
FROM scratch AS s
COPY . /d/

FROM scratch
COPY --from=s /d/a /a
COPY --from=s /d/link /link
COPY --from=s /d/ /all/
";
    let (sb, ctx) = with_dockerfile(df);
    std::os::unix::fs::symlink("a", ctx.join("link")).unwrap();
    let root = build_local(&sb, &ctx, &[]);
    assert_eq!(
        std::fs::read_link(root.join("all/link")).unwrap(),
        Path::new("a")
    );
    // A symlink named as the source is followed (as in BuildKit).
    assert_eq!(std::fs::read_to_string(root.join("link")).unwrap(), "a\n");
    assert_eq!(
        files_under(&root),
        vec!["a", "all", "all/Dockerfile", "all/a", "all/link", "link"]
    );
}

#[test]
fn copy_from_a_stage_is_cached_by_its_inputs() {
    let df = "\
FROM scratch AS s
COPY a /src/a

FROM scratch AS dest
COPY Dockerfile /etc/marker

FROM dest
COPY --from=s /src/ /copied/
";
    let (sb, ctx) = with_dockerfile(df);
    let iid = |sb: &Sandbox| std::fs::read_to_string(sb.path("iid")).unwrap();
    let iid_arg = sb.path("iid").display().to_string();
    assert_success(&build(&sb, &ctx, &["--iidfile", &iid_arg]));
    let first = iid(&sb);
    let records = || {
        std::fs::read_dir(sb.store().join(".lading/cache/copy"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(records(), 1, "one input-keyed record for the COPY --from");
    // Unchanged: the same image, from the record.
    assert_success(&build(&sb, &ctx, &["--iidfile", &iid_arg]));
    assert_eq!(iid(&sb), first);
    assert_eq!(records(), 1);
    // A changed source stage is a miss, and its new content is copied.
    sb.write("ctx/a", "changed\n");
    let root = build_local(&sb, &ctx, &[]);
    assert_eq!(
        std::fs::read_to_string(root.join("copied/a")).unwrap(),
        "changed\n"
    );
    assert_eq!(records(), 2);
    // So is a changed destination (the Dockerfile is in the dest stage's layer).
    sb.write("ctx/Dockerfile", &format!("{df}# changed\n"));
    let root = build_local(&sb, &ctx, &[]);
    assert!(root.join("etc/marker").is_file());
    assert_eq!(records(), 3);
    // --no-cache neither reads nor writes records.
    sb.write("ctx/a", "again\n");
    let root = build_local(&sb, &ctx, &["--no-cache"]);
    assert_eq!(
        std::fs::read_to_string(root.join("copied/a")).unwrap(),
        "again\n"
    );
    assert_eq!(records(), 3);
}

#[test]
fn dockerignore_at_context_root_applies() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY . /c/\n");
    sb.write("ctx/b", "b\n");
    sb.write("ctx/.dockerignore", "a\n");
    let root = build_local(&sb, &ctx, &[]);
    assert_eq!(
        files_under(&root.join("c")),
        vec![".dockerignore", "Dockerfile", "b"]
    );
}

#[test]
fn dockerfile_specific_dockerignore_wins() {
    let sb = Sandbox::new();
    sb.write("ctx/a", "a\n");
    sb.write("ctx/b", "b\n");
    sb.write("ctx/.dockerignore", "a\n");
    sb.write("ctx/build/app.Dockerfile", "FROM scratch\nCOPY . /c/\n");
    sb.write("ctx/build/app.Dockerfile.dockerignore", "b\nbuild\n");
    let ctx = sb.path("ctx");
    let df = ctx.join("build/app.Dockerfile");
    let root = build_local(&sb, &ctx, &["-f", df.to_str().unwrap()]);
    assert_eq!(files_under(&root.join("c")), vec![".dockerignore", "a"]);
}

#[test]
fn named_build_context_for_copy_from() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY --from=extra data.txt /data.txt\n");
    sb.write("extra/data.txt", "extra\n");
    let arg = format!("extra={}", sb.path("extra").display());
    let root = build_local(&sb, &ctx, &["--build-context", &arg]);
    assert_eq!(
        std::fs::read_to_string(root.join("data.txt")).unwrap(),
        "extra\n"
    );
    // Named contexts are jails too.
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY --from=extra ../a /a\n");
    std::fs::create_dir(sb.path("extra")).unwrap();
    let arg = format!("extra={}", sb.path("extra").display());
    let out = build(&sb, &ctx, &["--build-context", &arg]);
    assert_refused(&sb, &out, &["outside the build context"]);
}

#[test]
fn labels_annotations_and_build_args() {
    let (sb, ctx) =
        with_dockerfile("FROM scratch\nARG GREETING=hi\nLABEL greeting=$GREETING\nCOPY a /a\n");
    let iid = sb.path("iid");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "--iidfile"]);
    cmd.arg(&iid).args([
        "--label",
        "org.example.team=core",
        "--annotation",
        "org.example.note=yes",
        "--build-arg",
        "GREETING=hello",
        "--build-arg",
        "NOT_USED=1",
    ]);
    let out = common::run(cmd.arg(&ctx));
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("WARNING") && err.contains("NOT_USED"),
        "no unused build-arg warning:\n{err}"
    );
    assert!(!err.contains("GREETING\""), "GREETING was used:\n{err}");
    let digest = std::fs::read_to_string(iid).unwrap();
    let manifest = json_blob(&sb.store(), &digest);
    assert_eq!(manifest["annotations"]["org.example.note"], "yes");
    let config = json_blob(&sb.store(), manifest["config"]["digest"].as_str().unwrap());
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.example.team"], "core");
    assert_eq!(labels["greeting"], "hello");
    assert!(config["config"]["Labels"].get("org.example.note").is_none());
}

#[test]
fn missing_context_and_bad_flags_exit_2() {
    let sb = Sandbox::new();
    let out = sb.run(&["build", &sb.path("nope").display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = sb.run(&["build", "--label", "novalue", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A git checkout's revision and remote become annotations; credentials in the remote
/// and remotes that are only a path on this machine never reach the image.
#[test]
fn git_context_annotations_drop_credentials_and_local_paths() {
    let (sb, ctx) = with_dockerfile("FROM scratch\nCOPY a /a\n");
    let git = |args: &[&str]| {
        let out = common::run(
            Command::new("git")
                .arg("-C")
                .arg(&ctx)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args),
        );
        assert_success(&out);
        stdout(&out).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    let head = git(&["rev-parse", "HEAD"]);
    let annotations = |sb: &Sandbox| {
        let digest = sb.build_ok(&ctx, &[]);
        json_blob(&sb.store(), &digest)["annotations"].clone()
    };

    git(&[
        "remote",
        "add",
        "origin",
        "https://ci:ghp_secret@github.com/o/r.git",
    ]);
    let a = annotations(&sb);
    assert_eq!(
        a["org.opencontainers.image.source"],
        "https://github.com/o/r.git"
    );
    assert_eq!(a["org.opencontainers.image.revision"], head.as_str());

    git(&[
        "remote",
        "set-url",
        "origin",
        &sb.path("upstream").display().to_string(),
    ]);
    let a = annotations(&sb);
    assert!(a.get("org.opencontainers.image.source").is_none(), "{a}");
    assert!(a.get("org.opencontainers.image.revision").is_none(), "{a}");
}
