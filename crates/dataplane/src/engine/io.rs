//! Sockets of the engine: UDP 4500 endpoints with GSO/GRO (through quinn-udp) and raw ESP sockets.

use std::io::{IoSliceMut, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::DataplaneError;
use crate::ip::PROTO_ESP;

/// Socket buffer size asked for on every socket (wireguard-go found 7 MB worth it).
const SOCKET_BUFFER: usize = 8 << 20;

/// A UDP socket bound to `<local>:4500` with its offload state.
pub(crate) struct UdpEndpoint {
    sock: UdpSocket,
    state: UdpSocketState,
    local: SocketAddrV4,
}

impl UdpEndpoint {
    /// Binds a non-blocking socket (`SO_REUSEPORT`, so each worker has its own) with big buffers and GRO.
    pub fn bind(local: SocketAddrV4) -> Result<Self, DataplaneError> {
        let err = |what: &str| DataplaneError::io(format!("{what} UDP socket {local}"));
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err("creating"))?;
        s.set_reuse_port(true).map_err(err("configuring"))?;
        s.set_nonblocking(true).map_err(err("configuring"))?;
        s.bind(&SocketAddr::V4(local).into()).map_err(err("binding"))?;
        let sock: UdpSocket = s.into();
        let state = UdpSocketState::new(UdpSockRef::from(&sock)).map_err(err("configuring"))?;
        // Best effort: the kernel caps these unless we are privileged.
        let _ = state.set_send_buffer_size(UdpSockRef::from(&sock), SOCKET_BUFFER);
        let _ = state.set_recv_buffer_size(UdpSockRef::from(&sock), SOCKET_BUFFER);
        force_buffers(sock.as_raw_fd());
        Ok(Self { sock, state, local })
    }

    /// The bound address.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The socket's descriptor, for polling.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Most segments one GSO send may carry.
    pub fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Sends one datagram.
    pub fn send_to(&self, data: &[u8], to: SocketAddrV4) -> std::io::Result<()> {
        self.sock.send_to(data, to).map(|_| ())
    }

    /// Sends `contents` as datagrams of `segment` bytes each (the last may be shorter), in one GSO call.
    pub fn send_segments(&self, contents: &[u8], segment: usize, to: SocketAddrV4) -> std::io::Result<()> {
        let t = Transmit {
            destination: SocketAddr::V4(to),
            ecn: None,
            contents,
            segment_size: (contents.len() > segment).then_some(segment),
            src_ip: None,
        };
        self.state.try_send(UdpSockRef::from(&self.sock), &t)
    }

    /// Receives a batch (`recvmmsg`, GRO): fills `meta` and returns how many buffers got data.
    pub fn recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> std::io::Result<usize> {
        self.state.recv(UdpSockRef::from(&self.sock), bufs, meta)
    }
}

/// Raises socket buffers past `net.core.*mem_max` where we are privileged (root in a namespace).
fn force_buffers(fd: RawFd) {
    let size = SOCKET_BUFFER as libc::c_int;
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE] {
        // SAFETY: fd is a live socket; the option value is a c_int on the stack of the right size.
        unsafe {
            libc::setsockopt(fd, libc::SOL_SOCKET, opt, (&size as *const libc::c_int).cast(), size_of::<libc::c_int>() as u32);
        }
    }
}

/// A non-blocking raw socket for IP protocol 50 bound to `local`.
pub(crate) fn raw_esp_socket(local: Ipv4Addr) -> Result<Socket, DataplaneError> {
    let err = |what: &str| DataplaneError::io(format!("{what} raw ESP socket on {local}"));
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(PROTO_ESP)))).map_err(err("creating"))?;
    s.set_nonblocking(true).map_err(err("configuring"))?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(local, 0)).into()).map_err(err("binding"))?;
    force_buffers(s.as_raw_fd());
    Ok(s)
}

/// A raw socket that sends whole IPv4 packets we build (ICMP errors); the kernel routes them
/// and fills in a zero source address and the header checksum.
pub(crate) fn raw_ip_socket() -> Result<Socket, DataplaneError> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
        .map_err(DataplaneError::io("creating a raw IP socket"))?;
    s.set_nonblocking(true).map_err(DataplaneError::io("configuring a raw IP socket"))?;
    Ok(s)
}

/// Receives one IP packet (header included) from a raw socket.
pub(crate) fn raw_recv(s: &Socket, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut r: &Socket = s;
    r.read(buf)
}

/// Sends `data` to `to` through a raw socket (an ESP packet, or a whole IP packet on an `IPPROTO_RAW` socket).
pub(crate) fn raw_send(s: &Socket, data: &[u8], to: Ipv4Addr) -> std::io::Result<()> {
    s.send_to(data, &SockAddr::from(SocketAddrV4::new(to, 0))).map(|_| ())
}

/// Waits until one of `fds` is readable or `timeout_ms` passes.
pub(crate) fn wait_readable(fds: &mut [libc::pollfd], timeout_ms: i32) {
    for p in fds.iter_mut() {
        p.events = libc::POLLIN;
        p.revents = 0;
    }
    // SAFETY: fds points to a valid, initialised array of pollfd of the given length.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms);
    }
}

/// Waits until `fd` is writable or `timeout_ms` passes.
pub(crate) fn wait_writable(fd: RawFd, timeout_ms: i32) {
    let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd on the stack.
    unsafe {
        libc::poll(&mut p, 1, timeout_ms);
    }
}
