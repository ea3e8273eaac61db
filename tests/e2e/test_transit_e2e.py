"""Transit routers end to end (issue #7): the seed-003 scenario with its three BGP connections attached to a
transit router instead of a VPN gateway, all through the official SDKs (VPC 2016-04-28 CreateVpnAttachment,
CBN 2017-09-12 for the CEN instance, the transit router and its attachments). The transit router's route
table (ListTransitRouterRouteEntries) and serve's data plane follow each attachment's three options."""

from __future__ import annotations

import json
import re
import time

import pytest

from api_harness import ZONE_IPS
from bgp_sites import DC_HOSTS, DC_NETS, VPC_NET, BgpSite, Frr, Tunnel
from helpers.netns import wait_until

ZONE_A = ZONE_IPS["zone-a"]
INTERVAL = 0.05  # seconds between two datagrams of one flow


def seed_003(make_site, cross_account: bool = False) -> tuple[BgpSite, list[str]]:
    """Three CPEs (ASN 65530) on zone A, three single-tunnel BGP connections (local ASN 65531, group14, tunnel
    CIDRs 169.254.10/11/12.0/30) created with CreateVpnAttachment and attached to the transit router (the
    first by another tenant, which grants it to the router's CEN, if `cross_account`); waits until the three
    sessions are up and the route table has each DC prefix from all three."""
    site = make_site([ZONE_A] * 3, transit=True)
    owner = site.server.create_account("dc-owner") if cross_account else None
    tunnels = [Tunnel(f"169.254.{10 + i}.0/30") for i in range(3)]
    t0 = time.monotonic()
    vcos = [site.create_single(cpe, t, owner if n == 0 else None)
            for n, (cpe, t) in enumerate(zip(site.cpes, tunnels))]
    for cpe, t, vco in zip(site.cpes, tunnels, vcos):
        site.start_cpe(cpe, site.strongswan_config(vco), t, Frr)
    for vco in vcos:
        site.wait_up(vco)
    up = time.monotonic() - t0
    tr = site.transit
    want = {n: set(vcos) for n in DC_NETS}
    wait_until(lambda: dc_hops(tr) == want, 15, what=f"three next hops for each of {DC_NETS}")
    print(f"\nthree connections attached, IPsec SAs and BGP sessions up {up:.1f} s after the first "
          f"CreateVpnAttachment; route table {sorted(tr.next_hops().items())}")
    return site, vcos


def dc_hops(tr) -> dict[str, set[str]]:
    """The route table's next hops of the data-center prefixes."""
    return {n: hops for n, hops in tr.next_hops().items() if n in DC_NETS}


def dropped(site: BgpSite, vco: str) -> int:
    """The latest count of inbound packets serve logged as dropped on `vco`'s tunnel (0 if none)."""
    counts = [int(m.group(1)) for line in site.server.log.read_text(errors="replace").splitlines()
              if vco in line and (m := re.search(r"dropped=(\d+)", line))]
    return counts[-1] if counts else 0


def wait_timed(check, timeout: float, what: str) -> float:
    """Waits until `check()` holds; returns how long it took."""
    t0 = time.monotonic()
    wait_until(check, timeout, interval=0.05, what=what)
    return time.monotonic() - t0


