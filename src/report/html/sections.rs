//! The page's sections after the gate summary, one function each. As in the parent
//! module, every value goes through [`E`].

use super::{E, Page, absent, put, word_badge};
use crate::publish::record::Signer;
use crate::report::gates::{Cis, SEVERITIES, Sbom, Secrets, Vulns};
use crate::report::provenance::{Dependency, Provenance};
use crate::report::signatures::{BundleFacts, BundleInfo, Repository, Signatures};
use crate::report::{Part, Report};

/// A section's part: a gate report, or why the gate record gives none.
type GatePart<'a, T> = Result<&'a Part<T>, &'a str>;

fn open(p: &mut Page, id: &str, title: &str) {
    put!(p, "<section id=\"{id}\"><h2>{title}</h2>\n");
}

/// Opens a section and hands over the part's value, or says why there is none.
pub(super) fn with_part<'a, T>(
    p: &mut Page,
    id: &str,
    title: &str,
    part: GatePart<'a, T>,
) -> Option<&'a T> {
    open(p, id, title);
    let found = match part {
        Ok(Part::Found(t)) => return Some(t),
        Ok(Part::Missing(why)) => Ok(why.as_str()),
        Ok(Part::Broken(why)) => Err(why.as_str()),
        Err(why) => Ok(why),
    };
    absent(p, found);
    put!(p, "</section>\n");
    None
}

fn code(s: &str) -> String {
    format!("<code class=\"digest\">{}</code>", E(s))
}

fn kv(p: &mut Page, key: &str, value_html: &str) {
    put!(p, "<tr><th>{key}</th><td>{value_html}</td></tr>\n");
}

/// The image and where it went.
pub(super) fn image(p: &mut Page, report: &Report) {
    let img = &report.image;
    open(p, "image", "Image");
    put!(p, "<table class=\"kv\">\n");
    kv(p, "Manifest digest", &code(&img.digest.to_string()));
    if let Some(index) = &img.index {
        kv(
            p,
            "Index digest",
            &format!(
                "{} (platform {})",
                code(&index.to_string()),
                E(&img.platform)
            ),
        );
    }
    kv(p, "Requested as", &code(&img.requested));
    let refs = match img.references.is_empty() {
        true => "<span class=\"missing\">no tag in the store</span>".to_string(),
        false => img
            .references
            .iter()
            .map(|r| code(r))
            .collect::<Vec<_>>()
            .join("<br>"),
    };
    kv(p, "Store references", &refs);
    kv(p, "Platform", &E(&img.platform).to_string());
    if let Some(created) = &img.created {
        kv(p, "Created", &E(created).to_string());
    }
    kv(
        p,
        "Layers",
        &format!(
            "{} ({} bytes with manifest and config)",
            img.layers, img.size
        ),
    );
    if let Some(name) = &img.base_name {
        let digest = img.base_digest.as_deref().map(code).unwrap_or_default();
        kv(
            p,
            "Base image (annotation)",
            &format!("{} {digest}", code(name)),
        );
    }
    let pushed = match &report.signatures {
        Part::Found(Signatures {
            published: Some(pb),
            ..
        }) if !pb.pushed.is_empty() => pb
            .pushed
            .iter()
            .map(|x| {
                format!(
                    "{}<span class=\"sub\">as {}</span>",
                    code(&x.reference),
                    E(&x.image)
                )
            })
            .collect::<Vec<_>>()
            .join(""),
        Part::Broken(why) => format!("<span class=\"broken\">unreadable: {}</span>", E(why)),
        _ => "<span class=\"missing\">not pushed: no publish record for this digest</span>".into(),
    };
    kv(p, "Pushed to", &pushed);
    if let Part::Found(Signatures {
        published: Some(pb),
        ..
    }) = &report.signatures
    {
        kv(p, "Published with gate record", &code(&pb.gate_record));
        if let Some(policy) = &pb.policy {
            kv(p, "Published under policy", &code(policy));
        }
        kv(p, "Publish record updated", &E(&pb.updated).to_string());
    }
    put!(p, "</table>\n</section>\n");
}

