//! `GET /v1/whoami`: the caller's token name and scope, so a client (the console) can offer only
//! what the token may do. The server refuses the rest anyway.

use axum::{Extension, Json};
use reef_core::api::Whoami;

use crate::auth::Caller;

/// `GET /v1/whoami`
#[utoipa::path(
    get,
    path = "/v1/whoami",
    operation_id = "whoami",
    tag = "auth",
    responses(
        (status = 200, description = "Who the token belongs to and what it may do.", body = Whoami),
    ),
)]
pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<Whoami> {
    Json(Whoami {
        auth: caller.name.is_some(),
        name: caller.name.unwrap_or_else(|| "anonymous".to_owned()),
        scope: caller.scope.as_str().to_owned(),
    })
}