@pytest.mark.parametrize("cross_account", [False, True], ids=["same-account", "cross-account"])
def test_transit_router_ecmp_follows_route_table_propagation(make_site, tmp_path, cross_account):
    """Seed 003 on a transit router: three next hops per DC prefix, the CPEs learn the VPC, 30 UDP flows spread
    over the three connections. Propagation off for one attachment: two next hops within seconds, its
    connection carries nothing more while every flow keeps going over the other two; on again: three.
    Cross-account: that connection belongs to another tenant, which granted it to the router's CEN."""
    site, vcos = seed_003(make_site, cross_account)
    if cross_account:
        conn = site.describe(vcos[0])
        assert (conn["AttachType"], conn["TransitRouterId"]) == ("CEN", site.transit.id), conn
    tr = site.transit
    assert tr.next_hops().get(VPC_NET) == {"vpc-local"}, tr.next_hops()
    for cpe in site.cpes:
        wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} in {cpe.ns}'s bgpd")
    wait_until(lambda: set(DC_NETS) <= set(site.kernel_routes()), 15, what=f"{DC_NETS} routed into strait0")

    # 30 flows (distinct source ports) from the VPC host to the DC host, 20 datagrams/s each: three connections
    # for `phase` seconds, then one attachment's propagation off, then on again.
    phase, window = 6.0, 4.0
    out = tmp_path / "flows.json"
    packets = lambda: [site.sa_inbound(cpe)[1] for cpe in site.cpes]  # noqa: E731
    before = packets()
    sender = site.flows(DC_HOSTS[0], 30, phase + 2 * (window + 4) + 2, out, interval=INTERVAL)
    time.sleep(phase)
    three = packets()

    def carrying(cpe) -> bool:
        """Whether `cpe` receives flow traffic: more than BGP's few packets in 0.2 s."""
        a = site.sa_inbound(cpe)[1]
        time.sleep(0.2)
        return site.sa_inbound(cpe)[1] - a > 5

    def switched(on: bool) -> tuple[float, float, list[int]]:
        """Switches the first attachment's propagation; returns how long the route table and the data plane
        (connection 1's traffic stopping or starting) took to show it, and the packets each CPE received in
        the `window` seconds after one more second."""
        t0 = time.monotonic()
        tr.option(vcos[0], "propagation", on)
        hops = {n: set(vcos if on else vcos[1:]) for n in DC_NETS}
        table = wait_timed(lambda: dc_hops(tr) == hops, 10, f"{len(hops[DC_NETS[0]])} next hops per DC prefix")
        wait_until(lambda: carrying(site.cpes[0]) == on, 10, interval=0, what=f"connection 1 carrying: {on}")
        data = time.monotonic() - t0
        time.sleep(1)
        start = packets()
        time.sleep(window)
        return table, data, [b - a for a, b in zip(start, packets())]

    off_took, off_data, off = switched(False)
    statuses_off = site.bgp_statuses(vcos[0])
    on_took, on_data, on = switched(True)
    sender.wait(timeout=phase + 2 * (window + 3) + 15)
    flows = json.loads(out.read_text())["flows"]

    spread = [b - a for a, b in zip(before, three)]
    print(f"propagation off: two next hops in the route table {off_took:.2f} s after the call, connection 1's "
          f"traffic stopped within {off_data:.2f} s (0.2 s sampling); on again: three next hops after "
          f"{on_took:.2f} s, its traffic back within {on_data:.2f} s")
    print(f"packets each CPE received: {phase:.0f} s with three next hops {spread}; {window:.0f} s with propagation "
          f"off for connection 1 {off}; {window:.0f} s with it on again {on}")
    worst = max(flows, key=lambda f: f["gap"])
    print(f"longest silence of a flow {worst['gap']:.2f} s; echoed/sent per flow: "
          + " ".join(f"{f['echoed']}/{f['sent']}" for f in flows))
    one_flow = (window - 1) / INTERVAL  # datagrams one flow sends in a window, at least
    assert all(n >= one_flow for n in spread), f"the flows were not spread over the three connections: {spread}"
    # With propagation off the connection carries BGP keepalives only (one every 2 s), its session still
    # runs, and the other two carry every flow.
    assert off[0] <= 10, f"connection 1 still carried traffic with propagation off: {off}"
    assert statuses_off == ["success"], statuses_off
    assert off[1] + off[2] >= 30 * one_flow, off
    assert all(n >= one_flow for n in on), f"the flows did not spread over three again: {on}"
    # No flow stopped: moving off the connection is one route change, not a session timeout.
    assert worst["gap"] <= 2.0, f"a flow stalled {worst['gap']:.2f} s"
    assert all(f["echoed"] >= f["sent"] - 2.0 / INTERVAL for f in flows), flows
    assert max(off_took, on_took, off_data, on_data) <= 5


