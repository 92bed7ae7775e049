//! The API's requests and answers: what `reef serve` accepts and returns, and what the `reef`
//! client parses. Server and client share these types (as pueue's daemon and client share one
//! message crate), so a field cannot mean one thing on one side and another on the other.
//!
//! The limits the server enforces on them (labels, names, pages) are stated here too, and the
//! OpenAPI schemas of these types say the same.

pub mod policy;
pub mod results;
pub mod runner;
pub mod sweep;

use crate::job_id::JobId;
use crate::model::{Attempt, Job};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};

/// Most labels on one job.
pub const MAX_LABELS: usize = 32;
/// Longest label key or tenant name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest label value.
pub const MAX_LABEL_VALUE_LEN: usize = 256;
/// Largest page of a job listing.
pub const MAX_PAGE: usize = 1000;
/// Default page size of a job listing.
pub const DEFAULT_PAGE: usize = 50;
/// Most log bytes returned by one call (the caller continues with `offset`).
pub const MAX_LOG_CHUNK: u64 = 4 * 1024 * 1024;

/// `POST /v1/jobs` body.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Runner name.
    pub runner: String,
    /// Parameter values (strings, numbers or booleans).
    #[serde(default)]
    #[schema(schema_with = params_schema)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Labels: at most 32; keys of 1 to 64 letters, digits, `_`, `.`, `-`, `/`; values of at most
    /// 256 bytes without NUL.
    #[serde(default)]
    #[schema(schema_with = labels_schema)]
    pub labels: BTreeMap<String, String>,
    /// Priority; higher runs sooner (a 32-bit integer).
    #[serde(default, deserialize_with = "crate::json_integer::optional")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    pub priority: Option<i32>,
    /// Tenant (default `default`): 1 to 64 letters, digits, `_`, `.`, `-`, `/`.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_./-]{1,64}$", max_length = 64)]
    pub tenant: Option<String>,
}

/// A job with its attempts and latest result, as `GET /v1/jobs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Its attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// The result of the latest attempt that produced one.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobPage {
    /// The jobs, newest first.
    pub jobs: Vec<Job>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<JobId>,
}

/// A runner as `GET /v1/runners` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunnerView {
    /// Name.
    pub name: String,
    /// Argv template.
    pub command: Vec<String>,
    /// Per-runner concurrency.
    pub max_concurrency: Option<u32>,
    /// Attempt timeout, e.g. "60s".
    pub timeout: String,
    /// Attempts per job.
    pub max_attempts: u32,
    /// Resource pools held.
    pub resources: Vec<String>,
    /// Declared parameter names.
    pub params: Vec<String>,
    /// The executor its attempts run on.
    #[serde(default = "local")]
    pub executor: String,
}

fn local() -> String {
    crate::executor::LOCAL.to_owned()
}

/// `GET /v1/whoami`: who the caller's token belongs to and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Whoami {
    /// The token's name, or `anonymous` when the host has no tokens.
    pub name: String,
    /// `read`, `submit` or `admin` (`admin` when the host has no tokens).
    pub scope: String,
    /// Whether the host requires tokens.
    pub auth: bool,
}

/// A log stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The characters of tenant names and label keys, besides ASCII letters and digits.
pub const NAME_PUNCTUATION: &str = "_.-/";

/// The schema of a submit's `params`: scalar values by name.
pub fn params_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(param_value_schema()))
        .build()
}

/// One parameter value as a submit takes it: a string, a number or a boolean.
fn param_value_schema() -> RefOr<Schema> {
    let scalar = |kind: Type| ObjectBuilder::new().schema_type(kind).build();
    let value = OneOfBuilder::new()
        .item(scalar(Type::String))
        .item(scalar(Type::Number))
        .item(scalar(Type::Boolean))
        .build();
    RefOr::T(Schema::OneOf(value))
}

/// The schema of a sweep's `matrix`: at least one parameter, each with a list of distinct
/// values as a submit's `params` takes them.
pub fn matrix_schema() -> Object {
    let values = utoipa::openapi::schema::ArrayBuilder::new()
        .items(param_value_schema())
        .min_items(Some(1))
        .unique_items(true)
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(RefOr::T(Schema::Array(values))))
        .min_properties(Some(1))
        .build()
}

/// The schema of a submit's `labels`, with the rules the server enforces.
pub fn labels_schema() -> Object {
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_LABEL_VALUE_LEN))
        .pattern(Some(r"^[^\x00]*$"));
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[A-Za-z0-9_./-]{{1,{MAX_NAME_LEN}}}$")))
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(value))
        .property_names(Some(key))
        .max_properties(Some(MAX_LABELS))
        .build()
}
