//! Customer Care Provisioning: find a subscriber, view and edit the profile
//! settings with validation, change the activation state, set the PIN.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::forms::{self, Filled, FormData};
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, render_status, AppState, WebError};
use crate::auth::Permission;
use crate::registry::audit::{self, EntityKind};
use crate::registry::device::{self, Device};
use crate::registry::profile::{self, ActivationState, Profile, ProfileDraft, ProfileQuery};
use crate::registry::RegistryError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/care", web::get().to(search))
        .route("/care/profiles/new", web::get().to(new_form))
        .route("/care/profiles/new", web::post().to(create))
        .route("/care/profiles/{id}", web::get().to(detail))
        .route("/care/profiles/{id}/edit", web::get().to(edit_form))
        .route("/care/profiles/{id}/edit", web::post().to(update))
        .route("/care/profiles/{id}/state", web::post().to(set_state))
        .route("/care/profiles/{id}/pin", web::post().to(set_pin))
        .configure(super::care_iota::routes);
}

#[derive(Template)]
#[template(path = "care/search.html")]
struct SearchPage {
    ctx: PageCtx,
    q: ProfileQuery,
    results: Option<Vec<Profile>>,
    error: String,
    next: Option<String>,
    /// All the profiles the search matches, counted up to a cap.
    total: Option<super::pager::Total>,
    can_edit: bool,
}

/// Where the care search stops counting, as the device search does
/// (registry::device::COUNT_CAP): a name prefix can match most lines.
const COUNT_CAP: i64 = crate::registry::device::COUNT_CAP;

impl SearchPage {
    fn pager(&self) -> super::pager::Pager {
        let shown = self.results.as_ref().map_or(0, Vec::len);
        let mut p = super::pager::Pager::new(("profile", "profiles"), shown);
        p.next = self.next.clone();
        // Care pages forward only: a later page links back to the first.
        p.first = self.q.after.map(|_| {
            format!("/care?{}", filter_query(&self.q))
                .trim_end_matches(['&', '?'])
                .to_string()
        });
        p.total = self.total;
        p
    }

    fn field(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_default()
    }
    fn state_selected(&self, s: &str) -> bool {
        self.q.state.as_deref() == Some(s)
    }
}

/// The search's filters (and page size, when chosen) as a query string
/// ending in `&` (or empty), for the paging links to keep.
fn filter_query(q: &ProfileQuery) -> String {
    let mut s = super::pager::filters([
        ("mdn", &q.mdn),
        ("min", &q.min),
        ("imsi", &q.imsi),
        ("account_id", &q.account_id),
        ("name", &q.name),
        ("state", &q.state),
    ]);
    if let Some(limit) = q.limit {
        s.append_pair("limit", &limit.clamp(1, 500).to_string());
    }
    let s = s.finish();
    if s.is_empty() {
        s
    } else {
        s + "&"
    }
}

async fn search(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<ProfileQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    // An unknown state is an address the page's own form never makes, not
    // a search to correct: the portal's 400 naming it, as the other lists
    // answer an unknown filter value.
    if let Some(s) = q.state.as_deref().filter(|s| !s.trim().is_empty()) {
        if ActivationState::parse(s).is_none() {
            let known: Vec<&str> = ActivationState::ALL.iter().map(|a| a.as_str()).collect();
            return Err(super::error::bad_param("state", &known.join(", "), s));
        }
    }
    let searching = [&q.mdn, &q.min, &q.imsi, &q.account_id, &q.name, &q.state]
        .iter()
        .any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()))
        || q.after.is_some();
    let mut total = None;
    let (results, error) = if searching {
        let query = q.clone();
        let counted = state
            .db
            .run(move |c| {
                let rows = profile::search(c, &query)?;
                let seen = profile::count_matching(c, &query, COUNT_CAP)?;
                Ok::<_, RegistryError>((rows, seen))
            })
            .await;
        match counted {
            Ok((r, seen)) => {
                total = Some(super::pager::Total::capped(seen, COUNT_CAP));
                (Some(r), String::new())
            }
            Err(RegistryError::Invalid(e)) => (
                None,
                e.iter()
                    .map(|(k, v)| format!("{}: {v}", k.to_uppercase()))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(e) => return Err(e.into()),
        }
    } else {
        (None, String::new())
    };
    let next = results.as_ref().and_then(|r| {
        let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
        (r.len() == limit).then(|| {
            format!(
                "/care?{}after={}",
                filter_query(&q),
                r.last().map(|p| p.id).unwrap_or(0)
            )
        })
    });
    let status = if error.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::BAD_REQUEST
    };
    render_status(
        status,
        &SearchPage {
            ctx: user.ctx(Area::Care),
            q,
            results,
            error,
            next,
            total,
            can_edit: user.can(Permission::EditProfiles),
        },
    )
}

