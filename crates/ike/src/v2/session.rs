//! One configured peering: its IKE SAs, their CHILD_SAs and every exchange between them.

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use strait_crypto::{DhPrivate, Prf, fill_random};

use super::config::{Config, EspProposal, IkeProposal, describe_all};
use super::event::{AuthFailure, DeleteReason, EspKeys, Event, FailureReason, Transmit};
use super::message::{
    AUTH_SHARED_KEY, Auth, Delete, ExchangeType, Header, Identity, KeyExchange, Message, Notify, NotifyType,
    Payload, Proposal, TrafficSelector, protocol,
};
use super::sk::{IkeKeyInput, IkeKeys, Split};

/// The port IKE and ESP float to when NAT is detected (RFC 3948).
pub const NAT_T_PORT: u16 = 4500;
const NONCE_LEN: usize = 32;
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";
/// How long a responder keeps a half-open IKE SA waiting for IKE_AUTH.
const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Delay before retrying a rekey the peer refused for now.
const REKEY_RETRY: Duration = Duration::from_secs(2);

/// What an outstanding request was, with the state needed to process its response.
enum Sent {
    Init,
    Auth,
    RekeyChild { old_in: u32, new_in: u32, ni: Vec<u8>, dh: Option<DhPrivate> },
    RekeyIke { new_spi: u64, ni: Vec<u8>, dh: DhPrivate },
    DeleteChild(u32),
    DeleteIke,
    Dpd,
}

/// A request waiting for the window (RFC 7296 §2.3: we use a window of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    RekeyChild(u32),
    RekeyIke,
    DeleteChild(u32),
    DeleteIke,
    Dpd,
}

struct Request {
    id: u32,
    data: Vec<u8>,
    sent: Sent,
    first_sent: Instant,
    tries: u32,
    next_retx: Instant,
}

enum Phase {
    InitSent { dh: DhPrivate, ni: Vec<u8>, cookie: Option<Vec<u8>> },
    AuthSent { init_resp: Vec<u8>, ni: Vec<u8>, nr: Vec<u8>, in_spi: u32 },
    InitDone { init_req: Vec<u8>, init_resp: Vec<u8>, ni: Vec<u8>, nr: Vec<u8> },
    Established,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildState {
    Installed,
    Rekeying,
    Replaced,
    Deleting,
}

struct Child {
    in_spi: u32,
    out_spi: u32,
    proposal: EspProposal,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    rekey_at: Option<Instant>,
    expire_at: Option<Instant>,
    state: ChildState,
    /// A rekey of this child the peer completed while ours was in flight: (new in SPI, lowest nonce).
    peer_rekey: Option<(u32, Vec<u8>)>,
}

struct IkeSa {
    spi_i: u64,
    spi_r: u64,
    /// Whether we are the original initiator of this IKE SA.
    initiator: bool,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    phase: Phase,
    proposal: Option<IkeProposal>,
    keys: Option<IkeKeys>,
    next_id: u32,
    expect_id: u32,
    last_response: Option<(u32, Vec<u8>)>,
    request: Option<Request>,
    queue: VecDeque<Intent>,
    last_heard: Instant,
    created: Instant,
    rekey_at: Option<Instant>,
    expire_at: Option<Instant>,
    nat: bool,
    children: Vec<Child>,
    /// Replaced by a rekey: only its deletion remains.
    replaced: bool,
    /// An IKE rekey the peer completed while ours was in flight: (new SA's initiator SPI, lowest nonce).
    peer_rekey: Option<(u64, Vec<u8>)>,
}

impl IkeSa {
    fn new(initiator: bool, spi_i: u64, spi_r: u64, local: SocketAddrV4, remote: SocketAddrV4, phase: Phase, now: Instant) -> Self {
        Self {
            spi_i,
            spi_r,
            initiator,
            local,
            remote,
            phase,
            proposal: None,
            keys: None,
            next_id: 0,
            expect_id: 0,
            last_response: None,
            request: None,
            queue: VecDeque::new(),
            last_heard: now,
            created: now,
            rekey_at: None,
            expire_at: None,
            nat: false,
            children: Vec::new(),
            replaced: false,
            peer_rekey: None,
        }
    }

    fn established(&self) -> bool {
        matches!(self.phase, Phase::Established)
    }

    fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        Header { spi_i: self.spi_i, spi_r: self.spi_r, exchange, initiator: self.initiator, response, message_id }
    }

    fn encode(&self, header: &Header, payloads: &[Payload]) -> Option<Vec<u8>> {
        match &self.keys {
            _ if header.exchange == ExchangeType::IKE_SA_INIT => Some(Message::encode(header, payloads)),
            Some(k) => k.send.seal(header, payloads).ok(),
            None => None,
        }
    }

    fn child_by_in(&mut self, spi: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.in_spi == spi)
    }

    fn udp_encap(&self) -> bool {
        self.nat || (self.local.port() == NAT_T_PORT && self.remote.port() == NAT_T_PORT)
    }
}

/// Where a session's outputs go while it handles one input.
struct Ctx<'a> {
    now: Instant,
    /// Whether the session already has an established IKE SA (for INITIAL_CONTACT).
    others_up: bool,
    config: &'a Config,
    out: &'a mut VecDeque<Transmit>,
    events: &'a mut VecDeque<Event>,
}

impl Ctx<'_> {
    fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    fn fail(&mut self, reason: FailureReason) {
        self.events.push_back(Event::Failed { reason });
    }

    fn send_request(&mut self, sa: &mut IkeSa, exchange: ExchangeType, payloads: &[Payload], sent: Sent) {
        let header = sa.header(exchange, false, sa.next_id);
        let Some(data) = sa.encode(&header, payloads) else {
            self.fail(FailureReason::Protocol("cannot protect request".into()));
            return;
        };
        self.out.push_back(Transmit { local: sa.local, remote: sa.remote, data: data.clone() });
        sa.request = Some(Request {
            id: sa.next_id,
            data,
            sent,
            first_sent: self.now,
            tries: 0,
            next_retx: self.now + self.config.retransmit.timeout(0),
        });
        sa.next_id = sa.next_id.wrapping_add(1);
    }

    fn send_response(&mut self, sa: &mut IkeSa, req: &Header, payloads: &[Payload]) {
        let header = sa.header(req.exchange, true, req.message_id);
        let Some(data) = sa.encode(&header, payloads) else { return };
        self.out.push_back(Transmit { local: sa.local, remote: sa.remote, data: data.clone() });
        sa.last_response = Some((req.message_id, data));
    }

    /// Timer for a rekey: lifetime minus margin minus jitter, margins scaled down for short lifetimes.
    fn rekey_times(&self, lifetime: Option<Duration>) -> (Option<Instant>, Option<Instant>) {
        let Some(life) = lifetime.filter(|l| !l.is_zero()) else { return (None, None) };
        let margin = self.config.rekey_margin.min(life / 3);
        let jitter = self.config.rekey_jitter.min(life / 6);
        let jitter = jitter.mul_f64(f64::from(random_u32()) / f64::from(u32::MAX));
        (Some(self.now + life - margin - jitter), Some(self.now + life))
    }
}

fn random_u32() -> u32 {
    let mut b = [0; 4];
    fill_random(&mut b);
    u32::from_be_bytes(b)
}

fn random_spi() -> u64 {
    let mut b = [0; 8];
    loop {
        fill_random(&mut b);
        let spi = u64::from_be_bytes(b);
        if spi != 0 {
            return spi;
        }
    }
}

fn random_esp_spi() -> u32 {
    loop {
        let spi = random_u32();
        if spi >= 256 {
            return spi; // 1..=255 are reserved by IANA
        }
    }
}

fn nonce() -> Vec<u8> {
    let mut n = vec![0; NONCE_LEN];
    fill_random(&mut n);
    n
}

/// NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23).
fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddrV4) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    h.update(addr.ip().octets());
    h.update(addr.port().to_be_bytes());
    h.finalize().to_vec()
}

