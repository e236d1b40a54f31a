//! The RUN sandbox: runs one Dockerfile step natively in new Linux namespaces, without
//! runc or a daemon.
//!
//! The build process never forks itself (it is multi-threaded, and `fork` in a threaded
//! process may only call async-signal-safe code). Instead [`run`] starts a *helper*: the
//! `lading` binary again, with [`HELPER_ENV`] set, whose `main` calls [`helper_main`]
//! before anything else. The helper is single-threaded, reads a [`RunSpec`] as JSON from
//! its stdin and then, in order:
//!
//! 1. unshares mount, PID, UTS and IPC namespaces (and network for `--network=none`);
//! 2. forks the PID namespace's init, which makes every mount private, mounts the step's
//!    root (overlayfs of the snapshot lowers plus the step's upper dir, or a plain
//!    directory for the copy snapshotter), a fresh `/proc`, a minimal `/dev`, a read-only
//!    `/sys`, the `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` files and the
//!    step's `--mount`s, then `pivot_root`s into it;
//! 3. forks the command, which drops to docker's default capability set, takes the
//!    step's user and groups, enters the working directory and `execve`s;
//! 4. init reaps every process until the command exits, and exits with its status.
//!    When init exits the kernel kills whatever the step left running.
//!
//! Rootless builds run all of this inside the user namespace [`userns`] made, where
//! the build is root. The differences: overlayfs is mounted with `userxattr`; a fresh
//! sysfs needs the network namespace to belong to the user namespace, so with the
//! host's network `/sys` is a read-only bind of the host's; devpts may not get
//! `gid=5` (unmapped without subordinate ids); read-only remounts keep the flags the
//! kernel locked on mounts inherited from the host (`nosuid`, `nodev`, `noexec`); and
//! with a single-id mapping (`setgroups` denied) supplementary groups are not set, as
//! runc does, while a user or group outside the mapping is an error.
//!
//! Every mount lives in the helper's private mount namespace: the host never sees them
//! and nothing needs unmounting. Mount points the sandbox had to create inside the root
//! (a missing `/proc`, `/etc/hosts`, a `--mount` target) are reported back so the
//! snapshotter keeps them out of the layer. Secrets only ever exist in a tmpfs of that
//! namespace and in the pipe that carried the spec.

pub mod binfmt;
mod child;
mod net;
pub(crate) mod rootpath;
pub mod userns;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// Set (to any value) in the environment of the helper process.
pub const HELPER_ENV: &str = "_LADING_SANDBOX_HELPER";

/// The hostname every step sees (BuildKit uses a fixed name too).
pub const HOSTNAME: &str = "buildkitsandbox";

/// Exit code of the helper when the sandbox could not be set up or the command could
/// not be started (the reason is in the report file).
pub const SETUP_FAILED: i32 = 125;

/// Docker's default capability set for build steps.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The root filesystem a step runs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RootSpec {
    /// An overlayfs: `lowers` top-most first; changes land in `upper`.
    Overlay {
        /// Read-only snapshot directories, top-most first.
        lowers: Vec<PathBuf>,
        /// The step's upper dir (becomes its layer).
        upper: PathBuf,
        /// overlayfs' work dir, on the same file system as `upper`.
        work: PathBuf,
        /// The xattrs the lowers mark opaque directories with (`User`: mounted with
        /// `userxattr`, as a user namespace needs).
        #[serde(default)]
        xattrs: crate::snapshot::OverlayXattrs,
    },
    /// A plain directory, changed in place (the copy-and-compare snapshotter).
    Dir(PathBuf),
}

/// Network of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// The host's network namespace (what `default` and `host` give; see the docs).
    Host,
    /// A new network namespace with only loopback.
    None,
}

/// What is mounted at a `--mount` target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MountKind {
    /// A bind mount of a host path (file or directory).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Mounted read-only.
        readonly: bool,
    },
    /// An empty tmpfs.
    Tmpfs {
        /// Size limit in bytes, if any.
        size: Option<u64>,
    },
    /// A file whose content only ever lives in memory (secrets).
    File {
        /// Content.
        content: Vec<u8>,
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
}

/// One mount of a step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub target: String,
    /// What to mount there.
    pub kind: MountKind,
}

/// Everything the helper needs to run one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// The root filesystem.
    pub root: RootSpec,
    /// A host directory private to this step (the helper mounts the root here).
    pub state_dir: PathBuf,
    /// The command; `argv[0]` is looked up in the `PATH` of `env` when it has no `/`.
    pub argv: Vec<String>,
    /// Environment (`K=V`).
    pub env: Vec<String>,
    /// Working directory (absolute; created when missing, as runc does).
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Network.
    pub network: NetworkMode,
    /// Content of `/etc/hosts`.
    pub hosts: String,
    /// Content of `/etc/resolv.conf`.
    pub resolv_conf: String,
    /// `--mount`s, mounted in order.
    pub mounts: Vec<MountSpec>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The command's exit code (128 + signal when it was killed by one).
    pub exit_code: i32,
    /// Paths (relative to the root, no leading `/`) that the sandbox created as mount
    /// points; they are not part of the step's changes.
    pub created: Vec<String>,
    /// The last lines the command printed (for error messages).
    pub tail: Vec<String>,
}

