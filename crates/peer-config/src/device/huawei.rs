//! Huawei VRP (AR / USG): IKE peer, IPsec proposal, and a tunnel interface or an IPsec policy.

use super::{Resolved, announce, line, preamble, tunnel_banner, uses_tunnel_interface};
use crate::view::{Ident, PeerView};
use crate::{DeviceType, RenderError};
use strait_model::{IkeMode, IkeVersion};

/// VRP identity type and value lines.
fn identity(o: &mut String, side: &str, id: Ident<'_>) {
    match id {
        Ident::Ip(ip) => {
            line!(o, " {side}-id-type ip");
            if side == "remote" {
                line!(o, " remote-address {ip}");
            }
        }
        Ident::Fqdn(f) => {
            line!(o, " {side}-id-type fqdn");
            line!(o, " {side}-id {f}");
        }
    }
}

/// VRP CLI; `GigabitEthernet0/0/1` stands for the interface facing the internet.
pub(crate) fn huawei(
    v: &PeerView<'_>,
    tunnels: &[Resolved<'_, '_>],
) -> Result<String, RenderError> {
    let tunnel_if = uses_tunnel_interface(DeviceType::Huawei, v)?;
    let mut o = String::new();
    preamble(&mut o, "#", v, "Huawei VRP", "GigabitEthernet0/0/1");
    for (t, a) in tunnels {
        let (ike, ipsec, n) = (t.ike, t.ipsec, t.index);
        let v1 = ike.ike_version == IkeVersion::V1;
        tunnel_banner(&mut o, "#", t);
        line!(o, "ike proposal {}", 10 + n);
        line!(o, " encryption-algorithm {}", a.ike_enc);
        if v1 {
            line!(o, " authentication-algorithm {}", a.ike_integ);
        } else {
            // IKEv2 proposals take integrity and PRF separately; MD5 and SHA-1 integrity are truncated to 96 bits.
            let trunc = if matches!(a.ike_integ, "md5" | "sha1") {
                "-96"
            } else {
                ""
            };
            line!(o, " integrity-algorithm hmac-{}{trunc}", a.ike_integ);
            line!(o, " prf hmac-{}", a.ike_integ);
        }
        line!(o, " authentication-method pre-share");
        line!(o, " dh {}", a.ike_dh);
        line!(o, " sa duration {}", ike.ike_lifetime);
        line!(o, "ike peer strait-{n}");
        line!(o, " undo version {}", if v1 { 2 } else { 1 });
        if v1 {
            line!(
                o,
                " exchange-mode {}",
                if ike.ike_mode == IkeMode::Aggressive {
                    "aggressive"
                } else {
                    "main"
                }
            );
        }
        line!(o, " pre-shared-key cipher {}", ike.psk);
        line!(o, " ike-proposal {}", 10 + n);
        identity(&mut o, "local", t.local_id);
        identity(&mut o, "remote", t.remote_id);
        if let Ident::Fqdn(_) = t.remote_id {
            line!(o, " remote-address {}", t.remote_ip);
        }
        if t.dpd {
            line!(o, " dpd type periodic");
            line!(o, " dpd idle-time 10");
        }
        if t.nat_t {
            line!(o, " nat traversal");
        }
        line!(o, "ipsec proposal strait-{n}");
        line!(o, " encapsulation-mode tunnel");
        line!(o, " transform esp");
        if let Some(i) = a.esp_integ {
            line!(o, " esp authentication-algorithm {i}");
        }
        line!(o, " esp encryption-algorithm {}", a.esp_enc);
        let sa = |o: &mut String| {
            line!(o, " ike-peer strait-{n}");
            line!(o, " proposal strait-{n}");
            if let Some(g) = a.pfs {
                line!(o, " pfs dh-{g}");
            }
            line!(o, " sa duration time-based {}", ipsec.ipsec_lifetime);
        };
        if tunnel_if {
            line!(o, "ipsec profile strait-{n}");
            sa(&mut o);
            line!(o, "interface Tunnel0/0/{n}");
            match t.bgp {
                Some(b) => line!(o, " ip address {} {}", b.local_ip, b.cidr.netmask()),
                None => line!(o, " ip address unnumbered interface GigabitEthernet0/0/1"),
            }
            line!(o, " tunnel-protocol ipsec");
            line!(o, " source {}", t.local_ip);
            line!(o, " destination {}", t.remote_ip);
            line!(o, " ipsec profile strait-{n}");
        } else {
            line!(o, "acl number {}", 3000 + u32::from(n));
            for (i, (l, r)) in v.selector_pairs().enumerate() {
                line!(
                    o,
                    " rule {} permit ip source {} {} destination {} {}",
                    5 * (i + 1),
                    l.network(),
                    l.hostmask(),
                    r.network(),
                    r.hostmask()
                );
            }
            line!(o, "ipsec policy strait {} isakmp", 10 + n);
            line!(o, " security acl {}", 3000 + u32::from(n));
            sa(&mut o);
            line!(o, "interface GigabitEthernet0/0/1");
            line!(o, " ipsec policy strait");
        }
        if let Some(b) = t.bgp {
            line!(o, "bgp {}", b.local_asn);
            line!(o, " peer {} as-number {}", b.peer_ip, b.peer_asn);
            line!(o, " peer {} ebgp-max-hop 255", b.peer_ip);
            line!(o, " ipv4-family unicast");
            announce(&mut o, v, "  # network <prefix> <netmask>", |n| {
                format!("  network {} {}", n.network(), n.netmask())
            });
            line!(o, "  peer {} enable", b.peer_ip);
        }
    }
    Ok(o)
}
