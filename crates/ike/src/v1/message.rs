//! ISAKMP (RFC 2408) messages and payloads as IKEv1 (RFC 2409) uses them, parsed without panics.

use std::net::Ipv4Addr;

use crate::v2::{Identity, Ipv4Prefix};
use crate::wire::{Reader, Truncated};

/// Why an ISAKMP message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The data ended before a field or payload did.
    #[error("message truncated")]
    Truncated,
    /// The major version is not 1.
    #[error("unsupported ISAKMP version {0:#x}")]
    UnsupportedVersion(u8),
    /// The header length disagrees with the datagram.
    #[error("length field {declared} does not match datagram of {actual} octets")]
    BadLength {
        /// What the header says.
        declared: u32,
        /// What arrived.
        actual: usize,
    },
    /// A payload's content is malformed.
    #[error("malformed {0} payload")]
    Malformed(&'static str),
}

impl From<Truncated> for ParseError {
    fn from(_: Truncated) -> Self {
        Self::Truncated
    }
}

/// Exchange types (RFC 2408 §3.1, RFC 2409).
pub mod exchange {
    /// Identity protection: main mode.
    pub const MAIN: u8 = 2;
    /// Aggressive mode.
    pub const AGGRESSIVE: u8 = 4;
    /// Informational.
    pub const INFORMATIONAL: u8 = 5;
    /// Quick mode.
    pub const QUICK: u8 = 32;
}

/// Payload types (RFC 2408 §3.1, RFC 3947).
pub mod payload {
    /// Security Association.
    pub const SA: u8 = 1;
    /// Proposal (inside SA).
    pub const PROPOSAL: u8 = 2;
    /// Transform (inside a proposal).
    pub const TRANSFORM: u8 = 3;
    /// Key Exchange.
    pub const KE: u8 = 4;
    /// Identification.
    pub const ID: u8 = 5;
    /// Hash.
    pub const HASH: u8 = 8;
    /// Nonce.
    pub const NONCE: u8 = 10;
    /// Notification.
    pub const NOTIFY: u8 = 11;
    /// Delete.
    pub const DELETE: u8 = 12;
    /// Vendor ID.
    pub const VENDOR_ID: u8 = 13;
    /// NAT-Discovery (RFC 3947).
    pub const NAT_D: u8 = 20;
}

/// Notify message types used here (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
pub mod notify {
    /// INVALID-PAYLOAD-TYPE.
    pub const INVALID_PAYLOAD_TYPE: u16 = 1;
    /// NO-PROPOSAL-CHOSEN.
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    /// PAYLOAD-MALFORMED.
    pub const PAYLOAD_MALFORMED: u16 = 16;
    /// INVALID-ID-INFORMATION.
    pub const INVALID_ID_INFORMATION: u16 = 18;
    /// INVALID-HASH-INFORMATION.
    pub const INVALID_HASH_INFORMATION: u16 = 23;
    /// AUTHENTICATION-FAILED.
    pub const AUTHENTICATION_FAILED: u16 = 24;
    /// INITIAL-CONTACT (IPsec DOI).
    pub const INITIAL_CONTACT: u16 = 24578;
    /// R-U-THERE (RFC 3706).
    pub const R_U_THERE: u16 = 36136;
    /// R-U-THERE-ACK (RFC 3706).
    pub const R_U_THERE_ACK: u16 = 36137;
}

/// Protocol IDs of proposals, notifications and deletes.
pub mod proto {
    /// PROTO_ISAKMP.
    pub const ISAKMP: u8 = 1;
    /// PROTO_IPSEC_ESP.
    pub const ESP: u8 = 3;
}

/// Vendor ID of dead peer detection (RFC 3706).
pub const VID_DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];
/// Vendor ID of NAT traversal, MD5("RFC 3947").
pub const VID_NAT_T: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];

/// The IPsec DOI (RFC 2407).
pub const DOI_IPSEC: u32 = 1;
/// Header flag: the payloads are encrypted.
pub const FLAG_ENCRYPTED: u8 = 1;
const VERSION: u8 = 0x10;
const HEADER_LEN: usize = 28;
const ID_IPV4_ADDR: u8 = 1;
const ID_FQDN: u8 = 2;
const ID_IPV4_ADDR_SUBNET: u8 = 4;

