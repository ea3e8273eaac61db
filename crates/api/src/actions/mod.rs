//! The RPC actions, each a function of one authenticated request, and what they share.

mod connection;
mod customer_gateway;
mod diagnose;
mod download;
mod route;
mod tag;
mod vpn_gateway;

use crate::error::ApiError;
use crate::params::Params;
use crate::server::Ctx;
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use strait_model::Tag;
use strait_model::validate::{self, TagInput};
use strait_store::{Document, Listing, Page, Query, Tx};

/// Runs the action the request names.
pub fn dispatch(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    match ctx.action {
        "CreateVpnGateway" => vpn_gateway::create(ctx),
        "DescribeVpnGateway" => vpn_gateway::describe(ctx),
        "DescribeVpnGateways" => vpn_gateway::list(ctx),
        "ModifyVpnGatewayAttribute" => vpn_gateway::modify(ctx),
        "DeleteVpnGateway" => vpn_gateway::delete(ctx),
        "CreateCustomerGateway" => customer_gateway::create(ctx),
        "DescribeCustomerGateway" => customer_gateway::describe(ctx),
        "DescribeCustomerGateways" => customer_gateway::list(ctx),
        "ModifyCustomerGatewayAttribute" => customer_gateway::modify(ctx),
        "DeleteCustomerGateway" => customer_gateway::delete(ctx),
        "CreateVpnConnection" => connection::create(ctx),
        "DescribeVpnConnection" => connection::describe(ctx),
        "DescribeVpnConnections" => connection::list(ctx),
        "ModifyVpnConnectionAttribute" => connection::modify(ctx),
        "ModifyTunnelAttribute" => connection::modify_tunnel(ctx),
        "DeleteVpnConnection" => connection::delete(ctx),
        "DescribeVpnConnectionLogs" => connection::logs(ctx),
        "DiagnoseVpnConnections" => diagnose::diagnose(ctx),
        "DownloadVpnConnectionConfig" => download::download(ctx),
        "CreateVpnRouteEntry" => route::create(ctx),
        "DescribeVpnRouteEntries" => route::list(ctx),
        "DescribeVcoRouteEntries" => route::list_vco(ctx),
        "DeleteVpnRouteEntry" => route::delete(ctx),
        "PublishVpnRouteEntry" => route::publish(ctx),
        "ModifyVpnRouteEntryWeight" => route::modify_weight(ctx),
        "CreateVpnPbrRouteEntry" => route::create_pbr(ctx),
        "DescribeVpnPbrRouteEntries" => route::list_pbr(ctx),
        "DeleteVpnPbrRouteEntry" => route::delete_pbr(ctx),
        "ModifyVpnPbrRouteEntryWeight" => route::modify_pbr_weight(ctx),
        "ModifyVpnPbrRouteEntryPriority" => route::modify_pbr_priority(ctx),
        "TagResources" => tag::tag(ctx),
        "UnTagResources" => tag::untag(ctx),
        "ListTagResources" => tag::list(ctx),
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            format!("Specified api \"{other}\" is not found, please check your url and method."),
        )),
    }
}

/// A resource kind with the error code and parameter name used when an id is unknown.
pub(crate) trait Resource: Document {
    /// Error code for an unknown id, e.g. `InvalidVpnGatewayInstanceId.NotFound`.
    const NOT_FOUND: &'static str;
    /// Parameter naming the id, e.g. `VpnGatewayId`.
    const ID_FIELD: &'static str;
    /// The resource's tags, for the tagging actions.
    fn tags_mut(&mut self) -> &mut Vec<Tag>;
}

macro_rules! resource {
    ($ty:ty, $not_found:literal, $field:literal) => {
        impl Resource for $ty {
            const NOT_FOUND: &'static str = $not_found;
            const ID_FIELD: &'static str = $field;
            fn tags_mut(&mut self) -> &mut Vec<Tag> {
                &mut self.tags
            }
        }
    };
}

resource!(
    strait_model::VpnGateway,
    "InvalidVpnGatewayInstanceId.NotFound",
    "VpnGatewayId"
);
resource!(
    strait_model::CustomerGateway,
    "InvalidCustomerGatewayInstanceId.NotFound",
    "CustomerGatewayId"
);
resource!(
    strait_model::VpnConnection,
    "InvalidVpnConnectionInstanceId.NotFound",
    "VpnConnectionId"
);

/// The caller's resource with this id; another account's id answers as not found.
pub(crate) fn load<R: Resource>(tx: &Tx<'_>, ctx: &Ctx<'_>, id: &str) -> Result<R, ApiError> {
    tx.get::<R>(ctx.account_id, id)?
        .ok_or_else(|| ApiError::not_found(R::NOT_FOUND, R::ID_FIELD, id))
}

/// The caller's resource named by its id parameter (required).
pub(crate) fn load_param<R: Resource>(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<R, ApiError> {
    load(tx, ctx, ctx.params.required(R::ID_FIELD)?)
}

/// The request decoded into one of the model's input types (values still raw, fields named as sent).
pub(crate) fn input<T: DeserializeOwned>(params: &Params) -> Result<T, ApiError> {
    Ok(validate::from_params(params.pairs())?)
}

/// The `Tag.N.Key` / `Tag.N.Value` list of a request.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TagList {
    tag: Vec<TagInput>,
}

/// Tags `Tag.N.*`, checked by the model's rules.
pub(crate) fn tags(params: &Params) -> Result<Vec<Tag>, ApiError> {
    Ok(validate::validate_tags(
        "Tag",
        &input::<TagList>(params)?.tag,
    )?)
}

/// Tag filters `Tag.N.Key` / `Tag.N.Value` of a Describe action.
pub(crate) fn tag_filter(params: &Params) -> Result<Vec<(String, Option<String>)>, ApiError> {
    Ok(tags(params)?
        .into_iter()
        .map(|t| (t.key, Some(t.value).filter(|v| !v.is_empty())))
        .collect())
}

/// The ids of a Describe filter given as one id or a comma-separated list.
pub(crate) fn id_filter(params: &Params, key: &str) -> Option<Vec<String>> {
    params
        .str(key)
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}

/// Lists one page and answers `{outer: {inner: [...]}, TotalCount, PageNumber, PageSize}`.
pub(crate) fn paged<D: Document>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    mut query: Query,
    outer: &str,
    inner: &str,
    view: impl FnOnce(&[D]) -> Result<Vec<Value>, ApiError>,
) -> Result<Value, ApiError> {
    let page = ctx.params.page(50)?;
    query.page = Some(Page::number(page.number, page.size));
    let Listing { items, total } = tx.list::<D>(ctx.account_id, &query)?;
    Ok(page_body(outer, inner, view(&items)?, total, page))
}

/// The answer `{outer: {inner: items}, TotalCount, PageNumber, PageSize}` for one page of a list.
pub(crate) fn page_body(
    outer: &str,
    inner: &str,
    items: Vec<Value>,
    total: u64,
    page: crate::params::Page,
) -> Value {
    json!({
        outer: { inner: items },
        "TotalCount": total,
        "PageNumber": page.number,
        "PageSize": page.size,
    })
}
