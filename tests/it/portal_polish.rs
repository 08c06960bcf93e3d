//! The portal after exploratory QA: the device search's total and state
//! filter, the message log's pages, confirmations before deleting, the
//! header on a phone, and the firmware landscape's shares.

use std::time::Duration;

use fantoccini::{Client, Locator};
use mdm::auth::Role;
use mdm::registry::device::{self, DeviceDraft, DeviceQuery, MatchCount};
use mdm::registry::Actor;
use reqwest::Method;
use serde_json::json;

use crate::browser::{connect, screenshot, sign_in, start_chromedriver};
use crate::common::{profile_json, spawn_app, SendJson, TestApp, ADMIN_PASSWORD};

/// Registers `n` devices of one make, model and version; returns their ids.
async fn register(app: &TestApp, first: u32, n: u32, model: &str, version: &str) -> Vec<i64> {
    let (model, version) = (model.to_string(), version.to_string());
    app.with_conn(move |c| {
        (first..first + n)
            .map(|i| {
                let draft = DeviceDraft {
                    esn: Some(format!("{:08X}", 0x9F00_0000 + i)),
                    make: Some("Acme".into()),
                    model: Some(model.clone()),
                    firmware_version: Some(version.clone()),
                    ..Default::default()
                };
                device::create(c, &Actor::System("test"), &draft)
                    .unwrap()
                    .id
            })
            .collect()
    })
    .await
}

/// Sets the handset's own activation state, as an ESN change would.
async fn set_state(app: &TestApp, ids: Vec<i64>, state: &'static str) {
    use diesel::prelude::*;
    use mdm::db::schema::devices;
    app.with_conn(move |c| {
        diesel::update(devices::table.filter(devices::id.eq_any(ids)))
            .set(devices::activation_state.eq(state))
            .execute(c)
            .unwrap()
    })
    .await;
}

/// The `href` of the link with `rel` in a page, as a browser reads it.
fn link(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\""))?;
    let start = html[..at].rfind("href=\"")? + 6;
    Some(unescape(&html[start..start + html[start..].find('"')?]))
}

/// The `href` of the first link whose address starts with `prefix`.
fn href(html: &str, prefix: &str) -> Option<String> {
    let start = html.find(&format!("href=\"{prefix}"))? + 6;
    Some(unescape(&html[start..start + html[start..].find('"')?]))
}

fn unescape(v: &str) -> String {
    v.replace("&#38;", "&").replace("&amp;", "&")
}

fn rows_of(html: &str, table_id: &str) -> usize {
    let start = html.find(&format!("id=\"{table_id}\"")).expect("the table");
    let body = &html[start..];
    let body = &body[..body.find("</table>").unwrap()];
    body.matches("<tr>").count() + body.matches("<tr ").count() - 1
}

