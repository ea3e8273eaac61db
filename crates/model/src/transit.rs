//! Transit routers (the self-hosted CEN): CEN instances, transit routers, their attachments and
//! cross-account grants of IPsec-VPN connections, with the CBN API's field names.

use crate::resource::{Tag, VpnConnection};
use crate::status::BgpRoute;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// A CEN instance: the container transit routers belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cen {
    /// `cen-` id.
    pub cen_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A transit router: connections and local networks attach to it; it has one default route table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransitRouter {
    /// `tr-` id.
    pub transit_router_id: String,
    /// The CEN instance it belongs to.
    pub cen_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub transit_router_name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub transit_router_description: String,
    /// `vtb-` id of its default route table.
    pub route_table_id: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// What an attachment connects to a transit router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttachedResource {
    /// An IPsec-VPN connection (`vco-`), possibly of another account.
    #[serde(rename = "VPN")]
    Vpn,
    /// A local network (a configured VPC).
    #[serde(rename = "VPC")]
    Vpc,
}

impl AttachedResource {
    /// The CBN API's name of the kind (`VPN`, `VPC`).
    pub fn as_str(self) -> &'static str {
        match self {
            AttachedResource::Vpn => "VPN",
            AttachedResource::Vpc => "VPC",
        }
    }
}

/// A transit router attachment, kept in the transit router owner's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransitRouterAttachment {
    /// `tr-attach-` id.
    pub transit_router_attachment_id: String,
    /// The transit router.
    pub transit_router_id: String,
    /// Its CEN instance.
    pub cen_id: String,
    /// What is attached.
    pub resource_type: AttachedResource,
    /// The connection or VPC id.
    pub resource_id: String,
    /// The account owning the attached resource (the connection's owner for cross-account ones).
    pub resource_owner_id: String,
    /// The zone whose gateway address the attached connection's tunnels use.
    pub zone_id: String,
    /// Advertise the transit router's routes to the connection's BGP peers.
    pub auto_publish_route_enabled: bool,
    /// Associated with the default route table (traffic arriving through it is forwarded by that table).
    pub route_table_association_enabled: bool,
    /// Its routes (destination and BGP-learned, or the VPC's CIDRs) propagate into the default route table.
    pub route_table_propagation_enabled: bool,
    /// Name (may be empty).
    #[serde(default)]
    pub transit_router_attachment_name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub transit_router_attachment_description: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Who pays for a cross-account attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderType {
    /// The CEN owner (default).
    #[default]
    PayByCenOwner,
    /// The connection's owner.
    PayByResourceOwner,
}

/// A grant letting another account's CEN attach a connection, kept in the connection owner's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrossAccountGrant {
    /// The granted connection.
    pub vpn_connection_id: String,
    /// The account granted (owner of the CEN).
    pub bind_uid: String,
    /// The CEN instance granted.
    pub bind_instance: String,
    /// Who pays.
    pub order_type: OrderType,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
}

impl CrossAccountGrant {
    /// The key that identifies the grant within its account (connection, account, CEN).
    pub fn key(&self) -> String {
        Self::key_of(&self.vpn_connection_id, &self.bind_uid, &self.bind_instance)
    }

    /// The key of the grant of connection `vpn_connection_id` to account `bind_uid`'s CEN `bind_instance`.
    pub fn key_of(vpn_connection_id: &str, bind_uid: &str, bind_instance: &str) -> String {
        format!("{vpn_connection_id}|{bind_uid}|{bind_instance}")
    }
}

/// What one attachment offers its transit router's route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentRoutes<'a> {
    /// A local network: its CIDR blocks.
    Vpc(&'a [Ipv4Net]),
    /// A connection with the routes its tunnels' BGP peers announce (as observed).
    Vpn {
        /// The attached connection.
        connection: &'a VpnConnection,
        /// The routes learned over BGP, from every tunnel.
        bgp_routes: &'a [BgpRoute],
    },
}

/// How a route of a transit router's table was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOrigin {
    /// A local network's CIDR block.
    Vpc,
    /// Announced by a connection's BGP peer.
    Bgp,
    /// A connection's `RemoteSubnet` (protected data flows).
    Static,
}

