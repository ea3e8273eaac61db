//! Health checks of a connection: an ICMP echo from its source IP to its destination IP through
//! its tunnel every interval; `retry` consecutive losses fail the check, one answer passes it.
//!
//! [`Check`] is the sans-IO state of one check; [`IcmpSocket`] sends and receives the probes.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use strait_dataplane::ip::{Ipv4View, checksum};

/// ICMP echo request / reply types.
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// IP protocol number of ICMP.
const PROTO_ICMP: u8 = 1;

/// What a connection's health check does: the API's `HealthCheckConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// Source of the probes (cloud side); becomes an address of this host.
    pub sip: Ipv4Addr,
    /// Destination of the probes (on-premises); must answer ICMP echo.
    pub dip: Ipv4Addr,
    /// Time between probes.
    pub interval: Duration,
    /// Consecutive losses that fail the check.
    pub retry: u32,
    /// Withdraw the tunnel's routes while the check fails (RevokeRoute).
    pub revoke_routes: bool,
}

/// The running state of one check.
#[derive(Debug)]
pub(crate) struct Check {
    pub spec: HealthSpec,
    ident: u16,
    seq: u16,
    /// When the next probe goes out.
    send_at: Instant,
    /// The probe sent last and not answered yet, and when it counts as lost.
    awaiting: Option<(u16, Instant)>,
    losses: u32,
    /// None until the first verdict; then whether the check passes.
    passing: Option<bool>,
}

/// How long a probe may wait for its answer (an interval, at most this): a check fails at most
/// this long after its last probe went out.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

impl Check {
    /// A check whose first probe is due at `now`; `ident` tells its replies apart from others'.
    pub fn new(spec: HealthSpec, ident: u16, now: Instant) -> Check {
        Check {
            spec,
            ident,
            seq: 0,
            send_at: now,
            awaiting: None,
            losses: 0,
            passing: None,
        }
    }

    /// When [`Check::tick`] next has work: a probe to send or one to count as lost.
    pub fn next_at(&self) -> Instant {
        self.awaiting
            .map_or(self.send_at, |(_, lost_at)| lost_at.min(self.send_at))
    }

    /// Whether the check fails now.
    pub fn failing(&self) -> bool {
        self.passing == Some(false)
    }

    /// At or after [`Check::next_at`]: counts an unanswered probe whose time is up as lost, and
    /// returns the probe to send now (an IPv4 packet), if one is due, and the new verdict when it
    /// changed.
    pub fn tick(&mut self, now: Instant) -> (Option<Vec<u8>>, Option<bool>) {
        let mut changed = None;
        if self.awaiting.is_some_and(|(_, lost_at)| lost_at <= now) {
            self.awaiting = None;
            self.losses = self.losses.saturating_add(1);
            if self.losses >= self.spec.retry.max(1) && self.passing != Some(false) {
                self.passing = Some(false);
                changed = Some(false);
            }
        }
        if now < self.send_at {
            return (None, changed);
        }
        self.seq = self.seq.wrapping_add(1);
        let lost_at = now + self.spec.interval.min(REPLY_TIMEOUT);
        self.awaiting = Some((self.seq, lost_at));
        self.send_at = now + self.spec.interval;
        let probe = echo_request(self.spec.sip, self.spec.dip, self.ident, self.seq);
        (Some(probe), changed)
    }

    /// An echo reply arrived; returns the new verdict when it changed.
    pub fn on_reply(&mut self, reply: &EchoReply) -> Option<bool> {
        let ours = reply.ident == self.ident
            && reply.from == self.spec.dip
            && reply.to == self.spec.sip
            && self.awaiting.is_some_and(|(seq, _)| seq == reply.seq);
        if !ours {
            return None;
        }
        self.awaiting = None;
        self.losses = 0;
        (self.passing != Some(true)).then(|| {
            self.passing = Some(true);
            true
        })
    }
}

/// An ICMP echo reply as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EchoReply {
    /// Who answered.
    pub from: Ipv4Addr,
    /// The address it answered to.
    pub to: Ipv4Addr,
    /// Identifier of the request.
    pub ident: u16,
    /// Sequence number of the request.
    pub seq: u16,
}

