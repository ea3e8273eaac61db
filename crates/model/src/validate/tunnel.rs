//! Per-tunnel rules: PSK, identities, phase-1/phase-2 settings, BGP and health check.

use super::{
    BgpConfigInput, HealthCheckInput, IkeConfigInput, IpsecConfigInput, Rule, ValidationError,
    given, invalid, join, parse_bool, parse_cidr, parse_ipv4, parse_name, parse_u32_in,
};
use crate::tunnel::{BgpConfig, HealthCheckConfig, HealthCheckPolicy, IkeConfig, IpsecConfig};
use ipnet::Ipv4Net;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::net::Ipv4Addr;

/// Punctuation a PSK may contain besides letters and digits.
const PSK_SPECIALS: &str = "~`!@#$%^&*()_-+={}[]\\|;:'\",.<>/?";

/// Longest SA lifetime, in seconds.
const MAX_LIFETIME: u32 = 86400;

/// Checks a pre-shared key: 1 to 100 letters, digits and `PSK_SPECIALS`; no spaces.
pub fn validate_psk(field: &str, psk: &str) -> Result<(), ValidationError> {
    let len = psk.chars().count();
    let bad = psk
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || PSK_SPECIALS.contains(*c)));
    if !(1..=100).contains(&len) || bad.is_some() {
        let why = match bad {
            Some(' ') => "contains a space".to_string(),
            Some(c) => format!("contains {c:?}"),
            None => format!("is {len} characters long"),
        };
        return Err(invalid(
            field,
            format!(
                "{field} must be 1 to 100 characters of letters, digits and {PSK_SPECIALS} with no spaces; it {why}"
            ),
        ));
    }
    Ok(())
}

/// A fresh random 16-character pre-shared key, for when none is given.
pub fn random_psk() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .map(char::from)
        .take(16)
        .collect()
}

/// Parses an ASN: `1`..`4294967295`, or asdot `a.b` (= a × 65536 + b, both parts 0..=65535).
pub fn parse_asn(field: &str, v: &str) -> Result<u32, ValidationError> {
    let asn = match v.split_once('.') {
        Some((hi, lo)) => hi
            .parse::<u16>()
            .ok()
            .zip(lo.parse::<u16>().ok())
            .map(|(hi, lo)| u32::from(hi) << 16 | u32::from(lo)),
        None => v.parse::<u32>().ok(),
    };
    asn.filter(|n| *n != 0).ok_or_else(|| {
        invalid(
            field,
            format!("{field} must be an ASN from 1 to 4294967295, or asdot a.b with a and b from 0 to 65535; got {v:?}"),
        )
    })
}

/// Checks a BGP tunnel CIDR: a /30 inside 169.254.0.0/16, not 169.254.0.0/30..169.254.6.0/30
/// nor 169.254.169.252/30.
pub fn validate_tunnel_cidr(field: &str, v: &str) -> Result<Ipv4Net, ValidationError> {
    let net = parse_cidr(field, v)?;
    let link_local = Ipv4Net::new(Ipv4Addr::new(169, 254, 0, 0), 16).ok();
    let o = net.network().octets();
    let reserved = (o[2] <= 6 && o[3] == 0) || (o[2] == 169 && o[3] == 252);
    if net.prefix_len() != 30 || !link_local.is_some_and(|ll| ll.contains(&net)) || reserved {
        return Err(invalid(
            field,
            format!(
                "{field} must be a /30 inside 169.254.0.0/16 other than 169.254.0.0/30 to 169.254.6.0/30 \
                 and 169.254.169.252/30; got {v}"
            ),
        ));
    }
    Ok(net)
}

/// Checks a LocalId/RemoteId: 1 to 100 characters, no spaces.
fn identity(field: &str, v: &str) -> Result<String, ValidationError> {
    if v.chars().count() > 100 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            format!(
                "{field} must be an IP address or FQDN of at most 100 characters without spaces"
            ),
        ));
    }
    Ok(v.to_string())
}

