//! CSV downloads streamed a page at a time from a blocking thread: an
//! export of a million rows neither holds the async executor nor is built
//! in memory first.

use actix_web::{web, HttpResponse};

use crate::db::{Db, DbConnection};

/// The page's rows as spreadsheet-safe CSV.
pub use crate::export_csv::rows;

/// One page of an export: its CSV bytes and the cursor to continue after,
/// `None` after the last page.
pub type Page = Result<(Vec<u8>, Option<i64>), String>;

/// Streams `header`, then the pages `page` returns from cursor 0 on, as the
/// attachment `filename`. A failure part-way ends the download with an
/// error, which the client sees as a broken transfer rather than a short
/// file.
pub fn stream<F>(db: Db, filename: &str, header: String, mut page: F) -> HttpResponse
where
    F: FnMut(&mut DbConnection, i64) -> Page + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        if tx.blocking_send(Ok(web::Bytes::from(header))).is_err() {
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
            match page(&mut conn, after) {
                Ok((bytes, next)) => {
                    // The client went away: stop reading.
                    if tx.blocking_send(Ok(web::Bytes::from(bytes))).is_err() {
                        return;
                    }
                    match next {
                        Some(n) => after = n,
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "CSV export failed part-way");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(stream)
}
