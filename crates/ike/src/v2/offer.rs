//! Proposals reduced to their algorithms, so a failed negotiation can say on which transform type
//! (encryption, integrity, PRF, DH group) the two sides disagree and what the peer wanted.

use std::fmt;

use strait_crypto::{DhGroup, Encr, Integ, Prf};

use super::config::{EspProposal, IkeProposal};
use super::message::{Proposal, transform_type};

/// Which SA a negotiation was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaKind {
    /// The IKE SA (phase 1).
    Ike,
    /// A CHILD_SA / IPsec SA (phase 2, IKEv1 quick mode).
    Child,
}

impl SaKind {
    /// The phase number network engineers use: 1 or 2.
    pub fn phase(self) -> u8 {
        match self {
            SaKind::Ike => 1,
            SaKind::Child => 2,
        }
    }
}

impl fmt::Display for SaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaKind::Ike => f.write_str("phase 1 (IKE SA)"),
            SaKind::Child => f.write_str("phase 2 (IPsec SA)"),
        }
    }
}

/// A transform type both sides must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalField {
    /// Encryption algorithm.
    Encryption,
    /// Integrity algorithm.
    Integrity,
    /// Pseudorandom function (IKE SA only).
    Prf,
    /// Diffie-Hellman group (the PFS group of a CHILD_SA).
    DhGroup,
}

impl ProposalField {
    fn prefix(self) -> &'static str {
        match self {
            ProposalField::Encryption => "encr",
            ProposalField::Integrity => "integ",
            ProposalField::Prf => "prf",
            ProposalField::DhGroup => "dh",
        }
    }
}

/// One algorithm a proposal offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// An encryption algorithm.
    Encr(Encr),
    /// An integrity algorithm.
    Integ(Integ),
    /// A PRF.
    Prf(Prf),
    /// A DH group.
    Dh(DhGroup),
    /// Explicitly none (no integrity with AEAD, no PFS group).
    None(ProposalField),
    /// A transform id we do not implement.
    Unknown(ProposalField, u16),
}

impl Algorithm {
    fn integ(id: u16) -> Algorithm {
        match id {
            0 => Algorithm::None(ProposalField::Integrity),
            _ => Integ::from_ikev2(id).map_or(
                Algorithm::Unknown(ProposalField::Integrity, id),
                Algorithm::Integ,
            ),
        }
    }

    fn dh(id: u16) -> Algorithm {
        match id {
            0 => Algorithm::None(ProposalField::DhGroup),
            _ => DhGroup::from_id(id).map_or(
                Algorithm::Unknown(ProposalField::DhGroup, id),
                Algorithm::Dh,
            ),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Algorithm::Encr(e) => match e {
                Encr::DesCbc => "des",
                Encr::TripleDesCbc => "3des",
                Encr::AesCbc128 => "aes128",
                Encr::AesCbc192 => "aes192",
                Encr::AesCbc256 => "aes256",
                Encr::AesGcm16_128 => "aes128gcm16",
                Encr::AesGcm16_256 => "aes256gcm16",
            },
            Algorithm::Integ(i) => match i {
                Integ::HmacMd5_96 => "md5",
                Integ::HmacSha1_96 => "sha1",
                Integ::HmacSha256_128 => "sha256",
                Integ::HmacSha384_192 => "sha384",
                Integ::HmacSha512_256 => "sha512",
            },
            Algorithm::Prf(p) => match p {
                Prf::HmacMd5 => "prfmd5",
                Prf::HmacSha1 => "prfsha1",
                Prf::HmacSha256 => "prfsha256",
                Prf::HmacSha384 => "prfsha384",
                Prf::HmacSha512 => "prfsha512",
            },
            Algorithm::Dh(g) => match g {
                DhGroup::Modp768 => "modp768",
                DhGroup::Modp1024 => "modp1024",
                DhGroup::Modp1536 => "modp1536",
                DhGroup::Modp2048 => "modp2048",
                DhGroup::Ecp256 => "ecp256",
                DhGroup::Curve25519 => "curve25519",
            },
            Algorithm::None(_) => "none",
            Algorithm::Unknown(field, id) => return write!(f, "{}{id}", field.prefix()),
        };
        f.write_str(name)
    }
}

