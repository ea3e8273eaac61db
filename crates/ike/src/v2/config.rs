//! Configuration of one IKEv2 peering, as the gateway maps its model onto it.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use strait_crypto::{DhGroup, Encr, Integ, Prf};

use super::message::{Identity, Proposal, TrafficSelector, Transform, protocol, transform_type};

/// An IPv4 prefix such as 10.0.0.0/24 (0.0.0.0/0 for destination routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Ipv4Prefix {
    /// A prefix; the host bits of `addr` are ignored.
    pub fn new(addr: Ipv4Addr, len: u8) -> Self {
        Self {
            addr,
            len: len.min(32),
        }
    }

    /// The whole IPv4 space, 0.0.0.0/0.
    pub fn any() -> Self {
        Self::new(Ipv4Addr::UNSPECIFIED, 0)
    }

    /// The prefix as an address-range traffic selector.
    pub fn to_selector(self) -> TrafficSelector {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
        let start = u32::from(self.addr) & mask;
        TrafficSelector::range(Ipv4Addr::from(start), Ipv4Addr::from(start | !mask))
    }
}

/// One IKE SA proposal: the four transforms an IKE SA needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeProposal {
    /// Encryption.
    pub encr: Encr,
    /// Integrity; `None` with an AEAD cipher.
    pub integ: Option<Integ>,
    /// Pseudorandom function.
    pub prf: Prf,
    /// Diffie-Hellman group.
    pub dh: DhGroup,
}

/// One ESP proposal for CHILD_SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption.
    pub encr: Encr,
    /// Integrity; `None` with an AEAD cipher.
    pub integ: Option<Integ>,
    /// Diffie-Hellman group for rekeys (PFS); `None` disables PFS.
    pub pfs: Option<DhGroup>,
}

/// Dead peer detection timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dpd {
    /// Silence after which a liveness check is sent.
    pub interval: Duration,
    /// Time without hearing from the peer (IKE or ESP), while a request is unanswered, after
    /// which it is declared dead.
    pub timeout: Duration,
}

/// Retransmission schedule of requests: `base * factor^n` before retry n+1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retransmit {
    /// First timeout.
    pub base: Duration,
    /// Growth per retry.
    pub factor: f64,
    /// Retransmissions before giving up.
    pub tries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        // strongSwan's defaults: 4 s, 1.8, 5 tries (about 165 s in all).
        Self {
            base: Duration::from_secs(4),
            factor: 1.8,
            tries: 5,
        }
    }
}

impl Retransmit {
    /// The timeout after sending attempt `n` (0 for the first transmission), at most an hour.
    pub fn timeout(&self, n: u32) -> Duration {
        const CAP: Duration = Duration::from_secs(3600);
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        Duration::try_from_secs_f64(self.base.as_secs_f64() * self.factor.powi(exp))
            .map_or(CAP, |d| d.min(CAP))
    }
}

/// The configuration of one tunnel peering.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Our address and IKE port (normally 500).
    pub local: SocketAddrV4,
    /// The peer's address and IKE port (normally 500).
    pub remote: SocketAddrV4,
    /// Our identity.
    pub local_id: Identity,
    /// The identity the peer must present.
    pub remote_id: Identity,
    /// Pre-shared key.
    pub psk: Vec<u8>,
    /// IKE SA proposals in order of preference (the first one's group is used for KE).
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals in order of preference.
    pub esp_proposals: Vec<EspProposal>,
    /// Our side's protected networks.
    pub local_ts: Vec<Ipv4Prefix>,
    /// The peer's protected networks.
    pub remote_ts: Vec<Ipv4Prefix>,
    /// IKE SA lifetime; `None` never expires.
    pub ike_lifetime: Option<Duration>,
    /// CHILD_SA lifetime; `None` never expires.
    pub child_lifetime: Option<Duration>,
    /// Dead peer detection, if enabled.
    pub dpd: Option<Dpd>,
    /// Send NAT detection payloads and float to port 4500 when NAT is found.
    pub nat_traversal: bool,
    /// Request retransmission schedule.
    pub retransmit: Retransmit,
    /// How long before expiry a rekey starts.
    pub rekey_margin: Duration,
    /// Upper bound of the random amount subtracted from the rekey time.
    pub rekey_jitter: Duration,
    /// After a dead peer or a failed attempt, start a new IKE SA after this delay.
    pub reinitiate_after: Option<Duration>,
}

impl Config {
    /// A configuration with the product defaults: ids are the addresses, aes128-sha1-modp1024
    /// in both phases without PFS, 0.0.0.0/0 selectors, 24 h lifetimes, NAT-T on, DPD off.
    pub fn new(local: SocketAddrV4, remote: SocketAddrV4, psk: impl Into<Vec<u8>>) -> Self {
        Self {
            local,
            remote,
            local_id: Identity::Ipv4(*local.ip()),
            remote_id: Identity::Ipv4(*remote.ip()),
            psk: psk.into(),
            ike_proposals: vec![IkeProposal {
                encr: Encr::AesCbc128,
                integ: Some(Integ::HmacSha1_96),
                prf: Prf::HmacSha1,
                dh: DhGroup::Modp1024,
            }],
            esp_proposals: vec![EspProposal {
                encr: Encr::AesCbc128,
                integ: Some(Integ::HmacSha1_96),
                pfs: None,
            }],
            local_ts: vec![Ipv4Prefix::any()],
            remote_ts: vec![Ipv4Prefix::any()],
            ike_lifetime: Some(Duration::from_secs(86400)),
            child_lifetime: Some(Duration::from_secs(86400)),
            dpd: None,
            nat_traversal: true,
            retransmit: Retransmit::default(),
            rekey_margin: Duration::from_secs(540),
            rekey_jitter: Duration::from_secs(180),
            reinitiate_after: Some(Duration::from_secs(5)),
        }
    }
}

