//! CreateVpnConnection, DescribeVpnConnection(s), ModifyVpnConnectionAttribute, ModifyTunnelAttribute,
//! DeleteVpnConnection.
//!
//! Single-tunnel requests carry the tunnel as `CustomerGatewayId` plus the `IkeConfig`, `IpsecConfig`,
//! `BgpConfig` and `HealthCheckConfig` JSON strings; dual-tunnel requests as
//! `TunnelOptionsSpecification.N.*`. Both are decoded by the same functions over [`Fields`].

use super::{asn, load, load_param, paged, parse_tags, tag_filter, text};
use crate::error::ApiError;
use crate::params::Params;
use crate::server::{ChangeOp, Ctx};
use crate::views::{self, Shape};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::str::FromStr;
use strait_model::{
    AttachType, AuthAlg, BgpConfig, CustomerGateway, DhGroup, EncAlg, HealthCheckConfig,
    HealthCheckPolicy, IdKind, IkeConfig, IkeMode, IkeVersion, IpsecConfig, Role, SubnetList,
    Tunnel, VpnConnection, VpnGateway, VpnPbrRouteEntry, VpnRouteEntry,
};
use strait_store::{Document, Query, Tx};

/// Settings as a request gives them: every field optional, named as the API names it.
trait Fields {
    /// The raw value of a field, as a string.
    fn get(&self, key: &str) -> Option<String>;
    /// The field's full API name, for errors.
    fn name(&self, key: &str) -> String;

    fn parsed<T: FromStr>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::invalid(&self.name(key), format!("\"{v}\": {e}")))
            })
            .transpose()
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(
                    &self.name(key),
                    format!("\"{v}\" is not true or false"),
                )),
            })
            .transpose()
    }
}

impl Fields for Params {
    fn get(&self, key: &str) -> Option<String> {
        self.str(key).map(str::to_string)
    }
    fn name(&self, key: &str) -> String {
        self.field(key)
    }
}

/// A JSON-string parameter such as `IkeConfig`; keys match case-insensitively (the cloud's docs
/// write `HealthCheckConfig` keys in lower case).
struct JsonFields {
    param: &'static str,
    map: Map<String, Value>,
}

impl JsonFields {
    fn from(p: &Params, param: &'static str) -> Result<JsonFields, ApiError> {
        let map = match p.json::<Value>(param)? {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(ApiError::invalid(param, "must be a JSON object")),
        };
        Ok(JsonFields { param, map })
    }
}

impl Fields for JsonFields {
    fn get(&self, key: &str) -> Option<String> {
        self.map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
    }
    fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.param)
    }
}

/// Phase-1 settings: the request's fields over `base` (the defaults, or the tunnel's current ones).
fn ike_config(f: &impl Fields, base: IkeConfig) -> Result<IkeConfig, ApiError> {
    Ok(IkeConfig {
        psk: f.get("Psk").unwrap_or(base.psk),
        ike_version: f.parsed("IkeVersion")?.unwrap_or(base.ike_version),
        ike_mode: f.parsed("IkeMode")?.unwrap_or(base.ike_mode),
        ike_enc_alg: f.parsed("IkeEncAlg")?.unwrap_or(base.ike_enc_alg),
        ike_auth_alg: f.parsed("IkeAuthAlg")?.unwrap_or(base.ike_auth_alg),
        ike_pfs: f.parsed("IkePfs")?.unwrap_or(base.ike_pfs),
        ike_lifetime: f.parsed("IkeLifetime")?.unwrap_or(base.ike_lifetime),
        local_id: f
            .get("LocalId")
            .filter(|v| !v.is_empty())
            .unwrap_or(base.local_id),
        remote_id: f
            .get("RemoteId")
            .filter(|v| !v.is_empty())
            .unwrap_or(base.remote_id),
    })
}

