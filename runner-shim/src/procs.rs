//! What `/proc` says about this machine's processes, read through `procfs`: the one place the
//! shim (finding the runner's descendants), the host (re-finding shims, killing orphans) and
//! the tests look. A process that exits while it is being read is simply not there.

use procfs::process::{Process, all_processes};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

/// A process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStat {
    /// Its id.
    pub pid: i32,
    /// Its parent's id.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// It has exited and waits for its parent to reap it.
    pub zombie: bool,
    /// When it started, in clock ticks since boot: with the pid, what names one process across
    /// pid reuse.
    pub start_ticks: u64,
}

fn stat_of(process: &Process) -> Option<ProcessStat> {
    let stat = process.stat().ok()?;
    Some(ProcessStat {
        pid: stat.pid,
        ppid: stat.ppid,
        pgrp: stat.pgrp,
        zombie: stat.state == 'Z',
        start_ticks: stat.starttime,
    })
}

fn processes() -> impl Iterator<Item = Process> {
    all_processes().into_iter().flatten().flatten()
}

/// Process `pid` now, if it exists.
pub fn stat(pid: i32) -> Option<ProcessStat> {
    stat_of(&Process::new(pid).ok()?)
}

/// Every process now.
pub fn all() -> Vec<ProcessStat> {
    processes().filter_map(|p| stat_of(&p)).collect()
}

/// Every process now, by pid, with its command line (argv as text).
pub fn command_lines() -> Vec<(i32, Vec<String>)> {
    processes()
        .filter_map(|p| Some((p.pid(), p.cmdline().ok()?)))
        .collect()
}

/// Processes (zombies included: see [`ProcessStat::zombie`]) whose environment holds every
/// `key=value` of `vars`. A runner's descendants inherit its environment, so this finds them
/// wherever they were reparented.
pub fn with_env(vars: &[(&str, &str)]) -> Vec<ProcessStat> {
    with_env_where(|environ| {
        vars.iter().all(|(key, value)| {
            environ
                .get(OsStr::new(key))
                .is_some_and(|v| v == OsStr::new(value))
        })
    })
}

/// Processes whose whole environment satisfies `matches`.
pub fn with_env_where(matches: impl Fn(&HashMap<OsString, OsString>) -> bool) -> Vec<ProcessStat> {
    processes()
        .filter(|p| p.environ().is_ok_and(|environ| matches(&environ)))
        .filter_map(|p| stat_of(&p))
        .collect()
}

/// Resident set size of process `pid` in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    Process::new(pid).ok()?.status().ok()?.vmrss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen_with_its_parent_and_environment() {
        let me = std::process::id() as i32;
        let found = stat(me).expect("this process");
        assert_eq!(found.ppid, nix::unistd::getppid().as_raw());
        assert!(!found.zombie && found.start_ticks > 0);
        assert!(all().iter().any(|s| s.pid == me));
        let path = std::env::var("PATH").expect("PATH is set in tests");
        assert!(with_env(&[("PATH", &path)]).iter().any(|s| s.pid == me));
        assert!(
            !with_env(&[("PATH", "surely-not-this")])
                .iter()
                .any(|s| s.pid == me)
        );
        assert!(rss_kib(me).is_some_and(|kib| kib > 0));
    }
}
