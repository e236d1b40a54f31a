//! A stage's tree as the overlay of its layer snapshots shows it, read in place: what
//! `COPY --from` and `COPY`'s destination need (names, kinds, modes, owners, sizes,
//! link targets and where each file's bytes are), without unpacking every layer again
//! into a directory of its own.
//!
//! The lowers are read bottom-first, each applied like its layer: a 0/0 character
//! device removes the path and what is below it, a directory with an opaque marker
//! hides what the lowers below have under it, a directory over a directory merges,
//! anything else replaces what was there (with its subtree). Nothing is followed: a
//! symlink is a node with a target, resolved by the caller inside the stage's root.
//!
//! The metadata is the snapshot's, so it is the layers' only where the snapshot could
//! reproduce them: [`layered_tree`] is for callers that checked that the snapshots
//! have no warnings and that this process could set owners (see the solver).

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use lading_oci::unpack::{Node, NodeKind, Rootfs};

use super::diff::{link_target, rel_string, walk_error};
use super::{Error, Result, has_opaque_xattr};

/// The merged tree of a stage's snapshots.
#[derive(Debug, Clone, Default)]
pub struct LayeredTree {
    /// Every path and its metadata (`dir` is empty: files live in several lowers).
    pub rootfs: Rootfs,
    /// Where the bytes of each regular file are (inside one of the lowers).
    pub hosts: BTreeMap<String, PathBuf>,
}

impl LayeredTree {
    /// Removes `rel` and everything below it.
    fn remove(&mut self, rel: &str) {
        self.rootfs.nodes.remove(rel);
        self.hosts.remove(rel);
        self.remove_below(rel);
    }

    /// Removes everything below `rel` (every path, for the root `""`).
    fn remove_below(&mut self, rel: &str) {
        if rel.is_empty() {
            self.rootfs.nodes.clear();
            self.hosts.clear();
            return;
        }
        let prefix = format!("{rel}/");
        let doomed: Vec<String> = self
            .rootfs
            .nodes
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in doomed {
            self.rootfs.nodes.remove(&k);
            self.hosts.remove(&k);
        }
    }
}

impl LayeredTree {
    /// Puts `lowers` (top-most first) on top of this tree: the tree of an overlay of
    /// `lowers` over the ones this tree was made of.
    pub fn apply(&mut self, lowers: &[PathBuf]) -> Result<()> {
        for lower in lowers.iter().rev() {
            apply_lower(self, lower)?;
        }
        Ok(())
    }
}

/// The tree that an overlay of `lowers` (top-most first, as for `lowerdir`) shows.
pub fn layered_tree(lowers: &[PathBuf]) -> Result<LayeredTree> {
    let mut tree = LayeredTree::default();
    tree.apply(lowers)?;
    Ok(tree)
}

fn apply_lower(tree: &mut LayeredTree, lower: &Path) -> Result<()> {
    if has_opaque_xattr(lower) {
        tree.remove_below("");
    }
    // Parents come before their children, so an opaque directory hides only what the
    // lowers below had.
    for item in walkdir::WalkDir::new(lower)
        .min_depth(1)
        .follow_links(false)
    {
        let item = item.map_err(|e| walk_error(lower, e))?;
        let abs = item.path();
        let rel = rel_string(lower, abs)?;
        let md = item.metadata().map_err(|e| walk_error(lower, e))?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            tree.remove(&rel);
            continue;
        }
        let kind = if ft.is_dir() {
            NodeKind::Dir
        } else if ft.is_file() {
            NodeKind::File(md.len())
        } else if ft.is_symlink() {
            NodeKind::Symlink(link_target(abs)?)
        } else if ft.is_socket() {
            return Err(Error::Unsupported {
                path: abs.to_path_buf(),
                reason: "a socket in a snapshot".into(),
            });
        } else {
            NodeKind::Special
        };
        let node = Node {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
        };
        if node.kind == NodeKind::Dir {
            let was_dir = tree
                .rootfs
                .nodes
                .get(&rel)
                .is_some_and(|n| n.kind == NodeKind::Dir);
            if !was_dir {
                tree.remove(&rel);
            } else if has_opaque_xattr(abs) {
                tree.remove_below(&rel);
            }
        } else {
            tree.remove(&rel);
            if matches!(node.kind, NodeKind::File(_)) {
                tree.hosts.insert(rel.clone(), abs.to_path_buf());
            }
        }
        tree.rootfs.nodes.insert(rel, node);
    }
    Ok(())
}
