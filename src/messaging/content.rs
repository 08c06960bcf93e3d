//! What the platform pushes to handsets, built from the pure encoders:
//! OMA-DM notifications, OMA CP documents, SI and SL. Also the reverse, for
//! the message log: a queued payload decoded back into readable form.

use super::codec::cp_security::{self, Credentials, SecMethod};
use super::codec::notification::{self, Notification, UiMode};
use super::codec::wsp::{media, AppId, Header, MediaType, PushPdu};
use super::codec::{wdp, CodecError};
use super::outbox::OutboxMessage;
use crate::omadm::account::DmAccount;
use crate::wbxml::codepages::provisioning::PROV_10;
use crate::wbxml::codepages::{si::SI_10, sl::SL_10};
use crate::wbxml::{self, Document, Element};

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("WBXML: {0}")]
    Wbxml(#[from] wbxml::WbxmlError),
    #[error("{0}")]
    Missing(&'static str),
}

fn tid() -> u8 {
    rand::random()
}

/// A WAP push carrying OMA-DM package #0 for `session_id`, signed with the
/// device's server credentials (OMA-TS-DM_Notification-V1_2 section 6).
pub fn dm_notification(
    account: &DmAccount,
    session_id: u16,
    ui_mode: UiMode,
) -> Result<Vec<u8>, ContentError> {
    let mut n = Notification::new(account.server_id.clone(), session_id);
    n.ui_mode = ui_mode;
    let pkg0 = notification::encode(&n, &account.server_password, &account.server_nonce_bytes())?;
    Ok(PushPdu::dm_notification(tid(), pkg0).encode()?)
}

fn parm(name: &str, value: &str) -> Element {
    Element::new("parm").attr("name", name).attr("value", value)
}

fn characteristic(kind: &str) -> Element {
    Element::new("characteristic").attr("type", kind)
}

/// Settings an OMA CP settings push can carry; empty fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpSettings {
    /// Display name of the connection profile.
    pub name: String,
    /// The BREW download server the handset's application manager uses.
    pub brew_url: String,
    /// Packet data access point name (data connectivity).
    pub apn: String,
    /// WAP proxy address (IPv4) and port (WAP connectivity).
    pub proxy: String,
    pub proxy_port: String,
    /// Browser start page.
    pub homepage: String,
}

impl CpSettings {
    pub fn is_empty(&self) -> bool {
        self.brew_url.is_empty() && self.apn.is_empty() && self.proxy.is_empty()
    }

    /// The wap-provisioningdoc (OMA-WAP-TS-ProvCont-V1_1): a NAPDEF for the
    /// data connection, a PXLOGICAL for the WAP proxy, and application
    /// characteristics for the browser (w2) and the BREW server.
    pub fn document(&self) -> Document {
        let name = if self.name.is_empty() {
            "Operator settings"
        } else {
            self.name.as_str()
        };
        let mut root = Element::new("wap-provisioningdoc").attr("version", "1.0");
        if !self.apn.is_empty() {
            root = root.child(
                characteristic("NAPDEF")
                    .child(parm("NAPID", "NAP1"))
                    .child(parm("NAME", name))
                    .child(parm("BEARER", "CDMA2000-1X-SIMPLE-IP"))
                    .child(parm("NAP-ADDRESS", &self.apn))
                    .child(parm("NAP-ADDRTYPE", "APN")),
            );
        }
        if !self.proxy.is_empty() {
            let mut physical = characteristic("PXPHYSICAL")
                .child(parm("PHYSICAL-PROXY-ID", "PHY1"))
                .child(parm("PXADDR", &self.proxy))
                .child(parm("PXADDRTYPE", "IPV4"));
            if !self.apn.is_empty() {
                physical = physical.child(parm("TO-NAPID", "NAP1"));
            }
            if !self.proxy_port.is_empty() {
                let mut port = characteristic("PORT").child(parm("PORTNBR", &self.proxy_port));
                if let Some(service) = wap_port_service(&self.proxy_port) {
                    port = port.child(parm("SERVICE", service));
                }
                physical = physical.child(port);
            }
            let mut logical = characteristic("PXLOGICAL")
                .child(parm("PROXY-ID", "PROXY1"))
                .child(parm("NAME", name));
            if !self.homepage.is_empty() {
                logical = logical.child(parm("STARTPAGE", &self.homepage));
            }
            root = root.child(logical.child(physical));
        }
        if !self.homepage.is_empty() || !self.proxy.is_empty() {
            let mut browser = characteristic("APPLICATION")
                .child(parm("APPID", "w2"))
                .child(parm("NAME", name));
            if !self.proxy.is_empty() {
                browser = browser.child(parm("TO-PROXY", "PROXY1"));
            }
            if !self.homepage.is_empty() {
                // STARTPAGE marks the resource as the start page by its
                // presence alone: ProvCont gives it no value.
                browser = browser.child(
                    characteristic("RESOURCE")
                        .child(parm("URI", &self.homepage))
                        .child(Element::new("parm").attr("name", "STARTPAGE")),
                );
            }
            root = root.child(browser);
        }
        if !self.brew_url.is_empty() {
            root = root.child(
                characteristic("APPLICATION")
                    .child(parm("APPID", "BREW"))
                    .child(parm("NAME", "BREW download server"))
                    .child(parm("ADDR", &self.brew_url)),
            );
        }
        Document::new(&PROV_10, root)
    }
}

