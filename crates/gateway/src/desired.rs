//! What tunnels the stored resources ask for: a connection's tunnel options become tunnel specs,
//! on the VPN gateway or the transit router the connection is attached to.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::Ipv4Net;
use strait_dataplane::RouteRule;
use strait_model::{
    AttachedResource, BgpConfig, CustomerGateway, HealthCheckConfig, HealthCheckPolicy, Role,
    TransitRouterAttachment, VpnConnection, VpnPbrRouteEntry, VpnRouteEntry,
};

use crate::{BgpPeering, HealthSpec, Timing, TimingOverrides, TunnelSpec};

/// What a connection's tunnels take from the VPN gateway or transit router they run on.
#[derive(Debug, Clone, Copy)]
pub struct GatewayContext<'a> {
    /// The gateway's destination route entries (those pointing at a connection go into it).
    pub routes: &'a [VpnRouteEntry],
    /// The gateway's policy route entries (likewise).
    pub policy_routes: &'a [VpnPbrRouteEntry],
    /// The local networks advertised to BGP peers: the VPN gateway's VPC CIDRs, or what a transit
    /// router's other propagating attachments put into its table (VPC CIDRs, protected remote
    /// networks).
    pub local_networks: &'a [Ipv4Net],
    /// Timer overrides.
    pub timing: &'a TimingOverrides,
    /// The transit router attachment of a connection attached to one (its three options).
    pub attachment: Option<&'a TransitRouterAttachment>,
}

/// The transit routers' attachments of every account, as the reconciler looks them up.
#[derive(Debug, Default)]
pub struct TransitRouters {
    /// VPN attachments by (connection owner's account, connection id).
    connections: HashMap<(String, String), TransitRouterAttachment>,
    /// The local networks of its router's table each VPN attachment's peers are advertised.
    advertised: HashMap<String, Vec<Ipv4Net>>,
}

impl TransitRouters {
    /// Indexes `attachments`: a VPC attachment's networks are `vpcs[resource_id]`, a VPN
    /// attachment's are `protected(owner account, connection id)`, its connection's remote
    /// networks when it protects data flows (not 0.0.0.0/0).
    pub fn new(
        attachments: impl IntoIterator<Item = TransitRouterAttachment>,
        vpcs: &HashMap<String, Vec<Ipv4Net>>,
        protected: impl Fn(&str, &str) -> Vec<Ipv4Net>,
    ) -> Self {
        // The networks each propagating attachment puts into its router's table.
        let mut tables: HashMap<String, Vec<(String, Vec<Ipv4Net>)>> = HashMap::new();
        let mut connections = HashMap::new();
        for a in attachments {
            if a.route_table_propagation_enabled {
                let nets = match a.resource_type {
                    AttachedResource::Vpc => vpcs.get(&a.resource_id).cloned().unwrap_or_default(),
                    AttachedResource::Vpn => protected(&a.resource_owner_id, &a.resource_id),
                };
                let table = tables.entry(a.transit_router_id.clone()).or_default();
                table.push((a.transit_router_attachment_id.clone(), nets));
            }
            if a.resource_type == AttachedResource::Vpn {
                connections.insert((a.resource_owner_id.clone(), a.resource_id.clone()), a);
            }
        }
        // A connection's peers are advertised the networks of the router's other attachments.
        let advertised = connections
            .values()
            .map(|a| {
                let others = tables.get(&a.transit_router_id).into_iter().flatten();
                let mut nets: Vec<Ipv4Net> = others
                    .filter(|(id, _)| *id != a.transit_router_attachment_id)
                    .flat_map(|(_, nets)| nets.iter().copied())
                    .collect();
                nets.sort();
                nets.dedup();
                (a.transit_router_attachment_id.clone(), nets)
            })
            .collect();
        TransitRouters {
            connections,
            advertised,
        }
    }

    /// The context of `conn` (of `account`) when it is attached to a transit router: none when
    /// no attachment of its transit router holds it.
    pub fn context<'a>(
        &'a self,
        account: &str,
        conn: &VpnConnection,
        timing: &'a TimingOverrides,
    ) -> Option<GatewayContext<'a>> {
        let tr = conn.transit_router_id.as_deref()?;
        let attachment = self
            .connections
            .get(&(account.to_owned(), conn.vpn_connection_id.clone()))
            .filter(|a| a.transit_router_id == tr)?;
        Some(GatewayContext {
            routes: &[],
            policy_routes: &[],
            local_networks: self
                .advertised
                .get(&attachment.transit_router_attachment_id)
                .map_or(&[][..], Vec::as_slice),
            timing,
            attachment: Some(attachment),
        })
    }
}

