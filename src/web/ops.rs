//! Operation & Maintenance: the dashboard, and the administration of users
//! and API tokens.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::forms::FormData;
use super::session::{self, flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, render_status, AppState, WebError};
use crate::auth::tokens::{self, ApiToken};
use crate::auth::users::{self, User};
use crate::auth::{AuthError, Permission, Role};
use crate::registry::audit;
use crate::registry::import::{self, ImportRun};
use crate::registry::stats::{self, Overview};
use crate::registry::RegistryError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/ops", web::get().to(dashboard))
        .route("/ops/purges/{id}/abandon", web::post().to(purge_abandon))
        .route("/admin/users", web::get().to(users_page))
        .route("/admin/users", web::post().to(user_create))
        .route("/admin/users/{id}", web::get().to(user_page))
        .route("/admin/users/{id}/role", web::post().to(user_role))
        .route("/admin/users/{id}/password", web::post().to(user_password))
        .route("/admin/users/{id}/disable", web::post().to(user_disable))
        .route("/admin/users/{id}/enable", web::post().to(user_enable))
        .route("/admin/users/{id}/delete", web::post().to(user_delete))
        .route("/admin/tokens", web::get().to(tokens_page))
        .route("/admin/tokens", web::post().to(token_create))
        .route("/admin/tokens/{id}/revoke", web::post().to(token_revoke));
}

/// Each role lands in the area it works in.
async fn home(user: CurrentUser) -> HttpResponse {
    let to = match user.role {
        Role::Subscriber => "/self",
        Role::Admin | Role::Operator => "/ops",
        Role::Care => "/care",
        Role::Firmware => "/firmware",
    };
    redirect(to)
}

pub struct Bar {
    pub label: String,
    pub link: String,
    pub count: i64,
    pub percent: i64,
}

fn bars(items: impl Iterator<Item = (String, String, i64)>, take: usize) -> Vec<Bar> {
    let items: Vec<(String, String, i64)> = items.take(take).collect();
    let max = items.iter().map(|(_, _, c)| *c).max().unwrap_or(0).max(1);
    items
        .into_iter()
        .map(|(label, link, count)| Bar {
            label,
            link,
            count,
            percent: count * 100 / max,
        })
        .collect()
}

fn devices_link(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("/devices?{}", s.finish())
}

#[derive(Template)]
#[template(path = "ops/dashboard.html")]
struct DashboardPage {
    ctx: PageCtx,
    o: Overview,
    state_counts: Vec<(String, &'static str, i64)>,
    makes: Vec<Bar>,
    models: Vec<Bar>,
    events: Vec<audit::AuditLine>,
    imports: Vec<ImportRun>,
    purges: Vec<crate::retention::purge::PurgeRun>,
    retention: String,
    db_backend: &'static str,
    db_ok: bool,
    db_latency_ms: String,
    uptime: String,
    pool: String,
    link: super::messages::LinkView,
    queued: i64,
    failed: i64,
    prl_tables: usize,
    billing: BillingView,
    /// Testing and released packages whose file this node's blob store
    /// lacks: handsets would be told to retry their download here.
    missing_files: Vec<crate::firmware::blobs::MissingFile>,
    blob_dir: String,
    /// When the page was made: a running purge whose lease ran out by then
    /// is stalled.
    now: i64,
    /// Whether this user may abandon a stalled purge run (administrators).
    can_abandon: bool,
    /// The abandon form that was refused, to show again with its error.
    abandon: Option<AbandonForm>,
}

/// An abandon form as posted, with why it was refused.
struct AbandonForm {
    run: i64,
    reason: String,
    error: String,
}

/// The billing gateway card: configured or not, and how it has answered.
struct BillingView {
    configured: bool,
    host: String,
    answers: crate::features::activation::BillingAnswers,
}

impl BillingView {
    /// Feature changes cannot be billed: none configured, or the latest
    /// order got no answer.
    fn alarm(&self) -> bool {
        !self.configured || self.answers.latest_unreachable
    }
}

impl DashboardPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }

    /// A purge run's event in brief (its cutoff, counts or error).
    fn purge_note(&self, e: &audit::AuditLine) -> String {
        crate::retention::purge::audit_note(e)
    }

    fn stalled(&self, r: &crate::retention::purge::PurgeRun) -> bool {
        r.stalled(self.now)
    }

    /// " at TIME" for an abandoned run.
    fn abandoned_at(&self, r: &crate::retention::purge::PurgeRun) -> String {
        r.abandoned_at
            .map(|at| format!(" at {}", crate::timefmt::utc(at)))
            .unwrap_or_default()
    }

    /// The reason typed into run `r`'s refused abandon form.
    fn abandon_reason(&self, r: &crate::retention::purge::PurgeRun) -> &str {
        match &self.abandon {
            Some(f) if f.run == r.id => &f.reason,
            _ => "",
        }
    }

    /// Why an abandon was refused, when the refused run shows no form to
    /// put it in (it is no longer running, or not on the page).
    fn abandon_error_elsewhere(&self) -> String {
        match &self.abandon {
            Some(f)
                if !self
                    .purges
                    .iter()
                    .any(|r| r.id == f.run && r.state != "abandoned" && r.stalled(self.now)) =>
            {
                format!("Purge run {}: {}", f.run, f.error)
            }
            _ => String::new(),
        }
    }

    /// Why run `r`'s abandon form was refused.
    fn abandon_error(&self, r: &crate::retention::purge::PurgeRun) -> &str {
        match &self.abandon {
            Some(f) if f.run == r.id => &f.error,
            _ => "",
        }
    }
}

