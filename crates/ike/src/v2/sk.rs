//! The Encrypted (SK) payload (RFC 7296 §3.14; AES-GCM per RFC 5282) and IKE SA key derivation.

use strait_crypto::{Cipher, CryptoError, Encr, Integ, IntegKey, Prf, fill_random};

use super::message::{
    Header, Message, ParseError, Payload, chain_first, encode_chain, encode_header, finish,
    parse_chain, payload_type,
};

/// Why an Encrypted payload could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkError {
    /// The message has no Encrypted payload.
    #[error("message has no encrypted payload")]
    NotEncrypted,
    /// The Encrypted payload's framing (lengths, padding) is wrong.
    #[error("malformed encrypted payload")]
    Malformed,
    /// The ICV did not verify.
    #[error("integrity check failed")]
    Integrity,
    /// The decrypted payloads do not parse.
    #[error("inner payloads: {0}")]
    Parse(#[from] ParseError),
    /// A key had the wrong length (a bug in key derivation).
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
}

/// The keys protecting IKE messages in one direction.
#[derive(Debug)]
pub struct SkKeys {
    cipher: Cipher,
    integ: Option<IntegKey>,
}

impl SkKeys {
    /// Keys from SK_e and SK_a material (SK_a empty with an AEAD).
    pub fn new(
        encr: Encr,
        integ: Option<Integ>,
        sk_e: &[u8],
        sk_a: &[u8],
    ) -> Result<Self, CryptoError> {
        let integ = match integ {
            Some(i) if !encr.is_aead() => Some(IntegKey::new(i, sk_a)?),
            _ => None,
        };
        Ok(Self {
            cipher: Cipher::new(encr, sk_e)?,
            integ,
        })
    }

    fn icv_len(&self) -> usize {
        self.integ
            .as_ref()
            .map_or(self.cipher.encr().icv_len(), |k| k.integ().icv_len())
    }

    /// Encodes a message whose `payloads` travel inside an Encrypted payload.
    pub fn seal(&self, header: &Header, payloads: &[Payload]) -> Result<Vec<u8>, SkError> {
        let encr = self.cipher.encr();
        let mut plain = Vec::with_capacity(256);
        encode_chain(payloads, payload_type::NONE, &mut plain);
        let block = encr.block_size().max(1);
        let pad = (block - (plain.len() + 1) % block) % block;
        plain.resize(plain.len() + pad, 0);
        plain.push(u8::try_from(pad).map_err(|_| SkError::Malformed)?);

        let iv_len = encr.iv_len();
        let icv_len = self.icv_len();
        let mut out = Vec::with_capacity(plain.len() + 64);
        encode_header(header, payload_type::SK, &mut out);
        let sk_len =
            u16::try_from(4 + iv_len + plain.len() + icv_len).map_err(|_| SkError::Malformed)?;
        out.push(chain_first(payloads, payload_type::NONE));
        out.push(0);
        out.extend_from_slice(&sk_len.to_be_bytes());
        let aad_end = out.len();
        let mut iv = vec![0u8; iv_len];
        fill_random(&mut iv);
        out.extend_from_slice(&iv);
        out.resize(out.len() + plain.len() + icv_len, 0);
        finish(&mut out);

        let (head, tail) = out.split_at_mut(aad_end + iv_len);
        let (ct, icv) = tail.split_at_mut(plain.len());
        ct.copy_from_slice(&plain);
        let aad = head.get(..aad_end).ok_or(SkError::Malformed)?;
        if encr.is_aead() {
            self.cipher.encrypt(&iv, aad, ct, icv)?;
        } else {
            self.cipher.encrypt(&iv, &[], ct, &mut [])?;
            if let Some(k) = &self.integ {
                k.compute(&[head, ct], icv);
            }
        }
        Ok(out)
    }

