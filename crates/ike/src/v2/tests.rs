//! Two endpoints driven against each other in-process with a fake clock.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use strait_crypto::{DhGroup, Encr, Integ, Prf};

use super::*;
use crate::testing::{self, A_NAT_PRIVATE, NAT_PUBLIC, addr, count, failures, live_children};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn config(local: Ipv4Addr, remote: Ipv4Addr) -> Config {
    let mut c = Config::new(addr(local), addr(remote), b"fddsFF123".to_vec());
    c.rekey_jitter = Duration::ZERO;
    c
}

type Pair = testing::Pair<Endpoint>;

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
        Self::link(a, a_id, b, b_id, nat)
    }

    fn establish(ca: Config, cb: Config) -> Self {
        let mut p = Self::new(ca, cb);
        p.a.initiate(p.a_id, p.now);
        p.drive();
        p
    }
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
    c.ike_proposals = vec![IkeProposal {
        encr,
        integ,
        prf,
        dh,
    }];
    c.esp_proposals = vec![EspProposal { encr, integ, pfs }];
    c
}

#[test]
fn establishes_with_every_acceptance_proposal() {
    use DhGroup::*;
    let combos = [
        (
            Encr::AesCbc128,
            Some(Integ::HmacSha1_96),
            Prf::HmacSha1,
            Modp1024,
            Some(Modp1024),
        ),
        (
            Encr::AesCbc128,
            Some(Integ::HmacSha1_96),
            Prf::HmacSha1,
            Modp2048,
            Some(Modp2048),
        ),
        (
            Encr::AesCbc256,
            Some(Integ::HmacSha256_128),
            Prf::HmacSha256,
            Modp2048,
            None,
        ),
        (
            Encr::TripleDesCbc,
            Some(Integ::HmacMd5_96),
            Prf::HmacMd5,
            Modp1536,
            Some(Modp1536),
        ),
        (
            Encr::AesCbc192,
            Some(Integ::HmacSha512_256),
            Prf::HmacSha512,
            Modp768,
            Some(Modp768),
        ),
        (
            Encr::AesGcm16_128,
            None,
            Prf::HmacSha256,
            Ecp256,
            Some(Ecp256),
        ),
        (Encr::AesGcm16_128, None, Prf::HmacSha256, Curve25519, None),
        (
            Encr::DesCbc,
            Some(Integ::HmacSha384_192),
            Prf::HmacSha384,
            Modp1024,
            None,
        ),
    ];
    for (encr, integ, prf, dh, pfs) in combos {
        let ca = with_proposals(config(A, B), encr, integ, prf, dh, pfs);
        let cb = with_proposals(config(B, A), encr, integ, prf, dh, pfs);
        let p = Pair::establish(ca, cb);
        assert!(
            failures(&p.a_events).is_empty(),
            "{encr:?}: {:?}",
            p.a_events
        );
        assert_eq!(
            count(&p.a_events, |e| matches!(e, Event::IkeSaEstablished { .. })),
            1,
            "{encr:?}"
        );
        assert_eq!(
            count(&p.b_events, |e| matches!(e, Event::IkeSaEstablished { .. })),
            1,
            "{encr:?}"
        );
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
    let Some(Event::ChildSaEstablished {
        local_ts,
        remote_ts,
        local,
        remote,
        udp_encap,
        replaces,
        ..
    }) = p
        .a_events
        .iter()
        .find(|e| matches!(e, Event::ChildSaEstablished { .. }))
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
    cb.remote_ts = vec![
        Ipv4Prefix::new(Ipv4Addr::new(10, 1, 1, 0), 24),
        Ipv4Prefix::new(Ipv4Addr::new(10, 9, 0, 0), 24),
    ];
    let p = Pair::establish(ca, cb);
    let selectors = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::ChildSaEstablished {
                local_ts,
                remote_ts,
                ..
            } => Some((local_ts.clone(), remote_ts.clone())),
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
        vec![FailureReason::AuthenticationFailed(AuthFailure::Remote {
            from: addr(B)
        })]
    );
    assert_eq!(
        failures(&p.b_events),
        vec![FailureReason::AuthenticationFailed(AuthFailure::Local)]
    );
    assert!(live_children(&p.a_events).is_empty() && live_children(&p.b_events).is_empty());
    assert_eq!(
        count(&p.a_events, |e| matches!(e, Event::IkeSaEstablished { .. })),
        0
    );
}

