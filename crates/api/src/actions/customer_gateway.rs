//! CreateCustomerGateway, DescribeCustomerGateway(s), ModifyCustomerGatewayAttribute, DeleteCustomerGateway.

use super::{load_param, paged, parse_tags, tag_filter, text};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use strait_model::{CustomerGateway, IdKind, VpnConnection};
use strait_store::{Document, Query};

fn response(c: &CustomerGateway) -> Value {
    json!({
        "CustomerGatewayId": c.customer_gateway_id,
        "IpAddress": c.ip_address.to_string(),
        "Name": c.name,
        "Description": c.description,
        "CreateTime": c.create_time,
        "ResourceGroupId": c.resource_group_id,
    })
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let ip_address: Ipv4Addr = p
        .required("IpAddress")?
        .parse()
        .map_err(|_| ApiError::invalid("IpAddress", "must be an IPv4 address"))?;
    let asn = p.str("Asn").filter(|v| !v.is_empty()).map(|v| crate::validate::asn("Asn", v)).transpose()?;
    let auth_key = p.str("AuthKey").filter(|v| !v.is_empty()).map(str::to_string);
    let name = text(p, "Name")?.unwrap_or_default();
    let description = text(p, "Description")?.unwrap_or_default();
    let tags = crate::validate::tags("Tags", parse_tags(p, "Tags")?)?;
    ctx.write(|tx, changes| {
        let cgw = CustomerGateway {
            customer_gateway_id: IdKind::CustomerGateway.new_id(),
            name,
            description,
            ip_address,
            asn,
            auth_key,
            create_time: tx.now_ms(),
            resource_group_id: p.str("ResourceGroupId").unwrap_or("").to_string(),
            tags,
        };
        tx.insert(ctx.account_id, &cgw)?;
        changes.push(CustomerGateway::KIND, &cgw.customer_gateway_id, ChangeOp::Created);
        Ok(response(&cgw))
    })
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| Ok(views::customer_gateway(&load_param::<CustomerGateway>(tx, ctx)?)))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mut query = Query { tags: tag_filter(p)?, ..Query::default() };
    if let Some(id) = p.str("CustomerGatewayId").filter(|v| !v.is_empty()) {
        query.ids = Some(id.split(',').map(|s| s.trim().to_string()).collect());
    }
    ctx.read(|tx| paged(tx, ctx, query, "CustomerGateways", "CustomerGateway", views::customer_gateway))
}

pub(super) fn modify(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let name = text(ctx.params, "Name")?;
    let description = text(ctx.params, "Description")?;
    let auth_key = ctx.params.str("AuthKey").map(str::to_string);
    ctx.write(|tx, changes| {
        let mut c = load_param::<CustomerGateway>(tx, ctx)?;
        c.name = name.unwrap_or(c.name);
        c.description = description.unwrap_or(c.description);
        if let Some(key) = auth_key {
            c.auth_key = Some(key).filter(|k| !k.is_empty());
        }
        tx.update(ctx.account_id, &c)?;
        changes.push(CustomerGateway::KIND, &c.customer_gateway_id, ChangeOp::Modified);
        Ok(response(&c))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let c = load_param::<CustomerGateway>(tx, ctx)?;
        let referrers = tx.referrers(ctx.account_id, &c.customer_gateway_id)?;
        if let Some((_, id)) = referrers.iter().find(|(kind, _)| kind == VpnConnection::KIND) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "DependencyViolation.VpnConnection",
                format!("The customer gateway {} is used by the IPsec-VPN connection {id}; delete it first.", c.customer_gateway_id),
            ));
        }
        tx.delete::<CustomerGateway>(ctx.account_id, &c.customer_gateway_id)?;
        changes.push(CustomerGateway::KIND, &c.customer_gateway_id, ChangeOp::Deleted);
        Ok(json!({}))
    })
}
