//! The provisioning detail records as CSV, streamed a page at a time, for
//! billing reconciliation.

use actix_web::{web, HttpResponse};

use super::session::CurrentUser;
use super::{AppState, WebError};
use crate::auth::Permission;
use crate::features::records;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/care/provisioning-records.csv", web::get().to(export));
}

async fn export(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    let db = state.db.clone();
    tracing::info!(user = %user.name, "provisioning records export started");
    tokio::task::spawn_blocking(move || {
        if tx
            .blocking_send(Ok(web::Bytes::from(records::csv_header())))
            .is_err()
        {
            return;
        }
        let mut conn = match db.get() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let mut after = 0;
        loop {
            match records::csv_page(&mut conn, after, 1000) {
                Ok((bytes, next)) => {
                    if tx.blocking_send(Ok(web::Bytes::from(bytes))).is_err() {
                        return;
                    }
                    match next {
                        Some(n) => after = n,
                        None => return,
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"provisioning-records.csv\"",
        ))
        .streaming(stream))
}
