//! Whether a build context is a clean git checkout, and which commit: provenance then
//! names the context as `git+<remote>` at that commit (SLSA's convention for git
//! sources) besides its context digest.
//!
//! "Clean" means clean as far as the build can see: every path `git status` reports
//! (modified, untracked or git-ignored) is excluded by `.dockerignore`, so the files
//! the build could read are exactly the commit's. Only a remote that names a server is
//! used (a local path is not a place anyone else can fetch from).

use std::path::Path;
use std::process::Command;

use lading_builder::context::local::LocalContext;

use super::record::GitSource;
use crate::cli::commands::build::{is_network_url, redact_url};

/// The git source of `context`, when it is a clean checkout with a network remote.
pub fn clean_checkout(context: &LocalContext) -> Option<GitSource> {
    let dir = context.root();
    let commit = git(dir, &["rev-parse", "HEAD"])?;
    let remote = git(dir, &["config", "--get", "remote.origin.url"])?;
    if !is_network_url(&remote) {
        return None;
    }
    let prefix = git(dir, &["rev-parse", "--show-prefix"]).unwrap_or_default();
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "status",
            "--porcelain=v1",
            "-z",
            "--ignored=matching",
            "--untracked-files=all",
            "--",
            ".",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    if !changes_hidden_from_build(&status.stdout, &prefix, context) {
        return None;
    }
    Some(GitSource {
        uri: git_uri(&redact_url(&remote)),
        commit,
        path: prefix.trim_end_matches('/').to_string(),
    })
}

/// Whether every path of `git status --porcelain=v1 -z` output (relative to the
/// repository root) lies outside what the build sees.
fn changes_hidden_from_build(status: &[u8], prefix: &str, context: &LocalContext) -> bool {
    let text = String::from_utf8_lossy(status);
    let mut fields = text.split('\0').filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        let (code, path) = entry.split_at(entry.len().min(3));
        let mut paths = vec![path];
        // A rename or copy names the source path in the next field.
        if code.starts_with('R') || code.starts_with('C') {
            paths.extend(fields.next());
        }
        for p in paths {
            let Some(rel) = p.strip_prefix(prefix) else {
                continue;
            };
            if !context.is_ignored(rel.trim_end_matches('/')) {
                return false;
            }
        }
    }
    true
}

/// `git+<url>`, with scp-like `user@host:path` as `ssh://user@host/path`.
fn git_uri(remote: &str) -> String {
    if remote.contains("://") {
        return format!("git+{remote}");
    }
    match remote.split_once(':') {
        Some((host, path)) => format!("git+ssh://{host}/{}", path.trim_start_matches('/')),
        None => format!("git+{remote}"),
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lading_builder::context::ignore::IgnoreMatcher;

    #[test]
    fn scp_like_remotes_become_ssh_uris() {
        assert_eq!(
            git_uri("https://github.com/o/r.git"),
            "git+https://github.com/o/r.git"
        );
        assert_eq!(
            git_uri("git@github.com:o/r.git"),
            "git+ssh://git@github.com/o/r.git"
        );
    }

    #[test]
    fn only_changes_dockerignore_hides_keep_a_checkout_clean() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = LocalContext::new(dir.path(), IgnoreMatcher::parse("target\n*.log\n").unwrap())
            .unwrap();
        let hidden = b"!! app/target/\0?? app/x.log\0 M other/file\0";
        assert!(changes_hidden_from_build(hidden, "app/", &ctx));
        assert!(!changes_hidden_from_build(
            b" M app/src/main.rs\0",
            "app/",
            &ctx
        ));
        assert!(!changes_hidden_from_build(
            b"R  app/new.rs\0app/x.log\0",
            "app/",
            &ctx
        ));
        assert!(changes_hidden_from_build(b"", "", &ctx));
    }
}
