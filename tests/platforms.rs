//! Multi-platform builds (`--platform linux/amd64,linux/arm64`): one OCI index, per
//! platform ARGs, foreign RUN steps through qemu-user-static, against buildah and skopeo.

mod common;

use common::bases;

#[test]
fn arm64_debian_base_bootstraps_under_qemu() {
    if !common::require(bases::bases_available().is_ok(), "root and debootstrap") {
        return;
    }
    let layout = bases::debian_multiarch_base();
    assert!(layout.join("index.json").is_file());
}
