//! Resolving container paths inside a root directory on the host, the way the kernel
//! would after a `chroot` into it: symlinks are followed, but `..` and absolute link
//! targets never climb above the root. Mount points are created through these
//! functions so a hostile image (say `/run -> /tmp/host-dir`) cannot make the sandbox
//! create anything outside its root.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Symlinks followed before giving up (Linux's limit for one lookup).
const MAX_LINKS: usize = 40;

/// The host path of container path `path` under `root`. Components that do not exist
/// are taken as they are.
pub fn resolve(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut pending: Vec<String> = components(path).rev().map(str::to_string).collect();
    let mut current: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                current.pop();
                continue;
            }
            _ => {}
        }
        let candidate = join(root, &current).join(&comp);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links resolving {path}"
                    )));
                }
                let target = fs::read_link(&candidate)?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    current.clear();
                }
                pending.extend(components(&target).rev().map(str::to_string));
            }
            _ => current.push(comp),
        }
    }
    Ok(join(root, &current))
}

fn components(p: &str) -> impl DoubleEndedIterator<Item = &str> {
    p.split('/').filter(|c| !c.is_empty())
}

fn join(root: &Path, comps: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
    }
    p
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Makes sure directory `path` exists under `root`, creating missing components
/// (mode 0755) and recording each created one, relative to `root`, in `created`.
/// Returns its host path.
pub fn ensure_dir(root: &Path, path: &str, created: &mut Vec<String>) -> io::Result<PathBuf> {
    let resolved = resolve(root, path)?;
    let rel = relative(root, &resolved);
    let mut cur = root.to_path_buf();
    for comp in components(&rel) {
        cur.push(comp);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "/{} is not a directory",
                    relative(root, &cur)
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new().mode(0o755).create(&cur)?;
                created.push(relative(root, &cur));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(resolved)
}

/// Makes sure `path` exists under `root` as something a file can be bind-mounted on
/// (an empty file is created when missing, and recorded in `created`).
pub fn ensure_file(root: &Path, path: &str, created: &mut Vec<String>) -> io::Result<PathBuf> {
    let resolved = resolve(root, path)?;
    let rel = relative(root, &resolved);
    let (parent, _) = rel.rsplit_once('/').unwrap_or(("", &rel));
    ensure_dir(root, parent, created)?;
    match fs::symlink_metadata(&resolved) {
        Ok(m) if m.is_dir() => Err(io::Error::other(format!(
            "/{rel} is a directory, a file was expected"
        ))),
        Ok(_) => Ok(resolved),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&resolved)?;
            created.push(rel);
            Ok(resolved)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_and_dotdot_links_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../..", root.join("etc/far")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        assert_eq!(resolve(&root, "/up/etc/x").unwrap(), root.join("etc/x"));
        assert_eq!(resolve(&root, "/etc/far/tmp").unwrap(), root.join("tmp"));
        assert_eq!(
            resolve(&root, "/abs/hosts").unwrap(),
            root.join("etc/hosts")
        );
        assert_eq!(resolve(&root, "/../../x").unwrap(), root.join("x"));
    }

    #[test]
    fn link_loops_are_an_error() {
        let t = tempfile::tempdir().unwrap();
        symlink("b", t.path().join("a")).unwrap();
        symlink("a", t.path().join("b")).unwrap();
        assert!(resolve(t.path(), "/a/x").is_err());
    }

    #[test]
    fn created_mount_points_are_recorded_and_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("run")).unwrap();
        let mut created = Vec::new();
        let p = ensure_file(&root, "/run/secrets/token", &mut created).unwrap();
        assert!(p.starts_with(&root));
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        // The symlink's absolute target is taken inside the root.
        assert!(created.iter().any(|c| c.ends_with("secrets/token")));
        let mut again = Vec::new();
        ensure_file(&root, "/run/secrets/token", &mut again).unwrap();
        assert!(again.is_empty());
    }
}
