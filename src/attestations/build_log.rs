//! The build's progress log, kept for the build-log attestation
//! (`https://lading.dev/attestation/build-log/v1`, `docs/attestations.md`): every step
//! with its name, when it started, how long it took, whether it came from the cache,
//! and its output lines. [`Recorder`] sits between the builder and the printer, so it
//! keeps exactly the lines the build prints — already redacted by the builder (secret
//! values never reach a reporter).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use lading_builder::Reporter;
use serde::{Deserialize, Serialize};

/// One step of the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The step number the progress shows (`#3`).
    pub vertex: usize,
    /// BuildKit-style name, e.g. `[2/4] RUN make`.
    pub name: String,
    /// Milliseconds from the start of the build to the start of the step.
    pub started_ms: u64,
    /// How long the step took, in milliseconds (none when it did not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Whether its result came from the cache.
    pub cached: bool,
    /// Its output and notes, as printed.
    pub log: Vec<String>,
}

/// The log of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildLog {
    /// The steps, by step number.
    pub steps: Vec<Step>,
    /// Warnings for the whole build.
    pub warnings: Vec<String>,
}

/// A reporter that records what it passes on to `inner`.
pub struct Recorder<'a> {
    inner: &'a dyn Reporter,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    steps: BTreeMap<usize, (Instant, Step)>,
    warnings: Vec<String>,
}

impl<'a> Recorder<'a> {
    /// Starts recording now.
    pub fn new(inner: &'a dyn Reporter) -> Self {
        Recorder {
            inner,
            start: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// The log recorded so far.
    pub fn recorded(&self) -> BuildLog {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        BuildLog {
            steps: state.steps.values().map(|(_, s)| s.clone()).collect(),
            warnings: state.warnings.clone(),
        }
    }

    fn with_state(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Reporter for Recorder<'_> {
    fn step_started(&self, vertex: usize, name: &str) {
        let now = Instant::now();
        let step = Step {
            vertex,
            name: name.to_string(),
            started_ms: millis(now - self.start),
            duration_ms: None,
            cached: false,
            log: Vec::new(),
        };
        self.with_state(|s| {
            s.steps.insert(vertex, (now, step));
        });
        self.inner.step_started(vertex, name);
    }

    fn step_done(&self, vertex: usize, cached: bool) {
        self.with_state(|s| {
            if let Some((started, step)) = s.steps.get_mut(&vertex) {
                step.duration_ms = Some(millis(started.elapsed()));
                step.cached = cached;
            }
        });
        self.inner.step_done(vertex, cached);
    }

    fn log(&self, vertex: usize, line: &str) {
        self.with_state(|s| {
            if let Some((_, step)) = s.steps.get_mut(&vertex) {
                step.log.push(line.to_string());
            }
        });
        self.inner.log(vertex, line);
    }

    fn warn(&self, message: &str) {
        self.with_state(|s| s.warnings.push(message.to_string()));
        self.inner.warn(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_keeps_steps_in_order_with_cache_hits_lines_and_warnings() {
        let recorder = Recorder::new(&lading_builder::progress::Silent);
        recorder.step_started(2, "[2/2] RUN make");
        recorder.step_started(1, "[1/2] FROM base");
        recorder.step_done(1, true);
        recorder.log(2, "compiling");
        recorder.step_done(2, false);
        recorder.log(9, "a line of no step is dropped");
        recorder.warn("unused build arg X");
        let log = recorder.recorded();
        let names: Vec<_> = log.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["[1/2] FROM base", "[2/2] RUN make"]);
        assert!(log.steps[0].cached && !log.steps[1].cached);
        assert!(log.steps.iter().all(|s| s.duration_ms.is_some()));
        assert_eq!(log.steps[1].log, ["compiling"]);
        assert_eq!(log.warnings, ["unused build arg X"]);
    }
}
