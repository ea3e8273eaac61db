//! The read-mostly snapshot workers consult per packet: routes, tunnels and SAs.
//!
//! The control side rebuilds a whole [`Tables`] on every change and publishes it through an
//! `ArcSwap`; workers load it once per batch, so the per-packet path takes no lock.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::Ipv4Net;

use super::TunnelId;
use crate::esp::{InboundSa, OutboundSa};
use crate::ip::{Ipv4View, PROTO_TCP, PROTO_UDP};

/// Where and how a tunnel's traffic leaves: its current outbound SA and the outer addresses.
pub(crate) struct OutPath {
    pub sa: OutboundSa,
    pub remote: SocketAddrV4,
    /// Index of the local address (and of its sockets) in the configuration.
    pub local_idx: usize,
    pub udp_encap: bool,
    /// Largest inner packet that fits the path after encapsulation.
    pub mtu: u16,
}

/// Per-tunnel state shared between the control side and the workers.
#[derive(Default)]
pub(crate) struct TunnelShared {
    /// Milliseconds since the engine's epoch of the last authenticated inbound packet, plus one (0 = never).
    pub last_inbound: AtomicU64,
    /// Same clock: the last Acquire event sent, plus one (0 = never).
    pub last_acquire: AtomicU64,
    /// Packets routed to the tunnel while it had no outbound SA.
    pub no_sa_drops: AtomicU64,
    /// ICMP fragmentation-needed answers sent for oversize packets.
    pub frag_needed: AtomicU64,
    /// Decapsulated packets dropped because the tunnel does not forward inbound traffic.
    pub blocked_inbound: AtomicU64,
}

impl TunnelShared {
    /// Records an event at `now_ms` into a "plus one" timestamp.
    pub fn stamp(at: &AtomicU64, now_ms: u64) {
        at.store(now_ms + 1, Ordering::Relaxed);
    }

    /// Claims the right to send an Acquire now, at most one per `interval_ms`.
    pub fn claim_acquire(&self, now_ms: u64, interval_ms: u64) -> bool {
        let last = self.last_acquire.load(Ordering::Relaxed);
        (last == 0 || now_ms + 1 >= last + interval_ms)
            && self
                .last_acquire
                .compare_exchange(last, now_ms + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// One tunnel as workers see it.
pub(crate) struct TunnelEntry {
    pub id: TunnelId,
    pub out: Option<Arc<OutPath>>,
    pub shared: Arc<TunnelShared>,
    /// Decapsulated packets are forwarded; otherwise only those for the host's TUN addresses pass.
    pub forward_inbound: bool,
}

/// Where a route came from; at equal destination prefix a static route is preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteOrigin {
    /// Configured: a protected data flow, a destination route entry or a policy route entry.
    Static,
    /// Learned from the tunnel's BGP peer.
    Bgp,
}

/// One route of a tunnel: which inner packets it takes, and how strongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteRule {
    /// Inner destination prefix.
    pub dest: Ipv4Net,
    /// Inner source prefix; `Some` makes this a policy route, tried before destination routes.
    pub source: Option<Ipv4Net>,
    /// Precedence among matching policy routes, smaller first (the API allows 1..=100); destination
    /// routes ignore it.
    pub priority: u32,
    /// 100 = active, 0 = standby: a standby carries traffic only while no active tunnel of the same
    /// route has an SA.
    pub weight: u32,
    /// Where the route came from.
    pub origin: RouteOrigin,
}

impl From<Ipv4Net> for RouteRule {
    /// A static, active destination route.
    fn from(dest: Ipv4Net) -> Self {
        Self {
            dest,
            source: None,
            priority: 0,
            weight: 100,
            origin: RouteOrigin::Static,
        }
    }
}

impl RouteRule {
    /// Orders rules by precedence (policy routes by priority, then longest prefixes; then
    /// destination routes by longest prefix, static before BGP); equal keys form one match.
    fn precedence(&self) -> impl Ord {
        let policy = self.source.is_some();
        (
            !policy,
            if policy { self.priority } else { 0 },
            Reverse(self.dest.prefix_len()),
            Reverse(self.source.map_or(0, |s| s.prefix_len())),
            self.origin,
            self.dest,
            self.source,
        )
    }
}

/// An IPv4 prefix as a network and mask, for a per-packet test without recomputing the mask.
#[derive(Clone, Copy)]
struct Prefix {
    net: u32,
    mask: u32,
}

impl Prefix {
    fn new(p: Ipv4Net) -> Self {
        Self {
            net: p.network().to_bits(),
            mask: p.netmask().to_bits(),
        }
    }

