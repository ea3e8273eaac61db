//! Why a tunnel failed to negotiate, in terms of the API's own fields: what DiagnoseVpnConnections
//! reports and DescribeVpnConnection(s) summarise as `StatusDetail`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a negotiation failure: the API's `FailedReasonCode`.
///
/// | Code | Meaning |
/// |---|---|
/// | `IKE_NO_PROPOSAL_CHOSEN` | phase 1: no IkeEncAlg / IkeAuthAlg / IkePfs combination both sides accept |
/// | `IPSEC_NO_PROPOSAL_CHOSEN` | phase 2: no IpsecEncAlg / IpsecAuthAlg / IpsecPfs combination both sides accept |
/// | `DH_GROUP_MISMATCH` | phase 1: the peer insists on another DH group than IkePfs |
/// | `PSK_MISMATCH` | phase 1: the pre-shared keys differ (AUTHENTICATION_FAILED) |
/// | `ID_MISMATCH` | phase 1: the peer's identity is not RemoteId |
/// | `TRAFFIC_SELECTORS_MISMATCH` | phase 2: LocalSubnet/RemoteSubnet do not match the peer's protected networks |
/// | `PEER_NOT_RESPONDING` | the peer never answered (unreachable, UDP 500/4500 filtered, or not configured) |
/// | `DEAD_PEER` | an established peer stopped answering dead peer detection |
/// | `PROTOCOL_ERROR` | the peer sent something IKE does not allow (often an incompatible implementation) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureCode {
    /// Phase 1 proposals do not overlap.
    IkeNoProposalChosen,
    /// Phase 2 proposals do not overlap.
    IpsecNoProposalChosen,
    /// The peer requires a phase-1 DH group we do not use.
    DhGroupMismatch,
    /// The pre-shared keys differ.
    PskMismatch,
    /// The peer's identity is not the configured RemoteId.
    IdMismatch,
    /// The protected networks do not match.
    TrafficSelectorsMismatch,
    /// The peer does not answer at all.
    PeerNotResponding,
    /// Dead peer detection declared the peer gone.
    DeadPeer,
    /// The peer broke the protocol.
    ProtocolError,
}

impl FailureCode {
    /// The API spelling, e.g. `IKE_NO_PROPOSAL_CHOSEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::IkeNoProposalChosen => "IKE_NO_PROPOSAL_CHOSEN",
            FailureCode::IpsecNoProposalChosen => "IPSEC_NO_PROPOSAL_CHOSEN",
            FailureCode::DhGroupMismatch => "DH_GROUP_MISMATCH",
            FailureCode::PskMismatch => "PSK_MISMATCH",
            FailureCode::IdMismatch => "ID_MISMATCH",
            FailureCode::TrafficSelectorsMismatch => "TRAFFIC_SELECTORS_MISMATCH",
            FailureCode::PeerNotResponding => "PEER_NOT_RESPONDING",
            FailureCode::DeadPeer => "DEAD_PEER",
            FailureCode::ProtocolError => "PROTOCOL_ERROR",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgently a failure needs attention: the API's `Severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// The tunnel cannot come up until someone fixes a setting.
    Critical,
    /// Something went wrong that may pass on its own.
    Warn,
    /// Informational.
    Normal,
}

impl Severity {
    /// The API spelling (`Critical`, `Warn`, `Normal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "Critical",
            Severity::Warn => "Warn",
            Severity::Normal => "Normal",
        }
    }
}

/// A tunnel setting, named as the API names its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunnelParam {
    /// Phase-1 encryption algorithm.
    IkeEncAlg,
    /// Phase-1 authentication algorithm (integrity and PRF).
    IkeAuthAlg,
    /// Phase-1 DH group.
    IkePfs,
    /// Phase-2 encryption algorithm.
    IpsecEncAlg,
    /// Phase-2 authentication algorithm.
    IpsecAuthAlg,
    /// Phase-2 PFS group.
    IpsecPfs,
    /// Pre-shared key.
    Psk,
    /// Our identity.
    LocalId,
    /// The peer's expected identity.
    RemoteId,
    /// Our protected networks.
    LocalSubnet,
    /// The peer's protected networks.
    RemoteSubnet,
}

