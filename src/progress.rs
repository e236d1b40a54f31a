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
