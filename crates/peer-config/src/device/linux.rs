//! strongSwan (swanctl.conf) and libreswan (ipsec.conf + ipsec.secrets).

use super::{Resolved, announce, line};
use crate::view::{Ident, PeerView, TunnelView};
use strait_model::{IkeMode, IkeVersion};

/// A section name unique per tunnel.
fn name(v: &PeerView<'_>, t: &TunnelView<'_>) -> String {
    format!("{}-{}", v.id, t.index)
}

/// A string in double quotes for strongSwan's settings parser (which drops a backslash before any character).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The BGP session as FRR `bgpd` configuration, commented out (the IPsec daemon does not run BGP).
fn frr_comment(out: &mut String, v: &PeerView<'_>, t: &TunnelView<'_>) {
    let Some(b) = t.bgp else { return };
    line!(
        out,
        "# BGP over tunnel {} (FRR bgpd.conf): give the tunnel's interface {}/{}, then",
        t.index,
        b.local_ip,
        b.cidr.prefix_len()
    );
    line!(out, "#   router bgp {}", b.local_asn);
    line!(out, "#    neighbor {} remote-as {}", b.peer_ip, b.peer_asn);
    line!(out, "#    neighbor {} ebgp-multihop 255", b.peer_ip);
    line!(out, "#    address-family ipv4 unicast");
    announce(out, v, "#     network <prefix>", |n| {
        format!("#     network {n}")
    });
    line!(out, "#    exit-address-family");
}

/// Lifetimes as (rekey after, hard limit) seconds: rekey at 90 %, so the SA never outlives the connection's setting.
fn rekey(life: u32) -> (u32, u32) {
    (life / 10 * 9, life - life / 10 * 9)
}

