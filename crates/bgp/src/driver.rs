//! Thin tokio driver: owns the TCP connection of one [`Session`] and moves bytes and time.
//!
//! It connects from a local address to the peer on TCP 179 (active) or accepts the peer's
//! connection (passive), optionally signs segments with an RFC 2385 MD5 key through the
//! kernel's `TCP_MD5SIG`, reconnects with exponential backoff, and exposes a [`Speaker`] handle.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::message::Prefix;
use crate::session::{
    Advertised, DownReason, Event, Negotiated, Route, Session, SessionConfig, State,
};

/// How long a closing session may take to send its last bytes (the NOTIFICATION).
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// Longest key `TCP_MD5SIG` accepts.
const MD5_KEY_MAX: usize = 80;

/// Who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// We connect to the peer.
    Active,
    /// We listen and accept only the peer's connection.
    Passive,
}

/// Settings of one driven session.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The BGP session settings.
    pub session: SessionConfig,
    /// Our address: the source of connections, or where we listen.
    pub local_addr: Ipv4Addr,
    /// The peer's address.
    pub peer_addr: Ipv4Addr,
    /// TCP port (179).
    pub port: u16,
    /// Who opens the connection.
    pub mode: Mode,
    /// RFC 2385 MD5 key, if the session is signed.
    pub md5_key: Option<Vec<u8>>,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// First retry delay after a failed attempt or a lost session.
    pub min_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
}

impl DriverConfig {
    /// Active peering on port 179 without MD5, retrying after 1 s up to 60 s.
    pub fn new(session: SessionConfig, local_addr: Ipv4Addr, peer_addr: Ipv4Addr) -> Self {
        Self {
            session,
            local_addr,
            peer_addr,
            port: 179,
            mode: Mode::Active,
            md5_key: None,
            connect_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Errors starting a speaker.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The MD5 key is longer than the kernel accepts.
    #[error("MD5 key is {0} bytes, the kernel accepts at most 80")]
    Md5KeyTooLong(usize),
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
}

/// A snapshot of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Current state.
    pub state: State,
    /// What the current session's OPEN exchange agreed on.
    pub negotiated: Option<Negotiated>,
    /// Routes learned from the peer.
    pub learned: BTreeMap<Prefix, Route>,
    /// Why the session last went down, if it ever did.
    pub last_down: Option<DownReason>,
}

enum Command {
    Advertise(Advertised),
    RouteRefresh,
}

/// Handle to a running speaker; dropping it stops the session (with Cease).
pub struct Speaker {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Status>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<()>,
}

impl Speaker {
    /// Starts a speaker on the current tokio runtime (binding the listener first in passive mode).
    pub async fn start(config: DriverConfig) -> Result<Speaker, DriverError> {
        if let Some(key) = &config.md5_key {
            if key.len() > MD5_KEY_MAX {
                return Err(DriverError::Md5KeyTooLong(key.len()));
            }
        }
        let listener = match config.mode {
            Mode::Passive => Some(listen(&config)?),
            Mode::Active => None,
        };
        let (commands, cmd_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status {
            state: State::Idle,
            negotiated: None,
            learned: BTreeMap::new(),
            last_down: None,
        });
        let task = tokio::spawn(
            Driver {
                config,
                listener,
                cmds: cmd_rx,
                events: event_tx,
                status: status_tx,
                was_established: false,
            }
            .run(),
        );
        Ok(Speaker {
            commands,
            status,
            events,
            task,
        })
    }

    /// Replaces the routes advertised to the peer.
    pub fn advertise(&self, routes: Advertised) {
        let _ = self.commands.send(Command::Advertise(routes));
    }

    /// Asks the peer to re-send its routes (if the session is up and the peer supports it).
    pub fn request_route_refresh(&self) {
        let _ = self.commands.send(Command::RouteRefresh);
    }

