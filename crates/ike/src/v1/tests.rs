//! Two IKEv1 endpoints driven against each other in-process with a fake clock.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use strait_crypto::{DhGroup, Encr, Integ, Prf};

use super::*;
use crate::testing::{self, A_NAT_PRIVATE, NAT_PUBLIC, addr, count, failures, live_children};
use crate::v2::{
    AuthFailure, DeleteReason, Dpd, EspKeys, EspProposal, Event, FailureReason, Identity,
    IkeProposal, Ipv4Prefix, ProposalField, SaKind,
};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn config(local: Ipv4Addr, remote: Ipv4Addr, aggressive: bool) -> Config {
    let mut peering = crate::v2::Config::new(addr(local), addr(remote), b"fddsFF123".to_vec());
    peering.rekey_jitter = Duration::ZERO;
    peering.local_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 0, 1, 0), 24)];
    peering.remote_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(192, 168, 7, 0), 24)];
    Config {
        peering,
        aggressive,
    }
}

/// Configs of a (initiator at A) and b (responder at B) with mirrored selectors.
fn pair_configs(aggressive: bool) -> (Config, Config) {
    let a = config(A, B, aggressive);
    let mut b = config(B, A, aggressive);
    b.peering.local_ts = a.peering.remote_ts.clone();
    b.peering.remote_ts = a.peering.local_ts.clone();
    (a, b)
}

type Pair = testing::Pair<Endpoint>;

