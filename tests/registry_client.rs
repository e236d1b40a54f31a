//! lading's registry client against a registry nobody on this project wrote: Debian's
//! `docker-registry` (CNCF distribution 2.8), started here on 127.0.0.1 with a config
//! file. Plain HTTP; TLS with a CA made here by `openssl` plus htpasswd (bcrypt), with
//! credentials from a docker config file and from a credential helper; push by digest
//! with cross-repository mounts; the referrers tag schema (2.8 has no referrers API);
//! `FROM` of its images; multi-platform indexes and Docker manifest lists. skopeo is
//! the oracle for what ended up in the registry.
//!
//! Two behaviours distribution cannot show by itself come from `tests/support/regproxy.py`,
//! a small stdlib-Python front that forwards to the real registry: docker's bearer-token
//! flow (a token endpoint issuing pull-only tokens anonymously and pull/push tokens for
//! the right credentials, checked on every request), and a connection cut in the middle
//! of an upload chunk.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::registry::{Distribution, LadingServe, Secured, collect, htpasswd, make_ca};
use common::{
    Sandbox, assert_success, build_hello, lading, multi_arch, require_tool, run, sha256, stderr,
    stdout,
};
use lading_oci::Store;
use lading_oci::constants::MEDIA_TYPE_INDEX;
use lading_oci::spec::{Descriptor, Index};

/// `tests/support/regproxy.py` in front of `upstream`, killed when dropped.
struct Proxy {
    child: Child,
    host: String,
    log: Arc<Mutex<String>>,
}

