//! One feature change, step by step as the source document's steps 45-62
//! run it: offered (billing information shown), terms shown, accepted
//! (timestamp logged on the profile), then the billing gateway's answer.
//! Each step only follows the one before it, so a replayed or skipped step
//! changes nothing. The profile's features change only on the gateway's
//! success.

use diesel::prelude::*;
use serde::Serialize;

use super::catalogue::{self, Feature};
use super::records::{self, NewRecord};
use super::FeatureError;
use crate::billing::{self, Action, BillingError, BillingOutcome, ServiceOrder};
use crate::db::schema::{feature_activations, profiles};
use crate::db::{now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::device::Device;
use crate::registry::profile::{ActivationState, Profile};
use crate::registry::{device, profile, Actor};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = feature_activations)]
pub struct Activation {
    pub id: i64,
    #[serde(skip)]
    pub token: String,
    pub profile_id: i64,
    pub device_id: Option<i64>,
    pub feature: String,
    pub action: String,
    pub channel: String,
    pub state: String,
    #[serde(skip)]
    pub idempotency_key: String,
    pub accepted_at: Option<i64>,
    pub transaction_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The failure code recorded when the billing gateway could not be
/// reached: no order got to it, so nothing was charged.
pub const UNREACHABLE: &str = "UNREACHABLE";

/// The code a change keeps while billing's answer is outstanding: the order
/// reached the gateway but its answer was lost (a timeout), so it may have
/// been carried out. The change stays with billing and is asked about again
/// with the same idempotency key (`upgrade::provision_pending`).
pub const UNANSWERED: &str = "UNANSWERED";

/// Where a change stands once billing was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Provisioned,
    /// Billing said no: asking again gets the same answer.
    Refused,
    /// No order reached billing: nothing was charged, and it may be asked
    /// again.
    Unreachable,
    /// The answer is being checked: asking again now would only wait for
    /// the same answer.
    Unanswered,
    /// Not asked yet, or being asked now.
    Open,
}

impl Activation {
    pub fn outcome(&self) -> Outcome {
        match (self.state.as_str(), self.failure_code.as_deref()) {
            ("provisioned", _) => Outcome::Provisioned,
            ("failed", Some(UNREACHABLE)) => Outcome::Unreachable,
            ("failed", _) => Outcome::Refused,
            (_, Some(UNANSWERED)) => Outcome::Unanswered,
            _ => Outcome::Open,
        }
    }

    /// Why a change was not made (or is not known yet), in words for the
    /// subscriber.
    pub fn failure_reason(&self) -> String {
        match self.failure_code.as_deref() {
            Some(UNREACHABLE) => "the billing system could not be reached".to_string(),
            Some(UNANSWERED) => "the billing system did not answer in time".to_string(),
            // Billing's code stays with the provisioning record; its
            // message is the reason it gives.
            Some(_) => match self
                .failure_message
                .as_deref()
                .map(|m| m.trim().trim_end_matches('.'))
                .filter(|m| !m.is_empty())
            {
                Some(m) => format!("the billing system turned it down ({m})"),
                None => "the billing system turned it down".to_string(),
            },
            None => "it could not be completed".to_string(),
        }
    }

    /// What the subscriber should do after a change that was not made, or
    /// whose result is not known yet.
    pub fn advice(&self) -> &'static str {
        match self.outcome() {
            Outcome::Refused => {
                "Nothing was charged. Trying again will get the same answer: please call customer care about it."
            }
            Outcome::Unanswered => {
                "The change may have gone through, so its result is being checked with billing: please do not try again now. Your line will show the result shortly."
            }
            Outcome::Unreachable | Outcome::Open => "Nothing was charged; please try again later.",
            Outcome::Provisioned => "",
        }
    }
}

/// A change's state in words, for a step that comes too late or too early.
pub fn stage_words(state: &str) -> &'static str {
    match state {
        "offered" => "the change's terms have not been shown yet",
        "terms_shown" => "the change is waiting for your agreement to its terms",
        "provisioning" => "the change is with billing",
        "provisioned" => "the change has been made",
        "failed" => "the change was not made",
        _ => "the change has moved on",
    }
}

/// What a step hands the screens.
pub struct Step {
    pub activation: Activation,
    pub feature: Feature,
    pub profile: Profile,
}

fn by_token(conn: &mut DbConnection, token: &str) -> Result<Activation, FeatureError> {
    feature_activations::table
        .filter(feature_activations::token.eq(token))
        .select(Activation::as_select())
        .first(conn)
        .optional()?
        .ok_or(FeatureError::UnknownActivation)
}

fn step(conn: &mut DbConnection, a: Activation) -> Result<Step, FeatureError> {
    let feature = catalogue::get(conn, &a.feature)?;
    let profile = profile::get(conn, a.profile_id)?;
    Ok(Step {
        activation: a,
        feature,
        profile,
    })
}

