//! strait-bgp: an eBGP speaker for IPv4 unicast.
//!
//! [`message`] is the wire codec (OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH),
//! [`session`] the sans-IO RFC 4271 state machine fed bytes and time, and [`driver`] the thin
//! tokio edge that owns the TCP connection (with optional RFC 2385 MD5 signatures).

#![warn(missing_docs)]

pub mod driver;
pub mod message;
pub mod session;

pub use driver::{DriverConfig, DriverError, Mode, Speaker, Status};
pub use message::{Message, Notification, Prefix, PrefixError};
pub use session::{
    Advertised, DownReason, Event, Negotiated, Route, Session, SessionConfig, State,
};