impl TunnelParam {
    /// The API field name, e.g. `IkeEncAlg`.
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelParam::IkeEncAlg => "IkeEncAlg",
            TunnelParam::IkeAuthAlg => "IkeAuthAlg",
            TunnelParam::IkePfs => "IkePfs",
            TunnelParam::IpsecEncAlg => "IpsecEncAlg",
            TunnelParam::IpsecAuthAlg => "IpsecAuthAlg",
            TunnelParam::IpsecPfs => "IpsecPfs",
            TunnelParam::Psk => "Psk",
            TunnelParam::LocalId => "LocalId",
            TunnelParam::RemoteId => "RemoteId",
            TunnelParam::LocalSubnet => "LocalSubnet",
            TunnelParam::RemoteSubnet => "RemoteSubnet",
        }
    }
}

impl fmt::Display for TunnelParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One setting that does not match the peer: ours and, when the peer revealed it, the peer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParamMismatch {
    /// Which setting.
    pub param: TunnelParam,
    /// Our value (None for secrets such as the pre-shared key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// The peer's value, when it is known (we saw the peer's proposal or identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl ParamMismatch {
    /// `IkeEncAlg=aes256`: the setting and our value (the name alone when the value is secret).
    pub fn local_text(&self) -> String {
        side_text(self.param, self.local.as_deref())
    }

    /// `IkeEncAlg=aes128`: the setting and the peer's value, or "" when unknown.
    pub fn remote_text(&self) -> String {
        self.remote
            .as_deref()
            .map_or_else(String::new, |v| side_text(self.param, Some(v)))
    }
}

fn side_text(param: TunnelParam, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{param}={v}"),
        None => param.to_string(),
    }
}

/// A negotiation failure explained in the API's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Diagnosis {
    /// What kind of failure.
    pub code: FailureCode,
    /// The settings that do not match the peer (several when we cannot tell which one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<ParamMismatch>,
    /// How urgent.
    pub severity: Severity,
    /// When it failed, ms since the epoch.
    pub failed_time: i64,
    /// One line in a network engineer's words, e.g. "phase 1 failed: pre-shared key mismatch ...".
    pub summary: String,
    /// The gateway's log line that recorded the failure.
    pub source_log: String,
}

impl Diagnosis {
    /// Our side of every mismatch, comma-separated: the API's `MismatchLocalParam`.
    pub fn mismatch_local(&self) -> String {
        self.join(ParamMismatch::local_text)
    }

    /// The peer's side of every mismatch where known, comma-separated: `MismatchRemoteParam`.
    pub fn mismatch_remote(&self) -> String {
        self.join(ParamMismatch::remote_text)
    }

    fn join(&self, side: fn(&ParamMismatch) -> String) -> String {
        self.mismatches
            .iter()
            .map(side)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc_mismatch() -> Diagnosis {
        Diagnosis {
            code: FailureCode::IkeNoProposalChosen,
            mismatches: vec![ParamMismatch {
                param: TunnelParam::IkeEncAlg,
                local: Some("aes256".into()),
                remote: Some("aes128".into()),
            }],
            severity: Severity::Critical,
            failed_time: 1_700_000_000_000,
            summary: "phase 1 failed: no proposal chosen".into(),
            source_log: "negotiation failed".into(),
        }
    }

    #[test]
    fn serialises_with_the_api_spellings_and_round_trips() {
        let d = enc_mismatch();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["Code"], "IKE_NO_PROPOSAL_CHOSEN");
        assert_eq!(json["Severity"], "Critical");
        assert_eq!(json["Mismatches"][0]["Param"], "IkeEncAlg");
        assert_eq!(json["FailedTime"], 1_700_000_000_000i64);
        let back: Diagnosis = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
        assert_eq!(
            serde_json::to_value(FailureCode::TrafficSelectorsMismatch).unwrap(),
            FailureCode::TrafficSelectorsMismatch.as_str()
        );
    }

    #[test]
    fn mismatch_texts_name_the_setting_and_hide_secrets() {
        let mut d = enc_mismatch();
        assert_eq!(d.mismatch_local(), "IkeEncAlg=aes256");
        assert_eq!(d.mismatch_remote(), "IkeEncAlg=aes128");
        d.mismatches = vec![
            ParamMismatch {
                param: TunnelParam::Psk,
                local: None,
                remote: None,
            },
            ParamMismatch {
                param: TunnelParam::IkePfs,
                local: Some("group2".into()),
                remote: None,
            },
        ];
        assert_eq!(d.mismatch_local(), "Psk, IkePfs=group2");
        assert_eq!(d.mismatch_remote(), "", "unknown peer values stay empty");
    }
}
