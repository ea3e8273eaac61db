//! BGP-4 wire codec for the messages an IPv4-unicast eBGP speaker needs.
//!
//! Decoding works on untrusted bytes and never panics: every error maps to the NOTIFICATION
//! (code, subcode, data) RFC 4271 §6, RFC 7313 and RFC 6793 prescribe, and UPDATE attribute
//! errors that RFC 7606 downgrades become [`DecodeError::TreatAsWithdraw`].

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Length of the fixed BGP message header.
pub const HEADER_LEN: usize = 19;
/// Largest BGP message without the extended-message capability.
pub const MAX_LEN: usize = 4096;
/// The 2-byte placeholder ASN of RFC 6793 used when the real ASN does not fit.
pub const AS_TRANS: u16 = 23456;

const TYPE_OPEN: u8 = 1;
const TYPE_UPDATE: u8 = 2;
const TYPE_NOTIFICATION: u8 = 3;
const TYPE_KEEPALIVE: u8 = 4;
const TYPE_ROUTE_REFRESH: u8 = 5;

const PARAM_CAPABILITIES: u8 = 2;
const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_FOUR_OCTET_AS: u8 = 65;

const ATTR_ORIGIN: u8 = 1;
const ATTR_AS_PATH: u8 = 2;
const ATTR_NEXT_HOP: u8 = 3;
const ATTR_MED: u8 = 4;
const ATTR_LOCAL_PREF: u8 = 5;
const ATTR_ATOMIC_AGGREGATE: u8 = 6;
const ATTR_AGGREGATOR: u8 = 7;
const ATTR_MP_REACH: u8 = 14;
const ATTR_MP_UNREACH: u8 = 15;
const ATTR_AS4_PATH: u8 = 17;

const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_TRANSITIVE: u8 = 0x40;
const FLAG_EXTENDED: u8 = 0x10;

const SEG_AS_SET: u8 = 1;
const SEG_AS_SEQUENCE: u8 = 2;

/// Address family identifier of IPv4.
pub const AFI_IPV4: u16 = 1;
/// Subsequent address family identifier of unicast.
pub const SAFI_UNICAST: u8 = 1;

/// Prefixes per UPDATE we build, so that every message stays under [`MAX_LEN`].
const PREFIXES_PER_UPDATE: usize = 700;

/// An IPv4 prefix with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: Ipv4Addr,
    len: u8,
}

/// Why a prefix could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The length is above 32.
    #[error("prefix length {0} is above 32")]
    Length(u8),
    /// The text is not `a.b.c.d/len`.
    #[error("not an IPv4 prefix: {0:?}")]
    Syntax(String),
}

impl Prefix {
    /// Builds a prefix, clearing the host bits of `addr`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length(len));
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        Ok(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        let bytes = usize::from(self.len).div_ceil(8);
        out.extend_from_slice(&self.addr.octets()[..bytes]);
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax(s.to_owned());
        let (addr, len) = s.split_once('/').ok_or_else(syntax)?;
        Prefix::new(
            addr.parse().map_err(|_| syntax())?,
            len.parse().map_err(|_| syntax())?,
        )
    }
}

/// A NOTIFICATION: error code, subcode and diagnostic data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code (RFC 4271 §4.5).
    pub code: u8,
    /// Error subcode, meaning depends on the code.
    pub subcode: u8,
    /// Diagnostic data.
    pub data: Vec<u8>,
}

impl Notification {
    /// Error code of message header errors.
    pub const HEADER: u8 = 1;
    /// Error code of OPEN message errors.
    pub const OPEN: u8 = 2;
    /// Error code of UPDATE message errors.
    pub const UPDATE: u8 = 3;
    /// Error code of hold timer expiry.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Error code of finite state machine errors.
    pub const FSM: u8 = 5;
    /// Error code of Cease.
    pub const CEASE: u8 = 6;
    /// Error code of ROUTE-REFRESH message errors (RFC 7313).
    pub const ROUTE_REFRESH: u8 = 7;

