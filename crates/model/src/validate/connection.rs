//! Connection rules: modes and their defaults, traffic selectors, tunnels, BGP across tunnels
//! and gateways, what may change per association, and when deletion is refused.

use super::tunnel::{apply_bgp, apply_health_check, apply_ike, apply_ipsec};
use super::{
    ConnectionInput, Rule, TunnelOptionsInput, ValidationError, free_text, given, invalid, join,
    opt_bool, parse_cidr, required, validate_tags,
};
use crate::algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion};
use crate::id::IdKind;
use crate::resource::{AttachType, CustomerGateway, SubnetList, VpnConnection, VpnGateway};
use crate::tunnel::{BgpConfig, HealthCheckConfig, IkeConfig, IpsecConfig, Role, Tunnel};
use std::net::Ipv4Addr;

/// What validating a connection needs besides the request.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionContext<'a> {
    /// The VPN gateway the connection is (or will be) attached to; `None` for a connection attached
    /// to nothing or to a transit router (its tunnels take their addresses when it attaches).
    pub gateway: Option<&'a VpnGateway>,
    /// The account's customer gateways (at least those the request and connection name).
    pub customer_gateways: &'a [CustomerGateway],
    /// The connections already on the gateway (the one being modified may be among them).
    pub gateway_connections: &'a [VpnConnection],
    /// Now, ms since the epoch (the new connection's CreateTime).
    pub now_ms: i64,
}

impl ConnectionContext<'_> {
    fn customer_gateway(&self, field: &str, id: &str) -> Result<&CustomerGateway, ValidationError> {
        self.customer_gateways
            .iter()
            .find(|c| c.customer_gateway_id == id)
            .ok_or_else(|| {
                ValidationError::new(
                    Rule::NotFound,
                    field,
                    format!("{field}: customer gateway {id} does not exist"),
                )
            })
    }
}

/// A part of a connection whose changeability depends on what the connection is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionField {
    /// `Name`.
    Name,
    /// The customer gateway(s).
    CustomerGateway,
    /// The VPN gateway or transit router (and zone) attached to.
    Attachment,
    /// Public or private.
    NetworkType,
    /// Destination routing vs protected data flows (`LocalSubnet` / `RemoteSubnet`).
    RoutingMode,
    /// `EffectImmediately`.
    EffectImmediately,
    /// The pre-shared key.
    Psk,
    /// IKE, IPsec, BGP, DPD, NAT-T, health check and route settings.
    Advanced,
}

/// Whether `field` of a connection attached as `attach` may change (spec §3).
pub fn modifiable(attach: AttachType, dual_tunnel: bool, field: ConnectionField) -> bool {
    use ConnectionField as F;
    match attach {
        AttachType::VpnGateway => !matches!(field, F::Attachment | F::CustomerGateway),
        AttachType::TransitRouter => match field {
            F::Attachment | F::NetworkType => false,
            F::RoutingMode | F::EffectImmediately => true,
            F::Name | F::CustomerGateway | F::Psk | F::Advanced => !dual_tunnel,
        },
        AttachType::None => !matches!(field, F::CustomerGateway | F::NetworkType),
    }
}

/// Refuses to delete a connection still attached to a transit router.
pub fn check_delete_connection(conn: &VpnConnection) -> Result<(), ValidationError> {
    if conn.attach_type == AttachType::TransitRouter {
        return Err(ValidationError::in_use(
            "VpnConnectionId",
            "TransitRouter",
            format!(
                "VpnConnectionId: {} is attached to a transit router; detach it first",
                conn.vpn_connection_id
            ),
        ));
    }
    Ok(())
}

/// Refuses a cross-account authorization unless the connection is attached to nothing.
pub fn check_grant_authorization(conn: &VpnConnection) -> Result<(), ValidationError> {
    if conn.attach_type != AttachType::None {
        return Err(ValidationError::new(
            Rule::NotModifiable,
            "InstanceId",
            format!(
                "InstanceId: {} is attached ({:?}); only a connection attached to nothing can be authorized to another account",
                conn.vpn_connection_id, conn.attach_type
            ),
        ));
    }
    Ok(())
}

