//! CBN: transit router attachments of connections (possibly another account's) and local networks,
//! their route table flags, and cross-account grants (GrantInstanceToTransitRouter,
//! RevokeInstanceFromTransitRouter; the VPC API's DescribeVpnCrossAccountAuthorizations).

use super::cen::{router_of_table, transit_router_param};
use super::{TokenPage, iso_minutes, load_param, tags, uid};
use crate::error::ApiError;
use crate::server::{ChangeOp, Changes, Ctx};
use crate::views::tag_list;
use serde_json::{Value, json};
use strait_model::validate::{
    attach_connection, check_attach_authorized, check_grant_authorization, detach_connection,
    parse_order_type, validate_transit_text,
};
use strait_model::{
    AttachedResource, Cen, CrossAccountGrant, IdKind, NetworkType, OrderType, TransitRouter,
    TransitRouterAttachment, VpnConnection,
};
use strait_store::{Document, Page, Query, Tx};

/// An optional boolean parameter with a default.
fn flag(ctx: &Ctx<'_>, key: &str, default: bool) -> Result<bool, ApiError> {
    Ok(ctx.params.bool(key)?.unwrap_or(default))
}

/// The request's attachment name and description.
fn texts(ctx: &Ctx<'_>) -> Result<(String, String), ApiError> {
    let p = ctx.params;
    Ok((
        validate_transit_text(
            "TransitRouterAttachmentName",
            p.str("TransitRouterAttachmentName"),
            128,
        )?,
        validate_transit_text(
            "TransitRouterAttachmentDescription",
            p.str("TransitRouterAttachmentDescription"),
            256,
        )?,
    ))
}

/// The zone an attachment asks for: `ZoneId`, or the first `Zone.N.ZoneId` / `ZoneMappings.N.ZoneId`.
fn requested_zone(ctx: &Ctx<'_>, list: &str) -> Result<Option<String>, ApiError> {
    if let Some(z) = ctx.params.str("ZoneId").filter(|v| !v.is_empty()) {
        return Ok(Some(z.to_string()));
    }
    Ok(ctx
        .params
        .repeated(list)?
        .first()
        .and_then(|z| z.str("ZoneId"))
        .filter(|v| !v.is_empty())
        .map(str::to_string))
}

/// The configured zones in order that offer an address of the connection's network type, each
/// with its first such address (`private_gateway_ips` for private connections).
fn zones(ctx: &Ctx<'_>, network: NetworkType) -> Vec<(String, std::net::Ipv4Addr)> {
    ctx.config()
        .zones
        .iter()
        .filter_map(|z| {
            let ips = match network {
                NetworkType::Public => &z.gateway_ips,
                NetworkType::Private => &z.private_gateway_ips,
            };
            Some((z.id.clone(), *ips.first()?))
        })
        .collect()
}

/// The caller's attachment named by `TransitRouterAttachmentId`, of the given kind.
fn attachment_param(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    kind: AttachedResource,
) -> Result<TransitRouterAttachment, ApiError> {
    let a = load_param::<TransitRouterAttachment>(tx, ctx)?;
    if a.resource_type != kind {
        return Err(ApiError::not_found(
            "InvalidTransitRouterAttachmentId.NotFound",
            "TransitRouterAttachmentId",
            &a.transit_router_attachment_id,
        ));
    }
    Ok(a)
}

/// Notes a change of an attachment and, for a connection's, of that connection (whose tunnels
/// the reconciler reapplies; it re-reads every account's desired state on any change).
fn announce(changes: &mut Changes, a: &TransitRouterAttachment, op: ChangeOp) {
    changes.push(
        TransitRouterAttachment::KIND,
        &a.transit_router_attachment_id,
        op,
    );
    if a.resource_type == AttachedResource::Vpn {
        changes.push(VpnConnection::KIND, &a.resource_id, ChangeOp::Modified);
    }
}

