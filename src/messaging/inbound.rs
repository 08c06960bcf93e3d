//! Short messages addressed to the platform (SMPP deliver_sm that are not
//! receipts): every one is stored, then offered to the registered handlers
//! in order. The IOTA triggers from the IVR and the OTAF administrator
//! register here.

use std::sync::Arc;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::sms_inbound;
use crate::db::{now_ms, DbConnection};

#[derive(Debug, Clone)]
pub struct InboundSms {
    pub source_addr: String,
    pub destination_addr: String,
    pub data_coding: i32,
    pub body: Vec<u8>,
}

impl InboundSms {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Something that acts on inbound messages of a recognisable form.
pub trait InboundHandler: Send + Sync {
    fn name(&self) -> &'static str;
    fn accepts(&self, sms: &InboundSms) -> bool;
    /// Returns what was done, or why it could not be.
    fn handle(&self, conn: &mut DbConnection, sms: &InboundSms) -> Result<String, String>;
}

#[derive(Clone, Default)]
pub struct InboundRouter {
    handlers: Vec<Arc<dyn InboundHandler>>,
}

impl InboundRouter {
    pub fn with(mut self, handler: Arc<dyn InboundHandler>) -> Self {
        self.handlers.push(handler);
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = sms_inbound)]
pub struct StoredInbound {
    pub id: i64,
    pub source_addr: String,
    pub destination_addr: String,
    pub data_coding: i32,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub handled_by: String,
    pub result: String,
    pub received_at: i64,
}

impl StoredInbound {
    pub fn text(&self) -> String {
        if self.data_coding == 0 || self.data_coding == 1 || self.data_coding == 3 {
            String::from_utf8_lossy(&self.body).into_owned()
        } else {
            hex::encode(&self.body)
        }
    }
}

/// Stores the message and hands it to the first handler that accepts it.
pub fn receive(
    conn: &mut DbConnection,
    router: &InboundRouter,
    sms: &InboundSms,
) -> QueryResult<StoredInbound> {
    let handler = router.handlers.iter().find(|h| h.accepts(sms));
    let (handled_by, result) = match handler {
        Some(h) => {
            let outcome = h.handle(conn, sms);
            match &outcome {
                Ok(r) => {
                    tracing::info!(from = %sms.source_addr, handler = h.name(), result = %r, "inbound SMS handled")
                }
                Err(r) => {
                    tracing::warn!(from = %sms.source_addr, handler = h.name(), error = %r, "inbound SMS refused")
                }
            }
            (
                h.name().to_string(),
                outcome.unwrap_or_else(|e| format!("error: {e}")),
            )
        }
        None => {
            tracing::warn!(from = %sms.source_addr, to = %sms.destination_addr, text = %sms.text(), "inbound SMS nobody handles");
            (String::new(), "no handler for this message".to_string())
        }
    };
    diesel::insert_into(sms_inbound::table)
        .values((
            sms_inbound::source_addr.eq(&sms.source_addr),
            sms_inbound::destination_addr.eq(&sms.destination_addr),
            sms_inbound::data_coding.eq(sms.data_coding),
            sms_inbound::body.eq(&sms.body),
            sms_inbound::handled_by.eq(&handled_by),
            sms_inbound::result.eq(&result),
            sms_inbound::received_at.eq(now_ms()),
        ))
        .execute(conn)?;
    let id = crate::db::last_insert_id(conn)?;
    sms_inbound::table
        .find(id)
        .select(StoredInbound::as_select())
        .first(conn)
}

pub fn recent(
    conn: &mut DbConnection,
    source: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<StoredInbound>> {
    let mut q = sms_inbound::table
        .select(StoredInbound::as_select())
        .order(sms_inbound::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(s) = source {
        q = q.filter(sms_inbound::source_addr.eq(s.to_string()));
    }
    q.load(conn)
}
