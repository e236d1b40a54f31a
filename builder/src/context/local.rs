//! A local build context directory: resolving `COPY` sources inside it (wildcards,
//! symlinks kept inside the root, `.dockerignore` applied) and walking directories.
//!
//! A source that leaves the context — `../x`, an absolute path, or a symlink whose
//! target lies outside — is refused rather than clamped, so a Dockerfile can never read
//! a host file its author did not put in the context.

use std::fs;
use std::path::{Path, PathBuf};

use super::ignore::IgnoreMatcher;
use crate::error::{StepError, StepResult};
use crate::options::ContextModes;
use crate::pathmatch::{glob_match, has_glob};

/// A context directory, its ignore rules, and what copies do with its permission bits.
#[derive(Debug, Clone)]
pub struct LocalContext {
    root: PathBuf,
    ignore: IgnoreMatcher,
    modes: ContextModes,
}

/// One resolved source inside the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextPath {
    /// Slash-separated path relative to the context root ("" for the root).
    pub rel: String,
    /// Host path (symlinks of the source path itself resolved).
    pub host: PathBuf,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// One entry found by [`LocalContext::walk`].
#[derive(Debug, Clone)]
pub struct WalkEntry {
    /// Path relative to the walked directory.
    pub rel: String,
    /// Host path.
    pub host: PathBuf,
    /// File metadata (not following symlinks).
    pub meta: fs::Metadata,
}

impl LocalContext {
    /// Opens `root` with the given ignore rules; copies keep its permission bits
    /// ([`ContextModes::Preserve`]) unless [`LocalContext::with_modes`] says otherwise.
    pub fn new(root: &Path, ignore: IgnoreMatcher) -> StepResult<LocalContext> {
        let root = fs::canonicalize(root)
            .map_err(|e| StepError::msg(format!("build context {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(StepError::msg(format!(
                "build context {} is not a directory",
                root.display()
            )));
        }
        Ok(LocalContext {
            root,
            ignore,
            modes: ContextModes::default(),
        })
    }

    /// The same context with `modes` for the permission bits of copied entries.
    pub fn with_modes(mut self, modes: ContextModes) -> LocalContext {
        self.modes = modes;
        self
    }

    /// What copies do with the permission bits of this context's files.
    pub fn modes(&self) -> ContextModes {
        self.modes
    }

    /// The context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `.dockerignore` excludes `rel`.
    pub fn is_ignored(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.is_excluded(rel)
    }

    /// Resolves a (possibly wildcard) source word to existing, non-ignored paths.
    pub fn resolve(&self, src: &str) -> StepResult<Vec<ContextPath>> {
        let cleaned = clean(src)?;
        if !has_glob(&cleaned) {
            let p = self.resolve_exact(&cleaned)?;
            if self.is_ignored(&p.rel) || self.is_ignored(&cleaned) {
                return Err(not_found(src));
            }
            return Ok(vec![p]);
        }
        let comps: Vec<&str> = cleaned.split('/').filter(|c| !c.is_empty()).collect();
        let mut found = vec![String::new()];
        for comp in comps {
            let mut next = Vec::new();
            for base in &found {
                let dir = self.resolve_exact(base)?;
                if has_glob(comp) {
                    if !dir.is_dir {
                        continue;
                    }
                    let mut names: Vec<String> = fs::read_dir(&dir.host)
                        .map_err(|e| StepError::msg(format!("reading {}: {e}", dir.rel)))?
                        .filter_map(|e| {
                            e.ok().map(|e| e.file_name().to_string_lossy().into_owned())
                        })
                        .collect();
                    names.sort();
                    for n in names {
                        let m = glob_match(comp, &n)
                            .map_err(|e| StepError::msg(format!("{src}: {e}")))?;
                        if m {
                            next.push(join(base, &n));
                        }
                    }
                } else {
                    next.push(join(base, &unescape(comp)));
                }
            }
            found = next;
        }
        let mut out = Vec::new();
        for rel in found {
            if self.is_ignored(&rel) {
                continue;
            }
            match self.resolve_exact(&rel) {
                Ok(p) => out.push(p),
                Err(_) => continue,
            }
        }
        // BuildKit allows a wildcard to match nothing (AllowEmptyWildcard).
        Ok(out)
    }

    /// Resolves a plain relative path, following symlinks only while they stay inside.
    fn resolve_exact(&self, rel: &str) -> StepResult<ContextPath> {
        let mut cur: Vec<String> = Vec::new();
        let mut pending: Vec<String> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(String::from)
            .rev()
            .collect();
        let mut hops = 0;
        while let Some(comp) = pending.pop() {
            if comp == ".." {
                if cur.pop().is_none() {
                    return Err(outside(rel));
                }
                continue;
            }
            let host = self.root.join(cur.join("/")).join(&comp);
            let meta = fs::symlink_metadata(&host).map_err(|_| not_found(rel))?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return Err(StepError::msg(format!(
                        "{rel}: too many levels of symbolic links"
                    )));
                }
                let target =
                    fs::read_link(&host).map_err(|e| StepError::msg(format!("{rel}: {e}")))?;
                let t = target.to_string_lossy();
                if t.starts_with('/') {
                    return Err(outside(&format!("{rel} (symlink to {t})")));
                }
                // Check the target stays inside before walking it.
                let mut depth = cur.len() as isize;
                for c in t.split('/') {
                    match c {
                        "" | "." => {}
                        ".." => depth -= 1,
                        _ => depth += 1,
                    }
                    if depth < 0 {
                        return Err(outside(&format!("{rel} (symlink to {t})")));
                    }
                }
                for c in t.split('/').filter(|c| !c.is_empty()).rev() {
                    pending.push(c.to_string());
                }
                continue;
            }
            cur.push(comp);
        }
        let rel_resolved = cur.join("/");
        let host = self.root.join(&rel_resolved);
        let meta = fs::metadata(&host).map_err(|_| not_found(rel))?;
        Ok(ContextPath {
            rel: rel_resolved,
            host,
            is_dir: meta.is_dir(),
        })
    }

    /// Walks the directory `dir` (a resolved context path), returning every entry below
    /// it in sorted order with `.dockerignore` applied. Symlinks are not followed.
    pub fn walk(&self, dir: &ContextPath) -> StepResult<Vec<WalkEntry>> {
        let mut out = Vec::new();
        let mut it = walkdir::WalkDir::new(&dir.host)
            .min_depth(1)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = it.next() {
            let entry = entry.map_err(|e| StepError::msg(format!("walking {}: {e}", dir.rel)))?;
            let rel_below = entry
                .path()
                .strip_prefix(&dir.host)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rel_ctx = join(&dir.rel, &rel_below);
            let meta = entry
                .metadata()
                .map_err(|e| StepError::msg(format!("{rel_ctx}: {e}")))?;
            if self.is_ignored(&rel_ctx) {
                if meta.is_dir() && !self.ignore.may_contain_included(&rel_ctx) {
                    it.skip_current_dir();
                }
                if !meta.is_dir() {
                    continue;
                }
                if !self.ignore.may_contain_included(&rel_ctx) {
                    continue;
                }
            }
            out.push(WalkEntry {
                rel: rel_below,
                host: entry.path().to_path_buf(),
                meta,
            });
        }
        Ok(out)
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Normalises a source word; refuses absolute and escaping paths.
fn clean(src: &str) -> StepResult<String> {
    if src.starts_with('/') {
        return Err(outside(src));
    }
    let mut out: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(outside(src));
                }
            }
            c => out.push(c),
        }
    }
    Ok(out.join("/"))
}

