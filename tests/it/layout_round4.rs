//! The portal's lists share one pager (templates/pager.html), the dashboard's
//! protocol counts add up to every device, and the busiest pages fit a
//! 375-px phone without scrolling sideways (that last one in Chromium: its
//! name holds "browser", so `scripts/test --test it browser` runs it).

use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::browser::{sign_in, start_chromedriver};
use crate::common::{spawn_app, TestApp, ADMIN_PASSWORD};

async fn demo_app(profiles: u32) -> TestApp {
    let app = spawn_app().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || mdm::demo::load(&db, profiles, &mut |_| {}).unwrap())
        .await
        .unwrap();
    app.login_admin().await;
    app
}

/// The page's one pager: (its markup, the previous or first page's link,
/// the next page's link, its summary text).
fn pager(html: &str) -> (String, Option<String>, Option<String>, String) {
    assert_eq!(
        html.matches("<nav class=\"pager\"").count(),
        1,
        "one pager: {html}"
    );
    let start = html.find("<nav class=\"pager\"").unwrap();
    let nav = &html[start..start + html[start..].find("</nav>").unwrap()];
    let link = |rel: &str| {
        let marker = "<a href=\"";
        nav.split(marker).skip(1).find_map(|a| {
            let (href, rest) = a.split_once('"')?;
            rest.starts_with(&format!(" rel=\"{rel}\""))
                .then(|| href.replace("&amp;", "&").replace("&#38;", "&"))
        })
    };
    let info = nav
        .split("<span class=\"info\">")
        .nth(1)
        .and_then(|s| s.split("</span>").next())
        .unwrap_or_default()
        .to_string();
    (
        nav.to_string(),
        link("prev").or_else(|| link("first")),
        link("next"),
        info,
    )
}

/// Every list names its links and counts in the same words.
fn assert_same_words(nav: &str) {
    assert!(
        nav.contains("← Previous") || nav.contains("← First page"),
        "{nav}"
    );
    assert!(nav.contains("Next →"), "{nav}");
    for other in ["More →", "Older →", "← Newer"] {
        assert!(!nav.contains(other), "{nav}");
    }
}

fn number(s: &str) -> i64 {
    s.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("a number in {s:?}"))
}

#[tokio::test]
async fn care_search_counts_its_matches_and_pages_like_the_device_search() {
    let app = demo_app(30).await;
    let activated = app
        .with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::profiles::dsl::*;
            profiles
                .filter(activation_state.eq("activated"))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert!(
        activated > 5,
        "the demo has more than a page of activated lines"
    );

    let (status, html) = app.page("/care?state=activated&limit=5").await;
    assert_eq!(status, 200);
    let (nav, prev, next, info) = pager(&html);
    assert_same_words(&nav);
    assert_eq!(prev, None, "the first page has nothing before it");
    assert_eq!(
        info,
        format!("5 shown · {activated} profiles match"),
        "the care search gives its total"
    );
    let next = next.expect("a next page");
    assert!(
        next.contains("state=activated") && next.contains("limit=5") && next.contains("after="),
        "{next}"
    );

    // The next page keeps the filters and links back to the first page.
    let (status, html) = app.page(&next).await;
    assert_eq!(status, 200);
    let (nav, first, _, info) = pager(&html);
    assert_same_words(&nav);
    assert_eq!(
        first.as_deref(),
        Some("/care?state=activated&limit=5"),
        "{nav}"
    );
    assert!(
        info.ends_with(&format!("{activated} profiles match")),
        "{info}"
    );

    // The device search's pager is the same partial, its total capped as before.
    let (status, html) = app.page("/devices?make=Motorola").await;
    assert_eq!(status, 200);
    let (nav, _, _, info) = pager(&html);
    assert_same_words(&nav);
    assert!(
        info.contains(" shown · ") && info.contains(" match"),
        "{info}"
    );
}

#[tokio::test]
async fn the_message_log_and_fota_sessions_use_the_same_pager() {
    let app = demo_app(10).await;
    // Three queued messages (no SMSC here): an OMA CP settings push each.
    for _ in 0..3 {
        let csrf = app.csrf("/devices/1").await;
        let r = app
            .post_form(
                "/devices/1/push/settings",
                &[
                    ("csrf", &csrf),
                    ("brew_url", "http://brew.operator.example/"),
                ],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303);
    }
    let queued = app.count("outbox").await;
    assert!(queued >= 3, "{queued}");

    let (status, html) = app.page("/ops/messages").await;
    assert_eq!(status, 200);
    let (nav, prev, next, info) = pager(&html);
    assert_same_words(&nav);
    assert_eq!((prev, next), (None, None), "one page: {nav}");
    assert_eq!(info, format!("{queued} shown · {queued} messages match"));

    // The old keyset parameters still page.
    let (status, html) = app.page("/ops/messages?before=2").await;
    assert_eq!(status, 200);
    let (_, prev, _, info) = pager(&html);
    assert_eq!(info, format!("1 shown · {queued} messages match"), "{html}");
    assert!(
        prev.is_some_and(|p| p.contains("after=1")),
        "a later page links back"
    );
    // An MDN filter is counted too (portal_round5 checks every filter).
    let (status, html) = app.page("/ops/messages?mdn=3125550000").await;
    assert_eq!(status, 200);
    assert_eq!(pager(&html).3, "0 shown · 0 messages match");

    let (status, html) = app.page("/firmware/sessions").await;
    assert_eq!(status, 200);
    let (nav, ..) = pager(&html);
    assert_same_words(&nav);
    let (status, html) = app.page("/firmware/sessions?before=1").await;
    assert_eq!(status, 200);
    let (nav, first, ..) = pager(&html);
    assert_eq!(first.as_deref(), Some("/firmware/sessions"), "{nav}");
}

