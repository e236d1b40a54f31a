//! The readable table `lading sbom` prints by default.

use std::fmt::Write as _;

use super::Sbom;
use super::catalog::counts;

/// Renders the table: a header with the image and OS, one row per package, a summary.
pub fn render(sbom: &Sbom) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "image:  {} ({})", sbom.image.name, sbom.image.digest);
    if let Some(os) = &sbom.os {
        let name = os.pretty_name.clone().unwrap_or_else(|| os.distro());
        let _ = writeln!(out, "os:     {name}");
    }
    let rows: Vec<[String; 5]> = sbom
        .packages
        .iter()
        .map(|p| {
            let name = match &p.group {
                Some(g) => format!("{g}/{}", p.name),
                None => p.name.clone(),
            };
            let layer = p
                .location
                .layer_digest
                .strip_prefix("sha256:")
                .unwrap_or(&p.location.layer_digest);
            [
                name,
                p.version.clone(),
                p.ecosystem.as_str().to_string(),
                layer.chars().take(12).collect(),
                p.location.path.clone(),
            ]
        })
        .collect();
    let head = ["NAME", "VERSION", "TYPE", "LAYER", "FOUND IN"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    out.push('\n');
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let pad = width[i] - c.chars().count();
                let _ = write!(s, "{c}{}  ", " ".repeat(pad));
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&head));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
    let summary: Vec<String> = counts(sbom)
        .iter()
        .map(|(e, n)| format!("{n} {}", e.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "\n{} packages{}",
        sbom.packages.len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        }
    );
    if !sbom.warnings.is_empty() {
        let _ = writeln!(out, "{} warnings:", sbom.warnings.len());
        for w in &sbom.warnings {
            let _ = writeln!(out, "  {}: {}", w.path, w.message);
        }
    }
    out
}
