//! Diffie-Hellman groups for IKE key exchange: MODP (RFC 2409/3526), ECP-256 (RFC 5903)
//! and Curve25519 (RFC 8031).

use p256::elliptic_curve::sec1::ToSec1Point;
use zeroize::Zeroizing;

use crate::modp::{self, ModpGroup};
use crate::{CryptoError, fill_random};

/// Bytes (512 bits) of a freshly generated MODP private exponent: more than twice the
/// security strength of every supported group, above RFC 3526 §8's 320 bits for 2048-bit MODP.
const MODP_EXPONENT_BYTES: usize = 64;

/// A Diffie-Hellman group, by IANA transform ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 1: 768-bit MODP.
    Modp768,
    /// Group 2: 1024-bit MODP.
    Modp1024,
    /// Group 5: 1536-bit MODP.
    Modp1536,
    /// Group 14: 2048-bit MODP.
    Modp2048,
    /// Group 19: 256-bit random ECP (NIST P-256).
    Ecp256,
    /// Group 31: Curve25519.
    Curve25519,
}

const ALL: [DhGroup; 6] = [
    DhGroup::Modp768,
    DhGroup::Modp1024,
    DhGroup::Modp1536,
    DhGroup::Modp2048,
    DhGroup::Ecp256,
    DhGroup::Curve25519,
];

impl DhGroup {
    /// IANA Diffie-Hellman group number.
    pub fn id(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Ecp256 => 19,
            DhGroup::Curve25519 => 31,
        }
    }

    /// The group for an IANA group number, if supported.
    pub fn from_id(id: u16) -> Option<DhGroup> {
        ALL.into_iter().find(|g| g.id() == id)
    }

    /// Bytes of the public value in a KE payload.
    pub fn public_len(self) -> usize {
        match self.modp() {
            Some(m) => m.prime().len(),
            None if self == DhGroup::Ecp256 => 64,
            None => 32,
        }
    }

    fn modp(self) -> Option<&'static ModpGroup> {
        match self {
            DhGroup::Modp768 => Some(&modp::GROUP_768),
            DhGroup::Modp1024 => Some(&modp::GROUP_1024),
            DhGroup::Modp1536 => Some(&modp::GROUP_1536),
            DhGroup::Modp2048 => Some(&modp::GROUP_2048),
            DhGroup::Ecp256 | DhGroup::Curve25519 => None,
        }
    }
}

/// The secret half of a key exchange.
enum Secret {
    Modp {
        group: &'static ModpGroup,
        exponent: Zeroizing<Vec<u8>>,
        public: Vec<u8>,
    },
    Ecp256(p256::SecretKey),
    X25519(x25519_dalek::StaticSecret),
}

/// A Diffie-Hellman private value with its public value; the secret is zeroized on drop.
pub struct DhPrivate {
    group: DhGroup,
    secret: Secret,
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl DhPrivate {
    /// Generates a fresh private value for `group` from the OS CSPRNG.
    pub fn generate(group: DhGroup) -> DhPrivate {
        loop {
            let len = if group.modp().is_some() {
                MODP_EXPONENT_BYTES
            } else {
                32
            };
            let mut bytes = Zeroizing::new(vec![0u8; len]);
            fill_random(&mut bytes);
            // Only a P-256 scalar of zero or >= n is rejected (probability ~2^-32); draw again.
            if let Ok(private) = DhPrivate::from_private_bytes(group, &bytes) {
                return private;
            }
        }
    }

    /// Builds the private value from fixed bytes, for test vectors and reproducible exchanges.
    ///
    /// MODP: a big-endian exponent of 1 to prime-length bytes, not zero. ECP-256: a 32-byte
    /// scalar in [1, n-1]. Curve25519: 32 bytes, clamped as RFC 7748 says.
    pub fn from_private_bytes(group: DhGroup, bytes: &[u8]) -> Result<DhPrivate, CryptoError> {
        let secret = match group {
            DhGroup::Ecp256 => {
                let k: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPrivateValue)?;
                Secret::Ecp256(
                    p256::SecretKey::from_bytes(&k.into())
                        .map_err(|_| CryptoError::InvalidPrivateValue)?,
                )
            }
            DhGroup::Curve25519 => {
                let k: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPrivateValue)?;
                Secret::X25519(x25519_dalek::StaticSecret::from(k))
            }
            DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536 | DhGroup::Modp2048 => {
                let m = group.modp().ok_or(CryptoError::InvalidPrivateValue)?;
                if bytes.is_empty()
                    || bytes.len() > m.prime().len()
                    || bytes.iter().all(|&b| b == 0)
                {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                let public = modp::pow(m, &[2], bytes).to_vec();
                Secret::Modp {
                    group: m,
                    exponent: Zeroizing::new(bytes.to_vec()),
                    public,
                }
            }
        };
        Ok(DhPrivate { group, secret })
    }

    /// The group of this private value.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value as carried in an IKE KE payload.
    ///
    /// MODP: big-endian, padded to the prime's length. ECP-256: x || y (RFC 5903 §7).
    /// Curve25519: the 32-byte u-coordinate (RFC 8031).
    pub fn public_value(&self) -> Vec<u8> {
        match &self.secret {
            Secret::Modp { public, .. } => public.clone(),
            Secret::Ecp256(sk) => {
                let point = sk.public_key().as_affine().to_sec1_point(false);
                point.as_bytes().get(1..).unwrap_or_default().to_vec()
            }
            Secret::X25519(sk) => x25519_dalek::PublicKey::from(sk).as_bytes().to_vec(),
        }
    }

    /// The shared secret with `peer_public`, after validating the peer's value.
    ///
    /// Rejects (RFC 6989) a value of the wrong length; for MODP one outside 1 < y < p-1; for
    /// ECP-256 a point not on the curve; for Curve25519 one giving an all-zero secret.
    /// MODP secrets are padded to the prime's length; ECP-256 returns the x-coordinate.
    pub fn agree(&self, peer_public: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if peer_public.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPublicValue);
        }
        match &self.secret {
            Secret::Modp {
                group, exponent, ..
            } => {
                if !modp_public_in_range(group.prime(), peer_public) {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(modp::pow(group, peer_public, exponent).to_vec())
            }
            Secret::Ecp256(sk) => {
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(peer_public);
                let peer = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
            Secret::X25519(sk) => {
                let peer: [u8; 32] = peer_public
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
                if !shared.was_contributory() {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(shared.as_bytes().to_vec())
            }
        }
    }
}

/// Whether the big-endian `y` (same length as `prime`) satisfies 1 < y < p-1 (RFC 6989 §2.1).
fn modp_public_in_range(prime: &[u8], y: &[u8]) -> bool {
    let Some((last, head)) = y.split_last() else {
        return false;
    };
    let above_one = head.iter().any(|&b| b != 0) || *last > 1;
    // p is odd, so p-1 is p with its last byte decremented; byte-wise comparison of equal-length
    // big-endian values is numeric comparison.
    let Some((p_last, p_head)) = prime.split_last() else {
        return false;
    };
    let below_p_minus_one = (p_head, p_last.wrapping_sub(1)) > (head, *last);
    above_one && below_p_minus_one
}
