//! Mapping the shared proposal configuration onto IKEv1 transforms and attributes.

use std::time::Duration;

use strait_crypto::{DhGroup, Encr, Integ, Prf};

use super::message::{Attr, Transform};
use crate::v2::{Algorithm, EspProposal, FailureReason, IkeProposal, Offer, ProposalField, SaKind};

const KEY_IKE: u8 = 1;
const AUTH_PSK: u16 = 1;
const LIFE_SECONDS: u16 = 1;

/// Phase 1 attribute classes (RFC 2409 Appendix A).
mod p1 {
    pub const ENCR: u16 = 1;
    pub const HASH: u16 = 2;
    pub const AUTH: u16 = 3;
    pub const GROUP: u16 = 4;
    pub const LIFE_TYPE: u16 = 11;
    pub const LIFE_DURATION: u16 = 12;
    pub const KEY_LEN: u16 = 14;
}

/// Phase 2 attribute classes (RFC 2407 §4.5).
mod p2 {
    pub const LIFE_TYPE: u16 = 1;
    pub const LIFE_DURATION: u16 = 2;
    pub const GROUP: u16 = 3;
    pub const ENCAPSULATION: u16 = 4;
    pub const AUTH: u16 = 5;
    pub const KEY_LEN: u16 = 6;
}

/// Encapsulation mode: tunnel.
pub const ENCAP_TUNNEL: u16 = 1;
/// Encapsulation mode: UDP-encapsulated tunnel (RFC 3947).
pub const ENCAP_UDP_TUNNEL: u16 = 3;

/// The (life type, life duration) attribute classes of a phase.
type LifeKinds = (u16, u16);
const P1_LIFE: LifeKinds = (p1::LIFE_TYPE, p1::LIFE_DURATION);
const P2_LIFE: LifeKinds = (p2::LIFE_TYPE, p2::LIFE_DURATION);

fn life_attrs(attrs: &mut Vec<Attr>, kinds: LifeKinds, life: Option<Duration>) {
    if let Some(l) = life {
        attrs.push(Attr::basic(kinds.0, LIFE_SECONDS));
        let secs = u32::try_from(l.as_secs()).unwrap_or(u32::MAX);
        attrs.push(Attr::long(kinds.1, secs));
    }
}

fn life_of(t: &Transform, kinds: LifeKinds) -> Option<Duration> {
    (t.attr(kinds.0) == Some(u64::from(LIFE_SECONDS)))
        .then(|| t.attr(kinds.1).map(Duration::from_secs))
        .flatten()
}

/// The phase 1 transform offering `p`, or `None` for ciphers IKEv1 cannot use.
pub fn phase1_transform(number: u8, p: &IkeProposal, life: Option<Duration>) -> Option<Transform> {
    let (encr, key_len) = p.encr.ikev1_phase1()?;
    let mut attrs = vec![Attr::basic(p1::ENCR, encr)];
    if let Some(k) = key_len {
        attrs.push(Attr::basic(p1::KEY_LEN, k));
    }
    attrs.push(Attr::basic(p1::HASH, p.prf.ikev1_hash_id()));
    attrs.push(Attr::basic(p1::AUTH, AUTH_PSK));
    attrs.push(Attr::basic(p1::GROUP, p.dh.id()));
    life_attrs(&mut attrs, P1_LIFE, life);
    Some(Transform {
        number,
        id: KEY_IKE,
        attrs,
    })
}

/// Phase 1 algorithms a transform names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase1Choice {
    /// Cipher.
    pub encr: Encr,
    /// PRF (the HMAC of the hash algorithm).
    pub prf: Prf,
    /// Group.
    pub dh: DhGroup,
    /// Lifetime the transform carries.
    pub life: Option<Duration>,
}

/// The transform's algorithms when it is a pre-shared-key transform one of `ours` offers.
pub fn phase1_match(t: &Transform, ours: &[IkeProposal]) -> Option<Phase1Choice> {
    let key_bits = t.attr(p1::KEY_LEN).and_then(|k| u16::try_from(k).ok());
    let encr = Encr::from_ikev1_phase1(u16::try_from(t.attr(p1::ENCR)?).ok()?, key_bits)?;
    let prf = Prf::from_ikev1_hash(u16::try_from(t.attr(p1::HASH)?).ok()?)?;
    let dh = DhGroup::from_id(u16::try_from(t.attr(p1::GROUP)?).ok()?)?;
    let psk = t.id == KEY_IKE && t.attr(p1::AUTH) == Some(u64::from(AUTH_PSK));
    let offered = ours
        .iter()
        .any(|o| o.encr == encr && o.prf == prf && o.dh == dh);
    (psk && offered).then_some(Phase1Choice {
        encr,
        prf,
        dh,
        life: life_of(t, P1_LIFE),
    })
}