impl Pair {
    fn new(ca: Config, cb: Config) -> Self {
        let nat = *ca.peering.local.ip() == A_NAT_PRIVATE;
        let (mut a, mut b) = (Endpoint::new(), Endpoint::new());
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

/// Exactly one IPsec SA pair on each side, a's outbound keys being b's inbound ones and back.
fn assert_one_matching_pair(p: &Pair) -> (EspKeys, EspKeys) {
    let a = live_children(&p.a_events);
    let b = live_children(&p.b_events);
    assert_eq!(a.len(), 1, "a has {a:?}, events {:?}", p.a_events);
    assert_eq!(b.len(), 1, "b has {b:?}, events {:?}", p.b_events);
    let ((a_in, a_out), (b_in, b_out)) = (&a[0], &b[0]);
    assert_eq!(a_out, b_in);
    assert_eq!(a_in, b_out);
    assert_ne!(a_in.enc_key, a_out.enc_key);
    assert_ne!(a_in.spi, a_out.spi);
    (a_in.clone(), a_out.clone())
}

fn with_proposals(
    mut c: Config,
    encr: Encr,
    prf: Prf,
    dh: DhGroup,
    integ: Integ,
    pfs: Option<DhGroup>,
) -> Config {
    c.peering.ike_proposals = vec![IkeProposal {
        encr,
        integ: None,
        prf,
        dh,
    }];
    c.peering.esp_proposals = vec![EspProposal {
        encr,
        integ: Some(integ),
        pfs,
    }];
    c
}

#[test]
fn main_mode_defaults_establish_matching_keys_without_pfs() {
    let (ca, cb) = pair_configs(false);
    let p = Pair::establish(ca, cb);
    let (a_in, _) = assert_one_matching_pair(&p);
    assert_eq!(
        (a_in.encr, a_in.integ),
        (Encr::AesCbc128, Some(Integ::HmacSha1_96))
    );
    assert_eq!((a_in.enc_key.len(), a_in.integ_key.len()), (16, 20));
    for events in [&p.a_events, &p.b_events] {
        assert_eq!(
            count(events, |e| matches!(
                e,
                Event::IkeSaEstablished { rekeyed: false, .. }
            )),
            1
        );
        assert!(failures(events).is_empty(), "{events:?}");
    }
    let Some(Event::ChildSaEstablished {
        local_ts,
        remote_ts,
        local,
        remote,
        udp_encap,
        ..
    }) = p
        .a_events
        .iter()
        .find(|e| matches!(e, Event::ChildSaEstablished { .. }))
    else {
        panic!("no child");
    };
    assert_eq!(
        local_ts,
        &vec![Ipv4Prefix::new(Ipv4Addr::new(10, 0, 1, 0), 24).to_selector()]
    );
    assert_eq!(
        remote_ts,
        &vec![Ipv4Prefix::new(Ipv4Addr::new(192, 168, 7, 0), 24).to_selector()]
    );
    assert_eq!((*local, *remote, *udp_encap), (addr(A), addr(B), false));
}

#[test]
fn main_mode_aes256_sha256_group14_with_pfs_group14() {
    let (ca, cb) = pair_configs(false);
    let set = |c| {
        with_proposals(
            c,
            Encr::AesCbc256,
            Prf::HmacSha256,
            DhGroup::Modp2048,
            Integ::HmacSha256_128,
            Some(DhGroup::Modp2048),
        )
    };
    let p = Pair::establish(set(ca), set(cb));
    let (a_in, _) = assert_one_matching_pair(&p);
    assert_eq!((a_in.enc_key.len(), a_in.integ_key.len()), (32, 32));
}

#[test]
fn aggressive_mode_with_fqdn_ids_and_3des_md5_group2() {
    let (mut ca, mut cb) = pair_configs(true);
    ca.peering.local_id = Identity::Fqdn("left.example".into());
    ca.peering.remote_id = Identity::Fqdn("right.example".into());
    cb.peering.local_id = Identity::Fqdn("right.example".into());
    cb.peering.remote_id = Identity::Fqdn("left.example".into());
    let set = |c| {
        with_proposals(
            c,
            Encr::TripleDesCbc,
            Prf::HmacMd5,
            DhGroup::Modp1024,
            Integ::HmacMd5_96,
            None,
        )
    };
    let p = Pair::establish(set(ca), set(cb));
    let (a_in, _) = assert_one_matching_pair(&p);
    assert_eq!(
        (a_in.encr, a_in.enc_key.len(), a_in.integ_key.len()),
        (Encr::TripleDesCbc, 24, 16)
    );
}

#[test]
fn pfs_on_one_side_only_is_no_proposal_chosen_in_quick_mode() {
    let (ca, mut cb) = pair_configs(false);
    cb.peering.esp_proposals[0].pfs = Some(DhGroup::Modp1024);
    let p = Pair::establish(ca, cb);
    assert!(live_children(&p.a_events).is_empty());
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
        "{:?}",
        p.b_events
    );
    let m = b[0].mismatches();
    assert_eq!(m.len(), 1, "only the PFS group differs: {m:?}");
    assert_eq!(
        (
            m[0].field,
            m[0].ours.to_string(),
            m[0].theirs[0].to_string()
        ),
        (ProposalField::DhGroup, "modp1024".into(), "none".into())
    );
    assert!(
        matches!(
            failures(&p.a_events)[..],
            [FailureReason::NoProposalChosen {
                sa: SaKind::Child,
                theirs: None,
                ..
            }]
        ),
        "{:?}",
        p.a_events
    );
}

#[test]
fn wrong_psk_is_reported_as_a_pre_shared_key_failure() {
    for aggressive in [false, true] {
        let (ca, mut cb) = pair_configs(aggressive);
        cb.peering.psk = b"another key".to_vec();
        let p = Pair::establish(ca, cb);
        assert!(live_children(&p.a_events).is_empty() && live_children(&p.b_events).is_empty());
        // The side that checks the peer's HASH (responder in main, initiator in aggressive mode)
        // names the key; the other learns it from the AUTHENTICATION-FAILED notification.
        let (checker, told) = if aggressive {
            (&p.a_events, &p.b_events)
        } else {
            (&p.b_events, &p.a_events)
        };
        let reasons = failures(checker);
        assert_eq!(
            reasons,
            vec![FailureReason::AuthenticationFailed(AuthFailure::Local)],
            "aggressive={aggressive}"
        );
        assert!(reasons[0].to_string().contains("pre-shared key"));
        assert!(
            matches!(
                failures(told)[..],
                [FailureReason::AuthenticationFailed(
                    AuthFailure::Remote { .. }
                )]
            ),
            "{told:?}"
        );
    }
}

#[test]
fn phase1_proposal_mismatch_is_no_proposal_chosen_on_both_sides() {
    let (ca, cb) = pair_configs(false);
    let cb = with_proposals(
        cb,
        Encr::AesCbc256,
        Prf::HmacSha256,
        DhGroup::Modp2048,
        Integ::HmacSha256_128,
        None,
    );
    let p = Pair::establish(ca, cb);
    let b = failures(&p.b_events);
    assert!(
        matches!(
            &b[..],
            [FailureReason::NoProposalChosen {
                sa: SaKind::Ike,
                theirs: Some(_),
                ..
            }]
        ),
        "{b:?}"
    );
    let named: Vec<(ProposalField, String, String)> = b[0]
        .mismatches()
        .iter()
        .map(|m| (m.field, m.ours.to_string(), m.theirs[0].to_string()))
        .collect();
    assert_eq!(
        named,
        vec![
            (ProposalField::Encryption, "aes256".into(), "aes128".into()),
            (ProposalField::Prf, "prfsha256".into(), "prfsha1".into()),
            (ProposalField::DhGroup, "modp2048".into(), "modp1024".into()),
        ]
    );
    assert!(matches!(
        failures(&p.a_events)[..],
        [FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            theirs: None,
            ..
        }]
    ));
}