/// Severity counts and the findings, worst first.
pub(super) fn vulnerabilities(p: &mut Page, part: GatePart<'_, Vulns>) {
    let Some(v) = with_part(p, "vulnerabilities", "Vulnerabilities", part) else {
        return;
    };
    put!(p, "<div class=\"counts\">");
    for (sev, n) in v.counts() {
        if sev == "none" && n == 0 {
            continue; // CVSS 0.0 is rare; shown only when it happens
        }
        let zero = if n == 0 { " zero" } else { "" };
        put!(
            p,
            "<div class=\"count {sev}{zero}\"><div class=\"n\">{n}</div><div class=\"k\">{sev}</div></div>"
        );
    }
    put!(
        p,
        "</div>\n<p class=\"note\">{} packages checked; ",
        v.packages
    );
    put!(
        p,
        "the gate fails on {} or worse; {} finding(s) ignored by policy; {} warning(s). Verdict {}.</p>\n",
        E(v.fail_on.as_deref().unwrap_or("nothing")),
        v.ignored.len(),
        v.warnings.len(),
        word_badge(&v.verdict)
    );
    if v.findings.is_empty() {
        put!(
            p,
            "<p class=\"missing\">no known vulnerabilities in the packages checked</p></section>\n"
        );
        return;
    }
    put!(
        p,
        "<table class=\"fixed\"><colgroup><col style=\"width:108px\"><col style=\"width:25%\">\
         <col style=\"width:15%\"><col style=\"width:9%\"><col style=\"width:9%\"><col></colgroup>\
         <thead><tr><th>Severity</th><th>Advisory</th><th>Package</th><th>Installed</th>\
         <th>Fixed in</th><th>Path</th></tr></thead><tbody>\n"
    );
    for f in &v.findings {
        let level = if SEVERITIES.contains(&f.severity.level.as_str()) {
            f.severity.level.as_str()
        } else {
            "unknown"
        };
        let score = f
            .severity
            .score
            .map(|s| format!("<span class=\"sub\">CVSS {s:.1}</span>"))
            .unwrap_or_default();
        let aliases = match f.aliases.is_empty() {
            true => String::new(),
            false => format!("<span class=\"sub\">{}</span>", E(&f.aliases.join(", "))),
        };
        let summary = match f.summary.is_empty() {
            true => String::new(),
            false => format!("<span class=\"sub\">{}</span>", E(&f.summary)),
        };
        let fixed = match &f.fixed {
            Some(x) => E(x).to_string(),
            None => "<span class=\"muted\">no fix</span>".into(),
        };
        put!(
            p,
            "<tr><td><span class=\"sev sev-{level}\">{level}</span>{score}</td>\
             <td><code>{}</code>{aliases}{summary}</td><td>{}<span class=\"sub\">{}</span></td>\
             <td><code>{}</code></td><td><code>{fixed}</code></td><td><code class=\"digest\">{}</code></td></tr>\n",
            E(&f.id),
            E(&f.package),
            E(&f.ecosystem),
            E(&f.installed),
            E(&f.path)
        );
    }
    put!(p, "</tbody></table>\n</section>\n");
}

/// Each CIS check with its result and evidence.
pub(super) fn cis(p: &mut Page, part: GatePart<'_, Cis>) {
    let Some(c) = with_part(p, "cis", "CIS Docker Benchmark", part) else {
        return;
    };
    let s = &c.summary;
    put!(
        p,
        "<p class=\"note\">{}; Dockerfile {}. {} pass, {} fail, {} manual, {} exempt. Verdict {}.</p>\n",
        E(&c.benchmark),
        match &c.dockerfile {
            Some(d) => code(d),
            None => "not given (Dockerfile checks read the image history)".into(),
        },
        s.pass,
        s.fail,
        s.manual,
        s.exempt,
        word_badge(&c.verdict)
    );
    put!(
        p,
        "<table class=\"fixed\"><colgroup><col style=\"width:56px\"><col style=\"width:190px\">\
         <col style=\"width:82px\"><col><col style=\"width:36%\"></colgroup>\
         <thead><tr><th>Check</th><th>Title</th><th>Result</th><th>Finding</th><th>Evidence</th></tr></thead><tbody>\n"
    );
    for check in &c.checks {
        let mut finding = E(&check.result).to_string();
        if let Some(m) = &check.manual {
            finding.push_str(&format!("<span class=\"sub\">to check: {}</span>", E(m)));
        }
        if let Some(x) = &check.exemption {
            finding.push_str(&format!(
                "<span class=\"sub\">exemption until {}: {} ({})</span>",
                E(&x.expires),
                E(&x.reason),
                E(&x.note)
            ));
        }
        let evidence: String = check
            .evidence
            .iter()
            .map(|e| {
                format!(
                    "<div class=\"ev\"><span class=\"muted\">{}</span> <span class=\"at\">{}</span> {}</div>",
                    E(&e.kind),
                    E(&e.at),
                    E(&e.text)
                )
            })
            .collect();
        put!(
            p,
            "<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td>{finding}</td><td>{evidence}</td></tr>\n",
            E(&check.id),
            E(&check.title),
            word_badge(&check.status)
        );
    }
    put!(p, "</tbody></table>\n");
    for note in &c.notes {
        put!(p, "<p class=\"note\">{}</p>\n", E(note));
    }
    put!(p, "</section>\n");
}

