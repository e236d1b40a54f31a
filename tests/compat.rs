//! Dockerfile compatibility: every case under `tests/compat/cases/<name>/` is built by
//! buildah (the oracle) and by lading, and the two images are compared: the unpacked
//! root filesystems (path, type, mode incl. setuid/sticky, owner, size, sha256, symlink
//! target, hard links, `security.capability` and `user.*` xattrs; not mtimes) and the
//! config fields a Dockerfile sets.
//!
//! Where buildah is known to differ from BuildKit, lading follows BuildKit: the
//! [`QUIRKS`] table lists each such difference and rewrites buildah's result (or, for
//! flags buildah 1.28 does not parse, builds `oracle.Dockerfile`, an equivalent
//! Dockerfile, with buildah instead).
//!
//! A case directory holds `Dockerfile`, `context/`, and optionally:
//! - `setup.sh`: run with `sh -eu` inside a temporary copy of `context/` to make what git
//!   cannot keep (empty dirs, special modes, owners, archives);
//! - `args`: extra build arguments, one per line (`--build-arg=K=V`, `--target=T`,
//!   `--secret=id=ID,src=FILE`, `--ssh=ID=KEYFILE`);
//!   `{case:NAME}` is replaced by the image that the same builder made for case NAME;
//! - `oracle.Dockerfile`: what buildah builds instead of `Dockerfile` (see [`QUIRKS`]);
//! - `oracle.args`: extra arguments for buildah only, with `oracle.Dockerfile`
//!   (`--network=none` where buildah cannot say it per RUN).
//!
//! In `args`, `{context}` is replaced by the case's prepared context directory (for
//! `--secret=id=ID,src={context}/FILE` and `--ssh=default={context}/KEY`).
//!
//! Every build gets `--build-arg BASE=oci:DIR:base`, a small base image made by the test
//! with umoci (users `app` 1000 and others in `/etc/passwd` and `/etc/group`; the host's
//! busybox-static as the shell for RUN; see [`make_base`]).
//!
//! `run-*` cases use RUN (buildah runs them with `--runtime runc`).
//!
//! Environment: `COMPAT_CASES=a,b` runs only those cases (and what they need);
//! `COMPAT_ORACLE_ONLY=1` builds with buildah only; `COMPAT_JOBS=N` (default 2) cases at
//! once; `COMPAT_KEEP=1` keeps the work directory and prints where it is, with
//! `cases/<name>/buildah-normalised.txt`, buildah's image as compared.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const CASES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/cases");
const LADING: &str = env!("CARGO_BIN_EXE_lading");

/// Whether a case runs RUN (its name says so; [`corpus_is_well_formed`] checks it).
fn is_run_case(name: &str) -> bool {
    name.starts_with("run-")
}

// ---------------------------------------------------------------------------------------
// Known differences between buildah 1.28 and BuildKit, applied to buildah's result.
// ---------------------------------------------------------------------------------------

/// One known difference between buildah and BuildKit, and how the test bridges it.
struct Quirk {
    /// The case it applies to, or `*` for every case.
    case: &'static str,
    /// The config field or path concerned.
    what: &'static str,
    buildah: &'static str,
    buildkit: &'static str,
    why: &'static str,
    fix: Fix,
}

enum Fix {
    /// Rewrite buildah's normalised image.
    Rewrite(fn(&mut Image)),
    /// Rewrite buildah's normalised image, knowing the case's `Dockerfile` (the one lading
    /// builds) and its `--target`, if any.
    RewriteFromDockerfile(fn(&mut Image, &str, Option<&str>)),
    /// Rewrite buildah's normalised image, knowing the case's `Dockerfile` and the tree
    /// of the base image.
    RewriteKnowingBase(fn(&mut Image, &str, &BTreeMap<String, Entry>)),
    /// buildah builds `oracle.Dockerfile`, an equivalent Dockerfile without the feature
    /// (with `oracle.args`, if present, as extra buildah arguments).
    OracleDockerfile,
    /// The image is handed to a later build through another transport; nothing to rewrite.
    Transport,
}