/// An SA lifetime: 0..=86400 seconds.
fn lifetime(field: &str, v: &str) -> Result<u32, ValidationError> {
    parse_u32_in(field, v, 0, MAX_LIFETIME)
}

/// Applies the given phase-1 values over `base` (the defaults on create, the current
/// settings on modify). `prefix` is the object's field name (`IkeConfig`, ...).
pub(super) fn apply_ike(
    prefix: &str,
    mut ike: IkeConfig,
    input: Option<&IkeConfigInput>,
) -> Result<IkeConfig, ValidationError> {
    if let Some(i) = input {
        let f = |leaf| join(prefix, leaf);
        if let Some(psk) = given(&i.psk) {
            validate_psk(&f("Psk"), psk)?;
            ike.psk = psk.to_string();
        }
        if let Some(v) = given(&i.ike_version) {
            ike.ike_version = parse_name(&f("IkeVersion"), v)?;
        }
        if let Some(v) = given(&i.ike_mode) {
            ike.ike_mode = parse_name(&f("IkeMode"), v)?;
        }
        if let Some(v) = given(&i.ike_enc_alg) {
            ike.ike_enc_alg = parse_name(&f("IkeEncAlg"), v)?;
        }
        if let Some(v) = given(&i.ike_auth_alg) {
            ike.ike_auth_alg = parse_name(&f("IkeAuthAlg"), v)?;
        }
        if let Some(v) = given(&i.ike_pfs) {
            ike.ike_pfs = parse_name(&f("IkePfs"), v)?;
        }
        if let Some(v) = given(&i.ike_lifetime) {
            ike.ike_lifetime = lifetime(&f("IkeLifetime"), v)?;
        }
        if let Some(v) = given(&i.local_id) {
            ike.local_id = identity(&f("LocalId"), v)?;
        }
        if let Some(v) = given(&i.remote_id) {
            ike.remote_id = identity(&f("RemoteId"), v)?;
        }
    }
    if ike.psk.is_empty() {
        ike.psk = random_psk();
    }
    Ok(ike)
}

/// Applies the given phase-2 values over `base`.
pub(super) fn apply_ipsec(
    prefix: &str,
    mut ipsec: IpsecConfig,
    input: Option<&IpsecConfigInput>,
) -> Result<IpsecConfig, ValidationError> {
    if let Some(i) = input {
        let f = |leaf| join(prefix, leaf);
        if let Some(v) = given(&i.ipsec_enc_alg) {
            ipsec.ipsec_enc_alg = parse_name(&f("IpsecEncAlg"), v)?;
        }
        if let Some(v) = given(&i.ipsec_auth_alg) {
            ipsec.ipsec_auth_alg = parse_name(&f("IpsecAuthAlg"), v)?;
        }
        if let Some(v) = given(&i.ipsec_pfs) {
            ipsec.ipsec_pfs = parse_name(&f("IpsecPfs"), v)?;
        }
        if let Some(v) = given(&i.ipsec_lifetime) {
            ipsec.ipsec_lifetime = lifetime(&f("IpsecLifetime"), v)?;
        }
    }
    Ok(ipsec)
}

