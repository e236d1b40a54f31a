//! The OIDC identity token Fulcio exchanges for a certificate. It is a bearer credential:
//! kept in a [`Zeroizing`] buffer, never printed ([`IdentityToken`]'s `Debug` is
//! redacted), never written to a file. Only its claims (issuer, subject) are shown.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The audience Fulcio expects (and GitHub Actions is asked for).
pub const SIGSTORE_AUDIENCE: &str = "sigstore";
/// GitHub Actions: the URL to request an ID token from.
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// GitHub Actions: the bearer token for that request.
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// The claims lading reads (unverified: Fulcio verifies the token).
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `email`, when the issuer gives one.
    #[serde(default)]
    pub email: Option<String>,
    /// `email_verified`.
    #[serde(default)]
    pub email_verified: Option<bool>,
}

impl Claims {
    /// The value whose signature proves possession of the key: the verified email when
    /// there is one, else `sub` (as sigstore-go's `SubjectFromUnverifiedToken`).
    pub fn subject(&self) -> &str {
        match (&self.email, self.email_verified) {
            (Some(e), Some(true)) => e,
            _ => &self.sub,
        }
    }
}

/// An OIDC identity token (a JWT).
pub struct IdentityToken {
    jwt: Zeroizing<String>,
    claims: Claims,
}

impl std::fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToken")
            .field("token", &"[redacted]")
            .field("claims", &self.claims)
            .finish()
    }
}

fn invalid(reason: &str) -> Error {
    Error::Invalid {
        what: "identity token",
        reason: reason.to_string(),
    }
}

impl IdentityToken {
    /// Reads a compact JWT (`header.payload.signature`); its claims must decode.
    pub fn parse(jwt: Zeroizing<String>) -> Result<IdentityToken> {
        let token = jwt.trim();
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a JWT (three dot-separated parts)"));
        };
        let json = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .map_err(|_| invalid("the claims are not base64url"))?,
        );
        let claims: Claims = serde_json::from_slice(&json)
            .map_err(|_| invalid("the claims lack iss or sub, or are not JSON"))?;
        Ok(IdentityToken {
            jwt: Zeroizing::new(token.to_string()),
            claims,
        })
    }

    /// `--identity-token`'s value: a file holding the token, or the token itself (as
    /// cosign). An existing file wins, so a file name with dots is never taken for a JWT;
    /// the value is never echoed.
    pub fn from_flag(value: &str) -> Result<IdentityToken> {
        let path = std::path::Path::new(value);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid {
                what: "identity token",
                reason: format!("reading the --identity-token file: {e}"),
            })?;
            return IdentityToken::parse(Zeroizing::new(text));
        }
        if looks_like_jwt(value) {
            return IdentityToken::parse(Zeroizing::new(value.to_string()));
        }
        Err(invalid(
            "--identity-token is neither a JWT nor a readable file",
        ))
    }

    /// In GitHub Actions (`id-token: write`): the token requested from
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` with audience `sigstore`. `None` outside Actions.
    pub fn from_github_actions(
        client: &reqwest::blocking::Client,
    ) -> Result<Option<IdentityToken>> {
        let (Ok(url), Ok(bearer)) = (
            std::env::var(ACTIONS_ID_TOKEN_REQUEST_URL),
            std::env::var(ACTIONS_ID_TOKEN_REQUEST_TOKEN),
        ) else {
            return Ok(None);
        };
        let bearer = Zeroizing::new(bearer);
        let http = |reason: String| Error::Http {
            what: "the GitHub Actions ID token request",
            reason,
        };
        // The URL already has a query (`?api-version=…`).
        let sep = if url.contains('?') { '&' } else { '?' };
        let response = client
            .get(format!("{url}{sep}audience={SIGSTORE_AUDIENCE}"))
            .bearer_auth(bearer.as_str())
            .send()
            .map_err(|e| http(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(http(format!("status {status}")));
        }
        #[derive(Deserialize)]
        struct Answer {
            value: String,
        }
        let body = Zeroizing::new(response.bytes().map_err(|e| http(e.to_string()))?.to_vec());
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|_| http("the answer has no `value`".into()))?;
        IdentityToken::parse(Zeroizing::new(answer.value)).map(Some)
    }

    /// The JWT, to send to Fulcio.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// Its (unverified) claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

/// Three base64url parts: a token given inline rather than a file name.
fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.trim().split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn claims_subject_and_redaction() {
        let t = IdentityToken::from_flag(&jwt(r#"{"iss":"https://i","sub":"s","aud":"sigstore"}"#))
            .unwrap();
        assert_eq!(t.claims().subject(), "s");
        assert_eq!(t.claims().iss, "https://i");
        assert!(!format!("{t:?}").contains(t.jwt()));
        let t = IdentityToken::from_flag(&jwt(
            r#"{"iss":"https://i","sub":"s","email":"a@b","email_verified":true}"#,
        ))
        .unwrap();
        assert_eq!(t.claims().subject(), "a@b");
        assert!(IdentityToken::parse(Zeroizing::new("a.b".into())).is_err());
        assert!(IdentityToken::parse(Zeroizing::new(jwt(r#"{"sub":"s"}"#))).is_err());
    }

    #[test]
    fn a_file_holds_the_token() {
        let dir = std::env::temp_dir().join(format!("lading-oidc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("my.id.token");
        std::fs::write(&path, jwt(r#"{"iss":"https://i","sub":"file"}"#) + "\n").unwrap();
        let t = IdentityToken::from_flag(path.to_str().unwrap()).unwrap();
        assert_eq!(t.claims().sub, "file");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = IdentityToken::from_flag("/nonexistent/token").unwrap_err();
        assert!(err.to_string().contains("neither a JWT"), "{err}");
    }
}
