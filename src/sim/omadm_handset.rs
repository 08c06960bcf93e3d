//! A simulated OMA-DM 1.2 handset with a DM tree (DevInfo, DevDetail, FUMO)
//! running the client-initiated FOTA flow: FOTA URL, redirect, DM session
//! with md5 authentication, make-model-version answers, the package offer,
//! the update prompt with the release notes and the 911 notice, a resumable
//! download with SHA-256 check, the install report, the "reboot" and the
//! final FUMO Generic Alert.

use std::collections::BTreeMap;

use reqwest::header;
use sha2::{Digest, Sha256};

use super::trace::Trace;
use super::SimError;
use crate::omadm::auth;
use crate::omadm::engine::{
    FUMO_ALERT_TYPE, FUMO_DOWNLOAD_ALERT_TYPE, FUMO_NODE, FUMO_UPDATE_ALERT_TYPE,
};
use crate::omadm::syncml::{
    Alert, Command, Cred, Encoding, Item, ItemData, Message, Meta, Results, Status, SyncBody,
    SyncHdr,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// The subscriber declines the update at the prompt.
    Cancel,
    /// The downloaded package does not match its SHA-256.
    Corrupt,
    /// The connection drops halfway through the download (then resumes).
    Drop,
}

impl Fail {
    pub fn parse(s: &str) -> Option<Fail> {
        match s {
            "cancel" => Some(Fail::Cancel),
            "corrupt" => Some(Fail::Corrupt),
            "drop" => Some(Fail::Drop),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Handset {
    /// Base URL of the server, e.g. http://127.0.0.1:8080
    pub server: String,
    pub fota_path: String,
    /// DevId, e.g. "MEID:A1000012345678" or "ESN:9F100001".
    pub dev_id: String,
    pub username: String,
    pub password: String,
    pub man: String,
    pub model: String,
    pub firmware: String,
    pub encoding: Encoding,
    pub fail: Option<Fail>,
    /// Act as the WAP gateway and insert the device-id header.
    pub gateway_header: Option<String>,
    /// When set, the duration of every HTTP request is recorded here (load runs).
    pub timings: Option<Timings>,
    /// The server's credentials as provisioned on the handset, to check the
    /// digest of a notification (package #0); `None` skips the check.
    pub server_password: Option<String>,
    pub server_nonce: Vec<u8>,
    /// The ServerID those credentials belong to; with it, the handset also
    /// checks the credentials the server sends in its replies.
    pub server_id: Option<String>,
    /// The nonce the server last told this handset to use (NextNonce of
    /// its Chal), kept across sessions as a real DM client keeps it; empty
    /// until the first challenge. Shared by clones of the handset.
    pub client_nonce: ClientNonce,
}

/// The handset's stored client nonce.
pub type ClientNonce = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

pub type Timings = std::sync::Arc<std::sync::Mutex<Vec<std::time::Duration>>>;

/// Sends a request, recording how long it took when timings are wanted.
async fn timed(
    timings: &Option<Timings>,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    let started = std::time::Instant::now();
    let resp = req.send().await;
    if let Some(t) = timings {
        if let Ok(mut v) = t.lock() {
            v.push(started.elapsed());
        }
    }
    resp
}

/// What the run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FotaOutcome {
    Updated { from: String, to: String },
    NoUpdate,
    Cancelled,
    Failed(String),
}

impl std::fmt::Display for FotaOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FotaOutcome::Updated { from, to } => {
                write!(f, "updated from {from} to {to}; final status reported")
            }
            FotaOutcome::NoUpdate => write!(f, "no update available"),
            FotaOutcome::Cancelled => write!(f, "update declined by the user; reported"),
            FotaOutcome::Failed(why) => write!(f, "update failed: {why}"),
        }
    }
}

/// A FUMO package offer: where the descriptor is, the Exec correlator, and
/// whether the server wants Download then Update (separate nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    url: String,
    correlator: String,
    split: bool,
}

/// What a notified session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedOutcome {
    /// The SessionID the handset used, as told by the notification.
    pub session_id: String,
    pub server_id: String,
    /// The firmware update the session started, if it offered one.
    pub fota: Option<FotaOutcome>,
}

