//! CVSS v2, v3.x and v4.0 vectors: an error or a score in 0..=10, never a panic.
#![no_main]

use lading_gates::vuln::cvss;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for v in [text.to_string(), format!("CVSS:3.1/{text}"), format!("CVSS:4.0/{text}")] {
        if let Ok(s) = cvss::score(&v) {
            assert!((0.0..=10.0).contains(&s.base), "{v:?} scored {}", s.base);
        }
        if let Ok(v4) = cvss::v4::Vector::parse(&v) {
            let s = v4.score();
            assert!((0.0..=10.0).contains(&s), "{v:?} scored {s}");
            let _ = v4.nomenclature();
        }
    }
});
