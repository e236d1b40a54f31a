//! `RUN`: turns the instruction into a sandbox spec ([`crate::exec`]) over the stage's
//! layer snapshots ([`crate::snapshot`]), runs it, and makes its changes a layer.
//!
//! What docker users rely on and where it comes from:
//! - the command: exec form as is; shell form through `SHELL`; `RUN <<EOF` runs the
//!   here-document as a script file (BuildKit mounts it at `/dev/pipes/EOF`), any other
//!   here-document form hands the whole text, bodies included, to the shell;
//! - the environment: the image's `ENV`, then the stage's ARGs with values (not
//!   persisted), the proxy build args, `HOME` from passwd when unset;
//! - the user: `USER` with runc's lookup rules ([`crate::users::exec_user`]);
//! - the cache key: the parent layers, command, environment, user, working directory,
//!   network and the identity (and, for bind mounts, the content) of every mount —
//!   never a secret's value;
//! - a step that writes nothing adds no layer (history `empty_layer`), as BuildKit's
//!   exporter drops empty layers.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lading_oci::hash::Sha256;
use lading_oci::{Descriptor, Digest};

use super::{Builder, PROXY_ARGS, StageState};
use crate::dockerfile::ast::{self, Command, Instruction, Located};
use crate::error::{StepError, StepResult};
use crate::exec::{self, MountKind, MountSpec, NetworkMode, RootSpec, RunSpec};
use crate::options::{SecretSource, Snapshotter};
use crate::run_mount::{self, MountType, RunMount, Sharing};
use crate::snapshot::{self, Snapshots};

/// How a process names its own executable file.
const SELF_EXE: &str = "/proc/self/exe";

/// Mode BuildKit gives the script of `RUN <<EOF`.
const HEREDOC_SCRIPT_MODE: u32 = 0o755;

/// Held for the duration of a step: `sharing=locked` cache locks and temp copies.
#[derive(Default)]
struct StepResources {
    _locks: Vec<nix::fcntl::Flock<fs::File>>,
    _ssh: Vec<(super::ssh_proxy::SshProxy, tempfile::TempDir)>,
}

/// Everything that decides a step's result, hashed into its cache key.
#[derive(serde::Serialize)]
struct CacheKey<'a> {
    version: u32,
    parent: Vec<&'a Digest>,
    argv: &'a [String],
    env: &'a [String],
    uid: u32,
    gid: u32,
    groups: &'a [u32],
    cwd: &'a str,
    network: NetworkMode,
    mounts: Vec<(String, String)>,
    epoch: i64,
    /// Rootless: the user namespace's id mapping (owners the mapping cannot hold make
    /// other layers). Absent rootful, so rootful keys stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    userns: Option<String>,
}

