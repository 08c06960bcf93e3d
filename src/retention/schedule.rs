//! How the server's scheduled purge reports each tick in the log.
//!
//! A run whose holder is frozen (stopped, paused) past its lease is refused
//! on every tick ([`RetentionError::StillHeld`]) until that process resumes
//! or ends. That is a known situation the O&M dashboard shows, not an error
//! of this node: it is logged once at warn for each run and holder, and
//! at debug on the ticks after, so an hourly (or shorter) schedule does not
//! fill the log with it. Other failures stay at error on every tick.

use super::purge::PurgeRun;
use super::RetentionError;

/// How loud one tick's outcome is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loudness {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the scheduler remembers between ticks: the refusal it last warned
/// about.
#[derive(Debug, Default)]
pub struct TickLog {
    /// The run refused and why. The reason names the run's holder (and its
    /// lock file), so it changes when another process comes to hold the
    /// run, which is then warned about again.
    warned: Option<(i64, String)>,
}

impl TickLog {
    /// How loud `outcome` is, remembering a warned refusal; any other
    /// outcome forgets it, so the same refusal coming back later (its holder
    /// resumed, then froze again) is warned about again.
    pub fn loudness(&mut self, outcome: &Result<Option<PurgeRun>, RetentionError>) -> Loudness {
        if let Err(RetentionError::StillHeld { run, why }) = outcome {
            let refusal = (*run, why.clone());
            if self.warned.as_ref() == Some(&refusal) {
                return Loudness::Debug;
            }
            self.warned = Some(refusal);
            return Loudness::Warn;
        }
        self.warned = None;
        match outcome {
            Ok(None) => Loudness::Debug,
            Ok(Some(_)) | Err(RetentionError::Busy(_)) => Loudness::Info,
            Err(_) => Loudness::Error,
        }
    }

    /// Logs one tick's outcome.
    pub fn report(&mut self, outcome: Result<Option<PurgeRun>, RetentionError>) {
        let loudness = self.loudness(&outcome);
        match outcome {
            Ok(Some(r)) => tracing::info!(
                run = r.id,
                profiles = r.profiles,
                devices = r.devices,
                "scheduled purge archived subscribers"
            ),
            Ok(None) => tracing::debug!("scheduled purge: nobody is due"),
            Err(RetentionError::Busy(held)) => {
                tracing::info!(run = held.run, holder = %held.holder, "purge already running elsewhere")
            }
            Err(RetentionError::StillHeld { run, why }) if loudness == Loudness::Warn => {
                tracing::warn!(run, reason = %why, "scheduled purge: the purge run is held by a frozen process and was left alone (shown on the O&M dashboard; logged again only when another process holds it)")
            }
            Err(RetentionError::StillHeld { run, .. }) => {
                tracing::debug!(
                    run,
                    "scheduled purge: the purge run is still held by a frozen process"
                )
            }
            Err(e) => tracing::error!(error = %e, "scheduled purge failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::RunHeld;

    fn held(run: i64, holder: &str) -> Result<Option<PurgeRun>, RetentionError> {
        Err(RetentionError::StillHeld {
            run,
            why: format!("it holds the lock on /archive/run-{run}/purge.lock (its process {holder} is frozen or paused, not dead)"),
        })
    }

    #[test]
    fn a_frozen_holder_is_warned_about_once_per_run_and_holder() {
        let mut log = TickLog::default();
        assert_eq!(log.loudness(&held(7, "node-a:b:12:34")), Loudness::Warn);
        for _ in 0..5 {
            assert_eq!(log.loudness(&held(7, "node-a:b:12:34")), Loudness::Debug);
        }
        // Another process holds it now: warned again, once.
        assert_eq!(log.loudness(&held(7, "node-b:b:56:78")), Loudness::Warn);
        assert_eq!(log.loudness(&held(7, "node-b:b:56:78")), Loudness::Debug);
        // Another run.
        assert_eq!(log.loudness(&held(8, "node-b:b:56:78")), Loudness::Warn);
        // Once something else happened, the same refusal is news again.
        let busy = Err(RetentionError::Busy(RunHeld {
            run: 8,
            holder: "node-b:b:56:78".into(),
        }));
        assert_eq!(log.loudness(&busy), Loudness::Info);
        assert_eq!(log.loudness(&held(8, "node-b:b:56:78")), Loudness::Warn);
    }

    #[test]
    fn real_failures_stay_errors_on_every_tick() {
        let mut log = TickLog::default();
        for _ in 0..3 {
            let failed = Err(RetentionError::Conflict("a batch kept changing".into()));
            assert_eq!(log.loudness(&failed), Loudness::Error);
            let lost = Err(RetentionError::Lost(3));
            assert_eq!(log.loudness(&lost), Loudness::Error);
        }
        assert_eq!(log.loudness(&Ok(None)), Loudness::Debug);
    }
}
