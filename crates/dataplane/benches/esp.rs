//! Per-packet cost of ESP: encapsulation, and encapsulation followed by decapsulation, of a
//! 1400-byte inner packet with AES-128-CBC + HMAC-SHA1-96 and AES-128-GCM-16.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strait_dataplane::esp::{InboundSa, OutboundSa};
use strait_dataplane::{Encr, Integ, SaKeys, Selectors};

const INNER: usize = 1400;

fn inner_packet() -> Vec<u8> {
    let mut p = vec![0u8; INNER];
    p[..20].copy_from_slice(&[
        0x45,
        0,
        (INNER >> 8) as u8,
        INNER as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
        10,
        1,
        0,
        1,
        10,
        2,
        0,
        1,
    ]);
    p
}

fn bench(c: &mut Criterion) {
    let inner = inner_packet();
    for (name, encr, integ) in [
        ("aes-sha1", Encr::AesCbc128, Some(Integ::HmacSha1_96)),
        ("aes128gcm16", Encr::AesGcm16_128, None),
    ] {
        let keys = SaKeys {
            spi: 1,
            encr,
            enc_key: vec![7; encr.key_len()],
            integ,
            integ_key: integ.map_or(vec![], |i| vec![9; i.key_len()]),
        };
        let out = OutboundSa::new(&keys, Selectors::any()).expect("valid SA");
        let inb = InboundSa::new(&keys, Selectors::any()).expect("valid SA");
        let mut buf = vec![0u8; 2048];
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(INNER as u64));
        g.bench_function("encap", |b| {
            b.iter(|| out.encapsulate(&inner, &mut buf).expect("encap"))
        });
        g.bench_function("encap+decap", |b| {
            b.iter(|| {
                let n = out.encapsulate(&inner, &mut buf).expect("encap");
                inb.decapsulate(&mut buf[..n]).expect("decap")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
