//! The DownloadVpnConnectionConfig response body's `VpnConnectionConfig`, with the SDK's field names.

use crate::view::{PeerView, TunnelView};
use serde::Serialize;

/// Phase-1 settings for the device: the SDK's `IkeConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerIkeConfig {
    /// Pre-shared key.
    pub psk: String,
    /// `ikev1` or `ikev2`.
    pub ike_version: String,
    /// `main` or `aggressive`.
    pub ike_mode: String,
    /// Encryption algorithm.
    pub ike_enc_alg: String,
    /// Authentication algorithm.
    pub ike_auth_alg: String,
    /// DH group.
    pub ike_pfs: String,
    /// SA lifetime in seconds.
    pub ike_lifetime: u32,
    /// The device's identity.
    pub local_id: String,
    /// Strait's identity.
    pub remote_id: String,
}

/// Phase-2 settings for the device: the SDK's `IpsecConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerIpsecConfig {
    /// Encryption algorithm.
    pub ipsec_enc_alg: String,
    /// Authentication algorithm.
    pub ipsec_auth_alg: String,
    /// PFS group or `disabled`.
    pub ipsec_pfs: String,
    /// SA lifetime in seconds.
    pub ipsec_lifetime: u32,
}

/// One tunnel of a dual-tunnel connection: the SDK's `TunnelsConfig.TunnelConfig[]` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerTunnelConfig {
    /// `tun-` id.
    pub tunnel_id: String,
    /// The device's address.
    pub local: String,
    /// Strait's gateway address for the tunnel.
    pub remote: String,
    /// Phase 1.
    pub ike_config: PeerIkeConfig,
    /// Phase 2.
    pub ipsec_config: PeerIpsecConfig,
}

/// The SDK's `TunnelsConfig` wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerTunnelsConfig {
    /// The tunnels, master first.
    pub tunnel_config: Vec<PeerTunnelConfig>,
}

/// A tunnel's BGP session from the device's side: the SDK's `BgpConfigs.BgpConfig[]` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerBgpConfig {
    /// `tun-` id.
    pub tunnel_id: String,
    /// The /30 carrying the session.
    pub tunnel_cidr: String,
    /// The device's ASN.
    pub local_asn: String,
    /// The device's BGP address.
    pub local_bgp_ip: String,
    /// Strait's ASN.
    pub peer_asn: String,
    /// Strait's BGP address.
    pub peer_bgp_ip: String,
}

/// The SDK's `BgpConfigs` wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerBgpConfigs {
    /// One per tunnel that runs BGP.
    pub bgp_config: Vec<PeerBgpConfig>,
}

/// The peer configuration: the SDK's `VpnConnectionConfig`, from the device's point of view.
///
/// A single-tunnel connection fills `Local`, `Remote`, `IkeConfig` and `IpsecConfig`; a dual-tunnel
/// one fills `TunnelsConfig` instead, as the cloud does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpnConnectionConfig {
    /// The device's protected networks, comma separated.
    pub local_subnet: String,
    /// Strait's protected networks, comma separated.
    pub remote_subnet: String,
    /// The device's address (single tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// Strait's gateway address (single tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Phase 1 (single tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_config: Option<PeerIkeConfig>,
    /// Phase 2 (single tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsec_config: Option<PeerIpsecConfig>,
    /// Both tunnels (dual tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnels_config: Option<PeerTunnelsConfig>,
    /// BGP sessions, when BGP is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp_configs: Option<PeerBgpConfigs>,
}

fn tunnel_config(t: &TunnelView<'_>) -> PeerTunnelConfig {
    let (ike, ipsec) = (t.ike, t.ipsec);
    PeerTunnelConfig {
        tunnel_id: t.id.to_string(),
        local: t.local_ip.to_string(),
        remote: t.remote_ip.to_string(),
        ike_config: PeerIkeConfig {
            psk: ike.psk.clone(),
            ike_version: ike.ike_version.to_string(),
            ike_mode: ike.ike_mode.to_string(),
            ike_enc_alg: ike.ike_enc_alg.to_string(),
            ike_auth_alg: ike.ike_auth_alg.to_string(),
            ike_pfs: ike.ike_pfs.to_string(),
            ike_lifetime: ike.ike_lifetime,
            local_id: t.local_id.to_string(),
            remote_id: t.remote_id.to_string(),
        },
        ipsec_config: PeerIpsecConfig {
            ipsec_enc_alg: ipsec.ipsec_enc_alg.to_string(),
            ipsec_auth_alg: ipsec.ipsec_auth_alg.to_string(),
            ipsec_pfs: ipsec.ipsec_pfs.to_string(),
            ipsec_lifetime: ipsec.ipsec_lifetime,
        },
    }
}

pub(crate) fn build(v: &PeerView<'_>) -> VpnConnectionConfig {
    let mut tunnels: Vec<PeerTunnelConfig> = v.tunnels.iter().map(tunnel_config).collect();
    let bgp: Vec<PeerBgpConfig> = v
        .tunnels
        .iter()
        .filter_map(|t| {
            let b = t.bgp?;
            Some(PeerBgpConfig {
                tunnel_id: t.id.to_string(),
                tunnel_cidr: b.cidr.to_string(),
                local_asn: b.local_asn.to_string(),
                local_bgp_ip: b.local_ip.to_string(),
                peer_asn: b.peer_asn.to_string(),
                peer_bgp_ip: b.peer_ip.to_string(),
            })
        })
        .collect();
    let mut out = VpnConnectionConfig {
        local_subnet: v.local_subnets.to_string(),
        remote_subnet: v.remote_subnets.to_string(),
        local: None,
        remote: None,
        ike_config: None,
        ipsec_config: None,
        tunnels_config: None,
        bgp_configs: (!bgp.is_empty()).then_some(PeerBgpConfigs { bgp_config: bgp }),
    };
    match tunnels.len() {
        1 => {
            if let Some(t) = tunnels.pop() {
                out.local = Some(t.local);
                out.remote = Some(t.remote);
                out.ike_config = Some(t.ike_config);
                out.ipsec_config = Some(t.ipsec_config);
            }
        }
        _ => {
            out.tunnels_config = Some(PeerTunnelsConfig {
                tunnel_config: tunnels,
            })
        }
    }
    out
}
