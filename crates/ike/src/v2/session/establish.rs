//! IKE_SA_INIT and IKE_AUTH, as initiator and responder, with the first CHILD_SA.

use super::*;

pub(super) fn send_init(ctx: &mut Ctx<'_>, sa: &mut IkeSa) {
    let Phase::InitSent { dh, ni, cookie } = &sa.phase else {
        return;
    };
    let mut payloads = Vec::new();
    if let Some(c) = cookie {
        payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
    }
    payloads.push(Payload::Sa(ike_offer(ctx.config, Vec::new())));
    payloads.push(Payload::Ke(KeyExchange {
        group: dh.group().id(),
        data: dh.public_value(),
    }));
    payloads.push(Payload::Nonce(ni.clone()));
    if ctx.config.nat_traversal {
        payloads.extend(nat_payloads(sa.spi_i, 0, sa.local, sa.remote));
    }
    sa.next_id = 0;
    ctx.send_request(sa, ExchangeType::IKE_SA_INIT, &payloads, Sent::Init);
}

pub(super) fn respond_init(
    ctx: &mut Ctx<'_>,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    data: &[u8],
    msg: &Message,
) -> Option<IkeSa> {
    let h = msg.header;
    let reply_error = |ctx: &mut Ctx<'_>, n: Notify| {
        let header = Header {
            spi_r: 0,
            response: true,
            initiator: false,
            ..h
        };
        ctx.out.push_back(Transmit {
            local,
            remote,
            data: Message::encode(&header, &[Payload::Notify(n)]),
        });
    };
    let (Some(theirs), Some(ke), Some(ni)) = (sa_of(msg), ke_of(msg), nonce_of(msg)) else {
        reply_error(ctx, Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
        return None;
    };
    let Some((chosen, number)) = choose_ike(&ctx.config.ike_proposals, theirs, Some(ke.group))
    else {
        reply_error(ctx, Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, vec![]));
        ctx.fail(no_ike_proposal(ctx.config, Some(theirs)));
        return None;
    };
    if chosen.dh.id() != ke.group {
        reply_error(
            ctx,
            Notify::new(
                NotifyType::INVALID_KE_PAYLOAD,
                chosen.dh.id().to_be_bytes().to_vec(),
            ),
        );
        return None;
    }
    let dh = DhPrivate::generate(chosen.dh);
    let Ok(shared) = dh.agree(&ke.data) else {
        reply_error(ctx, Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
        return None;
    };
    let nr = nonce();
    let spi_r = random_spi();
    let keys = derive_ike(&chosen, (ni, &nr), &shared, None, (h.spi_i, spi_r), false)?;
    let mut payloads = vec![
        Payload::Sa(vec![chosen.to_wire(number, Vec::new())]),
        Payload::Ke(KeyExchange {
            group: chosen.dh.id(),
            data: dh.public_value(),
        }),
        Payload::Nonce(nr.clone()),
    ];
    let nat = nat_detected(msg, local, remote).filter(|_| ctx.config.nat_traversal);
    if nat.is_some() {
        payloads.extend(nat_payloads(h.spi_i, spi_r, local, remote));
    }
    let phase = Phase::InitDone {
        init_req: data.to_vec(),
        init_resp: Vec::new(),
        ni: ni.clone(),
        nr,
    };
    let mut sa = IkeSa::new(false, h.spi_i, spi_r, local, remote, phase, ctx.now);
    sa.proposal = Some(chosen);
    sa.keys = Some(keys);
    sa.nat = nat == Some(true);
    sa.expect_id = 1;
    ctx.send_response(&mut sa, &h, &payloads);
    if let (Phase::InitDone { init_resp, .. }, Some((_, resp))) = (&mut sa.phase, &sa.last_response)
    {
        init_resp.clone_from(resp);
    }
    Some(sa)
}

