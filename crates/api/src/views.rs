//! Resources rendered in the SDK's response shapes (field names, nesting and value types).

use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use strait_model::{
    AttachType, BgpConfig, BgpRoute, CustomerGateway, GatewayStatus, NegotiationStatus,
    NetworkType, ProbeStatus, Tag, Tunnel, TunnelStatus, VpnConnection, VpnGateway,
    VpnPbrRouteEntry, VpnRouteEntry,
};

/// What a connection's view shows besides the connection itself: its customer gateways' ASNs
/// (`PeerAsn`) and the tunnel state the gateway observed.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// ASN per customer gateway id.
    pub peer_asns: HashMap<String, u32>,
    /// Observed state per tunnel id; a tunnel without one reports `ike_sa_not_established`.
    pub tunnels: HashMap<String, TunnelStatus>,
    /// Connections another account is authorized to attach (`CrossAccountAuthorized`).
    pub authorized: HashSet<String>,
    /// The name of the transit router each attached connection is attached to.
    pub transit_router_names: HashMap<String, String>,
}

impl Extras {
    fn transit_router_name(&self, vpn_connection_id: &str) -> &str {
        self.transit_router_names
            .get(vpn_connection_id)
            .map_or("", String::as_str)
    }

    fn status(&self, tunnel_id: &str) -> Value {
        let status = self
            .tunnels
            .get(tunnel_id)
            .map_or(NegotiationStatus::IkeSaNotEstablished, |s| s.status);
        serde_json::to_value(status).unwrap_or(Value::Null)
    }

    /// The diagnosis summary of a tunnel that is not up, or "".
    fn status_detail(&self, tunnel_id: &str) -> Value {
        let summary = self
            .tunnels
            .get(tunnel_id)
            .filter(|s| s.status != NegotiationStatus::IpsecSaEstablished)
            .and_then(|s| s.diagnosis.as_ref())
            .map(|d| d.summary.clone());
        Value::String(summary.unwrap_or_default())
    }

    fn probe(&self, tunnel_id: &str, which: fn(&TunnelStatus) -> Option<ProbeStatus>) -> Value {
        let probe = self.tunnels.get(tunnel_id).and_then(which);
        probe
            .and_then(|p| serde_json::to_value(p).ok())
            .unwrap_or_else(|| Value::String(String::new()))
    }
}

/// How numbers and flags inside tunnel options are typed: the Describe actions declare them as
/// strings (`"EnableDpd": "true"`, `"IkeLifetime": "86400"`), the Modify actions as JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Strings, as DescribeVpnConnection(s) answer.
    Describe,
    /// Booleans and numbers, as ModifyVpnConnectionAttribute and ModifyTunnelAttribute answer.
    Modify,
}

impl Shape {
    fn flag(self, b: bool) -> Value {
        match self {
            Shape::Describe => Value::String(b.to_string()),
            Shape::Modify => Value::Bool(b),
        }
    }
    fn num(self, n: u64) -> Value {
        match self {
            Shape::Describe => Value::String(n.to_string()),
            Shape::Modify => Value::from(n),
        }
    }
}

/// `[{"Key", "Value"}]`, as the CBN API and DescribeVpnAttachments list tags.
pub fn tag_list(tags: &[Tag]) -> Value {
    tags.iter()
        .map(|t| json!({"Key": t.key, "Value": t.value}))
        .collect()
}

/// `{"Tag": [{"Key", "Value"}]}`.
pub fn tags(tags: &[Tag]) -> Value {
    json!({ "Tag": tag_list(tags) })
}

fn network_type(n: NetworkType) -> &'static str {
    match n {
        NetworkType::Public => "public",
        NetworkType::Private => "private",
    }
}

fn status(s: GatewayStatus) -> &'static str {
    match s {
        GatewayStatus::Init => "init",
        GatewayStatus::Active => "active",
        GatewayStatus::Updating => "updating",
        GatewayStatus::Deleting => "deleting",
    }
}