/// The SERVICE of a proxy PORT (OMA-WAP-TS-ProvCont-V1_1 section 5.8):
/// the WAP ports name their WSP service; any other port (an HTTP proxy on
/// 8080, say) gets none, which leaves the port open to every service the
/// proxy offers rather than claiming WSP on it.
fn wap_port_service(port: &str) -> Option<&'static str> {
    match port.trim() {
        "9200" => Some("CL-WSP"),
        "9201" => Some("CO-WSP"),
        "9202" => Some("CL-SEC-WSP"),
        "9203" => Some("CO-SEC-WSP"),
        _ => None,
    }
}

/// The OMA DM bootstrap as a CP document (OMA-TS-DM_Bootstrap-V1_2 section
/// 5.3, application w7): the server address and both credential sets.
pub fn dm_bootstrap_document(account: &DmAccount, server_url: &str) -> Document {
    let auth = |level: &str, name: &str, secret: &str, nonce: &str| {
        characteristic("APPAUTH")
            .child(parm("AAUTHLEVEL", level))
            .child(parm("AAUTHTYPE", "DIGEST"))
            .child(parm("AAUTHNAME", name))
            .child(parm("AAUTHSECRET", secret))
            .child(parm("AAUTHDATA", nonce))
    };
    let app = characteristic("APPLICATION")
        .child(parm("APPID", "w7"))
        .child(parm("PROVIDER-ID", &account.server_id))
        .child(parm("NAME", &account.server_id))
        .child(parm("ADDR", server_url))
        .child(auth(
            "APPSRV",
            &account.server_id,
            &account.server_password,
            &account.server_nonce,
        ))
        .child(auth(
            "CLIENT",
            &account.client_username,
            &account.client_password,
            &account.client_nonce,
        ));
    Document::new(
        &PROV_10,
        Element::new("wap-provisioningdoc")
            .attr("version", "1.0")
            .child(app),
    )
}

/// A CP document as a push protected with NETWPIN (key from the IMSI),
/// OMA-WAP-TS-ProvBoot-V1_1 section 5.
pub fn cp_push(doc: &Document, imsi: &str) -> Result<Vec<u8>, ContentError> {
    let wbxml = wbxml::encode(doc, &PROV_10)?;
    let mac = cp_security::mac_hex(&Credentials::NetwPin { imsi }, &wbxml)?;
    Ok(PushPdu::provisioning(tid(), SecMethod::NetwPin, mac, wbxml).encode()?)
}

/// A Service Indication (WAP-167) pointing at `href`.
pub fn service_indication(href: &str, text: &str) -> Result<Vec<u8>, ContentError> {
    let indication = Element::new("indication")
        .attr("href", href)
        .attr("action", "signal-medium")
        .text(text);
    let doc = Document::new(&SI_10, Element::new("si").child(indication));
    push(media::SIC, wbxml::encode(&doc, &SI_10)?)
}

/// A Service Loading (WAP-168) of `href`.
pub fn service_loading(href: &str) -> Result<Vec<u8>, ContentError> {
    let doc = Document::new(
        &SL_10,
        Element::new("sl")
            .attr("href", href)
            .attr("action", "execute-high"),
    );
    push(media::SLC, wbxml::encode(&doc, &SL_10)?)
}

