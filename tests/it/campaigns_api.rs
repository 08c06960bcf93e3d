//! FOTA campaigns over the REST API: planned, driven and followed with a
//! firmware manager's token, on a server without an SMSC (notifications
//! wait in the outbox).

use mdm::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::campaigns::{line, meid};
use crate::common::{spawn_app, SendJson, TestApp};

fn plan(from: &str) -> Value {
    json!({
        "name": "VX9600 to V06",
        "make": "LG",
        "model": "VX9600",
        "from_version": from,
        "wave_size": 2,
        "failure_threshold": 50
    })
}

async fn status_and_body(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The device ids of a campaign's members in `state`, in id order.
async fn members_in(app: &TestApp, token: &str, id: i64, state: &str) -> Vec<i64> {
    let page: Value = app
        .api(
            Method::GET,
            &format!("/campaigns/{id}/devices?state={state}"),
            token,
        )
        .send_json()
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["state"], state, "{m}");
            m["device_id"].as_i64().unwrap()
        })
        .collect()
}

/// Ends the FOTA sessions of wave 1 as a handset that updated would.
async fn wave_one_updates(app: &TestApp, id: i64) {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::{fota_campaign_devices, fota_sessions};
        let sessions: Vec<Option<i64>> = fota_campaign_devices::table
            .filter(fota_campaign_devices::campaign_id.eq(id))
            .filter(fota_campaign_devices::wave.eq(1))
            .select(fota_campaign_devices::fota_session_id)
            .load(c)
            .unwrap();
        let sessions: Vec<i64> = sessions.into_iter().flatten().collect();
        assert_eq!(sessions.len(), 2, "wave 1 has two open sessions");
        diesel::update(fota_sessions::table.filter(fota_sessions::id.eq_any(sessions)))
            .set(fota_sessions::state.eq("succeeded"))
            .execute(c)
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_firmware_token_plans_starts_pauses_resumes_and_cancels_a_campaign() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Admin).await;
    let (_, fw) = app.token(Role::Firmware).await;
    // Waves of two by device id: lines 1 and 2, then 3 (no credentials:
    // skipped) and 4, then 5. Line 6 is at another version: not enrolled.
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(line(&app, &admin, n, "VX9600V04", n != 3).await);
    }
    let elsewhere = line(&app, &admin, 6, "VX9600V05", true).await;
    let package = app
        .release_package(&fw, "LG", "VX9600", "VX9600V04", "VX9600V06", 2000)
        .await;

    let r = app
        .api(Method::POST, "/campaigns", &fw)
        .json(&plan("VX9600V04"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let c: Value = r.json().await.unwrap();
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["state"], "draft");
    assert_eq!(c["devices"], 5);
    assert_eq!(c["waves"], 3);
    assert_eq!(c["wave"], 0);
    assert_eq!(c["package_id"], package);
    assert_eq!(c["to_version"], "VX9600V06");
    assert_eq!(c["created_by"], "api:firmware-client");
    assert_eq!(app.count("outbox").await, 0, "a draft notifies nobody");

    let list: Value = app.api(Method::GET, "/campaigns", &fw).send_json().await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["name"], "VX9600 to V06");
    assert_eq!(items[0]["progress"]["overall"]["queued"], 5);
    assert!(items[0]["progress"].get("waves").is_none());

    let one: Value = app
        .api(Method::GET, &format!("/campaigns/{id}"), &fw)
        .send_json()
        .await;
    assert_eq!(one["state"], "draft");
    assert_eq!(one["progress"]["overall"]["queued"], 5);
    let waves: Vec<i64> = one["progress"]["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["queued"].as_i64().unwrap())
        .collect();
    assert_eq!(waves, [2, 2, 1]);

    // Start: wave 1 is notified at once; without an SMSC the pushes wait
    // in the outbox for a node that has one.
    let (s, started) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/start"), &fw)).await;
    assert_eq!(s, 200, "{started}");
    assert_eq!(started["state"], "running");
    assert_eq!(started["wave"], 1);
    assert_eq!(started["notified"], 2);
    assert_eq!(started["skipped"], 0);
    assert!(started["started_at"].is_i64());
    assert_eq!(app.count("outbox").await, 2);
    assert_eq!(app.count("dm_jobs").await, 2);
    assert_eq!(members_in(&app, &fw, id, "notified").await, ids[..2]);
    let page: Value = app
        .api(
            Method::GET,
            &format!("/campaigns/{id}/devices?state=notified"),
            &fw,
        )
        .send_json()
        .await;
    assert_eq!(page["items"][0]["label"], meid(1));
    assert_eq!(page["items"][0]["wave"], 1);
    assert!(page["items"][0]["fota_session_id"].is_i64(), "{page}");
    assert!(page["next_after"].is_null());

    // Started twice: a conflict, and nobody is notified again.
    let (s, body) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/start"), &fw)).await;
    assert_eq!(s, 409);
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(
        body["error"]["message"],
        format!("campaign {id} is running: it cannot be started")
    );
    assert_eq!(app.count("outbox").await, 2);

    let (s, paused) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/pause"), &fw)).await;
    assert_eq!(s, 200, "{paused}");
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["detail"], "paused by api:firmware-client");
    assert!(paused.get("notified").is_none(), "{paused}");

    // While it is held, wave 1's handsets update; the resume settles them
    // and sends wave 2 at once: line 4 notified, line 3 skipped.
    wave_one_updates(&app, id).await;
    let (s, resumed) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/resume"), &fw)).await;
    assert_eq!(s, 200, "{resumed}");
    assert_eq!(resumed["state"], "running");
    assert_eq!(resumed["wave"], 2);
    assert_eq!(resumed["notified"], 1);
    assert_eq!(resumed["skipped"], 1);
    assert_eq!(app.count("outbox").await, 3);
    assert_eq!(members_in(&app, &fw, id, "succeeded").await, ids[..2]);
    assert_eq!(members_in(&app, &fw, id, "notified").await, [ids[3]]);
    let skipped: Value = app
        .api(
            Method::GET,
            &format!("/campaigns/{id}/devices?state=skipped"),
            &fw,
        )
        .send_json()
        .await;
    assert_eq!(skipped["items"].as_array().unwrap().len(), 1);
    assert_eq!(skipped["items"][0]["device_id"], ids[2]);
    assert!(
        skipped["items"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no OMA-DM credentials"),
        "{skipped}"
    );

    let (s, cancelled) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/cancel"), &fw)).await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert!(cancelled["finished_at"].is_i64());
    // Line 5's wave never came; line 4 keeps its open session.
    let page: Value = app
        .api(
            Method::GET,
            &format!("/campaigns/{id}/devices?state=cancelled"),
            &fw,
        )
        .send_json()
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["device_id"], ids[4]);
    assert_eq!(
        page["items"][0]["detail"],
        "the campaign was cancelled before its wave"
    );
    assert_eq!(members_in(&app, &fw, id, "notified").await, [ids[3]]);
    let one: Value = app
        .api(Method::GET, &format!("/campaigns/{id}"), &fw)
        .send_json()
        .await;
    let overall = &one["progress"]["overall"];
    assert_eq!(
        (
            &overall["succeeded"],
            &overall["notified"],
            &overall["skipped"],
            &overall["cancelled"],
            &overall["queued"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(one["progress"]["waves"][2]["cancelled"], 1);

    // Keyset paging walks every member once, in device id order; the
    // device at another version is not among them.
    let mut seen = Vec::new();
    let mut path = format!("/campaigns/{id}/devices?limit=2");
    loop {
        let page: Value = app.api(Method::GET, &path, &fw).send_json().await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|m| m["device_id"].as_i64().unwrap()));
        match page["next_after"].as_i64() {
            Some(after) => path = format!("/campaigns/{id}/devices?limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert!(!seen.contains(&elsewhere));

    for action in ["start", "pause", "resume", "cancel"] {
        let (s, body) =
            status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/{action}"), &fw)).await;
        assert_eq!(s, 409, "{action}: {body}");
    }
    let (s, body) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/explode"), &fw)).await;
    assert_eq!(s, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (s, body) = status_and_body(app.api(
        Method::GET,
        &format!("/campaigns/{id}/devices?state=lost"),
        &fw,
    ))
    .await;
    assert_eq!(s, 422);
    assert!(
        body["error"]["fields"]["state"]
            .as_str()
            .unwrap()
            .contains("queued, notified, succeeded"),
        "{body}"
    );

    // Every change is on the audit trail under the token's name.
    let events = app
        .with_conn(move |c| {
            mdm::registry::audit::for_entities(
                c,
                &[(mdm::registry::audit::EntityKind::Campaign, id)],
                50,
            )
            .unwrap()
        })
        .await;
    let actions: Vec<&str> = events.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "FOTA campaign created",
            "FOTA campaign started",
            "FOTA campaign paused",
            "FOTA campaign resumed",
            "FOTA campaign cancelled"
        ]
    );
    assert!(events.iter().all(|e| e.actor == "api:firmware-client"));
}

#[tokio::test]
async fn campaigns_need_a_firmware_role_and_bad_plans_write_nothing() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Admin).await;
    let (_, care) = app.token(Role::Care).await;
    let (_, fw) = app.token(Role::Firmware).await;
    line(&app, &admin, 1, "VX9600V04", true).await;

    let post = |body: Value| {
        let app = &app;
        let fw = fw.clone();
        async move { status_and_body(app.api(Method::POST, "/campaigns", &fw).json(&body)).await }
    };
    let (s, body) = post(plan("VX9600V04")).await;
    assert_eq!(s, 422);
    assert_eq!(body["error"]["code"], "unprocessable");
    assert_eq!(
        body["error"]["message"],
        "no released package updates LG VX9600 VX9600V04; release one before starting a campaign"
    );
    app.release_package(&fw, "LG", "VX9600", "VX9600V04", "VX9600V06", 1000)
        .await;
    // A package from a version nobody is at: a campaign of nobody.
    app.release_package(&fw, "LG", "VX9600", "VX9600V02", "VX9600V06", 1001)
        .await;
    let with = |k: &str, v: Value| {
        let mut p = plan("VX9600V04");
        p[k] = v;
        p
    };
    // A field that breaks a rule is named, as everywhere in the API.
    for (body, field, message) in [
        (
            with("wave_size", json!(0)),
            "wave_size",
            "The wave size must be between 1 and 100000 devices.",
        ),
        (
            with("failure_threshold", json!(101)),
            "failure_threshold",
            "The failure threshold is a percentage, 0 to 100.",
        ),
        (
            with("name", json!("  ")),
            "name",
            "Give the campaign a name (up to 100 characters).",
        ),
    ] {
        let (s, answer) = post(body).await;
        assert_eq!(s, 422, "{message}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid", "{answer}");
        assert_eq!(answer["error"]["fields"][field], message, "{answer}");
    }
    let (s, answer) = post(plan("VX9600V02")).await;
    assert_eq!(s, 422, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "no device is at LG VX9600 VX9600V02: the campaign would have nobody to update"
    );
    // Malformed bodies are the client's mistake, as everywhere in the API.
    for body in [
        with("wave_size", json!("ten")),
        with("colour", json!("red")),
        json!({"name": "x", "make": "LG"}),
    ] {
        let (s, answer) = post(body.clone()).await;
        assert_eq!(s, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    let (s, _) = status_and_body(
        app.api(Method::POST, "/campaigns", &fw)
            .header("content-type", "application/json")
            .body("{\"name\":"),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(app.count("fota_campaigns").await, 0, "nothing was written");
    let enrolled = app
        .with_conn(|c| {
            use diesel::prelude::*;
            mdm::db::schema::fota_campaign_devices::table
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert_eq!(enrolled, 0);

    // A care agent's token reaches none of it, not even to read.
    let (s, body) = status_and_body(
        app.api(Method::POST, "/campaigns", &care)
            .json(&plan("VX9600V04")),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(app.count("fota_campaigns").await, 0);

    let (s, draft) = post(plan("VX9600V04")).await;
    assert_eq!(s, 201, "{draft}");
    let id = draft["id"].as_i64().unwrap();
    for (method, path) in [
        (Method::GET, "/campaigns".to_string()),
        (Method::GET, format!("/campaigns/{id}")),
        (Method::GET, format!("/campaigns/{id}/devices")),
        (Method::POST, format!("/campaigns/{id}/start")),
        (Method::POST, format!("/campaigns/{id}/cancel")),
    ] {
        let (s, _) = status_and_body(app.api(method.clone(), &path, &care)).await;
        assert_eq!(s, 403, "{method} {path}");
    }
    let r = app
        .client
        .get(app.url("/api/v1/campaigns"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let one: Value = app
        .api(Method::GET, &format!("/campaigns/{id}"), &fw)
        .send_json()
        .await;
    assert_eq!(one["state"], "draft", "the care token changed nothing");

    // Unknown campaigns are a 404 on every route.
    for (method, path) in [
        (Method::GET, "/campaigns/999999"),
        (Method::GET, "/campaigns/999999/devices"),
        (Method::POST, "/campaigns/999999/start"),
        (Method::POST, "/campaigns/999999/cancel"),
    ] {
        let (s, body) = status_and_body(app.api(method.clone(), path, &fw)).await;
        assert_eq!(s, 404, "{method} {path}");
        assert_eq!(body["error"]["message"], "campaign 999999 not found");
    }

    // A draft cancelled before its start notifies nobody, and stays so.
    let (s, cancelled) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/cancel"), &fw)).await;
    assert_eq!(s, 200);
    assert_eq!(cancelled["state"], "cancelled");
    assert!(cancelled["started_at"].is_null());
    let (s, body) =
        status_and_body(app.api(Method::POST, &format!("/campaigns/{id}/start"), &fw)).await;
    assert_eq!(s, 409);
    assert_eq!(
        body["error"]["message"],
        format!("campaign {id} is cancelled: it cannot be started")
    );
    assert_eq!(app.count("outbox").await, 0);
    assert_eq!(app.count("dm_jobs").await, 0);
}

/// A line on the VX9600 path with its own MDN and billing account.
async fn market_line(app: &TestApp, token: &str, n: u32, mdn: &str, account: &str) -> i64 {
    let mut profile = crate::common::profile_json(mdn);
    profile["account_id"] = json!(account);
    let r = app
        .api(Method::POST, "/profiles", token)
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = app
        .api(Method::POST, "/devices", token)
        .json(&json!({"meid": meid(n), "make": "LG", "model": "VX9600",
                      "firmware_version": "VX9600V04", "profile_mdn": mdn}))
        .send_json()
        .await;
    d["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_campaign_can_be_narrowed_to_a_market_and_an_account() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Firmware).await;
    let (_, admin) = app.token(Role::Admin).await;
    // Line 1 (Chicago, ACC-1) also enters the path's capability.
    let chicago = line(&app, &admin, 1, "VX9600V04", false).await;
    let detroit = market_line(&app, &admin, 2, "3135550102", "ACC-1").await;
    let fleet = market_line(&app, &admin, 3, "3125550103", "FLEET-9").await;
    app.release_package(&admin, "LG", "VX9600", "VX9600V04", "VX9600V06", 2000)
        .await;

    let narrowed = |prefix: &str, account: &str| {
        let mut p = plan("VX9600V04");
        p["mdn_prefix"] = json!(prefix);
        p["account_id"] = json!(account);
        p
    };
    // Refused: not digits, or nobody left; nothing is planned.
    for (prefix, account, says) in [
        ("31%", "", "is not an MDN prefix"),
        ("312", "NOBODY", "among MDNs 312…, account NOBODY"),
    ] {
        let (status, body) = status_and_body(
            app.api(Method::POST, "/campaigns", &token)
                .json(&narrowed(prefix, account)),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains(says), "{body}");
    }
    assert_eq!(app.count("fota_campaigns").await, 0);

    // Area code 312: Chicago's two lines, not Detroit's.
    let c: Value = app
        .api(Method::POST, "/campaigns", &token)
        .json(&narrowed("312", ""))
        .send_json()
        .await;
    assert_eq!(
        (c["devices"].as_i64(), c["mdn_prefix"].as_str()),
        (Some(2), Some("312"))
    );
    assert!(
        c["account_id"].is_null(),
        "an empty account is no narrowing"
    );
    let id = c["id"].as_i64().unwrap();
    assert_eq!(
        members_in(&app, &token, id, "queued").await,
        [chicago, fleet]
    );

    // One fleet in that market.
    let c: Value = app
        .api(Method::POST, "/campaigns", &token)
        .json(&narrowed("312", "FLEET-9"))
        .send_json()
        .await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(members_in(&app, &token, id, "queued").await, [fleet]);

    // The portal plans one for Detroit and says whom it is for.
    app.add_user("fw", "fw-pass-12345", Role::Firmware).await;
    app.login("fw", "fw-pass-12345").await;
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let r = app
        .post_form(
            "/firmware/campaigns",
            &[
                ("csrf", &csrf),
                ("path", "make=LG&model=VX9600&from=VX9600V04"),
                ("name", "Detroit"),
                ("wave_size", "10"),
                ("failure_threshold", "10"),
                ("answer_within_mins", "1440"),
                ("mdn_prefix", "313"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains(r#"<span id="campaign-devices">1</span> · <span id="campaign-population">MDNs 313…</span>"#),
        "{page}"
    );
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(members_in(&app, &token, id, "queued").await, [detroit]);
    let (_, list) = app.page("/firmware/campaigns").await;
    assert!(
        list.contains(r#"<span class="hint">MDNs 313…</span>"#),
        "{list}"
    );
    assert!(list.contains(r#"<span class="hint">MDNs 312…, account FLEET-9</span>"#));
}
