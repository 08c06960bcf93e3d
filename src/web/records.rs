//! The provisioning detail records as CSV, streamed a page at a time, for
//! billing reconciliation.

use actix_web::{web, HttpResponse};

use super::csv_export;
use super::session::CurrentUser;
use super::{AppState, WebError};
use crate::auth::Permission;
use crate::features::records;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/care/provisioning-records.csv", web::get().to(export));
}

async fn export(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    tracing::info!(user = %user.name, "provisioning records export started");
    Ok(csv_export::stream(
        state.db.clone(),
        "provisioning-records.csv",
        records::csv_header(),
        |conn, after| records::csv_page(conn, after, 1000).map_err(|e| e.to_string()),
    ))
}
