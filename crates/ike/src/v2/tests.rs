//! Two endpoints driven against each other in-process with a fake clock.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use strait_crypto::{DhGroup, Encr, Integ, Prf};

use super::*;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const A_NAT_PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const NAT_PORT_SHIFT: u16 = 10000;

fn addr(ip: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(ip, 500)
}

fn config(local: Ipv4Addr, remote: Ipv4Addr) -> Config {
    let mut c = Config::new(addr(local), addr(remote), b"fddsFF123".to_vec());
    c.rekey_jitter = Duration::ZERO;
    c
}

/// An initiator (a) and a responder (b) with a link that can drop packets and hide `a` behind a NAT.
struct Pair {
    a: Endpoint,
    b: Endpoint,
    a_id: SessionId,
    b_id: SessionId,
    now: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
    link_up: bool,
    nat: bool,
    /// Datagrams a sent (including retransmissions), delivered or not.
    a_sent: usize,
    /// Responses from b to drop before delivering (to force retransmissions).
    drop_next_from_b: usize,
}

impl Pair {
    fn new(ca: Config, cb: Config) -> Self {
        Self::with_endpoint(ca, cb, EndpointConfig::default())
    }

    fn with_endpoint(ca: Config, cb: Config, b_config: EndpointConfig) -> Self {
        let nat = *ca.local.ip() == A_NAT_PRIVATE;
        let mut a = Endpoint::new(EndpointConfig::default());
        let mut b = Endpoint::new(b_config);
        let a_id = a.add_session(ca);
        let b_id = b.add_session(cb);
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

    fn establish(ca: Config, cb: Config) -> Self {
        let mut p = Self::new(ca, cb);
        p.a.initiate(p.a_id, p.now);
        p.drive();
        p
    }

    /// Delivers datagrams until both sides are quiet.
    fn drive(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                self.a_sent += 1;
                if self.link_up {
                    let (local, remote) = if self.nat {
                        (t.remote, SocketAddrV4::new(NAT_PUBLIC, t.local.port() + NAT_PORT_SHIFT))
                    } else {
                        (t.remote, t.local)
                    };
                    self.b.handle_datagram(self.now, local, remote, &t.data);
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
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
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
}

/// The CHILD_SA pairs a side currently has, from its event history: (inbound, outbound) keys.
fn live_children(events: &[Event]) -> Vec<(EspKeys, EspKeys)> {
    let mut live: Vec<(EspKeys, EspKeys)> = Vec::new();
    for e in events {
        match e {
            Event::ChildSaEstablished { inbound, outbound, .. } => live.push((inbound.clone(), outbound.clone())),
            Event::ChildSaDeleted { in_spi, .. } => live.retain(|(i, _)| i.spi != *in_spi),
            _ => {}
        }
    }
    live
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

fn failures(events: &[Event]) -> Vec<FailureReason> {
    events
        .iter()
        .filter_map(|e| if let Event::Failed { reason } = e { Some(reason.clone()) } else { None })
        .collect()
}

/// Exactly one CHILD_SA pair on each side, with a's outbound keys being b's inbound ones and back.
fn assert_one_matching_pair(p: &Pair) {
    let a = live_children(&p.a_events);
    let b = live_children(&p.b_events);
    assert_eq!(a.len(), 1, "a has {a:?}");
    assert_eq!(b.len(), 1, "b has {b:?}");
    let ((a_in, a_out), (b_in, b_out)) = (&a[0], &b[0]);
    assert_eq!(a_out, b_in);
    assert_eq!(a_in, b_out);
    assert_ne!(a_in.enc_key, a_out.enc_key);
}

fn with_proposals(
    mut c: Config,
    encr: Encr,
    integ: Option<Integ>,
    prf: Prf,
    dh: DhGroup,
    pfs: Option<DhGroup>,
) -> Config {
    c.ike_proposals = vec![IkeProposal { encr, integ, prf, dh }];
    c.esp_proposals = vec![EspProposal { encr, integ, pfs }];
    c
}

#[test]
fn establishes_with_every_acceptance_proposal() {
    use DhGroup::*;
    let combos = [
        (Encr::AesCbc128, Some(Integ::HmacSha1_96), Prf::HmacSha1, Modp1024, Some(Modp1024)),
        (Encr::AesCbc128, Some(Integ::HmacSha1_96), Prf::HmacSha1, Modp2048, Some(Modp2048)),
        (Encr::AesCbc256, Some(Integ::HmacSha256_128), Prf::HmacSha256, Modp2048, None),
        (Encr::TripleDesCbc, Some(Integ::HmacMd5_96), Prf::HmacMd5, Modp1536, Some(Modp1536)),
        (Encr::AesCbc192, Some(Integ::HmacSha512_256), Prf::HmacSha512, Modp768, Some(Modp768)),
        (Encr::AesGcm16_128, None, Prf::HmacSha256, Ecp256, Some(Ecp256)),
        (Encr::AesGcm16_128, None, Prf::HmacSha256, Curve25519, None),
        (Encr::DesCbc, Some(Integ::HmacSha384_192), Prf::HmacSha384, Modp1024, None),
    ];
    for (encr, integ, prf, dh, pfs) in combos {
        let ca = with_proposals(config(A, B), encr, integ, prf, dh, pfs);
        let cb = with_proposals(config(B, A), encr, integ, prf, dh, pfs);
        let p = Pair::establish(ca, cb);
        assert!(failures(&p.a_events).is_empty(), "{encr:?}: {:?}", p.a_events);
        assert_eq!(count(&p.a_events, |e| matches!(e, Event::IkeSaEstablished { .. })), 1, "{encr:?}");
        assert_eq!(count(&p.b_events, |e| matches!(e, Event::IkeSaEstablished { .. })), 1, "{encr:?}");
        assert_one_matching_pair(&p);
        let (a_in, _) = &live_children(&p.a_events)[0];
        assert_eq!(a_in.encr, encr);
        assert_eq!(a_in.enc_key.len(), encr.key_len());
        assert_eq!(a_in.integ, integ);
    }
}

#[test]
fn child_sa_reports_selectors_and_addresses() {
    let p = Pair::establish(config(A, B), config(B, A));
    let Some(Event::ChildSaEstablished { local_ts, remote_ts, local, remote, udp_encap, replaces, .. }) =
        p.a_events.iter().find(|e| matches!(e, Event::ChildSaEstablished { .. }))
    else {
        panic!("no child: {:?}", p.a_events)
    };
    let any = Ipv4Prefix::any().to_selector();
    assert_eq!((local_ts, remote_ts), (&vec![any], &vec![any]));
    assert_eq!((*local, *remote), (addr(A), addr(B)));
    assert!(!udp_encap);
    assert_eq!(*replaces, None);
}

#[test]
fn responder_narrows_initiator_selectors() {
    let mut ca = config(A, B);
    ca.local_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 1, 0, 0), 16)];
    ca.remote_ts = vec![Ipv4Prefix::any()];
    let mut cb = config(B, A);
    cb.local_ts = vec![
        Ipv4Prefix::new(Ipv4Addr::new(10, 2, 0, 0), 24),
        Ipv4Prefix::new(Ipv4Addr::new(10, 3, 0, 0), 24),
    ];
    cb.remote_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 1, 1, 0), 24), Ipv4Prefix::new(Ipv4Addr::new(10, 9, 0, 0), 24)];
    let p = Pair::establish(ca, cb);
    let selectors = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::ChildSaEstablished { local_ts, remote_ts, .. } => Some((local_ts.clone(), remote_ts.clone())),
            _ => None,
        })
    };
    let (a_local, a_remote) = selectors(&p.a_events).expect("a child");
    let (b_local, b_remote) = selectors(&p.b_events).expect("b child");
    let net = |a, b, c, len| Ipv4Prefix::new(Ipv4Addr::new(a, b, c, 0), len).to_selector();
    assert_eq!(a_local, vec![net(10, 1, 1, 24)]);
    assert_eq!(a_remote, vec![net(10, 2, 0, 24), net(10, 3, 0, 24)]);
    assert_eq!((b_local, b_remote), (a_remote, a_local));
}

