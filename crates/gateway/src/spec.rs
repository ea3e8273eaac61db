//! What one tunnel should be: the model's connection fields plus the addresses it runs on.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use strait_dataplane::RouteRule;
use strait_model::{IkeConfig, IkeVersion, IpsecConfig};

use crate::GatewayError;
use crate::health::HealthSpec;

/// The desired state of one tunnel, from the API's connection fields.
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelSpec {
    /// Tunnel id; every log line and status entry carries it.
    pub id: String,
    /// The connection this tunnel belongs to (its tunnels fail over to each other); may be empty.
    pub connection: String,
    /// For a dual-tunnel slave: the master tunnel's id. Its routes carry traffic only while the
    /// master has no IPsec SA.
    pub standby_of: Option<String>,
    /// Our gateway IP (IKE on UDP 500/4500, ESP).
    pub local_ip: Ipv4Addr,
    /// The customer gateway's IP.
    pub peer_ip: Ipv4Addr,
    /// Phase-1 settings.
    pub ike: IkeConfig,
    /// Phase-2 settings.
    pub ipsec: IpsecConfig,
    /// LocalSubnet: our protected networks (0.0.0.0/0 for destination routing).
    pub local_subnet: Vec<Ipv4Net>,
    /// RemoteSubnet: the peer's protected networks (0.0.0.0/0 for destination routing).
    pub remote_subnet: Vec<Ipv4Net>,
    /// Routes into this tunnel: the remote networks, destination and policy routes, with weights.
    pub routes: Vec<RouteRule>,
    /// EnableDpd.
    pub enable_dpd: bool,
    /// EnableNatTraversal.
    pub enable_nat_traversal: bool,
    /// EffectImmediately: negotiate at start instead of on the first packet.
    pub effect_immediately: bool,
    /// Timers (product values by default; tests shorten them).
    pub timing: Timing,
    /// The eBGP session this tunnel carries, if BGP is enabled.
    pub bgp: Option<BgpPeering>,
    /// The connection's health check, if enabled.
    pub health: Option<HealthSpec>,
    /// Traffic arriving through the tunnel is forwarded (a transit router attachment's route table
    /// association); when off the data plane drops it, except what is addressed to the gateway
    /// itself (BGP, health check).
    pub forward_inbound: bool,
}

/// An eBGP session inside a tunnel, between the two hosts of its /30 tunnel CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeering {
    /// The routing domain, a VPN gateway or transit router id: the BGP tunnels of one domain pass
    /// each other's routes on.
    pub domain: String,
    /// Our ASN (LocalAsn).
    pub local_asn: u32,
    /// The customer gateway's ASN.
    pub peer_asn: u32,
    /// Our address in the tunnel CIDR (LocalBgpIp).
    pub local_ip: Ipv4Addr,
    /// The peer's address: the other host of the tunnel CIDR.
    pub peer_ip: Ipv4Addr,
    /// The customer gateway's AuthKey: TCP MD5 signature key.
    pub md5_key: Option<String>,
    /// The domain's local networks (the VPN gateway's VPC; what a transit router's other
    /// attachments propagate: VPC CIDRs, connections' protected remote networks).
    pub advertise: Vec<Ipv4Net>,
    /// Learned routes enter the domain's table: they are routed into this tunnel and passed on to
    /// the domain's other peers (a transit router attachment's route table propagation).
    pub propagate: bool,
    /// The peer is advertised the domain's table: `advertise` and the routes the domain's other
    /// peers propagate (a transit router attachment's auto-publish); when off, nothing.
    pub publish: bool,
}

impl BgpPeering {
    /// Whether `other` is the same BGP session (only what enters or leaves the domain's table differs).
    pub fn same_session(&self, other: &BgpPeering) -> bool {
        BgpPeering {
            advertise: other.advertise.clone(),
            propagate: other.propagate,
            publish: other.publish,
            ..self.clone()
        } == *other
    }
}

impl TunnelSpec {
    /// Whether `other` negotiates IKE exactly as this one does (only routes, failover role, BGP,
    /// health check or inbound forwarding differ).
    pub fn same_peering(&self, other: &TunnelSpec) -> bool {
        let mut other = other.clone();
        other.routes.clone_from(&self.routes);
        other.standby_of.clone_from(&self.standby_of);
        other.connection.clone_from(&self.connection);
        other.bgp.clone_from(&self.bgp);
        other.health.clone_from(&self.health);
        other.forward_inbound = self.forward_inbound;
        *self == other
    }

