//! Every device's spelling of every algorithm, in one table, and the check that a tunnel fits a device.

use crate::view::TunnelView;
use crate::{DeviceType, RenderError};
use strait_model::{AuthAlg, DhGroup, EncAlg, IkeVersion};

use DeviceType::*;

/// Which negotiation an algorithm is used in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// IKE SA (phase 1).
    Ike,
    /// IPsec SA (phase 2).
    Esp,
}

/// A tunnel's algorithms in one device's spelling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Algos {
    /// Phase-1 encryption.
    pub ike_enc: &'static str,
    /// Phase-1 integrity (and PRF).
    pub ike_integ: &'static str,
    /// Phase-1 DH group.
    pub ike_dh: &'static str,
    /// Phase-2 encryption.
    pub esp_enc: &'static str,
    /// Phase-2 integrity; None with an AEAD cipher.
    pub esp_integ: Option<&'static str>,
    /// Phase-2 PFS group; None when PFS is disabled.
    pub pfs: Option<&'static str>,
}

/// Why a device cannot take an SA lifetime of `s` seconds (0 = never expires), if it cannot.
fn lifetime_misfit(dev: DeviceType, s: u32) -> Option<String> {
    let min = match dev {
        StrongSwan => 0,
        // pluto has no never-expiring SA.
        Libreswan => 1,
        CiscoAsa | CiscoIos | Fortigate => 120,
        JuniperSrx | PaloAlto => 180,
        Huawei => 60,
    };
    if s < min {
        Some(format!("{s} s (minimum {min} s)"))
    } else if dev == PaloAlto && s > 65535 && s % 3600 != 0 {
        Some(format!("{s} s (above 65535 s PAN-OS takes whole hours)"))
    } else {
        None
    }
}

fn enc(dev: DeviceType, v: IkeVersion, phase: Phase, a: EncAlg) -> Option<&'static str> {
    use EncAlg::*;
    let v1 = v == IkeVersion::V1;
    // No device here negotiates an AEAD IKE SA over IKEv1.
    if a.is_aead() && v1 && phase == Phase::Ike {
        return None;
    }
    // Names that differ between a Cisco transform set (ESP) and an IKE policy.
    let esp = |transform, policy| {
        if phase == Phase::Esp {
            transform
        } else {
            policy
        }
    };
    let asa_esp = |transform, policy| if v1 { esp(transform, policy) } else { policy };
    Some(match (dev, a) {
        (StrongSwan, Aes) => "aes128",
        (StrongSwan, Aes192) => "aes192",
        (StrongSwan, Aes256) => "aes256",
        (StrongSwan, Des) => "des",
        (StrongSwan, TripleDes) => "3des",
        (StrongSwan, Aes128Gcm16) => "aes128gcm16",
        (StrongSwan, Aes256Gcm16) => "aes256gcm16",
        // libreswan 4 dropped single DES.
        (Libreswan, Aes) => "aes128",
        (Libreswan, Aes192) => "aes192",
        (Libreswan, Aes256) => "aes256",
        (Libreswan, TripleDes) => "3des",
        (Libreswan, Aes128Gcm16) => "aes_gcm128",
        (Libreswan, Aes256Gcm16) => "aes_gcm256",
        // ASA 9.15 and later have no DES; IKEv1 transform sets have no GCM.
        (CiscoAsa, Aes128Gcm16 | Aes256Gcm16) if v1 => return None,
        (CiscoAsa, Aes) => asa_esp("esp-aes", "aes"),
        (CiscoAsa, Aes192) => asa_esp("esp-aes-192", "aes-192"),
        (CiscoAsa, Aes256) => asa_esp("esp-aes-256", "aes-256"),
        (CiscoAsa, TripleDes) => asa_esp("esp-3des", "3des"),
        (CiscoAsa, Aes128Gcm16) => "aes-gcm",
        (CiscoAsa, Aes256Gcm16) => "aes-gcm-256",
        (CiscoIos, Aes) => match (phase, v1) {
            (Phase::Esp, _) => "esp-aes",
            (_, true) => "aes",
            _ => "aes-cbc-128",
        },
        (CiscoIos, Aes192) => match (phase, v1) {
            (Phase::Esp, _) => "esp-aes 192",
            (_, true) => "aes 192",
            _ => "aes-cbc-192",
        },
        (CiscoIos, Aes256) => match (phase, v1) {
            (Phase::Esp, _) => "esp-aes 256",
            (_, true) => "aes 256",
            _ => "aes-cbc-256",
        },
        (CiscoIos, Des) => esp("esp-des", "des"),
        (CiscoIos, TripleDes) => esp("esp-3des", "3des"),
        (CiscoIos, Aes128Gcm16) => esp("esp-gcm 128", "aes-gcm-128"),
        (CiscoIos, Aes256Gcm16) => esp("esp-gcm 256", "aes-gcm-256"),
        (JuniperSrx | PaloAlto, Aes) => "aes-128-cbc",
        (JuniperSrx | PaloAlto, Aes192) => "aes-192-cbc",
        (JuniperSrx | PaloAlto, Aes256) => "aes-256-cbc",
        (JuniperSrx, Des) => "des-cbc",
        (JuniperSrx, TripleDes) => "3des-cbc",
        (PaloAlto, Des) => "des",
        (PaloAlto, TripleDes) => "3des",
        (JuniperSrx | PaloAlto, Aes128Gcm16) => "aes-128-gcm",
        (JuniperSrx | PaloAlto, Aes256Gcm16) => "aes-256-gcm",
        (Fortigate, Aes) => "aes128",
        (Fortigate, Aes192) => "aes192",
        (Fortigate, Aes256) => "aes256",
        (Fortigate, Des) => "des",
        (Fortigate, TripleDes) => "3des",
        (Fortigate, Aes128Gcm16) => "aes128gcm",
        (Fortigate, Aes256Gcm16) => "aes256gcm",
        // Huawei's VRP IPsec has no GCM.
        (Huawei, Aes) => "aes-128",
        (Huawei, Aes192) => "aes-192",
        (Huawei, Aes256) => "aes-256",
        (Huawei, Des) => "des",
        (Huawei, TripleDes) => "3des",
        (Libreswan | CiscoAsa, Des) | (Huawei, Aes128Gcm16 | Aes256Gcm16) => return None,
    })
}

