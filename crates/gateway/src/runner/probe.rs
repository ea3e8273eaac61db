//! The runner's health checks: probes sent on time, replies matched, a failed check resets the
//! tunnel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::Runner;
use crate::health::{Check, EchoReply, IcmpSocket};

impl Runner {
    /// (Re)starts the health check of a tunnel as its spec says.
    pub(super) fn start_health(&mut self, k: u64, now: Instant) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        t.health = None;
        self.board.update(&t.spec.id, |s| s.health_check = None);
        let Some(h) = t.spec.health.clone() else {
            return;
        };
        if self.icmp.is_none() {
            let opened = IcmpSocket::open().map(Arc::new).and_then(|sock| {
                let (reader, tx) = (sock.clone(), self.echo_tx.clone());
                std::thread::Builder::new()
                    .name("strait-health".into())
                    .spawn(move || read_echo_replies(&reader, &tx))
                    .map(|_| sock)
            });
            match opened {
                Ok(sock) => self.icmp = Some(sock),
                Err(e) => {
                    error!(parent: &t.span, tunnel = %t.spec.id, "health check: cannot open an ICMP socket: {e}");
                    return;
                }
            }
        }
        // Probes leave from the source IP, so it must be an address of this host.
        if let Err(e) = self.dp.add_address(h.sip) {
            error!(parent: &t.span, tunnel = %t.spec.id, "health check: adding source {}: {e}", h.sip);
        }
        info!(parent: &t.span, tunnel = %t.spec.id, sip = %h.sip, dip = %h.dip, interval = ?h.interval,
              retry = h.retry, revoke_routes = h.revoke_routes, "health check configured");
        // Truncation only narrows the identifier; replies are matched on addresses and sequence too.
        t.health = Some(Check::new(h, k as u16, now));
    }

    /// Checks of tunnels that have an IPsec SA (a tunnel without one is not probed).
    pub(super) fn health_checks(&self) -> impl Iterator<Item = (u64, &Check)> {
        self.tunnels
            .iter()
            .filter(|(_, t)| !t.children.is_empty())
            .filter_map(|(k, t)| t.health.as_ref().map(|c| (*k, c)))
    }

    /// Sends the probes that are due.
    pub(super) fn probe_due(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .health_checks()
            .filter(|(_, c)| c.next_at() <= now)
            .map(|(k, _)| k)
            .collect();
        for k in due {
            let Some(check) = self.tunnels.get_mut(&k).and_then(|t| t.health.as_mut()) else {
                continue;
            };
            let (probe, verdict) = check.tick(now);
            let dip = check.spec.dip;
            if let (Some(probe), Some(sock)) = (probe, &self.icmp) {
                if let Err(e) = sock.send(&probe, dip) {
                    debug!("health check probe to {dip}: {e}");
                }
            }
            if let Some(passing) = verdict {
                self.on_health(k, passing, now);
            }
        }
    }

    pub(super) fn on_echo_reply(&mut self, reply: &EchoReply, now: Instant) {
        let verdicts: Vec<(u64, bool)> = self
            .tunnels
            .iter_mut()
            .filter_map(|(k, t)| Some((*k, t.health.as_mut()?.on_reply(reply)?)))
            .collect();
        for (k, passing) in verdicts {
            self.on_health(k, passing, now);
        }
    }

    /// A health check changed its verdict: a failed one resets the tunnel (and, with RevokeRoute,
    /// withdraws its routes until it passes again).
    pub(super) fn on_health(&mut self, k: u64, passing: bool, now: Instant) {
        let Some(t) = self.tunnels.get(&k) else {
            return;
        };
        let Some(h) = t.health.as_ref().map(|c| c.spec.clone()) else {
            return;
        };
        self.board
            .update(&t.spec.id, |s| s.health_check = Some(passing));
        if passing {
            info!(parent: &t.span, tunnel = %t.spec.id, "health check passes: {} answers {}", h.dip, h.sip);
        } else {
            warn!(parent: &t.span, tunnel = %t.spec.id,
                  "health check failed: {} probes in a row from {} to {} unanswered; resetting the tunnel{}",
                  h.retry, h.sip, h.dip, if h.revoke_routes { " and withdrawing its routes" } else { "" });
            self.endpoint.delete(t.session, now);
            self.initiate(k, now, "reset after a failed health check");
        }
        self.reroute();
    }
}

/// Forwards echo replies from the health checks' ICMP socket to the runner until it stops
/// (a blocking thread: the raw socket is read with a timeout).
pub(super) fn read_echo_replies(sock: &IcmpSocket, tx: &mpsc::UnboundedSender<EchoReply>) {
    while !tx.is_closed() {
        match sock.recv() {
            Ok(Some(reply)) => {
                if tx.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                warn!("receiving health check replies failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