/// The algorithms of one proposal by transform type; several in one list are alternatives, an
/// empty list means the type is not negotiated here (e.g. the PFS group in IKE_AUTH).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Offer {
    /// Encryption algorithms.
    pub encr: Vec<Algorithm>,
    /// Integrity algorithms.
    pub integ: Vec<Algorithm>,
    /// PRFs.
    pub prf: Vec<Algorithm>,
    /// DH groups.
    pub dh: Vec<Algorithm>,
}

/// A transform type on which our proposal and the peer's have nothing in common.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mismatch {
    /// The transform type.
    pub field: ProposalField,
    /// What we use.
    pub ours: Algorithm,
    /// What the peer offered instead (its alternatives; empty if it offered none).
    pub theirs: Vec<Algorithm>,
}

impl Offer {
    const FIELDS: [ProposalField; 4] = [
        ProposalField::Encryption,
        ProposalField::Integrity,
        ProposalField::Prf,
        ProposalField::DhGroup,
    ];

    /// The alternatives offered for one transform type.
    pub fn field(&self, field: ProposalField) -> &[Algorithm] {
        match field {
            ProposalField::Encryption => &self.encr,
            ProposalField::Integrity => &self.integ,
            ProposalField::Prf => &self.prf,
            ProposalField::DhGroup => &self.dh,
        }
    }

    /// Our IKE SA proposal.
    pub fn from_ike(p: &IkeProposal) -> Offer {
        Offer {
            encr: vec![Algorithm::Encr(p.encr)],
            integ: vec![
                p.integ
                    .map_or(Algorithm::None(ProposalField::Integrity), Algorithm::Integ),
            ],
            prf: vec![Algorithm::Prf(p.prf)],
            dh: vec![Algorithm::Dh(p.dh)],
        }
    }

    /// Our CHILD_SA proposal; `with_dh` when the exchange negotiates the PFS group.
    pub fn from_esp(p: &EspProposal, with_dh: bool) -> Offer {
        Offer {
            encr: vec![Algorithm::Encr(p.encr)],
            integ: vec![
                p.integ
                    .map_or(Algorithm::None(ProposalField::Integrity), Algorithm::Integ),
            ],
            prf: Vec::new(),
            dh: if with_dh {
                vec![
                    p.pfs
                        .map_or(Algorithm::None(ProposalField::DhGroup), Algorithm::Dh),
                ]
            } else {
                Vec::new()
            },
        }
    }

    /// A peer's IKEv2 proposal (an absent integrity or DH transform means none).
    pub fn from_wire(p: &Proposal) -> Offer {
        let mut o = Offer::default();
        for t in &p.transforms {
            match t.kind {
                transform_type::ENCR => o.encr.push(Encr::from_ikev2(t.id, t.key_len).map_or(
                    Algorithm::Unknown(ProposalField::Encryption, t.id),
                    Algorithm::Encr,
                )),
                transform_type::INTEG => o.integ.push(Algorithm::integ(t.id)),
                transform_type::PRF => o.prf.push(
                    Prf::from_ikev2(t.id)
                        .map_or(Algorithm::Unknown(ProposalField::Prf, t.id), Algorithm::Prf),
                ),
                transform_type::DH => o.dh.push(Algorithm::dh(t.id)),
                _ => {}
            }
        }
        if o.integ.is_empty() {
            o.integ.push(Algorithm::None(ProposalField::Integrity));
        }
        if o.dh.is_empty() {
            o.dh.push(Algorithm::None(ProposalField::DhGroup));
        }
        o
    }