fn nat_payloads(spi_i: u64, spi_r: u64, local: SocketAddrV4, remote: SocketAddrV4) -> [Payload; 2] {
    [
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, nat_hash(spi_i, spi_r, local))),
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_DESTINATION_IP, nat_hash(spi_i, spi_r, remote))),
    ]
}

/// Whether the NAT-D notifies of `msg`, received on `local` from `remote`, reveal a NAT.
/// `None` when the peer sent none (no NAT-T support).
fn nat_detected(msg: &Message, local: SocketAddrV4, remote: SocketAddrV4) -> Option<bool> {
    let (i, r) = (msg.header.spi_i, msg.header.spi_r);
    let src: Vec<_> = msg.notifies().filter(|n| n.kind == NotifyType::NAT_DETECTION_SOURCE_IP).collect();
    let dst = msg.notify(NotifyType::NAT_DETECTION_DESTINATION_IP)?;
    let src_ok = src.iter().any(|n| n.data == nat_hash(i, r, remote));
    Some(!src_ok || dst.data != nat_hash(i, r, local))
}

fn auth_data(prf: Prf, psk: &[u8], first_msg: &[u8], nonce: &[u8], sk_p: &[u8], id: &Identity) -> Vec<u8> {
    let key = prf.prf(psk, &[KEY_PAD]);
    let maced_id = prf.prf(sk_p, &[&id.body()]);
    prf.prf(&key, &[first_msg, nonce, &maced_id])
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Derives the (inbound, outbound) keys of a CHILD_SA (RFC 7296 §2.17).
fn child_keys(
    keys: &IkeKeys,
    p: &EspProposal,
    shared: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    we_initiated: bool,
    in_spi: u32,
    out_spi: u32,
) -> (EspKeys, EspKeys) {
    let e_len = p.encr.key_len();
    let a_len = if p.encr.is_aead() { 0 } else { p.integ.map_or(0, |i| i.key_len()) };
    let seed = [shared.unwrap_or_default(), ni, nr].concat();
    let stream = keys.prf.prf_plus(&keys.sk_d, &seed, 2 * (e_len + a_len));
    let mut s = Split(&stream);
    let integ = if p.encr.is_aead() { None } else { p.integ };
    let mut next = |spi| EspKeys {
        spi,
        encr: p.encr,
        enc_key: s.next(e_len).to_vec(),
        integ,
        integ_key: s.next(a_len).to_vec(),
    };
    if we_initiated {
        let out = next(out_spi);
        (next(in_spi), out)
    } else {
        let inb = next(in_spi);
        (inb, next(out_spi))
    }
}

/// Every non-empty overlap of a selector in `a` with one in `b`.
fn intersect_all(a: &[TrafficSelector], b: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for x in a {
        for y in b {
            if let Some(s) = x.intersect(y) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    out
}

fn find<T>(msg: &Message, f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
    msg.payloads.iter().find_map(f)
}

fn sa_of(msg: &Message) -> Option<&Vec<Proposal>> {
    find(msg, |p| if let Payload::Sa(s) = p { Some(s) } else { None })
}

fn ke_of(msg: &Message) -> Option<&KeyExchange> {
    find(msg, |p| if let Payload::Ke(k) = p { Some(k) } else { None })
}

fn nonce_of(msg: &Message) -> Option<&Vec<u8>> {
    find(msg, |p| if let Payload::Nonce(n) = p { Some(n) } else { None })
}

fn ts_of(msg: &Message) -> Option<(&Vec<TrafficSelector>, &Vec<TrafficSelector>)> {
    let tsi = find(msg, |p| if let Payload::TsI(t) = p { Some(t) } else { None })?;
    let tsr = find(msg, |p| if let Payload::TsR(t) = p { Some(t) } else { None })?;
    Some((tsi, tsr))
}

fn error_notify(msg: &Message) -> Option<NotifyType> {
    msg.notifies().map(|n| n.kind).find(|k| k.is_error())
}

/// Picks our first proposal that the peer offers, preferring one whose group matches `ke_group`.
fn choose_ike(ours: &[IkeProposal], theirs: &[Proposal], ke_group: Option<u16>) -> Option<(IkeProposal, u8)> {
    let matches = |pref: bool| {
        ours.iter().filter(move |o| !pref || Some(o.dh.id()) == ke_group).find_map(|o| {
            theirs.iter().find(|t| o.matches(t)).map(|t| (*o, t.number))
        })
    };
    matches(true).or_else(|| matches(false))
}

fn choose_esp(ours: &[EspProposal], theirs: &[Proposal], with_dh: bool) -> Option<(EspProposal, u8, u32)> {
    ours.iter().find_map(|o| {
        theirs.iter().find(|t| o.matches(t, with_dh)).and_then(|t| {
            let spi: [u8; 4] = t.spi.as_slice().try_into().ok()?;
            Some((*o, t.number, u32::from_be_bytes(spi)))
        })
    })
}

/// The lowest of the nonces of one exchange, for collision resolution (RFC 7296 §2.8.1).
fn min_nonce(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

/// One configured peering and every SA negotiated for it.
pub(crate) struct Session {
    config: Config,
    sas: Vec<IkeSa>,
    pub(crate) out: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    /// Whether the tunnel should be kept up (re-initiated after failures).
    wants_up: bool,
    restart_at: Option<Instant>,
    last_traffic: Option<Instant>,
}

/// The inputs of one received message.
struct Received<'a> {
    local: SocketAddrV4,
    remote: SocketAddrV4,
    data: &'a [u8],
    msg: Message,
}

impl Session {
    /// A session with no SA yet.
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            sas: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            wants_up: false,
            restart_at: None,
            last_traffic: None,
        }
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    fn split(&mut self, now: Instant) -> (Ctx<'_>, &mut Vec<IkeSa>) {
        let Session { config, sas, out, events, .. } = self;
        let others_up = sas.iter().any(|sa| sa.established() && !sa.replaced);
        (Ctx { now, others_up, config, out, events }, sas)
    }

    /// IKE SAs held, in any state (for tests).
    #[cfg(test)]
    pub(crate) fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Responder half-open IKE SAs (waiting for IKE_AUTH).
    pub(crate) fn half_open(&self) -> usize {
        self.sas.iter().filter(|sa| matches!(sa.phase, Phase::InitDone { .. })).count()
    }

    /// Whether a message with this header belongs to one of our IKE SAs.
    pub(crate) fn owns(&self, h: &Header) -> bool {
        self.find_sa(h).is_some()
    }

    fn find_sa(&self, h: &Header) -> Option<usize> {
        self.sas.iter().position(|sa| {
            sa.spi_i == h.spi_i
                && sa.initiator != h.initiator
                && (sa.spi_r == h.spi_r || (h.spi_r == 0 && h.exchange == ExchangeType::IKE_SA_INIT))
                || (sa.initiator && !h.initiator && sa.spi_i == h.spi_i && matches!(sa.phase, Phase::InitSent { .. }))
        })
    }

    /// The driver saw ESP from the peer: no liveness check needed for now.
    pub(crate) fn note_inbound_traffic(&mut self, now: Instant) {
        self.last_traffic = Some(now);
    }

    /// Starts negotiating (if no IKE SA is up or being negotiated) and keeps the tunnel up from now on.
    pub(crate) fn initiate(&mut self, now: Instant) {
        self.wants_up = true;
        self.restart_at = None;
        if self.sas.iter().any(|sa| !sa.replaced) {
            return;
        }
        let Some(first) = self.config.ike_proposals.first() else { return };
        let phase = Phase::InitSent { dh: DhPrivate::generate(first.dh), ni: nonce(), cookie: None };
        let mut sa = IkeSa::new(true, random_spi(), 0, self.config.local, self.config.remote, phase, now);
        let (mut ctx, sas) = self.split(now);
        send_init(&mut ctx, &mut sa);
        sas.push(sa);
    }

    /// Deletes every SA (sending Delete for established ones) and stops keeping the tunnel up.
    pub(crate) fn delete(&mut self, now: Instant) {
        self.wants_up = false;
        self.restart_at = None;
        let (mut ctx, sas) = self.split(now);
        for mut sa in sas.drain(..) {
            if sa.established() {
                let header = sa.header(ExchangeType::INFORMATIONAL, false, sa.next_id);
                let delete = [Payload::Delete(Delete { protocol: protocol::IKE, spis: vec![] })];
                if let Some(data) = sa.encode(&header, &delete) {
                    ctx.out.push_back(Transmit { local: sa.local, remote: sa.remote, data });
                }
                teardown(&mut ctx, &mut sa, DeleteReason::Local);
            }
        }
    }

    /// Handles an IKE_SA_INIT request opening a new IKE SA with us as responder.
    pub(crate) fn respond_init(&mut self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4, data: &[u8], msg: Message) {
        let (mut ctx, sas) = self.split(now);
        if let Some(sa) = respond_init(&mut ctx, local, remote, data, &msg) {
            sas.push(sa);
        }
    }

    /// Handles a datagram belonging to one of our IKE SAs.
    pub(crate) fn handle(&mut self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4, data: &[u8]) {
        let Ok(mut msg) = Message::parse(data) else { return };
        let Some(idx) = self.find_sa(&msg.header) else { return };
        let (mut ctx, sas) = self.split(now);
        let Some(sa) = sas.get_mut(idx) else { return };
        if msg.header.exchange != ExchangeType::IKE_SA_INIT {
            let Some(keys) = &sa.keys else { return };
            if keys.recv.open(data, &mut msg).is_err() {
                return; // forged or corrupted: drop silently (RFC 7296 §2.21.1)
            }
        } else if msg.encrypted.is_some() {
            return;
        }
        let rx = Received { local, remote, data, msg };
        let outcome = if rx.msg.header.response {
            on_response(&mut ctx, sa, rx)
        } else {
            on_request(&mut ctx, sa, rx)
        };
        self.apply(now, idx, outcome);
    }

    /// Applies what handling a message or timer decided for SA `idx`.
    fn apply(&mut self, now: Instant, idx: usize, outcome: Outcome) {
        match outcome {
            Outcome::Keep => {}
            Outcome::Remove { restart } => {
                if idx < self.sas.len() {
                    self.sas.remove(idx);
                }
                if restart && self.wants_up && !self.sas.iter().any(|sa| !sa.replaced) {
                    self.restart_at = self.config.reinitiate_after.map(|d| now + d);
                }
            }
            Outcome::Established { initial_contact } => {
                self.wants_up = true;
                self.restart_at = None;
                self.settle_duplicates(now, idx, initial_contact);
            }
            Outcome::NewSa { mut sa, take_children_from } => {
                if let Some(spi) = take_children_from {
                    if let Some(from) = self.sas.iter_mut().find(|s| s.spi_i == spi) {
                        sa.children.append(&mut from.children);
                    }
                }
                let (mut ctx, sas) = self.split(now);
                pump(&mut ctx, &mut sa);
                sas.push(*sa);
            }
        }
    }

    /// After an IKE_AUTH, keeps one IKE SA per peering: INITIAL_CONTACT drops the peer's stale ones
    /// silently; otherwise of two parallel SAs (simultaneous initiation) both sides delete the one with
    /// the lower initiator SPI.
    fn settle_duplicates(&mut self, now: Instant, idx: usize, initial_contact: bool) {
        let Some(new_spi) = self.sas.get(idx).map(|sa| sa.spi_i) else { return };
        let (mut ctx, sas) = self.split(now);
        let others: Vec<u64> = sas
            .iter()
            .filter(|sa| sa.spi_i != new_spi && sa.established() && !sa.replaced)
            .map(|sa| sa.spi_i)
            .collect();
        for spi in others {
            let Some(pos) = sas.iter().position(|sa| sa.spi_i == spi) else { continue };
            if initial_contact {
                let mut old = sas.remove(pos);
                teardown(&mut ctx, &mut old, DeleteReason::Replaced);
                continue;
            }
            let loser_spi = spi.min(new_spi);
            if let Some(loser) = sas.iter_mut().find(|sa| sa.spi_i == loser_spi) {
                queue(&mut ctx, loser, Intent::DeleteIke);
            }
        }
    }

    /// Runs timers: retransmissions, DPD, rekeys, expiries, half-open cleanup, re-initiation.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            self.initiate(now);
        }
        let mut i = 0;
        while i < self.sas.len() {
            let last_traffic = self.last_traffic;
            let (mut ctx, sas) = self.split(now);
            let Some(sa) = sas.get_mut(i) else { break };
            let outcome = sa_timers(&mut ctx, sa, last_traffic);
            let removed = matches!(outcome, Outcome::Remove { .. });
            self.apply(now, i, outcome);
            if !removed {
                i += 1;
            }
        }
    }

    /// The earliest instant at which [`Session::handle_timeout`] has work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.restart_at;
        let mut at = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for sa in &self.sas {
            if let Some(r) = &sa.request {
                at(Some(r.next_retx));
                at(self.config.dpd.map(|d| r.first_sent + d.timeout));
            }
            if matches!(sa.phase, Phase::InitDone { .. }) {
                at(Some(sa.created + HALF_OPEN_TIMEOUT));
            }
            if !sa.established() || sa.replaced {
                continue;
            }
            at(sa.rekey_at);
            at(sa.expire_at);
            if let (Some(d), None) = (self.config.dpd, &sa.request) {
                at(Some(self.last_traffic.map_or(sa.last_heard, |l| l.max(sa.last_heard)) + d.interval));
            }
            for c in &sa.children {
                at(c.rekey_at);
                at(c.expire_at);
            }
        }
        t
    }
}