/// The downloaded descriptor's fields the handset uses.
#[derive(Debug, Default, Clone)]
pub struct Dd {
    pub object_uri: String,
    pub notify_uri: String,
    pub size: u64,
    pub description: String,
    pub name: String,
    pub install_param: String,
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map(|(v, _)| {
            v.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .unwrap_or_default()
}

pub fn parse_dd(xml: &str) -> Dd {
    Dd {
        object_uri: tag(xml, "objectURI"),
        notify_uri: tag(xml, "installNotifyURI"),
        size: tag(xml, "size").trim().parse().unwrap_or(0),
        description: tag(xml, "description"),
        name: tag(xml, "name"),
        install_param: tag(xml, "installParam"),
    }
}

struct Session<'a> {
    h: &'a Handset,
    http: &'a reqwest::Client,
    trace: &'a Trace,
    session_id: String,
    msg_id: u32,
    url: String,
    nonce: Vec<u8>,
    authenticated: bool,
    cmd_id: u32,
}

impl Handset {
    fn tree(&self) -> BTreeMap<&'static str, String> {
        let mut t = BTreeMap::new();
        t.insert("./DevInfo/DevId", self.dev_id.clone());
        t.insert("./DevInfo/Man", self.man.clone());
        t.insert("./DevInfo/Mod", self.model.clone());
        t.insert("./DevInfo/DmV", "1.2".into());
        t.insert("./DevInfo/Lang", "en-US".into());
        t.insert("./DevDetail/FwV", self.firmware.clone());
        t
    }

    /// Runs the whole client-initiated FOTA flow.
    pub async fn run_fota(&mut self, trace: &Trace) -> Result<FotaOutcome, SimError> {
        let http = Self::http_client()?;
        self.run_fota_with(&http, trace).await
    }

