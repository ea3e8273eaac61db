//! Strait's resources, their defaults and every validation rule, as plain types and pure functions.

#![warn(missing_docs)]

pub mod algo;
pub mod diagnosis;
pub mod id;
pub mod resource;
pub mod status;
pub mod transit;
pub mod tunnel;
pub mod validate;

pub use algo::{AuthAlg, DhGroup, EncAlg, IkeMode, IkeVersion, Pfs};
pub use diagnosis::{Diagnosis, FailureCode, ParamMismatch, Severity, TunnelParam};
pub use id::IdKind;
pub use ipnet::Ipv4Net;
pub use resource::{
    AttachType, CustomerGateway, GatewayStatus, NetworkType, SubnetList, Tag, VpnConnection,
    VpnGateway, VpnPbrRouteEntry, VpnRouteEntry,
};
pub use status::{BgpRoute, NegotiationStatus, ProbeStatus, TunnelStatus};
pub use transit::{
    AttachedResource, AttachmentRoutes, Cen, CrossAccountGrant, OrderType, RouteOrigin,
    TransitRouteEntry, TransitRouter, TransitRouterAttachment, route_table,
};
pub use tunnel::{
    BgpConfig, HealthCheckConfig, HealthCheckPolicy, IkeConfig, IpsecConfig, Role, Tunnel,
};