/// Phase-2 settings over `base`.
fn ipsec_config(f: &impl Fields, base: IpsecConfig) -> Result<IpsecConfig, ApiError> {
    Ok(IpsecConfig {
        ipsec_enc_alg: f.parsed("IpsecEncAlg")?.unwrap_or(base.ipsec_enc_alg),
        ipsec_auth_alg: f.parsed("IpsecAuthAlg")?.unwrap_or(base.ipsec_auth_alg),
        ipsec_pfs: f.parsed("IpsecPfs")?.unwrap_or(base.ipsec_pfs),
        ipsec_lifetime: f.parsed("IpsecLifetime")?.unwrap_or(base.ipsec_lifetime),
    })
}

/// BGP settings over `base`; `enable` is the connection-wide `EnableTunnelsBgp` when given.
fn bgp_config(
    f: &impl Fields,
    enable: Option<bool>,
    base: BgpConfig,
) -> Result<BgpConfig, ApiError> {
    let local_asn = match f.get("LocalAsn").filter(|v| !v.is_empty()) {
        Some(v) => asn(&f.name("LocalAsn"), &v)?,
        None => base.local_asn,
    };
    Ok(BgpConfig {
        enable_bgp: enable.or(f.flag("EnableBgp")?).unwrap_or(base.enable_bgp),
        local_asn,
        tunnel_cidr: f.parsed("TunnelCidr")?.or(base.tunnel_cidr),
        local_bgp_ip: f.parsed("LocalBgpIp")?.or(base.local_bgp_ip),
    })
}

/// Health-check settings over `base`.
fn health_check(f: &JsonFields, base: HealthCheckConfig) -> Result<HealthCheckConfig, ApiError> {
    let policy = match f.get("Policy").as_deref() {
        None | Some("") => base.policy,
        Some("revoke_route") => HealthCheckPolicy::RevokeRoute,
        Some("reserve_route") => HealthCheckPolicy::ReserveRoute,
        Some(other) => {
            return Err(ApiError::invalid(
                &f.name("Policy"),
                format!("\"{other}\" is not revoke_route or reserve_route"),
            ));
        }
    };
    Ok(HealthCheckConfig {
        enable: f.flag("Enable")?.unwrap_or(base.enable),
        dip: f.parsed("Dip")?.or(base.dip),
        sip: f.parsed("Sip")?.or(base.sip),
        interval: f.parsed("Interval")?.unwrap_or(base.interval),
        retry: f.parsed("Retry")?.unwrap_or(base.retry),
        policy,
    })
}

fn random_psk() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// Where a new tunnel terminates and whom it reaches.
struct Endpoint<'a> {
    index: u8,
    gateway: &'a VpnGateway,
    customer_gateway: &'a CustomerGateway,
    dual: bool,
}

/// A new tunnel from the request's settings over the defaults of spec §2 (single-tunnel: IKEv1,
/// DPD and NAT-T off; dual-tunnel: IKEv2, DPD and NAT-T on).
#[allow(clippy::too_many_arguments)]
fn new_tunnel(
    at: &Endpoint<'_>,
    role: Option<Role>,
    dpd: Option<bool>,
    nat: Option<bool>,
    ike: &impl Fields,
    ipsec: &impl Fields,
    bgp: &impl Fields,
    bgp_enable: Option<bool>,
) -> Result<Tunnel, ApiError> {
    let (internet_ip, zone_no) = if at.index == 1 {
        (at.gateway.internet_ip, at.gateway.v_switch_id.clone())
    } else {
        match (
            at.gateway.disaster_recovery_internet_ip,
            &at.gateway.disaster_recovery_v_switch_id,
        ) {
            (Some(ip), Some(zone)) => (ip, zone.clone()),
            _ => {
                return Err(ApiError::invalid(
                    "TunnelOptionsSpecification",
                    format!(
                        "VPN gateway {} has a single zone and cannot carry a second tunnel",
                        at.gateway.vpn_gateway_id
                    ),
                ));
            }
        }
    };
    let ike_base = IkeConfig {
        psk: random_psk(),
        ike_version: if at.dual {
            IkeVersion::V2
        } else {
            IkeVersion::V1
        },
        ike_mode: IkeMode::Main,
        ike_enc_alg: EncAlg::Aes,
        ike_auth_alg: AuthAlg::Sha1,
        ike_pfs: DhGroup::Group2,
        ike_lifetime: 86400,
        local_id: internet_ip.to_string(),
        remote_id: at.customer_gateway.ip_address.to_string(),
    };
    Ok(Tunnel {
        tunnel_id: IdKind::Tunnel.new_id(),
        tunnel_index: at.index,
        role: role.unwrap_or(if at.index == 1 {
            Role::Master
        } else {
            Role::Slave
        }),
        customer_gateway_id: at.customer_gateway.customer_gateway_id.clone(),
        internet_ip,
        zone_no,
        enable_dpd: dpd.unwrap_or(at.dual),
        enable_nat_traversal: nat.unwrap_or(at.dual),
        tunnel_ike_config: ike_config(ike, ike_base)?,
        tunnel_ipsec_config: ipsec_config(ipsec, IpsecConfig::default())?,
        tunnel_bgp_config: bgp_config(bgp, bgp_enable, BgpConfig::default())?,
    })
}

