//! CVSS v4.0 scores, per FIRST's specification
//! (<https://www.first.org/cvss/v4.0/specification-document>, section 8 "CVSS v4.0
//! Scoring", and FIRST's reference calculator <https://github.com/FIRSTdotorg/cvss-v4-calculator>).
//!
//! v4.0 has no equations. The metrics sort a vector into one of 270 *macrovectors*: six
//! equivalence sets (EQ1-EQ6, spec Table 24) each group a few metrics into two or three
//! levels. FIRST's experts gave every macrovector a score (the lookup table below). A
//! vector scores its macrovector's score lowered by how far it sits below the
//! macrovector's highest-severity vectors: for each equivalence set, the vector's
//! severity distance from such a vector, as a share of the set's depth, times the score
//! gap to the next lower macrovector; the mean of those (over the sets that have a lower
//! macrovector) is subtracted and the result rounded half up to one decimal.
//!
//! Threat (`E`) and environmental (`CR`, `IR`, `AR`, `M*`) metrics take part when the
//! vector gives them, as the spec says: the score is then CVSS-BT, -BE or -BTE rather
//! than CVSS-B ([`Vector::nomenclature`]). `X` (not defined) means the worst case for
//! `E`, `CR`, `IR`, `AR` and the base value for a modified metric. Supplemental metrics
//! (`S`, `AU`, `R`, `V`, `RE`, `U`) are checked and never change the score.
//!
//! Metrics may come in any order (the spec asks producers for its order; the `cvss`
//! Python package, like our v3 parser, accepts any): an unknown metric, an unknown value,
//! a metric given twice or a missing base metric is an error.

use super::{CvssError, Score, Severity, metrics};