/// Why a step could not be run at all (as opposed to running and failing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// Starting or talking to the helper failed.
    #[error("sandbox helper {helper}: {source}")]
    Helper {
        /// The helper binary.
        helper: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The helper could not set the sandbox up or start the command.
    #[error("{0}")]
    Setup(String),
}

/// What the helper tells the build process, one JSON object per line of the report file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    /// Mount points the sandbox created.
    Created(Vec<String>),
    /// Setup failed.
    Error(String),
}

/// How many trailing output lines [`RunOutcome::tail`] keeps.
pub const TAIL_LINES: usize = 10;

/// Runs `spec` through the helper binary `helper` (normally `/proc/self/exe`),
/// calling `on_line` with every line the command prints (stdout and stderr, interleaved
/// as they come).
pub fn run(
    spec: &RunSpec,
    helper: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<RunOutcome, ExecError> {
    let io_err = |source| ExecError::Helper {
        helper: helper.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(&spec.state_dir).map_err(io_err)?;
    let report_path = spec.state_dir.join("report.jsonl");
    let (mut reader, writer) = std::io::pipe().map_err(io_err)?;
    let mut cmd = Command::new(helper);
    cmd.env_clear()
        .env(HELPER_ENV, "1")
        .arg(&report_path)
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().map_err(io_err)?)
        .stderr(writer);
    let mut child = cmd.spawn().map_err(io_err)?;
    // The command holds the write ends of the output pipe: drop it so EOF arrives.
    drop(cmd);
    let spec_json = serde_json::to_vec(spec).map_err(|e| io_err(e.into()))?;
    {
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io_err(std::io::Error::other("helper has no stdin pipe")))?;
        stdin.write_all(&spec_json).map_err(io_err)?;
    }
    let tail = stream_lines(&mut reader, on_line).map_err(io_err)?;
    let status = child.wait().map_err(io_err)?;
    let exit_code = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => SETUP_FAILED,
    };
    let mut created = None;
    let mut error = None;
    if let Ok(text) = std::fs::read_to_string(&report_path) {
        for line in text.lines() {
            match serde_json::from_str::<Report>(line) {
                Ok(Report::Created(c)) => created = Some(c),
                Ok(Report::Error(e)) => error = Some(e),
                Err(_) => {}
            }
        }
    }
    let _ = std::fs::remove_file(&report_path);
    if let Some(e) = error {
        return Err(ExecError::Setup(e));
    }
    // The helper reports the mount points it created once the sandbox is ready.
    let Some(created) = created else {
        return Err(ExecError::Setup(format!(
            "the sandbox helper exited with {exit_code} before the step started"
        )));
    };
    Ok(RunOutcome {
        exit_code,
        created,
        tail: tail.into_iter().collect(),
    })
}

/// Reads `r` to the end, handing each line to `on_line`; returns the last lines.
fn stream_lines(
    r: &mut dyn Read,
    on_line: &mut dyn FnMut(&str),
) -> std::io::Result<VecDeque<String>> {
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        on_line(line);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }
    Ok(tail)
}

/// The helper's entry point: call it first thing in `main` when [`HELPER_ENV`] is set.
/// `args` are the process arguments after the program name (the report file's path).
pub fn helper_main(args: &[String]) -> ! {
    child::main(args)
}

/// The `/etc/hosts` every step sees.
pub fn default_hosts() -> String {
    format!("127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// The `/etc/resolv.conf` steps see: the host's, without loopback name servers when the
/// step has its own network namespace (they would point at nothing), and public
/// fallbacks when none are left, as docker does.
pub fn resolv_conf(host: &str, network: NetworkMode) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("nameserver") {
            let addr = addr.trim();
            if network == NetworkMode::None && (addr.starts_with("127.") || addr == "::1") {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 && network == NetworkMode::Host {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers_only_without_host_network() {
        let host = "search example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        assert_eq!(resolv_conf(host, NetworkMode::Host), host);
        assert_eq!(
            resolv_conf(host, NetworkMode::None),
            "search example\nnameserver 10.0.0.2\n"
        );
    }

    #[test]
    fn stream_lines_keeps_the_tail() {
        let text: String = (0..25).map(|i| format!("line {i}\n")).collect();
        let mut seen = 0;
        let tail = stream_lines(&mut text.as_bytes(), &mut |_| seen += 1).unwrap();
        assert_eq!(seen, 25);
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.back().map(String::as_str), Some("line 24"));
    }
}