/// What the session must do with an SA after an input.
enum Outcome {
    Keep,
    Remove { restart: bool },
    Established { initial_contact: bool },
    /// A rekeyed IKE SA; children move to it from the SA with this initiator SPI.
    NewSa { sa: Box<IkeSa>, take_children_from: Option<u64> },
}

/// Emits the deletion of every child and (for established SAs) of the IKE SA.
fn teardown(ctx: &mut Ctx<'_>, sa: &mut IkeSa, reason: DeleteReason) {
    for c in sa.children.drain(..) {
        ctx.event(Event::ChildSaDeleted { in_spi: c.in_spi, out_spi: c.out_spi });
    }
    if sa.established() && !sa.replaced {
        ctx.event(Event::IkeSaDeleted { reason });
    }
}

/// A failure that ends the SA: report it, tear down, and re-initiate if configured.
fn fail_sa(ctx: &mut Ctx<'_>, sa: &mut IkeSa, reason: FailureReason) -> Outcome {
    ctx.fail(reason.clone());
    teardown(ctx, sa, DeleteReason::Failed(reason));
    Outcome::Remove { restart: true }
}

fn send_init(ctx: &mut Ctx<'_>, sa: &mut IkeSa) {
    let Phase::InitSent { dh, ni, cookie } = &sa.phase else { return };
    let mut payloads = Vec::new();
    if let Some(c) = cookie {
        payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
    }
    payloads.push(Payload::Sa(ike_offer(ctx.config, Vec::new())));
    payloads.push(Payload::Ke(KeyExchange { group: dh.group().id(), data: dh.public_value() }));
    payloads.push(Payload::Nonce(ni.clone()));
    if ctx.config.nat_traversal {
        payloads.extend(nat_payloads(sa.spi_i, 0, sa.local, sa.remote));
    }
    sa.next_id = 0;
    ctx.send_request(sa, ExchangeType::IKE_SA_INIT, &payloads, Sent::Init);
}

fn ike_offer(config: &Config, spi: Vec<u8>) -> Vec<Proposal> {
    config.ike_proposals.iter().zip(1u8..).map(|(p, n)| p.to_wire(n, spi.clone())).collect()
}

