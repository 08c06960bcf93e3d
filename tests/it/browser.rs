//! The portal's key path in a real browser: Debian's headless Chromium,
//! driven over WebDriver by chromedriver.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use mdm::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::common::{profile_json, spawn_app, spawn_app_with, SendJson, ADMIN_PASSWORD};

pub(crate) struct Driver {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} ({e}); install Debian's chromium and chromium-driver (scripts/test does)"));
    Driver { child, port }
}

pub(crate) async fn connect(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1366,900"]
        }),
    );
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("chromedriver did not accept a session");
}

/// Fills the sign-in form the browser is on and sends it.
pub(crate) async fn sign_in(c: &Client, username: &str, password: &str) -> Result<(), CmdError> {
    c.find(Locator::Id("username"))
        .await?
        .send_keys(username)
        .await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    c.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await
}

/// The text of the element `css` once it contains `want`: after a form
/// posts, the old page's element may still be found (and go stale) for a
/// moment. The last text seen when it never does.
async fn text_once(c: &Client, css: &str, want: &str) -> String {
    let mut text = String::new();
    for _ in 0..200 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            text = e.text().await.unwrap_or_default();
            if text.contains(want) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

pub(crate) async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("MDM_SCREENSHOT_DIR") {
        if let Ok(png) = c.screenshot().await {
            let _ = std::fs::write(format!("{dir}/{name}.png"), png);
        }
    }
}

