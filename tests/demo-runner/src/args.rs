//! Hand-rolled command-line parsing (the runner mimics `reev-runner`'s argv, nothing more).
//!
//! Accepted: `<benchmark.yml> --agent <name> --execution-id <id>`, with `--flag=value` forms
//! too, `-h`/`--help`, and the hidden `--sleep-child <secs>` mode used by the
//! `grandchildren` behaviour.

use std::path::PathBuf;

/// Usage text printed for `--help` and after argument errors.
pub const USAGE: &str = "usage: demo-runner <benchmark.yml> --agent <name> --execution-id <id>";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run a benchmark.
    Run(RunArgs),
    /// Hidden mode: sleep this many seconds and exit 0 (a spawned grandchild).
    SleepChild(u64),
    /// Print usage and exit 0.
    Help,
}

/// Arguments of a benchmark run.
#[derive(Debug, PartialEq, Eq)]
pub struct RunArgs {
    /// Path of the benchmark YAML.
    pub benchmark: PathBuf,
    /// Agent name; `flaky` makes a `succeed` benchmark flaky.
    pub agent: String,
    /// Execution id; names the session file, so restricted to `[A-Za-z0-9._-]`.
    pub execution_id: String,
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut benchmark: Option<PathBuf> = None;
    let mut agent: Option<String> = None;
    let mut execution_id: Option<String> = None;

    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--sleep-child" => {
                let value = value_of(&flag, inline, &mut args)?;
                let secs = value
                    .parse()
                    .map_err(|_| format!("--sleep-child expects whole seconds, got {value:?}"))?;
                return Ok(Command::SleepChild(secs));
            }
            "--agent" => set_once(&mut agent, &flag, value_of(&flag, inline, &mut args)?)?,
            "--execution-id" => set_once(
                &mut execution_id,
                &flag,
                value_of(&flag, inline, &mut args)?,
            )?,
            f if f.starts_with('-') && f != "-" => return Err(format!("unknown option {f}")),
            _ => {
                if benchmark.is_some() {
                    return Err(format!("unexpected extra argument {arg:?}"));
                }
                benchmark = Some(PathBuf::from(arg));
            }
        }
    }

    let benchmark = benchmark.ok_or("missing the benchmark file argument")?;
    let agent = agent.ok_or("missing --agent")?;
    let execution_id = execution_id.ok_or("missing --execution-id")?;
    if agent.is_empty() {
        return Err("--agent must not be empty".into());
    }
    check_execution_id(&execution_id)?;
    Ok(Command::Run(RunArgs {
        benchmark,
        agent,
        execution_id,
    }))
}

/// The flag's value: the `=value` part, else the next argument.
fn value_of(
    flag: &str,
    inline: Option<String>,
    rest: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    inline
        .or_else(|| rest.next())
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn set_once(slot: &mut Option<String>, flag: &str, value: String) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} given more than once"));
    }
    *slot = Some(value);
    Ok(())
}

/// The execution id becomes part of a file name, so keep it to a safe alphabet.
fn check_execution_id(id: &str) -> Result<(), String> {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.starts_with('.') || !id.chars().all(safe) || id.len() > 200 {
        return Err(format!(
            "--execution-id {id:?} must be 1-200 characters of [A-Za-z0-9._-], not starting with '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    fn run(benchmark: &str, agent: &str, id: &str) -> Command {
        Command::Run(RunArgs {
            benchmark: PathBuf::from(benchmark),
            agent: agent.into(),
            execution_id: id.into(),
        })
    }

    #[test]
    fn both_flag_forms_parse() {
        let spaced = parse_strs(&["b.yml", "--agent", "flaky", "--execution-id", "01J"]);
        assert_eq!(spaced, Ok(run("b.yml", "flaky", "01J")));
        let joined = parse_strs(&["--agent=deterministic", "--execution-id=j-1", "b.yml"]);
        assert_eq!(joined, Ok(run("b.yml", "deterministic", "j-1")));
    }

    #[test]
    fn hidden_and_help_modes() {
        assert_eq!(
            parse_strs(&["--sleep-child", "7"]),
            Ok(Command::SleepChild(7))
        );
        assert_eq!(parse_strs(&["--sleep-child=0"]), Ok(Command::SleepChild(0)));
        assert_eq!(parse_strs(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn bad_arguments_are_named() {
        for (args, needle) in [
            (&["--agent", "a", "--execution-id", "1"][..], "benchmark"),
            (&["b.yml", "--execution-id", "1"][..], "--agent"),
            (&["b.yml", "--agent", "a"][..], "--execution-id"),
            (&["b.yml", "--agent"][..], "needs a value"),
            (
                &["b.yml", "--agent=a", "--agent=b", "--execution-id=1"][..],
                "more than once",
            ),
            (
                &["b.yml", "--agent=a", "--execution-id=../x"][..],
                "execution-id",
            ),
            (&["b.yml", "--bogus"][..], "--bogus"),
            (&["a.yml", "b.yml"][..], "b.yml"),
            (&["--sleep-child", "soon"][..], "soon"),
        ] {
            let err = parse_strs(args).expect_err(needle);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