#[test]
fn unexpected_peer_identity_is_an_id_mismatch() {
    let mut cb = config(B, A);
    cb.remote_id = Identity::Fqdn("cpe.example.net".into());
    let p = Pair::establish(config(A, B), cb);
    assert_eq!(
        failures(&p.b_events),
        vec![FailureReason::IdMismatch {
            expected: Identity::Fqdn("cpe.example.net".into()),
            received: Identity::Ipv4(A)
        }]
    );
    assert!(matches!(
        failures(&p.a_events)[..],
        [FailureReason::AuthenticationFailed(
            AuthFailure::Remote { .. }
        )]
    ));
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
    let cb = with_proposals(
        config(B, A),
        Encr::AesCbc256,
        Some(Integ::HmacSha256_128),
        Prf::HmacSha256,
        DhGroup::Modp1024,
        None,
    );
    let p = Pair::establish(ca, cb);
    // The initiator only learns that the peer refused its offer.
    let a = failures(&p.a_events);
    let [
        FailureReason::NoProposalChosen {
            sa,
            ours,
            theirs: None,
        },
    ] = &a[..]
    else {
        panic!("{:?}", p.a_events)
    };
    assert_eq!(*sa, SaKind::Ike);
    assert_eq!(ours[0].to_string(), "aes128-sha1-prfsha1-modp1024");
    assert!(a[0].mismatches().is_empty(), "the peer's offer is unknown");
    assert!(
        a[0].to_string().contains("no proposal chosen in phase 1"),
        "{}",
        a[0]
    );
    // The responder saw the offer and names each differing transform type with both values.
    let b = failures(&p.b_events);
    let [
        FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            theirs: Some(theirs),
            ..
        },
    ] = &b[..]
    else {
        panic!("{:?}", p.b_events)
    };
    assert_eq!(theirs[0].to_string(), "aes128-sha1-prfsha1-modp1024");
    let named: Vec<(ProposalField, String, String)> = b[0]
        .mismatches()
        .iter()
        .map(|m| (m.field, m.ours.to_string(), m.theirs[0].to_string()))
        .collect();
    assert_eq!(
        named,
        vec![
            (ProposalField::Encryption, "aes256".into(), "aes128".into()),
            (ProposalField::Integrity, "sha256".into(), "sha1".into()),
            (ProposalField::Prf, "prfsha256".into(), "prfsha1".into()),
        ]
    );
    assert_eq!(
        b[0].to_string(),
        "no proposal chosen in phase 1 (IKE SA): we accept aes256-sha256-prfsha256-modp1024, \
         peer offered aes128-sha1-prfsha1-modp1024"
    );
}

#[test]
fn esp_proposal_mismatch_is_no_proposal_chosen() {
    let mut cb = config(B, A);
    cb.esp_proposals = vec![EspProposal {
        encr: Encr::AesCbc256,
        integ: Some(Integ::HmacSha1_96),
        pfs: None,
    }];
    let p = Pair::establish(config(A, B), cb);
    assert!(matches!(
        failures(&p.a_events)[..],
        [FailureReason::NoProposalChosen {
            sa: SaKind::Child,
            theirs: None,
            ..
        }]
    ));
    let b = failures(&p.b_events);
    assert!(
        matches!(
            b[..],
            [FailureReason::NoProposalChosen {
                sa: SaKind::Child,
                theirs: Some(_),
                ..
            }]
        ),
        "{b:?}"
    );
    let m = b[0].mismatches();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        (
            m[0].field,
            m[0].ours.to_string(),
            m[0].theirs[0].to_string()
        ),
        (ProposalField::Encryption, "aes256".into(), "aes128".into())
    );
    assert!(live_children(&p.a_events).is_empty());
}

fn short_lifetimes(mut c: Config, ike: u64, child: u64) -> Config {
    c.ike_lifetime = Some(Duration::from_secs(ike));
    c.child_lifetime = Some(Duration::from_secs(child));
    c.rekey_margin = Duration::from_secs(5);
    c
}

