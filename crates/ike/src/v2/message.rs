//! IKEv2 message codec (RFC 7296 §3): header, payloads and their wire encodings.

use std::net::Ipv4Addr;

use crate::wire::{Reader, Truncated};

/// Length of the fixed IKE header.
pub const HEADER_LEN: usize = 28;
/// Version octet of IKEv2 (major 2, minor 0).
pub const VERSION: u8 = 0x20;

/// Why an IKEv2 message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The data ended before a field or payload did.
    #[error("message truncated")]
    Truncated,
    /// The major version is not 2.
    #[error("unsupported IKE major version {0}")]
    UnsupportedVersion(u8),
    /// The header length disagrees with the datagram.
    #[error("length field {declared} does not match datagram of {actual} octets")]
    BadLength {
        /// What the header says.
        declared: u32,
        /// What arrived.
        actual: usize,
    },
    /// A payload we do not understand is marked critical.
    #[error("unsupported critical payload {0}")]
    UnsupportedCritical(u8),
    /// A payload's content is malformed.
    #[error("malformed {0} payload")]
    Malformed(&'static str),
    /// The Encrypted payload is not the last one.
    #[error("encrypted payload is not last")]
    EncryptedNotLast,
}

impl From<Truncated> for ParseError {
    fn from(_: Truncated) -> Self {
        Self::Truncated
    }
}

/// IKEv2 exchange type (RFC 7296 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExchangeType(pub u8);

impl ExchangeType {
    /// IKE_SA_INIT.
    pub const IKE_SA_INIT: Self = Self(34);
    /// IKE_AUTH.
    pub const IKE_AUTH: Self = Self(35);
    /// CREATE_CHILD_SA.
    pub const CREATE_CHILD_SA: Self = Self(36);
    /// INFORMATIONAL.
    pub const INFORMATIONAL: Self = Self(37);
}

/// The fixed IKE header (RFC 7296 §3.1), enough to demultiplex a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// IKE SA initiator's SPI.
    pub spi_i: u64,
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Initiator flag: set by the original initiator of the IKE SA.
    pub initiator: bool,
    /// Response flag.
    pub response: bool,
    /// Message ID.
    pub message_id: u32,
}

const FLAG_INITIATOR: u8 = 0x08;
const FLAG_RESPONSE: u8 = 0x20;

impl Header {
    fn encode(&self, first_payload: u8, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(first_payload);
        out.push(VERSION);
        out.push(self.exchange.0);
        let mut flags = 0;
        if self.initiator {
            flags |= FLAG_INITIATOR;
        }
        if self.response {
            flags |= FLAG_RESPONSE;
        }
        out.push(flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&[0; 4]); // length, patched by `finish`
    }
}

/// Reads the IKE header of a datagram (SPIs, exchange, flags) without parsing payloads.
pub fn peek_header(data: &[u8]) -> Result<Header, ParseError> {
    parse_header(data).map(|(h, _)| h)
}

fn parse_header(data: &[u8]) -> Result<(Header, u8), ParseError> {
    let mut r = Reader::new(data);
    let spi_i = r.u64()?;
    let spi_r = r.u64()?;
    let next = r.u8()?;
    let version = r.u8()?;
    if version >> 4 != 2 {
        return Err(ParseError::UnsupportedVersion(version >> 4));
    }
    let exchange = ExchangeType(r.u8()?);
    let flags = r.u8()?;
    let message_id = r.u32()?;
    let length = r.u32()?;
    if usize::try_from(length).ok() != Some(data.len()) {
        return Err(ParseError::BadLength {
            declared: length,
            actual: data.len(),
        });
    }
    let header = Header {
        spi_i,
        spi_r,
        exchange,
        initiator: flags & FLAG_INITIATOR != 0,
        response: flags & FLAG_RESPONSE != 0,
        message_id,
    };
    Ok((header, next))
}

/// Payload type numbers (RFC 7296 §3.2).
pub mod payload_type {
    /// No next payload.
    pub const NONE: u8 = 0;
    /// Security Association.
    pub const SA: u8 = 33;
    /// Key Exchange.
    pub const KE: u8 = 34;
    /// Identification - Initiator.
    pub const IDI: u8 = 35;
    /// Identification - Responder.
    pub const IDR: u8 = 36;
    /// Authentication.
    pub const AUTH: u8 = 39;
    /// Nonce.
    pub const NONCE: u8 = 40;
    /// Notify.
    pub const NOTIFY: u8 = 41;
    /// Delete.
    pub const DELETE: u8 = 42;
    /// Vendor ID.
    pub const VENDOR_ID: u8 = 43;
    /// Traffic Selector - Initiator.
    pub const TSI: u8 = 44;
    /// Traffic Selector - Responder.
    pub const TSR: u8 = 45;
    /// Encrypted and Authenticated.
    pub const SK: u8 = 46;
}

