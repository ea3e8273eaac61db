//! What the API's users are promised: defaults, accepted values and field-named rejections.

use super::*;
use crate::algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion, Pfs};
use crate::resource::{
    AttachType, CustomerGateway, GatewayStatus, NetworkType, VpnConnection, VpnGateway,
};
use crate::tunnel::{HealthCheckPolicy, Role};
use std::net::Ipv4Addr;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn gateway(dual_zone: bool) -> VpnGateway {
    VpnGateway {
        vpn_gateway_id: "vpn-aaaaaaaaaaaaaaaaaaaa".into(),
        name: String::new(),
        description: String::new(),
        vpc_id: "vpc-local".into(),
        v_switch_id: "zone-a".into(),
        internet_ip: Ipv4Addr::new(203, 0, 113, 1),
        disaster_recovery_v_switch_id: dual_zone.then(|| "zone-b".into()),
        disaster_recovery_internet_ip: dual_zone.then_some(Ipv4Addr::new(203, 0, 113, 2)),
        network_type: NetworkType::Public,
        status: GatewayStatus::Active,
        create_time: 0,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

fn cgw(id: &str, last: u8, asn: Option<u32>) -> CustomerGateway {
    CustomerGateway {
        customer_gateway_id: id.into(),
        name: String::new(),
        description: String::new(),
        ip_address: Ipv4Addr::new(198, 51, 100, last),
        asn,
        auth_key: None,
        create_time: 0,
        resource_group_id: String::new(),
        tags: vec![],
    }
}

struct World {
    gw: VpnGateway,
    cgws: Vec<CustomerGateway>,
    conns: Vec<VpnConnection>,
}

impl World {
    fn new() -> World {
        World {
            gw: gateway(true),
            cgws: vec![
                cgw("cgw-bgp1", 1, Some(65530)),
                cgw("cgw-bgp2", 2, Some(65530)),
                cgw("cgw-nobgp", 3, None),
            ],
            conns: vec![],
        }
    }
    fn ctx(&self) -> ConnectionContext<'_> {
        ConnectionContext {
            gateway: Some(&self.gw),
            customer_gateways: &self.cgws,
            gateway_connections: &self.conns,
            now_ms: 42,
        }
    }
    fn create(&self, input: &ConnectionInput) -> Result<VpnConnection, ValidationError> {
        validate_new_connection(input, &self.ctx())
    }
}

fn single(cgw: &str) -> ConnectionInput {
    ConnectionInput {
        customer_gateway_id: s(cgw),
        local_subnet: s("0.0.0.0/0"),
        remote_subnet: s("0.0.0.0/0"),
        ..Default::default()
    }
}

fn dual(cgw1: &str, cgw2: &str) -> ConnectionInput {
    let tunnel = |c: &str| TunnelOptionsInput {
        customer_gateway_id: s(c),
        ..Default::default()
    };
    ConnectionInput {
        local_subnet: s("0.0.0.0/0"),
        remote_subnet: s("0.0.0.0/0"),
        tunnel_options_specification: vec![tunnel(cgw1), tunnel(cgw2)],
        ..Default::default()
    }
}

fn ike(json: &str) -> Option<IkeConfigInput> {
    Some(parse_json("IkeConfig", json).unwrap())
}

fn bgp(cidr: &str, ip: &str) -> Option<BgpConfigInput> {
    Some(BgpConfigInput {
        enable_bgp: s("true"),
        tunnel_cidr: s(cidr),
        local_bgp_ip: s(ip),
        ..Default::default()
    })
}

/// The (code, field) of a rejection; panics if the input was accepted.
fn rejected<T: std::fmt::Debug>(r: Result<T, ValidationError>) -> (String, String) {
    let e = r.expect_err("input should have been rejected");
    assert!(
        e.message.contains(&e.field),
        "message must name the field: {e:?}"
    );
    (e.code, e.field)
}

fn pair(code: &str, field: &str) -> (String, String) {
    (code.to_string(), field.to_string())
}

#[test]
fn single_tunnel_connection_gets_the_seed_defaults() {
    let w = World::new();
    let c = w.create(&single("cgw-bgp1")).unwrap();
    assert!(crate::IdKind::VpnConnection.matches(&c.vpn_connection_id));
    assert_eq!(c.tunnel_options.len(), 1);
    assert!(!c.effect_immediately && c.auto_config_route && !c.vco_health_check.enable);
    assert_eq!(
        (c.attach_type, c.vpn_gateway_id.as_deref(), c.create_time),
        (AttachType::VpnGateway, Some("vpn-aaaaaaaaaaaaaaaaaaaa"), 42)
    );
    let t = &c.tunnel_options[0];
    assert!(crate::IdKind::Tunnel.matches(&t.tunnel_id));
    assert!(!t.enable_dpd && !t.enable_nat_traversal);
    assert_eq!(
        (t.internet_ip, t.zone_no.as_str(), t.role),
        (Ipv4Addr::new(203, 0, 113, 1), "zone-a", Role::Master)
    );
    let i = &t.tunnel_ike_config;
    assert_eq!(
        (
            i.ike_version,
            i.ike_mode,
            i.ike_enc_alg,
            i.ike_auth_alg,
            i.ike_pfs,
            i.ike_lifetime
        ),
        (
            IkeVersion::V1,
            IkeMode::Main,
            EncAlg::Aes,
            AuthAlg::Sha1,
            DhGroup::Group2,
            86400
        )
    );
    assert_eq!(
        (i.local_id.as_str(), i.remote_id.as_str()),
        ("203.0.113.1", "198.51.100.1")
    );
    assert_eq!(i.psk.len(), 16);
    assert!(i.psk.bytes().all(|b| b.is_ascii_alphanumeric()));
    let p = &t.tunnel_ipsec_config;
    assert_eq!(
        (
            p.ipsec_enc_alg,
            p.ipsec_auth_alg,
            p.ipsec_pfs,
            p.ipsec_lifetime
        ),
        (EncAlg::Aes, AuthAlg::Sha1, Pfs::Group2, 86400)
    );
    assert!(!t.tunnel_bgp_config.enable_bgp);
    assert_eq!(t.tunnel_bgp_config.local_asn, 45104);
    let other = w.create(&single("cgw-bgp1")).unwrap();
    assert_ne!(
        other.tunnel_options[0].tunnel_ike_config.psk, i.psk,
        "generated keys must be random"
    );
}

#[test]
fn dual_tunnel_connection_defaults_to_ikev2_immediate_with_dpd_and_nat_t_on_two_zones() {
    let w = World::new();
    let c = w.create(&dual("cgw-bgp1", "cgw-bgp2")).unwrap();
    assert!(c.is_dual_tunnel() && c.effect_immediately);
    let [a, b] = c.tunnel_options.as_slice() else {
        panic!("two tunnels")
    };
    for t in [a, b] {
        assert_eq!(t.tunnel_ike_config.ike_version, IkeVersion::V2);
        assert!(t.enable_dpd && t.enable_nat_traversal);
        assert_eq!(t.tunnel_ike_config.psk.len(), 16);
    }
    assert_eq!(
        (a.tunnel_index, a.role, a.zone_no.as_str(), a.internet_ip),
        (1, Role::Master, "zone-a", Ipv4Addr::new(203, 0, 113, 1))
    );
    assert_eq!(
        (b.tunnel_index, b.role, b.zone_no.as_str(), b.internet_ip),
        (2, Role::Slave, "zone-b", Ipv4Addr::new(203, 0, 113, 2))
    );
    assert_eq!(b.tunnel_ike_config.local_id, "203.0.113.2");
    assert_eq!(b.tunnel_ike_config.remote_id, "198.51.100.2");
    assert_ne!(a.tunnel_id, b.tunnel_id);
}

#[test]
fn connections_attached_to_nothing_get_the_same_defaults_and_unplaced_tunnels() {
    let w = World::new();
    let ctx = ConnectionContext {
        gateway: None,
        ..w.ctx()
    };
    let one = validate_new_connection(&single("cgw-bgp1"), &ctx).unwrap();
    assert_eq!(
        (one.attach_type, one.vpn_gateway_id.as_deref()),
        (AttachType::None, None)
    );
    let t = &one.tunnel_options[0];
    assert_eq!((t.internet_ip, t.zone_no.as_str()), UNPLACED);
    assert_eq!(t.tunnel_ike_config.ike_version, IkeVersion::V1);
    assert_eq!(t.tunnel_ike_config.local_id, "0.0.0.0");
    let two = validate_new_connection(&dual("cgw-bgp1", "cgw-bgp2"), &ctx).unwrap();
    assert_eq!(two.attach_type, AttachType::None);
    assert!(
        two.tunnel_options
            .iter()
            .all(|t| (t.internet_ip, t.zone_no.as_str()) == UNPLACED
                && t.tunnel_ike_config.ike_version == IkeVersion::V2)
    );
    let (code, field) = rejected(validate_new_connection(&single("cgw-none"), &ctx));
    assert_eq!(
        (code.as_str(), field.as_str()),
        ("InvalidCustomerGatewayId.NotFound", "CustomerGatewayId")
    );
}

#[test]
fn explicit_settings_are_kept_and_numbers_may_come_as_json_numbers() {
    let w = World::new();
    let mut input = single("cgw-bgp1");
    input.ike_config = ike(
        r#"{"Psk":"Ab1~`!@#$%^&*()_-+={}[]\\|;:',.<>/?\"","IkeVersion":"ikev2","IkeEncAlg":"aes256","IkeAuthAlg":"sha256","IkePfs":"group14","IkeLifetime":3600,"LocalId":"gw.example.com","RemoteId":"cpe.example.com"}"#,
    );
    input.ipsec_config = Some(
        parse_json(
            "IpsecConfig",
            r#"{"IpsecPfs":"disabled","IpsecLifetime":"0","IpsecAuthAlg":"md5"}"#,
        )
        .unwrap(),
    );
    input.effect_immediately = s("true");
    input.enable_dpd = s("true");
    let c = w.create(&input).unwrap();
    let t = &c.tunnel_options[0];
    assert_eq!(
        t.tunnel_ike_config.psk,
        "Ab1~`!@#$%^&*()_-+={}[]\\|;:',.<>/?\""
    );
    assert_eq!(
        (
            t.tunnel_ike_config.ike_pfs,
            t.tunnel_ike_config.ike_lifetime
        ),
        (DhGroup::Group14, 3600)
    );
    assert_eq!(t.tunnel_ike_config.remote_id, "cpe.example.com");
    assert_eq!(
        (
            t.tunnel_ipsec_config.ipsec_pfs,
            t.tunnel_ipsec_config.ipsec_lifetime
        ),
        (Pfs::Disabled, 0)
    );
    assert!(c.effect_immediately && t.enable_dpd && !t.enable_nat_traversal);
}

#[test]
fn psk_must_be_1_to_100_allowed_characters_without_spaces() {
    let w = World::new();
    let with_psk = |psk: &str| {
        let mut i = single("cgw-bgp1");
        i.ike_config = Some(IkeConfigInput {
            psk: s(psk),
            ..Default::default()
        });
        w.create(&i)
    };
    assert!(with_psk(&"x".repeat(100)).is_ok());
    assert_eq!(
        rejected(with_psk(&"x".repeat(101))),
        pair("InvalidParameter.Psk", "IkeConfig.Psk")
    );
    assert_eq!(
        rejected(with_psk("has space")),
        pair("InvalidParameter.Psk", "IkeConfig.Psk")
    );
    assert_eq!(
        rejected(with_psk("caf\u{e9}")),
        pair("InvalidParameter.Psk", "IkeConfig.Psk")
    );
    let mut d = dual("cgw-bgp1", "cgw-bgp2");
    d.tunnel_options_specification[1].tunnel_ike_config = Some(IkeConfigInput {
        psk: s("tab\there"),
        ..Default::default()
    });
    assert_eq!(
        rejected(w.create(&d)),
        pair(
            "InvalidParameter.Psk",
            "TunnelOptionsSpecification.2.TunnelIkeConfig.Psk"
        )
    );
}

#[test]
fn algorithm_names_and_lifetimes_are_checked_per_field() {
    let w = World::new();
    let with_ike = |json: &str| {
        let mut i = single("cgw-bgp1");
        i.ike_config = ike(json);
        w.create(&i)
    };
    let e = with_ike(r#"{"IkeEncAlg":"aes512"}"#).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("InvalidParameter.IkeEncAlg", "IkeConfig.IkeEncAlg")
    );
    assert!(
        e.message.contains("aes192") && e.message.contains("aes512"),
        "{}",
        e.message
    );
    assert_eq!(
        rejected(with_ike(r#"{"IkePfs":"disabled"}"#)),
        pair("InvalidParameter.IkePfs", "IkeConfig.IkePfs")
    );
    assert_eq!(
        rejected(with_ike(r#"{"IkeAuthAlg":"sha3"}"#)),
        pair("InvalidParameter.IkeAuthAlg", "IkeConfig.IkeAuthAlg")
    );
    assert_eq!(
        rejected(with_ike(r#"{"IkeVersion":"ikev3"}"#)),
        pair("InvalidParameter.IkeVersion", "IkeConfig.IkeVersion")
    );
    assert_eq!(
        rejected(with_ike(r#"{"IkeMode":"quick"}"#)),
        pair("InvalidParameter.IkeMode", "IkeConfig.IkeMode")
    );
    assert!(with_ike(r#"{"IkeLifetime":0}"#).is_ok());
    assert!(with_ike(r#"{"IkeLifetime":86400}"#).is_ok());
    for bad in ["86401", "-1", "\"1h\""] {
        assert_eq!(
            rejected(with_ike(&format!(r#"{{"IkeLifetime":{bad}}}"#))),
            pair("InvalidParameter.IkeLifetime", "IkeConfig.IkeLifetime")
        );
    }
    let mut i = single("cgw-bgp1");
    i.ipsec_config = Some(parse_json("IpsecConfig", r#"{"IpsecLifetime":90000}"#).unwrap());
    assert_eq!(
        rejected(w.create(&i)),
        pair(
            "InvalidParameter.IpsecLifetime",
            "IpsecConfig.IpsecLifetime"
        )
    );
    assert_eq!(
        rejected(parse_json::<IkeConfigInput>("IkeConfig", "{not json")),
        pair("InvalidParameter.IkeConfig", "IkeConfig")
    );
}

#[test]
fn several_cidrs_need_ikev2_and_cidrs_must_be_networks() {
    let w = World::new();
    let with = |local: &str, remote: &str, version: Option<&str>| {
        let mut i = single("cgw-bgp1");
        i.local_subnet = s(local);
        i.remote_subnet = s(remote);
        i.ike_config = version.map(|v| IkeConfigInput {
            ike_version: s(v),
            ..Default::default()
        });
        w.create(&i)
    };
    let c = with(
        "10.0.0.0/16",
        "192.168.0.0/24,192.168.1.0/24",
        Some("ikev2"),
    )
    .unwrap();
    assert_eq!(c.remote_subnet.0.len(), 2);
    let e = with("10.0.0.0/16", "192.168.0.0/24,192.168.1.0/24", None).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("InvalidParameter.RemoteSubnet", "RemoteSubnet")
    );
    assert!(e.message.contains("ikev2"), "{}", e.message);
    assert_eq!(
        rejected(with("10.0.0.0/8,10.1.0.0/16", "0.0.0.0/0", Some("ikev1"))),
        pair("InvalidParameter.LocalSubnet", "LocalSubnet")
    );
    assert_eq!(
        rejected(with("10.0.0.1/16", "0.0.0.0/0", None)),
        pair("InvalidParameter.LocalSubnet", "LocalSubnet")
    );
    assert_eq!(
        rejected(with("0.0.0.0/0,10.0.0.0/8", "0.0.0.0/0", Some("ikev2"))),
        pair("InvalidParameter.LocalSubnet", "LocalSubnet")
    );
    assert_eq!(
        rejected(with("10.0.0.0/8", "192.168.0.0/33", None)),
        pair("InvalidParameter.RemoteSubnet", "RemoteSubnet")
    );
    let mut i = single("cgw-bgp1");
    i.local_subnet = None;
    assert_eq!(
        rejected(w.create(&i)),
        pair("MissingParameter.LocalSubnet", "LocalSubnet")
    );
    // Dual-tunnel: every tunnel must run IKEv2.
    let mut d = dual("cgw-bgp1", "cgw-bgp2");
    d.local_subnet = s("10.0.0.0/16,10.1.0.0/16");
    assert!(w.create(&d).is_ok());
    d.tunnel_options_specification[1].tunnel_ike_config = Some(IkeConfigInput {
        ike_version: s("ikev1"),
        ..Default::default()
    });
    let e = w.create(&d).unwrap_err();
    assert!(
        e.field == "LocalSubnet"
            && e.message
                .contains("TunnelOptionsSpecification.2.TunnelIkeConfig.IkeVersion"),
        "{e:?}"
    );
}

#[test]
fn local_and_remote_ids_may_not_contain_spaces() {
    let w = World::new();
    let mut i = single("cgw-bgp1");
    i.ike_config = ike(r#"{"LocalId":"my gateway"}"#);
    assert_eq!(
        rejected(w.create(&i)),
        pair("InvalidParameter.LocalId", "IkeConfig.LocalId")
    );
    i.ike_config = Some(IkeConfigInput {
        remote_id: s(&"r".repeat(101)),
        ..Default::default()
    });
    assert_eq!(
        rejected(w.create(&i)),
        pair("InvalidParameter.RemoteId", "IkeConfig.RemoteId")
    );
}

#[test]
fn asns_accept_plain_and_asdot_forms_within_range() {
    assert_eq!(parse_asn("f", "123.456"), Ok(8_061_384));
    assert_eq!(parse_asn("f", "65531"), Ok(65531));
    assert_eq!(parse_asn("f", "4294967295"), Ok(u32::MAX));
    assert_eq!(parse_asn("f", "65535.65535"), Ok(u32::MAX));
    for bad in [
        "0",
        "0.0",
        "4294967296",
        "65536.1",
        "1.65536",
        "-5",
        "1.2.3",
        "as65000",
        "",
    ] {
        assert_eq!(
            rejected(parse_asn("BgpConfig.LocalAsn", bad)),
            pair("InvalidParameter.LocalAsn", "BgpConfig.LocalAsn"),
            "{bad}"
        );
    }
}

#[test]
fn tunnel_cidrs_are_non_reserved_slash_30s_in_169_254() {
    let f = "BgpConfig.TunnelCidr";
    for good in [
        "169.254.7.0/30",
        "169.254.10.0/30",
        "169.254.0.4/30",
        "169.254.169.248/30",
        "169.254.255.252/30",
    ] {
        assert!(validate_tunnel_cidr(f, good).is_ok(), "{good}");
    }
    for bad in [
        "169.254.0.0/30",
        "169.254.6.0/30",
        "169.254.169.252/30",
        "169.254.10.0/29",
        "169.254.10.1/30",
        "10.0.0.0/30",
        "169.255.0.0/30",
        "junk",
    ] {
        assert_eq!(
            rejected(validate_tunnel_cidr(f, bad)),
            pair("InvalidParameter.TunnelCidr", f),
            "{bad}"
        );
    }
}

#[test]
fn bgp_needs_a_peer_asn_a_tunnel_cidr_and_a_local_ip_inside_it() {
    let w = World::new();
    let with = |cgw: &str, b: Option<BgpConfigInput>| {
        let mut i = single(cgw);
        i.bgp_config = b;
        w.create(&i)
    };
    let c = with("cgw-bgp1", bgp("169.254.10.0/30", "169.254.10.1")).unwrap();
    let b = &c.tunnel_options[0].tunnel_bgp_config;
    assert!(b.enable_bgp && b.local_asn == 45104);
    assert_eq!(b.peer_bgp_ip(), Some(Ipv4Addr::new(169, 254, 10, 2)));
    assert_eq!(
        rejected(with("cgw-nobgp", bgp("169.254.10.0/30", "169.254.10.1"))),
        pair("InvalidParameter.EnableBgp", "BgpConfig.EnableBgp")
    );
    assert_eq!(
        rejected(with("cgw-bgp1", bgp("169.254.10.0/30", "169.254.11.1"))),
        pair("InvalidParameter.LocalBgpIp", "BgpConfig.LocalBgpIp")
    );
    assert_eq!(
        rejected(with("cgw-bgp1", bgp("169.254.10.0/30", "169.254.10.3"))),
        pair("InvalidParameter.LocalBgpIp", "BgpConfig.LocalBgpIp")
    );
    assert_eq!(
        rejected(with("cgw-bgp1", bgp("", "169.254.10.1"))),
        pair("MissingParameter.TunnelCidr", "BgpConfig.TunnelCidr")
    );
    assert_eq!(
        rejected(with("cgw-bgp1", bgp("169.254.10.0/30", ""))),
        pair("MissingParameter.LocalBgpIp", "BgpConfig.LocalBgpIp")
    );
    let mut asdot = bgp("169.254.10.0/30", "169.254.10.2");
    if let Some(b) = asdot.as_mut() {
        b.local_asn = s("1.10");
    }
    assert_eq!(
        with("cgw-bgp1", asdot).unwrap().tunnel_options[0]
            .tunnel_bgp_config
            .local_asn,
        65546
    );
    let mut ibgp = bgp("169.254.10.0/30", "169.254.10.1");
    if let Some(b) = ibgp.as_mut() {
        b.local_asn = s("65530");
    }
    assert_eq!(
        rejected(with("cgw-bgp1", ibgp)),
        pair("InvalidParameter.LocalAsn", "BgpConfig.LocalAsn")
    );
    // Configured but not enabled: allowed without a peer ASN.
    let off = BgpConfigInput {
        enable_bgp: s("false"),
        tunnel_cidr: s("169.254.10.0/30"),
        local_bgp_ip: s("169.254.10.1"),
        ..Default::default()
    };
    assert!(with("cgw-nobgp", Some(off)).is_ok());
}

fn dual_bgp(
    w: &World,
    cidrs: [&str; 2],
    asns: [&str; 2],
) -> Result<VpnConnection, ValidationError> {
    let mut d = dual("cgw-bgp1", "cgw-bgp2");
    d.enable_tunnels_bgp = s("true");
    for ((t, cidr), asn) in d
        .tunnel_options_specification
        .iter_mut()
        .zip(cidrs)
        .zip(asns)
    {
        let ip = cidr.replace(".0/30", ".1");
        t.tunnel_bgp_config = Some(BgpConfigInput {
            local_asn: s(asn),
            tunnel_cidr: s(cidr),
            local_bgp_ip: s(&ip),
            ..Default::default()
        });
    }
    w.create(&d)
}

#[test]
fn dual_tunnel_bgp_shares_the_local_asn_and_uses_two_tunnel_cidrs() {
    let w = World::new();
    let c = dual_bgp(
        &w,
        ["169.254.20.0/30", "169.254.21.0/30"],
        ["65531", "65531"],
    )
    .unwrap();
    assert!(
        c.tunnel_options
            .iter()
            .all(|t| t.tunnel_bgp_config.enable_bgp && t.tunnel_bgp_config.local_asn == 65531)
    );
    assert_eq!(
        rejected(dual_bgp(
            &w,
            ["169.254.20.0/30", "169.254.20.0/30"],
            ["65531", "65531"]
        )),
        pair(
            "Duplicated.TunnelCidr",
            "TunnelOptionsSpecification.2.TunnelBgpConfig.TunnelCidr"
        )
    );
    assert_eq!(
        rejected(dual_bgp(
            &w,
            ["169.254.20.0/30", "169.254.21.0/30"],
            ["65531", "65532"]
        )),
        pair(
            "InvalidParameter.LocalAsn",
            "TunnelOptionsSpecification.2.TunnelBgpConfig.LocalAsn"
        )
    );
    let mut d = dual("cgw-bgp1", "cgw-bgp2");
    d.enable_tunnels_bgp = s("true");
    assert_eq!(
        rejected(w.create(&d)),
        pair(
            "MissingParameter.TunnelCidr",
            "TunnelOptionsSpecification.1.TunnelBgpConfig.TunnelCidr"
        )
    );
    let mut d = dual("cgw-bgp1", "cgw-nobgp");
    d.enable_tunnels_bgp = s("true");
    d.tunnel_options_specification[0].tunnel_bgp_config = bgp("169.254.20.0/30", "169.254.20.1");
    d.tunnel_options_specification[1].tunnel_bgp_config = bgp("169.254.21.0/30", "169.254.21.1");
    assert_eq!(
        rejected(w.create(&d)),
        pair(
            "InvalidParameter.EnableBgp",
            "TunnelOptionsSpecification.2.TunnelBgpConfig.EnableBgp"
        )
    );
}

#[test]
fn dual_tunnel_mode_needs_two_configured_tunnels_on_a_two_zone_gateway() {
    let w = World::new();
    let mut one = dual("cgw-bgp1", "cgw-bgp2");
    one.tunnel_options_specification.pop();
    assert_eq!(
        rejected(w.create(&one)),
        pair(
            "InvalidParameter.TunnelOptionsSpecification",
            "TunnelOptionsSpecification"
        )
    );
    let mut no_cgw = dual("cgw-bgp1", "cgw-bgp2");
    no_cgw.tunnel_options_specification[1].customer_gateway_id = None;
    assert_eq!(
        rejected(w.create(&no_cgw)),
        pair(
            "MissingParameter.CustomerGatewayId",
            "TunnelOptionsSpecification.2.CustomerGatewayId"
        )
    );
    let mut unknown = dual("cgw-bgp1", "cgw-nope");
    unknown.name = s("x");
    let e = w.create(&unknown).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.http_status()),
        ("InvalidCustomerGatewayId.NotFound", 404)
    );
    let mut masters = dual("cgw-bgp1", "cgw-bgp2");
    masters.tunnel_options_specification[1].role = s("master");
    assert_eq!(
        rejected(w.create(&masters)),
        pair("InvalidParameter.Role", "TunnelOptionsSpecification.2.Role")
    );
    let mut mixed = dual("cgw-bgp1", "cgw-bgp2");
    mixed.ike_config = ike("{}");
    assert_eq!(
        rejected(w.create(&mixed)),
        pair("InvalidParameter.IkeConfig", "IkeConfig")
    );
    let mut single_bgp = single("cgw-bgp1");
    single_bgp.enable_tunnels_bgp = s("true");
    assert_eq!(
        rejected(w.create(&single_bgp)),
        pair("InvalidParameter.EnableTunnelsBgp", "EnableTunnelsBgp")
    );
    let one_zone = World {
        gw: gateway(false),
        ..World::new()
    };
    assert_eq!(
        rejected(one_zone.create(&dual("cgw-bgp1", "cgw-bgp2"))),
        pair(
            "InvalidParameter.TunnelOptionsSpecification",
            "TunnelOptionsSpecification"
        )
    );
    assert_eq!(
        rejected(w.create(&single("cgw-nope"))).0,
        "InvalidCustomerGatewayId.NotFound"
    );
    assert_eq!(
        rejected(w.create(&ConnectionInput {
            customer_gateway_id: None,
            ..single("x")
        })),
        pair("MissingParameter.CustomerGatewayId", "CustomerGatewayId")
    );
}

#[test]
fn seed_003_ecmp_set_is_accepted_and_a_reused_tunnel_cidr_on_the_gateway_is_not() {
    let mut w = World::new();
    w.cgws = (1..=3)
        .map(|n| cgw(&format!("cgw-dc{n}"), n, Some(65530)))
        .collect();
    for n in 0..3u8 {
        let mut i = single(&format!("cgw-dc{}", n + 1));
        i.local_subnet = s("10.0.0.0/16");
        i.remote_subnet = s(&format!("192.168.{n}.0/24"));
        i.ike_config = ike(r#"{"IkePfs":"group14"}"#);
        i.ipsec_config = Some(parse_json("IpsecConfig", r#"{"IpsecPfs":"group14"}"#).unwrap());
        let cidr = format!("169.254.{}.0/30", 10 + n);
        i.bgp_config = Some(BgpConfigInput {
            local_asn: s("65531"),
            ..bgp(&cidr, &format!("169.254.{}.1", 10 + n)).unwrap()
        });
        let c = w.create(&i).unwrap();
        let t = &c.tunnel_options[0];
        assert_eq!(
            (t.tunnel_ike_config.ike_pfs, t.tunnel_ipsec_config.ipsec_pfs),
            (DhGroup::Group14, Pfs::Group14)
        );
        assert_eq!(t.tunnel_bgp_config.local_asn, 65531);
        assert_eq!(
            t.tunnel_bgp_config.tunnel_cidr.map(|c| c.to_string()),
            Some(cidr)
        );
        w.conns.push(c);
    }
    let mut again = single("cgw-dc1");
    again.bgp_config = bgp("169.254.11.0/30", "169.254.11.1");
    let e = w.create(&again).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("Duplicated.TunnelCidr", "BgpConfig.TunnelCidr")
    );
    assert!(
        e.message.contains(&w.conns[1].vpn_connection_id),
        "{}",
        e.message
    );
    // Re-validating a connection against itself is no clash.
    let own = w.conns[0].clone();
    let name_only = ConnectionInput {
        name: s("renamed"),
        ..Default::default()
    };
    assert_eq!(
        validate_connection_update(&own, &name_only, &w.ctx())
            .unwrap()
            .name,
        "renamed"
    );
}

#[test]
fn health_check_defaults_ranges_and_required_addresses() {
    let w = World::new();
    let with = |json: &str| {
        let mut i = single("cgw-bgp1");
        i.health_check_config = Some(parse_json("HealthCheckConfig", json)?);
        w.create(&i)
    };
    let c = with(r#"{"enable":true,"dip":"192.168.0.10","sip":"10.0.0.10"}"#).unwrap();
    let hc = &c.vco_health_check;
    assert!(
        hc.enable
            && hc.interval == 3
            && hc.retry == 3
            && hc.policy == HealthCheckPolicy::RevokeRoute
    );
    assert_eq!(hc.dip, Some(Ipv4Addr::new(192, 168, 0, 10)));
    assert_eq!(
        rejected(with(r#"{"enable":true,"sip":"10.0.0.10"}"#)),
        pair("MissingParameter.dip", "HealthCheckConfig.dip")
    );
    assert_eq!(
        rejected(with(
            r#"{"enable":true,"dip":"192.168.0.300","sip":"10.0.0.10"}"#
        )),
        pair("InvalidParameter.dip", "HealthCheckConfig.dip")
    );
    assert_eq!(
        rejected(with(r#"{"interval":0}"#)),
        pair("InvalidParameter.interval", "HealthCheckConfig.interval")
    );
    assert_eq!(
        rejected(with(r#"{"retry":101}"#)),
        pair("InvalidParameter.retry", "HealthCheckConfig.retry")
    );
    assert_eq!(
        rejected(with(r#"{"Policy":"drop"}"#)),
        pair("InvalidParameter.Policy", "HealthCheckConfig.Policy")
    );
    assert_eq!(
        with(r#"{"Policy":"reserve_route","interval":60,"retry":1}"#)
            .unwrap()
            .vco_health_check
            .policy,
        HealthCheckPolicy::ReserveRoute
    );
    let mut d = dual("cgw-bgp1", "cgw-bgp2");
    d.health_check_config = Some(HealthCheckInput::default());
    assert_eq!(
        rejected(w.create(&d)),
        pair("InvalidParameter.HealthCheckConfig", "HealthCheckConfig")
    );
}

#[test]
fn modifying_changes_only_given_fields_and_respects_the_association() {
    let w = World::new();
    let c = w.create(&single("cgw-bgp1")).unwrap();
    let psk = |input: ConnectionInput| validate_connection_update(&c, &input, &w.ctx());
    let changed = psk(ConnectionInput {
        ike_config: Some(IkeConfigInput {
            psk: s("n3w-key"),
            ..Default::default()
        }),
        local_subnet: s("10.0.0.0/16"),
        remote_subnet: s("192.168.0.0/24"),
        ..Default::default()
    })
    .unwrap();
    let t = &changed.tunnel_options[0];
    assert_eq!(t.tunnel_ike_config.psk, "n3w-key");
    assert_eq!(
        t.tunnel_ike_config.ike_version,
        IkeVersion::V1,
        "no defaults re-applied"
    );
    assert_eq!(
        (changed.vpn_connection_id.as_str(), t.tunnel_id.as_str()),
        (
            c.vpn_connection_id.as_str(),
            c.tunnel_options[0].tunnel_id.as_str()
        )
    );
    assert_eq!(changed.remote_subnet.to_string(), "192.168.0.0/24");
    let e = psk(ConnectionInput {
        customer_gateway_id: s("cgw-bgp2"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        (
            "OperationUnsupported.CustomerGatewayId",
            "CustomerGatewayId"
        )
    );
    assert!(
        psk(ConnectionInput {
            customer_gateway_id: s("cgw-bgp1"),
            ..Default::default()
        })
        .is_ok(),
        "same value is no change"
    );
    let mut unattached = c.clone();
    unattached.attach_type = AttachType::None;
    let moved = validate_connection_update(
        &unattached,
        &ConnectionInput {
            enable_dpd: s("true"),
            ..Default::default()
        },
        &w.ctx(),
    )
    .unwrap();
    assert!(moved.tunnel_options[0].enable_dpd);
    assert_eq!(
        rejected(validate_connection_update(
            &c,
            &ConnectionInput {
                local_subnet: s("10.0.0.0/8,10.1.0.0/16"),
                ..Default::default()
            },
            &w.ctx()
        )),
        pair("InvalidParameter.LocalSubnet", "LocalSubnet")
    );
}

#[test]
fn association_decides_which_fields_may_change() {
    use ConnectionField as F;
    assert!(!modifiable(
        AttachType::VpnGateway,
        false,
        F::CustomerGateway
    ));
    assert!(!modifiable(AttachType::VpnGateway, true, F::Attachment));
    assert!(
        modifiable(AttachType::VpnGateway, true, F::Psk)
            && modifiable(AttachType::VpnGateway, false, F::RoutingMode)
    );
    assert!(modifiable(AttachType::VpnGateway, false, F::Advanced));
    assert!(
        !modifiable(AttachType::TransitRouter, false, F::NetworkType)
            && !modifiable(AttachType::TransitRouter, false, F::Attachment)
    );
    assert!(
        modifiable(AttachType::TransitRouter, true, F::RoutingMode)
            && modifiable(AttachType::TransitRouter, true, F::EffectImmediately)
    );
    assert!(
        modifiable(AttachType::TransitRouter, false, F::CustomerGateway)
            && !modifiable(AttachType::TransitRouter, true, F::CustomerGateway)
    );
    assert!(
        !modifiable(AttachType::None, false, F::CustomerGateway)
            && !modifiable(AttachType::None, false, F::NetworkType)
    );
    assert!(modifiable(AttachType::None, true, F::Psk));
}

#[test]
fn dual_tunnel_modifications_address_tunnels_by_id_and_bgp_waits_for_enabling() {
    let w = World::new();
    let c = w.create(&dual("cgw-bgp1", "cgw-bgp2")).unwrap();
    let second = c.tunnel_options[1].tunnel_id.clone();
    let by_id = ConnectionInput {
        tunnel_options_specification: vec![TunnelOptionsInput {
            tunnel_id: s(&second),
            enable_dpd: s("false"),
            ..Default::default()
        }],
        ..Default::default()
    };
    let m = validate_connection_update(&c, &by_id, &w.ctx()).unwrap();
    assert!(m.tunnel_options[0].enable_dpd && !m.tunnel_options[1].enable_dpd);
    let unknown = ConnectionInput {
        tunnel_options_specification: vec![TunnelOptionsInput {
            tunnel_id: s("tun-nope"),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        rejected(validate_connection_update(&c, &unknown, &w.ctx())).0,
        "InvalidTunnelId.NotFound"
    );

    let bgp_change = TunnelOptionsInput {
        tunnel_bgp_config: bgp("169.254.30.0/30", "169.254.30.1"),
        ..Default::default()
    };
    assert_eq!(
        rejected(validate_tunnel_update(&c, &second, &bgp_change, &w.ctx())),
        pair(
            "InvalidParameter.TunnelBgpConfig",
            "TunnelOptionsSpecification.TunnelBgpConfig"
        )
    );
    let enable = ConnectionInput {
        enable_tunnels_bgp: s("true"),
        ..Default::default()
    };
    assert_eq!(
        rejected(validate_connection_update(&c, &enable, &w.ctx())),
        pair(
            "MissingParameter.TunnelCidr",
            "TunnelOptionsSpecification.1.TunnelBgpConfig.TunnelCidr"
        )
    );
    let with_bgp = dual_bgp(
        &w,
        ["169.254.20.0/30", "169.254.21.0/30"],
        ["65531", "65531"],
    )
    .unwrap();
    let t2 = with_bgp.tunnel_options[1].tunnel_id.clone();
    let m = validate_tunnel_update(&with_bgp, &t2, &bgp_change, &w.ctx()).unwrap();
    assert_eq!(
        m.tunnel_options[1]
            .tunnel_bgp_config
            .tunnel_cidr
            .map(|c| c.to_string())
            .as_deref(),
        Some("169.254.30.0/30")
    );
    let clash = TunnelOptionsInput {
        tunnel_bgp_config: bgp("169.254.20.0/30", "169.254.20.2"),
        ..Default::default()
    };
    assert_eq!(
        rejected(validate_tunnel_update(&with_bgp, &t2, &clash, &w.ctx())),
        pair(
            "Duplicated.TunnelCidr",
            "TunnelOptionsSpecification.TunnelBgpConfig.TunnelCidr"
        )
    );
    let off = ConnectionInput {
        enable_tunnels_bgp: s("false"),
        ..Default::default()
    };
    assert!(
        !validate_connection_update(&with_bgp, &off, &w.ctx())
            .unwrap()
            .bgp_enabled()
    );
    assert_eq!(
        rejected(validate_tunnel_update(
            &c,
            "tun-nope",
            &TunnelOptionsInput::default(),
            &w.ctx()
        ))
        .0,
        "InvalidTunnelId.NotFound"
    );
}

#[test]
fn deletion_is_refused_while_resources_are_in_use() {
    let w = World::new();
    let used = vec!["vco-x".to_string()];
    assert_eq!(
        rejected(check_delete_customer_gateway(&w.cgws[0], &used)),
        pair("DependencyViolation.VpnConnection", "CustomerGatewayId")
    );
    assert!(check_delete_customer_gateway(&w.cgws[0], &[]).is_ok());
    assert_eq!(
        rejected(check_delete_vpn_gateway(&w.gw, &used)),
        pair("DependencyViolation.VpnConnection", "VpnGatewayId")
    );
    assert!(check_delete_vpn_gateway(&w.gw, &[]).is_ok());
    let mut c = w.create(&single("cgw-bgp1")).unwrap();
    assert!(check_delete_connection(&c).is_ok());
    assert_eq!(
        rejected(check_grant_authorization(&c)),
        pair("OperationUnsupported.InstanceId", "InstanceId")
    );
    c.attach_type = AttachType::None;
    assert!(check_grant_authorization(&c).is_ok());
    c.attach_type = AttachType::TransitRouter;
    assert_eq!(
        rejected(check_delete_connection(&c)),
        pair("DependencyViolation.TransitRouter", "VpnConnectionId")
    );
}

#[test]
fn customer_gateway_addresses_asns_keys_and_texts_are_checked() {
    let new = |ip: &str, asn: Option<&str>, key: Option<&str>| {
        validate_new_customer_gateway(
            &CustomerGatewayInput {
                ip_address: s(ip),
                asn: asn.map(str::to_string),
                auth_key: key.map(str::to_string),
                ..Default::default()
            },
            7,
        )
    };
    let c = new("198.51.100.7", Some("1.1"), Some("md5-key!")).unwrap();
    assert!(crate::IdKind::CustomerGateway.matches(&c.customer_gateway_id));
    assert_eq!(
        (c.asn, c.auth_key.as_deref(), c.create_time),
        (Some(65537), Some("md5-key!"), 7)
    );
    assert_eq!(new("198.51.100.7", None, None).unwrap().asn, None);
    for ip in [
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "169.254.1.1",
        "224.0.0.5",
        "239.1.1.1",
        "255.1.1.1",
        "0.0.0.0",
        "1.2.3",
        "::1",
    ] {
        assert_eq!(
            rejected(new(ip, None, None)),
            pair("InvalidParameter.IpAddress", "IpAddress"),
            "{ip}"
        );
    }
    assert!(new("100.128.0.1", None, None).is_ok());
    assert_eq!(
        rejected(new("198.51.100.7", Some("45104"), None)),
        pair("InvalidParameter.Asn", "Asn")
    );
    assert_eq!(
        rejected(new("198.51.100.7", Some("4294967296"), None)),
        pair("InvalidParameter.Asn", "Asn")
    );
    assert_eq!(
        rejected(new("198.51.100.7", None, Some("what?"))),
        pair("InvalidParameter.AuthKey", "AuthKey")
    );
    assert_eq!(
        rejected(new("198.51.100.7", None, Some("has space"))),
        pair("InvalidParameter.AuthKey", "AuthKey")
    );
    assert_eq!(
        rejected(new("198.51.100.7", None, Some(&"k".repeat(65)))),
        pair("InvalidParameter.AuthKey", "AuthKey")
    );
    assert_eq!(
        rejected(validate_new_customer_gateway(
            &CustomerGatewayInput::default(),
            0
        )),
        pair("MissingParameter.IpAddress", "IpAddress")
    );
    let named = |name: &str| {
        validate_new_customer_gateway(
            &CustomerGatewayInput {
                ip_address: s("198.51.100.7"),
                name: s(name),
                ..Default::default()
            },
            0,
        )
    };
    assert_eq!(
        rejected(named("https://evil")),
        pair("InvalidParameter.Name", "Name")
    );
    assert_eq!(
        rejected(named(&"n".repeat(101))),
        pair("InvalidParameter.Name", "Name")
    );
    assert!(named(&"n".repeat(100)).is_ok());
    let modified = validate_customer_gateway_update(
        &c,
        &CustomerGatewayInput {
            description: s("dc1"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (modified.description.as_str(), modified.ip_address),
        ("dc1", c.ip_address)
    );
    assert_eq!(
        rejected(validate_customer_gateway_update(
            &c,
            &CustomerGatewayInput {
                ip_address: s("198.51.100.9"),
                ..Default::default()
            }
        ))
        .0,
        "OperationUnsupported.IpAddress"
    );
}

#[test]
fn vpn_gateways_are_placed_on_configured_vpcs_and_zones() {
    let placement = Placement {
        vpc_ids: vec!["vpc-local".into()],
        zones: ["zone-a", "zone-b"]
            .into_iter()
            .zip(1..)
            .map(|(id, n)| PlacementZone {
                id: id.into(),
                public_ip: Some(Ipv4Addr::new(203, 0, 113, n)),
                private_ip: None,
            })
            .collect(),
    };
    let new = |i: VpnGatewayInput| validate_new_vpn_gateway(&i, &placement, 9);
    let base = VpnGatewayInput {
        vpc_id: s("vpc-local"),
        ..Default::default()
    };
    let g = new(base.clone()).unwrap();
    assert!(crate::IdKind::VpnGateway.matches(&g.vpn_gateway_id));
    assert_eq!(
        (g.v_switch_id.as_str(), g.internet_ip),
        ("zone-a", Ipv4Addr::new(203, 0, 113, 1))
    );
    assert_eq!(
        (
            g.disaster_recovery_v_switch_id.as_deref(),
            g.disaster_recovery_internet_ip
        ),
        (Some("zone-b"), Some(Ipv4Addr::new(203, 0, 113, 2)))
    );
    assert_eq!(
        (g.status, g.network_type),
        (GatewayStatus::Active, NetworkType::Public)
    );
    let swapped = new(VpnGatewayInput {
        v_switch_id: s("zone-b"),
        ..base.clone()
    })
    .unwrap();
    assert_eq!(
        (
            swapped.internet_ip,
            swapped.disaster_recovery_v_switch_id.as_deref()
        ),
        (Ipv4Addr::new(203, 0, 113, 2), Some("zone-a"))
    );
    let e = new(VpnGatewayInput {
        vpc_id: s("vpc-other"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.http_status()),
        ("InvalidVpcId.NotFound", 404)
    );
    assert_eq!(
        rejected(new(VpnGatewayInput::default())),
        pair("MissingParameter.VpcId", "VpcId")
    );
    assert_eq!(
        rejected(new(VpnGatewayInput {
            v_switch_id: s("zone-z"),
            ..base.clone()
        }))
        .0,
        "InvalidVSwitchId.NotFound"
    );
    assert_eq!(
        rejected(new(VpnGatewayInput {
            disaster_recovery_v_switch_id: s("zone-a"),
            ..base.clone()
        }))
        .0,
        "InvalidParameter.DisasterRecoveryVSwitchId"
    );
    assert_eq!(
        rejected(new(VpnGatewayInput {
            network_type: s("dark"),
            ..base.clone()
        })),
        pair("InvalidParameter.NetworkType", "NetworkType")
    );
    let renamed = validate_vpn_gateway_update(
        &g,
        &VpnGatewayInput {
            name: s("edge"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.vpn_gateway_id.as_str()),
        ("edge", g.vpn_gateway_id.as_str())
    );
    assert_eq!(
        rejected(validate_vpn_gateway_update(
            &g,
            &VpnGatewayInput {
                vpc_id: s("vpc-local"),
                ..Default::default()
            }
        ))
        .0,
        "OperationUnsupported.VpcId"
    );
}

#[test]
fn tags_are_limited_in_number_length_and_prefix() {
    let tag = |k: &str, v: &str| TagInput {
        key: s(k),
        value: s(v),
    };
    let ok = validate_tags("Tag", &[tag("env", ""), tag("team", "net")]).unwrap();
    assert_eq!((ok[0].key.as_str(), ok[0].value.as_str()), ("env", ""));
    let many: Vec<_> = (0..21).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_eq!(
        rejected(validate_tags("Tag", &many)),
        pair("InvalidParameter.Tag", "Tag")
    );
    assert!(validate_tags("Tag", &many[..20]).is_ok());
    assert_eq!(
        rejected(validate_tags("Tag", &[tag("", "v")])),
        pair("MissingParameter.Key", "Tag.1.Key")
    );
    assert_eq!(
        rejected(validate_tags("Tag", &[tag("a", "1"), tag("aliyun:x", "v")])),
        pair("InvalidParameter.Key", "Tag.2.Key")
    );
    assert_eq!(
        rejected(validate_tags("Tag", &[tag("k", "https://x")])),
        pair("InvalidParameter.Value", "Tag.1.Value")
    );
    assert_eq!(
        rejected(validate_tags("Tag", &[tag(&"k".repeat(65), "")])),
        pair("InvalidParameter.Key", "Tag.1.Key")
    );
    assert_eq!(
        rejected(validate_tags("Tag", &[tag("k", &"v".repeat(129))])),
        pair("InvalidParameter.Value", "Tag.1.Value")
    );
    assert_eq!(
        rejected(validate_tags("Tag", &[tag("k", "1"), tag("k", "2")])),
        pair("Duplicated.Key", "Tag.2.Key")
    );
}

#[test]
fn route_entries_need_a_connection_of_the_gateway_a_valid_weight_and_priority() {
    let w = World::new();
    let c = w.create(&single("cgw-bgp1")).unwrap();
    let conns = vec![c.clone()];
    let input = RouteEntryInput {
        route_dest: s("192.168.0.0/24"),
        next_hop: s(&c.vpn_connection_id),
        weight: s("100"),
        publish_vpc: s("true"),
        ..Default::default()
    };
    let r = validate_new_route_entry(&input, &w.gw, &conns, &[], 5).unwrap();
    assert_eq!(
        (r.weight, r.publish_vpc, r.route_dest.to_string()),
        (100, true, "192.168.0.0/24".to_string())
    );
    assert_eq!(
        rejected(validate_new_route_entry(
            &input,
            &w.gw,
            &conns,
            std::slice::from_ref(&r),
            5
        )),
        pair("Duplicated.RouteDest", "RouteDest")
    );
    let standby = RouteEntryInput {
        weight: s("0"),
        ..input.clone()
    };
    assert_eq!(
        validate_new_route_entry(&standby, &w.gw, &conns, &[], 5)
            .unwrap()
            .weight,
        0
    );
    assert_eq!(
        rejected(validate_new_route_entry(
            &RouteEntryInput {
                weight: s("50"),
                ..input.clone()
            },
            &w.gw,
            &conns,
            &[],
            5
        )),
        pair("InvalidParameter.Weight", "Weight")
    );
    assert_eq!(
        rejected(validate_new_route_entry(
            &RouteEntryInput {
                next_hop: s("vco-other"),
                ..input.clone()
            },
            &w.gw,
            &conns,
            &[],
            5
        ))
        .0,
        "InvalidNextHop.NotFound"
    );
    assert_eq!(
        rejected(validate_new_route_entry(
            &RouteEntryInput {
                route_dest: s("192.168.0.1/24"),
                ..input.clone()
            },
            &w.gw,
            &conns,
            &[],
            5
        )),
        pair("InvalidParameter.RouteDest", "RouteDest")
    );
    assert_eq!(
        rejected(validate_new_route_entry(
            &RouteEntryInput {
                overlay_mode: s("Gre"),
                ..input.clone()
            },
            &w.gw,
            &conns,
            &[],
            5
        ))
        .0,
        "InvalidParameter.OverlayMode"
    );
    let pbr = RouteEntryInput {
        route_source: s("10.0.0.0/16"),
        ..input.clone()
    };
    let p = validate_new_pbr_route_entry(&pbr, &w.gw, &conns, &[], 5).unwrap();
    assert_eq!(
        (p.priority, p.route_source.to_string()),
        (10, "10.0.0.0/16".to_string())
    );
    assert_eq!(
        rejected(validate_new_pbr_route_entry(&pbr, &w.gw, &conns, &[p], 5)).0,
        "Duplicated.RouteDest"
    );
    for bad in ["0", "101"] {
        assert_eq!(
            rejected(validate_new_pbr_route_entry(
                &RouteEntryInput {
                    priority: s(bad),
                    ..pbr.clone()
                },
                &w.gw,
                &conns,
                &[],
                5
            )),
            pair("InvalidParameter.Priority", "Priority")
        );
    }
    assert_eq!(
        rejected(validate_new_pbr_route_entry(&input, &w.gw, &conns, &[], 5)),
        pair("MissingParameter.RouteSource", "RouteSource")
    );
    assert_eq!(validate_priority("NewPriority", "1"), Ok(1));
    assert_eq!(
        rejected(validate_weight("NewWeight", "1")),
        pair("InvalidParameter.NewWeight", "NewWeight")
    );
}

#[test]
fn flat_request_parameters_decode_into_inputs_as_the_sdk_sends_them() {
    let w = World::new();
    // Single-tunnel: settings objects arrive as JSON strings, tags as numbered fields.
    let single: ConnectionInput = from_params([
        ("CustomerGatewayId", "cgw-bgp1"),
        ("LocalSubnet", "10.0.0.0/16"),
        ("RemoteSubnet", "192.168.0.0/24"),
        ("EffectImmediately", "true"),
        ("IkeConfig", r#"{"Psk":"k3y","IkeLifetime":3600}"#),
        ("HealthCheckConfig", r#"{"enable":false,"interval":5}"#),
        ("Tags.2.Key", "b"),
        ("Tags.1.Key", "a"),
        ("Tags.1.Value", "x"),
    ])
    .unwrap();
    let c = w.create(&single).unwrap();
    assert_eq!(c.tunnel_options[0].tunnel_ike_config.psk, "k3y");
    assert_eq!(c.vco_health_check.interval, 5);
    assert!(c.effect_immediately);
    assert_eq!(
        c.tags.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    // Dual-tunnel: nested settings arrive flattened.
    let dual: ConnectionInput = from_params([
        ("LocalSubnet", "0.0.0.0/0"),
        ("RemoteSubnet", "0.0.0.0/0"),
        ("EnableTunnelsBgp", "true"),
        ("TunnelOptionsSpecification.1.CustomerGatewayId", "cgw-bgp1"),
        (
            "TunnelOptionsSpecification.1.TunnelBgpConfig.TunnelCidr",
            "169.254.40.0/30",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelBgpConfig.LocalBgpIp",
            "169.254.40.1",
        ),
        (
            "TunnelOptionsSpecification.1.TunnelIkeConfig.IkeEncAlg",
            "aes256",
        ),
        ("TunnelOptionsSpecification.2.CustomerGatewayId", "cgw-bgp2"),
        (
            "TunnelOptionsSpecification.2.TunnelBgpConfig.TunnelCidr",
            "169.254.41.0/30",
        ),
        (
            "TunnelOptionsSpecification.2.TunnelBgpConfig.LocalBgpIp",
            "169.254.41.1",
        ),
    ])
    .unwrap();
    let c = w.create(&dual).unwrap();
    assert_eq!(
        c.tunnel_options[0].tunnel_ike_config.ike_enc_alg,
        EncAlg::Aes256
    );
    assert_eq!(
        c.tunnel_options[1].tunnel_bgp_config.peer_bgp_ip(),
        Some(Ipv4Addr::new(169, 254, 41, 2))
    );
    // Malformed structure is reported against the parameter.
    assert_eq!(
        rejected(from_params::<ConnectionInput>([("IkeConfig", "{\"Psk\":")])),
        pair("InvalidParameter.IkeConfig", "IkeConfig")
    );
    assert_eq!(
        rejected(from_params::<ConnectionInput>([(
            "TunnelOptionsSpecification.1.TunnelIkeConfig",
            "[1]"
        )])),
        pair(
            "InvalidParameter.TunnelIkeConfig",
            "TunnelOptionsSpecification.1.TunnelIkeConfig"
        )
    );
    assert_eq!(
        rejected(from_params::<ConnectionInput>([(
            "IkeConfig",
            r#"{"Psk":{"k":1}}"#
        )])),
        pair("InvalidParameter.IkeConfig", "IkeConfig")
    );
    assert_eq!(
        rejected(from_params::<ConnectionInput>([
            ("Tags.1", "x"),
            ("Tags.1.Key", "k")
        ])),
        pair("InvalidParameter.Key", "Tags.1.Key")
    );
}

#[test]
fn hostile_parameter_shapes_are_rejected_or_ignored_without_panicking() {
    let nasty: &[&[(&str, &str)]] = &[
        &[("", "x")],
        &[(".", "x")],
        &[("a..b", "x")],
        &[("TunnelOptionsSpecification", "x")],
        &[("TunnelOptionsSpecification.99999999999.Role", "master")],
        &[("TunnelOptionsSpecification.1", "x")],
        &[("TunnelOptionsSpecification.1.TunnelIkeConfig", "\"psk\"")],
        &[(
            "TunnelOptionsSpecification.1.TunnelIkeConfig.Psk.Deeper",
            "x",
        )],
        &[("Tags.1.Key", "k"), ("Tags.1", "x")],
        &[("IkeConfig", "{\"Psk\":{\"nested\":1}}")],
        &[("IkeConfig", "null")],
        &[("HealthCheckConfig", "{\"enable\":[true]}")],
        &[("LocalSubnet", "\u{0}\u{ffff}")],
    ];
    let w = World::new();
    for params in nasty {
        match from_params::<ConnectionInput>(params.iter().copied()) {
            Ok(input) => {
                // Whatever decoded must still be validated without panicking.
                let _ = w.create(&input);
            }
            Err(e) => assert_eq!(e.rule, Rule::Invalid, "{params:?}: {e:?}"),
        }
    }
}