/// The field names of one tunnel's settings as the request spells them.
struct TunnelFields {
    prefix: String,
    ike: String,
    ipsec: String,
    bgp: String,
}

impl TunnelFields {
    /// Single-tunnel connections: top-level `CustomerGatewayId`, `IkeConfig`, ...
    fn single() -> TunnelFields {
        TunnelFields {
            prefix: String::new(),
            ike: "IkeConfig".into(),
            ipsec: "IpsecConfig".into(),
            bgp: "BgpConfig".into(),
        }
    }

    /// Tunnel options under `prefix` (`TunnelOptionsSpecification.1`, ...).
    fn options(prefix: String) -> TunnelFields {
        TunnelFields {
            ike: join(&prefix, "TunnelIkeConfig"),
            ipsec: join(&prefix, "TunnelIpsecConfig"),
            bgp: join(&prefix, "TunnelBgpConfig"),
            prefix,
        }
    }

    fn field(&self, leaf: &str) -> String {
        join(&self.prefix, leaf)
    }
}

/// The request's single-tunnel settings seen as one tunnel's options.
fn single_tunnel_view(input: &ConnectionInput) -> TunnelOptionsInput {
    TunnelOptionsInput {
        tunnel_id: None,
        customer_gateway_id: input.customer_gateway_id.clone(),
        role: None,
        enable_dpd: input.enable_dpd.clone(),
        enable_nat_traversal: input.enable_nat_traversal.clone(),
        tunnel_ike_config: input.ike_config.clone(),
        tunnel_ipsec_config: input.ipsec_config.clone(),
        tunnel_bgp_config: input.bgp_config.clone(),
    }
}

/// Rejects settings of the other mode, so that nothing given is silently dropped.
fn reject_other_mode(input: &ConnectionInput, dual: bool) -> Result<(), ValidationError> {
    let single_only = [
        ("CustomerGatewayId", input.customer_gateway_id.is_some()),
        ("EnableDpd", input.enable_dpd.is_some()),
        ("EnableNatTraversal", input.enable_nat_traversal.is_some()),
        ("IkeConfig", input.ike_config.is_some()),
        ("IpsecConfig", input.ipsec_config.is_some()),
        ("BgpConfig", input.bgp_config.is_some()),
        ("HealthCheckConfig", input.health_check_config.is_some()),
    ];
    if dual {
        if let Some((field, _)) = single_only.iter().find(|(_, set)| *set) {
            return Err(invalid(
                field,
                format!(
                    "{field} applies to single-tunnel connections; set it per tunnel in TunnelOptionsSpecification"
                ),
            ));
        }
    } else if input.enable_tunnels_bgp.is_some() {
        return Err(invalid(
            "EnableTunnelsBgp",
            "EnableTunnelsBgp applies to dual-tunnel connections; use BgpConfig.EnableBgp for a single-tunnel connection",
        ));
    }
    Ok(())
}

/// Parses a comma-separated CIDR list; `0.0.0.0/0` must stand alone.
fn subnets(field: &str, v: &str) -> Result<SubnetList, ValidationError> {
    let mut nets = Vec::new();
    for part in v.split(',').map(str::trim) {
        let net = parse_cidr(field, part)?;
        if nets.contains(&net) {
            return Err(invalid(field, format!("{field} lists {net} twice")));
        }
        nets.push(net);
    }
    let list = SubnetList(nets);
    if list.0.len() > 1 && list.0.iter().any(|n| n.prefix_len() == 0) {
        return Err(invalid(
            field,
            format!(
                "{field}: 0.0.0.0/0 (destination routing) cannot be combined with other CIDR blocks"
            ),
        ));
    }
    Ok(list)
}

