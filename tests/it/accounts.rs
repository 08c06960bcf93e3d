//! Staff accounts and API tokens: new passwords and roles set by an
//! administrator, a user's own password, the last administrator, forms that
//! do not offer administrator by default, token names, and the CLI.

use mdm::auth::Role;

use crate::common::{client, csrf_of, fresh_database, run_mdm, spawn_app, TestApp, ADMIN_PASSWORD};

/// A client of its own signed in as `user`.
async fn signed_in(app: &TestApp, user: &str, password: &str) -> reqwest::Client {
    let c = client();
    crate::common::staff_sign_in(app, &c, user, password).await;
    c
}

async fn status(app: &TestApp, c: &reqwest::Client, path: &str) -> u16 {
    c.get(app.url(path)).send().await.unwrap().status().as_u16()
}

/// Posts a form from `c`, with the CSRF token of `page`; returns the status and body.
async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let html = c
        .get(app.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = c.post(app.url(path)).form(&form).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

async fn user(app: &TestApp, name: &'static str) -> (i64, String, String) {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::users;
        users::table
            .filter(users::username.eq(name))
            .select((users::id, users::role, users::password_hash))
            .first(c)
            .unwrap()
    })
    .await
}

async fn audit_actions(app: &TestApp, id: i64) -> Vec<(String, String)> {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::audit_events as a;
        a::table
            .filter(a::entity_kind.eq("user"))
            .filter(a::entity_id.eq(id))
            .order(a::id)
            .select((a::actor, a::action))
            .load(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn an_admin_sets_a_users_password_and_role_and_their_sessions_end() {
    let app = spawn_app().await;
    app.add_user("olga", "olga-password-1", Role::Operator)
        .await;
    let (id, _, hash) = user(&app, "olga").await;
    let olga = signed_in(&app, "olga", "olga-password-1").await;
    assert_eq!(status(&app, &olga, "/ops").await, 200);
    let admin = signed_in(&app, "admin", ADMIN_PASSWORD).await;
    let page = format!("/admin/users/{id}");
    assert_eq!(status(&app, &admin, &page).await, 200);
    // Only an administrator manages accounts.
    assert_eq!(status(&app, &olga, &page).await, 403);

    let (code, body) = post(
        &app,
        &admin,
        &page,
        &format!("{page}/password"),
        &[("password", "short")],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("at least 10 characters"), "{body}");
    assert_eq!(user(&app, "olga").await.2, hash, "nothing changed");
    assert_eq!(status(&app, &olga, "/ops").await, 200);

    let (code, _) = post(
        &app,
        &admin,
        &page,
        &format!("{page}/password"),
        &[("password", "olga-password-2")],
    )
    .await;
    assert_eq!(code, 303);
    assert_eq!(status(&app, &olga, "/ops").await, 303, "her session ended");
    assert_eq!(
        app.login("olga", "olga-password-1").await.status().as_u16(),
        401,
        "the old password no longer signs in"
    );
    let olga = signed_in(&app, "olga", "olga-password-2").await;

    let (code, body) = post(
        &app,
        &admin,
        &page,
        &format!("{page}/role"),
        &[("role", "wizard")],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("Choose a role"), "{body}");
    let (code, _) = post(
        &app,
        &admin,
        &page,
        &format!("{page}/role"),
        &[("role", "care")],
    )
    .await;
    assert_eq!(code, 303);
    assert_eq!(user(&app, "olga").await.1, "care");
    assert_eq!(status(&app, &olga, "/care").await, 303, "her session ended");
    let olga = signed_in(&app, "olga", "olga-password-2").await;
    assert_eq!(status(&app, &olga, "/care").await, 200);
    assert_eq!(status(&app, &olga, "/ops").await, 403);

    // An administrator's own password needs the current one: not here.
    let (admin_id, ..) = user(&app, "admin").await;
    let own = format!("/admin/users/{admin_id}");
    let (code, body) = post(
        &app,
        &admin,
        &own,
        &format!("{own}/password"),
        &[("password", "admin-password-new")],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("Your account"), "{body}");

    let actions = audit_actions(&app, id).await;
    assert!(
        actions.contains(&("user:admin".into(), "password changed".into()))
            && actions.contains(&("user:admin".into(), "role changed".into())),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_last_enabled_admin_stays_an_admin() {
    let app = spawn_app().await;
    let (admin_id, ..) = user(&app, "admin").await;
    let admin = signed_in(&app, "admin", ADMIN_PASSWORD).await;
    let own = format!("/admin/users/{admin_id}");
    let (code, body) = post(
        &app,
        &admin,
        &own,
        &format!("{own}/role"),
        &[("role", "operator")],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("only enabled administrator"), "{body}");
    assert_eq!(user(&app, "admin").await.1, "admin");
    // Nor from the command line, by role or by disabling.
    for args in [
        &["user", "role", "admin", "care"][..],
        &["user", "disable", "admin"][..],
    ] {
        let (code, _, err) = run_mdm(&app.database_url, &app.data_dir, args, None);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains("only enabled administrator"), "{err}");
    }

    // With a second (enabled) administrator, the first may step down; their
    // own session goes on in the new role, another of theirs ends.
    app.add_user("ada", "ada-password-1", Role::Admin).await;
    let elsewhere = signed_in(&app, "admin", ADMIN_PASSWORD).await;
    let (code, _) = post(
        &app,
        &admin,
        &own,
        &format!("{own}/role"),
        &[("role", "operator")],
    )
    .await;
    assert_eq!(code, 303);
    assert_eq!(status(&app, &admin, "/ops").await, 200);
    assert_eq!(status(&app, &admin, "/admin/users").await, 403);
    assert_eq!(status(&app, &elsewhere, "/ops").await, 303);
    // Ada is now the only one: she cannot step down either.
    let (ada_id, ..) = user(&app, "ada").await;
    let ada = signed_in(&app, "ada", "ada-password-1").await;
    let page = format!("/admin/users/{ada_id}");
    let (code, _) = post(
        &app,
        &ada,
        &page,
        &format!("{page}/role"),
        &[("role", "care")],
    )
    .await;
    assert_eq!(code, 422);
}

#[tokio::test]
async fn staff_change_their_own_password_and_their_other_sessions_end() {
    let app = spawn_app().await;
    app.add_user("carl", "carl-password-1", Role::Care).await;
    let (id, _, hash) = user(&app, "carl").await;
    let here = signed_in(&app, "carl", "carl-password-1").await;
    let there = signed_in(&app, "carl", "carl-password-1").await;
    let (code, html) = {
        let r = here.get(app.url("/care")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(code, 200);
    assert!(
        html.contains("href=\"/account\""),
        "the header links the account page"
    );

    for (fields, message) in [
        (
            [
                ("current_password", "wrong-password-1"),
                ("new_password", "carl-password-2"),
                ("repeat_password", "carl-password-2"),
            ],
            "current password is not correct",
        ),
        (
            [
                ("current_password", "carl-password-1"),
                ("new_password", "carl-password-2"),
                ("repeat_password", "carl-password-3"),
            ],
            "differ",
        ),
        (
            [
                ("current_password", "carl-password-1"),
                ("new_password", "short"),
                ("repeat_password", "short"),
            ],
            "at least 10 characters",
        ),
    ] {
        let (code, body) = post(&app, &here, "/account", "/account/password", &fields).await;
        assert_eq!(code, 422, "{message}");
        assert!(body.contains(message), "{body}");
    }
    assert_eq!(user(&app, "carl").await.2, hash, "nothing changed");
    assert_eq!(status(&app, &there, "/care").await, 200);

    let (code, _) = post(
        &app,
        &here,
        "/account",
        "/account/password",
        &[
            ("current_password", "carl-password-1"),
            ("new_password", "carl-password-2"),
            ("repeat_password", "carl-password-2"),
        ],
    )
    .await;
    assert_eq!(code, 303);
    assert_eq!(
        status(&app, &here, "/care").await,
        200,
        "this session goes on"
    );
    assert_eq!(
        status(&app, &there, "/care").await,
        303,
        "the other one ends"
    );
    signed_in(&app, "carl", "carl-password-2").await;
    assert!(audit_actions(&app, id)
        .await
        .contains(&("user:carl".into(), "password changed".into())));

    // Signed out, there is no account page.
    assert_eq!(status(&app, &client(), "/account").await, 303);
}

#[tokio::test]
async fn forms_offer_the_least_powerful_role_first() {
    let app = spawn_app().await;
    app.login_admin().await;
    for page in ["/admin/users", "/admin/tokens"] {
        let (_, html) = app.page(page).await;
        assert!(
            html.contains("<option value=\"care\" selected>"),
            "{page}: care is chosen"
        );
        assert!(
            !html.contains("<option value=\"admin\" selected>"),
            "{page}"
        );
    }
    // A refused form keeps the role it was sent with.
    let csrf = app.csrf("/admin/tokens").await;
    let r = app
        .post_form(
            "/admin/tokens",
            &[
                ("csrf", &csrf),
                ("name", "pos"),
                ("role", "operator"),
                ("days", "soon"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<option value=\"operator\" selected>"),
        "{html}"
    );
    assert!(html.contains("value=\"pos\""), "{html}");
}

#[tokio::test]
async fn a_token_name_is_not_taken_twice_while_active() {
    let app = spawn_app().await;
    app.login_admin().await;
    let create = |name: &'static str| {
        let app = &app;
        async move {
            let csrf = app.csrf("/admin/tokens").await;
            let r = app
                .post_form(
                    "/admin/tokens",
                    &[("csrf", &csrf), ("name", name), ("role", "care")],
                )
                .await;
            let code = r.status().as_u16();
            (code, r.text().await.unwrap())
        }
    };
    assert_eq!(create("billing").await.0, 200);
    let (code, html) = create("Billing").await;
    assert_eq!(code, 422);
    assert!(
        html.contains("an active token is already named billing"),
        "{html}"
    );
    let count = || {
        app.with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::api_tokens;
            api_tokens::table.count().get_result::<i64>(c).unwrap()
        })
    };
    assert_eq!(count().await, 1);

    // Once it is revoked (or expired), the name is free again.
    let id = app
        .with_conn(|c| mdm::auth::tokens::list(c).unwrap()[0].id)
        .await;
    let csrf = app.csrf("/admin/tokens").await;
    app.post_form(&format!("/admin/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(create("billing").await.0, 200);
    let id = app
        .with_conn(|c| mdm::auth::tokens::list(c).unwrap()[0].id)
        .await;
    app.with_conn(move |c| {
        mdm::auth::tokens::set_expiry(c, id, Some(mdm::db::now_ms() - 1000)).unwrap()
    })
    .await;
    assert_eq!(create("billing").await.0, 200);
    assert_eq!(count().await, 3);
}

#[test]
fn the_cli_changes_users_and_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database(dir.path());
    let _drop = DropDb(pg);
    let data = dir.path().join("data");
    let mdm = |args: &[&str], stdin: Option<&str>| run_mdm(&url, &data, args, stdin);

    let (code, _, err) = mdm(
        &["user", "add", "olga", "--role", "operator"],
        Some("olga-password-1\n"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = mdm(&["user", "password", "OLGA"], Some("olga-password-2\n"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password of olga changed"), "{out}");
    let (code, _, err) = mdm(&["user", "password", "olga"], Some("short\n"));
    assert_ne!(code, 0);
    assert!(err.contains("at least 10 characters"), "{err}");
    let (code, _, err) = mdm(&["user", "password", "nobody"], Some("long-enough-1\n"));
    assert_ne!(code, 0);
    assert!(err.contains("user nobody not found"), "{err}");
    let (code, out, err) = mdm(&["user", "role", "olga", "firmware"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("olga now has role firmware"), "{out}");
    let (code, _, err) = mdm(&["user", "role", "olga", "wizard"], None);
    assert_ne!(code, 0);
    assert!(err.contains("role must be"), "{err}");
    let (code, _, err) = mdm(&["user", "disable", "olga"], None);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = mdm(&["user", "list"], None);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.contains("olga") && l.contains("firmware") && l.contains("disabled")),
        "{out}"
    );

    let (code, secret, err) = mdm(&["token", "create", "billing", "--role", "care"], None);
    assert_eq!(code, 0, "{err}");
    assert!(secret.trim().starts_with("mdm_"));
    let id: i64 = err
        .trim_start_matches("token ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the id is printed: {err}"));
    let (code, _, err) = mdm(&["token", "create", "billing", "--role", "care"], None);
    assert_ne!(code, 0);
    assert!(err.contains("already named billing"), "{err}");
    let (code, out, _) = mdm(&["token", "list"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("billing") && out.contains("active") && !out.contains(secret.trim()),
        "{out}"
    );
    let (code, out, err) = mdm(&["token", "revoke", &id.to_string()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("token {id} revoked")), "{out}");
    let (code, _, err) = mdm(&["token", "revoke", &id.to_string()], None);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
    let (code, out, _) = mdm(&["token", "list", "--json"], None);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(list[0]["revoked_at"].is_i64(), "{out}");
    assert!(list[0].get("token_hash").is_none());
}

struct DropDb(Option<(String, String)>);

impl Drop for DropDb {
    fn drop(&mut self) {
        crate::common::drop_database(self.0.take());
    }
}