/// Security protocol identifiers used in proposals, notifies and deletes.
pub mod protocol {
    /// The IKE SA itself.
    pub const IKE: u8 = 1;
    /// AH.
    pub const AH: u8 = 2;
    /// ESP.
    pub const ESP: u8 = 3;
}

/// Transform type numbers (RFC 7296 §3.3.2).
pub mod transform_type {
    /// Encryption algorithm.
    pub const ENCR: u8 = 1;
    /// Pseudorandom function.
    pub const PRF: u8 = 2;
    /// Integrity algorithm.
    pub const INTEG: u8 = 3;
    /// Diffie-Hellman group.
    pub const DH: u8 = 4;
    /// Extended sequence numbers.
    pub const ESN: u8 = 5;
}

/// Notify message type (RFC 7296 §3.10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyType(pub u16);

impl NotifyType {
    /// UNSUPPORTED_CRITICAL_PAYLOAD.
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: Self = Self(1);
    /// INVALID_IKE_SPI.
    pub const INVALID_IKE_SPI: Self = Self(4);
    /// INVALID_SYNTAX.
    pub const INVALID_SYNTAX: Self = Self(7);
    /// INVALID_MESSAGE_ID.
    pub const INVALID_MESSAGE_ID: Self = Self(9);
    /// INVALID_SPI.
    pub const INVALID_SPI: Self = Self(11);
    /// NO_PROPOSAL_CHOSEN.
    pub const NO_PROPOSAL_CHOSEN: Self = Self(14);
    /// INVALID_KE_PAYLOAD.
    pub const INVALID_KE_PAYLOAD: Self = Self(17);
    /// AUTHENTICATION_FAILED.
    pub const AUTHENTICATION_FAILED: Self = Self(24);
    /// SINGLE_PAIR_REQUIRED.
    pub const SINGLE_PAIR_REQUIRED: Self = Self(34);
    /// NO_ADDITIONAL_SAS.
    pub const NO_ADDITIONAL_SAS: Self = Self(35);
    /// INTERNAL_ADDRESS_FAILURE.
    pub const INTERNAL_ADDRESS_FAILURE: Self = Self(36);
    /// FAILED_CP_REQUIRED.
    pub const FAILED_CP_REQUIRED: Self = Self(37);
    /// TS_UNACCEPTABLE.
    pub const TS_UNACCEPTABLE: Self = Self(38);
    /// INVALID_SELECTORS.
    pub const INVALID_SELECTORS: Self = Self(39);
    /// TEMPORARY_FAILURE.
    pub const TEMPORARY_FAILURE: Self = Self(43);
    /// CHILD_SA_NOT_FOUND.
    pub const CHILD_SA_NOT_FOUND: Self = Self(44);
    /// INITIAL_CONTACT.
    pub const INITIAL_CONTACT: Self = Self(16384);
    /// SET_WINDOW_SIZE.
    pub const SET_WINDOW_SIZE: Self = Self(16385);
    /// ADDITIONAL_TS_POSSIBLE.
    pub const ADDITIONAL_TS_POSSIBLE: Self = Self(16386);
    /// NAT_DETECTION_SOURCE_IP.
    pub const NAT_DETECTION_SOURCE_IP: Self = Self(16388);
    /// NAT_DETECTION_DESTINATION_IP.
    pub const NAT_DETECTION_DESTINATION_IP: Self = Self(16389);
    /// COOKIE.
    pub const COOKIE: Self = Self(16390);
    /// USE_TRANSPORT_MODE.
    pub const USE_TRANSPORT_MODE: Self = Self(16391);
    /// REKEY_SA.
    pub const REKEY_SA: Self = Self(16393);
    /// ESP_TFC_PADDING_NOT_SUPPORTED.
    pub const ESP_TFC_PADDING_NOT_SUPPORTED: Self = Self(16394);
    /// NON_FIRST_FRAGMENTS_ALSO.
    pub const NON_FIRST_FRAGMENTS_ALSO: Self = Self(16395);

