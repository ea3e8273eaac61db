"""BGP through the gateway end to end (issue #6): connections created through the SDK, strongSwan CPEs
loaded with the downloaded configuration, FRR or BIRD 2 on the CPEs speaking eBGP to Strait through the
tunnels, traffic between a VPC host and a data-center host steered by the learned routes."""

from __future__ import annotations

import json
import signal
import time

import pytest

from api_builders import tunnels
from api_harness import ZONE_IPS
from bgp_sites import (CPE_ASN, DC_HOSTS, DC_NETS, HOLD, LOCAL_ASN, UP, VPC_HOST, VPC_NET, Bird, Frr,
                       Tunnel)
from helpers.netns import wait_until
from e2e_sites import ping_log_gaps

ZONE_A, ZONE_B = ZONE_IPS["zone-a"], ZONE_IPS["zone-b"]


@pytest.mark.parametrize("auth_key", [None, "Bgp-Md5-k3y"], ids=["plain", "md5"])
@pytest.mark.parametrize("speaker", [Frr, Bird], ids=["frr", "bird"])
def test_on_premises_speaker_through_the_tunnel(make_site, speaker, auth_key):
    """One BGP connection to a CPE running FRR or BIRD (TCP MD5 with the customer gateway's AuthKey, or
    unsigned): the session comes up through the tunnel, routes flow both ways, pings reach the DC."""
    site = make_site([ZONE_A], auth_key)
    cpe, tunnel = site.cpes[0], Tunnel("169.254.10.0/30")
    t0 = time.monotonic()
    vco = site.create_single(cpe, tunnel)
    site.start_cpe(cpe, site.strongswan_config(vco), tunnel, speaker)
    site.wait_up(vco)
    established = time.monotonic() - t0
    # The DC prefixes are routed into serve's TUN device, and the VPC network is in the peer's table.
    routes = wait_until(lambda: (r := site.kernel_routes()) and set(DC_NETS) <= set(r) and r, 15,
                        what=f"{DC_NETS} routed into strait0")
    wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} in the {speaker.name} table")
    print(f"\n{speaker.name}: IPsec SA and BGP Established {established:.1f} s after CreateVpnConnection")
    print("serve's kernel routes into strait0:\n  " + "\n  ".join(routes.values()))
    print(f"{speaker.name}'s table:\n{cpe.speaker.table()}")
    # DescribeVpnRouteEntries lists the learned routes, next hop the connection, AS path the CPE's ASN.
    want = {(n, vco, str(CPE_ASN)) for n in DC_NETS}
    wait_until(lambda: {(n, c, p) for n, c, _, p in site.bgp_routes()} == want, 5,
               what=f"DescribeVpnRouteEntries listing {want}")
    # The connection's own route table (DescribeVcoRouteEntries) has them too, learned over its tunnel.
    table = site.api("DescribeVcoRouteEntries", VpnConnectionId=vco, RouteEntryType="bgp")["VcoRouteEntries"]
    assert {(e["RouteDest"], e["AsPath"], e["RouteEntryType"]) for e in table} == \
        {(n, str(CPE_ASN), "bgp") for n in DC_NETS}, table
    body = site.describe(vco)
    assert body["VpnBgpConfig"]["Status"] == "success", body["VpnBgpConfig"]
    assert str(body["VpnBgpConfig"]["PeerAsn"]) == str(CPE_ASN), body["VpnBgpConfig"]
    # Traffic from the VPC host reaches the data-center host behind the CPE, for every learned prefix.
    for host in DC_HOSTS:
        r = site.topo.run(site.vpc, f"ping -c 3 -i 0.2 -W 2 {host}", check=False)
        assert r.returncode == 0, f"ping {VPC_HOST} -> {host}:\n{r.stdout}"
        print(f"ping {host}: {r.stdout.strip().splitlines()[-1]}")
    # The connection's negotiation log, through the SDK, tells the session's story.
    logs = site.logs(vco)
    print("DescribeVpnConnectionLogs (BGP lines):\n  " + "\n  ".join(line for line in logs if "BGP" in line))
    assert any(line.endswith("BGP session established") for line in logs), logs
    assert any(f"BGP routes learned prefixes=[{', '.join(DC_NETS)}]" in line for line in logs), logs


