//! Client-initiated FOTA end to end: the simulated OMA-DM handset against
//! the real server, through the FOTA URL, the DM session, the download and
//! the final report.

use mdm::auth::Role;
use mdm::fota::FotaState;
use mdm::omadm::syncml::Encoding;
use mdm::sim::omadm_handset::{Fail, FotaOutcome, Handset};
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{spawn_app, spawn_app_with, SendJson, TestApp};

pub(crate) const PASSWORD: &str = "device-secret-1";

/// A MEID handset at U960.05 with credentials, and (optionally) a released
/// delta to U960.07.
pub(crate) async fn setup(app: &TestApp, with_package: bool) -> (i64, String) {
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "Samsung", "model": "SCH-U960", "protocol": "omadm", "fota": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let device_id = app
        .u960_handset(&token, json!({"meid": "A1000012345678"}))
        .await;
    app.set_dm_credentials(
        device_id,
        "MEID:A1000012345678",
        PASSWORD,
        "server-secret-1",
    )
    .await;
    if with_package {
        app.release_package(&token, "Samsung", "SCH-U960", "U960.05", "U960.07", 200_000)
            .await;
    }
    (device_id, token)
}

pub(crate) fn handset(
    app: &TestApp,
    encoding: Encoding,
    fail: Option<Fail>,
    password: &str,
) -> Handset {
    Handset {
        server: app.base.clone(),
        fota_path: "/fota/check".into(),
        dev_id: "MEID:A1000012345678".into(),
        username: "MEID:A1000012345678".into(),
        password: password.into(),
        man: "Samsung".into(),
        model: "SCH-U960".into(),
        firmware: "U960.05".into(),
        encoding,
        fail,
        gateway_header: Some("x-device-id".into()),
        timings: None,
        server_password: None,
        server_nonce: Vec::new(),
        server_id: None,
        client_nonce: Default::default(),
    }
}

async fn device(app: &TestApp, token: &str, id: i64) -> Value {
    app.api(Method::GET, &format!("/devices/{id}"), token)
        .send_json()
        .await
}

/// The handset's request to the FOTA URL, identified by the (trusted)
/// gateway's header.
pub(crate) async fn ask_fota_url(app: &TestApp, dev_id: &str) -> reqwest::Response {
    app.client
        .get(app.url("/fota/check"))
        .header("x-device-id", dev_id)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn sessions(app: &TestApp, device_id: i64) -> Vec<mdm::fota::FotaSession> {
    app.with_conn(move |c| mdm::fota::session::for_device(c, device_id, 10).unwrap())
        .await
}

#[tokio::test]
async fn a_handset_updates_over_oma_dm_wbxml_and_the_registry_follows() {
    let app = spawn_app().await;
    let (device_id, token) = setup(&app, true).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = Trace::new(Some(dir.path().to_path_buf())).unwrap();
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);
    let outcome = h.run_fota(&trace).await.unwrap();
    assert_eq!(
        outcome,
        FotaOutcome::Updated {
            from: "U960.05".into(),
            to: "U960.07".into()
        }
    );

    let d = device(&app, &token, device_id).await;
    assert_eq!(d["device"]["firmware_version"], "U960.07");
    assert_eq!(d["device"]["last_protocol"], "omadm");
    let s = &sessions(&app, device_id).await[0];
    assert_eq!(s.state, "succeeded");
    assert_eq!(s.result_code, Some(200));
    let events: Vec<String> = app
        .with_conn({
            let id = s.id;
            move |c| {
                mdm::fota::session::events(c, id)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.to_state)
                    .collect()
            }
        })
        .await;
    assert_eq!(
        events,
        ["pending", "querying", "offered", "downloaded", "succeeded"]
    );

    // The trace holds every body, and the WBXML ones decode with libwbxml.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names[0].starts_with("001-response-fota-redirect"));
    let wbxml: Vec<&String> = names.iter().filter(|n| n.ends_with(".wbxml")).collect();
    assert!(wbxml.len() >= 6, "{names:?}");
    for n in wbxml {
        let out = std::process::Command::new("wbxml2xml")
            .arg("-o")
            .arg(dir.path().join("x.xml"))
            .arg(dir.path().join(n))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let xml = std::fs::read_to_string(dir.path().join("x.xml")).unwrap();
        assert!(
            xml.contains("SyncHdr") && !xml.contains("unknown"),
            "{n}: {xml}"
        );
    }
    // A captured package 1, replayed, meets a rotated nonce and is refused.
    let first = names
        .iter()
        .find(|n| n.contains("request-dm-session") && n.ends_with("msg-1.wbxml"))
        .unwrap();
    let replay = std::fs::read(dir.path().join(first)).unwrap();
    let r = app
        .client
        .post(app.url("/omadm"))
        .header("content-type", "application/vnd.syncml.dm+wbxml")
        .body(replay)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let reply =
        mdm::omadm::syncml::Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap();
    let hdr_status = reply.body.commands.iter().find_map(|c| match c {
        mdm::omadm::syncml::Command::Status(s) if s.cmd_ref == 0 => Some(s.data),
        _ => None,
    });
    assert_eq!(hdr_status, Some(401), "a replayed digest is rejected");

    // The session is visible to operators.
    app.login_admin().await;
    let (_, html) = app.page(&format!("/firmware/sessions/{}", s.id)).await;
    assert!(html.contains("offered") && html.contains("FUMO result 200"));
    let (_, html) = app.page(&format!("/devices/{device_id}")).await;
    assert!(html.contains("firmware updated over the air"));

    // A care agent sees what the session offered, with its release notes,
    // and no link into Firmware Management, which is not theirs.
    app.add_user("agent", "care-agent-pass-1", mdm::auth::Role::Care)
        .await;
    assert_eq!(
        app.login("agent", "care-agent-pass-1")
            .await
            .status()
            .as_u16(),
        303
    );
    let page = format!("/firmware/sessions/{}", s.id);
    let (status, html) = app.page(&page).await;
    assert_eq!(status, 200);
    assert!(html.contains("U960.05 → U960.07") && html.contains("Better battery"));
    for path in [page.as_str(), "/firmware/sessions"] {
        let (_, html) = app.page(path).await;
        for link in html.split("href=\"").skip(1) {
            let link = &link[..link.find('"').unwrap()];
            if link.starts_with('/') && !link.starts_with("/static") {
                let (status, _) = app.page(&link.replace("&amp;", "&")).await;
                assert!(status < 400, "{link} linked from {path}: {status}");
            }
        }
    }
}

