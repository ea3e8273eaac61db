//! What the IKEv2 core reports to its driver.

use std::net::SocketAddrV4;

use strait_crypto::{Encr, Integ};

use super::message::{Identity, TrafficSelector};
use super::offer::{Mismatch, Offer, SaKind, closest_mismatches, describe_offers};

/// Identifies one configured peering within an [`Endpoint`](super::Endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A datagram to send (the IKE message; the driver adds the non-ESP marker on port 4500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address and port.
    pub local: SocketAddrV4,
    /// Destination address and port.
    pub remote: SocketAddrV4,
    /// The IKE message.
    pub data: Vec<u8>,
}

/// Keys and SPI of one direction of a CHILD_SA.
#[derive(Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// SPI carried in ESP packets of this direction.
    pub spi: u32,
    /// Encryption transform.
    pub encr: Encr,
    /// Encryption key (including the 4-byte salt for AES-GCM).
    pub enc_key: Vec<u8>,
    /// Integrity transform (`None` with AEAD).
    pub integ: Option<Integ>,
    /// Integrity key (empty with AEAD).
    pub integ_key: Vec<u8>,
}

impl std::fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspKeys")
            .field("spi", &format_args!("{:08x}", self.spi))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

/// Which side rejected authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The peer's AUTH payload did not verify with our PSK.
    Local,
    /// The peer answered AUTHENTICATION_FAILED.
    Remote {
        /// Where the notification came from.
        from: SocketAddrV4,
    },
}

/// Why a negotiation or an SA failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// No proposal was acceptable to both sides.
    NoProposalChosen {
        /// The SA being negotiated (phase 1 or 2).
        sa: SaKind,
        /// What we offered or accept.
        ours: Vec<Offer>,
        /// What the peer offered, when we are the responder.
        theirs: Option<Vec<Offer>>,
    },
    /// Pre-shared key authentication failed.
    AuthenticationFailed(AuthFailure),
    /// The traffic selectors do not overlap.
    TsUnacceptable,
    /// Retransmissions of a request were exhausted.
    PeerNotResponding,
    /// The peer wants a Diffie-Hellman group we do not propose.
    InvalidKe {
        /// The group the peer named.
        group: u16,
    },
    /// The peer's identity is not the configured one.
    IdMismatch {
        /// Configured remote identity.
        expected: Identity,
        /// Identity the peer presented.
        received: Identity,
    },
    /// Dead peer detection got no answer within its timeout.
    DeadPeer,
    /// The peer broke the protocol (unexpected or malformed message).
    Protocol(String),
}

impl FailureReason {
    /// The SA whose negotiation failed, when the failure belongs to one phase.
    pub fn sa_kind(&self) -> Option<SaKind> {
        match self {
            FailureReason::NoProposalChosen { sa, .. } => Some(*sa),
            FailureReason::AuthenticationFailed(_)
            | FailureReason::InvalidKe { .. }
            | FailureReason::IdMismatch { .. } => Some(SaKind::Ike),
            FailureReason::TsUnacceptable => Some(SaKind::Child),
            FailureReason::PeerNotResponding
            | FailureReason::DeadPeer
            | FailureReason::Protocol(_) => None,
        }
    }

    /// For a proposal mismatch seen as responder: the transform types on which the peer's
    /// closest proposal differs from ours (empty when the peer's offer is unknown).
    pub fn mismatches(&self) -> Vec<Mismatch> {
        match self {
            FailureReason::NoProposalChosen {
                ours,
                theirs: Some(theirs),
                ..
            } => closest_mismatches(ours, theirs),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureReason::NoProposalChosen {
                sa,
                ours,
                theirs: Some(t),
            } => {
                write!(
                    f,
                    "no proposal chosen in {sa}: we accept {}, peer offered {}",
                    describe_offers(ours),
                    describe_offers(t)
                )
            }
            FailureReason::NoProposalChosen {
                sa,
                ours,
                theirs: None,
            } => {
                write!(
                    f,
                    "no proposal chosen in {sa}: peer accepted none of {}",
                    describe_offers(ours)
                )
            }
            FailureReason::AuthenticationFailed(AuthFailure::Local) => {
                write!(
                    f,
                    "authentication failed: peer's AUTH did not verify with our pre-shared key"
                )
            }
            FailureReason::AuthenticationFailed(AuthFailure::Remote { from }) => {
                write!(f, "authentication failed: {from} rejected our AUTH")
            }
            FailureReason::TsUnacceptable => write!(f, "traffic selectors unacceptable"),
            FailureReason::PeerNotResponding => write!(f, "peer not responding"),
            FailureReason::InvalidKe { group } => {
                write!(f, "peer requires DH group {group}, which we do not propose")
            }
            FailureReason::IdMismatch { expected, received } => {
                write!(
                    f,
                    "peer identity {received} is not the configured {expected}"
                )
            }
            FailureReason::DeadPeer => write!(f, "dead peer detected"),
            FailureReason::Protocol(s) => write!(f, "protocol error: {s}"),
        }
    }
}

/// Why an IKE SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteReason {
    /// We deleted it on request of the driver.
    Local,
    /// The peer sent a Delete.
    Remote,
    /// It reached its hard lifetime.
    Expired,
    /// It was replaced by a rekeyed or newer IKE SA.
    Replaced,
    /// A failure ended it.
    Failed(FailureReason),
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An IKE SA was authenticated (or rekeyed).
    IkeSaEstablished {
        /// Initiator SPI.
        spi_i: u64,
        /// Responder SPI.
        spi_r: u64,
        /// Our address for IKE.
        local: SocketAddrV4,
        /// The peer's address for IKE.
        remote: SocketAddrV4,
        /// Whether it replaces an IKE SA of this session (rekey).
        rekeyed: bool,
    },
    /// A CHILD_SA pair is ready to install.
    ChildSaEstablished {
        /// Keys for ESP we receive.
        inbound: EspKeys,
        /// Keys for ESP we send.
        outbound: EspKeys,
        /// Our side's selectors.
        local_ts: Vec<TrafficSelector>,
        /// The peer's side's selectors.
        remote_ts: Vec<TrafficSelector>,
        /// Our ESP address (port 4500 when UDP-encapsulated).
        local: SocketAddrV4,
        /// The peer's ESP address.
        remote: SocketAddrV4,
        /// Whether ESP is encapsulated in UDP (RFC 3948).
        udp_encap: bool,
        /// The (inbound, outbound) SPIs of the pair this one rekeys.
        replaces: Option<(u32, u32)>,
    },
    /// A CHILD_SA pair must be removed.
    ChildSaDeleted {
        /// Inbound SPI.
        in_spi: u32,
        /// Outbound SPI.
        out_spi: u32,
    },
    /// An IKE SA is gone.
    IkeSaDeleted {
        /// Why.
        reason: DeleteReason,
    },
    /// A negotiation or SA failed.
    Failed {
        /// Why.
        reason: FailureReason,
    },
}