/// Defaults of a new tunnel (spec §2): dual-tunnel mode uses IKEv2 with DPD and NAT-T on.
fn fresh_tunnel(index: u8, cgw: &CustomerGateway, ip: Ipv4Addr, zone: &str, dual: bool) -> Tunnel {
    Tunnel {
        tunnel_id: IdKind::Tunnel.new_id(),
        tunnel_index: index,
        role: if index == 1 {
            Role::Master
        } else {
            Role::Slave
        },
        customer_gateway_id: cgw.customer_gateway_id.clone(),
        internet_ip: ip,
        zone_no: zone.to_string(),
        enable_dpd: dual,
        enable_nat_traversal: dual,
        tunnel_ike_config: IkeConfig {
            psk: String::new(),
            ike_version: if dual { IkeVersion::V2 } else { IkeVersion::V1 },
            ike_mode: IkeMode::Main,
            ike_enc_alg: EncAlg::Aes,
            ike_auth_alg: AuthAlg::Sha1,
            ike_pfs: DhGroup::Group2,
            ike_lifetime: 86400,
            local_id: ip.to_string(),
            remote_id: cgw.ip_address.to_string(),
        },
        tunnel_ipsec_config: IpsecConfig::default(),
        tunnel_bgp_config: BgpConfig::default(),
    }
}

/// Applies one tunnel's given options over `base`.
fn apply_tunnel(
    names: &TunnelFields,
    mut tunnel: Tunnel,
    input: &TunnelOptionsInput,
    enable_bgp: Option<bool>,
    ctx: &ConnectionContext<'_>,
) -> Result<Tunnel, ValidationError> {
    if let Some(id) = given(&input.customer_gateway_id) {
        let cgw = ctx.customer_gateway(&names.field("CustomerGatewayId"), id)?;
        if tunnel.tunnel_ike_config.remote_id == remote_ip(ctx, &tunnel.customer_gateway_id) {
            tunnel.tunnel_ike_config.remote_id = cgw.ip_address.to_string();
        }
        tunnel.customer_gateway_id = id.to_string();
    }
    if let Some(v) = given(&input.role) {
        let field = names.field("Role");
        tunnel.role = match v {
            "master" => Role::Master,
            "slave" => Role::Slave,
            _ => {
                return Err(invalid(
                    &field,
                    format!("{field} must be master or slave, not {v:?}"),
                ));
            }
        };
    }
    tunnel.enable_dpd = opt_bool(
        &names.field("EnableDpd"),
        &input.enable_dpd,
        tunnel.enable_dpd,
    )?;
    tunnel.enable_nat_traversal = opt_bool(
        &names.field("EnableNatTraversal"),
        &input.enable_nat_traversal,
        tunnel.enable_nat_traversal,
    )?;
    tunnel.tunnel_ike_config = apply_ike(
        &names.ike,
        tunnel.tunnel_ike_config,
        input.tunnel_ike_config.as_ref(),
    )?;
    tunnel.tunnel_ipsec_config = apply_ipsec(
        &names.ipsec,
        tunnel.tunnel_ipsec_config,
        input.tunnel_ipsec_config.as_ref(),
    )?;
    let peer_asn = ctx
        .customer_gateway(
            &names.field("CustomerGatewayId"),
            &tunnel.customer_gateway_id,
        )?
        .asn;
    tunnel.tunnel_bgp_config = apply_bgp(
        &names.bgp,
        tunnel.tunnel_bgp_config,
        input.tunnel_bgp_config.as_ref(),
        enable_bgp,
        peer_asn,
    )?;
    Ok(tunnel)
}

/// The address of a customer gateway, as text (empty when unknown).
fn remote_ip(ctx: &ConnectionContext<'_>, cgw_id: &str) -> String {
    ctx.customer_gateways
        .iter()
        .find(|c| c.customer_gateway_id == cgw_id)
        .map(|c| c.ip_address.to_string())
        .unwrap_or_default()
}

/// The gateway address and zone of a tunnel not placed yet (its connection is attached to nothing).
pub const UNPLACED: (Ipv4Addr, &str) = (Ipv4Addr::UNSPECIFIED, "");