fn esp_offer(config: &Config, spi: u32, with_dh: bool) -> Vec<Proposal> {
    config.esp_proposals.iter().zip(1u8..).map(|(p, n)| p.to_wire(n, spi, with_dh)).collect()
}

fn local_selectors(config: &Config) -> Vec<TrafficSelector> {
    config.local_ts.iter().map(|p| p.to_selector()).collect()
}

fn remote_selectors(config: &Config) -> Vec<TrafficSelector> {
    config.remote_ts.iter().map(|p| p.to_selector()).collect()
}

fn queue(ctx: &mut Ctx<'_>, sa: &mut IkeSa, intent: Intent) {
    if !sa.queue.contains(&intent) {
        sa.queue.push_back(intent);
    }
    pump(ctx, sa);
}

/// Sends the next queued request if the window is free.
fn pump(ctx: &mut Ctx<'_>, sa: &mut IkeSa) {
    while sa.request.is_none() && sa.established() {
        let Some(intent) = sa.queue.pop_front() else { return };
        match intent {
            Intent::Dpd => ctx.send_request(sa, ExchangeType::INFORMATIONAL, &[], Sent::Dpd),
            Intent::DeleteIke => {
                let d = [Payload::Delete(Delete { protocol: protocol::IKE, spis: vec![] })];
                ctx.send_request(sa, ExchangeType::INFORMATIONAL, &d, Sent::DeleteIke);
            }
            Intent::DeleteChild(spi) => {
                let Some(c) = sa.child_by_in(spi) else { continue };
                c.state = ChildState::Deleting;
                let d = [Payload::Delete(Delete { protocol: protocol::ESP, spis: vec![spi] })];
                ctx.send_request(sa, ExchangeType::INFORMATIONAL, &d, Sent::DeleteChild(spi));
            }
            Intent::RekeyChild(spi) => start_child_rekey(ctx, sa, spi),
            Intent::RekeyIke => start_ike_rekey(ctx, sa),
        }
    }
}

fn respond_init(ctx: &mut Ctx<'_>, local: SocketAddrV4, remote: SocketAddrV4, data: &[u8], msg: &Message) -> Option<IkeSa> {
    let h = msg.header;
    let reply_error = |ctx: &mut Ctx<'_>, n: Notify| {
        let header = Header { spi_r: 0, response: true, initiator: false, ..h };
        ctx.out.push_back(Transmit { local, remote, data: Message::encode(&header, &[Payload::Notify(n)]) });
    };
    let (Some(theirs), Some(ke), Some(ni)) = (sa_of(msg), ke_of(msg), nonce_of(msg)) else {
        reply_error(ctx, Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
        return None;
    };
    let Some((chosen, number)) = choose_ike(&ctx.config.ike_proposals, theirs, Some(ke.group)) else {
        reply_error(ctx, Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, vec![]));
        let ours = describe_all(&ike_offer(ctx.config, Vec::new()));
        ctx.fail(FailureReason::NoProposalChosen { ours, theirs: Some(describe_all(theirs)) });
        return None;
    };
    if chosen.dh.id() != ke.group {
        reply_error(ctx, Notify::new(NotifyType::INVALID_KE_PAYLOAD, chosen.dh.id().to_be_bytes().to_vec()));
        return None;
    }
    let dh = DhPrivate::generate(chosen.dh);
    let Ok(shared) = dh.agree(&ke.data) else {
        reply_error(ctx, Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
        return None;
    };
    let nr = nonce();
    let spi_r = random_spi();
    let keys = derive_ike(&chosen, ni, &nr, &shared, None, h.spi_i, spi_r, false)?;
    let mut payloads = vec![
        Payload::Sa(vec![chosen.to_wire(number, Vec::new())]),
        Payload::Ke(KeyExchange { group: chosen.dh.id(), data: dh.public_value() }),
        Payload::Nonce(nr.clone()),
    ];
    let nat = nat_detected(msg, local, remote).filter(|_| ctx.config.nat_traversal);
    if nat.is_some() {
        payloads.extend(nat_payloads(h.spi_i, spi_r, local, remote));
    }
    let phase = Phase::InitDone { init_req: data.to_vec(), init_resp: Vec::new(), ni: ni.clone(), nr };
    let mut sa = IkeSa::new(false, h.spi_i, spi_r, local, remote, phase, ctx.now);
    sa.proposal = Some(chosen);
    sa.keys = Some(keys);
    sa.nat = nat == Some(true);
    sa.expect_id = 1;
    ctx.send_response(&mut sa, &h, &payloads);
    if let (Phase::InitDone { init_resp, .. }, Some((_, resp))) = (&mut sa.phase, &sa.last_response) {
        init_resp.clone_from(resp);
    }
    Some(sa)
}

/// SKEYSEED and the IKE SA keys: `old_sk_d` for a rekey (RFC 7296 §2.18), else §2.14.
#[allow(clippy::too_many_arguments)]
fn derive_ike(
    p: &IkeProposal,
    ni: &[u8],
    nr: &[u8],
    shared: &[u8],
    old: Option<(Prf, &[u8])>,
    spi_i: u64,
    spi_r: u64,
    we_initiated: bool,
) -> Option<IkeKeys> {
    let skeyseed = match old {
        Some((prf, sk_d)) => prf.prf(sk_d, &[shared, ni, nr]),
        None => p.prf.prf(&[ni, nr].concat(), &[shared]),
    };
    IkeKeys::derive(&IkeKeyInput {
        prf: p.prf,
        encr: p.encr,
        integ: p.integ,
        skeyseed: &skeyseed,
        ni,
        nr,
        spi_i,
        spi_r,
        we_initiated,
    })
    .ok()
}

fn on_response(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: Received<'_>) -> Outcome {
    let Some(req) = sa.request.take_if(|r| r.id == rx.msg.header.message_id) else { return Outcome::Keep };
    sa.last_heard = ctx.now;
    if rx.msg.header.exchange == ExchangeType::IKE_SA_INIT && sa.spi_r == 0 && rx.msg.header.spi_r != 0 {
        sa.spi_r = rx.msg.header.spi_r;
    }
    let outcome = match req.sent {
        Sent::Init => on_init_response(ctx, sa, &rx, req.data),
        Sent::Auth => on_auth_response(ctx, sa, &rx),
        Sent::RekeyChild { old_in, new_in, ni, dh } => on_child_rekey_response(ctx, sa, &rx.msg, old_in, new_in, &ni, dh),
        Sent::RekeyIke { new_spi, ni, dh } => on_ike_rekey_response(ctx, sa, &rx.msg, new_spi, &ni, &dh),
        Sent::DeleteChild(spi) => {
            if let Some(pos) = sa.children.iter().position(|c| c.in_spi == spi) {
                let c = sa.children.remove(pos);
                ctx.event(Event::ChildSaDeleted { in_spi: c.in_spi, out_spi: c.out_spi });
            }
            Outcome::Keep
        }
        Sent::DeleteIke => {
            let reason = if sa.replaced { DeleteReason::Replaced } else { DeleteReason::Local };
            teardown(ctx, sa, reason);
            Outcome::Remove { restart: false }
        }
        Sent::Dpd => Outcome::Keep,
    };
    if matches!(outcome, Outcome::Keep | Outcome::Established { .. } | Outcome::NewSa { .. }) {
        pump(ctx, sa);
    }
    outcome
}

