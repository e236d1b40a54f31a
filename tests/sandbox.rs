//! The RUN sandbox on its own: namespaces, mounts, users, network, leaks.
//! Runs the real helper (the `lading` binary) on a busybox root made here.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use lading_builder::exec::{self, MountKind, MountSpec, NetworkMode, RootSpec, RunSpec};

/// A busybox root: /bin/busybox plus applet links, passwd and group.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = dir.join("lower");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "id", "cat", "ls", "echo", "hostname", "touch", "mkdir", "ip", "ps", "sleep", "grep",
        "wc", "stat", "mount", "env", "sort",
    ] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
    )
    .unwrap();
    root
}

struct Step {
    _dir: tempfile::TempDir,
    spec: RunSpec,
}

fn step(script: &str) -> Step {
    let dir = tempfile::tempdir().unwrap();
    let lower = busybox_root(dir.path());
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    fs::create_dir_all(&upper).unwrap();
    fs::create_dir_all(&work).unwrap();
    let spec = RunSpec {
        root: RootSpec::Overlay {
            lowers: vec![lower],
            upper,
            work,
            xattrs: Default::default(),
        },
        state_dir: dir.path().join("state"),
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        uid: 0,
        gid: 0,
        groups: vec![],
        network: NetworkMode::Host,
        hosts: exec::default_hosts(),
        resolv_conf: "nameserver 10.0.0.1\n".into(),
        mounts: vec![],
    };
    Step { _dir: dir, spec }
}

fn run(spec: &RunSpec) -> (i32, Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let out = exec::run(spec, Path::new(env!("CARGO_BIN_EXE_lading")), &mut |l| {
        lines.push(l.to_string())
    })
    .unwrap_or_else(|e| panic!("sandbox: {e}; output: {lines:?}"));
    (out.exit_code, lines, out.created)
}

fn can_run() -> bool {
    common::require(common::is_root(), "root (namespaces and overlayfs)")
}

#[test]
fn runs_as_pid_1_with_fixed_hostname_and_own_proc() {
    if !can_run() {
        return;
    }
    let s = step(
        "echo pid=$$; hostname; cat /etc/hostname; echo /proc/[0-9]*; cat /etc/hosts | head -1",
    );
    let (code, lines, created) = run(&s.spec);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(
        lines[0], "pid=2",
        "init is pid 1, the command its child: {lines:?}"
    );
    assert_eq!(lines[1], "buildkitsandbox");
    assert_eq!(lines[2], "buildkitsandbox");
    assert_eq!(
        lines[3], "/proc/1 /proc/2",
        "only init and the shell are visible: {lines:?}"
    );
    assert!(lines[4].contains("localhost"));
    for p in [
        "proc",
        "dev",
        "sys",
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
    ] {
        assert!(
            created.iter().any(|c| c == p),
            "{p} not reported in {created:?}"
        );
    }
}

#[test]
fn exit_codes_and_output_come_back() {
    if !can_run() {
        return;
    }
    let s = step("echo out; echo err >&2; exit 7");
    let (code, lines, _) = run(&s.spec);
    assert_eq!(code, 7);
    assert_eq!(lines, vec!["out", "err"]);
}

#[test]
fn missing_program_is_a_setup_error() {
    if !can_run() {
        return;
    }
    let mut s = step("");
    s.spec.argv = vec!["no-such-program".into()];
    let err = exec::run(
        &s.spec,
        Path::new(env!("CARGO_BIN_EXE_lading")),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("executable file not found"),
        "{err}"
    );
}

#[test]
fn user_groups_and_capabilities() {
    if !can_run() {
        return;
    }
    let mut s = step("id; grep CapEff /proc/self/status; grep CapBnd /proc/self/status");
    s.spec.uid = 1000;
    s.spec.gid = 1000;
    s.spec.groups = vec![50];
    let (code, lines, _) = run(&s.spec);
    assert_eq!(code, 0, "{lines:?}");
    assert!(
        lines[0].starts_with("uid=1000(app) gid=1000(app) groups=50(staff)"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("0000000000000000"),
        "non-root has no effective caps: {lines:?}"
    );
    // Docker's default set: 0xa80425fb.
    assert!(lines[2].ends_with("00000000a80425fb"), "{lines:?}");
    let s = step("grep CapEff /proc/self/status");
    let (_, lines, _) = run(&s.spec);
    assert!(lines[0].ends_with("00000000a80425fb"), "{lines:?}");
}

#[test]
fn network_none_has_only_loopback() {
    if !can_run() {
        return;
    }
    let mut s = step("ls /sys/class/net; cat /proc/net/dev | wc -l");
    s.spec.network = NetworkMode::None;
    let (code, lines, _) = run(&s.spec);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines[0], "lo");
    assert_eq!(lines[1], "3", "header lines + lo only: {lines:?}");
}

#[test]
fn mounts_bind_tmpfs_and_memory_files() {
    if !can_run() {
        return;
    }
    let mut s = step(
        "cat /src/a; touch /src/b 2>/dev/null && echo writable || echo readonly; \
        echo x > /scratch/f && echo tmpfs-ok; cat /run/secrets/tok; stat -c %a /run/secrets/tok; cat /w/keep",
    );
    let ctx = s._dir.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("a"), "from-context\n").unwrap();
    let w = s._dir.path().join("w");
    fs::create_dir_all(&w).unwrap();
    fs::write(w.join("keep"), "rw-bind\n").unwrap();
    s.spec.mounts = vec![
        MountSpec {
            target: "/src".into(),
            kind: MountKind::Bind {
                source: ctx.clone(),
                readonly: true,
            },
        },
        MountSpec {
            target: "/scratch".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
            },
        },
        MountSpec {
            target: "/run/secrets/tok".into(),
            kind: MountKind::File {
                content: b"s3cr3t\n".to_vec(),
                mode: 0o400,
                uid: 0,
                gid: 0,
            },
        },
        MountSpec {
            target: "/w".into(),
            kind: MountKind::Bind {
                source: w,
                readonly: false,
            },
        },
    ];
    let (code, lines, created) = run(&s.spec);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(
        lines,
        vec![
            "from-context",
            "readonly",
            "tmpfs-ok",
            "s3cr3t",
            "400",
            "rw-bind"
        ]
    );
    for p in [
        "src",
        "scratch",
        "run",
        "run/secrets",
        "run/secrets/tok",
        "w",
    ] {
        assert!(created.iter().any(|c| c == p), "{p} not in {created:?}");
    }
    // Nothing of the mounts reached the upper dir but the empty mount points.
    let RootSpec::Overlay { upper, .. } = &s.spec.root else {
        unreachable!()
    };
    assert_eq!(
        fs::metadata(upper.join("run/secrets/tok")).unwrap().len(),
        0
    );
    assert!(!upper.join("scratch/f").exists());
    assert!(!ctx.join("b").exists());
}

#[test]
fn background_processes_die_with_the_step() {
    if !can_run() {
        return;
    }
    let s = step("sleep 1000 & echo started");
    let (code, lines, _) = run(&s.spec);
    assert_eq!((code, lines), (0, vec!["started".to_string()]));
}

#[test]
fn the_host_umask_does_not_reach_the_step() {
    if !can_run() {
        return;
    }
    let s = step("touch /tmp/f; stat -c %a /tmp/f");
    let (_, lines, _) = run(&s.spec);
    assert_eq!(lines, vec!["644"]);
}
