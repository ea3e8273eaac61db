//! Request values as the API receives them: every scalar kept as text until validated.

use super::{Rule, ValidationError};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};

/// Accepts a JSON string, number or boolean (SDKs send all three) and keeps its text.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        Some(Value::Array(_) | Value::Object(_)) => {
            return Err(D::Error::custom("expected a string, number or boolean"));
        }
    })
}

/// Accepts a nested settings object either as an object (flattened parameters) or as a
/// JSON-string parameter (`IkeConfig={"Psk":...}`), as the SDKs send both.
fn json_text<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let value = match Value::deserialize(d)? {
        Value::Null => return Ok(None),
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => serde_json::from_str(&s).map_err(D::Error::custom)?,
        other => other,
    };
    if !value.is_object() {
        return Err(D::Error::custom("expected a JSON object of settings"));
    }
    T::deserialize(value).map(Some).map_err(D::Error::custom)
}

/// Decodes a request's flat parameters into an input type: dotted keys nest
/// (`TunnelOptionsSpecification.1.TunnelIkeConfig.Psk`), numbered segments become lists in
/// index order, and settings objects may also come as JSON strings (`IkeConfig={...}`).
pub fn from_params<'a, T: DeserializeOwned>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<T, ValidationError> {
    let mut root = Map::new();
    for (key, value) in params {
        insert(&mut root, key, value)?;
    }
    serde_path_to_error::deserialize(numbered_to_lists(Value::Object(root))).map_err(|e| {
        let field = api_path(&e.path().to_string());
        ValidationError::new(
            Rule::Invalid,
            &field,
            format!("{field} is malformed: {}", e.inner()),
        )
    })
}

/// Puts `value` at the dotted `key` inside `root`.
fn insert(root: &mut Map<String, Value>, key: &str, value: &str) -> Result<(), ValidationError> {
    let clash = || {
        ValidationError::new(
            Rule::Invalid,
            key,
            format!("{key} is given both as a value and as a group of fields"),
        )
    };
    let (parents, leaf) = key
        .rsplit_once('.')
        .map_or((None, key), |(p, l)| (Some(p), l));
    let mut node = root;
    for segment in parents.into_iter().flat_map(|p| p.split('.')) {
        let child = node
            .entry(segment)
            .or_insert_with(|| Value::Object(Map::new()));
        node = child.as_object_mut().ok_or_else(clash)?;
    }
    if node.get(leaf).is_some_and(Value::is_object) {
        return Err(clash());
    }
    node.insert(leaf.to_string(), Value::String(value.to_string()));
    Ok(())
}

/// Turns objects whose keys are all numbers (`{"1": .., "2": ..}`) into lists in index order.
fn numbered_to_lists(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let numbered = !map.is_empty() && map.keys().all(|k| k.parse::<u32>().is_ok());
            let mut entries: Vec<(String, Value)> = map
                .into_iter()
                .map(|(k, v)| (k, numbered_to_lists(v)))
                .collect();
            if numbered {
                entries.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
                Value::Array(entries.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(entries.into_iter().collect())
            }
        }
        other => other,
    }
}

/// `Tunnels[0].Psk` (serde's path) as the API spells it: `Tunnels.1.Psk`.
fn api_path(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('[') {
        out.push_str(before);
        let (index, tail) = after.split_once(']').unwrap_or((after, ""));
        match index.parse::<u32>() {
            Ok(i) => out.push_str(&format!(".{}", i.saturating_add(1))),
            Err(_) => out.push_str(index),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Parses a JSON-string request parameter (e.g. `IkeConfig`) into its input type.
pub fn parse_json<T: DeserializeOwned>(field: &str, raw: &str) -> Result<T, ValidationError> {
    let bad = |e: &dyn std::fmt::Display| {
        ValidationError::new(
            Rule::Invalid,
            field,
            format!("{field} must be a JSON object with the documented fields: {e}"),
        )
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(v) if v.is_object() => T::deserialize(v).map_err(|e| bad(&e)),
        Ok(_) => Err(bad(&"got another JSON value")),
        Err(e) => Err(bad(&e)),
    }
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
        #[serde(deserialize_with = "json_text")]
        tunnel_ike_config: Option<IkeConfigInput>,
        /// `TunnelIpsecConfig`.
        #[serde(deserialize_with = "json_text")]
        tunnel_ipsec_config: Option<IpsecConfigInput>,
        /// `TunnelBgpConfig`.
        #[serde(deserialize_with = "json_text")]
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
        /// `NetworkType` (connections attached to nothing; others follow their gateway).
        network_type,
        /// `ResourceGroupId`.
        resource_group_id,
    } {
        /// `IkeConfig` (single-tunnel).
        #[serde(deserialize_with = "json_text")]
        ike_config: Option<IkeConfigInput>,
        /// `IpsecConfig` (single-tunnel).
        #[serde(deserialize_with = "json_text")]
        ipsec_config: Option<IpsecConfigInput>,
        /// `BgpConfig` (single-tunnel).
        #[serde(deserialize_with = "json_text")]
        bgp_config: Option<BgpConfigInput>,
        /// `HealthCheckConfig` (single-tunnel).
        #[serde(deserialize_with = "json_text")]
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
