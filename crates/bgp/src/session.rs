//! Sans-IO eBGP session: the RFC 4271 §8 state machine for one peer over one TCP connection.
//!
//! The caller feeds it connection events, received bytes and the current time; it answers with
//! bytes to send ([`Session::poll_transmit`]), the next timer deadline ([`Session::poll_timeout`])
//! and [`Event`]s ([`Session::poll_event`]). It never touches a socket or a clock.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::message::{
    self, AFI_IPV4, AS_TRANS, Capability, DecodeError, Message, Notification, Open, Origin,
    PathAttributes, Prefix, SAFI_UNICAST,
};

/// Hold time used between sending OPEN and receiving the peer's (RFC 4271 §8: "large value").
const OPEN_HOLD: Duration = Duration::from_secs(240);

/// Settings of one eBGP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our ASN.
    pub local_asn: u32,
    /// The ASN the peer must open with.
    pub peer_asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// NEXT_HOP of the routes we advertise: our address on the peering link.
    pub next_hop: Ipv4Addr,
    /// Hold time we propose, in seconds (0 or at least 3).
    pub hold_time: u16,
}

/// RFC 4271 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not trying to peer.
    Idle,
    /// Opening a TCP connection to the peer.
    Connect,
    /// Waiting for the peer to open a TCP connection.
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Exchanging routes.
    Established,
}

/// A route learned from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination.
    pub prefix: Prefix,
    /// NEXT_HOP the peer gave.
    pub next_hop: Ipv4Addr,
    /// AS_PATH, peer's ASN first.
    pub as_path: Vec<u32>,
}

/// Routes we advertise: each prefix with the AS path beyond our own ASN (empty for our own
/// networks; the learned path for a route passed on from another peer).
pub type Advertised = BTreeMap<Prefix, Vec<u32>>;

/// Why a session went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// No KEEPALIVE or UPDATE within the hold time; we sent NOTIFICATION 4/0.
    HoldTimerExpired,
    /// We reset the session with this NOTIFICATION after an error.
    SentNotification(Notification),
    /// The peer reset the session with this NOTIFICATION.
    ReceivedNotification(Notification),
    /// The TCP connection closed or failed.
    ConnectionClosed,
    /// The caller stopped the session (we sent Cease 6/2 if a connection was open).
    Stopped,
}

/// Something the caller should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The session reached Established.
    Established,
    /// Routes changed: new or replaced routes, and prefixes that are no longer reachable.
    RoutesLearned {
        /// Routes announced (or replaced) by the peer.
        announced: Vec<Route>,
        /// Previously learned prefixes the peer withdrew.
        withdrawn: Vec<Prefix>,
    },
    /// The session ended; every learned route is gone and the caller should close the connection.
    Down {
        /// Why.
        reason: DownReason,
    },
}

/// What both OPENs agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Hold time in seconds (0: no keepalives, no hold timer).
    pub hold_time: u16,
    /// Both sides use 4-octet AS numbers.
    pub four_octet: bool,
    /// The peer accepts ROUTE-REFRESH.
    pub route_refresh: bool,
}

/// One eBGP session (see the module docs).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    negotiated: Option<Negotiated>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    events: VecDeque<Event>,
    hold_deadline: Option<Instant>,
    keepalive_deadline: Option<Instant>,
    advertised: Advertised,
    learned: BTreeMap<Prefix, Route>,
}

impl Session {
    /// A session in Idle.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            negotiated: None,
            rx: Vec::new(),
            tx: Vec::new(),
            events: VecDeque::new(),
            hold_deadline: None,
            keepalive_deadline: None,
            advertised: Advertised::new(),
            learned: BTreeMap::new(),
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What the OPEN exchange agreed on, once it has happened.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    /// Routes currently learned from the peer.
    pub fn learned(&self) -> &BTreeMap<Prefix, Route> {
        &self.learned
    }

    /// Prefixes we advertise while Established.
    pub fn advertised(&self) -> &Advertised {
        &self.advertised
    }

