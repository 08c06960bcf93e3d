//! The handset simulator: plays an OMA-DM handset with its own DM tree so
//! tests, the demo and load runs exercise the server with the bytes a real
//! handset sends. `mdm sim fota` drives it from the command line.

pub mod dm_tree;
pub mod iota_client;
pub mod iota_handset;
pub mod omadm_handset;
pub mod sms_inbox;
pub mod trace;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// `asked` is the request (`GET http://…/fota/check`); the body is kept
    /// whole for callers that look into it, and shown as one line.
    #[error("{}", answered(.status, .asked, .body))]
    Server {
        status: u16,
        asked: String,
        body: String,
    },
    #[error("SyncML: {0}")]
    Syncml(#[from] crate::omadm::syncml::SyncmlError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("trace: {0}")]
    Io(#[from] std::io::Error),
}

/// Most characters of a server's answer an error repeats.
const GIST: usize = 300;

/// One line: what was asked, the status, what the server said (an HTML
/// page's message, not its markup) and what to check.
fn answered(status: &u16, asked: &str, body: &str) -> String {
    let status = *status;
    let code = reqwest::StatusCode::from_u16(status).ok();
    let reason = code.and_then(|c| c.canonical_reason()).unwrap_or("");
    let mut line = format!("{asked} answered {status} {reason}")
        .trim_end()
        .to_string();
    let said = gist(body);
    if !said.is_empty() && !said.eq_ignore_ascii_case(&format!("{status} {reason}")) {
        line.push_str(": ");
        line.push_str(&said);
    }
    let hint = match status {
        401 | 403 => Some("check the handset's credentials (--password) against the device's DM account on the server"),
        404 => Some("check that --server is the MDM server's base URL, that the FOTA URL path (MDM_FOTA_PATH) is the server's, and that the server has --device registered"),
        500..=599 => Some("the server failed; its log says why"),
        _ => None,
    };
    if let Some(h) = hint {
        line.push_str(" (hint: ");
        line.push_str(h);
        line.push(')');
    }
    line
}

/// The gist of a server's answer on one line: an HTML page's first
/// paragraph (or heading, or title) rather than its markup, cut to [`GIST`].
fn gist(body: &str) -> String {
    let t = body.trim();
    let lower = t.to_ascii_lowercase();
    let text = if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        ["p", "h1", "title"]
            .iter()
            .find_map(|tag| element_text(t, &lower, tag))
            .unwrap_or_default()
    } else {
        t.to_string()
    };
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > GIST {
        line = line.chars().take(GIST).collect::<String>() + "…";
    }
    line
}

/// The text of the first `<tag>` element of an HTML page, tags stripped.
/// `lower` is `html` lower-cased (ASCII only, so offsets agree).
fn element_text(html: &str, lower: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}");
    let mut from = 0;
    let start = loop {
        let at = from + lower[from..].find(&open)?;
        let after = at + open.len();
        // `<p` is not `<pre>`.
        match lower[after..].chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\n') | Some('\r') => {
                break after + lower[after..].find('>')? + 1
            }
            _ => from = after,
        }
    };
    let end = start + lower[start..].find(&format!("</{tag}"))?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_error_page_is_told_in_one_line_with_what_was_asked_and_a_hint() {
        let page = "<!doctype html>\n<html lang=\"en\">\n<head>\n<title>404 Not Found · MDM Platform</title>\n\
                    </head>\n<body class=\"plain\"><main><pre>x</pre><h1>404 · Not Found</h1>\n\
                    <p>There is no page at this address.</p>\n<p><a href=\"/\">Home</a></p></main></body></html>";
        let e = SimError::Server {
            status: 404,
            asked: "GET http://127.0.0.1:8080/fota/chek".into(),
            body: page.into(),
        };
        let line = e.to_string();
        assert!(
            line.starts_with(
                "GET http://127.0.0.1:8080/fota/chek answered 404 Not Found: \
                 There is no page at this address. (hint: check that --server"
            ),
            "{line}"
        );
        assert!(!line.contains('<') && !line.contains('\n'), "{line}");
        // A plain answer is kept (on one line, cut to a bound).
        let e = SimError::Server {
            status: 409,
            asked: "GET /fota/check".into(),
            body: format!("LG VX9600\ntakes no update {}", "x".repeat(1000)),
        };
        let line = e.to_string();
        assert!(line
            .starts_with("GET /fota/check answered 409 Conflict: LG VX9600 takes no update xxx"));
        assert!(line.ends_with("x…"), "{line}");
        assert!(line.chars().count() < GIST + 60, "{line}");
        // Only a title: that.
        assert_eq!(
            gist("<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"),
            "502 Bad Gateway"
        );
    }
}
