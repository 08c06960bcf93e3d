//! Portal round 5: protocol and state codes shown as words, unknown filter
//! values and unreadable parameters answered with a 400 that names the
//! parameter, the message log counted under every filter, and a FOTA
//! session closed as stalled that later updated the handset said so in
//! the lists.

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::fota::session as fota;
use mdm::fota::FotaState;
use serde_json::json;

use crate::common::{spawn_app, TestApp};

/// A U960 handset registered by API; returns its id.
async fn handset(app: &TestApp, meid: &str) -> i64 {
    let (_, token) = app.token(Role::Admin).await;
    app.u960_handset(&token, json!({ "meid": meid })).await
}

/// A FOTA session of `device` over `protocol`, closed with `detail`
/// (failed), so the next one can be registered; returns its id.
async fn closed_session(app: &TestApp, device: i64, protocol: &'static str, detail: String) -> i64 {
    app.with_conn(move |c| {
        let s = fota::register_pending(c, device, protocol, "U960.05", "test").unwrap();
        fota::advance(c, s.id, FotaState::Failed, &detail)
            .unwrap()
            .id
    })
    .await
}

/// The `<tbody>` of the table with id `id`.
fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("table {id}: {html}"));
    let t = &html[start..];
    &t[..t.find("</table>").unwrap()]
}

#[tokio::test]
async fn protocols_are_words_on_the_fota_screens_and_the_dashboard() {
    let app = spawn_app().await;
    let device = handset(&app, "A1000012345678").await;
    let over_dm = closed_session(&app, device, "omadm", "test".into()).await;
    let over_iota = closed_session(&app, device, "iota", "test".into()).await;
    app.with_conn(move |c| {
        use mdm::db::schema::devices;
        diesel::update(devices::table.find(device))
            .set(devices::last_protocol.eq(Some("omadm")))
            .execute(c)
            .unwrap()
    })
    .await;
    app.login_admin().await;

    let (status, html) = app.page("/firmware/sessions").await;
    assert_eq!(status, 200);
    let rows = table(&html, "fota-sessions");
    assert!(rows.contains("<td>OMA-DM</td>"), "{rows}");
    assert!(rows.contains("<td>IOTA</td>"), "{rows}");
    assert!(
        !rows.contains("<td>omadm</td>") && !rows.contains("<td>iota</td>"),
        "{rows}"
    );

    let (_, html) = app.page(&format!("/firmware/sessions/{over_dm}")).await;
    let subtitle = html.split("class=\"subtitle\"").nth(1).unwrap_or_default();
    let subtitle = subtitle.split("</p>").next().unwrap_or_default();
    assert!(subtitle.contains(" · over OMA-DM · "), "{subtitle}");
    let (_, html) = app.page(&format!("/firmware/sessions/{over_iota}")).await;
    assert!(html.contains("over IOTA"), "{html}");

    let (status, html) = app.page("/ops").await;
    assert_eq!(status, 200);
    let rows = table(&html, "by-protocol");
    assert!(rows.contains("<td>OMA-DM</td>"), "{rows}");
    assert!(!rows.contains("<td>omadm</td>"), "{rows}");
}

