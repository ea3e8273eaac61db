//! Quick mode (3 messages) with optional PFS, one subnet pair, and the IPsec SAs it installs.

use super::*;

impl Session {
    pub(super) fn selectors(&self) -> (crate::v2::Ipv4Prefix, crate::v2::Ipv4Prefix) {
        let p = self.peering();
        let any = crate::v2::Ipv4Prefix::any();
        (
            p.local_ts.first().copied().unwrap_or(any),
            p.remote_ts.first().copied().unwrap_or(any),
        )
    }

    pub(super) fn start_quick(&mut self, now: Instant, replaces: Option<(u32, u32)>) {
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

    pub(super) fn handle_quick(&mut self, now: Instant, h: &Header, first: u8, data: &[u8]) {
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
    pub(super) fn quick_failed(
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
    pub(super) fn quick_respond(
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
                .filter(|x| x.protocol == proto::ESP)
                .flat_map(|x| x.transforms.clone())
                .collect();
            return Err(Reject::Fail(
                no_phase2_proposal(&p.esp_proposals, Some(&theirs)),
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
    pub(super) fn quick_step(&mut self, si: usize, q: &mut Quick, first: u8, data: &[u8]) -> Step {
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

    pub(super) fn install_child(&mut self, now: Instant, si: usize, q: &Quick) {
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
    pub(super) fn delete_child(&mut self, now: Instant, in_spi: u32, notify: bool) {
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
}
