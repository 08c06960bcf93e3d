//! What the care form and the API refuse on a profile (blank NAM numbers,
//! an MIN or IMSI another profile holds, PRL settings the SSPR tables do
//! not back), and the subscriber sessions care ends.

use mdm::auth::Role;
use mdm::iota::prl_store::{self, NewPrl};
use mdm::registry::Actor;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{client, csrf_of, profile_json, spawn_app, SendJson, TestApp};

const HOLDER: &str = "7135550100";
const MDN: &str = "7135550101";

async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    app.api(Method::POST, "/profiles", token)
        .json(body)
        .send_json()
        .await
}

async fn stored(app: &TestApp, id: i64) -> mdm::registry::profile::Profile {
    app.with_conn(move |c| mdm::registry::profile::get(c, id).unwrap())
        .await
}

#[tokio::test]
async fn the_profile_form_refuses_blank_nam_numbers_taken_identities_and_unbacked_prls() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let holder = create(&app, &token, &profile_json(HOLDER)).await;
    let holder_id = holder["id"].as_i64().unwrap();
    let mut mine = profile_json(MDN);
    mine["mob_p_rev"] = json!(9);
    mine["scm"] = json!(42);
    let id = create(&app, &token, &mine).await["id"].as_i64().unwrap();
    app.with_conn(|c| {
        prl_store::add(
            c,
            &Actor::System("test"),
            &NewPrl {
                bytes: crate::iota::prl(10003, 4),
                prl_id: None,
                sspr_table: Some(1),
                name: "test".into(),
            },
        )
        .unwrap();
    })
    .await;

    app.login_admin().await;
    let edit = format!("/care/profiles/{id}/edit");
    let (_, form) = app.page(&edit).await;
    let csrf = csrf_of(&form);
    let good: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("mdn", MDN),
        ("min", MDN),
        ("imsi", "310007135550101"),
        ("account_id", "ACC-1"),
        ("subscriber_name", "Test Subscriber"),
        ("sid_nid_pairs", "4145/65535"),
        ("accolc", "3"),
        ("scm", "42"),
        ("mob_p_rev", "9"),
        ("slot_cycle_index", "2"),
        ("prl_id", "10003"),
        ("sspr_table", "1"),
    ];
    let with = |changes: &[(&'static str, &'static str)]| {
        let mut f = good.clone();
        for (k, v) in changes {
            f.retain(|(name, _)| name != k);
            f.push((k, v));
        }
        f
    };
    let refused = |changes: &'static [(&'static str, &'static str)],
                   says: &'static [&'static str]| {
        let form = with(changes);
        let app = &app;
        let edit = &edit;
        async move {
            let r = app.post_form(edit, &form).await;
            assert_eq!(r.status().as_u16(), 422, "{changes:?}");
            let html = r.text().await.unwrap();
            for s in says {
                assert!(html.contains(s), "{changes:?}: {s} in {html}");
            }
        }
    };

    // A cleared NAM number is an error, not its default.
    refused(&[("mob_p_rev", "")], &["is required"]).await;
    refused(&[("scm", " "), ("accolc", "")], &["is required"]).await;
    // Identities another profile holds, named with that profile.
    let min_taken = format!("MIN {HOLDER} is already registered to profile {holder_id}");
    let imsi_taken = format!("IMSI 31000{HOLDER} is already registered to profile {holder_id}");
    let r = app
        .post_form(
            &edit,
            &with(&[("min", HOLDER), ("imsi", "310007135550100")]),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(&min_taken), "{html}");
    assert!(html.contains(&imsi_taken), "{html}");
    // PRL settings the SSPR tables do not back.
    refused(&[("sspr_table", "99")], &["SSPR table 99 holds no PRL"]).await;
    refused(
        &[("prl_id", "10000")],
        &["SSPR table 1 holds PRL 10003, not 10000"],
    )
    .await;
    let p = stored(&app, id).await;
    assert_eq!(
        (p.mob_p_rev, p.scm, p.min.as_str(), p.sspr_table),
        (9, 42, MDN, None),
        "nothing refused was saved"
    );

    let r = app.post_form(&edit, &good).await;
    assert_eq!(r.status().as_u16(), 303);
    let p = stored(&app, id).await;
    assert_eq!(
        (p.prl_id, p.sspr_table, p.accolc),
        (Some(10003), Some(1), 3)
    );

    // The API says the same on the fields, and creates nothing.
    let mut twin = profile_json("7135550102");
    twin["min"] = json!(HOLDER);
    twin["imsi"] = json!(format!("31000{HOLDER}"));
    twin["sspr_table"] = json!(99);
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&twin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    let fields = &body["error"]["fields"];
    assert!(
        fields["sspr_table"]
            .as_str()
            .unwrap()
            .contains("holds no PRL"),
        "{body}"
    );
    twin["sspr_table"] = json!(1);
    twin["prl_id"] = json!(10003);
    let body: Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&twin)
        .send_json()
        .await;
    assert_eq!(body["error"]["fields"]["min"], json!(min_taken), "{body}");
    assert_eq!(body["error"]["fields"]["imsi"], json!(imsi_taken), "{body}");
    assert_eq!(app.count("profiles").await, 2);
    let mut moved = profile_json(MDN);
    moved["min"] = json!(HOLDER);
    let r = app
        .api(Method::PUT, &format!("/profiles/{id}"), &token)
        .json(&moved)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    // A profile keeps its own identities when saved again.
    let r = app
        .api(Method::PUT, &format!("/profiles/{holder_id}"), &token)
        .json(&profile_json(HOLDER))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