impl IkeProposal {
    /// The wire proposal.
    pub(crate) fn to_wire(self, number: u8, spi: Vec<u8>) -> Proposal {
        let (id, key_len) = self.encr.ikev2_transform();
        let mut transforms = vec![
            Transform {
                kind: transform_type::ENCR,
                id,
                key_len,
            },
            Transform {
                kind: transform_type::PRF,
                id: self.prf.ikev2_id(),
                key_len: None,
            },
        ];
        if let Some(i) = self.integ {
            transforms.push(Transform {
                kind: transform_type::INTEG,
                id: i.ikev2_id(),
                key_len: None,
            });
        }
        transforms.push(Transform {
            kind: transform_type::DH,
            id: self.dh.id(),
            key_len: None,
        });
        Proposal {
            number,
            protocol: protocol::IKE,
            spi,
            transforms,
        }
    }

    /// Whether a peer's proposal offers this combination.
    pub(crate) fn matches(&self, p: &Proposal) -> bool {
        let (id, key_len) = self.encr.ikev2_transform();
        p.protocol == protocol::IKE
            && has(p, transform_type::ENCR, id, key_len)
            && has(p, transform_type::PRF, self.prf.ikev2_id(), None)
            && integ_matches(p, self.integ)
            && has(p, transform_type::DH, self.dh.id(), None)
    }
}

impl EspProposal {
    /// The wire proposal; `with_dh` adds the PFS group (not in IKE_AUTH).
    pub(crate) fn to_wire(self, number: u8, spi: u32, with_dh: bool) -> Proposal {
        let (id, key_len) = self.encr.ikev2_transform();
        let mut transforms = vec![Transform {
            kind: transform_type::ENCR,
            id,
            key_len,
        }];
        if let Some(i) = self.integ {
            transforms.push(Transform {
                kind: transform_type::INTEG,
                id: i.ikev2_id(),
                key_len: None,
            });
        }
        if let (true, Some(g)) = (with_dh, self.pfs) {
            transforms.push(Transform {
                kind: transform_type::DH,
                id: g.id(),
                key_len: None,
            });
        }
        transforms.push(Transform {
            kind: transform_type::ESN,
            id: 0,
            key_len: None,
        });
        Proposal {
            number,
            protocol: protocol::ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        }
    }

    /// Whether a peer's proposal offers this combination; `with_dh` also compares the PFS group.
    pub(crate) fn matches(&self, p: &Proposal, with_dh: bool) -> bool {
        let (id, key_len) = self.encr.ikev2_transform();
        let dh_ok = !with_dh
            || match self.pfs {
                Some(g) => has(p, transform_type::DH, g.id(), None),
                None => none_or(p, transform_type::DH),
            };
        let esn_ok = none_or(p, transform_type::ESN);
        p.protocol == protocol::ESP
            && p.spi.len() == 4
            && has(p, transform_type::ENCR, id, key_len)
            && integ_matches(p, self.integ)
            && dh_ok
            && esn_ok
    }
}

fn has(p: &Proposal, kind: u8, id: u16, key_len: Option<u16>) -> bool {
    p.transforms
        .iter()
        .any(|t| t.kind == kind && t.id == id && t.key_len == key_len)
}

/// The proposal has no transform of `kind`, or offers its "none" (id 0).
fn none_or(p: &Proposal, kind: u8) -> bool {
    !p.transforms.iter().any(|t| t.kind == kind) || has(p, kind, 0, None)
}

fn integ_matches(p: &Proposal, integ: Option<Integ>) -> bool {
    match integ {
        Some(i) => has(p, transform_type::INTEG, i.ikev2_id(), None),
        None => none_or(p, transform_type::INTEG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmit_timeouts_grow_like_strongswan_and_stay_bounded() {
        let r = Retransmit::default();
        let secs: Vec<f64> = (0..6).map(|n| r.timeout(n).as_secs_f64()).collect();
        let expected = [4.0, 7.2, 12.96, 23.328, 41.9904, 75.58272];
        for (got, want) in secs.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{secs:?}");
        }
        let wild = Retransmit {
            factor: f64::NAN,
            ..r
        };
        assert_eq!(wild.timeout(3), Duration::from_secs(3600));
        assert_eq!(
            Retransmit { factor: 1e300, ..r }.timeout(9),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn prefixes_become_address_ranges() {
        let p = Ipv4Prefix::new(Ipv4Addr::new(10, 1, 2, 3), 24).to_selector();
        assert_eq!(
            (p.start, p.end),
            (Ipv4Addr::new(10, 1, 2, 0), Ipv4Addr::new(10, 1, 2, 255))
        );
        let any = Ipv4Prefix::any().to_selector();
        assert_eq!(
            (any.start, any.end),
            (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
        );
        let host = Ipv4Prefix::new(Ipv4Addr::new(192, 0, 2, 7), 32).to_selector();
        assert_eq!(
            (host.start, host.end),
            (Ipv4Addr::new(192, 0, 2, 7), Ipv4Addr::new(192, 0, 2, 7))
        );
    }
}
