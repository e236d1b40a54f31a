//! The report as one self-contained HTML page: inline CSS, no script, no link, no
//! remote anything — it opens from a file or an e-mail attachment with no network, and
//! its Content-Security-Policy forbids the browser to fetch or run anything besides.
//!
//! Everything that comes from the image, its records or the user is written through
//! [`E`], which escapes it: image content is hostile (a package named
//! `<script>…</script>`, a file named `"><img src=x>`) and must read as text. Markup
//! is only ever the literals in this module and [`sections`].

mod sections;

use std::fmt::{self, Display, Write as _};

use lading_gates::gate::Verdict;
use lading_gates::record::{GateRecord, Status};

use super::gates::Gates;
use super::{Part, Report};

/// The page's style sheet, inlined.
const CSS: &str = include_str!("style.css");

/// The page's Content-Security-Policy: inline style only. A browser then fetches
/// nothing and runs nothing, whatever the page holds.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'";

/// Text, escaped for HTML element content and quoted attribute values.
pub struct E<'a>(pub &'a str);

impl Display for E<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// The page under construction. `fmt::Write` into a `String` cannot fail.
pub(super) struct Page(String);

impl Page {
    /// Appends markup (literals and [`E`]-escaped values only).
    fn put(&mut self, args: fmt::Arguments<'_>) {
        let _ = self.0.write_fmt(args);
    }
}

/// `write!` into a [`Page`].
macro_rules! put {
    ($page:expr, $($arg:tt)*) => { $page.put(format_args!($($arg)*)) };
}
pub(super) use put;

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut p = Page(String::with_capacity(64 * 1024));
    // A store tag, else the first tag it was published to, else what was asked for.
    let pushed = match &report.signatures {
        Part::Found(s) => s
            .published
            .as_ref()
            .and_then(|p| p.pushed.first())
            .map(|p| &p.image),
        _ => None,
    };
    let title = report
        .image
        .references
        .first()
        .or(pushed)
        .unwrap_or(&report.image.requested);
    put!(
        p,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"lading {}\">\n\
         <title>lading report: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        E(env!("CARGO_PKG_VERSION")),
        E(title)
    );
    header(&mut p, report, title);
    put!(p, "<main>\n");
    put!(
        p,
        "<nav class=\"toc\"><a href=\"#gates\">Gates</a><a href=\"#image\">Image</a>\
         <a href=\"#vulnerabilities\">Vulnerabilities</a><a href=\"#cis\">CIS</a>\
         <a href=\"#secrets\">Secrets</a><a href=\"#sbom\">SBOM</a>\
         <a href=\"#signatures\">Signatures</a><a href=\"#provenance\">Provenance</a></nav>\n"
    );
    gates_summary(&mut p, &report.gates);
    sections::image(&mut p, report);
    let gates = report.gates.found();
    sections::vulnerabilities(&mut p, gate_part(&report.gates, gates.map(|g| &g.scan)));
    sections::cis(&mut p, gate_part(&report.gates, gates.map(|g| &g.cis)));
    sections::secrets(&mut p, gate_part(&report.gates, gates.map(|g| &g.secrets)));
    sections::sbom(&mut p, gate_part(&report.gates, gates.map(|g| &g.sbom)));
    sections::signatures(&mut p, &report.signatures);
    sections::provenance(&mut p, &report.provenance);
    put!(
        p,
        "<footer>Written by lading {} from the records in its store for manifest \
         <code class=\"digest\">{}</code>. Signatures are shown as their bundles state them; \
         <code>lading verify</code> checks them.</footer>\n</main>\n</body>\n</html>\n",
        E(env!("CARGO_PKG_VERSION")),
        E(&report.image.digest.to_string())
    );
    p.0
}

/// A gate's report when the record is there; the record's own absence otherwise.
fn gate_part<'a, T>(
    record: &'a Part<Gates>,
    part: Option<&'a Part<T>>,
) -> Result<&'a Part<T>, &'a str> {
    match (record, part) {
        (_, Some(p)) => Ok(p),
        (Part::Missing(why), None) => Err(why),
        (Part::Broken(_), None) => Err("the gate record is unreadable (see Gates)"),
        (Part::Found(_), None) => Err("not gated"),
    }
}

/// The dark band: reference, digest, overall verdict.
fn header(p: &mut Page, report: &Report, title: &str) {
    let (class, word, label) = match &report.gates {
        Part::Found(g) if g.record.verdict == Verdict::Pass => ("pass", "PASS", "gate verdict"),
        Part::Found(_) => ("fail", "FAIL", "gate verdict"),
        Part::Missing(_) => ("none", "NOT GATED", "gate verdict"),
        Part::Broken(_) => ("fail", "UNREADABLE", "gate record"),
    };
    put!(
        p,
        "<header class=\"top\"><div class=\"inner\"><div class=\"what\">\
         <div class=\"kicker\">lading image report</div><h1>{}</h1>\
         <div class=\"digest mono\">{}</div>",
        E(title),
        E(&report.image.digest.to_string())
    );
    let others: Vec<&String> = report.image.references.iter().skip(1).collect();
    if !others.is_empty() {
        let joined: Vec<String> = others.iter().map(|r| E(r).to_string()).collect();
        put!(p, "<div class=\"refs\">also {}</div>", joined.join(", "));
    }
    put!(
        p,
        "</div><div class=\"verdict {class}\"><div class=\"label\">{label}</div>\
         <div class=\"word\">{word}</div></div></div></header>\n"
    );
}

/// A verdict badge.
pub(super) fn verdict_badge(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "<span class=\"badge b-pass\">pass</span>",
        _ => "<span class=\"badge b-fail\">fail</span>",
    }
}