fn role(p: &Params) -> Result<Option<Role>, ApiError> {
    match p.str("Role") {
        None | Some("") => Ok(None),
        Some("master") => Ok(Some(Role::Master)),
        Some("slave") => Ok(Some(Role::Slave)),
        Some(other) => Err(ApiError::invalid(
            &p.field("Role"),
            format!("\"{other}\" is not master or slave"),
        )),
    }
}

fn subnets(p: &Params, key: &str) -> Result<SubnetList, ApiError> {
    let v = p.required(key)?;
    v.parse().map_err(|e| {
        ApiError::invalid(
            key,
            format!("\"{v}\" is not a comma-separated list of IPv4 CIDR blocks: {e}"),
        )
    })
}

/// The customer gateway a tunnel names, from the caller's account.
fn customer_gateway(tx: &Tx<'_>, ctx: &Ctx<'_>, p: &Params) -> Result<CustomerGateway, ApiError> {
    let id = p.required("CustomerGatewayId")?;
    load::<CustomerGateway>(tx, ctx, id)
}

/// ASNs of the customer gateways a connection uses, for `PeerAsn`.
fn peer_asns(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    conns: &[VpnConnection],
) -> Result<HashMap<String, u32>, ApiError> {
    let mut asns = HashMap::new();
    for id in conns.iter().flat_map(VpnConnection::customer_gateway_ids) {
        if let Some(asn) = tx
            .get::<CustomerGateway>(ctx.account_id, id)?
            .and_then(|c| c.asn)
        {
            asns.insert(id.to_string(), asn);
        }
    }
    Ok(asns)
}

