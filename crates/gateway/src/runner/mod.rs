//! The tokio runner: owns the UDP 500 sockets and the data plane, feeds the IKE endpoints bytes and
//! time, carries out what it decides (datagrams, SAs, routes) and publishes each tunnel's status.

mod bgp;
mod probe;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::future::pending;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_bgp::{Advertised, Speaker, Status as BgpSnapshot};
use strait_dataplane::{ChildSa, Dataplane, DataplaneConfig, DataplaneEvent, RouteRule, TunnelId};
use strait_ike::v2::{DeleteReason, Event, FailureReason};
use strait_model::BgpRoute;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Span, debug, error, info, info_span, warn};

use crate::health::{Check, EchoReply, IcmpSocket};
use crate::ike::{Ike, Session};
use crate::ikecfg::IKE_PORT;
use crate::status::{IkeState, IpsecState, Snapshot, StatusBoard};
use crate::{GatewayError, TunnelSpec, selectors};

/// How often inbound traffic is checked (it tells DPD the peer is alive).
const TRAFFIC_CHECK: Duration = Duration::from_secs(1);

/// Least time between two log lines counting a tunnel's dropped inbound packets.
const BLOCKED_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Interval of NAT keepalives on UDP-encapsulated tunnels (RFC 3948 §4: 20 s by default).
const NAT_KEEPALIVE: Duration = Duration::from_secs(20);

/// A running gateway; dropping it without [`Gateway::shutdown`] stops it without telling peers.
pub struct Gateway {
    stop: Option<oneshot::Sender<()>>,
    desired: mpsc::UnboundedSender<Vec<TunnelSpec>>,
    task: JoinHandle<Result<(), GatewayError>>,
}

impl Gateway {
    /// Starts the data plane (TUN device `tun_name`, IKE and ESP on `local_addrs`) and the tunnels;
    /// returns the gateway and a receiver of status snapshots.
    pub async fn start(
        tun_name: &str,
        local_addrs: Vec<Ipv4Addr>,
        specs: Vec<TunnelSpec>,
    ) -> Result<(Gateway, watch::Receiver<Snapshot>), GatewayError> {
        for spec in &specs {
            spec.check()?;
        }
        let (board, status) = StatusBoard::new([]);
        let runner = Runner::new(tun_name, local_addrs, board).await?;
        let (stop, stopped) = oneshot::channel();
        let (desired, commands) = mpsc::unbounded_channel();
        // The runner takes the first set like any later one.
        let _ = desired.send(specs);
        let task = tokio::spawn(runner.run(stopped, commands));
        Ok((
            Gateway {
                stop: Some(stop),
                desired,
                task,
            },
            status,
        ))
    }

    /// Makes `specs` the gateway's tunnels: new ones start, removed ones are deleted (telling the
    /// peer), changed ones renegotiate; a change of routes or failover role only reroutes.
    pub fn apply(&self, specs: Vec<TunnelSpec>) -> Result<(), GatewayError> {
        self.desired
            .send(specs)
            .map_err(|_| GatewayError::Runner("the runner has stopped".into()))
    }