#[tokio::test]
async fn an_xml_handset_resumes_a_dropped_download() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = handset(&app, Encoding::Xml, Some(Fail::Drop), PASSWORD);
    let outcome = h
        .run_fota(&Trace::new(Some(dir.path().to_path_buf())).unwrap())
        .await
        .unwrap();
    assert!(matches!(outcome, FotaOutcome::Updated { .. }), "{outcome}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("package-partial"))
            && names.iter().any(|n| n.contains("package-resumed"))
    );
    assert!(names
        .iter()
        .any(|n| n.ends_with(".xml") && n.contains("dm-session")));
    assert_eq!(sessions(&app, device_id).await[0].state, "succeeded");
}

#[tokio::test]
async fn a_declined_update_and_a_corrupted_package_end_the_session_without_changing_the_firmware() {
    let app = spawn_app().await;
    let (device_id, token) = setup(&app, true).await;
    let mut h = handset(&app, Encoding::Wbxml, Some(Fail::Cancel), PASSWORD);
    assert_eq!(
        h.run_fota(&Trace::new(None).unwrap()).await.unwrap(),
        FotaOutcome::Cancelled
    );
    let s = &sessions(&app, device_id).await[0];
    assert_eq!((s.state.as_str(), s.result_code), ("cancelled", Some(401)));

    let mut h = handset(&app, Encoding::Wbxml, Some(Fail::Corrupt), PASSWORD);
    let outcome = h.run_fota(&Trace::new(None).unwrap()).await.unwrap();
    assert!(matches!(outcome, FotaOutcome::Failed(_)), "{outcome}");
    let s = &sessions(&app, device_id).await[0];
    assert_eq!(
        s.state, "failed",
        "the 953 download report fails the session"
    );
    assert_eq!(
        device(&app, &token, device_id).await["device"]["firmware_version"],
        "U960.05"
    );
}

#[tokio::test]
async fn no_released_package_means_a_clear_no_update() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);
    assert_eq!(
        h.run_fota(&Trace::new(None).unwrap()).await.unwrap(),
        FotaOutcome::NoUpdate
    );
    let s = &sessions(&app, device_id).await[0];
    assert_eq!(s.state, "no_update");
    assert!(s
        .detail
        .contains("no released package for Samsung SCH-U960 U960.05"));
}

#[tokio::test]
async fn wrong_credentials_unknown_devices_and_bad_messages_are_refused() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let mut h = handset(&app, Encoding::Wbxml, None, "not-the-password");
    let err = h
        .run_fota(&Trace::new(None).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    let s = &sessions(&app, device_id).await[0];
    assert_eq!(s.state, "pending", "nothing happened past the redirect");

    // Unknown device at the FOTA URL.
    let r = ask_fota_url(&app, "MEID:A1000099999999").await;
    assert_eq!(r.status().as_u16(), 404);
    // Malformed and oversized SyncML.
    let r = app
        .client
        .post(app.url("/omadm"))
        .header("content-type", "application/vnd.syncml.dm+wbxml")
        .body(vec![0x02, 0x00, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .client
        .post(app.url("/omadm"))
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body("<SyncML><SyncHdr>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .client
        .post(app.url("/omadm"))
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // A download status for a session that does not exist.
    let r = app
        .client
        .post(app.url("/dl/1/notify?fota=999"))
        .body("900 Success")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn the_cli_sets_credentials_and_runs_the_simulated_handset() {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = crate::common::fresh_database(dir.path());
    let app = crate::common::spawn_app_with({
        let url = url.clone();
        move |c| c.database_url = url
    })
    .await;
    let (device_id, _) = setup(&app, true).await;
    let run = |args: Vec<String>, stdin: &'static str| {
        let url = url.clone();
        // The command runs on the server's host: same data dir, same
        // secrets key.
        let data = app.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::common::run_mdm(&url, &data, &args, Some(stdin))
        })
    };
    let (code, out, err) = run(
        vec![
            "dm".into(),
            "credentials".into(),
            "--device".into(),
            "A1000012345678".into(),
        ],
        "cli-device-pass\n",
    )
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("DevId MEID:A1000012345678"), "{out}");
    let trace = dir.path().join("trace");
    let sim = |fail: Option<&str>, password: &str| {
        let mut a = vec![
            "sim".to_string(),
            "fota".into(),
            "--server".into(),
            app.base.clone(),
            "--device".into(),
            "A1000012345678".into(),
            "--password".into(),
            password.into(),
            "--trace".into(),
            trace.to_string_lossy().into_owned(),
        ];
        if let Some(f) = fail {
            a.push("--fail".into());
            a.push(f.into());
        }
        a
    };
    let (code, out, err) = run(sim(Some("cancel"), "cli-device-pass"), "")
        .await
        .unwrap();
    assert_ne!(code, 0, "a declined update is not a completed one");
    assert!(out.contains("declined"), "{out}{err}");
    let (code, out, err) = run(sim(None, "cli-device-pass"), "").await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("updated from U960.05 to U960.07"), "{out}");
    assert!(
        out.contains("911"),
        "the prompt shows the emergency-call notice"
    );
    assert!(std::fs::read_dir(&trace).unwrap().count() > 8);
    let (code, _, _) = run(sim(None, "wrong-password"), "").await.unwrap();
    assert_ne!(code, 0);
    let all = sessions(&app, device_id).await;
    assert_eq!(
        all[0].state, "pending",
        "the refused handset got no further than the redirect"
    );
    assert_eq!(all[1].state, "succeeded");
    drop(app);
    crate::common::drop_database(pg);
}