#[derive(Template)]
#[template(path = "care/detail.html")]
struct DetailPage {
    ctx: PageCtx,
    p: Profile,
    devices: Vec<Device>,
    timeline: Vec<audit::AuditLine>,
    can_edit: bool,
    states: Vec<(&'static str, &'static str)>,
    esn_changes: Vec<crate::registry::esn_change::EsnChange>,
    iota_sessions: Vec<crate::iota::session::IotaSession>,
    prls: Vec<crate::iota::prl_store::StoredPrl>,
    /// The ESN change form as last sent: refilled after a refusal so that
    /// an agent who corrects one field does not send a different change.
    esn: EsnForm,
    /// Feature names by code, from the catalogue Self Service sells from.
    feature_names: std::collections::HashMap<String, String>,
}

/// What the ESN change form held when it was sent, and why it was refused.
#[derive(Debug, Clone, Default)]
pub(super) struct EsnForm {
    pub to: String,
    pub variant: String,
    pub make: String,
    pub model: String,
    pub error: String,
}

impl DetailPage {
    /// Whether `prl_id` is the line's PRL now: the OTAPA choice starts there.
    fn current_prl(&self, prl_id: &i32) -> bool {
        self.p.prl_id == Some(*prl_id)
    }
    fn topt(&self, ms: &Option<i64>) -> String {
        crate::timefmt::utc_opt(*ms)
    }
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn opt(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| "—".into())
    }
    fn opt_n(&self, v: &Option<i32>) -> String {
        v.map(|n| n.to_string()).unwrap_or_else(|| "—".into())
    }
    fn opt_l(&self, v: &Option<i64>) -> String {
        v.map(|n| n.to_string()).unwrap_or_else(|| "—".into())
    }
    /// A feature as Self Service names it; a code no longer on sale as is.
    fn feature_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.feature_names
            .get(code)
            .map(String::as_str)
            .unwrap_or(code)
    }
    fn yes(&self, b: &bool) -> &'static str {
        if *b {
            "Yes"
        } else {
            "No"
        }
    }
}

async fn detail(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    detail_page(&state, &user, path.into_inner(), EsnForm::default()).await
}

/// The profile page; with a refused ESN change it is answered 422 with the
/// form as typed and the reason next to it, instead of a redirect that
/// would lose what was typed.
pub(super) async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    esn: EsnForm,
) -> Result<HttpResponse, WebError> {
    let (p, devices, timeline, esn_changes, iota_sessions, prls, feature_names) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let p = profile::get(c, id)?;
            let devices = device::of_profile(c, id)?;
            let mut entities = vec![(EntityKind::Profile, id)];
            entities.extend(devices.iter().map(|d| (EntityKind::Device, d.id)));
            let timeline = audit::timeline(c, &entities, 200)?;
            let changes = crate::registry::esn_change::for_profile(c, id)?;
            let sessions = crate::iota::session::search(
                c,
                &crate::iota::session::SessionQuery {
                    profile_id: Some(id),
                    limit: 20,
                    ..Default::default()
                },
            )?;
            let prls = crate::iota::prl_store::list(c)?;
            let names = crate::features::catalogue::all(c)?
                .into_iter()
                .map(|f| (f.code, f.name))
                .collect();
            Ok((p, devices, timeline, changes, sessions, prls, names))
        })
        .await?;
    let status = if esn.error.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    render_status(
        status,
        &DetailPage {
            ctx: user.ctx(Area::Care),
            p,
            devices,
            timeline,
            can_edit: user.can(Permission::EditProfiles),
            states: ActivationState::ALL
                .iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
            esn_changes,
            iota_sessions,
            prls,
            esn,
            feature_names,
        },
    )
}

#[derive(Template)]
#[template(path = "care/form.html")]
struct FormPage {
    ctx: PageCtx,
    id: Option<i64>,
    f: Filled,
    error: String,
}

