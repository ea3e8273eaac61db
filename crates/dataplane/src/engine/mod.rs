//! The Linux data-plane engine: a TUN device, UDP 4500 and raw ESP sockets, and worker threads
//! that move packets between them through the ESP code, driven by a [`Dataplane`] handle.
//!
//! Threads: one worker per core, each with its own TUN queue (multiqueue) and its own UDP socket
//! per local address (`SO_REUSEPORT`), batching with TUN offloads (TSO split on read, GRO on
//! write), `recvmmsg` with UDP GRO and UDP GSO sends. The control side (this handle) rebuilds a
//! snapshot of routes and SAs on every change; workers read it without locking.

mod io;
mod kernel;
mod tables;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::Ipv4Net;
use tokio::sync::mpsc;

use crate::esp::{AddrRange, EspError, InboundSa, OutboundSa, SaKeys, SaStats, Selectors};
use crate::natt::{KEEPALIVE, NATT_PORT};
use kernel::RouteRefs;
use tables::{OutPath, Tables, TunnelEntry, TunnelShared};
pub use tables::{RouteOrigin, RouteRule};

/// Smallest TUN MTU accepted (the IPv4 minimum reassembly size).
const MIN_TUN_MTU: u16 = 576;
/// Largest TUN MTU accepted.
const MAX_TUN_MTU: u16 = 16_384;

/// Identifies a tunnel; the caller chooses the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TunnelId(pub u64);

/// How to start the engine.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// Name of the TUN device to create (or attach to).
    pub tun_name: String,
    /// MTU of the TUN device: the largest inner packet the host hands us (576..=16384).
    pub tun_mtu: u16,
    /// Optional address for the TUN device.
    pub tun_addr: Option<Ipv4Net>,
    /// Addresses the gateway terminates tunnels on (UDP 4500 and raw ESP are bound to each).
    pub local_addrs: Vec<Ipv4Addr>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// MTU of the outer path, from which each tunnel's inner MTU follows.
    pub path_mtu: u16,
    /// Use TUN offloads (vnet header: TSO/checksum offload on read, GRO on write).
    pub offload: bool,
    /// Open raw `IPPROTO_ESP` sockets for ESP without UDP encapsulation.
    pub raw_esp: bool,
    /// Capacity of the event channel; events beyond it are dropped and counted.
    pub event_capacity: usize,
    /// Least time between two Acquire events of one tunnel.
    pub acquire_interval: Duration,
}

impl DataplaneConfig {
    /// A configuration with the defaults: MTU 1400, one worker per core, offloads and raw ESP on.
    pub fn new(tun_name: impl Into<String>, local_addrs: Vec<Ipv4Addr>) -> Self {
        Self {
            tun_name: tun_name.into(),
            tun_mtu: 1400,
            tun_addr: None,
            local_addrs,
            workers: 0,
            path_mtu: 1500,
            offload: true,
            raw_esp: true,
            event_capacity: 1024,
            acquire_interval: Duration::from_secs(1),
        }
    }
}

/// What the engine reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataplaneEvent {
    /// An IKE message arrived on UDP 4500 (non-ESP marker stripped).
    Ike {
        /// Our address it arrived on.
        local: SocketAddrV4,
        /// The sender.
        remote: SocketAddrV4,
        /// The IKE message.
        data: Vec<u8>,
    },
    /// Traffic was routed to a tunnel that has no outbound SA (rate-limited per tunnel).
    Acquire {
        /// The tunnel that needs an SA.
        tunnel: TunnelId,
    },
}

/// A negotiated CHILD_SA pair to install into a tunnel.
#[derive(Debug, Clone)]
pub struct ChildSa {
    /// Keys of the SA the peer sends on (its SPI is ours).
    pub inbound: SaKeys,
    /// Keys of the SA we send on.
    pub outbound: SaKeys,
    /// Traffic selectors on our side.
    pub local_ts: Vec<AddrRange>,
    /// Traffic selectors on the peer's side.
    pub remote_ts: Vec<AddrRange>,
    /// Our outer address (port 4500 when `udp_encap`).
    pub local: SocketAddrV4,
    /// The peer's outer address (its port matters only with `udp_encap`).
    pub remote: SocketAddrV4,
    /// Encapsulate ESP in UDP (RFC 3948) instead of raw IP protocol 50.
    pub udp_encap: bool,
}