/// The URL an SI or SL push PDU points the handset at; `None` for any
/// other payload.
pub fn pushed_link(pdu: &[u8]) -> Option<String> {
    let push = PushPdu::decode(pdu).ok()?;
    let is_si_or_sl = matches!(push.content_type.media,
        MediaType::WellKnown(c) if c == media::SIC || c == media::SLC);
    if !is_si_or_sl {
        return None;
    }
    let doc = wbxml::decode(&push.body, wbxml::known_vocabulary).ok()?;
    let el = match doc.root.name.as_str() {
        "si" => doc.root.children.iter().find_map(|c| match c {
            wbxml::Node::Element(e) if e.name == "indication" => Some(e),
            _ => None,
        })?,
        _ => &doc.root,
    };
    el.attribute("href").map(str::to_string)
}

fn push(content_type: u32, body: Vec<u8>) -> Result<Vec<u8>, ContentError> {
    Ok(PushPdu {
        tid: tid(),
        content_type: super::codec::wsp::ContentType::well_known(content_type),
        headers: vec![Header::ApplicationId(AppId::Code(
            super::codec::wsp::app_id::WML_UA,
        ))],
        body,
    }
    .encode()?)
}

/// The payload of a row in readable form: the WSP headers and the decoded
/// body (package #0 fields, or the WBXML document as XML), or the text. A
/// sealed payload is described from its masked copy: the log never opens
/// the secrets.
pub fn describe(msg: &OutboxMessage) -> String {
    if msg.payload_view.is_none() && msg.is_sealed() {
        return "(sealed: the payload carries the device's OMA-DM secrets)".into();
    }
    describe_payload(msg.shown_payload(), msg.wdp_port)
}

/// A provisioning push with the secrets it carries masked, for the log: each
/// secret value and the MAC (which would let a guess at them be checked)
/// replaced by as many `*`, so the copy is as long as the original.
pub fn masked_push(pdu: &[u8]) -> Result<Vec<u8>, ContentError> {
    let mut push = PushPdu::decode(pdu)?;
    let mut doc = wbxml::decode(&push.body, wbxml::known_vocabulary)?;
    mask_secrets(&mut doc.root);
    push.body = wbxml::encode(&doc, &PROV_10)?;
    for p in push.content_type.params.iter_mut() {
        if let super::codec::wsp::Parameter::Mac(mac) = p {
            *mac = "*".repeat(mac.len());
        }
    }
    Ok(push.encode()?)
}

fn is_secret_parm(el: &Element) -> bool {
    el.name == "parm"
        && el
            .attributes
            .iter()
            .any(|(k, v)| k == "name" && (v == "AAUTHSECRET" || v == "AUTHSECRET"))
}

fn mask_secrets(el: &mut Element) {
    if is_secret_parm(el) {
        for (k, v) in el.attributes.iter_mut() {
            if k == "value" {
                *v = "*".repeat(v.len());
            }
        }
    }
    for child in el.children.iter_mut() {
        if let wbxml::Node::Element(e) = child {
            mask_secrets(e);
        }
    }
}

/// [`describe`] for a payload not (yet) in the outbox.
pub fn describe_payload(payload: &[u8], wdp_port: Option<i32>) -> String {
    if wdp_port.is_none() {
        return String::from_utf8_lossy(payload).into_owned();
    }
    match describe_push(payload) {
        Ok(s) => s,
        Err(e) => format!("(payload does not decode: {e})"),
    }
}

fn describe_push(pdu: &[u8]) -> Result<String, ContentError> {
    let push = PushPdu::decode(pdu)?;
    let mut out = String::new();
    let ct = match &push.content_type.media {
        MediaType::WellKnown(c) => format!("0x{c:02X}"),
        MediaType::Text(t) => t.clone(),
    };
    out.push_str(&format!("WSP Push, TID {}, Content-Type {ct}\n", push.tid));
    for p in &push.content_type.params {
        out.push_str(&format!("  parameter {p:?}\n"));
    }
    for h in &push.headers {
        out.push_str(&format!("  header {h:?}\n"));
    }
    match &push.content_type.media {
        MediaType::WellKnown(c) if *c == media::SYNCML_NOTIFICATION => {
            let p = notification::decode(&push.body)?;
            let n = &p.notification;
            out.push_str(&format!(
                "OMA-DM package #0: version {}, UI mode {:?}, initiator {:?}, session id {} (0x{:04X}), server id {}\n  digest {}\n",
                n.version,
                n.ui_mode,
                n.initiator,
                n.session_id,
                n.session_id,
                n.server_id,
                hex::encode(p.digest),
            ));
        }
        _ => {
            let mut doc = wbxml::decode(&push.body, wbxml::known_vocabulary)?;
            hide_secrets(&mut doc.root);
            out.push_str(&wbxml::to_xml(&doc));
        }
    }
    Ok(out)
}

