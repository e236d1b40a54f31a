//! Authentication: HTTP Basic against an htpasswd file of bcrypt hashes (what
//! `htpasswd -B` and Docker's registry use), or a static bearer token. Credentials are
//! never logged; a password that verified once is remembered only as its SHA-256, so
//! bcrypt's deliberate slowness is paid once per user, not once per request.
//!
//! bcrypt is not FIPS-approved: a `fips` build refuses htpasswd files (use a bearer
//! token). Credentials made up here ([`Htpasswd::generate`]) need no slow hash, as 256
//! random bits cannot be guessed: they are checked against their SHA-256 in every build.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::constants::REALM;
use crate::error::{Error, Result};

/// Users and what their passwords are checked against.
#[derive(Default)]
pub struct Htpasswd {
    users: HashMap<String, Verifier>,
    verified: Mutex<HashMap<String, lading_oci::Digest>>,
}

/// What a user's password must match.
enum Verifier {
    /// A bcrypt hash from an htpasswd file.
    Bcrypt(String),
    /// The SHA-256 of a password made up here (256 random bits).
    Sha256(lading_oci::Digest),
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htpasswd")
            .field("users", &self.users.len())
            .finish()
    }
}

impl Htpasswd {
    /// Reads an htpasswd file (`user:$2y$...` lines; blank lines and `#` comments skipped).
    pub fn load(path: &Path) -> Result<Htpasswd> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Htpasswd::parse(&text).map_err(|(line, reason)| Error::Htpasswd {
            path: path.to_path_buf(),
            line,
            reason,
        })
    }

    /// Parses htpasswd text; the error is the 1-based line and why.
    pub fn parse(text: &str) -> std::result::Result<Htpasswd, (usize, String)> {
        if cfg!(feature = "fips") {
            return Err((
                0,
                "bcrypt password hashes (htpasswd -B) are not FIPS-approved; this lading build runs in FIPS mode and refuses them: protect the registry with a bearer token (--token-file) instead".into(),
            ));
        }
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err((i + 1, "expected user:hash".into()));
            };
            if user.is_empty() {
                return Err((i + 1, "empty user name".into()));
            }
            if !["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
                return Err((
                    i + 1,
                    format!("user {user:?}: only bcrypt hashes are supported (htpasswd -B)"),
                ));
            }
            users.insert(user.to_string(), Verifier::Bcrypt(hash.to_string()));
        }
        if users.is_empty() {
            return Err((0, "no users".into()));
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// One user, `user`, with a password made up here: 32 bytes from the operating
    /// system's random source, hex-encoded. For a server that lives as long as one
    /// command (`lading scan` serving its image to external scanners): the caller hands
    /// the [`Credentials`] to its clients and they die with the server.
    ///
    /// The password is kept as its SHA-256: a slow hash slows down guessing
    /// low-entropy passwords, and 256 random bits cannot be guessed at any speed. The
    /// random bytes come from AWS-LC's generator (the FIPS module's in a `fips` build).
    pub fn generate(user: &str) -> Result<(Htpasswd, Credentials)> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| Error::Random {
            reason: "the random generator failed".into(),
        })?;
        let password = Zeroizing::new(hex_encode(bytes.as_ref()));
        let mut users = HashMap::new();
        users.insert(
            user.to_string(),
            Verifier::Sha256(lading_oci::Digest::of(password.as_bytes())),
        );
        let htpasswd = Htpasswd {
            users,
            verified: Mutex::new(HashMap::new()),
        };
        Ok((
            htpasswd,
            Credentials {
                username: user.to_string(),
                password,
            },
        ))
    }

    /// Whether `password` is `user`'s (bcrypt: slow on the first success per user).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let hash = match self.users.get(user) {
            None => return false,
            Some(Verifier::Sha256(expected)) => {
                let actual = lading_oci::Digest::of(password.as_bytes());
                return constant_time_eq(actual.hex().as_bytes(), expected.hex().as_bytes());
            }
            Some(Verifier::Bcrypt(hash)) => hash,
        };
        let fingerprint = lading_oci::Digest::of(format!("{user}\0{password}").as_bytes());
        if let Ok(cache) = self.verified.lock()
            && cache.get(user) == Some(&fingerprint)
        {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok && let Ok(mut cache) = self.verified.lock() {
            cache.insert(user.to_string(), fingerprint);
        }
        ok
    }
}

/// A user name and password for HTTP Basic authentication. The password is wiped from
/// memory when dropped and never shown by `Debug`.
pub struct Credentials {
    username: String,
    password: Zeroizing<String>,
}

