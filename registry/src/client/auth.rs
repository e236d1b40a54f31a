//! Credentials and challenges: what docker's CLI does to log in to a registry.
//!
//! Credentials for a registry come from, in order:
//!
//! 1. `--creds USER:PASSWORD` ([`super::ClientOptions::credentials`]);
//! 2. the docker config file (`--authfile`, else `$DOCKER_CONFIG/config.json`, else
//!    `~/.docker/config.json`): `credHelpers[<registry>]`, then `credsStore`, each run as
//!    `docker-credential-<name> get` with the server URL on stdin (docker's credential
//!    helper protocol), then `auths[<registry>]` (`auth` = base64 of `user:password`, or
//!    `username`/`password`, or an `identitytoken`);
//! 3. `GITHUB_TOKEN` for `ghcr.io` (user `$GITHUB_ACTOR`, else `lading`);
//! 4. none: anonymous.
//!
//! Docker Hub is `https://index.docker.io/v1/` in config files and helpers, as docker
//! writes it. Challenges follow RFC 7235 as registries send them:
//! `Bearer realm="…",service="…",scope="…"` (the token flow of docker's
//! "Token Authentication Specification") or `Basic realm="…"`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

use super::error::{ClientError, Result};

/// What docker calls Docker Hub in config files and credential helpers.
pub const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or a personal access token as password).
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` value for HTTP Basic (none for an identity token).
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Credentials::IdentityToken(_) => None,
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No authentication asked for.
    None,
    /// HTTP Basic.
    Basic,
    /// The bearer-token flow.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// `service` parameter, when given.
        service: Option<String>,
        /// `scope` the registry asked for, when given.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value (the first scheme we know).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `key="value", key=value` pairs; quoted values may contain commas and `\"`.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        out.insert(key, value);
    }
    out
}

