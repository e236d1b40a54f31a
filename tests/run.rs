//! RUN end to end on a real busybox base: mounts, secrets, leaks, cache, errors,
//! network, reproducibility, hostile bases. Every test runs the `lading` binary.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;

use common::Sandbox;
use serde_json::Value;

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

/// A context with `Dockerfile` (with `{BASE}` replaced) and extra files.
fn context(
    sb: &Sandbox,
    dockerfile: &str,
    base: &str,
    files: &[(&str, &str)],
) -> std::path::PathBuf {
    sb.write("ctx/Dockerfile", &dockerfile.replace("{BASE}", base));
    for (p, c) in files {
        sb.write(&format!("ctx/{p}"), c);
    }
    sb.path("ctx")
}

/// The manifest of `digest` in the sandbox's store.
fn manifest(sb: &Sandbox, digest: &str) -> Value {
    common::json_blob(&sb.store(), digest.trim())
}

/// The entry names of a layer blob (gzip tar) in the store.
fn layer_entries(sb: &Sandbox, digest: &str) -> Vec<String> {
    let bytes = common::blob(&sb.store(), digest);
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Layers of an image, bottom first.
fn layers(sb: &Sandbox, digest: &str) -> Vec<String> {
    manifest(sb, digest)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// The content of `path` in the image (searching layers top-down, no whiteouts).
fn file_in_image(sb: &Sandbox, digest: &str, path: &str) -> Option<String> {
    for l in layers(sb, digest).iter().rev() {
        let bytes = common::blob(&sb.store(), l);
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == path {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                return Some(s);
            }
        }
    }
    None
}

fn build(sb: &Sandbox, ctx: &Path, extra: &[&str]) -> (String, String) {
    let iid = sb.path("iid");
    let mut cmd = sb.lading(&["build", "--progress", "plain"]);
    cmd.arg("--iidfile").arg(&iid).args(extra).arg(ctx);
    let out = common::run(&mut cmd);
    common::assert_success(&out);
    (fs::read_to_string(&iid).unwrap(), common::stderr(&out))
}

fn build_fails(sb: &Sandbox, ctx: &Path, extra: &[&str]) -> String {
    let mut cmd = sb.lading(&["build", "--progress", "plain"]);
    cmd.args(extra).arg(ctx);
    let out = common::run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    common::stderr(&out)
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_file()
            && let Ok(bytes) = fs::read(e.path())
        {
            let mut found = bytes.windows(needle.len()).any(|w| w == needle);
            // Also look inside compressed layers.
            if !found && bytes.starts_with(&[0x1f, 0x8b]) {
                let mut plain = Vec::new();
                if flate2::read::MultiGzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .is_ok()
                {
                    found = plain.windows(needle.len()).any(|w| w == needle);
                }
            }
            if found {
                hits.push(e.path().display().to_string());
            }
        }
    }
    hits
}

#[test]
fn secrets_reach_no_layer_config_history_log_or_store() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    const SECRET: &str = "tok-7f3a9c1e55d2b8a4-do-not-leak";
    let ctx = context(
        &sb,
        "FROM {BASE}\n\
         RUN --mount=type=secret,id=tok sha256sum < /run/secrets/tok > /tok.sha\n\
         RUN --mount=type=secret,id=tok,target=/etc/app/key,mode=0440,uid=1000 cat /etc/app/key && stat -c '%a %u' /etc/app/key\n\
         RUN --mount=type=secret,id=tok,env=APP_TOKEN test -n \"$APP_TOKEN\" && echo \"token is $APP_TOKEN\"\n",
        &base,
        &[],
    );
    sb.write("secret.txt", SECRET);
    let secret_file = sb.path("secret.txt").display().to_string();
    let (digest, log) = build(
        &sb,
        &ctx,
        &[
            "--secret",
            &format!("id=tok,src={secret_file}"),
            "-o",
            &format!("type=oci,dest={}", sb.path("out.tar").display()),
        ],
    );
    assert!(
        log.contains("****"),
        "the printed secret is redacted: {log}"
    );
    let sha = common::sha256(SECRET.as_bytes());
    let seen = file_in_image(&sb, &digest, "tok.sha").unwrap();
    assert!(
        seen.starts_with(sha.trim_start_matches("sha256:")),
        "the step read the secret: {seen}"
    );
    assert!(log.contains("440 1000"), "{log}");
    assert!(
        !log.contains(SECRET),
        "the progress log leaks the secret: {log}"
    );
    let mut hits = files_containing(&sb.store(), SECRET.as_bytes());
    hits.extend(files_containing(&sb.path("out.tar"), SECRET.as_bytes()));
    assert!(hits.is_empty(), "secret found in {hits:?}");
    // The mount point of the file secret left nothing behind.
    let top = layers(&sb, &digest);
    for l in &top {
        for e in layer_entries(&sb, l) {
            assert!(
                !e.starts_with("run/secrets") && !e.starts_with("etc/app"),
                "{e} leaked"
            );
        }
    }
    // A required secret that was not given stops the build.
    let ctx2 = context(
        &sb,
        "FROM {BASE}\nRUN --mount=type=secret,id=nope,required true\n",
        &base,
        &[],
    );
    let err = build_fails(&sb, &ctx2, &[]);
    assert!(
        err.contains("Dockerfile:2:1") && err.contains("secret nope not found"),
        "{err}"
    );
}

