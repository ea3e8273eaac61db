//! Encryption transforms: DES/3DES/AES in CBC mode and AES-GCM with a 16-byte ICV.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit, aead::Nonce};
use cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    inout::InOutBuf,
};
use des::{Des, TdesEde3};

use crate::CryptoError;

/// Length of the RFC 4106 / RFC 5282 salt carried at the end of GCM key material.
const GCM_SALT_LEN: usize = 4;
/// Length of the explicit GCM IV on the wire.
const GCM_IV_LEN: usize = 8;
/// Length of the GCM ICV (ENCR_AES_GCM_16).
const GCM_ICV_LEN: usize = 16;

/// An encryption transform negotiated by IKE for IKE or ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_DES (legacy interop only).
    DesCbc,
    /// ENCR_3DES.
    TripleDesCbc,
    /// ENCR_AES_CBC with a 128-bit key.
    AesCbc128,
    /// ENCR_AES_CBC with a 192-bit key.
    AesCbc192,
    /// ENCR_AES_CBC with a 256-bit key.
    AesCbc256,
    /// ENCR_AES_GCM_16 with a 128-bit key.
    AesGcm16_128,
    /// ENCR_AES_GCM_16 with a 256-bit key.
    AesGcm16_256,
}

/// Every supported encryption transform.
const ALL: [Encr; 7] = [
    Encr::DesCbc,
    Encr::TripleDesCbc,
    Encr::AesCbc128,
    Encr::AesCbc192,
    Encr::AesCbc256,
    Encr::AesGcm16_128,
    Encr::AesGcm16_256,
];

impl Encr {
    /// Bytes of key material; GCM includes the 4-byte salt (RFC 4106/5282).
    pub fn key_len(self) -> usize {
        match self {
            Encr::DesCbc => 8,
            Encr::TripleDesCbc => 24,
            Encr::AesCbc128 => 16,
            Encr::AesCbc192 => 24,
            Encr::AesCbc256 => 32,
            Encr::AesGcm16_128 => 16 + GCM_SALT_LEN,
            Encr::AesGcm16_256 => 32 + GCM_SALT_LEN,
        }
    }

    /// Padding alignment: the cipher block for CBC, 4 for GCM.
    pub fn block_size(self) -> usize {
        match self {
            Encr::DesCbc | Encr::TripleDesCbc => 8,
            Encr::AesCbc128 | Encr::AesCbc192 | Encr::AesCbc256 => 16,
            Encr::AesGcm16_128 | Encr::AesGcm16_256 => 4,
        }
    }

    /// Length of the explicit IV on the wire: the block for CBC, 8 for GCM.
    pub fn iv_len(self) -> usize {
        if self.is_aead() {
            GCM_IV_LEN
        } else {
            self.block_size()
        }
    }

    /// Length of the ICV the cipher itself appends: 16 for GCM, 0 otherwise.
    pub fn icv_len(self) -> usize {
        if self.is_aead() { GCM_ICV_LEN } else { 0 }
    }

    /// Whether the transform is an AEAD (needs no separate integrity transform).
    pub fn is_aead(self) -> bool {
        matches!(self, Encr::AesGcm16_128 | Encr::AesGcm16_256)
    }

    /// IKEv2 transform ID and Key Length attribute in bits (RFC 7296 §3.3.2, RFC 5282).
    ///
    /// The same numbers are the IKEv1 IPsec DOI ESP transform IDs (RFC 2407 §4.4.4,
    /// RFC 3602, RFC 4106), so phase 2 proposals use this too.
    pub fn ikev2_transform(self) -> (u16, Option<u16>) {
        match self {
            Encr::DesCbc => (2, None),
            Encr::TripleDesCbc => (3, None),
            Encr::AesCbc128 => (12, Some(128)),
            Encr::AesCbc192 => (12, Some(192)),
            Encr::AesCbc256 => (12, Some(256)),
            Encr::AesGcm16_128 => (20, Some(128)),
            Encr::AesGcm16_256 => (20, Some(256)),
        }
    }

    /// The transform for an IKEv2 transform ID and Key Length attribute, if supported.
    pub fn from_ikev2(id: u16, key_bits: Option<u16>) -> Option<Encr> {
        ALL.into_iter()
            .find(|e| e.ikev2_transform() == (id, key_bits))
    }

