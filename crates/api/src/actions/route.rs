//! Destination routes (CreateVpnRouteEntry, ...) and policy routes (CreateVpnPbrRouteEntry, ...) of a gateway.

use super::{input, load_param, page_body};
use crate::error::ApiError;
use crate::server::{ChangeOp, Changes, Ctx};
use crate::views;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use strait_model::validate::{self, RouteEntryInput, ValidationError};
use strait_model::{BgpRoute, Ipv4Net, VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry};
use strait_store::{Document, Listing, Page, Query, Tx};

/// The request's gateway, its connections and its routes of kind `D`.
fn gateway_state<D: Document>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
) -> Result<(VpnGateway, Vec<VpnConnection>, Vec<D>), ApiError> {
    let gateway = load_param::<VpnGateway>(tx, ctx)?;
    let on_gateway = Query {
        fields: vec![("VpnGatewayId", gateway.vpn_gateway_id.clone())],
        ..Query::default()
    };
    let connections = tx.list::<VpnConnection>(ctx.account_id, &on_gateway)?.items;
    let routes = tx.list::<D>(ctx.account_id, &on_gateway)?.items;
    Ok((gateway, connections, routes))
}

/// A listing page of the gateway's routes of kind `D`.
fn page_of<D: Document>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
) -> Result<(Listing<D>, crate::params::Page), ApiError> {
    let gateway = load_param::<VpnGateway>(tx, ctx)?;
    let page = ctx.params.page(100)?;
    let query = Query {
        fields: vec![("VpnGatewayId", gateway.vpn_gateway_id)],
        page: Some(Page::number(page.number, page.size)),
        ..Query::default()
    };
    Ok((tx.list::<D>(ctx.account_id, &query)?, page))
}

/// The route named by the request's identifying fields (gateway, RouteDest, NextHop and, for
/// policy routes, RouteSource): a route of kind `D` whose `key` matches.
fn named<D: Document>(tx: &Tx<'_>, ctx: &Ctx<'_>, key: impl Fn(&D) -> bool) -> Result<D, ApiError> {
    let (_, _, routes) = gateway_state::<D>(tx, ctx)?;
    routes.into_iter().find(key).ok_or_else(|| {
        ApiError::not_found(
            "InvalidVpnRouteEntry.NotFound",
            "route entry",
            &format!(
                "{} via {}",
                ctx.params.str("RouteDest").unwrap_or(""),
                ctx.params.str("NextHop").unwrap_or("")
            ),
        )
    })
}

fn dest_matches(ctx: &Ctx<'_>, dest: &strait_model::Ipv4Net, next_hop: &str) -> bool {
    ctx.params
        .str("RouteDest")
        .is_some_and(|d| d.parse().ok() == Some(*dest))
        && ctx.params.str("NextHop") == Some(next_hop)
}

fn route(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<VpnRouteEntry, ApiError> {
    named(tx, ctx, |r: &VpnRouteEntry| {
        dest_matches(ctx, &r.route_dest, &r.next_hop)
    })
}

fn pbr_route(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<VpnPbrRouteEntry, ApiError> {
    named(tx, ctx, |r: &VpnPbrRouteEntry| {
        dest_matches(ctx, &r.route_dest, &r.next_hop)
            && ctx
                .params
                .str("RouteSource")
                .is_some_and(|s| s.parse().ok() == Some(r.route_source))
    })
}

/// Applies `edit` to the named route of kind `D` and stores it.
fn modify<D: Document>(
    ctx: &Ctx<'_>,
    find: impl Fn(&Tx<'_>, &Ctx<'_>) -> Result<D, ApiError>,
    edit: impl FnOnce(&mut D) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    ctx.write(|tx, changes: &mut Changes| {
        let mut r = find(tx, ctx)?;
        edit(&mut r)?;
        tx.update(ctx.account_id, &r)?;
        changes.push(D::KIND, r.id(), ChangeOp::Modified);
        Ok(json!({}))
    })
}

fn delete_named<D: Document>(
    ctx: &Ctx<'_>,
    find: impl Fn(&Tx<'_>, &Ctx<'_>) -> Result<D, ApiError>,
) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let r = find(tx, ctx)?;
        tx.delete::<D>(ctx.account_id, &r.id())?;
        changes.push(D::KIND, r.id(), ChangeOp::Deleted);
        Ok(json!({}))
    })
}