fn opt_str<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// A VPN gateway as DescribeVpnGateway(s) and ModifyVpnGatewayAttribute answer it.
pub fn vpn_gateway(g: &VpnGateway) -> Value {
    json!({
        "VpnGatewayId": g.vpn_gateway_id,
        "Name": g.name,
        "Description": g.description,
        "VpcId": g.vpc_id,
        "VSwitchId": g.v_switch_id,
        "InternetIp": g.internet_ip.to_string(),
        "DisasterRecoveryVSwitchId": opt_str(&g.disaster_recovery_v_switch_id),
        "DisasterRecoveryInternetIp": opt_str(&g.disaster_recovery_internet_ip),
        "NetworkType": network_type(g.network_type),
        "Status": status(g.status),
        "BusinessStatus": "Normal",
        "ChargeType": "PostPay",
        "CreateTime": g.create_time,
        "EndTime": 0,
        "Spec": "1000M",
        "IpsecVpn": "enable",
        "SslVpn": "disable",
        "SslMaxConnections": 0,
        "VpnType": "Normal",
        "GatewayType": "Normal",
        "EnableBgp": true,
        "AutoPropagate": false,
        "ResourceGroupId": g.resource_group_id,
        "Tag": "",
        "Tags": tags(&g.tags),
    })
}

/// A customer gateway as DescribeCustomerGateway(s) answer it.
pub fn customer_gateway(c: &CustomerGateway) -> Value {
    let mut v = json!({
        "CustomerGatewayId": c.customer_gateway_id,
        "Name": c.name,
        "Description": c.description,
        "IpAddress": c.ip_address.to_string(),
        "AuthKey": opt_str(&c.auth_key),
        "CreateTime": c.create_time,
        "ResourceGroupId": c.resource_group_id,
        "Tags": tags(&c.tags),
    });
    if let (Some(asn), Some(obj)) = (c.asn, v.as_object_mut()) {
        obj.insert("Asn".into(), asn.into());
    }
    v
}

fn ike(t: &Tunnel, shape: Shape) -> Value {
    let c = &t.tunnel_ike_config;
    json!({
        "Psk": c.psk,
        "IkeVersion": c.ike_version.as_str(),
        "IkeMode": c.ike_mode.as_str(),
        "IkeEncAlg": c.ike_enc_alg.as_str(),
        "IkeAuthAlg": c.ike_auth_alg.as_str(),
        "IkePfs": c.ike_pfs.as_str(),
        "IkeLifetime": shape.num(c.ike_lifetime.into()),
        "LocalId": c.local_id,
        "RemoteId": c.remote_id,
    })
}

fn ipsec(t: &Tunnel, shape: Shape) -> Value {
    let c = &t.tunnel_ipsec_config;
    json!({
        "IpsecEncAlg": c.ipsec_enc_alg.as_str(),
        "IpsecAuthAlg": c.ipsec_auth_alg.as_str(),
        "IpsecPfs": c.ipsec_pfs.as_str(),
        "IpsecLifetime": shape.num(c.ipsec_lifetime.into()),
    })
}

fn bgp(b: &BgpConfig, peer_asn: Option<u32>, shape: Shape) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("EnableBgp".into(), shape.flag(b.enable_bgp));
    m.insert("LocalAsn".into(), shape.num(b.local_asn.into()));
    m.insert("TunnelCidr".into(), opt_str(&b.tunnel_cidr).into());
    m.insert("LocalBgpIp".into(), opt_str(&b.local_bgp_ip).into());
    m.insert("PeerBgpIp".into(), opt_str(&b.peer_bgp_ip()).into());
    if let Some(asn) = peer_asn {
        m.insert("PeerAsn".into(), shape.num(asn.into()));
    }
    m
}

/// One tunnel as TunnelOptionsSpecification.TunnelOptions and ModifyTunnelAttribute answer it.
pub fn tunnel(t: &Tunnel, extras: &Extras, shape: Shape) -> Value {
    let peer_asn = extras.peer_asns.get(&t.customer_gateway_id).copied();
    let mut bgp = bgp(&t.tunnel_bgp_config, peer_asn, shape);
    bgp.insert(
        "BgpStatus".into(),
        extras.probe(&t.tunnel_id, |s| s.bgp_status),
    );
    json!({
        "TunnelId": t.tunnel_id,
        "TunnelIndex": t.tunnel_index,
        "Role": match t.role { strait_model::Role::Master => "master", strait_model::Role::Slave => "slave" },
        "CustomerGatewayId": t.customer_gateway_id,
        "InternetIp": t.internet_ip.to_string(),
        "ZoneNo": t.zone_no,
        "EnableDpd": shape.flag(t.enable_dpd),
        "EnableNatTraversal": shape.flag(t.enable_nat_traversal),
        "RemoteCaCertificate": "",
        "State": "active",
        "Status": extras.status(&t.tunnel_id),
        "StatusDetail": extras.status_detail(&t.tunnel_id),
        "TunnelIkeConfig": ike(t, shape),
        "TunnelIpsecConfig": ipsec(t, shape),
        "TunnelBgpConfig": bgp,
    })
}