/// The log is read by people who must not learn the DM secrets a bootstrap
/// carries.
fn hide_secrets(el: &mut Element) {
    if is_secret_parm(el) {
        for (k, v) in el.attributes.iter_mut() {
            if k == "value" {
                *v = "(hidden)".into();
            }
        }
    }
    for child in el.children.iter_mut() {
        if let wbxml::Node::Element(e) = child {
            hide_secrets(e);
        }
    }
}

/// Number of short messages a payload needs (for display).
pub fn parts_needed(msg: &OutboxMessage) -> usize {
    let len = msg.shown_payload().len();
    match msg.wdp_port {
        None => super::codec::text::parts_needed(&String::from_utf8_lossy(msg.shown_payload())),
        Some(_) if len <= wdp::SINGLE_PAYLOAD => 1,
        Some(_) => len.div_ceil(wdp::CONCAT_PAYLOAD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::codec::cp_security::verify_mac;
    use crate::messaging::codec::wsp::Parameter;
    use crate::messaging::outbox::test_row;

    fn account() -> DmAccount {
        DmAccount {
            device_id: 1,
            server_id: "mdm.example.net".into(),
            server_password: "srvpw".into(),
            client_username: "A1001234200000".into(),
            client_password: "clipw".into(),
            client_nonce: "Y2xpZW50".into(),
            server_nonce: "c2VydmVy".into(),
            updated_at: 0,
        }
    }

    #[test]
    fn notification_carries_a_digest_the_device_can_check() {
        let pdu = dm_notification(&account(), 0x1234, UiMode::Background).unwrap();
        let push = PushPdu::decode(&pdu).unwrap();
        assert!(notification::verify_digest(
            &push.body,
            "mdm.example.net",
            "srvpw",
            b"server"
        ));
        let text = describe(&test_row(1, "x", pdu));
        assert!(text.contains("session id 4660 (0x1234)"), "{text}");
    }

    #[test]
    fn settings_push_is_signed_with_the_imsi() {
        let s = CpSettings {
            brew_url: "http://brew.example.net/".into(),
            apn: "internet.example".into(),
            proxy: "10.0.0.1".into(),
            proxy_port: "9201".into(),
            ..CpSettings::default()
        };
        let pdu = cp_push(&s.document(), "310150123456789").unwrap();
        let push = PushPdu::decode(&pdu).unwrap();
        let Some(Parameter::Mac(mac)) = push.content_type.params.get(1) else {
            panic!("no MAC");
        };
        assert!(verify_mac(
            &Credentials::NetwPin {
                imsi: "310150123456789"
            },
            &push.body,
            mac
        ));
        let text = describe(&test_row(1, "x", pdu));
        assert!(text.contains("http://brew.example.net/"), "{text}");
        assert!(text.contains("internet.example"), "{text}");
    }

    #[test]
    fn bootstrap_names_the_dm_server_and_both_credentials() {
        let pdu = cp_push(
            &dm_bootstrap_document(&account(), "https://dm.example.net/omadm"),
            "310150123456789",
        )
        .unwrap();
        let text = describe(&test_row(1, "x", pdu));
        for needle in [
            "w7",
            "https://dm.example.net/omadm",
            "APPSRV",
            "CLIENT",
            "(hidden)",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(!text.contains("clipw") && !text.contains("srvpw"), "{text}");
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// libwbxml's decoding of `bytes`, an independent check of the encoding.
    fn wbxml2xml(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.wbxml"), dir.path().join("out.xml"));
        std::fs::write(&input, bytes).unwrap();
        let run = std::process::Command::new("/usr/bin/wbxml2xml")
            .arg("-o")
            .arg(&output)
            .arg(&input)
            .output()
            .expect("wbxml2xml (Debian package libwbxml2-utils) runs");
        assert!(run.status.success(), "{run:?}");
        let xml = std::fs::read_to_string(&output).unwrap();
        assert!(!xml.contains("unknown"), "{xml}");
        xml
    }

    fn settings(proxy_port: &str) -> CpSettings {
        CpSettings {
            proxy: "10.0.0.1".into(),
            proxy_port: proxy_port.into(),
            homepage: "http://wap.example.net/".into(),
            ..CpSettings::default()
        }
    }

    #[test]
    fn the_start_page_resource_has_a_startpage_parm_without_value() {
        let bytes = wbxml::encode(&settings("9201").document(), &PROV_10).unwrap();
        // PARM with attributes (0x87), name="STARTPAGE" (0x1C), END: ProvCont
        // gives this parm no VALUE, where an empty one (06) was written.
        assert!(contains(&bytes, &[0x87, 0x1C, 0x01]), "{bytes:02X?}");
        assert!(!contains(&bytes, &[0x87, 0x1C, 0x06, 0x01]), "{bytes:02X?}");
        let xml = wbxml2xml(&bytes);
        assert!(xml.contains("<parm name=\"STARTPAGE\"/>"), "{xml}");
        // The proxy's STARTPAGE keeps its URL.
        assert!(
            xml.contains("<parm name=\"STARTPAGE\" value=\"http://wap.example.net/\"/>"),
            "{xml}"
        );
    }

    #[test]
    fn a_port_names_its_wsp_service_and_an_http_proxy_port_none() {
        for (port, service) in [
            ("9200", Some("CL-WSP")),
            ("9201", Some("CO-WSP")),
            ("9202", Some("CL-SEC-WSP")),
            ("9203", Some("CO-SEC-WSP")),
            ("8080", None),
            ("80", None),
        ] {
            let bytes = wbxml::encode(&settings(port).document(), &PROV_10).unwrap();
            let xml = wbxml2xml(&bytes);
            assert!(
                xml.contains(&format!("<parm name=\"PORTNBR\" value=\"{port}\"/>")),
                "{xml}"
            );
            match service {
                Some(s) => assert!(
                    xml.contains(&format!("<parm name=\"SERVICE\" value=\"{s}\"/>")),
                    "{port}: {xml}"
                ),
                None => assert!(!xml.contains("SERVICE"), "{port}: {xml}"),
            }
        }
    }

    #[test]
    fn the_masked_bootstrap_hides_the_secrets_and_the_mac_at_the_same_length() {
        let pdu = cp_push(
            &dm_bootstrap_document(&account(), "https://dm.example.net/omadm"),
            "310150123456789",
        )
        .unwrap();
        let masked = masked_push(&pdu).unwrap();
        assert_eq!(masked.len(), pdu.len(), "the log's part count holds");
        assert!(!contains(&masked, b"srvpw") && !contains(&masked, b"clipw"));
        let push = PushPdu::decode(&masked).unwrap();
        assert_eq!(
            push.content_type.params.get(1),
            Some(&Parameter::Mac("*".repeat(40)))
        );
        let xml = wbxml2xml(&push.body);
        assert!(
            xml.contains("<parm name=\"AAUTHSECRET\" value=\"*****\"/>"),
            "{xml}"
        );
        assert!(xml.contains("https://dm.example.net/omadm"), "{xml}");
        // The log shows it as it showed the original.
        let mut original = test_row(1, "x", pdu);
        let shown = describe(&original);
        original.payload_view = Some(masked);
        original.payload = b"sealed:v1:AAAA".to_vec();
        let text = describe(&original);
        assert!(
            text.contains("(hidden)") && text.contains("APPSRV"),
            "{text}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| !l.contains("Mac") && !l.contains("TID"))
                .collect::<Vec<_>>(),
            shown
                .lines()
                .filter(|l| !l.contains("Mac") && !l.contains("TID"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_link_of_an_si_or_sl_is_read_back() {
        let si = service_indication("http://h/iota/callback/ab12", "Tap").unwrap();
        assert_eq!(
            pushed_link(&si).as_deref(),
            Some("http://h/iota/callback/ab12")
        );
        let sl = service_loading("http://h/iota/callback/cd34").unwrap();
        assert_eq!(
            pushed_link(&sl).as_deref(),
            Some("http://h/iota/callback/cd34")
        );
        assert_eq!(pushed_link(b"Welcome"), None);
    }

    #[test]
    fn si_and_sl_decode_back() {
        let si = service_indication("http://x.example/act", "Activate now").unwrap();
        let text = describe(&test_row(1, "x", si));
        assert!(text.contains("http://x.example/act"), "{text}");
        assert!(text.contains("Activate now"), "{text}");
        let sl = service_loading("http://x.example/prl").unwrap();
        assert!(describe(&test_row(1, "x", sl)).contains("http://x.example/prl"));
    }
}