impl Proxy {
    fn start(upstream: &str, extra: &[&str]) -> Proxy {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/regproxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", &format!("http://{upstream}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning regproxy.py");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().expect("stderr"), log.clone());
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("proxy address");
        let host = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("regproxy said {first:?}"))
            .to_string();
        Proxy { child, host, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn need_peers(tools: &[&str]) -> bool {
    tools.iter().all(|t| require_tool(t))
}

/// Runs lading and asserts success; returns (stdout, stderr).
fn ok(sb: &Sandbox, args: &[&str]) -> (String, String) {
    let out = sb.run(args);
    assert_success(&out);
    (stdout(&out), stderr(&out))
}

/// Runs lading and asserts failure; returns stderr.
fn fails(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.run(args);
    assert!(
        !out.status.success(),
        "expected failure of {args:?}:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(2));
    stderr(&out)
}

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = run(Command::new("skopeo").args(args));
    assert_success(&out);
    out
}

/// The digest of what the registry serves for `image` (`docker://…`), asked with skopeo.
fn skopeo_digest(image: &str, extra: &[&str]) -> String {
    let mut args = vec!["inspect", "--raw"];
    args.extend_from_slice(extra);
    args.push(image);
    sha256(&skopeo(&args).stdout)
}

/// Builds `FROM scratch` + a file of `size` random bytes (stays that large compressed).
fn build_big(sb: &Sandbox, tag: &str, size: usize) -> String {
    let ctx = sb.path(&format!("ctx-{tag}"));
    std::fs::create_dir_all(&ctx).expect("ctx");
    let mut data = vec![0u8; size];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(ctx.join("blob"), data).expect("blob");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY blob /blob\n").expect("df");
    sb.build_ok(&ctx, &["-t", tag])
}

fn store_is_sound(store: &Path) {
    let store = Store::open(store).expect("store");
    let problems = store.check().expect("check");
    assert!(problems.is_empty(), "store problems: {problems:#?}");
}

fn manifest_annotations(sb: &Sandbox, tag: &str) -> serde_json::Value {
    let (out, _) = ok(sb, &["inspect", tag]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["manifest"]["annotations"].clone()
}

#[test]
fn plain_http_push_by_digest_mounts_pull_cache_and_from() {
    if !need_peers(&["docker-registry", "skopeo"]) {
        return;
    }
    let reg = Distribution::start(None);
    let h = reg.host.clone();
    let sb = Sandbox::new();
    let built = build_hello(&sb, "hello:1", &[]);

    // Push: by digest first, then the tag; the registry serves exactly what was built.
    let (out, err) = ok(&sb, &["push", "hello:1", &format!("docker://{h}/app:1")]);
    assert_eq!(out.trim(), built, "{err}");
    assert_eq!(
        skopeo_digest(&format!("docker://{h}/app:1"), &["--tls-verify=false"]),
        built
    );
    let puts: Vec<String> = reg
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT /v2/app/manifests/"))
        .collect();
    assert_eq!(
        puts,
        [
            format!("PUT /v2/app/manifests/{built} 201"),
            "PUT /v2/app/manifests/1 201".to_string()
        ]
    );

    // Pushed again: every blob is already there (HEAD), nothing is uploaded.
    let (_, err) = ok(&sb, &["push", "hello:1", &format!("docker://{h}/app:1")]);
    assert!(err.contains("0 blobs uploaded"), "{err}");
    assert!(err.contains("4 already there"), "{err}");

    // Another repository of the same registry: every blob mounted from app.
    let (out, err) = ok(
        &sb,
        &["push", "hello:1", &format!("docker://{h}/team/other:2")],
    );
    assert_eq!(out.trim(), built);
    assert!(err.contains("4 mounted"), "{err}");
    let mounts = reg
        .requests()
        .into_iter()
        .filter(|r| r.contains("/v2/team/other/blobs/uploads/?mount=") && r.ends_with(" 201"))
        .count();
    assert_eq!(mounts, 4, "{:#?}", reg.requests());
    assert!(
        !reg.requests()
            .iter()
            .any(|r| r.starts_with("PATCH /v2/team/other")
                || r.starts_with("PUT /v2/team/other/blobs")),
        "nothing uploaded to team/other"
    );

    // Pull into a fresh store: verified blobs, tagged with docker's short name.
    let sb2 = Sandbox::new();
    let (out, _) = ok(&sb2, &["pull", &format!("{h}/team/other:2")]);
    assert_eq!(out.trim(), built);
    assert!(sb2.tags().contains(&format!("{h}/team/other:2")));
    store_is_sound(&sb2.store());
    let blob_gets = |reg: &Distribution| {
        reg.requests()
            .iter()
            .filter(|r| r.starts_with("GET /v2/team/other/blobs/"))
            .count()
    };
    let before = blob_gets(&reg);
    assert_eq!(before, 4);
    // Pulled again: nothing downloaded, the store has every blob.
    let (_, err) = ok(&sb2, &["pull", &format!("docker://{h}/team/other:2")]);
    assert!(err.contains("4 already in the store"), "{err}");
    assert_eq!(blob_gets(&reg), before, "a blob was downloaded again");

    // A registry that names another digest for the tag than was pushed: an error.
    let liar = Proxy::start(&h, &["--lie-about-tags"]);
    let err = fails(
        &sb,
        &["push", "hello:1", &format!("docker://{}/app:1", liar.host)],
    );
    assert!(
        err.contains(&format!("pushed {}/app:1 as {built}", liar.host))
            && err.contains("the registry changed the manifest"),
        "{err}"
    );
    drop(liar);

    // Tags, inspect without downloading layers.
    let (out, _) = ok(&sb2, &["tags", &format!("docker://{h}/app")]);
    assert_eq!(out, "1\n");
    let (out, _) = ok(&sb2, &["inspect", &format!("docker://{h}/app:1")]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["descriptor"]["digest"], built);
    assert_eq!(v["name"], format!("{h}/app:1"));
    assert_eq!(
        v["config"]["config"]["Entrypoint"][0],
        "/usr/local/bin/hello"
    );
    let (raw, _) = ok(&sb2, &["inspect", "--raw", &format!("docker://{h}/app:1")]);
    assert_eq!(sha256(raw.as_bytes()), built);

    // cp: registry → OCI layout → another repository, one digest throughout; skopeo
    // reads the layout.
    let layout = sb2.path("layout");
    let (out, _) = ok(
        &sb2,
        &[
            "cp",
            &format!("docker://{h}/app:1"),
            &format!("oci:{}:x", layout.display()),
        ],
    );
    assert_eq!(out.trim(), built);
    assert_eq!(
        skopeo_digest(&format!("oci:{}:x", layout.display()), &[]),
        built
    );
    let (out, _) = ok(
        &sb2,
        &[
            "cp",
            &format!("oci:{}:x", layout.display()),
            &format!("docker://{h}/copied:7"),
        ],
    );
    assert_eq!(out.trim(), built);
    assert_eq!(
        skopeo_digest(&format!("docker://{h}/copied:7"), &["--tls-verify=false"]),
        built
    );

    // FROM an image served by the registry, in a store that does not have it.
    let sb3 = Sandbox::new();
    let ctx = sb3.path("ctx");
    sb3.write("ctx/extra.txt", "on top\n");
    sb3.write(
        "ctx/Dockerfile",
        &format!("FROM {h}/app:1\nCOPY extra.txt /extra.txt\n"),
    );
    let first = sb3.build_ok(&ctx, &["-t", "child:1"]);
    let ann = manifest_annotations(&sb3, "child:1");
    assert_eq!(
        ann["org.opencontainers.image.base.name"],
        format!("{h}/app:1")
    );
    assert_eq!(ann["org.opencontainers.image.base.digest"], built);
    assert!(
        sb3.tags().contains(&format!("{h}/app:1")),
        "the base is kept, tagged"
    );
    // Again: the local tag wins (no registry request); with --pull the tag is resolved
    // again. Same image every time.
    let manifests_before = reg
        .requests()
        .iter()
        .filter(|r| r.contains("/v2/app/manifests/"))
        .count();
    assert_eq!(sb3.build_ok(&ctx, &["-t", "child:2"]), first);
    let manifests_after = reg
        .requests()
        .iter()
        .filter(|r| r.contains("/v2/app/manifests/"))
        .count();
    assert_eq!(manifests_before, manifests_after, "the local tag was used");
    assert_eq!(sb3.build_ok(&ctx, &["-t", "child:3", "--pull"]), first);
    assert!(
        reg.requests()
            .iter()
            .filter(|r| r.contains("/v2/app/manifests/"))
            .count()
            > manifests_after,
        "--pull asked the registry"
    );
    store_is_sound(&sb3.store());
}

/// A docker config directory holding `config` as `config.json`.
fn docker_config(sb: &Sandbox, name: &str, config: &serde_json::Value) -> PathBuf {
    let dir = sb.path(name);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    dir
}

#[test]
fn tls_with_a_test_ca_and_htpasswd_credentials_from_config_and_helper() {
    if !need_peers(&["docker-registry", "skopeo", "openssl"]) {
        return;
    }
    use base64::Engine as _;
    let sb = Sandbox::new();
    let (ca, cert, key) = make_ca(&sb);
    let users = htpasswd(&sb);
    let reg = Distribution::start(Some(Secured {
        cert: &cert,
        key: &key,
        htpasswd: &users,
    }));
    let h = reg.host.clone();
    let built = build_hello(&sb, "hello:1", &[]);
    let cert_dir = ca
        .parent()
        .expect("dir")
        .to_str()
        .expect("utf-8")
        .to_string();
    let dest = format!("docker://{h}/secure/app:1");
    // No config file anywhere unless a test names one.
    let no_config = docker_config(&sb, "empty-config", &serde_json::json!({}));
    let run_with = |config: &Path, args: &[&str], path: Option<&str>| {
        let mut cmd = sb.lading(args);
        cmd.env("DOCKER_CONFIG", config);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        run(&mut cmd)
    };

    // The CA is not trusted: a certificate error, with the way out.
    let out = run_with(&no_config, &["push", "hello:1", &dest], None);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("TLS certificate verification failed"), "{err}");
    assert!(err.contains("hint:") && err.contains("--cert-dir"), "{err}");

    // Trusted, but no credentials: 401, with a hint.
    let out = run_with(
        &no_config,
        &["push", "--cert-dir", &cert_dir, "hello:1", &dest],
        None,
    );
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("authentication required"),
        "{err}"
    );
    assert!(err.contains("credHelpers"), "{err}");

    // Credentials from `auths` (base64 user:password), keyed by host.
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw");
    let auths = docker_config(
        &sb,
        "auths-config",
        &serde_json::json!({"auths": {h.clone(): {"auth": auth}}}),
    );
    let out = run_with(
        &auths,
        &["push", "--cert-dir", &cert_dir, "hello:1", &dest],
        None,
    );
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), built);
    assert_eq!(
        skopeo_digest(&dest, &["--cert-dir", &cert_dir, "--creds", "alice:pw"]),
        built
    );

    // A wrong password is refused.
    let bad = base64::engine::general_purpose::STANDARD.encode("alice:nope");
    let wrong = docker_config(
        &sb,
        "wrong-config",
        &serde_json::json!({"auths": {format!("https://{h}"): {"auth": bad}}}),
    );
    let out = run_with(&wrong, &["pull", "--cert-dir", &cert_dir, &dest], None);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("credentials refused"),
        "{err}"
    );

    // A credential helper on PATH: `credHelpers` for this host, then `credsStore`.
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let asked = sb.path("helper-asked");
    let helper = bin.join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"pw\"}}' \"$server\"\n",
            asked.display()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (name, config) in [
        (
            "helpers-config",
            serde_json::json!({"credHelpers": {h.clone(): "test"}, "auths": {h.clone(): {}}}),
        ),
        ("store-config", serde_json::json!({"credsStore": "test"})),
    ] {
        let dir = docker_config(&sb, name, &config);
        let fresh = sb.path(&format!("store-{name}"));
        let out = run(lading()
            .arg("--store")
            .arg(&fresh)
            .args(["pull", "--cert-dir", &cert_dir, &dest])
            .env("DOCKER_CONFIG", &dir)
            .env("PATH", &path));
        assert_success(&out);
        assert_eq!(stdout(&out).trim(), built, "{name}");
        store_is_sound(&fresh);
    }
    let asked = std::fs::read_to_string(&asked).expect("the helper ran");
    assert_eq!(asked.lines().collect::<Vec<_>>(), [h.as_str(), h.as_str()]);

    // --tls-verify=false: no CA needed (credentials still are).
    let out = run_with(
        &auths,
        &["pull", "--tls-verify=false", &format!("{h}/secure/app:1")],
        None,
    );
    assert_success(&out);
    // --insecure-registry HOST does the same for that host only.
    let out = run_with(&auths, &["inspect", "--insecure-registry", &h, &dest], None);
    assert_success(&out);
    assert!(!reg.log().contains("alice:pw"));
}

