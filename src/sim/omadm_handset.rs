//! A simulated OMA-DM 1.2 handset with a DM tree (DevInfo, DevDetail, FUMO,
//! LAWMO, Customization; see [`super::dm_tree`]) answering the server's
//! Get, Replace, Exec, Delete and Add as a real client does, and running
//! the client-initiated FOTA flow: FOTA URL, redirect, DM session
//! with md5 authentication, make-model-version answers, the package offer,
//! the update prompt with the release notes and the 911 notice, a resumable
//! download with SHA-256 check, the install report, the "reboot" and the
//! final FUMO Generic Alert.

use base64::Engine;
use reqwest::header;
use sha2::{Digest, Sha256};

use super::dm_tree::{self, DmTree, Format};
use super::trace::Trace;
use super::SimError;
use crate::omadm::auth;
use crate::omadm::engine::{
    FUMO_ALERT_TYPE, FUMO_DOWNLOAD_ALERT_TYPE, FUMO_NODE, FUMO_UPDATE_ALERT_TYPE,
};
use crate::omadm::syncml::{
    Alert, Command, Cred, Encoding, Item, ItemCmd, ItemData, Message, Meta, Results, Status,
    SyncBody, SyncHdr,
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

/// How the handset answers a Get of several Items that come to different
/// codes (when they all come to one, it answers one Status for the command,
/// naming no Item, either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GetStatuses {
    /// One Status per Item, naming it by its TargetRef.
    #[default]
    PerItem,
    /// One Status per code, naming every Item that came to it by a
    /// TargetRef of its own (SyncML RepPro 1.2, Status: `TargetRef*`): one
    /// 404 for all the nodes the handset lacks, one 200 for those it read.
    PerCode,
}

