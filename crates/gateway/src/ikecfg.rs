//! Maps a [`TunnelSpec`] (the API's names) onto the IKE cores' configurations.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use ipnet::Ipv4Net;
use strait_crypto::{DhGroup as Group, Encr, Integ, Prf};
use strait_ike::v1;
use strait_ike::v2::{Config, Dpd, EspProposal, Identity, IkeProposal, Ipv4Prefix, Retransmit};
use strait_model::{AuthAlg, DhGroup, EncAlg, IkeMode, Pfs};

use crate::TunnelSpec;

/// Port of IKE before any NAT-T float.
pub const IKE_PORT: u16 = 500;

/// The IKE core's configuration for a tunnel.
pub fn ike_config(spec: &TunnelSpec) -> Config {
    let t = &spec.timing;
    let ike_lifetime = lifetime(spec.ike.ike_lifetime);
    let child_lifetime = lifetime(spec.ipsec.ipsec_lifetime);
    // Rekey a tenth of the lifetime early (at most 9 minutes, strongSwan's margin), minus up to a
    // third of that margin at random so both sides do not rekey at the same instant.
    let shortest = [ike_lifetime, child_lifetime]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Duration::from_secs(86400));
    let rekey_margin = (shortest / 10).min(Duration::from_secs(540));
    let mut cfg = Config::new(
        SocketAddrV4::new(spec.local_ip, IKE_PORT),
        SocketAddrV4::new(spec.peer_ip, IKE_PORT),
        spec.ike.psk.as_bytes(),
    );
    cfg.local_id = identity(&spec.ike.local_id, spec.local_ip);
    cfg.remote_id = identity(&spec.ike.remote_id, spec.peer_ip);
    let encr = encr(spec.ike.ike_enc_alg);
    cfg.ike_proposals = vec![IkeProposal {
        encr,
        integ: (!encr.is_aead()).then(|| integ(spec.ike.ike_auth_alg)),
        prf: prf(spec.ike.ike_auth_alg),
        dh: group(spec.ike.ike_pfs),
    }];
    let esp = self::encr(spec.ipsec.ipsec_enc_alg);
    cfg.esp_proposals = vec![EspProposal {
        encr: esp,
        integ: (!esp.is_aead()).then(|| integ(spec.ipsec.ipsec_auth_alg)),
        pfs: pfs(spec.ipsec.ipsec_pfs),
    }];
    cfg.local_ts = spec.local_subnet.iter().map(prefix).collect();
    cfg.remote_ts = spec.remote_subnet.iter().map(prefix).collect();
    cfg.ike_lifetime = ike_lifetime;
    cfg.child_lifetime = child_lifetime;
    cfg.dpd = spec.enable_dpd.then_some(Dpd {
        interval: t.dpd_interval,
        timeout: t.dpd_timeout,
    });
    cfg.nat_traversal = spec.enable_nat_traversal;
    cfg.retransmit = Retransmit {
        base: t.retransmit_base,
        factor: 1.8,
        tries: t.retransmit_tries,
    };
    cfg.rekey_margin = rekey_margin;
    cfg.rekey_jitter = t.rekey_jitter.unwrap_or(rekey_margin / 3);
    // The runner re-initiates itself, with backoff.
    cfg.reinitiate_after = None;
    cfg
}

/// The IKEv1 core's configuration: the same peering, one CIDR pair per quick mode, and the mode.
pub fn v1_config(spec: &TunnelSpec) -> v1::Config {
    let mut peering = ike_config(spec);
    peering.local_ts.truncate(1);
    peering.remote_ts.truncate(1);
    v1::Config {
        peering,
        aggressive: spec.ike.ike_mode == IkeMode::Aggressive,
    }
}

fn lifetime(secs: u32) -> Option<Duration> {
    (secs != 0).then(|| Duration::from_secs(secs.into()))
}

/// LocalId/RemoteId: an IPv4 address, an FQDN, or empty for the gateway's address.
fn identity(id: &str, default: Ipv4Addr) -> Identity {
    match id.trim() {
        "" => Identity::Ipv4(default),
        s => s
            .parse()
            .map_or_else(|_| Identity::Fqdn(s.to_owned()), Identity::Ipv4),
    }
}

fn prefix(net: &Ipv4Net) -> Ipv4Prefix {
    Ipv4Prefix::new(net.network(), net.prefix_len())
}

fn encr(e: EncAlg) -> Encr {
    match e {
        EncAlg::Aes => Encr::AesCbc128,
        EncAlg::Aes192 => Encr::AesCbc192,
        EncAlg::Aes256 => Encr::AesCbc256,
        EncAlg::Des => Encr::DesCbc,
        EncAlg::TripleDes => Encr::TripleDesCbc,
        EncAlg::Aes128Gcm16 => Encr::AesGcm16_128,
        EncAlg::Aes256Gcm16 => Encr::AesGcm16_256,
    }
}

fn integ(a: AuthAlg) -> Integ {
    match a {
        AuthAlg::Md5 => Integ::HmacMd5_96,
        AuthAlg::Sha1 => Integ::HmacSha1_96,
        AuthAlg::Sha256 => Integ::HmacSha256_128,
        AuthAlg::Sha384 => Integ::HmacSha384_192,
        AuthAlg::Sha512 => Integ::HmacSha512_256,
    }
}

