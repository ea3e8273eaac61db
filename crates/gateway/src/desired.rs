//! What tunnels the stored resources ask for: a connection's tunnel options become tunnel specs.

use ipnet::Ipv4Net;
use std::time::Duration;

use strait_dataplane::RouteRule;
use strait_model::{
    BgpConfig, CustomerGateway, HealthCheckConfig, HealthCheckPolicy, Role, VpnConnection,
    VpnPbrRouteEntry, VpnRouteEntry,
};

use crate::{BgpPeering, HealthSpec, Timing, TimingOverrides, TunnelSpec};

/// What a connection's tunnels take from the VPN gateway they run on.
#[derive(Debug, Clone, Copy)]
pub struct GatewayContext<'a> {
    /// The gateway's destination route entries (those pointing at a connection go into it).
    pub routes: &'a [VpnRouteEntry],
    /// The gateway's policy route entries (likewise).
    pub policy_routes: &'a [VpnPbrRouteEntry],
    /// The gateway's local networks (its VPC's CIDRs), advertised to BGP peers.
    pub local_networks: &'a [Ipv4Net],
    /// Timer overrides.
    pub timing: &'a TimingOverrides,
}

/// The tunnels `conn` runs: one per tunnel option whose customer gateway `customer_gateway`
/// finds, on the tunnel's own gateway IP; a slave stands by for its connection's master.
pub fn connection_tunnels(
    conn: &VpnConnection,
    customer_gateway: impl Fn(&str) -> Option<CustomerGateway>,
    gw: &GatewayContext<'_>,
) -> Vec<TunnelSpec> {
    if conn.vpn_gateway_id.is_none() {
        return Vec::new();
    }
    let local_subnet = conn.local_subnet.0.clone();
    let remote_subnet = conn.remote_subnet.0.clone();
    let mut routes: Vec<RouteRule> = if conn.remote_subnet.is_any() {
        Vec::new()
    } else {
        remote_subnet.iter().copied().map(RouteRule::from).collect()
    };
    let ours = |hop: &str| hop == conn.vpn_connection_id;
    routes.extend(
        gw.routes
            .iter()
            .filter(|r| ours(&r.next_hop))
            .map(|r| RouteRule {
                weight: r.weight,
                ..RouteRule::from(r.route_dest)
            }),
    );
    routes.extend(
        gw.policy_routes
            .iter()
            .filter(|r| ours(&r.next_hop))
            .map(|r| RouteRule {
                source: Some(r.route_source),
                priority: r.priority,
                weight: r.weight,
                ..RouteRule::from(r.route_dest)
            }),
    );
    routes.sort();
    routes.dedup();
    // Health checks run on single-tunnel connections.
    let health = health_check(&conn.vco_health_check).filter(|_| conn.tunnel_options.len() == 1);
    let master = conn
        .tunnel_options
        .iter()
        .find(|t| t.role == Role::Master)
        .map(|t| t.tunnel_id.clone());
    conn.tunnel_options
        .iter()
        .filter_map(|t| {
            let cgw = customer_gateway(&t.customer_gateway_id)?;
            let ike = t.tunnel_ike_config.clone();
            Some(TunnelSpec {
                id: t.tunnel_id.clone(),
                connection: conn.vpn_connection_id.clone(),
                standby_of: master.clone().filter(|_| t.role == Role::Slave),
                local_ip: t.internet_ip,
                peer_ip: cgw.ip_address,
                timing: gw.timing.apply(Timing::for_version(ike.ike_version)),
                ike,
                ipsec: t.tunnel_ipsec_config.clone(),
                local_subnet: local_subnet.clone(),
                remote_subnet: remote_subnet.clone(),
                routes: routes.clone(),
                enable_dpd: t.enable_dpd,
                enable_nat_traversal: t.enable_nat_traversal,
                effect_immediately: conn.effect_immediately,
                bgp: bgp_peering(&t.tunnel_bgp_config, &cgw, gw.local_networks).map(|b| {
                    BgpPeering {
                        gateway_id: conn.vpn_gateway_id.clone().unwrap_or_default(),
                        ..b
                    }
                }),
                health: health.clone(),
            })
        })
        .collect()
}

