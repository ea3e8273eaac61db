//! CreateVpnConnection, DescribeVpnConnection(s), ModifyVpnConnectionAttribute, ModifyTunnelAttribute,
//! DeleteVpnConnection, and their forms for connections not on a VPN gateway: CreateVpnAttachment,
//! DescribeVpnAttachments, ModifyVpnAttachmentAttribute, DeleteVpnAttachment.

use super::{input, load, load_param, paged, tag_filter};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views::{self, Extras, Shape};
use serde_json::{Value, json};
use strait_model::validate::{
    self, ConnectionContext, ConnectionInput, TunnelOptionsInput, ValidationError,
};
use strait_model::{
    AttachType, CrossAccountGrant, CustomerGateway, TransitRouter, VpnConnection, VpnGateway,
    VpnPbrRouteEntry, VpnRouteEntry,
};
use strait_store::{Document, Page, Query, Tx};

/// The store's side of validating a connection on `gateway` (or on none): the account's customer
/// gateways and the gateway's connections.
struct Neighbours {
    customer_gateways: Vec<CustomerGateway>,
    gateway_connections: Vec<VpnConnection>,
}

impl Neighbours {
    fn load(
        tx: &Tx<'_>,
        ctx: &Ctx<'_>,
        gateway: Option<&VpnGateway>,
    ) -> Result<Neighbours, ApiError> {
        let gateway_connections = match gateway {
            Some(gw) => {
                let on_gateway = Query {
                    fields: vec![("VpnGatewayId", gw.vpn_gateway_id.clone())],
                    ..Query::default()
                };
                tx.list::<VpnConnection>(ctx.account_id, &on_gateway)?.items
            }
            None => Vec::new(),
        };
        Ok(Neighbours {
            customer_gateways: tx
                .list::<CustomerGateway>(ctx.account_id, &Query::default())?
                .items,
            gateway_connections,
        })
    }

    fn context<'a>(
        &'a self,
        gateway: Option<&'a VpnGateway>,
        tx: &Tx<'_>,
    ) -> ConnectionContext<'a> {
        ConnectionContext {
            gateway,
            customer_gateways: &self.customer_gateways,
            gateway_connections: &self.gateway_connections,
            now_ms: tx.now_ms(),
        }
    }
}

/// The gateway a stored connection is attached to, if it is on one.
fn gateway_of(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    conn: &VpnConnection,
) -> Result<Option<VpnGateway>, ApiError> {
    conn.vpn_gateway_id
        .as_deref()
        .map(|id| load::<VpnGateway>(tx, ctx, id))
        .transpose()
}

/// The customer gateways' ASNs, the cross-account grants, the transit routers' names and the
/// observed tunnel state of these connections.
pub(super) fn extras(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    conns: &[VpnConnection],
) -> Result<Extras, ApiError> {
    let mut extras = Extras::default();
    for c in conns {
        let grants = Query {
            refs: vec![c.vpn_connection_id.clone()],
            ..Query::default()
        };
        let grants = tx.list::<CrossAccountGrant>(ctx.account_id, &grants)?.items;
        if !grants.is_empty() {
            extras.authorized.insert(c.vpn_connection_id.clone());
        }
        // The transit router is the caller's or, attached across accounts, a grantee's.
        if let Some(tr) = &c.transit_router_id {
            let owners =
                std::iter::once(ctx.account_id).chain(grants.iter().map(|g| g.bind_uid.as_str()));
            for owner in owners {
                if let Some(router) = tx.get::<TransitRouter>(owner, tr)? {
                    extras
                        .transit_router_names
                        .insert(c.vpn_connection_id.clone(), router.transit_router_name);
                    break;
                }
            }
        }
    }
    for id in conns.iter().flat_map(VpnConnection::customer_gateway_ids) {
        if let Some(asn) = tx
            .get::<CustomerGateway>(ctx.account_id, id)?
            .and_then(|c| c.asn)
        {
            extras.peer_asns.insert(id.to_string(), asn);
        }
    }
    for t in conns.iter().flat_map(|c| &c.tunnel_options) {
        if let Some((status, _)) = tx.tunnel_status(ctx.account_id, &t.tunnel_id)? {
            extras.tunnels.insert(t.tunnel_id.clone(), status);
        }
    }
    Ok(extras)
}

