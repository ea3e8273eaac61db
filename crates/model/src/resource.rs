//! The API's resources: VPN gateways, customer gateways, connections, route entries, tags.

use crate::tunnel::{HealthCheckConfig, Tunnel};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key (required, not empty).
    pub key: String,
    /// Tag value (may be empty).
    #[serde(default)]
    pub value: String,
}

/// Whether a gateway or connection runs over the internet or a private line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    /// Over the internet (default).
    #[default]
    Public,
    /// Over a private line.
    Private,
}

/// Lifecycle status of a VPN gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayStatus {
    /// Being set up.
    Init,
    /// Serving.
    Active,
    /// A change is being applied.
    Updating,
    /// Being removed.
    Deleting,
}

/// A VPN gateway: one or two gateway addresses that terminate tunnels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpnGateway {
    /// `vpn-` id.
    pub vpn_gateway_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// The configured VPC (local networks) behind the gateway.
    pub vpc_id: String,
    /// The zone of the primary address.
    pub v_switch_id: String,
    /// The primary gateway address.
    pub internet_ip: Ipv4Addr,
    /// The zone of the second address, for dual-tunnel connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disaster_recovery_v_switch_id: Option<String>,
    /// The second gateway address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disaster_recovery_internet_ip: Option<Ipv4Addr>,
    /// Public or private.
    pub network_type: NetworkType,
    /// Lifecycle status.
    pub status: GatewayStatus,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Resource group (may be empty).
    #[serde(default)]
    pub resource_group_id: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The on-premises device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerGateway {
    /// `cgw-` id.
    pub customer_gateway_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// The device's address.
    pub ip_address: Ipv4Addr,
    /// The device's ASN, needed for BGP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// BGP MD5 key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<String>,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Resource group (may be empty).
    #[serde(default)]
    pub resource_group_id: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// What a connection is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachType {
    /// A VPN gateway.
    #[serde(rename = "VPNGW")]
    VpnGateway,
    /// A transit router (CEN).
    #[serde(rename = "CEN")]
    TransitRouter,
    /// Nothing yet.
    #[serde(rename = "NO_ASSOCIATED")]
    None,
}

/// A list of IPv4 CIDRs, written comma separated as the API does (`10.0.0.0/8,192.168.0.0/16`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubnetList(pub Vec<Ipv4Net>);

impl SubnetList {
    /// Whether the list is exactly `0.0.0.0/0` (destination routing).
    pub fn is_any(&self) -> bool {
        matches!(self.0.as_slice(), [n] if n.prefix_len() == 0)
    }
}

impl fmt::Display for SubnetList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl FromStr for SubnetList {
    type Err = ipnet::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(|part| part.trim().parse())
            .collect::<Result<_, _>>()
            .map(SubnetList)
    }
}

impl TryFrom<String> for SubnetList {
    type Error = ipnet::AddrParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SubnetList> for String {
    fn from(l: SubnetList) -> String {
        l.to_string()
    }
}

/// An IPsec-VPN connection with its one (single-tunnel) or two (dual-tunnel) tunnels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpnConnection {
    /// `vco-` id.
    pub vpn_connection_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub name: String,
    /// What the connection is attached to.
    pub attach_type: AttachType,
    /// The VPN gateway, when attached to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway_id: Option<String>,
    /// The transit router, when attached to one (possibly another account's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_router_id: Option<String>,
    /// Phase-2 local traffic selectors.
    pub local_subnet: SubnetList,
    /// Phase-2 remote traffic selectors.
    pub remote_subnet: SubnetList,
    /// Negotiate at once (true) or when traffic arrives (false).
    pub effect_immediately: bool,
    /// Add routes for the remote subnets automatically.
    pub auto_config_route: bool,
    /// Public or private.
    pub network_type: NetworkType,
    /// Health check (single-tunnel connections only).
    pub vco_health_check: HealthCheckConfig,
    /// One tunnel in single-tunnel mode, two (index 1 and 2) in dual-tunnel mode.
    pub tunnel_options: Vec<Tunnel>,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Resource group (may be empty).
    #[serde(default)]
    pub resource_group_id: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl VpnConnection {
    /// Whether this is a dual-tunnel connection.
    pub fn is_dual_tunnel(&self) -> bool {
        self.tunnel_options.len() > 1
    }

    /// Whether BGP runs on any tunnel.
    pub fn bgp_enabled(&self) -> bool {
        self.tunnel_options
            .iter()
            .any(|t| t.tunnel_bgp_config.enable_bgp)
    }

    /// The tunnel with this id.
    pub fn tunnel(&self, tunnel_id: &str) -> Option<&Tunnel> {
        self.tunnel_options
            .iter()
            .find(|t| t.tunnel_id == tunnel_id)
    }

    /// Every customer gateway the connection's tunnels use, without repeats.
    pub fn customer_gateway_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for t in &self.tunnel_options {
            if !ids.contains(&t.customer_gateway_id.as_str()) {
                ids.push(&t.customer_gateway_id);
            }
        }
        ids
    }
}

/// A destination-based route: traffic to `RouteDest` goes to the connection `NextHop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpnRouteEntry {
    /// The gateway owning the route.
    pub vpn_gateway_id: String,
    /// Destination CIDR.
    pub route_dest: Ipv4Net,
    /// The connection id traffic is sent to.
    pub next_hop: String,
    /// 100 (active) or 0 (standby).
    pub weight: u32,
    /// Whether the route is advertised to the VPC.
    pub publish_vpc: bool,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
}

