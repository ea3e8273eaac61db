//! CBN: CreateCen, DescribeCens, DeleteCen, CreateTransitRouter, ListTransitRouters,
//! DeleteTransitRouter, ListTransitRouterRouteTables, ListTransitRouterRouteEntries.

use super::route::learned_routes;
use super::{TokenPage, iso_minutes, load, load_param, paged, tags, uid};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views::tag_list;
use serde_json::{Value, json};
use strait_model::validate::validate_transit_text;
use strait_model::{
    AttachedResource, AttachmentRoutes, BgpRoute, Cen, IdKind, Ipv4Net, RouteOrigin,
    TransitRouteEntry, TransitRouter, TransitRouterAttachment, VpnConnection, route_table,
};
use strait_store::{Document, Page, Query, Tx};

/// Refuses to delete `id` (named by `field`) while resources of `kind` still refer to it.
fn check_unused(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    field: &str,
    id: &str,
    kind: &str,
) -> Result<(), ApiError> {
    let users = tx.referrers(ctx.account_id, id)?;
    if let Some((_, user)) = users.iter().find(|(k, _)| k == kind) {
        return Err(ApiError::bad_request(
            format!("DependencyViolation.{kind}"),
            format!("{field}: {id} is still used by {kind} {user}; delete that first"),
        ));
    }
    Ok(())
}

pub(super) fn create_cen(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let name = validate_transit_text("Name", p.str("Name"), 128)?;
    let description = validate_transit_text("Description", p.str("Description"), 256)?;
    let tags = tags(p)?;
    ctx.write(|tx, changes| {
        let cen = Cen {
            cen_id: IdKind::Cen.new_id(),
            name,
            description,
            create_time: tx.now_ms(),
            tags,
        };
        tx.insert(ctx.account_id, &cen)?;
        changes.push(Cen::KIND, &cen.cen_id, ChangeOp::Created);
        Ok(json!({ "CenId": cen.cen_id }))
    })
}

fn cen_view(c: &Cen) -> Value {
    json!({
        "CenId": c.cen_id,
        "Name": c.name,
        "Description": c.description,
        "CreationTime": iso_minutes(c.create_time),
        "Status": "Active",
        "ProtectionLevel": "REDUCED",
        "Ipv6Level": "DISABLE",
        "ResourceGroupId": "",
        "CenBandwidthPackageIds": { "CenBandwidthPackageId": [] },
        "Tags": { "Tag": tag_list(&c.tags) },
    })
}

/// DescribeCens with `Filter.N.Key` `CenId` or `Name` and `Filter.N.Value.M`.
pub(super) fn list_cens(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let mut query = Query {
        tags: super::tag_filter(ctx.params)?,
        ..Query::default()
    };
    for filter in ctx.params.repeated("Filter")? {
        let values = filter.list("Value")?;
        match filter.required("Key")? {
            "CenId" => query.ids = Some(values),
            "Name" => {
                if let Some(v) = values.first() {
                    query.fields.push(("Name", v.clone()));
                }
            }
            other => {
                return Err(ApiError::invalid(
                    &filter.field("Key"),
                    format!("\"{other}\" is not CenId or Name"),
                ));
            }
        }
    }
    ctx.read(|tx| {
        paged(tx, ctx, query, "Cens", "Cen", |cens: &[Cen]| {
            Ok(cens.iter().map(cen_view).collect())
        })
    })
}

pub(super) fn delete_cen(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let cen = load_param::<Cen>(tx, ctx)?;
        check_unused(tx, ctx, "CenId", &cen.cen_id, TransitRouter::KIND)?;
        tx.delete::<Cen>(ctx.account_id, &cen.cen_id)?;
        changes.push(Cen::KIND, &cen.cen_id, ChangeOp::Deleted);
        Ok(json!({}))
    })
}

pub(super) fn create_transit_router(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let name = validate_transit_text("TransitRouterName", p.str("TransitRouterName"), 128)?;
    let description = validate_transit_text(
        "TransitRouterDescription",
        p.str("TransitRouterDescription"),
        256,
    )?;
    let tags = tags(p)?;
    ctx.write(|tx, changes| {
        let cen = load_param::<Cen>(tx, ctx)?;
        let tr = TransitRouter {
            transit_router_id: IdKind::TransitRouter.new_id(),
            cen_id: cen.cen_id,
            transit_router_name: name,
            transit_router_description: description,
            route_table_id: IdKind::RouteTable.new_id(),
            create_time: tx.now_ms(),
            tags,
        };
        tx.insert(ctx.account_id, &tr)?;
        changes.push(
            TransitRouter::KIND,
            &tr.transit_router_id,
            ChangeOp::Created,
        );
        Ok(json!({ "TransitRouterId": tr.transit_router_id }))
    })
}