/// The fixed ISAKMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator cookie.
    pub cookie_i: u64,
    /// Responder cookie (0 in the first message).
    pub cookie_r: u64,
    /// Exchange type.
    pub exchange: u8,
    /// Flags (encryption, commit, authentication only).
    pub flags: u8,
    /// Message ID (0 in phase 1).
    pub msg_id: u32,
}

impl Header {
    /// Parses the header of a datagram and checks its version and length.
    pub fn peek(data: &[u8]) -> Result<(Header, u8), ParseError> {
        let mut r = Reader::new(data);
        let cookie_i = u64::from_be_bytes(r.array()?);
        let cookie_r = u64::from_be_bytes(r.array()?);
        let next = r.u8()?;
        let version = r.u8()?;
        if version >> 4 != 1 {
            return Err(ParseError::UnsupportedVersion(version));
        }
        let exchange = r.u8()?;
        let flags = r.u8()?;
        let msg_id = r.u32()?;
        let len = r.u32()?;
        if usize::try_from(len).ok() != Some(data.len()) {
            return Err(ParseError::BadLength {
                declared: len,
                actual: data.len(),
            });
        }
        let header = Header {
            cookie_i,
            cookie_r,
            exchange,
            flags,
            msg_id,
        };
        Ok((header, next))
    }

    /// The 28 header octets for a message of `len` octets whose first payload is `next`.
    pub fn encode(&self, next: u8, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.cookie_i.to_be_bytes());
        out.extend_from_slice(&self.cookie_r.to_be_bytes());
        out.extend_from_slice(&[next, VERSION, self.exchange, self.flags]);
        out.extend_from_slice(&self.msg_id.to_be_bytes());
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        out
    }

    /// Octets of the header.
    pub const LEN: usize = HEADER_LEN;
}

/// One payload: its type and body (without the generic header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Payload type.
    pub kind: u8,
    /// Body octets.
    pub body: Vec<u8>,
}

impl Payload {
    /// A payload of `kind` with `body`.
    pub fn new(kind: u8, body: Vec<u8>) -> Self {
        Self { kind, body }
    }
}

/// Encodes a payload chain (generic headers linked by next-payload); returns the first type too.
pub fn encode_chain(payloads: &[Payload]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(0, |n| n.kind);
        let len = u16::try_from(p.body.len() + 4).unwrap_or(u16::MAX);
        out.push(next);
        out.push(0);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&p.body);
    }
    (payloads.first().map_or(0, |p| p.kind), out)
}

/// A parsed payload chain: the payloads and the raw octets of all payloads after the first
/// (what the quick mode and informational HASH covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Payloads in order.
    pub payloads: Vec<Payload>,
    /// Octets of the chain after the first payload, without trailing padding.
    pub after_first: Vec<u8>,
}

impl Chain {
    /// Parses a chain starting with type `first`; trailing octets after the last payload
    /// (CBC padding) are ignored.
    pub fn parse(first: u8, data: &[u8]) -> Result<Chain, ParseError> {
        let mut r = Reader::new(data);
        let mut kind = first;
        let mut payloads = Vec::new();
        let mut first_end = None;
        let mut consumed = 0usize;
        while kind != 0 {
            let next = r.u8()?;
            r.u8()?;
            let len = usize::from(r.u16()?);
            let body_len = len.checked_sub(4).ok_or(ParseError::Malformed("generic"))?;
            let body = r.take(body_len)?;
            payloads.push(Payload::new(kind, body.to_vec()));
            consumed += len;
            first_end.get_or_insert(consumed);
            kind = next;
        }
        let after_first = data
            .get(first_end.unwrap_or(0)..consumed)
            .ok_or(ParseError::Truncated)?
            .to_vec();
        Ok(Chain {
            payloads,
            after_first,
        })
    }

    /// The body of the first payload of `kind`.
    pub fn get(&self, kind: u8) -> Option<&[u8]> {
        self.all(kind).next()
    }

