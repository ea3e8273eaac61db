//! One IKEv1 peering: its ISAKMP SAs (main or aggressive mode), quick modes, IPsec SAs,
//! informational exchanges, DPD and rekeying, as a sans-IO state machine.

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use strait_crypto::{DhPrivate, fill_random};

use super::keys::{Phase1Input, Phase1Keys, hash, plain};
use super::message::{
    Chain, Delete, FLAG_ENCRYPTED, Header, Id, Notify, ParseError, Payload, Proposal, Sa, VID_DPD,
    VID_NAT_T, exchange, notify, payload, proto,
};
use super::proposal::{
    ENCAP_TUNNEL, ENCAP_UDP_TUNNEL, Phase1Choice, describe_phase1, describe_phase2,
    describe_transforms, phase1_match, phase1_transform, phase2_match, phase2_transform,
};
use crate::v2::{
    AuthFailure, DeleteReason, EspKeys, EspProposal, Event, FailureReason, NAT_T_PORT, Transmit,
};

/// The configuration of one IKEv1 peering: the shared peering settings plus the phase 1 mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Addresses, identities, key, proposals, selectors (first prefix each), lifetimes, DPD.
    pub peering: crate::v2::Config,
    /// Aggressive mode (3 messages, identities in the clear) instead of main mode.
    pub aggressive: bool,
}

const NONCE_LEN: usize = 32;
/// How long a finished exchange still answers retransmissions of the peer's last message.
const LINGER: Duration = Duration::from_secs(60);

/// Where a phase 1 negotiation stands: which message we wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P1State {
    /// Responder, nothing processed yet.
    New,
    /// Initiator, main mode, sent message 1.
    MainWait2,
    /// Initiator, main mode, sent message 3.
    MainWait4,
    /// Initiator, main mode, sent message 5.
    MainWait6,
    /// Responder, main mode, sent message 2.
    MainWait3,
    /// Responder, main mode, sent message 4.
    MainWait5,
    /// Initiator, aggressive mode, sent message 1.
    AggrWait2,
    /// Responder, aggressive mode, sent message 2.
    AggrWait3,
    /// Authenticated.
    Up,
}

/// Retransmission and duplicate handling of one exchange.
#[derive(Default)]
struct Flight {
    /// The last message received, to recognise the peer's retransmissions.
    rx: Vec<u8>,
    /// Our last message and where it went.
    tx: Option<Transmit>,
    /// When to retransmit `tx` and how often it was already.
    retx: Option<(Instant, u32)>,
}

/// An ISAKMP SA, negotiating or established.
struct Isakmp {
    cookie_i: u64,
    cookie_r: u64,
    initiator: bool,
    state: P1State,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    choice: Option<Phase1Choice>,
    dh: Option<DhPrivate>,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    sai_b: Vec<u8>,
    /// IDii_b of an aggressive mode initiator, needed to verify its message 3.
    flight_id_i: Vec<u8>,
    keys: Option<Phase1Keys>,
    flight: Flight,
    nat: bool,
    peer_natt: bool,
    peer_dpd: bool,
    expires: Option<Instant>,
    rekey_at: Option<Instant>,
    /// When the negotiation began.
    started: Instant,
    /// A replacement is being negotiated (we started it).
    rekeying: bool,
}

impl Isakmp {
    /// Whether a message carries our cookies (message 1 and message 2 still have a zero one).
    fn matches(&self, h: &Header) -> bool {
        self.cookie_i == h.cookie_i
            && (h.cookie_r == 0 || self.cookie_r == 0 || self.cookie_r == h.cookie_r)
    }

    fn cookies(&self) -> Vec<u8> {
        let mut c = self.cookie_i.to_be_bytes().to_vec();
        c.extend_from_slice(&self.cookie_r.to_be_bytes());
        c
    }

    fn header(&self, exchange: u8, msg_id: u32) -> Header {
        Header {
            cookie_i: self.cookie_i,
            cookie_r: self.cookie_r,
            exchange,
            flags: 0,
            msg_id,
        }
    }

    fn transmit(&self, data: Vec<u8>) -> Transmit {
        Transmit {
            local: self.local,
            remote: self.remote,
            data,
        }
    }

    /// NAT-D: HASH(CKY-I | CKY-R | IP | Port) (RFC 3947 §3.2).
    fn nat_d(&self, prf: strait_crypto::Prf, addr: SocketAddrV4) -> Vec<u8> {
        hash(
            prf,
            &[
                &self.cookies(),
                &addr.ip().octets(),
                &addr.port().to_be_bytes(),
            ],
        )
    }
}

/// A quick mode exchange.
struct Quick {
    msg_id: u32,
    cookie_i: u64,
    initiator: bool,
    iv: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    dh: Option<DhPrivate>,
    gqm: Option<Vec<u8>>,
    spi_in: u32,
    spi_out: u32,
    chosen: Option<EspProposal>,
    life: Option<Duration>,
    replaces: Option<(u32, u32)>,
    flight: Flight,
    /// Finished: kept until then only to answer retransmissions.
    linger: Option<Instant>,
}

/// An installed IPsec SA pair.
struct Child {
    /// When it was installed.
    since: Instant,
    in_spi: u32,
    out_spi: u32,
    rekey_at: Option<Instant>,
    expires: Option<Instant>,
    rekeying: bool,
}

/// Why a received message is not processed further.
enum Reject {
    /// Drop it without a word (malformed, unexpected, unauthenticated).
    Drop,
    /// The negotiation failed; optionally tell the peer with an unprotected notification.
    Fail(FailureReason, Option<u16>),
}

impl From<ParseError> for Reject {
    fn from(_: ParseError) -> Self {
        Reject::Drop
    }
}

type Step = Result<(), Reject>;

fn random_u64() -> u64 {
    let mut b = [0; 8];
    fill_random(&mut b);
    u64::from_be_bytes(b)
}

fn random_u32() -> u32 {
    let mut b = [0; 4];
    fill_random(&mut b);
    u32::from_be_bytes(b).max(0x100)
}

fn nonce() -> Vec<u8> {
    let mut n = vec![0; NONCE_LEN];
    fill_random(&mut n);
    n
}

fn jitter(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random_u64().checked_rem(ms.saturating_add(1)).unwrap_or(0))
}

/// One configured IKEv1 peering.
pub(crate) struct Session {
    cfg: Config,
    sas: Vec<Isakmp>,
    quicks: Vec<Quick>,
    children: Vec<Child>,
    /// The driver asked us to keep the tunnel up (we initiate and rekey).
    active: bool,
    reinit_at: Option<Instant>,
    last_heard: Option<Instant>,
    /// Outstanding R-U-THERE: (first sent, next send, sequence number).
    dpd_pending: Option<(Instant, Instant, u32)>,
    dpd_seq: u32,
    pub(crate) out: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
}

