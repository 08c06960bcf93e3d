//! Reading an archive run back into the live database: each subscriber
//! returns with new ids, its devices and its history, unless its MDN, ESN or
//! MEID has been taken since; those are reported and skipped. The restore
//! restarts the purge clock of what it brings back, so the next purge does
//! not take it straight back to the archive. A device's OMA-DM account and
//! FOTA history come back with it (archives written before they were kept
//! have neither); its DM jobs and campaign memberships were never archived.

use diesel::prelude::*;
use serde::Serialize;

use super::archive::{self, ArchivedAccount, ArchivedSession};
use super::RetentionError;
use crate::db::schema::{
    audit_events, devices, dm_accounts, firmware_packages, fota_events, fota_sessions, profiles,
};
use crate::db::{now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::Actor;
use crate::secrets::Vault;

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub profiles: i64,
    pub devices: i64,
    /// OMA-DM accounts restored with their devices.
    pub dm_accounts: i64,
    /// FOTA sessions (with their events) restored with their devices.
    pub fota_sessions: i64,
    pub skipped: Vec<String>,
    /// What came back incompletely, and what to do about it.
    pub notes: Vec<String>,
}

/// What a restore never brings back, for its report.
pub const NOT_RESTORED: &str = "campaign memberships and OMA-DM jobs are not archived: a restored device is in no campaign and has no jobs";

/// Brings back the OMA-DM account and FOTA sessions archived with device
/// `old` as device `new`, in the caller's transaction. The account's
/// passwords were sealed for the old row and are sealed again for the new
/// one; an account this node's key does not open, or whose DM user name
/// another device has taken since, is left out with a note.
fn restore_device_extras(
    conn: &mut DbConnection,
    vault: &Vault,
    rec: &archive::Record,
    (old, new): (i64, i64),
    label: &str,
    report: &mut RestoreReport,
) -> Result<(), RetentionError> {
    if let Some(a) = rec.dm_accounts.iter().find(|a| a.device_id == old) {
        restore_account(conn, vault, a, new, label, report)?;
    }
    let mut mine: Vec<&ArchivedSession> = rec
        .fota_sessions
        .iter()
        .filter(|s| s.device_id == old)
        .collect();
    mine.sort_by_key(|s| s.id);
    for s in mine {
        // A package deleted since leaves the session without it, as its
        // foreign key would have.
        let package = match s.package_id {
            Some(p) => firmware_packages::table
                .find(p)
                .select(firmware_packages::id)
                .first::<i64>(conn)
                .optional()?,
            None => None,
        };
        let row = (
            fota_sessions::device_id.eq(new),
            fota_sessions::protocol.eq(&s.protocol),
            fota_sessions::state.eq(&s.state),
            fota_sessions::from_version.eq(&s.from_version),
            fota_sessions::to_version.eq(&s.to_version),
            fota_sessions::package_id.eq(package),
            fota_sessions::correlator.eq(&s.correlator),
            fota_sessions::result_code.eq(s.result_code),
            fota_sessions::detail.eq(&s.detail),
            fota_sessions::created_at.eq(s.created_at),
            fota_sessions::updated_at.eq(s.updated_at),
        );
        let id: i64 = crate::native!(conn, |c| diesel::insert_into(fota_sessions::table)
            .values(row)
            .returning(fota_sessions::id)
            .get_result(c))?;
        if !s.events.is_empty() {
            // The insert's trigger recorded the session as created in its
            // final state; the archived events are what really happened.
            diesel::delete(fota_events::table.filter(fota_events::fota_session_id.eq(id)))
                .execute(conn)?;
            for e in &s.events {
                diesel::insert_into(fota_events::table)
                    .values((
                        fota_events::fota_session_id.eq(id),
                        fota_events::at.eq(e.at),
                        fota_events::from_state.eq(&e.from_state),
                        fota_events::to_state.eq(&e.to_state),
                        fota_events::detail.eq(&e.detail),
                    ))
                    .execute(conn)?;
            }
        }
        report.fota_sessions += 1;
    }
    Ok(())
}