fn uptime(since: i64) -> String {
    let secs = (crate::db::now_ms() - since) / 1000;
    format!(
        "{}d {}h {}m",
        secs / 86_400,
        (secs % 86_400) / 3600,
        (secs % 3600) / 60
    )
}

async fn dashboard(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    render(&dashboard_page(&state, &user, None).await?)
}

async fn dashboard_page(
    state: &AppState,
    user: &CurrentUser,
    abandon: Option<AbandonForm>,
) -> Result<DashboardPage, WebError> {
    let started = std::time::Instant::now();
    let ping = state
        .db
        .run(|c| -> Result<(), RegistryError> {
            use diesel::connection::SimpleConnection;
            c.batch_execute("SELECT 1").map_err(RegistryError::from)
        })
        .await;
    let latency = started.elapsed();
    let day_ago = crate::db::now_ms() - 86_400_000;
    let store = crate::firmware::blobs::BlobStore::of(&state.config);
    let (o, events, imports, purges, outbox, prl_tables, answers, missing_files) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            Ok((
                stats::overview(c)?,
                audit::recent_lines(c, 15)?,
                import::recent_runs(c, 5)?,
                crate::retention::purge::recent(c, 5)?,
                crate::messaging::outbox::counts(c)?,
                crate::iota::prl_store::list(c)?.len(),
                crate::features::activation::billing_answers(c, day_ago)?,
                crate::firmware::blobs::missing_files(c, &store)?,
            ))
        })
        .await?;
    let count_of = |s: &str| {
        outbox
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let (queued, failed) = (count_of("queued") + count_of("sending"), count_of("failed"));
    let state_counts = crate::registry::profile::ActivationState::ALL
        .iter()
        .map(|s| {
            let n = o
                .by_state
                .iter()
                .find(|c| c.key == s.as_str())
                .map(|c| c.count)
                .unwrap_or(0);
            (s.as_str().to_string(), s.label(), n)
        })
        .collect();
    let makes = bars(
        o.by_make
            .iter()
            .map(|c| (c.key.clone(), devices_link(&[("make", &c.key)]), c.count)),
        12,
    );
    let models = bars(
        o.by_model.iter().map(|m| {
            (
                format!("{} {}", m.make, m.model),
                devices_link(&[("make", &m.make), ("model", &m.model)]),
                m.count,
            )
        }),
        12,
    );
    let pool = state.db.pool_state();
    Ok(DashboardPage {
        now: crate::db::now_ms(),
        can_abandon: user.role == Role::Admin,
        abandon,
        ctx: user.ctx(Area::Ops),
        prl_tables,
        missing_files,
        blob_dir: state.config.blob_dir.display().to_string(),
        billing: BillingView {
            configured: state.billing.is_some(),
            host: state.billing.as_ref().map(|b| b.host()).unwrap_or_default(),
            answers,
        },
        state_counts,
        makes,
        models,
        events,
        imports,
        purges,
        retention: format!("{} days", state.config.retention_ms / 86_400_000),
        db_backend: state.db.backend().name(),
        db_ok: ping.is_ok(),
        db_latency_ms: format!("{:.1}", latency.as_secs_f64() * 1000.0),
        uptime: uptime(state.started_at),
        pool,
        link: super::messages::link_view(state),
        queued,
        failed,
        o,
    })
}

