//! Provisioning detail records: one row per outcome of a feature change,
//! the CDR-like trail billing reconciles against, exportable as CSV.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::provisioning_records;
use crate::db::{now_ms, DbConnection};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = provisioning_records)]
pub struct ProvisioningRecord {
    pub id: i64,
    pub at: i64,
    pub profile_id: Option<i64>,
    pub mdn: String,
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub feature: String,
    pub action: String,
    pub channel: String,
    pub outcome: String,
    pub code: String,
    pub transaction_id: String,
    pub activation_id: Option<i64>,
}

pub struct NewRecord<'a> {
    pub profile_id: i64,
    pub mdn: &'a str,
    pub esn: Option<&'a str>,
    pub meid: Option<&'a str>,
    pub feature: &'a str,
    pub action: &'a str,
    pub channel: &'a str,
    pub outcome: &'a str,
    pub code: &'a str,
    pub transaction_id: &'a str,
    pub activation_id: i64,
}

pub fn record(conn: &mut DbConnection, r: &NewRecord<'_>) -> QueryResult<()> {
    diesel::insert_into(provisioning_records::table)
        .values((
            provisioning_records::at.eq(now_ms()),
            provisioning_records::profile_id.eq(r.profile_id),
            provisioning_records::mdn.eq(r.mdn),
            provisioning_records::esn.eq(r.esn),
            provisioning_records::meid.eq(r.meid),
            provisioning_records::feature.eq(r.feature),
            provisioning_records::action.eq(r.action),
            provisioning_records::channel.eq(r.channel),
            provisioning_records::outcome.eq(r.outcome),
            provisioning_records::code.eq(r.code),
            provisioning_records::transaction_id.eq(r.transaction_id),
            provisioning_records::activation_id.eq(r.activation_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records after `after_id` in id order, a page at a time (for the export).
pub fn page(
    conn: &mut DbConnection,
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<ProvisioningRecord>> {
    provisioning_records::table
        .filter(provisioning_records::id.gt(after_id))
        .order(provisioning_records::id)
        .limit(limit)
        .select(ProvisioningRecord::as_select())
        .load(conn)
}

pub const CSV_HEADER: [&str; 13] = [
    "id",
    "time",
    "profile_id",
    "mdn",
    "esn",
    "meid",
    "feature",
    "action",
    "channel",
    "outcome",
    "code",
    "transaction_id",
    "activation_id",
];

impl ProvisioningRecord {
    pub fn csv_row(&self) -> [String; 13] {
        [
            self.id.to_string(),
            crate::timefmt::iso(self.at),
            self.profile_id.map(|v| v.to_string()).unwrap_or_default(),
            self.mdn.clone(),
            self.esn.clone().unwrap_or_default(),
            self.meid.clone().unwrap_or_default(),
            self.feature.clone(),
            self.action.clone(),
            self.channel.clone(),
            self.outcome.clone(),
            self.code.clone(),
            self.transaction_id.clone(),
            self.activation_id
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ]
    }
}

/// One page of the CSV export (no header) and the id to continue after,
/// or `None` when this was the last page.
pub fn csv_page(
    conn: &mut DbConnection,
    after_id: i64,
    limit: i64,
) -> QueryResult<(Vec<u8>, Option<i64>)> {
    let rows = page(conn, after_id, limit)?;
    // The portal's download and `mdm cdr` write the same, spreadsheet-safe cells.
    let bytes = crate::export_csv::rows(rows.iter().map(|r| r.csv_row()));
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok((bytes, next))
}

pub fn csv_header() -> String {
    format!("{}\n", CSV_HEADER.join(","))
}