/// The nonce the server gave the test device (account 1) for its next
/// authentication.
pub(crate) async fn client_nonce(app: &TestApp) -> Vec<u8> {
    app.dm_account(1).await.client_nonce_bytes()
}

/// The test device's `syncml:auth-md5` credentials for its next message.
pub(crate) async fn md5_cred(app: &TestApp) -> mdm::omadm::syncml::Cred {
    let nonce = client_nonce(app).await;
    mdm::omadm::syncml::Cred {
        format: Some("b64".into()),
        auth_type: "syncml:auth-md5".into(),
        data: mdm::omadm::auth::md5_digest("MEID:A1000012345678", PASSWORD, &nonce).to_vec(),
    }
}

/// Sends one DM message as the handset would and decodes the answer.
pub(crate) async fn post_dm(
    app: &TestApp,
    url: &str,
    msg: &mdm::omadm::syncml::Message,
) -> mdm::omadm::syncml::Message {
    let body = msg.encode(Encoding::Wbxml).unwrap();
    let r = app
        .client
        .post(url)
        .header("content-type", "application/vnd.syncml.dm+wbxml")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    mdm::omadm::syncml::Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap()
}

/// The handset's Status for the server's SyncHdr of message `msg_ref`, with
/// the nonce it wants the server's next credentials made with.
pub(crate) fn hdr_answer(
    cmd_id: u32,
    msg_ref: u32,
    code: u16,
    nonce: &[u8],
) -> mdm::omadm::syncml::Command {
    use mdm::omadm::syncml::*;
    Command::Status(Status {
        cmd_id,
        msg_ref,
        cmd_ref: 0,
        cmd: "SyncHdr".into(),
        target_refs: vec![],
        source_refs: vec![],
        chal: Some(Chal {
            auth_type: "syncml:auth-md5".into(),
            format: "b64".into(),
            next_nonce: nonce.to_vec(),
        }),
        data: code,
        items: vec![],
    })
}

pub(crate) fn dm_message(
    session: &str,
    msg_id: u32,
    max: u32,
    cred: Option<mdm::omadm::syncml::Cred>,
    commands: Vec<mdm::omadm::syncml::Command>,
) -> mdm::omadm::syncml::Message {
    use mdm::omadm::syncml::*;
    Message {
        hdr: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: session.into(),
            msg_id,
            target: "http://server/omadm".into(),
            source: "MEID:A1000012345678".into(),
            source_name: None,
            resp_uri: None,
            cred,
            max_msg_size: Some(max),
            max_obj_size: None,
        },
        body: SyncBody {
            commands,
            final_: true,
        },
    }
}

/// Sends `first` and keeps asking for the rest of the package (Alert 1222)
/// until the server's message is final; returns every server message.
async fn whole_package(
    app: &TestApp,
    url: &mut String,
    msg_id: &mut u32,
    max: u32,
    first: Vec<mdm::omadm::syncml::Command>,
) -> Vec<mdm::omadm::syncml::Message> {
    use mdm::omadm::syncml::*;
    let mut out = Vec::new();
    let mut commands = first;
    loop {
        *msg_id += 1;
        let reply = post_dm(
            app,
            url,
            &dm_message("7", *msg_id, max, None, std::mem::take(&mut commands)),
        )
        .await;
        if let Some(u) = &reply.hdr.resp_uri {
            *url = u.clone();
        }
        let done = reply.body.final_;
        out.push(reply);
        if done || out.len() > 10 {
            return out;
        }
        commands.push(Command::Alert(Alert {
            cmd_id: 1,
            data: 1222,
            correlator: None,
            items: vec![],
        }));
    }
}

/// Runs the DM session through the make-model-version query and the package
/// offer with the given MaxMsgSize; returns every server message.
async fn offer_with_limit(max: u32) -> Vec<mdm::omadm::syncml::Message> {
    use mdm::omadm::syncml::*;
    let app = spawn_app().await;
    setup(&app, true).await;
    let r = ask_fota_url(&app, "MEID:A1000012345678").await;
    let mut url = r.headers()["location"].to_str().unwrap().to_string();
    let cred = md5_cred(&app).await;
    let alert = Command::Alert(Alert {
        cmd_id: 1,
        data: 1201,
        correlator: None,
        items: vec![],
    });
    let first = post_dm(
        &app,
        &url,
        &dm_message("7", 1, max, Some(cred), vec![alert]),
    )
    .await;
    url = first.hdr.resp_uri.clone().unwrap();
    let mut msg_id = 1;
    let mut all = vec![first.clone()];
    if !first.body.final_ {
        let more = Command::Alert(Alert {
            cmd_id: 1,
            data: 1222,
            correlator: None,
            items: vec![],
        });
        all.extend(whole_package(&app, &mut url, &mut msg_id, max, vec![more]).await);
    }
    let (get_id, get_msg) = all
        .iter()
        .find_map(|m| {
            m.body.commands.iter().find_map(|c| match c {
                Command::Get(g) => Some((g.cmd_id, m.hdr.msg_id)),
                _ => None,
            })
        })
        .expect("the make-model-version query");
    let item = |uri: &str, v: &str| Item {
        source: Some(uri.into()),
        target: None,
        meta: None,
        data: Some(ItemData::Text(v.into())),
        more_data: false,
    };
    let results = Command::Results(Results {
        cmd_id: 2,
        msg_ref: get_msg,
        cmd_ref: get_id,
        items: vec![
            item("./DevInfo/Man", "Samsung"),
            item("./DevInfo/Mod", "SCH-U960"),
            item("./DevDetail/FwV", "U960.05"),
        ],
    });
    all.extend(whole_package(&app, &mut url, &mut msg_id, max, vec![results]).await);
    all
}