#[test]
fn unexpected_identity_is_an_id_mismatch() {
    let (ca, mut cb) = pair_configs(false);
    cb.peering.remote_id = Identity::Fqdn("someone.else".into());
    let p = Pair::establish(ca, cb);
    assert_eq!(
        failures(&p.b_events),
        vec![FailureReason::IdMismatch {
            expected: Identity::Fqdn("someone.else".into()),
            received: Identity::Ipv4(A)
        }]
    );
    assert!(live_children(&p.a_events).is_empty());
}

fn short_lifetimes(mut c: Config, ike: u64, child: u64) -> Config {
    c.peering.ike_lifetime = Some(Duration::from_secs(ike));
    c.peering.child_lifetime = Some(Duration::from_secs(child));
    c.peering.rekey_margin = Duration::from_secs(10);
    c
}

#[test]
fn phase2_rekey_installs_new_pair_before_deleting_the_old() {
    let (ca, cb) = pair_configs(false);
    let mut p = Pair::establish(short_lifetimes(ca, 3600, 30), short_lifetimes(cb, 3600, 30));
    let (old_in, old_out) = assert_one_matching_pair(&p);
    p.advance(Duration::from_secs(25));
    let (new_in, _) = assert_one_matching_pair(&p);
    assert_ne!(new_in.spi, old_in.spi);
    let replaced = p.a_events.iter().find_map(|e| match e {
        Event::ChildSaEstablished {
            replaces: Some(r), ..
        } => Some(*r),
        _ => None,
    });
    assert_eq!(replaced, Some((old_in.spi, old_out.spi)));
    for events in [&p.a_events, &p.b_events] {
        let new_at = events
            .iter()
            .rposition(|e| matches!(e, Event::ChildSaEstablished { .. }));
        let del_at = events
            .iter()
            .position(|e| matches!(e, Event::ChildSaDeleted { .. }));
        assert!(
            new_at < del_at,
            "old pair deleted before the new one was up: {events:?}"
        );
    }
    // It keeps going: several lifetimes later there is still exactly one pair.
    p.advance(Duration::from_secs(100));
    assert_one_matching_pair(&p);
    assert!(failures(&p.a_events).is_empty() && failures(&p.b_events).is_empty());
}

#[test]
fn phase1_rekey_replaces_the_isakmp_sa_and_keeps_ipsec_sas() {
    for aggressive in [false, true] {
        phase1_rekey(aggressive);
    }
}

