//! `lading build`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lading_builder::shared_cache::CacheExport;
use lading_builder::{BuildOptions, NamedContext, NetworkMode, SecretSource, Snapshotter};
use lading_oci::source::normalize_tag;
use lading_oci::{ImageSource, Platform, Store};
use lading_registry::client::{Client, PullPolicy};

use crate::attestations::recording::Recording;
use crate::cli::args::{BuildArgs, Progress};
use crate::cli::build_cache;
use crate::cli::output;
use crate::cli::platforms;
use crate::cli::registry;
use crate::cli::ssh_agent::Agent;
use crate::progress::Printer;

/// Runs a build, tags and exports the result; with `--push` (or `-o type=registry`),
/// publishes it through the gates ([`super::publish`]).
pub fn run(store_dir: &Path, args: BuildArgs) -> Result<ExitCode> {
    let outputs = output::parse_all(&args.outputs, args.load)?;
    let pushes = super::publish::pushed_names(&args, &outputs)?;
    // The registry serves the store the build writes, from before the build on.
    let server = match args.serve {
        Some(addr) => {
            crate::cli::commands::serve::init_logging();
            Some(crate::cli::commands::serve::start(
                store_dir,
                addr,
                lading_registry::Auth::default(),
                None,
                lading_registry::Limits::default(),
            )?)
        }
        None => None,
    };
    let built = build_into_store(store_dir, &args, &outputs)?;
    // What the build made: the index of several platforms, else the one manifest.
    let digest = match &built.index {
        Some((index, _)) => index.digest.to_string(),
        None => built.image.descriptor.digest.to_string(),
    };
    if let Some(images) = pushes {
        // docker's `--push`, lading's guarantee: nothing leaves before the gates pass.
        let plan = super::publish::Plan::push_only(images);
        return super::publish::after_build(store_dir, &args, &built, plan);
    }
    if args.quiet {
        println!("{digest}");
    }
    if let Some(server) = server {
        eprintln!(
            "lading: build done; still serving at {} (Ctrl-C to stop)",
            server.url()
        );
        server.wait_for_signal()?;
        server.shutdown();
    }
    Ok(ExitCode::SUCCESS)
}

/// A build in the store.
pub(crate) struct Built {
    /// The image (one platform). For several platforms: the first platform's image;
    /// the index is `index`.
    pub(crate) image: lading_oci::Image,
    /// `--platform a,b,…`: the image index of all the platforms' images, and each
    /// platform's image, in the order built.
    pub(crate) index: Option<(
        lading_oci::spec::Descriptor,
        Vec<(Platform, lading_oci::Image)>,
    )>,
}

/// Builds into the store, records the provenance, tags, and writes the outputs, the
/// `--iidfile` and the `--metadata-file` (registry outputs are the caller's).
pub(crate) fn build_into_store(
    store_dir: &Path,
    args: &BuildArgs,
    outputs: &[output::Output],
) -> Result<Built> {
    build_pinned(store_dir, args, outputs, &|_| None)
}