/// Validates a CreateVpnConnection (on `ctx.gateway`) or CreateVpnAttachment (no gateway: attached
/// to nothing) request and builds the connection with every default applied.
///
/// Single-tunnel mode when `TunnelOptionsSpecification` is empty (then `CustomerGatewayId` is
/// required), dual-tunnel mode otherwise (exactly two tunnels, on the gateway's two addresses, or
/// [`UNPLACED`] until the connection attaches to a transit router).
pub fn validate_new_connection(
    input: &ConnectionInput,
    ctx: &ConnectionContext<'_>,
) -> Result<VpnConnection, ValidationError> {
    let dual = !input.tunnel_options_specification.is_empty();
    reject_other_mode(input, dual)?;
    let name = free_text("Name", &input.name)?.unwrap_or_default();
    let local_subnet = subnets("LocalSubnet", required("LocalSubnet", &input.local_subnet)?)?;
    let remote_subnet = subnets(
        "RemoteSubnet",
        required("RemoteSubnet", &input.remote_subnet)?,
    )?;
    let effect_immediately = opt_bool("EffectImmediately", &input.effect_immediately, dual)?;
    let auto_config_route = opt_bool("AutoConfigRoute", &input.auto_config_route, true)?;
    let tags = validate_tags("Tags", &input.tags)?;

    let (tunnel_options, names) = if dual {
        let specs = &input.tunnel_options_specification;
        if specs.len() != 2 {
            return Err(invalid(
                "TunnelOptionsSpecification",
                format!(
                    "TunnelOptionsSpecification must configure exactly two tunnels, not {}",
                    specs.len()
                ),
            ));
        }
        let places = match ctx.gateway {
            Some(gw) => {
                let (Some(dr_ip), Some(dr_zone)) = (
                    gw.disaster_recovery_internet_ip,
                    gw.disaster_recovery_v_switch_id.as_deref(),
                ) else {
                    return Err(invalid(
                        "TunnelOptionsSpecification",
                        format!(
                            "TunnelOptionsSpecification: VPN gateway {} has no second zone (DisasterRecoveryVSwitchId), which dual-tunnel connections need",
                            gw.vpn_gateway_id
                        ),
                    ));
                };
                [(gw.internet_ip, gw.v_switch_id.as_str()), (dr_ip, dr_zone)]
            }
            None => [UNPLACED; 2],
        };
        let enable = opt_bool("EnableTunnelsBgp", &input.enable_tunnels_bgp, false)?;
        let mut tunnels = Vec::new();
        let mut names = Vec::new();
        for ((index, spec), (ip, zone)) in (1u8..).zip(specs).zip(places) {
            let n = TunnelFields::options(format!("TunnelOptionsSpecification.{index}"));
            let cgw_field = n.field("CustomerGatewayId");
            let cgw =
                ctx.customer_gateway(&cgw_field, required(&cgw_field, &spec.customer_gateway_id)?)?;
            tunnels.push(apply_tunnel(
                &n,
                fresh_tunnel(index, cgw, ip, zone, true),
                spec,
                Some(enable),
                ctx,
            )?);
            names.push(n);
        }
        (tunnels, names)
    } else {
        let view = single_tunnel_view(input);
        let n = TunnelFields::single();
        let cgw = ctx.customer_gateway(
            "CustomerGatewayId",
            required("CustomerGatewayId", &view.customer_gateway_id)?,
        )?;
        let (ip, zone) = ctx
            .gateway
            .map_or(UNPLACED, |gw| (gw.internet_ip, gw.v_switch_id.as_str()));
        let base = fresh_tunnel(1, cgw, ip, zone, false);
        (vec![apply_tunnel(&n, base, &view, None, ctx)?], vec![n])
    };
    let vco_health_check = if dual {
        HealthCheckConfig::default()
    } else {
        apply_health_check(
            "HealthCheckConfig",
            HealthCheckConfig::default(),
            input.health_check_config.as_ref(),
        )?
    };
    let conn = VpnConnection {
        vpn_connection_id: IdKind::VpnConnection.new_id(),
        name,
        attach_type: if ctx.gateway.is_some() {
            AttachType::VpnGateway
        } else {
            AttachType::None
        },
        vpn_gateway_id: ctx.gateway.map(|gw| gw.vpn_gateway_id.clone()),
        transit_router_id: None,
        local_subnet,
        remote_subnet,
        effect_immediately,
        auto_config_route,
        network_type: match ctx.gateway {
            Some(gw) => gw.network_type,
            None => super::gateway::parse_network_type(&input.network_type)?,
        },
        vco_health_check,
        tunnel_options,
        create_time: ctx.now_ms,
        resource_group_id: given(&input.resource_group_id)
            .unwrap_or_default()
            .to_string(),
        tags,
    };
    check_connection(&conn, &names, ctx)?;
    Ok(conn)
}

