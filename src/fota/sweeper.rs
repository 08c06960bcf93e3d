//! Closes what devices abandoned: FOTA sessions a device never continued or
//! went silent on after the offer, notifications never answered, DM
//! sessions left idle. Run by the server on
//! a timer so the screens do not show sessions as open forever.

use diesel::prelude::*;

use super::session::{
    self, FotaState, ABANDONED_AFTER_MS, DOWNLOAD_STALL_MINUTES, NEVER_ANSWERED, SILENT_AFTER_MS,
};
use super::FotaError;
use crate::db::schema::{dm_jobs, dm_sessions, fota_sessions};
use crate::db::{now_ms, DbConnection};
use crate::omadm::job::JOB_TTL_MS;

/// A DM session idle this long is over (as the engine also decides).
const DM_SESSION_IDLE_MS: i64 = 30 * 60 * 1000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub fota_sessions: usize,
    pub jobs: usize,
    pub dm_sessions: usize,
    /// IOTA call-backs never followed and IOTA sessions the handset left.
    pub iota_sessions: usize,
}

/// [`sweep_with`] the default download stall window
/// ([`DOWNLOAD_STALL_MINUTES`]).
pub fn sweep(conn: &mut DbConnection) -> Result<Swept, FotaError> {
    sweep_with(conn, DOWNLOAD_STALL_MINUTES)
}

/// One pass; an offered session whose download started and then had no
/// request for `download_stall_minutes` (`MDM_FOTA_DOWNLOAD_STALL_MINUTES`;
/// 0: never) is closed as failed.
pub fn sweep_with(
    conn: &mut DbConnection,
    download_stall_minutes: u32,
) -> Result<Swept, FotaError> {
    let now = now_ms();
    let mut swept = Swept::default();

    // Notifications nobody answered, and the FOTA sessions they opened.
    let expired: Vec<(i64, Option<i64>)> = dm_jobs::table
        .filter(dm_jobs::state.eq("notified"))
        .filter(dm_jobs::created_at.lt(now - JOB_TTL_MS))
        .select((dm_jobs::id, dm_jobs::fota_session_id))
        .load(conn)?;
    for (job, fota) in &expired {
        crate::omadm::job::set_state(conn, *job, "expired", "the device did not call back")?;
        if let Some(f) = fota {
            let _ = session::advance(conn, *f, FotaState::Failed, NEVER_ANSWERED);
        }
    }
    swept.jobs = expired.len();

    // Jobs whose DM session went quiet before they finished (a handset
    // that dropped the session): failed with how far they got, before the
    // quiet sessions that hold their results are deleted below. The FOTA
    // sessions they held are then abandoned like any other.
    swept.jobs += crate::omadm::job::time_out_running(conn, now, DM_SESSION_IDLE_MS)?;

    // Pending sessions still waiting for a notified device (or one whose
    // job is running) are not abandoned. Asked per stale session (by its device's jobs, an index
    // range) rather than loading every open job: a campaign wave leaves
    // tens of thousands of those.
    // (diesel has no correlated subquery; the SQL is the same on both.)
    let unawaited = diesel::dsl::sql::<diesel::sql_types::Bool>(
        "NOT EXISTS (SELECT 1 FROM dm_jobs j WHERE j.device_id = fota_sessions.device_id \
         AND j.fota_session_id = fota_sessions.id AND j.state IN ('notified', 'running'))",
    );
    let stale: Vec<i64> = fota_sessions::table
        .filter(fota_sessions::state.eq_any(["pending", "querying"]))
        .filter(fota_sessions::updated_at.lt(now - ABANDONED_AFTER_MS))
        .filter(unawaited)
        .select(fota_sessions::id)
        .load(conn)?;
    for id in stale {
        session::advance(
            conn,
            id,
            FotaState::Failed,
            "abandoned: the device did not continue the session",
        )?;
        swept.fota_sessions += 1;
    }

    // Downloads the handset started and dropped part-way: after the stall
    // window rather than the day an offer it has not started on gets, so
    // the campaign wave it belongs to moves on. A download that reached
    // the package's end waits for its install like any offer (below).
    if download_stall_minutes > 0 {
        let stall_ms = i64::from(download_stall_minutes) * 60_000;
        let short = diesel::dsl::sql::<diesel::sql_types::Bool>(
            "download_bytes < (SELECT p.size FROM firmware_packages p \
             WHERE p.id = fota_sessions.package_id)",
        );
        let stalled: Vec<i64> = fota_sessions::table
            .filter(fota_sessions::state.eq(FotaState::Offered.as_str()))
            .filter(fota_sessions::download_at.lt(now - stall_ms))
            .filter(short)
            .select(fota_sessions::id)
            .load(conn)?;
        for id in stalled {
            if session::close_if_stalled(conn, id, now, stall_ms)? {
                swept.fota_sessions += 1;
            }
        }
    }

    // Offers the handset went silent on (a download lost for good, a
    // handset that went away): left open, they would keep the device from
    // every later update. No job keeps these: the handset has called back.
    // Silence runs from the last activity, not the last state change: a
    // slow download that keeps asking for its package over more than a
    // day is not abandoned (a stalled one is closed above).
    let cutoff = now - SILENT_AFTER_MS;
    let silent: Vec<i64> = fota_sessions::table
        .filter(fota_sessions::state.eq_any(["offered", "downloaded"]))
        .filter(fota_sessions::updated_at.lt(cutoff))
        .filter(
            fota_sessions::download_at
                .is_null()
                .or(fota_sessions::download_at.lt(cutoff)),
        )
        .select(fota_sessions::id)
        .load(conn)?;
    for id in silent {
        if session::close_if_silent(conn, id, now)? {
            swept.fota_sessions += 1;
        }
    }

    swept.dm_sessions = diesel::delete(
        dm_sessions::table.filter(dm_sessions::updated_at.lt(now - DM_SESSION_IDLE_MS)),
    )
    .execute(conn)?;
    swept.iota_sessions = crate::iota::session::expire_unanswered(conn, now)?
        + crate::iota::session::expire_idle(conn, now)?;
    Ok(swept)
}
