//! IPv4/TCP/ICMP helpers for the tunnel edge: header views, checksums, MSS clamping, MTU and ICMP errors.
//!
//! Every accessor works on untrusted bytes and never panics: malformed input yields `None` or no change.

use std::net::Ipv4Addr;

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// A checked read-only view of an IPv4 header at the start of a packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4View<'a> {
    bytes: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv4View<'a> {
    /// Views `bytes` as an IPv4 packet; `None` unless version, header length and total length are consistent.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        let first = *bytes.first()?;
        if first >> 4 != 4 {
            return None;
        }
        let header_len = usize::from(first & 0x0f) * 4;
        let total = usize::from(be16(bytes, 2)?);
        if header_len < IPV4_HEADER_LEN || total < header_len || total > bytes.len() {
            return None;
        }
        Some(Self {
            bytes: bytes.get(..total)?,
            header_len,
        })
    }

    /// Header length in bytes (20..=60).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Total length from the header (never more than the bytes given).
    pub fn total_len(&self) -> usize {
        self.bytes.len()
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        addr_at(self.bytes, 12)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        addr_at(self.bytes, 16)
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        self.bytes.get(9).copied().unwrap_or(0)
    }

    /// Whether the Don't Fragment flag is set.
    pub fn dont_fragment(&self) -> bool {
        self.bytes.get(6).is_some_and(|b| b & 0x40 != 0)
    }

    /// Whether this is the first (or only) fragment: fragment offset zero.
    pub fn is_first_fragment(&self) -> bool {
        be16(self.bytes, 6).is_some_and(|v| v & 0x1fff == 0)
    }

    /// The packet's bytes, cut to the header's total length.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The payload after the IPv4 header.
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(self.header_len..).unwrap_or(&[])
    }
}

fn addr_at(b: &[u8], at: usize) -> Ipv4Addr {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at + 2)? {
        &[hi, lo] => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) -> Option<()> {
    b.get_mut(at..at + 2)?.copy_from_slice(&v.to_be_bytes());
    Some(())
}

