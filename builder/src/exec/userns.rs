//! Rootless builds: a non-root `lading` re-executes itself inside a new user namespace
//! where it is root, the way `buildah unshare` does, so unpacking layers with their
//! owners, mounting overlayfs and writing layers all work unchanged.
//!
//! Mapping: with subordinate ids for the user in `/etc/subuid` and `/etc/subgid`, the
//! setuid helpers `newuidmap`/`newgidmap` map container 0 to the user and 1..=N to the
//! subordinate range (a full mapping: `apt-get` can drop to `_apt`, files keep their
//! owners). Without them, only container 0 is mapped to the user; steps that need
//! another user then fail with a clear error.
//!
//! Handshake: the child unshares its user namespace first thing in `main` (it is
//! single-threaded there), says so on fd 3, and waits on fd 4 until the parent, still
//! outside, has written its id maps. No exec happens between unsharing and mapping, so
//! the child keeps the full capability set it got in the new namespace.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};

use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Gid, Uid, setresgid, setresuid};

/// Set in the environment of the re-executed child.
pub const USERNS_ENV: &str = "_LADING_USERNS_CHILD";

const CHILD_READY_FD: i32 = 3;
const PARENT_DONE_FD: i32 = 4;

/// One line of `/etc/subuid` or `/etc/subgid`: first id and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubIds {
    /// First subordinate id.
    pub start: u32,
    /// How many.
    pub count: u32,
}

/// The subordinate range of `user` (name or numeric id) in a subuid/subgid file's text.
pub fn parse_subids(text: &str, name: &str, id: u32) -> Option<SubIds> {
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let who = f.next()?;
        let start = f.next()?.trim().parse().ok()?;
        let count = f.next()?.trim().parse().ok()?;
        (who == name || who.parse() == Ok(id)).then_some(SubIds { start, count })
    })
}

/// Whether this process is in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .map(|m| {
            let f: Vec<&str> = m.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        })
        .unwrap_or(false)
}

/// One user namespace's id maps (`/proc/self/uid_map`, `gid_map`, `setgroups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMapping {
    uids: Vec<(u32, u32, u32)>,
    gids: Vec<(u32, u32, u32)>,
    setgroups: bool,
}

fn parse_map(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(str::parse::<u32>);
            Some((f.next()?.ok()?, f.next()?.ok()?, f.next()?.ok()?))
        })
        .collect()
}

fn in_map(map: &[(u32, u32, u32)], id: u32) -> bool {
    map.iter().any(|(inside, _, count)| {
        id >= *inside && u64::from(id) < u64::from(*inside) + u64::from(*count)
    })
}

impl IdMapping {
    /// Parses the texts of `uid_map`, `gid_map` and `setgroups`.
    pub fn parse(uid_map: &str, gid_map: &str, setgroups: &str) -> IdMapping {
        IdMapping {
            uids: parse_map(uid_map),
            gids: parse_map(gid_map),
            setgroups: setgroups.trim() != "deny",
        }
    }

    /// The mapping of this process's user namespace.
    pub fn current() -> io::Result<IdMapping> {
        Ok(IdMapping::parse(
            &fs::read_to_string("/proc/self/uid_map")?,
            &fs::read_to_string("/proc/self/gid_map")?,
            &fs::read_to_string("/proc/self/setgroups").unwrap_or_default(),
        ))
    }

    /// Whether user `id` (as seen inside) exists in the namespace.
    pub fn maps_uid(&self, id: u32) -> bool {
        in_map(&self.uids, id)
    }

    /// Whether group `id` (as seen inside) exists in the namespace.
    pub fn maps_gid(&self, id: u32) -> bool {
        in_map(&self.gids, id)
    }

    /// Whether `setgroups(2)` is allowed (it is denied with a single-id mapping).
    pub fn setgroups_allowed(&self) -> bool {
        self.setgroups
    }
}

/// A short name for this process's id mapping (a hash of `uid_map` and `gid_map`):
/// files written under one mapping show other owners under another.
pub fn mapping_id() -> io::Result<String> {
    let mut h = lading_oci::hash::Sha256::new();
    h.update(fs::read_to_string("/proc/self/uid_map")?.as_bytes());
    h.update(b"\n");
    h.update(fs::read_to_string("/proc/self/gid_map")?.as_bytes());
    Ok(h.finish().hex()[..16].to_string())
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
    })
}

