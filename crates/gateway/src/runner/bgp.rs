//! The runner's BGP part: a speaker per BGP tunnel, learned routes into the tunnel, routes passed on
//! between the gateway's peers.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::Ipv4Net;
use strait_bgp::{
    Advertised, DriverConfig, Prefix, SessionConfig, Speaker, State as BgpState,
    Status as BgpSnapshot,
};
use strait_model::BgpRoute;
use tracing::{debug, error, info, warn};

use super::Runner;
use crate::BgpPeering;
use crate::status::BgpStatus;

impl Runner {
    /// (Re)starts the BGP speaker of a tunnel as its spec says (stopping any running one).
    pub(super) async fn start_bgp(&mut self, k: u64) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        t.speaker = None;
        t.learned.clear();
        let Some(b) = t.spec.bgp.clone() else {
            self.board.update(&t.spec.id, |s| s.bgp = None);
            return;
        };
        // The session runs from our tunnel address, which must exist on this host.
        if let Err(e) = self.dp.add_address(b.local_ip) {
            error!(parent: &t.span, tunnel = %t.spec.id, "adding BGP address {}: {e}", b.local_ip);
        }
        let session = SessionConfig {
            local_asn: b.local_asn,
            peer_asn: b.peer_asn,
            router_id: b.local_ip,
            next_hop: b.local_ip,
            hold_time: t.spec.timing.bgp_hold_time,
        };
        let mut cfg = DriverConfig::new(session, b.local_ip, b.peer_ip);
        cfg.md5_key = b.md5_key.clone().map(String::into_bytes);
        cfg.max_backoff = Duration::from_secs(10);
        let speaker = match Speaker::start(cfg).await {
            Ok(s) => s,
            Err(e) => {
                error!(parent: &t.span, tunnel = %t.spec.id, "starting BGP to {}: {e}", b.peer_ip);
                return;
            }
        };
        info!(parent: &t.span, tunnel = %t.spec.id, local = %b.local_ip, peer = %b.peer_ip,
              local_asn = b.local_asn, peer_asn = b.peer_asn, advertise = ?b.advertise, "BGP configured");
        t.advertised = own_networks(&b);
        speaker.advertise(t.advertised.clone());
        let mut status = speaker.watch_status();
        let tx = self.bgp_tx.clone();
        tokio::spawn(async move {
            // Ends when the speaker is dropped (its status sender goes with it).
            while status.changed().await.is_ok() {
                let snap = status.borrow_and_update().clone();
                if tx.send((k, snap)).is_err() {
                    return;
                }
            }
        });
        t.speaker = Some(speaker);
        self.board.update(&t.spec.id, |s| {
            s.bgp = Some(BgpStatus {
                established: false,
                learned: Vec::new(),
            });
        });
    }

    /// A BGP session changed: its learned prefixes follow it into (or out of) the forwarding table.
    pub(super) fn on_bgp(&mut self, k: u64, snap: &BgpSnapshot) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        if t.speaker.is_none() {
            return;
        }
        let up = snap.state == BgpState::Established;
        let routes: Vec<BgpRoute> = snap
            .learned
            .values()
            .filter(|_| up)
            .filter_map(|r| {
                let route_dest = Ipv4Net::new(r.prefix.addr(), r.prefix.prefix_len()).ok()?;
                Some(BgpRoute {
                    route_dest,
                    as_path: r.as_path.clone(),
                })
            })
            .collect();
        let was_up = self
            .board
            .snapshot()
            .get(&t.spec.id)
            .and_then(|s| s.bgp.as_ref())
            .is_some_and(|b| b.established);
        if up != was_up {
            match (&snap.last_down, up) {
                (_, true) => info!(parent: &t.span, tunnel = %t.spec.id, "BGP session established"),
                (Some(why), false) => {
                    warn!(parent: &t.span, tunnel = %t.spec.id, "BGP session down: {why:?}")
                }
                (None, false) => warn!(parent: &t.span, tunnel = %t.spec.id, "BGP session down"),
            }
        }
        if routes != t.learned {
            let prefixes: Vec<Ipv4Net> = routes.iter().map(|r| r.route_dest).collect();
            info!(parent: &t.span, tunnel = %t.spec.id, ?prefixes, "BGP routes learned");
            t.learned.clone_from(&routes);
        }
        self.board.update(&t.spec.id, |s| {
            s.bgp = Some(BgpStatus {
                established: up,
                learned: routes,
            });
        });
        self.reroute();
    }

    /// Gives every publishing BGP peer its domain's local networks and the routes learned over
    /// the domain's other propagating tunnels that carry traffic (with their AS paths, so a peer's
    /// loop check still works); a route learned over a tunnel that goes down is withdrawn from the
    /// others.
    pub(super) fn readvertise(&mut self) {
        let mut passable: HashMap<String, Vec<(u64, BgpRoute)>> = HashMap::new();
        for (&k, t) in &self.tunnels {
            let revoked = t
                .health
                .as_ref()
                .is_some_and(|h| h.failing() && h.spec.revoke_routes);
            if let Some(b) = t
                .spec
                .bgp
                .as_ref()
                .filter(|b| b.propagate && !t.children.is_empty() && !revoked)
            {
                let routes = t.learned.iter().map(|r| (k, r.clone()));
                passable.entry(b.domain.clone()).or_default().extend(routes);
            }
        }
        for (&k, t) in &mut self.tunnels {
            let (Some(b), Some(speaker)) = (&t.spec.bgp, &t.speaker) else {
                continue;
            };
            let mut want = own_networks(b);
            for (_, r) in passable
                .get(&b.domain)
                .into_iter()
                .flatten()
                .filter(|(src, _)| b.publish && *src != k)
            {
                let Ok(prefix) = Prefix::new(r.route_dest.network(), r.route_dest.prefix_len())
                else {
                    continue;
                };
                let path = want.entry(prefix).or_insert_with(|| r.as_path.clone());
                if !path.is_empty() && r.as_path.len() < path.len() {
                    path.clone_from(&r.as_path);
                }
            }
            if want != t.advertised {
                debug!(parent: &t.span, tunnel = %t.spec.id, advertised = ?want.keys().collect::<Vec<_>>(),
                       "BGP advertisement changed");
                speaker.advertise(want.clone());
                t.advertised = want;
            }
        }
    }
}

/// A BGP tunnel's own advertisement: its domain's local networks, if it publishes.
pub(super) fn own_networks(b: &BgpPeering) -> Advertised {
    b.advertise
        .iter()
        .filter(|_| b.publish)
        .filter_map(|n| Prefix::new(n.network(), n.prefix_len()).ok())
        .map(|p| (p, Vec::new()))
        .collect()
}
