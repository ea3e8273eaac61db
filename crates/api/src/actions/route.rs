//! Destination routes (CreateVpnRouteEntry, ...) and policy routes (CreateVpnPbrRouteEntry, ...) of a gateway.

use super::{Resource, load, load_param};
use crate::error::ApiError;
use crate::params::Params;
use crate::server::{ChangeOp, Ctx};
use crate::views;
use serde_json::{Value, json};
use strait_model::{Ipv4Net, VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry};
use strait_store::{Document, Listing, Page, Query, Tx};

fn cidr(p: &Params, key: &str) -> Result<Ipv4Net, ApiError> {
    let v = p.required(key)?;
    let net: Ipv4Net = v.parse().map_err(|_| ApiError::invalid(key, format!("\"{v}\" is not an IPv4 CIDR block")))?;
    if net.trunc() != net {
        return Err(ApiError::invalid(key, format!("\"{v}\" has host bits set; use {}", net.trunc())));
    }
    Ok(net)
}

fn weight(p: &Params, key: &str) -> Result<u32, ApiError> {
    match p.parse::<u32>(key)? {
        Some(w @ (0 | 100)) => Ok(w),
        Some(_) => Err(ApiError::invalid(key, "must be 0 (standby) or 100 (active)")),
        None => Err(ApiError::missing(key)),
    }
}

fn priority(p: &Params, key: &str) -> Result<u32, ApiError> {
    match p.parse::<u32>(key)? {
        Some(n @ 1..=100) => Ok(n),
        Some(_) => Err(ApiError::invalid(key, "must be between 1 and 100")),
        None => Err(ApiError::missing(key)),
    }
}