/// Validates a ModifyVpnConnectionAttribute request against the current connection; only the
/// given fields change (no defaults are applied).
pub fn validate_connection_update(
    current: &VpnConnection,
    input: &ConnectionInput,
    ctx: &ConnectionContext<'_>,
) -> Result<VpnConnection, ValidationError> {
    let dual = current.is_dual_tunnel();
    reject_other_mode(input, dual)?;
    let mut conn = current.clone();
    if let Some(name) = free_text("Name", &input.name)? {
        conn.name = name;
    }
    if input.network_type.is_some() {
        conn.network_type = super::gateway::parse_network_type(&input.network_type)?;
    }
    if let Some(v) = given(&input.local_subnet) {
        conn.local_subnet = subnets("LocalSubnet", v)?;
    }
    if let Some(v) = given(&input.remote_subnet) {
        conn.remote_subnet = subnets("RemoteSubnet", v)?;
    }
    conn.effect_immediately = opt_bool(
        "EffectImmediately",
        &input.effect_immediately,
        conn.effect_immediately,
    )?;
    conn.auto_config_route = opt_bool(
        "AutoConfigRoute",
        &input.auto_config_route,
        conn.auto_config_route,
    )?;
    if !input.tags.is_empty() {
        conn.tags = validate_tags("Tags", &input.tags)?;
    }
    let names: Vec<TunnelFields> = if dual {
        let enable = given(&input.enable_tunnels_bgp)
            .map(|v| super::parse_bool("EnableTunnelsBgp", v))
            .transpose()?;
        let mut names: Vec<TunnelFields> = (1..=conn.tunnel_options.len())
            .map(|i| TunnelFields::options(format!("TunnelOptionsSpecification.{i}")))
            .collect();
        for (n, spec) in (1..).zip(&input.tunnel_options_specification) {
            let field = format!("TunnelOptionsSpecification.{n}.TunnelId");
            let id = required(&field, &spec.tunnel_id)?;
            let slot = conn
                .tunnel_options
                .iter()
                .position(|t| t.tunnel_id == id)
                .ok_or_else(|| {
                    ValidationError::new(
                        Rule::NotFound,
                        &field,
                        format!(
                            "{field}: connection {} has no tunnel {id}",
                            conn.vpn_connection_id
                        ),
                    )
                })?;
            if let (Some(t), Some(name)) = (conn.tunnel_options.get_mut(slot), names.get_mut(slot))
            {
                *name = TunnelFields::options(format!("TunnelOptionsSpecification.{n}"));
                *t = apply_tunnel(name, t.clone(), spec, None, ctx)?;
            }
        }
        if let Some(e) = enable {
            for (t, n) in conn.tunnel_options.iter_mut().zip(&names) {
                t.tunnel_bgp_config = apply_bgp(
                    &n.bgp,
                    t.tunnel_bgp_config.clone(),
                    None,
                    Some(e),
                    peer_asn(ctx, t),
                )?;
            }
        }
        names
    } else {
        let n = TunnelFields::single();
        if let Some(t) = conn.tunnel_options.first().cloned() {
            conn.tunnel_options = vec![apply_tunnel(&n, t, &single_tunnel_view(input), None, ctx)?];
        }
        conn.vco_health_check = apply_health_check(
            "HealthCheckConfig",
            conn.vco_health_check,
            input.health_check_config.as_ref(),
        )?;
        vec![n]
    };
    check_changes_allowed(current, &conn, &names)?;
    check_connection(&conn, &names, ctx)?;
    Ok(conn)
}