/// Where a connection's tunnels run and what its routes may do there.
struct Placement {
    /// The VPN gateway or transit router id.
    domain: String,
    /// Its routes enter the domain's table ([`BgpPeering::propagate`]).
    propagate: bool,
    /// Its BGP peers are advertised the domain's table ([`BgpPeering::publish`]).
    publish: bool,
    /// What arrives through it is forwarded ([`TunnelSpec::forward_inbound`]).
    forward_inbound: bool,
}

impl Placement {
    /// A VPN gateway connection has every option on; a transit router's, its attachment's.
    fn of(conn: &VpnConnection, gw: &GatewayContext<'_>) -> Option<Placement> {
        if let Some(domain) = &conn.vpn_gateway_id {
            return Some(Placement {
                domain: domain.clone(),
                propagate: true,
                publish: true,
                forward_inbound: true,
            });
        }
        let a = gw
            .attachment
            .filter(|a| conn.transit_router_id.as_ref() == Some(&a.transit_router_id))?;
        Some(Placement {
            domain: a.transit_router_id.clone(),
            propagate: a.route_table_propagation_enabled,
            publish: a.auto_publish_route_enabled,
            forward_inbound: a.route_table_association_enabled,
        })
    }
}

/// The tunnels `conn` runs: one per tunnel option whose customer gateway `customer_gateway`
/// finds, on the tunnel's own gateway IP; a slave stands by for its connection's master. A
/// connection on neither a VPN gateway nor (through `gw.attachment`) a transit router runs none.
pub fn connection_tunnels(
    conn: &VpnConnection,
    customer_gateway: impl Fn(&str) -> Option<CustomerGateway>,
    gw: &GatewayContext<'_>,
) -> Vec<TunnelSpec> {
    let Some(place) = Placement::of(conn, gw) else {
        return Vec::new();
    };
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
    // Without propagation the connection's networks stay out of the table.
    routes.retain(|_| place.propagate);
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
                bgp: bgp_peering(&t.tunnel_bgp_config, &cgw, gw.local_networks, &place),
                health: health.clone(),
                forward_inbound: place.forward_inbound,
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
    place: &Placement,
) -> Option<BgpPeering> {
    if !cfg.enable_bgp {
        return None;
    }
    let local_ip = cfg.local_bgp_ip?;
    let peer_ip = cfg.tunnel_cidr?.hosts().find(|&h| h != local_ip)?;
    Some(BgpPeering {
        domain: place.domain.clone(),
        local_asn: cfg.local_asn,
        peer_asn: cgw.asn?,
        local_ip,
        peer_ip,
        md5_key: cgw.auth_key.clone().filter(|k| !k.is_empty()),
        advertise: local_networks.to_vec(),
        propagate: place.propagate,
        publish: place.publish,
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
            attachment: None,
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
                domain: "vpn-1".into(),
                local_asn: 65531,
                peer_asn: 65530,
                local_ip: Ipv4Addr::new(169, 254, 10, 1),
                peer_ip: Ipv4Addr::new(169, 254, 10, 2),
                md5_key: None,
                advertise: LOCAL.to_vec(),
                propagate: true,
                publish: true,
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

    /// A BGP connection (remote 192.168.10.0/24) of account acct-vco attached to tr-1, whose
    /// attachment lives in the transit router owner's account; the seed's options are all on.
    fn on_transit_router() -> (VpnConnection, TransitRouterAttachment) {
        let mut conn = connection(ConnectionInput {
            customer_gateway_id: s("cgw-1"),
            local_subnet: s("10.0.0.0/16"),
            remote_subnet: s("192.168.10.0/24"),
            bgp_config: Some(BgpConfigInput {
                enable_bgp: s("true"),
                local_asn: s("65531"),
                tunnel_cidr: s("169.254.10.0/30"),
                local_bgp_ip: s("169.254.10.1"),
            }),
            ..Default::default()
        });
        conn.vpn_gateway_id = None;
        conn.attach_type = strait_model::AttachType::TransitRouter;
        conn.transit_router_id = s("tr-1");
        let attachment = TransitRouterAttachment {
            transit_router_attachment_id: "tr-attach-vco".into(),
            transit_router_id: "tr-1".into(),
            cen_id: "cen-1".into(),
            resource_type: AttachedResource::Vpn,
            resource_id: conn.vpn_connection_id.clone(),
            resource_owner_id: "acct-vco".into(),
            zone_id: "zone-a".into(),
            auto_publish_route_enabled: true,
            route_table_association_enabled: true,
            route_table_propagation_enabled: true,
            transit_router_attachment_name: String::new(),
            transit_router_attachment_description: String::new(),
            create_time: 0,
            tags: vec![],
        };
        (conn, attachment)
    }

    /// A VPC attachment of tr-1 (vpc-local: 10.0.0.0/16; vpc-other: 172.16.0.0/12).
    fn vpc_attachment(vpc: &str, propagate: bool) -> TransitRouterAttachment {
        TransitRouterAttachment {
            transit_router_attachment_id: format!("tr-attach-{vpc}"),
            resource_type: AttachedResource::Vpc,
            resource_id: vpc.into(),
            resource_owner_id: "acct-tr".into(),
            route_table_propagation_enabled: propagate,
            ..on_transit_router().1
        }
    }

    fn vpcs() -> HashMap<String, Vec<Ipv4Net>> {
        HashMap::from([
            ("vpc-local".to_owned(), LOCAL.to_vec()),
            (
                "vpc-other".to_owned(),
                vec!["172.16.0.0/12".parse().unwrap()],
            ),
        ])
    }

    /// The protected remote networks of connections: acct-vco's have 192.168.10.0/24, acct-x's
    /// 0.0.0.0/0.
    fn protected(account: &str, _vco: &str) -> Vec<Ipv4Net> {
        match account {
            "acct-vco" => vec!["192.168.10.0/24".parse().unwrap()],
            _ => vec![],
        }
    }

    /// The tunnels of `conn` of account acct-vco on the transit routers of `attachments`.
    fn transit_tunnels(
        conn: &VpnConnection,
        attachments: Vec<TransitRouterAttachment>,
    ) -> Vec<TunnelSpec> {
        let routers = TransitRouters::new(attachments, &vpcs(), protected);
        let timing = TimingOverrides::default();
        routers
            .context("acct-vco", conn, &timing)
            .map(|ctx| connection_tunnels(conn, cgw, &ctx))
            .unwrap_or_default()
    }

    #[test]
    fn a_transit_router_connection_runs_in_the_routers_routing_domain() {
        let (conn, attachment) = on_transit_router();
        let vpc = vpc_attachment("vpc-local", true);
        let specs = transit_tunnels(&conn, vec![attachment, vpc]);
        let t = &conn.tunnel_options[0];
        assert_eq!(
            tunnel_ids(&specs),
            vec![(
                t.tunnel_id.as_str(),
                None,
                t.internet_ip,
                Ipv4Addr::new(192, 0, 2, 11)
            )],
            "on the zone address the attachment gave it"
        );
        let s = &specs[0];
        let dests: Vec<Ipv4Net> = s.routes.iter().map(|r| r.dest).collect();
        assert_eq!(dests, vec!["192.168.10.0/24".parse::<Ipv4Net>().unwrap()]);
        assert!(s.forward_inbound);
        assert_eq!(
            s.bgp,
            Some(BgpPeering {
                domain: "tr-1".into(),
                local_asn: 65531,
                peer_asn: 65530,
                local_ip: Ipv4Addr::new(169, 254, 10, 1),
                peer_ip: Ipv4Addr::new(169, 254, 10, 2),
                md5_key: None,
                advertise: LOCAL.to_vec(),
                propagate: true,
                publish: true,
            }),
            "the transit router is the BGP group; its VPC attachment's CIDRs are advertised"
        );
    }

    #[test]
    fn each_attachment_option_switches_its_part_without_renegotiating() {
        let (conn, attachment) = on_transit_router();
        let on = transit_tunnels(&conn, vec![attachment.clone()]);
        let with = |f: fn(&mut TransitRouterAttachment)| {
            let mut a = attachment.clone();
            f(&mut a);
            transit_tunnels(&conn, vec![a]).remove(0)
        };
        let no_propagation = with(|a| a.route_table_propagation_enabled = false);
        assert!(
            no_propagation.routes.is_empty(),
            "its remote subnets leave the table"
        );
        let bgp = no_propagation.bgp.as_ref().unwrap();
        assert!(!bgp.propagate && bgp.publish);
        let no_publish = with(|a| a.auto_publish_route_enabled = false);
        let bgp = no_publish.bgp.as_ref().unwrap();
        assert!(bgp.propagate && !bgp.publish);
        assert_eq!(no_publish.routes, on[0].routes);
        let no_association = with(|a| a.route_table_association_enabled = false);
        assert!(!no_association.forward_inbound);
        assert_eq!(no_association.bgp, on[0].bgp);
        for off in [&no_propagation, &no_publish, &no_association] {
            assert!(off.same_peering(&on[0]), "IKE is not renegotiated: {off:?}");
            let (a, b) = (off.bgp.as_ref().unwrap(), on[0].bgp.as_ref().unwrap());
            assert!(a.same_session(b), "the BGP session stays");
        }
    }

    #[test]
    fn only_propagating_vpc_attachments_are_advertised() {
        let (conn, attachment) = on_transit_router();
        let specs = transit_tunnels(
            &conn,
            vec![
                attachment,
                vpc_attachment("vpc-local", false),
                vpc_attachment("vpc-other", true),
            ],
        );
        let advertised = specs[0].bgp.as_ref().map(|b| b.advertise.clone());
        assert_eq!(advertised, Some(vec!["172.16.0.0/12".parse().unwrap()]));
    }

    #[test]
    fn a_connections_protected_networks_are_advertised_to_the_other_attachments_only() {
        let (conn, static_one) = on_transit_router();
        // A BGP connection of acct-x (0.0.0.0/0 both ways) on the same router.
        let mut bgp_conn = conn.clone();
        bgp_conn.vpn_connection_id = "vco-bgp".into();
        let bgp_one = TransitRouterAttachment {
            transit_router_attachment_id: "tr-attach-bgp".into(),
            resource_id: "vco-bgp".into(),
            resource_owner_id: "acct-x".into(),
            ..static_one.clone()
        };
        let vpc = vpc_attachment("vpc-local", true);
        let advertised =
            |attachments: &[TransitRouterAttachment], account: &str, c: &VpnConnection| {
                let routers = TransitRouters::new(attachments.to_vec(), &vpcs(), protected);
                let timing = TimingOverrides::default();
                let ctx = routers.context(account, c, &timing).unwrap();
                connection_tunnels(c, cgw, &ctx)[0]
                    .bgp
                    .clone()
                    .unwrap()
                    .advertise
            };
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let all = [static_one.clone(), bgp_one.clone(), vpc.clone()];
        assert_eq!(
            advertised(&all, "acct-x", &bgp_conn),
            vec![net("10.0.0.0/16"), net("192.168.10.0/24")],
            "the other connection's remote networks are in the router's table"
        );
        assert_eq!(
            advertised(&all, "acct-vco", &conn),
            vec![net("10.0.0.0/16")],
            "a connection is not advertised its own networks"
        );
        let no_propagation = TransitRouterAttachment {
            route_table_propagation_enabled: false,
            ..static_one
        };
        assert_eq!(
            advertised(&[no_propagation, bgp_one, vpc], "acct-x", &bgp_conn),
            vec![net("10.0.0.0/16")]
        );
    }

    #[test]
    fn an_attachment_is_found_under_the_connection_owners_account_only() {
        let (conn, attachment) = on_transit_router();
        let routers = TransitRouters::new([attachment.clone()], &vpcs(), protected);
        let timing = TimingOverrides::default();
        assert!(
            routers.context("acct-vco", &conn, &timing).is_some(),
            "the owner's connection, attached from the router owner's account"
        );
        assert!(
            routers.context("acct-tr", &conn, &timing).is_none(),
            "a connection of that id in the router owner's account is not the attached one"
        );
        let mut elsewhere = conn.clone();
        elsewhere.transit_router_id = s("tr-2");
        assert!(transit_tunnels(&elsewhere, vec![attachment.clone()]).is_empty());
        assert!(
            transit_tunnels(&conn, vec![]).is_empty(),
            "no attachment: not attached, no tunnels"
        );
        let detached = GatewayContext {
            attachment: None,
            ..context(&[], &timing)
        };
        assert!(connection_tunnels(&conn, cgw, &detached).is_empty());
    }
}
