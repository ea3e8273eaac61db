//! Transit routers (the self-hosted CEN): CEN instances, transit routers, their attachments and
//! cross-account grants of IPsec-VPN connections, with the CBN API's field names.

use crate::resource::Tag;
use serde::{Deserialize, Serialize};

/// A CEN instance: the container transit routers belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cen {
    /// `cen-` id.
    pub cen_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A transit router: connections and local networks attach to it; it has one default route table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransitRouter {
    /// `tr-` id.
    pub transit_router_id: String,
    /// The CEN instance it belongs to.
    pub cen_id: String,
    /// Name (may be empty).
    #[serde(default)]
    pub transit_router_name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub transit_router_description: String,
    /// `vtb-` id of its default route table.
    pub route_table_id: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// What an attachment connects to a transit router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttachedResource {
    /// An IPsec-VPN connection (`vco-`), possibly of another account.
    #[serde(rename = "VPN")]
    Vpn,
    /// A local network (a configured VPC).
    #[serde(rename = "VPC")]
    Vpc,
}

/// A transit router attachment, kept in the transit router owner's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransitRouterAttachment {
    /// `tr-attach-` id.
    pub transit_router_attachment_id: String,
    /// The transit router.
    pub transit_router_id: String,
    /// Its CEN instance.
    pub cen_id: String,
    /// What is attached.
    pub resource_type: AttachedResource,
    /// The connection or VPC id.
    pub resource_id: String,
    /// The account owning the attached resource (the connection's owner for cross-account ones).
    pub resource_owner_id: String,
    /// The zone whose gateway address the attached connection's tunnels use.
    pub zone_id: String,
    /// Advertise the transit router's routes to the connection's BGP peers.
    pub auto_publish_route_enabled: bool,
    /// Associated with the default route table (traffic arriving through it is forwarded by that table).
    pub route_table_association_enabled: bool,
    /// Its routes (destination and BGP-learned, or the VPC's CIDRs) propagate into the default route table.
    pub route_table_propagation_enabled: bool,
    /// Name (may be empty).
    #[serde(default)]
    pub transit_router_attachment_name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub transit_router_attachment_description: String,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Who pays for a cross-account attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderType {
    /// The CEN owner (default).
    #[default]
    PayByCenOwner,
    /// The connection's owner.
    PayByResourceOwner,
}

/// A grant letting another account's CEN attach a connection, kept in the connection owner's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrossAccountGrant {
    /// The granted connection.
    pub vpn_connection_id: String,
    /// The account granted (owner of the CEN).
    pub bind_uid: String,
    /// The CEN instance granted.
    pub bind_instance: String,
    /// Who pays.
    pub order_type: OrderType,
    /// Creation time, ms since the epoch.
    pub create_time: i64,
}

impl CrossAccountGrant {
    /// The key that identifies the grant within its account (connection, account, CEN).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.vpn_connection_id, self.bind_uid, self.bind_instance
        )
    }
}
