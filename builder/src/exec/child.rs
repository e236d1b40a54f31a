//! The helper process's side of the sandbox (see the module docs of [`super`]). Runs
//! single-threaded, so `fork` is safe here.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, umask};
use nix::sys::statvfs::FsFlags;
use nix::sys::wait::{WaitStatus, wait, waitpid};
use nix::unistd::{
    ForkResult, Gid, Uid, chdir, execve, fork, pivot_root, setgid, setgroups, sethostname, setuid,
};

use super::rootpath::{ensure_dir, ensure_file};
use super::{HOSTNAME, MountKind, NetworkMode, Report, RootSpec, RunSpec, SETUP_FAILED};

type Result<T> = std::result::Result<T, String>;

/// Adds what was being done to an error.
trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| format!("{}: {e}", what()))
    }
}

pub fn main(args: &[String]) -> ! {
    let Some(report_path) = args.first() else {
        eprintln!("sandbox helper: missing report path");
        std::process::exit(SETUP_FAILED);
    };
    let mut report = match fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(report_path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sandbox helper: opening {report_path}: {e}");
            std::process::exit(SETUP_FAILED);
        }
    };
    let code = match helper(&mut report) {
        Ok(code) => code,
        Err(e) => {
            write_report(&mut report, &Report::Error(e));
            SETUP_FAILED
        }
    };
    std::process::exit(code)
}

fn write_report(report: &mut File, r: &Report) {
    if let Ok(mut line) = serde_json::to_vec(r) {
        line.push(b'\n');
        let _ = report.write_all(&line);
    }
}

/// Reads the spec, enters new namespaces and waits for the PID namespace's init.
fn helper(report: &mut File) -> Result<i32> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .ctx(|| "reading the run spec".into())?;
    let spec: RunSpec = serde_json::from_slice(&input).ctx(|| "parsing the run spec".into())?;
    let devnull = File::open("/dev/null").ctx(|| "opening /dev/null".into())?;
    nix::unistd::dup2_stdin(&devnull).ctx(|| "redirecting stdin".into())?;
    // Die with the build, and never let the host umask shape what a step creates.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "prctl".into())?;
    umask(Mode::from_bits_truncate(0o022));
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.network == NetworkMode::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).ctx(|| "creating namespaces".into())?;
    // SAFETY: this process is single-threaded (it was just exec'd and started no thread).
    match unsafe { fork() }.ctx(|| "fork".into())? {
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("waiting for the sandbox init: {e}")),
            }
        },
        ForkResult::Child => {
            let code = match init(&spec, report) {
                Ok(code) => code,
                Err(e) => {
                    write_report(report, &Report::Error(e));
                    SETUP_FAILED
                }
            };
            std::process::exit(code)
        }
    }
}

fn mount_err(what: &str, target: &Path) -> impl FnOnce() -> String {
    let s = format!("mounting {what} on {}", target.display());
    move || s
}

/// PID 1 of the sandbox: builds the root, pivots into it, runs the command.
fn init(spec: &RunSpec, report: &mut File) -> Result<i32> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "prctl".into())?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "making mounts private".into())?;
    let root = spec.state_dir.join("rootfs");
    fs::create_dir_all(&root).ctx(|| format!("creating {}", root.display()))?;
    mount_root(&spec.root, &root)?;

    let mut created = Vec::new();
    // Files only this namespace sees: a tmpfs over a host directory of the step.
    let files = spec.state_dir.join("files");
    fs::create_dir_all(&files).ctx(|| format!("creating {}", files.display()))?;
    mount(
        Some("tmpfs"),
        &files,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=700"),
    )
    .ctx(mount_err("tmpfs", &files))?;

    mount_proc_dev_sys(&root, &mut created)?;
    let etc = [
        ("hosts", spec.hosts.clone()),
        ("resolv.conf", spec.resolv_conf.clone()),
        ("hostname", format!("{HOSTNAME}\n")),
    ];
    for (name, content) in etc {
        let src = files.join(name);
        fs::write(&src, content).ctx(|| format!("writing {}", src.display()))?;
        fs::set_permissions(&src, fs::Permissions::from_mode(0o644))
            .ctx(|| format!("chmod {}", src.display()))?;
        let target = ensure_file(&root, &format!("/etc/{name}"), &mut created)
            .ctx(|| format!("creating /etc/{name}"))?;
        bind(&src, &target, true)?;
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        mount_one(&root, &files, i, &m.target, &m.kind, &mut created)?;
    }
    // runc creates a missing working directory; so does BuildKit, and it stays in the layer.
    ensure_dir(&root, &spec.cwd, &mut Vec::new())
        .ctx(|| format!("creating working directory {}", spec.cwd))?;
    write_report(report, &Report::Created(created));

    sethostname(HOSTNAME).ctx(|| "setting the hostname".into())?;
    if spec.network == NetworkMode::None {
        super::net::loopback_up().ctx(|| "bringing up loopback".into())?;
    }
    chdir(&root).ctx(|| format!("chdir {}", root.display()))?;
    pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    chdir("/").ctx(|| "chdir /".into())?;

    // SAFETY: still single-threaded.
    match unsafe { fork() }.ctx(|| "fork".into())? {
        ForkResult::Child => {
            let e = exec_command(spec);
            write_report(report, &Report::Error(e));
            std::process::exit(SETUP_FAILED)
        }
        ForkResult::Parent { child } => loop {
            // Reap everything; the step ends when its command does.
            match wait() {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return Ok(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                    return Ok(128 + sig as i32);
                }
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("waiting for the command: {e}")),
            }
        },
    }
}

