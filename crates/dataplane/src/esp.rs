//! ESP in tunnel mode (RFC 4303) for IPv4 inner packets: sans-IO encapsulation and decapsulation.
//!
//! An [`OutboundSa`] turns an inner packet into an ESP packet (SPI … ICV) in a caller-provided
//! buffer; an [`InboundSa`] checks and decrypts an ESP packet in place and hands back the inner
//! packet. Both are `Sync`: workers share them, the sequence number is an atomic and the replay
//! window sits behind a short per-SA lock. Outer IP/UDP headers are the caller's (or the kernel's)
//! business, so callers leave headroom before the output slice if they build them by hand.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::Ipv4Net;
use strait_crypto::{Cipher, CryptoError, Encr, Integ, IntegKey};

use crate::ip::{IPV4_HEADER_LEN, Ipv4View, UDP_HEADER_LEN};
use crate::replay::{ReplayVerdict, ReplayWindow};

/// ESP header length: SPI and sequence number.
pub const ESP_HEADER_LEN: usize = 8;
/// Next-header value of an IPv4 inner packet (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next-header value of a dummy packet (RFC 4303 §2.6), which receivers drop silently.
pub const NEXT_HEADER_DUMMY: u8 = 59;

/// An inclusive range of IPv4 addresses: the address part of a traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange {
    /// First address in the range.
    pub start: Ipv4Addr,
    /// Last address in the range.
    pub end: Ipv4Addr,
}

impl AddrRange {
    /// Every IPv4 address (the selector of destination routing).
    pub const ANY: Self = Self {
        start: Ipv4Addr::UNSPECIFIED,
        end: Ipv4Addr::BROADCAST,
    };

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.start <= addr && addr <= self.end
    }
}

impl From<Ipv4Net> for AddrRange {
    fn from(net: Ipv4Net) -> Self {
        Self {
            start: net.network(),
            end: net.broadcast(),
        }
    }
}

/// Traffic selectors of a CHILD_SA pair, seen from this gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selectors {
    /// Addresses behind this gateway (TSi/TSr on our side).
    pub local: Vec<AddrRange>,
    /// Addresses behind the peer.
    pub remote: Vec<AddrRange>,
}

impl Selectors {
    /// Selectors that admit every address on both sides.
    pub fn any() -> Self {
        Self {
            local: vec![AddrRange::ANY],
            remote: vec![AddrRange::ANY],
        }
    }

    /// Whether a packet from `src` to `dst` travelling in `dir` is covered.
    fn admits(&self, src: Ipv4Addr, dst: Ipv4Addr, dir: Direction) -> bool {
        let (from, to) = match dir {
            Direction::Outbound => (&self.local, &self.remote),
            Direction::Inbound => (&self.remote, &self.local),
        };
        from.iter().any(|r| r.contains(src)) && to.iter().any(|r| r.contains(dst))
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Outbound,
    Inbound,
}

/// Keys and transforms of one ESP SA, as negotiated by IKE.
#[derive(Clone)]
pub struct SaKeys {
    /// Security parameter index carried on the wire (chosen by the receiver).
    pub spi: u32,
    /// Encryption (or AEAD) transform.
    pub encr: Encr,
    /// Encryption key material (for GCM including the 4-byte salt).
    pub enc_key: Vec<u8>,
    /// Integrity transform; `None` exactly when `encr` is an AEAD.
    pub integ: Option<Integ>,
    /// Integrity key material (empty for AEAD).
    pub integ_key: Vec<u8>,
}

impl std::fmt::Debug for SaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaKeys")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

/// Why an ESP operation failed; each variant is also a drop reason counted per SA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// Key or transform setup failed.
    #[error("invalid SA transform: {0}")]
    Transform(String),
    /// Shorter than header, IV, minimal trailer and ICV.
    #[error("ESP packet truncated")]
    Truncated,
    /// Ciphertext length is not a multiple of the cipher block size.
    #[error("ciphertext length not a multiple of the block size")]
    BadLength,
    /// Sequence number already received.
    #[error("replayed sequence number {0}")]
    ReplayedPacket(u64),
    /// Sequence number behind the anti-replay window.
    #[error("sequence number {0} is behind the replay window")]
    TooOld(u64),
    /// Integrity check value (or AEAD tag) did not verify.
    #[error("integrity check failed")]
    BadIcv,
    /// Pad length or padding bytes are wrong.
    #[error("bad ESP padding")]
    BadPadding,
    /// A dummy packet (next header 59), dropped by design.
    #[error("dummy packet")]
    Dummy,
    /// Next header is not IPv4.
    #[error("unsupported next header {0}")]
    UnsupportedNextHeader(u8),
    /// The decrypted (or to-be-encrypted) packet is not a well-formed IPv4 packet.
    #[error("inner packet is not valid IPv4")]
    MalformedInner,
    /// The inner packet's addresses are outside the SA's traffic selectors.
    #[error("inner packet {src} -> {dst} outside the traffic selectors")]
    SelectorMismatch {
        /// Inner source address.
        src: Ipv4Addr,
        /// Inner destination address.
        dst: Ipv4Addr,
    },
    /// The 32-bit sequence number space is used up; the SA must be rekeyed.
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// The output buffer cannot hold the ESP packet.
    #[error("output buffer too small")]
    BufferTooSmall,
}

