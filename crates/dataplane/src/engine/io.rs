//! Sockets of the engine: UDP 4500 endpoints with GSO/GRO (through quinn-udp) and raw ESP sockets.

use std::io::IoSliceMut;
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
        let s =
            Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err("creating"))?;
        s.set_reuse_port(true).map_err(err("configuring"))?;
        s.set_nonblocking(true).map_err(err("configuring"))?;
        s.bind(&SocketAddr::V4(local).into())
            .map_err(err("binding"))?;
        let sock: UdpSocket = s.into();
        let state = UdpSocketState::new(UdpSockRef::from(&sock)).map_err(err("configuring"))?;
        // Best effort: the kernel caps these unless we are privileged.
        let _ = state.set_send_buffer_size(UdpSockRef::from(&sock), SOCKET_BUFFER);
        let _ = state.set_recv_buffer_size(UdpSockRef::from(&sock), SOCKET_BUFFER);
        force_buffers(sock.as_raw_fd());
        allow_fragmentation(sock.as_raw_fd());
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
    pub fn send_segments(
        &self,
        contents: &[u8],
        segment: usize,
        to: SocketAddrV4,
    ) -> std::io::Result<()> {
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
    pub fn recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> std::io::Result<usize> {
        self.state.recv(UdpSockRef::from(&self.sock), bufs, meta)
    }
}

/// Raises socket buffers past `net.core.*mem_max` where we are privileged (root in a namespace).
fn force_buffers(fd: RawFd) {
    let size = SOCKET_BUFFER as libc::c_int;
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE] {
        // SAFETY: fd is a live socket; the option value is a c_int on the stack of the right size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            );
        }
    }
}

/// Clears DF on outgoing packets and lets the kernel fragment them, like a raw ESP socket does,
/// so that ESP packets bigger than a link on the way arrive fragmented instead of vanishing
/// (quinn-udp sets `IP_PMTUDISC_PROBE`, which suits QUIC, not a tunnel).
fn allow_fragmentation(fd: RawFd) {
    let v: libc::c_int = libc::IP_PMTUDISC_DONT;
    // SAFETY: fd is a live socket; the option value is a c_int on the stack of the right size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        );
    }
}

/// A non-blocking raw socket for IP protocol 50 bound to `local`.
pub(crate) fn raw_esp_socket(local: Ipv4Addr) -> Result<Socket, DataplaneError> {
    let err = |what: &str| DataplaneError::io(format!("{what} raw ESP socket on {local}"));
    let s = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(PROTO_ESP))),
    )
    .map_err(err("creating"))?;
    s.set_nonblocking(true).map_err(err("configuring"))?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(local, 0)).into())
        .map_err(err("binding"))?;
    force_buffers(s.as_raw_fd());
    Ok(s)
}

/// A raw socket that sends whole IPv4 packets we build (ICMP errors); the kernel routes them
/// and fills in a zero source address and the header checksum.
pub(crate) fn raw_ip_socket() -> Result<Socket, DataplaneError> {
    let s = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .map_err(DataplaneError::io("creating a raw IP socket"))?;
    s.set_nonblocking(true)
        .map_err(DataplaneError::io("configuring a raw IP socket"))?;
    Ok(s)
}

/// Most packets per `sendmmsg`/`recvmmsg` on a raw socket.
pub(crate) const RAW_BATCH: usize = 64;

/// Sends `data` to `to` through a raw socket: a whole IP packet on an `IPPROTO_RAW` socket.
pub(crate) fn raw_send(s: &Socket, data: &[u8], to: Ipv4Addr) -> std::io::Result<()> {
    s.send_to(data, &SockAddr::from(SocketAddrV4::new(to, 0)))
        .map(|_| ())
}

/// Sends `data`, a run of ESP packets of `seg` bytes each (the last may be shorter), to `to`
/// through a raw ESP socket, `RAW_BATCH` packets per `sendmmsg` (the kernel adds IP headers).
pub(crate) fn raw_send_run(
    s: &Socket,
    data: &[u8],
    seg: usize,
    to: Ipv4Addr,
) -> std::io::Result<()> {
    let addr = SockAddr::from(SocketAddrV4::new(to, 0));
    let mut chunks = data.chunks(seg.max(1)).peekable();
    while chunks.peek().is_some() {
        // SAFETY: iovec and mmsghdr are plain C structs for which all-zero bytes are valid.
        let mut iovs: [libc::iovec; RAW_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; RAW_BATCH] = unsafe { std::mem::zeroed() };
        let mut n = 0;
        for ((iov, msg), pkt) in iovs
            .iter_mut()
            .zip(msgs.iter_mut())
            .zip(chunks.by_ref().take(RAW_BATCH))
        {
            *iov = libc::iovec {
                iov_base: pkt.as_ptr().cast_mut().cast(),
                iov_len: pkt.len(),
            };
            msg.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            msg.msg_hdr.msg_namelen = addr.len();
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
            n += 1;
        }
        let mut sent = 0;
        let mut waited = false;
        while sent < n {
            let rest = msgs.get_mut(sent..n).unwrap_or_default();
            // SAFETY: every header points at an iovec and address that outlive the call, and the
            // iovecs at packets inside `data`; `rest.len()` headers are initialised.
            let r = unsafe {
                libc::sendmmsg(
                    s.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::WouldBlock || waited {
                    return Err(e);
                }
                // The socket buffer is full: give the NIC a moment rather than dropping the run.
                wait_writable(s.as_raw_fd(), 10);
                waited = true;
                continue;
            }
            sent += r as usize;
        }
    }
    Ok(())
}

/// Receives up to `RAW_BATCH` IP packets (headers included) from a raw socket without blocking,
/// packet `i` into `buf[i * stride..]` with its length in `lens[i]` (longer packets are cut).
pub(crate) fn raw_recv_batch(
    s: &Socket,
    buf: &mut [u8],
    stride: usize,
    lens: &mut [usize],
) -> std::io::Result<usize> {
    // SAFETY: as in `raw_send_run`, all-zero iovec and mmsghdr are valid.
    let mut iovs: [libc::iovec; RAW_BATCH] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; RAW_BATCH] = unsafe { std::mem::zeroed() };
    let mut n = 0;
    for ((iov, msg), chunk) in iovs
        .iter_mut()
        .zip(msgs.iter_mut())
        .zip(buf.chunks_exact_mut(stride.max(1)))
        .take(lens.len())
    {
        *iov = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast(),
            iov_len: chunk.len(),
        };
        msg.msg_hdr.msg_iov = iov;
        msg.msg_hdr.msg_iovlen = 1;
        n += 1;
    }
    // SAFETY: `n` headers each point at an iovec over a distinct chunk of `buf`, all of which
    // outlive the call; no address or control buffers are requested.
    let r = unsafe {
        libc::recvmmsg(
            s.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let r = r as usize;
    for (len, msg) in lens.iter_mut().zip(&msgs).take(r) {
        *len = (msg.msg_len as usize).min(stride);
    }
    Ok(r)
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
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd on the stack.
    unsafe {
        libc::poll(&mut p, 1, timeout_ms);
    }
}