/// The secrets found, redacted as the gate redacted them.
pub(super) fn secrets(p: &mut Page, part: GatePart<'_, Secrets>) {
    let Some(s) = with_part(p, "secrets", "Secrets", part) else {
        return;
    };
    let m = &s.summary;
    put!(
        p,
        "<p class=\"note\">{} rules over {} layers: {} text files ({} bytes) and {} config entries scanned, \
         {} binary files skipped. Matches are redacted by the gate; the report never holds a secret. Verdict {}.</p>\n",
        m.rules,
        m.layers,
        m.files_scanned,
        m.bytes_scanned,
        m.config_entries_scanned,
        m.binary_files_skipped,
        word_badge(&s.verdict)
    );
    if s.findings.is_empty() {
        put!(p, "<p class=\"missing\">no secrets found</p></section>\n");
        return;
    }
    put!(
        p,
        "<table><thead><tr><th>Rule</th><th>Where</th><th>Match (redacted)</th><th class=\"num\">Entropy</th></tr></thead><tbody>\n"
    );
    for f in &s.findings {
        let detail = match f.location.detail.is_empty() {
            true => String::new(),
            false => format!("<span class=\"sub\">{}</span>", E(&f.location.detail)),
        };
        put!(
            p,
            "<tr><td><code>{}</code><span class=\"sub\">{}</span></td>\
             <td><span class=\"muted\">{}</span> <code class=\"digest\">{}</code>{detail}</td>\
             <td><code class=\"digest\">{}</code></td><td class=\"num\">{:.2}</td></tr>\n",
            E(&f.rule),
            E(&f.description),
            E(&f.location.source),
            E(&f.location.at),
            E(&f.matched),
            f.entropy
        );
    }
    put!(p, "</tbody></table>\n</section>\n");
}

/// Package counts per ecosystem.
pub(super) fn sbom(p: &mut Page, part: GatePart<'_, Sbom>) {
    let Some(s) = with_part(p, "sbom", "SBOM", part) else {
        return;
    };
    put!(
        p,
        "<p class=\"note\">CycloneDX {} document of the sbom gate: packages by ecosystem (purl type).</p>\n",
        E(&s.spec_version)
    );
    let max = s
        .by_type
        .values()
        .copied()
        .max()
        .unwrap_or(0)
        .max(s.without_purl)
        .max(1);
    put!(
        p,
        "<table style=\"width:auto;min-width:520px\"><thead><tr><th>Ecosystem</th><th class=\"num\">Packages</th><th></th></tr></thead><tbody>\n"
    );
    let row = |p: &mut Page, name: &str, n: usize| {
        let width = 1 + n * 300 / max;
        put!(
            p,
            "<tr><td><code>{}</code></td><td class=\"num\">{n}</td><td><span class=\"bar\" style=\"width:{width}px\"></span></td></tr>\n",
            E(name)
        );
    };
    for (t, n) in &s.by_type {
        row(p, t, *n);
    }
    if s.without_purl > 0 {
        row(p, "(no purl)", s.without_purl);
    }
    put!(
        p,
        "<tr><td><b>total</b></td><td class=\"num\"><b>{}</b></td><td></td></tr>\n</tbody></table>\n</section>\n",
        s.total
    );
}