#[tokio::test]
async fn an_operator_signs_in_finds_a_device_and_opens_its_detail_page() {
    let app = spawn_app().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || mdm::demo::load(&db, 30, &mut |_| {}).unwrap())
        .await
        .unwrap();
    let (_, token) = app.token(Role::Admin).await;
    app.api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125559999"))
        .send()
        .await
        .unwrap();
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F1ABCDE", "make": "Samsung", "model": "SCH-U350", "firmware_version": "U350.02", "profile_mdn": "3125559999"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        c.goto(&app.url("/devices")).await?;
        // Not signed in: the portal sends the browser to the sign-in page.
        assert!(c.current_url().await?.path().starts_with("/login"));
        screenshot(&c, "login").await;
        sign_in(&c, "admin", ADMIN_PASSWORD).await?;
        c.wait().for_element(Locator::Id("esn")).await?;
        assert_eq!(c.current_url().await?.path(), "/devices");

        c.find(Locator::Id("esn"))
            .await?
            .send_keys("9f1abcde")
            .await?;
        c.find(Locator::Css("form[role=search] button[type=submit]"))
            .await?
            .click()
            .await?;
        // The unfiltered list has a results table too: wait for the search's own page.
        for _ in 0..100 {
            if c.current_url()
                .await?
                .query()
                .is_some_and(|q| q.contains("esn=9f1abcde"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let table = c.wait().for_element(Locator::Id("device-results")).await?;
        let text = table.text().await?;
        assert!(
            text.contains("9F1ABCDE") && text.contains("3125559999"),
            "{text}"
        );
        screenshot(&c, "search").await;

        c.find(Locator::LinkText("9F1ABCDE")).await?.click().await?;
        let identity = c.wait().for_element(Locator::Id("device-identity")).await?;
        let text = identity.text().await?;
        assert!(
            text.contains("9F1ABCDE") && text.contains("U350.02"),
            "{text}"
        );
        let timeline = c.find(Locator::Id("timeline")).await?.text().await?;
        assert!(timeline.contains("created device"), "{timeline}");
        screenshot(&c, "detail").await;

        // A care action on the same page: an OMA CP settings push, which
        // then shows in the message log (no SMSC here, so it waits queued).
        c.find(Locator::Id("brew_url"))
            .await?
            .send_keys("http://brew.operator.example/")
            .await?;
        c.find(Locator::Css(
            "form[action$='/push/settings'] button[type=submit]",
        ))
        .await?
        .click()
        .await?;
        let flash = c.wait().for_element(Locator::Css(".flash")).await?;
        let text = flash.text().await?;
        assert!(text.contains("queued as message"), "{text}");
        c.goto(&app.url("/ops/messages")).await?;
        let log = c.wait().for_element(Locator::Id("messages")).await?;
        let text = log.text().await?;
        assert!(
            text.contains("OMA CP settings") && text.contains("queued"),
            "{text}"
        );
        screenshot(&c, "messages").await;

        c.goto(&app.url("/ops")).await?;
        c.wait().for_element(Locator::Id("metric-devices")).await?;
        screenshot(&c, "dashboard").await;
        c.goto(&app.url("/care/profiles/1")).await?;
        screenshot(&c, "profile").await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.expect("browser session");
}

#[tokio::test]
async fn a_subscriber_activates_a_service_in_self_service() {
    let billing = mdm::billing::sim::BillingSim::start(
        "127.0.0.1:0".parse().unwrap(),
        mdm::billing::sim::SimMode::Succeed,
    )
    .await
    .unwrap();
    let url = billing.url();
    let app =
        spawn_app_with(move |c| c.billing = Some(mdm::billing::BillingConfig::new(url))).await;
    let (_, token) = app.token(Role::Admin).await;
    let mut mine = profile_json("3125558888");
    mine["pin"] = json!("2468");
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        c.goto(&app.url("/self/login")).await?;
        c.find(Locator::Id("mdn"))
            .await?
            .send_keys("3125558888")
            .await?;
        c.find(Locator::Id("pin")).await?.send_keys("2468").await?;
        c.find(Locator::Css(
            "form[action='/self/login'] button[type=submit]",
        ))
        .await?
        .click()
        .await?;
        let add = c
            .wait()
            .for_element(Locator::Id("activate-video_messaging"))
            .await?;
        screenshot(&c, "self-service").await;
        add.click().await?;
        let agree = c.wait().for_element(Locator::Id("agree")).await?;
        let terms = c.find(Locator::Id("terms")).await?.text().await?;
        assert!(terms.contains("Clips are limited to 30 seconds"), "{terms}");
        screenshot(&c, "self-terms").await;
        agree.click().await?;
        let flash = c.wait().for_element(Locator::Css(".flash")).await?;
        let text = flash.text().await?;
        assert!(text.contains("Video Messaging has been added"), "{text}");
        let services = c.find(Locator::Id("services")).await?.text().await?;
        assert!(services.contains("active"), "{services}");
        screenshot(&c, "self-activated").await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.expect("browser session");
    assert_eq!(
        billing.provisioned(),
        vec![("3125558888".to_string(), "VMS".to_string())]
    );
}

#[tokio::test]
async fn a_care_agent_changes_a_subscribers_esn_and_the_new_handset_activates() {
    use mdm::sim::iota_client::{self, IotaOutcome};
    use mdm::sim::iota_handset::{HandsetIdentity, IotaFault, IotaHandset};
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let p: serde_json::Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125557777"))
        .send_json()
        .await;
    let pid = p["id"].as_i64().unwrap();
    app.api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F200001", "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "1.0", "profile_mdn": "3125557777"}))
        .send()
        .await
        .unwrap();
    let activate = |esn: &'static str| {
        let url = app.url("/iota/activate");
        async move {
            let mut h = IotaHandset::new(
                HandsetIdentity::new(esn, None, "Kyocera", "KX-IOTA", 1, 1),
                IotaFault::None,
            );
            iota_client::run(
                &mut h,
                &url,
                true,
                &mdm::sim::trace::Trace::new(None).unwrap(),
            )
            .await
            .unwrap()
        }
    };
    assert!(matches!(
        activate("9F200001").await,
        IotaOutcome::Completed { .. }
    ));
    app.add_user("casey", "care-password-123", Role::Care).await;

    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        // Signing in returns the agent to the subscriber's page.
        c.goto(&app.url(&format!("/care/profiles/{pid}"))).await?;
        sign_in(&c, "casey", "care-password-123").await?;
        c.wait()
            .for_element(Locator::Id("esn-to"))
            .await?
            .send_keys("9F200002")
            .await?;
        c.find(Locator::Css(
            "form[action$='/esn-change'] button[type=submit]",
        ))
        .await?
        .click()
        .await?;
        let flash = c.wait().for_element(Locator::Css(".flash")).await?;
        let text = flash.text().await?;
        assert!(text.contains("pending activation"), "{text}");
        let changes = c.find(Locator::Id("esn-changes")).await?.text().await?;
        assert!(
            changes.contains("9F200002") && changes.contains("pending"),
            "{changes}"
        );
        screenshot(&c, "care-esn-change").await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    outcome.expect("browser session");
    // The new handset's one-button activation completes the change, and the
    // page says so.
    assert!(matches!(
        activate("9F200002").await,
        IotaOutcome::Completed { .. }
    ));
    let outcome = async {
        c.goto(&app.url(&format!("/care/profiles/{pid}"))).await?;
        let changes = c
            .wait()
            .for_element(Locator::Id("esn-changes"))
            .await?
            .text()
            .await?;
        assert!(changes.contains("completed"), "{changes}");
        let identity = c
            .find(Locator::Id("profile-identity"))
            .await?
            .text()
            .await?;
        assert!(identity.contains("9F200002"), "{identity}");
        screenshot(&c, "care-esn-completed").await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.expect("browser session");
}

