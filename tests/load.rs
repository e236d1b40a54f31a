//! `lading build --load` (and `-o type=docker` without `dest`) streams the image into a
//! real docker engine — Debian's `dockerd` from `docker.io`, started privately — over its
//! image load API. The engine is the oracle: `docker image inspect` must show the config
//! digest as the image id, every `-t` name, our diff-ids and our config; `docker run`
//! runs it; `docker save` gives back our config byte for byte.
//!
//! Contexts are generated from seeds (`LADING_LOAD_SEED`, default 1).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::bases::{BUSYBOX_TAG, busybox_base, oci_ref};
use common::dockerd::Dockerd;
use common::rng::Rng;
use common::{Sandbox, assert_success, json_blob, run, sha256, stderr, stdout};
use serde_json::Value;

/// A context: a generated tree under `files/`, and a Dockerfile whose config fields
/// (env, labels, workdir, user, cmd) come from the seed.
fn generated_context(sb: &Sandbox, seed: u64, base: &str) -> (std::path::PathBuf, String) {
    let mut r = Rng(seed);
    let (mut first, mut first_path) = (String::new(), String::new());
    for i in 0..3 + r.below(6) {
        let dir = *r.pick(&["", "a/", "a/b/", "c/"]);
        let len = r.below(64 * 1024);
        let text: String = (0..len)
            .map(|_| char::from(b'a' + r.below(26) as u8))
            .collect();
        if i == 0 {
            first = text.clone();
            first_path = format!("/data/{dir}f0");
        }
        sb.write(&format!("ctx/files/{dir}f{i}"), &text);
    }
    let greeting = format!("hello-{}", r.next() % 100_000);
    let dockerfile = format!(
        "FROM {base}\n\
         COPY files/ /data/\n\
         ENV GREETING={greeting} SEED={seed}\n\
         LABEL org.example.seed=\"{seed}\" org.example.kind=load\n\
         WORKDIR /data\n\
         USER {user}\n\
         CMD [\"sh\", \"-c\", \"echo $GREETING; cat {first_path}\"]\n",
        user = r.pick(&["0", "65534", "nobody"]),
    );
    sb.write("ctx/Dockerfile", &dockerfile);
    (sb.path("ctx"), format!("{greeting}\n{first}"))
}

/// `lading build` with `DOCKER_HOST` naming `engine`'s socket; returns the metadata.
fn build_into(sb: &Sandbox, engine: &Dockerd, ctx: &Path, extra: &[&str]) -> Value {
    let meta = sb.path("meta.json");
    let mut cmd = sb.lading(&["build", "--progress", "plain"]);
    cmd.args(extra)
        .arg("--metadata-file")
        .arg(&meta)
        .arg(ctx)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", engine.socket().display()),
        );
    let out = run(&mut cmd);
    assert_success(&out);
    serde_json::from_slice(&std::fs::read(meta).expect("metadata")).expect("json")
}

fn inspect(engine: &Dockerd, name: &str) -> Value {
    let out = engine.docker_ok(&["image", "inspect", name]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("inspect json");
    v[0].clone()
}

/// The files of a `docker save` archive by name.
fn tar_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type().is_file() {
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read");
            files.insert(name, data);
        }
    }
    files
}

#[test]
fn load_puts_the_image_into_a_real_dockerd_with_its_id_tags_and_config() {
    let Some(engine) = Dockerd::start() else {
        return;
    };
    let seed: u64 = std::env::var("LADING_LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let sb = Sandbox::new();
    let base = oci_ref(&busybox_base(), BUSYBOX_TAG);
    let (ctx, expected_output) = generated_context(&sb, seed, &base);
    let meta = build_into(
        &sb,
        &engine,
        &ctx,
        &["--load", "-t", "loadtest:1", "-t", "example.com/team/app:2"],
    );
    let config_digest = meta["containerimage.config.digest"].as_str().unwrap();
    let config = json_blob(&sb.store(), config_digest);

    let seen = inspect(&engine, "loadtest:1");
    // docker's image id is the config digest: the engine holds exactly our config.
    assert_eq!(seen["Id"], config_digest, "{seen:#}");
    let mut tags: Vec<&str> = seen["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort();
    assert_eq!(tags, ["example.com/team/app:2", "loadtest:1"]);
    assert_eq!(seen["RootFS"]["Layers"], config["rootfs"]["diff_ids"]);
    for field in ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels"] {
        let ours = &config["config"][field];
        let theirs = &seen["Config"][field];
        let empty = |v: &Value| v.is_null() || v == "" || v == &Value::Array(vec![]);
        assert!(
            ours == theirs || (empty(ours) && empty(theirs)),
            "Config.{field}: lading {ours}, docker {theirs}"
        );
    }
    assert_eq!(seen["Os"], config["os"]);
    assert_eq!(seen["Architecture"], config["architecture"]);

    let out = engine.docker_ok(&["run", "--rm", "--network", "none", "loadtest:1"]);
    assert_eq!(stdout(&out), expected_output);

    // The round trip: what the engine saves is our config, byte for byte, and our layers.
    let saved = tar_files(&engine.docker_ok(&["save", "loadtest:1"]).stdout);
    let manifest: Value = serde_json::from_slice(&saved["manifest.json"]).expect("manifest");
    let config_path = manifest[0]["Config"].as_str().unwrap();
    assert_eq!(sha256(&saved[config_path]), config_digest);
    let layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| sha256(&saved[l.as_str().unwrap()]))
        .collect();
    assert_eq!(serde_json::json!(layers), config["rootfs"]["diff_ids"]);

    // buildx's other spelling: a docker output without a destination is a load.
    let again = build_into(
        &sb,
        &engine,
        &ctx,
        &["-o", "type=docker", "-t", "loadtest:3"],
    );
    assert_eq!(again["containerimage.config.digest"], config_digest);
    assert_eq!(inspect(&engine, "loadtest:3")["Id"], config_digest);
}

#[test]
fn load_without_an_engine_fails_naming_the_socket() {
    let sb = Sandbox::new();
    sb.write("ctx/Dockerfile", "FROM scratch\nCOPY a /a\n");
    sb.write("ctx/a", "a\n");
    let socket = sb.path("no-engine.sock");
    let mut cmd = sb.lading(&["build", "--progress", "plain", "--load", "-t", "x:1"]);
    cmd.arg(sb.path("ctx"))
        .env("DOCKER_HOST", format!("unix://{}", socket.display()));
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("no docker engine answers at {}", socket.display())),
        "{err}"
    );
    // The build itself is kept: the store has the image under its name.
    assert_eq!(sb.tags(), ["x:1"]);

    let mut cmd = sb.lading(&["build", "--progress", "plain", "--load"]);
    cmd.arg(sb.path("ctx"))
        .env("DOCKER_HOST", "tcp://127.0.0.1:2375");
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unix://"), "{}", stderr(&out));
}