/// The gateway and a next-hop connection attached to it.
fn gateway_and_next_hop(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<(VpnGateway, String), ApiError> {
    let gateway = load_param::<VpnGateway>(tx, ctx)?;
    let next_hop = ctx.params.required("NextHop")?;
    let conn = load::<VpnConnection>(tx, ctx, next_hop)
        .map_err(|_| ApiError::not_found(VpnConnection::NOT_FOUND, "NextHop", next_hop))?;
    if conn.vpn_gateway_id.as_deref() != Some(gateway.vpn_gateway_id.as_str()) {
        return Err(ApiError::invalid("NextHop", format!("{next_hop} is not a connection of {}", gateway.vpn_gateway_id)));
    }
    Ok((gateway, conn.vpn_connection_id))
}

fn exists_error(what: &str) -> ApiError {
    ApiError::bad_request("VpnRouteEntry.AlreadyExist", format!("The {what} already exists on this VPN gateway."))
}

fn missing_route(key: &str) -> ApiError {
    ApiError::not_found("VpnRouteEntry.NotFound", "route entry", key)
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let (route_dest, weight, publish_vpc) = (cidr(p, "RouteDest")?, weight(p, "Weight")?, p.bool("PublishVpc")?);
    let publish_vpc = publish_vpc.ok_or_else(|| ApiError::missing("PublishVpc"))?;
    let description = super::text(p, "Description")?.unwrap_or_default();
    ctx.write(|tx, changes| {
        let (gateway, next_hop) = gateway_and_next_hop(tx, ctx)?;
        let route = VpnRouteEntry {
            vpn_gateway_id: gateway.vpn_gateway_id,
            route_dest,
            next_hop,
            weight,
            publish_vpc,
            description,
            create_time: tx.now_ms(),
        };
        if tx.get::<VpnRouteEntry>(ctx.account_id, &route.key())?.is_some() {
            return Err(exists_error("destination route"));
        }
        tx.insert(ctx.account_id, &route)?;
        changes.push(VpnRouteEntry::KIND, route.key(), ChangeOp::Created);
        Ok(views::route_entry(&route))
    })
}

fn list_routes<D: Document>(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<(Listing<D>, crate::params::Page), ApiError> {
    let gateway = load_param::<VpnGateway>(tx, ctx)?;
    let page = ctx.params.page(100)?;
    let query = Query {
        fields: vec![("VpnGatewayId", gateway.vpn_gateway_id)],
        page: Some(Page::number(page.number, page.size)),
        ..Query::default()
    };
    Ok((tx.list::<D>(ctx.account_id, &query)?, page))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let kind = ctx.params.str("RouteEntryType").unwrap_or("custom");
    ctx.read(|tx| {
        let (Listing { items, total }, page) = list_routes::<VpnRouteEntry>(tx, ctx)?;
        // Only static ("custom") routes exist until the gateway learns BGP routes.
        let (items, total) = if matches!(kind, "custom" | "all" | "") { (items, total) } else { (Vec::new(), 0) };
        Ok(json!({
            "VpnRouteEntries": { "VpnRouteEntry": items.iter().map(views::route_entry).collect::<Vec<_>>() },
            "VpnRouteCounts": { "VpnRouteCount": [{ "RouteEntryType": "custom", "Source": "CUSTOM", "RouteCount": total }] },
            "TotalCount": total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}

/// The destination route the request names (gateway, RouteDest, NextHop).
fn named_route(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<VpnRouteEntry, ApiError> {
    let gateway = load_param::<VpnGateway>(tx, ctx)?;
    let key = VpnRouteEntry {
        vpn_gateway_id: gateway.vpn_gateway_id,
        route_dest: cidr(ctx.params, "RouteDest")?,
        next_hop: ctx.params.required("NextHop")?.to_string(),
        weight: 0,
        publish_vpc: false,
        description: String::new(),
        create_time: 0,
    }
    .key();
    tx.get::<VpnRouteEntry>(ctx.account_id, &key)?.ok_or_else(|| missing_route(&key))
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let route = named_route(tx, ctx)?;
        tx.delete::<VpnRouteEntry>(ctx.account_id, &route.key())?;
        changes.push(VpnRouteEntry::KIND, route.key(), ChangeOp::Deleted);
        Ok(json!({}))
    })
}

pub(super) fn publish(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let publish = ctx.params.bool("PublishVpc")?.ok_or_else(|| ApiError::missing("PublishVpc"))?;
    ctx.write(|tx, changes| {
        let mut route = named_route(tx, ctx)?;
        route.publish_vpc = publish;
        tx.update(ctx.account_id, &route)?;
        changes.push(VpnRouteEntry::KIND, route.key(), ChangeOp::Modified);
        Ok(json!({}))
    })
}

pub(super) fn modify_weight(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let (old, new) = (weight(ctx.params, "Weight")?, weight(ctx.params, "NewWeight")?);
    ctx.write(|tx, changes| {
        let mut route = named_route(tx, ctx)?;
        if route.weight != old {
            return Err(ApiError::invalid("Weight", format!("the route's weight is {}, not {old}", route.weight)));
        }
        route.weight = new;
        tx.update(ctx.account_id, &route)?;
        changes.push(VpnRouteEntry::KIND, route.key(), ChangeOp::Modified);
        Ok(json!({}))
    })
}

pub(super) fn create_pbr(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let (route_source, route_dest) = (cidr(p, "RouteSource")?, cidr(p, "RouteDest")?);
    let weight = weight(p, "Weight")?;
    let priority = match p.str("Priority") {
        Some(_) => priority(p, "Priority")?,
        None => 10,
    };
    let publish_vpc = p.bool("PublishVpc")?.ok_or_else(|| ApiError::missing("PublishVpc"))?;
    let description = super::text(p, "Description")?.unwrap_or_default();
    ctx.write(|tx, changes| {
        let (gateway, next_hop) = gateway_and_next_hop(tx, ctx)?;
        let route = VpnPbrRouteEntry {
            vpn_gateway_id: gateway.vpn_gateway_id,
            route_source,
            route_dest,
            next_hop,
            weight,
            priority,
            publish_vpc,
            description,
            create_time: tx.now_ms(),
        };
        if tx.get::<VpnPbrRouteEntry>(ctx.account_id, &route.key())?.is_some() {
            return Err(exists_error("policy route"));
        }
        tx.insert(ctx.account_id, &route)?;
        changes.push(VpnPbrRouteEntry::KIND, route.key(), ChangeOp::Created);
        Ok(views::pbr_route_entry(&route))
    })
}

pub(super) fn list_pbr(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| {
        let (Listing { items, total }, page) = list_routes::<VpnPbrRouteEntry>(tx, ctx)?;
        Ok(json!({
            "VpnPbrRouteEntries": { "VpnPbrRouteEntry": items.iter().map(views::pbr_route_entry).collect::<Vec<_>>() },
            "TotalCount": total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}

/// The policy route the request names (gateway, RouteSource, RouteDest, NextHop).
fn named_pbr_route(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<VpnPbrRouteEntry, ApiError> {
    let gateway = load_param::<VpnGateway>(tx, ctx)?;
    let key = VpnPbrRouteEntry {
        vpn_gateway_id: gateway.vpn_gateway_id,
        route_source: cidr(ctx.params, "RouteSource")?,
        route_dest: cidr(ctx.params, "RouteDest")?,
        next_hop: ctx.params.required("NextHop")?.to_string(),
        weight: 0,
        priority: 0,
        publish_vpc: false,
        description: String::new(),
        create_time: 0,
    }
    .key();
    tx.get::<VpnPbrRouteEntry>(ctx.account_id, &key)?.ok_or_else(|| missing_route(&key))
}

pub(super) fn delete_pbr(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let route = named_pbr_route(tx, ctx)?;
        tx.delete::<VpnPbrRouteEntry>(ctx.account_id, &route.key())?;
        changes.push(VpnPbrRouteEntry::KIND, route.key(), ChangeOp::Deleted);
        Ok(json!({}))
    })
}

fn modify_pbr(ctx: &Ctx<'_>, f: impl FnOnce(&mut VpnPbrRouteEntry) -> Result<(), ApiError>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let mut route = named_pbr_route(tx, ctx)?;
        f(&mut route)?;
        tx.update(ctx.account_id, &route)?;
        changes.push(VpnPbrRouteEntry::KIND, route.key(), ChangeOp::Modified);
        Ok(json!({}))
    })
}

pub(super) fn modify_pbr_weight(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let (old, new) = (weight(ctx.params, "Weight")?, weight(ctx.params, "NewWeight")?);
    modify_pbr(ctx, |route| {
        if route.weight != old {
            return Err(ApiError::invalid("Weight", format!("the route's weight is {}, not {old}", route.weight)));
        }
        route.weight = new;
        Ok(())
    })
}

pub(super) fn modify_pbr_priority(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let new = priority(ctx.params, "NewPriority")?;
    modify_pbr(ctx, |route| {
        route.priority = new;
        Ok(())
    })
}
