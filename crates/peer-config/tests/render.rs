//! Renders the seed-003 connections and a dual-tunnel connection for every device and checks what
//! the device must be told: addresses, keys, proposals and BGP neighbours, from the device's side.

use std::net::Ipv4Addr;
use strait_model::{
    AttachType, AuthAlg, BgpConfig, CustomerGateway, DhGroup, EncAlg, HealthCheckConfig, IkeConfig,
    IkeMode, IkeVersion, IpsecConfig, NetworkType, Pfs, Role, Tunnel, VpnConnection,
};
use strait_peer_config::{DeviceType, RenderError, render_device, render_standard};

fn cgw(id: &str, ip: [u8; 4], asn: Option<u32>) -> CustomerGateway {
    CustomerGateway {
        customer_gateway_id: id.into(),
        name: String::new(),
        description: String::new(),
        ip_address: Ipv4Addr::from(ip),
        asn,
        auth_key: None,
        create_time: 0,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

/// A tunnel with the seed-003 settings: defaults but group14 in both phases, BGP on.
fn tunnel(index: u8, cgw_id: &str, cgw_ip: &str, gw_ip: [u8; 4], psk: &str, cidr: u8) -> Tunnel {
    Tunnel {
        tunnel_id: format!("tun-seed003000000000{index}{cidr}"),
        tunnel_index: index,
        role: if index == 1 {
            Role::Master
        } else {
            Role::Slave
        },
        customer_gateway_id: cgw_id.into(),
        internet_ip: Ipv4Addr::from(gw_ip),
        zone_no: format!("zone-{index}"),
        enable_dpd: true,
        enable_nat_traversal: true,
        tunnel_ike_config: IkeConfig {
            psk: psk.into(),
            ike_version: IkeVersion::V2,
            ike_mode: IkeMode::Main,
            ike_enc_alg: EncAlg::Aes,
            ike_auth_alg: AuthAlg::Sha1,
            ike_pfs: DhGroup::Group14,
            ike_lifetime: 86400,
            local_id: Ipv4Addr::from(gw_ip).to_string(),
            remote_id: cgw_ip.into(),
        },
        tunnel_ipsec_config: IpsecConfig {
            ipsec_pfs: Pfs::Group14,
            ..IpsecConfig::default()
        },
        tunnel_bgp_config: BgpConfig {
            enable_bgp: true,
            local_asn: 65531,
            tunnel_cidr: Some(format!("169.254.{cidr}.0/30").parse().unwrap()),
            local_bgp_ip: Some(Ipv4Addr::new(169, 254, cidr, 1)),
        },
    }
}

fn connection(id: &str, local: &str, remote: &str, tunnels: Vec<Tunnel>) -> VpnConnection {
    VpnConnection {
        vpn_connection_id: id.into(),
        name: id.into(),
        attach_type: AttachType::TransitRouter,
        vpn_gateway_id: None,
        transit_router_id: None,
        local_subnet: local.parse().unwrap(),
        remote_subnet: remote.parse().unwrap(),
        effect_immediately: true,
        auto_config_route: true,
        network_type: NetworkType::Public,
        vco_health_check: HealthCheckConfig::default(),
        tunnel_options: tunnels,
        create_time: 0,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

/// Seed 003's three connections: (connection, its customer gateway, gateway IP, PSK, tunnel CIDR octet).
fn seed003() -> Vec<(VpnConnection, CustomerGateway, String, String, u8)> {
    [
        (1u8, [203, 0, 113, 191], "fddsFF123****", 10u8),
        (2, [203, 0, 113, 213], "fddsFF456****", 11),
        (3, [203, 0, 113, 161], "fddsFF789****", 12),
    ]
    .into_iter()
    .map(|(k, gw, psk, cidr)| {
        let cgw_ip = format!("198.51.100.{k}");
        let g = cgw(
            &format!("cgw-seed00300000000000{k}"),
            [198, 51, 100, k],
            Some(65530),
        );
        let t = tunnel(1, &g.customer_gateway_id, &cgw_ip, gw, psk, cidr);
        let c = connection(
            &format!("vco-seed00300000000000{k}"),
            "0.0.0.0/0",
            "0.0.0.0/0",
            vec![t],
        );
        (c, g, Ipv4Addr::from(gw).to_string(), psk.to_string(), cidr)
    })
    .collect()
}

/// A dual-tunnel connection to two devices, policy-based (no BGP), group14.
fn dual() -> (VpnConnection, Vec<CustomerGateway>) {
    let g1 = cgw("cgw-dual0000000000000001", [198, 51, 100, 11], None);
    let g2 = cgw("cgw-dual0000000000000002", [198, 51, 100, 12], None);
    let mut t1 = tunnel(
        1,
        &g1.customer_gateway_id,
        "198.51.100.11",
        [203, 0, 113, 1],
        "master-key1",
        20,
    );
    let mut t2 = tunnel(
        2,
        &g2.customer_gateway_id,
        "198.51.100.12",
        [203, 0, 113, 2],
        "slave-key2",
        21,
    );
    t1.tunnel_bgp_config.enable_bgp = false;
    t2.tunnel_bgp_config.enable_bgp = false;
    let c = connection(
        "vco-dual0000000000000001",
        "10.0.0.0/16",
        "192.168.0.0/24,192.168.1.0/24",
        vec![t1, t2],
    );
    (c, vec![g1, g2])
}

/// Each device's spelling of aes128 / sha1 / group14 in phase 1 and phase 2.
fn proposal_lines(d: DeviceType) -> &'static [&'static str] {
    match d {
        DeviceType::StrongSwan => &[
            "proposals = aes128-sha1-modp2048",
            "esp_proposals = aes128-sha1-modp2048",
        ],
        DeviceType::Libreswan => &[
            "ike=aes128-sha1;modp2048",
            "esp=aes128-sha1;modp2048",
            "pfs=yes",
        ],
        DeviceType::CiscoAsa => &[
            " encryption aes\n integrity sha\n group 14\n prf sha\n",
            "protocol esp integrity sha-1",
            "set pfs group14",
        ],
        DeviceType::CiscoIos => &[
            " encryption aes-cbc-128\n integrity sha1\n group 14\n",
            "esp-aes esp-sha-hmac",
            "set pfs group14",
        ],
        DeviceType::JuniperSrx => &[
            "dh-group group14",
            "encryption-algorithm aes-128-cbc",
            "authentication-algorithm hmac-sha1-96",
            "perfect-forward-secrecy keys group14",
        ],
        DeviceType::Fortigate => &[
            "set proposal aes128-sha1\n        set dhgrp 14",
            "set pfs enable\n        set dhgrp 14",
        ],
        DeviceType::PaloAlto => &[
            "encryption aes-128-cbc",
            "hash sha1",
            "dh-group group14",
            "esp authentication sha1",
        ],
        DeviceType::Huawei => &[
            "encryption-algorithm aes-128",
            "integrity-algorithm hmac-sha1-96\n prf hmac-sha1",
            "dh group14",
            "esp authentication-algorithm sha1",
            "pfs dh-group14",
        ],
    }
}

/// Each device's BGP neighbour line for a given (neighbour, its ASN).
fn neighbour_line(d: DeviceType, ip: &str, asn: u32) -> String {
    match d {
        DeviceType::StrongSwan | DeviceType::Libreswan => format!("neighbor {ip} remote-as {asn}"),
        DeviceType::CiscoAsa | DeviceType::CiscoIos => format!("neighbor {ip} remote-as {asn}"),
        DeviceType::JuniperSrx => format!("neighbor {ip} peer-as {asn}"),
        DeviceType::Fortigate => format!("edit \"{ip}\"\n            set remote-as {asn}"),
        DeviceType::PaloAlto => format!("peer-as {asn}"),
        DeviceType::Huawei => format!("peer {ip} as-number {asn}"),
    }
}

#[test]
fn every_device_renders_the_seed003_connections_with_their_addresses_keys_proposals_and_bgp() {
    for (conn, g, gw_ip, psk, cidr) in seed003() {
        for &d in DeviceType::ALL {
            let out = render_device(d, &conn, std::slice::from_ref(&g))
                .unwrap_or_else(|e| panic!("{d} for {}: {e}", conn.vpn_connection_id));
            assert!(out.contains(&gw_ip), "{d}: gateway address missing\n{out}");
            assert!(
                out.contains(&g.ip_address.to_string()),
                "{d}: device address missing\n{out}"
            );
            assert!(out.contains(&psk), "{d}: PSK missing\n{out}");
            for line in proposal_lines(d) {
                assert!(out.contains(line), "{d}: expected {line:?}\n{out}");
            }
            let neighbour = format!("169.254.{cidr}.1");
            assert!(
                out.contains(&neighbour_line(d, &neighbour, 65531)),
                "{d}: BGP neighbour missing\n{out}"
            );
            assert!(out.contains("65530"), "{d}: device ASN missing\n{out}");
            assert!(
                out.contains(&format!("169.254.{cidr}.2")),
                "{d}: device BGP address missing\n{out}"
            );
            // Another connection's key or neighbour never leaks in.
            let other = if cidr == 10 {
                "169.254.11."
            } else {
                "169.254.10."
            };
            assert!(!out.contains(other), "{d}: foreign tunnel CIDR\n{out}");
        }
    }
}

#[test]
fn cisco_asa_output_has_the_form_seed003_shows() {
    let (conn, g, _, _, _) = seed003().remove(0);
    let out = render_device(DeviceType::CiscoAsa, &conn, &[g]).unwrap();
    for line in [
        "crypto ikev2 enable outside",
        " lifetime seconds 86400",
        "crypto ipsec ikev2 ipsec-proposal STRAIT-PROPOSAL-1\n protocol esp encryption aes\n protocol esp integrity sha-1",
        " set ikev2 ipsec-proposal STRAIT-PROPOSAL-1",
        " set ikev2 local-identity address",
        " set security-association lifetime seconds 86400",
        " set security-association lifetime kilobytes unlimited",
        "tunnel-group 203.0.113.191 type ipsec-l2l",
        "tunnel-group 203.0.113.191 ipsec-attributes\n ikev2 remote-authentication pre-shared-key fddsFF123****\n ikev2 local-authentication pre-shared-key fddsFF123****",
        " ip address 169.254.10.2 255.255.255.252",
        " tunnel destination 203.0.113.191\n tunnel mode ipsec ipv4\n tunnel protection ipsec profile STRAIT-PROFILE-1",
        "router bgp 65530\n address-family ipv4 unicast\n  neighbor 169.254.10.1 remote-as 65531\n  neighbor 169.254.10.1 ebgp-multihop 255\n  neighbor 169.254.10.1 activate",
    ] {
        assert!(out.contains(line), "expected {line:?}\n{out}");
    }
    assert!(
        !out.contains("crypto map"),
        "route-based connection must use a VTI\n{out}"
    );
}

#[test]
fn dual_tunnel_renders_both_tunnels_with_their_own_peer_and_key_on_every_device() {
    let (conn, gs) = dual();
    for &d in DeviceType::ALL {
        let out = render_device(d, &conn, &gs).unwrap_or_else(|e| panic!("{d}: {e}"));
        for (gw, dev, key) in [
            ("203.0.113.1", "198.51.100.11", "master-key1"),
            ("203.0.113.2", "198.51.100.12", "slave-key2"),
        ] {
            assert!(
                out.contains(gw) && out.contains(dev) && out.contains(key),
                "{d}: tunnel to {gw} incomplete\n{out}"
            );
        }
        assert!(
            !out.contains("169.254."),
            "{d}: BGP is off, no BGP lines expected\n{out}"
        );
    }
    let swan = render_device(DeviceType::StrongSwan, &conn, &gs).unwrap();
    assert!(
        swan.contains(
            "local_ts = 192.168.0.0/24,192.168.1.0/24\n                remote_ts = 10.0.0.0/16"
        ),
        "{swan}"
    );
    let asa = render_device(DeviceType::CiscoAsa, &conn, &gs).unwrap();
    assert!(asa.contains("access-list STRAIT-ACL-2 extended permit ip 192.168.1.0 255.255.255.0 10.0.0.0 255.255.0.0"), "{asa}");
    assert!(
        asa.contains("crypto map STRAIT-MAP 12 set peer 203.0.113.2"),
        "{asa}"
    );
    let ios = render_device(DeviceType::CiscoIos, &conn, &gs).unwrap();
    assert!(
        ios.contains(" permit ip 192.168.0.0 0.0.0.255 10.0.0.0 0.0.255.255"),
        "{ios}"
    );
    let srx = render_device(DeviceType::JuniperSrx, &conn, &gs).unwrap();
    assert!(
        srx.contains("traffic-selector TS2 local-ip 192.168.1.0/24 remote-ip 10.0.0.0/16"),
        "{srx}"
    );
}

#[test]
fn standard_body_is_the_device_side_view_with_the_sdk_field_names() {
    let (conn, g, _, _, _) = seed003().remove(0);
    let body = serde_json::to_value(render_standard(&conn, &[g]).unwrap()).unwrap();
    assert_eq!(body["Local"], "198.51.100.1");
    assert_eq!(body["Remote"], "203.0.113.191");
    assert_eq!(body["IkeConfig"]["LocalId"], "198.51.100.1");
    assert_eq!(body["IkeConfig"]["RemoteId"], "203.0.113.191");
    assert_eq!(body["IkeConfig"]["Psk"], "fddsFF123****");
    assert_eq!(body["IkeConfig"]["IkePfs"], "group14");
    assert_eq!(body["IkeConfig"]["IkeLifetime"], 86400);
    assert_eq!(body["IpsecConfig"]["IpsecPfs"], "group14");
    let bgp = &body["BgpConfigs"]["BgpConfig"][0];
    assert_eq!(bgp["LocalAsn"], "65530");
    assert_eq!(bgp["PeerAsn"], "65531");
    assert_eq!(bgp["LocalBgpIp"], "169.254.10.2");
    assert_eq!(bgp["PeerBgpIp"], "169.254.10.1");
    assert_eq!(bgp["TunnelCidr"], "169.254.10.0/30");
    assert!(body.get("TunnelsConfig").is_none());

    let (conn, gs) = dual();
    let body = serde_json::to_value(render_standard(&conn, &gs).unwrap()).unwrap();
    // The device's networks are the connection's remote subnets.
    assert_eq!(body["LocalSubnet"], "192.168.0.0/24,192.168.1.0/24");
    assert_eq!(body["RemoteSubnet"], "10.0.0.0/16");
    assert!(body.get("Local").is_none() && body.get("BgpConfigs").is_none());
    let tunnels = body["TunnelsConfig"]["TunnelConfig"].as_array().unwrap();
    assert_eq!(tunnels.len(), 2);
    assert_eq!(tunnels[1]["Local"], "198.51.100.12");
    assert_eq!(tunnels[1]["Remote"], "203.0.113.2");
    assert_eq!(tunnels[1]["IkeConfig"]["Psk"], "slave-key2");

    // Dual tunnel with BGP on both tunnels: one session per tunnel, each with its own addresses.
    let (mut conn, mut gs) = dual();
    for t in &mut conn.tunnel_options {
        t.tunnel_bgp_config.enable_bgp = true;
    }
    for g in &mut gs {
        g.asn = Some(65530);
    }
    let body = serde_json::to_value(render_standard(&conn, &gs).unwrap()).unwrap();
    let sessions = body["BgpConfigs"]["BgpConfig"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[1]["TunnelId"],
        conn.tunnel_options[1].tunnel_id.as_str()
    );
    assert_eq!(sessions[1]["PeerBgpIp"], "169.254.21.1");
    assert_eq!(sessions[1]["LocalBgpIp"], "169.254.21.2");
}

/// One seed-003 connection with its tunnel changed by `f`.
fn variant(f: impl FnOnce(&mut Tunnel)) -> (VpnConnection, Vec<CustomerGateway>) {
    let (mut conn, g, _, _, _) = seed003().remove(0);
    f(&mut conn.tunnel_options[0]);
    (conn, vec![g])
}

fn unsupported(d: DeviceType, c: &(VpnConnection, Vec<CustomerGateway>)) -> String {
    match render_device(d, &c.0, &c.1) {
        Err(e @ RenderError::Unsupported { .. }) => e.to_string(),
        other => panic!("{d}: expected Unsupported, got {other:?}"),
    }
}

#[test]
fn settings_a_device_cannot_express_are_refused_by_name_not_rendered_wrong() {
    // The cloud's default DH group 2: gone from ASA 9.15+ and libreswan 4, fine on strongSwan and IOS.
    let group2 = variant(|t| t.tunnel_ike_config.ike_pfs = DhGroup::Group2);
    assert!(unsupported(DeviceType::CiscoAsa, &group2).contains("IKE DH group2"));
    assert!(unsupported(DeviceType::Libreswan, &group2).contains("IKE DH group2"));
    let swan = render_device(DeviceType::StrongSwan, &group2.0, &group2.1).unwrap();
    assert!(swan.contains("proposals = aes128-sha1-modp1024"), "{swan}");
    assert!(
        render_device(DeviceType::CiscoIos, &group2.0, &group2.1)
            .unwrap()
            .contains(" group 2\n")
    );

    let md5 = variant(|t| t.tunnel_ipsec_config.ipsec_auth_alg = AuthAlg::Md5);
    assert!(unsupported(DeviceType::CiscoAsa, &md5).contains("IPsec authentication md5"));

    let v1_gcm = variant(|t| {
        t.tunnel_ike_config.ike_version = IkeVersion::V1;
        t.tunnel_ike_config.ike_enc_alg = EncAlg::Aes128Gcm16;
    });
    for &d in DeviceType::ALL {
        assert!(
            unsupported(d, &v1_gcm).contains("ikev1 IKE encryption aes128gcm16"),
            "{d}"
        );
    }

    let x25519 = variant(|t| t.tunnel_ipsec_config.ipsec_pfs = Pfs::Group31);
    assert!(unsupported(DeviceType::PaloAlto, &x25519).contains("PFS group31"));
    assert!(
        render_device(DeviceType::Fortigate, &x25519.0, &x25519.1)
            .unwrap()
            .contains("set dhgrp 31")
    );

    let forever = variant(|t| t.tunnel_ipsec_config.ipsec_lifetime = 0);
    assert!(unsupported(DeviceType::JuniperSrx, &forever).contains("IPsec SA lifetime 0 s"));
    assert!(
        render_device(DeviceType::StrongSwan, &forever.0, &forever.1)
            .unwrap()
            .contains("                rekey_time = 0\n")
    );

    let question = variant(|t| t.tunnel_ike_config.psk = "what?now".into());
    for d in [
        DeviceType::CiscoAsa,
        DeviceType::Huawei,
        DeviceType::Fortigate,
    ] {
        assert!(
            unsupported(d, &question).contains("pre-shared key containing '?'"),
            "{d}"
        );
    }
    let swan = render_device(DeviceType::StrongSwan, &question.0, &question.1).unwrap();
    assert!(swan.contains("secret = \"what?now\""), "{swan}");
    assert!(
        unsupported(DeviceType::Libreswan, &forever)
            .contains("IPsec SA lifetime 0 s (minimum 1 s)")
    );

    let odd = variant(|t| t.tunnel_ike_config.ike_lifetime = 70000);
    assert!(unsupported(DeviceType::PaloAlto, &odd).contains("whole hours"));
    let day = render_device(
        DeviceType::PaloAlto,
        &seed003()[0].0,
        &[seed003()[0].1.clone()],
    )
    .unwrap();
    assert!(day.contains("lifetime hours 24"), "{day}");
}

#[test]
fn bgp_cannot_ride_narrowed_selectors_on_interface_based_devices() {
    let (mut conn, g, _, _, _) = seed003().remove(0);
    conn.local_subnet = "10.0.0.0/16".parse().unwrap();
    conn.remote_subnet = "192.168.0.0/24".parse().unwrap();
    for d in [
        DeviceType::CiscoAsa,
        DeviceType::CiscoIos,
        DeviceType::Huawei,
    ] {
        let err = render_device(d, &conn, std::slice::from_ref(&g))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BGP together with protected data flows"),
            "{d}: {err}"
        );
    }
    // Devices with per-tunnel selectors and a tunnel interface carry both.
    let srx = render_device(DeviceType::JuniperSrx, &conn, std::slice::from_ref(&g)).unwrap();
    assert!(
        srx.contains("traffic-selector TS1 local-ip 192.168.0.0/24 remote-ip 10.0.0.0/16"),
        "{srx}"
    );
    assert!(srx.contains("route-filter 192.168.0.0/24 exact"), "{srx}");
}

#[test]
fn ikev1_aggressive_without_pfs_and_fqdn_ids_render_in_each_syntax() {
    let (conn, gs) = variant(|t| {
        let ike = &mut t.tunnel_ike_config;
        ike.ike_version = IkeVersion::V1;
        ike.ike_mode = IkeMode::Aggressive;
        ike.remote_id = "dc1.example.com".into();
        t.tunnel_ipsec_config.ipsec_pfs = Pfs::Disabled;
        t.tunnel_bgp_config.enable_bgp = false;
    });
    let swan = render_device(DeviceType::StrongSwan, &conn, &gs).unwrap();
    for line in [
        "version = 1",
        "aggressive = yes",
        "reauth_time = 77760s",
        "id = dc1.example.com",
        "esp_proposals = aes128-sha1\n",
        "dpd_timeout = 30s",
    ] {
        assert!(swan.contains(line), "{line:?}\n{swan}");
    }
    let lsw = render_device(DeviceType::Libreswan, &conn, &gs).unwrap();
    for line in [
        "ikev2=no",
        "aggressive=yes",
        "leftid=@dc1.example.com",
        "esp=aes128-sha1\n    pfs=no",
        "@dc1.example.com 203.0.113.191 : PSK \"fddsFF123****\"",
    ] {
        assert!(lsw.contains(line), "{line:?}\n{lsw}");
    }
    let asa = render_device(DeviceType::CiscoAsa, &conn, &gs);
    assert!(
        matches!(asa, Err(RenderError::Unsupported { .. })),
        "ASA has aggressive mode only on crypto maps: {asa:?}"
    );
    let ios = render_device(DeviceType::CiscoIos, &conn, &gs).unwrap();
    assert!(
        ios.contains("set aggressive-mode password fddsFF123****")
            && ios.contains("crypto isakmp identity hostname"),
        "{ios}"
    );
    assert!(!ios.contains("set pfs"), "{ios}");
    let srx = render_device(DeviceType::JuniperSrx, &conn, &gs).unwrap();
    assert!(
        srx.contains("mode aggressive") && srx.contains("local-identity hostname dc1.example.com"),
        "{srx}"
    );
    assert!(!srx.contains("perfect-forward-secrecy"), "{srx}");
}

#[test]
fn inputs_that_do_not_describe_a_connection_are_errors() {
    let (conn, _, _, _, _) = seed003().remove(0);
    assert!(
        matches!(render_standard(&conn, &[]), Err(RenderError::MissingCustomerGateway(id)) if id == "cgw-seed003000000000001")
    );
    let no_asn = cgw("cgw-seed003000000000001", [198, 51, 100, 1], None);
    assert!(matches!(
        render_device(DeviceType::StrongSwan, &conn, &[no_asn]),
        Err(RenderError::IncompleteBgp {
            tunnel: 1,
            what: "customer gateway ASN"
        })
    ));
    assert_eq!("cisco-asa".parse::<DeviceType>(), Ok(DeviceType::CiscoAsa));
    for &d in DeviceType::ALL {
        assert_eq!(d.as_str().parse::<DeviceType>(), Ok(d));
    }
    assert!(
        matches!("mikrotik".parse::<DeviceType>(), Err(RenderError::UnknownDevice(s)) if s == "mikrotik")
    );
}

#[test]
fn dpd_and_nat_traversal_follow_the_tunnel_settings() {
    let on = seed003().remove(0);
    let (off, gs) = variant(|t| {
        t.enable_dpd = false;
        t.enable_nat_traversal = false;
    });
    let render = |d, c: &VpnConnection, g: &[CustomerGateway]| render_device(d, c, g).unwrap();
    let swan_on = render(DeviceType::StrongSwan, &on.0, std::slice::from_ref(&on.1));
    let swan_off = render(DeviceType::StrongSwan, &off, &gs);
    assert!(
        swan_on.contains("dpd_delay = 10s")
            && swan_on.contains("encap = yes")
            && swan_on.contains("dpd_action = restart")
    );
    assert!(
        !swan_off.contains("dpd_") && !swan_off.contains("encap"),
        "{swan_off}"
    );
    let lsw = render(DeviceType::Libreswan, &off, &gs);
    assert!(
        lsw.contains("encapsulation=no") && !lsw.contains("dpddelay"),
        "{lsw}"
    );
    let forti = render(DeviceType::Fortigate, &off, &gs);
    assert!(
        forti.contains("set dpd disable") && forti.contains("set nattraversal disable"),
        "{forti}"
    );
    let srx = render(DeviceType::JuniperSrx, &off, &gs);
    assert!(
        srx.contains("no-nat-traversal") && !srx.contains("dead-peer-detection"),
        "{srx}"
    );
    let asa = render(DeviceType::CiscoAsa, &off, &gs);
    assert!(asa.contains("isakmp keepalive disable"), "{asa}");
}
