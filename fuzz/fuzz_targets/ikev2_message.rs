//! Arbitrary bytes into the IKEv2 parser, the Encrypted payload opener and a responder endpoint.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Mutex;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strait_crypto::{DhGroup, Encr, Integ, Prf};
use strait_ike::v2::message::{Message, peek_header};
use strait_ike::v2::sk::SkKeys;
use strait_ike::v2::{Config, Endpoint, EndpointConfig, EspProposal, IkeProposal};

const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 500);
const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 500);

fn responder() -> Endpoint {
    let mut config = Config::new(LOCAL, REMOTE, b"fuzz".to_vec());
    // Curve25519 keeps each IKE_SA_INIT cheap enough for fuzzing speed.
    config.ike_proposals = vec![IkeProposal {
        encr: Encr::AesGcm16_128,
        integ: None,
        prf: Prf::HmacSha256,
        dh: DhGroup::Curve25519,
    }];
    config.esp_proposals = vec![EspProposal { encr: Encr::AesGcm16_128, integ: None, pfs: None }];
    let mut endpoint = Endpoint::new(EndpointConfig { cookie_threshold: 4 });
    endpoint.add_session(config);
    endpoint
}

static ENDPOINT: Mutex<Option<Endpoint>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let _ = peek_header(data);
    if let Ok(msg) = Message::parse(data) {
        for (encr, integ) in [(Encr::AesCbc128, Some(Integ::HmacSha1_96)), (Encr::AesGcm16_128, None)] {
            let keys = SkKeys::new(encr, integ, &vec![7; encr.key_len()], &[9; 20]).expect("key lengths");
            let _ = keys.open(data, &mut msg.clone());
        }
    }
    let mut guard = ENDPOINT.lock().unwrap_or_else(|e| e.into_inner());
    let endpoint = guard.get_or_insert_with(responder);
    let now = Instant::now();
    endpoint.handle_datagram(now, LOCAL, REMOTE, data);
    endpoint.handle_timeout(now);
    while endpoint.poll_transmit().is_some() {}
    while endpoint.poll_event().is_some() {}
});