    /// Bodies of every payload of `kind`.
    pub fn all(&self, kind: u8) -> impl Iterator<Item = &[u8]> {
        self.payloads
            .iter()
            .filter(move |p| p.kind == kind)
            .map(|p| p.body.as_slice())
    }

    /// Parsed notifications.
    pub fn notifies(&self) -> Vec<Notify> {
        self.all(payload::NOTIFY)
            .filter_map(|b| Notify::parse(b).ok())
            .collect()
    }
}

/// A data attribute of a transform (RFC 2408 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// Attribute type (without the format bit).
    pub kind: u16,
    /// Value (variable-length values up to 8 octets).
    pub value: u64,
    /// Encode as variable length (TLV, 4 octets) rather than basic (TV).
    pub variable: bool,
}

impl Attr {
    /// A basic (2-octet) attribute.
    pub fn basic(kind: u16, value: u16) -> Self {
        Self {
            kind,
            value: u64::from(value),
            variable: false,
        }
    }

    /// A variable-length attribute carried in 4 octets.
    pub fn long(kind: u16, value: u32) -> Self {
        Self {
            kind,
            value: u64::from(value),
            variable: true,
        }
    }
}

/// A transform: an ID and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform number.
    pub number: u8,
    /// Transform ID (KEY_IKE, ESP_AES, ...).
    pub id: u8,
    /// Attributes.
    pub attrs: Vec<Attr>,
}

impl Transform {
    /// The value of attribute `kind`.
    pub fn attr(&self, kind: u16) -> Option<u64> {
        self.attrs.iter().find(|a| a.kind == kind).map(|a| a.value)
    }
}

/// A proposal: protocol, SPI and alternative transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number.
    pub number: u8,
    /// Protocol ID.
    pub protocol: u8,
    /// SPI (empty for ISAKMP, 4 octets for ESP).
    pub spi: Vec<u8>,
    /// Alternative transforms, most preferred first.
    pub transforms: Vec<Transform>,
}

/// SA payload body with the IPsec DOI and SIT_IDENTITY_ONLY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa {
    /// Proposals.
    pub proposals: Vec<Proposal>,
}

impl Sa {
    /// Parses an SA payload body.
    pub fn parse(body: &[u8]) -> Result<Sa, ParseError> {
        let mut r = Reader::new(body);
        if r.u32()? != DOI_IPSEC {
            return Err(ParseError::Malformed("SA DOI"));
        }
        r.u32()?;
        let mut proposals = Vec::new();
        let mut next = payload::PROPOSAL;
        while next == payload::PROPOSAL {
            next = r.u8()?;
            r.u8()?;
            let len = usize::from(r.u16()?);
            let mut p = Reader::new(
                r.take(
                    len.checked_sub(4)
                        .ok_or(ParseError::Malformed("proposal"))?,
                )?,
            );
            let number = p.u8()?;
            let protocol = p.u8()?;
            let spi_len = usize::from(p.u8()?);
            let count = p.u8()?;
            let spi = p.take(spi_len)?.to_vec();
            let mut transforms = Vec::new();
            for _ in 0..count {
                p.u8()?;
                p.u8()?;
                let tlen = usize::from(p.u16()?);
                let t = p.take(
                    tlen.checked_sub(4)
                        .ok_or(ParseError::Malformed("transform"))?,
                )?;
                transforms.push(parse_transform(t)?);
            }
            proposals.push(Proposal {
                number,
                protocol,
                spi,
                transforms,
            });
        }
        if next != 0 {
            return Err(ParseError::Malformed("SA"));
        }
        Ok(Sa { proposals })
    }