/// CreateTransitRouterVpnAttachment: attaches a connection attached to nothing (the caller's, or
/// `VpnOwnerId`'s when that account granted the caller's CEN) and places its tunnels.
pub(super) fn create_vpn(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let vpn_id = p.required("VpnId")?;
    let owner = p
        .str("VpnOwnerId")
        .filter(|v| !v.is_empty())
        .unwrap_or(ctx.account_id);
    let zone = requested_zone(ctx, "Zone")?;
    let (name, description) = texts(ctx)?;
    let tags = tags(p)?;
    let auto_publish = flag(ctx, "AutoPublishRouteEnabled", true)?;
    let association = flag(ctx, "RouteTableAssociationEnabled", true)?;
    let propagation = flag(ctx, "RouteTablePropagationEnabled", true)?;
    ctx.write(|tx, changes| {
        let tr = transit_router_param(tx, ctx)?;
        if owner != ctx.account_id {
            let grants = Query {
                refs: vec![vpn_id.to_string()],
                ..Query::default()
            };
            let grants = tx.list::<CrossAccountGrant>(owner, &grants)?.items;
            check_attach_authorized(owner, ctx.account_id, vpn_id, &tr.cen_id, &grants)?;
        }
        let conn = tx
            .get::<VpnConnection>(owner, vpn_id)?
            .ok_or_else(|| ApiError::not_found("InvalidVpnId.NotFound", "VpnId", vpn_id))?;
        let (attached, zone_id) = attach_connection(
            &conn,
            &tr.transit_router_id,
            &zones(ctx, conn.network_type),
            zone.as_deref(),
        )?;
        tx.update(owner, &attached)?;
        let attachment = TransitRouterAttachment {
            transit_router_attachment_id: IdKind::TransitRouterAttachment.new_id(),
            transit_router_id: tr.transit_router_id,
            cen_id: tr.cen_id,
            resource_type: AttachedResource::Vpn,
            resource_id: conn.vpn_connection_id,
            resource_owner_id: owner.to_string(),
            zone_id,
            auto_publish_route_enabled: auto_publish,
            route_table_association_enabled: association,
            route_table_propagation_enabled: propagation,
            transit_router_attachment_name: name,
            transit_router_attachment_description: description,
            create_time: tx.now_ms(),
            tags,
        };
        tx.insert(ctx.account_id, &attachment)?;
        announce(changes, &attachment, ChangeOp::Created);
        Ok(json!({ "TransitRouterAttachmentId": attachment.transit_router_attachment_id }))
    })
}

/// The grant's payer for an attachment (the CEN owner's own connections: the CEN owner).
fn order_type(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    a: &TransitRouterAttachment,
) -> Result<OrderType, ApiError> {
    let key = CrossAccountGrant::key_of(&a.resource_id, ctx.account_id, &a.cen_id);
    Ok(tx
        .get::<CrossAccountGrant>(&a.resource_owner_id, &key)?
        .map(|g| g.order_type)
        .unwrap_or_default())
}

fn order_type_name(o: OrderType) -> &'static str {
    match o {
        OrderType::PayByCenOwner => "PayByCenOwner",
        OrderType::PayByResourceOwner => "PayByResourceOwner",
    }
}

/// The fields every attachment view shares.
fn attachment_view(ctx: &Ctx<'_>, a: &TransitRouterAttachment, order: OrderType) -> Value {
    json!({
        "TransitRouterAttachmentId": a.transit_router_attachment_id,
        "TransitRouterId": a.transit_router_id,
        "CenId": a.cen_id,
        "ResourceType": a.resource_type.as_str(),
        "Status": "Attached",
        "AutoPublishRouteEnabled": a.auto_publish_route_enabled,
        "ChargeType": "POSTPAY",
        "OrderType": order_type_name(order),
        "CreationTime": iso_minutes(a.create_time),
        "TransitRouterAttachmentName": a.transit_router_attachment_name,
        "TransitRouterAttachmentDescription": a.transit_router_attachment_description,
        "Tags": tag_list(&a.tags),
        // Not in the SDK's response model (it drops them); shown for raw callers.
        "RouteTableAssociationEnabled": a.route_table_association_enabled,
        "RouteTablePropagationEnabled": a.route_table_propagation_enabled,
        "RegionId": ctx.config().region,
    })
}

/// The caller's attachments of one kind matching the request's filters.
fn list_attachments(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    kind: AttachedResource,
) -> Result<Vec<TransitRouterAttachment>, ApiError> {
    let p = ctx.params;
    let mut query = Query {
        fields: vec![("ResourceType", kind.as_str().to_string())],
        ..Query::default()
    };
    if let Some(id) = p.str("TransitRouterAttachmentId").filter(|v| !v.is_empty()) {
        query.ids = Some(vec![id.to_string()]);
    }
    for (param, field) in [
        ("TransitRouterId", "TransitRouterId"),
        ("CenId", "CenId"),
        ("VpcId", "ResourceId"),
    ] {
        if let Some(v) = p.str(param).filter(|v| !v.is_empty()) {
            query.fields.push((field, v.to_string()));
        }
    }
    Ok(tx
        .list::<TransitRouterAttachment>(ctx.account_id, &query)?
        .items)
}

