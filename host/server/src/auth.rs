//! Bearer tokens and their scopes.
//!
//! Scopes are ordered: `admin` includes `submit`, which includes `read`. Secrets are compared in
//! constant time. With no tokens configured every request is allowed; the server then refuses
//! to listen on anything but loopback (see `server`).

use reef_core::config::{AuthConfig, ConfigError};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read jobs, logs, results, runners.
    Read,
    /// Also submit, cancel and retry jobs.
    Submit,
    /// Also manage policies and configuration.
    Admin,
}

impl Scope {
    /// Parses a scope name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "submit" => Some(Self::Submit),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Submit => "submit",
            Self::Admin => "admin",
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("this endpoint needs a bearer token (Authorization: Bearer <token>)")]
    Missing,
    /// The token matches none configured.
    #[error("the bearer token is not valid")]
    Invalid,
    /// The token lacks the scope.
    #[error("token '{name}' lacks the '{needed}' scope")]
    Forbidden {
        /// Holder of the token.
        name: String,
        /// The scope needed.
        needed: &'static str,
    },
}

struct Token {
    name: String,
    secret: Vec<u8>,
    scope: Scope,
}

/// Checks bearer tokens.
pub struct Authenticator {
    tokens: Vec<Token>,
}

impl Authenticator {
    /// Builds the token list, reading `token_env` variables through `env`.
    pub fn from_config(
        config: &AuthConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut tokens = Vec::new();
        for (i, t) in config.tokens.iter().enumerate() {
            let field = |f: &str| format!("auth.tokens[{i}].{f}");
            let secret = match (&t.token, &t.token_env) {
                (Some(secret), None) => secret.clone(),
                (None, Some(var)) => env(var).ok_or_else(|| {
                    ConfigError::invalid(
                        field("token_env"),
                        format!("environment variable {var} is not set"),
                    )
                })?,
                _ => {
                    return Err(ConfigError::invalid(
                        field("token"),
                        "set exactly one of token and token_env",
                    ));
                }
            };
            if secret.len() < 16 {
                return Err(ConfigError::invalid(
                    field("token"),
                    "tokens must be at least 16 characters long",
                ));
            }
            let mut scope = None;
            for s in &t.scopes {
                let parsed = Scope::parse(s).ok_or_else(|| {
                    ConfigError::invalid(
                        field("scopes"),
                        format!("unknown scope {s:?} (expected read, submit or admin)"),
                    )
                })?;
                scope = scope.max(Some(parsed));
            }
            let scope = scope
                .ok_or_else(|| ConfigError::invalid(field("scopes"), "grant at least one scope"))?;
            tokens.push(Token {
                name: t.name.clone(),
                secret: secret.into_bytes(),
                scope,
            });
        }
        Ok(Self { tokens })
    }

    /// True when tokens are configured (requests must then carry one).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks an `Authorization` header value for `needed`; returns the token's name.
    pub fn authorize(
        &self,
        header: Option<&str>,
        needed: Scope,
    ) -> Result<Option<String>, AuthError> {
        self.caller(header, needed).map(|caller| caller.name)
    }

    /// Who presents `header` and what they may do, if that covers `needed`. Without tokens
    /// configured, an anonymous caller who may do everything.
    pub fn caller(&self, header: Option<&str>, needed: Scope) -> Result<Caller, AuthError> {
        if !self.enabled() {
            return Ok(Caller {
                name: None,
                scope: Scope::Admin,
            });
        }
        let presented = header
            .and_then(bearer_credentials)
            .ok_or(AuthError::Missing)?;
        // Compare against every token so timing does not reveal which one nearly matched.
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.secret.as_slice().ct_eq(presented.as_bytes())) {
                found = Some(token);
            }
        }
        let token = found.ok_or(AuthError::Invalid)?;
        if token.scope < needed {
            return Err(AuthError::Forbidden {
                name: token.name.clone(),
                needed: needed.as_str(),
            });
        }
        Ok(Caller {
            name: Some(token.name.clone()),
            scope: token.scope,
        })
    }
}

/// An authorized caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The token's name; `None` when no tokens are configured.
    pub name: Option<String>,
    /// What the token may do (`admin` without tokens).
    pub scope: Scope,
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme name is
/// case-insensitive (RFC 9110 §11.1), and one or more spaces may separate it from the token.
fn bearer_credentials(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_matches(' ');
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reef_core::config::TokenConfig;

    fn auth() -> Authenticator {
        let config = AuthConfig {
            tokens: vec![
                TokenConfig {
                    name: "viewer".into(),
                    token: Some("r".repeat(20)),
                    token_env: None,
                    scopes: vec!["read".into()],
                },
                TokenConfig {
                    name: "ci".into(),
                    token: None,
                    token_env: Some("CI_TOKEN".into()),
                    scopes: vec!["submit".into()],
                },
            ],
        };
        Authenticator::from_config(&config, |v| (v == "CI_TOKEN").then(|| "s".repeat(20))).unwrap()
    }

    #[test]
    fn scopes_are_ordered_and_checked() {
        let a = auth();
        let read = format!("Bearer {}", "r".repeat(20));
        let submit = format!("Bearer {}", "s".repeat(20));
        assert_eq!(
            a.authorize(Some(&read), Scope::Read),
            Ok(Some("viewer".into()))
        );
        assert!(matches!(
            a.authorize(Some(&read), Scope::Submit),
            Err(AuthError::Forbidden { .. })
        ));
        assert_eq!(
            a.authorize(Some(&submit), Scope::Read),
            Ok(Some("ci".into()))
        );
        assert_eq!(
            a.authorize(Some(&submit), Scope::Admin).unwrap_err(),
            AuthError::Forbidden {
                name: "ci".into(),
                needed: "admin"
            }
        );
        assert_eq!(a.authorize(None, Scope::Read), Err(AuthError::Missing));
        assert_eq!(
            a.authorize(Some("Bearer nope"), Scope::Read),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn the_scheme_name_is_case_insensitive() {
        let a = auth();
        let secret = "r".repeat(20);
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                a.authorize(Some(&format!("{scheme} {secret}")), Scope::Read),
                Ok(Some("viewer".into())),
                "{scheme}"
            );
        }
        assert_eq!(
            a.authorize(Some(&format!("Bearer   {secret}")), Scope::Read),
            Ok(Some("viewer".into()))
        );
        for other in [
            format!("Basic {secret}"),
            format!("Bearer{secret}"),
            "Bearer ".into(),
        ] {
            assert_eq!(
                a.authorize(Some(&other), Scope::Read),
                Err(AuthError::Missing),
                "{other}"
            );
        }
    }

    #[test]
    fn bad_token_config_names_the_field() {
        let config = AuthConfig {
            tokens: vec![TokenConfig {
                name: "x".into(),
                token: Some("short".into()),
                token_env: None,
                scopes: vec!["read".into()],
            }],
        };
        let err = Authenticator::from_config(&config, |_| None).err().unwrap();
        assert!(err.to_string().starts_with("auth.tokens[0].token"), "{err}");
        assert!(
            !Authenticator::from_config(&AuthConfig::default(), |_| None)
                .unwrap()
                .enabled()
        );
    }
}
