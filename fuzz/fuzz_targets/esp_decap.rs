//! Arbitrary bytes through the data plane's untrusted-input paths: UDP 4500 demultiplexing and
//! ESP decapsulation with fixed SAs (CBC+HMAC and GCM), plus the inner-packet helpers.
//! Also checks a property: whatever inner packet encapsulates must decapsulate to itself.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use strait_dataplane::esp::{InboundSa, OutboundSa};
use strait_dataplane::ip::{Ipv4View, clamp_tcp_mss, icmp_frag_needed};
use strait_dataplane::natt::{Udp4500, demux};
use strait_dataplane::{Encr, Integ, SaKeys, Selectors};

fn keys(encr: Encr, integ: Option<Integ>) -> SaKeys {
    SaKeys {
        spi: 0x0102_0304,
        encr,
        enc_key: vec![0x42; encr.key_len()],
        integ,
        integ_key: integ.map_or(vec![], |i| vec![0x24; i.key_len()]),
    }
}

static SAS: LazyLock<Vec<(OutboundSa, InboundSa)>> = LazyLock::new(|| {
    [(Encr::AesCbc128, Some(Integ::HmacSha1_96)), (Encr::AesGcm16_128, None), (Encr::TripleDesCbc, Some(Integ::HmacMd5_96))]
        .into_iter()
        .map(|(e, i)| {
            let k = keys(e, i);
            (OutboundSa::new(&k, Selectors::any()).expect("valid SA"), InboundSa::new(&k, Selectors::any()).expect("valid SA"))
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    // Untrusted datagrams from the network.
    if let Ok(Udp4500::Esp(esp)) = demux(data) {
        for (_, inbound) in SAS.iter() {
            let mut buf = esp.to_vec();
            if let Ok(r) = inbound.decapsulate(&mut buf) {
                assert!(r.end <= buf.len());
            }
        }
    }
    // Inner packets from hosts: encapsulation round-trips, MSS clamping and ICMP never panic.
    for (outbound, inbound) in SAS.iter() {
        let mut esp = vec![0u8; data.len() + 128];
        if let Ok(n) = outbound.encapsulate(data, &mut esp) {
            let r = inbound.decapsulate(&mut esp[..n]).expect("own packet decapsulates");
            assert_eq!(esp.get(r), Ipv4View::new(data).map(|v| v.bytes()));
        }
    }
    let mut pkt = data.to_vec();
    clamp_tcp_mss(&mut pkt, 1300);
    let mut out = [0u8; 1024];
    let _ = icmp_frag_needed(data, std::net::Ipv4Addr::UNSPECIFIED, 1400, &mut out);
});