fn prf(a: AuthAlg) -> Prf {
    match a {
        AuthAlg::Md5 => Prf::HmacMd5,
        AuthAlg::Sha1 => Prf::HmacSha1,
        AuthAlg::Sha256 => Prf::HmacSha256,
        AuthAlg::Sha384 => Prf::HmacSha384,
        AuthAlg::Sha512 => Prf::HmacSha512,
    }
}

fn group(g: DhGroup) -> Group {
    match g {
        DhGroup::Group1 => Group::Modp768,
        DhGroup::Group2 => Group::Modp1024,
        DhGroup::Group5 => Group::Modp1536,
        DhGroup::Group14 => Group::Modp2048,
        DhGroup::Group19 => Group::Ecp256,
        DhGroup::Group31 => Group::Curve25519,
    }
}

fn pfs(p: Pfs) -> Option<Group> {
    p.group().map(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Timing, parse_subnets};
    use strait_model::{IkeConfig, IkeMode, IkeVersion, IpsecConfig};

    fn spec() -> TunnelSpec {
        TunnelSpec {
            id: "t".into(),
            connection: String::new(),
            standby_of: None,
            local_ip: Ipv4Addr::new(198, 51, 100, 1),
            peer_ip: Ipv4Addr::new(192, 0, 2, 1),
            ike: IkeConfig {
                psk: "k".into(),
                ike_version: IkeVersion::V2,
                ike_mode: IkeMode::Main,
                ike_enc_alg: EncAlg::Aes256,
                ike_auth_alg: AuthAlg::Sha256,
                ike_pfs: DhGroup::Group14,
                ike_lifetime: 30,
                local_id: String::new(),
                remote_id: "peer.example.com".into(),
            },
            ipsec: IpsecConfig {
                ipsec_pfs: Pfs::Disabled,
                ipsec_lifetime: 0,
                ..IpsecConfig::default()
            },
            local_subnet: parse_subnets("LocalSubnet", "10.1.0.0/24,10.2.0.0/24").unwrap(),
            remote_subnet: parse_subnets("RemoteSubnet", "0.0.0.0/0").unwrap(),
            routes: vec![],
            enable_dpd: true,
            enable_nat_traversal: false,
            effect_immediately: true,
            timing: Timing::default(),
            bgp: None,
            health: None,
            forward_inbound: true,
        }
    }

    #[test]
    fn api_names_map_to_transforms_ids_and_timers() {
        let c = ike_config(&spec());
        assert_eq!(
            c.local_id,
            Identity::Ipv4(Ipv4Addr::new(198, 51, 100, 1)),
            "empty LocalId = gateway IP"
        );
        assert_eq!(c.remote_id, Identity::Fqdn("peer.example.com".into()));
        assert_eq!(
            c.ike_proposals,
            vec![IkeProposal {
                encr: Encr::AesCbc256,
                integ: Some(Integ::HmacSha256_128),
                prf: Prf::HmacSha256,
                dh: Group::Modp2048
            }]
        );
        assert_eq!(
            c.esp_proposals,
            vec![EspProposal {
                encr: Encr::AesCbc128,
                integ: Some(Integ::HmacSha1_96),
                pfs: None
            }]
        );
        assert_eq!(
            c.local_ts,
            vec![
                Ipv4Prefix::new(Ipv4Addr::new(10, 1, 0, 0), 24),
                Ipv4Prefix::new(Ipv4Addr::new(10, 2, 0, 0), 24)
            ]
        );
        assert_eq!(c.remote_ts, vec![Ipv4Prefix::any()]);
        assert_eq!(
            (c.ike_lifetime, c.child_lifetime),
            (Some(Duration::from_secs(30)), None),
            "0 = never expires"
        );
        assert_eq!(
            c.rekey_margin,
            Duration::from_secs(3),
            "a 30 s SA rekeys 3 s early"
        );
        assert_eq!(
            c.dpd,
            Some(Dpd {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(130)
            })
        );
        assert!(!c.nat_traversal);
        assert_eq!(c.reinitiate_after, None);
    }

    #[test]
    fn ikev1_takes_the_mode_and_one_cidr_pair() {
        let mut s = spec();
        s.ike.ike_version = IkeVersion::V1;
        s.ike.ike_mode = IkeMode::Aggressive;
        let c = v1_config(&s);
        assert!(c.aggressive);
        assert_eq!(
            c.peering.local_ts,
            vec![Ipv4Prefix::new(Ipv4Addr::new(10, 1, 0, 0), 24)]
        );
        assert_eq!(c.peering.remote_ts, vec![Ipv4Prefix::any()]);
        assert_eq!(
            c.peering.remote_id,
            Identity::Fqdn("peer.example.com".into())
        );
        s.ike.ike_mode = IkeMode::Main;
        assert!(!v1_config(&s).aggressive);
    }

    #[test]
    fn aead_drops_integrity_but_keeps_the_prf() {
        let mut s = spec();
        s.ike.ike_enc_alg = EncAlg::Aes128Gcm16;
        s.ike.ike_pfs = DhGroup::Group19;
        s.ipsec.ipsec_enc_alg = EncAlg::Aes128Gcm16;
        s.ipsec.ipsec_pfs = Pfs::Group31;
        let c = ike_config(&s);
        assert_eq!(c.ike_proposals[0].integ, None);
        assert_eq!(c.ike_proposals[0].prf, Prf::HmacSha256);
        assert_eq!(c.ike_proposals[0].dh, Group::Ecp256);
        assert_eq!(
            c.esp_proposals[0],
            EspProposal {
                encr: Encr::AesGcm16_128,
                integ: None,
                pfs: Some(Group::Curve25519)
            }
        );
    }
}
