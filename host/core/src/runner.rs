//! Runners: the validated, compiled form of `[runners.NAME]` and how an attempt's command line
//! and environment are built from it.

use crate::config::{Config, ConfigError, RunnerConfig};
use crate::confined_path;
use crate::job_id::JobId;
use crate::params::ParamSchema;
use crate::template::Template;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Host environment variables every runner receives (when the host has them).
pub const BASE_ENV_ALLOW_LIST: &[&str] =
    &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

/// Placeholders the host fills in itself.
pub const BUILTIN_PLACEHOLDERS: &[&str] = &["job_id", "attempt"];

/// A runner ready to use.
#[derive(Debug, Clone)]
pub struct RunnerSpec {
    /// Name under `[runners]`.
    pub name: String,
    /// Argv template.
    pub command: Vec<Template>,
    /// The command as configured, for display.
    pub command_text: Vec<String>,
    /// Absolute working directory.
    pub workdir: PathBuf,
    /// Per-runner concurrency limit.
    pub max_concurrency: Option<u32>,
    /// Default attempt budget.
    pub timeout: Duration,
    /// Default SIGTERM → SIGKILL grace.
    pub kill_grace: Duration,
    /// Attempts per job.
    pub max_attempts: u32,
    /// Delay between attempts.
    pub backoff: Duration,
    /// Resource pools held while running.
    pub resources: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Extra host variables passed through.
    pub pass_env: Vec<String>,
    /// Declared parameters.
    pub params: ParamSchema,
    /// Result reading.
    pub result: ResultSpec,
    /// The executor its attempts run on (`local` unless configured).
    pub executor: String,
    /// What one attempt asks Slurm for, on a Slurm executor.
    pub slurm: crate::config::executors::SlurmRequest,
}

/// How a runner's result is found and judged.
#[derive(Debug, Clone)]
pub struct ResultSpec {
    /// Result file template, relative to the workdir.
    pub file: Option<Template>,
    /// JSON pointer to the success boolean.
    pub success: Option<String>,
    /// JSON pointer to the score.
    pub score: Option<String>,
    /// Size cap in bytes.
    pub max_bytes: u64,
    /// The file may lie outside the workdir.
    pub allow_outside_workdir: bool,
}

/// All runners of a configuration.
#[derive(Debug, Clone, Default)]
pub struct RunnerSet {
    runners: BTreeMap<String, RunnerSpec>,
}

impl RunnerSet {
    /// Validates and compiles every runner; errors name the field.
    pub fn from_config(config: &Config, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut runners = BTreeMap::new();
        for (name, runner) in &config.runners {
            let spec = compile_runner(name, runner, config, base_dir)?;
            runners.insert(name.clone(), spec);
        }
        Ok(Self { runners })
    }

    /// The runner called `name`.
    pub fn get(&self, name: &str) -> Option<&RunnerSpec> {
        self.runners.get(name)
    }

    /// Every runner, by name.
    pub fn iter(&self) -> impl Iterator<Item = &RunnerSpec> {
        self.runners.values()
    }
}