/// Traffic counters of one tunnel, over all its SAs past and present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    /// Decapsulated traffic and inbound drops.
    pub inbound: SaStats,
    /// Encapsulated traffic and outbound drops.
    pub outbound: SaStats,
    /// Packets routed to the tunnel while it had no outbound SA.
    pub no_sa_drops: u64,
    /// ICMP fragmentation-needed answers sent.
    pub frag_needed_sent: u64,
    /// Decapsulated packets dropped because the tunnel does not forward inbound traffic.
    pub blocked_inbound: u64,
    /// When the last authenticated packet arrived (for dead peer detection).
    pub last_inbound: Option<Instant>,
    /// Sequence numbers used by the current outbound SA; without ESN it must be rekeyed
    /// before this reaches 2^32 (sending stops there, with [`EspError::SequenceExhausted`]).
    pub outbound_sequence: u64,
}

/// Engine-wide counters of packets that belong to no tunnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataplaneStats {
    /// ESP packets with an SPI we do not know.
    pub unknown_spi: u64,
    /// Packets from the TUN device that match no route.
    pub no_route: u64,
    /// Packets that are not IPv4 or not parseable, either side.
    pub malformed: u64,
    /// NAT keepalives received.
    pub keepalives: u64,
    /// Events dropped because the channel was full.
    pub events_dropped: u64,
    /// Packets the sockets or the TUN device refused to take.
    pub send_errors: u64,
}