impl Session {
    pub(crate) fn new(cfg: Config) -> Self {
        Self {
            cfg,
            sas: Vec::new(),
            quicks: Vec::new(),
            children: Vec::new(),
            active: false,
            reinit_at: None,
            last_heard: None,
            dpd_pending: None,
            dpd_seq: random_u32() >> 1,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.cfg
    }

    fn peering(&self) -> &crate::v2::Config {
        &self.cfg.peering
    }

    /// Whether a datagram with this header belongs to one of our ISAKMP SAs.
    pub(crate) fn owns(&self, h: &Header) -> bool {
        self.sas.iter().any(|s| s.matches(h))
    }

    /// Established ISAKMP SAs (for tests).
    #[cfg(test)]
    pub(crate) fn isakmp_count(&self) -> usize {
        self.sas.iter().filter(|s| s.state == P1State::Up).count()
    }

    /// The newest established ISAKMP SA.
    fn current(&self) -> Option<usize> {
        self.sas.iter().rposition(|s| s.state == P1State::Up)
    }

    fn send(&mut self, t: Transmit) {
        self.out.push_back(t);
    }

    fn retx_at(&self, now: Instant, tries: u32) -> Instant {
        now + self.peering().retransmit.timeout(tries)
    }

    // ---------------------------------------------------------------- driver calls

    pub(crate) fn initiate(&mut self, now: Instant) {
        self.active = true;
        self.reinit_at = None;
        if self.current().is_none() && !self.sas.iter().any(|s| s.initiator) {
            self.start_phase1(now);
        }
    }

    pub(crate) fn note_inbound_traffic(&mut self, now: Instant) {
        self.last_heard = Some(now);
        self.dpd_pending = None;
    }

    pub(crate) fn delete(&mut self, now: Instant) {
        self.active = false;
        self.reinit_at = None;
        if let Some(si) = self.current() {
            let spis: Vec<Vec<u8>> = self
                .children
                .iter()
                .map(|c| c.in_spi.to_be_bytes().to_vec())
                .collect();
            if !spis.is_empty() {
                self.informational(
                    si,
                    now,
                    Payload::new(
                        payload::DELETE,
                        Delete {
                            protocol: proto::ESP,
                            spis,
                        }
                        .encode(),
                    ),
                );
            }
            self.send_isakmp_delete(si, now);
        }
        self.teardown(DeleteReason::Local);
    }

    /// Drops every SA and reports it.
    fn teardown(&mut self, reason: DeleteReason) {
        for c in std::mem::take(&mut self.children) {
            self.events.push_back(Event::ChildSaDeleted {
                in_spi: c.in_spi,
                out_spi: c.out_spi,
            });
        }
        self.quicks.clear();
        self.dpd_pending = None;
        if self.sas.drain(..).any(|s| s.state == P1State::Up) {
            self.events.push_back(Event::IkeSaDeleted { reason });
        }
    }

    fn schedule_reinit(&mut self, now: Instant) {
        if self.active {
            self.reinit_at = self.peering().reinitiate_after.map(|d| now + d);
        }
    }

    // ---------------------------------------------------------------- phase 1

    fn offer(&self) -> Vec<u8> {
        let p = self.peering();
        let group = p.ike_proposals.first().map(|f| f.dh);
        let transforms = p
            .ike_proposals
            .iter()
            // Aggressive mode sends one KE, so it can offer only the first proposal's group.
            .filter(|x| !self.cfg.aggressive || Some(x.dh) == group)
            .filter_map(|x| phase1_transform(0, x, p.ike_lifetime))
            .enumerate()
            .map(|(i, mut t)| {
                t.number = u8::try_from(i + 1).unwrap_or(u8::MAX);
                t
            })
            .collect();
        Sa {
            proposals: vec![Proposal {
                number: 1,
                protocol: proto::ISAKMP,
                spi: Vec::new(),
                transforms,
            }],
        }
        .encode()
    }

    fn vendor_ids(&self) -> Vec<Payload> {
        let mut v = vec![Payload::new(payload::VENDOR_ID, VID_DPD.to_vec())];
        if self.peering().nat_traversal {
            v.push(Payload::new(payload::VENDOR_ID, VID_NAT_T.to_vec()));
        }
        v
    }

    fn new_isakmp(
        &self,
        now: Instant,
        initiator: bool,
        cookie_i: u64,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Isakmp {
        Isakmp {
            cookie_i,
            cookie_r: if initiator { 0 } else { random_u64() },
            initiator,
            state: P1State::Up,
            local,
            remote,
            choice: None,
            dh: None,
            gxi: Vec::new(),
            gxr: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            sai_b: Vec::new(),
            flight_id_i: Vec::new(),
            keys: None,
            flight: Flight::default(),
            nat: false,
            peer_natt: false,
            peer_dpd: false,
            expires: None,
            rekey_at: None,
            started: now,
            rekeying: false,
        }
    }

    fn start_phase1(&mut self, now: Instant) {
        let (local, remote) = (self.peering().local, self.peering().remote);
        let mut sa = self.new_isakmp(now, true, random_u64(), local, remote);
        sa.sai_b = self.offer();
        let mut payloads = vec![Payload::new(payload::SA, sa.sai_b.clone())];
        if self.cfg.aggressive {
            let Some(first) = self.peering().ike_proposals.first() else {
                return;
            };
            let dh = DhPrivate::generate(first.dh);
            sa.gxi = dh.public_value();
            sa.dh = Some(dh);
            sa.ni = nonce();
            payloads.push(Payload::new(payload::KE, sa.gxi.clone()));
            payloads.push(Payload::new(payload::NONCE, sa.ni.clone()));
            payloads.push(Payload::new(
                payload::ID,
                Id::identity(&self.peering().local_id).encode(),
            ));
            sa.state = P1State::AggrWait2;
        } else {
            sa.state = P1State::MainWait2;
        }
        payloads.extend(self.vendor_ids());
        let data = plain(
            &sa.header(
                if self.cfg.aggressive {
                    exchange::AGGRESSIVE
                } else {
                    exchange::MAIN
                },
                0,
            ),
            &payloads,
        );
        let t = sa.transmit(data);
        sa.flight.tx = Some(t.clone());
        sa.flight.retx = Some((self.retx_at(now, 0), 0));
        self.sas.push(sa);
        self.send(t);
    }

    /// A first phase 1 message from the peer for a new ISAKMP SA.
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) {
        let Ok((header, _)) = Header::peek(data) else {
            return;
        };
        let mut sa = self.new_isakmp(now, false, header.cookie_i, local, remote);
        sa.state = P1State::New;
        self.sas.push(sa);
        self.handle(now, local, remote, data);
    }

    /// Feeds a datagram that belongs to this session.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) {
        let Ok((h, first)) = Header::peek(data) else {
            return;
        };
        match h.exchange {
            exchange::MAIN | exchange::AGGRESSIVE => {
                self.handle_phase1(now, local, remote, &h, first, data)
            }
            exchange::QUICK => self.handle_quick(now, &h, first, data),
            exchange::INFORMATIONAL => self.handle_info(now, remote, &h, first, data),
            _ => {}
        }
    }

    fn handle_phase1(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        h: &Header,
        first: u8,
        data: &[u8],
    ) {
        let Some(si) = self.sas.iter().position(|s| s.matches(h)) else {
            return;
        };
        if let Some(sa) = self.sas.get(si)
            && resend_duplicate(&mut self.out, &sa.flight, data)
        {
            return;
        }
        let mut sa = self.sas.remove(si);
        let was_up = sa.state == P1State::Up;
        match self.phase1_step(now, &mut sa, local, remote, h, first, data) {
            Ok(()) => {
                self.last_heard = Some(now);
                sa.flight.rx = data.to_vec();
                let up = !was_up && sa.state == P1State::Up;
                // INITIAL-CONTACT may have cleared the others.
                let si = si.min(self.sas.len());
                self.sas.insert(si, sa);
                if up {
                    self.established(now, si);
                }
            }
            Err(Reject::Drop) => self.sas.insert(si.min(self.sas.len()), sa),
            Err(Reject::Fail(reason, notify)) => self.fail_phase1(now, &sa, reason, notify),
        }
    }

