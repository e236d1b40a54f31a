//! The secrets gate: every file of every layer (files a later layer deletes or replaces
//! included: their bytes still ship), and the config's env, labels, command and history,
//! scanned with rules in gitleaks' shape ([`rules`]) by an Aho-Corasick-prefiltered
//! detector ([`detect`]). Binary files are skipped by content sniffing. Reports carry
//! redacted matches only: a secret never reaches a report, a log or an error message.
//!
//! Layers are decompressed and parsed on the calling thread while worker threads scan
//! the content (1 MiB chunks overlapping by 68 KiB, so a match across a chunk boundary is
//! found once).

pub mod detect;
pub mod rules;

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use lading_oci::{Descriptor, Image, Store};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gate::{ImageRef, Verdict};
use crate::layer_cache::{LayerCache, Listed, Listing, fingerprint};
use crate::layers::{Flow, Kind, walk_layer};
use detect::{Detector, Hit, MULTILINE_FORWARD, Scratch, count_lines, display, is_binary};

pub use rules::Ruleset;

/// Bytes of a file scanned at a time.
const CHUNK: usize = 1 << 20;
/// Bytes a chunk shares with the next one (longer than any multi-line window).
const OVERLAP: usize = MULTILINE_FORWARD + 4096;
/// Jobs waiting for a scanner.
const QUEUE: usize = 64;

/// How to scan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Scanner threads besides the reading thread (0: one per core, minus one).
    pub threads: usize,
}

/// Whether a file still exists in the final image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// The final image has this very file.
    Present,
    /// A later layer deletes it (whiteout or opaque directory); its bytes still ship.
    Deleted,
    /// A later layer writes the same path; these bytes still ship.
    Replaced,
}

/// Where a secret was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Location {
    /// A file in a layer.
    File {
        /// Path in the image, without a leading `/`.
        path: String,
        /// Layer index (0 = base).
        layer: usize,
        /// Layer digest.
        layer_digest: String,
        /// 1-based line (none for a rule that matches file names).
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
        /// Whether the final image still has the file.
        state: FileState,
    },
    /// An `Env` entry of the config.
    Env {
        /// The variable.
        name: String,
    },
    /// A label of the config.
    Label {
        /// The label key.
        name: String,
    },
    /// Another config field (`Cmd`, `Entrypoint`, `Healthcheck`, `User`, `WorkingDir`).
    Config {
        /// The field.
        field: String,
    },
    /// A history entry of the config (`created_by`).
    History {
        /// Index in the history (0 = oldest).
        index: usize,
        /// The layer the step made, if it made one.
        #[serde(skip_serializing_if = "Option::is_none")]
        layer: Option<usize>,
        /// 1-based line within `created_by`.
        line: usize,
    },
}

impl Location {
    fn sort_key(&self) -> (u8, usize, &str, usize) {
        match self {
            Location::File {
                path, layer, line, ..
            } => (0, *layer, path, line.unwrap_or(0)),
            Location::Env { name } => (1, 0, name, 0),
            Location::Label { name } => (2, 0, name, 0),
            Location::Config { field } => (3, 0, field, 0),
            Location::History { index, line, .. } => (4, *index, "", *line),
        }
    }
}

/// One secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// What the rule finds.
    pub description: String,
    /// Where.
    pub location: Location,
    /// The match, secret redacted.
    #[serde(rename = "match")]
    pub matched: String,
    /// Shannon entropy of the secret (bits per byte, two decimals).
    pub entropy: f64,
}

/// Counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rules run.
    pub rules: usize,
    /// Layers read.
    pub layers: usize,
    /// Text files scanned (every layer).
    pub files_scanned: u64,
    /// Their bytes.
    pub bytes_scanned: u64,
    /// Files skipped as binary.
    pub binary_files_skipped: u64,
    /// Config strings scanned (env, labels, history, ...).
    pub config_entries_scanned: u64,
    /// Secrets found.
    pub findings: usize,
}