fn restore_account(
    conn: &mut DbConnection,
    vault: &Vault,
    a: &ArchivedAccount,
    new: i64,
    label: &str,
    report: &mut RestoreReport,
) -> Result<(), RetentionError> {
    use crate::omadm::account::reseal_for_device;
    let reseal = |column| {
        let stored = match column {
            "server_password" => &a.server_password,
            _ => &a.client_password,
        };
        reseal_for_device(vault, column, a.device_id, new, stored)
    };
    let (Ok(server_password), Ok(client_password)) =
        (reseal("server_password"), reseal("client_password"))
    else {
        report.notes.push(format!(
            "{label}: its OMA-DM credentials were sealed under another secrets key and were not restored; set them again"
        ));
        return Ok(());
    };
    let taken: i64 = dm_accounts::table
        .filter(dm_accounts::client_username.eq(&a.client_username))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        report.notes.push(format!(
            "{label}: its OMA-DM user name {} belongs to another device now; its credentials were not restored",
            a.client_username
        ));
        return Ok(());
    }
    diesel::insert_into(dm_accounts::table)
        .values((
            dm_accounts::device_id.eq(new),
            dm_accounts::server_id.eq(&a.server_id),
            dm_accounts::server_password.eq(server_password),
            dm_accounts::client_username.eq(&a.client_username),
            dm_accounts::client_password.eq(client_password),
            dm_accounts::client_nonce.eq(&a.client_nonce),
            dm_accounts::server_nonce.eq(&a.server_nonce),
            dm_accounts::updated_at.eq(a.updated_at),
        ))
        .execute(conn)?;
    report.dm_accounts += 1;
    Ok(())
}

fn s(v: &serde_json::Value, k: &str) -> Option<String> {
    v[k].as_str().map(str::to_string)
}
fn i(v: &serde_json::Value, k: &str) -> Option<i64> {
    v[k].as_i64()
}
fn b(v: &serde_json::Value, k: &str) -> bool {
    v[k].as_bool().unwrap_or(false)
}

/// When an ESN change retired an archived handset. Archives written before
/// the registry kept it have only the change's event in the handset's history.
fn retired_at(d: &serde_json::Value, audit: &[serde_json::Value]) -> Option<i64> {
    if let Some(at) = d.get("retired_at") {
        return at.as_i64();
    }
    let id = i(d, "id");
    audit
        .iter()
        .filter(|e| s(e, "entity_kind").as_deref() == Some(EntityKind::Device.as_str()))
        .filter(|e| i(e, "entity_id") == id)
        .filter(|e| s(e, "action").as_deref() == Some("de-activated by ESN change"))
        .filter_map(|e| i(e, "at"))
        .max()
}

