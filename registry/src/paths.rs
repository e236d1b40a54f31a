//! Parsing `/v2/...` paths and query strings. Repository names contain slashes, so routes
//! are recognised from the end of the path: the last segments say which endpoint it is
//! and everything before them is the name.

/// Which endpoint a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`.
    Base,
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/` (`id` empty) or `/v2/<name>/blobs/uploads/<id>`.
    Upload { name: String, id: String },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest { name: String, reference: String },
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers { name: String, digest: String },
}

/// Recognises a request path; `None` when it is no endpoint of the spec.
pub fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    let segs: Vec<String> = rest.split('/').map(percent_decode).collect();
    let n = segs.len();
    let name = |k: usize| -> Option<String> { (n > k).then(|| segs[..n - k].join("/")) };
    let last = segs[n - 1].clone();
    let at = |i: usize| segs.get(n.wrapping_sub(i)).map(String::as_str);
    if n >= 3 && at(2) == Some("tags") && last == "list" {
        return Some(Route::Tags { name: name(2)? });
    }
    if n >= 3 && at(2) == Some("manifests") {
        return Some(Route::Manifest {
            name: name(2)?,
            reference: last,
        });
    }
    if n >= 3 && at(2) == Some("referrers") {
        return Some(Route::Referrers {
            name: name(2)?,
            digest: last,
        });
    }
    // Digests have a colon, session ids never do.
    if n >= 4 && at(3) == Some("blobs") && at(2) == Some("uploads") && !last.contains(':') {
        return Some(Route::Upload {
            name: name(3)?,
            id: last,
        });
    }
    if n >= 3 && at(2) == Some("blobs") && last == "uploads" {
        return Some(Route::Upload {
            name: name(2)?,
            id: String::new(),
        });
    }
    if n >= 3 && at(2) == Some("blobs") {
        return Some(Route::Blob {
            name: name(2)?,
            digest: last,
        });
    }
    None
}

/// Decoded `key=value` pairs of a query string. `+` stays `+` (media types contain it and
/// some clients do not escape it).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The first value of `key` in a query string.
pub fn query_get(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// Decodes `%XX` escapes; malformed escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> Option<Route> {
        route(path)
    }

    #[test]
    fn routes_are_recognised_from_the_end() {
        assert_eq!(r("/v2/"), Some(Route::Base));
        assert_eq!(r("/v2"), Some(Route::Base));
        assert_eq!(
            r("/v2/a/b/manifests/latest"),
            Some(Route::Manifest {
                name: "a/b".into(),
                reference: "latest".into()
            })
        );
        // A repository may itself be called `manifests` or `blobs`.
        assert_eq!(
            r("/v2/x/manifests/manifests/1"),
            Some(Route::Manifest {
                name: "x/manifests".into(),
                reference: "1".into()
            })
        );
        assert_eq!(
            r("/v2/x/blobs/uploads/"),
            Some(Route::Upload {
                name: "x".into(),
                id: String::new()
            })
        );
        assert_eq!(
            r("/v2/x/blobs/uploads"),
            Some(Route::Upload {
                name: "x".into(),
                id: String::new()
            })
        );
        assert_eq!(
            r("/v2/x/y/blobs/uploads/abc-1"),
            Some(Route::Upload {
                name: "x/y".into(),
                id: "abc-1".into()
            })
        );
        assert_eq!(
            r("/v2/x/blobs/sha256%3Aab"),
            Some(Route::Blob {
                name: "x".into(),
                digest: "sha256:ab".into()
            })
        );
        assert_eq!(r("/v2/x/blobs/uploads/sha256:ab"), None);
        assert_eq!(
            r("/v2/x/blobs/blobs/sha256:ab"),
            Some(Route::Blob {
                name: "x/blobs".into(),
                digest: "sha256:ab".into()
            })
        );
        assert_eq!(r("/v2/x/tags/list"), Some(Route::Tags { name: "x".into() }));
        assert_eq!(
            r("/v2/x/referrers/sha256:ab"),
            Some(Route::Referrers {
                name: "x".into(),
                digest: "sha256:ab".into()
            })
        );
        assert_eq!(r("/v2/_catalog"), None);
        assert_eq!(r("/v2/manifests/x"), None);
        assert_eq!(r("/v3/x/tags/list"), None);
    }

    #[test]
    fn queries_decode() {
        let q = query_pairs(Some("artifactType=application%2Fvnd.a+json&n=2&last"));
        assert_eq!(
            query_get(&q, "artifactType").as_deref(),
            Some("application/vnd.a+json")
        );
        assert_eq!(query_get(&q, "n").as_deref(), Some("2"));
        assert_eq!(query_get(&q, "last").as_deref(), Some(""));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
