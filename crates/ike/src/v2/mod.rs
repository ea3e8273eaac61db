//! IKEv2 (RFC 7296): codec, key derivation and the sans-IO session state machines.

pub mod config;
mod endpoint;
mod event;
pub mod message;
mod session;
pub mod sk;
mod wire;

pub use config::{Config, Dpd, EspProposal, IkeProposal, Ipv4Prefix, Retransmit};
pub use endpoint::{Endpoint, EndpointConfig};
pub use event::{AuthFailure, DeleteReason, EspKeys, Event, FailureReason, SessionId, Transmit};
pub use message::{Identity, TrafficSelector};
pub use session::NAT_T_PORT;
#[cfg(test)]
mod tests;
