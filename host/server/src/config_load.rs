//! Loading: the layers merged by figment, and errors that name the field.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use reef_core::config::{Config, ConfigError};
use std::path::{Path, PathBuf};

/// Top-level sections; also the only `REEF_*` prefixes read from the environment, so client-side
/// variables such as `REEF_URL` or `REEF_TOKEN` never collide with the server's config.
const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "scheduler",
    "logs",
    "auth",
    "shim",
    "runners",
    "executors",
    "resources",
    "policy",
    "retention",
    "sweeps",
    "telemetry",
];

/// A loaded configuration and the directory its relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The merged configuration.
    pub config: Config,
    /// Directory of the config file (or the working directory when there is none).
    pub base_dir: PathBuf,
}

/// Merges defaults, the TOML file (when given) and `REEF_*` environment variables.
pub fn load(file: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    let base_dir = match file {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
            absolute_dir_of(path)
        }
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    figment = figment.merge(
        Env::prefixed("REEF_")
            .split("__")
            .filter(|key| {
                // The key arrives nested ("server.listen") or raw ("SERVER__LISTEN").
                let first = key.as_str().split(['.']).next().unwrap_or_default();
                let first = first.split("__").next().unwrap_or_default();
                SECTIONS.iter().any(|s| first.eq_ignore_ascii_case(s))
            })
            .lowercase(true),
    );
    let config: Config = figment.extract().map_err(explain)?;
    Ok(LoadedConfig { config, base_dir })
}

/// Parses a TOML string on top of the defaults (no environment), with errors as [`load`]
/// words them; for tests and tools.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .map_err(explain)
}

/// Turns a loading error into one that names the field; an unknown key also gets the closest
/// known key as a suggestion.
fn explain(error: figment::Error) -> ConfigError {
    if let figment::error::Kind::UnknownField(found, expected) = &error.kind {
        let section: Vec<&str> = error
            .path
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "default")
            .take_while(|p| *p != found)
            .collect();
        let field = section
            .iter()
            .copied()
            .chain([found.as_str()])
            .collect::<Vec<_>>()
            .join(".");
        // A key the typo is the start of (`max_mem` of `max_memory`) beats a merely close
        // one (`max_cpu`); otherwise the closest by edit distance.
        let closest = expected
            .iter()
            .filter(|known| known.starts_with(found.as_str()))
            .map(|known| (0, *known))
            .min_by_key(|(_, known)| known.len())
            .or_else(|| {
                expected
                    .iter()
                    .map(|known| (strsim::levenshtein(found, known), *known))
                    .min()
                    .filter(|(distance, _)| *distance <= found.len().max(3) / 2)
            });
        let problem = match closest {
            Some((_, known)) => format!("unknown key; did you mean `{known}`?"),
            None => format!("unknown key; expected one of: {}", expected.join(", ")),
        };
        let origin = error
            .metadata
            .as_ref()
            .map(|m| format!(" (in {})", m.name))
            .unwrap_or_default();
        return ConfigError::invalid(field, format!("{problem}{origin}"));
    }
    ConfigError::Load(error.to_string())
}

fn absolute_dir_of(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err = parse("[server]\nlisten_addr = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.to_string().contains("server.listen_addr"), "{err}");
        assert!(err.to_string().contains("did you mean `listen`?"), "{err}");
        let err = parse("[runners.x]\ncommand = [\"x\"]\nmax_attemps = 3\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("runners.x.max_attemps: unknown key; did you mean `max_attempts`?"),
            "{err}"
        );
        let err = parse("[sheduler]\nmax_concurrency = 2\n").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `scheduler`?"),
            "{err}"
        );
        let err = parse("[telemetry]\nlog_format = \"xml\"\n").unwrap_err();
        assert!(err.to_string().contains("xml"), "{err}");
        let err = parse("[policy]\nmax_mem = \"32 MiB\"\n").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `max_memory`?"),
            "{err}"
        );
        let err = parse("[logs]\nzzz = 1\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("expected one of: max_bytes_per_stream"),
            "{err}"
        );
    }

    #[test]
    fn bad_durations_are_errors() {
        let err = parse("[runners.x]\ncommand = [\"true\"]\ntimeout = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
    }

    #[test]
    fn the_dev_preset_loads_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/dev.toml");
        let loaded = load(Some(&path)).unwrap();
        let runners =
            reef_core::runner::RunnerSet::from_config(&loaded.config, &loaded.base_dir).unwrap();
        let demo = runners.get("demo").unwrap();
        assert_eq!(demo.max_attempts, 3);
        assert!(
            demo.workdir
                .join("tests/fixtures/benchmarks/success.yml")
                .exists()
        );
        assert!(loaded.config.server.listen.ip().is_loopback());
    }

    #[test]
    fn the_prod_preset_logs_json_exports_traces_and_keeps_finished_jobs_bounded() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/prod.toml");
        let config = load(Some(&path)).unwrap().config;
        config.validate().unwrap();
        assert_eq!(
            config.telemetry.log_format,
            reef_core::config::LogFormat::Json
        );
        assert!(config.telemetry.otlp_endpoint.is_some());
        assert!(config.retention.max_age.is_some());
        assert!(!config.auth.tokens.is_empty());
        assert!(!config.server.listen.ip().is_loopback());
    }
}
