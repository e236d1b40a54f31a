//! Records the git commit lading is built from (`lading version`), when there is one.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LADING_GIT_COMMIT");
    // A source tarball without .git may pass the commit in the environment.
    let commit = std::env::var("LADING_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "HEAD"]));
    if let Some(commit) = commit {
        println!("cargo:rustc-env=LADING_GIT_COMMIT={commit}");
    }
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the ref it names.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    // A missing file would make cargo rerun this every build: a packed ref lives in
    // packed-refs.
    if let Some(refname) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = git(&["rev-parse", "--git-path", &refname]);
        let path = loose
            .filter(|p| std::path::Path::new(p).exists())
            .or_else(|| git(&["rev-parse", "--git-path", "packed-refs"]));
        if let Some(path) = path {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