/// Reasons packets are dropped, as counted per SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// [`EspError::Truncated`] or [`EspError::BadLength`].
    Malformed,
    /// [`EspError::ReplayedPacket`] or [`EspError::TooOld`].
    Replayed,
    /// [`EspError::BadIcv`].
    BadIcv,
    /// [`EspError::BadPadding`].
    BadPadding,
    /// [`EspError::Dummy`] or [`EspError::UnsupportedNextHeader`].
    NextHeader,
    /// [`EspError::MalformedInner`].
    MalformedInner,
    /// [`EspError::SelectorMismatch`].
    SelectorMismatch,
    /// Any other failure ([`EspError::SequenceExhausted`], [`EspError::BufferTooSmall`], ...).
    Other,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 8] = [
        Self::Malformed,
        Self::Replayed,
        Self::BadIcv,
        Self::BadPadding,
        Self::NextHeader,
        Self::MalformedInner,
        Self::SelectorMismatch,
        Self::Other,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

impl EspError {
    /// The counter this failure is accounted under.
    pub fn drop_reason(&self) -> DropReason {
        match self {
            Self::Truncated | Self::BadLength => DropReason::Malformed,
            Self::ReplayedPacket(_) | Self::TooOld(_) => DropReason::Replayed,
            Self::BadIcv => DropReason::BadIcv,
            Self::BadPadding => DropReason::BadPadding,
            Self::Dummy | Self::UnsupportedNextHeader(_) => DropReason::NextHeader,
            Self::MalformedInner => DropReason::MalformedInner,
            Self::SelectorMismatch { .. } => DropReason::SelectorMismatch,
            Self::Transform(_) | Self::SequenceExhausted | Self::BufferTooSmall => {
                DropReason::Other
            }
        }
    }
}

impl From<CryptoError> for EspError {
    fn from(e: CryptoError) -> Self {
        Self::Transform(e.to_string())
    }
}

/// Packet, byte and drop counts of one SA at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaStats {
    /// Packets processed successfully.
    pub packets: u64,
    /// Inner-packet bytes processed successfully.
    pub bytes: u64,
    /// Drops per [`DropReason`], in [`DropReason::ALL`] order.
    pub drops: [u64; DropReason::ALL.len()],
}

impl SaStats {
    /// Drops counted for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// All drops together.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &SaStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        for (a, b) in self.drops.iter_mut().zip(other.drops) {
            *a += b;
        }
    }
}

#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    drops: [AtomicU64; DropReason::ALL.len()],
}

impl Counters {
    fn ok(&self, bytes: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn drop<T>(&self, e: EspError) -> Result<T, EspError> {
        self.drops[e.drop_reason().index()].fetch_add(1, Ordering::Relaxed);
        Err(e)
    }

    fn snapshot(&self) -> SaStats {
        SaStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            drops: std::array::from_fn(|i| self.drops[i].load(Ordering::Relaxed)),
        }
    }
}

/// The keyed transforms shared by both directions.
struct Transform {
    encr: Encr,
    cipher: Cipher,
    integ: Option<IntegKey>,
    iv_len: usize,
    icv_len: usize,
    /// Alignment of the encrypted part: the block size for CBC, 4 bytes for GCM (RFC 4106 §3).
    align: usize,
}

impl Transform {
    fn new(p: &SaKeys) -> Result<Self, EspError> {
        let integ = match (p.encr.is_aead(), p.integ) {
            (true, None) => None,
            (false, Some(integ)) => Some(IntegKey::new(integ, &p.integ_key)?),
            (true, Some(_)) => {
                return Err(EspError::Transform(
                    "AEAD with a separate integrity transform".into(),
                ));
            }
            (false, None) => {
                return Err(EspError::Transform(
                    "no integrity transform for a non-AEAD cipher".into(),
                ));
            }
        };
        let icv_len = match p.integ {
            Some(i) => i.icv_len(),
            None => p.encr.icv_len(),
        };
        let align = p.encr.block_size().max(4);
        Ok(Self {
            encr: p.encr,
            cipher: Cipher::new(p.encr, &p.enc_key)?,
            integ,
            iv_len: p.encr.iv_len(),
            icv_len,
            align,
        })
    }