pub(super) fn on_init_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    rx: &Received<'_>,
    init_req: Vec<u8>,
) -> Outcome {
    let msg = &rx.msg;
    let Phase::InitSent { dh, ni, cookie } = &mut sa.phase else {
        return Outcome::Keep;
    };
    if let Some(c) = msg.notify(NotifyType::COOKIE) {
        // Always answer: the request is consumed, so staying silent would stall the SA.
        *cookie = Some(c.data.clone());
        send_init(ctx, sa);
        return Outcome::Keep;
    }
    if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
        let group = n
            .data
            .get(..2)
            .and_then(|g| g.try_into().ok())
            .map_or(0, u16::from_be_bytes);
        let ours = ctx
            .config
            .ike_proposals
            .iter()
            .map(|p| p.dh)
            .find(|g| g.id() == group);
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
        return fail_sa(ctx, sa, no_ike_proposal(ctx.config, None));
    }
    if let Some(e) = error_notify(msg) {
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol(format!("IKE_SA_INIT answered with notify {}", e.0)),
        );
    }
    let (Some([chosen_wire]), Some(ke), Some(nr)) =
        (sa_of(msg).map(Vec::as_slice), ke_of(msg), nonce_of(msg))
    else {
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol("IKE_SA_INIT response lacks SA, KE or Nonce".into()),
        );
    };
    let Some(chosen) = ctx
        .config
        .ike_proposals
        .iter()
        .copied()
        .find(|p| p.matches(chosen_wire) && p.dh == dh.group())
    else {
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol("responder chose a proposal we did not offer".into()),
        );
    };
    let Ok(shared) = dh.agree(&ke.data).map_err(|_| ()).and_then(|s| {
        if ke.group == chosen.dh.id() {
            Ok(s)
        } else {
            Err(())
        }
    }) else {
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol("bad KE payload in IKE_SA_INIT response".into()),
        );
    };
    let ni = std::mem::take(ni);
    let Some(keys) = derive_ike(
        &chosen,
        (&ni, nr),
        &shared,
        None,
        (sa.spi_i, sa.spi_r),
        true,
    ) else {
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol("key derivation failed".into()),
        );
    };
    sa.proposal = Some(chosen);
    if ctx.config.nat_traversal && nat_detected(msg, rx.local, rx.remote) == Some(true) {
        sa.nat = true;
        sa.local.set_port(NAT_T_PORT);
        sa.remote.set_port(NAT_T_PORT);
    }
    let in_spi = random_esp_spi();
    let id_body_auth = auth_data(
        chosen.prf,
        &ctx.config.psk,
        &init_req,
        nr,
        &keys.sk_pi,
        &ctx.config.local_id,
    );
    sa.keys = Some(keys);
    let mut payloads = vec![
        Payload::IdI(ctx.config.local_id.clone()),
        Payload::Auth(Auth {
            method: AUTH_SHARED_KEY,
            data: id_body_auth,
        }),
    ];
    if !ctx.others_up {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::INITIAL_CONTACT,
            vec![],
        )));
    }
    payloads.push(Payload::Sa(esp_offer(ctx.config, in_spi, false)));
    payloads.push(Payload::TsI(local_selectors(ctx.config)));
    payloads.push(Payload::TsR(remote_selectors(ctx.config)));
    sa.phase = Phase::AuthSent {
        init_resp: rx.data.to_vec(),
        ni,
        nr: nr.clone(),
        in_spi,
    };
    ctx.send_request(sa, ExchangeType::IKE_AUTH, &payloads, Sent::Auth);
    Outcome::Keep
}

