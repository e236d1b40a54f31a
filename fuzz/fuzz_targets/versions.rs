//! Version comparators of every ecosystem: never panic, and a total order: reflexive,
//! antisymmetric and transitive on the three versions the input splits into.
#![no_main]

use std::cmp::Ordering;

use lading_gates::vuln::version::Scheme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let scheme = Scheme::ALL[pick as usize % Scheme::ALL.len()];
    let mut parts = text.splitn(3, '\n');
    let a = parts.next().unwrap_or("");
    let b = parts.next().unwrap_or("");
    let c = parts.next().unwrap_or("");
    for v in [a, b, c] {
        if scheme.validate(v).is_ok() {
            assert_eq!(scheme.compare(v, v).ok(), Some(Ordering::Equal), "{scheme}: {v:?} != itself");
        }
    }
    let ab = scheme.compare(a, b).ok();
    let ba = scheme.compare(b, a).ok();
    assert_eq!(ab, ba.map(Ordering::reverse), "{scheme}: {a:?} vs {b:?} not antisymmetric");
    let bc = scheme.compare(b, c).ok();
    let ac = scheme.compare(a, c).ok();
    if let (Some(x), Some(y)) = (ab, bc) {
        let z = ac.unwrap_or_else(|| panic!("{scheme}: {a:?} and {c:?} compare with {b:?} but not with each other"));
        if x != Ordering::Greater && y != Ordering::Greater {
            let want = if x == Ordering::Equal && y == Ordering::Equal {
                Ordering::Equal
            } else {
                Ordering::Less
            };
            assert_eq!(z, want, "{scheme}: {a:?} {x:?} {b:?} {y:?} {c:?} but {a:?} {z:?} {c:?}");
        }
        if x != Ordering::Less && y != Ordering::Less {
            let want = if x == Ordering::Equal && y == Ordering::Equal {
                Ordering::Equal
            } else {
                Ordering::Greater
            };
            assert_eq!(z, want, "{scheme}: {a:?} {x:?} {b:?} {y:?} {c:?} but {a:?} {z:?} {c:?}");
        }
    }
});