async fn new_form(user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    let defaults = ProfileDraft {
        accolc: Some(0),
        scm: Some(234),
        mob_p_rev: Some(6),
        slot_cycle_index: Some(2),
        mob_term_home: Some(true),
        mob_term_for_sid: Some(true),
        mob_term_for_nid: Some(true),
        ..ProfileDraft::default()
    };
    render(&FormPage {
        ctx: user.ctx(Area::Care),
        id: None,
        f: Filled::new(forms::values_of(&defaults), Default::default()),
        error: String::new(),
    })
}

fn failure(
    user: &CurrentUser,
    id: Option<i64>,
    mut values: FormData,
    e: RegistryError,
) -> Result<HttpResponse, WebError> {
    values.remove("pin");
    let (errors, error, status) = match e {
        RegistryError::Invalid(errors) => (
            errors,
            "Please correct the fields marked below.".to_string(),
            422,
        ),
        RegistryError::Duplicate(m) | RegistryError::Conflict(m) => (Default::default(), m, 409),
        other => return Err(other.into()),
    };
    tracing::warn!(user = %user.name, %error, "profile form rejected");
    render_status(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        &FormPage {
            ctx: user.ctx(Area::Care),
            id,
            f: Filled::new(values, errors),
            error,
        },
    )
}

fn draft_of(form: &FormData) -> Result<ProfileDraft, RegistryError> {
    let (draft, errors) = forms::profile_draft(form);
    if errors.is_empty() {
        Ok(draft)
    } else {
        // Report unparseable numbers together with everything else wrong.
        let mut all = errors;
        if let Err(RegistryError::Invalid(more)) = draft.validate() {
            for (k, v) in more {
                all.entry(k).or_insert(v);
            }
        }
        Err(RegistryError::Invalid(all))
    }
}

async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = match draft_of(&form) {
        Ok(d) => d,
        Err(e) => return failure(&user, None, form, e),
    };
    let actor = user.actor();
    match state
        .db
        .run(move |c| profile::create(c, &actor, &draft))
        .await
    {
        Ok(p) => {
            flash(
                &user.session,
                "success",
                format!("Profile for MDN {} created, pending activation.", p.mdn),
            );
            Ok(redirect(&format!("/care/profiles/{}", p.id)))
        }
        Err(e) => failure(&user, None, form, e),
    }
}

async fn edit_form(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    let id = path.into_inner();
    let p = state.db.run(move |c| profile::get(c, id)).await?;
    render(&FormPage {
        ctx: user.ctx(Area::Care),
        id: Some(id),
        f: Filled::new(
            forms::values_of(&ProfileDraft::from_profile(&p)),
            Default::default(),
        ),
        error: String::new(),
    })
}

async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    let id = path.into_inner();
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = match draft_of(&form) {
        Ok(d) => d,
        Err(e) => return failure(&user, Some(id), form, e),
    };
    let actor = user.actor();
    match state
        .db
        .run(move |c| profile::update(c, &actor, id, &draft))
        .await
    {
        Ok(p) => {
            flash(
                &user.session,
                "success",
                format!("Profile for MDN {} saved.", p.mdn),
            );
            Ok(redirect(&format!("/care/profiles/{id}")))
        }
        Err(e) => failure(&user, Some(id), form, e),
    }
}

async fn set_state(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let target = form
        .get("state")
        .and_then(|s| ActivationState::parse(s))
        .ok_or_else(|| {
            WebError::BadRequest("state must be pending, activated or deactivated".into())
        })?;
    let actor = user.actor();
    let p = state
        .db
        .run(move |c| profile::set_state(c, &actor, id, target))
        .await?;
    flash(
        &user.session,
        "success",
        format!("MDN {} is now {}.", p.mdn, target.label()),
    );
    Ok(redirect(&format!("/care/profiles/{id}")))
}

async fn set_pin(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let pin = form.get("pin").cloned().unwrap_or_default();
    if let Err(m) = profile::check_pin(&pin) {
        flash(&user.session, "error", m);
        return Ok(redirect(&format!("/care/profiles/{id}")));
    }
    let actor = user.actor();
    state
        .db
        .run(move |c| -> Result<(), RegistryError> {
            let hash = crate::auth::password::hash(&pin)
                .map_err(|e| RegistryError::invalid("pin", e.to_string()))?;
            profile::set_pin_hash(c, &actor, id, &hash)
        })
        .await?;
    flash(&user.session, "success", "Self-service PIN set.");
    Ok(redirect(&format!("/care/profiles/{id}")))
}
