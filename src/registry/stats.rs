//! Counts for the Operation & Maintenance dashboard and the firmware landscape.

use diesel::dsl::count_star;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{capabilities, devices, profiles};
use crate::db::DbConnection;

#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelCount {
    pub make: String,
    pub model: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionCount {
    pub make: String,
    pub model: String,
    pub firmware_version: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub profiles: i64,
    pub devices: i64,
    pub capabilities: i64,
    pub by_state: Vec<Count>,
    pub by_make: Vec<Count>,
    pub by_model: Vec<ModelCount>,
    pub by_protocol: Vec<Count>,
    /// Devices with no last contact protocol: they have never reached the
    /// platform, so `by_protocol` plus these add up to `devices`.
    pub never_contacted: i64,
}

pub fn overview(conn: &mut DbConnection) -> QueryResult<Overview> {
    let profiles_n: i64 = profiles::table.select(count_star()).first(conn)?;
    let devices_n: i64 = devices::table.select(count_star()).first(conn)?;
    let caps_n: i64 = capabilities::table.select(count_star()).first(conn)?;
    let by_state = profiles::table
        .group_by(profiles::activation_state)
        .select((profiles::activation_state, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    let mut by_make: Vec<Count> = devices::table
        .group_by(devices::make)
        .select((devices::make, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    by_make.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    let mut by_model: Vec<ModelCount> = devices::table
        .group_by((devices::make, devices::model))
        .select((devices::make, devices::model, count_star()))
        .load::<(String, String, i64)>(conn)?
        .into_iter()
        .map(|(make, model, count)| ModelCount { make, model, count })
        .collect();
    by_model.sort_by(|a, b| b.count.cmp(&a.count).then(a.model.cmp(&b.model)));
    let by_protocol: Vec<Count> = devices::table
        .filter(devices::last_protocol.is_not_null())
        .group_by(devices::last_protocol)
        .select((devices::last_protocol, count_star()))
        .load::<(Option<String>, i64)>(conn)?
        .into_iter()
        .map(|(key, count)| Count {
            key: key.unwrap_or_default(),
            count,
        })
        .collect();
    // The difference, not another scan of the devices table; a device that
    // makes contact between the two counts could take it below zero.
    let contacted: i64 = by_protocol.iter().map(|c| c.count).sum();
    let never_contacted = (devices_n - contacted).max(0);
    Ok(Overview {
        profiles: profiles_n,
        devices: devices_n,
        capabilities: caps_n,
        by_state,
        by_make,
        by_model,
        by_protocol,
        never_contacted,
    })
}

/// How many devices run each firmware version of each make/model.
pub fn versions(conn: &mut DbConnection) -> QueryResult<Vec<VersionCount>> {
    let mut rows: Vec<VersionCount> = devices::table
        .group_by((devices::make, devices::model, devices::firmware_version))
        .select((
            devices::make,
            devices::model,
            devices::firmware_version,
            count_star(),
        ))
        .load::<(String, String, String, i64)>(conn)?
        .into_iter()
        .map(|(make, model, firmware_version, count)| VersionCount {
            make,
            model,
            firmware_version,
            count,
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.make.as_str(), a.model.as_str())
            .cmp(&(b.make.as_str(), b.model.as_str()))
            .then_with(|| super::version::compare(&a.firmware_version, &b.firmware_version))
    });
    Ok(rows)
}