    /// Encodes the SA payload body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&DOI_IPSEC.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
        for (i, p) in self.proposals.iter().enumerate() {
            let mut body = vec![
                p.number,
                p.protocol,
                u8::try_from(p.spi.len()).unwrap_or(0),
                u8::try_from(p.transforms.len()).unwrap_or(0),
            ];
            body.extend_from_slice(&p.spi);
            for (j, t) in p.transforms.iter().enumerate() {
                let mut tb = vec![t.number, t.id, 0, 0];
                for a in &t.attrs {
                    if a.variable {
                        tb.extend_from_slice(&a.kind.to_be_bytes());
                        tb.extend_from_slice(&4u16.to_be_bytes());
                        tb.extend_from_slice(
                            &u32::try_from(a.value).unwrap_or(u32::MAX).to_be_bytes(),
                        );
                    } else {
                        tb.extend_from_slice(&(a.kind | 0x8000).to_be_bytes());
                        tb.extend_from_slice(
                            &u16::try_from(a.value).unwrap_or(u16::MAX).to_be_bytes(),
                        );
                    }
                }
                let next = if j + 1 < p.transforms.len() {
                    payload::TRANSFORM
                } else {
                    0
                };
                push_generic(&mut body, next, &tb);
            }
            let next = if i + 1 < self.proposals.len() {
                payload::PROPOSAL
            } else {
                0
            };
            push_generic(&mut out, next, &body);
        }
        out
    }
}

fn push_generic(out: &mut Vec<u8>, next: u8, body: &[u8]) {
    out.extend_from_slice(&[next, 0]);
    out.extend_from_slice(
        &u16::try_from(body.len() + 4)
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(body);
}

fn parse_transform(data: &[u8]) -> Result<Transform, ParseError> {
    let mut r = Reader::new(data);
    let number = r.u8()?;
    let id = r.u8()?;
    r.u16()?;
    let mut attrs = Vec::new();
    while !r.is_empty() {
        let kind = r.u16()?;
        let raw = r.u16()?;
        let attr = if kind & 0x8000 != 0 {
            Attr::basic(kind & 0x7fff, raw)
        } else {
            let v = r.take(usize::from(raw))?;
            if v.len() > 8 {
                return Err(ParseError::Malformed("attribute"));
            }
            let value = v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            Attr {
                kind,
                value,
                variable: true,
            }
        };
        attrs.push(attr);
    }
    Ok(Transform { number, id, attrs })
}

/// Identification payload body (RFC 2407 §4.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    /// ID type.
    pub kind: u8,
    /// IP protocol (0 = any).
    pub protocol: u8,
    /// Port (0 = any).
    pub port: u16,
    /// Identification data.
    pub data: Vec<u8>,
}

impl Id {
    /// A phase 1 identity (protocol and port zero).
    pub fn identity(id: &Identity) -> Self {
        // The IKEv2 body is type, three reserved octets, data: the same layout with zeros.
        let body = id.body();
        Id {
            kind: body.first().copied().unwrap_or(0),
            protocol: 0,
            port: 0,
            data: body.get(4..).unwrap_or_default().to_vec(),
        }
    }

    /// A quick mode ID_IPV4_ADDR_SUBNET for every protocol and port.
    pub fn subnet(p: Ipv4Prefix) -> Self {
        let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
        let addr = u32::from(p.addr) & mask;
        let mut data = addr.to_be_bytes().to_vec();
        data.extend_from_slice(&mask.to_be_bytes());
        Id {
            kind: ID_IPV4_ADDR_SUBNET,
            protocol: 0,
            port: 0,
            data,
        }
    }

    /// Parses an ID payload body.
    pub fn parse(body: &[u8]) -> Result<Id, ParseError> {
        let mut r = Reader::new(body);
        Ok(Id {
            kind: r.u8()?,
            protocol: r.u8()?,
            port: r.u16()?,
            data: r.rest().to_vec(),
        })
    }

    /// Encodes the ID payload body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind, self.protocol];
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// The phase 1 identity this names.
    pub fn to_identity(&self) -> Identity {
        match (self.kind, <[u8; 4]>::try_from(self.data.as_slice())) {
            (ID_IPV4_ADDR, Ok(a)) => Identity::Ipv4(Ipv4Addr::from(a)),
            (ID_FQDN, _) => match std::str::from_utf8(&self.data) {
                Ok(s) => Identity::Fqdn(s.to_owned()),
                Err(_) => self.other(),
            },
            _ => self.other(),
        }
    }

    fn other(&self) -> Identity {
        Identity::Other {
            kind: self.kind,
            data: self.data.clone(),
        }
    }