/// The ESP transform offering `p` with encapsulation `encap`.
pub fn phase2_transform(
    number: u8,
    p: &EspProposal,
    encap: u16,
    life: Option<Duration>,
) -> Transform {
    let (id, key_len) = p.encr.ikev2_transform();
    let mut attrs = Vec::new();
    life_attrs(&mut attrs, P2_LIFE, life);
    if let Some(g) = p.pfs {
        attrs.push(Attr::basic(p2::GROUP, g.id()));
    }
    attrs.push(Attr::basic(p2::ENCAPSULATION, encap));
    if let Some(i) = p.integ {
        attrs.push(Attr::basic(p2::AUTH, i.ikev1_auth_id()));
    }
    if let Some(k) = key_len {
        attrs.push(Attr::basic(p2::KEY_LEN, k));
    }
    Transform {
        number,
        id: u8::try_from(id).unwrap_or(0),
        attrs,
    }
}

/// The ESP proposal of `ours` a transform names, with the lifetime it carries.
pub fn phase2_match(
    t: &Transform,
    ours: &[EspProposal],
) -> Option<(EspProposal, Option<Duration>)> {
    let key_bits = t.attr(p2::KEY_LEN).and_then(|k| u16::try_from(k).ok());
    let encr = Encr::from_ikev2(u16::from(t.id), key_bits)?;
    let integ = match t.attr(p2::AUTH) {
        Some(a) => Some(Integ::from_ikev1_auth(u16::try_from(a).ok()?)?),
        None => None,
    };
    let group = t.attr(p2::GROUP);
    ours.iter()
        .find(|o| o.encr == encr && o.integ == integ && o.pfs.map(|g| u64::from(g.id())) == group)
        .map(|o| (*o, life_of(t, P2_LIFE)))
}

/// Phase 1 found no common transform; `theirs` are the peer's transforms when we saw them.
pub fn no_phase1_proposal(ours: &[IkeProposal], theirs: Option<&[Transform]>) -> FailureReason {
    FailureReason::NoProposalChosen {
        sa: SaKind::Ike,
        ours: ours.iter().map(Offer::from_ike).collect(),
        theirs: theirs.map(|ts| ts.iter().map(phase1_offer).collect()),
    }
}

/// Quick mode found no common transform; `theirs` are the peer's transforms when we saw them.
pub fn no_phase2_proposal(ours: &[EspProposal], theirs: Option<&[Transform]>) -> FailureReason {
    FailureReason::NoProposalChosen {
        sa: SaKind::Child,
        ours: ours.iter().map(|p| Offer::from_esp(p, true)).collect(),
        theirs: theirs.map(|ts| ts.iter().map(phase2_offer).collect()),
    }
}

/// An attribute's value as a 16-bit id (`u16::MAX` when it does not fit: no algorithm has it).
fn attr16(t: &Transform, kind: u16) -> Option<u16> {
    t.attr(kind).map(|v| u16::try_from(v).unwrap_or(u16::MAX))
}

/// The algorithms of a peer's phase 1 transform (its hash names the PRF; the integrity check
/// follows it and is not negotiated separately).
fn phase1_offer(t: &Transform) -> Offer {
    let key_bits = attr16(t, p1::KEY_LEN);
    Offer {
        encr: attr16(t, p1::ENCR)
            .map(|id| {
                Encr::from_ikev1_phase1(id, key_bits).map_or(
                    Algorithm::Unknown(ProposalField::Encryption, id),
                    Algorithm::Encr,
                )
            })
            .into_iter()
            .collect(),
        integ: Vec::new(),
        prf: attr16(t, p1::HASH)
            .map(|id| {
                Prf::from_ikev1_hash(id)
                    .map_or(Algorithm::Unknown(ProposalField::Prf, id), Algorithm::Prf)
            })
            .into_iter()
            .collect(),
        dh: attr16(t, p1::GROUP).map(group).into_iter().collect(),
    }
}

/// The algorithms of a peer's ESP transform (absent integrity or group means none).
fn phase2_offer(t: &Transform) -> Offer {
    let key_bits = attr16(t, p2::KEY_LEN);
    let id = u16::from(t.id);
    let integ = attr16(t, p2::AUTH).map_or(Algorithm::None(ProposalField::Integrity), |a| {
        Integ::from_ikev1_auth(a).map_or(
            Algorithm::Unknown(ProposalField::Integrity, a),
            Algorithm::Integ,
        )
    });
    Offer {
        encr: vec![Encr::from_ikev2(id, key_bits).map_or(
            Algorithm::Unknown(ProposalField::Encryption, id),
            Algorithm::Encr,
        )],
        integ: vec![integ],
        prf: Vec::new(),
        dh: vec![attr16(t, p2::GROUP).map_or(Algorithm::None(ProposalField::DhGroup), group)],
    }
}

fn group(id: u16) -> Algorithm {
    DhGroup::from_id(id).map_or(
        Algorithm::Unknown(ProposalField::DhGroup, id),
        Algorithm::Dh,
    )
}