/// Validates an update of the request's connection against its gateway's other resources,
/// stores it and answers `view` of the result.
fn update(
    ctx: &Ctx<'_>,
    validate: impl FnOnce(
        &VpnConnection,
        &ConnectionContext<'_>,
    ) -> Result<VpnConnection, ValidationError>,
    view: impl FnOnce(&VpnConnection, &Extras) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let current = load_param::<VpnConnection>(tx, ctx)?;
        let gateway = gateway_of(tx, ctx, &current)?;
        let neighbours = Neighbours::load(tx, ctx, gateway.as_ref())?;
        let conn = validate(&current, &neighbours.context(gateway.as_ref(), tx))?;
        tx.update(ctx.account_id, &conn)?;
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Modified,
        );
        view(&conn, &extras(tx, ctx, std::slice::from_ref(&conn))?)
    })
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: ConnectionInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let gateway = load_param::<VpnGateway>(tx, ctx)?;
        let neighbours = Neighbours::load(tx, ctx, Some(&gateway))?;
        let conn =
            validate::validate_new_connection(&input, &neighbours.context(Some(&gateway), tx))?;
        tx.insert(ctx.account_id, &conn)?;
        changes.push(VpnConnection::KIND, &conn.vpn_connection_id, ChangeOp::Created);
        Ok(json!({ "VpnConnectionId": conn.vpn_connection_id, "Name": conn.name, "CreateTime": conn.create_time }))
    })
}

/// CreateVpnAttachment: a connection attached to nothing, for a transit router to attach later.
pub(super) fn create_attachment(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: ConnectionInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let neighbours = Neighbours::load(tx, ctx, None)?;
        let conn = validate::validate_new_connection(&input, &neighbours.context(None, tx))?;
        tx.insert(ctx.account_id, &conn)?;
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Created,
        );
        Ok(json!({
            "VpnConnectionId": conn.vpn_connection_id,
            "Name": conn.name,
            "CreateTime": conn.create_time,
            "Code": "200",
            "Message": "successful",
            "Success": true,
        }))
    })
}

/// DescribeVpnAttachments: the caller's connections not on a VPN gateway, optionally only those
/// attached as `AttachType` (`CEN` or `NO_ASSOCIATED`).
pub(super) fn list_attachments(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let page = p.page(50)?;
    let wanted = match p.str("AttachType").filter(|v| !v.is_empty()) {
        None => None,
        Some("CEN") => Some(AttachType::TransitRouter),
        Some("NO_ASSOCIATED") => Some(AttachType::None),
        Some(other) => {
            return Err(ApiError::invalid(
                "AttachType",
                format!("\"{other}\" is not CEN or NO_ASSOCIATED"),
            ));
        }
    };
    let query = Query {
        ids: p
            .str("VpnConnectionId")
            .filter(|v| !v.is_empty())
            .map(|id| vec![id.to_string()]),
        ..Query::default()
    };
    ctx.read(|tx| {
        let conns: Vec<VpnConnection> = tx
            .list::<VpnConnection>(ctx.account_id, &query)?
            .items
            .into_iter()
            .filter(|c| c.attach_type != AttachType::VpnGateway)
            .filter(|c| wanted.is_none_or(|w| c.attach_type == w))
            .collect();
        let window = Page::number(page.number, page.size);
        let shown: Vec<VpnConnection> = conns
            .iter()
            .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
            .take(window.limit as usize)
            .cloned()
            .collect();
        let extras = extras(tx, ctx, &shown)?;
        Ok(json!({
            "VpnAttachments": shown.iter().map(|c| views::vpn_attachment(c, &extras)).collect::<Vec<_>>(),
            "TotalCount": conns.len(),
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        Ok(views::vpn_connection(
            &conn,
            &extras(tx, ctx, std::slice::from_ref(&conn))?,
            Shape::Describe,
            "Tags",
        ))
    })
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mut query = Query {
        tags: tag_filter(p)?,
        ..Query::default()
    };
    if let Some(id) = p.str("VpnConnectionId").filter(|v| !v.is_empty()) {
        query.ids = Some(vec![id.to_string()]);
    }
    if let Some(id) = p.str("VpnGatewayId").filter(|v| !v.is_empty()) {
        query.fields.push(("VpnGatewayId", id.to_string()));
    }
    if let Some(id) = p.str("CustomerGatewayId").filter(|v| !v.is_empty()) {
        query.refs.push(id.to_string());
    }
    ctx.read(|tx| {
        paged(
            tx,
            ctx,
            query,
            "VpnConnections",
            "VpnConnection",
            |conns: &[VpnConnection]| {
                let extras = extras(tx, ctx, conns)?;
                Ok(conns
                    .iter()
                    .map(|c| views::vpn_connection(c, &extras, Shape::Describe, "Tag"))
                    .collect())
            },
        )
    })
}

pub(super) fn modify(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: ConnectionInput = input(ctx.params)?;
    update(
        ctx,
        |current, context| validate::validate_connection_update(current, &input, context),
        |conn, extras| Ok(views::vpn_connection(conn, extras, Shape::Modify, "Tags")),
    )
}

/// ModifyVpnAttachmentAttribute: as ModifyVpnConnectionAttribute, but its answer lists the tunnels
/// directly under `TunnelOptionsSpecification` (the SDK's response model).
pub(super) fn modify_attachment(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: ConnectionInput = input(ctx.params)?;
    update(
        ctx,
        |current, context| validate::validate_connection_update(current, &input, context),
        |conn, extras| {
            let mut v = views::vpn_connection(conn, extras, Shape::Modify, "Tags");
            if let Some(spec) = v.get_mut("TunnelOptionsSpecification") {
                if let Some(tunnels) = spec.get_mut("TunnelOptions").map(Value::take) {
                    *spec = tunnels;
                }
            }
            Ok(v)
        },
    )
}

pub(super) fn modify_tunnel(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let tunnel_id = ctx.params.required("TunnelId")?;
    // The SDKs flatten the object (`TunnelOptionsSpecification.EnableDpd`); hand-made requests may send it as JSON.
    let input: TunnelOptionsInput = match ctx.params.str("TunnelOptionsSpecification") {
        Some(raw) => validate::parse_json("TunnelOptionsSpecification", raw)?,
        None => input(&ctx.params.nested("TunnelOptionsSpecification"))?,
    };
    update(
        ctx,
        |current, context| validate::validate_tunnel_update(current, tunnel_id, &input, context),
        |conn, extras| {
            let tunnel = conn.tunnel(tunnel_id).ok_or_else(|| {
                ApiError::not_found("InvalidTunnelId.NotFound", "TunnelId", tunnel_id)
            })?;
            Ok(views::tunnel(tunnel, extras, Shape::Modify))
        },
    )
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        validate::check_delete_connection(&conn)?;
        for (kind, id) in tx.referrers(ctx.account_id, &conn.vpn_connection_id)? {
            match kind.as_str() {
                VpnRouteEntry::KIND => tx.delete::<VpnRouteEntry>(ctx.account_id, &id)?,
                VpnPbrRouteEntry::KIND => tx.delete::<VpnPbrRouteEntry>(ctx.account_id, &id)?,
                CrossAccountGrant::KIND => tx.delete::<CrossAccountGrant>(ctx.account_id, &id)?,
                _ => {}
            }
        }
        tx.delete::<VpnConnection>(ctx.account_id, &conn.vpn_connection_id)?;
        tx.clear_observed(ctx.account_id, &conn.vpn_connection_id)?;
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Deleted,
        );
        Ok(json!({}))
    })
}

