//! The features an operator sells: rows, not code, so adding one is data.

use diesel::prelude::*;
use serde::Serialize;

use super::FeatureError;
use crate::db::schema::features;
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = features)]
pub struct Feature {
    pub code: String,
    pub name: String,
    pub description: String,
    /// The billing information shown before the subscriber commits.
    pub price: String,
    /// The contractual text the subscriber agrees to.
    pub legal_text: String,
    /// The service code the billing gateway knows it by.
    pub billing_service: String,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Feature>> {
    features::table
        .filter(features::active.eq(true))
        .order(features::name)
        .select(Feature::as_select())
        .load(conn)
}

/// The codes a line's features may name: those of the catalogue on sale.
pub fn codes(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    features::table
        .filter(features::active.eq(true))
        .order(features::code)
        .select(features::code)
        .load(conn)
}

/// Of `wanted`, the codes the catalogue does not sell, in a sentence for a
/// field error (`None` when all are known).
pub fn unknown_codes_message(known: &[String], wanted: &[&str]) -> Option<String> {
    let unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !known.iter().any(|k| k == w))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let quoted: Vec<String> = unknown.iter().map(|u| format!("\"{u}\"")).collect();
    Some(format!(
        "{} {} not in the feature catalogue (known: {})",
        quoted.join(", "),
        if unknown.len() == 1 { "is" } else { "are" },
        known.join(", ")
    ))
}

pub fn get(conn: &mut DbConnection, code: &str) -> Result<Feature, FeatureError> {
    features::table
        .find(code)
        .filter(features::active.eq(true))
        .select(Feature::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| FeatureError::UnknownFeature(code.to_string()))
}
