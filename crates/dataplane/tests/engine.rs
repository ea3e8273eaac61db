//! The engine's handle end to end, each test in a network namespace of its own (needs root):
//! IKE and keepalives on UDP 4500, Acquire for traffic without an SA, which SA carries traffic
//! across a rekey, inbound decapsulation to the host, policy and standby routes, and
//! control-plane errors.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use strait_dataplane::esp::OutboundSa;
use strait_dataplane::ip::checksum;
use strait_dataplane::{
    AddrRange, ChildSa, Dataplane, DataplaneConfig, DataplaneError, DataplaneEvent, Encr, Integ,
    RouteRule, SaKeys, Selectors, TunnelId,
};
use tokio::sync::mpsc::Receiver;

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const REMOTE_NET: &str = "10.9.0.0/24";

fn ip(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Moves the calling thread (and the threads and processes it starts) into a fresh network
/// namespace with loopback up and LOCAL on it, then starts a one-worker data plane there.
fn start() -> (Dataplane, Receiver<DataplaneEvent>) {
    // SAFETY: unshare has no memory-safety preconditions; it affects only this thread.
    assert_eq!(
        unsafe { libc::unshare(libc::CLONE_NEWNET) },
        0,
        "unshare(CLONE_NEWNET): needs root"
    );
    ip("link set lo up");
    ip(&format!("addr add {LOCAL}/32 dev lo"));
    let mut cfg = DataplaneConfig::new("dpt0", vec![LOCAL]);
    cfg.workers = 1;
    cfg.acquire_interval = Duration::from_secs(60);
    Dataplane::start(cfg).expect("start data plane")
}

fn next_event(rx: &mut Receiver<DataplaneEvent>, within: Duration) -> Option<DataplaneEvent> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(e) = rx.try_recv() {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A static destination route.
fn rule(dest: &str) -> RouteRule {
    RouteRule::from(dest.parse::<Ipv4Net>().expect("net"))
}

fn udp(port: u16) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddrV4::new(LOCAL, port)).expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s
}

fn keys(spi: u32) -> SaKeys {
    SaKeys {
        spi,
        encr: Encr::AesCbc128,
        enc_key: vec![spi as u8; 16],
        integ: Some(Integ::HmacSha1_96),
        integ_key: vec![3; 20],
    }
}

/// A CHILD_SA whose peer is a plain UDP socket of ours at LOCAL:`peer_port`.
fn child(in_spi: u32, out_spi: u32, peer_port: u16) -> ChildSa {
    ChildSa {
        inbound: keys(in_spi),
        outbound: keys(out_spi),
        local_ts: vec![AddrRange::from(Ipv4Net::new(LOCAL, 32).expect("net"))],
        remote_ts: vec![AddrRange::from(REMOTE_NET.parse::<Ipv4Net>().expect("net"))],
        local: SocketAddrV4::new(LOCAL, 4500),
        remote: SocketAddrV4::new(LOCAL, peer_port),
        udp_encap: true,
    }
}

/// The SPI of the next ESP packet the fake peer receives.
fn received_spi(peer: &UdpSocket) -> u32 {
    let mut buf = [0u8; 2048];
    let (n, from) = peer.recv_from(&mut buf).expect("ESP packet at the peer");
    assert_eq!(from, SocketAddrV4::new(LOCAL, 4500).into());
    assert!(n > 8);
    u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])
}

#[test]
fn ike_and_keepalives_on_port_4500() {
    let (dp, mut rx) = start();
    let peer = udp(5000);
    let ours = SocketAddrV4::new(LOCAL, 4500);
    peer.send_to(b"\0\0\0\0hello ike", ours).unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(DataplaneEvent::Ike {
            local: ours,
            remote: SocketAddrV4::new(LOCAL, 5000),
            data: b"hello ike".to_vec()
        })
    );
    peer.send_to(&[0xff], ours).unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_millis(300)),
        None,
        "a keepalive is not an event"
    );
    assert_eq!(dp.stats().keepalives, 1);

    dp.send_ike(ours, SocketAddrV4::new(LOCAL, 5000), b"reply")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"\0\0\0\0reply",
        "IKE on 4500 carries the non-ESP marker"
    );
    dp.send_nat_keepalive(ours, SocketAddrV4::new(LOCAL, 5000))
        .unwrap();
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[0xff]);
    assert!(matches!(
        dp.send_ike(
            SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 4500),
            SocketAddrV4::new(LOCAL, 5000),
            b"x"
        ),
        Err(DataplaneError::UnknownLocalAddress(_))
    ));
}