    /// The HTTP client a handset uses: it follows no redirect by itself,
    /// since the FOTA URL's redirect is a step of the flow.
    pub fn http_client() -> Result<reqwest::Client, SimError> {
        Ok(reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Shorter than the server's keep-alive (actix's default, 5 s):
            // reusing a connection just as the server closes it for being
            // idle loses the request, and a status POST is not retried.
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .build()?)
    }

    /// [`Handset::run_fota`] over a client the caller keeps, as a WAP
    /// gateway keeps its connections to the server open across the
    /// handsets it serves (the load generator plays such a gateway).
    pub async fn run_fota_with(
        &mut self,
        http: &reqwest::Client,
        trace: &Trace,
    ) -> Result<FotaOutcome, SimError> {
        // 1-5: the FOTA URL answers with a redirect to the pending session.
        let mut req = http.get(format!("{}{}", self.server, self.fota_path));
        match &self.gateway_header {
            Some(h) => req = req.header(h.as_str(), self.dev_id.as_str()),
            None => req = req.query(&[("devid", self.dev_id.as_str())]),
        }
        let resp = timed(&self.timings, req).await?;
        if resp.status().as_u16() != 302 {
            let status = resp.status().as_u16();
            return Err(SimError::Server {
                status,
                body: resp.text().await.unwrap_or_default(),
            });
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| SimError::Protocol("redirect without a Location".into()))?
            .to_string();
        trace.record(
            "response",
            "fota-redirect",
            "text/plain",
            location.as_bytes(),
        )?;

        // 6-8: the DM session: package 1, the MMV query, the package offer.
        let offer = self.dm_session(http, trace, location, 1201, None).await?;
        let Some(offer) = offer else {
            return Ok(FotaOutcome::NoUpdate);
        };
        self.apply_offer(http, trace, &offer).await
    }

    /// Acts on a notification (package #0) as a handset does: checks its
    /// digest, calls the server back with Alert 1200 and the session id it
    /// was given, answers the commands, and carries out a firmware update
    /// if the session offers one.
    pub async fn run_notified(
        &mut self,
        package0: &[u8],
        trace: &Trace,
    ) -> Result<NotifiedOutcome, SimError> {
        let pkg = crate::messaging::codec::notification::decode(package0)
            .map_err(|e| SimError::Protocol(format!("notification does not decode: {e}")))?;
        let n = &pkg.notification;
        if let Some(pw) = &self.server_password {
            if !crate::messaging::codec::notification::verify_digest(
                package0,
                &n.server_id,
                pw,
                &self.server_nonce,
            ) {
                return Err(SimError::Protocol(
                    "the notification's digest does not verify; a handset ignores it".into(),
                ));
            }
        }
        trace.record(
            "request",
            "notification",
            "application/vnd.syncml.notification",
            package0,
        )?;
        if self.server_password.is_some() && self.server_id.is_none() {
            self.server_id = Some(n.server_id.clone());
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let session_id = format!("{:X}", n.session_id);
        let url = format!("{}/omadm", self.server);
        let offer = self
            .dm_session(&http, trace, url, 1200, Some(session_id.clone()))
            .await?;
        let fota = match offer {
            None => None,
            Some(offer) => Some(self.apply_offer(&http, trace, &offer).await?),
        };
        Ok(NotifiedOutcome {
            session_id,
            server_id: n.server_id.clone(),
            fota,
        })
    }

    /// One DM session from package 1 to the end; returns the FUMO offer
    /// (package URL, correlator) if the server made one.
    async fn dm_session(
        &self,
        http: &reqwest::Client,
        trace: &Trace,
        url: String,
        first_alert: u16,
        session_id: Option<String>,
    ) -> Result<Option<Offer>, SimError> {
        let mut s = Session::new(self, http, trace, url);
        if let Some(id) = session_id {
            s.session_id = id;
        }
        let mut commands = vec![
            self.alert(&mut s.cmd_id, first_alert),
            self.devinfo_replace(&mut s.cmd_id),
        ];
        let mut offer: Option<Offer> = None;
        let mut split = false;
        loop {
            let reply = s.exchange(std::mem::take(&mut commands)).await?;
            let mut pkg_url = None;
            let mut exec = None;
            for cmd in &reply.body.commands {
                match cmd {
                    Command::Get(g) => {
                        commands.push(s.status_for(&reply, g.cmd_id, "Get", 200));
                        s.cmd_id += 1;
                        let tree = self.tree();
                        let items = g
                            .items
                            .iter()
                            .filter_map(|i| i.target.clone())
                            .map(|uri| Item {
                                source: Some(uri.clone()),
                                target: None,
                                meta: None,
                                data: tree.get(uri.as_str()).map(|v| ItemData::Text(v.clone())),
                            })
                            .collect();
                        commands.push(Command::Results(Results {
                            cmd_id: s.cmd_id,
                            msg_ref: reply.hdr.msg_id,
                            cmd_ref: g.cmd_id,
                            items,
                        }));
                    }
                    Command::Replace(r) => {
                        for it in &r.items {
                            let target = it.target.as_deref().unwrap_or("");
                            let node = target
                                .strip_prefix(FUMO_NODE)
                                .and_then(|t| t.strip_suffix("/PkgURL"));
                            if matches!(node, Some("/DownloadAndUpdate") | Some("/Download")) {
                                split = node == Some("/Download");
                                pkg_url = it.data.as_ref().and_then(|d| match d {
                                    ItemData::Text(t) => Some(t.clone()),
                                    ItemData::Binary(b) => String::from_utf8(b.clone()).ok(),
                                });
                            }
                        }
                        commands.push(s.status_for(&reply, r.cmd_id, "Replace", 200));
                    }
                    Command::Exec(e) => {
                        // 202: accepted for processing; the result comes later as a Generic Alert.
                        exec = e.correlator.clone();
                        commands.push(s.status_for(&reply, e.cmd_id, "Exec", 202));
                    }
                    Command::Status(_) => {}
                    other => {
                        let (name, id) = command_ref(other);
                        commands.push(s.status_for(&reply, id, name, 406));
                    }
                }
            }
            if let (Some(url), Some(correlator)) = (pkg_url, exec) {
                offer = Some(Offer {
                    url,
                    correlator,
                    split,
                });
            }
            let only_statuses = commands.iter().all(|c| matches!(c, Command::Status(_)));
            if reply.body.final_ && (commands.is_empty() || only_statuses) {
                if !commands.is_empty() {
                    // Acknowledge the last commands; the server ends the session.
                    s.exchange(std::mem::take(&mut commands)).await?;
                }
                break;
            }
            if !reply.body.final_ && commands.iter().all(|c| matches!(c, Command::Status(_))) {
                commands.push(self.alert(&mut s.cmd_id, 1222));
            }
        }
        Ok(offer)
    }

    /// The update prompt, download, install report, "reboot" and final report.
    async fn apply_offer(
        &mut self,
        http: &reqwest::Client,
        trace: &Trace,
        offer: &Offer,
    ) -> Result<FotaOutcome, SimError> {
        let (pkg_url, correlator) = (offer.url.as_str(), offer.correlator.clone());
        // With separate nodes the Download reports first, then the Update.
        let (first, last) = if offer.split {
            ("Download", "Update")
        } else {
            ("DownloadAndUpdate", "DownloadAndUpdate")
        };

        // The descriptor, the prompt, the download.
        let dd_xml = self.fetch_text(http, trace, pkg_url, "descriptor").await?;
        let dd = parse_dd(&dd_xml);
        // The update prompt (claim 5); load runs, which time requests, stay quiet.
        if self.timings.is_none() {
            println!("Update available: {}", dd.name);
            println!("Release notes: {}", dd.description);
            println!("Emergency calls (911) cannot be made while the phone installs the update and restarts.");
        }
        if self.fail == Some(Fail::Cancel) {
            println!("The user declined the update.");
            self.report(http, trace, 401, &correlator, first).await?;
            return Ok(FotaOutcome::Cancelled);
        }
        let (mut bytes, etag) = self.download(http, trace, &dd).await?;
        if self.fail == Some(Fail::Corrupt) {
            if let Some(b) = bytes.get_mut(0) {
                *b ^= 0xFF;
            }
        }
        let sha = hex::encode(Sha256::digest(&bytes));
        if etag.trim_matches('"') != sha || bytes.len() as u64 != dd.size {
            self.notify(http, trace, &dd, "953 Non-Acceptable Content")
                .await?;
            self.report(http, trace, 402, &correlator, first).await?;
            return Ok(FotaOutcome::Failed(
                "corrupted package: SHA-256 mismatch".into(),
            ));
        }
        self.notify(http, trace, &dd, "900 Success").await?;
        if offer.split {
            let update = self
                .report(http, trace, 200, &correlator, "Download")
                .await?;
            if !update {
                return Err(SimError::Protocol(
                    "the server did not Exec the Update after the download".into(),
                ));
            }
        }
        // 11: install, "reboot", then report the final status in a new session.
        let from = self.firmware.clone();
        if let Some(v) = dd.install_param.strip_prefix("version=") {
            self.firmware = v.to_string();
        }
        self.report(http, trace, 200, &correlator, last).await?;
        Ok(FotaOutcome::Updated {
            from,
            to: self.firmware.clone(),
        })
    }

    fn alert(&self, cmd_id: &mut u32, code: u16) -> Command {
        *cmd_id += 1;
        Command::Alert(Alert {
            cmd_id: *cmd_id,
            data: code,
            correlator: None,
            items: Vec::new(),
        })
    }

    fn devinfo_replace(&self, cmd_id: &mut u32) -> Command {
        *cmd_id += 1;
        let items = self
            .tree()
            .into_iter()
            .filter(|(k, _)| k.starts_with("./DevInfo/"))
            .map(|(k, v)| Item {
                source: Some(k.to_string()),
                target: None,
                meta: None,
                data: Some(ItemData::Text(v)),
            })
            .collect();
        Command::Replace(crate::omadm::syncml::ItemCmd {
            cmd_id: *cmd_id,
            correlator: None,
            meta: None,
            items,
        })
    }

    async fn fetch_text(
        &self,
        http: &reqwest::Client,
        trace: &Trace,
        url: &str,
        what: &str,
    ) -> Result<String, SimError> {
        let resp = timed(&self.timings, http.get(url)).await?;
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.text().await?;
        trace.record("response", what, &ct, body.as_bytes())?;
        if status != 200 {
            return Err(SimError::Server { status, body });
        }
        Ok(body)
    }

    /// Downloads the package; with `Fail::Drop` the first attempt stops
    /// halfway and the rest is fetched with Range + If-Range.
    async fn download(
        &self,
        http: &reqwest::Client,
        trace: &Trace,
        dd: &Dd,
    ) -> Result<(Vec<u8>, String), SimError> {
        let mut resp = timed(&self.timings, http.get(&dd.object_uri)).await?;
        if resp.status().as_u16() != 200 {
            let status = resp.status().as_u16();
            return Err(SimError::Server {
                status,
                body: resp.text().await.unwrap_or_default(),
            });
        }
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut bytes = Vec::new();
        if self.fail == Some(Fail::Drop) {
            let half = (dd.size / 2) as usize;
            while bytes.len() < half {
                match resp.chunk().await? {
                    Some(c) => bytes.extend_from_slice(&c),
                    None => break,
                }
            }
            bytes.truncate(half);
            drop(resp); // the connection is lost here
            trace.record(
                "response",
                "package-partial",
                "application/octet-stream",
                &bytes,
            )?;
            let rest = http
                .get(&dd.object_uri)
                .header(header::RANGE, format!("bytes={}-", bytes.len()))
                .header(header::IF_RANGE, etag.as_str())
                .send()
                .await?;
            if rest.status().as_u16() != 206 {
                return Err(SimError::Protocol(format!(
                    "resume answered {}",
                    rest.status().as_u16()
                )));
            }
            let tail = rest.bytes().await?;
            trace.record(
                "response",
                "package-resumed",
                "application/octet-stream",
                &tail,
            )?;
            bytes.extend_from_slice(&tail);
        } else {
            while let Some(c) = resp.chunk().await? {
                bytes.extend_from_slice(&c);
            }
            trace.record("response", "package", "application/octet-stream", &bytes)?;
        }
        Ok((bytes, etag))
    }

    async fn notify(
        &self,
        http: &reqwest::Client,
        trace: &Trace,
        dd: &Dd,
        status_line: &str,
    ) -> Result<(), SimError> {
        trace.record(
            "request",
            "install-notify",
            "text/plain",
            status_line.as_bytes(),
        )?;
        let resp = timed(
            &self.timings,
            http.post(&dd.notify_uri).body(status_line.to_string()),
        )
        .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        trace.record("response", "install-notify", "text/plain", body.as_bytes())?;
        if status != 200 {
            return Err(SimError::Server { status, body });
        }
        Ok(())
    }

    /// A new DM session carrying the FUMO Generic Alert with the result code.
    async fn report(
        &self,
        http: &reqwest::Client,
        trace: &Trace,
        code: u16,
        correlator: &str,
        node: &str,
    ) -> Result<bool, SimError> {
        let mut s = Session::new(self, http, trace, format!("{}/omadm", self.server));
        s.cmd_id += 1;
        let alert_type = match node {
            "Download" => FUMO_DOWNLOAD_ALERT_TYPE,
            "Update" => FUMO_UPDATE_ALERT_TYPE,
            _ => FUMO_ALERT_TYPE,
        };
        let alert = Command::Alert(Alert {
            cmd_id: s.cmd_id,
            data: 1226,
            correlator: Some(correlator.to_string()),
            items: vec![Item {
                source: Some(format!("{FUMO_NODE}/{node}")),
                target: None,
                meta: Some(Meta {
                    format: Some("int".into()),
                    r#type: Some(alert_type.into()),
                    size: None,
                    mark: Some("critical".into()),
                }),
                data: Some(ItemData::Text(code.to_string())),
            }],
        });
        let reply = s.exchange(vec![alert]).await?;
        let accepted = reply
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Status(st) if st.cmd == "Alert" && st.data == 200));
        if !accepted {
            return Err(SimError::Protocol(
                "the server did not accept the Generic Alert".into(),
            ));
        }
        // After a Download report the server asks for the Update here.
        let mut update = false;
        let mut acks = Vec::new();
        for c in &reply.body.commands {
            match c {
                Command::Exec(e)
                    if e.items
                        .iter()
                        .any(|i| i.target.as_deref() == Some(&format!("{FUMO_NODE}/Update"))) =>
                {
                    update = true;
                    acks.push(s.status_for(&reply, e.cmd_id, "Exec", 202));
                }
                Command::Status(_) => {}
                other => {
                    let (name, id) = command_ref(other);
                    acks.push(s.status_for(&reply, id, name, 406));
                }
            }
        }
        if !acks.is_empty() {
            s.exchange(acks).await?;
        }
        Ok(update)
    }
}