/// Validates a ModifyTunnelAttribute request (`TunnelOptionsSpecification` for one tunnel).
/// Its BGP settings may change only while BGP is enabled on the connection.
pub fn validate_tunnel_update(
    current: &VpnConnection,
    tunnel_id: &str,
    input: &TunnelOptionsInput,
    ctx: &ConnectionContext<'_>,
) -> Result<VpnConnection, ValidationError> {
    let slot = current
        .tunnel_options
        .iter()
        .position(|t| t.tunnel_id == tunnel_id)
        .ok_or_else(|| {
            ValidationError::new(
                Rule::NotFound,
                "TunnelId",
                format!(
                    "TunnelId: connection {} has no tunnel {tunnel_id}",
                    current.vpn_connection_id
                ),
            )
        })?;
    // The modified tunnel's fields are named as in this request, the other tunnel's by its index.
    let names: Vec<TunnelFields> = (1..=current.tunnel_options.len())
        .map(|i| {
            let prefix = if i == slot + 1 {
                String::new()
            } else {
                format!(".{i}")
            };
            TunnelFields::options(format!("TunnelOptionsSpecification{prefix}"))
        })
        .collect();
    let (Some(n), Some(t)) = (names.get(slot), current.tunnel_options.get(slot)) else {
        return Err(ValidationError::new(
            Rule::NotFound,
            "TunnelId",
            format!("TunnelId: no tunnel {tunnel_id}"),
        ));
    };
    if input.tunnel_bgp_config.is_some() && !current.bgp_enabled() {
        return Err(invalid(
            &n.bgp,
            format!(
                "{}: enable BGP on the connection (EnableTunnelsBgp) before changing a tunnel's BGP settings",
                n.bgp
            ),
        ));
    }
    let mut conn = current.clone();
    if let Some(dst) = conn.tunnel_options.get_mut(slot) {
        *dst = apply_tunnel(n, t.clone(), input, None, ctx)?;
    }
    check_changes_allowed(current, &conn, &names)?;
    check_connection(&conn, &names, ctx)?;
    Ok(conn)
}

fn peer_asn(ctx: &ConnectionContext<'_>, t: &Tunnel) -> Option<u32> {
    ctx.customer_gateways
        .iter()
        .find(|c| c.customer_gateway_id == t.customer_gateway_id)
        .and_then(|c| c.asn)
}

/// Rejects a change to a field the connection's association keeps fixed.
fn check_changes_allowed(
    old: &VpnConnection,
    new: &VpnConnection,
    names: &[TunnelFields],
) -> Result<(), ValidationError> {
    use ConnectionField as F;
    let first = names
        .first()
        .map_or(String::new(), |n| n.field("CustomerGatewayId"));
    let psk = |c: &VpnConnection| {
        c.tunnel_options
            .iter()
            .map(|t| t.tunnel_ike_config.psk.clone())
            .collect::<Vec<_>>()
    };
    let advanced = |c: &VpnConnection| {
        let tunnels: Vec<_> = c
            .tunnel_options
            .iter()
            .map(|t| {
                let mut t = t.clone();
                t.tunnel_ike_config.psk.clear();
                t.customer_gateway_id.clear();
                t
            })
            .collect();
        (tunnels, c.vco_health_check.clone(), c.auto_config_route)
    };
    let changes = [
        (F::Name, "Name".to_string(), old.name != new.name),
        (
            F::CustomerGateway,
            first,
            old.customer_gateway_ids() != new.customer_gateway_ids(),
        ),
        (
            F::NetworkType,
            "NetworkType".to_string(),
            old.network_type != new.network_type,
        ),
        (
            F::RoutingMode,
            "LocalSubnet".to_string(),
            old.local_subnet != new.local_subnet || old.remote_subnet != new.remote_subnet,
        ),
        (
            F::EffectImmediately,
            "EffectImmediately".to_string(),
            old.effect_immediately != new.effect_immediately,
        ),
        (F::Psk, "Psk".to_string(), psk(old) != psk(new)),
        (
            F::Advanced,
            "TunnelOptionsSpecification".to_string(),
            advanced(old) != advanced(new),
        ),
    ];
    for (what, field, changed) in changes {
        if changed && !modifiable(old.attach_type, old.is_dual_tunnel(), what) {
            return Err(ValidationError::new(
                Rule::NotModifiable,
                &field,
                format!(
                    "{field} cannot be changed while the connection is attached as {:?}",
                    old.attach_type
                ),
            ));
        }
    }
    Ok(())
}