#[test]
fn traffic_routed_to_a_tunnel_without_sa_raises_one_acquire() {
    let (dp, mut rx) = start();
    let id = TunnelId(7);
    dp.add_tunnel(id).unwrap();
    dp.set_routes(id, vec![rule(REMOTE_NET)]).unwrap();
    assert!(
        ip("route show").contains("10.9.0.0/24 dev dpt0"),
        "kernel route into the TUN device"
    );
    let app = UdpSocket::bind("0.0.0.0:0").unwrap();
    for _ in 0..5 {
        app.send_to(b"data", "10.9.0.5:9").unwrap();
    }
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(DataplaneEvent::Acquire { tunnel: id })
    );
    assert_eq!(
        next_event(&mut rx, Duration::from_millis(300)),
        None,
        "Acquire is rate-limited"
    );
    assert_eq!(dp.counters(id).unwrap().no_sa_drops, 5);
    dp.remove_tunnel(id).unwrap();
    assert!(
        !ip("route show").contains("10.9.0.0/24"),
        "route removed with the tunnel"
    );
}

#[test]
fn a_policy_route_takes_its_source_and_a_shared_kernel_route_outlives_one_tunnel() {
    let (dp, mut rx) = start();
    let other_src = Ipv4Addr::new(192, 168, 7, 1);
    ip(&format!("addr add {other_src}/32 dev lo"));
    let (by_dest, by_source) = (TunnelId(1), TunnelId(2));
    dp.add_tunnel(by_dest).unwrap();
    dp.add_tunnel(by_source).unwrap();
    dp.set_routes(by_dest, vec![rule(REMOTE_NET)]).unwrap();
    let policy = RouteRule {
        source: Some(Ipv4Net::from(LOCAL)),
        priority: 10,
        ..rule(REMOTE_NET)
    };
    dp.set_routes(by_source, vec![policy]).unwrap();
    let from_local = UdpSocket::bind(SocketAddrV4::new(LOCAL, 0)).unwrap();
    let from_other = UdpSocket::bind(SocketAddrV4::new(other_src, 0)).unwrap();
    from_local.send_to(b"policy", "10.9.0.5:9").unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(DataplaneEvent::Acquire { tunnel: by_source }),
        "the policy route takes traffic from its source"
    );
    from_other.send_to(b"dest", "10.9.0.5:9").unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(DataplaneEvent::Acquire { tunnel: by_dest }),
        "other sources take the destination route"
    );

    dp.remove_tunnel(by_dest).unwrap();
    assert!(
        ip("route show").contains("10.9.0.0/24 dev dpt0"),
        "the policy route still needs the kernel route"
    );
    from_other.send_to(b"no route", "10.9.0.5:9").unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while dp.stats().no_route == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        dp.stats().no_route,
        1,
        "a source outside the policy route has no route left"
    );
    dp.remove_tunnel(by_source).unwrap();
    assert!(
        !ip("route show").contains("10.9.0.0/24"),
        "route removed with its last tunnel"
    );
}

