//! Deleting a staff account (a leaver): the account's sessions end, it can
//! no longer sign in, the API tokens it created are revoked, the history
//! keeps naming it and its name stays reserved; and the refusals (oneself,
//! the last enabled administrator, a non-administrator, a form without its
//! CSRF token). Run on both backends (MDM_TEST_DATABASE_URL).

use mdm::auth::Role;
use reqwest::Method;

use crate::common::{client, csrf_of, run_mdm, spawn_app, TestApp, ADMIN_PASSWORD};

/// A client of its own signed in as `user`.
async fn signed_in(app: &TestApp, user: &str, password: &str) -> reqwest::Client {
    let c = client();
    crate::common::staff_sign_in(app, &c, user, password).await;
    c
}

async fn get(app: &TestApp, c: &reqwest::Client, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

/// Posts a form from `c`, with the CSRF token of `page`; returns the status and body.
async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let (_, html) = get(app, c, page).await;
    let csrf = csrf_of(&html);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = c.post(app.url(path)).form(&form).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

/// (id, disabled, deleted_at, password hash) of the account named `name`.
async fn account(app: &TestApp, name: &'static str) -> (i64, bool, Option<i64>, String) {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::users;
        users::table
            .filter(users::username.eq(name))
            .select((
                users::id,
                users::disabled,
                users::deleted_at,
                users::password_hash,
            ))
            .first(c)
            .unwrap()
    })
    .await
}

async fn accounts_named_in_any_case(app: &TestApp, name: &'static str) -> i64 {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::users;
        users::table
            .filter(
                users::username
                    .eq(name)
                    .or(users::username.eq(name.to_uppercase())),
            )
            .count()
            .get_result(c)
            .unwrap()
    })
    .await
}

/// (actor, action, detail) of the audit events about one entity.
async fn audit_of(app: &TestApp, kind: &'static str, id: i64) -> Vec<(String, String, String)> {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::audit_events as a;
        a::table
            .filter(a::entity_kind.eq(kind))
            .filter(a::entity_id.eq(id))
            .order(a::id)
            .select((a::actor, a::action, a::detail))
            .load(c)
            .unwrap()
    })
    .await
}

