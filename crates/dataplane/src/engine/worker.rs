//! One data-plane worker: its TUN queue, its UDP sockets, and the per-packet path both ways.
//!
//! Outbound: read the TUN queue (a TSO super-packet is split into segments by tun-rs), route,
//! encapsulate into a contiguous arena, and send runs of equal-sized ESP packets to one peer with
//! a single UDP GSO call. Inbound: `recvmmsg` (with UDP GRO) the sockets, decapsulate in place, and
//! write the inner packets to the TUN queue in one batch that tun-rs coalesces (GRO) where it can.
//! Buffers are allocated once per worker; the per-packet path does not allocate.

use std::io::{ErrorKind, IoSliceMut};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use quinn_udp::RecvMeta;
use tun_rs::{GROTable, SyncDevice, VIRTIO_NET_HDR_LEN};

use super::io::{RAW_BATCH, raw_recv_batch, raw_send, raw_send_run, wait_readable, wait_writable};
use super::tables::{OutPath, Tables, TunnelShared};
use super::{DataplaneEvent, Shared};
use crate::esp::{DropReason, spi_of};
use crate::ip::{Ipv4View, clamp_tcp_mss, icmp_frag_needed};
use crate::natt::{Udp4500, demux};

/// Packet buffers for TUN reads (split super-packets) or one TUN write batch.
const TUN_BATCH: usize = 256;
/// Buffers kept free before another TUN read: the segments of one 64 KiB super-packet at the
/// smallest MTU the engine accepts.
const TUN_READ_RESERVE: usize = 65_535 / (super::MIN_TUN_MTU as usize - 40) + 1;
/// Size of one packet buffer: room for the largest inner MTU the engine accepts.
const PKT_BUF: usize = super::MAX_TUN_MTU as usize;
/// Largest TUN read: a vnet header plus a 64 KiB super-packet.
const TUN_READ: usize = VIRTIO_NET_HDR_LEN + 65_535;
/// Datagrams per `recvmmsg`.
const RX_BATCH: usize = 16;
/// One receive buffer: a whole GRO-coalesced run.
const RX_BUF: usize = 65_536;
/// Bytes of ESP packets staged per outbound batch.
const ARENA: usize = 512 * 1024;
/// Largest payload of one GSO send.
const GSO_MAX_BYTES: usize = 65_000;
/// Room for one packet from a raw socket (an outer packet of up to this size).
const RAW_STRIDE: usize = RX_BATCH * RX_BUF / RAW_BATCH;
/// How long an idle worker sleeps before checking for shutdown.
const IDLE_POLL_MS: i32 = 100;

/// Inner packets waiting to be written to the TUN queue.
struct TunSink {
    bufs: Vec<Vec<u8>>,
    used: usize,
    gro: GROTable,
}

impl TunSink {
    fn new() -> Self {
        Self {
            bufs: (0..TUN_BATCH)
                .map(|_| Vec::with_capacity(VIRTIO_NET_HDR_LEN + 65_535))
                .collect(),
            used: 0,
            gro: GROTable::default(),
        }
    }

    fn push(&mut self, tun: &SyncDevice, shared: &Shared, pkt: &[u8]) {
        if self.used == self.bufs.len() {
            self.flush(tun, shared);
        }
        if let Some(b) = self.bufs.get_mut(self.used) {
            b.clear();
            b.resize(VIRTIO_NET_HDR_LEN, 0);
            b.extend_from_slice(pkt);
            self.used += 1;
        }
    }

    fn flush(&mut self, tun: &SyncDevice, shared: &Shared) {
        if self.used == 0 {
            return;
        }
        let bufs = &mut self.bufs[..self.used];
        if let Err(e) = tun.send_multiple(&mut self.gro, bufs, VIRTIO_NET_HDR_LEN) {
            shared.counters.send_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "TUN write failed");
        }
        self.used = 0;
    }
}

/// A run of ESP packets in the arena bound for one tunnel, all `seg` bytes but the last.
struct TxGroup {
    tunnel: usize,
    start: usize,
    len: usize,
    seg: usize,
    count: usize,
    /// A shorter packet ended the run: GSO allows only the last segment to be short.
    closed: bool,
}

/// ESP packets staged for sending.
struct TxBatch {
    arena: Vec<u8>,
    used: usize,
    groups: Vec<TxGroup>,
}

impl TxBatch {
    fn new() -> Self {
        Self {
            arena: vec![0; ARENA],
            used: 0,
            groups: Vec::with_capacity(TUN_BATCH),
        }
    }

    /// Where the next ESP packet of `len` bytes goes, if the arena has room.
    fn slot(&mut self, len: usize) -> Option<&mut [u8]> {
        self.arena.get_mut(self.used..self.used + len)
    }

