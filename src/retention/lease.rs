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

use std::sync::OnceLock;

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
/// and boot whose pid has gone or been reused. `false` whenever that cannot
/// be known (another host, another boot, no `/proc`, a holder written by an
/// older release), so a live run is never taken for a dead one.
pub fn is_gone(holder: &str) -> bool {
    match on_this_host(holder) {
        Some((pid, start)) => start_time(pid).as_deref() != Some(start),
        None => false,
    }
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

/// Field 22 of `/proc/PID/stat`: when the process started. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted
/// after its closing parenthesis.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
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
}
