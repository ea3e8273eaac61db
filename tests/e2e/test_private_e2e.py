"""Private VPN gateway end to end (issue #7 scope 5, seed 004): a private line encrypted by a private
gateway, with BGP on the gateway (the seed's second and third designs), falls back to the plain private
path when the tunnel fails and returns to the tunnel when it recovers; with static routes on both sides
(the first design) the traffic stays in the dead tunnel until the routes are withdrawn by hand.
Topology in private_sites.py."""

from __future__ import annotations

import re
import signal
import time

import pytest

from bgp_sites import UP, Tunnel
from e2e_sites import ping_log_gaps
from private_sites import (CPE_LINE, DC_NET, GW_LINE, HOLD, PLAIN_METRIC, TIMING, VPC_HOST, VPC_NET, PrivateSite,
                           sample_until)
from helpers.netns import wait_until

PING_INTERVAL = 0.1
STEADY = 2.0  # seconds of traffic sampled on each path
# How long the path switch may take beyond the hold time: the sampling step, a ping interval, and the
# route change on both sides.
SLACK = 1.0
DPD_OUTAGE = TIMING["dpd_timeout_secs"] + 4  # seconds on the plain path, long enough for Strait's DPD to give up


@pytest.fixture
def site(topo, strait, tmp_path, request):
    """The private-line site; prints serve's log if the test fails."""
    s = PrivateSite(topo, strait, tmp_path)
    yield s
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n---- strait serve log (end) ----\n{s.server.log_tail(12000)}")
    topo.close()
    s.close()


def steady(site: PrivateSite, tunnel: bool, seconds: float = STEADY) -> None:
    """Over `seconds` every echo request and reply gw forwards takes the tunnel (or the line), both ways."""
    before = site.paths()
    time.sleep(seconds)
    d = site.paths().minus(before)
    want = int(seconds / PING_INTERVAL * 0.7)
    on, off = ((d.req_tunnel, d.rep_tunnel), (d.req_plain, d.rep_plain)) if tunnel else \
        ((d.req_plain, d.rep_plain), (d.req_tunnel, d.rep_tunnel))
    assert min(on) >= want and off == (0, 0), f"{'tunnel' if tunnel else 'plain'} expected: {d}"


@pytest.mark.parametrize("outage", [STEADY, DPD_OUTAGE], ids=["brief", "past-dpd"])
def test_private_gateway_falls_back_to_the_plain_private_path_and_returns(site, tmp_path, outage):
    """Pings every 100 ms from the data center to the VPC: through the tunnel while it runs; when UDP
    500/4500 are dropped on the line, BGP's hold time expires on both sides, the learned routes leave and
    the pings take the plain private line (the static routes) within the hold time, with no more than the
    hold time of loss; they stay there for the outage (brief, or past the DPD timeout so that Strait
    deletes the SAs and negotiates the tunnel afresh when the drop is lifted); when the drop is lifted the
    tunnel's routes come back and so does the traffic, losing at most one ping."""
    gw = site.api("DescribeVpnGateway", VpnGatewayId=site.gateway)
    assert (gw["NetworkType"], gw["InternetIp"]) == ("private", GW_LINE), gw
    tunnel = Tunnel("169.254.10.0/30")
    vco = site.create_connection(tunnel)
    assert site.describe(vco)["NetworkType"] == "private"
    t0 = time.monotonic()
    site.start_charon(vco)
    site.start_frr(tunnel)
    site.wait_up(vco)
    wait_until(site.encrypted, 15, what="both sides routing the far side into the tunnel")
    print(f"\nIPsec SA and BGP up over the private line {time.monotonic() - t0:.1f} s after starting the CPE")
    # Strait's learned route and the line's static route for the same prefix coexist; Strait's wins.
    gw_routes = site.routes(site.gw, DC_NET)
    assert any("dev strait0" in r and "metric" not in r for r in gw_routes), gw_routes
    assert any(f"via {CPE_LINE}" in r and f"metric {PLAIN_METRIC}" in r for r in gw_routes), gw_routes
    print("gw's routes to the data center:\n  " + "\n  ".join(gw_routes))
    print("cpe's routes to the VPC:\n  " + "\n  ".join(site.routes(site.cpe, VPC_NET)))

    out = tmp_path / "ping.log"
    ping = site.topo.spawn(site.dc, f"ping -D -n -i {PING_INTERVAL} -W 1 -c 900 {VPC_HOST}", log=out)
    steady(site, tunnel=True)

    # The tunnel fails: traffic moves to the plain line within the hold time.
    t_cut = time.monotonic()
    site.cut_tunnel(True)
    t_plain = sample_until(site, lambda a, b: b.req_plain > a.req_plain and b.rep_plain > a.rep_plain, HOLD + 10)
    fallback = t_plain - t_cut
    wait_until(site.plain, 5, what="both sides routing the far side over the line")
    # The tunnel's routes are gone (the line's remain), and the gateway lists no BGP route any more.
    assert [r for r in site.routes(site.gw, DC_NET) if "strait0" in r] == [], site.routes(site.gw, DC_NET)
    assert [r for r in site.routes(site.cpe, VPC_NET) if "ipsec0" in r] == [], site.routes(site.cpe, VPC_NET)
    assert site.describe(vco)["VpnBgpConfig"]["Status"] != "success"
    steady(site, tunnel=False, seconds=outage)
    status = site.describe(vco)["Status"]
    if outage == DPD_OUTAGE:
        assert status != UP, f"DPD should have deleted the SAs {outage} s into the outage"

    # The tunnel recovers: traffic returns to it.
    t_restore, restored_at = time.monotonic(), time.time()
    site.cut_tunnel(False)
    t_back = sample_until(site, lambda a, b: b.req_tunnel > a.req_tunnel and b.rep_tunnel > a.rep_tunnel, 40)
    back = t_back - t_restore
    wait_until(site.encrypted, 10, what="both sides routing the far side into the tunnel again")
    steady(site, tunnel=True)
    site.topo.kill(ping, signal.SIGINT)

    text = out.read_text()
    replies, longest, seqs = ping_log_gaps(text, PING_INTERVAL)
    sent = max(seqs, default=0)
    # Pings answered after the restore: none may go missing while the traffic moves back.
    after = [int(seq) for ts, seq in re.findall(r"^\[(\d+\.\d+)\].*icmp_seq=(\d+) ttl=", text, re.M)
             if float(ts) > restored_at]
    missing_after = [n for n in range(min(after, default=0), max(after, default=0)) if n not in after]
    print(f"tunnel cut (UDP 500/4500 dropped on the line): plain path carrying the pings both ways after "
          f"{fallback:.2f} s (BGP hold time {HOLD} s)")
    print(f"tunnel restored after {outage:.0f} s on the plain path (connection status then: {status}): "
          f"encrypted path carrying them both ways after {back:.2f} s")
    print(f"pings every {PING_INTERVAL * 1000:.0f} ms: {replies}/{sent} answered, longest outage {longest:.1f} s")
    print(f"pings lost while the traffic moved back to the tunnel: {len(missing_after)} (seq {missing_after})")
    assert fallback <= HOLD + SLACK, f"fell back after {fallback:.2f} s, hold time {HOLD} s"
    assert longest <= HOLD + SLACK, f"longest outage {longest:.1f} s, hold time {HOLD} s"
    # One lost ping on the way back was seen once in a CI run (not reproduced locally, cause not found);
    # more than one would mean the two sides' routes disagree for longer than a ping interval.
    assert len(missing_after) <= 1, f"pings lost after the restore: {missing_after}"


