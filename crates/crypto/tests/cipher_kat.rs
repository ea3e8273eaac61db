//! Known-answer and misuse tests for the encryption transforms.

use hex_literal::hex;
use strait_crypto::{Cipher, CryptoError, Encr};

/// Encrypts `pt` and checks the ciphertext (and ICV), then decrypts it back.
fn check_kat(encr: Encr, key: &[u8], iv: &[u8], aad: &[u8], pt: &[u8], ct: &[u8], icv: &[u8]) {
    let cipher = Cipher::new(encr, key).unwrap();
    let mut buf = pt.to_vec();
    let mut tag = vec![0u8; encr.icv_len()];
    cipher.encrypt(iv, aad, &mut buf, &mut tag).unwrap();
    assert_eq!(hex::encode(&buf), hex::encode(ct), "{encr:?} ciphertext");
    assert_eq!(hex::encode(&tag), hex::encode(icv), "{encr:?} ICV");
    cipher.decrypt(iv, aad, &mut buf, &tag).unwrap();
    assert_eq!(buf, pt, "{encr:?} decrypts back");
}

// NIST SP 800-38A F.2 plaintext and IV, shared by the AES-CBC vectors.
const SP800_38A_PT: [u8; 64] = hex!(
    "6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710"
);
const SP800_38A_IV: [u8; 16] = hex!("000102030405060708090a0b0c0d0e0f");

#[test]
fn aes128_cbc_sp800_38a_f21() {
    let ct = hex!(
        "7649abac8119b246cee98e9b12e9197d" "5086cb9b507219ee95db113a917678b2"
        "73bed6b8e3c1743b7116e69e22229516" "3ff1caa1681fac09120eca307586e1a7"
    );
    check_kat(
        Encr::AesCbc128,
        &hex!("2b7e151628aed2a6abf7158809cf4f3c"),
        &SP800_38A_IV,
        &[],
        &SP800_38A_PT,
        &ct,
        &[],
    );
}

#[test]
fn aes192_cbc_sp800_38a_f23() {
    let ct = hex!(
        "4f021db243bc633d7178183a9fa071e8" "b4d9ada9ad7dedf4e5e738763f69145a"
        "571b242012fb7ae07fa9baac3df102e0" "08b0e27988598881d920a9e64f5615cd"
    );
    let key = hex!("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b");
    check_kat(
        Encr::AesCbc192,
        &key,
        &SP800_38A_IV,
        &[],
        &SP800_38A_PT,
        &ct,
        &[],
    );
}

#[test]
fn aes256_cbc_sp800_38a_f25() {
    let ct = hex!(
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6" "9cfc4e967edb808d679f777bc6702c7d"
        "39f23369a9d9bacfa530e26304231461" "b2eb05e2c39be9fcda6c19078c6a9d1b"
    );
    let key = hex!("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    check_kat(
        Encr::AesCbc256,
        &key,
        &SP800_38A_IV,
        &[],
        &SP800_38A_PT,
        &ct,
        &[],
    );
}