fn parse_action(add: bool) -> &'static str {
    if add {
        "add"
    } else {
        "remove"
    }
}

/// The line, read to decide on a change to it. On PostgreSQL its row stays
/// locked until the caller's transaction ends, so two acceptances for one
/// line are decided one after the other, each seeing what the other left;
/// a SQLite write transaction already excludes every other writer.
fn line_for_update(conn: &mut DbConnection, profile_id: i64) -> Result<Profile, FeatureError> {
    let query = profiles::table.find(profile_id);
    let found = match conn {
        DbConnection::Sqlite(c) => query.select(Profile::as_select()).first(c).optional(),
        DbConnection::Postgres(c) => query
            .select(Profile::as_select())
            .for_update()
            .first(c)
            .optional(),
    }?;
    found.ok_or_else(|| {
        FeatureError::Registry(crate::registry::RegistryError::NotFound(format!(
            "profile {profile_id}"
        )))
    })
}

/// Whether `p` may take this change now, asked when it is offered and again
/// when it is accepted: the line or the handset may have been de-activated,
/// and another change of the same service may have been agreed, in between.
/// Billing is only ever asked for a change that holds at that moment.
fn check_change(
    conn: &mut DbConnection,
    p: &Profile,
    device_id: Option<i64>,
    f: &Feature,
    add: bool,
    except: Option<i64>,
) -> Result<(), FeatureError> {
    if p.state() == ActivationState::Deactivated {
        return Err(FeatureError::LineDeactivated);
    }
    if let Some(d) = device_id {
        if device::get(conn, d)?.activation_state == ActivationState::Deactivated.as_str() {
            return Err(FeatureError::HandsetDeactivated);
        }
    }
    let has = p.feature_list().contains(&f.code.as_str());
    if add && has {
        return Err(FeatureError::AlreadyActive(f.name.clone()));
    }
    if !add && !has {
        return Err(FeatureError::NotActive(f.name.clone()));
    }
    let with_billing: i64 = feature_activations::table
        .filter(feature_activations::profile_id.eq(p.id))
        .filter(feature_activations::feature.eq(&f.code))
        .filter(feature_activations::state.eq("provisioning"))
        .filter(feature_activations::id.ne(except.unwrap_or(0)))
        .count()
        .get_result(conn)?;
    if with_billing > 0 {
        return Err(FeatureError::InProgress(f.name.clone()));
    }
    Ok(())
}

/// Starts a change of `feature` on a line: the billing information step.
pub fn offer(
    conn: &mut DbConnection,
    profile_id: i64,
    device_id: Option<i64>,
    feature: &str,
    add: bool,
    channel: &str,
) -> Result<Step, FeatureError> {
    crate::db::write(conn, |conn| {
        let f = catalogue::get(conn, feature)?;
        let p = profile::get(conn, profile_id)?;
        check_change(conn, &p, device_id, &f, add, None)?;
        let now = now_ms();
        let token = billing::new_idempotency_key();
        diesel::insert_into(feature_activations::table)
            .values((
                feature_activations::token.eq(&token),
                feature_activations::profile_id.eq(profile_id),
                feature_activations::device_id.eq(device_id),
                feature_activations::feature.eq(&f.code),
                feature_activations::action.eq(parse_action(add)),
                feature_activations::channel.eq(channel),
                feature_activations::state.eq("offered"),
                feature_activations::idempotency_key.eq(billing::new_idempotency_key()),
                feature_activations::created_at.eq(now),
                feature_activations::updated_at.eq(now),
            ))
            .execute(conn)?;
        let a = by_token(conn, &token)?;
        step(conn, a)
    })
}

/// The line an activation belongs to (so a subscriber can be held to their own).
pub fn owner(conn: &mut DbConnection, token: &str) -> Result<i64, FeatureError> {
    Ok(by_token(conn, token)?.profile_id)
}

/// The step a screen shows for an activation, without moving it.
pub fn current(conn: &mut DbConnection, token: &str) -> Result<Step, FeatureError> {
    let a = by_token(conn, token)?;
    step(conn, a)
}

/// The device a deck request comes from must be the one the activation is for.
fn check_device(a: &Activation, device: Option<i64>) -> Result<(), FeatureError> {
    match (a.device_id, device) {
        (Some(expected), Some(got)) if expected != got => Err(FeatureError::WrongDevice),
        _ => Ok(()),
    }
}

