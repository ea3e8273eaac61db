//! The gateway daemon: turns connections into running tunnels.
//!
//! [`TunnelSpec`] is what a tunnel should be (the API's connection fields and the addresses it
//! runs on); the runner negotiates it with the IKE core over real sockets, installs its SAs and
//! routes into the data plane, and publishes each tunnel's state on a [`StatusBoard`].

mod desired;
mod diagnose;
mod health;
mod ike;
mod ikecfg;
mod runner;
mod selectors;
mod spec;
mod status;

pub use desired::{GatewayContext, TransitRouters, connection_tunnels};
pub use diagnose::{diagnose, refine};
pub use health::HealthSpec;
pub use runner::Gateway;
pub use spec::{BgpPeering, Timing, TimingOverrides, TunnelSpec, is_any, parse_subnets};
pub use status::{BgpStatus, IkeState, IpsecState, Snapshot, StatusBoard, TunnelStatus};

/// Errors of the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A LocalSubnet/RemoteSubnet entry is not an IPv4 CIDR.
    #[error(
        "{field}: {value:?} is not a comma-separated list of IPv4 CIDRs (e.g. 10.0.0.0/24,10.1.0.0/24)"
    )]
    BadSubnet {
        /// The field (LocalSubnet, RemoteSubnet, ...).
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A tunnel asks for something the gateway cannot run yet.
    #[error("tunnel {tunnel}: {what} is not supported yet")]
    Unsupported {
        /// The tunnel id.
        tunnel: String,
        /// What is not supported.
        what: &'static str,
    },
    /// A UDP 500 socket could not be opened.
    #[error("cannot listen for IKE on {0}: {1}")]
    Bind(std::net::SocketAddrV4, #[source] std::io::Error),
    /// The data plane refused an operation.
    #[error("data plane: {0}")]
    Dataplane(#[from] strait_dataplane::DataplaneError),
    /// The data plane's event channel closed.
    #[error("the data plane stopped")]
    DataplaneStopped,
    /// The runner task panicked or was cancelled.
    #[error("gateway runner ended abnormally: {0}")]
    Runner(String),
}