/// Every v4.0 metric with its values (spec section 7, "Vector String"), by group.
const METRICS: &[(&str, &[&str])] = &[
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
    // Threat.
    ("E", &["X", "A", "P", "U"]),
    // Environmental.
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
    // Supplemental.
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

/// How many of [`METRICS`] are base metrics (all mandatory).
const BASE: usize = 11;
/// Where the environmental metrics are in [`METRICS`].
const ENVIRONMENTAL: std::ops::Range<usize> = 12..26;

/// A parsed CVSS v4.0 vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// Each metric's value, in [`METRICS`] order (`None`: not in the vector).
    values: [Option<&'static str>; METRICS.len()],
}

impl Vector {
    /// Parses `CVSS:4.0/AV:…/…`.
    pub fn parse(vector: &str) -> Result<Vector, CvssError> {
        let err = |reason: String| CvssError {
            vector: vector.to_string(),
            reason,
        };
        let rest = vector
            .strip_prefix("CVSS:4.0/")
            .ok_or_else(|| err("a CVSS v4.0 vector starts with CVSS:4.0/".into()))?;
        let mut values = [None; METRICS.len()];
        for (k, v) in metrics(vector, rest.split('/'))? {
            let i = METRICS
                .iter()
                .position(|(name, _)| *name == k)
                .ok_or_else(|| err(format!("{k} is not a CVSS v4.0 metric")))?;
            let value = METRICS[i]
                .1
                .iter()
                .find(|allowed| **allowed == v)
                .ok_or_else(|| err(format!("{k}:{v} is not a valid value")))?;
            values[i] = Some(*value);
        }
        if let Some(i) = (0..BASE).find(|i| values[*i].is_none()) {
            return Err(err(format!("base metric {} missing", METRICS[i].0)));
        }
        Ok(Vector { values })
    }

    /// A metric's value when given and not `X`.
    fn given(&self, metric: &str) -> Option<&'static str> {
        METRICS
            .iter()
            .position(|(name, _)| *name == metric)
            .and_then(|i| self.values[i])
            .filter(|v| *v != "X")
    }

    /// The spec's name for the score (section 1.3): `CVSS-B` for base metrics only,
    /// `CVSS-BT` with exploit maturity, `CVSS-BE` with environmental metrics, `CVSS-BTE`
    /// with both. Supplemental metrics and `X` values do not count.
    pub fn nomenclature(&self) -> &'static str {
        let threat = self.given("E").is_some();
        let environmental = METRICS[ENVIRONMENTAL]
            .iter()
            .any(|(name, _)| self.given(name).is_some());
        match (threat, environmental) {
            (false, false) => "CVSS-B",
            (true, false) => "CVSS-BT",
            (false, true) => "CVSS-BE",
            (true, true) => "CVSS-BTE",
        }
    }

    /// The values scoring uses: a modified metric in place of its base metric; `E`,
    /// `CR`, `IR` and `AR` at their worst case (`A`, `H`) when not defined.
    fn effective(&self) -> Effective {
        // Base metrics are present: `parse` checked.
        let m = |metric: &str| {
            self.given(&format!("M{metric}"))
                .or_else(|| self.given(metric))
                .unwrap_or("X")
        };
        Effective {
            av: m("AV"),
            ac: m("AC"),
            at: m("AT"),
            pr: m("PR"),
            ui: m("UI"),
            vc: m("VC"),
            vi: m("VI"),
            va: m("VA"),
            sc: m("SC"),
            si: m("SI"),
            sa: m("SA"),
            e: self.given("E").unwrap_or("A"),
            cr: self.given("CR").unwrap_or("H"),
            ir: self.given("IR").unwrap_or("H"),
            ar: self.given("AR").unwrap_or("H"),
        }
    }

    /// The score, rounded to one decimal.
    pub fn score(&self) -> f64 {
        let m = self.effective();
        // No impact on either system: 0 whatever the rest.
        if [m.vc, m.vi, m.va, m.sc, m.si, m.sa]
            .iter()
            .all(|v| *v == "N")
        {
            return 0.0;
        }
        let eq = m.macrovector();
        let Some(value) = lookup(eq) else {
            // Invariant: every combination of EQ levels `macrovector` returns is in the
            // table (a unit test walks them all).
            return 0.0;
        };

        // Per equivalence set: (severity distance from the highest-severity vector in
        // steps of 0.1, the set's depth in steps, the score of the next lower
        // macrovector). EQ3 and EQ6 are scored together; EQ5's distance is always 0.
        let lower = |i: usize| {
            let mut next = eq;
            next[i] += 1;
            lookup(next)
        };
        let eq3eq6_lower = match (eq[2], eq[5]) {
            // 00 goes down to 01 or 10: the higher of the two.
            (0, 0) => match (lower(5), lower(2)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            (0, 1) | (1, 1) => lower(2),
            (1, 0) => lower(5),
            // 21 is the lowest.
            _ => None,
        };
        // A highest-severity vector at or above the vector always exists (tested), so
        // the distances are never missing.
        let parts = [
            (
                m.eq1_distance(eq[0]),
                EQ1_DEPTH[usize::from(eq[0])],
                lower(0),
            ),
            (
                m.eq2_distance(eq[1]),
                EQ2_DEPTH[usize::from(eq[1])],
                lower(1),
            ),
            (
                m.eq3eq6_distance(eq[2], eq[5]),
                eq3eq6_depth(eq[2], eq[5]),
                eq3eq6_lower,
            ),
            (
                m.eq4_distance(eq[3]),
                EQ4_DEPTH[usize::from(eq[3])],
                lower(3),
            ),
            (Some(0), 1, lower(4)),
        ];
        let mut sum = 0.0;
        let mut n = 0u32;
        for (distance, depth, lower) in parts {
            // Sets with no lower macrovector do not count.
            let Some(lower) = lower else { continue };
            let available = value - lower;
            n += 1;
            let share = f64::from(distance.unwrap_or(0)) / f64::from(depth);
            sum += available * share;
        }
        let mean = if n == 0 { 0.0 } else { sum / f64::from(n) };
        round1((value - mean).clamp(0.0, 10.0))
    }
}

/// Rounds half up to one decimal. The interpolation can land a hair below a tie
/// (5.6499999999999995 for 5.65); FIRST's calculator and the `cvss` package add 10⁻⁶
/// first, and so do we, so that every implementation rounds such values alike.
fn round1(x: f64) -> f64 {
    ((x + 1e-6) * 10.0).round() / 10.0
}

/// Scores a v4.0 vector.
pub fn score(vector: &str) -> Result<Score, CvssError> {
    let base = Vector::parse(vector)?.score();
    Ok(Score {
        version: "4.0",
        base,
        severity: Severity::from_score(base),
    })
}