/// Applies the given BGP values over `base`. `enable` overrides `EnableBgp` (dual-tunnel
/// connections switch BGP with `EnableTunnelsBgp`). An enabled config needs a tunnel CIDR and a
/// local BGP IP inside it; `peer_asn` is the customer gateway's ASN, which BGP requires.
pub(super) fn apply_bgp(
    prefix: &str,
    mut bgp: BgpConfig,
    input: Option<&BgpConfigInput>,
    enable: Option<bool>,
    peer_asn: Option<u32>,
) -> Result<BgpConfig, ValidationError> {
    let f = |leaf| join(prefix, leaf);
    if let Some(i) = input {
        if let Some(v) = given(&i.enable_bgp) {
            bgp.enable_bgp = parse_bool(&f("EnableBgp"), v)?;
        }
        if let Some(v) = given(&i.local_asn) {
            bgp.local_asn = parse_asn(&f("LocalAsn"), v)?;
        }
        if let Some(v) = given(&i.tunnel_cidr) {
            bgp.tunnel_cidr = Some(validate_tunnel_cidr(&f("TunnelCidr"), v)?);
        }
        if let Some(v) = given(&i.local_bgp_ip) {
            bgp.local_bgp_ip = Some(parse_ipv4(&f("LocalBgpIp"), v)?);
        }
    }
    if let Some(e) = enable {
        bgp.enable_bgp = e;
    }
    match (bgp.tunnel_cidr, bgp.local_bgp_ip) {
        (Some(cidr), Some(ip)) if !cidr.hosts().any(|h| h == ip) => {
            return Err(invalid(
                &f("LocalBgpIp"),
                format!(
                    "{} must be a usable address inside the tunnel CIDR {cidr}; {ip} is not",
                    f("LocalBgpIp")
                ),
            ));
        }
        (None, Some(_)) => {
            return Err(ValidationError::new(
                Rule::Missing,
                &f("TunnelCidr"),
                format!("{} is required with {}", f("TunnelCidr"), f("LocalBgpIp")),
            ));
        }
        _ => {}
    }
    if bgp.enable_bgp {
        for (leaf, missing) in [
            ("TunnelCidr", bgp.tunnel_cidr.is_none()),
            ("LocalBgpIp", bgp.local_bgp_ip.is_none()),
        ] {
            if missing {
                return Err(ValidationError::new(
                    Rule::Missing,
                    &f(leaf),
                    format!("{} is required when BGP is enabled", f(leaf)),
                ));
            }
        }
        if peer_asn == Some(bgp.local_asn) {
            let field = f("LocalAsn");
            return Err(invalid(
                &field,
                format!(
                    "{field}: BGP over a tunnel is eBGP, so the local ASN must differ from the customer gateway's ASN {}",
                    bgp.local_asn
                ),
            ));
        }
        if peer_asn.is_none() {
            let field = f("EnableBgp");
            return Err(invalid(
                &field,
                format!(
                    "{field}: BGP cannot be enabled because the tunnel's customer gateway has no Asn; set one on the customer gateway first"
                ),
            ));
        }
    }
    Ok(bgp)
}

/// Applies the given health-check values over `base`; an enabled check needs `dip` and `sip`.
pub(super) fn apply_health_check(
    prefix: &str,
    mut hc: HealthCheckConfig,
    input: Option<&HealthCheckInput>,
) -> Result<HealthCheckConfig, ValidationError> {
    let f = |leaf| join(prefix, leaf);
    if let Some(i) = input {
        if let Some(v) = given(&i.enable) {
            hc.enable = parse_bool(&f("enable"), v)?;
        }
        if let Some(v) = given(&i.dip) {
            hc.dip = Some(parse_ipv4(&f("dip"), v)?);
        }
        if let Some(v) = given(&i.sip) {
            hc.sip = Some(parse_ipv4(&f("sip"), v)?);
        }
        if let Some(v) = given(&i.interval) {
            hc.interval = parse_u32_in(&f("interval"), v, 1, 60)?;
        }
        if let Some(v) = given(&i.retry) {
            hc.retry = parse_u32_in(&f("retry"), v, 1, 100)?;
        }
        if let Some(v) = given(&i.policy) {
            hc.policy = match v {
                "revoke_route" => HealthCheckPolicy::RevokeRoute,
                "reserve_route" => HealthCheckPolicy::ReserveRoute,
                _ => {
                    return Err(invalid(
                        &f("Policy"),
                        format!(
                            "{} must be revoke_route or reserve_route, not {v:?}",
                            f("Policy")
                        ),
                    ));
                }
            };
        }
    }
    if hc.enable {
        for (leaf, missing) in [("dip", hc.dip.is_none()), ("sip", hc.sip.is_none())] {
            if missing {
                return Err(ValidationError::new(
                    Rule::Missing,
                    &f(leaf),
                    format!("{} is required when the health check is enabled", f(leaf)),
                ));
            }
        }
    }
    Ok(hc)
}
