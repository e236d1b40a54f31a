//! `--ssh ID=KEYFILE[,KEYFILE]`: docker accepts private key files as well as agent
//! sockets. For key files lading starts a private `ssh-agent` (OpenSSH) on a socket in
//! a temp dir, loads the keys with `ssh-add`, and stops it when the build ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running private agent; killed on drop.
pub struct Agent {
    child: Child,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts an agent holding `keys`.
    pub fn start(id: &str, keys: &[PathBuf]) -> Result<Agent> {
        let dir = tempfile::Builder::new()
            .prefix("lading-ssh-")
            .tempdir()
            .context("creating a directory for the ssh agent")?;
        let sock = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("--ssh {id}: starting ssh-agent (install openssh-client)"))?;
        let mut agent = Agent {
            child,
            sock,
            _dir: dir,
        };
        agent.wait_for_socket(id)?;
        for key in keys {
            let out = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.sock)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("--ssh {id}: running ssh-add"))?;
            if !out.status.success() {
                bail!(
                    "--ssh {id}: ssh-add {} failed: {}",
                    key.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        Ok(agent)
    }

    fn wait_for_socket(&mut self, id: &str) -> Result<()> {
        let start = Instant::now();
        while !self.sock.exists() {
            if let Some(status) = self.child.try_wait()? {
                bail!("--ssh {id}: ssh-agent exited with {status}");
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("--ssh {id}: ssh-agent did not create its socket");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The agent's socket.
    pub fn socket(&self) -> &Path {
        &self.sock
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