fn on_init_response(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>, init_req: Vec<u8>) -> Outcome {
    let msg = &rx.msg;
    let Phase::InitSent { dh, ni, cookie } = &mut sa.phase else { return Outcome::Keep };
    if let Some(c) = msg.notify(NotifyType::COOKIE) {
        if cookie.as_ref() != Some(&c.data) {
            *cookie = Some(c.data.clone());
            send_init(ctx, sa);
        }
        return Outcome::Keep;
    }
    if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
        let group = n.data.get(..2).and_then(|g| g.try_into().ok()).map_or(0, u16::from_be_bytes);
        let ours = ctx.config.ike_proposals.iter().map(|p| p.dh).find(|g| g.id() == group);
        return match ours {
            Some(g) if g != dh.group() => {
                *dh = DhPrivate::generate(g);
                send_init(ctx, sa);
                Outcome::Keep
            }
            _ => fail_sa(ctx, sa, FailureReason::InvalidKe { group }),
        };
    }
    if msg.notify(NotifyType::NO_PROPOSAL_CHOSEN).is_some() {
        let ours = describe_all(&ike_offer(ctx.config, Vec::new()));
        return fail_sa(ctx, sa, FailureReason::NoProposalChosen { ours, theirs: None });
    }
    if let Some(e) = error_notify(msg) {
        return fail_sa(ctx, sa, FailureReason::Protocol(format!("IKE_SA_INIT answered with notify {}", e.0)));
    }
    let (Some([chosen_wire]), Some(ke), Some(nr)) = (sa_of(msg).map(Vec::as_slice), ke_of(msg), nonce_of(msg)) else {
        return fail_sa(ctx, sa, FailureReason::Protocol("IKE_SA_INIT response lacks SA, KE or Nonce".into()));
    };
    let Some(chosen) = ctx.config.ike_proposals.iter().copied().find(|p| p.matches(chosen_wire) && p.dh == dh.group())
    else {
        return fail_sa(ctx, sa, FailureReason::Protocol("responder chose a proposal we did not offer".into()));
    };
    let Ok(shared) = dh.agree(&ke.data).map_err(|_| ()).and_then(|s| if ke.group == chosen.dh.id() { Ok(s) } else { Err(()) }) else {
        return fail_sa(ctx, sa, FailureReason::Protocol("bad KE payload in IKE_SA_INIT response".into()));
    };
    let ni = std::mem::take(ni);
    let Some(keys) = derive_ike(&chosen, &ni, nr, &shared, None, sa.spi_i, sa.spi_r, true) else {
        return fail_sa(ctx, sa, FailureReason::Protocol("key derivation failed".into()));
    };
    sa.proposal = Some(chosen);
    if ctx.config.nat_traversal && nat_detected(msg, rx.local, rx.remote) == Some(true) {
        sa.nat = true;
        sa.local.set_port(NAT_T_PORT);
        sa.remote.set_port(NAT_T_PORT);
    }
    let in_spi = random_esp_spi();
    let id_body_auth = auth_data(chosen.prf, &ctx.config.psk, &init_req, nr, &keys.sk_pi, &ctx.config.local_id);
    sa.keys = Some(keys);
    let mut payloads = vec![
        Payload::IdI(ctx.config.local_id.clone()),
        Payload::Auth(Auth { method: AUTH_SHARED_KEY, data: id_body_auth }),
    ];
    if !ctx.others_up {
        payloads.push(Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, vec![])));
    }
    payloads.push(Payload::Sa(esp_offer(ctx.config, in_spi, false)));
    payloads.push(Payload::TsI(local_selectors(ctx.config)));
    payloads.push(Payload::TsR(remote_selectors(ctx.config)));
    sa.phase = Phase::AuthSent { init_resp: rx.data.to_vec(), ni, nr: nr.clone(), in_spi };
    ctx.send_request(sa, ExchangeType::IKE_AUTH, &payloads, Sent::Auth);
    Outcome::Keep
}

fn on_auth_response(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>) -> Outcome {
    let msg = &rx.msg;
    if msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
        return fail_sa(ctx, sa, FailureReason::AuthenticationFailed(AuthFailure::Remote { from: rx.remote }));
    }
    let Phase::AuthSent { init_resp, ni, nr, in_spi, .. } = &sa.phase else { return Outcome::Keep };
    let (ni, nr, in_spi) = (ni.clone(), nr.clone(), *in_spi);
    let idr = find(msg, |p| if let Payload::IdR(i) = p { Some(i) } else { None });
    let auth = find(msg, |p| if let Payload::Auth(a) = p { Some(a) } else { None });
    let (Some(idr), Some(auth), Some(keys), Some(prop)) = (idr, auth, &sa.keys, sa.proposal) else {
        let what = error_notify(msg).map_or("no IDr/AUTH".to_owned(), |e| format!("notify {}", e.0));
        return fail_sa(ctx, sa, FailureReason::Protocol(format!("IKE_AUTH response: {what}")));
    };
    if *idr != ctx.config.remote_id {
        let reason = FailureReason::IdMismatch { expected: ctx.config.remote_id.clone(), received: idr.clone() };
        return fail_sa(ctx, sa, reason);
    }
    let expected = auth_data(prop.prf, &ctx.config.psk, init_resp, &ni, &keys.sk_pr, idr);
    if auth.method != AUTH_SHARED_KEY || !constant_time_eq(&expected, &auth.data) {
        return fail_sa(ctx, sa, FailureReason::AuthenticationFailed(AuthFailure::Local));
    }
    establish_ike(ctx, sa, false);
    let child = if msg.notify(NotifyType::NO_PROPOSAL_CHOSEN).is_some() {
        Err(FailureReason::NoProposalChosen { ours: describe_all(&esp_offer(ctx.config, in_spi, false)), theirs: None })
    } else if msg.notify(NotifyType::TS_UNACCEPTABLE).is_some() {
        Err(FailureReason::TsUnacceptable)
    } else {
        accept_child(ctx, sa, msg, in_spi, None, (&ni, &nr), None, false)
    };
    if let Err(reason) = child {
        ctx.fail(reason);
        queue(ctx, sa, Intent::DeleteIke);
    }
    Outcome::Established { initial_contact: false }
}

/// Marks an IKE SA established and arms its lifetime timers.
fn establish_ike(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rekeyed: bool) {
    sa.phase = Phase::Established;
    (sa.rekey_at, sa.expire_at) = ctx.rekey_times(ctx.config.ike_lifetime);
    ctx.event(Event::IkeSaEstablished { spi_i: sa.spi_i, spi_r: sa.spi_r, local: sa.local, remote: sa.remote, rekeyed });
}

/// Initiator side: takes the responder's chosen ESP proposal and selectors into a new child.
#[allow(clippy::too_many_arguments)]
fn accept_child(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    msg: &Message,
    in_spi: u32,
    shared: Option<&[u8]>,
    (ni, nr): (&[u8], &[u8]),
    replaces: Option<(u32, u32)>,
    with_dh: bool,
) -> Result<(), FailureReason> {
    let protocol_err = |s: &str| FailureReason::Protocol(s.into());
    let Some([chosen_wire]) = sa_of(msg).map(Vec::as_slice) else { return Err(protocol_err("no child SA in response")) };
    let Some(chosen) = ctx.config.esp_proposals.iter().copied().find(|p| p.matches(chosen_wire, with_dh)) else {
        return Err(protocol_err("peer chose an ESP proposal we did not offer"));
    };
    let out_spi = chosen_wire.spi.as_slice().try_into().map(u32::from_be_bytes).map_err(|_| protocol_err("bad SPI"))?;
    let (tsi, tsr) = ts_of(msg).ok_or_else(|| protocol_err("no traffic selectors"))?;
    let local_ts = intersect_all(tsi, &local_selectors(ctx.config));
    let remote_ts = intersect_all(tsr, &remote_selectors(ctx.config));
    if local_ts.is_empty() || remote_ts.is_empty() {
        return Err(FailureReason::TsUnacceptable);
    }
    install_child(ctx, sa, chosen, in_spi, out_spi, shared, (ni, nr), true, (local_ts, remote_ts), replaces);
    Ok(())
}

