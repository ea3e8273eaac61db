//! Many sessions behind one pair of IKE ports: demultiplexing, half-open accounting and cookies.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::Instant;

use strait_crypto::{Prf, fill_random};

use super::config::Config;
use super::event::{Event, SessionId, Transmit};
use super::message::{
    ExchangeType, Header, Message, Notify, NotifyType, Payload, first, peek_header,
};
use super::session::Session;

/// Settings shared by every session of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Half-open responder IKE SAs above which IKE_SA_INIT requests must return a COOKIE.
    pub cookie_threshold: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            cookie_threshold: 32,
        }
    }
}

/// The IKEv2 endpoint: a sans-IO state machine fed datagrams and time, yielding datagrams and events.
pub struct Endpoint {
    config: EndpointConfig,
    sessions: BTreeMap<SessionId, Session>,
    next_id: u64,
    cookie_secret: [u8; 32],
    out: VecDeque<Transmit>,
}

impl Endpoint {
    /// An endpoint with no sessions.
    pub fn new(config: EndpointConfig) -> Self {
        let mut cookie_secret = [0; 32];
        fill_random(&mut cookie_secret);
        Self {
            config,
            sessions: BTreeMap::new(),
            next_id: 1,
            cookie_secret,
            out: VecDeque::new(),
        }
    }

    /// Adds a configured peering; it responds to the peer at once and initiates on [`Endpoint::initiate`].
    pub fn add_session(&mut self, config: Config) -> SessionId {
        let id = SessionId(self.next_id);
        self.next_id += 1;
        self.sessions.insert(id, Session::new(config));
        id
    }

    /// Forgets a session without sending anything (use [`Endpoint::delete`] first to tell the peer).
    pub fn remove_session(&mut self, id: SessionId) {
        self.sessions.remove(&id);
    }

    /// Starts negotiating a session's IKE SA and keeps it up from now on.
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

    /// Feeds one received IKE message (without the non-ESP marker).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) {
        let Ok(header) = peek_header(data) else {
            return;
        };
        if let Some(s) = self.sessions.values_mut().find(|s| s.owns(&header)) {
            s.handle(now, local, remote, data);
            return;
        }
        if header.response || header.exchange != ExchangeType::IKE_SA_INIT || header.spi_r != 0 {
            return;
        }
        let Ok(msg) = Message::parse(data) else {
            return;
        };
        let half_open: usize = self.sessions.values().map(Session::half_open).sum();
        if half_open >= self.config.cookie_threshold && !self.cookie_valid(&msg, remote) {
            self.send_cookie(&header, &msg, local, remote);
            return;
        }
        let session = self
            .sessions
            .values_mut()
            .find(|s| s.config().remote.ip() == remote.ip() && s.config().local.ip() == local.ip());
        if let Some(s) = session {
            s.respond_init(now, local, remote, data, msg);
        }
    }

    /// COOKIE = prf(secret, Ni | IPi | SPIi) (RFC 7296 §2.6).
    fn cookie(&self, msg: &Message, remote: SocketAddrV4) -> Vec<u8> {
        let ni = first!(msg, Payload::Nonce).map(Vec::as_slice);
        let spi = msg.header.spi_i.to_be_bytes();
        Prf::HmacSha256.prf(
            &self.cookie_secret,
            &[ni.unwrap_or_default(), &remote.ip().octets(), &spi],
        )
    }

    fn cookie_valid(&self, msg: &Message, remote: SocketAddrV4) -> bool {
        msg.notify(NotifyType::COOKIE)
            .is_some_and(|c| c.data == self.cookie(msg, remote))
    }

    fn send_cookie(
        &mut self,
        header: &Header,
        msg: &Message,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) {
        let reply = Header {
            spi_r: 0,
            response: true,
            initiator: false,
            ..*header
        };
        let cookie = Payload::Notify(Notify::new(NotifyType::COOKIE, self.cookie(msg, remote)));
        self.out.push_back(Transmit {
            local,
            remote,
            data: Message::encode(&reply, &[cookie]),
        });
    }

    /// IKE SAs a session holds, in any state (for tests).
    #[cfg(test)]
    pub(crate) fn ike_sa_count(&self, id: SessionId) -> usize {
        self.sessions.get(&id).map_or(0, Session::ike_sa_count)
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
}
