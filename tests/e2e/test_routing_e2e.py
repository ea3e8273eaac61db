"""Issues #6 and #7 acceptance through the official SDK: route weights (active/standby), a policy route and
health checks steer the traffic of `strait serve` between two connections on one VPN gateway, to two
strongSwan devices loaded with the configurations DownloadVpnConnectionConfig returns.

Topology: e2e_sites.py; the two destination-routed connections and the per-CPE counters: routing_sites.py.
The VPC host pings the DC host 10 times a second; which CPE carries it is read from counters of
decrypted packets per VPC source on each CPE; traffic counts as moved once 3 of its pings (0.3 s) reached
the DC through the other CPE, and as carried by a CPE when, over 1.5 s, that CPE alone forwards it and the
DC host answers it. Each test prints what it measures (run with -s to see it).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from e2e_sites import DC_HOST, DC_NET, UP, VPC_HOST, ping_log_gaps
from helpers.netns import wait_until
from routing_sites import PROBE_IPS, SECOND_VPC_HOST, Routing, timed

RATE = 10  # pings per second
INTERVAL = 1 / RATE


@pytest.fixture(scope="module")
def routing(module_site):
    """The module's site prepared for two connections on InternetIp (see routing_sites)."""
    return Routing(module_site)


@pytest.fixture
def rt(site, routing):
    """Routing for one test; afterwards cpe1 answers its health check's probes again (the site's own
    reset then deletes the connections, and with them their route entries)."""
    yield routing
    routing.drop_probes(0, False)


class Pinger:
    """`ping` from a VPC address to the DC host, 10 times a second, logged to a file."""

    def __init__(self, rt: Routing, src: str, log: Path):
        self.rt, self.src, self.log = rt, src, log
        self.proc = rt.site.topo.spawn(rt.site.vpc, f"ping -n -i {INTERVAL} -W 1 -c 1800 -I {src} {DC_HOST}",
                                       log=log)

    def replies(self) -> int:
        """Echo replies received so far."""
        return ping_log_gaps(self.log.read_text(errors="replace"), INTERVAL)[0]

    def carried_by(self, n: int) -> bool:
        """Whether, over the next 1.5 s, CPE `n` alone carries these pings and the DC host answers them."""
        before = self.replies()
        carrier = self.rt.carrier(self.src, RATE)
        return carrier == n and self.replies() - before >= 0.7 * RATE * 1.5

    def summary(self) -> tuple[int, int, float]:
        """(pings sent from the first answer to the last, how many of them got no answer, the longest run
        of unanswered ones in seconds)."""
        replies, gap, seqs = ping_log_gaps(self.log.read_text(errors="replace"), INTERVAL)
        assert seqs, f"no ping from {self.src} was answered"
        sent = seqs[-1] - seqs[0] + 1
        return sent, sent - replies, gap

    def stop(self) -> None:
        """Stops it (by pid)."""
        self.rt.site.topo.kill(self.proc, signal.SIGINT)


def arrives_at(rt: Routing, n: int, src: str, packets: int = 3):
    """A predicate: CPE `n` has forwarded `packets` more packets from `src` than when this was called."""
    start = rt.counts(src)[n]
    return lambda: rt.counts(src)[n] >= start + packets


def both_connections(rt: Routing, health: tuple[int, int] | None = None) -> list[str]:
    """Connections to cpe1 and cpe2 (with these health checks), the DC prefix routed through the first
    at weight 100 and the second at weight 0, both devices up."""
    vcos = [rt.connect(n, health) for n in (0, 1)]
    rt.route(vcos[0], 100)
    rt.route(vcos[1], 0)
    rt.start_peers(vcos)
    return vcos


