//! CreateVpnConnection, DescribeVpnConnection(s), ModifyVpnConnectionAttribute, ModifyTunnelAttribute,
//! DeleteVpnConnection.

use super::{input, load, load_param, paged, tag_filter};
use crate::error::ApiError;
use crate::server::{ChangeOp, Changes, Ctx};
use crate::views::{self, Extras, Shape};
use serde_json::{Value, json};
use strait_model::validate::{self, ConnectionContext, ConnectionInput, TunnelOptionsInput};
use strait_model::{CustomerGateway, VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry};
use strait_store::{Document, Query, Tx};

/// The store's side of validating a connection on `gateway`: the account's customer gateways and
/// the gateway's connections.
struct Neighbours {
    customer_gateways: Vec<CustomerGateway>,
    gateway_connections: Vec<VpnConnection>,
}

impl Neighbours {
    fn load(tx: &Tx<'_>, ctx: &Ctx<'_>, gateway: &VpnGateway) -> Result<Neighbours, ApiError> {
        let on_gateway = Query {
            fields: vec![("VpnGatewayId", gateway.vpn_gateway_id.clone())],
            ..Query::default()
        };
        Ok(Neighbours {
            customer_gateways: tx
                .list::<CustomerGateway>(ctx.account_id, &Query::default())?
                .items,
            gateway_connections: tx.list::<VpnConnection>(ctx.account_id, &on_gateway)?.items,
        })
    }

    fn context<'a>(&'a self, gateway: &'a VpnGateway, tx: &Tx<'_>) -> ConnectionContext<'a> {
        ConnectionContext {
            gateway,
            customer_gateways: &self.customer_gateways,
            gateway_connections: &self.gateway_connections,
            now_ms: tx.now_ms(),
        }
    }
}

/// The gateway a stored connection is attached to.
fn gateway_of(tx: &Tx<'_>, ctx: &Ctx<'_>, conn: &VpnConnection) -> Result<VpnGateway, ApiError> {
    let id = conn.vpn_gateway_id.as_deref().unwrap_or_default();
    load::<VpnGateway>(tx, ctx, id)
}

/// The customer gateways' ASNs and the observed tunnel state of these connections.
fn extras(tx: &Tx<'_>, ctx: &Ctx<'_>, conns: &[VpnConnection]) -> Result<Extras, ApiError> {
    let mut extras = Extras::default();
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

/// Stores a validated change to a connection, returning what its view needs.
fn save(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    conn: &VpnConnection,
    changes: &mut Changes,
) -> Result<Extras, ApiError> {
    tx.update(ctx.account_id, conn)?;
    changes.push(
        VpnConnection::KIND,
        &conn.vpn_connection_id,
        ChangeOp::Modified,
    );
    extras(tx, ctx, std::slice::from_ref(conn))
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: ConnectionInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let gateway = load_param::<VpnGateway>(tx, ctx)?;
        let neighbours = Neighbours::load(tx, ctx, &gateway)?;
        let conn = validate::validate_new_connection(&input, &neighbours.context(&gateway, tx))?;
        tx.insert(ctx.account_id, &conn)?;
        changes.push(VpnConnection::KIND, &conn.vpn_connection_id, ChangeOp::Created);
        Ok(json!({ "VpnConnectionId": conn.vpn_connection_id, "Name": conn.name, "CreateTime": conn.create_time }))
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
    ctx.write(|tx, changes| {
        let current = load_param::<VpnConnection>(tx, ctx)?;
        let gateway = gateway_of(tx, ctx, &current)?;
        let neighbours = Neighbours::load(tx, ctx, &gateway)?;
        let conn = validate::validate_connection_update(
            &current,
            &input,
            &neighbours.context(&gateway, tx),
        )?;
        let extras = save(tx, ctx, &conn, changes)?;
        Ok(views::vpn_connection(&conn, &extras, Shape::Modify, "Tags"))
    })
}

pub(super) fn modify_tunnel(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let tunnel_id = ctx.params.required("TunnelId")?;
    let input: TunnelOptionsInput = input(&ctx.params.nested("TunnelOptionsSpecification"))?;
    ctx.write(|tx, changes| {
        let current = load_param::<VpnConnection>(tx, ctx)?;
        let gateway = gateway_of(tx, ctx, &current)?;
        let neighbours = Neighbours::load(tx, ctx, &gateway)?;
        let conn = validate::validate_tunnel_update(
            &current,
            tunnel_id,
            &input,
            &neighbours.context(&gateway, tx),
        )?;
        let extras = save(tx, ctx, &conn, changes)?;
        let tunnel = conn.tunnel(tunnel_id).ok_or_else(|| {
            ApiError::not_found("InvalidTunnelId.NotFound", "TunnelId", tunnel_id)
        })?;
        Ok(views::tunnel(tunnel, &extras, Shape::Modify))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        validate::check_delete_connection(&conn)?;
        for (kind, id) in tx.referrers(ctx.account_id, &conn.vpn_connection_id)? {
            match kind.as_str() {
                VpnRouteEntry::KIND => tx.delete::<VpnRouteEntry>(ctx.account_id, &id)?,
                VpnPbrRouteEntry::KIND => tx.delete::<VpnPbrRouteEntry>(ctx.account_id, &id)?,
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
