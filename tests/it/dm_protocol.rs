//! OMA-DM message-level protocol rules over HTTP: per-message integrity
//! (HMAC) and the session's RespURI token, the server's credentials sent
//! again, sizes in the session's own encoding, large objects, basic
//! credentials of DevId usernames, the advertised MaxMsgSize, and the
//! statuses for unknown commands, other versions and bad CmdIDs.

use mdm::omadm::auth;
use mdm::omadm::syncml::*;
use reqwest::Method;
use serde_json::Value;

use crate::common::{spawn_app, spawn_app_with, SendJson, TestApp};
use crate::fota::{ask_fota_url, dm_message, hdr_answer, md5_cred, sessions, setup, PASSWORD};

const DEV: &str = "MEID:A1000012345678";
const ENCODINGS: [Encoding; 2] = [Encoding::Xml, Encoding::Wbxml];

/// A server message as it came: decoded, its bytes, its x-syncml-hmac.
struct Reply {
    msg: Message,
    bytes: Vec<u8>,
    hmac: Option<String>,
}

async fn send_raw(
    app: &TestApp,
    url: &str,
    body: Vec<u8>,
    enc: Encoding,
    hmac: Option<String>,
) -> Reply {
    let mut r = app
        .client
        .post(url)
        .header("content-type", enc.content_type());
    if let Some(h) = hmac {
        r = r.header("x-syncml-hmac", h);
    }
    let r = r.body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let hmac = r
        .headers()
        .get("x-syncml-hmac")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = r.bytes().await.unwrap().to_vec();
    Reply {
        msg: Message::decode(&bytes, enc).unwrap(),
        bytes,
        hmac,
    }
}

async fn send(app: &TestApp, url: &str, msg: &Message, enc: Encoding) -> Reply {
    send_raw(app, url, msg.encode(enc).unwrap(), enc, None).await
}