def test_auto_publish_and_association_per_attachment(make_site):
    """Auto-publish off on one attachment: its CPE withdraws 10.0.0.0/16 while the others keep it; on: it
    learns it again. Association off: what arrives from that connection is dropped (the pings it carries
    back go unanswered, serve counts them) while its BGP session lives on; on again: answered. Its IPsec SA
    stays the same throughout."""
    site, vcos = seed_003(make_site)
    tr = site.transit
    cpe1 = site.cpes[0]
    for cpe in site.cpes:
        wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} in {cpe.ns}'s bgpd")
    spis = [c.spi_in for c in cpe1.charon.installed_children()]

    tr.option(vcos[0], "publish", False)
    withdrawn = wait_timed(lambda: cpe1.speaker.routes() == set(), 10, f"{VPC_NET} withdrawn from cpe1")
    assert all(cpe.speaker.routes() == {VPC_NET} for cpe in site.cpes[1:])
    print(f"\nauto-publish off: cpe1 withdrew {VPC_NET} {withdrawn:.2f} s after the call; "
          f"cpe1's table:\n{cpe1.speaker.table()}")
    tr.option(vcos[0], "publish", True)
    back = wait_timed(lambda: cpe1.speaker.routes() == {VPC_NET}, 10, f"{VPC_NET} back in cpe1")
    print(f"auto-publish on: cpe1 learned {VPC_NET} again after {back:.2f} s")

    # Association: only the first connection carries the DC prefixes, so every ping goes through it.
    for vco in vcos[1:]:
        tr.option(vco, "propagation", False)
    wait_until(lambda: dc_hops(tr) == {n: {vcos[0]} for n in DC_NETS}, 10, what="one next hop per DC prefix")
    ping = f"ping -c 10 -i 0.1 -W 1 {DC_HOSTS[0]}"
    assert site.topo.run(site.vpc, ping, check=False).returncode == 0, "the DC does not answer"
    tr.option(vcos[0], "association", False)
    time.sleep(1)
    before = site.sa_inbound(cpe1)[1]
    r = site.topo.run(site.vpc, ping, check=False)
    reached = site.sa_inbound(cpe1)[1] - before
    loss = next((line for line in r.stdout.splitlines() if "packet loss" in line), r.stdout)
    print(f"association off: {loss}; cpe1 received {reached} packets meanwhile")
    assert " 100% packet loss" in r.stdout, r.stdout
    assert reached >= 10, "the pings did not reach the DC: the answers are what must be dropped"
    # serve counts the answers it dropped, and says why.
    counted = wait_until(lambda: dropped(site, vcos[0]) >= 10, 8, what="serve counting the dropped answers")
    lines = [line for line in site.server.log.read_text().splitlines()
             if vcos[0] in line and "inbound traffic is dropped" in line]
    print(f"serve: {lines[-1].split('runner: ')[-1] if lines else '?'}; dropped={dropped(site, vcos[0])}")
    assert counted and lines, "no log line on the change"
    time.sleep(3)  # several BGP keepalives: the session survives without association
    assert site.bgp_statuses(vcos[0]) == ["success"]
    tr.option(vcos[0], "association", True)
    t0 = time.monotonic()
    wait_until(lambda: site.topo.run(site.vpc, f"ping -c 1 -W 1 {DC_HOSTS[0]}", check=False).returncode == 0, 10,
               what="the DC answering again")
    print(f"association on: the DC answers again {time.monotonic() - t0:.2f} s after the call")
    assert [c.spi_in for c in cpe1.charon.installed_children()] == spis, "switching options renegotiated IPsec"