/// Signatures and attestations, per repository.
pub(super) fn signatures(p: &mut Page, part: &Part<Signatures>) {
    let Some(s) = with_part(p, "signatures", "Signatures and attestations", Ok(part)) else {
        return;
    };
    if s.repositories.is_empty() {
        let why = match s.published {
            Some(_) => "unsigned: the publish record names no signature or attestation",
            None => {
                "unsigned: no publish record, and no signature or attestation of this digest in the store"
            }
        };
        put!(p, "<p class=\"missing\">{why}</p></section>\n");
        return;
    }
    put!(
        p,
        "<p class=\"note\">{} Identities are what each Sigstore bundle states; run \
         <code>lading verify</code> / <code>verify-attestation</code> to check the signatures.</p>\n",
        match s.published {
            Some(_) =>
                "From the publish record: the bundles it stored, kept in the store as blobs.",
            None => "Not published from this store: the bundle referrers the local store holds.",
        }
    );
    for r in &s.repositories {
        repository(p, r);
    }
    put!(p, "</section>\n");
}

fn repository(p: &mut Page, r: &Repository) {
    put!(
        p,
        "<div class=\"card\"><h3>{}{}</h3>\n",
        E(&r.name),
        if r.in_store {
            " <span class=\"badge b-none\">local store</span>"
        } else {
            ""
        }
    );
    // One signer line for the repository: the publish record's, else the one every
    // bundle states; rows then only say whether theirs is that one.
    let (signer, source) = match (&r.signer, common_signer(&r.bundles)) {
        (Some(s), _) => (Some(s.clone()), "publish record"),
        (None, Some(s)) => (Some(s), "every bundle"),
        (None, None) => (None, ""),
    };
    if let Some(s) = &signer {
        put!(p, "<p>Signer ({source}): {}</p>\n", signer_html(s, "; "));
    }
    put!(
        p,
        "<p class=\"note\">Legacy <code>.sig</code>/<code>.att</code> tags: {}.</p>\n",
        if r.legacy { "written too" } else { "none" }
    );
    put!(
        p,
        "<table class=\"fixed\"><colgroup><col style=\"width:104px\"><col style=\"width:30%\">\
         <col style=\"width:15%\"><col style=\"width:12%\"><col></colgroup>\
         <thead><tr><th>Kind</th><th>Predicate type</th><th>Signer</th><th>Transparency log</th>\
         <th>Stored as</th></tr></thead><tbody>\n"
    );
    for b in &r.bundles {
        bundle_row(p, b, signer.as_ref(), r.signer.is_some());
    }
    put!(p, "</tbody></table></div>\n");
}

/// The signer every bundle states, when they all state the same one.
fn common_signer(bundles: &[BundleFacts]) -> Option<Signer> {
    let mut signers = bundles
        .iter()
        .map(|b| b.read.as_ref().ok().map(BundleInfo::signer));
    let first = signers.next()??;
    signers.all(|s| s.as_ref() == Some(&first)).then_some(first)
}

fn signer_html(s: &Signer, sep: &str) -> String {
    let mut parts = Vec::new();
    if let Some(k) = &s.key {
        parts.push(format!("key {}", code(k)));
    }
    for id in &s.identities {
        parts.push(format!("identity {}", code(id)));
    }
    if let Some(i) = &s.issuer {
        parts.push(format!("OIDC issuer {}", code(i)));
    }
    if parts.is_empty() {
        "<span class=\"missing\">no key hint or certificate</span>".into()
    } else {
        parts.join(sep)
    }
}

/// `expected`: the repository's signer line; `recorded`: whether it is the publish
/// record's (a bundle that differs from it is flagged).
fn bundle_row(p: &mut Page, b: &BundleFacts, expected: Option<&Signer>, recorded: bool) {
    let kind = if b.is_signature() {
        "signature"
    } else {
        "attestation"
    };
    let (signer, tlog) = match &b.read {
        Ok(info) => {
            let stated = info.signer();
            let cell = match expected {
                Some(e) if *e == stated => {
                    "<span class=\"badge b-pass\">the signer above</span>".into()
                }
                Some(_) if recorded => format!(
                    "<span class=\"badge b-fail\">not the record's signer</span><br>{}",
                    signer_html(&stated, "<br>")
                ),
                _ => signer_html(&stated, "<br>"),
            };
            (cell, tlog_cell(info))
        }
        Err(e) => (
            format!("<span class=\"broken\">unreadable bundle: {}</span>", E(e)),
            String::new(),
        ),
    };
    let mut predicate = code(&b.predicate_type);
    if let Ok(BundleInfo {
        statement_type: Some(t),
        ..
    }) = &b.read
        && t != &b.predicate_type
    {
        predicate.push_str(&format!(
            "<span class=\"sub\">statement says {}</span>",
            E(t)
        ));
    }
    match &b.read {
        Ok(BundleInfo {
            subject_matches: Some(false),
            ..
        }) => predicate.push_str("<span class=\"badge b-fail\">subject is another digest</span>"),
        Ok(BundleInfo {
            subject_matches: Some(true),
            ..
        }) => predicate.push_str("<span class=\"sub\">subject: this digest</span>"),
        _ => {}
    }
    let stored = match &b.referrer {
        Some(r) => format!(
            "{}<span class=\"sub\">bundle {}</span>",
            code(r),
            E(&b.digest)
        ),
        None => format!("bundle {}", code(&b.digest)),
    };
    put!(
        p,
        "<tr><td>{kind}</td><td>{predicate}</td><td>{signer}</td><td>{tlog}</td><td>{stored}</td></tr>\n"
    );
}

