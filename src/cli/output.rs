//! `-o/--output` specs (buildx syntax) and writing them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lading_oci::layer::{Entry, EntryKind, FileData, write_tar};
use lading_oci::spec::Descriptor;
use lading_oci::unpack::{NodeKind, UnpackOptions, apply_layers};
use lading_oci::{Image, Platform, Store, export};

use crate::cli::platforms;

/// One parsed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// OCI archive (`tar`) or layout directory.
    Oci { dest: PathBuf, tar: bool },
    /// docker archive.
    Docker { dest: PathBuf },
    /// Loaded into the running docker engine (`--load`, or `type=docker` without
    /// `dest`, as buildx does).
    DockerLoad,
    /// Root filesystem directory.
    Local { dest: PathBuf },
    /// Root filesystem tarball.
    Tar { dest: PathBuf },
    /// `type=registry` (or `type=image,push=true`): pushed, through the gates, to each
    /// name (none: the `-t` names). `type=image` without push is the store itself.
    Registry { names: Vec<String>, push: bool },
}

/// Parses `type=...,dest=...[,tar=false]`, or a bare path (= `type=local`).
pub fn parse(spec: &str) -> Result<Output> {
    if !spec.contains('=') {
        return Ok(Output::Local { dest: spec.into() });
    }
    let mut kv = BTreeMap::new();
    for part in spec.split(',') {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("invalid output {spec:?}: {part:?} is not key=value"))?;
        kv.insert(k.trim().to_string(), v.trim().to_string());
    }
    let kind = kv.remove("type").unwrap_or_else(|| "local".into());
    let dest: Option<PathBuf> = kv.remove("dest").map(PathBuf::from);
    let need_dest = || {
        dest.clone()
            .with_context(|| format!("output type={kind} needs dest=..."))
    };
    let out = match kind.as_str() {
        "oci" => {
            let tar = match kv.remove("tar").as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => bail!("invalid tar={other} (true or false)"),
            };
            Output::Oci {
                dest: need_dest()?,
                tar,
            }
        }
        "docker" => match dest.clone() {
            Some(dest) => Output::Docker { dest },
            None => Output::DockerLoad,
        },
        "local" => Output::Local { dest: need_dest()? },
        "tar" => Output::Tar { dest: need_dest()? },
        "image" | "registry" => {
            let push = match kv.remove("push").as_deref() {
                None => kind == "registry",
                Some("true") => true,
                Some("false") => false,
                Some(other) => bail!("invalid push={other} (true or false)"),
            };
            // buildx: several names in one `name=`, comma-separated and then quoted; one
            // name per output here, and the `-t` names when none.
            let names = kv.remove("name").into_iter().collect();
            Output::Registry { names, push }
        }
        other => bail!("unknown output type {other:?} (oci, docker, local, tar, registry, image)"),
    };
    // Options buildx accepts that do not change what lading writes.
    kv.remove("name");
    if let Some(k) = kv.keys().next() {
        bail!("unknown option {k:?} for output type={kind}");
    }
    Ok(out)
}

/// The outputs of `-o SPEC...` plus `--load` (buildx's shorthand for `-o type=docker`).
pub fn parse_all(specs: &[String], load: bool) -> Result<Vec<Output>> {
    let mut outputs: Vec<Output> = specs.iter().map(|o| parse(o)).collect::<Result<_>>()?;
    if load && !outputs.contains(&Output::DockerLoad) {
        outputs.push(Output::DockerLoad);
    }
    Ok(outputs)
}

/// Writes `image` to `out`.
pub fn write(
    store: &Store,
    image: &Image,
    out: &Output,
    names: &[String],
    epoch: u64,
) -> Result<()> {
    match out {
        // The store holds the image already; pushing is the caller's.
        Output::Registry { .. } => Ok(()),
        Output::Oci { dest, tar: false } => export::write_oci_dir(store, image, dest, names)
            .with_context(|| format!("writing OCI layout {}", dest.display())),
        Output::Oci { dest, tar: true } => to_file(dest, |w| {
            Ok(export::write_oci_archive(store, image, w, names)?)
        }),
        Output::Docker { dest } => to_file(dest, |w| {
            Ok(export::write_docker_archive(store, image, w, names)?)
        }),
        Output::DockerLoad => {
            for line in super::docker_load::load(store, image, names)? {
                eprintln!("{line}");
            }
            Ok(())
        }
        Output::Local { dest } => {
            let fs = apply_layers(
                store,
                image.layers(),
                dest,
                UnpackOptions {
                    // Rootless, the files stay the invoking user's: owners from the
                    // image would be subordinate ids the user cannot remove.
                    chown: lading_oci::unpack::running_as_root()
                        && !lading_builder::exec::userns::in_user_namespace(),
                },
            )
            .with_context(|| format!("writing root filesystem to {}", dest.display()))?;
            fs.exact_dir_modes()
                .with_context(|| format!("setting directory modes in {}", dest.display()))?;
            Ok(())
        }
        Output::Tar { dest } => {
            let tmp = store.temp_dir("rootfs")?;
            let mut entries = rootfs_entries(store, image, tmp.path(), None)?;
            entries.sort_by(|a, b| lading_oci::layer::compare_paths(&a.path, &b.path));
            to_file(dest, |w| Ok(write_tar(w, &entries, epoch)?))
        }
    }
}