#[test]
fn sandbox_files_and_mount_points_stay_out_of_the_layer() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE}\n\
         RUN --mount=type=bind,target=/mnt/ctx \
             --mount=type=cache,target=/var/cache/thing \
             --mount=type=tmpfs,target=/scratch \
             --mount=type=secret,id=s,target=/run/secrets/s \
             cat /mnt/ctx/file > /copied && echo c > /var/cache/thing/c && echo t > /scratch/t \
             && cat /etc/hosts /etc/resolv.conf /etc/hostname > /dev/null && touch /made\n",
        &base,
        &[("file", "from the context\n")],
    );
    sb.write("s", "shh");
    let (digest, _) = build(
        &sb,
        &ctx,
        &["--secret", &format!("id=s,src={}", sb.path("s").display())],
    );
    let top = layers(&sb, &digest).pop().unwrap();
    let entries: BTreeSet<String> = layer_entries(&sb, &top).into_iter().collect();
    let expected: BTreeSet<String> = ["copied", "made"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        entries, expected,
        "only what the step wrote is in its layer"
    );
    assert_eq!(
        file_in_image(&sb, &digest, "copied").as_deref(),
        Some("from the context\n")
    );
}

#[test]
fn cache_mounts_persist_between_builds_and_stay_out_of_layers() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE}\nRUN --mount=type=cache,target=/cache,id=counter,uid=1000,mode=0750 \
         echo x >> /cache/count && wc -l < /cache/count > /seen && stat -c '%u %a' /cache > /owner\n",
        &base,
        &[],
    );
    let (first, _) = build(&sb, &ctx, &["--no-cache"]);
    let (second, _) = build(&sb, &ctx, &["--no-cache"]);
    assert_eq!(
        file_in_image(&sb, &first, "seen")
            .map(|s| s.trim().to_string())
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        file_in_image(&sb, &second, "seen")
            .map(|s| s.trim().to_string())
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        file_in_image(&sb, &first, "owner").as_deref(),
        Some("1000 750\n")
    );
    for l in layers(&sb, &second) {
        assert!(
            !layer_entries(&sb, &l)
                .iter()
                .any(|e| e.starts_with("cache")),
            "cache content in a layer"
        );
    }
}

#[test]
fn bind_mounts_are_read_only_unless_rw_and_rw_writes_are_discarded() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE} AS build\nRUN mkdir /out && echo built > /out/artifact\n\
         FROM {BASE}\n\
         RUN --mount=type=bind,source=data,target=/data (touch /data/x 2>/dev/null && echo rw || echo ro) > /ro-result\n\
         RUN --mount=type=bind,source=data,target=/data,rw echo changed > /data/f && cat /data/f > /rw-result\n\
         RUN --mount=type=bind,from=build,source=/out,target=/in cp /in/artifact /artifact\n",
        &base,
        &[("data/f", "original\n")],
    );
    let (digest, _) = build(&sb, &ctx, &[]);
    assert_eq!(
        file_in_image(&sb, &digest, "ro-result").as_deref(),
        Some("ro\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "rw-result").as_deref(),
        Some("changed\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "artifact").as_deref(),
        Some("built\n")
    );
    assert_eq!(
        fs::read_to_string(ctx.join("data/f")).unwrap(),
        "original\n",
        "the context is untouched"
    );
}

#[test]
fn a_failing_step_names_line_command_exit_code_and_last_output() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE}\nRUN echo fine\nRUN echo step output one && echo \"to stderr\" >&2 && exit 3\n",
        &base,
        &[],
    );
    let err = build_fails(&sb, &ctx, &[]);
    assert!(err.contains("Dockerfile:3:1"), "{err}");
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(err.contains("/bin/sh -c echo step output one"), "{err}");
    assert!(
        err.contains("| to stderr"),
        "the last lines are quoted: {err}"
    );
    assert!(sb.tags().is_empty());
}