/// An ICMP echo request from `src` to `dst` as a whole IPv4 packet (for a header-including socket).
pub(crate) fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![ECHO_REQUEST, 0, 0, 0];
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"strait health check");
    let sum = checksum(&icmp).to_be_bytes();
    icmp[2..4].copy_from_slice(&sum);
    let total = u16::try_from(20 + icmp.len()).unwrap_or(u16::MAX);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, PROTO_ICMP, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = checksum(&ip).to_be_bytes();
    ip[10..12].copy_from_slice(&sum);
    ip.extend_from_slice(&icmp);
    ip
}

/// The echo reply in a received IPv4 packet, if it is one.
pub(crate) fn parse_echo_reply(packet: &[u8]) -> Option<EchoReply> {
    let ip = Ipv4View::new(packet)?;
    if ip.protocol() != PROTO_ICMP {
        return None;
    }
    let icmp = ip.payload();
    if *icmp.first()? != ECHO_REPLY {
        return None;
    }
    let field = |at: usize| {
        icmp.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    Some(EchoReply {
        from: ip.src(),
        to: ip.dst(),
        ident: field(4)?,
        seq: field(6)?,
    })
}

/// A raw ICMP socket that sends whole probe packets and receives every ICMP packet for this host.
pub(crate) struct IcmpSocket(Socket);

/// How long a receive waits before its caller may check whether it should stop.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);

impl IcmpSocket {
    /// Opens the socket (needs CAP_NET_RAW).
    pub fn open() -> io::Result<IcmpSocket> {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
        s.set_header_included_v4(true)?;
        s.set_read_timeout(Some(RECV_TIMEOUT))?;
        Ok(IcmpSocket(s))
    }

    /// Sends a probe built by [`Check::tick`] towards `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        self.0
            .send_to(packet, &SocketAddrV4::new(dst, 0).into())
            .map(drop)
    }

    /// The next echo reply received, or None after a second without one (blocking).
    pub fn recv(&self) -> io::Result<Option<EchoReply>> {
        let mut buf = [0u8; 2048];
        let deadline = std::time::Instant::now() + RECV_TIMEOUT;
        while std::time::Instant::now() < deadline {
            match (&self.0).read(&mut buf) {
                Ok(n) => {
                    if let Some(reply) = parse_echo_reply(buf.get(..n).unwrap_or_default()) {
                        return Ok(Some(reply));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(retry: u32) -> HealthSpec {
        HealthSpec {
            sip: Ipv4Addr::new(10, 0, 1, 254),
            dip: Ipv4Addr::new(192, 168, 10, 2),
            interval: Duration::from_secs(2),
            retry,
            revoke_routes: true,
        }
    }

    /// The reply a peer would send to `probe`.
    fn answer(probe: &[u8]) -> EchoReply {
        let ip = Ipv4View::new(probe).unwrap();
        let icmp = ip.payload();
        EchoReply {
            from: ip.dst(),
            to: ip.src(),
            ident: u16::from_be_bytes([icmp[4], icmp[5]]),
            seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        }
    }

    #[test]
    fn probes_are_valid_echo_requests_from_sip_to_dip() {
        let p = echo_request(
            Ipv4Addr::new(10, 0, 1, 254),
            Ipv4Addr::new(192, 168, 10, 2),
            7,
            9,
        );
        let ip = Ipv4View::new(&p).expect("a valid IPv4 header");
        assert_eq!(
            (ip.src(), ip.dst(), ip.protocol()),
            (spec(1).sip, spec(1).dip, PROTO_ICMP)
        );
        assert_eq!(checksum(&p[..20]), 0, "IPv4 header checksum");
        assert_eq!(checksum(ip.payload()), 0, "ICMP checksum");
        assert_eq!(ip.payload()[0], ECHO_REQUEST);
    }

    #[test]
    fn replies_parse_and_other_packets_do_not() {
        let mut p = echo_request(
            Ipv4Addr::new(192, 168, 10, 2),
            Ipv4Addr::new(10, 0, 1, 254),
            7,
            9,
        );
        assert_eq!(parse_echo_reply(&p), None, "a request is not a reply");
        p[20] = ECHO_REPLY;
        assert_eq!(
            parse_echo_reply(&p),
            Some(EchoReply {
                from: Ipv4Addr::new(192, 168, 10, 2),
                to: Ipv4Addr::new(10, 0, 1, 254),
                ident: 7,
                seq: 9
            })
        );
        for cut in 0..28 {
            assert_eq!(parse_echo_reply(&p[..cut]), None, "truncated at {cut}");
        }
        p[9] = 17;
        assert_eq!(parse_echo_reply(&p), None, "UDP is not ICMP");
    }

    /// Runs the check's ticks up to `until`; returns the probes sent and the verdicts, in order.
    fn run(c: &mut Check, until: Instant) -> (Vec<Vec<u8>>, Vec<(Instant, bool)>) {
        let (mut probes, mut verdicts) = (Vec::new(), Vec::new());
        while c.next_at() <= until {
            let at = c.next_at();
            let (probe, verdict) = c.tick(at);
            probes.extend(probe);
            verdicts.extend(verdict.map(|v| (at, v)));
        }
        (probes, verdicts)
    }

    #[test]
    fn retry_losses_fail_the_check_within_a_second_of_the_last_probe() {
        let t0 = Instant::now();
        let mut c = Check::new(spec(3), 5, t0);
        let (p1, v) = c.tick(t0);
        assert_eq!(v, None);
        assert_eq!(
            c.on_reply(&answer(&p1.unwrap())),
            Some(true),
            "first answer: passing"
        );
        // From just after that answer nothing comes back: probes at 2, 4 and 6 s are lost.
        let (probes, verdicts) = run(&mut c, t0 + Duration::from_secs(10));
        assert_eq!(probes.len(), 5, "one probe every interval");
        assert_eq!(
            verdicts,
            vec![(t0 + Duration::from_secs(7), false)],
            "the third lost probe (sent at 6 s) fails the check 1 s later: retry × interval + 1 s"
        );
        assert!(c.failing());
    }

    #[test]
    fn only_the_awaited_answer_counts_and_it_passes_the_check_again() {
        let t0 = Instant::now();
        let mut c = Check::new(spec(1), 5, t0);
        c.tick(t0);
        let (_, verdicts) = run(&mut c, t0 + Duration::from_secs(1));
        assert_eq!(verdicts, vec![(t0 + Duration::from_secs(1), false)]);
        let (p, _) = c.tick(t0 + Duration::from_secs(2));
        let p = p.expect("a probe is due every interval");
        let mut stale = answer(&p);
        stale.seq = stale.seq.wrapping_sub(1);
        assert_eq!(
            c.on_reply(&stale),
            None,
            "an old probe's answer does not count"
        );
        let mut stranger = answer(&p);
        stranger.ident = 6;
        assert_eq!(
            c.on_reply(&stranger),
            None,
            "another check's answer does not count"
        );
        assert_eq!(c.on_reply(&answer(&p)), Some(true));
        assert!(!c.failing());
    }

    #[test]
    fn losses_that_are_interrupted_by_an_answer_start_over() {
        let t0 = Instant::now();
        let mut c = Check::new(spec(2), 1, t0);
        let (probes, v) = run(&mut c, t0 + Duration::from_millis(2500));
        assert_eq!(v, vec![], "one loss (the probe at 0 s) of two allowed");
        let in_flight = probes.last().expect("the probe at 2 s");
        assert_eq!(c.on_reply(&answer(in_flight)), Some(true));
        let (_, v) = run(&mut c, t0 + Duration::from_millis(5500));
        assert_eq!(v, vec![], "one loss (the probe at 4 s) since the answer");
        let (_, v) = run(&mut c, t0 + Duration::from_secs(8));
        assert_eq!(v, vec![(t0 + Duration::from_secs(7), false)]);
    }
}
