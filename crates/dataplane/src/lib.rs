//! Userspace ESP data plane: ESP (RFC 4303) and its UDP encapsulation (RFC 3948) as sans-IO code,
//! and a Linux engine that moves packets between a TUN device and UDP/raw sockets.
//!
//! - [`esp`]: [`esp::OutboundSa`] / [`esp::InboundSa`] built from [`SaKeys`] and [`Selectors`];
//!   encapsulation into a caller buffer, in-place decapsulation with ICV, anti-replay
//!   ([`replay`]), padding, next-header and selector checks; per-SA counters.
//! - [`natt`]: what a datagram on UDP 4500 is (ESP, IKE behind the non-ESP marker, keepalive).
//! - [`ip`]: IPv4 views, checksums, TCP MSS clamping, ICMP fragmentation-needed.
//! - `engine` (Linux): [`Dataplane`], the handle the gateway drives.
//!
//! Driving the engine (all calls are synchronous and cheap; route changes run `ip`):
//!
//! ```no_run
//! # use std::net::SocketAddrV4;
//! # use strait_dataplane::*;
//! # fn keys() -> (SaKeys, SaKeys) { unimplemented!() }
//! let cfg = DataplaneConfig::new("strait0", vec!["192.0.2.1".parse().unwrap()]);
//! let (dp, mut events) = Dataplane::start(cfg)?; // events: tokio mpsc Receiver<DataplaneEvent>
//! let tunnel = TunnelId(1);
//! dp.add_tunnel(tunnel)?;
//! let to_site = "10.2.0.0/16".parse::<ipnet::Ipv4Net>().unwrap();
//! dp.set_routes(tunnel, vec![RouteRule::from(to_site)])?; // also a kernel route into the TUN
//! // Traffic to 10.2/16 now raises DataplaneEvent::Acquire { tunnel } (once a second at most).
//! let (inbound, outbound) = keys(); // from IKE's ChildSaEstablished
//! dp.install_child_sa(tunnel, ChildSa {
//!     inbound, outbound,
//!     local_ts: vec![AddrRange::ANY], remote_ts: vec![AddrRange::ANY],
//!     local: "192.0.2.1:4500".parse().unwrap(), remote: "198.51.100.1:4500".parse().unwrap(),
//!     udp_encap: true,
//! })?;
//! // IKE arriving on 4500 comes out as DataplaneEvent::Ike { local, remote, data } (marker stripped);
//! // answer with dp.send_ike(local, remote, &reply). On rekey install the new pair, then
//! // dp.remove_sa(old_inbound_spi) once IKE deletes the old one. DPD: dp.counters(tunnel)?.last_inbound.
//! # Ok::<(), DataplaneError>(())
//! ```

pub mod esp;
pub mod ip;
pub mod natt;
pub mod replay;

#[cfg(target_os = "linux")]
mod engine;

#[cfg(target_os = "linux")]
pub use engine::{
    ChildSa, Dataplane, DataplaneConfig, DataplaneError, DataplaneEvent, DataplaneStats,
    RouteOrigin, RouteRule, TunnelCounters, TunnelId,
};
pub use esp::{AddrRange, SaKeys, Selectors};
/// The transform types [`SaKeys`] is made of.
pub use strait_crypto::{Encr, Integ};