/// The root filesystem of `image`, unpacked into `dir`, as tar entries; under `prefix/`
/// when given (the prefix directory itself included).
fn rootfs_entries(
    store: &Store,
    image: &Image,
    dir: &Path,
    prefix: Option<&str>,
) -> Result<Vec<Entry>> {
    let fs = apply_layers(store, image.layers(), dir, UnpackOptions::default())?;
    let mut entries: Vec<Entry> = prefix
        .map(|p| Entry::dir(p.to_string(), 0o755, 0, 0))
        .into_iter()
        .collect();
    entries.extend(fs.nodes.iter().filter_map(|(path, n)| {
        let kind = match &n.kind {
            NodeKind::Dir => EntryKind::Dir,
            NodeKind::File(size) => EntryKind::File {
                data: FileData::Path(fs.dir.join(path)),
                size: *size,
            },
            NodeKind::Symlink(t) => EntryKind::Symlink(t.clone()),
            NodeKind::Special => return None,
        };
        Some(Entry {
            path: match prefix {
                Some(p) => format!("{p}/{path}"),
                None => path.clone(),
            },
            kind,
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            xattrs: Default::default(),
        })
    }));
    Ok(entries)
}

/// The directory buildx gives a platform in `local` and `tar` outputs of several
/// platforms: `linux_arm64`, `linux_arm_v7`.
pub fn platform_dir(p: &Platform) -> String {
    p.to_string().replace('/', "_")
}

/// Refuses the outputs that cannot hold an image index, as buildx does: a docker archive
/// holds one platform, and so does the engine's image store (`--load`). Checked before a
/// multi-platform build starts, so nothing is built for an output that must fail.
pub fn check_index_output(out: &Output) -> Result<()> {
    match out {
        Output::Docker { .. } => bail!(
            "-o type=docker holds one platform (docker load takes one image): build one \
             --platform, or write the index with -o type=oci"
        ),
        Output::DockerLoad => bail!(
            "--load (-o type=docker) loads one platform into the docker engine: build one \
             --platform, or push the index (--push) or write it with -o type=oci"
        ),
        _ => Ok(()),
    }
}

/// Writes a multi-platform build to `out`, as buildx does: `oci` holds the index and
/// every platform's image; `local` and `tar` hold one root filesystem per platform in
/// a directory named by [`platform_dir`]; `docker` archives hold one platform only, so
/// they are refused.
pub fn write_index(
    store: &Store,
    index: &Descriptor,
    built: &[(Platform, Image)],
    out: &Output,
    names: &[String],
    epoch: u64,
) -> Result<()> {
    match out {
        Output::Registry { .. } => Ok(()),
        Output::Oci { dest, tar: false } => export::write_oci_dir_root(store, index, dest, names)
            .with_context(|| format!("writing OCI layout {}", dest.display())),
        Output::Oci { dest, tar: true } => to_file(dest, |w| {
            Ok(export::write_oci_archive_root(store, index, w, names)?)
        }),
        Output::Docker { .. } | Output::DockerLoad => check_index_output(out),
        Output::Local { dest } => {
            for (p, image) in built {
                let one = Output::Local {
                    dest: dest.join(platform_dir(&platforms::index_platform(p))),
                };
                write(store, image, &one, names, epoch)?;
            }
            Ok(())
        }
        Output::Tar { dest } => {
            let tmp = store.temp_dir("rootfs")?;
            let mut entries = Vec::new();
            for (n, (p, image)) in built.iter().enumerate() {
                let dir = tmp.path().join(n.to_string());
                let prefix = platform_dir(&platforms::index_platform(p));
                entries.extend(rootfs_entries(store, image, &dir, Some(&prefix))?);
            }
            entries.sort_by(|a, b| lading_oci::layer::compare_paths(&a.path, &b.path));
            to_file(dest, |w| Ok(write_tar(w, &entries, epoch)?))
        }
    }
}

fn to_file(dest: &Path, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if dest == Path::new("-") {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        return f(&mut lock);
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut w = BufWriter::new(file);
    f(&mut w).with_context(|| format!("writing {}", dest.display()))?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_specs() {
        assert_eq!(
            parse("type=oci,dest=x.tar").unwrap(),
            Output::Oci {
                dest: "x.tar".into(),
                tar: true
            }
        );
        assert_eq!(
            parse("type=oci,dest=d,tar=false").unwrap(),
            Output::Oci {
                dest: "d".into(),
                tar: false
            }
        );
        assert_eq!(parse("out").unwrap(), Output::Local { dest: "out".into() });
        assert!(parse("type=oci").is_err());
        // buildx: a docker output without a destination goes into the engine.
        assert_eq!(parse("type=docker").unwrap(), Output::DockerLoad);
        assert_eq!(
            parse("type=docker,dest=d.tar").unwrap(),
            Output::Docker {
                dest: "d.tar".into()
            }
        );
        assert_eq!(
            parse_all(&["type=docker".into()], true).unwrap(),
            [Output::DockerLoad]
        );
        assert!(parse("type=nope,dest=x").is_err());
        assert!(parse("type=oci,dest=x,bogus=1").is_err());
    }
}
