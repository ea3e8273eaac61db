//! Arbitrary bytes into the ISAKMP parser, the IKEv1 decryptor and main and aggressive mode responders.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Mutex;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strait_crypto::{Encr, Prf};
use strait_ike::v1::keys::{Phase1Input, Phase1Keys};
use strait_ike::v1::message::{Header, parse};
use strait_ike::v1::{Config, Endpoint};

const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 500);
const MAIN_PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 500);
const AGGRESSIVE_PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 3), 500);

fn responders() -> Endpoint {
    let mut endpoint = Endpoint::new();
    for (remote, aggressive) in [(MAIN_PEER, false), (AGGRESSIVE_PEER, true)] {
        let peering = strait_ike::v2::Config::new(LOCAL, remote, b"fuzz".to_vec());
        endpoint.add_session(Config { peering, aggressive });
    }
    endpoint
}

fn keys() -> Phase1Keys {
    Phase1Keys::derive(&Phase1Input {
        prf: Prf::HmacSha1,
        encr: Encr::AesCbc128,
        psk: b"fuzz",
        ni: &[1; 16],
        nr: &[2; 16],
        gxy: &[3; 128],
        gxi: &[4; 128],
        gxr: &[5; 128],
        cookie_i: 1,
        cookie_r: 2,
    })
    .expect("AES-128 key length")
}

static STATE: Mutex<Option<(Endpoint, Phase1Keys)>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let _ = parse(data);
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let (endpoint, keys) = guard.get_or_insert_with(|| (responders(), keys()));
    if let Ok((header, first)) = Header::peek(data) {
        let _ = keys.open(data, first, &keys.phase2_iv(header.msg_id));
    }
    let now = Instant::now();
    for remote in [MAIN_PEER, AGGRESSIVE_PEER] {
        endpoint.handle_datagram(now, LOCAL, remote, data);
    }
    endpoint.handle_timeout(now);
    while endpoint.poll_transmit().is_some() {}
    while endpoint.poll_event().is_some() {}
});
