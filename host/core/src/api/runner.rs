//! `GET /v1/runners/{name}`: one runner with its parameters declared in full, so that a client
//! can build a form for it (a select for `values`, a checked field for `pattern`).

use super::RunnerView;
use crate::config::ParamKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A runner and its declared parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunnerDetail {
    /// What `GET /v1/runners` shows of it.
    #[serde(flatten)]
    pub runner: RunnerView,
    /// Each declared parameter by name.
    pub parameters: BTreeMap<String, ParamView>,
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParamView {
    /// The caller must give a value (moot with a default).
    pub required: bool,
    /// Value used when the caller gives none.
    pub default: Option<String>,
    /// The only accepted values: the configured list, or what `values_from` finds now.
    pub values: Option<Vec<String>>,
    /// The glob (relative to the runner's workdir) the accepted values come from.
    pub values_from: Option<String>,
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    /// Longest accepted value in bytes.
    pub max_len: usize,
    /// `text` or `path`.
    #[schema(value_type = String)]
    pub kind: ParamKind,
}
