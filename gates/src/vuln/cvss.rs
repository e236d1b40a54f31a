//! CVSS base scores from vectors, per FIRST's specifications:
//! v3.1 (<https://www.first.org/cvss/v3.1/specification-document>, section 7.1 and
//! Appendix A "Roundup"), v3.0 (same equations, `ceil` to one decimal) and v2
//! (<https://www.first.org/cvss/v2/guide>, section 3.2.1); and v4.0 in [`v4`], from
//! FIRST's table of macrovector scores rather than equations.

use std::collections::BTreeMap;

pub mod v4;

/// Qualitative severity (CVSS v3 section 5, CVSS v4.0 section 6; v2 scores use NVD's
/// bands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Unknown: no usable score.
    Unknown,
    /// 0.0.
    None,
    /// 0.1-3.9.
    Low,
    /// 4.0-6.9.
    Medium,
    /// 7.0-8.9.
    High,
    /// 9.0-10.0.
    Critical,
}

impl Severity {
    /// From a v3 or v4.0 score (both use the same bands).
    pub fn from_score(score: f64) -> Severity {
        if score <= 0.0 {
            Severity::None
        } else if score < 4.0 {
            Severity::Low
        } else if score < 7.0 {
            Severity::Medium
        } else if score < 9.0 {
            Severity::High
        } else {
            Severity::Critical
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// From a database's word (`LOW`, `MODERATE`, `MEDIUM`, `HIGH`, `CRITICAL`).
    pub fn from_word(word: &str) -> Option<Severity> {
        Some(match word.to_ascii_lowercase().as_str() {
            "none" => Severity::None,
            "low" | "negligible" => Severity::Low,
            "moderate" | "medium" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vector that cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CVSS vector {vector:?}: {reason}")]
pub struct CvssError {
    /// The vector.
    pub vector: String,
    /// Why.
    pub reason: String,
}

/// A scored vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: &'static str,
    /// The base score. For v4.0, the score of the vector as given: CVSS-B, or CVSS-BT,
    /// -BE or -BTE when it carries threat or environmental metrics
    /// ([`v4::Vector::nomenclature`]).
    pub base: f64,
    /// Its qualitative rating.
    pub severity: Severity,
}

fn metrics<'a>(
    vector: &'a str,
    parts: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<&'a str, &'a str>, CvssError> {
    let mut out = BTreeMap::new();
    for p in parts {
        let (k, v) = p.split_once(':').ok_or_else(|| CvssError {
            vector: vector.to_string(),
            reason: format!("{p:?} is not METRIC:VALUE"),
        })?;
        if out.insert(k, v).is_some() {
            return Err(CvssError {
                vector: vector.to_string(),
                reason: format!("metric {k} given twice"),
            });
        }
    }
    Ok(out)
}

/// Scores a CVSS v2, v3.0, v3.1 or v4.0 vector. v2 and v3 give base scores (other
/// metrics are allowed and ignored); v4.0 applies threat and environmental metrics when
/// present, as its specification says (see [`v4`]).
pub fn score(vector: &str) -> Result<Score, CvssError> {
    let v = vector.trim();
    if let Some(rest) = v.strip_prefix("CVSS:3.1/") {
        v3(v, rest, true)
    } else if let Some(rest) = v.strip_prefix("CVSS:3.0/") {
        v3(v, rest, false)
    } else if v.starts_with("CVSS:4.0/") {
        v4::score(v)
    } else if v.starts_with("CVSS:") {
        let prefix = v.find('/').map_or(v, |i| &v[..=i]);
        Err(CvssError {
            vector: v.to_string(),
            reason: format!(
                "unsupported prefix {prefix:?} (CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/; v2 \
                 vectors have none)"
            ),
        })
    } else {
        v2(
            v,
            v.strip_prefix("(")
                .and_then(|s| s.strip_suffix(")"))
                .unwrap_or(v),
        )
    }
}

/// CVSS v3.1 Appendix A: the smallest one-decimal number >= x, robust to floating point.
fn roundup_31(x: f64) -> f64 {
    let i = (x * 100_000.0).round() as i64;
    if i % 10_000 == 0 {
        i as f64 / 100_000.0
    } else {
        ((i / 10_000) + 1) as f64 / 10.0
    }
}

fn v3(vector: &str, rest: &str, v31: bool) -> Result<Score, CvssError> {
    let m = metrics(vector, rest.split('/'))?;
    let err = |reason: String| CvssError {
        vector: vector.to_string(),
        reason,
    };
    let get = |k: &str| {
        m.get(k)
            .copied()
            .ok_or_else(|| err(format!("base metric {k} missing")))
    };
    let bad = |k: &str, v: &str| err(format!("{k}:{v} is not a valid value"));
    let scope_changed = match get("S")? {
        "U" => false,
        "C" => true,
        v => return Err(bad("S", v)),
    };
    let av = match get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        v => return Err(bad("AV", v)),
    };
    let ac = match get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        v => return Err(bad("AC", v)),
    };
    let pr = match (get("PR")?, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        (v, _) => return Err(bad("PR", v)),
    };
    let ui = match get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        v => return Err(bad("UI", v)),
    };
    let cia = |k: &str| -> Result<f64, CvssError> {
        match get(k)? {
            "H" => Ok(0.56),
            "L" => Ok(0.22),
            "N" => Ok(0.0),
            v => Err(bad(k, v)),
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - ((1.0 - c) * (1.0 - i) * (1.0 - a));
    let impact = if scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    let roundup = |x: f64| {
        if v31 {
            roundup_31(x)
        } else {
            (x * 10.0).ceil() / 10.0
        }
    };
    let base = if impact <= 0.0 {
        0.0
    } else if scope_changed {
        roundup(f64::min(1.08 * (impact + exploitability), 10.0))
    } else {
        roundup(f64::min(impact + exploitability, 10.0))
    };
    Ok(Score {
        version: if v31 { "3.1" } else { "3.0" },
        base,
        severity: Severity::from_score(base),
    })
}

fn v2(vector: &str, body: &str) -> Result<Score, CvssError> {
    let m = metrics(vector, body.split('/'))?;
    let err = |reason: String| CvssError {
        vector: vector.to_string(),
        reason,
    };
    let get = |k: &str| {
        m.get(k)
            .copied()
            .ok_or_else(|| err(format!("not a CVSS v2 or v3 vector (no {k})")))
    };
    let bad = |k: &str, v: &str| err(format!("{k}:{v} is not a valid value"));
    let av = match get("AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        v => return Err(bad("AV", v)),
    };
    let ac = match get("AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        v => return Err(bad("AC", v)),
    };
    let au = match get("Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        v => return Err(bad("Au", v)),
    };
    let cia = |k: &str| -> Result<f64, CvssError> {
        match get(k)? {
            "N" => Ok(0.0),
            "P" => Ok(0.275),
            "C" => Ok(0.660),
            v => Err(bad(k, v)),
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let raw = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    let base = (raw * 10.0).round() / 10.0;
    // NVD's v2 bands: low < 4.0 <= medium < 7.0 <= high.
    let severity = if base < 4.0 {
        Severity::Low
    } else if base < 7.0 {
        Severity::Medium
    } else {
        Severity::High
    };
    Ok(Score {
        version: "2.0",
        base: base.max(0.0),
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIRST's "CVSS v3.1: Examples" document (vector → base score).
    #[test]
    fn first_v31_examples() {
        let cases = [
            // CVE-2013-1937 phpMyAdmin reflected XSS
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            // CVE-2013-0375 MySQL stored SQL injection
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
            // CVE-2014-3566 SSLv3 POODLE
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),
            // CVE-2012-1516 VMware guest to host escape
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            // CVE-2009-0783 Apache Tomcat XML parser
            ("CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L", 4.2),
            // CVE-2012-0384 Cisco IOS arbitrary command execution
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
            // CVE-2015-1098 Apple iWork denial of service
            ("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8),
            // CVE-2014-0160 OpenSSL Heartbleed
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
            // CVE-2014-6271 GNU Bash (Shellshock)
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            // CVE-2008-1447 DNS Kaminsky bug
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:H/A:N", 6.8),
            // CVE-2014-2005 Sophos login screen bypass
            ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8),
            // CVE-2010-0467 Joomla directory traversal
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 5.8),
            // CVE-2012-1342 Cisco ACL bypass
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:L/A:N", 5.8),
            // CVE-2014-0224 OpenSSL CCS injection
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 7.4),
            // CVE-2012-5376 Google Chrome sandbox bypass
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6),
            // CVE-2016-1645 Google Chrome PDFium JPEG 2000 RCE
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8),
            // CVE-2016-0128 / CVE-2016-2118 Badlock
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:H/A:N", 6.8),
            // CVE-2016-5558 Oracle Outside In
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", 7.3),
            // CVE-2013-6014 Juniper proxy ARP denial of service
            ("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:C/C:N/I:H/A:N", 7.4),
            // CVE-2017-5753 Spectre variant 1
            ("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:C/C:H/I:N/A:N", 5.6),
            // All-none impact
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ];
        for (vector, want) in cases {
            let s = score(vector).unwrap();
            assert_eq!(s.base, want, "{vector}");
            assert_eq!(s.severity, Severity::from_score(want));
        }
    }

    #[test]
    fn roundup_is_robust_to_floating_point() {
        // Appendix A: Roundup(4.000 000 02) is 4.1 only when the input really exceeds 4.0.
        assert_eq!(roundup_31(4.000_000_2), 4.0);
        assert_eq!(roundup_31(4.02), 4.1);
        assert_eq!(roundup_31(4.0), 4.0);
    }

    #[test]
    fn v30_and_v2() {
        // v3.0 keeps the plain ceiling.
        assert_eq!(
            score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N")
                .unwrap()
                .base,
            8.6
        );
        // FIRST CVSS v2 guide, section 3.3.1: CVE-2002-0392 (Apache chunked encoding).
        let s = score("AV:N/AC:L/Au:N/C:N/I:N/A:C").unwrap();
        assert_eq!((s.version, s.base), ("2.0", 7.8));
        // Section 3.3.2: CVE-2003-0818 (Microsoft ASN.1).
        assert_eq!(score("AV:N/AC:L/Au:N/C:C/I:C/A:C").unwrap().base, 10.0);
        // Section 3.3.3: CVE-2003-0062 (NOD32 buffer overflow).
        assert_eq!(score("AV:L/AC:H/Au:N/C:C/I:C/A:C").unwrap().base, 6.2);
    }

    #[test]
    fn bad_vectors_are_errors_not_panics() {
        for v in [
            "",
            "CVSS:3.1/AV:N",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/garbage",
            "CVSS:4.0/AV:N",
            "CVSS:4.1/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "AV:N/AC:L",
        ] {
            assert!(score(v).is_err(), "{v:?}");
        }
    }
}