impl Builder<'_> {
    pub(super) fn run(
        &mut self,
        state: &mut StageState,
        ins: &Located<Instruction>,
        r: &ast::Run,
    ) -> StepResult<()> {
        let network = self.network(r)?;
        if let Some(sec) = &r.security
            && sec != "sandbox"
        {
            return Err(StepError::msg(format!(
                "RUN --security={sec} is not allowed: lading runs every step sandboxed (the insecure entitlement is not granted)"
            )));
        }
        let snapshots = Snapshots::new(self.store)?;
        // With an imported cache, a step whose result the cache has needs no snapshots:
        // the key's user files are read from the layers themselves, and the layers are
        // unpacked only when the step runs.
        let lazy = !self.opts.cache_imports.is_empty()
            && !self.opts.no_cache
            && !state.layers.iter().all(|l| snapshots.has(l));
        let mut early_lowers = None;
        let from_layers = if lazy {
            self.user_files_from_layers(&state.layers)
        } else {
            None
        };
        let (passwd, group) = match from_layers {
            Some(files) => files,
            None => {
                let lowers = self.lowers(&snapshots, state)?;
                let files = read_user_files(&lowers);
                early_lowers = Some(lowers);
                files
            }
        };
        let user_spec = state.config.config.user.clone().unwrap_or_default();
        let mut user = crate::users::exec_user(&user_spec, passwd.as_deref(), group.as_deref())
            .map_err(StepError::msg)?;
        if exec::userns::in_user_namespace() {
            self.rootless_user(&user_spec, &mut user)?;
        }

        let mut mounts = Vec::new();
        let mut key_mounts = Vec::new();
        let mut extra_env = Vec::new();
        let mut secrets = Vec::new();
        let mut resources = StepResources::default();
        let argv = self.command(state, r, &mut mounts, &mut key_mounts)?;
        let mut ssh_index = 0;
        for raw in &r.mounts {
            let value = self.expand(state, raw)?;
            let m = run_mount::parse(&value, ssh_index)
                .map_err(|e| StepError::msg(format!("--mount={value}: {e}")))?;
            if m.kind == MountType::Ssh {
                ssh_index += 1;
            }
            self.mount(
                state,
                &m,
                &mut mounts,
                &mut key_mounts,
                &mut extra_env,
                &mut secrets,
                &mut resources,
            )?;
        }
        let env = self.run_env(state, &user.home, extra_env);
        let cwd = state
            .config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        let created_by = self.run_created_by(state, &argv);

        let key = CacheKey {
            version: 1,
            parent: state.config.rootfs.diff_ids.iter().collect(),
            argv: &argv,
            env: &env,
            uid: user.uid,
            gid: user.gid,
            groups: &user.groups,
            cwd: &cwd,
            network,
            mounts: key_mounts,
            epoch: self.opts.epoch,
            userns: exec::userns::in_user_namespace()
                .then(exec::userns::mapping_id)
                .transpose()
                .map_err(|e| {
                    StepError::msg(format!("reading the user namespace's id maps: {e}"))
                })?,
        };
        let key = {
            let mut h = Sha256::new();
            h.update(&serde_json::to_vec(&key).map_err(StepError::from)?);
            h.finish()
        };
        let cache_path = self.store.private_dir().join("cache/run").join(key.hex());
        if !self.opts.no_cache
            && let Some(layer) = self.cached_record("run", &cache_path)
        {
            self.cache_hit();
            self.push_run_result(state, ins, layer, created_by);
            return Ok(());
        }

        // A foreign architecture's step runs through a binfmt_misc handler (qemu);
        // without one, say what is missing instead of failing with ENOEXEC.
        exec::binfmt::check_can_run(&state.config.architecture, state.config.variant.as_deref())
            .map_err(StepError::msg)?;
        let mut lowers = match early_lowers {
            Some(l) => l,
            None => self.lowers(&snapshots, state)?,
        };
        let step_dir = self.tmp.join(format!("run-{}", self.vertex));
        let upper = step_dir.join("upper");
        let work = step_dir.join("work");
        for d in [&upper, &work] {
            fs::create_dir_all(d)
                .map_err(|e| StepError::msg(format!("creating {}: {e}", d.display())))?;
        }
        if lowers.is_empty() {
            // overlayfs needs a lower dir: FROM scratch gets an empty one.
            let empty = step_dir.join("empty");
            fs::create_dir_all(&empty)
                .map_err(|e| StepError::msg(format!("creating {}: {e}", empty.display())))?;
            lowers.push(empty);
        }
        let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut spec = RunSpec {
            root: RootSpec::Overlay {
                lowers: lowers.clone(),
                upper: upper.clone(),
                work,
                xattrs: snapshots.xattrs(),
            },
            state_dir: step_dir.join("state"),
            argv: argv.clone(),
            env,
            cwd,
            uid: user.uid,
            gid: user.gid,
            groups: user.groups.clone(),
            network,
            hosts: exec::default_hosts(),
            resolv_conf: exec::resolv_conf(&host_resolv, network),
            mounts,
        };
        let helper = match &self.opts.sandbox_helper {
            Some(h) => h.clone(),
            // The running binary itself, even if its file was replaced since it started
            // (an upgrade mid-build): /proc/self/exe names the inode, not the path.
            None => PathBuf::from(SELF_EXE),
        };
        let use_copy = self.opts.snapshotter == Snapshotter::Copy;
        let mut fallback: Option<(PathBuf, snapshot::TreeSnapshot)> = None;
        if use_copy {
            let dir = step_dir.join("root");
            let before = snapshot::materialize(&lowers, &dir)?;
            spec.root = RootSpec::Dir(dir.clone());
            fallback = Some((dir, before));
        }
        let vertex = self.vertex;
        let reporter = self.reporter;
        let mut log = Vec::new();
        let mut on_line = |line: &str| {
            let line = redact(line, &secrets);
            reporter.log(vertex, &line);
            log.push(line);
        };
        let outcome = match exec::run(&spec, &helper, &mut on_line) {
            Err(exec::ExecError::Setup(msg))
                if !use_copy
                    && self.opts.snapshotter == Snapshotter::Auto
                    && msg.contains("overlayfs") =>
            {
                // No overlayfs here: copy the lowers and compare afterwards.
                reporter.log(
                    vertex,
                    &format!("overlayfs unavailable ({msg}); using the copy snapshotter"),
                );
                let dir = step_dir.join("root");
                let before = snapshot::materialize(&lowers, &dir)?;
                spec.root = RootSpec::Dir(dir.clone());
                fallback = Some((dir, before));
                exec::run(&spec, &helper, &mut on_line)
            }
            other => other,
        }
        .map_err(|e| StepError::msg(redact(&e.to_string(), &secrets)))?;
        drop(resources);
        self.logs.push((created_by.clone(), log));
        if outcome.exit_code != 0 {
            let mut msg = format!(
                "process \"{}\" did not complete successfully: exit code: {}",
                argv.join(" "),
                outcome.exit_code
            );
            if !outcome.tail.is_empty() {
                msg.push_str("\nlast output:");
                for l in &outcome.tail {
                    msg.push_str("\n  | ");
                    msg.push_str(&redact(l, &secrets));
                }
            }
            return Err(StepError::msg(msg));
        }
        let ignore = mount_points(&outcome.created);
        let opts = snapshot::DiffOptions {
            ignore: &ignore,
            ..Default::default()
        };
        let entries = match &fallback {
            Some((dir, before)) => snapshot::diff_dirs(before, dir, &opts)?,
            None => snapshot::diff_upper(&upper, &lowers, &opts)?,
        };
        let layer = if entries.is_empty() {
            None
        } else {
            // The layer's snapshot is made from the same entries (hard links to the
            // upper dir's files) while the blob is written, so the next step does not
            // unpack the blob again.
            let epoch = self.opts.epoch as u64;
            let (blob, prepared) = std::thread::scope(|s| {
                let prepared = s.spawn(|| snapshot::prepare(&snapshots, &entries, epoch));
                let blob = self.write_layer(entries.clone());
                (blob, prepared.join())
            });
            let blob = blob?;
            // Only a shortcut: when it fails, the blob is unpacked on first use.
            let fell_back = match prepared {
                Ok(Ok(Some(p))) => p
                    .commit(&snapshots, &blob.descriptor)
                    .err()
                    .map(|e| e.to_string()),
                Ok(Ok(None)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("panicked".into()),
            };
            if let Some(why) = fell_back {
                reporter.log(
                    vertex,
                    &format!("snapshot of the layer not made from the step's files ({why}); it will be unpacked"),
                );
            }
            Some((blob.descriptor, blob.diff_id))
        };
        if self.writes_records() {
            self.write_record("run", &cache_path, &layer)?;
        }
        let _ = remove_step_dir(&step_dir);
        self.push_run_result(state, ins, layer, created_by);
        Ok(())
    }

    /// The stage's snapshots (unpacked where missing), top-most first, with their
    /// warnings shown once per build.
    fn lowers(&mut self, snapshots: &Snapshots, state: &StageState) -> StepResult<Vec<PathBuf>> {
        let lowers = snapshots.lowers(self.store, &state.layers)?;
        for layer in &state.layers {
            if self.snapshot_warned.insert(layer.digest.to_string()) {
                for w in snapshots.warnings(layer) {
                    self.reporter.warn(&w);
                }
            }
        }
        Ok(lowers)
    }

    /// `/etc/passwd` and `/etc/group` as [`read_user_files`] finds them in the layers'
    /// snapshots (the top-most layer holding a regular file there), read from the layer
    /// blobs instead, without unpacking them; what each layer holds is recorded in the
    /// store (`.lading/cache/userfiles/<layer hex>`). `None` where a layer holds
    /// something only the snapshots answer exactly (a hard link or symlink there, `etc`
    /// as a symlink) or cannot be read: the caller unpacks instead.
    fn user_files_from_layers(
        &self,
        layers: &[Descriptor],
    ) -> Option<(Option<String>, Option<String>)> {
        let dir = self.store.private_dir().join("cache/userfiles");
        let (mut passwd, mut group) = (None, None);
        for layer in layers.iter().rev() {
            let path = dir.join(layer.digest.hex());
            let found: UserFiles = match fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(f) => f,
                None => {
                    let f = scan_user_files(self.store, layer)?;
                    if let Ok(bytes) = serde_json::to_vec(&f) {
                        let _ = fs::create_dir_all(&dir);
                        let _ = lading_oci::store::write_atomic(&path, &bytes);
                    }
                    f
                }
            };
            passwd = passwd.or(found.0);
            group = group.or(found.1);
            if passwd.is_some() && group.is_some() {
                break;
            }
        }
        Some((passwd, group))
    }

    /// Rootless: the step's user and group must exist in the user namespace; the
    /// supplementary groups that cannot be set there are dropped (as runc does) and
    /// said so.
    fn rootless_user(&self, spec: &str, user: &mut crate::users::ExecUser) -> StepResult<()> {
        let map = exec::userns::IdMapping::current()
            .map_err(|e| StepError::msg(format!("reading the user namespace's id maps: {e}")))?;
        let spec = if spec.is_empty() { "root" } else { spec };
        if !map.maps_uid(user.uid) {
            return Err(StepError::msg(format!(
                "USER {spec} needs subordinate ids in /etc/subuid for rootless builds (uid {} is not mapped in the user namespace)",
                user.uid
            )));
        }
        if !map.maps_gid(user.gid) {
            return Err(StepError::msg(format!(
                "USER {spec} needs subordinate ids in /etc/subgid for rootless builds (gid {} is not mapped in the user namespace)",
                user.gid
            )));
        }
        let (keep, dropped): (Vec<u32>, Vec<u32>) = user.groups.iter().partition(|g| {
            if map.setgroups_allowed() {
                map.maps_gid(**g)
            } else {
                **g == user.gid
            }
        });
        if !dropped.is_empty() {
            let list: Vec<String> = dropped.iter().map(u32::to_string).collect();
            self.reporter.log(
                self.vertex,
                &format!(
                    "supplementary groups {} not set: the rootless user namespace has no subordinate ids for them",
                    list.join(",")
                ),
            );
        }
        user.groups = keep;
        Ok(())
    }

    fn push_run_result(
        &self,
        state: &mut StageState,
        ins: &Located<Instruction>,
        layer: Option<(Descriptor, Digest)>,
        created_by: String,
    ) {
        let mut h = self.history(ins, layer.is_none());
        h.created_by = Some(created_by);
        match layer {
            Some((d, diff_id)) => state.push_layer(d, diff_id, h),
            None => state.config.history.push(h),
        }
    }

    fn network(&self, r: &ast::Run) -> StepResult<NetworkMode> {
        let value = r.network.as_deref().unwrap_or(match self.opts.network {
            NetworkMode::Host => "default",
            NetworkMode::None => "none",
        });
        match value {
            "default" => Ok(self.opts.network),
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            other => Err(StepError::msg(format!(
                "unsupported network mode {other:?} (default, none or host)"
            ))),
        }
    }

    /// The argv of the step; a lone `RUN <<EOF` becomes a script file mount.
    fn command(
        &self,
        state: &StageState,
        r: &ast::Run,
        mounts: &mut Vec<MountSpec>,
        key_mounts: &mut Vec<(String, String)>,
    ) -> StepResult<Vec<String>> {
        let shell = if state.config.config.shell.is_empty() {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        } else {
            state.config.config.shell.clone()
        };
        match &r.command {
            Command::Exec(v) if r.heredocs.is_empty() => Ok(v.clone()),
            Command::Exec(_) => Err(StepError::msg("here-documents need the shell form of RUN")),
            Command::Shell(s) if r.heredocs.is_empty() => Ok([shell, vec![s.clone()]].concat()),
            Command::Shell(s) => {
                if let [h] = r.heredocs.as_slice()
                    && is_lone_heredoc(s, &h.name)
                {
                    let target = format!("/dev/pipes/{}", h.name);
                    key_mounts.push((target.clone(), format!("script:{}", h.content)));
                    mounts.push(MountSpec {
                        target: target.clone(),
                        kind: MountKind::File {
                            content: h.content.clone().into_bytes(),
                            mode: HEREDOC_SCRIPT_MODE,
                            uid: 0,
                            gid: 0,
                        },
                    });
                    return Ok([shell, vec![target]].concat());
                }
                let mut script = s.clone();
                for h in &r.heredocs {
                    script.push('\n');
                    script.push_str(&h.content);
                    script.push_str(&h.name);
                }
                Ok([shell, vec![script]].concat())
            }
        }
    }

    /// The environment of a step (see the module docs).
    fn run_env(&self, state: &StageState, home: &str, extra: Vec<String>) -> Vec<String> {
        let mut env: Vec<String> = state.config.config.env.clone();
        let set = |env: &mut Vec<String>, k: &str, v: &str| {
            let prefix = format!("{k}=");
            let entry = format!("{k}={v}");
            match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                Some(slot) => *slot = entry,
                None => env.push(entry),
            }
        };
        let defined = |env: &[String], k: &str| {
            let prefix = format!("{k}=");
            env.iter().any(|e| e.starts_with(&prefix))
        };
        for (k, v) in &state.args {
            if let Some(v) = v
                && (!defined(&env, k) || state.args_over_env.contains(k))
            {
                set(&mut env, k, v);
            }
        }
        for k in PROXY_ARGS {
            if let Some(v) = self.opts.build_args.get(*k)
                && !defined(&env, k)
            {
                set(&mut env, k, v);
            }
        }
        if !defined(&env, "PATH") {
            set(&mut env, "PATH", super::DEFAULT_PATH);
        }
        if !defined(&env, "HOME") {
            set(&mut env, "HOME", home);
        }
        for kv in extra {
            if let Some((k, v)) = kv.split_once('=') {
                set(&mut env, k, v);
            }
        }
        env
    }

    /// BuildKit's history text: `RUN |N K=V ... /bin/sh -c cmd # buildkit`, listing the
    /// build args the step saw.
    fn run_created_by(&self, state: &StageState, argv: &[String]) -> String {
        let args: Vec<String> = state
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        let prefix = if args.is_empty() {
            String::new()
        } else {
            format!("|{} {} ", args.len(), args.join(" "))
        };
        format!("RUN {prefix}{} # buildkit", argv.join(" "))
    }

    #[allow(clippy::too_many_arguments)]
    fn mount(
        &mut self,
        state: &mut StageState,
        m: &RunMount,
        mounts: &mut Vec<MountSpec>,
        key_mounts: &mut Vec<(String, String)>,
        extra_env: &mut Vec<String>,
        secrets: &mut Vec<Vec<u8>>,
        resources: &mut StepResources,
    ) -> StepResult<()> {
        let target = self.workdir_path(state, &m.target);
        match m.kind {
            MountType::Bind => {
                let source_rel = m.source.clone().unwrap_or_else(|| "/".into());
                let root = self.bind_root(state, m.from.as_deref())?;
                let source = crate::exec::rootpath::resolve(&root, &source_rel)
                    .map_err(|e| StepError::msg(format!("bind source {source_rel}: {e}")))?;
                if fs::symlink_metadata(&source).is_err() {
                    return Err(StepError::msg(format!(
                        "--mount=type=bind: source {source_rel:?} not found{}",
                        m.from
                            .as_deref()
                            .map(|f| format!(" in {f}"))
                            .unwrap_or_default()
                    )));
                }
                key_mounts.push((target.clone(), format!("bind:{}", tree_digest(&source)?)));
                let source = if m.readonly {
                    source
                } else {
                    // Writes to a rw bind mount are discarded: give the step a copy.
                    let copy = self
                        .tmp
                        .join(format!("bind-{}-{}", self.vertex, mounts.len()));
                    copy_tree(&source, &copy)?;
                    copy
                };
                mounts.push(MountSpec {
                    target,
                    kind: MountKind::Bind {
                        source,
                        readonly: m.readonly,
                    },
                });
            }
            MountType::Cache => {
                if m.from.is_some() {
                    return Err(StepError::msg("--mount=type=cache,from= is not supported"));
                }
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let mut h = Sha256::new();
                h.update(id.as_bytes());
                let base = self.store.private_dir().join("cache/mounts");
                let hex = h.finish().hex().to_string();
                // Leased so prune leaves it while this build runs; its mtime says when
                // it was last used (prune's least-recently-used order).
                self.store.hold_keys(&[format!("mount-{hex}")])?;
                let dir = base.join(&hex);
                let mut fresh = !dir.exists();
                if !fresh && let Ok(d) = fs::File::open(&dir) {
                    let _ = d.set_modified(std::time::SystemTime::now());
                }
                let mut use_dir = dir.clone();
                fs::create_dir_all(&base)
                    .map_err(|e| StepError::msg(format!("creating {}: {e}", base.display())))?;
                let lock_path = base.join(format!("{}.lock", h_hex(&id)));
                match m.sharing {
                    Sharing::Shared => {}
                    Sharing::Locked => resources._locks.push(lock(&lock_path, true)?),
                    Sharing::Private => match try_lock(&lock_path)? {
                        Some(l) => resources._locks.push(l),
                        None => {
                            use_dir =
                                self.tmp
                                    .join(format!("cache-{}-{}", self.vertex, mounts.len()));
                            fresh = true;
                        }
                    },
                }
                if fresh {
                    fs::create_dir_all(&use_dir).map_err(|e| {
                        StepError::msg(format!("creating {}: {e}", use_dir.display()))
                    })?;
                    fs::set_permissions(
                        &use_dir,
                        fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
                    )
                    .map_err(|e| StepError::msg(format!("chmod {}: {e}", use_dir.display())))?;
                    std::os::unix::fs::chown(
                        &use_dir,
                        Some(m.uid.unwrap_or(0)),
                        Some(m.gid.unwrap_or(0)),
                    )
                    .map_err(|e| StepError::msg(format!("chown {}: {e}", use_dir.display())))?;
                }
                key_mounts.push((target.clone(), format!("cache:{id}")));
                mounts.push(MountSpec {
                    target,
                    kind: MountKind::Bind {
                        source: use_dir,
                        readonly: m.readonly,
                    },
                });
            }
            MountType::Tmpfs => {
                key_mounts.push((target.clone(), format!("tmpfs:{:?}", m.size)));
                mounts.push(MountSpec {
                    target,
                    kind: MountKind::Tmpfs { size: m.size },
                });
            }
            MountType::Secret => {
                let id = m.id.clone().unwrap_or_default();
                let value = match self.opts.secrets.get(&id) {
                    Some(SecretSource::File(p)) => Some(fs::read(p).map_err(|e| {
                        StepError::msg(format!("reading secret {id} from {}: {e}", p.display()))
                    })?),
                    Some(SecretSource::Env(var)) => {
                        std::env::var_os(var).map(std::os::unix::ffi::OsStringExt::into_vec)
                    }
                    None => None,
                };
                let Some(value) = value else {
                    if m.required {
                        return Err(StepError::msg(format!(
                            "secret {id} not found: pass it with --secret id={id},src=FILE"
                        )));
                    }
                    return Ok(());
                };
                // The cache key names the secret, never its value.
                key_mounts.push((m.target.clone(), format!("secret:{id}")));
                if let Some(var) = &m.env {
                    extra_env.push(format!("{var}={}", String::from_utf8_lossy(&value)));
                }
                if !m.target.is_empty() {
                    mounts.push(MountSpec {
                        target,
                        kind: MountKind::File {
                            content: value.clone(),
                            mode: m.mode.unwrap_or(0o400),
                            uid: m.uid.unwrap_or(0),
                            gid: m.gid.unwrap_or(0),
                        },
                    });
                }
                secrets.push(value);
            }
            MountType::Ssh => {
                let id = m.id.clone().unwrap_or_else(|| "default".into());
                let Some(sock) = self.opts.ssh.get(&id) else {
                    if m.required {
                        return Err(StepError::msg(format!(
                            "no SSH key {id:?} forwarded: pass --ssh {id}[=SOCKET]"
                        )));
                    }
                    return Ok(());
                };
                key_mounts.push((target.clone(), format!("ssh:{id}")));
                if !extra_env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                    extra_env.push(format!("SSH_AUTH_SOCK={target}"));
                }
                // Socket paths are limited to 108 bytes: keep it short, outside the store.
                let dir = tempfile::Builder::new()
                    .prefix("lading-ssh-")
                    .tempdir()
                    .map_err(|e| StepError::msg(format!("creating a socket dir: {e}")))?;
                let path = dir.path().join(format!("{}.sock", mounts.len()));
                let proxy = super::ssh_proxy::SshProxy::start(
                    &path,
                    sock,
                    m.mode.unwrap_or(0o600),
                    m.uid.unwrap_or(0),
                    m.gid.unwrap_or(0),
                )
                .map_err(|e| StepError::msg(format!("--mount=type=ssh,id={id}: {e}")))?;
                mounts.push(MountSpec {
                    target,
                    kind: MountKind::Bind {
                        source: proxy.path().to_path_buf(),
                        readonly: false,
                    },
                });
                resources._ssh.push((proxy, dir));
            }
        }
        Ok(())
    }

    /// The directory a bind mount's `source` is taken from: the context, a named
    /// context directory, or the root filesystem of a stage or image.
    fn bind_root(&mut self, _state: &StageState, from: Option<&str>) -> StepResult<PathBuf> {
        let Some(from) = from else {
            return Ok(self.opts.context_dir.clone());
        };
        if let Some(j) = self.stage_index(from) {
            let mut st = self.finished_stage(j).ok_or_else(|| {
                StepError::msg(format!(
                    "stage {from} was not built (mounts must name an earlier stage)"
                ))
            })?;
            let fs = st.rootfs(self.store).map_err(StepError::from)?;
            let dir = fs.dir.clone();
            self.done.insert(j, st);
            return Ok(dir);
        }
        if let Some(crate::options::NamedContext::Dir(d)) = self.opts.named_contexts.get(from) {
            return Ok(d.clone());
        }
        let name = match self.opts.named_contexts.get(from) {
            Some(crate::options::NamedContext::Image(r)) => r.clone(),
            _ => from.to_string(),
        };
        let src = (self.resolve)(&name);
        let img = src.fetch(self.store, &self.opts.platform)?;
        let layers = img.map(|i| i.manifest.layers.clone()).unwrap_or_default();
        let dir = self.tmp.join(format!("mount-from-{}", self.vertex));
        let mut st = StageState::new(lading_oci::ImageConfig::default(), layers, dir);
        let fs = st.rootfs(self.store).map_err(StepError::from)?;
        Ok(fs.dir.clone())
    }
}