    /// Rejects what the gateway cannot run: IKEv1 negotiates one CIDR pair per tunnel.
    pub fn check(&self) -> Result<(), GatewayError> {
        if self.ike.ike_version == IkeVersion::V1
            && (self.local_subnet.len() > 1 || self.remote_subnet.len() > 1)
        {
            return Err(GatewayError::Unsupported {
                tunnel: self.id.clone(),
                what: "IkeVersion ikev1 with more than one LocalSubnet or RemoteSubnet CIDR",
            });
        }
        Ok(())
    }
}

/// Timers of a tunnel that the product fixes and tests override.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Silence after which DPD sends a liveness check.
    pub dpd_interval: Duration,
    /// Time without an answer after which the peer is dead (IKEv1: 30 s, IKEv2: 130 s).
    pub dpd_timeout: Duration,
    /// First retransmission timeout of an IKE request.
    pub retransmit_base: Duration,
    /// Retransmissions before a request fails.
    pub retransmit_tries: u32,
    /// First delay before negotiating again after a failure; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest delay between negotiation attempts.
    pub reconnect_max: Duration,
    /// Upper bound of the random time taken off each rekey (None: a third of the rekey margin).
    pub rekey_jitter: Option<Duration>,
    /// BGP hold time we propose, in seconds (keepalives every third of it).
    pub bgp_hold_time: u16,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            dpd_interval: Duration::from_secs(10),
            dpd_timeout: Duration::from_secs(130),
            retransmit_base: Duration::from_secs(4),
            retransmit_tries: 5,
            reconnect_min: Duration::from_secs(2),
            reconnect_max: Duration::from_secs(60),
            rekey_jitter: None,
            bgp_hold_time: 30,
        }
    }
}

impl Timing {
    /// The product's timers for an IKE version (IKEv1 declares a peer dead after 30 s).
    pub fn for_version(version: IkeVersion) -> Timing {
        match version {
            IkeVersion::V1 => Timing {
                dpd_timeout: Duration::from_secs(30),
                ..Timing::default()
            },
            IkeVersion::V2 => Timing::default(),
        }
    }

    /// The delay before attempt `n` (0-based) after consecutive failures: min × 2ⁿ, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.checked_pow(n.min(16)).unwrap_or(u32::MAX);
        self.reconnect_min
            .saturating_mul(factor)
            .min(self.reconnect_max)
    }
}

/// Timer overrides for tests (`[gateway.timing]` of `strait serve`, `[tunnel.Test]` of a tunnel file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingOverrides {
    /// [`Timing::dpd_interval`] in seconds.
    #[serde(alias = "DpdIntervalSecs")]
    pub dpd_interval_secs: Option<u64>,
    /// [`Timing::dpd_timeout`] in seconds.
    #[serde(alias = "DpdTimeoutSecs")]
    pub dpd_timeout_secs: Option<u64>,
    /// [`Timing::retransmit_base`] in milliseconds.
    #[serde(alias = "RetransmitBaseMs")]
    pub retransmit_base_ms: Option<u64>,
    /// [`Timing::retransmit_tries`].
    #[serde(alias = "RetransmitTries")]
    pub retransmit_tries: Option<u32>,
    /// [`Timing::reconnect_min`] in milliseconds.
    #[serde(alias = "ReconnectMinMs")]
    pub reconnect_min_ms: Option<u64>,
    /// [`Timing::reconnect_max`] in milliseconds.
    #[serde(alias = "ReconnectMaxMs")]
    pub reconnect_max_ms: Option<u64>,
    /// [`Timing::rekey_jitter`] in milliseconds.
    #[serde(alias = "RekeyJitterMs")]
    pub rekey_jitter_ms: Option<u64>,
    /// [`Timing::bgp_hold_time`] in seconds.
    #[serde(alias = "BgpHoldSecs")]
    pub bgp_hold_secs: Option<u16>,
}

impl TimingOverrides {
    /// `t` with the overridden timers replaced.
    pub fn apply(&self, mut t: Timing) -> Timing {
        let secs = Duration::from_secs;
        let ms = Duration::from_millis;
        t.dpd_interval = self.dpd_interval_secs.map_or(t.dpd_interval, secs);
        t.dpd_timeout = self.dpd_timeout_secs.map_or(t.dpd_timeout, secs);
        t.retransmit_base = self.retransmit_base_ms.map_or(t.retransmit_base, ms);
        t.retransmit_tries = self.retransmit_tries.unwrap_or(t.retransmit_tries);
        t.reconnect_min = self.reconnect_min_ms.map_or(t.reconnect_min, ms);
        t.reconnect_max = self.reconnect_max_ms.map_or(t.reconnect_max, ms);
        t.rekey_jitter = self.rekey_jitter_ms.map(ms).or(t.rekey_jitter);
        t.bgp_hold_time = self.bgp_hold_secs.unwrap_or(t.bgp_hold_time);
        t
    }
}