fn compile_runner(
    name: &str,
    runner: &RunnerConfig,
    config: &Config,
    base_dir: &Path,
) -> Result<RunnerSpec, ConfigError> {
    let field = |f: &str| format!("runners.{name}.{f}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ConfigError::invalid(
            format!("runners.{name}"),
            "runner names may only hold letters, digits, '_' and '-'",
        ));
    }
    if runner.command.is_empty() || runner.command[0].trim().is_empty() {
        return Err(ConfigError::invalid(
            field("command"),
            "must name a program",
        ));
    }
    let params = ParamSchema::compile(&runner.params).map_err(|(param, problem)| {
        ConfigError::invalid(field(&format!("params.{param}")), problem)
    })?;
    let mut command = Vec::new();
    for (i, element) in runner.command.iter().enumerate() {
        let template = Template::parse(element).map_err(|e| {
            ConfigError::invalid(format!("{}[{i}]", field("command")), e.to_string())
        })?;
        for placeholder in template.placeholders() {
            if !params.declares(placeholder) && !BUILTIN_PLACEHOLDERS.contains(&placeholder) {
                return Err(ConfigError::invalid(
                    format!("{}[{i}]", field("command")),
                    format!(
                        "placeholder {{{placeholder}}} is neither a declared param nor one of {BUILTIN_PLACEHOLDERS:?}"
                    ),
                ));
            }
        }
        command.push(template);
    }
    if runner.max_attempts == 0 {
        return Err(ConfigError::invalid(
            field("max_attempts"),
            "must be at least 1",
        ));
    }
    if runner.max_concurrency == Some(0) {
        return Err(ConfigError::invalid(
            field("max_concurrency"),
            "must be at least 1",
        ));
    }
    if runner.timeout.is_zero() {
        return Err(ConfigError::invalid(
            field("timeout"),
            "must be longer than zero",
        ));
    }
    for resource in &runner.resources {
        match config.resources.get(resource) {
            None => {
                return Err(ConfigError::invalid(
                    field("resources"),
                    format!("resource '{resource}' is not declared under [resources]"),
                ));
            }
            Some(0) => {
                return Err(ConfigError::invalid(
                    format!("resources.{resource}"),
                    "capacity must be at least 1",
                ));
            }
            Some(_) => {}
        }
    }
    for (key, value) in &runner.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(ConfigError::invalid(
                field("env"),
                format!("invalid variable name {key:?}"),
            ));
        }
        if value.contains('\0') {
            return Err(ConfigError::invalid(
                field(&format!("env.{key}")),
                "a NUL byte cannot be part of an environment variable",
            ));
        }
    }
    let file = match &runner.result.file {
        Some(text) => {
            let template = Template::parse(text)
                .map_err(|e| ConfigError::invalid(field("result.file"), e.to_string()))?;
            for placeholder in template.placeholders() {
                if !params.declares(placeholder) && !BUILTIN_PLACEHOLDERS.contains(&placeholder) {
                    return Err(ConfigError::invalid(
                        field("result.file"),
                        format!("unknown placeholder {{{placeholder}}}"),
                    ));
                }
            }
            // What the template says by itself must stay inside the workdir; values are
            // checked again once rendered.
            let sample: BTreeMap<&str, &str> = template.placeholders().map(|p| (p, "x")).collect();
            if !runner.result.allow_outside_workdir
                && let Err(problem) = confined_path::normalise(&template.render(&sample))
            {
                return Err(ConfigError::invalid(
                    field("result.file"),
                    format!(
                        "{text:?} {problem}; set result.allow_outside_workdir = true to read a result from elsewhere"
                    ),
                ));
            }
            Some(template)
        }
        None => None,
    };
    for (key, pointer) in [
        ("result.success", &runner.result.success),
        ("result.score", &runner.result.score),
    ] {
        if let Some(p) = pointer
            && !p.is_empty()
            && !p.starts_with('/')
        {
            return Err(ConfigError::invalid(
                field(key),
                format!("{p:?} is not a JSON pointer (it must start with '/')"),
            ));
        }
    }
    let workdir = match &runner.workdir {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => base_dir.join(dir),
        None => base_dir.to_owned(),
    };
    Ok(RunnerSpec {
        name: name.to_owned(),
        command,
        command_text: runner.command.clone(),
        workdir,
        max_concurrency: runner.max_concurrency,
        timeout: runner.timeout,
        kill_grace: runner.kill_grace,
        max_attempts: runner.max_attempts,
        backoff: runner.backoff,
        resources: runner.resources.clone(),
        env: runner.env.clone(),
        pass_env: runner.pass_env.clone(),
        params,
        result: ResultSpec {
            file,
            success: runner.result.success.clone().filter(|p| !p.is_empty()),
            score: runner.result.score.clone().filter(|p| !p.is_empty()),
            max_bytes: runner.result.max_bytes.as_u64(),
            allow_outside_workdir: runner.result.allow_outside_workdir,
        },
        executor: runner
            .executor
            .clone()
            .unwrap_or_else(|| crate::executor::LOCAL.to_owned()),
        slurm: runner.slurm.clone(),
    })
}