fn advance(
    conn: &mut DbConnection,
    a: &Activation,
    from: &str,
    to: &str,
) -> Result<(), FeatureError> {
    let n = diesel::update(
        feature_activations::table
            .filter(feature_activations::id.eq(a.id))
            .filter(feature_activations::state.eq(from)),
    )
    .set((
        feature_activations::state.eq(to),
        feature_activations::updated_at.eq(now_ms()),
    ))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(FeatureError::OutOfOrder(a.state.clone()))
    }
}

/// "Continue": the contractual and legal text.
pub fn show_terms(
    conn: &mut DbConnection,
    token: &str,
    device: Option<i64>,
) -> Result<Step, FeatureError> {
    crate::db::write(conn, |conn| {
        let a = by_token(conn, token)?;
        check_device(&a, device)?;
        advance(conn, &a, "offered", "terms_shown")?;
        let a = by_token(conn, token)?;
        step(conn, a)
    })
}

/// What the billing gateway must be told, once the subscriber agreed.
pub struct Accepted {
    pub step: Step,
    pub order: ServiceOrder,
    pub idempotency_key: String,
}

/// "Agree": logs the acceptance with its timestamp and the service on the
/// profile, and returns the order for the billing gateway.
pub fn accept(
    conn: &mut DbConnection,
    token: &str,
    device: Option<i64>,
    actor: &Actor,
) -> Result<Accepted, FeatureError> {
    crate::db::write(conn, |conn| {
        let a = by_token(conn, token)?;
        check_device(&a, device)?;
        // A replayed or early "Agree" gets advance's out-of-order answer.
        if a.state == "terms_shown" {
            let p = line_for_update(conn, a.profile_id)?;
            let f = catalogue::get(conn, &a.feature)?;
            check_change(conn, &p, a.device_id, &f, a.action == "add", Some(a.id))?;
        }
        advance(conn, &a, "terms_shown", "provisioning")?;
        let now = now_ms();
        diesel::update(feature_activations::table.find(a.id))
            .set(feature_activations::accepted_at.eq(now))
            .execute(conn)?;
        let a = by_token(conn, token)?;
        let s = step(conn, a)?;
        audit::record(
            conn,
            actor,
            EntityKind::Profile,
            s.profile.id,
            "accepted the terms",
            &serde_json::json!({
                "feature": s.feature.code,
                "action": s.activation.action,
                "channel": s.activation.channel,
                "accepted_at": crate::timefmt::iso(now),
            }),
        )?;
        let order = ServiceOrder {
            mdn: s.profile.mdn.clone(),
            account_id: s.profile.account_id.clone(),
            service: s.feature.billing_service.clone(),
            action: if s.activation.action == "add" {
                Action::Add
            } else {
                Action::Remove
            },
            reference: format!("feature-activation:{}", s.activation.id),
        };
        Ok(Accepted {
            idempotency_key: s.activation.idempotency_key.clone(),
            step: s,
            order,
        })
    })
}