    fn contains(self, addr: u32) -> bool {
        addr & self.mask == self.net
    }
}

/// A tunnel that can carry a route, with the route's weight.
struct Candidate {
    tunnel: usize,
    weight: u32,
}

/// One match of the table: the packets it covers and the tunnels it may send them to.
struct Route {
    dest: Prefix,
    /// All addresses for a destination route.
    source: Prefix,
    /// Highest weight first.
    candidates: Vec<Candidate>,
}

/// The forwarding snapshot.
#[derive(Default)]
pub(crate) struct Tables {
    /// Routes in lookup order: the first that matches a packet is the one to use.
    routes: Vec<Route>,
    pub tunnels: Vec<TunnelEntry>,
    by_spi: HashMap<u32, (Arc<InboundSa>, usize)>,
    /// The host's own addresses on the TUN device (BGP and health-check addresses).
    host_addrs: Vec<Ipv4Addr>,
}

impl Tables {
    /// Builds a snapshot; `routes` pairs rules with indexes into `tunnels`.
    pub fn new(
        mut routes: Vec<(RouteRule, usize)>,
        tunnels: Vec<TunnelEntry>,
        inbound: Vec<(Arc<InboundSa>, usize)>,
    ) -> Self {
        routes.sort_by(|(a, ta), (b, tb)| {
            (a.precedence().cmp(&b.precedence()))
                .then(b.weight.cmp(&a.weight))
                .then(ta.cmp(tb))
        });
        let mut merged: Vec<(RouteRule, Route)> = Vec::new();
        for (rule, tunnel) in routes {
            let candidate = Candidate {
                tunnel,
                weight: rule.weight,
            };
            match merged.last_mut() {
                Some((r, route)) if r.precedence().cmp(&rule.precedence()).is_eq() => {
                    // One tunnel listed twice in a match keeps its higher weight and one share.
                    if route.candidates.iter().all(|c| c.tunnel != tunnel) {
                        route.candidates.push(candidate);
                    }
                }
                _ => merged.push((
                    rule,
                    Route {
                        dest: Prefix::new(rule.dest),
                        source: Prefix::new(rule.source.unwrap_or_default()),
                        candidates: vec![candidate],
                    },
                )),
            }
        }
        let by_spi = inbound
            .into_iter()
            .map(|(sa, t)| (sa.spi(), (sa, t)))
            .collect();
        Self {
            routes: merged.into_iter().map(|(_, r)| r).collect(),
            tunnels,
            by_spi,
            host_addrs: Vec::new(),
        }
    }

    /// The snapshot with `addrs` as the host's own TUN addresses.
    pub fn with_host_addrs(self, addrs: Vec<Ipv4Addr>) -> Self {
        Self {
            host_addrs: addrs,
            ..self
        }
    }

    /// Whether a packet decapsulated from tunnel `tunnel` may go on: the tunnel forwards inbound
    /// traffic, or the packet is for the host itself.
    pub fn admits(&self, tunnel: usize, pkt: &Ipv4View<'_>) -> bool {
        self.tunnels.get(tunnel).is_some_and(|e| e.forward_inbound)
            || self.host_addrs.contains(&pkt.dst())
    }

    /// The tunnel for a packet. The route is the first in lookup order whose destination and
    /// source prefixes hold the packet's addresses: policy routes by priority (smaller first),
    /// then longer destination, then longer source prefix; then destination routes by longest
    /// prefix, static before BGP. Among that route's tunnels, those of the highest weight that
    /// have an outbound SA share the flows by a hash of the flow's addresses, protocol and ports,
    /// so one flow always takes one tunnel. When none has an SA, a tunnel of the highest weight
    /// takes the packet (so that it asks for one).
    pub fn route(&self, pkt: &Ipv4View<'_>) -> Option<usize> {
        let (src, dst) = (pkt.src().to_bits(), pkt.dst().to_bits());
        let route = self
            .routes
            .iter()
            .find(|r| r.dest.contains(dst) && r.source.contains(src))?;
        let cands = route.candidates.as_slice();
        if let [only] = cands {
            return Some(only.tunnel);
        }
        let has_sa = |c: &Candidate| self.tunnels.get(c.tunnel).is_some_and(|e| e.out.is_some());
        let (weight, need_sa) = match cands.iter().find(|c| has_sa(c)) {
            Some(c) => (c.weight, true),
            None => (cands.first()?.weight, false),
        };
        let eligible = |c: &&Candidate| c.weight == weight && (!need_sa || has_sa(c));
        let n = cands.iter().filter(eligible).count();
        let pick = flow_hash(pkt).checked_rem(n as u64)?;
        cands
            .iter()
            .filter(eligible)
            .nth(pick as usize)
            .map(|c| c.tunnel)
    }