@pytest.mark.parametrize(("interval", "retry"), [(1, 2), (2, 3)], ids=["1s-x2", "2s-x3"])
def test_failed_health_check_moves_traffic_to_the_standby_connection_and_back(rt, tmp_path, interval, retry):
    vcos = both_connections(rt, health=(interval, retry))
    wait_until(lambda: [rt.health(v) for v in vcos] == ["success"] * 2, timeout=15,
               what="both health checks passing")
    # The probes' targets stay routed into the TUN device whatever the checks say.
    kernel = rt.kernel_routes()
    assert all(f"{dip} " in kernel for _, dip in PROBE_IPS), kernel

    pinger = Pinger(rt, VPC_HOST, tmp_path / "ping.log")
    try:
        wait_until(lambda: pinger.carried_by(0), timeout=15, interval=0, what="cpe1 carrying the answered pings")

        charon = rt.site.cpes[0].charon
        before = {c.spi_in for c in charon.installed_children()}
        moved_there = arrives_at(rt, 1, VPC_HOST)
        # Right after a probe got through: the worst case, a whole interval before the first lost probe.
        rt.next_probe(0, timeout=interval + 2)
        rt.drop_probes(0, True)
        limit = interval * retry + 2
        failed = timed(lambda: rt.health(vcos[0]) == "failed", timeout=limit,
                       label=f"connection 1's health check failed within {limit} s of the drop")
        moved = failed + timed(moved_there, timeout=5, label="pings reaching the DC through cpe2")
        assert pinger.carried_by(1), "cpe2 does not carry the answered pings alone"
        assert rt.health(vcos[1]) == "success"
        # The failed check reset the tunnel: cpe1 holds a new CHILD_SA (the drop spares IKE and ESP).
        wait_until(lambda: {c.spi_in for c in charon.installed_children()} - before, timeout=10,
                   what="a new CHILD_SA on cpe1 after the reset")
        assert rt.health(vcos[0]) == "failed", "the check passed while cpe1 still drops the probes"

        moved_back = arrives_at(rt, 0, VPC_HOST)
        rt.drop_probes(0, False)
        passed = timed(lambda: rt.health(vcos[0]) == "success", timeout=30,
                       label="connection 1's health check passing again")
        back = passed + timed(moved_back, timeout=10, label="pings reaching the DC through cpe1 again")
        assert pinger.carried_by(0), "cpe1 does not carry the answered pings alone again"
        rt.site.wait_status(vcos[0], timeout=5)
    finally:
        pinger.stop()
    sent, lost, gap = pinger.summary()
    print(f"\nhealth check (interval {interval} s, retry {retry}): probes to {PROBE_IPS[0][1]} dropped on cpe1 "
          f"right after one got through (the worst case) -> "
          f"VcoHealthCheck.Status failed after {failed:.1f} s (limit {limit} s), pings through cpe2 "
          f"{moved:.1f} s after the drop; drop removed -> success after {passed:.1f} s, pings through cpe1 "
          f"{back:.1f} s after the removal; {lost} of {sent} pings unanswered, longest gap {gap:.1f} s")


