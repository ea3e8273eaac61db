//! One IKEv1 peering: its ISAKMP SAs (main or aggressive mode), quick modes, IPsec SAs,
//! informational exchanges, DPD and rekeying, as a sans-IO state machine.

mod info;
mod phase1;
mod quick;
mod timers;

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
    ENCAP_TUNNEL, ENCAP_UDP_TUNNEL, Phase1Choice, no_phase1_proposal, no_phase2_proposal,
    phase1_match, phase1_transform, phase2_match, phase2_transform,
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

    /// HASH_I (RFC 2409 §5) over the initiator's ID payload body, once keys are derived.
    fn hash_i(&self, id_i: &[u8]) -> Result<Vec<u8>, Reject> {
        let keys = self.keys.as_ref().ok_or(Reject::Drop)?;
        let cookies = [self.cookie_i, self.cookie_r];
        Ok(keys.auth_hash(&self.gxi, &self.gxr, cookies, &self.sai_b, id_i))
    }

    /// HASH_R (RFC 2409 §5) over the responder's ID payload body, once keys are derived.
    fn hash_r(&self, id_r: &[u8]) -> Result<Vec<u8>, Reject> {
        let keys = self.keys.as_ref().ok_or(Reject::Drop)?;
        let cookies = [self.cookie_r, self.cookie_i];
        Ok(keys.auth_hash(&self.gxr, &self.gxi, cookies, &self.sai_b, id_r))
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
