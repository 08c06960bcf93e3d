//! The campaign scheduler, run on a timer by every node: it records what
//! became of notified devices, notifies the current wave, and when a wave
//! is over either starts the next, holds the campaign (failure threshold)
//! or completes it.
//!
//! Every change is conditional on the state it was decided from (a queued
//! device, the campaign's running wave), so two nodes ticking at once, or a
//! node that died half-way through a wave, notify nobody twice.

use diesel::prelude::*;

use super::campaign::{self, Campaign, CampaignError, CampaignState, MemberState, Tally};
use super::session::{self as fota_session, NEVER_ANSWERED};
use super::{FotaError, FotaState};
use crate::db::schema::{dm_jobs, fota_campaign_devices, fota_campaigns, fota_sessions, outbox};
use crate::db::{now_ms, DbConnection};
use crate::omadm::job::{self, JobError, JobKind};
use crate::registry::audit::{self, EntityKind};
use crate::registry::{device, Actor, RegistryError};
use crate::secrets::Vault;

/// Queued devices read at a time while a wave goes out.
const NOTIFY_BATCH: i64 = 500;

/// Devices notified per transaction.
const NOTIFY_TX: usize = 50;

/// Finished devices recorded per transaction.
const SETTLE_BATCH: usize = 500;

const SCHEDULER: Actor = Actor::System("campaign");

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ticked {
    pub notified: usize,
    pub skipped: usize,
    pub settled: usize,
    /// Notified devices whose answer time ran out this pass.
    pub unanswered: usize,
    pub paused: Vec<i64>,
    pub completed: Vec<i64>,
    /// Campaigns whose pass failed (logged); the others still moved on.
    pub failed: Vec<i64>,
}

/// One pass over every campaign the scheduler tends: running ones move on;
/// paused and recently cancelled ones only record their notified devices'
/// outcomes.
pub fn tick(
    conn: &mut DbConnection,
    vault: &Vault,
    max_parts: u8,
) -> Result<Ticked, CampaignError> {
    let mut t = Ticked::default();
    for id in campaign::tended_ids(conn, now_ms())? {
        // One campaign's failure (its next pass tries again) does not hold
        // up the others.
        if let Err(e) = step(conn, vault, max_parts, id, &mut t) {
            tracing::error!(campaign = id, error = %e, "moving the FOTA campaign on failed");
            t.failed.push(id);
        }
    }
    Ok(t)
}

/// [`step`] right after an operator's change (a start, a resume, a new
/// schedule), so what it allows goes out now rather than at the next tick.
/// The change has committed either way: a wave that fails to go out now is
/// logged and goes out at the next tick.
pub fn step_now(conn: &mut DbConnection, vault: &Vault, max_parts: u8, id: i64) -> Ticked {
    let mut t = Ticked::default();
    if let Err(e) = step(conn, vault, max_parts, id, &mut t) {
        tracing::error!(campaign = id, error = %e, "notifying the campaign's wave failed");
    }
    t
}

/// One pass over one campaign (also run right after an operator starts or
/// resumes it, so its first wave goes out at once).
pub fn step(
    conn: &mut DbConnection,
    vault: &Vault,
    max_parts: u8,
    id: i64,
    t: &mut Ticked,
) -> Result<(), CampaignError> {
    // Recording outcomes leaves the campaign row as it was: the read serves
    // the first wave's decision too. Every change below is conditional on
    // it, so a stale read is refused rather than acted on.
    let mut c = campaign::get(conn, id)?;
    t.unanswered += expire_unanswered(conn, &c)?;
    t.settled += settle(conn, id)?;
    // Waves whose devices are all skipped end at once; a bound keeps one
    // tick from walking a long run of them.
    for _ in 0..16 {
        if c.state() != CampaignState::Running {
            return Ok(());
        }
        if let Some(reason) = package_moved(conn, &c)? {
            if hold(conn, &c, &reason)? {
                t.paused.push(c.id);
            }
            return Ok(());
        }
        // Before its start or outside its window the wave waits queued;
        // outcomes of devices already notified are still recorded above.
        if c.waiting(now_ms()).is_none() {
            notify_wave(conn, vault, max_parts, &c, t)?;
        }
        let tally = campaign::wave_tally(conn, id, c.wave)?;
        if tally.open() > 0 || !conclude_wave(conn, &c, &tally, t)? {
            return Ok(());
        }
        c = campaign::get(conn, id)?;
    }
    Ok(())
}

