use mdm::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, spawn_app, SendJson};

#[tokio::test]
async fn profile_and_device_lifecycle_over_the_api_is_audited() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;

    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125550100"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let p: Value = r.json().await.unwrap();
    let pid = p["id"].as_i64().unwrap();
    assert_eq!(p["activation_state"], "pending");
    assert_eq!(p["features"], "mobile_web,text_messaging");

    // A MEID handset, given with its check digit; the pESN is derived.
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": "AF0123450ABCDEC", "make": "LG", "model": "VX9600", "firmware_version": "VX9600V04", "profile_mdn": "3125550100"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["meid"], "AF0123450ABCDE");
    assert_eq!(d["pesn"], "8016B128");
    assert_eq!(d["profile_id"], pid);

    // Lookups by MEID, pESN (as an ESN) and MDN find the same device.
    for key in ["AF0123450ABCDE", "8016B128", "3125550100"] {
        let v: Value = app
            .api(Method::GET, &format!("/devices/lookup/{key}"), &token)
            .send_json()
            .await;
        assert_eq!(v["device"]["id"], d["id"], "lookup by {key}");
        assert_eq!(v["profile"]["mdn"], "3125550100");
    }

    let mut changed = profile_json("3125550100");
    changed["prl_id"] = json!(10002);
    let r = app
        .api(Method::PUT, &format!("/profiles/{pid}"), &token)
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .api(Method::POST, &format!("/profiles/{pid}/activation"), &token)
        .json(&json!({"state": "activated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let audit: Value = app
        .api(Method::GET, &format!("/profiles/{pid}/audit"), &token)
        .send_json()
        .await;
    let items = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["activation state changed", "updated", "created"]);
    assert!(items.iter().all(|e| e["actor"] == "api:admin-client"));
    assert!(items[1]["detail"]
        .as_str()
        .unwrap()
        .contains("\"prl_id\":{\"from\":10001,\"to\":10002}"));

    let r = app
        .api(Method::DELETE, &format!("/devices/{}", d["id"]), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(app.count("devices").await, 0);
}

#[tokio::test]
async fn malformed_identifiers_are_rejected_with_field_messages_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Care).await;
    let mut bad = profile_json("312555010");
    bad["imsi"] = json!("31000312555010X");
    bad["accolc"] = json!(16);
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid");
    let fields = &body["error"]["fields"];
    assert!(
        fields["mdn"].as_str().unwrap().contains("312555010"),
        "{fields}"
    );
    assert!(fields["imsi"].is_string());
    assert!(fields["accolc"]
        .as_str()
        .unwrap()
        .contains("between 0 and 15"));

    for device in [
        json!({"esn": "12G45678", "make": "LG", "model": "X", "firmware_version": "1"}),
        json!({"meid": "AF0123450ABCDE7", "make": "LG", "model": "X", "firmware_version": "1"}),
        json!({"esn": "25612345678", "make": "LG", "model": "X", "firmware_version": "1"}),
        json!({"make": "LG", "model": "X", "firmware_version": "1"}),
    ] {
        let r = app
            .api(Method::POST, "/devices", &token)
            .json(&device)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422, "{device}");
    }
    // Unknown fields and broken JSON are errors too, in JSON.
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F100001", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .api(Method::POST, "/profiles", &token)
        .header("content-type", "application/json")
        .body("{\"mdn\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );

    assert_eq!(app.count("profiles").await, 0);
    assert_eq!(app.count("devices").await, 0);
}

