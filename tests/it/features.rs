//! Feature activation over the WAP decks (steps 45-62 of the source
//! document) against the billing-gateway simulator: billing information,
//! terms, agreement, the gateway's answer, and the profile after it.

use std::time::Duration;

use mdm::auth::Role;
use mdm::billing::sim::{BillingSim, SimMode};
use mdm::billing::BillingConfig;
use reqwest::Method;
use serde_json::json;

use crate::common::{
    assert_well_formed, profile_json, spawn_app_with, spawn_app_with_billing, TestApp,
};

const MDN: &str = "3125550123";
const MEID: &str = "A1000012345670";
const WML: &str = "text/vnd.wap.wml";
const XHTML: &str = "application/vnd.wap.xhtml+xml";

async fn app_with_billing(billing: BillingConfig, trusted: bool) -> TestApp {
    let app = spawn_app_with_billing(billing, trusted).await;
    let (_, token) = app.token(Role::Admin).await;
    app.api_create("/profiles", &token, &profile_json(MDN))
        .await;
    app.api_create("/devices", &token, &json!({"meid": MEID, "make": "LG", "model": "VX9600", "firmware_version": "V1", "profile_mdn": MDN}))
        .await;
    app
}

async fn sim(mode: SimMode) -> BillingSim {
    BillingSim::start("127.0.0.1:0".parse().unwrap(), mode)
        .await
        .unwrap()
}

/// A handset browser behind the trusted gateway: GET with the device header.
async fn deck(app: &TestApp, path: &str, accept: &str) -> (u16, String, String) {
    let r = app
        .client
        .get(app.url(path))
        .header("x-device-id", format!("MEID:{MEID}"))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.text().await.unwrap())
}

/// The href of the link labelled `label` (WML <go> or <a>).
fn link(body: &str, label: &str) -> String {
    let go = body
        .split("<do type=\"accept\"")
        .nth(1)
        .filter(|d| d.contains(&format!("label=\"{label}\"")))
        .and_then(|d| d.split("href=\"").nth(1))
        .map(|h| h.split('"').next().unwrap_or("").to_string());
    go.or_else(|| {
        body.split("<a href=\"")
            .skip(1)
            .find(|a| a.contains(&format!(">{label}<")))
            .map(|a| a.split('"').next().unwrap_or("").to_string())
    })
    .unwrap_or_else(|| panic!("no link {label} in {body}"))
}

async fn profile(app: &TestApp) -> mdm::registry::profile::Profile {
    app.with_conn(|c| {
        let d =
            mdm::registry::lookup::find(c, &mdm::registry::lookup::DeviceKey::parse(MEID).unwrap())
                .unwrap();
        mdm::registry::profile::get(c, d.profile_id.unwrap()).unwrap()
    })
    .await
}

async fn records(app: &TestApp) -> Vec<mdm::features::records::ProvisioningRecord> {
    app.with_conn(|c| mdm::features::records::page(c, 0, 100).unwrap())
        .await
}

/// The O&M dashboard's billing gateway card, as an admin sees it.
async fn billing_card(app: &TestApp) -> String {
    app.login_admin().await;
    let (status, dash) = app.page("/ops").await;
    assert_eq!(status, 200);
    let start = dash
        .find("id=\"billing-status\"")
        .expect("a billing gateway card");
    let card = &dash[..start];
    let open = card.rfind("<div").expect("the card's element");
    let rest = &dash[open..];
    rest[..rest.find("</div></div>").expect("the card's end")].to_string()
}