#[tokio::test]
async fn the_server_splits_packages_to_respect_the_clients_max_msg_size() {
    let names = |ms: &[mdm::omadm::syncml::Message]| {
        let mut v: Vec<String> = ms
            .iter()
            .flat_map(|m| m.body.commands.iter().map(|c| c.name().to_string()))
            .filter(|n| n != "Status")
            .collect();
        v.sort();
        v
    };
    let roomy = offer_with_limit(60_000).await;
    let largest = roomy
        .iter()
        .map(|m| m.encode(Encoding::Wbxml).unwrap().len())
        .max()
        .unwrap() as u32;
    assert_eq!(names(&roomy), ["Exec", "Get", "Replace"]);

    let tight = offer_with_limit(largest - 8).await;
    assert!(
        tight.len() > roomy.len(),
        "{} messages instead of {}",
        tight.len(),
        roomy.len()
    );
    assert!(tight
        .iter()
        .all(|m| m.encode(Encoding::Wbxml).unwrap().len() as u32 <= largest - 8));
    assert!(
        tight.iter().any(|m| !m.body.final_),
        "a package spread over messages has non-final ones"
    );
    assert_eq!(names(&tight), names(&roomy), "nothing is lost in the split");
}

/// Replaces what differs between runs (ports, nonces, digests, correlators,
/// ids) so a server message can be compared with a stored snapshot.
fn mask(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    let volatile = [
        "<NextNonce",
        "<Data>",
        "<Correlator>",
        "<RespURI>",
        "<Source><LocURI>",
        "<TargetRef>",
        "<Target><LocURI>",
    ];
    'outer: while !rest.is_empty() {
        for tag in volatile {
            if let Some(after) = rest.strip_prefix(tag) {
                // Keep attributes (e.g. xmlns) as they are; mask the text.
                let open_end = if tag.ends_with('>') {
                    0
                } else {
                    after.find('>').map(|i| i + 1).unwrap_or(0)
                };
                let tag = format!("{tag}{}", &after[..open_end]);
                let stripped = &after[open_end..];
                let tag = tag.as_str();
                let end = stripped.find('<').unwrap_or(stripped.len());
                let value = &stripped[..end];
                let masked = if value.starts_with("http://127.0.0.1:") {
                    let path = value
                        .split_once("://")
                        .and_then(|(_, r)| r.split_once('/'))
                        .map(|(_, p)| p)
                        .unwrap_or("");
                    // The session token of a RespURI is random.
                    let path = match path.split_once("?s=") {
                        Some((p, _)) => format!("{p}?s=…"),
                        None => path.to_string(),
                    };
                    format!(
                        "http://SERVER/{}",
                        path.split("fota=").next().unwrap_or(&path)
                    )
                } else if tag == "<Data>" && value.parse::<u32>().is_ok() {
                    value.to_string()
                } else if tag == "<Data>" || tag.starts_with("<NextNonce") || tag == "<Correlator>"
                {
                    "…".to_string()
                } else {
                    value.to_string()
                };
                out.push_str(tag);
                out.push_str(&masked);
                rest = &stripped[end..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.replace("><", ">\n<")
}

#[tokio::test]
async fn server_packages_match_their_snapshots() {
    let messages = offer_with_limit(60_000).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    for (i, m) in messages.iter().enumerate() {
        let got = mask(&m.to_xml());
        let file = dir.join(format!("fota-server-message-{}.xml", i + 1));
        if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_else(|_| {
            panic!(
                "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
                file.display()
            )
        });
        assert_eq!(
            got,
            want,
            "server message {} differs from {}",
            i + 1,
            file.display()
        );
    }
}

#[tokio::test]
async fn the_x_syncml_hmac_header_authenticates_a_message_and_a_bad_mac_is_refused() {
    use mdm::omadm::syncml::*;
    let app = spawn_app().await;
    setup(&app, false).await;
    let nonce = client_nonce(&app).await;
    let alert = Command::Alert(Alert {
        cmd_id: 1,
        data: 1201,
        correlator: None,
        items: vec![],
    });
    let body = dm_message("9", 1, 10_000, None, vec![alert])
        .encode(Encoding::Wbxml)
        .unwrap();
    let send = |mac: String, body: Vec<u8>| {
        app.client
            .post(app.url("/omadm"))
            .header("content-type", "application/vnd.syncml.dm+wbxml")
            .header("x-syncml-hmac", mac)
            .body(body)
            .send()
    };
    let hdr_status = |m: &Message| {
        m.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == 0 => Some(s.data),
            _ => None,
        })
    };
    // A MAC over different bytes fails.
    let wrong =
        mdm::omadm::auth::hmac_header("MEID:A1000012345678", PASSWORD, &nonce, b"other bytes");
    let r = send(wrong, body.clone()).await.unwrap();
    let m = Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap();
    assert_eq!(hdr_status(&m), Some(401));
    let next = m.body.commands.iter().find_map(|c| match c {
        Command::Status(s) => s.chal.as_ref().map(|ch| ch.next_nonce.clone()),
        _ => None,
    });
    // With the challenged nonce and a MAC over the very bytes sent, it passes.
    let right =
        mdm::omadm::auth::hmac_header("MEID:A1000012345678", PASSWORD, &next.unwrap(), &body);
    let r = send(right, body).await.unwrap();
    let m = Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap();
    assert_eq!(hdr_status(&m), Some(212));
}

#[tokio::test]
async fn an_abandoned_pending_session_is_closed_when_the_device_asks_again() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let ask = || ask_fota_url(&app, "MEID:A1000012345678");
    assert_eq!(ask().await.status().as_u16(), 302);
    // Asking again at once reuses the open session.
    assert_eq!(ask().await.status().as_u16(), 302);
    assert_eq!(sessions(&app, device_id).await.len(), 1);
    // An hour later it counts as abandoned.
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::fota_sessions;
        diesel::update(fota_sessions::table)
            .set(fota_sessions::updated_at.eq(mdm::db::now_ms() - 3_600_000))
            .execute(c)
            .unwrap();
    })
    .await;
    assert_eq!(ask().await.status().as_u16(), 302);
    let all = sessions(&app, device_id).await;
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].state.as_str(), all[1].state.as_str()),
        ("pending", "failed")
    );
    assert!(all[1].detail.contains("abandoned"));
}

