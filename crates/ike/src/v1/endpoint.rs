//! Many IKEv1 sessions behind one pair of IKE ports, driven like the IKEv2 endpoint.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::Instant;

use super::message::{Header, exchange};
use super::session::{Config, Session};
use crate::v2::{Event, SessionId, Transmit};

/// The IKEv1 endpoint: a sans-IO state machine fed datagrams and time, yielding datagrams and
/// events, with the same driving contract as [`crate::v2::Endpoint`].
#[derive(Default)]
pub struct Endpoint {
    sessions: BTreeMap<SessionId, Session>,
    next_id: u64,
    out: VecDeque<Transmit>,
}

impl Endpoint {
    /// An endpoint with no sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a configured peering; it responds to the peer at once and initiates on [`Endpoint::initiate`].
    pub fn add_session(&mut self, config: Config) -> SessionId {
        self.next_id += 1;
        let id = SessionId(self.next_id);
        self.sessions.insert(id, Session::new(config));
        id
    }

    /// Forgets a session without sending anything (use [`Endpoint::delete`] first to tell the peer).
    pub fn remove_session(&mut self, id: SessionId) {
        self.sessions.remove(&id);
    }

    /// Starts main or aggressive mode for a session and keeps it up from now on.
    pub fn initiate(&mut self, id: SessionId, now: Instant) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.initiate(now);
        }
    }

    /// Sends Delete for a session's SAs, tears them down and stops re-initiating.
    pub fn delete(&mut self, id: SessionId, now: Instant) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.delete(now);
        }
    }

    /// ESP arrived for a session: the peer is alive, no liveness check needed yet.
    pub fn note_inbound_traffic(&mut self, id: SessionId, now: Instant) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.note_inbound_traffic(now);
        }
    }

    /// Feeds one received ISAKMP message (without the non-ESP marker).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) {
        let Ok((header, _)) = Header::peek(data) else {
            return;
        };
        if let Some(s) = self.sessions.values_mut().find(|s| s.owns(&header)) {
            s.handle(now, local, remote, data);
            return;
        }
        let opening = matches!(header.exchange, exchange::MAIN | exchange::AGGRESSIVE)
            && header.cookie_r == 0
            && header.msg_id == 0;
        if !opening {
            return;
        }
        let session = self.sessions.values_mut().find(|s| {
            let p = &s.config().peering;
            p.remote.ip() == remote.ip() && p.local.ip() == local.ip()
        });
        if let Some(s) = session {
            s.respond(now, local, remote, data);
        }
    }

    /// Runs every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            s.handle_timeout(now);
        }
    }

    /// When [`Endpoint::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(Session::poll_timeout)
            .min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out
            .pop_front()
            .or_else(|| self.sessions.values_mut().find_map(|s| s.out.pop_front()))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<(SessionId, Event)> {
        self.sessions
            .iter_mut()
            .find_map(|(id, s)| s.events.pop_front().map(|e| (*id, e)))
    }

    /// Established ISAKMP SAs of a session (for tests).
    #[cfg(test)]
    pub(crate) fn isakmp_count(&self, id: SessionId) -> usize {
        self.sessions.get(&id).map_or(0, Session::isakmp_count)
    }
}