/// Ones'-complement sum of `data` folded to 16 bits, added to `initial` (RFC 1071).
pub fn checksum_add(initial: u32, data: &[u8]) -> u32 {
    let mut sum = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let &[hi, lo] = c {
            sum += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let &[last] = chunks.remainder() {
        sum += u64::from(last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u32
}

/// The Internet checksum of `data` (RFC 1071), ready to store.
pub fn checksum(data: &[u8]) -> u16 {
    !(checksum_add(0, data) as u16)
}

/// Updates a stored checksum for one 16-bit field changed from `old` to `new` (RFC 1624, eqn. 3).
pub fn checksum_adjust(stored: u16, old: u16, new: u16) -> u16 {
    let sum = checksum_add(u32::from(!stored), &(!old).to_be_bytes());
    let sum = checksum_add(sum, &new.to_be_bytes());
    !(sum as u16)
}

/// TCP option kind of the maximum segment size option.
const TCP_OPT_MSS: u8 = 2;

/// Lowers the MSS option of a TCP SYN to at most `max_mss`, fixing the TCP checksum incrementally.
///
/// Returns whether the packet was changed. Non-TCP packets, non-SYN segments, later fragments and
/// malformed headers or options are left untouched.
pub fn clamp_tcp_mss(packet: &mut [u8], max_mss: u16) -> bool {
    let Some(ip) = Ipv4View::new(packet) else {
        return false;
    };
    if ip.protocol() != PROTO_TCP || !ip.is_first_fragment() {
        return false;
    }
    let (ihl, total) = (ip.header_len(), ip.total_len());
    let Some(tcp) = packet.get_mut(ihl..total) else {
        return false;
    };
    let Some(&flags) = tcp.get(13) else {
        return false;
    };
    if flags & 0x02 == 0 {
        return false;
    }
    let data_off = tcp.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
    if data_off < 20 || data_off > tcp.len() {
        return false;
    }
    let mut at = 20;
    while at < data_off {
        let Some(&kind) = tcp.get(at) else {
            return false;
        };
        match kind {
            0 => return false,
            1 => at += 1,
            _ => {
                let Some(&len) = tcp.get(at + 1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || at + len > data_off {
                    return false;
                }
                if kind == TCP_OPT_MSS && len == 4 {
                    let Some(mss) = be16(tcp, at + 2) else {
                        return false;
                    };
                    if mss <= max_mss {
                        return false;
                    }
                    let Some(csum) = be16(tcp, 16) else {
                        return false;
                    };
                    let fixed = checksum_adjust(csum, mss, max_mss);
                    return put16(tcp, at + 2, max_mss)
                        .and_then(|()| put16(tcp, 16, fixed))
                        .is_some();
                }
                at += len;
            }
        }
    }
    false
}

/// Largest ICMP error quote: the offending IP header plus 8 bytes is the minimum (RFC 792);
/// we quote up to this many bytes of the original packet.
const ICMP_QUOTE_MAX: usize = 548;

/// Writes an ICMP "fragmentation needed" (type 3 code 4, RFC 1191) answer to `packet` into `out`.
///
/// The answer goes from `from` (the gateway as a router; 0.0.0.0 lets the kernel pick it when
/// sent on a raw socket) to the packet's source and advertises `next_hop_mtu`. Returns the answer's length, or `None` if `packet` is not an IPv4
/// packet worth answering (malformed, not the first fragment, or itself an ICMP error) or `out`
/// is too small.
pub fn icmp_frag_needed(
    packet: &[u8],
    from: Ipv4Addr,
    next_hop_mtu: u16,
    out: &mut [u8],
) -> Option<usize> {
    let ip = Ipv4View::new(packet)?;
    if !ip.is_first_fragment() {
        return None;
    }
    if ip.protocol() == PROTO_ICMP {
        // Never answer an ICMP error with another (RFC 1812 §4.3.2.7): only echo requests/replies.
        let kind = *ip.payload().first()?;
        if kind != 0 && kind != 8 {
            return None;
        }
    }
    let quote = ip.bytes().get(..ip.total_len().min(ICMP_QUOTE_MAX))?;
    let total = IPV4_HEADER_LEN + 8 + quote.len();
    let out = out.get_mut(..total)?;
    let (hdr, icmp) = out.split_at_mut(IPV4_HEADER_LEN);
    hdr.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_ICMP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    put16(hdr, 2, u16::try_from(total).ok()?)?;
    hdr.get_mut(12..16)?.copy_from_slice(&from.octets());
    hdr.get_mut(16..20)?.copy_from_slice(&ip.src().octets());
    let hc = checksum(hdr);
    put16(hdr, 10, hc)?;
    icmp.get_mut(..8)?
        .copy_from_slice(&[3, 4, 0, 0, 0, 0, 0, 0]);
    put16(icmp, 6, next_hop_mtu)?;
    icmp.get_mut(8..)?.copy_from_slice(quote);
    let ic = checksum(icmp);
    put16(icmp, 2, ic)?;
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80 with options [MSS=1460, NOP, NOP, SACK-permitted].
    fn syn(mss: u16, flags: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 48, 0, 1, 0x40, 0, 64, PROTO_TCP, 0, 0, 10, 0, 0, 1, 10, 0, 0,
            2, // IP
            0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, flags, 0xff, 0xff, 0, 0, 0,
            0, // TCP
            2, 4, 0, 0, 1, 1, 4, 2,
        ];
        put16(&mut p, 42, mss).unwrap();
        let c = checksum(&p[..20]);
        put16(&mut p, 10, c).unwrap();
        let c = tcp_checksum(&p);
        put16(&mut p, 36, c).unwrap();
        p
    }

    fn tcp_checksum(p: &[u8]) -> u16 {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&p[12..20]);
        pseudo.extend_from_slice(&[0, PROTO_TCP]);
        pseudo.extend_from_slice(&((p.len() - 20) as u16).to_be_bytes());
        let mut seg = p[20..].to_vec();
        seg[16] = 0;
        seg[17] = 0;
        !(checksum_add(checksum_add(0, &pseudo), &seg) as u16)
    }

    #[test]
    fn view_rejects_malformed_headers() {
        assert!(Ipv4View::new(&[]).is_none());
        assert!(Ipv4View::new(&[0x60; 40]).is_none(), "IPv6 is not IPv4");
        let mut p = syn(1460, 0x02);
        p[0] = 0x44; // IHL 16 bytes < 20
        assert!(Ipv4View::new(&p).is_none());
        let mut p = syn(1460, 0x02);
        put16(&mut p, 2, 200).unwrap(); // total length beyond the buffer
        assert!(Ipv4View::new(&p).is_none());
        let p = syn(1460, 0x02);
        let v = Ipv4View::new(&p).unwrap();
        assert_eq!(
            (v.src(), v.dst(), v.protocol()),
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 6)
        );
        assert!(v.dont_fragment());
    }

    #[test]
    fn checksum_adjust_matches_full_recomputation() {
        let mut p = syn(1460, 0x02);
        let old = be16(&p, 36).unwrap();
        put16(&mut p, 42, 1360).unwrap();
        assert_eq!(checksum_adjust(old, 1460, 1360), tcp_checksum(&p));
    }

    #[test]
    fn mss_is_clamped_on_syn_with_valid_checksum() {
        let mut p = syn(1460, 0x02);
        assert!(clamp_tcp_mss(&mut p, 1360));
        assert_eq!(be16(&p, 42), Some(1360));
        assert_eq!(be16(&p, 36), Some(tcp_checksum(&p)));
        // SYN-ACK too.
        let mut p = syn(1460, 0x12);
        assert!(clamp_tcp_mss(&mut p, 1360));
        assert_eq!(be16(&p, 36), Some(tcp_checksum(&p)));
    }

    #[test]
    fn mss_is_left_alone_when_small_or_not_syn() {
        let mut p = syn(1200, 0x02);
        let orig = p.clone();
        assert!(!clamp_tcp_mss(&mut p, 1360));
        assert_eq!(p, orig);
        let mut p = syn(1460, 0x10); // plain ACK
        assert!(!clamp_tcp_mss(&mut p, 1360));
        assert_eq!(be16(&p, 42), Some(1460));
    }

    #[test]
    fn mss_clamp_survives_malformed_options() {
        // Option length 0, option running past the header, truncated packet: never panic, never change.
        for (at, val) in [(41usize, 0u8), (41, 40), (32, 0xf0), (32, 0x40)] {
            let mut p = syn(1460, 0x02);
            p[at] = val;
            let orig = p.clone();
            assert!(!clamp_tcp_mss(&mut p, 1360));
            assert_eq!(p, orig);
        }
        let p = syn(1460, 0x02);
        for cut in 0..p.len() {
            let mut q = p[..cut].to_vec();
            clamp_tcp_mss(&mut q, 1000);
        }
    }

    #[test]
    fn frag_needed_answers_the_sender() {
        let p = syn(1460, 0x02);
        let mut out = [0u8; 600];
        let n = icmp_frag_needed(&p, "192.168.1.1".parse().unwrap(), 1400, &mut out).unwrap();
        let ans = Ipv4View::new(&out[..n]).unwrap();
        assert_eq!(ans.protocol(), PROTO_ICMP);
        assert_eq!(ans.dst(), "10.0.0.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(checksum(&out[..20]), 0, "IP header checksum verifies");
        let icmp = ans.payload();
        assert_eq!((icmp[0], icmp[1]), (3, 4));
        assert_eq!(be16(icmp, 6), Some(1400));
        assert_eq!(checksum(icmp), 0, "ICMP checksum verifies");
        assert_eq!(&icmp[8..], &p[..], "quotes the offending packet");
    }

    #[test]
    fn frag_needed_is_not_sent_for_icmp_errors_or_garbage() {
        let mut p = syn(1460, 0x02);
        p[9] = PROTO_ICMP;
        p[20] = 3; // an ICMP error
        let mut out = [0u8; 600];
        assert!(icmp_frag_needed(&p, Ipv4Addr::LOCALHOST, 1400, &mut out).is_none());
        assert!(icmp_frag_needed(&[0x45, 0, 0], Ipv4Addr::LOCALHOST, 1400, &mut out).is_none());
        let p = syn(1460, 0x02);
        assert!(
            icmp_frag_needed(&p, Ipv4Addr::LOCALHOST, 1400, &mut out[..30]).is_none(),
            "small buffer"
        );
    }
}
