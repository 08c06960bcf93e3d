//! What the OMA-DM server gives away: an unknown DevId is answered as a
//! registered device with wrong credentials, and lists of DM jobs show
//! long values and summaries cut short while a job's own view keeps them.

use std::time::Duration;

use diesel::prelude::*;
use mdm::omadm::syncml::{Command, Cred, Encoding, Message};
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{run_mdm, spawn_app, SendJson, TestApp};
use crate::fota::{dm_message, setup};
use crate::messaging::{app_with_smsc, handset, line, pushes, start_smsc};

/// One package 1 as a handset with this DevId sends it; the HTTP status,
/// content type, whether it carried a MAC, and the decoded answer.
async fn package_1(
    app: &TestApp,
    dev_id: &str,
    cred: Option<Cred>,
    hmac: Option<&str>,
) -> (u16, String, bool, Message) {
    let mut m = dm_message("5", 1, 10_000, cred, Vec::new());
    m.hdr.source = dev_id.into();
    let mut req = app
        .client
        .post(app.url("/omadm"))
        .header("content-type", "application/vnd.syncml.dm+wbxml")
        .body(m.encode(Encoding::Wbxml).unwrap());
    if let Some(h) = hmac {
        req = req.header("x-syncml-hmac", h);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let mac = r.headers().contains_key("x-syncml-hmac");
    let reply = Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap();
    (status, ct, mac, reply)
}

/// The answer with what must differ (the DevId echoed, the nonce) blanked,
/// and the nonce.
fn shape(mut reply: Message) -> (String, Vec<u8>) {
    let Some(Command::Status(st)) = reply.body.commands.first_mut() else {
        panic!("{reply:?}");
    };
    st.source_refs.clear();
    let nonce = st
        .chal
        .as_mut()
        .map(|c| std::mem::take(&mut c.next_nonce))
        .unwrap_or_default();
    reply.hdr.target = String::new();
    (format!("{reply:?}"), nonce)
}

async fn stored(app: &TestApp) -> (i64, i64) {
    app.with_conn(|c| {
        use mdm::db::schema::{audit_events, dm_sessions};
        (
            dm_sessions::table.count().get_result::<i64>(c).unwrap(),
            audit_events::table.count().get_result::<i64>(c).unwrap(),
        )
    })
    .await
}

#[tokio::test]
async fn an_unknown_devid_is_answered_as_a_known_one_with_wrong_credentials() {
    let app = spawn_app().await;
    setup(&app, false).await;
    let known = "MEID:A1000012345678";
    let unknown = "MEID:A1FFFFFFFFFFFF";
    let wrong = Cred {
        format: Some("b64".into()),
        auth_type: "syncml:auth-md5".into(),
        data: vec![0; 16],
    };
    let forged_mac =
        |user: &str| format!("algorithm=MD5, username=\"{user}\", mac=AAAAAAAAAAAAAAAAAAAAAA==");

    let before = stored(&app).await;
    let cases: [(Option<Cred>, bool, u16); 3] = [
        (None, false, 407),
        (Some(wrong), false, 401),
        (None, true, 401),
    ];
    for (cred, hmac, code) in cases {
        let k_mac = hmac.then(|| forged_mac(known));
        let u_mac = hmac.then(|| forged_mac(unknown));
        let k = package_1(&app, known, cred.clone(), k_mac.as_deref()).await;
        let u = package_1(&app, unknown, cred.clone(), u_mac.as_deref()).await;
        let again = package_1(&app, unknown, cred, u_mac.as_deref()).await;
        assert_eq!((k.0, &k.1, k.2), (u.0, &u.1, u.2), "HTTP status, type, MAC");
        let Command::Status(st) = &u.3.body.commands[0] else {
            panic!("{:?}", u.3);
        };
        assert_eq!(st.data, code, "{:?}", u.3);
        let chal = st.chal.as_ref().expect("a challenge");
        let expected = if hmac {
            "syncml:auth-MAC"
        } else {
            "syncml:auth-md5"
        };
        assert_eq!(chal.auth_type, expected);
        let (k_shape, k_nonce) = shape(k.3);
        let (u_shape, u_nonce) = shape(u.3);
        let (_, again_nonce) = shape(again.3);
        assert_eq!(k_shape, u_shape);
        assert_eq!(u_nonce.len(), k_nonce.len());
        assert_ne!(u_nonce, again_nonce, "a fresh nonce every time");
    }
    // Nothing stored for the unknown DevId (the known device's nonce
    // rolls in dm_accounts, no session or audit row either way).
    assert_eq!(stored(&app).await, before);
}

#[tokio::test]
async fn job_lists_cut_long_values_and_summaries_but_a_job_keeps_them_whole() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, token) = line(&app).await;
    // Multi-byte characters: a cut by bytes would split one.
    let long = format!("http://portal.example.net/{}", "é".repeat(480));
    let mut commands = vec![
        json!({"command": "replace", "path": "./Customization/BrowserHome", "value": long}),
        json!({"command": "get", "path": "./Customization/BrowserHome"}),
    ];
    for n in 0..18 {
        commands.push(json!({"command": "get", "path": format!("./No/Such/Node/Anywhere/In/The/Tree/{n:02}")}));
    }
    let r = app
        .api(
            Method::POST,
            &format!("/devices/{device_id}/dm-jobs"),
            &token,
        )
        .json(&json!({ "commands": commands }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let job_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    assert!(smsc.wait_for_accepted(1, Duration::from_secs(10)).await);
    let push = pushes(&smsc.accepted()).remove(0);
    let mut h = handset(&app, device_id, "VX9600V04").await;
    h.run_notified(&push.push.body, &Trace::new(None).unwrap())
        .await
        .expect("notified session runs");

    // The API and `mdm dm job ID` keep everything.
    let job: Value = app
        .api(Method::GET, &format!("/dm-jobs/{job_id}"), &token)
        .send_json()
        .await;
    assert_eq!(job["results"][1]["value"], long.as_str());
    let detail = job["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("18 failed"), "{detail}");
    assert!(detail.chars().count() > 500, "{detail}");
    let tree_17 = "./No/Such/Node/Anywhere/In/The/Tree/17";
    assert!(detail.contains(tree_17), "{detail}");
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["dm", "job", &job_id.to_string()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&long), "{out}");
    assert!(out.contains(&detail), "{out}");

    // `mdm dm jobs` and the device page cut them.
    let clipped_value = format!("{}…", long.chars().take(120).collect::<String>());
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["dm", "jobs", "--device", "A1000012345678"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(&long), "{out}");
    assert!(out.contains(&format!(" = {clipped_value}")), "{out}");
    assert!(!out.contains(&detail), "the summary is cut: {out}");
    for l in out.lines() {
        assert!(l.chars().count() < 200, "{l}");
    }

    app.login_admin().await;
    let (status, page) = app.page(&format!("/devices/{device_id}")).await;
    assert_eq!(status, 200);
    // The DM jobs table (the timeline keeps the audit record whole).
    let jobs = &page[page.find("id=\"dm-jobs\"").unwrap()..];
    let jobs = &jobs[..jobs.find("</table>\n").unwrap()];
    assert!(!jobs.contains(&long), "{jobs}");
    assert!(jobs.contains(&clipped_value), "{jobs}");
    assert!(!jobs.contains(&detail), "{jobs}");
    assert!(jobs.contains("18 failed"), "{jobs}");
}
