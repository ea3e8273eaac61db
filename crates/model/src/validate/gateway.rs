//! VPN gateway and customer gateway rules.

use super::tunnel::parse_asn;
use super::{
    CustomerGatewayInput, Rule, ValidationError, VpnGatewayInput, free_text, given, invalid,
    parse_ipv4, required, validate_tags,
};
use crate::id::IdKind;
use crate::resource::{CustomerGateway, GatewayStatus, NetworkType, VpnGateway};
use std::net::Ipv4Addr;

/// Where gateways can be placed: the deployment's VPCs and zones (from the server's config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Configured VPC ids.
    pub vpc_ids: Vec<String>,
    /// Configured zones, in order.
    pub zones: Vec<PlacementZone>,
}

/// One configured zone and the address it offers to each kind of gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementZone {
    /// Zone id (the VSwitchId).
    pub id: String,
    /// The address a public gateway in this zone takes (the zone's first `gateway_ips`).
    pub public_ip: Option<Ipv4Addr>,
    /// The address a private gateway in this zone takes (the zone's first `private_gateway_ips`).
    pub private_ip: Option<Ipv4Addr>,
}

impl PlacementZone {
    /// The address a gateway of `network` type takes here, with the zone id.
    fn place(&self, network: NetworkType) -> Option<(String, Ipv4Addr)> {
        let ip = match network {
            NetworkType::Public => self.public_ip,
            NetworkType::Private => self.private_ip,
        }?;
        Some((self.id.clone(), ip))
    }
}

/// The zone configuration key holding the addresses of `network` gateways.
fn address_key(network: NetworkType) -> &'static str {
    match network {
        NetworkType::Public => "gateway_ips",
        NetworkType::Private => "private_gateway_ips",
    }
}

impl Placement {
    /// Zone `id` (named by `field`) and its address for a `network` gateway.
    fn zone(
        &self,
        field: &str,
        id: &str,
        network: NetworkType,
    ) -> Result<(String, Ipv4Addr), ValidationError> {
        let zone = self.zones.iter().find(|z| z.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.zones.iter().map(|z| z.id.as_str()).collect();
            ValidationError::new(
                Rule::NotFound,
                field,
                format!(
                    "{field}: zone {id} is not configured; configured zones: {}",
                    known.join(", ")
                ),
            )
        })?;
        zone.place(network).ok_or_else(|| {
            invalid(
                field,
                format!(
                    "{field}: zone {id} has no {} configured, so it cannot hold a {} gateway",
                    address_key(network),
                    network_name(network)
                ),
            )
        })
    }

    /// The zones that can hold a `network` gateway, in order, with the address it would take.
    fn offering(&self, network: NetworkType) -> impl Iterator<Item = (String, Ipv4Addr)> + '_ {
        self.zones.iter().filter_map(move |z| z.place(network))
    }
}

/// `NetworkType`: `public` (default) or `private`.
pub(crate) fn parse_network_type(v: &Option<String>) -> Result<NetworkType, ValidationError> {
    match given(v) {
        None | Some("public") => Ok(NetworkType::Public),
        Some("private") => Ok(NetworkType::Private),
        Some(v) => Err(invalid(
            "NetworkType",
            format!("NetworkType must be public or private, not {v:?}"),
        )),
    }
}

/// `public` or `private`.
pub(crate) fn network_name(network: NetworkType) -> &'static str {
    match network {
        NetworkType::Public => "public",
        NetworkType::Private => "private",
    }
}

/// Validates a CreateVpnGateway request: `VpcId` names a configured VPC, `NetworkType` is public
/// (default) or private, `VSwitchId` a zone offering an address of that type (default the first
/// such zone), `DisasterRecoveryVSwitchId` another one (default the next, if any). A private
/// gateway takes its zone's private address (`private_gateway_ips`).
pub fn validate_new_vpn_gateway(
    input: &VpnGatewayInput,
    placement: &Placement,
    now_ms: i64,
) -> Result<VpnGateway, ValidationError> {
    let vpc_id = required("VpcId", &input.vpc_id)?;
    if !placement.vpc_ids.iter().any(|v| v == vpc_id) {
        return Err(ValidationError::new(
            Rule::NotFound,
            "VpcId",
            format!(
                "VpcId: VPC {vpc_id} is not configured; configured VPCs: {}",
                placement.vpc_ids.join(", ")
            ),
        ));
    }
    let network_type = parse_network_type(&input.network_type)?;
    let (zone, ip) = match given(&input.v_switch_id) {
        Some(id) => placement.zone("VSwitchId", id, network_type)?,
        None => placement.offering(network_type).next().ok_or_else(|| {
            invalid(
                "NetworkType",
                format!(
                    "NetworkType {}: no zone of this server has {} configured",
                    network_name(network_type),
                    address_key(network_type)
                ),
            )
        })?,
    };
    let dr = match given(&input.disaster_recovery_v_switch_id) {
        Some(id) if id == zone => {
            return Err(invalid(
                "DisasterRecoveryVSwitchId",
                "DisasterRecoveryVSwitchId must name a different zone than VSwitchId",
            ));
        }
        Some(id) => Some(placement.zone("DisasterRecoveryVSwitchId", id, network_type)?),
        None => placement.offering(network_type).find(|(z, _)| *z != zone),
    };
    Ok(VpnGateway {
        vpn_gateway_id: IdKind::VpnGateway.new_id(),
        name: free_text("Name", &input.name)?.unwrap_or_default(),
        description: free_text("Description", &input.description)?.unwrap_or_default(),
        vpc_id: vpc_id.to_string(),
        v_switch_id: zone,
        internet_ip: ip,
        disaster_recovery_internet_ip: dr.as_ref().map(|(_, ip)| *ip),
        disaster_recovery_v_switch_id: dr.map(|(z, _)| z),
        network_type,
        status: GatewayStatus::Active,
        create_time: now_ms,
        resource_group_id: given(&input.resource_group_id)
            .unwrap_or_default()
            .to_string(),
        tags: validate_tags("Tags", &input.tags)?,
    })
}