    /// Starts peering from Idle: Connect when we open the TCP connection, Active when we wait for it.
    pub fn start(&mut self, passive: bool) {
        if self.state == State::Idle {
            self.state = if passive {
                State::Active
            } else {
                State::Connect
            };
        }
    }

    /// The TCP connection is up: sends OPEN. Ignored unless in Connect or Active.
    pub fn connection_up(&mut self, now: Instant) {
        if !matches!(self.state, State::Connect | State::Active) {
            return;
        }
        let open = Open {
            version: 4,
            my_as: u16::try_from(self.config.local_asn).unwrap_or(AS_TRANS),
            hold_time: self.config.hold_time,
            bgp_id: self.config.router_id,
            capabilities: vec![
                Capability::Multiprotocol {
                    afi: AFI_IPV4,
                    safi: SAFI_UNICAST,
                },
                Capability::RouteRefresh,
                Capability::FourOctetAs(self.config.local_asn),
            ],
        };
        self.send(&Message::Open(open));
        self.hold_deadline = Some(now + OPEN_HOLD);
        self.state = State::OpenSent;
    }

    /// The TCP connection closed or could not be opened; only an open session reports Down.
    pub fn connection_lost(&mut self) {
        match self.state {
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.down(DownReason::ConnectionClosed)
            }
            _ => self.state = State::Idle,
        }
    }

    /// Stops the session, sending Cease (administrative shutdown) if a connection is open.
    pub fn stop(&mut self) {
        if matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        ) {
            self.send(&Message::Notification(Notification::new(
                Notification::CEASE,
                2,
                [],
            )));
        }
        if self.state != State::Idle {
            self.down(DownReason::Stopped);
        }
    }

    /// Feeds bytes received on the connection.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        ) {
            return;
        }
        self.rx.extend_from_slice(bytes);
        while self.state != State::Idle {
            let len = match message::frame(&self.rx) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(n) => return self.reset(n),
            };
            let msg: Vec<u8> = self.rx.drain(..len).collect();
            let four_octet = self.negotiated.is_some_and(|n| n.four_octet);
            match Message::decode(&msg, four_octet) {
                Ok(m) => self.handle_message(now, m),
                Err(DecodeError::Reset(n)) => self.reset(n),
                Err(DecodeError::TreatAsWithdraw { withdrawn, .. })
                    if self.state == State::Established =>
                {
                    self.restart_hold(now);
                    self.apply(Vec::new(), withdrawn);
                }
                Err(DecodeError::TreatAsWithdraw { .. }) => self.unexpected(),
            }
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hold_deadline.is_some_and(|d| d <= now) {
            self.send(&Message::Notification(Notification::new(
                Notification::HOLD_TIMER_EXPIRED,
                0,
                [],
            )));
            self.down(DownReason::HoldTimerExpired);
            return;
        }
        if self.keepalive_deadline.is_some_and(|d| d <= now) {
            self.send(&Message::Keepalive);
            self.restart_keepalive(now);
        }
    }

    /// The earliest time [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.hold_deadline, self.keepalive_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Bytes to write to the connection, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.tx.is_empty()).then(|| std::mem::take(&mut self.tx))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Replaces the routes we advertise; when Established, sends the difference.
    pub fn set_advertised(&mut self, now: Instant, routes: Advertised) {
        if self.state == State::Established {
            let withdrawn: Vec<Prefix> = self
                .advertised
                .keys()
                .filter(|p| !routes.contains_key(p))
                .copied()
                .collect();
            let announced: Advertised = routes
                .iter()
                .filter(|(p, path)| self.advertised.get(p) != Some(path))
                .map(|(p, path)| (*p, path.clone()))
                .collect();
            self.send_updates(now, &withdrawn, &announced);
        }
        self.advertised = routes;
    }

    /// Asks the peer to re-send its routes; false when not Established or the peer lacks the capability.
    pub fn request_route_refresh(&mut self) -> bool {
        let ok =
            self.state == State::Established && self.negotiated.is_some_and(|n| n.route_refresh);
        if ok {
            self.send(&Message::RouteRefresh {
                afi: AFI_IPV4,
                safi: SAFI_UNICAST,
            });
        }
        ok
    }

    fn handle_message(&mut self, now: Instant, msg: Message) {
        match (self.state, msg) {
            (_, Message::Notification(n)) => self.down(DownReason::ReceivedNotification(n)),
            (State::OpenSent, Message::Open(open)) => self.handle_open(now, &open),
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.restart_hold(now);
                self.events.push_back(Event::Established);
                let all = self.advertised.clone();
                self.send_updates(now, &[], &all);
            }
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            (State::Established, Message::Update(update)) => {
                self.restart_hold(now);
                let mut withdrawn = update.withdrawn;
                let mut announced = Vec::new();
                if let Some(attrs) = update.attributes {
                    if self.acceptable(&attrs) {
                        announced = update
                            .nlri
                            .into_iter()
                            .map(|prefix| Route {
                                prefix,
                                next_hop: attrs.next_hop,
                                as_path: attrs.as_path.clone(),
                            })
                            .collect();
                    } else {
                        withdrawn.extend(update.nlri);
                    }
                }
                self.apply(announced, withdrawn);
            }
            (State::Established, Message::RouteRefresh { afi, safi }) => {
                self.restart_hold(now);
                if (afi, safi) == (AFI_IPV4, SAFI_UNICAST) {
                    let all = self.advertised.clone();
                    self.send_updates(now, &[], &all);
                }
            }
            _ => self.unexpected(),
        }
    }

    /// RFC 7606-style checks that make a syntactically valid route unusable: an AS_PATH that does
    /// not start with the peer (eBGP), one that contains our ASN (loop), or a bogus NEXT_HOP.
    fn acceptable(&self, attrs: &PathAttributes) -> bool {
        let hop = attrs.next_hop;
        attrs.as_path.first() == Some(&self.config.peer_asn)
            && !attrs.as_path.contains(&self.config.local_asn)
            && !(hop.is_unspecified()
                || hop.is_multicast()
                || hop.is_broadcast()
                || hop == self.config.next_hop)
    }

    fn handle_open(&mut self, now: Instant, open: &Open) {
        let peer_asn = open.asn();
        if peer_asn != self.config.peer_asn
            || (open.four_octet_as().is_some_and(|a| a > 65535) && open.my_as != AS_TRANS)
        {
            return self.reset(Notification::new(
                Notification::OPEN,
                2,
                open.my_as.to_be_bytes(),
            ));
        }
        if open.bgp_id.is_unspecified() || open.bgp_id == self.config.router_id {
            return self.reset(Notification::new(
                Notification::OPEN,
                3,
                open.bgp_id.octets(),
            ));
        }
        if matches!(open.hold_time, 1 | 2) {
            return self.reset(Notification::new(
                Notification::OPEN,
                6,
                open.hold_time.to_be_bytes(),
            ));
        }
        let hold_time = open.hold_time.min(self.config.hold_time);
        self.negotiated = Some(Negotiated {
            hold_time,
            four_octet: open.four_octet_as().is_some(),
            route_refresh: open.has(&Capability::RouteRefresh),
        });
        self.send(&Message::Keepalive);
        self.state = State::OpenConfirm;
        self.restart_hold(now);
        self.restart_keepalive(now);
    }

    fn apply(&mut self, announced: Vec<Route>, withdrawn: Vec<Prefix>) {
        let withdrawn: Vec<Prefix> = withdrawn
            .into_iter()
            .filter(|p| self.learned.remove(p).is_some())
            .collect();
        let announced: Vec<Route> = announced
            .into_iter()
            .filter(|r| self.learned.insert(r.prefix, r.clone()).as_ref() != Some(r))
            .collect();
        if !announced.is_empty() || !withdrawn.is_empty() {
            self.events.push_back(Event::RoutesLearned {
                announced,
                withdrawn,
            });
        }
    }

    /// Sends withdrawals, then one run of UPDATEs per distinct AS path of the announced routes.
    fn send_updates(&mut self, now: Instant, withdrawn: &[Prefix], announced: &Advertised) {
        let attrs = |beyond: &[u32]| PathAttributes {
            origin: Origin::Igp,
            as_path: std::iter::once(self.config.local_asn)
                .chain(beyond.iter().copied())
                .collect(),
            next_hop: self.config.next_hop,
        };
        let four_octet = self.negotiated.is_some_and(|n| n.four_octet);
        let mut by_path: BTreeMap<&[u32], Vec<Prefix>> = BTreeMap::new();
        for (prefix, path) in announced {
            by_path.entry(path.as_slice()).or_default().push(*prefix);
        }
        let mut msgs = message::encode_updates(withdrawn, &[], &attrs(&[]), four_octet);
        for (path, prefixes) in by_path {
            msgs.extend(message::encode_updates(
                &[],
                &prefixes,
                &attrs(path),
                four_octet,
            ));
        }
        if !msgs.is_empty() {
            msgs.iter().for_each(|m| self.tx.extend_from_slice(m));
            self.restart_keepalive(now);
        }
    }

    fn hold(&self) -> Option<Duration> {
        self.negotiated
            .map(|n| Duration::from_secs(n.hold_time.into()))
            .filter(|d| !d.is_zero())
    }

    fn restart_hold(&mut self, now: Instant) {
        self.hold_deadline = self.hold().map(|h| now + h);
    }

    fn restart_keepalive(&mut self, now: Instant) {
        self.keepalive_deadline = self
            .hold()
            .map(|h| now + (h / 3).max(Duration::from_secs(1)));
    }

    /// RFC 6608 FSM error: an unexpected message for the current state.
    fn unexpected(&mut self) {
        let subcode = match self.state {
            State::OpenSent => 1,
            State::OpenConfirm => 2,
            _ => 3,
        };
        self.reset(Notification::new(Notification::FSM, subcode, []));
    }

    fn reset(&mut self, n: Notification) {
        self.send(&Message::Notification(n.clone()));
        self.down(DownReason::SentNotification(n));
    }

    fn send(&mut self, msg: &Message) {
        self.tx.extend_from_slice(&msg.encode());
    }

    fn down(&mut self, reason: DownReason) {
        self.state = State::Idle;
        self.negotiated = None;
        self.rx.clear();
        self.hold_deadline = None;
        self.keepalive_deadline = None;
        self.learned.clear();
        self.events.push_back(Event::Down { reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Update, encode_updates};

    const LOCAL: u32 = 65531;
    const PEER: u32 = 65530;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn config(local_asn: u32, hold_time: u16) -> SessionConfig {
        SessionConfig {
            local_asn,
            peer_asn: PEER,
            router_id: "169.254.10.1".parse().unwrap(),
            next_hop: "169.254.10.1".parse().unwrap(),
            hold_time,
        }
    }

    fn peer_open(asn: u32, hold_time: u16, four_octet: bool) -> Open {
        let mut capabilities = vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
        ];
        if four_octet {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id: "169.254.10.2".parse().unwrap(),
            capabilities,
        }
    }

    /// Path attributes of a route from the peer's side of the link.
    fn peer_path(as_path: Vec<u32>) -> PathAttributes {
        PathAttributes {
            origin: Origin::Igp,
            as_path,
            next_hop: "169.254.10.2".parse().unwrap(),
        }
    }

    /// An UPDATE announcing `prefix` with `attrs`.
    fn announce(prefix: &str, attrs: &PathAttributes, four_octet: bool) -> Vec<u8> {
        encode_updates(&[], &[p(prefix)], attrs, four_octet).concat()
    }

    /// Decodes every message in `bytes`.
    fn messages(bytes: &[u8], four_octet: bool) -> Vec<Message> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Ok(Some(len)) = message::frame(rest) {
            out.push(Message::decode(&rest[..len], four_octet).unwrap());
            rest = &rest[len..];
        }
        assert!(rest.is_empty(), "trailing bytes");
        out
    }

    fn sent(s: &mut Session) -> Vec<Message> {
        let four = s.negotiated().is_none_or(|n| n.four_octet);
        messages(&s.poll_transmit().unwrap_or_default(), four)
    }

    fn events(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    /// A session taken to Established against a peer with the given OPEN, at time `t0`.
    fn established(local_asn: u32, hold: u16, open: Open, t0: Instant) -> Session {
        let mut s = Session::new(config(local_asn, hold));
        s.set_advertised(t0, [(p("10.0.0.0/16"), vec![])].into());
        s.start(false);
        assert_eq!(s.state(), State::Connect);
        s.connection_up(t0);
        assert_eq!(s.state(), State::OpenSent);
        s.handle_input(t0, &Message::Open(open).encode());
        assert_eq!(s.state(), State::OpenConfirm);
        s.handle_input(t0, &Message::Keepalive.encode());
        assert_eq!(s.state(), State::Established);
        s
    }

    fn down_with(s: &mut Session) -> Notification {
        match events(s).pop() {
            Some(Event::Down {
                reason: DownReason::SentNotification(n),
            }) => n,
            other => panic!("expected Down after a sent NOTIFICATION, got {other:?}"),
        }
    }

    #[test]
    fn open_exchange_negotiates_and_advertises_our_prefix() {
        let t0 = Instant::now();
        let mut s = Session::new(config(LOCAL, 90));
        s.set_advertised(t0, [(p("10.0.0.0/16"), vec![])].into());
        s.start(false);
        s.connection_up(t0);
        let Message::Open(open) = &sent(&mut s)[0] else {
            panic!("OPEN first")
        };
        assert_eq!((open.my_as, open.hold_time, open.asn()), (65531, 90, LOCAL));
        assert!(
            open.has(&Capability::RouteRefresh)
                && open.has(&Capability::Multiprotocol { afi: 1, safi: 1 })
        );

        s.handle_input(t0, &Message::Open(peer_open(PEER, 30, true)).encode());
        assert_eq!(sent(&mut s), vec![Message::Keepalive]);
        assert_eq!(
            s.negotiated(),
            Some(Negotiated {
                hold_time: 30,
                four_octet: true,
                route_refresh: true
            })
        );
        s.handle_input(t0, &Message::Keepalive.encode());
        assert_eq!(events(&mut s), vec![Event::Established]);
        let Message::Update(u) = &sent(&mut s)[0] else {
            panic!("UPDATE after Established")
        };
        assert_eq!(u.nlri, vec![p("10.0.0.0/16")]);
        let attrs = u.attributes.as_ref().unwrap();
        assert_eq!(
            (attrs.origin, attrs.as_path.clone(), attrs.next_hop),
            (Origin::Igp, vec![LOCAL], config(LOCAL, 90).next_hop)
        );
        // Keepalives at a third of the negotiated 30 s.
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn four_byte_local_asn_uses_as_trans_towards_a_two_byte_peer() {
        let t0 = Instant::now();
        let mut s = established(4_200_000_001, 90, peer_open(PEER, 90, false), t0);
        let raw = s.poll_transmit().unwrap();
        let msgs = messages(&raw, false);
        let Message::Open(open) = &msgs[0] else {
            panic!()
        };
        assert_eq!(
            (open.my_as, open.four_octet_as()),
            (AS_TRANS, Some(4_200_000_001))
        );
        assert!(!s.negotiated().unwrap().four_octet);
        // AS_PATH carries AS_TRANS in 2 bytes; the AS4_PATH gives the real ASN back.
        let Message::Update(u) = msgs.last().unwrap() else {
            panic!()
        };
        assert_eq!(u.attributes.as_ref().unwrap().as_path, vec![4_200_000_001]);
        // The 2-byte peer's routes parse with 2-byte AS numbers.
        let attrs = peer_path(vec![PEER]);
        s.handle_input(t0, &announce("192.168.0.0/24", &attrs, false));
        assert_eq!(s.learned()[&p("192.168.0.0/24")].as_path, vec![PEER]);
    }

    #[test]
    fn four_byte_peer_asn_is_read_from_the_capability() {
        let t0 = Instant::now();
        let mut s = Session::new(SessionConfig {
            peer_asn: 4_200_000_002,
            ..config(LOCAL, 90)
        });
        s.start(true);
        assert_eq!(s.state(), State::Active);
        s.connection_up(t0);
        s.handle_input(
            t0,
            &Message::Open(peer_open(4_200_000_002, 90, true)).encode(),
        );
        assert_eq!(s.state(), State::OpenConfirm);
    }

    #[test]
    fn open_errors_send_the_right_notification() {
        let t0 = Instant::now();
        let bad_as_trans = Open {
            my_as: 100,
            ..peer_open(4_200_000_002, 90, true)
        };
        let cases = [
            (PEER, peer_open(65000, 90, true), (2, 2)),
            (
                PEER,
                Open {
                    hold_time: 2,
                    ..peer_open(PEER, 90, true)
                },
                (2, 6),
            ),
            (
                PEER,
                Open {
                    bgp_id: Ipv4Addr::UNSPECIFIED,
                    ..peer_open(PEER, 90, true)
                },
                (2, 3),
            ),
            (4_200_000_002, bad_as_trans, (2, 2)),
        ];
        for (peer_asn, open, (code, subcode)) in cases {
            let mut s = Session::new(SessionConfig {
                peer_asn,
                ..config(LOCAL, 90)
            });
            s.start(false);
            s.connection_up(t0);
            sent(&mut s);
            s.handle_input(t0, &Message::Open(open.clone()).encode());
            let n = down_with(&mut s);
            assert_eq!((n.code, n.subcode), (code, subcode), "{open:?}");
            assert_eq!(sent(&mut s), vec![Message::Notification(n)]);
            assert_eq!(s.state(), State::Idle);
        }
    }

    #[test]
    fn hold_time_zero_disables_keepalives_and_hold_timer() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 0, true), t0);
        assert_eq!(s.negotiated().unwrap().hold_time, 0);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + Duration::from_secs(3600));
        assert_eq!(s.state(), State::Established);
    }

    #[test]
    fn keepalives_go_out_at_a_third_of_the_hold_time() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 9, peer_open(PEER, 90, true), t0);
        sent(&mut s);
        s.handle_timeout(t0 + Duration::from_secs(2));
        assert_eq!(s.poll_transmit(), None);
        s.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(sent(&mut s), vec![Message::Keepalive]);
        // A peer keepalive at 5 s pushes the hold deadline to 14 s.
        s.handle_input(t0 + Duration::from_secs(5), &Message::Keepalive.encode());
        s.handle_timeout(t0 + Duration::from_secs(13));
        assert_eq!(s.state(), State::Established);
    }

    #[test]
    fn hold_timer_expiry_sends_notification_and_goes_down() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 9, peer_open(PEER, 9, true), t0);
        let attrs = peer_path(vec![PEER]);
        s.handle_input(t0, &announce("192.168.0.0/24", &attrs, true));
        events(&mut s);
        sent(&mut s);
        s.handle_timeout(t0 + Duration::from_secs(9));
        let msgs = sent(&mut s);
        assert_eq!(
            msgs.last(),
            Some(&Message::Notification(Notification::new(4, 0, [])))
        );
        assert_eq!(
            events(&mut s),
            vec![Event::Down {
                reason: DownReason::HoldTimerExpired
            }]
        );
        assert!(s.learned().is_empty());
        assert_eq!(s.state(), State::Idle);
    }

    #[test]
    fn updates_are_learned_replaced_and_withdrawn() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        events(&mut s);
        let attrs = peer_path(vec![PEER, 65000]);
        let nets = [
            p("192.168.0.0/24"),
            p("192.168.1.0/24"),
            p("192.168.2.0/24"),
        ];
        s.handle_input(t0, &encode_updates(&[], &nets, &attrs, true)[0]);
        let Some(Event::RoutesLearned {
            announced,
            withdrawn,
        }) = s.poll_event()
        else {
            panic!()
        };
        assert_eq!(announced.iter().map(|r| r.prefix).collect::<Vec<_>>(), nets);
        assert!(withdrawn.is_empty());
        // Re-announcing the same route is not news; withdrawing an unknown prefix is not either.
        s.handle_input(
            t0,
            &encode_updates(&[p("172.16.0.0/12")], &nets[..1], &attrs, true).concat(),
        );
        assert_eq!(s.poll_event(), None);
        s.handle_input(t0, &encode_updates(&[nets[1]], &[], &attrs, true)[0]);
        assert_eq!(
            s.poll_event(),
            Some(Event::RoutesLearned {
                announced: vec![],
                withdrawn: vec![nets[1]]
            })
        );
        assert_eq!(
            s.learned().keys().copied().collect::<Vec<_>>(),
            vec![nets[0], nets[2]]
        );
    }

    #[test]
    fn unusable_paths_are_not_learned() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        events(&mut s);
        for as_path in [vec![65000], vec![PEER, LOCAL]] {
            let attrs = peer_path(as_path);
            s.handle_input(t0, &announce("192.168.0.0/24", &attrs, true));
        }
        let own_hop = PathAttributes {
            origin: Origin::Igp,
            as_path: vec![PEER],
            next_hop: config(LOCAL, 90).next_hop,
        };
        s.handle_input(t0, &announce("192.168.0.0/24", &own_hop, true));
        assert!(s.learned().is_empty());
        assert_eq!(s.state(), State::Established);
    }

    #[test]
    fn malformed_attributes_withdraw_without_resetting() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        let attrs = peer_path(vec![PEER]);
        let mut update = announce("192.168.0.0/24", &attrs, true);
        s.handle_input(t0, &update);
        assert_eq!(s.learned().len(), 1);
        events(&mut s);
        sent(&mut s);
        let origin_value = update.windows(3).position(|w| w == [0x40, 1, 1]).unwrap() + 3;
        update[origin_value] = 9;
        s.handle_input(t0, &update);
        assert_eq!(
            s.poll_event(),
            Some(Event::RoutesLearned {
                announced: vec![],
                withdrawn: vec![p("192.168.0.0/24")]
            })
        );
        assert_eq!(s.state(), State::Established);
        assert_eq!(s.poll_transmit(), None);
    }

    #[test]
    fn malformed_messages_reset_with_the_right_notification() {
        let t0 = Instant::now();
        let mut bad_marker = Message::Keepalive.encode();
        bad_marker[0] = 0;
        let mut unknown_type = Message::Keepalive.encode();
        unknown_type[18] = 42;
        let mut bad_nlri = Message::Update(Update::default()).encode();
        bad_nlri.extend_from_slice(&[40, 1, 2, 3, 4, 5]);
        bad_nlri[17] += 6;
        let mut long_refresh = Message::RouteRefresh { afi: 1, safi: 1 }.encode();
        long_refresh.push(0);
        long_refresh[17] += 1;
        let cases: [(Vec<u8>, (u8, u8)); 5] = [
            (bad_marker, (1, 1)),
            (unknown_type, (1, 3)),
            (bad_nlri, (3, 10)),
            (Message::Open(peer_open(PEER, 90, true)).encode(), (5, 3)),
            (long_refresh, (7, 1)),
        ];
        for (bytes, (code, subcode)) in cases {
            let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
            events(&mut s);
            sent(&mut s);
            s.handle_input(t0, &bytes);
            let n = down_with(&mut s);
            assert_eq!((n.code, n.subcode), (code, subcode), "{bytes:02x?}");
            assert_eq!(
                messages(&s.poll_transmit().unwrap(), true),
                vec![Message::Notification(n)]
            );
        }
    }

    #[test]
    fn unexpected_messages_before_established_are_fsm_errors() {
        let t0 = Instant::now();
        let mut s = Session::new(config(LOCAL, 90));
        s.start(false);
        s.connection_up(t0);
        sent(&mut s);
        s.handle_input(t0, &Message::Keepalive.encode());
        assert_eq!(down_with(&mut s), Notification::new(5, 1, []));
    }

    #[test]
    fn peer_notification_takes_the_session_down() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        events(&mut s);
        sent(&mut s);
        s.handle_input(
            t0,
            &Message::Notification(Notification::new(6, 2, [])).encode(),
        );
        assert_eq!(
            events(&mut s),
            vec![Event::Down {
                reason: DownReason::ReceivedNotification(Notification::new(6, 2, []))
            }]
        );
        assert_eq!(
            s.poll_transmit(),
            None,
            "no NOTIFICATION in answer to a NOTIFICATION"
        );
    }

    #[test]
    fn routes_passed_on_keep_their_path_after_ours_and_a_path_change_is_announced() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        sent(&mut s);
        s.set_advertised(
            t0,
            [
                (p("10.0.0.0/16"), vec![]),
                (p("192.168.1.0/24"), vec![65501]),
                (p("192.168.2.0/24"), vec![65501]),
            ]
            .into(),
        );
        let paths: Vec<(Vec<u32>, Vec<Prefix>)> = sent(&mut s)
            .into_iter()
            .filter_map(|m| match m {
                Message::Update(u) => Some((u.attributes?.as_path, u.nlri)),
                _ => None,
            })
            .collect();
        assert_eq!(
            paths,
            vec![(
                vec![LOCAL, 65501],
                vec![p("192.168.1.0/24"), p("192.168.2.0/24")]
            ),],
            "only what is new is sent; 10.0.0.0/16 was advertised already"
        );
        s.set_advertised(
            t0,
            [
                (p("10.0.0.0/16"), vec![]),
                (p("192.168.1.0/24"), vec![65502]),
            ]
            .into(),
        );
        let msgs = sent(&mut s);
        let [Message::Update(w), Message::Update(a)] = &msgs[..] else {
            panic!("{msgs:?}")
        };
        assert_eq!(w.withdrawn, vec![p("192.168.2.0/24")]);
        assert_eq!(
            (
                a.nlri.clone(),
                a.attributes.as_ref().map(|x| x.as_path.clone())
            ),
            (vec![p("192.168.1.0/24")], Some(vec![LOCAL, 65502]))
        );
    }

    #[test]
    fn route_refresh_readvertises_and_prefix_changes_send_the_difference() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        sent(&mut s);
        s.handle_input(t0, &Message::RouteRefresh { afi: 1, safi: 1 }.encode());
        let Message::Update(u) = &sent(&mut s)[0] else {
            panic!()
        };
        assert_eq!(u.nlri, vec![p("10.0.0.0/16")]);

        s.set_advertised(t0, [(p("10.1.0.0/16"), vec![])].into());
        let msgs = sent(&mut s);
        let [Message::Update(w), Message::Update(a)] = &msgs[..] else {
            panic!("{msgs:?}")
        };
        assert_eq!(
            (w.withdrawn.clone(), a.nlri.clone()),
            (vec![p("10.0.0.0/16")], vec![p("10.1.0.0/16")])
        );
        s.set_advertised(t0, Advertised::new());
        let Message::Update(w) = &sent(&mut s)[0] else {
            panic!()
        };
        assert_eq!(w.withdrawn, vec![p("10.1.0.0/16")]);

        assert!(s.request_route_refresh());
        assert_eq!(
            sent(&mut s),
            vec![Message::RouteRefresh { afi: 1, safi: 1 }]
        );
    }

    #[test]
    fn input_split_at_every_byte_is_reassembled() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        let attrs = peer_path(vec![PEER]);
        let stream = [
            announce("192.168.0.0/24", &attrs, true),
            Message::Keepalive.encode(),
        ]
        .concat();
        for b in &stream {
            s.handle_input(t0, std::slice::from_ref(b));
        }
        assert_eq!(s.learned().len(), 1);
        assert_eq!(s.state(), State::Established);
    }

    #[test]
    fn stop_sends_cease() {
        let t0 = Instant::now();
        let mut s = established(LOCAL, 90, peer_open(PEER, 90, true), t0);
        sent(&mut s);
        events(&mut s);
        s.stop();
        assert_eq!(
            sent(&mut s),
            vec![Message::Notification(Notification::new(6, 2, []))]
        );
        assert_eq!(
            events(&mut s),
            vec![Event::Down {
                reason: DownReason::Stopped
            }]
        );
    }
}
