//! What the client commands print and how they exit: JSON for scripts, one-line errors, and
//! the exit codes documented in `reef --help`.

use crate::client::ClientError;

/// Success (for `submit --wait`: the job succeeded).
pub const EXIT_OK: i32 = 0;
/// The host answered with an error; its problem detail was printed.
pub const EXIT_API: i32 = 1;
/// The command line was invalid (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// The host could not be reached.
pub const EXIT_UNREACHABLE: i32 = 3;
/// `submit --wait`: the job ended `failed`.
pub const EXIT_JOB_FAILED: i32 = 4;
/// `submit --wait`: the job ended `cancelled`.
pub const EXIT_JOB_CANCELLED: i32 = 5;

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes of the client commands:
  0  success (submit --wait: the job succeeded)
  1  the host answered with an error; its problem detail is printed
  2  invalid command line
  3  the host could not be reached
  4  submit --wait: the job failed
  5  submit --wait: the job was cancelled";

/// Prints a failed call on stderr, one line, and returns its exit code.
pub fn report(error: &ClientError) -> i32 {
    eprintln!("reef: {}", one_line(&error.to_string()));
    match error {
        ClientError::Unreachable { .. } => EXIT_UNREACHABLE,
        ClientError::Api { .. } | ClientError::Unexpected { .. } => EXIT_API,
    }
}

/// The exit code of a job that ended in `state`.
pub fn job_exit_code(state: &str) -> i32 {
    match state {
        "succeeded" => EXIT_OK,
        "cancelled" => EXIT_JOB_CANCELLED,
        _ => EXIT_JOB_FAILED,
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Text on one line: line breaks and other control characters become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_map_to_documented_exit_codes() {
        assert_eq!(job_exit_code("succeeded"), 0);
        assert_eq!(job_exit_code("failed"), 4);
        assert_eq!(job_exit_code("cancelled"), 5);
        for code in [
            EXIT_OK,
            EXIT_API,
            EXIT_USAGE,
            EXIT_UNREACHABLE,
            EXIT_JOB_FAILED,
            EXIT_JOB_CANCELLED,
        ] {
            assert!(EXIT_CODES_HELP.contains(&format!("  {code}  ")));
        }
    }

    #[test]
    fn errors_print_on_one_line() {
        assert_eq!(one_line(" a\nb\r\tc \n"), "a b  c");
    }
}