const QUIRKS: &[Quirk] = &[
    Quirk {
        case: "*",
        what: "Labels[io.buildah.version]",
        buildah: "adds a label with its own version to every image",
        buildkit: "adds no label",
        why: "builder branding, not Dockerfile semantics",
        fix: Fix::Rewrite(drop_buildah_version_label),
    },
    Quirk {
        case: "*",
        what: "Cmd, Entrypoint, OnBuild, Volumes, ExposedPorts, Labels, Env, Shell, \
               User, WorkingDir",
        buildah: "writes unset fields as [] or {} in the docker config, and unset \
                  User and WorkingDir as \"\"",
        buildkit: "omits them (null)",
        why: "same meaning; BuildKit's config is the reference (moby/buildkit dockerfile2llb)",
        fix: Fix::Rewrite(empty_means_unset),
    },
    Quirk {
        case: "*",
        what: "RUN mount stubs: /etc/hosts, /etc/resolv.conf, /etc/hostname, /run, and \
               RUN --mount targets (with the parents it had to create)",
        buildah: "leaves in the image the empty files and directories it created to mount \
                  over during RUN (it also mounts /etc/hostname and /run/.containerenv)",
        buildkit: "removes each stub it created for /etc/resolv.conf, /etc/hosts and every \
                   --mount target, parents included, when still empty after the RUN \
                   (executor.MountStubsCleaner); it mounts no /etc/hostname or /run/*",
        why: "mount points are the builder's plumbing, not what the Dockerfile made",
        fix: Fix::RewriteKnowingBase(remove_mount_stubs),
    },
    Quirk {
        case: "expose",
        what: "ExposedPorts",
        buildah: "keeps a range as one key, \"8000-8002/tcp\", and the protocol's case (5000/TCP)",
        buildkit: "expands a range to one key per port and lower-cases the protocol \
                   (nat.ParsePortSpecs; checked with docker 20.10's BuildKit)",
        why: "a range key breaks port handling downstream \
              (podman-container-tools/podman#12293)",
        fix: Fix::Rewrite(expand_port_ranges),
    },
    Quirk {
        case: "env-forms",
        what: "Env order (ENV PATH=... redefining the base's PATH)",
        buildah: "removes the old entry and appends the new one at the end",
        buildkit: "replaces the entry in place (checked with docker 20.10's BuildKit)",
        why: "Env order is visible in the config digest and `docker inspect`",
        fix: Fix::Rewrite(redefined_base_env_keeps_position),
    },
    Quirk {
        case: "arg-build-arg",
        what: "Env LOCAL2 (ARG LOCAL=redeclared after ARG LOCAL=local-default)",
        buildah: "keeps the first default",
        buildkit: "a redeclared ARG's new default replaces the old one \
                   (checked with docker 20.10's BuildKit)",
        why: "each ARG instruction sets the variable from its own default",
        fix: Fix::Rewrite(redeclared_arg_takes_new_default),
    },
    Quirk {
        case: "from-scratch",
        what: "WorkingDir",
        buildah: "leaves WorkingDir unset for FROM scratch",
        buildkit: "starts scratch images with WorkingDir \"/\" (dockerfile2llb emptyImage)",
        why: "BuildKit's image defaults for scratch",
        fix: Fix::Rewrite(scratch_workdir_is_root),
    },
    Quirk {
        case: "shell-instruction",
        what: "Cmd, Entrypoint (shell form after SHELL)",
        buildah: "prefixes shell-form CMD/ENTRYPOINT with /bin/sh -c, ignoring SHELL",
        buildkit: "prefixes each with the SHELL in effect when that CMD/ENTRYPOINT \
                   instruction ran, in its own stage; a CMD/ENTRYPOINT inherited from a \
                   parent stage keeps the parent's shell (a later SHELL does not change it)",
        why: "Dockerfile reference: SHELL affects the shell form of RUN, CMD and ENTRYPOINT \
              that follow it (podman-container-tools/buildah#3537, #1581)",
        fix: Fix::RewriteFromDockerfile(shell_form_uses_shell_in_effect),
    },
    Quirk {
        case: "copy-link",
        what: "COPY --link",
        buildah: "1.28 rejects the flag",
        buildkit: "copies into an independent layer; the same tree results",
        why: "dockerfile:1.4 flag newer than buildah 1.28",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "copy-parents",
        what: "COPY --parents",
        buildah: "1.28 rejects the flag",
        buildkit: "keeps each source's path below the context root under the destination",
        why: "dockerfile:1.7-labs flag newer than buildah 1.28",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "copy-exclude",
        what: "COPY --exclude",
        buildah: "1.28 rejects the flag",
        buildkit: "skips sources matching the patterns (.dockerignore syntax)",
        why: "dockerfile:1.7-labs flag newer than buildah 1.28",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "copy-chmod-symbolic",
        what: "COPY --chmod=u+x",
        buildah: "1.28 parses octal modes only",
        buildkit: "applies symbolic modes to each source's own mode (dockerfile:1.10)",
        why: "flag form newer than buildah 1.28",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "run-heredoc",
        what: "RUN <<EOF (heredoc as the script, with a shebang, <<-)",
        buildah: "1.28 has no heredocs (it reads the heredoc's lines as instructions)",
        buildkit: "runs the heredoc's text as the script (a file run by its interpreter \
                   when it starts with #!)",
        why: "dockerfile:1.4 syntax newer than buildah 1.28",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "run-heredoc-sh",
        what: "RUN cmd <<EOF (heredocs as stdin, several in one RUN, quoted delimiter)",
        buildah: "1.28 has no heredocs",
        buildkit: "passes the command with its heredocs to the shell",
        why: "dockerfile:1.4 syntax newer than buildah 1.28",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "run-network-none",
        what: "RUN --network=none",
        buildah: "1.28 rejects the flag (\"RUN only supports the --mount flag\")",
        buildkit: "runs that RUN in a network namespace of its own with only lo, up",
        why: "dockerfile:1.3 flag newer than buildah 1.28; buildah builds without it, with \
              `--network=none` for the whole build (oracle.args)",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "run-mount-tmpfs",
        what: "RUN --mount=type=tmpfs,size=1m",
        buildah: "1.28 rejects size= (\"size: invalid mount option\"); it calls it tmpfs-size=",
        buildkit: "takes size= (bytes, or with a unit suffix)",
        why: "the Dockerfile reference names the option size; buildah builds an \
              oracle.Dockerfile with tmpfs-size= instead",
        fix: Fix::OracleDockerfile,
    },
    Quirk {
        case: "run-mount-tmpfs",
        what: "/srv/existing (a directory of the base, target of a tmpfs mount)",
        buildah: "deletes the mount target after the RUN, with the base's files in it \
                  (reported against 1.29 as containers/buildah#4739)",
        buildkit: "leaves the directory and its files as the base has them",
        why: "a tmpfs mount hides a directory for one RUN, it does not delete it",
        fix: Fix::RewriteKnowingBase(restore_tmpfs_targets),
    },
    Quirk {
        case: "run-hardlinks",
        what: "/links/* (hard links of files changed or linked in a later RUN)",
        buildah: "(vfs storage) keeps hard links across RUN steps: changing one name of a \
                  linked file changes all of them, and linking a base file adds only the new name",
        buildkit: "runs steps on overlayfs (index=off): the first write to one name of a \
                   lower file copies that name up alone, so the other names keep the old \
                   content and mode; linking a base file copies it up, so the layer holds both \
                   names as one hard link",
        why: "overlayfs copy-up semantics (kernel Documentation/filesystems/overlayfs.rst); \
              checked against docker 20.10's BuildKit with this very Dockerfile",
        fix: Fix::Rewrite(overlay_copy_up_breaks_hard_links),
    },
    Quirk {
        case: "run-mount-ssh",
        what: "/ssh-default.txt (mode of the socket of --mount=type=ssh without mode=)",
        buildah: "makes the socket 0620",
        buildkit: "makes it 0600, the documented default of mode=",
        why: "Dockerfile reference, RUN --mount=type=ssh: mode defaults to 0600",
        fix: Fix::Rewrite(ssh_socket_default_mode),
    },
    Quirk {
        case: "onbuild-child",
        what: "OnBuild of the parent image",
        buildah: "drops OnBuild (and Healthcheck, Shell) when pushing to an OCI layout, \
                  so a second build from it runs no trigger",
        buildkit: "keeps OnBuild in the OCI config",
        why: "the OCI config schema has no OnBuild; buildah's parent is handed over as a \
              docker-archive instead, lading's as its OCI layout",
        fix: Fix::Transport,
    },
];

/// Cases where lading does not keep hard links yet that BuildKit (and buildah) keep, with
/// the reason: there the hard-link structure is left out of the comparison (contents,
/// modes and owners are still compared). A listed case whose hard links match fails, so
/// that the entry goes as soon as the bug is fixed.
const HARDLINKS_NOT_KEPT_YET: &[(&str, &str)] = &[(
    "add-tar-gz",
    "ADD of a local tar extracts a hard link as a copy of its target \
     (builder/src/archive.rs); BuildKit and buildah link the two paths",
)];

fn drop_buildah_version_label(image: &mut Image) {
    if let Some(Value::Object(labels)) = image.config.get_mut("Labels") {
        labels.remove("io.buildah.version");
    }
}

/// String fields for which `""` means unset: buildah writes `"User": ""` and
/// `"WorkingDir": ""` when nothing set them, BuildKit (and lading) omit them. An explicit
/// `USER ""`/`WORKDIR ""` is rejected by both, so `""` never carries meaning here.
const EMPTY_STRING_MEANS_UNSET: &[&str] = &["User", "WorkingDir"];

fn empty_means_unset(image: &mut Image) {
    image.config.retain(|key, value| match value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Null => false,
        Value::String(s) if EMPTY_STRING_MEANS_UNSET.contains(&key.as_str()) => !s.is_empty(),
        _ => true,
    });
}

/// Env keys of the base image made by [`make_base`], in its order.
const BASE_ENV_KEYS: &[&str] = &["PATH"];

fn redefined_base_env_keeps_position(image: &mut Image) {
    let Some(Value::Array(env)) = image.config.get_mut("Env") else {
        return;
    };
    let key_of = |v: &Value| {
        v.as_str()
            .unwrap_or("")
            .split('=')
            .next()
            .unwrap_or("")
            .to_string()
    };
    let (mut inherited, rest): (Vec<Value>, Vec<Value>) = env
        .drain(..)
        .partition(|v| BASE_ENV_KEYS.contains(&key_of(v).as_str()));
    inherited.sort_by_key(|v| BASE_ENV_KEYS.iter().position(|k| *k == key_of(v)));
    *env = inherited.into_iter().chain(rest).collect();
}