/// [`build_into_store`], with `pin` choosing the source of an image name before the
/// usual resolver does (`lading reproduce` fetches the recorded digests with it).
pub(crate) fn build_pinned(
    store_dir: &Path,
    args: &BuildArgs,
    outputs: &[output::Output],
    pin: &(dyn Fn(&str) -> Option<Box<dyn ImageSource>> + Sync),
) -> Result<Built> {
    let store =
        Store::open(store_dir).with_context(|| format!("opening store {}", store_dir.display()))?;
    // ssh agents started for --ssh key files live until the build ends.
    let mut agents = Vec::new();
    let mut opts = options(args, &mut agents)?;
    let platforms = platforms::requested(&args.platform)?;
    if platforms.len() > 1 {
        outputs.iter().try_for_each(output::check_index_output)?;
    }
    let cache_to: Vec<build_cache::CacheTo> = args
        .cache_to
        .iter()
        .map(|c| build_cache::parse_to(c))
        .collect::<Result<_>>()?;
    let cache_from: Vec<build_cache::Location> = args
        .cache_from
        .iter()
        .map(|c| build_cache::parse_from(c))
        .collect::<Result<_>>()?;
    let mode = match (args.quiet, args.progress) {
        (true, _) => Progress::Quiet,
        (false, Progress::Auto) if std::io::stderr().is_terminal() => Progress::Tty,
        (false, Progress::Auto) => Progress::Plain,
        (false, p) => p,
    };
    let printer = Printer::new(mode);
    let client = registry::client(&args.registry, mode)?;
    let policy = if args.pull {
        PullPolicy::Always
    } else {
        PullPolicy::Missing
    };
    opts.cache_shared = !cache_to.is_empty() || !cache_from.is_empty();
    if !opts.no_cache {
        opts.cache_imports = build_cache::import(&cache_from, &client, &printer);
        if !args.quiet {
            for c in &opts.cache_imports {
                eprintln!("importing cache from {}: {} records", c.name(), c.len());
            }
        }
    }
    // What every platform's build used and wrote, exported as one cache.
    let cache = std::sync::Mutex::new(CacheExport::default());
    // One platform (or none given): the build as it always was.
    let build_one = |opts: &BuildOptions, reporter: &dyn lading_builder::Reporter| {
        // Provenance: what the build read and printed, recorded beside (never in) the
        // image, per platform's manifest.
        let recording = Recording::start(opts, reporter)?;
        let resolver = |name: &str| -> Box<dyn ImageSource> {
            let source = pin(name).unwrap_or_else(|| registry::from_source(name, &client, policy));
            recording.source(name, source)
        };
        let mut result = lading_builder::build(&store, opts, &resolver, recording.reporter())?;
        recording.finish(&store, opts, &args.network, &result.image.descriptor.digest)?;
        cache
            .lock()
            .expect("cache export lock")
            .absorb(std::mem::take(&mut result.cache));
        anyhow::Ok(result)
    };
    let export_cache = || {
        let cache = std::mem::take(&mut *cache.lock().expect("cache export lock"));
        export_caches(&store, &cache, &cache_to, &client, &printer, args.quiet)
    };
    let names: Vec<String> = args.tags.iter().map(|t| normalize_tag(t)).collect();
    if platforms.len() > 1 {
        return build_platforms(
            &store, args, outputs, &opts, &platforms, &names, &printer, &build_one,
        )
        .and_then(|built| export_cache().map(|()| built));
    }
    let result = build_one(&opts, &printer)?;
    export_cache()?;
    let image = result.image;
    if names.is_empty() {
        store.add_untagged(&image.descriptor)?;
    }
    for name in &names {
        store.tag(name, &image.descriptor)?;
    }
    for out in outputs {
        if *out == output::Output::DockerLoad && args.quiet {
            crate::cli::docker_load::load(&store, &image, &names)?;
            continue;
        }
        output::write(&store, &image, out, &names, opts.epoch as u64)?;
    }
    let digest = image.descriptor.digest.to_string();
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &digest).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.metadata_file {
        let meta = serde_json::json!({
            "containerimage.digest": digest,
            "containerimage.config.digest": image.manifest.config.digest.to_string(),
            "containerimage.descriptor": {
                "mediaType": image.descriptor.media_type,
                "digest": digest,
                "size": image.descriptor.size,
            },
            "image.name": names.join(","),
            // How context files got their permission bits: a build parameter that
            // changes the digest, recorded here and not in the image, whose bytes must
            // not depend on it beyond the modes themselves.
            "lading.context-modes": result.parameters.context_modes.as_str(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&meta)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !args.quiet {
        eprintln!("writing image {digest}");
        for n in &names {
            eprintln!("naming to {n}");
        }
    }
    Ok(Built { image, index: None })
}

/// `--cache-to`: writes the build's cache to each destination; a failed export fails
/// the build (as buildx) unless that destination says `ignore-error=true`.
fn export_caches(
    store: &Store,
    cache: &CacheExport,
    cache_to: &[build_cache::CacheTo],
    client: &Arc<Client>,
    printer: &Printer,
    quiet: bool,
) -> Result<()> {
    for to in cache_to {
        if !quiet {
            eprintln!("exporting cache to {}", to.location);
        }
        match build_cache::export(store, cache, to, client) {
            Ok(desc) if !quiet => eprintln!("exported cache {}", desc.digest),
            Ok(_) => {}
            Err(e) if to.ignore_error => {
                lading_builder::Reporter::warn(printer, &format!("cache export failed: {e:#}"))
            }
            Err(e) => {
                return Err(e.context(format!("exporting the build cache to {}", to.location)));
            }
        }
    }
    Ok(())
}

/// `--platform a,b,…`: builds each platform in turn (one store, so the context, the
/// base layers and every cache are shared), then writes one image index of them, tags
/// it and writes the outputs, `--iidfile` and `--metadata-file` for the index.
#[allow(clippy::too_many_arguments)]
fn build_platforms(
    store: &Store,
    args: &BuildArgs,
    outputs: &[output::Output],
    opts: &BuildOptions,
    platforms: &[Platform],
    names: &[String],
    printer: &Printer,
    build_one: &dyn Fn(
        &BuildOptions,
        &dyn lading_builder::Reporter,
    ) -> Result<lading_builder::BuildResult>,
) -> Result<Built> {
    let last = std::sync::atomic::AtomicUsize::new(0);
    let mut built = Vec::new();
    let mut parameters = None;
    for p in platforms {
        let mut opts = opts.clone();
        opts.platform = p.clone();
        let reporter = platforms::PlatformReporter::new(printer, p, &last);
        let result =
            build_one(&opts, &reporter).with_context(|| format!("building for platform {p}"))?;
        parameters = Some(result.parameters);
        built.push((p.clone(), result.image));
    }
    let index = platforms::write_index(store, &built)?;
    if names.is_empty() {
        store.add_untagged(&index)?;
    }
    for name in names {
        store.tag(name, &index)?;
    }
    for out in outputs {
        output::write_index(store, &index, &built, out, names, opts.epoch as u64)?;
    }
    let digest = index.digest.to_string();
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &digest).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.metadata_file {
        // buildx names the index; a config digest belongs to one platform, so there is
        // none.
        let meta = serde_json::json!({
            "containerimage.digest": digest,
            "containerimage.descriptor": {
                "mediaType": index.media_type,
                "digest": digest,
                "size": index.size,
            },
            "image.name": names.join(","),
            "lading.context-modes": parameters.map(|p| p.context_modes.as_str()),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&meta)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !args.quiet {
        for (p, image) in &built {
            eprintln!("{}: image {}", p.normalized(), image.descriptor.digest);
        }
        eprintln!("writing image index {digest}");
        for n in names {
            eprintln!("naming to {n}");
        }
    }
    let first = built
        .first()
        .map(|(_, image)| image.clone())
        .context("no platform was built")?;
    Ok(Built {
        image: first,
        index: Some((index, built)),
    })
}

/// The builder's options for `args` (`agents`: ssh agents started for `--ssh` key
/// files, which must live until the build ends).
pub(crate) fn options(args: &BuildArgs, agents: &mut Vec<Agent>) -> Result<BuildOptions> {
    let context = args.context.clone();
    if !context.is_dir() {
        bail!("build context {} is not a directory", context.display());
    }
    let (name, path, text) = match args.file.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            ("Dockerfile".to_string(), None, text)
        }
        Some(f) => {
            let p = PathBuf::from(f);
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading Dockerfile {}", p.display()))?;
            (
                p.file_name()
                    .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned()),
                Some(p),
                text,
            )
        }
        None => {
            let p = context.join("Dockerfile");
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading Dockerfile {}", p.display()))?;
            ("Dockerfile".to_string(), Some(p), text)
        }
    };
    let mut opts = BuildOptions::new(&context, text);
    opts.dockerfile_name = name;
    opts.dockerfile_path = path;
    opts.build_args = build_arg_values(&args.build_args);
    opts.labels = key_values(&args.labels, "--label")?;
    opts.annotations = key_values(&args.annotations, "--annotation")?;
    opts.target = args.target.clone();
    // Several platforms: each build sets its own (`build_platforms`).
    if let [p] = platforms::requested(&args.platform)?.as_slice() {
        opts.platform = p.clone();
    }
    opts.platform_explicit = !args.platform.is_empty();
    opts.no_cache = args.no_cache;
    opts.epoch = args.source_date_epoch.unwrap_or(0);
    if opts.epoch < 0 {
        bail!("--source-date-epoch must not be negative");
    }
    for c in &args.build_contexts {
        let (k, v) = c
            .split_once('=')
            .with_context(|| format!("invalid --build-context {c:?}: expected name=value"))?;
        let ctx = if let Some(layout) = v.strip_prefix("oci-layout://") {
            NamedContext::Image(format!("oci:{layout}"))
        } else if let Some(r) = v.strip_prefix("docker-image://") {
            NamedContext::Image(format!("docker://{r}"))
        } else {
            NamedContext::Dir(PathBuf::from(v))
        };
        opts.named_contexts.insert(k.to_string(), ctx);
    }
    opts.vcs = git_info(&context);
    opts.network = match args.network.as_str() {
        "default" | "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        other => bail!("invalid --network {other:?}: expected default, none or host"),
    };
    for s in &args.secrets {
        let (id, source) = parse_secret(s)?;
        opts.secrets.insert(id, source);
    }
    for s in &args.ssh {
        let (id, sock) = parse_ssh(s, agents)?;
        opts.ssh.insert(id, sock);
    }
    opts.context_modes = args.context_modes.into();
    if std::env::var("LADING_SNAPSHOTTER").as_deref() == Ok("copy") {
        opts.snapshotter = Snapshotter::Copy;
    }
    Ok(opts)
}