    /// The prefix an ID_IPV4_ADDR or ID_IPV4_ADDR_SUBNET with a contiguous mask names.
    pub fn to_prefix(&self) -> Option<Ipv4Prefix> {
        let mut r = Reader::new(&self.data);
        let addr = Ipv4Addr::from(r.array::<4>().ok()?);
        match self.kind {
            ID_IPV4_ADDR if r.is_empty() => Some(Ipv4Prefix::new(addr, 32)),
            ID_IPV4_ADDR_SUBNET => {
                let mask = r.u32().ok()?;
                let len = mask.leading_ones();
                (r.is_empty() && mask.count_ones() == len)
                    .then(|| Ipv4Prefix::new(addr, u8::try_from(len).unwrap_or(32)))
            }
            _ => None,
        }
    }
}

/// Notification payload body (RFC 2408 §3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol ID.
    pub protocol: u8,
    /// SPI (cookies for ISAKMP).
    pub spi: Vec<u8>,
    /// Notify message type.
    pub kind: u16,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// Parses a notification body.
    pub fn parse(body: &[u8]) -> Result<Notify, ParseError> {
        let mut r = Reader::new(body);
        r.u32()?;
        let protocol = r.u8()?;
        let spi_len = usize::from(r.u8()?);
        let kind = r.u16()?;
        let spi = r.take(spi_len)?.to_vec();
        Ok(Notify {
            protocol,
            spi,
            kind,
            data: r.rest().to_vec(),
        })
    }

    /// Encodes the notification body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = DOI_IPSEC.to_be_bytes().to_vec();
        out.extend_from_slice(&[self.protocol, u8::try_from(self.spi.len()).unwrap_or(0)]);
        out.extend_from_slice(&self.kind.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        out
    }
}

/// Delete payload body (RFC 2408 §3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Protocol ID.
    pub protocol: u8,
    /// SPIs (16-octet cookie pairs for ISAKMP, 4 octets for ESP).
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    /// Parses a delete body.
    pub fn parse(body: &[u8]) -> Result<Delete, ParseError> {
        let mut r = Reader::new(body);
        r.u32()?;
        let protocol = r.u8()?;
        let spi_len = usize::from(r.u8()?);
        let count = r.u16()?;
        let spis = (0..count)
            .map(|_| r.take(spi_len).map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()?;
        Ok(Delete { protocol, spis })
    }

    /// Encodes the delete body; every SPI must have the length of the first.
    pub fn encode(&self) -> Vec<u8> {
        let spi_len = self.spis.first().map_or(0, Vec::len);
        let mut out = DOI_IPSEC.to_be_bytes().to_vec();
        out.extend_from_slice(&[self.protocol, u8::try_from(spi_len).unwrap_or(0)]);
        out.extend_from_slice(&u16::try_from(self.spis.len()).unwrap_or(0).to_be_bytes());
        for s in &self.spis {
            out.extend_from_slice(s);
        }
        out
    }
}

