//! `mdm smsc-sim --answer-as-handsets` against the real server: several
//! notifications for one handset sent together are answered one session
//! after the other, as a real handset would, so none of them fails
//! authentication and every job completes; different handsets still answer
//! side by side.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdm::auth::Role;
use mdm::messaging::smpp::SmscConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, spawn_app_with, SendJson, TestApp};
use crate::messaging::{DEVICE_PASSWORD, SERVER_PASSWORD};

/// The `mdm smsc-sim` process, ended with the test; what it printed is kept
/// to explain a failure.
struct SmscSim {
    child: Child,
    printed: Arc<Mutex<Vec<String>>>,
}

impl Drop for SmscSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmscSim {
    fn printed(&self) -> String {
        self.printed.lock().unwrap().join("\n")
    }
}

/// A loopback port nothing listens on now, for the SMSC the server is told
/// about before it runs (the server's SMPP link keeps reconnecting).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server, sending through an SMSC on `port`.
async fn app_sending_to(port: u16) -> TestApp {
    let mut smsc = SmscConfig::from_url(&format!("smpp://mdm:smpp-pw@127.0.0.1:{port}")).unwrap();
    smsc.reconnect_min = Duration::from_millis(50);
    smsc.reconnect_max = Duration::from_millis(400);
    spawn_app_with(move |c| {
        c.smsc = Some(smsc);
        c.sms_max_parts = 8;
    })
    .await
}

/// Starts `mdm smsc-sim` on `port` playing the handsets of `app`'s database,
/// and waits until it listens.
async fn start_smsc_sim(app: &TestApp, port: u16) -> SmscSim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args([
            "smsc-sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--system-id",
            "mdm",
            "--password",
            "smpp-pw",
            "--answer-as-handsets",
            &app.base,
        ])
        .env("DATABASE_URL", &app.database_url)
        .env("MDM_DATA_DIR", &app.data_dir)
        .env("MDM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("smsc-sim starts");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let printed = Arc::new(Mutex::new(Vec::new()));
    let lines = printed.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    let sim = SmscSim { child, printed };
    for _ in 0..200 {
        if sim.printed().contains("test SMSC listening") {
            return sim;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("smsc-sim did not start: {}", sim.printed());
}

/// A subscriber line with an LG VX9600 MEID handset holding OMA-DM credentials.
async fn handset_line(app: &TestApp, token: &str, mdn: &str, meid: &str) -> i64 {
    let r = app
        .api(Method::POST, "/profiles", token)
        .json(&profile_json(mdn))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = app
        .api(Method::POST, "/devices", token)
        .json(&json!({"meid": meid, "make": "LG", "model": "VX9600",
            "firmware_version": "VX9600V04", "profile_mdn": mdn}))
        .send_json()
        .await;
    let device_id = d["id"].as_i64().unwrap();
    app.set_dm_credentials(
        device_id,
        &format!("MEID:{meid}"),
        DEVICE_PASSWORD,
        SERVER_PASSWORD,
    )
    .await;
    device_id
}

/// The README's three jobs: a refresh, commands, the lock preset.
fn readme_jobs() -> [Value; 3] {
    [
        json!({"job": "refresh"}),
        json!({"commands": [
            {"command": "get", "path": "./DevDetail/SwV"},
            {"command": "replace", "path": "./Customization/BrowserHome", "value": "http://wap.example.net/"},
            {"command": "get", "path": "./Customization"}
        ]}),
        json!({"preset": "lock"}),
    ]
}

/// Queues `body` for the device; returns the job's id.
async fn queue(app: &TestApp, token: &str, device_id: i64, body: Value) -> i64 {
    let r = app
        .api(
            Method::POST,
            &format!("/devices/{device_id}/dm-jobs"),
            token,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{body}");
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["state"], "notified", "{job}");
    job["id"].as_i64().unwrap()
}

/// Waits for every job to leave "notified" and "running"; returns them.
async fn finished(app: &TestApp, token: &str, jobs: &[i64], sim: &SmscSim) -> Vec<Value> {
    for _ in 0..300 {
        let mut seen = Vec::new();
        for id in jobs {
            let job: Value = app
                .api(Method::GET, &format!("/dm-jobs/{id}"), token)
                .send_json()
                .await;
            seen.push(job);
        }
        if seen
            .iter()
            .all(|j| j["state"] != "notified" && j["state"] != "running")
        {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "jobs {jobs:?} still wait for the device; the SMSC printed:\n{}",
        sim.printed()
    );
}

fn assert_all_done(jobs: &[Value], sim: &SmscSim) {
    for job in jobs {
        assert_eq!(
            job["state"],
            "done",
            "{job}\nthe SMSC printed:\n{}",
            sim.printed()
        );
    }
}

/// No simulated session failed (a 401 of two sessions racing, say).
fn assert_handsets_only_called_back(printed: &str) {
    for line in printed.lines().filter(|l| l.starts_with("  handset")) {
        assert!(line.contains("called back with session id"), "{printed}");
    }
}

#[tokio::test]
async fn three_notifications_for_one_handset_sent_together_all_complete() {
    let port = free_port();
    let app = app_sending_to(port).await;
    let (_, token) = app.token(Role::Admin).await;
    let device_id = handset_line(&app, &token, "3125550100", "A1000012345678").await;
    let sim = start_smsc_sim(&app, port).await;

    let [a, b, c] = readme_jobs();
    let (a, b, c) = tokio::join!(
        queue(&app, &token, device_id, a),
        queue(&app, &token, device_id, b),
        queue(&app, &token, device_id, c),
    );
    let jobs = finished(&app, &token, &[a, b, c], &sim).await;
    assert_all_done(&jobs, &sim);
    let printed = sim.printed();
    assert_eq!(
        printed.matches("called back with session id").count(),
        3,
        "{printed}"
    );
    assert_handsets_only_called_back(&printed);
    // The commands ran on the handset: what they set reads back.
    let commands = jobs.iter().find(|j| j["kind"] == "commands").unwrap();
    assert!(
        commands["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["command"] == "get ./Customization" && r["status"] == 200),
        "{commands}"
    );
}

#[tokio::test]
async fn two_handsets_notified_together_both_complete() {
    let port = free_port();
    let app = app_sending_to(port).await;
    let (_, token) = app.token(Role::Admin).await;
    let first = handset_line(&app, &token, "3125550100", "A1000012345678").await;
    let second = handset_line(&app, &token, "3125550101", "A1000012345679").await;
    let sim = start_smsc_sim(&app, port).await;

    let [a, b, _] = readme_jobs();
    let [c, d, _] = readme_jobs();
    let (a, b, c, d) = tokio::join!(
        queue(&app, &token, first, a),
        queue(&app, &token, second, c),
        queue(&app, &token, first, b),
        queue(&app, &token, second, d),
    );
    let jobs = finished(&app, &token, &[a, b, c, d], &sim).await;
    assert_all_done(&jobs, &sim);
    let printed = sim.printed();
    assert_eq!(
        printed.matches("called back with session id").count(),
        4,
        "{printed}"
    );
    assert_handsets_only_called_back(&printed);
}
