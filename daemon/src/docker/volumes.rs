//! Volume routes: berth's own volume routes already answer in Docker's shapes on Docker's
//! paths; this door reads the create body strictly and answers creates with 201.

use super::super::http::{ApiError, ApiResult, Query};
use super::Door;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    cluster_volume_spec: Option<Value>,
}

pub async fn route(
    door: &Arc<Door>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let body = super::super::api::read_body(req).await?;
    match (m, segs) {
        (&Method::POST, ["create"]) => {
            let b: CreateBody = super::parse_json(&body)?;
            if b.cluster_volume_spec.as_ref().is_some_and(|c| !c.is_null()) {
                return Err(super::unsupported("cluster volumes"));
            }
            // Docker's body allows nulls where berth's own route wants maps.
            let normalized = serde_json::json!({
                "Name": b.name.unwrap_or_default(),
                "Driver": b.driver.unwrap_or_default(),
                "DriverOpts": b.driver_opts.unwrap_or_default(),
                "Labels": b.labels.unwrap_or_default(),
            });
            let mut reply = super::super::api_volumes::route(
                &door.d,
                m,
                segs,
                q,
                normalized.to_string().into(),
            )
            .await?;
            *reply.status_mut() = StatusCode::CREATED;
            Ok(reply)
        }
        (&Method::GET | &Method::DELETE, [])
        | (&Method::GET | &Method::DELETE, [_])
        | (&Method::POST, ["prune"]) => {
            super::super::api_volumes::route(&door.d, m, segs, q, body).await
        }
        (&Method::PUT, [_]) => Err(super::unsupported("updating cluster volumes")),
        _ => Err(ApiError::not_found("page not found")),
    }
}
