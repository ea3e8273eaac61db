//! IKEv2 (RFC 7296): codec, key derivation and the sans-IO session state machines.
//!
//! The driver owns sockets and clocks. It feeds [`Endpoint::handle_datagram`] every IKE message
//! received on UDP 500, and on 4500 after stripping the four-byte non-ESP marker; it sends what
//! [`Endpoint::poll_transmit`] yields (adding the marker when either port is 4500), calls
//! [`Endpoint::handle_timeout`] at [`Endpoint::poll_timeout`], and applies the events of
//! [`Endpoint::poll_event`]: CHILD_SA keys and selectors to install, SAs to remove, failures with
//! their reasons. `examples/udp_peer.rs` is a complete minimal driver.

pub mod config;
mod endpoint;
mod event;
pub mod message;
mod offer;
mod session;
pub mod sk;

pub use config::{Config, Dpd, EspProposal, IkeProposal, Ipv4Prefix, Retransmit};
pub use endpoint::{Endpoint, EndpointConfig};
pub use event::{AuthFailure, DeleteReason, EspKeys, Event, FailureReason, SessionId, Transmit};
pub use message::{Identity, TrafficSelector};
pub use offer::{Algorithm, Mismatch, Offer, ProposalField, SaKind};
pub use session::NAT_T_PORT;
#[cfg(test)]
mod tests;
