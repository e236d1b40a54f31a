//! CVSS v4.0 scores against an implementation nobody on this project wrote: the `cvss`
//! Python package (Red Hat's port of FIRST's calculator), pinned in `scripts/test` and
//! installed into `target/peers-venv` (or the interpreter `LADING_CVSS_PYTHON` names).
//!
//! Every one of the 104,976 base vectors, one vector per macrovector (all 270 lookup
//! table entries), then pseudo-random vectors with threat, environmental and
//! supplemental metrics (some in shuffled order), then broken vectors that both must
//! reject; all go through one Python process. On CI the peer is required;
//! elsewhere the test skips without it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lading_gates::vuln::cvss;

/// True on CI, where nothing may be skipped (as `tests/common::on_ci`).
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether the test may go on: fails on CI when `what` is missing, else says why it
/// skips (as `tests/common::require`).
fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(!on_ci(), "{what} is required on CI");
    eprintln!("skipping: {what} is not available");
    false
}

/// The version `scripts/test` pins.
const CVSS_VERSION: &str = "3.6";

/// A Python interpreter that has the pinned `cvss` package.
fn cvss_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("LADING_CVSS_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers-venv/bin/python")),
    ];
    let check = format!(
        "import importlib.metadata, cvss; \
         assert importlib.metadata.version('cvss') == '{CVSS_VERSION}'"
    );
    candidates.into_iter().flatten().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", &check])
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// Reads vectors, one a line, and prints each one's score, or `error` and the reason.
const ORACLE: &str = r#"
import sys
from cvss import CVSS4
for line in sys.stdin:
    try:
        print(repr(float(CVSS4(line.strip()).base_score)))
    except Exception as e:
        print("error " + type(e).__name__ + ": " + str(e).replace("\n", " "))
"#;

/// The base metrics and their values, in the specification's order. Written out here
/// from the specification rather than taken from the implementation's table, so a wrong
/// value there cannot shape what this test generates.
const BASE: &[(&str, &[&str])] = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
];

/// Threat, environmental and supplemental metrics.
const OPTIONAL: &[(&str, &[&str])] = &[
    ("E", &["X", "A", "P", "U"]),
    ("CR", &["X", "H", "M", "L"]),
    ("IR", &["X", "H", "M", "L"]),
    ("AR", &["X", "H", "M", "L"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", &["X", "H", "L", "N"]),
    ("MVI", &["X", "H", "L", "N"]),
    ("MVA", &["X", "H", "L", "N"]),
    ("MSC", &["X", "H", "L", "N"]),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

/// SplitMix64: a fixed seed gives the same vectors on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, values: &[&'a str]) -> &'a str {
        values[self.below(values.len())]
    }
}

/// All 104,976 base vectors.
fn every_base_vector() -> Vec<String> {
    let mut out = vec![String::from("CVSS:4.0")];
    for (metric, values) in BASE {
        out = out
            .iter()
            .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}/{metric}:{v}")))
            .collect();
    }
    out
}

