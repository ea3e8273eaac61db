//! The RPC actions, each a function of one authenticated request, and what they share.

mod cen;
mod connection;
mod customer_gateway;
mod diagnose;
mod download;
mod route;
mod tag;
mod tr_attachment;
mod vpn_gateway;

use crate::error::ApiError;
use crate::params::Params;
use crate::server::{ApiVersion, Ctx};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use strait_model::Tag;
use strait_model::validate::{self, TagInput};
use strait_store::{Document, Listing, Page, Query, Tx};

/// Runs the action the request names, in the API its version names.
pub fn dispatch(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    match ctx.version {
        ApiVersion::Vpc => dispatch_vpc(ctx),
        ApiVersion::Cbn => dispatch_cbn(ctx),
    }
}

fn dispatch_vpc(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
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
        "CreateVpnAttachment" => connection::create_attachment(ctx),
        "DescribeVpnAttachments" => connection::list_attachments(ctx),
        "ModifyVpnAttachmentAttribute" => connection::modify_attachment(ctx),
        "DeleteVpnAttachment" => connection::delete(ctx),
        "DescribeVpnCrossAccountAuthorizations" => tr_attachment::list_grants(ctx),
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
        other => Err(unknown_action(other)),
    }
}

fn dispatch_cbn(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    match ctx.action {
        "CreateCen" => cen::create_cen(ctx),
        "DescribeCens" => cen::list_cens(ctx),
        "DeleteCen" => cen::delete_cen(ctx),
        "CreateTransitRouter" => cen::create_transit_router(ctx),
        "ListTransitRouters" => cen::list_transit_routers(ctx),
        "DeleteTransitRouter" => cen::delete_transit_router(ctx),
        "ListTransitRouterRouteTables" => cen::list_route_tables(ctx),
        "ListTransitRouterRouteEntries" => cen::list_route_entries(ctx),
        "CreateTransitRouterVpnAttachment" => tr_attachment::create_vpn(ctx),
        "ListTransitRouterVpnAttachments" => tr_attachment::list_vpn(ctx),
        "UpdateTransitRouterVpnAttachmentAttribute" => tr_attachment::update_vpn(ctx),
        "DeleteTransitRouterVpnAttachment" => tr_attachment::delete_vpn(ctx),
        "CreateTransitRouterVpcAttachment" => tr_attachment::create_vpc(ctx),
        "ListTransitRouterVpcAttachments" => tr_attachment::list_vpc(ctx),
        "DeleteTransitRouterVpcAttachment" => tr_attachment::delete_vpc(ctx),
        "EnableTransitRouterRouteTablePropagation" => {
            tr_attachment::set_flag(ctx, tr_attachment::Flag::Propagation, true)
        }
        "DisableTransitRouterRouteTablePropagation" => {
            tr_attachment::set_flag(ctx, tr_attachment::Flag::Propagation, false)
        }
        "AssociateTransitRouterAttachmentWithRouteTable" => {
            tr_attachment::set_flag(ctx, tr_attachment::Flag::Association, true)
        }
        "DissociateTransitRouterAttachmentFromRouteTable" => {
            tr_attachment::set_flag(ctx, tr_attachment::Flag::Association, false)
        }
        "ListTransitRouterRouteTablePropagations" => {
            tr_attachment::list_flagged(ctx, tr_attachment::Flag::Propagation)
        }
        "ListTransitRouterRouteTableAssociations" => {
            tr_attachment::list_flagged(ctx, tr_attachment::Flag::Association)
        }
        "GrantInstanceToTransitRouter" => tr_attachment::grant(ctx),
        "RevokeInstanceFromTransitRouter" => tr_attachment::revoke(ctx),
        other => Err(unknown_action(other)),
    }
}

fn unknown_action(action: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "InvalidAction.NotFound",
        format!("Specified api \"{action}\" is not found, please check your url and method."),
    )
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

resource!(strait_model::Cen, "InvalidCenId.NotFound", "CenId");
resource!(
    strait_model::TransitRouter,
    "InvalidTransitRouterId.NotFound",
    "TransitRouterId"
);
resource!(
    strait_model::TransitRouterAttachment,
    "InvalidTransitRouterAttachmentId.NotFound",
    "TransitRouterAttachmentId"
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

/// A window of a `MaxResults` / `NextToken` listing (the CBN API's paging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenPage {
    offset: usize,
    max: usize,
}

impl TokenPage {
    /// `MaxResults` (1..=100, default 20) and `NextToken` (a previous answer's, or none).
    pub(crate) fn parse(params: &Params) -> Result<TokenPage, ApiError> {
        let max = params.parse::<usize>("MaxResults")?.unwrap_or(20);
        if !(1..=100).contains(&max) {
            return Err(ApiError::invalid("MaxResults", "must be between 1 and 100"));
        }
        let offset = match params.str("NextToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => t.parse().map_err(|_| {
                ApiError::invalid("NextToken", format!("\"{t}\" was not issued by this API"))
            })?,
        };
        Ok(TokenPage { offset, max })
    }

    /// The answer `{key: this page of items, TotalCount, MaxResults, NextToken}` ("" on the last page).
    pub(crate) fn body(self, key: &str, items: Vec<Value>) -> Value {
        let total = items.len();
        let end = self.offset.saturating_add(self.max);
        let next = if end < total {
            end.to_string()
        } else {
            String::new()
        };
        let page: Vec<Value> = items.into_iter().skip(self.offset).take(self.max).collect();
        json!({ key: page, "TotalCount": total, "MaxResults": self.max, "NextToken": next })
    }
}

/// A time as the CBN API writes it: ISO 8601 UTC to the minute (`2026-11-23T08:52Z`).
pub(crate) fn iso_minutes(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

/// An account id as the SDKs type it (a number), or as text if it is not numeric.
pub(crate) fn uid(account_id: &str) -> Value {
    account_id
        .parse::<u64>()
        .map_or_else(|_| Value::String(account_id.to_string()), Value::from)
}