/// Derives a child's keys, stores it and reports it.
#[allow(clippy::too_many_arguments)]
fn install_child(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    proposal: EspProposal,
    in_spi: u32,
    out_spi: u32,
    shared: Option<&[u8]>,
    (ni, nr): (&[u8], &[u8]),
    we_initiated: bool,
    (local_ts, remote_ts): (Vec<TrafficSelector>, Vec<TrafficSelector>),
    replaces: Option<(u32, u32)>,
) {
    let Some(keys) = &sa.keys else { return };
    let (inbound, outbound) = child_keys(keys, &proposal, shared, ni, nr, we_initiated, in_spi, out_spi);
    let (rekey_at, expire_at) = ctx.rekey_times(ctx.config.child_lifetime);
    ctx.event(Event::ChildSaEstablished {
        inbound,
        outbound,
        local_ts: local_ts.clone(),
        remote_ts: remote_ts.clone(),
        local: sa.local,
        remote: sa.remote,
        udp_encap: sa.udp_encap(),
        replaces,
    });
    sa.children.push(Child {
        in_spi,
        out_spi,
        proposal,
        local_ts,
        remote_ts,
        rekey_at,
        expire_at,
        state: ChildState::Installed,
        peer_rekey: None,
    });
}

fn on_request(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: Received<'_>) -> Outcome {
    let h = rx.msg.header;
    if h.message_id.wrapping_add(1) == sa.expect_id {
        if let Some((_, data)) = sa.last_response.as_ref().filter(|(id, _)| *id == h.message_id) {
            ctx.out.push_back(Transmit { local: rx.local, remote: rx.remote, data: data.clone() });
        }
        return Outcome::Keep;
    }
    if h.message_id != sa.expect_id {
        return Outcome::Keep;
    }
    sa.expect_id = sa.expect_id.wrapping_add(1);
    sa.last_heard = ctx.now;
    // Requests are answered where they came from: this follows NAT mappings and the float to 4500.
    sa.local = rx.local;
    sa.remote = rx.remote;
    let outcome = match (h.exchange, &sa.phase) {
        (ExchangeType::IKE_AUTH, Phase::InitDone { .. }) => on_auth_request(ctx, sa, &rx),
        (ExchangeType::INFORMATIONAL, Phase::Established) => on_informational(ctx, sa, &rx),
        (ExchangeType::CREATE_CHILD_SA, Phase::Established) => on_create_child(ctx, sa, &rx.msg),
        _ => {
            ctx.send_response(sa, &h, &[Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, vec![]))]);
            Outcome::Keep
        }
    };
    if matches!(outcome, Outcome::Keep | Outcome::Established { .. }) {
        pump(ctx, sa);
    }
    outcome
}

fn on_auth_request(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>) -> Outcome {
    let msg = &rx.msg;
    let h = msg.header;
    let Phase::InitDone { init_req, init_resp, ni, nr } = &sa.phase else { return Outcome::Keep };
    let (init_req, init_resp, ni, nr) = (init_req.clone(), init_resp.clone(), ni.clone(), nr.clone());
    let idi = find(msg, |p| if let Payload::IdI(i) = p { Some(i) } else { None });
    let auth = find(msg, |p| if let Payload::Auth(a) = p { Some(a) } else { None });
    let (Some(idi), Some(auth), Some(keys), Some(prop)) = (idi, auth, &sa.keys, sa.proposal) else {
        ctx.send_response(sa, &h, &[Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, vec![]))]);
        return fail_sa(ctx, sa, FailureReason::Protocol("IKE_AUTH request lacks IDi or AUTH".into()));
    };
    let auth_failed = [Payload::Notify(Notify::new(NotifyType::AUTHENTICATION_FAILED, vec![]))];
    if *idi != ctx.config.remote_id {
        let reason = FailureReason::IdMismatch { expected: ctx.config.remote_id.clone(), received: idi.clone() };
        ctx.send_response(sa, &h, &auth_failed);
        ctx.fail(reason);
        return Outcome::Remove { restart: false };
    }
    let expected = auth_data(prop.prf, &ctx.config.psk, &init_req, &nr, &keys.sk_pi, idi);
    if auth.method != AUTH_SHARED_KEY || !constant_time_eq(&expected, &auth.data) {
        ctx.send_response(sa, &h, &auth_failed);
        ctx.fail(FailureReason::AuthenticationFailed(AuthFailure::Local));
        return Outcome::Remove { restart: false };
    }
    let our_auth = auth_data(prop.prf, &ctx.config.psk, &init_resp, &ni, &keys.sk_pr, &ctx.config.local_id);
    let mut payloads = vec![
        Payload::IdR(ctx.config.local_id.clone()),
        Payload::Auth(Auth { method: AUTH_SHARED_KEY, data: our_auth }),
    ];
    establish_ike(ctx, sa, false);
    match respond_child(ctx, msg, false) {
        Ok((proposal, number, out_spi, local_ts, remote_ts)) => {
            let in_spi = random_esp_spi();
            payloads.push(Payload::Sa(vec![proposal.to_wire(number, in_spi, false)]));
            payloads.push(Payload::TsI(remote_ts.clone()));
            payloads.push(Payload::TsR(local_ts.clone()));
            ctx.send_response(sa, &h, &payloads);
            install_child(ctx, sa, proposal, in_spi, out_spi, None, (&ni, &nr), false, (local_ts, remote_ts), None);
        }
        Err((notify, reason)) => {
            payloads.push(Payload::Notify(notify));
            ctx.send_response(sa, &h, &payloads);
            ctx.fail(reason);
        }
    }
    Outcome::Established { initial_contact: msg.notify(NotifyType::INITIAL_CONTACT).is_some() }
}

type ChildChoice = (EspProposal, u8, u32, Vec<TrafficSelector>, Vec<TrafficSelector>);

/// Responder side: picks an ESP proposal and narrows the initiator's selectors to ours.
fn respond_child(ctx: &Ctx<'_>, msg: &Message, with_dh: bool) -> Result<ChildChoice, (Notify, FailureReason)> {
    let theirs = sa_of(msg).map_or(&[][..], Vec::as_slice);
    let Some((proposal, number, out_spi)) = choose_esp(&ctx.config.esp_proposals, theirs, with_dh) else {
        let ours = describe_all(&esp_offer(ctx.config, 0, with_dh));
        let reason = FailureReason::NoProposalChosen { ours, theirs: Some(describe_all(theirs)) };
        return Err((Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, vec![]), reason));
    };
    let ts_unacceptable = || (Notify::new(NotifyType::TS_UNACCEPTABLE, vec![]), FailureReason::TsUnacceptable);
    let (tsi, tsr) = ts_of(msg).ok_or_else(ts_unacceptable)?;
    let remote_ts = intersect_all(tsi, &remote_selectors(ctx.config));
    let local_ts = intersect_all(tsr, &local_selectors(ctx.config));
    if remote_ts.is_empty() || local_ts.is_empty() {
        return Err(ts_unacceptable());
    }
    Ok((proposal, number, out_spi, local_ts, remote_ts))
}

fn on_informational(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>) -> Outcome {
    let h = rx.msg.header;
    if rx.msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
        ctx.send_response(sa, &h, &[]);
        return fail_sa(ctx, sa, FailureReason::AuthenticationFailed(AuthFailure::Remote { from: rx.remote }));
    }
    let mut ours = Vec::new();
    for p in &rx.msg.payloads {
        let Payload::Delete(d) = p else { continue };
        if d.protocol == protocol::IKE {
            ctx.send_response(sa, &h, &[]);
            teardown(ctx, sa, DeleteReason::Remote);
            return Outcome::Remove { restart: false };
        }
        for spi in &d.spis {
            let Some(pos) = sa.children.iter().position(|c| c.out_spi == *spi) else { continue };
            let c = sa.children.remove(pos);
            ctx.event(Event::ChildSaDeleted { in_spi: c.in_spi, out_spi: c.out_spi });
            // RFC 7296 §1.4.1: SAs we are deleting ourselves are not named in the response.
            if c.state != ChildState::Deleting {
                ours.push(c.in_spi);
            }
        }
    }
    let payloads: Vec<Payload> = if ours.is_empty() {
        Vec::new()
    } else {
        vec![Payload::Delete(Delete { protocol: protocol::ESP, spis: ours })]
    };
    ctx.send_response(sa, &h, &payloads);
    Outcome::Keep
}