@pytest.mark.parametrize("failure", ["link-cut", "cpe-killed"])
def test_seed_003_ecmp_over_three_connections(make_site, tmp_path, failure):
    """Seed 003: three customer gateways (ASN 65530) and three BGP connections (local ASN 65531, group14,
    tunnel CIDRs 169.254.10/11/12.0/30) to one data center; 30 flows spread over all three; when one CPE
    fails (its link cut, or charon and bgpd killed with SIGKILL: no word to Strait either way), its flows
    move to the other two within the hold time."""
    site = make_site([ZONE_A] * 3)
    tunnels = [Tunnel(f"169.254.{10 + i}.0/30") for i in range(3)]
    vcos = [site.create_single(cpe, t) for cpe, t in zip(site.cpes, tunnels)]
    for cpe, t, vco in zip(site.cpes, tunnels, vcos):
        site.start_cpe(cpe, site.strongswan_config(vco), t, Frr)
    for vco in vcos:
        site.wait_up(vco)
    for cpe in site.cpes:
        wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} in {cpe.ns}'s bgpd")
    wait_until(lambda: set(DC_NETS) <= set(site.kernel_routes()), 15, what=f"{DC_NETS} routed into strait0")
    # Every connection's session learned the three prefixes (serve logs each tunnel's learned routes).
    wait_until(lambda: len(site.learned_by_tunnel(DC_NETS)) == 3, 15, what="each tunnel learning the DC prefixes")
    assert {(n, c) for n, c, _, _ in site.bgp_routes()} == {(n, c) for n in DC_NETS for c in vcos}

    # 30 UDP flows (distinct source ports) from the VPC host to the DC host, 20 datagrams/s each.
    seconds, interval, cut_after = 18.0, 0.05, 5.0
    before = [site.sa_inbound(cpe) for cpe in site.cpes]
    out = tmp_path / "flows.json"
    sender = site.flows(DC_HOSTS[0], 30, seconds, out, interval=interval)
    time.sleep(cut_after)
    spread = [site.sa_inbound(cpe) for cpe in site.cpes]
    if failure == "link-cut":
        site.set_link(site.cpes[0], False)
    else:
        site.stop_cpe(site.cpes[0])
    cut_at = time.time()
    sender.wait(timeout=seconds + 10)
    after = [None] + [site.sa_inbound(cpe) for cpe in site.cpes[1:]]
    flows = json.loads(out.read_text())["flows"]

    # Every connection carried a share of the flows before the cut (BGP keepalives alone are a
    # packet every 2 s), the two left carried more after it.
    per_flow = (cut_after - 1) / interval  # datagrams one flow sends in that time, at least
    print(f"\nCHILD_SA inbound bytes/packets on each CPE (strongSwan): before the flows {before}, "
          f"{cut_after:.0f} s into the flows {spread}, at the end (cpe2, cpe3) {after[1:]}")
    for n, (b, s) in enumerate(zip(before, spread), start=1):
        assert s[1] - b[1] >= per_flow, f"connection {n} carried {s[1] - b[1]} packets: flows not spread"
    for n in (1, 2):
        assert after[n][1] > spread[n][1] + per_flow, f"connection {n + 1} carried nothing after the cut"

    moved = [f for f in flows if f["gap"] > 1.0]
    worst = max(flows, key=lambda f: f["gap"])
    resumed = max((f["gap_from"] + f["gap"] - cut_at for f in moved), default=0.0)
    print(f"flows through the failed CPE: {len(moved)} of {len(flows)}; longest stall {worst['gap']:.2f} s "
          f"(flow from port {worst['port']}, began {worst['gap_from'] - cut_at:+.2f} s from the cut); "
          f"all flows moving again {resumed:.2f} s after the cut; BGP hold time {HOLD} s")
    print("echoed/sent per flow: " + " ".join(f"{f['echoed']}/{f['sent']}" for f in flows))
    assert moved, "no flow went through the failed CPE"
    assert len(moved) < len(flows), "every flow went through one CPE"
    # Each flow keeps running: at most one hold time of silence (counted by the hold timer from the last
    # message before the cut; plus up to one send interval on each side of the silence and the reroute).
    slack = 2 * interval + 0.15
    assert worst["gap"] <= HOLD + slack, f"a flow stalled {worst['gap']:.2f} s, longer than the hold time {HOLD} s"
    assert all(f["echoed"] >= f["sent"] - (HOLD + 1) / interval for f in flows), flows
    down = [line for line in site.server.log.read_text().splitlines() if "BGP session down" in line]
    print("serve: " + "\n       ".join(line.split("runner: ")[-1] for line in down))
    assert down and all(vcos[0] in line for line in down), down
    # The failed connection's routes are gone from the API's BGP route table; the others' remain.
    assert {(n, c) for n, c, _, _ in site.bgp_routes()} == {(n, c) for n in DC_NETS for c in vcos[1:]}