/// The mount points among the paths the sandbox created: those that are not a parent
/// of another. Their created parents are pruned by the diff only when the step left
/// them empty, so a step that writes `/run/x` next to a created `/run/secrets` keeps it.
fn mount_points(created: &[String]) -> Vec<String> {
    created
        .iter()
        .filter(|c| {
            let prefix = format!("{c}/");
            !created.iter().any(|o| o.starts_with(&prefix))
        })
        .cloned()
        .collect()
}

/// Whether the shell-form text is only the here-document marker (`<<EOF`, `<<-"EOF"`).
fn is_lone_heredoc(cmd: &str, name: &str) -> bool {
    let t = cmd.trim();
    let Some(rest) = t.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let unquoted = rest.trim_matches(|c| c == '"' || c == '\'');
    unquoted == name
}

/// `etc/passwd` and `etc/group` as the step will see them: from the top-most lower
/// that has them.
/// A layer's own `/etc/passwd` and `/etc/group` (regular files only).
type UserFiles = (Option<String>, Option<String>);

/// The regular files `etc/passwd` and `etc/group` of one layer blob (the last entry of
/// each path wins, as when unpacking). `None` when the layer has there what only an
/// unpacked snapshot answers as [`read_user_files`] does (a link, `etc` not a plain
/// directory), or cannot be read.
fn scan_user_files(store: &lading_oci::Store, layer: &Descriptor) -> Option<UserFiles> {
    use std::io::Read;
    let reader = lading_oci::unpack::open_layer(store, layer).ok()?;
    let mut archive = tar::Archive::new(reader);
    let (mut passwd, mut group) = (None, None);
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let path = entry.path().ok()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").trim_start_matches('/');
        let path = path.trim_end_matches('/');
        let kind = entry.header().entry_type();
        let slot = match path {
            "etc" if !kind.is_dir() => return None,
            "etc/passwd" => &mut passwd,
            "etc/group" => &mut group,
            _ => continue,
        };
        if kind.is_hard_link() || kind.is_symlink() {
            return None;
        }
        *slot = if kind.is_file() {
            let mut text = String::new();
            entry.read_to_string(&mut text).ok()?;
            Some(text)
        } else {
            None
        };
    }
    Some((passwd, group))
}