/// A handset that departs from the factory tree or from the default way of
/// answering (see [`Handset::run_notified_as`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variant {
    /// Nodes its client does not implement (see [`DmTree::lack`]): a Get
    /// of one answers 404, and package 1's DevInfo leaves it out.
    pub lacks: Vec<String>,
    pub get_statuses: GetStatuses,
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
    fn tree(&self) -> DmTree {
        DmTree::for_handset(&self.dev_id, &self.man, &self.model, &self.firmware)
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
                asked: format!("GET {}", resp.url()),
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
        let offer = self
            .dm_session(http, trace, location, 1201, None, &Variant::default())
            .await?;
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
        self.run_notified_as(package0, trace, &Variant::default())
            .await
    }

    /// [`Handset::run_notified`] as a handset of `variant`: one that lacks
    /// some nodes, or answers a Get of several Items one Status per code.
    pub async fn run_notified_as(
        &mut self,
        package0: &[u8],
        trace: &Trace,
        variant: &Variant,
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
            .dm_session(&http, trace, url, 1200, Some(session_id.clone()), variant)
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
        variant: &Variant,
    ) -> Result<Option<Offer>, SimError> {
        let mut s = Session::new(self, http, trace, url);
        if let Some(id) = session_id {
            s.session_id = id;
        }
        // One tree per session: what the server changes lasts until the
        // session ends, as the handset's firmware moves only on an update.
        let mut tree = self.tree();
        for node in &variant.lacks {
            tree.lack(node);
        }
        let mut commands = vec![
            self.alert(&mut s.cmd_id, first_alert),
            devinfo_replace(&tree, &mut s.cmd_id),
        ];
        let mut offer: Option<Offer> = None;
        loop {
            let reply = s.exchange(std::mem::take(&mut commands)).await?;
            let mut fumo = FumoAsk::default();
            for cmd in &reply.body.commands {
                commands.extend(answer(
                    &mut tree,
                    cmd,
                    reply.hdr.msg_id,
                    &mut s.cmd_id,
                    &mut fumo,
                    variant.get_statuses,
                ));
            }
            // The operation ends while the session is still open: its
            // report goes in the next message.
            for (node, correlator) in fumo.lawmo_accepted {
                commands.push(lawmo_report(&mut s.cmd_id, &node, correlator));
            }
            if let (Some(url), Some(correlator)) = (fumo.pkg_url, fumo.correlator) {
                offer = Some(Offer {
                    url,
                    correlator,
                    split: fumo.split,
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
            return Err(SimError::Server {
                status,
                asked: format!("GET {url} ({what})"),
                body,
            });
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
                asked: format!("GET {} (the package)", dd.object_uri),
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
            return Err(SimError::Server {
                status,
                asked: format!("POST {} (install status {status_line})", dd.notify_uri),
                body,
            });
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
                more_data: false,
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

/// What the server's FUMO commands in one message asked for: the package
/// URL it wrote and the correlator of the Exec that starts the update.
#[derive(Debug, Default, PartialEq, Eq)]
struct FumoAsk {
    pkg_url: Option<String>,
    split: bool,
    correlator: Option<String>,
    /// LAWMO operations accepted (202) to finish later: their node and
    /// the Exec's correlator, for the Generic Alert that reports the end.
    lawmo_accepted: Vec<(String, Option<String>)>,
}

/// The Generic Alert type a LAWMO client reports the end of an operation
/// with (OMA-TS-LAWMO-V1_0 section 5.3), and its success code.
const LAWMO_ALERT_TYPE: &str = "urn:oma:at:lawmo:1.0:OperationComplete";
const LAWMO_SUCCEEDED: u16 = 1200;

/// The Generic Alert (1226) telling the server how an accepted LAWMO
/// operation ended.
fn lawmo_report(cmd_id: &mut u32, node: &str, correlator: Option<String>) -> Command {
    *cmd_id += 1;
    Command::Alert(Alert {
        cmd_id: *cmd_id,
        data: 1226,
        correlator,
        items: vec![Item {
            source: Some(node.to_string()),
            target: None,
            meta: Some(Meta {
                format: Some("int".into()),
                r#type: Some(LAWMO_ALERT_TYPE.into()),
                size: None,
                mark: Some("critical".into()),
            }),
            data: Some(ItemData::Text(LAWMO_SUCCEEDED.to_string())),
            more_data: false,
        }],
    })
}

fn status(cmd_id: &mut u32, msg_ref: u32, cmd_ref: u32, cmd: &str, data: u16) -> Command {
    *cmd_id += 1;
    Command::Status(Status {
        cmd_id: *cmd_id,
        msg_ref,
        cmd_ref,
        cmd: cmd.into(),
        target_refs: Vec::new(),
        source_refs: Vec::new(),
        chal: None,
        data,
        items: Vec::new(),
    })
}

/// 400: a command item without a Target names no node to act on.
const BAD_REQUEST: u16 = 400;
/// 406: optional feature not supported.
const NOT_SUPPORTED: u16 = 406;

/// The handset's answer to one server command: its Status, and Results
/// for a Get (its Statuses as `get_statuses` says). FUMO package offers
/// are noted in `fumo` as well: the update they start runs after the
/// session, outside the tree.
fn answer(
    tree: &mut DmTree,
    cmd: &Command,
    msg_ref: u32,
    cmd_id: &mut u32,
    fumo: &mut FumoAsk,
    get_statuses: GetStatuses,
) -> Vec<Command> {
    match cmd {
        Command::Get(g) => {
            let mut codes = Vec::new();
            let mut items = Vec::new();
            for it in &g.items {
                let found = match it.target.as_deref() {
                    Some(path) => tree
                        .get(path)
                        .map(|(value, format)| result_item(path, value, format)),
                    None => Err(BAD_REQUEST),
                };
                match found {
                    Ok(item) => {
                        items.push(item);
                        codes.push((it.target.clone(), dm_tree::status::OK));
                    }
                    Err(c) => codes.push((it.target.clone(), c)),
                }
            }
            // One Status for the command when every Item came to the same
            // code; else one per Item or one per code, naming the Items it
            // applies to by TargetRef (SyncML RepPro 1.2, Status).
            let same = codes.windows(2).all(|w| w[0].1 == w[1].1);
            let groups: Vec<(u16, Vec<String>)> = if same {
                let code = codes.first().map_or(dm_tree::status::OK, |c| c.1);
                vec![(code, Vec::new())]
            } else {
                let mut groups: Vec<(u16, Vec<String>)> = Vec::new();
                for (target, code) in codes {
                    let refs: Vec<String> = target.into_iter().collect();
                    match groups.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, named)) if get_statuses == GetStatuses::PerCode => {
                            named.extend(refs);
                        }
                        _ => groups.push((code, refs)),
                    }
                }
                groups
            };
            let mut out: Vec<Command> = groups
                .into_iter()
                .map(|(code, refs)| {
                    let mut st = status(cmd_id, msg_ref, g.cmd_id, "Get", code);
                    if let Command::Status(s) = &mut st {
                        s.target_refs = refs;
                    }
                    st
                })
                .collect();
            if !items.is_empty() {
                *cmd_id += 1;
                out.push(Command::Results(Results {
                    cmd_id: *cmd_id,
                    msg_ref,
                    cmd_ref: g.cmd_id,
                    items,
                }));
            }
            out
        }
        Command::Replace(r) => {
            let code = each_item(r, dm_tree::status::OK, |target, it| {
                match fumo_pkg_url(target) {
                    Some(split) => {
                        // Always 200: the offer is checked later, when the
                        // handset fetches the descriptor it points to.
                        fumo.split = split;
                        fumo.pkg_url = it.data.as_ref().map(text_value);
                        let (value, _) = item_value(r, it);
                        tree.replace(target, &value, None);
                        dm_tree::status::OK
                    }
                    None => {
                        let (value, format) = item_value(r, it);
                        tree.replace(target, &value, format.as_deref())
                    }
                }
            });
            vec![status(cmd_id, msg_ref, r.cmd_id, "Replace", code)]
        }
        Command::Exec(e) => {
            // 202 for FUMO: accepted for processing, the result comes later
            // as a Generic Alert.
            let code = each_item(e, dm_tree::status::ACCEPTED, |target, _| {
                if is_fumo(target) {
                    fumo.correlator.clone_from(&e.correlator);
                    dm_tree::status::ACCEPTED
                } else {
                    let code = tree.exec(target);
                    if code == dm_tree::status::ACCEPTED {
                        fumo.lawmo_accepted
                            .push((target.to_string(), e.correlator.clone()));
                    }
                    code
                }
            });
            vec![status(cmd_id, msg_ref, e.cmd_id, "Exec", code)]
        }
        Command::Delete(d) => {
            let code = each_item(d, dm_tree::status::OK, |target, _| tree.delete(target));
            vec![status(cmd_id, msg_ref, d.cmd_id, "Delete", code)]
        }
        Command::Add(a) => {
            let code = each_item(a, dm_tree::status::OK, |target, it| {
                let (value, format) = item_value(a, it);
                tree.add(target, &value, format.as_deref())
            });
            vec![status(cmd_id, msg_ref, a.cmd_id, "Add", code)]
        }
        Command::Status(_) => Vec::new(),
        other => {
            let (name, id) = command_ref(other);
            vec![status(cmd_id, msg_ref, id, name, NOT_SUPPORTED)]
        }
    }
}

/// Applies `act` to every item of a command, as a client outside Atomic
/// does even after one fails, and gives the command's one Status code: the
/// first failure, else the first code other than `success` (a command is
/// answered 202 only when all its items were).
fn each_item(cmd: &ItemCmd, success: u16, mut act: impl FnMut(&str, &Item) -> u16) -> u16 {
    let mut code = success;
    for it in &cmd.items {
        let c = match it.target.as_deref() {
            Some(target) => act(target, it),
            None => BAD_REQUEST,
        };
        let failed_first = c >= 300 && code < 300;
        if failed_first || (code == success && c != success) {
            code = c;
        }
    }
    code
}

/// For a FUMO PkgURL node, whether it is Download's (the update then
/// waits for a separate Exec of Update).
fn fumo_pkg_url(target: &str) -> Option<bool> {
    let path = dm_tree::normalise(target);
    match path.strip_prefix(FUMO_NODE)?.strip_suffix("/PkgURL")? {
        "/DownloadAndUpdate" => Some(false),
        "/Download" => Some(true),
        _ => None,
    }
}

fn is_fumo(target: &str) -> bool {
    let path = dm_tree::normalise(target);
    path == FUMO_NODE || path.starts_with(&format!("{FUMO_NODE}/"))
}

fn text_value(data: &ItemData) -> String {
    match data {
        ItemData::Text(t) => t.clone(),
        ItemData::Binary(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// An item's value as the tree stores it, and the format the server
/// declared (on the item, else on the command). The codec hands b64 data
/// over decoded; the tree keeps it as its base64 text.
fn item_value(cmd: &ItemCmd, it: &Item) -> (String, Option<String>) {
    let format = it
        .meta
        .as_ref()
        .and_then(|m| m.format.clone())
        .or_else(|| cmd.meta.as_ref().and_then(|m| m.format.clone()));
    let value = match &it.data {
        None => String::new(),
        Some(ItemData::Binary(b)) if format.as_deref() == Some("b64") => {
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(d) => text_value(d),
    };
    (value, format)
}

fn result_item(path: &str, value: String, format: Format) -> Item {
    Item {
        source: Some(path.to_string()),
        target: None,
        meta: Some(Meta {
            format: Some(format.as_str().into()),
            ..Meta::default()
        }),
        data: Some(ItemData::Text(value)),
        more_data: false,
    }
}

/// The client's DevInfo, sent with package 1 (OMA-DM 1.2 requires it).
fn devinfo_replace(tree: &DmTree, cmd_id: &mut u32) -> Command {
    *cmd_id += 1;
    let names = tree.get("./DevInfo").map(|(v, _)| v).unwrap_or_default();
    let items = names
        .split('/')
        .filter(|n| !n.is_empty())
        .filter_map(|n| {
            let path = format!("./DevInfo/{n}");
            let (value, _) = tree.get(&path).ok()?;
            Some(Item {
                source: Some(path),
                target: None,
                meta: None,
                data: Some(ItemData::Text(value)),
                more_data: false,
            })
        })
        .collect();
    Command::Replace(ItemCmd {
        cmd_id: *cmd_id,
        correlator: None,
        meta: None,
        items,
    })
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
        status(&mut self.cmd_id, reply.hdr.msg_id, cmd_ref, cmd, data)
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
                    asked: format!("POST {} (DM message {})", self.url, self.msg_id),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> DmTree {
        DmTree::for_handset("MEID:A1000012345678", "Acme", "X1", "1.0.0")
    }

    fn item(target: &str, data: Option<&str>, format: Option<&str>) -> Item {
        Item {
            target: Some(target.into()),
            source: None,
            meta: format.map(|f| Meta {
                format: Some(f.into()),
                ..Meta::default()
            }),
            data: data.map(|d| ItemData::Text(d.into())),
            more_data: false,
        }
    }

    fn cmd(items: Vec<Item>) -> ItemCmd {
        ItemCmd {
            cmd_id: 7,
            correlator: None,
            meta: None,
            items,
        }
    }

    /// Answers one command in a fresh tree's session.
    fn run(tree: &mut DmTree, c: Command) -> (Vec<Command>, FumoAsk) {
        let mut fumo = FumoAsk::default();
        let mut cmd_id = 0;
        let out = answer(tree, &c, 3, &mut cmd_id, &mut fumo, GetStatuses::PerItem);
        (out, fumo)
    }

    fn code(out: &[Command]) -> u16 {
        match out.first() {
            Some(Command::Status(s)) => s.data,
            _ => 0,
        }
    }

    #[test]
    fn get_answers_status_and_results_with_formats() {
        let mut t = tree();
        let get = cmd(vec![
            item("./DevInfo/Man", None, None),
            item("./DevDetail/LrgObj", None, None),
            item("./DevInfo", None, None),
        ]);
        let (out, _) = run(&mut t, Command::Get(get));
        let Some(Command::Status(st)) = out.first() else {
            panic!("no status: {out:?}");
        };
        assert_eq!(
            (st.cmd_ref, st.msg_ref, st.cmd.as_str(), st.data),
            (7, 3, "Get", 200)
        );
        // Every Item found: one Status for the whole command names none.
        assert!(st.target_refs.is_empty() && out.len() == 2);
        let Some(Command::Results(r)) = out.get(1) else {
            panic!("no results: {out:?}");
        };
        assert_eq!(r.cmd_ref, 7);
        let got: Vec<_> = r
            .items
            .iter()
            .map(|i| {
                (
                    i.source.clone().unwrap(),
                    i.meta.clone().unwrap().format.unwrap(),
                    i.data.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "./DevInfo/Man".into(),
                    "chr".into(),
                    ItemData::Text("Acme".into())
                ),
                (
                    "./DevDetail/LrgObj".into(),
                    "bool".into(),
                    ItemData::Text("false".into())
                ),
                (
                    "./DevInfo".into(),
                    "node".into(),
                    ItemData::Text("DevId/DmV/Lang/Man/Mod".into())
                ),
            ]
        );
    }

    #[test]
    fn get_of_a_missing_node_answers_each_item_with_results_for_the_rest() {
        let mut t = tree();
        let get = cmd(vec![
            item("./DevInfo/Nope", None, None),
            item("./DevInfo/Mod", None, None),
            item("./DevInfo/Man", None, None),
        ]);
        let (out, _) = run(&mut t, Command::Get(get));
        // Codes differ: a Status per Item, each naming its node.
        let statuses: Vec<(Option<&str>, u16, u32)> = out
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) => Some((s.target_ref(), s.data, s.cmd_ref)),
                _ => None,
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (Some("./DevInfo/Nope"), 404, 7),
                (Some("./DevInfo/Mod"), 200, 7),
                (Some("./DevInfo/Man"), 200, 7)
            ]
        );
        let Some(Command::Results(r)) = out.get(3) else {
            panic!("no results: {out:?}");
        };
        assert_eq!(r.cmd_ref, 7);
        let read: Vec<_> = r.items.iter().map(|i| i.source.as_deref()).collect();
        assert_eq!(read, [Some("./DevInfo/Mod"), Some("./DevInfo/Man")]);
    }

    #[test]
    fn per_code_a_get_of_lacking_nodes_gets_one_status_naming_them_all() {
        let mut t = tree();
        assert!(t.lack("./DevInfo/DmV") && t.lack("./DevInfo/Lang"));
        let get = cmd([
            "./DevInfo/Man",
            "./DevInfo/Mod",
            "./DevInfo/DmV",
            "./DevInfo/Lang",
            "./DevDetail/FwV",
        ]
        .into_iter()
        .map(|p| item(p, None, None))
        .collect());
        let mut cmd_id = 0;
        let out = answer(
            &mut t,
            &Command::Get(get.clone()),
            3,
            &mut cmd_id,
            &mut FumoAsk::default(),
            GetStatuses::PerCode,
        );
        let statuses: Vec<(u16, Vec<&str>)> = out
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) => {
                    Some((s.data, s.target_refs.iter().map(String::as_str).collect()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (
                    200,
                    vec!["./DevInfo/Man", "./DevInfo/Mod", "./DevDetail/FwV"]
                ),
                (404, vec!["./DevInfo/DmV", "./DevInfo/Lang"]),
            ]
        );
        let Some(Command::Results(r)) = out.last() else {
            panic!("no results: {out:?}");
        };
        assert_eq!(r.items.len(), 3);
        // Every Item found: still one Status naming none, in either mode.
        let mut t = tree();
        let out = answer(
            &mut t,
            &Command::Get(get),
            3,
            &mut 0,
            &mut FumoAsk::default(),
            GetStatuses::PerCode,
        );
        assert!(
            matches!(out.first(), Some(Command::Status(s)) if s.target_refs.is_empty() && s.data == 200)
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn get_of_nothing_found_sends_no_results() {
        let mut t = tree();
        let (out, _) = run(&mut t, Command::Get(cmd(vec![item("./Nope", None, None)])));
        assert_eq!(code(&out), 404);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn fumo_pkg_url_replace_is_an_offer() {
        let mut t = tree();
        let url = format!("{FUMO_NODE}/Download/PkgURL");
        let (out, fumo) = run(
            &mut t,
            Command::Replace(cmd(vec![item(&url, Some("http://s/dd/1"), None)])),
        );
        assert_eq!(code(&out), 200);
        assert_eq!(fumo.pkg_url.as_deref(), Some("http://s/dd/1"));
        assert!(fumo.split);
        assert_eq!(t.get(&url).map(|(v, _)| v), Ok("http://s/dd/1".into()));
    }

    #[test]
    fn replace_goes_to_the_tree() {
        let mut t = tree();
        let ok = cmd(vec![item(
            "./Customization/DataRoaming",
            Some("true"),
            Some("bool"),
        )]);
        assert_eq!(code(&run(&mut t, Command::Replace(ok)).0), 200);
        assert_eq!(
            t.get("./Customization/DataRoaming").map(|(v, _)| v),
            Ok("true".into())
        );
        let denied = cmd(vec![item("./DevInfo/Man", Some("Other"), None)]);
        assert_eq!(code(&run(&mut t, Command::Replace(denied)).0), 405);
        let missing = cmd(vec![item("./Customization/Nope", Some("x"), None)]);
        assert_eq!(code(&run(&mut t, Command::Replace(missing)).0), 404);
        let bad = cmd(vec![item(
            "./Customization/DataRoaming",
            Some("maybe"),
            None,
        )]);
        assert_eq!(code(&run(&mut t, Command::Replace(bad)).0), 415);
    }

    #[test]
    fn replace_with_b64_data_is_stored_as_base64() {
        let mut t = tree();
        let add = cmd(vec![item(
            "./Customization/Logo",
            Some("aGk="),
            Some("b64"),
        )]);
        assert_eq!(code(&run(&mut t, Command::Add(add)).0), 200);
        let mut it = item("./Customization/Logo", None, Some("b64"));
        it.data = Some(ItemData::Binary(b"hello".to_vec()));
        assert_eq!(code(&run(&mut t, Command::Replace(cmd(vec![it]))).0), 200);
        assert_eq!(
            t.get("./Customization/Logo"),
            Ok(("aGVsbG8=".into(), Format::B64))
        );
    }

    #[test]
    fn fumo_exec_is_accepted_with_its_correlator() {
        let mut t = tree();
        let mut exec = cmd(vec![item(
            &format!("{FUMO_NODE}/DownloadAndUpdate"),
            None,
            None,
        )]);
        exec.correlator = Some("corr-1".into());
        let (out, fumo) = run(&mut t, Command::Exec(exec));
        assert_eq!(code(&out), 202);
        assert_eq!(fumo.correlator.as_deref(), Some("corr-1"));
    }

    #[test]
    fn lawmo_exec_goes_to_the_tree() {
        let mut t = tree();
        let lock = cmd(vec![item("./LAWMO/Operations/FullyLock", None, None)]);
        let (out, fumo) = run(&mut t, Command::Exec(lock));
        assert_eq!(code(&out), 200);
        assert_eq!(fumo, FumoAsk::default());
        assert_eq!(t.get("./LAWMO/State").map(|(v, _)| v), Ok("10".into()));
        let denied = cmd(vec![item("./DevInfo/Man", None, None)]);
        assert_eq!(code(&run(&mut t, Command::Exec(denied)).0), 405);
        let missing = cmd(vec![item("./LAWMO/Operations/Nope", None, None)]);
        assert_eq!(code(&run(&mut t, Command::Exec(missing)).0), 404);
    }

    #[test]
    fn delete_and_add_go_to_the_tree() {
        let mut t = tree();
        let add = cmd(vec![item("./Customization/Apn", Some("internet"), None)]);
        let (out, _) = run(&mut t, Command::Add(add.clone()));
        assert!(matches!(out.first(), Some(Command::Status(s)) if s.cmd == "Add" && s.data == 200));
        // 418: already exists.
        assert_eq!(code(&run(&mut t, Command::Add(add)).0), 418);
        let elsewhere = cmd(vec![item("./DevInfo/Color", Some("red"), None)]);
        assert_eq!(code(&run(&mut t, Command::Add(elsewhere)).0), 405);
        let del = cmd(vec![item("./Customization/Apn", None, None)]);
        let (out, _) = run(&mut t, Command::Delete(del.clone()));
        assert!(
            matches!(out.first(), Some(Command::Status(s)) if s.cmd == "Delete" && s.data == 200)
        );
        assert_eq!(code(&run(&mut t, Command::Delete(del)).0), 404);
        let denied = cmd(vec![item("./DevInfo/Man", None, None)]);
        assert_eq!(code(&run(&mut t, Command::Delete(denied)).0), 405);
    }

    #[test]
    fn a_command_answers_with_its_first_failing_item() {
        let mut t = tree();
        let replace = cmd(vec![
            item("./Customization/MmsProxy", Some("10.0.0.1:80"), None),
            item("./DevInfo/Man", Some("Other"), None),
        ]);
        assert_eq!(code(&run(&mut t, Command::Replace(replace)).0), 405);
        // The items after a failure are still applied.
        let replace = cmd(vec![
            item("./DevInfo/Man", Some("Other"), None),
            item("./Customization/Nope", Some("x"), None),
            item("./Customization/MmsProxy", Some("10.0.0.2:80"), None),
        ]);
        assert_eq!(code(&run(&mut t, Command::Replace(replace)).0), 405);
        assert_eq!(
            t.get("./Customization/MmsProxy").map(|(v, _)| v),
            Ok("10.0.0.2:80".into())
        );
        let no_target = cmd(vec![Item::default()]);
        assert_eq!(code(&run(&mut t, Command::Delete(no_target)).0), 400);
    }

    #[test]
    fn other_commands_are_not_supported() {
        let mut t = tree();
        let copy = Command::Copy(cmd(vec![item("./DevInfo/Man", None, None)]));
        let (out, _) = run(&mut t, copy);
        assert!(
            matches!(out.first(), Some(Command::Status(s)) if s.cmd == "Copy" && s.data == 406)
        );
        // The server's Statuses need no answer.
        let server_status = status(&mut 0, 1, 1, "Replace", 200);
        assert!(run(&mut t, server_status).0.is_empty());
    }

    #[test]
    fn devinfo_replace_carries_the_devinfo_leaves() {
        let mut cmd_id = 1;
        let Command::Replace(r) = devinfo_replace(&tree(), &mut cmd_id) else {
            panic!("not a Replace");
        };
        assert_eq!(r.cmd_id, 2);
        let sources: Vec<_> = r.items.iter().filter_map(|i| i.source.as_deref()).collect();
        assert_eq!(
            sources,
            [
                "./DevInfo/DevId",
                "./DevInfo/DmV",
                "./DevInfo/Lang",
                "./DevInfo/Man",
                "./DevInfo/Mod"
            ]
        );
    }
}
