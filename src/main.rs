//! `lading`: build reproducible OCI images from Dockerfiles, natively.

mod cli;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The RUN sandbox re-executes this binary as its helper (see lading_builder::exec).
    if std::env::var_os(lading_builder::exec::HELPER_ENV).is_some() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        lading_builder::exec::helper_main(&args);
    }
    let args = cli::args::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = err.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            for hint in cli::hints(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