    /// Deletes every SA (telling the peers), stops, and returns the runner's error if it failed.
    pub async fn shutdown(mut self) -> Result<(), GatewayError> {
        if let Some(stop) = self.stop.take() {
            // The runner may have ended already; its result says why.
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| GatewayError::Runner(e.to_string()))?
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An IKE datagram received on a UDP 500 socket.
struct Datagram {
    local: SocketAddrV4,
    remote: SocketAddrV4,
    data: Vec<u8>,
}

/// One tunnel's runtime state beside its IKE session.
struct Tunnel {
    spec: TunnelSpec,
    session: Session,
    dp: TunnelId,
    /// Carries `connection=` on every line logged about this tunnel.
    span: Span,
    /// Keep negotiating after failures (EffectImmediately, traffic arrived, or it was up once).
    wants_up: bool,
    /// A negotiation we started has not ended yet.
    connecting: bool,
    ike_up: bool,
    failures: u32,
    retry_at: Option<Instant>,
    /// Installed CHILD_SA pairs, (inbound SPI, outbound SPI).
    children: Vec<(u32, u32)>,
    /// The routes now given to the data plane.
    active_routes: Vec<RouteRule>,
    /// A standby tunnel now carries its connection's traffic (for the log).
    carrying: bool,
    /// The connection's health check, when enabled.
    health: Option<Check>,
    /// The last IPsec SA went (or phase 2 failed) while the IKE SA stayed: check once the
    /// pending events are handled.
    orphaned: bool,
    /// The data plane's last authenticated inbound packet at the last check.
    last_inbound: Option<Instant>,
    /// Outer addresses of the newest CHILD_SA when it is UDP-encapsulated (NAT keepalives go there).
    encap: Option<(SocketAddrV4, SocketAddrV4)>,
    /// When the last NAT keepalive was sent.
    keepalive_at: Option<Instant>,
    /// Inbound packets dropped for want of forwarding, as last logged, and when.
    blocked_logged: (u64, Option<Instant>),
    /// The eBGP speaker inside this tunnel, when BGP is enabled.
    speaker: Option<Speaker>,
    /// Prefixes the BGP peer announces (empty while its session is down).
    learned: Vec<BgpRoute>,
    /// What the speaker was last asked to advertise.
    advertised: Advertised,
}

impl Tunnel {
    /// The BGP address this tunnel put on the TUN device, if its speaker runs.
    fn bgp_address(&self) -> Option<Ipv4Addr> {
        self.spec
            .bgp
            .as_ref()
            .filter(|_| self.speaker.is_some())
            .map(|b| b.local_ip)
    }

    /// The health-check source this tunnel put on the TUN device, if its check runs.
    fn probe_address(&self) -> Option<Ipv4Addr> {
        self.health.as_ref().map(|c| c.spec.sip)
    }
}

/// Takes an address a tunnel added off the TUN device.
fn release_address(dp: &Dataplane, t: &Tunnel, addr: Option<Ipv4Addr>) {
    if let Some(addr) = addr {
        if let Err(e) = dp.remove_address(addr) {
            warn!(parent: &t.span, tunnel = %t.spec.id, "removing address {addr} from the TUN device: {e}");
        }
    }
}

/// Tells the data plane whether the tunnel's inbound traffic is forwarded, and says so.
fn set_forwarding(dp: &Dataplane, t: &Tunnel) {
    let forward = t.spec.forward_inbound;
    match dp.set_inbound_forwarding(t.dp, forward) {
        Ok(()) if forward => {
            info!(parent: &t.span, tunnel = %t.spec.id, "inbound traffic is forwarded again");
        }
        Ok(()) => info!(parent: &t.span, tunnel = %t.spec.id,
                        "inbound traffic is dropped: not associated with the route table"),
        Err(e) => error!(parent: &t.span, tunnel = %t.spec.id, "setting inbound forwarding: {e}"),
    }
}

struct Runner {
    endpoint: Ike,
    /// Running tunnels by their data-plane id.
    tunnels: BTreeMap<u64, Tunnel>,
    next_dp_id: u64,
    by_session: HashMap<Session, u64>,
    ike_sockets: HashMap<Ipv4Addr, Arc<UdpSocket>>,
    inbox: mpsc::Receiver<Datagram>,
    readers: Vec<JoinHandle<()>>,
    dp: Dataplane,
    dp_events: mpsc::Receiver<DataplaneEvent>,
    board: StatusBoard,
    /// BGP session snapshots of each tunnel's speaker, by tunnel key.
    bgp_tx: mpsc::UnboundedSender<(u64, BgpSnapshot)>,
    bgp_rx: mpsc::UnboundedReceiver<(u64, BgpSnapshot)>,
    /// The health checks' ICMP socket, opened with the first check.
    icmp: Option<Arc<IcmpSocket>>,
    echo_tx: mpsc::UnboundedSender<EchoReply>,
    echo_rx: mpsc::UnboundedReceiver<EchoReply>,
}

impl Runner {
    async fn new(
        tun_name: &str,
        mut local_addrs: Vec<Ipv4Addr>,
        board: StatusBoard,
    ) -> Result<Runner, GatewayError> {
        local_addrs.sort();
        local_addrs.dedup();
        let (dp, dp_events) =
            Dataplane::start(DataplaneConfig::new(tun_name, local_addrs.clone()))?;
        let (tx, inbox) = mpsc::channel(1024);
        let mut ike_sockets = HashMap::new();
        let mut readers = Vec::new();
        for ip in local_addrs {
            let addr = SocketAddrV4::new(ip, IKE_PORT);
            let sock = Arc::new(
                UdpSocket::bind(addr)
                    .await
                    .map_err(|e| GatewayError::Bind(addr, e))?,
            );
            readers.push(tokio::spawn(read_ike(sock.clone(), addr, tx.clone())));
            ike_sockets.insert(ip, sock);
        }
        let (bgp_tx, bgp_rx) = mpsc::unbounded_channel();
        let (echo_tx, echo_rx) = mpsc::unbounded_channel();
        Ok(Runner {
            icmp: None,
            echo_tx,
            echo_rx,
            bgp_tx,
            bgp_rx,
            endpoint: Ike::new(),
            tunnels: BTreeMap::new(),
            next_dp_id: 1,
            by_session: HashMap::new(),
            ike_sockets,
            inbox,
            readers,
            dp,
            dp_events,
            board,
        })
    }

    async fn run(
        mut self,
        mut stop: oneshot::Receiver<()>,
        mut desired: mpsc::UnboundedReceiver<Vec<TunnelSpec>>,
    ) -> Result<(), GatewayError> {
        let mut check = tokio::time::interval(TRAFFIC_CHECK);
        loop {
            self.flush().await;
            let wake = [
                self.endpoint.poll_timeout(),
                self.tunnels.values().filter_map(|t| t.retry_at).min(),
                self.health_checks().map(|(_, c)| c.next_at()).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let timer = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                Some(specs) = desired.recv() => self.apply(specs).await,
                Some((k, snapshot)) = self.bgp_rx.recv() => self.on_bgp(k, &snapshot),
                Some(reply) = self.echo_rx.recv() => self.on_echo_reply(&reply, Instant::now()),
                Some(d) = self.inbox.recv() => {
                    self.endpoint.handle_datagram(Instant::now(), d.local, d.remote, &d.data);
                }
                ev = self.dp_events.recv() => match ev {
                    Some(ev) => self.on_dataplane(ev),
                    None => return Err(GatewayError::DataplaneStopped),
                },
                _ = timer => {
                    let now = Instant::now();
                    self.endpoint.handle_timeout(now);
                    self.retry_due(now);
                    self.probe_due(now);
                }
                _ = check.tick() => self.check_traffic(Instant::now()),
            }
        }
        let now = Instant::now();
        for t in self.tunnels.values() {
            self.endpoint.delete(t.session, now);
        }
        self.flush().await;
        Ok(())
    }

    /// Brings the running tunnels to `specs`.
    async fn apply(&mut self, specs: Vec<TunnelSpec>) {
        let mut wanted: BTreeMap<String, TunnelSpec> = BTreeMap::new();
        for spec in specs {
            match spec.check() {
                Ok(()) if !self.ike_sockets.contains_key(&spec.local_ip) => {
                    error!(connection = %spec.connection, tunnel = %spec.id,
                           "cannot run: gateway IP {} is not an address of this host", spec.local_ip);
                }
                Ok(()) => {
                    wanted.insert(spec.id.clone(), spec);
                }
                Err(e) => {
                    error!(connection = %spec.connection, tunnel = %spec.id, "cannot run: {e}")
                }
            }
        }
        let mut gone = Vec::new();
        let mut bgp_changed = Vec::new();
        let mut health_changed = Vec::new();
        for (&k, t) in &mut self.tunnels {
            match wanted.remove(&t.spec.id) {
                Some(spec) if spec == t.spec => {}
                Some(spec) if t.spec.same_peering(&spec) => {
                    info!(parent: &t.span, tunnel = %spec.id, routes = ?spec.routes, bgp = ?spec.bgp,
                          health = ?spec.health, forward_inbound = spec.forward_inbound,
                          "routes, BGP, health check or inbound forwarding changed");
                    let same_session = match (&spec.bgp, &t.spec.bgp) {
                        (Some(new), Some(old)) => new.same_session(old),
                        (new, old) => new == old,
                    };
                    if !same_session {
                        release_address(&self.dp, t, t.bgp_address());
                        bgp_changed.push(k);
                    }
                    if spec.health != t.spec.health {
                        release_address(&self.dp, t, t.probe_address());
                        health_changed.push(k);
                    }
                    let forwarding_changed = spec.forward_inbound != t.spec.forward_inbound;
                    t.spec = spec;
                    if forwarding_changed {
                        set_forwarding(&self.dp, t);
                    }
                }
                Some(spec) => {
                    info!(parent: &t.span, tunnel = %spec.id, "configuration changed: negotiating again");
                    gone.push(k);
                    wanted.insert(spec.id.clone(), spec);
                }
                None => {
                    info!(parent: &t.span, tunnel = %t.spec.id, "connection deleted: deleting its SAs");
                    gone.push(k);
                }
            }
        }
        let now = Instant::now();
        for &k in &gone {
            if let Some(t) = self.tunnels.get(&k) {
                self.endpoint.delete(t.session, now);
            }
        }
        // Sends the Deletes and acts on the sessions' last events before they are forgotten.
        self.flush().await;
        for k in gone {
            self.remove(k);
        }
        for k in bgp_changed {
            self.start_bgp(k).await;
        }
        for k in health_changed {
            self.start_health(k, now);
        }
        for spec in wanted.into_values() {
            match self.add(spec, now) {
                Ok(k) => {
                    self.start_bgp(k).await;
                    self.start_health(k, now);
                }
                Err(e) => error!("adding a tunnel to the data plane failed: {e}"),
            }
        }
        self.reroute();
    }

    /// Starts running a tunnel; returns its key.
    fn add(&mut self, spec: TunnelSpec, now: Instant) -> Result<u64, GatewayError> {
        let key = self.next_dp_id;
        self.next_dp_id += 1;
        let dp = TunnelId(key);
        self.dp.add_tunnel(dp)?;
        let session = self.endpoint.add_session(&spec);
        let span = info_span!("vpn", connection = %spec.connection);
        info!(parent: &span, tunnel = %spec.id, version = %spec.ike.ike_version, local = %spec.local_ip,
              peer = %spec.peer_ip, local_subnet = ?spec.local_subnet, remote_subnet = ?spec.remote_subnet,
              routes = ?spec.routes, standby_of = ?spec.standby_of, "tunnel configured");
        self.board.insert(&spec.id);
        self.by_session.insert(session, key);
        let immediately = spec.effect_immediately;
        self.tunnels.insert(
            key,
            Tunnel {
                wants_up: immediately,
                spec,
                session,
                dp,
                span,
                connecting: false,
                ike_up: false,
                failures: 0,
                retry_at: None,
                children: Vec::new(),
                active_routes: Vec::new(),
                carrying: false,
                health: None,
                orphaned: false,
                last_inbound: None,
                encap: None,
                keepalive_at: None,
                blocked_logged: (0, None),
                speaker: None,
                learned: Vec::new(),
                advertised: Advertised::new(),
            },
        );
        if let Some(t) = self.tunnels.get(&key).filter(|t| !t.spec.forward_inbound) {
            set_forwarding(&self.dp, t);
        }
        if immediately {
            self.initiate(key, now, "EffectImmediately");
        }
        Ok(key)
    }

    /// Stops running a tunnel whose SAs were deleted; its data-plane SAs and routes go with it.
    fn remove(&mut self, k: u64) {
        let Some(t) = self.tunnels.remove(&k) else {
            return;
        };
        self.endpoint.remove_session(t.session);
        self.by_session.remove(&t.session);
        if let Err(e) = self.dp.remove_tunnel(t.dp) {
            warn!(parent: &t.span, tunnel = %t.spec.id, "removing the tunnel from the data plane: {e}");
        }
        release_address(&self.dp, &t, t.bgp_address());
        release_address(&self.dp, &t, t.probe_address());
        self.board.remove(&t.spec.id);
    }

    /// Sends what the endpoint wants sent and acts on its events, until it has nothing more.
    async fn flush(&mut self) {
        loop {
            if let Some(tx) = self.endpoint.poll_transmit() {
                self.send(tx.local, tx.remote, &tx.data).await;
            } else if let Some((session, ev)) = self.endpoint.poll_event() {
                if let Some(&k) = self.by_session.get(&session) {
                    self.on_event(k, ev, Instant::now());
                }
            } else if !self.renegotiate_orphans(Instant::now()) {
                return;
            }
        }
    }

    async fn send(&self, local: SocketAddrV4, remote: SocketAddrV4, data: &[u8]) {
        let result = if local.port() == IKE_PORT {
            match self.ike_sockets.get(local.ip()) {
                Some(sock) => sock.send_to(data, remote).await.map(drop),
                None => Err(std::io::Error::other("no IKE socket on this address")),
            }
        } else {
            self.dp
                .send_ike(local, remote, data)
                .map_err(std::io::Error::other)
        };
        if let Err(e) = result {
            warn!(%local, %remote, "sending IKE failed: {e}");
        }
    }

    fn on_dataplane(&mut self, ev: DataplaneEvent) {
        match ev {
            DataplaneEvent::Ike {
                local,
                remote,
                data,
            } => {
                self.endpoint
                    .handle_datagram(Instant::now(), local, remote, &data);
            }
            DataplaneEvent::Acquire { tunnel } => {
                // Traffic for a connection starts all its tunnels, so the standby is ready too.
                let Some(connection) = self
                    .tunnels
                    .get(&tunnel.0)
                    .map(|t| t.spec.connection.clone())
                else {
                    return;
                };
                let idle: Vec<u64> = self
                    .tunnels
                    .iter()
                    .filter(|(k, t)| {
                        (**k == tunnel.0
                            || (!connection.is_empty() && t.spec.connection == connection))
                            && !t.ike_up
                            && !t.connecting
                            && t.retry_at.is_none()
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for k in idle {
                    self.initiate(k, Instant::now(), "traffic for the remote networks");
                }
            }
        }
    }

    fn initiate(&mut self, k: u64, now: Instant, why: &str) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        info!(parent: &t.span, tunnel = %t.spec.id, peer = %t.spec.peer_ip, "negotiating: {why}");
        t.wants_up = true;
        t.connecting = true;
        t.retry_at = None;
        self.endpoint.initiate(t.session, now);
        let up = t.ike_up;
        self.board.update(&t.spec.id, |s| {
            s.attempts += 1;
            if !up {
                s.ike_state = IkeState::Connecting;
            }
        });
    }

    fn retry_due(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .tunnels
            .iter()
            .filter(|(_, t)| t.retry_at.is_some_and(|at| at <= now))
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            self.initiate(k, now, "retry after failure");
        }
    }

    /// Schedules the next negotiation attempt with backoff, if the tunnel should be up.
    fn schedule_retry(&mut self, k: u64, now: Instant) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        if !t.wants_up || t.ike_up || t.retry_at.is_some() {
            return;
        }
        let delay = t.spec.timing.backoff(t.failures.saturating_sub(1));
        info!(parent: &t.span, tunnel = %t.spec.id, "negotiating again in {delay:?}");
        t.retry_at = Some(now + delay);
    }

    /// Tells the endpoint about ESP that arrived, so DPD does not probe a peer that is talking,
    /// keeps NAT mappings of UDP-encapsulated tunnels open, and logs how many inbound packets a
    /// tunnel without forwarding dropped.
    fn check_traffic(&mut self, now: Instant) {
        for t in self.tunnels.values_mut() {
            if let Some((local, remote)) = t.encap {
                if t.keepalive_at
                    .is_none_or(|at| now.duration_since(at) >= NAT_KEEPALIVE)
                {
                    t.keepalive_at = Some(now);
                    if let Err(e) = self.dp.send_nat_keepalive(local, remote) {
                        debug!(parent: &t.span, tunnel = %t.spec.id, "NAT keepalive to {remote} failed: {e}");
                    }
                }
            }
            let Ok(c) = self.dp.counters(t.dp) else {
                continue;
            };
            let (logged, logged_at) = t.blocked_logged;
            if c.blocked_inbound > logged
                && logged_at.is_none_or(|at| now.duration_since(at) >= BLOCKED_LOG_INTERVAL)
            {
                info!(parent: &t.span, tunnel = %t.spec.id, dropped = c.blocked_inbound,
                      "inbound packets dropped: not associated with the route table");
                t.blocked_logged = (c.blocked_inbound, Some(now));
            }
            if let Some(at) = c.last_inbound.filter(|&at| Some(at) > t.last_inbound) {
                t.last_inbound = Some(at);
                self.endpoint.note_inbound_traffic(t.session, at.min(now));
            }
        }
    }

    fn on_event(&mut self, k: u64, ev: Event, now: Instant) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        let id = t.spec.id.clone();
        let _span = t.span.clone().entered();
        match ev {
            Event::IkeSaEstablished {
                local,
                remote,
                rekeyed,
                ..
            } => {
                info!(tunnel = %id, %local, %remote, rekeyed, "IKE SA established");
                t.ike_up = true;
                t.connecting = false;
                t.wants_up = true;
                t.retry_at = None;
                self.board.update(&id, |s| {
                    s.ike_state = IkeState::Established;
                    s.ike_sas_established += 1;
                    if !rekeyed {
                        s.last_error = None;
                    }
                });
            }
            Event::ChildSaEstablished {
                inbound,
                outbound,
                local_ts,
                remote_ts,
                local,
                remote,
                udp_encap,
                replaces,
            } => {
                let (spi_in, spi_out) = (inbound.spi, outbound.spi);
                info!(tunnel = %id, spi_in = %format!("{spi_in:08x}"), spi_out = %format!("{spi_out:08x}"),
                      local_ts = ?selectors::describe(&local_ts), remote_ts = ?selectors::describe(&remote_ts),
                      %local, %remote, udp_encap, rekey = replaces.is_some(), "CHILD_SA established");
                let sa = ChildSa {
                    inbound: selectors::sa_keys(inbound),
                    outbound: selectors::sa_keys(outbound),
                    local_ts: selectors::ranges(&local_ts),
                    remote_ts: selectors::ranges(&remote_ts),
                    local,
                    remote,
                    udp_encap,
                };
                if let Err(e) = self.dp.install_child_sa(t.dp, sa) {
                    error!(tunnel = %id, "installing the CHILD_SA into the data plane failed: {e}");
                    self.board
                        .update(&id, |s| s.last_error = Some(format!("data plane: {e}")));
                    return;
                }
                t.children.push((spi_in, spi_out));
                // Failures count until traffic can flow, so a phase 2 that keeps failing backs off.
                t.failures = 0;
                t.encap = udp_encap.then_some((local, remote));
                self.board.update(&id, |s| {
                    s.diagnosis = None;
                    s.ipsec_state = IpsecState::Established;
                    s.child_sas_installed += 1;
                    s.spi_in = Some(format!("{spi_in:08x}"));
                    s.spi_out = Some(format!("{spi_out:08x}"));
                    s.udp_encap = udp_encap;
                });
                self.reroute();
            }
            Event::ChildSaDeleted { in_spi, out_spi } => {
                debug!(tunnel = %id, in_spi = %format!("{in_spi:08x}"), out_spi = %format!("{out_spi:08x}"), "CHILD_SA deleted");
                self.remove_child(k, in_spi, out_spi);
            }
            Event::IkeSaDeleted {
                reason: DeleteReason::Replaced,
            } => {
                debug!(tunnel = %id, "IKE SA replaced by its rekeyed successor");
            }
            Event::IkeSaDeleted { reason } => {
                let line = format!("IKE SA deleted: {}", delete_reason(&reason));
                info!(tunnel = %id, "{line}");
                t.ike_up = false;
                t.connecting = false;
                if let DeleteReason::Failed(r) = &reason {
                    record_failure(&self.board, &t.spec, r, &line);
                }
                for (in_spi, out_spi) in std::mem::take(&mut t.children) {
                    self.remove_child(k, in_spi, out_spi);
                }
                self.board.update(&id, |s| {
                    s.ike_state = IkeState::Idle;
                    s.ipsec_state = IpsecState::Down;
                });
                if reason != DeleteReason::Local {
                    self.schedule_retry(k, now);
                }
            }
            Event::Failed { reason } => {
                let line = format!("negotiation failed: {reason}");
                warn!(tunnel = %id, peer = %t.spec.peer_ip, "{line}");
                t.failures += 1;
                t.connecting = false;
                record_failure(&self.board, &t.spec, &reason, &line);
                if !t.ike_up {
                    self.board.update(&id, |s| s.ike_state = IkeState::Idle);
                }
                if t.ike_up && t.children.is_empty() {
                    // Phase 2 failed on an IKE SA that carries nothing else.
                    t.orphaned = true;
                } else if reason != FailureReason::TsUnacceptable {
                    self.schedule_retry(k, now);
                }
            }
        }
    }