/// Why the path's update is no longer the package the campaign was planned
/// with (withdrawn, or a newer one released): a campaign delivers what it
/// was planned and approved for, or nothing.
fn package_moved(conn: &mut DbConnection, c: &Campaign) -> Result<Option<String>, CampaignError> {
    let now = crate::firmware::package::find_update(conn, &c.make, &c.model, &c.from_version)?;
    Ok(match now {
        Some(p) if p.id == c.package_id => None,
        Some(p) => Some(format!(
            "held: the update for this path is now package {} (to {}); cancel this campaign and plan one for it",
            p.id, p.to_version
        )),
        None => Some(unreleased(conn, c.package_id)?),
    })
}

/// Why a campaign whose package is not released any more is held, with
/// the moves the package lifecycle allows back to released (a withdrawn
/// package goes through testing first).
fn unreleased(conn: &mut DbConnection, package: i64) -> Result<String, CampaignError> {
    use crate::db::schema::firmware_packages;
    use crate::firmware::package::PackageState;
    let state: Option<String> = firmware_packages::table
        .find(package)
        .select(firmware_packages::state)
        .first(conn)
        .optional()?;
    let Some(state) = state.as_deref().and_then(PackageState::parse) else {
        return Ok(format!(
            "held: package {package} is gone; cancel this campaign and plan one for the path's new package"
        ));
    };
    let steps = release_steps(state);
    if steps.is_empty() {
        return Ok(format!(
            "held: package {package} is no longer the update for this path; cancel this campaign"
        ));
    }
    let moves: Vec<String> = steps
        .iter()
        .map(|s| format!("move it to {}", s.as_str()))
        .collect();
    Ok(format!(
        "held: package {package} is {}; to deliver it, {} on its page (/firmware/packages/{package}), then resume this campaign; or cancel it",
        state.as_str(),
        moves.join(", then ")
    ))
}

/// The fewest lifecycle moves from `from` to released (none when it is
/// released, or cannot get there).
fn release_steps(
    from: crate::firmware::package::PackageState,
) -> Vec<crate::firmware::package::PackageState> {
    use crate::firmware::package::PackageState;
    let mut paths = vec![vec![from]];
    let mut seen = vec![from];
    while !paths.is_empty() {
        let mut next = Vec::new();
        for path in paths {
            let last = path[path.len() - 1];
            if last == PackageState::Released {
                return path[1..].to_vec();
            }
            for &to in last.next() {
                if !seen.contains(&to) {
                    seen.push(to);
                    let mut longer = path.clone();
                    longer.push(to);
                    next.push(longer);
                }
            }
        }
        paths = next;
    }
    Vec::new()
}

