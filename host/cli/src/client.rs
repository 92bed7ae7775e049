//! `ApiClient`: the command line's HTTP client for a running host.
//!
//! Answers are parsed into the API's own types (`reef_core::api`, the records of
//! `reef_core::model`), the ones the server serialises, so a field the two sides disagree on is
//! a compile error or a clear decode error, never a silent `null`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// Where the host is and how to authenticate.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host could not be reached.
    #[error("cannot reach reef at {url}: {error}")]
    Unreachable {
        /// URL called.
        url: String,
        /// Transport error, on one line.
        error: String,
    },
    /// The host answered with an error (its problem detail).
    #[error("{detail} (HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The problem's `detail`, or the body.
        detail: String,
        /// The whole problem document.
        body: Value,
    },
    /// The host answered, but not with what this client expects (a host of another version).
    #[error("unexpected answer from {url}: {error}")]
    Unexpected {
        /// URL called.
        url: String,
        /// What could not be read.
        error: String,
    },
}

impl ClientError {
    /// True when the host is away for a while rather than refusing: unreachable (restarting)
    /// or answering 503 (stopping, or its storage briefly failing).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Api { status: 503, .. }
        )
    }
}

/// How long a follower (`submit --wait`, `logs -f`) rides out a host that is away: long enough
/// for a restart or an upgrade, which leave running attempts alone.
pub const FOLLOW_GRACE: Duration = Duration::from_secs(120);

/// A chunk of a log, as `GET /v1/jobs/{id}/logs` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The bytes from the requested offset.
    pub bytes: Vec<u8>,
    /// The log file's size when it was read (`X-Reef-Log-Size`).
    pub size: u64,
}

/// A raw answer: status, the headers the callers look at, and the body.
struct Raw {
    status: u16,
    log_size: Option<u64>,
    body: Vec<u8>,
}

impl ApiClient {
    /// A client for the host at `base` (e.g. `http://127.0.0.1:7878`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    /// `GET path`, its answer parsed as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send("GET", path, None, None, &[])
    }

    /// `POST path` with a JSON body.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.post_with(path, body, &[])
    }

    /// `POST path` with a JSON body and extra headers (e.g. `Idempotency-Key`).
    pub fn post_with<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        headers: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Unexpected {
            url: format!("{}{path}", self.base),
            error: format!("the request cannot be written: {e}"),
        })?;
        self.send("POST", path, Some(body), Some("application/json"), headers)
    }

    /// `PUT path` with raw bytes.
    pub fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<T, ClientError> {
        self.send("PUT", path, Some(bytes), Some("application/wasm"), &[])
    }

    /// `DELETE path` (answered without a body).
    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        let raw = self.fetch("DELETE", path, None, None, &[])?;
        if raw.status >= 400 {
            return Err(api_error(raw.status, &raw.body));
        }
        Ok(())
    }

    /// `GET path`, retried while the host is away ([`ClientError::is_transient`]) for up to
    /// `grace`; a follower uses it so that a host restart does not end the follow.
    pub fn get_patiently<T: DeserializeOwned>(
        &self,
        path: &str,
        grace: Duration,
    ) -> Result<T, ClientError> {
        let deadline = std::time::Instant::now() + grace;
        let mut told = false;
        loop {
            match self.get(path) {
                Err(error) if error.is_transient() && std::time::Instant::now() < deadline => {
                    if !told {
                        eprintln!("reef: {error}; retrying for up to {grace:?}");
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                answer => return answer,
            }
        }
    }

    /// `GET path`, the body's bytes as they are (a CSV, a log).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.get_log(path).map(|chunk| chunk.bytes)
    }

    /// `GET path` of a log: its bytes as they are (a log need not be UTF-8) and the file's size.
    pub fn get_log(&self, path: &str) -> Result<LogChunk, ClientError> {
        let raw = self.fetch("GET", path, None, None, &[])?;
        if raw.status >= 400 {
            return Err(api_error(raw.status, &raw.body));
        }
        let size = raw.log_size.unwrap_or(raw.body.len() as u64);
        Ok(LogChunk {
            bytes: raw.body,
            size,
        })
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let raw = self.fetch(method, path, body, content_type, headers)?;
        if raw.status >= 400 {
            return Err(api_error(raw.status, &raw.body));
        }
        serde_json::from_slice(&raw.body).map_err(|e| ClientError::Unexpected {
            url: format!("{}{path}", self.base),
            error: e.to_string(),
        })
    }

    fn fetch(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Raw, ClientError> {
        let url = format!("{}{}", self.base, path);
        let unreachable = |e: &dyn std::fmt::Display| ClientError::Unreachable {
            url: url.clone(),
            // One line, whatever the transport's message looks like.
            error: e.to_string().lines().collect::<Vec<_>>().join(" "),
        };
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body.unwrap_or_default())
            .map_err(|e| unreachable(&e))?;
        let mut response = self.agent.run(request).map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let log_size = response
            .headers()
            .get("x-reef-log-size")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| unreachable(&e))?;
        Ok(Raw {
            status,
            log_size,
            body: bytes,
        })
    }
}

/// The body as JSON; a body that is not JSON becomes a string, an empty one `null`.
fn json_of(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
    }
}

fn api_error(status: u16, body: &[u8]) -> ClientError {
    let value = json_of(body);
    let detail = match value["detail"].as_str() {
        Some(detail) => detail.to_owned(),
        None => String::from_utf8_lossy(body).trim().to_owned(),
    };
    ClientError::Api {
        status,
        detail,
        body: value,
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_gives_its_detail_and_other_bodies_their_text() {
        let problem =
            br#"{"type":"t","title":"Not Found","status":404,"detail":"job x does not exist"}"#;
        match api_error(404, problem) {
            ClientError::Api { status, detail, .. } => {
                assert_eq!((status, detail.as_str()), (404, "job x does not exist"));
            }
            other => panic!("{other:?}"),
        }
        match api_error(502, b"bad gateway\n") {
            ClientError::Api { detail, body, .. } => {
                assert_eq!(detail, "bad gateway");
                assert_eq!(body, Value::String("bad gateway\n".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode("team=eval a/b"), "team%3Deval%20a%2Fb");
        assert_eq!(encode("sha256:ab"), "sha256:ab");
    }

    #[test]
    fn an_unreachable_host_is_one_line() {
        // Port 9 on loopback: nothing listens there in a test environment.
        let client = ApiClient::new("http://127.0.0.1:9", None);
        let error = client.get::<Value>("/v1/jobs").unwrap_err();
        assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
        let text = error.to_string();
        assert!(text.starts_with("cannot reach reef at http://127.0.0.1:9/v1/jobs"));
        assert!(!text.contains('\n'), "{text}");
    }
}
