//! The read-mostly snapshot workers consult per packet: routes, tunnels and SAs.
//!
//! The control side rebuilds a whole [`Tables`] on every change and publishes it through an
//! `ArcSwap`; workers load it once per batch, so the per-packet path takes no lock.

use std::collections::HashMap;
use std::net::SocketAddrV4;
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
}

/// The forwarding snapshot.
#[derive(Default)]
pub(crate) struct Tables {
    /// Inner destination prefixes, longest first, each with the tunnels that carry it.
    routes: Vec<(Ipv4Net, Vec<usize>)>,
    pub tunnels: Vec<TunnelEntry>,
    by_spi: HashMap<u32, (Arc<InboundSa>, usize)>,
}

impl Tables {
    /// Builds a snapshot; `routes` pairs prefixes with indexes into `tunnels`.
    pub fn new(
        routes: Vec<(Ipv4Net, usize)>,
        tunnels: Vec<TunnelEntry>,
        inbound: Vec<(Arc<InboundSa>, usize)>,
    ) -> Self {
        let mut merged: Vec<(Ipv4Net, Vec<usize>)> = Vec::new();
        for (net, t) in routes {
            match merged.iter_mut().find(|(n, _)| *n == net) {
                Some((_, ts)) => ts.push(t),
                None => merged.push((net, vec![t])),
            }
        }
        merged.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        let by_spi = inbound
            .into_iter()
            .map(|(sa, t)| (sa.spi(), (sa, t)))
            .collect();
        Self {
            routes: merged,
            tunnels,
            by_spi,
        }
    }

    /// The tunnel for a packet: the longest matching prefix; among several tunnels with that
    /// prefix (ECMP), those with an outbound SA share the flows by a hash of the flow's addresses,
    /// protocol and ports, so one flow always takes one tunnel and a tunnel without an SA gets
    /// none while another has one.
    pub fn route(&self, pkt: &Ipv4View<'_>) -> Option<usize> {
        let dst = pkt.dst();
        let (_, cands) = self.routes.iter().find(|(net, _)| net.contains(&dst))?;
        if let [only] = cands.as_slice() {
            return Some(*only);
        }
        let has_sa = |t: &&usize| self.tunnels.get(**t).is_some_and(|e| e.out.is_some());
        let up = cands.iter().filter(has_sa).count();
        let pick = |n: usize| (flow_hash(pkt) % n as u64) as usize;
        if up == 0 {
            cands.get(pick(cands.len())).copied()
        } else {
            cands.iter().filter(has_sa).nth(pick(up)).copied()
        }
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
        }
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    /// A UDP packet from 10.1.0.1:`sport` to `dst`:53.
    fn udp_to(dst: [u8; 4], sport: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, PROTO_UDP, 0, 0, 10, 1, 0, 1];
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&[0, 53, 0, 8, 0, 0]);
        p
    }

    fn route(t: &Tables, dst: [u8; 4], sport: u16) -> Option<usize> {
        t.route(&Ipv4View::new(&udp_to(dst, sport)).unwrap())
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

    #[test]
    fn longest_prefix_wins() {
        let t = Tables::new(
            vec![
                (net("0.0.0.0/0"), 0),
                (net("10.0.0.0/8"), 1),
                (net("10.1.0.0/16"), 2),
            ],
            vec![entry(0), entry(1), entry(2)],
            vec![],
        );
        assert_eq!(route(&t, [10, 1, 2, 3], 1), Some(2));
        assert_eq!(route(&t, [10, 2, 0, 1], 1), Some(1));
        assert_eq!(route(&t, [192, 0, 2, 1], 1), Some(0));
        let t = Tables::new(vec![(net("10.1.0.0/16"), 0)], vec![entry(0)], vec![]);
        assert_eq!(route(&t, [10, 2, 0, 1], 1), None);
    }

    #[test]
    fn equal_cost_tunnels_share_flows_and_keep_each_flow_on_one() {
        let t = Tables::new(
            vec![
                (net("192.168.0.0/16"), 0),
                (net("192.168.0.0/16"), 1),
                (net("192.168.0.0/16"), 2),
            ],
            vec![with_sa(0), with_sa(1), with_sa(2)],
            vec![],
        );
        let mut used = [0; 3];
        for sport in 1000..1300 {
            let first = route(&t, [192, 168, 1, 1], sport).unwrap();
            assert_eq!(
                route(&t, [192, 168, 1, 1], sport),
                Some(first),
                "a flow sticks to its tunnel"
            );
            used[first] += 1;
        }
        assert!(
            used.iter().all(|&n| n > 50),
            "flows spread over all three tunnels: {used:?}"
        );
    }

    #[test]
    fn flows_avoid_an_equal_cost_tunnel_without_sa() {
        let t = Tables::new(
            vec![(net("192.168.0.0/16"), 0), (net("192.168.0.0/16"), 1)],
            vec![entry(0), with_sa(1)],
            vec![],
        );
        assert!((1000..1100).all(|sport| route(&t, [192, 168, 1, 1], sport) == Some(1)));
        // With no SA anywhere, traffic still maps to a tunnel so that it can ask for one.
        let t = Tables::new(
            vec![(net("192.168.0.0/16"), 0), (net("192.168.0.0/16"), 1)],
            vec![entry(0), entry(1)],
            vec![],
        );
        assert!(route(&t, [192, 168, 1, 1], 5).is_some());
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