/// Parent side: runs this same command line again in a new user namespace and returns
/// how it ended.
pub fn reexec() -> io::Result<ExitStatus> {
    let (ready_r, ready_w) = std::io::pipe()?;
    let (done_r, done_w) = std::io::pipe()?;
    // /proc/self/exe: the running binary even if its file was replaced meanwhile.
    let exe = std::path::PathBuf::from("/proc/self/exe");
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env(USERNS_ENV, "1");
    let ready_fd = OwnedFd::from(ready_w);
    let done_fd = OwnedFd::from(done_r);
    let (rw, dr) = (ready_fd.as_raw_fd(), done_fd.as_raw_fd());
    // SAFETY: dup2 is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::dup2(rw, CHILD_READY_FD) < 0 || nix::libc::dup2(dr, PARENT_DONE_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(cmd);
    drop(ready_fd);
    drop(done_fd);
    let mut ready_r = ready_r;
    let mut byte = [0u8; 1];
    if ready_r.read(&mut byte)? == 0 {
        // The child failed before unsharing; its status says why.
        return child.wait();
    }
    if let Err(e) = write_maps(child.id()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let mut done_w = done_w;
    done_w.write_all(b"m")?;
    drop(done_w);
    child.wait()
}

fn write_maps(pid: u32) -> io::Result<()> {
    let uid = Uid::current().as_raw();
    let gid = Gid::current().as_raw();
    let name = user_name(uid).unwrap_or_default();
    let subuid = fs::read_to_string("/etc/subuid")
        .ok()
        .and_then(|t| parse_subids(&t, &name, uid));
    let subgid = fs::read_to_string("/etc/subgid")
        .ok()
        .and_then(|t| parse_subids(&t, &name, uid));
    if let (Some(su), Some(sg)) = (subuid, subgid) {
        let run = |tool: &str, id: u32, sub: SubIds| -> io::Result<()> {
            let out = Command::new(tool)
                .arg(pid.to_string())
                .args(["0", &id.to_string(), "1"])
                .args(["1", &sub.start.to_string(), &sub.count.to_string()])
                .output()
                .map_err(|e| io::Error::new(e.kind(), format!("running {tool}: {e}")))?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "{tool} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        };
        run("newuidmap", uid, su)?;
        run("newgidmap", gid, sg)?;
        return Ok(());
    }
    let proc = format!("/proc/{pid}");
    fs::write(format!("{proc}/setgroups"), "deny")?;
    fs::write(format!("{proc}/uid_map"), format!("0 {uid} 1\n"))?;
    fs::write(format!("{proc}/gid_map"), format!("0 {gid} 1\n"))?;
    Ok(())
}

/// Child side: call first thing in `main` when [`USERNS_ENV`] is set.
pub fn enter() -> io::Result<()> {
    // SAFETY: the parent put these descriptors in place for us (see `reexec`).
    let mut ready = unsafe { fs::File::from_raw_fd(CHILD_READY_FD) };
    let mut done = unsafe { fs::File::from_raw_fd(PARENT_DONE_FD) };
    unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| io::Error::other(format!("creating a user namespace: {e}")))?;
    ready.write_all(b"u")?;
    drop(ready);
    let mut byte = [0u8; 1];
    if done.read(&mut byte)? == 0 {
        return Err(io::Error::other(
            "the parent could not map ids into the user namespace",
        ));
    }
    drop(done);
    let root_g = Gid::from_raw(0);
    let root_u = Uid::from_raw(0);
    setresgid(root_g, root_g, root_g).map_err(io::Error::from)?;
    setresuid(root_u, root_u, root_u).map_err(io::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subids_by_name_or_id() {
        let text = "alice:100000:65536\n1001:200000:1000\n";
        assert_eq!(
            parse_subids(text, "alice", 1000),
            Some(SubIds {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(
            parse_subids(text, "bob", 1001),
            Some(SubIds {
                start: 200000,
                count: 1000
            })
        );
        assert_eq!(parse_subids(text, "carol", 1002), None);
    }

    #[test]
    fn mapping_knows_which_ids_exist() {
        let full = IdMapping::parse(
            "         0       1001          1\n         1     100000      65536\n",
            "         0       1001          1\n         1     100000      65536\n",
            "allow\n",
        );
        assert!(full.maps_uid(0) && full.maps_uid(1000) && full.maps_uid(65536));
        assert!(!full.maps_uid(65537));
        assert!(full.maps_gid(5) && full.setgroups_allowed());
        let single = IdMapping::parse("0 1002 1\n", "0 1002 1\n", "deny\n");
        assert!(single.maps_uid(0) && !single.maps_uid(1000) && !single.maps_gid(5));
        assert!(!single.setgroups_allowed());
        let host = IdMapping::parse("0 0 4294967295\n", "0 0 4294967295\n", "allow\n");
        assert!(host.maps_uid(u32::MAX - 1));
    }
}