/// The secrets gate's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `secrets`.
    pub gate: &'static str,
    /// The image.
    pub image: ImageRef,
    /// `fail` when anything was found.
    pub verdict: Verdict,
    /// Counts.
    pub summary: Summary,
    /// The findings, by location.
    pub findings: Vec<Finding>,
}

struct FileMeta {
    path: String,
    layer: usize,
}

struct Job {
    file: Arc<FileMeta>,
    data: Vec<u8>,
    /// Line number of `data[0]`.
    first_line: usize,
    /// Hits starting at or after this offset belong to the next chunk.
    accept: usize,
}

struct Raw {
    file: Arc<FileMeta>,
    rule: usize,
    line: Option<usize>,
    matched: String,
    entropy: f64,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn worker(rx: &Mutex<Receiver<Job>>, detector: &Detector) -> Vec<Raw> {
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    loop {
        let job = {
            let guard = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            guard.recv()
        };
        let Ok(job) = job else { break };
        let hits = detector.scan(Some(&job.file.path), &job.data, &mut scratch);
        // The line where the match starts (as gitleaks and trivy count).
        let mut line = job.first_line;
        let mut counted = 0;
        for hit in hits.iter().filter(|h| h.start < job.accept) {
            line += count_lines(&job.data[counted..hit.start]);
            counted = hit.start;
            out.push(Raw {
                file: job.file.clone(),
                rule: hit.rule,
                line: Some(line),
                matched: display(&job.data, hit),
                entropy: round2(hit.entropy),
            });
        }
    }
    out
}

/// Reads until `buf` holds `len` bytes or the reader ends.
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, len: usize) -> std::io::Result<()> {
    let want = len.saturating_sub(buf.len()) as u64;
    reader.take(want).read_to_end(buf)?;
    Ok(())
}

/// What a later layer did to paths of earlier ones.
#[derive(Default)]
struct Changes {
    /// Last layer (above the base) writing each path.
    writers: HashMap<String, usize>,
    /// Whiteouts and opaque markers: (path, layer, opaque).
    removals: Vec<(String, usize, bool)>,
}

impl Changes {
    fn of(layers: &[Arc<Listing>]) -> Changes {
        let mut changes = Changes::default();
        for (layer, listing) in layers.iter().enumerate() {
            for e in listing.iter() {
                match &e.kind {
                    Kind::Whiteout => changes.removals.push((e.path.clone(), layer, false)),
                    Kind::Opaque => changes.removals.push((e.path.clone(), layer, true)),
                    _ if layer > 0 => {
                        changes.writers.insert(e.path.clone(), layer);
                    }
                    _ => {}
                }
            }
        }
        changes
    }

    fn state(&self, path: &str, layer: usize) -> FileState {
        let under = |dir: &str| {
            path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
        };
        let deleted = self
            .removals
            .iter()
            .any(|(p, l, opaque)| *l > layer && (under(p) || (!opaque && p == path)));
        if deleted {
            FileState::Deleted
        } else if self.writers.get(path).is_some_and(|&l| l > layer) {
            FileState::Replaced
        } else {
            FileState::Present
        }
    }
}

/// What the scan found in one layer's files, from that layer alone (kept per layer in the
/// [`LayerCache`], for one rule set).
#[derive(Debug, Default, Serialize, Deserialize)]
struct LayerScan {
    files_scanned: u64,
    bytes_scanned: u64,
    binary_files_skipped: u64,
    hits: Vec<LayerHit>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LayerHit {
    path: String,
    /// Index of the rule in the rule set the cache entry is for.
    rule: usize,
    line: Option<usize>,
    /// Redacted, as in the report.
    matched: String,
    entropy: f64,
}

/// What the cache keeps of a layer for `detector`'s rules; bump the number when the
/// scan of a file changes.
fn cached_as(detector: &Detector) -> String {
    format!(
        "secrets-1-{}",
        fingerprint(&format!("{:?}", detector.ruleset))
    )
}

/// Scans `image` (called `name` in the report) with `detector`, with the store's
/// [`LayerCache`].
pub fn scan(
    store: &Store,
    image: &Image,
    name: &str,
    detector: &Detector,
    opts: &Options,
) -> Result<Report> {
    scan_cached(&LayerCache::new(store), store, image, name, detector, opts)
}

/// [`scan`], reading only the layers `cache` holds no result for with these rules.
pub fn scan_cached(
    cache: &LayerCache,
    store: &Store,
    image: &Image,
    name: &str,
    detector: &Detector,
    opts: &Options,
) -> Result<Report> {
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    };
    let what = cached_as(detector);
    let layers = image.layers();
    let mut scans: Vec<Option<LayerScan>> = Vec::new();
    let mut listings: Vec<Option<Arc<Listing>>> = Vec::new();
    for layer in layers {
        let listing = cache.listing(store, layer)?;
        let scan = match &listing {
            Some(_) => cache.load::<LayerScan>(store, layer, &what)?,
            None => None,
        };
        listings.push(listing.filter(|_| scan.is_some()));
        scans.push(scan);
    }
    let cached: Vec<bool> = scans.iter().map(Option::is_some).collect();