/// The `[from, to)` window of DescribeVpnConnectionLogs in ms: `From`/`To` are UNIX seconds,
/// `MinutePeriod` (1..=10) extends one of them or, alone, ends now.
fn log_window(ctx: &Ctx<'_>, now_ms: i64) -> Result<(i64, i64), ApiError> {
    let p = ctx.params;
    let period = match p.parse::<i64>("MinutePeriod")? {
        Some(m @ 1..=10) => Some(m * 60_000),
        Some(_) => {
            return Err(ApiError::invalid(
                "MinutePeriod",
                "must be between 1 and 10 (minutes)",
            ));
        }
        None => None,
    };
    let from = p.parse::<i64>("From")?.map(|s| s.saturating_mul(1000));
    let to = p.parse::<i64>("To")?.map(|s| s.saturating_mul(1000));
    let window = match (from, to, period) {
        (Some(f), Some(t), _) => (f, t),
        (Some(f), None, Some(m)) => (f, f.saturating_add(m)),
        (None, Some(t), Some(m)) => (t.saturating_sub(m), t),
        (None, None, Some(m)) => (now_ms.saturating_sub(m), now_ms),
        _ => return Err(ApiError::missing("MinutePeriod")),
    };
    if window.0 >= window.1 {
        return Err(ApiError::invalid("To", "must be later than From"));
    }
    Ok(window)
}

pub(super) fn logs(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = ctx.params.page(50)?;
    ctx.read(|tx| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        let tunnel_id = ctx.params.str("TunnelId").filter(|t| !t.is_empty());
        if let Some(id) = tunnel_id.filter(|id| conn.tunnel(id).is_none()) {
            return Err(ApiError::not_found(
                "InvalidTunnelId.NotFound",
                "TunnelId",
                id,
            ));
        }
        let window = log_window(ctx, tx.now_ms())?;
        let page_rows = Page::number(page.number, page.size);
        let listing = tx.logs(
            ctx.account_id,
            &conn.vpn_connection_id,
            tunnel_id,
            window,
            page_rows,
        )?;
        let logs: Vec<String> = listing
            .items
            .iter()
            .map(|l| {
                let at = time::OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(l.time_ms) * 1_000_000,
                )
                .ok()
                .and_then(|t| t.format(LOG_TIME).ok())
                .unwrap_or_default();
                format!("{at} {}: {}", l.tunnel_id, l.line)
            })
            .collect();
        let shown = page_rows.offset.saturating_add(logs.len() as u64);
        Ok(json!({
            "Data": { "Logs": logs },
            "Count": listing.total,
            "IsCompleted": shown >= listing.total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}

/// How a log line's time is written (UTC).
const LOG_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