    /// The inbound SA for `spi` and the index of its tunnel.
    pub fn inbound(&self, spi: u32) -> Option<&(Arc<InboundSa>, usize)> {
        self.by_spi.get(&spi)
    }
}

/// A hash of the flow a packet belongs to: addresses, protocol, and ports of TCP/UDP.
fn flow_hash(pkt: &Ipv4View<'_>) -> u64 {
    let ports = match pkt.protocol() {
        PROTO_TCP | PROTO_UDP if pkt.is_first_fragment() => pkt
            .payload()
            .get(..4)
            .and_then(|p| <[u8; 4]>::try_from(p).ok())
            .map_or(0, |p| u64::from(u32::from_be_bytes(p))),
        _ => 0,
    };
    let mut h = (u64::from(pkt.src().to_bits()) << 32 | u64::from(pkt.dst().to_bits()))
        ^ ports.rotate_left(17)
        ^ u64::from(pkt.protocol());
    // SplitMix64 finaliser: spreads every input bit over the result.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64) -> TunnelEntry {
        TunnelEntry {
            id: TunnelId(id),
            out: None,
            shared: Arc::default(),
            forward_inbound: true,
        }
    }

    fn with_sa(id: u64) -> TunnelEntry {
        use crate::esp::{SaKeys, Selectors};
        let keys = SaKeys {
            spi: 1,
            encr: crate::Encr::AesGcm16_128,
            enc_key: vec![0; 20],
            integ: None,
            integ_key: vec![],
        };
        let sa = OutboundSa::new(&keys, Selectors::any()).unwrap();
        let remote = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 4500);
        TunnelEntry {
            out: Some(Arc::new(OutPath {
                sa,
                remote,
                local_idx: 0,
                udp_encap: true,
                mtu: 1400,
            })),
            ..entry(id)
        }
    }

    /// A static destination route with weight 100.
    fn dest(s: &str) -> RouteRule {
        RouteRule::from(s.parse::<Ipv4Net>().unwrap())
    }

    fn bgp(s: &str) -> RouteRule {
        RouteRule {
            origin: RouteOrigin::Bgp,
            ..dest(s)
        }
    }

    fn standby(s: &str) -> RouteRule {
        RouteRule {
            weight: 0,
            ..dest(s)
        }
    }

    fn policy(source: &str, d: &str, priority: u32) -> RouteRule {
        RouteRule {
            source: Some(source.parse().unwrap()),
            priority,
            ..dest(d)
        }
    }

    /// A UDP packet from `src`:`sport` to `dst`:53.
    fn udp(src: [u8; 4], dst: [u8; 4], sport: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, PROTO_UDP, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&[0, 53, 0, 8, 0, 0]);
        p
    }

    /// The tunnel index for a packet from `src` to `dst`.
    fn route_from(t: &Tables, src: [u8; 4], dst: [u8; 4], sport: u16) -> Option<usize> {
        t.route(&Ipv4View::new(&udp(src, dst, sport)).unwrap())
    }

    /// The tunnel index for a packet from 10.1.0.1.
    fn route(t: &Tables, dst: [u8; 4], sport: u16) -> Option<usize> {
        route_from(t, [10, 1, 0, 1], dst, sport)
    }

    /// The tunnels that 200 flows to `dst` take, by index.
    fn spread(t: &Tables, dst: [u8; 4]) -> Vec<usize> {
        let mut used = vec![0; t.tunnels.len()];
        for sport in 1000..1200 {
            if let Some(n) = route(t, dst, sport).and_then(|i| used.get_mut(i)) {
                *n += 1;
            }
        }
        used
    }

    #[test]
    fn longest_prefix_wins() {
        let t = Tables::new(
            vec![
                (dest("0.0.0.0/0"), 0),
                (dest("10.0.0.0/8"), 1),
                (dest("10.1.0.0/16"), 2),
            ],
            vec![entry(0), entry(1), entry(2)],
            vec![],
        );
        assert_eq!(route(&t, [10, 1, 2, 3], 1), Some(2));
        assert_eq!(route(&t, [10, 2, 0, 1], 1), Some(1));
        assert_eq!(route(&t, [192, 0, 2, 1], 1), Some(0));
        let t = Tables::new(vec![(dest("10.1.0.0/16"), 0)], vec![entry(0)], vec![]);
        assert_eq!(route(&t, [10, 2, 0, 1], 1), None);
    }

    #[test]
    fn a_matching_policy_route_beats_any_destination_route() {
        let t = Tables::new(
            vec![
                (dest("192.168.1.0/24"), 0),
                (policy("10.1.0.0/16", "192.168.0.0/16", 100), 1),
            ],
            vec![with_sa(0), with_sa(1)],
            vec![],
        );
        assert_eq!(
            route_from(&t, [10, 1, 9, 9], [192, 168, 1, 1], 1),
            Some(1),
            "source and destination match: the policy route, despite a longer destination route"
        );
        assert_eq!(
            route_from(&t, [10, 2, 0, 1], [192, 168, 1, 1], 1),
            Some(0),
            "another source: the destination route"
        );
        assert_eq!(
            route_from(&t, [10, 2, 0, 1], [192, 168, 2, 1], 1),
            None,
            "neither matches"
        );
    }

    #[test]
    fn policy_routes_go_by_priority_then_longer_destination_then_longer_source() {
        let (from, to) = ([10, 1, 1, 1], [192, 168, 1, 1]);
        let tunnels = || (0..4).map(with_sa).collect();
        let mut rules = vec![
            (policy("10.1.1.0/24", "192.168.1.0/24", 20), 0),
            (policy("10.0.0.0/8", "192.168.0.0/16", 10), 1),
        ];
        let t = Tables::new(rules.clone(), tunnels(), vec![]);
        assert_eq!(
            route_from(&t, from, to, 1),
            Some(1),
            "priority 10 beats 20, though 20 has longer prefixes"
        );
        rules.push((policy("10.0.0.0/8", "192.168.1.0/24", 10), 2));
        let t = Tables::new(rules.clone(), tunnels(), vec![]);
        assert_eq!(
            route_from(&t, from, to, 1),
            Some(2),
            "equal priority: the longer destination"
        );
        rules.push((policy("10.1.0.0/16", "192.168.1.0/24", 10), 3));
        let t = Tables::new(rules, tunnels(), vec![]);
        assert_eq!(
            route_from(&t, from, to, 1),
            Some(3),
            "equal priority and destination: the longer source"
        );
        assert_eq!(
            route_from(&t, [10, 2, 0, 1], to, 1),
            Some(2),
            "a source outside the best rule falls to the next"
        );
    }

    #[test]
    fn a_static_route_beats_a_bgp_route_for_the_same_prefix() {
        for rules in [
            vec![(bgp("192.168.0.0/16"), 0), (dest("192.168.0.0/16"), 1)],
            vec![(dest("192.168.0.0/16"), 1), (bgp("192.168.0.0/16"), 0)],
        ] {
            let t = Tables::new(rules, vec![with_sa(0), with_sa(1)], vec![]);
            assert_eq!(spread(&t, [192, 168, 1, 1]), [0, 200], "no flow takes BGP");
        }
    }

    #[test]
    fn a_longer_bgp_prefix_beats_a_shorter_static_one() {
        let t = Tables::new(
            vec![(dest("192.168.0.0/16"), 0), (bgp("192.168.1.0/24"), 1)],
            vec![with_sa(0), with_sa(1)],
            vec![],
        );
        assert_eq!(route(&t, [192, 168, 1, 1], 1), Some(1));
        assert_eq!(route(&t, [192, 168, 2, 1], 1), Some(0));
    }

    #[test]
    fn a_standby_route_carries_traffic_only_while_no_active_one_has_an_sa() {
        let rules = || vec![(dest("192.168.0.0/16"), 0), (standby("192.168.0.0/16"), 1)];
        let t = Tables::new(rules(), vec![with_sa(0), with_sa(1)], vec![]);
        assert_eq!(
            spread(&t, [192, 168, 1, 1]),
            [200, 0],
            "active with SA: standby idle"
        );
        let t = Tables::new(rules(), vec![entry(0), with_sa(1)], vec![]);
        assert_eq!(
            spread(&t, [192, 168, 1, 1]),
            [0, 200],
            "active without SA: standby takes over"
        );
        let t = Tables::new(rules(), vec![entry(0), entry(1)], vec![]);
        assert_eq!(
            spread(&t, [192, 168, 1, 1]),
            [200, 0],
            "no SA anywhere: the active one asks for one"
        );
    }

    #[test]
    fn policy_routes_have_standbys_too() {
        let rules = vec![
            (policy("10.0.0.0/8", "192.168.0.0/16", 10), 0),
            (
                RouteRule {
                    weight: 0,
                    ..policy("10.0.0.0/8", "192.168.0.0/16", 10)
                },
                1,
            ),
        ];
        let t = Tables::new(rules.clone(), vec![with_sa(0), with_sa(1)], vec![]);
        assert_eq!(spread(&t, [192, 168, 1, 1]), [200, 0]);
        let t = Tables::new(rules, vec![entry(0), with_sa(1)], vec![]);
        assert_eq!(spread(&t, [192, 168, 1, 1]), [0, 200]);
    }

    #[test]
    fn equal_cost_tunnels_share_flows_and_keep_each_flow_on_one() {
        let rules = vec![
            (dest("192.168.0.0/16"), 0),
            (dest("192.168.0.0/16"), 1),
            (dest("192.168.0.0/16"), 2),
            (standby("192.168.0.0/16"), 3),
        ];
        let t = Tables::new(
            rules,
            vec![with_sa(0), with_sa(1), with_sa(2), with_sa(3)],
            vec![],
        );
        for sport in 1000..1200 {
            let first = route(&t, [192, 168, 1, 1], sport);
            assert_eq!(
                route(&t, [192, 168, 1, 1], sport),
                first,
                "a flow sticks to its tunnel"
            );
        }
        let used = spread(&t, [192, 168, 1, 1]);
        assert!(
            used.iter().take(3).all(|&n| n > 30) && used.get(3) == Some(&0),
            "flows spread over the three active tunnels, none on the standby: {used:?}"
        );
    }

    #[test]
    fn flows_avoid_an_equal_cost_tunnel_without_sa() {
        let rules = || vec![(dest("192.168.0.0/16"), 0), (dest("192.168.0.0/16"), 1)];
        let t = Tables::new(rules(), vec![entry(0), with_sa(1)], vec![]);
        assert_eq!(spread(&t, [192, 168, 1, 1]), [0, 200]);
        // With no SA anywhere, traffic still maps to a tunnel so that it can ask for one.
        let t = Tables::new(rules(), vec![entry(0), entry(1)], vec![]);
        assert_eq!(spread(&t, [192, 168, 1, 1]).iter().sum::<usize>(), 200);
    }

    #[test]
    fn a_tunnel_listed_twice_in_one_route_gets_one_share() {
        let t = Tables::new(
            vec![
                (dest("192.168.0.0/16"), 0),
                (dest("192.168.0.0/16"), 0),
                (dest("192.168.0.0/16"), 0),
                (dest("192.168.0.0/16"), 1),
            ],
            vec![with_sa(0), with_sa(1)],
            vec![],
        );
        let used = spread(&t, [192, 168, 1, 1]);
        assert!(
            used.iter().all(|&n| n > 70),
            "an even split between two tunnels: {used:?}"
        );
    }

    #[test]
    fn a_tunnel_not_forwarding_admits_only_traffic_for_the_host() {
        let blocked = TunnelEntry {
            forward_inbound: false,
            ..entry(1)
        };
        let t = Tables::new(vec![], vec![entry(0), blocked], vec![])
            .with_host_addrs(vec![Ipv4Addr::new(169, 254, 10, 1)]);
        let to_vpc = udp([192, 168, 0, 2], [10, 0, 1, 2], 7000);
        let to_host = udp([169, 254, 10, 2], [169, 254, 10, 1], 179);
        let view = |b: &[u8]| Ipv4View::new(b).map(|v| (t.admits(0, &v), t.admits(1, &v)));
        assert_eq!(
            view(&to_vpc),
            Some((true, false)),
            "forwarded only by tunnel 0"
        );
        assert_eq!(
            view(&to_host),
            Some((true, true)),
            "BGP to the host passes both"
        );
        let vpc = Ipv4View::new(&to_vpc).unwrap();
        assert!(!t.admits(7, &vpc), "an unknown tunnel forwards nothing");
    }

    #[test]
    fn acquire_is_rate_limited() {
        let s = TunnelShared::default();
        assert!(s.claim_acquire(0, 1000));
        assert!(!s.claim_acquire(500, 1000));
        assert!(s.claim_acquire(1000, 1000));
        assert!(!s.claim_acquire(1999, 1000));
    }
}
