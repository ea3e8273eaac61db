//! What tunnels the stored resources ask for: a connection's tunnel options become tunnel specs.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use strait_model::{Role, VpnConnection, VpnRouteEntry};

use crate::{Timing, TimingOverrides, TunnelSpec};

/// The tunnels `conn` runs: one per tunnel option whose customer gateway `peer_ip` knows, on the
/// tunnel's own gateway IP; a slave stands by for its connection's master. `routes` are the
/// gateway's destination route entries (those pointing at this connection are routed into it).
pub fn connection_tunnels(
    conn: &VpnConnection,
    peer_ip: impl Fn(&str) -> Option<Ipv4Addr>,
    routes: &[VpnRouteEntry],
    overrides: &TimingOverrides,
) -> Vec<TunnelSpec> {
    if conn.vpn_gateway_id.is_none() {
        return Vec::new();
    }
    let local_subnet = conn.local_subnet.0.clone();
    let remote_subnet = conn.remote_subnet.0.clone();
    let mut destinations: Vec<Ipv4Net> = if conn.remote_subnet.is_any() {
        Vec::new()
    } else {
        remote_subnet.clone()
    };
    for r in routes.iter().filter(|r| r.next_hop == conn.vpn_connection_id) {
        if !destinations.contains(&r.route_dest) {
            destinations.push(r.route_dest);
        }
    }
    let master = conn
        .tunnel_options
        .iter()
        .find(|t| t.role == Role::Master)
        .map(|t| t.tunnel_id.clone());
    conn.tunnel_options
        .iter()
        .filter_map(|t| {
            let ike = t.tunnel_ike_config.clone();
            Some(TunnelSpec {
                id: t.tunnel_id.clone(),
                connection: conn.vpn_connection_id.clone(),
                standby_of: master.clone().filter(|_| t.role == Role::Slave),
                local_ip: t.internet_ip,
                peer_ip: peer_ip(&t.customer_gateway_id)?,
                timing: overrides.apply(Timing::for_version(ike.ike_version)),
                ike,
                ipsec: t.tunnel_ipsec_config.clone(),
                local_subnet: local_subnet.clone(),
                remote_subnet: remote_subnet.clone(),
                routes: destinations.clone(),
                enable_dpd: t.enable_dpd,
                enable_nat_traversal: t.enable_nat_traversal,
                effect_immediately: conn.effect_immediately,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use strait_model::validate::{
        ConnectionContext, ConnectionInput, TunnelOptionsInput, validate_new_connection,
    };
    use strait_model::{CustomerGateway, GatewayStatus, NetworkType, VpnGateway};

    fn tunnel_ids(specs: &[TunnelSpec]) -> Vec<(&str, Option<&str>, Ipv4Addr, Ipv4Addr)> {
        specs
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.standby_of.as_deref(),
                    s.local_ip,
                    s.peer_ip,
                )
            })
            .collect()
    }

    fn peers(id: &str) -> Option<Ipv4Addr> {
        match id {
            "cgw-1" => Some(Ipv4Addr::new(192, 0, 2, 11)),
            "cgw-2" => Some(Ipv4Addr::new(192, 0, 2, 12)),
            _ => None,
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    /// A connection as the API stores it after validating `input`.
    fn connection(input: ConnectionInput) -> VpnConnection {
        let gateway = VpnGateway {
            vpn_gateway_id: "vpn-1".into(),
            name: String::new(),
            description: String::new(),
            vpc_id: "vpc-local".into(),
            v_switch_id: "zone-a".into(),
            internet_ip: Ipv4Addr::new(203, 0, 113, 1),
            disaster_recovery_v_switch_id: Some("zone-b".into()),
            disaster_recovery_internet_ip: Some(Ipv4Addr::new(203, 0, 113, 2)),
            network_type: NetworkType::Public,
            status: GatewayStatus::Active,
            create_time: 0,
            resource_group_id: String::new(),
            tags: vec![],
        };
        let cgws: Vec<CustomerGateway> = ["cgw-1", "cgw-2"]
            .into_iter()
            .map(|id| CustomerGateway {
                customer_gateway_id: id.into(),
                name: String::new(),
                description: String::new(),
                ip_address: peers(id).unwrap(),
                asn: None,
                auth_key: None,
                create_time: 0,
                resource_group_id: String::new(),
                tags: vec![],
            })
            .collect();
        let ctx = ConnectionContext {
            gateway: &gateway,
            customer_gateways: &cgws,
            gateway_connections: &[],
            now_ms: 0,
        };
        validate_new_connection(&input, &ctx).unwrap()
    }

    fn single(local: &str, remote: &str) -> ConnectionInput {
        ConnectionInput {
            customer_gateway_id: s("cgw-1"),
            local_subnet: s(local),
            remote_subnet: s(remote),
            ..Default::default()
        }
    }

    #[test]
    fn a_single_tunnel_runs_on_the_gateway_ip_towards_its_customer_gateway() {
        let conn = connection(ConnectionInput {
            effect_immediately: s("true"),
            ..single("10.0.1.0/24", "192.168.10.0/24")
        });
        let overrides = TimingOverrides {
            dpd_timeout_secs: Some(8),
            ..TimingOverrides::default()
        };
        let specs = connection_tunnels(&conn, peers, &[], &overrides);
        let t = &conn.tunnel_options[0];
        assert_eq!(
            tunnel_ids(&specs),
            vec![(
                t.tunnel_id.as_str(),
                None,
                Ipv4Addr::new(203, 0, 113, 1),
                Ipv4Addr::new(192, 0, 2, 11)
            )]
        );
        let s = &specs[0];
        assert_eq!(s.connection, conn.vpn_connection_id);
        assert_eq!(s.local_subnet, vec!["10.0.1.0/24".parse().unwrap()]);
        assert_eq!(s.routes, s.remote_subnet, "protected networks are routed into the tunnel");
        assert!(s.effect_immediately);
        assert_eq!(s.ike, t.tunnel_ike_config);
        assert_eq!(s.timing.dpd_timeout, Duration::from_secs(8));
    }

    #[test]
    fn a_dual_tunnel_slave_stands_by_for_its_master() {
        let tunnel = |cgw: &str, role: &str| TunnelOptionsInput {
            customer_gateway_id: s(cgw),
            role: s(role),
            ..Default::default()
        };
        let conn = connection(ConnectionInput {
            local_subnet: s("10.0.1.0/24"),
            remote_subnet: s("192.168.10.0/24"),
            tunnel_options_specification: vec![tunnel("cgw-1", "master"), tunnel("cgw-2", "slave")],
            ..Default::default()
        });
        let specs = connection_tunnels(&conn, peers, &[], &TimingOverrides::default());
        let [m, s] = &conn.tunnel_options[..] else {
            panic!("two tunnels expected");
        };
        assert_eq!(
            tunnel_ids(&specs),
            vec![
                (
                    m.tunnel_id.as_str(),
                    None,
                    Ipv4Addr::new(203, 0, 113, 1),
                    Ipv4Addr::new(192, 0, 2, 11)
                ),
                (
                    s.tunnel_id.as_str(),
                    Some(m.tunnel_id.as_str()),
                    Ipv4Addr::new(203, 0, 113, 2),
                    Ipv4Addr::new(192, 0, 2, 12)
                ),
            ]
        );
        assert_eq!(specs[1].ike, s.tunnel_ike_config);
        assert_eq!(specs[0].routes, specs[1].routes);
    }

    #[test]
    fn destination_routing_takes_the_route_entries_of_the_connection() {
        let conn = connection(single("0.0.0.0/0", "0.0.0.0/0"));
        let entry = |dest: &str, hop: &str| VpnRouteEntry {
            vpn_gateway_id: conn.vpn_gateway_id.clone().unwrap_or_default(),
            route_dest: dest.parse().unwrap(),
            next_hop: hop.into(),
            weight: 100,
            publish_vpc: false,
            description: String::new(),
            create_time: 0,
        };
        let routes = [
            entry("192.168.0.0/16", &conn.vpn_connection_id),
            entry("172.16.0.0/12", "vco-other"),
        ];
        let specs = connection_tunnels(&conn, peers, &routes, &TimingOverrides::default());
        assert_eq!(specs[0].routes, vec!["192.168.0.0/16".parse().unwrap()]);
    }

    #[test]
    fn a_tunnel_without_its_customer_gateway_is_left_out() {
        let conn = connection(single("10.0.1.0/24", "192.168.10.0/24"));
        let specs = connection_tunnels(&conn, |_| None, &[], &TimingOverrides::default());
        assert!(specs.is_empty());
    }
}