fn redeclared_arg_takes_new_default(image: &mut Image) {
    if let Some(Value::Array(env)) = image.config.get_mut("Env") {
        for entry in env
            .iter_mut()
            .filter(|e| e.as_str() == Some("LOCAL2=local-default"))
        {
            *entry = Value::from("LOCAL2=redeclared");
        }
    }
}

fn scratch_workdir_is_root(image: &mut Image) {
    image
        .config
        .entry("WorkingDir".into())
        .or_insert_with(|| Value::from("/"));
}

fn expand_port_ranges(image: &mut Image) {
    let Some(Value::Object(ports)) = image.config.get("ExposedPorts") else {
        return;
    };
    let mut expanded = Map::new();
    for key in ports.keys() {
        let (range, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let proto = proto.to_ascii_lowercase();
        match range.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi): (u16, u16) = (lo.parse().unwrap(), hi.parse().unwrap());
                for port in lo..=hi {
                    expanded.insert(format!("{port}/{proto}"), Value::Object(Map::new()));
                }
            }
            None => {
                expanded.insert(format!("{range}/{proto}"), Value::Object(Map::new()));
            }
        }
    }
    image
        .config
        .insert("ExposedPorts".into(), Value::Object(expanded));
}

/// A Dockerfile's instructions, one line each: continuation lines joined, comments and
/// blank lines dropped. (Heredoc bodies come out as lines of their own; the rewrites
/// using this look only at instructions they know.)
fn logical_lines(dockerfile: &str) -> Vec<String> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    logical
}

/// Files a builder mounts over during every RUN: BuildKit's `/etc/resolv.conf` and
/// `/etc/hosts`, and buildah's `/etc/hostname` and `/run/.containerenv`.
const RUN_SYSTEM_MOUNTS: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/hostname",
    "/run/.containerenv",
];

/// Where the RUN instructions of a Dockerfile mount things: [`RUN_SYSTEM_MOUNTS`] if there
/// is any RUN, plus every `--mount` target (BuildKit's defaults for secret and ssh mounts
/// without one: `/run/secrets/ID`, `/run/buildkit/ssh_agent.N`). Absolute targets only:
/// the corpus does not use relative ones.
fn run_mount_targets(dockerfile: &str) -> Vec<String> {
    run_mounts(dockerfile).into_iter().map(|(_, t)| t).collect()
}

/// [`run_mount_targets`] with the type of each mount (`system` for
/// [`RUN_SYSTEM_MOUNTS`]).
fn run_mounts(dockerfile: &str) -> Vec<(String, String)> {
    let mut targets: Vec<(String, String)> = Vec::new();
    for line in logical_lines(dockerfile) {
        let Some(rest) = line
            .split_once(char::is_whitespace)
            .filter(|(word, _)| word.eq_ignore_ascii_case("RUN"))
            .map(|(_, rest)| rest)
        else {
            continue;
        };
        if targets.is_empty() {
            targets.extend(
                RUN_SYSTEM_MOUNTS
                    .iter()
                    .map(|p| ("system".to_string(), p.to_string())),
            );
        }
        let mut ssh_mounts = 0;
        for flag in rest.split_whitespace().take_while(|w| w.starts_with("--")) {
            let Some(spec) = flag.strip_prefix("--mount=") else {
                continue;
            };
            let fields: BTreeMap<&str, &str> = spec
                .split(',')
                .map(|f| f.split_once('=').unwrap_or((f, "")))
                .collect();
            let target = ["target", "dst", "destination"]
                .iter()
                .find_map(|k| fields.get(k).map(|t| t.to_string()));
            let kind = fields.get("type").copied().unwrap_or("bind");
            let target = match (target, kind) {
                (Some(t), _) => Some(t),
                (None, "secret") => fields.get("id").map(|id| format!("/run/secrets/{id}")),
                (None, "ssh") => Some(format!("/run/buildkit/ssh_agent.{ssh_mounts}")),
                (None, _) => None,
            };
            if kind == "ssh" {
                ssh_mounts += 1;
            }
            targets.extend(
                target
                    .filter(|t| t.starts_with('/'))
                    .map(|t| (kind.to_string(), t)),
            );
        }
    }
    targets
}

/// BuildKit removes the mount stubs of a RUN: each path it had to create to mount
/// something there (the target and any missing parents), if still empty afterwards
/// (moby/buildkit executor/stubs.go). buildah keeps them. Applied to buildah's final
/// image: a stub is a path absent from the base image, and it goes if it is an empty
/// directory (after its own stubs went) or an empty file. (Per image rather than per
/// RUN: a case must not create a mount target for real and leave it empty.)
fn remove_mount_stubs(image: &mut Image, dockerfile: &str, base: &BTreeMap<String, Entry>) {
    let mut stubs = BTreeSet::new();
    for target in run_mount_targets(dockerfile) {
        let mut path = Path::new(&target);
        while path != Path::new("/") {
            let text = path.display().to_string();
            if base.contains_key(&text) {
                break;
            }
            stubs.insert(text);
            path = path.parent().unwrap_or(Path::new("/"));
        }
    }
    // Deepest first, so a parent is judged after its children went.
    let mut stubs: Vec<String> = stubs.into_iter().collect();
    stubs.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for stub in stubs {
        let empty = match image.tree.get(&stub).map(|e| &e.kind) {
            Some(Kind::Dir) => {
                let prefix = format!("{stub}/");
                image
                    .tree
                    .range(prefix.clone()..)
                    .next()
                    .is_none_or(|(p, _)| !p.starts_with(&prefix))
            }
            Some(Kind::File { size, .. }) => *size == 0,
            _ => false,
        };
        if empty {
            image.tree.remove(&stub);
        }
    }
}

/// buildah 1.28 deletes the target of a tmpfs mount after the RUN, with what the base
/// had there (containers/buildah#4739); BuildKit leaves the base's directory alone. Puts
/// the base's entries at and below each tmpfs target that the base has back into
/// buildah's image.
fn restore_tmpfs_targets(image: &mut Image, dockerfile: &str, base: &BTreeMap<String, Entry>) {
    for (kind, target) in run_mounts(dockerfile) {
        if kind != "tmpfs" || !base.contains_key(&target) {
            continue;
        }
        let below = format!("{target}/");
        for (path, entry) in base {
            if *path == target || path.starts_with(&below) {
                image
                    .tree
                    .entry(path.clone())
                    .or_insert_with(|| entry.clone());
            }
        }
    }
}

/// A file of the image with this text, as [`read_tree`] records it.
fn text_file(text: &str) -> Kind {
    let digest = Sha256::digest(text.as_bytes());
    Kind::File {
        size: text.len() as u64,
        sha256: digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
    }
}

/// run-mount-ssh writes `stat -c '%a %u:%g %F'` of the default agent socket to
/// `/ssh-default.txt`: buildah's socket is 0620, BuildKit's 0600.
fn overlay_copy_up_breaks_hard_links(image: &mut Image) {
    let tree = &mut image.tree;
    for (path, content, mode) in [
        ("/links/a/original", Some("shared\n"), 0o644),
        ("/links/b/second", None, 0o644),
        ("/links/third", Some("shared\n"), 0o600),
    ] {
        if let Some(entry) = tree.get_mut(path) {
            if let Some(c) = content {
                entry.kind = text_file(c);
            }
            entry.mode = mode;
            entry.hardlink_to = None;
        }
    }
    if let Some(entry) = tree.get_mut("/links/motd-hardlink") {
        entry.hardlink_to = Some("/etc/motd".into());
    }
}