    // The layers not in the cache: read, their text handed to the scanner threads.
    let (tx, rx) = sync_channel::<Job>(QUEUE);
    let rx = Mutex::new(rx);
    let mut direct: Vec<Raw> = Vec::new();
    // `walk_layer` verifies every layer blob against its digest as it streams.
    let (walked, raws) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| worker(&rx, detector)))
            .collect();
        let walked = (|| {
            for (index, layer) in layers.iter().enumerate() {
                if scans[index].is_some() {
                    continue;
                }
                let mut counts = LayerScan::default();
                let mut listing = Vec::new();
                read_layer(
                    store,
                    layer,
                    index,
                    detector,
                    &tx,
                    &mut counts,
                    &mut listing,
                    &mut direct,
                )?;
                scans[index] = Some(counts);
                listings[index] = Some(cache.save_listing(store, layer, listing));
            }
            Ok::<_, Error>(())
        })();
        drop(tx);
        let mut raws = Vec::new();
        let mut crashed = false;
        for h in handles {
            match h.join() {
                Ok(r) => raws.extend(r),
                Err(_) => crashed = true,
            }
        }
        (walked, if crashed { None } else { Some(raws) })
    });
    walked?;
    let raws = raws.ok_or_else(|| Error::Invalid {
        what: format!("secret scan of {name}"),
        reason: "a scanner thread stopped unexpectedly".into(),
    })?;

    // The new layers' hits, kept for the next image that has them.
    let mut fresh: Vec<Vec<LayerHit>> = layers.iter().map(|_| Vec::new()).collect();
    for r in raws.into_iter().chain(direct) {
        fresh[r.file.layer].push(LayerHit {
            path: r.file.path.clone(),
            rule: r.rule,
            line: r.line,
            matched: r.matched,
            entropy: r.entropy,
        });
    }
    let mut summary = Summary {
        rules: detector.ruleset.rules.len(),
        layers: layers.len(),
        ..Summary::default()
    };
    let mut findings: Vec<Finding> = Vec::new();
    // Every layer has its listing now: cached with its scan, or made as it was read.
    let listings: Vec<Arc<Listing>> =
        listings
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Invalid {
                what: format!("secret scan of {name}"),
                reason: "a layer was neither cached nor read".into(),
            })?;
    let changes = Changes::of(&listings);
    for (index, (layer, scan)) in layers.iter().zip(scans).enumerate() {
        let Some(mut scan) = scan else { continue };
        if !cached[index] {
            scan.hits = std::mem::take(&mut fresh[index]);
            scan.hits.sort_by(|a, b| {
                (&a.path, a.line, a.rule, &a.matched).cmp(&(&b.path, b.line, b.rule, &b.matched))
            });
            cache.save(store, layer, &what, &scan);
        }
        summary.files_scanned += scan.files_scanned;
        summary.bytes_scanned += scan.bytes_scanned;
        summary.binary_files_skipped += scan.binary_files_skipped;
        let digest = layer.digest.to_string();
        for hit in &scan.hits {
            let Some(rule) = detector.ruleset.rules.get(hit.rule) else {
                continue;
            };
            findings.push(Finding {
                rule: rule.id.clone(),
                description: rule.description.clone(),
                location: Location::File {
                    path: hit.path.clone(),
                    layer: index,
                    layer_digest: digest.clone(),
                    line: hit.line,
                    state: changes.state(&hit.path, index),
                },
                matched: hit.matched.clone(),
                entropy: hit.entropy,
            });
        }
    }
    scan_config(image, detector, &mut findings, &mut summary);
    findings.sort_by(|a, b| {
        a.location
            .sort_key()
            .cmp(&b.location.sort_key())
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.matched.cmp(&b.matched))
    });
    summary.findings = findings.len();
    Ok(Report {
        gate: "secrets",
        image: ImageRef::new(name, image),
        verdict: if findings.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        summary,
        findings,
    })
}

