//! Pseudo-random functions for IKE key derivation (RFC 7296 §2.13, RFC 4868).

use crate::integ::{HashAlg, KeyedHmac, MAX_MAC_LEN};

/// A PRF negotiated by IKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_MD5.
    HmacMd5,
    /// PRF_HMAC_SHA1.
    HmacSha1,
    /// PRF_HMAC_SHA2_256.
    HmacSha256,
    /// PRF_HMAC_SHA2_384.
    HmacSha384,
    /// PRF_HMAC_SHA2_512.
    HmacSha512,
}

const ALL: [Prf; 5] = [
    Prf::HmacMd5,
    Prf::HmacSha1,
    Prf::HmacSha256,
    Prf::HmacSha384,
    Prf::HmacSha512,
];

impl Prf {
    /// Bytes of PRF output.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacMd5 => 16,
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    /// Preferred key length in bytes (RFC 7296 §2.13: the output length for HMAC PRFs).
    pub fn key_len(self) -> usize {
        self.output_len()
    }

    /// IKEv2 transform ID (RFC 7296 §3.3.2, RFC 4868).
    pub fn ikev2_id(self) -> u16 {
        match self {
            Prf::HmacMd5 => 1,
            Prf::HmacSha1 => 2,
            Prf::HmacSha256 => 5,
            Prf::HmacSha384 => 6,
            Prf::HmacSha512 => 7,
        }
    }

    /// The PRF for an IKEv2 transform ID, if supported.
    pub fn from_ikev2(id: u16) -> Option<Prf> {
        ALL.into_iter().find(|p| p.ikev2_id() == id)
    }

    /// IKEv1 phase 1 Hash Algorithm attribute whose HMAC is this PRF (RFC 2409 Appendix A;
    /// SHA-2 values from the IANA IPsec registry).
    pub fn ikev1_hash_id(self) -> u16 {
        match self {
            Prf::HmacMd5 => 1,
            Prf::HmacSha1 => 2,
            Prf::HmacSha256 => 4,
            Prf::HmacSha384 => 5,
            Prf::HmacSha512 => 6,
        }
    }

    /// The PRF for an IKEv1 phase 1 Hash Algorithm attribute, if supported.
    pub fn from_ikev1_hash(id: u16) -> Option<Prf> {
        ALL.into_iter().find(|p| p.ikev1_hash_id() == id)
    }

    fn keyed(self, key: &[u8]) -> KeyedHmac {
        let hash = match self {
            Prf::HmacMd5 => HashAlg::Md5,
            Prf::HmacSha1 => HashAlg::Sha1,
            Prf::HmacSha256 => HashAlg::Sha256,
            Prf::HmacSha384 => HashAlg::Sha384,
            Prf::HmacSha512 => HashAlg::Sha512,
        };
        KeyedHmac::new(hash, key)
    }

    /// prf(key, parts[0] | parts[1] | ...): the full HMAC output.
    pub fn prf(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut out = [0u8; MAX_MAC_LEN];
        let n = self.keyed(key).mac_into(parts, &mut out);
        out.get(..n).unwrap_or_default().to_vec()
    }

    /// prf+(key, seed) truncated to `len` bytes (RFC 7296 §2.13).
    ///
    /// # Panics
    /// If `len` exceeds 255 * [`Prf::output_len`], the most prf+ can produce (a caller bug).
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
        assert!(
            len <= 255 * self.output_len(),
            "prf+ output limited to 255 blocks"
        );
        let keyed = self.keyed(key);
        let mut out = Vec::with_capacity(len + MAX_MAC_LEN);
        let mut block = [0u8; MAX_MAC_LEN];
        let mut block_len = 0;
        let mut counter = 1u8;
        while out.len() < len {
            let mut next = [0u8; MAX_MAC_LEN];
            let prev = block.get(..block_len).unwrap_or_default();
            block_len = keyed.mac_into(&[prev, seed, &[counter]], &mut next);
            block = next;
            out.extend_from_slice(block.get(..block_len).unwrap_or_default());
            counter = counter.wrapping_add(1);
        }
        out.truncate(len);
        out
    }
}
