//! `/etc/os-release` (falling back to `/usr/lib/os-release`), as `os-release(5)` defines
//! it: `KEY=VALUE` lines, values optionally quoted, `\` escapes inside double quotes.

use serde::Serialize;

/// The operating system of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    /// `ID` (`debian`, `alpine`, `rhel`).
    pub id: String,
    /// `ID_LIKE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    /// `VERSION_ID` (`12`, `3.20.3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// `PRETTY_NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// The file it was read from.
    pub path: String,
    /// The layer that file came from.
    pub layer_digest: String,
}

impl OsRelease {
    /// Parses the file's text; `None` when it has no `ID`.
    pub fn parse(text: &str) -> Option<OsRelease> {
        let mut os = OsRelease::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = unquote(v.trim());
            match k.trim() {
                "ID" => os.id = v.to_ascii_lowercase(),
                "ID_LIKE" => os.id_like = v.split_whitespace().map(str::to_string).collect(),
                "VERSION_ID" => os.version_id = Some(v).filter(|v| !v.is_empty()),
                "VERSION_CODENAME" => os.codename = Some(v).filter(|v| !v.is_empty()),
                "PRETTY_NAME" => os.pretty_name = Some(v).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        (!os.id.is_empty()).then_some(os)
    }

    /// Whether the OS is `id` or says it is like it.
    pub fn is_like(&self, id: &str) -> bool {
        self.id == id || self.id_like.iter().any(|l| l == id)
    }

    /// The purl `distro` qualifier: `debian-12`, `alpine-3.20.3`.
    pub fn distro(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}-{v}", self.id),
            None => self.id.clone(),
        }
    }
}

fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out
    } else if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        inner.to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_alpine() {
        let d = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
        .unwrap();
        assert_eq!(d.distro(), "debian-12");
        assert_eq!(d.codename.as_deref(), Some("bookworm"));
        let a = OsRelease::parse("ID=alpine\nVERSION_ID=3.20.3\n# c\n").unwrap();
        assert_eq!(a.distro(), "alpine-3.20.3");
        let u = OsRelease::parse("ID=ubuntu\nID_LIKE=debian\n").unwrap();
        assert!(u.is_like("debian"));
        assert!(OsRelease::parse("NAME=x\n").is_none());
    }
}
