//! The state of one build stage while its instructions run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lading_oci::spec::History;
use lading_oci::unpack::{Rootfs, UnpackOptions};
use lading_oci::{Descriptor, Digest, ImageConfig, Store};

use crate::error::Result;

/// A stage's image so far, and (lazily) its root filesystem on disk.
#[derive(Debug, Clone)]
pub struct StageState {
    /// Config being built (history and diff-ids included).
    pub config: ImageConfig,
    /// Layer blobs, base first.
    pub layers: Vec<Descriptor>,
    /// For each of `layers`: whether this build wrote it uncompressed (gzipped only
    /// when the stage's image is exported, see [`lading_oci::layer::compress_layer`]).
    pub uncompressed: Vec<bool>,
    /// `base.name` / `base.digest` of the image the stage started from.
    pub base: Option<(String, Digest)>,
    /// ARGs in scope for this stage, with their values (unset ones map to `None`).
    pub args: BTreeMap<String, Option<String>>,
    /// Whether CMD was set in this stage (ENTRYPOINT resets only an inherited CMD).
    pub cmd_set_here: bool,
    /// ARGs declared (with a value) after an ENV of the same name: in BuildKit the most
    /// recent definition is what later instructions see.
    pub args_over_env: std::collections::BTreeSet<String>,
    fs: Option<(Rootfs, usize)>,
    fs_dir: PathBuf,
    /// The tree read through the snapshots of the first `usize` layers.
    view: Option<(usize, crate::snapshot::LayeredTree)>,
}

impl StageState {
    /// A new stage over `config` and `layers`, unpacking into `fs_dir` when needed.
    pub fn new(config: ImageConfig, layers: Vec<Descriptor>, fs_dir: PathBuf) -> Self {
        StageState {
            config,
            uncompressed: vec![false; layers.len()],
            layers,
            base: None,
            args: BTreeMap::new(),
            cmd_set_here: false,
            args_over_env: Default::default(),
            fs: None,
            fs_dir,
            view: None,
        }
    }

    /// The tree of this stage's layers as read through their snapshots, `lowers` being
    /// those snapshots (top-most first, one per layer): only the layers added since the
    /// last call are read.
    pub fn layered_view(
        &mut self,
        lowers: &[PathBuf],
    ) -> Result<crate::snapshot::LayeredTree, crate::snapshot::Error> {
        let (done, mut tree) = match self.view.take() {
            Some((n, t)) if n <= lowers.len() => (n, t),
            _ => (0, Default::default()),
        };
        tree.apply(&lowers[..lowers.len() - done])?;
        self.view = Some((lowers.len(), tree.clone()));
        Ok(tree)
    }

    /// The same stage, to be unpacked (when needed) into `fs_dir` instead: for a
    /// stage read by another thread.
    pub fn detached(&self, fs_dir: PathBuf) -> StageState {
        StageState {
            fs: None,
            fs_dir,
            ..self.clone()
        }
    }

    /// The root filesystem with every layer so far applied (unpacked on first use,
    /// then brought up to date incrementally).
    pub fn rootfs(&mut self, store: &Store) -> Result<&Rootfs> {
        let chown = lading_oci::unpack::running_as_root();
        if self.fs.is_none() {
            self.fs = Some((Rootfs::new(&self.fs_dir)?, 0));
        }
        let Some((fs, applied)) = self.fs.as_mut() else {
            unreachable!("set just above")
        };
        if *applied < self.layers.len() {
            fs.apply(store, &self.layers[*applied..], UnpackOptions { chown })?;
            *applied = self.layers.len();
        }
        Ok(fs)
    }

    /// Appends a layer this build wrote (or found in its caches) and its history entry.
    pub fn push_layer(&mut self, layer: Descriptor, diff_id: Digest, history: History) {
        self.uncompressed
            .push(layer.media_type == lading_oci::constants::MEDIA_TYPE_LAYER_TAR);
        self.layers.push(layer);
        self.config.rootfs.diff_ids.push(diff_id);
        self.config.history.push(history);
    }

    /// The environment as `(name, value)` pairs, last definition winning.
    pub fn env(&self) -> BTreeMap<String, String> {
        self.config
            .config
            .env
            .iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    }

    /// Sets (or replaces) one environment variable, keeping the order of first definition.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.args_over_env.remove(key);
        let entry = format!("{key}={value}");
        let env = &mut self.config.config.env;
        match env
            .iter_mut()
            .find(|kv| kv.split_once('=').map(|(k, _)| k) == Some(key) || kv.as_str() == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }

    /// Looks a variable up as instructions see it: the most recent of ENV and ARG.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if self.args_over_env.contains(name)
            && let Some(Some(v)) = self.args.get(name)
        {
            return Some(v.clone());
        }
        let prefix = format!("{name}=");
        if let Some(v) = self
            .config
            .config
            .env
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix(&prefix))
        {
            return Some(v.to_string());
        }
        self.args.get(name).cloned().flatten()
    }
}
