//! Conversions between the IKE core's negotiated values and the data plane's.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use strait_dataplane::{AddrRange, SaKeys};
use strait_ike::v2::{EspKeys, TrafficSelector};

/// The address ranges of traffic selectors, for the data plane's inner-packet checks.
pub fn ranges(ts: &[TrafficSelector]) -> Vec<AddrRange> {
    ts.iter()
        .map(|t| AddrRange {
            start: t.start,
            end: t.end,
        })
        .collect()
}

/// Address ranges of traffic selectors as the smallest list of covering-exactly prefixes.
fn to_prefixes(ts: &[TrafficSelector]) -> Vec<Ipv4Net> {
    ts.iter()
        .flat_map(|t| range_to_prefixes(t.start, t.end))
        .collect()
}

/// Splits the inclusive range start..=end into CIDR blocks (empty when start > end).
fn range_to_prefixes(start: Ipv4Addr, end: Ipv4Addr) -> Vec<Ipv4Net> {
    let (mut lo, hi) = (u64::from(u32::from(start)), u64::from(u32::from(end)));
    let mut out = Vec::new();
    while lo <= hi {
        // The largest block aligned at `lo` that does not pass `hi`.
        let mut size = if lo == 0 {
            1u64 << 32
        } else {
            1u64 << lo.trailing_zeros().min(32)
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        let len = 32 - u8::try_from(size.trailing_zeros()).unwrap_or(32);
        if let Some(net) = u32::try_from(lo)
            .ok()
            .and_then(|a| Ipv4Net::new(Ipv4Addr::from(a), len).ok())
        {
            out.push(net);
        }
        lo += size;
    }
    out
}

/// Selectors for logs, e.g. `10.1.0.0/24 10.2.0.0/24`.
pub fn describe(ts: &[TrafficSelector]) -> String {
    to_prefixes(ts)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The data plane's keys for one direction of a CHILD_SA.
pub fn sa_keys(k: EspKeys) -> SaKeys {
    SaKeys {
        spi: k.spi,
        encr: k.encr,
        enc_key: k.enc_key,
        integ: k.integ,
        integ_key: k.integ_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(a: &str, b: &str) -> TrafficSelector {
        TrafficSelector::range(a.parse().unwrap(), b.parse().unwrap())
    }

    fn nets(list: &[&str]) -> Vec<Ipv4Net> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn ranges_become_exact_prefixes() {
        assert_eq!(
            to_prefixes(&[ts("0.0.0.0", "255.255.255.255")]),
            nets(&["0.0.0.0/0"])
        );
        assert_eq!(
            to_prefixes(&[ts("10.1.0.0", "10.1.0.255"), ts("10.2.0.0", "10.2.0.255")]),
            nets(&["10.1.0.0/24", "10.2.0.0/24"])
        );
        assert_eq!(
            to_prefixes(&[ts("10.0.0.1", "10.0.0.6")]),
            nets(&["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"])
        );
        assert_eq!(
            to_prefixes(&[ts("255.255.255.255", "255.255.255.255")]),
            nets(&["255.255.255.255/32"])
        );
        assert!(
            to_prefixes(&[ts("10.0.0.9", "10.0.0.1")]).is_empty(),
            "an inverted range covers nothing"
        );
        assert_eq!(
            describe(&[ts("192.168.10.0", "192.168.10.255")]),
            "192.168.10.0/24"
        );
    }
}