pub(super) fn list_vpn(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = TokenPage::parse(ctx.params)?;
    ctx.read(|tx| {
        let mut items = Vec::new();
        for a in list_attachments(tx, ctx, AttachedResource::Vpn)? {
            let mut v = attachment_view(ctx, &a, order_type(tx, ctx, &a)?);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("VpnId".into(), a.resource_id.clone().into());
                obj.insert("VpnOwnerId".into(), uid(&a.resource_owner_id));
                obj.insert("VpnRegionId".into(), ctx.config().region.clone().into());
                obj.insert("Zones".into(), json!([{ "ZoneId": a.zone_id }]));
            }
            items.push(v);
        }
        Ok(page.body("TransitRouterAttachments", items))
    })
}

pub(super) fn update_vpn(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let auto_publish = p.bool("AutoPublishRouteEnabled")?;
    let name = p
        .str("TransitRouterAttachmentName")
        .map(|v| validate_transit_text("TransitRouterAttachmentName", Some(v), 128))
        .transpose()?;
    let description = p
        .str("TransitRouterAttachmentDescription")
        .map(|v| validate_transit_text("TransitRouterAttachmentDescription", Some(v), 256))
        .transpose()?;
    ctx.write(|tx, changes| {
        let mut a = attachment_param(tx, ctx, AttachedResource::Vpn)?;
        if let Some(v) = auto_publish {
            a.auto_publish_route_enabled = v;
        }
        if let Some(v) = name {
            a.transit_router_attachment_name = v;
        }
        if let Some(v) = description {
            a.transit_router_attachment_description = v;
        }
        tx.update(ctx.account_id, &a)?;
        announce(changes, &a, ChangeOp::Modified);
        Ok(json!({}))
    })
}

/// DeleteTransitRouterVpnAttachment: the connection goes back to being attached to nothing.
pub(super) fn delete_vpn(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let a = attachment_param(tx, ctx, AttachedResource::Vpn)?;
        if let Some(conn) = tx.get::<VpnConnection>(&a.resource_owner_id, &a.resource_id)? {
            if conn.transit_router_id.as_deref() == Some(a.transit_router_id.as_str()) {
                tx.update(&a.resource_owner_id, &detach_connection(&conn))?;
            }
        }
        tx.delete::<TransitRouterAttachment>(ctx.account_id, &a.transit_router_attachment_id)?;
        announce(changes, &a, ChangeOp::Deleted);
        Ok(json!({}))
    })
}

/// CreateTransitRouterVpcAttachment: a configured local network joins the transit router.
pub(super) fn create_vpc(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let vpc_id = p.required("VpcId")?;
    if ctx.config().vpc(vpc_id).is_none() {
        return Err(ApiError::not_found(
            "InvalidVpcId.NotFound",
            "VpcId",
            vpc_id,
        ));
    }
    let zone = requested_zone(ctx, "ZoneMappings")?;
    if let Some(z) = zone.as_deref().filter(|z| ctx.config().zone(z).is_none()) {
        return Err(ApiError::not_found("InvalidZoneId.NotFound", "ZoneId", z));
    }
    let (name, description) = texts(ctx)?;
    let tags = tags(p)?;
    let auto_publish = flag(ctx, "AutoPublishRouteEnabled", false)?;
    ctx.write(|tx, changes| {
        let tr = transit_router_param(tx, ctx)?;
        let existing = Query {
            fields: vec![
                ("ResourceId", vpc_id.to_string()),
                ("TransitRouterId", tr.transit_router_id.clone()),
            ],
            ..Query::default()
        };
        if tx
            .list::<TransitRouterAttachment>(ctx.account_id, &existing)?
            .total
            > 0
        {
            return Err(ApiError::bad_request(
                "Duplicated.VpcId",
                format!(
                    "VpcId: {vpc_id} is already attached to transit router {}",
                    tr.transit_router_id
                ),
            ));
        }
        let attachment = TransitRouterAttachment {
            transit_router_attachment_id: IdKind::TransitRouterAttachment.new_id(),
            transit_router_id: tr.transit_router_id,
            cen_id: tr.cen_id,
            resource_type: AttachedResource::Vpc,
            resource_id: vpc_id.to_string(),
            resource_owner_id: ctx.account_id.to_string(),
            zone_id: zone.unwrap_or_default(),
            auto_publish_route_enabled: auto_publish,
            route_table_association_enabled: true,
            route_table_propagation_enabled: true,
            transit_router_attachment_name: name,
            transit_router_attachment_description: description,
            create_time: tx.now_ms(),
            tags,
        };
        tx.insert(ctx.account_id, &attachment)?;
        announce(changes, &attachment, ChangeOp::Created);
        Ok(json!({ "TransitRouterAttachmentId": attachment.transit_router_attachment_id }))
    })
}