fn phase1_rekey(aggressive: bool) {
    let (ca, cb) = pair_configs(aggressive);
    let mut p = Pair::establish(short_lifetimes(ca, 30, 3600), short_lifetimes(cb, 30, 3600));
    let before = assert_one_matching_pair(&p);
    p.advance(Duration::from_secs(25));
    for events in [&p.a_events, &p.b_events] {
        assert_eq!(
            count(events, |e| matches!(
                e,
                Event::IkeSaEstablished { rekeyed: true, .. }
            )),
            1,
            "{events:?}"
        );
        assert_eq!(
            count(events, |e| matches!(
                e,
                Event::ChildSaDeleted { .. } | Event::IkeSaDeleted { .. }
            )),
            0
        );
    }
    assert_eq!((p.a.isakmp_count(p.a_id), p.b.isakmp_count(p.b_id)), (1, 1));
    assert_eq!(assert_one_matching_pair(&p), before);
    // Informational exchanges run under the new ISAKMP SA: the peer accepts our Delete.
    p.a.delete(p.a_id, p.now);
    p.drive();
    assert_eq!(
        count(&p.b_events, |e| matches!(
            e,
            Event::IkeSaDeleted {
                reason: DeleteReason::Remote
            }
        )),
        1
    );
    assert!(live_children(&p.b_events).is_empty());
}

fn with_dpd(mut c: Config) -> Config {
    c.peering.dpd = Some(Dpd {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(15),
    });
    c.peering.retransmit.base = Duration::from_secs(1);
    c.peering.retransmit.tries = 2;
    c
}

#[test]
fn dead_peer_is_detected_within_the_timeout_and_the_tunnel_returns() {
    let (ca, cb) = pair_configs(false);
    let mut p = Pair::establish(with_dpd(ca), with_dpd(cb));
    assert_one_matching_pair(&p);
    // A quiet but healthy link: R-U-THERE is answered and nothing fails.
    p.advance(Duration::from_secs(60));
    assert!(failures(&p.a_events).is_empty(), "{:?}", p.a_events);
    assert_one_matching_pair(&p);
    p.link_up = false;
    p.advance(Duration::from_secs(5 + 15));
    assert!(
        failures(&p.a_events).contains(&FailureReason::DeadPeer),
        "{:?}",
        p.a_events
    );
    assert!(live_children(&p.a_events).is_empty());
    p.link_up = true;
    p.advance(Duration::from_secs(30));
    assert_eq!(live_children(&p.a_events).len(), 1);
}

#[test]
fn nat_is_detected_and_both_sides_float_to_4500_with_udp_encapsulation() {
    let mut ca = config(A_NAT_PRIVATE, B, false);
    let mut cb = config(B, NAT_PUBLIC, false);
    cb.peering.remote_id = Identity::Ipv4(A_NAT_PRIVATE);
    ca.peering.remote_ts = cb.peering.local_ts.clone();
    cb.peering.remote_ts = ca.peering.local_ts.clone();
    let p = Pair::establish(ca, cb);
    assert_one_matching_pair(&p);
    p.assert_floated_through_nat(B);
}

#[test]
fn lost_responses_are_retransmitted_and_an_absent_peer_is_reported() {
    let (ca, cb) = pair_configs(false);
    let mut p = Pair::new(ca.clone(), cb.clone());
    p.drop_next_from_b = 3;
    p.a.initiate(p.a_id, p.now);
    p.drive();
    p.advance(Duration::from_secs(60));
    assert_one_matching_pair(&p);

    let mut gone = Pair::new(ca, cb);
    gone.link_up = false;
    gone.a.initiate(gone.a_id, gone.now);
    gone.advance(Duration::from_secs(170));
    assert_eq!(
        failures(&gone.a_events).first(),
        Some(&FailureReason::PeerNotResponding)
    );
}

#[test]
fn delete_tears_down_both_sides() {
    let (ca, cb) = pair_configs(true);
    let mut p = Pair::establish(ca, cb);
    assert_one_matching_pair(&p);
    p.a.delete(p.a_id, p.now);
    p.drive();
    assert!(live_children(&p.a_events).is_empty() && live_children(&p.b_events).is_empty());
    assert_eq!(
        count(&p.a_events, |e| matches!(
            e,
            Event::IkeSaDeleted {
                reason: DeleteReason::Local
            }
        )),
        1
    );
    assert_eq!(
        count(&p.b_events, |e| matches!(
            e,
            Event::IkeSaDeleted {
                reason: DeleteReason::Remote
            }
        )),
        1
    );
    assert_eq!(p.a.poll_timeout(), None);
}