fn command_ref(cmd: &Command) -> (&'static str, u32) {
    match cmd {
        Command::Add(c) => ("Add", c.cmd_id),
        Command::Delete(c) => ("Delete", c.cmd_id),
        Command::Copy(c) => ("Copy", c.cmd_id),
        Command::Sequence(c) => ("Sequence", c.cmd_id),
        Command::Atomic(c) => ("Atomic", c.cmd_id),
        Command::Alert(a) => ("Alert", a.cmd_id),
        Command::Results(r) => ("Results", r.cmd_id),
        _ => ("Unknown", 0),
    }
}

impl<'a> Session<'a> {
    fn new(
        h: &'a Handset,
        http: &'a reqwest::Client,
        trace: &'a Trace,
        url: String,
    ) -> Session<'a> {
        use rand::Rng;
        Session {
            h,
            http,
            trace,
            session_id: format!("{:X}", rand::thread_rng().gen_range(1..=0xFFFFu32)),
            msg_id: 0,
            url,
            nonce: h.client_nonce.lock().map(|n| n.clone()).unwrap_or_default(),
            authenticated: false,
            cmd_id: 0,
        }
    }

    fn status_for(&mut self, reply: &Message, cmd_ref: u32, cmd: &str, data: u16) -> Command {
        self.cmd_id += 1;
        Command::Status(Status {
            cmd_id: self.cmd_id,
            msg_ref: reply.hdr.msg_id,
            cmd_ref,
            cmd: cmd.into(),
            target_ref: None,
            source_ref: None,
            chal: None,
            data,
            items: Vec::new(),
        })
    }

    /// Sends one message (adding the header status and credentials) and
    /// returns the server's answer; repeats once when challenged.
    async fn exchange(&mut self, commands: Vec<Command>) -> Result<Message, SimError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.msg_id += 1;
            let cred = (!self.authenticated).then(|| Cred {
                format: Some("b64".into()),
                auth_type: "syncml:auth-md5".into(),
                data: auth::md5_digest(&self.h.username, &self.h.password, &self.nonce).to_vec(),
            });
            let msg = Message {
                hdr: SyncHdr {
                    ver_dtd: "1.2".into(),
                    ver_proto: "DM/1.2".into(),
                    session_id: self.session_id.clone(),
                    msg_id: self.msg_id,
                    target: format!("{}/omadm", self.h.server),
                    source: self.h.dev_id.clone(),
                    source_name: None,
                    resp_uri: None,
                    cred,
                    max_msg_size: Some(16 * 1024),
                    max_obj_size: None,
                },
                body: SyncBody {
                    commands: commands.clone(),
                    final_: true,
                },
            };
            let bytes = msg.encode(self.h.encoding)?;
            let ct = self.h.encoding.content_type();
            self.trace.record(
                "request",
                &format!("dm-session-{}-msg-{}", self.session_id, self.msg_id),
                ct,
                &bytes,
            )?;
            let resp = timed(
                &self.h.timings,
                self.http
                    .post(&self.url)
                    .header(header::CONTENT_TYPE, ct)
                    .body(bytes),
            )
            .await?;
            let status = resp.status().as_u16();
            let rct = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = resp.bytes().await?;
            self.trace.record(
                "response",
                &format!("dm-session-{}-msg-{}", self.session_id, self.msg_id),
                &rct,
                &body,
            )?;
            if status != 200 {
                return Err(SimError::Server {
                    status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
            }
            let reply = Message::decode(&body, self.h.encoding)?;
            if let Some(u) = &reply.hdr.resp_uri {
                self.url = u.clone();
            }
            let hdr = reply.body.commands.iter().find_map(|c| match c {
                Command::Status(s) if s.cmd_ref == 0 => Some(s.clone()),
                _ => None,
            });
            let Some(hdr) = hdr else {
                return Err(SimError::Protocol("no status for the SyncHdr".into()));
            };
            if let Some(ch) = &hdr.chal {
                self.nonce = ch.next_nonce.clone();
                if let Ok(mut kept) = self.h.client_nonce.lock() {
                    kept.clone_from(&ch.next_nonce);
                }
            }
            if let (Some(cred), Some(id), Some(pw)) =
                (&reply.hdr.cred, &self.h.server_id, &self.h.server_password)
            {
                let expected = auth::md5_digest(id, pw, &self.h.server_nonce);
                if cred.data != expected {
                    return Err(SimError::Protocol(
                        "the server's credentials do not verify: not our DM server".into(),
                    ));
                }
            }
            if hdr.data == 212
                && self.h.server_id.is_some()
                && self.h.server_password.is_some()
                && reply.hdr.cred.is_none()
            {
                return Err(SimError::Protocol(
                    "the server accepted us but did not prove itself".into(),
                ));
            }
            match hdr.data {
                200 | 212 => {
                    self.authenticated = true;
                    return Ok(reply);
                }
                401 | 407 if attempt < 2 && hdr.chal.is_some() => continue,
                code => {
                    return Err(SimError::Protocol(format!(
                        "the server answered the SyncHdr with {code}"
                    )))
                }
            }
        }
    }
}