/// Validates a ModifyVpnGatewayAttribute request: only `Name` and `Description` change.
pub fn validate_vpn_gateway_update(
    current: &VpnGateway,
    input: &VpnGatewayInput,
) -> Result<VpnGateway, ValidationError> {
    reject_fixed(
        "VPN gateway",
        &[
            ("VpcId", input.vpc_id.is_some()),
            ("VSwitchId", input.v_switch_id.is_some()),
            (
                "DisasterRecoveryVSwitchId",
                input.disaster_recovery_v_switch_id.is_some(),
            ),
            ("NetworkType", input.network_type.is_some()),
        ],
    )?;
    let mut gw = current.clone();
    if let Some(name) = free_text("Name", &input.name)? {
        gw.name = name;
    }
    if let Some(d) = free_text("Description", &input.description)? {
        gw.description = d;
    }
    Ok(gw)
}

/// Refuses to delete a VPN gateway that still has connections (their ids are given).
pub fn check_delete_vpn_gateway(
    gateway: &VpnGateway,
    connection_ids: &[String],
) -> Result<(), ValidationError> {
    if let Some(first) = connection_ids.first() {
        return Err(ValidationError::in_use(
            "VpnGatewayId",
            "VpnConnection",
            format!(
                "VpnGatewayId: VPN gateway {} still has {} IPsec-VPN connection(s), e.g. {first}; delete them first",
                gateway.vpn_gateway_id,
                connection_ids.len()
            ),
        ));
    }
    Ok(())
}

