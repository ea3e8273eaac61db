//! One configured peering: its IKE SAs, their CHILD_SAs and every exchange between them.

mod establish;
mod rekey;
mod util;

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use strait_crypto::{DhPrivate, Prf, fill_random};

use super::config::{Config, EspProposal, IkeProposal};
use super::event::{AuthFailure, DeleteReason, EspKeys, Event, FailureReason, Transmit};
use super::message::{
    AUTH_SHARED_KEY, Auth, Delete, ExchangeType, Header, Identity, KeyExchange, Message, Notify,
    NotifyType, Payload, Proposal, TrafficSelector, first, protocol,
};
use super::offer::{Offer, SaKind};
use super::sk::{IkeKeyInput, IkeKeys, Split};

use establish::*;
use rekey::*;
use util::*;

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
    RekeyChild {
        old_in: u32,
        new_in: u32,
        ni: Vec<u8>,
        dh: Option<DhPrivate>,
    },
    RekeyIke {
        new_spi: u64,
        ni: Vec<u8>,
        dh: DhPrivate,
    },
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
    InitSent {
        dh: DhPrivate,
        ni: Vec<u8>,
        cookie: Option<Vec<u8>>,
    },
    AuthSent {
        init_resp: Vec<u8>,
        ni: Vec<u8>,
        nr: Vec<u8>,
        in_spi: u32,
    },
    InitDone {
        init_req: Vec<u8>,
        init_resp: Vec<u8>,
        ni: Vec<u8>,
        nr: Vec<u8>,
    },
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
    /// Why we are deleting this SA, reported once the peer confirms.
    delete_reason: Option<DeleteReason>,
}