pub(super) fn on_auth_response(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>) -> Outcome {
    let msg = &rx.msg;
    if msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
        return fail_sa(
            ctx,
            sa,
            FailureReason::AuthenticationFailed(AuthFailure::Remote { from: rx.remote }),
        );
    }
    let Phase::AuthSent {
        init_resp,
        ni,
        nr,
        in_spi,
        ..
    } = &sa.phase
    else {
        return Outcome::Keep;
    };
    let (ni, nr, in_spi) = (ni.clone(), nr.clone(), *in_spi);
    let idr = first!(msg, Payload::IdR);
    let auth = first!(msg, Payload::Auth);
    let (Some(idr), Some(auth), Some(keys), Some(prop)) = (idr, auth, &sa.keys, sa.proposal) else {
        let what =
            error_notify(msg).map_or("no IDr/AUTH".to_owned(), |e| format!("notify {}", e.0));
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol(format!("IKE_AUTH response: {what}")),
        );
    };
    if *idr != ctx.config.remote_id {
        let reason = FailureReason::IdMismatch {
            expected: ctx.config.remote_id.clone(),
            received: idr.clone(),
        };
        return fail_sa(ctx, sa, reason);
    }
    let expected = auth_data(prop.prf, &ctx.config.psk, init_resp, &ni, &keys.sk_pr, idr);
    if auth.method != AUTH_SHARED_KEY || !constant_time_eq(&expected, &auth.data) {
        return fail_sa(
            ctx,
            sa,
            FailureReason::AuthenticationFailed(AuthFailure::Local),
        );
    }
    establish_ike(ctx, sa, false);
    let child = if msg.notify(NotifyType::NO_PROPOSAL_CHOSEN).is_some() {
        Err(no_esp_proposal(ctx.config, false, None))
    } else if msg.notify(NotifyType::TS_UNACCEPTABLE).is_some() {
        Err(FailureReason::TsUnacceptable)
    } else {
        let k = ChildKeying {
            shared: None,
            ni: &ni,
            nr: &nr,
            we_initiated: true,
        };
        accept_child(ctx, sa, msg, in_spi, &k, None, false)
    };
    if let Err(reason) = child {
        ctx.fail(reason.clone());
        delete_ike(ctx, sa, DeleteReason::Failed(reason));
    }
    Outcome::Established {
        initial_contact: false,
    }
}

/// Marks an IKE SA established and arms its lifetime timers.
pub(super) fn establish_ike(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rekeyed: bool) {
    sa.phase = Phase::Established;
    (sa.rekey_at, sa.expire_at) = ctx.rekey_times(ctx.config.ike_lifetime);
    ctx.event(Event::IkeSaEstablished {
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
        local: sa.local,
        remote: sa.remote,
        rekeyed,
    });
}

/// Initiator side: takes the responder's chosen ESP proposal and selectors into a new child.
pub(super) fn accept_child(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    msg: &Message,
    in_spi: u32,
    k: &ChildKeying<'_>,
    replaces: Option<(u32, u32)>,
    with_dh: bool,
) -> Result<(), FailureReason> {
    let protocol_err = |s: &str| FailureReason::Protocol(s.into());
    let Some([chosen_wire]) = sa_of(msg).map(Vec::as_slice) else {
        return Err(protocol_err("no child SA in response"));
    };
    let Some(chosen) = ctx
        .config
        .esp_proposals
        .iter()
        .copied()
        .find(|p| p.matches(chosen_wire, with_dh))
    else {
        return Err(protocol_err("peer chose an ESP proposal we did not offer"));
    };
    let out_spi = chosen_wire
        .spi
        .as_slice()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| protocol_err("bad SPI"))?;
    let (tsi, tsr) = ts_of(msg).ok_or_else(|| protocol_err("no traffic selectors"))?;
    let local_ts = intersect_all(tsi, &local_selectors(ctx.config));
    let remote_ts = intersect_all(tsr, &remote_selectors(ctx.config));
    if local_ts.is_empty() || remote_ts.is_empty() {
        return Err(FailureReason::TsUnacceptable);
    }
    install_child(
        ctx,
        sa,
        chosen,
        (in_spi, out_spi),
        k,
        (local_ts, remote_ts),
        replaces,
    );
    Ok(())
}