fn view(c: &VpnConnection, asns: &HashMap<String, u32>, shape: Shape, tags_key: &str) -> Value {
    views::vpn_connection(c, &|id| asns.get(id).copied(), shape, tags_key)
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let local_subnet = subnets(p, "LocalSubnet")?;
    let remote_subnet = subnets(p, "RemoteSubnet")?;
    let name = text(p, "Name")?.unwrap_or_default();
    let tags = parse_tags(p, "Tags")?;
    let specs = p.repeated("TunnelOptionsSpecification")?;
    let dual = !specs.is_empty();
    let effect_immediately = p.bool("EffectImmediately")?.unwrap_or(dual);
    let auto_config_route = p.bool("AutoConfigRoute")?.unwrap_or(true);
    let health = health_check(
        &JsonFields::from(p, "HealthCheckConfig")?,
        HealthCheckConfig::default(),
    )?;
    ctx.write(|tx, changes| {
        let gateway = load_param::<VpnGateway>(tx, ctx)?;
        let mut tunnel_options = Vec::new();
        if dual {
            let bgp_enable = p.bool("EnableTunnelsBgp")?;
            for (i, spec) in specs.iter().enumerate() {
                let cgw = customer_gateway(tx, ctx, spec)?;
                let at = Endpoint { index: (i + 1).min(u8::MAX as usize) as u8, gateway: &gateway, customer_gateway: &cgw, dual };
                tunnel_options.push(new_tunnel(
                    &at,
                    role(spec)?,
                    spec.bool("EnableDpd")?,
                    spec.bool("EnableNatTraversal")?,
                    &spec.nested("TunnelIkeConfig"),
                    &spec.nested("TunnelIpsecConfig"),
                    &spec.nested("TunnelBgpConfig"),
                    bgp_enable,
                )?);
            }
        } else {
            let cgw = customer_gateway(tx, ctx, p)?;
            let at = Endpoint { index: 1, gateway: &gateway, customer_gateway: &cgw, dual };
            tunnel_options.push(new_tunnel(
                &at,
                None,
                p.bool("EnableDpd")?,
                p.bool("EnableNatTraversal")?,
                &JsonFields::from(p, "IkeConfig")?,
                &JsonFields::from(p, "IpsecConfig")?,
                &JsonFields::from(p, "BgpConfig")?,
                None,
            )?);
        }
        let conn = VpnConnection {
            vpn_connection_id: IdKind::VpnConnection.new_id(),
            name,
            attach_type: AttachType::VpnGateway,
            vpn_gateway_id: Some(gateway.vpn_gateway_id.clone()),
            local_subnet,
            remote_subnet,
            effect_immediately,
            auto_config_route,
            network_type: gateway.network_type,
            vco_health_check: health,
            tunnel_options,
            create_time: tx.now_ms(),
            resource_group_id: String::new(),
            tags,
        };
        tx.insert(ctx.account_id, &conn)?;
        changes.push(VpnConnection::KIND, &conn.vpn_connection_id, ChangeOp::Created);
        Ok(json!({ "VpnConnectionId": conn.vpn_connection_id, "Name": conn.name, "CreateTime": conn.create_time }))
    })
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.read(|tx| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        let asns = peer_asns(tx, ctx, std::slice::from_ref(&conn))?;
        Ok(view(&conn, &asns, Shape::Describe, "Tags"))
    })
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mut query = Query {
        tags: tag_filter(p)?,
        ..Query::default()
    };
    if let Some(id) = p.str("VpnConnectionId").filter(|v| !v.is_empty()) {
        query.ids = Some(vec![id.to_string()]);
    }
    if let Some(id) = p.str("VpnGatewayId").filter(|v| !v.is_empty()) {
        query.fields.push(("VpnGatewayId", id.to_string()));
    }
    if let Some(id) = p.str("CustomerGatewayId").filter(|v| !v.is_empty()) {
        query.refs.push(id.to_string());
    }
    ctx.read(|tx| {
        let all = tx
            .list::<VpnConnection>(
                ctx.account_id,
                &Query {
                    page: None,
                    ..query.clone()
                },
            )?
            .items;
        let asns = peer_asns(tx, ctx, &all)?;
        paged(
            tx,
            ctx,
            query,
            "VpnConnections",
            "VpnConnection",
            |c: &VpnConnection| view(c, &asns, Shape::Describe, "Tag"),
        )
    })
}

pub(super) fn modify(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let name = text(p, "Name")?;
    let local_subnet = p
        .str("LocalSubnet")
        .map(|_| subnets(p, "LocalSubnet"))
        .transpose()?;
    let remote_subnet = p
        .str("RemoteSubnet")
        .map(|_| subnets(p, "RemoteSubnet"))
        .transpose()?;
    ctx.write(|tx, changes| {
        let mut conn = load_param::<VpnConnection>(tx, ctx)?;
        conn.name = name.unwrap_or(conn.name);
        conn.local_subnet = local_subnet.unwrap_or(conn.local_subnet);
        conn.remote_subnet = remote_subnet.unwrap_or(conn.remote_subnet);
        conn.effect_immediately = p
            .bool("EffectImmediately")?
            .unwrap_or(conn.effect_immediately);
        conn.auto_config_route = p.bool("AutoConfigRoute")?.unwrap_or(conn.auto_config_route);
        conn.vco_health_check = health_check(
            &JsonFields::from(p, "HealthCheckConfig")?,
            conn.vco_health_check,
        )?;
        let bgp_enable = p.bool("EnableTunnelsBgp")?;
        let dual = conn.is_dual_tunnel();
        for t in &mut conn.tunnel_options {
            if dual {
                t.tunnel_bgp_config.enable_bgp =
                    bgp_enable.unwrap_or(t.tunnel_bgp_config.enable_bgp);
                continue;
            }
            t.enable_dpd = p.bool("EnableDpd")?.unwrap_or(t.enable_dpd);
            t.enable_nat_traversal = p
                .bool("EnableNatTraversal")?
                .unwrap_or(t.enable_nat_traversal);
            t.tunnel_ike_config = ike_config(
                &JsonFields::from(p, "IkeConfig")?,
                t.tunnel_ike_config.clone(),
            )?;
            t.tunnel_ipsec_config = ipsec_config(
                &JsonFields::from(p, "IpsecConfig")?,
                t.tunnel_ipsec_config.clone(),
            )?;
            t.tunnel_bgp_config = bgp_config(
                &JsonFields::from(p, "BgpConfig")?,
                None,
                t.tunnel_bgp_config.clone(),
            )?;
        }
        tx.update(ctx.account_id, &conn)?;
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Modified,
        );
        let asns = peer_asns(tx, ctx, std::slice::from_ref(&conn))?;
        Ok(view(&conn, &asns, Shape::Modify, "Tags"))
    })
}