    /// Verifies and decrypts `raw`'s Encrypted payload, appending the inner payloads to `msg`.
    pub fn open(&self, raw: &[u8], msg: &mut Message) -> Result<(), SkError> {
        let part = msg.encrypted.ok_or(SkError::NotEncrypted)?;
        let encr = self.cipher.encr();
        let icv_len = self.icv_len();
        let iv_start = part.offset + 4;
        let (authed, icv) = raw
            .split_at_checked(raw.len().checked_sub(icv_len).ok_or(SkError::Malformed)?)
            .ok_or(SkError::Malformed)?;
        let (aad, body) = authed
            .split_at_checked(iv_start)
            .ok_or(SkError::Malformed)?;
        let (iv, ct) = body
            .split_at_checked(encr.iv_len())
            .ok_or(SkError::Malformed)?;
        // CBC needs whole blocks; AEAD ciphertext may have any length (strongSwan pads GCM to 1).
        if ct.is_empty() || (!encr.is_aead() && ct.len() % encr.block_size().max(1) != 0) {
            return Err(SkError::Malformed);
        }
        let mut plain = ct.to_vec();
        if encr.is_aead() {
            self.cipher
                .decrypt(iv, aad, &mut plain, icv)
                .map_err(|_| SkError::Integrity)?;
        } else {
            if let Some(k) = &self.integ {
                if !k.verify(&[authed], icv) {
                    return Err(SkError::Integrity);
                }
            }
            self.cipher.decrypt(iv, &[], &mut plain, &[])?;
        }
        let pad = usize::from(*plain.last().ok_or(SkError::Malformed)?);
        let inner_len = plain.len().checked_sub(pad + 1).ok_or(SkError::Malformed)?;
        let inner = plain.get(..inner_len).ok_or(SkError::Malformed)?;
        let (payloads, nested) = parse_chain(part.first_payload, inner, 0)?;
        if nested.is_some() {
            return Err(SkError::Malformed);
        }
        msg.payloads.extend(payloads);
        msg.encrypted = None;
        Ok(())
    }
}

/// The keys of an established IKE SA (RFC 7296 §2.14), seen from one side.
#[derive(Debug)]
pub struct IkeKeys {
    /// The negotiated PRF.
    pub prf: Prf,
    /// SK_d, for deriving CHILD_SA and rekeyed IKE SA keys.
    pub sk_d: Vec<u8>,
    /// SK_pi, for the initiator's AUTH.
    pub sk_pi: Vec<u8>,
    /// SK_pr, for the responder's AUTH.
    pub sk_pr: Vec<u8>,
    /// Protection of messages we send.
    pub send: SkKeys,
    /// Protection of messages we receive.
    pub recv: SkKeys,
}

/// Inputs of IKE SA key derivation.
pub struct IkeKeyInput<'a> {
    /// PRF.
    pub prf: Prf,
    /// Encryption.
    pub encr: Encr,
    /// Integrity (None with AEAD).
    pub integ: Option<Integ>,
    /// SKEYSEED.
    pub skeyseed: &'a [u8],
    /// Initiator nonce.
    pub ni: &'a [u8],
    /// Responder nonce.
    pub nr: &'a [u8],
    /// Initiator SPI.
    pub spi_i: u64,
    /// Responder SPI.
    pub spi_r: u64,
    /// Whether we are the initiator of this IKE SA.
    pub we_initiated: bool,
}