def test_dual_tunnel_master_failure_moves_traffic_to_the_slave(make_site, tmp_path):
    """A dual-tunnel connection with BGP on both tunnels (master to cpe1 on the gateway's InternetIp, slave to
    cpe2 on its DisasterRecoveryInternetIp): both sessions come up; when the master's link is cut its routes
    are withdrawn and the pings move to the slave; when the link returns, so do the master's session and
    the pings."""
    site = make_site([ZONE_A, ZONE_B])
    master, slave = site.cpes
    cidrs = (Tunnel("169.254.20.0/30"), Tunnel("169.254.21.0/30"))
    vco = site.create_dual(master, slave, cidrs)
    config = site.strongswan_config(vco)
    for cpe, t in zip(site.cpes, cidrs):
        site.start_cpe(cpe, config, t, Frr)
    site.wait_up(vco)
    for cpe in site.cpes:
        wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} in {cpe.ns}'s bgpd")
    wait_until(lambda: len(site.learned_by_tunnel(DC_NETS)) == 2, 15, what="both tunnels learning the DC prefixes")
    print(f"\nBGP status (master, slave): {site.bgp_statuses(vco)}")
    master_id, slave_id = (t["TunnelId"] for t in tunnels(site.describe(vco)))
    assert {(n, t) for n, _, t, _ in site.bgp_routes()} == {(n, t) for n in DC_NETS for t in (master_id, slave_id)}

    log = tmp_path / "ping.log"
    interval, count = 0.1, 200
    ping = site.topo.spawn(site.vpc, f"ping -i {interval} -c {count} -W 1 {DC_HOSTS[0]}", log=log)
    time.sleep(4)
    m0, s0 = site.sa_inbound(master)[1], site.sa_inbound(slave)[1]
    site.set_link(master, False)
    cut_at = time.monotonic()
    wait_until(lambda: site.sa_inbound(slave)[1] > s0 + 20, 40, interval=0.1, what="pings through the slave")
    moved = time.monotonic() - cut_at
    ping.wait(timeout=count * interval + 10)
    replies, outage, _ = ping_log_gaps(log.read_text(), interval)
    print(f"master carried {m0} packets before the cut; 20 pings through the slave {moved:.1f} s after the cut; "
          f"{replies}/{count} pings answered, longest outage {outage:.1f} s (BGP hold {HOLD} s)")
    events = [line.split("runner: ")[-1] for line in site.server.log.read_text().splitlines()
              if "BGP session down" in line or "traffic now takes" in line or "IKE SA deleted" in line]
    print("serve: " + "\n       ".join(events))
    assert m0 > 20, "the master did not carry the pings before the cut"
    # The master's session times out after the hold time; its IPsec SA lives on until DPD gives up
    # (10 s), yet the slave carries the pings from the moment the master's routes are withdrawn.
    assert outage <= HOLD + 2 * interval, f"pings stopped for {outage:.1f} s"
    down = [e for e in events if "BGP session down" in e]
    assert down and master_id in down[0], f"the master {master_id}'s session did not time out first: {events}"
    # The API's BGP route table keeps only the slave's routes.
    assert {(n, t) for n, _, t, _ in site.bgp_routes()} == {(n, slave_id) for n in DC_NETS}

    # The master's link returns: its tunnel and session come back, and the traffic with them.
    site.set_link(master, True)
    back_at = time.monotonic()
    wait_until(lambda: master_id in site.learned_by_tunnel(DC_NETS), 60, what="the master's session learning again")
    back = time.monotonic() - back_at
    before = site.sa_inbound(master)[1], site.sa_inbound(slave)[1]
    r = site.topo.run(site.vpc, f"ping -c 30 -i {interval} -W 1 {DC_HOSTS[0]}", check=False)
    after = site.sa_inbound(master)[1], site.sa_inbound(slave)[1]
    print(f"link back: master's routes learned again after {back:.1f} s; 30 pings then took master/slave "
          f"{after[0] - before[0]}/{after[1] - before[1]} packets; {r.stdout.strip().splitlines()[-2]}")
    assert " 0% packet loss" in r.stdout, r.stdout
    # The slave still sees BGP keepalives (one per 2 s), nothing more.
    assert after[0] - before[0] >= 30 and after[1] - before[1] < 10, (before, after)


