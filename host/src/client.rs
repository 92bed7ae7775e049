//! `ApiClient`: the command line's HTTP client for a running host.

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
        /// Transport error.
        error: String,
    },
    /// The host answered with an error (its problem detail).
    #[error("{status}: {detail}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The problem's `detail`, or the body.
        detail: String,
        /// The whole problem document.
        body: Value,
    },
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

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send("GET", path, None, None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(
            "POST",
            path,
            Some(body.to_string().into_bytes()),
            Some("application/json"),
        )
    }

    /// `PUT path` with raw bytes.
    pub fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> Result<Value, ClientError> {
        self.send("PUT", path, Some(bytes), Some("application/wasm"))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send("DELETE", path, None, None)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{}", self.base, path);
        let unreachable = |e: &dyn std::fmt::Display| ClientError::Unreachable {
            url: url.clone(),
            error: e.to_string(),
        };
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let request = builder
            .body(body.unwrap_or_default())
            .map_err(|e| unreachable(&e))?;
        let mut response = self.agent.run(request).map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .map_err(|e| unreachable(&e))?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        if status >= 400 {
            let detail = value["detail"].as_str().map(str::to_owned).unwrap_or(text);
            return Err(ClientError::Api {
                status,
                detail,
                body: value,
            });
        }
        Ok(value)
    }
}
