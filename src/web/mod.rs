//! The server-rendered portal: the five areas of the source document, plus
//! sign-in, health checks and static assets.

pub mod account;
pub mod assets;
pub mod auth;
pub mod campaign_chart;
pub mod campaigns;
pub mod care;
pub mod care_iota;
pub mod csv_export;
pub mod devices;
pub mod error;
pub mod firmware;
pub mod forms;
pub mod fota;
pub mod fota_chart;
pub mod health;
pub mod iota;
pub mod labels;
pub mod messages;
pub mod omadm;
pub mod ops;
pub mod pager;
pub mod prls;
pub mod ranged;
pub mod records;
pub mod self_features;
pub mod self_service;
pub mod session;
pub mod wap;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::config::Config;
use crate::db::Db;
use crate::registry::import::Progress;
pub use error::WebError;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// Imports running on this node, by import run id.
    pub imports: Arc<Mutex<HashMap<i64, Arc<Progress>>>>,
    pub started_at: i64,
    /// The SMS sender of this node, when an SMSC is configured.
    pub messaging: Option<crate::messaging::sender::Messaging>,
    /// The billing gateway client, when one is configured.
    pub billing: Option<crate::billing::BillingClient>,
    /// Seals and opens the stored OMA-DM secrets.
    pub vault: Arc<crate::secrets::Vault>,
}

pub fn render<T: Template>(page: &T) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

pub fn render_status<T: Template>(
    status: actix_web::http::StatusCode,
    page: &T,
) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, to.to_string()))
        .finish()
}

/// Routes are tried in order, so the ones handsets hit in volume come first.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // The API's scope has JSON answers of its own for these.
    cfg.app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error));
    cfg.configure(omadm::routes)
        .configure(firmware::device_routes)
        .configure(health::routes)
        .configure(assets::routes)
        .configure(auth::routes)
        .configure(account::routes)
        .configure(ops::routes)
        .configure(messages::routes)
        .configure(wap::routes)
        .configure(iota::routes)
        .configure(prls::routes)
        .configure(records::routes)
        .configure(devices::routes)
        .configure(care::routes)
        .configure(firmware::routes)
        .configure(firmware::session_routes)
        .configure(campaigns::routes)
        .configure(self_service::routes);
}