async fn subscriber(app: &TestApp, pin: &str) -> reqwest::Client {
    let c = client();
    let r = crate::common::subscriber_sign_in(app, &c, MDN, pin, None).await;
    assert_eq!(r.status().as_u16(), 303, "{MDN} signs in with {pin}");
    c
}

/// The status of the subscriber's line page, and where a redirect goes.
async fn line_page(app: &TestApp, c: &reqwest::Client) -> (u16, String) {
    let r = c
        .get(app.url(&format!("/self/line/{MDN}")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, location)
}

#[tokio::test]
async fn a_pin_set_by_care_or_a_deactivation_ends_the_subscribers_sessions() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mut mine = profile_json(MDN);
    mine["pin"] = json!("2468");
    let id = create(&app, &token, &mine).await["id"].as_i64().unwrap();

    // The subscriber changing their own PIN stays signed in there, and
    // their session elsewhere ends.
    let phone = subscriber(&app, "2468").await;
    let laptop = subscriber(&app, "2468").await;
    let (_, page) = {
        let r = phone
            .get(app.url(&format!("/self/line/{MDN}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let r = phone
        .post(app.url("/self/pin"))
        .form(&[
            ("current_pin", "2468"),
            ("new_pin", "1357"),
            ("csrf", &csrf_of(&page)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(line_page(&app, &phone).await.0, 200);
    assert_eq!(
        line_page(&app, &laptop).await,
        (303, "/self/login".to_string())
    );

    // Care sets a new PIN: the subscriber's session is over, and stays so.
    let laptop = subscriber(&app, "1357").await;
    app.login_admin().await;
    let csrf = app.csrf(&format!("/care/profiles/{id}")).await;
    let r = app
        .post_form(
            &format!("/care/profiles/{id}/pin"),
            &[("csrf", &csrf), ("pin", "9753")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        line_page(&app, &laptop).await,
        (303, "/self/login".to_string())
    );
    let r = laptop
        .post(app.url("/self/pin"))
        .form(&[("current_pin", "1357"), ("new_pin", "0000"), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(line_page(&app, &phone).await.0, 303);

    // A de-activation ends the session signed in with the new PIN too.
    let laptop = subscriber(&app, "9753").await;
    assert_eq!(line_page(&app, &laptop).await.0, 200);
    let r = app
        .api(Method::POST, &format!("/profiles/{id}/activation"), &token)
        .json(&json!({"state": "deactivated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        line_page(&app, &laptop).await,
        (303, "/self/login".to_string())
    );
    // Staff sessions are not affected.
    assert_eq!(app.page(&format!("/care/profiles/{id}")).await.0, 200);
}

#[tokio::test]
async fn care_search_pages_keep_their_limit_and_the_prl_choice_starts_at_the_lines() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut body = profile_json(&format!("713555020{n}"));
        body["subscriber_name"] = json!(format!("Ana & Bo {n}"));
        ids.push(create(&app, &token, &body).await["id"].as_i64().unwrap());
    }
    app.login_admin().await;
    // The next page keeps the filter (encoded) and the page size.
    let (status, html) = app.page("/care?name=Ana+%26+Bo&limit=2").await;
    assert_eq!(status, 200);
    let next = format!("/care?name=Ana+%26+Bo&#38;limit=2&#38;after={}", ids[1]);
    assert!(
        html.contains(&format!(r#"<a href="{next}" rel="next">"#)),
        "{html}"
    );
    let (_, html) = app.page(&next.replace("&#38;", "&")).await;
    assert!(
        html.contains("7135550202") && !html.contains("7135550201"),
        "{html}"
    );

    // The line's PRL (10001) is the one offered first for an OTAPA download.
    app.with_conn(|c| {
        for (id, table) in [(10000, 1), (10001, 2), (10002, 3)] {
            prl_store::add(
                c,
                &Actor::System("test"),
                &NewPrl {
                    bytes: crate::iota::prl(id, 2),
                    prl_id: None,
                    sspr_table: Some(table),
                    name: String::new(),
                },
            )
            .unwrap();
        }
    })
    .await;
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(
            &json!({"esn": "9F100200", "make": "Samsung", "model": "SCH-U350",
                      "firmware_version": "U350.01", "profile_mdn": "7135550200"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::devices;
        diesel::update(devices::table)
            .set(devices::activation_state.eq("activated"))
            .execute(c)
            .unwrap();
    })
    .await;
    let (_, html) = app.page(&format!("/care/profiles/{}", ids[0])).await;
    assert!(
        html.contains(
            r#"<option value="10001" selected>PRL 10001 (SSPR table 2) (current)</option>"#
        ),
        "{html}"
    );
    assert!(html.contains(r#"<option value="10000">"#), "{html}");
}

#[tokio::test]
async fn self_service_shows_the_phones_own_state() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mut mine = profile_json(MDN);
    mine["pin"] = json!("2468");
    create(&app, &token, &mine).await;
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(
            &json!({"esn": "9F100201", "make": "Samsung", "model": "SCH-U350",
                      "firmware_version": "U350.01", "profile_mdn": MDN}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let phone = subscriber(&app, "2468").await;
    let page = |c: reqwest::Client| {
        let url = app.url(&format!("/self/line/{MDN}"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page(phone.clone()).await;
    assert!(
        html.contains(
            r#"<dt>Status</dt><dd><span class="badge badge-pending">Pending activation</span></dd>"#
        ),
        "{html}"
    );
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::devices;
        diesel::update(devices::table)
            .set(devices::activation_state.eq("activated"))
            .execute(c)
            .unwrap();
    })
    .await;
    let html = page(phone).await;
    assert!(
        html.contains(r#"<span class="badge badge-activated">Activated</span></dd>"#),
        "{html}"
    );
}