impl IkeKeys {
    /// Derives SK_d, SK_a*, SK_e*, SK_p* from SKEYSEED (RFC 7296 §2.14).
    pub fn derive(k: &IkeKeyInput<'_>) -> Result<Self, CryptoError> {
        let a_len = if k.encr.is_aead() {
            0
        } else {
            k.integ.map_or(0, Integ::key_len)
        };
        let e_len = k.encr.key_len();
        let p_len = k.prf.key_len();
        let d_len = k.prf.output_len();
        let mut seed = [k.ni, k.nr].concat();
        seed.extend_from_slice(&k.spi_i.to_be_bytes());
        seed.extend_from_slice(&k.spi_r.to_be_bytes());
        let stream = k
            .prf
            .prf_plus(k.skeyseed, &seed, d_len + 2 * a_len + 2 * e_len + 2 * p_len);
        let mut parts = Split(&stream);
        let sk_d = parts.next(d_len).to_vec();
        let (ai, ar) = (parts.next(a_len), parts.next(a_len));
        let (ei, er) = (parts.next(e_len), parts.next(e_len));
        let (sk_pi, sk_pr) = (parts.next(p_len).to_vec(), parts.next(p_len).to_vec());
        let initiator_keys = SkKeys::new(k.encr, k.integ, ei, ai)?;
        let responder_keys = SkKeys::new(k.encr, k.integ, er, ar)?;
        let (send, recv) = if k.we_initiated {
            (initiator_keys, responder_keys)
        } else {
            (responder_keys, initiator_keys)
        };
        Ok(Self {
            prf: k.prf,
            sk_d,
            sk_pi,
            sk_pr,
            send,
            recv,
        })
    }
}

/// Sequential slicing of a key stream that yields empty slices past its end.
pub(crate) struct Split<'a>(pub(crate) &'a [u8]);

