//! DiagnoseVpnConnections: why the tunnels of a gateway's connections failed to negotiate.

use super::load_param;
use crate::error::ApiError;
use crate::server::Ctx;
use serde_json::{Value, json};
use strait_model::{Diagnosis, NegotiationStatus, VpnConnection, VpnGateway};
use strait_store::Query;

/// One `VpnConnections[]` entry: the failure of one tunnel.
fn entry(conn: &VpnConnection, tunnel_id: &str, d: &Diagnosis) -> Value {
    json!({
        "VpnConnectionId": conn.vpn_connection_id,
        "TunnelId": tunnel_id,
        "FailedReason": d.summary,
        "FailedReasonCode": d.code.as_str(),
        "FailedTime": d.failed_time,
        "MismatchLocalParam": d.mismatch_local(),
        "MismatchRemoteParam": d.mismatch_remote(),
        "Severity": d.severity.as_str(),
        "SourceLog": d.source_log,
    })
}

pub(super) fn diagnose(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let page = ctx.params.page(50)?;
    let conn_ids = ctx.params.id_list("VpnConnectionIds")?;
    let tunnel_ids = ctx.params.id_list("TunnelIds")?;
    ctx.read(|tx| {
        let gateway = load_param::<VpnGateway>(tx, ctx)?;
        let query = Query {
            fields: vec![("VpnGatewayId", gateway.vpn_gateway_id.clone())],
            ids: (!conn_ids.is_empty()).then(|| conn_ids.clone()),
            ..Query::default()
        };
        let conns = tx.list::<VpnConnection>(ctx.account_id, &query)?.items;
        // Named connections must be the caller's and on this gateway; named tunnels must belong to them.
        if let Some(missing) = conn_ids
            .iter()
            .find(|id| !conns.iter().any(|c| &c.vpn_connection_id == *id))
        {
            return Err(ApiError::not_found(
                "InvalidVpnConnectionInstanceId.NotFound",
                "VpnConnectionIds",
                missing,
            ));
        }
        if let Some(missing) = tunnel_ids
            .iter()
            .find(|id| !conns.iter().any(|c| c.tunnel(id).is_some()))
        {
            return Err(ApiError::not_found(
                "InvalidTunnelId.NotFound",
                "TunnelIds",
                missing,
            ));
        }
        let mut failures = Vec::new();
        for conn in &conns {
            for t in &conn.tunnel_options {
                if !tunnel_ids.is_empty() && !tunnel_ids.contains(&t.tunnel_id) {
                    continue;
                }
                let Some((status, _)) = tx.tunnel_status(ctx.account_id, &t.tunnel_id)? else {
                    continue;
                };
                if status.status == NegotiationStatus::IpsecSaEstablished {
                    continue;
                }
                if let Some(d) = &status.diagnosis {
                    failures.push(entry(conn, &t.tunnel_id, d));
                }
            }
        }
        let total = failures.len() as u64;
        let skip = (page.number as usize - 1).saturating_mul(page.size as usize);
        let shown: Vec<Value> = failures
            .into_iter()
            .skip(skip)
            .take(page.size as usize)
            .collect();
        // The SDK's shape is a flat list, `VpnConnections: [...]`, not the usual `{Outer: {Inner: [...]}}`.
        Ok(json!({
            "VpnConnections": shown,
            "TotalCount": total,
            "PageNumber": page.number,
            "PageSize": page.size,
        }))
    })
}
