//! Cisco ASA (9.15+, the form of seed 003) and Cisco IOS / IOS XE.

use super::{Resolved, announce, line, preamble, tunnel_banner, uses_tunnel_interface};
use crate::view::{Ident, PeerView, TunnelView};
use crate::{DeviceType, RenderError};
use strait_model::{IkeMode, IkeVersion};

/// The BGP session of a tunnel, in the address-family form both ASA and IOS accept.
fn bgp(o: &mut String, v: &PeerView<'_>, t: &TunnelView<'_>) {
    let Some(b) = t.bgp else { return };
    line!(o, "router bgp {}", b.local_asn);
    line!(o, " address-family ipv4 unicast");
    line!(o, "  neighbor {} remote-as {}", b.peer_ip, b.peer_asn);
    line!(o, "  neighbor {} ebgp-multihop 255", b.peer_ip);
    line!(o, "  neighbor {} activate", b.peer_ip);
    announce(o, v, "  ! network <prefix> mask <netmask>", |n| {
        format!("  network {} mask {}", n.network(), n.netmask())
    });
    line!(o, " exit-address-family");
}

/// The tunnel interface's address line: the BGP address, or a note that the operator picks one.
fn tunnel_address(o: &mut String, t: &TunnelView<'_>, unnumbered: &str) {
    match t.bgp {
        Some(b) => line!(o, " ip address {} {}", b.local_ip, b.cidr.netmask()),
        None => line!(o, " {unnumbered}"),
    }
}

