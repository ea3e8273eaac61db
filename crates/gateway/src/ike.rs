//! The IKEv1 and IKEv2 endpoints side by side, driven as one: received datagrams go to the
//! endpoint their ISAKMP version names, everything else to the session's own endpoint.

use std::net::SocketAddrV4;
use std::time::Instant;

use strait_ike::v2::{EndpointConfig, Event, SessionId, Transmit};
use strait_ike::{v1, v2};
use strait_model::IkeVersion;
use tracing::debug;

use crate::TunnelSpec;
use crate::ikecfg::{ike_config, v1_config};

/// Offset of the version byte in the ISAKMP header (after both cookies and Next Payload).
const VERSION_OFFSET: usize = 17;

/// A session of either endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    version: IkeVersion,
    id: SessionId,
}

/// Both IKE endpoints, with the driving contract of one.
pub struct Ike {
    v1: v1::Endpoint,
    v2: v2::Endpoint,
}

impl Ike {
    /// Endpoints with no sessions.
    pub fn new() -> Ike {
        Ike {
            v1: v1::Endpoint::new(),
            v2: v2::Endpoint::new(EndpointConfig::default()),
        }
    }

    /// Adds a tunnel's peering to the endpoint of its IkeVersion.
    pub fn add_session(&mut self, spec: &TunnelSpec) -> Session {
        let version = spec.ike.ike_version;
        let id = match version {
            IkeVersion::V1 => self.v1.add_session(v1_config(spec)),
            IkeVersion::V2 => self.v2.add_session(ike_config(spec)),
        };
        Session { version, id }
    }

    /// Starts negotiating a session.
    pub fn initiate(&mut self, s: Session, now: Instant) {
        match s.version {
            IkeVersion::V1 => self.v1.initiate(s.id, now),
            IkeVersion::V2 => self.v2.initiate(s.id, now),
        }
    }

    /// Deletes a session's SAs, telling the peer.
    pub fn delete(&mut self, s: Session, now: Instant) {
        match s.version {
            IkeVersion::V1 => self.v1.delete(s.id, now),
            IkeVersion::V2 => self.v2.delete(s.id, now),
        }
    }

    /// Forgets a session (after [`Ike::delete`] told the peer).
    pub fn remove_session(&mut self, s: Session) {
        match s.version {
            IkeVersion::V1 => self.v1.remove_session(s.id),
            IkeVersion::V2 => self.v2.remove_session(s.id),
        }
    }

    /// ESP arrived for a session at `at`.
    pub fn note_inbound_traffic(&mut self, s: Session, at: Instant) {
        match s.version {
            IkeVersion::V1 => self.v1.note_inbound_traffic(s.id, at),
            IkeVersion::V2 => self.v2.note_inbound_traffic(s.id, at),
        }
    }

    /// Feeds a received IKE message (without non-ESP marker) to the endpoint of its version.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) {
        match data.get(VERSION_OFFSET).map(|v| v >> 4) {
            Some(1) => self.v1.handle_datagram(now, local, remote, data),
            Some(2) => self.v2.handle_datagram(now, local, remote, data),
            other => debug!(%remote, version = ?other, "dropping a datagram of no IKE version"),
        }
    }

    /// Runs both endpoints' due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.v1.handle_timeout(now);
        self.v2.handle_timeout(now);
    }

    /// The earliest timer of either endpoint.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.v1.poll_timeout(), self.v2.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next datagram either endpoint wants sent.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.v2.poll_transmit().or_else(|| self.v1.poll_transmit())
    }

    /// The next event of either endpoint, with its session.
    pub fn poll_event(&mut self) -> Option<(Session, Event)> {
        let session = |version| move |(id, ev)| (Session { version, id }, ev);
        self.v2
            .poll_event()
            .map(session(IkeVersion::V2))
            .or_else(|| self.v1.poll_event().map(session(IkeVersion::V1)))
    }
}
