//! Palo Alto Networks: route-based VPN on tunnel interfaces, PAN-OS `set` commands.

use super::{Resolved, line, preamble, tunnel_banner};
use crate::view::{Ident, PeerView};
use strait_model::{IkeMode, IkeVersion};

/// A lifetime in PAN-OS form: seconds up to 65535, whole hours above (checked in `names`).
fn lifetime(s: u32) -> String {
    if s > 65535 {
        format!("hours {}", s / 3600)
    } else {
        format!("seconds {s}")
    }
}

/// PAN-OS identity syntax.
fn identity(id: Ident<'_>) -> String {
    match id {
        Ident::Ip(ip) => format!("id {ip} type ipaddr"),
        Ident::Fqdn(f) => format!("id {f} type fqdn"),
    }
}

/// PAN-OS `set` commands; `ethernet1/1` stands for the interface facing the internet.
pub(crate) fn paloalto(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> String {
    let mut o = String::new();
    preamble(
        &mut o,
        "#",
        v,
        "Palo Alto Networks (PAN-OS 10 or later)",
        "ethernet1/1",
    );
    for (t, a) in tunnels {
        let (ike, ipsec, n) = (t.ike, t.ipsec, t.index);
        let v1 = ike.ike_version == IkeVersion::V1;
        let ikep = format!("set network ike crypto-profiles ike-crypto-profiles STRAIT-IKE-{n}");
        let ipp = format!("set network ike crypto-profiles ipsec-crypto-profiles STRAIT-IPSEC-{n}");
        let gw = format!("set network ike gateway STRAIT-GW-{n}");
        let tun = format!("set network tunnel ipsec STRAIT-{n}");
        tunnel_banner(&mut o, "#", t);
        line!(o, "{ikep} encryption {}", a.ike_enc);
        line!(o, "{ikep} hash {}", a.ike_integ);
        line!(o, "{ikep} dh-group {}", a.ike_dh);
        line!(o, "{ikep} lifetime {}", lifetime(ike.ike_lifetime));
        line!(o, "{ipp} esp encryption {}", a.esp_enc);
        line!(
            o,
            "{ipp} esp authentication {}",
            a.esp_integ.unwrap_or("none")
        );
        line!(o, "{ipp} dh-group {}", a.pfs.unwrap_or("no-pfs"));
        line!(o, "{ipp} lifetime {}", lifetime(ipsec.ipsec_lifetime));
        line!(o, "{gw} authentication pre-shared-key key \"{}\"", ike.psk);
        line!(
            o,
            "{gw} local-address interface ethernet1/1 ip {}/32",
            t.local_ip
        );
        line!(o, "{gw} peer-address ip {}", t.remote_ip);
        line!(o, "{gw} local-id {}", identity(t.local_id));
        line!(o, "{gw} peer-id {}", identity(t.remote_id));
        let ver = if v1 { "ikev1" } else { "ikev2" };
        line!(o, "{gw} protocol version {ver}");
        line!(o, "{gw} protocol {ver} ike-crypto-profile STRAIT-IKE-{n}");
        if v1 {
            line!(
                o,
                "{gw} protocol ikev1 exchange-mode {}",
                if ike.ike_mode == IkeMode::Aggressive {
                    "aggressive"
                } else {
                    "main"
                }
            );
        }
        line!(
            o,
            "{gw} protocol {ver} dpd enable {}",
            if t.dpd { "yes" } else { "no" }
        );
        line!(
            o,
            "{gw} protocol-common nat-traversal enable {}",
            if t.nat_t { "yes" } else { "no" }
        );
        match t.bgp {
            Some(b) => line!(
                o,
                "set network interface tunnel units tunnel.{n} ip {}/{}",
                b.local_ip,
                b.cidr.prefix_len()
            ),
            None => line!(o, "set network interface tunnel units tunnel.{n}"),
        }
        line!(o, "set network virtual-router default interface tunnel.{n}");
        line!(o, "{tun} tunnel-interface tunnel.{n}");
        line!(o, "{tun} auto-key ike-gateway STRAIT-GW-{n}");
        line!(o, "{tun} auto-key ipsec-crypto-profile STRAIT-IPSEC-{n}");
        if !v.route_based() {
            for (i, (l, r)) in v.selector_pairs().enumerate() {
                line!(
                    o,
                    "{tun} auto-key proxy-id PID{} local {l} remote {r} protocol any",
                    i + 1
                );
            }
        }
        if let Some(b) = t.bgp {
            let bgp = "set network virtual-router default protocol bgp";
            let peer = format!("{bgp} peer-group STRAIT-{n} peer STRAIT-PEER-{n}");
            line!(o, "{bgp} enable yes");
            line!(o, "{bgp} router-id {}", t.local_ip);
            line!(o, "{bgp} local-as {}", b.local_asn);
            line!(o, "{peer} peer-as {}", b.peer_asn);
            line!(o, "{peer} peer-address ip {}", b.peer_ip);
            line!(
                o,
                "{peer} local-address interface tunnel.{n} ip {}/{}",
                b.local_ip,
                b.cidr.prefix_len()
            );
            line!(o, "{peer} connection-options multihop 255");
            let nets: Vec<String> = v.announced().map(|n| n.to_string()).collect();
            if !nets.is_empty() {
                let redist = format!(
                    "set network virtual-router default protocol redist-profile STRAIT-NETS-{n}"
                );
                line!(o, "{redist} filter destination [ {} ]", nets.join(" "));
                line!(o, "{redist} priority 1");
                line!(o, "{redist} action redist");
                line!(
                    o,
                    "{bgp} redist-rules STRAIT-NETS-{n} address-family-identifier ipv4 enable yes"
                );
            }
        }
    }
    o
}
