//! Serving a stored file with HTTP ranges (RFC 9110 section 14), so an
//! interrupted package download resumes where it stopped. The ETag is the
//! content's SHA-256: strong, and the same on every server node, so a
//! download can resume against any node.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

/// One satisfiable byte range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    Whole,
    Part(ByteRange),
    Unsatisfiable,
}

/// Parses a `Range` header against a file of `size` bytes. Only single
/// ranges are served; anything else is answered with the whole file, which
/// RFC 9110 allows.
pub fn parse_range(value: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => match byte_pos(b) {
            Some(0) => return RangeRequest::Unsatisfiable,
            None => return RangeRequest::Whole,
            Some(n) => ByteRange {
                start: size.saturating_sub(n),
                end: size.saturating_sub(1),
            },
        },
        (false, _) => {
            let Some(start) = byte_pos(a) else {
                return RangeRequest::Whole;
            };
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                match byte_pos(b) {
                    Some(e) if e >= start => e.min(size.saturating_sub(1)),
                    _ => return RangeRequest::Whole,
                }
            };
            ByteRange { start, end }
        }
        (true, true) => return RangeRequest::Whole,
    };
    if size == 0 || range.start >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Part(range)
    }
}

/// A byte position (`1*DIGIT`); one too large for 64 bits is still a valid
/// position, past the end of any file, so it saturates rather than making
/// the range unreadable: a last-byte-pos beyond the length is clamped and a
/// suffix longer than the file takes all of it (RFC 9110 section 14.1.2).
fn byte_pos(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// If-Match compares strongly (RFC 9110 section 13.1.1): a weak tag never
/// matches, "*" matches any current representation.
fn if_match_holds(header_value: &str, etag: &str) -> bool {
    header_value.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t == etag
    })
}

fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

/// Told how far a GET's body has got, from the thread that streams it (so
/// it may block briefly), to record a download's progress.
pub trait Progress: Send + 'static {
    /// The response, which began at byte `from` of a file of `size` bytes,
    /// has handed over the bytes before `at`; `done` once it has ended,
    /// complete or cut off (the handset went away, the file failed).
    fn reached(&mut self, from: u64, at: u64, size: u64, done: bool);
}

/// Answers GET/HEAD for a file identified by its SHA-256.
pub async fn serve(
    req: &HttpRequest,
    path: PathBuf,
    sha256: &str,
    media_type: &str,
) -> HttpResponse {
    serve_tracked(req, path, sha256, media_type, None).await
}