    /// Bytes an ESP packet adds to an inner packet of `inner_len` bytes.
    fn esp_len(&self, inner_len: usize) -> usize {
        ESP_HEADER_LEN + self.iv_len + (inner_len + 2).next_multiple_of(self.align) + self.icv_len
    }

    fn max_inner_len(&self, path_mtu: u16, udp_encap: bool) -> u16 {
        let outer = IPV4_HEADER_LEN + if udp_encap { UDP_HEADER_LEN } else { 0 };
        let fixed = outer + ESP_HEADER_LEN + self.iv_len + self.icv_len;
        let room = usize::from(path_mtu).saturating_sub(fixed);
        let inner = (room / self.align * self.align).saturating_sub(2);
        u16::try_from(inner).unwrap_or(u16::MAX)
    }
}

thread_local! {
    static RANDOM: RefCell<RandomPool> = RefCell::new(RandomPool::default());
}

/// Random bytes drawn from the OS in 4 KiB refills, so CBC IVs cost no syscall per packet.
struct RandomPool {
    buf: [u8; 4096],
    used: usize,
}

impl Default for RandomPool {
    fn default() -> Self {
        Self {
            buf: [0; 4096],
            used: 4096,
        }
    }
}

impl RandomPool {
    fn fill(&mut self, out: &mut [u8]) {
        if self.used + out.len() > self.buf.len() {
            strait_crypto::fill_random(&mut self.buf);
            self.used = 0;
        }
        if let Some(src) = self.buf.get(self.used..self.used + out.len()) {
            out.copy_from_slice(src);
        }
        self.used += out.len();
    }
}

/// The sending half of a CHILD_SA: encrypts inner packets for the peer.
pub struct OutboundSa {
    spi: u32,
    t: Transform,
    selectors: Selectors,
    seq: AtomicU64,
    counters: Counters,
}

impl OutboundSa {
    /// Keys the SA for traffic within `selectors`; fails on a bad key length or transform combination.
    pub fn new(keys: &SaKeys, selectors: Selectors) -> Result<Self, EspError> {
        Ok(Self {
            spi: keys.spi,
            t: Transform::new(keys)?,
            selectors,
            seq: AtomicU64::new(0),
            counters: Counters::default(),
        })
    }

    /// The SPI put on every packet.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Length of the ESP packet for an inner packet of `inner_len` bytes.
    pub fn esp_len(&self, inner_len: usize) -> usize {
        self.t.esp_len(inner_len)
    }

    /// Largest inner packet whose ESP packet, with outer IPv4 (and UDP) header, fits `path_mtu`.
    pub fn tunnel_mtu(&self, path_mtu: u16, udp_encap: bool) -> u16 {
        self.t.max_inner_len(path_mtu, udp_encap)
    }

    /// Number of sequence numbers used so far.
    pub fn sequence(&self) -> u64 {
        self.seq.load(Ordering::Relaxed).min(u64::from(u32::MAX))
    }

    /// Counters of this SA.
    pub fn stats(&self) -> SaStats {
        self.counters.snapshot()
    }