    /// A NOTIFICATION with the given code, subcode and data.
    pub fn new(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Self {
        Self {
            code,
            subcode,
            data: data.into(),
        }
    }

    fn bad_length(len: usize) -> Self {
        Self::new(
            Self::HEADER,
            2,
            u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes(),
        )
    }

    fn update(subcode: u8, data: &[u8]) -> Self {
        Self::new(Self::UPDATE, subcode, data)
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NOTIFICATION {}/{}", self.code, self.subcode)
    }
}

/// A capability carried in OPEN (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Multiprotocol extensions for one AFI/SAFI (RFC 4760).
    Multiprotocol {
        /// Address family.
        afi: u16,
        /// Subsequent address family.
        safi: u8,
    },
    /// Route refresh (RFC 2918).
    RouteRefresh,
    /// Support for 4-octet AS numbers, with the speaker's ASN (RFC 6793).
    FourOctetAs(u32),
    /// Any other capability, kept verbatim.
    Other {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// BGP version (4).
    pub version: u8,
    /// The 2-byte "My Autonomous System" field.
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities from the optional parameters.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The sender's ASN: the 4-octet capability when present, otherwise `my_as`.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The ASN from the 4-octet AS capability, if the sender supports 4-octet ASNs.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// Whether the sender announced `cap`.
    pub fn has(&self, cap: &Capability) -> bool {
        self.capabilities.contains(cap)
    }
}

/// ORIGIN attribute values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Learned from an interior protocol.
    Igp,
    /// Learned from EGP.
    Egp,
    /// Learned some other way.
    Incomplete,
}

/// The path attributes this speaker reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH flattened to its AS numbers, first hop first (AS4_PATH merged in for 2-byte peers).
    pub as_path: Vec<u32>,
    /// NEXT_HOP.
    pub next_hop: Ipv4Addr,
}

/// An UPDATE message for IPv4 unicast.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn routes.
    pub withdrawn: Vec<Prefix>,
    /// Path attributes; `None` when the message carries no NLRI.
    pub attributes: Option<PathAttributes>,
    /// Announced prefixes.
    pub nlri: Vec<Prefix>,
}

/// A decoded BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH for one AFI/SAFI.
    RouteRefresh {
        /// Address family.
        afi: u16,
        /// Subsequent address family.
        safi: u8,
    },
}

/// Why a message could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The session must be reset with this NOTIFICATION.
    #[error("malformed message: {0}")]
    Reset(Notification),
    /// RFC 7606: the UPDATE's attributes are malformed; its NLRI (listed here along with its
    /// withdrawn routes) must be treated as withdrawn and the session kept.
    #[error("UPDATE treated as withdraw: {cause}")]
    TreatAsWithdraw {
        /// Every prefix the UPDATE mentioned.
        withdrawn: Vec<Prefix>,
        /// The error RFC 4271 would have sent.
        cause: Notification,
    },
}

/// Bounds-checked reader over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks the header at the start of `buf` and returns the full message length once all of it
/// has arrived (`None` while more bytes are needed).
pub fn frame(buf: &[u8]) -> Result<Option<usize>, Notification> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut r = Reader(header);
    let marker = r.take(16).unwrap_or_default();
    if marker.iter().any(|&b| b != 0xff) {
        return Err(Notification::new(Notification::HEADER, 1, []));
    }
    let len = usize::from(r.u16().unwrap_or_default());
    let kind = r.u8().unwrap_or_default();
    let min = match kind {
        TYPE_OPEN => 29,
        TYPE_UPDATE => 23,
        TYPE_NOTIFICATION => 21,
        TYPE_KEEPALIVE | TYPE_ROUTE_REFRESH => HEADER_LEN,
        _ => return Err(Notification::new(Notification::HEADER, 3, [kind])),
    };
    if len < min || len > MAX_LEN || (kind == TYPE_KEEPALIVE && len != HEADER_LEN) {
        return Err(Notification::bad_length(len));
    }
    Ok((buf.len() >= len).then_some(len))
}

