//! A connection seen from the on-premises device: its own side is "local", Strait's gateway is "remote".

use crate::RenderError;
use std::net::Ipv4Addr;
use strait_model::{
    CustomerGateway, Ipv4Net, SubnetList, VpnConnection,
    tunnel::{IkeConfig, IpsecConfig, Tunnel},
};

/// An IKE identity as a device needs to know it: an address or a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ident<'a> {
    /// An IPv4 address.
    Ip(Ipv4Addr),
    /// A fully qualified domain name.
    Fqdn(&'a str),
}

impl<'a> Ident<'a> {
    fn parse(s: &'a str) -> Self {
        s.parse().map(Ident::Ip).unwrap_or(Ident::Fqdn(s))
    }
}

impl std::fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Ip(ip) => write!(f, "{ip}"),
            Ident::Fqdn(name) => f.write_str(name),
        }
    }
}

/// The BGP session of one tunnel, from the device's side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BgpView {
    /// The device's ASN (the customer gateway's).
    pub local_asn: u32,
    /// Strait's ASN.
    pub peer_asn: u32,
    /// The device's address inside the tunnel CIDR.
    pub local_ip: Ipv4Addr,
    /// Strait's address inside the tunnel CIDR.
    pub peer_ip: Ipv4Addr,
    /// The /30 both addresses live in.
    pub cidr: Ipv4Net,
}

/// One tunnel of the connection, from the device's side.
#[derive(Debug, Clone)]
pub(crate) struct TunnelView<'a> {
    /// 1 or 2.
    pub index: u8,
    /// `tun-` id.
    pub id: &'a str,
    /// The device's public address (the customer gateway's).
    pub local_ip: Ipv4Addr,
    /// Strait's gateway address for this tunnel.
    pub remote_ip: Ipv4Addr,
    /// The device's IKE identity.
    pub local_id: Ident<'a>,
    /// Strait's IKE identity.
    pub remote_id: Ident<'a>,
    /// Phase 1 (the PSK and algorithms are the same on both sides).
    pub ike: &'a IkeConfig,
    /// Phase 2.
    pub ipsec: &'a IpsecConfig,
    /// Dead peer detection on.
    pub dpd: bool,
    /// NAT traversal on.
    pub nat_t: bool,
    /// The BGP session, when BGP runs on this tunnel.
    pub bgp: Option<BgpView>,
}

/// The whole connection from the device's side.
#[derive(Debug, Clone)]
pub(crate) struct PeerView<'a> {
    /// `vco-` id.
    pub id: &'a str,
    /// The device's protected networks (the connection's remote subnets).
    pub local_subnets: &'a SubnetList,
    /// Strait's protected networks (the connection's local subnets).
    pub remote_subnets: &'a SubnetList,
    /// The tunnels, by index.
    pub tunnels: Vec<TunnelView<'a>>,
}

impl<'a> PeerView<'a> {
    /// Builds the device's view, finding each tunnel's customer gateway in `customer_gateways`.
    pub(crate) fn new(
        conn: &'a VpnConnection,
        customer_gateways: &'a [CustomerGateway],
    ) -> Result<Self, RenderError> {
        let mut tunnels = conn
            .tunnel_options
            .iter()
            .map(|t| tunnel_view(t, customer_gateways))
            .collect::<Result<Vec<_>, _>>()?;
        if tunnels.is_empty() {
            return Err(RenderError::NoTunnel(conn.vpn_connection_id.clone()));
        }
        tunnels.sort_by_key(|t| t.index);
        Ok(PeerView {
            id: &conn.vpn_connection_id,
            local_subnets: &conn.remote_subnet,
            remote_subnets: &conn.local_subnet,
            tunnels,
        })
    }

    /// Whether traffic selectors are 0.0.0.0/0 on both sides (destination routing).
    pub(crate) fn route_based(&self) -> bool {
        self.local_subnets.is_any() && self.remote_subnets.is_any()
    }

    /// Whether any tunnel runs BGP.
    pub(crate) fn bgp(&self) -> bool {
        self.tunnels.iter().any(|t| t.bgp.is_some())
    }

    /// Every (device network, Strait network) pair: one phase-2 selector each.
    pub(crate) fn selector_pairs(&self) -> impl Iterator<Item = (Ipv4Net, Ipv4Net)> + '_ {
        self.local_subnets
            .0
            .iter()
            .flat_map(|l| self.remote_subnets.0.iter().map(move |r| (*l, *r)))
    }

    /// The device's networks worth announcing over BGP (not the default route).
    pub(crate) fn announced(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.local_subnets
            .0
            .iter()
            .copied()
            .filter(|n| n.prefix_len() > 0)
    }
}

fn tunnel_view<'a>(
    t: &'a Tunnel,
    customer_gateways: &'a [CustomerGateway],
) -> Result<TunnelView<'a>, RenderError> {
    let cgw = customer_gateways
        .iter()
        .find(|c| c.customer_gateway_id == t.customer_gateway_id)
        .ok_or_else(|| RenderError::MissingCustomerGateway(t.customer_gateway_id.clone()))?;
    let b = &t.tunnel_bgp_config;
    let bgp = if b.enable_bgp {
        let missing = |what| RenderError::IncompleteBgp {
            tunnel: t.tunnel_index,
            what,
        };
        Some(BgpView {
            local_asn: cgw.asn.ok_or_else(|| missing("customer gateway ASN"))?,
            peer_asn: b.local_asn,
            local_ip: b.peer_bgp_ip().ok_or_else(|| missing("tunnel CIDR"))?,
            peer_ip: b.local_bgp_ip.ok_or_else(|| missing("local BGP IP"))?,
            cidr: b.tunnel_cidr.ok_or_else(|| missing("tunnel CIDR"))?,
        })
    } else {
        None
    };
    Ok(TunnelView {
        index: t.tunnel_index,
        id: &t.tunnel_id,
        local_ip: cgw.ip_address,
        remote_ip: t.internet_ip,
        local_id: Ident::parse(&t.tunnel_ike_config.remote_id),
        remote_id: Ident::parse(&t.tunnel_ike_config.local_id),
        ike: &t.tunnel_ike_config,
        ipsec: &t.tunnel_ipsec_config,
        dpd: t.enable_dpd,
        nat_t: t.enable_nat_traversal,
        bgp,
    })
}