    /// Whether this is an error notification (types below 16384).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

/// One transform of a proposal (RFC 7296 §3.3.2), with its key length attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type (see [`transform_type`]).
    pub kind: u8,
    /// Transform ID.
    pub id: u16,
    /// Key Length attribute in bits, when present.
    pub key_len: Option<u16>,
}

/// One proposal of an SA payload (RFC 7296 §3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1-based).
    pub number: u8,
    /// Protocol ID (see [`protocol`]).
    pub protocol: u8,
    /// SPI (empty in IKE_SA_INIT, 8 octets for IKE rekeys, 4 for ESP).
    pub spi: Vec<u8>,
    /// Transforms, several of one type meaning alternatives.
    pub transforms: Vec<Transform>,
}

/// Identification payload content (RFC 7296 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR.
    Ipv4(Ipv4Addr),
    /// ID_FQDN.
    Fqdn(String),
    /// Any other ID type, kept as raw octets.
    Other {
        /// ID type.
        kind: u8,
        /// Identification data.
        data: Vec<u8>,
    },
}

const ID_IPV4_ADDR: u8 = 1;
const ID_FQDN: u8 = 2;

impl Identity {
    /// The payload body (ID type, reserved, data): the input of the AUTH computation.
    pub fn body(&self) -> Vec<u8> {
        let (kind, data): (u8, &[u8]) = match self {
            Identity::Ipv4(a) => (ID_IPV4_ADDR, &a.octets()),
            Identity::Fqdn(s) => (ID_FQDN, s.as_bytes()),
            Identity::Other { kind, data } => (*kind, data),
        };
        let mut out = vec![kind, 0, 0, 0];
        out.extend_from_slice(data);
        out
    }

    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let kind = r.u8()?;
        r.take(3)?;
        let data = r.rest();
        Ok(match kind {
            ID_IPV4_ADDR => {
                let octets: [u8; 4] = data.try_into().map_err(|_| ParseError::Malformed("ID"))?;
                Identity::Ipv4(Ipv4Addr::from(octets))
            }
            ID_FQDN => match std::str::from_utf8(data) {
                Ok(s) => Identity::Fqdn(s.to_owned()),
                Err(_) => Identity::Other {
                    kind,
                    data: data.to_vec(),
                },
            },
            _ => Identity::Other {
                kind,
                data: data.to_vec(),
            },
        })
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Fqdn(s) => write!(f, "{s}"),
            Identity::Other { kind, data } => write!(f, "id-type-{kind}:{}", hex(data)),
        }
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Notify payload (RFC 7296 §3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol ID (0 when not about an SA).
    pub protocol: u8,
    /// SPI of the SA concerned (usually empty).
    pub spi: Vec<u8>,
    /// Notify message type.
    pub kind: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify not bound to an SA.
    pub fn new(kind: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: 0,
            spi: Vec::new(),
            kind,
            data,
        }
    }
}

/// Delete payload (RFC 7296 §3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Protocol ID: IKE (no SPIs) or ESP/AH.
    pub protocol: u8,
    /// SPIs of the deleted CHILD_SAs (the sender's inbound SPIs).
    pub spis: Vec<u32>,
}

/// TS_IPV4_ADDR_RANGE traffic selector (RFC 7296 §3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol ID (0 = any).
    pub ip_proto: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start: Ipv4Addr,
    /// Last address.
    pub end: Ipv4Addr,
}

const TS_IPV4_ADDR_RANGE: u8 = 7;

impl TrafficSelector {
    /// A selector for every protocol and port of an address range.
    pub fn range(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start,
            end,
        }
    }

    /// The overlap of two selectors, if any.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let ip_proto = match (self.ip_proto, other.ip_proto) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let sel = Self {
            ip_proto,
            start_port: self.start_port.max(other.start_port),
            end_port: self.end_port.min(other.end_port),
            start: self.start.max(other.start),
            end: self.end.min(other.end),
        };
        (sel.start <= sel.end && sel.start_port <= sel.end_port).then_some(sel)
    }

    /// Whether this selector lies entirely inside `other`.
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.intersect(other).as_ref() == Some(self)
    }
}

/// Key Exchange payload (RFC 7296 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchange {
    /// Diffie-Hellman group number.
    pub group: u16,
    /// Public value.
    pub data: Vec<u8>,
}

/// Authentication payload (RFC 7296 §3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Authentication method (2 = shared key MIC).
    pub method: u8,
    /// Authentication data.
    pub data: Vec<u8>,
}

/// AUTH method: Shared Key Message Integrity Code.
pub const AUTH_SHARED_KEY: u8 = 2;