fn ssh_socket_default_mode(image: &mut Image) {
    if let Some(entry) = image.tree.get_mut("/ssh-default.txt")
        && entry.kind == text_file("620 0:0 socket\n")
    {
        entry.kind = text_file("600 0:0 socket\n");
    }
}

/// What BuildKit records per stage for the shell form: the SHELL in effect now, and the
/// SHELL that was in effect when the stage's current CMD / ENTRYPOINT was set (`None`:
/// exec form, or set by the base image, which is left as buildah wrote it).
#[derive(Clone, Default)]
struct ShellState {
    shell: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
}

/// Walks the Dockerfile in instruction order, across stages (`FROM <stage>` inherits the
/// stage's state), and returns the state of the target stage (the last one by default).
fn shell_state(dockerfile: &str, target: Option<&str>) -> ShellState {
    const DEFAULT: [&str; 2] = ["/bin/sh", "-c"];
    let mut stages: Vec<(Option<String>, ShellState)> = Vec::new();
    for line in logical_lines(dockerfile) {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let rest = rest.trim();
        let word = word.to_ascii_uppercase();
        if word == "FROM" {
            let parts: Vec<&str> = rest
                .split_whitespace()
                .filter(|p| !p.starts_with("--"))
                .collect();
            let parent = parts.first().copied().unwrap_or("");
            let name = match parts.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            let state = stages
                .iter()
                .rev()
                .find(|(n, _)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(parent)))
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            stages.push((name, state));
            continue;
        }
        let Some((_, state)) = stages.last_mut() else {
            continue;
        };
        let in_effect = || {
            state
                .shell
                .clone()
                .unwrap_or_else(|| DEFAULT.map(String::from).to_vec())
        };
        let shell_form = !rest.starts_with('[');
        match word.as_str() {
            "SHELL" => {
                state.shell = serde_json::from_str(rest).ok();
            }
            "CMD" => state.cmd = shell_form.then(in_effect),
            // (An ENTRYPOINT that resets an inherited CMD leaves no Cmd to rewrite.)
            "ENTRYPOINT" => state.entrypoint = shell_form.then(in_effect),
            _ => {}
        }
    }
    let chosen = match target {
        Some(t) => stages
            .iter()
            .find(|(n, _)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t))),
        None => stages.last(),
    };
    chosen.map(|(_, s)| s.clone()).unwrap_or_default()
}

/// buildah always writes shell-form CMD/ENTRYPOINT as `/bin/sh -c SCRIPT`; rewrite each
/// with the SHELL that was in effect when its instruction ran (see [`shell_state`]).
fn shell_form_uses_shell_in_effect(image: &mut Image, dockerfile: &str, target: Option<&str>) {
    let state = shell_state(dockerfile, target);
    for (field, shell) in [("Cmd", &state.cmd), ("Entrypoint", &state.entrypoint)] {
        let Some(shell) = shell else { continue };
        if let Some(Value::Array(args)) = image.config.get_mut(field)
            && args.len() == 3
            && args[0] == "/bin/sh"
            && args[1] == "-c"
        {
            let script = args[2].clone();
            *args = shell
                .iter()
                .cloned()
                .map(Value::from)
                .chain([script])
                .collect();
        }
    }
}

// ---------------------------------------------------------------------------------------
// What is compared.
// ---------------------------------------------------------------------------------------

/// Config fields compared (docker config names), plus the image's top-level `author`.
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Healthcheck",
    "StopSignal",
    "OnBuild",
    "Shell",
];

/// A built image, reduced to what is compared.
#[derive(Debug, Default)]
struct Image {
    tree: BTreeMap<String, Entry>,
    config: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Extended attributes on the allow-list ([`compared_xattr`]), values in hex.
    xattrs: BTreeMap<String, String>,
    /// For a file with other hard links in the image: the first of them in walk order
    /// (`None` for that first one and for files with one link).
    hardlink_to: Option<String>,
}

impl Entry {
    fn new(kind: Kind, mode: u32, uid: u32, gid: u32) -> Entry {
        Entry {
            kind,
            mode,
            uid,
            gid,
            xattrs: BTreeMap::new(),
            hardlink_to: None,
        }
    }
}

/// Extended attributes compared: the ones an image layer keeps (ARCHITECTURE.md,
/// determinism rules): `security.capability` and `user.*`.
fn compared_xattr(name: &str) -> bool {
    name == "security.capability" || name.starts_with("user.")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File { size: u64, sha256: String },
    Dir,
    Symlink(String),
    Other(String),
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let own = format!("{:04o} {}:{}", self.mode, self.uid, self.gid);
        match &self.kind {
            Kind::File { size, sha256 } => write!(f, "file {own} {size}B {}", &sha256[..12]),
            Kind::Dir => write!(f, "dir  {own}"),
            Kind::Symlink(target) => write!(f, "link {own} -> {target}"),
            Kind::Other(what) => write!(f, "{what} {own}"),
        }?;
        for (name, value) in &self.xattrs {
            write!(f, " xattr {name}={value}")?;
        }
        if let Some(first) = &self.hardlink_to {
            write!(f, " (hard link of {first})")?;
        }
        Ok(())
    }
}

fn read_tree(rootfs: &Path) -> BTreeMap<String, Entry> {
    let mut tree = BTreeMap::new();
    // (dev, inode) of files with several links -> the first path seen.
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    for item in walkdir::WalkDir::new(rootfs)
        .min_depth(1)
        .sort_by_file_name()
    {
        let item = item.unwrap();
        let meta = item.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            Kind::Symlink(fs::read_link(item.path()).unwrap().display().to_string())
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File {
                size: meta.len(),
                sha256: sha256_file(item.path()),
            }
        } else {
            Kind::Other(format!(
                "special(mode {:o}, rdev {})",
                meta.mode(),
                meta.rdev()
            ))
        };
        let path = format!("/{}", item.path().strip_prefix(rootfs).unwrap().display());
        let mut entry = Entry::new(kind, meta.mode() & 0o7777, meta.uid(), meta.gid());
        if !ft.is_dir() && meta.nlink() > 1 {
            let first = inodes
                .entry((meta.dev(), meta.ino()))
                .or_insert_with(|| path.clone());
            if *first != path {
                entry.hardlink_to = Some(first.clone());
            }
        }
        for name in xattr::list(item.path()).unwrap() {
            let name = name.to_string_lossy().into_owned();
            if compared_xattr(&name)
                && let Some(value) = xattr::get(item.path(), &name).unwrap()
            {
                let hex = value.iter().fold(String::new(), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                });
                entry.xattrs.insert(name, hex);
            }
        }
        tree.insert(path, entry);
    }
    tree
}

fn sha256_file(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Picks the compared fields out of a docker/OCI image config document.
fn pick_config(image_config: &Value) -> BTreeMap<String, Value> {
    let mut picked = BTreeMap::new();
    let config = image_config.get("config").cloned().unwrap_or(Value::Null);
    for field in CONFIG_FIELDS {
        if let Some(value) = config.get(*field).filter(|v| !v.is_null()) {
            picked.insert((*field).to_string(), value.clone());
        }
    }
    if let Some(author) = image_config.get("author").filter(|v| !v.is_null()) {
        picked.insert("author".into(), author.clone());
    }
    picked
}

/// Every difference between the oracle's image and lading's, one per line.
fn diff_images(oracle: &Image, lading: &Image) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = oracle.config.keys().chain(lading.config.keys()).collect();
    for key in keys {
        let (want, got) = (oracle.config.get(key), lading.config.get(key));
        if want != got {
            out.push(format!(
                "config {key}:\n      buildah: {}\n      lading:  {}",
                show(want),
                show(got)
            ));
        }
    }
    let paths: BTreeSet<&String> = oracle.tree.keys().chain(lading.tree.keys()).collect();
    for path in paths {
        match (oracle.tree.get(path), lading.tree.get(path)) {
            (Some(want), None) => out.push(format!("- {path}  ({want}) missing in lading")),
            (None, Some(got)) => out.push(format!("+ {path}  ({got}) only in lading")),
            (Some(want), Some(got)) if want != got => out.push(format!(
                "~ {path}\n      buildah: {want}\n      lading:  {got}"
            )),
            _ => {}
        }
    }
    out
}

