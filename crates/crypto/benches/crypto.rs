//! Per-packet ESP transform cost and per-exchange DH cost.
//!
//! Run: cargo bench -p strait-crypto --bench crypto

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strait_crypto::{Cipher, DhGroup, DhPrivate, Encr, Integ, IntegKey};

/// Payload bytes per packet: a 1400-byte inner packet padded to the AES block.
const PAYLOAD: usize = 1408;

fn esp_cbc_sha1(c: &mut Criterion) {
    let cipher = Cipher::new(Encr::AesCbc128, &[7; 16]).unwrap();
    let integ = IntegKey::new(Integ::HmacSha1_96, &[9; 20]).unwrap();
    let header = [0u8; 8];
    let iv = [3u8; 16];
    let mut buf = vec![0x5a; PAYLOAD];
    let mut icv = [0u8; 12];

    let mut g = c.benchmark_group("esp_aes128cbc_hmacsha1_96");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    g.bench_function("encrypt_1400", |b| {
        b.iter(|| {
            cipher.encrypt(&iv, &[], &mut buf, &mut []).unwrap();
            integ.compute(&[&header, &iv, &buf], &mut icv);
            black_box(&icv);
        })
    });
    g.bench_function("cbc_encrypt_only_1400", |b| {
        b.iter(|| {
            cipher
                .encrypt(&iv, &[], black_box(&mut buf), &mut [])
                .unwrap()
        })
    });
    g.bench_function("cbc_decrypt_only_1400", |b| {
        b.iter(|| cipher.decrypt(&iv, &[], black_box(&mut buf), &[]).unwrap())
    });
    g.bench_function("hmac_only_1400", |b| {
        b.iter(|| integ.compute(&[&header, &iv, black_box(&buf)], &mut icv))
    });
    // A real packet: verify its ICV, then decrypt a copy (the copy stands in for the
    // receive buffer and costs ~30 ns).
    let ciphertext = buf.clone();
    integ.compute(&[&header, &iv, &ciphertext], &mut icv);
    g.bench_function("decrypt_1400", |b| {
        b.iter(|| {
            assert!(integ.verify(&[&header, &iv, &ciphertext], &icv));
            buf.copy_from_slice(&ciphertext);
            cipher.decrypt(&iv, &[], &mut buf, &[]).unwrap();
            black_box(&buf);
        })
    });
    g.finish();
}

fn esp_gcm(c: &mut Criterion) {
    let mut g = c.benchmark_group("esp_aes_gcm16");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    for encr in [Encr::AesGcm16_128, Encr::AesGcm16_256] {
        let cipher = Cipher::new(encr, &vec![7; encr.key_len()]).unwrap();
        let aad = [1u8; 8];
        let iv = [3u8; 8];
        let mut buf = vec![0x5a; PAYLOAD];
        let mut icv = [0u8; 16];
        g.bench_function(format!("{encr:?}_seal_1400"), |b| {
            b.iter(|| {
                cipher.encrypt(&iv, &aad, &mut buf, &mut icv).unwrap();
                black_box(&icv);
            })
        });
        // Open a real packet: authenticate and decrypt a copy of one sealed payload.
        let sealed = buf.clone();
        g.bench_function(format!("{encr:?}_open_1400"), |b| {
            b.iter(|| {
                buf.copy_from_slice(&sealed);
                cipher.decrypt(&iv, &aad, &mut buf, &icv).unwrap();
                black_box(&buf);
            })
        });
    }
    g.finish();
}

fn dh(c: &mut Criterion) {
    let mut g = c.benchmark_group("dh");
    g.sample_size(20);
    for group in [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Ecp256,
        DhGroup::Curve25519,
    ] {
        let ours = DhPrivate::generate(group);
        let peer = DhPrivate::generate(group).public_value();
        g.bench_function(format!("{group:?}_agree"), |b| {
            b.iter(|| black_box(ours.agree(&peer).unwrap()))
        });
        g.bench_function(format!("{group:?}_generate_with_public"), |b| {
            b.iter(|| black_box(DhPrivate::generate(group).public_value()))
        });
    }
    g.finish();
}

criterion_group!(benches, esp_cbc_sha1, esp_gcm, dh);
criterion_main!(benches);