/// Parses a LocalSubnet/RemoteSubnet value: comma-separated IPv4 CIDRs (host bits cleared).
pub fn parse_subnets(field: &'static str, value: &str) -> Result<Vec<Ipv4Net>, GatewayError> {
    let nets = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Net>()
                .map(|n| n.trunc())
                .map_err(|_| GatewayError::BadSubnet {
                    field,
                    value: s.to_owned(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if nets.is_empty() {
        return Err(GatewayError::BadSubnet {
            field,
            value: value.to_owned(),
        });
    }
    Ok(nets)
}

/// Whether a selector list is destination routing's 0.0.0.0/0.
pub fn is_any(nets: &[Ipv4Net]) -> bool {
    nets.iter().any(|n| n.prefix_len() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_trimmed_and_normalised() {
        let nets = parse_subnets("LocalSubnet", " 10.1.0.7/24, 10.2.0.0/16 ").unwrap();
        assert_eq!(
            nets,
            vec![
                "10.1.0.0/24".parse::<Ipv4Net>().unwrap(),
                "10.2.0.0/16".parse().unwrap()
            ]
        );
        assert!(is_any(&parse_subnets("RemoteSubnet", "0.0.0.0/0").unwrap()));
        assert!(!is_any(&nets));
    }

    #[test]
    fn bad_subnets_name_the_field_and_value() {
        for bad in [
            "",
            " , ",
            "10.0.0.0/33",
            "10.0.0.0",
            "fe80::/64",
            "10.0.0.0/24,x",
        ] {
            let err = parse_subnets("RemoteSubnet", bad).unwrap_err().to_string();
            assert!(err.contains("RemoteSubnet"), "{bad}: {err}");
        }
    }

    #[test]
    fn ikev1_is_refused_only_with_several_cidrs() {
        use strait_model::{AuthAlg, DhGroup, EncAlg, IkeMode};
        let mut spec = TunnelSpec {
            id: "tun-9".into(),
            connection: "vco-9".into(),
            standby_of: None,
            local_ip: Ipv4Addr::new(198, 51, 100, 1),
            peer_ip: Ipv4Addr::new(192, 0, 2, 1),
            ike: IkeConfig {
                psk: "k".into(),
                ike_version: IkeVersion::V1,
                ike_mode: IkeMode::Main,
                ike_enc_alg: EncAlg::Aes,
                ike_auth_alg: AuthAlg::Sha1,
                ike_pfs: DhGroup::Group2,
                ike_lifetime: 86400,
                local_id: String::new(),
                remote_id: String::new(),
            },
            ipsec: IpsecConfig::default(),
            local_subnet: parse_subnets("LocalSubnet", "10.1.0.0/24").unwrap(),
            remote_subnet: parse_subnets("RemoteSubnet", "10.2.0.0/24,10.3.0.0/24").unwrap(),
            routes: vec![],
            enable_dpd: false,
            enable_nat_traversal: false,
            effect_immediately: false,
            timing: Timing::default(),
            bgp: None,
            health: None,
            forward_inbound: true,
        };
        let err = spec.check().unwrap_err().to_string();
        assert!(
            err.contains("tun-9") && err.contains("ikev1") && err.contains("RemoteSubnet"),
            "{err}"
        );
        spec.ike.ike_version = IkeVersion::V2;
        assert!(spec.check().is_ok(), "IKEv2 negotiates several CIDRs");
        spec.ike.ike_version = IkeVersion::V1;
        spec.remote_subnet.truncate(1);
        assert!(spec.check().is_ok(), "one IKEv1 CIDR pair runs");
    }

    #[test]
    fn ikev1_declares_a_silent_peer_dead_sooner() {
        assert_eq!(
            Timing::for_version(IkeVersion::V1).dpd_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            Timing::for_version(IkeVersion::V2).dpd_timeout,
            Duration::from_secs(130)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let t = Timing {
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(10),
            ..Timing::default()
        };
        let delays: Vec<u64> = (0..6).map(|n| t.backoff(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(t.backoff(u32::MAX), Duration::from_secs(10));
    }
}
