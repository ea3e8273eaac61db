//! FortiGate: interface-mode IPsec (phase1-interface / phase2-interface), FortiOS CLI.

use super::{Resolved, line, preamble, tunnel_banner};
use crate::view::{Ident, PeerView};
use strait_model::{IkeMode, IkeVersion};

/// FortiOS CLI; `wan1` stands for the interface facing the internet.
pub(crate) fn fortigate(v: &PeerView<'_>, tunnels: &[Resolved<'_, '_>]) -> String {
    let mut o = String::new();
    preamble(&mut o, "#", v, "FortiGate (FortiOS 6.4 or later)", "wan1");
    for (t, a) in tunnels {
        let (ike, ipsec, n) = (t.ike, t.ipsec, t.index);
        let name = format!("strait-{n}");
        let v1 = ike.ike_version == IkeVersion::V1;
        let prf = if ike.ike_enc_alg.is_aead() { "prf" } else { "" };
        tunnel_banner(&mut o, "#", t);
        line!(o, "config vpn ipsec phase1-interface");
        line!(o, "    edit \"{name}\"");
        line!(o, "        set interface \"wan1\"");
        line!(o, "        set ike-version {}", if v1 { 1 } else { 2 });
        if v1 {
            line!(
                o,
                "        set mode {}",
                if ike.ike_mode == IkeMode::Aggressive {
                    "aggressive"
                } else {
                    "main"
                }
            );
        }
        line!(o, "        set peertype any");
        line!(o, "        set net-device disable");
        line!(o, "        set proposal {}-{prf}{}", a.ike_enc, a.ike_integ);
        line!(o, "        set dhgrp {}", a.ike_dh);
        line!(o, "        set keylife {}", ike.ike_lifetime);
        line!(o, "        set remote-gw {}", t.remote_ip);
        if let Ident::Fqdn(f) = t.local_id {
            line!(o, "        set localid \"{f}\"");
        }
        line!(
            o,
            "        set psksecret \"{}\"",
            ike.psk.replace('\\', "\\\\").replace('"', "\\\"")
        );
        line!(
            o,
            "        set dpd {}",
            if t.dpd { "on-idle" } else { "disable" }
        );
        if t.dpd {
            line!(o, "        set dpd-retryinterval 10");
        }
        line!(
            o,
            "        set nattraversal {}",
            if t.nat_t { "enable" } else { "disable" }
        );
        line!(o, "    next");
        line!(o, "end");
        line!(o, "config vpn ipsec phase2-interface");
        for (i, (l, r)) in v.selector_pairs().enumerate() {
            line!(o, "    edit \"{name}-p2-{}\"", i + 1);
            line!(o, "        set phase1name \"{name}\"");
            match a.esp_integ {
                Some(integ) => line!(o, "        set proposal {}-{integ}", a.esp_enc),
                None => line!(o, "        set proposal {}", a.esp_enc),
            }
            match a.pfs {
                Some(g) => {
                    line!(o, "        set pfs enable");
                    line!(o, "        set dhgrp {g}");
                }
                None => line!(o, "        set pfs disable"),
            }
            line!(o, "        set keylifeseconds {}", ipsec.ipsec_lifetime);
            line!(o, "        set src-subnet {} {}", l.network(), l.netmask());
            line!(o, "        set dst-subnet {} {}", r.network(), r.netmask());
            line!(o, "        set auto-negotiate enable");
            line!(o, "    next");
        }
        line!(o, "end");
        if let Some(b) = t.bgp {
            line!(o, "config system interface");
            line!(o, "    edit \"{name}\"");
            line!(o, "        set ip {} 255.255.255.255", b.local_ip);
            line!(
                o,
                "        set remote-ip {} {}",
                b.peer_ip,
                b.cidr.netmask()
            );
            line!(o, "        set allowaccess ping");
            line!(o, "    next");
            line!(o, "end");
            line!(o, "config router bgp");
            line!(o, "    set as {}", b.local_asn);
            line!(o, "    config neighbor");
            line!(o, "        edit \"{}\"", b.peer_ip);
            line!(o, "            set remote-as {}", b.peer_asn);
            line!(o, "            set ebgp-enforce-multihop enable");
            line!(o, "        next");
            line!(o, "    end");
            let nets: Vec<_> = v.announced().collect();
            if nets.is_empty() {
                line!(
                    o,
                    "    # add a 'config network' entry for each data-center network to announce"
                );
            } else {
                line!(o, "    config network");
                for (i, net) in nets.iter().enumerate() {
                    line!(o, "        edit {}", i + 1);
                    line!(
                        o,
                        "            set prefix {} {}",
                        net.network(),
                        net.netmask()
                    );
                    line!(o, "        next");
                }
                line!(o, "    end");
            }
            line!(o, "end");
        }
    }
    o
}
