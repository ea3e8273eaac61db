//! The read-mostly snapshot workers consult per packet: routes, tunnels and SAs.
//!
//! The control side rebuilds a whole [`Tables`] on every change and publishes it through an
//! `ArcSwap`; workers load it once per batch, so the per-packet path takes no lock.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::Ipv4Net;

use super::TunnelId;
use crate::esp::{InboundSa, OutboundSa};

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
            && self.last_acquire.compare_exchange(last, now_ms + 1, Ordering::Relaxed, Ordering::Relaxed).is_ok()
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
    /// Inner destination prefixes, longest first.
    routes: Vec<(Ipv4Net, usize)>,
    pub tunnels: Vec<TunnelEntry>,
    by_spi: HashMap<u32, (Arc<InboundSa>, usize)>,
}

impl Tables {
    /// Builds a snapshot; `routes` pairs prefixes with indexes into `tunnels`.
    pub fn new(mut routes: Vec<(Ipv4Net, usize)>, tunnels: Vec<TunnelEntry>, inbound: Vec<(Arc<InboundSa>, usize)>) -> Self {
        routes.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        let by_spi = inbound.into_iter().map(|(sa, t)| (sa.spi(), (sa, t))).collect();
        Self { routes, tunnels, by_spi }
    }

    /// The tunnel whose longest matching prefix covers `dst`.
    pub fn route(&self, dst: Ipv4Addr) -> Option<usize> {
        self.routes.iter().find(|(net, _)| net.contains(&dst)).map(|&(_, t)| t)
    }

    /// The inbound SA for `spi` and the index of its tunnel.
    pub fn inbound(&self, spi: u32) -> Option<&(Arc<InboundSa>, usize)> {
        self.by_spi.get(&spi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64) -> TunnelEntry {
        TunnelEntry { id: TunnelId(id), out: None, shared: Arc::default() }
    }

    #[test]
    fn longest_prefix_wins() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let t = Tables::new(
            vec![(net("0.0.0.0/0"), 0), (net("10.0.0.0/8"), 1), (net("10.1.0.0/16"), 2)],
            vec![entry(0), entry(1), entry(2)],
            vec![],
        );
        assert_eq!(t.route("10.1.2.3".parse().unwrap()), Some(2));
        assert_eq!(t.route("10.2.0.1".parse().unwrap()), Some(1));
        assert_eq!(t.route("192.0.2.1".parse().unwrap()), Some(0));
        let t = Tables::new(vec![(net("10.1.0.0/16"), 0)], vec![entry(0)], vec![]);
        assert_eq!(t.route("10.2.0.1".parse().unwrap()), None);
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
