//! IKEv2 (RFC 7296).

pub mod message;
mod wire;