#[tokio::test]
async fn the_server_sweeps_abandoned_sessions_on_its_timer() {
    let app = spawn_app_with(|c| c.sweep_interval_secs = 1).await;
    let (device_id, _) = setup(&app, true).await;
    let r = ask_fota_url(&app, "MEID:A1000012345678").await;
    assert_eq!(r.status().as_u16(), 302);
    // Fresh: the sweeper leaves it alone.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(sessions(&app, device_id).await[0].state, "pending");
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::fota_sessions;
        diesel::update(fota_sessions::table)
            .set(fota_sessions::updated_at.eq(mdm::db::now_ms() - 3_600_000))
            .execute(c)
            .unwrap();
    })
    .await;
    for _ in 0..60 {
        if sessions(&app, device_id).await[0].state == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    assert!(s.detail.contains("abandoned"), "{}", s.detail);
}

#[tokio::test]
async fn a_handset_that_wants_download_then_update_gets_separate_fumo_nodes() {
    let app = spawn_app().await;
    let (device_id, token) = setup(&app, true).await;
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::capabilities;
        diesel::update(capabilities::table)
            .set(capabilities::features.eq(mdm::omadm::engine::FUMO_SPLIT_FEATURE))
            .execute(c)
            .unwrap();
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let trace = Trace::new(Some(dir.path().to_path_buf())).unwrap();
    let mut h = handset(&app, Encoding::Xml, None, PASSWORD);
    let outcome = h.run_fota(&trace).await.unwrap();
    assert_eq!(
        outcome,
        FotaOutcome::Updated {
            from: "U960.05".into(),
            to: "U960.07".into()
        }
    );
    let d = device(&app, &token, device_id).await;
    assert_eq!(d["device"]["firmware_version"], "U960.07");
    let s = &sessions(&app, device_id).await[0];
    assert_eq!((s.state.as_str(), s.result_code), ("succeeded", Some(200)));

    // The wire trace shows the Download node, then the Exec of Update in
    // the session that carried the download report.
    let mut bodies = String::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        bodies.push_str(&String::from_utf8_lossy(&std::fs::read(p).unwrap()));
    }
    let download = bodies
        .find("./FUMO/pkg1/Download/PkgURL")
        .expect("Download node");
    let report = bodies
        .find("org.openmobilealliance.dm.firmwareupdate.download<")
        .expect("download report");
    let update = bodies
        .find("<LocURI>./FUMO/pkg1/Update</LocURI>")
        .expect("Exec Update");
    let last = bodies
        .find("org.openmobilealliance.dm.firmwareupdate.update<")
        .expect("update report");
    assert!(download < report && report < update && update < last);
    assert!(!bodies.contains("DownloadAndUpdate"));
}

#[tokio::test]
async fn the_handset_refuses_a_server_that_cannot_prove_itself() {
    let app = spawn_app().await;
    setup(&app, true).await;
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);
    h.server_id = Some("mdm".into());
    h.server_password = Some("not-what-the-server-holds".into());
    let err = h.run_fota(&Trace::new(None).unwrap()).await.unwrap_err();
    assert!(
        err.to_string().contains("credentials do not verify"),
        "{err}"
    );
}

/// The SyncHdr status codes the server answered, one per DM message, in
/// the order of the trace.
fn header_statuses(dir: &std::path::Path) -> Vec<u16> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains("-response-dm-session-")
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let m =
                mdm::omadm::syncml::Message::decode(&std::fs::read(p).unwrap(), Encoding::Wbxml)
                    .unwrap();
            m.body
                .commands
                .iter()
                .find_map(|c| match c {
                    mdm::omadm::syncml::Command::Status(s) if s.cmd_ref == 0 => Some(s.data),
                    _ => None,
                })
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_handset_keeps_the_servers_next_nonce_for_its_next_session() {
    let app = spawn_app().await;
    setup(&app, true).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = Trace::new(Some(dir.path().to_path_buf())).unwrap();
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);
    let outcome = h.run_fota(&trace).await.unwrap();
    assert!(
        matches!(outcome, FotaOutcome::Updated { .. }),
        "{outcome:?}"
    );
    let codes = header_statuses(dir.path());
    // Only the very first message meets a challenge (the handset has no
    // nonce yet); the final report's session authenticates at once with
    // the nonce the first session ended with.
    assert_eq!(codes.iter().filter(|c| **c == 401).count(), 1, "{codes:?}");
    assert_eq!(codes[0], 401, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 212).count(), 2, "{codes:?}");
}