    /// Accounts the packet just written into the slot to `tunnel`'s run.
    fn commit(&mut self, tunnel: usize, len: usize, max_segs: usize) {
        let start = self.used;
        self.used += len;
        if let Some(g) = self.groups.last_mut() {
            if g.tunnel == tunnel
                && !g.closed
                && len <= g.seg
                && g.count < max_segs
                && g.len + len <= GSO_MAX_BYTES
            {
                g.len += len;
                g.count += 1;
                g.closed = len < g.seg;
                return;
            }
        }
        self.groups.push(TxGroup {
            tunnel,
            start,
            len,
            seg: len,
            count: 1,
            closed: false,
        });
    }

    fn flush(&mut self, shared: &Shared, worker: usize, tables: &Tables) {
        for g in self.groups.drain(..) {
            let Some(out) = tables.tunnels.get(g.tunnel).and_then(|t| t.out.as_deref()) else {
                continue;
            };
            let Some(data) = self.arena.get(g.start..g.start + g.len) else {
                continue;
            };
            if let Err(e) = send_run(shared, worker, out, data, g.seg) {
                shared
                    .counters
                    .send_errors
                    .fetch_add(g.count as u64, Ordering::Relaxed);
                tracing::debug!(error = %e, remote = %out.remote, "ESP send failed");
            }
        }
        self.used = 0;
    }
}

fn send_run(
    shared: &Shared,
    worker: usize,
    out: &OutPath,
    data: &[u8],
    seg: usize,
) -> std::io::Result<()> {
    if out.udp_encap {
        let ep = shared
            .udp
            .get(worker)
            .and_then(|w| w.get(out.local_idx))
            .ok_or(ErrorKind::NotFound)?;
        match ep.send_segments(data, seg, out.remote) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // The socket buffer is full: give the NIC a moment rather than dropping the run.
                wait_writable(ep.fd(), 10);
                ep.send_segments(data, seg, out.remote)
            }
            // GSO refuses segments bigger than the outgoing link; one by one, the kernel fragments them.
            Err(_) if data.len() > seg => data
                .chunks(seg)
                .try_for_each(|esp| ep.send_to(esp, out.remote)),
            r => r,
        }
    } else {
        let sock = shared.raw.get(out.local_idx).ok_or(ErrorKind::NotFound)?;
        raw_send_run(sock, data, seg, *out.remote.ip())
    }
}

/// A worker thread's state.
pub(crate) struct Worker {
    id: usize,
    tun: SyncDevice,
    shared: Arc<Shared>,
    tun_read: Vec<u8>,
    tun_in: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    tx: TxBatch,
    sink: TunSink,
    rx_bufs: Vec<u8>,
    rx_meta: Vec<RecvMeta>,
    icmp: Vec<u8>,
}

impl Worker {
    /// Allocates the worker's buffers.
    pub fn new(id: usize, tun: SyncDevice, shared: Arc<Shared>) -> Self {
        Self {
            id,
            tun,
            shared,
            tun_read: vec![0; TUN_READ],
            tun_in: (0..TUN_BATCH).map(|_| vec![0; PKT_BUF]).collect(),
            sizes: vec![0; TUN_BATCH],
            tx: TxBatch::new(),
            sink: TunSink::new(),
            rx_bufs: vec![0; RX_BATCH * RX_BUF],
            rx_meta: vec![RecvMeta::default(); RX_BATCH],
            icmp: vec![0; 1024],
        }
    }

    /// Runs until the engine stops.
    pub fn run(mut self) {
        if let Err(e) = self.tun.set_nonblocking(true) {
            tracing::error!(worker = self.id, error = %e, "cannot make the TUN queue non-blocking");
            return;
        }
        let shared = self.shared.clone();
        let mut fds: Vec<libc::pollfd> = std::iter::once(self.tun.as_raw_fd())
            .chain(
                shared
                    .udp
                    .get(self.id)
                    .into_iter()
                    .flatten()
                    .map(|ep| ep.fd()),
            )
            .chain(
                shared
                    .raw
                    .iter()
                    .filter(|_| self.id == 0)
                    .map(|s| s.as_raw_fd()),
            )
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let n_addrs = shared.local_addrs.len();
        while !shared.stop.load(Ordering::Relaxed) {
            let mut busy = self.pump_tun();
            for a in 0..n_addrs {
                busy |= self.pump_udp(a);
            }
            if self.id == 0 {
                for r in 0..shared.raw.len() {
                    busy |= self.pump_raw(r);
                }
            }
            if !busy {
                wait_readable(&mut fds, IDLE_POLL_MS);
            }
        }
    }

