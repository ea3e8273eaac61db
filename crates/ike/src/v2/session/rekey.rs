//! CREATE_CHILD_SA: CHILD_SA and IKE SA rekeys, including collisions (RFC 7296 §2.8).

use super::*;

pub(super) fn on_create_child(ctx: &mut Ctx<'_>, sa: &mut IkeSa, msg: &Message) -> Outcome {
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
    let old_out = rekey
        .spi
        .as_slice()
        .try_into()
        .map(u32::from_be_bytes)
        .unwrap_or(0);
    let Some(old) = sa.children.iter().find(|c| {
        c.out_spi == old_out && matches!(c.state, ChildState::Installed | ChildState::Rekeying)
    }) else {
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
            None => {
                return notify(
                    ctx,
                    sa,
                    NotifyType::INVALID_KE_PAYLOAD,
                    g.id().to_be_bytes().to_vec(),
                );
            }
            Some(ke) => {
                let dh = DhPrivate::generate(g);
                let Ok(shared) = dh.agree(&ke.data) else {
                    return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
                };
                (
                    Some(Payload::Ke(KeyExchange {
                        group: g.id(),
                        data: dh.public_value(),
                    })),
                    Some(shared),
                )
            }
        },
    };
    let nr = nonce();
    let in_spi = random_esp_spi();
    let mut payloads = vec![
        Payload::Sa(vec![proposal.to_wire(number, in_spi, true)]),
        Payload::Nonce(nr.clone()),
    ];
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
    let k = ChildKeying {
        shared: shared.as_deref(),
        ni,
        nr: &nr,
        we_initiated: false,
    };
    install_child(
        ctx,
        sa,
        proposal,
        (in_spi, out_spi),
        &k,
        (local_ts, remote_ts),
        replaces,
    );
    Outcome::Keep
}

pub(super) fn start_child_rekey(ctx: &mut Ctx<'_>, sa: &mut IkeSa, spi: u32) {
    let Some(c) = sa
        .child_by_in(spi)
        .filter(|c| c.state == ChildState::Installed)
    else {
        return;
    };
    c.state = ChildState::Rekeying;
    c.rekey_at = None;
    let (proposal, local_ts, remote_ts) = (c.proposal, c.local_ts.clone(), c.remote_ts.clone());
    let ni = nonce();
    let new_in = random_esp_spi();
    let dh = proposal.pfs.map(DhPrivate::generate);
    let mut payloads = vec![
        Payload::Notify(Notify {
            protocol: protocol::ESP,
            spi: spi.to_be_bytes().to_vec(),
            kind: NotifyType::REKEY_SA,
            data: vec![],
        }),
        Payload::Sa(vec![proposal.to_wire(1, new_in, true)]),
        Payload::Nonce(ni.clone()),
    ];
    if let Some(dh) = &dh {
        payloads.push(Payload::Ke(KeyExchange {
            group: dh.group().id(),
            data: dh.public_value(),
        }));
    }
    payloads.push(Payload::TsI(local_ts));
    payloads.push(Payload::TsR(remote_ts));
    ctx.send_request(
        sa,
        ExchangeType::CREATE_CHILD_SA,
        &payloads,
        Sent::RekeyChild {
            old_in: spi,
            new_in,
            ni,
            dh,
        },
    );
}