#[test]
fn bearer_token_flow_anonymous_pull_and_credentialed_push() {
    if !need_peers(&["docker-registry", "skopeo", "python3"]) {
        return;
    }
    let reg = Distribution::start(None);
    let proxy = Proxy::start(&reg.host, &["--token-auth", "alice:pw"]);
    let h = proxy.host.clone();
    let sb = Sandbox::new();
    let built = build_hello(&sb, "hello:1", &[]);
    let no_config = docker_config(&sb, "empty-config", &serde_json::json!({}));
    let with_config = |args: &[&str]| {
        let mut cmd = sb.lading(args);
        cmd.env("DOCKER_CONFIG", &no_config);
        run(&mut cmd)
    };

    // Anonymous tokens only allow pulls: the push is refused.
    let out = with_config(&["push", "hello:1", &format!("docker://{h}/tok/app:1")]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("authentication required"),
        "{err}"
    );
    assert!(
        proxy
            .log()
            .contains("user=None granted=[('tok/app', 'pull')]")
    );

    // Wrong credentials: the token server refuses them.
    let out = with_config(&[
        "push",
        "--creds",
        "alice:nope",
        "hello:1",
        &format!("docker://{h}/tok/app:1"),
    ]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("refused the credentials"),
        "{err}"
    );

    // With credentials: a pull,push token, and the push goes through.
    let out = with_config(&[
        "push",
        "--creds",
        "alice:pw",
        "hello:1",
        &format!("docker://{h}/tok/app:1"),
    ]);
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), built);
    assert!(
        proxy
            .log()
            .contains("TOKEN scope=['repository:tok/app:pull,push'] user=alice"),
        "{}",
        proxy.log()
    );
    // The registry behind the proxy holds it (skopeo asks distribution directly).
    assert_eq!(
        skopeo_digest(
            &format!("docker://{}/tok/app:1", reg.host),
            &["--tls-verify=false"]
        ),
        built
    );

    // A mount into another repository needs pull on the source too: one token for both.
    let out = with_config(&[
        "push",
        "--creds",
        "alice:pw",
        "hello:1",
        &format!("docker://{h}/tok/copy:1"),
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("4 mounted"), "{}", stderr(&out));
    assert!(
        proxy.log().contains(
            "TOKEN scope=['repository:tok/app:pull', 'repository:tok/copy:pull,push'] user=alice"
        ),
        "{}",
        proxy.log()
    );

    // Anonymous pull: the token flow without credentials.
    let sb2 = Sandbox::new();
    let mut cmd = sb2.lading(&["pull", &format!("{h}/tok/app:1")]);
    cmd.env("DOCKER_CONFIG", &no_config);
    let out = run(&mut cmd);
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), built);
    store_is_sound(&sb2.store());
}