#[tokio::test]
async fn a_wml_handset_activates_picture_messaging_through_the_decks() {
    let billing = sim(SimMode::Succeed).await;
    let app = app_with_billing(BillingConfig::new(billing.url()), true).await;

    let (status, ct, menu) = deck(&app, "/wap/activate", WML).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/vnd.wap.wml"), "{ct}");
    assert!(menu.contains("-//WAPFORUM//DTD WML 1.3//EN"));
    assert!(
        menu.contains("Picture Messaging") && !menu.contains(">Mobile Web<"),
        "{menu}"
    );
    assert_well_formed(&menu);

    let first = link(&menu, "Picture Messaging");
    let (status, _, info) = deck(&app, &first, WML).await;
    assert_eq!(status, 200);
    assert!(info.contains("$$5.99 per month"), "WML escapes $: {info}");
    assert_well_formed(&info);
    let (status, _, terms) = deck(&app, &link(&info, "Continue"), WML).await;
    assert_eq!(status, 200);
    assert!(terms.contains("600 KB"), "{terms}");
    assert_well_formed(&terms);
    let agree = link(&terms, "Agree");
    let (status, _, done) = deck(&app, &agree, WML).await;
    assert_eq!(status, 200);
    assert!(done.contains("Picture Messaging is active"), "{done}");
    assert_well_formed(&done);

    let p = profile(&app).await;
    assert!(
        p.feature_list().contains(&"picture_messaging"),
        "{}",
        p.features
    );
    assert_eq!(
        billing.provisioned(),
        vec![(MDN.to_string(), "MMS".to_string())]
    );
    let cdr = records(&app).await;
    assert_eq!(cdr.len(), 1);
    assert_eq!(
        (
            cdr[0].feature.as_str(),
            cdr[0].outcome.as_str(),
            cdr[0].channel.as_str()
        ),
        ("picture_messaging", "provisioned", "wap")
    );
    let card = billing_card(&app).await;
    // The gateway's host and port, never its whole URL.
    assert!(
        card.contains(billing.url().trim_start_matches("http://")),
        "{card}"
    );
    assert!(
        card.contains("1 provisioned, 0 refused, 0 unanswered"),
        "{card}"
    );
    assert!(cdr[0].transaction_id.starts_with("BG-"));
    assert_eq!(cdr[0].meid.as_deref(), Some(MEID));
    // The acceptance is on the profile's timeline with its time.
    let timeline = app
        .with_conn(move |c| {
            mdm::registry::audit::for_entities(
                c,
                &[(mdm::registry::audit::EntityKind::Profile, p.id)],
                50,
            )
            .unwrap()
        })
        .await;
    let accepted = timeline
        .iter()
        .find(|e| e.action == "accepted the terms")
        .expect("acceptance logged");
    assert!(
        accepted.detail.contains("picture_messaging") && accepted.detail.contains("accepted_at")
    );

    // The records export as CSV, from the care screens and the CLI.
    app.login_admin().await;
    let (status, csv) = app.page("/care/provisioning-records.csv").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], mdm::features::records::CSV_HEADER.join(","));
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].contains(",picture_messaging,add,wap,provisioned,,BG-"),
        "{csv}"
    );
    let (code, out, err) = crate::common::run_mdm(&app.database_url, &app.data_dir, &["cdr"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, csv);

    // Replaying "Agree" changes nothing and bills nothing again; the
    // subscriber reads why (200: a gateway would hide a 4xx body).
    let (status, _, again) = deck(&app, &agree, WML).await;
    assert_eq!(status, 200, "{again}");
    assert!(again.contains("already done"), "{again}");
    assert_eq!(billing.orders().len(), 1);
    // Offering what is already active is refused.
    let (status, _, active) = deck(&app, "/wap/activate?feature=picture_messaging", WML).await;
    assert_eq!(status, 200, "{active}");
    assert!(
        active.contains("Picture Messaging is already active"),
        "{active}"
    );
}