/// Cisco ASA CLI; `outside` stands for the interface facing the internet.
pub(crate) fn asa(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> Result<String, RenderError> {
    let vti = uses_tunnel_interface(DeviceType::CiscoAsa, v)?;
    let mut o = String::new();
    preamble(&mut o, "!", v, "Cisco ASA 9.15 or later", "outside");
    for (t, a) in tunnels {
        let (ike, ipsec, n) = (t.ike, t.ipsec, t.index);
        let v1 = ike.ike_version == IkeVersion::V1;
        let aggressive = v1 && ike.ike_mode == IkeMode::Aggressive;
        if aggressive && vti {
            return Err(RenderError::Unsupported {
                device: DeviceType::CiscoAsa,
                tunnel: n,
                what: "IKEv1 aggressive mode on a tunnel interface (ASA offers it only with crypto maps)".into(),
            });
        }
        tunnel_banner(&mut o, "!", t);
        let set_proposal = if v1 {
            line!(o, "crypto ikev1 enable outside");
            line!(o, "crypto ikev1 policy {}", 10 + n);
            line!(o, " authentication pre-share");
            line!(o, " encryption {}", a.ike_enc);
            line!(o, " hash {}", a.ike_integ);
            line!(o, " group {}", a.ike_dh);
            line!(o, " lifetime {}", ike.ike_lifetime);
            line!(
                o,
                "crypto ipsec ikev1 transform-set STRAIT-TS-{n} {} {}",
                a.esp_enc,
                a.esp_integ.unwrap_or("esp-none")
            );
            format!("set ikev1 transform-set STRAIT-TS-{n}")
        } else {
            line!(o, "crypto ikev2 enable outside");
            line!(o, "crypto ikev2 policy {}", 10 + n);
            line!(o, " encryption {}", a.ike_enc);
            line!(
                o,
                " integrity {}",
                if ike.ike_enc_alg.is_aead() {
                    "null"
                } else {
                    a.ike_integ
                }
            );
            line!(o, " group {}", a.ike_dh);
            line!(o, " prf {}", a.ike_integ);
            line!(o, " lifetime seconds {}", ike.ike_lifetime);
            line!(o, "crypto ipsec ikev2 ipsec-proposal STRAIT-PROPOSAL-{n}");
            line!(o, " protocol esp encryption {}", a.esp_enc);
            line!(
                o,
                " protocol esp integrity {}",
                a.esp_integ.unwrap_or("null")
            );
            format!("set ikev2 ipsec-proposal STRAIT-PROPOSAL-{n}")
        };
        let identity = match t.local_id {
            Ident::Ip(_) => "address",
            Ident::Fqdn(_) => "hostname",
        };
        let sa = |o: &mut String, prefix: &str| {
            if let Some(g) = a.pfs {
                line!(o, "{prefix}set pfs group{g}");
            }
            line!(
                o,
                "{prefix}set security-association lifetime seconds {}",
                ipsec.ipsec_lifetime
            );
            line!(
                o,
                "{prefix}set security-association lifetime kilobytes unlimited"
            );
        };
        if vti {
            line!(o, "crypto ipsec profile STRAIT-PROFILE-{n}");
            line!(o, " {set_proposal}");
            if !v1 {
                line!(o, " set ikev2 local-identity {identity}");
            }
            sa(&mut o, " ");
        } else {
            line!(o, "crypto isakmp identity {identity}");
            let pairs: Vec<_> = v.selector_pairs().collect();
            for (l, r) in &pairs {
                line!(
                    o,
                    "access-list STRAIT-ACL-{n} extended permit ip {} {} {} {}",
                    l.network(),
                    l.netmask(),
                    r.network(),
                    r.netmask()
                );
            }
            let entry = format!("crypto map STRAIT-MAP {}", 10 + n);
            line!(o, "{entry} match address STRAIT-ACL-{n}");
            line!(o, "{entry} set peer {}", t.remote_ip);
            line!(o, "{entry} {set_proposal}");
            if aggressive {
                line!(o, "{entry} set phase1-mode aggressive");
            }
            sa(&mut o, &format!("{entry} "));
            line!(o, "crypto map STRAIT-MAP interface outside");
        }
        if v1 && t.nat_t {
            line!(o, "crypto isakmp nat-traversal 20");
        }
        line!(o, "tunnel-group {} type ipsec-l2l", t.remote_ip);
        line!(o, "tunnel-group {} ipsec-attributes", t.remote_ip);
        if v1 {
            line!(o, " ikev1 pre-shared-key {}", ike.psk);
        } else {
            line!(o, " ikev2 remote-authentication pre-shared-key {}", ike.psk);
            line!(o, " ikev2 local-authentication pre-shared-key {}", ike.psk);
        }
        if t.dpd {
            line!(o, " isakmp keepalive threshold 10 retry 3");
        } else {
            line!(o, " isakmp keepalive disable");
        }
        if vti {
            line!(o, "interface Tunnel{n}");
            line!(o, " nameif STRAIT{n}");
            tunnel_address(
                &mut o,
                t,
                "! give this interface an address and route the networks behind Strait into it",
            );
            line!(o, " tunnel source interface outside");
            line!(o, " tunnel destination {}", t.remote_ip);
            line!(o, " tunnel mode ipsec ipv4");
            line!(o, " tunnel protection ipsec profile STRAIT-PROFILE-{n}");
            line!(o, " no shutdown");
        }
        bgp(&mut o, v, t);
    }
    Ok(o)
}

/// Cisco IOS / IOS XE CLI; `GigabitEthernet1` stands for the interface facing the internet.
pub(crate) fn ios(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> Result<String, RenderError> {
    let vti = uses_tunnel_interface(DeviceType::CiscoIos, v)?;
    let mut o = String::new();
    preamble(&mut o, "!", v, "Cisco IOS / IOS XE", "GigabitEthernet1");
    for (t, a) in tunnels {
        let (ike, ipsec, n) = (t.ike, t.ipsec, t.index);
        let v1 = ike.ike_version == IkeVersion::V1;
        tunnel_banner(&mut o, "!", t);
        if v1 {
            line!(o, "crypto isakmp policy {}", 10 + n);
            line!(o, " encryption {}", a.ike_enc);
            line!(o, " hash {}", a.ike_integ);
            line!(o, " authentication pre-share");
            line!(o, " group {}", a.ike_dh);
            line!(o, " lifetime {}", ike.ike_lifetime);
            line!(
                o,
                "crypto isakmp identity {}",
                match t.local_id {
                    Ident::Ip(_) => "address",
                    Ident::Fqdn(_) => "hostname",
                }
            );
            if ike.ike_mode == IkeMode::Aggressive {
                line!(o, "crypto isakmp peer address {}", t.remote_ip);
                line!(o, " set aggressive-mode password {}", ike.psk);
                line!(
                    o,
                    " set aggressive-mode client-endpoint ipv4-address {}",
                    t.local_ip
                );
            } else {
                line!(o, "crypto isakmp key {} address {}", ike.psk, t.remote_ip);
            }
            if t.dpd {
                line!(o, "crypto isakmp keepalive 10 3 periodic");
            }
            if !t.nat_t {
                line!(o, "no crypto ipsec nat-transparency udp-encapsulation");
            }
        } else {
            line!(o, "crypto ikev2 proposal STRAIT-PROP-{n}");
            line!(o, " encryption {}", a.ike_enc);
            line!(
                o,
                " {} {}",
                if ike.ike_enc_alg.is_aead() {
                    "prf"
                } else {
                    "integrity"
                },
                a.ike_integ
            );
            line!(o, " group {}", a.ike_dh);
            line!(o, "crypto ikev2 policy STRAIT-POL-{n}");
            line!(o, " match address local {}", t.local_ip);
            line!(o, " proposal STRAIT-PROP-{n}");
            line!(o, "crypto ikev2 keyring STRAIT-KEYS-{n}");
            line!(o, " peer STRAIT-{n}");
            line!(o, "  address {}", t.remote_ip);
            line!(o, "  pre-shared-key {}", ike.psk);
            line!(o, "crypto ikev2 profile STRAIT-PROFILE-{n}");
            match t.remote_id {
                Ident::Ip(ip) => line!(o, " match identity remote address {ip} 255.255.255.255"),
                Ident::Fqdn(f) => line!(o, " match identity remote fqdn {f}"),
            }
            match t.local_id {
                Ident::Ip(ip) => line!(o, " identity local address {ip}"),
                Ident::Fqdn(f) => line!(o, " identity local fqdn {f}"),
            }
            line!(o, " authentication remote pre-share");
            line!(o, " authentication local pre-share");
            line!(o, " keyring local STRAIT-KEYS-{n}");
            line!(o, " lifetime {}", ike.ike_lifetime);
            if t.dpd {
                line!(o, " dpd 10 3 periodic");
            }
            if !t.nat_t {
                line!(o, "no crypto ipsec nat-transparency udp-encapsulation");
            }
        }
        line!(
            o,
            "crypto ipsec transform-set STRAIT-TS-{n} {}{}",
            a.esp_enc,
            a.esp_integ.map(|i| format!(" {i}")).unwrap_or_default()
        );
        line!(o, " mode tunnel");
        let sa = |o: &mut String| {
            line!(o, " set transform-set STRAIT-TS-{n}");
            if let Some(g) = a.pfs {
                line!(o, " set pfs group{g}");
            }
            line!(
                o,
                " set security-association lifetime seconds {}",
                ipsec.ipsec_lifetime
            );
            if !v1 {
                line!(o, " set ikev2-profile STRAIT-PROFILE-{n}");
            }
        };
        if vti {
            line!(o, "crypto ipsec profile STRAIT-IPSEC-{n}");
            sa(&mut o);
            line!(o, "interface Tunnel{n}");
            tunnel_address(&mut o, t, "ip unnumbered GigabitEthernet1");
            line!(o, " tunnel source {}", t.local_ip);
            line!(o, " tunnel mode ipsec ipv4");
            line!(o, " tunnel destination {}", t.remote_ip);
            line!(o, " tunnel protection ipsec profile STRAIT-IPSEC-{n}");
        } else {
            line!(o, "ip access-list extended STRAIT-ACL-{n}");
            for (l, r) in v.selector_pairs() {
                line!(
                    o,
                    " permit ip {} {} {} {}",
                    l.network(),
                    l.hostmask(),
                    r.network(),
                    r.hostmask()
                );
            }
            line!(o, "crypto map STRAIT-MAP {} ipsec-isakmp", 10 + n);
            line!(o, " set peer {}", t.remote_ip);
            sa(&mut o);
            line!(o, " match address STRAIT-ACL-{n}");
            line!(o, "interface GigabitEthernet1");
            line!(o, " crypto map STRAIT-MAP");
        }
        bgp(&mut o, v, t);
    }
    Ok(o)
}