impl Message {
    /// Decodes the message at the start of `msg` (bytes after its declared length are ignored;
    /// a message cut short is an error); `four_octet` says whether
    /// AS numbers in AS_PATH are 4 bytes (both sides announced RFC 6793 support).
    pub fn decode(msg: &[u8], four_octet: bool) -> Result<Message, DecodeError> {
        let reset = |n: Notification| DecodeError::Reset(n);
        let len = frame(msg)
            .map_err(reset)?
            .ok_or_else(|| reset(Notification::bad_length(msg.len())))?;
        let msg = msg.get(..len).unwrap_or_default();
        let kind = msg.get(18).copied().unwrap_or_default();
        let body = msg.get(HEADER_LEN..).unwrap_or_default();
        match kind {
            TYPE_OPEN => decode_open(body).map(Message::Open).map_err(reset),
            TYPE_UPDATE => decode_update(body, four_octet).map(Message::Update),
            TYPE_NOTIFICATION => {
                let mut r = Reader(body);
                let code = r.u8().unwrap_or_default();
                let subcode = r.u8().unwrap_or_default();
                Ok(Message::Notification(Notification::new(code, subcode, r.0)))
            }
            TYPE_KEEPALIVE => Ok(Message::Keepalive),
            _ => {
                let mut r = Reader(body);
                match (r.u16(), r.u8(), r.u8(), r.is_empty()) {
                    (Some(afi), Some(_reserved), Some(safi), true) => {
                        Ok(Message::RouteRefresh { afi, safi })
                    }
                    _ => Err(reset(Notification::new(
                        Notification::ROUTE_REFRESH,
                        1,
                        msg,
                    ))),
                }
            }
        }
    }

    /// Encodes the message with its header. UPDATEs must fit in one message (see [`encode_updates`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0xff; 16];
        out.extend_from_slice(&[0, 0, 0]);
        let kind = match self {
            Message::Open(open) => {
                encode_open(open, &mut out);
                TYPE_OPEN
            }
            Message::Update(update) => {
                encode_update(update, true, &mut out);
                TYPE_UPDATE
            }
            Message::Notification(n) => {
                out.extend_from_slice(&[n.code, n.subcode]);
                out.extend_from_slice(&n.data);
                TYPE_NOTIFICATION
            }
            Message::Keepalive => TYPE_KEEPALIVE,
            Message::RouteRefresh { afi, safi } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.extend_from_slice(&[0, *safi]);
                TYPE_ROUTE_REFRESH
            }
        };
        finish(out, kind)
    }
}

fn finish(mut out: Vec<u8>, kind: u8) -> Vec<u8> {
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    out[16..19].copy_from_slice(&[len[0], len[1], kind]);
    out
}

/// Encodes UPDATEs withdrawing `withdrawn` and announcing `announced` with `attributes`, split
/// so that every message fits in [`MAX_LEN`]. `four_octet` selects the AS_PATH encoding.
pub fn encode_updates(
    withdrawn: &[Prefix],
    announced: &[Prefix],
    attributes: &PathAttributes,
    four_octet: bool,
) -> Vec<Vec<u8>> {
    let withdrawals = withdrawn.chunks(PREFIXES_PER_UPDATE).map(|w| Update {
        withdrawn: w.to_vec(),
        ..Update::default()
    });
    let announcements = announced.chunks(PREFIXES_PER_UPDATE).map(|n| Update {
        withdrawn: Vec::new(),
        attributes: Some(attributes.clone()),
        nlri: n.to_vec(),
    });
    withdrawals
        .chain(announcements)
        .map(|u| {
            let mut out = vec![0xff; 16];
            out.extend_from_slice(&[0, 0, 0]);
            encode_update(&u, four_octet, &mut out);
            finish(out, TYPE_UPDATE)
        })
        .collect()
}

