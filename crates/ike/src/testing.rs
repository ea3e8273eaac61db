//! In-process test harness: two endpoints of either IKE version driven against each other with a
//! fake clock, over a link that can be cut, drop b's datagrams and hide a behind a NAT.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::v2::{EspKeys, Event, FailureReason, SessionId, Transmit};

/// a's private address; a config with it as a's local address puts a behind the NAT.
pub(crate) const A_NAT_PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The NAT's public address, which b sees a's datagrams come from.
pub(crate) const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// How far the NAT moves a's source ports.
pub(crate) const NAT_PORT_SHIFT: u16 = 10000;

/// `ip` on the IKE port 500.
pub(crate) fn addr(ip: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(ip, 500)
}

/// The sans-IO driving contract both endpoints share.
pub(crate) trait Driven {
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    );
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<(SessionId, Event)>;
}

macro_rules! driven {
    ($endpoint:ty) => {
        impl Driven for $endpoint {
            fn handle_datagram(
                &mut self,
                now: Instant,
                local: SocketAddrV4,
                remote: SocketAddrV4,
                data: &[u8],
            ) {
                <$endpoint>::handle_datagram(self, now, local, remote, data)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$endpoint>::handle_timeout(self, now)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$endpoint>::poll_timeout(self)
            }
            fn poll_transmit(&mut self) -> Option<Transmit> {
                <$endpoint>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<(SessionId, Event)> {
                <$endpoint>::poll_event(self)
            }
        }
    };
}
driven!(crate::v1::Endpoint);
driven!(crate::v2::Endpoint);

/// An initiator (a) and a responder (b) with one session each, and the link between them.
pub(crate) struct Pair<E> {
    pub(crate) a: E,
    pub(crate) b: E,
    pub(crate) a_id: SessionId,
    pub(crate) b_id: SessionId,
    pub(crate) now: Instant,
    pub(crate) a_events: Vec<Event>,
    pub(crate) b_events: Vec<Event>,
    pub(crate) link_up: bool,
    pub(crate) nat: bool,
    /// Datagrams a sent (including retransmissions), delivered or not.
    pub(crate) a_sent: usize,
    /// Datagrams of b to drop before delivering (to force retransmissions).
    pub(crate) drop_next_from_b: usize,
}

impl<E: Driven> Pair<E> {
    /// Links a and their sessions, with a behind the NAT when `nat`.
    pub(crate) fn link(a: E, a_id: SessionId, b: E, b_id: SessionId, nat: bool) -> Self {
        Self {
            a,
            b,
            a_id,
            b_id,
            now: Instant::now(),
            a_events: vec![],
            b_events: vec![],
            link_up: true,
            nat,
            a_sent: 0,
            drop_next_from_b: 0,
        }
    }

    /// Delivers datagrams until both sides are quiet.
    pub(crate) fn drive(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                self.a_sent += 1;
                if self.link_up {
                    let remote = if self.nat {
                        SocketAddrV4::new(NAT_PUBLIC, t.local.port() + NAT_PORT_SHIFT)
                    } else {
                        t.local
                    };
                    self.b.handle_datagram(self.now, t.remote, remote, &t.data);
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                if self.drop_next_from_b > 0 {
                    self.drop_next_from_b -= 1;
                    continue;
                }
                if self.link_up {
                    let local = if self.nat {
                        SocketAddrV4::new(A_NAT_PRIVATE, t.remote.port() - NAT_PORT_SHIFT)
                    } else {
                        t.remote
                    };
                    self.a.handle_datagram(self.now, local, t.local, &t.data);
                }
            }
            while let Some((id, e)) = self.a.poll_event() {
                assert_eq!(id, self.a_id);
                self.a_events.push(e);
            }
            while let Some((id, e)) = self.b.poll_event() {
                assert_eq!(id, self.b_id);
                self.b_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("endpoints never went quiet");
    }

    /// Advances the fake clock by `d`, firing timers on the way.
    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.drive();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("timers never settled");
    }

    /// Both sides report their child SA on port 4500 with UDP encapsulation, b seeing a at the
    /// NAT's public address and shifted port.
    pub(crate) fn assert_floated_through_nat(&self, b: Ipv4Addr) {
        let endpoints = |events: &[Event]| {
            events.iter().find_map(|e| match e {
                Event::ChildSaEstablished {
                    local,
                    remote,
                    udp_encap,
                    ..
                } => Some((*local, *remote, *udp_encap)),
                _ => None,
            })
        };
        assert_eq!(
            endpoints(&self.a_events),
            Some((
                SocketAddrV4::new(A_NAT_PRIVATE, 4500),
                SocketAddrV4::new(b, 4500),
                true
            ))
        );
        assert_eq!(
            endpoints(&self.b_events),
            Some((
                SocketAddrV4::new(b, 4500),
                SocketAddrV4::new(NAT_PUBLIC, 4500 + NAT_PORT_SHIFT),
                true
            ))
        );
    }
}

/// The child SA pairs a side currently has, from its event history: (inbound, outbound) keys.
pub(crate) fn live_children(events: &[Event]) -> Vec<(EspKeys, EspKeys)> {
    let mut live: Vec<(EspKeys, EspKeys)> = Vec::new();
    for e in events {
        match e {
            Event::ChildSaEstablished {
                inbound, outbound, ..
            } => live.push((inbound.clone(), outbound.clone())),
            Event::ChildSaDeleted { in_spi, .. } => live.retain(|(i, _)| i.spi != *in_spi),
            _ => {}
        }
    }
    live
}

/// How many events match `f`.
pub(crate) fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// The reasons of every failure reported.
pub(crate) fn failures(events: &[Event]) -> Vec<FailureReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}
