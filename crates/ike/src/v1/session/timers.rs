//! Timers: retransmissions, lifetimes and rekeys, dead peer detection, re-initiation.

use super::*;

/// How long a phase 1 rekey waits after a quick mode (while the ISAKMP SA's lifetime allows):
/// strongSwan 5.9 loses, without a word, an IPsec SA that a quick mode installs on an ISAKMP SA
/// the peer replaces and deletes within the same second.
const QUICK_SETTLE: Duration = Duration::from_secs(2);

impl Session {
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.phase1_timers(now);
        self.quick_timers(now);
        self.child_timers(now);
        self.dpd_timers(now);
        if self.reinit_at.is_some_and(|t| now >= t) {
            self.reinit_at = None;
            if self.active && self.current().is_none() && !self.sas.iter().any(|s| s.initiator) {
                self.start_phase1(now);
            }
        }
    }

    /// Retransmits a flight when due; `false` once its tries are exhausted.
    pub(super) fn retransmit(&mut self, now: Instant, flight: &mut Flight) -> bool {
        let Some((at, tries)) = flight.retx else {
            return true;
        };
        if now < at {
            return true;
        }
        if tries >= self.peering().retransmit.tries {
            return false;
        }
        flight.retx = Some((self.retx_at(now, tries + 1), tries + 1));
        if let Some(t) = flight.tx.clone() {
            self.send(t);
        }
        true
    }

    pub(super) fn phase1_timers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.sas.len() {
            let mut sa = self.sas.remove(i);
            if !self.retransmit(now, &mut sa.flight) {
                if sa.initiator {
                    self.fail_phase1(now, &sa, FailureReason::PeerNotResponding, None);
                }
                continue;
            }
            if sa.expires.is_some_and(|t| now >= t) {
                let others_up = self.sas.iter().any(|s| s.state == P1State::Up);
                if sa.state == P1State::Up && !others_up {
                    self.events.push_back(Event::IkeSaDeleted {
                        reason: DeleteReason::Expired,
                    });
                }
                continue;
            }
            let due = sa.rekey_at.is_some_and(|t| now >= t) && !sa.rekeying && self.active;
            if due
                && self.quick_mode_settling(now)
                && sa.expires.is_none_or(|e| now + QUICK_SETTLE < e)
            {
                sa.rekey_at = Some(now + QUICK_SETTLE);
            }
            let rekey = sa.rekey_at.is_some_and(|t| now >= t) && !sa.rekeying && self.active;
            sa.rekeying |= rekey;
            self.sas.insert(i, sa);
            i += 1;
            if rekey {
                self.start_phase1(now);
            }
        }
    }

    /// A quick mode is in flight or installed an IPsec SA less than [`QUICK_SETTLE`] ago.
    fn quick_mode_settling(&self, now: Instant) -> bool {
        self.quicks.iter().any(|q| q.linger.is_none())
            || self
                .children
                .iter()
                .any(|c| now.saturating_duration_since(c.since) < QUICK_SETTLE)
    }

    pub(super) fn quick_timers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.quicks.len() {
            let mut q = self.quicks.remove(i);
            if q.linger.is_some_and(|t| now >= t) {
                continue;
            }
            if !self.retransmit(now, &mut q.flight) {
                if q.initiator {
                    self.events.push_back(Event::Failed {
                        reason: FailureReason::PeerNotResponding,
                    });
                }
                continue;
            }
            self.quicks.insert(i, q);
            i += 1;
        }
    }

    pub(super) fn child_timers(&mut self, now: Instant) {
        let expired: Vec<u32> = self
            .children
            .iter()
            .filter(|c| c.expires.is_some_and(|t| now >= t))
            .map(|c| c.in_spi)
            .collect();
        for spi in expired {
            self.delete_child(now, spi, true);
        }
        let due: Vec<(u32, u32)> = self
            .children
            .iter_mut()
            .filter(|c| !c.rekeying && c.rekey_at.is_some_and(|t| now >= t))
            .map(|c| {
                c.rekeying = true;
                (c.in_spi, c.out_spi)
            })
            .collect();
        if self.active {
            for pair in due {
                self.start_quick(now, Some(pair));
            }
        }
    }

    /// When the next DPD step is due: the next R-U-THERE or the dead-peer deadline.
    pub(super) fn dpd_due(&self) -> Option<Instant> {
        let dpd = self.peering().dpd?;
        let si = self.current()?;
        if !self.sas.get(si)?.peer_dpd {
            return None;
        }
        match self.dpd_pending {
            None => Some(self.last_heard? + dpd.interval),
            Some((since, next, _)) => Some(next.min(since + dpd.timeout)),
        }
    }

    pub(super) fn dpd_timers(&mut self, now: Instant) {
        let (Some(due), Some(dpd), Some(si)) = (self.dpd_due(), self.peering().dpd, self.current())
        else {
            return;
        };
        if now < due {
            return;
        }
        if let Some((since, _, _)) = self.dpd_pending
            && now >= since + dpd.timeout
        {
            self.events.push_back(Event::Failed {
                reason: FailureReason::DeadPeer,
            });
            self.teardown(DeleteReason::Failed(FailureReason::DeadPeer));
            self.schedule_reinit(now);
            return;
        }
        self.dpd_seq = self.dpd_seq.wrapping_add(1);
        let since = self.dpd_pending.map_or(now, |(s, _, _)| s);
        self.dpd_pending = Some((
            since,
            now + self.peering().retransmit.base.min(dpd.interval),
            self.dpd_seq,
        ));
        let Some(sa) = self.sas.get(si) else {
            return;
        };
        let n = Notify {
            protocol: proto::ISAKMP,
            spi: sa.cookies(),
            kind: notify::R_U_THERE,
            data: self.dpd_seq.to_be_bytes().to_vec(),
        };
        self.informational(si, now, Payload::new(payload::NOTIFY, n.encode()));
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let sas = self.sas.iter().flat_map(|s| {
            let rekey = s.rekey_at.filter(|_| !s.rekeying && self.active);
            [s.flight.retx.map(|r| r.0), s.expires, rekey]
        });
        let quicks = self
            .quicks
            .iter()
            .flat_map(|q| [q.flight.retx.map(|r| r.0), q.linger]);
        let children = self.children.iter().flat_map(|c| {
            let rekey = c.rekey_at.filter(|_| !c.rekeying && self.active);
            [c.expires, rekey]
        });
        sas.chain(quicks)
            .chain(children)
            .chain([self.dpd_due(), self.reinit_at])
            .flatten()
            .min()
    }
}