/// Refuses to delete a customer gateway still used by connections (their ids are given).
pub fn check_delete_customer_gateway(
    cgw: &CustomerGateway,
    connection_ids: &[String],
) -> Result<(), ValidationError> {
    if let Some(first) = connection_ids.first() {
        return Err(ValidationError::in_use(
            "CustomerGatewayId",
            "VpnConnection",
            format!(
                "CustomerGatewayId: customer gateway {} is still used by {} IPsec-VPN connection(s), e.g. {first}; delete them first",
                cgw.customer_gateway_id,
                connection_ids.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a customer gateway address: a unicast IPv4 address outside 0/8, 100.64/10, 127/8,
/// 169.254/16, 224/4 (multicast and 224–239) and 255/8.
fn customer_ip(v: &str) -> Result<Ipv4Addr, ValidationError> {
    let ip = parse_ipv4("IpAddress", v)?;
    let [a, b, ..] = ip.octets();
    let reserved = a == 0
        || a == 127
        || a == 255
        || (224..=239).contains(&a)
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254);
    if reserved {
        return Err(invalid(
            "IpAddress",
            format!(
                "IpAddress {ip} is not usable for a customer gateway: 0.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0-239.255.255.255 and 255.0.0.0/8 are not allowed"
            ),
        ));
    }
    Ok(ip)
}

/// A customer gateway ASN: 1..4294967295 or asdot, except the cloud's own 45104.
fn customer_asn(v: &str) -> Result<u32, ValidationError> {
    let asn = parse_asn("Asn", v)?;
    if asn == crate::tunnel::BgpConfig::DEFAULT_LOCAL_ASN {
        return Err(invalid(
            "Asn",
            "Asn 45104 is the gateway's own ASN and cannot be a customer gateway's",
        ));
    }
    Ok(asn)
}

/// A BGP MD5 key: 1 to 64 printable ASCII characters, no spaces, no `?`.
fn auth_key(v: &str) -> Result<String, ValidationError> {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_graphic() && b != b'?') {
        return Err(invalid(
            "AuthKey",
            "AuthKey must be 1 to 64 printable ASCII characters without spaces or ?",
        ));
    }
    Ok(v.to_string())
}

/// Validates a CreateCustomerGateway request.
pub fn validate_new_customer_gateway(
    input: &CustomerGatewayInput,
    now_ms: i64,
) -> Result<CustomerGateway, ValidationError> {
    Ok(CustomerGateway {
        customer_gateway_id: IdKind::CustomerGateway.new_id(),
        name: free_text("Name", &input.name)?.unwrap_or_default(),
        description: free_text("Description", &input.description)?.unwrap_or_default(),
        ip_address: customer_ip(required("IpAddress", &input.ip_address)?)?,
        asn: given(&input.asn).map(customer_asn).transpose()?,
        auth_key: input
            .auth_key
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(auth_key)
            .transpose()?,
        create_time: now_ms,
        resource_group_id: given(&input.resource_group_id)
            .unwrap_or_default()
            .to_string(),
        tags: validate_tags("Tags", &input.tags)?,
    })
}

/// Validates a ModifyCustomerGatewayAttribute request: `Name`, `Description` and `AuthKey` change.
pub fn validate_customer_gateway_update(
    current: &CustomerGateway,
    input: &CustomerGatewayInput,
) -> Result<CustomerGateway, ValidationError> {
    reject_fixed(
        "customer gateway",
        &[
            ("IpAddress", input.ip_address.is_some()),
            ("Asn", input.asn.is_some()),
        ],
    )?;
    let mut cgw = current.clone();
    if let Some(name) = free_text("Name", &input.name)? {
        cgw.name = name;
    }
    if let Some(d) = free_text("Description", &input.description)? {
        cgw.description = d;
    }
    if let Some(k) = input.auth_key.as_deref().filter(|s| !s.is_empty()) {
        cgw.auth_key = Some(auth_key(k)?);
    }
    Ok(cgw)
}

/// Refuses an update of a `what` that sends any of the `fields` (name, whether sent) it fixes.
fn reject_fixed(what: &str, fields: &[(&str, bool)]) -> Result<(), ValidationError> {
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(ValidationError::new(
            Rule::NotModifiable,
            field,
            format!("{field} of a {what} cannot be changed"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(id: &str, public: Option<[u8; 4]>, private: Option<[u8; 4]>) -> PlacementZone {
        PlacementZone {
            id: id.into(),
            public_ip: public.map(Ipv4Addr::from),
            private_ip: private.map(Ipv4Addr::from),
        }
    }

    fn input(network: &str, zone: Option<&str>) -> VpnGatewayInput {
        VpnGatewayInput {
            vpc_id: Some("vpc-local".into()),
            network_type: Some(network.into()),
            v_switch_id: zone.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn private_gateways_take_private_addresses_and_need_a_zone_with_one() {
        let placement = Placement {
            vpc_ids: vec!["vpc-local".into()],
            zones: vec![
                zone("zone-a", Some([203, 0, 113, 1]), None),
                zone("zone-b", Some([203, 0, 113, 2]), Some([10, 255, 0, 1])),
                zone("zone-c", None, Some([10, 255, 1, 1])),
            ],
        };
        let new = |i: VpnGatewayInput| validate_new_vpn_gateway(&i, &placement, 0);
        // Without VSwitchId a private gateway goes to the first zone with a private address, its
        // disaster-recovery side to the next.
        let g = new(input("private", None)).unwrap();
        assert_eq!(g.network_type, NetworkType::Private);
        assert_eq!(
            (g.v_switch_id.as_str(), g.internet_ip),
            ("zone-b", Ipv4Addr::new(10, 255, 0, 1))
        );
        assert_eq!(
            (
                g.disaster_recovery_v_switch_id.as_deref(),
                g.disaster_recovery_internet_ip
            ),
            (Some("zone-c"), Some(Ipv4Addr::new(10, 255, 1, 1)))
        );
        // A public gateway skips the zone that only has a private address.
        let p = new(input("public", Some("zone-b"))).unwrap();
        assert_eq!(
            (p.internet_ip, p.disaster_recovery_v_switch_id.as_deref()),
            (Ipv4Addr::new(203, 0, 113, 2), Some("zone-a"))
        );
        // A zone without private addresses refuses a private gateway, naming the missing key.
        let e = new(input("private", Some("zone-a"))).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.VSwitchId");
        assert!(e.message.contains("private_gateway_ips"), "{}", e.message);
        let e = new(input("public", Some("zone-c"))).unwrap_err();
        assert!(e.message.contains("gateway_ips"), "{}", e.message);
        let none = Placement {
            zones: vec![zone("zone-a", Some([203, 0, 113, 1]), None)],
            ..placement.clone()
        };
        let e = validate_new_vpn_gateway(&input("private", None), &none, 0).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.NetworkType");
        assert!(e.message.contains("private_gateway_ips"), "{}", e.message);
    }
}