#[test]
fn child_sa_is_rekeyed_before_expiry_and_old_pair_deleted() {
    for pfs in [None, Some(DhGroup::Modp1024)] {
        let mut ca = short_lifetimes(config(A, B), 3600, 30);
        let mut cb = short_lifetimes(config(B, A), 3600, 600);
        ca.esp_proposals[0].pfs = pfs;
        cb.esp_proposals[0].pfs = pfs;
        let mut p = Pair::establish(ca, cb);
        let first = live_children(&p.a_events)[0].0.spi;
        p.advance(Duration::from_secs(24));
        assert_eq!(
            live_children(&p.a_events)[0].0.spi,
            first,
            "rekeyed too early"
        );
        p.advance(Duration::from_secs(2));
        assert_one_matching_pair(&p);
        let (a_in, a_out) = &live_children(&p.a_events)[0];
        assert_ne!(a_in.spi, first);
        let replaced = p.a_events.iter().find_map(|e| match e {
            Event::ChildSaEstablished {
                replaces: Some(r), ..
            } => Some(*r),
            _ => None,
        });
        assert_eq!(replaced.map(|r| r.0), Some(first));
        assert!(p.a_events.contains(&Event::ChildSaDeleted {
            in_spi: first,
            out_spi: replaced.unwrap().1
        }));
        // A second rekey a lifetime later also works, and the IKE SA never moved.
        p.advance(Duration::from_secs(25));
        assert_one_matching_pair(&p);
        assert_ne!(&live_children(&p.a_events)[0].1, a_out);
        assert_eq!(
            count(&p.a_events, |e| matches!(
                e,
                Event::ChildSaEstablished { .. }
            )),
            3
        );
        assert!(failures(&p.a_events).is_empty() && failures(&p.b_events).is_empty());
    }
}

#[test]
fn ike_sa_rekey_keeps_children_and_replaces_the_sa() {
    let ca = short_lifetimes(config(A, B), 30, 3600);
    let cb = short_lifetimes(config(B, A), 600, 3600);
    let mut p = Pair::establish(ca, cb);
    let child = live_children(&p.a_events);
    p.advance(Duration::from_secs(27));
    let rekeyed = |events: &[Event]| {
        count(events, |e| {
            matches!(e, Event::IkeSaEstablished { rekeyed: true, .. })
        })
    };
    assert_eq!((rekeyed(&p.a_events), rekeyed(&p.b_events)), (1, 1));
    assert_eq!(
        live_children(&p.a_events),
        child,
        "children survive an IKE rekey untouched"
    );
    assert_eq!(
        (p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)),
        (1, 1),
        "old IKE SA deleted"
    );
    assert_eq!(
        count(&p.a_events, |e| matches!(e, Event::IkeSaDeleted { .. })),
        0
    );
    assert_eq!(
        count(&p.b_events, |e| matches!(e, Event::IkeSaDeleted { .. })),
        0
    );
    let spis = |events: &[Event]| {
        events.iter().rev().find_map(|e| match e {
            Event::IkeSaEstablished { spi_i, spi_r, .. } => Some((*spi_i, *spi_r)),
            _ => None,
        })
    };
    assert_eq!(spis(&p.a_events), spis(&p.b_events));
    // The new IKE SA carries exchanges: deleting over it reaches the peer.
    p.a.delete(p.a_id, p.now);
    p.drive();
    assert!(p.b_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Remote
    }));
    assert!(live_children(&p.b_events).is_empty());
}

#[test]
fn simultaneous_child_rekeys_settle_on_one_pair() {
    let ca = short_lifetimes(config(A, B), 3600, 30);
    let cb = short_lifetimes(config(B, A), 3600, 30);
    let mut p = Pair::establish(ca, cb);
    p.advance(Duration::from_secs(26));
    assert_eq!(
        count(&p.a_events, |e| matches!(
            e,
            Event::ChildSaEstablished {
                replaces: Some(_),
                ..
            }
        )),
        2
    );
    assert_one_matching_pair(&p);
    assert!(failures(&p.a_events).is_empty() && failures(&p.b_events).is_empty());
    assert_eq!((p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)), (1, 1));
    // The survivor rekeys normally afterwards.
    p.advance(Duration::from_secs(30));
    assert_one_matching_pair(&p);
}