/// The effective metric values of a vector.
struct Effective {
    av: &'static str,
    ac: &'static str,
    at: &'static str,
    pr: &'static str,
    ui: &'static str,
    vc: &'static str,
    vi: &'static str,
    va: &'static str,
    sc: &'static str,
    si: &'static str,
    sa: &'static str,
    e: &'static str,
    cr: &'static str,
    ir: &'static str,
    ar: &'static str,
}

/// The severity level of a value, in steps of 0.1 from the most severe, per the
/// reference calculator: `order` lists the values from the most severe down.
fn level(order: &str, value: &str) -> i32 {
    // Values are single letters here (`U`, the one longer metric, is not scored).
    let found = value
        .bytes()
        .next()
        .and_then(|b| order.bytes().position(|o| o == b));
    found.map_or(0, |i| i as i32)
}

const AV: &str = "NALP";
const PR: &str = "NLH";
const UI: &str = "NPA";
const AC: &str = "LH";
const AT: &str = "NP";
const VULN: &str = "HLN";
/// `SC` has no `S` value but shares this scale with `SI` and `SA`.
const SUBSEQUENT: &str = "SHLN";
const REQUIREMENT: &str = "HML";

impl Effective {
    /// The equivalence-set levels EQ1..EQ6 (spec Table 24), 0 the most severe.
    fn macrovector(&self) -> [u8; 6] {
        let eq1 = if self.av == "N" && self.pr == "N" && self.ui == "N" {
            0
        } else if (self.av == "N" || self.pr == "N" || self.ui == "N") && self.av != "P" {
            1
        } else {
            2
        };
        let eq2 = if self.ac == "L" && self.at == "N" {
            0
        } else {
            1
        };
        let eq3 = if self.vc == "H" && self.vi == "H" {
            0
        } else if self.vc == "H" || self.vi == "H" || self.va == "H" {
            1
        } else {
            2
        };
        // `S` (safety) comes only from MSI or MSA.
        let eq4 = if self.si == "S" || self.sa == "S" {
            0
        } else if self.sc == "H" || self.si == "H" || self.sa == "H" {
            1
        } else {
            2
        };
        let eq5 = match self.e {
            "P" => 1,
            "U" => 2,
            _ => 0,
        };
        let eq6 = if (self.cr == "H" && self.vc == "H")
            || (self.ir == "H" && self.vi == "H")
            || (self.ar == "H" && self.va == "H")
        {
            0
        } else {
            1
        };
        [eq1, eq2, eq3, eq4, eq5, eq6]
    }

    /// The severity distance (in steps of 0.1) of `current` from the first of an
    /// equivalence-set level's highest-severity vectors `maxes` that is at least as
    /// severe in every metric. The spec's tables guarantee there is one (a unit test
    /// walks every combination of values).
    fn distance(current: &[(&str, &str)], maxes: &[&str]) -> Option<i32> {
        maxes.iter().find_map(|max| {
            let mut sum = 0;
            for ((order, value), m) in current.iter().zip(max.split('/')) {
                let d = level(order, value) - level(order, m);
                if d < 0 {
                    return None;
                }
                sum += d;
            }
            Some(sum)
        })
    }

    fn eq1_distance(&self, level: u8) -> Option<i32> {
        Self::distance(
            &[(AV, self.av), (PR, self.pr), (UI, self.ui)],
            EQ1_MAX[usize::from(level)],
        )
    }

    fn eq2_distance(&self, level: u8) -> Option<i32> {
        Self::distance(&[(AC, self.ac), (AT, self.at)], EQ2_MAX[usize::from(level)])
    }

    fn eq3eq6_distance(&self, eq3: u8, eq6: u8) -> Option<i32> {
        Self::distance(
            &[
                (VULN, self.vc),
                (VULN, self.vi),
                (VULN, self.va),
                (REQUIREMENT, self.cr),
                (REQUIREMENT, self.ir),
                (REQUIREMENT, self.ar),
            ],
            eq3eq6_max(eq3, eq6),
        )
    }

    fn eq4_distance(&self, level: u8) -> Option<i32> {
        Self::distance(
            &[
                (SUBSEQUENT, self.sc),
                (SUBSEQUENT, self.si),
                (SUBSEQUENT, self.sa),
            ],
            EQ4_MAX[usize::from(level)],
        )
    }
}

