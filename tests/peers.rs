//! Interop with real peer tools nobody on this project wrote: umoci unpacks our OCI
//! layouts, skopeo reads our archives and pushes our layout to a real registry
//! (CNCF distribution) without changing a digest.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{Sandbox, assert_success, json_blob, require_tool, run, sha256, stdout};

const DOCKERFILE: &str = "\
FROM scratch
COPY app/ /srv/www/
COPY --chmod=0755 app/hello.sh /usr/local/bin/hello
COPY --chown=1000:1001 --chmod=0640 secret.txt /etc/app/secret.txt
LABEL org.example.peer=yes
ENTRYPOINT [\"/usr/local/bin/hello\"]
";

/// A context with a known tree; returns its path.
fn context(sb: &Sandbox) -> PathBuf {
    sb.write("ctx/Dockerfile", DOCKERFILE);
    sb.write("ctx/app/index.html", "<h1>hello</h1>\n");
    sb.write("ctx/app/hello.sh", "#!/bin/sh\necho hello\n");
    sb.write("ctx/secret.txt", "not really\n");
    // COPY keeps the context's modes: pin them whatever the umask, as git would.
    for (rel, mode) in [
        ("ctx/app", 0o755),
        ("ctx/app/index.html", 0o644),
        ("ctx/app/hello.sh", 0o644),
        ("ctx/secret.txt", 0o644),
    ] {
        std::fs::set_permissions(sb.path(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }
    sb.path("ctx")
}

/// Builds the context with one `-o` output and returns (manifest digest, metadata).
fn build_with_output(sb: &Sandbox, output: &str) -> (String, serde_json::Value) {
    let ctx = context(sb);
    let meta = sb.path("meta.json");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-t", "hello", "-o", output]);
    cmd.arg("--metadata-file").arg(&meta).arg(&ctx);
    assert_success(&run(&mut cmd));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(meta).expect("metadata")).expect("json");
    let digest = meta["containerimage.digest"]
        .as_str()
        .expect("digest")
        .to_string();
    (digest, meta)
}

fn skopeo(args: &[&str]) -> String {
    let out = run(Command::new("skopeo").args(args));
    assert_success(&out);
    stdout(&out)
}

#[test]
fn umoci_unpacks_oci_layout_output() {
    if !require_tool("umoci") {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.path("layout");
    let (digest, _) = build_with_output(&sb, &format!("type=oci,dest={},tar=false", dir.display()));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    let bundle = sb.path("bundle");
    let root = common::is_root();
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !root {
        cmd.arg("--rootless");
    }
    cmd.arg("--image")
        .arg(format!("{}:latest", dir.display()))
        .arg(&bundle);
    assert_success(&run(&mut cmd));

    let rootfs = bundle.join("rootfs");
    let meta = |rel: &str| {
        std::fs::symlink_metadata(rootfs.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/www/index.html")).unwrap(),
        "<h1>hello</h1>\n"
    );
    assert_eq!(
        meta("srv/www/index.html").permissions().mode() & 0o7777,
        0o644
    );
    assert_eq!(
        meta("srv/www/hello.sh").permissions().mode() & 0o7777,
        0o644
    );
    assert_eq!(
        meta("usr/local/bin/hello").permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        meta("etc/app/secret.txt").permissions().mode() & 0o7777,
        0o640
    );
    assert!(meta("srv/www").is_dir());
    assert_eq!(meta("srv/www").permissions().mode() & 0o7777, 0o755);
    if root {
        assert_eq!(
            (
                meta("srv/www/index.html").uid(),
                meta("srv/www/index.html").gid()
            ),
            (0, 0)
        );
        assert_eq!(
            (
                meta("etc/app/secret.txt").uid(),
                meta("etc/app/secret.txt").gid()
            ),
            (1000, 1001)
        );
    } else {
        eprintln!("not root: unpacked rootless, owners not checked");
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"][0], "/usr/local/bin/hello");
}

#[test]
fn skopeo_reads_oci_archive() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    let tar = sb.path("x.tar");
    let (digest, meta) = build_with_output(&sb, &format!("type=oci,dest={}", tar.display()));
    let manifest = json_blob(&sb.store(), &digest);
    let target = format!("oci-archive:{}", tar.display());

    let raw = skopeo(&["inspect", "--raw", &target]);
    assert_eq!(sha256(raw.as_bytes()), digest, "manifest bytes changed");

    let info: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &target])).unwrap();
    assert_eq!(info["Digest"], digest.as_str());
    let want: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let have: Vec<&str> = info["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(have, want);
    assert_eq!(info["Labels"]["org.example.peer"], "yes");
    assert_eq!(info["Os"], "linux");

    let config = skopeo(&["inspect", "--config", "--raw", &target]);
    assert_eq!(
        sha256(config.as_bytes()),
        meta["containerimage.config.digest"].as_str().unwrap()
    );
}

#[test]
fn skopeo_reads_docker_archive() {
    if !require_tool("skopeo") {
        return;
    }
    let sb = Sandbox::new();
    let tar = sb.path("d.tar");
    let (digest, meta) = build_with_output(&sb, &format!("type=docker,dest={}", tar.display()));
    let config_digest = meta["containerimage.config.digest"].as_str().unwrap();
    let config = json_blob(&sb.store(), config_digest);
    let target = format!("docker-archive:{}", tar.display());

    let info: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &target])).unwrap();
    // docker archives hold uncompressed layers: their digests are the diff-ids.
    assert_eq!(info["Layers"], config["rootfs"]["diff_ids"]);
    assert_eq!(
        info["Layers"].as_array().unwrap().len(),
        json_blob(&sb.store(), &digest)["layers"]
            .as_array()
            .unwrap()
            .len()
    );
    assert_eq!(info["Labels"]["org.example.peer"], "yes");
    // skopeo only reports RepoTags for registries; the archive's tag must resolve.
    let tagged = format!("{target}:hello:latest");
    let by_tag: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &tagged])).unwrap();
    assert_eq!(by_tag["Layers"], info["Layers"]);

    let raw: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--raw", &target])).unwrap();
    assert_eq!(raw["config"]["digest"], config_digest);
    let config_bytes = skopeo(&["inspect", "--config", "--raw", &target]);
    assert_eq!(sha256(config_bytes.as_bytes()), config_digest);
}