    /// Counts a packet the caller dropped before encapsulation (e.g. too big for the path).
    pub fn count_drop(&self, reason: DropReason) {
        self.counters.drops[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Encapsulates the IPv4 packet `inner` into `out` (which starts at the SPI); returns the ESP length.
    pub fn encapsulate(&self, inner: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        match self.seal(inner, out) {
            Ok(n) => {
                self.counters.ok(inner.len());
                Ok(n)
            }
            Err(e) => self.counters.drop(e),
        }
    }

    fn seal(&self, inner: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        let ip = Ipv4View::new(inner).ok_or(EspError::MalformedInner)?;
        if !self
            .selectors
            .admits(ip.src(), ip.dst(), Direction::Outbound)
        {
            return Err(EspError::SelectorMismatch {
                src: ip.src(),
                dst: ip.dst(),
            });
        }
        let t = &self.t;
        let total = t.esp_len(inner.len());
        let out = out.get_mut(..total).ok_or(EspError::BufferTooSmall)?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let seq32 = u32::try_from(seq).map_err(|_| EspError::SequenceExhausted)?;

        let (head, rest) = out.split_at_mut(ESP_HEADER_LEN + t.iv_len);
        let (body, icv) = rest.split_at_mut(rest.len() - t.icv_len);
        let (hdr, iv) = head.split_at_mut(ESP_HEADER_LEN);
        hdr[..4].copy_from_slice(&self.spi.to_be_bytes());
        hdr[4..].copy_from_slice(&seq32.to_be_bytes());
        if t.encr.is_aead() {
            // RFC 4106 §3.1: the IV must be unique per key; the 64-bit counter is.
            iv.copy_from_slice(&seq.to_be_bytes()[8 - t.iv_len..]);
        } else {
            RANDOM.with(|r| r.borrow_mut().fill(iv));
        }
        let (payload, trailer) = body.split_at_mut(inner.len());
        payload.copy_from_slice(inner);
        let pad_len = trailer.len() - 2;
        for (i, b) in trailer.iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        trailer[pad_len] = pad_len as u8;
        trailer[pad_len + 1] = NEXT_HEADER_IPV4;

        let (tag, _) = icv.split_at_mut(t.encr.icv_len());
        t.cipher.encrypt(iv, hdr, body, tag)?;
        if let Some(integ) = &t.integ {
            integ.compute(&[hdr, iv, body], icv);
        }
        Ok(total)
    }
}

/// The receiving half of a CHILD_SA: authenticates, decrypts and checks packets from the peer.
pub struct InboundSa {
    spi: u32,
    t: Transform,
    selectors: Selectors,
    window: Mutex<ReplayWindow>,
    counters: Counters,
}

impl InboundSa {
    /// Keys the SA for traffic within `selectors`; fails on a bad key length or transform combination.
    pub fn new(keys: &SaKeys, selectors: Selectors) -> Result<Self, EspError> {
        Ok(Self {
            spi: keys.spi,
            t: Transform::new(keys)?,
            selectors,
            window: Mutex::new(ReplayWindow::new()),
            counters: Counters::default(),
        })
    }

    /// The SPI this SA answers to.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Counters of this SA.
    pub fn stats(&self) -> SaStats {
        self.counters.snapshot()
    }

    /// Decapsulates the ESP packet `packet` (SPI … ICV) in place; returns where the inner IPv4 packet lies.
    pub fn decapsulate(&self, packet: &mut [u8]) -> Result<Range<usize>, EspError> {
        match self.open(packet) {
            Ok(r) => {
                self.counters.ok(r.len());
                Ok(r)
            }
            Err(e) => self.counters.drop(e),
        }
    }

    fn window_check(&self, seq: u64, record: bool) -> Result<(), EspError> {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let verdict = if record { w.accept(seq) } else { w.check(seq) };
        verdict.map_err(|v| match v {
            ReplayVerdict::Replayed => EspError::ReplayedPacket(seq),
            ReplayVerdict::TooOld => EspError::TooOld(seq),
        })
    }

    fn open(&self, packet: &mut [u8]) -> Result<Range<usize>, EspError> {
        let t = &self.t;
        let min = ESP_HEADER_LEN + t.iv_len + t.align + t.icv_len;
        if packet.len() < min {
            return Err(EspError::Truncated);
        }
        let (head, rest) = packet.split_at_mut(ESP_HEADER_LEN + t.iv_len);
        let (body, icv) = rest.split_at_mut(rest.len() - t.icv_len);
        let (hdr, iv) = head.split_at_mut(ESP_HEADER_LEN);
        let seq = hdr
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(EspError::Truncated)?;
        let seq = u64::from(seq);
        self.window_check(seq, false)?;
        if body.len() % t.align != 0 {
            return Err(EspError::BadLength);
        }
        if let Some(integ) = &t.integ {
            // Encrypt-then-MAC: authenticate before touching the ciphertext.
            if !integ.verify(&[hdr, iv, body], icv) {
                return Err(EspError::BadIcv);
            }
        }
        let (tag, _) = icv.split_at(t.encr.icv_len());
        t.cipher.decrypt(iv, hdr, body, tag).map_err(|e| match e {
            CryptoError::AuthFailed => EspError::BadIcv,
            _ => EspError::BadLength,
        })?;
        self.window_check(seq, true)?;

        let (&next_header, rest) = body.split_last().ok_or(EspError::Truncated)?;
        let (&pad_len, rest) = rest.split_last().ok_or(EspError::Truncated)?;
        let inner_len = rest
            .len()
            .checked_sub(usize::from(pad_len))
            .ok_or(EspError::BadPadding)?;
        let padding = rest.get(inner_len..).ok_or(EspError::BadPadding)?;
        if padding
            .iter()
            .enumerate()
            .any(|(i, &b)| usize::from(b) != i + 1)
        {
            return Err(EspError::BadPadding);
        }
        match next_header {
            NEXT_HEADER_IPV4 => {}
            NEXT_HEADER_DUMMY => return Err(EspError::Dummy),
            other => return Err(EspError::UnsupportedNextHeader(other)),
        }
        let inner = rest.get(..inner_len).ok_or(EspError::BadPadding)?;
        // The IPv4 total length also strips any TFC padding (RFC 4303 §2.4).
        let ip = Ipv4View::new(inner).ok_or(EspError::MalformedInner)?;
        if !self
            .selectors
            .admits(ip.src(), ip.dst(), Direction::Inbound)
        {
            return Err(EspError::SelectorMismatch {
                src: ip.src(),
                dst: ip.dst(),
            });
        }
        let start = ESP_HEADER_LEN + t.iv_len;
        Ok(start..start + ip.total_len())
    }
}

/// The SPI of an ESP packet, if it is long enough to have one.
pub fn spi_of(packet: &[u8]) -> Option<u32> {
    match packet.get(..4)? {
        &[a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{PROTO_UDP, checksum};

    /// Every ESP transform combination the product offers.
    pub(crate) fn suites() -> Vec<(Encr, Option<Integ>)> {
        let mut v = vec![(Encr::AesGcm16_128, None), (Encr::AesGcm16_256, None)];
        for e in [
            Encr::DesCbc,
            Encr::TripleDesCbc,
            Encr::AesCbc128,
            Encr::AesCbc192,
            Encr::AesCbc256,
        ] {
            for i in [
                Integ::HmacMd5_96,
                Integ::HmacSha1_96,
                Integ::HmacSha256_128,
                Integ::HmacSha384_192,
                Integ::HmacSha512_256,
            ] {
                v.push((e, Some(i)));
            }
        }
        v
    }

    pub(crate) fn keys(spi: u32, encr: Encr, integ: Option<Integ>) -> SaKeys {
        SaKeys {
            spi,
            encr,
            enc_key: (0..encr.key_len()).map(|i| i as u8 ^ 0x5a).collect(),
            integ,
            integ_key: integ.map_or(vec![], |i| {
                (0..i.key_len()).map(|i| i as u8 ^ 0xa5).collect()
            }),
        }
    }

    /// A UDP/IPv4 packet from `src` to `dst` with `len` payload bytes.
    pub(crate) fn packet(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let total = 28 + len;
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            PROTO_UDP,
            0,
            0,
        ];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let c = checksum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&[
            0x30,
            0x39,
            0x30,
            0x39,
            ((len + 8) >> 8) as u8,
            (len + 8) as u8,
            0,
            0,
        ]);
        p.extend((0..len).map(|i| (i * 7) as u8));
        p
    }

    fn pair(encr: Encr, integ: Option<Integ>) -> (OutboundSa, InboundSa) {
        let k = keys(0x1234_5678, encr, integ);
        (
            OutboundSa::new(&k, Selectors::any()).unwrap(),
            InboundSa::new(&k, Selectors::any()).unwrap(),
        )
    }

    fn seal(out: &OutboundSa, inner: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; inner.len() + 128];
        let n = out.encapsulate(inner, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    /// Builds an ESP packet by hand around an arbitrary plaintext (payload + trailer).
    fn seal_raw(k: &SaKeys, seq: u32, plaintext: &[u8]) -> Vec<u8> {
        let cipher = Cipher::new(k.encr, &k.enc_key).unwrap();
        let mut p = k.spi.to_be_bytes().to_vec();
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend(std::iter::repeat_n(0x11, k.encr.iv_len()));
        let body_at = p.len();
        p.extend_from_slice(plaintext);
        let icv_len = k.integ.map_or(k.encr.icv_len(), |i| i.icv_len());
        let mut icv = vec![0u8; icv_len];
        let (head, body) = p.split_at_mut(body_at);
        let tag_len = k.encr.icv_len();
        cipher
            .encrypt(&head[8..], &head[..8], body, &mut icv[..tag_len])
            .unwrap();
        if let Some(i) = k.integ {
            IntegKey::new(i, &k.integ_key)
                .unwrap()
                .compute(&[&p], &mut icv);
        }
        p.extend_from_slice(&icv);
        p
    }

    #[test]
    fn every_suite_round_trips_and_pads_to_the_block() {
        for (encr, integ) in suites() {
            let (o, i) = pair(encr, integ);
            for len in [0usize, 1, 2, 3, 13, 14, 15, 16, 17, 1372] {
                let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], len);
                let mut esp = seal(&o, &inner);
                assert_eq!(esp.len(), o.esp_len(inner.len()));
                let icv = integ.map_or(16, |i| i.icv_len());
                let ct = esp.len() - 8 - encr.iv_len() - icv;
                assert_eq!(
                    ct % encr.block_size().max(4),
                    0,
                    "{encr:?} pads to its block"
                );
                assert!(
                    ct - inner.len() - 2 < encr.block_size().max(4),
                    "{encr:?} pads minimally"
                );
                assert_eq!(spi_of(&esp), Some(0x1234_5678));
                assert!(
                    !esp.windows(inner.len().clamp(8, 16))
                        .any(|w| inner.starts_with(w)),
                    "{encr:?} encrypts"
                );
                let r = i
                    .decapsulate(&mut esp)
                    .unwrap_or_else(|e| panic!("{encr:?}/{integ:?} len {len}: {e}"));
                assert_eq!(&esp[r], &inner[..]);
            }
            assert_eq!(i.stats().packets, 10);
            assert_eq!(o.stats().packets, 10);
        }
    }

    #[test]
    fn sequence_numbers_count_from_one_and_gcm_ivs_are_unique() {
        let (o, _) = pair(Encr::AesGcm16_128, None);
        let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], 10);
        let a = seal(&o, &inner);
        let b = seal(&o, &inner);
        assert_eq!(&a[4..8], &1u32.to_be_bytes());
        assert_eq!(&b[4..8], &2u32.to_be_bytes());
        assert_ne!(&a[8..16], &b[8..16]);
        assert_ne!(a[16..], b[16..]);
    }

    #[test]
    fn cbc_ivs_are_random() {
        let (o, _) = pair(Encr::AesCbc128, Some(Integ::HmacSha1_96));
        let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], 10);
        let ivs: std::collections::HashSet<Vec<u8>> =
            (0..500).map(|_| seal(&o, &inner)[8..24].to_vec()).collect();
        assert_eq!(ivs.len(), 500);
    }

    #[test]
    fn a_replayed_packet_is_dropped_and_counted() {
        for (encr, integ) in [
            (Encr::AesCbc128, Some(Integ::HmacSha1_96)),
            (Encr::AesGcm16_128, None),
        ] {
            let (o, i) = pair(encr, integ);
            let esp = seal(&o, &packet([10, 1, 0, 1], [10, 2, 0, 1], 100));
            i.decapsulate(&mut esp.clone()).unwrap();
            assert_eq!(
                i.decapsulate(&mut esp.clone()),
                Err(EspError::ReplayedPacket(1))
            );
            assert_eq!(i.stats().dropped(DropReason::Replayed), 1);
            assert_eq!(i.stats().packets, 1);
        }
    }

    #[test]
    fn reordered_packets_within_the_window_are_accepted() {
        let (o, i) = pair(Encr::AesGcm16_256, None);
        let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], 40);
        let mut pkts: Vec<_> = (0..200).map(|_| seal(&o, &inner)).collect();
        pkts.reverse();
        for p in &mut pkts {
            i.decapsulate(p).unwrap();
        }
        assert_eq!(i.stats().packets, 200);
    }

    #[test]
    fn tampering_anywhere_fails_the_icv() {
        for (encr, integ) in [
            (Encr::AesCbc256, Some(Integ::HmacSha256_128)),
            (Encr::AesGcm16_128, None),
        ] {
            let (o, i) = pair(encr, integ);
            let esp = seal(&o, &packet([10, 1, 0, 1], [10, 2, 0, 1], 64));
            // Byte 0..4 is the SPI (the SA lookup's business); everything after is authenticated.
            for at in 4..esp.len() {
                let mut bad = esp.clone();
                bad[at] ^= 0x80;
                assert_eq!(
                    i.decapsulate(&mut bad),
                    Err(EspError::BadIcv),
                    "{encr:?} byte {at}"
                );
            }
            assert_eq!(
                i.stats().dropped(DropReason::BadIcv),
                (esp.len() - 4) as u64
            );
            // A forged packet must not advance the window: the genuine one is still accepted.
            i.decapsulate(&mut esp.clone()).unwrap();
        }
    }

    #[test]
    fn every_truncation_is_rejected_without_panicking() {
        for (encr, integ) in [
            (Encr::AesCbc128, Some(Integ::HmacSha1_96)),
            (Encr::AesGcm16_128, None),
            (Encr::DesCbc, Some(Integ::HmacMd5_96)),
        ] {
            let (o, i) = pair(encr, integ);
            let esp = seal(&o, &packet([10, 1, 0, 1], [10, 2, 0, 1], 30));
            for cut in 0..esp.len() {
                let mut p = esp[..cut].to_vec();
                let e = i.decapsulate(&mut p).unwrap_err();
                assert!(
                    matches!(
                        e,
                        EspError::Truncated | EspError::BadLength | EspError::BadIcv
                    ),
                    "{encr:?} cut {cut}: {e}"
                );
            }
        }
    }

    #[test]
    fn padding_next_header_and_inner_packet_are_checked() {
        for (encr, integ) in [
            (Encr::AesCbc128, Some(Integ::HmacSha1_96)),
            (Encr::AesGcm16_128, None),
        ] {
            let k = keys(7, encr, integ);
            let i = InboundSa::new(&k, Selectors::any()).unwrap();
            let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], 30 - 28 + 2); // 32 bytes of IPv4
            let block = encr.block_size().max(4);
            let trailer = |pad: &[u8], nh: u8| {
                let mut p = inner.clone();
                p.extend_from_slice(pad);
                p.push(pad.len() as u8);
                p.push(nh);
                p
            };
            let good_pad: Vec<u8> = (1..=(block - 2) as u8).collect();
            let mut ok = seal_raw(&k, 1, &trailer(&good_pad, NEXT_HEADER_IPV4));
            let r = i.decapsulate(&mut ok).unwrap();
            assert_eq!(
                &ok[r],
                &inner[..],
                "hand-built packet decodes: the wire format matches"
            );

            let mut wrong = good_pad.clone();
            wrong[0] = 9;
            assert_eq!(
                i.decapsulate(&mut seal_raw(&k, 2, &trailer(&wrong, 4))),
                Err(EspError::BadPadding)
            );
            // Claim more padding than there is plaintext.
            let mut pt = trailer(&good_pad, 4);
            let n = pt.len();
            pt[n - 2] = 250;
            assert_eq!(
                i.decapsulate(&mut seal_raw(&k, 3, &pt)),
                Err(EspError::BadPadding)
            );
            assert_eq!(
                i.decapsulate(&mut seal_raw(&k, 4, &trailer(&good_pad, 41))),
                Err(EspError::UnsupportedNextHeader(41))
            );
            assert_eq!(
                i.decapsulate(&mut seal_raw(&k, 5, &trailer(&good_pad, 59))),
                Err(EspError::Dummy)
            );
            let mut garbage = trailer(&good_pad, 4);
            garbage[0] = 0x60;
            assert_eq!(
                i.decapsulate(&mut seal_raw(&k, 6, &garbage)),
                Err(EspError::MalformedInner)
            );
            let s = i.stats();
            assert_eq!(
                (
                    s.dropped(DropReason::BadPadding),
                    s.dropped(DropReason::NextHeader),
                    s.dropped(DropReason::MalformedInner)
                ),
                (2, 2, 1)
            );
        }
    }

    #[test]
    fn cbc_ciphertext_off_the_block_is_rejected() {
        let k = keys(7, Encr::AesCbc128, Some(Integ::HmacSha1_96));
        let i = InboundSa::new(&k, Selectors::any()).unwrap();
        let o = OutboundSa::new(&k, Selectors::any()).unwrap();
        let mut esp = seal(&o, &packet([10, 1, 0, 1], [10, 2, 0, 1], 30));
        esp.insert(30, 0);
        assert_eq!(i.decapsulate(&mut esp), Err(EspError::BadLength));
    }

    #[test]
    fn inner_packets_outside_the_selectors_are_dropped() {
        let net = |s: &str| AddrRange::from(s.parse::<Ipv4Net>().unwrap());
        let k = keys(9, Encr::AesGcm16_128, None);
        // The peer sends from 10.2/16 to 10.1/16; we are 10.1/16.
        let peer = OutboundSa::new(&k, Selectors::any()).unwrap();
        let ours = InboundSa::new(
            &k,
            Selectors {
                local: vec![net("10.1.0.0/16")],
                remote: vec![net("10.2.0.0/16"), net("10.3.0.0/16")],
            },
        )
        .unwrap();
        let mut ok = seal(&peer, &packet([10, 3, 9, 9], [10, 1, 0, 1], 10));
        assert!(ours.decapsulate(&mut ok).is_ok());
        let mut spoofed = seal(&peer, &packet([10, 9, 0, 1], [10, 1, 0, 1], 10));
        assert_eq!(
            ours.decapsulate(&mut spoofed),
            Err(EspError::SelectorMismatch {
                src: "10.9.0.1".parse().unwrap(),
                dst: "10.1.0.1".parse().unwrap()
            })
        );
        let mut elsewhere = seal(&peer, &packet([10, 2, 0, 1], [192, 168, 0, 1], 10));
        assert!(matches!(
            ours.decapsulate(&mut elsewhere),
            Err(EspError::SelectorMismatch { .. })
        ));
        assert_eq!(ours.stats().dropped(DropReason::SelectorMismatch), 2);
        // Outbound: only traffic from local to remote selectors is sent.
        let out = OutboundSa::new(
            &k,
            Selectors {
                local: vec![net("10.1.0.0/16")],
                remote: vec![net("10.2.0.0/16")],
            },
        )
        .unwrap();
        let mut buf = [0u8; 200];
        assert!(
            out.encapsulate(&packet([10, 1, 0, 1], [10, 2, 0, 1], 10), &mut buf)
                .is_ok()
        );
        assert!(matches!(
            out.encapsulate(&packet([10, 1, 0, 1], [10, 4, 0, 1], 10), &mut buf),
            Err(EspError::SelectorMismatch { .. })
        ));
    }

    #[test]
    fn encapsulation_refuses_bad_input_and_small_buffers() {
        let (o, _) = pair(Encr::AesCbc128, Some(Integ::HmacSha1_96));
        let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], 100);
        let mut small = vec![0u8; o.esp_len(inner.len()) - 1];
        assert_eq!(
            o.encapsulate(&inner, &mut small),
            Err(EspError::BufferTooSmall)
        );
        let mut buf = vec![0u8; 400];
        assert_eq!(
            o.encapsulate(&inner[..50], &mut buf),
            Err(EspError::MalformedInner)
        );
        assert_eq!(o.stats().total_drops(), 2);
    }

    #[test]
    fn the_sequence_number_never_wraps() {
        let (o, _) = pair(Encr::AesGcm16_128, None);
        o.seq.store(u64::from(u32::MAX) - 1, Ordering::Relaxed);
        let inner = packet([10, 1, 0, 1], [10, 2, 0, 1], 10);
        let mut buf = vec![0u8; 200];
        assert!(o.encapsulate(&inner, &mut buf).is_ok());
        assert_eq!(&buf[4..8], &u32::MAX.to_be_bytes());
        assert_eq!(
            o.encapsulate(&inner, &mut buf),
            Err(EspError::SequenceExhausted)
        );
        assert_eq!(
            o.encapsulate(&inner, &mut buf),
            Err(EspError::SequenceExhausted)
        );
    }

    #[test]
    fn invalid_transforms_are_refused() {
        let mut k = keys(1, Encr::AesGcm16_128, None);
        k.integ = Some(Integ::HmacSha1_96);
        assert!(matches!(
            OutboundSa::new(&k, Selectors::any()),
            Err(EspError::Transform(_))
        ));
        let k = keys(1, Encr::AesCbc128, None);
        assert!(matches!(
            InboundSa::new(&k, Selectors::any()),
            Err(EspError::Transform(_))
        ));
        let mut k = keys(1, Encr::AesCbc128, Some(Integ::HmacSha1_96));
        k.enc_key.pop();
        assert!(matches!(
            InboundSa::new(&k, Selectors::any()),
            Err(EspError::Transform(_))
        ));
    }

    #[test]
    fn tunnel_mtu_is_the_largest_inner_packet_that_fits() {
        for (encr, integ) in suites() {
            let (o, _) = pair(encr, integ);
            for (udp, outer) in [(true, 28), (false, 20)] {
                for path in [576u16, 1280, 1500, 9000] {
                    let mtu = usize::from(o.tunnel_mtu(path, udp));
                    assert!(
                        o.esp_len(mtu) + outer <= usize::from(path),
                        "{encr:?} {path}"
                    );
                    assert!(
                        o.esp_len(mtu + 1) + outer > usize::from(path),
                        "{encr:?} {path}: not the largest"
                    );
                }
            }
        }
        let (o, _) = pair(Encr::AesCbc128, Some(Integ::HmacSha1_96));
        assert_eq!(
            o.tunnel_mtu(1500, true),
            1422,
            "20 IP + 8 UDP + 8 ESP + 16 IV + 12 ICV, 16-byte blocks"
        );
    }
}