#[test]
fn disjoint_selectors_are_ts_unacceptable() {
    let mut ca = config(A, B);
    ca.local_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 1, 0, 0), 16)];
    let mut cb = config(B, A);
    cb.remote_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 5, 0, 0), 16)];
    let p = Pair::establish(ca, cb);
    assert_eq!(failures(&p.a_events), vec![FailureReason::TsUnacceptable]);
    assert_eq!(failures(&p.b_events), vec![FailureReason::TsUnacceptable]);
    assert!(live_children(&p.a_events).is_empty());
    assert!(live_children(&p.b_events).is_empty());
}

#[test]
fn wrong_psk_fails_authentication_on_both_sides() {
    let mut cb = config(B, A);
    cb.psk = b"another key".to_vec();
    let p = Pair::establish(config(A, B), cb);
    assert_eq!(
        failures(&p.a_events),
        vec![FailureReason::AuthenticationFailed(AuthFailure::Remote { from: addr(B) })]
    );
    assert_eq!(failures(&p.b_events), vec![FailureReason::AuthenticationFailed(AuthFailure::Local)]);
    assert!(live_children(&p.a_events).is_empty() && live_children(&p.b_events).is_empty());
    assert_eq!(count(&p.a_events, |e| matches!(e, Event::IkeSaEstablished { .. })), 0);
}