/// An image as text, one line per config field and per path (what `COMPAT_KEEP` leaves
/// as `buildah-normalised.txt`: buildah's image after [`QUIRKS`]).
fn show_image(image: &Image) -> String {
    let mut out = String::new();
    for (key, value) in &image.config {
        let _ = writeln!(out, "config {key}: {value}");
    }
    for (path, entry) in &image.tree {
        let _ = writeln!(out, "{path}  {entry}");
    }
    out
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(unset)".into(), Value::to_string)
}

// ---------------------------------------------------------------------------------------
// Cases.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    /// Extra arguments for buildah only (`oracle.args`).
    oracle_args: Vec<String>,
    needs: Vec<String>,
}

impl Case {
    fn oracle_dockerfile(&self) -> PathBuf {
        let alt = self.dir.join("oracle.Dockerfile");
        if alt.exists() {
            alt
        } else {
            self.dir.join("Dockerfile")
        }
    }
}

fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for entry in fs::read_dir(CASES_DIR).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let args = read_args(&dir.join("args"));
        let oracle_args = read_args(&dir.join("oracle.args"));
        let needs = args
            .iter()
            .flat_map(|a| a.split("{case:").skip(1))
            .map(|rest| rest.split('}').next().unwrap().to_string())
            .collect();
        cases.push(Case {
            name,
            dir,
            args,
            oracle_args,
            needs,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Arguments from an `args` file: one per line, `#` comments and blank lines skipped.
fn read_args(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Cases selected by `COMPAT_CASES` (plus what they need), in waves: a case runs after
/// every case it needs.
fn plan(all: &[Case]) -> Vec<Vec<Case>> {
    let mut wanted: BTreeSet<String> = match std::env::var("COMPAT_CASES") {
        Ok(list) if !list.trim().is_empty() => list.split(',').map(|s| s.trim().into()).collect(),
        _ => all.iter().map(|c| c.name.clone()).collect(),
    };
    loop {
        let extra: Vec<String> = all
            .iter()
            .filter(|c| wanted.contains(&c.name))
            .flat_map(|c| c.needs.clone())
            .filter(|n| !wanted.contains(n))
            .collect();
        if extra.is_empty() {
            break;
        }
        wanted.extend(extra);
    }
    let mut done = BTreeSet::new();
    let mut waves = Vec::new();
    let mut left: Vec<&Case> = all.iter().filter(|c| wanted.contains(&c.name)).collect();
    while !left.is_empty() {
        let (ready, rest): (Vec<&Case>, Vec<&Case>) = left
            .into_iter()
            .partition(|c| c.needs.iter().all(|n| done.contains(n)));
        assert!(!ready.is_empty(), "cycle among {rest:?}");
        done.extend(ready.iter().map(|c| c.name.clone()));
        waves.push(ready.into_iter().cloned().collect());
        left = rest;
    }
    waves
}

// ---------------------------------------------------------------------------------------
// Running tools.
// ---------------------------------------------------------------------------------------

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether a tool is on `PATH` (or in `/usr/sbin`, `/sbin`: setcap lives there).
fn have(tool: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("PATH=\"$PATH:/usr/sbin:/sbin\"; command -v {tool}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why the test cannot run here, if it cannot.
fn missing_prerequisites() -> Option<String> {
    let tools = [
        "buildah",
        "umoci",
        "runc",
        "tar",
        "gzip",
        "bzip2",
        "xz",
        "cp",
        "busybox",
        "ldd",
        "setcap",
        "ssh-keygen",
    ];
    let missing: Vec<&str> = tools.into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing tools: {} (scripts/test installs them)",
            missing.join(", ")
        ));
    }
    let euid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1);
    if euid != 0 {
        return Some("needs root (buildah with vfs storage, umoci keeping owners)".into());
    }
    None
}

/// Work directory shared by all cases of one run, removed at the end unless
/// `COMPAT_KEEP` is set. Its path is all lowercase: buildah 1.28 derives an image name
/// from an `oci:` path in FROM and rejects upper-case letters in it, which tempfile's
/// random names contain.
struct Work {
    dir: PathBuf,
    base: String,
    /// The base image's tree, for [`Fix::RewriteKnowingBase`].
    base_tree: BTreeMap<String, Entry>,
    keep: bool,
}

impl Drop for Work {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Work {
    fn new() -> Work {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("lading-compat-{}-{nanos:x}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        let keep = std::env::var_os("COMPAT_KEEP").is_some();
        if keep {
            eprintln!("compat: keeping work directory {}", dir.display());
        }
        let mut work = Work {
            dir,
            base: String::new(),
            base_tree: BTreeMap::new(),
            keep,
        };
        work.base = make_base(&work.dir);
        work.base_tree = read_tree(&work.dir.join("base-rootfs"));
        fs::create_dir_all(work.dir.join("buildah/tmp")).unwrap();
        work
    }

    fn buildah(&self) -> Command {
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(self.dir.join("buildah/root"))
            .arg("--runroot")
            .arg(self.dir.join("buildah/runroot"))
            .args(["--storage-driver", "vfs"])
            // RUN --mount=type=cache directories live below TMPDIR: keep them in the work
            // directory, so every run starts with empty caches and leaves nothing behind.
            .env("TMPDIR", self.dir.join("buildah/tmp"));
        cmd
    }
}

/// Applets a RUN step in the base may use (all of `busybox --list` are installed; these
/// are the ones the corpus relies on, checked by [`make_base`]).
const BASE_APPLETS: &[&str] = &[
    "sh",
    "cat",
    "cp",
    "echo",
    "id",
    "ln",
    "ls",
    "mkdir",
    "mkfifo",
    "rm",
    "stat",
    "test",
    "touch",
    "chmod",
    "chown",
    "printf",
    "sort",
    "env",
    "sha256sum",
    "cut",
    "tr",
];

/// The base image: users and groups for `--chown`/`USER` by name, a few dirs and files,
/// and a shell for RUN: the host's busybox-static as `/usr/bin/busybox` (`/bin` is a
/// symlink to `usr/bin`, merged-/usr style) with every applet of `busybox --list` as a
/// relative symlink beside it, `/dev`, `/proc`, `/sys` as real images have them, and
/// things for RUN to delete (`/etc/motd`, `/usr/share/doc/*`). No `/etc/hosts`,
/// `/etc/resolv.conf`, `/etc/hostname` or `/run`: a builder must not leave its mount
/// stubs for those in the image (see [`remove_mount_stubs`]).
/// Written as a directory and packed into an OCI layout with umoci.
fn make_base(work: &Path) -> String {
    let root = work.join("base-rootfs");
    let files: &[(&str, &str)] = &[
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
             app:x:1000:1000:app:/home/app:/bin/sh\n\
             svc:x:1001:1002:svc:/srv:/usr/sbin/nologin\n",
        ),
        (
            "etc/group",
            "root:x:0:\nwheel:x:10:root,app\ndaemon:x:1:\nwww-data:x:33:\nstaff:x:50:app\n\
             app:x:1000:\nsvcgrp:x:1002:\n",
        ),
        ("etc/motd", "Welcome to the compat base.\n"),
        ("opt/tool/readme", "old readme\n"),
        ("srv/existing/keep.txt", "kept\n"),
        ("usr/bin/.keep", ""),
        ("usr/share/doc/pkg-a/copyright", "pkg-a copyright\n"),
        ("usr/share/doc/pkg-a/changelog", "pkg-a changelog\n"),
        ("usr/share/doc/pkg-b/README", "pkg-b readme\n"),
        ("root/.profile", "# root\n"),
    ];
    for (path, content) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
    }
    for dir in ["home/app", "tmp", "var/empty", "dev", "proc", "sys"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    install_busybox(&root.join("usr/bin"));

    let layout = work.join("base-layout");
    let image = format!("{}:base", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout))
    .unwrap();
    run(Command::new("umoci").args(["new", "--image", &image])).unwrap();
    run(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(&root)
        .arg("/"))
    .unwrap();
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--config.cmd",
        "/bin/sh",
        "--config.label",
        "base.label=from-base",
    ]))
    .unwrap();
    format!("oci:{image}")
}