/// Reads one layer, handing text content to the scanners through `tx` and listing its
/// entries.
#[allow(clippy::too_many_arguments)]
fn read_layer(
    store: &Store,
    layer: &Descriptor,
    index: usize,
    detector: &Detector,
    tx: &SyncSender<Job>,
    counts: &mut LayerScan,
    listing: &mut Listing,
    direct: &mut Vec<Raw>,
) -> Result<()> {
    let stopped = || Error::Invalid {
        what: "secret scan".into(),
        reason: "the scanner threads stopped unexpectedly".into(),
    };
    walk_layer(store, layer, index, &mut |entry, reader| {
        listing.push(Listed::of(entry));
        if entry.kind != Kind::File || detector.skips_path(&entry.path) {
            return Ok(Flow::Continue);
        }
        let file = Arc::new(FileMeta {
            path: entry.path.clone(),
            layer: entry.layer,
        });
        for rule in detector.path_rules(&entry.path) {
            direct.push(Raw {
                file: file.clone(),
                rule,
                line: None,
                matched: String::new(),
                entropy: 0.0,
            });
        }
        let io = |source| Error::Layer {
            layer: entry.layer_digest.clone(),
            source,
        };
        let first = (entry.size as usize).min(CHUNK);
        let mut buf = Vec::with_capacity(first);
        fill(reader, &mut buf, CHUNK).map_err(io)?;
        if buf.is_empty() {
            return Ok(Flow::Continue);
        }
        if is_binary(&buf) {
            counts.binary_files_skipped += 1;
            return Ok(Flow::Continue);
        }
        counts.files_scanned += 1;
        counts.bytes_scanned += buf.len() as u64;
        let mut first_line = 1;
        loop {
            let full = buf.len() >= CHUNK;
            if !full {
                let accept = buf.len();
                tx.send(Job {
                    file: file.clone(),
                    data: buf,
                    first_line,
                    accept,
                })
                .map_err(|_| stopped())?;
                break;
            }
            let accept = buf.len() - OVERLAP;
            let mut next = Vec::with_capacity(CHUNK + OVERLAP);
            next.extend_from_slice(&buf[accept..]);
            let lines = count_lines(&buf[..accept]);
            tx.send(Job {
                file: file.clone(),
                data: buf,
                first_line,
                accept,
            })
            .map_err(|_| stopped())?;
            first_line += lines;
            buf = next;
            let before = buf.len();
            fill(reader, &mut buf, CHUNK + OVERLAP).map_err(io)?;
            counts.bytes_scanned += (buf.len() - before) as u64;
            if buf.len() == before {
                // The file ended at the chunk boundary: the overlap still needs its turn.
                let accept = buf.len();
                tx.send(Job {
                    file: file.clone(),
                    data: buf,
                    first_line,
                    accept,
                })
                .map_err(|_| stopped())?;
                break;
            }
        }
        Ok(Flow::Continue)
    })?;
    Ok(())
}

