//! The simulated IOTA handset on the wire: carries the documents of
//! `iota_handset` over HTTP exactly as docs/iota-mmc.md describes (first a
//! GET with the document in the `mmc` query parameter, then POSTs), and
//! finds the call-back URL in a WAP Push SI or SL.

use reqwest::header;

use super::iota_handset::{IotaHandset, Step};
use super::trace::Trace;
use super::SimError;
use crate::iota::mmc::{self, MmcDocument};
use crate::messaging::codec::wsp::{media, MediaType, PushPdu};
use crate::wbxml;

/// How an IOTA session ended, from the handset's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IotaOutcome {
    Completed {
        reboot: bool,
        reason: Option<String>,
    },
    Refused {
        code: u16,
        text: String,
    },
    /// The handset dropped the data call (fault mode).
    Dropped,
    /// The handset could not make sense of the server.
    ProtocolError(String),
}

impl std::fmt::Display for IotaOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IotaOutcome::Completed { reboot, reason } => write!(
                f,
                "session completed{}{}",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                if *reboot { "; handset rebooted" } else { "" }
            ),
            IotaOutcome::Refused { code, text } => write!(f, "refused ({code}): {text}"),
            IotaOutcome::Dropped => write!(f, "the handset dropped the data call"),
            IotaOutcome::ProtocolError(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// Most documents one session may take before the handset gives up.
const MAX_EXCHANGES: usize = 1000;

/// Runs one IOTA session against `url` (the bootstrap or a call-back URL).
/// With `identify_in_get` false the GET carries no `<device>`, and the
/// handset names itself with its first POST (the Protocol Capability
/// variant of one-button activation).
pub async fn run(
    handset: &mut IotaHandset,
    url: &str,
    identify_in_get: bool,
    trace: &Trace,
) -> Result<IotaOutcome, SimError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut first = handset.start_document();
    let mut identity = None;
    if !identify_in_get {
        identity = first.device.take();
    }
    let xml = first
        .encode()
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    trace.record("send", "GET-mmc", mmc::CONTENT_TYPE, xml.as_bytes())?;
    let query = first
        .to_query_value()
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    let resp = http
        .get(url)
        .query(&[(mmc::QUERY_PARAMETER, query)])
        .send()
        .await?;
    let mut doc = read(resp, trace).await?;
    for _ in 0..MAX_EXCHANGES {
        match handset.handle(&doc) {
            Step::Post(mut next) => {
                if let Some(device) = identity.take() {
                    next.device = Some(device);
                }
                let body = next
                    .encode()
                    .map_err(|e| SimError::Protocol(e.to_string()))?;
                trace.record("send", "POST", mmc::CONTENT_TYPE, body.as_bytes())?;
                let resp = http
                    .post(url)
                    .header(header::CONTENT_TYPE, mmc::CONTENT_TYPE)
                    .body(body)
                    .send()
                    .await?;
                doc = read(resp, trace).await?;
            }
            Step::Finished { reboot, reason } => {
                return Ok(IotaOutcome::Completed { reboot, reason })
            }
            Step::Refused { code, text } => return Ok(IotaOutcome::Refused { code, text }),
            Step::Dropped => return Ok(IotaOutcome::Dropped),
            Step::ProtocolError(e) => return Ok(IotaOutcome::ProtocolError(e)),
        }
    }
    Err(SimError::Protocol(format!(
        "the session did not end within {MAX_EXCHANGES} exchanges"
    )))
}

async fn read(resp: reqwest::Response, trace: &Trace) -> Result<MmcDocument, SimError> {
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().await?;
    trace.record("recv", status.as_str(), &ct, &body)?;
    if !status.is_success() {
        return Err(SimError::Server {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    MmcDocument::decode(&body).map_err(|e| SimError::Protocol(format!("MMC document: {e}")))
}

/// The URL a WAP Push Service Indication or Service Loading points at.
pub fn push_href(push: &PushPdu) -> Option<String> {
    let is_si_or_sl = matches!(push.content_type.media,
        MediaType::WellKnown(c) if c == media::SIC || c == media::SLC);
    if !is_si_or_sl {
        return None;
    }
    let doc = wbxml::decode(&push.body, wbxml::known_vocabulary).ok()?;
    find_href(&doc.root)
}

fn find_href(el: &wbxml::Element) -> Option<String> {
    if let Some(h) = el.attribute("href") {
        return Some(h.to_string());
    }
    el.children.iter().find_map(|c| match c {
        wbxml::Node::Element(e) => find_href(e),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_call_back_in_si_and_sl() {
        for pdu in [
            crate::messaging::content::service_indication(
                "http://mdm.example/iota/callback/abc",
                "Activate",
            )
            .unwrap(),
            crate::messaging::content::service_loading("http://mdm.example/iota/callback/abc")
                .unwrap(),
        ] {
            let push = PushPdu::decode(&pdu).unwrap();
            assert_eq!(
                push_href(&push).as_deref(),
                Some("http://mdm.example/iota/callback/abc")
            );
        }
    }
}
