//! Helpers of the session: randomness, NAT detection, AUTH, key material, selectors, proposals.

use super::*;

pub(super) fn random_u32() -> u32 {
    let mut b = [0; 4];
    fill_random(&mut b);
    u32::from_be_bytes(b)
}

pub(super) fn random_spi() -> u64 {
    let mut b = [0; 8];
    loop {
        fill_random(&mut b);
        let spi = u64::from_be_bytes(b);
        if spi != 0 {
            return spi;
        }
    }
}

pub(super) fn random_esp_spi() -> u32 {
    loop {
        let spi = random_u32();
        if spi >= 256 {
            return spi; // 1..=255 are reserved by IANA
        }
    }
}

pub(super) fn nonce() -> Vec<u8> {
    let mut n = vec![0; NONCE_LEN];
    fill_random(&mut n);
    n
}

/// NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23).
pub(super) fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddrV4) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    h.update(addr.ip().octets());
    h.update(addr.port().to_be_bytes());
    h.finalize().to_vec()
}

pub(super) fn nat_payloads(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> [Payload; 2] {
    [
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            nat_hash(spi_i, spi_r, local),
        )),
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(spi_i, spi_r, remote),
        )),
    ]
}

/// Whether the NAT-D notifies of `msg`, received on `local` from `remote`, reveal a NAT.
/// `None` when the peer sent none (no NAT-T support).
pub(super) fn nat_detected(
    msg: &Message,
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> Option<bool> {
    let (i, r) = (msg.header.spi_i, msg.header.spi_r);
    let src: Vec<_> = msg
        .notifies()
        .filter(|n| n.kind == NotifyType::NAT_DETECTION_SOURCE_IP)
        .collect();
    let dst = msg.notify(NotifyType::NAT_DETECTION_DESTINATION_IP)?;
    let src_ok = src.iter().any(|n| n.data == nat_hash(i, r, remote));
    Some(!src_ok || dst.data != nat_hash(i, r, local))
}

pub(super) fn auth_data(
    prf: Prf,
    psk: &[u8],
    first_msg: &[u8],
    nonce: &[u8],
    sk_p: &[u8],
    id: &Identity,
) -> Vec<u8> {
    let key = prf.prf(psk, &[KEY_PAD]);
    let maced_id = prf.prf(sk_p, &[&id.body()]);
    prf.prf(&key, &[first_msg, nonce, &maced_id])
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The exchange inputs of CHILD_SA keying material.
pub(super) struct ChildKeying<'a> {
    /// The fresh Diffie-Hellman secret with PFS.
    pub(super) shared: Option<&'a [u8]>,
    /// Initiator nonce of the exchange.
    pub(super) ni: &'a [u8],
    /// Responder nonce of the exchange.
    pub(super) nr: &'a [u8],
    /// Whether we initiated the exchange that creates the child.
    pub(super) we_initiated: bool,
}

/// Derives the (inbound, outbound) keys of a CHILD_SA (RFC 7296 §2.17).
pub(super) fn child_keys(
    keys: &IkeKeys,
    p: &EspProposal,
    k: &ChildKeying<'_>,
    (in_spi, out_spi): (u32, u32),
) -> (EspKeys, EspKeys) {
    let ChildKeying {
        shared,
        ni,
        nr,
        we_initiated,
    } = *k;
    let e_len = p.encr.key_len();
    let a_len = if p.encr.is_aead() {
        0
    } else {
        p.integ.map_or(0, |i| i.key_len())
    };
    let seed = [shared.unwrap_or_default(), ni, nr].concat();
    let stream = keys.prf.prf_plus(&keys.sk_d, &seed, 2 * (e_len + a_len));
    let mut s = Split(&stream);
    let integ = if p.encr.is_aead() { None } else { p.integ };
    let mut next = |spi| EspKeys {
        spi,
        encr: p.encr,
        enc_key: s.next(e_len).to_vec(),
        integ,
        integ_key: s.next(a_len).to_vec(),
    };
    if we_initiated {
        let out = next(out_spi);
        (next(in_spi), out)
    } else {
        let inb = next(in_spi);
        (inb, next(out_spi))
    }
}

/// Every non-empty overlap of a selector in `a` with one in `b`, leaving out those another one
/// already covers (e.g. the packet selector strongSwan puts first when traffic triggered it).
pub(super) fn intersect_all(a: &[TrafficSelector], b: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let all: Vec<TrafficSelector> = a
        .iter()
        .flat_map(|x| b.iter().filter_map(move |y| x.intersect(y)))
        .collect();
    let mut out: Vec<TrafficSelector> = Vec::new();
    for (i, s) in all.iter().enumerate() {
        let covered = all
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && s.is_subset_of(o) && (s != o || j < i));
        if !covered {
            out.push(*s);
        }
    }
    out
}