fn tlog_cell(info: &BundleInfo) -> String {
    let mut parts: Vec<String> = info
        .tlog
        .iter()
        .map(|t| {
            let when = t
                .integrated
                .as_deref()
                .map(|w| format!(", {}", E(w)))
                .unwrap_or_default();
            let kind = t
                .kind
                .as_deref()
                .map(|k| format!("<span class=\"sub\">{}</span>", E(k)))
                .unwrap_or_default();
            format!("index {}{when}{kind}", t.index)
        })
        .collect();
    if info.timestamps > 0 {
        parts.push(format!("{} RFC 3161 timestamp(s)", info.timestamps));
    }
    if parts.is_empty() {
        "<span class=\"missing\">not logged</span>".into()
    } else {
        parts.join("<br>")
    }
}

/// The build's inputs.
pub(super) fn provenance(p: &mut Page, part: &Part<Provenance>) {
    let Some(v) = with_part(p, "provenance", "Provenance", Ok(part)) else {
        return;
    };
    put!(
        p,
        "<p class=\"note\">From the SLSA provenance v1 predicate lading attests for this digest.</p>\n<table class=\"kv\">\n"
    );
    kv(
        p,
        "Builder",
        &format!("{} (lading {})", code(&v.builder_id), E(&v.lading_version)),
    );
    kv(p, "Build type", &code(&v.build_type));
    kv(
        p,
        "Invocation",
        &format!(
            "{}<span class=\"sub\">{} – {}</span>",
            code(&v.invocation_id),
            E(&v.started_on),
            E(&v.finished_on)
        ),
    );
    let git = match &v.git {
        Some(g) => format!(
            "{}<span class=\"sub\">commit {}{}</span>",
            code(&g.uri),
            E(&g.commit),
            if g.path.is_empty() {
                String::new()
            } else {
                format!(", directory {}", E(&g.path))
            }
        ),
        None => "<span class=\"missing\">the context was not a clean git checkout</span>".into(),
    };
    kv(p, "Source (git)", &git);
    put!(p, "</table>\n<h3>Base and other images read</h3>\n");
    if v.images.is_empty() {
        put!(p, "<p class=\"missing\">none: built FROM scratch</p>\n");
    } else {
        dependencies(p, &v.images, "Reference resolved");
    }
    put!(p, "<h3>Build inputs</h3>\n");
    dependencies(p, &v.sources, "URI");
    put!(p, "<h3>Build parameters</h3>\n<table class=\"kv\">\n");
    for (k, val) in &v.parameters {
        put!(
            p,
            "<tr><th><code>{}</code></th><td><code class=\"digest\">{}</code></td></tr>\n",
            E(k),
            E(val)
        );
    }
    put!(p, "</table>\n");
    if !v.byproducts.is_empty() {
        put!(p, "<h3>Byproducts</h3>\n");
        dependencies(p, &v.byproducts, "Verdict");
    }
    put!(p, "</section>\n");
}

fn dependencies(p: &mut Page, deps: &[Dependency], second: &str) {
    put!(
        p,
        "<table><thead><tr><th>Name</th><th>{second}</th><th>Digest</th></tr></thead><tbody>\n"
    );
    for d in deps {
        let middle = match &d.verdict {
            Some(v) => word_badge(v),
            None => E(&d.uri).to_string(),
        };
        put!(
            p,
            "<tr><td><code>{}</code></td><td><code class=\"digest\">{middle}</code></td><td>{}</td></tr>\n",
            E(&d.name),
            code(&d.digest)
        );
    }
    put!(p, "</tbody></table>\n");
}
