//! Your account: a staff user's own password.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::forms::FormData;
use super::session::{self, flash, Area, CurrentUser, PageCtx};
use super::{redirect, render_status, AppState, WebError};
use crate::auth::throttle::{self, Policy};
use crate::auth::{users, AuthError, Permission};
use crate::registry::Actor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account_page))
        .route("/account/password", web::post().to(change_password));
}

#[derive(Template)]
#[template(path = "auth/account.html")]
struct AccountPage {
    ctx: PageCtx,
    error: String,
}

fn account_view(user: &CurrentUser, error: String, status: u16) -> Result<HttpResponse, WebError> {
    render_status(
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK),
        &AccountPage {
            ctx: user.ctx(Area::Account),
            error,
        },
    )
}

async fn account_page(user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::OwnAccount)?;
    account_view(&user, String::new(), 200)
}

async fn change_password(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::OwnAccount)?;
    user.check_form(&form)?;
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (current, new) = (field("current_password"), field("new_password"));
    let repeated = new == field("repeat_password");
    let id = user.id;
    // The current password is checked behind the sign-in throttle, under
    // the account's sign-in keys: a wrong one counts as a failed sign-in.
    let keys = throttle::Keys::new(
        &throttle::staff_account(&user.name),
        &super::auth::client_ip(&req, &state),
    );
    let policy = Policy::staff(&state.config);
    match state
        .db
        .run(move |c| {
            // Proved before the new one is judged, so that a right current
            // password clears the account's count as a sign-in would, even
            // when the new one is then refused: its owner is no nearer a
            // lock for the typos they made before proving it.
            let me = throttle::guarded(c, &keys, policy, |c| {
                users::prove_own_password(c, id, &current)
            })?;
            if !repeated {
                return Err(AuthError::Invalid(
                    "the new password and its repetition differ".into(),
                ));
            }
            if new == current {
                return Err(AuthError::Invalid(
                    "the new password is the current one".into(),
                ));
            }
            users::set_password(c, &Actor::User(me.username), id, &new)
        })
        .await
    {
        Ok(generation) => {
            // This session goes on; any other one of the account ends.
            session::carry_on(&user.session, user.role, generation)?;
            flash(
                &user.session,
                "success",
                "Your password has been changed; your other sessions have ended.",
            );
            Ok(redirect("/account"))
        }
        Err(AuthError::BadCredentials) => {
            tracing::warn!(user = %user.name, "own password change with a wrong current password");
            account_view(&user, "The current password is not correct.".into(), 422)
        }
        Err(e @ AuthError::Throttled(_)) => {
            tracing::warn!(user = %user.name, "own password change refused: {e}");
            account_view(&user, super::auth::sentence(&e), 429)
        }
        Err(e @ AuthError::Invalid(_)) => {
            tracing::warn!(user = %user.name, "own password change refused: {e}");
            account_view(&user, super::labels::capitalised(&format!("{e}.")), 422)
        }
        Err(e) => Err(e.into()),
    }
}