pub(super) fn sa_of(msg: &Message) -> Option<&Vec<Proposal>> {
    first!(msg, Payload::Sa)
}

pub(super) fn ke_of(msg: &Message) -> Option<&KeyExchange> {
    first!(msg, Payload::Ke)
}

pub(super) fn nonce_of(msg: &Message) -> Option<&Vec<u8>> {
    first!(msg, Payload::Nonce)
}

pub(super) fn ts_of(msg: &Message) -> Option<(&Vec<TrafficSelector>, &Vec<TrafficSelector>)> {
    let tsi = first!(msg, Payload::TsI)?;
    let tsr = first!(msg, Payload::TsR)?;
    Some((tsi, tsr))
}

pub(super) fn error_notify(msg: &Message) -> Option<NotifyType> {
    msg.notifies().map(|n| n.kind).find(|k| k.is_error())
}

/// Picks our first proposal that the peer offers, preferring one whose group matches `ke_group`.
pub(super) fn choose_ike(
    ours: &[IkeProposal],
    theirs: &[Proposal],
    ke_group: Option<u16>,
) -> Option<(IkeProposal, u8)> {
    let matches = |pref: bool| {
        ours.iter()
            .filter(move |o| !pref || Some(o.dh.id()) == ke_group)
            .find_map(|o| theirs.iter().find(|t| o.matches(t)).map(|t| (*o, t.number)))
    };
    matches(true).or_else(|| matches(false))
}

pub(super) fn choose_esp(
    ours: &[EspProposal],
    theirs: &[Proposal],
    with_dh: bool,
) -> Option<(EspProposal, u8, u32)> {
    ours.iter().find_map(|o| {
        theirs.iter().find(|t| o.matches(t, with_dh)).and_then(|t| {
            let spi: [u8; 4] = t.spi.as_slice().try_into().ok()?;
            Some((*o, t.number, u32::from_be_bytes(spi)))
        })
    })
}

/// The lowest of the nonces of one exchange, for collision resolution (RFC 7296 §2.8.1).
pub(super) fn min_nonce(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

pub(super) fn ike_offer(config: &Config, spi: Vec<u8>) -> Vec<Proposal> {
    config
        .ike_proposals
        .iter()
        .zip(1u8..)
        .map(|(p, n)| p.to_wire(n, spi.clone()))
        .collect()
}

pub(super) fn esp_offer(config: &Config, spi: u32, with_dh: bool) -> Vec<Proposal> {
    config
        .esp_proposals
        .iter()
        .zip(1u8..)
        .map(|(p, n)| p.to_wire(n, spi, with_dh))
        .collect()
}

/// Phase 1 found no common proposal; `theirs` is the peer's offer when we saw it (as responder).
pub(super) fn no_ike_proposal(config: &Config, theirs: Option<&[Proposal]>) -> FailureReason {
    FailureReason::NoProposalChosen {
        sa: SaKind::Ike,
        ours: config.ike_proposals.iter().map(Offer::from_ike).collect(),
        theirs: theirs.map(|ps| ps.iter().map(Offer::from_wire).collect()),
    }
}

/// Phase 2 found no common proposal; `with_dh` when the exchange negotiates the PFS group.
pub(super) fn no_esp_proposal(
    config: &Config,
    with_dh: bool,
    theirs: Option<&[Proposal]>,
) -> FailureReason {
    FailureReason::NoProposalChosen {
        sa: SaKind::Child,
        ours: config
            .esp_proposals
            .iter()
            .map(|p| Offer::from_esp(p, with_dh))
            .collect(),
        theirs: theirs.map(|ps| ps.iter().map(Offer::from_wire).collect()),
    }
}

pub(super) fn local_selectors(config: &Config) -> Vec<TrafficSelector> {
    config.local_ts.iter().map(|p| p.to_selector()).collect()
}

pub(super) fn remote_selectors(config: &Config) -> Vec<TrafficSelector> {
    config.remote_ts.iter().map(|p| p.to_selector()).collect()
}

/// SKEYSEED and the IKE SA keys: `old_sk_d` for a rekey (RFC 7296 §2.18), else §2.14.
pub(super) fn derive_ike(
    p: &IkeProposal,
    (ni, nr): (&[u8], &[u8]),
    shared: &[u8],
    old: Option<(Prf, &[u8])>,
    (spi_i, spi_r): (u64, u64),
    we_initiated: bool,
) -> Option<IkeKeys> {
    let skeyseed = match old {
        Some((prf, sk_d)) => prf.prf(sk_d, &[shared, ni, nr]),
        None => p.prf.prf(&[ni, nr].concat(), &[shared]),
    };
    IkeKeys::derive(&IkeKeyInput {
        prf: p.prf,
        encr: p.encr,
        integ: p.integ,
        skeyseed: &skeyseed,
        ni,
        nr,
        spi_i,
        spi_r,
        we_initiated,
    })
    .ok()
}