/// Errors of the engine's control operations.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// A socket or device operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An `ip` command failed.
    #[error("`ip {command}` failed: {detail}")]
    Kernel {
        /// The arguments.
        command: String,
        /// Its error output.
        detail: String,
    },
    /// No tunnel with this id.
    #[error("unknown tunnel {0:?}")]
    UnknownTunnel(TunnelId),
    /// A tunnel with this id exists already.
    #[error("tunnel {0:?} exists already")]
    TunnelExists(TunnelId),
    /// The address is not one of the configured local addresses (or the port is not 4500).
    #[error("{0} is not a local address of this data plane")]
    UnknownLocalAddress(SocketAddrV4),
    /// An inbound SA with this SPI is installed already.
    #[error("inbound SPI {0:#010x} is in use")]
    DuplicateSpi(u32),
    /// No CHILD_SA with this inbound SPI.
    #[error("no SA with inbound SPI {0:#010x}")]
    UnknownSpi(u32),
    /// The SA keys were refused.
    #[error(transparent)]
    Esp(#[from] EspError),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl DataplaneError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

#[derive(Default)]
struct GlobalCounters {
    unknown_spi: AtomicU64,
    no_route: AtomicU64,
    malformed: AtomicU64,
    keepalives: AtomicU64,
    events_dropped: AtomicU64,
    send_errors: AtomicU64,
}

/// State shared by the handle and the workers.
struct Shared {
    tables: ArcSwap<Tables>,
    stop: AtomicBool,
    events: mpsc::Sender<DataplaneEvent>,
    counters: GlobalCounters,
    epoch: Instant,
    local_addrs: Vec<Ipv4Addr>,
    /// `udp[worker][local address index]`.
    udp: Vec<Vec<io::UdpEndpoint>>,
    /// One raw ESP socket per local address (empty when raw ESP is off).
    raw: Vec<socket2::Socket>,
    /// Sends the ICMP errors we generate, from the host like any router's (source chosen by the kernel).
    icmp: socket2::Socket,
    acquire_interval_ms: u64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn emit(&self, event: DataplaneEvent) {
        if self.events.try_send(event).is_err() {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One installed CHILD_SA pair.
struct Child {
    inbound: Arc<InboundSa>,
    out: Arc<OutPath>,
}

struct TunnelCtl {
    routes: Vec<RouteRule>,
    /// Decapsulated traffic is forwarded (else only what is for the host's TUN addresses).
    forward_inbound: bool,
    shared: Arc<TunnelShared>,
    /// Installed pairs, oldest first; the newest carries outbound traffic.
    children: Vec<Child>,
    /// Counters of removed pairs.
    retired_in: SaStats,
    retired_out: SaStats,
}

impl Default for TunnelCtl {
    fn default() -> Self {
        TunnelCtl {
            routes: Vec::new(),
            forward_inbound: true,
            shared: Arc::default(),
            children: Vec::new(),
            retired_in: SaStats::default(),
            retired_out: SaStats::default(),
        }
    }
}

#[derive(Default)]
struct Control {
    tunnels: BTreeMap<TunnelId, TunnelCtl>,
    kernel_routes: RouteRefs,
    /// Addresses added to the TUN device (the host's own, inside tunnels).
    host_addrs: BTreeSet<Ipv4Addr>,
}

/// Handle to a running data plane; dropping it stops the workers and removes its kernel routes.
pub struct Dataplane {
    shared: Arc<Shared>,
    control: Mutex<Control>,
    workers: Vec<JoinHandle<()>>,
    tun_name: String,
    path_mtu: u16,
}

impl Dataplane {
    /// Creates the TUN device and sockets and starts the workers.
    pub fn start(
        cfg: DataplaneConfig,
    ) -> Result<(Dataplane, mpsc::Receiver<DataplaneEvent>), DataplaneError> {
        if cfg.local_addrs.is_empty() {
            return Err(DataplaneError::Config("no local address".into()));
        }
        if !(MIN_TUN_MTU..=MAX_TUN_MTU).contains(&cfg.tun_mtu) {
            return Err(DataplaneError::Config(format!(
                "TUN MTU {} outside {MIN_TUN_MTU}..={MAX_TUN_MTU}",
                cfg.tun_mtu
            )));
        }
        let workers = match cfg.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let tun = tun_rs::DeviceBuilder::new()
            .name(&cfg.tun_name)
            .offload(cfg.offload)
            .multi_queue(workers > 1)
            .tx_queue_len(10_000)
            .build_sync()
            .map_err(DataplaneError::io(format!(
                "creating TUN device {}",
                cfg.tun_name
            )))?;
        let mut queues = vec![tun];
        for _ in 1..workers {
            let q = queues[0]
                .try_clone()
                .map_err(DataplaneError::io("opening a TUN queue"))?;
            queues.push(q);
        }
        kernel::link_up(&cfg.tun_name, cfg.tun_mtu)?;
        if let Some(addr) = cfg.tun_addr {
            kernel::add_address(&cfg.tun_name, addr)?;
        }
        let udp = (0..workers)
            .map(|_| {
                cfg.local_addrs
                    .iter()
                    .map(|&a| io::UdpEndpoint::bind(SocketAddrV4::new(a, NATT_PORT)))
                    .collect()
            })
            .collect::<Result<Vec<Vec<_>>, _>>()?;
        let raw = if cfg.raw_esp {
            cfg.local_addrs
                .iter()
                .map(|&a| io::raw_esp_socket(a))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let (tx, rx) = mpsc::channel(cfg.event_capacity.max(1));
        let shared = Arc::new(Shared {
            tables: ArcSwap::from_pointee(Tables::default()),
            stop: AtomicBool::new(false),
            events: tx,
            counters: GlobalCounters::default(),
            epoch: Instant::now(),
            local_addrs: cfg.local_addrs.clone(),
            udp,
            raw,
            icmp: io::raw_ip_socket()?,
            acquire_interval_ms: cfg.acquire_interval.as_millis() as u64,
        });
        let handles = queues
            .into_iter()
            .enumerate()
            .map(|(i, q)| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("strait-dp-{i}"))
                    .spawn(move || worker::Worker::new(i, q, shared).run())
                    .map_err(DataplaneError::io("spawning a worker"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(tun = %cfg.tun_name, workers, offload = cfg.offload, "data plane started");
        let dp = Dataplane {
            shared,
            control: Mutex::new(Control::default()),
            workers: handles,
            tun_name: cfg.tun_name,
            path_mtu: cfg.path_mtu,
        };
        Ok((dp, rx))
    }

    /// Name of the TUN device.
    pub fn tun_name(&self) -> &str {
        &self.tun_name
    }

    fn local_index(&self, local: SocketAddrV4) -> Result<usize, DataplaneError> {
        self.shared
            .local_addrs
            .iter()
            .position(|a| *a == *local.ip())
            .filter(|_| local.port() == NATT_PORT)
            .ok_or(DataplaneError::UnknownLocalAddress(local))
    }

    fn send_udp(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        parts: &[&[u8]],
    ) -> Result<(), DataplaneError> {
        let idx = self.local_index(local)?;
        let ep = self
            .shared
            .udp
            .first()
            .and_then(|w| w.get(idx))
            .ok_or(DataplaneError::UnknownLocalAddress(local))?;
        let data = parts.concat();
        ep.send_to(&data, remote)
            .map_err(DataplaneError::io(format!("sending to {remote}")))
    }

    /// Sends an IKE message from `local` (port 4500) to `remote`, with the non-ESP marker.
    pub fn send_ike(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), DataplaneError> {
        self.send_udp(local, remote, &[&crate::natt::NON_ESP_MARKER, data])
    }

    /// Sends a NAT keepalive (RFC 3948 §2.3) from `local` (port 4500) to `remote`.
    pub fn send_nat_keepalive(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Result<(), DataplaneError> {
        self.send_udp(local, remote, &[&KEEPALIVE])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `addr` an address of this host on the TUN device (e.g. a BGP address inside a tunnel).
    pub fn add_address(&self, addr: Ipv4Addr) -> Result<(), DataplaneError> {
        let mut c = self.lock();
        c.host_addrs.insert(addr);
        self.publish(&c);
        kernel::add_address(&self.tun_name, Ipv4Net::from(addr))
    }

    /// Takes an address added with [`Dataplane::add_address`] off the TUN device.
    pub fn remove_address(&self, addr: Ipv4Addr) -> Result<(), DataplaneError> {
        let mut c = self.lock();
        c.host_addrs.remove(&addr);
        self.publish(&c);
        kernel::del_address(&self.tun_name, Ipv4Net::from(addr))
    }

    /// Sets whether what arrives decapsulated through the tunnel is forwarded (the default);
    /// when not, only packets for the host's own TUN addresses pass, the rest are dropped and
    /// counted in [`TunnelCounters::blocked_inbound`].
    pub fn set_inbound_forwarding(
        &self,
        id: TunnelId,
        forward: bool,
    ) -> Result<(), DataplaneError> {
        let mut c = self.lock();
        c.tunnels
            .get_mut(&id)
            .ok_or(DataplaneError::UnknownTunnel(id))?
            .forward_inbound = forward;
        self.publish(&c);
        Ok(())
    }

    /// Adds a tunnel without routes or SAs.
    pub fn add_tunnel(&self, id: TunnelId) -> Result<(), DataplaneError> {
        let mut c = self.lock();
        if c.tunnels.contains_key(&id) {
            return Err(DataplaneError::TunnelExists(id));
        }
        c.tunnels.insert(id, TunnelCtl::default());
        self.publish(&c);
        Ok(())
    }

    /// Replaces the tunnel's routes with `routes` and points a kernel route into the TUN device
    /// for every destination prefix. Each packet takes the first matching route in lookup order:
    /// policy routes (lowest priority number, then longer destination, then longer source
    /// prefix), then destination routes (longest prefix, static before BGP). Tunnels sharing that
    /// route share its flows (ECMP by flow hash): the weight-100 ones with an outbound SA, else
    /// the weight-0 ones with an SA, else any (weight 100 first), which then asks for an SA.
    pub fn set_routes(&self, id: TunnelId, routes: Vec<RouteRule>) -> Result<(), DataplaneError> {
        let mut guard = self.lock();
        let c = &mut *guard;
        let t = c
            .tunnels
            .get_mut(&id)
            .ok_or(DataplaneError::UnknownTunnel(id))?;
        let routes: Vec<RouteRule> = routes
            .into_iter()
            .map(|r| RouteRule {
                dest: r.dest.trunc(),
                source: r.source.map(|s| s.trunc()),
                ..r
            })
            .collect();
        let old = std::mem::replace(&mut t.routes, routes);
        let result = self.update_kernel_routes(&mut c.kernel_routes, &old, &t.routes);
        self.publish(c);
        result
    }

    fn update_kernel_routes(
        &self,
        refs: &mut RouteRefs,
        old: &[RouteRule],
        new: &[RouteRule],
    ) -> Result<(), DataplaneError> {
        let (added, removed) = refs.update(old, new);
        let mut result = Ok(());
        for p in added {
            result = result.and(kernel::add_route(&self.tun_name, p));
        }
        for p in removed {
            result = result.and(kernel::del_route(&self.tun_name, p));
        }
        result
    }

    /// Installs a CHILD_SA pair: its outbound SA carries the tunnel's traffic from now on, while
    /// older inbound SAs keep accepting until removed (rekey overlap).
    pub fn install_child_sa(&self, id: TunnelId, child: ChildSa) -> Result<(), DataplaneError> {
        let local_idx = if child.udp_encap {
            self.local_index(child.local)?
        } else {
            self.local_index(SocketAddrV4::new(*child.local.ip(), NATT_PORT))
                .map_err(|_| DataplaneError::UnknownLocalAddress(child.local))?
        };
        if !child.udp_encap && self.shared.raw.is_empty() {
            return Err(DataplaneError::Config(
                "raw ESP is off; this SA needs UDP encapsulation".into(),
            ));
        }
        let selectors = Selectors {
            local: child.local_ts,
            remote: child.remote_ts,
        };
        let inbound = Arc::new(InboundSa::new(&child.inbound, selectors.clone())?);
        let sa = OutboundSa::new(&child.outbound, selectors)?;
        let mtu = sa.tunnel_mtu(self.path_mtu, child.udp_encap);
        let out = Arc::new(OutPath {
            sa,
            remote: child.remote,
            local_idx,
            udp_encap: child.udp_encap,
            mtu,
        });
        let mut c = self.lock();
        if self.shared.tables.load().inbound(inbound.spi()).is_some() {
            return Err(DataplaneError::DuplicateSpi(inbound.spi()));
        }
        let t = c
            .tunnels
            .get_mut(&id)
            .ok_or(DataplaneError::UnknownTunnel(id))?;
        tracing::info!(tunnel = id.0, in_spi = format_args!("{:#010x}", inbound.spi()),
            out_spi = format_args!("{:#010x}", out.sa.spi()), remote = %child.remote, udp = child.udp_encap, mtu, "CHILD_SA installed");
        t.children.push(Child { inbound, out });
        self.publish(&c);
        Ok(())
    }

    /// Removes the CHILD_SA pair whose inbound SPI is `inbound_spi`; if it carried the tunnel's
    /// outbound traffic, the next newest pair takes over (or the tunnel goes without one).
    pub fn remove_sa(&self, inbound_spi: u32) -> Result<(), DataplaneError> {
        let mut c = self.lock();
        let (id, t) = c
            .tunnels
            .iter_mut()
            .find(|(_, t)| t.children.iter().any(|ch| ch.inbound.spi() == inbound_spi))
            .ok_or(DataplaneError::UnknownSpi(inbound_spi))?;
        let pos = t
            .children
            .iter()
            .position(|ch| ch.inbound.spi() == inbound_spi)
            .ok_or(DataplaneError::UnknownSpi(inbound_spi))?;
        let child = t.children.remove(pos);
        t.retired_in.add(&child.inbound.stats());
        t.retired_out.add(&child.out.sa.stats());
        tracing::info!(
            tunnel = id.0,
            in_spi = format_args!("{inbound_spi:#010x}"),
            "CHILD_SA removed"
        );
        self.publish(&c);
        Ok(())
    }

    /// Removes a tunnel with its SAs and routes.
    pub fn remove_tunnel(&self, id: TunnelId) -> Result<(), DataplaneError> {
        let mut guard = self.lock();
        let c = &mut *guard;
        let t = c
            .tunnels
            .remove(&id)
            .ok_or(DataplaneError::UnknownTunnel(id))?;
        let result = self.update_kernel_routes(&mut c.kernel_routes, &t.routes, &[]);
        self.publish(c);
        result
    }

    /// Counters of a tunnel.
    pub fn counters(&self, id: TunnelId) -> Result<TunnelCounters, DataplaneError> {
        let c = self.lock();
        let t = c
            .tunnels
            .get(&id)
            .ok_or(DataplaneError::UnknownTunnel(id))?;
        let mut out = TunnelCounters {
            inbound: t.retired_in,
            outbound: t.retired_out,
            no_sa_drops: t.shared.no_sa_drops.load(Ordering::Relaxed),
            frag_needed_sent: t.shared.frag_needed.load(Ordering::Relaxed),
            blocked_inbound: t.shared.blocked_inbound.load(Ordering::Relaxed),
            last_inbound: match t.shared.last_inbound.load(Ordering::Relaxed) {
                0 => None,
                ms => Some(self.shared.epoch + Duration::from_millis(ms - 1)),
            },
            outbound_sequence: t.children.last().map_or(0, |ch| ch.out.sa.sequence()),
        };
        for ch in &t.children {
            out.inbound.add(&ch.inbound.stats());
            out.outbound.add(&ch.out.sa.stats());
        }
        Ok(out)
    }

    /// The inner MTU of a tunnel's current outbound SA, if it has one.
    pub fn tunnel_mtu(&self, id: TunnelId) -> Option<u16> {
        self.lock()
            .tunnels
            .get(&id)?
            .children
            .last()
            .map(|ch| ch.out.mtu)
    }

    /// Engine-wide counters.
    pub fn stats(&self) -> DataplaneStats {
        let g = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DataplaneStats {
            unknown_spi: l(&g.unknown_spi),
            no_route: l(&g.no_route),
            malformed: l(&g.malformed),
            keepalives: l(&g.keepalives),
            events_dropped: l(&g.events_dropped),
            send_errors: l(&g.send_errors),
        }
    }

    /// Rebuilds the workers' snapshot from the control state.
    fn publish(&self, c: &Control) {
        let mut routes = Vec::new();
        let mut tunnels = Vec::new();
        let mut inbound = Vec::new();
        for (idx, (id, t)) in c.tunnels.iter().enumerate() {
            routes.extend(t.routes.iter().map(|&r| (r, idx)));
            inbound.extend(t.children.iter().map(|ch| (ch.inbound.clone(), idx)));
            tunnels.push(TunnelEntry {
                id: *id,
                out: t.children.last().map(|ch| ch.out.clone()),
                shared: t.shared.clone(),
                forward_inbound: t.forward_inbound,
            });
        }
        let host_addrs = c.host_addrs.iter().copied().collect();
        self.shared.tables.store(Arc::new(
            Tables::new(routes, tunnels, inbound).with_host_addrs(host_addrs),
        ));
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let c = self.control.get_mut().unwrap_or_else(|p| p.into_inner());
        for p in c.kernel_routes.take() {
            let _ = kernel::del_route(&self.tun_name, p);
        }
    }
}