#[tokio::test]
async fn a_firmware_manager_plans_a_campaign_from_the_update_matrix_and_starts_it() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for n in 1..=3 {
        crate::campaigns::line(&app, &token, n, "VX9600V04", n != 2).await;
    }
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        c.goto(&app.url("/login")).await?;
        sign_in(&c, "admin", ADMIN_PASSWORD).await?;
        c.wait().for_element(Locator::Css("nav")).await?;
        c.goto(&app.url("/firmware")).await?;
        c.wait()
            .for_element(Locator::LinkText("plan a campaign"))
            .await?
            .click()
            .await?;
        let path = c.wait().for_element(Locator::Id("path")).await?;
        let chosen = path
            .find(Locator::Css("option:checked"))
            .await?
            .text()
            .await?;
        assert!(
            chosen.starts_with("LG VX9600 VX9600V04 → VX9600V06"),
            "{chosen}"
        );
        c.find(Locator::Id("name"))
            .await?
            .send_keys("VX9600 canary")
            .await?;
        let wave = c.find(Locator::Id("wave_size")).await?;
        wave.clear().await?;
        wave.send_keys("2").await?;
        screenshot(&c, "campaign-form").await;
        c.find(Locator::Css(
            "form[action='/firmware/campaigns'] button[type=submit]",
        ))
        .await?
        .click()
        .await?;
        let state = c.wait().for_element(Locator::Id("campaign-state")).await?;
        assert_eq!(state.text().await?, "draft");
        assert_eq!(
            c.find(Locator::Id("campaign-devices"))
                .await?
                .text()
                .await?,
            "3"
        );
        c.find(Locator::Id("campaign-start")).await?.click().await?;
        let text = text_once(&c, ".flash", "is running").await;
        // Line 2 has no OMA-DM credentials: skipped, with the reason below.
        assert!(
            text.contains("1 device(s) notified now, 1 skipped"),
            "{text}"
        );
        assert_eq!(
            c.find(Locator::Id("campaign-state")).await?.text().await?,
            "running"
        );
        // The chart draws wave 1 (one notified, one skipped) and wave 2
        // (one waiting).
        let bars = c.find_all(Locator::Css("#campaign-waves rect")).await?;
        assert_eq!(bars.len(), 3);
        let members = c
            .find(Locator::Id("campaign-members"))
            .await?
            .text()
            .await?;
        assert!(
            members.contains("the device has no OMA-DM credentials"),
            "{members}"
        );
        screenshot(&c, "campaign").await;
        c.find(Locator::Id("campaign-pause")).await?.click().await?;
        let state = text_once(&c, "#campaign-state", "paused").await;
        assert_eq!(state, "paused");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.expect("browser session");
}

#[tokio::test]
async fn the_access_pages_fit_a_1280_pixel_window() {
    let app = spawn_app().await;
    for (name, role) in [
        ("billing-gateway", Role::Care),
        ("pos-terminals-north", Role::Operator),
        ("release-management", Role::Firmware),
    ] {
        app.with_conn(move |c| {
            let (t, secret) = mdm::auth::tokens::create(
                c,
                &mdm::registry::Actor::System("test"),
                name,
                role,
                Some(90),
            )
            .unwrap();
            mdm::auth::tokens::authenticate(c, &secret).unwrap();
            t.id
        })
        .await;
    }
    let driver = start_chromedriver();
    let c = connect(driver.port).await;
    let outcome = async {
        c.set_window_size(1280, 1000).await?;
        c.goto(&app.url("/login")).await?;
        sign_in(&c, "admin", ADMIN_PASSWORD).await?;
        c.wait().for_element(Locator::Css(".topbar .who")).await?;
        for page in ["/admin/tokens", "/admin/users", "/admin/users/1", "/account"] {
            c.goto(&app.url(page)).await?;
            c.wait().for_element(Locator::Css("main h1")).await?;
            screenshot(&c, &page[1..].replace('/', "-")).await;
            // Nothing scrolls sideways, and every button in a table is
            // within its table's box.
            let fits = c
                .execute(
                    r#"const cut = [...document.querySelectorAll('.table-wrap')].filter(w =>
                           w.scrollWidth > w.clientWidth ||
                           [...w.querySelectorAll('button, .button')].some(b =>
                               b.getBoundingClientRect().right > w.getBoundingClientRect().right));
                       return cut.length === 0 &&
                           document.documentElement.scrollWidth <= document.documentElement.clientWidth;"#,
                    vec![],
                )
                .await?;
            assert_eq!(fits, json!(true), "{page} fits 1280 px");
        }
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.expect("browser session");
}
