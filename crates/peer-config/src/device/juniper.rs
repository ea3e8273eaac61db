//! Juniper SRX: route-based VPN on st0 units, Junos `set` commands.

use super::{Resolved, line, preamble, tunnel_banner};
use crate::view::{Ident, PeerView};
use strait_model::{IkeMode, IkeVersion};

/// Junos identity syntax.
fn identity(id: Ident<'_>) -> String {
    match id {
        Ident::Ip(ip) => format!("inet {ip}"),
        Ident::Fqdn(f) => format!("hostname {f}"),
    }
}

/// Junos `set` commands; `ge-0/0/0.0` stands for the interface facing the internet.
pub(crate) fn srx(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> String {
    let mut o = String::new();
    preamble(&mut o, "#", v, "Juniper SRX", "ge-0/0/0.0");
    for (t, a) in tunnels {
        let (ike, ipsec, n) = (t.ike, t.ipsec, t.index);
        let (p, g, vpn) = (
            format!("set security ike proposal STRAIT-IKE-{n}"),
            format!("set security ike gateway STRAIT-GW-{n}"),
            format!("set security ipsec vpn STRAIT-VPN-{n}"),
        );
        tunnel_banner(&mut o, "#", t);
        line!(o, "{p} authentication-method pre-shared-keys");
        line!(o, "{p} dh-group {}", a.ike_dh);
        if !ike.ike_enc_alg.is_aead() {
            line!(o, "{p} authentication-algorithm {}", a.ike_integ);
        }
        line!(o, "{p} encryption-algorithm {}", a.ike_enc);
        line!(o, "{p} lifetime-seconds {}", ike.ike_lifetime);
        let pol = format!("set security ike policy STRAIT-IKE-POL-{n}");
        if ike.ike_version == IkeVersion::V1 {
            line!(
                o,
                "{pol} mode {}",
                if ike.ike_mode == IkeMode::Aggressive {
                    "aggressive"
                } else {
                    "main"
                }
            );
        }
        line!(o, "{pol} proposals STRAIT-IKE-{n}");
        line!(
            o,
            "{pol} pre-shared-key ascii-text \"{}\"",
            ike.psk.replace('\\', "\\\\")
        );
        line!(o, "{g} ike-policy STRAIT-IKE-POL-{n}");
        line!(o, "{g} address {}", t.remote_ip);
        line!(o, "{g} local-identity {}", identity(t.local_id));
        line!(o, "{g} remote-identity {}", identity(t.remote_id));
        line!(o, "{g} external-interface ge-0/0/0.0");
        line!(o, "{g} local-address {}", t.local_ip);
        line!(
            o,
            "{g} version {}",
            if ike.ike_version == IkeVersion::V1 {
                "v1-only"
            } else {
                "v2-only"
            }
        );
        if t.dpd {
            line!(o, "{g} dead-peer-detection interval 10 threshold 3");
        }
        if !t.nat_t {
            line!(o, "{g} no-nat-traversal");
        }
        let ip = format!("set security ipsec proposal STRAIT-IPSEC-{n}");
        line!(o, "{ip} protocol esp");
        if let Some(i) = a.esp_integ {
            line!(o, "{ip} authentication-algorithm {i}");
        }
        line!(o, "{ip} encryption-algorithm {}", a.esp_enc);
        line!(o, "{ip} lifetime-seconds {}", ipsec.ipsec_lifetime);
        let ipol = format!("set security ipsec policy STRAIT-IPSEC-POL-{n}");
        if let Some(grp) = a.pfs {
            line!(o, "{ipol} perfect-forward-secrecy keys {grp}");
        }
        line!(o, "{ipol} proposals STRAIT-IPSEC-{n}");
        line!(o, "{vpn} bind-interface st0.{n}");
        line!(o, "{vpn} ike gateway STRAIT-GW-{n}");
        line!(o, "{vpn} ike ipsec-policy STRAIT-IPSEC-POL-{n}");
        if !v.route_based() {
            for (i, (l, r)) in v.selector_pairs().enumerate() {
                line!(
                    o,
                    "{vpn} traffic-selector TS{} local-ip {l} remote-ip {r}",
                    i + 1
                );
            }
        }
        line!(o, "{vpn} establish-tunnels immediately");
        match t.bgp {
            Some(b) => line!(
                o,
                "set interfaces st0 unit {n} family inet address {}/{}",
                b.local_ip,
                b.cidr.prefix_len()
            ),
            None => line!(o, "set interfaces st0 unit {n} family inet"),
        }
        line!(o, "set security zones security-zone vpn interfaces st0.{n}");
        if let Some(b) = t.bgp {
            let grp = format!("set protocols bgp group STRAIT-{n}");
            line!(o, "set routing-options autonomous-system {}", b.local_asn);
            line!(o, "{grp} type external");
            line!(o, "{grp} multihop ttl 255");
            line!(o, "{grp} neighbor {} peer-as {}", b.peer_ip, b.peer_asn);
            let nets: Vec<_> = v.announced().collect();
            if nets.is_empty() {
                line!(
                    o,
                    "# add an export policy announcing each data-center network to group STRAIT-{n}"
                );
            } else {
                line!(o, "{grp} export STRAIT-EXPORT");
                for net in nets {
                    line!(
                        o,
                        "set policy-options policy-statement STRAIT-EXPORT term nets from route-filter {net} exact"
                    );
                }
                line!(
                    o,
                    "set policy-options policy-statement STRAIT-EXPORT term nets then accept"
                );
            }
            line!(
                o,
                "set security zones security-zone vpn host-inbound-traffic protocols bgp"
            );
        }
    }
    o
}