#[tokio::test]
async fn a_handset_that_rolls_the_server_nonce_gets_credentials_made_with_it() {
    use mdm::omadm::syncml::*;
    let app = spawn_app().await;
    setup(&app, false).await;
    let acct = app.dm_account(1).await;
    let cred = |nonce: &[u8]| {
        Some(Cred {
            format: Some("b64".into()),
            auth_type: "syncml:auth-md5".into(),
            data: mdm::omadm::auth::md5_digest("MEID:A1000012345678", PASSWORD, nonce).to_vec(),
        })
    };
    let alert = || {
        Command::Alert(Alert {
            cmd_id: 1,
            data: 1201,
            correlator: None,
            items: vec![],
        })
    };
    let url = app.url("/omadm");
    let first = post_dm(
        &app,
        &url,
        &dm_message(
            "21",
            1,
            10_000,
            cred(&acct.client_nonce_bytes()),
            vec![alert()],
        ),
    )
    .await;
    let server_cred = |m: &Message| m.hdr.cred.as_ref().map(|c| c.data.clone());
    assert_eq!(
        server_cred(&first),
        Some(
            mdm::omadm::auth::md5_digest(
                &acct.server_id,
                &acct.server_password,
                &acct.server_nonce_bytes()
            )
            .to_vec()
        )
    );
    let next_client_nonce = first
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == 0 => s.chal.as_ref().map(|ch| ch.next_nonce.clone()),
            _ => None,
        })
        .expect("the server rolls the client nonce");
    // The handset accepts the server and rolls the server's nonce in its
    // status for the server's SyncHdr.
    let url = first.hdr.resp_uri.clone().unwrap_or(url);
    let roll = hdr_answer(1, 1, 212, b"rolled-by-the-handset");
    post_dm(&app, &url, &dm_message("21", 2, 10_000, None, vec![roll])).await;
    let stored = app.dm_account(1).await;
    assert_eq!(
        stored.server_nonce_bytes(),
        b"rolled-by-the-handset".to_vec()
    );
    // The next session's server credentials are made with the new nonce.
    let next = post_dm(
        &app,
        &app.url("/omadm"),
        &dm_message("22", 1, 10_000, cred(&next_client_nonce), vec![alert()]),
    )
    .await;
    assert_eq!(
        server_cred(&next),
        Some(
            mdm::omadm::auth::md5_digest(
                &acct.server_id,
                &acct.server_password,
                b"rolled-by-the-handset"
            )
            .to_vec()
        )
    );
}

#[tokio::test]
async fn a_repeated_success_report_changes_the_registry_only_once() {
    let app = spawn_app().await;
    let (device_id, _token) = setup(&app, true).await;
    let trace = Trace::new(None).unwrap();
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);
    assert!(matches!(
        h.run_fota(&trace).await.unwrap(),
        FotaOutcome::Updated { .. }
    ));
    let sid = sessions(&app, device_id).await[0].id;
    let audits = move |c: &mut mdm::db::DbConnection| -> i64 {
        use diesel::prelude::*;
        use mdm::db::schema::audit_events;
        audit_events::table
            .filter(audit_events::entity_id.eq(device_id))
            .filter(audit_events::action.eq("firmware updated over the air"))
            .count()
            .get_result(c)
            .unwrap()
    };
    assert_eq!(app.with_conn(audits).await, 1);
    // The handset reports its success again (e.g. its first report's
    // answer was lost): the session keeps its state, nothing else moves.
    let again = app
        .with_conn(move |c| mdm::fota::session::finish(c, sid, 200, "FUMO result 200").unwrap())
        .await;
    assert_eq!(again.state, "succeeded");
    assert_eq!(app.with_conn(audits).await, 1);
}

/// Two writers on one session: the second waits for the first's commit and
/// decides on the state it wrote, instead of overwriting it from a stale
/// read (on PostgreSQL through the row lock, on SQLite through the write
/// transaction).
#[tokio::test]
async fn a_session_changed_while_another_writer_holds_it_is_not_overwritten() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let r = ask_fota_url(&app, "MEID:A1000012345678").await;
    assert_eq!(r.status().as_u16(), 302);
    let id = sessions(&app, device_id).await[0].id;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let db = app.db.clone();
    // The first writer reads the pending session and, before it writes,
    // the second writer (the sweeper's move) starts.
    let first = std::thread::spawn(move || {
        let mut c = db.get().unwrap();
        mdm::db::write(&mut c, |c| -> Result<(), mdm::fota::FotaError> {
            let s = mdm::fota::session::get_for_update(c, id)?;
            locked_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(400));
            mdm::fota::session::advance_loaded(c, s, FotaState::Querying, "asked the device")?;
            Ok(())
        })
        .unwrap();
    });
    locked_rx.recv().unwrap();
    let db = app.db.clone();
    let second = std::thread::spawn(move || {
        let mut c = db.get().unwrap();
        mdm::fota::session::advance(&mut c, id, FotaState::Failed, "abandoned").unwrap();
    });
    first.join().unwrap();
    second.join().unwrap();
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    let events = app
        .with_conn(move |c| mdm::fota::session::events(c, id).unwrap())
        .await;
    let moves: Vec<_> = events
        .iter()
        .map(|e| (e.from_state.clone(), e.to_state.clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (None, "pending".to_string()),
            (Some("pending".to_string()), "querying".to_string()),
            (Some("querying".to_string()), "failed".to_string()),
        ]
    );
}

