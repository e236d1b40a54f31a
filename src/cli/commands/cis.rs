//! `lading cis REF [--dockerfile FILE] [--policy FILE]`: CIS Docker Benchmark section 4
//! on the image (and its Dockerfile). A failed check without a current exemption exits 1.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lading_builder::dockerfile::ast::{self, CopySource, Healthcheck, Instruction};
use lading_gates::cis::dockerfile::{Body, Dockerfile, Instruction as Step};
use lading_gates::cis::policy::{Date, Policy};
use lading_gates::cis::{self, IDS, Input};
use lading_gates::layer_cache::LayerCache;
use lading_gates::secrets::Ruleset;
use lading_gates::secrets::detect::Detector;
use lading_oci::Store;

use crate::cli::args::CisArgs;
use crate::cli::gate::{emit, load_image};

/// Runs the checks.
pub fn run(store_dir: &Path, args: CisArgs) -> Result<ExitCode> {
    let dockerfile = match &args.dockerfile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path.display().to_string();
            let parsed = lading_builder::dockerfile::parse(&name, &text)?;
            Some(convert(&name, &parsed))
        }
        None => None,
    };
    let policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Policy::parse(&path.display().to_string(), &text, &IDS)?
        }
        None => Policy::default(),
    };
    let today = match &args.today {
        Some(d) => Date::parse(d).with_context(|| format!("--today {d:?} is not YYYY-MM-DD"))?,
        None => Date::today(),
    };
    let detector = Detector::new(Ruleset::builtin()?)?;
    let store = Store::open(store_dir)?;
    let image = load_image(&store, &args.reference, args.platform.as_deref())?;
    let report = cis::run(&Input {
        store: &store,
        image: &image,
        cache: &LayerCache::new(&store),
        name: &args.reference,
        dockerfile: dockerfile.as_ref(),
        policy: &policy,
        today,
        detector: &detector,
    })
    .with_context(|| format!("checking {}", args.reference))?;
    let s = &report.summary;
    let summary = format!(
        "cis: {} pass, {} fail, {} manual, {} exempt for {}",
        s.pass, s.fail, s.manual, s.exempt, args.reference
    );
    emit(
        &args.output,
        report.verdict,
        || cis::render_table(&report),
        || Ok(serde_json::to_string_pretty(&report)?),
        &summary,
    )
}

/// The builder's syntax tree in the gates' neutral shape.
pub(crate) fn convert(file: &str, df: &ast::Dockerfile) -> Dockerfile {
    let mut out = Dockerfile {
        file: file.to_string(),
        instructions: Vec::new(),
    };
    for g in &df.global_args {
        out.instructions.push(Step {
            line: g.span.line,
            stage: None,
            source: g.source.clone(),
            body: Body::Arg(
                g.node
                    .iter()
                    .map(|a| (a.name.clone(), a.default.clone()))
                    .collect(),
            ),
        });
    }
    for (i, stage) in df.stages.iter().enumerate() {
        out.instructions.push(Step {
            line: stage.from.span.line,
            stage: Some(i),
            source: stage.from.source.clone(),
            body: Body::From {
                image: stage.from.node.image.clone(),
                name: stage.from.node.name.clone(),
            },
        });
        for ins in &stage.instructions {
            out.instructions.push(Step {
                line: ins.span.line,
                stage: Some(i),
                source: ins.source.clone(),
                body: body(&ins.node),
            });
        }
    }
    out
}

fn command_text(c: &ast::Command) -> String {
    match c {
        ast::Command::Exec(words) => words.join(" "),
        ast::Command::Shell(s) => s.clone(),
    }
}

fn body(node: &Instruction) -> Body {
    let pairs = |kv: &[ast::KeyValue]| -> Vec<(String, String)> {
        kv.iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect()
    };
    match node {
        Instruction::Run(r) => {
            let mut text = command_text(&r.command);
            for h in &r.heredocs {
                text.push('\n');
                text.push_str(&h.content);
            }
            Body::Run(text)
        }
        Instruction::Add(c) => Body::Add {
            sources: c
                .sources
                .iter()
                .filter_map(|s| match s {
                    CopySource::Path(p) => Some(p.clone()),
                    CopySource::Heredoc(_) => None,
                })
                .collect(),
            checksum: c.checksum.is_some(),
            from: c.from.clone(),
        },
        Instruction::Copy(c) => Body::Copy {
            from: c.from.clone(),
        },
        Instruction::User(u) => Body::User(u.clone()),
        Instruction::Healthcheck(h) => Body::Healthcheck {
            none: matches!(h, Healthcheck::None),
        },
        Instruction::Env(kv) => Body::Env(pairs(kv)),
        Instruction::Label(kv) => Body::Label(pairs(kv)),
        Instruction::Arg(a) => Body::Arg(
            a.iter()
                .map(|d| (d.name.clone(), d.default.clone()))
                .collect(),
        ),
        _ => Body::Other,
    }
}
