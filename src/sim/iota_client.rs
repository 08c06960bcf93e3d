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
    let mut doc = read("GET", resp, trace).await?;
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
                doc = read("POST", resp, trace).await?;
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

/// `method` is how the document went out, for an error to say.
async fn read(
    method: &str,
    resp: reqwest::Response,
    trace: &Trace,
) -> Result<MmcDocument, SimError> {
    let status = resp.status();
    // Without the query: a GET carries the whole document in it.
    let mut url = resp.url().clone();
    url.set_query(None);
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
            asked: format!("{method} {url} (an MMC document)"),
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

/// How the simulated handset misbehaves in an IOTA FOTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FotaFault {
    /// The user declines the update shown in the prompt.
    Cancel,
    /// The package arrives damaged (SHA-256 mismatch).
    Corrupt,
}

/// Runs the IOTA branch of client-initiated FOTA as a handset whose
/// identity (`handset`) carries its firmware version: the FOTA URL, the
/// redirect, the make-model-version query, the package, the download with
/// its install notification, the "reboot" and the final status report.
/// Returns the outcome and the firmware the handset runs at the end.
pub async fn run_fota(
    handset: &mut IotaHandset,
    fota_url: &str,
    gateway_header: Option<(&str, &str)>,
    fault: Option<FotaFault>,
    trace: &Trace,
) -> Result<super::omadm_handset::FotaOutcome, SimError> {
    use super::omadm_handset::{parse_dd, FotaOutcome};
    use sha2::{Digest, Sha256};
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let from = handset.identity().firmware.clone().unwrap_or_default();
    // Steps 4-5: the FOTA URL, identified by the WAP gateway's header.
    let mut req = http.get(fota_url);
    if let Some((name, value)) = gateway_header {
        req = req.header(name, value);
    }
    trace.record("send", "GET-fota-url", "text/plain", fota_url.as_bytes())?;
    let resp = req.send().await?;
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.text().await.unwrap_or_default();
    trace.record("recv", status.as_str(), "text/plain", body.as_bytes())?;
    let Some(url) = location.filter(|_| status.as_u16() == 302) else {
        return Err(SimError::Server {
            status: status.as_u16(),
            asked: format!("GET {fota_url} (the FOTA URL)"),
            body,
        });
    };
    // Step 6: the GET with make, model and firmware; the answer queries.
    let first = handset.start_document();
    let mut doc = get_document(&http, &url, &first, trace).await?;
    let mut offer = None;
    for _ in 0..MAX_EXCHANGES {
        if let Some(status) = &doc.status {
            if status.code == 404 {
                return Ok(FotaOutcome::NoUpdate);
            }
            return Ok(FotaOutcome::Failed(format!(
                "server refused ({}): {}",
                status.code, status.text
            )));
        }
        if let Some(p) = doc.package.take() {
            offer = Some((p, doc.session.clone()));
            break;
        }
        match handset.handle(&doc) {
            Step::Post(next) => doc = post_document(&http, &url, &next, trace).await?,
            Step::Finished { reason, .. } => {
                return Ok(FotaOutcome::Failed(format!(
                    "the server ended the session: {}",
                    reason.unwrap_or_default()
                )))
            }
            Step::Refused { code: 404, .. } => return Ok(FotaOutcome::NoUpdate),
            Step::Refused { code, text } => {
                return Ok(FotaOutcome::Failed(format!("refused ({code}): {text}")))
            }
            Step::Dropped => return Ok(FotaOutcome::Failed("data call dropped".into())),
            Step::ProtocolError(e) => return Ok(FotaOutcome::Failed(e)),
        }
    }
    let Some((package, session)) = offer else {
        return Err(SimError::Protocol("no package was offered".into()));
    };
    let report = |code: u16, text: &str| MmcDocument {
        session: session.clone(),
        status: Some(mmc::StatusItem {
            code,
            text: text.to_string(),
        }),
        ..Default::default()
    };
    // The update prompt: the user may decline.
    if fault == Some(FotaFault::Cancel) {
        post_document(&http, &url, &report(401, "user cancelled"), trace).await?;
        return Ok(FotaOutcome::Cancelled);
    }
    // Steps 8-10: descriptor, package, install notification.
    let dd_resp = http.get(&package.href).send().await?;
    let dd_status = dd_resp.status().as_u16();
    let dd_xml = dd_resp.text().await?;
    trace.record(
        "recv",
        "descriptor",
        "application/vnd.oma.dd+xml",
        dd_xml.as_bytes(),
    )?;
    if dd_status != 200 {
        return Err(SimError::Server {
            status: dd_status,
            asked: format!("GET {} (the download descriptor)", package.href),
            body: dd_xml,
        });
    }
    let dd = parse_dd(&dd_xml);
    let resp = http.get(&dd.object_uri).send().await?;
    if resp.status().as_u16() != 200 {
        return Err(SimError::Server {
            status: resp.status().as_u16(),
            asked: format!("GET {} (the package)", dd.object_uri),
            body: resp.text().await.unwrap_or_default(),
        });
    }
    let mut bytes = resp.bytes().await?.to_vec();
    if fault == Some(FotaFault::Corrupt) {
        if let Some(b) = bytes.first_mut() {
            *b ^= 0xFF;
        }
    }
    let intact =
        bytes.len() as u64 == package.size && hex::encode(Sha256::digest(&bytes)) == package.sha256;
    let status_line = if intact {
        "900 Success"
    } else {
        "953 Non-Acceptable Content"
    };
    trace.record(
        "send",
        "install-notify",
        "text/plain",
        status_line.as_bytes(),
    )?;
    let notified = http
        .post(&dd.notify_uri)
        .body(status_line.to_string())
        .send()
        .await?;
    let code = notified.status().as_u16();
    let text = notified.text().await.unwrap_or_default();
    trace.record("recv", "install-notify", "text/plain", text.as_bytes())?;
    if code != 200 {
        return Err(SimError::Server {
            status: code,
            asked: format!("POST {} (install status {status_line})", dd.notify_uri),
            body: text,
        });
    }
    if !intact {
        post_document(&http, &url, &report(402, "package corrupted"), trace).await?;
        return Ok(FotaOutcome::Failed(
            "the package failed its SHA-256 check; reported".into(),
        ));
    }
    let answer = post_document(&http, &url, &report(200, "downloaded"), trace).await?;
    if !answer.has_control(mmc::Control::Terminate) {
        return Err(SimError::Protocol(
            "the server did not end the session after the download".into(),
        ));
    }
    // Step 11: "reboot" into the new firmware and report the final status.
    let mut identity = handset.identity().clone();
    identity.firmware = Some(package.version.clone());
    *handset = IotaHandset::new(identity, handset.fault());
    let mut last = handset.start_document();
    last.status = Some(mmc::StatusItem {
        code: 200,
        text: "update installed".into(),
    });
    let done = get_document(&http, &url, &last, trace).await?;
    if let Some(s) = done.status {
        return Ok(FotaOutcome::Failed(format!(
            "final report refused ({}): {}",
            s.code, s.text
        )));
    }
    Ok(FotaOutcome::Updated {
        from,
        to: package.version,
    })
}

async fn get_document(
    http: &reqwest::Client,
    url: &str,
    doc: &MmcDocument,
    trace: &Trace,
) -> Result<MmcDocument, SimError> {
    let xml = doc
        .encode()
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    trace.record("send", "GET-mmc", mmc::CONTENT_TYPE, xml.as_bytes())?;
    let query = doc
        .to_query_value()
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    let resp = http
        .get(url)
        .query(&[(mmc::QUERY_PARAMETER, query)])
        .send()
        .await?;
    read("GET", resp, trace).await
}

async fn post_document(
    http: &reqwest::Client,
    url: &str,
    doc: &MmcDocument,
    trace: &Trace,
) -> Result<MmcDocument, SimError> {
    let body = doc
        .encode()
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    trace.record("send", "POST", mmc::CONTENT_TYPE, body.as_bytes())?;
    let resp = http
        .post(url)
        .header(header::CONTENT_TYPE, mmc::CONTENT_TYPE)
        .body(body)
        .send()
        .await?;
    read("POST", resp, trace).await
}