#[tokio::test]
async fn a_refusal_from_billing_leaves_the_profile_as_it_was() {
    let billing = sim(SimMode::Fail {
        code: "E102".into(),
        message: "credit limit exceeded".into(),
    })
    .await;
    let app = app_with_billing(BillingConfig::new(billing.url()), true).await;
    let before = profile(&app).await.features;
    let (_, ct, info) = deck(&app, "/wap/activate?feature=touch2talk", XHTML).await;
    assert!(ct.starts_with("application/vnd.wap.xhtml+xml"), "{ct}");
    assert!(info.contains("-//WAPFORUM//DTD XHTML Mobile 1.2//EN"));
    assert_well_formed(&info);
    let (_, _, terms) = deck(&app, &link(&info, "Continue"), XHTML).await;
    let (status, _, done) = deck(&app, &link(&terms, "Agree"), XHTML).await;
    assert_eq!(status, 200);
    // Billing's reason, not its code (that stays with the record).
    assert!(
        done.contains("was not activated")
            && done.contains("the billing system turned it down (credit limit exceeded)")
            && !done.contains("E102"),
        "{done}"
    );
    // A definite no: retrying is not suggested.
    assert!(
        done.contains("Trying again will get the same answer") && !done.contains("try again later"),
        "{done}"
    );
    assert_well_formed(&done);
    assert_eq!(profile(&app).await.features, before);
    assert_eq!(records(&app).await[0].outcome, "refused");
    assert_eq!(records(&app).await[0].code, "E102");
    // A refusal is an answer: the gateway is up.
    let card = billing_card(&app).await;
    assert!(card.contains("card-ok") && card.contains(">ON<"), "{card}");
    assert!(
        card.contains("0 provisioned, 1 refused, 0 unanswered"),
        "{card}"
    );
}

#[tokio::test]
async fn an_unreachable_billing_gateway_is_a_clear_failure_and_changes_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut config = BillingConfig::new(url);
    config.attempts = 2;
    config.backoff = Duration::from_millis(10);
    let app = app_with_billing(config, true).await;
    let before = profile(&app).await.features;
    let (_, _, info) = deck(&app, "/wap/activate?feature=video_messaging", XHTML).await;
    let (_, _, terms) = deck(&app, &link(&info, "Continue"), XHTML).await;
    let (_, _, done) = deck(&app, &link(&terms, "Agree"), XHTML).await;
    assert!(done.contains("could not be reached"), "{done}");
    // Nothing reached billing: nothing charged, and worth another try.
    assert!(
        done.contains("Nothing was charged; please try again later."),
        "{done}"
    );
    assert_eq!(profile(&app).await.features, before);
    assert_eq!(records(&app).await[0].outcome, "unreachable");
    let card = billing_card(&app).await;
    assert!(
        card.contains("card-danger") && card.contains(">NO ANSWER<"),
        "{card}"
    );
    assert!(
        card.contains("0 provisioned, 0 refused, 1 unanswered"),
        "{card}"
    );
}

#[tokio::test]
async fn without_a_billing_gateway_the_dashboard_says_feature_changes_fail() {
    let app = crate::common::spawn_app().await;
    let card = billing_card(&app).await;
    assert!(
        card.contains("card-danger") && card.contains(">OFF<"),
        "{card}"
    );
    assert!(card.contains("not configured (MDM_BILLING_URL)"), "{card}");
}

