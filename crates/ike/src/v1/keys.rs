//! IKEv1 key material (RFC 2409 §5, §5.5, Appendix B): SKEYID, authentication hashes, CBC
//! encryption with IV chaining, and KEYMAT.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use strait_crypto::{Cipher, CryptoError, Encr, Prf};

use super::message::{Chain, FLAG_ENCRYPTED, Header, Payload, encode_chain};

/// Why a protected message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Its length is not whole cipher blocks or decryption failed.
    #[error("cannot decrypt: {0}")]
    Crypto(#[from] CryptoError),
    /// The plaintext is not a valid payload chain (typically a wrong key).
    #[error("decrypted payloads are malformed")]
    Garbled,
}

/// The plain hash behind an HMAC PRF, as IKEv1 uses it for IVs and NAT-D.
pub fn hash(prf: Prf, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    }
    match prf {
        Prf::HmacMd5 => run::<Md5>(parts),
        Prf::HmacSha1 => run::<Sha1>(parts),
        Prf::HmacSha256 => run::<Sha256>(parts),
        Prf::HmacSha384 => run::<Sha384>(parts),
        Prf::HmacSha512 => run::<Sha512>(parts),
    }
}

/// Keys of an ISAKMP SA.
pub struct Phase1Keys {
    prf: Prf,
    skeyid: Vec<u8>,
    skeyid_d: Vec<u8>,
    skeyid_a: Vec<u8>,
    cipher: Cipher,
    /// The phase 1 CBC chain: the last ciphertext block of phase 1 (or its initial IV).
    pub iv: Vec<u8>,
}

/// Inputs of the phase 1 key derivation.
pub struct Phase1Input<'a> {
    /// Negotiated PRF.
    pub prf: Prf,
    /// Negotiated cipher.
    pub encr: Encr,
    /// Pre-shared key.
    pub psk: &'a [u8],
    /// Initiator and responder nonces.
    pub ni: &'a [u8],
    /// Responder nonce.
    pub nr: &'a [u8],
    /// Diffie-Hellman shared secret.
    pub gxy: &'a [u8],
    /// Initiator's and responder's public values.
    pub gxi: &'a [u8],
    /// Responder's public value.
    pub gxr: &'a [u8],
    /// Cookies.
    pub cookie_i: u64,
    /// Responder cookie.
    pub cookie_r: u64,
}

impl Phase1Keys {
    /// Derives SKEYID and its children for pre-shared key authentication (RFC 2409 §5).
    pub fn derive(i: &Phase1Input<'_>) -> Result<Self, CryptoError> {
        let (ci, cr) = (i.cookie_i.to_be_bytes(), i.cookie_r.to_be_bytes());
        let skeyid = i.prf.prf(i.psk, &[i.ni, i.nr]);
        let skeyid_d = i.prf.prf(&skeyid, &[i.gxy, &ci, &cr, &[0]]);
        let skeyid_a = i.prf.prf(&skeyid, &[&skeyid_d, i.gxy, &ci, &cr, &[1]]);
        let skeyid_e = i.prf.prf(&skeyid, &[&skeyid_a, i.gxy, &ci, &cr, &[2]]);
        // Appendix B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1).
        let mut key = skeyid_e.clone();
        if key.len() < i.encr.key_len() {
            key.clear();
            let mut k = i.prf.prf(&skeyid_e, &[&[0]]);
            while key.len() < i.encr.key_len() {
                key.extend_from_slice(&k);
                k = i.prf.prf(&skeyid_e, &[&k]);
            }
        }
        key.truncate(i.encr.key_len());
        let mut iv = hash(i.prf, &[i.gxi, i.gxr]);
        iv.truncate(i.encr.block_size());
        Ok(Self {
            prf: i.prf,
            skeyid,
            skeyid_d,
            skeyid_a,
            cipher: Cipher::new(i.encr, &key)?,
            iv,
        })
    }

    /// HASH_I or HASH_R: prf(SKEYID, g^x1 | g^x2 | CKY-1 | CKY-2 | SAi_b | IDx_b), with the
    /// sender's values first.
    pub fn auth_hash(
        &self,
        own_g: &[u8],
        peer_g: &[u8],
        cookies: [u64; 2],
        sai: &[u8],
        id: &[u8],
    ) -> Vec<u8> {
        let (c1, c2) = (cookies[0].to_be_bytes(), cookies[1].to_be_bytes());
        self.prf
            .prf(&self.skeyid, &[own_g, peer_g, &c1, &c2, sai, id])
    }

    /// prf(SKEYID_a, parts): the quick mode and informational HASHes.
    pub fn hash_a(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.prf.prf(&self.skeyid_a, parts)
    }

