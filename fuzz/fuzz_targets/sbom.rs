//! The SBOM catalogers' file parsers (dpkg status, apk installed, rpmdb.sqlite, Python
//! METADATA, package.json, Go build info, cargo-auditable, jars, gemspecs, composer,
//! os-release, Debian copyright files), the first byte picking the parser.
#![no_main]

use lading_gates::sbom::fuzzing::{Parser, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let _ = run(Parser::ALL[pick as usize % Parser::ALL.len()], rest);
});