#[tokio::test]
async fn the_dashboard_protocol_rows_add_up_to_every_device() {
    let app = demo_app(40).await;
    let devices = app.count("devices").await;
    let never = app
        .with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::devices::dsl::*;
            devices
                .filter(last_protocol.is_null())
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert!(
        never > 0 && never < devices,
        "the demo has both kinds ({never} of {devices})"
    );

    let (status, html) = app.page("/ops").await;
    assert_eq!(status, 200);
    let start = html.find("id=\"by-protocol\"").expect("the protocol table");
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    let counts: Vec<i64> = body
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| number(c.split("</td>").next().unwrap()))
        .collect();
    assert!(counts.len() >= 2, "{table}");
    assert_eq!(counts.iter().sum::<i64>(), devices, "{table}");
    let row = body
        .split("id=\"protocol-never\"")
        .nth(1)
        .expect("a never-contacted row");
    assert!(row.contains("never contacted"), "{row}");
    assert_eq!(
        number(
            row.split("<td class=\"num\">")
                .nth(1)
                .unwrap()
                .split("</td>")
                .next()
                .unwrap()
        ),
        never
    );
    let total = table.split("id=\"protocol-total\">").nth(1).unwrap();
    assert_eq!(number(total.split("</td>").next().unwrap()), devices);
}

/// Chromium at a phone's width: the device page's notify and "Lost or
/// stolen" forms and the care page's long star-code button used to push
/// the page to 642 and 514 px.
#[tokio::test]
async fn browser_pages_fit_a_375_px_phone_without_scrolling_sideways() {
    let app = spawn_app().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || mdm::demo::load(&db, 30, &mut |_| {}).unwrap())
        .await
        .unwrap();
    // A line whose handset waits for activation shows the star-code button.
    let (profile, device) = app
        .with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::devices::dsl::*;
            devices
                .filter(activation_state.eq("pending"))
                .filter(profile_id.is_not_null())
                .select((profile_id, id))
                .first::<(Option<i64>, i64)>(c)
                .unwrap()
        })
        .await;
    let profile = profile.unwrap();

    let driver = start_chromedriver();
    let mut caps = serde_json::Map::new();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--window-size=375,800"],
            "mobileEmulation": {"deviceMetrics": {"width": 375, "height": 800, "pixelRatio": 1}}
        }),
    );
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.expect("chromedriver accepts a session");
    let outcome = async {
        c.goto(&app.url("/login")).await?;
        sign_in(&c, "admin", ADMIN_PASSWORD).await?;
        c.wait().for_element(Locator::Css(".topbar .areas")).await?;
        let mut wide = Vec::new();
        for path in [
            format!("/devices/{device}"),
            format!("/care/profiles/{profile}"),
            "/devices".into(),
            "/care?state=activated".into(),
            "/ops".into(),
            "/ops/messages".into(),
        ] {
            c.goto(&app.url(&path)).await?;
            c.wait().for_element(Locator::Css("footer.site")).await?;
            let got = c
                .execute(
                    "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                      [...document.querySelectorAll('form, select, button')]
                        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                        .map(e => e.outerHTML.slice(0, 80))];",
                    vec![],
                )
                .await?;
            let scroll = got[0].as_i64().unwrap_or(i64::MAX);
            let client_width = got[1].as_i64().unwrap_or(0);
            assert_eq!(client_width, 375, "the phone's viewport");
            if scroll > 375 || got[2].as_array().is_some_and(|a| !a.is_empty()) {
                wide.push(format!("{path}: {scroll} px, past the edge: {}", got[2]));
            }
        }
        // The page with the star-code button has it, wrapped onto lines.
        c.goto(&app.url(&format!("/care/profiles/{profile}"))).await?;
        let button = c
            .find(Locator::Css("form[action$='/iota/activate'] button"))
            .await?;
        assert!(button.text().await?.contains("Star-code activation"));
        assert!(wide.is_empty(), "{wide:#?}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.expect("browser session");
}
