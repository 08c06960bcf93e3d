//! Reading an archive run back into the live database: each subscriber
//! returns with new ids, its devices and its history, unless its MDN, ESN or
//! MEID has been taken since; those are reported and skipped. The restore
//! restarts the purge clock of what it brings back, so the next purge does
//! not take it straight back to the archive.

use diesel::prelude::*;
use serde::Serialize;

use super::archive;
use super::RetentionError;
use crate::db::schema::{audit_events, devices, profiles};
use crate::db::{now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::Actor;

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub profiles: i64,
    pub devices: i64,
    pub skipped: Vec<String>,
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

pub fn restore(
    conn: &mut DbConnection,
    root: &std::path::Path,
    run: i64,
    actor: &Actor,
) -> Result<RestoreReport, RetentionError> {
    let records = archive::read_records(root, run)?;
    let mut report = RestoreReport::default();
    for rec in records {
        if rec.retired {
            restore_retired(conn, &rec, run, actor, &mut report)?;
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
                id_map.push((EntityKind::Device.as_str(), i(d, "id").unwrap_or(0), did));
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
    }
    Ok(report)
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
