//! Destination-based and policy-based route entry rules.

use super::{
    RouteEntryInput, Rule, ValidationError, free_text, given, invalid, opt_bool, parse_cidr,
    parse_u32_in, required,
};
use crate::resource::{VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry};

/// Checks a route weight: 0 (standby) or 100 (active).
pub fn validate_weight(field: &str, v: &str) -> Result<u32, ValidationError> {
    match v {
        "0" => Ok(0),
        "100" => Ok(100),
        _ => Err(invalid(
            field,
            format!("{field} must be 0 (standby) or 100 (active), not {v:?}"),
        )),
    }
}

/// Checks a policy route priority: 1..=100, lower wins.
pub fn validate_priority(field: &str, v: &str) -> Result<u32, ValidationError> {
    parse_u32_in(field, v, 1, 100)
}

/// The parts shared by both kinds of route.
struct Common {
    route_dest: ipnet::Ipv4Net,
    next_hop: String,
    weight: u32,
    publish_vpc: bool,
    description: String,
}

fn common(
    input: &RouteEntryInput,
    gateway: &VpnGateway,
    connections: &[VpnConnection],
) -> Result<Common, ValidationError> {
    let route_dest = parse_cidr("RouteDest", required("RouteDest", &input.route_dest)?)?;
    let next_hop = required("NextHop", &input.next_hop)?;
    let on_gateway = connections.iter().any(|c| {
        c.vpn_connection_id == next_hop
            && c.vpn_gateway_id.as_deref() == Some(&gateway.vpn_gateway_id)
    });
    if !on_gateway {
        return Err(ValidationError::new(
            Rule::NotFound,
            "NextHop",
            format!(
                "NextHop: {next_hop} is not an IPsec-VPN connection of VPN gateway {}",
                gateway.vpn_gateway_id
            ),
        ));
    }
    if let Some(mode) = given(&input.overlay_mode).filter(|m| *m != "Ipsec") {
        return Err(invalid(
            "OverlayMode",
            format!("OverlayMode must be Ipsec, not {mode:?}"),
        ));
    }
    Ok(Common {
        route_dest,
        next_hop: next_hop.to_string(),
        weight: validate_weight("Weight", required("Weight", &input.weight)?)?,
        publish_vpc: opt_bool("PublishVpc", &input.publish_vpc, false)?,
        description: free_text("Description", &input.description)?.unwrap_or_default(),
    })
}

/// Validates a CreateVpnRouteEntry request. `connections` are the gateway's connections,
/// `existing` its destination routes.
pub fn validate_new_route_entry(
    input: &RouteEntryInput,
    gateway: &VpnGateway,
    connections: &[VpnConnection],
    existing: &[VpnRouteEntry],
    now_ms: i64,
) -> Result<VpnRouteEntry, ValidationError> {
    let c = common(input, gateway, connections)?;
    let entry = VpnRouteEntry {
        vpn_gateway_id: gateway.vpn_gateway_id.clone(),
        route_dest: c.route_dest,
        next_hop: c.next_hop,
        weight: c.weight,
        publish_vpc: c.publish_vpc,
        description: c.description,
        create_time: now_ms,
    };
    if existing.iter().any(|e| e.key() == entry.key()) {
        return Err(ValidationError::new(
            Rule::Duplicated,
            "RouteDest",
            format!(
                "RouteDest: a route to {} via {} already exists",
                entry.route_dest, entry.next_hop
            ),
        ));
    }
    Ok(entry)
}

/// Validates a CreateVpnPbrRouteEntry request (`Priority` defaults to 10).
pub fn validate_new_pbr_route_entry(
    input: &RouteEntryInput,
    gateway: &VpnGateway,
    connections: &[VpnConnection],
    existing: &[VpnPbrRouteEntry],
    now_ms: i64,
) -> Result<VpnPbrRouteEntry, ValidationError> {
    let route_source = parse_cidr("RouteSource", required("RouteSource", &input.route_source)?)?;
    let c = common(input, gateway, connections)?;
    let entry = VpnPbrRouteEntry {
        vpn_gateway_id: gateway.vpn_gateway_id.clone(),
        route_source,
        route_dest: c.route_dest,
        next_hop: c.next_hop,
        weight: c.weight,
        priority: given(&input.priority).map_or(Ok(10), |v| validate_priority("Priority", v))?,
        publish_vpc: c.publish_vpc,
        description: c.description,
        create_time: now_ms,
    };
    if existing.iter().any(|e| e.key() == entry.key()) {
        return Err(ValidationError::new(
            Rule::Duplicated,
            "RouteDest",
            format!(
                "RouteDest: a policy route from {} to {} via {} already exists",
                entry.route_source, entry.route_dest, entry.next_hop
            ),
        ));
    }
    Ok(entry)
}