impl VpnRouteEntry {
    /// The key that identifies the route within its gateway (destination and next hop).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.vpn_gateway_id, self.route_dest, self.next_hop
        )
    }
}

/// A policy-based route: traffic from `RouteSource` to `RouteDest` goes to the connection `NextHop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpnPbrRouteEntry {
    /// The gateway owning the route.
    pub vpn_gateway_id: String,
    /// Source CIDR.
    pub route_source: Ipv4Net,
    /// Destination CIDR.
    pub route_dest: Ipv4Net,
    /// The connection id traffic is sent to.
    pub next_hop: String,
    /// 100 (active) or 0 (standby).
    pub weight: u32,
    /// 1..=100; lower wins.
    pub priority: u32,
    /// Whether the route is advertised to the VPC.
    pub publish_vpc: bool,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
}

impl VpnPbrRouteEntry {
    /// The key that identifies the route within its gateway (source, destination, next hop).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.vpn_gateway_id, self.route_source, self.route_dest, self.next_hop
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion, Pfs};
    use crate::tunnel::{BgpConfig, IkeConfig, IpsecConfig, Role};

    fn tunnel(index: u8, cidr: &str, local: &str) -> Tunnel {
        Tunnel {
            tunnel_id: crate::IdKind::Tunnel.new_id(),
            tunnel_index: index,
            role: if index == 1 {
                Role::Master
            } else {
                Role::Slave
            },
            customer_gateway_id: "cgw-aaaaaaaaaaaaaaaaaaaa".into(),
            internet_ip: Ipv4Addr::new(203, 0, 113, index),
            zone_no: format!("zone-{index}"),
            enable_dpd: true,
            enable_nat_traversal: true,
            tunnel_ike_config: IkeConfig {
                psk: "s3cret!".into(),
                ike_version: IkeVersion::V2,
                ike_mode: IkeMode::Main,
                ike_enc_alg: EncAlg::Aes256,
                ike_auth_alg: AuthAlg::Sha256,
                ike_pfs: DhGroup::Group14,
                ike_lifetime: 86400,
                local_id: "203.0.113.1".into(),
                remote_id: "198.51.100.1".into(),
            },
            tunnel_ipsec_config: IpsecConfig {
                ipsec_pfs: Pfs::Disabled,
                ..IpsecConfig::default()
            },
            tunnel_bgp_config: BgpConfig {
                enable_bgp: true,
                local_asn: 65531,
                tunnel_cidr: Some(cidr.parse().unwrap()),
                local_bgp_ip: Some(local.parse().unwrap()),
            },
        }
    }

    #[test]
    fn dual_tunnel_connection_round_trips_with_api_field_names() {
        let conn = VpnConnection {
            vpn_connection_id: crate::IdKind::VpnConnection.new_id(),
            name: "dc1".into(),
            attach_type: AttachType::VpnGateway,
            vpn_gateway_id: Some("vpn-aaaaaaaaaaaaaaaaaaaa".into()),
            transit_router_id: None,
            local_subnet: "10.0.0.0/16".parse().unwrap(),
            remote_subnet: "192.168.0.0/24, 192.168.1.0/24".parse().unwrap(),
            effect_immediately: true,
            auto_config_route: true,
            network_type: NetworkType::Public,
            vco_health_check: HealthCheckConfig::default(),
            tunnel_options: vec![
                tunnel(1, "169.254.10.0/30", "169.254.10.1"),
                tunnel(2, "169.254.11.0/30", "169.254.11.1"),
            ],
            create_time: 1_700_000_000_000,
            resource_group_id: String::new(),
            tags: vec![Tag {
                key: "env".into(),
                value: String::new(),
            }],
        };
        let json = serde_json::to_value(&conn).unwrap();
        assert_eq!(json["AttachType"], "VPNGW");
        assert_eq!(json["RemoteSubnet"], "192.168.0.0/24,192.168.1.0/24");
        let t0 = &json["TunnelOptions"][0];
        assert_eq!(t0["Role"], "master");
        assert_eq!(t0["TunnelIkeConfig"]["IkePfs"], "group14");
        assert_eq!(t0["TunnelIpsecConfig"]["IpsecPfs"], "disabled");
        assert_eq!(t0["TunnelBgpConfig"]["TunnelCidr"], "169.254.10.0/30");
        assert_eq!(json["VcoHealthCheck"]["Policy"], "revoke_route");
        let back: VpnConnection = serde_json::from_value(json).unwrap();
        assert_eq!(back, conn);
        assert!(back.is_dual_tunnel() && back.bgp_enabled());
        assert_eq!(
            back.customer_gateway_ids(),
            vec!["cgw-aaaaaaaaaaaaaaaaaaaa"]
        );
        assert_eq!(
            back.tunnel_options[1].tunnel_bgp_config.peer_bgp_ip(),
            Some(Ipv4Addr::new(169, 254, 11, 2))
        );
    }

    #[test]
    fn subnet_lists_parse_the_api_form_and_reject_garbage() {
        let any: SubnetList = "0.0.0.0/0".parse().unwrap();
        assert!(any.is_any());
        let two: SubnetList = "10.0.0.0/8,192.168.0.0/16".parse().unwrap();
        assert!(!two.is_any());
        assert_eq!(two.0.len(), 2);
        assert!("10.0.0.0/33".parse::<SubnetList>().is_err());
        assert!("10.0.0.0/8,".parse::<SubnetList>().is_err());
        assert!("".parse::<SubnetList>().is_err());
    }
}