fn on_create_child(ctx: &mut Ctx<'_>, sa: &mut IkeSa, msg: &Message) -> Outcome {
    let h = msg.header;
    let notify = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, kind: NotifyType, data: Vec<u8>| {
        ctx.send_response(sa, &h, &[Payload::Notify(Notify::new(kind, data))]);
        Outcome::Keep
    };
    let (Some(theirs), Some(ni)) = (sa_of(msg), nonce_of(msg)) else {
        return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
    };
    if theirs.iter().any(|p| p.protocol == protocol::IKE) {
        return on_ike_rekey_request(ctx, sa, msg, theirs, ni);
    }
    let Some(rekey) = msg.notify(NotifyType::REKEY_SA) else {
        return notify(ctx, sa, NotifyType::NO_ADDITIONAL_SAS, vec![]);
    };
    let old_out = rekey.spi.as_slice().try_into().map(u32::from_be_bytes).unwrap_or(0);
    let Some(old) = sa
        .children
        .iter()
        .find(|c| c.out_spi == old_out && matches!(c.state, ChildState::Installed | ChildState::Rekeying))
    else {
        return notify(ctx, sa, NotifyType::CHILD_SA_NOT_FOUND, vec![]);
    };
    let (old_in, old_rekeying) = (old.in_spi, old.state == ChildState::Rekeying);
    let (proposal, number, out_spi, local_ts, remote_ts) = match respond_child(ctx, msg, true) {
        Ok(c) => c,
        Err((n, reason)) => {
            ctx.fail(reason);
            return notify(ctx, sa, n.kind, vec![]);
        }
    };
    let (ke_payload, shared) = match proposal.pfs {
        None => (None, None),
        Some(g) => match ke_of(msg).filter(|k| k.group == g.id()) {
            None => return notify(ctx, sa, NotifyType::INVALID_KE_PAYLOAD, g.id().to_be_bytes().to_vec()),
            Some(ke) => {
                let dh = DhPrivate::generate(g);
                let Ok(shared) = dh.agree(&ke.data) else {
                    return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
                };
                (Some(Payload::Ke(KeyExchange { group: g.id(), data: dh.public_value() })), Some(shared))
            }
        },
    };
    let nr = nonce();
    let in_spi = random_esp_spi();
    let mut payloads = vec![Payload::Sa(vec![proposal.to_wire(number, in_spi, true)]), Payload::Nonce(nr.clone())];
    payloads.extend(ke_payload);
    payloads.push(Payload::TsI(remote_ts.clone()));
    payloads.push(Payload::TsR(local_ts.clone()));
    ctx.send_response(sa, &h, &payloads);
    if let Some(old) = sa.child_by_in(old_in) {
        old.rekey_at = None;
        if old_rekeying {
            old.peer_rekey = Some((in_spi, min_nonce(ni, &nr)));
        } else {
            old.state = ChildState::Replaced;
        }
    }
    let replaces = Some((old_in, old_out));
    install_child(ctx, sa, proposal, in_spi, out_spi, shared.as_deref(), (ni, &nr), false, (local_ts, remote_ts), replaces);
    Outcome::Keep
}

fn start_child_rekey(ctx: &mut Ctx<'_>, sa: &mut IkeSa, spi: u32) {
    let Some(c) = sa.child_by_in(spi).filter(|c| c.state == ChildState::Installed) else { return };
    c.state = ChildState::Rekeying;
    c.rekey_at = None;
    let (proposal, local_ts, remote_ts) = (c.proposal, c.local_ts.clone(), c.remote_ts.clone());
    let ni = nonce();
    let new_in = random_esp_spi();
    let dh = proposal.pfs.map(DhPrivate::generate);
    let mut payloads = vec![
        Payload::Notify(Notify { protocol: protocol::ESP, spi: spi.to_be_bytes().to_vec(), kind: NotifyType::REKEY_SA, data: vec![] }),
        Payload::Sa(vec![proposal.to_wire(1, new_in, true)]),
        Payload::Nonce(ni.clone()),
    ];
    if let Some(dh) = &dh {
        payloads.push(Payload::Ke(KeyExchange { group: dh.group().id(), data: dh.public_value() }));
    }
    payloads.push(Payload::TsI(local_ts));
    payloads.push(Payload::TsR(remote_ts));
    ctx.send_request(sa, ExchangeType::CREATE_CHILD_SA, &payloads, Sent::RekeyChild { old_in: spi, new_in, ni, dh });
}

fn on_child_rekey_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    msg: &Message,
    old_in: u32,
    new_in: u32,
    ni: &[u8],
    dh: Option<DhPrivate>,
) -> Outcome {
    let Some(old) = sa.child_by_in(old_in) else { return Outcome::Keep };
    let old_out = old.out_spi;
    let retry = |ctx: &mut Ctx<'_>, sa: &mut IkeSa| {
        if let Some(old) = sa.child_by_in(old_in) {
            old.state = ChildState::Installed;
            old.peer_rekey = None;
            old.rekey_at = Some(ctx.now + REKEY_RETRY);
        }
    };
    if let Some(e) = error_notify(msg) {
        if e == NotifyType::NO_PROPOSAL_CHOSEN {
            let ours = describe_all(&esp_offer(ctx.config, new_in, true));
            ctx.fail(FailureReason::NoProposalChosen { ours, theirs: None });
        }
        retry(ctx, sa);
        return Outcome::Keep;
    }
    let Some(nr) = nonce_of(msg) else {
        retry(ctx, sa);
        return Outcome::Keep;
    };
    let shared = match (&dh, ke_of(msg)) {
        (None, _) => None,
        (Some(dh), Some(ke)) if ke.group == dh.group().id() => dh.agree(&ke.data).ok(),
        _ => None,
    };
    if dh.is_some() && shared.is_none() {
        ctx.fail(FailureReason::Protocol("CHILD_SA rekey response lacks a valid KE".into()));
        retry(ctx, sa);
        return Outcome::Keep;
    }
    if let Err(reason) =
        accept_child(ctx, sa, msg, new_in, shared.as_deref(), (ni, nr), Some((old_in, old_out)), true)
    {
        ctx.fail(reason);
        retry(ctx, sa);
        return Outcome::Keep;
    }
    let Some(old) = sa.child_by_in(old_in) else { return Outcome::Keep };
    old.state = ChildState::Replaced;
    // RFC 7296 §2.8.1: of two simultaneous rekeys, the one with the lowest nonce is redundant and
    // its initiator deletes what it created; the winner's initiator deletes the old child.
    let lost = old.peer_rekey.take().is_some_and(|(_, peer_min)| min_nonce(ni, nr) < peer_min);
    queue(ctx, sa, Intent::DeleteChild(if lost { new_in } else { old_in }));
    Outcome::Keep
}

fn start_ike_rekey(ctx: &mut Ctx<'_>, sa: &mut IkeSa) {
    let Some(p) = sa.proposal.filter(|_| !sa.replaced) else { return };
    let new_spi = random_spi();
    let ni = nonce();
    let dh = DhPrivate::generate(p.dh);
    let payloads = [
        Payload::Sa(vec![p.to_wire(1, new_spi.to_be_bytes().to_vec())]),
        Payload::Nonce(ni.clone()),
        Payload::Ke(KeyExchange { group: p.dh.id(), data: dh.public_value() }),
    ];
    sa.rekey_at = None;
    ctx.send_request(sa, ExchangeType::CREATE_CHILD_SA, &payloads, Sent::RekeyIke { new_spi, ni, dh });
}

