//! A tunnel with static keys and no IKE, for tests and benchmarks of the data plane.
//!
//! Two instances with the same suite and opposite `--side` talk to each other:
//!
//! ```text
//! static_tunnel --side a --local 192.0.2.1 --remote 192.0.2.2 \
//!     --local-net 10.1.0.0/24 --remote-net 10.2.0.0/24 [--udp] [--suite aes-sha1|aes128gcm16]
//!     [--tun NAME] [--tun-mtu N] [--tun-addr A/N] [--workers N] [--no-offload]
//! ```
//!
//! It routes `--remote-net` into the TUN device and prints the tunnel counters once a second.
//! The keys are fixed test keys: never use this to protect real traffic.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use ipnet::Ipv4Net;
use strait_crypto::{Encr, Integ};
use strait_dataplane::{AddrRange, ChildSa, Dataplane, DataplaneConfig, SaKeys, TunnelId};

struct Args {
    side_a: bool,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    local_net: Ipv4Net,
    remote_net: Ipv4Net,
    udp: bool,
    encr: Encr,
    integ: Option<Integ>,
    cfg: DataplaneConfig,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let get = |name: &str, it: &mut dyn Iterator<Item = String>| {
        it.next().ok_or(format!("{name} needs a value"))
    };
    let (mut side, mut local, mut remote, mut local_net, mut remote_net) =
        (None, None, None, None, None);
    let (mut udp, mut suite, mut tun, mut tun_mtu, mut tun_addr, mut workers, mut offload) = (
        false,
        "aes-sha1".to_string(),
        "strait0".to_string(),
        1400u16,
        None,
        0usize,
        true,
    );
    while let Some(a) = it.next() {
        let bad = |e: &dyn std::fmt::Display| format!("{a}: {e}");
        match a.as_str() {
            "--side" => side = Some(get(&a, &mut it)? == "a"),
            "--local" => local = Some(get(&a, &mut it)?.parse::<Ipv4Addr>().map_err(|e| bad(&e))?),
            "--remote" => {
                remote = Some(get(&a, &mut it)?.parse::<Ipv4Addr>().map_err(|e| bad(&e))?)
            }
            "--local-net" => {
                local_net = Some(get(&a, &mut it)?.parse::<Ipv4Net>().map_err(|e| bad(&e))?)
            }
            "--remote-net" => {
                remote_net = Some(get(&a, &mut it)?.parse::<Ipv4Net>().map_err(|e| bad(&e))?)
            }
            "--udp" => udp = true,
            "--suite" => suite = get(&a, &mut it)?,
            "--tun" => tun = get(&a, &mut it)?,
            "--tun-mtu" => tun_mtu = get(&a, &mut it)?.parse().map_err(|e| bad(&e))?,
            "--tun-addr" => {
                tun_addr = Some(get(&a, &mut it)?.parse::<Ipv4Net>().map_err(|e| bad(&e))?)
            }
            "--workers" => workers = get(&a, &mut it)?.parse().map_err(|e| bad(&e))?,
            "--no-offload" => offload = false,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let (encr, integ) = match suite.as_str() {
        "aes-sha1" => (Encr::AesCbc128, Some(Integ::HmacSha1_96)),
        "aes256-sha256" => (Encr::AesCbc256, Some(Integ::HmacSha256_128)),
        "aes128gcm16" => (Encr::AesGcm16_128, None),
        other => return Err(format!("unknown suite {other}")),
    };
    let local = local.ok_or("--local is required")?;
    let mut cfg = DataplaneConfig::new(tun, vec![local]);
    (cfg.tun_mtu, cfg.tun_addr, cfg.workers, cfg.offload) = (tun_mtu, tun_addr, workers, offload);
    Ok(Args {
        side_a: side.ok_or("--side a|b is required")?,
        local,
        remote: remote.ok_or("--remote is required")?,
        local_net: local_net.ok_or("--local-net is required")?,
        remote_net: remote_net.ok_or("--remote-net is required")?,
        udp,
        encr,
        integ,
        cfg,
    })
}

/// The fixed test keys of the SA that side `a` (or `b`) sends on.
fn keys(sender_a: bool, encr: Encr, integ: Option<Integ>) -> SaKeys {
    let seed: u8 = if sender_a { 0xa0 } else { 0xb0 };
    SaKeys {
        spi: if sender_a { 0x0000_a001 } else { 0x0000_b001 },
        encr,
        enc_key: (0..encr.key_len() as u8).map(|i| seed ^ i).collect(),
        integ,
        integ_key: integ.map_or(vec![], |i| {
            (0..i.key_len() as u8).map(|i| seed ^ 0x0f ^ i).collect()
        }),
    }
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("static_tunnel: {e}");
            std::process::exit(2);
        }
    };
    let (dp, _events) = match Dataplane::start(args.cfg) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("static_tunnel: {e}");
            std::process::exit(1);
        }
    };
    let port = if args.udp { 4500 } else { 0 };
    let id = TunnelId(1);
    let child = ChildSa {
        inbound: keys(!args.side_a, args.encr, args.integ),
        outbound: keys(args.side_a, args.encr, args.integ),
        local_ts: vec![AddrRange::from(args.local_net)],
        remote_ts: vec![AddrRange::from(args.remote_net)],
        local: SocketAddrV4::new(args.local, port),
        remote: SocketAddrV4::new(args.remote, port),
        udp_encap: args.udp,
    };
    let setup = dp
        .add_tunnel(id)
        .and_then(|()| dp.install_child_sa(id, child))
        .and_then(|()| dp.set_routes(id, vec![args.remote_net.into()]));
    if let Err(e) = setup {
        eprintln!("static_tunnel: {e}");
        std::process::exit(1);
    }
    println!("ready tun={} mtu={:?}", dp.tun_name(), dp.tunnel_mtu(id));
    let mut last = None;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if let Ok(c) = dp.counters(id) {
            let line = format!(
                "counters in_packets={} in_bytes={} in_drops={} out_packets={} out_bytes={} out_drops={} frag_needed={} {:?}",
                c.inbound.packets,
                c.inbound.bytes,
                c.inbound.total_drops(),
                c.outbound.packets,
                c.outbound.bytes,
                c.outbound.total_drops(),
                c.frag_needed_sent,
                dp.stats()
            );
            if last.as_ref() != Some(&line) {
                println!("{line}");
                last = Some(line);
            }
        }
    }
}