impl<'a> Split<'a> {
    pub(crate) fn next(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at_checked(n).unwrap_or((self.0, &[]));
        self.0 = tail;
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::message::{ExchangeType, Notify, NotifyType};

    fn header() -> Header {
        Header {
            spi_i: 1,
            spi_r: 2,
            exchange: ExchangeType::INFORMATIONAL,
            initiator: true,
            response: false,
            message_id: 5,
        }
    }

    fn keys(encr: Encr, integ: Option<Integ>, seed: u8) -> SkKeys {
        let a_len = integ.map_or(0, Integ::key_len);
        SkKeys::new(
            encr,
            integ,
            &vec![seed; encr.key_len()],
            &vec![seed ^ 0x55; a_len],
        )
        .expect("keys")
    }

    const SUITES: [(Encr, Option<Integ>); 5] = [
        (Encr::AesCbc128, Some(Integ::HmacSha1_96)),
        (Encr::AesCbc256, Some(Integ::HmacSha512_256)),
        (Encr::TripleDesCbc, Some(Integ::HmacMd5_96)),
        (Encr::AesGcm16_128, None),
        (Encr::AesGcm16_256, None),
    ];

    fn payloads() -> Vec<Payload> {
        vec![
            Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, vec![])),
            Payload::Nonce(vec![1; 17]),
        ]
    }

    #[test]
    fn sealed_messages_open_to_the_same_payloads() {
        for (encr, integ) in SUITES {
            let k = keys(encr, integ, 3);
            let wire = k.seal(&header(), &payloads()).expect("seal");
            let mut msg = Message::parse(&wire).expect("parse");
            assert_eq!(msg.payloads, vec![]);
            k.open(&wire, &mut msg).expect("open");
            assert_eq!(msg.payloads, payloads(), "{encr:?}");
            assert_eq!(msg.header, header());
            let empty = k.seal(&header(), &[]).expect("seal empty");
            let mut msg = Message::parse(&empty).expect("parse");
            k.open(&empty, &mut msg).expect("open empty");
            assert!(msg.payloads.is_empty());
        }
    }

    #[test]
    fn aead_ciphertext_needs_no_block_alignment() {
        // strongSwan aligns GCM-protected IKE messages to one byte, not four.
        let k = keys(Encr::AesGcm16_128, None, 3);
        for payloads in [
            vec![Payload::Nonce(vec![1; 16])],
            vec![Payload::Nonce(vec![1; 17])],
        ] {
            let mut plain = Vec::new();
            crate::v2::message::encode_chain(&payloads, payload_type::NONE, &mut plain);
            plain.push(0); // pad length 0, no padding
            let mut wire = Vec::new();
            encode_header(&header(), payload_type::SK, &mut wire);
            let sk_len = u16::try_from(4 + 8 + plain.len() + 16).expect("fits");
            wire.extend_from_slice(&[payload_type::NONCE, 0]);
            wire.extend_from_slice(&sk_len.to_be_bytes());
            let aad_end = wire.len();
            wire.extend_from_slice(&[5; 8]);
            let mut icv = [0; 16];
            wire.resize(wire.len() + plain.len() + 16, 0);
            finish(&mut wire);
            k.cipher
                .encrypt(&[5; 8], &wire[..aad_end], &mut plain, &mut icv)
                .expect("encrypt");
            let ct_start = aad_end + 8;
            wire[ct_start..ct_start + plain.len()].copy_from_slice(&plain);
            let icv_start = wire.len() - 16;
            wire[icv_start..].copy_from_slice(&icv);
            let mut msg = Message::parse(&wire).expect("parse");
            k.open(&wire, &mut msg).expect("open unaligned");
            assert_eq!(msg.payloads, payloads);
        }
    }

    #[test]
    fn any_flipped_bit_or_wrong_key_is_rejected() {
        for (encr, integ) in SUITES {
            let k = keys(encr, integ, 3);
            let wire = k.seal(&header(), &payloads()).expect("seal");
            let parsed = Message::parse(&wire).expect("parse");
            assert_eq!(
                keys(encr, integ, 4).open(&wire, &mut parsed.clone()),
                Err(SkError::Integrity)
            );
            for i in 0..wire.len() {
                let mut bad = wire.clone();
                bad[i] ^= 0x01;
                let result = Message::parse(&bad)
                    .map_err(SkError::from)
                    .and_then(|mut m| k.open(&bad, &mut m));
                assert!(result.is_err(), "{encr:?}: flip at {i} accepted");
            }
        }
    }

    #[test]
    fn truncated_encrypted_payload_is_malformed_not_a_panic() {
        let k = keys(Encr::AesCbc128, Some(Integ::HmacSha1_96), 3);
        let wire = k.seal(&header(), &payloads()).expect("seal");
        for cut in 28..wire.len() {
            let mut short = wire[..cut].to_vec();
            crate::v2::message::finish(&mut short);
            if let Ok(mut m) = Message::parse(&short) {
                assert!(k.open(&short, &mut m).is_err());
            }
        }
    }

    #[test]
    fn ike_keys_split_the_prf_plus_stream_in_rfc_order() {
        let prf = Prf::HmacSha1;
        let input = IkeKeyInput {
            prf,
            encr: Encr::AesCbc128,
            integ: Some(Integ::HmacSha1_96),
            skeyseed: b"skeyseed",
            ni: b"ni",
            nr: b"nr",
            spi_i: 1,
            spi_r: 2,
            we_initiated: true,
        };
        let k = IkeKeys::derive(&input).expect("derive");
        let mut seed = b"ninr".to_vec();
        seed.extend_from_slice(&1u64.to_be_bytes());
        seed.extend_from_slice(&2u64.to_be_bytes());
        let stream = prf.prf_plus(b"skeyseed", &seed, 20 + 2 * 20 + 2 * 16 + 2 * 20);
        assert_eq!(k.sk_d, stream[..20]);
        assert_eq!(k.sk_pi, stream[92..112]);
        assert_eq!(k.sk_pr, stream[112..132]);
        // SK_ei/SK_ai protect what the initiator sends: a responder built from the same
        // stream opens it.
        let responder = IkeKeys::derive(&IkeKeyInput {
            we_initiated: false,
            ..input
        })
        .expect("derive");
        let wire = k.send.seal(&header(), &payloads()).expect("seal");
        let mut msg = Message::parse(&wire).expect("parse");
        responder
            .recv
            .open(&wire, &mut msg)
            .expect("responder opens initiator's message");
        let by_hand = SkKeys::new(
            Encr::AesCbc128,
            Some(Integ::HmacSha1_96),
            &stream[60..76],
            &stream[20..40],
        )
        .expect("keys");
        let mut msg = Message::parse(&wire).expect("parse");
        by_hand
            .open(&wire, &mut msg)
            .expect("SK_ei is stream[60..76], SK_ai is stream[20..40]");
    }
}