#[test]
fn simultaneous_ike_rekeys_settle_on_one_sa() {
    let ca = short_lifetimes(config(A, B), 30, 3600);
    let cb = short_lifetimes(config(B, A), 30, 3600);
    let mut p = Pair::establish(ca, cb);
    p.advance(Duration::from_secs(26));
    assert_one_matching_pair(&p);
    assert!(
        failures(&p.a_events).is_empty() && failures(&p.b_events).is_empty(),
        "{:?}",
        p.a_events
    );
    let rekeyed = |events: &[Event]| {
        count(events, |e| {
            matches!(e, Event::IkeSaEstablished { rekeyed: true, .. })
        })
    };
    assert_eq!(
        rekeyed(&p.a_events) + rekeyed(&p.b_events),
        3,
        "both rekeyed; only the winner kept its own"
    );
    assert_eq!((p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)), (1, 1));
    let deleted = |events: &[Event]| count(events, |e| matches!(e, Event::IkeSaDeleted { .. }));
    assert_eq!(
        (deleted(&p.a_events), deleted(&p.b_events)),
        (0, 0),
        "the tunnel never went down"
    );
    // Both sides still share a working IKE SA: a delete from either end reaches the other.
    p.b.delete(p.b_id, p.now);
    p.drive();
    assert!(
        p.a_events.contains(&Event::IkeSaDeleted {
            reason: DeleteReason::Remote
        }),
        "{:?}",
        p.a_events
    );
    assert!(live_children(&p.a_events).is_empty());
}

#[test]
fn dead_peer_is_detected_and_tunnel_comes_back() {
    let dpd = Some(Dpd {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(30),
    });
    let mut ca = config(A, B);
    ca.dpd = dpd;
    ca.reinitiate_after = Some(Duration::from_secs(2));
    let mut p = Pair::establish(ca, config(B, A));
    // While the peer answers, liveness checks keep the SA up.
    p.advance(Duration::from_secs(60));
    assert!(failures(&p.a_events).is_empty());
    let sent_before = p.a_sent;
    // Traffic flowing means no probes.
    for _ in 0..6 {
        p.a.note_inbound_traffic(p.a_id, p.now);
        p.advance(Duration::from_secs(5));
    }
    assert_eq!(
        p.a_sent, sent_before,
        "no liveness checks while ESP arrives"
    );
    // Last heard 5 s ago (the ESP above): dead 30 s after that, probed in between.
    p.link_up = false;
    p.advance(Duration::from_secs(24));
    assert!(failures(&p.a_events).is_empty());
    assert!(p.a_sent > sent_before, "liveness checks were sent");
    p.advance(Duration::from_secs(2));
    assert_eq!(failures(&p.a_events), vec![FailureReason::DeadPeer]);
    assert!(p.a_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Failed(FailureReason::DeadPeer)
    }));
    assert!(live_children(&p.a_events).is_empty());
    p.link_up = true;
    p.advance(Duration::from_secs(20));
    assert_eq!(
        count(&p.a_events, |e| matches!(e, Event::IkeSaEstablished { .. })),
        2
    );
    assert_eq!(live_children(&p.a_events).len(), 1);
}

#[test]
fn retransmissions_give_up_with_peer_not_responding() {
    let mut ca = config(A, B);
    ca.reinitiate_after = None;
    let mut p = Pair::new(ca, config(B, A));
    p.link_up = false;
    p.a.initiate(p.a_id, p.now);
    p.drive();
    // 4 + 7.2 + 12.96 + 23.33 + 41.99 + 75.58 s: gone after about 165 s, not before.
    p.advance(Duration::from_secs(160));
    assert!(failures(&p.a_events).is_empty());
    assert_eq!(p.a_sent, 6, "first transmission and five retransmissions");
    p.advance(Duration::from_secs(10));
    assert_eq!(
        failures(&p.a_events),
        vec![FailureReason::PeerNotResponding]
    );
    assert_eq!(p.a.poll_timeout(), None, "nothing left to do");
}

