//! Phase-1 and phase-2 settings of a tunnel, with the API's JSON field names and defaults.

use crate::algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion, Pfs};
use serde::{Deserialize, Serialize};

/// Phase-1 (IKE SA) settings: the API's `IkeConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IkeConfig {
    /// Pre-shared key.
    pub psk: String,
    /// IKE version.
    pub ike_version: IkeVersion,
    /// IKEv1 negotiation mode.
    pub ike_mode: IkeMode,
    /// Encryption algorithm.
    pub ike_enc_alg: EncAlg,
    /// Authentication algorithm (and PRF).
    pub ike_auth_alg: AuthAlg,
    /// DH group.
    pub ike_pfs: DhGroup,
    /// SA lifetime in seconds (0 = never expires).
    pub ike_lifetime: u32,
    /// Our identity (IPv4 address or FQDN).
    pub local_id: String,
    /// The peer's identity (IPv4 address or FQDN).
    pub remote_id: String,
}

/// Phase-2 (IPsec SA) settings: the API's `IpsecConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpsecConfig {
    /// Encryption algorithm.
    pub ipsec_enc_alg: EncAlg,
    /// Authentication algorithm.
    pub ipsec_auth_alg: AuthAlg,
    /// PFS group.
    pub ipsec_pfs: Pfs,
    /// SA lifetime in seconds (0 = never expires).
    pub ipsec_lifetime: u32,
}

impl Default for IpsecConfig {
    fn default() -> Self {
        IpsecConfig {
            ipsec_enc_alg: EncAlg::Aes,
            ipsec_auth_alg: AuthAlg::Sha1,
            ipsec_pfs: Pfs::Group2,
            ipsec_lifetime: 86400,
        }
    }
}