// The highest-severity vectors of each equivalence-set level and the levels' depths
// (the largest severity distance within them, in steps of 0.1): FIRST's reference
// calculator, <https://github.com/FIRSTdotorg/cvss-v4-calculator>, `max_composed.js`
// and `max_severity.js` (specification data).

/// EQ1, as `AV/PR/UI`.
const EQ1_MAX: [&[&str]; 3] = [
    &["N/N/N"],
    &["A/N/N", "N/L/N", "N/N/P"],
    &["P/N/N", "A/L/P"],
];
const EQ1_DEPTH: [u8; 3] = [1, 4, 5];

/// EQ2, as `AC/AT`.
const EQ2_MAX: [&[&str]; 2] = [&["L/N"], &["H/N", "L/P"]];
const EQ2_DEPTH: [u8; 2] = [1, 2];

/// EQ3 with EQ6, as `VC/VI/VA/CR/IR/AR`.
fn eq3eq6_max(eq3: u8, eq6: u8) -> &'static [&'static str] {
    match (eq3, eq6) {
        (0, 0) => &["H/H/H/H/H/H"],
        (0, 1) => &["H/H/L/M/M/H", "H/H/H/M/M/M"],
        (1, 0) => &["L/H/H/H/H/H", "H/L/H/H/H/H"],
        (1, 1) => &[
            "L/H/L/H/M/H",
            "L/H/H/H/M/M",
            "H/L/H/M/H/M",
            "H/L/L/M/H/H",
            "L/L/H/H/H/M",
        ],
        (2, 1) => &["L/L/L/H/H/H"],
        // EQ3 2 (no high vulnerable-system impact) always has EQ6 1.
        _ => &[],
    }
}

fn eq3eq6_depth(eq3: u8, eq6: u8) -> u8 {
    match (eq3, eq6) {
        (0, 0) => 7,
        (0, 1) => 6,
        (1, 0) | (1, 1) => 8,
        _ => 10,
    }
}

/// EQ4, as `SC/SI/SA`.
const EQ4_MAX: [&[&str]; 3] = [&["H/S/S"], &["H/H/H"], &["L/L/L"]];
const EQ4_DEPTH: [u8; 3] = [6, 5, 4];

/// The score of a macrovector (EQ1..EQ6 levels), if it exists.
fn lookup(eq: [u8; 6]) -> Option<f64> {
    let key = eq.map(|d| b'0' + d);
    LOOKUP
        .binary_search_by(|(k, _)| k.as_bytes().cmp(&key[..]))
        .ok()
        .map(|i| f64::from(LOOKUP[i].1) / 10.0)
}