#[test]
fn run_steps_are_cached_and_reproducible() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let df = "FROM {BASE}\nARG GREETING=hello\n\
              RUN mkdir -p /app/bin && echo \"$GREETING\" > /app/greeting && ln -s greeting /app/link \
              && cp /app/greeting /app/bin/copy && ln /app/greeting /app/hard\n";
    let ctx = context(&sb, df, &base, &[]);
    let (first, _) = build(&sb, &ctx, &[]);
    let (cached, log) = build(&sb, &ctx, &[]);
    assert_eq!(first, cached);
    assert!(log.contains("CACHED"), "{log}");
    let (fresh, log) = build(&sb, &ctx, &["--no-cache"]);
    assert!(!log.contains("CACHED"), "{log}");
    assert_eq!(first, fresh, "a rebuild without cache gives the same image");
    let other = Sandbox::new();
    let (elsewhere, _) = build(&other, &context(&other, df, &base, &[]), &[]);
    assert_eq!(
        first, elsewhere,
        "a different store and path give the same image"
    );
    let (changed, log) = build(&sb, &ctx, &["--build-arg", "GREETING=hi"]);
    assert_ne!(first, changed);
    assert!(
        !log.contains("CACHED"),
        "a changed build arg misses the cache: {log}"
    );
}

#[test]
fn network_none_has_only_loopback_and_default_reaches_the_host_network() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE}\nRUN --network=none ls /sys/class/net > /none\nRUN ls /sys/class/net | wc -l > /default-count\n",
        &base,
        &[],
    );
    let (digest, _) = build(&sb, &ctx, &[]);
    assert_eq!(file_in_image(&sb, &digest, "none").as_deref(), Some("lo\n"));
    let host: usize = fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(
        file_in_image(&sb, &digest, "default-count").map(|s| s.trim().to_string()),
        Some(host.to_string())
    );
    let (digest, _) = build(&sb, &ctx.clone(), &["--network", "none", "--no-cache"]);
    assert_eq!(
        file_in_image(&sb, &digest, "default-count")
            .map(|s| s.trim().to_string())
            .as_deref(),
        Some("1")
    );
}

