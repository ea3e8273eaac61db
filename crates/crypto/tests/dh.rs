//! Diffie-Hellman: published vectors, round trips, and rejection of unsafe peer values.

use hex_literal::hex;
use strait_crypto::{CryptoError, DhGroup, DhPrivate};

const ALL: [DhGroup; 6] = [
    DhGroup::Modp768,
    DhGroup::Modp1024,
    DhGroup::Modp1536,
    DhGroup::Modp2048,
    DhGroup::Ecp256,
    DhGroup::Curve25519,
];
const MODP: [DhGroup; 4] = [
    DhGroup::Modp768,
    DhGroup::Modp1024,
    DhGroup::Modp1536,
    DhGroup::Modp2048,
];

#[test]
fn x25519_rfc7748_section_6_1() {
    let alice = DhPrivate::from_private_bytes(
        DhGroup::Curve25519,
        &hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let bob = DhPrivate::from_private_bytes(
        DhGroup::Curve25519,
        &hex!("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_eq!(
        alice.public_value(),
        hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public_value(),
        hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(alice.agree(&bob.public_value()).unwrap(), shared);
    assert_eq!(bob.agree(&alice.public_value()).unwrap(), shared);
}

#[test]
fn ecp256_rfc5903_section_8_1() {
    let i = DhPrivate::from_private_bytes(
        DhGroup::Ecp256,
        &hex!("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
    )
    .unwrap();
    let r = DhPrivate::from_private_bytes(
        DhGroup::Ecp256,
        &hex!("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
    )
    .unwrap();
    let gi = hex!(
        "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
        "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
    );
    let gr = hex!(
        "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
        "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
    );
    assert_eq!(i.public_value(), gi);
    assert_eq!(r.public_value(), gr);
    let girx = hex!("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    assert_eq!(i.agree(&gr).unwrap(), girx);
    assert_eq!(r.agree(&gi).unwrap(), girx);
}

/// A MODP vector from testdata/modp_vectors.txt (made by testdata/gen_modp.py).
struct ModpVector {
    prime: Vec<u8>,
    public_a: Vec<u8>,
    public_b: Vec<u8>,
    shared: Vec<u8>,
}

fn modp_vector(group: DhGroup) -> ModpVector {
    let field = |name: &str| -> Vec<u8> {
        let text = include_str!("../testdata/modp_vectors.txt");
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("group {} {name}:", group.id())))
            .unwrap_or_else(|| panic!("no {name} for group {}", group.id()));
        hex::decode(line.split_whitespace().last().unwrap()).unwrap()
    };
    ModpVector {
        prime: field("prime"),
        public_a: field("public_a"),
        public_b: field("public_b"),
        shared: field("shared"),
    }
}

/// The fixed private exponents used by gen_modp.py: bytes 0x01..=0x40 and 0x41..=0x80.
fn fixed_exponents() -> (Vec<u8>, Vec<u8>) {
    ((0x01..=0x40).collect(), (0x41..=0x80).collect())
}

#[test]
fn modp_fixed_key_vectors_match_independent_reference() {
    let (xa, xb) = fixed_exponents();
    for group in MODP {
        let v = modp_vector(group);
        assert_eq!(v.prime.len(), group.public_len());
        let a = DhPrivate::from_private_bytes(group, &xa).unwrap();
        let b = DhPrivate::from_private_bytes(group, &xb).unwrap();
        assert_eq!(a.public_value(), v.public_a, "{group:?} g^a");
        assert_eq!(b.public_value(), v.public_b, "{group:?} g^b");
        assert_eq!(a.agree(&v.public_b).unwrap(), v.shared, "{group:?} (g^b)^a");
        assert_eq!(b.agree(&v.public_a).unwrap(), v.shared, "{group:?} (g^a)^b");
    }
}

#[test]
fn modp_secret_keeps_leading_zeros() {
    // A private exponent whose public value has leading zero bytes is still padded to the
    // prime length: g^x for x = 1 is 2, i.e. 00 .. 00 02.
    for group in MODP {
        let x = DhPrivate::from_private_bytes(group, &[1]).unwrap();
        let public = x.public_value();
        assert_eq!(public.len(), group.public_len());
        assert!(public[..public.len() - 1].iter().all(|&b| b == 0) && public.last() == Some(&2));
    }
}

#[test]
fn generated_keys_agree_for_every_group() {
    for group in ALL {
        let a = DhPrivate::generate(group);
        let b = DhPrivate::generate(group);
        assert_eq!(a.group(), group);
        let (pa, pb) = (a.public_value(), b.public_value());
        assert_eq!(pa.len(), group.public_len(), "{group:?}");
        assert_ne!(pa, pb, "{group:?} fresh keys differ");
        let s = a.agree(&pb).unwrap();
        assert_eq!(s, b.agree(&pa).unwrap(), "{group:?}");
        let secret_len = if group == DhGroup::Ecp256 {
            32
        } else {
            group.public_len()
        };
        assert_eq!(s.len(), secret_len, "{group:?}");
    }
}

fn assert_rejected(private: &DhPrivate, peer: &[u8], what: &str) {
    assert_eq!(
        private.agree(peer),
        Err(CryptoError::InvalidPublicValue),
        "{:?}: {what}",
        private.group()
    );
}

#[test]
fn modp_rejects_values_outside_1_to_p_minus_1() {
    let (xa, _) = fixed_exponents();
    for group in MODP {
        let v = modp_vector(group);
        let len = group.public_len();
        let x = DhPrivate::from_private_bytes(group, &xa).unwrap();
        let number = |tail: u8| {
            let mut n = vec![0u8; len];
            n[len - 1] = tail;
            n
        };
        let p = v.prime.clone();
        let mut p_minus_1 = p.clone();
        p_minus_1[len - 1] -= 1;
        let mut p_minus_2 = p.clone();
        p_minus_2[len - 1] -= 2;
        assert_rejected(&x, &number(0), "0");
        assert_rejected(&x, &number(1), "1");
        assert_rejected(&x, &p_minus_1, "p-1");
        assert_rejected(&x, &p, "p");
        assert_rejected(&x, &vec![0xff; len], "2^n-1 > p");
        assert_rejected(&x, &v.public_b[1..], "one byte short");
        assert_rejected(&x, &[&v.public_b[..], &[0]].concat(), "one byte long");
        assert_rejected(&x, &[], "empty");
        // The boundaries just inside the range are accepted.
        assert!(x.agree(&number(2)).is_ok(), "{group:?}: 2");
        assert!(x.agree(&p_minus_2).is_ok(), "{group:?}: p-2");
    }
}

#[test]
fn ecp256_rejects_points_off_the_curve() {
    let x = DhPrivate::generate(DhGroup::Ecp256);
    let good = DhPrivate::generate(DhGroup::Ecp256).public_value();
    let mut off_curve = good.clone();
    off_curve[63] ^= 1;
    assert_rejected(&x, &off_curve, "y flipped");
    assert_rejected(&x, &[0u8; 64], "all zero (no encoding of infinity)");
    // x = p (not a canonical field element), with a y taken from a real point.
    let p = hex!("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    assert_rejected(&x, &[&p[..], &good[32..]].concat(), "x = p");
    assert_rejected(&x, &good[..63], "63 bytes");
    assert_rejected(&x, &[&[0x04], &good[..]].concat(), "SEC1 prefix included");
    assert_rejected(&x, &good[..32], "compressed-size input");
    assert!(x.agree(&good).is_ok());
}

#[test]
fn x25519_rejects_low_order_points_and_bad_lengths() {
    let x = DhPrivate::generate(DhGroup::Curve25519);
    // u = 0, u = 1 and a point of order 8 (listed in RFC 7748 §7 discussions and libsodium's
    // blocklist) all give the all-zero shared secret.
    assert_rejected(&x, &[0u8; 32], "u = 0");
    assert_rejected(
        &x,
        &hex!("0100000000000000000000000000000000000000000000000000000000000000"),
        "u = 1",
    );
    assert_rejected(
        &x,
        &hex!("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        "order 8",
    );
    assert_rejected(&x, &[9u8; 31], "31 bytes");
    assert_rejected(&x, &[9u8; 33], "33 bytes");
}

#[test]
fn bad_private_values_are_refused() {
    for group in MODP {
        let len = group.public_len();
        for bad in [vec![], vec![0; 8], vec![1; len + 1]] {
            assert_eq!(
                DhPrivate::from_private_bytes(group, &bad).unwrap_err(),
                CryptoError::InvalidPrivateValue
            );
        }
    }
    let n = hex!("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    for bad in [&[0u8; 32][..], &n, &[1u8; 31]] {
        assert_eq!(
            DhPrivate::from_private_bytes(DhGroup::Ecp256, bad).unwrap_err(),
            CryptoError::InvalidPrivateValue
        );
    }
    for bad in [&[1u8; 31][..], &[1u8; 33]] {
        assert_eq!(
            DhPrivate::from_private_bytes(DhGroup::Curve25519, bad).unwrap_err(),
            CryptoError::InvalidPrivateValue
        );
    }
}

#[test]
fn group_ids_follow_iana() {
    let table = [
        (DhGroup::Modp768, 1, 96),
        (DhGroup::Modp1024, 2, 128),
        (DhGroup::Modp1536, 5, 192),
        (DhGroup::Modp2048, 14, 256),
        (DhGroup::Ecp256, 19, 64),
        (DhGroup::Curve25519, 31, 32),
    ];
    for (group, id, len) in table {
        assert_eq!((group.id(), group.public_len()), (id, len));
        assert_eq!(DhGroup::from_id(id), Some(group));
    }
    for id in [0, 3, 4, 15, 20, 21, 22, 32] {
        assert_eq!(DhGroup::from_id(id), None, "group {id}");
    }
}