#[test]
fn aes128_cbc_rfc3602_cases_1_and_2() {
    check_kat(
        Encr::AesCbc128,
        &hex!("06a9214036b8a15b512e03d534120006"),
        &hex!("3dafba429d9eb430b422da802c9fac41"),
        &[],
        b"Single block msg",
        &hex!("e353779c1079aeb82708942dbe77181a"),
        &[],
    );
    check_kat(
        Encr::AesCbc128,
        &hex!("c286696d887c9aa0611bbb3e2025a45a"),
        &hex!("562e17996d093d28ddb3ba695a2e6f58"),
        &[],
        &hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        &hex!("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
        &[],
    );
}

#[test]
fn des_cbc_fips81_example() {
    // FIPS 81 Appendix C, CBC example: "Now is the time for all ".
    check_kat(
        Encr::DesCbc,
        &hex!("0123456789abcdef"),
        &hex!("1234567890abcdef"),
        &[],
        b"Now is the time for all ",
        &hex!("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6"),
        &[],
    );
}

#[test]
fn triple_des_sp800_67_example() {
    // SP 800-67 Rev. 1 example (ECB): each block under a zero IV is one ECB block.
    let key = hex!("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123");
    let pt = b"The qufck brown fox jump";
    let ecb = hex!("A826FD8CE53B855FCCE21C8112256FE668D5C05DD9B6B900");
    for (p, c) in pt.chunks(8).zip(ecb.chunks(8)) {
        check_kat(Encr::TripleDesCbc, &key, &[0; 8], &[], p, c, &[]);
    }
    // Chained CBC over the same key; reference computed with Python `cryptography` (OpenSSL).
    check_kat(
        Encr::TripleDesCbc,
        &key,
        &hex!("f69f2445df4f9b17"),
        &[],
        pt,
        &hex!("a5c282bad0de3774becd2e04386b589fb5057d8552fc4336"),
        &[],
    );
}

// McGrew-Viega GCM spec test cases 3/4 (AES-128) and 15/16 (AES-256). The 96-bit IV
// cafebabe facedbad decaf888 splits as RFC 4106 salt (in the key material) || explicit IV.
const GCM_K: [u8; 16] = hex!("feffe9928665731c6d6a8f9467308308");
const GCM_SALT: [u8; 4] = hex!("cafebabe");
const GCM_IV: [u8; 8] = hex!("facedbaddecaf888");
const GCM_PT: [u8; 64] = hex!(
    "d9313225f88406e5a55909c5aff5269a" "86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525" "b16aedf5aa0de657ba637b391aafd255"
);
const GCM_AAD: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
const GCM128_CT: [u8; 64] = hex!(
    "42831ec2217774244b7221b784d0d49c" "e3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa05" "1ba30b396a0aac973d58e091473f5985"
);
const GCM256_CT: [u8; 64] = hex!(
    "522dc1f099567d07f47f37a32a84427d" "643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838" "c5f61e6393ba7a0abcc9f662898015ad"
);

fn gcm_key(aes_key: &[u8]) -> Vec<u8> {
    [aes_key, &GCM_SALT].concat()
}

#[test]
fn aes128_gcm16_test_cases_3_and_4() {
    let key = gcm_key(&GCM_K);
    let icv3 = hex!("4d5c2af327cd64a62cf35abd2ba6fab4");
    check_kat(
        Encr::AesGcm16_128,
        &key,
        &GCM_IV,
        &[],
        &GCM_PT,
        &GCM128_CT,
        &icv3,
    );
    let icv4 = hex!("5bc94fbc3221a5db94fae95ae7121a47");
    check_kat(
        Encr::AesGcm16_128,
        &key,
        &GCM_IV,
        &GCM_AAD,
        &GCM_PT[..60],
        &GCM128_CT[..60],
        &icv4,
    );
}

#[test]
fn aes256_gcm16_test_cases_15_and_16() {
    let key = gcm_key(&[GCM_K, GCM_K].concat());
    let icv15 = hex!("b094dac5d93471bdec1a502270e3cc6c");
    check_kat(
        Encr::AesGcm16_256,
        &key,
        &GCM_IV,
        &[],
        &GCM_PT,
        &GCM256_CT,
        &icv15,
    );
    let icv16 = hex!("76fc6ece0f4e1768cddf8853bb2d551b");
    check_kat(
        Encr::AesGcm16_256,
        &key,
        &GCM_IV,
        &GCM_AAD,
        &GCM_PT[..60],
        &GCM256_CT[..60],
        &icv16,
    );
}

#[test]
fn gcm_zero_key_test_cases_1_2_13_14() {
    // Zero key, zero 96-bit IV: the ICV of empty plaintext (cases 1, 13), then the
    // ciphertext and ICV of one zero block (cases 2, 14).
    let cases = [
        (
            Encr::AesGcm16_128,
            hex!("58e2fccefa7e3061367f1d57a4e7455a"),
            hex!("0388dace60b6a392f328c2b971b2fe78"),
            hex!("ab6e47d42cec13bdf53a67b21257bddf"),
        ),
        (
            Encr::AesGcm16_256,
            hex!("530f8afbc74536b9a963b4f1c4cb738b"),
            hex!("cea7403d4d606b6e074ec5d3baf39d18"),
            hex!("d0d1c8a799996bf0265b98b5d48ab919"),
        ),
    ];
    for (encr, empty_icv, block_ct, block_icv) in cases {
        let key = vec![0; encr.key_len()];
        check_kat(encr, &key, &[0; 8], &[], &[], &[], &empty_icv);
        check_kat(encr, &key, &[0; 8], &[], &[0; 16], &block_ct, &block_icv);
    }
}

#[test]
fn gcm_rejects_any_tampering() {
    let cipher = Cipher::new(Encr::AesGcm16_128, &gcm_key(&GCM_K)).unwrap();
    let icv = hex!("5bc94fbc3221a5db94fae95ae7121a47");
    let ct = &GCM128_CT[..60];

    let mut bad_icv = icv;
    bad_icv[15] ^= 1;
    let mut bad_aad = GCM_AAD;
    bad_aad[0] ^= 0x80;
    let mut bad_iv = GCM_IV;
    bad_iv[7] ^= 1;
    let mut bad_ct = ct.to_vec();
    bad_ct[30] ^= 4;

    // (iv, aad, ciphertext, icv), each with one part altered.
    let cases: [[&[u8]; 4]; 4] = [
        [&GCM_IV, &GCM_AAD, ct, &bad_icv],
        [&GCM_IV, &bad_aad, ct, &icv],
        [&bad_iv, &GCM_AAD, ct, &icv],
        [&GCM_IV, &GCM_AAD, &bad_ct, &icv],
    ];
    for [iv, aad, data, tag] in cases {
        let mut buf = data.to_vec();
        assert_eq!(
            cipher.decrypt(iv, aad, &mut buf, tag),
            Err(CryptoError::AuthFailed)
        );
        assert_eq!(buf, data, "no unauthenticated plaintext is released");
    }
    // A wrong salt in the key material is a different nonce, so authentication fails too.
    let other_salt =
        Cipher::new(Encr::AesGcm16_128, &[&GCM_K[..], &[0, 0, 0, 0]].concat()).unwrap();
    let mut buf = ct.to_vec();
    assert_eq!(
        other_salt.decrypt(&GCM_IV, &GCM_AAD, &mut buf, &icv),
        Err(CryptoError::AuthFailed)
    );
}

const ALL_ENCR: [Encr; 7] = [
    Encr::DesCbc,
    Encr::TripleDesCbc,
    Encr::AesCbc128,
    Encr::AesCbc192,
    Encr::AesCbc256,
    Encr::AesGcm16_128,
    Encr::AesGcm16_256,
];

#[test]
fn every_transform_round_trips_an_esp_sized_payload() {
    for encr in ALL_ENCR {
        let key: Vec<u8> = (0..encr.key_len()).map(|i| i as u8 * 7 + 1).collect();
        let iv: Vec<u8> = (0..encr.iv_len()).map(|i| i as u8).collect();
        let cipher = Cipher::new(encr, &key).unwrap();
        assert_eq!(cipher.encr(), encr);
        let pt: Vec<u8> = (0..1408).map(|i| (i % 251) as u8).collect();
        let mut buf = pt.clone();
        let mut icv = vec![0; encr.icv_len()];
        cipher
            .encrypt(&iv, b"spi+seq!", &mut buf, &mut icv)
            .unwrap();
        assert_ne!(buf, pt, "{encr:?} changes the data");
        cipher.decrypt(&iv, b"spi+seq!", &mut buf, &icv).unwrap();
        assert_eq!(buf, pt, "{encr:?}");
    }
}

#[test]
fn wrong_key_lengths_are_rejected() {
    for encr in ALL_ENCR {
        for len in [0, encr.key_len() - 1, encr.key_len() + 1] {
            let err = Cipher::new(encr, &vec![0x11; len]).unwrap_err();
            assert_eq!(
                err,
                CryptoError::InvalidKeyLength {
                    expected: encr.key_len(),
                    got: len
                },
                "{encr:?}"
            );
        }
    }
}

#[test]
fn wrong_iv_data_and_icv_lengths_are_rejected_without_touching_data() {
    for encr in ALL_ENCR {
        let cipher = Cipher::new(encr, &vec![0x22; encr.key_len()]).unwrap();
        let iv = vec![0; encr.iv_len()];
        let data = vec![0x33; encr.block_size() * 4];
        let icv = vec![0; encr.icv_len()];
        let bad: [(Vec<u8>, Vec<u8>, Vec<u8>); 3] = [
            (vec![0; encr.iv_len() + 1], data.clone(), icv.clone()),
            (iv.clone(), data.clone(), vec![0; encr.icv_len() + 4]),
            (
                iv.clone(),
                vec![0x33; encr.block_size() * 4 + 1],
                icv.clone(),
            ),
        ];
        for (i, (iv, data, icv)) in bad.into_iter().enumerate() {
            // GCM takes any data length; only CBC needs whole blocks.
            if i == 2 && encr.is_aead() {
                continue;
            }
            let mut buf = data.clone();
            let mut out = icv.clone();
            assert!(matches!(
                cipher.encrypt(&iv, &[], &mut buf, &mut out),
                Err(CryptoError::InvalidLength { .. })
            ));
            assert!(matches!(
                cipher.decrypt(&iv, &[], &mut buf, &icv),
                Err(CryptoError::InvalidLength { .. })
            ));
            assert_eq!(buf, data, "{encr:?} leaves data alone on error");
        }
    }
}

#[test]
fn sizes_follow_the_rfcs() {
    let table = [
        // (encr, key, block, iv, icv, aead, ikev2 id, key bits)
        (Encr::DesCbc, 8, 8, 8, 0, false, 2, None),
        (Encr::TripleDesCbc, 24, 8, 8, 0, false, 3, None),
        (Encr::AesCbc128, 16, 16, 16, 0, false, 12, Some(128)),
        (Encr::AesCbc192, 24, 16, 16, 0, false, 12, Some(192)),
        (Encr::AesCbc256, 32, 16, 16, 0, false, 12, Some(256)),
        (Encr::AesGcm16_128, 20, 4, 8, 16, true, 20, Some(128)),
        (Encr::AesGcm16_256, 36, 4, 8, 16, true, 20, Some(256)),
    ];
    for (encr, key, block, iv, icv, aead, id, bits) in table {
        assert_eq!(
            (
                encr.key_len(),
                encr.block_size(),
                encr.iv_len(),
                encr.icv_len(),
                encr.is_aead()
            ),
            (key, block, iv, icv, aead),
            "{encr:?}"
        );
        assert_eq!(encr.ikev2_transform(), (id, bits));
        assert_eq!(Encr::from_ikev2(id, bits), Some(encr));
    }
    // Unsupported combinations: AES without a key length, 3DES with one, GCM-8/12, AES-CTR.
    for (id, bits) in [
        (12, None),
        (12, Some(64)),
        (3, Some(192)),
        (18, Some(128)),
        (19, Some(128)),
        (13, Some(128)),
    ] {
        assert_eq!(Encr::from_ikev2(id, bits), None, "{id} {bits:?}");
    }
}

#[test]
fn keyed_transforms_can_be_shared_between_data_plane_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Cipher>();
    shareable::<strait_crypto::IntegKey>();
    shareable::<strait_crypto::DhPrivate>();
}

