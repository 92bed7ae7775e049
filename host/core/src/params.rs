//! Declared runner parameters and the validation of a submitted job's values against them.

use crate::config::{ParamConfig, ParamKind};
use crate::confined_path::{self, PathEscape};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest parameter value accepted when a parameter sets no `max_len`.
pub const DEFAULT_MAX_LEN: usize = 256;

/// One declared parameter, compiled.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    required: bool,
    default: Option<String>,
    values: Option<Vec<String>>,
    pattern: Option<Regex>,
    max_len: usize,
    kind: ParamKind,
    values_from: Option<String>,
}

/// Why a submitted parameter was refused; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent.
    #[error("param '{0}' is required")]
    Missing(String),
    /// The runner declares no such parameter.
    #[error("param '{name}' is not declared by runner '{runner}' (declared: {declared})")]
    Unknown {
        /// The parameter.
        name: String,
        /// The runner.
        runner: String,
        /// Comma-separated declared names.
        declared: String,
    },
    /// The value is an object, array or null.
    #[error("param '{0}' must be a string, number or boolean")]
    NotScalar(String),
    /// A `path` parameter that is not a relative path inside the workdir.
    #[error("param '{name}' {problem} (got {value:?})")]
    Path {
        /// The parameter.
        name: String,
        /// The value.
        value: String,
        /// What is wrong with it.
        problem: PathEscape,
    },
    /// The value holds a NUL byte, which no command-line argument can carry.
    #[error("param '{0}' contains a NUL byte, which a command-line argument cannot carry")]
    Nul(String),
    /// The value is longer than allowed.
    #[error("param '{name}' is {len} bytes long, the limit is {max}")]
    TooLong {
        /// The parameter.
        name: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value is not one of the allowed values.
    #[error("param '{name}' must be one of {allowed:?}, got {value:?}")]
    NotAllowed {
        /// The parameter.
        name: String,
        /// The value.
        value: String,
        /// The allowed values.
        allowed: Vec<String>,
    },
    /// The value is not one of the files the parameter's `values_from` glob matches now.
    #[error("param '{name}' must be a file that {glob:?} matches in the runner's workdir, got {value:?}{}", listed_hint(.listed))]
    NotListed {
        /// The parameter.
        name: String,
        /// The value.
        value: String,
        /// The glob.
        glob: String,
        /// The first few files it matches.
        listed: Vec<String>,
    },
    /// The value does not match the pattern.
    #[error("param '{name}' value {value:?} does not match pattern {pattern}")]
    NoMatch {
        /// The parameter.
        name: String,
        /// The value.
        value: String,
        /// The pattern.
        pattern: String,
    },
}

