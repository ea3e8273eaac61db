//! A manual IKEv1 interop driver: one session over real UDP sockets (ports 500 and 4500),
//! printing its events; the IKEv1 twin of `udp_peer`. Run it inside a network namespace:
//! `udp_peer_v1 LOCAL_IP REMOTE_IP PSK initiate|respond SECONDS [main|aggressive] [default|pfs14|3des]`
//! (selectors 10.0.0.0/24 === 192.168.0.0/24, short lifetimes; aggressive mode uses the FQDN
//! ids `left.example` for the lower address and `right.example` for the higher). It prints the
//! ESP keys so they can be compared with charon's `chd = 4` log.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use strait_crypto::{DhGroup, Encr, Integ, Prf};
use strait_ike::v1::{Config, Endpoint};
use strait_ike::v2::{EspProposal, Identity, IkeProposal, Ipv4Prefix};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, local, remote, psk, mode, secs, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: udp_peer_v1 LOCAL_IP REMOTE_IP PSK initiate|respond SECONDS [main|aggressive]"
                .into(),
        );
    };
    let local: Ipv4Addr = local.parse()?;
    let remote: Ipv4Addr = remote.parse()?;
    let mut peering = strait_ike::v2::Config::new(
        SocketAddrV4::new(local, 500),
        SocketAddrV4::new(remote, 500),
        psk.as_bytes(),
    );
    peering.local_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 24)];
    peering.remote_ts = vec![Ipv4Prefix::new(Ipv4Addr::new(192, 168, 0, 0), 24)];
    peering.child_lifetime = Some(Duration::from_secs(30));
    peering.ike_lifetime = Some(Duration::from_secs(60));
    peering.rekey_margin = Duration::from_secs(10);
    peering.rekey_jitter = Duration::ZERO;
    peering.dpd = Some(strait_ike::v2::Dpd {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
    });
    let aggressive = rest.first().is_some_and(|m| m == "aggressive");
    if aggressive {
        let (low, high) = (
            Identity::Fqdn("left.example".into()),
            Identity::Fqdn("right.example".into()),
        );
        (peering.local_id, peering.remote_id) = if local < remote {
            (low, high)
        } else {
            (high, low)
        };
    }
    let (encr, integ, prf, dh, pfs) = match rest.get(1).map_or("default", String::as_str) {
        "pfs14" => (
            Encr::AesCbc256,
            Integ::HmacSha256_128,
            Prf::HmacSha256,
            DhGroup::Modp2048,
            Some(DhGroup::Modp2048),
        ),
        "3des" => (
            Encr::TripleDesCbc,
            Integ::HmacMd5_96,
            Prf::HmacMd5,
            DhGroup::Modp1024,
            None,
        ),
        _ => (
            Encr::AesCbc128,
            Integ::HmacSha1_96,
            Prf::HmacSha1,
            DhGroup::Modp1024,
            None,
        ),
    };
    peering.ike_proposals = vec![IkeProposal {
        encr,
        integ: None,
        prf,
        dh,
    }];
    peering.esp_proposals = vec![EspProposal {
        encr,
        integ: Some(integ),
        pfs,
    }];
    let s500 = UdpSocket::bind(SocketAddrV4::new(local, 500))?;
    let s4500 = UdpSocket::bind(SocketAddrV4::new(local, 4500))?;
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(2)))?;
    }
    let mut ep = Endpoint::new();
    let id = ep.add_session(Config {
        peering,
        aggressive,
    });
    let start = Instant::now();
    if mode == "initiate" {
        ep.initiate(id, start);
    }
    let mut buf = [0u8; 65536];
    while start.elapsed() < Duration::from_secs(secs.parse()?) {
        let now = Instant::now();
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        while let Some(t) = ep.poll_transmit() {
            let sent = if t.local.port() == 4500 {
                let mut d = vec![0; 4];
                d.extend_from_slice(&t.data);
                s4500.send_to(&d, t.remote)
            } else {
                s500.send_to(&t.data, t.remote)
            };
            if let Err(e) = sent {
                println!("send to {}: {e}", t.remote);
            }
        }
        while let Some((_, e)) = ep.poll_event() {
            println!("{:>6.1}s {e:?}", start.elapsed().as_secs_f64());
            if let strait_ike::v2::Event::ChildSaEstablished {
                inbound, outbound, ..
            } = &e
            {
                let hex = |k: &[u8]| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
                println!(
                    "KEYS in {} {} out {} {}",
                    hex(&inbound.enc_key),
                    hex(&inbound.integ_key),
                    hex(&outbound.enc_key),
                    hex(&outbound.integ_key)
                );
            }
        }
        for (s, port) in [(&s500, 500), (&s4500, 4500)] {
            if let Ok((n, std::net::SocketAddr::V4(from))) = s.recv_from(&mut buf) {
                let data = buf.get(..n).unwrap_or_default();
                let here = SocketAddrV4::new(local, port);
                match (port, data.strip_prefix(&[0, 0, 0, 0])) {
                    (500, _) => ep.handle_datagram(Instant::now(), here, from, data),
                    (_, Some(ike)) => ep.handle_datagram(Instant::now(), here, from, ike),
                    (_, None) if n > 1 => ep.note_inbound_traffic(id, Instant::now()),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
