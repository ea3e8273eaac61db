//! Integrity transforms: truncated HMACs for IKE SK payloads and ESP (RFC 2404, RFC 4868).

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

use crate::CryptoError;

/// An integrity transform negotiated by IKE for IKE or ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_MD5_96 (RFC 2403).
    HmacMd5_96,
    /// AUTH_HMAC_SHA1_96 (RFC 2404).
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
    HmacSha512_256,
}

impl Integ {
    /// Bytes of key material (the hash output length).
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacMd5_96 => 16,
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// Bytes of the truncated ICV on the wire.
    pub fn icv_len(self) -> usize {
        match self {
            Integ::HmacMd5_96 | Integ::HmacSha1_96 => 12,
            Integ::HmacSha256_128 => 16,
            Integ::HmacSha384_192 => 24,
            Integ::HmacSha512_256 => 32,
        }
    }

    /// IKEv2 transform ID (RFC 7296 §3.3.2, RFC 4868).
    pub fn ikev2_id(self) -> u16 {
        match self {
            Integ::HmacMd5_96 => 1,
            Integ::HmacSha1_96 => 2,
            Integ::HmacSha256_128 => 12,
            Integ::HmacSha384_192 => 13,
            Integ::HmacSha512_256 => 14,
        }
    }

    /// The transform for an IKEv2 transform ID, if supported.
    pub fn from_ikev2(id: u16) -> Option<Integ> {
        ALL.into_iter().find(|i| i.ikev2_id() == id)
    }

    /// IKEv1 phase 2 Authentication Algorithm attribute (RFC 2407 §4.5, RFC 4868 §4).
    pub fn ikev1_auth_id(self) -> u16 {
        match self {
            Integ::HmacMd5_96 => 1,
            Integ::HmacSha1_96 => 2,
            Integ::HmacSha256_128 => 5,
            Integ::HmacSha384_192 => 6,
            Integ::HmacSha512_256 => 7,
        }
    }

    /// The transform for an IKEv1 phase 2 Authentication Algorithm, if supported.
    pub fn from_ikev1_auth(id: u16) -> Option<Integ> {
        ALL.into_iter().find(|i| i.ikev1_auth_id() == id)
    }
}

/// Every supported integrity transform.
const ALL: [Integ; 5] = [
    Integ::HmacMd5_96,
    Integ::HmacSha1_96,
    Integ::HmacSha256_128,
    Integ::HmacSha384_192,
    Integ::HmacSha512_256,
];

/// A keyed HMAC of any supported hash; shared by [`IntegKey`] and the PRFs.
#[derive(Clone)]
pub(crate) enum KeyedHmac {
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

/// Largest HMAC output of any supported hash (SHA-512).
pub(crate) const MAX_MAC_LEN: usize = 64;

/// Runs `$body` with `$m` bound to the concrete HMAC inside a [`KeyedHmac`].
macro_rules! with_hmac {
    ($keyed:expr, $m:ident => $body:expr) => {
        match $keyed {
            KeyedHmac::Md5($m) => $body,
            KeyedHmac::Sha1($m) => $body,
            KeyedHmac::Sha256($m) => $body,
            KeyedHmac::Sha384($m) => $body,
            KeyedHmac::Sha512($m) => $body,
        }
    };
}

/// Hash functions an HMAC can be built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl KeyedHmac {
    /// Keys an HMAC over `hash`; HMAC accepts keys of any length.
    pub(crate) fn new(hash: HashAlg, key: &[u8]) -> KeyedHmac {
        fn keyed<M: KeyInit>(key: &[u8]) -> M {
            // HMAC accepts keys of any length, so this never takes the error branch.
            M::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
        }
        match hash {
            HashAlg::Md5 => KeyedHmac::Md5(keyed(key)),
            HashAlg::Sha1 => KeyedHmac::Sha1(keyed(key)),
            HashAlg::Sha256 => KeyedHmac::Sha256(keyed(key)),
            HashAlg::Sha384 => KeyedHmac::Sha384(keyed(key)),
            HashAlg::Sha512 => KeyedHmac::Sha512(keyed(key)),
        }
    }

    /// Full-length MAC of the concatenated `parts`, written to the front of `out`;
    /// returns the MAC length.
    pub(crate) fn mac_into(&self, parts: &[&[u8]], out: &mut [u8; MAX_MAC_LEN]) -> usize {
        with_hmac!(self, m => {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            let tag = m.finalize().into_bytes();
            for (dst, src) in out.iter_mut().zip(tag.iter()) {
                *dst = *src;
            }
            tag.len()
        })
    }

    /// Constant-time check of a left-truncated MAC of the concatenated `parts`.
    fn verify_truncated(&self, parts: &[&[u8]], icv: &[u8]) -> bool {
        with_hmac!(self, m => {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            m.verify_truncated_left(icv).is_ok()
        })
    }
}

/// A keyed integrity transform, ready for per-packet use.
#[derive(Clone)]
pub struct IntegKey {
    integ: Integ,
    hmac: KeyedHmac,
}

impl std::fmt::Debug for IntegKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegKey")
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl IntegKey {
    /// Keys `integ` with `key` (exactly [`Integ::key_len`] bytes).
    pub fn new(integ: Integ, key: &[u8]) -> Result<IntegKey, CryptoError> {
        if key.len() != integ.key_len() {
            return Err(CryptoError::InvalidKeyLength {
                expected: integ.key_len(),
                got: key.len(),
            });
        }
        let hash = match integ {
            Integ::HmacMd5_96 => HashAlg::Md5,
            Integ::HmacSha1_96 => HashAlg::Sha1,
            Integ::HmacSha256_128 => HashAlg::Sha256,
            Integ::HmacSha384_192 => HashAlg::Sha384,
            Integ::HmacSha512_256 => HashAlg::Sha512,
        };
        Ok(IntegKey {
            integ,
            hmac: KeyedHmac::new(hash, key),
        })
    }

    /// The transform this key was made for.
    pub fn integ(&self) -> Integ {
        self.integ
    }

    /// Writes the truncated ICV over the concatenated `parts` to `icv_out`.
    ///
    /// # Panics
    /// If `icv_out.len()` is not [`Integ::icv_len`] (a caller bug, never wire data).
    pub fn compute(&self, parts: &[&[u8]], icv_out: &mut [u8]) {
        assert_eq!(icv_out.len(), self.integ.icv_len(), "ICV buffer length");
        let mut full = [0u8; MAX_MAC_LEN];
        self.hmac.mac_into(parts, &mut full);
        if let Some(head) = full.get(..icv_out.len()) {
            icv_out.copy_from_slice(head);
        }
    }

    /// Whether `icv` is the truncated ICV of the concatenated `parts`, in constant time.
    pub fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> bool {
        icv.len() == self.integ.icv_len() && self.hmac.verify_truncated(parts, icv)
    }
}
