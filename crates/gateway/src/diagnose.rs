//! Turns an IKE failure into a [`Diagnosis`]: a failure code, the tunnel settings (by their API
//! names and values) that do not match the peer, and one line a network engineer can act on.

use strait_ike::v2::{Algorithm, AuthFailure, FailureReason, ProposalField, SaKind};
use strait_model::{Diagnosis, FailureCode, ParamMismatch, Severity, TunnelParam};

use crate::TunnelSpec;

/// Explains `reason`, a failure of the tunnel `spec` at `at_ms` (ms since the epoch) that the
/// gateway logged as `log_line`, in terms of the tunnel's API settings.
pub fn diagnose(
    spec: &TunnelSpec,
    reason: &FailureReason,
    at_ms: i64,
    log_line: &str,
) -> Diagnosis {
    let peer = spec.peer_ip;
    let (code, mismatches, what) = match reason {
        FailureReason::NoProposalChosen { sa, theirs, .. } => {
            let code = match sa {
                SaKind::Ike => FailureCode::IkeNoProposalChosen,
                SaKind::Child => FailureCode::IpsecNoProposalChosen,
            };
            let differing = proposal_mismatches(spec, reason);
            if differing.is_empty() {
                let ours = phase_params(spec, *sa);
                let ours_text = list(&ours, ", ", |m| format!("{} {}", m.param, value(&m.local)));
                let what = match theirs {
                    Some(offers) => format!(
                        "no proposal chosen: the peer ({peer}) offered {} against our {ours_text}",
                        offers
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!(
                        "no proposal chosen: the peer ({peer}) accepted none of our proposal \
                         ({ours_text})"
                    ),
                };
                return finish(code, ours, what, reason, at_ms, log_line);
            }
            let what = format!(
                "no proposal chosen: {}",
                list(&differing, "; ", |m| format!(
                    "our {} {}, the peer offered {}",
                    m.param,
                    value(&m.local),
                    value(&m.remote)
                ))
            );
            (code, differing, what)
        }
        FailureReason::InvalidKe { group } => (
            FailureCode::DhGroupMismatch,
            vec![mismatch(
                TunnelParam::IkePfs,
                Some(spec.ike.ike_pfs.as_str().to_owned()),
                Some(format!("group{group}")),
            )],
            format!(
                "DH group mismatch: our IkePfs {}, the peer ({peer}) requires group{group}",
                spec.ike.ike_pfs
            ),
        ),
        FailureReason::AuthenticationFailed(how) => (
            FailureCode::PskMismatch,
            vec![mismatch(TunnelParam::Psk, None, None)],
            match how {
                AuthFailure::Local => format!(
                    "pre-shared key mismatch (the AUTH of {peer} does not verify with our Psk)"
                ),
                AuthFailure::Remote { from } => format!(
                    "pre-shared key mismatch (AUTHENTICATION_FAILED from {})",
                    from.ip()
                ),
            },
        ),
        FailureReason::IdMismatch { expected, received } => (
            FailureCode::IdMismatch,
            vec![mismatch(
                TunnelParam::RemoteId,
                Some(expected.to_string()),
                Some(received.to_string()),
            )],
            format!(
                "identity mismatch: our RemoteId {expected}, the peer identified itself as {received}"
            ),
        ),
        FailureReason::TsUnacceptable => {
            let local = nets(&spec.local_subnet);
            let remote = nets(&spec.remote_subnet);
            let what = format!(
                "traffic selectors mismatch: our LocalSubnet {local} and RemoteSubnet {remote} \
                 do not match the peer's protected networks"
            );
            let params = vec![
                mismatch(TunnelParam::LocalSubnet, Some(local), None),
                mismatch(TunnelParam::RemoteSubnet, Some(remote), None),
            ];
            (FailureCode::TrafficSelectorsMismatch, params, what)
        }
        FailureReason::PeerNotResponding => (
            FailureCode::PeerNotResponding,
            Vec::new(),
            format!(
                "peer not responding: no answer from {peer} on UDP 500/4500 \
                 (check reachability and that the peer has this tunnel configured)"
            ),
        ),
        FailureReason::DeadPeer => (
            FailureCode::DeadPeer,
            Vec::new(),
            format!("dead peer: {peer} stopped answering dead peer detection"),
        ),
        FailureReason::Protocol(detail) => (
            FailureCode::ProtocolError,
            Vec::new(),
            format!("protocol error with {peer}: {detail}"),
        ),
    };
    finish(code, mismatches, what, reason, at_ms, log_line)
}

/// `next`, unless it only repeats `previous`'s proposal failure without the peer's values that
/// `previous` knew (we initiate and get NO_PROPOSAL_CHOSEN after having seen the peer's offer as
/// responder): then `previous`, with `next`'s time. Settings changed since then start afresh.
pub fn refine(previous: Option<&Diagnosis>, next: Diagnosis) -> Diagnosis {
    let peer_unknown = next.mismatches.iter().all(|m| m.remote.is_none());
    let known = |p: &Diagnosis| p.mismatches.iter().any(|m| m.remote.is_some());
    let same_settings = |p: &Diagnosis| {
        p.mismatches.iter().all(|m| {
            next.mismatches
                .iter()
                .any(|n| n.param == m.param && n.local == m.local)
        })
    };
    match previous {
        Some(p) if p.code == next.code && peer_unknown && known(p) && same_settings(p) => {
            Diagnosis {
                failed_time: next.failed_time,
                ..p.clone()
            }
        }
        _ => next,
    }
}

fn finish(
    code: FailureCode,
    mismatches: Vec<ParamMismatch>,
    what: String,
    reason: &FailureReason,
    at_ms: i64,
    log_line: &str,
) -> Diagnosis {
    let summary = match reason.sa_kind() {
        Some(sa) => format!("phase {} failed: {what}", sa.phase()),
        None => what,
    };
    let severity = match code {
        FailureCode::ProtocolError => Severity::Warn,
        _ => Severity::Critical,
    };
    Diagnosis {
        code,
        mismatches,
        severity,
        failed_time: at_ms,
        summary,
        source_log: log_line.to_owned(),
    }
}

fn mismatch(param: TunnelParam, local: Option<String>, remote: Option<String>) -> ParamMismatch {
    ParamMismatch {
        param,
        local,
        remote,
    }
}

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("?")
}