#[test]
fn lost_responses_are_replayed_for_retransmitted_requests() {
    let mut p = Pair::new(config(A, B), config(B, A));
    p.a.initiate(p.a_id, p.now);
    p.drop_next_from_b = 1; // the IKE_SA_INIT response
    p.drive();
    p.advance(Duration::from_secs(5));
    p.drop_next_from_b = 1; // the IKE_AUTH response
    p.drive();
    p.advance(Duration::from_secs(5));
    assert_one_matching_pair(&p);
    assert_eq!(
        count(&p.b_events, |e| matches!(
            e,
            Event::ChildSaEstablished { .. }
        )),
        1,
        "b answered once"
    );
}

#[test]
fn invalid_ke_is_retried_with_the_named_group() {
    let mut ca = config(A, B);
    let second = IkeProposal {
        dh: DhGroup::Ecp256,
        ..ca.ike_proposals[0]
    };
    ca.ike_proposals.push(second);
    let mut cb = config(B, A);
    cb.ike_proposals = vec![second];
    let p = Pair::establish(ca, cb);
    assert!(failures(&p.a_events).is_empty(), "{:?}", p.a_events);
    assert_one_matching_pair(&p);
}

#[test]
fn invalid_ke_for_a_group_we_do_not_propose_fails() {
    let mut ca = config(A, B);
    ca.reinitiate_after = None;
    let mut a = Endpoint::new(EndpointConfig::default());
    let id = a.add_session(ca);
    let now = Instant::now();
    a.initiate(id, now);
    let init = a.poll_transmit().expect("IKE_SA_INIT");
    let request = message::peek_header(&init.data).expect("header");
    let header = message::Header {
        response: true,
        initiator: false,
        ..request
    };
    let notify = message::Notify::new(
        message::NotifyType::INVALID_KE_PAYLOAD,
        14u16.to_be_bytes().to_vec(),
    );
    let reply = message::Message::encode(&header, &[message::Payload::Notify(notify)]);
    a.handle_datagram(now, addr(A), addr(B), &reply);
    assert_eq!(
        a.poll_event(),
        Some((
            id,
            Event::Failed {
                reason: FailureReason::InvalidKe { group: 14 }
            }
        ))
    );
    assert_eq!(a.poll_transmit(), None);
}

#[test]
fn cookie_challenge_is_answered_when_half_open_sas_pile_up() {
    let p = Pair::with_endpoint(
        config(A, B),
        config(B, A),
        EndpointConfig {
            cookie_threshold: 0,
        },
    );
    let mut p = p;
    p.a.initiate(p.a_id, p.now);
    p.drive();
    assert_one_matching_pair(&p);
    assert_eq!(p.a_sent, 3, "INIT, INIT with cookie, AUTH");
}

#[test]
fn nat_is_detected_and_both_sides_float_to_4500() {
    let mut ca = config(A_NAT_PRIVATE, NAT_PUBLIC);
    ca.remote = addr(B);
    ca.remote_id = Identity::Ipv4(B);
    let mut cb = config(B, NAT_PUBLIC);
    cb.remote_id = Identity::Ipv4(A_NAT_PRIVATE);
    let p = Pair::establish(ca, cb);
    assert_one_matching_pair(&p);
    p.assert_floated_through_nat(B);
}

#[test]
fn delete_tears_down_both_sides() {
    let mut p = Pair::establish(config(A, B), config(B, A));
    p.a.delete(p.a_id, p.now);
    p.drive();
    assert!(p.a_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Local
    }));
    assert!(p.b_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Remote
    }));
    assert!(live_children(&p.a_events).is_empty() && live_children(&p.b_events).is_empty());
    p.advance(Duration::from_secs(600));
    assert_eq!(
        count(&p.a_events, |e| matches!(e, Event::IkeSaEstablished { .. })),
        1,
        "no re-initiation"
    );
}

#[test]
fn simultaneous_initiation_leaves_one_ike_sa() {
    let mut p = Pair::new(config(A, B), config(B, A));
    p.a.initiate(p.a_id, p.now);
    p.b.initiate(p.b_id, p.now);
    p.drive();
    p.advance(Duration::from_secs(10));
    assert_one_matching_pair(&p);
    let established =
        |events: &[Event]| count(events, |e| matches!(e, Event::IkeSaEstablished { .. }));
    assert_eq!(
        (established(&p.a_events), established(&p.b_events)),
        (2, 2),
        "both SAs came up"
    );
    let deleted = |events: &[Event]| count(events, |e| matches!(e, Event::IkeSaDeleted { .. }));
    assert_eq!(
        (deleted(&p.a_events), deleted(&p.b_events)),
        (0, 0),
        "the duplicate's end is no outage"
    );
    assert_eq!((p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)), (1, 1));
}

