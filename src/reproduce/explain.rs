//! Naming why a rebuild differs: first the inputs (recorded against fetched), then the
//! first layer that differs, through the history entry that made it.

use std::collections::BTreeMap;

use lading_oci::diff::{Diff, Difference, Kind, Level};
use serde::Serialize;

/// What explains a mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseKind {
    /// A base image is not the recorded one (no longer available, or another digest).
    BaseImage,
    /// The context does not hash to the recorded digest.
    Context,
    /// The Dockerfile does not hash to the recorded digest.
    Dockerfile,
    /// A step saw other build args than the provenance records.
    BuildArg,
    /// An `ADD <url>` layer differs: the bytes at the URL changed.
    AddUrl,
    /// A `RUN` step gave other output from the same inputs.
    NonDeterministicRun,
    /// A layer differs and the inputs above explain it (or nothing does).
    Layer,
    /// Only the config or manifest differ.
    Metadata,
}

/// One cause, in words and by kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// Which kind.
    pub kind: CauseKind,
    /// What it is about: the image name, the step, the arg, the URL.
    pub subject: String,
    /// The explanation.
    pub message: String,
}

/// `RUN |2 A=1 B=2 /bin/sh -c x # buildkit` → (`{A: 1, B: 2}`, `RUN /bin/sh -c x`).
fn split_run_args(created_by: &str) -> (BTreeMap<String, String>, String) {
    let bare = created_by.trim_end_matches(" # buildkit");
    let Some(rest) = bare.strip_prefix("RUN |") else {
        return (BTreeMap::new(), bare.to_string());
    };
    let Some((n, mut tail)) = rest.split_once(' ') else {
        return (BTreeMap::new(), bare.to_string());
    };
    let mut args = BTreeMap::new();
    for _ in 0..n.parse::<usize>().unwrap_or(0) {
        let (kv, t) = tail.split_once(' ').unwrap_or((tail, ""));
        if let Some((k, v)) = kv.split_once('=') {
            args.insert(k.to_string(), v.to_string());
        }
        tail = t;
    }
    (args, format!("RUN {tail}"))
}

/// The step as a Dockerfile shows it.
pub fn step_text(created_by: &str) -> String {
    split_run_args(created_by).1
}

/// Build args a step saw differently in the image (A) and the rebuild (B).
fn arg_causes(a: &str, b: &str) -> Vec<Cause> {
    let ((aa, step), (ba, _)) = (split_run_args(a), split_run_args(b));
    let keys: std::collections::BTreeSet<&String> = aa.keys().chain(ba.keys()).collect();
    keys.into_iter()
        .filter(|k| aa.get(*k) != ba.get(*k))
        .map(|k| {
            let show = |v: Option<&String>| v.map_or("(unset)".to_string(), |v| format!("{k}={v}"));
            Cause {
                kind: CauseKind::BuildArg,
                subject: k.clone(),
                message: format!(
                    "build arg {k}: the image's step `{step}` saw {}, the recorded parameters give {}",
                    show(aa.get(k)),
                    show(ba.get(k))
                ),
            }
        })
        .collect()
}

fn kind_name(k: Kind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// `/x (content), /y (mode 0644 → 0600)`, at most five.
fn files(diffs: &[&Difference]) -> String {
    let mut parts: Vec<String> = diffs
        .iter()
        .take(5)
        .map(|d| {
            let path = d.path.as_deref().unwrap_or("");
            match d.kind {
                Kind::Mode => {
                    let m = |v: &Option<serde_json::Value>| match v {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Number(n)) => {
                            n.as_u64().map_or(n.to_string(), |m| format!("{m:04o}"))
                        }
                        _ => "-".into(),
                    };
                    format!("/{path} (mode {} → {})", m(&d.a), m(&d.b))
                }
                k => format!("/{path} ({})", kind_name(k)),
            }
        })
        .collect();
    if diffs.len() > 5 {
        parts.push(format!("and {} more", diffs.len() - 5));
    }
    parts.join(", ")
}