/// A `docker-registry` on 127.0.0.1, killed on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker-registry");
        let mut reg = Registry {
            child,
            port,
            _dir: dir,
        };
        reg.wait_ready();
        reg
    }

    /// Polls `GET /v2/` until it answers 200; fails if the registry exits.
    fn wait_ready(&mut self) {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("docker-registry exited ({status}): {err}");
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let req = format!(
                    "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                let mut resp = String::new();
                if s.write_all(req.as_bytes()).is_ok()
                    && s.read_to_string(&mut resp).is_ok()
                    && resp.starts_with("HTTP/1.1 200")
                {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn skopeo_pushes_oci_layout_to_registry_keeping_the_digest() {
    if !require_tool("skopeo") || !require_tool("docker-registry") {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.path("layout");
    let (digest, meta) =
        build_with_output(&sb, &format!("type=oci,dest={},tar=false", dir.display()));
    assert_eq!(
        meta["containerimage.digest"],
        meta["containerimage.descriptor"]["digest"]
    );

    let reg = Registry::start();
    let dest = format!("docker://127.0.0.1:{}/hello:latest", reg.port);
    let src = format!("oci:{}:latest", dir.display());
    skopeo(&[
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src,
        &dest,
    ]);

    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert_eq!(
        sha256(raw.as_bytes()),
        digest,
        "pushed manifest bytes differ"
    );
    let remote = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &dest,
    ]);
    assert_eq!(remote.trim(), digest);
    // Every layer is in the registry under the same digest.
    let by_digest = format!("docker://127.0.0.1:{}/hello@{digest}", reg.port);
    let info: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &by_digest])).unwrap();
    let manifest = json_blob(&sb.store(), &digest);
    let want: Vec<&serde_json::Value> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["digest"])
        .collect();
    let have: Vec<&serde_json::Value> = info["Layers"].as_array().unwrap().iter().collect();
    assert_eq!(have, want);
}