/// A badge for a report's own `pass`/`fail` word.
pub(super) fn word_badge(word: &str) -> String {
    let class = match word {
        "pass" => "b-pass",
        "fail" => "b-fail",
        "manual" | "exempt" => "b-warn",
        _ => "b-none",
    };
    format!("<span class=\"badge {class}\">{}</span>", E(word))
}

/// One line in place of a missing or unreadable part.
pub(super) fn absent(p: &mut Page, why: Result<&str, &str>) {
    match why {
        Ok(missing) => put!(p, "<p class=\"missing\">{}</p>\n", E(missing)),
        Err(broken) => put!(p, "<p class=\"broken\">unreadable: {}</p>\n", E(broken)),
    }
}

/// The gate summary table and the record's facts.
fn gates_summary(p: &mut Page, gates: &Part<Gates>) {
    let Some(g) = sections::with_part(p, "gates", "Gates", Ok(gates)) else {
        return;
    };
    put!(
        p,
        "<table><thead><tr><th>Gate</th><th>Status</th><th>Verdict</th><th>Result</th>\
         <th>Report</th></tr></thead><tbody>\n"
    );
    for run in &g.record.gates {
        let status = match run.status {
            Status::Ran => "<span class=\"badge b-none\">ran</span>",
            Status::Skipped => "<span class=\"badge b-warn\">skipped</span>",
            Status::Unavailable => "<span class=\"badge b-fail\">unavailable</span>",
        };
        let result = match (run.name.as_str(), run.status) {
            (_, Status::Skipped | Status::Unavailable) => {
                E(run.reason.as_deref().unwrap_or("")).to_string()
            }
            ("sbom", _) => part_summary(&g.sbom, |s| format!("{} packages", s.total)),
            ("scan", _) => part_summary(&g.scan, |v| {
                let counts: Vec<String> = v
                    .counts()
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect();
                let fail_on = v.fail_on.as_deref().unwrap_or("none");
                match counts.is_empty() {
                    true => format!("no vulnerabilities (fails on {fail_on})"),
                    false => format!("{} (fails on {fail_on})", counts.join(", ")),
                }
            }),
            ("cis", _) => part_summary(&g.cis, |c| {
                let s = &c.summary;
                format!(
                    "{} pass, {} fail, {} manual, {} exempt",
                    s.pass, s.fail, s.manual, s.exempt
                )
            }),
            ("secrets", _) => part_summary(&g.secrets, |s| match s.findings.len() {
                0 => "no secrets found".into(),
                n => format!("{n} secret(s) found"),
            }),
            _ => String::new(),
        };
        let report = match &run.report {
            Some(r) => format!("<code class=\"digest\">{}</code>", E(&r.digest)),
            None => "<span class=\"muted\">none</span>".into(),
        };
        put!(
            p,
            "<tr><td><b>{}</b></td><td>{status}</td><td>{}</td><td>{result}</td><td>{report}</td></tr>\n",
            E(&run.name),
            verdict_badge(run.verdict)
        );
    }
    put!(
        p,
        "<tr><td><b>overall</b></td><td></td><td>{}</td><td colspan=\"2\"></td></tr>\n</tbody></table>\n",
        verdict_badge(g.record.verdict)
    );
    record_facts(p, &g.record);
    put!(p, "</section>\n");
}

/// A part's one-line summary (escaped), or why there is none.
fn part_summary<T>(part: &Part<T>, f: impl FnOnce(&T) -> String) -> String {
    match part {
        Part::Found(t) => E(&f(t)).to_string(),
        Part::Missing(why) => format!("<span class=\"missing\">{}</span>", E(why)),
        Part::Broken(why) => format!("<span class=\"broken\">unreadable: {}</span>", E(why)),
    }
}

/// Policy, database and when the gates ran.
fn record_facts(p: &mut Page, rec: &GateRecord) {
    put!(p, "<table class=\"kv\">\n");
    let policy = match &rec.policy {
        Some(d) => format!("<code class=\"digest\">{}</code>", E(d)),
        None => "<span class=\"muted\">the default policy (no policy file)</span>".into(),
    };
    put!(
        p,
        "<tr><th>Policy (sha256 of the file)</th><td>{policy}</td></tr>\n"
    );
    let db = rec.gates.iter().find_map(|g| g.database.as_ref());
    let db = match db {
        Some(db) if db.status == "ok" => {
            let mut s = format!("<code class=\"digest\">{}</code>", E(&db.manifest_digest));
            for (eco, v) in &db.ecosystems {
                s.push_str(&format!(
                    "<span class=\"sub\">{}: {} records, latest modified {}, imported {}</span>",
                    E(eco),
                    v.records,
                    E(&v.latest_modified),
                    E(&v.imported_at)
                ));
            }
            s
        }
        Some(db) => format!("<span class=\"missing\">{}</span>", E(&db.status)),
        None => "<span class=\"muted\">not used (the scan gate did not run)</span>".into(),
    };
    put!(p, "<tr><th>Vulnerability database</th><td>{db}</td></tr>\n");
    put!(
        p,
        "<tr><th>Gated</th><td>{} by lading {}, as <code>{}</code></td></tr>\n</table>\n",
        E(&rec.created),
        E(&rec.lading_version),
        E(&rec.reference)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_character_that_could_leave_text() {
        assert_eq!(
            E("<script>alert('1')</script> & \"><img src=x>").to_string(),
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; &quot;&gt;&lt;img src=x&gt;"
        );
        assert_eq!(E("plain ✓").to_string(), "plain ✓");
    }
}