    /// The transform types, negotiated by both, on which `theirs` offers nothing we use.
    pub fn mismatches(&self, theirs: &Offer) -> Vec<Mismatch> {
        Self::FIELDS
            .into_iter()
            .filter_map(|field| {
                let (ours, offered) = (self.field(field), theirs.field(field));
                let agree = ours.iter().any(|a| offered.contains(a));
                match ours.first() {
                    Some(first) if !offered.is_empty() && !agree => Some(Mismatch {
                        field,
                        ours: *first,
                        theirs: offered.to_vec(),
                    }),
                    _ => None,
                }
            })
            .collect()
    }
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Self::FIELDS
            .into_iter()
            .map(|field| {
                let names: Vec<String> = self
                    .field(field)
                    .iter()
                    .filter(|a| !matches!(a, Algorithm::None(_)))
                    .map(Algorithm::to_string)
                    .collect();
                names.join("/")
            })
            .filter(|s| !s.is_empty())
            .collect();
        f.write_str(&parts.join("-"))
    }
}

/// Several offers, readable and comma-separated.
pub fn describe_offers(offers: &[Offer]) -> String {
    offers
        .iter()
        .map(Offer::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How our offers differ from the peer's offer closest to one of them (fewest differing types).
pub fn closest_mismatches(ours: &[Offer], theirs: &[Offer]) -> Vec<Mismatch> {
    ours.iter()
        .flat_map(|o| theirs.iter().map(move |t| o.mismatches(t)))
        .min_by_key(Vec::len)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::message::{Transform, protocol};

    fn ike(encr: Encr, integ: Integ, prf: Prf, dh: DhGroup) -> Offer {
        Offer::from_ike(&IkeProposal {
            encr,
            integ: Some(integ),
            prf,
            dh,
        })
    }

    #[test]
    fn the_closest_peer_proposal_names_the_one_differing_type() {
        let ours = [ike(
            Encr::AesCbc256,
            Integ::HmacSha1_96,
            Prf::HmacSha1,
            DhGroup::Modp1024,
        )];
        let theirs = [
            ike(
                Encr::AesCbc128,
                Integ::HmacSha256_128,
                Prf::HmacSha256,
                DhGroup::Modp2048,
            ),
            ike(
                Encr::AesCbc128,
                Integ::HmacSha1_96,
                Prf::HmacSha1,
                DhGroup::Modp1024,
            ),
        ];
        assert_eq!(
            closest_mismatches(&ours, &theirs),
            vec![Mismatch {
                field: ProposalField::Encryption,
                ours: Algorithm::Encr(Encr::AesCbc256),
                theirs: vec![Algorithm::Encr(Encr::AesCbc128)],
            }]
        );
        assert!(closest_mismatches(&ours, &ours).is_empty());
        assert!(closest_mismatches(&ours, &[]).is_empty());
    }

    #[test]
    fn wire_proposals_keep_alternatives_unknown_ids_and_absent_types() {
        let t = |kind, id, key_len| Transform { kind, id, key_len };
        let wire = Proposal {
            number: 1,
            protocol: protocol::ESP,
            spi: vec![0, 0, 0, 1],
            transforms: vec![
                t(transform_type::ENCR, 12, Some(128)),
                t(transform_type::ENCR, 28, None),
                t(transform_type::INTEG, 2, None),
                t(transform_type::ESN, 0, None),
            ],
        };
        let peer = Offer::from_wire(&wire);
        assert_eq!(peer.to_string(), "aes128/encr28-sha1");
        assert_eq!(peer.dh, vec![Algorithm::None(ProposalField::DhGroup)]);
        let ours = Offer::from_esp(
            &EspProposal {
                encr: Encr::AesCbc128,
                integ: Some(Integ::HmacSha1_96),
                pfs: Some(DhGroup::Modp2048),
            },
            true,
        );
        let m = ours.mismatches(&peer);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(
            (
                m[0].field,
                m[0].ours.to_string(),
                m[0].theirs[0].to_string()
            ),
            (ProposalField::DhGroup, "modp2048".into(), "none".into())
        );
        let no_pfs_exchange = Offer {
            dh: Vec::new(),
            ..ours
        };
        assert!(
            no_pfs_exchange.mismatches(&peer).is_empty(),
            "IKE_AUTH does not negotiate the PFS group"
        );
    }
}
