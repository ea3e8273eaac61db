//! The HTTP front: authenticates each RPC request, runs its action in one store transaction, and
//! answers JSON with a `RequestId`.

use crate::actions;
use crate::config::Config;
use crate::error::ApiError;
use crate::params::Params;
use crate::sign::{Claim, NonceCache, SignedRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use strait_store::{Store, StoreError, Tx};
use time::OffsetDateTime;
use tokio::sync::broadcast;

/// The VPC API version this server answers (VPN gateways, customer gateways, connections).
pub const VERSION: &str = "2016-04-28";

/// The CBN API version this server also answers (CEN instances, transit routers, attachments).
pub const CBN_VERSION: &str = "2017-09-12";

/// Which of the two APIs a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// VPC 2016-04-28 (the default when a request names no version).
    Vpc,
    /// CBN 2017-09-12.
    Cbn,
}

/// What a committed request changed, for whoever turns desired state into tunnels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The account owning the resource.
    pub account_id: String,
    /// Store kind of the resource (e.g. `VpnConnection`).
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// What happened to it.
    pub op: ChangeOp,
}

/// The kind of a [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// The resource was created.
    Created,
    /// The resource was modified.
    Modified,
    /// The resource was deleted.
    Deleted,
}

/// The API service: configuration, store, replay cache and the change feed.
pub struct Api {
    config: Config,
    store: Arc<Store>,
    nonces: NonceCache,
    changes: broadcast::Sender<Change>,
}

impl Api {
    /// A service over an opened store.
    pub fn new(config: Config, store: Arc<Store>) -> Arc<Api> {
        let (changes, _) = broadcast::channel(1024);
        Arc::new(Api {
            config,
            store,
            nonces: NonceCache::default(),
            changes,
        })
    }

    /// Changes committed from now on (the reconciler's hook).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The axum router answering every path and method with the RPC API.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Serves the API on `listener` until the future is dropped.
    pub async fn serve(self: &Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    fn process(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let query: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let form: Vec<(String, String)> = if is_form {
            form_urlencoded::parse(body).into_owned().collect()
        } else {
            Vec::new()
        };
        let signed = SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            query: &query,
            form: &form,
            headers,
            body,
        };

        let claim = Claim::parse(&signed)?;
        let now = OffsetDateTime::now_utc();
        claim.check_time(now)?;
        let account = self
            .store
            .read(|tx| tx.account_by_access_key(&claim.access_key_id))?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "InvalidAccessKeyId.NotFound",
                    "Specified access key is not found.",
                )
            })?;
        claim.verify(&signed, &account.access_key_secret)?;
        self.nonces.check_and_record(&claim, now)?;

        let params = Params::from_pairs(query.iter().chain(&form));
        let action = headers
            .get("x-acs-action")
            .and_then(|v| v.to_str().ok())
            .or_else(|| params.str("Action"))
            .ok_or_else(|| ApiError::missing("Action"))?;
        let version = headers
            .get("x-acs-version")
            .and_then(|v| v.to_str().ok())
            .or_else(|| params.str("Version"));
        let version = match version {
            None | Some(VERSION) => ApiVersion::Vpc,
            Some(CBN_VERSION) => ApiVersion::Cbn,
            Some(v) => {
                return Err(ApiError::bad_request(
                    "InvalidVersion",
                    format!(
                        "Specified version \"{v}\" is not supported; use {VERSION} (VPC) or {CBN_VERSION} (CBN)."
                    ),
                ));
            }
        };
        if let Some(region) = params.str("RegionId").filter(|r| *r != self.config.region) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "InvalidRegionId.NotFound",
                format!(
                    "The specified RegionId \"{region}\" does not exist; this deployment is \"{}\".",
                    self.config.region
                ),
            ));
        }
        let ctx = Ctx {
            api: self,
            account_id: &account.account_id,
            action,
            version,
            params: &params,
        };
        actions::dispatch(&ctx)
    }
}

/// One authenticated request: who sent it, which action, with which parameters.
pub struct Ctx<'a> {
    api: &'a Api,
    /// The caller's account; every resource it touches must belong to it.
    pub account_id: &'a str,
    /// The action name.
    pub action: &'a str,
    /// The API the action belongs to.
    pub version: ApiVersion,
    /// The request parameters.
    pub params: &'a Params,
}

/// Collects what a write transaction changed, announced once it commits.
#[derive(Default)]
pub struct Changes(Vec<(&'static str, String, ChangeOp)>);

impl Changes {
    /// Notes that resource `id` of `kind` was changed by `op`.
    pub fn push(&mut self, kind: &'static str, id: impl Into<String>, op: ChangeOp) {
        self.0.push((kind, id.into(), op));
    }
}

impl Ctx<'_> {
    /// The server configuration (zones, VPCs, region).
    pub fn config(&self) -> &Config {
        &self.api.config
    }

    /// Runs a read-only action against one snapshot.
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        self.api.store.read(f)
    }

    /// Runs a mutating action in one transaction, with `ClientToken` idempotency and `DryRun`:
    /// a repeated token answers the first response; a valid dry run answers `DryRunOperation`
    /// and rolls back.
    pub fn write(
        &self,
        f: impl FnOnce(&Tx<'_>, &mut Changes) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let token = self.params.str("ClientToken").filter(|t| !t.is_empty());
        let dry_run = self.params.bool("DryRun")?.unwrap_or(false);
        let mut changes = Changes::default();
        let out = self.api.store.write(|tx| {
            if let Some(token) = token {
                if let Some(previous) =
                    tx.idempotent_response(self.account_id, self.action, token)?
                {
                    return serde_json::from_str(&previous).map_err(ApiError::internal);
                }
            }
            let out = f(tx, &mut changes)?;
            if dry_run {
                return Err(ApiError::dry_run());
            }
            if let Some(token) = token {
                tx.record_idempotent_response(
                    self.account_id,
                    self.action,
                    token,
                    &out.to_string(),
                )?;
            }
            Ok(out)
        })?;
        for (kind, id, op) in changes.0 {
            // Nobody listening is fine: the reconciler also reads the store on start.
            let _ = self.api.changes.send(Change {
                account_id: self.account_id.to_string(),
                kind,
                id,
                op,
            });
        }
        Ok(out)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

async fn handle(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let request_id = new_request_id();
    let host_id = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("strait")
        .to_string();
    let result = tokio::task::spawn_blocking(move || api.process(&method, &uri, &headers, &body))
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(e)));
    let elapsed_us = started.elapsed().as_micros();
    tracing::debug!(%request_id, ok = result.is_ok(), elapsed_us, "request served");
    match result {
        Ok(mut value) => {
            if let Some(obj) = value.as_object_mut() {
                obj.insert("RequestId".into(), Value::String(request_id));
            }
            (StatusCode::OK, axum::Json(value)).into_response()
        }
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(code = %e.code, message = %e.message, %request_id, "request failed");
            } else {
                tracing::debug!(code = %e.code, message = %e.message, %request_id, "request refused");
            }
            (e.status, axum::Json(e.body(&request_id, &host_id))).into_response()
        }
    }
}
