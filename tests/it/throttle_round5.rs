//! Sign-in throttle and OMA-DM nonces, round 5: a right current password
//! or PIN clears the count even when the new one is refused, failures
//! counted at the same moment on several connections all count (and none
//! fails on the first insert), and a failed OMA-DM authentication moves
//! the device's nonce, so a digest made with the old one is refused on
//! any node.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use mdm::auth::throttle::{self, Keys, Policy};
use mdm::auth::Role;
use mdm::db::schema::login_failures;
use mdm::omadm::auth;
use mdm::omadm::syncml::*;

use crate::common::{spawn_app, staff_sign_in, TestApp};
use crate::fota::{dm_message, post_dm, setup, PASSWORD};
use crate::security_round4::{change_password, change_pin, mistype_current_password};

/// The failures counted under a throttle key, if it has a count.
async fn failures(app: &TestApp, key: &str) -> Option<i32> {
    let key = key.to_string();
    app.with_conn(move |c| {
        login_failures::table
            .find(key)
            .select(login_failures::failures)
            .first::<i32>(c)
            .optional()
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_right_current_password_clears_the_count_even_when_the_new_one_is_refused() {
    let app = spawn_app().await;
    app.add_user("care1", "care-password-1", Role::Care).await;
    staff_sign_in(&app, &app.client, "care1", "care-password-1").await;

    let refusals = [
        ("new-password-22", "new-password-23", "differ"),
        ("short", "short", "at least 10 characters"),
        ("care-password-1", "care-password-1", "is the current one"),
    ];
    for (new, repeat, why) in refusals {
        // Four typos, one short of the limit of five.
        mistype_current_password(&app, "guess", 4, "new-password-22").await;
        assert_eq!(failures(&app, "user:care1").await, Some(4));
        // The right password with a new one that is refused: refused for
        // the new one, and the count is gone, as a sign-in would clear it.
        let (status, page) = change_password(&app, "care-password-1", new, repeat).await;
        assert_eq!(status, 422, "{why}");
        assert!(page.contains(why), "{why}: {page}");
        assert_eq!(failures(&app, "user:care1").await, None, "{why}");
    }
    // Four more typos do not lock: the right password still works.
    mistype_current_password(&app, "again", 4, "new-password-22").await;
    let (status, page) = change_password(
        &app,
        "care-password-1",
        "care-password-2",
        "care-password-2",
    )
    .await;
    assert_eq!(status, 303, "{page}");
    let changed = app
        .with_conn(|c| mdm::auth::users::authenticate(c, "care1", "care-password-2").is_ok())
        .await;
    assert!(changed);
}

#[tokio::test]
async fn a_right_current_pin_clears_the_count_even_when_the_new_one_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mdn = "4152000005";
    let key = format!("mdn:{mdn}");
    app.self_service_subscriber(&token, mdn, "2468").await;
    let csrf = app.self_sign_in(mdn, "2468").await;

    for bad_new in ["12", "12ab", "123456789"] {
        for guess in ["0000", "0001", "0002", "0003"] {
            let page = change_pin(&app, mdn, &csrf, guess, "1357").await;
            assert!(page.contains("The current PIN is not correct."), "{page}");
        }
        assert_eq!(failures(&app, &key).await, Some(4));
        let page = change_pin(&app, mdn, &csrf, "2468", bad_new).await;
        assert!(page.contains("PIN must be 4 to 8 digits."), "{page}");
        assert_eq!(failures(&app, &key).await, None, "{bad_new}");
    }
    // A refused new PIN with a wrong current one is a wrong PIN, counted.
    let page = change_pin(&app, mdn, &csrf, "0009", "12").await;
    assert!(page.contains("The current PIN is not correct."), "{page}");
    assert_eq!(failures(&app, &key).await, Some(1));
    for guess in ["0004", "0005", "0006"] {
        change_pin(&app, mdn, &csrf, guess, "1357").await;
    }
    let page = change_pin(&app, mdn, &csrf, "2468", "1357").await;
    assert!(page.contains("Your PIN has been changed."), "{page}");
}

#[tokio::test]
async fn failures_counted_at_once_on_several_connections_all_count() {
    const CONNECTIONS: usize = 8;
    const ROUNDS: usize = 12;
    let app = spawn_app().await;
    let url = app.database_url.clone();
    // Limits no count here reaches: the test is about the count.
    let policy = Policy {
        max_failures: 100,
        ceiling: 100_000,
        account_ceiling: 100_000,
        window_ms: 900_000,
        lockout_ms: 900_000,
    };
    let keys_of =
        |round: usize| Keys::new(&format!("user:race{round}"), &format!("10.9.8.{round}"));
    let outcomes = tokio::task::spawn_blocking(move || {
        let conns: Vec<_> = (0..CONNECTIONS)
            .map(|_| mdm::db::establish(&url).expect("a connection"))
            .collect();
        let barrier = Arc::new(Barrier::new(CONNECTIONS));
        let threads: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    (0..ROUNDS)
                        .map(|round| {
                            // Every connection records the first failure of
                            // a fresh key at the same moment.
                            barrier.wait();
                            throttle::record_failure(&mut conn, &keys_of(round), policy)
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("no panic"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(refused.is_empty(), "{refused:?}");

    let want = i32::try_from(CONNECTIONS).unwrap();
    for round in 0..ROUNDS {
        for key in [
            format!("user:race{round}"),
            format!("ip:10.9.8.{round}"),
            format!("ip:10.9.8.{round}|user:race{round}"),
        ] {
            assert_eq!(failures(&app, &key).await, Some(want), "{key}");
        }
    }
    // And they lock at the limit as one after another would.
    let keys = keys_of(99);
    let strict = Policy {
        max_failures: 3,
        ..policy
    };
    let locked = app
        .with_conn(move |c| {
            for _ in 0..2 {
                throttle::record_failure(c, &keys, strict).unwrap();
            }
            let before = throttle::locked_for(c, &keys).unwrap();
            throttle::record_failure(c, &keys, strict).unwrap();
            (before, throttle::locked_for(c, &keys).unwrap())
        })
        .await;
    assert_eq!(locked.0, None, "two of three: not yet");
    assert!(locked.1.is_some_and(|s| s > 800), "{locked:?}");
}

const DEV: &str = "MEID:A1000012345678";

fn md5_cred(password: &str, nonce: &[u8]) -> Cred {
    Cred {
        format: Some("b64".into()),
        auth_type: "syncml:auth-md5".into(),
        data: auth::md5_digest(DEV, password, nonce).to_vec(),
    }
}

fn package1(session: &str, cred: Cred) -> Message {
    let alert = Command::Alert(Alert {
        cmd_id: 1,
        data: 1201,
        correlator: None,
        items: vec![],
    });
    dm_message(session, 1, 60_000, Some(cred), vec![alert])
}

/// The SyncHdr status of a server message and the nonce its Chal gives.
fn header(m: &Message) -> (u16, Option<Vec<u8>>) {
    let st = m
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s),
            _ => None,
        })
        .expect("a status for the SyncHdr");
    (st.data, st.chal.as_ref().map(|c| c.next_nonce.clone()))
}

#[tokio::test]
async fn a_failed_md5_authentication_moves_the_nonce_and_a_digest_of_the_old_one_is_refused() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    let url = app.url("/omadm");
    let stored = || async { app.dm_account(device_id).await.client_nonce_bytes() };
    let old = stored().await;

    // A wrong digest: 401, challenged with a new nonce, stored for every node.
    let r = post_dm(&app, &url, &package1("31", md5_cred("a-guess", &old))).await;
    let (code, first) = header(&r);
    assert_eq!(code, 401);
    let first = first.expect("a challenge");
    assert_ne!(first, old, "a fresh nonce after a failure");
    assert_eq!(stored().await, first);

    // The right password with the old nonce (a digest captured before,
    // replayed): refused too, and the nonce moves again.
    let r = post_dm(&app, &url, &package1("32", md5_cred(PASSWORD, &old))).await;
    let (code, second) = header(&r);
    assert_eq!(code, 401, "a digest of the old nonce is not accepted again");
    let second = second.expect("a challenge");
    assert!(second != first && second != old);
    assert_eq!(stored().await, second);

    // Nor is a digest of the nonce a failure just replaced.
    let r = post_dm(&app, &url, &package1("33", md5_cred(PASSWORD, &first))).await;
    let (code, third) = header(&r);
    assert_eq!(code, 401);
    let third = third.expect("a challenge");

    // The nonce of the last challenge authenticates, on another node too.
    let data_dir = app.data_dir.clone();
    let other = app
        .second_node(move |c| c.data_dir = data_dir)
        .await
        .unwrap();
    let r = post_dm(
        &other,
        &other.url("/omadm"),
        &package1("34", md5_cred(PASSWORD, &third)),
    )
    .await;
    let (code, next) = header(&r);
    assert_eq!(code, 212);
    assert!(next.is_some_and(|n| n != third), "and a fresh one after it");
}

#[tokio::test]
async fn a_failed_hmac_authentication_moves_the_nonce_too() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    let old = app.dm_account(device_id).await.client_nonce_bytes();
    let m = dm_message("41", 1, 60_000, None, vec![]);
    let body = m.encode(Encoding::Wbxml).unwrap();
    let send = |mac: String| {
        app.client
            .post(app.url("/omadm"))
            .header("content-type", Encoding::Wbxml.content_type())
            .header("x-syncml-hmac", mac)
            .body(body.clone())
            .send()
    };
    let r = send(auth::hmac_header(DEV, "a-guess", &old, &body))
        .await
        .unwrap();
    let reply = Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap();
    let (code, fresh) = header(&reply);
    assert_eq!(code, 401);
    let fresh = fresh.expect("a challenge");
    assert_ne!(fresh, old);
    // The right secret signing with the old nonce is refused.
    let r = send(auth::hmac_header(DEV, PASSWORD, &old, &body))
        .await
        .unwrap();
    let reply = Message::decode(&r.bytes().await.unwrap(), Encoding::Wbxml).unwrap();
    assert_eq!(header(&reply).0, 401);
}