    /// IKEv1 phase 1 Encryption Algorithm attribute and Key Length attribute in bits
    /// (RFC 2409 Appendix A, RFC 3602); `None` for GCM, which IKEv1 SAs cannot use.
    pub fn ikev1_phase1(self) -> Option<(u16, Option<u16>)> {
        match self {
            Encr::DesCbc => Some((1, None)),
            Encr::TripleDesCbc => Some((5, None)),
            Encr::AesCbc128 | Encr::AesCbc192 | Encr::AesCbc256 => {
                Some((7, self.ikev2_transform().1))
            }
            Encr::AesGcm16_128 | Encr::AesGcm16_256 => None,
        }
    }

    /// The transform for an IKEv1 phase 1 Encryption Algorithm and Key Length, if supported.
    pub fn from_ikev1_phase1(id: u16, key_bits: Option<u16>) -> Option<Encr> {
        ALL.into_iter()
            .find(|e| e.ikev1_phase1() == Some((id, key_bits)))
    }
}

/// The key-scheduled cipher state.
enum Keyed {
    Des(Des),
    TripleDes(TdesEde3),
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
    Gcm128(Aes128Gcm, [u8; GCM_SALT_LEN]),
    Gcm256(Aes256Gcm, [u8; GCM_SALT_LEN]),
}

/// A keyed encryption transform, ready for per-packet use.
pub struct Cipher {
    encr: Encr,
    keyed: Keyed,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("encr", &self.encr)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    /// Schedules `key` (exactly [`Encr::key_len`] bytes) for `encr`.
    pub fn new(encr: Encr, key: &[u8]) -> Result<Cipher, CryptoError> {
        let bad_key = CryptoError::InvalidKeyLength {
            expected: encr.key_len(),
            got: key.len(),
        };
        if key.len() != encr.key_len() {
            return Err(bad_key);
        }
        let keyed = match encr {
            Encr::DesCbc => Keyed::Des(Des::new_from_slice(key).map_err(|_| bad_key)?),
            Encr::TripleDesCbc => {
                Keyed::TripleDes(TdesEde3::new_from_slice(key).map_err(|_| bad_key)?)
            }
            Encr::AesCbc128 => Keyed::Aes128(Aes128::new_from_slice(key).map_err(|_| bad_key)?),
            Encr::AesCbc192 => Keyed::Aes192(Aes192::new_from_slice(key).map_err(|_| bad_key)?),
            Encr::AesCbc256 => Keyed::Aes256(Aes256::new_from_slice(key).map_err(|_| bad_key)?),
            Encr::AesGcm16_128 | Encr::AesGcm16_256 => {
                // RFC 4106 §8.1: the last four bytes of the key material are the salt.
                let split = key.len().saturating_sub(GCM_SALT_LEN);
                let (aes_key, salt) = key.split_at_checked(split).ok_or(bad_key)?;
                let salt: [u8; GCM_SALT_LEN] = salt.try_into().map_err(|_| bad_key)?;
                if encr == Encr::AesGcm16_128 {
                    Keyed::Gcm128(
                        Aes128Gcm::new_from_slice(aes_key).map_err(|_| bad_key)?,
                        salt,
                    )
                } else {
                    Keyed::Gcm256(
                        Aes256Gcm::new_from_slice(aes_key).map_err(|_| bad_key)?,
                        salt,
                    )
                }
            }
        };
        Ok(Cipher { encr, keyed })
    }

    /// The transform this cipher was keyed for.
    pub fn encr(&self) -> Encr {
        self.encr
    }

    /// Encrypts `buf` in place.
    ///
    /// CBC: `buf.len()` is a multiple of the block size, `iv` is one block, `aad` is ignored
    /// and `icv_out` must be empty. GCM: the nonce is salt(4) || `iv`(8), `aad` is
    /// authenticated and the 16-byte tag is written to `icv_out`.
    pub fn encrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        icv_out: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.check_lengths(iv, buf, icv_out.len())?;
        match &self.keyed {
            Keyed::Des(c) => cbc_encrypt(c, iv, buf),
            Keyed::TripleDes(c) => cbc_encrypt(c, iv, buf),
            Keyed::Aes128(c) => cbc_encrypt(c, iv, buf),
            Keyed::Aes192(c) => cbc_encrypt(c, iv, buf),
            Keyed::Aes256(c) => cbc_encrypt(c, iv, buf),
            Keyed::Gcm128(c, salt) => gcm_seal(c, salt, iv, aad, buf, icv_out),
            Keyed::Gcm256(c, salt) => gcm_seal(c, salt, iv, aad, buf, icv_out),
        }
    }

    /// Decrypts `buf` in place; for GCM, fails with [`CryptoError::AuthFailed`] if `icv` does
    /// not authenticate `aad` and `buf`. Lengths follow [`Cipher::encrypt`].
    pub fn decrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        self.check_lengths(iv, buf, icv.len())?;
        match &self.keyed {
            Keyed::Des(c) => cbc_decrypt(c, iv, buf),
            Keyed::TripleDes(c) => cbc_decrypt(c, iv, buf),
            Keyed::Aes128(c) => cbc_decrypt(c, iv, buf),
            Keyed::Aes192(c) => cbc_decrypt(c, iv, buf),
            Keyed::Aes256(c) => cbc_decrypt(c, iv, buf),
            Keyed::Gcm128(c, salt) => gcm_open(c, salt, iv, aad, buf, icv),
            Keyed::Gcm256(c, salt) => gcm_open(c, salt, iv, aad, buf, icv),
        }
    }

    /// Checks the IV, data and ICV lengths shared by encrypt and decrypt.
    fn check_lengths(&self, iv: &[u8], buf: &[u8], icv_len: usize) -> Result<(), CryptoError> {
        if iv.len() != self.encr.iv_len() {
            return Err(CryptoError::InvalidLength {
                what: "IV",
                got: iv.len(),
            });
        }
        if icv_len != self.encr.icv_len() {
            return Err(CryptoError::InvalidLength {
                what: "ICV",
                got: icv_len,
            });
        }
        if !self.encr.is_aead() && buf.len() % self.encr.block_size() != 0 {
            return Err(CryptoError::InvalidLength {
                what: "CBC data",
                got: buf.len(),
            });
        }
        Ok(())
    }
}