    /// The current state and learned routes.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The next session event; `None` once the speaker has stopped.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Stops the session, sending Cease to the peer, and waits for the driver to finish.
    pub async fn shutdown(self) {
        let Speaker { commands, task, .. } = self;
        drop(commands);
        let _ = task.await;
    }
}

struct Driver {
    config: DriverConfig,
    listener: Option<TcpListener>,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    status: watch::Sender<Status>,
    /// The session reached Established since the last connection attempt.
    was_established: bool,
}

/// Whether the driver keeps going after a step.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

impl Driver {
    async fn run(mut self) {
        let mut session = Session::new(self.config.session.clone());
        let config = self.config.clone();
        let listener = self.listener.take();
        let mut backoff = config.min_backoff;
        loop {
            session.start(config.mode == Mode::Passive);
            self.publish(&mut session);
            let conn = {
                let attempt = connect_or_accept(&config, listener.as_ref());
                tokio::pin!(attempt);
                loop {
                    tokio::select! {
                        conn = &mut attempt => break conn,
                        cmd = self.cmds.recv() => if self.command(&mut session, cmd) == Flow::Stop { return },
                    };
                }
            };
            if let Ok(stream) = conn {
                if self.drive(&mut session, stream).await == Flow::Stop {
                    return;
                }
                if std::mem::take(&mut self.was_established) {
                    backoff = config.min_backoff;
                }
            }
            session.connection_lost();
            self.publish(&mut session);
            if config.mode == Mode::Active {
                let pause = tokio::time::sleep(backoff);
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        () = &mut pause => break,
                        cmd = self.cmds.recv() => if self.command(&mut session, cmd) == Flow::Stop { return },
                    };
                }
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }

    /// Runs the session over one connection until it goes down or the handle is dropped.
    async fn drive(&mut self, session: &mut Session, stream: TcpStream) -> Flow {
        let (mut rd, mut wr) = stream.into_split();
        let mut buf = vec![0u8; 16 * 1024];
        // Bytes the session produced that the socket has not taken yet. Writing happens inside
        // the select so that a peer which stops reading cannot stall the hold timer.
        let mut out: Vec<u8> = Vec::new();
        session.connection_up(Instant::now());
        loop {
            while let Some(bytes) = session.poll_transmit() {
                out.extend_from_slice(&bytes);
            }
            self.publish(session);
            if session.state() == State::Idle {
                // Best effort: let the final NOTIFICATION go out before the connection closes.
                let _ = tokio::time::timeout(FINAL_FLUSH, wr.write_all(&out)).await;
                return Flow::Continue;
            }
            let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                written = wr.write(&out), if !out.is_empty() => match written {
                    Ok(n) if n > 0 => { out.drain(..n.min(out.len())); }
                    _ => session.connection_lost(),
                },
                read = rd.read(&mut buf) => match read {
                    Ok(n) if n > 0 => session.handle_input(Instant::now(), buf.get(..n).unwrap_or_default()),
                    _ => session.connection_lost(),
                },
                () = sleep_until(deadline) => session.handle_timeout(Instant::now()),
                cmd = self.cmds.recv() => if self.command(session, cmd) == Flow::Stop {
                    out.extend(session.poll_transmit().unwrap_or_default());
                    let _ = tokio::time::timeout(FINAL_FLUSH, wr.write_all(&out)).await;
                    return Flow::Stop;
                },
            }
        }
    }