/// The causes the diff between the image (A) and the rebuild (B) shows, given the
/// input causes found before (`inputs`).
pub fn from_diff(diff: &Diff, inputs: &[Cause]) -> Vec<Cause> {
    let mut causes = Vec::new();
    // Build args show in RUN steps' history text, whether or not the layers differ.
    for d in &diff.differences {
        if d.kind == Kind::History
            && d.field.ends_with(".created_by")
            && let (Some(a), Some(b)) = (
                d.a.as_ref().and_then(|v| v.as_str()),
                d.b.as_ref().and_then(|v| v.as_str()),
            )
        {
            causes.extend(arg_causes(a, b));
        }
    }
    // The first layer pair that differs, and every difference in it.
    let first = diff
        .differences
        .iter()
        .filter(|d| matches!(d.level, Level::Layer | Level::File))
        .filter_map(|d| d.layer.as_ref().map(|l| (l.a.or(l.b), d)))
        .min_by_key(|(i, _)| *i);
    let Some((index, first)) = first else {
        if causes.is_empty() && inputs.is_empty() {
            let what: Vec<String> = diff
                .differences
                .iter()
                .take(3)
                .map(|d| {
                    if d.field.is_empty() {
                        kind_name(d.kind)
                    } else {
                        d.field.clone()
                    }
                })
                .collect();
            causes.push(Cause {
                kind: CauseKind::Metadata,
                subject: what.join(", "),
                message: format!("the layers are the same; {} differ", what.join(", ")),
            });
        }
        return causes;
    };
    let in_layer: Vec<&Difference> = diff
        .differences
        .iter()
        .filter(|d| d.layer.as_ref().is_some_and(|l| l.a.or(l.b) == index))
        .collect();
    let file_diffs: Vec<&Difference> = in_layer
        .iter()
        .copied()
        .filter(|d| d.level == Level::File)
        .collect();
    let pos = first.layer.as_ref();
    let created_by = pos
        .and_then(|l| l.created_by_a.clone().or_else(|| l.created_by_b.clone()))
        .unwrap_or_default();
    let step = step_text(&created_by);
    let entry = pos.and_then(|l| l.history_a.or(l.history_b));
    let at = match (entry, step.is_empty()) {
        (Some(h), false) => format!(
            "step `{step}` (history entry {h}, layer {})",
            index.unwrap_or(0)
        ),
        _ => format!("layer {}", index.unwrap_or(0)),
    };
    let what = if file_diffs.is_empty() {
        in_layer
            .first()
            .map(|d| match d.kind {
                Kind::LayerAdded => "a layer only the rebuild has".to_string(),
                Kind::LayerRemoved => "a layer only the image has".to_string(),
                k => d.note.clone().unwrap_or_else(|| kind_name(k)),
            })
            .unwrap_or_default()
    } else if file_diffs.len() == 1 {
        format!("{} differs", files(&file_diffs))
    } else {
        format!("{} differ", files(&file_diffs))
    };
    let has_args = causes.iter().any(|c| c.kind == CauseKind::BuildArg);
    // Only permission bits differ, and the context did not hash as recorded: the
    // checkout's modes (its umask) under contextModes preserve.
    if !file_diffs.is_empty()
        && file_diffs.iter().all(|d| d.kind == Kind::Mode)
        && inputs.iter().any(|c| c.kind == CauseKind::Context)
    {
        causes.push(Cause {
            kind: CauseKind::Context,
            subject: "permission bits".into(),
            message: format!(
                "only permission bits differ ({}): the context's files have other modes than the build's (a checkout under another umask?); the build kept the context's modes (contextModes preserve), `--context-modes normalize` at build time makes digests umask-independent",
                files(&file_diffs)
            ),
        });
    }
    let cause = if step.starts_with("ADD ") && step.contains("://") && inputs.is_empty() {
        let url = step
            .split_whitespace()
            .find(|w| w.contains("://"))
            .unwrap_or_default()
            .to_string();
        Cause {
            kind: CauseKind::AddUrl,
            subject: url.clone(),
            message: format!("ADD {url}: the bytes changed since the build ({what})"),
        }
    } else if step.starts_with("RUN ") && inputs.is_empty() && !has_args {
        Cause {
            kind: CauseKind::NonDeterministicRun,
            subject: step.clone(),
            message: format!(
                "{at} is not deterministic: the same inputs gave other output: {what}"
            ),
        }
    } else {
        Cause {
            kind: CauseKind::Layer,
            subject: step.clone(),
            message: format!("{at}: {what}"),
        }
    };
    causes.push(cause);
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_history_text_gives_its_build_args() {
        let (args, step) = split_run_args("RUN |2 A=1 B=x /bin/sh -c echo $A # buildkit");
        assert_eq!(args.len(), 2);
        assert_eq!(args["B"], "x");
        assert_eq!(step, "RUN /bin/sh -c echo $A");
        assert_eq!(step_text("COPY . /app # buildkit"), "COPY . /app");
        let c = arg_causes(
            "RUN |1 V=2 /bin/sh -c x # buildkit",
            "RUN |1 V=1 /bin/sh -c x # buildkit",
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].message.contains("V=2"), "{}", c[0].message);
    }
}
