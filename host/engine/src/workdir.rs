//! What a runner needs of this machine's filesystem: that its program exists, that its path
//! parameters and result file stay inside its workdir (symlinks followed), and reading the
//! result an attempt left. The core checks what can be checked on text alone; these are the
//! checks that look at the disk.

use reef_core::confined_path::{self, PathEscape};
use reef_core::job_id::JobId;
use reef_core::outcome::{self, ResultRead};
use reef_core::params::ParamError;
use reef_core::runner::{RunnerSet, RunnerSpec};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Validates submitted parameters (the core's rules), fills in defaults, and checks that
/// `path` parameters stay inside the runner's workdir on this machine (symlinks included).
pub fn resolve_params(
    runner: &RunnerSpec,
    given: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, ParamError> {
    let params = runner.params.resolve(&runner.name, given)?;
    for (name, glob) in runner.params.listed() {
        if let Some(value) = params.get(name) {
            // An unreadable workdir lists nothing, so the value is refused with that said.
            let listed = listed_values(&runner.workdir, glob).unwrap_or_default();
            if !listed.contains(value) {
                return Err(ParamError::NotListed {
                    name: name.to_owned(),
                    value: value.clone(),
                    glob: glob.to_owned(),
                    listed,
                });
            }
        }
    }
    for name in runner.params.paths() {
        if let Some(value) = params.get(name) {
            check_symlinks(&runner.workdir, value).map_err(|problem| ParamError::Path {
                name: name.to_owned(),
                value: value.clone(),
                problem,
            })?;
        }
    }
    Ok(params)
}

/// Most files a `values_from` glob lists; a glob that matches more is cut short.
pub const MAX_LISTED: usize = 10_000;

/// The files (not directories) `glob` matches under `workdir`, as paths relative to it, sorted;
/// at most [`MAX_LISTED`]. Hidden files match only a glob that names them (`.*`).
pub fn listed_values(workdir: &Path, glob: &str) -> Result<Vec<String>, String> {
    // The workdir is a literal path: its own `*` or `[` must not act as wildcards.
    let pattern = format!(
        "{}/{glob}",
        glob::Pattern::escape(&workdir.to_string_lossy())
    );
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..Default::default()
    };
    let mut values = Vec::new();
    for entry in glob::glob_with(&pattern, options).map_err(|e| format!("{glob:?}: {e}"))? {
        let Ok(path) = entry else { continue };
        if !path.is_file() {
            continue;
        }
        if let Some(relative) = path.strip_prefix(workdir).ok().and_then(|p| p.to_str()) {
            values.push(relative.to_owned());
        }
        if values.len() == MAX_LISTED {
            break;
        }
    }
    values.sort();
    Ok(values)
}

/// The configured result file of one attempt, absolute. Unless the runner allows files
/// outside its workdir, one that would lie outside (through a parameter's value or a symlink)
/// is an error that says why.
pub fn result_file(
    runner: &RunnerSpec,
    params: &BTreeMap<String, String>,
    job_id: &JobId,
    attempt: u32,
) -> Result<Option<PathBuf>, String> {
    let Some(rendered) = runner.result_template(params, job_id, attempt) else {
        return Ok(None);
    };
    if runner.result.allow_outside_workdir {
        return Ok(Some(runner.workdir.join(rendered)));
    }
    confined_path::normalise(&rendered)
        .and_then(|relative| check_symlinks(&runner.workdir, &relative))
        .map(Some)
        .map_err(|problem| {
            format!(
                "result file {rendered:?} refused: it {problem} (result.allow_outside_workdir is off)"
            )
        })
}

/// `root.join(relative)`, once sure that no symlink on the way leads out of `root`.
/// `relative` must already be [`normalise`]d.
pub fn check_symlinks(root: &Path, relative: &str) -> Result<PathBuf, PathEscape> {
    let unreadable =
        |path: &Path, e: std::io::Error| PathEscape::Unreadable(format!("{}: {e}", path.display()));
    let real_root = std::fs::canonicalize(root).map_err(|e| unreadable(root, e))?;
    let joined = root.join(relative);
    // The deepest ancestor that exists (as an entry: a dangling symlink counts) decides.
    let mut existing = joined.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        match existing.parent() {
            Some(parent) if parent.starts_with(root) => existing = parent,
            _ => return Ok(joined),
        }
    }
    let real = std::fs::canonicalize(existing).map_err(|_| {
        // Exists but does not resolve: a symlink to nowhere, which could later lead anywhere.
        PathEscape::Symlink(display_relative(root, existing))
    })?;
    if real.starts_with(&real_root) {
        Ok(joined)
    } else {
        Err(PathEscape::Symlink(display_relative(root, existing)))
    }
}

