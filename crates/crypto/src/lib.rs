//! Cryptographic transforms used by IKE and ESP: ciphers, integrity, PRFs and Diffie-Hellman.
//!
//! Every transform is a thin, typed layer over RustCrypto (and `crypto-bigint` for MODP).
//! Keyed objects ([`Cipher`], [`IntegKey`]) keep their key schedule so per-packet calls do
//! no key expansion and no allocation.
//!
//! ```
//! use strait_crypto::{Cipher, Encr, Integ, IntegKey};
//!
//! // ESP with AES-128-CBC and HMAC-SHA1-96: encrypt, then MAC header || IV || ciphertext.
//! let cipher = Cipher::new(Encr::AesCbc128, &[7; 16])?;
//! let integ = IntegKey::new(Integ::HmacSha1_96, &[9; 20])?;
//! let (header, iv) = ([0u8; 8], [3u8; 16]);
//! let mut payload = *b"padded to 16 B..";
//! cipher.encrypt(&iv, &[], &mut payload, &mut [])?;
//! let mut icv = [0u8; 12];
//! integ.compute(&[&header, &iv, &payload], &mut icv);
//!
//! // The receiver checks the ICV first, then decrypts.
//! assert!(integ.verify(&[&header, &iv, &payload], &icv));
//! cipher.decrypt(&iv, &[], &mut payload, &[])?;
//! assert_eq!(&payload, b"padded to 16 B..");
//! # Ok::<(), strait_crypto::CryptoError>(())
//! ```

#![warn(missing_docs)]

mod cipher;
mod dh;
mod integ;
mod modp;
mod prf;

pub use cipher::{Cipher, Encr};
pub use dh::{DhGroup, DhPrivate};
pub use integ::{Integ, IntegKey};
pub use prf::Prf;

/// Errors returned by the crypto transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key material has the wrong length for the transform.
    #[error("invalid key length: expected {expected} bytes, got {got}")]
    InvalidKeyLength {
        /// Bytes the transform needs.
        expected: usize,
        /// Bytes supplied.
        got: usize,
    },
    /// An IV, ICV or data buffer has a length the transform cannot take.
    #[error("invalid length of {what}: {got} bytes")]
    InvalidLength {
        /// Which buffer was wrong.
        what: &'static str,
        /// Bytes supplied.
        got: usize,
    },
    /// The authentication tag did not match.
    #[error("authentication failed")]
    AuthFailed,
    /// The peer's Diffie-Hellman public value is malformed or unsafe.
    #[error("invalid Diffie-Hellman public value")]
    InvalidPublicValue,
    /// A fixed private value is malformed for its group.
    #[error("invalid Diffie-Hellman private value")]
    InvalidPrivateValue,
}

/// Fills `buf` with bytes from the operating system's CSPRNG.
///
/// # Panics
/// If the OS random source fails, which leaves no safe way to continue.
pub fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("OS random number generator failed: {e}");
    }
}