/// The `NewWeight` of a request, checked against the route's current `Weight`.
fn new_weight(ctx: &Ctx<'_>, current: u32) -> Result<u32, ApiError> {
    let old = validate::validate_weight("Weight", ctx.params.required("Weight")?)?;
    if old != current {
        return Err(ApiError::invalid(
            "Weight",
            format!("the route's weight is {current}, not {old}"),
        ));
    }
    Ok(validate::validate_weight(
        "NewWeight",
        ctx.params.required("NewWeight")?,
    )?)
}

/// Validates a new route of kind `D` against its gateway, stores it and answers its `view`.
fn create_route<D: Document>(
    ctx: &Ctx<'_>,
    validate: impl FnOnce(
        &RouteEntryInput,
        &VpnGateway,
        &[VpnConnection],
        &[D],
        i64,
    ) -> Result<D, ValidationError>,
    view: fn(&D) -> Value,
) -> Result<Value, ApiError> {
    let input: RouteEntryInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let (gateway, connections, existing) = gateway_state::<D>(tx, ctx)?;
        let route = validate(&input, &gateway, &connections, &existing, tx.now_ms())?;
        tx.insert(ctx.account_id, &route)?;
        changes.push(D::KIND, route.id(), ChangeOp::Created);
        Ok(view(&route))
    })
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    create_route(ctx, validate::validate_new_route_entry, views::route_entry)
}

/// Which route types a Describe…RouteEntries request asks for: (static, learned over BGP).
fn route_types(ctx: &Ctx<'_>) -> Result<(bool, bool), ApiError> {
    match ctx.params.str("RouteEntryType").unwrap_or("custom") {
        "custom" | "" => Ok((true, false)),
        "bgp" => Ok((false, true)),
        "all" => Ok((true, true)),
        other => Err(ApiError::invalid(
            "RouteEntryType",
            format!("{other:?} is not one of custom, bgp, all"),
        )),
    }
}

/// The asked-for types' entries, static first, as one page; with the count of each type.
fn route_page(
    (custom, bgp): (bool, bool),
    statics: Vec<Value>,
    learned: Vec<Value>,
    page: crate::params::Page,
) -> (Vec<Value>, u64, Value) {
    let counts = json!([
        { "RouteEntryType": "custom", "Source": "CUSTOM", "RouteCount": statics.len() },
        { "RouteEntryType": "bgp", "Source": "BGP", "RouteCount": learned.len() },
    ]);
    let all: Vec<Value> = statics
        .into_iter()
        .filter(|_| custom)
        .chain(learned.into_iter().filter(|_| bgp))
        .collect();
    let total = all.len() as u64;
    let rows = Page::number(page.number, page.size);
    let items = all
        .into_iter()
        .skip(usize::try_from(rows.offset).unwrap_or(usize::MAX))
        .take(rows.limit as usize)
        .collect();
    (items, total, counts)
}