fn attach_type(a: AttachType) -> &'static str {
    match a {
        AttachType::VpnGateway => "VPNGW",
        AttachType::TransitRouter => "CEN",
        AttachType::None => "NO_ASSOCIATED",
    }
}

/// The VPN gateway or transit router a connection is attached to, or "".
fn attach_instance(c: &VpnConnection) -> String {
    c.vpn_gateway_id
        .clone()
        .or_else(|| c.transit_router_id.clone())
        .unwrap_or_default()
}

/// A connection not on a VPN gateway as DescribeVpnAttachments answers it.
pub fn vpn_attachment(c: &VpnConnection, extras: &Extras) -> Value {
    json!({
        "InstanceId": c.vpn_connection_id,
        "Name": c.name,
        "Description": "",
        "AttachType": attach_type(c.attach_type),
        "TransitRouterId": c.transit_router_id.clone().unwrap_or_default(),
        "TransitRouterName": extras.transit_router_name(&c.vpn_connection_id),
        "CrossAccountAuthorized": extras.authorized.contains(&c.vpn_connection_id),
        "TunnelBandwidth": "",
        "Tag": "",
        "Tags": tag_list(&c.tags),
    })
}

/// A connection as DescribeVpnConnection (`tags_key` "Tags"), DescribeVpnConnections ("Tag") and
/// ModifyVpnConnectionAttribute answer it.
pub fn vpn_connection(c: &VpnConnection, extras: &Extras, shape: Shape, tags_key: &str) -> Value {
    let first = c
        .tunnel_options
        .first()
        .map(|t| t.tunnel_id.as_str())
        .unwrap_or_default();
    let mut v = json!({
        "VpnConnectionId": c.vpn_connection_id,
        "Name": c.name,
        "VpnGatewayId": c.vpn_gateway_id.clone().unwrap_or_default(),
        "AttachType": attach_type(c.attach_type),
        "AttachInstanceId": attach_instance(c),
        "LocalSubnet": c.local_subnet.to_string(),
        "RemoteSubnet": c.remote_subnet.to_string(),
        "EffectImmediately": c.effect_immediately,
        "AutoConfigRoute": c.auto_config_route,
        "NetworkType": network_type(c.network_type),
        "CreateTime": c.create_time,
        "State": "active",
        "Status": extras.status(first),
        "Spec": "1000M",
        "TunnelBandwidth": "",
        "CrossAccountAuthorized": extras.authorized.contains(&c.vpn_connection_id),
        "TransitRouterId": c.transit_router_id.clone().unwrap_or_default(),
        "TransitRouterName": extras.transit_router_name(&c.vpn_connection_id),
        "RemoteCaCertificate": "",
        "ResourceGroupId": c.resource_group_id,
        "EnableTunnelsBgp": c.bgp_enabled(),
        "VcoHealthCheck": {
            "Enable": c.vco_health_check.enable.to_string(),
            "Dip": opt_str(&c.vco_health_check.dip),
            "Sip": opt_str(&c.vco_health_check.sip),
            "Interval": c.vco_health_check.interval,
            "Retry": c.vco_health_check.retry,
            "Policy": serde_json::to_value(c.vco_health_check.policy).unwrap_or(Value::Null),
            "Status": extras.probe(first, |s| s.health_check_status),
        },
    });
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    obj.insert(tags_key.into(), tags(&c.tags));
    match c.tunnel_options.as_slice() {
        [single] => {
            obj.insert(
                "CustomerGatewayId".into(),
                single.customer_gateway_id.clone().into(),
            );
            obj.insert("InternetIp".into(), single.internet_ip.to_string().into());
            obj.insert("ZoneNo".into(), single.zone_no.clone().into());
            obj.insert("StatusDetail".into(), extras.status_detail(first));
            obj.insert("EnableDpd".into(), single.enable_dpd.into());
            obj.insert(
                "EnableNatTraversal".into(),
                single.enable_nat_traversal.into(),
            );
            obj.insert("IkeConfig".into(), ike(single, Shape::Modify));
            obj.insert("IpsecConfig".into(), ipsec(single, Shape::Modify));
            let peer_asn = extras.peer_asns.get(&single.customer_gateway_id).copied();
            let mut b = bgp(&single.tunnel_bgp_config, peer_asn, Shape::Modify);
            b.insert(
                "EnableBgp".into(),
                single.tunnel_bgp_config.enable_bgp.to_string().into(),
            );
            b.insert("Status".into(), extras.probe(first, |s| s.bgp_status));
            b.insert("AuthKey".into(), "".into());
            obj.insert("VpnBgpConfig".into(), Value::Object(b));
        }
        tunnels => {
            let options: Vec<Value> = tunnels.iter().map(|t| tunnel(t, extras, shape)).collect();
            obj.insert(
                "TunnelOptionsSpecification".into(),
                json!({ "TunnelOptions": options }),
            );
        }
    }
    v
}