#[tokio::test]
async fn the_device_search_counts_every_match_and_filters_by_handset_state() {
    let app = spawn_app().await;
    let ids = register(&app, 0, 60, "P1", "1.0").await;
    let other = register(&app, 100, 2, "Other", "1.0").await;
    set_state(&app, ids[..7].to_vec(), "pending").await;
    set_state(
        &app,
        ids[7..].iter().chain(&other).copied().collect(),
        "activated",
    )
    .await;
    app.login_admin().await;

    // All of a model's devices, not only the first page's 50.
    let (status, html) = app.page("/devices?make=Acme&model=P1").await;
    assert_eq!(status, 200);
    assert!(html.contains("60 devices match"), "{html}");
    assert_eq!(rows_of(&html, "device-results"), 50);

    // The handset's own state narrows the search; the count, the paging
    // links and the CSV export keep the filter.
    let (status, html) = app.page("/devices?make=Acme&state=pending").await;
    assert_eq!(status, 200);
    assert!(html.contains("7 devices match"), "{html}");
    assert_eq!(rows_of(&html, "device-results"), 7);
    assert!(!html.contains("badge-activated\">activated"), "{html}");
    assert!(
        html.contains("<option value=\"pending\" selected>"),
        "{html}"
    );
    assert_eq!(
        href(&html, "/devices/export.csv").as_deref(),
        Some("/devices/export.csv?make=Acme&state=pending")
    );
    let csv = app
        .get("/devices/export.csv?make=Acme&state=pending")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");

    // The REST API's device search takes the same filter.
    let (_, token) = app.token(Role::Admin).await;
    let page: serde_json::Value = app
        .api(Method::GET, "/devices?make=Acme&state=pending", &token)
        .send_json()
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 7, "{page}");
    let r = app
        .api(Method::GET, "/devices?state=lost", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);

    let (_, html) = app.page("/devices?make=Acme&state=activated").await;
    assert!(html.contains("55 devices match"), "{html}");
    let next = link(&html, "next").expect("a next page");
    assert!(next.contains("state=activated"), "{next}");
    let (_, html) = app.page(&next).await;
    assert!(html.contains("55 devices match"), "{html}");
    assert_eq!(rows_of(&html, "device-results"), 5);
    let prev = link(&html, "prev").expect("a previous page");
    assert!(prev.contains("state=activated"), "{prev}");

    // A state the registry does not know is the searcher's mistake.
    let (status, html) = app.page("/devices?state=lost").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("STATE: must be pending, activated or deactivated"),
        "{html}"
    );

    // Counting stops at a cap, so that a million-row registry is not
    // counted on every page view.
    let q = DeviceQuery {
        make: Some("Acme".into()),
        ..Default::default()
    };
    let (capped, exact) = app
        .with_conn(move |c| {
            (
                device::count(c, &q, 5).unwrap(),
                device::count(c, &q, 100).unwrap(),
            )
        })
        .await;
    assert_eq!(
        capped,
        MatchCount {
            count: 5,
            more: true
        }
    );
    assert_eq!(
        exact,
        MatchCount {
            count: 62,
            more: false
        }
    );
}

#[tokio::test]
async fn the_message_log_pages_through_every_message_keeping_its_filters() {
    use mdm::messaging::outbox::{self, Kind, NewMessage};
    use mdm::registry::identifiers::Mdn;
    let app = spawn_app().await;
    app.with_conn(|c| {
        for i in 0..250 {
            let mdn = if i % 2 == 0 {
                "3125550100"
            } else {
                "3125550101"
            };
            let msg = NewMessage {
                kind: Kind::Text,
                device_id: None,
                mdn: Mdn::parse(mdn).unwrap(),
                payload: format!("message {i}").into_bytes(),
                wdp_port: None,
                summary: format!("message {i}"),
            };
            outbox::queue(c, &msg, "test", 1).unwrap();
        }
    })
    .await;
    app.login_admin().await;

    // 250 messages: 100, 100 and 50, newest first, none left out.
    let (status, first) = app.page("/ops/messages").await;
    assert_eq!(status, 200);
    assert_eq!(rows_of(&first, "messages"), 100);
    assert!(first.contains(">message 249<"), "newest first");
    assert!(link(&first, "prev").is_none());
    let older = link(&first, "next").expect("older messages");
    let (_, second) = app.page(&older).await;
    assert_eq!(rows_of(&second, "messages"), 100);
    assert!(second.contains(">message 149<") && !second.contains(">message 150<"));
    let (_, third) = app.page(&link(&second, "next").unwrap()).await;
    assert_eq!(rows_of(&third, "messages"), 50);
    assert!(third.contains(">message 0<"));
    assert!(
        link(&third, "next").is_none(),
        "the oldest page is the last"
    );
    // Back to the newer ones.
    let (_, back) = app.page(&link(&third, "prev").unwrap()).await;
    assert!(back.contains(">message 149<") && back.contains(">message 50<"));

    // A filter holds on every page: 125 messages to one line.
    let (_, first) = app.page("/ops/messages?mdn=3125550101&kind=text").await;
    assert_eq!(rows_of(&first, "messages"), 100);
    let older = link(&first, "next").expect("older messages");
    assert!(
        older.contains("mdn=3125550101") && older.contains("kind=text"),
        "{older}"
    );
    let (_, second) = app.page(&older).await;
    assert_eq!(rows_of(&second, "messages"), 25);
    assert!(!second.contains("3125550100"), "only the filtered line");
}