fn transit_router_view(ctx: &Ctx<'_>, t: &TransitRouter) -> Value {
    json!({
        "TransitRouterId": t.transit_router_id,
        "CenId": t.cen_id,
        "AliUid": uid(ctx.account_id),
        "RegionId": ctx.config().region,
        "Status": "Active",
        "Type": "Enterprise",
        "SupportMulticast": false,
        "TransitRouterName": t.transit_router_name,
        "TransitRouterDescription": t.transit_router_description,
        "CreationTime": iso_minutes(t.create_time),
        "TransitRouterCidrList": [],
        "Tags": tag_list(&t.tags),
    })
}

/// The caller's transit routers matching the request's `TransitRouterId` and `CenId`.
fn transit_router_query(ctx: &Ctx<'_>) -> Query {
    let p = ctx.params;
    let mut query = Query::default();
    if let Some(id) = p.str("TransitRouterId").filter(|v| !v.is_empty()) {
        query.ids = Some(vec![id.to_string()]);
    }
    if let Some(id) = p.str("CenId").filter(|v| !v.is_empty()) {
        query.fields.push(("CenId", id.to_string()));
    }
    query
}

pub(super) fn list_transit_routers(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = ctx.params.page(50)?;
    let mut query = transit_router_query(ctx);
    query.tags = super::tag_filter(ctx.params)?;
    query.page = Some(Page::number(page.number, page.size));
    ctx.read(|tx| {
        let listing = tx.list::<TransitRouter>(ctx.account_id, &query)?;
        Ok(json!({
            "TransitRouters": listing.items.iter().map(|t| transit_router_view(ctx, t)).collect::<Vec<_>>(),
            "TotalCount": listing.total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}

pub(super) fn delete_transit_router(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let tr = load_param::<TransitRouter>(tx, ctx)?;
        check_unused(
            tx,
            ctx,
            "TransitRouterId",
            &tr.transit_router_id,
            TransitRouterAttachment::KIND,
        )?;
        tx.delete::<TransitRouter>(ctx.account_id, &tr.transit_router_id)?;
        changes.push(
            TransitRouter::KIND,
            &tr.transit_router_id,
            ChangeOp::Deleted,
        );
        Ok(json!({}))
    })
}

/// The caller's transit router whose default route table is `TransitRouterRouteTableId`.
pub(super) fn router_of_table(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<TransitRouter, ApiError> {
    let table = ctx.params.required("TransitRouterRouteTableId")?;
    let query = Query {
        fields: vec![("RouteTableId", table.to_string())],
        ..Query::default()
    };
    tx.list::<TransitRouter>(ctx.account_id, &query)?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidTransitRouterRouteTableId.NotFound",
                "TransitRouterRouteTableId",
                table,
            )
        })
}

/// ListTransitRouterRouteTables: each transit router has its default (system) table.
pub(super) fn list_route_tables(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = TokenPage::parse(ctx.params)?;
    let wanted = ctx.params.list("TransitRouterRouteTableIds")?;
    let query = transit_router_query(ctx);
    ctx.read(|tx| {
        let tables: Vec<Value> = tx
            .list::<TransitRouter>(ctx.account_id, &query)?
            .items
            .iter()
            .filter(|t| wanted.is_empty() || wanted.contains(&t.route_table_id))
            .map(|t| {
                json!({
                    "TransitRouterRouteTableId": t.route_table_id,
                    "TransitRouterId": t.transit_router_id,
                    "TransitRouterRouteTableType": "System",
                    "TransitRouterRouteTableStatus": "Active",
                    "TransitRouterRouteTableName": "",
                    "TransitRouterRouteTableDescription": "",
                    "CreateTime": iso_minutes(t.create_time),
                    "RegionId": ctx.config().region,
                    "RouteTableOptions": { "MultiRegionECMP": "disable" },
                    "Tags": [],
                })
            })
            .collect();
        Ok(page.body("TransitRouterRouteTables", tables))
    })
}

fn route_entry_view(e: &TransitRouteEntry, created: i64) -> Value {
    let kind = e.resource_type.as_str();
    let tail = e
        .attachment_id
        .strip_prefix(IdKind::TransitRouterAttachment.prefix())
        .unwrap_or(&e.attachment_id);
    let dest = e.destination.to_string().replace(['.', '/'], "-");
    json!({
        "TransitRouterRouteEntryId": format!("rte-{tail}-{dest}"),
        "TransitRouterRouteEntryDestinationCidrBlock": e.destination.to_string(),
        "TransitRouterRouteEntryType": "Propagated",
        "TransitRouterRouteEntryStatus": "Active",
        "TransitRouterRouteEntryNextHopType": "Attachment",
        "TransitRouterRouteEntryNextHopId": e.attachment_id,
        "TransitRouterRouteEntryNextHopResourceId": e.resource_id,
        "TransitRouterRouteEntryNextHopResourceType": kind,
        "TransitRouterRouteEntryOriginResourceId": e.resource_id,
        "TransitRouterRouteEntryOriginResourceType": kind,
        "TransitRouterRouteEntryName": "",
        "TransitRouterRouteEntryDescription": "",
        "OperationalMode": false,
        "PrefixListId": "",
        "Tag": "",
        "CreateTime": iso_minutes(created),
        "PathAttributes": {
            "AsPaths": e.as_path.iter().map(u32::to_string).collect::<Vec<_>>(),
            "Communities": [],
            "OriginInstanceId": e.resource_id,
            "OriginInstanceType": kind,
            "OriginRouteType": match e.origin {
                RouteOrigin::Vpc => "VPC",
                RouteOrigin::Bgp => "BGP",
                RouteOrigin::Static => "Static",
            },
            "Preference": 0,
        },
    })
}

/// What an attachment's resource offers its transit router's route table.
enum Offer {
    /// A configured VPC's CIDR blocks.
    Vpc(Vec<Ipv4Net>),
    /// A connection and the routes its tunnels learned.
    Vpn(Box<VpnConnection>, Vec<BgpRoute>),
    /// The resource no longer exists.
    Gone,
}

/// ListTransitRouterRouteEntries: the default table, computed from the attachments and what their
/// resources offer now (VPC CIDR blocks, BGP-learned routes, remote subnets).
pub(super) fn list_route_entries(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = TokenPage::parse(ctx.params)?;
    let p = ctx.params;
    let dest_filter = p.parse::<Ipv4Net>("TransitRouterRouteEntryDestinationCidrBlock")?;
    ctx.read(|tx| {
        let tr = router_of_table(tx, ctx)?;
        let query = Query {
            refs: vec![tr.transit_router_id.clone()],
            ..Query::default()
        };
        let attachments = tx
            .list::<TransitRouterAttachment>(ctx.account_id, &query)?
            .items;
        // What each attachment's resource offers, owned here for the model to borrow.
        let mut offers: Vec<Offer> = Vec::with_capacity(attachments.len());
        for a in &attachments {
            offers.push(match a.resource_type {
                AttachedResource::Vpc => Offer::Vpc(
                    ctx.config()
                        .vpc(&a.resource_id)
                        .map(|v| v.cidrs.iter().filter_map(|c| c.parse().ok()).collect())
                        .unwrap_or_default(),
                ),
                AttachedResource::Vpn => {
                    match tx.get::<VpnConnection>(&a.resource_owner_id, &a.resource_id)? {
                        Some(conn) => {
                            let learned = learned_routes(tx, &a.resource_owner_id, &conn)?
                                .into_iter()
                                .map(|(_, r)| r)
                                .collect();
                            Offer::Vpn(Box::new(conn), learned)
                        }
                        None => Offer::Gone,
                    }
                }
            });
        }
        let inputs: Vec<_> = attachments
            .iter()
            .zip(&offers)
            .filter_map(|(a, offer)| match offer {
                Offer::Vpc(cidrs) => Some((a, AttachmentRoutes::Vpc(cidrs))),
                Offer::Vpn(connection, bgp_routes) => Some((
                    a,
                    AttachmentRoutes::Vpn {
                        connection,
                        bgp_routes,
                    },
                )),
                Offer::Gone => None,
            })
            .collect();
        let created = |id: &str| {
            attachments
                .iter()
                .find(|a| a.transit_router_attachment_id == id)
                .map_or(0, |a| a.create_time)
        };
        let entries: Vec<Value> = route_table(&inputs)
            .iter()
            .filter(|e| dest_filter.is_none_or(|d| e.destination == d))
            .map(|e| route_entry_view(e, created(&e.attachment_id)))
            .collect();
        Ok(page.body("TransitRouterRouteEntries", entries))
    })
}

/// The caller's transit router named by `TransitRouterId`, checked against `CenId` when given.
pub(super) fn transit_router_param(tx: &Tx<'_>, ctx: &Ctx<'_>) -> Result<TransitRouter, ApiError> {
    let tr = load_param::<TransitRouter>(tx, ctx)?;
    if let Some(cen) = ctx.params.str("CenId").filter(|v| !v.is_empty()) {
        load::<Cen>(tx, ctx, cen)?;
        if cen != tr.cen_id {
            return Err(ApiError::invalid(
                "CenId",
                format!(
                    "transit router {} belongs to CEN {}, not {cen}",
                    tr.transit_router_id, tr.cen_id
                ),
            ));
        }
    }
    Ok(tr)
}