    fn remove_child(&mut self, k: u64, in_spi: u32, out_spi: u32) {
        let Some(t) = self.tunnels.get_mut(&k) else {
            return;
        };
        if let Err(e) = self.dp.remove_sa(in_spi) {
            debug!(parent: &t.span, tunnel = %t.spec.id, "removing CHILD_SA {in_spi:08x}: {e}");
        }
        t.children.retain(|&(a, b)| (a, b) != (in_spi, out_spi));
        if t.children.is_empty() {
            t.encap = None;
            // Unless the IKE SA goes too (its teardown reports the children first), the peer
            // removed the last IPsec SA and kept the IKE SA.
            t.orphaned |= t.ike_up;
            self.board.update(&t.spec.id, |s| {
                s.ipsec_state = IpsecState::Down;
                s.spi_in = None;
                s.spi_out = None;
            });
            self.reroute();
        }
    }

    /// Deletes the IKE SAs left carrying no IPsec SA once the events that orphaned them are all
    /// handled, and negotiates both again after the usual backoff (the IKE cores set up one IPsec
    /// SA with each IKE SA). Returns whether it deleted any.
    fn renegotiate_orphans(&mut self, now: Instant) -> bool {
        let mut orphans = Vec::new();
        for (&k, t) in &mut self.tunnels {
            if std::mem::take(&mut t.orphaned) && t.ike_up && t.children.is_empty() {
                info!(parent: &t.span, tunnel = %t.spec.id,
                      "the IKE SA carries no IPsec SA: deleting it to negotiate both again");
                self.endpoint.delete(t.session, now);
                t.ike_up = false;
                t.wants_up = true;
                t.failures = t.failures.max(1);
                orphans.push(k);
            }
        }
        for &k in &orphans {
            self.schedule_retry(k, now);
        }
        !orphans.is_empty()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

/// Puts a failure on the board: its text, and its diagnosis in the API's terms (keeping what an
/// earlier failure revealed of the peer's settings).
fn record_failure(board: &StatusBoard, spec: &TunnelSpec, reason: &FailureReason, line: &str) {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let next = crate::diagnose(spec, reason, at_ms, line);
    board.update(&spec.id, |s| {
        s.last_error = Some(reason.to_string());
        s.diagnosis = Some(crate::refine(s.diagnosis.as_ref(), next));
    });
}

fn delete_reason(r: &DeleteReason) -> String {
    match r {
        DeleteReason::Local => "deleted locally".into(),
        DeleteReason::Remote => "the peer deleted it".into(),
        DeleteReason::Expired => "lifetime expired".into(),
        DeleteReason::Replaced => "replaced".into(),
        DeleteReason::Failed(f) => f.to_string(),
    }
}

/// Forwards datagrams from one UDP 500 socket to the runner.
async fn read_ike(sock: Arc<UdpSocket>, local: SocketAddrV4, tx: mpsc::Sender<Datagram>) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, std::net::SocketAddr::V4(remote))) => {
                let data = buf.get(..n).unwrap_or_default().to_vec();
                if tx
                    .send(Datagram {
                        local,
                        remote,
                        data,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                warn!(%local, "receiving IKE failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