async fn audit_by(app: &TestApp, actor: &'static str) -> Vec<String> {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::audit_events as a;
        a::table
            .filter(a::actor.eq(actor))
            .order(a::id)
            .select(a::action)
            .load(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn an_admin_deletes_a_leaver_whose_history_stays_named() {
    let app = spawn_app().await;
    // The leaver, an administrator, leaves a trail: an account and an API
    // token they created in the portal.
    app.add_user("ada", "ada-password-1", Role::Admin).await;
    let ada = signed_in(&app, "ada", "ada-password-1").await;
    let (code, _) = post(
        &app,
        &ada,
        "/admin/users",
        "/admin/users",
        &[
            ("username", "bob"),
            ("role", "care"),
            ("password", "bob-password-1"),
        ],
    )
    .await;
    assert_eq!(code, 303, "ada creates bob");
    let (code, html) = post(
        &app,
        &ada,
        "/admin/tokens",
        "/admin/tokens",
        &[("name", "billing-gw"), ("role", "operator")],
    )
    .await;
    assert_eq!(code, 200, "ada creates a token");
    let start = html.find("<pre id=\"new-token\">").unwrap() + "<pre id=\"new-token\">".len();
    let secret = html[start..].split('<').next().unwrap().to_string();
    let r = app
        .api(Method::GET, "/profiles", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the token works");
    assert_eq!(get(&app, &ada, "/ops").await.0, 200);

    let (ada_id, ..) = account(&app, "ada").await;
    let (bob_id, ..) = account(&app, "bob").await;
    let admin = signed_in(&app, "admin", ADMIN_PASSWORD).await;
    let page = format!("/admin/users/{ada_id}");
    let (code, html) = get(&app, &admin, &page).await;
    assert_eq!(code, 200);
    assert!(
        html.contains(&format!("action=\"/admin/users/{ada_id}/delete\""))
            && html.contains("data-confirm=\"Delete the account ada?"),
        "the delete button asks first, naming the account: {html}"
    );
    assert!(
        html.contains("id=\"user-tokens\"") && html.contains("billing-gw"),
        "the tokens that go with the account are named first: {html}"
    );

    let (code, _) = post(&app, &admin, &page, &format!("{page}/delete"), &[]).await;
    assert_eq!(code, 303, "deleted");

    // Her open session ended at once, and she cannot sign in again.
    assert_eq!(get(&app, &ada, "/ops").await.0, 303, "her session ended");
    assert_eq!(
        app.login("ada", "ada-password-1").await.status().as_u16(),
        401,
        "a deleted account does not sign in"
    );
    // The token she created is revoked.
    let r = app
        .api(Method::GET, "/profiles", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "her token is revoked");

    // The tombstone: kept, disabled, without a password.
    let (_, disabled, deleted_at, hash) = account(&app, "ada").await;
    assert!(disabled && deleted_at.is_some() && hash.is_empty());

    // The deletion is in the audit trail with who deleted whom, and what
    // she did is still in it under her name.
    let events = audit_of(&app, "user", ada_id).await;
    let (actor, _, detail) = events
        .iter()
        .find(|(_, action, _)| action == "deleted")
        .unwrap_or_else(|| panic!("a deletion event: {events:?}"));
    assert_eq!(actor, "user:admin");
    assert!(
        detail.contains("\"username\":\"ada\"") && detail.contains("billing-gw"),
        "{detail}"
    );
    assert!(
        audit_of(&app, "user", bob_id)
            .await
            .iter()
            .any(|(actor, action, _)| actor == "user:ada" && action == "created"),
        "bob's creation still names ada"
    );
    let by_ada = audit_by(&app, "user:ada").await;
    assert!(by_ada.len() >= 2, "{by_ada:?}");
    let (code, dashboard) = get(&app, &admin, "/ops").await;
    assert_eq!(code, 200);
    assert!(
        dashboard.contains("user:ada"),
        "the dashboard's trail names her"
    );
    let (_, tokens) = get(&app, &admin, "/admin/tokens").await;
    assert!(
        tokens.contains("by user:ada") && tokens.contains("revoked"),
        "the token list still says who created it"
    );

    // The lists say what became of her.
    let (_, list) = get(&app, &admin, "/admin/users").await;
    let deleted = &list[list.find("id=\"deleted-users\"").expect("a deleted list")..];
    assert!(deleted.contains(">ada<"), "{list}");
    let (code, html) = get(&app, &admin, &page).await;
    assert_eq!(code, 200);
    assert!(
        html.contains("deleted") && !html.contains("/delete\""),
        "a deleted account's page offers no action: {html}"
    );

    // Her name stays reserved, in any case; nothing is created.
    for name in ["ada", "ADA"] {
        let (code, body) = post(
            &app,
            &admin,
            "/admin/users",
            "/admin/users",
            &[
                ("username", name),
                ("role", "care"),
                ("password", "new-ada-password"),
            ],
        )
        .await;
        assert_eq!(code, 422, "{name}");
        assert!(body.contains("belonged to a deleted account"), "{body}");
    }
    assert_eq!(accounts_named_in_any_case(&app, "ada").await, 1);

    // A deleted account can be neither deleted again, nor enabled, nor given
    // a password or a role.
    let (code, body) = post(&app, &admin, "/admin/users", &format!("{page}/delete"), &[]).await;
    assert_eq!(code, 422);
    assert!(body.contains("already been deleted"), "{body}");
    let (code, body) = post(
        &app,
        &admin,
        "/admin/users",
        &format!("{page}/password"),
        &[("password", "ada-password-2")],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("has been deleted"), "{body}");
    let (code, body) = post(
        &app,
        &admin,
        "/admin/users",
        &format!("{page}/role"),
        &[("role", "care")],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("has been deleted"), "{body}");
    let (code, _) = post(&app, &admin, "/admin/users", &format!("{page}/enable"), &[]).await;
    assert_eq!(code, 303);
    let (_, disabled, deleted_at, _) = account(&app, "ada").await;
    assert!(disabled && deleted_at.is_some(), "still deleted");
    assert_eq!(
        app.login("ada", "ada-password-1").await.status().as_u16(),
        401
    );
}

#[tokio::test]
async fn deletion_is_refused_for_oneself_the_last_admin_non_admins_and_forms_without_csrf() {
    let app = spawn_app().await;
    app.add_user("olga", "olga-password-1", Role::Operator)
        .await;
    let (admin_id, ..) = account(&app, "admin").await;
    let (olga_id, ..) = account(&app, "olga").await;
    let admin = signed_in(&app, "admin", ADMIN_PASSWORD).await;

    // Oneself: a message on one's own page, and nothing changes.
    let own = format!("/admin/users/{admin_id}");
    let (_, html) = get(&app, &admin, &own).await;
    assert!(
        !html.contains("/delete\""),
        "no delete button on one's own page"
    );
    let (code, body) = post(&app, &admin, &own, &format!("{own}/delete"), &[]).await;
    assert_eq!(code, 422);
    assert!(body.contains("cannot delete your own account"), "{body}");
    assert_eq!(account(&app, "admin").await.2, None);
    assert_eq!(get(&app, &admin, "/ops").await.0, 200, "still signed in");

    // A non-administrator, with a good CSRF token of their own: 403.
    let olga = signed_in(&app, "olga", "olga-password-1").await;
    let (code, _) = post(
        &app,
        &olga,
        "/account",
        &format!("/admin/users/{admin_id}/delete"),
        &[],
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(account(&app, "admin").await.2, None);

    // Without a CSRF token, or with a wrong one: refused, nothing changes.
    let path = format!("/admin/users/{olga_id}/delete");
    for form in [vec![], vec![("csrf", "not-the-token")]] {
        let r = admin.post(app.url(&path)).form(&form).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "{form:?}");
    }
    let (_, disabled, deleted_at, _) = account(&app, "olga").await;
    assert!(!disabled && deleted_at.is_none());
    assert_eq!(get(&app, &olga, "/ops").await.0, 200, "olga still works");

    // The last enabled administrator: only reachable from the command line
    // (in the portal the deleter is an enabled administrator too).
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["user", "delete", "admin"],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("only enabled administrator"), "{err}");
    assert_eq!(account(&app, "admin").await.2, None);
    let events = audit_of(&app, "user", admin_id).await;
    assert!(
        !events.iter().any(|(_, action, _)| action == "deleted"),
        "{events:?}"
    );

    // The command line deletes a leaver, and lists them as deleted.
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["user", "delete", "olga"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("user olga deleted"), "{out}");
    assert_eq!(get(&app, &olga, "/ops").await.0, 303, "her session ended");
    let (_, list, _) = run_mdm(&app.database_url, &app.data_dir, &["user", "list"], None);
    let line = list
        .lines()
        .find(|l| l.contains("olga"))
        .unwrap_or_default();
    assert!(line.contains("deleted"), "{list}");
    let events = audit_of(&app, "user", olga_id).await;
    assert!(
        events
            .iter()
            .any(|(actor, action, _)| actor == "system:cli" && action == "deleted"),
        "{events:?}"
    );
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["user", "add", "Olga", "--role", "care"],
        Some("olga-password-2\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("belonged to a deleted account"), "{err}");
}