/// The host's busybox-static as `DIR/busybox`, and each applet as a symlink to it.
fn install_busybox(dir: &Path) {
    let host = run(Command::new("sh").args(["-c", "command -v busybox"])).unwrap();
    let busybox = dir.join("busybox");
    fs::copy(host.trim(), &busybox).unwrap();
    fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755)).unwrap();
    let list = run(Command::new(&busybox).arg("--list")).unwrap();
    for applet in list.lines().map(str::trim) {
        let link = dir.join(applet);
        if applet.is_empty() || applet == "busybox" || link.symlink_metadata().is_ok() {
            continue;
        }
        std::os::unix::fs::symlink("busybox", link).unwrap();
    }
    for applet in BASE_APPLETS {
        assert!(
            dir.join(applet).symlink_metadata().is_ok(),
            "the host's busybox has no {applet} applet"
        );
    }
}

/// A case's context, copied and set up, in the work directory.
fn prepare_context(work: &Work, case: &Case) -> Result<PathBuf, String> {
    let dest = work.dir.join("cases").join(&case.name);
    fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
    let context = dest.join("context");
    let source = case.dir.join("context");
    if source.exists() {
        run(Command::new("cp").arg("-a").arg(&source).arg(&context))?;
    } else {
        fs::create_dir_all(&context).map_err(|e| e.to_string())?;
    }
    let setup = case.dir.join("setup.sh");
    if setup.exists() {
        run(Command::new("sh")
            .arg("-eu")
            .arg(&setup)
            .current_dir(&context))?;
    }
    Ok(context)
}

/// What a built case hands to the cases that need it: a FROM reference per builder.
#[derive(Default)]
struct Refs {
    buildah: BTreeMap<String, String>,
    lading: BTreeMap<String, String>,
}

/// A case's arguments with `{case:NAME}` replaced by the image the same builder made
/// for case NAME, and `{context}` by the prepared context directory.
fn expand_args(args: &[String], refs: &BTreeMap<String, String>, context: &Path) -> Vec<String> {
    args.iter()
        .map(|arg| {
            refs.iter()
                .fold(arg.clone(), |a, (name, r)| {
                    a.replace(&format!("{{case:{name}}}"), r)
                })
                .replace("{context}", &context.display().to_string())
        })
        .collect()
}

fn build_with_buildah(
    work: &Work,
    case: &Case,
    context: &Path,
    refs: &BTreeMap<String, String>,
) -> Result<(Image, String), String> {
    let out = work.dir.join("cases").join(&case.name);
    let tag = format!("localhost/compat-{}:latest", case.name);
    run(work
        .buildah()
        .args([
            "bud",
            "--runtime",
            "runc",
            "--timestamp",
            "0",
            "--format",
            "docker",
        ])
        .args(["--layers=false", "-t", &tag])
        .arg("--build-arg")
        .arg(format!("BASE={}", work.base))
        .args(expand_args(&case.args, refs, context))
        .args(expand_args(&case.oracle_args, refs, context))
        .arg("-f")
        .arg(case.oracle_dockerfile())
        .arg(context))?;
    let layout = out.join("buildah-oci");
    run(work.buildah().args(["push", "--quiet", &tag]).arg(format!(
        "oci:{}:{}",
        layout.display(),
        case.name
    )))?;
    let archive = out.join("buildah.docker.tar");
    run(work
        .buildah()
        .args(["push", "--quiet", &tag])
        .arg(format!("docker-archive:{}:{tag}", archive.display())))?;
    let inspect: Value = serde_json::from_str(&run(work
        .buildah()
        .args(["inspect", "--type", "image", &tag]))?)
    .map_err(|e| e.to_string())?;
    let rootfs = out.join("buildah-rootfs");
    unpack(&layout, &case.name, &rootfs)?;
    let image = Image {
        tree: read_tree(&rootfs),
        config: pick_config(&inspect["Docker"]),
    };
    Ok((image, format!("docker-archive:{}", archive.display())))
}

fn build_with_lading(
    work: &Work,
    case: &Case,
    context: &Path,
    refs: &BTreeMap<String, String>,
) -> Result<(Image, String), String> {
    let out = work.dir.join("cases").join(&case.name);
    let layout = out.join("lading-oci");
    run(Command::new(LADING)
        .arg("build")
        .arg("--store")
        .arg(out.join("lading-store"))
        .arg("-f")
        .arg(case.dir.join("Dockerfile"))
        .args(["-t", &format!("compat-{}:latest", case.name)])
        .args(["--progress=plain", "--source-date-epoch", "0"])
        .arg("--build-arg")
        .arg(format!("BASE={}", work.base))
        .args(expand_args(&case.args, refs, context))
        .arg("-o")
        .arg(format!("type=oci,dest={},tar=false", layout.display()))
        .arg(context))?;
    let (reference, config) = read_layout_config(&layout)?;
    let rootfs = out.join("lading-rootfs");
    unpack(&layout, &reference, &rootfs)?;
    let image = Image {
        tree: read_tree(&rootfs),
        config: pick_config(&config),
    };
    Ok((image, format!("oci:{}:{reference}", layout.display())))
}