#[test]
fn dropped_connections_restart_or_resume_uploads_and_resume_downloads() {
    if !need_peers(&["docker-registry", "skopeo", "python3"]) {
        return;
    }
    let sb = Sandbox::new();
    let built = build_big(&sb, "big:1", 3_000_000);
    let push = |host: &str| {
        ok(
            &sb,
            &[
                "push",
                "--chunk-size",
                "1000000",
                "big:1",
                &format!("docker://{host}/big:1"),
            ],
        )
    };

    // distribution forgets a session whose chunk broke: the upload starts over.
    let reg = Distribution::start(None);
    let proxy = Proxy::start(&reg.host, &["--cut-patch-after", "300000"]);
    let (out, err) = push(&proxy.host);
    assert_eq!(out.trim(), built);
    assert!(
        proxy.log().contains("-> CUT after 300000 bytes"),
        "{}",
        proxy.log()
    );
    assert!(err.contains("retrying (attempt 2)"), "{err}");
    let patches = reg
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH /v2/big/blobs/uploads/") && r.ends_with(" 202"))
        .count();
    let (out, _) = ok(&sb, &["inspect", "big:1"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let layer = v["manifest"]["layers"][0]["size"].as_u64().expect("size");
    assert_eq!(
        patches as u64,
        layer.div_ceil(1_000_000),
        "1 MB chunks of {layer} bytes, after the cut: {:#?}",
        reg.requests()
    );
    assert_eq!(
        skopeo_digest(
            &format!("docker://{}/big:1", reg.host),
            &["--tls-verify=false"]
        ),
        built
    );
    // A download cut short resumes with Range where it broke.
    let cutter = Proxy::start(&reg.host, &["--cut-blob-get-after", "300000"]);
    let sb2 = Sandbox::new();
    let (out, err) = ok(&sb2, &["pull", &format!("{}/big:1", cutter.host)]);
    assert_eq!(out.trim(), built);
    assert!(
        err.contains("retrying (attempt 2) from byte 300000"),
        "{err}"
    );
    assert!(
        cutter.log().contains("-> CUT after 300000 bytes")
            && cutter.log().contains("range=bytes=300000- -> 206"),
        "{}",
        cutter.log()
    );
    store_is_sound(&sb2.store());

    // lading serve keeps what arrived: the upload resumes where the cut left it.
    let served = Sandbox::new();
    let srv = LadingServe::start(&served.store());
    let proxy = Proxy::start(&srv.host, &["--cut-patch-after", "300000"]);
    let (out, err) = push(&proxy.host);
    assert_eq!(out.trim(), built);
    assert!(
        err.contains("retrying (attempt 2) from byte 300000") && err.contains("resuming"),
        "{err}"
    );
    drop(srv);
    store_is_sound(&served.store());
}

#[test]
fn blob_changed_in_the_store_is_caught_after_a_resumed_chunk() {
    if !need_peers(&["python3"]) {
        return;
    }
    let sb = Sandbox::new();
    let built = build_big(&sb, "big:1", 3_000_000);
    let (out, _) = ok(&sb, &["inspect", "big:1"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let layer: lading_oci::Digest = v["manifest"]["layers"][0]["digest"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("layer digest");
    // One byte flipped in place, past the first chunk: the resumed upload no longer
    // hashes in order, so only the re-hash before the closing PUT can see it.
    let store = Store::open(sb.store()).expect("store");
    let path = store.blob_path(&layer);
    let mut bytes = std::fs::read(&path).expect("layer");
    bytes[1_500_000] ^= 0x5a;
    std::fs::write(&path, &bytes).expect("changing the layer");

    // lading serve keeps what arrived before the cut: the upload resumes there.
    let served = Sandbox::new();
    let srv = LadingServe::start(&served.store());
    let proxy = Proxy::start(&srv.host, &["--cut-patch-after", "300000"]);
    let err = fails(
        &sb,
        &[
            "push",
            "--chunk-size",
            "1000000",
            "big:1",
            &format!("docker://{}/big:1", proxy.host),
        ],
    );
    assert!(err.contains("resuming"), "{err}");
    assert!(
        err.contains(&format!(
            "blob {layer} in the store no longer matches its digest (it reads as {}): refusing to push it",
            lading_oci::Digest::of(&bytes)
        )),
        "{err}"
    );
    assert!(
        !proxy
            .log()
            .contains(&format!("?digest=sha256%3A{} ", layer.hex())),
        "no closing PUT for the layer: {}",
        proxy.log()
    );
    drop(srv);
    let remote = Store::open(served.store()).expect("served store");
    assert!(!remote.has(&layer), "the registry has the layer");
    assert!(
        !remote.has(&built.parse().expect("digest")),
        "the registry has the manifest"
    );
}

/// Writes an OCI layout holding an artifact whose subject is `subject`; returns the
/// artifact's digest.
fn artifact_layout(dir: &Path, subject: &Descriptor, artifact_type: &str) -> String {
    let store = Store::open(dir).expect("layout");
    let empty = store
        .put_bytes(b"{}", "application/vnd.oci.empty.v1+json")
        .expect("empty");
    let layer = store
        .put_bytes(b"{\"packages\":[]}\n", "application/json")
        .expect("layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": empty,
        "layers": [layer],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "1970-01-01T00:00:00Z"},
    });
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let desc = store
        .put_bytes(&bytes, "application/vnd.oci.image.manifest.v1+json")
        .expect("manifest");
    store.tag("sbom", &desc).expect("tag");
    // A plain OCI layout: drop lading's private directory.
    let _ = std::fs::remove_dir_all(dir.join(".lading"));
    desc.digest.to_string()
}

#[test]
fn referrers_tag_schema_on_distribution_and_the_api_on_lading_serve() {
    if !need_peers(&["docker-registry", "skopeo"]) {
        return;
    }
    let sb = Sandbox::new();
    let built = build_hello(&sb, "hello:1", &[]);
    let subject: Descriptor = Store::open(sb.store())
        .expect("store")
        .resolve_tag("hello:1")
        .expect("index")
        .map(|mut d| {
            d.annotations.clear();
            d
        })
        .expect("tag");
    let layout = sb.path("artifact");
    let art = artifact_layout(&layout, &subject, "application/vnd.example.sbom");
    let hex = built.trim_start_matches("sha256:");

    let reg = Distribution::start(None);
    let srv_store = Sandbox::new();
    let srv = LadingServe::start(&srv_store.store());
    for (host, has_api) in [(reg.host.clone(), false), (srv.host.clone(), true)] {
        ok(&sb, &["push", "hello:1", &format!("docker://{host}/app:1")]);
        // The artifact is pushed by digest only.
        let (out, _) = ok(
            &sb,
            &[
                "cp",
                &format!("oci:{}:sbom", layout.display()),
                &format!("docker://{host}/app@{art}"),
            ],
        );
        assert_eq!(out.trim(), art);
        let (tags, _) = ok(&sb, &["tags", &format!("docker://{host}/app")]);
        let fallback = format!("sha256-{hex}");
        assert_eq!(
            tags.lines().any(|t| t == fallback),
            !has_api,
            "{host}: tags {tags}"
        );
        if !has_api {
            // What the tag holds, read by skopeo: an index listing the artifact.
            let raw = skopeo(&[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{host}/app:{fallback}"),
            ]);
            let index: Index = serde_json::from_slice(&raw.stdout).expect("index");
            assert_eq!(index.media_type.as_deref(), Some(MEDIA_TYPE_INDEX));
            assert_eq!(index.manifests.len(), 1);
            assert_eq!(index.manifests[0].digest.to_string(), art);
            assert_eq!(
                index.manifests[0].artifact_type.as_deref(),
                Some("application/vnd.example.sbom")
            );
        }
        // Pushed twice: listed once.
        ok(
            &sb,
            &[
                "cp",
                &format!("oci:{}:sbom", layout.display()),
                &format!("docker://{host}/app@{art}"),
            ],
        );
        let subject_ref = format!("docker://{host}/app@{built}");
        let out = sb.run(&["referrers", &subject_ref]);
        assert_success(&out);
        let listed: Index = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(
            listed
                .manifests
                .iter()
                .map(|d| d.digest.to_string())
                .collect::<Vec<_>>(),
            std::slice::from_ref(&art),
            "{host}"
        );
        assert_eq!(
            stderr(&out).contains("no referrers API"),
            !has_api,
            "{host}"
        );
        let (out, _) = ok(
            &sb,
            &[
                "referrers",
                "--artifact-type",
                "application/other",
                &subject_ref,
            ],
        );
        let none: Index = serde_json::from_str(&out).expect("json");
        assert!(none.manifests.is_empty(), "{host}: filtered");
    }
}

#[test]
fn multi_platform_indexes_and_docker_manifest_lists() {
    if !need_peers(&["docker-registry", "skopeo"]) {
        return;
    }
    let reg = Distribution::start(None);
    let h = reg.host.clone();
    let sb = Sandbox::new();
    let index = multi_arch(&sb);
    let arm = Store::open(sb.store())
        .expect("store")
        .resolve_tag("hello:arm64")
        .expect("index")
        .expect("tag")
        .digest;
    let (out, _) = ok(&sb, &["push", "multi:1", &format!("docker://{h}/multi:1")]);
    assert_eq!(out.trim(), index);
    assert_eq!(
        skopeo_digest(&format!("docker://{h}/multi:1"), &["--tls-verify=false"]),
        index
    );

    // One platform pulled: the tag names the index (the registry's digest), the store
    // holds that platform only and is sound.
    let sb2 = Sandbox::new();
    let (out, _) = ok(
        &sb2,
        &["pull", "--platform", "linux/arm64", &format!("{h}/multi:1")],
    );
    assert_eq!(out.trim(), index);
    store_is_sound(&sb2.store());
    let s2 = Store::open(sb2.store()).expect("store");
    assert!(s2.has(&arm));
    let amd = Store::open(sb.store())
        .expect("store")
        .resolve_tag("hello:amd64")
        .expect("index")
        .expect("tag")
        .digest;
    assert!(!s2.has(&amd), "only the platform asked for");
    // It cannot be pushed whole from there.
    let err = fails(
        &sb2,
        &[
            "push",
            &format!("{h}/multi:1"),
            &format!("docker://{h}/partial:1"),
        ],
    );
    assert!(err.contains("pulled for some platforms only"), "{err}");
    // --platform pushes that one manifest.
    let (out, _) = ok(
        &sb2,
        &[
            "push",
            "--platform",
            "linux/arm64",
            &format!("{h}/multi:1"),
            &format!("docker://{h}/arm-only:1"),
        ],
    );
    assert_eq!(out.trim(), arm.to_string());

    // FROM a multi-platform image: base.digest is the index digest (as BuildKit records
    // it), whether the base was pulled or found in the store.
    let ctx = sb2.path("ctx");
    sb2.write("ctx/Dockerfile", &format!("FROM {h}/multi:1\nENV X=1\n"));
    let fresh = Sandbox::new();
    let a = fresh.build_ok(&ctx, &["--platform", "linux/arm64", "-t", "child:1"]);
    let ann = manifest_annotations(&fresh, "child:1");
    assert_eq!(ann["org.opencontainers.image.base.digest"], index);
    assert_eq!(
        ann["org.opencontainers.image.base.name"],
        format!("{h}/multi:1")
    );
    assert_eq!(
        fresh.build_ok(&ctx, &["--platform", "linux/arm64", "-t", "child:2"]),
        a
    );
    assert_eq!(
        sb2.build_ok(&ctx, &["--platform", "linux/arm64", "-t", "child:3"]),
        a,
        "the same image from a store that pulled the base with lading pull"
    );
    // Another platform of a partially pulled index is pulled on demand.
    fresh.build_ok(&ctx, &["--platform", "linux/amd64", "-t", "child:amd"]);
    store_is_sound(&fresh.store());

    // cp registry → registry copies every platform, digest unchanged (crane copy).
    let (out, _) = ok(
        &sb2,
        &[
            "cp",
            &format!("docker://{h}/multi:1"),
            &format!("docker://{h}/copy/multi:1"),
        ],
    );
    assert_eq!(out.trim(), index);
    assert_eq!(
        skopeo_digest(
            &format!("docker://{h}/copy/multi:1"),
            &["--tls-verify=false"]
        ),
        index
    );

    // A Docker manifest list (skopeo converts the index), pulled per platform.
    skopeo(&[
        "copy",
        "--all",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{h}/multi:1"),
        &format!("docker://{h}/v2s2:1"),
    ]);
    let list = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{h}/v2s2:1"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(
        v["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let list_digest = sha256(&list.stdout);
    let sb3 = Sandbox::new();
    for arch in ["amd64", "arm64"] {
        let (out, _) = ok(
            &sb3,
            &[
                "pull",
                "--platform",
                &format!("linux/{arch}"),
                &format!("{h}/v2s2:1"),
            ],
        );
        assert_eq!(out.trim(), list_digest);
        let (out, _) = ok(
            &sb3,
            &[
                "inspect",
                "--platform",
                &format!("linux/{arch}"),
                &format!("{h}/v2s2:1"),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["config"]["architecture"], arch);
        assert_eq!(
            v["manifest"]["mediaType"],
            "application/vnd.docker.distribution.manifest.v2+json"
        );
    }
    store_is_sound(&sb3.store());
    // Both platforms are there now: the index can be pushed whole, digest unchanged.
    let (out, _) = ok(
        &sb3,
        &[
            "push",
            &format!("{h}/v2s2:1"),
            &format!("docker://{h}/v2s2-again:1"),
        ],
    );
    assert_eq!(out.trim(), list_digest);
}