fn plain(a: AuthAlg) -> &'static str {
    match a {
        AuthAlg::Md5 => "md5",
        AuthAlg::Sha1 => "sha1",
        AuthAlg::Sha256 => "sha256",
        AuthAlg::Sha384 => "sha384",
        AuthAlg::Sha512 => "sha512",
    }
}

fn integ(dev: DeviceType, v: IkeVersion, phase: Phase, a: AuthAlg) -> Option<&'static str> {
    use AuthAlg::*;
    let v1 = v == IkeVersion::V1;
    Some(match (dev, phase, a) {
        (StrongSwan | Fortigate | PaloAlto, _, _) => plain(a),
        (CiscoIos, Phase::Ike, _) if !v1 => plain(a),
        // IOS's IKEv1 policy spells SHA-1 "sha".
        (CiscoIos, Phase::Ike, _) => match a {
            Md5 => "md5",
            Sha1 => "sha",
            Sha256 => "sha256",
            Sha384 => "sha384",
            Sha512 => "sha512",
        },
        (Libreswan, _, _) => match a {
            Md5 => "md5",
            Sha1 => "sha1",
            Sha256 => "sha2_256",
            Sha384 => "sha2_384",
            Sha512 => "sha2_512",
        },
        // ASA 9.15 and later have no MD5; its IKEv1 policy hashes only with SHA-1.
        (CiscoAsa, _, Md5) => return None,
        (CiscoAsa, Phase::Ike, Sha1) => "sha",
        (CiscoAsa, Phase::Ike, _) if v1 => return None,
        (CiscoAsa, Phase::Ike, Sha256) => "sha256",
        (CiscoAsa, Phase::Ike, Sha384) => "sha384",
        (CiscoAsa, Phase::Ike, Sha512) => "sha512",
        (CiscoAsa, Phase::Esp, _) if !v1 => match a {
            Sha1 => "sha-1",
            Sha256 => "sha-256",
            Sha384 => "sha-384",
            _ => "sha-512",
        },
        (CiscoAsa | CiscoIos, Phase::Esp, _) => match a {
            Md5 => "esp-md5-hmac",
            Sha1 => "esp-sha-hmac",
            Sha256 => "esp-sha256-hmac",
            Sha384 => "esp-sha384-hmac",
            Sha512 => "esp-sha512-hmac",
        },
        (JuniperSrx, Phase::Ike, _) => match a {
            Md5 => "md5",
            Sha1 => "sha1",
            Sha256 => "sha-256",
            Sha384 => "sha-384",
            Sha512 => "sha-512",
        },
        (JuniperSrx, Phase::Esp, _) => match a {
            Md5 => "hmac-md5-96",
            Sha1 => "hmac-sha1-96",
            Sha256 => "hmac-sha-256-128",
            Sha384 => "hmac-sha-384-192",
            Sha512 => "hmac-sha-512-256",
        },
        (Huawei, _, _) => match a {
            Md5 => "md5",
            Sha1 => "sha1",
            Sha256 => "sha2-256",
            Sha384 => "sha2-384",
            Sha512 => "sha2-512",
        },
    })
}