/// A decoded IKEv2 payload (other than Encrypted, which [`Message`] handles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association.
    Sa(Vec<Proposal>),
    /// Key Exchange.
    Ke(KeyExchange),
    /// Identification - Initiator.
    IdI(Identity),
    /// Identification - Responder.
    IdR(Identity),
    /// Authentication.
    Auth(Auth),
    /// Nonce.
    Nonce(Vec<u8>),
    /// Notify.
    Notify(Notify),
    /// Delete.
    Delete(Delete),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// Traffic Selector - Initiator.
    TsI(Vec<TrafficSelector>),
    /// Traffic Selector - Responder.
    TsR(Vec<TrafficSelector>),
}

impl Payload {
    fn kind(&self) -> u8 {
        use payload_type::*;
        match self {
            Payload::Sa(_) => SA,
            Payload::Ke(_) => KE,
            Payload::IdI(_) => IDI,
            Payload::IdR(_) => IDR,
            Payload::Auth(_) => AUTH,
            Payload::Nonce(_) => NONCE,
            Payload::Notify(_) => NOTIFY,
            Payload::Delete(_) => DELETE,
            Payload::VendorId(_) => VENDOR_ID,
            Payload::TsI(_) => TSI,
            Payload::TsR(_) => TSR,
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Sa(proposals) => encode_sa(proposals, out),
            Payload::Ke(ke) => {
                out.extend_from_slice(&ke.group.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ke.data);
            }
            Payload::IdI(id) | Payload::IdR(id) => out.extend_from_slice(&id.body()),
            Payload::Auth(a) => {
                out.extend_from_slice(&[a.method, 0, 0, 0]);
                out.extend_from_slice(&a.data);
            }
            Payload::Nonce(n) | Payload::VendorId(n) => out.extend_from_slice(n),
            Payload::Notify(n) => {
                out.push(n.protocol);
                out.push(len_u8(n.spi.len()));
                out.extend_from_slice(&n.kind.0.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Payload::Delete(d) => {
                out.push(d.protocol);
                out.push(if d.spis.is_empty() { 0 } else { 4 });
                out.extend_from_slice(&len_u16(d.spis.len()).to_be_bytes());
                for spi in &d.spis {
                    out.extend_from_slice(&spi.to_be_bytes());
                }
            }
            Payload::TsI(ts) | Payload::TsR(ts) => {
                out.extend_from_slice(&[len_u8(ts.len()), 0, 0, 0]);
                for t in ts {
                    out.extend_from_slice(&[TS_IPV4_ADDR_RANGE, t.ip_proto, 0, 16]);
                    out.extend_from_slice(&t.start_port.to_be_bytes());
                    out.extend_from_slice(&t.end_port.to_be_bytes());
                    out.extend_from_slice(&t.start.octets());
                    out.extend_from_slice(&t.end.octets());
                }
            }
        }
    }

    /// Decodes a payload body; `Ok(None)` for a non-critical type we do not know.
    fn parse(kind: u8, critical: bool, body: &[u8]) -> Result<Option<Self>, ParseError> {
        use payload_type::*;
        let mut r = Reader::new(body);
        let payload = match kind {
            SA => Payload::Sa(parse_sa(body)?),
            KE => {
                let group = r.u16()?;
                r.take(2)?;
                Payload::Ke(KeyExchange {
                    group,
                    data: r.rest().to_vec(),
                })
            }
            IDI => Payload::IdI(Identity::parse(body)?),
            IDR => Payload::IdR(Identity::parse(body)?),
            AUTH => {
                let method = r.u8()?;
                r.take(3)?;
                Payload::Auth(Auth {
                    method,
                    data: r.rest().to_vec(),
                })
            }
            NONCE => {
                if !(16..=256).contains(&body.len()) {
                    return Err(ParseError::Malformed("Nonce"));
                }
                Payload::Nonce(body.to_vec())
            }
            NOTIFY => {
                let protocol = r.u8()?;
                let spi_len = r.u8()?;
                let kind = NotifyType(r.u16()?);
                let spi = r.take(usize::from(spi_len))?.to_vec();
                Payload::Notify(Notify {
                    protocol,
                    spi,
                    kind,
                    data: r.rest().to_vec(),
                })
            }
            DELETE => {
                let protocol = r.u8()?;
                let spi_len = r.u8()?;
                let count = r.u16()?;
                let spis = match spi_len {
                    0 if count == 0 => Vec::new(),
                    4 => (0..count).map(|_| r.u32()).collect::<Result<_, _>>()?,
                    _ => return Err(ParseError::Malformed("Delete")),
                };
                if !r.is_empty() {
                    return Err(ParseError::Malformed("Delete"));
                }
                Payload::Delete(Delete { protocol, spis })
            }
            VENDOR_ID => Payload::VendorId(body.to_vec()),
            TSI => Payload::TsI(parse_ts(body)?),
            TSR => Payload::TsR(parse_ts(body)?),
            _ if critical => return Err(ParseError::UnsupportedCritical(kind)),
            _ => return Ok(None),
        };
        Ok(Some(payload))
    }
}

fn len_u8(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

fn len_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn encode_sa(proposals: &[Proposal], out: &mut Vec<u8>) {
    for (i, p) in proposals.iter().enumerate() {
        let start = out.len();
        out.push(if i + 1 == proposals.len() { 0 } else { 2 });
        out.push(0);
        out.extend_from_slice(&[0, 0]);
        out.push(p.number);
        out.push(p.protocol);
        out.push(len_u8(p.spi.len()));
        out.push(len_u8(p.transforms.len()));
        out.extend_from_slice(&p.spi);
        for (j, t) in p.transforms.iter().enumerate() {
            let tstart = out.len();
            out.push(if j + 1 == p.transforms.len() { 0 } else { 3 });
            out.push(0);
            out.extend_from_slice(&[0, 0]);
            out.push(t.kind);
            out.push(0);
            out.extend_from_slice(&t.id.to_be_bytes());
            if let Some(bits) = t.key_len {
                out.extend_from_slice(&(0x8000 | ATTR_KEY_LENGTH).to_be_bytes());
                out.extend_from_slice(&bits.to_be_bytes());
            }
            patch_len(out, tstart);
        }
        patch_len(out, start);
    }
}

/// Writes the length of the structure starting at `start` into its octets 2..4.
fn patch_len(out: &mut [u8], start: usize) {
    let len = len_u16(out.len().saturating_sub(start)).to_be_bytes();
    if let Some(field) = out.get_mut(start + 2..start + 4) {
        field.copy_from_slice(&len);
    }
}

const ATTR_KEY_LENGTH: u16 = 14;

fn parse_sa(body: &[u8]) -> Result<Vec<Proposal>, ParseError> {
    let mut r = Reader::new(body);
    let mut proposals = Vec::new();
    loop {
        let last = r.u8()?;
        r.u8()?;
        let len = usize::from(r.u16()?);
        let mut p = Reader::new(r.take(len.checked_sub(4).ok_or(ParseError::Malformed("SA"))?)?);
        let number = p.u8()?;
        let protocol = p.u8()?;
        let spi_len = p.u8()?;
        let count = p.u8()?;
        let spi = p.take(usize::from(spi_len))?.to_vec();
        let mut transforms = Vec::new();
        for _ in 0..count {
            p.u8()?;
            p.u8()?;
            let tlen = usize::from(p.u16()?);
            let mut t =
                Reader::new(p.take(tlen.checked_sub(4).ok_or(ParseError::Malformed("SA"))?)?);
            let kind = t.u8()?;
            t.u8()?;
            let id = t.u16()?;
            let mut key_len = None;
            let mut unknown_attr = false;
            while !t.is_empty() {
                let attr = t.u16()?;
                if attr & 0x8000 != 0 {
                    let value = t.u16()?;
                    if attr & 0x7fff == ATTR_KEY_LENGTH {
                        key_len = Some(value);
                    } else {
                        unknown_attr = true;
                    }
                } else {
                    let alen = usize::from(t.u16()?);
                    t.take(alen)?;
                    unknown_attr = true;
                }
            }
            // RFC 7296 §3.3.6: a transform with an unknown attribute is ignored.
            if !unknown_attr {
                transforms.push(Transform { kind, id, key_len });
            }
        }
        if !p.is_empty() {
            return Err(ParseError::Malformed("SA"));
        }
        proposals.push(Proposal {
            number,
            protocol,
            spi,
            transforms,
        });
        match last {
            0 if r.is_empty() => return Ok(proposals),
            2 => continue,
            _ => return Err(ParseError::Malformed("SA")),
        }
    }
}

fn parse_ts(body: &[u8]) -> Result<Vec<TrafficSelector>, ParseError> {
    let mut r = Reader::new(body);
    let count = r.u8()?;
    r.take(3)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let kind = r.u8()?;
        let ip_proto = r.u8()?;
        let len = usize::from(r.u16()?);
        let mut s = Reader::new(r.take(len.checked_sub(4).ok_or(ParseError::Malformed("TS"))?)?);
        if kind != TS_IPV4_ADDR_RANGE {
            continue; // other families (IPv6) are not ours to narrow into
        }
        let start_port = s.u16()?;
        let end_port = s.u16()?;
        let start = Ipv4Addr::from(s.array::<4>()?);
        let end = Ipv4Addr::from(s.array::<4>()?);
        if !s.is_empty() {
            return Err(ParseError::Malformed("TS"));
        }
        out.push(TrafficSelector {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        });
    }
    if !r.is_empty() {
        return Err(ParseError::Malformed("TS"));
    }
    Ok(out)
}

/// Where the Encrypted payload sits in a parsed datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedPart {
    /// Type of the first payload inside.
    pub first_payload: u8,
    /// Offset of the Encrypted payload's generic header in the datagram.
    pub offset: usize,
}

/// A parsed IKEv2 message: header, clear payloads and the location of its Encrypted payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// IKE header.
    pub header: Header,
    /// Payloads (clear ones, plus the inner ones once decrypted).
    pub payloads: Vec<Payload>,
    /// The Encrypted payload, if the message has one.
    pub encrypted: Option<EncryptedPart>,
}