fn statuses(m: &Message) -> Vec<&Status> {
    m.body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn hdr_status(m: &Message) -> &Status {
    statuses(m)
        .into_iter()
        .find(|s| s.cmd_ref == 0 && s.cmd == "SyncHdr")
        .expect("a status for the SyncHdr")
}

/// The status answering the command `name` with CmdID `id`.
fn status_of(m: &Message, name: &str, id: u32) -> Option<u16> {
    statuses(m)
        .into_iter()
        .find(|s| s.cmd == name && s.cmd_ref == id)
        .map(|s| s.data)
}

fn names(m: &Message) -> Vec<&str> {
    m.body
        .commands
        .iter()
        .filter(|c| !matches!(c, Command::Status(_)))
        .map(|c| c.name())
        .collect()
}

fn alert(cmd_id: u32, code: u16) -> Command {
    Command::Alert(Alert {
        cmd_id,
        data: code,
        correlator: None,
        items: vec![],
    })
}

fn item(uri: &str, value: &str) -> Item {
    Item {
        source: Some(uri.into()),
        data: Some(ItemData::Text(value.into())),
        ..Item::default()
    }
}

/// The device's Replace of its DevInfo/Man.
fn replace_man(cmd_id: u32, man: &str) -> Command {
    Command::Replace(ItemCmd {
        cmd_id,
        correlator: None,
        meta: None,
        items: vec![item("./DevInfo/Man", man)],
    })
}

fn md5_of(nonce: &[u8]) -> Cred {
    Cred {
        format: Some("b64".into()),
        auth_type: "syncml:auth-md5".into(),
        data: auth::md5_digest(DEV, PASSWORD, nonce).to_vec(),
    }
}

async fn make(app: &TestApp, device_id: i64) -> String {
    let (_, token) = app.token(mdm::auth::Role::Admin).await;
    let d: Value = app
        .api(Method::GET, &format!("/devices/{device_id}"), &token)
        .send_json()
        .await;
    d["device"]["make"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_device_that_signs_with_hmac_must_sign_every_message_and_gets_signed_replies() {
    for enc in ENCODINGS {
        let app = spawn_app().await;
        let (device_id, _) = setup(&app, false).await;
        let acct = app.dm_account(device_id).await;
        let first = dm_message("720", 1, 60_000, None, vec![alert(1, 1201)])
            .encode(enc)
            .unwrap();
        let mac = auth::hmac_header(DEV, PASSWORD, &acct.client_nonce_bytes(), &first);
        let r = send_raw(&app, &app.url("/omadm"), first, enc, Some(mac)).await;
        let hs = hdr_status(&r.msg);
        assert_eq!(hs.data, 212, "{enc:?}");
        let chal = hs.chal.clone().expect("the next nonce");
        assert_eq!(chal.auth_type, "syncml:auth-MAC");
        // The server proves itself over the very bytes it sent, with its
        // own credentials, not with a Cred.
        assert!(r.msg.hdr.cred.is_none());
        let server = auth::parse_hmac_header(&r.hmac.expect("a signed reply")).unwrap();
        assert_eq!(server.username, acct.server_id);
        assert!(auth::verify_hmac(
            &server,
            &acct.server_password,
            &acct.server_nonce_bytes(),
            &r.bytes
        ));
        let url = r.msg.hdr.resp_uri.clone().unwrap();

        // A forged message 2, to the right RespURI even: a MAC that fails,
        // or none at all, is refused and changes nothing.
        let evil = dm_message("720", 2, 60_000, None, vec![replace_man(2, "Evil")])
            .encode(enc)
            .unwrap();
        let forged = format!("algorithm=MD5, username=\"{DEV}\", mac=AAAAAAAAAAAAAAAAAAAAAA==");
        for mac in [Some(forged), None] {
            let r = send_raw(&app, &url, evil.clone(), enc, mac).await;
            assert_eq!(hdr_status(&r.msg).data, 401, "{enc:?}");
            assert_eq!(status_of(&r.msg, "Replace", 2), None);
        }
        assert_eq!(make(&app, device_id).await, "Samsung");

        // Signed with the nonce it was given, message 2 goes through.
        let mac = auth::hmac_header(DEV, PASSWORD, &chal.next_nonce, &evil);
        let r = send_raw(&app, &url, evil, enc, Some(mac)).await;
        assert_eq!(hdr_status(&r.msg).data, 200);
        assert_eq!(status_of(&r.msg, "Replace", 2), Some(200));
        assert_eq!(make(&app, device_id).await, "Evil");
        let server = auth::parse_hmac_header(&r.hmac.expect("every reply is signed")).unwrap();
        assert!(auth::verify_hmac(
            &server,
            &acct.server_password,
            &acct.server_nonce_bytes(),
            &r.bytes
        ));
    }
}

#[tokio::test]
async fn an_md5_session_goes_on_only_through_the_token_of_its_resp_uri() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    let cred = md5_cred(&app).await;
    let enc = Encoding::Wbxml;
    let r = send(
        &app,
        &app.url("/omadm"),
        &dm_message("721", 1, 60_000, Some(cred), vec![alert(1, 1201)]),
        enc,
    )
    .await;
    assert_eq!(hdr_status(&r.msg).data, 212);
    let next = hdr_status(&r.msg).chal.clone().unwrap().next_nonce;
    let url = r.msg.hdr.resp_uri.clone().unwrap();
    let token = url.split("s=").nth(1).expect("a token in the RespURI");
    assert!(token.len() >= 22, "{url}");
    assert!(!url.contains(&format!("{device_id}%3A721")), "{url}");

    // Without credentials, a message that knows the DevId and SessionID
    // but not the token is refused: nothing runs.
    let evil = dm_message("721", 2, 60_000, None, vec![replace_man(2, "Evil")]);
    for wrong in [
        app.url("/omadm"),
        app.url("/omadm?s=guess"),
        app.url(&format!("/omadm?s={device_id}%3A721")),
    ] {
        let r = send(&app, &wrong, &evil, enc).await;
        assert_eq!(hdr_status(&r.msg).data, 407, "{wrong}");
        // The challenge keeps the nonce: the real session is not disturbed.
        assert_eq!(hdr_status(&r.msg).chal.as_ref().unwrap().next_nonce, next);
        assert_eq!(status_of(&r.msg, "Replace", 2), None);
    }
    assert_eq!(make(&app, device_id).await, "Samsung");
    // Nor does a forged message 1 end the live session.
    let forged = dm_message(
        "721",
        1,
        60_000,
        Some(md5_of(b"a guess")),
        vec![alert(1, 1201)],
    );
    let r = send(&app, &app.url("/omadm"), &forged, enc).await;
    assert_eq!(hdr_status(&r.msg).data, 401);
    let next = hdr_status(&r.msg).chal.clone().unwrap().next_nonce;
    let r = send(&app, &url, &evil, enc).await;
    assert_eq!(hdr_status(&r.msg).data, 200);
    assert_eq!(status_of(&r.msg, "Replace", 2), Some(200));
    assert_eq!(make(&app, device_id).await, "Evil");

    // A message with valid credentials proves itself anywhere.
    let r = send(
        &app,
        &app.url("/omadm"),
        &dm_message(
            "721",
            3,
            60_000,
            Some(md5_of(&next)),
            vec![replace_man(2, "Ok")],
        ),
        enc,
    )
    .await;
    assert_eq!(hdr_status(&r.msg).data, 212);
    assert_eq!(make(&app, device_id).await, "Ok");
}

#[tokio::test]
async fn the_server_sends_its_credentials_again_when_refused_and_gives_up_at_the_second_refusal() {
    for refusal in [401, 407] {
        let app = spawn_app().await;
        let (device_id, _) = setup(&app, false).await;
        let acct = app.dm_account(device_id).await;
        let server_cred =
            |nonce: &[u8]| auth::md5_digest(&acct.server_id, &acct.server_password, nonce).to_vec();
        let enc = Encoding::Xml;
        let cred = md5_cred(&app).await;
        let r = send(
            &app,
            &app.url("/omadm"),
            &dm_message("722", 1, 60_000, Some(cred), vec![alert(1, 1201)]),
            enc,
        )
        .await;
        assert_eq!(
            r.msg.hdr.cred.as_ref().map(|c| c.data.clone()),
            Some(server_cred(&acct.server_nonce_bytes()))
        );
        let url = r.msg.hdr.resp_uri.clone().unwrap();

        // Refused, with a new nonce: the next reply proves the server with it.
        let m = dm_message(
            "722",
            2,
            60_000,
            None,
            vec![hdr_answer(
                1,
                r.msg.hdr.msg_id,
                refusal,
                b"nonce-from-the-handset",
            )],
        );
        let r = send(&app, &url, &m, enc).await;
        assert_eq!(hdr_status(&r.msg).data, 200);
        assert_eq!(
            r.msg.hdr.cred.as_ref().map(|c| c.data.clone()),
            Some(server_cred(b"nonce-from-the-handset")),
            "{refusal}"
        );
        assert!(!names(&r.msg).contains(&"Alert"));

        // Refused again: the server ends the session.
        let m = dm_message(
            "722",
            3,
            60_000,
            None,
            vec![hdr_answer(1, r.msg.hdr.msg_id, refusal, b"another-nonce")],
        );
        let r = send(&app, &url, &m, enc).await;
        let abort = r
            .msg
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.data == 1223));
        assert!(abort, "{:?}", r.msg.body.commands);
        assert!(r.msg.body.final_);
        // Over: its RespURI no longer continues it.
        let m = dm_message("722", 4, 60_000, None, vec![replace_man(1, "Evil")]);
        let r = send(&app, &url, &m, enc).await;
        assert_eq!(hdr_status(&r.msg).data, 407);
        assert_eq!(make(&app, device_id).await, "Samsung");
    }
}