/// Parses a whole datagram whose payloads are not encrypted (what the fuzz target drives);
/// an encrypted message yields only its header.
pub fn parse(data: &[u8]) -> Result<(Header, Option<Chain>), ParseError> {
    let (header, next) = Header::peek(data)?;
    if header.flags & FLAG_ENCRYPTED != 0 {
        return Ok((header, None));
    }
    let chain = Chain::parse(next, data.get(HEADER_LEN..).unwrap_or_default())?;
    for p in &chain.payloads {
        match p.kind {
            payload::SA => drop(Sa::parse(&p.body)?),
            payload::ID => drop(Id::parse(&p.body)?.to_prefix()),
            payload::NOTIFY => drop(Notify::parse(&p.body)?),
            payload::DELETE => drop(Delete::parse(&p.body)?),
            _ => {}
        }
    }
    Ok((header, Some(chain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let sa = Sa {
            proposals: vec![Proposal {
                number: 1,
                protocol: proto::ESP,
                spi: vec![1, 2, 3, 4],
                transforms: vec![Transform {
                    number: 1,
                    id: 12,
                    attrs: vec![Attr::basic(4, 1), Attr::long(2, 28800)],
                }],
            }],
        };
        let header = Header {
            cookie_i: 0x0102_0304_0506_0708,
            cookie_r: 0,
            exchange: exchange::MAIN,
            flags: 0,
            msg_id: 0,
        };
        let notify = Notify {
            protocol: proto::ISAKMP,
            spi: vec![9; 16],
            kind: notify::R_U_THERE,
            data: 7u32.to_be_bytes().to_vec(),
        };
        let delete = Delete {
            protocol: proto::ESP,
            spis: vec![vec![0, 0, 1, 0], vec![0, 0, 2, 0]],
        };
        let id = Id::subnet(Ipv4Prefix::new(Ipv4Addr::new(10, 1, 2, 0), 24));
        crate::v1::keys::plain(
            &header,
            &[
                Payload::new(payload::SA, sa.encode()),
                Payload::new(payload::ID, id.encode()),
                Payload::new(payload::NOTIFY, notify.encode()),
                Payload::new(payload::DELETE, delete.encode()),
                Payload::new(payload::VENDOR_ID, VID_DPD.to_vec()),
            ],
        )
    }

    #[test]
    fn payloads_round_trip() {
        let data = sample();
        let (header, chain) = parse(&data).unwrap();
        assert_eq!(header.cookie_i, 0x0102_0304_0506_0708);
        let chain = chain.unwrap();
        let kinds: Vec<u8> = chain.payloads.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [1, 5, 11, 12, 13]);
        let sa = Sa::parse(chain.get(payload::SA).unwrap()).unwrap();
        let t = &sa.proposals[0].transforms[0];
        assert_eq!((t.id, t.attr(4), t.attr(2)), (12, Some(1), Some(28800)));
        let id = Id::parse(chain.get(payload::ID).unwrap()).unwrap();
        assert_eq!(
            id.to_prefix(),
            Some(Ipv4Prefix::new(Ipv4Addr::new(10, 1, 2, 0), 24))
        );
        assert_eq!(chain.notifies()[0].data, 7u32.to_be_bytes());
        let d = Delete::parse(chain.get(payload::DELETE).unwrap()).unwrap();
        assert_eq!(d.spis.len(), 2);
        // The HASH of quick mode covers everything after the first payload, headers included.
        assert_eq!(
            chain.after_first.len(),
            data.len() - Header::LEN - 4 - sa.encode().len()
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let data = sample();
        for cut in 0..data.len() {
            let mut short = data[..cut].to_vec();
            // Keep the length field honest so the payload parsers see the truncation.
            if short.len() >= Header::LEN {
                let len = u32::try_from(short.len()).unwrap().to_be_bytes();
                short[24..28].copy_from_slice(&len);
            }
            assert!(parse(&short).is_err(), "prefix of {cut} octets parsed");
        }
        for i in Header::LEN..data.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut bad = data.clone();
                bad[i] = v;
                let _ = parse(&bad);
            }
        }
        let mut v2 = data.clone();
        v2[17] = 0x20;
        assert_eq!(parse(&v2), Err(ParseError::UnsupportedVersion(0x20)));
        let mut long = data;
        long.push(0);
        assert!(matches!(parse(&long), Err(ParseError::BadLength { .. })));
    }

    #[test]
    fn odd_fields_are_rejected() {
        // A generic header shorter than itself, a proposal claiming more transforms than it has,
        // an attribute longer than 8 octets, a subnet with a non-contiguous mask.
        assert_eq!(
            Chain::parse(payload::NONCE, &[0, 0, 0, 3]),
            Err(ParseError::Malformed("generic"))
        );
        let mut sa = DOI_IPSEC.to_be_bytes().to_vec();
        sa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 8, 1, 1, 0, 5]);
        assert_eq!(Sa::parse(&sa), Err(ParseError::Truncated));
        assert_eq!(
            parse_transform(&[1, 1, 0, 0, 0, 2, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(ParseError::Malformed("attribute"))
        );
        let id = Id {
            kind: ID_IPV4_ADDR_SUBNET,
            protocol: 0,
            port: 0,
            data: vec![10, 0, 0, 0, 255, 0, 255, 0],
        };
        assert_eq!(id.to_prefix(), None);
        assert_eq!(
            Delete::parse(&[0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4]),
            Err(ParseError::Truncated)
        );
    }
}