pub(super) fn list_vpc(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = TokenPage::parse(ctx.params)?;
    ctx.read(|tx| {
        let items = list_attachments(tx, ctx, AttachedResource::Vpc)?
            .iter()
            .map(|a| {
                let mut v = attachment_view(ctx, a, OrderType::PayByCenOwner);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("VpcId".into(), a.resource_id.clone().into());
                    obj.insert("VpcOwnerId".into(), uid(&a.resource_owner_id));
                    obj.insert("VpcRegionId".into(), ctx.config().region.clone().into());
                    let zones: Vec<Value> = Some(&a.zone_id)
                        .filter(|z| !z.is_empty())
                        .map(|z| json!({ "ZoneId": z, "VSwitchId": "", "NetworkInterfaceId": "" }))
                        .into_iter()
                        .collect();
                    obj.insert("ZoneMappings".into(), zones.into());
                }
                v
            })
            .collect();
        Ok(page.body("TransitRouterAttachments", items))
    })
}

pub(super) fn delete_vpc(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let a = attachment_param(tx, ctx, AttachedResource::Vpc)?;
        tx.delete::<TransitRouterAttachment>(ctx.account_id, &a.transit_router_attachment_id)?;
        announce(changes, &a, ChangeOp::Deleted);
        Ok(json!({}))
    })
}

/// A relation of an attachment with its transit router's default route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flag {
    /// The attachment's routes propagate into the table.
    Propagation,
    /// The table forwards traffic arriving through the attachment.
    Association,
}

impl Flag {
    fn get(self, a: &TransitRouterAttachment) -> bool {
        match self {
            Flag::Propagation => a.route_table_propagation_enabled,
            Flag::Association => a.route_table_association_enabled,
        }
    }

    fn set(self, a: &mut TransitRouterAttachment, on: bool) {
        match self {
            Flag::Propagation => a.route_table_propagation_enabled = on,
            Flag::Association => a.route_table_association_enabled = on,
        }
    }
}

/// The attachment and transit router of a route-table action, checked to belong together.
fn attachment_with_table(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
) -> Result<(TransitRouterAttachment, TransitRouter), ApiError> {
    let a = load_param::<TransitRouterAttachment>(tx, ctx)?;
    let tr = router_of_table(tx, ctx)?;
    if tr.transit_router_id != a.transit_router_id {
        return Err(ApiError::invalid(
            "TransitRouterRouteTableId",
            format!(
                "route table {} belongs to transit router {}, not to {}'s transit router {}",
                tr.route_table_id,
                tr.transit_router_id,
                a.transit_router_attachment_id,
                a.transit_router_id
            ),
        ));
    }
    Ok((a, tr))
}

/// Enable/DisableTransitRouterRouteTablePropagation, Associate/Dissociate...RouteTable: on the
/// default table, they switch the attachment's flag.
pub(super) fn set_flag(ctx: &Ctx<'_>, which: Flag, on: bool) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let (mut a, _) = attachment_with_table(tx, ctx)?;
        which.set(&mut a, on);
        tx.update(ctx.account_id, &a)?;
        announce(changes, &a, ChangeOp::Modified);
        Ok(json!({}))
    })
}

/// ListTransitRouterRouteTablePropagations / ...Associations of a default route table.
pub(super) fn list_flagged(ctx: &Ctx<'_>, which: Flag) -> Result<Value, ApiError> {
    let page = TokenPage::parse(ctx.params)?;
    ctx.read(|tx| {
        let tr = router_of_table(tx, ctx)?;
        let query = Query {
            refs: vec![tr.transit_router_id.clone()],
            ..Query::default()
        };
        let items: Vec<Value> = tx
            .list::<TransitRouterAttachment>(ctx.account_id, &query)?
            .items
            .iter()
            .filter(|a| which.get(a))
            .map(|a| {
                json!({
                    "TransitRouterAttachmentId": a.transit_router_attachment_id,
                    "TransitRouterRouteTableId": tr.route_table_id,
                    "ResourceId": a.resource_id,
                    "ResourceType": a.resource_type.as_str(),
                    "Status": "Active",
                })
            })
            .collect();
        let key = match which {
            Flag::Propagation => "TransitRouterPropagations",
            Flag::Association => "TransitRouterAssociations",
        };
        Ok(page.body(key, items))
    })
}