/// Runs the client-initiated FOTA session through the query and the offer
/// in `enc` with the given MaxMsgSize; returns every server message's bytes
/// and the message.
async fn offer_in(enc: Encoding, max: u32) -> Vec<(usize, Message)> {
    let app = spawn_app().await;
    setup(&app, true).await;
    let r = ask_fota_url(&app, DEV).await;
    let mut url = r.headers()["location"].to_str().unwrap().to_string();
    let cred = md5_cred(&app).await;
    let mut msg_id = 1;
    let mut out = Vec::new();
    let mut commands = vec![alert(1, 1201)];
    let mut cred = Some(cred);
    let mut answered_query = false;
    // Asking for the rest of the server's package: the device's package
    // stays open meanwhile (no Final), as OMA-DM Protocol 1.2 wants.
    let mut asking = false;
    loop {
        let mut m = dm_message("7", msg_id, max, cred.take(), std::mem::take(&mut commands));
        m.body.final_ = !std::mem::take(&mut asking);
        let r = send(&app, &url, &m, enc).await;
        msg_id += 1;
        url = r.msg.hdr.resp_uri.clone().unwrap();
        let get = crate::common::get_cmd_id(&r.msg);
        let done = r.msg.body.final_;
        let reply_id = r.msg.hdr.msg_id;
        out.push((r.bytes.len(), r.msg));
        if let Some(get) = get {
            answered_query = true;
            commands.push(Command::Results(Results {
                cmd_id: 2,
                msg_ref: reply_id,
                cmd_ref: get,
                items: vec![
                    item("./DevInfo/Man", "Samsung"),
                    item("./DevInfo/Mod", "SCH-U960"),
                    item("./DevDetail/FwV", "U960.05"),
                ],
            }));
        } else if !done {
            commands.push(alert(1, 1222));
            asking = true;
        } else if answered_query || out.len() > 12 {
            return out;
        }
    }
}

