//! `lading version` and `lading --version` name the cryptographic module and FIPS mode,
//! in the default build (AWS-LC, FIPS mode off) and in a `--features fips` build
//! (AWS-LC FIPS, FIPS mode on). `scripts/test` runs this file in both builds.

mod common;

use common::{assert_success, lading, run, stdout};

/// The module this build must report.
const EXPECTED: (&str, &str, bool) = if cfg!(feature = "fips") {
    ("AWS-LC FIPS", "on", true)
} else {
    ("AWS-LC", "off", false)
};

/// `lading ARGS`.
fn lading_out(args: &[&str]) -> String {
    let out = run(lading().args(args));
    assert_success(&out);
    stdout(&out)
}

#[test]
fn version_names_the_crypto_module_and_fips_mode() {
    let text = lading_out(&["version"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(concat!("lading ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let field = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
    };
    let (name, mode, _) = EXPECTED;
    let module = field("crypto module: ");
    // The version follows the exact name: "AWS-LC" does not match "AWS-LC FIPS 4.2.0".
    let version = module
        .strip_prefix(name)
        .and_then(|v| v.strip_prefix(' '))
        .unwrap_or_else(|| panic!("not {name}: {module}"));
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{module}"
    );
    assert_eq!(field("FIPS mode: "), mode, "{text}");
    let commit = field("commit: ");
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );

    // `--version` says the same.
    assert_eq!(lading_out(&["--version"]), text);
}

#[test]
fn version_json_has_the_same_facts() {
    let text = lading_out(&["version"]);
    let json: serde_json::Value =
        serde_json::from_str(&lading_out(&["version", "--json"])).expect("json");
    let (name, _, fips) = EXPECTED;
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["cryptoModule"]["name"], name);
    assert_eq!(json["fipsMode"], fips);
    let module = format!(
        "crypto module: {name} {}",
        json["cryptoModule"]["version"].as_str().expect("version")
    );
    assert!(text.lines().any(|l| l == module), "{module} not in\n{text}");
}