#[test]
fn a_standby_tunnel_carries_traffic_only_while_the_active_one_has_no_sa() {
    let (dp, _rx) = start();
    let peer = udp(5003);
    let (active, standby) = (TunnelId(1), TunnelId(2));
    dp.add_tunnel(active).unwrap();
    dp.add_tunnel(standby).unwrap();
    dp.set_routes(active, vec![rule(REMOTE_NET)]).unwrap();
    let weight_0 = RouteRule {
        weight: 0,
        ..rule(REMOTE_NET)
    };
    dp.set_routes(standby, vec![weight_0]).unwrap();
    dp.install_child_sa(standby, child(0x500, 0x5000, 5003))
        .unwrap();
    let app = UdpSocket::bind(SocketAddrV4::new(LOCAL, 0)).unwrap();
    app.send_to(b"1", "10.9.0.5:9").unwrap();
    assert_eq!(
        received_spi(&peer),
        0x5000,
        "the active tunnel has no SA: the standby's"
    );
    dp.install_child_sa(active, child(0x600, 0x6000, 5003))
        .unwrap();
    app.send_to(b"2", "10.9.0.5:9").unwrap();
    assert_eq!(received_spi(&peer), 0x6000, "the active tunnel is up again");
    dp.remove_sa(0x600).unwrap();
    app.send_to(b"3", "10.9.0.5:9").unwrap();
    assert_eq!(received_spi(&peer), 0x5000, "and down again");
}

#[test]
fn the_newest_sa_carries_traffic_and_older_inbound_sas_keep_working() {
    let (dp, mut rx) = start();
    let peer = udp(5001);
    let id = TunnelId(1);
    dp.add_tunnel(id).unwrap();
    dp.set_routes(id, vec![rule(REMOTE_NET)]).unwrap();
    dp.install_child_sa(id, child(0x100, 0x1000, 5001)).unwrap();
    dp.install_child_sa(id, child(0x200, 0x2000, 5001)).unwrap(); // the rekeyed pair
    let app = UdpSocket::bind(SocketAddrV4::new(LOCAL, 0)).unwrap();
    app.send_to(b"after rekey", "10.9.0.5:9").unwrap();
    assert_eq!(
        received_spi(&peer),
        0x2000,
        "the new outbound SA takes over"
    );

    // Inbound: the peer still sends on the old SA during the overlap, and on the new one.
    let host = udp(7000);
    for (n, spi) in [(1u8, 0x100u32), (2, 0x200)] {
        let inner = udp_packet(Ipv4Addr::new(10, 9, 0, 5), LOCAL, 7000, &[n; 10]);
        let mut esp = vec![0u8; 200];
        let len = OutboundSa::new(&keys(spi), Selectors::any())
            .unwrap()
            .encapsulate(&inner, &mut esp)
            .unwrap();
        peer.send_to(&esp[..len], SocketAddrV4::new(LOCAL, 4500))
            .unwrap();
        let mut buf = [0u8; 64];
        let (got, from) = host
            .recv_from(&mut buf)
            .expect("decapsulated packet delivered to the host");
        assert_eq!(
            (&buf[..got], from),
            (&[n; 10][..], "10.9.0.5:4000".parse().unwrap())
        );
    }
    let c = dp.counters(id).unwrap();
    assert_eq!(c.inbound.packets, 2);
    assert!(c.last_inbound.is_some());
    assert_eq!(c.outbound_sequence, 1, "one packet sent on the current SA");

    dp.remove_sa(0x200).unwrap();
    app.send_to(b"rolled back", "10.9.0.5:9").unwrap();
    assert_eq!(
        received_spi(&peer),
        0x1000,
        "removing the newest pair falls back to the older one"
    );
    dp.remove_sa(0x100).unwrap();
    app.send_to(b"no sa", "10.9.0.5:9").unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(DataplaneEvent::Acquire { tunnel: id })
    );
    let c = dp.counters(id).unwrap();
    assert_eq!(
        (c.outbound.packets, c.inbound.packets),
        (2, 2),
        "counters survive SA removal"
    );
}

/// The peer sends `payload` from 10.9.0.5:4000 to `dst`:`port` on its SA `sa`.
fn send_inbound(peer: &UdpSocket, sa: &OutboundSa, dst: Ipv4Addr, port: u16, payload: &[u8]) {
    let inner = udp_packet(Ipv4Addr::new(10, 9, 0, 5), dst, port, payload);
    let mut esp = vec![0u8; 200];
    let len = sa.encapsulate(&inner, &mut esp).unwrap();
    peer.send_to(&esp[..len], SocketAddrV4::new(LOCAL, 4500))
        .unwrap();
}