fn rekeyed_sa(ctx: &Ctx<'_>, old: &IkeSa, p: IkeProposal, spis: (u64, u64), keys: IkeKeys, initiator: bool) -> IkeSa {
    let mut sa = IkeSa::new(initiator, spis.0, spis.1, old.local, old.remote, Phase::Established, ctx.now);
    sa.proposal = Some(p);
    sa.keys = Some(keys);
    sa.nat = old.nat;
    sa
}

fn on_ike_rekey_request(ctx: &mut Ctx<'_>, sa: &mut IkeSa, msg: &Message, theirs: &[Proposal], ni: &[u8]) -> Outcome {
    let h = msg.header;
    let ours_busy = matches!(sa.request.as_ref().map(|r| &r.sent), Some(Sent::RekeyChild { .. }));
    let notify = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, kind: NotifyType, data: Vec<u8>| {
        ctx.send_response(sa, &h, &[Payload::Notify(Notify::new(kind, data))]);
        Outcome::Keep
    };
    if ours_busy {
        return notify(ctx, sa, NotifyType::TEMPORARY_FAILURE, vec![]);
    }
    let ke = ke_of(msg);
    let Some((chosen, number)) = choose_ike(&ctx.config.ike_proposals, theirs, ke.map(|k| k.group)) else {
        return notify(ctx, sa, NotifyType::NO_PROPOSAL_CHOSEN, vec![]);
    };
    let Some(ke) = ke.filter(|k| k.group == chosen.dh.id()) else {
        return notify(ctx, sa, NotifyType::INVALID_KE_PAYLOAD, chosen.dh.id().to_be_bytes().to_vec());
    };
    let their_spi = theirs
        .iter()
        .find(|p| p.number == number)
        .and_then(|p| p.spi.as_slice().try_into().ok())
        .map(u64::from_be_bytes);
    let dh = DhPrivate::generate(chosen.dh);
    let (Some(spi_i), Ok(shared), Some(old_keys)) = (their_spi, dh.agree(&ke.data), &sa.keys) else {
        return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
    };
    let nr = nonce();
    let spi_r = random_spi();
    let Some(keys) = derive_ike(&chosen, ni, &nr, &shared, Some((old_keys.prf, &old_keys.sk_d)), spi_i, spi_r, false)
    else {
        return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
    };
    let payloads = [
        Payload::Sa(vec![chosen.to_wire(number, spi_r.to_be_bytes().to_vec())]),
        Payload::Nonce(nr.clone()),
        Payload::Ke(KeyExchange { group: chosen.dh.id(), data: dh.public_value() }),
    ];
    ctx.send_response(sa, &h, &payloads);
    let mut new = rekeyed_sa(ctx, sa, chosen, (spi_i, spi_r), keys, false);
    establish_ike(ctx, &mut new, true);
    if matches!(sa.request.as_ref().map(|r| &r.sent), Some(Sent::RekeyIke { .. })) {
        sa.peer_rekey = Some((spi_i, min_nonce(ni, &nr)));
    }
    new.children = std::mem::take(&mut sa.children);
    sa.replaced = true;
    sa.queue.clear();
    Outcome::NewSa { sa: Box::new(new), take_children_from: None }
}

fn on_ike_rekey_response(ctx: &mut Ctx<'_>, sa: &mut IkeSa, msg: &Message, new_spi: u64, ni: &[u8], dh: &DhPrivate) -> Outcome {
    let retry = |ctx: &Ctx<'_>, sa: &mut IkeSa| {
        if !sa.replaced {
            sa.rekey_at = Some(ctx.now + REKEY_RETRY);
        }
        Outcome::Keep
    };
    let (Some([chosen_wire]), Some(ke), Some(nr), Some(old_keys)) =
        (sa_of(msg).map(Vec::as_slice), ke_of(msg), nonce_of(msg), &sa.keys)
    else {
        return retry(ctx, sa);
    };
    let chosen = ctx.config.ike_proposals.iter().copied().find(|p| p.matches(chosen_wire) && p.dh == dh.group());
    let their_spi = chosen_wire.spi.as_slice().try_into().ok().map(u64::from_be_bytes);
    let (Some(chosen), Some(spi_r), Ok(shared)) = (chosen, their_spi, dh.agree(&ke.data)) else {
        return retry(ctx, sa);
    };
    let Some(keys) = derive_ike(&chosen, ni, nr, &shared, Some((old_keys.prf, &old_keys.sk_d)), new_spi, spi_r, true)
    else {
        return retry(ctx, sa);
    };
    let mut new = rekeyed_sa(ctx, sa, chosen, (new_spi, spi_r), keys, true);
    let peer = sa.peer_rekey.take();
    let lost = peer.as_ref().is_some_and(|(_, peer_min)| min_nonce(ni, nr) < *peer_min);
    sa.replaced = true;
    if lost {
        // The peer's rekey won: ours is redundant; the peer deletes the old SA.
        new.replaced = true;
        new.queue.push_back(Intent::DeleteIke);
        return Outcome::NewSa { sa: Box::new(new), take_children_from: None };
    }
    establish_ike(ctx, &mut new, true);
    new.children = std::mem::take(&mut sa.children);
    queue(ctx, sa, Intent::DeleteIke);
    Outcome::NewSa { sa: Box::new(new), take_children_from: peer.map(|(spi, _)| spi) }
}

fn sa_timers(ctx: &mut Ctx<'_>, sa: &mut IkeSa, last_traffic: Option<Instant>) -> Outcome {
    let now = ctx.now;
    if matches!(sa.phase, Phase::InitDone { .. }) && now >= sa.created + HALF_OPEN_TIMEOUT {
        return Outcome::Remove { restart: false };
    }
    let live = sa.established() && !sa.replaced;
    if let Some(r) = &sa.request {
        if live && ctx.config.dpd.is_some_and(|d| now >= r.first_sent + d.timeout) {
            return fail_sa(ctx, sa, FailureReason::DeadPeer);
        }
    }
    if let Some(r) = &mut sa.request {
        if now >= r.next_retx {
            if r.tries >= ctx.config.retransmit.tries {
                if sa.replaced {
                    return Outcome::Remove { restart: false };
                }
                return fail_sa(ctx, sa, FailureReason::PeerNotResponding);
            }
            r.tries += 1;
            r.next_retx = now + ctx.config.retransmit.timeout(r.tries);
            ctx.out.push_back(Transmit { local: sa.local, remote: sa.remote, data: r.data.clone() });
        }
    }
    if !sa.established() || sa.replaced {
        return Outcome::Keep;
    }
    if sa.expire_at.is_some_and(|t| t <= now) {
        let header = sa.header(ExchangeType::INFORMATIONAL, false, sa.next_id);
        if let Some(data) = sa.encode(&header, &[Payload::Delete(Delete { protocol: protocol::IKE, spis: vec![] })]) {
            ctx.out.push_back(Transmit { local: sa.local, remote: sa.remote, data });
        }
        teardown(ctx, sa, DeleteReason::Expired);
        return Outcome::Remove { restart: true };
    }
    if sa.rekey_at.is_some_and(|t| t <= now) {
        sa.rekey_at = None;
        queue(ctx, sa, Intent::RekeyIke);
    }
    let mut intents = Vec::new();
    for c in &mut sa.children {
        if c.expire_at.is_some_and(|t| t <= now) {
            c.expire_at = None;
            intents.push(Intent::DeleteChild(c.in_spi));
        } else if c.rekey_at.is_some_and(|t| t <= now) {
            c.rekey_at = None;
            intents.push(Intent::RekeyChild(c.in_spi));
        }
    }
    for i in intents {
        queue(ctx, sa, i);
    }
    if let Some(d) = ctx.config.dpd {
        let heard = last_traffic.map_or(sa.last_heard, |t| t.max(sa.last_heard));
        if sa.request.is_none() && sa.queue.is_empty() && now >= heard + d.interval {
            queue(ctx, sa, Intent::Dpd);
        }
    }
    Outcome::Keep
}