impl IkeSa {
    fn new(
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        phase: Phase,
        now: Instant,
    ) -> Self {
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
            delete_reason: None,
        }
    }

    fn established(&self) -> bool {
        matches!(self.phase, Phase::Established)
    }

    fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            exchange,
            initiator: self.initiator,
            response,
            message_id,
        }
    }

    fn encode(&self, header: &Header, payloads: &[Payload]) -> Option<Vec<u8>> {
        match &self.keys {
            _ if header.exchange == ExchangeType::IKE_SA_INIT => {
                Some(Message::encode(header, payloads))
            }
            Some(k) => k.send.seal(header, payloads).ok(),
            None => None,
        }
    }

    fn child_by_in(&mut self, spi: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.in_spi == spi)
    }

    /// When we last heard from the peer: an IKE message, or ESP the driver reported.
    fn heard(&self, last_traffic: Option<Instant>) -> Instant {
        last_traffic.map_or(self.last_heard, |t| t.max(self.last_heard))
    }

    /// With DPD on and a request unanswered: when the peer counts as dead, `timeout` after we
    /// last heard from it (but not before the request had one retransmission interval).
    fn dead_at(&self, config: &Config, last_traffic: Option<Instant>) -> Option<Instant> {
        let (d, r) = (config.dpd?, self.request.as_ref()?);
        if !self.established() || self.replaced {
            return None;
        }
        let first_retx = r.first_sent + config.retransmit.timeout(0);
        Some((self.heard(last_traffic) + d.timeout).max(first_retx))
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

    fn send_request(
        &mut self,
        sa: &mut IkeSa,
        exchange: ExchangeType,
        payloads: &[Payload],
        sent: Sent,
    ) {
        let header = sa.header(exchange, false, sa.next_id);
        let Some(data) = sa.encode(&header, payloads) else {
            self.fail(FailureReason::Protocol("cannot protect request".into()));
            return;
        };
        self.out.push_back(Transmit {
            local: sa.local,
            remote: sa.remote,
            data: data.clone(),
        });
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
        let Some(data) = sa.encode(&header, payloads) else {
            return;
        };
        self.out.push_back(Transmit {
            local: sa.local,
            remote: sa.remote,
            data: data.clone(),
        });
        sa.last_response = Some((req.message_id, data));
    }

    /// Timer for a rekey: lifetime minus margin minus jitter, margins scaled down for short lifetimes.
    fn rekey_times(&self, lifetime: Option<Duration>) -> (Option<Instant>, Option<Instant>) {
        let Some(life) = lifetime.filter(|l| !l.is_zero()) else {
            return (None, None);
        };
        let margin = self.config.rekey_margin.min(life / 3);
        let jitter = self.config.rekey_jitter.min(life / 6);
        let jitter = jitter.mul_f64(f64::from(random_u32()) / f64::from(u32::MAX));
        (
            Some(self.now + life - margin - jitter),
            Some(self.now + life),
        )
    }
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
        let Session {
            config,
            sas,
            out,
            events,
            ..
        } = self;
        let others_up = sas.iter().any(|sa| sa.established() && !sa.replaced);
        (
            Ctx {
                now,
                others_up,
                config,
                out,
                events,
            },
            sas,
        )
    }

    /// IKE SAs held, in any state (for tests).
    #[cfg(test)]
    pub(crate) fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Responder half-open IKE SAs (waiting for IKE_AUTH).
    pub(crate) fn half_open(&self) -> usize {
        self.sas
            .iter()
            .filter(|sa| matches!(sa.phase, Phase::InitDone { .. }))
            .count()
    }

    /// Whether a message with this header belongs to one of our IKE SAs.
    pub(crate) fn owns(&self, h: &Header) -> bool {
        self.find_sa(h).is_some()
    }

    fn find_sa(&self, h: &Header) -> Option<usize> {
        self.sas.iter().position(|sa| {
            sa.spi_i == h.spi_i
                && sa.initiator != h.initiator
                && (sa.spi_r == h.spi_r
                    || (h.spi_r == 0 && h.exchange == ExchangeType::IKE_SA_INIT))
                || (sa.initiator
                    && !h.initiator
                    && sa.spi_i == h.spi_i
                    && matches!(sa.phase, Phase::InitSent { .. }))
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
        let Some(first) = self.config.ike_proposals.first() else {
            return;
        };
        let phase = Phase::InitSent {
            dh: DhPrivate::generate(first.dh),
            ni: nonce(),
            cookie: None,
        };
        let mut sa = IkeSa::new(
            true,
            random_spi(),
            0,
            self.config.local,
            self.config.remote,
            phase,
            now,
        );
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
                let delete = [Payload::Delete(Delete {
                    protocol: protocol::IKE,
                    spis: vec![],
                })];
                if let Some(data) = sa.encode(&header, &delete) {
                    ctx.out.push_back(Transmit {
                        local: sa.local,
                        remote: sa.remote,
                        data,
                    });
                }
                teardown(&mut ctx, &mut sa, DeleteReason::Local);
            }
        }
    }

    /// Handles an IKE_SA_INIT request opening a new IKE SA with us as responder.
    pub(crate) fn respond_init(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
        msg: Message,
    ) {
        let (mut ctx, sas) = self.split(now);
        if let Some(sa) = respond_init(&mut ctx, local, remote, data, &msg) {
            sas.push(sa);
        }
    }

    /// Handles a datagram belonging to one of our IKE SAs.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) {
        let Ok(mut msg) = Message::parse(data) else {
            return;
        };
        let Some(idx) = self.find_sa(&msg.header) else {
            return;
        };
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
        let rx = Received {
            local,
            remote,
            data,
            msg,
        };
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
            Outcome::NewSa {
                mut sa,
                take_children_from,
            } => {
                if let Some(spi) = take_children_from {
                    // We won an IKE rekey collision: the peer's SA is redundant and the peer
                    // deletes it; its going is no tunnel event.
                    if let Some(from) = self.sas.iter_mut().find(|s| s.spi_i == spi) {
                        sa.children.append(&mut from.children);
                        sa.queue.append(&mut from.queue);
                        from.replaced = true;
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
        let Some(new_spi) = self.sas.get(idx).map(|sa| sa.spi_i) else {
            return;
        };
        let (mut ctx, sas) = self.split(now);
        let others: Vec<u64> = sas
            .iter()
            .filter(|sa| sa.spi_i != new_spi && sa.established() && !sa.replaced)
            .map(|sa| sa.spi_i)
            .collect();
        for spi in others {
            let Some(pos) = sas.iter().position(|sa| sa.spi_i == spi) else {
                continue;
            };
            if initial_contact {
                let mut old = sas.remove(pos);
                teardown(&mut ctx, &mut old, DeleteReason::Replaced);
                continue;
            }
            let loser_spi = spi.min(new_spi);
            if let Some(loser) = sas.iter_mut().find(|sa| sa.spi_i == loser_spi) {
                // Both sides reach the same verdict, so neither reports the duplicate's end as
                // the tunnel going down; its child pair is still removed.
                loser.replaced = true;
                delete_ike(&mut ctx, loser, DeleteReason::Replaced);
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
                at(sa.dead_at(&self.config, self.last_traffic));
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
                at(Some(sa.heard(self.last_traffic) + d.interval));
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
    Remove {
        restart: bool,
    },
    Established {
        initial_contact: bool,
    },
    /// A rekeyed IKE SA; children move to it from the SA with this initiator SPI.
    NewSa {
        sa: Box<IkeSa>,
        take_children_from: Option<u64>,
    },
}

/// Emits the deletion of every child and (for established SAs) of the IKE SA.
fn teardown(ctx: &mut Ctx<'_>, sa: &mut IkeSa, reason: DeleteReason) {
    for c in sa.children.drain(..) {
        ctx.event(Event::ChildSaDeleted {
            in_spi: c.in_spi,
            out_spi: c.out_spi,
        });
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

/// Starts an orderly INFORMATIONAL Delete of the IKE SA; `reason` is reported when it completes.
fn delete_ike(ctx: &mut Ctx<'_>, sa: &mut IkeSa, reason: DeleteReason) {
    sa.delete_reason = Some(reason);
    queue(ctx, sa, Intent::DeleteIke);
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
        let Some(intent) = sa.queue.pop_front() else {
            return;
        };
        match intent {
            Intent::Dpd => ctx.send_request(sa, ExchangeType::INFORMATIONAL, &[], Sent::Dpd),
            Intent::DeleteIke => {
                let d = [Payload::Delete(Delete {
                    protocol: protocol::IKE,
                    spis: vec![],
                })];
                ctx.send_request(sa, ExchangeType::INFORMATIONAL, &d, Sent::DeleteIke);
            }
            Intent::DeleteChild(spi) => {
                let Some(c) = sa.child_by_in(spi) else {
                    continue;
                };
                c.state = ChildState::Deleting;
                let d = [Payload::Delete(Delete {
                    protocol: protocol::ESP,
                    spis: vec![spi],
                })];
                ctx.send_request(sa, ExchangeType::INFORMATIONAL, &d, Sent::DeleteChild(spi));
            }
            Intent::RekeyChild(spi) => start_child_rekey(ctx, sa, spi),
            Intent::RekeyIke => start_ike_rekey(ctx, sa),
        }
    }
}

fn on_response(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: Received<'_>) -> Outcome {
    let Some(req) = sa.request.take_if(|r| r.id == rx.msg.header.message_id) else {
        return Outcome::Keep;
    };
    sa.last_heard = ctx.now;
    if rx.msg.header.exchange == ExchangeType::IKE_SA_INIT
        && sa.spi_r == 0
        && rx.msg.header.spi_r != 0
    {
        sa.spi_r = rx.msg.header.spi_r;
    }
    let outcome = match req.sent {
        Sent::Init => on_init_response(ctx, sa, &rx, req.data),
        Sent::Auth => on_auth_response(ctx, sa, &rx),
        Sent::RekeyChild {
            old_in,
            new_in,
            ni,
            dh,
        } => on_child_rekey_response(ctx, sa, &rx.msg, old_in, new_in, &ni, dh),
        Sent::RekeyIke { new_spi, ni, dh } => {
            on_ike_rekey_response(ctx, sa, &rx.msg, new_spi, &ni, &dh)
        }
        Sent::DeleteChild(spi) => {
            if let Some(pos) = sa.children.iter().position(|c| c.in_spi == spi) {
                let c = sa.children.remove(pos);
                ctx.event(Event::ChildSaDeleted {
                    in_spi: c.in_spi,
                    out_spi: c.out_spi,
                });
            }
            Outcome::Keep
        }
        Sent::DeleteIke => {
            let reason = match sa.delete_reason.take() {
                _ if sa.replaced => DeleteReason::Replaced,
                Some(r) => r,
                None => DeleteReason::Local,
            };
            let restart = matches!(reason, DeleteReason::Failed(_));
            teardown(ctx, sa, reason);
            Outcome::Remove { restart }
        }
        Sent::Dpd => Outcome::Keep,
    };
    if matches!(
        outcome,
        Outcome::Keep | Outcome::Established { .. } | Outcome::NewSa { .. }
    ) {
        pump(ctx, sa);
    }
    outcome
}

fn on_request(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: Received<'_>) -> Outcome {
    let h = rx.msg.header;
    if h.message_id.wrapping_add(1) == sa.expect_id {
        if let Some((_, data)) = sa
            .last_response
            .as_ref()
            .filter(|(id, _)| *id == h.message_id)
        {
            ctx.out.push_back(Transmit {
                local: rx.local,
                remote: rx.remote,
                data: data.clone(),
            });
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
            ctx.send_response(
                sa,
                &h,
                &[Payload::Notify(Notify::new(
                    NotifyType::INVALID_SYNTAX,
                    vec![],
                ))],
            );
            Outcome::Keep
        }
    };
    if matches!(outcome, Outcome::Keep | Outcome::Established { .. }) {
        pump(ctx, sa);
    }
    outcome
}

fn on_informational(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>) -> Outcome {
    let h = rx.msg.header;
    if rx.msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
        ctx.send_response(sa, &h, &[]);
        return fail_sa(
            ctx,
            sa,
            FailureReason::AuthenticationFailed(AuthFailure::Remote { from: rx.remote }),
        );
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
            let Some(pos) = sa.children.iter().position(|c| c.out_spi == *spi) else {
                continue;
            };
            let c = sa.children.remove(pos);
            ctx.event(Event::ChildSaDeleted {
                in_spi: c.in_spi,
                out_spi: c.out_spi,
            });
            // RFC 7296 §1.4.1: SAs we are deleting ourselves are not named in the response.
            if c.state != ChildState::Deleting {
                ours.push(c.in_spi);
            }
        }
    }
    // The peer closed our only child outside a rekey: an IKE SA without it carries nothing,
    // so it goes too and the driver sees the tunnel down.
    let closed_by_peer = !ours.is_empty() && sa.children.is_empty();
    let payloads: Vec<Payload> = if ours.is_empty() {
        Vec::new()
    } else {
        vec![Payload::Delete(Delete {
            protocol: protocol::ESP,
            spis: ours,
        })]
    };
    ctx.send_response(sa, &h, &payloads);
    if closed_by_peer {
        delete_ike(ctx, sa, DeleteReason::Remote);
    }
    Outcome::Keep
}

fn sa_timers(ctx: &mut Ctx<'_>, sa: &mut IkeSa, last_traffic: Option<Instant>) -> Outcome {
    let now = ctx.now;
    if matches!(sa.phase, Phase::InitDone { .. }) && now >= sa.created + HALF_OPEN_TIMEOUT {
        return Outcome::Remove { restart: false };
    }
    if sa
        .dead_at(ctx.config, last_traffic)
        .is_some_and(|t| now >= t)
    {
        return fail_sa(ctx, sa, FailureReason::DeadPeer);
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
            ctx.out.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                data: r.data.clone(),
            });
        }
    }
    if !sa.established() || sa.replaced {
        return Outcome::Keep;
    }
    if sa.expire_at.is_some_and(|t| t <= now) {
        let header = sa.header(ExchangeType::INFORMATIONAL, false, sa.next_id);
        if let Some(data) = sa.encode(
            &header,
            &[Payload::Delete(Delete {
                protocol: protocol::IKE,
                spis: vec![],
            })],
        ) {
            ctx.out.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                data,
            });
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
        let heard = sa.heard(last_traffic);
        if sa.request.is_none() && sa.queue.is_empty() && now >= heard + d.interval {
            queue(ctx, sa, Intent::Dpd);
        }
    }
    Outcome::Keep
}