/// One entry of a transit router's route table; several with one destination are ECMP paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitRouteEntry {
    /// The destination prefix.
    pub destination: Ipv4Net,
    /// The next hop: the attachment the route was learned from.
    pub attachment_id: String,
    /// The attached resource (`vco-` or VPC id).
    pub resource_id: String,
    /// What the resource is.
    pub resource_type: AttachedResource,
    /// How the route was learned.
    pub origin: RouteOrigin,
    /// The AS path (BGP routes; empty otherwise).
    pub as_path: Vec<u32>,
}

/// The default route table of a transit router, computed from its attachments: every attachment
/// with propagation on contributes its VPC's CIDR blocks, or its connection's BGP-learned routes
/// and, with protected data flows (a `RemoteSubnet` other than 0.0.0.0/0), its remote subnets.
/// A prefix appears once per attachment; entries are ordered by destination, then attachment.
pub fn route_table(
    attachments: &[(&TransitRouterAttachment, AttachmentRoutes<'_>)],
) -> Vec<TransitRouteEntry> {
    let mut entries: Vec<TransitRouteEntry> = Vec::new();
    for (a, routes) in attachments
        .iter()
        .filter(|(a, _)| a.route_table_propagation_enabled)
    {
        let learned: Vec<(Ipv4Net, RouteOrigin, Vec<u32>)> = match routes {
            AttachmentRoutes::Vpc(cidrs) => cidrs
                .iter()
                .map(|c| (*c, RouteOrigin::Vpc, Vec::new()))
                .collect(),
            AttachmentRoutes::Vpn {
                connection,
                bgp_routes,
            } => {
                let statics = Some(&connection.remote_subnet)
                    .filter(|s| !s.is_any())
                    .map(|s| s.0.as_slice())
                    .unwrap_or_default();
                bgp_routes
                    .iter()
                    .map(|r| (r.route_dest, RouteOrigin::Bgp, r.as_path.clone()))
                    .chain(
                        statics
                            .iter()
                            .map(|n| (*n, RouteOrigin::Static, Vec::new())),
                    )
                    .collect()
            }
        };
        let first = entries.len();
        for (destination, origin, as_path) in learned {
            let seen = entries
                .get(first..)
                .is_some_and(|mine| mine.iter().any(|e| e.destination == destination));
            if !seen {
                entries.push(TransitRouteEntry {
                    destination,
                    attachment_id: a.transit_router_attachment_id.clone(),
                    resource_id: a.resource_id.clone(),
                    resource_type: a.resource_type,
                    origin,
                    as_path,
                });
            }
        }
    }
    entries.sort_by_key(|e| e.destination);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AttachType, NetworkType};
    use crate::tunnel::HealthCheckConfig;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn attachment(
        id: &str,
        kind: AttachedResource,
        resource: &str,
        propagate: bool,
    ) -> TransitRouterAttachment {
        TransitRouterAttachment {
            transit_router_attachment_id: id.into(),
            transit_router_id: "tr-1".into(),
            cen_id: "cen-1".into(),
            resource_type: kind,
            resource_id: resource.into(),
            resource_owner_id: "1".into(),
            zone_id: "zone-a".into(),
            auto_publish_route_enabled: true,
            route_table_association_enabled: true,
            route_table_propagation_enabled: propagate,
            transit_router_attachment_name: String::new(),
            transit_router_attachment_description: String::new(),
            create_time: 0,
            tags: vec![],
        }
    }

    fn connection(id: &str, remote: &str) -> VpnConnection {
        VpnConnection {
            vpn_connection_id: id.into(),
            name: String::new(),
            attach_type: AttachType::TransitRouter,
            vpn_gateway_id: None,
            transit_router_id: Some("tr-1".into()),
            local_subnet: "0.0.0.0/0".parse().unwrap(),
            remote_subnet: remote.parse().unwrap(),
            effect_immediately: true,
            auto_config_route: true,
            network_type: NetworkType::Public,
            vco_health_check: HealthCheckConfig::default(),
            tunnel_options: vec![],
            create_time: 0,
            resource_group_id: String::new(),
            tags: vec![],
        }
    }

    fn bgp(dest: &str) -> BgpRoute {
        BgpRoute {
            route_dest: net(dest),
            as_path: vec![65530],
        }
    }

    /// (destination, attachment, origin) of each entry.
    fn rows(entries: &[TransitRouteEntry]) -> Vec<(String, &str, RouteOrigin)> {
        entries
            .iter()
            .map(|e| {
                (
                    e.destination.to_string(),
                    e.attachment_id.as_str(),
                    e.origin,
                )
            })
            .collect()
    }

    #[test]
    fn seed_003_three_bgp_connections_give_three_next_hops_per_prefix_and_two_without_one() {
        let learned = [
            bgp("192.168.0.0/24"),
            bgp("192.168.1.0/24"),
            bgp("192.168.2.0/24"),
        ];
        let conns: Vec<VpnConnection> = (1..=3)
            .map(|i| connection(&format!("vco-{i}"), "0.0.0.0/0"))
            .collect();
        let vpc = [net("10.0.0.0/16")];
        let mut atts: Vec<TransitRouterAttachment> = (1..=3)
            .map(|i| {
                attachment(
                    &format!("a{i}"),
                    AttachedResource::Vpn,
                    &format!("vco-{i}"),
                    true,
                )
            })
            .collect();
        atts.push(attachment("v", AttachedResource::Vpc, "vpc-local", true));
        let table = |atts: &[TransitRouterAttachment]| {
            let mut inputs: Vec<(&TransitRouterAttachment, AttachmentRoutes<'_>)> = atts
                .iter()
                .zip(&conns)
                .map(|(a, c)| {
                    (
                        a,
                        AttachmentRoutes::Vpn {
                            connection: c,
                            bgp_routes: &learned,
                        },
                    )
                })
                .collect();
            if let Some(v) = atts.last() {
                inputs.push((v, AttachmentRoutes::Vpc(&vpc)));
            }
            route_table(&inputs)
        };
        let all = table(&atts);
        assert_eq!(all.len(), 10);
        assert_eq!(rows(&all)[0], ("10.0.0.0/16".into(), "v", RouteOrigin::Vpc));
        for prefix in ["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24"] {
            let hops: Vec<&str> = all
                .iter()
                .filter(|e| e.destination == net(prefix))
                .map(|e| e.attachment_id.as_str())
                .collect();
            assert_eq!(hops, ["a1", "a2", "a3"], "{prefix}");
        }
        let e = &all[1];
        assert_eq!(
            (e.resource_id.as_str(), e.resource_type),
            ("vco-1", AttachedResource::Vpn)
        );
        assert_eq!(
            (e.origin, e.as_path.as_slice()),
            (RouteOrigin::Bgp, &[65530][..])
        );

        atts[1].route_table_propagation_enabled = false;
        let fewer = table(&atts);
        assert_eq!(fewer.len(), 7);
        assert!(fewer.iter().all(|e| e.attachment_id != "a2"));
    }

    #[test]
    fn protected_data_flows_add_remote_subnets_once_per_attachment() {
        let conn = connection("vco-1", "192.168.0.0/24,192.168.9.0/24");
        let learned = [bgp("192.168.0.0/24"), bgp("172.16.0.0/12")];
        let a = attachment("a1", AttachedResource::Vpn, "vco-1", true);
        let table = route_table(&[(
            &a,
            AttachmentRoutes::Vpn {
                connection: &conn,
                bgp_routes: &learned,
            },
        )]);
        assert_eq!(
            rows(&table),
            vec![
                ("172.16.0.0/12".into(), "a1", RouteOrigin::Bgp),
                ("192.168.0.0/24".into(), "a1", RouteOrigin::Bgp),
                ("192.168.9.0/24".into(), "a1", RouteOrigin::Static),
            ]
        );
        // Destination routing (0.0.0.0/0) contributes nothing without BGP.
        let any = connection("vco-2", "0.0.0.0/0");
        assert!(
            route_table(&[(
                &a,
                AttachmentRoutes::Vpn {
                    connection: &any,
                    bgp_routes: &[],
                },
            )])
            .is_empty()
        );
    }
}