pub(super) fn on_child_rekey_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    msg: &Message,
    old_in: u32,
    new_in: u32,
    ni: &[u8],
    dh: Option<DhPrivate>,
) -> Outcome {
    let Some(old) = sa.child_by_in(old_in) else {
        return Outcome::Keep;
    };
    let old_out = old.out_spi;
    let retry = |ctx: &mut Ctx<'_>, sa: &mut IkeSa| {
        if let Some(old) = sa.child_by_in(old_in) {
            old.state = ChildState::Installed;
            old.peer_rekey = None;
            old.rekey_at = Some(ctx.now + REKEY_RETRY);
        }
    };
    if let Some(e) = error_notify(msg) {
        // Only a temporary refusal is worth retrying; otherwise the child runs to its hard
        // expiry, or goes at once if the peer no longer has it (RFC 7296 §2.25).
        let reason = match e {
            NotifyType::TEMPORARY_FAILURE => {
                retry(ctx, sa);
                return Outcome::Keep;
            }
            NotifyType::CHILD_SA_NOT_FOUND => {
                // The peer lost the child. We carry one child per IKE SA, so start over: the
                // IKE SA goes too and the session re-initiates.
                if let Some(pos) = sa.children.iter().position(|c| c.in_spi == old_in) {
                    let c = sa.children.remove(pos);
                    ctx.event(Event::ChildSaDeleted {
                        in_spi: c.in_spi,
                        out_spi: c.out_spi,
                    });
                }
                let reason = FailureReason::Protocol("peer no longer has the CHILD_SA".into());
                ctx.fail(reason.clone());
                delete_ike(ctx, sa, DeleteReason::Failed(reason));
                return Outcome::Keep;
            }
            NotifyType::NO_PROPOSAL_CHOSEN => no_esp_proposal(ctx.config, true, None),
            NotifyType::TS_UNACCEPTABLE => FailureReason::TsUnacceptable,
            other => {
                FailureReason::Protocol(format!("CHILD_SA rekey refused with notify {}", other.0))
            }
        };
        ctx.fail(reason);
        if let Some(old) = sa.child_by_in(old_in) {
            old.state = ChildState::Installed;
            old.peer_rekey = None;
        }
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
        ctx.fail(FailureReason::Protocol(
            "CHILD_SA rekey response lacks a valid KE".into(),
        ));
        retry(ctx, sa);
        return Outcome::Keep;
    }
    if let Err(reason) = accept_child(
        ctx,
        sa,
        msg,
        new_in,
        &ChildKeying {
            shared: shared.as_deref(),
            ni,
            nr,
            we_initiated: true,
        },
        Some((old_in, old_out)),
        true,
    ) {
        ctx.fail(reason);
        retry(ctx, sa);
        return Outcome::Keep;
    }
    let Some(old) = sa.child_by_in(old_in) else {
        return Outcome::Keep;
    };
    old.state = ChildState::Replaced;
    // RFC 7296 §2.8.1: of two simultaneous rekeys, the one with the lowest nonce is redundant and
    // its initiator deletes what it created; the winner's initiator deletes the old child.
    let lost = old
        .peer_rekey
        .take()
        .is_some_and(|(_, peer_min)| min_nonce(ni, nr) < peer_min);
    queue(
        ctx,
        sa,
        Intent::DeleteChild(if lost { new_in } else { old_in }),
    );
    Outcome::Keep
}

pub(super) fn start_ike_rekey(ctx: &mut Ctx<'_>, sa: &mut IkeSa) {
    let Some(p) = sa.proposal.filter(|_| !sa.replaced) else {
        return;
    };
    let new_spi = random_spi();
    let ni = nonce();
    let dh = DhPrivate::generate(p.dh);
    let payloads = [
        Payload::Sa(vec![p.to_wire(1, new_spi.to_be_bytes().to_vec())]),
        Payload::Nonce(ni.clone()),
        Payload::Ke(KeyExchange {
            group: p.dh.id(),
            data: dh.public_value(),
        }),
    ];
    sa.rekey_at = None;
    ctx.send_request(
        sa,
        ExchangeType::CREATE_CHILD_SA,
        &payloads,
        Sent::RekeyIke { new_spi, ni, dh },
    );
}

pub(super) fn rekeyed_sa(
    ctx: &Ctx<'_>,
    old: &IkeSa,
    p: IkeProposal,
    spis: (u64, u64),
    keys: IkeKeys,
    initiator: bool,
) -> IkeSa {
    let mut sa = IkeSa::new(
        initiator,
        spis.0,
        spis.1,
        old.local,
        old.remote,
        Phase::Established,
        ctx.now,
    );
    sa.proposal = Some(p);
    sa.keys = Some(keys);
    sa.nat = old.nat;
    sa
}

