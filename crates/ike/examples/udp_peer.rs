//! A manual interop driver: one IKEv2 session over real UDP sockets (ports 500 and 4500),
//! printing its events. It shows how a driver feeds the sans-IO [`Endpoint`]: the non-ESP
//! marker on port 4500, timers, transmits and events. Run it inside a network namespace:
//! `udp_peer LOCAL_IP REMOTE_IP PSK initiate|respond SECONDS [default|gcm|3des|aes192]`
//! (selectors 10.0.0.0/24 === 192.168.0.0/24, short lifetimes to exercise rekeys).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use strait_crypto::{DhGroup, Encr, Integ, Prf};
use strait_ike::v2::{Config, Endpoint, EndpointConfig, EspProposal, IkeProposal, Ipv4Prefix};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, local, remote, psk, mode, secs, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: udp_peer LOCAL_IP REMOTE_IP PSK initiate|respond SECONDS [preset]".into(),
        );
    };
    let local: Ipv4Addr = local.parse()?;
    let remote: Ipv4Addr = remote.parse()?;
    let mut config = Config::new(
        SocketAddrV4::new(local, 500),
        SocketAddrV4::new(remote, 500),
        psk.as_bytes(),
    );
    let secs: u64 = secs.parse()?;
    let preset = rest.first().map_or("default", String::as_str);
    let (encr, integ, prf, dh, pfs) = match preset {
        "gcm" => (
            Encr::AesGcm16_128,
            None,
            Prf::HmacSha256,
            DhGroup::Ecp256,
            Some(DhGroup::Ecp256),
        ),
        "3des" => (
            Encr::TripleDesCbc,
            Some(Integ::HmacMd5_96),
            Prf::HmacMd5,
            DhGroup::Modp1536,
            Some(DhGroup::Modp1536),
        ),
        "aes192" => (
            Encr::AesCbc192,
            Some(Integ::HmacSha512_256),
            Prf::HmacSha512,
            DhGroup::Modp768,
            Some(DhGroup::Modp768),
        ),
        _ => (
            Encr::AesCbc128,
            Some(Integ::HmacSha1_96),
            Prf::HmacSha1,
            DhGroup::Modp1024,
            Some(DhGroup::Modp1024),
        ),
    };
    config.ike_proposals = vec![IkeProposal {
        encr,
        integ,
        prf,
        dh,
    }];
    config.esp_proposals = vec![EspProposal { encr, integ, pfs }];
    config.local_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 24)];
    config.remote_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(192, 168, 0, 0), 24)];
    config.child_lifetime = Some(Duration::from_secs(20));
    config.ike_lifetime = Some(Duration::from_secs(45));
    config.rekey_margin = Duration::from_secs(5);
    config.rekey_jitter = Duration::ZERO;
    config.dpd = Some(strait_ike::v2::Dpd {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
    });
    let s500 = UdpSocket::bind(SocketAddrV4::new(local, 500))?;
    let s4500 = UdpSocket::bind(SocketAddrV4::new(local, 4500))?;
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(2)))?;
    }
    let mut ep = Endpoint::new(EndpointConfig::default());
    let id = ep.add_session(config);
    let start = Instant::now();
    if mode == "initiate" {
        ep.initiate(id, start);
    }
    let mut buf = [0u8; 65536];
    while start.elapsed() < Duration::from_secs(secs) {
        let now = Instant::now();
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        while let Some(t) = ep.poll_transmit() {
            if t.local.port() == 4500 {
                let mut d = vec![0; 4];
                d.extend_from_slice(&t.data);
                s4500.send_to(&d, t.remote)?;
            } else {
                s500.send_to(&t.data, t.remote)?;
            }
        }
        while let Some((_, e)) = ep.poll_event() {
            println!("{:>6.1}s {e:?}", start.elapsed().as_secs_f64());
        }
        for (s, port) in [(&s500, 500), (&s4500, 4500)] {
            if let Ok((n, std::net::SocketAddr::V4(from))) = s.recv_from(&mut buf) {
                let data = buf.get(..n).unwrap_or_default();
                if port == 4500 {
                    match data.strip_prefix(&[0, 0, 0, 0]) {
                        Some(ike) => ep.handle_datagram(
                            Instant::now(),
                            SocketAddrV4::new(local, port),
                            from,
                            ike,
                        ),
                        None if n > 1 => ep.note_inbound_traffic(id, Instant::now()),
                        None => {}
                    }
                } else {
                    ep.handle_datagram(Instant::now(), SocketAddrV4::new(local, port), from, data);
                }
            }
        }
    }
    Ok(())
}
