//! Features a firmware update brings. The capability registry is per
//! firmware version; when an update moves a handset to a version whose
//! capability lists a catalogue feature the old one did not, the platform
//! provisions it as part of the update (the source document: "conduct a
//! firmware upgrade to add a capability and simultaneously provision the
//! new capability", with billing triggered after the update).
//!
//! The FOTA session's final result queues the change in its own
//! transaction; `provision_pending` then asks the billing gateway, with the
//! change's idempotency key, so a crash or an unreachable gateway delays
//! the change but never bills it twice.

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::activation::{self, Activation};
use super::catalogue;
use super::FeatureError;
use crate::billing::{self, Action, BillingClient, ServiceOrder};
use crate::db::schema::feature_activations;
use crate::db::{now_ms, Db, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::capability;
use crate::registry::device::Device;
use crate::registry::{profile, Actor};

/// The channel recorded on these changes and in their detail records.
pub const CHANNEL: &str = "firmware-update";

fn features_of(entries: &[capability::Capability], version: &str) -> BTreeSet<String> {
    entries
        .iter()
        .find(|c| c.covers(version))
        .map(|c| c.feature_list().into_iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Queues the catalogue features the new firmware adds that the line does
/// not have yet; returns their codes. The caller owns the transaction.
pub fn queue_added_features(
    conn: &mut DbConnection,
    d: &Device,
    from_version: &str,
    to_version: &str,
) -> Result<Vec<String>, FeatureError> {
    let Some(pid) = d.profile_id else {
        return Ok(Vec::new());
    };
    let entries = capability::for_model(conn, &d.make, &d.model)?;
    let before = features_of(&entries, from_version);
    let after = features_of(&entries, to_version);
    if after.is_subset(&before) {
        // The usual case: the update adds no capability.
        return Ok(Vec::new());
    }
    let p = profile::get(conn, pid)?;
    let has: BTreeSet<&str> = p.feature_list().into_iter().collect();
    let catalogue: BTreeSet<String> = catalogue::all(conn)?
        .into_iter()
        .filter(|f| f.active)
        .map(|f| f.code)
        .collect();
    let waiting: BTreeSet<String> = feature_activations::table
        .filter(feature_activations::profile_id.eq(pid))
        .filter(feature_activations::state.eq("provisioning"))
        .select(feature_activations::feature)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let added: Vec<String> = after
        .difference(&before)
        .filter(|f| catalogue.contains(*f) && !has.contains(f.as_str()) && !waiting.contains(*f))
        .cloned()
        .collect();
    let now = now_ms();
    for code in &added {
        diesel::insert_into(feature_activations::table)
            .values((
                feature_activations::token.eq(billing::new_idempotency_key()),
                feature_activations::profile_id.eq(pid),
                feature_activations::device_id.eq(Some(d.id)),
                feature_activations::feature.eq(code),
                feature_activations::action.eq("add"),
                feature_activations::channel.eq(CHANNEL),
                feature_activations::state.eq("provisioning"),
                feature_activations::idempotency_key.eq(billing::new_idempotency_key()),
                feature_activations::accepted_at.eq(Some(now)),
                feature_activations::created_at.eq(now),
                feature_activations::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    if !added.is_empty() {
        audit::record(
            conn,
            &Actor::System("fota"),
            EntityKind::Profile,
            pid,
            "features added by a firmware update",
            &serde_json::json!({"features": added, "firmware": {"from": from_version, "to": to_version}}),
        )?;
    }
    Ok(added)
}

/// Changes waiting for billing: the ones a firmware update queued, and any
/// other whose answer was lost (a subscriber's, which may have been carried
/// out and so can be neither made nor failed until billing says).
fn pending(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<Activation>> {
    feature_activations::table
        .filter(
            feature_activations::channel
                .eq(CHANNEL)
                .or(feature_activations::failure_code.eq(activation::UNANSWERED)),
        )
        .filter(feature_activations::state.eq("provisioning"))
        .order(feature_activations::id.asc())
        .limit(limit)
        .select(Activation::as_select())
        .load(conn)
}

/// Bills and provisions the queued changes (and asks again about those
/// whose answer was lost); returns how many were settled
/// (provisioned or refused). One the gateway did not answer stays queued
/// for the next round, with the same idempotency key.
pub async fn provision_pending(db: &Db, billing: &BillingClient) -> Result<usize, FeatureError> {
    let queued = db
        .run(|c| pending(c, 100).map_err(FeatureError::from))
        .await?;
    let mut settled = 0;
    for a in queued {
        let id = a.profile_id;
        let p = db
            .run(move |c| profile::get(c, id).map_err(FeatureError::from))
            .await?;
        let code = a.feature.clone();
        let f = db.run(move |c| catalogue::get(c, &code)).await?;
        let order = ServiceOrder {
            mdn: p.mdn.clone(),
            account_id: p.account_id.clone(),
            service: f.billing_service.clone(),
            // The same order as the first time: the gateway matches the key
            // to it.
            action: if a.action == "remove" {
                Action::Remove
            } else {
                Action::Add
            },
            reference: format!("feature-activation:{}", a.id),
        };
        let answer = billing.submit(&order, &a.idempotency_key).await;
        if let Err(e) = &answer {
            tracing::warn!(activation = a.id, error = %e, "billing gateway unreachable; the feature change stays queued");
            continue;
        }
        let aid = a.id;
        let actor = Actor::System(if a.channel == CHANNEL {
            "fota"
        } else {
            "billing"
        });
        db.run(move |c| activation::complete(c, aid, &answer, &actor))
            .await?;
        settled += 1;
    }
    Ok(settled)
}

/// Runs `provision_pending` every `every` on this node.
pub fn spawn(db: Db, billing: BillingClient, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match provision_pending(&db, &billing).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(changes = n, "firmware-update features settled with billing")
                }
                Err(e) => {
                    tracing::error!(error = %e, "provisioning firmware-update features failed")
                }
            }
        }
    });
}