#[tokio::test]
async fn duplicate_esn_meid_and_mdn_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("4155550111"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("4155550111"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("4155550111"));

    let esn = json!({"esn": "9F100001", "make": "Samsung", "model": "SCH-U350", "firmware_version": "U350.01"});
    assert_eq!(
        app.api(Method::POST, "/devices", &token)
            .json(&esn)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    // The same ESN in its decimal form is the same handset.
    let dec = json!({"esn": "15901048577", "make": "Samsung", "model": "SCH-U350", "firmware_version": "U350.01"});
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&dec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ESN 9F100001"));

    let meid =
        json!({"meid": "A0000000002329", "make": "LG", "model": "VX9600", "firmware_version": "1"});
    assert_eq!(
        app.api(Method::POST, "/devices", &token)
            .json(&meid)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    assert_eq!(
        app.api(Method::POST, "/devices", &token)
            .json(&meid)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        409
    );
    assert_eq!(app.count("profiles").await, 1);
    assert_eq!(app.count("devices").await, 2);
}

#[tokio::test]
async fn tokens_are_checked_expired_revoked_missing_and_by_role() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/profiles"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_some());

    let (id, token) = app.token(Role::Care).await;
    assert_eq!(
        app.api(Method::GET, "/profiles", &token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    app.with_conn(move |c| {
        mdm::auth::tokens::set_expiry(c, id, Some(mdm::db::now_ms() - 1000)).unwrap()
    })
    .await;
    let r = app
        .api(Method::GET, "/profiles", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("6465550100"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(app.count("profiles").await, 0);

    let (rid, revoked) = app.token(Role::Admin).await;
    app.with_conn(move |c| {
        mdm::auth::tokens::revoke(c, &mdm::registry::Actor::System("test"), rid).unwrap()
    })
    .await;
    let r = app
        .api(Method::GET, "/profiles", &revoked)
        .send()
        .await
        .unwrap();
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));

    let r = app
        .api(Method::GET, "/profiles", "mdm_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // A firmware manager's token may read but not change subscribers.
    let (_, fw) = app.token(Role::Firmware).await;
    assert_eq!(
        app.api(Method::GET, "/devices", &fw)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let r = app
        .api(Method::POST, "/profiles", &fw)
        .json(&profile_json("6465550100"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(app.count("profiles").await, 0);
}

#[tokio::test]
async fn device_search_pages_by_key_and_filters_by_make_model_version() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Operator).await;
    for i in 0..7u32 {
        let model = if i % 2 == 0 { "SCH-U350" } else { "SCH-U960" };
        let r = app
            .api(Method::POST, "/devices", &token)
            .json(&json!({"esn": format!("9F1000{:02X}", i), "make": "Samsung", "model": model, "firmware_version": "1.0"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/devices?make=Samsung&model=SCH-U350&limit=2&after={a}"),
            None => "/devices?make=Samsung&model=SCH-U350&limit=2".into(),
        };
        let page: Value = app.api(Method::GET, &path, &token).send_json().await;
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["model"], "SCH-U350");
            seen.push(item["esn"].as_str().unwrap().to_string());
        }
        match page["next_after"].as_i64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["9F100000", "9F100002", "9F100004", "9F100006"]);
    let r = app
        .api(Method::GET, "/devices?esn=nothex!!", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
}

#[tokio::test]
async fn capability_registry_and_iota_esn_series_decide_iota_support() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Firmware).await;
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "Motorola", "model": "W755", "version_min": "2.1.0", "protocol": "omadm", "fota": true, "features": "sms,web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // Overlapping version ranges for one model are refused.
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(
            &json!({"make": "Motorola", "model": "W755", "version_min": "2.2", "protocol": "iota"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let r = app
        .api(Method::POST, "/iota-esn-series", &token)
        .json(&json!({"make": "Kyocera", "first_esn": "B4100000", "last_esn": "B41FFFFF"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let (_, admin) = app.token(Role::Admin).await;
    for d in [
        json!({"esn": "B4100042", "make": "Kyocera", "model": "K127", "firmware_version": "K127.1"}),
        json!({"esn": "82000001", "make": "Motorola", "model": "W755", "firmware_version": "2.1.4"}),
    ] {
        assert_eq!(
            app.api(Method::POST, "/devices", &admin)
                .json(&d)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            201
        );
    }
    let v: Value = app
        .api(Method::GET, "/devices/lookup/B4100042", &admin)
        .send_json()
        .await;
    assert!(v["capability"].is_null());
    assert!(
        v["iota_support"]
            .as_str()
            .unwrap()
            .contains("Kyocera's IOTA series"),
        "{v}"
    );
    let v: Value = app
        .api(Method::GET, "/devices/lookup/82000001", &admin)
        .send_json()
        .await;
    assert_eq!(v["capability"]["fota"], true);
    assert!(v["iota_support"].as_str().unwrap().starts_with("no"));
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routed_endpoints() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send_json()
        .await;
    assert_eq!(doc["openapi"], "3.0.3");
    let (_, token) = app.token(Role::Admin).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 12);
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "999999").replace("{key}", "9F100001");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.api(m, &concrete, &token).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            // Every documented operation is routed: a missing resource or
            // body is fine, "no such API endpoint" is not.
            assert_ne!(
                body["error"]["message"], "no such API endpoint",
                "{method} {path} -> {status}"
            );
            assert_ne!(status, 405, "{method} {path}");
        }
    }
    let r = app
        .api(Method::GET, "/nothing-here", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn a_pos_system_sets_a_devices_dm_credentials_and_never_reads_its_secrets() {
    let app = spawn_app().await;
    let (_, care) = app.token(Role::Care).await;
    let (_, firmware) = app.token(Role::Firmware).await;
    let d: Value = app
        .api(Method::POST, "/devices", &care)
        .json(&json!({"meid": "A1000012345678", "make": "Samsung", "model": "SCH-U960", "firmware_version": "U960.05"}))
        .send_json()
        .await;
    let id = d["id"].as_i64().unwrap();
    let path = format!("/devices/{id}/dm-credentials");
    let status = |r: reqwest::Response| r.status().as_u16();

    let r = app.api(Method::GET, &path, &care).send().await.unwrap();
    assert_eq!(status(r), 404, "no credentials yet");
    // Bad input: a clear JSON error, nothing stored.
    let r = app
        .api(Method::PUT, &path, &care)
        .json(&json!({"client_password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["fields"]["client_password"].is_string(),
        "{body}"
    );
    let r = app
        .api(Method::PUT, &path, &care)
        .json(&json!({"client_password": "device-secret-1", "pin": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 400, "unknown fields are refused");
    assert_eq!(app.count("dm_accounts").await, 0);
    // A firmware manager reads registries but does not edit devices.
    let r = app
        .api(Method::PUT, &path, &firmware)
        .json(&json!({"client_password": "device-secret-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 403);
    let r = app
        .api(Method::PUT, "/devices/999999/dm-credentials", &care)
        .json(&json!({"client_password": "device-secret-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 404);

    // The server password is generated and shown in this answer only.
    let set: Value = app
        .api(Method::PUT, &path, &care)
        .json(&json!({"client_password": "device-secret-1"}))
        .send_json()
        .await;
    assert_eq!(set["client_username"], "MEID:A1000012345678");
    assert_eq!(set["server_id"], "mdm");
    let server_password = set["server_password"].as_str().unwrap().to_string();
    assert!(server_password.len() >= 12, "{set}");
    let read: Value = app.api(Method::GET, &path, &firmware).send_json().await;
    assert_eq!(read["client_username"], "MEID:A1000012345678");
    for hidden in [
        "server_password",
        "client_password",
        "client_nonce",
        "server_nonce",
    ] {
        assert!(read.get(hidden).is_none(), "{hidden} in {read}");
    }
    let vault = app.vault.clone();
    let stored = app
        .with_conn(move |c| mdm::omadm::account::get(c, &vault, id).unwrap().unwrap())
        .await;
    assert_eq!(stored.client_password, "device-secret-1");
    assert_eq!(stored.server_password, server_password);

    // Given by the caller, the server password is not echoed back.
    let set: Value = app
        .api(Method::PUT, &path, &care)
        .json(&json!({"client_password": "device-secret-2", "server_password": "server-secret-2", "server_id": "operator-dm"}))
        .send_json()
        .await;
    assert!(set.get("server_password").is_none(), "{set}");
    assert_eq!(set["server_id"], "operator-dm");
    let audit: Value = app
        .api(Method::GET, &format!("/devices/{id}/audit"), &care)
        .send_json()
        .await;
    let text = audit.to_string();
    assert!(text.contains("OMA-DM credentials set"), "{text}");
    assert!(
        !text.contains("device-secret"),
        "secrets never reach the audit trail"
    );
}
