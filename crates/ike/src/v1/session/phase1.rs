//! Phase 1: main mode (6 messages) and aggressive mode (3) with pre-shared keys, NAT-D and the float to 4500.

use super::*;

impl Session {
    pub(super) fn offer(&self) -> Vec<u8> {
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

    pub(super) fn vendor_ids(&self) -> Vec<Payload> {
        let mut v = vec![Payload::new(payload::VENDOR_ID, VID_DPD.to_vec())];
        if self.peering().nat_traversal {
            v.push(Payload::new(payload::VENDOR_ID, VID_NAT_T.to_vec()));
        }
        v
    }

    pub(super) fn new_isakmp(
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

    pub(super) fn start_phase1(&mut self, now: Instant) {
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

    pub(super) fn handle_phase1(
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

    pub(super) fn fail_phase1(
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
    pub(super) fn phase1_step(
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
                let hash_i = sa.hash_i(&id)?;
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
                let hash_i = sa.hash_i(&id_i)?;
                check_hash(&chain, &hash_i)?;
                (sa.local, sa.remote) = (local, remote);
                let id = Id::identity(&self.peering().local_id).encode();
                let hash_r = sa.hash_r(&id)?;
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
                let hash_r = sa.hash_r(&id_r)?;
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
                let hash_r = sa.hash_r(&id_r)?;
                check_hash(&chain, &hash_r)?;
                let id = Id::identity(&self.peering().local_id).encode();
                let hash_i = sa.hash_i(&id)?;
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
                let hash_i = sa.hash_i(&id_i)?;
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

    pub(super) fn respond_first(
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
        let hash_r = sa.hash_r(&id)?;
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
    pub(super) fn choose_phase1(&self, sa: &mut Isakmp, chain: &Chain) -> Result<Proposal, Reject> {
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
            .filter(|p| p.protocol == proto::ISAKMP)
            .flat_map(|p| p.transforms.clone())
            .collect();
        Err(Reject::Fail(
            no_phase1_proposal(ours, Some(&theirs)),
            Some(notify::NO_PROPOSAL_CHOSEN),
        ))
    }

    /// Initiator: the responder's choice must be one we offered.
    pub(super) fn accept_choice(&self, sa: &mut Isakmp, chain: &Chain) -> Step {
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
    pub(super) fn take_ke(&self, sa: &mut Isakmp, chain: &Chain) -> Step {
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
    pub(super) fn check_id(&self, chain: &Chain) -> Result<Vec<u8>, Reject> {
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

    pub(super) fn nat_d_payloads(&self, sa: &Isakmp) -> Vec<Payload> {
        match sa.choice {
            Some(c) if sa.peer_natt && self.peering().nat_traversal => vec![
                Payload::new(payload::NAT_D, sa.nat_d(c.prf, sa.remote)),
                Payload::new(payload::NAT_D, sa.nat_d(c.prf, sa.local)),
            ],
            _ => Vec::new(),
        }
    }

    pub(super) fn initial_contact(&self, sa: &Isakmp) -> Option<Payload> {
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
    pub(super) fn honour_initial_contact(&mut self, chain: &Chain, started: Instant) {
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

    pub(super) fn send_plain(
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

    pub(super) fn send_sealed(
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
    pub(super) fn record(
        &mut self,
        now: Instant,
        flight: &mut Flight,
        t: Transmit,
        expect_reply: bool,
    ) {
        flight.retx = expect_reply.then(|| (self.retx_at(now, 0), 0));
        flight.tx = Some(t.clone());
        self.send(t);
    }

    pub(super) fn established(&mut self, now: Instant, si: usize) {
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

    pub(super) fn send_isakmp_delete(&mut self, si: usize, now: Instant) {
        let Some(cookies) = self.sas.get(si).map(Isakmp::cookies) else {
            return;
        };
        let d = Delete {
            protocol: proto::ISAKMP,
            spis: vec![cookies],
        };
        self.informational(si, now, Payload::new(payload::DELETE, d.encode()));
    }
}
