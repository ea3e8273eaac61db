//! Informational exchanges: notifications (DPD, errors) and deletes.

use super::*;

impl Session {
    /// Sends one protected informational payload under ISAKMP SA `si`.
    pub(super) fn informational(&mut self, si: usize, _now: Instant, p: Payload) {
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

    pub(super) fn handle_info(
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
                        no_phase2_proposal(&self.peering().esp_proposals, None)
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

    pub(super) fn handle_delete(&mut self, now: Instant, d: &Delete) {
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

    /// A notification about a phase 1 we are negotiating: unprotected, or protected with the
    /// keys of messages 5/6 (strongSwan reports a message 5 it cannot decrypt that way).
    pub(super) fn handle_phase1_info(
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
        let reason = chain.notifies().into_iter().find_map(|n| match n.kind {
            notify::NO_PROPOSAL_CHOSEN => {
                Some(no_phase1_proposal(&self.peering().ike_proposals, None))
            }
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
}