/// Restores every record of archive run `run`; `vault` opens the archived
/// OMA-DM secrets to seal them again for the restored devices. `progress`
/// hears (records done, records in the run) after each record, restored or
/// skipped, for a large archive takes minutes.
pub fn restore(
    conn: &mut DbConnection,
    vault: &Vault,
    root: &std::path::Path,
    run: i64,
    actor: &Actor,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RestoreReport, RetentionError> {
    let mut report = RestoreReport::default();
    let records = archived(conn, root, run, &mut report.notes)?;
    let total = records.len();
    for (done, rec) in records.into_iter().enumerate() {
        if rec.retired {
            restore_retired(conn, vault, &rec, run, actor, &mut report)?;
            progress(done + 1, total);
            continue;
        }
        let p = &rec.profile;
        let mdn = s(p, "mdn").unwrap_or_default();
        crate::db::write(conn, |conn| -> Result<(), RetentionError> {
            let taken: i64 = profiles::table
                .filter(profiles::mdn.eq(&mdn))
                .count()
                .get_result(conn)?;
            let dev_taken = rec.devices.iter().any(|d| {
                let esn = s(d, "esn");
                let meid = s(d, "meid");
                let by_esn = esn
                    .map(|e| {
                        devices::table
                            .filter(devices::esn.eq(e))
                            .count()
                            .get_result::<i64>(conn)
                            .unwrap_or(1)
                            > 0
                    })
                    .unwrap_or(false);
                let by_meid = meid
                    .map(|m| {
                        devices::table
                            .filter(devices::meid.eq(m))
                            .count()
                            .get_result::<i64>(conn)
                            .unwrap_or(1)
                            > 0
                    })
                    .unwrap_or(false);
                by_esn || by_meid
            });
            if taken > 0 || dev_taken {
                report
                    .skipped
                    .push(format!("MDN {mdn}: its MDN, ESN or MEID is in use again"));
                return Ok(());
            }
            let now = now_ms();
            diesel::insert_into(profiles::table)
                .values((
                    profiles::mdn.eq(&mdn),
                    profiles::min.eq(s(p, "min").unwrap_or_default()),
                    profiles::imsi.eq(s(p, "imsi")),
                    profiles::account_id.eq(s(p, "account_id").unwrap_or_default()),
                    profiles::subscriber_name.eq(s(p, "subscriber_name").unwrap_or_default()),
                    profiles::sid_nid_pairs.eq(s(p, "sid_nid_pairs").unwrap_or_default()),
                    profiles::accolc.eq(i(p, "accolc").unwrap_or(0) as i32),
                    profiles::scm.eq(i(p, "scm").unwrap_or(234) as i32),
                    profiles::mob_p_rev.eq(i(p, "mob_p_rev").unwrap_or(6) as i32),
                    profiles::slot_cycle_index.eq(i(p, "slot_cycle_index").unwrap_or(2) as i32),
                    profiles::local_control.eq(b(p, "local_control")),
                    profiles::mob_term_home.eq(b(p, "mob_term_home")),
                    profiles::mob_term_for_sid.eq(b(p, "mob_term_for_sid")),
                    profiles::mob_term_for_nid.eq(b(p, "mob_term_for_nid")),
                    profiles::prl_id.eq(i(p, "prl_id").map(|v| v as i32)),
                    profiles::sspr_table.eq(i(p, "sspr_table").map(|v| v as i32)),
                    profiles::pending_prl_id.eq(i(p, "pending_prl_id").map(|v| v as i32)),
                    profiles::nai.eq(s(p, "nai")),
                    profiles::home_agent.eq(s(p, "home_agent")),
                    profiles::mn_ha_spi.eq(i(p, "mn_ha_spi")),
                    profiles::mn_aaa_spi.eq(i(p, "mn_aaa_spi")),
                    profiles::puzl_id.eq(i(p, "puzl_id").map(|v| v as i32)),
                    profiles::brew_url.eq(s(p, "brew_url")),
                    profiles::features.eq(s(p, "features").unwrap_or_default()),
                    profiles::activation_state
                        .eq(s(p, "activation_state").unwrap_or_else(|| "deactivated".into())),
                    profiles::state_changed_at.eq(now),
                    profiles::new_esn.eq(s(p, "new_esn")),
                    profiles::activated_esn.eq(s(p, "activated_esn")),
                    profiles::pin_hash.eq(s(p, "pin_hash")),
                    profiles::created_at.eq(i(p, "created_at").unwrap_or(now)),
                    profiles::updated_at.eq(now),
                ))
                .execute(conn)?;
            let pid: i64 = profiles::table
                .filter(profiles::mdn.eq(&mdn))
                .select(profiles::id)
                .first(conn)?;
            let old_pid = i(p, "id").unwrap_or(0);
            let mut id_map = vec![(EntityKind::Profile.as_str(), old_pid, pid)];
            for d in &rec.devices {
                diesel::insert_into(devices::table)
                    .values((
                        devices::esn.eq(s(d, "esn")),
                        devices::meid.eq(s(d, "meid")),
                        devices::pesn.eq(s(d, "pesn")),
                        devices::make.eq(s(d, "make").unwrap_or_default()),
                        devices::model.eq(s(d, "model").unwrap_or_default()),
                        devices::firmware_version.eq(s(d, "firmware_version").unwrap_or_default()),
                        devices::profile_id.eq(pid),
                        devices::last_contact_at.eq(i(d, "last_contact_at")),
                        devices::last_protocol.eq(s(d, "last_protocol")),
                        devices::created_at.eq(i(d, "created_at").unwrap_or(now)),
                        devices::updated_at.eq(now),
                        devices::activation_state
                            .eq(s(d, "activation_state").unwrap_or_else(|| "deactivated".into())),
                        devices::deactivated_at.eq(i(d, "deactivated_at").map(|_| now)),
                        devices::retired_at.eq(retired_at(d, &rec.audit)),
                    ))
                    .execute(conn)?;
                let did: i64 = devices::table
                    .filter(devices::profile_id.eq(pid))
                    .order(devices::id.desc())
                    .select(devices::id)
                    .first(conn)?;
                let old = i(d, "id").unwrap_or(0);
                id_map.push((EntityKind::Device.as_str(), old, did));
                let label = s(d, "meid").or_else(|| s(d, "esn")).unwrap_or_default();
                restore_device_extras(
                    conn,
                    vault,
                    &rec,
                    (old, did),
                    &format!("handset {label} (MDN {mdn})"),
                    &mut report,
                )?;
                report.devices += 1;
            }
            for e in &rec.audit {
                let kind = s(e, "entity_kind").unwrap_or_default();
                let old = i(e, "entity_id").unwrap_or(0);
                let Some((_, _, new)) = id_map.iter().find(|(k, o, _)| *k == kind && *o == old)
                else {
                    continue;
                };
                diesel::insert_into(audit_events::table)
                    .values((
                        audit_events::at.eq(i(e, "at").unwrap_or(now)),
                        audit_events::actor.eq(s(e, "actor").unwrap_or_default()),
                        audit_events::entity_kind.eq(&kind),
                        audit_events::entity_id.eq(*new),
                        audit_events::action.eq(s(e, "action").unwrap_or_default()),
                        audit_events::detail.eq(s(e, "detail").unwrap_or_default()),
                    ))
                    .execute(conn)?;
            }
            audit::record(
                conn,
                actor,
                EntityKind::Profile,
                pid,
                "restored from the offline archive",
                &serde_json::json!({"archive_run": run, "deactivated_at": i(p, "state_changed_at"), "purge_clock_from": now}),
            )?;
            report.profiles += 1;
            Ok(())
        })?;
        progress(done + 1, total);
    }
    Ok(report)
}

/// The records of run `run`: a completed run's, checked against its
/// manifest; an abandoned run's, as far as its archive still holds what it
/// committed (it has no manifest), with what is lost in `notes`.
pub fn archived(
    conn: &mut DbConnection,
    root: &std::path::Path,
    run: i64,
    notes: &mut Vec<String>,
) -> Result<Vec<archive::Record>, RetentionError> {
    // An archive copied in from elsewhere has no run here: its manifest
    // speaks for it.
    let r = match super::purge::find(conn, run) {
        Ok(r) if r.state == "abandoned" => r,
        Ok(_) | Err(RetentionError::NotFound(_)) => return archive::read_records(root, run),
        Err(e) => return Err(e),
    };
    let salvaged = archive::read_committed(
        root,
        run,
        r.segment,
        u64::try_from(r.committed_bytes).unwrap_or(0),
    )?;
    notes.push(format!(
        "run {run} was abandoned ({}): only what its archive still holds is restored",
        r.abandon_reason
    ));
    notes.extend(salvaged.notes);
    Ok(salvaged.records)
}

fn taken(conn: &mut DbConnection, d: &serde_json::Value) -> QueryResult<bool> {
    let mut n = 0;
    if let Some(e) = s(d, "esn") {
        n += devices::table
            .filter(devices::esn.eq(e))
            .count()
            .get_result::<i64>(conn)?;
    }
    if let Some(m) = s(d, "meid") {
        n += devices::table
            .filter(devices::meid.eq(m))
            .count()
            .get_result::<i64>(conn)?;
    }
    Ok(n > 0)
}

/// A handset retired by an ESN change comes back de-activated, under its
/// subscriber when that subscriber is still here. One that older releases
/// purged although it had only been de-activated with its line comes back
/// as the line's handset, in the line's state.
fn restore_retired(
    conn: &mut DbConnection,
    vault: &Vault,
    rec: &archive::Record,
    run: i64,
    actor: &Actor,
    report: &mut RestoreReport,
) -> Result<(), RetentionError> {
    let mdn = s(&rec.profile, "mdn");
    crate::db::write(conn, |conn| -> Result<(), RetentionError> {
        let owner: Option<i64> = match &mdn {
            Some(m) => profiles::table
                .filter(profiles::mdn.eq(m))
                .select(profiles::id)
                .first(conn)
                .optional()?,
            None => None,
        };
        let now = now_ms();
        for d in &rec.devices {
            let label = s(d, "meid").or_else(|| s(d, "esn")).unwrap_or_default();
            let retired = retired_at(d, &rec.audit);
            if taken(conn, d)? {
                report
                    .skipped
                    .push(format!("handset {label}: its ESN or MEID is in use again"));
                continue;
            }
            diesel::insert_into(devices::table)
                .values((
                    devices::esn.eq(s(d, "esn")),
                    devices::meid.eq(s(d, "meid")),
                    devices::pesn.eq(s(d, "pesn")),
                    devices::make.eq(s(d, "make").unwrap_or_default()),
                    devices::model.eq(s(d, "model").unwrap_or_default()),
                    devices::firmware_version.eq(s(d, "firmware_version").unwrap_or_default()),
                    devices::profile_id.eq(owner),
                    devices::last_contact_at.eq(i(d, "last_contact_at")),
                    devices::last_protocol.eq(s(d, "last_protocol")),
                    devices::created_at.eq(i(d, "created_at").unwrap_or(now)),
                    devices::updated_at.eq(now),
                    devices::activation_state.eq("deactivated"),
                    devices::deactivated_at.eq(Some(now)),
                    devices::retired_at.eq(retired),
                ))
                .execute(conn)?;
            let did = crate::db::last_insert_id(conn)?;
            if retired.is_none() {
                crate::registry::device::inherit_state(conn, did)?;
            }
            restore_device_extras(
                conn,
                vault,
                rec,
                (i(d, "id").unwrap_or(0), did),
                &format!("handset {label}"),
                report,
            )?;
            for e in &rec.audit {
                diesel::insert_into(audit_events::table)
                    .values((
                        audit_events::at.eq(i(e, "at").unwrap_or(now)),
                        audit_events::actor.eq(s(e, "actor").unwrap_or_default()),
                        audit_events::entity_kind.eq(EntityKind::Device.as_str()),
                        audit_events::entity_id.eq(did),
                        audit_events::action.eq(s(e, "action").unwrap_or_default()),
                        audit_events::detail.eq(s(e, "detail").unwrap_or_default()),
                    ))
                    .execute(conn)?;
            }
            audit::record(
                conn,
                actor,
                EntityKind::Device,
                did,
                "restored from the offline archive",
                &serde_json::json!({"archive_run": run, "retired": retired.is_some(), "purge_clock_from": now}),
            )?;
            report.devices += 1;
        }
        Ok(())
    })
}