/// Scans the config's strings: env, labels, command fields and history.
fn scan_config(
    image: &Image,
    detector: &Detector,
    findings: &mut Vec<Finding>,
    summary: &mut Summary,
) {
    let config = &image.config;
    let mut scratch = Scratch::default();
    let mut texts: Vec<(Location, String)> = Vec::new();
    for env in &config.config.env {
        let name = env.split_once('=').map_or(env.as_str(), |(k, _)| k);
        texts.push((
            Location::Env {
                name: name.to_string(),
            },
            env.clone(),
        ));
    }
    for (k, v) in &config.config.labels {
        texts.push((Location::Label { name: k.clone() }, format!("{k}={v}")));
    }
    let fields = [
        ("Cmd", config.config.cmd.as_ref().map(|c| c.join(" "))),
        (
            "Entrypoint",
            config.config.entrypoint.as_ref().map(|c| c.join(" ")),
        ),
        (
            "Healthcheck",
            config.config.healthcheck.as_ref().map(|h| h.test.join(" ")),
        ),
        ("User", config.config.user.clone()),
        ("WorkingDir", config.config.working_dir.clone()),
    ];
    for (field, text) in fields {
        if let Some(text) = text {
            texts.push((
                Location::Config {
                    field: field.to_string(),
                },
                text,
            ));
        }
    }
    let mut layer = 0;
    for (index, h) in config.history.iter().enumerate() {
        let made = (!h.empty_layer && layer < image.layers().len()).then_some(layer);
        if !h.empty_layer {
            layer += 1;
        }
        if let Some(text) = &h.created_by {
            texts.push((
                Location::History {
                    index,
                    layer: made,
                    line: 0,
                },
                text.clone(),
            ));
        }
    }
    for (location, text) in texts {
        summary.config_entries_scanned += 1;
        let bytes = text.as_bytes();
        let hits: Vec<Hit> = detector.scan(None, bytes, &mut scratch);
        for hit in hits {
            let mut location = location.clone();
            if let Location::History { line, .. } = &mut location {
                *line = 1 + count_lines(&bytes[..hit.start]);
            }
            findings.push(Finding {
                rule: detector.rule(hit.rule).id.clone(),
                description: detector.rule(hit.rule).description.clone(),
                location,
                matched: display(bytes, &hit),
                entropy: round2(hit.entropy),
            });
        }
    }
}

