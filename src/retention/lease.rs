//! Who holds a long-running run (a purge, a portal import) and whether that
//! holder is known to be gone.
//!
//! A run names its holder as `host:boot:pid:start` (the kernel's boot id and
//! the process's start time, in clock ticks since boot). A process of the
//! same host and boot can tell for certain whether that process still runs:
//! its pid is gone, or now belongs to a process started at another time (a
//! container's server is pid 1 after every restart). A holder on another
//! host, or named by a release before holders, is judged by the run's own
//! lease (its heartbeat) instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file in a run's archive folder that its holder keeps locked.
pub const LOCK_FILE: &str = "purge.lock";

/// An exclusive OS advisory lock (`flock`) on a run's lock file, held for as
/// long as this value lives. The lease in the database tells nodes apart;
/// this tells a frozen process (SIGSTOP, a paused VM) from a dead one: the
/// kernel drops the lock the moment its process dies, and never while it is
/// only stopped, so a process that wakes past its lease cannot find its run
/// taken over and write over the archive of the process that took it. It
/// holds only where the archive folder's storage honours locks (a local
/// disk, NFSv4).
///
/// The file is never deleted: a process that unlinked it while another had
/// it open would leave the two locking different files.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `run_dir`'s lock file, creating the folder and the file when
    /// missing; `None` when another open file (a live process) holds it.
    pub fn try_acquire(run_dir: &Path) -> std::io::Result<Option<RunLock>> {
        std::fs::create_dir_all(run_dir)?;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(lock_path(run_dir))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// The lock file of the run whose archive folder is `run_dir`.
pub fn lock_path(run_dir: &Path) -> PathBuf {
    run_dir.join(LOCK_FILE)
}

/// This process, as runs it holds name it.
pub fn this_process() -> &'static str {
    static ME: OnceLock<String> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        format!(
            "{}:{}:{pid}:{}",
            hostname(),
            boot_id().unwrap_or_default(),
            start_time(pid).unwrap_or_default()
        )
    })
}

/// Whether `holder` is certainly no longer running: a process of this host
/// and boot whose pid has gone or been reused, or that has exited and only
/// waits for its parent to reap it (a zombie runs no more code, so its run
/// would otherwise look held until the parent gets round to it). `false`
/// whenever that cannot be known (another host, another boot, no `/proc`, a
/// holder written by an older release), so a live run is never taken for a
/// dead one.
pub fn is_gone(holder: &str) -> bool {
    match on_this_host(holder) {
        Some((pid, start)) => match stat_fields(pid) {
            Some(fields) => {
                fields.start.as_deref() != Some(start) || matches!(fields.state, 'Z' | 'X')
            }
            None => true,
        },
        None => false,
    }
}

/// The host a holder named (empty for a holder of an older release).
pub fn host_of(holder: &str) -> &str {
    let mut parts = holder.rsplitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(_), Some(host)) => host,
        _ => "",
    }
}

/// The name of this host, as holders name it.
pub fn this_host() -> String {
    hostname()
}

/// Whether `holder` is a process of this host and boot (alive or not).
pub fn is_local(holder: &str) -> bool {
    on_this_host(holder).is_some()
}

/// The pid and start time of a holder of this host and boot.
fn on_this_host(holder: &str) -> Option<(u32, &str)> {
    let mut parts = holder.rsplitn(4, ':');
    let (start, pid, boot, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let mine = boot_id()?;
    if host != hostname() || boot != mine || start.is_empty() {
        return None;
    }
    Some((pid.parse().ok()?, start))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().replace(':', "_"))
        .unwrap_or_default()
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
}

struct Stat {
    /// Field 3: R, S, D... or Z (exited, not yet reaped) and X (dead).
    state: char,
    /// Field 22: when the process started.
    start: Option<String>,
}

/// The fields of `/proc/PID/stat` a holder is judged by. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after
/// its closing parenthesis.
fn stat_fields(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut after = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = after.next()?.chars().next()?;
    Some(Stat {
        state,
        start: after.nth(18).map(str::to_string),
    })
}

fn start_time(pid: u32) -> Option<String> {
    stat_fields(pid)?.start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_gone() {
        let me = this_process();
        assert!(!is_gone(me), "{me}");
        if boot_id().is_none() {
            return; // no /proc: nothing can be known, nothing is gone
        }
        assert!(is_local(me));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid).unwrap_or_default();
        child.wait().unwrap();
        let (host, boot) = (hostname(), boot_id().unwrap_or_default());
        assert!(is_gone(&format!("{host}:{boot}:{pid}:{start}")));
        // The same pid started at another time is another process.
        let pid = std::process::id();
        assert!(is_gone(&format!("{host}:{boot}:{pid}:1")));
        // Another host, another boot or an older release's holder: unknown.
        assert!(!is_gone(&format!("elsewhere:{boot}:{pid}:1")));
        assert!(!is_gone(&format!("{host}:another-boot:{pid}:1")));
        assert!(!is_gone(""));
        assert!(!is_local(""));
    }

    #[test]
    fn a_run_lock_is_exclusive_and_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run-000001");
        let held = RunLock::try_acquire(&run_dir).unwrap();
        assert!(held.is_some(), "the first taker gets it");
        // flock is per open file: a second open, as another process's, is refused.
        assert!(RunLock::try_acquire(&run_dir).unwrap().is_none());
        drop(held);
        assert!(RunLock::try_acquire(&run_dir).unwrap().is_some());
        assert!(lock_path(&run_dir).is_file(), "the file stays");
    }

    #[test]
    fn a_killed_process_not_yet_reaped_is_gone() {
        if boot_id().is_none() {
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = start_time(pid).unwrap();
        let holder = format!("{}:{}:{pid}:{start}", hostname(), boot_id().unwrap());
        assert!(!is_gone(&holder), "a sleeping process is alive");
        child.kill().unwrap();
        // Not reaped: the pid stays a zombie with the same start time until
        // `wait`. Waiting for the state (not for a time) keeps this exact.
        let mut state = ' ';
        for _ in 0..10_000 {
            state = stat_fields(pid).unwrap().state;
            if state == 'Z' {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(state, 'Z');
        assert_eq!(start_time(pid).as_deref(), Some(start.as_str()));
        assert!(is_gone(&holder), "a zombie runs no more code");
        child.wait().unwrap();
        assert!(is_gone(&holder));
        assert_eq!(host_of(&holder), hostname());
        assert_eq!(host_of("old-holder"), "");
    }
}