/// A handset (or its gateway) that asks the FOTA URL several times at once
/// gets one open session, and every answer points at it.
#[tokio::test]
async fn simultaneous_requests_of_one_handset_register_one_session() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let asks = (0..12).map(|_| ask_fota_url(&app, "MEID:A1000012345678"));
    let answers = futures_util::future::join_all(asks).await;
    let mut locations = std::collections::BTreeSet::new();
    for r in answers {
        assert_eq!(r.status().as_u16(), 302);
        locations.insert(r.headers()["location"].to_str().unwrap().to_string());
    }
    assert_eq!(locations.len(), 1, "{locations:?}");
    let all = sessions(&app, device_id).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, "pending");
}

/// A handset that names another device's FOTA session (or one that does
/// not exist) in the DM URL drives nothing: the other session stays as it
/// was, and this handset is not asked for its make, model and version.
#[tokio::test]
async fn a_dm_session_cannot_drive_another_devices_fota_session() {
    use mdm::omadm::syncml::*;
    let app = spawn_app().await;
    let (_, token) = setup(&app, true).await;
    let other_id = app
        .u960_handset(&token, json!({"meid": "A1000012340000"}))
        .await;
    let theirs = app
        .with_conn(move |c| {
            mdm::fota::session::register_pending(c, other_id, "omadm", "U960.05", "test").unwrap()
        })
        .await;
    let alert = Command::Alert(Alert {
        cmd_id: 1,
        data: 1201,
        correlator: None,
        items: vec![],
    });
    for (session, hint) in [("8", theirs.id), ("9", 999_999)] {
        // Each authentication rolls the nonce.
        let cred = md5_cred(&app).await;
        let reply = post_dm(
            &app,
            &app.url(&format!("/omadm?fota={hint}")),
            &dm_message(session, 1, 10_000, Some(cred), vec![alert.clone()]),
        )
        .await;
        let header = reply.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == 0 => Some(s.data),
            _ => None,
        });
        assert_eq!(header, Some(212), "authenticated");
        assert!(
            !reply
                .body
                .commands
                .iter()
                .any(|c| matches!(c, Command::Get(_))),
            "no make-model-version query for a session that is not the device's"
        );
    }
    let s = app
        .with_conn(move |c| mdm::fota::session::get(c, theirs.id).unwrap())
        .await;
    assert_eq!(s.state, "pending");
    assert!(sessions(&app, 1).await.is_empty());
}

/// Session ids are sequential, so the install notification that moves a
/// session must also carry the session's correlator, which only the offered
/// handset learnt (through the descriptor's installNotifyURI). A forged
/// notification moves nothing.
#[tokio::test]
async fn an_install_notification_moves_a_session_only_with_its_key() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let (fid, pid) = app
        .with_conn(move |c| {
            let p = mdm::firmware::package::find_update(c, "Samsung", "SCH-U960", "U960.05")
                .unwrap()
                .unwrap();
            let s = mdm::fota::session::register_pending(c, device_id, "omadm", "U960.05", "test")
                .unwrap();
            let s = mdm::fota::session::advance(c, s.id, FotaState::Querying, "asked").unwrap();
            let s =
                mdm::fota::session::offer(c, s, p.id, &p.to_version, "k3y-Of-This-offer").unwrap();
            (s.id, p.id)
        })
        .await;
    let notify = |query: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/dl/{pid}/notify{query}")))
                .body("900 Success")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(notify(format!("?fota={fid}")).await, 404);
    assert_eq!(
        notify(format!("?fota={fid}&key=k3y-Of-This-offeR")).await,
        404
    );
    assert_eq!(notify(format!("?fota={fid}&key=")).await, 404);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");
    // The descriptor passes the key on to its installNotifyURI.
    let dd = app
        .client
        .get(app.url(&format!("/dl/{pid}/dd?fota={fid}&key=k3y-Of-This-offer")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let uri = dd
        .split("<installNotifyURI>")
        .nth(1)
        .and_then(|r| r.split("</installNotifyURI>").next())
        .unwrap()
        .to_string();
    assert!(
        uri.ends_with(&format!(
            "/dl/{pid}/notify?fota={fid}&amp;key=k3y-Of-This-offer"
        )),
        "{uri}"
    );
    let query = uri.replace("&amp;", "&");
    let query = &query[query.find('?').unwrap()..];
    assert_eq!(notify(query.to_string()).await, 200);
    assert_eq!(sessions(&app, device_id).await[0].state, "downloaded");
}

/// The database records every creation and state change of a FOTA session,
/// whoever makes it: here an operator's plain SQL. A write that leaves the
/// state as it was records nothing.
#[tokio::test]
async fn every_state_change_is_recorded_even_one_made_outside_the_platform() {
    use diesel::prelude::*;
    use mdm::db::schema::fota_sessions;
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let r = ask_fota_url(&app, "MEID:A1000012345678").await;
    assert_eq!(r.status().as_u16(), 302);
    let id = sessions(&app, device_id).await[0].id;
    let events = app
        .with_conn(move |c| {
            diesel::update(fota_sessions::table.find(id))
                .set(fota_sessions::updated_at.eq(12_345))
                .execute(c)
                .unwrap();
            diesel::update(fota_sessions::table.find(id))
                .set((
                    fota_sessions::state.eq("cancelled"),
                    fota_sessions::detail.eq("closed by hand"),
                    fota_sessions::updated_at.eq(67_890),
                ))
                .execute(c)
                .unwrap();
            mdm::fota::session::events(c, id).unwrap()
        })
        .await;
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.from_state.as_deref(),
                e.to_state.as_str(),
                e.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, "pending", "client-initiated over omadm"),
            (Some("pending"), "cancelled", "closed by hand"),
        ]
    );
    assert_eq!(events[1].at, 67_890);
}

