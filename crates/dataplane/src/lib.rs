//! Userspace ESP data plane: ESP (RFC 4303) and its UDP encapsulation (RFC 3948) as sans-IO code,
//! and a Linux engine that moves packets between a TUN device and UDP/raw sockets.

pub mod esp;
pub mod ip;
pub mod natt;
pub mod replay;
#[cfg(target_os = "linux")]
pub mod engine;

#[cfg(target_os = "linux")]
pub use engine::{ChildSa, Dataplane, DataplaneConfig, DataplaneError, DataplaneEvent, DataplaneStats, TunnelCounters, TunnelId};
pub use esp::{AddrRange, SaKeys, Selectors};
