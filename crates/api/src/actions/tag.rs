//! TagResources, UnTagResources, ListTagResources for VPN gateways, customer gateways and connections.

use super::{Resource, load, tags as request_tags};
use crate::error::ApiError;
use crate::server::{ChangeOp, Ctx};
use serde_json::{Value, json};
use strait_model::validate::{self, TagInput};
use strait_model::{CustomerGateway, VpnConnection, VpnGateway};
use strait_store::Query;

/// The `ResourceType` values accepted (case-insensitive), as answered by ListTagResources.
const VPN_GATEWAY: &str = "VPNGATEWAY";
const CUSTOMER_GATEWAY: &str = "CUSTOMERGATEWAY";
const VPN_CONNECTION: &str = "VPNCONNECTION";

fn resource_type(ctx: &Ctx<'_>) -> Result<&'static str, ApiError> {
    let rt = ctx.params.required("ResourceType")?;
    [VPN_GATEWAY, CUSTOMER_GATEWAY, VPN_CONNECTION]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(rt))
        .ok_or_else(|| {
            ApiError::invalid(
                "ResourceType",
                format!("\"{rt}\" is not one of VpnGateway, CustomerGateway, VpnConnection"),
            )
        })
}

fn resource_ids(ctx: &Ctx<'_>, required: bool) -> Result<Vec<String>, ApiError> {
    let ids = ctx.params.list("ResourceId")?;
    if required && ids.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    Ok(ids)
}

fn retag<R: Resource>(
    ctx: &Ctx<'_>,
    edit: impl Fn(&mut Vec<strait_model::Tag>) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    let ids = resource_ids(ctx, true)?;
    ctx.write(|tx, changes| {
        for id in &ids {
            let mut r = load::<R>(tx, ctx, id)?;
            edit(r.tags_mut())?;
            tx.update(ctx.account_id, &r)?;
            changes.push(R::KIND, id, ChangeOp::Modified);
        }
        Ok(json!({}))
    })
}

fn add_tags<R: Resource>(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let new = request_tags(ctx.params)?;
    if new.is_empty() {
        return Err(ApiError::missing("Tag.1.Key"));
    }
    retag::<R>(ctx, |tags| {
        for t in &new {
            match tags.iter_mut().find(|old| old.key == t.key) {
                Some(old) => old.value = t.value.clone(),
                None => tags.push(t.clone()),
            }
        }
        let inputs: Vec<TagInput> = tags
            .iter()
            .map(|t| TagInput {
                key: Some(t.key.clone()),
                value: Some(t.value.clone()),
            })
            .collect();
        validate::validate_tags("Tag", &inputs)?;
        Ok(())
    })
}

pub(super) fn tag(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    match resource_type(ctx)? {
        VPN_GATEWAY => add_tags::<VpnGateway>(ctx),
        CUSTOMER_GATEWAY => add_tags::<CustomerGateway>(ctx),
        _ => add_tags::<VpnConnection>(ctx),
    }
}

fn remove_tags<R: Resource>(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let all = ctx.params.bool("All")?.unwrap_or(false);
    let keys = ctx.params.list("TagKey")?;
    if !all && keys.is_empty() {
        return Err(ApiError::missing("TagKey.1"));
    }
    retag::<R>(ctx, |tags| {
        tags.retain(|t| !all && !keys.contains(&t.key));
        Ok(())
    })
}

pub(super) fn untag(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    match resource_type(ctx)? {
        VPN_GATEWAY => remove_tags::<VpnGateway>(ctx),
        CUSTOMER_GATEWAY => remove_tags::<CustomerGateway>(ctx),
        _ => remove_tags::<VpnConnection>(ctx),
    }
}

fn tag_rows<R: Resource>(ctx: &Ctx<'_>, resource_type: &str) -> Result<Vec<Value>, ApiError> {
    let ids = resource_ids(ctx, false)?;
    let filter = super::tag_filter(ctx.params)?;
    if ids.is_empty() && filter.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    let query = Query {
        ids: Some(ids).filter(|i| !i.is_empty()),
        tags: filter,
        ..Query::default()
    };
    ctx.read(|tx| {
        let mut rows = Vec::new();
        for mut r in tx.list::<R>(ctx.account_id, &query)?.items {
            let id = r.id();
            for t in r.tags_mut().iter() {
                rows.push(json!({ "ResourceId": id, "ResourceType": resource_type, "TagKey": t.key, "TagValue": t.value }));
            }
        }
        Ok(rows)
    })
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let rt = resource_type(ctx)?;
    let rows = match rt {
        VPN_GATEWAY => tag_rows::<VpnGateway>(ctx, rt)?,
        CUSTOMER_GATEWAY => tag_rows::<CustomerGateway>(ctx, rt)?,
        _ => tag_rows::<VpnConnection>(ctx, rt)?,
    };
    let max = match ctx.params.parse::<usize>("MaxResults")? {
        None => 50,
        Some(n @ 1..=50) => n,
        Some(_) => return Err(ApiError::invalid("MaxResults", "must be between 1 and 50")),
    };
    let start = match ctx.params.str("NextToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= rows.len())
            .ok_or_else(|| ApiError::invalid("NextToken", "is not a token this server issued"))?,
    };
    let end = (start + max).min(rows.len());
    let next = if end < rows.len() {
        end.to_string()
    } else {
        String::new()
    };
    Ok(json!({
        "TagResources": { "TagResource": rows.get(start..end).unwrap_or_default() },
        "NextToken": next,
    }))
}