fn outside(src: &str) -> StepError {
    StepError::msg(format!("source {src:?} is outside the build context"))
}

fn not_found(src: &str) -> StepError {
    StepError::msg(format!(
        "{src:?} not found in build context (or excluded by .dockerignore)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ctx() -> (tempfile::TempDir, LocalContext) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("ctx/sub")).unwrap();
        fs::write(r.join("ctx/a.txt"), "a").unwrap();
        fs::write(r.join("ctx/b.txt"), "b").unwrap();
        fs::write(r.join("ctx/sub/c.md"), "c").unwrap();
        fs::write(r.join("secret"), "s").unwrap();
        symlink("../secret", r.join("ctx/escape")).unwrap();
        symlink("/etc/passwd", r.join("ctx/abs")).unwrap();
        symlink("sub/c.md", r.join("ctx/inside")).unwrap();
        let c = LocalContext::new(&r.join("ctx"), IgnoreMatcher::parse("b.txt").unwrap()).unwrap();
        (d, c)
    }

    #[test]
    fn refuses_sources_outside_the_context() {
        let (_d, c) = ctx();
        for bad in [
            "../secret",
            "/etc/passwd",
            "escape",
            "abs",
            "sub/../../secret",
        ] {
            let e = c.resolve(bad).unwrap_err();
            assert!(
                e.message.contains("outside the build context"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn resolves_symlinks_inside_wildcards_and_ignores() {
        let (_d, c) = ctx();
        assert_eq!(c.resolve("inside").unwrap()[0].rel, "sub/c.md");
        let all: Vec<String> = c
            .resolve("*.txt")
            .unwrap()
            .into_iter()
            .map(|p| p.rel)
            .collect();
        assert_eq!(all, vec!["a.txt"]);
        assert!(c.resolve("b.txt").is_err());
        assert_eq!(c.resolve("s?b/*.md").unwrap()[0].rel, "sub/c.md");
    }
}