    /// The first IV of a phase 2 exchange: hash(last phase 1 block | M-ID).
    pub fn phase2_iv(&self, msg_id: u32) -> Vec<u8> {
        let mut iv = hash(self.prf, &[&self.iv, &msg_id.to_be_bytes()]);
        iv.truncate(self.cipher.encr().block_size());
        iv
    }

    /// KEYMAT of one direction, extended with the PRF to `len` octets (RFC 2409 §5.5).
    pub fn keymat(
        &self,
        gqm: Option<&[u8]>,
        spi: u32,
        ni: &[u8],
        nr: &[u8],
        len: usize,
    ) -> Vec<u8> {
        let g = gqm.unwrap_or_default();
        let spi = spi.to_be_bytes();
        let tail: [&[u8]; 5] = [g, &[super::message::proto::ESP], &spi, ni, nr];
        let mut out = self.prf.prf(&self.skeyid_d, &tail);
        let mut last = out.clone();
        while out.len() < len {
            let mut parts = vec![last.as_slice()];
            parts.extend_from_slice(&tail);
            last = self.prf.prf(&self.skeyid_d, &parts);
            out.extend_from_slice(&last);
        }
        out.truncate(len);
        out
    }

    /// Encrypts a message with `iv`; returns it and the IV that continues the chain.
    pub fn seal(
        &self,
        header: &Header,
        payloads: &[Payload],
        iv: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let (first, mut body) = encode_chain(payloads);
        let block = self.cipher.encr().block_size();
        body.resize(body.len().div_ceil(block) * block, 0);
        self.cipher.encrypt(iv, &[], &mut body, &mut [])?;
        let header = Header {
            flags: header.flags | FLAG_ENCRYPTED,
            ..*header
        };
        let mut out = header.encode(first, Header::LEN + body.len());
        let next_iv = last_block(&body, block);
        out.extend_from_slice(&body);
        Ok((out, next_iv))
    }

    /// Decrypts the payloads of an encrypted message with `iv`; returns them and the next IV.
    pub fn open(&self, data: &[u8], first: u8, iv: &[u8]) -> Result<(Chain, Vec<u8>), OpenError> {
        let mut body = data.get(Header::LEN..).unwrap_or_default().to_vec();
        let block = self.cipher.encr().block_size();
        let next_iv = last_block(&body, block);
        self.cipher.decrypt(iv, &[], &mut body, &[])?;
        let chain = Chain::parse(first, &body).map_err(|_| OpenError::Garbled)?;
        Ok((chain, next_iv))
    }
}

/// An unencrypted message.
pub fn plain(header: &Header, payloads: &[Payload]) -> Vec<u8> {
    let (first, body) = encode_chain(payloads);
    let mut out = header.encode(first, Header::LEN + body.len());
    out.extend_from_slice(&body);
    out
}

fn last_block(data: &[u8], block: usize) -> Vec<u8> {
    data.len()
        .checked_sub(block)
        .and_then(|s| data.get(s..))
        .unwrap_or_default()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_digests() {
        assert_eq!(
            hash(Prf::HmacMd5, &[b"RFC ", b"3947"]),
            super::super::message::VID_NAT_T.to_vec()
        );
        let sha1_abc = hash(Prf::HmacSha1, &[b"abc"]);
        assert_eq!(sha1_abc.get(..4), Some(&[0xa9, 0x99, 0x3e, 0x36][..]));
    }

    #[test]
    fn long_keymat_chains_prf_blocks_and_depends_on_spi() {
        let input = Phase1Input {
            prf: Prf::HmacMd5,
            encr: Encr::AesCbc256,
            psk: b"k",
            ni: b"ni",
            nr: b"nr",
            gxy: b"gxy",
            gxi: b"a",
            gxr: b"b",
            cookie_i: 1,
            cookie_r: 2,
        };
        let k = Phase1Keys::derive(&input).unwrap();
        let a = k.keymat(None, 7, b"n1", b"n2", 52);
        assert_eq!(a.len(), 52);
        let first = k
            .prf
            .prf(&k.skeyid_d, &[&[3], &7u32.to_be_bytes(), b"n1", b"n2"]);
        let second = k.prf.prf(
            &k.skeyid_d,
            &[&first, &[3], &7u32.to_be_bytes(), b"n1", b"n2"],
        );
        assert_eq!(a.get(..16), Some(first.as_slice()));
        assert_eq!(a.get(16..32), Some(second.as_slice()));
        assert_ne!(a, k.keymat(None, 8, b"n1", b"n2", 52));
    }
}