/// Abandons a stalled purge run whose archive is lost for good (see
/// [`crate::retention::purge::abandon`]): administrators only, as it gives
/// up on archiving part of a run. A refusal shows the dashboard again with
/// the error beside the form, and changes nothing.
async fn purge_abandon(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    if user.role != Role::Admin {
        tracing::warn!(user = %user.name, role = user.role.as_str(), "abandoning a purge run refused: administrators only");
        return Err(WebError::Forbidden);
    }
    user.check_form(&form)?;
    let id = path.into_inner();
    let reason = super::forms::text(&form, "reason").unwrap_or_default();
    let actor = user.actor();
    let by = actor.to_string();
    let given = reason.clone();
    let outcome = state
        .db
        .run(move |c| -> Result<_, crate::db::DbError> {
            Ok(crate::retention::purge::abandon(c, id, &actor, &by, &given))
        })
        .await?;
    use crate::retention::RetentionError as E;
    let (status, error) = match outcome {
        Ok(run) => {
            flash(
                &user.session,
                "success",
                format!(
                    "Purge run {} abandoned: the {} subscriber(s) it archived stay archived, nothing more is deleted, and a new purge can start.",
                    run.id, run.profiles
                ),
            );
            return Ok(redirect("/ops"));
        }
        Err(e @ E::NotFound(_)) => return Err(WebError::NotFound(e.to_string())),
        Err(e @ E::Invalid(_)) => (actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, e),
        Err(e @ (E::NotRunning { .. } | E::StillHeld { .. } | E::Conflict(_))) => {
            (actix_web::http::StatusCode::CONFLICT, e)
        }
        Err(e) => return Err(WebError::Internal(e.to_string())),
    };
    tracing::warn!(run = id, user = %user.name, error = %error, "abandoning a purge run refused");
    let page = dashboard_page(
        &state,
        &user,
        Some(AbandonForm {
            run: id,
            reason,
            error: error.to_string(),
        }),
    )
    .await?;
    render_status(status, &page)
}

// ---- Users ---------------------------------------------------------------

#[derive(Template)]
#[template(path = "ops/users.html")]
struct UsersPage {
    ctx: PageCtx,
    users: Vec<User>,
    /// Deleted accounts, kept so that their names stay reserved.
    deleted: Vec<User>,
    roles: Vec<(&'static str, &'static str)>,
    error: String,
    username: String,
    /// The role the form shows chosen.
    role: String,
}

impl UsersPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn role_label(&self, r: &str) -> &'static str {
        Role::parse(r).map(|r| r.label()).unwrap_or("?")
    }
}

fn staff_roles() -> Vec<(&'static str, &'static str)> {
    Role::STAFF
        .iter()
        .map(|r| (r.as_str(), r.label()))
        .collect()
}

/// The role a form posted, as the form should show it again: a blank or
/// unknown one comes back as the least powerful.
fn posted_role(form: &FormData) -> String {
    form.get("role")
        .and_then(|r| Role::parse_staff(r))
        .unwrap_or(Role::LEAST_STAFF)
        .as_str()
        .to_string()
}

fn status_code(status: u16) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK)
}

async fn users_view(
    state: &AppState,
    user: &CurrentUser,
    error: String,
    username: String,
    role: String,
    status: u16,
) -> Result<HttpResponse, WebError> {
    let list = state
        .db
        .run(|c| users::list(c).map_err(AuthError::from))
        .await?;
    let (deleted, list): (Vec<User>, Vec<User>) = list.into_iter().partition(User::is_deleted);
    render_status(
        status_code(status),
        &UsersPage {
            ctx: user.ctx(Area::Ops),
            users: list,
            deleted,
            roles: staff_roles(),
            // The domain's messages are written for logs; here a sentence.
            error: super::labels::capitalised(&error),
            username,
            role,
        },
    )
}

async fn users_page(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    let role = Role::LEAST_STAFF.as_str().to_string();
    users_view(&state, &user, String::new(), String::new(), role, 200).await
}

