//! Vulnerability data and policy files: OSV records, ignore files and OpenVEX, trivy and
//! grype reports, CIS/gate policy TOML, and the CIS checks' shell and word readers.
#![no_main]

use lading_gates::cis::{dockerfile, policy::Policy, shell};
use lading_gates::vuln::{external, ignore, osv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = osv::parse(data, "fuzz.json");
    let _ = external::parse_trivy(data);
    let _ = external::parse_grype(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ignore::parse(text, "fuzz.json");
    let _ = Policy::parse("fuzz.toml", text, &["4.1", "4.10"]);
    let _ = lading_gates::policy::GatePolicy::parse(
        "fuzz.toml",
        text,
        std::path::Path::new("/nonexistent"),
        &["4.1"],
    );
    let _ = lading_gates::cis::policy::Date::parse(text);
    let _ = shell::commands(text);
    let _ = dockerfile::unquote(text);
    let _ = dockerfile::expand(text, &[("A".into(), "a".into())]);
    let _ = dockerfile::history_step(0, Some(0), text);
    let _ = lading_gates::sbom::license::parse(text);
    let _ = lading_gates::sbom::utc_seconds(text);
});
