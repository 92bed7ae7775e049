//! Finding, signalling and reaping every descendant of the shim.
//!
//! A runner may leave processes behind that escaped its process group (for example with
//! `setsid`), so killing the group is not enough. The shim is a child subreaper, so every such
//! process stays a descendant of the shim: walking `/proc` for the shim's descendants finds them
//! all, and `waitpid` reporting ECHILD proves that none is left.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use reef_shim::procs;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How the runner (the shim's direct child) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerStatus {
    /// It exited with this code.
    Exited(i32),
    /// It was terminated by this signal number.
    Signaled(i32),
}

/// One live or zombie descendant found in `/proc`.
#[derive(Debug, Clone, Copy)]
struct Descendant {
    pid: Pid,
    pgrp: Pid,
    zombie: bool,
}

/// The result of reaping every child that has already exited.
#[derive(Debug, Default)]
pub struct Reaped {
    /// The runner's status, if the runner was among the reaped.
    pub runner: Option<RunnerStatus>,
    /// `waitpid` reported ECHILD: the shim has no children, hence no descendants, left.
    pub none_left: bool,
}

/// Reaps, without blocking, every child that has exited, noting the runner's status.
pub fn reap_ready(runner: Pid) -> Reaped {
    let mut reaped = Reaped::default();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == runner => {
                reaped.runner = Some(RunnerStatus::Exited(code));
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == runner => {
                reaped.runner = Some(RunnerStatus::Signaled(signal as i32));
            }
            Ok(WaitStatus::StillAlive) => return reaped,
            // Another descendant (an orphan reparented to us), or a status we did not ask for.
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => {
                // ECHILD, or something unexpected that would make us spin: either way there is
                // nothing (more) to wait for.
                reaped.none_left = true;
                return reaped;
            }
        }
    }
}

/// All descendants of `root` according to `/proc`, in no particular order.
fn descendants(root: Pid) -> Vec<Descendant> {
    let mut children: HashMap<i32, Vec<Descendant>> = HashMap::new();
    for process in procs::all() {
        children.entry(process.ppid).or_default().push(Descendant {
            pid: Pid::from_raw(process.pid),
            pgrp: Pid::from_raw(process.pgrp),
            zombie: process.zombie,
        });
    }
    let mut found = Vec::new();
    let mut queue = vec![root.as_raw()];
    while let Some(parent) = queue.pop() {
        for child in children.remove(&parent).unwrap_or_default() {
            queue.push(child.pid.as_raw());
            found.push(child);
        }
    }
    found
}

/// Sends `signal` to the runner's process group and to every live descendant of the shim
/// outside that group. Call only while the runner is not yet reaped, so `group` is still the
/// runner's group. SIGTERM is followed by SIGCONT so stopped processes can act on it.
pub fn signal_all(group: Pid, signal: Signal) {
    let _ = killpg(group, signal);
    let escaped: Vec<Pid> = descendants(Pid::this())
        .into_iter()
        .filter(|d| !d.zombie && d.pgrp != group)
        .map(|d| d.pid)
        .collect();
    for &pid in &escaped {
        let _ = kill(pid, signal);
    }
    if signal == Signal::SIGTERM {
        let _ = killpg(group, Signal::SIGCONT);
        for &pid in &escaped {
            let _ = kill(pid, Signal::SIGCONT);
        }
    }
}

/// After the runner has been reaped: SIGKILLs every descendant still alive and reaps them, in
/// rounds, until `waitpid` reports that none is left or `give_up_after` passes. `pause` is
/// called between rounds with a short timeout (it should return early when a child exits).
/// Returns how many live descendants were killed.
pub fn kill_leftovers(group: Pid, give_up_after: Duration, mut pause: impl FnMut(Duration)) -> u32 {
    let give_up = Instant::now() + give_up_after;
    let mut killed: HashSet<Pid> = HashSet::new();
    loop {
        // The runner (pid == group) is already reaped, so its status cannot show up again.
        if reap_ready(group).none_left {
            break;
        }
        for leftover in descendants(Pid::this()).into_iter().filter(|d| !d.zombie) {
            if kill(leftover.pid, Signal::SIGKILL).is_ok() {
                killed.insert(leftover.pid);
            }
        }
        // Members of the runner's group are descendants too and were killed above; this only
        // closes the race with one forked after the walk.
        let _ = killpg(group, Signal::SIGKILL);
        if Instant::now() >= give_up {
            crate::diag!("reef-shim: descendants still alive after {give_up_after:?}; giving up");
            break;
        }
        pause(Duration::from_millis(5));
    }
    u32::try_from(killed.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn descendants_include_a_live_child() {
        let mut child = Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        let found = descendants(Pid::this())
            .iter()
            .any(|d| d.pid == pid && !d.zombie);
        child.kill().expect("kill sleep");
        child.wait().expect("wait sleep");
        assert!(found);
    }
}