impl Credentials {
    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password: hand it to a client through its environment, never its command line
    /// (other users can read command lines in `ps`).
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// How clients must authenticate.
#[derive(Debug, Default)]
pub struct Auth {
    /// HTTP Basic against these users.
    pub htpasswd: Option<Htpasswd>,
    /// `Authorization: Bearer <token>` with this token.
    pub token: Option<String>,
}

impl Auth {
    /// Reads a token file (surrounding white space ignored).
    pub fn load_token(path: &Path) -> Result<String> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let token = text.trim().to_string();
        if token.is_empty() {
            return Err(Error::EmptyToken {
                path: path.to_path_buf(),
            });
        }
        Ok(token)
    }

    /// Whether any method is configured.
    pub fn is_enabled(&self) -> bool {
        self.htpasswd.is_some() || self.token.is_some()
    }

    /// Whether an `Authorization` header value is acceptable.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        if !self.is_enabled() {
            return true;
        }
        let Some(value) = authorization else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic")
            && let Some(users) = &self.htpasswd
        {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            let Ok(text) = String::from_utf8(bytes) else {
                return false;
            };
            let Some((user, password)) = text.split_once(':') else {
                return false;
            };
            return users.verify(user, password);
        }
        if scheme.eq_ignore_ascii_case("bearer")
            && let Some(token) = &self.token
        {
            return constant_time_eq(rest.as_bytes(), token.as_bytes());
        }
        false
    }

    /// The `WWW-Authenticate` challenge for a 401.
    pub fn challenge(&self) -> String {
        if self.htpasswd.is_some() {
            format!("Basic realm=\"{REALM}\"")
        } else {
            format!("Bearer realm=\"{REALM}\"")
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[cfg(not(feature = "fips"))]
    #[test]
    fn basic_auth_against_bcrypt() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Htpasswd::parse(&format!("# comment\n\nalice:{hash}\n")).unwrap();
        let auth = Auth {
            htpasswd: Some(users),
            token: None,
        };
        assert!(auth.check(Some(&basic("alice", "s3cret"))));
        assert!(auth.check(Some(&basic("alice", "s3cret"))), "cached path");
        assert!(!auth.check(Some(&basic("alice", "wrong"))));
        assert!(!auth.check(Some(&basic("bob", "s3cret"))));
        assert!(!auth.check(Some("Basic !!!")));
        assert!(!auth.check(Some("Bearer s3cret")));
        assert!(!auth.check(None));
        assert_eq!(auth.challenge(), "Basic realm=\"lading\"");
    }

    #[test]
    fn generated_credentials_verify_and_differ() {
        let (users, creds) = Htpasswd::generate("scanner").unwrap();
        let (_, other) = Htpasswd::generate("scanner").unwrap();
        assert_eq!(creds.username(), "scanner");
        assert_eq!(creds.password().len(), 64);
        assert_ne!(creds.password(), other.password());
        let auth = Auth {
            htpasswd: Some(users),
            token: None,
        };
        assert!(auth.check(Some(&basic("scanner", creds.password()))));
        assert!(!auth.check(Some(&basic("scanner", other.password()))));
        assert!(!auth.check(None));
        let shown = format!("{creds:?}");
        assert!(!shown.contains(creds.password()), "{shown}");
    }

    #[cfg(feature = "fips")]
    #[test]
    fn fips_build_refuses_bcrypt_htpasswd_by_name() {
        let hash = "$2y$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
        let (_, reason) = Htpasswd::parse(&format!("alice:{hash}\n")).err().unwrap();
        assert!(reason.contains("bcrypt"), "{reason}");
        assert!(reason.contains("not FIPS-approved"), "{reason}");
    }

    #[test]
    fn htpasswd_refuses_what_it_cannot_verify() {
        assert!(Htpasswd::parse("alice:{SHA}abc").is_err());
        assert!(Htpasswd::parse("alice:$apr1$x$y").is_err());
        assert!(Htpasswd::parse("no colon").is_err());
        assert!(Htpasswd::parse("").is_err());
    }

    #[test]
    fn bearer_token() {
        let auth = Auth {
            htpasswd: None,
            token: Some("tok".into()),
        };
        assert!(auth.check(Some("Bearer tok")));
        assert!(!auth.check(Some("Bearer toke")));
        assert!(!auth.check(Some(&basic("u", "tok"))));
        assert!(Auth::default().check(None));
    }
}