/// The report as a table for humans.
pub fn render_table(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "secrets: {} {}",
        report.image.name, report.image.digest
    );
    let s = &report.summary;
    let _ = writeln!(
        out,
        "scanned {} layers, {} text files ({} bytes; {} binary files skipped), {} config entries with {} rules",
        s.layers,
        s.files_scanned,
        s.bytes_scanned,
        s.binary_files_skipped,
        s.config_entries_scanned,
        s.rules
    );
    if report.findings.is_empty() {
        let _ = writeln!(out, "no secrets found: PASS");
        return out;
    }
    let rows: Vec<[String; 4]> = report
        .findings
        .iter()
        .map(|f| {
            let (place, layer) = match &f.location {
                Location::File {
                    path,
                    layer,
                    line,
                    state,
                    ..
                } => {
                    let mut p = format!("/{path}");
                    if let Some(l) = line {
                        p.push_str(&format!(":{l}"));
                    }
                    match state {
                        FileState::Present => {}
                        FileState::Deleted => p.push_str(" (deleted later)"),
                        FileState::Replaced => p.push_str(" (replaced later)"),
                    }
                    (p, layer.to_string())
                }
                Location::Env { name } => (format!("config Env {name}"), "-".into()),
                Location::Label { name } => (format!("config Label {name}"), "-".into()),
                Location::Config { field } => (format!("config {field}"), "-".into()),
                Location::History { index, layer, line } => (
                    format!("history #{index}:{line}"),
                    layer.map_or("-".into(), |l| l.to_string()),
                ),
            };
            [f.rule.clone(), place, layer, f.matched.clone()]
        })
        .collect();
    let headers = ["RULE", "WHERE", "LAYER", "MATCH"];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
        .trim_end()
        .to_string()
    };
    let _ = writeln!(out, "{}", line(headers));
    for r in &rows {
        let _ = writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3]]));
    }
    let _ = writeln!(
        out,
        "{} secret{} found: FAIL",
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{file, image};
    use lading_oci::layer::Entry as LayerEntry;

    const TOKEN: &str = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4A";

    /// A text file with TOKEN starting at each of `offsets` (on its own line).
    fn text_with_tokens(len: usize, offsets: &[usize]) -> (Vec<u8>, Vec<usize>) {
        let mut data = Vec::with_capacity(len);
        let mut lines = Vec::new();
        let mut line = 1;
        let mut next = offsets.iter().peekable();
        while data.len() < len {
            if next.peek().is_some_and(|&&o| data.len() >= o) {
                next.next();
                data.extend_from_slice(TOKEN.as_bytes());
                data.push(b'\n');
                lines.push(line);
            } else {
                data.extend_from_slice(b"lorem ipsum dolor sit amet\n");
            }
            line += 1;
        }
        (data, lines)
    }

    #[test]
    fn chunk_boundaries_find_each_secret_once_with_its_line() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let accept = CHUNK - OVERLAP;
        let offsets = [
            10,
            accept - 20,
            accept - 2,
            accept + 5,
            CHUNK - 10,
            CHUNK + 3,
            2 * accept + 7,
            3 * CHUNK,
        ];
        let (big, lines) = text_with_tokens(3 * CHUNK + 100, &offsets);
        // A file ending exactly at a chunk boundary, its token in the overlap.
        let mut exact = vec![b'x'; CHUNK - 100];
        exact.push(b'\n');
        exact.extend_from_slice(TOKEN.as_bytes());
        exact.resize(CHUNK, b'\n');
        let img = image(
            &store,
            vec![vec![file("big.txt", big), file("exact.txt", exact)]],
        );
        let detector = Detector::new(Ruleset::builtin().unwrap()).unwrap();
        for threads in [1, 3] {
            let r = scan(&store, &img, "t", &detector, &Options { threads }).unwrap();
            let got: Vec<(String, Option<usize>)> = r
                .findings
                .iter()
                .map(|f| match &f.location {
                    Location::File { path, line, .. } => (path.clone(), *line),
                    other => panic!("{other:?}"),
                })
                .collect();
            let mut want: Vec<(String, Option<usize>)> = lines
                .iter()
                .map(|l| ("big.txt".to_string(), Some(*l)))
                .collect();
            want.push(("exact.txt".into(), Some(2)));
            assert_eq!(got, want, "threads {threads}");
        }
    }

    #[test]
    fn deleted_and_replaced_files_are_still_scanned() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let secret = format!("token: {TOKEN}\n").into_bytes();
        let img = image(
            &store,
            vec![
                vec![
                    file("a/gone", secret.clone()),
                    file("a/swapped", secret.clone()),
                ],
                vec![
                    LayerEntry::whiteout("a/gone"),
                    file("a/swapped", b"clean\n"),
                ],
                vec![file("a/kept", secret)],
            ],
        );
        let detector = Detector::new(Ruleset::builtin().unwrap()).unwrap();
        let r = scan(&store, &img, "t", &detector, &Options::default()).unwrap();
        let got: Vec<(String, usize, FileState)> = r
            .findings
            .iter()
            .map(|f| match &f.location {
                Location::File {
                    path, layer, state, ..
                } => (path.clone(), *layer, *state),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a/gone".into(), 0, FileState::Deleted),
                ("a/swapped".into(), 0, FileState::Replaced),
                ("a/kept".into(), 2, FileState::Present),
            ]
        );
        assert!(r.findings.iter().all(|f| f.matched == "ghp_*****"));
    }

    #[test]
    fn states_follow_later_layers() {
        let mut c = Changes::default();
        c.removals.push(("etc/secret".into(), 2, false));
        c.removals.push(("opt".into(), 3, true));
        c.writers.insert("app/key".into(), 4);
        assert_eq!(c.state("etc/secret", 1), FileState::Deleted);
        assert_eq!(c.state("etc/secret", 2), FileState::Present);
        assert_eq!(c.state("etc/secret2", 1), FileState::Present);
        assert_eq!(c.state("opt/x/y", 0), FileState::Deleted);
        assert_eq!(c.state("opt", 0), FileState::Present);
        assert_eq!(c.state("app/key", 1), FileState::Replaced);
        assert_eq!(c.state("app/key", 4), FileState::Present);
    }
}
