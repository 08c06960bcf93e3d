//! The audit trail: who changed what, and when, for every registry entity.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::db::schema::audit_events;
use crate::db::{now_ms, DbConnection};
use crate::registry::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Profile,
    Device,
    Capability,
    EsnSeries,
    User,
    Token,
    Campaign,
    /// A purge run: its start, its take-over by another process, its end
    /// (completed or failed), or its abandonment (its archive was lost).
    PurgeRun,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Profile => "profile",
            EntityKind::Device => "device",
            EntityKind::Capability => "capability",
            EntityKind::EsnSeries => "esn_series",
            EntityKind::User => "user",
            EntityKind::Token => "token",
            EntityKind::Campaign => "campaign",
            EntityKind::PurgeRun => "purge_run",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub entity_kind: String,
    pub entity_id: i64,
    pub action: String,
    pub detail: String,
}

/// An event as the portal's audit views list it: with whether its actor is
/// a staff account deleted since (a tombstone that keeps its name), shown
/// as "(deleted)" beside the name.
#[derive(Debug, Clone, Serialize)]
pub struct AuditLine {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub actor_deleted: bool,
}

/// The views read the event's fields through the line (`line.actor`).
impl std::ops::Deref for AuditLine {
    type Target = AuditEvent;

    fn deref(&self) -> &AuditEvent {
        &self.event
    }
}

/// Labels `events` for a view: one query for all their staff actors,
/// however many lines.
pub fn labelled(conn: &mut DbConnection, events: Vec<AuditEvent>) -> QueryResult<Vec<AuditLine>> {
    let mut staff: Vec<&str> = events
        .iter()
        .filter_map(|e| e.actor.strip_prefix(STAFF_PREFIX))
        .collect();
    staff.sort_unstable();
    staff.dedup();
    let deleted = crate::auth::users::deleted_among(conn, &staff)?;
    Ok(events
        .into_iter()
        .map(|e| AuditLine {
            actor_deleted: e
                .actor
                .strip_prefix(STAFF_PREFIX)
                .is_some_and(|name| deleted.contains(name)),
            event: e,
        })
        .collect())
}

/// The trail of `entities` as a view lists it, newest first.
pub fn timeline(
    conn: &mut DbConnection,
    entities: &[(EntityKind, i64)],
    limit: i64,
) -> QueryResult<Vec<AuditLine>> {
    let events = for_entities(conn, entities, limit)?;
    labelled(conn, events)
}

/// The latest events of the whole trail as a view lists them.
pub fn recent_lines(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<AuditLine>> {
    let events = recent(conn, limit)?;
    labelled(conn, events)
}

/// How [`Actor::User`] names a staff account in the trail.
const STAFF_PREFIX: &str = "user:";

pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    kind: EntityKind,
    entity_id: i64,
    action: &str,
    detail: &Value,
) -> QueryResult<()> {
    let actor = actor.to_string();
    let detail = if detail.is_null() {
        String::new()
    } else {
        detail.to_string()
    };
    // A tuple of columns, not a derived `Insertable` struct: diesel keeps
    // no prepared statement for the struct's insert on PostgreSQL, and
    // every firmware update and registry change writes one of these.
    let row = (
        audit_events::at.eq(now_ms()),
        audit_events::actor.eq(&actor),
        audit_events::entity_kind.eq(kind.as_str()),
        audit_events::entity_id.eq(entity_id),
        audit_events::action.eq(action),
        audit_events::detail.eq(&detail),
    );
    crate::native!(conn, |c| diesel::insert_into(audit_events::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// The fields that differ between two serialized states, as
/// `{"field": {"from": old, "to": new}}`.
pub fn diff<T: Serialize>(before: &T, after: &T) -> Value {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Value::Null;
    };
    let mut changes = Map::new();
    for (key, new) in &b {
        let old = a.get(key).cloned().unwrap_or(Value::Null);
        if &old != new {
            let mut change = Map::new();
            change.insert("from".into(), redact(key, old));
            change.insert("to".into(), redact(key, new.clone()));
            changes.insert(key.clone(), Value::Object(change));
        }
    }
    Value::Object(changes)
}

/// A snapshot of a whole record, for creations and deletions.
pub fn snapshot<T: Serialize>(value: &T) -> Value {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = redact(&k, v);
                    (k, v)
                })
                .collect(),
        ),
        Ok(other) => other,
        Err(_) => Value::Null,
    }
}

/// Secrets never reach the audit trail, only the fact that they changed.
fn redact(key: &str, value: Value) -> Value {
    if key.contains("pin") || key.contains("password") || key.contains("secret") {
        if value.is_null() {
            Value::Null
        } else {
            Value::String("(set)".into())
        }
    } else {
        value
    }
}

pub fn for_entities(
    conn: &mut DbConnection,
    entities: &[(EntityKind, i64)],
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut query = audit_events::table.into_boxed();
    for (kind, id) in entities {
        query = query.or_filter(
            audit_events::entity_kind
                .eq(kind.as_str())
                .and(audit_events::entity_id.eq(*id)),
        );
    }
    query
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

/// One entity's trail, newest first, from just before the event `before`
/// (the last of the previous page) on. Keyed on the event id so that the
/// `audit_entity` index (entity_kind, entity_id, id) answers every page,
/// however long the trail, without counting or skipping rows.
pub fn page_of(
    conn: &mut DbConnection,
    kind: EntityKind,
    entity_id: i64,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::entity_kind.eq(kind.as_str()))
        .filter(audit_events::entity_id.eq(entity_id))
        .filter(audit_events::id.lt(before.unwrap_or(i64::MAX)))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

pub fn recent(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct S {
        a: i32,
        b: Option<String>,
        pin_hash: Option<String>,
    }

    #[test]
    fn diff_lists_only_changed_fields_and_hides_secrets() {
        let before = S {
            a: 1,
            b: None,
            pin_hash: None,
        };
        let after = S {
            a: 1,
            b: Some("x".into()),
            pin_hash: Some("argon".into()),
        };
        let d = diff(&before, &after);
        assert_eq!(d["b"]["to"], "x");
        assert!(d.get("a").is_none());
        assert_eq!(d["pin_hash"]["to"], "(set)");
    }
}