/// Rules across fields and tunnels: several CIDRs need IKEv2; tunnel CIDRs differ within the
/// connection and within the gateway; the tunnels of a dual-tunnel connection share the local ASN.
fn check_connection(
    conn: &VpnConnection,
    names: &[TunnelFields],
    ctx: &ConnectionContext<'_>,
) -> Result<(), ValidationError> {
    for (field, list) in [
        ("LocalSubnet", &conn.local_subnet),
        ("RemoteSubnet", &conn.remote_subnet),
    ] {
        if list.0.len() > 1 {
            if let Some((t, n)) = conn
                .tunnel_options
                .iter()
                .zip(names)
                .find(|(t, _)| t.tunnel_ike_config.ike_version != IkeVersion::V2)
            {
                return Err(invalid(
                    field,
                    format!(
                        "{field} lists {} CIDR blocks; more than one requires {}.IkeVersion ikev2, not {}",
                        list.0.len(),
                        n.ike,
                        t.tunnel_ike_config.ike_version
                    ),
                ));
            }
        }
    }
    let tunnels: Vec<_> = conn.tunnel_options.iter().zip(names).collect();
    for (i, (t, n)) in tunnels.iter().enumerate() {
        let bgp = &t.tunnel_bgp_config;
        let cidr_field = join(&n.bgp, "TunnelCidr");
        if let Some(cidr) = bgp.tunnel_cidr {
            if tunnels
                .iter()
                .take(i)
                .any(|(o, _)| o.tunnel_bgp_config.tunnel_cidr == Some(cidr))
            {
                return Err(ValidationError::new(
                    Rule::Duplicated,
                    &cidr_field,
                    format!(
                        "{cidr_field}: the two tunnels of a connection need different tunnel CIDRs; {cidr} is used twice"
                    ),
                ));
            }
            let clash = ctx
                .gateway_connections
                .iter()
                .filter(|c| c.vpn_connection_id != conn.vpn_connection_id)
                .find(|c| {
                    c.tunnel_options
                        .iter()
                        .any(|o| o.tunnel_bgp_config.tunnel_cidr == Some(cidr))
                });
            if let Some(other) = clash {
                return Err(ValidationError::new(
                    Rule::Duplicated,
                    &cidr_field,
                    format!(
                        "{cidr_field}: {cidr} is already used by connection {} on the same VPN gateway",
                        other.vpn_connection_id
                    ),
                ));
            }
        }
        if let Some((first, _)) = tunnels.first() {
            if i > 0 && bgp.local_asn != first.tunnel_bgp_config.local_asn {
                let field = join(&n.bgp, "LocalAsn");
                return Err(invalid(
                    &field,
                    format!(
                        "{field}: both tunnels of a connection share one local ASN; {} differs from {}",
                        bgp.local_asn, first.tunnel_bgp_config.local_asn
                    ),
                ));
            }
        }
    }
    if let [a, b] = conn.tunnel_options.as_slice() {
        if a.role == b.role {
            let field = names.get(1).map_or("Role".to_string(), |n| n.field("Role"));
            return Err(invalid(
                &field,
                format!("{field}: one tunnel must be master and the other slave"),
            ));
        }
    }
    Ok(())
}