def test_bgp_switched_off_and_on_through_modify(make_site):
    """ModifyVpnConnectionAttribute turns BGP off on a running connection: the session ends, the learned
    prefixes leave serve's kernel table and the VPC prefix the peer's, while the IPsec SA stays; turned
    back on, everything returns and the DC answers again."""
    site = make_site([ZONE_A])
    cpe, tunnel = site.cpes[0], Tunnel("169.254.10.0/30")
    vco = site.create_single(cpe, tunnel)
    site.start_cpe(cpe, site.strongswan_config(vco), tunnel, Frr)
    site.wait_up(vco)
    wait_until(lambda: set(DC_NETS) <= set(site.kernel_routes()), 15, what=f"{DC_NETS} routed into strait0")
    spi = cpe.charon.installed_children()[0].spi_in
    tun_addrs = site.topo.run(site.gw, "ip -4 -o addr show dev strait0").stdout
    assert f" {tunnel.local_ip}/" in tun_addrs, f"the BGP address is not on strait0: {tun_addrs}"

    def modify(enable: bool) -> float:
        t0 = time.monotonic()
        site.api("ModifyVpnConnectionAttribute", VpnConnectionId=vco,
                 BgpConfig=json.dumps({**tunnel.bgp_config(), "EnableBgp": enable}))
        return t0

    t0 = modify(False)
    wait_until(lambda: not set(DC_NETS) & set(site.kernel_routes()), 15, what="DC prefixes gone from strait0")
    gone = time.monotonic() - t0
    wait_until(lambda: cpe.speaker.routes() == set(), 15, what=f"{VPC_NET} gone from bgpd")
    body = site.describe(vco)
    print(f"\nBGP off: DC prefixes left strait0 {gone:.2f} s after the call; "
          f"VpnBgpConfig {body['VpnBgpConfig']}")
    assert str(body["VpnBgpConfig"]["EnableBgp"]).lower() == "false", body["VpnBgpConfig"]
    assert body["Status"] == UP and [c.spi_in for c in cpe.charon.installed_children()] == [spi], \
        "turning BGP off renegotiated the tunnel"
    r = site.topo.run(site.vpc, f"ping -c 2 -i 0.2 -W 1 {DC_HOSTS[0]}", check=False)
    assert r.returncode != 0, f"the DC still answers with BGP off:\n{r.stdout}"
    tun_addrs = site.topo.run(site.gw, "ip -4 -o addr show dev strait0").stdout
    assert f" {tunnel.local_ip}/" not in tun_addrs, f"BGP off left its address on strait0: {tun_addrs}"

    t0 = modify(True)
    site.wait_up(vco)
    wait_until(lambda: set(DC_NETS) <= set(site.kernel_routes()), 15, what=f"{DC_NETS} routed into strait0 again")
    back = time.monotonic() - t0
    wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 15, what=f"{VPC_NET} back in bgpd")
    print(f"BGP on: DC prefixes routed again {back:.2f} s after the call")
    r = site.topo.run(site.vpc, f"ping -c 3 -i 0.2 -W 2 {DC_HOSTS[0]}", check=False)
    assert r.returncode == 0, r.stdout