#[test]
fn unexpected_peer_identity_is_an_id_mismatch() {
    let mut cb = config(B, A);
    cb.remote_id = Identity::Fqdn("cpe.example.net".into());
    let p = Pair::establish(config(A, B), cb);
    assert_eq!(
        failures(&p.b_events),
        vec![FailureReason::IdMismatch { expected: Identity::Fqdn("cpe.example.net".into()), received: Identity::Ipv4(A) }]
    );
    assert!(matches!(failures(&p.a_events)[..], [FailureReason::AuthenticationFailed(AuthFailure::Remote { .. })]));
}

#[test]
fn fqdn_identities_authenticate() {
    let mut ca = config(A, B);
    let mut cb = config(B, A);
    ca.local_id = Identity::Fqdn("a.example.net".into());
    cb.remote_id = ca.local_id.clone();
    cb.local_id = Identity::Fqdn("b.example.net".into());
    ca.remote_id = cb.local_id.clone();
    let p = Pair::establish(ca, cb);
    assert_one_matching_pair(&p);
}

#[test]
fn ike_proposal_mismatch_is_no_proposal_chosen() {
    let ca = config(A, B);
    let cb = with_proposals(config(B, A), Encr::AesCbc256, Some(Integ::HmacSha256_128), Prf::HmacSha256, DhGroup::Modp1024, None);
    let p = Pair::establish(ca, cb);
    let [FailureReason::NoProposalChosen { ours, theirs: None }] = &failures(&p.a_events)[..] else {
        panic!("{:?}", p.a_events)
    };
    assert_eq!(ours, "aes128-prfsha1-sha1-modp1024");
    let [FailureReason::NoProposalChosen { ours, theirs: Some(theirs) }] = &failures(&p.b_events)[..] else {
        panic!("{:?}", p.b_events)
    };
    assert_eq!(ours, "aes256-prfsha256-sha256-modp1024");
    assert_eq!(theirs, "aes128-prfsha1-sha1-modp1024");
}

#[test]
fn esp_proposal_mismatch_is_no_proposal_chosen() {
    let mut cb = config(B, A);
    cb.esp_proposals = vec![EspProposal { encr: Encr::AesCbc256, integ: Some(Integ::HmacSha1_96), pfs: None }];
    let p = Pair::establish(config(A, B), cb);
    assert!(matches!(failures(&p.a_events)[..], [FailureReason::NoProposalChosen { theirs: None, .. }]));
    assert!(matches!(failures(&p.b_events)[..], [FailureReason::NoProposalChosen { theirs: Some(_), .. }]));
    assert!(live_children(&p.a_events).is_empty());
}
