//! The secrets scanner: user rule files (TOML) and the detector on arbitrary bytes.
#![no_main]

use std::sync::OnceLock;

use lading_gates::secrets::Ruleset;
use lading_gates::secrets::detect::{Detector, Scratch, display, is_binary, line_around};
use libfuzzer_sys::fuzz_target;

fn builtin() -> Option<&'static Detector> {
    static D: OnceLock<Option<Detector>> = OnceLock::new();
    D.get_or_init(|| Ruleset::builtin().ok().and_then(|r| Detector::new(r).ok()))
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(d) = builtin() else {
        return;
    };
    let mut scratch = Scratch::default();
    let _ = is_binary(data);
    for path in [None, Some("app/.env"), Some("home/user/.ssh/id_rsa")] {
        for hit in d.scan(path, data, &mut scratch) {
            let _ = display(data, &hit);
            let _ = line_around(data, hit.start);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = d.redact_text(text);
        if let Ok(rs) = Ruleset::with_user_file("fuzz.toml", text)
            && let Ok(user) = Detector::new(rs)
        {
            let _ = user.scan(Some("a.txt"), data, &mut scratch);
        }
    }
});