fn mount_root(spec: &RootSpec, root: &Path) -> Result<()> {
    match spec {
        RootSpec::Overlay {
            lowers,
            upper,
            work,
            xattrs,
        } => {
            let data = crate::snapshot::overlay_mount_data(lowers, upper, work, *xattrs)
                .map_err(|e| format!("overlayfs: {e}"))?;
            // `volatile` (Linux 5.10+): no fsync of every copied-up file and no syncfs
            // at unmount. The upper dir is scratch: it becomes a layer blob, which the
            // store syncs, and is then removed; after a crash it is garbage anyway.
            // Kernels without the option refuse it with EINVAL: mount without it.
            let volatile = format!("{data},volatile");
            let mounted = mount(
                Some("overlay"),
                root,
                Some("overlay"),
                MsFlags::empty(),
                Some(volatile.as_str()),
            );
            match mounted {
                Err(nix::errno::Errno::EINVAL) => mount(
                    Some("overlay"),
                    root,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(data.as_str()),
                ),
                other => other,
            }
            .ctx(mount_err("overlayfs", root))
        }
        RootSpec::Dir(dir) => bind_flags(dir, root, MsFlags::MS_REC),
    }
}

fn bind_flags(src: &Path, target: &Path, extra: MsFlags) -> Result<()> {
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND | extra,
        None::<&str>,
    )
    .ctx(mount_err(&src.display().to_string(), target))
}

fn bind(src: &Path, target: &Path, readonly: bool) -> Result<()> {
    bind_flags(src, target, MsFlags::MS_REC)?;
    if readonly {
        // A remount must repeat the flags the kernel locked on a mount that came from
        // a more privileged mount namespace (rootless: every host mount), or it fails
        // with EPERM; repeating them is harmless everywhere else.
        let mut flags =
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC;
        let st =
            nix::sys::statvfs::statvfs(target).ctx(|| format!("statvfs {}", target.display()))?;
        for (st_flag, ms_flag) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if st.flags().contains(st_flag) {
                flags |= ms_flag;
            }
        }
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
            .ctx(|| format!("making {} read-only", target.display()))?;
    }
    Ok(())
}

/// `/proc`, a minimal `/dev` and a read-only `/sys`, as runc sets them up for docker.
fn mount_proc_dev_sys(root: &Path, created: &mut Vec<String>) -> Result<()> {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let proc = ensure_dir(root, "/proc", created).ctx(|| "creating /proc".into())?;
    mount(
        Some("proc"),
        &proc,
        Some("proc"),
        nosuid_nodev_noexec,
        None::<&str>,
    )
    .ctx(mount_err("proc", &proc))?;

    let dev = ensure_dir(root, "/dev", created).ctx(|| "creating /dev".into())?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .ctx(mount_err("tmpfs", &dev))?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        File::create(&target).ctx(|| format!("creating {}", target.display()))?;
        bind_flags(&Path::new("/dev").join(name), &target, MsFlags::empty())?;
    }
    let pts = dev.join("pts");
    fs::create_dir(&pts).ctx(|| "creating /dev/pts".into())?;
    let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    if mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        pts_flags,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )
    .is_err()
    {
        mount(
            Some("devpts"),
            &pts,
            Some("devpts"),
            pts_flags,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )
        .ctx(mount_err("devpts", &pts))?;
    }
    let shm = dev.join("shm");
    fs::create_dir(&shm).ctx(|| "creating /dev/shm".into())?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        nosuid_nodev_noexec,
        Some("mode=1777,size=65536k"),
    )
    .ctx(mount_err("tmpfs", &shm))?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        symlink(target, dev.join(link)).ctx(|| format!("linking /dev/{link}"))?;
    }

    let sys = ensure_dir(root, "/sys", created).ctx(|| "creating /sys".into())?;
    let ro = nosuid_nodev_noexec | MsFlags::MS_RDONLY;
    if mount(Some("sysfs"), &sys, Some("sysfs"), ro, None::<&str>).is_err() {
        // Not allowed without owning the network namespace: a read-only view of the host's.
        bind(Path::new("/sys"), &sys, true)?;
    }
    Ok(())
}