def test_static_routes_on_both_sides_hold_the_traffic_in_a_dead_tunnel_until_withdrawn_by_hand(site, tmp_path):
    """Seed 004's first design, static routes on both sides (the gateway's by CreateVpnRouteEntry, the
    device's into ipsec0), each with the line's static route (metric 100) behind it: when the tunnel fails
    nothing moves and the pings are lost, well past the hold time; once the operator withdraws the
    gateway's route (DeleteVpnRouteEntry) and the device's, they take the plain line."""
    vco = site.create_connection(None)
    route = {"VpnGatewayId": site.gateway, "RouteDest": DC_NET, "NextHop": vco, "Weight": 100}
    site.api("CreateVpnRouteEntry", PublishVpc=False, **route)
    site.start_charon(vco)
    site.topo.run(site.cpe, f"ip route add {VPC_NET} dev ipsec0 && ip route add {VPC_NET} via {GW_LINE} "
                            f"metric {PLAIN_METRIC}")
    site.wait_up(vco, bgp=False)
    wait_until(site.encrypted, 15, what="both sides routing the far side into the tunnel")
    out = tmp_path / "ping.log"
    ping = site.topo.spawn(site.dc, f"ping -D -n -i {PING_INTERVAL} -W 1 -c 900 {VPC_HOST}", log=out)
    steady(site, tunnel=True)

    site.cut_tunnel(True)
    time.sleep(0.5)
    before = site.paths()
    time.sleep(HOLD + 2)
    lost = site.paths().minus(before)
    assert site.encrypted() and (lost.req_plain, lost.rep_plain, lost.req_tunnel) == (0, 0, 0), lost

    t_withdraw = time.monotonic()
    site.api("DeleteVpnRouteEntry", **route)
    site.topo.run(site.cpe, f"ip route del {VPC_NET} dev ipsec0")
    t_plain = sample_until(site, lambda a, b: b.req_plain > a.req_plain and b.rep_plain > a.rep_plain, 10)
    assert site.plain()
    steady(site, tunnel=False)
    site.topo.kill(ping, signal.SIGINT)
    replies, longest, seqs = ping_log_gaps(out.read_text(), PING_INTERVAL)
    print(f"\nstatic design: pings lost for {longest:.1f} s with the tunnel down ({replies}/{max(seqs, default=0)} "
          f"answered); on the plain line {t_plain - t_withdraw:.2f} s after the routes were withdrawn by hand")
    assert longest >= HOLD + 2, f"the pings should have been lost until the withdrawal, longest gap {longest:.1f} s"