/// Records the gateway's answer: the features change only on success.
pub fn complete(
    conn: &mut DbConnection,
    activation_id: i64,
    answer: &Result<BillingOutcome, BillingError>,
    actor: &Actor,
) -> Result<Step, FeatureError> {
    crate::db::write(conn, |conn| {
        let a: Activation = feature_activations::table
            .find(activation_id)
            .select(Activation::as_select())
            .first(conn)?;
        if a.state != "provisioning" {
            return Err(FeatureError::OutOfOrder(a.state));
        }
        let now = now_ms();
        let (state, code, message, txn) = match answer {
            Ok(BillingOutcome::Provisioned { transaction_id }) => (
                "provisioned",
                String::new(),
                String::new(),
                transaction_id.clone(),
            ),
            Ok(BillingOutcome::Refused { code, message }) => {
                ("failed", code.clone(), message.clone(), String::new())
            }
            // Stays with billing, which is asked again with the same key.
            Err(e) if e.may_be_done() => (
                "provisioning",
                UNANSWERED.to_string(),
                format!("the billing gateway did not answer: {e}"),
                String::new(),
            ),
            Err(e) => (
                "failed",
                UNREACHABLE.to_string(),
                format!("the billing gateway could not be reached: {e}"),
                String::new(),
            ),
        };
        diesel::update(feature_activations::table.find(a.id))
            .set((
                feature_activations::state.eq(state),
                feature_activations::transaction_id.eq((!txn.is_empty()).then_some(&txn)),
                feature_activations::failure_code.eq((!code.is_empty()).then_some(&code)),
                feature_activations::failure_message.eq((!message.is_empty()).then_some(&message)),
                feature_activations::updated_at.eq(now),
            ))
            .execute(conn)?;
        let p = profile::get(conn, a.profile_id)?;
        if state == "provisioned" {
            let mut list: Vec<String> = p.feature_list().iter().map(|s| s.to_string()).collect();
            if a.action == "add" {
                if !list.contains(&a.feature) {
                    list.push(a.feature.clone());
                }
            } else {
                list.retain(|f| f != &a.feature);
            }
            list.sort();
            let features = list.join(",");
            diesel::update(profiles::table.find(p.id))
                .set((
                    profiles::features.eq(&features),
                    profiles::updated_at.eq(now),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                actor,
                EntityKind::Profile,
                p.id,
                "updated",
                &serde_json::json!({"features": {"from": p.features, "to": features}, "billing_transaction": txn}),
            )?;
        } else if state == "provisioning" {
            tracing::warn!(activation = a.id, %message, "billing's answer to a feature change was lost; it will be asked again");
        } else {
            tracing::warn!(activation = a.id, %code, %message, "feature change refused; the profile is unchanged");
        }
        let dev: Option<Device> = match a.device_id {
            Some(d) => Some(device::get(conn, d)?),
            None => None,
        };
        let outcome = match (state, code.as_str()) {
            ("provisioned", _) => "provisioned",
            // No outcome to record yet: the record comes with the answer.
            ("provisioning", _) => {
                let a: Activation = feature_activations::table
                    .find(a.id)
                    .select(Activation::as_select())
                    .first(conn)?;
                return step(conn, a);
            }
            (_, UNREACHABLE) => "unreachable",
            _ => "refused",
        };
        records::record(
            conn,
            &NewRecord {
                profile_id: p.id,
                mdn: &p.mdn,
                esn: dev.as_ref().and_then(|d| d.esn.as_deref()),
                meid: dev.as_ref().and_then(|d| d.meid.as_deref()),
                feature: &a.feature,
                action: &a.action,
                channel: &a.channel,
                outcome,
                code: &code,
                transaction_id: &txn,
                activation_id: a.id,
            },
        )?;
        let a: Activation = feature_activations::table
            .find(a.id)
            .select(Activation::as_select())
            .first(conn)?;
        step(conn, a)
    })
}

pub fn for_profile(
    conn: &mut DbConnection,
    profile_id: i64,
    limit: i64,
) -> QueryResult<Vec<Activation>> {
    feature_activations::table
        .filter(feature_activations::profile_id.eq(profile_id))
        .order(feature_activations::id.desc())
        .limit(limit)
        .select(Activation::as_select())
        .load(conn)
}

/// Asks the billing gateway for an accepted change and records its answer:
/// the one path the handset decks and self service share.
pub async fn provision(
    db: &crate::db::Db,
    billing: Option<&crate::billing::BillingClient>,
    accepted: Accepted,
    actor: Actor,
) -> Result<Step, FeatureError> {
    let answer = match billing {
        Some(client) => {
            client
                .submit(&accepted.order, &accepted.idempotency_key)
                .await
        }
        None => Err(BillingError::Config(
            "no billing gateway is configured (MDM_BILLING_URL)".into(),
        )),
    };
    let id = accepted.step.activation.id;
    db.run(move |c| complete(c, id, &answer, &actor)).await
}

/// How the billing gateway has been answering, for the operators' dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingAnswers {
    pub provisioned: i64,
    pub refused: i64,
    pub unreachable: i64,
    /// Sent to the gateway and not answered yet.
    pub waiting: i64,
    /// Whether the latest change the gateway was asked about got no answer:
    /// the gateway is down now, not merely once in the period.
    pub latest_unreachable: bool,
}

/// The gateway's answers to changes last moved since `since` (UTC ms).
pub fn billing_answers(conn: &mut DbConnection, since: i64) -> QueryResult<BillingAnswers> {
    use feature_activations::dsl as f;
    let recent = || f::feature_activations.filter(f::updated_at.ge(since));
    let provisioned = recent()
        .filter(f::state.eq("provisioned"))
        .count()
        .get_result(conn)?;
    let unreachable = recent()
        .filter(f::state.eq("failed"))
        .filter(f::failure_code.eq(UNREACHABLE))
        .count()
        .get_result(conn)?;
    let failed: i64 = recent()
        .filter(f::state.eq("failed"))
        .count()
        .get_result(conn)?;
    let waiting = f::feature_activations
        .filter(f::state.eq("provisioning"))
        .count()
        .get_result(conn)?;
    let latest: Option<Option<String>> = recent()
        .filter(
            f::state
                .eq_any(["provisioned", "failed"])
                .or(f::failure_code.eq(UNANSWERED)),
        )
        .order((f::updated_at.desc(), f::id.desc()))
        .select(f::failure_code)
        .first(conn)
        .optional()?;
    Ok(BillingAnswers {
        provisioned,
        refused: failed - unreachable,
        unreachable,
        waiting,
        latest_unreachable: matches!(latest.flatten().as_deref(), Some(UNREACHABLE | UNANSWERED)),
    })
}