fn mount_one(
    root: &Path,
    files: &Path,
    index: usize,
    target: &str,
    kind: &MountKind,
    created: &mut Vec<String>,
) -> Result<()> {
    match kind {
        MountKind::Bind { source, readonly } => {
            let meta = fs::metadata(source).ctx(|| format!("mount source {}", source.display()))?;
            let at = if meta.is_dir() {
                ensure_dir(root, target, created)
            } else {
                ensure_file(root, target, created)
            }
            .ctx(|| format!("creating mount point {target}"))?;
            bind(source, &at, *readonly)
        }
        MountKind::Tmpfs { size } => {
            let at = ensure_dir(root, target, created)
                .ctx(|| format!("creating mount point {target}"))?;
            let data = match size {
                Some(s) => format!("mode=1777,size={s}"),
                None => "mode=1777".to_string(),
            };
            mount(
                Some("tmpfs"),
                &at,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(data.as_str()),
            )
            .ctx(mount_err("tmpfs", &at))
        }
        MountKind::File {
            content,
            mode,
            uid,
            gid,
        } => {
            let src: PathBuf = files.join(format!("mount-{index}"));
            fs::write(&src, content).ctx(|| format!("writing mount {target}"))?;
            fs::set_permissions(&src, fs::Permissions::from_mode(*mode & 0o7777))
                .ctx(|| format!("chmod mount {target}"))?;
            std::os::unix::fs::chown(&src, Some(*uid), Some(*gid))
                .ctx(|| format!("chown mount {target}"))?;
            let at = ensure_file(root, target, created)
                .ctx(|| format!("creating mount point {target}"))?;
            bind(&src, &at, true)
        }
    }
}

/// Becomes the step's process: capabilities, ids, working directory, `execve`.
/// Returns only on failure, with the reason.
fn exec_command(spec: &RunSpec) -> String {
    match prepare_and_exec(spec) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn prepare_and_exec(spec: &RunSpec) -> Result<std::convert::Infallible> {
    let keep: HashSet<Capability> = super::DEFAULT_CAPABILITIES
        .iter()
        .filter_map(|c| Capability::from_str(c).ok())
        .collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).ctx(|| format!("dropping {cap}"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).ctx(|| "clearing ambient capabilities".into())?;
    caps::set(None, CapSet::Inheritable, &HashSet::new()).ctx(|| "setting capabilities".into())?;
    caps::set(None, CapSet::Effective, &keep).ctx(|| "setting capabilities".into())?;
    caps::set(None, CapSet::Permitted, &keep).ctx(|| "setting capabilities".into())?;

    let groups: Vec<Gid> = spec.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    let setgroups_denied =
        fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if setgroups_denied {
        // A single-id user namespace (rootless without subordinate ids): setgroups(2)
        // is not allowed. Keeping the groups we have is right when the step asks for
        // none besides its primary group (the build drops unmappable ones).
        if let Some(g) = spec.groups.iter().find(|g| **g != spec.gid) {
            return Err(format!(
                "group {g} needs subordinate ids in /etc/subgid for rootless builds (setgroups is denied in this user namespace)"
            ));
        }
    } else {
        setgroups(&groups).ctx(|| "setgroups".into())?;
    }
    fn unmapped(
        what: &'static str,
        id: u32,
        file: &'static str,
    ) -> impl FnOnce(nix::Error) -> String {
        move |e: nix::Error| {
            if e == nix::errno::Errno::EINVAL {
                format!(
                    "{what} {id} needs subordinate ids in {file} for rootless builds (it is not mapped in this user namespace)"
                )
            } else {
                format!("set{what} {id}: {e}")
            }
        }
    }
    // The working directory is entered before the user is switched, as runc does: a
    // step may run as a user who cannot reach its WORKDIR (BuildKit runs it there all
    // the same). Only a permission error is tried again as the user, for a directory
    // only that user can enter.
    let cwd_err = |e| format!("chdir to working directory {}: {e}", spec.cwd);
    let chdir_as_user = match chdir(spec.cwd.as_str()) {
        Ok(()) => false,
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => true,
        Err(e) => return Err(cwd_err(e)),
    };
    setgid(Gid::from_raw(spec.gid)).map_err(unmapped("gid", spec.gid, "/etc/subgid"))?;
    setuid(Uid::from_raw(spec.uid)).map_err(unmapped("uid", spec.uid, "/etc/subuid"))?;
    if chdir_as_user {
        chdir(spec.cwd.as_str()).map_err(cwd_err)?;
    }

    let Some(arg0) = spec.argv.first() else {
        return Err("empty command".into());
    };
    let program = find_program(arg0, &spec.env)
        .ok_or_else(|| format!("exec: {arg0:?}: executable file not found in $PATH"))?;
    let cstr = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv: Vec<CString> = spec.argv.iter().map(|a| cstr(a)).collect::<Result<_>>()?;
    let env: Vec<CString> = spec.env.iter().map(|e| cstr(e)).collect::<Result<_>>()?;
    let path = cstr(&program)?;
    match execve(&path, &argv, &env) {
        Ok(never) => match never {},
        Err(e) => Err(format!("exec {program}: {e}")),
    }
}

/// `argv[0]` as `execvp` would find it, but with the step's `PATH`, not the helper's.
fn find_program(arg0: &str, env: &[String]) -> Option<String> {
    if arg0.contains('/') {
        return Some(arg0.to_string());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::solve::DEFAULT_PATH);
    path.split(':').find_map(|dir| {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{}/{arg0}", dir.trim_end_matches('/'));
        let meta = fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}