fn read_user_files(lowers: &[PathBuf]) -> (Option<String>, Option<String>) {
    let find = |rel: &str| {
        lowers.iter().find_map(|l| {
            let p = l.join(rel);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_file() => fs::read_to_string(&p).ok(),
                _ => None,
            }
        })
    };
    (find("etc/passwd"), find("etc/group"))
}

/// Replaces every secret value in `line` by `****`.
fn redact(line: &str, secrets: &[Vec<u8>]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        let s = String::from_utf8_lossy(s);
        let s = s.trim_end_matches(['\n', '\r']);
        if s.len() >= 3 {
            out = out.replace(s, "****");
        }
    }
    out
}

fn h_hex(s: &str) -> String {
    let mut h = Sha256::new();
    h.update(s.as_bytes());
    h.finish().hex().to_string()
}

fn lock(path: &Path, _blocking: bool) -> StepResult<nix::fcntl::Flock<fs::File>> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| StepError::msg(format!("opening {}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| StepError::msg(format!("locking {}: {e}", path.display())))
}

fn try_lock(path: &Path) -> StepResult<Option<nix::fcntl::Flock<fs::File>>> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| StepError::msg(format!("opening {}: {e}", path.display())))?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(StepError::msg(format!("locking {}: {e}", path.display()))),
    }
}

