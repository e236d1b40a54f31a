//! A digest of a local build context as a build sees it: every entry `.dockerignore`
//! leaves, with the permission bits copies give it (`--context-modes`), its content or
//! link target. Provenance records it so a rebuild can check it has the same context.
//!
//! The digest is the sha256 of a listing: one JSON array per entry, in the walk's order
//! (sorted by path, parents first), each followed by `\n`:
//! `["f", "<path>", "<mode, octal>", "sha256:<hex of the bytes>"]` for a file,
//! `["d", "<path>", "<mode>", ""]` for a directory,
//! `["l", "<path>", "777", "<link target>"]` for a symlink, and
//! `["o", "<path>", "<mode>", ""]` for anything else. Paths are relative to the context
//! root and slash-separated. Owners and timestamps never reach a layer and are left out.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use lading_oci::Digest;
use lading_oci::hash::Sha256;

use super::local::{ContextPath, LocalContext};
use crate::error::{StepError, StepResult};

impl LocalContext {
    /// The digest of this context's listing (see the module documentation).
    pub fn digest(&self) -> StepResult<Digest> {
        let root = ContextPath {
            rel: String::new(),
            host: self.root().to_path_buf(),
            is_dir: true,
        };
        let mut listing = Sha256::new();
        for entry in self.walk(&root)? {
            let kind = entry.meta.file_type();
            let host_mode = entry.meta.permissions().mode();
            let (tag, mode, content) = if kind.is_symlink() {
                let target = std::fs::read_link(&entry.host)
                    .map_err(|e| StepError::msg(format!("{}: {e}", entry.rel)))?;
                ("l", 0o777, target.to_string_lossy().into_owned())
            } else if kind.is_dir() {
                ("d", self.modes().apply(host_mode, true), String::new())
            } else if kind.is_file() {
                let digest = file_digest(&entry.host, &entry.rel)?;
                (
                    "f",
                    self.modes().apply(host_mode, false),
                    digest.to_string(),
                )
            } else {
                ("o", host_mode & 0o7777, String::new())
            };
            let line = serde_json::to_string(&(tag, &entry.rel, format!("{mode:o}"), content))
                .map_err(StepError::from)?;
            listing.update(line.as_bytes());
            listing.update(b"\n");
        }
        Ok(listing.finish())
    }
}

fn file_digest(path: &std::path::Path, rel: &str) -> StepResult<Digest> {
    let mut file = File::open(path).map_err(|e| StepError::msg(format!("{rel}: {e}")))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| StepError::msg(format!("{rel}: {e}")))?;
        if n == 0 {
            return Ok(hash.finish());
        }
        hash.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use crate::context::ignore::IgnoreMatcher;
    use crate::context::local::LocalContext;
    use crate::options::ContextModes;

    fn context(dir: &std::path::Path, ignore: &str, modes: ContextModes) -> LocalContext {
        LocalContext::new(dir, IgnoreMatcher::parse(ignore).unwrap())
            .unwrap()
            .with_modes(modes)
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/main.c"), "int main;").unwrap();
        fs::write(dir.path().join("build.log"), "noise").unwrap();
        std::os::unix::fs::symlink("src/main.c", dir.path().join("link")).unwrap();
        dir
    }

    #[test]
    fn context_digest_changes_with_content_names_links_and_preserved_modes_only() {
        let dir = tree();
        let digest = |modes| context(dir.path(), "", modes).digest().unwrap();
        let before = digest(ContextModes::Preserve);
        assert_eq!(before, digest(ContextModes::Preserve), "stable");
        let main = dir.path().join("src/main.c");
        fs::set_permissions(&main, fs::Permissions::from_mode(0o600)).unwrap();
        let normalized = digest(ContextModes::Normalize);
        assert_ne!(digest(ContextModes::Preserve), before, "a mode bit counts");
        fs::set_permissions(&main, fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            digest(ContextModes::Normalize),
            normalized,
            "normalize ignores the bits it drops"
        );
        fs::write(&main, "int main();").unwrap();
        assert_ne!(
            digest(ContextModes::Normalize),
            normalized,
            "content counts"
        );
        fs::remove_file(dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("src", dir.path().join("link")).unwrap();
        let relinked = digest(ContextModes::Normalize);
        fs::rename(dir.path().join("link"), dir.path().join("link2")).unwrap();
        assert_ne!(digest(ContextModes::Normalize), relinked, "names count");
    }

    #[test]
    fn context_digest_skips_what_dockerignore_excludes() {
        let dir = tree();
        let ignoring = context(dir.path(), "*.log\n", ContextModes::Preserve)
            .digest()
            .unwrap();
        fs::write(dir.path().join("build.log"), "other noise").unwrap();
        assert_eq!(
            context(dir.path(), "*.log\n", ContextModes::Preserve)
                .digest()
                .unwrap(),
            ignoring
        );
        assert_ne!(
            context(dir.path(), "", ContextModes::Preserve)
                .digest()
                .unwrap(),
            ignoring
        );
    }
}
