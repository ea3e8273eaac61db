//! Finite-field (MODP) Diffie-Hellman arithmetic: the group primes and the one modexp seam.
//!
//! [`pow`] is the only place that does big-number arithmetic, so a faster constant-time
//! backend can replace `crypto-bigint` here without touching the DH logic.

use std::sync::OnceLock;

use crypto_bigint::{
    BoxedUint, Odd,
    modular::{BoxedMontyForm, BoxedMontyParams},
};
use hex_literal::hex;
use zeroize::{Zeroize, Zeroizing};

/// A MODP group's prime with its precomputed Montgomery parameters.
pub(crate) struct ModpGroup {
    prime: &'static [u8],
    params: OnceLock<BoxedMontyParams>,
}

impl ModpGroup {
    const fn new(prime: &'static [u8]) -> ModpGroup {
        ModpGroup {
            prime,
            params: OnceLock::new(),
        }
    }

    /// The prime, big-endian, exactly the group's public value length.
    pub(crate) fn prime(&self) -> &'static [u8] {
        self.prime
    }

    fn bits(&self) -> u32 {
        u32::try_from(self.prime.len() * 8).unwrap_or(u32::MAX)
    }

    fn params(&self) -> &BoxedMontyParams {
        self.params.get_or_init(|| {
            let p = BoxedUint::from_be_slice_vartime(self.prime);
            // Every MODP prime is odd, so this cannot fail.
            let odd =
                Option::from(Odd::new(p)).unwrap_or_else(|| unreachable!("MODP prime is odd"));
            BoxedMontyParams::new_vartime(odd)
        })
    }
}

/// MODP group 1 (768-bit).
pub(crate) static GROUP_768: ModpGroup = ModpGroup::new(&MODP_768);
/// MODP group 2 (1024-bit).
pub(crate) static GROUP_1024: ModpGroup = ModpGroup::new(&MODP_1024);
/// MODP group 5 (1536-bit).
pub(crate) static GROUP_1536: ModpGroup = ModpGroup::new(&MODP_1536);
/// MODP group 14 (2048-bit).
pub(crate) static GROUP_2048: ModpGroup = ModpGroup::new(&MODP_2048);

/// `base ^ exponent mod p`, big-endian and padded to the prime's length.
///
/// Constant time in the exponent's value (its length is public). `base` must be below the
/// prime and no longer than it; callers validate peer values before calling.
pub(crate) fn pow(group: &ModpGroup, base: &[u8], exponent: &[u8]) -> Zeroizing<Vec<u8>> {
    let bits = group.bits();
    let base = BoxedUint::from_be_slice_truncated(base, bits);
    let exp_bits = u32::try_from(exponent.len() * 8).unwrap_or(u32::MAX);
    let mut exp = BoxedUint::from_be_slice_truncated(exponent, exp_bits);
    let mut monty = BoxedMontyForm::new(base, group.params()).pow(&exp);
    let mut result = monty.retrieve();
    monty.zeroize();
    exp.zeroize();
    let bytes = Zeroizing::new(result.to_be_bytes().into_vec());
    result.zeroize();
    let skip = bytes.len().saturating_sub(group.prime.len());
    Zeroizing::new(bytes.get(skip..).unwrap_or_default().to_vec())
}

/// The MODP-768 prime, RFC 2409 §6.1 (group 1).
pub(crate) const MODP_768: [u8; 96] = hex!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF"
);

/// The MODP-1024 prime, RFC 2409 §6.2 (group 2).
pub(crate) const MODP_1024: [u8; 128] = hex!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
);

/// The MODP-1536 prime, RFC 3526 §2 (group 5).
pub(crate) const MODP_1536: [u8; 192] = hex!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
);

/// The MODP-2048 prime, RFC 3526 §3 (group 14).
pub(crate) const MODP_2048: [u8; 256] = hex!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
);
