//! CreateVpnGateway, DescribeVpnGateway(s), ModifyVpnGatewayAttribute, DeleteVpnGateway.

use super::{load_param, paged, tag_filter, text};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views;
use axum::http::StatusCode;
use serde_json::{Value, json};
use strait_model::{GatewayStatus, IdKind, NetworkType, VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry};
use strait_store::{Document, Query};

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let config = ctx.config();
    let vpc_id = p.required("VpcId")?;
    if config.vpc(vpc_id).is_none() {
        return Err(ApiError::not_found("InvalidVpcId.NotFound", "VpcId", vpc_id));
    }
    let zone_param = |key: &str| match p.str(key).filter(|v| !v.is_empty()) {
        Some(id) => config.zone(id).map(Some).ok_or_else(|| ApiError::not_found("InvalidVSwitchId.NotFound", key, id)),
        None => Ok(None),
    };
    let zone = zone_param("VSwitchId")?.unwrap_or(&config.zones[0]);
    let dr_zone = match zone_param("DisasterRecoveryVSwitchId")? {
        Some(z) if z.id == zone.id => {
            return Err(ApiError::invalid("DisasterRecoveryVSwitchId", "must name a different zone than VSwitchId"));
        }
        Some(z) => Some(z),
        None => config.zones.iter().find(|z| z.id != zone.id),
    };
    let network_type = match p.str("NetworkType").unwrap_or("public") {
        "public" => NetworkType::Public,
        "private" => NetworkType::Private,
        other => return Err(ApiError::invalid("NetworkType", format!("\"{other}\" is not public or private"))),
    };
    let name = text(p, "Name")?.unwrap_or_default();
    ctx.write(|tx, changes| {
        let gateway = VpnGateway {
            vpn_gateway_id: IdKind::VpnGateway.new_id(),
            name,
            description: String::new(),
            vpc_id: vpc_id.to_string(),
            v_switch_id: zone.id.clone(),
            internet_ip: zone.gateway_ips[0],
            disaster_recovery_v_switch_id: dr_zone.map(|z| z.id.clone()),
            disaster_recovery_internet_ip: dr_zone.map(|z| z.gateway_ips[0]),
            network_type,
            status: GatewayStatus::Active,
            create_time: tx.now_ms(),
            resource_group_id: p.str("ResourceGroupId").unwrap_or("").to_string(),
            tags: Vec::new(),
        };
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
    let mut query = Query { tags: tag_filter(p)?, ..Query::default() };
    if let Some(id) = p.str("VpnGatewayId").filter(|v| !v.is_empty()) {
        query.ids = Some(id.split(',').map(|s| s.trim().to_string()).collect());
    }
    for field in ["VpcId", "Status", "ResourceGroupId"] {
        if let Some(v) = p.str(field).filter(|v| !v.is_empty()) {
            query.fields.push((field, v.to_string()));
        }
    }
    ctx.read(|tx| paged(tx, ctx, query, "VpnGateways", "VpnGateway", views::vpn_gateway))
}

pub(super) fn modify(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let name = text(ctx.params, "Name")?;
    let description = text(ctx.params, "Description")?;
    ctx.write(|tx, changes| {
        let mut g = load_param::<VpnGateway>(tx, ctx)?;
        g.name = name.unwrap_or(g.name);
        g.description = description.unwrap_or(g.description);
        tx.update(ctx.account_id, &g)?;
        changes.push(VpnGateway::KIND, &g.vpn_gateway_id, ChangeOp::Modified);
        Ok(views::vpn_gateway(&g))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let g = load_param::<VpnGateway>(tx, ctx)?;
        let referrers = tx.referrers(ctx.account_id, &g.vpn_gateway_id)?;
        if let Some((_, id)) = referrers.iter().find(|(kind, _)| kind == VpnConnection::KIND) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "DependencyViolation.VpnConnection",
                format!("The VPN gateway {} still has the IPsec-VPN connection {id}; delete it first.", g.vpn_gateway_id),
            ));
        }
        for (kind, id) in referrers {
            match kind.as_str() {
                k if k == VpnRouteEntry::KIND => tx.delete::<VpnRouteEntry>(ctx.account_id, &id)?,
                k if k == VpnPbrRouteEntry::KIND => tx.delete::<VpnPbrRouteEntry>(ctx.account_id, &id)?,
                _ => {}
            }
        }
        tx.delete::<VpnGateway>(ctx.account_id, &g.vpn_gateway_id)?;
        changes.push(VpnGateway::KIND, &g.vpn_gateway_id, ChangeOp::Deleted);
        Ok(json!({}))
    })
}
