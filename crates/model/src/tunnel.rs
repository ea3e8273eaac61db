//! A tunnel and its settings (phase 1, phase 2, BGP, health check), with the API's JSON field names.

use crate::algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion, Pfs};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Phase-1 (IKE SA) settings: the API's `IkeConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IkeConfig {
    /// Pre-shared key.
    pub psk: String,
    /// IKE version.
    pub ike_version: IkeVersion,
    /// IKEv1 negotiation mode.
    pub ike_mode: IkeMode,
    /// Encryption algorithm.
    pub ike_enc_alg: EncAlg,
    /// Authentication algorithm (and PRF).
    pub ike_auth_alg: AuthAlg,
    /// DH group.
    pub ike_pfs: DhGroup,
    /// SA lifetime in seconds (0 = never expires).
    pub ike_lifetime: u32,
    /// Our identity (IPv4 address or FQDN).
    pub local_id: String,
    /// The peer's identity (IPv4 address or FQDN).
    pub remote_id: String,
}

/// Phase-2 (IPsec SA) settings: the API's `IpsecConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpsecConfig {
    /// Encryption algorithm.
    pub ipsec_enc_alg: EncAlg,
    /// Authentication algorithm.
    pub ipsec_auth_alg: AuthAlg,
    /// PFS group.
    pub ipsec_pfs: Pfs,
    /// SA lifetime in seconds (0 = never expires).
    pub ipsec_lifetime: u32,
}

impl Default for IpsecConfig {
    fn default() -> Self {
        IpsecConfig {
            ipsec_enc_alg: EncAlg::Aes,
            ipsec_auth_alg: AuthAlg::Sha1,
            ipsec_pfs: Pfs::Group2,
            ipsec_lifetime: 86400,
        }
    }
}

/// BGP settings of a tunnel: the API's `BgpConfig` / `TunnelBgpConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BgpConfig {
    /// Whether BGP runs over this tunnel.
    pub enable_bgp: bool,
    /// Our ASN.
    pub local_asn: u32,
    /// The /30 inside 169.254.0.0/16 that carries the BGP session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_cidr: Option<Ipv4Net>,
    /// Our BGP address, inside the tunnel CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_bgp_ip: Option<Ipv4Addr>,
}

impl BgpConfig {
    /// The cloud's default local ASN.
    pub const DEFAULT_LOCAL_ASN: u32 = 45104;

    /// The peer's BGP address: the other usable address of the /30.
    pub fn peer_bgp_ip(&self) -> Option<Ipv4Addr> {
        let (cidr, local) = (self.tunnel_cidr?, self.local_bgp_ip?);
        cidr.hosts().find(|h| *h != local)
    }
}

impl Default for BgpConfig {
    fn default() -> Self {
        BgpConfig {
            enable_bgp: false,
            local_asn: Self::DEFAULT_LOCAL_ASN,
            tunnel_cidr: None,
            local_bgp_ip: None,
        }
    }
}

/// What a failing health check does to the connection's advertised routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckPolicy {
    /// Withdraw the connection's routes while the check fails (default).
    RevokeRoute,
    /// Keep the routes.
    ReserveRoute,
}

/// ICMP health check of a single-tunnel connection: the API's `HealthCheckConfig` / `VcoHealthCheck`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckConfig {
    /// Whether the check runs.
    pub enable: bool,
    /// Destination (on-premises) address that must answer ICMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dip: Option<Ipv4Addr>,
    /// Source (cloud-side) address of the probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<Ipv4Addr>,
    /// Seconds between probes.
    pub interval: u32,
    /// Failed probes before the check counts as failed.
    pub retry: u32,
    /// Route action while the check fails.
    pub policy: HealthCheckPolicy,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            enable: false,
            dip: None,
            sip: None,
            interval: 3,
            retry: 3,
            policy: HealthCheckPolicy::RevokeRoute,
        }
    }
}

/// Role of a tunnel in a dual-tunnel connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The active tunnel.
    Master,
    /// The standby tunnel.
    Slave,
}

/// One IKE/IPsec tunnel of a connection: the API's `TunnelOptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tunnel {
    /// `tun-` id.
    pub tunnel_id: String,
    /// 1 or 2.
    pub tunnel_index: u8,
    /// Master (active) or slave (standby).
    pub role: Role,
    /// The customer gateway this tunnel reaches.
    pub customer_gateway_id: String,
    /// Our gateway address for this tunnel.
    pub internet_ip: Ipv4Addr,
    /// The zone (gateway node) the tunnel runs in.
    pub zone_no: String,
    /// Dead peer detection.
    pub enable_dpd: bool,
    /// NAT traversal (ESP in UDP 4500).
    pub enable_nat_traversal: bool,
    /// Phase-1 settings.
    pub tunnel_ike_config: IkeConfig,
    /// Phase-2 settings.
    pub tunnel_ipsec_config: IpsecConfig,
    /// BGP settings.
    pub tunnel_bgp_config: BgpConfig,
}
