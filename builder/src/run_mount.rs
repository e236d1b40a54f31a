//! `RUN --mount=` values, parsed as BuildKit does (`frontend/dockerfile/instructions/
//! commands_runmount.go`): comma-separated `key=value` fields, `type` defaulting to
//! `bind`, boolean keys allowed without a value.

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Every build uses the same directory at once (the default).
    Shared,
    /// A concurrent build gets its own fresh directory.
    Private,
    /// Builds wait for each other.
    Locked,
}

/// What kind of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// Files from the context or another stage.
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file.
    Secret,
    /// An SSH agent socket.
    Ssh,
}

/// One parsed `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// Type.
    pub kind: MountType,
    /// `target=` (defaulted for secret and ssh mounts).
    pub target: String,
    /// `source=`, if given.
    pub source: Option<String>,
    /// `from=`, if given.
    pub from: Option<String>,
    /// Read-only (bind: default true; cache: default false).
    pub readonly: bool,
    /// `id=` (secret, ssh, cache).
    pub id: Option<String>,
    /// `sharing=` (cache).
    pub sharing: Sharing,
    /// `required=` (secret, ssh).
    pub required: bool,
    /// `mode=`, octal.
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `size=` in bytes (tmpfs).
    pub size: Option<u64>,
    /// `env=` (secret): expose as an environment variable instead of / besides a file.
    pub env: Option<String>,
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

fn parse_size(v: &str) -> Result<u64, String> {
    let v = v.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {v:?}"))?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("invalid size {v:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {v:?} is too large"))
}

/// Parses one `--mount` value (already variable-expanded). `index` numbers the step's
/// ssh mounts for their default target, as BuildKit does.
pub fn parse(value: &str, ssh_index: usize) -> Result<RunMount, String> {
    let mut kind = None;
    let mut fields = Vec::new();
    for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.to_ascii_lowercase(), None),
        };
        if k == "type" {
            kind = Some(match v.unwrap_or("") {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                other => return Err(format!("unsupported mount type {other:?}")),
            });
        } else {
            fields.push((k, v));
        }
    }
    let kind = kind.unwrap_or(MountType::Bind);
    let mut m = RunMount {
        kind,
        target: String::new(),
        source: None,
        from: None,
        readonly: kind == MountType::Bind,
        id: None,
        sharing: Sharing::Shared,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
    };
    let need = |k: &str, v: Option<&str>| {
        v.map(str::to_string)
            .ok_or_else(|| format!("invalid field '{k}' must be a key=value pair"))
    };
    let num = |k: &str, v: Option<&str>| -> Result<u32, String> {
        let v = need(k, v)?;
        v.parse().map_err(|_| format!("invalid value for {k}: {v}"))
    };
    for (k, v) in fields {
        match k.as_str() {
            "target" | "dst" | "destination" => m.target = need(&k, v)?,
            "source" | "src" => m.source = Some(need(&k, v)?),
            "from" => m.from = Some(need(&k, v)?),
            "readonly" | "ro" => m.readonly = parse_bool(&k, v)?,
            "readwrite" | "rw" => m.readonly = !parse_bool(&k, v)?,
            "id" => m.id = Some(need(&k, v)?),
            "sharing" => {
                m.sharing = match need(&k, v)?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => return Err(format!("unsupported sharing value {other:?}")),
                }
            }
            "required" => m.required = parse_bool(&k, v)?,
            "mode" => {
                let v = need(&k, v)?;
                m.mode =
                    Some(u32::from_str_radix(&v, 8).map_err(|_| format!("invalid mode {v:?}"))?);
            }
            "uid" => m.uid = Some(num(&k, v)?),
            "gid" => m.gid = Some(num(&k, v)?),
            "size" => m.size = Some(parse_size(&need(&k, v)?)?),
            "env" => m.env = Some(need(&k, v)?),
            other => return Err(format!("unexpected key '{other}' in '{value}'")),
        }
    }
    match kind {
        MountType::Secret => {
            let id =
                m.id.clone()
                    .or_else(|| {
                        (!m.target.is_empty())
                            .then(|| m.target.rsplit('/').next().unwrap_or("").to_string())
                    })
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| "secret mount needs an id or a target".to_string())?;
            if m.target.is_empty() && m.env.is_none() {
                m.target = format!("/run/secrets/{id}");
            }
            m.id = Some(id);
        }
        MountType::Ssh => {
            m.id.get_or_insert_with(|| "default".into());
            if m.target.is_empty() {
                m.target = format!("/run/buildkit/ssh_agent.{ssh_index}");
            }
        }
        _ => {
            if m.target.is_empty() {
                return Err(format!("mount '{value}' needs a target"));
            }
        }
    }
    if kind == MountType::Cache {
        m.id.get_or_insert_with(|| m.target.clone());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_buildkit() {
        let b = parse("target=/src", 0).unwrap();
        assert_eq!((b.kind, b.readonly), (MountType::Bind, true));
        let b = parse("type=bind,source=a,target=/src,rw", 0).unwrap();
        assert!(!b.readonly);
        let c = parse("type=cache,target=/root/.cache", 0).unwrap();
        assert_eq!(
            (c.readonly, c.id.as_deref(), c.sharing),
            (false, Some("/root/.cache"), Sharing::Shared)
        );
        let s = parse("type=secret,id=tok", 0).unwrap();
        assert_eq!((s.target.as_str(), s.required), ("/run/secrets/tok", false));
        let s = parse("type=secret,target=/etc/key,required", 0).unwrap();
        assert_eq!((s.id.as_deref(), s.required), (Some("key"), true));
        let s = parse("type=ssh", 1).unwrap();
        assert_eq!(
            (s.id.as_deref(), s.target.as_str()),
            (Some("default"), "/run/buildkit/ssh_agent.1")
        );
        let t = parse("type=tmpfs,target=/t,size=64m", 0).unwrap();
        assert_eq!(t.size, Some(64 << 20));
        let c = parse(
            "type=cache,target=/c,mode=0700,uid=1000,gid=1000,sharing=locked",
            0,
        )
        .unwrap();
        assert_eq!(
            (c.mode, c.uid, c.gid, c.sharing),
            (Some(0o700), Some(1000), Some(1000), Sharing::Locked)
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse("type=nfs,target=/x", 0).is_err());
        assert!(parse("type=cache", 0).is_err());
        assert!(parse("target=/x,bogus=1", 0).is_err());
        assert!(parse("type=cache,target=/x,sharing=maybe", 0).is_err());
        assert!(parse("type=tmpfs,target=/x,size=lots", 0).is_err());
        assert!(parse("type=secret", 0).is_err());
    }
}
