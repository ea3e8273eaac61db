//! What the on-premises device needs for a connection: the DownloadVpnConnectionConfig body
//! ([`render_standard`]) and ready-to-load configurations for common devices ([`render_device`]).
//!
//! Everything is seen from the device's side: its own address, identity and networks are "local",
//! Strait's gateway and networks are "remote". Where a device cannot express a connection's
//! settings, rendering fails with [`RenderError::Unsupported`] naming what and why, rather than
//! emitting a configuration that would not match.

#![warn(missing_docs)]

mod device;
mod names;
mod standard;
mod view;

pub use standard::{
    PeerBgpConfig, PeerBgpConfigs, PeerIkeConfig, PeerIpsecConfig, PeerTunnelConfig,
    PeerTunnelsConfig, VpnConnectionConfig,
};

use std::fmt;
use std::str::FromStr;
use strait_model::{CustomerGateway, VpnConnection};
use view::PeerView;

/// A kind of on-premises device a configuration can be rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// strongSwan 5.9+, swanctl.conf.
    StrongSwan,
    /// libreswan 4.x, ipsec.conf followed by ipsec.secrets.
    Libreswan,
    /// Cisco ASA 9.15+ CLI.
    CiscoAsa,
    /// Cisco IOS / IOS XE CLI.
    CiscoIos,
    /// Juniper SRX (Junos `set` commands).
    JuniperSrx,
    /// FortiGate (FortiOS CLI).
    Fortigate,
    /// Palo Alto Networks (PAN-OS `set` commands).
    PaloAlto,
    /// Huawei (VRP CLI).
    Huawei,
}

impl DeviceType {
    /// Every device type, in the order the API documents them.
    pub const ALL: &'static [DeviceType] = &[
        DeviceType::StrongSwan,
        DeviceType::Libreswan,
        DeviceType::CiscoAsa,
        DeviceType::CiscoIos,
        DeviceType::JuniperSrx,
        DeviceType::Fortigate,
        DeviceType::PaloAlto,
        DeviceType::Huawei,
    ];

    /// The `DeviceType` request parameter's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::StrongSwan => "strongswan",
            DeviceType::Libreswan => "libreswan",
            DeviceType::CiscoAsa => "cisco-asa",
            DeviceType::CiscoIos => "cisco-ios",
            DeviceType::JuniperSrx => "juniper-srx",
            DeviceType::Fortigate => "fortigate",
            DeviceType::PaloAlto => "paloalto",
            DeviceType::Huawei => "huawei",
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceType {
    type Err = RenderError;
    fn from_str(s: &str) -> Result<Self, RenderError> {
        DeviceType::ALL
            .iter()
            .copied()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| RenderError::UnknownDevice(s.to_string()))
    }
}

/// Why a peer configuration could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The `DeviceType` is not one this crate renders.
    #[error(
        "unknown device type {0:?}; expected one of strongswan, libreswan, cisco-asa, cisco-ios, juniper-srx, fortigate, paloalto, huawei"
    )]
    UnknownDevice(String),
    /// A tunnel names a customer gateway that was not supplied.
    #[error("customer gateway {0} not found")]
    MissingCustomerGateway(String),
    /// The connection has no tunnel.
    #[error("connection {0} has no tunnel")]
    NoTunnel(String),
    /// BGP is on for a tunnel but a value it needs is missing.
    #[error("BGP is enabled on tunnel {tunnel} but its {what} is not set")]
    IncompleteBgp {
        /// Tunnel index (1 or 2).
        tunnel: u8,
        /// The missing value.
        what: &'static str,
    },
    /// The device cannot express one of the connection's settings.
    #[error(
        "{device} cannot express tunnel {tunnel}'s {what}; change the connection's setting to one the device supports"
    )]
    Unsupported {
        /// The device asked for.
        device: DeviceType,
        /// Tunnel index (1 or 2).
        tunnel: u8,
        /// The setting and its value.
        what: String,
    },
}

/// The DownloadVpnConnectionConfig body's `VpnConnectionConfig` for `conn`, from the device's side.
///
/// `customer_gateways` must hold the customer gateway of every tunnel (others are ignored).
pub fn render_standard(
    conn: &VpnConnection,
    customer_gateways: &[CustomerGateway],
) -> Result<VpnConnectionConfig, RenderError> {
    Ok(standard::build(&PeerView::new(conn, customer_gateways)?))
}

/// A ready-to-load configuration of `device` for `conn` (one section per tunnel, BGP included).
pub fn render_device(
    device: DeviceType,
    conn: &VpnConnection,
    customer_gateways: &[CustomerGateway],
) -> Result<String, RenderError> {
    device::render(device, &PeerView::new(conn, customer_gateways)?)
}
