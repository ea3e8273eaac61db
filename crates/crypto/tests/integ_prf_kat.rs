//! Known-answer tests for the integrity transforms, the PRFs and prf+.

use hex_literal::hex;
use strait_crypto::{CryptoError, Integ, IntegKey, Prf};

/// Checks that `integ` keyed with `key` gives `icv` over `data`, computed both in one part
/// and split in two, and that verification accepts it and rejects a flipped bit.
fn check_integ(integ: Integ, key: &[u8], data: &[u8], icv: &[u8]) {
    let k = IntegKey::new(integ, key).unwrap();
    assert_eq!(k.integ(), integ);
    let mut out = vec![0u8; integ.icv_len()];
    k.compute(&[data], &mut out);
    assert_eq!(hex::encode(&out), hex::encode(icv), "{integ:?}");
    let (a, b) = data.split_at(data.len() / 2);
    let mut split = vec![0u8; integ.icv_len()];
    k.compute(&[a, b], &mut split);
    assert_eq!(split, out, "{integ:?} over parts");
    assert!(k.verify(&[a, b], icv), "{integ:?} verifies");
    let mut bad = icv.to_vec();
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    assert!(!k.verify(&[data], &bad), "{integ:?} rejects a flipped bit");
    let mut bad_data = data.to_vec();
    bad_data[0] ^= 0x40;
    assert!(
        !k.verify(&[&bad_data], icv),
        "{integ:?} rejects changed data"
    );
}

#[test]
fn hmac_md5_96_rfc2202() {
    // Cases 1, 3 and 5 (the ones with a 16-byte key), truncated to 96 bits (RFC 2403).
    check_integ(
        Integ::HmacMd5_96,
        &[0x0b; 16],
        b"Hi There",
        &hex!("9294727a3638bb1c13f48ef8"),
    );
    check_integ(
        Integ::HmacMd5_96,
        &[0xaa; 16],
        &[0xdd; 50],
        &hex!("56be34521d144c88dbb8c733"),
    );
    check_integ(
        Integ::HmacMd5_96,
        &[0x0c; 16],
        b"Test With Truncation",
        &hex!("56461ef2342edc00f9bab995"),
    );
}

#[test]
fn hmac_sha1_96_rfc2202() {
    // Cases 1, 3 and 5 (20-byte keys), truncated to 96 bits (RFC 2404); case 5 lists it.
    check_integ(
        Integ::HmacSha1_96,
        &[0x0b; 20],
        b"Hi There",
        &hex!("b617318655057264e28bc0b6"),
    );
    check_integ(
        Integ::HmacSha1_96,
        &[0xaa; 20],
        &[0xdd; 50],
        &hex!("125d7342b9ac11cd91a39af4"),
    );
    check_integ(
        Integ::HmacSha1_96,
        &[0x0c; 20],
        b"Test With Truncation",
        &hex!("4c1a03424b55e07fe7f27be1"),
    );
}

#[test]
fn hmac_sha2_truncated_rfc4868_auth_vectors() {
    // RFC 4868 §2.7.2.1-3, test case 1 ("Hi There", key 0x0b of the hash length).
    check_integ(
        Integ::HmacSha256_128,
        &[0x0b; 32],
        b"Hi There",
        &hex!("198a607eb44bfbc69903a0f1cf2bbdc5"),
    );
    check_integ(
        Integ::HmacSha384_192,
        &[0x0b; 48],
        b"Hi There",
        &hex!("b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"),
    );
    check_integ(
        Integ::HmacSha512_256,
        &[0x0b; 64],
        b"Hi There",
        &hex!("637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"),
    );
}

#[test]
fn verify_rejects_wrong_icv_lengths() {
    let k = IntegKey::new(Integ::HmacSha1_96, &[0x0b; 20]).unwrap();
    let full = hex!("b617318655057264e28bc0b6fb378c8ef146be00");
    assert!(k.verify(&[b"Hi There"], &full[..12]));
    for len in [0, 1, 11, 13, 20] {
        assert!(
            !k.verify(&[b"Hi There"], &full[..len]),
            "ICV of {len} bytes"
        );
    }
}

#[test]
fn integ_keys_must_have_the_hash_length() {
    for integ in [
        Integ::HmacMd5_96,
        Integ::HmacSha1_96,
        Integ::HmacSha256_128,
        Integ::HmacSha384_192,
        Integ::HmacSha512_256,
    ] {
        for len in [0, integ.key_len() - 1, integ.key_len() + 1] {
            assert_eq!(
                IntegKey::new(integ, &vec![1; len]).unwrap_err(),
                CryptoError::InvalidKeyLength {
                    expected: integ.key_len(),
                    got: len
                }
            );
        }
        assert_eq!(Integ::from_ikev2(integ.ikev2_id()), Some(integ));
    }
    let table = [
        (Integ::HmacMd5_96, 1, 16, 12),
        (Integ::HmacSha1_96, 2, 20, 12),
        (Integ::HmacSha256_128, 12, 32, 16),
        (Integ::HmacSha384_192, 13, 48, 24),
        (Integ::HmacSha512_256, 14, 64, 32),
    ];
    for (integ, id, key, icv) in table {
        assert_eq!(
            (integ.ikev2_id(), integ.key_len(), integ.icv_len()),
            (id, key, icv),
            "{integ:?}"
        );
    }
    // AUTH_NONE, AUTH_DES_MAC, AUTH_AES_XCBC_96 are not supported.
    for id in [0, 4, 5, 15] {
        assert_eq!(Integ::from_ikev2(id), None);
    }
}