/// The content of a message's first payload of one variant, e.g. `first!(msg, Payload::Nonce)`.
macro_rules! first {
    ($msg:expr, $variant:path) => {
        $msg.payloads.iter().find_map(|p| match p {
            $variant(content) => Some(content),
            _ => None,
        })
    };
}
pub(crate) use first;

impl Message {
    /// Parses a datagram; the Encrypted payload, if any, is located but not opened.
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        let (header, first) = parse_header(data)?;
        let body = data.get(HEADER_LEN..).ok_or(ParseError::Truncated)?;
        let (payloads, encrypted) = parse_chain(first, body, HEADER_LEN)?;
        Ok(Self {
            header,
            payloads,
            encrypted,
        })
    }

    /// Encodes a message whose payloads all travel in the clear.
    pub fn encode(header: &Header, payloads: &[Payload]) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let first = payloads.first().map_or(payload_type::NONE, Payload::kind);
        header.encode(first, &mut out);
        encode_chain(payloads, payload_type::NONE, &mut out);
        finish(&mut out);
        out
    }

    /// Payloads of one kind, as a filter.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first notify of a type.
    pub fn notify(&self, kind: NotifyType) -> Option<&Notify> {
        self.notifies().find(|n| n.kind == kind)
    }
}

/// Sets the header's length field to the buffer's length.
pub(crate) fn finish(out: &mut [u8]) {
    let len = u32::try_from(out.len()).unwrap_or(u32::MAX).to_be_bytes();
    if let Some(field) = out.get_mut(24..28) {
        field.copy_from_slice(&len);
    }
}

