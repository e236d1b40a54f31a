//! A private `dockerd` (Debian's `docker.io`: Docker 20.10 with BuildKit) for
//! differential tests: BuildKit is the reference for Dockerfile semantics (PEERS.md).
//!
//! Each [`Dockerd`] is its own engine: data root, exec root, pid file and socket in a
//! temp dir, no iptables, no bridge (builds run with `--network none`). It is stopped
//! (SIGTERM, then SIGKILL) and its directory removed when the value is dropped, so a
//! test never leaves one running. The client is Debian's `/usr/bin/docker`, the one that
//! matches the engine (a newer docker CLI elsewhere on `PATH` is not used).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{assert_success, have_tool, is_root, require, run};

/// Debian's docker client, matching its dockerd.
pub const DOCKER: &str = "/usr/bin/docker";

/// A running private engine.
pub struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Dockerd {
    /// Starts an engine and waits until it answers. `None` (the test should return) when
    /// dockerd, its client, skopeo or root is missing and the test is not on CI; on CI
    /// that fails the test, as does an engine that does not start.
    pub fn start() -> Option<Dockerd> {
        let ok = require(is_root(), "root (for dockerd)")
            && require(
                have_tool("dockerd") && Path::new(DOCKER).exists(),
                "dockerd and /usr/bin/docker (Debian's docker.io)",
            )
            && require(
                have_tool("skopeo"),
                "peer tool `skopeo` (loads images into dockerd)",
            );
        if !ok {
            return None;
        }
        // Short path: the socket path must fit in sun_path (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("ld-dockerd-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log");
        let p = |name: &str| dir.path().join(name);
        let mut cmd = Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(p("root"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("pid"))
            .arg("--host")
            .arg(format!("unix://{}", p("sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--storage-driver", "overlay2"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            // Its own process group: dropping the engine stops containerd with it.
            .process_group(0);
        let child = cmd.spawn().expect("spawn dockerd");
        let mut engine = Dockerd { dir, child };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = engine.child.try_wait().expect("wait dockerd") {
                panic!("dockerd exited with {status}: {}", engine.log_tail());
            }
            let out = engine
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .output()
                .expect("docker version");
            if out.status.success() {
                return Some(engine);
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 90 s: {}",
                engine.log_tail()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The engine's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// `docker -H unix://SOCKET` with BuildKit on and no user configuration.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .env("DOCKER_BUILDKIT", "1")
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        cmd
    }

    /// Runs `docker ARGS...` and panics with its output when it fails.
    pub fn docker_ok(&self, args: &[&str]) -> Output {
        let out = run(self.docker().args(args));
        assert_success(&out);
        out
    }

    /// Loads tag `tag` of the OCI layout `layout` into the engine as `name`
    /// (`skopeo copy oci:… docker-daemon:…`).
    pub fn load_oci(&self, layout: &Path, tag: &str, name: &str) {
        let out = run(Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-daemon-host"])
            .arg(format!("unix://{}", self.socket().display()))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker-daemon:{name}")));
        assert_success(&out);
    }

    /// `docker build --progress plain --network none EXTRA... CONTEXT` with BuildKit.
    /// Returns the output; the caller decides whether failure is expected.
    pub fn build(&self, context: &Path, extra: &[&str]) -> Output {
        run(self
            .docker()
            .args(["build", "--progress", "plain", "--network", "none"])
            .args(extra)
            .arg(context))
    }

    /// Builds like [`Dockerd::build`], tagging the image `tag`; panics with the output
    /// when the build fails.
    pub fn build_ok(&self, context: &Path, tag: &str, extra: &[&str]) {
        let mut args = vec!["-t", tag];
        args.extend_from_slice(extra);
        assert_success(&self.build(context, &args));
    }

    /// The image's root filesystem as `docker export` writes it (a container is created,
    /// never started, and removed again). The export holds docker's own mount points
    /// too: see [`super::tree::without_docker_sandbox`].
    pub fn rootfs_tar(&self, image: &str) -> Vec<u8> {
        // A command is needed for images without one; it is never run.
        let out = self.docker_ok(&["create", image, "/lading-not-run"]);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let tar = self.docker_ok(&["export", &id]).stdout;
        self.docker_ok(&["rm", "-f", &id]);
        tar
    }

    /// The last lines of the engine's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling the process group we created for this child.
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above; the whole group, containerd and shims included.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
        // Anything dockerd left mounted in its dir would make the removal fail.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(1))
                .filter(|p| Path::new(p).starts_with(self.dir.path()))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = Command::new("umount").arg("-l").arg(p).status();
            }
        }
    }
}
