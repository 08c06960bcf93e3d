//! The API client behind a request, identified by its bearer token.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::ApiError;
use crate::auth::tokens::{self, TokenRejection};
use crate::auth::{Permission, Role};
use crate::registry::Actor;
use crate::web::AppState;

#[derive(Clone)]
pub struct ApiCaller {
    /// The token's id: what an `Idempotency-Key` is scoped to (a name can
    /// be given again to a later token; an id cannot).
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl ApiCaller {
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.can(p) {
            Ok(())
        } else {
            tracing::warn!(token = %self.name, role = self.role.as_str(), permission = ?p, "API access refused");
            Err(ApiError::Forbidden)
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::Token(self.name.clone())
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<ApiCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The idempotency guard has already authenticated a request that
        // carries a key: one token check per request, not two.
        if let Some(known) = req.extensions().get::<ApiCaller>().cloned() {
            return Box::pin(async move { Ok(known) });
        }
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(&req).await?;
            crate::logging::note_caller(&req, || {
                format!("token {} (#{})", caller.name, caller.token_id)
            });
            Ok(caller)
        })
    }
}

/// The caller named by the request's bearer token, or why there is none.
pub(crate) fn authenticate(
    req: &HttpRequest,
) -> impl std::future::Future<Output = Result<ApiCaller, ApiError>> + 'static {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    async move {
        let state = state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
        let secret = header
            .as_deref()
            .and_then(bearer)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::Unauthorized("send an API token as 'Authorization: Bearer mdm_…'".into())
            })?;
        let token = state
            .db
            .run(move |c| {
                tokens::authenticate(c, &secret).map_err(|e| match e {
                    TokenRejection::Db(d) => ApiError::Internal(d.to_string()),
                    other => ApiError::Unauthorized(other.to_string()),
                })
            })
            .await?;
        Ok(ApiCaller {
            token_id: token.id,
            name: token.name.clone(),
            role: token.role(),
        })
    }
}

/// The token of `Authorization: Bearer <token>`. The scheme's name is
/// case-insensitive (RFC 9110 §11.1): `BEARER` and `bearer` are as good.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_scheme_is_case_insensitive_and_nothing_else_is_bearer() {
        for h in [
            "Bearer mdm_x",
            "bearer mdm_x",
            "BEARER mdm_x",
            "BeArEr   mdm_x ",
        ] {
            assert_eq!(bearer(h), Some("mdm_x"), "{h}");
        }
        assert_eq!(bearer("Basic bWRtOng="), None);
        assert_eq!(bearer("Bearermdm_x"), None);
        assert_eq!(bearer("mdm_x"), None);
    }
}