/// Derives a child's keys, stores it and reports it.
pub(super) fn install_child(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    proposal: EspProposal,
    (in_spi, out_spi): (u32, u32),
    k: &ChildKeying<'_>,
    (local_ts, remote_ts): (Vec<TrafficSelector>, Vec<TrafficSelector>),
    replaces: Option<(u32, u32)>,
) {
    let Some(keys) = &sa.keys else { return };
    let (inbound, outbound) = child_keys(keys, &proposal, k, (in_spi, out_spi));
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

pub(super) fn on_auth_request(ctx: &mut Ctx<'_>, sa: &mut IkeSa, rx: &Received<'_>) -> Outcome {
    let msg = &rx.msg;
    let h = msg.header;
    let Phase::InitDone {
        init_req,
        init_resp,
        ni,
        nr,
    } = &sa.phase
    else {
        return Outcome::Keep;
    };
    let (init_req, init_resp, ni, nr) =
        (init_req.clone(), init_resp.clone(), ni.clone(), nr.clone());
    let idi = first!(msg, Payload::IdI);
    let auth = first!(msg, Payload::Auth);
    let (Some(idi), Some(auth), Some(keys), Some(prop)) = (idi, auth, &sa.keys, sa.proposal) else {
        ctx.send_response(
            sa,
            &h,
            &[Payload::Notify(Notify::new(
                NotifyType::INVALID_SYNTAX,
                vec![],
            ))],
        );
        return fail_sa(
            ctx,
            sa,
            FailureReason::Protocol("IKE_AUTH request lacks IDi or AUTH".into()),
        );
    };
    let auth_failed = [Payload::Notify(Notify::new(
        NotifyType::AUTHENTICATION_FAILED,
        vec![],
    ))];
    if *idi != ctx.config.remote_id {
        let reason = FailureReason::IdMismatch {
            expected: ctx.config.remote_id.clone(),
            received: idi.clone(),
        };
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
    let our_auth = auth_data(
        prop.prf,
        &ctx.config.psk,
        &init_resp,
        &ni,
        &keys.sk_pr,
        &ctx.config.local_id,
    );
    let mut payloads = vec![
        Payload::IdR(ctx.config.local_id.clone()),
        Payload::Auth(Auth {
            method: AUTH_SHARED_KEY,
            data: our_auth,
        }),
    ];
    establish_ike(ctx, sa, false);
    match respond_child(ctx, msg, false) {
        Ok((proposal, number, out_spi, local_ts, remote_ts)) => {
            let in_spi = random_esp_spi();
            payloads.push(Payload::Sa(vec![proposal.to_wire(number, in_spi, false)]));
            payloads.push(Payload::TsI(remote_ts.clone()));
            payloads.push(Payload::TsR(local_ts.clone()));
            ctx.send_response(sa, &h, &payloads);
            let k = ChildKeying {
                shared: None,
                ni: &ni,
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
                None,
            );
        }
        Err((notify, reason)) => {
            payloads.push(Payload::Notify(notify));
            ctx.send_response(sa, &h, &payloads);
            ctx.fail(reason);
        }
    }
    Outcome::Established {
        initial_contact: msg.notify(NotifyType::INITIAL_CONTACT).is_some(),
    }
}

pub(super) type ChildChoice = (
    EspProposal,
    u8,
    u32,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
);

/// Responder side: picks an ESP proposal and narrows the initiator's selectors to ours.
pub(super) fn respond_child(
    ctx: &Ctx<'_>,
    msg: &Message,
    with_dh: bool,
) -> Result<ChildChoice, (Notify, FailureReason)> {
    let theirs = sa_of(msg).map_or(&[][..], Vec::as_slice);
    let Some((proposal, number, out_spi)) = choose_esp(&ctx.config.esp_proposals, theirs, with_dh)
    else {
        let reason = no_esp_proposal(ctx.config, with_dh, Some(theirs));
        return Err((Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, vec![]), reason));
    };
    let ts_unacceptable = || {
        (
            Notify::new(NotifyType::TS_UNACCEPTABLE, vec![]),
            FailureReason::TsUnacceptable,
        )
    };
    let (tsi, tsr) = ts_of(msg).ok_or_else(ts_unacceptable)?;
    let remote_ts = intersect_all(tsi, &remote_selectors(ctx.config));
    let local_ts = intersect_all(tsr, &local_selectors(ctx.config));
    if remote_ts.is_empty() || local_ts.is_empty() {
        return Err(ts_unacceptable());
    }
    Ok((proposal, number, out_spi, local_ts, remote_ts))
}