/// The grant a Grant/Revoke request names: the caller's connection `InstanceId` (type VPN) for
/// `CenOwnerId`'s `CenId`.
fn requested_grant(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
) -> Result<(VpnConnection, CrossAccountGrant), ApiError> {
    let p = ctx.params;
    match p.required("InstanceType")? {
        "VPN" => {}
        other => {
            return Err(ApiError::invalid(
                "InstanceType",
                format!("\"{other}\": only VPN (an IPsec-VPN connection) can be granted here"),
            ));
        }
    }
    let instance = p.required("InstanceId")?;
    let conn = tx
        .get::<VpnConnection>(ctx.account_id, instance)?
        .ok_or_else(|| ApiError::not_found("InvalidInstanceId.NotFound", "InstanceId", instance))?;
    let cen_id = p.required("CenId")?;
    let cen_owner = p.required("CenOwnerId")?;
    let order_type = parse_order_type("OrderType", p.str("OrderType"))?;
    let grant = CrossAccountGrant {
        vpn_connection_id: conn.vpn_connection_id.clone(),
        bind_uid: cen_owner.to_string(),
        bind_instance: cen_id.to_string(),
        order_type,
        create_time: tx.now_ms(),
    };
    Ok((conn, grant))
}

/// GrantInstanceToTransitRouter: lets account `CenOwnerId`'s CEN `CenId` attach the caller's
/// connection, while that connection is attached to nothing.
pub(super) fn grant(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let (conn, grant) = requested_grant(tx, ctx)?;
        check_grant_authorization(&conn)?;
        if tx
            .get::<Cen>(&grant.bind_uid, &grant.bind_instance)?
            .is_none()
        {
            return Err(ApiError::not_found(
                "InvalidCenId.NotFound",
                "CenId",
                &format!("{} (of account {})", grant.bind_instance, grant.bind_uid),
            ));
        }
        match tx.get::<CrossAccountGrant>(ctx.account_id, &grant.key())? {
            Some(old) => tx.update(
                ctx.account_id,
                &CrossAccountGrant {
                    create_time: old.create_time,
                    ..grant
                },
            )?,
            None => tx.insert(ctx.account_id, &grant)?,
        }
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Modified,
        );
        Ok(json!({}))
    })
}

/// RevokeInstanceFromTransitRouter: withdraws a grant, refused while the connection is attached.
pub(super) fn revoke(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let (conn, grant) = requested_grant(tx, ctx)?;
        check_grant_authorization(&conn)?;
        if tx
            .get::<CrossAccountGrant>(ctx.account_id, &grant.key())?
            .is_none()
        {
            return Err(ApiError::not_found(
                "InvalidInstanceId.NotAuthorized",
                "InstanceId",
                &format!(
                    "{} (granted to CEN {} of account {})",
                    conn.vpn_connection_id, grant.bind_instance, grant.bind_uid
                ),
            ));
        }
        tx.delete::<CrossAccountGrant>(ctx.account_id, &grant.key())?;
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Modified,
        );
        Ok(json!({}))
    })
}

/// DescribeVpnCrossAccountAuthorizations (VPC API): the grants of one of the caller's connections.
pub(super) fn list_grants(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = ctx.params.page(50)?;
    ctx.read(|tx| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        let query = Query {
            refs: vec![conn.vpn_connection_id.clone()],
            page: Some(Page::number(page.number, page.size)),
            ..Query::default()
        };
        let listing = tx.list::<CrossAccountGrant>(ctx.account_id, &query)?;
        let items: Vec<Value> = listing
            .items
            .iter()
            .map(|g| {
                json!({
                    "VpnConnectionId": g.vpn_connection_id,
                    "AliUid": uid(ctx.account_id),
                    "BindUid": uid(&g.bind_uid),
                    "BindInstance": g.bind_instance,
                    "BindProduct": "CEN",
                    "CreationTime": g.create_time,
                })
            })
            .collect();
        Ok(json!({
            "CrossAccountAuthorizations": items,
            "TotalCount": listing.total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}