#[tokio::test]
async fn the_iota_state_filter_offers_words_and_keeps_the_codes() {
    use mdm::iota::ospp::{Flow, Stage};
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = app
        .add_subscriber(&token, &crate::common::profile_json("4155550150"))
        .await;
    app.with_conn(move |c| {
        mdm::iota::session::insert(
            c,
            &mdm::iota::session::NewSession {
                flow: Flow::OneButton,
                state: "awaiting_handset",
                stage: Stage::Identify,
                device_id: None,
                profile_id: Some(pid),
                esn: None,
                meid: None,
                prl_sspr_table: None,
                fota_session_id: None,
                detail: String::new(),
            },
        )
        .unwrap()
    })
    .await;
    app.login_admin().await;

    let (status, html) = app.page("/ops/iota?state=awaiting_handset").await;
    assert_eq!(status, 200);
    let select = &html[html.find("<select id=\"state\"").expect("the state filter")..];
    let select = &select[..select.find("</select>").unwrap()];
    assert!(
        select
            .contains(r#"<option value="awaiting_handset" selected>Awaiting the handset</option>"#),
        "{select}"
    );
    assert!(
        select.contains(r#"<option value="completed">Completed</option>"#),
        "{select}"
    );
    assert!(!select.contains(">awaiting_handset<"), "{select}");
    // The row says it in the same words.
    let rows = table(&html, "iota-sessions");
    assert!(rows.contains(">Awaiting the handset</span>"), "{rows}");
    assert!(!rows.contains(">awaiting_handset<"), "{rows}");
    // And so does the subscriber's page.
    let (_, html) = app.page(&format!("/care/profiles/{pid}")).await;
    assert!(html.contains(">Awaiting the handset</span>"), "{html}");
    assert!(!html.contains(">awaiting_handset<"), "{html}");
}

#[tokio::test]
async fn an_unknown_care_state_is_a_400_naming_the_parameter() {
    let app = spawn_app().await;
    app.login_admin().await;
    for bad in ["bogus", "Activated"] {
        let (status, html) = app.page(&format!("/care?state={bad}")).await;
        assert_eq!(status, 400, "{bad}: {html}");
        assert!(
            html.contains(&format!("The address parameter “state” takes pending, activated, deactivated; “{bad}” is not one of them.")),
            "{bad}: {html}"
        );
        // The portal's error page, not the search page with a field error.
        assert!(!html.contains("id=\"profile-results\""), "{html}");
    }
    let (status, _) = app.page("/care?state=activated").await;
    assert_eq!(status, 200);
    let (status, _) = app.page("/care?state=").await;
    assert_eq!(status, 200, "a blank filter is no filter");
}

#[tokio::test]
async fn the_message_log_counts_under_every_filter() {
    use mdm::db::schema::outbox as table_;
    use mdm::messaging::outbox::{self, Kind, NewMessage};
    use mdm::registry::identifiers::Mdn;
    let app = spawn_app().await;
    // Per line and kind: 3125550100 has 5 texts and 2 SIs, 3125550101 has
    // 3 texts; of these, the first text of each line failed.
    let failed = app
        .with_conn(|c| {
            let mut failed = Vec::new();
            for (mdn, kind, n) in [
                ("3125550100", Kind::Text, 5),
                ("3125550100", Kind::ServiceIndication, 2),
                ("3125550101", Kind::Text, 3),
            ] {
                for i in 0..n {
                    let msg = NewMessage {
                        kind,
                        device_id: None,
                        mdn: Mdn::parse(mdn).unwrap(),
                        payload: format!("message {i}").into_bytes(),
                        wdp_port: None,
                        summary: format!("message {i}"),
                    };
                    let m = outbox::queue(c, &msg, "test", 8).unwrap();
                    if i == 0 && kind == Kind::Text {
                        failed.push(m.id);
                    }
                }
            }
            diesel::update(table_::table.filter(table_::id.eq_any(&failed)))
                .set(table_::state.eq("failed"))
                .execute(c)
                .unwrap();
            failed
        })
        .await;
    assert_eq!(failed.len(), 2);
    app.login_admin().await;

    for (query, total) in [
        ("", "10 messages match"),
        ("?state=failed", "2 messages match"),
        ("?mdn=3125550100", "7 messages match"),
        ("?kind=text", "8 messages match"),
        ("?kind=wap_si", "2 messages match"),
        ("?mdn=3125550100&kind=text", "5 messages match"),
        ("?mdn=3125550101&state=failed", "1 message matches"),
        ("?kind=text&state=queued", "6 messages match"),
        (
            "?mdn=3125550100&kind=wap_si&state=failed",
            "0 messages match",
        ),
        ("?mdn=3125550199", "0 messages match"),
    ] {
        let (status, html) = app.page(&format!("/ops/messages{query}")).await;
        assert_eq!(status, 200, "{query}");
        let info = html
            .split("<span class=\"info\">")
            .nth(1)
            .and_then(|s| s.split("</span>").next())
            .unwrap_or_else(|| panic!("{query}: the pager: {html}"));
        assert!(info.ends_with(total), "{query}: {info}");
    }
}

#[tokio::test]
async fn a_bad_parameter_is_named_whatever_made_it_unreadable() {
    let app = spawn_app().await;
    app.login_admin().await;
    for (path, name, says) in [
        // A text filter's value is no number either: the paging one is meant.
        (
            "/devices?make=Kyocera&after=abc",
            "after",
            "takes a whole number",
        ),
        ("/care?name=Ana&limit=lots", "limit", "takes a whole number"),
        (
            "/firmware/sessions?state=failed&device_id=x",
            "device_id",
            "takes a whole number",
        ),
        // A blank number, and a parameter given twice, were a 400 that
        // named nothing.
        ("/ops/messages?before=", "before", "takes a whole number"),
        ("/care?after=1&after=2", "after", "is given more than once"),
        (
            "/firmware/sessions?limit=5&limit=6",
            "limit",
            "is given more than once",
        ),
    ] {
        let (status, html) = app.page(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            html.contains(&format!("The address parameter “{name}” {says}")),
            "{path}: {html}"
        );
        assert!(!html.contains("cannot read"), "{path}: {html}");
    }
}

#[tokio::test]
async fn a_stalled_session_that_updated_later_says_so_in_the_lists() {
    let app = spawn_app().await;
    let device = handset(&app, "A1000012345679").await;
    // An earlier session that simply failed.
    let plain = closed_session(&app, device, "omadm", "download failed: 402".into()).await;
    // One closed because its download stopped, then the handset came back
    // and reported its update.
    let stalled = closed_session(&app, device, "omadm", fota::stall_detail(100, 200, 61)).await;
    let late = app
        .with_conn(move |c| {
            let s = fota::get(c, stalled).unwrap();
            fota::record_late_result(c, s, 200).unwrap()
        })
        .await;
    assert_eq!(
        (late.state.as_str(), late.result_code),
        ("failed", Some(200))
    );
    // One closed as stalled whose late report was a failure.
    let late_failure = closed_session(&app, device, "omadm", fota::stall_detail(5, 200, 70)).await;
    app.with_conn(move |c| {
        let s = fota::get(c, late_failure).unwrap();
        fota::record_late_result(c, s, 410).unwrap()
    })
    .await;
    app.login_admin().await;

    let row = |html: &str, id: i64| -> String {
        let rows = table(
            html,
            if html.contains("id=\"device-fota\"") {
                "device-fota"
            } else {
                "fota-sessions"
            },
        );
        rows.split("<tr>")
            .find(|r| r.contains(&format!("/firmware/sessions/{id}\"")))
            .unwrap_or_else(|| panic!("row of {id}: {rows}"))
            .to_string()
    };
    for page in [
        "/firmware/sessions".to_string(),
        format!("/devices/{device}"),
    ] {
        let (status, html) = app.page(&page).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            row(&html, stalled).contains(">failed — updated later<"),
            "{page}: {}",
            row(&html, stalled)
        );
        for other in [plain, late_failure] {
            let r = row(&html, other);
            assert!(
                r.contains(">failed<") && !r.contains("updated later"),
                "{page}: {r}"
            );
        }
    }
    // The state stays failed: a filter by state still finds it there.
    let (_, html) = app.page("/firmware/sessions?state=failed").await;
    assert!(row(&html, stalled).contains("updated later"));
    let stored = app
        .with_conn(move |c| fota::get(c, stalled).unwrap().state)
        .await;
    assert_eq!(stored, "failed");
}

#[tokio::test]
async fn fota_states_are_words_in_the_lists_the_filter_and_the_session_page() {
    let app = spawn_app().await;
    let device = handset(&app, "A100001234567A").await;
    let no_update = app
        .with_conn(move |c| {
            let s = fota::register_pending(c, device, "omadm", "U960.05", "test").unwrap();
            fota::advance(c, s.id, FotaState::NoUpdate, "no released package")
                .unwrap()
                .id
        })
        .await;
    app.login_admin().await;

    let (status, html) = app.page("/firmware/sessions").await;
    assert_eq!(status, 200);
    let rows = table(&html, "fota-sessions");
    let row = rows
        .split("<tr>")
        .find(|r| r.contains(&format!("/firmware/sessions/{no_update}\"")))
        .unwrap_or_else(|| panic!("row of {no_update}: {rows}"));
    assert!(row.contains(">no update<"), "{row}");
    assert!(!row.contains("no_update<"), "{row}");
    // The filter shows words and keeps the codes as values.
    assert!(
        html.contains("<option value=\"no_update\">no update</option>"),
        "{html}"
    );
    assert!(html.contains("<option value=\"offered\">package offered</option>"));
    let (status, html) = app.page("/firmware/sessions?state=no_update").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/firmware/sessions/{no_update}\"")));

    let (_, html) = app.page(&format!("/firmware/sessions/{no_update}")).await;
    assert!(
        html.contains("id=\"fota-state\">no update</span>"),
        "{html}"
    );
    let (_, html) = app.page(&format!("/devices/{device}")).await;
    assert!(html.contains("<td>no update</td>"), "{html}");
}