/// Builds the 12-byte GCM nonce salt || iv.
fn gcm_nonce<A: aes_gcm::AeadCore<NonceSize = cipher::consts::U12>>(
    salt: &[u8; GCM_SALT_LEN],
    iv: &[u8],
) -> Result<Nonce<A>, CryptoError> {
    let mut nonce = Nonce::<A>::default();
    let (head, tail) = nonce.split_at_mut(GCM_SALT_LEN);
    head.copy_from_slice(salt);
    if tail.len() != iv.len() {
        return Err(CryptoError::InvalidLength {
            what: "IV",
            got: iv.len(),
        });
    }
    tail.copy_from_slice(iv);
    Ok(nonce)
}

fn gcm_seal<A: AeadInOut<NonceSize = cipher::consts::U12>>(
    aead: &A,
    salt: &[u8; GCM_SALT_LEN],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    icv_out: &mut [u8],
) -> Result<(), CryptoError> {
    let nonce = gcm_nonce::<A>(salt, iv)?;
    let tag = aead
        .encrypt_inout_detached(&nonce, aad, buf.into())
        .map_err(|_| CryptoError::InvalidLength {
            what: "GCM data",
            got: buf.len(),
        })?;
    if icv_out.len() != tag.len() {
        return Err(CryptoError::InvalidLength {
            what: "ICV",
            got: icv_out.len(),
        });
    }
    icv_out.copy_from_slice(&tag);
    Ok(())
}

fn gcm_open<A: AeadInOut<NonceSize = cipher::consts::U12>>(
    aead: &A,
    salt: &[u8; GCM_SALT_LEN],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    icv: &[u8],
) -> Result<(), CryptoError> {
    let nonce = gcm_nonce::<A>(salt, iv)?;
    let tag = Array::try_from(icv).map_err(|_| CryptoError::InvalidLength {
        what: "ICV",
        got: icv.len(),
    })?;
    aead.decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
        .map_err(|_| CryptoError::AuthFailed)
}

fn cbc_encrypt<C: BlockCipherEncrypt + Clone>(
    c: &C,
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    let mut mode = cbc::Encryptor::<C>::inner_iv_slice_init(c.clone(), iv).map_err(|_| {
        CryptoError::InvalidLength {
            what: "IV",
            got: iv.len(),
        }
    })?;
    let (blocks, tail) = InOutBuf::from(buf).into_chunks();
    if !tail.is_empty() {
        return Err(CryptoError::InvalidLength {
            what: "CBC data",
            got: tail.len(),
        });
    }
    mode.encrypt_blocks_inout(blocks);
    Ok(())
}

fn cbc_decrypt<C: BlockCipherDecrypt + Clone>(
    c: &C,
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    let mut mode = cbc::Decryptor::<C>::inner_iv_slice_init(c.clone(), iv).map_err(|_| {
        CryptoError::InvalidLength {
            what: "IV",
            got: iv.len(),
        }
    })?;
    let (blocks, tail) = InOutBuf::from(buf).into_chunks();
    if !tail.is_empty() {
        return Err(CryptoError::InvalidLength {
            what: "CBC data",
            got: tail.len(),
        });
    }
    mode.decrypt_blocks_inout(blocks);
    Ok(())
}