/// [`serve`], telling `progress` how far a GET's body got. Answers without
/// a body (HEAD, 304, 412, 416) tell it nothing.
pub async fn serve_tracked(
    req: &HttpRequest,
    path: PathBuf,
    sha256: &str,
    media_type: &str,
    progress: Option<Box<dyn Progress>>,
) -> HttpResponse {
    let etag = format!("\"{sha256}\"");
    let meta = match web::block({
        let p = path.clone();
        move || std::fs::metadata(p)
    })
    .await
    {
        Ok(Ok(m)) => m,
        _ => {
            tracing::error!(file = %path.display(), "package blob missing from the store");
            return HttpResponse::NotFound().body("package file missing");
        }
    };
    let size = meta.len();
    let headers = req.headers();
    // Preconditions in RFC 9110's order (section 13.2.2): If-Match first.
    if let Some(v) = headers.get(header::IF_MATCH) {
        if !v.to_str().is_ok_and(|v| if_match_holds(v, &etag)) {
            return HttpResponse::PreconditionFailed()
                .insert_header((header::ETAG, etag))
                .finish();
        }
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| etag_matches(v, &etag))
    {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range: the range holds only while the client's copy is this content.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let request = if if_range_ok {
        parse_range(range_header, size)
    } else {
        RangeRequest::Whole
    };
    let (status, range) = match request {
        RangeRequest::Whole => (
            StatusCode::OK,
            ByteRange {
                start: 0,
                end: size.saturating_sub(1),
            },
        ),
        RangeRequest::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
        RangeRequest::Unsatisfiable => {
            return HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .insert_header((header::ETAG, etag))
                .finish();
        }
    };
    let length = if size == 0 {
        0
    } else {
        range.end - range.start + 1
    };
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CONTENT_TYPE, media_type.to_string()))
        .no_chunking(length);
    if status == StatusCode::PARTIAL_CONTENT {
        resp.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", range.start, range.end),
        ));
    }
    if req.method() == actix_web::http::Method::HEAD {
        // A body of the GET's size that is never read: `finish()` would
        // declare an empty body and so Content-Length: 0 (the server sends
        // no body for HEAD whatever its size).
        let nothing = futures_util::stream::empty::<Result<web::Bytes, std::io::Error>>();
        return resp.body(actix_web::body::SizedStream::new(length, nothing));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut progress = progress;
        let sent = stream_range(&path, range.start, length, size, &tx, &mut progress);
        if let Some(p) = progress.as_mut() {
            p.reached(range.start, range.start + sent, size, true);
        }
    });
    let mut rx = rx;
    resp.streaming(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// Sends `length` bytes of the file (of `size` bytes) from `start` down
/// `tx`; returns how many were handed over before it ended (complete, or
/// the receiver gone, or the file failed).
fn stream_range(
    path: &std::path::Path,
    start: u64,
    length: u64,
    size: u64,
    tx: &tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
    progress: &mut Option<Box<dyn Progress>>,
) -> u64 {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return 0;
        }
    };
    if let Err(e) = file.seek(SeekFrom::Start(start)) {
        let _ = tx.blocking_send(Err(e));
        return 0;
    }
    let mut sent = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while sent < length {
        let want = buf.len().min((length - sent) as usize);
        match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                if tx
                    .blocking_send(Ok(web::Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    break;
                }
                sent += n as u64;
                if let Some(p) = progress.as_mut() {
                    p.reached(start, start + sent, size, false);
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ranges_per_rfc_9110() {
        let r = |s, n| parse_range(Some(s), n);
        assert_eq!(
            r("bytes=0-499", 1000),
            RangeRequest::Part(ByteRange { start: 0, end: 499 })
        );
        assert_eq!(
            r("bytes=500-", 1000),
            RangeRequest::Part(ByteRange {
                start: 500,
                end: 999
            })
        );
        assert_eq!(
            r("bytes=-100", 1000),
            RangeRequest::Part(ByteRange {
                start: 900,
                end: 999
            })
        );
        assert_eq!(
            r("bytes=900-5000", 1000),
            RangeRequest::Part(ByteRange {
                start: 900,
                end: 999
            })
        );
        assert_eq!(r("bytes=1000-", 1000), RangeRequest::Unsatisfiable);
        // Positions too large for 64 bits are positions past the end.
        assert_eq!(
            r("bytes=0-99999999999999999999", 1000),
            RangeRequest::Part(ByteRange { start: 0, end: 999 })
        );
        assert_eq!(
            r("bytes=-99999999999999999999", 1000),
            RangeRequest::Part(ByteRange { start: 0, end: 999 })
        );
        assert_eq!(
            r("bytes=99999999999999999999-", 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(r("bytes=0-1x", 1000), RangeRequest::Whole);
        assert_eq!(r("bytes=+1-5", 1000), RangeRequest::Whole);
        assert_eq!(r("bytes=5-1", 1000), RangeRequest::Whole);
        assert_eq!(r("bytes=0-1,5-6", 1000), RangeRequest::Whole);
        assert_eq!(r("items=0-1", 1000), RangeRequest::Whole);
        assert_eq!(parse_range(None, 10), RangeRequest::Whole);
    }

    #[test]
    fn if_match_compares_strongly() {
        let etag = "\"abc\"";
        assert!(if_match_holds("\"abc\"", etag));
        assert!(if_match_holds("\"x\", \"abc\"", etag));
        assert!(if_match_holds("*", etag));
        assert!(!if_match_holds("\"zz\"", etag));
        assert!(!if_match_holds("W/\"abc\"", etag));
    }
}
