//! The REST API's lists, methods and document: keyset pages on every list
//! that grows (the audit trails first), whole reference lists, 405 for a
//! method a path does not take, the bearer scheme in any case, and the
//! OpenAPI schemas checked against what the endpoints really answer.

use mdm::auth::Role;
use mdm::registry::audit::{self, EntityKind};
use mdm::registry::Actor;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::campaigns::{line, mdn, meid};
use crate::common::{profile_json, spawn_app, SendJson, TestApp};

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.api(Method::GET, path, token).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Every page of `path` at `limit` a page, following `next_after`: the
/// ids of each page.
async fn pages(app: &TestApp, token: &str, path: &str, limit: i64) -> Vec<Vec<i64>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let url = match after {
            Some(a) => format!("{path}{sep}limit={limit}&after={a}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = get(app, token, &url).await;
        let ids: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().or(i["device_id"].as_i64()).unwrap())
            .collect();
        assert!(ids.len() as i64 <= limit, "{url}: {} items", ids.len());
        assert!(
            page.as_object().unwrap().contains_key("next_after"),
            "{url}: {page}"
        );
        match page["next_after"].as_i64() {
            Some(next) => {
                assert_eq!(Some(&next), ids.last(), "{url}: the last item's id");
                out.push(ids);
                after = Some(next);
            }
            None => {
                assert!(page["next_after"].is_null());
                out.push(ids);
                return out;
            }
        }
        assert!(out.len() < 100, "{path}: paging does not end");
    }
}

