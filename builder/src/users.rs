//! `user[:group]` resolution against a stage's `/etc/passwd` and `/etc/group`, as
//! `COPY --chown` and `WORKDIR` need it (BuildKit's `parseUser` semantics: numbers are
//! taken as ids, names are looked up; a user alone gets its primary group).

/// A resolved owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Parses `passwd`-style lines into `(name, uid, gid)`.
pub fn parse_passwd(text: &str) -> Vec<(String, u32, u32)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Parses `group`-style lines into `(name, gid)`.
pub fn parse_group(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// Resolves `spec` (`user`, `user:group`, ids or names). `passwd`/`group` are the
/// contents of the stage's files, if it has them.
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<Owner, String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err(format!("invalid user {spec:?}"));
    }
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => (uid, users.iter().find(|u| u.1 == uid).map(|u| u.2)),
        Err(_) => {
            let u = users.iter().find(|u| u.0 == user).ok_or_else(|| {
                format!("unable to find user {user}: no matching entries in passwd file")
            })?;
            (u.1, Some(u.2))
        }
    };
    let gid = match grp {
        None => primary_gid.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = group.map(parse_group).unwrap_or_default();
                groups
                    .iter()
                    .find(|x| x.0 == g)
                    .map(|x| x.1)
                    .ok_or_else(|| {
                        format!("unable to find group {g}: no matching entries in group file")
                    })?
            }
        },
    };
    Ok(Owner { uid, gid })
}

/// Who a `RUN` step runs as: runc's `GetExecUser` semantics (a numeric user without a
/// passwd entry gets group 0; supplementary groups come from the group file's member
/// lists, unless a group is given explicitly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Home directory (for `HOME` when the environment has none).
    pub home: String,
}

/// Resolves `USER` for a `RUN` step (see [`ExecUser`]). An empty spec is root.
pub fn exec_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, String> {
    let spec = if spec.is_empty() { "0" } else { spec };
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries: Vec<Vec<&str>> = passwd
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    let entry = match user.parse::<u32>() {
        Ok(uid) => entries.iter().find(|f| f[2].parse() == Ok(uid)),
        Err(_) => Some(entries.iter().find(|f| f[0] == user).ok_or_else(|| {
            format!("unable to find user {user}: no matching entries in passwd file")
        })?),
    };
    let (uid, mut gid, name, home) = match entry {
        Some(f) => (
            f[2].parse()
                .map_err(|_| format!("bad passwd entry for {user}"))?,
            f[3].parse()
                .map_err(|_| format!("bad passwd entry for {user}"))?,
            Some(f[0]),
            f.get(5)
                .filter(|h| !h.is_empty())
                .unwrap_or(&"/")
                .to_string(),
        ),
        None => (user.parse().unwrap_or(0), 0, None, "/".to_string()),
    };
    let group_entries: Vec<Vec<&str>> = group
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 3)
        .collect();
    let mut groups = Vec::new();
    match grp {
        Some(g) => {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => group_entries
                    .iter()
                    .find(|f| f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| {
                        format!("unable to find group {g}: no matching entries in group file")
                    })?,
            };
            groups.push(gid);
        }
        None => {
            // The primary group is a supplementary group too (runc and containerd put
            // it in the list: `id` shows `groups=0(root),...`).
            groups.push(gid);
            if let Some(name) = name {
                for f in &group_entries {
                    let members = f.get(3).copied().unwrap_or("");
                    if members.split(',').any(|m| m == name)
                        && let Ok(g) = f[2].parse::<u32>()
                    {
                        groups.push(g);
                    }
                }
            }
        }
    }
    // The kernel keeps supplementary groups sorted; so do we (stable cache keys).
    groups.sort_unstable();
    groups.dedup();
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

    #[test]
    fn resolves_names_and_ids() {
        let r = |s| resolve(s, Some(PASSWD), Some(GROUP));
        assert_eq!(
            r("app").unwrap(),
            Owner {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(r("app:staff").unwrap(), Owner { uid: 1000, gid: 50 });
        assert_eq!(
            r("1000").unwrap(),
            Owner {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(r("42").unwrap(), Owner { uid: 42, gid: 42 });
        assert_eq!(r("42:7").unwrap(), Owner { uid: 42, gid: 7 });
        assert!(r("nobody").is_err());
        assert!(r("app:nogroup").is_err());
        assert!(resolve("app", None, None).is_err());
    }

    #[test]
    fn exec_user_follows_runc() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
        let group = "root:x:0:\nstaff:x:50:app,bob\napp:x:1001:\nwheel:x:10:app\n";
        let u = exec_user("app", Some(passwd), Some(group)).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone(), u.home.as_str()),
            (1000, 1001, vec![10, 50, 1001], "/home/app")
        );
        let u = exec_user("4242", Some(passwd), Some(group)).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone(), u.home.as_str()),
            (4242, 0, vec![0], "/")
        );
        let u = exec_user("app:staff", Some(passwd), Some(group)).unwrap();
        assert_eq!((u.gid, u.groups), (50, vec![50]));
        let u = exec_user("", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert!(exec_user("nobody", Some(passwd), None).is_err());
    }
}