#[tokio::test]
async fn an_xml_session_gets_messages_within_its_max_msg_size_measured_in_xml() {
    let names_of = |ms: &[(usize, Message)]| {
        let mut v: Vec<String> = ms
            .iter()
            .flat_map(|(_, m)| names(m).into_iter().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    let roomy = offer_in(Encoding::Xml, 60_000).await;
    assert_eq!(names_of(&roomy), ["Exec", "Get", "Replace"]);
    let largest = roomy.iter().map(|(n, _)| *n).max().unwrap() as u32;
    let limit = largest - 8;
    let tight = offer_in(Encoding::Xml, limit).await;
    assert!(
        tight.iter().all(|(n, _)| *n as u32 <= limit),
        "{:?} over {limit}",
        tight.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert!(tight.len() > roomy.len());
    assert_eq!(names_of(&tight), names_of(&roomy), "nothing is lost");
}

/// Sets up a FOTA session answered up to the query; returns the app, the
/// device, the URL to go on at, the next MsgID and the query's reference.
async fn queried(enc: Encoding) -> (TestApp, i64, String, u32, (u32, u32)) {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let r = ask_fota_url(&app, DEV).await;
    let url = r.headers()["location"].to_str().unwrap().to_string();
    let cred = md5_cred(&app).await;
    let r = send(
        &app,
        &url,
        &dm_message("9", 1, 60_000, Some(cred), vec![alert(1, 1201)]),
        enc,
    )
    .await;
    let get = crate::common::get_cmd_id(&r.msg).expect("the make-model-version query");
    let url = r.msg.hdr.resp_uri.clone().unwrap();
    (app, device_id, url, 2, (r.msg.hdr.msg_id, get))
}

/// The query's Results with FwV as one chunk of `size` bytes.
fn results_chunk(
    cmd_id: u32,
    query: (u32, u32),
    fwv: &str,
    size: Option<u64>,
    more: bool,
) -> Command {
    let mut fw = item("./DevDetail/FwV", fwv);
    fw.more_data = more;
    fw.meta = size.map(|s| Meta {
        format: Some("chr".into()),
        size: Some(s),
        ..Meta::default()
    });
    let mut items = vec![];
    if size.is_some() {
        items.push(item("./DevInfo/Man", "Samsung"));
        items.push(item("./DevInfo/Mod", "SCH-U960"));
    }
    items.push(fw);
    Command::Results(Results {
        cmd_id,
        msg_ref: query.0,
        cmd_ref: query.1,
        items,
    })
}

fn non_final(mut m: Message) -> Message {
    m.body.final_ = false;
    m
}

#[tokio::test]
async fn a_large_object_in_chunks_is_assembled_on_any_node_before_it_is_used() {
    for enc in ENCODINGS {
        let (app, device_id, url, msg_id, query) = queried(enc).await;
        // First chunk: accepted and buffered; the server asks for the next
        // message and sends no command meanwhile.
        let m = non_final(dm_message(
            "9",
            msg_id,
            60_000,
            None,
            vec![results_chunk(2, query, "U96", Some(7), true)],
        ));
        let r = send(&app, &url, &m, enc).await;
        assert_eq!(status_of(&r.msg, "Results", 2), Some(213), "{enc:?}");
        assert_eq!(names(&r.msg), ["Alert"]);
        assert!(!r.msg.body.final_, "the Next Message answer has no Final");
        let next = r.msg.body.commands.iter().find_map(|c| match c {
            Command::Alert(a) => Some(a.clone()),
            _ => None,
        });
        assert_eq!(next.as_ref().map(|a| a.data), Some(1222));
        assert_eq!(sessions(&app, device_id).await[0].state, "querying");

        // The last chunk goes to another node: the chunks are with the
        // session in the database.
        let data_dir = app.data_dir.clone();
        let other = app
            .second_node(move |c| c.data_dir = data_dir)
            .await
            .unwrap();
        let url = url.replace(&app.base, &other.base);
        let ack = Command::Status(Status {
            cmd_id: 1,
            msg_ref: r.msg.hdr.msg_id,
            cmd_ref: next.unwrap().cmd_id,
            cmd: "Alert".into(),
            target_refs: vec![],
            source_refs: vec![],
            chal: None,
            data: 200,
            items: vec![],
        });
        let m = dm_message(
            "9",
            msg_id + 1,
            60_000,
            None,
            vec![ack, results_chunk(2, query, "0.05", None, false)],
        );
        let r = send(&other, &url, &m, enc).await;
        assert_eq!(status_of(&r.msg, "Results", 2), Some(200));
        // Only the whole FwV, U960.05, finds the package offered.
        assert_eq!(names(&r.msg), ["Replace", "Exec"], "{enc:?}");
        assert_eq!(sessions(&app, device_id).await[0].state, "offered");
    }
}

#[tokio::test]
async fn chunks_that_do_not_make_their_size_or_stop_early_are_refused() {
    let enc = Encoding::Wbxml;
    // Short by a byte: 424 on the last chunk, and nothing is used.
    let (app, device_id, url, msg_id, query) = queried(enc).await;
    let first = non_final(dm_message(
        "9",
        msg_id,
        60_000,
        None,
        vec![results_chunk(2, query, "U96", Some(7), true)],
    ));
    send(&app, &url, &first, enc).await;
    let m = dm_message(
        "9",
        msg_id + 1,
        60_000,
        None,
        vec![results_chunk(2, query, "0.0", None, false)],
    );
    let r = send(&app, &url, &m, enc).await;
    assert_eq!(status_of(&r.msg, "Results", 2), Some(424));
    assert!(!names(&r.msg).contains(&"Replace"));
    assert_eq!(sessions(&app, device_id).await[0].state, "querying");

    // A new command instead of the next chunk: Alert 1225 naming the
    // object, which is dropped; the new command runs.
    let m = non_final(dm_message(
        "9",
        msg_id + 2,
        60_000,
        None,
        vec![results_chunk(2, query, "U96", Some(7), true)],
    ));
    send(&app, &url, &m, enc).await;
    let m = dm_message(
        "9",
        msg_id + 3,
        60_000,
        None,
        vec![replace_man(3, "Samsung")],
    );
    let r = send(&app, &url, &m, enc).await;
    let no_end = r.msg.body.commands.iter().find_map(|c| match c {
        Command::Alert(a) if a.data == 1225 => Some(a.clone()),
        _ => None,
    });
    let no_end = no_end.expect("Alert 1225");
    assert_eq!(no_end.items[0].source.as_deref(), Some("./DevDetail/FwV"));
    assert_eq!(status_of(&r.msg, "Replace", 3), Some(200));
    assert_eq!(sessions(&app, device_id).await[0].state, "querying");

    // No Size on the first chunk: 411; larger than the server takes: 413.
    for (size, code) in [(None, 411), (Some(1_000_000), 413)] {
        let mut chunk = results_chunk(2, query, "U96", Some(7), true);
        if let Command::Results(r) = &mut chunk {
            r.items[2].meta.as_mut().unwrap().size = size;
        }
        let m = non_final(dm_message(
            "9",
            msg_id + 4 + u32::from(code == 413),
            60_000,
            None,
            vec![chunk],
        ));
        let r = send(&app, &url, &m, enc).await;
        assert_eq!(status_of(&r.msg, "Results", 2), Some(code));
    }
}

#[tokio::test]
async fn basic_credentials_of_meid_and_esn_usernames_authenticate_when_enabled() {
    let app = spawn_app_with(|c| c.dm_allow_basic = true).await;
    let (_, token) = setup(&app, false).await;
    app.esn_handset_with_dm_account(&token, "esn:secret").await;
    for (dev, password, ok) in [
        (DEV, PASSWORD, true),
        ("ESN:9F100001", "esn:secret", true),
        ("ESN:9F100001", "esn", false),
    ] {
        let mut m = dm_message("31", 1, 60_000, None, vec![alert(1, 1201)]);
        m.hdr.source = dev.into();
        m.hdr.cred = Some(Cred {
            format: Some("b64".into()),
            auth_type: "syncml:auth-basic".into(),
            data: format!("{dev}:{password}").into_bytes(),
        });
        for enc in ENCODINGS {
            let r = send(&app, &app.url("/omadm"), &m, enc).await;
            let want = if ok { 212 } else { 401 };
            assert_eq!(hdr_status(&r.msg).data, want, "{dev} {password} {enc:?}");
        }
    }
}

#[tokio::test]
async fn the_max_msg_size_advertised_is_the_configured_limit() {
    let app = spawn_app_with(|c| c.dm_max_body = 16_384).await;
    setup(&app, false).await;
    let cred = md5_cred(&app).await;
    let r = send(
        &app,
        &app.url("/omadm"),
        &dm_message("32", 1, 60_000, Some(cred), vec![alert(1, 1201)]),
        Encoding::Xml,
    )
    .await;
    assert_eq!(hdr_status(&r.msg).data, 212);
    assert_eq!(r.msg.hdr.max_msg_size, Some(16_384));
    // And it holds: a larger message is refused.
    let r = app
        .client
        .post(app.url("/omadm"))
        .header("content-type", Encoding::Xml.content_type())
        .body(vec![b' '; 20_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

#[tokio::test]
async fn an_unsupported_command_is_answered_406_under_its_own_name() {
    let app = spawn_app().await;
    setup(&app, false).await;
    let cred = md5_cred(&app).await;
    let unknown = |name: &str, cmd_id| Command::Unknown {
        name: name.into(),
        cmd_id,
    };
    let m = dm_message(
        "33",
        1,
        60_000,
        Some(cred),
        vec![alert(1, 1201), unknown("Sync", 2), unknown("Put", 3)],
    );
    let r = send(&app, &app.url("/omadm"), &m, Encoding::Xml).await;
    assert_eq!(status_of(&r.msg, "Sync", 2), Some(406));
    assert_eq!(status_of(&r.msg, "Put", 3), Some(406));
    assert!(!statuses(&r.msg).iter().any(|s| s.cmd == "Unknown"));
    let url = r.msg.hdr.resp_uri.clone().unwrap();
    let m = dm_message("33", 2, 60_000, None, vec![unknown("Search", 1)]);
    let r = send(&app, &url, &m, Encoding::Wbxml).await;
    assert_eq!(status_of(&r.msg, "Search", 1), Some(406));
}

#[tokio::test]
async fn other_dtd_or_protocol_versions_are_refused_and_nothing_runs() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    for (dtd, proto, code) in [
        ("1.1", "DM/1.1", 505),
        ("1.1", "DM/1.2", 505),
        ("1.2", "DM/1.1", 513),
        ("1.2", "SyncML/1.1", 513),
    ] {
        for enc in ENCODINGS {
            let nonce = app.dm_account(device_id).await.client_nonce_bytes();
            let mut m = dm_message(
                "34",
                1,
                60_000,
                Some(md5_of(&nonce)),
                vec![alert(1, 1201), replace_man(2, "Evil")],
            );
            m.hdr.ver_dtd = dtd.into();
            m.hdr.ver_proto = proto.into();
            let r = send(&app, &app.url("/omadm"), &m, enc).await;
            assert_eq!(hdr_status(&r.msg).data, code, "{dtd} {proto} {enc:?}");
            assert_eq!(statuses(&r.msg).len(), 1, "only the header is answered");
            assert_eq!(make(&app, device_id).await, "Samsung");
            // Not even the authentication ran: the nonce is as it was.
            assert_eq!(app.dm_account(device_id).await.client_nonce_bytes(), nonce);
        }
    }
}

#[tokio::test]
async fn commands_with_an_invalid_or_repeated_cmd_id_are_refused_and_not_run() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    let cred = md5_cred(&app).await;
    // CmdID 0 would be confused with the SyncHdr's CmdRef 0.
    let r = send(
        &app,
        &app.url("/omadm"),
        &dm_message(
            "35",
            1,
            60_000,
            Some(cred),
            vec![alert(1, 1201), replace_man(0, "Evil")],
        ),
        Encoding::Wbxml,
    )
    .await;
    assert_eq!(hdr_status(&r.msg).data, 212);
    assert_eq!(status_of(&r.msg, "Alert", 1), Some(200));
    assert_eq!(status_of(&r.msg, "Replace", 0), Some(400));
    assert_eq!(make(&app, device_id).await, "Samsung");
    let url = r.msg.hdr.resp_uri.clone().unwrap();

    // Two commands with one CmdID: neither runs.
    let r = send(
        &app,
        &url,
        &dm_message(
            "35",
            2,
            60_000,
            None,
            vec![replace_man(4, "Evil"), alert(4, 1201)],
        ),
        Encoding::Xml,
    )
    .await;
    assert_eq!(status_of(&r.msg, "Replace", 4), Some(400));
    assert_eq!(status_of(&r.msg, "Alert", 4), Some(400));
    assert_eq!(make(&app, device_id).await, "Samsung");

    // Not a number, or empty.
    for (i, bad) in ["x", ""].into_iter().enumerate() {
        let xml = dm_message(
            "35",
            3 + i as u32,
            60_000,
            None,
            vec![replace_man(7, "Evil")],
        )
        .to_xml()
        .replace("<CmdID>7</CmdID>", &format!("<CmdID>{bad}</CmdID>"));
        let r = send_raw(&app, &url, xml.into_bytes(), Encoding::Xml, None).await;
        assert_eq!(status_of(&r.msg, "Replace", 0), Some(400), "{bad:?}");
        assert_eq!(make(&app, device_id).await, "Samsung");
    }
    // A valid one still runs.
    let r = send(
        &app,
        &url,
        &dm_message("35", 5, 60_000, None, vec![replace_man(1, "Fine")]),
        Encoding::Xml,
    )
    .await;
    assert_eq!(status_of(&r.msg, "Replace", 1), Some(200));
    assert_eq!(make(&app, device_id).await, "Fine");
}
