//! CreateCustomerGateway, DescribeCustomerGateway(s), ModifyCustomerGatewayAttribute, DeleteCustomerGateway.

use super::{id_filter, input, load_param, paged, tag_filter};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use crate::views;
use serde_json::{Value, json};
use strait_model::validate::{self, CustomerGatewayInput};
use strait_model::{CustomerGateway, VpnConnection};
use strait_store::{Document, Query};

/// What CreateCustomerGateway and ModifyCustomerGatewayAttribute answer.
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
    let input: CustomerGatewayInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let cgw = validate::validate_new_customer_gateway(&input, tx.now_ms())?;
        tx.insert(ctx.account_id, &cgw)?;
        changes.push(
            CustomerGateway::KIND,
            &cgw.customer_gateway_id,
            ChangeOp::Created,
        );
        Ok(response(&cgw))
    })
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| {
        Ok(views::customer_gateway(&load_param::<CustomerGateway>(
            tx, ctx,
        )?))
    })
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let query = Query {
        ids: id_filter(p, "CustomerGatewayId"),
        tags: tag_filter(p)?,
        ..Query::default()
    };
    ctx.read(|tx| {
        paged(
            tx,
            ctx,
            query,
            "CustomerGateways",
            "CustomerGateway",
            |items| Ok(items.iter().map(views::customer_gateway).collect()),
        )
    })
}

pub(super) fn modify(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let input: CustomerGatewayInput = input(ctx.params)?;
    ctx.write(|tx, changes| {
        let cgw = validate::validate_customer_gateway_update(
            &load_param::<CustomerGateway>(tx, ctx)?,
            &input,
        )?;
        tx.update(ctx.account_id, &cgw)?;
        changes.push(
            CustomerGateway::KIND,
            &cgw.customer_gateway_id,
            ChangeOp::Modified,
        );
        Ok(response(&cgw))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let cgw = load_param::<CustomerGateway>(tx, ctx)?;
        let connections: Vec<String> = tx
            .referrers(ctx.account_id, &cgw.customer_gateway_id)?
            .into_iter()
            .filter(|(kind, _)| kind == VpnConnection::KIND)
            .map(|(_, id)| id)
            .collect();
        validate::check_delete_customer_gateway(&cgw, &connections)?;
        tx.delete::<CustomerGateway>(ctx.account_id, &cgw.customer_gateway_id)?;
        changes.push(
            CustomerGateway::KIND,
            &cgw.customer_gateway_id,
            ChangeOp::Deleted,
        );
        Ok(json!({}))
    })
}