/// The 270 macrovector scores, in tenths, sorted by macrovector (EQ1..EQ6 levels).
/// Specification data transcribed from FIRST's CVSS v4.0 calculator
/// (<https://github.com/FIRSTdotorg/cvss-v4-calculator>, `cvss_lookup.js`,
/// `cvssLookup_global`); `gates/tests/cvss4.rs` scores vectors of every macrovector
/// against the `cvss` package.
#[rustfmt::skip]
const LOOKUP: [(&str, u8); 270] = [
    ("000000", 100), ("000001", 99), ("000010", 98), ("000011", 95), ("000020", 95),
    ("000021", 92), ("000100", 100), ("000101", 96), ("000110", 93), ("000111", 87),
    ("000120", 91), ("000121", 81), ("000200", 93), ("000201", 90), ("000210", 89),
    ("000211", 80), ("000220", 81), ("000221", 68), ("001000", 98), ("001001", 95),
    ("001010", 95), ("001011", 92), ("001020", 90), ("001021", 84), ("001100", 93),
    ("001101", 92), ("001110", 89), ("001111", 81), ("001120", 81), ("001121", 65),
    ("001200", 88), ("001201", 80), ("001210", 78), ("001211", 70), ("001220", 69),
    ("001221", 48), ("002001", 92), ("002011", 82), ("002021", 72), ("002101", 79),
    ("002111", 69), ("002121", 50), ("002201", 69), ("002211", 55), ("002221", 27),
    ("010000", 99), ("010001", 97), ("010010", 95), ("010011", 92), ("010020", 92),
    ("010021", 85), ("010100", 95), ("010101", 91), ("010110", 90), ("010111", 83),
    ("010120", 84), ("010121", 71), ("010200", 92), ("010201", 81), ("010210", 82),
    ("010211", 71), ("010220", 72), ("010221", 53), ("011000", 95), ("011001", 93),
    ("011010", 92), ("011011", 85), ("011020", 85), ("011021", 73), ("011100", 92),
    ("011101", 82), ("011110", 80), ("011111", 72), ("011120", 70), ("011121", 59),
    ("011200", 84), ("011201", 70), ("011210", 71), ("011211", 52), ("011220", 50),
    ("011221", 30), ("012001", 86), ("012011", 75), ("012021", 52), ("012101", 71),
    ("012111", 52), ("012121", 29), ("012201", 63), ("012211", 29), ("012221", 17),
    ("100000", 98), ("100001", 95), ("100010", 94), ("100011", 87), ("100020", 91),
    ("100021", 81), ("100100", 94), ("100101", 89), ("100110", 86), ("100111", 74),
    ("100120", 77), ("100121", 64), ("100200", 87), ("100201", 75), ("100210", 74),
    ("100211", 63), ("100220", 63), ("100221", 49), ("101000", 94), ("101001", 89),
    ("101010", 88), ("101011", 77), ("101020", 76), ("101021", 67), ("101100", 86),
    ("101101", 76), ("101110", 74), ("101111", 58), ("101120", 59), ("101121", 50),
    ("101200", 72), ("101201", 57), ("101210", 57), ("101211", 52), ("101220", 52),
    ("101221", 25), ("102001", 83), ("102011", 70), ("102021", 54), ("102101", 65),
    ("102111", 58), ("102121", 26), ("102201", 53), ("102211", 21), ("102221", 13),
    ("110000", 95), ("110001", 90), ("110010", 88), ("110011", 76), ("110020", 76),
    ("110021", 70), ("110100", 90), ("110101", 77), ("110110", 75), ("110111", 62),
    ("110120", 61), ("110121", 53), ("110200", 77), ("110201", 66), ("110210", 68),
    ("110211", 59), ("110220", 52), ("110221", 30), ("111000", 89), ("111001", 78),
    ("111010", 76), ("111011", 67), ("111020", 62), ("111021", 58), ("111100", 74),
    ("111101", 59), ("111110", 57), ("111111", 57), ("111120", 47), ("111121", 23),
    ("111200", 61), ("111201", 52), ("111210", 57), ("111211", 29), ("111220", 24),
    ("111221", 16), ("112001", 71), ("112011", 59), ("112021", 30), ("112101", 58),
    ("112111", 26), ("112121", 15), ("112201", 23), ("112211", 13), ("112221", 6),
    ("200000", 93), ("200001", 87), ("200010", 86), ("200011", 72), ("200020", 75),
    ("200021", 58), ("200100", 86), ("200101", 74), ("200110", 74), ("200111", 61),
    ("200120", 56), ("200121", 34), ("200200", 70), ("200201", 54), ("200210", 52),
    ("200211", 40), ("200220", 40), ("200221", 22), ("201000", 85), ("201001", 75),
    ("201010", 74), ("201011", 55), ("201020", 62), ("201021", 51), ("201100", 72),
    ("201101", 57), ("201110", 55), ("201111", 41), ("201120", 46), ("201121", 19),
    ("201200", 53), ("201201", 36), ("201210", 34), ("201211", 19), ("201220", 19),
    ("201221", 8), ("202001", 64), ("202011", 51), ("202021", 20), ("202101", 47),
    ("202111", 21), ("202121", 11), ("202201", 24), ("202211", 9), ("202221", 4),
    ("210000", 88), ("210001", 75), ("210010", 73), ("210011", 53), ("210020", 60),
    ("210021", 50), ("210100", 73), ("210101", 55), ("210110", 59), ("210111", 40),
    ("210120", 41), ("210121", 20), ("210200", 54), ("210201", 43), ("210210", 45),
    ("210211", 22), ("210220", 20), ("210221", 11), ("211000", 75), ("211001", 55),
    ("211010", 58), ("211011", 45), ("211020", 40), ("211021", 21), ("211100", 61),
    ("211101", 51), ("211110", 48), ("211111", 18), ("211120", 20), ("211121", 9),
    ("211200", 46), ("211201", 18), ("211210", 17), ("211211", 7), ("211220", 8), ("211221", 2),
    ("212001", 53), ("212011", 24), ("212021", 14), ("212101", 24), ("212111", 12),
    ("212121", 5), ("212201", 10), ("212211", 3), ("212221", 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_HIGH: &str = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";

    #[test]
    fn well_known_scores() {
        let cases = [
            // The calculator's default vector: network, no privileges, high impact on
            // the vulnerable system only.
            (ALL_HIGH, 9.3, Severity::Critical),
            // No impact on either system is 0.0 whatever else.
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                0.0,
                Severity::None,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
                10.0,
                Severity::Critical,
            ),
            // FIRST's "CVSS v4.0 Examples": CVE-2022-41741 (nginx mp4 module).
            (
                "CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                7.3,
                Severity::High,
            ),
            // FIRST's "CVSS v4.0 Examples": CVE-2014-0160 (Heartbleed).
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N",
                8.7,
                Severity::High,
            ),
            // Interpolated within macrovectors (values as the `cvss` package 3.6 gives).
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N",
                1.0,
                Severity::Low,
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N",
                4.6,
                Severity::Medium,
            ),
        ];
        for (vector, want, severity) in cases {
            let s = score(vector).unwrap();
            assert_eq!(
                (s.version, s.base, s.severity),
                ("4.0", want, severity),
                "{vector}"
            );
        }
    }

    #[test]
    fn threat_and_environmental_metrics_apply() {
        let cases = [
            ("/E:A", 9.3, "CVSS-BT"),
            ("/E:P", 8.9, "CVSS-BT"),
            ("/E:U", 8.1, "CVSS-BT"),
            ("/CR:L/IR:L/AR:L", 8.9, "CVSS-BE"),
            ("/MAV:P/MVC:N", 5.2, "CVSS-BE"),
            ("/E:X/CR:X/MAV:X", 9.3, "CVSS-B"),
            // Supplemental metrics never change the score.
            ("/S:P/AU:Y/R:I/V:C/RE:H/U:Red", 9.3, "CVSS-B"),
        ];
        for (extra, want, name) in cases {
            let v = format!("{ALL_HIGH}{extra}");
            let parsed = Vector::parse(&v).unwrap();
            assert_eq!((parsed.score(), parsed.nomenclature()), (want, name), "{v}");
        }
        let both = Vector::parse(&format!("{ALL_HIGH}/E:U/AR:M")).unwrap();
        assert_eq!(both.nomenclature(), "CVSS-BTE");
        // Safety (MSI:S / MSA:S) is an impact: no longer 0.0.
        let safety = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/MSA:S";
        assert_eq!(score(safety).unwrap().base, 8.9);
    }

    #[test]
    fn metric_groups() {
        assert_eq!(METRICS[BASE - 1].0, "SA");
        assert_eq!(METRICS[BASE].0, "E");
        assert_eq!(METRICS[ENVIRONMENTAL.start].0, "CR");
        assert_eq!(METRICS[ENVIRONMENTAL.end - 1].0, "MSA");
        assert_eq!(METRICS[ENVIRONMENTAL.end].0, "S");
    }

    #[test]
    fn metrics_in_any_order() {
        let shuffled = "CVSS:4.0/SA:N/SI:N/SC:N/VA:H/VI:H/VC:H/UI:N/PR:N/AT:N/AC:L/AV:N";
        assert_eq!(score(shuffled).unwrap().base, 9.3);
    }

    #[test]
    fn invalid_vectors_say_why() {
        let cases = [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
                "base metric SA missing",
            ),
            (
                "CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                "metric AV given twice",
            ),
            (
                "CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                "AV:X is not a valid value",
            ),
            (&format!("{ALL_HIGH}/SC:S"), "metric SC given twice"),
            (&format!("{ALL_HIGH}/E:Q"), "E:Q is not a valid value"),
            (&format!("{ALL_HIGH}/MSC:S"), "MSC:S is not a valid value"),
            (&format!("{ALL_HIGH}/U:red"), "U:red is not a valid value"),
            (&format!("{ALL_HIGH}/RL:O"), "RL is not a CVSS v4.0 metric"),
            (&format!("{ALL_HIGH}/"), "\"\" is not METRIC:VALUE"),
            (
                "CVSS:3.1/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                "a CVSS v4.0 vector starts with CVSS:4.0/",
            ),
        ];
        for (vector, reason) in cases {
            let e = Vector::parse(vector).unwrap_err();
            assert_eq!(e.reason, reason, "{vector}");
            assert_eq!(e.vector, vector);
        }
        let e =
            super::super::score("CVSS:4.1/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
                .unwrap_err();
        assert!(
            e.reason.starts_with("unsupported prefix \"CVSS:4.1/\""),
            "{e}"
        );
    }

    /// The table holds exactly the 270 macrovectors the equivalence sets can produce
    /// (EQ3 level 2 never has EQ6 level 0), sorted for the binary search.
    #[test]
    fn lookup_table_covers_every_macrovector() {
        assert!(LOOKUP.windows(2).all(|w| w[0].0 < w[1].0));
        let mut n = 0;
        for eq1 in 0..3 {
            for eq2 in 0..2 {
                for eq3 in 0..3 {
                    for eq4 in 0..3 {
                        for eq5 in 0..3 {
                            for eq6 in 0..2 {
                                let exists = lookup([eq1, eq2, eq3, eq4, eq5, eq6]).is_some();
                                assert_eq!(exists, !(eq3 == 2 && eq6 == 0));
                                n += usize::from(exists);
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(n, LOOKUP.len());
        assert!(LOOKUP.iter().all(|(_, s)| (1..=100).contains(s)));
    }

    fn effective(values: [&'static str; 15]) -> Effective {
        let [av, ac, at, pr, ui, vc, vi, va, sc, si, sa, e, cr, ir, ar] = values;
        Effective {
            av,
            ac,
            at,
            pr,
            ui,
            vc,
            vi,
            va,
            sc,
            si,
            sa,
            e,
            cr,
            ir,
            ar,
        }
    }

    /// For every combination of effective values, each equivalence set's level has a
    /// highest-severity vector at or above it (the invariant `score` relies on).
    #[test]
    fn every_vector_has_a_highest_severity_vector() {
        let product = |sets: &[&'static [&'static str]]| {
            sets.iter().fold(vec![Vec::new()], |acc, set| {
                acc.into_iter()
                    .flat_map(|prefix: Vec<&'static str>| {
                        set.iter().map(move |v| {
                            let mut p = prefix.clone();
                            p.push(*v);
                            p
                        })
                    })
                    .collect()
            })
        };
        let base = ALL_HIGH_EFFECTIVE;
        for c in product(&[&["N", "A", "L", "P"], &["N", "L", "H"], &["N", "P", "A"]]) {
            let mut v = base;
            (v[0], v[3], v[4]) = (c[0], c[1], c[2]);
            let m = effective(v);
            assert!(m.eq1_distance(m.macrovector()[0]).is_some(), "{c:?}");
        }
        for c in product(&[&["L", "H"], &["N", "P"]]) {
            let mut v = base;
            (v[1], v[2]) = (c[0], c[1]);
            let m = effective(v);
            assert!(m.eq2_distance(m.macrovector()[1]).is_some(), "{c:?}");
        }
        let vuln: &[&str] = &["H", "L", "N"];
        let req: &[&str] = &["H", "M", "L"];
        for c in product(&[vuln, vuln, vuln, req, req, req]) {
            let mut v = base;
            (v[5], v[6], v[7]) = (c[0], c[1], c[2]);
            (v[12], v[13], v[14]) = (c[3], c[4], c[5]);
            let m = effective(v);
            let eq = m.macrovector();
            assert!(m.eq3eq6_distance(eq[2], eq[5]).is_some(), "{c:?}");
        }
        let sub: &[&str] = &["S", "H", "L", "N"];
        for c in product(&[&["H", "L", "N"], sub, sub]) {
            let mut v = base;
            (v[8], v[9], v[10]) = (c[0], c[1], c[2]);
            let m = effective(v);
            assert!(m.eq4_distance(m.macrovector()[3]).is_some(), "{c:?}");
        }
    }

    const ALL_HIGH_EFFECTIVE: [&str; 15] = [
        "N", "L", "N", "N", "N", "H", "H", "H", "N", "N", "N", "A", "H", "H", "H",
    ];
}