/// The docker config file: `auths`, `credHelpers`, `credsStore`.
#[derive(Debug, Default, serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Where the docker config file is: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The host part of a config key (`https://host/v1/` → `host`).
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// The names a registry may have in a config file, best first.
fn config_keys(registry: &str) -> Vec<String> {
    if registry == lading_oci::reference::DOCKER_HUB
        || registry == "index.docker.io"
        || registry == lading_oci::reference::DOCKER_HUB_API
    {
        vec![
            DOCKER_HUB_CONFIG_KEY.to_string(),
            "index.docker.io".into(),
            "docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![registry.to_string()]
    }
}

/// What a credential helper is given on stdin for a registry.
fn helper_server_url(registry: &str) -> String {
    if config_keys(registry)[0] == DOCKER_HUB_CONFIG_KEY {
        DOCKER_HUB_CONFIG_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Finds credentials for `registry` (see the module docs). `config` is the docker
/// config file to read (missing is fine).
pub fn lookup(registry: &str, config: Option<&Path>) -> Result<Option<Credentials>> {
    if let Some(path) = config {
        let cfg = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice::<DockerConfig>(&bytes).map_err(|e| ClientError::Config {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerConfig::default(),
            Err(e) => {
                return Err(ClientError::Config {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                });
            }
        };
        if let Some(c) = from_config(&cfg, registry, path)? {
            return Ok(Some(c));
        }
    }
    Ok(github_token(
        registry,
        std::env::var("GITHUB_TOKEN").ok(),
        std::env::var("GITHUB_ACTOR").ok(),
    ))
}

/// `GITHUB_TOKEN` (user `GITHUB_ACTOR`, else `lading`: ghcr.io accepts any) for ghcr.io.
fn github_token(
    registry: &str,
    token: Option<String>,
    actor: Option<String>,
) -> Option<Credentials> {
    let token = token.filter(|t| !t.is_empty())?;
    (registry == "ghcr.io").then(|| Credentials::Basic {
        username: actor
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "lading".into()),
        password: token,
    })
}

fn from_config(cfg: &DockerConfig, registry: &str, path: &Path) -> Result<Option<Credentials>> {
    let keys = config_keys(registry);
    let helper = keys
        .iter()
        .find_map(|k| {
            cfg.cred_helpers
                .iter()
                .find(|(key, _)| key_host(key) == key_host(k))
                .map(|(_, h)| h.clone())
        })
        .or_else(|| cfg.creds_store.clone())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper
        && let Some(c) = run_helper(&helper, registry)?
    {
        return Ok(Some(c));
    }
    for k in &keys {
        let Some(entry) = cfg
            .auths
            .iter()
            .find(|(key, _)| key.as_str() == k || key_host(key) == key_host(k))
            .map(|(_, e)| e)
        else {
            continue;
        };
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken(token.clone())));
        }
        if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = |reason: &str| ClientError::Config {
                path: path.to_path_buf(),
                source: format!("auths[{k:?}].auth: {reason}").into(),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| bad("not UTF-8"))?;
            let (u, p) = text
                .split_once(':')
                .ok_or_else(|| bad("expected base64 of user:password"))?;
            return Ok(Some(Credentials::Basic {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials::Basic {
                username: u.clone(),
                password: p.clone(),
            }));
        }
    }
    Ok(None)
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` (docker's credential helper protocol).
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credentials>> {
    let fail = |reason: String| ClientError::Helper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        reason,
    };
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(fail("invalid helper name".into()));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("running {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(helper_server_url(registry).as_bytes())
            .map_err(|e| fail(format!("writing to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for {program}: {e}")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // docker's helpers say so when they have nothing for this server.
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("{} ({})", out.status, text.trim())));
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == "<token>" {
        return Ok(Some(Credentials::IdentityToken(answer.secret)));
    }
    Ok(Some(Credentials::Basic {
        username: answer.username,
        password: answer.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="http://h/t", scope="repository:a:pull,push""#),
            Some(Challenge::Bearer {
                realm: "http://h/t".into(),
                service: None,
                scope: Some("repository:a:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None, "no realm");
    }

    #[test]
    fn docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:pw:with:colons");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://127.0.0.1:5000/v1/":{{"auth":"{b64}"}},"https://index.docker.io/v1/":{{"identitytoken":"tok"}},"plain.example":{{"username":"u","password":"p"}}}}}}"#
            ),
        )
        .unwrap();
        assert_eq!(
            lookup("127.0.0.1:5000", Some(&path)).unwrap(),
            Some(Credentials::Basic {
                username: "alice".into(),
                password: "pw:with:colons".into()
            })
        );
        assert_eq!(
            lookup("docker.io", Some(&path)).unwrap(),
            Some(Credentials::IdentityToken("tok".into()))
        );
        assert_eq!(
            lookup("plain.example", Some(&path)).unwrap(),
            Some(Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(lookup("other:1", Some(&path)).unwrap(), None);
        assert_eq!(
            lookup("x", Some(&dir.path().join("missing.json"))).unwrap(),
            None
        );
    }

    #[test]
    fn github_token_is_for_ghcr_only() {
        let tok = || Some("ghp_x".to_string());
        assert_eq!(
            github_token("ghcr.io", tok(), Some("me".into())),
            Some(Credentials::Basic {
                username: "me".into(),
                password: "ghp_x".into()
            })
        );
        assert!(matches!(
            github_token("ghcr.io", tok(), None),
            Some(Credentials::Basic { username, .. }) if username == "lading"
        ));
        assert_eq!(github_token("docker.io", tok(), None), None);
        assert_eq!(github_token("ghcr.io", Some(String::new()), None), None);
    }

    #[test]
    fn basic_header_and_debug_hide_the_password() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "secret".into(),
        };
        assert_eq!(c.basic_header().unwrap(), "Basic dTpzZWNyZXQ=");
        assert!(!format!("{c:?}").contains("secret"));
    }
}