    fn command(&mut self, session: &mut Session, cmd: Option<Command>) -> Flow {
        match cmd {
            Some(Command::Advertise(routes)) => session.set_advertised(Instant::now(), routes),
            Some(Command::RouteRefresh) => {
                session.request_route_refresh();
            }
            None => {
                session.stop();
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Forwards pending events and refreshes the status snapshot.
    fn publish(&mut self, session: &mut Session) {
        let mut last_down = None;
        while let Some(event) = session.poll_event() {
            match &event {
                Event::Down { reason } => last_down = Some(reason.clone()),
                Event::Established => self.was_established = true,
                Event::RoutesLearned { .. } => {}
            }
            let _ = self.events.send(event);
        }
        self.status.send_modify(|s| {
            s.state = session.state();
            s.negotiated = session.negotiated();
            if s.learned != *session.learned() {
                s.learned = session.learned().clone();
            }
            if last_down.is_some() {
                s.last_down = last_down;
            }
        });
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn connect_or_accept(
    config: &DriverConfig,
    listener: Option<&TcpListener>,
) -> io::Result<TcpStream> {
    match listener {
        Some(listener) => loop {
            let (stream, from) = listener.accept().await?;
            if from.ip() == config.peer_addr {
                return Ok(stream);
            }
        },
        None => {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(config.local_addr.into(), 0))?;
            if let Some(key) = &config.md5_key {
                set_md5(&socket, config.peer_addr, key)?;
            }
            let peer = SocketAddr::V4(SocketAddrV4::new(config.peer_addr, config.port));
            tokio::time::timeout(config.connect_timeout, socket.connect(peer))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
        }
    }
}

fn listen(config: &DriverConfig) -> Result<TcpListener, DriverError> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    if let Some(key) = &config.md5_key {
        set_md5(&socket, config.peer_addr, key)?;
    }
    socket.bind(SocketAddr::V4(SocketAddrV4::new(
        config.local_addr,
        config.port,
    )))?;
    Ok(socket.listen(8)?)
}

/// Linux `struct tcp_md5sig` (include/uapi/linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_KEY_MAX],
}

/// Installs the RFC 2385 key for segments to and from `peer` on `socket`.
fn set_md5(socket: &TcpSocket, peer: Ipv4Addr, key: &[u8]) -> io::Result<()> {
    let keylen = u16::try_from(key.len())
        .ok()
        .filter(|&l| usize::from(l) <= MD5_KEY_MAX);
    let keylen = keylen.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: an all-zero bit pattern is valid for these plain C structs.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(peer).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
    unsafe { std::ptr::write((&raw mut sig.addr).cast::<libc::sockaddr_in>(), sin) };
    sig.keylen = keylen;
    sig.key
        .get_mut(..key.len())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
        .copy_from_slice(key);
    // SAFETY: the fd is a live TCP socket and `sig` is a correctly sized tcp_md5sig.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&raw const sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(local_asn: u32, peer_asn: u32, me: Ipv4Addr) -> SessionConfig {
        SessionConfig {
            local_asn,
            peer_asn,
            router_id: me,
            next_hop: me,
            hold_time: 9,
        }
    }

    /// Waits up to 10 s until `speaker` has learned exactly `want`.
    async fn learns(speaker: &Speaker, want: &[&str]) -> bool {
        let mut rx = speaker.watch_status();
        let done =
            rx.wait_for(|st| st.learned.keys().map(|p| p.to_string()).collect::<Vec<_>>() == want);
        tokio::time::timeout(Duration::from_secs(10), done)
            .await
            .is_ok()
    }

    /// Two speakers on loopback addresses: one active, one passive, exchange routes and
    /// follow a change of the advertised set.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_speakers_peer_over_loopback() {
        let (a, b): (Ipv4Addr, Ipv4Addr) =
            ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        // An unprivileged port unlikely to clash with other tests.
        let port = 17900 + (std::process::id() % 1000) as u16;
        let fast = |mut c: DriverConfig| {
            c.port = port;
            c.min_backoff = Duration::from_millis(50);
            c.md5_key = Some(b"s3cret".to_vec());
            c
        };
        let passive = Speaker::start(DriverConfig {
            mode: Mode::Passive,
            ..fast(DriverConfig::new(session(65530, 65531, b), b, a))
        })
        .await
        .unwrap();
        let active = Speaker::start(fast(DriverConfig::new(session(65531, 65530, a), a, b)))
            .await
            .unwrap();
        active.advertise([("10.0.0.0/16".parse().unwrap(), vec![])].into());
        passive.advertise([("192.168.0.0/24".parse().unwrap(), vec![])].into());
        let learned = |s: &Speaker| {
            s.status()
                .learned
                .keys()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        assert!(
            learns(&active, &["192.168.0.0/24"]).await,
            "active learned {:?}",
            learned(&active)
        );
        assert!(
            learns(&passive, &["10.0.0.0/16"]).await,
            "passive learned {:?}",
            learned(&passive)
        );
        assert_eq!(active.status().learned.values().next().unwrap().next_hop, b);
        assert_eq!(
            active
                .status()
                .negotiated
                .map(|n| (n.hold_time, n.four_octet)),
            Some((9, true))
        );
        active.advertise(Advertised::new());
        assert!(
            learns(&passive, &[]).await,
            "withdrawal reached the passive side"
        );
        // Shutting one side down sends Cease; the other sees it.
        active.shutdown().await;
        let mut rx = passive.watch_status();
        let down = rx.wait_for(|s| s.last_down.is_some());
        assert!(
            tokio::time::timeout(Duration::from_secs(10), down)
                .await
                .is_ok()
        );
        let reason = passive.status().last_down.unwrap();
        assert!(
            matches!(&reason, DownReason::ReceivedNotification(n) if n.code == 6),
            "passive side saw {reason:?}"
        );
        passive.shutdown().await;
    }

    #[tokio::test]
    async fn overlong_md5_keys_are_refused() {
        let me = "127.0.0.1".parse().unwrap();
        let mut c = DriverConfig::new(session(1, 2, me), me, me);
        c.md5_key = Some(vec![b'k'; 81]);
        assert!(matches!(
            Speaker::start(c).await,
            Err(DriverError::Md5KeyTooLong(81))
        ));
    }
}