/// `--build-arg KEY=VALUE`, or `--build-arg KEY` with the value of the environment
/// variable KEY when it is set (docker's).
pub(crate) fn build_arg_values(args: &[String]) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => {
                values.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    values.insert(a.clone(), v);
                }
            }
        }
    }
    values
}

/// `--secret id=ID[,src=FILE|,source=FILE|,env=VAR][,type=file|env]` as buildx takes it;
/// with neither source nor env, the variable named ID, else the file named ID.
pub fn parse_secret(value: &str) -> Result<(String, SecretSource)> {
    let mut id = None;
    let mut src = None;
    let mut env = None;
    let mut kind = None;
    for field in value.split(',') {
        let (k, v) = field
            .split_once('=')
            .with_context(|| format!("invalid --secret {value:?}: expected key=value fields"))?;
        match k {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" => kind = Some(v.to_string()),
            other => bail!("invalid --secret {value:?}: unknown field {other:?}"),
        }
    }
    let id = id
        .or_else(|| env.clone())
        .or_else(|| {
            src.as_deref()
                .and_then(|s| Path::new(s).file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .with_context(|| format!("invalid --secret {value:?}: no id"))?;
    let source = match (kind.as_deref(), src, env) {
        (Some("env"), src, env) => SecretSource::Env(env.or(src).unwrap_or_else(|| id.clone())),
        (_, Some(src), _) => SecretSource::File(PathBuf::from(src)),
        (_, None, Some(env)) => SecretSource::Env(env),
        (_, None, None) if std::env::var_os(&id).is_some() => SecretSource::Env(id.clone()),
        (_, None, None) => SecretSource::File(PathBuf::from(&id)),
    };
    if let SecretSource::File(p) = &source
        && !p.is_file()
    {
        bail!("--secret {id}: {} is not a file", p.display());
    }
    Ok((id, source))
}

/// `--ssh default` (the agent of `$SSH_AUTH_SOCK`), `--ssh ID=SOCKET`, or, as docker
/// allows, `--ssh ID=KEYFILE[,KEYFILE...]` (served by a private agent).
pub fn parse_ssh(value: &str, agents: &mut Vec<Agent>) -> Result<(String, PathBuf)> {
    let (id, paths) = match value.split_once('=') {
        Some((id, p)) => (
            id.to_string(),
            p.split(',').map(PathBuf::from).collect::<Vec<_>>(),
        ),
        None => {
            let sock = std::env::var_os("SSH_AUTH_SOCK")
                .with_context(|| format!("--ssh {value}: SSH_AUTH_SOCK is not set"))?;
            (value.to_string(), vec![PathBuf::from(sock)])
        }
    };
    for p in &paths {
        if !p.exists() {
            bail!("--ssh {id}: {} does not exist", p.display());
        }
    }
    if let [p] = paths.as_slice()
        && std::fs::metadata(p)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
    {
        return Ok((id, p.clone()));
    }
    let agent = Agent::start(&id, &paths)?;
    let sock = agent.socket().to_path_buf();
    agents.push(agent);
    Ok((id, sock))
}

fn key_values(items: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| {
            i.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("invalid {flag} {i:?}: expected KEY=VALUE"))
        })
        .collect()
}

/// `source`/`revision` annotations when the context is a git checkout with a remote.
fn git_info(context: &Path) -> Option<(String, String)> {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(context)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let revision = git(&["rev-parse", "HEAD"])?;
    let remote = git(&["config", "--get", "remote.origin.url"])?;
    is_network_url(&remote).then(|| (redact_url(&remote), revision))
}

/// A remote that names a server (`https://…`, `ssh://…`, `git@host:path`), not a
/// directory on this machine: a local path would leak a host path into the image and
/// make its digest depend on where the checkout was cloned from.
pub(crate) fn is_network_url(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => scheme != "file",
        None => url
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/')),
    }
}

/// Drops credentials from `https://user:token@host/...`.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_network_url, redact_url};

    #[test]
    fn local_path_remotes_are_not_recorded_as_the_source() {
        for local in ["/work/main", "../upstream", "file:///srv/repo.git", "C"] {
            assert!(!is_network_url(local), "{local}");
        }
        for remote in [
            "https://github.com/o/r.git",
            "ssh://git@host/o/r",
            "git@github.com:o/r.git",
        ] {
            assert!(is_network_url(remote), "{remote}");
        }
    }

    #[test]
    fn credentials_in_remote_urls_are_dropped() {
        assert_eq!(
            redact_url("https://x-access-token:ghp_secret@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }
}