/// strongSwan's swanctl.conf: one connection per tunnel, loadable with `swanctl --load-all --file`.
pub(crate) fn strongswan(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> String {
    let mut o = String::new();
    line!(
        o,
        "# Strait peer configuration for {}: strongSwan swanctl.conf",
        v.id
    );
    line!(o, "# Load with: swanctl --load-all --file <this file>");
    line!(o, "connections {{");
    for (t, a) in tunnels {
        let (ike, ipsec) = (t.ike, t.ipsec);
        let v1 = ike.ike_version == IkeVersion::V1;
        line!(o, "    {} {{", name(v, t));
        line!(o, "        version = {}", if v1 { 1 } else { 2 });
        if v1 && ike.ike_mode == IkeMode::Aggressive {
            line!(o, "        aggressive = yes");
        }
        line!(o, "        local_addrs = {}", t.local_ip);
        line!(o, "        remote_addrs = {}", t.remote_ip);
        let prf = if ike.ike_enc_alg.is_aead() { "prf" } else { "" };
        line!(
            o,
            "        proposals = {}-{prf}{}-{}",
            a.ike_enc,
            a.ike_integ,
            a.ike_dh
        );
        // IKEv1 SAs are renewed by reauthentication, IKEv2 ones by rekeying.
        let key = if v1 { "reauth_time" } else { "rekey_time" };
        match rekey(ike.ike_lifetime) {
            (0, _) => line!(o, "        {key} = 0"),
            (soft, over) => {
                line!(o, "        {key} = {soft}s");
                line!(o, "        over_time = {over}s");
            }
        }
        if t.dpd {
            line!(o, "        dpd_delay = 10s");
            if v1 {
                line!(o, "        dpd_timeout = 30s");
            }
        }
        if t.nat_t {
            line!(o, "        encap = yes");
        }
        for (side, id) in [("local", t.local_id), ("remote", t.remote_id)] {
            line!(o, "        {side} {{");
            line!(o, "            auth = psk");
            line!(o, "            id = {id}");
            line!(o, "        }}");
        }
        line!(o, "        children {{");
        line!(o, "            {} {{", name(v, t));
        line!(o, "                local_ts = {}", v.local_subnets);
        line!(o, "                remote_ts = {}", v.remote_subnets);
        let esp = match (a.esp_integ, a.pfs) {
            (None, None) => a.esp_enc.to_string(),
            (None, Some(g)) => format!("{}-{g}", a.esp_enc),
            (Some(i), None) => format!("{}-{i}", a.esp_enc),
            (Some(i), Some(g)) => format!("{}-{i}-{g}", a.esp_enc),
        };
        line!(o, "                esp_proposals = {esp}");
        match rekey(ipsec.ipsec_lifetime) {
            (0, _) => line!(o, "                rekey_time = 0"),
            (soft, _) => {
                line!(o, "                rekey_time = {soft}s");
                line!(o, "                life_time = {}s", ipsec.ipsec_lifetime);
            }
        }
        if t.dpd {
            line!(o, "                dpd_action = restart");
        }
        line!(o, "                start_action = start");
        line!(o, "            }}");
        line!(o, "        }}");
        line!(o, "    }}");
    }
    line!(o, "}}");
    line!(o, "secrets {{");
    for (t, _) in tunnels {
        line!(o, "    ike-{} {{", name(v, t));
        line!(o, "        id-1 = {}", t.local_id);
        line!(o, "        id-2 = {}", t.remote_id);
        line!(o, "        secret = {}", quoted(&t.ike.psk));
        line!(o, "    }}");
    }
    line!(o, "}}");
    for (t, _) in tunnels {
        frr_comment(&mut o, v, t);
    }
    o
}

/// libreswan's identity syntax: FQDNs carry a leading `@`.
fn lsw_id(id: Ident<'_>) -> String {
    match id {
        Ident::Ip(ip) => ip.to_string(),
        Ident::Fqdn(n) => format!("@{n}"),
    }
}

/// libreswan's subnet keyword: one subnet, or several in braces.
fn lsw_subnets(side: &str, nets: &strait_model::SubnetList) -> String {
    match nets.0.as_slice() {
        [one] => format!("{side}subnet={one}"),
        many => {
            let list: Vec<String> = many.iter().map(|n| n.to_string()).collect();
            format!("{side}subnets={{{}}}", list.join(" "))
        }
    }
}

/// libreswan's ipsec.conf, then (after a marker line) the ipsec.secrets lines.
pub(crate) fn libreswan(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> String {
    let mut o = String::new();
    line!(o, "# Strait peer configuration for {}: libreswan", v.id);
    line!(o, "# ---- /etc/ipsec.d/{}.conf ----", v.id);
    for (t, a) in tunnels {
        let (ike, ipsec) = (t.ike, t.ipsec);
        let v1 = ike.ike_version == IkeVersion::V1;
        line!(o, "conn {}", name(v, t));
        line!(o, "    authby=secret");
        line!(o, "    ikev2={}", if v1 { "no" } else { "yes" });
        if v1 && ike.ike_mode == IkeMode::Aggressive {
            line!(o, "    aggressive=yes");
        }
        line!(o, "    left={}", t.local_ip);
        line!(o, "    leftid={}", lsw_id(t.local_id));
        line!(o, "    {}", lsw_subnets("left", v.local_subnets));
        line!(o, "    right={}", t.remote_ip);
        line!(o, "    rightid={}", lsw_id(t.remote_id));
        line!(o, "    {}", lsw_subnets("right", v.remote_subnets));
        line!(o, "    ike={}-{};{}", a.ike_enc, a.ike_integ, a.ike_dh);
        let integ = a.esp_integ.unwrap_or("null");
        match a.pfs {
            Some(g) => {
                line!(o, "    esp={}-{integ};{g}", a.esp_enc);
                line!(o, "    pfs=yes");
            }
            None => {
                line!(o, "    esp={}-{integ}", a.esp_enc);
                line!(o, "    pfs=no");
            }
        }
        line!(o, "    ikelifetime={}s", ike.ike_lifetime);
        line!(o, "    salifetime={}s", ipsec.ipsec_lifetime);
        if t.dpd {
            line!(o, "    dpddelay=10");
            line!(o, "    dpdtimeout={}", if v1 { 30 } else { 130 });
            line!(o, "    dpdaction=restart");
        }
        line!(
            o,
            "    encapsulation={}",
            if t.nat_t { "yes" } else { "no" }
        );
        line!(o, "    auto=start");
        line!(o, "");
    }
    for (t, _) in tunnels {
        frr_comment(&mut o, v, t);
    }
    line!(o, "# ---- /etc/ipsec.d/{}.secrets ----", v.id);
    for (t, _) in tunnels {
        // libreswan reads a quoted secret literally, up to the matching quote.
        let q = if t.ike.psk.contains('"') { '\'' } else { '"' };
        line!(
            o,
            "{} {} : PSK {q}{}{q}",
            lsw_id(t.local_id),
            lsw_id(t.remote_id),
            t.ike.psk
        );
    }
    o
}