fn list(ms: &[ParamMismatch], sep: &str, f: impl Fn(&ParamMismatch) -> String) -> String {
    ms.iter().map(f).collect::<Vec<_>>().join(sep)
}

fn nets(nets: &[ipnet::Ipv4Net]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The setting a transform type of a phase comes from, and our value of it.
fn setting(spec: &TunnelSpec, sa: SaKind, field: ProposalField) -> (TunnelParam, &'static str) {
    match (sa, field) {
        (SaKind::Ike, ProposalField::Encryption) => {
            (TunnelParam::IkeEncAlg, spec.ike.ike_enc_alg.as_str())
        }
        (SaKind::Ike, ProposalField::Integrity | ProposalField::Prf) => {
            (TunnelParam::IkeAuthAlg, spec.ike.ike_auth_alg.as_str())
        }
        (SaKind::Ike, ProposalField::DhGroup) => (TunnelParam::IkePfs, spec.ike.ike_pfs.as_str()),
        (SaKind::Child, ProposalField::Encryption) => {
            (TunnelParam::IpsecEncAlg, spec.ipsec.ipsec_enc_alg.as_str())
        }
        (SaKind::Child, ProposalField::Integrity | ProposalField::Prf) => (
            TunnelParam::IpsecAuthAlg,
            spec.ipsec.ipsec_auth_alg.as_str(),
        ),
        (SaKind::Child, ProposalField::DhGroup) => {
            (TunnelParam::IpsecPfs, spec.ipsec.ipsec_pfs.as_str())
        }
    }
}

/// Every proposal setting of a phase with our value: the candidates when the peer's offer is unknown.
fn phase_params(spec: &TunnelSpec, sa: SaKind) -> Vec<ParamMismatch> {
    [
        ProposalField::Encryption,
        ProposalField::Integrity,
        ProposalField::DhGroup,
    ]
    .into_iter()
    .map(|field| {
        let (param, ours) = setting(spec, sa, field);
        mismatch(param, Some(ours.to_owned()), None)
    })
    .collect()
}

/// The settings on which the peer's closest proposal differs, with the peer's alternatives in the
/// API's spelling where it has one (`group14`, `sha1`; AES-128 stays `aes128`).
fn proposal_mismatches(spec: &TunnelSpec, reason: &FailureReason) -> Vec<ParamMismatch> {
    let Some(sa) = reason.sa_kind() else {
        return Vec::new();
    };
    let mut out: Vec<(TunnelParam, &'static str, Vec<String>)> = Vec::new();
    for m in reason.mismatches() {
        let (param, ours) = setting(spec, sa, m.field);
        let theirs = m.theirs.iter().map(|a| peer_value(a, param));
        match out.iter_mut().find(|(p, _, _)| *p == param) {
            Some((_, _, seen)) => {
                for v in theirs {
                    if !seen.contains(&v) {
                        seen.push(v);
                    }
                }
            }
            None => out.push((param, ours, theirs.collect())),
        }
    }
    out.into_iter()
        .map(|(param, ours, theirs)| {
            let remote = (!theirs.is_empty()).then(|| theirs.join("/"));
            mismatch(param, Some(ours.to_owned()), remote)
        })
        .collect()
}

fn peer_value(a: &Algorithm, param: TunnelParam) -> String {
    match a {
        Algorithm::Dh(g) => format!("group{}", g.id()),
        Algorithm::None(ProposalField::DhGroup) if param == TunnelParam::IpsecPfs => {
            "disabled".to_owned()
        }
        Algorithm::Prf(_) => a.to_string().trim_start_matches("prf").to_owned(),
        _ => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Timing, parse_subnets};
    use std::net::{Ipv4Addr, SocketAddrV4};
    use strait_crypto::{DhGroup as Group, Encr, Integ, Prf};
    use strait_ike::v2::{EspProposal, Identity, IkeProposal, Offer};
    use strait_model::{
        AuthAlg, DhGroup, EncAlg, IkeConfig, IkeMode, IkeVersion, IpsecConfig, Pfs,
    };

    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn spec() -> TunnelSpec {
        TunnelSpec {
            id: "tun-1".into(),
            connection: "vco-1".into(),
            standby_of: None,
            local_ip: Ipv4Addr::new(203, 0, 113, 1),
            peer_ip: PEER,
            ike: IkeConfig {
                psk: "secret-key".into(),
                ike_version: IkeVersion::V2,
                ike_mode: IkeMode::Main,
                ike_enc_alg: EncAlg::Aes256,
                ike_auth_alg: AuthAlg::Sha1,
                ike_pfs: DhGroup::Group2,
                ike_lifetime: 86400,
                local_id: String::new(),
                remote_id: String::new(),
            },
            ipsec: IpsecConfig {
                ipsec_pfs: Pfs::Group14,
                ..IpsecConfig::default()
            },
            local_subnet: parse_subnets("LocalSubnet", "10.0.1.0/24").unwrap(),
            remote_subnet: parse_subnets("RemoteSubnet", "192.168.10.0/24,192.168.20.0/24")
                .unwrap(),
            routes: vec![],
            enable_dpd: true,
            enable_nat_traversal: true,
            effect_immediately: true,
            timing: Timing::default(),
            bgp: None,
            health: None,
            forward_inbound: true,
        }
    }

    fn ike(encr: Encr, integ: Integ, prf: Prf, dh: Group) -> Offer {
        Offer::from_ike(&IkeProposal {
            encr,
            integ: Some(integ),
            prf,
            dh,
        })
    }

    /// Our phase 1 proposal as the gateway configures it from `spec()`.
    fn ours() -> Offer {
        ike(
            Encr::AesCbc256,
            Integ::HmacSha1_96,
            Prf::HmacSha1,
            Group::Modp1024,
        )
    }

    fn run(reason: FailureReason) -> Diagnosis {
        diagnose(
            &spec(),
            &reason,
            1_700_000_000_123,
            "negotiation failed: ...",
        )
    }

    #[test]
    fn phase1_proposal_mismatch_as_responder_names_the_setting_and_both_values() {
        let d = run(FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            ours: vec![ours()],
            theirs: Some(vec![ike(
                Encr::AesCbc128,
                Integ::HmacSha1_96,
                Prf::HmacSha1,
                Group::Modp1024,
            )]),
        });
        assert_eq!(d.code, FailureCode::IkeNoProposalChosen);
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(d.mismatch_local(), "IkeEncAlg=aes256");
        assert_eq!(d.mismatch_remote(), "IkeEncAlg=aes128");
        assert_eq!(
            d.summary,
            "phase 1 failed: no proposal chosen: our IkeEncAlg aes256, the peer offered aes128"
        );
        assert_eq!(
            (d.failed_time, d.source_log.as_str()),
            (1_700_000_000_123, "negotiation failed: ...")
        );
    }

    #[test]
    fn integrity_and_prf_differences_are_one_auth_setting_and_groups_use_api_names() {
        let d = run(FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            ours: vec![ours()],
            theirs: Some(vec![ike(
                Encr::AesCbc256,
                Integ::HmacSha256_128,
                Prf::HmacSha256,
                Group::Modp2048,
            )]),
        });
        assert_eq!(d.mismatch_local(), "IkeAuthAlg=sha1, IkePfs=group2");
        assert_eq!(d.mismatch_remote(), "IkeAuthAlg=sha256, IkePfs=group14");
    }

    #[test]
    fn phase2_pfs_mismatch_names_ipsec_pfs() {
        let esp = |pfs| {
            Offer::from_esp(
                &EspProposal {
                    encr: Encr::AesCbc128,
                    integ: Some(Integ::HmacSha1_96),
                    pfs,
                },
                true,
            )
        };
        let d = run(FailureReason::NoProposalChosen {
            sa: SaKind::Child,
            ours: vec![esp(Some(Group::Modp2048))],
            theirs: Some(vec![esp(None)]),
        });
        assert_eq!(d.code, FailureCode::IpsecNoProposalChosen);
        assert_eq!(d.mismatch_local(), "IpsecPfs=group14");
        assert_eq!(d.mismatch_remote(), "IpsecPfs=disabled");
        assert!(
            d.summary.starts_with("phase 2 failed: no proposal chosen"),
            "{}",
            d.summary
        );
    }

    #[test]
    fn refused_proposal_as_initiator_lists_every_phase_setting_as_a_candidate() {
        let d = run(FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            ours: vec![ours()],
            theirs: None,
        });
        assert_eq!(d.code, FailureCode::IkeNoProposalChosen);
        assert_eq!(
            d.mismatch_local(),
            "IkeEncAlg=aes256, IkeAuthAlg=sha1, IkePfs=group2"
        );
        assert_eq!(d.mismatch_remote(), "");
        assert_eq!(
            d.summary,
            "phase 1 failed: no proposal chosen: the peer (192.0.2.2) accepted none of our \
             proposal (IkeEncAlg aes256, IkeAuthAlg sha1, IkePfs group2)"
        );
    }

    #[test]
    fn a_refused_offer_that_differs_in_nothing_we_model_is_shown_whole() {
        // E.g. the peer insists on extended sequence numbers: no setting of ours explains it.
        let d = run(FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            ours: vec![ours()],
            theirs: Some(vec![ours()]),
        });
        assert_eq!(d.mismatch_remote(), "");
        assert!(
            d.summary
                .contains("offered aes256-sha1-prfsha1-modp1024 against our IkeEncAlg aes256"),
            "{}",
            d.summary
        );
    }

    #[test]
    fn refine_keeps_the_peer_values_learnt_as_responder() {
        let responder = run(FailureReason::NoProposalChosen {
            sa: SaKind::Ike,
            ours: vec![ours()],
            theirs: Some(vec![ike(
                Encr::AesCbc128,
                Integ::HmacSha1_96,
                Prf::HmacSha1,
                Group::Modp1024,
            )]),
        });
        let initiator = diagnose(
            &spec(),
            &FailureReason::NoProposalChosen {
                sa: SaKind::Ike,
                ours: vec![ours()],
                theirs: None,
            },
            1_700_000_009_000,
            "later",
        );
        let kept = refine(Some(&responder), initiator.clone());
        assert_eq!(kept.mismatch_remote(), "IkeEncAlg=aes128");
        assert_eq!(kept.failed_time, 1_700_000_009_000);
        assert_eq!(refine(None, initiator.clone()), initiator);
        // Once our setting changed, the old peer values no longer explain the failure.
        let mut changed = spec();
        changed.ike.ike_enc_alg = EncAlg::Aes192;
        let after_change = diagnose(
            &changed,
            &FailureReason::NoProposalChosen {
                sa: SaKind::Ike,
                ours: vec![ours()],
                theirs: None,
            },
            1,
            "x",
        );
        assert_eq!(refine(Some(&responder), after_change.clone()), after_change);
        // A different failure replaces it.
        let psk = run(FailureReason::AuthenticationFailed(AuthFailure::Local));
        assert_eq!(refine(Some(&responder), psk.clone()), psk);
    }

    #[test]
    fn dh_group_demand_is_a_dh_group_mismatch() {
        let d = run(FailureReason::InvalidKe { group: 14 });
        assert_eq!(d.code, FailureCode::DhGroupMismatch);
        assert_eq!(
            (d.mismatch_local(), d.mismatch_remote()),
            ("IkePfs=group2".into(), "IkePfs=group14".into())
        );
        assert!(
            d.summary.starts_with("phase 1 failed: DH group mismatch"),
            "{}",
            d.summary
        );
    }

    #[test]
    fn authentication_failures_are_psk_mismatches_and_never_show_the_key() {
        let remote = run(FailureReason::AuthenticationFailed(AuthFailure::Remote {
            from: SocketAddrV4::new(PEER, 500),
        }));
        assert_eq!(remote.code, FailureCode::PskMismatch);
        assert_eq!(
            remote.summary,
            "phase 1 failed: pre-shared key mismatch (AUTHENTICATION_FAILED from 192.0.2.2)"
        );
        let local = run(FailureReason::AuthenticationFailed(AuthFailure::Local));
        assert!(
            local.summary.contains("pre-shared key mismatch"),
            "{}",
            local.summary
        );
        for d in [&remote, &local] {
            assert_eq!(d.mismatch_local(), "Psk");
            let all = format!("{d:?}");
            assert!(!all.contains("secret-key"), "{all}");
        }
    }

    #[test]
    fn identity_mismatch_names_remote_id_and_what_the_peer_sent() {
        let d = run(FailureReason::IdMismatch {
            expected: Identity::Ipv4(PEER),
            received: Identity::Fqdn("cpe.example.com".into()),
        });
        assert_eq!(d.code, FailureCode::IdMismatch);
        assert_eq!(d.mismatch_local(), "RemoteId=192.0.2.2");
        assert_eq!(d.mismatch_remote(), "RemoteId=cpe.example.com");
        assert!(d.summary.starts_with("phase 1 failed: identity mismatch"));
    }

    #[test]
    fn traffic_selector_mismatch_names_both_subnets() {
        let d = run(FailureReason::TsUnacceptable);
        assert_eq!(d.code, FailureCode::TrafficSelectorsMismatch);
        assert_eq!(
            d.mismatch_local(),
            "LocalSubnet=10.0.1.0/24, RemoteSubnet=192.168.10.0/24,192.168.20.0/24"
        );
        assert!(
            d.summary
                .starts_with("phase 2 failed: traffic selectors mismatch")
        );
    }

    #[test]
    fn silence_and_protocol_errors_name_the_peer() {
        let silent = run(FailureReason::PeerNotResponding);
        assert_eq!(silent.code, FailureCode::PeerNotResponding);
        assert!(
            silent
                .summary
                .starts_with("peer not responding: no answer from 192.0.2.2")
        );
        assert!(silent.mismatches.is_empty());
        let dead = run(FailureReason::DeadPeer);
        assert_eq!(
            (dead.code, dead.severity),
            (FailureCode::DeadPeer, Severity::Critical)
        );
        assert!(dead.summary.contains("192.0.2.2"));
        let odd = run(FailureReason::Protocol("bad KE payload".into()));
        assert_eq!(
            (odd.code, odd.severity),
            (FailureCode::ProtocolError, Severity::Warn)
        );
        assert_eq!(odd.summary, "protocol error with 192.0.2.2: bad KE payload");
    }
}
