//! DownloadVpnConnectionConfig: what the customer's device needs, in the SDK's shape, and with the
//! extra `DeviceType` parameter a ready-to-load device configuration.

use super::load_param;
use crate::error::ApiError;
use crate::server::Ctx;
use serde_json::{Value, json};
use strait_model::{AttachType, CustomerGateway, VpnConnection};
use strait_peer_config::{DeviceType, RenderError};
use strait_store::Query;

/// A rendering failure as the client sees it: the device's limits are the caller's to fix, while a
/// stored connection that cannot be rendered at all is the server's fault.
fn render_error(e: RenderError) -> ApiError {
    match e {
        RenderError::UnknownDevice(_) => ApiError::invalid("DeviceType", e),
        RenderError::Unsupported { .. } => {
            ApiError::bad_request("OperationUnsupported.DeviceConfig", e.to_string())
        }
        RenderError::MissingCustomerGateway(_)
        | RenderError::NoTunnel(_)
        | RenderError::IncompleteBgp { .. } => ApiError::internal(e),
    }
}

pub(super) fn download(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let device = ctx
        .params
        .str("DeviceType")
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<DeviceType>().map_err(render_error))
        .transpose()?;
    let (conn, customer_gateways) = ctx.read(|tx| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        let ids = conn
            .customer_gateway_ids()
            .into_iter()
            .map(String::from)
            .collect();
        let query = Query {
            ids: Some(ids),
            ..Query::default()
        };
        let customer_gateways = tx.list::<CustomerGateway>(ctx.account_id, &query)?.items;
        Ok((conn, customer_gateways))
    })?;
    if conn.attach_type == AttachType::None {
        return Err(ApiError::bad_request(
            "IncorrectStatus.VpnConnection",
            format!(
                "VpnConnectionId: {} is attached to nothing, so its tunnels have no gateway address yet; attach it to a transit router (CreateTransitRouterVpnAttachment) first",
                conn.vpn_connection_id
            ),
        ));
    }
    let standard =
        strait_peer_config::render_standard(&conn, &customer_gateways).map_err(render_error)?;
    let mut body = json!({
        "VpnConnectionConfig": serde_json::to_value(standard).map_err(ApiError::internal)?,
    });
    if let Some(device) = device {
        let text = strait_peer_config::render_device(device, &conn, &customer_gateways)
            .map_err(render_error)?;
        body["DeviceConfig"] = Value::String(text);
    }
    Ok(body)
}