    fn fail_phase1(
        &mut self,
        now: Instant,
        sa: &Isakmp,
        reason: FailureReason,
        notify: Option<u16>,
    ) {
        if let Some(kind) = notify {
            let n = Notify {
                protocol: proto::ISAKMP,
                spi: sa.cookies(),
                kind,
                data: Vec::new(),
            };
            let msg = plain(
                &sa.header(exchange::INFORMATIONAL, 0),
                &[Payload::new(payload::NOTIFY, n.encode())],
            );
            self.send(sa.transmit(msg));
        }
        self.events.push_back(Event::Failed { reason });
        if sa.initiator {
            self.schedule_reinit(now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn phase1_step(
        &mut self,
        now: Instant,
        sa: &mut Isakmp,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        h: &Header,
        first: u8,
        data: &[u8],
    ) -> Step {
        let chain = if h.flags & FLAG_ENCRYPTED != 0 {
            let keys = sa.keys.as_mut().ok_or(Reject::Drop)?;
            let iv = keys.iv.clone();
            match keys.open(data, first, &iv) {
                Ok((chain, next)) => {
                    keys.iv = next;
                    chain
                }
                // A wrong pre-shared key gives a wrong SKEYID_e: message 5/6 does not decrypt.
                Err(_) => return psk_mismatch(),
            }
        } else {
            Chain::parse(first, data.get(Header::LEN..).unwrap_or_default())?
        };
        let aggressive = h.exchange == exchange::AGGRESSIVE;
        match (sa.state, aggressive) {
            (P1State::New, _) => self.respond_first(now, sa, &chain, aggressive),
            (P1State::MainWait2, false) => {
                sa.cookie_r = h.cookie_r;
                self.accept_choice(sa, &chain)?;
                note_vendor_ids(sa, &chain);
                let choice = sa.choice.ok_or(Reject::Drop)?;
                let dh = DhPrivate::generate(choice.dh);
                sa.gxi = dh.public_value();
                sa.dh = Some(dh);
                sa.ni = nonce();
                let mut payloads = vec![
                    Payload::new(payload::KE, sa.gxi.clone()),
                    Payload::new(payload::NONCE, sa.ni.clone()),
                ];
                payloads.extend(self.nat_d_payloads(sa));
                sa.state = P1State::MainWait4;
                self.send_plain(now, sa, exchange::MAIN, &payloads, true);
                Ok(())
            }
            (P1State::MainWait3, false) => {
                self.take_ke(sa, &chain)?;
                check_nat(sa, &chain, local, remote);
                let mut payloads = vec![
                    Payload::new(payload::KE, sa.gxr.clone()),
                    Payload::new(payload::NONCE, sa.nr.clone()),
                ];
                payloads.extend(self.nat_d_payloads(sa));
                sa.state = P1State::MainWait5;
                self.send_plain(now, sa, exchange::MAIN, &payloads, true);
                Ok(())
            }
            (P1State::MainWait4, false) => {
                self.take_ke(sa, &chain)?;
                check_nat(sa, &chain, local, remote);
                float(sa);
                let id = Id::identity(&self.peering().local_id).encode();
                let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
                let hash_i =
                    keys.auth_hash(&sa.gxi, &sa.gxr, [sa.cookie_i, sa.cookie_r], &sa.sai_b, &id);
                let mut payloads = vec![
                    Payload::new(payload::ID, id),
                    Payload::new(payload::HASH, hash_i),
                ];
                payloads.extend(self.initial_contact(sa));
                sa.state = P1State::MainWait6;
                self.send_sealed(now, sa, &payloads, true)
            }
            (P1State::MainWait5, false) => {
                let id_i = self.check_id(&chain)?;
                let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
                let hash_i = keys.auth_hash(
                    &sa.gxi,
                    &sa.gxr,
                    [sa.cookie_i, sa.cookie_r],
                    &sa.sai_b,
                    &id_i,
                );
                check_hash(&chain, &hash_i)?;
                (sa.local, sa.remote) = (local, remote);
                let id = Id::identity(&self.peering().local_id).encode();
                let hash_r =
                    keys.auth_hash(&sa.gxr, &sa.gxi, [sa.cookie_r, sa.cookie_i], &sa.sai_b, &id);
                let payloads = [
                    Payload::new(payload::ID, id),
                    Payload::new(payload::HASH, hash_r),
                ];
                self.honour_initial_contact(&chain, sa.started);
                sa.state = P1State::Up;
                self.send_sealed(now, sa, &payloads, false)
            }
            (P1State::MainWait6, false) => {
                let id_r = self.check_id(&chain)?;
                let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
                let hash_r = keys.auth_hash(
                    &sa.gxr,
                    &sa.gxi,
                    [sa.cookie_r, sa.cookie_i],
                    &sa.sai_b,
                    &id_r,
                );
                check_hash(&chain, &hash_r)?;
                sa.state = P1State::Up;
                Ok(())
            }
            (P1State::AggrWait2, true) => {
                sa.cookie_r = h.cookie_r;
                self.accept_choice(sa, &chain)?;
                note_vendor_ids(sa, &chain);
                let id_r = self.check_id(&chain)?;
                self.take_ke(sa, &chain)?;
                let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
                let hash_r = keys.auth_hash(
                    &sa.gxr,
                    &sa.gxi,
                    [sa.cookie_r, sa.cookie_i],
                    &sa.sai_b,
                    &id_r,
                );
                check_hash(&chain, &hash_r)?;
                let id = Id::identity(&self.peering().local_id).encode();
                let hash_i =
                    keys.auth_hash(&sa.gxi, &sa.gxr, [sa.cookie_i, sa.cookie_r], &sa.sai_b, &id);
                check_nat(sa, &chain, local, remote);
                float(sa);
                let mut payloads = vec![Payload::new(payload::HASH, hash_i)];
                payloads.extend(self.nat_d_payloads(sa));
                payloads.extend(self.initial_contact(sa));
                sa.state = P1State::Up;
                self.send_plain(now, sa, exchange::AGGRESSIVE, &payloads, false);
                Ok(())
            }
            (P1State::AggrWait3, true) => {
                let id_i = sa.flight_id_i.clone();
                let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
                let hash_i = keys.auth_hash(
                    &sa.gxi,
                    &sa.gxr,
                    [sa.cookie_i, sa.cookie_r],
                    &sa.sai_b,
                    &id_i,
                );
                check_hash(&chain, &hash_i)?;
                check_nat(sa, &chain, local, remote);
                (sa.local, sa.remote) = (local, remote);
                self.honour_initial_contact(&chain, sa.started);
                sa.flight.tx = None;
                sa.state = P1State::Up;
                Ok(())
            }
            _ => Err(Reject::Drop),
        }
    }

    fn respond_first(
        &mut self,
        now: Instant,
        sa: &mut Isakmp,
        chain: &Chain,
        aggressive: bool,
    ) -> Step {
        if aggressive != self.cfg.aggressive {
            let mode = if aggressive { "aggressive" } else { "main" };
            return Err(Reject::Fail(
                FailureReason::Protocol(format!("peer uses {mode} mode, the other is configured")),
                Some(notify::NO_PROPOSAL_CHOSEN),
            ));
        }
        let chosen = self.choose_phase1(sa, chain)?;
        note_vendor_ids(sa, chain);
        let mut payloads = vec![Payload::new(
            payload::SA,
            Sa {
                proposals: vec![chosen],
            }
            .encode(),
        )];
        if !aggressive {
            payloads.extend(self.vendor_ids());
            sa.state = P1State::MainWait3;
            self.send_plain(now, sa, exchange::MAIN, &payloads, true);
            return Ok(());
        }
        sa.flight_id_i = self.check_id(chain)?;
        self.take_ke(sa, chain)?;
        let id = Id::identity(&self.peering().local_id).encode();
        let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
        let hash_r = keys.auth_hash(&sa.gxr, &sa.gxi, [sa.cookie_r, sa.cookie_i], &sa.sai_b, &id);
        payloads.push(Payload::new(payload::KE, sa.gxr.clone()));
        payloads.push(Payload::new(payload::NONCE, sa.nr.clone()));
        payloads.push(Payload::new(payload::ID, id));
        payloads.push(Payload::new(payload::HASH, hash_r));
        payloads.extend(self.vendor_ids());
        payloads.extend(self.nat_d_payloads(sa));
        sa.state = P1State::AggrWait3;
        self.send_plain(now, sa, exchange::AGGRESSIVE, &payloads, true);
        Ok(())
    }

    /// Responder: picks the first offered transform we accept and returns the reply proposal.
    fn choose_phase1(&self, sa: &mut Isakmp, chain: &Chain) -> Result<Proposal, Reject> {
        let body = chain.get(payload::SA).ok_or(Reject::Drop)?;
        sa.sai_b = body.to_vec();
        let offered = Sa::parse(body)?;
        let ours = &self.peering().ike_proposals;
        for p in offered
            .proposals
            .iter()
            .filter(|p| p.protocol == proto::ISAKMP)
        {
            for t in &p.transforms {
                if let Some(c) = phase1_match(t, ours) {
                    sa.choice = Some(c);
                    return Ok(Proposal {
                        transforms: vec![t.clone()],
                        ..p.clone()
                    });
                }
            }
        }
        let theirs: Vec<_> = offered
            .proposals
            .iter()
            .flat_map(|p| p.transforms.clone())
            .collect();
        Err(Reject::Fail(
            FailureReason::NoProposalChosen {
                ours: describe_phase1(ours),
                theirs: Some(describe_transforms(&theirs)),
            },
            Some(notify::NO_PROPOSAL_CHOSEN),
        ))
    }

    /// Initiator: the responder's choice must be one we offered.
    fn accept_choice(&self, sa: &mut Isakmp, chain: &Chain) -> Step {
        let sa_body = Sa::parse(chain.get(payload::SA).ok_or(Reject::Drop)?)?;
        let t = sa_body
            .proposals
            .first()
            .and_then(|p| p.transforms.first())
            .ok_or(ParseError::Malformed("SA"))?;
        let choice = phase1_match(t, &self.peering().ike_proposals).ok_or_else(|| {
            Reject::Fail(
                FailureReason::Protocol("responder chose a transform we did not offer".into()),
                None,
            )
        })?;
        sa.choice = Some(choice);
        Ok(())
    }

    /// Takes the peer's KE and nonce (generating ours as responder) and derives the keys.
    fn take_ke(&self, sa: &mut Isakmp, chain: &Chain) -> Step {
        let ke = chain.get(payload::KE).ok_or(Reject::Drop)?.to_vec();
        let n = chain.get(payload::NONCE).ok_or(Reject::Drop)?.to_vec();
        let choice = sa.choice.ok_or(Reject::Drop)?;
        if sa.initiator {
            (sa.gxr, sa.nr) = (ke, n);
        } else {
            let dh = DhPrivate::generate(choice.dh);
            (sa.gxi, sa.ni, sa.gxr, sa.nr) = (ke, n, dh.public_value(), nonce());
            sa.dh = Some(dh);
        }
        let dh = sa
            .dh
            .as_ref()
            .filter(|d| d.group() == choice.dh)
            .ok_or(Reject::Drop)?;
        let peer = if sa.initiator { &sa.gxr } else { &sa.gxi };
        let gxy = dh.agree(peer).map_err(|_| {
            Reject::Fail(
                FailureReason::Protocol("invalid KE payload".into()),
                Some(notify::PAYLOAD_MALFORMED),
            )
        })?;
        let keys = Phase1Keys::derive(&Phase1Input {
            prf: choice.prf,
            encr: choice.encr,
            psk: &self.peering().psk,
            ni: &sa.ni,
            nr: &sa.nr,
            gxy: &gxy,
            gxi: &sa.gxi,
            gxr: &sa.gxr,
            cookie_i: sa.cookie_i,
            cookie_r: sa.cookie_r,
        })
        .map_err(|_| Reject::Drop)?;
        sa.keys = Some(keys);
        Ok(())
    }

    /// The peer's ID payload must name the configured remote identity; returns its body.
    fn check_id(&self, chain: &Chain) -> Result<Vec<u8>, Reject> {
        let body = chain.get(payload::ID).ok_or(Reject::Drop)?;
        let received = Id::parse(body).map_err(|_| psk_reject())?.to_identity();
        let expected = self.peering().remote_id.clone();
        if received != expected {
            return Err(Reject::Fail(
                FailureReason::IdMismatch { expected, received },
                Some(notify::INVALID_ID_INFORMATION),
            ));
        }
        Ok(body.to_vec())
    }

    fn nat_d_payloads(&self, sa: &Isakmp) -> Vec<Payload> {
        match sa.choice {
            Some(c) if sa.peer_natt && self.peering().nat_traversal => vec![
                Payload::new(payload::NAT_D, sa.nat_d(c.prf, sa.remote)),
                Payload::new(payload::NAT_D, sa.nat_d(c.prf, sa.local)),
            ],
            _ => Vec::new(),
        }
    }

    fn initial_contact(&self, sa: &Isakmp) -> Option<Payload> {
        let first = self.current().is_none() && self.children.is_empty();
        first.then(|| {
            let n = Notify {
                protocol: proto::ISAKMP,
                spi: sa.cookies(),
                kind: notify::INITIAL_CONTACT,
                data: Vec::new(),
            };
            Payload::new(payload::NOTIFY, n.encode())
        })
    }

    /// INITIAL-CONTACT: the peer restarted, so every other SA with it is stale.
    fn honour_initial_contact(&mut self, chain: &Chain, started: Instant) {
        if !chain
            .notifies()
            .iter()
            .any(|n| n.kind == notify::INITIAL_CONTACT)
        {
            return;
        }
        // Only state older than the announcing SA is stale: SAs we negotiate concurrently
        // (simultaneous initiation) stay.
        let (stale, kept): (Vec<Child>, Vec<Child>) = std::mem::take(&mut self.children)
            .into_iter()
            .partition(|c| c.since < started);
        self.children = kept;
        for c in stale {
            self.events.push_back(Event::ChildSaDeleted {
                in_spi: c.in_spi,
                out_spi: c.out_spi,
            });
        }
        self.sas.retain(|s| s.started >= started);
        let sas = &self.sas;
        self.quicks
            .retain(|q| sas.iter().any(|s| s.cookie_i == q.cookie_i));
    }

    fn send_plain(
        &mut self,
        now: Instant,
        sa: &mut Isakmp,
        exch: u8,
        payloads: &[Payload],
        expect_reply: bool,
    ) {
        let t = sa.transmit(plain(&sa.header(exch, 0), payloads));
        self.record(now, &mut sa.flight, t, expect_reply);
    }

    fn send_sealed(
        &mut self,
        now: Instant,
        sa: &mut Isakmp,
        payloads: &[Payload],
        expect_reply: bool,
    ) -> Step {
        let header = sa.header(exchange::MAIN, 0);
        let keys = sa.keys.as_mut().ok_or(Reject::Drop)?;
        let iv = keys.iv.clone();
        let (data, next) = keys
            .seal(&header, payloads, &iv)
            .map_err(|_| Reject::Drop)?;
        keys.iv = next;
        let t = sa.transmit(data);
        self.record(now, &mut sa.flight, t, expect_reply);
        Ok(())
    }

    /// Sends `t` and remembers it for retransmission (timed when a reply is expected).
    fn record(&mut self, now: Instant, flight: &mut Flight, t: Transmit, expect_reply: bool) {
        flight.retx = expect_reply.then(|| (self.retx_at(now, 0), 0));
        flight.tx = Some(t.clone());
        self.send(t);
    }

    fn established(&mut self, now: Instant, si: usize) {
        let p = self.peering().clone();
        let rekeyed = self
            .sas
            .iter()
            .enumerate()
            .any(|(i, s)| i != si && s.state == P1State::Up);
        let Some(sa) = self.sas.get_mut(si) else {
            return;
        };
        sa.flight.retx = None;
        sa.dh = None;
        let life = sa.choice.and_then(|c| c.life).or(p.ike_lifetime);
        sa.expires = life.map(|l| now + l);
        if sa.initiator {
            sa.rekey_at = life.map(|l| now + rekey_after(l, p.rekey_margin, p.rekey_jitter));
        }
        let (initiator, cookies) = (sa.initiator, (sa.cookie_i, sa.cookie_r));
        self.events.push_back(Event::IkeSaEstablished {
            spi_i: sa.cookie_i,
            spi_r: sa.cookie_r,
            local: sa.local,
            remote: sa.remote,
            rekeyed,
        });
        self.last_heard = Some(now);
        if initiator {
            // Our rekey is up: the SAs it replaces go. (An SA the peer initiated at the same
            // time as ours is no rekey; both stay until they expire.)
            while let Some(old) = self.sas.iter().position(|s| {
                s.state == P1State::Up && s.rekeying && (s.cookie_i, s.cookie_r) != cookies
            }) {
                self.send_isakmp_delete(old, now);
                self.sas.remove(old);
            }
        }
        if initiator
            && self.active
            && self.children.is_empty()
            && self.quicks.iter().all(|q| q.linger.is_some())
        {
            self.start_quick(now, None);
        }
    }

    fn send_isakmp_delete(&mut self, si: usize, now: Instant) {
        let Some(cookies) = self.sas.get(si).map(Isakmp::cookies) else {
            return;
        };
        let d = Delete {
            protocol: proto::ISAKMP,
            spis: vec![cookies],
        };
        self.informational(si, now, Payload::new(payload::DELETE, d.encode()));
    }

    // ---------------------------------------------------------------- quick mode

    fn selectors(&self) -> (crate::v2::Ipv4Prefix, crate::v2::Ipv4Prefix) {
        let p = self.peering();
        let any = crate::v2::Ipv4Prefix::any();
        (
            p.local_ts.first().copied().unwrap_or(any),
            p.remote_ts.first().copied().unwrap_or(any),
        )
    }

    fn start_quick(&mut self, now: Instant, replaces: Option<(u32, u32)>) {
        let Some(si) = self.current() else {
            if !self.sas.iter().any(|s| s.initiator) {
                self.start_phase1(now);
            }
            return;
        };
        let p = self.peering().clone();
        let Some(first) = p.esp_proposals.first() else {
            return;
        };
        let (local_ts, remote_ts) = self.selectors();
        let Some(sa) = self.sas.get(si) else {
            return;
        };
        let Some(keys) = sa.keys.as_ref() else {
            return;
        };
        let encap = if sa.nat {
            ENCAP_UDP_TUNNEL
        } else {
            ENCAP_TUNNEL
        };
        let (msg_id, spi_in, ni) = (random_u32(), random_u32(), nonce());
        let dh = first.pfs.map(DhPrivate::generate);
        // One KE per quick mode: offer only proposals with the first one's PFS group.
        let transforms = p
            .esp_proposals
            .iter()
            .filter(|e| e.pfs == first.pfs)
            .enumerate()
            .map(|(i, e)| {
                phase2_transform(
                    u8::try_from(i + 1).unwrap_or(u8::MAX),
                    e,
                    encap,
                    p.child_lifetime,
                )
            })
            .collect();
        let offer = Sa {
            proposals: vec![Proposal {
                number: 1,
                protocol: proto::ESP,
                spi: spi_in.to_be_bytes().to_vec(),
                transforms,
            }],
        };
        let mut after = vec![
            Payload::new(payload::SA, offer.encode()),
            Payload::new(payload::NONCE, ni.clone()),
        ];
        if let Some(d) = &dh {
            after.push(Payload::new(payload::KE, d.public_value()));
        }
        after.push(Payload::new(payload::ID, Id::subnet(local_ts).encode()));
        after.push(Payload::new(payload::ID, Id::subnet(remote_ts).encode()));
        let Ok((data, iv)) = seal_hashed(
            keys,
            &sa.header(exchange::QUICK, msg_id),
            &[&msg_id.to_be_bytes()],
            after,
            &keys.phase2_iv(msg_id),
        ) else {
            return;
        };
        let t = sa.transmit(data);
        let mut q = Quick {
            msg_id,
            cookie_i: sa.cookie_i,
            initiator: true,
            iv,
            ni,
            nr: Vec::new(),
            dh,
            gqm: None,
            spi_in,
            spi_out: 0,
            chosen: None,
            life: p.child_lifetime,
            replaces,
            flight: Flight::default(),
            linger: None,
        };
        self.record(now, &mut q.flight, t, true);
        self.quicks.push(q);
    }

    fn handle_quick(&mut self, now: Instant, h: &Header, first: u8, data: &[u8]) {
        if h.flags & FLAG_ENCRYPTED == 0 {
            return;
        }
        let Some(si) = self.sas.iter().position(|s| {
            s.state == P1State::Up && s.cookie_i == h.cookie_i && s.cookie_r == h.cookie_r
        }) else {
            return;
        };
        let Some(qi) = self
            .quicks
            .iter()
            .position(|q| q.msg_id == h.msg_id && q.cookie_i == h.cookie_i)
        else {
            self.last_heard = Some(now);
            if let Err(Reject::Fail(reason, notify)) = self.quick_respond(now, si, h, first, data) {
                self.quick_failed(now, si, reason, notify);
            }
            return;
        };
        if let Some(q) = self.quicks.get(qi)
            && (resend_duplicate(&mut self.out, &q.flight, data) || q.linger.is_some())
        {
            return;
        }
        let mut q = self.quicks.remove(qi);
        let result = self.quick_step(si, &mut q, first, data);
        match result {
            Ok(()) => {
                self.last_heard = Some(now);
                q.flight.rx = data.to_vec();
                q.flight.retx = None;
                q.linger = Some(now + LINGER);
                self.install_child(now, si, &q);
                self.quicks.push(q);
            }
            Err(Reject::Drop) => self.quicks.insert(qi, q),
            Err(Reject::Fail(reason, notify)) => self.quick_failed(now, si, reason, notify),
        }
    }

    /// Reports a failed quick mode, telling the peer in a protected notification.
    fn quick_failed(
        &mut self,
        now: Instant,
        si: usize,
        reason: FailureReason,
        notify: Option<u16>,
    ) {
        if let Some(kind) = notify {
            let n = Notify {
                protocol: proto::ESP,
                spi: Vec::new(),
                kind,
                data: Vec::new(),
            };
            self.informational(si, now, Payload::new(payload::NOTIFY, n.encode()));
        }
        self.events.push_back(Event::Failed { reason });
    }

    /// Responder: quick mode message 1; answers with message 2.
    fn quick_respond(
        &mut self,
        now: Instant,
        si: usize,
        h: &Header,
        first: u8,
        data: &[u8],
    ) -> Step {
        let p = self.peering().clone();
        let (local_ts, remote_ts) = self.selectors();
        let sa = self.sas.get(si).ok_or(Reject::Drop)?;
        let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
        let msg_id = h.msg_id.to_be_bytes();
        let (chain, iv) = keys
            .open(data, first, &keys.phase2_iv(h.msg_id))
            .map_err(|_| Reject::Drop)?;
        verify_hashed(keys, &chain, &[&msg_id])?;
        let offer = Sa::parse(chain.get(payload::SA).ok_or(Reject::Drop)?)?;
        let ni = chain.get(payload::NONCE).ok_or(Reject::Drop)?.to_vec();
        let found = offer
            .proposals
            .iter()
            .filter(|x| x.protocol == proto::ESP)
            .find_map(|x| {
                let spi = u32::from_be_bytes(x.spi.as_slice().try_into().ok()?);
                x.transforms
                    .iter()
                    .find_map(|t| phase2_match(t, &p.esp_proposals).map(|(e, l)| (x, spi, t, e, l)))
            });
        let Some((prop, spi_out, transform, chosen, life)) = found else {
            let theirs: Vec<_> = offer
                .proposals
                .iter()
                .flat_map(|x| x.transforms.clone())
                .collect();
            return Err(Reject::Fail(
                FailureReason::NoProposalChosen {
                    ours: describe_phase2(&p.esp_proposals),
                    theirs: Some(describe_transforms(&theirs)),
                },
                Some(notify::NO_PROPOSAL_CHOSEN),
            ));
        };
        let ids: Vec<&[u8]> = chain.all(payload::ID).collect();
        let (id_ci, id_cr) = match ids.as_slice() {
            [ci, cr] => (ci.to_vec(), cr.to_vec()),
            _ => (
                Id::subnet(crate::v2::Ipv4Prefix::new(*sa.remote.ip(), 32)).encode(),
                Id::subnet(crate::v2::Ipv4Prefix::new(*sa.local.ip(), 32)).encode(),
            ),
        };
        let same = |body: &[u8], want: crate::v2::Ipv4Prefix| {
            Id::parse(body)
                .ok()
                .and_then(|i| i.to_prefix())
                .map(|x| x.to_selector())
                == Some(want.to_selector())
        };
        if !same(&id_ci, remote_ts) || !same(&id_cr, local_ts) {
            return Err(Reject::Fail(
                FailureReason::TsUnacceptable,
                Some(notify::INVALID_ID_INFORMATION),
            ));
        }
        let (dh, gqm) = match chosen.pfs {
            Some(g) => {
                let d = DhPrivate::generate(g);
                let ke = chain.get(payload::KE).ok_or(Reject::Drop)?;
                let s = d.agree(ke).map_err(|_| Reject::Drop)?;
                (Some(d), Some(s))
            }
            None => (None, None),
        };
        let spi_in = random_u32();
        let nr = nonce();
        let reply = Proposal {
            spi: spi_in.to_be_bytes().to_vec(),
            transforms: vec![transform.clone()],
            ..prop.clone()
        };
        let mut after = vec![
            Payload::new(
                payload::SA,
                Sa {
                    proposals: vec![reply],
                }
                .encode(),
            ),
            Payload::new(payload::NONCE, nr.clone()),
        ];
        if let Some(d) = &dh {
            after.push(Payload::new(payload::KE, d.public_value()));
        }
        if ids.len() == 2 {
            after.push(Payload::new(payload::ID, id_ci));
            after.push(Payload::new(payload::ID, id_cr));
        }
        let (msg, iv) = seal_hashed(
            keys,
            &sa.header(exchange::QUICK, h.msg_id),
            &[&msg_id, &ni],
            after,
            &iv,
        )
        .map_err(|_| Reject::Drop)?;
        let t = sa.transmit(msg);
        let mut q = Quick {
            msg_id: h.msg_id,
            cookie_i: sa.cookie_i,
            initiator: false,
            iv,
            ni,
            nr,
            dh: None,
            gqm,
            spi_in,
            spi_out,
            chosen: Some(chosen),
            // The initiator rekeys; expiring earlier than it expects would cut traffic.
            life: life.or(p.child_lifetime),
            replaces: None,
            flight: Flight {
                rx: data.to_vec(),
                ..Flight::default()
            },
            linger: None,
        };
        self.record(now, &mut q.flight, t, true);
        self.quicks.push(q);
        Ok(())
    }

    /// Quick mode message 2 (initiator, answers with message 3) or 3 (responder).
    fn quick_step(&mut self, si: usize, q: &mut Quick, first: u8, data: &[u8]) -> Step {
        let p = self.peering().clone();
        let sa = self.sas.get(si).ok_or(Reject::Drop)?;
        let keys = sa.keys.as_ref().ok_or(Reject::Drop)?;
        let msg_id = q.msg_id.to_be_bytes();
        let (chain, iv) = keys.open(data, first, &q.iv).map_err(|_| Reject::Drop)?;
        if !q.initiator {
            let want = keys.hash_a(&[&[0], &msg_id, &q.ni, &q.nr]);
            return check_hash(&chain, &want).map_err(|_| Reject::Drop);
        }
        verify_hashed(keys, &chain, &[&msg_id, &q.ni])?;
        let answer = Sa::parse(chain.get(payload::SA).ok_or(Reject::Drop)?)?;
        let prop = answer
            .proposals
            .first()
            .ok_or(ParseError::Malformed("SA"))?;
        let spi = u32::from_be_bytes(
            prop.spi
                .as_slice()
                .try_into()
                .map_err(|_| ParseError::Malformed("SPI"))?,
        );
        let t = prop.transforms.first().ok_or(ParseError::Malformed("SA"))?;
        let (chosen, life) = phase2_match(t, &p.esp_proposals).ok_or_else(|| {
            Reject::Fail(
                FailureReason::Protocol("responder chose an ESP transform we did not offer".into()),
                None,
            )
        })?;
        q.nr = chain.get(payload::NONCE).ok_or(Reject::Drop)?.to_vec();
        if let Some(d) = &q.dh {
            let ke = chain.get(payload::KE).ok_or(Reject::Drop)?;
            q.gqm = Some(d.agree(ke).map_err(|_| Reject::Drop)?);
        }
        q.dh = None;
        (q.spi_out, q.chosen, q.life) = (spi, Some(chosen), min_life(life, q.life));
        let hash3 = keys.hash_a(&[&[0], &msg_id, &q.ni, &q.nr]);
        let (msg, _) = keys
            .seal(
                &sa.header(exchange::QUICK, q.msg_id),
                &[Payload::new(payload::HASH, hash3)],
                &iv,
            )
            .map_err(|_| Reject::Drop)?;
        let t = sa.transmit(msg);
        q.flight.tx = Some(t.clone());
        self.send(t);
        Ok(())
    }

    fn install_child(&mut self, now: Instant, si: usize, q: &Quick) {
        let p = self.peering().clone();
        let (local_ts, remote_ts) = self.selectors();
        let (Some(sa), Some(esp)) = (self.sas.get(si), q.chosen) else {
            return;
        };
        let Some(keys) = sa.keys.as_ref() else {
            return;
        };
        let enc_len = esp.encr.key_len();
        let len = enc_len + esp.integ.map_or(0, |i| i.key_len());
        let direction = |spi: u32| {
            let km = keys.keymat(q.gqm.as_deref(), spi, &q.ni, &q.nr, len);
            let (e, i) = km.split_at_checked(enc_len).unwrap_or((&km, &[]));
            EspKeys {
                spi,
                encr: esp.encr,
                enc_key: e.to_vec(),
                integ: esp.integ,
                integ_key: i.to_vec(),
            }
        };
        let (inbound, outbound) = (direction(q.spi_in), direction(q.spi_out));
        let life = q.life.or(p.child_lifetime);
        self.events.push_back(Event::ChildSaEstablished {
            inbound,
            outbound,
            local_ts: vec![local_ts.to_selector()],
            remote_ts: vec![remote_ts.to_selector()],
            local: sa.local,
            remote: sa.remote,
            udp_encap: sa.nat,
            replaces: q.replaces,
        });
        self.children.push(Child {
            since: now,
            in_spi: q.spi_in,
            out_spi: q.spi_out,
            rekey_at: life
                .filter(|_| q.initiator)
                .map(|l| now + rekey_after(l, p.rekey_margin, p.rekey_jitter)),
            expires: life.map(|l| now + l),
            rekeying: false,
        });
        if let Some((old_in, _)) = q.replaces {
            self.delete_child(now, old_in, true);
        }
    }

    /// Removes the pair with inbound SPI `in_spi`, telling the peer when `notify`.
    fn delete_child(&mut self, now: Instant, in_spi: u32, notify: bool) {
        let Some(ci) = self.children.iter().position(|c| c.in_spi == in_spi) else {
            return;
        };
        let c = self.children.remove(ci);
        if notify && let Some(si) = self.current() {
            let d = Delete {
                protocol: proto::ESP,
                spis: vec![c.in_spi.to_be_bytes().to_vec()],
            };
            self.informational(si, now, Payload::new(payload::DELETE, d.encode()));
        }
        self.events.push_back(Event::ChildSaDeleted {
            in_spi: c.in_spi,
            out_spi: c.out_spi,
        });
    }

    // ---------------------------------------------------------------- informational

    /// Sends one protected informational payload under ISAKMP SA `si`.
    fn informational(&mut self, si: usize, _now: Instant, p: Payload) {
        let Some(sa) = self.sas.get(si) else {
            return;
        };
        let Some(keys) = sa.keys.as_ref() else {
            return;
        };
        let msg_id = random_u32();
        let header = sa.header(exchange::INFORMATIONAL, msg_id);
        if let Ok((data, _)) = seal_hashed(
            keys,
            &header,
            &[&msg_id.to_be_bytes()],
            vec![p],
            &keys.phase2_iv(msg_id),
        ) {
            let t = sa.transmit(data);
            self.send(t);
        }
    }

    fn handle_info(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        h: &Header,
        first: u8,
        data: &[u8],
    ) {
        if h.flags & FLAG_ENCRYPTED == 0
            || !self
                .sas
                .iter()
                .any(|s| s.state == P1State::Up && s.cookie_i == h.cookie_i)
        {
            self.handle_phase1_info(now, remote, h, first, data);
            return;
        }
        let Some(si) = self.sas.iter().position(|s| {
            s.state == P1State::Up && s.cookie_i == h.cookie_i && s.cookie_r == h.cookie_r
        }) else {
            return;
        };
        let Some(keys) = self.sas.get(si).and_then(|s| s.keys.as_ref()) else {
            return;
        };
        let Ok((chain, _)) = keys.open(data, first, &keys.phase2_iv(h.msg_id)) else {
            return;
        };
        if verify_hashed(keys, &chain, &[&h.msg_id.to_be_bytes()]).is_err() {
            return;
        }
        self.last_heard = Some(now);
        for n in chain.notifies() {
            match n.kind {
                notify::R_U_THERE => {
                    let ack = Notify {
                        kind: notify::R_U_THERE_ACK,
                        ..n
                    };
                    self.informational(si, now, Payload::new(payload::NOTIFY, ack.encode()));
                }
                notify::R_U_THERE_ACK
                    if self
                        .dpd_pending
                        .is_some_and(|(_, _, seq)| n.data == seq.to_be_bytes()) =>
                {
                    self.dpd_pending = None;
                }
                notify::NO_PROPOSAL_CHOSEN | notify::INVALID_ID_INFORMATION => {
                    self.quicks.retain(|q| !q.initiator || q.linger.is_some());
                    let reason = if n.kind == notify::NO_PROPOSAL_CHOSEN {
                        FailureReason::NoProposalChosen {
                            ours: describe_phase2(&self.peering().esp_proposals),
                            theirs: None,
                        }
                    } else {
                        FailureReason::TsUnacceptable
                    };
                    self.events.push_back(Event::Failed { reason });
                }
                _ => {}
            }
        }
        let deletes: Vec<Delete> = chain
            .all(payload::DELETE)
            .filter_map(|b| Delete::parse(b).ok())
            .collect();
        for d in deletes {
            self.handle_delete(now, &d);
        }
    }

    fn handle_delete(&mut self, now: Instant, d: &Delete) {
        match d.protocol {
            proto::ESP => {
                for spi in &d.spis {
                    let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                        continue;
                    };
                    // RFC 2408 names the SA by the deleting side's inbound SPI (our outbound);
                    // strongSwan names a pair it failed to install by the initiator's SPI.
                    let spi = u32::from_be_bytes(b);
                    if let Some(c) = self
                        .children
                        .iter()
                        .find(|c| c.out_spi == spi || c.in_spi == spi)
                    {
                        let in_spi = c.in_spi;
                        self.delete_child(now, in_spi, false);
                    }
                }
            }
            proto::ISAKMP => {
                let was_up = self.current().is_some();
                for spi in &d.spis {
                    self.sas.retain(|s| s.cookies() != *spi);
                }
                if was_up && self.current().is_none() {
                    self.teardown(DeleteReason::Remote);
                    self.events.push_back(Event::IkeSaDeleted {
                        reason: DeleteReason::Remote,
                    });
                    self.schedule_reinit(now);
                }
            }
            _ => {}
        }
    }

    /// An unprotected notification about a phase 1 we are negotiating.
    /// A notification about a phase 1 we are negotiating: unprotected, or protected with the
    /// keys of messages 5/6 (strongSwan reports a message 5 it cannot decrypt that way).
    fn handle_phase1_info(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        h: &Header,
        first: u8,
        data: &[u8],
    ) {
        let Some(si) = self
            .sas
            .iter()
            .position(|s| s.state != P1State::Up && s.cookie_i == h.cookie_i)
        else {
            return;
        };
        let chain = if h.flags & FLAG_ENCRYPTED == 0 {
            Chain::parse(first, data.get(Header::LEN..).unwrap_or_default()).ok()
        } else {
            let Some(sa) = self.sas.get(si) else {
                return;
            };
            let Some(keys) = sa.keys.as_ref() else {
                return;
            };
            let opened = keys
                .open(data, first, &keys.phase2_iv(h.msg_id))
                .ok()
                .filter(|(c, _)| verify_hashed(keys, c, &[&h.msg_id.to_be_bytes()]).is_ok());
            if opened.is_none() && sa.state == P1State::MainWait6 {
                // The peer answered message 5 with keys we cannot read: its SKEYID differs.
                let sa = self.sas.remove(si);
                self.fail_phase1(
                    now,
                    &sa,
                    FailureReason::AuthenticationFailed(AuthFailure::Local),
                    None,
                );
                return;
            }
            opened.map(|(c, _)| c)
        };
        let Some(chain) = chain else {
            return;
        };
        let ours = describe_phase1(&self.peering().ike_proposals);
        let reason = chain.notifies().into_iter().find_map(|n| match n.kind {
            notify::NO_PROPOSAL_CHOSEN => Some(FailureReason::NoProposalChosen {
                ours: ours.clone(),
                theirs: None,
            }),
            notify::AUTHENTICATION_FAILED
            | notify::INVALID_HASH_INFORMATION
            | notify::PAYLOAD_MALFORMED
            | notify::INVALID_PAYLOAD_TYPE => {
                Some(FailureReason::AuthenticationFailed(AuthFailure::Remote {
                    from: remote,
                }))
            }
            notify::INVALID_ID_INFORMATION => {
                Some(FailureReason::Protocol("peer rejected our identity".into()))
            }
            _ => None,
        });
        if let Some(reason) = reason {
            let sa = self.sas.remove(si);
            self.fail_phase1(now, &sa, reason, None);
        }
    }

    // ---------------------------------------------------------------- timers

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
    fn retransmit(&mut self, now: Instant, flight: &mut Flight) -> bool {
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

    fn phase1_timers(&mut self, now: Instant) {
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
            let rekey = sa.rekey_at.is_some_and(|t| now >= t) && !sa.rekeying && self.active;
            sa.rekeying |= rekey;
            self.sas.insert(i, sa);
            i += 1;
            if rekey {
                self.start_phase1(now);
            }
        }
    }

    fn quick_timers(&mut self, now: Instant) {
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

    fn child_timers(&mut self, now: Instant) {
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
    fn dpd_due(&self) -> Option<Instant> {
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

    fn dpd_timers(&mut self, now: Instant) {
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

/// Whether `data` repeats the peer's last message; if our answer ended the exchange (no timer
/// of ours retransmits it) it is sent again. A side still waiting lets its timer do that, so
/// the two sides never bounce duplicates back and forth.
fn resend_duplicate(out: &mut VecDeque<Transmit>, flight: &Flight, data: &[u8]) -> bool {
    if flight.rx.is_empty() || flight.rx != data {
        return false;
    }
    if let (Some(t), None) = (&flight.tx, flight.retx) {
        out.push_back(t.clone());
    }
    true
}

fn psk_reject() -> Reject {
    Reject::Fail(
        FailureReason::AuthenticationFailed(AuthFailure::Local),
        Some(notify::AUTHENTICATION_FAILED),
    )
}

/// A message 5/6 that does not decrypt or verify: the pre-shared keys differ.
fn psk_mismatch() -> Step {
    Err(psk_reject())
}

fn check_hash(chain: &Chain, want: &[u8]) -> Step {
    if chain.get(payload::HASH) == Some(want) {
        Ok(())
    } else {
        psk_mismatch()
    }
}

/// Checks the leading HASH of a quick mode or informational message: prf(SKEYID_a, prefix | rest).
fn verify_hashed(keys: &Phase1Keys, chain: &Chain, prefix: &[&[u8]]) -> Step {
    let first = chain.payloads.first().ok_or(Reject::Drop)?;
    let mut parts = prefix.to_vec();
    parts.push(&chain.after_first);
    if first.kind == payload::HASH && first.body == keys.hash_a(&parts) {
        Ok(())
    } else {
        Err(Reject::Drop)
    }
}

/// Seals `HASH | after` where HASH = prf(SKEYID_a, prefix | after).
fn seal_hashed(
    keys: &Phase1Keys,
    header: &Header,
    prefix: &[&[u8]],
    after: Vec<Payload>,
    iv: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), strait_crypto::CryptoError> {
    let (_, chain) = super::message::encode_chain(&after);
    let mut parts = prefix.to_vec();
    parts.push(&chain);
    let mut payloads = vec![Payload::new(payload::HASH, keys.hash_a(&parts))];
    payloads.extend(after);
    keys.seal(header, &payloads, iv)
}

fn note_vendor_ids(sa: &mut Isakmp, chain: &Chain) {
    for v in chain.all(payload::VENDOR_ID) {
        sa.peer_dpd |= v == VID_DPD;
        sa.peer_natt |= v == VID_NAT_T;
    }
}

/// RFC 3947 §3.2: the first NAT-D hashes our address as the peer saw it, the others its own.
fn check_nat(sa: &mut Isakmp, chain: &Chain, local: SocketAddrV4, remote: SocketAddrV4) {
    let Some(prf) = sa.choice.map(|c| c.prf) else {
        return;
    };
    let mut hashes = chain.all(payload::NAT_D);
    let Some(dest) = hashes.next() else {
        return;
    };
    let local_nat = dest != sa.nat_d(prf, local);
    let theirs = sa.nat_d(prf, remote);
    let remote_nat = !hashes.any(|h| h == theirs);
    sa.nat = local_nat || remote_nat;
}

/// After NAT is detected the initiator moves to port 4500.
fn float(sa: &mut Isakmp) {
    if sa.nat {
        sa.local.set_port(NAT_T_PORT);
        sa.remote.set_port(NAT_T_PORT);
    }
}

/// The shorter of two lifetimes.
fn min_life(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// When to rekey an SA of lifetime `life`: margin (plus jitter) before expiry, at least halfway.
fn rekey_after(life: Duration, margin: Duration, max_jitter: Duration) -> Duration {
    life.saturating_sub(margin + jitter(max_jitter))
        .max(life / 2)
}
