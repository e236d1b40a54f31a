//! GitHub Actions: the step's outputs (`GITHUB_OUTPUT`: `digest`, `image`,
//! `sbom-cyclonedx`, `sbom-spdx`, `sarif`) and a short Markdown summary
//! (`GITHUB_STEP_SUMMARY`), written when the runner provides those files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lading_oci::{Reference, Store};
use serde_json::Value;

use crate::publish::record::PublishRecord;

/// In GitHub Actions, where the evidence goes when `--evidence` is not given (the step
/// outputs point at files in it): `$RUNNER_TEMP/lading-evidence`.
pub fn default_evidence_dir() -> Option<PathBuf> {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return None;
    }
    std::env::var_os("RUNNER_TEMP").map(|t| PathBuf::from(t).join("lading-evidence"))
}

/// Appends the outputs and the summary, where the runner asks for them.
pub fn report(
    store: &Store,
    rec: &PublishRecord,
    evidence: Option<&PathBuf>,
    images: &[Reference],
) -> Result<()> {
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT") {
        append(Path::new(&path), &outputs(rec, evidence)?)?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append(Path::new(&path), &summary(store, rec, images)?)?;
    }
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// `name=value` lines (values never hold a newline: GitHub would read the rest as
/// another output).
fn outputs(rec: &PublishRecord, evidence: Option<&PathBuf>) -> Result<String> {
    let mut pairs = vec![("digest".to_string(), rec.manifest.clone())];
    if let Some(p) = rec.pushed.first() {
        pairs.push(("image".into(), p.reference.clone()));
    }
    if let Some(dir) = evidence {
        for (output, file) in [
            ("sbom-cyclonedx", "sbom.cyclonedx.json"),
            ("sbom-spdx", "sbom.spdx.json"),
            ("sarif", "vulnerabilities.sarif"),
        ] {
            if rec.documents.iter().any(|d| d.name == file) {
                pairs.push((output.into(), dir.join(file).display().to_string()));
            }
        }
    }
    let mut text = String::new();
    for (k, v) in pairs {
        if v.contains(['\n', '\r']) {
            bail!("the {k} output would hold a line break: {v:?}");
        }
        text.push_str(&format!("{k}={v}\n"));
    }
    Ok(text)
}

/// Markdown: the verdicts, the vulnerability counts, the digest, where it went, and
/// who signed.
fn summary(store: &Store, rec: &PublishRecord, images: &[Reference]) -> Result<String> {
    let gate: Value = serde_json::from_slice(&store.read_blob(&rec.gate_record.parse()?)?)?;
    let passed = gate["verdict"] == "pass";
    let title = images
        .first()
        .map_or_else(|| rec.manifest.clone(), |r| r.name());
    let mut md = format!(
        "### lading publish `{}`: {}\n\n",
        md_code(&title),
        if passed {
            "✅ passed"
        } else {
            "❌ refused by the gates (nothing pushed)"
        }
    );
    md.push_str(&format!("Digest: `{}`\n\n", rec.manifest));
    md.push_str("| gate | status | verdict |\n|---|---|---|\n");
    for g in gate["gates"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            g["name"].as_str().unwrap_or("?"),
            g["status"].as_str().unwrap_or("?"),
            if g["verdict"] == "pass" {
                "pass"
            } else {
                "**fail**"
            }
        ));
    }
    if let Some(doc) = rec
        .documents
        .iter()
        .find(|d| d.name == "vulnerabilities.json")
    {
        let report: Value = serde_json::from_slice(&store.read_blob(&doc.digest.parse()?)?)?;
        let s = &report["summary"];
        md.push_str(&format!(
            "\nVulnerabilities: {} critical, {} high, {} medium, {} low, {} unknown ({} packages)\n",
            s["critical"], s["high"], s["medium"], s["low"], s["unknown"], report["packages"]
        ));
    }
    if !rec.pushed.is_empty() {
        md.push_str("\nPushed (by digest, then tagged):\n");
        for p in &rec.pushed {
            md.push_str(&format!("- `{}`\n", md_code(&p.image)));
        }
    }
    for s in &rec.signed {
        let who = match (&s.signer.key, s.signer.identities.first()) {
            (Some(k), _) => format!("key `{k}`"),
            (None, Some(id)) => format!(
                "`{}` ({})",
                md_code(id),
                md_code(s.signer.issuer.as_deref().unwrap_or("?"))
            ),
            (None, None) => "?".into(),
        };
        md.push_str(&format!(
            "\nSigned `{}` by {who}: {} bundle(s)\n",
            md_code(&s.repository),
            s.bundles.len()
        ));
    }
    md.push('\n');
    Ok(md)
}

/// Text inside a Markdown code span: backticks and line breaks would end it.
fn md_code(s: &str) -> String {
    s.replace(['`', '\n', '\r'], " ")
}