#[test]
fn users_workdir_env_shell_and_heredocs() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE}\n\
         ENV FROM_ENV=e\nARG FROM_ARG=a\n\
         RUN echo \"$FROM_ENV $FROM_ARG $HOME\" > /env\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         RUN <<EOF\nset -e\necho \"heredoc $FROM_ENV\" > /heredoc\nEOF\n\
         RUN cat <<A > /two && cat <<B >> /two\nfirst\nA\nsecond\nB\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec > /exec\"]\n\
         WORKDIR /srv/app\nRUN pwd > here\n",
        &base,
        &[],
    );
    let (digest, _) = build(&sb, &ctx, &[]);
    assert_eq!(
        file_in_image(&sb, &digest, "env").as_deref(),
        Some("e a /root\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "heredoc").as_deref(),
        Some("heredoc e\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "two").as_deref(),
        Some("first\nsecond\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "exec").as_deref(),
        Some("exec\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "srv/app/here").as_deref(),
        Some("/srv/app\n")
    );
    // The history says what ran, with the build args it saw, like BuildKit.
    let config = common::json_blob(
        &sb.store(),
        manifest(&sb, &digest)["config"]["digest"].as_str().unwrap(),
    );
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(
        history
            .iter()
            .any(|h| h.starts_with("RUN |1 FROM_ARG=a /bin/sh -c echo")),
        "{history:?}"
    );
}

#[test]
fn a_step_that_changes_nothing_adds_no_layer() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let plain = context(&sb, "FROM {BASE}\nLABEL only=metadata\n", &base, &[]);
    let (plain, _) = build(&sb, &plain, &[]);
    let ctx = context(&sb, "FROM {BASE}\nRUN true\n", &base, &[]);
    let (digest, _) = build(&sb, &ctx, &[]);
    assert_eq!(
        layers(&sb, &digest),
        layers(&sb, &plain),
        "no layer for an empty change"
    );
    let config = common::json_blob(
        &sb.store(),
        manifest(&sb, &digest)["config"]["digest"].as_str().unwrap(),
    );
    let last = config["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["empty_layer"], Value::Bool(true));
}

/// Found by the random differential test (seed 16): a step runs in its WORKDIR even when
/// its USER cannot enter it (BuildKit's runc enters it before switching user); what the
/// step then does there is up to the user's permissions.
#[test]
fn a_step_runs_in_a_workdir_its_user_cannot_enter() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let df = "FROM {BASE}\n\
              RUN mkdir -p /locked && chmod 0700 /locked\n\
              WORKDIR /locked/in\n\
              USER 1000\n\
              RUN pwd > /tmp/pwd; touch here 2>/dev/null || echo refused > /tmp/touch\n";
    let ctx = context(&sb, df, &base, &[]);
    let (digest, _) = build(&sb, &ctx, &[]);
    assert_eq!(
        file_in_image(&sb, &digest, "tmp/pwd").as_deref(),
        Some("/locked/in\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "tmp/touch").as_deref(),
        Some("refused\n")
    );
}

/// Writes an OCI layout with one hand-made layer (a Python tarfile) tagged `evil`.
fn hostile_layout(sb: &Sandbox, script: &str) -> String {
    let layout = sb.path("evil-layout");
    let py = format!(
        r#"
import tarfile, io, json, hashlib, gzip, os
layout = {layout:?}
os.makedirs(layout + "/blobs/sha256", exist_ok=True)
raw = io.BytesIO()
t = tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.REGTYPE, data=b"", link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.size = len(data) if kind == tarfile.REGTYPE else 0
    i.linkname = link; i.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("bin", tarfile.DIRTYPE)
{script}
t.close()
diff = hashlib.sha256(raw.getvalue()).hexdigest()
gz = gzip.compress(raw.getvalue(), mtime=0)
def put(b):
    d = hashlib.sha256(b).hexdigest()
    open(layout + "/blobs/sha256/" + d, "wb").write(b)
    return d, len(b)
ld, ls = put(gz)
cfg = json.dumps({{"architecture": "amd64", "os": "linux", "rootfs": {{"type": "layers", "diff_ids": ["sha256:" + diff]}}, "config": {{}}}}).encode()
cd, cs = put(cfg)
man = json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": cs}},
  "layers": [{{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + ld, "size": ls}}]}}).encode()
md, ms = put(man)
json.dump({{"schemaVersion": 2, "manifests": [{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": ms, "annotations": {{"org.opencontainers.image.ref.name": "evil"}}}}]}}, open(layout + "/index.json", "w"))
open(layout + "/oci-layout", "w").write('{{"imageLayoutVersion": "1.0.0"}}')
"#,
        layout = layout.display().to_string(),
    );
    common::sh(&format!("python3 -c {}", common::q(Path::new(&py))));
    format!("oci:{}:evil", layout.display())
}

#[test]
fn a_hostile_base_layer_cannot_touch_the_host() {
    if !common::require(common::is_root(), "root (RUN sandbox with overlayfs)") {
        return;
    }
    let cases = [
        (
            "dotdot",
            r#"add("../../../../../../tmp/lading-evil-dotdot", data=b"x")"#,
            "/tmp/lading-evil-dotdot",
        ),
        (
            "symlink",
            r#"add("esc", tarfile.SYMTYPE, link="/tmp"); add("esc/lading-evil-symlink", data=b"x")"#,
            "/tmp/lading-evil-symlink",
        ),
        (
            "hardlink",
            r#"add("pw", tarfile.LNKTYPE, link="/etc/passwd")"#,
            "",
        ),
    ];
    for (name, script, host_path) in cases {
        let sb = Sandbox::new();
        let evil = hostile_layout(&sb, script);
        let passwd_before = fs::read("/etc/passwd").unwrap();
        sb.write("ctx/Dockerfile", &format!("FROM {evil}\nRUN true\n"));
        let err = build_fails(&sb, &sb.path("ctx"), &[]);
        assert!(err.contains("Dockerfile:2:1"), "{name}: {err}");
        if !host_path.is_empty() {
            assert!(
                !Path::new(host_path).exists(),
                "{name}: {host_path} was created"
            );
        }
        assert_eq!(
            fs::read("/etc/passwd").unwrap(),
            passwd_before,
            "{name}: /etc/passwd changed"
        );
    }
}

#[test]
fn ssh_mounts_forward_the_agent_socket() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let sock = sb.path("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let ctx = context(
        &sb,
        "FROM {BASE}\n\
         RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock\n\
         RUN --mount=type=ssh,id=other,required=false echo \"${SSH_AUTH_SOCK:-none}\" > /optional\n",
        &base,
        &[],
    );
    let (digest, _) = build(
        &sb,
        &ctx,
        &["--ssh", &format!("default={}", sock.display())],
    );
    assert_eq!(
        file_in_image(&sb, &digest, "sock").as_deref(),
        Some("/run/buildkit/ssh_agent.0\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "optional").as_deref(),
        Some("none\n")
    );
    for l in layers(&sb, &digest) {
        assert!(
            !layer_entries(&sb, &l)
                .iter()
                .any(|e| e.starts_with("run/buildkit")),
            "socket mount point leaked"
        );
    }
    let ctx = context(
        &sb,
        "FROM {BASE}\nRUN --mount=type=ssh,required true\n",
        &base,
        &[],
    );
    let err = build_fails(&sb, &ctx, &[]);
    assert!(err.contains("no SSH key \"default\" forwarded"), "{err}");
}

#[test]
fn the_copy_snapshotter_gives_the_overlay_layers() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let ctx = context(
        &sb,
        "FROM {BASE}\n\
         RUN mkdir -p /app/d && echo a > /app/d/f && ln -s d/f /app/link && ln /app/d/f /app/hard && chmod 4755 /app/d/f\n\
         RUN rm -rf /usr/share/doc /etc/motd && echo new > /app/d/g\n\
         RUN rm /app/link && mkdir /app/link && rm -rf /app/d && echo file > /app/d && chown 65534:65534 /app/d\n",
        &base,
        &[],
    );
    let (overlay, _) = build(&sb, &ctx, &[]);
    let other = Sandbox::new();
    let ctx2 = context(
        &other,
        &fs::read_to_string(ctx.join("Dockerfile")).unwrap(),
        &base,
        &[],
    );
    let iid = other.path("iid");
    let mut cmd = other.lading(&["build", "--progress", "plain", "--iidfile"]);
    cmd.arg(&iid).arg(&ctx2).env("LADING_SNAPSHOTTER", "copy");
    let out = common::run(&mut cmd);
    common::assert_success(&out);
    assert_eq!(
        fs::read_to_string(&iid).unwrap(),
        overlay,
        "copy and overlay snapshotters differ"
    );
    let top = layers(&sb, &overlay);
    let whiteouts: Vec<String> = layer_entries(&sb, &top[top.len() - 2])
        .into_iter()
        .filter(|e| e.contains(".wh."))
        .collect();
    assert_eq!(whiteouts, vec!["etc/.wh.motd", "usr/share/.wh.doc"]);
}

/// `COPY --from` reads the source stage through its layer snapshots (whiteouts, opaque
/// directories, symlinks resolved inside the stage) and must give the layers it gave
/// when it unpacked the whole stage first. The copied files were all made by `RUN`, so
/// the two layers do not depend on the base's content: their digests are golden.
#[test]
fn copy_from_a_stage_with_whiteouts_and_symlinks_gives_the_same_layers() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let df = "FROM {BASE} AS src\n\
        RUN mkdir -p /data/sub /data/gone/deep /data/opq/old && echo a > /data/a && ln -s a /data/link \\\n \
        && ln -s /data/sub /data/abslink && echo g > /data/gone/deep/x && echo o > /data/opq/old/f \\\n \
        && echo s > /data/sub/s && chmod 4750 /data/sub/s && chown 1000:1001 /data/sub\n\
        RUN rm -rf /data/gone /data/opq && mkdir /data/opq && echo new > /data/opq/new && rm /data/a \\\n \
        && echo a2 > /data/a && ln -s ../a /data/sub/up && ln /data/sub/s /data/sub/hard && mkfifo /data/fifo\n\
        FROM {BASE}\n\
        COPY --from=src /data /out/\n\
        COPY --from=src /data/link /data/sub/up /data/abslink/s /single/\n";
    let ctx = context(&sb, df, &base, &[]);
    let (digest, _) = build(&sb, &ctx, &[]);
    let all = layers(&sb, &digest);
    let copies = &all[all.len() - 2..];
    assert_eq!(
        copies,
        [
            "sha256:337babd29deda75546db752a419ad9c0c680661bcf2ba9920066cd36ca31ac80",
            "sha256:2be592c7caaf31abb2af1fec43bea7847c86c14ac66cdb0dbde6034c47ee0d9f",
        ]
    );
    let names = layer_entries(&sb, &copies[0]);
    assert!(names.contains(&"out/opq/new".to_string()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("gone") || n.contains("old"))
    );
    assert_eq!(
        file_in_image(&sb, &digest, "out/a").as_deref(),
        Some("a2\n")
    );
    assert_eq!(
        file_in_image(&sb, &digest, "single/s").as_deref(),
        Some("s\n")
    );
}

/// Independent stages run at the same time; the result is the one the stages give one
/// after another (same image with and without the cache, in another store too), and
/// each step's progress lines carry its own step number.
#[test]
fn independent_stages_run_concurrently_with_the_same_result() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let df = "FROM {BASE} AS a\nRUN mkdir /a && for i in 1 2 3; do echo a$i > /a/$i; done\n\
              RUN echo a-done > /a/done\n\
              FROM {BASE} AS b\nRUN mkdir /b && echo b > /b/b && ln -s b /b/link\n\
              FROM a AS c\nRUN echo c > /a/c\n\
              FROM {BASE}\nCOPY --from=b /b /b\nCOPY --from=c /a /a\n\
              RUN cat /a/1 /a/done /a/c /b/link > /all\n";
    let ctx = context(&sb, df, &base, &[]);
    let (first, log) = build(&sb, &ctx, &[]);
    assert_eq!(
        file_in_image(&sb, &first, "all").as_deref(),
        Some("a1\na-done\nc\nb\n")
    );
    for stage in [
        "[a 2/3] RUN",
        "[b 2/2] RUN",
        "[c 2/2] RUN",
        "[stage-3 4/4] RUN",
    ] {
        let start = log
            .lines()
            .find(|l| l.contains(stage))
            .unwrap_or_else(|| panic!("{stage} in {log}"));
        let num = start.split(' ').next().unwrap();
        assert!(
            log.lines()
                .any(|l| l == format!("{num} DONE").as_str()
                    || l.starts_with(&format!("{num} DONE "))),
            "{stage} ({num}) is reported done: {log}"
        );
    }
    let (fresh, _) = build(&sb, &ctx, &["--no-cache"]);
    assert_eq!(first, fresh);
    let other = Sandbox::new();
    let (elsewhere, _) = build(&other, &context(&other, df, &base, &[]), &[]);
    assert_eq!(first, elsewhere);
}

/// When one of several concurrent stages fails, the build fails with that stage's
/// error (file, line, command, exit code).
#[test]
fn a_failing_stage_stops_the_build_with_its_error() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let df = "FROM {BASE} AS ok\nRUN echo fine > /fine\nRUN echo still > /still\n\
              FROM {BASE} AS bad\nRUN echo about to fail && exit 7\n\
              FROM {BASE}\nCOPY --from=ok /fine /fine\nCOPY --from=bad /etc/passwd /p\n";
    let ctx = context(&sb, df, &base, &[]);
    let err = build_fails(&sb, &ctx, &[]);
    assert!(err.contains("Dockerfile:5"), "{err}");
    assert!(err.contains("exit code: 7"), "{err}");
    assert!(err.contains("about to fail"), "{err}");
}

/// An `ONBUILD COPY --from=<stage>` of the base names a stage the dependency scan does
/// not see; it gets the stage's finished state as the sequential solver gave it.
#[test]
fn onbuild_copy_from_a_stage_reaches_a_stage_solved_on_another_thread() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    sb.write(
        "onbuild/Dockerfile",
        &format!("FROM {base}\nONBUILD COPY --from=helper /h /h\n"),
    );
    let mut cmd = sb.lading(&["build", "-q", "-t", "onbuild-base"]);
    cmd.arg(sb.path("onbuild"));
    common::assert_success(&common::run(&mut cmd));
    let df = "FROM {BASE} AS helper\nRUN echo h > /h\n\
              FROM {BASE} AS x\nCOPY --from=helper /h /hx\n\
              FROM onbuild-base\nCOPY --from=x /hx /hx\nRUN cat /h /hx > /both\n";
    let ctx = context(&sb, df, &base, &[]);
    let (digest, _) = build(&sb, &ctx, &[]);
    assert_eq!(
        file_in_image(&sb, &digest, "both").as_deref(),
        Some("h\nh\n")
    );
}