/// The single image in an OCI layout: its ref name (added to index.json when absent, so
/// umoci can address it) and its config document.
fn read_layout_config(layout: &Path) -> Result<(String, Value), String> {
    let blob = |digest: &str| -> Result<Value, String> {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or("not a sha256 digest")?;
        let bytes = fs::read(layout.join("blobs/sha256").join(hex)).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(
        &fs::read(&index_path).map_err(|e| format!("{}: {e}", index_path.display()))?,
    )
    .map_err(|e| e.to_string())?;
    let manifests = index["manifests"]
        .as_array_mut()
        .ok_or("index.json has no manifests")?;
    if manifests.len() != 1 {
        return Err(format!(
            "expected one manifest, index.json has {}",
            manifests.len()
        ));
    }
    let descriptor = &mut manifests[0];
    let key = "org.opencontainers.image.ref.name";
    let reference = match descriptor["annotations"][key].as_str() {
        Some(r) => r.to_string(),
        None => {
            descriptor["annotations"] = serde_json::json!({ key: "compat" });
            fs::write(&index_path, index.to_string()).map_err(|e| e.to_string())?;
            "compat".to_string()
        }
    };
    let index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let manifest = blob(index["manifests"][0]["digest"].as_str().unwrap_or(""))?;
    let config = blob(manifest["config"]["digest"].as_str().unwrap_or(""))?;
    Ok((reference, config))
}

fn unpack(layout: &Path, reference: &str, rootfs: &Path) -> Result<(), String> {
    run(Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:{reference}", layout.display()))
        .arg(rootfs))
    .map(drop)
}

fn quirks_for(case: &str) -> impl Iterator<Item = &'static Quirk> + '_ {
    QUIRKS
        .iter()
        .filter(move |q| q.case == "*" || q.case == case)
}

/// Builds one case with both builders; the report lists every difference at once. `Ok`
/// says how the case passed.
fn run_case(
    work: &Work,
    case: &Case,
    refs: &Mutex<Refs>,
    oracle_only: bool,
) -> Result<&'static str, String> {
    {
        let refs = refs.lock().unwrap();
        for need in &case.needs {
            let side = if !refs.buildah.contains_key(need) {
                "buildah"
            } else if !oracle_only && !refs.lading.contains_key(need) {
                "lading"
            } else {
                continue;
            };
            return Err(format!(
                "not run: needs case {need}, which {side} did not build"
            ));
        }
    }
    let context = prepare_context(work, case)?;
    let buildah_refs = refs.lock().unwrap().buildah.clone();
    let (mut oracle, oracle_ref) = build_with_buildah(work, case, &context, &buildah_refs)
        .map_err(|e| format!("buildah (the oracle) failed, fix the case:\n{e}"))?;
    refs.lock()
        .unwrap()
        .buildah
        .insert(case.name.clone(), oracle_ref);
    let target = case
        .args
        .iter()
        .find_map(|a| a.strip_prefix("--target="))
        .map(str::to_string);
    for quirk in quirks_for(&case.name) {
        match quirk.fix {
            Fix::Rewrite(rewrite) => rewrite(&mut oracle),
            Fix::RewriteFromDockerfile(rewrite) => {
                let dockerfile =
                    fs::read_to_string(case.dir.join("Dockerfile")).map_err(|e| e.to_string())?;
                rewrite(&mut oracle, &dockerfile, target.as_deref());
            }
            Fix::RewriteKnowingBase(rewrite) => {
                let dockerfile =
                    fs::read_to_string(case.dir.join("Dockerfile")).map_err(|e| e.to_string())?;
                rewrite(&mut oracle, &dockerfile, &work.base_tree);
            }
            Fix::OracleDockerfile | Fix::Transport => {}
        }
    }
    if work.keep {
        fs::write(
            work.dir
                .join("cases")
                .join(&case.name)
                .join("buildah-normalised.txt"),
            show_image(&oracle),
        )
        .map_err(|e| e.to_string())?;
    }
    if oracle_only {
        return Ok("ok");
    }
    let lading_refs = refs.lock().unwrap().lading.clone();
    let (mut lading, lading_ref) = build_with_lading(work, case, &context, &lading_refs)
        .map_err(|e| format!("lading build failed:\n{e}"))?;
    refs.lock()
        .unwrap()
        .lading
        .insert(case.name.clone(), lading_ref);
    // Same normalisation of "unset" on both sides: it is representation, not semantics.
    empty_means_unset(&mut lading);
    let mut diffs = diff_images(&oracle, &lading);
    if HARDLINKS_NOT_KEPT_YET.iter().any(|(c, _)| *c == case.name) {
        if diffs.is_empty() {
            return Err(format!(
                "lading keeps the hard links of {} now: remove it from HARDLINKS_NOT_KEPT_YET",
                case.name
            ));
        }
        for image in [&mut oracle, &mut lading] {
            for entry in image.tree.values_mut() {
                entry.hardlink_to = None;
            }
        }
        diffs = diff_images(&oracle, &lading);
    }
    if diffs.is_empty() {
        Ok("ok")
    } else {
        let applied: Vec<String> = quirks_for(&case.name)
            .map(|q| format!("{} ({} -> {})", q.what, q.buildah, q.buildkit))
            .collect();
        Err(format!(
            "{} difference(s); buildah's side normalised for:\n    {}\n  {}",
            diffs.len(),
            applied.join("\n    "),
            diffs.join("\n  ")
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

#[test]
fn corpus_is_well_formed() {
    let cases = load_cases();
    assert!(cases.len() >= 28, "only {} cases", cases.len());
    let run_cases = cases.iter().filter(|c| is_run_case(&c.name)).count();
    assert!(run_cases >= 18, "only {run_cases} run-* cases");
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for case in &cases {
        assert!(
            case.dir.join("Dockerfile").is_file(),
            "{}: no Dockerfile",
            case.name
        );
        assert!(
            case.dir.join("context").is_dir(),
            "{}: no context/",
            case.name
        );
        for need in &case.needs {
            assert!(
                names.contains(need.as_str()),
                "{}: unknown case {need}",
                case.name
            );
        }
        for arg in &case.args {
            assert!(
                ["--build-arg=", "--target=", "--secret=", "--ssh="]
                    .iter()
                    .any(|p| arg.starts_with(p)),
                "{}: unsupported argument {arg}",
                case.name
            );
        }
        for arg in &case.oracle_args {
            assert!(
                arg.starts_with("--network="),
                "{}: unsupported oracle argument {arg}",
                case.name
            );
        }
        let dockerfile = fs::read_to_string(case.dir.join("Dockerfile")).unwrap();
        let runs = logical_lines(&dockerfile).iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("RUN"))
        });
        assert_eq!(
            runs,
            is_run_case(&case.name),
            "{}: a case has RUN instructions if and only if its name starts with run-",
            case.name
        );
        let has_oracle = case.dir.join("oracle.Dockerfile").exists();
        assert!(
            has_oracle || case.oracle_args.is_empty(),
            "{}: oracle.args without oracle.Dockerfile",
            case.name
        );
        let documented = QUIRKS
            .iter()
            .any(|q| q.case == case.name && matches!(q.fix, Fix::OracleDockerfile));
        assert_eq!(
            has_oracle, documented,
            "{}: oracle.Dockerfile and QUIRKS disagree",
            case.name
        );
    }
    for (case, why) in HARDLINKS_NOT_KEPT_YET {
        assert!(
            names.contains(case) && !why.is_empty(),
            "hard-link gap {case}"
        );
    }
    for quirk in QUIRKS {
        assert!(
            quirk.case == "*" || names.contains(quirk.case),
            "quirk for unknown case {}",
            quirk.case
        );
        assert!(!quirk.buildah.is_empty() && !quirk.buildkit.is_empty() && !quirk.why.is_empty());
    }
}

#[test]
fn normalisations_follow_buildkit() {
    let mut image = Image::default();
    image.config.insert(
        "ExposedPorts".into(),
        serde_json::json!({"80/TCP": {}, "7000-7001/udp": {}}),
    );
    image
        .config
        .insert("Shell".into(), serde_json::json!(["/bin/bash", "-c"]));
    image.config.insert(
        "Cmd".into(),
        serde_json::json!(["/bin/sh", "-c", "echo hi"]),
    );
    image.config.insert("User".into(), Value::from(""));
    image.config.insert("WorkingDir".into(), Value::from(""));
    image.config.insert("OnBuild".into(), serde_json::json!([]));
    image.config.insert(
        "Labels".into(),
        serde_json::json!({"io.buildah.version": "1.28.2"}),
    );
    expand_port_ranges(&mut image);
    shell_form_uses_shell_in_effect(
        &mut image,
        "FROM base\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\n",
        None,
    );
    drop_buildah_version_label(&mut image);
    empty_means_unset(&mut image);
    assert_eq!(
        image.config["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "7000/udp": {}, "7001/udp": {}})
    );
    assert_eq!(
        image.config["Cmd"],
        serde_json::json!(["/bin/bash", "-c", "echo hi"])
    );
    assert!(!image.config.contains_key("OnBuild"));
    assert!(!image.config.contains_key("Labels"));
    assert!(!image.config.contains_key("User"));
    assert!(!image.config.contains_key("WorkingDir"));
}

#[test]
fn shell_form_follows_instruction_order_across_stages() {
    let dockerfile = "ARG BASE\nFROM ${BASE} AS first\nSHELL [\"/bin/bash\", \"-eu\", \"-c\"]\n\
                      CMD echo from bash\nENTRYPOINT exec /bin/app\n\n\
                      FROM first\nSHELL [\"/bin/zsh\", \"-c\"]\nCMD [\"exec\", \"form\"]\n";
    let buildah = |cmd: Value| {
        let mut image = Image::default();
        image.config.insert("Cmd".into(), cmd);
        image.config.insert(
            "Entrypoint".into(),
            serde_json::json!(["/bin/sh", "-c", "exec /bin/app"]),
        );
        image
    };
    // Final stage: the inherited ENTRYPOINT keeps first's shell, not the later /bin/zsh.
    let mut image = buildah(serde_json::json!(["exec", "form"]));
    shell_form_uses_shell_in_effect(&mut image, dockerfile, None);
    assert_eq!(
        image.config["Entrypoint"],
        serde_json::json!(["/bin/bash", "-eu", "-c", "exec /bin/app"])
    );
    assert_eq!(image.config["Cmd"], serde_json::json!(["exec", "form"]));
    // --target=first: both shell forms under first's SHELL.
    let mut image = buildah(serde_json::json!(["/bin/sh", "-c", "echo from bash"]));
    shell_form_uses_shell_in_effect(&mut image, dockerfile, Some("first"));
    assert_eq!(
        image.config["Cmd"],
        serde_json::json!(["/bin/bash", "-eu", "-c", "echo from bash"])
    );
    // A shell-form CMD before any SHELL stays /bin/sh -c even if SHELL follows.
    let mut image = buildah(serde_json::json!(["/bin/sh", "-c", "early"]));
    shell_form_uses_shell_in_effect(
        &mut image,
        "FROM x\nCMD early\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT exec /bin/app\n",
        None,
    );
    assert_eq!(
        image.config["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "early"])
    );
    assert_eq!(
        image.config["Entrypoint"],
        serde_json::json!(["/bin/bash", "-c", "exec /bin/app"])
    );
}

#[test]
fn mount_stubs_go_as_buildkit_removes_them() {
    let dockerfile = "ARG BASE\nFROM ${BASE}\n\
                      RUN --mount=type=cache,target=/var/cache/app \\\n\
                      \x20   --mount=type=secret,id=tok --mount=type=ssh --mount=type=ssh,id=b true\n\
                      RUN --mount=type=bind,source=a,target=/mnt/a,ro true\n\
                      COPY --chmod=0644 a /mnt/kept\n";
    let targets = run_mount_targets(dockerfile);
    assert_eq!(
        targets[RUN_SYSTEM_MOUNTS.len()..],
        [
            "/var/cache/app",
            "/run/secrets/tok",
            "/run/buildkit/ssh_agent.0",
            "/run/buildkit/ssh_agent.1",
            "/mnt/a"
        ]
    );
    assert!(run_mount_targets("FROM x\nCOPY a /etc/hosts\n").is_empty());

    let dir = || Entry::new(Kind::Dir, 0o755, 0, 0);
    let file = |text: &str| Entry::new(text_file(text), 0o644, 0, 0);
    let mut base = BTreeMap::new();
    for path in ["/etc", "/var", "/srv"] {
        base.insert(path.to_string(), dir());
    }
    let mut image = Image::default();
    for path in [
        "/etc",
        "/var",
        "/srv",
        "/run",
        "/run/secrets",
        "/var/cache",
        "/mnt",
        "/mnt/a",
    ] {
        image.tree.insert(path.into(), dir());
    }
    image.tree.insert("/etc/hosts".into(), file(""));
    image
        .tree
        .insert("/etc/resolv.conf".into(), file("nameserver 10.0.0.1\n"));
    image
        .tree
        .insert("/mnt/kept".into(), file("made by the Dockerfile\n"));
    remove_mount_stubs(&mut image, dockerfile, &base);
    let left: Vec<&str> = image.tree.keys().map(String::as_str).collect();
    assert_eq!(
        left,
        [
            "/etc",
            "/etc/resolv.conf",
            "/mnt",
            "/mnt/kept",
            "/srv",
            "/var"
        ]
    );
}

#[test]
fn lading_matches_buildah_on_every_case() {
    if let Some(why) = missing_prerequisites() {
        if std::env::var_os("CI").is_some() {
            panic!("compat test cannot run in CI: {why}");
        }
        eprintln!("skipping compat test: {why}");
        return;
    }
    let oracle_only = std::env::var_os("COMPAT_ORACLE_ONLY").is_some();
    let jobs: usize = std::env::var("COMPAT_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2)
        .max(1);
    let work = Work::new();
    let refs = Mutex::new(Refs::default());
    let failures = Mutex::new(BTreeMap::new());
    let mut ran = 0;
    for wave in plan(&load_cases()) {
        ran += wave.len();
        let queue = Mutex::new(wave);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    while let Some(case) = queue.lock().unwrap().pop() {
                        let result = run_case(&work, &case, &refs, oracle_only);
                        let status = result.as_ref().map_or("FAILED", |s| *s);
                        eprintln!("compat {}: {status}", case.name);
                        if let Err(report) = result {
                            failures.lock().unwrap().insert(case.name.clone(), report);
                        }
                    }
                });
            }
        });
    }
    let failures = failures.into_inner().unwrap();
    let side = if oracle_only { " (buildah only)" } else { "" };
    if !failures.is_empty() {
        let mut report = format!("{} of {ran} compat cases failed{side}:\n", failures.len());
        for (name, why) in &failures {
            let _ = writeln!(report, "\n=== {name} ===\n{why}");
        }
        panic!("{report}");
    }
    eprintln!("compat: {ran} cases passed{side}");
}

#[test]
fn diff_reports_every_difference_at_once() {
    let entry = |mode, uid| Entry::new(Kind::Dir, mode, uid, 0);
    let mut oracle = Image::default();
    oracle.tree.insert("/a".into(), entry(0o755, 0));
    oracle.tree.insert("/b".into(), entry(0o1777, 0));
    oracle.config.insert("User".into(), Value::from("app"));
    let mut lading = Image::default();
    lading.tree.insert("/b".into(), entry(0o777, 1000));
    lading.tree.insert("/c".into(), entry(0o755, 0));
    let diffs = diff_images(&oracle, &lading);
    assert_eq!(diffs.len(), 4, "{diffs:#?}");
    assert!(diffs[0].starts_with("config User"));
    assert!(diffs[1].starts_with("- /a"));
    assert!(diffs[2].contains("1777 0:0") && diffs[2].contains("0777 1000:0"));
    assert!(diffs[3].starts_with("+ /c"));
}