async fn user_create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    let form = form.into_inner();
    user.check_form(&form)?;
    let username = form
        .get("username")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let shown_role = posted_role(&form);
    let Some(role) = form.get("role").and_then(|r| Role::parse_staff(r)) else {
        return users_view(
            &state,
            &user,
            "Choose a role.".into(),
            username,
            shown_role,
            422,
        )
        .await;
    };
    let actor = user.actor();
    let name = username.clone();
    match state
        .db
        .run(move |c| users::create(c, &actor, &name, &password, role))
        .await
    {
        Ok(u) => {
            flash(
                &user.session,
                "success",
                format!("User {} created as {}.", u.username, role.label()),
            );
            Ok(redirect("/admin/users"))
        }
        Err(e @ (AuthError::Invalid(_) | AuthError::Duplicate(_))) => {
            let status = if matches!(e, AuthError::Duplicate(_)) {
                409
            } else {
                422
            };
            users_view(&state, &user, format!("{e}."), username, shown_role, status).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn user_toggle(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: i64,
    form: FormData,
    disabled: bool,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    user.check_form(&form)?;
    if disabled && id == user.id {
        flash(
            &user.session,
            "error",
            "You cannot disable your own account.",
        );
        return Ok(redirect("/admin/users"));
    }
    let actor = user.actor();
    let back = format!("/admin/users/{id}");
    match state
        .db
        .run(move |c| users::set_disabled(c, &actor, id, disabled))
        .await
    {
        Ok(()) => flash(
            &user.session,
            "success",
            if disabled {
                "User disabled; their open sessions have ended."
            } else {
                "User enabled."
            },
        ),
        Err(e @ AuthError::Invalid(_)) => flash(&user.session, "error", format!("{e}.")),
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&back))
}

async fn user_disable(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user_toggle(state, user, path.into_inner(), form.into_inner(), true).await
}

async fn user_enable(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user_toggle(state, user, path.into_inner(), form.into_inner(), false).await
}

#[derive(Template)]
#[template(path = "ops/user.html")]
struct UserPage {
    ctx: PageCtx,
    u: User,
    roles: Vec<(&'static str, &'static str)>,
    /// The page's own account: its password is changed under Your account.
    me: bool,
    /// The API tokens the account created and nobody revoked: deleting it
    /// revokes them.
    tokens: Vec<String>,
    error: String,
}

impl UserPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn role_label(&self, r: &str) -> &'static str {
        Role::parse(r).map(|r| r.label()).unwrap_or("?")
    }
}

async fn user_view(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    error: String,
    status: u16,
) -> Result<HttpResponse, WebError> {
    let (u, tokens) = state
        .db
        .run(move |c| -> Result<_, AuthError> {
            let u = users::get(c, id)?;
            let tokens = users::unrevoked_tokens_of(c, &u.username)?;
            Ok((u, tokens))
        })
        .await?;
    render_status(
        status_code(status),
        &UserPage {
            ctx: user.ctx(Area::Ops),
            me: u.id == user.id,
            tokens: tokens.into_iter().map(|(_, name)| name).collect(),
            u,
            roles: staff_roles(),
            error: super::labels::capitalised(&error),
        },
    )
}

async fn user_page(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    user_view(&state, &user, path.into_inner(), String::new(), 200).await
}

async fn user_role(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let Some(role) = form.get("role").and_then(|r| Role::parse_staff(r)) else {
        return user_view(&state, &user, id, "Choose a role.".into(), 422).await;
    };
    let actor = user.actor();
    let (before, generation) = match state
        .db
        .run(move |c| users::set_role(c, &actor, id, role))
        .await
    {
        Ok(changed) => changed,
        Err(e @ AuthError::Invalid(_)) => {
            return user_view(&state, &user, id, format!("{e}."), 422).await
        }
        Err(e) => return Err(e.into()),
    };
    match generation {
        None => flash(
            &user.session,
            "success",
            format!("{} already is {}.", before.username, role.label()),
        ),
        Some(g) if id == user.id => {
            // This session goes on in the new role (and lands where that
            // role works); the account's other sessions end.
            session::carry_on(&user.session, role, g)?;
            flash(
                &user.session,
                "success",
                format!("You are now {}.", role.label()),
            );
            return Ok(redirect("/"));
        }
        Some(_) => flash(
            &user.session,
            "success",
            format!(
                "{} is now {}; their open sessions have ended.",
                before.username,
                role.label()
            ),
        ),
    }
    Ok(redirect(&format!("/admin/users/{id}")))
}

async fn user_password(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    if id == user.id {
        // Your own password needs the current one, so that a session left
        // open somewhere cannot take the account over.
        let m = "Change your own password under Your account, with your current password.";
        return user_view(&state, &user, id, m.into(), 422).await;
    }
    let password = form.get("password").cloned().unwrap_or_default();
    let actor = user.actor();
    match state
        .db
        .run(move |c| users::set_password(c, &actor, id, &password))
        .await
    {
        Ok(_) => {
            flash(
                &user.session,
                "success",
                "New password set; the user's open sessions have ended.",
            );
            Ok(redirect(&format!("/admin/users/{id}")))
        }
        Err(e @ AuthError::Invalid(_)) => user_view(&state, &user, id, format!("{e}."), 422).await,
        Err(e) => Err(e.into()),
    }
}