/// The BGP routes the gateway observed on the tunnels of `conn` (of account `owner`), by tunnel id.
pub(super) fn learned_routes<'c>(
    tx: &Tx<'_>,
    owner: &str,
    conn: &'c VpnConnection,
) -> Result<Vec<(&'c str, BgpRoute)>, ApiError> {
    let mut out = Vec::new();
    for t in &conn.tunnel_options {
        if let Some((status, _)) = tx.tunnel_status(owner, &t.tunnel_id)? {
            out.extend(
                status
                    .bgp_routes
                    .into_iter()
                    .map(|r| (t.tunnel_id.as_str(), r)),
            );
        }
    }
    Ok(out)
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let types = route_types(ctx)?;
    let page = ctx.params.page(100)?;
    ctx.read(|tx| {
        let (gateway, connections, routes) = gateway_state::<VpnRouteEntry>(tx, ctx)?;
        let mut learned = Vec::new();
        for conn in &connections {
            for (tunnel, r) in learned_routes(tx, ctx.account_id, conn)? {
                learned.push(views::bgp_route_entry(
                    &gateway.vpn_gateway_id,
                    conn,
                    tunnel,
                    &r,
                ));
            }
        }
        let statics = routes.iter().map(views::route_entry).collect();
        let (items, total, counts) = route_page(types, statics, learned, page);
        let mut body = page_body("VpnRouteEntries", "VpnRouteEntry", items, total, page);
        body["VpnRouteCounts"] = json!({ "VpnRouteCount": counts });
        Ok(body)
    })
}

/// DescribeVcoRouteEntries: one connection's route table, its static routes (the gateway's
/// destination routes through it) and the BGP routes learned over its tunnels.
pub(super) fn list_vco(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let types = route_types(ctx)?;
    let page = ctx.params.page(10)?;
    ctx.read(|tx| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        let on_gateway = Query {
            fields: vec![(
                "VpnGatewayId",
                conn.vpn_gateway_id.clone().unwrap_or_default(),
            )],
            ..Query::default()
        };
        let statics = tx
            .list::<VpnRouteEntry>(ctx.account_id, &on_gateway)?
            .items
            .iter()
            .filter(|r| r.next_hop == conn.vpn_connection_id)
            .map(|r| views::vco_route_entry(&conn, r.route_dest, "custom", "", r.weight, &[]))
            .collect();
        let mut by_prefix: BTreeMap<Ipv4Net, (Vec<u32>, Vec<&str>)> = BTreeMap::new();
        for (tunnel, r) in learned_routes(tx, ctx.account_id, &conn)? {
            let entry = by_prefix
                .entry(r.route_dest)
                .or_insert((r.as_path, Vec::new()));
            entry.1.push(tunnel);
        }
        let learned = by_prefix
            .into_iter()
            .map(|(dest, (path, tunnels))| {
                let path: Vec<String> = path.iter().map(u32::to_string).collect();
                views::vco_route_entry(&conn, dest, "bgp", &path.join(" "), 100, &tunnels)
            })
            .collect();
        let (items, total, counts) = route_page(types, statics, learned, page);
        Ok(json!({
            "VcoRouteEntries": items,
            "VpnRouteCounts": counts,
            "TotalCount": total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    delete_named(ctx, route)
}

pub(super) fn publish(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let publish = ctx
        .params
        .bool("PublishVpc")?
        .ok_or_else(|| ApiError::missing("PublishVpc"))?;
    modify(ctx, route, |r| {
        r.publish_vpc = publish;
        Ok(())
    })
}

pub(super) fn modify_weight(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    modify(ctx, route, |r| {
        r.weight = new_weight(ctx, r.weight)?;
        Ok(())
    })
}

pub(super) fn create_pbr(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    create_route(
        ctx,
        validate::validate_new_pbr_route_entry,
        views::pbr_route_entry,
    )
}

pub(super) fn list_pbr(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| {
        let (Listing { items, total }, page) = page_of::<VpnPbrRouteEntry>(tx, ctx)?;
        Ok(page_body(
            "VpnPbrRouteEntries",
            "VpnPbrRouteEntry",
            items.iter().map(views::pbr_route_entry).collect(),
            total,
            page,
        ))
    })
}

pub(super) fn delete_pbr(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    delete_named(ctx, pbr_route)
}

pub(super) fn modify_pbr_weight(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    modify(ctx, pbr_route, |r| {
        r.weight = new_weight(ctx, r.weight)?;
        Ok(())
    })
}

pub(super) fn modify_pbr_priority(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let priority = validate::validate_priority("NewPriority", ctx.params.required("NewPriority")?)?;
    modify(ctx, pbr_route, |r| {
        r.priority = priority;
        Ok(())
    })
}