/// A digest of a file tree's names, kinds, modes, owners, link targets and contents.
fn tree_digest(root: &Path) -> StepResult<String> {
    let mut h = Sha256::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name();
    for e in walker {
        let e = e.map_err(|e| StepError::msg(format!("reading {}: {e}", root.display())))?;
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        let meta = e
            .path()
            .symlink_metadata()
            .map_err(|err| StepError::msg(format!("reading {}: {err}", e.path().display())))?;
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(
            format!(
                "\0{}:{}:{}:{}\0",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.len()
            )
            .as_bytes(),
        );
        if meta.file_type().is_symlink() {
            let t = fs::read_link(e.path()).unwrap_or_default();
            h.update(t.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            let mut f = fs::File::open(e.path())
                .map_err(|err| StepError::msg(format!("reading {}: {err}", e.path().display())))?;
            let mut w = lading_oci::hash::HashingWriter::new(std::io::sink());
            std::io::copy(&mut f, &mut w)
                .map_err(|err| StepError::msg(format!("reading {}: {err}", e.path().display())))?;
            h.update(w.finish().1.hex().as_bytes());
        }
    }
    Ok(h.finish().to_string())
}

/// Copies a tree (for rw bind mounts), keeping modes, owners and symlinks.
fn copy_tree(src: &Path, dest: &Path) -> StepResult<()> {
    let err = |p: &Path, e: std::io::Error| StepError::msg(format!("copying {}: {e}", p.display()));
    for e in walkdir::WalkDir::new(src).follow_links(false) {
        let e = e.map_err(|e| StepError::msg(format!("reading {}: {e}", src.display())))?;
        let rel = e.path().strip_prefix(src).unwrap_or(e.path());
        let to = dest.join(rel);
        let meta = e.path().symlink_metadata().map_err(|x| err(e.path(), x))?;
        if meta.is_dir() {
            fs::create_dir_all(&to).map_err(|x| err(&to, x))?;
        } else if meta.file_type().is_symlink() {
            let t = fs::read_link(e.path()).map_err(|x| err(e.path(), x))?;
            std::os::unix::fs::symlink(t, &to).map_err(|x| err(&to, x))?;
            continue;
        } else if meta.is_file() {
            fs::copy(e.path(), &to).map_err(|x| err(&to, x))?;
        } else {
            continue;
        }
        fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|x| err(&to, x))?;
        let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
    }
    Ok(())
}

/// Removes a step's scratch directory (its upper dir can hold read-only dirs).
fn remove_step_dir(dir: &Path) -> std::io::Result<()> {
    fs::remove_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_heredoc_markers() {
        assert!(is_lone_heredoc("<<EOF", "EOF"));
        assert!(is_lone_heredoc("<<-\"EOF\"", "EOF"));
        assert!(is_lone_heredoc(" <<'END' ", "END"));
        assert!(!is_lone_heredoc("python3 <<EOF", "EOF"));
        assert!(!is_lone_heredoc("<<EOF | sh", "EOF"));
    }

    #[test]
    fn secrets_are_redacted_from_log_lines() {
        let s = vec![b"hunter2\n".to_vec()];
        assert_eq!(redact("token=hunter2;", &s), "token=****;");
    }
}
