//! Resources the store keeps as JSON documents keyed by (account, kind, id).

use serde::Serialize;
use serde::de::DeserializeOwned;
use strait_model::{
    Cen, CrossAccountGrant, CustomerGateway, TransitRouter, TransitRouterAttachment, VpnConnection,
    VpnGateway, VpnPbrRouteEntry, VpnRouteEntry,
};

/// A resource the store can keep: its kind, its id, and the ids it refers to.
pub trait Document: Serialize + DeserializeOwned {
    /// The kind name stored with each row.
    const KIND: &'static str;
    /// The id, unique per account and kind.
    fn id(&self) -> String;
    /// Ids of other resources this one uses (queried with [`crate::Query::refs`]
    /// and [`crate::Tx::referrers`]).
    fn refs(&self) -> Vec<String>;
}

impl Document for VpnGateway {
    const KIND: &'static str = "VpnGateway";
    fn id(&self) -> String {
        self.vpn_gateway_id.clone()
    }
    fn refs(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Document for CustomerGateway {
    const KIND: &'static str = "CustomerGateway";
    fn id(&self) -> String {
        self.customer_gateway_id.clone()
    }
    fn refs(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Document for VpnConnection {
    const KIND: &'static str = "VpnConnection";
    fn id(&self) -> String {
        self.vpn_connection_id.clone()
    }
    fn refs(&self) -> Vec<String> {
        self.vpn_gateway_id
            .iter()
            .map(String::as_str)
            .chain(self.customer_gateway_ids())
            .map(str::to_string)
            .collect()
    }
}

impl Document for VpnRouteEntry {
    const KIND: &'static str = "VpnRouteEntry";
    fn id(&self) -> String {
        self.key()
    }
    fn refs(&self) -> Vec<String> {
        vec![self.vpn_gateway_id.clone(), self.next_hop.clone()]
    }
}

impl Document for VpnPbrRouteEntry {
    const KIND: &'static str = "VpnPbrRouteEntry";
    fn id(&self) -> String {
        self.key()
    }
    fn refs(&self) -> Vec<String> {
        vec![self.vpn_gateway_id.clone(), self.next_hop.clone()]
    }
}

impl Document for Cen {
    const KIND: &'static str = "Cen";
    fn id(&self) -> String {
        self.cen_id.clone()
    }
    fn refs(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Document for TransitRouter {
    const KIND: &'static str = "TransitRouter";
    fn id(&self) -> String {
        self.transit_router_id.clone()
    }
    fn refs(&self) -> Vec<String> {
        vec![self.cen_id.clone()]
    }
}

impl Document for TransitRouterAttachment {
    const KIND: &'static str = "TransitRouterAttachment";
    fn id(&self) -> String {
        self.transit_router_attachment_id.clone()
    }
    fn refs(&self) -> Vec<String> {
        vec![
            self.transit_router_id.clone(),
            self.cen_id.clone(),
            self.resource_id.clone(),
        ]
    }
}

impl Document for CrossAccountGrant {
    const KIND: &'static str = "CrossAccountGrant";
    fn id(&self) -> String {
        self.key()
    }
    fn refs(&self) -> Vec<String> {
        vec![self.vpn_connection_id.clone(), self.bind_instance.clone()]
    }
}