#[test]
fn ikev1_phase1_encryption_attributes() {
    // RFC 2409 Appendix A / RFC 3602: DES-CBC 1, 3DES-CBC 5, AES-CBC 7 with a Key Length.
    let table = [
        (Encr::DesCbc, Some((1, None))),
        (Encr::TripleDesCbc, Some((5, None))),
        (Encr::AesCbc128, Some((7, Some(128)))),
        (Encr::AesCbc192, Some((7, Some(192)))),
        (Encr::AesCbc256, Some((7, Some(256)))),
        (Encr::AesGcm16_128, None),
        (Encr::AesGcm16_256, None),
    ];
    for (encr, attr) in table {
        assert_eq!(encr.ikev1_phase1(), attr, "{encr:?}");
        if let Some((id, bits)) = attr {
            assert_eq!(Encr::from_ikev1_phase1(id, bits), Some(encr));
        }
    }
    // IKEv2 numbers must not be read as IKEv1 ones: 3 is Blowfish, 12 and 20 are unassigned.
    for (id, bits) in [
        (3, None),
        (12, Some(128)),
        (20, Some(128)),
        (7, None),
        (7, Some(64)),
    ] {
        assert_eq!(Encr::from_ikev1_phase1(id, bits), None, "{id} {bits:?}");
    }
}