#[tokio::test]
async fn an_audit_trail_of_any_length_is_read_page_by_page_to_its_first_event() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let p: Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125550100"))
        .send_json()
        .await;
    let pid = p["id"].as_i64().unwrap();
    let other: Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125550101"))
        .send_json()
        .await;
    let other = other["id"].as_i64().unwrap();
    // 520 changes after its creation, interleaved with another line's: as
    // long a trail as the QA's 510 PUTs, written directly to be quick.
    app.with_conn(move |c| {
        mdm::db::write(c, |c| -> Result<(), diesel::result::Error> {
            for n in 0..520 {
                audit::record(
                    c,
                    &Actor::System("test"),
                    EntityKind::Profile,
                    pid,
                    "updated",
                    &json!({ "n": n }),
                )?;
                if n % 2 == 0 {
                    audit::record(
                        c,
                        &Actor::System("test"),
                        EntityKind::Profile,
                        other,
                        "updated",
                        &json!({ "n": n }),
                    )?;
                }
            }
            Ok(())
        })
        .unwrap()
    })
    .await;
    // The profile now has 1 + 520 events, the other line 1 + 260.
    let path = format!("/profiles/{pid}/audit");
    let all = pages(&app, &token, &path, 200).await;
    let sizes: Vec<usize> = all.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![200, 200, 121]);
    let ids: Vec<i64> = all.concat();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    let oldest = get(&app, &token, &format!("{path}?after={}", ids[519])).await;
    assert_eq!(oldest["items"].as_array().unwrap().len(), 1);
    assert_eq!(oldest["items"][0]["action"], "created", "{oldest}");
    assert_eq!(oldest["items"][0]["entity_id"], pid);
    assert!(oldest["next_after"].is_null());

    // No limit: a page of 100 that says where the next one starts.
    let first = get(&app, &token, &path).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 100);
    assert_eq!(first["next_after"], first["items"][99]["id"]);
    // A page that holds exactly what is left is the last one.
    let whole = get(&app, &token, &format!("{path}?limit=500")).await;
    assert_eq!(whole["items"].as_array().unwrap().len(), 500);
    let rest = get(
        &app,
        &token,
        &format!("{path}?limit=21&after={}", whole["next_after"]),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 21);
    assert!(rest["next_after"].is_null(), "{}", rest["next_after"]);
    // A size beyond the range is brought within it, as on every list.
    let big = get(&app, &token, &format!("{path}?limit=100000")).await;
    assert_eq!(big["items"].as_array().unwrap().len(), 500);
    // The other line's trail is its own.
    let theirs = pages(&app, &token, &format!("/profiles/{other}/audit"), 500).await;
    assert_eq!(theirs.concat().len(), 1 + 260);

    // What is not a page request is refused, not ignored.
    for bad in ["limit=ten", "after=x", "page=2"] {
        let r = app
            .api(Method::GET, &format!("{path}?{bad}"), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{bad}: {body}");
    }

    // A device's trail pages the same way.
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F100001", "make": "Kyocera", "model": "K127", "firmware_version": "1"}))
        .send_json()
        .await;
    let did = d["id"].as_i64().unwrap();
    for v in 2..=5 {
        let r = app
            .api(Method::PUT, &format!("/devices/{did}"), &token)
            .json(&json!({"esn": "9F100001", "make": "Kyocera", "model": "K127", "firmware_version": v.to_string()}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let dev = pages(&app, &token, &format!("/devices/{did}/audit"), 2).await;
    assert_eq!(dev.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    let last = get(
        &app,
        &token,
        &format!("/devices/{did}/audit?after={}", dev[1][1]),
    )
    .await;
    assert_eq!(last["items"][0]["action"], "created");
    let r = app
        .api(Method::GET, "/devices/999999/audit?limit=5", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

/// Files PRL `prl_id` in SSPR table `table`.
async fn file_prl(app: &TestApp, table: i32, prl_id: u16) {
    app.with_conn(move |c| {
        mdm::iota::prl_store::add(
            c,
            &Actor::System("test"),
            &mdm::iota::prl_store::NewPrl {
                bytes: crate::iota::prl(prl_id, 2),
                prl_id: None,
                sspr_table: Some(table),
                name: "test".into(),
            },
        )
        .unwrap();
    })
    .await;
}

/// An IOTA session of a star-code activation for a subscriber.
async fn iota_session(app: &TestApp, device: Option<i64>, profile: Option<i64>) -> i64 {
    app.with_conn(move |c| {
        mdm::iota::session::insert(
            c,
            &mdm::iota::session::NewSession {
                flow: mdm::iota::ospp::Flow::StarCode,
                state: "awaiting_handset",
                stage: mdm::iota::ospp::Stage::Identify,
                device_id: device,
                profile_id: profile,
                esn: None,
                meid: None,
                prl_sspr_table: None,
                fota_session_id: None,
                detail: String::new(),
            },
        )
        .unwrap()
        .id
    })
    .await
}

fn plan() -> Value {
    json!({"name": "VX9600 to V06", "make": "LG", "model": "VX9600", "from_version": "VX9600V04", "wave_size": 2, "failure_threshold": 50})
}

/// The profile of campaign line `n`.
async fn profile_of_line(app: &TestApp, token: &str, n: u32) -> i64 {
    let found = get(app, token, &format!("/profiles?mdn={}", mdn(n))).await;
    found["items"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn every_list_that_grows_pages_and_the_reference_lists_come_whole() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Admin).await;
    let (_, fw) = app.token(Role::Firmware).await;
    let mut devices = Vec::new();
    for n in 1..=3 {
        devices.push(line(&app, &admin, n, "VX9600V04", true).await);
    }
    let pid = profile_of_line(&app, &admin, 1).await;
    let mut packages = Vec::new();
    for (from, to) in [("VX9600V01", "VX9600V02"), ("VX9600V02", "VX9600V03")] {
        packages.push(
            app.release_package(&fw, "LG", "VX9600", from, to, 300)
                .await,
        );
    }
    packages.push(
        app.release_package(&fw, "LG", "VX9600", "VX9600V04", "VX9600V06", 300)
            .await,
    );
    let mut campaigns = Vec::new();
    for _ in 0..3 {
        let c: Value = app
            .api(Method::POST, "/campaigns", &fw)
            .json(&plan())
            .send_json()
            .await;
        campaigns.push(c["id"].as_i64().expect("a campaign"));
    }
    let mut changes = Vec::new();
    for esn in ["9F100002", "9F100003", "9F100004"] {
        let r = app
            .api(Method::POST, "/esn-changes", &admin)
            .json(&json!({"from": mdn(1), "to": esn}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let c: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{c}");
        let id = c["id"].as_i64().unwrap();
        let r = app
            .api(Method::POST, &format!("/esn-changes/{id}/cancel"), &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        changes.push(id);
    }
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(iota_session(&app, Some(devices[0]), Some(pid)).await);
    }
    // Another subscriber's session is not in this one's pages.
    iota_session(&app, None, None).await;
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let j: Value = app
            .api(
                Method::POST,
                &format!("/devices/{}/dm-jobs", devices[0]),
                &admin,
            )
            .json(&json!({"commands": [{"command": "get", "path": "./DevDetail/SwV"}]}))
            .send_json()
            .await;
        jobs.push(j["id"].as_i64().expect("a DM job"));
    }
    let newest_first = |mut ids: Vec<i64>| {
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    };
    let (c, p, ch, s) = (
        newest_first(campaigns.clone()),
        newest_first(packages.clone()),
        newest_first(changes.clone()),
        newest_first(sessions.clone()),
    );
    assert_eq!(
        pages(&app, &fw, "/campaigns", 2).await,
        vec![c[..2].to_vec(), c[2..].to_vec()]
    );
    assert_eq!(
        pages(&app, &fw, "/firmware/packages", 2).await,
        vec![p[..2].to_vec(), p[2..].to_vec()]
    );
    assert_eq!(
        pages(&app, &admin, &format!("/profiles/{pid}/esn-changes"), 2).await,
        vec![ch[..2].to_vec(), ch[2..].to_vec()]
    );
    assert_eq!(
        pages(&app, &admin, &format!("/iota/sessions?profile_id={pid}"), 2).await,
        vec![s[..2].to_vec(), s[2..].to_vec()]
    );
    // A full page that is the last says so: no empty page to ask for.
    assert_eq!(pages(&app, &fw, "/campaigns", 3).await, vec![c.clone()]);
    assert_eq!(
        pages(&app, &admin, &format!("/devices/{}/dm-jobs", devices[0]), 2).await,
        vec![newest_first(jobs.clone())]
    );
    let members = format!("/campaigns/{}/devices", campaigns[0]);
    assert_eq!(pages(&app, &fw, &members, 3).await, vec![devices.clone()]);
    assert_eq!(
        pages(&app, &fw, &members, 2).await,
        vec![devices[..2].to_vec(), devices[2..].to_vec()]
    );
    let lines = app.count("profiles").await;
    assert_eq!(pages(&app, &admin, "/profiles", lines).await.len(), 1);
    assert_eq!(pages(&app, &admin, "/profiles", lines - 1).await.len(), 2);
    // The package list leaves the revision history to each package.
    let first = get(&app, &fw, "/firmware/packages").await;
    assert!(first["items"][0].get("revisions").is_none());

    // Small reference lists come whole: no next_after to wait for.
    file_prl(&app, 1, 10031).await;
    let r = app
        .api(Method::POST, "/iota-esn-series", &admin)
        .json(&json!({"make": "Kyocera", "first_esn": "B4100000", "last_esn": "B41FFFFF"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send_json()
        .await;
    for path in ["/capabilities", "/iota-esn-series", "/prls"] {
        let list = get(&app, &admin, path).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{path}");
        assert!(list.get("next_after").is_none(), "{path}: {list}");
        let schema =
            &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(schema["properties"].get("next_after").is_none(), "{path}");
        assert!(
            doc["paths"][path]["get"]["summary"]
                .as_str()
                .unwrap()
                .contains("not paged"),
            "{path}"
        );
    }
    // Every other list the document has is paged, and says how.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(op) = ops.get("get") else { continue };
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        if schema["properties"].get("items").is_none()
            || ["/capabilities", "/iota-esn-series", "/prls"].contains(&path.as_str())
        {
            continue;
        }
        assert!(
            schema["properties"].get("next_after").is_some(),
            "{path} lists without pages"
        );
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            params.contains(&"after") && params.contains(&"limit"),
            "{path}: {params:?}"
        );
    }
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_a_405_naming_those_it_does() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for (method, path, allow) in [
        (Method::GET, "/campaigns/2/start", "POST"),
        (Method::DELETE, "/campaigns/2", "GET"),
        (Method::PATCH, "/profiles/7", "GET, PUT, DELETE"),
        (Method::DELETE, "/firmware/packages", "GET, POST"),
        (Method::POST, "/openapi.json", "GET"),
    ] {
        let r = app.api(method.clone(), path, &token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 405, "{method} {path}");
        assert_eq!(
            r.headers()
                .get("allow")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default(),
            allow,
            "{method} {path}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(method.as_str()), "{message}");
    }
    // Paths the API does not have stay 404s.
    for (method, path) in [
        (Method::GET, "/nothing-here"),
        (Method::GET, "/campaigns/2/start/now"),
        (Method::POST, "/campaigns/2/bogus"),
    ] {
        let r = app.api(method.clone(), path, &token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
        assert!(r.headers().get("allow").is_none());
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_taken_in_any_case() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Care).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(app.url("/api/v1/profiles"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{scheme}");
    }
    for header in [
        format!("Basic {token}"),
        token.clone(),
        format!("Bearer{token}"),
    ] {
        let r = app
            .client
            .get(app.url("/api/v1/profiles"))
            .header("Authorization", header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{header}");
    }
}

// ---- The document against real responses ------------------------------

fn deref<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "no schema {name}");
            deref(doc, target)
        }
        None => s,
    }
}

/// A schema's properties, its `allOf` parts merged.
fn properties(doc: &Value, s: &Value) -> Map<String, Value> {
    let s = deref(doc, s);
    let mut out = Map::new();
    for part in s["allOf"].as_array().into_iter().flatten() {
        out.extend(properties(doc, part));
    }
    if let Some(p) = s["properties"].as_object() {
        out.extend(p.clone());
    }
    out
}

/// Where `value` strays from `schema`: keys the schema lacks, types and
/// enums it does not allow, nulls where it says nothing of null.
fn strays(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let s = deref(doc, schema);
    if value.is_null() {
        if s["nullable"] != true {
            out.push(format!("{at}: null, which the schema does not allow"));
        }
        return;
    }
    if s.get("oneOf").is_some() {
        return;
    }
    if let Some(allowed) = s["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is none of {allowed:?}"));
        }
    }
    let ty = s["type"].as_str().or_else(|| {
        (s.get("allOf").is_some() || s.get("properties").is_some()).then_some("object")
    });
    match (ty, value) {
        (Some("object"), Value::Object(map)) => {
            let props = properties(doc, s);
            for (k, v) in map {
                match props.get(k) {
                    Some(p) => strays(doc, p, v, &format!("{at}.{k}"), out),
                    None if s["additionalProperties"].is_object() => strays(
                        doc,
                        &s["additionalProperties"],
                        v,
                        &format!("{at}.{k}"),
                        out,
                    ),
                    None => out.push(format!("{at}.{k}: not in the schema")),
                }
            }
        }
        (Some("array"), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                strays(doc, &s["items"], v, &format!("{at}[{i}]"), out);
            }
        }
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) | (None, _) => {}
        (Some(t), v) => out.push(format!("{at}: {v} is not {t}")),
    }
}

/// Checks a response's body against the document's schema for it.
fn check(
    doc: &Value,
    template: &str,
    method: &str,
    status: u16,
    body: &Value,
    out: &mut Vec<String>,
) {
    let schema = &doc["paths"][template][method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "the document has no {status} schema for {method} {template}"
    );
    strays(
        doc,
        schema,
        body,
        &format!("{method} {template} {status}"),
        out,
    );
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app.api(method, path, token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_openapi_schemas_describe_what_the_endpoints_answer() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Admin).await;
    let (_, fw) = app.token(Role::Firmware).await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send_json()
        .await;
    let mut out = Vec::new();

    // A line with DM credentials, an update for it and a campaign.
    let did = line(&app, &admin, 1, "VX9600V04", true).await;
    line(&app, &admin, 2, "VX9600V04", false).await;
    let pid = profile_of_line(&app, &admin, 1).await;
    let pkg = app
        .release_package(&fw, "LG", "VX9600", "VX9600V04", "VX9600V06", 400)
        .await;
    let (status, body) = send(
        &app,
        &admin,
        Method::PUT,
        &format!("/devices/{did}/dm-credentials"),
        Some(json!({"client_password": "client-secret-1"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "/devices/{id}/dm-credentials",
        "put",
        status,
        &body,
        &mut out,
    );
    let (status, job) = send(
        &app,
        &admin,
        Method::POST,
        &format!("/devices/{did}/dm-jobs"),
        Some(json!({"commands": [{"command": "get", "path": "./DevDetail/SwV"}, {"command": "exec", "path": "./LAWMO/Operations/PartiallyLock"}]})),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    check(
        &doc,
        "/devices/{id}/dm-jobs",
        "post",
        status,
        &job,
        &mut out,
    );
    let (status, body) = send(&app, &fw, Method::POST, "/campaigns", Some(plan())).await;
    assert_eq!(status, 201, "{body}");
    check(&doc, "/campaigns", "post", status, &body, &mut out);
    let cid = body["id"].as_i64().unwrap();
    let (status, body) = send(
        &app,
        &fw,
        Method::PUT,
        &format!("/campaigns/{cid}/schedule"),
        Some(json!({"window": "00:00-23:59", "window_zone": "America/Chicago"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "/campaigns/{id}/schedule",
        "put",
        status,
        &body,
        &mut out,
    );
    let (status, body) = send(
        &app,
        &fw,
        Method::POST,
        &format!("/campaigns/{cid}/start"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "/campaigns/{id}/start",
        "post",
        status,
        &body,
        &mut out,
    );
    let old = app
        .release_package(&fw, "LG", "VX9600", "VX9600V01", "VX9600V02", 300)
        .await;
    let (status, body) = send(
        &app,
        &fw,
        Method::POST,
        &format!("/firmware/packages/{old}/state"),
        Some(json!({"state": "withdrawn", "note": "pulled"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "/firmware/packages/{id}/state",
        "post",
        status,
        &body,
        &mut out,
    );
    // An ESN change, a series, a PRL and IOTA sessions (one without a
    // device or line: the nulls).
    let (status, change) = send(
        &app,
        &admin,
        Method::POST,
        "/esn-changes",
        Some(json!({"from": mdn(1), "to": "9F100002"})),
    )
    .await;
    assert_eq!(status, 201, "{change}");
    check(&doc, "/esn-changes", "post", status, &change, &mut out);
    let (status, body) = send(
        &app,
        &admin,
        Method::POST,
        &format!("/esn-changes/{}/cancel", change["id"]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "/esn-changes/{id}/cancel",
        "post",
        status,
        &body,
        &mut out,
    );
    let (status, body) = send(
        &app,
        &admin,
        Method::POST,
        "/iota-esn-series",
        Some(json!({"make": "Kyocera", "first_esn": "B4100000", "last_esn": "B41FFFFF"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    check(&doc, "/iota-esn-series", "post", status, &body, &mut out);
    file_prl(&app, 1, 10031).await;
    iota_session(&app, Some(did), Some(pid)).await;
    iota_session(&app, None, None).await;
    let (status, body) = send(
        &app,
        &admin,
        Method::POST,
        &format!("/profiles/{pid}/activation"),
        Some(json!({"state": "activated"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "/profiles/{id}/activation",
        "post",
        status,
        &body,
        &mut out,
    );
    let caps = get(&app, &admin, "/capabilities").await;
    let cap = caps["items"][0]["id"].as_i64().unwrap();

    // Every documented read, with real ids: a new one must be added here.
    let concrete = |template: &str| -> String {
        let id = match template {
            t if t.starts_with("/profiles/") => pid,
            t if t.starts_with("/devices/") => did,
            t if t.starts_with("/capabilities/") => cap,
            t if t.starts_with("/firmware/packages/") => pkg,
            t if t.starts_with("/campaigns/") => cid,
            t if t.starts_with("/dm-jobs/") => job["id"].as_i64().unwrap(),
            _ => 0,
        };
        match template {
            "/devices/lookup/{key}" => format!("/devices/lookup/{}", meid(1)),
            "/firmware/update" => "/firmware/update?make=LG&model=VX9600&version=VX9600V04".into(),
            t => t.replace("{id}", &id.to_string()),
        }
    };
    let mut read = 0;
    for (template, ops) in doc["paths"].as_object().unwrap() {
        let Some(op) = ops.get("get") else { continue };
        if op["responses"]["200"]["content"]["application/json"].is_null() {
            continue;
        }
        let path = concrete(template);
        let body = get(&app, &admin, &path).await;
        if let Some(items) = body["items"].as_array() {
            assert!(!items.is_empty(), "{path}: nothing to check");
        }
        check(&doc, template, "get", 200, &body, &mut out);
        read += 1;
    }
    assert!(read >= 20, "{read} reads");
    // An error is in the document's shape too.
    let (status, body) = send(&app, &admin, Method::GET, "/profiles/999999", None).await;
    assert_eq!(status, 404);
    check(&doc, "/profiles/{id}", "get", 404, &body, &mut out);
    assert!(out.is_empty(), "the document strays:\n{}", out.join("\n"));
}
