//! Request values as the API receives them: every scalar kept as text until validated.

use super::{Rule, ValidationError};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

/// Accepts a JSON string, number or boolean (SDKs send all three) and keeps its text.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// Parses a JSON-string request parameter (e.g. `IkeConfig`) into its input type.
pub fn parse_json<T: DeserializeOwned>(field: &str, raw: &str) -> Result<T, ValidationError> {
    serde_json::from_str(raw).map_err(|e| {
        ValidationError::new(
            Rule::Invalid,
            field,
            format!("{field} must be a JSON object with the documented fields: {e}"),
        )
    })
}

macro_rules! input_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident),* $(,)? } $({ $($(#[$xm:meta])* $xfield:ident : $xty:ty),* $(,)? })?) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
        #[serde(rename_all = "PascalCase", default)]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(deserialize_with = "lenient")]
                pub $field: Option<String>,
            )*
            $($(
                $(#[$xm])*
                pub $xfield: $xty,
            )*)?
        }
    };
}

input_struct!(
    /// `IkeConfig` / `TunnelIkeConfig` as sent.
    IkeConfigInput {
        /// `Psk`.
        psk,
        /// `IkeVersion`.
        ike_version,
        /// `IkeMode`.
        ike_mode,
        /// `IkeEncAlg`.
        ike_enc_alg,
        /// `IkeAuthAlg`.
        ike_auth_alg,
        /// `IkePfs`.
        ike_pfs,
        /// `IkeLifetime`.
        ike_lifetime,
        /// `LocalId`.
        local_id,
        /// `RemoteId`.
        remote_id,
    }
);

input_struct!(
    /// `IpsecConfig` / `TunnelIpsecConfig` as sent.
    IpsecConfigInput {
        /// `IpsecEncAlg`.
        ipsec_enc_alg,
        /// `IpsecAuthAlg`.
        ipsec_auth_alg,
        /// `IpsecPfs`.
        ipsec_pfs,
        /// `IpsecLifetime`.
        ipsec_lifetime,
    }
);

input_struct!(
    /// `BgpConfig` / `TunnelBgpConfig` as sent.
    BgpConfigInput {
        /// `EnableBgp` (single-tunnel only; dual-tunnel uses `EnableTunnelsBgp`).
        enable_bgp,
        /// `LocalAsn`.
        local_asn,
        /// `TunnelCidr`.
        tunnel_cidr,
        /// `LocalBgpIp`.
        local_bgp_ip,
    }
);

input_struct!(
    /// `HealthCheckConfig` as sent (the API spells its keys in lower case).
    HealthCheckInput {
        /// `enable`.
        #[serde(alias = "enable")]
        enable,
        /// `dip`.
        #[serde(alias = "dip")]
        dip,
        /// `sip`.
        #[serde(alias = "sip")]
        sip,
        /// `interval`.
        #[serde(alias = "interval")]
        interval,
        /// `retry`.
        #[serde(alias = "retry")]
        retry,
        /// `Policy`.
        #[serde(alias = "policy")]
        policy,
    }
);

input_struct!(
    /// One entry of `TunnelOptionsSpecification` as sent.
    TunnelOptionsInput {
        /// `TunnelId` (modifications only).
        tunnel_id,
        /// `CustomerGatewayId`.
        customer_gateway_id,
        /// `Role`.
        role,
        /// `EnableDpd`.
        enable_dpd,
        /// `EnableNatTraversal`.
        enable_nat_traversal,
    } {
        /// `TunnelIkeConfig`.
        tunnel_ike_config: Option<IkeConfigInput>,
        /// `TunnelIpsecConfig`.
        tunnel_ipsec_config: Option<IpsecConfigInput>,
        /// `TunnelBgpConfig`.
        tunnel_bgp_config: Option<BgpConfigInput>,
    }
);

input_struct!(
    /// A tag as sent.
    TagInput {
        /// `Key`.
        key,
        /// `Value`.
        value,
    }
);

input_struct!(
    /// CreateVpnConnection / ModifyVpnConnectionAttribute parameters as sent.
    ConnectionInput {
        /// `Name`.
        name,
        /// `CustomerGatewayId` (single-tunnel).
        customer_gateway_id,
        /// `LocalSubnet`.
        local_subnet,
        /// `RemoteSubnet`.
        remote_subnet,
        /// `EffectImmediately`.
        effect_immediately,
        /// `AutoConfigRoute`.
        auto_config_route,
        /// `EnableDpd` (single-tunnel).
        enable_dpd,
        /// `EnableNatTraversal` (single-tunnel).
        enable_nat_traversal,
        /// `EnableTunnelsBgp` (dual-tunnel).
        enable_tunnels_bgp,
        /// `ResourceGroupId`.
        resource_group_id,
    } {
        /// `IkeConfig` (single-tunnel).
        ike_config: Option<IkeConfigInput>,
        /// `IpsecConfig` (single-tunnel).
        ipsec_config: Option<IpsecConfigInput>,
        /// `BgpConfig` (single-tunnel).
        bgp_config: Option<BgpConfigInput>,
        /// `HealthCheckConfig` (single-tunnel).
        health_check_config: Option<HealthCheckInput>,
        /// `TunnelOptionsSpecification` (dual-tunnel).
        tunnel_options_specification: Vec<TunnelOptionsInput>,
        /// `Tags`.
        tags: Vec<TagInput>,
    }
);

input_struct!(
    /// CreateVpnGateway / ModifyVpnGatewayAttribute parameters as sent.
    VpnGatewayInput {
        /// `Name`.
        name,
        /// `Description` (modify only).
        description,
        /// `VpcId`.
        vpc_id,
        /// `VSwitchId`: the zone of the primary address.
        #[serde(rename = "VSwitchId")]
        v_switch_id,
        /// `DisasterRecoveryVSwitchId`: the zone of the second address.
        #[serde(rename = "DisasterRecoveryVSwitchId")]
        disaster_recovery_v_switch_id,
        /// `NetworkType`.
        network_type,
        /// `ResourceGroupId`.
        resource_group_id,
    } {
        /// `Tags`.
        tags: Vec<TagInput>,
    }
);

input_struct!(
    /// CreateCustomerGateway / ModifyCustomerGatewayAttribute parameters as sent.
    CustomerGatewayInput {
        /// `Name`.
        name,
        /// `Description`.
        description,
        /// `IpAddress`.
        ip_address,
        /// `Asn`.
        asn,
        /// `AuthKey`.
        auth_key,
        /// `ResourceGroupId`.
        resource_group_id,
    } {
        /// `Tags`.
        tags: Vec<TagInput>,
    }
);

input_struct!(
    /// CreateVpnRouteEntry / CreateVpnPbrRouteEntry parameters as sent.
    RouteEntryInput {
        /// `RouteSource` (policy routes only).
        route_source,
        /// `RouteDest`.
        route_dest,
        /// `NextHop`: a connection id.
        next_hop,
        /// `Weight`.
        weight,
        /// `Priority` (policy routes only).
        priority,
        /// `PublishVpc`.
        publish_vpc,
        /// `OverlayMode`.
        overlay_mode,
        /// `Description`.
        description,
    }
);
