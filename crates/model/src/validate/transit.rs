//! Transit router rules: attaching a connection (placing its tunnels in the attachment's zones),
//! detaching it, who may attach another account's connection, and the CBN API's free texts.

use super::connection::UNPLACED;
use super::gateway::network_name;
use super::{Rule, ValidationError, invalid};
use crate::resource::{AttachType, VpnConnection};
use crate::transit::{CrossAccountGrant, OrderType};
use std::net::Ipv4Addr;

/// Moves every tunnel of `conn` to the gateway address of a zone: tunnel N takes `places[N-1]`.
/// An IKE local id still equal to the old address follows it.
fn place_tunnels(conn: &mut VpnConnection, places: &[(Ipv4Addr, &str)]) {
    for (t, (ip, zone)) in conn.tunnel_options.iter_mut().zip(places) {
        if t.tunnel_ike_config.local_id == t.internet_ip.to_string() {
            t.tunnel_ike_config.local_id = ip.to_string();
        }
        t.internet_ip = *ip;
        t.zone_no = (*zone).to_string();
    }
}

/// Attaches a connection attached to nothing to `transit_router_id`: tunnel 1 takes the first
/// gateway address of `zone_id` (default: the first configured zone), a dual-tunnel connection's
/// tunnel 2 that of the next configured zone. `zones` are the configured zones in order with their
/// first gateway address. Answers the connection and the zone used.
pub fn attach_connection(
    conn: &VpnConnection,
    transit_router_id: &str,
    zones: &[(String, Ipv4Addr)],
    zone_id: Option<&str>,
) -> Result<(VpnConnection, String), ValidationError> {
    match (conn.attach_type, &conn.transit_router_id) {
        (AttachType::None, _) => {}
        (AttachType::TransitRouter, tr) => {
            return Err(invalid(
                "VpnId",
                format!(
                    "VpnId: {} is already attached to transit router {}; detach it first",
                    conn.vpn_connection_id,
                    tr.as_deref().unwrap_or_default()
                ),
            ));
        }
        (AttachType::VpnGateway, _) => {
            return Err(invalid(
                "VpnId",
                format!(
                    "VpnId: {} is attached to VPN gateway {}; only a connection attached to nothing (CreateVpnAttachment) can attach to a transit router",
                    conn.vpn_connection_id,
                    conn.vpn_gateway_id.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    let known = || {
        zones
            .iter()
            .map(|(z, _)| z.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let start = match zone_id {
        None => 0,
        Some(id) => zones.iter().position(|(z, _)| z == id).ok_or_else(|| {
            ValidationError::new(
                Rule::NotFound,
                "ZoneId",
                format!(
                    "ZoneId: zone {id} has no {} gateway address configured; zones that have one: {}",
                    network_name(conn.network_type),
                    known()
                ),
            )
        })?,
    };
    let needed = conn.tunnel_options.len();
    if needed > zones.len() {
        return Err(invalid(
            "ZoneId",
            format!(
                "ZoneId: a dual-tunnel connection needs two zones, and only {} is configured",
                known()
            ),
        ));
    }
    let places: Vec<(Ipv4Addr, &str)> = zones
        .iter()
        .cycle()
        .skip(start)
        .take(needed)
        .map(|(z, ip)| (*ip, z.as_str()))
        .collect();
    let zone = places
        .first()
        .map(|(_, z)| (*z).to_string())
        .unwrap_or_default();
    let mut out = conn.clone();
    place_tunnels(&mut out, &places);
    out.attach_type = AttachType::TransitRouter;
    out.transit_router_id = Some(transit_router_id.to_string());
    Ok((out, zone))
}

/// The connection detached from its transit router: attached to nothing, tunnels unplaced.
pub fn detach_connection(conn: &VpnConnection) -> VpnConnection {
    let mut out = conn.clone();
    place_tunnels(&mut out, &[UNPLACED; 2]);
    out.attach_type = AttachType::None;
    out.transit_router_id = None;
    out
}

/// Refuses to let account `caller` attach connection `conn_id` of account `owner` to CEN `cen_id`
/// unless it is its own or `owner` granted it (`grants`: the owner's grants).
pub fn check_attach_authorized(
    owner: &str,
    caller: &str,
    conn_id: &str,
    cen_id: &str,
    grants: &[CrossAccountGrant],
) -> Result<(), ValidationError> {
    let granted = grants.iter().any(|g| {
        g.vpn_connection_id == conn_id && g.bind_uid == caller && g.bind_instance == cen_id
    });
    if owner == caller || granted {
        return Ok(());
    }
    Err(ValidationError::new(
        Rule::Forbidden,
        "VpnOwnerId",
        format!(
            "VpnOwnerId: account {owner} has not authorized account {caller}'s CEN {cen_id} to attach connection {conn_id} (GrantInstanceToTransitRouter)"
        ),
    ))
}

/// `OrderType`: `PayByCenOwner` (default) or `PayByResourceOwner`.
pub fn parse_order_type(field: &str, v: Option<&str>) -> Result<OrderType, ValidationError> {
    match v.filter(|s| !s.is_empty()) {
        None | Some("PayByCenOwner") => Ok(OrderType::PayByCenOwner),
        Some("PayByResourceOwner") => Ok(OrderType::PayByResourceOwner),
        Some(other) => Err(invalid(
            field,
            format!("{field} must be PayByCenOwner or PayByResourceOwner, not {other:?}"),
        )),
    }
}

/// A CBN name or description: at most `max` characters, not starting with `http://` or `https://`.
pub fn validate_transit_text(
    field: &str,
    v: Option<&str>,
    max: usize,
) -> Result<String, ValidationError> {
    let s = v.unwrap_or_default();
    if s.chars().count() > max {
        return Err(invalid(
            field,
            format!("{field} must be at most {max} characters long"),
        ));
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Err(invalid(
            field,
            format!("{field} must not start with http:// or https://"),
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion};
    use crate::resource::NetworkType;
    use crate::tunnel::{BgpConfig, HealthCheckConfig, IkeConfig, IpsecConfig, Role, Tunnel};

    fn tunnel(index: u8) -> Tunnel {
        Tunnel {
            tunnel_id: format!("tun-{index}"),
            tunnel_index: index,
            role: if index == 1 {
                Role::Master
            } else {
                Role::Slave
            },
            customer_gateway_id: "cgw-1".into(),
            internet_ip: UNPLACED.0,
            zone_no: String::new(),
            enable_dpd: true,
            enable_nat_traversal: true,
            tunnel_ike_config: IkeConfig {
                psk: "k".into(),
                ike_version: IkeVersion::V2,
                ike_mode: IkeMode::Main,
                ike_enc_alg: EncAlg::Aes,
                ike_auth_alg: AuthAlg::Sha1,
                ike_pfs: DhGroup::Group2,
                ike_lifetime: 86400,
                local_id: UNPLACED.0.to_string(),
                remote_id: "198.51.100.1".into(),
            },
            tunnel_ipsec_config: IpsecConfig::default(),
            tunnel_bgp_config: BgpConfig::default(),
        }
    }

    fn unattached(tunnels: u8) -> VpnConnection {
        VpnConnection {
            vpn_connection_id: "vco-1".into(),
            name: String::new(),
            attach_type: AttachType::None,
            vpn_gateway_id: None,
            transit_router_id: None,
            local_subnet: "0.0.0.0/0".parse().unwrap(),
            remote_subnet: "0.0.0.0/0".parse().unwrap(),
            effect_immediately: true,
            auto_config_route: true,
            network_type: NetworkType::Public,
            vco_health_check: HealthCheckConfig::default(),
            tunnel_options: (1..=tunnels).map(tunnel).collect(),
            create_time: 0,
            resource_group_id: String::new(),
            tags: vec![],
        }
    }

    fn zones(n: u8) -> Vec<(String, Ipv4Addr)> {
        (1..=n)
            .map(|i| (format!("zone-{i}"), Ipv4Addr::new(203, 0, 113, i)))
            .collect()
    }

    fn places(c: &VpnConnection) -> Vec<(String, String, String)> {
        c.tunnel_options
            .iter()
            .map(|t| {
                (
                    t.zone_no.clone(),
                    t.internet_ip.to_string(),
                    t.tunnel_ike_config.local_id.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn attaching_places_tunnels_on_the_zone_and_the_next_and_detaching_undoes_it() {
        let (single, zone) =
            attach_connection(&unattached(1), "tr-1", &zones(2), Some("zone-2")).unwrap();
        assert_eq!(zone, "zone-2");
        assert_eq!(
            (single.attach_type, single.transit_router_id.as_deref()),
            (AttachType::TransitRouter, Some("tr-1"))
        );
        assert_eq!(
            places(&single),
            [("zone-2".into(), "203.0.113.2".into(), "203.0.113.2".into())]
        );

        let (dual, zone) = attach_connection(&unattached(2), "tr-1", &zones(3), None).unwrap();
        assert_eq!(zone, "zone-1");
        assert_eq!(
            places(&dual),
            [
                ("zone-1".into(), "203.0.113.1".into(), "203.0.113.1".into()),
                ("zone-2".into(), "203.0.113.2".into(), "203.0.113.2".into()),
            ]
        );
        let (wrapped, _) =
            attach_connection(&unattached(2), "tr-1", &zones(2), Some("zone-2")).unwrap();
        assert_eq!(
            wrapped.tunnel_options[1].zone_no, "zone-1",
            "the zone after the last is the first"
        );

        // A local id the user chose is kept.
        let mut custom = unattached(1);
        custom.tunnel_options[0].tunnel_ike_config.local_id = "me@example".into();
        let (kept, _) = attach_connection(&custom, "tr-1", &zones(1), None).unwrap();
        assert_eq!(
            kept.tunnel_options[0].tunnel_ike_config.local_id,
            "me@example"
        );

        let back = detach_connection(&dual);
        assert_eq!(back, unattached(2));
    }

    #[test]
    fn attaching_refuses_attached_connections_unknown_zones_and_too_few_zones() {
        let (attached, _) = attach_connection(&unattached(1), "tr-1", &zones(2), None).unwrap();
        let e = attach_connection(&attached, "tr-2", &zones(2), None).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.VpnId");
        assert!(e.message.contains("detach"), "{e:?}");
        let mut on_gateway = unattached(1);
        on_gateway.attach_type = AttachType::VpnGateway;
        on_gateway.vpn_gateway_id = Some("vpn-1".into());
        assert_eq!(
            attach_connection(&on_gateway, "tr-1", &zones(2), None)
                .unwrap_err()
                .code,
            "InvalidParameter.VpnId"
        );
        let e = attach_connection(&unattached(1), "tr-1", &zones(2), Some("zone-9")).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.http_status()),
            ("InvalidZoneId.NotFound", 404)
        );
        assert!(e.message.contains("zone-1, zone-2"), "{e:?}");
        assert_eq!(
            attach_connection(&unattached(2), "tr-1", &zones(1), None)
                .unwrap_err()
                .code,
            "InvalidParameter.ZoneId"
        );
    }

    #[test]
    fn another_accounts_connection_needs_a_grant_for_exactly_this_account_and_cen() {
        let grant = |uid: &str, cen: &str| CrossAccountGrant {
            vpn_connection_id: "vco-1".into(),
            bind_uid: uid.into(),
            bind_instance: cen.into(),
            order_type: OrderType::PayByCenOwner,
            create_time: 0,
        };
        assert!(check_attach_authorized("A", "A", "vco-1", "cen-1", &[]).is_ok());
        let e = check_attach_authorized("A", "B", "vco-1", "cen-1", &[]).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.http_status()),
            ("Forbidden.VpnOwnerId", 403)
        );
        for wrong in [grant("C", "cen-1"), grant("B", "cen-2")] {
            assert!(check_attach_authorized("A", "B", "vco-1", "cen-1", &[wrong]).is_err());
        }
        assert!(
            check_attach_authorized("A", "B", "vco-1", "cen-1", &[grant("B", "cen-1")]).is_ok()
        );
    }

    #[test]
    fn order_types_and_texts_name_their_field() {
        assert_eq!(
            parse_order_type("OrderType", None).unwrap(),
            OrderType::PayByCenOwner
        );
        assert_eq!(
            parse_order_type("OrderType", Some("PayByResourceOwner")).unwrap(),
            OrderType::PayByResourceOwner
        );
        assert_eq!(
            parse_order_type("OrderType", Some("Free"))
                .unwrap_err()
                .code,
            "InvalidParameter.OrderType"
        );
        assert_eq!(
            validate_transit_text("Name", Some("ok"), 128).unwrap(),
            "ok"
        );
        assert_eq!(
            validate_transit_text("Name", Some("https://x"), 128)
                .unwrap_err()
                .code,
            "InvalidParameter.Name"
        );
        assert!(validate_transit_text("Name", Some(&"x".repeat(129)), 128).is_err());
    }
}