/// ` (it matches a.yml, b.yml, ...)`, or ` (it matches no file)`.
fn listed_hint(listed: &[String]) -> String {
    const SHOWN: usize = 5;
    match listed.len() {
        0 => " (it matches no file)".to_owned(),
        n if n <= SHOWN => format!(" (it matches {})", listed.join(", ")),
        n => format!(
            " (it matches {}, and {} more)",
            listed[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

impl ParamError {
    /// The parameter the error is about.
    pub fn param(&self) -> &str {
        match self {
            Self::Missing(name) | Self::NotScalar(name) | Self::Nul(name) => name,
            Self::Unknown { name, .. }
            | Self::TooLong { name, .. }
            | Self::NotAllowed { name, .. }
            | Self::NoMatch { name, .. }
            | Self::NotListed { name, .. }
            | Self::Path { name, .. } => name,
        }
    }
}

impl ParamSpec {
    /// Compiles a declaration; the error is a human-readable problem with the declaration.
    pub fn compile(config: &ParamConfig) -> Result<Self, String> {
        let pattern = match &config.pattern {
            // Anchor the whole value: a pattern that forgets `^...$` must not let a prefix pass.
            Some(p) => {
                Some(Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("pattern {p:?}: {e}"))?)
            }
            None => None,
        };
        let max_len = config.max_len.unwrap_or(DEFAULT_MAX_LEN);
        let spec = Self {
            required: config.required,
            default: config.default.clone(),
            values: config.values.clone(),
            pattern,
            max_len,
            kind: config.kind.unwrap_or_default(),
            values_from: config.values_from.clone(),
        };
        if let Some(glob) = &spec.values_from {
            check_values_from(glob, spec.values.is_some())?;
        }
        if let Some(default) = &spec.default {
            spec.check("default", default)
                .map_err(|e| format!("default value is invalid: {e}"))?;
        }
        Ok(spec)
    }

    /// The value as the runner gets it (a path in its normal form), once every rule passed.
    fn check(&self, name: &str, given: &str) -> Result<String, ParamError> {
        if given.contains('\0') {
            return Err(ParamError::Nul(name.to_owned()));
        }
        if given.len() > self.max_len {
            return Err(ParamError::TooLong {
                name: name.to_owned(),
                len: given.len(),
                max: self.max_len,
            });
        }
        // The rules hold for what the runner will get; errors show what the caller sent.
        let value = match self.kind {
            ParamKind::Text => given.to_owned(),
            ParamKind::Path => {
                confined_path::normalise(given).map_err(|problem| ParamError::Path {
                    name: name.to_owned(),
                    value: given.to_owned(),
                    problem,
                })?
            }
        };
        if let Some(allowed) = &self.values
            && !allowed.contains(&value)
        {
            return Err(ParamError::NotAllowed {
                name: name.to_owned(),
                value: given.to_owned(),
                allowed: allowed.clone(),
            });
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(&value)
        {
            let shown = pattern.as_str();
            return Err(ParamError::NoMatch {
                name: name.to_owned(),
                value: given.to_owned(),
                pattern: shown[4..shown.len() - 2].to_owned(),
            });
        }
        Ok(value)
    }
}

/// A `values_from` glob must name files inside the workdir, and cannot be combined with a fixed
/// list of values.
fn check_values_from(glob: &str, has_values: bool) -> Result<(), String> {
    if has_values {
        return Err("values and values_from cannot both be set".to_owned());
    }
    if glob.is_empty() || glob.starts_with('/') {
        return Err(format!(
            "values_from {glob:?} must be a glob relative to the runner's workdir"
        ));
    }
    if glob.split('/').any(|part| part == "..") {
        return Err(format!(
            "values_from {glob:?} must not leave the workdir (no '..')"
        ));
    }
    glob::Pattern::new(glob).map_err(|e| format!("values_from {glob:?} is not a glob: {e}"))?;
    Ok(())
}

/// The parameters a runner declares.
#[derive(Debug, Clone, Default)]
pub struct ParamSchema {
    specs: BTreeMap<String, ParamSpec>,
}

impl ParamSchema {
    /// Compiles every declaration; errors name the parameter.
    pub fn compile(params: &BTreeMap<String, ParamConfig>) -> Result<Self, (String, String)> {
        let mut specs = BTreeMap::new();
        for (name, config) in params {
            let spec = ParamSpec::compile(config).map_err(|problem| (name.clone(), problem))?;
            specs.insert(name.clone(), spec);
        }
        Ok(Self { specs })
    }

    /// True when `name` is declared.
    pub fn declares(&self, name: &str) -> bool {
        self.specs.contains_key(name)
    }

    /// Declared names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }

    /// The parameters whose accepted values are the files a glob matches: (name, glob).
    pub fn listed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.specs
            .iter()
            .filter_map(|(name, spec)| Some((name.as_str(), spec.values_from.as_deref()?)))
    }

    /// Every declared parameter as the API shows it (a `values_from` parameter without its
    /// values, which only the filesystem can list).
    pub fn views(&self) -> BTreeMap<String, crate::api::runner::ParamView> {
        self.specs
            .iter()
            .map(|(name, spec)| {
                let pattern = spec.pattern.as_ref().map(|p| {
                    let shown = p.as_str();
                    shown[4..shown.len() - 2].to_owned()
                });
                let view = crate::api::runner::ParamView {
                    required: spec.required,
                    default: spec.default.clone(),
                    values: spec.values.clone(),
                    values_from: spec.values_from.clone(),
                    pattern,
                    max_len: spec.max_len,
                    kind: spec.kind,
                };
                (name.clone(), view)
            })
            .collect()
    }

    /// Names of the parameters declared as paths inside the workdir.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.specs
            .iter()
            .filter(|(_, spec)| spec.kind == ParamKind::Path)
            .map(|(name, _)| name.as_str())
    }

    /// Validates submitted values and fills in defaults. The result holds every declared
    /// parameter that has a value.
    pub fn resolve(
        &self,
        runner: &str,
        given: &serde_json::Map<String, Value>,
    ) -> Result<BTreeMap<String, String>, ParamError> {
        for name in given.keys() {
            if !self.specs.contains_key(name) {
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    runner: runner.to_owned(),
                    declared: self.specs.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        let mut out = BTreeMap::new();
        for (name, spec) in &self.specs {
            let value = match given.get(name) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                Some(_) => return Err(ParamError::NotScalar(name.clone())),
                None => spec.default.clone(),
            };
            match value {
                Some(value) => {
                    let value = spec.check(name, &value)?;
                    out.insert(name.clone(), value);
                }
                None if spec.required => return Err(ParamError::Missing(name.clone())),
                None => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> ParamSchema {
        let mut params = BTreeMap::new();
        params.insert(
            "benchmark".to_owned(),
            ParamConfig {
                required: true,
                pattern: Some("[a-z0-9_./-]+\\.ya?ml".to_owned()),
                ..Default::default()
            },
        );
        params.insert(
            "agent".to_owned(),
            ParamConfig {
                default: Some("deterministic".to_owned()),
                values: Some(vec!["deterministic".to_owned(), "flaky".to_owned()]),
                ..Default::default()
            },
        );
        ParamSchema::compile(&params).unwrap()
    }

    fn resolve(v: serde_json::Value) -> Result<BTreeMap<String, String>, ParamError> {
        schema().resolve("demo", v.as_object().unwrap())
    }

    #[test]
    fn defaults_fill_in_and_values_pass() {
        let out = resolve(json!({"benchmark": "a.yml"})).unwrap();
        assert_eq!(out["agent"], "deterministic");
        assert_eq!(out["benchmark"], "a.yml");
    }

    #[test]
    fn each_problem_names_the_param() {
        let cases = [
            (json!({}), "benchmark"),
            (json!({"benchmark": "a.yml", "agent": "evil"}), "agent"),
            (json!({"benchmark": "a b; rm -rf /"}), "benchmark"),
            (json!({"benchmark": "x.yml\nrm"}), "benchmark"),
            (json!({"benchmark": ["a.yml"]}), "benchmark"),
            (json!({"benchmark": "a.yml", "nope": 1}), "nope"),
            (
                json!({"benchmark": format!("{}.yml", "a".repeat(300))}),
                "benchmark",
            ),
        ];
        for (input, name) in cases {
            let err = resolve(input.clone()).unwrap_err();
            assert!(err.to_string().contains(name), "{input}: {err}");
        }
    }

    #[test]
    fn a_nul_byte_is_refused_naming_the_param() {
        let err = resolve(json!({"benchmark": "a\u{0}.yml"})).unwrap_err();
        assert_eq!(err, ParamError::Nul("benchmark".into()));
        assert_eq!(err.param(), "benchmark");
        let mut params = BTreeMap::new();
        params.insert("free".to_owned(), ParamConfig::default());
        let free = ParamSchema::compile(&params).unwrap();
        let given = json!({"free": "x\u{0}y"});
        assert_eq!(
            free.resolve("r", given.as_object().unwrap()).unwrap_err(),
            ParamError::Nul("free".into())
        );
    }

    #[test]
    fn path_params_are_relative_normalised_and_inside() {
        let mut params = BTreeMap::new();
        params.insert(
            "benchmark".to_owned(),
            ParamConfig {
                required: true,
                kind: Some(ParamKind::Path),
                pattern: Some("[A-Za-z0-9_./-]+\\.ya?ml".to_owned()),
                ..Default::default()
            },
        );
        let schema = ParamSchema::compile(&params).unwrap();
        assert_eq!(schema.paths().collect::<Vec<_>>(), ["benchmark"]);
        let resolve = |v: &str| {
            let given = json!({ "benchmark": v });
            schema.resolve("r", given.as_object().unwrap())
        };
        assert_eq!(
            resolve("./benchmarks//a.yml").unwrap()["benchmark"],
            "benchmarks/a.yml"
        );
        for (bad, problem) in [
            ("/etc/x.yml", PathEscape::Absolute),
            ("../x.yml", PathEscape::ParentDir),
            ("benchmarks/../../../etc/x.yml", PathEscape::ParentDir),
        ] {
            match resolve(bad) {
                Err(ParamError::Path {
                    name, problem: p, ..
                }) => {
                    assert_eq!(name, "benchmark");
                    assert_eq!(p, problem, "{bad}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_invalid_default_is_a_config_error() {
        let mut params = BTreeMap::new();
        params.insert(
            "p".to_owned(),
            ParamConfig {
                default: Some("c".to_owned()),
                values: Some(vec!["a".to_owned()]),
                ..Default::default()
            },
        );
        assert_eq!(ParamSchema::compile(&params).unwrap_err().0, "p");
    }
}