/// The health check of a connection, when enabled with both addresses.
fn health_check(cfg: &HealthCheckConfig) -> Option<HealthSpec> {
    if !cfg.enable {
        return None;
    }
    Some(HealthSpec {
        sip: cfg.sip?,
        dip: cfg.dip?,
        interval: Duration::from_secs(u64::from(cfg.interval.max(1))),
        retry: cfg.retry.max(1),
        revoke_routes: cfg.policy == HealthCheckPolicy::RevokeRoute,
    })
}

/// The eBGP session of a tunnel with BGP enabled, a complete tunnel CIDR and a peer ASN.
fn bgp_peering(
    cfg: &BgpConfig,
    cgw: &CustomerGateway,
    local_networks: &[Ipv4Net],
) -> Option<BgpPeering> {
    if !cfg.enable_bgp {
        return None;
    }
    let local_ip = cfg.local_bgp_ip?;
    let peer_ip = cfg.tunnel_cidr?.hosts().find(|&h| h != local_ip)?;
    Some(BgpPeering {
        gateway_id: String::new(),
        local_asn: cfg.local_asn,
        peer_asn: cgw.asn?,
        local_ip,
        peer_ip,
        md5_key: cgw.auth_key.clone().filter(|k| !k.is_empty()),
        advertise: local_networks.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;
    use strait_model::validate::{
        BgpConfigInput, ConnectionContext, ConnectionInput, HealthCheckInput, TunnelOptionsInput,
        validate_new_connection,
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

    /// The customer gateways of the tests: cgw-1 and cgw-2, ASN 65530, cgw-2 with an AuthKey.
    fn cgw(id: &str) -> Option<CustomerGateway> {
        let last = match id {
            "cgw-1" => 11,
            "cgw-2" => 12,
            _ => return None,
        };
        Some(CustomerGateway {
            customer_gateway_id: id.into(),
            name: String::new(),
            description: String::new(),
            ip_address: Ipv4Addr::new(192, 0, 2, last),
            asn: Some(65530),
            auth_key: (id == "cgw-2").then(|| "md5-secret".into()),
            create_time: 0,
            resource_group_id: String::new(),
            tags: vec![],
        })
    }

    fn context<'a>(routes: &'a [VpnRouteEntry], timing: &'a TimingOverrides) -> GatewayContext<'a> {
        GatewayContext {
            routes,
            policy_routes: &[],
            local_networks: LOCAL,
            timing,
        }
    }

    const LOCAL: &[Ipv4Net] = &[Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 16)];

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
        let cgws: Vec<CustomerGateway> = ["cgw-1", "cgw-2"].into_iter().filter_map(cgw).collect();
        let ctx = ConnectionContext {
            gateway: Some(&gateway),
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
        let specs = connection_tunnels(&conn, cgw, &context(&[], &overrides));
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
        let dests: Vec<Ipv4Net> = s.routes.iter().map(|r| r.dest).collect();
        assert_eq!(
            dests, s.remote_subnet,
            "protected networks are routed into the tunnel"
        );
        assert!(s.effect_immediately);
        assert_eq!(s.ike, t.tunnel_ike_config);
        assert_eq!(s.timing.dpd_timeout, Duration::from_secs(8));
        assert_eq!(s.bgp, None, "BGP is off by default");
        assert_eq!(s.health, None, "the health check is off by default");
    }

    #[test]
    fn a_single_tunnel_carries_its_connections_health_check() {
        let conn = connection(ConnectionInput {
            health_check_config: Some(HealthCheckInput {
                enable: s("true"),
                sip: s("10.0.1.254"),
                dip: s("192.168.10.2"),
                interval: s("2"),
                retry: s("3"),
                ..Default::default()
            }),
            ..single("10.0.1.0/24", "192.168.10.0/24")
        });
        let specs = connection_tunnels(&conn, cgw, &context(&[], &TimingOverrides::default()));
        assert_eq!(
            specs[0].health,
            Some(HealthSpec {
                sip: Ipv4Addr::new(10, 0, 1, 254),
                dip: Ipv4Addr::new(192, 168, 10, 2),
                interval: Duration::from_secs(2),
                retry: 3,
                revoke_routes: true,
            })
        );
    }

    #[test]
    fn a_bgp_tunnel_peers_with_the_other_host_of_its_tunnel_cidr() {
        let tunnel = |cgw: &str, role: &str, cidr: &str, ip: &str| TunnelOptionsInput {
            customer_gateway_id: s(cgw),
            role: s(role),
            tunnel_bgp_config: Some(BgpConfigInput {
                local_asn: s("65531"),
                tunnel_cidr: s(cidr),
                local_bgp_ip: s(ip),
                ..Default::default()
            }),
            ..Default::default()
        };
        let conn = connection(ConnectionInput {
            local_subnet: s("0.0.0.0/0"),
            remote_subnet: s("0.0.0.0/0"),
            enable_tunnels_bgp: s("true"),
            tunnel_options_specification: vec![
                tunnel("cgw-1", "master", "169.254.10.0/30", "169.254.10.1"),
                tunnel("cgw-2", "slave", "169.254.20.0/30", "169.254.20.2"),
            ],
            ..Default::default()
        });
        let specs = connection_tunnels(&conn, cgw, &context(&[], &TimingOverrides::default()));
        let bgp: Vec<_> = specs.iter().map(|s| s.bgp.clone().unwrap()).collect();
        assert_eq!(
            bgp[0],
            BgpPeering {
                gateway_id: "vpn-1".into(),
                local_asn: 65531,
                peer_asn: 65530,
                local_ip: Ipv4Addr::new(169, 254, 10, 1),
                peer_ip: Ipv4Addr::new(169, 254, 10, 2),
                md5_key: None,
                advertise: LOCAL.to_vec(),
            }
        );
        assert_eq!(bgp[1].local_ip, Ipv4Addr::new(169, 254, 20, 2));
        assert_eq!(
            bgp[1].peer_ip,
            Ipv4Addr::new(169, 254, 20, 1),
            "the other host, whichever it is"
        );
        assert_eq!(
            bgp[1].md5_key.as_deref(),
            Some("md5-secret"),
            "the customer gateway's AuthKey"
        );
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
        let specs = connection_tunnels(&conn, cgw, &context(&[], &TimingOverrides::default()));
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
        let mut standby = entry("10.10.0.0/16", &conn.vpn_connection_id);
        standby.weight = 0;
        let routes = [
            entry("192.168.0.0/16", &conn.vpn_connection_id),
            entry("172.16.0.0/12", "vco-other"),
            standby,
        ];
        let policy = VpnPbrRouteEntry {
            vpn_gateway_id: conn.vpn_gateway_id.clone().unwrap_or_default(),
            route_source: "10.0.2.0/24".parse().unwrap(),
            route_dest: "192.168.0.0/16".parse().unwrap(),
            next_hop: conn.vpn_connection_id.clone(),
            weight: 100,
            priority: 5,
            publish_vpc: false,
            description: String::new(),
            create_time: 0,
        };
        let timing = TimingOverrides::default();
        let gw = GatewayContext {
            policy_routes: std::slice::from_ref(&policy),
            ..context(&routes, &timing)
        };
        let specs = connection_tunnels(&conn, cgw, &gw);
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let mut expected = vec![
            RouteRule::from(net("192.168.0.0/16")),
            RouteRule {
                weight: 0,
                ..RouteRule::from(net("10.10.0.0/16"))
            },
            RouteRule {
                source: Some(net("10.0.2.0/24")),
                priority: 5,
                ..RouteRule::from(net("192.168.0.0/16"))
            },
        ];
        expected.sort();
        assert_eq!(
            specs[0].routes, expected,
            "the connection's own entries, weights and policies"
        );
    }

    #[test]
    fn a_tunnel_without_its_customer_gateway_is_left_out() {
        let conn = connection(single("10.0.1.0/24", "192.168.10.0/24"));
        let specs = connection_tunnels(&conn, |_| None, &context(&[], &TimingOverrides::default()));
        assert!(specs.is_empty());
    }
}