impl RunnerSpec {
    /// Placeholder values of one attempt.
    fn values<'a>(
        params: &'a BTreeMap<String, String>,
        job_id: &'a JobId,
        attempt: &'a str,
    ) -> BTreeMap<&'a str, &'a str> {
        let mut values: BTreeMap<&str, &str> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        values.insert("job_id", job_id.as_str());
        values.insert("attempt", attempt);
        values
    }

    /// The argv of one attempt, before the program is resolved.
    pub fn argv(
        &self,
        params: &BTreeMap<String, String>,
        job_id: &JobId,
        attempt: u32,
    ) -> Vec<String> {
        let attempt = attempt.to_string();
        let values = Self::values(params, job_id, &attempt);
        self.command.iter().map(|t| t.render(&values)).collect()
    }

    /// The configured result file of one attempt, rendered but not yet resolved against the
    /// workdir (the engine does that, confined to it unless `allow_outside_workdir`).
    pub fn result_template(
        &self,
        params: &BTreeMap<String, String>,
        job_id: &JobId,
        attempt: u32,
    ) -> Option<String> {
        let attempt = attempt.to_string();
        let values = Self::values(params, job_id, &attempt);
        self.result.file.as_ref().map(|t| t.render(&values))
    }

    /// The environment of one attempt: the allow-listed host variables, the runner's `env`,
    /// then the `REEF_*` variables (which nothing can override).
    pub fn environment(
        &self,
        host_env: impl Fn(&str) -> Option<String>,
        job_id: &JobId,
        attempt: u32,
        result_path: &Path,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for key in BASE_ENV_ALLOW_LIST
            .iter()
            .copied()
            .chain(self.pass_env.iter().map(String::as_str))
        {
            if let Some(value) = host_env(key) {
                env.insert(key.to_owned(), value);
            }
        }
        env.extend(self.env.clone());
        env.insert("REEF_JOB_ID".to_owned(), job_id.to_string());
        env.insert("REEF_ATTEMPT".to_owned(), attempt.to_string());
        env.insert("REEF_RUNNER".to_owned(), self.name.clone());
        env.insert(
            "REEF_RESULT_PATH".to_owned(),
            result_path.to_string_lossy().into_owned(),
        );
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<RunnerSet, ConfigError> {
        let config = Config::from_toml(text)?;
        RunnerSet::from_config(&config, Path::new("/base"))
    }

    #[test]
    fn argv_elements_stay_whole() {
        let set = load(
            r#"[runners.r]
            command = ["prog", "--x={p}", "{p}", "{job_id}-{attempt}"]
            params.p = { required = true }"#,
        )
        .unwrap();
        let r = set.get("r").unwrap();
        let params = BTreeMap::from([("p".to_owned(), "a b; rm -rf /".to_owned())]);
        assert_eq!(
            r.argv(&params, &JobId::named("J"), 2),
            ["prog", "--x=a b; rm -rf /", "a b; rm -rf /", "J-2"]
        );
        assert_eq!(r.workdir, Path::new("/base"));
    }

    #[test]
    fn config_errors_name_the_field() {
        let cases = [
            ("[runners.r]\ncommand = []", "runners.r.command"),
            (
                "[runners.r]\ncommand = [\"x\", \"{nope}\"]",
                "runners.r.command[1]",
            ),
            (
                "[runners.r]\ncommand = [\"x\"]\nresources = [\"gpu\"]",
                "runners.r.resources",
            ),
            (
                "[runners.r]\ncommand = [\"x\"]\nmax_attempts = 0",
                "runners.r.max_attempts",
            ),
            (
                "[runners.r]\ncommand = [\"x\"]\nparams.p = { pattern = \"(\" }",
                "runners.r.params.p",
            ),
            (
                "[runners.r]\ncommand = [\"x\"]\nresult.score = \"score\"",
                "runners.r.result.score",
            ),
        ];
        for (text, field) in cases {
            let err = load(text).unwrap_err().to_string();
            assert!(err.starts_with(field), "{text}: {err}");
        }
    }

    #[test]
    fn environment_is_an_allow_list() {
        let set =
            load("[runners.r]\ncommand = [\"x\"]\nenv = { A = \"1\", REEF_JOB_ID = \"spoof\" }")
                .unwrap();
        let host = |k: &str| match k {
            "PATH" => Some("/bin".to_owned()),
            "SECRET" => Some("s".to_owned()),
            _ => None,
        };
        let env =
            set.get("r")
                .unwrap()
                .environment(host, &JobId::named("J"), 1, Path::new("/r.json"));
        assert_eq!(env["PATH"], "/bin");
        assert_eq!(env["A"], "1");
        assert_eq!(env["REEF_JOB_ID"], "J");
        assert_eq!(env["REEF_RESULT_PATH"], "/r.json");
        assert!(!env.contains_key("SECRET"));
    }
}
