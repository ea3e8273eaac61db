//! IKEv1 (RFC 2408/2409) with pre-shared keys: main, aggressive and quick mode, as a sans-IO
//! state machine beside [`crate::v2`], reporting the same [`Event`](crate::v2::Event)s.
//!
//! The driver contract is the IKEv2 one: feed [`Endpoint::handle_datagram`] every ISAKMP message
//! received on UDP 500, and on 4500 after stripping the non-ESP marker; send what
//! [`Endpoint::poll_transmit`] yields (adding the marker when either port is 4500); call
//! [`Endpoint::handle_timeout`] at [`Endpoint::poll_timeout`]; apply [`Endpoint::poll_event`].

mod endpoint;
pub mod keys;
pub mod message;
mod proposal;
mod session;

pub use endpoint::Endpoint;
pub use session::Config;

#[cfg(test)]
mod tests;
