//! Observed state the gateway reports back for each tunnel.

use crate::diagnosis::Diagnosis;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// How far IKE/IPsec negotiation of a tunnel got: the API's tunnel `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegotiationStatus {
    /// No IKE SA yet (or it failed).
    IkeSaNotEstablished,
    /// IKE SA up, no IPsec SA yet.
    IkeSaEstablished,
    /// IPsec SA negotiation failed.
    IpsecSaNotEstablished,
    /// IPsec SA up: traffic can flow.
    IpsecSaEstablished,
}

/// Result of a BGP session or health check: the API's `success` / `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    /// Up / answering.
    Success,
    /// Down / not answering.
    Failed,
}

/// The observed state of one tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TunnelStatus {
    /// Negotiation progress.
    pub status: NegotiationStatus,
    /// A human-readable explanation, e.g. the failure reason (may be empty).
    #[serde(default)]
    pub detail: String,
    /// BGP session state, when BGP is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_status: Option<ProbeStatus>,
    /// Health check state, when the check is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_status: Option<ProbeStatus>,
    /// Why negotiation last failed, in the API's terms (cleared once the tunnel is up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// Routes the tunnel's BGP peer announces and the gateway forwards into the tunnel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bgp_routes: Vec<BgpRoute>,
}

/// A route learned from a tunnel's BGP peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BgpRoute {
    /// The destination prefix.
    pub route_dest: Ipv4Net,
    /// The AS path, the peer's ASN first.
    pub as_path: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_stored_before_diagnoses_existed_still_load() {
        let old = r#"{"Status":"ike_sa_not_established","Detail":"peer not responding"}"#;
        let s: TunnelStatus = serde_json::from_str(old).unwrap();
        assert_eq!(s.status, NegotiationStatus::IkeSaNotEstablished);
        assert_eq!(s.diagnosis, None);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("Diagnosis").is_none(), "no diagnosis, no field");
    }
}