#[tokio::test]
async fn forms_that_delete_name_what_they_delete_and_ask_first() {
    let app = spawn_app().await;
    // The Content-Security-Policy bars inline script, so the question is
    // asked by a script file of the portal's own.
    let r = app.get("/login").await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("script-src"),
        "{csp}"
    );
    let r = app.get("/static/confirm.js").await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(r.text().await.unwrap().contains("data-confirm"));

    let (_, token) = app.token(Role::Admin).await;
    let profile = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125550142"))
        .send_json()
        .await;
    let dev = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F1ABCDE", "make": "Acme", "model": "P1", "firmware_version": "1.0"}))
        .send_json()
        .await;
    app.with_conn(|c| {
        mdm::registry::capability::create(
            c,
            &Actor::System("test"),
            &mdm::registry::capability::CapabilityDraft {
                make: Some("Acme".into()),
                model: Some("P1".into()),
                protocol: Some("omadm".into()),
                fota: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    })
    .await;
    app.add_user("jane", "a-long-password-for-jane", Role::Operator)
        .await;
    let jane = app
        .with_conn(|c| mdm::auth::users::by_name(c, "jane").unwrap().id)
        .await;
    let package = app
        .release_package(&token, "Acme", "P1", "1.0", "1.1", 1000)
        .await;
    app.login_admin().await;

    for (page, question) in [
        (
            format!("/devices/{}", dev["id"]),
            "data-confirm=\"Delete device 9F1ABCDE (Acme P1) from the registry?\"",
        ),
        (
            "/capabilities".to_string(),
            "data-confirm=\"Delete the capability entry for Acme P1 (all versions)?\"",
        ),
        (
            "/admin/tokens".to_string(),
            "data-confirm=\"Revoke the API token admin-client?",
        ),
        (
            format!("/admin/users/{jane}"),
            "data-confirm=\"Disable jane?",
        ),
        (
            format!("/firmware/packages/{package}"),
            "data-confirm=\"Withdraw package",
        ),
        (
            format!("/care/profiles/{}", profile["id"]),
            "data-confirm=\"Deactivate the line 3125550142 (Test Subscriber)?\"",
        ),
    ] {
        let (status, html) = app.page(&page).await;
        assert_eq!(status, 200, "{page}");
        assert!(html.contains(question), "{page}: {html}");
        assert!(
            html.contains("<script src=\"/static/confirm.js\" defer></script>"),
            "{page}"
        );
    }
}

/// Clicks the device page's Delete button; the confirmation's text.
async fn click_delete(c: &Client) -> Result<String, fantoccini::error::CmdError> {
    c.find(Locator::Css("form[action$='/delete'] button[type=submit]"))
        .await?
        .click()
        .await?;
    for _ in 0..100 {
        if let Ok(text) = c.get_alert_text().await {
            return Ok(text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(String::new())
}

#[tokio::test]
async fn a_device_is_deleted_in_the_browser_only_once_the_question_is_answered_yes() {
    let app = spawn_app().await;
    let ids = register(&app, 0xABC, 1, "P1", "1.0").await;
    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        c.goto(&app.url(&format!("/devices/{}", ids[0]))).await?;
        sign_in(&c, "admin", ADMIN_PASSWORD).await?;
        c.wait().for_element(Locator::Id("device-identity")).await?;
        let question = click_delete(&c).await?;
        assert_eq!(
            question,
            "Delete device 9F000ABC (Acme P1) from the registry?"
        );
        c.dismiss_alert().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            c.current_url().await?.path(),
            format!("/devices/{}", ids[0])
        );
        let (status, _) = app.page(&format!("/devices/{}", ids[0])).await;
        assert_ne!(status, 404, "still registered after No");

        click_delete(&c).await?;
        c.accept_alert().await?;
        for _ in 0..100 {
            if c.current_url().await?.path() == "/devices" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(c.current_url().await?.path(), "/devices");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.unwrap();
    assert_eq!(app.count("devices").await, 0, "deleted after Yes");
}

/// Where the header's parts sit on the page the browser shows.
async fn header_layout(c: &Client) -> serde_json::Value {
    c.execute(
        r#"
        const box = s => document.querySelector(s).getBoundingClientRect();
        const mid = r => (r.top + r.bottom) / 2;
        const areas = document.querySelector('.areas');
        const current = box('.areas a[aria-current="page"]');
        const who = document.querySelector('.who');
        return {
          viewport: window.innerWidth,
          page: document.documentElement.scrollWidth,
          brand: mid(box('.brand')),
          brand_bottom: box('.brand').bottom,
          who: mid(box('.who')),
          account: mid(box('.user a[href="/account"]')),
          signout: mid(box('.signout button')),
          signout_right: box('.signout button').right,
          areas_top: box('.areas').top,
          areas_overflow: areas.scrollWidth - areas.clientWidth,
          current_left: current.left,
          current_right: current.right,
          name_cut: who.scrollWidth > who.clientWidth,
        };
        "#,
        vec![],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_header_reads_on_a_phone_and_on_a_desktop() {
    let app = spawn_app().await;
    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        c.goto(&app.url("/devices")).await?;
        sign_in(&c, "admin", ADMIN_PASSWORD).await?;
        c.wait().for_element(Locator::Id("esn")).await?;
        for width in [360, 1280] {
            c.set_window_size(width, 800).await?;
            c.goto(&app.url("/devices")).await?;
            c.wait().for_element(Locator::Id("esn")).await?;
            screenshot(&c, &format!("header-{width}")).await;
            let l = header_layout(&c).await;
            let n = |k: &str| l[k].as_f64().unwrap();
            assert!(n("viewport") <= f64::from(width), "{l}");
            // Nothing runs off the side of the screen.
            assert!(n("page") <= n("viewport"), "{width}: {l}");
            assert!(n("signout_right") <= n("viewport"), "{width}: {l}");
            // The user line is one line, on the brand's row...
            for part in ["who", "account", "signout"] {
                assert!((n(part) - n("brand")).abs() < 8.0, "{width}: {part} {l}");
            }
            assert_eq!(
                l["name_cut"], false,
                "{width}: the name is shown whole: {l}"
            );
            // ...and the areas are the row below, all of them in view.
            assert!(n("areas_top") >= n("brand_bottom") - 1.0, "{width}: {l}");
            assert!(n("areas_overflow") <= 0.0, "{width}: {l}");
            assert!(
                n("current_left") >= 0.0 && n("current_right") <= n("viewport"),
                "{width}: {l}"
            );
        }
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.unwrap();
}

#[tokio::test]
async fn the_firmware_landscape_rounds_shares_to_nearest_and_keeps_small_ones() {
    let app = spawn_app().await;
    register(&app, 0, 149, "S1", "2.0").await;
    register(&app, 500, 1, "S1", "1.0").await;
    app.login_admin().await;
    let (status, html) = app.page("/firmware").await;
    assert_eq!(status, 200);
    let shares: Vec<&str> = html
        .split("<td class=\"share\">")
        .skip(1)
        .map(|cell| cell.split("</td>").next().unwrap())
        .collect();
    assert_eq!(shares.len(), 2, "{html}");
    // 1 of 150 is 0.67 %: neither "0%" nor lost; 149 of 150 is 99.3 %.
    assert!(
        shares[0].contains("width:0.7%") && shares[0].ends_with("0.7 %"),
        "{shares:?}"
    );
    assert!(
        shares[1].contains("width:99.3%") && shares[1].ends_with("99.3 %"),
        "{shares:?}"
    );
}
