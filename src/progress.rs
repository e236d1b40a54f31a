//! Rendering build progress on stderr (the only place lading prints progress).

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use lading_builder::Reporter;

use crate::cli::args::Progress;

/// A reporter for one `--progress` mode.
pub struct Printer {
    mode: Progress,
    start: Instant,
    steps: Mutex<Vec<Instant>>,
}

impl Printer {
    /// A printer; `auto` becomes `plain` (lading's tty mode prints the same lines).
    pub fn new(mode: Progress) -> Self {
        Printer {
            mode,
            start: Instant::now(),
            steps: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, s: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{s}");
    }

    fn elapsed(&self, vertex: usize) -> f64 {
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps
            .get(vertex.wrapping_sub(1))
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }
}

impl Reporter for Printer {
    fn step_started(&self, vertex: usize, name: &str) {
        {
            let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
            steps.resize(vertex, Instant::now());
        }
        match self.mode {
            Progress::Quiet => {}
            Progress::Rawjson => self.line(&serde_json::json!({"vertex": vertex, "name": name, "started": self.start.elapsed().as_secs_f64()}).to_string()),
            _ => self.line(&format!("#{vertex} {name}")),
        }
    }

    fn step_done(&self, vertex: usize, cached: bool) {
        let secs = self.elapsed(vertex);
        match self.mode {
            Progress::Quiet => {}
            Progress::Rawjson => self.line(&serde_json::json!({"vertex": vertex, "completed": self.start.elapsed().as_secs_f64(), "cached": cached}).to_string()),
            _ if cached => self.line(&format!("#{vertex} CACHED")),
            _ => self.line(&format!("#{vertex} DONE {secs:.1}s")),
        }
    }

    fn log(&self, vertex: usize, line: &str) {
        match self.mode {
            Progress::Quiet => {}
            Progress::Rawjson => {
                self.line(&serde_json::json!({"vertex": vertex, "log": line}).to_string())
            }
            _ => self.line(&format!("#{vertex} {line}")),
        }
    }

    fn warn(&self, message: &str) {
        match self.mode {
            Progress::Rawjson => self.line(&serde_json::json!({"warning": message}).to_string()),
            // Warnings are shown even with --progress=quiet: they say something is wrong.
            _ => self.line(&format!("WARNING: {message}")),
        }
    }
}

/// Renders registry transfers: a bar per blob with bytes and rate on a terminal
/// (`tty`), a line per blob event otherwise (`plain`), JSON lines (`rawjson`), or nothing.
pub struct Transfers {
    mode: Progress,
    bars: indicatif::MultiProgress,
    state: Mutex<std::collections::HashMap<String, Blob>>,
}

struct Blob {
    bar: Option<indicatif::ProgressBar>,
    size: u64,
    done: u64,
    started: Instant,
    direction: lading_registry::client::Direction,
}

impl Transfers {
    /// A renderer for `mode` (`auto` must be resolved already).
    pub fn new(mode: Progress) -> Self {
        Transfers {
            mode,
            bars: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            state: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn line(&self, s: &str) {
        if self.mode == Progress::Tty {
            let _ = self.bars.println(s);
        } else {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{s}");
        }
    }

    fn style() -> indicatif::ProgressStyle {
        indicatif::ProgressStyle::with_template(
            "{prefix} {msg:<9} [{bar:30}] {decimal_bytes:>10}/{decimal_total_bytes:<10} {decimal_bytes_per_sec:>12} {eta:>4}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
    }
}

/// `12.3 MB` (decimal units, like docker).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl lading_registry::client::Reporter for Transfers {
    fn event(&self, event: lading_registry::client::Event<'_>) {
        use lading_registry::client::{Direction, Event, Outcome};
        if self.mode == Progress::Quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Start {
                digest,
                size,
                direction,
            } => {
                let verb = match direction {
                    Direction::Download => "pulling",
                    Direction::Upload => "pushing",
                };
                let bar = match self.mode {
                    Progress::Tty => {
                        let bar = self.bars.add(indicatif::ProgressBar::new(size));
                        bar.set_style(Self::style());
                        bar.set_prefix(digest.short());
                        bar.set_message(verb);
                        Some(bar)
                    }
                    Progress::Rawjson => {
                        self.line(&serde_json::json!({"blob": digest.to_string(), "start": verb, "size": size}).to_string());
                        None
                    }
                    _ => {
                        self.line(&format!("{} {verb} {}", digest.short(), human_bytes(size)));
                        None
                    }
                };
                state.insert(
                    digest.to_string(),
                    Blob {
                        bar,
                        size,
                        done: 0,
                        started: Instant::now(),
                        direction,
                    },
                );
            }
            Event::Progress { digest, bytes } => {
                if let Some(b) = state.get_mut(&digest.to_string()) {
                    b.done += bytes;
                    if let Some(bar) = &b.bar {
                        bar.inc(bytes);
                    }
                }
            }
            Event::Retry {
                digest,
                attempt,
                offset,
                reason,
            } => {
                if let Some(b) = state.get_mut(&digest.to_string()) {
                    b.done = offset;
                    if let Some(bar) = &b.bar {
                        bar.set_position(offset);
                    }
                }
                match self.mode {
                    Progress::Rawjson => self.line(&serde_json::json!({"blob": digest.to_string(), "retry": attempt, "offset": offset, "reason": reason}).to_string()),
                    _ => self.line(&format!(
                        "{} retrying (attempt {attempt}) from byte {offset}: {reason}",
                        digest.short()
                    )),
                }
            }
            Event::Done { digest, outcome } => {
                let blob = state.remove(&digest.to_string());
                let text = match &outcome {
                    Outcome::Transferred => {
                        let (secs, size, verb) = blob.as_ref().map_or((0.0, 0, "done"), |b| {
                            (
                                b.started.elapsed().as_secs_f64(),
                                b.size,
                                match b.direction {
                                    Direction::Download => "pulled",
                                    Direction::Upload => "pushed",
                                },
                            )
                        });
                        let rate = if secs > 0.0 { size as f64 / secs } else { 0.0 };
                        format!(
                            "{verb} {} in {secs:.1}s ({}/s)",
                            human_bytes(size),
                            human_bytes(rate as u64)
                        )
                    }
                    Outcome::Cached => "already in the store".to_string(),
                    Outcome::Exists => "already in the registry".to_string(),
                    Outcome::Mounted { from } => format!("mounted from {from}"),
                };
                if let Some(bar) = blob.as_ref().and_then(|b| b.bar.as_ref()) {
                    bar.finish_and_clear();
                    self.bars.remove(bar);
                }
                match self.mode {
                    Progress::Rawjson => self.line(
                        &serde_json::json!({"blob": digest.to_string(), "done": text}).to_string(),
                    ),
                    _ => self.line(&format!("{} {text}", digest.short())),
                }
            }
        }
    }
}