/// Encodes a payload chain; the last payload's next-payload field is `trailing_next`.
pub(crate) fn encode_chain(payloads: &[Payload], trailing_next: u8, out: &mut Vec<u8>) {
    for (i, p) in payloads.iter().enumerate() {
        let start = out.len();
        let next = payloads.get(i + 1).map_or(trailing_next, Payload::kind);
        out.extend_from_slice(&[next, 0, 0, 0]);
        p.encode_body(out);
        patch_len(out, start);
    }
}

/// First payload type of a chain followed by `trailing_next`.
pub(crate) fn chain_first(payloads: &[Payload], trailing_next: u8) -> u8 {
    payloads.first().map_or(trailing_next, Payload::kind)
}

/// Header encoding for messages assembled elsewhere (Encrypted messages).
pub(crate) fn encode_header(header: &Header, first_payload: u8, out: &mut Vec<u8>) {
    header.encode(first_payload, out);
}

/// Parses a payload chain starting with type `first`; `base` is the chain's offset in the datagram.
pub(crate) fn parse_chain(
    first: u8,
    data: &[u8],
    base: usize,
) -> Result<(Vec<Payload>, Option<EncryptedPart>), ParseError> {
    let mut r = Reader::new(data);
    let mut next = first;
    let mut payloads = Vec::new();
    let mut consumed = base;
    while next != payload_type::NONE {
        let kind = next;
        next = r.u8()?;
        let critical = r.u8()? & 0x80 != 0;
        let len = usize::from(r.u16()?);
        let body = r.take(len.checked_sub(4).ok_or(ParseError::Truncated)?)?;
        if kind == payload_type::SK {
            if !r.is_empty() {
                return Err(ParseError::EncryptedNotLast);
            }
            return Ok((
                payloads,
                Some(EncryptedPart {
                    first_payload: next,
                    offset: consumed,
                }),
            ));
        }
        consumed += len;
        if let Some(p) = Payload::parse(kind, critical, body)? {
            payloads.push(p);
        }
    }
    Ok((payloads, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            spi_i: 0x0102030405060708,
            spi_r: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            initiator: true,
            response: false,
            message_id: 0,
        }
    }

    fn all_payloads() -> Vec<Payload> {
        vec![
            Payload::Sa(vec![
                Proposal {
                    number: 1,
                    protocol: protocol::IKE,
                    spi: vec![],
                    transforms: vec![
                        Transform {
                            kind: transform_type::ENCR,
                            id: 12,
                            key_len: Some(128),
                        },
                        Transform {
                            kind: transform_type::PRF,
                            id: 2,
                            key_len: None,
                        },
                        Transform {
                            kind: transform_type::INTEG,
                            id: 2,
                            key_len: None,
                        },
                        Transform {
                            kind: transform_type::DH,
                            id: 14,
                            key_len: None,
                        },
                    ],
                },
                Proposal {
                    number: 2,
                    protocol: protocol::ESP,
                    spi: vec![1, 2, 3, 4],
                    transforms: vec![Transform {
                        kind: transform_type::ESN,
                        id: 0,
                        key_len: None,
                    }],
                },
            ]),
            Payload::Ke(KeyExchange {
                group: 14,
                data: vec![7; 256],
            }),
            Payload::IdI(Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1))),
            Payload::IdR(Identity::Fqdn("gw.example.net".into())),
            Payload::IdR(Identity::Other {
                kind: 11,
                data: vec![1, 2],
            }),
            Payload::Auth(Auth {
                method: AUTH_SHARED_KEY,
                data: vec![9; 20],
            }),
            Payload::Nonce(vec![5; 32]),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                vec![1; 20],
            )),
            Payload::Notify(Notify {
                protocol: protocol::ESP,
                spi: vec![0xde, 0xad, 0xbe, 0xef],
                kind: NotifyType::REKEY_SA,
                data: vec![],
            }),
            Payload::Delete(Delete {
                protocol: protocol::ESP,
                spis: vec![1, 0xffff_ffff],
            }),
            Payload::Delete(Delete {
                protocol: protocol::IKE,
                spis: vec![],
            }),
            Payload::VendorId(b"strait".to_vec()),
            Payload::TsI(vec![TrafficSelector::range(
                Ipv4Addr::new(10, 0, 0, 0),
                Ipv4Addr::new(10, 0, 0, 255),
            )]),
            Payload::TsR(vec![
                TrafficSelector::range(
                    Ipv4Addr::new(0, 0, 0, 0),
                    Ipv4Addr::new(255, 255, 255, 255),
                ),
                TrafficSelector {
                    ip_proto: 6,
                    start_port: 80,
                    end_port: 80,
                    start: Ipv4Addr::new(192, 168, 1, 1),
                    end: Ipv4Addr::new(192, 168, 1, 1),
                },
            ]),
        ]
    }

    #[test]
    fn every_payload_round_trips() {
        let payloads = all_payloads();
        let wire = Message::encode(&header(), &payloads);
        let msg = Message::parse(&wire).expect("parses");
        assert_eq!(msg.header, header());
        assert_eq!(msg.payloads, payloads);
        assert_eq!(msg.encrypted, None);
        assert_eq!(peek_header(&wire), Ok(header()));
    }

    #[test]
    fn header_flags_and_length_are_on_the_wire_as_rfc_7296_says() {
        let h = Header {
            response: true,
            initiator: false,
            message_id: 7,
            ..header()
        };
        let wire = Message::encode(&h, &[Payload::Nonce(vec![0; 16])]);
        assert_eq!(wire.len(), 28 + 4 + 16);
        assert_eq!(wire[16], payload_type::NONCE);
        assert_eq!(wire[17], 0x20);
        assert_eq!(wire[18], 34);
        assert_eq!(wire[19], 0x20);
        assert_eq!(&wire[20..24], &[0, 0, 0, 7]);
        assert_eq!(&wire[24..28], &[0, 0, 0, 48]);
        assert_eq!(&wire[28..32], &[0, 0, 0, 20]);
    }

    #[test]
    fn sa_key_length_attribute_is_tv_encoded() {
        let t = Transform {
            kind: transform_type::ENCR,
            id: 12,
            key_len: Some(256),
        };
        let mut out = Vec::new();
        encode_sa(
            &[Proposal {
                number: 1,
                protocol: 1,
                spi: vec![],
                transforms: vec![t],
            }],
            &mut out,
        );
        assert_eq!(
            out,
            [
                0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0x80, 14, 1, 0
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let wire = Message::encode(&header(), &all_payloads());
        for cut in 0..wire.len() {
            let mut short = wire[..cut].to_vec();
            finish(&mut short);
            assert!(Message::parse(&short).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        let wire = Message::encode(&header(), &all_payloads());
        for i in 0..wire.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut bad = wire.clone();
                bad[i] = v;
                let _ = Message::parse(&bad);
            }
        }
    }

    #[test]
    fn wrong_length_and_version_are_rejected() {
        let mut wire = Message::encode(&header(), &[Payload::Nonce(vec![0; 16])]);
        wire.push(0);
        assert!(matches!(
            Message::parse(&wire),
            Err(ParseError::BadLength { .. })
        ));
        wire.pop();
        wire[17] = 0x10;
        assert_eq!(
            Message::parse(&wire),
            Err(ParseError::UnsupportedVersion(1))
        );
    }

    fn with_raw_payload(kind: u8, flags: u8) -> Vec<u8> {
        let mut out = Vec::new();
        header().encode(kind, &mut out);
        out.extend_from_slice(&[payload_type::NONCE, flags, 0, 6, 0xaa, 0xbb]);
        encode_chain(&[Payload::Nonce(vec![3; 16])], 0, &mut out);
        finish(&mut out);
        out
    }

    #[test]
    fn unknown_payloads_are_skipped_unless_critical() {
        let msg = Message::parse(&with_raw_payload(200, 0)).expect("non-critical skipped");
        assert_eq!(msg.payloads, vec![Payload::Nonce(vec![3; 16])]);
        assert_eq!(
            Message::parse(&with_raw_payload(200, 0x80)),
            Err(ParseError::UnsupportedCritical(200))
        );
    }

    #[test]
    fn encrypted_payload_must_be_last() {
        let mut out = Vec::new();
        header().encode(payload_type::SK, &mut out);
        out.extend_from_slice(&[payload_type::NONCE, 0, 0, 8, 1, 2, 3, 4]);
        encode_chain(&[Payload::Nonce(vec![3; 16])], 0, &mut out);
        finish(&mut out);
        assert_eq!(Message::parse(&out), Err(ParseError::EncryptedNotLast));
        out.truncate(36);
        finish(&mut out);
        let msg = Message::parse(&out).expect("SK last");
        assert_eq!(
            msg.encrypted,
            Some(EncryptedPart {
                first_payload: payload_type::NONCE,
                offset: 28
            })
        );
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for (kind, body) in [
            (payload_type::IDI, vec![1, 0, 0, 0, 10, 0, 0]),
            (payload_type::NONCE, vec![0; 15]),
            (payload_type::DELETE, vec![3, 4, 0, 2, 0, 0, 0, 1]),
            (payload_type::DELETE, vec![3, 3, 0, 1, 0, 0, 1]),
            (
                payload_type::TSI,
                vec![1, 0, 0, 0, 7, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            (payload_type::SA, vec![0, 0, 0, 3]),
            (payload_type::SA, vec![5, 0, 0, 8, 1, 1, 0, 0]),
        ] {
            assert!(
                Payload::parse(kind, false, &body).is_err(),
                "{kind} {body:?}"
            );
        }
    }

    #[test]
    fn selectors_intersect_and_nest() {
        let any =
            TrafficSelector::range(Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 255));
        let net = TrafficSelector::range(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 255));
        let other =
            TrafficSelector::range(Ipv4Addr::new(10, 0, 1, 0), Ipv4Addr::new(10, 0, 1, 255));
        assert_eq!(any.intersect(&net), Some(net));
        assert_eq!(net.intersect(&other), None);
        assert!(net.is_subset_of(&any));
        assert!(!any.is_subset_of(&net));
        let tcp = TrafficSelector { ip_proto: 6, ..net };
        assert_eq!(
            tcp.intersect(&TrafficSelector {
                ip_proto: 17,
                ..net
            }),
            None
        );
        assert_eq!(any.intersect(&tcp), Some(tcp));
    }
}