/// A build's layers are stored as uncompressed tar blobs while it runs; only the layers
/// of the image it writes are gzipped, once per store (a warm build finds them), and the
/// gzip blobs share the tars' snapshots.
#[test]
fn only_the_exported_layers_are_gzipped_and_only_once() {
    let Some(base) = base() else { return };
    let sb = Sandbox::new();
    let df = "FROM {BASE} AS side\n\
        RUN echo intermediate-only-marker > /m && echo three > /three\n\
        FROM {BASE} AS a\n\
        RUN echo one > /one\n\
        FROM a\n\
        RUN echo two > /two\n\
        COPY --from=side /three /three\n";
    let ctx = context(&sb, df, &base, &[]);
    let (digest, _) = build(&sb, &ctx, &[]);
    let m = manifest(&sb, &digest);
    let ls = m["layers"].as_array().unwrap();
    let ours = &ls[ls.len() - 3..];
    for l in ours {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
            "{m:#}"
        );
    }
    assert_eq!(file_in_image(&sb, &digest, "one").as_deref(), Some("one\n"));
    assert_eq!(
        file_in_image(&sb, &digest, "three").as_deref(),
        Some("three\n")
    );
    // The side stage's layer is in the store as a plain tar, and was never gzipped.
    let blobs = sb.store().join("blobs/sha256");
    let hits = files_containing(&blobs, b"intermediate-only-marker");
    assert_eq!(hits.len(), 1, "{hits:?}");
    let plain = fs::read(&hits[0]).unwrap();
    assert!(!plain.starts_with(&[0x1f, 0x8b]), "{}", hits[0]);
    let records = sb.store().join(".lading/cache/gzip");
    let recorded = || {
        let mut v: Vec<_> = fs::read_dir(&records)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let first = recorded();
    assert_eq!(first.len(), 3, "{first:?}");
    // The gzip blobs' snapshots are the tars' (the RUN layers' tars got theirs from
    // the steps' files; nothing read the last COPY's yet).
    for l in &ours[..2] {
        let hex = l["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let snap = sb
            .store()
            .join(".lading/snapshots")
            .join(format!("2-{hex}"));
        assert!(snap.is_symlink(), "{}", snap.display());
        assert!(snap.join("fs").is_dir(), "{}", snap.display());
    }
    // Warm: the same image, nothing compressed again.
    let (again, log) = build(&sb, &ctx, &[]);
    assert_eq!(digest, again);
    assert!(log.contains("CACHED"), "{log}");
    assert_eq!(recorded(), first);
    // Exporting the intermediate stage gzips its layer then, with the same bytes as a
    // fresh store gives.
    let (side, _) = build(&sb, &ctx, &["--target", "side"]);
    let other = Sandbox::new();
    let (side_elsewhere, _) = build(
        &other,
        &context(&other, df, &base, &[]),
        &["--target", "side"],
    );
    assert_eq!(side, side_elsewhere);
    assert_eq!(recorded().len(), 4);
}
