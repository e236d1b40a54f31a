//! Transfer progress: the client reports, the binary renders (ARCHITECTURE "Progress").

use lading_oci::Digest;

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the registry into the store.
    Download,
    /// From the store to the registry.
    Upload,
}

/// How a blob ended up where it had to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its bytes were transferred.
    Transferred,
    /// The store already had it: nothing was downloaded.
    Cached,
    /// The registry already had it (`HEAD` answered 200): nothing was uploaded.
    Exists,
    /// The registry linked it from another repository (cross-repository mount).
    Mounted {
        /// The repository it was mounted from.
        from: String,
    },
}

/// What happens to one blob.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A transfer starts.
    Start {
        /// The blob.
        digest: &'a Digest,
        /// Its size.
        size: u64,
        /// Download or upload.
        direction: Direction,
    },
    /// `bytes` more bytes were transferred.
    Progress {
        /// The blob.
        digest: &'a Digest,
        /// Newly transferred bytes.
        bytes: u64,
    },
    /// A transfer failed and is tried again (resumed at `offset` when the registry allows).
    Retry {
        /// The blob.
        digest: &'a Digest,
        /// Which attempt comes next (2 = the first retry).
        attempt: u32,
        /// Where the next attempt starts.
        offset: u64,
        /// What went wrong.
        reason: String,
    },
    /// Done.
    Done {
        /// The blob.
        digest: &'a Digest,
        /// How.
        outcome: Outcome,
    },
}

/// Receives transfer events (from several threads at once).
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: Event<'_>);
}

/// A reporter that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: Event<'_>) {}
}
