//! Feeds arbitrary bytes to the BGP message parser and to an Established session.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use strait_bgp::message::{self, Capability, Message, Open};
use strait_bgp::{Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    // The framer never claims more bytes than it was given, and decoding never panics.
    if let Ok(Some(len)) = message::frame(data) {
        assert!(len <= data.len());
        for four_octet in [false, true] {
            let _ = Message::decode(&data[..len], four_octet);
        }
    }

    // A session past the OPEN exchange eats the bytes in two pieces; the first byte picks the
    // peer's AS-number width and the split point.
    let Some((&selector, rest)) = data.split_first() else { return };
    let four_octet = selector & 1 == 1;
    let mut session = Session::new(SessionConfig {
        local_asn: 4_200_000_001,
        peer_asn: 65530,
        router_id: "169.254.10.1".parse().unwrap(),
        next_hop: "169.254.10.1".parse().unwrap(),
        hold_time: 9,
    });
    let mut capabilities = vec![Capability::Multiprotocol { afi: 1, safi: 1 }, Capability::RouteRefresh];
    if four_octet {
        capabilities.push(Capability::FourOctetAs(65530));
    }
    let open = Open { version: 4, my_as: 65530, hold_time: 9, bgp_id: "169.254.10.2".parse().unwrap(), capabilities };
    let t0 = Instant::now();
    session.start(false);
    session.connection_up(t0);
    session.set_advertised(t0, [("10.0.0.0/16".parse().unwrap(), vec![65001])].into());
    session.handle_input(t0, &[Message::Open(open).encode(), Message::Keepalive.encode()].concat());
    let split = usize::from(selector >> 1).min(rest.len());
    let (a, b) = rest.split_at(split);
    session.handle_input(t0, a);
    session.handle_input(t0 + Duration::from_secs(1), b);
    session.handle_timeout(t0 + Duration::from_secs(20));
    while session.poll_event().is_some() {}
    while session.poll_transmit().is_some() {}
});
