//! Firmware Management. Until the firmware repository lands, this area shows
//! what is real today: the firmware versions in the field per make/model, and
//! which of those the capability registry marks as FOTA-capable.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::session::{Area, CurrentUser, PageCtx};
use super::{render, AppState, WebError};
use crate::auth::Permission;
use crate::registry::capability::{self, Capability};
use crate::registry::stats::{self, VersionCount};
use crate::registry::{version, RegistryError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/firmware", web::get().to(landscape));
}

pub struct ModelVersions {
    pub make: String,
    pub model: String,
    pub total: i64,
    pub rows: Vec<VersionRow>,
}

pub struct VersionRow {
    pub version: String,
    pub count: i64,
    pub percent: i64,
    pub fota: String,
    pub protocol: String,
}

#[derive(Template)]
#[template(path = "firmware/landscape.html")]
struct LandscapePage {
    ctx: PageCtx,
    models: Vec<ModelVersions>,
}

fn group(rows: Vec<VersionCount>, caps: &[Capability]) -> Vec<ModelVersions> {
    let mut out: Vec<ModelVersions> = Vec::new();
    for r in rows {
        let cap = caps.iter().find(|c| {
            c.make == r.make
                && c.model == r.model
                && version::in_range(
                    &r.firmware_version,
                    c.version_min.as_deref(),
                    c.version_max.as_deref(),
                )
        });
        let row = VersionRow {
            version: r.firmware_version.clone(),
            count: r.count,
            percent: 0,
            fota: match cap {
                Some(c) if c.fota => "yes".into(),
                Some(_) => "no".into(),
                None => "unknown".into(),
            },
            protocol: cap
                .map(|c| c.protocol().label().to_string())
                .unwrap_or_else(|| "—".into()),
        };
        match out.last_mut() {
            Some(m) if m.make == r.make && m.model == r.model => {
                m.total += r.count;
                m.rows.push(row);
            }
            _ => out.push(ModelVersions {
                make: r.make,
                model: r.model,
                total: r.count,
                rows: vec![row],
            }),
        }
    }
    for m in &mut out {
        for r in &mut m.rows {
            r.percent = if m.total > 0 {
                r.count * 100 / m.total
            } else {
                0
            };
        }
    }
    out
}

async fn landscape(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let (rows, caps) = state
        .db
        .run(|c| -> Result<_, RegistryError> { Ok((stats::versions(c)?, capability::list(c)?)) })
        .await?;
    render(&LandscapePage {
        ctx: user.ctx(Area::Firmware),
        models: group(rows, &caps),
    })
}
