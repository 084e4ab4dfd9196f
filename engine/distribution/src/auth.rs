//! Credentials and the registry authentication flow.
//!
//! A registry answers an unauthenticated request with 401 and a `WWW-Authenticate`
//! challenge: `Basic realm="…"` means "send the username and password with every request";
//! `Bearer realm="…",service="…",scope="…"` means "get a token from the realm for these
//! scopes and send that". Anonymous access is the bearer flow without credentials.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Credentials as Docker passes them: the base64url JSON of `X-Registry-Auth`, and the body
/// of `POST /auth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// A refresh token from an earlier login (OAuth registries).
    #[serde(
        default,
        rename = "identitytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
    /// A bearer token to send as is.
    #[serde(
        default,
        rename = "registrytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub registry_token: String,
    #[serde(
        default,
        rename = "serveraddress",
        skip_serializing_if = "String::is_empty"
    )]
    pub server_address: String,
}

impl Credentials {
    /// Decodes an `X-Registry-Auth` header. Docker sends base64url (with or without
    /// padding); older clients standard base64. An empty object means anonymous.
    pub fn from_header(value: &str) -> Result<Option<Credentials>, Error> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(value).ok())
            .ok_or_else(|| Error::Invalid("invalid X-Registry-Auth header: not base64".into()))?;
        let credentials: Credentials = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("invalid X-Registry-Auth header: {e}")))?;
        Ok((!credentials.is_anonymous()).then_some(credentials))
    }

    /// The header value for these credentials (what the CLI sends).
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).expect("credentials serialize");
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    pub(crate) fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value: a scheme, then `key=value` parameters (values may be
/// quoted, with backslash escapes). Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

fn parse_params(mut text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    loop {
        text = text.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(eq) = text.find('=') else {
            return params;
        };
        let key = text[..eq].trim().to_string();
        text = text[eq + 1..].trim_start();
        let value = if let Some(quoted) = text.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            text = &quoted[end.min(quoted.len())..];
            value
        } else {
            let end = text.find(',').unwrap_or(text.len());
            let value = text[..end].trim().to_string();
            text = &text[end..];
            value
        };
        params.push((key, value));
    }
}

/// The answer of a token server.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
}

impl TokenResponse {
    pub(crate) fn into_token(self) -> Option<String> {
        [self.token, self.access_token]
            .into_iter()
            .find(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://a/t, service = "x\"y""#),
            Some(Challenge::Bearer {
                realm: "http://a/t".into(),
                service: Some("x\"y".into()),
                scope: None,
            })
        );
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn decodes_registry_auth_headers() {
        let creds = Credentials {
            username: "u".into(),
            password: "p?>".into(),
            server_address: "localhost:5000".into(),
            ..Default::default()
        };
        let header = creds.to_header();
        assert_eq!(Credentials::from_header(&header).unwrap(), Some(creds));
        let no_pad = header.trim_end_matches('=');
        assert!(Credentials::from_header(no_pad).unwrap().is_some());
        assert_eq!(Credentials::from_header("e30=").unwrap(), None);
        assert_eq!(Credentials::from_header("").unwrap(), None);
        assert!(Credentials::from_header("!!!").is_err());
        assert_eq!(
            Credentials {
                username: "aladdin".into(),
                password: "opensesame".into(),
                ..Default::default()
            }
            .basic_header(),
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
        );
    }
}