#[test]
fn a_tunnel_not_forwarding_inbound_delivers_only_to_the_hosts_tun_addresses() {
    let (dp, _rx) = start();
    let peer = udp(5003);
    let id = TunnelId(4);
    dp.add_tunnel(id).unwrap();
    dp.set_routes(id, vec![rule(REMOTE_NET)]).unwrap();
    let bgp_ip = Ipv4Addr::new(169, 254, 77, 1);
    let mut sa = child(0x400, 0x4000, 5003);
    sa.local_ts
        .push(AddrRange::from(Ipv4Net::new(bgp_ip, 32).unwrap()));
    dp.install_child_sa(id, sa).unwrap();
    let host = udp(7001);
    host.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let sender = OutboundSa::new(&keys(0x400), Selectors::any()).unwrap();

    dp.set_inbound_forwarding(id, false).unwrap();
    send_inbound(&peer, &sender, LOCAL, 7001, b"dropped");
    assert!(host.recv_from(&mut buf).is_err(), "forwarded while off");
    // The host's own address inside the tunnel (e.g. BGP's) is still reachable.
    dp.add_address(bgp_ip).unwrap();
    let bgp = UdpSocket::bind(SocketAddrV4::new(bgp_ip, 7002)).unwrap();
    bgp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    send_inbound(&peer, &sender, bgp_ip, 7002, b"to the host");
    let (n, _) = bgp
        .recv_from(&mut buf)
        .expect("delivered to the TUN address");
    assert_eq!(&buf[..n], b"to the host");
    let c = dp.counters(id).unwrap();
    assert_eq!((c.inbound.packets, c.blocked_inbound), (2, 1));

    dp.set_inbound_forwarding(id, true).unwrap();
    send_inbound(&peer, &sender, LOCAL, 7001, b"forwarded");
    let (n, _) = host.recv_from(&mut buf).expect("forwarded again");
    assert_eq!(&buf[..n], b"forwarded");
    assert_eq!(dp.counters(id).unwrap().blocked_inbound, 1);
}

#[test]
fn control_errors_are_precise() {
    let (dp, _rx) = start();
    let id = TunnelId(3);
    assert!(matches!(dp.set_routes(id, vec![]), Err(DataplaneError::UnknownTunnel(t)) if t == id));
    assert!(matches!(
        dp.set_inbound_forwarding(id, false),
        Err(DataplaneError::UnknownTunnel(_))
    ));
    dp.add_tunnel(id).unwrap();
    assert!(matches!(
        dp.add_tunnel(id),
        Err(DataplaneError::TunnelExists(_))
    ));
    let mut c = child(0x300, 0x3000, 5002);
    c.local = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 4500);
    assert!(matches!(
        dp.install_child_sa(id, c),
        Err(DataplaneError::UnknownLocalAddress(_))
    ));
    dp.install_child_sa(id, child(0x300, 0x3000, 5002)).unwrap();
    assert!(matches!(
        dp.install_child_sa(id, child(0x300, 0x3001, 5002)),
        Err(DataplaneError::DuplicateSpi(0x300))
    ));
    let mut bad = child(0x301, 0x3001, 5002);
    bad.outbound.enc_key.pop();
    assert!(matches!(
        dp.install_child_sa(id, bad),
        Err(DataplaneError::Esp(_))
    ));
    assert!(matches!(
        dp.remove_sa(0x999),
        Err(DataplaneError::UnknownSpi(0x999))
    ));
    assert_eq!(dp.tunnel_mtu(id), Some(1422));
}

/// An IPv4/UDP packet (UDP checksum left at zero, which IPv4 allows).
fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = (28 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&4000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn unusable_configurations_are_refused_before_touching_the_system() {
    let mut cfg = DataplaneConfig::new("dpt0", vec![]);
    assert!(
        matches!(
            Dataplane::start(cfg.clone()),
            Err(DataplaneError::Config(_))
        ),
        "no local address"
    );
    cfg.local_addrs = vec![LOCAL];
    cfg.tun_mtu = 500;
    assert!(
        matches!(Dataplane::start(cfg), Err(DataplaneError::Config(_))),
        "MTU below the IPv4 minimum"
    );
}