    /// Reads what the TUN queue has (up to a batch) and sends it into the tunnels.
    fn pump_tun(&mut self) -> bool {
        let mut n = 0;
        while n + TUN_READ_RESERVE <= TUN_BATCH {
            let (Some(bufs), Some(sizes)) = (self.tun_in.get_mut(n..), self.sizes.get_mut(n..))
            else {
                break;
            };
            match self.tun.recv_multiple(&mut self.tun_read, bufs, sizes, 0) {
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.shared
                        .counters
                        .malformed
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "TUN read failed");
                    break;
                }
            }
        }
        if n == 0 {
            return false;
        }
        let shared = self.shared.clone();
        let tables = shared.tables.load();
        let now = shared.now_ms();
        // Moved out for the loop so packets can be borrowed while the rest of `self` is used.
        let mut tun_in = std::mem::take(&mut self.tun_in);
        for (i, buf) in tun_in.iter_mut().enumerate().take(n) {
            let len = self.sizes.get(i).copied().unwrap_or(0);
            if let Some(pkt) = buf.get_mut(..len) {
                self.outbound(&shared, &tables, pkt, now);
            }
        }
        self.tun_in = tun_in;
        self.tx.flush(&shared, self.id, &tables);
        self.sink.flush(&self.tun, &shared);
        true
    }

    fn outbound(&mut self, shared: &Shared, tables: &Tables, pkt: &mut [u8], now: u64) {
        let Some(ip) = Ipv4View::new(pkt) else {
            shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (len, df) = (ip.total_len(), ip.dont_fragment());
        let Some(t) = tables.route(&ip) else {
            shared.counters.no_route.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(entry) = tables.tunnels.get(t) else {
            return;
        };
        let Some(out) = entry.out.as_deref() else {
            entry.shared.no_sa_drops.fetch_add(1, Ordering::Relaxed);
            if entry.shared.claim_acquire(now, shared.acquire_interval_ms) {
                shared.emit(DataplaneEvent::Acquire { tunnel: entry.id });
            }
            return;
        };
        if len > usize::from(out.mtu) {
            // An inner packet the path cannot carry: tell the sender the tunnel MTU (RFC 1191);
            // without DF, drop it too (we do not fragment inner packets).
            if df {
                let src = ip.src();
                if let Some(answer) =
                    icmp_frag_needed(pkt, Ipv4Addr::UNSPECIFIED, out.mtu, &mut self.icmp)
                        .and_then(|n| self.icmp.get(..n))
                {
                    entry.shared.frag_needed.fetch_add(1, Ordering::Relaxed);
                    if raw_send(&shared.icmp, answer, src).is_err() {
                        shared.counters.send_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            out.sa.count_drop(DropReason::Other);
            return;
        }
        clamp_tcp_mss(pkt, out.mtu.saturating_sub(40));
        let inner = pkt.get(..len).unwrap_or(pkt);
        let esp_len = out.sa.esp_len(len);
        if self.tx.slot(esp_len).is_none() {
            self.tx.flush(shared, self.id, tables);
        }
        let Some(slot) = self.tx.slot(esp_len) else {
            return;
        };
        if let Ok(n) = out.sa.encapsulate(inner, slot) {
            let max_segs = shared
                .udp
                .get(self.id)
                .and_then(|w| w.get(out.local_idx))
                .map_or(1, |ep| ep.max_gso_segments());
            self.tx
                .commit(t, n, if out.udp_encap { max_segs } else { usize::MAX });
        }
    }

    /// Receives one batch from the UDP 4500 socket of local address `a` and handles it.
    fn pump_udp(&mut self, a: usize) -> bool {
        let shared = self.shared.clone();
        let Some(ep) = shared.udp.get(self.id).and_then(|w| w.get(a)) else {
            return false;
        };
        let n = {
            let mut chunks = self.rx_bufs.chunks_exact_mut(RX_BUF);
            let mut iovs: [IoSliceMut<'_>; RX_BATCH] = std::array::from_fn(|_| {
                chunks
                    .next()
                    .map_or_else(|| IoSliceMut::new(&mut []), IoSliceMut::new)
            });
            match ep.recv(&mut iovs, &mut self.rx_meta) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive failed");
                    return false;
                }
            }
        };
        let tables = shared.tables.load();
        let now = shared.now_ms();
        let local = ep.local();
        for (m, meta) in self.rx_meta.iter().take(n).enumerate() {
            let std::net::SocketAddr::V4(remote) = meta.addr else {
                continue;
            };
            let Some(data) = self.rx_bufs.get_mut(m * RX_BUF..m * RX_BUF + meta.len) else {
                continue;
            };
            for dgram in data.chunks_mut(meta.stride.max(1)) {
                match demux(dgram) {
                    Ok(Udp4500::Keepalive) => {
                        shared.counters.keepalives.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Udp4500::Ike(msg)) => shared.emit(DataplaneEvent::Ike {
                        local,
                        remote,
                        data: msg.to_vec(),
                    }),
                    Ok(Udp4500::Esp(_)) => {
                        inbound_esp(&shared, &tables, &self.tun, &mut self.sink, dgram, now)
                    }
                    Err(_) => {
                        shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        self.sink.flush(&self.tun, &shared);
        true
    }

    /// Reads a batch of raw ESP packets from socket `r` (worker 0 only: every raw socket sees every packet).
    fn pump_raw(&mut self, r: usize) -> bool {
        let shared = self.shared.clone();
        let Some(sock) = shared.raw.get(r) else {
            return false;
        };
        let mut lens = [0usize; RAW_BATCH];
        let n = match raw_recv_batch(sock, &mut self.rx_bufs, RAW_STRIDE, &mut lens) {
            Ok(n) => n,
            Err(_) => return false,
        };
        let tables = shared.tables.load();
        let now = shared.now_ms();
        for (pkt, &len) in self.rx_bufs.chunks_exact_mut(RAW_STRIDE).zip(&lens).take(n) {
            let Some((hl, total)) = pkt
                .get(..len)
                .and_then(Ipv4View::new)
                .map(|ip| (ip.header_len(), ip.total_len()))
            else {
                shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if let Some(esp) = pkt.get_mut(hl..total) {
                inbound_esp(&shared, &tables, &self.tun, &mut self.sink, esp, now);
            }
        }
        self.sink.flush(&self.tun, &shared);
        n > 0
    }
}

/// Decapsulates one ESP packet and queues its inner packet for the TUN device.
fn inbound_esp(
    shared: &Shared,
    tables: &Tables,
    tun: &SyncDevice,
    sink: &mut TunSink,
    esp: &mut [u8],
    now: u64,
) {
    let Some(spi) = spi_of(esp) else {
        shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some((sa, t)) = tables.inbound(spi) else {
        shared.counters.unknown_spi.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // Failures are counted per SA by the SA itself.
    if let Ok(range) = sa.decapsulate(esp) {
        let entry = tables.tunnels.get(*t);
        if let Some(entry) = entry {
            TunnelShared::stamp(&entry.shared.last_inbound, now);
        }
        let Some(inner) = esp.get(range) else {
            return;
        };
        let forwards = entry.is_some_and(|e| e.forward_inbound);
        if !forwards && !Ipv4View::new(inner).is_some_and(|ip| tables.admits(*t, &ip)) {
            if let Some(entry) = entry {
                entry.shared.blocked_inbound.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        sink.push(tun, shared, inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (tunnel, segment size, packet count) of each run after committing `packets` of (tunnel, len).
    fn runs(packets: &[(usize, usize)], max_segs: usize) -> Vec<(usize, usize, usize)> {
        let mut tx = TxBatch::new();
        for &(tunnel, len) in packets {
            assert!(tx.slot(len).is_some());
            tx.commit(tunnel, len, max_segs);
        }
        let mut at = 0;
        tx.groups
            .iter()
            .map(|g| {
                assert_eq!(g.start, at, "runs are contiguous in the arena");
                at += g.len;
                (g.tunnel, g.seg, g.count)
            })
            .collect()
    }

    #[test]
    fn equal_packets_to_one_tunnel_form_one_gso_run() {
        assert_eq!(runs(&[(0, 1464); 10], 64), vec![(0, 1464, 10)]);
    }

    #[test]
    fn only_the_last_packet_of_a_run_may_be_shorter() {
        assert_eq!(
            runs(&[(0, 1464), (0, 1464), (0, 600), (0, 1464)], 64),
            vec![(0, 1464, 3), (0, 1464, 1)]
        );
        assert_eq!(
            runs(&[(0, 600), (0, 1464)], 64),
            vec![(0, 600, 1), (0, 1464, 1)],
            "a longer packet cannot join"
        );
    }

    #[test]
    fn runs_split_by_tunnel_segment_count_and_size() {
        assert_eq!(
            runs(&[(0, 100), (1, 100), (0, 100)], 64),
            vec![(0, 100, 1), (1, 100, 1), (0, 100, 1)]
        );
        assert_eq!(
            runs(&[(0, 100); 5], 2),
            vec![(0, 100, 2), (0, 100, 2), (0, 100, 1)]
        );
        let n = GSO_MAX_BYTES / 1464;
        assert_eq!(
            runs(&vec![(0, 1464); n + 1], 1000),
            vec![(0, 1464, n), (0, 1464, 1)],
            "a GSO send stays under 64 KiB"
        );
    }
}
