//! CreateVpnConnection, DescribeVpnConnection(s), ModifyVpnConnectionAttribute, ModifyTunnelAttribute,
//! DeleteVpnConnection.

use super::{input, load, load_param, paged, tag_filter};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views::{self, Shape};
use serde_json::{Value, json};
use std::collections::HashMap;
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

/// ASNs of the customer gateways the connections use, for `PeerAsn`.
fn peer_asns(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    conns: &[VpnConnection],
) -> Result<HashMap<String, u32>, ApiError> {
    let mut asns = HashMap::new();
    for id in conns.iter().flat_map(VpnConnection::customer_gateway_ids) {
        if let Some(asn) = tx
            .get::<CustomerGateway>(ctx.account_id, id)?
            .and_then(|c| c.asn)
        {
            asns.insert(id.to_string(), asn);
        }
    }
    Ok(asns)
}

fn view(c: &VpnConnection, asns: &HashMap<String, u32>, shape: Shape, tags_key: &str) -> Value {
    views::vpn_connection(c, &|id| asns.get(id).copied(), shape, tags_key)
}

/// Stores a validated change to a connection and answers it as ModifyVpnConnectionAttribute does.
fn save(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    conn: &VpnConnection,
    changes: &mut crate::server::Changes,
) -> Result<HashMap<String, u32>, ApiError> {
    tx.update(ctx.account_id, conn)?;
    changes.push(
        VpnConnection::KIND,
        &conn.vpn_connection_id,
        ChangeOp::Modified,
    );
    peer_asns(tx, ctx, std::slice::from_ref(conn))
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
        let asns = peer_asns(tx, ctx, std::slice::from_ref(&conn))?;
        Ok(view(&conn, &asns, Shape::Describe, "Tags"))
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
        let asns: HashMap<String, u32> = tx
            .list::<CustomerGateway>(ctx.account_id, &Query::default())?
            .items
            .into_iter()
            .filter_map(|c| Some((c.customer_gateway_id, c.asn?)))
            .collect();
        paged(
            tx,
            ctx,
            query,
            "VpnConnections",
            "VpnConnection",
            |c: &VpnConnection| view(c, &asns, Shape::Describe, "Tag"),
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
        let asns = save(tx, ctx, &conn, changes)?;
        Ok(view(&conn, &asns, Shape::Modify, "Tags"))
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
        let asns = save(tx, ctx, &conn, changes)?;
        let tunnel = conn.tunnel(tunnel_id).ok_or_else(|| {
            ApiError::not_found("InvalidTunnelId.NotFound", "TunnelId", tunnel_id)
        })?;
        Ok(views::tunnel(
            tunnel,
            &|id| asns.get(id).copied(),
            Shape::Modify,
        ))
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