#[tokio::test]
async fn steps_out_of_order_unknown_features_and_untrusted_sources_are_refused() {
    let billing = sim(SimMode::Succeed).await;
    let app = app_with_billing(BillingConfig::new(billing.url()), true).await;
    let (_, _, info) = deck(&app, "/wap/activate?feature=video_messaging", WML).await;
    let terms_url = link(&info, "Continue");
    // "Agree" before the terms were shown.
    let agree_url = terms_url.replace("/terms", "/agree");
    // Refusals the subscriber should read are decks answered 200: a WAP
    // gateway would put its own page in place of a 4xx body.
    let (status, _, body) = deck(&app, &agree_url, WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("came too early"), "{body}");
    assert!(body.contains("terms have not been shown yet"), "{body}");
    // The terms, then the terms again.
    assert_eq!(deck(&app, &terms_url, WML).await.0, 200);
    let (status, _, body) = deck(&app, &terms_url, WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("already done"), "{body}");
    // Another device cannot use this activation.
    let r = app
        .client
        .get(app.url(&agree_url))
        .header("x-device-id", "MEID:A1000012345671")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "an unregistered handset");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("not registered with this network"));
    // Unknown feature, unknown token.
    let (status, _, body) = deck(&app, "/wap/activate?feature=teleportation", WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("That service is not offered"), "{body}");
    let (status, _, body) = deck(&app, "/wap/activate/0000/terms", WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("This link is no longer valid"), "{body}");
    assert!(billing.orders().is_empty());
    assert!(records(&app).await.is_empty());

    // Without a trusted gateway the header is not believed.
    let untrusted = app_with_billing(BillingConfig::new(billing.url()), false).await;
    let (status, _, body) = deck(&untrusted, "/wap/activate", WML).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_subscriber_adds_and_removes_services_and_checks_for_an_update() {
    let billing = sim(SimMode::Succeed).await;
    let app = spawn_app_with({
        let url = billing.url();
        move |c| c.billing = Some(BillingConfig::new(url))
    })
    .await;
    let (_, token) = app.token(Role::Admin).await;
    let mut mine = profile_json(MDN);
    mine["pin"] = json!("4321");
    app.api(Method::POST, "/profiles", &token)
        .json(&mine)
        .send()
        .await
        .unwrap();
    app.api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125550124"))
        .send()
        .await
        .unwrap();
    app.api(Method::POST, "/devices", &token)
        .json(&json!({"meid": MEID, "make": "LG", "model": "VX9600", "firmware_version": "V1", "profile_mdn": MDN}))
        .send()
        .await
        .unwrap();
    let csrf = app.csrf("/self/login").await;
    let r = app
        .post_form(
            "/self/login",
            &[("mdn", MDN), ("pin", "4321"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);

    let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
    assert!(page.contains("Video Messaging") && page.contains("$7.99 per month"));
    let csrf = crate::common::csrf_of(&page);
    let r = app
        .post_form(
            "/self/features/video_messaging/activate",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let terms_url = r.headers()["location"].to_str().unwrap().to_string();
    let (status, terms) = app.page(&terms_url).await;
    assert_eq!(status, 200);
    assert!(terms.contains("Clips are limited to 30 seconds"));
    let r = app
        .post_form(&format!("{terms_url}/agree"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
    assert!(
        page.contains("Video Messaging has been added to your line."),
        "{page}"
    );
    // Agreeing twice does nothing more.
    app.post_form(&format!("{terms_url}/agree"), &[("csrf", &csrf)])
        .await;
    assert_eq!(billing.orders().len(), 1);

    // Removing a service takes the same path.
    let r = app
        .post_form(
            "/self/features/video_messaging/deactivate",
            &[("csrf", &csrf)],
        )
        .await;
    let url = r.headers()["location"].to_str().unwrap().to_string();
    app.post_form(&format!("{url}/agree"), &[("csrf", &csrf)])
        .await;
    let p = profile(&app).await;
    assert_eq!(p.features, "mobile_web,text_messaging");
    assert!(billing.provisioned().is_empty());
    let cdr = records(&app).await;
    assert_eq!(
        cdr.iter()
            .map(|r| (r.action.as_str(), r.channel.as_str()))
            .collect::<Vec<_>>(),
        vec![("add", "self_service"), ("remove", "self_service")]
    );
    // An unknown feature is a clear error.
    app.post_form("/self/features/teleportation/activate", &[("csrf", &csrf)])
        .await;
    let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
    assert!(page.contains("That service is not offered."), "{page}");

    // No released package: up to date.
    app.post_form("/self/firmware-check", &[("csrf", &csrf)])
        .await;
    let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
    assert!(page.contains("software is up to date"), "{page}");

    // Another subscriber cannot see this line's activations.
    let other = crate::common::client();
    crate::common::subscriber_sign_in(&app, &other, "3125550124", "0000", None).await;
    let r = other.get(app.url(&terms_url)).send().await.unwrap();
    assert_ne!(r.status().as_u16(), 200);
}

async fn set_handset_state(app: &TestApp, state: &'static str) {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::devices;
        diesel::update(devices::table.filter(devices::meid.eq(MEID)))
            .set(devices::activation_state.eq(state))
            .execute(c)
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_deactivated_line_or_handset_cannot_change_its_services() {
    let billing = sim(SimMode::Succeed).await;
    let app = app_with_billing(BillingConfig::new(billing.url()), true).await;
    // The terms were shown while the handset was in service...
    let (_, _, info) = deck(&app, "/wap/activate?feature=touch2talk", WML).await;
    let terms_url = link(&info, "Continue");
    assert_eq!(deck(&app, &terms_url, WML).await.0, 200);
    let agree_url = terms_url.replace("/terms", "/agree");

    // ...then it was retired: it can neither agree nor start a change.
    set_handset_state(&app, "deactivated").await;
    let (status, _, body) = deck(&app, &agree_url, WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("handset has been de-activated"), "{body}");
    let (status, _, body) = deck(&app, "/wap/activate?feature=video_messaging", WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("handset has been de-activated"), "{body}");

    // The line de-activated by care: no change of its services either.
    set_handset_state(&app, "pending").await;
    let (_, token) = app.token(Role::Admin).await;
    let id = profile(&app).await.id;
    assert_eq!(app.set_line_state(&token, id, "deactivated").await, 200);
    set_handset_state(&app, "pending").await;
    let (status, _, body) = deck(&app, &agree_url, XHTML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("line has been de-activated"), "{body}");
    let (status, _, body) = deck(&app, "/wap/activate?feature=mobile_web", WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("line has been de-activated"), "{body}");

    assert!(billing.orders().is_empty());
    assert!(records(&app).await.is_empty());
    assert_eq!(profile(&app).await.features, "mobile_web,text_messaging");
}

/// The flash a self-service action left on the subscriber's line page.
async fn self_flash(app: &TestApp) -> String {
    let (status, page) = app.page(&format!("/self/line/{MDN}")).await;
    assert_eq!(status, 200, "{page}");
    page
}

async fn self_sign_in(app: &TestApp) -> String {
    app.self_sign_in(MDN, "4321").await
}

/// Starts a change in self service; returns its terms page URL.
async fn self_start(app: &TestApp, csrf: &str, feature: &str) -> String {
    let r = app
        .post_form(
            &format!("/self/features/{feature}/activate"),
            &[("csrf", csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let url = r.headers()["location"].to_str().unwrap().to_string();
    assert!(url.starts_with("/self/activations/"), "{url}");
    url
}

#[tokio::test]
async fn a_subscriber_is_billed_once_per_change_and_never_on_a_deactivated_line() {
    let billing = sim(SimMode::Succeed).await;
    let app = spawn_app_with({
        let url = billing.url();
        move |c| c.billing = Some(BillingConfig::new(url))
    })
    .await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app.self_service_subscriber(&token, MDN, "4321").await;
    let csrf = self_sign_in(&app).await;

    // Two open offers of one service: the second agreement bills nothing.
    let first = self_start(&app, &csrf, "touch2talk").await;
    let second = self_start(&app, &csrf, "touch2talk").await;
    app.post_form(&format!("{first}/agree"), &[("csrf", &csrf)])
        .await;
    assert!(self_flash(&app)
        .await
        .contains("Touch2Talk has been added to your line."));
    app.post_form(&format!("{second}/agree"), &[("csrf", &csrf)])
        .await;
    let page = self_flash(&app).await;
    assert!(
        page.contains("Touch2Talk is already active on this line"),
        "{page}"
    );
    assert_eq!(billing.orders().len(), 1);

    // While one change is with billing, another of the same service waits.
    let first = self_start(&app, &csrf, "video_messaging").await;
    let second = self_start(&app, &csrf, "video_messaging").await;
    let pending = first.rsplit('/').next().unwrap().to_string();
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::feature_activations as fa;
        diesel::update(fa::table.filter(fa::token.eq(pending)))
            .set(fa::state.eq("provisioning"))
            .execute(c)
            .unwrap();
    })
    .await;
    app.post_form(&format!("{second}/agree"), &[("csrf", &csrf)])
        .await;
    let page = self_flash(&app).await;
    assert!(
        page.contains("A change of Video Messaging on this line is already with billing"),
        "{page}"
    );
    assert_eq!(billing.orders().len(), 1);

    // A de-activated line can start no change, nor finish one started before.
    let open = self_start(&app, &csrf, "picture_messaging").await;
    assert_eq!(app.set_line_state(&token, id, "deactivated").await, 200);
    let csrf = self_sign_in(&app).await;
    app.post_form(&format!("{open}/agree"), &[("csrf", &csrf)])
        .await;
    let page = self_flash(&app).await;
    assert!(page.contains("This line has been de-activated"), "{page}");
    app.post_form("/self/features/mobile_web/deactivate", &[("csrf", &csrf)])
        .await;
    let page = self_flash(&app).await;
    assert!(page.contains("This line has been de-activated"), "{page}");

    assert_eq!(billing.orders().len(), 1);
    assert_eq!(records(&app).await.len(), 1);
    let features = app
        .with_conn(move |c| mdm::registry::profile::get(c, id).unwrap().features)
        .await;
    assert_eq!(features, "mobile_web,text_messaging,touch2talk");
}

#[tokio::test]
async fn a_lost_billing_answer_is_checked_again_not_retried_by_the_subscriber() {
    let billing = sim(SimMode::Timeout).await;
    let mut config = BillingConfig::new(billing.url());
    config.attempts = 1;
    config.timeout = Duration::from_millis(300);
    let app = spawn_app_with(move |c| c.billing = Some(config)).await;
    let (_, token) = app.token(Role::Admin).await;
    app.self_service_subscriber(&token, MDN, "4321").await;
    let csrf = self_sign_in(&app).await;
    let terms = self_start(&app, &csrf, "touch2talk").await;
    app.post_form(&format!("{terms}/agree"), &[("csrf", &csrf)])
        .await;
    // The order reached billing and its answer was lost: it may have been
    // carried out, so neither "nothing was charged" nor "try again".
    let page = self_flash(&app).await;
    assert!(
        page.contains("Touch2Talk: the billing system did not answer in time.")
            && page.contains("please do not try again now"),
        "{page}"
    );
    assert!(!page.contains("Nothing was charged"), "{page}");
    assert!(records(&app).await.is_empty(), "no outcome yet");
    assert_eq!(profile_of(&app).await.features, "mobile_web,text_messaging");
    // Asking again is held off while billing is asked.
    app.post_form("/self/features/touch2talk/activate", &[("csrf", &csrf)])
        .await;
    let page = self_flash(&app).await;
    assert!(
        page.contains("A change of Touch2Talk on this line is already with billing"),
        "{page}"
    );
    let card = billing_card(&app).await;
    assert!(
        card.contains(">NO ANSWER<") && card.contains("1 awaiting an answer"),
        "{card}"
    );

    // Billing answers again: the same order, under the same key, settles it.
    billing.set_mode(SimMode::Succeed);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !profile_of(&app).await.features.contains("touch2talk") {
        assert!(std::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cdr = records(&app).await;
    assert_eq!(cdr.len(), 1);
    assert_eq!(
        (cdr[0].outcome.as_str(), cdr[0].channel.as_str()),
        ("provisioned", "self_service")
    );
    let orders = billing.orders();
    assert!(orders.len() >= 2, "{orders:?}");
    assert!(orders
        .iter()
        .all(|o| o.idempotency_key == orders[0].idempotency_key));
    assert_eq!(billing.provisioned().len(), 1);
}

/// The line of [`MDN`], by its number (it has no handset here).
async fn profile_of(app: &TestApp) -> mdm::registry::profile::Profile {
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::profiles;
        let id: i64 = profiles::table
            .filter(profiles::mdn.eq(MDN))
            .select(profiles::id)
            .first(c)
            .unwrap();
        mdm::registry::profile::get(c, id).unwrap()
    })
    .await
}