fn route_state(published: bool) -> &'static str {
    if published { "published" } else { "normal" }
}

/// A destination route as DescribeVpnRouteEntries and CreateVpnRouteEntry answer it.
pub fn route_entry(r: &VpnRouteEntry) -> Value {
    json!({
        "VpnInstanceId": r.vpn_gateway_id,
        "RouteDest": r.route_dest.to_string(),
        "NextHop": r.next_hop,
        "Weight": r.weight,
        "Description": r.description,
        "State": route_state(r.publish_vpc),
        "CreateTime": r.create_time,
        "RouteEntryType": "custom",
        "Source": "CUSTOM",
        "OverlayMode": "Ipsec",
        "AsPath": "",
        "Community": "",
        "NextHopTunnelId": "",
    })
}

/// A route learned from a tunnel's BGP peer, as DescribeVpnRouteEntries answers it.
pub fn bgp_route_entry(
    gateway_id: &str,
    conn: &VpnConnection,
    tunnel_id: &str,
    r: &BgpRoute,
) -> Value {
    let as_path: Vec<String> = r.as_path.iter().map(u32::to_string).collect();
    json!({
        "VpnInstanceId": gateway_id,
        "RouteDest": r.route_dest.to_string(),
        "NextHop": conn.vpn_connection_id,
        "NextHopTunnelId": tunnel_id,
        "Weight": 100,
        "Description": "",
        "State": "normal",
        "CreateTime": conn.create_time,
        "RouteEntryType": "bgp",
        "Source": "BGP",
        "OverlayMode": "Ipsec",
        "AsPath": as_path.join(" "),
        "Community": "",
    })
}

/// An entry of a connection's route table as DescribeVcoRouteEntries answers it.
pub fn vco_route_entry(
    conn: &VpnConnection,
    dest: strait_model::Ipv4Net,
    kind: &str,
    as_path: &str,
    weight: u32,
    tunnels: &[&str],
) -> Value {
    json!({
        "VpnConnectionId": conn.vpn_connection_id,
        "RouteDest": dest.to_string(),
        "NextHop": conn.vpn_connection_id,
        "NextHopTunnelIdList": tunnels,
        "Weight": weight,
        "RouteEntryType": kind,
        "Source": if kind == "bgp" { "VPN_BGP" } else { "CUSTOM" },
        "State": "normal",
        "AsPath": as_path,
        "Community": "",
        "CreateTime": conn.create_time,
    })
}

/// A policy route as DescribeVpnPbrRouteEntries and CreateVpnPbrRouteEntry answer it.
pub fn pbr_route_entry(r: &VpnPbrRouteEntry) -> Value {
    json!({
        "VpnInstanceId": r.vpn_gateway_id,
        "RouteSource": r.route_source.to_string(),
        "RouteDest": r.route_dest.to_string(),
        "NextHop": r.next_hop,
        "Weight": r.weight,
        "Priority": r.priority,
        "Description": r.description,
        "State": route_state(r.publish_vpc),
        "CreateTime": r.create_time,
        "OverlayMode": "Ipsec",
        "NextHopTunnelId": "",
    })
}