/// At least one vector in each of the 270 macrovectors, so that every entry of the
/// lookup table is used: a representative of each level of EQ1..EQ6 (EQ4 level 0 needs
/// MSI:S, EQ5 is E, EQ6 level 1 lowers CR, IR and AR), in every combination.
fn one_per_macrovector() -> Vec<String> {
    let eq1 = ["AV:N/PR:N/UI:N", "AV:A/PR:N/UI:N", "AV:P/PR:N/UI:N"];
    let eq2 = ["AC:L/AT:N", "AC:H/AT:N"];
    let eq3 = ["VC:H/VI:H/VA:H", "VC:L/VI:H/VA:H", "VC:L/VI:L/VA:L"];
    let eq4 = ["SC:H/SI:N/SA:N/MSI:S", "SC:H/SI:N/SA:N", "SC:L/SI:N/SA:N"];
    let eq5 = ["E:A", "E:P", "E:U"];
    let eq6 = ["CR:H/IR:H/AR:H", "CR:L/IR:L/AR:L"];
    let mut out = Vec::new();
    for a in eq1 {
        for b in eq2 {
            for c in eq3 {
                for d in eq4 {
                    for e in eq5 {
                        for f in eq6 {
                            out.push(format!("CVSS:4.0/{a}/{b}/{c}/{d}/{e}/{f}"));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Random base values plus each optional metric with probability 1/2 (with a bias
/// towards the environmental ones that move the score); one in eight shuffled.
fn random_vectors(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut parts: Vec<String> = BASE
                .iter()
                .map(|(m, values)| format!("{m}:{}", rng.pick(values)))
                .collect();
            for (m, values) in OPTIONAL {
                if rng.below(2) == 0 {
                    parts.push(format!("{m}:{}", rng.pick(values)));
                }
            }
            if rng.below(8) == 0 {
                for i in (1..parts.len()).rev() {
                    parts.swap(i, rng.below(i + 1));
                }
            }
            format!("CVSS:4.0/{}", parts.join("/"))
        })
        .collect()
}

/// Broken vectors: a base metric dropped, a metric repeated, a value that does not
/// exist, an unknown metric, a wrong prefix, an empty field.
fn broken_vectors(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut parts: Vec<String> = BASE
                .iter()
                .map(|(m, values)| format!("{m}:{}", rng.pick(values)))
                .collect();
            let at = rng.below(parts.len());
            let mut prefix = "CVSS:4.0/";
            match i % 6 {
                0 => {
                    parts.remove(at);
                }
                1 => parts.push(parts[at].clone()),
                2 => {
                    let metric = BASE[at].0;
                    parts[at] = format!("{metric}:{}", ["X", "Q", "", "h"][rng.below(4)]);
                }
                3 => parts.push(["RL:O", "MS:X", "Foo:Bar"][rng.below(3)].into()),
                4 => prefix = ["CVSS:3.1/", "CVSS:4.1/", "CVSS:4/"][rng.below(3)],
                _ => parts.insert(at, String::new()),
            }
            format!("{prefix}{}", parts.join("/"))
        })
        .collect()
}

#[test]
fn v4_scores_match_the_cvss_python_package() {
    let python = cvss_python();
    if !require(
        python.is_some(),
        &format!("a Python with `cvss=={CVSS_VERSION}` (scripts/test makes target/peers-venv)"),
    ) {
        return;
    }
    let python = python.expect("checked");

    let mut rng = Rng(0x6c61_6469_6e67_0004);
    let base = every_base_vector();
    let base_count = base.len();
    let valid: Vec<String> = base
        .into_iter()
        .chain(one_per_macrovector())
        .chain(random_vectors(&mut rng, 10_000))
        .collect();
    let broken = broken_vectors(&mut rng, 600);

    let mut child = Command::new(&python)
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = valid
        .iter()
        .chain(&broken)
        .map(|v| format!("{v}\n"))
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python");
    writer.join().expect("writer").expect("write vectors");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let answers: Vec<&str> = stdout.lines().collect();
    assert_eq!(answers.len(), valid.len() + broken.len());

    let mut differ = Vec::new();
    for (vector, answer) in valid.iter().zip(&answers) {
        let ours = cvss::score(vector).map(|s| s.base);
        let theirs: Result<f64, _> = answer.parse();
        if ours.as_ref().ok() != theirs.as_ref().ok() {
            differ.push(format!("{vector}: lading {ours:?}, cvss {answer}"));
        }
    }
    for (vector, answer) in broken.iter().zip(&answers[valid.len()..]) {
        let ours = cvss::score(vector);
        if ours.is_ok() || !answer.starts_with("error ") {
            differ.push(format!("{vector}: lading {ours:?}, cvss {answer}"));
        }
    }
    eprintln!(
        "compared {} valid vectors ({} base, {} with other metrics) and {} broken ones \
         with cvss {CVSS_VERSION}: {} differ",
        valid.len(),
        base_count,
        valid.len() - base_count,
        broken.len(),
        differ.len()
    );
    assert!(
        differ.is_empty(),
        "{} of {} vectors differ, e.g.:\n{}",
        differ.len(),
        valid.len() + broken.len(),
        differ[..differ.len().min(20)].join("\n")
    );
}
