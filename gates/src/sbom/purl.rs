//! Package URLs, spelled as the purl specification's canonical form
//! (<https://github.com/package-url/purl-spec/blob/master/PURL-SPECIFICATION.rst>):
//! `pkg:type/namespace/name@version?qualifiers#subpath`, each part percent-encoded,
//! qualifiers sorted by key, empty qualifiers left out.

use std::fmt::Write as _;

/// Builds a purl.
#[derive(Debug, Clone, Default)]
pub struct Purl {
    ty: String,
    namespace: Vec<String>,
    name: String,
    version: Option<String>,
    qualifiers: Vec<(String, String)>,
}

impl Purl {
    /// `pkg:<ty>/<name>`.
    pub fn new(ty: &str, name: &str) -> Purl {
        Purl {
            ty: ty.to_ascii_lowercase(),
            name: name.to_string(),
            ..Purl::default()
        }
    }

    /// Sets the namespace; it may hold several `/`-separated segments.
    pub fn namespace(mut self, ns: &str) -> Purl {
        self.namespace = ns
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        self
    }

    /// Sets the version (left out when empty).
    pub fn version(mut self, v: &str) -> Purl {
        self.version = (!v.is_empty()).then(|| v.to_string());
        self
    }

    /// Adds a qualifier (left out when the value is empty).
    pub fn qualifier(mut self, key: &str, value: &str) -> Purl {
        if !value.is_empty() {
            self.qualifiers
                .push((key.to_ascii_lowercase(), value.to_string()));
        }
        self
    }

    /// Adds a qualifier when there is a value.
    pub fn qualifier_opt(self, key: &str, value: Option<&str>) -> Purl {
        match value {
            Some(v) => self.qualifier(key, v),
            None => self,
        }
    }
}

impl std::fmt::Display for Purl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pkg:{}/", self.ty)?;
        for ns in &self.namespace {
            write!(f, "{}/", encode(ns, ""))?;
        }
        f.write_str(&encode(&self.name, ""))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v, ":"))?;
        }
        let mut q = self.qualifiers.clone();
        q.sort();
        q.dedup_by(|a, b| a.0 == b.0);
        for (i, (k, v)) in q.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{k}={}", encode(v, ":/"))?;
        }
        Ok(())
    }
}

/// Percent-encodes everything but unreserved characters and `keep`.
pub fn encode(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "-._~".contains(c) || (c.is_ascii() && keep.contains(c)) {
            out.push(c);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let p = Purl::new("deb", "libc6")
            .namespace("debian")
            .version("2.36-9+deb12u4")
            .qualifier("upstream", "glibc")
            .qualifier("arch", "amd64")
            .qualifier("distro", "debian-12")
            .qualifier("epoch", "");
        assert_eq!(
            p.to_string(),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
        assert_eq!(
            Purl::new("npm", "core")
                .namespace("@babel")
                .version("7.0.0")
                .to_string(),
            "pkg:npm/%40babel/core@7.0.0"
        );
        assert_eq!(
            Purl::new("golang", "cobra")
                .namespace("github.com/spf13")
                .version("v1.8.0")
                .to_string(),
            "pkg:golang/github.com/spf13/cobra@v1.8.0"
        );
        assert_eq!(
            Purl::new("deb", "x").version("1:2.0").to_string(),
            "pkg:deb/x@1:2.0"
        );
    }
}
