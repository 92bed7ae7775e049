//! The live display of `reef submit --wait` (and `reef sweep submit --wait`): the job's state, attempt, elapsed time and the
//! last line it logged, on stderr. On a terminal one line is redrawn in place; otherwise (a CI
//! log, a file) a plain line is printed when the state or attempt changes, and every few
//! seconds in between, so the output stays readable when it is not a screen.

use super::output::one_line;
use crate::client::{ApiClient, ClientError, FOLLOW_GRACE, encode};
use reef_core::api::JobView;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the job is looked at. The display ticks with it (elapsed time moves on), so this is
/// a refresh rate, not a way to notice the end sooner.
pub const POLL: Duration = Duration::from_millis(250);
/// Without a terminal, the longest silence between two progress lines.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// What the progress line shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Status<'a> {
    /// Job id.
    pub id: &'a str,
    /// Job state.
    pub state: &'a str,
    /// Attempts started so far.
    pub attempt: u32,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// The last line the runner logged, if any.
    pub last_line: Option<&'a str>,
}

/// The progress line, at most `width` characters.
pub fn render(status: &Status, width: usize) -> String {
    let mut line = format!(
        "{}  {}  attempt {}  {}",
        status.id,
        status.state,
        status.attempt,
        elapsed_text(status.elapsed)
    );
    if let Some(last) = status.last_line {
        line.push_str("  | ");
        line.push_str(last);
    }
    super::table::cut(&line, width)
}

/// A duration for people: `4.2s`, `3m07s`, `2h05m`.
pub fn elapsed_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// The last non-blank line of a log chunk, without terminal escapes or control characters.
pub fn last_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.split(['\n', '\r'])
        .map(|l| one_line(&strip_escapes(l)))
        .rfind(|l| !l.is_empty())
}

/// Removes ANSI escape sequences (`ESC [ ... letter`), which runners use for colour.
fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Where the progress goes: stderr, redrawn in place on a terminal.
pub struct Display {
    tty: bool,
    width: usize,
    drawn: bool,
    last_plain: Option<(String, Instant)>,
}

impl Display {
    /// A display on stderr, redrawing only when stderr is a terminal.
    pub fn stderr() -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            tty,
            width: if tty { terminal_width() } else { 200 },
            drawn: false,
            last_plain: None,
        }
    }

    /// Shows `status`.
    pub fn show(&mut self, status: &Status) {
        let key = format!("{} {}", status.state, status.attempt);
        self.show_line(|width| render(status, width), &key);
    }

    /// Shows the line `render` makes for a width. Without a terminal, a line is printed when
    /// `key` (what counts as a change: a state, a count) differs from the last printed, and every
    /// few seconds in between.
    pub fn show_line(&mut self, render: impl Fn(usize) -> String, key: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            // One column spare: writing the last column makes some terminals wrap.
            let line = render(self.width.saturating_sub(1));
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.drawn = true;
            return;
        }
        let due = match &self.last_plain {
            Some((last, at)) => last != key || at.elapsed() >= PLAIN_EVERY,
            None => true,
        };
        if due {
            let _ = writeln!(err, "{}", render(self.width));
            self.last_plain = Some((key.to_owned(), Instant::now()));
        }
    }

    /// Clears the redrawn line, so that what follows starts on a clean line.
    pub fn finish(&mut self) {
        if self.tty && self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// Columns of the terminal on stderr; 80 when it cannot be told.
fn terminal_width() -> usize {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass; fd 2 stays open.
    let ok = unsafe { nix::libc::ioctl(2, nix::libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// The tail of a job's logs: the offsets read so far in the current attempt's streams, and the
/// last line seen.
#[derive(Debug, Default)]
struct LogTail {
    attempt: u32,
    offsets: [u64; 2],
    last: Option<String>,
}

impl LogTail {
    /// Reads what `attempt` logged since the last call. A log that cannot be read yet (the
    /// attempt's files are not there) is not an error; an unreachable host is.
    fn poll(&mut self, client: &ApiClient, id: &str, attempt: u32) -> Result<(), ClientError> {
        if attempt != self.attempt {
            self.attempt = attempt;
            self.offsets = [0, 0];
        }
        // stdout last, so that its line wins when both streams moved.
        for (i, stream) in [(1, "stderr"), (0, "stdout")] {
            let path = format!(
                "/v1/jobs/{}/logs?stream={stream}&attempt={attempt}&offset={}",
                encode(id),
                self.offsets[i]
            );
            match client.get_log(&path) {
                Ok(chunk) => {
                    self.offsets[i] += chunk.bytes.len() as u64;
                    if let Some(line) = last_line(&chunk.bytes) {
                        self.last = Some(line);
                    }
                }
                // Not there yet, or the host is away: the next round tries again.
                Err(e) if e.is_transient() || matches!(e, ClientError::Api { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Follows job `id` until it is terminal, showing progress on `display`; returns the job as
/// `GET /v1/jobs/{id}` shows it at the end.
pub fn follow(client: &ApiClient, id: &str, display: &mut Display) -> Result<JobView, ClientError> {
    let started = Instant::now();
    let mut tail = LogTail::default();
    loop {
        let view: JobView =
            client.get_patiently(&format!("/v1/jobs/{}", encode(id)), FOLLOW_GRACE)?;
        let state = view.job.state;
        let attempt = view.job.attempt_count;
        if attempt > 0 {
            tail.poll(client, id, attempt)?;
        }
        display.show(&Status {
            id,
            state: state.as_str(),
            attempt,
            elapsed: started.elapsed(),
            last_line: tail.last.as_deref(),
        });
        if state.is_terminal() {
            display.finish();
            return Ok(view);
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_state_attempt_elapsed_and_the_last_log_line() {
        let status = Status {
            id: "01J",
            state: "running",
            attempt: 2,
            elapsed: Duration::from_millis(4250),
            last_line: Some("step 3/5"),
        };
        assert_eq!(
            render(&status, 200),
            "01J  running  attempt 2  4.2s  | step 3/5"
        );
        assert_eq!(render(&status, 12), "01J  runnin…");
        let quiet = Status {
            last_line: None,
            ..status
        };
        assert_eq!(render(&quiet, 200), "01J  running  attempt 2  4.2s");
    }

    #[test]
    fn elapsed_time_reads_naturally() {
        assert_eq!(elapsed_text(Duration::from_millis(0)), "0.0s");
        assert_eq!(elapsed_text(Duration::from_secs(187)), "3m07s");
        assert_eq!(elapsed_text(Duration::from_secs(7500)), "2h05m");
    }

    #[test]
    fn the_last_line_skips_blanks_and_escapes() {
        assert_eq!(last_line(b"one\ntwo\n\n"), Some("two".into()));
        assert_eq!(
            last_line(b"a\r\n\x1b[32mgreen\x1b[0m\r\n"),
            Some("green".into())
        );
        assert_eq!(
            last_line(b"progress 10%\rprogress 20%"),
            Some("progress 20%".into())
        );
        assert_eq!(last_line(b"\n \n"), None);
        assert_eq!(last_line(b""), None);
    }

    #[test]
    fn terminal_states() {
        use reef_core::lifecycle::JobState;
        assert!(JobState::Failed.is_terminal());
        assert!(!JobState::RetryWait.is_terminal());
    }
}