/// Deletes a staff account (a leaver): see [`users::delete`] for what is
/// kept and why. Refused for one's own account and the last enabled
/// administrator, on the account's page.
async fn user_delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    match state.db.run(move |c| users::delete(c, &actor, id)).await {
        Ok(deleted) => {
            let tokens = match deleted.revoked_tokens.len() {
                0 => String::new(),
                1 => " and the API token they created is revoked".to_string(),
                n => format!(" and the {n} API tokens they created are revoked"),
            };
            flash(
                &user.session,
                "success",
                format!(
                    "User {} deleted: their open sessions have ended{tokens}. The history still names them.",
                    deleted.username
                ),
            );
            Ok(redirect("/admin/users"))
        }
        Err(e @ AuthError::Invalid(_)) => {
            tracing::warn!(user = %user.name, account = id, error = %e, "user deletion refused");
            user_view(&state, &user, id, format!("{e}."), 422).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---- API tokens ----------------------------------------------------------

#[derive(Template)]
#[template(path = "ops/tokens.html")]
struct TokensPage {
    ctx: PageCtx,
    tokens: Vec<ApiToken>,
    roles: Vec<(&'static str, &'static str)>,
    error: String,
    created: Option<(String, String)>,
    now: i64,
    /// The form as it was sent, shown again with an error.
    form: TokenForm,
}

#[derive(Default)]
struct TokenForm {
    name: String,
    role: String,
    days: String,
}

impl TokenForm {
    fn blank() -> TokenForm {
        TokenForm {
            role: Role::LEAST_STAFF.as_str().to_string(),
            ..TokenForm::default()
        }
    }

    fn posted(form: &FormData) -> TokenForm {
        TokenForm {
            name: form.get("name").cloned().unwrap_or_default(),
            role: posted_role(form),
            days: form.get("days").cloned().unwrap_or_default(),
        }
    }
}

impl TokensPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn role_label(&self, r: &str) -> String {
        super::labels::role(r)
    }
    fn topt(&self, ms: &Option<i64>) -> String {
        crate::timefmt::utc_opt(*ms)
    }
}

async fn tokens_view(
    state: &AppState,
    user: &CurrentUser,
    error: String,
    created: Option<(String, String)>,
    form: TokenForm,
    status: u16,
) -> Result<HttpResponse, WebError> {
    let list = state
        .db
        .run(|c| tokens::list(c).map_err(AuthError::from))
        .await?;
    let page = TokensPage {
        ctx: user.ctx(Area::Ops),
        tokens: list,
        roles: staff_roles(),
        error,
        created,
        now: crate::db::now_ms(),
        form,
    };
    let mut resp = render_status(status_code(status), &page)?;
    // The page may show a secret once; no cache may keep it.
    resp.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

async fn tokens_page(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    tokens_view(&state, &user, String::new(), None, TokenForm::blank(), 200).await
}

async fn token_create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    let form = form.into_inner();
    user.check_form(&form)?;
    let name = form
        .get("name")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let sent = TokenForm::posted(&form);
    let Some(role) = form.get("role").and_then(|r| Role::parse_staff(r)) else {
        return tokens_view(&state, &user, "Choose a role.".into(), None, sent, 422).await;
    };
    let days = match form.get("days").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return tokens_view(
                    &state,
                    &user,
                    "Validity must be a number of days.".into(),
                    None,
                    sent,
                    422,
                )
                .await
            }
        },
    };
    let actor = user.actor();
    match state
        .db
        .run(move |c| tokens::create(c, &actor, &name, role, days))
        .await
    {
        Ok((token, secret)) => {
            tokens_view(
                &state,
                &user,
                String::new(),
                Some((token.name, secret)),
                TokenForm::blank(),
                200,
            )
            .await
        }
        Err(e @ AuthError::Invalid(_)) => {
            tokens_view(&state, &user, format!("{e}."), None, sent, 422).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn token_revoke(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageAccess)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    state.db.run(move |c| tokens::revoke(c, &actor, id)).await?;
    flash(&user.session, "success", "Token revoked.");
    Ok(redirect("/admin/tokens"))
}