def test_sessions_come_back_after_serve_is_killed(make_site):
    """`strait serve` killed with SIGKILL and started again: with no API call the tunnel, its BGP session
    and the learned routes come back, and the DC answers again."""
    site = make_site([ZONE_A])
    cpe, tunnel = site.cpes[0], Tunnel("169.254.10.0/30")
    vco = site.create_single(cpe, tunnel)
    site.start_cpe(cpe, site.strongswan_config(vco), tunnel, Frr)
    site.wait_up(vco)
    wait_until(lambda: set(DC_NETS) <= set(site.kernel_routes()), 15, what=f"{DC_NETS} routed into strait0")
    site.server.stop(signal.SIGKILL)
    # The TUN device, and every route into it, went with the process.
    assert site.topo.run(site.gw, "ip link show strait0", check=False).returncode != 0
    site.server.start()
    t0 = time.monotonic()
    wait_until(lambda: set(DC_NETS) <= set(site.kernel_routes()), 60, what=f"{DC_NETS} routed into strait0 again")
    back = time.monotonic() - t0
    wait_until(lambda: cpe.speaker.routes() == {VPC_NET}, 30, what=f"{VPC_NET} in bgpd again")
    assert site.bgp_statuses(vco) == ["success"]
    r = site.topo.run(site.vpc, f"ping -c 3 -i 0.2 -W 2 {DC_HOSTS[0]}", check=False)
    print(f"\nafter kill -9 and restart: DC prefixes routed again {back:.1f} s after serve answered; "
          f"{r.stdout.strip().splitlines()[-2]}")
    assert r.returncode == 0, r.stdout


class FrrAcceptingItsOwnAs(Frr):
    """FRR that also takes paths through its own ASN (`allowas-in`): every CPE here is AS 65530, so this
    is how one CPE can see the routes Strait passes on from another."""

    neighbor_extra = " neighbor {peer} allowas-in 1\n address-family ipv4 unicast\n  neighbor {peer} allowas-in 1\n exit-address-family\n"


def test_routes_learned_over_one_connection_are_passed_on_to_the_others_and_withdrawn_with_it(make_site):
    """Two BGP connections on one gateway: the DC prefixes learned from CPE 1 reach CPE 2's table through
    Strait with their AS path kept after Strait's own (65531 65530), beside the VPC network; when CPE 1's
    link is cut they are withdrawn from CPE 2 within the hold time."""
    site = make_site([ZONE_A] * 2)
    tunnels = [Tunnel("169.254.10.0/30"), Tunnel("169.254.11.0/30")]
    vcos = [site.create_single(cpe, t) for cpe, t in zip(site.cpes, tunnels)]
    cpe1, cpe2 = site.cpes
    site.start_cpe(cpe1, site.strongswan_config(vcos[0]), tunnels[0], Frr)
    site.start_cpe(cpe2, site.strongswan_config(vcos[1]), tunnels[1], FrrAcceptingItsOwnAs)
    for vco in vcos:
        site.wait_up(vco)
    everything = {VPC_NET, *DC_NETS}
    wait_until(lambda: cpe2.speaker.routes() == everything, 20, what=f"{everything} from Strait in cpe2's bgpd")
    table = cpe2.speaker.table()
    print(f"\ncpe2's table with what Strait passes on from cpe1:\n{table}")
    assert f"{LOCAL_ASN} {CPE_ASN}" in table, "the passed-on routes keep cpe1's AS after Strait's"
    assert cpe1.speaker.routes() == {VPC_NET}, "plain FRR drops paths through its own AS"
    site.set_link(cpe1, False)
    t0 = time.monotonic()
    wait_until(lambda: cpe2.speaker.routes() == {VPC_NET}, HOLD + 10, what="cpe1's routes withdrawn from cpe2")
    took = time.monotonic() - t0
    print(f"cpe1's routes withdrawn from cpe2 {took:.1f} s after its link was cut (hold time {HOLD} s)")
    assert took <= HOLD + 2