/// A DM message names its device by ESN as well as by MEID: an ESN-only
/// handset is found by its ESN and continues its session without
/// authenticating again; an MEID handset that gives its pseudo-ESN is found
/// through it; an ESN nobody has is refused.
#[tokio::test]
async fn dm_messages_find_their_device_by_esn_and_by_pseudo_esn() {
    use mdm::omadm::syncml::*;
    let app = spawn_app().await;
    let (meid_device, token) = setup(&app, false).await;
    let esn_device = app
        .esn_handset_with_dm_account(&token, "esn-secret-1")
        .await;
    let nonce = app.dm_account(esn_device).await.client_nonce_bytes();
    let url = app.url("/omadm");
    let from = |dev_id: &str, session: &str, msg_id: u32, cred: Option<Cred>| {
        let mut m = dm_message(session, msg_id, 10_000, cred, Vec::new());
        m.hdr.source = dev_id.into();
        m
    };
    let hdr_status = |m: &Message| match &m.body.commands[0] {
        Command::Status(s) => s.data,
        other => panic!("{other:?}"),
    };
    let cred = Cred {
        format: Some("b64".into()),
        auth_type: "syncml:auth-md5".into(),
        data: mdm::omadm::auth::md5_digest("ESN:9F100001", "esn-secret-1", &nonce).to_vec(),
    };
    let first = post_dm(&app, &url, &from("ESN:9F100001", "7", 1, Some(cred))).await;
    assert_eq!(hdr_status(&first), 212);
    // Without credentials, only at the RespURI with the session's token.
    let resp_uri = first.hdr.resp_uri.clone().unwrap();
    let second = post_dm(&app, &resp_uri, &from("ESN:9F100001", "7", 2, None)).await;
    assert_eq!(
        hdr_status(&second),
        200,
        "the stored session is authenticated"
    );

    let pesn = app
        .with_conn(move |c| mdm::registry::device::get(c, meid_device).unwrap().pesn)
        .await
        .unwrap();
    let by_pesn = post_dm(&app, &url, &from(&format!("ESN:{pesn}"), "8", 1, None)).await;
    assert_eq!(
        hdr_status(&by_pesn),
        407,
        "found, and asked for credentials"
    );
    // An unknown DevId is asked for credentials as a known one is: the
    // answer does not tell which ESNs are registered.
    let unknown = post_dm(&app, &url, &from("ESN:9F1000FF", "9", 1, None)).await;
    assert_eq!(hdr_status(&unknown), 407);
}

#[tokio::test]
async fn the_sessions_screen_charts_the_last_fortnight_by_day_and_outcome() {
    use mdm::fota::outcomes::{self, DAY_MS};
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let now = mdm::db::now_ms();
    let today = now - now.rem_euclid(DAY_MS);
    app.with_conn(move |c| {
        use diesel::connection::SimpleConnection;
        // (state, created, offered package 1)
        let rows = [
            ("succeeded", today + 1_000, true),
            ("succeeded", today + 2_000, true),
            ("failed", today + 3_000, true),
            // Never answered its notification: no update that failed.
            ("failed", today + 3_500, false),
            ("pending", today + 4_000, false),
            ("no_update", today - DAY_MS + 5_000, false),
            ("cancelled", today - DAY_MS + 6_000, false),
            // Older than the fortnight: not counted.
            ("succeeded", today - 20 * DAY_MS, true),
        ];
        for (state, at, offered) in rows {
            let package = if offered { "1" } else { "NULL" };
            c.batch_execute(&format!(
                "INSERT INTO fota_sessions (device_id, protocol, state, from_version, detail, \
                 package_id, created_at, updated_at) \
                 VALUES ({device_id}, 'omadm', '{state}', 'U960.05', '', {package}, {at}, {at})"
            ))
            .unwrap();
        }
    })
    .await;
    let days = app
        .with_conn(move |c| outcomes::daily(c, now, 14).unwrap())
        .await;
    assert_eq!(days.len(), 14);
    assert_eq!(days[13].day, today);
    assert_eq!(
        (
            days[13].succeeded,
            days[13].failed,
            days[13].unanswered,
            days[13].other,
            days[13].open
        ),
        (2, 1, 1, 0, 1)
    );
    assert_eq!((days[12].other, days[12].total()), (2, 2));
    assert!(days[..12].iter().all(|d| d.total() == 0));

    app.login_admin().await;
    let (status, html) = app.page("/firmware/sessions").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"total-succeeded\">2<"), "{html}");
    assert!(html.contains("id=\"total-failed\">1<"));
    assert!(html.contains("id=\"total-unanswered\">1<"));
    // The unanswered session is no failed update: 2 of 3, not 2 of 4.
    assert!(html.contains("id=\"success-rate\">66.7 %<"));
    assert_eq!(
        html.matches("<rect class=\"seg-").count(),
        5,
        "succeeded, failed, unanswered and open today; cancelled or no update yesterday"
    );
    let date = mdm::timefmt::date(today);
    assert!(html.contains(&format!(
        "{date}: 5 sessions (2 succeeded, 1 failed, 1 unanswered, 0 cancelled or no update, 1 open)"
    )));
}
