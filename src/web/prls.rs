//! Operation & Maintenance: the SSPR tables (PRL upload, validation and
//! view) and the IOTA sessions the OSPP driver ran.

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, AppState, WebError};
use crate::auth::Permission;
use crate::iota::is683::Prl;
use crate::iota::prl_store::{self, NewPrl, StoredPrl};
use crate::iota::prl_view::{self, AcqRow, SysRow};
use crate::iota::session::{self, IotaSession, SessionQuery};
use crate::iota::IotaError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ops/prls", web::get().to(list))
        .route("/ops/prls", web::post().to(upload))
        .route("/ops/prls/{table}", web::get().to(view))
        .route("/ops/iota", web::get().to(sessions));
}

impl From<IotaError> for WebError {
    fn from(e: IotaError) -> Self {
        match e {
            IotaError::NotFound(m) => WebError::NotFound(format!("{m} not found")),
            IotaError::Db(d) => WebError::Internal(d.to_string()),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "ops/prls.html")]
struct ListPage {
    ctx: PageCtx,
    prls: Vec<StoredPrl>,
    can_edit: bool,
}

impl ListPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

async fn list(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    let prls = state
        .db
        .run(|c| prl_store::list(c).map_err(IotaError::from))
        .await?;
    render(&ListPage {
        ctx: user.ctx(Area::Ops),
        prls,
        can_edit: may_file(&user),
    })
}

/// Filing a PRL takes the O&M area the SSPR tables are seen in, and the
/// right to change what handsets are programmed with: a care agent edits
/// devices but has no say over the tables.
fn may_file(user: &CurrentUser) -> bool {
    user.can(Permission::ViewOps) && user.can(Permission::EditDevices)
}

/// Multipart: the CSRF token, the file, and the optional table and name.
async fn upload(
    state: web::Data<AppState>,
    user: CurrentUser,
    payload: Multipart,
) -> Result<HttpResponse, WebError> {
    // Before the upload is read: a refused role's file is never looked at.
    user.require(Permission::ViewOps)?;
    user.require(Permission::EditDevices)?;
    let (fields, file) =
        super::devices::read_upload_fields(payload, prl_store::MAX_PRL_BYTES + 1).await?;
    user.check_csrf(fields.get("csrf").map(String::as_str).unwrap_or(""))?;
    if file.is_empty() {
        flash(&user.session, "error", "Choose a PRL file.");
        return Ok(redirect("/ops/prls"));
    }
    let table = match fields
        .get("sspr_table")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => match v.parse::<i32>() {
            Ok(t) => Some(t),
            Err(_) => {
                flash(&user.session, "error", "The SSPR table is a number.");
                return Ok(redirect("/ops/prls"));
            }
        },
    };
    let name = fields.get("name").cloned().unwrap_or_default();
    let actor = user.actor();
    let outcome = state
        .db
        .run(move |c| {
            prl_store::add(
                c,
                &actor,
                &NewPrl {
                    bytes: file,
                    prl_id: None,
                    sspr_table: table,
                    name,
                },
            )
        })
        .await;
    match outcome {
        Ok(p) => {
            tracing::info!(prl = p.prl_id, table = p.sspr_table, "PRL filed");
            flash(
                &user.session,
                "success",
                format!(
                    "PRL {} checked (CRC {}) and filed in SSPR table {}.",
                    p.prl_id,
                    p.crc_hex(),
                    p.sspr_table
                ),
            );
            Ok(redirect(&format!("/ops/prls/{}", p.sspr_table)))
        }
        Err(IotaError::Db(e)) => Err(WebError::Internal(e.to_string())),
        Err(e) => {
            tracing::info!(error = %e, "PRL upload refused");
            flash(&user.session, "error", format!("PRL refused: {e}"));
            Ok(redirect("/ops/prls"))
        }
    }
}

#[derive(Template)]
#[template(path = "ops/prl.html")]
struct ViewPage {
    ctx: PageCtx,
    p: StoredPrl,
    prl: Prl,
    acq: Vec<AcqRow>,
    sys: Vec<SysRow>,
}

impl ViewPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

async fn view(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    let table = path.into_inner();
    let p = state
        .db
        .run(move |c| prl_store::by_table(c, table).map_err(IotaError::from))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("SSPR table {table} holds no PRL.")))?;
    let prl = p.decoded()?;
    render(&ViewPage {
        ctx: user.ctx(Area::Ops),
        acq: prl_view::acquisition_table(&prl),
        sys: prl_view::system_table(&prl),
        p,
        prl,
    })
}

#[derive(Deserialize)]
struct SessionFilter {
    flow: Option<String>,
    state: Option<String>,
}

#[derive(Template)]
#[template(path = "ops/iota.html")]
struct SessionsPage {
    ctx: PageCtx,
    rows: Vec<IotaSession>,
    flow: String,
    state: String,
    /// The subscribers' MDNs by profile id: lines are named by number.
    mdns: std::collections::HashMap<i64, String>,
}

impl SessionsPage {
    fn mdn(&self, profile: &i64) -> String {
        self.mdns
            .get(profile)
            .cloned()
            .unwrap_or_else(|| format!("profile {profile}"))
    }
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn topt(&self, ms: &Option<i64>) -> String {
        crate::timefmt::utc_opt(*ms)
    }
}

async fn sessions(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<SessionFilter>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    let q = q.into_inner();
    let query = SessionQuery {
        flow: q.flow.clone(),
        state: q.state.clone(),
        limit: 200,
        ..Default::default()
    };
    let (rows, mdns) = state
        .db
        .run(move |c| -> Result<_, IotaError> {
            let rows = session::search(c, &query)?;
            let ids: Vec<i64> = rows.iter().filter_map(|s| s.profile_id).collect();
            let mdns = crate::registry::profile::mdns_of(c, &ids)?;
            Ok((rows, mdns))
        })
        .await?;
    render(&SessionsPage {
        ctx: user.ctx(Area::Ops),
        rows,
        mdns,
        flow: q.flow.unwrap_or_default(),
        state: q.state.unwrap_or_default(),
    })
}