/// Pauses a running campaign at its current wave; false when it was no
/// longer running at that wave.
fn hold(conn: &mut DbConnection, c: &Campaign, reason: &str) -> Result<bool, CampaignError> {
    crate::db::write(conn, |conn| {
        let n = diesel::update(
            fota_campaigns::table
                .find(c.id)
                .filter(fota_campaigns::state.eq(CampaignState::Running.as_str()))
                .filter(fota_campaigns::wave.eq(c.wave)),
        )
        .set((
            fota_campaigns::state.eq(CampaignState::Paused.as_str()),
            fota_campaigns::detail.eq(reason),
            fota_campaigns::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
        if n == 1 {
            audit::record(
                conn,
                &SCHEDULER,
                EntityKind::Campaign,
                c.id,
                "FOTA campaign paused",
                &serde_json::json!({"wave": c.wave, "detail": reason}),
            )?;
            tracing::warn!(campaign = c.id, reason, "FOTA campaign held");
        }
        Ok(n == 1)
    })
}

/// Gives up on notified handsets that have not called back within the
/// campaign's answer time, counted from when the SMSC took the
/// notification (a notification still waiting in the outbox, the SMSC link
/// down, has not started the clock), or at once when the outbox gave up on
/// it. Their notification expires (a late call-back finds nothing to run)
/// and their FOTA session ends, so the wave can be decided. A handset that
/// did call back meanwhile is left to finish.
fn expire_unanswered(conn: &mut DbConnection, c: &Campaign) -> Result<usize, CampaignError> {
    if c.state() == CampaignState::Draft {
        return Ok(0);
    }
    let cutoff = now_ms() - i64::from(c.answer_within_mins) * 60_000;
    let rows: Vec<(i64, i64, Option<i64>, String, String)> = fota_campaign_devices::table
        .inner_join(
            dm_jobs::table.on(dm_jobs::device_id
                .eq(fota_campaign_devices::device_id)
                .and(dm_jobs::fota_session_id.eq(fota_campaign_devices::fota_session_id))),
        )
        .inner_join(outbox::table.on(dm_jobs::outbox_id.eq(outbox::id.nullable())))
        .filter(fota_campaign_devices::campaign_id.eq(c.id))
        .filter(fota_campaign_devices::state.eq(MemberState::Notified.as_str()))
        .filter(dm_jobs::state.eq("notified"))
        .filter(
            outbox::submitted_at
                .lt(cutoff)
                .or(outbox::state.eq("failed")),
        )
        .select((
            fota_campaign_devices::device_id,
            dm_jobs::id,
            fota_campaign_devices::fota_session_id,
            outbox::state,
            outbox::last_error,
        ))
        .load(conn)?;
    let unanswered = format!(
        "did not answer within {} of its notification",
        campaign::minutes_label(c.answer_within_mins)
    );
    let mut expired = 0;
    for chunk in rows.chunks(SETTLE_BATCH) {
        expired += crate::db::write(conn, |conn| -> Result<usize, CampaignError> {
            let mut n = 0;
            for (device_id, job_id, fota, sms_state, sms_error) in chunk {
                let detail = if sms_state == "failed" {
                    format!("its notification could not be sent: {sms_error}")
                } else {
                    unanswered.clone()
                };
                // Conditional: a call-back that started the job wins.
                let now = now_ms();
                let gone = crate::native!(conn, |cn| crate::db::fixed_update(
                    dm_jobs::table
                        .filter(dm_jobs::id.eq(job_id))
                        .filter(dm_jobs::state.eq("notified")),
                    (
                        dm_jobs::state.eq("expired"),
                        dm_jobs::detail.eq(&detail),
                        dm_jobs::updated_at.eq(now),
                    )
                )
                .execute(cn))?;
                if gone == 0 {
                    continue;
                }
                if let Some(f) = fota {
                    match fota_session::advance(conn, *f, FotaState::Failed, NEVER_ANSWERED) {
                        // A session that moved on regardless ends as it
                        // will; the member follows its job.
                        Ok(_) | Err(FotaError::Transition { .. } | FotaError::NotFound(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                n += set_member(
                    conn,
                    c.id,
                    *device_id,
                    MemberState::Notified,
                    MemberState::Unanswered,
                    &detail,
                    None,
                )?;
            }
            Ok(n)
        })?;
    }
    if expired > 0 {
        tracing::info!(
            campaign = c.id,
            devices = expired,
            "campaign devices unanswered"
        );
    }
    Ok(expired)
}

/// Moves notified devices whose FOTA session has ended to what it ended as.
fn settle(conn: &mut DbConnection, id: i64) -> Result<usize, CampaignError> {
    let ended = [
        FotaState::Succeeded.as_str(),
        FotaState::Failed.as_str(),
        FotaState::Cancelled.as_str(),
        FotaState::NoUpdate.as_str(),
    ];
    // The device, and its session's state, detail and package (if offered).
    type Ended = (i64, Option<String>, Option<String>, Option<i64>);
    let rows: Vec<Ended> = fota_campaign_devices::table
        .left_join(
            fota_sessions::table.on(fota_sessions::id
                .nullable()
                .eq(fota_campaign_devices::fota_session_id)),
        )
        .filter(fota_campaign_devices::campaign_id.eq(id))
        .filter(fota_campaign_devices::state.eq(MemberState::Notified.as_str()))
        .filter(
            fota_sessions::state
                .nullable()
                .eq_any(ended)
                .or(fota_sessions::id.nullable().is_null()),
        )
        .select((
            fota_campaign_devices::device_id,
            fota_sessions::state.nullable(),
            fota_sessions::detail.nullable(),
            fota_sessions::package_id.nullable(),
        ))
        .load(conn)?;
    let mut settled = 0;
    // A wave's outcomes in a few transactions rather than one each: a wave
    // of ten thousand is recorded in well under a second.
    for chunk in rows.chunks(SETTLE_BATCH) {
        settled += crate::db::write(conn, |conn| -> Result<usize, CampaignError> {
            let mut n = 0;
            for (device_id, session_state, detail, package) in chunk {
                let (state, detail) = outcome(
                    session_state.as_deref(),
                    package.is_some(),
                    detail.as_deref(),
                );
                n += set_member(
                    conn,
                    id,
                    *device_id,
                    MemberState::Notified,
                    state,
                    detail,
                    None,
                )?;
            }
            Ok(n)
        })?;
    }
    Ok(settled)
}

/// What a campaign device became, by how its FOTA session ended and
/// whether it had been offered the package.
fn outcome<'a>(
    session_state: Option<&str>,
    offered: bool,
    detail: Option<&'a str>,
) -> (MemberState, &'a str) {
    match session_state.and_then(FotaState::parse) {
        Some(FotaState::Succeeded) => (MemberState::Succeeded, detail.unwrap_or_default()),
        Some(FotaState::Cancelled) => (MemberState::Declined, detail.unwrap_or_default()),
        Some(FotaState::NoUpdate) => (
            MemberState::Skipped,
            "no released update for its version when it asked",
        ),
        // Ended before the package was ever offered: its notification
        // expired, the handset never continued, or an operator closed the
        // session ("handset lost"). No update ran, so none failed: the
        // device may be notified again, as the FOTA statistics count such
        // sessions too (`outcomes`).
        Some(FotaState::Failed) if !offered => (
            MemberState::Unanswered,
            detail
                .filter(|d| !d.is_empty())
                .unwrap_or("did not answer its notification"),
        ),
        Some(_) => (MemberState::Failed, detail.unwrap_or_default()),
        None => (
            MemberState::Failed,
            "its FOTA session is no longer on record",
        ),
    }
}

/// Moves a device from `from` to `to`; 0 when it was no longer `from`.
fn set_member(
    conn: &mut DbConnection,
    campaign: i64,
    device_id: i64,
    from: MemberState,
    to: MemberState,
    detail: &str,
    fota_session: Option<i64>,
) -> QueryResult<usize> {
    let target = fota_campaign_devices::table
        .filter(fota_campaign_devices::campaign_id.eq(campaign))
        .filter(fota_campaign_devices::device_id.eq(device_id))
        .filter(fota_campaign_devices::state.eq(from.as_str()));
    let now = now_ms();
    // Kept prepared: a wave runs these thousands of times.
    match fota_session {
        Some(f) => crate::native!(conn, |c| crate::db::fixed_update(
            target,
            (
                fota_campaign_devices::state.eq(to.as_str()),
                fota_campaign_devices::detail.eq(detail),
                fota_campaign_devices::fota_session_id.eq(f),
                fota_campaign_devices::updated_at.eq(now),
            )
        )
        .execute(c)),
        None => crate::native!(conn, |c| crate::db::fixed_update(
            target,
            (
                fota_campaign_devices::state.eq(to.as_str()),
                fota_campaign_devices::detail.eq(detail),
                fota_campaign_devices::updated_at.eq(now),
            )
        )
        .execute(c)),
    }
}

fn notify_wave(
    conn: &mut DbConnection,
    vault: &Vault,
    max_parts: u8,
    c: &Campaign,
    t: &mut Ticked,
) -> Result<(), CampaignError> {
    // The whole wave goes out in this pass, a batch of ids at a time, each
    // device in a transaction of its own; the outbox paces the SMSC.
    let mut after = 0;
    loop {
        let queued: Vec<i64> = fota_campaign_devices::table
            .filter(fota_campaign_devices::campaign_id.eq(c.id))
            .filter(fota_campaign_devices::wave.eq(c.wave))
            .filter(fota_campaign_devices::state.eq(MemberState::Queued.as_str()))
            .filter(fota_campaign_devices::device_id.gt(after))
            .order(fota_campaign_devices::device_id)
            .limit(NOTIFY_BATCH)
            .select(fota_campaign_devices::device_id)
            .load(conn)?;
        let Some(last) = queued.last() else {
            return Ok(());
        };
        after = *last;
        // A few dozen devices to a transaction: on PostgreSQL a commit per
        // device made the WAL flush the whole cost (150 notifications/s).
        for chunk in queued.chunks(NOTIFY_TX) {
            let sent = crate::db::write(conn, |conn| -> Result<_, CampaignError> {
                if !running_locked(conn, c)? {
                    return Ok(None);
                }
                let (mut notified, mut skipped) = (0, 0);
                for device_id in chunk {
                    match notify_member(conn, vault, max_parts, c, *device_id)? {
                        Some(MemberState::Notified) => notified += 1,
                        Some(_) => skipped += 1,
                        None => {}
                    }
                }
                Ok(Some((notified, skipped)))
            })?;
            // Paused or cancelled meanwhile: the rest of the wave waits.
            let Some((notified, skipped)) = sent else {
                return Ok(());
            };
            t.notified += notified;
            t.skipped += skipped;
        }
    }
}

/// Whether the campaign still runs at the wave this tick read, holding its
/// row until the caller's transaction ends on PostgreSQL: a pause or cancel
/// waits for the devices being notified, then stops the rest. (A SQLite
/// write transaction already excludes every other writer.)
fn running_locked(conn: &mut DbConnection, c: &Campaign) -> QueryResult<bool> {
    let q = fota_campaigns::table
        .find(c.id)
        .filter(fota_campaigns::state.eq(CampaignState::Running.as_str()))
        .filter(fota_campaigns::wave.eq(c.wave))
        .select(fota_campaigns::id);
    let found: Option<i64> = match conn {
        DbConnection::Sqlite(s) => q.first(s).optional()?,
        DbConnection::Postgres(p) => q.for_update().first(p).optional()?,
    };
    Ok(found.is_some())
}

/// Notifies one queued device in the caller's transaction, together with
/// taking it off the queue: a crash leaves it either queued or notified,
/// never both. `None` when another node took it first.
fn notify_member(
    conn: &mut DbConnection,
    vault: &Vault,
    max_parts: u8,
    c: &Campaign,
    device_id: i64,
) -> Result<Option<MemberState>, CampaignError> {
    let claimed = set_member(
        conn,
        c.id,
        device_id,
        MemberState::Queued,
        MemberState::Notified,
        "",
        None,
    )?;
    if claimed == 0 {
        return Ok(None);
    }
    let skip = |conn: &mut DbConnection, why: String| {
        set_member(
            conn,
            c.id,
            device_id,
            MemberState::Notified,
            MemberState::Skipped,
            &why,
            None,
        )
        .map(|_| Some(MemberState::Skipped))
    };
    // (PostgreSQL keeps no foreign key from members to devices: a device
    // purged while the campaign was planned may be gone.)
    let dev = match device::get(conn, device_id) {
        Ok(dev) => dev,
        Err(RegistryError::NotFound(_)) => {
            return Ok(skip(conn, "it is no longer registered".into())?)
        }
        Err(e) => return Err(e.into()),
    };
    if dev.firmware_version != c.from_version {
        return Ok(skip(
            conn,
            format!("it is at {} now", dev.firmware_version),
        )?);
    }
    // `notify` runs in a savepoint: a device it refuses leaves nothing of
    // its own behind.
    match job::notify_device(conn, vault, &dev, JobKind::Fota, &SCHEDULER, max_parts) {
        Ok((j, msg)) => {
            let detail = format!("notified (message {})", msg.id);
            set_member(
                conn,
                c.id,
                device_id,
                MemberState::Notified,
                MemberState::Notified,
                &detail,
                j.fota_session_id,
            )?;
            Ok(Some(MemberState::Notified))
        }
        Err(e) if cannot_be_notified(&e) => {
            tracing::info!(campaign = c.id, device = device_id, reason = %e, "campaign device skipped");
            Ok(skip(conn, e.to_string())?)
        }
        Err(e) => Err(e.into()),
    }
}

/// What is the device's own state rather than a failure of the platform.
fn cannot_be_notified(e: &JobError) -> bool {
    match e {
        JobError::NoMdn
        | JobError::NoAccount
        | JobError::HandsetDeactivated
        | JobError::NoUpdate(_)
        | JobError::NotOmadm(_)
        | JobError::FotaBusy(_)
        | JobError::FotaStarted
        | JobError::Content(_) => true,
        JobError::Registry(r) => !matches!(r, RegistryError::Db(_)),
        JobError::Fota(f) => !matches!(f, super::FotaError::Db(_)),
        // A campaign queues no operator commands.
        JobError::Db(_) | JobError::Commands(_) => false,
    }
}

/// Decides what follows a wave with no device left open. True when the
/// next wave is due now.
fn conclude_wave(
    conn: &mut DbConnection,
    c: &Campaign,
    wave: &Tally,
    t: &mut Ticked,
) -> Result<bool, CampaignError> {
    let last = c.wave >= c.waves;
    let over = wave.exceeds(c.failure_threshold);
    let now = now_ms();
    let (state, next, detail) = if last {
        let all = campaign::progress(conn, c)?.overall;
        let mut detail = format!(
            "{} updated, {} failed, {} declined, {} unanswered, {} skipped",
            all.succeeded, all.failed, all.declined, all.unanswered, all.skipped
        );
        // An end that updated nobody is said first, with why its devices
        // were skipped: "completed" alone read as a success.
        if all.succeeded == 0 {
            detail = if all.skipped > 0 && all.skipped == all.finished() - all.cancelled {
                format!(
                    "nothing updated: all {} device(s) skipped ({}); fix that and re-queue the skipped devices",
                    all.skipped,
                    campaign::reasons_label(&campaign::skip_reasons(conn, c.id, None)?)
                )
            } else if all.skipped > 0 {
                format!(
                    "nothing updated: {detail} (skipped {})",
                    campaign::reasons_label(&campaign::skip_reasons(conn, c.id, None)?)
                )
            } else {
                format!("nothing updated: {detail}")
            };
        }
        if over {
            detail.push_str(&format!(
                "; the last wave failed {} of {} updates, over the {}% threshold",
                wave.failed,
                wave.succeeded + wave.failed,
                c.failure_threshold
            ));
        }
        (CampaignState::Completed, c.wave, detail)
    } else if c.wave == 1 && c.canary.is_some() && wave.all_skipped() {
        // The canary proves the package before the rest go out; one whose
        // devices were all skipped proved nothing, so the rest wait as for
        // a failing canary. (A campaign without one runs on, and an end
        // that updated nobody says so.)
        (
            CampaignState::Paused,
            c.wave + 1,
            format!(
                "held before wave {}: none of wave {}'s {} device(s) could be notified, so it proved nothing ({}); fix that, re-queue the skipped devices, then resume",
                c.wave + 1,
                c.wave,
                wave.skipped,
                campaign::reasons_label(&campaign::skip_reasons(conn, c.id, Some(c.wave))?)
            ),
        )
    } else if over {
        (
            CampaignState::Paused,
            c.wave + 1,
            format!(
                "held before wave {}: wave {} failed {} of {} updates ({}%), over the {}% threshold",
                c.wave + 1,
                c.wave,
                wave.failed,
                wave.succeeded + wave.failed,
                wave.failure_percent().unwrap_or(0),
                c.failure_threshold
            ),
        )
    } else {
        (CampaignState::Running, c.wave + 1, String::new())
    };
    let done = state == CampaignState::Completed;
    let changed = crate::db::write(conn, |conn| -> Result<usize, CampaignError> {
        // Also conditional on the waves read: waves added meanwhile (a
        // re-queue, a re-notify) make the last wave no longer the last.
        let n = diesel::update(
            fota_campaigns::table
                .find(c.id)
                .filter(fota_campaigns::state.eq(CampaignState::Running.as_str()))
                .filter(fota_campaigns::wave.eq(c.wave))
                .filter(fota_campaigns::waves.eq(c.waves)),
        )
        .set((
            fota_campaigns::state.eq(state.as_str()),
            fota_campaigns::wave.eq(next),
            fota_campaigns::detail.eq(&detail),
            fota_campaigns::updated_at.eq(now),
            fota_campaigns::finished_at.eq(done.then_some(now)),
        ))
        .execute(conn)?;
        if n == 1 && state != CampaignState::Running {
            audit::record(
                conn,
                &SCHEDULER,
                EntityKind::Campaign,
                c.id,
                &format!("FOTA campaign {}", state.as_str()),
                &serde_json::json!({"wave": c.wave, "detail": detail}),
            )?;
        }
        Ok(n)
    })?;
    if changed == 0 {
        // Another node, or an operator, moved it first.
        return Ok(false);
    }
    match state {
        CampaignState::Paused => {
            tracing::warn!(campaign = c.id, reason = %detail, "FOTA campaign held");
            t.paused.push(c.id);
        }
        CampaignState::Completed => {
            tracing::info!(campaign = c.id, summary = %detail, "FOTA campaign completed");
            t.completed.push(c.id);
        }
        _ => tracing::info!(campaign = c.id, wave = next, "FOTA campaign wave started"),
    }
    Ok(state == CampaignState::Running)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_end_decides_what_the_device_became() {
        assert_eq!(
            outcome(Some("succeeded"), true, Some("200 OK")),
            (MemberState::Succeeded, "200 OK")
        );
        // The subscriber said no: not a failure of the package.
        assert_eq!(
            outcome(Some("cancelled"), true, Some("401")).0,
            MemberState::Declined
        );
        assert_eq!(
            outcome(Some("failed"), true, Some("abandoned")),
            (MemberState::Failed, "abandoned")
        );
        assert_eq!(
            outcome(Some("no_update"), false, None).0,
            MemberState::Skipped
        );
        // A handset that never called back is not a failed update...
        assert_eq!(
            outcome(Some("failed"), false, Some(NEVER_ANSWERED)).0,
            MemberState::Unanswered
        );
        // ...nor is a session an operator closed before any offer, whatever
        // its detail says.
        assert_eq!(
            outcome(
                Some("failed"),
                false,
                Some("closed by user:ops while pending: handset lost")
            ),
            (
                MemberState::Unanswered,
                "closed by user:ops while pending: handset lost"
            )
        );
        assert_eq!(
            outcome(Some("failed"), false, Some("")).1,
            "did not answer its notification"
        );
        assert_eq!(
            outcome(None, false, None),
            (
                MemberState::Failed,
                "its FOTA session is no longer on record"
            )
        );
    }

    #[test]
    fn a_withdrawn_package_goes_back_through_testing() {
        use crate::firmware::package::PackageState::*;
        assert_eq!(release_steps(Withdrawn), [Testing, Released]);
        assert_eq!(release_steps(Testing), [Released]);
        assert_eq!(release_steps(Draft), [Testing, Released]);
        assert!(release_steps(Released).is_empty());
    }
}
