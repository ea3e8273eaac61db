//! CreateVpnGateway, DescribeVpnGateway(s), ModifyVpnGatewayAttribute, DeleteVpnGateway.

use super::{id_filter, input, load_param, paged, tag_filter};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views;
use serde_json::{Value, json};
use strait_model::validate::{self, Placement, PlacementZone, VpnGatewayInput};
use strait_model::{VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry};
use strait_store::{Document, Query};

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: VpnGatewayInput = input(ctx.params)?;
    let config = ctx.config();
    let placement = Placement {
        vpc_ids: config.vpcs.iter().map(|v| v.id.clone()).collect(),
        zones: config
            .zones
            .iter()
            .map(|z| PlacementZone {
                id: z.id.clone(),
                public_ip: z.gateway_ips.first().copied(),
                private_ip: z.private_gateway_ips.first().copied(),
            })
            .collect(),
    };
    ctx.write(|tx, changes| {
        let gateway = validate::validate_new_vpn_gateway(&input, &placement, tx.now_ms())?;
        tx.insert(ctx.account_id, &gateway)?;
        changes.push(VpnGateway::KIND, &gateway.vpn_gateway_id, ChangeOp::Created);
        Ok(json!({ "VpnGatewayId": gateway.vpn_gateway_id, "Name": gateway.name, "OrderId": 0 }))
    })
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| Ok(views::vpn_gateway(&load_param::<VpnGateway>(tx, ctx)?)))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mut query = Query {
        ids: id_filter(p, "VpnGatewayId"),
        tags: tag_filter(p)?,
        ..Query::default()
    };
    for field in ["VpcId", "Status", "ResourceGroupId"] {
        if let Some(v) = p.str(field).filter(|v| !v.is_empty()) {
            query.fields.push((field, v.to_string()));
        }
    }
    ctx.read(|tx| {
        paged(tx, ctx, query, "VpnGateways", "VpnGateway", |items| {
            Ok(items.iter().map(views::vpn_gateway).collect())
        })
    })
}

pub(super) fn modify(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: VpnGatewayInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let gateway =
            validate::validate_vpn_gateway_update(&load_param::<VpnGateway>(tx, ctx)?, &input)?;
        tx.update(ctx.account_id, &gateway)?;
        changes.push(
            VpnGateway::KIND,
            &gateway.vpn_gateway_id,
            ChangeOp::Modified,
        );
        Ok(views::vpn_gateway(&gateway))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let gateway = load_param::<VpnGateway>(tx, ctx)?;
        let referrers = tx.referrers(ctx.account_id, &gateway.vpn_gateway_id)?;
        let connections: Vec<String> = referrers
            .iter()
            .filter(|(kind, _)| kind == VpnConnection::KIND)
            .map(|(_, id)| id.clone())
            .collect();
        validate::check_delete_vpn_gateway(&gateway, &connections)?;
        for (kind, id) in referrers {
            match kind.as_str() {
                VpnRouteEntry::KIND => tx.delete::<VpnRouteEntry>(ctx.account_id, &id)?,
                VpnPbrRouteEntry::KIND => tx.delete::<VpnPbrRouteEntry>(ctx.account_id, &id)?,
                _ => {}
            }
        }
        tx.delete::<VpnGateway>(ctx.account_id, &gateway.vpn_gateway_id)?;
        changes.push(VpnGateway::KIND, &gateway.vpn_gateway_id, ChangeOp::Deleted);
        Ok(json!({}))
    })
}