fn display_relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// What is missing on this machine for the runners to run: a program found neither on
/// `PATH` nor next to `reef`, a working directory that does not exist. Warnings, not errors:
/// a config is often checked on another machine than the one it runs on.
pub fn install_warnings(runners: &RunnerSet) -> Vec<String> {
    let path_var = std::env::var("PATH").ok();
    let beside: Vec<PathBuf> = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
        .into_iter()
        .collect();
    let mut warnings = Vec::new();
    for runner in runners.iter() {
        let program = &runner.command_text[0];
        if !program.contains('{')
            && resolve_program(program, &runner.workdir, path_var.as_deref(), &beside).is_none()
        {
            warnings.push(format!(
                    "runners.{}.command[0]: '{program}' is not installed on this machine (looked in PATH and next to reef)",
                    runner.name
                ));
        }
        if !runner.workdir.is_dir() {
            warnings.push(format!(
                "runners.{}.workdir: {} does not exist here",
                runner.name,
                runner.workdir.display()
            ));
        }
    }
    warnings
}

/// Finds the program of `argv[0]`: an absolute path as is; a path with a `/` relative to the
/// workdir; a bare name on `path_var`, then in `fallback_dirs` (the directory of the `reef`
/// executable, where sibling binaries such as the demo runner live).
pub fn resolve_program(
    program: &str,
    workdir: &Path,
    path_var: Option<&str>,
    fallback_dirs: &[PathBuf],
) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        return is_executable(candidate).then(|| candidate.to_owned());
    }
    if program.contains('/') {
        let full = workdir.join(candidate);
        return is_executable(&full).then_some(full);
    }
    let path_dirs = path_var
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .iter()
        .chain(fallback_dirs)
        .map(|dir| dir.join(program))
        .find(|full| is_executable(full))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Reads the result: `result_path` (the `REEF_RESULT_PATH` file) when the runner wrote it, else