#[test]
fn half_open_responder_sas_are_dropped_after_a_timeout() {
    let mut p = Pair::new(config(A, B), config(B, A));
    p.a.initiate(p.a_id, p.now);
    p.drop_next_from_b = usize::MAX;
    p.drive();
    assert_eq!(p.b.ike_sa_count(p.b_id), 1);
    p.advance(Duration::from_secs(29));
    assert_eq!(
        p.b.ike_sa_count(p.b_id),
        1,
        "retransmitted INIT reuses the half-open SA"
    );
    p.advance(Duration::from_secs(2));
    assert_eq!(p.b.ike_sa_count(p.b_id), 0);
    assert!(p.b_events.is_empty());
}

#[test]
fn refused_child_rekey_is_reported_and_the_child_expires() {
    let mut ca = short_lifetimes(config(A, B), 3600, 30);
    ca.esp_proposals[0].pfs = Some(DhGroup::Modp1024);
    // b accepts the first child (IKE_AUTH ignores PFS) but not a rekey with PFS.
    let cb = short_lifetimes(config(B, A), 3600, 3600);
    let mut p = Pair::establish(ca, cb);
    let (first_in, first_out) = {
        let (i, o) = &live_children(&p.a_events)[0];
        (i.spi, o.spi)
    };
    p.advance(Duration::from_secs(26));
    assert!(
        matches!(
            failures(&p.a_events)[..],
            [FailureReason::NoProposalChosen { .. }]
        ),
        "{:?}",
        p.a_events
    );
    assert!(
        matches!(
            failures(&p.b_events)[..],
            [FailureReason::NoProposalChosen { .. }]
        ),
        "{:?}",
        p.b_events
    );
    assert_eq!(
        live_children(&p.a_events).len(),
        1,
        "still usable until its hard lifetime"
    );
    p.advance(Duration::from_secs(5));
    assert!(p.a_events.contains(&Event::ChildSaDeleted {
        in_spi: first_in,
        out_spi: first_out
    }));
    assert!(p.b_events.contains(&Event::ChildSaDeleted {
        in_spi: first_out,
        out_spi: first_in
    }));
    assert_eq!(failures(&p.a_events).len(), 1, "no retry storm");
    // b lost its only child to a's expiry: it closes the IKE SA, which a learns.
    assert!(p.b_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Remote
    }));
    assert!(p.a_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Remote
    }));
    assert_eq!((p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)), (0, 0));
}

#[test]
fn restarted_peer_replaces_the_stale_ike_sa_with_initial_contact() {
    let mut p = Pair::establish(config(A, B), config(B, A));
    let stale = live_children(&p.b_events);
    // b reboots: a fresh endpoint that knows nothing of the SAs a still holds.
    p.b = Endpoint::new(EndpointConfig::default());
    p.b_id = p.b.add_session(config(B, A));
    p.b_events.clear();
    p.b.initiate(p.b_id, p.now);
    p.drive();
    assert_one_matching_pair(&p);
    let (stale_out, _) = &stale[0];
    assert!(
        p.a_events.iter().any(
            |e| matches!(e, Event::ChildSaDeleted { out_spi, .. } if *out_spi == stale_out.spi)
        )
    );
    assert!(p.a_events.contains(&Event::IkeSaDeleted {
        reason: DeleteReason::Replaced
    }));
    assert_eq!(p.a.ike_sa_count(p.a_id), 1);
}