pub(super) fn on_ike_rekey_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    msg: &Message,
    theirs: &[Proposal],
    ni: &[u8],
) -> Outcome {
    let h = msg.header;
    let ours_busy = matches!(
        sa.request.as_ref().map(|r| &r.sent),
        Some(Sent::RekeyChild { .. })
    );
    let notify = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, kind: NotifyType, data: Vec<u8>| {
        ctx.send_response(sa, &h, &[Payload::Notify(Notify::new(kind, data))]);
        Outcome::Keep
    };
    if ours_busy {
        return notify(ctx, sa, NotifyType::TEMPORARY_FAILURE, vec![]);
    }
    let ke = ke_of(msg);
    let Some((chosen, number)) = choose_ike(&ctx.config.ike_proposals, theirs, ke.map(|k| k.group))
    else {
        return notify(ctx, sa, NotifyType::NO_PROPOSAL_CHOSEN, vec![]);
    };
    let Some(ke) = ke.filter(|k| k.group == chosen.dh.id()) else {
        return notify(
            ctx,
            sa,
            NotifyType::INVALID_KE_PAYLOAD,
            chosen.dh.id().to_be_bytes().to_vec(),
        );
    };
    let their_spi = theirs
        .iter()
        .find(|p| p.number == number)
        .and_then(|p| p.spi.as_slice().try_into().ok())
        .map(u64::from_be_bytes);
    let dh = DhPrivate::generate(chosen.dh);
    let (Some(spi_i), Ok(shared), Some(old_keys)) = (their_spi, dh.agree(&ke.data), &sa.keys)
    else {
        return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
    };
    let nr = nonce();
    let spi_r = random_spi();
    let Some(keys) = derive_ike(
        &chosen,
        (ni, &nr),
        &shared,
        Some((old_keys.prf, &old_keys.sk_d)),
        (spi_i, spi_r),
        false,
    ) else {
        return notify(ctx, sa, NotifyType::INVALID_SYNTAX, vec![]);
    };
    let payloads = [
        Payload::Sa(vec![chosen.to_wire(number, spi_r.to_be_bytes().to_vec())]),
        Payload::Nonce(nr.clone()),
        Payload::Ke(KeyExchange {
            group: chosen.dh.id(),
            data: dh.public_value(),
        }),
    ];
    ctx.send_response(sa, &h, &payloads);
    let mut new = rekeyed_sa(ctx, sa, chosen, (spi_i, spi_r), keys, false);
    establish_ike(ctx, &mut new, true);
    if matches!(
        sa.request.as_ref().map(|r| &r.sent),
        Some(Sent::RekeyIke { .. })
    ) {
        sa.peer_rekey = Some((spi_i, min_nonce(ni, &nr)));
    }
    new.children = std::mem::take(&mut sa.children);
    new.queue = std::mem::take(&mut sa.queue);
    sa.replaced = true;
    Outcome::NewSa {
        sa: Box::new(new),
        take_children_from: None,
    }
}

pub(super) fn on_ike_rekey_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    msg: &Message,
    new_spi: u64,
    ni: &[u8],
    dh: &DhPrivate,
) -> Outcome {
    let retry = |ctx: &Ctx<'_>, sa: &mut IkeSa| {
        if !sa.replaced {
            sa.rekey_at = Some(ctx.now + REKEY_RETRY);
        }
        Outcome::Keep
    };
    match error_notify(msg) {
        None | Some(NotifyType::TEMPORARY_FAILURE) => {}
        // A lasting refusal: report it; the IKE SA runs to its hard lifetime and is then renewed.
        Some(e) => {
            let reason = if e == NotifyType::NO_PROPOSAL_CHOSEN {
                no_ike_proposal(ctx.config, None)
            } else {
                FailureReason::Protocol(format!("IKE SA rekey refused with notify {}", e.0))
            };
            ctx.fail(reason);
            return Outcome::Keep;
        }
    }
    let (Some([chosen_wire]), Some(ke), Some(nr), Some(old_keys)) = (
        sa_of(msg).map(Vec::as_slice),
        ke_of(msg),
        nonce_of(msg),
        &sa.keys,
    ) else {
        return retry(ctx, sa);
    };
    let chosen = ctx
        .config
        .ike_proposals
        .iter()
        .copied()
        .find(|p| p.matches(chosen_wire) && p.dh == dh.group());
    let their_spi = chosen_wire
        .spi
        .as_slice()
        .try_into()
        .ok()
        .map(u64::from_be_bytes);
    let (Some(chosen), Some(spi_r), Ok(shared)) = (chosen, their_spi, dh.agree(&ke.data)) else {
        return retry(ctx, sa);
    };
    let Some(keys) = derive_ike(
        &chosen,
        (ni, nr),
        &shared,
        Some((old_keys.prf, &old_keys.sk_d)),
        (new_spi, spi_r),
        true,
    ) else {
        return retry(ctx, sa);
    };
    let mut new = rekeyed_sa(ctx, sa, chosen, (new_spi, spi_r), keys, true);
    let peer = sa.peer_rekey.take();
    let lost = peer
        .as_ref()
        .is_some_and(|(_, peer_min)| min_nonce(ni, nr) < *peer_min);
    sa.replaced = true;
    if lost {
        // The peer's rekey won: ours is redundant; the peer deletes the old SA.
        new.replaced = true;
        new.queue.push_back(Intent::DeleteIke);
        return Outcome::NewSa {
            sa: Box::new(new),
            take_children_from: None,
        };
    }
    establish_ike(ctx, &mut new, true);
    new.children = std::mem::take(&mut sa.children);
    // Requests about children follow them; the old SA only has its deletion left.
    new.queue = std::mem::take(&mut sa.queue);
    queue(ctx, sa, Intent::DeleteIke);
    Outcome::NewSa {
        sa: Box::new(new),
        take_children_from: peer.map(|(spi, _)| spi),
    }
}