/// the runner's configured file if it was written at or after `not_before` (the attempt's start:
/// a file left by an earlier attempt is not this attempt's result). Files over the cap,
/// unreadable files and invalid JSON give an `error` and no value.
pub fn read_result(
    spec: &RunnerSpec,
    result_path: &Path,
    configured: Option<&Path>,
    not_before: SystemTime,
) -> ResultRead {
    let fresh = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= not_before)
    };
    let path = if result_path.exists() {
        result_path
    } else {
        match configured {
            Some(p) if fresh(p) => p,
            Some(p) => {
                return ResultRead {
                    error: Some(format!("result file {} was not written", p.display())),
                    ..Default::default()
                };
            }
            None => return ResultRead::default(),
        }
    };
    match read_capped(path, spec.result.max_bytes) {
        Ok(bytes) => outcome::interpret(&spec.result, &path.display().to_string(), &bytes),
        Err(error) => ResultRead {
            error: Some(error),
            ..Default::default()
        },
    }
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "result file {} is larger than the {cap}-byte cap",
            path.display()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reef_core::config::Config;
    use std::path::Path;

    #[test]
    fn symlinks_must_not_lead_out() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yml"), "x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        std::fs::create_dir(root.join("benchmarks")).unwrap();
        std::fs::write(root.join("benchmarks/a.yml"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yml"),
            root.join("benchmarks/evil.yml"),
        )
        .unwrap();
        std::os::unix::fs::symlink("a.yml", root.join("benchmarks/alias.yml")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", root.join("dangling")).unwrap();

        assert_eq!(
            check_symlinks(root, "benchmarks/a.yml").unwrap(),
            root.join("benchmarks/a.yml")
        );
        // A symlink that stays inside is fine; so is a file that does not exist yet.
        assert!(check_symlinks(root, "benchmarks/alias.yml").is_ok());
        assert!(check_symlinks(root, "benchmarks/new/deeper.yml").is_ok());
        assert_eq!(
            check_symlinks(root, "benchmarks/evil.yml"),
            Err(PathEscape::Symlink("benchmarks/evil.yml".into()))
        );
        assert_eq!(
            check_symlinks(root, "out/secret.yml"),
            Err(PathEscape::Symlink("out/secret.yml".into()))
        );
        assert_eq!(
            check_symlinks(root, "out/not-there.yml"),
            Err(PathEscape::Symlink("out".into()))
        );
        assert_eq!(
            check_symlinks(root, "dangling"),
            Err(PathEscape::Symlink("dangling".into()))
        );
        assert!(matches!(
            check_symlinks(Path::new("/nonexistent-root"), "a.yml"),
            Err(PathEscape::Unreadable(_))
        ));
    }

    #[test]
    fn programs_resolve_from_path_then_fallback() {
        assert_eq!(
            resolve_program("sh", Path::new("/"), Some("/nonexistent:/bin"), &[]),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            resolve_program("sh", Path::new("/"), None, &[PathBuf::from("/bin")]),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            resolve_program("no-such-program-here", Path::new("/"), Some("/bin"), &[]),
            None
        );
        assert_eq!(
            resolve_program("bin/sh", Path::new("/"), None, &[]),
            Some(PathBuf::from("/bin/sh"))
        );
    }

    #[test]
    fn values_from_lists_the_files_a_glob_matches_and_submits_are_checked_against_them() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("benchmarks/sub")).unwrap();
        for file in ["b.yml", "a.yml", ".hidden.yml", "notes.txt", "sub/c.yml"] {
            std::fs::write(root.path().join("benchmarks").join(file), "x").unwrap();
        }
        std::fs::create_dir(root.path().join("benchmarks/dir.yml")).unwrap();
        assert_eq!(
            listed_values(root.path(), "benchmarks/*.yml").unwrap(),
            ["benchmarks/a.yml", "benchmarks/b.yml"]
        );
        assert_eq!(
            listed_values(root.path(), "benchmarks/**/*.yml").unwrap(),
            [
                "benchmarks/a.yml",
                "benchmarks/b.yml",
                "benchmarks/sub/c.yml"
            ]
        );

        let config = Config::from_toml(&format!(
            "[runners.r]\ncommand = [\"x\", \"{{benchmark}}\"]\nworkdir = {:?}\n\
             params.benchmark = {{ required = true, kind = \"path\", values_from = \"benchmarks/*.yml\" }}\n",
            root.path()
        ))
        .unwrap();
        let set = RunnerSet::from_config(&config, Path::new("/")).unwrap();
        let spec = set.get("r").unwrap();
        let given = |v: &str| {
            serde_json::json!({ "benchmark": v })
                .as_object()
                .cloned()
                .unwrap()
        };
        let params = resolve_params(spec, &given("benchmarks/./a.yml")).unwrap();
        assert_eq!(params["benchmark"], "benchmarks/a.yml");
        let refused = resolve_params(spec, &given("benchmarks/notes.txt")).unwrap_err();
        assert!(matches!(refused, ParamError::NotListed { .. }), "{refused}");
        assert!(
            refused
                .to_string()
                .contains("benchmarks/a.yml, benchmarks/b.yml"),
            "{refused}"
        );
        // A file added later is accepted at once: the glob is listed again at every submit.
        std::fs::write(root.path().join("benchmarks/new.yml"), "x").unwrap();
        assert!(resolve_params(spec, &given("benchmarks/new.yml")).is_ok());

        for (declaration, problem) in [
            ("values_from = \"/etc/*\"", "relative"),
            ("values_from = \"../*.yml\"", "'..'"),
            ("values_from = \"[\"", "not a glob"),
            ("values_from = \"*.yml\", values = [\"a\"]", "cannot both"),
        ] {
            let toml = format!("[runners.r]\ncommand = [\"x\"]\nparams.p = {{ {declaration} }}\n");
            let error = Config::from_toml(&toml)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    RunnerSet::from_config(&c, Path::new("/"))
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .unwrap_err();
            assert!(error.contains(problem), "{declaration}: {error}");
        }
    }

    fn missing_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("no-result-path.json")
    }

    #[test]
    fn results_are_read_capped_and_judged_by_pointer() {
        let config = Config::from_toml(
            "[runners.r]\ncommand=[\"x\"]\nresult = { success = \"/final_result/success\", score = \"/final_result/score\", max_bytes = 64 }",
        )
        .unwrap();
        let set = RunnerSet::from_config(&config, Path::new("/")).unwrap();
        let spec = set.get("r").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        std::fs::write(&path, r#"{"final_result":{"success":false,"score":0.25}}"#).unwrap();
        let read = read_result(spec, &path, None, SystemTime::UNIX_EPOCH);
        assert_eq!((read.success, read.score), (Some(false), Some(0.25)));
        std::fs::write(&path, "x".repeat(65)).unwrap();
        assert!(
            read_result(spec, &path, None, SystemTime::UNIX_EPOCH)
                .error
                .unwrap()
                .contains("cap")
        );
        std::fs::write(&path, "{not json").unwrap();
        assert!(
            read_result(spec, &path, None, SystemTime::UNIX_EPOCH)
                .error
                .unwrap()
                .contains("not JSON")
        );
        let stale = dir.path().join("stale.json");
        std::fs::write(&stale, "{}").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(
            read_result(spec, &missing_path(&dir), Some(&stale), later)
                .error
                .unwrap()
                .contains("not written")
        );
        let missing = dir.path().join("none.json");
        assert!(
            read_result(spec, &missing, Some(&missing), SystemTime::UNIX_EPOCH)
                .error
                .unwrap()
                .contains("not written")
        );
    }
}
