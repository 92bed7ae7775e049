//! Turns asynchronous signals into something the supervision loop can wait on.
//!
//! Signal handlers may do almost nothing, so every signal the shim cares about only sets a flag
//! and writes a byte into a socket pair (the self-pipe trick, via `signal-hook`). The loop then
//! `poll`s the read end with a timeout equal to the time left until its next deadline: it wakes
//! at once when a child exits (SIGCHLD) or a cancel arrives, and never busy-waits.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGTERM, SIGUSR1};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Signals that ask the shim to cancel the attempt.
const CANCEL_SIGNALS: [i32; 3] = [SIGTERM, SIGINT, SIGUSR1];

/// The shim's signal handling: a cancel flag plus a pollable wake-up channel.
pub struct Signals {
    /// Read end of the self-pipe; every handled signal writes a byte to the other end.
    wake: UnixStream,
    /// Set once any of [`CANCEL_SIGNALS`] has arrived.
    cancel: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. Call before spawning anything so no SIGCHLD or cancel is lost.
    ///
    /// SIGHUP and SIGPIPE get handlers that do nothing, so the shim survives its host's
    /// terminal or pipes going away. Handlers (unlike `SIG_IGN`) are reset by `exec`, so the
    /// runner still starts with default dispositions.
    pub fn install() -> io::Result<Self> {
        let (wake, notify) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        notify.set_nonblocking(true)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let ignored = Arc::new(AtomicBool::new(false));
        for signal in [SIGHUP, SIGPIPE] {
            signal_hook::flag::register(signal, Arc::clone(&ignored))?;
        }
        // Actions run in registration order: the flag is set before the wake-up byte is sent,
        // so a woken loop always sees the cancel.
        for signal in CANCEL_SIGNALS {
            signal_hook::flag::register(signal, Arc::clone(&cancel))?;
        }
        for signal in CANCEL_SIGNALS.into_iter().chain([SIGCHLD]) {
            signal_hook::low_level::pipe::register(signal, notify.try_clone()?)?;
        }
        Ok(Self { wake, cancel })
    }

    /// True once a cancel signal has arrived.
    pub fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Blocks until a signal arrives or `timeout` passes (`None`: no timeout), then drains the
    /// wake-up bytes. Callers re-check their state afterwards; spurious wake-ups are harmless.
    pub fn wait(&self, timeout: Option<Duration>) {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            // Round up so a deadline 0.3 ms away does not turn into a zero-timeout spin.
            Some(left) => {
                PollTimeout::try_from(left.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        // EINTR and other errors just mean "look again"; the caller loops.
        let _ = poll(&mut fds, timeout);
        self.drain();
    }

    /// Reads and discards every pending wake-up byte.
    fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.wake).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}
