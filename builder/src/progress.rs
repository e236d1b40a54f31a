//! Progress reporting. Libraries report through [`Reporter`]; only the binary prints.

/// Receives build progress.
pub trait Reporter: Sync {
    /// A step starts: `vertex` numbers steps across the build (1-based), `name` is
    /// BuildKit-style, e.g. `[build 2/4] COPY . /src`.
    fn step_started(&self, vertex: usize, name: &str);
    /// A step finished; `cached` when its result came from the cache.
    fn step_done(&self, vertex: usize, cached: bool);
    /// A line of output or a note attached to a step.
    fn log(&self, vertex: usize, line: &str);
    /// A warning for the whole build.
    fn warn(&self, message: &str);
}

/// A reporter that drops everything.
pub struct Silent;

impl Reporter for Silent {
    fn step_started(&self, _: usize, _: &str) {}
    fn step_done(&self, _: usize, _: bool) {}
    fn log(&self, _: usize, _: &str) {}
    fn warn(&self, _: &str) {}
}