/// The differential tests' harness works end to end: a private dockerd builds with
/// BuildKit, `docker export` gives its root filesystem, and a COPY-only image with
/// explicit modes comes out the same from lading's `-o type=local` and from BuildKit.
#[test]
fn buildkit_in_a_private_dockerd_matches_lading_on_a_copy_only_image() {
    use common::tree::{assert_same_tree, tree_of_dir, tree_of_tar, without_docker_sandbox};
    use std::os::unix::fs::PermissionsExt;
    let Some(docker) = common::dockerd::Dockerd::start() else {
        return;
    };
    let sb = Sandbox::new();
    sb.write(
        "ctx/Dockerfile",
        "FROM scratch\nCOPY app/ /srv/app/\nCOPY --chown=1000:1001 --chmod=0640 app/a.txt /etc/a\n",
    );
    sb.write("ctx/app/a.txt", "a\n");
    sb.write("ctx/app/sub/b.txt", "b\n");
    for (path, mode) in [
        ("ctx/app", 0o755),
        ("ctx/app/sub", 0o755),
        ("ctx/app/a.txt", 0o644),
        ("ctx/app/sub/b.txt", 0o644),
    ] {
        std::fs::set_permissions(sb.path(path), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }
    docker.build_ok(&sb.path("ctx"), "harness:1", &[]);
    let theirs = without_docker_sandbox(tree_of_tar(&docker.rootfs_tar("harness:1")), false);
    let out = sb.path("rootfs");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "-o"]);
    cmd.arg(format!("type=local,dest={}", out.display()))
        .arg(sb.path("ctx"));
    assert_success(&run(&mut cmd));
    let ours = tree_of_dir(&out);
    assert_same_tree("COPY-only image", "lading", &ours, "BuildKit", &theirs);
    assert_eq!(ours["etc/a"].mode, 0o640, "{ours:?}");
}

/// The Go-built peers later tests verify against (cosign, crane, grype, syft, trivy, oras,
/// actionlint, timestamp-server, diffoci) are installed by `scripts/install-peers` at the pinned versions it
/// names, and run. On CI a missing one fails here, naming it.
#[test]
fn go_built_peers_are_installed_at_their_pinned_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script =
        std::fs::read_to_string(root.join("scripts/install-peers")).expect("install-peers");
    let list = script
        .split("go_peers=(")
        .nth(1)
        .and_then(|rest| rest.split("\n)").next())
        .expect("go_peers=( … ) in scripts/install-peers");
    let peers: Vec<(&str, &str, &str)> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.trim_matches('"');
            let mut w = l.split_whitespace();
            Some((w.next()?, w.next()?, w.next()?))
        })
        .collect();
    let names: Vec<&str> = peers.iter().map(|p| p.0).collect();
    assert_eq!(
        names,
        [
            "crane",
            "cosign",
            "grype",
            "syft",
            "trivy",
            "oras",
            "actionlint",
            "timestamp-server",
            "diffoci"
        ],
        "{list}"
    );
    for (name, package, version) in peers {
        let bin = root.join("target/peers/go/bin").join(name);
        if !common::require(
            bin.is_file(),
            &format!("{name} {version} in target/peers/go/bin (scripts/install-peers)"),
        ) {
            continue;
        }
        // The module path of `MODULE/cmd/NAME`, as `go version -m` names the main module.
        let module = package.split("/cmd/").next().expect("module");
        let info = run(Command::new("go").arg("version").arg("-m").arg(&bin));
        assert_success(&info);
        let text = stdout(&info);
        let main_module = text
            .lines()
            .find(|l| l.trim_start().starts_with("mod\t"))
            .unwrap_or_default()
            .split('\t')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>();
        assert_eq!(
            main_module.get(1..3),
            Some(&[module, version][..]),
            "{name}: build info says {text}"
        );
        let out = run(Command::new(&bin).arg("--help"));
        assert_success(&out);
    }
}