def test_weight_0_connection_carries_traffic_only_while_the_weight_100_one_is_down(rt, tmp_path):
    vcos = both_connections(rt)
    # The route entry's destination is in serve's kernel table, through the TUN device.
    wait_until(lambda: f"{DC_NET} " in rt.kernel_routes(), timeout=3, what=f"{DC_NET} dev strait0")
    cpe1 = rt.site.cpes[0]
    config = rt.site.strongswan_config(vcos[0])

    pinger = Pinger(rt, VPC_HOST, tmp_path / "ping.log")
    try:
        wait_until(lambda: pinger.carried_by(0), timeout=15, interval=0, what="cpe1 carrying the answered pings")

        moved_there = arrives_at(rt, 1, VPC_HOST)
        t0 = time.monotonic()
        [ike] = {sa.name for sa in cpe1.charon.sas()}
        cpe1.charon.terminate(ike)  # sends the Delete
        rt.site.stop_peer(0)
        stopped = time.monotonic() - t0
        wait_until(moved_there, timeout=10, interval=0.1, what="pings reaching the DC through cpe2")
        moved = time.monotonic() - t0
        assert pinger.carried_by(1), "cpe2 does not carry the answered pings alone"
        assert rt.site.statuses(vcos[0])[0] != UP

        moved_back = arrives_at(rt, 0, VPC_HOST)
        t1 = time.monotonic()
        rt.site.start_peer(0, config)
        wait_until(moved_back, timeout=30, interval=0.1, what="pings reaching the DC through cpe1 again")
        back = time.monotonic() - t1
        assert pinger.carried_by(0), "cpe1 does not carry the answered pings alone again"
    finally:
        pinger.stop()
    sent, lost, gap = pinger.summary()

    for vco, weight in zip(vcos, (100, 0)):
        rt.delete_route(vco, weight)
    gone = timed(lambda: f"{DC_NET} " not in rt.kernel_routes(), timeout=3,
                 label=f"{DC_NET} gone from the kernel table")
    print(f"\nweights 100/0: cpe1's SA deleted and strongSwan stopped ({stopped:.1f} s) -> pings through cpe2 "
          f"{moved:.1f} s after the delete began; cpe1's strongSwan started again -> pings through cpe1 "
          f"{back:.1f} s later; {lost} of {sent} pings unanswered, longest gap {gap:.1f} s; "
          f"{DC_NET} dev strait0 in the kernel while routed, gone {gone:.1f} s after both entries were deleted")


def test_policy_route_sends_one_sources_traffic_through_the_other_connection(rt, tmp_path):
    vcos = both_connections(rt)
    pingers = [Pinger(rt, src, tmp_path / f"ping-{src}.log") for src in (VPC_HOST, SECOND_VPC_HOST)]
    try:
        for p in pingers:
            wait_until(lambda: p.carried_by(0), timeout=15, interval=0,
                       what=f"cpe1 carrying the answered pings from {p.src} (weight 100)")

        moved_there = arrives_at(rt, 1, SECOND_VPC_HOST)
        rt.policy_route(vcos[1], f"{SECOND_VPC_HOST}/32", priority=1)
        moved = timed(moved_there, timeout=5, label=f"pings from {SECOND_VPC_HOST} reaching the DC through cpe2")
        before = {p.src: rt.counts(p.src) for p in pingers}
        assert pingers[1].carried_by(1), f"cpe2 does not carry {SECOND_VPC_HOST}'s answered pings alone"
        assert pingers[0].carried_by(0), f"{VPC_HOST}'s pings left cpe1"
        after = {p.src: rt.counts(p.src) for p in pingers}
        results = [p.summary() for p in pingers]

        # Without the destination routes the policy route alone keeps the prefix in the kernel table;
        # what enters the TUN device from another source matches no rule and is dropped there.
        for vco, weight in zip(vcos, (100, 0)):
            rt.delete_route(vco, weight)

        def unforwarded(src: str) -> bool:
            start = rt.counts(src)
            time.sleep(1.5)
            return rt.counts(src) == start

        wait_until(lambda: unforwarded(VPC_HOST), timeout=5, interval=0,
                   what=f"{VPC_HOST}'s pings reaching no CPE without the destination routes")
        assert f"{DC_NET} " in rt.kernel_routes(), "the policy route's destination left the kernel table"
        assert pingers[1].carried_by(1), f"cpe2 no longer carries {SECOND_VPC_HOST}'s answered pings"
    finally:
        for p in pingers:
            p.stop()
    delta = {src: [a - b for a, b in zip(after[src], before[src])] for src in after}
    print(f"\npolicy route {SECOND_VPC_HOST}/32 -> {DC_NET} via connection 2 (priority 1) over destination "
          f"routes 100/0: {SECOND_VPC_HOST}'s pings through cpe2 {moved:.1f} s after CreateVpnPbrRouteEntry; "
          f"packets forwarded by (cpe1, cpe2) over the next 3 s: {delta}; (sent, unanswered, longest gap s) "
          f"per source until then {results}; destination routes deleted: {DC_NET} still dev strait0, "
          f"{VPC_HOST}'s pings dropped, {SECOND_VPC_HOST}'s still answered through cpe2")