#[test]
fn prf_rfc2202_and_rfc4231_full_outputs() {
    let jefe: (&[u8], &[u8]) = (b"Jefe", b"what do ya want for nothing?");
    // RFC 2202 case 2 (short key), split across parts.
    assert_eq!(
        Prf::HmacMd5.prf(jefe.0, &[b"what do ya ", b"want for nothing?"]),
        hex!("750c783e6ab0b503eaa86e310a5db738")
    );
    assert_eq!(
        Prf::HmacSha1.prf(jefe.0, &[jefe.1]),
        hex!("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
    );
    // RFC 4231 test case 2.
    assert_eq!(
        Prf::HmacSha256.prf(jefe.0, &[jefe.1]),
        hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
    assert_eq!(
        Prf::HmacSha384.prf(jefe.0, &[jefe.1]),
        hex!(
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        )
    );
    assert_eq!(
        Prf::HmacSha512.prf(jefe.0, &[jefe.1]),
        hex!(
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        )
    );
    // RFC 4231 test case 1 (20-byte key shorter than SHA-384/512 outputs).
    assert_eq!(
        Prf::HmacSha256.prf(&[0x0b; 20], &[b"Hi There"]),
        hex!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    );
    // RFC 4231 test case 6: a 131-byte key, longer than the hash block, is hashed first.
    assert_eq!(
        Prf::HmacSha256.prf(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
        ),
        hex!("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    );
}

#[test]
fn prf_sizes_and_ids() {
    let table = [
        (Prf::HmacMd5, 1, 16),
        (Prf::HmacSha1, 2, 20),
        (Prf::HmacSha256, 5, 32),
        (Prf::HmacSha384, 6, 48),
        (Prf::HmacSha512, 7, 64),
    ];
    for (prf, id, len) in table {
        assert_eq!(
            (prf.ikev2_id(), prf.output_len(), prf.key_len()),
            (id, len, len),
            "{prf:?}"
        );
        assert_eq!(Prf::from_ikev2(id), Some(prf));
        assert_eq!(prf.prf(b"k", &[b"x"]).len(), len);
    }
    // PRF_AES128_XCBC (4) and PRF_AES128_CMAC (8) are not supported.
    assert_eq!(Prf::from_ikev2(4), None);
    assert_eq!(Prf::from_ikev2(8), None);
}

// NIST CAVP SP 800-135 IKEv2 KDF sample vectors (HMAC-SHA-1 and HMAC-SHA-256):
// SKEYSEED = prf(Ni | Nr, g^ir); keys = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr);
// SKEYSEED(rekey) = prf(SK_d(old), g^ir(new) | Ni | Nr).

#[test]
fn ikev2_kdf_nist_cavp_sha1() {
    let ni = hex!("32b50d5f4a3763f3");
    let nr = hex!("9206a04b26564cb1");
    let gir = hex!("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52");
    let skeyseed = Prf::HmacSha1.prf(&[ni, nr].concat(), &[&gir]);
    assert_eq!(skeyseed, hex!("a9a7b222b59f8f48645f28a1db5b5f5d7479cba7"));

    let seed = [
        &ni[..],
        &nr,
        &hex!("34c9e7c188868785"),
        &hex!("3ff77d760d2b2199"),
    ]
    .concat();
    let keymat = hex!(
        "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002"
        "a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a"
        "5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119"
        "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435"
        "a7a56cc4"
    );
    // Full length (7 blocks, last one cut) and two lengths that end mid-block.
    for len in [132, 40, 15] {
        assert_eq!(
            Prf::HmacSha1.prf_plus(&skeyseed, &seed, len),
            keymat[..len],
            "{len} bytes"
        );
    }

    let sk_d = &keymat[..20];
    let gir_new = hex!("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330");
    assert_eq!(
        Prf::HmacSha1.prf(sk_d, &[&gir_new, &ni, &nr]),
        hex!("63e81194946ebd05df7df5ebf5d8750056bf1f1d")
    );
}

#[test]
fn ikev2_kdf_nist_cavp_sha256() {
    let ni = hex!("3f302be1abcb28e1");
    let nr = hex!("8c332ee006064c9b");
    let gir = hex!("0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29");
    let skeyseed = Prf::HmacSha256.prf(&[ni, nr].concat(), &[&gir]);
    assert_eq!(
        skeyseed,
        hex!("5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe")
    );

    let seed = [
        &ni[..],
        &nr,
        &hex!("40dac39e1e1a8640"),
        &hex!("8619a1cf9a6e4c07"),
    ]
    .concat();
    let keymat = hex!(
        "0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ec"
        "e98aca531188d16041b3bb936d2dbb3b4993a6e768a809160de45d0283f273a6"
        "cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4"
        "e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986"
        "d12d4aad"
    );
    for len in [132, 32, 15] {
        assert_eq!(
            Prf::HmacSha256.prf_plus(&skeyseed, &seed, len),
            keymat[..len],
            "{len} bytes"
        );
    }

    let sk_d = &keymat[..32];
    let gir_new = hex!("25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c");
    assert_eq!(
        Prf::HmacSha256.prf(sk_d, &[&gir_new, &ni, &nr]),
        hex!("2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398")
    );
}

#[test]
fn prf_plus_reaches_255_blocks_and_chains_each_block() {
    // Independent check of the §2.13 chaining for every PRF: T1 = prf(K, S | 0x01),
    // Tn = prf(K, Tn-1 | S | n), built here from single prf() calls.
    for prf in [
        Prf::HmacMd5,
        Prf::HmacSha1,
        Prf::HmacSha256,
        Prf::HmacSha384,
        Prf::HmacSha512,
    ] {
        let (key, seed) = (b"key material", b"nonces and spis");
        let max = 255 * prf.output_len();
        let out = prf.prf_plus(key, seed, max);
        assert_eq!(out.len(), max);
        let mut prev: Vec<u8> = Vec::new();
        for (n, block) in out.chunks(prf.output_len()).enumerate() {
            let t = prf.prf(key, &[&prev, seed, &[n as u8 + 1]]);
            assert_eq!(block, &t[..], "{prf:?} block {}", n + 1);
            prev = t;
        }
        assert!(prf.prf_plus(key, seed, 0).is_empty());
    }
}

#[test]
#[should_panic(expected = "255 blocks")]
fn prf_plus_refuses_more_than_255_blocks() {
    Prf::HmacSha1.prf_plus(b"k", b"s", 255 * 20 + 1);
}

#[test]
fn ikev1_skeyid_nist_cavp_sha1() {
    // NIST CAVP SP 800-135 IKEv1 KDF samples (HMAC-SHA-1), RFC 2409 §5:
    // signature SKEYID = prf(Ni | Nr, g^xy); PSK SKEYID = prf(psk, Ni | Nr);
    // SKEYID_d/a/e = prf(SKEYID, [previous |] g^xy | CKY-I | CKY-R | 0/1/2).
    let prf = Prf::HmacSha1;
    let gxy = hex!("8ba4cbc73c0187301dc19a975823854dbd641c597f637f8d053a83b9514673eb");
    let skeyid = prf.prf(&hex!("69a62284195f1680 80c94ba25c8abda5"), &[&gxy]);
    assert_eq!(skeyid, hex!("707197817fb2d90cf54d1842606bdea59b9f4823"));

    let ckys = hex!("8c3bcd3a69831d7f d2d9a7ff4fbe95a7");
    let d = prf.prf(&skeyid, &[&gxy, &ckys, &[0]]);
    assert_eq!(d, hex!("384be709a8a5e63c3ed160cfe3921c4b37d5b32d"));
    let a = prf.prf(&skeyid, &[&d, &gxy, &ckys, &[1]]);
    assert_eq!(a, hex!("48b327575abe3adba0f279849e289022a13e2b47"));
    let e = prf.prf(&skeyid, &[&a, &gxy, &ckys, &[2]]);
    assert_eq!(e, hex!("a4a415c8e0c38c0da847c356cc61c24df8025560"));

    let psk_skeyid = prf.prf(
        &[0xc0],
        &[&hex!("03a6f25a83c8c2a3"), &hex!("9d958a6618f77e7f")],
    );
    assert_eq!(psk_skeyid, hex!("ab3be41bc62f2ef0c41a3076d58768be77fadd2e"));
}

#[test]
fn ikev1_attribute_numbers() {
    // Phase 2 Authentication Algorithm (RFC 2407 §4.5, RFC 4868 §4).
    let auth = [
        (Integ::HmacMd5_96, 1),
        (Integ::HmacSha1_96, 2),
        (Integ::HmacSha256_128, 5),
        (Integ::HmacSha384_192, 6),
        (Integ::HmacSha512_256, 7),
    ];
    for (integ, id) in auth {
        assert_eq!(integ.ikev1_auth_id(), id);
        assert_eq!(Integ::from_ikev1_auth(id), Some(integ));
    }
    // 3 is DES-MAC, 4 KPDK, 9 AES-XCBC: unsupported.
    for id in [0, 3, 4, 9, 12] {
        assert_eq!(Integ::from_ikev1_auth(id), None, "auth {id}");
    }
    // Phase 1 Hash Algorithm (RFC 2409 Appendix A; 3 is Tiger, unsupported).
    let hash = [
        (Prf::HmacMd5, 1),
        (Prf::HmacSha1, 2),
        (Prf::HmacSha256, 4),
        (Prf::HmacSha384, 5),
        (Prf::HmacSha512, 6),
    ];
    for (prf, id) in hash {
        assert_eq!(prf.ikev1_hash_id(), id);
        assert_eq!(Prf::from_ikev1_hash(id), Some(prf));
    }
    for id in [0, 3, 7] {
        assert_eq!(Prf::from_ikev1_hash(id), None, "hash {id}");
    }
}