#[test]
fn restarted_initiator_clears_stale_sas_with_initial_contact() {
    let (ca, cb) = pair_configs(false);
    let mut p = Pair::establish(ca.clone(), cb);
    let (stale_in, stale_out) = live_children(&p.b_events)[0].clone();
    p.advance(Duration::from_secs(1));
    // a restarts: a fresh endpoint with no memory of the old SAs.
    p.a = Endpoint::new();
    p.a_id = p.a.add_session(ca);
    p.a_events.clear();
    p.a.initiate(p.a_id, p.now);
    p.drive();
    assert_one_matching_pair(&p);
    let stale_deleted = Event::ChildSaDeleted {
        in_spi: stale_in.spi,
        out_spi: stale_out.spi,
    };
    assert!(p.b_events.contains(&stale_deleted), "{:?}", p.b_events);
    assert_eq!(p.b.isakmp_count(p.b_id), 1);
}

#[test]
fn simultaneous_initiation_gives_working_pairs_on_both_sides() {
    let (ca, cb) = pair_configs(false);
    let mut p = Pair::new(ca, cb);
    p.a.initiate(p.a_id, p.now);
    p.b.initiate(p.b_id, p.now);
    p.drive();
    p.advance(Duration::from_secs(30));
    // Neither side mistakes the other's concurrent SA for a rekey or a restart.
    assert!(failures(&p.a_events).is_empty() && failures(&p.b_events).is_empty());
    assert_eq!(
        count(&p.a_events, |e| matches!(
            e,
            Event::IkeSaDeleted { .. } | Event::ChildSaDeleted { .. }
        )),
        0
    );
    let (a, b) = (live_children(&p.a_events), live_children(&p.b_events));
    assert!(!a.is_empty() && a.len() == b.len(), "{a:?} {b:?}");
    for (a_in, a_out) in &a {
        assert!(b.iter().any(|(b_in, b_out)| b_in == a_out && b_out == a_in));
    }
}

#[test]
fn unreadable_protected_answer_to_message_5_means_the_keys_differ() {
    // strongSwan answers a message 5 it cannot decrypt with a notification protected by its own
    // (different) keys; the initiator must name the pre-shared key, not wait for a timeout.
    let (ca, cb) = pair_configs(false);
    let (mut a, mut b) = (Endpoint::new(), Endpoint::new());
    let (ia, _) = (a.add_session(ca), b.add_session(cb));
    let now = Instant::now();
    a.initiate(ia, now);
    for _ in 0..2 {
        let t = a.poll_transmit().unwrap();
        b.handle_datagram(now, t.remote, t.local, &t.data);
        let r = b.poll_transmit().unwrap();
        a.handle_datagram(now, r.remote, r.local, &r.data);
    }
    let message_5 = a.poll_transmit().unwrap().data;
    let (header, _) = message::Header::peek(&message_5).unwrap();
    assert_ne!(header.flags & message::FLAG_ENCRYPTED, 0);
    let foreign = keys::Phase1Keys::derive(&keys::Phase1Input {
        prf: Prf::HmacSha1,
        encr: Encr::AesCbc128,
        psk: b"their key",
        ni: &[1; 16],
        nr: &[2; 16],
        gxy: &[3; 128],
        gxi: &[4; 128],
        gxr: &[5; 128],
        cookie_i: header.cookie_i,
        cookie_r: header.cookie_r,
    })
    .unwrap();
    let info = message::Header {
        exchange: message::exchange::INFORMATIONAL,
        msg_id: 77,
        flags: 0,
        ..header
    };
    let n = message::Notify {
        protocol: message::proto::ISAKMP,
        spi: Vec::new(),
        kind: message::notify::PAYLOAD_MALFORMED,
        data: Vec::new(),
    };
    let body = vec![
        message::Payload::new(message::payload::HASH, vec![0; 20]),
        message::Payload::new(message::payload::NOTIFY, n.encode()),
    ];
    let (data, _) = foreign.seal(&info, &body, &foreign.phase2_iv(77)).unwrap();
    a.handle_datagram(now, addr(A), addr(B), &data);
    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event().map(|(_, e)| e)).collect();
    assert_eq!(
        events,
        vec![Event::Failed {
            reason: FailureReason::AuthenticationFailed(AuthFailure::Local)
        }]
    );
}