fn dh(dev: DeviceType, v: IkeVersion, phase: Phase, g: DhGroup) -> Option<&'static str> {
    use DhGroup::*;
    let v1 = v == IkeVersion::V1;
    Some(match (dev, g) {
        (StrongSwan, _) => match g {
            Group1 => "modp768",
            Group2 => "modp1024",
            Group5 => "modp1536",
            Group14 => "modp2048",
            Group19 => "ecp256",
            Group31 => "curve25519",
        },
        // libreswan 4 dropped MODP-768 and MODP-1024, and offers no ECP/Curve25519 PFS over IKEv1.
        (Libreswan, Group1 | Group2) => return None,
        (Libreswan, Group19 | Group31) if v1 && phase == Phase::Esp => return None,
        (Libreswan, Group5) => "modp1536",
        (Libreswan, Group14) => "modp2048",
        (Libreswan, Group19) => "dh19",
        (Libreswan, Group31) => "dh31",
        // ASA 9.15 and later removed groups 1, 2 and 5; IKEv1 there offers only the MODP groups.
        (CiscoAsa, Group1 | Group2 | Group5) => return None,
        (CiscoAsa, Group19 | Group31) if v1 => return None,
        (CiscoIos | Fortigate, Group1) => "1",
        (CiscoIos | Fortigate, Group2) => "2",
        (CiscoIos | Fortigate, Group5) => "5",
        (CiscoAsa | CiscoIos | Fortigate, Group14) => "14",
        (CiscoAsa | CiscoIos | Fortigate, Group19) => "19",
        (CiscoAsa | Fortigate, Group31) => "31",
        // IOS, SRX, PAN-OS and VRP have no Curve25519.
        (CiscoIos | JuniperSrx | PaloAlto | Huawei, Group31) => return None,
        (JuniperSrx | PaloAlto | Huawei, _) => match g {
            Group1 => "group1",
            Group2 => "group2",
            Group5 => "group5",
            Group14 => "group14",
            _ => "group19",
        },
    })
}

/// Resolves a tunnel's algorithms for a device, or says exactly what the device cannot express.
pub(crate) fn algos(dev: DeviceType, t: &TunnelView<'_>) -> Result<Algos, RenderError> {
    let (ike, ipsec) = (t.ike, t.ipsec);
    let v = ike.ike_version;
    let no = |what: String| RenderError::Unsupported {
        device: dev,
        tunnel: t.index,
        what,
    };
    // Pasted into a vendor CLI, '?' asks for help instead of becoming part of the key.
    if !matches!(dev, StrongSwan | Libreswan) && ike.psk.contains('?') {
        return Err(no(
            "pre-shared key containing '?' (the CLI reads it as a help request)".into(),
        ));
    }
    for (what, life) in [
        ("IKE SA lifetime", ike.ike_lifetime),
        ("IPsec SA lifetime", ipsec.ipsec_lifetime),
    ] {
        if let Some(why) = lifetime_misfit(dev, life) {
            return Err(no(format!("{what} {why}")));
        }
    }
    let esp_integ = if ipsec.ipsec_enc_alg.is_aead() {
        None
    } else {
        Some(
            integ(dev, v, Phase::Esp, ipsec.ipsec_auth_alg)
                .ok_or_else(|| no(format!("{v} IPsec authentication {}", ipsec.ipsec_auth_alg)))?,
        )
    };
    let pfs = match ipsec.ipsec_pfs.group() {
        None => None,
        Some(g) => Some(dh(dev, v, Phase::Esp, g).ok_or_else(|| no(format!("{v} IPsec PFS {g}")))?),
    };
    Ok(Algos {
        ike_enc: enc(dev, v, Phase::Ike, ike.ike_enc_alg)
            .ok_or_else(|| no(format!("{v} IKE encryption {}", ike.ike_enc_alg)))?,
        ike_integ: integ(dev, v, Phase::Ike, ike.ike_auth_alg)
            .ok_or_else(|| no(format!("{v} IKE authentication {}", ike.ike_auth_alg)))?,
        ike_dh: dh(dev, v, Phase::Ike, ike.ike_pfs)
            .ok_or_else(|| no(format!("{v} IKE DH {}", ike.ike_pfs)))?,
        esp_enc: enc(dev, v, Phase::Esp, ipsec.ipsec_enc_alg)
            .ok_or_else(|| no(format!("{v} IPsec encryption {}", ipsec.ipsec_enc_alg)))?,
        esp_integ,
        pfs,
    })
}
