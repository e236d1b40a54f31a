//! OCI strings and documents: digests, references, platforms, manifests, indexes and
//! image configs as a registry or an OCI layout would hand them over.
#![no_main]

use lading_oci::spec::from_json;
use lading_oci::{Digest, ImageConfig, Index, Manifest, Platform, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = text.parse::<Digest>() {
            let _ = d.short();
            let _ = d.hex();
        }
        if let Ok(r) = Reference::parse(text) {
            let _ = r.familiar();
            let _ = r.familiar_name();
            let _ = r.api_host();
            let _ = r.reference();
            let _ = r.with_tag("latest");
            // What is printed must parse again to the same reference.
            let again = Reference::parse(&r.to_string());
            assert!(again.is_ok(), "{text:?} printed as {} does not parse", r);
        }
        if let Ok(p) = Platform::parse(text) {
            let _ = p.matches(&Platform::host());
            let _ = p.to_string();
        }
    }
    let _ = from_json::<Manifest>(data, "manifest");
    let _ = from_json::<Index>(data, "index");
    if let Ok(c) = from_json::<ImageConfig>(data, "config") {
        let _ = c.platform();
    }
});