fn encode_open(open: &Open, out: &mut Vec<u8>) {
    out.push(open.version);
    out.extend_from_slice(&open.my_as.to_be_bytes());
    out.extend_from_slice(&open.hold_time.to_be_bytes());
    out.extend_from_slice(&open.bgp_id.octets());
    let mut params = Vec::new();
    for cap in &open.capabilities {
        let (code, value) = match cap {
            Capability::Multiprotocol { afi, safi } => {
                let a = afi.to_be_bytes();
                (CAP_MULTIPROTOCOL, vec![a[0], a[1], 0, *safi])
            }
            Capability::RouteRefresh => (CAP_ROUTE_REFRESH, Vec::new()),
            Capability::FourOctetAs(asn) => (CAP_FOUR_OCTET_AS, asn.to_be_bytes().to_vec()),
            Capability::Other { code, value } => (*code, value.clone()),
        };
        let value_len = u8::try_from(value.len()).unwrap_or(u8::MAX);
        params.extend_from_slice(&[
            PARAM_CAPABILITIES,
            value_len.saturating_add(2),
            code,
            value_len,
        ]);
        params.extend_from_slice(&value);
    }
    out.push(u8::try_from(params.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&params);
}

fn decode_open(body: &[u8]) -> Result<Open, Notification> {
    let mut r = Reader(body);
    let short = || Notification::bad_length(HEADER_LEN + body.len());
    let version = r.u8().ok_or_else(short)?;
    if version != 4 {
        return Err(Notification::new(Notification::OPEN, 1, 4u16.to_be_bytes()));
    }
    let my_as = r.u16().ok_or_else(short)?;
    let hold_time = r.u16().ok_or_else(short)?;
    let bgp_id = Ipv4Addr::from(r.u32().ok_or_else(short)?);
    let params_len = usize::from(r.u8().ok_or_else(short)?);
    let malformed = || Notification::new(Notification::OPEN, 0, []);
    let params = r.take(params_len).ok_or_else(malformed)?;
    if !r.is_empty() {
        return Err(malformed());
    }
    let mut capabilities = Vec::new();
    let mut p = Reader(params);
    while !p.is_empty() {
        let kind = p.u8().ok_or_else(malformed)?;
        let len = usize::from(p.u8().ok_or_else(malformed)?);
        let value = p.take(len).ok_or_else(malformed)?;
        if kind != PARAM_CAPABILITIES {
            return Err(Notification::new(Notification::OPEN, 4, []));
        }
        let mut c = Reader(value);
        while !c.is_empty() {
            let code = c.u8().ok_or_else(malformed)?;
            let len = usize::from(c.u8().ok_or_else(malformed)?);
            let value = c.take(len).ok_or_else(malformed)?;
            let mut v = Reader(value);
            let cap = match (code, len) {
                (CAP_MULTIPROTOCOL, 4) => {
                    let afi = v.u16().unwrap_or_default();
                    let safi = v.u16().unwrap_or_default().to_be_bytes()[1];
                    Capability::Multiprotocol { afi, safi }
                }
                (CAP_ROUTE_REFRESH, 0) => Capability::RouteRefresh,
                (CAP_FOUR_OCTET_AS, 4) => Capability::FourOctetAs(v.u32().unwrap_or_default()),
                (CAP_MULTIPROTOCOL | CAP_ROUTE_REFRESH | CAP_FOUR_OCTET_AS, _) => {
                    return Err(malformed());
                }
                _ => Capability::Other {
                    code,
                    value: value.to_vec(),
                },
            };
            capabilities.push(cap);
        }
    }
    Ok(Open {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

fn encode_update(update: &Update, four_octet: bool, out: &mut Vec<u8>) {
    let mut withdrawn = Vec::new();
    update
        .withdrawn
        .iter()
        .for_each(|p| p.encode(&mut withdrawn));
    out.extend_from_slice(
        &u16::try_from(withdrawn.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&withdrawn);
    let mut attrs = Vec::new();
    if let Some(a) = &update.attributes {
        let origin = match a.origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        };
        push_attr(&mut attrs, FLAG_TRANSITIVE, ATTR_ORIGIN, &[origin]);
        let needs_as4 = !four_octet && a.as_path.iter().any(|&asn| asn > u32::from(u16::MAX));
        push_attr(
            &mut attrs,
            FLAG_TRANSITIVE,
            ATTR_AS_PATH,
            &as_path_value(&a.as_path, four_octet),
        );
        push_attr(
            &mut attrs,
            FLAG_TRANSITIVE,
            ATTR_NEXT_HOP,
            &a.next_hop.octets(),
        );
        if needs_as4 {
            push_attr(
                &mut attrs,
                FLAG_OPTIONAL | FLAG_TRANSITIVE,
                ATTR_AS4_PATH,
                &as_path_value(&a.as_path, true),
            );
        }
    }
    out.extend_from_slice(&u16::try_from(attrs.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&attrs);
    update.nlri.iter().for_each(|p| p.encode(out));
}

fn as_path_value(path: &[u32], four_octet: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for segment in path.chunks(255) {
        v.extend_from_slice(&[
            SEG_AS_SEQUENCE,
            u8::try_from(segment.len()).unwrap_or(u8::MAX),
        ]);
        for &asn in segment {
            if four_octet {
                v.extend_from_slice(&asn.to_be_bytes());
            } else {
                v.extend_from_slice(&u16::try_from(asn).unwrap_or(AS_TRANS).to_be_bytes());
            }
        }
    }
    v
}

fn push_attr(out: &mut Vec<u8>, flags: u8, kind: u8, value: &[u8]) {
    match u8::try_from(value.len()) {
        Ok(len) => out.extend_from_slice(&[flags, kind, len]),
        Err(_) => {
            out.extend_from_slice(&[flags | FLAG_EXTENDED, kind]);
            out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}

fn decode_prefixes(bytes: &[u8]) -> Option<Vec<Prefix>> {
    let mut r = Reader(bytes);
    let mut prefixes = Vec::new();
    while !r.is_empty() {
        let len = r.u8()?;
        if len > 32 {
            return None;
        }
        let mut octets = [0u8; 4];
        let raw = r.take(usize::from(len).div_ceil(8))?;
        octets.get_mut(..raw.len())?.copy_from_slice(raw);
        prefixes.push(Prefix::new(Ipv4Addr::from(octets), len).ok()?);
    }
    Some(prefixes)
}

fn decode_as_path(value: &[u8], four_octet: bool) -> Option<Vec<u32>> {
    let mut r = Reader(value);
    let mut path = Vec::new();
    while !r.is_empty() {
        let kind = r.u8()?;
        let count = r.u8()?;
        if !matches!(kind, SEG_AS_SET | SEG_AS_SEQUENCE) || count == 0 {
            return None;
        }
        for _ in 0..count {
            path.push(if four_octet {
                r.u32()?
            } else {
                u32::from(r.u16()?)
            });
        }
    }
    Some(path)
}

fn decode_update(body: &[u8], four_octet: bool) -> Result<Update, DecodeError> {
    let mut r = Reader(body);
    let list_error = || DecodeError::Reset(Notification::update(1, &[]));
    let withdrawn_len = usize::from(r.u16().ok_or_else(list_error)?);
    let withdrawn_bytes = r.take(withdrawn_len).ok_or_else(list_error)?;
    let attrs_len = usize::from(r.u16().ok_or_else(list_error)?);
    let attrs_bytes = r.take(attrs_len).ok_or_else(list_error)?;
    let invalid_network = || DecodeError::Reset(Notification::update(10, &[]));
    let withdrawn = decode_prefixes(withdrawn_bytes).ok_or_else(invalid_network)?;
    let nlri = decode_prefixes(r.0).ok_or_else(invalid_network)?;
    match decode_attributes(attrs_bytes, four_octet, !nlri.is_empty()) {
        Ok(attributes) => Ok(Update {
            withdrawn,
            attributes,
            nlri,
        }),
        Err(AttrError::Reset(n)) => Err(DecodeError::Reset(n)),
        Err(AttrError::Withdraw(cause)) => Err(DecodeError::TreatAsWithdraw {
            withdrawn: withdrawn.into_iter().chain(nlri).collect(),
            cause,
        }),
    }
}

enum AttrError {
    Reset(Notification),
    Withdraw(Notification),
}

fn decode_attributes(
    bytes: &[u8],
    four_octet: bool,
    has_nlri: bool,
) -> Result<Option<PathAttributes>, AttrError> {
    let mut r = Reader(bytes);
    let (mut origin, mut as_path, mut as4_path, mut next_hop) = (None, None, None, None);
    let mut seen = [false; 256];
    let withdraw =
        |subcode: u8, data: &[u8]| AttrError::Withdraw(Notification::update(subcode, data));
    while !r.is_empty() {
        let start = r.0;
        let overrun = || AttrError::Withdraw(Notification::update(1, &[]));
        let flags = r.u8().ok_or_else(overrun)?;
        let kind = r.u8().ok_or_else(overrun)?;
        let len = if flags & FLAG_EXTENDED != 0 {
            r.u16().map(usize::from)
        } else {
            r.u8().map(usize::from)
        }
        .ok_or_else(overrun)?;
        let value = r.take(len).ok_or_else(overrun)?;
        let whole = start.get(..start.len() - r.0.len()).unwrap_or_default();
        let slot = seen.get_mut(usize::from(kind)).ok_or_else(overrun)?;
        if std::mem::replace(slot, true) {
            if matches!(kind, ATTR_MP_REACH | ATTR_MP_UNREACH) {
                return Err(AttrError::Reset(Notification::update(1, &[])));
            }
            continue; // RFC 7606 §3(g): keep the first, discard repeats.
        }
        let well_known = matches!(
            kind,
            ATTR_ORIGIN | ATTR_AS_PATH | ATTR_NEXT_HOP | ATTR_LOCAL_PREF | ATTR_ATOMIC_AGGREGATE
        );
        if well_known && flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != FLAG_TRANSITIVE {
            return Err(withdraw(4, whole));
        }
        match kind {
            ATTR_ORIGIN => {
                origin = Some(match value {
                    [0] => Origin::Igp,
                    [1] => Origin::Egp,
                    [2] => Origin::Incomplete,
                    [_] => return Err(withdraw(6, whole)),
                    _ => return Err(withdraw(5, whole)),
                })
            }
            ATTR_AS_PATH => {
                as_path = Some(decode_as_path(value, four_octet).ok_or_else(|| withdraw(11, &[]))?)
            }
            ATTR_NEXT_HOP => {
                let octets: [u8; 4] = value.try_into().map_err(|_| withdraw(5, whole))?;
                next_hop = Some(Ipv4Addr::from(octets));
            }
            ATTR_MED if len != 4 => return Err(withdraw(5, whole)),
            // Malformed AS4_PATH is discarded (RFC 6793 §6); it is ignored on 4-octet sessions.
            ATTR_AS4_PATH if !four_octet => as4_path = decode_as_path(value, true),
            // LOCAL_PREF from an eBGP peer and the remaining known attributes are not used here.
            ATTR_MED
            | ATTR_LOCAL_PREF
            | ATTR_ATOMIC_AGGREGATE
            | ATTR_AGGREGATOR
            | ATTR_AS4_PATH => {}
            // Multiprotocol NLRI of families we never negotiated: ignored.
            ATTR_MP_REACH | ATTR_MP_UNREACH => {}
            _ if flags & FLAG_OPTIONAL == 0 => {
                return Err(AttrError::Reset(Notification::update(2, whole)));
            }
            _ => {}
        }
    }
    if !has_nlri {
        return Ok(None);
    }
    let missing = |kind: u8| withdraw(3, &[kind]);
    let mut as_path = as_path.ok_or_else(|| missing(ATTR_AS_PATH))?;
    if let Some(as4) = as4_path {
        // RFC 6793 §4.2.3: the AS4_PATH replaces the tail of an AS_PATH that is not shorter.
        if let Some(keep) = as_path.len().checked_sub(as4.len()) {
            as_path.truncate(keep);
            as_path.extend(as4);
        }
    }
    Ok(Some(PathAttributes {
        origin: origin.ok_or_else(|| missing(ATTR_ORIGIN))?,
        as_path,
        next_hop: next_hop.ok_or_else(|| missing(ATTR_NEXT_HOP))?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn with_header(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        m.push(kind);
        m.extend_from_slice(body);
        m
    }

    fn attrs() -> PathAttributes {
        PathAttributes {
            origin: Origin::Igp,
            as_path: vec![4_200_000_001],
            next_hop: "169.254.10.1".parse().unwrap(),
        }
    }

    fn reset_of(msg: &[u8], four: bool) -> (u8, u8) {
        match Message::decode(msg, four) {
            Err(DecodeError::Reset(n)) => (n.code, n.subcode),
            other => panic!("expected a reset, got {other:?}"),
        }
    }

    #[test]
    fn prefixes_clear_host_bits_and_reject_bad_lengths() {
        assert_eq!(p("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert_eq!(p("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("10.0.0/8".parse::<Prefix>().is_err());
    }

    #[test]
    fn open_round_trips_with_capabilities() {
        let open = Open {
            version: 4,
            my_as: AS_TRANS,
            hold_time: 90,
            bgp_id: "192.0.2.1".parse().unwrap(),
            capabilities: vec![
                Capability::Multiprotocol {
                    afi: AFI_IPV4,
                    safi: SAFI_UNICAST,
                },
                Capability::RouteRefresh,
                Capability::FourOctetAs(4_200_000_001),
            ],
        };
        let bytes = Message::Open(open.clone()).encode();
        assert_eq!(frame(&bytes), Ok(Some(bytes.len())));
        let Message::Open(back) = Message::decode(&bytes, false).unwrap() else {
            panic!()
        };
        assert_eq!(back, open);
        assert_eq!(back.asn(), 4_200_000_001);
    }

    #[test]
    fn updates_round_trip_in_both_as_widths() {
        for four in [true, false] {
            let msgs = encode_updates(
                &[p("10.9.0.0/16")],
                &[p("10.0.0.0/16"), p("10.1.1.0/24")],
                &attrs(),
                four,
            );
            let decoded: Vec<_> = msgs
                .iter()
                .map(|m| Message::decode(m, four).unwrap())
                .collect();
            assert_eq!(
                decoded[0],
                Message::Update(Update {
                    withdrawn: vec![p("10.9.0.0/16")],
                    ..Update::default()
                })
            );
            let Message::Update(u) = &decoded[1] else {
                panic!()
            };
            assert_eq!(u.nlri, vec![p("10.0.0.0/16"), p("10.1.1.0/24")]);
            // A 2-byte peer sees AS_TRANS in AS_PATH, and the AS4_PATH restores the real ASN.
            assert_eq!(u.attributes.as_ref().unwrap().as_path, vec![4_200_000_001]);
        }
        let two_byte = &encode_updates(&[], &[p("10.0.0.0/16")], &attrs(), false)[0];
        assert!(two_byte.windows(2).any(|w| w == AS_TRANS.to_be_bytes()));
    }

    #[test]
    fn large_prefix_sets_are_split_under_the_size_limit() {
        let many: Vec<Prefix> = (0..3000u32)
            .map(|i| Prefix::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
            .collect();
        let msgs = encode_updates(&many, &many, &attrs(), true);
        assert!(msgs.iter().all(|m| m.len() <= MAX_LEN));
        let total: usize = msgs
            .iter()
            .map(|m| match Message::decode(m, true).unwrap() {
                Message::Update(u) => u.withdrawn.len() + u.nlri.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(total, 6000);
    }

    #[test]
    fn header_errors_map_to_their_notifications() {
        let mut bad_marker = Message::Keepalive.encode();
        bad_marker[3] = 0;
        assert_eq!(frame(&bad_marker), Err(Notification::new(1, 1, [])));
        let mut long_keepalive = with_header(TYPE_KEEPALIVE, &[0]);
        assert_eq!(
            frame(&long_keepalive),
            Err(Notification::new(1, 2, 20u16.to_be_bytes()))
        );
        long_keepalive[16..18].copy_from_slice(&5000u16.to_be_bytes());
        assert_eq!(frame(&long_keepalive).unwrap_err().subcode, 2);
        assert_eq!(
            frame(&with_header(9, &[])),
            Err(Notification::new(1, 3, [9]))
        );
        assert_eq!(
            frame(&with_header(TYPE_OPEN, &[4, 0])).unwrap_err().subcode,
            2
        );
        assert_eq!(frame(&Message::Keepalive.encode()[..10]), Ok(None));
        // decode() insists on the whole message and ignores what follows it.
        let open = Message::Open(Open {
            version: 4,
            my_as: 1,
            hold_time: 0,
            bgp_id: Ipv4Addr::LOCALHOST,
            capabilities: vec![],
        });
        let bytes = open.encode();
        assert!(Message::decode(&bytes[..bytes.len() - 1], true).is_err());
        assert_eq!(
            Message::decode(&[&bytes[..], &[0xff; 5]].concat(), true),
            Ok(open)
        );
    }

    #[test]
    fn open_errors_map_to_their_notifications() {
        let open = |version: u8, params: &[u8]| {
            let mut body = vec![
                version,
                0xfd,
                0xe8,
                0,
                90,
                192,
                0,
                2,
                1,
                u8::try_from(params.len()).unwrap(),
            ];
            body.extend_from_slice(params);
            with_header(TYPE_OPEN, &body)
        };
        assert_eq!(reset_of(&open(3, &[]), false), (2, 1));
        assert_eq!(reset_of(&open(4, &[1, 2, 0, 0]), false), (2, 4));
        assert_eq!(reset_of(&open(4, &[2, 9, 65, 4, 0]), false), (2, 0));
        assert_eq!(reset_of(&open(4, &[2, 3, 65, 1, 0]), false), (2, 0));
        let mut trailing = open(4, &[]);
        trailing.push(0);
        trailing[17] += 1;
        assert_eq!(reset_of(&trailing, false), (2, 0));
    }

    #[test]
    fn update_structure_errors_reset_the_session() {
        // Withdrawn length overruns the message.
        assert_eq!(
            reset_of(&with_header(TYPE_UPDATE, &[0, 9, 0, 0]), true),
            (3, 1)
        );
        // Total attribute length overruns the message.
        assert_eq!(
            reset_of(&with_header(TYPE_UPDATE, &[0, 0, 0, 9]), true),
            (3, 1)
        );
        // NLRI with a prefix length of 33, and a truncated one.
        assert_eq!(
            reset_of(
                &with_header(TYPE_UPDATE, &[0, 0, 0, 0, 33, 1, 2, 3, 4, 5]),
                true
            ),
            (3, 10)
        );
        assert_eq!(
            reset_of(&with_header(TYPE_UPDATE, &[0, 0, 0, 0, 24, 10]), true),
            (3, 10)
        );
        // An unrecognized well-known attribute.
        assert_eq!(
            reset_of(&with_header(TYPE_UPDATE, &[0, 0, 0, 3, 0x40, 99, 0]), true),
            (3, 2)
        );
    }

    #[test]
    fn malformed_attributes_are_treated_as_withdraw() {
        let good = &encode_updates(&[], &[p("10.0.0.0/16")], &attrs(), true)[0];
        let origin_at = good.windows(3).position(|w| w == [0x40, 1, 1]).unwrap();
        let cases: [(usize, u8, u8); 4] = [
            (origin_at + 3, 7, 6),      // ORIGIN value 7
            (origin_at, 0xc0, 4),       // ORIGIN flagged optional
            (origin_at + 2, 2, 5),      // ORIGIN length 2
            (origin_at + 4 + 3, 3, 11), // AS_PATH segment type 3
        ];
        for (at, value, subcode) in cases {
            let mut m = good.clone();
            m[at] = value;
            match Message::decode(&m, true) {
                Err(DecodeError::TreatAsWithdraw { withdrawn, cause }) => {
                    assert_eq!(withdrawn, vec![p("10.0.0.0/16")]);
                    assert_eq!(
                        (cause.code, cause.subcode),
                        (3, subcode),
                        "patching byte {at} to {value}"
                    );
                }
                other => panic!("patching byte {at} to {value}: {other:?}"),
            }
        }
        // NLRI without NEXT_HOP: missing well-known attribute.
        let mut body = vec![
            0, 0, 0, 13, 0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8,
        ];
        body.extend_from_slice(&[16, 10, 0]);
        let no_next_hop = with_header(TYPE_UPDATE, &body);
        match Message::decode(&no_next_hop, true) {
            Err(DecodeError::TreatAsWithdraw { cause, .. }) => {
                assert_eq!((cause.subcode, cause.data), (3, vec![3]))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn route_refresh_length_is_checked() {
        let rr = Message::RouteRefresh { afi: 1, safi: 1 }.encode();
        assert_eq!(
            Message::decode(&rr, true),
            Ok(Message::RouteRefresh { afi: 1, safi: 1 })
        );
        let short = with_header(TYPE_ROUTE_REFRESH, &[0, 1, 0]);
        assert_eq!(reset_of(&short, true), (7, 1));
    }

    #[test]
    fn decoding_arbitrary_truncations_never_panics() {
        let msgs = [
            encode_updates(&[p("10.9.0.0/16")], &[p("10.0.0.0/16")], &attrs(), false).remove(1),
            Message::Notification(Notification::new(6, 2, [1, 2])).encode(),
        ];
        for m in msgs {
            for cut in 0..m.len() {
                let mut t = m[..cut].to_vec();
                if t.len() >= 18 {
                    t[16..18].copy_from_slice(&u16::try_from(cut).unwrap().to_be_bytes());
                }
                let _ = Message::decode(&t, false);
            }
        }
    }
}