#[test]
fn trigger_packet_selector_is_folded_into_the_network_it_belongs_to() {
    let net = |c, len| Ipv4Prefix::new(Ipv4Addr::new(10, 1, c, 0), len);
    let mut ca = config(A, B);
    ca.local_ts = vec![net(1, 32), net(0, 16)];
    ca.remote_ts = vec![net(1, 32), Ipv4Prefix::any()];
    let mut cb = config(B, A);
    cb.remote_ts = vec![net(0, 16)];
    cb.local_ts = vec![Ipv4Prefix::any()];
    let p = Pair::establish(ca, cb);
    let Some(Event::ChildSaEstablished {
        local_ts,
        remote_ts,
        ..
    }) = p
        .b_events
        .iter()
        .find(|e| matches!(e, Event::ChildSaEstablished { .. }))
    else {
        panic!("no child: {:?}", p.b_events)
    };
    assert_eq!(remote_ts, &vec![net(0, 16).to_selector()]);
    assert_eq!(local_ts, &vec![Ipv4Prefix::any().to_selector()]);
}

#[test]
fn rekey_crossing_the_peers_delete_leaves_both_sides_down_and_clean() {
    // a rekeys at 25 s exactly when b's child reaches its hard lifetime (b's own rekeys use PFS,
    // which a refuses): b's Delete crosses a's rekey request.
    let ca = short_lifetimes(config(A, B), 3600, 30);
    let mut cb = short_lifetimes(config(B, A), 3600, 25);
    let no_pfs = cb.esp_proposals[0];
    cb.esp_proposals = vec![
        EspProposal {
            pfs: Some(DhGroup::Modp1024),
            ..no_pfs
        },
        no_pfs,
    ];
    let mut p = Pair::establish(ca, cb);
    assert_one_matching_pair(&p);
    p.advance(Duration::from_secs(25));
    assert!(live_children(&p.a_events).is_empty() && live_children(&p.b_events).is_empty());
    assert!(
        p.a_events.contains(&Event::IkeSaDeleted {
            reason: DeleteReason::Remote
        }),
        "{:?}",
        p.a_events
    );
    assert!(
        p.b_events.contains(&Event::IkeSaDeleted {
            reason: DeleteReason::Remote
        }),
        "{:?}",
        p.b_events
    );
    assert_eq!((p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)), (0, 0));
}

#[test]
fn every_cookie_challenge_is_answered_even_a_repeated_one() {
    let mut a = Endpoint::new(EndpointConfig::default());
    let id = a.add_session(config(A, B));
    let now = Instant::now();
    a.initiate(id, now);
    let init = a.poll_transmit().expect("IKE_SA_INIT");
    let request = message::peek_header(&init.data).expect("header");
    let header = message::Header {
        response: true,
        initiator: false,
        ..request
    };
    let cookie = message::Notify::new(message::NotifyType::COOKIE, vec![0xc0; 20]);
    let reply = message::Message::encode(&header, &[message::Payload::Notify(cookie.clone())]);
    for _ in 0..2 {
        a.handle_datagram(now, addr(A), addr(B), &reply);
        let retry = a.poll_transmit().expect("INIT again, with the cookie");
        let msg = message::Message::parse(&retry.data).expect("parses");
        assert_eq!(
            msg.payloads.first(),
            Some(&message::Payload::Notify(cookie.clone())),
            "COOKIE goes first"
        );
        assert_eq!(msg.header.spi_i, request.spi_i);
    }
}

#[test]
fn ike_rekey_meeting_a_child_rekey_is_retried_after_temporary_failure() {
    // At 25 s a rekeys its child while b rekeys the IKE SA: a answers TEMPORARY_FAILURE and
    // b tries again shortly after.
    let ca = short_lifetimes(config(A, B), 3600, 30);
    let cb = short_lifetimes(config(B, A), 30, 3600);
    let mut p = Pair::establish(ca, cb);
    p.advance(Duration::from_secs(25));
    let rekeyed = |events: &[Event]| {
        count(events, |e| {
            matches!(e, Event::IkeSaEstablished { rekeyed: true, .. })
        })
    };
    assert_eq!(rekeyed(&p.b_events), 0, "first attempt refused for now");
    p.advance(Duration::from_secs(3));
    assert_eq!((rekeyed(&p.a_events), rekeyed(&p.b_events)), (1, 1));
    assert_one_matching_pair(&p);
    assert!(failures(&p.a_events).is_empty() && failures(&p.b_events).is_empty());
    assert_eq!((p.a.ike_sa_count(p.a_id), p.b.ike_sa_count(p.b_id)), (1, 1));
}
