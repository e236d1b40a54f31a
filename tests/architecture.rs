//! The workspace's dependency rule (ARCHITECTURE.md): `oci` depends on no sibling;
//! the middle crates depend on `oci` only; only the binary depends on everything.

use std::process::Command;

#[test]
fn middle_crates_never_depend_on_each_other() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let siblings = [
        "lading-oci",
        "lading-builder",
        "lading-registry",
        "lading-gates",
        "lading-signer",
    ];
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        if name == "lading" {
            continue;
        }
        let allowed: &[&str] = if name == "lading-oci" {
            &[]
        } else {
            &["lading-oci"]
        };
        for dep in pkg["dependencies"].as_array().unwrap() {
            let d = dep["name"].as_str().unwrap();
            if dep["kind"].is_null() && siblings.contains(&d) {
                assert!(allowed.contains(&d), "{name} must not depend on {d}");
            }
        }
    }
}
