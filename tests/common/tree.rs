//! Root filesystems as comparable data: what each path is (type, permission bits,
//! owner, link target, content digest), read from a tar stream (`docker export`, a
//! layer) or from a directory (`-o type=local`, `umoci unpack`). Differential tests
//! build the same Dockerfile with lading and a peer and compare two such trees.
//!
//! Modification times are left out on purpose: the peers stamp the build's wall clock.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::sha256;

/// What a path is, minus its timestamps.
#[derive(Clone, PartialEq, Eq)]
pub struct Node {
    /// `f` file, `d` directory, `l` symlink, `c`/`b` device, `p` FIFO, `s` socket.
    pub kind: char,
    /// Permission bits incl. setuid, setgid and sticky (07777).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// A symlink's target, else empty.
    pub target: String,
    /// A regular file's sha256, else empty.
    pub digest: String,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04o} {}:{}",
            self.kind, self.mode, self.uid, self.gid
        )?;
        if !self.target.is_empty() {
            write!(f, " -> {}", self.target)?;
        }
        if !self.digest.is_empty() {
            write!(f, " {}", &self.digest[..12.min(self.digest.len())])?;
        }
        Ok(())
    }
}

/// Path (relative, no leading `/` or `./`, no trailing `/`; the root is left out) → node.
pub type Tree = BTreeMap<String, Node>;

fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// The tree a tar stream describes when it is unpacked onto an empty directory (later
/// entries replace earlier ones; hard links take their target's node). Whiteouts are
/// kept as the paths they are in the stream: compare whole root filesystems, not layers.
pub fn tree_of_tar(bytes: &[u8]) -> Tree {
    let mut tree = Tree::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = clean(&String::from_utf8_lossy(&entry.path_bytes()));
        let header = entry.header().clone();
        let (mut uid, mut gid) = (
            header.uid().expect("uid") as u32,
            header.gid().expect("gid") as u32,
        );
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let value = ext.value().unwrap_or_default();
                match ext.key().unwrap_or_default() {
                    "uid" => uid = value.parse().expect("pax uid"),
                    "gid" => gid = value.parse().expect("pax gid"),
                    _ => {}
                }
            }
        }
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mode = header.mode().expect("mode") & 0o7777;
        let kind = header.entry_type();
        let node = if kind.is_hard_link() {
            match tree.get(&clean(&link)) {
                Some(target) => target.clone(),
                None => panic!("hard link {path} to {link}, which the stream has not had"),
            }
        } else {
            let (kind, target, digest) = match kind {
                tar::EntryType::Directory => ('d', String::new(), String::new()),
                tar::EntryType::Symlink => ('l', link, String::new()),
                tar::EntryType::Char => ('c', String::new(), String::new()),
                tar::EntryType::Block => ('b', String::new(), String::new()),
                tar::EntryType::Fifo => ('p', String::new(), String::new()),
                _ => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).expect("tar data");
                    ('f', String::new(), sha256(&data))
                }
            };
            Node {
                kind,
                mode,
                uid,
                gid,
                target,
                digest,
            }
        };
        if path.is_empty() {
            continue;
        }
        tree.insert(path, node);
    }
    tree
}

/// The tree under `root` on disk (`root` itself left out).
pub fn tree_of_dir(root: &Path) -> Tree {
    let mut tree = Tree::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.expect("walk");
        let md = entry.path().symlink_metadata().expect("lstat");
        let ft = md.file_type();
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("inside root")
            .to_string_lossy()
            .into_owned();
        let (kind, target, digest) = if ft.is_dir() {
            ('d', String::new(), String::new())
        } else if ft.is_symlink() {
            let t = std::fs::read_link(entry.path()).expect("readlink");
            ('l', t.to_string_lossy().into_owned(), String::new())
        } else if ft.is_file() {
            let data = std::fs::read(entry.path()).expect("read");
            ('f', String::new(), sha256(&data))
        } else if ft.is_char_device() {
            ('c', String::new(), String::new())
        } else if ft.is_block_device() {
            ('b', String::new(), String::new())
        } else if ft.is_fifo() {
            ('p', String::new(), String::new())
        } else {
            ('s', String::new(), String::new())
        };
        tree.insert(
            rel,
            Node {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                target,
                digest,
            },
        );
    }
    tree
}

/// The tree without what docker's sandbox adds to every container's root (`docker
/// export` of a created container): `/.dockerenv`, the `/etc/hosts`, `/etc/hostname`,
/// `/etc/resolv.conf` mount points, its `/etc/mtab` symlink to `/proc/mounts` (made when
/// the image has no `/etc/mtab`), and whatever lies under `/dev`, `/proc` and `/sys`.
/// Those directories themselves stay only when `keep_mount_dirs` says so (docker creates
/// them even when the image has none).
pub fn without_docker_sandbox(mut tree: Tree, keep_mount_dirs: bool) -> Tree {
    tree.retain(|path, node| {
        let top = path.split('/').next().unwrap_or_default();
        let is_mount_dir = ["dev", "proc", "sys"].contains(&path.as_str());
        !(path == ".dockerenv"
            || ["etc/hosts", "etc/hostname", "etc/resolv.conf"].contains(&path.as_str())
            || (path == "etc/mtab" && node.kind == 'l' && node.target == "/proc/mounts")
            || (["dev", "proc", "sys"].contains(&top) && !is_mount_dir)
            || (is_mount_dir && !keep_mount_dirs))
    });
    tree
}

/// Every difference between two trees, one line each (`a` and `b` name the sides).
pub fn differences(a_name: &str, a: &Tree, b_name: &str, b: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, node) in a {
        match b.get(path) {
            None => out.push(format!("/{path}: only in {a_name} ({node:?})")),
            Some(other) if other != node => {
                out.push(format!("/{path}: {a_name} {node:?}, {b_name} {other:?}"))
            }
            Some(_) => {}
        }
    }
    for (path, node) in b {
        if !a.contains_key(path) {
            out.push(format!("/{path}: only in {b_name} ({node:?})"));
        }
    }
    out
}

/// Panics listing every difference when the trees differ.
pub fn assert_same_tree(what: &str, a_name: &str, a: &Tree, b_name: &str, b: &Tree) {
    let diffs = differences(a_name, a, b_name, b);
    assert!(
        diffs.is_empty(),
        "{what}: {} differences between {a_name} and {b_name}:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