pub(super) fn modify_tunnel(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let tunnel_id = p.required("TunnelId")?;
    let spec = p.nested("TunnelOptionsSpecification");
    ctx.write(|tx, changes| {
        let mut conn = load_param::<VpnConnection>(tx, ctx)?;
        let t = conn
            .tunnel_options
            .iter_mut()
            .find(|t| t.tunnel_id == tunnel_id)
            .ok_or_else(|| ApiError::not_found("InvalidTunnelId.NotFound", "TunnelId", tunnel_id))?;
        if let Some(cgw) = spec.str("CustomerGatewayId").filter(|c| !c.is_empty() && *c != t.customer_gateway_id) {
            return Err(ApiError::invalid(
                "TunnelOptionsSpecification.CustomerGatewayId",
                format!("the customer gateway of a tunnel attached to a VPN gateway is fixed; {cgw} differs"),
            ));
        }
        t.enable_dpd = spec.bool("EnableDpd")?.unwrap_or(t.enable_dpd);
        t.enable_nat_traversal = spec.bool("EnableNatTraversal")?.unwrap_or(t.enable_nat_traversal);
        t.tunnel_ike_config = ike_config(&spec.nested("TunnelIkeConfig"), t.tunnel_ike_config.clone())?;
        t.tunnel_ipsec_config = ipsec_config(&spec.nested("TunnelIpsecConfig"), t.tunnel_ipsec_config.clone())?;
        t.tunnel_bgp_config = bgp_config(&spec.nested("TunnelBgpConfig"), None, t.tunnel_bgp_config.clone())?;
        let tunnel = t.clone();
        tx.update(ctx.account_id, &conn)?;
        changes.push(VpnConnection::KIND, &conn.vpn_connection_id, ChangeOp::Modified);
        let asns = peer_asns(tx, ctx, std::slice::from_ref(&conn))?;
        Ok(views::tunnel(&tunnel, &|id| asns.get(id).copied(), Shape::Modify))
    })
}

pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    ctx.write(|tx, changes| {
        let conn = load_param::<VpnConnection>(tx, ctx)?;
        if conn.attach_type == AttachType::TransitRouter {
            return Err(ApiError::bad_request(
                "IncorrectStatus.VpnConnection",
                "The IPsec-VPN connection is attached to a transit router; detach it first.",
            ));
        }
        for (kind, id) in tx.referrers(ctx.account_id, &conn.vpn_connection_id)? {
            match kind.as_str() {
                k if k == VpnRouteEntry::KIND => tx.delete::<VpnRouteEntry>(ctx.account_id, &id)?,
                k if k == VpnPbrRouteEntry::KIND => {
                    tx.delete::<VpnPbrRouteEntry>(ctx.account_id, &id)?
                }
                _ => {}
            }
        }
        tx.delete::<VpnConnection>(ctx.account_id, &conn.vpn_connection_id)?;
        tx.clear_observed(ctx.account_id, &conn.vpn_connection_id)?;
        changes.push(
            VpnConnection::KIND,
            &conn.vpn_connection_id,
            ChangeOp::Deleted,
        );
        Ok(json!({}))
    })
}
